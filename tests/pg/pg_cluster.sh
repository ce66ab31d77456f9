#!/usr/bin/env bash
# pg_cluster.sh - a throwaway PostgreSQL 15 cluster for tests.
#
#   pg_cluster.sh start DIR   initdb into DIR/data, start on a free port of
#                             127.0.0.1 (unix socket in DIR, fsync on),
#                             create database boxoffice, print its URL and
#                             write it to DIR/url; PG_CLUSTER_OPTIONS adds
#                             server options (later ones win, e.g.
#                             "-c fsync=off" for the durability-warning test)
#   pg_cluster.sh stop DIR    fast shutdown; fine when it is not running
#
# Run as root, the server runs as the postgres user and DIR is handed to
# it; run as anyone else, the server runs as that user.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_START_TRIES=5

die() {
	echo "pg_cluster.sh: $*" >&2
	exit 1
}

# Runs a command as the server's user.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

ensure_postgres() {
	if [ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/initdb" ] && command -v psql >/dev/null; then
		return
	fi
	[ "$(id -u)" = 0 ] || die "PostgreSQL 15 is not installed (need root to apt-get install postgresql-15)"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15 >&2
	[ -x "$PG_BIN/pg_ctl" ] || die "postgresql-15 installed but $PG_BIN/pg_ctl is missing"
}

free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

cluster_start() {
	local dir=$1 port url try
	ensure_postgres
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
		chmod 700 "$dir"
	fi
	as_pg test -w "$dir" -a -x "$dir" || die "the server's user cannot enter $dir (check its parents' permissions)"
	[ -e "$dir/data/PG_VERSION" ] && die "$dir/data already holds a cluster"
	as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
		die "initdb failed, see $dir/initdb.log"

	# Another process may grab the port between choosing and binding it.
	for try in $(seq 1 "$PG_START_TRIES"); do
		port=$(free_port)
		if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=200 ${PG_CLUSTER_OPTIONS:-}" \
			start >/dev/null 2>&1; then
			break
		fi
		port=
	done
	[ -n "$port" ] || die "server did not start, see $dir/server.log"

	as_pg psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE boxoffice" >/dev/null || die "CREATE DATABASE failed"
	url="postgres://postgres@127.0.0.1:$port/boxoffice"
	echo "$url" >"$dir/url"
	echo "$url"
}

cluster_stop() {
	local dir=$1
	[ -d "$dir/data" ] || return 0
	[ -x "$PG_BIN/pg_ctl" ] || return 0
	if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -w -t 30 -m fast stop >/dev/null
	fi
}

[ $# -eq 2 ] || die "usage: pg_cluster.sh start|stop DIR"
case $1 in
start) cluster_start "$2" ;;
stop) cluster_stop "$2" ;;
*) die "usage: pg_cluster.sh start|stop DIR" ;;
esac
