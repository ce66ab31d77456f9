/* pg_conn.c - the PostgreSQL backend's connections: the pool (healthy
 * connections borrowed and given back, reset when the server closed them),
 * prepared calls, the test clock, and one call with its retries. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg_internal.h"

PGconn *pg_connect(const char *url)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {url, "3", "boxoffice", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (c != NULL && PQstatus(c) == CONNECTION_OK) {
		/* A stuck call must not hold a connection forever. */
		PQclear(PQexec(c, "SET statement_timeout = '10s'"));
	}
	return c;
}

void pg_now_plus(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* An idle pooled connection has nothing to read unless the server sent
 * its goodbye (an error and EOF): returns 1 when it is no longer usable. */
static int pg_conn_closed(PGconn *conn)
{
	struct pollfd pfd = {PQsocket(conn), POLLIN, 0};

	if (pfd.fd < 0)
		return 1;
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	return !PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK;
}

/* Borrows a healthy connection; NULL when the database is unreachable or
 * the pool stays exhausted. */
struct pg_conn *pg_acquire(struct pg_state *s)
{
	struct pg_conn *c = NULL;
	struct timespec deadline;

	pg_now_plus(&deadline, PG_ACQUIRE_TIMEOUT_MS);
	pthread_mutex_lock(&s->pool_lock);
	while (s->free_conns == NULL && s->created >= s->max_conns) {
		if (pthread_cond_timedwait(&s->pool_cond, &s->pool_lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (s->free_conns != NULL) {
		c = s->free_conns;
		s->free_conns = c->next;
	} else if (s->created < s->max_conns) {
		c = calloc(1, sizeof(*c));
		if (c != NULL)
			s->all[s->created++] = c;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (c == NULL)
		return NULL;
	if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK && pg_conn_closed(c->conn)) {
		/* Closed by the server while idle (e.g. it restarted): reset
		 * it now rather than fail the next call on it. */
		c->prepared = 0;
	}
	if (c->conn == NULL) {
		c->conn = pg_connect(s->url);
	} else if (PQstatus(c->conn) != CONNECTION_OK) {
		PQreset(c->conn);
		c->prepared = 0;
		if (PQstatus(c->conn) == CONNECTION_OK)
			PQclear(PQexec(c->conn, "SET statement_timeout = '10s'"));
	}
	return c;
}

void pg_release(struct pg_state *s, struct pg_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next = s->free_conns;
	s->free_conns = c;
	pthread_cond_signal(&s->pool_cond);
	pthread_mutex_unlock(&s->pool_lock);
}

static int pg_prepare(struct pg_conn *c, enum pg_call_id id)
{
	char name[16];

	if (c->prepared & (1UL << id))
		return 0;
	snprintf(name, sizeof(name), "bo%d", (int)id);
	PGresult *p = PQprepare(c->conn, name, pg_sql[id], 0, NULL);
	int ok = PQresultStatus(p) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "boxoffice: pg: prepare %s: %s", pg_sql[id],
		        PQerrorMessage(c->conn));
	PQclear(p);
	if (!ok)
		return -1;
	c->prepared |= 1UL << id;
	return 0;
}

/* Tests drive time: with a configured clock the functions' bo_now()
 * reads this session setting instead of the database clock. */
int pg_set_clock(struct pg_state *s, struct pg_conn *c)
{
	char ms[24], name[16];
	const char *params[] = {ms};

	if (pg_prepare(c, PG_SET_CLOCK) != 0)
		return -1;
	snprintf(ms, sizeof(ms), "%lld", (long long)s->cfg.clock(s->cfg.clock_arg));
	snprintf(name, sizeof(name), "bo%d", (int)PG_SET_CLOCK);
	PGresult *r = PQexecPrepared(c->conn, name, 1, params, NULL, NULL, 0);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return ok ? 0 : -1;
}

/* Runs a prepared statement on c (preparing it, and setting the test
 * clock, first). Returns the result; the caller checks and clears it. */
PGresult *pg_run(struct pg_state *s, struct pg_conn *c, enum pg_call_id id, int nparams,
                 const char *const *params)
{
	char name[16];

	if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK || pg_prepare(c, id) != 0)
		return NULL;
	if (s->cfg.clock != NULL && pg_set_clock(s, c) != 0)
		return NULL;
	snprintf(name, sizeof(name), "bo%d", (int)id);
	return PQexecPrepared(c->conn, name, nparams, params, NULL, NULL, 0);
}

int pg_retryable(const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

/* The single value of a one-row result as JSON: parsed jsonb, a scalar,
 * or null for NULL and void. Returns NULL when it is none of those. */
json_t *pg_value(const PGresult *r)
{
	json_error_t err;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		return NULL;
	if (PQgetisnull(r, 0, 0) || *PQgetvalue(r, 0, 0) == '\0')
		return json_null();
	return json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, &err);
}

/* Calls a prepared function in its own transaction; returns 0 and its
 * parsed value, or -1 on a storage error. */
int pg_call(struct pg_state *s, enum pg_call_id id, int nparams, const char *const *params,
            json_t **out)
{
	struct pg_conn *c = pg_acquire(s);
	int rc = -1;

	*out = NULL;
	if (c == NULL)
		return -1;
	for (int attempt = 0; attempt < PG_RETRIES; attempt++) {
		PGresult *r = pg_run(s, c, id, nparams, params);
		if (r != NULL && (*out = pg_value(r)) != NULL) {
			rc = 0;
			PQclear(r);
			break;
		}
		int retry = pg_retryable(r);
		if (!retry)
			fprintf(stderr, "boxoffice: pg: %s: %s", pg_sql[id],
			        c->conn ? PQerrorMessage(c->conn) : "no connection\n");
		PQclear(r);
		if (!retry)
			break;
	}
	pg_release(s, c);
	return rc;
}

int pg_exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "boxoffice: pg: %s", PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}
