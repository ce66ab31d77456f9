/* pg_feed.c - the listener side of the PostgreSQL backend: the tailer
 * thread that reads the shared change feed (sql/postgres/004_feed.sql) of
 * every show, this node's writes and every other node's alike, and hands
 * each event to the listener in seq order per show; the known seqs behind
 * store_feed_head. */
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg_internal.h"

static int pg_known_cmp(const void *a, const void *b)
{
	const struct pg_known *x = a, *y = b;
	return (x->show_id > y->show_id) - (x->show_id < y->show_id);
}

/* The known seq of a show, or NULL (tail_lock held). */
static struct pg_known *pg_known_find(struct pg_state *s, int64_t show_id)
{
	struct pg_known key = {show_id, 0};
	if (s->nknown == 0)
		return NULL;
	return bsearch(&key, s->known, s->nknown, sizeof(*s->known), pg_known_cmp);
}

/* Records seq as known for show_id (tail_lock held). */
static int pg_known_set(struct pg_state *s, int64_t show_id, int64_t seq)
{
	struct pg_known *k = pg_known_find(s, show_id);

	if (k != NULL) {
		k->seq = seq;
		return 0;
	}
	if (s->nknown == s->known_cap) {
		size_t cap = s->known_cap ? 2 * s->known_cap : 64;
		struct pg_known *p = realloc(s->known, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		s->known = p;
		s->known_cap = cap;
	}
	size_t i = s->nknown;
	while (i > 0 && s->known[i - 1].show_id > show_id) {
		s->known[i] = s->known[i - 1];
		i--;
	}
	s->known[i] = (struct pg_known){show_id, seq};
	s->nknown++;
	return 0;
}

int pg_feed_head(void *state, int64_t show_id, int64_t *seq)
{
	struct pg_state *s = state;

	pthread_mutex_lock(&s->tail_lock);
	struct pg_known *k = pg_known_find(s, show_id);
	*seq = k ? k->seq : 0;
	pthread_mutex_unlock(&s->tail_lock);
	return STORE_OK;
}

void pg_tail_poke(struct pg_state *s)
{
	pthread_mutex_lock(&s->tail_lock);
	s->tail_poked = 1;
	pthread_cond_signal(&s->tail_cond);
	pthread_mutex_unlock(&s->tail_lock);
}

/* Tells the listener about one event: changes [[row, number, status], ...]
 * of show_id as seq; show 0 without changes means "anything may have
 * changed" (after a reconnect). tail_lock held. */
static void pg_feed_deliver(struct pg_state *s, int64_t show_id, int64_t seq, json_t *changes)
{
	struct store_cmd *cmd = calloc(1, sizeof(*cmd));
	size_t i, n = json_array_size(changes);
	json_t *v;

	if (cmd == NULL)
		return;
	cmd->op = STORE_OP_NOTIFY;
	cmd->outcome = OUTCOME_OK;
	cmd->show_id = show_id;
	cmd->feed_seq = seq;
	cmd->changes = calloc(n ? n : 1, sizeof(*cmd->changes));
	if (cmd->changes != NULL) {
		json_array_foreach(changes, i, v)
		{
			cmd->changes[i].show_id = show_id;
			cmd->changes[i].seat.row = (int)json_integer_value(json_array_get(v, 0));
			cmd->changes[i].seat.number = (int)json_integer_value(json_array_get(v, 1));
			cmd->changes[i].status =
			    pg_seat_status(json_string_value(json_array_get(v, 2)));
		}
		cmd->nchanges = n;
		store_listener_tell(s->listener, cmd);
	}
	store_cmd_clear(cmd);
	free(cmd);
}

/* Reads show_feed into the known seqs without delivering anything: where
 * this node starts (called before any viewer can subscribe). */
int pg_feed_start(struct pg_state *s, PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT show_id, seq FROM show_feed");
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;

	pthread_mutex_lock(&s->tail_lock);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		rc = pg_known_set(s, strtoll(PQgetvalue(r, i, 0), NULL, 10),
		                  strtoll(PQgetvalue(r, i, 1), NULL, 10));
	pthread_mutex_unlock(&s->tail_lock);
	PQclear(r);
	return rc;
}

/* Appends "{a,b,...}" of n values to a growing buffer. */
static int pg_int_array(char **buf, size_t *len, size_t *cap, int64_t v, int first)
{
	if (*len + 24 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		char *p = realloc(*buf, ncap);
		if (p == NULL)
			return -1;
		*buf = p;
		*cap = ncap;
	}
	*len +=
	    (size_t)snprintf(*buf + *len, *cap - *len, "%s%lld", first ? "{" : ",", (long long)v);
	return 0;
}

/* One pass: which shows moved, then their new events in seq order. */
static int pg_feed_pass(struct pg_state *s, PGconn *c)
{
	char *shows = NULL, *seqs = NULL;
	size_t ls = 0, cs = 0, lq = 0, cq = 0, n = 0;
	int rc = -1;

	PGresult *r = PQexec(c, "SELECT show_id, seq FROM show_feed");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto done;
	pthread_mutex_lock(&s->tail_lock);
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t show = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		int64_t seq = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		struct pg_known *k = pg_known_find(s, show);
		int64_t known = k ? k->seq : 0;
		if (seq > known) {
			if (pg_int_array(&shows, &ls, &cs, show, n == 0) != 0 ||
			    pg_int_array(&seqs, &lq, &cq, known, n == 0) != 0) {
				pthread_mutex_unlock(&s->tail_lock);
				goto done;
			}
			n++;
		}
	}
	pthread_mutex_unlock(&s->tail_lock);
	PQclear(r);
	r = NULL;
	if (n == 0) {
		rc = 0;
		goto done;
	}
	strcat(shows + ls, "}");
	strcat(seqs + lq, "}");
	const char *params[] = {shows, seqs};
	r = PQexecParams(c,
	                 "SELECT e.show_id, e.seq, e.changes::text FROM unnest($1::bigint[], "
	                 "$2::bigint[]) AS k(show_id, seq) JOIN seat_events e ON e.show_id = "
	                 "k.show_id AND e.seq > k.seq ORDER BY e.show_id, e.seq",
	                 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto done;
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t show = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		int64_t seq = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		json_error_t err;
		json_t *changes = json_loads(PQgetvalue(r, i, 2), 0, &err);
		pthread_mutex_lock(&s->tail_lock);
		if (changes != NULL)
			pg_feed_deliver(s, show, seq, changes);
		pg_known_set(s, show, seq);
		pthread_mutex_unlock(&s->tail_lock);
		json_decref(changes);
	}
	rc = 0;
done:
	PQclear(r);
	free(shows);
	free(seqs);
	return rc;
}

static int64_t pg_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void *pg_tail_main(void *arg)
{
	struct pg_state *s = arg;
	PGconn *c = NULL;
	int64_t next_prune = pg_mono_ms() + PG_PRUNE_MS;
	int lost = 0;

	pthread_mutex_lock(&s->tail_lock);
	while (!s->tail_stop) {
		if (!s->tail_poked) {
			struct timespec ts;
			pg_now_plus(&ts, PG_TAIL_MS);
			pthread_cond_timedwait(&s->tail_cond, &s->tail_lock, &ts);
			if (s->tail_stop)
				break;
		}
		s->tail_poked = 0;
		pthread_mutex_unlock(&s->tail_lock);
		if (c == NULL || PQstatus(c) != CONNECTION_OK) {
			if (c != NULL)
				PQfinish(c);
			c = pg_connect(s->url);
			if (PQstatus(c) != CONNECTION_OK) {
				lost = 1;
				poll(NULL, 0, PG_RECONNECT_MS);
				pthread_mutex_lock(&s->tail_lock);
				continue;
			}
		}
		if (pg_feed_pass(s, c) != 0) {
			lost = 1;
		} else if (lost) {
			/* Cached pictures may predate what we missed. */
			lost = 0;
			pthread_mutex_lock(&s->tail_lock);
			pg_feed_deliver(s, 0, 0, NULL);
			pthread_mutex_unlock(&s->tail_lock);
		}
		if (pg_mono_ms() >= next_prune) {
			char sql[64];
			snprintf(sql, sizeof(sql), "SELECT bo_feed_prune(%d)", PG_FEED_KEEP);
			PQclear(PQexec(c, sql));
			next_prune = pg_mono_ms() + PG_PRUNE_MS;
		}
		pthread_mutex_lock(&s->tail_lock);
	}
	pthread_mutex_unlock(&s->tail_lock);
	if (c != NULL)
		PQfinish(c);
	return NULL;
}
