/* store_pg.c - the scale-out backend: PostgreSQL, many API nodes on one
 * database.
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
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/num.h"
#include "store/backend.h"
#include "store/cmdqueue.h"
#include "store/embedded_sql.h"
#include "store/store.h"

enum {
	PG_QUEUE_MAX = 8192,
	PG_RETRIES = 5, /* serialization failure / deadlock */
	PG_ACQUIRE_TIMEOUT_MS = 5000,
	PG_RECONNECT_MS = 1000, /* tailer back-off */
	PG_TAIL_MS = 50,        /* feed poll when this node commits nothing */
	PG_FEED_KEEP = 4096,    /* events kept per show in seat_events */
	PG_PRUNE_MS = 10000,    /* how often the tailer prunes seat_events */
	PG_MIGRATION_LOCK = 73510017,
	PG_EXCLUSIVE_LOCK = 73510018,
};

/* Prepared calls, by index. */
enum pg_call_id {
	PG_HOLD,
	PG_HOLD_BEST,
	PG_CONFIRM,
	PG_RELEASE,
	PG_CANCEL,
	PG_EXPIRE,
	PG_CREATE_SCREEN,
	PG_CREATE_MOVIE,
	PG_CREATE_SHOW,
	PG_CANCEL_SHOW,
	PG_ACTIVE_SHOWS,
	PG_SHOW_DETAILS,
	PG_BOOKING_DETAILS,
	PG_USER_BOOKINGS,
	PG_USER_BOOKINGS_PAGE,
	PG_NEXT_EXPIRY,
	PG_PING,
	PG_SET_CLOCK,
	PG_IDEM_GET,
	PG_IDEM_PUT,
	PG_IDEM_EXPIRE,
	PG_DURABILITY,
	PG_CALL_COUNT
};

/* Writes that change seats go through bo_feed(): their changes enter the
 * shared feed as the last step of their own transaction. */
static const char *const pg_sql[PG_CALL_COUNT] = {
    [PG_HOLD] = "SELECT bo_feed(hold_seats_for_user($1, $2, $3::int[], $4::int[], $5::interval, "
                "$6::interval, $7))",
    [PG_HOLD_BEST] =
        "SELECT bo_feed(hold_best_seats($1, $2, $3, $4, $5::interval, $6::interval, $7))",
    [PG_CONFIRM] = "SELECT bo_feed(confirm_booking($1, $2, $3::int[], $4::int[]))",
    [PG_RELEASE] = "SELECT bo_feed(release_seats($1, $2, $3::int[], $4::int[]))",
    [PG_CANCEL] = "SELECT bo_feed(cancel_booking($1, $2))",
    [PG_EXPIRE] = "SELECT bo_feed(expire_holds())",
    [PG_CREATE_SCREEN] = "SELECT create_screen($1, $2, $3)",
    [PG_CREATE_MOVIE] = "SELECT create_movie($1, $2, $3::date)",
    [PG_CREATE_SHOW] = "SELECT create_show($1, $2, to_timestamp($3::bigint / 1000.0))",
    [PG_CANCEL_SHOW] = "SELECT bo_feed(cancel_show($1))",
    [PG_ACTIVE_SHOWS] = "SELECT get_active_shows()",
    [PG_SHOW_DETAILS] = "SELECT get_show_seat_details($1)",
    [PG_BOOKING_DETAILS] = "SELECT get_booking_details($1, $2)",
    [PG_USER_BOOKINGS] = "SELECT get_user_bookings($1)",
    [PG_USER_BOOKINGS_PAGE] = "SELECT get_user_bookings_page($1, $2, $3, $4)",
    [PG_NEXT_EXPIRY] = "SELECT floor(extract(epoch FROM next_hold_expiry()) * 1000)::bigint",
    [PG_PING] = "SELECT 1",
    [PG_DURABILITY] = "SELECT json_build_object('fsync', current_setting('fsync'), "
                      "'synchronous_commit', current_setting('synchronous_commit'), "
                      "'full_page_writes', current_setting('full_page_writes'))",
    [PG_SET_CLOCK] =
        "SELECT set_config('boxoffice.now', to_timestamp($1::bigint / 1000.0)::text, false)",
    [PG_IDEM_GET] = "SELECT request, status_code, body FROM idempotency WHERE key = $1 "
                    "AND created_at > bo_now() - $2::interval FOR UPDATE",
    /* A live record wins over ours (0 rows): we roll back and replay it. */
    [PG_IDEM_PUT] = "INSERT INTO idempotency (key, request, status_code, body, created_at) "
                    "VALUES ($1, $2, $3, $4, bo_now()) ON CONFLICT (key) DO UPDATE SET "
                    "request = EXCLUDED.request, status_code = EXCLUDED.status_code, "
                    "body = EXCLUDED.body, created_at = EXCLUDED.created_at "
                    "WHERE idempotency.created_at <= bo_now() - $5::interval",
    [PG_IDEM_EXPIRE] = "WITH gone AS (DELETE FROM idempotency WHERE created_at <= "
                       "bo_now() - $1::interval RETURNING 1) SELECT count(*) FROM gone",
};

struct pg_conn {
	PGconn *conn;
	unsigned long prepared; /* bit per pg_call_id */
	struct pg_conn *next;
};

/* The newest seq of a show that the listener has been told about. */
struct pg_known {
	int64_t show_id, seq;
};

struct pg_state {
	struct store_config cfg;
	char *url;

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct pg_conn *free_conns;
	int created, max_conns;
	struct pg_conn **all;

	struct cmdqueue queue;
	pthread_t *workers;
	int nworkers;

	/* The feed tailer. tail_lock guards the known seqs and is held while
	 * an event is handed to the listener, so feed_head and delivery agree. */
	pthread_t tail_thread;
	int tail_started;
	pthread_mutex_t tail_lock;
	pthread_cond_t tail_cond;
	int tail_stop, tail_poked;
	struct pg_known *known; /* sorted by show_id */
	size_t nknown, known_cap;

	struct store_listener *listener;
};

/* ---- connections ---- */

static PGconn *pg_connect(const char *url)
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

static void pg_now_plus(struct timespec *ts, int ms)
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
static struct pg_conn *pg_acquire(struct pg_state *s)
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

static void pg_release(struct pg_state *s, struct pg_conn *c)
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
static int pg_set_clock(struct pg_state *s, struct pg_conn *c)
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
static PGresult *pg_run(struct pg_state *s, struct pg_conn *c, enum pg_call_id id, int nparams,
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

static int pg_retryable(const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

/* The single value of a one-row result as JSON: parsed jsonb, a scalar,
 * or null for NULL and void. Returns NULL when it is none of those. */
static json_t *pg_value(const PGresult *r)
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
static int pg_call(struct pg_state *s, enum pg_call_id id, int nparams, const char *const *params,
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

/* ---- decoding answers ---- */

static enum outcome pg_outcome(json_t *res)
{
	const char *name = json_string_value(json_object_get(res, "outcome"));

	if (name == NULL)
		return OUTCOME_UNAVAILABLE;
	for (int o = 0; o < OUTCOME_COUNT; o++)
		if (strcmp(outcome_name((enum outcome)o), name) == 0)
			return (enum outcome)o;
	return OUTCOME_UNAVAILABLE;
}

static int64_t pg_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void pg_text(json_t *obj, const char *key, char *dst, size_t size)
{
	const char *v = json_string_value(json_object_get(obj, key));

	snprintf(dst, size, "%s", v ? v : "");
}

/* [[row, number], ...] -> seats; returns the count kept (at most max). */
static int pg_seats(json_t *arr, struct seat *out, int max)
{
	size_t i;
	json_t *v;
	int n = 0;

	json_array_foreach(arr, i, v)
	{
		if (n == max)
			break;
		out[n].row = (int)json_integer_value(json_array_get(v, 0));
		out[n].number = (int)json_integer_value(json_array_get(v, 1));
		n++;
	}
	return n;
}

static int pg_booking(json_t *o, struct booking *b)
{
	memset(b, 0, sizeof(*b));
	if (!json_is_object(o))
		return -1;
	pg_text(o, "reference", b->reference, sizeof(b->reference));
	const char *status = json_string_value(json_object_get(o, "status"));
	if (status == NULL || booking_status_parse(status, &b->status) != 0)
		return -1;
	pg_text(o, "username", b->username, sizeof(b->username));
	b->show_id = pg_int(o, "showId");
	pg_text(o, "movieName", b->movie_name, sizeof(b->movie_name));
	pg_text(o, "screenName", b->screen_name, sizeof(b->screen_name));
	b->show_time = pg_int(o, "showTime");
	b->created_at = pg_int(o, "createdAt");
	b->expires_at = b->status == BOOKING_STAGED ? pg_int(o, "expiresAt") : 0;
	b->confirmed_at = pg_int(o, "confirmedAt");
	b->cancelled_at = pg_int(o, "cancelledAt");
	b->nseats = pg_seats(json_object_get(o, "seats"), b->seats, BOOKING_SEATS_MAX);
	return 0;
}

static enum seat_status pg_seat_status(const char *s)
{
	enum seat_status st = SEAT_AVAILABLE;

	if (s != NULL && seat_status_parse(s, &st) != 0)
		st = SEAT_AVAILABLE;
	return st;
}

/* [[show, row, number, status], ...] -> cmd->changes. */
static int pg_changes(json_t *arr, struct store_cmd *cmd)
{
	size_t n = json_array_size(arr), i;
	json_t *v;

	cmd->nchanges = 0;
	if (n == 0)
		return 0;
	struct seat_change *p = realloc(cmd->changes, n * sizeof(*p));
	if (p == NULL)
		return -1;
	cmd->changes = p;
	json_array_foreach(arr, i, v)
	{
		p[i].show_id = (int64_t)json_integer_value(json_array_get(v, 0));
		p[i].seat.row = (int)json_integer_value(json_array_get(v, 1));
		p[i].seat.number = (int)json_integer_value(json_array_get(v, 2));
		p[i].status = pg_seat_status(json_string_value(json_array_get(v, 3)));
	}
	cmd->nchanges = n;
	return 0;
}

static void pg_tail_poke(struct pg_state *s);

/* ---- writes ---- */

struct pg_args {
	char buf[8][2048];
	const char *v[8];
	int n;
};

static void pg_arg(struct pg_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pg_arg(struct pg_args *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->buf[a->n], sizeof(a->buf[a->n]), fmt, ap);
	va_end(ap);
	a->v[a->n] = a->buf[a->n];
	a->n++;
}

static void pg_arg_null(struct pg_args *a)
{
	a->v[a->n++] = NULL;
}

/* Two int[] literals: rows and numbers of the command's seats. */
static void pg_arg_seats(struct pg_args *a, const struct store_cmd *cmd)
{
	char *rows = a->buf[a->n], *nums = a->buf[a->n + 1];
	size_t lr = 0, ln = 0;

	rows[lr++] = '{';
	nums[ln++] = '{';
	for (int i = 0; i < cmd->nseats; i++) {
		lr +=
		    (size_t)snprintf(rows + lr, 2048 - lr, "%s%d", i ? "," : "", cmd->seats[i].row);
		ln += (size_t)snprintf(nums + ln, 2048 - ln, "%s%d", i ? "," : "",
		                       cmd->seats[i].number);
	}
	snprintf(rows + lr, 2048 - lr, "}");
	snprintf(nums + ln, 2048 - ln, "}");
	a->v[a->n] = rows;
	a->v[a->n + 1] = nums;
	a->n += 2;
}

static void pg_arg_hold_limits(struct pg_args *a, const struct pg_state *s)
{
	pg_arg(a, "%lld milliseconds", (long long)s->cfg.hold_ttl_ms);
	pg_arg(a, "%lld milliseconds", (long long)s->cfg.hold_max_lifetime_ms);
	pg_arg(a, "%d", s->cfg.max_seats_per_user);
}

static enum pg_call_id pg_prepare_args(const struct pg_state *s, const struct store_cmd *cmd,
                                       struct pg_args *a)
{
	a->n = 0;
	switch (cmd->op) {
	case STORE_OP_HOLD:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		pg_arg_seats(a, cmd);
		pg_arg_hold_limits(a, s);
		return PG_HOLD;
	case STORE_OP_HOLD_BEST:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		pg_arg(a, "%d", cmd->count);
		pg_arg(a, "%s", cmd->allow_split ? "true" : "false");
		pg_arg_hold_limits(a, s);
		return PG_HOLD_BEST;
	case STORE_OP_CONFIRM:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		pg_arg_seats(a, cmd);
		return PG_CONFIRM;
	case STORE_OP_RELEASE:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		if (cmd->all_seats) {
			pg_arg_null(a);
			pg_arg_null(a);
		} else {
			pg_arg_seats(a, cmd);
		}
		return PG_RELEASE;
	case STORE_OP_CANCEL:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%s", cmd->reference);
		return PG_CANCEL;
	case STORE_OP_EXPIRE_DUE:
		return PG_EXPIRE;
	case STORE_OP_CREATE_SCREEN:
		pg_arg(a, "%s", cmd->name);
		pg_arg(a, "%d", cmd->rows);
		pg_arg(a, "%d", cmd->seats_per_row);
		return PG_CREATE_SCREEN;
	case STORE_OP_CREATE_MOVIE:
		pg_arg(a, "%s", cmd->name);
		pg_arg(a, "%d", cmd->duration_minutes);
		pg_arg(a, "%s", cmd->last_show_date);
		return PG_CREATE_MOVIE;
	case STORE_OP_CREATE_SHOW:
		pg_arg(a, "%lld", (long long)cmd->movie_id);
		pg_arg(a, "%lld", (long long)cmd->screen_id);
		pg_arg(a, "%lld", (long long)cmd->show_time);
		return PG_CREATE_SHOW;
	case STORE_OP_CANCEL_SHOW:
		pg_arg(a, "%lld", (long long)cmd->show_id);
		return PG_CANCEL_SHOW;
	case STORE_OP_NOTIFY:
		break; /* never submitted */
	}
	return PG_PING;
}

/* Fills the command's results from the function's answer. */
static int pg_decode_write(struct store_cmd *cmd, json_t *res)
{
	enum outcome o = pg_outcome(res);
	json_t *obj;

	cmd->nbad = pg_seats(json_object_get(res, "seats"), cmd->bad, BOOKING_SEATS_MAX);
	if (o != OUTCOME_OK) {
		cmd->outcome = o;
		return 0;
	}
	if (pg_changes(json_object_get(res, "changes"), cmd) != 0)
		return -1;
	switch (cmd->op) {
	case STORE_OP_EXPIRE_DUE:
		cmd->expired = pg_int(res, "expired");
		break;
	case STORE_OP_CREATE_SCREEN:
		obj = json_object_get(res, "screen");
		cmd->created_id = pg_int(obj, "screenId");
		cmd->total_seats = (int)pg_int(obj, "totalSeats");
		o = OUTCOME_CREATED;
		break;
	case STORE_OP_CREATE_MOVIE:
		cmd->created_id = pg_int(json_object_get(res, "movie"), "movieId");
		o = OUTCOME_CREATED;
		break;
	case STORE_OP_CREATE_SHOW:
		obj = json_object_get(res, "show");
		cmd->created_id = pg_int(obj, "showId");
		cmd->created_end = pg_int(obj, "endTime");
		cmd->total_seats = (int)pg_int(obj, "totalSeats");
		o = OUTCOME_CREATED;
		break;
	case STORE_OP_CANCEL_SHOW:
		cmd->created_id = cmd->show_id;
		break;
	default:
		if (pg_booking(json_object_get(res, "booking"), &cmd->booking) != 0)
			return -1;
		if (cmd->op == STORE_OP_HOLD_BEST) {
			cmd->nseats = cmd->booking.nseats;
			memcpy(cmd->seats, cmd->booking.seats, sizeof(cmd->seats));
		}
	}
	cmd->outcome = o;
	return 0;
}

static int pg_exec_ok(PGconn *c, const char *sql);

/* Settles a keyed command from a live record of its key (row 0 of r):
 * the same request is replayed, another one refused. */
static int pg_idem_settle(struct store_cmd *cmd, const PGresult *r)
{
	const char *req = PQgetvalue(r, 0, 0);
	size_t req_len = (size_t)PQgetlength(r, 0, 0);

	cmd->nchanges = 0;
	if (req_len != cmd->idem_request_len || memcmp(req, cmd->idem_request, req_len) != 0) {
		cmd->outcome = OUTCOME_IDEMPOTENCY_KEY_REUSED;
		return 0;
	}
	unsigned status = (unsigned)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
	if (store_cmd_set_answer(cmd, status, PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2)) !=
	    0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	cmd->replayed = true;
	return 0;
}

/* One attempt of a keyed command in one transaction: look the key up
 * (locking a live record), run the operation, keep its answer. Returns 0
 * when settled, 1 to try again (a concurrent first request won the key,
 * or a serialization failure), -1 on a storage error. Rolls back itself. */
static int pg_keyed_attempt(struct pg_state *s, struct pg_conn *c, struct store_cmd *cmd,
                            enum pg_call_id id, const struct pg_args *a, json_t **res)
{
	char ttl[48], status[16];
	PGresult *r = NULL;
	int rc = -1;

	snprintf(ttl, sizeof(ttl), "%lld milliseconds", (long long)s->cfg.idempotency_ttl_ms);
	if (pg_exec_ok(c->conn, "BEGIN") != 0)
		return -1;
	const char *get[] = {cmd->idem_key, ttl};
	r = pg_run(s, c, PG_IDEM_GET, 2, get);
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
		goto fail;
	if (PQntuples(r) == 1) {
		rc = pg_idem_settle(cmd, r);
		PQclear(r);
		pg_exec_ok(c->conn, rc == 0 ? "COMMIT" : "ROLLBACK");
		return rc;
	}
	PQclear(r);
	r = pg_run(s, c, id, a->n, a->v);
	if (r == NULL || (*res = pg_value(r)) == NULL || pg_decode_write(cmd, *res) != 0)
		goto fail;
	PQclear(r);
	r = NULL;

	unsigned code;
	char *body;
	size_t len;
	if (cmd->answer(cmd, &code, &body, &len) != 0)
		goto fail;
	int kept = store_cmd_set_answer(cmd, code, body, len);
	free(body);
	if (kept != 0)
		goto fail;
	if (store_answer_storable(code)) {
		snprintf(status, sizeof(status), "%u", code);
		const char *put[] = {cmd->idem_key, cmd->idem_request, status, cmd->answer_body,
		                     ttl};
		r = pg_run(s, c, PG_IDEM_PUT, 5, put);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
			goto fail;
		if (strcmp(PQcmdTuples(r), "1") != 0) {
			rc = 1; /* another request with this key committed first */
			goto fail;
		}
		PQclear(r);
		r = NULL;
	}
	if (pg_exec_ok(c->conn, "COMMIT") != 0)
		return -1;
	return 0;
fail:
	if (rc == -1 && pg_retryable(r))
		rc = 1;
	PQclear(r);
	if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
		pg_exec_ok(c->conn, "ROLLBACK");
	return rc;
}

/* A command with an Idempotency-Key: several statements in one
 * transaction on one connection (the answer is built between them). */
static void pg_execute_keyed(struct pg_state *s, struct store_cmd *cmd, enum pg_call_id id,
                             const struct pg_args *a)
{
	struct pg_conn *c = pg_acquire(s);
	json_t *res = NULL;

	if (c == NULL)
		return;
	for (int attempt = 0; attempt < PG_RETRIES; attempt++) {
		store_cmd_reset_output(cmd);
		json_decref(res);
		res = NULL;
		int rc = pg_keyed_attempt(s, c, cmd, id, a, &res);
		if (rc == 0)
			break;
		store_cmd_reset_output(cmd);
		if (rc < 0)
			break;
	}
	pg_release(s, c);
	json_decref(res);
}

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

/* ---- reads ---- */

static int pg_active_shows(void *state, struct show_summary **out, size_t *n)
{
	json_t *res, *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (pg_call(state, PG_ACTIVE_SHOWS, 0, NULL, &res) != 0)
		return STORE_ERR;
	json_t *shows = json_object_get(res, "shows");
	size_t count = json_array_size(shows);
	struct show_summary *list = count ? calloc(count, sizeof(*list)) : NULL;
	if (count && list == NULL) {
		json_decref(res);
		return STORE_ERR;
	}
	json_array_foreach(shows, i, v)
	{
		struct show_summary *x = &list[i];
		x->show_id = pg_int(v, "showId");
		x->movie_id = pg_int(v, "movieId");
		x->screen_id = pg_int(v, "screenId");
		pg_text(v, "movieName", x->movie_name, sizeof(x->movie_name));
		pg_text(v, "screenName", x->screen_name, sizeof(x->screen_name));
		x->duration_minutes = (int)pg_int(v, "durationMinutes");
		x->show_time = pg_int(v, "showTime");
		x->total_seats = (int)pg_int(v, "totalSeats");
		x->available_seats = (int)pg_int(v, "availableSeats");
	}
	json_decref(res);
	*out = list;
	*n = count;
	return STORE_OK;
}

static int pg_show_details(void *state, int64_t show_id, struct show_details *d, enum outcome *o)
{
	char id[24];
	const char *params[] = {id};
	json_t *res;

	memset(d, 0, sizeof(*d));
	snprintf(id, sizeof(id), "%lld", (long long)show_id);
	if (pg_call(state, PG_SHOW_DETAILS, 1, params, &res) != 0)
		return STORE_ERR;
	*o = pg_outcome(res);
	if (*o != OUTCOME_OK) {
		json_decref(res);
		return *o == OUTCOME_UNAVAILABLE ? STORE_ERR : STORE_OK;
	}
	json_t *sh = json_object_get(res, "show");
	d->show_id = pg_int(sh, "showId");
	pg_text(sh, "movieName", d->movie_name, sizeof(d->movie_name));
	pg_text(sh, "screenName", d->screen_name, sizeof(d->screen_name));
	pg_text(sh, "status", d->status, sizeof(d->status));
	d->duration_minutes = (int)pg_int(sh, "durationMinutes");
	d->show_time = pg_int(sh, "showTime");
	d->rows = (int)pg_int(sh, "rows");
	d->seats_per_row = (int)pg_int(sh, "seatsPerRow");
	d->total_seats = (int)pg_int(sh, "totalSeats");
	json_t *next = json_object_get(sh, "nextExpiry");
	d->next_expiry = json_is_integer(next) ? (int64_t)json_integer_value(next) : INT64_MAX;
	int total = d->total_seats > 0 ? d->total_seats : 1;
	if (store_show_details_alloc(d) != 0) {
		json_decref(res);
		return STORE_ERR;
	}
	d->navailable = pg_seats(json_object_get(sh, "available"), d->available, total);
	d->nheld = pg_seats(json_object_get(sh, "held"), d->held, total);
	d->nbooked = pg_seats(json_object_get(sh, "booked"), d->booked, total);
	json_decref(res);
	return STORE_OK;
}

static int pg_booking_details(void *state, const char *username, const char *reference,
                              struct booking *out, enum outcome *o)
{
	const char *params[] = {username, reference};
	json_t *res;
	int rc = STORE_OK;

	if (pg_call(state, PG_BOOKING_DETAILS, 2, params, &res) != 0)
		return STORE_ERR;
	*o = pg_outcome(res);
	if (*o == OUTCOME_OK && pg_booking(json_object_get(res, "booking"), out) != 0)
		rc = STORE_ERR;
	if (*o == OUTCOME_UNAVAILABLE)
		rc = STORE_ERR;
	json_decref(res);
	return rc;
}

/* The user's bookings, all (page NULL) or one page: one more than the page
 * is asked for, to know whether more follow; keys are the creation time in
 * microseconds and the id. */
static int pg_user_bookings_rows(void *state, const char *username, const struct store_page *page,
                                 struct booking **out, size_t *n, struct store_page_next *next)
{
	char limit[16], after_us[24], after_id[24];
	const char *params[] = {username, limit, NULL, NULL};
	json_t *res, *v;
	size_t i;
	int rc = STORE_OK;

	*out = NULL;
	*n = 0;
	if (page != NULL) {
		snprintf(limit, sizeof(limit), "%d", page->limit + 1);
		if (page->has_after) {
			snprintf(after_us, sizeof(after_us), "%lld",
			         (long long)page->after.created_at);
			snprintf(after_id, sizeof(after_id), "%lld", (long long)page->after.id);
			params[2] = after_us;
			params[3] = after_id;
		}
	}
	if (pg_call(state, page ? PG_USER_BOOKINGS_PAGE : PG_USER_BOOKINGS, page ? 4 : 1, params,
	            &res) != 0)
		return STORE_ERR;
	json_t *list = json_object_get(res, "bookings");
	size_t count = json_array_size(list);
	if (page != NULL && count > (size_t)page->limit) {
		json_t *key = json_array_get(json_object_get(res, "keys"), (size_t)page->limit - 1);
		count = (size_t)page->limit;
		next->more = 1;
		next->after.created_at = json_integer_value(json_array_get(key, 0));
		next->after.id = json_integer_value(json_array_get(key, 1));
	}
	struct booking *b = count ? malloc(count * sizeof(*b)) : NULL;
	if (count && b == NULL) {
		json_decref(res);
		return STORE_ERR;
	}
	json_array_foreach(list, i, v)
	{
		if (i < count && pg_booking(v, &b[i]) != 0)
			rc = STORE_ERR;
	}
	json_decref(res);
	if (rc != STORE_OK) {
		free(b);
		return rc;
	}
	*out = b;
	*n = count;
	return STORE_OK;
}

static int pg_user_bookings(void *state, const char *username, struct booking **out, size_t *n)
{
	return pg_user_bookings_rows(state, username, NULL, out, n, NULL);
}

static int pg_user_bookings_page(void *state, const char *username, const struct store_page *page,
                                 struct booking **out, size_t *n, struct store_page_next *next)
{
	next->more = 0;
	return pg_user_bookings_rows(state, username, page, out, n, next);
}

static int pg_next_expiry(void *state, int64_t *at)
{
	json_t *res;

	*at = INT64_MAX;
	if (pg_call(state, PG_NEXT_EXPIRY, 0, NULL, &res) != 0)
		return STORE_ERR;
	if (json_is_integer(res))
		*at = (int64_t)json_integer_value(res);
	json_decref(res);
	return STORE_OK;
}

static int pg_ping(void *state)
{
	json_t *res;

	if (pg_call(state, PG_PING, 0, NULL, &res) != 0)
		return STORE_ERR;
	json_decref(res);
	return STORE_OK;
}

/* PostgreSQL's own promises for a committed write: fsync and
 * full_page_writes are server-wide; synchronous_commit is per session, as
 * this pool's sessions get it (server, database or role default). "on",
 * "local", "remote_write" and "remote_apply" all flush the local WAL before
 * the commit returns; only "off" does not. */
static int pg_durability(void *state, struct store_durability *out)
{
	static const struct {
		const char *name, *unsafe, *risk;
	} checks[] = {
	    {"fsync", "off",
	     "nothing is flushed to disk: an operating-system crash or a power cut can lose "
	     "acknowledged bookings and corrupt the database"},
	    {"synchronous_commit", "off",
	     "commits are acknowledged before their WAL is on disk: a crash can lose the last "
	     "acknowledged bookings"},
	    {"full_page_writes", "off",
	     "a page torn by a power cut cannot be repaired from the WAL: the database can be "
	     "corrupted"},
	};
	json_t *res;

	if (pg_call(state, PG_DURABILITY, 0, NULL, &res) != 0)
		return STORE_ERR;
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		const char *v = json_string_value(json_object_get(res, checks[i].name));
		store_durability_add(out, checks[i].name, v ? v : "unknown",
		                     v != NULL && strcmp(v, checks[i].unsafe) == 0 ? checks[i].risk
		                                                                   : NULL);
	}
	json_decref(res);
	return STORE_OK;
}

/* One verify check on the snapshot's connection. */
static int pg_verify_query(void *arg, const char *sql, long long *violations, char *example,
                           size_t size)
{
	PGconn *conn = arg;
	PGresult *r = PQexec(conn, sql);

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		fprintf(stderr, "boxoffice: pg: verify: %s", PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	*violations = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(example, size, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	return 0;
}

/* Runs every invariant check on one consistent snapshot. */
static int pg_verify(void *state, struct store_report *report)
{
	struct pg_state *s = state;
	struct pg_conn *c = pg_acquire(s);
	int rc;

	if (c == NULL || c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK ||
	    (s->cfg.clock != NULL && pg_set_clock(s, c) != 0) ||
	    pg_exec_ok(c->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") != 0) {
		if (c != NULL)
			pg_release(s, c);
		return STORE_ERR;
	}
	/* bo_now(): the store's clock (a test clock when one is set). */
	rc = store_verify_run(report, "bo_now()", pg_verify_query, c->conn) == 0 ? STORE_OK
	                                                                         : STORE_ERR;
	pg_exec_ok(c->conn, "ROLLBACK");
	pg_release(s, c);
	return rc;
}

/* Runs fn under a database-wide advisory lock, so that nodes starting
 * together do not both seed the demo data. */
static int pg_exclusive(void *state, int (*fn)(void *arg), void *arg)
{
	struct pg_state *s = state;
	struct pg_conn *c = pg_acquire(s);
	char sql[96];
	int rc;

	if (c == NULL || c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK) {
		if (c != NULL)
			pg_release(s, c);
		return STORE_ERR;
	}
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%d)", PG_EXCLUSIVE_LOCK);
	if (pg_exec_ok(c->conn, sql) != 0) {
		pg_release(s, c);
		return STORE_ERR;
	}
	rc = fn(arg);
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d)", PG_EXCLUSIVE_LOCK);
	pg_exec_ok(c->conn, sql);
	pg_release(s, c);
	return rc;
}

/* ---- the change feed ---- */

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

static int pg_feed_head(void *state, int64_t show_id, int64_t *seq)
{
	struct pg_state *s = state;

	pthread_mutex_lock(&s->tail_lock);
	struct pg_known *k = pg_known_find(s, show_id);
	*seq = k ? k->seq : 0;
	pthread_mutex_unlock(&s->tail_lock);
	return STORE_OK;
}

static void pg_tail_poke(struct pg_state *s)
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
static int pg_feed_start(struct pg_state *s, PGconn *c)
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

static void *pg_tail_main(void *arg)
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

/* ---- schema ---- */

static int pg_exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "boxoffice: pg: %s", PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

/* A migration whose first line is this marker holds only CREATE OR REPLACE
 * statements (the stored functions): it is applied again, in one
 * transaction, whenever its text differs from the text last applied, so a
 * fixed function reaches databases made by an earlier release. Every other
 * migration runs once, forward only. */
#define PG_REPEATABLE_MARK "-- boxoffice: repeatable"

/* 1 when migration m must run now, 0 when it is applied as it is, -1 on
 * error. */
static int pg_migration_due(PGconn *c, const struct embedded_sql *m)
{
	char version[16];
	const char *params[2] = {version, m->text};
	PGresult *r;
	int due = -1;

	snprintf(version, sizeof(version), "%d", m->version);
	r = PQexecParams(c,
	                 "SELECT checksum IS NOT DISTINCT FROM md5($2) FROM schema_migrations "
	                 "WHERE version = $1::int",
	                 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		bool repeatable =
		    strncmp(m->text, PG_REPEATABLE_MARK, strlen(PG_REPEATABLE_MARK)) == 0;
		if (PQntuples(r) == 0)
			due = 1;
		else
			due = repeatable && strcmp(PQgetvalue(r, 0, 0), "t") != 0;
	} else {
		fprintf(stderr, "boxoffice: pg: %s", PQerrorMessage(c));
	}
	PQclear(r);
	return due;
}

/* Applies migration m and records it with its checksum, in one
 * transaction. */
static int pg_migration_apply(PGconn *c, const struct embedded_sql *m)
{
	char version[16];
	const char *params[2] = {version, m->text};
	PGresult *r;
	int ok;

	snprintf(version, sizeof(version), "%d", m->version);
	if (pg_exec_ok(c, "BEGIN") != 0)
		return -1;
	ok = pg_exec_ok(c, m->text) == 0;
	if (ok) {
		r = PQexecParams(c,
		                 "INSERT INTO schema_migrations (version, checksum) "
		                 "VALUES ($1::int, md5($2)) ON CONFLICT (version) DO UPDATE "
		                 "SET checksum = excluded.checksum, applied_at = now()",
		                 2, NULL, params, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "boxoffice: pg: %s", PQerrorMessage(c));
		PQclear(r);
	}
	if (ok && pg_exec_ok(c, "COMMIT") == 0)
		return 0;
	fprintf(stderr, "boxoffice: pg: migration %s failed\n", m->name);
	pg_exec_ok(c, "ROLLBACK");
	return -1;
}

/* Refuses a database migrated by a newer boxoffice: forward only, an
 * older binary must not write a schema it does not know. */
static int pg_newer_schema(PGconn *c)
{
	int known = 0;
	long newest = 0;
	PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");

	for (const struct embedded_sql *m = embedded_sql_postgres; m->name != NULL; m++)
		known = m->version > known ? m->version : known;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    num_parse_int(PQgetvalue(r, 0, 0), 0, INT_MAX, &newest) != 0) {
		fprintf(stderr, "boxoffice: pg: cannot read the schema version: %s",
		        PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	if (newest <= known)
		return 0;
	fprintf(stderr,
	        "boxoffice: the database has schema version %ld, newer than this boxoffice knows "
	        "(%d): run the newer boxoffice, or restore a backup made before the upgrade\n",
	        newest, known);
	return -1;
}

/* Applies what is missing or changed, under an advisory lock so that
 * nodes starting together do not race. */
static int pg_migrate(PGconn *c)
{
	char sql[160];
	int rc = -1;

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%d)", PG_MIGRATION_LOCK);
	if (pg_exec_ok(c, sql) != 0)
		return -1;
	if (pg_exec_ok(c, "SET client_min_messages = warning") != 0 ||
	    pg_exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, "
	                  "applied_at timestamptz NOT NULL DEFAULT now())") != 0 ||
	    pg_exec_ok(c, "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text") !=
	        0)
		goto unlock;
	if (pg_newer_schema(c) != 0)
		goto unlock;
	for (const struct embedded_sql *m = embedded_sql_postgres; m->name != NULL; m++) {
		int due = pg_migration_due(c, m);
		if (due < 0 || (due > 0 && pg_migration_apply(c, m) != 0))
			goto unlock;
	}
	rc = 0;
unlock:
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d)", PG_MIGRATION_LOCK);
	pg_exec_ok(c, sql);
	return rc;
}

/* ---- lifecycle ---- */

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
