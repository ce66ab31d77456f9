-- boxoffice: repeatable (only CREATE OR REPLACE: applied again whenever this
-- text changes, so fixes reach databases made by an earlier release)
-- boxoffice PostgreSQL stored functions, version 2: the functions of the
-- original MovieHub design (get_active_shows, get_show_seat_details,
-- hold_seats_for_user, confirm_booking, get_booking_details,
-- get_user_bookings) plus release, cancel, hold-best, expiry and admin.
--
-- Calling convention
-- * Every operation is one call, one round trip, one transaction: call it
--   with SELECT f(...) in its own transaction (READ COMMITTED is enough;
--   every rule is checked on rows this transaction has locked).
-- * Seats are passed as two parallel int arrays: p_rows (0-based row
--   index, A=0 .. ZZ=701) and p_numbers (1-based seat number), e.g. A1, B12
--   is ('{0,1}', '{1,12}'). release_seats takes NULL, NULL for "all".
-- * Every function returns jsonb {"outcome": "OK" | "<ERROR_CODE>", ...}
--   with the API.md codes (INVALID_REQUEST for arguments the API layer
--   should already have refused). Refusals change nothing.
--   "seats": [[row, number], ...] lists the seats at fault, natural order.
--   "booking": {reference, status, username, showId, movieName, screenName,
--     showTime, createdAt, expiresAt, confirmedAt, cancelledAt (epoch ms or
--     null), totalSeats, seats: [[row, number], ...] natural order}.
--     status is computed: a STAGED cart past its expiry reads EXPIRED, and
--     expiresAt is non-null only while the cart is live.
--   "changes": [[show_id, row, number, "HELD"|"AVAILABLE"|"BOOKED"], ...]
--     every seat whose state this call changed, natural order (always
--     present on writes, [] when nothing changed).
-- * Times come from the database clock (now(), the transaction's start, via bo_now())
--   and never from the caller. Times in JSON are ms since the epoch.
-- * Writes do not notify: the store wraps each write as bo_feed(<write>),
--   which records the "changes" in the per-show change feed inside the
--   write's own transaction (004_feed.sql); every node tails the feed.
--   NOTIFY inside the write would serialise every writing transaction's
--   commit (PostgreSQL holds one notify lock across commit, WAL flush
--   included): measured 15 of 16 writers waiting on it and ~600 writes/s.
--
-- Locking, so that no two transactions wait on each other in a cycle:
--   0. holds and confirms first take a transaction advisory lock on (show,
--      username), so one user's holds and confirms in one show run one at a
--      time: only one of them can create the cart (the unique index
--      bookings_cart backs this up), and a confirm that waited for an
--      identical one judges the retry rule on what that one committed;
--   1. the booking row (the user's cart, or the booking being cancelled),
--      FOR UPDATE;
--   2. then every seat the call may touch, one by one in natural order
--      (seat_row, seat_number), FOR UPDATE;
--   3. the expiry sweeper takes both with SKIP LOCKED and never waits.
--   hold_best_seats claims seats before step 0 (with SKIP LOCKED, never
--   waiting) and in split mode may pick again after losing a race, so it
--   can take two sets of seat locks; a deadlock is then possible, though
--   rare (never a wrong answer). Callers retry SQLSTATE 40001 and 40P01.
--
-- Seats are read and written one at a time by their full primary key, in
-- plpgsql loops: a set-based join against seats lets the planner pick a
-- scan of the whole show when its statistics are stale (right after a
-- show is created), which made a hold take tens of milliseconds. Helpers
-- that run queries are plpgsql, not SQL functions: PostgreSQL 15 plans a
-- non-inlined SQL function's query at every call, plpgsql caches it.

-- Helpers (bo_ prefix: not part of the interface) -------------------------

-- The clock. The database's own transaction time, unless a test session
-- set boxoffice.now (the store does so only when its configuration carries
-- a test clock): tests can move time; production never sets it.
CREATE OR REPLACE FUNCTION bo_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('boxoffice.now', true), '')::timestamptz, now())
$$;

CREATE OR REPLACE FUNCTION bo_ms(t timestamptz) RETURNS bigint
LANGUAGE sql STABLE STRICT AS $$
    SELECT floor(extract(epoch FROM t) * 1000)::bigint
$$;

CREATE OR REPLACE FUNCTION bo_outcome(p_code text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('outcome', p_code)
$$;

CREATE OR REPLACE FUNCTION bo_refusal(p_code text, p_seats jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_seats IS NULL
                THEN jsonb_build_object('outcome', p_code, 'changes', '[]'::jsonb)
                ELSE jsonb_build_object('outcome', p_code, 'seats', p_seats, 'changes', '[]'::jsonb)
           END
$$;

CREATE OR REPLACE FUNCTION bo_username_valid(p_username text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_username ~ '^[A-Za-z0-9._@-]{1,64}$', false)
$$;

-- A seat list is valid when both arrays are one-dimensional, equally long,
-- non-empty, without NULLs and without a seat twice.
CREATE OR REPLACE FUNCTION bo_seats_valid(p_rows int[], p_numbers int[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT coalesce(
                array_ndims(p_rows) = 1 AND array_ndims(p_numbers) = 1
                AND cardinality(p_rows) = cardinality(p_numbers)
                AND array_position(p_rows, NULL) IS NULL
                AND array_position(p_numbers, NULL) IS NULL
                AND (SELECT count(DISTINCT (q.r, q.n)) FROM unnest(p_rows, p_numbers) AS q(r, n))
                    = cardinality(p_rows),
                false));
END
$$;

-- The listed seats that do not exist in a screen of p_nrows x p_per_row:
-- the UNKNOWN_SEATS step of holdrule_check_show (src/core/holdrule.c).
CREATE OR REPLACE FUNCTION bo_unknown_seats(p_rows int[], p_numbers int[], p_nrows int, p_per_row int)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_array(q.r, q.n) ORDER BY q.r, q.n), '[]'::jsonb)
              FROM unnest(p_rows, p_numbers) AS q(r, n)
             WHERE q.r < 0 OR q.r >= p_nrows OR q.n < 1 OR q.n > p_per_row);
END
$$;

-- The listed seats, natural order, as [[row, number], ...].
CREATE OR REPLACE FUNCTION bo_seat_list(p_rows int[], p_numbers int[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_array(q.r, q.n) ORDER BY q.r, q.n), '[]'::jsonb)
              FROM unnest(p_rows, p_numbers) AS q(r, n));
END
$$;

-- 'BX-' and 8 symbols of a 30-letter alphabet without look-alikes, from
-- the strong random bytes of gen_random_uuid(). Bytes 6 and 8 carry the
-- UUID version and variant bits and are skipped; bytes >= 240 are
-- rejected so that every symbol is equally likely.
CREATE OR REPLACE FUNCTION bo_new_reference() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    alphabet constant text := '23456789ABCDEFGHJKMNPQRSTVWXYZ';
    ref text := 'BX-';
    b bytea;
    v int;
BEGIN
    LOOP
        b := uuid_send(gen_random_uuid());
        FOR i IN 0..15 LOOP
            CONTINUE WHEN i = 6 OR i = 8;
            v := get_byte(b, i);
            CONTINUE WHEN v >= 240;
            ref := ref || substr(alphabet, v % 30 + 1, 1);
            IF length(ref) = 11 THEN
                RETURN ref;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

-- The id of a user, created on first use when p_create; NULL when unknown.
CREATE OR REPLACE FUNCTION bo_user_id(p_username text, p_create boolean) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM users WHERE username = p_username;
    IF v_id IS NOT NULL OR NOT p_create THEN
        RETURN v_id;
    END IF;
    INSERT INTO users (username) VALUES (p_username)
        ON CONFLICT (username) DO NOTHING
        RETURNING id INTO v_id;
    IF v_id IS NULL THEN -- created meanwhile by a concurrent first call
        SELECT id INTO v_id FROM users WHERE username = p_username;
    END IF;
    RETURN v_id;
END
$$;

-- A booking as JSON. Its status is the effective one at bo_now(): twin of
-- holdrule_booking_status (src/core/holdrule.c).
CREATE OR REPLACE FUNCTION bo_booking_json(p_booking_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
                'reference', b.booking_reference,
                'status', CASE WHEN b.status = 'STAGED' AND b.expires_at <= bo_now() THEN 'EXPIRED' ELSE b.status END,
                'username', u.username,
                'showId', b.show_id,
                'movieName', m.movie_name,
                'screenName', sc.screen_name,
                'showTime', bo_ms(sh.show_time),
                'createdAt', bo_ms(b.created_at),
                'expiresAt', CASE WHEN b.status = 'STAGED' AND b.expires_at > bo_now() THEN bo_ms(b.expires_at) END,
                'confirmedAt', bo_ms(b.confirmed_at),
                'cancelledAt', bo_ms(b.cancelled_at),
                'totalSeats', jsonb_array_length(bs.seats),
                'seats', bs.seats)
              FROM bookings b
              JOIN users u ON u.id = b.user_id
              JOIN shows sh ON sh.id = b.show_id
              JOIN movies m ON m.id = sh.movie_id
              JOIN screens sc ON sc.id = sh.screen_id
             CROSS JOIN LATERAL (
                    SELECT coalesce(jsonb_agg(jsonb_build_array(x.seat_row, x.seat_number)
                                              ORDER BY x.seat_row, x.seat_number), '[]'::jsonb) AS seats
                      FROM booking_seats x
                     WHERE x.booking_id = b.id) bs
             WHERE b.id = p_booking_id);
END
$$;

-- Earlier versions published changes with bo_notify() after each write;
-- the change feed (004_feed.sql) replaced it.
DROP FUNCTION IF EXISTS bo_notify(jsonb);

-- Seat changes of one show as [[show_id, row, number, status], ...] in
-- natural order.
CREATE OR REPLACE FUNCTION bo_changes(p_show_id bigint, p_rows int[], p_numbers int[], p_statuses text[])
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_array(p_show_id, c.r, c.n, c.st) ORDER BY c.r, c.n), '[]'::jsonb)
              FROM unnest(p_rows, p_numbers, p_statuses) AS c(r, n, st));
END
$$;

-- The heart of hold and hold-best; the caller has checked the arguments,
-- that the show exists and is bookable and that the seats exist.
-- A transaction advisory lock on (show, username) serialises one user's
-- holds in a show before any row lock is taken, so at most one of them
-- creates the cart; then the cart row, then every seat involved in natural
-- order. Every check runs before the first write: a refusal writes nothing
-- (not even the user, who is created with the first cart).
CREATE OR REPLACE FUNCTION bo_hold(p_username text, p_show_id bigint, p_rows int[], p_numbers int[],
                                   p_ttl interval, p_max_lifetime interval, p_max_per_user int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    max_reference_attempts constant int := 8;
    v_now timestamptz := bo_now();
    v_user bigint;
    v_cart bookings%ROWTYPE;
    v_cart_id bigint;
    v_stale_id bigint;
    v_attempts int := 0;
    v_seat record;
    v_status text;
    v_booking bigint;
    v_held_until timestamptz;
    v_bad_rows int[] := '{}';
    v_bad_numbers int[] := '{}';
    v_add_rows int[] := '{}';
    v_add_numbers int[] := '{}';
    v_cart_rows int[] := '{}';    -- seats the live cart holds already
    v_cart_numbers int[] := '{}';
    v_expiry timestamptz;
    v_changes jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(hashint8(p_show_id), hashtext(p_username));

    v_user := bo_user_id(p_username, false);
    IF v_user IS NOT NULL THEN
        SELECT * INTO v_cart FROM bookings
         WHERE show_id = p_show_id AND user_id = v_user AND status = 'STAGED'
           FOR UPDATE;
        -- Live unless expired: twin of holdrule_booking_status.
        IF FOUND AND v_cart.expires_at > v_now THEN
            v_cart_id := v_cart.id;
        ELSIF FOUND THEN
            v_stale_id := v_cart.id; -- its seats already count as available
        END IF;
    END IF;

    -- Lock and judge every seat involved: the requested ones and the live
    -- cart's (whose expiry may be refreshed), in natural order.
    FOR v_seat IN
        SELECT k.r, k.n, bool_or(k.requested) AS requested
          FROM (SELECT q.r, q.n, true AS requested FROM unnest(p_rows, p_numbers) AS q(r, n)
                UNION ALL
                SELECT x.seat_row, x.seat_number, false FROM booking_seats x WHERE x.booking_id = v_cart_id) k
         GROUP BY k.r, k.n
         ORDER BY k.r, k.n
    LOOP
        SELECT s.status, s.booking_id, s.held_expiry INTO v_status, v_booking, v_held_until
          FROM seats s
         WHERE s.show_id = p_show_id AND s.seat_row = v_seat.r AND s.seat_number = v_seat.n
           FOR UPDATE;
        IF NOT FOUND THEN
            IF v_seat.requested THEN -- no such seat row: never holdable
                v_bad_rows := v_bad_rows || v_seat.r;
                v_bad_numbers := v_bad_numbers || v_seat.n;
            END IF;
        ELSIF v_status = 'HELD' AND v_booking = v_cart_id AND v_held_until > v_now THEN
            v_cart_rows := v_cart_rows || v_seat.r;
            v_cart_numbers := v_cart_numbers || v_seat.n;
        ELSIF NOT v_seat.requested THEN
            NULL; -- listed in the cart but no longer its seat: nothing to do
        -- Taken unless AVAILABLE or HELD past its expiry: twin of
        -- holdrule_seat_status (src/core/holdrule.c).
        ELSIF v_status = 'BOOKED' OR (v_status = 'HELD' AND v_held_until > v_now) THEN
            v_bad_rows := v_bad_rows || v_seat.r;
            v_bad_numbers := v_bad_numbers || v_seat.n;
        ELSE
            v_add_rows := v_add_rows || v_seat.r;
            v_add_numbers := v_add_numbers || v_seat.n;
        END IF;
    END LOOP;

    IF cardinality(v_bad_rows) > 0 THEN
        RETURN bo_refusal('SEATS_UNAVAILABLE', bo_seat_list(v_bad_rows, v_bad_numbers));
    END IF;
    IF cardinality(v_cart_rows) + cardinality(v_add_rows) > p_max_per_user THEN
        RETURN jsonb_build_object('outcome', 'HOLD_LIMIT_EXCEEDED', 'limit', p_max_per_user,
                                  'held', cardinality(v_cart_rows), 'changes', '[]'::jsonb);
    END IF;
    IF cardinality(v_add_rows) = 0 THEN -- a pure retry keeps the expiry
        RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_cart_id),
                                  'changes', '[]'::jsonb);
    END IF;

    IF v_cart_id IS NULL THEN
        v_user := coalesce(v_user, bo_user_id(p_username, true));
        IF v_stale_id IS NOT NULL THEN
            UPDATE bookings SET status = 'EXPIRED' WHERE id = v_stale_id;
        END IF;
        -- Nobody else can create this cart (advisory lock); a conflict here
        -- is a reference drawn twice: draw again.
        LOOP
            INSERT INTO bookings (show_id, user_id, status, total_seats, booking_reference,
                                  created_at, expires_at)
            -- The first expiry: twin of holdrule_expiry with created = now.
            VALUES (p_show_id, v_user, 'STAGED', 0, bo_new_reference(), v_now,
                    v_now + least(p_ttl, p_max_lifetime))
            ON CONFLICT DO NOTHING
            RETURNING * INTO v_cart;
            EXIT WHEN FOUND;
            v_attempts := v_attempts + 1;
            IF v_attempts >= max_reference_attempts THEN
                RAISE EXCEPTION 'could not create a cart' USING ERRCODE = 'serialization_failure';
            END IF;
        END LOOP;
        v_cart_id := v_cart.id;
    END IF;

    -- Twin of holdrule_expiry (src/core/holdrule.c): now + ttl, capped at
    -- created + max lifetime.
    v_expiry := least(v_now + p_ttl, v_cart.created_at + p_max_lifetime);
    FOR i IN 1 .. cardinality(v_cart_rows) LOOP
        UPDATE seats
           SET held_expiry = v_expiry, version = version + 1
         WHERE show_id = p_show_id AND seat_row = v_cart_rows[i] AND seat_number = v_cart_numbers[i]
           AND held_expiry <> v_expiry;
    END LOOP;
    FOR i IN 1 .. cardinality(v_add_rows) LOOP
        UPDATE seats
           SET status = 'HELD', booking_id = v_cart_id, held_at = v_now, held_by_user_id = v_user,
               held_expiry = v_expiry, version = version + 1
         WHERE show_id = p_show_id AND seat_row = v_add_rows[i] AND seat_number = v_add_numbers[i];
    END LOOP;
    INSERT INTO booking_seats (booking_id, show_id, seat_row, seat_number)
    SELECT v_cart_id, p_show_id, q.r, q.n FROM unnest(v_add_rows, v_add_numbers) AS q(r, n);
    UPDATE bookings
       SET expires_at = v_expiry, total_seats = cardinality(v_cart_rows) + cardinality(v_add_rows)
     WHERE id = v_cart_id;

    v_changes := bo_changes(p_show_id, v_add_rows, v_add_numbers,
                            array_fill('HELD'::text, ARRAY[cardinality(v_add_rows)]));
    RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_cart_id), 'changes', v_changes);
END
$$;

-- Hold-best chooses seats as core/bestseat.c does. Free means AVAILABLE
-- or held with an expiry in the past (holdrule_seat_status, src/core/holdrule.c). A block is p_count free seats side
-- by side in one row; every run of free seats offers each block inside
-- it, and a block leaving exactly one free seat between itself and the
-- end of its run strands that seat. Blocks that strand nothing come
-- first, then the smallest squared distance of the block's centre from
-- the screen's centre (distances doubled to stay integers: a row counts
-- as much as a seat), then the front row, then the left.
--
-- bo_pick_split is the fallback when no row has p_count adjacent free
-- seats: scattered seats in as few rows as possible (see the comment
-- below). Returns NULLs when there are fewer than p_count free seats.
CREATE OR REPLACE FUNCTION bo_pick_split(p_show_id bigint, p_nrows int, p_per_row int, p_count int,
                                         OUT o_rows int[], OUT o_numbers int[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_row int;
    v_start int;
    v_free int[];
    v_got int := 0;
    v_need int;
    v_last_row int := -1;
    v_last_free int := 0;
    v_finish int;
    v_whole int;
    v_whole_free int;
    v_f int;
    v_nums int[];
BEGIN
    -- Scattered, in as few rows as possible: while no unused row can
    -- supply what is still needed, take all of the row with the most free
    -- seats; then finish in the unused row nearest the middle that can.
    v_free := array_fill(0, ARRAY[p_nrows]);
    FOR v_row, v_f IN
        SELECT seat_row, count(*)::int FROM seats
         WHERE show_id = p_show_id
           AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= bo_now()))
         GROUP BY seat_row
    LOOP
        v_free[v_row + 1] := v_f;
    END LOOP;
    o_rows := '{}';
    o_numbers := '{}';

    WHILE v_got < p_count LOOP
        v_need := p_count - v_got;
        v_finish := -1;
        v_whole := -1;
        v_whole_free := 0;
        FOR r IN 0 .. p_nrows - 1 LOOP
            v_f := v_free[r + 1];
            CONTINUE WHEN v_f = 0;
            -- rows are used up in order: most free, nearest the middle, front
            CONTINUE WHEN v_last_row >= 0 AND NOT (
                v_last_free > v_f
                OR (v_last_free = v_f AND (abs(2 * v_last_row - (p_nrows - 1)) < abs(2 * r - (p_nrows - 1))
                    OR (abs(2 * v_last_row - (p_nrows - 1)) = abs(2 * r - (p_nrows - 1)) AND v_last_row < r))));
            IF v_f >= v_need THEN
                IF v_finish < 0 OR abs(2 * r - (p_nrows - 1)) < abs(2 * v_finish - (p_nrows - 1)) THEN
                    v_finish := r;
                END IF;
            ELSIF v_whole < 0
                  OR v_f > v_whole_free
                  OR (v_f = v_whole_free AND (abs(2 * r - (p_nrows - 1)) < abs(2 * v_whole - (p_nrows - 1))
                      OR (abs(2 * r - (p_nrows - 1)) = abs(2 * v_whole - (p_nrows - 1)) AND r < v_whole))) THEN
                v_whole := r;
                v_whole_free := v_f;
            END IF;
        END LOOP;

        IF v_finish >= 0 THEN
            -- A block in that row if it has one, else its most central seats.
            v_start := NULL;
            WITH f AS (
                SELECT seat_number AS n
                  FROM seats
                 WHERE show_id = p_show_id AND seat_row = v_finish
                   AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= bo_now()))
            ), runs AS (
                SELECT min(g.n) AS a, max(g.n) AS b
                  FROM (SELECT f.n, f.n - row_number() OVER (ORDER BY f.n) AS grp FROM f) g
                 GROUP BY g.grp
                HAVING max(g.n) - min(g.n) + 1 >= v_need
            )
            SELECT st INTO v_start
              FROM runs
             CROSS JOIN LATERAL generate_series(runs.a, runs.b - v_need + 1) AS st
             ORDER BY (st - runs.a = 1 OR runs.b - (st + v_need - 1) = 1),
                      abs(2 * (st - 1) + v_need - p_per_row), st
             LIMIT 1;
            IF v_start IS NOT NULL THEN
                v_nums := ARRAY(SELECT generate_series(v_start, v_start + v_need - 1));
            ELSE
                v_nums := ARRAY(
                    SELECT seat_number FROM seats
                     WHERE show_id = p_show_id AND seat_row = v_finish
                       AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= bo_now()))
                     ORDER BY abs(2 * (seat_number - 1) - (p_per_row - 1)), seat_number
                     LIMIT v_need);
            END IF;
            o_rows := o_rows || array_fill(v_finish, ARRAY[v_need]);
            o_numbers := o_numbers || v_nums;
            v_got := p_count;
        ELSIF v_whole >= 0 THEN
            v_nums := ARRAY(
                SELECT seat_number FROM seats
                 WHERE show_id = p_show_id AND seat_row = v_whole
                   AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= bo_now()))
                 ORDER BY seat_number);
            o_rows := o_rows || array_fill(v_whole, ARRAY[v_whole_free]);
            o_numbers := o_numbers || v_nums;
            v_got := v_got + v_whole_free;
            v_last_row := v_whole;
            v_last_free := v_whole_free;
        ELSE
            o_rows := NULL; -- fewer than p_count free seats in the show
            o_numbers := NULL;
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- The original six ----------------------------------------------------------

-- {"outcome":"OK","shows":[{showId, movieId, movieName, durationMinutes,
-- showTime, screenId, screenName, totalSeats, availableSeats}]}: ACTIVE
-- shows still ahead, by showTime then showId.
CREATE OR REPLACE FUNCTION get_active_shows() RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('outcome', 'OK', 'shows',
                       coalesce(jsonb_agg(x.obj ORDER BY x.show_time, x.id), '[]'::jsonb))
              FROM (SELECT sh.id, sh.show_time,
                           jsonb_build_object(
                               'showId', sh.id,
                               'movieId', sh.movie_id,
                               'movieName', m.movie_name,
                               'durationMinutes', m.duration_minutes,
                               'showTime', bo_ms(sh.show_time),
                               'screenId', sh.screen_id,
                               'screenName', sc.screen_name,
                               'totalSeats', sc.total_seats,
                               'availableSeats',
                               sc.total_seats - (SELECT count(*) FROM seats s
                                                  WHERE s.show_id = sh.id AND s.status <> 'AVAILABLE'
                                                    AND (s.status = 'BOOKED' OR s.held_expiry > bo_now()))) AS obj
                      FROM shows sh
                      JOIN movies m ON m.id = sh.movie_id
                      JOIN screens sc ON sc.id = sh.screen_id
                     WHERE sh.status = 'ACTIVE' AND sh.show_time > bo_now()) x);
END
$$;

-- {"outcome":"OK","show":{showId, movieId, movieName, durationMinutes,
-- showTime, screenId, screenName, status, rows, seatsPerRow, totalSeats,
-- availableSeats, heldSeats, bookedSeats, available, held, booked,
-- nextExpiry}} or SHOW_NOT_FOUND. Expired holds count as available;
-- nextExpiry is the earliest live hold's expiry (ms) or null.
CREATE OR REPLACE FUNCTION get_show_seat_details(p_show_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_show jsonb;
    v_seats record;
BEGIN
    SELECT jsonb_build_object(
               'showId', sh.id,
               'movieId', sh.movie_id,
               'movieName', m.movie_name,
               'durationMinutes', m.duration_minutes,
               'showTime', bo_ms(sh.show_time),
               'screenId', sh.screen_id,
               'screenName', sc.screen_name,
               'status', sh.status,
               'rows', sc.rows,
               'seatsPerRow', sc.seats_per_row,
               'totalSeats', sc.total_seats)
      INTO v_show
      FROM shows sh
      JOIN movies m ON m.id = sh.movie_id
      JOIN screens sc ON sc.id = sh.screen_id
     WHERE sh.id = p_show_id;
    IF v_show IS NULL THEN
        RETURN bo_outcome('SHOW_NOT_FOUND');
    END IF;

    SELECT coalesce(jsonb_agg(jsonb_build_array(s.seat_row, s.seat_number) ORDER BY s.seat_row, s.seat_number)
                        FILTER (WHERE s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_expiry <= bo_now())),
                    '[]'::jsonb) AS available,
           coalesce(jsonb_agg(jsonb_build_array(s.seat_row, s.seat_number) ORDER BY s.seat_row, s.seat_number)
                        FILTER (WHERE s.status = 'HELD' AND s.held_expiry > bo_now()),
                    '[]'::jsonb) AS held,
           coalesce(jsonb_agg(jsonb_build_array(s.seat_row, s.seat_number) ORDER BY s.seat_row, s.seat_number)
                        FILTER (WHERE s.status = 'BOOKED'),
                    '[]'::jsonb) AS booked,
           min(s.held_expiry) FILTER (WHERE s.status = 'HELD' AND s.held_expiry > bo_now()) AS next_expiry
      INTO v_seats
      FROM seats s
     WHERE s.show_id = p_show_id;

    RETURN jsonb_build_object('outcome', 'OK', 'show',
        v_show || jsonb_build_object(
            'availableSeats', jsonb_array_length(v_seats.available),
            'heldSeats', jsonb_array_length(v_seats.held),
            'bookedSeats', jsonb_array_length(v_seats.booked),
            'available', v_seats.available,
            'held', v_seats.held,
            'booked', v_seats.booked,
            'nextExpiry', bo_ms(v_seats.next_expiry)));
END
$$;

-- Holds seats for a user: {"outcome":"OK","booking":<the STAGED cart>,
-- "changes"}. Checks in the API's order: arguments (INVALID_REQUEST),
-- SHOW_NOT_FOUND, SHOW_NOT_BOOKABLE, UNKNOWN_SEATS, SEATS_UNAVAILABLE,
-- HOLD_LIMIT_EXCEEDED (the order of src/core/holdrule.h; the show steps are
-- holdrule_check_show). The cart's expiry becomes
-- least(now + p_ttl, created_at + p_max_lifetime) when a seat is added
-- (all its seats follow); a pure retry keeps it.
CREATE OR REPLACE FUNCTION hold_seats_for_user(p_username text, p_show_id bigint,
                                               p_rows int[], p_numbers int[],
                                               p_ttl interval, p_max_lifetime interval,
                                               p_max_per_user int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_status text;
    v_show_time timestamptz;
    v_nrows int;
    v_per_row int;
    v_bad jsonb;
BEGIN
    IF NOT bo_username_valid(p_username) OR p_show_id IS NULL OR NOT bo_seats_valid(p_rows, p_numbers)
       OR NOT coalesce(p_ttl > interval '0' AND p_max_lifetime > interval '0' AND p_max_per_user >= 1, false) THEN
        RETURN bo_refusal('INVALID_REQUEST');
    END IF;
    SELECT sh.status, sh.show_time, sc.rows, sc.seats_per_row
      INTO v_status, v_show_time, v_nrows, v_per_row
      FROM shows sh JOIN screens sc ON sc.id = sh.screen_id
     WHERE sh.id = p_show_id;
    IF NOT FOUND THEN
        RETURN bo_refusal('SHOW_NOT_FOUND');
    END IF;
    IF v_status <> 'ACTIVE' OR v_show_time <= bo_now() THEN
        RETURN bo_refusal('SHOW_NOT_BOOKABLE');
    END IF;
    v_bad := bo_unknown_seats(p_rows, p_numbers, v_nrows, v_per_row);
    IF jsonb_array_length(v_bad) > 0 THEN
        RETURN bo_refusal('UNKNOWN_SEATS', v_bad);
    END IF;
    RETURN bo_hold(p_username, p_show_id, p_rows, p_numbers, p_ttl, p_max_lifetime, p_max_per_user);
END
$$;

-- Confirms held seats: {"outcome":"OK","booking":<CONFIRMED>,"changes"}.
-- Order: INVALID_REQUEST, SHOW_NOT_FOUND, UNKNOWN_SEATS, retry of a
-- success (OK, the same booking, no change), SHOW_NOT_BOOKABLE,
-- SEATS_NOT_HELD (the order of src/core/holdrule.h; the show steps are
-- holdrule_check_show, then holdrule_show_bookable after the retry test),
-- with the seats not held live by this user's cart. The
-- cart's seats that are not listed are released; the cart keeps its
-- reference.
CREATE OR REPLACE FUNCTION confirm_booking(p_username text, p_show_id bigint, p_rows int[], p_numbers int[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz := bo_now();
    v_show_status text;
    v_show_time timestamptz;
    v_nrows int;
    v_per_row int;
    v_bad jsonb;
    v_user bigint;
    v_cart bookings%ROWTYPE;
    v_seat record;
    v_status text;
    v_booking bigint;
    v_held_until timestamptz;
    v_retry_of bigint;
    v_bad_rows int[] := '{}';
    v_bad_numbers int[] := '{}';
    v_book_rows int[] := '{}';
    v_book_numbers int[] := '{}';
    v_free_rows int[] := '{}';
    v_free_numbers int[] := '{}';
    v_changes jsonb;
BEGIN
    IF NOT bo_username_valid(p_username) OR p_show_id IS NULL OR NOT bo_seats_valid(p_rows, p_numbers) THEN
        RETURN bo_refusal('INVALID_REQUEST');
    END IF;
    SELECT sh.status, sh.show_time, sc.rows, sc.seats_per_row
      INTO v_show_status, v_show_time, v_nrows, v_per_row
      FROM shows sh JOIN screens sc ON sc.id = sh.screen_id
     WHERE sh.id = p_show_id;
    IF NOT FOUND THEN
        RETURN bo_refusal('SHOW_NOT_FOUND');
    END IF;
    v_bad := bo_unknown_seats(p_rows, p_numbers, v_nrows, v_per_row);
    IF jsonb_array_length(v_bad) > 0 THEN
        RETURN bo_refusal('UNKNOWN_SEATS', v_bad);
    END IF;
    -- Wait for this user's other holds and confirms in this show before
    -- judging anything about their cart: under READ COMMITTED every
    -- statement below then sees what they committed. Without it, a confirm
    -- racing an identical one read the seats before the winner committed
    -- (no retry), then found the cart CONFIRMED once its row lock was
    -- free, and answered SEATS_NOT_HELD to a booking that had succeeded.
    PERFORM pg_advisory_xact_lock(hashint8(p_show_id), hashtext(p_username));
    v_user := bo_user_id(p_username, false);

    -- A retry after success: every listed seat BOOKED in one CONFIRMED
    -- booking of this user whose seats are exactly the listed ones.
    IF v_user IS NOT NULL THEN
        FOR i IN 1 .. cardinality(p_rows) LOOP
            SELECT s.status, s.booking_id INTO v_status, v_booking
              FROM seats s
             WHERE s.show_id = p_show_id AND s.seat_row = p_rows[i] AND s.seat_number = p_numbers[i];
            IF v_status IS DISTINCT FROM 'BOOKED' OR (i > 1 AND v_booking IS DISTINCT FROM v_retry_of) THEN
                v_retry_of := NULL;
                EXIT;
            END IF;
            v_retry_of := v_booking;
        END LOOP;
        IF v_retry_of IS NOT NULL THEN
            PERFORM 1 FROM bookings
             WHERE id = v_retry_of AND user_id = v_user AND status = 'CONFIRMED'
               AND total_seats = cardinality(p_rows)
               AND (SELECT count(*) FROM booking_seats WHERE booking_id = v_retry_of) = cardinality(p_rows)
               FOR SHARE;
            IF FOUND THEN
                RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_retry_of),
                                          'changes', '[]'::jsonb);
            END IF;
        END IF;
    END IF;

    IF v_show_status <> 'ACTIVE' OR v_show_time <= v_now THEN
        RETURN bo_refusal('SHOW_NOT_BOOKABLE');
    END IF;

    IF v_user IS NOT NULL THEN
        SELECT * INTO v_cart FROM bookings
         WHERE show_id = p_show_id AND user_id = v_user AND status = 'STAGED'
           FOR UPDATE;
    END IF;
    IF v_cart.id IS NULL OR v_cart.expires_at <= v_now THEN
        RETURN bo_refusal('SEATS_NOT_HELD', bo_seat_list(p_rows, p_numbers));
    END IF;

    -- Lock and judge the listed seats and the cart's, in natural order.
    FOR v_seat IN
        SELECT k.r, k.n, bool_or(k.listed) AS listed
          FROM (SELECT q.r, q.n, true AS listed FROM unnest(p_rows, p_numbers) AS q(r, n)
                UNION ALL
                SELECT x.seat_row, x.seat_number, false FROM booking_seats x WHERE x.booking_id = v_cart.id) k
         GROUP BY k.r, k.n
         ORDER BY k.r, k.n
    LOOP
        SELECT s.status, s.booking_id, s.held_expiry INTO v_status, v_booking, v_held_until
          FROM seats s
         WHERE s.show_id = p_show_id AND s.seat_row = v_seat.r AND s.seat_number = v_seat.n
           FOR UPDATE;
        IF NOT coalesce(v_status = 'HELD' AND v_booking = v_cart.id AND v_held_until > v_now, false) THEN
            IF v_seat.listed THEN
                v_bad_rows := v_bad_rows || v_seat.r;
                v_bad_numbers := v_bad_numbers || v_seat.n;
            END IF;
        ELSIF v_seat.listed THEN
            v_book_rows := v_book_rows || v_seat.r;
            v_book_numbers := v_book_numbers || v_seat.n;
        ELSE
            v_free_rows := v_free_rows || v_seat.r;
            v_free_numbers := v_free_numbers || v_seat.n;
        END IF;
    END LOOP;
    IF cardinality(v_bad_rows) > 0 THEN
        RETURN bo_refusal('SEATS_NOT_HELD', bo_seat_list(v_bad_rows, v_bad_numbers));
    END IF;

    FOR i IN 1 .. cardinality(v_book_rows) LOOP
        UPDATE seats
           SET status = 'BOOKED', held_at = NULL, held_by_user_id = NULL, held_expiry = NULL,
               version = version + 1
         WHERE show_id = p_show_id AND seat_row = v_book_rows[i] AND seat_number = v_book_numbers[i];
    END LOOP;
    FOR i IN 1 .. cardinality(v_free_rows) LOOP
        UPDATE seats
           SET status = 'AVAILABLE', booking_id = NULL, held_at = NULL, held_by_user_id = NULL,
               held_expiry = NULL, version = version + 1
         WHERE show_id = p_show_id AND seat_row = v_free_rows[i] AND seat_number = v_free_numbers[i];
    END LOOP;
    DELETE FROM booking_seats x
     WHERE x.booking_id = v_cart.id
       AND (x.seat_row, x.seat_number) NOT IN (SELECT q.r, q.n FROM unnest(p_rows, p_numbers) AS q(r, n));
    UPDATE bookings
       SET status = 'CONFIRMED', confirmed_at = v_now, total_seats = cardinality(v_book_rows)
     WHERE id = v_cart.id;

    v_changes := bo_changes(p_show_id, v_book_rows || v_free_rows, v_book_numbers || v_free_numbers,
                            array_fill('BOOKED'::text, ARRAY[cardinality(v_book_rows)])
                            || array_fill('AVAILABLE'::text, ARRAY[cardinality(v_free_rows)]));
    RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_cart.id), 'changes', v_changes);
END
$$;

-- {"outcome":"OK","booking"} or BOOKING_NOT_FOUND (unknown reference, or
-- another user's: the two are not told apart). References match in any case.
CREATE OR REPLACE FUNCTION get_booking_details(p_username text, p_booking_reference text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT b.id INTO v_id
      FROM bookings b JOIN users u ON u.id = b.user_id
     WHERE b.booking_reference = upper(p_booking_reference) AND u.username = p_username;
    IF v_id IS NULL THEN
        RETURN bo_outcome('BOOKING_NOT_FOUND');
    END IF;
    RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_id));
END
$$;

-- {"outcome":"OK","bookings":[...]}: every booking of the user, newest
-- first; [] for an unknown user.
CREATE OR REPLACE FUNCTION get_user_bookings(p_username text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('outcome', 'OK', 'bookings',
                       coalesce((SELECT jsonb_agg(bo_booking_json(b.id) ORDER BY b.created_at DESC, b.id DESC)
                                   FROM bookings b JOIN users u ON u.id = b.user_id
                                  WHERE u.username = p_username), '[]'::jsonb)));
END
$$;

-- One page of the same list: at most p_limit bookings below the key
-- (p_after_us, p_after_id) - creation time in microseconds since the epoch,
-- booking id - or from the newest when p_after_us is NULL:
-- {"outcome":"OK","bookings":[...],"keys":[[us,id],...]}, keys in the
-- bookings' order. The index bookings_user serves the order and the
-- bound; microseconds keep the key exact (a millisecond key could skip
-- bookings created within one).
CREATE OR REPLACE FUNCTION get_user_bookings_page(p_username text, p_limit int, p_after_us bigint,
                                                  p_after_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_after timestamptz := 'epoch'::timestamptz + p_after_us * interval '1 microsecond';
BEGIN
    RETURN (WITH page AS (
                SELECT b.id, b.created_at FROM bookings b JOIN users u ON u.id = b.user_id
                 WHERE u.username = p_username
                   AND (p_after_us IS NULL OR (b.created_at, b.id) < (v_after, p_after_id))
                 ORDER BY b.created_at DESC, b.id DESC LIMIT p_limit)
            SELECT jsonb_build_object('outcome', 'OK',
                       'bookings', coalesce(jsonb_agg(bo_booking_json(p.id) ORDER BY p.created_at DESC, p.id DESC),
                                            '[]'::jsonb),
                       'keys', coalesce(jsonb_agg(jsonb_build_array((extract(epoch FROM p.created_at) * 1000000)::bigint,
                                                                    p.id)
                                                  ORDER BY p.created_at DESC, p.id DESC), '[]'::jsonb))
              FROM page p);
END
$$;

-- Extensions -----------------------------------------------------------------

-- Releases seats of the user's live cart in a show (all of them when
-- p_rows and p_numbers are NULL): {"outcome":"OK","booking","changes"}.
-- Seats not in the cart are ignored; a cart left empty is CANCELLED.
-- INVALID_REQUEST, SHOW_NOT_FOUND, UNKNOWN_SEATS, BOOKING_NOT_FOUND (no
-- live cart: none, or it has expired), the order of src/core/holdrule.h.
-- The expiry does not move.
CREATE OR REPLACE FUNCTION release_seats(p_username text, p_show_id bigint, p_rows int[], p_numbers int[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz := bo_now();
    v_all boolean := p_rows IS NULL AND p_numbers IS NULL;
    v_nrows int;
    v_per_row int;
    v_bad jsonb;
    v_user bigint;
    v_cart bookings%ROWTYPE;
    v_seat record;
    v_rows int[] := '{}';
    v_numbers int[] := '{}';
    v_changes jsonb;
BEGIN
    IF NOT bo_username_valid(p_username) OR p_show_id IS NULL
       OR NOT (v_all OR bo_seats_valid(p_rows, p_numbers)) THEN
        RETURN bo_refusal('INVALID_REQUEST');
    END IF;
    SELECT sc.rows, sc.seats_per_row INTO v_nrows, v_per_row
      FROM shows sh JOIN screens sc ON sc.id = sh.screen_id
     WHERE sh.id = p_show_id;
    IF NOT FOUND THEN
        RETURN bo_refusal('SHOW_NOT_FOUND');
    END IF;
    IF NOT v_all THEN
        v_bad := bo_unknown_seats(p_rows, p_numbers, v_nrows, v_per_row);
        IF jsonb_array_length(v_bad) > 0 THEN
            RETURN bo_refusal('UNKNOWN_SEATS', v_bad);
        END IF;
    END IF;
    v_user := bo_user_id(p_username, false);
    IF v_user IS NOT NULL THEN
        SELECT * INTO v_cart FROM bookings
         WHERE show_id = p_show_id AND user_id = v_user AND status = 'STAGED'
           FOR UPDATE;
    END IF;
    IF v_cart.id IS NULL OR v_cart.expires_at <= v_now THEN
        RETURN bo_refusal('BOOKING_NOT_FOUND');
    END IF;

    FOR v_seat IN
        SELECT x.seat_row, x.seat_number FROM booking_seats x
         WHERE x.booking_id = v_cart.id
           AND (v_all OR (x.seat_row, x.seat_number) IN (SELECT q.r, q.n FROM unnest(p_rows, p_numbers) AS q(r, n)))
         ORDER BY x.seat_row, x.seat_number
    LOOP
        UPDATE seats
           SET status = 'AVAILABLE', booking_id = NULL, held_at = NULL, held_by_user_id = NULL,
               held_expiry = NULL, version = version + 1
         WHERE show_id = p_show_id AND seat_row = v_seat.seat_row AND seat_number = v_seat.seat_number
           AND status = 'HELD' AND booking_id = v_cart.id;
        IF FOUND THEN
            v_rows := v_rows || v_seat.seat_row;
            v_numbers := v_numbers || v_seat.seat_number;
        END IF;
        DELETE FROM booking_seats
         WHERE booking_id = v_cart.id AND seat_row = v_seat.seat_row AND seat_number = v_seat.seat_number;
    END LOOP;

    IF cardinality(v_rows) > 0 THEN
        UPDATE bookings
           SET total_seats = total_seats - cardinality(v_rows),
               status = CASE WHEN total_seats = cardinality(v_rows) THEN 'CANCELLED' ELSE status END,
               cancelled_at = CASE WHEN total_seats = cardinality(v_rows) THEN v_now END
         WHERE id = v_cart.id;
    END IF;
    v_changes := bo_changes(p_show_id, v_rows, v_numbers, array_fill('AVAILABLE'::text, ARRAY[cardinality(v_rows)]));
    RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_cart.id), 'changes', v_changes);
END
$$;

-- Cancels a booking of the user (a live cart or a confirmed booking): its
-- seats become AVAILABLE and stay listed in it as its history.
-- {"outcome":"OK","booking","changes"}; cancelling a CANCELLED booking is
-- OK again with no change. BOOKING_NOT_FOUND (unknown or another user's),
-- BOOKING_NOT_CANCELLABLE (expired, or the show has started): twin of
-- holdrule_check_cancel (src/core/holdrule.c).
CREATE OR REPLACE FUNCTION cancel_booking(p_username text, p_booking_reference text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz := bo_now();
    v_user bigint;
    v_booking bookings%ROWTYPE;
    v_seat record;
    v_rows int[] := '{}';
    v_numbers int[] := '{}';
    v_changes jsonb;
BEGIN
    IF NOT bo_username_valid(p_username) OR p_booking_reference IS NULL THEN
        RETURN bo_refusal('INVALID_REQUEST');
    END IF;
    v_user := bo_user_id(p_username, false);
    IF v_user IS NULL THEN
        RETURN bo_refusal('BOOKING_NOT_FOUND');
    END IF;
    SELECT * INTO v_booking FROM bookings
     WHERE booking_reference = upper(p_booking_reference) AND user_id = v_user
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN bo_refusal('BOOKING_NOT_FOUND');
    END IF;
    IF v_booking.status = 'CANCELLED' THEN
        RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_booking.id),
                                  'changes', '[]'::jsonb);
    END IF;
    IF v_booking.status = 'EXPIRED'
       OR (v_booking.status = 'STAGED' AND v_booking.expires_at <= v_now)
       OR (SELECT show_time FROM shows WHERE id = v_booking.show_id) <= v_now THEN
        RETURN bo_refusal('BOOKING_NOT_CANCELLABLE');
    END IF;

    FOR v_seat IN
        SELECT x.seat_row, x.seat_number FROM booking_seats x
         WHERE x.booking_id = v_booking.id
         ORDER BY x.seat_row, x.seat_number
    LOOP
        UPDATE seats
           SET status = 'AVAILABLE', booking_id = NULL, held_at = NULL, held_by_user_id = NULL,
               held_expiry = NULL, version = version + 1
         WHERE show_id = v_booking.show_id AND seat_row = v_seat.seat_row AND seat_number = v_seat.seat_number
           AND booking_id = v_booking.id AND status IN ('HELD', 'BOOKED');
        IF FOUND THEN
            v_rows := v_rows || v_seat.seat_row;
            v_numbers := v_numbers || v_seat.seat_number;
        END IF;
    END LOOP;
    UPDATE bookings SET status = 'CANCELLED', cancelled_at = v_now WHERE id = v_booking.id;

    v_changes := bo_changes(v_booking.show_id, v_rows, v_numbers,
                            array_fill('AVAILABLE'::text, ARRAY[cardinality(v_rows)]));
    RETURN jsonb_build_object('outcome', 'OK', 'booking', bo_booking_json(v_booking.id), 'changes', v_changes);
END
$$;

-- Holds the best p_count seats (see bo_pick_split above for the order)
-- like a hold: INVALID_REQUEST, SHOW_NOT_FOUND, SHOW_NOT_BOOKABLE,
-- SEATS_UNAVAILABLE (no acceptable choice; "seats": []),
-- HOLD_LIMIT_EXCEEDED (the order of src/core/holdrule.h). Blocks are claimed in order of preference with
-- FOR UPDATE SKIP LOCKED, so racing calls spread over the next best
-- blocks instead of queueing for the same one; split mode picks, holds,
-- and picks again when a concurrent call took a seat first.
CREATE OR REPLACE FUNCTION hold_best_seats(p_username text, p_show_id bigint, p_count int, p_allow_split boolean,
                                           p_ttl interval, p_max_lifetime interval, p_max_per_user int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    max_split_picks constant int := 4;
    v_status text;
    v_show_time timestamptz;
    v_nrows int;
    v_per_row int;
    v_block record;
    v_claimed int;
    v_pick record;
    v_result jsonb;
    v_band int;     -- the rows whose doubled distance from the middle is <= v_band
    v_floor bigint; -- the least score any block of a row outside the band has
    v_all boolean;
    v_lo int;       -- the window's first and last block starts
    v_hi int;
BEGIN
    IF NOT bo_username_valid(p_username) OR p_show_id IS NULL OR p_allow_split IS NULL
       OR NOT coalesce(p_count >= 1 AND p_ttl > interval '0' AND p_max_lifetime > interval '0'
                       AND p_max_per_user >= 1, false) THEN
        RETURN bo_refusal('INVALID_REQUEST');
    END IF;
    SELECT sh.status, sh.show_time, sc.rows, sc.seats_per_row
      INTO v_status, v_show_time, v_nrows, v_per_row
      FROM shows sh JOIN screens sc ON sc.id = sh.screen_id
     WHERE sh.id = p_show_id;
    IF NOT FOUND THEN
        RETURN bo_refusal('SHOW_NOT_FOUND');
    END IF;
    IF v_status <> 'ACTIVE' OR v_show_time <= bo_now() THEN
        RETURN bo_refusal('SHOW_NOT_BOOKABLE');
    END IF;
    IF p_count > v_per_row AND NOT p_allow_split THEN
        RETURN bo_refusal('SEATS_UNAVAILABLE', '[]'::jsonb);
    END IF;
    -- The candidates near the centre first: a window of the rows whose
    -- doubled distance from the middle row is <= v_band and the blocks
    -- whose doubled distance from the middle seat is <= v_band + 1, widened
    -- (doubled) until it holds the answer. Within it the order is the whole
    -- rule's; a block is taken from it only when no block outside could be
    -- better: it strands no seat and scores less than (v_band + 2)^2, which
    -- every block outside scores at least. Two seats more on each side are
    -- read so that a run's ends (the stranding rule) are seen as they are.
    -- On a big show this reads the seats around the sold centre, not the
    -- whole grid (a 100,000-seat show was read and sorted on every call).
    v_band := (v_nrows - 1) % 2;
    LOOP
        v_all := v_band >= v_nrows - 1 AND v_band >= v_per_row + p_count;
        v_floor := (v_band + 2)::bigint * (v_band + 2);
        v_lo := CASE WHEN v_all THEN 1 ELSE ceil((v_per_row - p_count - v_band - 1) / 2.0)::int + 1 END;
        v_hi := CASE WHEN v_all THEN v_per_row ELSE floor((v_per_row - p_count + v_band + 1) / 2.0)::int + 1 END;
        FOR v_block IN
            WITH f AS (
                SELECT seat_row AS r, seat_number AS n
                  FROM seats
                 WHERE show_id = p_show_id
                   AND seat_row BETWEEN (v_nrows - 1 - v_band) / 2 AND (v_nrows - 1 + v_band) / 2
                   AND seat_number BETWEEN v_lo - 2 AND v_hi + p_count + 1
                   AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= bo_now()))
            ), runs AS (
                SELECT g.r, min(g.n) AS a, max(g.n) AS b
                  FROM (SELECT f.r, f.n, f.n - row_number() OVER (PARTITION BY f.r ORDER BY f.n) AS grp FROM f) g
                 GROUP BY g.r, g.grp
                HAVING max(g.n) - min(g.n) + 1 >= p_count
            ), c AS (
                SELECT runs.r, st.st,
                       (st.st - runs.a = 1 OR runs.b - (st.st + p_count - 1) = 1) AS gap,
                       (2 * runs.r - (v_nrows - 1))::bigint * (2 * runs.r - (v_nrows - 1))
                         + (2 * (st.st - 1) + p_count - v_per_row)::bigint
                           * (2 * (st.st - 1) + p_count - v_per_row) AS score
                  FROM runs
                 CROSS JOIN LATERAL generate_series(greatest(runs.a, v_lo),
                                                    least(runs.b - p_count + 1, v_hi)) AS st(st)
            )
            SELECT c.r, c.st, c.gap, c.score FROM c ORDER BY c.gap, c.score, c.r, c.st
        LOOP
            EXIT WHEN NOT v_all AND (v_block.gap OR v_block.score >= v_floor);
            -- Claim the block: a seat another call is changing is skipped, a
            -- seat taken since the candidates were read fails the recheck.
            v_claimed := 0;
            FOR i IN 0 .. p_count - 1 LOOP
                PERFORM 1 FROM seats
                 WHERE show_id = p_show_id AND seat_row = v_block.r AND seat_number = v_block.st + i
                   AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= bo_now()))
                   FOR UPDATE SKIP LOCKED;
                EXIT WHEN NOT FOUND;
                v_claimed := v_claimed + 1;
            END LOOP;
            IF v_claimed = p_count THEN
                RETURN bo_hold(p_username, p_show_id, array_fill(v_block.r, ARRAY[p_count]),
                               ARRAY(SELECT generate_series(v_block.st, v_block.st + p_count - 1)),
                               p_ttl, p_max_lifetime, p_max_per_user);
            END IF;
        END LOOP;
        EXIT WHEN v_all;
        v_band := 2 * v_band + 2 + (v_nrows - 1) % 2; -- keeps the parity of the distances
    END LOOP;
    IF NOT p_allow_split THEN
        RETURN bo_refusal('SEATS_UNAVAILABLE', '[]'::jsonb);
    END IF;

    FOR attempt IN 1 .. max_split_picks LOOP
        SELECT * INTO v_pick FROM bo_pick_split(p_show_id, v_nrows, v_per_row, p_count);
        IF v_pick.o_rows IS NULL THEN
            RETURN bo_refusal('SEATS_UNAVAILABLE', '[]'::jsonb);
        END IF;
        v_result := bo_hold(p_username, p_show_id, v_pick.o_rows, v_pick.o_numbers,
                            p_ttl, p_max_lifetime, p_max_per_user);
        EXIT WHEN v_result ->> 'outcome' <> 'SEATS_UNAVAILABLE';
    END LOOP;
    RETURN v_result;
END
$$;

-- The sweeper: turns every expired hold back into AVAILABLE and every
-- expired cart into EXPIRED, at most p_limit of each per call, oldest
-- first. Rows another transaction has locked are skipped (that one is
-- changing them, or it is another node's sweeper), so each expiry is
-- applied exactly once however many nodes sweep.
-- {"outcome":"OK","expired":<seats freed>,"expiredCarts":<carts>,"changes"}.
CREATE OR REPLACE FUNCTION expire_holds(p_limit int DEFAULT 10000) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz := bo_now();
    v_carts int;
    v_seat record;
    v_shows bigint[] := '{}';
    v_rows int[] := '{}';
    v_numbers int[] := '{}';
    v_changes jsonb;
BEGIN
    UPDATE bookings SET status = 'EXPIRED'
     WHERE id = ANY (ARRAY(SELECT id FROM bookings
                            WHERE status = 'STAGED' AND expires_at <= v_now
                            ORDER BY expires_at, id
                            LIMIT p_limit
                              FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS v_carts = ROW_COUNT;

    FOR v_seat IN
        SELECT show_id, seat_row, seat_number FROM seats
         WHERE status = 'HELD' AND held_expiry <= v_now
         ORDER BY held_expiry, show_id, seat_row, seat_number
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE seats
           SET status = 'AVAILABLE', booking_id = NULL, held_at = NULL, held_by_user_id = NULL,
               held_expiry = NULL, version = version + 1
         WHERE show_id = v_seat.show_id AND seat_row = v_seat.seat_row AND seat_number = v_seat.seat_number;
        v_shows := v_shows || v_seat.show_id;
        v_rows := v_rows || v_seat.seat_row;
        v_numbers := v_numbers || v_seat.seat_number;
    END LOOP;

    SELECT coalesce(jsonb_agg(jsonb_build_array(c.s, c.r, c.n, 'AVAILABLE') ORDER BY c.s, c.r, c.n), '[]'::jsonb)
      INTO v_changes
      FROM unnest(v_shows, v_rows, v_numbers) AS c(s, r, n);
    RETURN jsonb_build_object('outcome', 'OK', 'expired', cardinality(v_rows), 'expiredCarts', v_carts,
                              'changes', v_changes);
END
$$;

-- When the sweeper should next run: the earliest expiry of a held seat or
-- a STAGED cart (possibly already past), or NULL when there is none.
CREATE OR REPLACE FUNCTION next_hold_expiry() RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT least((SELECT min(held_expiry) FROM seats WHERE status = 'HELD'),
                         (SELECT min(expires_at) FROM bookings WHERE status = 'STAGED')));
END
$$;

-- Admin ----------------------------------------------------------------------

-- {"outcome":"OK","screen":{screenId, name, rows, seatsPerRow, totalSeats}}
-- or INVALID_REQUEST (name 1..200 chars, rows 1..702, seatsPerRow 1..999,
-- at most 100000 seats).
CREATE OR REPLACE FUNCTION create_screen(p_name text, p_rows int, p_seats_per_row int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id bigint;
BEGIN
    IF NOT coalesce(length(p_name) BETWEEN 1 AND 200 AND p_rows BETWEEN 1 AND 702
                    AND p_seats_per_row BETWEEN 1 AND 999 AND p_rows * p_seats_per_row <= 100000, false) THEN
        RETURN bo_outcome('INVALID_REQUEST');
    END IF;
    INSERT INTO screens (screen_name, rows, seats_per_row, total_seats)
    VALUES (p_name, p_rows, p_seats_per_row, p_rows * p_seats_per_row)
    RETURNING id INTO v_id;
    RETURN jsonb_build_object('outcome', 'OK', 'screen', jsonb_build_object(
        'screenId', v_id, 'name', p_name, 'rows', p_rows, 'seatsPerRow', p_seats_per_row,
        'totalSeats', p_rows * p_seats_per_row));
END
$$;

-- {"outcome":"OK","movie":{movieId, name, durationMinutes, lastShowDate
-- ("YYYY-MM-DD")}} or INVALID_REQUEST (name 1..200 chars, duration
-- 1..1440 minutes, a date).
CREATE OR REPLACE FUNCTION create_movie(p_name text, p_duration_minutes int, p_last_show_date date)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id bigint;
BEGIN
    IF NOT coalesce(length(p_name) BETWEEN 1 AND 200 AND p_duration_minutes BETWEEN 1 AND 1440
                    AND p_last_show_date IS NOT NULL AND isfinite(p_last_show_date), false) THEN
        RETURN bo_outcome('INVALID_REQUEST');
    END IF;
    INSERT INTO movies (movie_name, duration_minutes, last_show_date)
    VALUES (p_name, p_duration_minutes, p_last_show_date)
    RETURNING id INTO v_id;
    RETURN jsonb_build_object('outcome', 'OK', 'movie', jsonb_build_object(
        'movieId', v_id, 'name', p_name, 'durationMinutes', p_duration_minutes,
        'lastShowDate', to_char(p_last_show_date, 'YYYY-MM-DD')));
END
$$;

-- Schedules a show with all its seats AVAILABLE: {"outcome":"OK","show":
-- {showId, movieId, screenId, showTime, endTime, status, totalSeats}}.
-- MOVIE_NOT_FOUND, SCREEN_NOT_FOUND, INVALID_REQUEST (showTime not in the
-- future, or its UTC date after the movie's lastShowDate), SCREEN_BUSY
-- (overlaps [showTime, showTime + duration) of an ACTIVE show on the
-- screen; the screen row lock serialises concurrent scheduling).
CREATE OR REPLACE FUNCTION create_show(p_movie_id bigint, p_screen_id bigint, p_show_time timestamptz)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_movie movies%ROWTYPE;
    v_screen screens%ROWTYPE;
    v_end timestamptz;
    v_id bigint;
BEGIN
    IF p_movie_id IS NULL OR p_screen_id IS NULL OR p_show_time IS NULL OR NOT isfinite(p_show_time) THEN
        RETURN bo_outcome('INVALID_REQUEST');
    END IF;
    SELECT * INTO v_movie FROM movies WHERE id = p_movie_id;
    IF NOT FOUND THEN
        RETURN bo_outcome('MOVIE_NOT_FOUND');
    END IF;
    SELECT * INTO v_screen FROM screens WHERE id = p_screen_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN bo_outcome('SCREEN_NOT_FOUND');
    END IF;
    IF p_show_time <= bo_now() OR (p_show_time AT TIME ZONE 'UTC')::date > v_movie.last_show_date THEN
        RETURN bo_outcome('INVALID_REQUEST');
    END IF;
    v_end := p_show_time + make_interval(mins => v_movie.duration_minutes);
    PERFORM 1 FROM shows
     WHERE screen_id = p_screen_id AND status = 'ACTIVE'
       AND show_time < v_end AND end_time > p_show_time;
    IF FOUND THEN
        RETURN bo_outcome('SCREEN_BUSY');
    END IF;
    INSERT INTO shows (movie_id, screen_id, show_time, end_time, status)
    VALUES (p_movie_id, p_screen_id, p_show_time, v_end, 'ACTIVE')
    RETURNING id INTO v_id;
    INSERT INTO seats (show_id, seat_row, seat_number, status)
    SELECT v_id, r, n, 'AVAILABLE'
      FROM generate_series(0, v_screen.rows - 1) AS r, generate_series(1, v_screen.seats_per_row) AS n;
    RETURN jsonb_build_object('outcome', 'OK', 'show', jsonb_build_object(
        'showId', v_id, 'movieId', p_movie_id, 'screenId', p_screen_id,
        'showTime', bo_ms(p_show_time), 'endTime', bo_ms(v_end), 'status', 'ACTIVE',
        'totalSeats', v_screen.total_seats));
END
$$;

-- Stops a show being bookable: {"outcome":"OK","show":{showId, status:
-- "CANCELLED"}} (again for a cancelled show) or SHOW_NOT_FOUND. Holds and
-- bookings stay as they are; confirming a hold is refused from now on.
CREATE OR REPLACE FUNCTION cancel_show(p_show_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE shows SET status = 'CANCELLED' WHERE id = p_show_id;
    IF NOT FOUND THEN
        RETURN bo_outcome('SHOW_NOT_FOUND');
    END IF;
    RETURN jsonb_build_object('outcome', 'OK', 'show',
                              jsonb_build_object('showId', p_show_id, 'status', 'CANCELLED'));
END
$$;
