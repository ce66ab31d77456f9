#!/usr/bin/env bash
# Benchmarks the release build with wrk on loopback, all in one run so the
# ratios compare like with like: /healthz (the hello-world reference), the
# seat map of a 200-seat show, and durable hold -> confirm on distinct seats.
# Prints a Markdown table for BENCHMARKS.md.
# env: BENCH_DURATION (default 10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BOXOFFICE_BIN:-$PWD/build/boxoffice}
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
TOKEN=bench-token
TMP=$(mktemp -d /tmp/boxoffice-bench.XXXXXX)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

"$BIN" serve --db "sqlite:$TMP/bench.db" --listen "127.0.0.1:$PORT" --admin-token $TOKEN \
	--no-demo --log-level warn --max-seats-per-user 100 2>"$TMP/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

admin() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$2" "$URL$1"; }
json_id() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
when=$(date -u -d '+1 day' +%Y-%m-%dT%H:00:00.000Z)
last=$(date -u -d '+30 day' +%Y-%m-%d)
movie=$(admin /api/admin/movies "{\"name\":\"Bench\",\"durationMinutes\":100,\"lastShowDate\":\"$last\"}" | json_id movieId)
screen=$(admin /api/admin/screens '{"name":"Small","rows":10,"seatsPerRow":20}' | json_id screenId)
map_show=$(admin /api/admin/shows "{\"movieId\":$movie,\"screenId\":$screen,\"showTime\":\"$when\"}" | json_id showId)
NSHOWS=${BENCH_SHOWS:-4}
first_show=
for i in $(seq "$NSHOWS"); do
	scr=$(admin /api/admin/screens "{\"name\":\"Big $i\",\"rows\":100,\"seatsPerRow\":999}" | json_id screenId)
	sid=$(admin /api/admin/shows "{\"movieId\":$movie,\"screenId\":$scr,\"showTime\":\"$when\"}" | json_id showId)
	[ -z "$first_show" ] && first_show=$sid
done
# a few holds so the map has all three states
for s in A1 A2 B5; do
	curl -sf -H 'Content-Type: application/json' -d "{\"username\":\"m\",\"showId\":$map_show,\"seats\":[\"$s\"]}" "$URL/api/bookings/hold" >/dev/null
done

rps() { grep -E '^Requests/sec' | awk '{print $2}'; }
run() { wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$@"; }

echo "wrk -t$THREADS -c$CONNS -d$DUR, server --threads $(nproc), $(nproc) cores" >&2
health=$(run "$URL/healthz" | tee "$TMP/health.txt" | rps)
seatmap=$(run "$URL/api/shows/$map_show" | tee "$TMP/map.txt" | rps)
run -s bench/hold_confirm.lua "$URL/" -- "$first_show" "$NSHOWS" >"$TMP/hold.txt"
result=$(grep '^RESULT' "$TMP/hold.txt")
holds=$(echo "$result" | sed -E 's/.*holds_per_s=([0-9.]+).*/\1/')
ops=$(echo "$result" | sed -E 's/.*ops_per_s=([0-9.]+).*/\1/')
errors=$(echo "$result" | sed -E 's/.*errors=([0-9]+).*/\1/')
p99=$(echo "$result" | sed -E 's/.*p99_ms=([0-9.]+).*/\1/')
ratio() { /usr/bin/python3 -c "print(f'{$1/$2:.3f}')"; }
p99_of() { grep -E '^ +99%' "$1" | awk '{print $2}'; }

echo
echo "| measurement | req/s | ratio to /healthz | p99 |"
echo "|---|---|---|---|"
echo "| GET /healthz (reference) | $health | 1.000 | $(p99_of "$TMP/health.txt") |"
echo "| GET /api/shows/{id} (200 seats) | $seatmap | $(ratio "$seatmap" "$health") | $(p99_of "$TMP/map.txt") |"
echo "| durable holds (hold -> confirm loop) | $holds | $(ratio "$holds" "$health") | ${p99}ms |"
echo "| holds + confirms | $ops | $(ratio "$ops" "$health") | ${p99}ms |"
echo
echo "non-200 answers in the hold/confirm run: $errors"
