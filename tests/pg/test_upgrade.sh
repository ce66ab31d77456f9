#!/usr/bin/env bash
# test_upgrade.sh - stored functions reach databases made by an earlier
# release. sql/postgres/002_functions.sql is "repeatable": the server
# applies it again whenever its text differs from the text last applied.
# This makes a database look like one an earlier release migrated (no
# checksum column, an older confirm_booking), runs `boxoffice migrate`, and
# expects today's functions back; a second migrate must change nothing.
#
# usage: tests/pg/test_upgrade.sh   (BOXOFFICE_TEST_DB: a PostgreSQL URL
# whose server lets us create a database; BOXOFFICE_BIN: the binary)
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BOXOFFICE_BIN:-build/boxoffice}
URL=${BOXOFFICE_TEST_DB:?BOXOFFICE_TEST_DB must name a PostgreSQL database}
DB=boxoffice_upgrade_$$
DBURL="${URL%/*}/$DB"
pass=0
fail=0

q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }
ok() {
	if [ "$1" = "$2" ]; then
		echo "ok - $3"
		pass=$((pass + 1))
	else
		echo "not ok - $3: expected '$2', got '$1'"
		fail=$((fail + 1))
	fi
}
cleanup() { q "${URL%/*}/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1; }
trap cleanup EXIT

q "${URL%/*}/postgres" -c "CREATE DATABASE $DB" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
"$BIN" migrate --db "$DBURL" >/dev/null 2>&1
ok "$?" 0 "a fresh database migrates"
want=$(q "$DBURL" -c "SELECT md5(prosrc) FROM pg_proc WHERE proname = 'confirm_booking'")

# An earlier release: no checksums, and a confirm_booking of its own.
q "$DBURL" -c "ALTER TABLE schema_migrations DROP COLUMN checksum" \
	-c "CREATE OR REPLACE FUNCTION confirm_booking(p_username text, p_show_id bigint, p_rows int[],
	        p_numbers int[]) RETURNS jsonb LANGUAGE sql AS \$\$ SELECT '{\"outcome\":\"OLD\"}'::jsonb \$\$" >/dev/null
ok "$(q "$DBURL" -c "SELECT confirm_booking('u', 1, '{0}', '{1}') ->> 'outcome'")" OLD "the old function is in place"

"$BIN" migrate --db "$DBURL" >/dev/null 2>&1
ok "$?" 0 "the old database migrates"
ok "$(q "$DBURL" -c "SELECT md5(prosrc) FROM pg_proc WHERE proname = 'confirm_booking'")" "$want" \
	"confirm_booking is today's again"
ok "$(q "$DBURL" -c "SELECT count(*) FROM schema_migrations WHERE version = 2 AND checksum IS NOT NULL")" 1 \
	"the functions' checksum is recorded"
before=$(q "$DBURL" -c "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM schema_migrations")
"$BIN" migrate --db "$DBURL" >/dev/null 2>&1
after=$(q "$DBURL" -c "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM schema_migrations")
ok "$after" "$before" "a second migrate applies nothing"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
