#!/usr/bin/env bash
# Runs every libFuzzer target in build-fuzz/fuzz (make the fuzz preset
# first). For each target: its regression inputs (tests/fuzz/regressions/
# TARGET/, one file per crash ever found) once each, then fuzzing from the
# seed corpus (tests/fuzz/corpus/TARGET/) for FUZZ_RUNS executions
# (default 100000), stopped after FUZZ_SECONDS (default 60) - a target that
# did not reach FUZZ_RUNS in time fails. A crash fails and leaves its input
# in FUZZ_ARTIFACTS (default build-fuzz/artifacts): add it to
# regressions/TARGET/ with the fix.
#   FUZZ_RUNS=0 FUZZ_SECONDS=600 tests/fuzz/run.sh   (make fuzz: time-bound)
# New corpus entries go to build-fuzz/corpus/TARGET (kept between runs,
# never into the repository). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
RUNS=${FUZZ_RUNS:-100000}
SECONDS_MAX=${FUZZ_SECONDS:-60}
ART=${FUZZ_ARTIFACTS:-$BUILD/artifacts}
mkdir -p "$ART"
passed=0
failed=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

result() { # result OK NAME DETAIL
	if [ "$1" -eq 1 ]; then
		passed=$((passed + 1))
		echo "ok - $2${3:+: $3}"
	else
		failed=$((failed + 1))
		echo "FAIL - $2${3:+: $3}"
	fi
}

# Every tests/fuzz/fuzz_*.c must have been built: a target that failed to
# build fails here rather than drop out unseen.
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=$BUILD/fuzz/$name
	if [ ! -x "$bin" ] || [ "$bin" -ot "$src" ]; then
		result 0 "$name" "not built, or older than its source: cmake --preset fuzz && cmake --build build-fuzz --target fuzz_targets"
		continue
	fi
	short=${name#fuzz_}
	seeds=$ROOT/tests/fuzz/corpus/$short
	regress=$ROOT/tests/fuzz/regressions/$short
	work=$BUILD/corpus/$short
	log=$BUILD/$name.log
	mkdir -p "$work"
	if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
		if "$bin" -runs=1 "$regress"/* >"$log" 2>&1; then
			result 1 "$name regressions" "$(ls "$regress" | wc -l) inputs"
		else
			result 0 "$name regressions" "$(tail -n 20 "$log")"
		fi
	fi
	args=(-max_total_time="$SECONDS_MAX" -artifact_prefix="$ART/$name-" -print_final_stats=1
	      -timeout=10 -rss_limit_mb=2048 -max_len=4096)
	[ "$RUNS" -gt 0 ] && args+=(-runs="$RUNS")
	dict=$ROOT/tests/fuzz/$short.dict
	[ -f "$dict" ] && args+=(-dict="$dict")
	start=$(date +%s)
	"$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1)
	execs=${execs:-0}
	if [ "$rc" -ne 0 ]; then
		result 0 "$name" "crashed or failed a property after $execs executions (exit $rc); input in $ART:
$(grep -E 'ERROR|property failed|SUMMARY|Test unit written' "$log" | head -n 10)"
	elif [ "$RUNS" -gt 0 ] && [ "$execs" -lt "$RUNS" ]; then
		result 0 "$name" "only $execs of $RUNS executions within ${SECONDS_MAX} s"
	else
		result 1 "$name" "$execs executions in ${took} s, corpus $(ls "$work" | wc -l)"
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
