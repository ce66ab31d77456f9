#!/usr/bin/env bash
# Runs every test suite, release build first, then again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and ends with one line:
# "N passed, N failed". Each suite's own output goes to the terminal; its
# counts are read from its last line (or its TAP lines). A suite that dies
# without a summary counts as one failure, and so does one that runs past
# its time budget (suite_budget below): it is stopped, SIGTERM first (the
# suites stop their servers and clusters on it), SIGKILL 10 s later.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOGDIR=$(mktemp -d /tmp/boxoffice-tests.XXXXXX)
# What the suites leave to look at (the browser suite's screenshots).
export BOXOFFICE_TEST_OUTPUT=${BOXOFFICE_TEST_OUTPUT:-$ROOT/build/test-output}
PGDIR=$(mktemp -d /tmp/boxoffice-pg.XXXXXX)
cleanup() {
	tests/pg/pg_cluster.sh stop "$PGDIR" >/dev/null 2>&1 || true
	rm -rf "$LOGDIR" "$PGDIR"
}
trap cleanup EXIT

total_pass=0
total_fail=0
failed_suites=()

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# count_tap FILE -> "pass fail"
count_tap() {
	local p f
	p=$(grep -cE '^ok [0-9]+' "$1")
	f=$(grep -cE '^not ok [0-9]+' "$1")
	echo "$p $f"
}

# count_summary FILE -> "pass fail" from a final "N passed, M failed" line
count_summary() {
	local line
	line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		echo "0 0 none"
		return
	fi
	line=${line#*: }
	echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'
}

# suite_budget NAME -> seconds the suite may run. Sized for a slow,
# shared 2-core machine: several times what each takes on a quiet one
# (in brackets), sanitizer builds more. BOXOFFICE_TIMEOUT_SCALE (an integer,
# default 1) multiplies them all for a slower machine still.
suite_budget() {
	local s
	case $1 in
	unit-*) s=120 ;;                                     # [1 s]
	contract-*-tsan) s=900 ;;                            # [30 s]
	contract-*) s=300 ;;                                 # [1-20 s]
	model-*-tsan) s=900 ;;                               # [60 s]
	model-*) s=600 ;;                                    # [10-60 s]
	http-*) s=900 ;;                                     # [60-150 s]
	idempotency-*) s=300 ;;                              # [10-30 s]
	contention-*-tsan) s=900 ;;                          # [60 s]
	contention-*) s=300 ;;                               # [10-30 s]
	crash-*) s=1200 ;;                                   # [60-200 s]
	lazy-expiry-*) s=120 ;;                              # [5-10 s]
	verify-fails-*) s=120 ;;                             # [2-10 s]
	durability-*) s=180 ;;                               # [2-20 s]
	powerloss-*) s=150 ;;                                # [15-25 s]
	vfs-selftest-*) s=60 ;;                              # [1-3 s]
	pg-functions) s=300 ;;                               # [20 s]
	multinode-*) s=900 ;;                                # [60-120 s]
	ops-*) s=300 ;;                                      # [10-40 s]
	hygiene-*) s=300 ;;                                  # [20 s]
	limits-*) s=300 ;;                                   # [15 s]
	flood-*) s=300 ;;                                    # [15 s]
	fuzz) s=600 ;;                                       # [30-90 s]
	spec-lint) s=120 ;;                                  # [2 s]
	web-*) s=120 ;;                                      # [5-10 s]
	spec-responses-*) s=120 ;;                           # [1 s]
	layers) s=60 ;;                                      # [1 s]
	bench-smoke) s=120 ;;                                # [15-30 s]
	options) s=120 ;;                                    # [5 s]
	browser-*) s=400 ;;                                  # [40-80 s]
	clang-tidy) s=300 ;;                                 # [20-40 s]
	hostile-valgrind) s=900 ;;                           # [120 s]
	hostile-*) s=300 ;;                                  # [30 s]
	events-*) s=240 ;;                                   # [15-30 s]
	*) s=600 ;;                                          # any other suite
	esac
	local scale=${BOXOFFICE_TIMEOUT_SCALE:-1}
	[[ $scale =~ ^[1-9][0-9]*$ ]] || scale=1 # never 0: "timeout 0" would mean no limit
	echo $((s * scale))
}

# run_suite NAME KIND(tap|summary) COMMAND...: runs COMMAND under the
# suite's time budget.
run_suite() {
	local name=$1 kind=$2
	shift 2
	local log="$LOGDIR/$name.log"
	local budget
	budget=$(suite_budget "$name")
	echo "=== $name (time budget ${budget} s)"
	local started=$SECONDS
	timeout --signal=TERM --kill-after=10 "$budget" "$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local timed_out=0
	if [ "$rc" -eq 124 ]; then
		timed_out=1
		echo "--- $name: TIMED OUT after ${budget} s (stopped with SIGTERM)"
	elif [ "$rc" -eq 137 ]; then
		timed_out=1
		echo "--- $name: KILLED (SIGKILL: still running 10 s after its ${budget} s budget, or killed by the system)"
	fi
	local counts
	if [ "$kind" = tap ]; then counts=$(count_tap "$log"); else counts=$(count_summary "$log"); fi
	set -- $counts
	local p=$1 f=$2
	if [ "${3:-}" = none ] || { [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; }; then
		f=1 # ran nothing or died before its summary
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # non-zero exit (sanitizer, crash, timeout) with no failure counted
	elif [ "$timed_out" -eq 1 ]; then
		f=$((f + 1)) # its partial counts stand, the hang is one failure more
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[ "$f" -gt 0 ] && failed_suites+=("$name")
	echo "--- $name: $p passed, $f failed ($((SECONDS - started)) s)"
}

# fresh_db URL NAME: a new empty database NAME beside URL's, printed as a
# URL; nothing for "sqlite" (those suites make a file per test).
fresh_db() {
	local url=$1 name=boxoffice_$2
	[ "$url" = sqlite ] && return
	runuser -u postgres -- psql -X -q "${url%/*}/postgres" -c "DROP DATABASE IF EXISTS $name" \
		-c "CREATE DATABASE $name" >/dev/null 2>&1 || true
	echo "${url%/*}/$name"
}

# The suites that run against one backend: db is "sqlite" or a PostgreSQL URL.
run_backend() {
	local tag=$1 dir=$2 db=$3 name=sqlite
	export BOXOFFICE_BIN="$ROOT/$dir/boxoffice"
	if [ "$db" = sqlite ]; then
		unset BOXOFFICE_TEST_DB
	else
		export BOXOFFICE_TEST_DB=$db
		name=pg
	fi
	# The store suites drive a fake clock: on PostgreSQL each gets a
	# database of its own, so that times from its future never meet the
	# real-time suites' data (boxoffice verify judges "live" by the clock).
	BOXOFFICE_TEST_DB=$(fresh_db "$db" "contract_$tag") CMOCKA_MESSAGE_OUTPUT=TAP \
		run_suite "contract-$name-$tag" tap "$dir/tests/contract_tests"
	BOXOFFICE_TEST_DB=$(fresh_db "$db" "model_$tag") \
		run_suite "model-$name-$tag" summary "$dir/tests/model_tests" --runs "${MODEL_RUNS:-20}"
	# every answer the HTTP suites below receive (paging, 429s, the
	# contention storms, the hostile battery's whole JSON answers on raw
	# sockets included) is checked against the spec by spec-responses
	local answers="$LOGDIR/responses-$name-$tag.jsonl"
	rm -f "$answers"
	export BOXOFFICE_RESPONSE_LOG=$answers
	run_suite "http-$name-$tag" summary /usr/bin/python3 tests/http/test_api.py
	run_suite "web-$name-$tag" summary /usr/bin/python3 tests/spec/test_spec.py
	run_suite "idempotency-$name-$tag" summary /usr/bin/python3 tests/http/test_idempotency.py
	run_suite "contention-$name-$tag" summary /usr/bin/python3 tests/http/test_contention.py
	run_suite "hostile-$name-$tag" summary /usr/bin/python3 tests/http/test_hostile.py
	run_suite "limits-$name-$tag" summary /usr/bin/python3 tests/http/test_limits.py
	# GET /api/shows/{id}/events (its JSON answers recorded, not the
	# streams); on PostgreSQL also across two nodes
	run_suite "events-$name-$tag" summary /usr/bin/python3 tests/events/test_events.py
	# expiry with the sweeper off (the test build, tests/boxoffice_testing)
	run_suite "lazy-expiry-$name-$tag" summary /usr/bin/python3 tests/http/test_lazy_expiry.py
	# durability settings reported, and a loud warning when one is unsafe
	run_suite "durability-$name-$tag" summary /usr/bin/python3 tests/http/test_durability.py
	unset BOXOFFICE_RESPONSE_LOG
	run_suite "spec-responses-$name-$tag" summary node tests/spec/validate_responses.mjs "$answers"
	# each invariant of boxoffice verify broken through SQL: verify must say so
	run_suite "verify-fails-$name-$tag" summary /usr/bin/python3 tests/verify/test_verify_fails.py
	# the page in chromium, two users (on PostgreSQL on two nodes); once
	# per backend, on the release build
	if [ "$tag" = release ]; then
		run_suite "browser-$name" summary /usr/bin/python3 tests/browser/test_browser.py
	fi
	# kill -9 under load; on PostgreSQL also one database stop
	BOXOFFICE_PG_DIR=$([ "$db" = sqlite ] || echo "$PGDIR") \
		run_suite "crash-$name-$tag" summary /usr/bin/python3 tests/crash/test_crash.py
	# power cuts through the test build's VFS (SQLite only; 20 cuts, and a
	# negative run on synchronous=OFF that must lose acknowledged writes)
	if [ "$db" = sqlite ]; then
		run_suite "powerloss-sqlite-$tag" summary /usr/bin/python3 tests/powerloss/test_powerloss.py
	fi
	unset BOXOFFICE_TEST_DB
}

echo "=== starting a throwaway PostgreSQL cluster"
if ! PGURL=$(tests/pg/pg_cluster.sh start "$PGDIR"); then
	echo "cannot start PostgreSQL: every PostgreSQL suite counts as failed"
	PGURL=
fi

run_suite "spec-lint" summary tests/spec/lint.sh
for build in release:build asan:build-asan; do
	tag=${build%%:*}
	dir=${build#*:}
	CMOCKA_MESSAGE_OUTPUT=TAP run_suite "unit-$tag" tap "$dir/tests/unit_tests"
	CMOCKA_MESSAGE_OUTPUT=TAP run_suite "unit-ratelimit-$tag" tap "$dir/tests/ratelimit_tests"
	# the power-loss VFS on its own: what a cut leaves
	run_suite "vfs-selftest-$tag" summary "$dir/tests/vfs_selftest"
	# Connection limits and framing live below the store: one backend.
	BOXOFFICE_BIN="$ROOT/$dir/boxoffice" \
		run_suite "hygiene-$tag" summary /usr/bin/python3 tests/http/test_hygiene.py
	run_backend "$tag" "$dir" sqlite
	if [ -n "$PGURL" ]; then
		run_backend "$tag" "$dir" "$PGURL"
	else
		total_fail=$((total_fail + 1))
		failed_suites+=("postgres-$tag")
	fi
done
run_suite "pg-functions" summary tests/pg/run_tests.sh
# The hostile-input battery once more, the server under valgrind memcheck.
BOXOFFICE_BIN="$ROOT/build/boxoffice" \
	run_suite "hostile-valgrind" summary /usr/bin/python3 tests/http/test_hostile.py --valgrind
# Every libFuzzer target: its regression inputs, then 100,000 executions.
run_suite "fuzz" summary tests/fuzz/run.sh
# One address floods (slowloris, idle, endless uploads), another is served:
# scaled here, full size in make bench.
BOXOFFICE_BIN="$ROOT/build/boxoffice" \
	run_suite "flood-release" summary /usr/bin/python3 tests/http/test_flood.py
if [ -n "$PGURL" ]; then
	# Fixed stored functions reach a database an earlier release migrated.
	BOXOFFICE_BIN="$ROOT/build/boxoffice" BOXOFFICE_TEST_DB=$PGURL \
		run_suite "pg-upgrade" summary tests/pg/test_upgrade.sh
fi
# The layer rule of ARCHITECTURE.md against the #include lines; the
# README's options table against boxoffice help and the parser's ranges.
run_suite "layers" summary /usr/bin/python3 tests/static/test_layers.py
# The benchmark tool runs and reports (bench/bench.py --quick): no speed asserted.
BOXOFFICE_BIN="$ROOT/build/boxoffice" run_suite "bench-smoke" summary /usr/bin/python3 tests/bench/test_bench_smoke.py
BOXOFFICE_BIN="$ROOT/build/boxoffice" \
	run_suite "options" summary /usr/bin/python3 tests/static/test_options.py
# Every C file of src/ clean under .clang-tidy (the release build's
# compile_commands.json).
run_suite "clang-tidy" summary tests/static/clang_tidy.sh build
# Operating it: backup and restore under load, upgrades from the previous
# release's schema, make install, the man page against --help, the docs.
BOXOFFICE_BIN="$ROOT/build/boxoffice" \
	run_suite "ops-sqlite" summary /usr/bin/python3 tests/ops/test_ops.py
BOXOFFICE_BIN="$ROOT/build-asan/boxoffice" \
	run_suite "ops-sqlite-asan" summary /usr/bin/python3 tests/ops/test_ops.py
if [ -n "$PGURL" ]; then
	BOXOFFICE_BIN="$ROOT/build/boxoffice" BOXOFFICE_TEST_DB=$PGURL \
		run_suite "ops-pg" summary /usr/bin/python3 tests/ops/test_ops.py
fi
if [ -n "$PGURL" ]; then
	# Two nodes on one database, and the database stopped under load.
	BOXOFFICE_BIN="$ROOT/build/boxoffice" BOXOFFICE_TEST_DB=$PGURL BOXOFFICE_PG_DIR=$PGDIR \
		run_suite "multinode-pg" summary /usr/bin/python3 tests/multinode/test_nodes.py
fi

# ThreadSanitizer: the store suites and the server under the contention
# and event-stream tests hammer one show from many threads.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
CMOCKA_MESSAGE_OUTPUT=TAP run_suite "contract-sqlite-tsan" tap build-tsan/tests/contract_tests
run_suite "model-sqlite-tsan" summary build-tsan/tests/model_tests --runs 5
BOXOFFICE_BIN="$ROOT/build-tsan/boxoffice" BOXOFFICE_START_TIMEOUT=30 \
	run_suite "contention-sqlite-tsan" summary /usr/bin/python3 tests/http/test_contention.py
# The change feed: commits, the fan-out thread and the viewers' streams.
BOXOFFICE_BIN="$ROOT/build-tsan/boxoffice" BOXOFFICE_START_TIMEOUT=30 \
	run_suite "events-sqlite-tsan" summary /usr/bin/python3 tests/events/test_events.py
if [ -n "$PGURL" ]; then
	BOXOFFICE_TEST_DB=$(fresh_db "$PGURL" contract_tsan) CMOCKA_MESSAGE_OUTPUT=TAP \
		run_suite "contract-pg-tsan" tap build-tsan/tests/contract_tests
	BOXOFFICE_BIN="$ROOT/build-tsan/boxoffice" BOXOFFICE_START_TIMEOUT=30 BOXOFFICE_TEST_DB=$PGURL \
		run_suite "contention-pg-tsan" summary /usr/bin/python3 tests/http/test_contention.py
	BOXOFFICE_BIN="$ROOT/build-tsan/boxoffice" BOXOFFICE_START_TIMEOUT=30 BOXOFFICE_TEST_DB=$PGURL \
		run_suite "events-pg-tsan" summary /usr/bin/python3 tests/events/test_events.py
fi

if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "test output (screenshots): $BOXOFFICE_TEST_OUTPUT"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
