-- boxoffice PostgreSQL schema, version 3: Idempotency-Key records in the
-- shape both backends share (API.md 11). The store writes a record in the
-- transaction of its write and replays it for the same key and request;
-- racing first requests are decided by the primary key (the loser rolls
-- back and replays the winner's answer). The sweeper deletes old records.
DROP TABLE IF EXISTS idempotency;
CREATE TABLE idempotency (
    key         text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
    request     text NOT NULL,
    status_code int NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_created ON idempotency (created_at);
