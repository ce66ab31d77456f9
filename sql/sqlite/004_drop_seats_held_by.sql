-- boxoffice SQLite schema, version 4: drops the index seats_held_by. No
-- statement of the SQLite backend looks seats up by held_by_user_id (they
-- go by the primary key or booking_id; users are never deleted, so the
-- foreign key never searches it), yet every hold inserted into it and
-- every confirm, release and expiry deleted from it (BENCHMARKS.md).
DROP INDEX seats_held_by;
