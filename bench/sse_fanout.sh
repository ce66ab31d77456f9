#!/usr/bin/env bash
# Fan-out benchmark of GET /api/shows/{id}/events (issue 9): 10,000 viewers
# of one show on one node, then a burst of 1,000 one-seat holds; delivery
# latency commit -> viewer (p50/p99/max), server memory per viewer, and
# hold throughput with the viewers against the same burst without them
# (measured first, in the same run, on a fresh show of the same size). On
# PostgreSQL a second node's viewers too (holds go through node A).
# Delivery is also given from the moment each hold's request was written
# (an upper bound that does not depend on when the holding client got the
# CPU to read its answer). Then, on SQLite, one hold alone to the same
# viewers (one fan-out pass), and the machine's floor for a pass: one send
# to each of as many bare loopback sockets (bench/sse_floor.c).
# Prints Markdown rows for BENCHMARKS.md.
# env: SSE_VIEWERS (10000), SSE_VIEWERS_B (2000), SSE_HOLDS (1000),
#      SSE_CLIENTS (32), SSE_THREADS (server --threads, 2),
#      SSE_BACKENDS ("sqlite pg"), SSE_REPEAT (bursts per backend, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BOXOFFICE_BIN:-$ROOT/build/boxoffice}
VIEWERS=${SSE_VIEWERS:-10000}
VIEWERS_B=${SSE_VIEWERS_B:-2000}
HOLDS=${SSE_HOLDS:-1000}
CLIENTS=${SSE_CLIENTS:-32}
THREADS=${SSE_THREADS:-2}
BACKENDS=${SSE_BACKENDS:-sqlite pg}
ROWS=20
REPEAT=${SSE_REPEAT:-3}
ONE_ROW=
PER_ROW=$(((HOLDS + ROWS - 1) / ROWS))
TOKEN=bench-token
BENCH_NAME=ssebench
# shellcheck source=bench/common.sh
source bench/common.sh

cc -O2 -std=gnu17 -Wall -Wextra -o "$TMP/sse_fanout" bench/sse_fanout.c -lpthread
cc -O2 -std=gnu17 -Wall -Wextra -o "$TMP/sse_floor" bench/sse_floor.c -lpthread
ulimit -n "$(ulimit -Hn)"
field() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p"; }
ratio() { /usr/bin/python3 -c "print(f'{$1/$2:.2f}')"; }
kib() { /usr/bin/python3 -c "print(f'{$1/1024:.1f}')"; }

# start_node DB: sets NODE_URL, NODE_PORT, NODE_PID.
start_node() {
	local port
	port=$(free_port)
	"$BIN" serve --db "$1" --listen "127.0.0.1:$port" --admin-token $TOKEN --no-demo \
		--log-level error --threads "$THREADS" --max-viewers 20000 --max-connections 19000 \
		--db-pool 16 2>>"$TMP/server.log" &
	NODE_PID=$!
	PIDS+=($NODE_PID)
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
	NODE_URL="http://127.0.0.1:$port"
	NODE_PORT=$port
}

# new_show URL: sets SHOW (ROWS x PER_ROW seats).
new_show() {
	local url=$1 when movie screen
	admin() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$2" "$url$1"; }
	when=$(date -u -d "+2 day +$RANDOM sec" +%Y-%m-%dT%H:%M:%S.000Z)
	movie=$(admin /api/admin/movies "{\"name\":\"Fan\",\"durationMinutes\":100,\"lastShowDate\":\"$(date -u -d '+30 day' +%Y-%m-%d)\"}" | json_id movieId)
	screen=$(admin /api/admin/screens "{\"name\":\"Fan\",\"rows\":$ROWS,\"seatsPerRow\":$PER_ROW}" | json_id screenId)
	SHOW=$(admin /api/admin/shows "{\"movieId\":$movie,\"screenId\":$screen,\"showTime\":\"$when\"}" | json_id showId)
}

# viewers_gone URL: waits (30 s at most) until the node has no viewers.
viewers_gone() {
	for _ in $(seq 300); do
		curl -sf "$1/metrics" | grep -q '^boxoffice_sse_viewers 0$' && return
		sleep 0.1
	done
	echo "viewers still attached at $1" >&2
	return 1
}

declare -A RATIOS
# note_ratio BACKEND REF RUN: keeps the run's throughput ratio for the median.
note_ratio() {
	RATIOS[$1]="${RATIOS[$1]:-}${RATIOS[$1]:+ }$(ratio "$(field holds_per_s "$3")" "$(field holds_per_s "$2")")"
}
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# row NAME REF-FILE RUN-FILE NODE-LETTER RUN: memory per viewer is given
# for the first run only (later runs start from the memory the earlier
# viewers left to the allocator).
row() {
	local r=$2 v=$3 n=$4 mem
	mem="$(kib "$(field node${n}_bytes_per_viewer "$v")") KiB"
	[ "$5" = 1 ] || mem="(run 1)"
	printf '| %s | %s | %s / %s / %s | %s / %s | %s | %s/s | %s/s | %s | %s |\n' "$1" \
		"$(field node${n}_viewers "$v")" "$(field node${n}_p50_ms "$v")" \
		"$(field node${n}_p99_ms "$v")" "$(field node${n}_max_ms "$v")" \
		"$(field node${n}_p99_sent_ms "$v")" "$(field node${n}_max_sent_ms "$v")" \
		"$mem" \
		"$(field holds_per_s "$r")" "$(field holds_per_s "$v")" \
		"$(ratio "$(field holds_per_s "$v")" "$(field holds_per_s "$r")")" \
		"$(field node${n}_dropped "$v") dropped, $(field node${n}_missing "$v") missing"
}

echo "| backend, node | viewers | delivery p50 / p99 / max (ms) | from the request's write: p99 / max (ms) | server memory per viewer | holds/s without viewers | holds/s with viewers | ratio | viewers lost |"
echo "|---|---|---|---|---|---|---|---|---|"
for b in $BACKENDS; do
	case $b in
	sqlite)
		start_node "sqlite:$TMP/fan.db"
		for k in $(seq "$REPEAT"); do
			viewers_gone "$NODE_URL"
			new_show "$NODE_URL"
			"$TMP/sse_fanout" "$NODE_PORT" "$SHOW" $ROWS "$PER_ROW" "$HOLDS" "$CLIENTS" 0 >"$TMP/ref"
			new_show "$NODE_URL"
			"$TMP/sse_fanout" "$NODE_PORT" "$SHOW" $ROWS "$PER_ROW" "$HOLDS" "$CLIENTS" "$VIEWERS" 0 0 \
				"$NODE_PID" >"$TMP/run"
			row "SQLite (run $k)" "$TMP/ref" "$TMP/run" A "$k"
			note_ratio SQLite "$TMP/ref" "$TMP/run"
		done
		# one hold alone: its delivery is one fan-out pass (once the
		# server has let go of the last run's viewers)
		viewers_gone "$NODE_URL"
		new_show "$NODE_URL"
		"$TMP/sse_fanout" "$NODE_PORT" "$SHOW" $ROWS "$PER_ROW" 1 1 "$VIEWERS" 0 0 >"$TMP/one"
		ONE_ROW="| SQLite, one hold | $(field nodeA_viewers "$TMP/one") | $(field nodeA_p50_ms "$TMP/one") / $(field nodeA_p99_ms "$TMP/one") / $(field nodeA_max_ms "$TMP/one") | $(field nodeA_p50_sent_ms "$TMP/one") / $(field nodeA_p99_sent_ms "$TMP/one") / $(field nodeA_max_sent_ms "$TMP/one") | $(field nodeA_missing "$TMP/one") |"
		;;
	pg)
		PGDIR=$(mktemp -d /tmp/boxoffice-ssebench-pg.XXXXXX)
		url=$(tests/pg/pg_cluster.sh start "$PGDIR")
		start_node "$url"
		a_port=$NODE_PORT a_pid=$NODE_PID a_url=$NODE_URL
		start_node "$url"
		b_port=$NODE_PORT b_pid=$NODE_PID
		for k in $(seq "$REPEAT"); do
			viewers_gone "$a_url"
			viewers_gone "http://127.0.0.1:$b_port"
			new_show "$a_url"
			"$TMP/sse_fanout" "$a_port" "$SHOW" $ROWS "$PER_ROW" "$HOLDS" "$CLIENTS" 0 >"$TMP/ref"
			new_show "$a_url"
			"$TMP/sse_fanout" "$a_port" "$SHOW" $ROWS "$PER_ROW" "$HOLDS" "$CLIENTS" "$VIEWERS" \
				"$b_port" "$VIEWERS_B" "$a_pid" "$b_pid" >"$TMP/run"
			row "PostgreSQL, node A (holds here, run $k)" "$TMP/ref" "$TMP/run" A "$k"
			row "PostgreSQL, node B (run $k)" "$TMP/ref" "$TMP/run" B "$k"
			note_ratio PostgreSQL "$TMP/ref" "$TMP/run"
		done
		;;
	esac
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
	[ -n "${SSE_RAW:-}" ] && { cat "$TMP/ref"; cat "$TMP/run"; [ -f "$TMP/one" ] && cat "$TMP/one"; }
done

# The throughput ratio of one burst moves a lot: the burst is about as
# long as one fan-out pass, so it measures how much of a pass lands in it.
# The median over the runs is the figure to compare.
echo
for b in SQLite PostgreSQL; do
	[ -n "${RATIOS[$b]:-}" ] || continue
	echo "$b: hold throughput with viewers over $REPEAT runs: ${RATIOS[$b]}; median $(median ${RATIOS[$b]})"
done

if [ -n "${ONE_ROW:-}" ]; then
	echo
	echo "| one hold to every viewer | viewers | delivery p50 / p99 / max (ms) | from the request's write: p50 / p99 / max (ms) | missing |"
	echo "|---|---|---|---|---|"
	echo "$ONE_ROW"
fi

# The machine's floor, measured in the same run: one send to each of the
# viewers' sockets with no server around it (bench/sse_floor.c), for a
# small event and for one that carries the whole burst (about 31 bytes a
# seat), from 1 and 2 threads. The server's fan-out pass cannot be faster.
echo
echo "| bare loopback floor: one send to each of $VIEWERS sockets | 1 thread best / median (ms) | 2 threads best / median (ms) |"
echo "|---|---|---|"
for bytes in 100 $((HOLDS * 31)); do
	"$TMP/sse_floor" "$VIEWERS" "$bytes" 5 >"$TMP/floor"
	printf '| %s bytes | %s / %s | %s / %s |\n' "$bytes" \
		"$(field threads1_best_ms "$TMP/floor")" "$(field threads1_median_ms "$TMP/floor")" \
		"$(field threads2_best_ms "$TMP/floor")" "$(field threads2_median_ms "$TMP/floor")"
done
