/* store_pg.c - the scale-out backend: PostgreSQL, many API nodes on one
 * database. This file keeps the write workers, the ops table and the
 * lifecycle; pg_internal.h lists the files that hold the rest.
 *
 * Every business rule lives in the stored functions of sql/postgres (the
 * names of the original design); this file only calls them, one prepared
 * call and one round trip per operation, and turns their jsonb answers
 * into store results. The database clock is the only clock, so nodes with
 * skewed clocks agree, and no lock inside this process decides anything
 * (only a test's cfg.clock replaces it, through bo_now(): pg_set_clock).
 *
 * Writes are queued to worker threads (one per pooled connection), so HTTP
 * threads never wait on the database for a write; reads borrow a pooled
 * connection directly. Serialization failures and deadlocks (40001,
 * 40P01) are retried a bounded number of times. A broken connection is
 * reset on its next use; while the database is unreachable every call fails
 * fast with STORE_ERR (the API answers 503) and the server keeps running.
 *
 * Change feed: every write call is wrapped in bo_feed() (sql/postgres/
 * 004_feed.sql), which numbers its changes per show in commit order inside
 * the write's own transaction. A tailer thread reads the feed of every
 * show (woken at once by this node's commits, else every PG_TAIL_MS) and
 * hands each event, this node's and every other node's alike, to the
 * listener as STORE_OP_NOTIFY with its seq, so every node numbers every
 * change the same. Known weak spots: the tailer reads all of show_feed on
 * each pass (one row per show that ever changed); between a commit
 * elsewhere and the tailer's next pass this node's seat-map cache may
 * serve the older picture (at most PG_TAIL_MS); writes never use it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg_internal.h"

static void pg_execute(struct pg_state *s, struct store_cmd *cmd)
{
	struct pg_args *a = malloc(sizeof(*a));
	json_t *res = NULL;

	store_cmd_reset_output(cmd);
	if (a == NULL)
		return;
	enum pg_call_id id = pg_prepare_args(s, cmd, a);
	if (cmd->idem_key[0] != '\0' && cmd->answer != NULL) {
		pg_execute_keyed(s, cmd, id, a);
		free(a);
		return;
	}
	if (pg_call(s, id, a->n, a->v, &res) == 0 && pg_decode_write(cmd, res) != 0) {
		cmd->outcome = OUTCOME_UNAVAILABLE;
		cmd->nchanges = 0;
	}
	if (cmd->op == STORE_OP_EXPIRE_DUE && cmd->outcome == OUTCOME_OK) {
		/* Old idempotency records go with the sweep. */
		json_t *gone = NULL;
		snprintf(a->buf[0], sizeof(a->buf[0]), "%lld milliseconds",
		         (long long)s->cfg.idempotency_ttl_ms);
		const char *params[] = {a->buf[0]};
		if (pg_call(s, PG_IDEM_EXPIRE, 1, params, &gone) == 0)
			json_decref(gone);
	}
	json_decref(res);
	free(a);
}

static void *pg_worker_main(void *arg)
{
	struct pg_state *s = arg;

	for (;;) {
		struct store_cmd *cmd;
		struct timespec t0, t1;
		if (cmdqueue_pop(&s->queue, &cmd, 1) == 0)
			break; /* closing and drained */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pg_execute(s, cmd);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		cmdqueue_observe_txn(&s->queue, (double)(t1.tv_sec - t0.tv_sec) +
		                                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		if (cmd->outcome == OUTCOME_OK || cmd->outcome == OUTCOME_CREATED)
			store_listener_tell(s->listener, cmd);
		if (cmd->nchanges > 0)
			pg_tail_poke(s);
		cmd->done(cmd);
	}
	return NULL;
}

static void pg_stats(void *state, struct store_stats *out)
{
	struct pg_state *s = state;
	int idle = 0;

	out->queue_depth = cmdqueue_depth(&s->queue);
	out->queue_capacity = PG_QUEUE_MAX;
	out->batch_size = &s->queue.batch;
	out->txn_seconds = &s->queue.txn_seconds;
	pthread_mutex_lock(&s->pool_lock);
	for (struct pg_conn *c = s->free_conns; c != NULL; c = c->next)
		idle++;
	out->pool_in_use = s->created - idle;
	out->pool_idle = idle;
	pthread_mutex_unlock(&s->pool_lock);
}

static int pg_submit(void *state, struct store_cmd *cmd)
{
	struct pg_state *s = state;

	return cmdqueue_push(&s->queue, cmd);
}

static void pg_drain(void *state)
{
	struct pg_state *s = state;

	cmdqueue_close(&s->queue);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	s->nworkers = 0;
	if (s->tail_started) {
		pthread_mutex_lock(&s->tail_lock);
		s->tail_stop = 1;
		pthread_cond_signal(&s->tail_cond);
		pthread_mutex_unlock(&s->tail_lock);
		pthread_join(s->tail_thread, NULL);
		s->tail_started = 0;
	}
}

static void pg_close(void *state)
{
	struct pg_state *s = state;

	if (s == NULL)
		return;
	pg_drain(s);
	for (int i = 0; i < s->created; i++) {
		if (s->all[i]->conn)
			PQfinish(s->all[i]->conn);
		free(s->all[i]);
	}
	free(s->all);
	free(s->workers);
	free(s->url);
	pthread_mutex_destroy(&s->pool_lock);
	pthread_cond_destroy(&s->pool_cond);
	pthread_mutex_destroy(&s->tail_lock);
	pthread_cond_destroy(&s->tail_cond);
	free(s->known);
	cmdqueue_destroy(&s->queue);
	free(s);
}

static int pg_open(const struct store_config *cfg, struct store_listener *listener, void **state)
{
	struct pg_state *s = calloc(1, sizeof(*s));
	int pool = cfg->pool_size > 0 ? cfg->pool_size : 8;

	if (s == NULL)
		return STORE_ERR;
	s->cfg = *cfg;
	s->listener = listener;
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_cond_init(&s->pool_cond, NULL);
	pthread_mutex_init(&s->tail_lock, NULL);
	pthread_cond_init(&s->tail_cond, NULL);
	s->url = strdup(cfg->url);
	/* Writers use at most pool-1 connections so reads always find one. */
	s->max_conns = pool + 1;
	s->all = calloc((size_t)s->max_conns, sizeof(*s->all));
	s->workers = calloc((size_t)pool, sizeof(*s->workers));
	if (s->url == NULL || s->all == NULL || s->workers == NULL ||
	    cmdqueue_init(&s->queue, PG_QUEUE_MAX) != 0)
		goto fail;

	PGconn *c = pg_connect(s->url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "boxoffice: pg: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		goto fail;
	}
	int migrated = pg_migrate(c);
	if (migrated == 0)
		migrated = pg_feed_start(s, c);
	PQfinish(c);
	if (migrated != 0)
		goto fail;
	for (int i = 0; i < pool; i++) {
		if (pthread_create(&s->workers[i], NULL, pg_worker_main, s) != 0)
			goto fail;
		s->nworkers++;
	}
	if (pthread_create(&s->tail_thread, NULL, pg_tail_main, s) != 0)
		goto fail;
	s->tail_started = 1;
	*state = s;
	return STORE_OK;
fail:
	pg_close(s);
	return STORE_ERR;
}

const struct store_ops store_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .drain = pg_drain,
    .close = pg_close,
    .submit = pg_submit,
    .active_shows = pg_active_shows,
    .show_details = pg_show_details,
    .booking_details = pg_booking_details,
    .user_bookings = pg_user_bookings,
    .user_bookings_page = pg_user_bookings_page,
    .next_expiry = pg_next_expiry,
    .ping = pg_ping,
    .durability = pg_durability,
    .verify = pg_verify,
    .exclusive = pg_exclusive,
    .stats = pg_stats,
    .feed_head = pg_feed_head,
};
