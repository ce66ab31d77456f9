#!/usr/bin/env bash
# The PostgreSQL change feed's cost, measured with pgbench on a throwaway
# cluster: one-seat holds by new users (16 clients, 8 s) called bare, as
# SELECT hold_seats_for_user(...), and as the store calls them, wrapped in
# SELECT bo_feed(...) (per-show seq taken last, held through commit), on
# one show and spread over four. Then pg_commits_per_write.py through one
# node: write transactions and WAL flushes per hold.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BOXOFFICE_BIN:-$PWD/build/boxoffice}
PGDIR=$(mktemp -d /tmp/boxoffice-feedcost.XXXXXX)
NODE=
cleanup() {
	[ -n "$NODE" ] && kill "$NODE" 2>/dev/null && wait "$NODE" 2>/dev/null
	tests/pg/pg_cluster.sh stop "$PGDIR" >/dev/null 2>&1
	rm -rf "$PGDIR"
}
trap cleanup EXIT
url=$(tests/pg/pg_cluster.sh start "$PGDIR")
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --db "$url" --listen "127.0.0.1:$port" --admin-token t --no-demo --log-level error &
NODE=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
admin() { curl -sf -H 'Authorization: Bearer t' -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$port$1"; }
id() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
movie=$(admin /api/admin/movies '{"name":"PB","durationMinutes":90,"lastShowDate":"2099-06-01"}' | id movieId)
shows=()
for k in 1 2 3 4; do
	screen=$(admin /api/admin/screens '{"name":"PB","rows":100,"seatsPerRow":999}' | id screenId)
	shows+=("$(admin /api/admin/shows "{\"movieId\":$movie,\"screenId\":$screen,\"showTime\":\"2099-03-0${k}T10:00:00.000Z\"}" | id showId)")
done
echo "| call | shows | tps (pgbench -c 16 -T 8) |"
echo "|---|---|---|"
for mode in bare bo_feed; do
	for n in 1 4; do
		f=$PGDIR/pb.sql
		{
			echo "\\set r random(0, 99)"
			echo "\\set n random(1, 999)"
			echo "\\set s random(${shows[0]}, ${shows[$((n - 1))]})"
			echo "\\set u random(1, 1000000000)"
			call="hold_seats_for_user('pb' || :u, :s, ARRAY[:r], ARRAY[:n], '20 minutes', '40 minutes', 100)"
			[ $mode = bo_feed ] && call="bo_feed($call)"
			echo "SELECT $call;"
		} >"$f"
		chmod 644 "$f"
		tps=$(runuser -u postgres -- pgbench -n -f "$f" -c 16 -j 2 -T 8 "$url" 2>&1 | awk '/^tps/{print $3}')
		echo "| $mode | $n | $tps |"
	done
done
/usr/bin/python3 bench/pg_commits_per_write.py "$url" "$port"
