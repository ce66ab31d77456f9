-- boxoffice SQLite schema, version 3: the status CHECKs of seats and
-- bookings written as ORs of equalities instead of IN lists. Same rule,
-- same rows on disk; but SQLite evaluates a CHECK's IN list of three or more
-- constants through an ephemeral index built on every statement that writes
-- the column, and callgrind showed that ephemeral table (open, memset,
-- close) as a third of the writer's instructions per hold (BENCHMARKS.md).
-- A change that leaves the stored content as it is may be made by editing
-- the schema text (SQLite's documented procedure for ALTER TABLE changes it
-- has no statement for); RESET reloads it on this connection.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (status IN (''AVAILABLE'', ''HELD'', ''BOOKED''))',
                     'CHECK (status = ''AVAILABLE'' OR status = ''HELD'' OR status = ''BOOKED'')')
 WHERE type = 'table' AND name = 'seats';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (status IN (''STAGED'', ''CONFIRMED'', ''CANCELLED'', ''EXPIRED''))',
                     'CHECK (status = ''STAGED'' OR status = ''CONFIRMED'' OR status = ''CANCELLED'' ' ||
                     'OR status = ''EXPIRED'')')
 WHERE type = 'table' AND name = 'bookings';
PRAGMA writable_schema = RESET;
