-- boxoffice SQLite schema, version 2: Idempotency-Key records (API.md 11).
-- The first completed answer of a POST, written in the transaction of its
-- write and replayed for the same key and request; the sweeper deletes
-- records older than the idempotency TTL (24 h by default).
CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY,
    request     TEXT NOT NULL,    -- method, path and body of the first request
    status_code INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency(created_at);
