# common.sh - sourced by the bench scripts (run.sh, sse_fanout.sh): a
# scratch directory, the servers (PIDS) and PostgreSQL cluster (PGDIR)
# they start, all stopped and removed on exit, and small helpers.
# Set BENCH_NAME (the scratch directory's prefix) before sourcing.
TMP=$(mktemp -d "/tmp/boxoffice-${BENCH_NAME:-bench}.XXXXXX")
PGDIR=
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$PGDIR" ]; then
		tests/pg/pg_cluster.sh stop "$PGDIR" >/dev/null 2>&1
		rm -rf "$PGDIR"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_id() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
