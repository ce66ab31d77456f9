#!/usr/bin/env bash
# Installs the Debian packages a target needs, only those missing, then the
# npm packages of web/package-lock.json (npm ci): swagger-ui-dist for the
# build (embedded into the binary for /docs), and for the tests also the
# OpenAPI linter, ajv and playwright-core (which drives Debian's chromium;
# it never downloads a browser).
# usage: scripts/deps.sh build|test|bench
# Runs apt-get through sudo when not root; "apt-get update" at most once.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev
            libpq-dev)
test_pkgs=(libcmocka-dev python3 curl sqlite3 postgresql prometheus man-db postgresql-15-pgtap
           libtap-parser-sourcehandler-pgtap-perl clang libclang-rt-14-dev valgrind
           chromium clang-tidy strace)
bench_pkgs=(wrk curl gnuplot-nox nginx-light postgresql python3)

case "${1:-build}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

npm_mode=build
[ "${1:-build}" = test ] && npm_mode=test
# The machine's own Node.js may come with its npm (not Debian's packages).
command -v npm >/dev/null || want+=(nodejs npm)

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci again only when the lock file changed or the tests need more than
# a build installed; the stamp records what was installed from which lock.
web=$(cd "$(dirname "$0")/../web" && pwd)
lock=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
stamp="$web/node_modules/.boxoffice-deps"
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$have" != "test $lock" ] && [ "$have" != "$npm_mode $lock" ]; then
	echo "deps: npm ci in web/ ($npm_mode)" >&2
	omit=()
	[ "$npm_mode" = build ] && omit=(--omit=dev)
	(cd "$web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund \
		--loglevel=error "${omit[@]}" >/dev/null)
	echo "$npm_mode $lock" >"$stamp"
fi
