-- boxoffice PostgreSQL schema, version 1: the tables of the original
-- MovieHub design plus booking_seats and idempotency.
--
-- Applied by the server in one transaction (no BEGIN/COMMIT here); the
-- server owns schema_migrations. Times are timestamptz and come from the
-- database clock only. Seat rows are 0-based indexes (A=0 .. Z=25,
-- AA=26 .. ZZ=701), numbers 1-based, so ORDER BY seat_row, seat_number is
-- the natural seat order. Every table on the hot path carries show_id, so
-- the schema can be distributed by show.

CREATE TABLE users (
    id         bigserial PRIMARY KEY,
    username   text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    guid       uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE screens (
    id            bigserial PRIMARY KEY,
    screen_name   text NOT NULL CHECK (length(screen_name) BETWEEN 1 AND 200),
    rows          int NOT NULL CHECK (rows BETWEEN 1 AND 702),
    seats_per_row int NOT NULL CHECK (seats_per_row BETWEEN 1 AND 999),
    total_seats   int NOT NULL CHECK (total_seats = rows * seats_per_row AND total_seats <= 100000),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE movies (
    id               bigserial PRIMARY KEY,
    movie_name       text NOT NULL CHECK (length(movie_name) BETWEEN 1 AND 200),
    duration_minutes int NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),
    last_show_date   date NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shows (
    id         bigserial PRIMARY KEY,
    movie_id   bigint NOT NULL REFERENCES movies(id),
    screen_id  bigint NOT NULL REFERENCES screens(id),
    show_time  timestamptz NOT NULL,
    end_time   timestamptz NOT NULL,
    status     text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CANCELLED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time > show_time)
);
CREATE INDEX shows_active ON shows (show_time, id) WHERE status = 'ACTIVE';
CREATE INDEX shows_screen ON shows (screen_id, show_time);

-- A user's STAGED booking in a show is the cart; the partial unique index
-- keeps it to one per user and show, which is what serialises the first
-- holds of a user racing each other.
CREATE TABLE bookings (
    id                bigserial PRIMARY KEY,
    show_id           bigint NOT NULL REFERENCES shows(id),
    user_id           bigint NOT NULL REFERENCES users(id),
    status            text NOT NULL CHECK (status IN ('STAGED', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    total_seats       int NOT NULL DEFAULT 0 CHECK (total_seats >= 0),
    booking_reference text NOT NULL UNIQUE CHECK (booking_reference ~ '^BX-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,
    confirmed_at      timestamptz,
    cancelled_at      timestamptz,
    CHECK (status <> 'STAGED' OR expires_at IS NOT NULL),
    CHECK ((status = 'CONFIRMED') <= (confirmed_at IS NOT NULL)),
    CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL))
);
CREATE INDEX bookings_user ON bookings (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX bookings_cart ON bookings (show_id, user_id) WHERE status = 'STAGED';
CREATE INDEX bookings_staged_expiry ON bookings (expires_at) WHERE status = 'STAGED';

-- One row per seat of a show, created with the show. A HELD seat belongs
-- to a cart (booking_id) and carries that cart's expiry; a BOOKED seat
-- belongs to a confirmed booking. version goes up on every change.
CREATE TABLE seats (
    show_id         bigint NOT NULL REFERENCES shows(id),
    seat_row        int NOT NULL CHECK (seat_row BETWEEN 0 AND 701),
    seat_number     int NOT NULL CHECK (seat_number BETWEEN 1 AND 999),
    status          text NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'BOOKED')),
    booking_id      bigint REFERENCES bookings(id),
    held_at         timestamptz,
    held_by_user_id bigint REFERENCES users(id),
    held_expiry     timestamptz,
    version         int NOT NULL DEFAULT 0,
    PRIMARY KEY (show_id, seat_row, seat_number),
    CHECK ((status = 'AVAILABLE') = (booking_id IS NULL)),
    CHECK ((status = 'HELD') = (held_expiry IS NOT NULL)),
    CHECK ((status = 'HELD') = (held_by_user_id IS NOT NULL))
);
-- seats_status leaves AVAILABLE seats out: it serves "which seats of a
-- show are taken" and stays small, and it cannot compete with the primary
-- key for a lookup of one seat (with stale statistics right after a show
-- is created, a full (show_id, status) index was chosen for those and
-- scanned the whole show).
CREATE INDEX seats_status ON seats (show_id, status) WHERE status <> 'AVAILABLE';
CREATE INDEX seats_held_expiry ON seats (held_expiry) WHERE status = 'HELD';
CREATE INDEX seats_held_by ON seats (held_by_user_id) WHERE status = 'HELD';

-- The seats of each booking: a cart's currently held seats, a confirmed
-- booking's booked seats (kept after cancel as its history), an expired
-- cart's seats as they were when it expired.
CREATE TABLE booking_seats (
    booking_id  bigint NOT NULL REFERENCES bookings(id),
    show_id     bigint NOT NULL,
    seat_row    int NOT NULL,
    seat_number int NOT NULL,
    PRIMARY KEY (booking_id, seat_row, seat_number)
);

-- Idempotency-Key records: the first completed answer of a POST, stored in
-- the transaction of its write and replayed for the same key, path and
-- body. A row without status_code is a request still running.
CREATE TABLE idempotency (
    key          text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
    path         text NOT NULL,
    request_hash bytea NOT NULL,
    status_code  int,
    content_type text,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours'
);
CREATE INDEX idempotency_expiry ON idempotency (expires_at);
