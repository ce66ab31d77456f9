-- boxoffice SQLite schema, version 1.
-- Times are INTEGER milliseconds since the epoch (UTC). Seat rows are
-- 0-based indexes (A=0 .. Z=25, AA=26 .. ZZ=701), numbers 1-based, so
-- ORDER BY seat_row, seat_number is the natural seat order.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    username   TEXT NOT NULL UNIQUE,
    guid       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE screens (
    id            INTEGER PRIMARY KEY,
    screen_name   TEXT NOT NULL,
    rows          INTEGER NOT NULL CHECK (rows BETWEEN 1 AND 702),
    seats_per_row INTEGER NOT NULL CHECK (seats_per_row BETWEEN 1 AND 999),
    total_seats   INTEGER NOT NULL CHECK (total_seats = rows * seats_per_row)
);

CREATE TABLE movies (
    id               INTEGER PRIMARY KEY,
    movie_name       TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
    last_show_date   TEXT NOT NULL
);

CREATE TABLE shows (
    id        INTEGER PRIMARY KEY,
    movie_id  INTEGER NOT NULL REFERENCES movies(id),
    screen_id INTEGER NOT NULL REFERENCES screens(id),
    show_time INTEGER NOT NULL,
    end_time  INTEGER NOT NULL,
    status    TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CANCELLED'))
);
CREATE INDEX shows_active ON shows(status, show_time);
CREATE INDEX shows_screen ON shows(screen_id, show_time);

CREATE TABLE bookings (
    id                INTEGER PRIMARY KEY,
    show_id           INTEGER NOT NULL REFERENCES shows(id),
    user_id           INTEGER NOT NULL REFERENCES users(id),
    status            TEXT NOT NULL CHECK (status IN ('STAGED', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    total_seats       INTEGER NOT NULL DEFAULT 0,
    booking_reference TEXT NOT NULL UNIQUE,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER,
    confirmed_at      INTEGER,
    cancelled_at      INTEGER
);
CREATE INDEX bookings_user ON bookings(user_id, created_at DESC, id DESC);
-- At most one STAGED cart per user and show.
CREATE UNIQUE INDEX bookings_cart ON bookings(show_id, user_id) WHERE status = 'STAGED';
CREATE INDEX bookings_staged_expiry ON bookings(expires_at) WHERE status = 'STAGED';

CREATE TABLE seats (
    show_id         INTEGER NOT NULL REFERENCES shows(id),
    seat_row        INTEGER NOT NULL,
    seat_number     INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'BOOKED')),
    booking_id      INTEGER REFERENCES bookings(id),
    held_at         INTEGER,
    held_by_user_id INTEGER REFERENCES users(id),
    held_expiry     INTEGER,
    version         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (show_id, seat_row, seat_number),
    CHECK ((status = 'AVAILABLE') = (booking_id IS NULL)),
    CHECK ((status = 'HELD') = (held_expiry IS NOT NULL))
) WITHOUT ROWID;
CREATE INDEX seats_status ON seats(show_id, status);
CREATE INDEX seats_held_expiry ON seats(held_expiry) WHERE status = 'HELD';
CREATE INDEX seats_held_by ON seats(held_by_user_id) WHERE status = 'HELD';
CREATE INDEX seats_booking ON seats(booking_id) WHERE booking_id IS NOT NULL;

-- The seats of each booking: a cart's held seats, a confirmed booking's
-- booked seats; kept after cancel and expiry as the booking's history.
CREATE TABLE booking_seats (
    booking_id  INTEGER NOT NULL REFERENCES bookings(id),
    show_id     INTEGER NOT NULL,
    seat_row    INTEGER NOT NULL,
    seat_number INTEGER NOT NULL,
    PRIMARY KEY (booking_id, seat_row, seat_number)
) WITHOUT ROWID;
