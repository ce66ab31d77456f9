#!/usr/bin/env bash
# run_tests.sh - tests of the PostgreSQL schema and stored functions.
#
# Starts a throwaway cluster (pg_cluster.sh) in a temporary directory,
# applies sql/postgres/*.sql in order the way the server does (each file in
# one transaction, recorded in schema_migrations), runs the pgTAP tests of
# test_functions.sql with pg_prove (every assertion counts as one test),
# then the tests that need several sessions at once: races for a seat,
# racing sweepers, LISTEN/NOTIFY, and a mixed load that must never
# deadlock. Prints "PASS name" / "FAIL name: why" per test of its own, the
# TAP of pg_prove, and finally "N passed, M failed"; exits 1 when anything
# failed. Needs postgresql-15-pgtap and pg_prove (scripts/deps.sh test).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SQL_DIR=$ROOT/sql/postgres
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
GATE_KEY=4242

passed=0
failed=0
pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $1${2:+: $2}"
	failed=$((failed + 1))
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

DIR=$(mktemp -d /tmp/boxoffice-pg.XXXXXX)
chmod 711 "$DIR" # the cluster below it runs as the postgres user
cleanup() {
	local pids
	pids=$(jobs -p)
	[ -n "$pids" ] && kill $pids 2>/dev/null
	"$HERE/pg_cluster.sh" stop "$DIR" >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! URL=$("$HERE/pg_cluster.sh" start "$DIR/cluster"); then
	fail "cluster starts" "see pg_cluster.sh output above"
	finish
fi
WORK=$DIR/work
mkdir -p "$WORK"

# psql, quiet, one value per line, stop at the first error.
q() {
	psql "$URL" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# --- migrations, as the server applies them ---------------------------------
q -c "CREATE TABLE schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
migrations_ok=1
for f in "$SQL_DIR"/[0-9]*.sql; do
	name=$(basename "$f")
	version=$((10#$(echo "$name" | sed -E 's/^([0-9]+).*/\1/')))
	if grep -Eiq '^[[:space:]]*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION)[[:space:]]*;' "$f" ||
		grep -Eqi '(table|into|update)[[:space:]]+schema_migrations' "$f"; then
		fail "migration $name leaves transactions and schema_migrations to the server"
		migrations_ok=0
		continue
	fi
	# One simple-query message, as PQexec sends it: one implicit transaction.
	if err=$(q -c "$(cat "$f")
INSERT INTO schema_migrations (version) VALUES ($version);" 2>&1); then
		pass "migration $name applies in one transaction"
	else
		fail "migration $name applies in one transaction" "$err"
		migrations_ok=0
	fi
done
if [ "$migrations_ok" -ne 1 ]; then
	finish
fi
# Every file's version recorded, in order (the file names say which).
want_versions=$(for f in "$SQL_DIR"/[0-9]*.sql; do basename "$f" | sed -E 's/^0*([0-9]+).*/\1/'; done | paste -sd,)
if [ "$(q -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")" = "$want_versions" ]; then
	pass "migrations recorded as versions $want_versions"
else
	fail "migrations recorded as versions $want_versions"
fi

# A failing migration leaves nothing behind (the server relies on it).
if ! q -c "CREATE TABLE probe_table (x int); SELECT 1/0;" >/dev/null 2>&1 &&
	[ -z "$(q -c "SELECT to_regclass('probe_table')")" ]; then
	pass "a failing migration text rolls back as a whole"
else
	fail "a failing migration text rolls back as a whole"
fi

# --- single-session assertions: pgTAP ---------------------------------------
# Each assertion of a test function is one indented TAP line; a test that
# died (raised) shows as a "Test died" diagnostic instead.
if ! command -v pg_prove >/dev/null; then
	fail "pg_prove is installed (libtap-parser-sourcehandler-pgtap-perl)"
	finish
fi
pg_prove --verbose --dbname "$URL" "$HERE/test_functions.sql" >"$WORK/pg_prove.out" 2>&1
prove_rc=$?
cat "$WORK/pg_prove.out"
tap_ok=$(grep -cE '^[[:space:]]+ok [0-9]+' "$WORK/pg_prove.out")
tap_fail=$(grep -cE '^[[:space:]]+not ok [0-9]+' "$WORK/pg_prove.out")
tap_died=$(grep -cE '^[[:space:]]+# Test died' "$WORK/pg_prove.out")
passed=$((passed + tap_ok))
failed=$((failed + tap_fail + tap_died))
if [ "$prove_rc" -ne 0 ] && [ $((tap_fail + tap_died)) -eq 0 ]; then
	fail "pg_prove test_functions.sql" "exit code $prove_rc without a failed assertion, see above"
elif [ "$tap_ok" -eq 0 ]; then
	fail "pg_prove test_functions.sql ran assertions"
fi

# --- several sessions at once ------------------------------------------------

# Holds an exclusive advisory lock for $1 seconds; racers wait on it with
# gate_wait so that they all start at the same moment. (pg_sleep here only
# keeps the gate shut; no test waits for the clock.)
gate_open() {
	psql "$URL" -X -q -At -c "SELECT pg_advisory_lock($GATE_KEY)" -c "SELECT pg_sleep($1)" >/dev/null &
	GATE_PID=$!
	for _ in $(seq 1 100); do
		[ "$(q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $GATE_KEY AND granted")" = 1 ] && return
		sleep 0.02
	done
}
gate_wait="DO \$\$BEGIN PERFORM pg_advisory_lock_shared($GATE_KEY); PERFORM pg_advisory_unlock_shared($GATE_KEY); END\$\$"

# Runs one SQL statement in $1 background sessions behind the gate; session
# i runs $2 with every {i} replaced by i, its output in $WORK/$3.i.
race() {
	local n=$1 sql=$2 tag=$3 i
	rm -f "$WORK/$tag".*
	gate_open 1.5
	for i in $(seq 1 "$n"); do
		psql "$URL" -X -q -At -v ON_ERROR_STOP=1 -c "$gate_wait" -c "${sql//\{i\}/$i}" \
			>"$WORK/$tag.$i" 2>&1 &
	done
	wait
}
outcomes() {
	cat "$WORK/$1".* | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'
}

SHOW=$(q -c "SELECT t.show(5, 10)")
race 20 "SELECT hold_seats_for_user('racer{i}', $SHOW, '{0}', '{1}', '20 minutes', '40 minutes', 10) ->> 'outcome'" hold
got=$(outcomes hold)
winner=$(q -c "SELECT u.username FROM seats s JOIN users u ON u.id = s.held_by_user_id WHERE s.show_id = $SHOW AND s.seat_row = 0 AND s.seat_number = 1")
if [ "$got" = "OK=1 SEATS_UNAVAILABLE=19 " ] && [ -n "$winner" ] && grep -qx OK "$WORK/hold.${winner#racer}"; then
	pass "race: 20 sessions hold one seat, exactly one wins"
else
	fail "race: 20 sessions hold one seat, exactly one wins" "$got winner=$winner"
fi

# The user exists already, so nothing but the hold itself serialises them.
q -c "SELECT t.hold('solo', t.show(1, 1), 'A1')" >/dev/null
SHOW=$(q -c "SELECT t.show(5, 10)")
race 10 "SELECT hold_seats_for_user('solo', $SHOW, '{1}', '{{i}}', '20 minutes', '40 minutes', 10) #>> '{booking,reference}'" solo
refs=$(cat "$WORK"/solo.* | sort -u)
carts=$(q -c "SELECT count(*) || '/' || max(total_seats) || '/' || (SELECT count(*) FROM seats WHERE show_id = $SHOW AND status = 'HELD') FROM bookings WHERE show_id = $SHOW")
if [ "$(echo "$refs" | wc -l)" = 1 ] && [[ $refs =~ ^BX- ]] && [ "$carts" = "1/10/10" ]; then
	pass "race: one user's 10 concurrent first holds share one cart"
else
	fail "race: one user's 10 concurrent first holds share one cart" "refs=$(echo $refs) carts/seats=$carts"
fi

SHOW=$(q -c "SELECT t.show(1, 20)")
race 12 "SELECT hold_seats_for_user('pair{i}', $SHOW, '{0,0}', ARRAY[{i}, {i} + 1], '20 minutes', '40 minutes', 10) ->> 'outcome'" pair
winners=$(grep -lx OK "$WORK"/pair.* | sed 's/.*\.//' | paste -sd, -)
losers=$(grep -lx SEATS_UNAVAILABLE "$WORK"/pair.* | sed 's/.*\.//' | paste -sd, -)
# Winners hold both their seats; every loser lost to a winner's seat; the
# winners' pairs are disjoint, so at least 4 of the 12 overlapping pairs win.
pairs=$(q -c "SELECT (SELECT bool_and(u.username = 'pair' || w)
                        FROM unnest('{${winners}}'::int[]) w
                        JOIN seats s ON s.show_id = $SHOW AND s.seat_row = 0 AND s.seat_number IN (w, w + 1)
                        LEFT JOIN users u ON u.id = s.held_by_user_id)
              AND (SELECT coalesce(bool_and(EXISTS (SELECT 1 FROM unnest('{${winners}}'::int[]) w
                                                     WHERE w BETWEEN l - 1 AND l + 1)), true)
                     FROM unnest('{${losers}}'::int[]) l)
              AND (SELECT count(*) FROM seats WHERE show_id = $SHOW AND status = 'HELD')
                  = 2 * cardinality('{${winners}}'::int[])")
nwin=$(echo "$winners" | tr ',' '\n' | grep -c .)
nlose=$(echo "$losers" | tr ',' '\n' | grep -c .)
if [ "$pairs" = t ] && [ "$nwin" -ge 4 ] && [ $((nwin + nlose)) = 12 ] && [ -z "$(q -c "SELECT t.invariants()")" ]; then
	pass "race: overlapping pairs never share a seat ($nwin of 12 won)"
else
	fail "race: overlapping pairs never share a seat" "winners=$winners losers=$losers check=$pairs"
fi

SHOW=$(q -c "SELECT t.show(5, 10)")
race 10 "SELECT hold_best_seats('best{i}', $SHOW, 2, false, '20 minutes', '40 minutes', 10) ->> 'outcome'" best
got=$(outcomes best)
held=$(q -c "SELECT count(*) FROM seats WHERE show_id = $SHOW AND status = 'HELD'")
if [ "$got" = "OK=10 " ] && [ "$held" = 20 ] && [ -z "$(q -c "SELECT t.invariants()")" ]; then
	pass "race: 10 concurrent hold-best calls all get their own pair"
else
	fail "race: 10 concurrent hold-best calls all get their own pair" "$got held=$held"
fi

# Racing sweepers: each expired hold is released by exactly one of them.
q -c "SELECT expire_holds()" >/dev/null
SHOW=$(q -c "SELECT t.show(20, 20)")
q -c "DO \$\$
BEGIN
    FOR i IN 0 .. 59 LOOP
        PERFORM hold_seats_for_user('sweep' || i, $SHOW, ARRAY[i / 4, i / 4, i / 4, i / 4, i / 4],
                                    ARRAY[(i % 4) * 5 + 1, (i % 4) * 5 + 2, (i % 4) * 5 + 3, (i % 4) * 5 + 4, (i % 4) * 5 + 5],
                                    '20 minutes', '40 minutes', 10);
    END LOOP;
    UPDATE bookings SET expires_at = now() - interval '1 second' WHERE show_id = $SHOW;
    UPDATE seats SET held_expiry = now() - interval '1 second' WHERE show_id = $SHOW AND status = 'HELD';
END \$\$" >/dev/null
race 4 "SELECT expire_holds(100)::text" sweep
sweep_check=$(cat "$WORK"/sweep.* | /usr/bin/python3 -c '
import json, sys
seats, carts, total = [], 0, 0
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    total += r["expired"]
    carts += r["expiredCarts"]
    seats += [tuple(c) for c in r["changes"]]
print(total, carts, len(seats), len(set(seats)))')
left=$(q -c "SELECT count(*) FROM seats WHERE show_id = $SHOW AND status = 'HELD'")
if [ "$sweep_check" = "300 60 300 300" ] && [ "$left" = 0 ]; then
	pass "race: 4 sweepers release 300 expired holds exactly once"
else
	fail "race: 4 sweepers release 300 expired holds exactly once" "expired carts changes distinct = $sweep_check, left=$left"
fi

# Mixed load on a small show with short holds: holds, confirms, releases,
# cancels and sweeps from 8 clients must never error (no deadlock, no
# constraint violation) and leave every invariant true. Real time on
# purpose, not the test clock: holds of 300 ms must expire while the
# sessions race, between other sessions' statements, so that takeovers of
# expired seats and the sweeper meet live writes; a clock that each session
# sets for itself cannot make that happen.
SHOW=$(q -c "SELECT t.show(2, 6)")
cat >"$WORK/hold.pgb" <<EOF
\set u random(1, 8)
\set r1 random(0, 1)
\set n1 random(1, 6)
\set r2 random(0, 1)
\set n2 random(1, 6)
SELECT hold_seats_for_user('load' || :u, $SHOW, ARRAY[:r1, :r2], ARRAY[:n1, :n2], '300 ms', '600 ms', 4);
EOF
cat >"$WORK/confirm.pgb" <<EOF
\set u random(1, 8)
SELECT confirm_booking('load' || :u, $SHOW, coalesce(b.r, '{0}'), coalesce(b.n, '{1}'))
  FROM (SELECT 1) one LEFT JOIN LATERAL (
        SELECT array_agg(x.seat_row) r, array_agg(x.seat_number) n
          FROM bookings k JOIN users u ON u.id = k.user_id JOIN booking_seats x ON x.booking_id = k.id
         WHERE u.username = 'load' || :u AND k.show_id = $SHOW AND k.status = 'STAGED') b ON true;
EOF
cat >"$WORK/release.pgb" <<EOF
\set u random(1, 8)
\set r random(0, 1)
\set n random(1, 6)
SELECT release_seats('load' || :u, $SHOW, ARRAY[:r], ARRAY[:n]);
EOF
cat >"$WORK/cancel.pgb" <<EOF
\set u random(1, 8)
SELECT cancel_booking('load' || :u, coalesce((SELECT k.booking_reference FROM bookings k JOIN users u ON u.id = k.user_id
        WHERE u.username = 'load' || :u AND k.show_id = $SHOW AND k.status = 'CONFIRMED' LIMIT 1), 'BX-22222222'));
EOF
cat >"$WORK/sweep.pgb" <<EOF
SELECT expire_holds();
EOF
if "$PG_BIN/pgbench" -n -c 8 -j 2 -T 4 -f "$WORK/hold.pgb@6" -f "$WORK/confirm.pgb@2" -f "$WORK/release.pgb@2" \
	-f "$WORK/cancel.pgb@1" -f "$WORK/sweep.pgb@1" "$URL" >"$WORK/pgbench.out" 2>&1 &&
	! grep -qiE 'error|abort' "$WORK/pgbench.out"; then
	tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")
	inv=$(q -c "SELECT t.invariants()")
	booked=$(q -c "SELECT count(*) FROM bookings WHERE show_id = $SHOW AND status = 'CONFIRMED'")
	if [ -z "$inv" ] && [ "${tx:-0}" -gt 200 ] && [ "$booked" -gt 0 ]; then
		pass "load: 8 clients, $tx mixed operations, no error, invariants hold"
	else
		fail "load: 8 clients mixed operations keep the invariants" "tx=$tx confirmed=$booked $inv"
	fi
else
	fail "load: 8 clients mixed operations without an error" "$(grep -iE 'error|abort' "$WORK/pgbench.out" | head -3)"
fi

finish
