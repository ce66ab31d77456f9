#!/usr/bin/env bash
# Benchmarks the release build with wrk on loopback. Everything is measured
# in one run so the ratios compare like with like: GET /healthz (the
# hello-world reference), the seat map of a 200-seat show, and durable
# hold -> confirm on distinct seats; on SQLite, on PostgreSQL with one node,
# and on PostgreSQL with two nodes (two wrk processes, one per node).
# Prints a Markdown table for BENCHMARKS.md.
# env: BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
#      BENCH_BACKENDS ("sqlite pg1 pg2")
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BOXOFFICE_BIN:-$ROOT/build/boxoffice}
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
BACKENDS=${BENCH_BACKENDS:-sqlite pg1 pg2}
TOKEN=bench-token
BENCH_NAME=bench
# shellcheck source=bench/common.sh
source bench/common.sh

ratio() { /usr/bin/python3 -c "print(f'{$1/$2:.3f}')"; }
sum() { /usr/bin/python3 -c "print(round($1+$2))"; }
rps() { grep -E '^Requests/sec' "$1" | awk '{print $2}'; }
p99_of() { grep -E '^ +99%' "$1" | awk '{print $2}'; }
field() { sed -E "s/.*$1=([0-9.]+).*/\1/" "$2"; }

# start_node DB: starts a node and sets NODE_URL once it is ready. (No
# command substitution: a subshell would run the EXIT trap.)
start_node() {
	local port
	port=$(free_port)
	"$BIN" serve --db "$1" --listen "127.0.0.1:$port" --admin-token $TOKEN --no-demo \
		--log-level warn --max-seats-per-user 100 --db-pool 16 2>>"$TMP/server.log" &
	PIDS+=($!)
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
	NODE_URL="http://127.0.0.1:$port"
}

stop_nodes() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}

# setup URL: creates the shows; sets MAP_SHOW, FIRST_SHOW and NSHOWS.
setup() {
	local url=$1 when last movie screen map_show first="" nshows=${BENCH_SHOWS:-4}
	admin() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$2" "$url$1"; }
	when=$(date -u -d "+1 day +$RANDOM sec" +%Y-%m-%dT%H:%M:%S.000Z)
	last=$(date -u -d '+30 day' +%Y-%m-%d)
	movie=$(admin /api/admin/movies "{\"name\":\"Bench\",\"durationMinutes\":100,\"lastShowDate\":\"$last\"}" | json_id movieId)
	screen=$(admin /api/admin/screens '{"name":"Small","rows":10,"seatsPerRow":20}' | json_id screenId)
	map_show=$(admin /api/admin/shows "{\"movieId\":$movie,\"screenId\":$screen,\"showTime\":\"$when\"}" | json_id showId)
	for i in $(seq "$nshows"); do
		local scr sid
		scr=$(admin /api/admin/screens "{\"name\":\"Big $i\",\"rows\":100,\"seatsPerRow\":999}" | json_id screenId)
		sid=$(admin /api/admin/shows "{\"movieId\":$movie,\"screenId\":$scr,\"showTime\":\"$when\"}" | json_id showId)
		[ -z "$first" ] && first=$sid
	done
	for s in A1 A2 B5; do # the map shows all three states
		curl -sf -H 'Content-Type: application/json' \
			-d "{\"username\":\"m\",\"showId\":$map_show,\"seats\":[\"$s\"]}" "$url/api/bookings/hold" >/dev/null
	done
	MAP_SHOW=$map_show
	FIRST_SHOW=$first
	NSHOWS=$nshows
}

wrk_run() { wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$@"; }

ROWS=()
# bench NAME DB NODES
bench() {
	local name=$1 db=$2 nodes=$3 urls=() i
	for i in $(seq "$nodes"); do
		start_node "$db"
		urls+=("$NODE_URL")
	done
	setup "${urls[0]}"
	local map_show=$MAP_SHOW first=$FIRST_SHOW nshows=$NSHOWS
	local out=$TMP/$name
	mkdir -p "$out"
	# Each phase runs on every node at once (one wrk per node).
	for phase in health map hold; do
		local n=0 wrks=()
		for u in "${urls[@]}"; do
			case $phase in
			health) wrk_run "$u/healthz" >"$out/$phase.$n" & ;;
			map) wrk_run "$u/api/shows/$map_show" >"$out/$phase.$n" & ;;
			hold) wrk_run -s bench/hold_confirm.lua "$u/" -- "$first" "$nshows" "$n" "$nodes" \
				>"$out/$phase.$n" & ;;
			esac
			wrks+=($!)
			n=$((n + 1))
		done
		wait "${wrks[@]}"
	done
	local health=0 map=0 holds=0 ops=0 errors=0
	for i in $(seq 0 $((nodes - 1))); do
		health=$(sum "$health" "$(rps "$out/health.$i")")
		map=$(sum "$map" "$(rps "$out/map.$i")")
		grep '^RESULT' "$out/hold.$i" >"$out/result.$i"
		holds=$(sum "$holds" "$(field holds_per_s "$out/result.$i")")
		ops=$(sum "$ops" "$(field ops_per_s "$out/result.$i")")
		errors=$(sum "$errors" "$(field errors "$out/result.$i")")
	done
	ROWS+=("| $name | $health | $map ($(ratio "$map" "$health")) | $holds ($(ratio "$holds" "$health")) | $ops ($(ratio "$ops" "$health")) | $(p99_of "$out/map.0") | $(field p99_ms "$out/result.0")ms | $errors |")
	stop_nodes
}

echo "wrk -t$THREADS -c$CONNS -d$DUR per node; server --threads $(nproc); $(nproc) cores" >&2
for b in $BACKENDS; do
	case $b in
	sqlite) bench "SQLite, 1 node" "sqlite:$TMP/bench.db" 1 ;;
	pg1 | pg2)
		if [ -z "$PGDIR" ]; then
			PGDIR=$(mktemp -d /tmp/boxoffice-bench-pg.XXXXXX) # the postgres user must enter it
			tests/pg/pg_cluster.sh start "$PGDIR" >/dev/null
			PGURL=$(cat "$PGDIR/url")
		fi
		if [ "$b" = pg1 ]; then bench "PostgreSQL, 1 node" "$PGURL" 1; else bench "PostgreSQL, 2 nodes" "$PGURL" 2; fi
		;;
	esac
done

echo
echo "| backend | /healthz req/s (reference) | seat map req/s (ratio) | durable holds/s (ratio) | holds+confirms/s (ratio) | seat map p99 | hold/confirm p99 | non-200 |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"

# Connection hygiene at full size (issue 12): 4,200 slowloris, 10,000 idle
# and 50 endless uploads from 127.0.0.1 while 127.0.0.2 is served; the
# server runs with its default limits. BENCH_FLOOD=0 skips it.
if [ "${BENCH_FLOOD:-1}" != 0 ]; then
	echo
	BOXOFFICE_BIN=$BIN /usr/bin/python3 tests/http/test_flood.py --slowloris 4200 --idle 10000 \
		--uploads 50 --seconds 30 --p99-ms 50 | grep -E '^# (attack|victim)|passed'
fi

