-- test_functions.sql - pgTAP tests of the PostgreSQL stored functions.
--
-- Run by run_tests.sh through pg_prove against a migrated database. Each
-- test is a function t.case_NN_name() returning TAP lines (run through a
-- wrapper t.test_NN_name(), see the end); runtests() at
-- the end runs them in name order, each inside a savepoint that is rolled
-- back afterwards, so tests never see each other's data, and after each
-- one t.teardown_invariants() checks the database's invariants. All of
-- them run in one transaction, so now() stands still: time is moved
-- either by shifting a cart's timestamps back (t.age_cart) or, as the
-- store's own tests do, by setting the test clock that bo_now() reads
-- (t.clock_at). A test that raises is reported as died and fails the run.
-- The helpers stay behind (schema t) for run_tests.sh's multi-session
-- tests.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE SCHEMA t;
CREATE SCHEMA tap;
CREATE EXTENSION pgtap SCHEMA tap;
SET search_path = public, tap;
CREATE SEQUENCE t.seq;

-- Assertions: pgTAP's is() and ok(), description first as the tests read.
CREATE FUNCTION t.eq(p_what text, p_got anycompatible, p_want anycompatible) RETURNS text
LANGUAGE sql AS $$
    SELECT tap.is(p_got, p_want, p_what)
$$;

CREATE FUNCTION t.ok(p_what text, p_cond boolean) RETURNS text LANGUAGE sql AS $$
    SELECT tap.ok(coalesce(p_cond, false), p_what)
$$;

-- The test clock: bo_now() reads boxoffice.now when it is set (the store
-- sets it from cfg.clock). Local to the transaction, so the savepoint
-- runtests() rolls back undoes it with the test.
CREATE FUNCTION t.clock_at(p_at timestamptz) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('boxoffice.now', p_at::text, true)
$$;

-- Seat labels: 'A1,B12,AA3' <-> rows/numbers arrays and [[r, n], ...].
CREATE FUNCTION t.row_of(p_letters text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(p_letters) = 1 THEN ascii(p_letters) - 65
                ELSE 26 + (ascii(p_letters) - 65) * 26 + ascii(substr(p_letters, 2)) - 65 END
$$;
CREATE FUNCTION t.label(p_row int, p_number int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_row < 26 THEN chr(65 + p_row)
                ELSE chr(65 + (p_row - 26) / 26) || chr(65 + (p_row - 26) % 26) END || p_number
$$;
CREATE FUNCTION t.rows(p_labels text) RETURNS int[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(t.row_of(substring(l FROM '^[A-Z]+')) ORDER BY i)
      FROM unnest(string_to_array(p_labels, ',')) WITH ORDINALITY AS x(l, i)
$$;
CREATE FUNCTION t.nums(p_labels text) RETURNS int[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(substring(l FROM '[0-9]+$')::int ORDER BY i)
      FROM unnest(string_to_array(p_labels, ',')) WITH ORDINALITY AS x(l, i)
$$;
-- [[r, n], ...] -> 'A1,A2' in the order given (tests check natural order).
CREATE FUNCTION t.labels(p_seats jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(t.label((e ->> 0)::int, (e ->> 1)::int), ',' ORDER BY i), '')
      FROM jsonb_array_elements(p_seats) WITH ORDINALITY AS x(e, i)
$$;
-- [[show, r, n, status], ...] -> 'A1:HELD,B2:AVAILABLE' sorted by seat.
CREATE FUNCTION t.changes(p_changes jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(t.label((e ->> 1)::int, (e ->> 2)::int) || ':' || (e ->> 3), ','
                               ORDER BY (e ->> 1)::int, (e ->> 2)::int), '')
      FROM jsonb_array_elements(p_changes) AS x(e)
$$;

-- Fixtures: a fresh screen, movie and show each time, so tests never meet.
CREATE FUNCTION t.show(p_rows int DEFAULT 5, p_per_row int DEFAULT 10, p_in interval DEFAULT '2 days')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_screen bigint;
    v_movie bigint;
    v_res jsonb;
BEGIN
    v_screen := (create_screen('Screen ' || nextval('t.seq'), p_rows, p_per_row) #>> '{screen,screenId}')::bigint;
    v_movie := (create_movie('Movie ' || nextval('t.seq'), 120, (now() + p_in + interval '30 days')::date)
                #>> '{movie,movieId}')::bigint;
    v_res := create_show(v_movie, v_screen, now() + p_in);
    IF v_res ->> 'outcome' <> 'OK' THEN
        RAISE EXCEPTION 'fixture show: %', v_res;
    END IF;
    RETURN (v_res #>> '{show,showId}')::bigint;
END
$$;
CREATE FUNCTION t.user() RETURNS text LANGUAGE sql AS $$
    SELECT 'user' || nextval('t.seq')
$$;
CREATE FUNCTION t.hold(p_user text, p_show bigint, p_labels text, p_ttl interval DEFAULT '20 minutes',
                       p_life interval DEFAULT '40 minutes', p_max int DEFAULT 10)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT hold_seats_for_user(p_user, p_show, t.rows(p_labels), t.nums(p_labels), p_ttl, p_life, p_max)
$$;
CREATE FUNCTION t.best(p_user text, p_show bigint, p_count int, p_split boolean DEFAULT false, p_max int DEFAULT 10)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT hold_best_seats(p_user, p_show, p_count, p_split, '20 minutes', '40 minutes', p_max)
$$;
CREATE FUNCTION t.confirm(p_user text, p_show bigint, p_labels text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT confirm_booking(p_user, p_show, t.rows(p_labels), t.nums(p_labels))
$$;
CREATE FUNCTION t.release(p_user text, p_show bigint, p_labels text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT release_seats(p_user, p_show, t.rows(p_labels), t.nums(p_labels))
$$;
CREATE FUNCTION t.seat(p_show bigint, p_label text) RETURNS seats LANGUAGE sql AS $$
    SELECT * FROM seats
     WHERE show_id = p_show AND seat_row = (t.rows(p_label))[1] AND seat_number = (t.nums(p_label))[1]
$$;
CREATE FUNCTION t.cart(p_user text, p_show bigint) RETURNS bookings LANGUAGE sql AS $$
    SELECT b.* FROM bookings b JOIN users u ON u.id = b.user_id
     WHERE u.username = p_user AND b.show_id = p_show AND b.status = 'STAGED'
$$;
CREATE FUNCTION t.booking(p_reference text) RETURNS bookings LANGUAGE sql AS $$
    SELECT * FROM bookings WHERE booking_reference = p_reference
$$;
-- Pretends p_by has passed for a user's cart in a show: every timestamp
-- of the cart and of its held seats moves back by p_by.
CREATE FUNCTION t.age_cart(p_user text, p_show bigint, p_by interval, p_keep_created boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint := (t.cart(p_user, p_show)).id;
BEGIN
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'age_cart: % has no cart in show %', p_user, p_show;
    END IF;
    UPDATE bookings
       SET created_at = CASE WHEN p_keep_created THEN created_at ELSE created_at - p_by END,
           expires_at = expires_at - p_by
     WHERE id = v_id;
    UPDATE seats SET held_at = held_at - p_by, held_expiry = held_expiry - p_by
     WHERE booking_id = v_id AND status = 'HELD';
END
$$;
CREATE FUNCTION t.ms(p_offset interval DEFAULT '0') RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT bo_ms(bo_now() + p_offset)
$$;

-- The invariants of the whole database at bo_now(); NULL when all hold,
-- else the first one broken.
CREATE FUNCTION t.invariants() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    SELECT format('live held seat %s/%s of show %s does not match its cart', s.seat_row, s.seat_number, s.show_id)
      INTO v
      FROM seats s LEFT JOIN bookings b ON b.id = s.booking_id
     WHERE s.status = 'HELD' AND s.held_expiry > bo_now()
       AND (b.id IS NULL OR b.status <> 'STAGED' OR b.show_id <> s.show_id OR b.user_id <> s.held_by_user_id
            OR b.expires_at <> s.held_expiry
            OR NOT EXISTS (SELECT 1 FROM booking_seats x WHERE x.booking_id = b.id
                              AND x.seat_row = s.seat_row AND x.seat_number = s.seat_number))
     LIMIT 1;
    IF v IS NOT NULL THEN RETURN v; END IF;

    SELECT format('expired held seat %s/%s of show %s belongs to a %s booking', s.seat_row, s.seat_number,
                  s.show_id, b.status)
      INTO v
      FROM seats s JOIN bookings b ON b.id = s.booking_id
     WHERE s.status = 'HELD' AND s.held_expiry <= bo_now() AND b.status IN ('CONFIRMED', 'CANCELLED')
     LIMIT 1;
    IF v IS NOT NULL THEN RETURN v; END IF;

    SELECT format('booked seat %s/%s of show %s is not in a confirmed booking', s.seat_row, s.seat_number, s.show_id)
      INTO v
      FROM seats s LEFT JOIN bookings b ON b.id = s.booking_id
     WHERE s.status = 'BOOKED'
       AND (b.id IS NULL OR b.status <> 'CONFIRMED' OR b.show_id <> s.show_id
            OR NOT EXISTS (SELECT 1 FROM booking_seats x WHERE x.booking_id = b.id
                              AND x.seat_row = s.seat_row AND x.seat_number = s.seat_number))
     LIMIT 1;
    IF v IS NOT NULL THEN RETURN v; END IF;

    -- A live cart lists exactly the seats it holds; a confirmed booking
    -- exactly the seats it booked; total_seats counts them.
    SELECT format('booking %s (%s) lists seats it does not have, or the count is off', b.booking_reference, b.status)
      INTO v
      FROM bookings b
     WHERE ((b.status = 'STAGED' AND b.expires_at > bo_now()) OR b.status = 'CONFIRMED')
       AND (b.total_seats <> (SELECT count(*) FROM booking_seats x WHERE x.booking_id = b.id)
            OR b.total_seats = 0
            OR EXISTS (SELECT 1 FROM booking_seats x JOIN seats s
                          ON s.show_id = x.show_id AND s.seat_row = x.seat_row AND s.seat_number = x.seat_number
                        WHERE x.booking_id = b.id
                          AND (s.booking_id IS DISTINCT FROM b.id
                               OR s.status <> CASE b.status WHEN 'STAGED' THEN 'HELD' ELSE 'BOOKED' END))
            OR EXISTS (SELECT 1 FROM booking_seats x WHERE x.booking_id = b.id AND x.show_id <> b.show_id))
     LIMIT 1;
    IF v IS NOT NULL THEN RETURN v; END IF;

    SELECT format('show %s has %s seats, its screen %s', sh.id, count(s.*), sc.total_seats)
      INTO v
      FROM shows sh JOIN screens sc ON sc.id = sh.screen_id LEFT JOIN seats s ON s.show_id = sh.id
     GROUP BY sh.id, sc.total_seats
    HAVING count(s.*) <> sc.total_seats
     LIMIT 1;
    RETURN v;
END
$$;


-- Schema ------------------------------------------------------------------

-- next_hold_expiry is NULL when nothing is held
CREATE FUNCTION t.case_01_next_hold_expiry_is_null_when_nothing_is_held() RETURNS SETOF text LANGUAGE plpgsql AS $T$
BEGIN
    RETURN NEXT t.eq('next expiry', next_hold_expiry(), NULL::timestamptz);
END $T$;

-- schema: indexes of the design and show_id on hot tables
CREATE FUNCTION t.case_02_schema_indexes_of_the_design_and_show_id_on_hot_tabl() RETURNS SETOF text LANGUAGE plpgsql AS $T$
BEGIN
    RETURN NEXT t.eq('indexes',
        (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
          WHERE schemaname = 'public' AND indexname IN ('seats_status', 'seats_held_expiry', 'seats_held_by',
                'bookings_user', 'bookings_cart', 'bookings_staged_expiry')),
        'bookings_cart,bookings_staged_expiry,bookings_user,seats_held_by,seats_held_expiry,seats_status');
    RETURN NEXT t.ok('bookings_cart is unique and partial',
        (SELECT indexdef ~ 'UNIQUE' AND indexdef ~ 'WHERE' FROM pg_indexes WHERE indexname = 'bookings_cart'));
    RETURN NEXT t.eq('tables with show_id',
        (SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.columns
          WHERE table_schema = 'public' AND column_name = 'show_id'),
        'booking_seats,bookings,seat_events,seats,show_feed');
    RETURN NEXT t.ok('users.guid defaults to a random uuid',
        (SELECT column_default ~ 'gen_random_uuid' FROM information_schema.columns
          WHERE table_name = 'users' AND column_name = 'guid'));
    RETURN NEXT t.ok('idempotency table exists', to_regclass('public.idempotency') IS NOT NULL);
END $T$;

-- booking references: shape, uniqueness, whole alphabet
CREATE FUNCTION t.case_03_booking_references_shape_uniqueness_whole_alphabet() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_n int;
    v_distinct int;
    v_shaped boolean;
    v_symbols int;
BEGIN
    CREATE TEMP TABLE refs ON COMMIT DROP AS SELECT bo_new_reference() AS r FROM generate_series(1, 3000);
    SELECT count(*), count(DISTINCT r), bool_and(r ~ '^BX-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$')
      INTO v_n, v_distinct, v_shaped FROM refs;
    RETURN NEXT t.eq('distinct references', v_distinct, v_n);
    RETURN NEXT t.ok('all shaped BX-XXXXXXXX', v_shaped);
    SELECT count(DISTINCT c) INTO v_symbols
      FROM refs, regexp_split_to_table(substr(r, 4), '') AS c;
    RETURN NEXT t.eq('symbols used', v_symbols, 30);
    DROP TABLE refs;
END $T$;

-- Admin -------------------------------------------------------------------

-- create_screen: OK and its fields
CREATE FUNCTION t.case_04_create_screen_ok_and_its_fields() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    r jsonb := create_screen('Grand', 12, 20);
BEGIN
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.ok('screenId positive', (r #>> '{screen,screenId}')::bigint > 0);
    RETURN NEXT t.eq('screen', (r -> 'screen') - 'screenId',
                 '{"name":"Grand","rows":12,"seatsPerRow":20,"totalSeats":240}'::jsonb);
    RETURN NEXT t.eq('stored', (SELECT total_seats FROM screens WHERE id = (r #>> '{screen,screenId}')::bigint), 240);
    RETURN NEXT t.eq('702 rows ok', create_screen('Tall', 702, 1) ->> 'outcome', 'OK');
    RETURN NEXT t.eq('999 seats ok', create_screen('Wide', 1, 999) ->> 'outcome', 'OK');
    RETURN NEXT t.eq('100899 seats refused', create_screen('Huge', 101, 999) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('exactly 100000 seats ok', create_screen('Huge', 500, 200) ->> 'outcome', 'OK');
END $T$;

-- create_screen: INVALID_REQUEST
CREATE FUNCTION t.case_05_create_screen_invalid_request() RETURNS SETOF text LANGUAGE plpgsql AS $T$
BEGIN
    RETURN NEXT t.eq('rows 0', create_screen('S', 0, 10), '{"outcome":"INVALID_REQUEST"}'::jsonb);
    RETURN NEXT t.eq('rows 703', create_screen('S', 703, 10) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('seats 0', create_screen('S', 1, 0) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('seats 1000', create_screen('S', 1, 1000) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('too many seats', create_screen('S', 401, 250) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('empty name', create_screen('', 1, 1) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('long name', create_screen(repeat('x', 201), 1, 1) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('null name', create_screen(NULL, 1, 1) ->> 'outcome', 'INVALID_REQUEST');
END $T$;

-- create_movie: OK and INVALID_REQUEST
CREATE FUNCTION t.case_06_create_movie_ok_and_invalid_request() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    r jsonb := create_movie('Heat', 170, '2031-02-03');
BEGIN
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('movie', (r -> 'movie') - 'movieId',
                 '{"name":"Heat","durationMinutes":170,"lastShowDate":"2031-02-03"}'::jsonb);
    RETURN NEXT t.eq('duration 0', create_movie('M', 0, '2031-01-01') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('duration 1441', create_movie('M', 1441, '2031-01-01') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('duration 1440', create_movie('M', 1440, '2031-01-01') ->> 'outcome', 'OK');
    RETURN NEXT t.eq('empty name', create_movie('', 10, '2031-01-01') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('no date', create_movie('M', 10, NULL) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('infinite date', create_movie('M', 10, 'infinity') ->> 'outcome', 'INVALID_REQUEST');
END $T$;

-- create_show: OK creates every seat AVAILABLE
CREATE FUNCTION t.case_07_create_show_ok_creates_every_seat_available() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_screen bigint := (create_screen('S', 3, 4) #>> '{screen,screenId}')::bigint;
    v_movie bigint := (create_movie('M', 90, (now() + interval '10 days')::date) #>> '{movie,movieId}')::bigint;
    v_time timestamptz := date_trunc('second', now()) + interval '1 day';
    r jsonb;
    v_show bigint;
BEGIN
    r := create_show(v_movie, v_screen, v_time);
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    v_show := (r #>> '{show,showId}')::bigint;
    RETURN NEXT t.eq('show', r -> 'show',
        jsonb_build_object('showId', v_show, 'movieId', v_movie, 'screenId', v_screen,
                           'showTime', bo_ms(v_time), 'endTime', bo_ms(v_time + interval '90 minutes'),
                           'status', 'ACTIVE', 'totalSeats', 12));
    RETURN NEXT t.eq('seats', (SELECT count(*) FROM seats WHERE show_id = v_show AND status = 'AVAILABLE'
                              AND version = 0 AND booking_id IS NULL), 12::bigint);
    RETURN NEXT t.eq('seat grid', (SELECT string_agg(t.label(seat_row, seat_number), ',' ORDER BY seat_row, seat_number)
                                 FROM seats WHERE show_id = v_show),
                 'A1,A2,A3,A4,B1,B2,B3,B4,C1,C2,C3,C4');
    RETURN NEXT t.eq('stored end', (SELECT end_time FROM shows WHERE id = v_show), v_time + interval '90 minutes');
END $T$;

-- create_show: not found, invalid time, SCREEN_BUSY
CREATE FUNCTION t.case_08_create_show_not_found_invalid_time_screen_busy() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_screen bigint := (create_screen('S', 1, 1) #>> '{screen,screenId}')::bigint;
    v_movie bigint := (create_movie('M', 60, (now() + interval '3 days')::date) #>> '{movie,movieId}')::bigint;
    v_at timestamptz := now() + interval '1 day';
    v_first bigint;
    v_last_day date := ((now() AT TIME ZONE 'UTC') + interval '3 days')::date;
BEGIN
    -- The rule is about the UTC date, whatever the session's time zone.
    PERFORM set_config('TimeZone', 'Pacific/Kiritimati', true);
    UPDATE movies SET last_show_date = v_last_day WHERE id = v_movie;
    RETURN NEXT t.eq('movie', create_show(-1, v_screen, v_at), '{"outcome":"MOVIE_NOT_FOUND"}'::jsonb);
    RETURN NEXT t.eq('screen', create_show(v_movie, -1, v_at), '{"outcome":"SCREEN_NOT_FOUND"}'::jsonb);
    RETURN NEXT t.eq('movie checked first', create_show(-1, -1, v_at) ->> 'outcome', 'MOVIE_NOT_FOUND');
    RETURN NEXT t.eq('past', create_show(v_movie, v_screen, now() - interval '1 minute') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('now', create_show(v_movie, v_screen, now()) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('after last show date',
        create_show(v_movie, v_screen, ((v_last_day + 1)::timestamp AT TIME ZONE 'UTC') + interval '1 minute') ->> 'outcome',
        'INVALID_REQUEST');
    RETURN NEXT t.eq('on last show date (UTC)',
        create_show(v_movie, v_screen, ((v_last_day + 1)::timestamp AT TIME ZONE 'UTC') - interval '1 minute') ->> 'outcome',
        'OK');
    v_first := (create_show(v_movie, v_screen, v_at) #>> '{show,showId}')::bigint;
    RETURN NEXT t.ok('first show', v_first IS NOT NULL);
    RETURN NEXT t.eq('same time', create_show(v_movie, v_screen, v_at), '{"outcome":"SCREEN_BUSY"}'::jsonb);
    RETURN NEXT t.eq('starts inside', create_show(v_movie, v_screen, v_at + interval '59 minutes') ->> 'outcome', 'SCREEN_BUSY');
    RETURN NEXT t.eq('ends inside', create_show(v_movie, v_screen, v_at - interval '59 minutes') ->> 'outcome', 'SCREEN_BUSY');
    RETURN NEXT t.eq('right after', create_show(v_movie, v_screen, v_at + interval '60 minutes') ->> 'outcome', 'OK');
    RETURN NEXT t.eq('right before', create_show(v_movie, v_screen, v_at - interval '60 minutes') ->> 'outcome', 'OK');
    RETURN NEXT t.eq('other screen', create_show(v_movie, (create_screen('S2', 1, 1) #>> '{screen,screenId}')::bigint, v_at) ->> 'outcome', 'OK');
    PERFORM cancel_show(v_first);
    RETURN NEXT t.eq('over a cancelled show', create_show(v_movie, v_screen, v_at) ->> 'outcome', 'OK');
    RETURN NEXT t.eq('busy again', create_show(v_movie, v_screen, v_at + interval '1 minute') ->> 'outcome', 'SCREEN_BUSY');
END $T$;

-- cancel_show: OK, again OK, SHOW_NOT_FOUND, not bookable
CREATE FUNCTION t.case_09_cancel_show_ok_again_ok_show_not_found_not_bookable() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
BEGIN
    RETURN NEXT t.eq('held first', t.hold(u, v_show, 'A1') ->> 'outcome', 'OK');
    RETURN NEXT t.eq('cancel', cancel_show(v_show),
                 jsonb_build_object('outcome', 'OK', 'show', jsonb_build_object('showId', v_show, 'status', 'CANCELLED')));
    RETURN NEXT t.eq('again', cancel_show(v_show) ->> 'outcome', 'OK');
    RETURN NEXT t.eq('unknown', cancel_show(-5), '{"outcome":"SHOW_NOT_FOUND"}'::jsonb);
    RETURN NEXT t.eq('stored', (SELECT status FROM shows WHERE id = v_show), 'CANCELLED');
    RETURN NEXT t.eq('hold refused', t.hold(t.user(), v_show, 'A2') ->> 'outcome', 'SHOW_NOT_BOOKABLE');
    RETURN NEXT t.eq('confirm refused', t.confirm(u, v_show, 'A1') ->> 'outcome', 'SHOW_NOT_BOOKABLE');
    RETURN NEXT t.eq('best refused', t.best(u, v_show, 1) ->> 'outcome', 'SHOW_NOT_BOOKABLE');
    RETURN NEXT t.ok('not listed as active',
        NOT (get_active_shows() -> 'shows') @> jsonb_build_array(jsonb_build_object('showId', v_show)));
    RETURN NEXT t.eq('details say CANCELLED', get_show_seat_details(v_show) #>> '{show,status}', 'CANCELLED');
END $T$;

-- Reads -------------------------------------------------------------------

-- get_active_shows: ACTIVE shows ahead, ordered, available counts expired holds
CREATE FUNCTION t.case_10_get_active_shows_active_shows_ahead_ordered_availabl() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_late bigint := t.show(5, 10, '3 days');
    v_early bigint := t.show(2, 3, '1 day');
    v_past bigint := t.show(2, 2, '1 day');
    v_cancelled bigint := t.show(2, 2, '1 day');
    u1 text := t.user();
    u2 text := t.user();
    u3 text := t.user();
    r jsonb;
    v_mine jsonb;
BEGIN
    UPDATE shows SET show_time = now() - interval '1 minute' WHERE id = v_past;
    PERFORM cancel_show(v_cancelled);
    PERFORM t.hold(u1, v_late, 'A1');
    PERFORM t.age_cart(u1, v_late, '21 minutes');
    PERFORM t.hold(u2, v_late, 'A2');
    PERFORM t.hold(u3, v_late, 'A3,A4');
    PERFORM t.confirm(u3, v_late, 'A3');
    r := get_active_shows();
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    SELECT jsonb_agg(e ORDER BY i) INTO v_mine
      FROM jsonb_array_elements(r -> 'shows') WITH ORDINALITY AS x(e, i)
     WHERE (e ->> 'showId')::bigint IN (v_late, v_early, v_past, v_cancelled);
    RETURN NEXT t.eq('my shows in order', (SELECT jsonb_agg(e -> 'showId') FROM jsonb_array_elements(v_mine) e),
                 jsonb_build_array(v_early, v_late));
    RETURN NEXT t.eq('late show', v_mine -> 1,
        (SELECT jsonb_build_object('showId', sh.id, 'movieId', sh.movie_id, 'movieName', m.movie_name,
                                   'durationMinutes', 120, 'showTime', bo_ms(sh.show_time),
                                   'screenId', sh.screen_id, 'screenName', sc.screen_name,
                                   'totalSeats', 50, 'availableSeats', 48)
           FROM shows sh JOIN movies m ON m.id = sh.movie_id JOIN screens sc ON sc.id = sh.screen_id
          WHERE sh.id = v_late));
    RETURN NEXT t.eq('early show available', (v_mine -> 0 ->> 'availableSeats')::int, 6);
    RETURN NEXT t.ok('whole list ordered by showTime then showId',
        (SELECT bool_and(ok) FROM (
            SELECT (lag(e ->> 'showTime') OVER w)::bigint < (e ->> 'showTime')::bigint
                   OR ((lag(e ->> 'showTime') OVER w)::bigint = (e ->> 'showTime')::bigint
                       AND (lag(e ->> 'showId') OVER w)::bigint < (e ->> 'showId')::bigint)
                   OR lag(e) OVER w IS NULL AS ok
              FROM jsonb_array_elements(r -> 'shows') WITH ORDINALITY AS x(e, i)
            WINDOW w AS (ORDER BY i)) y));
END $T$;

-- get_show_seat_details: arrays, counts, natural order, expired = available
CREATE FUNCTION t.case_11_get_show_seat_details_arrays_counts_natural_order_ex() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(27, 10);
    u1 text := t.user();
    u2 text := t.user();
    u3 text := t.user();
    r jsonb;
    s jsonb;
BEGIN
    RETURN NEXT t.eq('unknown', get_show_seat_details(-1), '{"outcome":"SHOW_NOT_FOUND"}'::jsonb);
    PERFORM t.hold(u1, v_show, 'AA1,A10,Z3,A2');
    PERFORM t.hold(u2, v_show, 'B1');
    PERFORM t.age_cart(u2, v_show, '21 minutes');
    PERFORM t.hold(u3, v_show, 'C5,C6', '5 minutes');
    PERFORM t.confirm(u3, v_show, 'C6');
    r := get_show_seat_details(v_show);
    s := r -> 'show';
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('held', t.labels(s -> 'held'), 'A2,A10,Z3,AA1');
    RETURN NEXT t.eq('booked', t.labels(s -> 'booked'), 'C6');
    RETURN NEXT t.ok('expired B1 available', s -> 'available' @> '[[1,1]]');
    RETURN NEXT t.ok('released C5 available', s -> 'available' @> '[[2,5]]');
    RETURN NEXT t.eq('available count', jsonb_array_length(s -> 'available'), 270 - 5);
    RETURN NEXT t.eq('available natural order', s -> 'available',
        (SELECT jsonb_agg(e ORDER BY (e ->> 0)::int, (e ->> 1)::int) FROM jsonb_array_elements(s -> 'available') e));
    RETURN NEXT t.eq('fields', s - 'available' - 'held' - 'booked' - 'movieName' - 'screenName' - 'showTime'
                           - 'movieId' - 'screenId',
        jsonb_build_object('showId', v_show, 'durationMinutes', 120, 'status', 'ACTIVE', 'rows', 27,
                           'seatsPerRow', 10, 'totalSeats', 270, 'availableSeats', 265, 'heldSeats', 4,
                           'bookedSeats', 1, 'nextExpiry', t.ms('20 minutes')));
    RETURN NEXT t.eq('showTime', (s ->> 'showTime')::bigint, (SELECT bo_ms(show_time) FROM shows WHERE id = v_show));
    PERFORM t.release(u1, v_show, NULL);
    RETURN NEXT t.eq('no live hold: nextExpiry null', get_show_seat_details(v_show) #> '{show,nextExpiry}', 'null'::jsonb);
END $T$;

-- Hold --------------------------------------------------------------------

-- hold: OK, STAGED cart, seats HELD, changes, user created
CREATE FUNCTION t.case_12_hold_ok_staged_cart_seats_held_changes_user_created() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    r jsonb;
    b jsonb;
    v_seat seats;
    v_id bigint;
BEGIN
    RETURN NEXT t.ok('user does not exist yet', NOT EXISTS (SELECT 1 FROM users WHERE username = u));
    r := t.hold(u, v_show, 'B3,A2,A1');
    b := r -> 'booking';
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.ok('reference shape', b ->> 'reference' ~ '^BX-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$');
    RETURN NEXT t.eq('booking', b - 'reference' - 'movieName' - 'screenName' - 'showTime',
        jsonb_build_object('status', 'STAGED', 'username', u, 'showId', v_show, 'createdAt', t.ms(),
                           'expiresAt', t.ms('20 minutes'), 'confirmedAt', NULL, 'cancelledAt', NULL,
                           'totalSeats', 3, 'seats', '[[0,1],[0,2],[1,3]]'::jsonb));
    RETURN NEXT t.eq('names', jsonb_build_array(b -> 'movieName', b -> 'screenName'),
        (SELECT jsonb_build_array(m.movie_name, sc.screen_name) FROM shows sh JOIN movies m ON m.id = sh.movie_id
           JOIN screens sc ON sc.id = sh.screen_id WHERE sh.id = v_show));
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'A1:HELD,A2:HELD,B3:HELD');
    RETURN NEXT t.ok('changes carry the show', (SELECT bool_and((e ->> 0)::bigint = v_show) FROM jsonb_array_elements(r -> 'changes') e));
    RETURN NEXT t.ok('user created with a guid', EXISTS (SELECT 1 FROM users WHERE username = u AND guid IS NOT NULL));
    v_id := (t.booking(b ->> 'reference')).id;
    v_seat := t.seat(v_show, 'A2');
    RETURN NEXT t.eq('seat status', v_seat.status, 'HELD');
    RETURN NEXT t.eq('seat version', v_seat.version, 1);
    RETURN NEXT t.eq('seat booking', v_seat.booking_id, v_id);
    RETURN NEXT t.eq('seat holder', v_seat.held_by_user_id, (SELECT id FROM users WHERE username = u));
    RETURN NEXT t.eq('seat expiry', v_seat.held_expiry, now() + interval '20 minutes');
    RETURN NEXT t.eq('seat held_at', v_seat.held_at, now());
    RETURN NEXT t.eq('others untouched', (t.seat(v_show, 'A3')).version, 0);
    RETURN NEXT t.eq('stored cart', (SELECT status || '/' || total_seats FROM bookings WHERE id = v_id), 'STAGED/3');
    RETURN NEXT t.eq('booking_seats', (SELECT count(*) FROM booking_seats WHERE booking_id = v_id AND show_id = v_show), 3::bigint);
    RETURN NEXT t.eq('one seat', t.hold(t.user(), v_show, 'E10') ->> 'outcome', 'OK');
END $T$;

-- hold: INVALID_REQUEST for bad arguments
CREATE FUNCTION t.case_13_hold_invalid_request_for_bad_arguments() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
BEGIN
    RETURN NEXT t.eq('bad username', t.hold('bad name', v_show, 'A1'),
                 '{"outcome":"INVALID_REQUEST","changes":[]}'::jsonb);
    RETURN NEXT t.eq('empty username', t.hold('', v_show, 'A1') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('long username', t.hold(repeat('a', 65), v_show, 'A1') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('64 chars ok', t.hold(repeat('a', 63) || 'b', v_show, 'A1') ->> 'outcome', 'OK');
    RETURN NEXT t.eq('all legal characters', t.hold('a.B_c-9@x', v_show, 'A2') ->> 'outcome', 'OK');
    RETURN NEXT t.eq('duplicate', t.hold('dup', v_show, 'A3,A3') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('no seats', hold_seats_for_user('x', v_show, '{}', '{}', '20 min', '40 min', 10) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('null seats', hold_seats_for_user('x', v_show, NULL, NULL, '20 min', '40 min', 10) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('lengths differ', hold_seats_for_user('x', v_show, '{0,1}', '{1}', '20 min', '40 min', 10) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('null element', hold_seats_for_user('x', v_show, '{0,NULL}', '{1,2}', '20 min', '40 min', 10) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('zero ttl', t.hold('x', v_show, 'A4', '0 s') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('zero lifetime', t.hold('x', v_show, 'A4', '1 min', '0 s') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('zero per user', t.hold('x', v_show, 'A4', '1 min', '1 min', 0) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('null show', t.hold('x', NULL, 'A4') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.ok('refusals created no user', NOT EXISTS (SELECT 1 FROM users WHERE username IN ('x', 'dup')));
    RETURN NEXT t.eq('seat untouched', (t.seat(v_show, 'A3')).version, 0);
END $T$;

-- hold: SHOW_NOT_FOUND, SHOW_NOT_BOOKABLE, UNKNOWN_SEATS in that order
CREATE FUNCTION t.case_14_hold_show_not_found_show_not_bookable_unknown_seats() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(3, 4);
    v_started bigint := t.show(3, 4);
BEGIN
    RETURN NEXT t.eq('no show', t.hold(t.user(), -7, 'A1'), '{"outcome":"SHOW_NOT_FOUND","changes":[]}'::jsonb);
    RETURN NEXT t.eq('no show, unknown seats too', t.hold(t.user(), 99999999, 'Z99') ->> 'outcome', 'SHOW_NOT_FOUND');
    UPDATE shows SET show_time = now() WHERE id = v_started;
    RETURN NEXT t.eq('started now', t.hold(t.user(), v_started, 'A1'), '{"outcome":"SHOW_NOT_BOOKABLE","changes":[]}'::jsonb);
    RETURN NEXT t.eq('not bookable before unknown seats', t.hold(t.user(), v_started, 'Z9') ->> 'outcome', 'SHOW_NOT_BOOKABLE');
    RETURN NEXT t.eq('unknown seats listed in natural order', t.hold(t.user(), v_show, 'D1,A1,A5,C4,B10'),
                 '{"outcome":"UNKNOWN_SEATS","seats":[[0,5],[1,10],[3,1]],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('row 0 seat 0', hold_seats_for_user('x', v_show, '{0}', '{0}', '1 min', '1 min', 10),
                 '{"outcome":"UNKNOWN_SEATS","seats":[[0,0]],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('negative row', hold_seats_for_user('x', v_show, '{-1}', '{1}', '1 min', '1 min', 10) ->> 'outcome', 'UNKNOWN_SEATS');
    RETURN NEXT t.eq('nothing held', (SELECT count(*) FROM seats WHERE show_id = v_show AND status <> 'AVAILABLE'), 0::bigint);
    RETURN NEXT t.eq('C4 exists', t.hold(t.user(), v_show, 'C4') ->> 'outcome', 'OK');
END $T$;

-- hold: SEATS_UNAVAILABLE is all or nothing
CREATE FUNCTION t.case_15_hold_seats_unavailable_is_all_or_nothing() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    alice text := t.user();
    bob text := t.user();
    carol text := t.user();
    r jsonb;
BEGIN
    PERFORM t.hold(bob, v_show, 'A2,A7');
    PERFORM t.hold(carol, v_show, 'B1');
    PERFORM t.confirm(carol, v_show, 'B1');
    r := t.hold(alice, v_show, 'A7,A1,B1,A2,A3');
    RETURN NEXT t.eq('refused with the seats', r,
                 '{"outcome":"SEATS_UNAVAILABLE","seats":[[0,2],[0,7],[1,1]],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('A1 untouched', (t.seat(v_show, 'A1')).status || (t.seat(v_show, 'A1')).version, 'AVAILABLE0');
    RETURN NEXT t.eq('A3 untouched', (t.seat(v_show, 'A3')).version, 0);
    RETURN NEXT t.ok('no cart left behind', (t.cart(alice, v_show)).id IS NULL);
    RETURN NEXT t.ok('not even a user', NOT EXISTS (SELECT 1 FROM users WHERE username = alice));
    RETURN NEXT t.eq('bob still holds A2', (t.seat(v_show, 'A2')).held_by_user_id, (SELECT id FROM users WHERE username = bob));
    RETURN NEXT t.eq('booked refused to its owner too', t.hold(carol, v_show, 'B1') ->> 'outcome', 'SEATS_UNAVAILABLE');
    RETURN NEXT t.eq('alice can take the free ones', t.changes(t.hold(alice, v_show, 'A1,A3') -> 'changes'), 'A1:HELD,A3:HELD');
END $T$;

-- hold: a retry changes nothing and keeps the expiry
CREATE FUNCTION t.case_16_hold_a_retry_changes_nothing_and_keeps_the_expiry() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    r1 jsonb;
    r2 jsonb;
BEGIN
    r1 := t.hold(u, v_show, 'A1,A2');
    PERFORM t.age_cart(u, v_show, '5 minutes');
    r2 := t.hold(u, v_show, 'A2,A1');
    RETURN NEXT t.eq('outcome', r2 ->> 'outcome', 'OK');
    RETURN NEXT t.eq('same reference', r2 #>> '{booking,reference}', r1 #>> '{booking,reference}');
    RETURN NEXT t.eq('expiry kept', (r2 #>> '{booking,expiresAt}')::bigint, t.ms('15 minutes'));
    RETURN NEXT t.eq('no changes', r2 -> 'changes', '[]'::jsonb);
    RETURN NEXT t.eq('versions', (t.seat(v_show, 'A1')).version + (t.seat(v_show, 'A2')).version, 2);
    RETURN NEXT t.eq('seat expiry kept', (t.seat(v_show, 'A1')).held_expiry, now() + interval '15 minutes');
    RETURN NEXT t.eq('subset retry', t.hold(u, v_show, 'A2') #>> '{booking,seats}', '[[0, 1], [0, 2]]');
END $T$;

-- hold: adding a seat refreshes the cart and all its seats
CREATE FUNCTION t.case_17_hold_adding_a_seat_refreshes_the_cart_and_all_its_se() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    r jsonb;
BEGIN
    PERFORM t.hold(u, v_show, 'A1,A2');
    PERFORM t.age_cart(u, v_show, '5 minutes');
    r := t.hold(u, v_show, 'A2,A3');
    RETURN NEXT t.eq('seats', t.labels(r #> '{booking,seats}'), 'A1,A2,A3');
    RETURN NEXT t.eq('changes only the new seat', t.changes(r -> 'changes'), 'A3:HELD');
    RETURN NEXT t.eq('expiry now + ttl', (r #>> '{booking,expiresAt}')::bigint, t.ms('20 minutes'));
    RETURN NEXT t.eq('A1 follows', (t.seat(v_show, 'A1')).held_expiry, now() + interval '20 minutes');
    RETURN NEXT t.eq('A1 version bumped', (t.seat(v_show, 'A1')).version, 2);
    RETURN NEXT t.eq('A3 expiry', (t.seat(v_show, 'A3')).held_expiry, now() + interval '20 minutes');
    RETURN NEXT t.eq('stored', (t.cart(u, v_show)).expires_at, now() + interval '20 minutes');
    RETURN NEXT t.eq('count', (t.cart(u, v_show)).total_seats, 3);
END $T$;

-- hold: the lifetime cap bounds every refresh
CREATE FUNCTION t.case_18_hold_the_lifetime_cap_bounds_every_refresh() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    r jsonb;
BEGIN
    r := t.hold(u, v_show, 'A1', '20 minutes', '10 minutes');
    RETURN NEXT t.eq('capped at creation', (r #>> '{booking,expiresAt}')::bigint, t.ms('10 minutes'));
    r := t.hold(t.user(), v_show, 'B1', '20 minutes', '30 minutes');
    RETURN NEXT t.eq('ttl below the cap', (r #>> '{booking,expiresAt}')::bigint, t.ms('20 minutes'));
    PERFORM t.age_cart(u, v_show, '8 minutes');
    r := t.hold(u, v_show, 'A2', '20 minutes', '10 minutes');
    RETURN NEXT t.eq('refresh capped at createdAt + lifetime', (r #>> '{booking,expiresAt}')::bigint, t.ms('2 minutes'));
    RETURN NEXT t.eq('createdAt kept', (r #>> '{booking,createdAt}')::bigint, t.ms('-8 minutes'));
    RETURN NEXT t.eq('seat follows the cap', (t.seat(v_show, 'A1')).held_expiry, now() + interval '2 minutes');
    RETURN NEXT t.eq('new seat too', (t.seat(v_show, 'A2')).held_expiry, now() + interval '2 minutes');
    PERFORM t.age_cart(u, v_show, '3 minutes');
    r := t.hold(u, v_show, 'A3', '20 minutes', '10 minutes');
    RETURN NEXT t.ok('past the cap: a new cart', r #>> '{booking,reference}' <> (SELECT booking_reference FROM bookings b
        JOIN users x ON x.id = b.user_id WHERE x.username = u AND b.status = 'EXPIRED'));
    RETURN NEXT t.eq('new cart seats', t.labels(r #> '{booking,seats}'), 'A3');
    RETURN NEXT t.eq('new cart expiry', (r #>> '{booking,expiresAt}')::bigint, t.ms('10 minutes'));
END $T$;

-- hold: HOLD_LIMIT_EXCEEDED counts the cart, after availability
CREATE FUNCTION t.case_19_hold_hold_limit_exceeded_counts_the_cart_after_avail() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    other text := t.user();
    r jsonb;
BEGIN
    PERFORM t.hold(other, v_show, 'C1');
    RETURN NEXT t.eq('3 of 3', t.hold(u, v_show, 'A1,A2,A3', '20 min', '40 min', 3) ->> 'outcome', 'OK');
    r := t.hold(u, v_show, 'A4', '20 min', '40 min', 3);
    RETURN NEXT t.eq('4th refused', r ->> 'outcome', 'HOLD_LIMIT_EXCEEDED');
    RETURN NEXT t.eq('no changes', r -> 'changes', '[]'::jsonb);
    RETURN NEXT t.eq('A4 untouched', (t.seat(v_show, 'A4')).version, 0);
    RETURN NEXT t.eq('retry of held seats is fine', t.hold(u, v_show, 'A3,A1', '20 min', '40 min', 3) ->> 'outcome', 'OK');
    RETURN NEXT t.eq('unavailable comes first', t.hold(u, v_show, 'A4,C1', '20 min', '40 min', 3) ->> 'outcome', 'SEATS_UNAVAILABLE');
    RETURN NEXT t.eq('too many at once', t.hold(t.user(), v_show, 'B1,B2,B3', '20 min', '40 min', 2) ->> 'outcome', 'HOLD_LIMIT_EXCEEDED');
    RETURN NEXT t.eq('after a release there is room', (SELECT t.release(u, v_show, 'A1') ->> 'outcome'), 'OK');
    RETURN NEXT t.eq('room again', t.hold(u, v_show, 'A4', '20 min', '40 min', 3) ->> 'outcome', 'OK');
    RETURN NEXT t.eq('per show', t.hold(u, t.show(), 'A1,A2,A3', '20 min', '40 min', 3) ->> 'outcome', 'OK');
END $T$;

-- hold: an expired hold is available to others at once
CREATE FUNCTION t.case_20_hold_an_expired_hold_is_available_to_others_at_once() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    bob text := t.user();
    alice text := t.user();
    v_bob_ref text;
    r jsonb;
BEGIN
    v_bob_ref := t.hold(bob, v_show, 'A1,A2') #>> '{booking,reference}';
    PERFORM t.age_cart(bob, v_show, '20 minutes');  -- expires exactly now
    r := t.hold(alice, v_show, 'A1');
    RETURN NEXT t.eq('taken over', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'A1:HELD');
    RETURN NEXT t.eq('seat now alice''s', (t.seat(v_show, 'A1')).held_by_user_id, (SELECT id FROM users WHERE username = alice));
    r := get_booking_details(bob, v_bob_ref);
    RETURN NEXT t.eq('bob''s cart reads EXPIRED', r #>> '{booking,status}', 'EXPIRED');
    RETURN NEXT t.eq('no expiresAt once expired', r #> '{booking,expiresAt}', 'null'::jsonb);
    RETURN NEXT t.eq('bob''s cart keeps its seats as history', t.labels(r #> '{booking,seats}'), 'A1,A2');
    RETURN NEXT t.eq('bob cannot confirm', t.confirm(bob, v_show, 'A2') ->> 'outcome', 'SEATS_NOT_HELD');
    RETURN NEXT t.eq('details: A2 available', get_show_seat_details(v_show) #> '{show,available}' @> '[[0,2]]', true);
    RETURN NEXT t.eq('invariants', t.invariants(), NULL);
END $T$;

-- hold: a stale cart becomes EXPIRED and a new cart gets a new reference
CREATE FUNCTION t.case_21_hold_a_stale_cart_becomes_expired_and_a_new_cart_get() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_old text;
    r jsonb;
BEGIN
    v_old := t.hold(u, v_show, 'A1,A2') #>> '{booking,reference}';
    PERFORM t.age_cart(u, v_show, '25 minutes');
    r := t.hold(u, v_show, 'A2,A3');
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.ok('new reference', r #>> '{booking,reference}' <> v_old);
    RETURN NEXT t.eq('new cart has only the new hold', t.labels(r #> '{booking,seats}'), 'A2,A3');
    RETURN NEXT t.eq('new createdAt', (r #>> '{booking,createdAt}')::bigint, t.ms());
    RETURN NEXT t.eq('old stored EXPIRED', (t.booking(v_old)).status, 'EXPIRED');
    RETURN NEXT t.eq('old keeps its seats', t.labels(get_booking_details(u, v_old) #> '{booking,seats}'), 'A1,A2');
    RETURN NEXT t.eq('one STAGED cart', (SELECT count(*) FROM bookings WHERE show_id = v_show AND status = 'STAGED'), 1::bigint);
    RETURN NEXT t.eq('A2 moved to the new cart', (t.seat(v_show, 'A2')).booking_id, (t.cart(u, v_show)).id);
    RETURN NEXT t.eq('both listed', jsonb_array_length(get_user_bookings(u) -> 'bookings'), 2);
    RETURN NEXT t.eq('the new cart grows', t.labels(t.hold(u, v_show, 'A3,A4') #> '{booking,seats}'), 'A2,A3,A4');
END $T$;

-- hold: a stale cart stays as it is when the new hold is refused
CREATE FUNCTION t.case_22_hold_a_stale_cart_stays_as_it_is_when_the_new_hold_i() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_old text;
BEGIN
    v_old := t.hold(u, v_show, 'A1') #>> '{booking,reference}';
    PERFORM t.hold(t.user(), v_show, 'B1');
    PERFORM t.age_cart(u, v_show, '25 minutes');
    RETURN NEXT t.eq('refused', t.hold(u, v_show, 'B1') ->> 'outcome', 'SEATS_UNAVAILABLE');
    RETURN NEXT t.eq('old cart not written', (t.booking(v_old)).status, 'STAGED');
    RETURN NEXT t.eq('but reads EXPIRED', get_booking_details(u, v_old) #>> '{booking,status}', 'EXPIRED');
    RETURN NEXT t.eq('no new cart', (SELECT count(*) FROM bookings WHERE show_id = v_show AND user_id = (SELECT id FROM users WHERE username = u)), 1::bigint);
END $T$;

-- Confirm -----------------------------------------------------------------

-- confirm: CONFIRMED, same reference, unlisted cart seats released
CREATE FUNCTION t.case_23_confirm_confirmed_same_reference_unlisted_cart_seats() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_ref text;
    r jsonb;
    b jsonb;
BEGIN
    v_ref := t.hold(u, v_show, 'A1,A2,A3,A10') #>> '{booking,reference}';
    r := t.confirm(u, v_show, 'A3,A1');
    b := r -> 'booking';
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('same reference', b ->> 'reference', v_ref);
    RETURN NEXT t.eq('booking', b - 'reference' - 'movieName' - 'screenName' - 'showTime',
        jsonb_build_object('status', 'CONFIRMED', 'username', u, 'showId', v_show, 'createdAt', t.ms(),
                           'expiresAt', NULL, 'confirmedAt', t.ms(), 'cancelledAt', NULL,
                           'totalSeats', 2, 'seats', '[[0,1],[0,3]]'::jsonb));
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'A1:BOOKED,A2:AVAILABLE,A3:BOOKED,A10:AVAILABLE');
    RETURN NEXT t.eq('A1 booked', (t.seat(v_show, 'A1')).status, 'BOOKED');
    RETURN NEXT t.eq('A1 hold fields cleared', (t.seat(v_show, 'A1')).held_expiry, NULL);
    RETURN NEXT t.eq('A1 version', (t.seat(v_show, 'A1')).version, 2);
    RETURN NEXT t.eq('A2 free', (t.seat(v_show, 'A2')).status, 'AVAILABLE');
    RETURN NEXT t.eq('A2 cleared', (t.seat(v_show, 'A2')).booking_id, NULL);
    RETURN NEXT t.eq('A10 free', (t.seat(v_show, 'A10')).status, 'AVAILABLE');
    RETURN NEXT t.ok('no cart left', (t.cart(u, v_show)).id IS NULL);
    RETURN NEXT t.eq('stored', (SELECT status || '/' || total_seats FROM bookings WHERE booking_reference = v_ref), 'CONFIRMED/2');
    RETURN NEXT t.eq('booking_seats', (SELECT count(*) FROM booking_seats x JOIN bookings b ON b.id = x.booking_id
                                   WHERE b.booking_reference = v_ref), 2::bigint);
    RETURN NEXT t.eq('next hold makes a new cart', (t.hold(u, v_show, 'A2') #>> '{booking,reference}') <> v_ref, true);
    RETURN NEXT t.eq('invariants', t.invariants(), NULL);
END $T$;

-- confirm: a retry returns the same booking and books nothing twice
CREATE FUNCTION t.case_24_confirm_a_retry_returns_the_same_booking_and_books_n() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    r1 jsonb;
    r2 jsonb;
BEGIN
    PERFORM t.hold(u, v_show, 'B1,B2');
    r1 := t.confirm(u, v_show, 'B1,B2');
    r2 := t.confirm(u, v_show, 'B2,B1');
    RETURN NEXT t.eq('outcome', r2 ->> 'outcome', 'OK');
    RETURN NEXT t.eq('same booking', r2 -> 'booking', r1 -> 'booking');
    RETURN NEXT t.eq('no changes', r2 -> 'changes', '[]'::jsonb);
    RETURN NEXT t.eq('versions', (t.seat(v_show, 'B1')).version, 2);
    RETURN NEXT t.eq('one booking', (SELECT count(*) FROM bookings WHERE show_id = v_show), 1::bigint);
    RETURN NEXT t.eq('subset is not a retry', t.confirm(u, v_show, 'B1'),
                 '{"outcome":"SEATS_NOT_HELD","seats":[[1,1]],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('superset is not a retry', t.confirm(u, v_show, 'B1,B2,B3') ->> 'outcome', 'SEATS_NOT_HELD');
    RETURN NEXT t.eq('another user is not retrying', t.confirm(t.user(), v_show, 'B1,B2') ->> 'outcome', 'SEATS_NOT_HELD');
    PERFORM cancel_show(v_show);
    RETURN NEXT t.eq('retry wins over SHOW_NOT_BOOKABLE', t.confirm(u, v_show, 'B1,B2') -> 'booking', r1 -> 'booking');
    RETURN NEXT t.eq('a fresh confirm does not', t.confirm(u, v_show, 'B3') ->> 'outcome', 'SHOW_NOT_BOOKABLE');
END $T$;

-- confirm: a retry after cancel is not a success
CREATE FUNCTION t.case_25_confirm_a_retry_after_cancel_is_not_a_success() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_ref text;
BEGIN
    PERFORM t.hold(u, v_show, 'A1');
    v_ref := t.confirm(u, v_show, 'A1') #>> '{booking,reference}';
    PERFORM cancel_booking(u, v_ref);
    RETURN NEXT t.eq('not held', t.confirm(u, v_show, 'A1'), '{"outcome":"SEATS_NOT_HELD","seats":[[0,1]],"changes":[]}'::jsonb);
END $T$;

-- confirm: refusals and their order
CREATE FUNCTION t.case_26_confirm_refusals_and_their_order() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(3, 4);
    u text := t.user();
    other text := t.user();
BEGIN
    RETURN NEXT t.eq('bad username', t.confirm('no way', v_show, 'A1'), '{"outcome":"INVALID_REQUEST","changes":[]}'::jsonb);
    RETURN NEXT t.eq('duplicates', t.confirm(u, v_show, 'A1,A1') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('no seats', confirm_booking(u, v_show, '{}', '{}') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('no show', t.confirm(u, -1, 'Z9') ->> 'outcome', 'SHOW_NOT_FOUND');
    RETURN NEXT t.eq('unknown seats', t.confirm(u, v_show, 'A5,A1,D1'),
                 '{"outcome":"UNKNOWN_SEATS","seats":[[0,5],[3,1]],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('unknown user: not held', t.confirm('nobody.here', v_show, 'A2,A1'),
                 '{"outcome":"SEATS_NOT_HELD","seats":[[0,1],[0,2]],"changes":[]}'::jsonb);
    PERFORM t.hold(u, v_show, 'A1');
    PERFORM t.hold(other, v_show, 'B1');
    RETURN NEXT t.eq('partly held: nothing changes', t.confirm(u, v_show, 'A1,A2,B1'),
                 '{"outcome":"SEATS_NOT_HELD","seats":[[0,2],[1,1]],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('A1 still held', (t.seat(v_show, 'A1')).status, 'HELD');
    RETURN NEXT t.eq('A1 version', (t.seat(v_show, 'A1')).version, 1);
    RETURN NEXT t.eq('cart still staged', (t.cart(u, v_show)).total_seats, 1);
    UPDATE shows SET show_time = now() - interval '1 second' WHERE id = v_show;
    RETURN NEXT t.eq('started', t.confirm(u, v_show, 'A1'), '{"outcome":"SHOW_NOT_BOOKABLE","changes":[]}'::jsonb);
    RETURN NEXT t.eq('unknown seats before bookable', t.confirm(u, v_show, 'A9') ->> 'outcome', 'UNKNOWN_SEATS');
END $T$;

-- confirm: an expired hold cannot be confirmed
CREATE FUNCTION t.case_27_confirm_an_expired_hold_cannot_be_confirmed() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
BEGIN
    PERFORM t.hold(u, v_show, 'A1,A2');
    PERFORM t.age_cart(u, v_show, '20 minutes');
    RETURN NEXT t.eq('refused', t.confirm(u, v_show, 'A1'),
                 '{"outcome":"SEATS_NOT_HELD","seats":[[0,1]],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('seat not booked', (t.seat(v_show, 'A1')).status, 'HELD');
    PERFORM t.age_cart(u, v_show, '-1 second');
    RETURN NEXT t.eq('one second before expiry it works', t.confirm(u, v_show, 'A1') ->> 'outcome', 'OK');
END $T$;

-- Booking reads -----------------------------------------------------------

-- get_booking_details: owner only, any case
CREATE FUNCTION t.case_28_get_booking_details_owner_only_any_case() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_ref text;
    r jsonb;
BEGIN
    v_ref := t.hold(u, v_show, 'A1') #>> '{booking,reference}';
    r := get_booking_details(u, v_ref);
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('booking', r -> 'booking', bo_booking_json((t.booking(v_ref)).id));
    RETURN NEXT t.eq('status', r #>> '{booking,status}', 'STAGED');
    RETURN NEXT t.eq('lower case', get_booking_details(u, lower(v_ref)) #>> '{booking,reference}', v_ref);
    RETURN NEXT t.eq('other user', get_booking_details(t.user(), v_ref), '{"outcome":"BOOKING_NOT_FOUND"}'::jsonb);
    RETURN NEXT t.eq('unknown user', get_booking_details('ghost', v_ref) ->> 'outcome', 'BOOKING_NOT_FOUND');
    RETURN NEXT t.eq('unknown reference', get_booking_details(u, 'BX-22222222') ->> 'outcome', 'BOOKING_NOT_FOUND');
    RETURN NEXT t.eq('garbage', get_booking_details(u, 'nonsense') ->> 'outcome', 'BOOKING_NOT_FOUND');
END $T$;

-- get_user_bookings: every status, newest first
CREATE FUNCTION t.case_29_get_user_bookings_every_status_newest_first() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show1 bigint := t.show();
    v_show2 bigint := t.show();
    v_show3 bigint := t.show();
    v_show4 bigint := t.show();
    u text := t.user();
    r jsonb;
BEGIN
    RETURN NEXT t.eq('unknown user', get_user_bookings('nobody.at.all'), '{"outcome":"OK","bookings":[]}'::jsonb);
    PERFORM t.hold(u, v_show1, 'A1');
    PERFORM t.confirm(u, v_show1, 'A1');
    PERFORM t.hold(u, v_show2, 'A1');
    PERFORM t.release(u, v_show2, NULL);
    PERFORM t.hold(u, v_show3, 'A1');
    PERFORM t.age_cart(u, v_show3, '1 hour', true);
    PERFORM t.hold(u, v_show4, 'A1,A2');
    r := get_user_bookings(u);
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('statuses newest first',
        (SELECT string_agg(e ->> 'status', ',' ORDER BY i) FROM jsonb_array_elements(r -> 'bookings') WITH ORDINALITY x(e, i)),
        'STAGED,EXPIRED,CANCELLED,CONFIRMED');
    RETURN NEXT t.eq('shows', (SELECT jsonb_agg((e ->> 'showId')::bigint ORDER BY i) FROM jsonb_array_elements(r -> 'bookings') WITH ORDINALITY x(e, i)),
        jsonb_build_array(v_show4, v_show3, v_show2, v_show1));
    RETURN NEXT t.eq('objects', r -> 'bookings' -> 0, bo_booking_json((t.cart(u, v_show4)).id));
END $T$;

-- get_user_bookings_page: the same list in pages, resumed by key, exact
CREATE FUNCTION t.case_29b_get_user_bookings_page_the_same_list_in_pages() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    u text := t.user();
    v_all jsonb;
    v_page jsonb;
    v_refs text := '';
    v_key jsonb;
    v_pages int := 0;
BEGIN
    FOR i IN 1..5 LOOP
        PERFORM t.hold(u, t.show(), 'A1');
    END LOOP;
    v_all := get_user_bookings(u) -> 'bookings';
    RETURN NEXT t.eq('five bookings', jsonb_array_length(v_all), 5);
    v_page := get_user_bookings_page(u, 2, NULL, NULL);
    RETURN NEXT t.eq('first page: two', jsonb_array_length(v_page -> 'bookings'), 2);
    RETURN NEXT t.eq('a key per booking', jsonb_array_length(v_page -> 'keys'), 2);
    LOOP
        v_pages := v_pages + 1;
        v_refs := v_refs || coalesce((SELECT string_agg(e ->> 'reference', ',' ORDER BY i)
                                        FROM jsonb_array_elements(v_page -> 'bookings') WITH ORDINALITY x(e, i)), '') || ',';
        EXIT WHEN jsonb_array_length(v_page -> 'bookings') < 2 OR v_pages > 5;
        v_key := v_page -> 'keys' -> 1;
        v_page := get_user_bookings_page(u, 2, (v_key ->> 0)::bigint, (v_key ->> 1)::bigint);
    END LOOP;
    RETURN NEXT t.eq('pages of 2, 2, 1', v_pages, 3);
    RETURN NEXT t.eq('the pages in turn are the whole list',
        v_refs, (SELECT string_agg(e ->> 'reference', ',' ORDER BY i) FROM jsonb_array_elements(v_all) WITH ORDINALITY x(e, i)) || ',');
    RETURN NEXT t.eq('an unknown user', get_user_bookings_page('nobody.at.all', 5, NULL, NULL) -> 'bookings', '[]'::jsonb);
END $T$;

-- Release -----------------------------------------------------------------

-- release: some seats, the rest stays held, expiry unchanged
CREATE FUNCTION t.case_30_release_some_seats_the_rest_stays_held_expiry_unchan() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_ref text;
    r jsonb;
BEGIN
    v_ref := t.hold(u, v_show, 'A1,A2,A3') #>> '{booking,reference}';
    PERFORM t.age_cart(u, v_show, '5 minutes');
    r := t.release(u, v_show, 'A2,A3,C9');
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('same cart', r #>> '{booking,reference}', v_ref);
    RETURN NEXT t.eq('status', r #>> '{booking,status}', 'STAGED');
    RETURN NEXT t.eq('seats left', t.labels(r #> '{booking,seats}'), 'A1');
    RETURN NEXT t.eq('totalSeats', (r #>> '{booking,totalSeats}')::int, 1);
    RETURN NEXT t.eq('expiry unchanged', (r #>> '{booking,expiresAt}')::bigint, t.ms('15 minutes'));
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'A2:AVAILABLE,A3:AVAILABLE');
    RETURN NEXT t.eq('A2 free', (t.seat(v_show, 'A2')).status || (t.seat(v_show, 'A2')).version, 'AVAILABLE2');
    RETURN NEXT t.eq('A1 held', (t.seat(v_show, 'A1')).status, 'HELD');
    RETURN NEXT t.eq('stored count', (t.cart(u, v_show)).total_seats, 1);
    r := t.release(u, v_show, 'B1');
    RETURN NEXT t.eq('not held: nothing changes', r -> 'changes', '[]'::jsonb);
    RETURN NEXT t.eq('not held: cart as it was', t.labels(r #> '{booking,seats}'), 'A1');
    RETURN NEXT t.eq('others'' seats are not released', (SELECT t.hold(t.user(), v_show, 'B2') ->> 'outcome'), 'OK');
    RETURN NEXT t.eq('cannot release another''s seat', t.release(u, v_show, 'B2') -> 'changes', '[]'::jsonb);
    RETURN NEXT t.eq('B2 still held', (t.seat(v_show, 'B2')).status, 'HELD');
END $T$;

-- release: all seats (NULL) cancels the cart
CREATE FUNCTION t.case_31_release_all_seats_null_cancels_the_cart() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_ref text;
    r jsonb;
BEGIN
    v_ref := t.hold(u, v_show, 'A1,A2') #>> '{booking,reference}';
    r := release_seats(u, v_show, NULL, NULL);
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('booking', (r -> 'booking') - 'movieName' - 'screenName' - 'showTime' - 'createdAt',
        jsonb_build_object('reference', v_ref, 'status', 'CANCELLED', 'username', u, 'showId', v_show,
                           'expiresAt', NULL, 'confirmedAt', NULL, 'cancelledAt', t.ms(),
                           'totalSeats', 0, 'seats', '[]'::jsonb));
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'A1:AVAILABLE,A2:AVAILABLE');
    RETURN NEXT t.eq('no held seats', (SELECT count(*) FROM seats WHERE show_id = v_show AND status <> 'AVAILABLE'), 0::bigint);
    RETURN NEXT t.eq('again: no cart', release_seats(u, v_show, NULL, NULL), '{"outcome":"BOOKING_NOT_FOUND","changes":[]}'::jsonb);
    r := t.hold(u, v_show, 'A1');
    RETURN NEXT t.ok('a new cart', r #>> '{booking,reference}' <> v_ref);
    r := t.release(u, v_show, 'A1');
    RETURN NEXT t.eq('listing every seat empties it too', r #>> '{booking,status}', 'CANCELLED');
END $T$;

-- release: refusals
CREATE FUNCTION t.case_32_release_refusals() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(2, 2);
    u text := t.user();
BEGIN
    RETURN NEXT t.eq('no cart', t.release(u, v_show, 'A1'), '{"outcome":"BOOKING_NOT_FOUND","changes":[]}'::jsonb);
    RETURN NEXT t.eq('no show', t.release(u, -1, 'A1') ->> 'outcome', 'SHOW_NOT_FOUND');
    RETURN NEXT t.eq('bad username', t.release('a b', v_show, 'A1') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('one array null', release_seats(u, v_show, '{0}', NULL) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('empty list', release_seats(u, v_show, '{}', '{}') ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('unknown seats', t.release(u, v_show, 'C1,A3'),
                 '{"outcome":"UNKNOWN_SEATS","seats":[[0,3],[2,1]],"changes":[]}'::jsonb);
    PERFORM t.hold(u, v_show, 'A1');
    PERFORM t.age_cart(u, v_show, '1 hour');
    RETURN NEXT t.eq('expired cart', t.release(u, v_show, NULL) ->> 'outcome', 'BOOKING_NOT_FOUND');
    RETURN NEXT t.eq('expired cart untouched', (t.cart(u, v_show)).total_seats, 1);
END $T$;

-- Cancel ------------------------------------------------------------------

-- cancel: a confirmed booking, then again
CREATE FUNCTION t.case_33_cancel_a_confirmed_booking_then_again() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_ref text;
    r jsonb;
    r2 jsonb;
BEGIN
    PERFORM t.hold(u, v_show, 'A1,A2');
    v_ref := t.confirm(u, v_show, 'A1,A2') #>> '{booking,reference}';
    r := cancel_booking(u, lower(v_ref));
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('booking', (r -> 'booking') - 'movieName' - 'screenName' - 'showTime' - 'createdAt',
        jsonb_build_object('reference', v_ref, 'status', 'CANCELLED', 'username', u, 'showId', v_show,
                           'expiresAt', NULL, 'confirmedAt', t.ms(), 'cancelledAt', t.ms(),
                           'totalSeats', 2, 'seats', '[[0,1],[0,2]]'::jsonb));
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'A1:AVAILABLE,A2:AVAILABLE');
    RETURN NEXT t.eq('A1 free', (t.seat(v_show, 'A1')).status || (t.seat(v_show, 'A1')).version, 'AVAILABLE3');
    RETURN NEXT t.eq('A1 unlinked', (t.seat(v_show, 'A1')).booking_id, NULL);
    r2 := cancel_booking(u, v_ref);
    RETURN NEXT t.eq('again OK', r2 ->> 'outcome', 'OK');
    RETURN NEXT t.eq('same booking', r2 -> 'booking', r -> 'booking');
    RETURN NEXT t.eq('no changes', r2 -> 'changes', '[]'::jsonb);
    RETURN NEXT t.eq('seats free for others', t.hold(t.user(), v_show, 'A1,A2') ->> 'outcome', 'OK');
    RETURN NEXT t.eq('cancel again still OK', cancel_booking(u, v_ref) -> 'changes', '[]'::jsonb);
    RETURN NEXT t.eq('others'' hold untouched', (t.seat(v_show, 'A1')).status, 'HELD');
END $T$;

-- cancel: a live cart
CREATE FUNCTION t.case_34_cancel_a_live_cart() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
    v_ref text;
    r jsonb;
BEGIN
    v_ref := t.hold(u, v_show, 'C1,C2') #>> '{booking,reference}';
    r := cancel_booking(u, v_ref);
    RETURN NEXT t.eq('status', r #>> '{booking,status}', 'CANCELLED');
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'C1:AVAILABLE,C2:AVAILABLE');
    RETURN NEXT t.eq('seats kept in the booking', t.labels(r #> '{booking,seats}'), 'C1,C2');
    RETURN NEXT t.ok('no cart', (t.cart(u, v_show)).id IS NULL);
    RETURN NEXT t.eq('C1 free', (t.seat(v_show, 'C1')).status, 'AVAILABLE');
    RETURN NEXT t.eq('release finds no cart', t.release(u, v_show, NULL) ->> 'outcome', 'BOOKING_NOT_FOUND');
END $T$;

-- cancel: BOOKING_NOT_FOUND and BOOKING_NOT_CANCELLABLE
CREATE FUNCTION t.case_35_cancel_booking_not_found_and_booking_not_cancellable() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    v_started bigint := t.show();
    u text := t.user();
    v_ref text;
    v_expired text;
    v_booked text;
BEGIN
    v_ref := t.hold(u, v_show, 'A1') #>> '{booking,reference}';
    RETURN NEXT t.eq('another user''s', cancel_booking(t.user(), v_ref), '{"outcome":"BOOKING_NOT_FOUND","changes":[]}'::jsonb);
    RETURN NEXT t.eq('unknown user', cancel_booking('ghost.user', v_ref) ->> 'outcome', 'BOOKING_NOT_FOUND');
    RETURN NEXT t.eq('unknown reference', cancel_booking(u, 'BX-23456789') ->> 'outcome', 'BOOKING_NOT_FOUND');
    RETURN NEXT t.eq('bad username', cancel_booking('x y', v_ref) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('still held', (t.seat(v_show, 'A1')).status, 'HELD');

    PERFORM t.age_cart(u, v_show, '30 minutes');
    RETURN NEXT t.eq('expired cart', cancel_booking(u, v_ref), '{"outcome":"BOOKING_NOT_CANCELLABLE","changes":[]}'::jsonb);
    v_expired := t.hold(u, v_show, 'A2') #>> '{booking,reference}';
    RETURN NEXT t.eq('stored EXPIRED', cancel_booking(u, v_ref) ->> 'outcome', 'BOOKING_NOT_CANCELLABLE');

    PERFORM t.hold(u, v_started, 'A1');
    v_booked := t.confirm(u, v_started, 'A1') #>> '{booking,reference}';
    UPDATE shows SET show_time = now() - interval '1 minute' WHERE id = v_started;
    RETURN NEXT t.eq('show started', cancel_booking(u, v_booked) ->> 'outcome', 'BOOKING_NOT_CANCELLABLE');
    RETURN NEXT t.eq('still booked', (t.seat(v_started, 'A1')).status, 'BOOKED');
END $T$;

-- Hold-best ---------------------------------------------------------------

-- hold_best: centre first, then the nearest rows
CREATE FUNCTION t.case_36_hold_best_centre_first_then_the_nearest_rows() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(5, 10);
    r jsonb;
BEGIN
    r := t.best(t.user(), v_show, 2);
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('centre', t.labels(r #> '{booking,seats}'), 'C5,C6');
    RETURN NEXT t.eq('a cart', r #>> '{booking,status}', 'STAGED');
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'C5:HELD,C6:HELD');
    RETURN NEXT t.eq('next: front of the two nearest rows', t.labels(t.best(t.user(), v_show, 2) #> '{booking,seats}'), 'B5,B6');
    RETURN NEXT t.eq('then behind', t.labels(t.best(t.user(), v_show, 2) #> '{booking,seats}'), 'D5,D6');
    RETURN NEXT t.eq('odd count centred on the left', t.labels(t.best(t.user(), t.show(3, 10), 3) #> '{booking,seats}'), 'B4,B5,B6');
END $T$;

-- hold_best: never strands a single seat when it can help it
CREATE FUNCTION t.case_37_hold_best_never_strands_a_single_seat_when_it_can_he() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(1, 6);
    v_show2 bigint := t.show(1, 5);
BEGIN
    PERFORM t.hold(t.user(), v_show, 'A1');
    RETURN NEXT t.eq('A2,A3 rather than central A3,A4', t.labels(t.best(t.user(), v_show, 2) #> '{booking,seats}'), 'A2,A3');
    PERFORM t.hold(t.user(), v_show2, 'A1,A5');
    RETURN NEXT t.eq('only stranding choices left: the most central', t.labels(t.best(t.user(), v_show2, 2) #> '{booking,seats}'), 'A2,A3');
END $T$;

-- hold_best: no block -> SEATS_UNAVAILABLE unless split
CREATE FUNCTION t.case_38_hold_best_no_block_seats_unavailable_unless_split() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(2, 3);
    v_show2 bigint := t.show(3, 3);
    v_show3 bigint := t.show(2, 3);
    r jsonb;
BEGIN
    PERFORM t.hold(t.user(), v_show, 'A2,B2');
    RETURN NEXT t.eq('no 2 side by side', t.best(t.user(), v_show, 2),
                 '{"outcome":"SEATS_UNAVAILABLE","seats":[],"changes":[]}'::jsonb);
    RETURN NEXT t.eq('split 2: both in one row', t.labels(t.best(t.user(), v_show, 2, true) #> '{booking,seats}'), 'A1,A3');
    RETURN NEXT t.eq('split 2 again: the other row', t.labels(t.best(t.user(), v_show, 2, true) #> '{booking,seats}'), 'B1,B3');
    RETURN NEXT t.eq('nothing left', t.best(t.user(), v_show, 1, true) ->> 'outcome', 'SEATS_UNAVAILABLE');

    PERFORM t.hold(t.user(), v_show2, 'A2,B2,C2');
    r := t.best(t.user(), v_show2, 5, true);
    RETURN NEXT t.eq('split 5: middle row, then front row, then one more', t.labels(r #> '{booking,seats}'), 'A1,A3,B1,B3,C1');
    RETURN NEXT t.eq('wider than a row', t.best(t.user(), v_show3, 4) ->> 'outcome', 'SEATS_UNAVAILABLE');
    RETURN NEXT t.eq('wider than a row, split', t.labels(t.best(t.user(), v_show3, 4, true) #> '{booking,seats}'), 'A1,A2,A3,B1');
    RETURN NEXT t.eq('more than the show', t.best(t.user(), t.show(1, 2), 3, true) ->> 'outcome', 'SEATS_UNAVAILABLE');
END $T$;

-- hold_best: expired holds are free, the cart grows, limits apply
CREATE FUNCTION t.case_39_hold_best_expired_holds_are_free_the_cart_grows_limi() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show(1, 4);
    v_show2 bigint := t.show(5, 10);
    old text := t.user();
    u text := t.user();
    v_ref text;
    r jsonb;
BEGIN
    PERFORM t.hold(old, v_show, 'A1,A2,A3,A4');
    RETURN NEXT t.eq('all taken', t.best(t.user(), v_show, 1) ->> 'outcome', 'SEATS_UNAVAILABLE');
    PERFORM t.age_cart(old, v_show, '21 minutes');
    RETURN NEXT t.eq('expired seats offered', t.labels(t.best(t.user(), v_show, 4) #> '{booking,seats}'), 'A1,A2,A3,A4');

    v_ref := t.hold(u, v_show2, 'A1') #>> '{booking,reference}';
    r := t.best(u, v_show2, 2);
    RETURN NEXT t.eq('same cart', r #>> '{booking,reference}', v_ref);
    RETURN NEXT t.eq('cart grows', t.labels(r #> '{booking,seats}'), 'A1,C5,C6');
    RETURN NEXT t.eq('limit', t.best(u, v_show2, 2, false, 4) ->> 'outcome', 'HOLD_LIMIT_EXCEEDED');
    RETURN NEXT t.eq('limit: nothing held', (SELECT count(*) FROM seats WHERE show_id = v_show2 AND status = 'HELD'), 3::bigint);
    RETURN NEXT t.eq('count 0', t.best(u, v_show2, 0) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('bad user', t.best('a b', v_show2, 1) ->> 'outcome', 'INVALID_REQUEST');
    RETURN NEXT t.eq('no show', t.best(u, -3, 1) ->> 'outcome', 'SHOW_NOT_FOUND');
    UPDATE shows SET show_time = now() WHERE id = v_show2;
    RETURN NEXT t.eq('started', t.best(u, v_show2, 1) ->> 'outcome', 'SHOW_NOT_BOOKABLE');
END $T$;

-- Expiry ------------------------------------------------------------------

-- expire_holds: frees expired holds once, expires carts, keeps history
CREATE FUNCTION t.case_40_expire_holds_frees_expired_holds_once_expires_carts() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u1 text := t.user();
    u2 text := t.user();
    u3 text := t.user();
    v_ref1 text;
    r jsonb;
BEGIN
    PERFORM expire_holds();  -- whatever earlier tests left behind
    v_ref1 := t.hold(u1, v_show, 'A1,A2') #>> '{booking,reference}';
    PERFORM t.hold(u2, v_show, 'B1');
    PERFORM t.hold(u3, v_show, 'C1');
    PERFORM t.age_cart(u1, v_show, '21 minutes');
    PERFORM t.age_cart(u2, v_show, '20 minutes');
    r := expire_holds();
    RETURN NEXT t.eq('outcome', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('seats', (r ->> 'expired')::int, 3);
    RETURN NEXT t.eq('carts', (r ->> 'expiredCarts')::int, 2);
    RETURN NEXT t.eq('changes', t.changes(r -> 'changes'), 'A1:AVAILABLE,A2:AVAILABLE,B1:AVAILABLE');
    RETURN NEXT t.eq('A1', (t.seat(v_show, 'A1')).status || (t.seat(v_show, 'A1')).version, 'AVAILABLE2');
    RETURN NEXT t.eq('A1 cleared', (t.seat(v_show, 'A1')).held_by_user_id, NULL);
    RETURN NEXT t.eq('C1 live', (t.seat(v_show, 'C1')).status, 'HELD');
    RETURN NEXT t.eq('stored EXPIRED', (t.booking(v_ref1)).status, 'EXPIRED');
    RETURN NEXT t.eq('history kept', t.labels(get_booking_details(u1, v_ref1) #> '{booking,seats}'), 'A1,A2');
    RETURN NEXT t.eq('second run: nothing', expire_holds(), '{"outcome":"OK","expired":0,"expiredCarts":0,"changes":[]}'::jsonb);
    RETURN NEXT t.eq('invariants', t.invariants(), NULL);
END $T$;

-- expire_holds: a batch limit
CREATE FUNCTION t.case_41_expire_holds_a_batch_limit() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u1 text := t.user();
    u2 text := t.user();
    r jsonb;
BEGIN
    PERFORM expire_holds();
    PERFORM t.hold(u1, v_show, 'A1,A2');
    PERFORM t.hold(u2, v_show, 'B1');
    PERFORM t.age_cart(u1, v_show, '1 hour');
    PERFORM t.age_cart(u2, v_show, '30 minutes');
    r := expire_holds(1);
    RETURN NEXT t.eq('one seat, the oldest first', t.changes(r -> 'changes'), 'A1:AVAILABLE');
    RETURN NEXT t.eq('one cart', (r ->> 'expiredCarts')::int, 1);
    RETURN NEXT t.eq('next_hold_expiry is due', next_hold_expiry() <= now(), true);
    r := expire_holds(10);
    RETURN NEXT t.eq('the rest', t.changes(r -> 'changes'), 'A2:AVAILABLE,B1:AVAILABLE');
END $T$;

-- next_hold_expiry: the earliest hold or cart expiry
CREATE FUNCTION t.case_42_next_hold_expiry_the_earliest_hold_or_cart_expiry() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    u text := t.user();
BEGIN
    PERFORM expire_holds();
    PERFORM t.hold(u, v_show, 'A1', '1 second', '1 hour');
    PERFORM t.hold(t.user(), v_show, 'A2', '2 seconds', '1 hour');
    RETURN NEXT t.eq('earliest', next_hold_expiry(), now() + interval '1 second');
    PERFORM t.age_cart(u, v_show, '5 seconds');
    RETURN NEXT t.eq('past expiries are due at once', next_hold_expiry(), now() - interval '4 seconds');
    PERFORM expire_holds();
    RETURN NEXT t.eq('after the sweep', next_hold_expiry(), now() + interval '2 seconds');
END $T$;

-- Time moved by the test clock (bo_now()) across calls, not by shifting
-- timestamps: expiry at its expiresAt exactly, then everything that
-- follows from it, then the sweeper.
CREATE FUNCTION t.case_43_test_clock_expiry_across_calls() RETURNS SETOF text LANGUAGE plpgsql AS $T$
DECLARE
    v_show bigint := t.show();
    v_start timestamptz := now();
    v_ref text;
    r jsonb;
BEGIN
    v_ref := hold_seats_for_user('rt.alice', v_show, '{0,0}', '{1,2}', '300 ms', '1 hour', 10) #>> '{booking,reference}';
    RETURN NEXT t.ok('held', v_ref IS NOT NULL);
    RETURN NEXT t.eq('expires after the ttl', (t.booking(v_ref)).expires_at, v_start + interval '300 ms');
    PERFORM t.clock_at(v_start + interval '299 ms');
    RETURN NEXT t.eq('bob refused while live',
        hold_seats_for_user('rt.bob', v_show, '{0}', '{1}', '300 ms', '1 hour', 10) ->> 'outcome', 'SEATS_UNAVAILABLE');
    RETURN NEXT t.eq('still STAGED 1 ms before', get_booking_details('rt.alice', v_ref) #>> '{booking,status}', 'STAGED');
    PERFORM t.clock_at(v_start + interval '300 ms');
    RETURN NEXT t.eq('EXPIRED at its expiresAt', get_booking_details('rt.alice', v_ref) #>> '{booking,status}', 'EXPIRED');
    PERFORM t.clock_at(v_start + interval '500 ms');

    RETURN NEXT t.eq('reads EXPIRED', get_booking_details('rt.alice', v_ref) #>> '{booking,status}', 'EXPIRED');
    RETURN NEXT t.eq('details: available', t.labels(get_show_seat_details(v_show) #> '{show,held}'), '');
    RETURN NEXT t.eq('confirm refused', confirm_booking('rt.alice', v_show, '{0}', '{1}') ->> 'outcome', 'SEATS_NOT_HELD');
    RETURN NEXT t.eq('cancel refused', cancel_booking('rt.alice', v_ref) ->> 'outcome', 'BOOKING_NOT_CANCELLABLE');
    r := hold_seats_for_user('rt.bob', v_show, '{0}', '{1}', '20 minutes', '1 hour', 10);
    RETURN NEXT t.eq('bob takes A1', r ->> 'outcome', 'OK');
    RETURN NEXT t.eq('bob''s hold starts at the test clock', (r #>> '{booking,createdAt}')::bigint, t.ms());
    r := hold_seats_for_user('rt.alice', v_show, '{0}', '{3}', '20 minutes', '1 hour', 10);
    RETURN NEXT t.ok('alice gets a new cart', r #>> '{booking,reference}' <> v_ref);
    RETURN NEXT t.eq('old one EXPIRED', (t.booking(v_ref)).status, 'EXPIRED');

    r := expire_holds();
    RETURN NEXT t.ok('the sweeper frees A2', r -> 'changes' @> jsonb_build_array(jsonb_build_array(v_show, 0, 2, 'AVAILABLE')));
    RETURN NEXT t.ok('A1 (bob''s now) not touched', NOT r -> 'changes' @> jsonb_build_array(jsonb_build_array(v_show, 0, 1, 'AVAILABLE')));
    RETURN NEXT t.eq('A1 bob''s', (t.seat(v_show, 'A1')).held_by_user_id, (SELECT id FROM users WHERE username = 'rt.bob'));
    RETURN NEXT t.eq('invariants', t.invariants(), NULL);
END $T$;

-- After every test, inside its savepoint: the whole database's invariants.
CREATE FUNCTION t.teardown_invariants() RETURNS SETOF text LANGUAGE plpgsql AS $T$
BEGIN
    RETURN NEXT t.eq('invariants hold after the test', t.invariants(), NULL);
END $T$;

-- runtests() reports a test that raises only when it raises with
-- RAISE EXCEPTION: any other error would end the whole run and hide every
-- result. So each t.case_* runs behind a t.test_* wrapper that turns any
-- error into RAISE EXCEPTION, which runtests() reports as "Test died".
DO $do$
DECLARE
    f name;
BEGIN
    FOR f IN SELECT proname FROM pg_proc WHERE pronamespace = 't'::regnamespace AND proname LIKE 'case\_%' LOOP
        EXECUTE format($w$
            CREATE FUNCTION t.%I() RETURNS SETOF text LANGUAGE plpgsql AS $f$
            BEGIN
                RETURN QUERY SELECT * FROM t.%I();
            EXCEPTION WHEN OTHERS THEN
                RAISE EXCEPTION '%% (SQLSTATE %%)', SQLERRM, SQLSTATE;
            END $f$ $w$, 'test_' || substr(f, 6), f);
    END LOOP;
END $do$;

SELECT * FROM runtests('t'::name, '^test_');
