/* store_sqlite.c - the embedded backend: SQLite in WAL mode. This file
 * keeps the writer thread, its batches, the ops table and the lifecycle;
 * sqlite_internal.h lists the files that hold the rest.
 *
 * Readers take a connection from a small pool (one per concurrent reader,
 * so in practice one per HTTP worker thread) and never block the writer.
 * All writes go through one writer thread fed by a bounded queue. The
 * writer commits a batch of commands in one transaction (BEGIN IMMEDIATE,
 * a SAVEPOINT per command, so a refused or failed command rolls back alone)
 * and calls each command's done only after COMMIT returned: the answer is
 * never ahead of durability (synchronous=FULL). The writer is the hot path
 * (PERFORMANCE-NOTES.md): it does nothing a reader could do instead.
 *
 * Known weak spot: one process owns the file. Two servers on one SQLite file
 * stay correct (BEGIN IMMEDIATE + busy timeout) but do not share caches or
 * events; use PostgreSQL for many nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/sqlite_internal.h"

/* Runs one command inside the open transaction. Returns 0 with an outcome
 * set, or -1 on a storage error. */
static int sq_exec_cmd(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	switch (cmd->op) {
	case STORE_OP_HOLD:
		return sq_do_hold(s, cmd, now);
	case STORE_OP_HOLD_BEST:
		return sq_do_hold_best(s, cmd, now);
	case STORE_OP_CONFIRM:
		return sq_do_confirm(s, cmd, now);
	case STORE_OP_RELEASE:
		return sq_do_release(s, cmd, now);
	case STORE_OP_CANCEL:
		return sq_do_cancel(s, cmd, now);
	case STORE_OP_EXPIRE_DUE:
		return sq_do_expire_due(s, cmd, now);
	case STORE_OP_CREATE_SCREEN:
		return sq_do_create_screen(s, cmd);
	case STORE_OP_CREATE_MOVIE:
		return sq_do_create_movie(s, cmd);
	case STORE_OP_CREATE_SHOW:
		return sq_do_create_show(s, cmd, now);
	case STORE_OP_CANCEL_SHOW:
		return sq_do_cancel_show(s, cmd);
	case STORE_OP_NOTIFY:
		break; /* never submitted */
	}
	return -1;
}

static int sq_outcome_commits(enum outcome o)
{
	return o == OUTCOME_OK || o == OUTCOME_CREATED;
}

/* Runs one command inside its savepoint: the idempotency lookup, the
 * operation (rolled back alone when refused), the stored answer. Returns
 * -1 on a storage error, with the savepoint rolled back. */
static int sq_run_one(struct sq_state *s, struct store_cmd *cmd)
{
	struct sq_conn *c = s->writer_conn;
	int64_t now = sq_now(s);
	int keyed = cmd->idem_key[0] != '\0' && cmd->answer != NULL;

	if (keyed) {
		int found = sq_idem_lookup(s, cmd, now);
		if (found != 0)
			return found < 0 ? -1 : 0;
	}
	if (sq_exec_cmd(s, cmd, now) != 0)
		return -1;
	if (!sq_outcome_commits(cmd->outcome)) {
		cmd->nchanges = 0;
		if (sq_exec(c, SQ_ROLLBACK_TO) != 0)
			return -1;
	}
	/* A refusal's answer is kept too: replaying it is what "exactly
	 * once" means for the client that retries. Not a pick conflict: the
	 * command runs again. */
	if (keyed && !cmd->pick_conflict && sq_idem_store(s, cmd, now) != 0)
		return -1;
	return 0;
}

/* One transaction for the whole batch, one savepoint per command. */
static void sq_run_batch(struct sq_state *s, struct store_cmd **batch, size_t n)
{
	struct sq_conn *c = s->writer_conn;

	for (size_t i = 0; i < n; i++)
		store_cmd_reset_output(batch[i]);
	if (sq_exec(c, SQ_BEGIN_IMMEDIATE) != 0)
		return; /* every command stays UNAVAILABLE */
	if (sq_wcache_begin(c, c->wcache) != 0)
		goto abort;
	for (size_t i = 0; i < n; i++) {
		struct store_cmd *cmd = batch[i];
		size_t mark = sq_wcache_mark(c->wcache);
		if (sq_exec(c, SQ_SAVEPOINT) != 0)
			goto abort;
		if (sq_run_one(s, cmd) != 0) {
			store_cmd_reset_output(cmd);
			if (sq_exec(c, SQ_ROLLBACK_TO) != 0)
				goto abort;
		}
		/* What a rolled-back command learned is not so. */
		if (!sq_outcome_commits(cmd->outcome))
			sq_wcache_drop(c->wcache, mark);
		if (sq_exec(c, SQ_RELEASE) != 0)
			goto abort;
	}
	if (sq_exec(c, SQ_COMMIT) == 0) {
		sq_wcache_commit(c->wcache);
		return;
	}
abort:
	sq_wcache_drop(c->wcache, 0);
	if (!sqlite3_get_autocommit(c->db))
		sq_exec(c, SQ_ROLLBACK);
	for (size_t i = 0; i < n; i++)
		store_cmd_reset_output(batch[i]);
}

static void *sq_writer_main(void *arg)
{
	struct sq_state *s = arg;
	struct store_cmd *batch[SQ_BATCH_MAX];

	for (;;) {
		struct timespec t0, t1;
		size_t n = cmdqueue_pop(&s->queue, batch, SQ_BATCH_MAX);
		if (n == 0)
			break; /* closing and drained */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		sq_run_batch(s, batch, n);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		cmdqueue_observe_txn(&s->queue, (double)(t1.tv_sec - t0.tv_sec) +
		                                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		for (size_t i = 0; i < n; i++) {
			int committed = sq_outcome_commits(batch[i]->outcome);
			sq_grid_settle(s, batch[i], committed);
			if (committed)
				store_listener_tell(s->listener, batch[i]);
			batch[i]->done(batch[i]);
		}
	}
	return NULL;
}

/* The pool is the readers' connections (the writer has its own). */
static void sq_stats(void *state, struct store_stats *out)
{
	struct sq_state *s = state;
	int all = 0, idle = 0;

	out->queue_depth = cmdqueue_depth(&s->queue);
	out->queue_capacity = SQ_QUEUE_MAX;
	out->batch_size = &s->queue.batch;
	out->txn_seconds = &s->queue.txn_seconds;
	pthread_mutex_lock(&s->pool_lock);
	for (struct sq_conn *c = s->all_conns; c != NULL; c = c->next_all)
		all++;
	for (struct sq_conn *c = s->free_conns; c != NULL; c = c->next_free)
		idle++;
	pthread_mutex_unlock(&s->pool_lock);
	out->pool_in_use = all - idle;
	out->pool_idle = idle;
}

static int sq_submit(void *state, struct store_cmd *cmd)
{
	struct sq_state *s = state;
	int rc = cmdqueue_push(&s->queue, cmd);

	if (rc != 0)
		sq_grid_settle(s, cmd, 0); /* its picked seats are free again */
	return rc;
}

/* One process owns a SQLite file: nothing to exclude. */
static int sq_exclusive(void *state, int (*fn)(void *arg), void *arg)
{
	(void)state;
	return fn(arg);
}

static void sq_drain(void *state)
{
	struct sq_state *s = state;

	if (!s->writer_started)
		return;
	cmdqueue_close(&s->queue);
	pthread_join(s->writer, NULL);
	s->writer_started = 0;
}

static void sq_close(void *state)
{
	struct sq_state *s = state;

	if (s == NULL)
		return;
	sq_drain(s);
	if (s->writer_conn) {
		sq_wcache_free(s->writer_conn->wcache);
		sq_conn_close(s->writer_conn);
	}
	while (s->all_conns) {
		struct sq_conn *next = s->all_conns->next_all;
		sq_conn_close(s->all_conns);
		s->all_conns = next;
	}
	pthread_mutex_destroy(&s->pool_lock);
	cmdqueue_destroy(&s->queue);
	sq_grids_free(s->grids);
	free(s);
}

static int sq_open(const struct store_config *cfg, struct store_listener *listener, void **state)
{
	struct sq_state *s = calloc(1, sizeof(*s));
	const char *path = cfg->url + strlen("sqlite:");

	if (s == NULL)
		return STORE_ERR;
	/* Memory statistics cost a global mutex on every allocation. Both
	 * settings apply only before SQLite's first use in the process. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, SQ_STMTJRNL_SPILL);
	s->cfg = *cfg;
	s->listener = listener;
	pthread_mutex_init(&s->pool_lock, NULL);
	s->grids = sq_grids_new();
	if (s->grids == NULL || cmdqueue_init(&s->queue, SQ_QUEUE_MAX) != 0) {
		sq_close(s);
		return STORE_ERR;
	}
	if (*path == '\0' || strlen(path) >= sizeof(s->path)) {
		sq_close(s);
		return STORE_EINVAL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	int created = access(s->path, F_OK) != 0;
	s->writer_conn = sq_conn_open(s->path);
	if (s->writer_conn != NULL && (s->writer_conn->wcache = sq_wcache_new()) == NULL) {
		sq_close(s);
		return STORE_ERR;
	}
	/* The writer's savepoint journals: with temp_store=MEMORY SQLite keeps
	 * them in 1 KiB chunks, a malloc and a free per KiB of every page a
	 * command first touches (~20 % of a hold's instructions, callgrind);
	 * with temp files allowed it keeps them in memory in one chunk of
	 * SQ_STMTJRNL_SPILL bytes and spills only a larger one (show creation)
	 * to an unsynced temp file. Durability is the WAL's and does not
	 * change. */
	if (s->writer_conn != NULL && sqlite3_exec(s->writer_conn->db, "PRAGMA temp_store = FILE;",
	                                           NULL, NULL, NULL) != SQLITE_OK) {
		sq_log(s->writer_conn->db, "temp_store");
		sq_close(s);
		return STORE_ERR;
	}
	if (s->writer_conn == NULL || sq_migrate(s->writer_conn) != 0) {
		sq_close(s);
		return STORE_ERR;
	}
	/* SQLite syncs the directory when it creates the WAL, not when it
	 * creates the database file: without this a power cut could lose the
	 * new file's name, and every write acknowledged in it. */
	if (created && store_sync_dir_of(s->path) != 0) {
		sq_log(s->writer_conn->db, "cannot sync the database's directory");
		sq_close(s);
		return STORE_ERR;
	}
	if (pthread_create(&s->writer, NULL, sq_writer_main, s) != 0) {
		sq_close(s);
		return STORE_ERR;
	}
	s->writer_started = 1;
	*state = s;
	return STORE_OK;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .drain = sq_drain,
    .close = sq_close,
    .submit = sq_submit,
    .active_shows = sq_active_shows,
    .show_details = sq_show_details,
    .booking_details = sq_booking_details,
    .user_bookings = sq_user_bookings,
    .user_bookings_page = sq_user_bookings_page,
    .next_expiry = sq_next_expiry,
    .ping = sq_ping,
    .durability = sq_durability,
    .verify = sq_verify,
    .exclusive = sq_exclusive,
    .stats = sq_stats,
    .pick = sq_pick,
};
