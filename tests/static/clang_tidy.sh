#!/usr/bin/env bash
# clang_tidy.sh - every C file of src/ is clean under the repository's
# .clang-tidy (one test per file), and a file with known faults is seen to
# fail it (so the configuration is read and its checks run).
# Needs the release build's compile_commands.json (build/, or $1).
# The last line is "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
pass=0
fail=0

if ! command -v clang-tidy >/dev/null || [ ! -f "$BUILD/compile_commands.json" ]; then
	echo "FAIL - clang-tidy or $BUILD/compile_commands.json is missing (make test builds it)"
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d /tmp/boxoffice-tidy.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The known-bad file: a suspicious memset and a misleading indentation.
cat >"$tmp/bad.c" <<'C'
#include <string.h>
void bad(char *p, int n);
void bad(char *p, int n)
{
	memset(p, n, 0);
	if (n)
		p[0] = 1;
		p[1] = 2;
}
C
if clang-tidy --quiet --config-file=.clang-tidy "$tmp/bad.c" -- -std=c17 >"$tmp/bad.out" 2>&1; then
	echo "FAIL - a file with known faults passes .clang-tidy:"
	cat "$tmp/bad.out"
	fail=$((fail + 1))
else
	echo "ok - a file with known faults fails .clang-tidy"
	pass=$((pass + 1))
fi

# Two at a time (the machine has two cores); one line per file.
git ls-files 'src/*.c' | xargs -P 2 -I{} sh -c \
	'if clang-tidy --quiet -p "$1" "$2" >"$3/$(echo "$2" | tr / _).out" 2>&1; then echo "ok - $2"; else echo "FAIL - $2"; fi' \
	_ "$BUILD" {} "$tmp" >"$tmp/results"
sort -k3 "$tmp/results"
while read -r verdict _ file; do
	if [ "$verdict" = ok ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		grep -E "(warning|error):" "$tmp/$(echo "$file" | tr / _).out" | sed 's/^/    /'
	fi
done <"$tmp/results"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
