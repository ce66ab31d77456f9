#!/usr/bin/env bash
# Runs every test suite, release build first, then again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and ends with one line:
# "N passed, N failed". Each suite's own output goes to the terminal; its
# counts are read from its last line (or its TAP lines). A suite that dies
# without a summary counts as one failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOGDIR=$(mktemp -d /tmp/boxoffice-tests.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

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

# run_suite NAME KIND(tap|summary) COMMAND...
run_suite() {
	local name=$1 kind=$2
	shift 2
	local log="$LOGDIR/$name.log"
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local counts
	if [ "$kind" = tap ]; then counts=$(count_tap "$log"); else counts=$(count_summary "$log"); fi
	set -- $counts
	local p=$1 f=$2
	if [ "${3:-}" = none ] || { [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; }; then
		f=1 # ran nothing or died before its summary
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # non-zero exit (sanitizer, crash) with no failure counted
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[ "$f" -gt 0 ] && failed_suites+=("$name")
	echo "--- $name: $p passed, $f failed"
}

run_build() {
	local tag=$1 dir=$2
	export BOXOFFICE_BIN="$ROOT/$dir/boxoffice"
	CMOCKA_MESSAGE_OUTPUT=TAP run_suite "unit-$tag" tap "$dir/tests/unit_tests"
	CMOCKA_MESSAGE_OUTPUT=TAP run_suite "contract-sqlite-$tag" tap "$dir/tests/contract_tests"
	run_suite "http-$tag" summary /usr/bin/python3 tests/http/test_api.py
	run_suite "contention-$tag" summary /usr/bin/python3 tests/http/test_contention.py
}

run_build release build
run_build asan build-asan

if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
