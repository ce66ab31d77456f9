/* sqlite_internal.h - what the files of the SQLite backend share: its
 * state, its connections, the statement ids and the binder.
 *
 *   store_sqlite.c    the writer thread, batches, the ops table, lifecycle
 *   sqlite_sql.c      the text of every prepared statement
 *   sqlite_conn.c     connections, statements, the binder, the read pool
 *   sqlite_write.c    hold, hold-best, confirm, release, cancel, expiry
 *   sqlite_admin.c    screens, movies, shows
 *   sqlite_idem.c     Idempotency-Key records
 *   sqlite_wcache.c   the writer's caches of user ids and show rows
 *   sqlite_read.c     the reads, booking rows, verify
 *   sqlite_migrate.c  the schema migrations
 *   sqlite_grid.c     hold-best's pick outside the writer (per-show grids)
 *
 * Threads: the writer thread alone uses writer_conn and runs the write
 * functions; a reader borrows a connection of its own from the pool. */
#ifndef BOXOFFICE_STORE_SQLITE_INTERNAL_H
#define BOXOFFICE_STORE_SQLITE_INTERNAL_H

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "core/holdrule.h"
#include "store/backend.h"
#include "store/cmdqueue.h"
#include "store/store.h"

enum {
	SQ_BATCH_MAX = 64,   /* commands per transaction */
	SQ_QUEUE_MAX = 8192, /* queued commands before STORE_EBUSY */
	SQ_BUSY_TIMEOUT_MS = 5000,
	SQ_REF_ATTEMPTS = 16, /* fresh references tried on a collision */
	SQ_PATH_MAX = 4096,
	/* The writer's savepoint journal stays in memory up to this size, in
	 * one chunk (SQLITE_CONFIG_STMTJRNL_SPILL). SQLite's default, 64 KiB,
	 * is less than a batch of holds journals once: past it every journal
	 * write of the transaction was a pwrite to a temp file (strace: 88
	 * temp files and 35,000 pwrites in 2 s of holds). */
	SQ_STMTJRNL_SPILL = 1 << 20,
};

/* Prepared statements, by index; text in sq_sql[] (sqlite_sql.c). */
enum sq_stmt_id {
	SQ_BEGIN,
	SQ_BEGIN_IMMEDIATE,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,
	SQ_ACTIVE_SHOWS,
	SQ_SHOW,
	SQ_SHOW_SEATS,
	SQ_BOOKING_BY_REF,
	SQ_BOOKING_BY_ID,
	SQ_BOOKINGS_OF_USER,
	SQ_BOOKINGS_OF_USER_PAGE,
	SQ_BOOKING_SEATS,
	SQ_NEXT_EXPIRY,
	SQ_USER_GET,
	SQ_USER_INSERT,
	SQ_SHOW_FOR_WRITE,
	SQ_CART_GET,
	SQ_CART_EXPIRE,
	SQ_CART_INSERT,
	SQ_SEAT_TAKE,
	SQ_SEAT_MINE,
	SQ_SEAT_FREE,
	SQ_BSEAT_INSERT,
	SQ_CART_COUNT,
	SQ_CART_REFRESH,
	SQ_CART_SEATS_REFRESH,
	SQ_SEAT_BOOK,
	SQ_BOOKING_HELD_SEATS,
	SQ_BOOKING_ALL_SEATS,
	SQ_BOOKING_FREE_HELD,
	SQ_BOOKING_FREE_ALL,
	SQ_BSEAT_KEEP_BOOKED,
	SQ_BOOKING_CONFIRM,
	SQ_SEAT_STATE,
	SQ_BSEAT_COUNT,
	SQ_SEAT_RELEASE,
	SQ_BSEAT_DELETE_ONE,
	SQ_BSEAT_DELETE_ALL,
	SQ_BOOKING_SET_TOTAL,
	SQ_BOOKING_CANCEL,
	SQ_BOOKING_FIND,
	SQ_EXPIRE_SEATS,
	SQ_EXPIRE_CARTS,
	SQ_SCREEN_INSERT,
	SQ_MOVIE_INSERT,
	SQ_MOVIE_GET,
	SQ_SCREEN_GET,
	SQ_SHOW_OVERLAP,
	SQ_SHOW_INSERT,
	SQ_SEAT_INSERT,
	SQ_SHOW_CANCEL,
	SQ_IDEM_GET,
	SQ_IDEM_DELETE,
	SQ_IDEM_INSERT,
	SQ_IDEM_EXPIRE,
	SQ_DATA_VERSION,
	SQ_STMT_COUNT
};

extern const char *const sq_sql[SQ_STMT_COUNT];

struct sq_wcache;

/* One connection with its cached prepared statements (prepared once, on
 * first use, kept until the connection closes). */
struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[SQ_STMT_COUNT];
	struct sq_wcache *wcache; /* the writer's connection only (else NULL) */
	struct sq_conn *next_free;
	struct sq_conn *next_all;
};

struct sq_state {
	struct store_config cfg;
	char path[SQ_PATH_MAX];
	struct store_listener *listener;

	pthread_mutex_t pool_lock;
	struct sq_conn *free_conns;
	struct sq_conn *all_conns;

	struct sq_conn *writer_conn;
	pthread_t writer;
	int writer_started;
	struct cmdqueue queue;

	struct sq_grids *grids; /* sqlite_grid.c */
};

/* ---- sqlite_conn.c ---- */

void sq_log(sqlite3 *db, const char *what);
int64_t sq_now(const struct sq_state *s);
/* booking_random_fn over the configured random source (arg: the state). */
int sq_random(void *state, void *buf, size_t len);

struct sq_conn *sq_conn_open(const char *path);
void sq_conn_close(struct sq_conn *c);
/* Borrows a reader connection (opening one when none is free); NULL on
 * failure. Give it back with sq_reader_put. */
struct sq_conn *sq_reader_get(struct sq_state *s);
void sq_reader_put(struct sq_state *s, struct sq_conn *c);

/* The binder. A format names each parameter's type with printf's own
 * conversions, so that the compiler checks every argument against it:
 *   "%d" int    SQ_I64 int64_t    "%s" text (NUL-terminated)
 *   "%.*s" text of an int length (two arguments: length, then bytes)
 * one conversion per parameter ?1, ?2, ... in order; anything else in the
 * format is ignored. Text is bound SQLITE_STATIC: it must stay valid
 * until the statement is reset. Debug builds assert that the format binds
 * exactly the statement's parameters. Nothing allocates: statements come
 * from the connection's cache, reset and unbound. */
#define SQ_I64 "%" PRId64

/* Runs a statement that returns no rows. Returns the number of rows it
 * changed, or -1 on an error (logged). */
int sq_run(struct sq_conn *c, enum sq_stmt_id id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Binds and steps once. Returns 1 with *st on the first row (read its
 * columns, then sq_next for more or sq_done to stop early), 0 when there
 * is no row, -1 on an error (logged); on 0 and -1 it is already reset. */
int sq_row(struct sq_conn *c, sqlite3_stmt **st, enum sq_stmt_id id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* sq_row for a statement without parameters. */
int sq_first(struct sq_conn *c, sqlite3_stmt **st, enum sq_stmt_id id);
/* Steps a statement from sq_row again: 1 row, 0 done (reset), -1 error. */
int sq_next(struct sq_conn *c, sqlite3_stmt *st);
/* Ends a statement before its last row. */
void sq_done(sqlite3_stmt *st);
/* Runs a statement without parameters or rows (BEGIN, COMMIT ...): 0 or -1. */
int sq_exec(struct sq_conn *c, enum sq_stmt_id id);
/* The one value of a count over one int64 parameter: 0 or -1. */
int sq_count(struct sq_conn *c, enum sq_stmt_id id, int64_t arg, int64_t *n);
/* Copies a text column (NULL as ""), truncating to size. */
void sq_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col);

/* ---- sqlite_read.c ---- */

/* Fills b from a row of SQ_BOOKING_BY_* with its effective status at now;
 * returns the booking id, or -1 on a bad row. Seats: sq_booking_seats. */
int64_t sq_booking_from_row(sqlite3_stmt *st, int64_t now, struct booking *b);
int sq_booking_seats(struct sq_conn *c, int64_t booking_id, struct booking *b);
/* Loads one booking and its seats by id: 0 or -1. */
int sq_load_booking(struct sq_conn *c, int64_t id, int64_t now, struct booking *b);

int sq_active_shows(void *state, struct show_summary **out, size_t *n);
int sq_show_details(void *state, int64_t show_id, struct show_details *d, enum outcome *o);
int sq_booking_details(void *state, const char *username, const char *reference,
                       struct booking *out, enum outcome *o);
int sq_user_bookings(void *state, const char *username, struct booking **out, size_t *n);
int sq_user_bookings_page(void *state, const char *username, const struct store_page *page,
                          struct booking **out, size_t *n, struct store_page_next *next);
int sq_next_expiry(void *state, int64_t *at);
int sq_ping(void *state);
int sq_durability(void *state, struct store_durability *out);
int sq_verify(void *state, struct store_report *report);

/* ---- sqlite_write.c and sqlite_admin.c (writer thread, inside the open
 * transaction: 0 with cmd->outcome set, or -1 on a storage error) ---- */

int sq_do_hold(struct sq_state *s, struct store_cmd *cmd, int64_t now);
int sq_do_hold_best(struct sq_state *s, struct store_cmd *cmd, int64_t now);
int sq_do_confirm(struct sq_state *s, struct store_cmd *cmd, int64_t now);
int sq_do_release(struct sq_state *s, struct store_cmd *cmd, int64_t now);
int sq_do_cancel(struct sq_state *s, struct store_cmd *cmd, int64_t now);
int sq_do_expire_due(struct sq_state *s, struct store_cmd *cmd, int64_t now);
int sq_do_create_screen(struct sq_state *s, struct store_cmd *cmd);
int sq_do_create_movie(struct sq_state *s, struct store_cmd *cmd);
int sq_do_create_show(struct sq_state *s, struct store_cmd *cmd, int64_t now);
int sq_do_cancel_show(struct sq_state *s, struct store_cmd *cmd);

/* ---- sqlite_idem.c (writer thread) ---- */

/* Looks the command's key up: 1 when a record settles the command
 * (replayed, or refused as a reused key), 0 when it must run, -1 on a
 * storage error. A record past the TTL is deleted and ignored. */
int sq_idem_lookup(struct sq_state *s, struct store_cmd *cmd, int64_t now);
/* Builds the command's answer and keeps it with the write: 0 or -1. */
int sq_idem_store(struct sq_state *s, struct store_cmd *cmd, int64_t now);

/* ---- sqlite_wcache.c (writer thread) ---- */

/* A show's row as sq_show_check uses it. */
struct sq_wc_show {
	int64_t id; /* 0: empty */
	struct holdrule_show sh;
	char movie_name[NAME_MAX_LEN + 1];
	char screen_name[NAME_MAX_LEN + 1];
};

struct sq_wcache *sq_wcache_new(void);
void sq_wcache_free(struct sq_wcache *w);
/* At the start of a batch's transaction: forgets every entry when another
 * connection wrote the file since the last batch. 0 or -1. */
int sq_wcache_begin(struct sq_conn *c, struct sq_wcache *w);
/* Before a command: the mark to drop what it learned if it rolls back. */
size_t sq_wcache_mark(const struct sq_wcache *w);
void sq_wcache_drop(struct sq_wcache *w, size_t mark);
/* After COMMIT: what the batch learned becomes usable. */
void sq_wcache_commit(struct sq_wcache *w);
/* 1 and the id when the user is cached, else 0. */
int sq_wcache_user(const struct sq_wcache *w, const char *name, int64_t *id);
/* Notes a user row read or written in the open transaction. */
void sq_wcache_learn_user(struct sq_wcache *w, const char *name, int64_t id);
/* The cached row of a show, or NULL. */
const struct sq_wc_show *sq_wcache_show(const struct sq_wcache *w, int64_t id);
void sq_wcache_learn_show(struct sq_wcache *w, const struct sq_wc_show *show);
/* A show whose row changes (cancelled): dropped, pending or not. */
void sq_wcache_forget_show(struct sq_wcache *w, int64_t id);

/* ---- sqlite_grid.c ---- */

struct sq_grids;
struct sq_grids *sq_grids_new(void);
void sq_grids_free(struct sq_grids *g);
/* store_ops.pick: any thread, never the writer. */
int sq_pick(void *state, struct store_cmd *cmd);
/* The writer, after its transaction, for every command of the batch:
 * patches the grids with a committed command's seat changes and releases
 * a picked command's pending seats (also for a command never queued). */
void sq_grid_settle(struct sq_state *s, const struct store_cmd *cmd, int committed);

/* ---- sqlite_migrate.c ---- */

/* Applies the embedded migrations newer than the file's user_version. */
int sq_migrate(struct sq_conn *c);

#endif
