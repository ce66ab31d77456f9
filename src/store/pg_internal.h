/* pg_internal.h - what the files of the PostgreSQL backend share: its
 * state, its pooled connections, the call ids and the prototypes.
 *
 *   store_pg.c    the write workers, the ops table, the lifecycle
 *   pg_sql.c      the text of every prepared call
 *   pg_conn.c     connections and pool, prepared calls, the test clock
 *   pg_calls.c    the arguments of each write, the decoding of answers
 *   pg_idem.c     the Idempotency-Key transaction
 *   pg_read.c     the reads, verify, the exclusive section
 *   pg_feed.c     the feed tailer that feeds the listener
 *   pg_migrate.c  the schema migrations
 *
 * Every business rule lives in the stored functions of sql/postgres. */
#ifndef BOXOFFICE_STORE_PG_INTERNAL_H
#define BOXOFFICE_STORE_PG_INTERNAL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "store/backend.h"
#include "store/cmdqueue.h"
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

struct pg_args {
	char buf[8][2048];
	const char *v[8];
	int n;
};

extern const char *const pg_sql[PG_CALL_COUNT];

/* ---- pg_conn.c ---- */

/* A new connection (its status may be bad: check PQstatus). */
PGconn *pg_connect(const char *url);
/* *ts = the real clock plus ms (for timed waits). */
void pg_now_plus(struct timespec *ts, int ms);
/* Borrows a healthy connection; NULL when the database is unreachable or
 * the pool stays exhausted. Give it back with pg_release. */
struct pg_conn *pg_acquire(struct pg_state *s);
void pg_release(struct pg_state *s, struct pg_conn *c);
/* Sets the session's bo_now() to the configured test clock: 0 or -1. */
int pg_set_clock(struct pg_state *s, struct pg_conn *c);
/* Runs a prepared call on c (preparing it, and setting the test clock,
 * first). Returns the result (the caller checks and clears it) or NULL. */
PGresult *pg_run(struct pg_state *s, struct pg_conn *c, enum pg_call_id id, int nparams,
                 const char *const *params);
/* 1 for a serialization failure or a deadlock (worth another attempt). */
int pg_retryable(const PGresult *r);
/* The single value of a one-row result as JSON (NULL when it is none). */
json_t *pg_value(const PGresult *r);
/* Calls a prepared function in its own transaction, retrying serialization
 * failures; 0 and its parsed value (the caller decrefs it), or -1. */
int pg_call(struct pg_state *s, enum pg_call_id id, int nparams, const char *const *params,
            json_t **out);
/* Runs a statement without parameters; 0, or -1 (logged). */
int pg_exec_ok(PGconn *c, const char *sql);

/* ---- pg_calls.c ---- */

enum outcome pg_outcome(json_t *res);
int64_t pg_int(json_t *obj, const char *key);
void pg_text(json_t *obj, const char *key, char *dst, size_t size);
/* [[row, number], ...] -> seats; returns the count kept (at most max). */
int pg_seats(json_t *arr, struct seat *out, int max);
/* A booking object -> b: 0, or -1 when it is not one. */
int pg_booking(json_t *o, struct booking *b);
enum seat_status pg_seat_status(const char *s);
/* Fills a with the command's arguments; returns the call to make. */
enum pg_call_id pg_prepare_args(const struct pg_state *s, const struct store_cmd *cmd,
                                struct pg_args *a);
/* Fills the command's results from the function's answer: 0 or -1. */
int pg_decode_write(struct store_cmd *cmd, json_t *res);

/* ---- pg_idem.c ---- */

/* Runs a keyed command (cmd->idem_key set, cmd->answer given). */
void pg_execute_keyed(struct pg_state *s, struct store_cmd *cmd, enum pg_call_id id,
                      const struct pg_args *a);

/* ---- pg_read.c ---- */

int pg_active_shows(void *state, struct show_summary **out, size_t *n);
int pg_show_details(void *state, int64_t show_id, struct show_details *d, enum outcome *o);
int pg_booking_details(void *state, const char *username, const char *reference,
                       struct booking *out, enum outcome *o);
int pg_user_bookings(void *state, const char *username, struct booking **out, size_t *n);
int pg_user_bookings_page(void *state, const char *username, const struct store_page *page,
                          struct booking **out, size_t *n, struct store_page_next *next);
int pg_next_expiry(void *state, int64_t *at);
int pg_ping(void *state);
int pg_durability(void *state, struct store_durability *out);
int pg_verify(void *state, struct store_report *report);
int pg_exclusive(void *state, int (*fn)(void *arg), void *arg);

/* ---- pg_feed.c ---- */

int pg_feed_head(void *state, int64_t show_id, int64_t *seq);
/* Wakes the tailer at once (this node just committed changes). */
void pg_tail_poke(struct pg_state *s);
/* Reads where the feed stands without delivering anything: 0 or -1. */
int pg_feed_start(struct pg_state *s, PGconn *c);
void *pg_tail_main(void *arg);

/* ---- pg_migrate.c ---- */

int pg_migrate(PGconn *c);

#endif
