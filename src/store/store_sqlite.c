/* store_sqlite.c - the embedded backend: SQLite in WAL mode.
 *
 * Readers take a connection from a small pool (one per concurrent reader,
 * so in practice one per HTTP worker thread) and never block the writer.
 * All writes go through one writer thread fed by a bounded queue. The
 * writer commits a batch of commands in one transaction (BEGIN IMMEDIATE,
 * a SAVEPOINT per command, so a refused or failed command rolls back alone)
 * and calls each command's done only after COMMIT returned: the answer is
 * never ahead of durability (synchronous=FULL).
 *
 * Every seat change is a conditional UPDATE whose WHERE clause is the rule
 * (e.g. "AVAILABLE, or HELD with an expiry in the past"); the writer never
 * decides on a value it read earlier in another transaction.
 *
 * Known weak spot: one process owns the file. Two servers on one SQLite file
 * stay correct (BEGIN IMMEDIATE + busy timeout) but do not share caches or
 * events; use PostgreSQL for many nodes. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/bestseat.h"
#include "core/num.h"
#include "core/timefmt.h"
#include "store/cmdqueue.h"
#include "store/embedded_sql.h"
#include "store/store.h"
#include "store/verify_checks.h"

enum {
	SQ_BATCH_MAX = 64,   /* commands per transaction */
	SQ_QUEUE_MAX = 8192, /* queued commands before STORE_EBUSY */
	SQ_BUSY_TIMEOUT_MS = 5000,
	SQ_REF_ATTEMPTS = 16, /* fresh references tried on a collision */
	SQ_PATH_MAX = 4096,
};

/* Prepared statements, by index; text in sq_sql[]. */
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
	SQ_STMT_COUNT
};

#define SQ_BOOKING_COLS                                                                            \
	"SELECT b.id, b.booking_reference, b.status, u.username, b.show_id, m.movie_name, "        \
	"sc.screen_name, s.show_time, b.created_at, b.expires_at, b.confirmed_at, "                \
	"b.cancelled_at FROM bookings b JOIN users u ON u.id = b.user_id "                         \
	"JOIN shows s ON s.id = b.show_id JOIN movies m ON m.id = s.movie_id "                     \
	"JOIN screens sc ON sc.id = s.screen_id "

/* A seat that is HELD past its expiry counts as AVAILABLE: ?now below. */
#define SQ_FREE_SEAT "(status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= ?%d))"
#define SQ_CLEAR_SEAT                                                                              \
	"status = 'AVAILABLE', booking_id = NULL, held_at = NULL, held_by_user_id = NULL, "        \
	"held_expiry = NULL, version = version + 1"

static const char *const sq_sql[SQ_STMT_COUNT] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT cmd",
    [SQ_RELEASE] = "RELEASE cmd",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO cmd",
    [SQ_ACTIVE_SHOWS] =
        "SELECT s.id, s.movie_id, s.screen_id, m.movie_name, sc.screen_name, "
        "m.duration_minutes, s.show_time, sc.total_seats, "
        "(SELECT count(*) FROM seats st WHERE st.show_id = s.id AND (st.status = 'AVAILABLE' "
        "OR (st.status = 'HELD' AND st.held_expiry <= ?1))) "
        "FROM shows s JOIN movies m ON m.id = s.movie_id JOIN screens sc ON sc.id = s.screen_id "
        "WHERE s.status = 'ACTIVE' AND s.show_time > ?1 ORDER BY s.show_time, s.id",
    [SQ_SHOW] = "SELECT s.id, m.movie_name, m.duration_minutes, s.show_time, sc.screen_name, "
                "s.status, sc.rows, sc.seats_per_row, sc.total_seats FROM shows s "
                "JOIN movies m ON m.id = s.movie_id JOIN screens sc ON sc.id = s.screen_id "
                "WHERE s.id = ?1",
    [SQ_SHOW_SEATS] = "SELECT seat_row, seat_number, CASE WHEN status = 'BOOKED' THEN 2 "
                      "WHEN status = 'HELD' AND held_expiry > ?2 THEN 1 ELSE 0 END, held_expiry "
                      "FROM seats WHERE show_id = ?1 ORDER BY seat_row, seat_number",
    [SQ_BOOKING_BY_REF] = SQ_BOOKING_COLS "WHERE b.booking_reference = ?1 AND u.username = ?2",
    [SQ_BOOKING_BY_ID] = SQ_BOOKING_COLS "WHERE b.id = ?1",
    [SQ_BOOKINGS_OF_USER] =
        SQ_BOOKING_COLS "WHERE u.username = ?1 ORDER BY b.created_at DESC, b.id DESC",
    [SQ_BOOKING_SEATS] = "SELECT seat_row, seat_number FROM booking_seats WHERE booking_id = ?1 "
                         "ORDER BY seat_row, seat_number",
    [SQ_NEXT_EXPIRY] = "SELECT min(x) FROM (SELECT min(held_expiry) AS x FROM seats "
                       "WHERE status = 'HELD' UNION ALL SELECT min(expires_at) FROM bookings "
                       "WHERE status = 'STAGED')",
    [SQ_USER_GET] = "SELECT id FROM users WHERE username = ?1",
    [SQ_USER_INSERT] = "INSERT INTO users(username, guid, created_at) VALUES (?1, ?2, ?3)",
    [SQ_SHOW_FOR_WRITE] = "SELECT s.status, s.show_time, sc.rows, sc.seats_per_row FROM shows s "
                          "JOIN screens sc ON sc.id = s.screen_id WHERE s.id = ?1",
    [SQ_CART_GET] = "SELECT id, created_at, expires_at FROM bookings "
                    "WHERE show_id = ?1 AND user_id = ?2 AND status = 'STAGED'",
    [SQ_CART_EXPIRE] = "UPDATE bookings SET status = 'EXPIRED' "
                       "WHERE id = ?1 AND status = 'STAGED' AND expires_at <= ?2",
    [SQ_CART_INSERT] = "INSERT INTO bookings(show_id, user_id, status, total_seats, "
                       "booking_reference, created_at, expires_at) "
                       "VALUES (?1, ?2, 'STAGED', 0, ?3, ?4, ?5) "
                       "ON CONFLICT (booking_reference) DO NOTHING",
    [SQ_SEAT_TAKE] = "UPDATE seats SET status = 'HELD', booking_id = ?4, held_at = ?5, "
                     "held_by_user_id = ?6, held_expiry = ?7, version = version + 1 "
                     "WHERE show_id = ?1 AND seat_row = ?2 AND seat_number = ?3 AND "
                     "(status = 'AVAILABLE' OR (status = 'HELD' AND held_expiry <= ?5))",
    [SQ_SEAT_MINE] =
        "SELECT 1 FROM seats WHERE show_id = ?1 AND seat_row = ?2 AND "
        "seat_number = ?3 AND status = 'HELD' AND booking_id = ?4 AND held_expiry > ?5",
    [SQ_BSEAT_INSERT] = "INSERT OR IGNORE INTO booking_seats(booking_id, show_id, seat_row, "
                        "seat_number) VALUES (?1, ?2, ?3, ?4)",
    [SQ_CART_COUNT] = "SELECT count(*) FROM seats WHERE booking_id = ?1 AND status = 'HELD'",
    [SQ_CART_REFRESH] = "UPDATE bookings SET expires_at = ?2, total_seats = ?3 WHERE id = ?1",
    [SQ_CART_SEATS_REFRESH] = "UPDATE seats SET held_expiry = ?2, version = version + 1 "
                              "WHERE booking_id = ?1 AND status = 'HELD' AND held_expiry <> ?2",
    [SQ_SEAT_BOOK] = "UPDATE seats SET status = 'BOOKED', held_expiry = NULL, "
                     "version = version + 1 WHERE show_id = ?1 AND seat_row = ?2 AND "
                     "seat_number = ?3 AND status = 'HELD' AND booking_id = ?4 AND "
                     "held_by_user_id = ?5 AND held_expiry > ?6",
    [SQ_BOOKING_HELD_SEATS] = "SELECT seat_row, seat_number FROM seats "
                              "WHERE booking_id = ?1 AND status = 'HELD'",
    [SQ_BOOKING_ALL_SEATS] = "SELECT seat_row, seat_number FROM seats WHERE booking_id = ?1",
    [SQ_BOOKING_FREE_HELD] =
        "UPDATE seats SET " SQ_CLEAR_SEAT " WHERE booking_id = ?1 AND status = 'HELD'",
    [SQ_BOOKING_FREE_ALL] = "UPDATE seats SET " SQ_CLEAR_SEAT " WHERE booking_id = ?1",
    [SQ_BSEAT_KEEP_BOOKED] =
        "DELETE FROM booking_seats WHERE booking_id = ?1 AND NOT EXISTS (SELECT 1 FROM seats s "
        "WHERE s.show_id = booking_seats.show_id AND s.seat_row = booking_seats.seat_row AND "
        "s.seat_number = booking_seats.seat_number AND s.booking_id = ?1 AND "
        "s.status = 'BOOKED')",
    [SQ_BOOKING_CONFIRM] =
        "UPDATE bookings SET status = 'CONFIRMED', confirmed_at = ?2, "
        "expires_at = NULL, total_seats = ?3 WHERE id = ?1 AND status = 'STAGED'",
    [SQ_SEAT_STATE] = "SELECT s.status, s.booking_id, b.user_id, b.status FROM seats s "
                      "LEFT JOIN bookings b ON b.id = s.booking_id "
                      "WHERE s.show_id = ?1 AND s.seat_row = ?2 AND s.seat_number = ?3",
    [SQ_BSEAT_COUNT] = "SELECT count(*) FROM booking_seats WHERE booking_id = ?1",
    [SQ_SEAT_RELEASE] =
        "UPDATE seats SET " SQ_CLEAR_SEAT
        " WHERE show_id = ?1 AND seat_row = ?2 AND seat_number = ?3 AND status = 'HELD' "
        "AND booking_id = ?4",
    [SQ_BSEAT_DELETE_ONE] = "DELETE FROM booking_seats WHERE booking_id = ?1 AND seat_row = ?2 "
                            "AND seat_number = ?3",
    [SQ_BSEAT_DELETE_ALL] = "DELETE FROM booking_seats WHERE booking_id = ?1",
    [SQ_BOOKING_SET_TOTAL] = "UPDATE bookings SET total_seats = ?2 WHERE id = ?1",
    [SQ_BOOKING_CANCEL] = "UPDATE bookings SET status = 'CANCELLED', cancelled_at = ?2, "
                          "expires_at = NULL WHERE id = ?1 AND status IN ('STAGED', 'CONFIRMED')",
    [SQ_BOOKING_FIND] = "SELECT b.id, b.status, b.expires_at, s.show_time FROM bookings b "
                        "JOIN users u ON u.id = b.user_id JOIN shows s ON s.id = b.show_id "
                        "WHERE b.booking_reference = ?1 AND u.username = ?2",
    [SQ_EXPIRE_SEATS] =
        "UPDATE seats SET " SQ_CLEAR_SEAT
        " WHERE status = 'HELD' AND held_expiry <= ?1 RETURNING show_id, seat_row, seat_number",
    [SQ_EXPIRE_CARTS] = "UPDATE bookings SET status = 'EXPIRED' WHERE status = 'STAGED' "
                        "AND expires_at <= ?1",
    [SQ_SCREEN_INSERT] = "INSERT INTO screens(screen_name, rows, seats_per_row, total_seats) "
                         "VALUES (?1, ?2, ?3, ?2 * ?3)",
    [SQ_MOVIE_INSERT] = "INSERT INTO movies(movie_name, duration_minutes, last_show_date) "
                        "VALUES (?1, ?2, ?3)",
    [SQ_MOVIE_GET] = "SELECT duration_minutes, last_show_date FROM movies WHERE id = ?1",
    [SQ_SCREEN_GET] = "SELECT rows, seats_per_row, total_seats FROM screens WHERE id = ?1",
    [SQ_SHOW_OVERLAP] = "SELECT 1 FROM shows WHERE screen_id = ?1 AND status = 'ACTIVE' "
                        "AND show_time < ?3 AND end_time > ?2 LIMIT 1",
    [SQ_SHOW_INSERT] = "INSERT INTO shows(movie_id, screen_id, show_time, end_time, status) "
                       "VALUES (?1, ?2, ?3, ?4, 'ACTIVE')",
    [SQ_SEAT_INSERT] = "INSERT INTO seats(show_id, seat_row, seat_number) VALUES (?1, ?2, ?3)",
    [SQ_SHOW_CANCEL] = "UPDATE shows SET status = 'CANCELLED' WHERE id = ?1",
    [SQ_IDEM_GET] = "SELECT request, status_code, body, created_at FROM idempotency WHERE key = ?1",
    [SQ_IDEM_DELETE] = "DELETE FROM idempotency WHERE key = ?1",
    [SQ_IDEM_INSERT] = "INSERT INTO idempotency(key, request, status_code, body, created_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_IDEM_EXPIRE] = "DELETE FROM idempotency WHERE created_at <= ?1",
};

struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[SQ_STMT_COUNT];
	struct sq_conn *next_free;
	struct sq_conn *next_all;
};

struct sq_state {
	struct store_config cfg;
	char path[SQ_PATH_MAX];

	pthread_mutex_t pool_lock;
	struct sq_conn *free_conns;
	struct sq_conn *all_conns;

	struct sq_conn *writer_conn;
	pthread_t writer;
	int writer_started;
	struct cmdqueue queue;

	store_listener_fn listener;
	void *listener_arg;
};

/* ---- connections and statements ---- */

static int64_t sq_now(const struct sq_state *s)
{
	return s->cfg.clock ? s->cfg.clock(s->cfg.clock_arg) : timefmt_now_ms();
}

static int sq_random(const struct sq_state *s, void *buf, size_t len)
{
	if (s->cfg.random)
		return s->cfg.random(s->cfg.random_arg, buf, len);
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

static int sq_random_cb(void *arg, void *buf, size_t len)
{
	return sq_random(arg, buf, len);
}

static void sq_log(sqlite3 *db, const char *what)
{
	fprintf(stderr, "boxoffice: sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no db");
}

#ifdef BOXOFFICE_TESTING
/* Test builds only (tests/powerloss): BOXOFFICE_TEST_SQLITE_SYNCHRONOUS=OFF
 * or NORMAL weakens every connection, so that the power-loss test can show
 * that it notices lost acknowledged writes; BOXOFFICE_TEST_SQLITE_CHECKPOINT=N
 * checkpoints the WAL every N pages, so that power cuts also land in the
 * middle of checkpoints. */
static int sq_test_pragmas(sqlite3 *db)
{
	const char *v = getenv("BOXOFFICE_TEST_SQLITE_SYNCHRONOUS");
	const char *pages = getenv("BOXOFFICE_TEST_SQLITE_CHECKPOINT");
	char sql[64];

	if (pages != NULL && *pages != '\0') {
		long n;
		if (num_parse_int(pages, 1, 1000000, &n) != 0)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint = %ld;", n);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return -1;
	}
	if (v == NULL || *v == '\0')
		return 0;
	if (strcmp(v, "OFF") == 0)
		return sqlite3_exec(db, "PRAGMA synchronous = OFF;", NULL, NULL, NULL);
	if (strcmp(v, "NORMAL") == 0)
		return sqlite3_exec(db, "PRAGMA synchronous = NORMAL;", NULL, NULL, NULL);
	return -1;
}
#endif

static struct sq_conn *sq_conn_open(const char *path)
{
	struct sq_conn *c = calloc(1, sizeof(*c));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

	if (c == NULL)
		return NULL;
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		sq_log(c->db, "open");
		goto fail;
	}
	sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(c->db, 1);
	if (sqlite3_exec(c->db,
	                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
	                 "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		sq_log(c->db, "pragmas");
		goto fail;
	}
#ifdef BOXOFFICE_TESTING
	if (sq_test_pragmas(c->db) != 0) {
		sq_log(c->db, "BOXOFFICE_TEST_SQLITE_*");
		goto fail;
	}
#endif
	return c;
fail:
	sqlite3_close(c->db);
	free(c);
	return NULL;
}

static void sq_conn_close(struct sq_conn *c)
{
	for (int i = 0; i < SQ_STMT_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

/* Returns the statement reset and unbound, preparing it on first use. */
static sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt_id id)
{
	sqlite3_stmt *st = c->stmt[id];

	if (st == NULL) {
		if (sqlite3_prepare_v3(c->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
		                       NULL) != SQLITE_OK) {
			sq_log(c->db, sq_sql[id]);
			return NULL;
		}
		c->stmt[id] = st;
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	return st;
}

/* Runs a statement that returns no rows; returns 0 or -1. */
static int sq_exec(struct sq_conn *c, enum sq_stmt_id id)
{
	sqlite3_stmt *st = sq_stmt(c, id);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_log(c->db, sq_sql[id]);
		return -1;
	}
	return 0;
}

/* Steps a bound statement expected to finish without rows; returns the
 * number of rows changed, or -1. */
static int sq_step_done(struct sq_conn *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int changes = sqlite3_changes(c->db);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_log(c->db, sqlite3_sql(st));
		return -1;
	}
	return changes;
}

/* Steps once; returns 1 for a row, 0 for none, -1 for an error. */
static int sq_step_row(struct sq_conn *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	sq_log(c->db, sqlite3_sql(st));
	return -1;
}

static struct sq_conn *sq_reader_get(struct sq_state *s)
{
	struct sq_conn *c;

	pthread_mutex_lock(&s->pool_lock);
	c = s->free_conns;
	if (c != NULL)
		s->free_conns = c->next_free;
	pthread_mutex_unlock(&s->pool_lock);
	if (c != NULL)
		return c;
	c = sq_conn_open(s->path);
	if (c == NULL)
		return NULL;
	pthread_mutex_lock(&s->pool_lock);
	c->next_all = s->all_conns;
	s->all_conns = c;
	pthread_mutex_unlock(&s->pool_lock);
	return c;
}

static void sq_reader_put(struct sq_state *s, struct sq_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next_free = s->free_conns;
	s->free_conns = c;
	pthread_mutex_unlock(&s->pool_lock);
}

/* ---- loading bookings ---- */

static void sq_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* Fills b from a row of SQ_BOOKING_COLS and the booking's seats. The
 * effective status applies lazy expiry. Returns the booking id or -1. */
static int64_t sq_booking_from_row(sqlite3_stmt *st, int64_t now, struct booking *b)
{
	int64_t id = sqlite3_column_int64(st, 0);
	const char *status = (const char *)sqlite3_column_text(st, 2);

	memset(b, 0, sizeof(*b));
	sq_copy_text(b->reference, sizeof(b->reference), st, 1);
	if (status == NULL || booking_status_parse(status, &b->status) != 0)
		return -1;
	sq_copy_text(b->username, sizeof(b->username), st, 3);
	b->show_id = sqlite3_column_int64(st, 4);
	sq_copy_text(b->movie_name, sizeof(b->movie_name), st, 5);
	sq_copy_text(b->screen_name, sizeof(b->screen_name), st, 6);
	b->show_time = sqlite3_column_int64(st, 7);
	b->created_at = sqlite3_column_int64(st, 8);
	b->expires_at = sqlite3_column_int64(st, 9);
	b->confirmed_at = sqlite3_column_int64(st, 10);
	b->cancelled_at = sqlite3_column_int64(st, 11);
	if (b->status == BOOKING_STAGED && b->expires_at <= now)
		b->status = BOOKING_EXPIRED;
	if (b->status != BOOKING_STAGED)
		b->expires_at = 0;
	return id;
}

static int sq_booking_seats(struct sq_conn *c, int64_t booking_id, struct booking *b)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_BOOKING_SEATS);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, booking_id);
	b->nseats = 0;
	while ((rc = sq_step_row(c, st)) == 1) {
		if (b->nseats == BOOKING_SEATS_MAX)
			continue;
		b->seats[b->nseats].row = sqlite3_column_int(st, 0);
		b->seats[b->nseats].number = sqlite3_column_int(st, 1);
		b->nseats++;
	}
	return rc;
}

/* Loads one booking by id (writer side, after a change). */
static int sq_load_booking(struct sq_conn *c, int64_t id, int64_t now, struct booking *b)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_BOOKING_BY_ID);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sq_step_row(c, st);
	if (rc != 1)
		return -1;
	int64_t got = sq_booking_from_row(st, now, b);
	sqlite3_reset(st);
	if (got < 0)
		return -1;
	return sq_booking_seats(c, id, b);
}

/* ---- write helpers (writer thread only) ---- */

static int sq_change_add(struct store_cmd *cmd, int64_t show_id, int row, int number,
                         enum seat_status status)
{
	size_t n = cmd->nchanges;

	/* Capacity is implicit: 8, then doubling at each power of two. */
	if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
		struct seat_change *p = realloc(cmd->changes, (n == 0 ? 8 : 2 * n) * sizeof(*p));
		if (p == NULL)
			return -1;
		cmd->changes = p;
	}
	cmd->changes[n].show_id = show_id;
	cmd->changes[n].seat.row = row;
	cmd->changes[n].seat.number = number;
	cmd->changes[n].status = status;
	cmd->nchanges = n + 1;
	return 0;
}

static void sq_bad_add(struct store_cmd *cmd, struct seat seat)
{
	if (cmd->nbad < BOOKING_SEATS_MAX)
		cmd->bad[cmd->nbad++] = seat;
}

/* Finds or creates the user; returns 0 and the id, or -1. */
static int sq_user_id(struct sq_state *s, const char *username, int64_t now, int64_t *id)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_USER_GET);
	unsigned char r[16];
	char guid[37];
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	rc = sq_step_row(c, st);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		*id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 0;
	}
	if (sq_random(s, r, sizeof(r)) != 0)
		return -1;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* variant */
	snprintf(guid, sizeof(guid),
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
	         r[15]);
	st = sq_stmt(c, SQ_USER_INSERT);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, guid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (sq_step_done(c, st) != 1)
		return -1;
	*id = sqlite3_last_insert_rowid(c->db);
	return 0;
}

struct sq_show {
	int exists;
	int active;
	int64_t show_time;
	int rows, seats_per_row;
};

static int sq_show_for_write(struct sq_conn *c, int64_t show_id, struct sq_show *sh)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_SHOW_FOR_WRITE);
	int rc;

	memset(sh, 0, sizeof(*sh));
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, show_id);
	rc = sq_step_row(c, st);
	if (rc <= 0)
		return rc;
	sh->exists = 1;
	sh->active = strcmp((const char *)sqlite3_column_text(st, 0), "ACTIVE") == 0;
	sh->show_time = sqlite3_column_int64(st, 1);
	sh->rows = sqlite3_column_int(st, 2);
	sh->seats_per_row = sqlite3_column_int(st, 3);
	sqlite3_reset(st);
	return 0;
}

/* Lists seats that do not exist in the show's screen; returns how many. */
static int sq_unknown_seats(struct store_cmd *cmd, const struct sq_show *sh)
{
	for (int i = 0; i < cmd->nseats; i++) {
		const struct seat *seat = &cmd->seats[i];
		if (seat->row >= sh->rows || seat->number > sh->seats_per_row)
			sq_bad_add(cmd, *seat);
	}
	return cmd->nbad;
}

enum {
	SQ_CHECK_BOOKABLE = 1, /* ACTIVE and not started */
	SQ_CHECK_SEATS = 2,    /* every listed seat exists in the screen */
};

/* Loads the command's show and applies the checks asked for, in the API's
 * order (found, bookable, seats). Returns 1 when a check refused the
 * command (its outcome set), 0 to go on, -1 on a storage error. Sorts the
 * seats when it checks them. */
static int sq_show_check(struct sq_conn *c, struct store_cmd *cmd, int64_t now, unsigned checks,
                         struct sq_show *sh)
{
	if (sq_show_for_write(c, cmd->show_id, sh) < 0)
		return -1;
	if (!sh->exists)
		cmd->outcome = OUTCOME_SHOW_NOT_FOUND;
	else if ((checks & SQ_CHECK_BOOKABLE) && (!sh->active || sh->show_time <= now))
		cmd->outcome = OUTCOME_SHOW_NOT_BOOKABLE;
	else if (checks & SQ_CHECK_SEATS) {
		seat_sort(cmd->seats, (size_t)cmd->nseats);
		if (sq_unknown_seats(cmd, sh) == 0)
			return 0;
		cmd->outcome = OUTCOME_UNKNOWN_SEATS;
	} else
		return 0;
	return 1;
}

struct sq_cart {
	int64_t id; /* 0 when there is no live cart */
	int64_t created_at, expires_at;
};

/* Frees the seats of a booking (HELD only, or all of them), recording the
 * changes. Returns the number freed or -1. The seats are listed first and
 * then freed with one UPDATE whose WHERE is the same rule: both run inside
 * the writer's transaction, so nothing can change in between (and this is
 * cheaper than UPDATE ... RETURNING, which buffers in a temporary table). */
static int sq_free_booking_seats(struct sq_conn *c, struct store_cmd *cmd, int64_t booking_id,
                                 int64_t show_id, int held_only)
{
	sqlite3_stmt *st = sq_stmt(c, held_only ? SQ_BOOKING_HELD_SEATS : SQ_BOOKING_ALL_SEATS);
	int rc, n = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, booking_id);
	while ((rc = sq_step_row(c, st)) == 1) {
		if (sq_change_add(cmd, show_id, sqlite3_column_int(st, 0),
		                  sqlite3_column_int(st, 1), SEAT_AVAILABLE) != 0) {
			sqlite3_reset(st);
			return -1;
		}
		n++;
	}
	if (rc < 0)
		return -1;
	if (n == 0)
		return 0;
	st = sq_stmt(c, held_only ? SQ_BOOKING_FREE_HELD : SQ_BOOKING_FREE_ALL);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, booking_id);
	return sq_step_done(c, st) == n ? n : -1;
}

/* Finds the user's live cart in the show. A cart past its expiry is
 * rewritten EXPIRED on the way (its seats freed), so the caller starts
 * a new one. */
static int sq_cart_get(struct sq_conn *c, struct store_cmd *cmd, int64_t user_id, int64_t now,
                       struct sq_cart *cart)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_CART_GET);
	int rc;

	memset(cart, 0, sizeof(*cart));
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cmd->show_id);
	sqlite3_bind_int64(st, 2, user_id);
	rc = sq_step_row(c, st);
	if (rc <= 0)
		return rc;
	int64_t id = sqlite3_column_int64(st, 0);
	int64_t created = sqlite3_column_int64(st, 1);
	int64_t expires = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	if (expires > now) {
		cart->id = id;
		cart->created_at = created;
		cart->expires_at = expires;
		return 0;
	}
	st = sq_stmt(c, SQ_CART_EXPIRE);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	if (sq_step_done(c, st) < 0)
		return -1;
	return sq_free_booking_seats(c, cmd, id, cmd->show_id, 1) < 0 ? -1 : 0;
}

static int sq_cart_create(struct sq_state *s, struct store_cmd *cmd, int64_t user_id, int64_t now,
                          struct sq_cart *cart)
{
	struct sq_conn *c = s->writer_conn;
	char ref[BOOKING_REF_SIZE];

	for (int attempt = 0; attempt < SQ_REF_ATTEMPTS; attempt++) {
		if (booking_ref_new(sq_random_cb, s, ref) != 0)
			return -1;
		sqlite3_stmt *st = sq_stmt(c, SQ_CART_INSERT);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cmd->show_id);
		sqlite3_bind_int64(st, 2, user_id);
		sqlite3_bind_text(st, 3, ref, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int64(st, 5, now + s->cfg.hold_ttl_ms);
		int n = sq_step_done(c, st);
		if (n < 0)
			return -1;
		if (n == 0)
			continue; /* the reference is taken: draw again */
		cart->id = sqlite3_last_insert_rowid(c->db);
		cart->created_at = now;
		cart->expires_at = now + s->cfg.hold_ttl_ms;
		return 0;
	}
	return -1;
}

static int sq_count(struct sq_conn *c, enum sq_stmt_id id, int64_t arg, int64_t *n)
{
	sqlite3_stmt *st = sq_stmt(c, id);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, arg);
	if (sq_step_row(c, st) != 1)
		return -1;
	*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/* ---- the operations ---- */

/* Holds cmd->seats for the user. The seats have been validated for shape;
 * existence, availability and limits are checked here. */
static int sq_do_hold(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct sq_show sh;
	struct sq_cart cart;
	int64_t user_id, held;
	int added = 0;
	struct seat added_seats[BOOKING_SEATS_MAX];

	int rc = sq_show_check(c, cmd, now, SQ_CHECK_BOOKABLE | SQ_CHECK_SEATS, &sh);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (sq_user_id(s, cmd->username, now, &user_id) != 0)
		return -1;
	if (sq_cart_get(c, cmd, user_id, now, &cart) != 0)
		return -1;
	if (cart.id == 0 && sq_cart_create(s, cmd, user_id, now, &cart) != 0)
		return -1;

	for (int i = 0; i < cmd->nseats; i++) {
		const struct seat *seat = &cmd->seats[i];
		sqlite3_stmt *st = sq_stmt(c, SQ_SEAT_TAKE);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cmd->show_id);
		sqlite3_bind_int(st, 2, seat->row);
		sqlite3_bind_int(st, 3, seat->number);
		sqlite3_bind_int64(st, 4, cart.id);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_int64(st, 6, user_id);
		sqlite3_bind_int64(st, 7, cart.expires_at);
		int n = sq_step_done(c, st);
		if (n < 0)
			return -1;
		if (n == 1) {
			added_seats[added++] = *seat;
			continue;
		}
		/* Not free: fine only when it is already in this live cart. */
		st = sq_stmt(c, SQ_SEAT_MINE);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cmd->show_id);
		sqlite3_bind_int(st, 2, seat->row);
		sqlite3_bind_int(st, 3, seat->number);
		sqlite3_bind_int64(st, 4, cart.id);
		sqlite3_bind_int64(st, 5, now);
		int mine = sq_step_row(c, st);
		if (mine < 0)
			return -1;
		if (mine == 1)
			sqlite3_reset(st);
		else
			sq_bad_add(cmd, *seat);
	}
	if (cmd->nbad > 0) {
		cmd->outcome = OUTCOME_SEATS_UNAVAILABLE;
		return 0;
	}
	if (sq_count(c, SQ_CART_COUNT, cart.id, &held) != 0)
		return -1;
	if (held > s->cfg.max_seats_per_user) {
		cmd->outcome = OUTCOME_HOLD_LIMIT_EXCEEDED;
		return 0;
	}
	for (int i = 0; i < added; i++) {
		sqlite3_stmt *st = sq_stmt(c, SQ_BSEAT_INSERT);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cart.id);
		sqlite3_bind_int64(st, 2, cmd->show_id);
		sqlite3_bind_int(st, 3, added_seats[i].row);
		sqlite3_bind_int(st, 4, added_seats[i].number);
		if (sq_step_done(c, st) < 0)
			return -1;
		if (sq_change_add(cmd, cmd->show_id, added_seats[i].row, added_seats[i].number,
		                  SEAT_HELD) != 0)
			return -1;
	}
	if (added > 0) {
		/* A hold that adds a seat refreshes the cart, up to the cap. */
		int64_t expires = now + s->cfg.hold_ttl_ms;
		int64_t cap = cart.created_at + s->cfg.hold_max_lifetime_ms;
		if (expires > cap)
			expires = cap;
		if (expires < cart.expires_at)
			expires = cart.expires_at;
		sqlite3_stmt *st = sq_stmt(c, SQ_CART_REFRESH);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cart.id);
		sqlite3_bind_int64(st, 2, expires);
		sqlite3_bind_int64(st, 3, held);
		if (sq_step_done(c, st) != 1)
			return -1;
		/* Its seats follow, unless they already carry this expiry. */
		if (expires != cart.expires_at) {
			st = sq_stmt(c, SQ_CART_SEATS_REFRESH);
			if (st == NULL)
				return -1;
			sqlite3_bind_int64(st, 1, cart.id);
			sqlite3_bind_int64(st, 2, expires);
			if (sq_step_done(c, st) < 0)
				return -1;
		}
	}
	if (sq_load_booking(c, cart.id, now, &cmd->booking) != 0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

/* Picks the best free seats with core/bestseat and holds them. */
static int sq_do_hold_best(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct sq_show sh;
	unsigned char *grid;
	int rc;

	rc = sq_show_check(c, cmd, now, SQ_CHECK_BOOKABLE, &sh);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	grid = calloc((size_t)sh.rows * (size_t)sh.seats_per_row, 1);
	if (grid == NULL)
		return -1;
	sqlite3_stmt *st = sq_stmt(c, SQ_SHOW_SEATS);
	if (st == NULL) {
		free(grid);
		return -1;
	}
	sqlite3_bind_int64(st, 1, cmd->show_id);
	sqlite3_bind_int64(st, 2, now);
	while ((rc = sq_step_row(c, st)) == 1) {
		int row = sqlite3_column_int(st, 0), number = sqlite3_column_int(st, 1);
		if (row < sh.rows && number >= 1 && number <= sh.seats_per_row)
			grid[(size_t)row * (size_t)sh.seats_per_row + (size_t)(number - 1)] =
			    sqlite3_column_int(st, 2) == 0;
	}
	if (rc < 0) {
		free(grid);
		return -1;
	}
	rc = bestseat_pick(grid, sh.rows, sh.seats_per_row, cmd->count, cmd->allow_split,
	                   cmd->seats);
	free(grid);
	if (rc != 0) {
		cmd->outcome = OUTCOME_SEATS_UNAVAILABLE;
		return 0;
	}
	cmd->nseats = cmd->count;
	return sq_do_hold(s, cmd, now);
}

/* Returns 1 when every listed seat is BOOKED in one CONFIRMED booking of
 * this user with exactly these seats (a retried confirm), with its id. */
static int sq_confirm_retry(struct sq_conn *c, struct store_cmd *cmd, int64_t user_id,
                            int64_t *booking_id)
{
	int64_t found = 0, count;

	for (int i = 0; i < cmd->nseats; i++) {
		sqlite3_stmt *st = sq_stmt(c, SQ_SEAT_STATE);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cmd->show_id);
		sqlite3_bind_int(st, 2, cmd->seats[i].row);
		sqlite3_bind_int(st, 3, cmd->seats[i].number);
		int rc = sq_step_row(c, st);
		if (rc <= 0)
			return rc;
		const char *seat_status = (const char *)sqlite3_column_text(st, 0);
		const char *bstatus = (const char *)sqlite3_column_text(st, 3);
		int64_t bid = sqlite3_column_int64(st, 1);
		int ok = seat_status && strcmp(seat_status, "BOOKED") == 0 && bstatus &&
		         strcmp(bstatus, "CONFIRMED") == 0 &&
		         sqlite3_column_int64(st, 2) == user_id && (found == 0 || found == bid);
		sqlite3_reset(st);
		if (!ok)
			return 0;
		found = bid;
	}
	if (sq_count(c, SQ_BSEAT_COUNT, found, &count) != 0)
		return -1;
	if (count != cmd->nseats)
		return 0;
	*booking_id = found;
	return 1;
}

static int sq_do_confirm(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct sq_show sh;
	struct sq_cart cart;
	int64_t user_id, retry_id;
	int rc;

	/* Bookable is checked after the retry test: a confirmed booking
	 * answers its retry even once the show has started. */
	rc = sq_show_check(c, cmd, now, SQ_CHECK_SEATS, &sh);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (sq_user_id(s, cmd->username, now, &user_id) != 0)
		return -1;
	rc = sq_confirm_retry(c, cmd, user_id, &retry_id);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (sq_load_booking(c, retry_id, now, &cmd->booking) != 0)
			return -1;
		cmd->outcome = OUTCOME_OK;
		return 0;
	}
	if (!sh.active || sh.show_time <= now) {
		cmd->outcome = OUTCOME_SHOW_NOT_BOOKABLE;
		return 0;
	}
	if (sq_cart_get(c, cmd, user_id, now, &cart) != 0)
		return -1;
	for (int i = 0; i < cmd->nseats; i++) {
		if (cart.id == 0) {
			sq_bad_add(cmd, cmd->seats[i]);
			continue;
		}
		sqlite3_stmt *st = sq_stmt(c, SQ_SEAT_BOOK);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cmd->show_id);
		sqlite3_bind_int(st, 2, cmd->seats[i].row);
		sqlite3_bind_int(st, 3, cmd->seats[i].number);
		sqlite3_bind_int64(st, 4, cart.id);
		sqlite3_bind_int64(st, 5, user_id);
		sqlite3_bind_int64(st, 6, now);
		int n = sq_step_done(c, st);
		if (n < 0)
			return -1;
		if (n == 0)
			sq_bad_add(cmd, cmd->seats[i]);
		else if (sq_change_add(cmd, cmd->show_id, cmd->seats[i].row, cmd->seats[i].number,
		                       SEAT_BOOKED) != 0)
			return -1;
	}
	if (cmd->nbad > 0) {
		cmd->outcome = OUTCOME_SEATS_NOT_HELD;
		return 0;
	}
	/* The cart's seats that were not listed go back on sale. */
	if (sq_free_booking_seats(c, cmd, cart.id, cmd->show_id, 1) < 0)
		return -1;
	sqlite3_stmt *st = sq_stmt(c, SQ_BSEAT_KEEP_BOOKED);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cart.id);
	if (sq_step_done(c, st) < 0)
		return -1;
	st = sq_stmt(c, SQ_BOOKING_CONFIRM);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cart.id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, cmd->nseats);
	if (sq_step_done(c, st) != 1)
		return -1;
	if (sq_load_booking(c, cart.id, now, &cmd->booking) != 0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

static int sq_cancel_booking_row(struct sq_conn *c, int64_t id, int64_t now)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_BOOKING_CANCEL);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	return sq_step_done(c, st) == 1 ? 0 : -1;
}

static int sq_do_release(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct sq_show sh;
	struct sq_cart cart;
	int64_t user_id, left;

	int rc = sq_show_check(c, cmd, now, cmd->all_seats ? 0 : SQ_CHECK_SEATS, &sh);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (sq_user_id(s, cmd->username, now, &user_id) != 0)
		return -1;
	if (sq_cart_get(c, cmd, user_id, now, &cart) != 0)
		return -1;
	if (cart.id == 0) {
		cmd->outcome = OUTCOME_BOOKING_NOT_FOUND;
		return 0;
	}
	if (cmd->all_seats) {
		if (sq_free_booking_seats(c, cmd, cart.id, cmd->show_id, 1) < 0)
			return -1;
		sqlite3_stmt *st = sq_stmt(c, SQ_BSEAT_DELETE_ALL);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cart.id);
		if (sq_step_done(c, st) < 0)
			return -1;
	} else {
		for (int i = 0; i < cmd->nseats; i++) {
			sqlite3_stmt *st = sq_stmt(c, SQ_SEAT_RELEASE);
			if (st == NULL)
				return -1;
			sqlite3_bind_int64(st, 1, cmd->show_id);
			sqlite3_bind_int(st, 2, cmd->seats[i].row);
			sqlite3_bind_int(st, 3, cmd->seats[i].number);
			sqlite3_bind_int64(st, 4, cart.id);
			int n = sq_step_done(c, st);
			if (n < 0)
				return -1;
			if (n == 0)
				continue; /* not ours: releasing it changes nothing */
			if (sq_change_add(cmd, cmd->show_id, cmd->seats[i].row,
			                  cmd->seats[i].number, SEAT_AVAILABLE) != 0)
				return -1;
			st = sq_stmt(c, SQ_BSEAT_DELETE_ONE);
			if (st == NULL)
				return -1;
			sqlite3_bind_int64(st, 1, cart.id);
			sqlite3_bind_int(st, 2, cmd->seats[i].row);
			sqlite3_bind_int(st, 3, cmd->seats[i].number);
			if (sq_step_done(c, st) < 0)
				return -1;
		}
	}
	if (sq_count(c, SQ_CART_COUNT, cart.id, &left) != 0)
		return -1;
	sqlite3_stmt *st = sq_stmt(c, SQ_BOOKING_SET_TOTAL);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cart.id);
	sqlite3_bind_int64(st, 2, left);
	if (sq_step_done(c, st) < 0)
		return -1;
	if (left == 0 && sq_cancel_booking_row(c, cart.id, now) != 0)
		return -1;
	if (sq_load_booking(c, cart.id, now, &cmd->booking) != 0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

static int sq_do_cancel(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_BOOKING_FIND);
	enum booking_status status;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cmd->reference, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cmd->username, -1, SQLITE_STATIC);
	rc = sq_step_row(c, st);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		cmd->outcome = OUTCOME_BOOKING_NOT_FOUND;
		return 0;
	}
	int64_t id = sqlite3_column_int64(st, 0);
	int bad_status = booking_status_parse((const char *)sqlite3_column_text(st, 1), &status);
	int64_t expires = sqlite3_column_int64(st, 2);
	int64_t show_time = sqlite3_column_int64(st, 3);
	sqlite3_reset(st);
	if (bad_status)
		return -1;
	if (status == BOOKING_STAGED && expires <= now)
		status = BOOKING_EXPIRED;
	if (status == BOOKING_CANCELLED) {
		/* Cancelling again answers as the first time did. */
	} else if (status == BOOKING_EXPIRED || show_time <= now) {
		cmd->outcome = OUTCOME_BOOKING_NOT_CANCELLABLE;
		return 0;
	} else {
		if (sq_free_booking_seats(c, cmd, id, 0, 0) < 0)
			return -1;
		if (sq_cancel_booking_row(c, id, now) != 0)
			return -1;
	}
	if (sq_load_booking(c, id, now, &cmd->booking) != 0)
		return -1;
	for (size_t i = 0; i < cmd->nchanges; i++)
		cmd->changes[i].show_id = cmd->booking.show_id;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

static int sq_do_expire_due(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_EXPIRE_SEATS);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sq_step_row(c, st)) == 1) {
		if (sq_change_add(cmd, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
		                  sqlite3_column_int(st, 2), SEAT_AVAILABLE) != 0) {
			sqlite3_reset(st);
			return -1;
		}
	}
	if (rc < 0)
		return -1;
	cmd->expired = (int64_t)cmd->nchanges;
	st = sq_stmt(c, SQ_EXPIRE_CARTS);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	if (sq_step_done(c, st) < 0)
		return -1;
	st = sq_stmt(c, SQ_IDEM_EXPIRE);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now - s->cfg.idempotency_ttl_ms);
	if (sq_step_done(c, st) < 0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

/* ---- idempotency ---- */

/* Looks the command's key up. Returns 1 when the command is settled by a
 * record (replayed, or refused as a reused key), 0 when it must run, -1
 * on a storage error. A record past the TTL is deleted and ignored. */
static int sq_idem_lookup(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_IDEM_GET);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cmd->idem_key, -1, SQLITE_STATIC);
	rc = sq_step_row(c, st);
	if (rc <= 0)
		return rc;
	const void *req = sqlite3_column_blob(st, 0);
	size_t req_len = (size_t)sqlite3_column_bytes(st, 0);
	unsigned status = (unsigned)sqlite3_column_int(st, 1);
	const char *body = (const char *)sqlite3_column_text(st, 2);
	size_t body_len = (size_t)sqlite3_column_bytes(st, 2);
	int64_t created = sqlite3_column_int64(st, 3);

	if (created <= now - s->cfg.idempotency_ttl_ms) {
		sqlite3_reset(st);
		st = sq_stmt(c, SQ_IDEM_DELETE);
		if (st == NULL)
			return -1;
		sqlite3_bind_text(st, 1, cmd->idem_key, -1, SQLITE_STATIC);
		return sq_step_done(c, st) < 0 ? -1 : 0;
	}
	int same = req_len == cmd->idem_request_len &&
	           (req_len == 0 || memcmp(req, cmd->idem_request, req_len) == 0);
	rc = 1;
	if (!same) {
		cmd->outcome = OUTCOME_IDEMPOTENCY_KEY_REUSED;
	} else if (store_cmd_set_answer(cmd, status, body ? body : "", body_len) == 0) {
		cmd->outcome = OUTCOME_OK;
		cmd->replayed = true;
	} else {
		rc = -1;
	}
	sqlite3_reset(st);
	return rc;
}

/* Builds the command's answer and keeps it with the write. */
static int sq_idem_store(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	unsigned status;
	char *body;
	size_t len;

	if (cmd->answer(cmd, &status, &body, &len) != 0)
		return -1;
	int rc = store_cmd_set_answer(cmd, status, body, len);
	free(body);
	if (rc != 0)
		return -1;
	if (!store_answer_storable(status))
		return 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_IDEM_INSERT);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cmd->idem_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cmd->idem_request, (int)cmd->idem_request_len, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)status);
	sqlite3_bind_text(st, 4, cmd->answer_body, (int)cmd->answer_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	return sq_step_done(c, st) == 1 ? 0 : -1;
}

static int sq_do_create_screen(struct sq_state *s, struct store_cmd *cmd)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_SCREEN_INSERT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cmd->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, cmd->rows);
	sqlite3_bind_int(st, 3, cmd->seats_per_row);
	if (sq_step_done(c, st) != 1)
		return -1;
	cmd->created_id = sqlite3_last_insert_rowid(c->db);
	cmd->total_seats = cmd->rows * cmd->seats_per_row;
	cmd->outcome = OUTCOME_CREATED;
	return 0;
}

static int sq_do_create_movie(struct sq_state *s, struct store_cmd *cmd)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_MOVIE_INSERT);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cmd->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, cmd->duration_minutes);
	sqlite3_bind_text(st, 3, cmd->last_show_date, -1, SQLITE_STATIC);
	if (sq_step_done(c, st) != 1)
		return -1;
	cmd->created_id = sqlite3_last_insert_rowid(c->db);
	cmd->outcome = OUTCOME_CREATED;
	return 0;
}

static int sq_do_create_show(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_MOVIE_GET);
	int rc, duration, rows, per_row, y, m, d;
	char last_date[16];

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cmd->movie_id);
	rc = sq_step_row(c, st);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		cmd->outcome = OUTCOME_MOVIE_NOT_FOUND;
		return 0;
	}
	duration = sqlite3_column_int(st, 0);
	sq_copy_text(last_date, sizeof(last_date), st, 1);
	sqlite3_reset(st);

	st = sq_stmt(c, SQ_SCREEN_GET);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cmd->screen_id);
	rc = sq_step_row(c, st);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		cmd->outcome = OUTCOME_SCREEN_NOT_FOUND;
		return 0;
	}
	rows = sqlite3_column_int(st, 0);
	per_row = sqlite3_column_int(st, 1);
	cmd->total_seats = sqlite3_column_int(st, 2);
	sqlite3_reset(st);

	/* The show must lie ahead and start on or before the movie's last day. */
	if (timefmt_parse_date(last_date, &y, &m, &d) != 0)
		return -1;
	int64_t last_day_end = (timefmt_days_from_civil(y, m, d) + 1) * 86400 * 1000;
	if (cmd->show_time <= now || cmd->show_time >= last_day_end) {
		cmd->outcome = OUTCOME_INVALID_REQUEST;
		return 0;
	}
	cmd->created_end = cmd->show_time + (int64_t)duration * 60 * 1000;

	st = sq_stmt(c, SQ_SHOW_OVERLAP);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cmd->screen_id);
	sqlite3_bind_int64(st, 2, cmd->show_time);
	sqlite3_bind_int64(st, 3, cmd->created_end);
	rc = sq_step_row(c, st);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		sqlite3_reset(st);
		cmd->outcome = OUTCOME_SCREEN_BUSY;
		return 0;
	}

	st = sq_stmt(c, SQ_SHOW_INSERT);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cmd->movie_id);
	sqlite3_bind_int64(st, 2, cmd->screen_id);
	sqlite3_bind_int64(st, 3, cmd->show_time);
	sqlite3_bind_int64(st, 4, cmd->created_end);
	if (sq_step_done(c, st) != 1)
		return -1;
	cmd->created_id = sqlite3_last_insert_rowid(c->db);
	for (int r = 0; r < rows; r++) {
		for (int n = 1; n <= per_row; n++) {
			st = sq_stmt(c, SQ_SEAT_INSERT);
			if (st == NULL)
				return -1;
			sqlite3_bind_int64(st, 1, cmd->created_id);
			sqlite3_bind_int(st, 2, r);
			sqlite3_bind_int(st, 3, n);
			if (sq_step_done(c, st) != 1)
				return -1;
		}
	}
	cmd->outcome = OUTCOME_CREATED;
	return 0;
}

static int sq_do_cancel_show(struct sq_state *s, struct store_cmd *cmd)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st = sq_stmt(c, SQ_SHOW_CANCEL);
	int n;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cmd->show_id);
	n = sq_step_done(c, st);
	if (n < 0)
		return -1;
	cmd->created_id = cmd->show_id;
	cmd->outcome = n == 1 ? OUTCOME_OK : OUTCOME_SHOW_NOT_FOUND;
	return 0;
}

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

static void sq_cmd_reset_output(struct store_cmd *cmd)
{
	cmd->outcome = OUTCOME_UNAVAILABLE;
	cmd->nbad = 0;
	cmd->nchanges = 0;
	cmd->expired = 0;
	cmd->replayed = false;
	free(cmd->answer_body);
	cmd->answer_body = NULL;
	cmd->answer_len = 0;
	memset(&cmd->booking, 0, sizeof(cmd->booking));
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
	 * once" means for the client that retries. */
	if (keyed && sq_idem_store(s, cmd, now) != 0)
		return -1;
	return 0;
}

/* One transaction for the whole batch, one savepoint per command. */
static void sq_run_batch(struct sq_state *s, struct store_cmd **batch, size_t n)
{
	struct sq_conn *c = s->writer_conn;

	for (size_t i = 0; i < n; i++)
		sq_cmd_reset_output(batch[i]);
	if (sq_exec(c, SQ_BEGIN_IMMEDIATE) != 0)
		return; /* every command stays UNAVAILABLE */
	for (size_t i = 0; i < n; i++) {
		struct store_cmd *cmd = batch[i];
		if (sq_exec(c, SQ_SAVEPOINT) != 0)
			goto abort;
		if (sq_run_one(s, cmd) != 0) {
			sq_cmd_reset_output(cmd);
			if (sq_exec(c, SQ_ROLLBACK_TO) != 0)
				goto abort;
		}
		if (sq_exec(c, SQ_RELEASE) != 0)
			goto abort;
	}
	if (sq_exec(c, SQ_COMMIT) == 0)
		return;
abort:
	if (!sqlite3_get_autocommit(c->db))
		sq_exec(c, SQ_ROLLBACK);
	for (size_t i = 0; i < n; i++)
		sq_cmd_reset_output(batch[i]);
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
		pthread_mutex_lock(&s->pool_lock);
		store_listener_fn listener = s->listener;
		void *listener_arg = s->listener_arg;
		pthread_mutex_unlock(&s->pool_lock);
		for (size_t i = 0; i < n; i++) {
			if (listener && sq_outcome_commits(batch[i]->outcome))
				listener(listener_arg, batch[i]);
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

	assert(cmd->done != NULL);
	return cmdqueue_push(&s->queue, cmd);
}

/* ---- schema ---- */

static int sq_migrate(struct sq_conn *c)
{
	sqlite3_stmt *st;
	int current = 0;

	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		current = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	int known = 0;
	for (const struct embedded_sql *m = embedded_sql_sqlite; m->name != NULL; m++)
		known = m->version > known ? m->version : known;
	if (current > known) {
		/* Forward only: an older binary must not write a schema it does
		 * not know (a downgrade goes through a backup). */
		fprintf(stderr,
		        "boxoffice: the database has schema version %d, newer than this boxoffice "
		        "knows (%d): run the newer boxoffice, or restore a backup made before the "
		        "upgrade\n",
		        current, known);
		return -1;
	}
	for (const struct embedded_sql *m = embedded_sql_sqlite; m->name != NULL; m++) {
		char pragma[64];
		if (m->version <= current)
			continue;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", m->version);
		if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(c->db, m->text, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(c->db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			fprintf(stderr, "boxoffice: migration %s failed: %s\n", m->name,
			        sqlite3_errmsg(c->db));
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

/* ---- reads ---- */

static int sq_active_shows(void *state, struct show_summary **out, size_t *n)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	struct show_summary *list = NULL;
	size_t len = 0, cap = 0;
	int rc = STORE_ERR, step;

	*out = NULL;
	*n = 0;
	if (c == NULL)
		return STORE_ERR;
	sqlite3_stmt *st = sq_stmt(c, SQ_ACTIVE_SHOWS);
	if (st == NULL)
		goto done;
	sqlite3_bind_int64(st, 1, sq_now(s));
	while ((step = sq_step_row(c, st)) == 1) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			struct show_summary *p = realloc(list, cap * sizeof(*p));
			if (p == NULL) {
				sqlite3_reset(st);
				goto done;
			}
			list = p;
		}
		struct show_summary *x = &list[len++];
		x->show_id = sqlite3_column_int64(st, 0);
		x->movie_id = sqlite3_column_int64(st, 1);
		x->screen_id = sqlite3_column_int64(st, 2);
		sq_copy_text(x->movie_name, sizeof(x->movie_name), st, 3);
		sq_copy_text(x->screen_name, sizeof(x->screen_name), st, 4);
		x->duration_minutes = sqlite3_column_int(st, 5);
		x->show_time = sqlite3_column_int64(st, 6);
		x->total_seats = sqlite3_column_int(st, 7);
		x->available_seats = sqlite3_column_int(st, 8);
	}
	if (step == 0) {
		*out = list;
		*n = len;
		list = NULL;
		rc = STORE_OK;
	}
done:
	free(list);
	sq_reader_put(s, c);
	return rc;
}

static int sq_show_details_in(struct sq_state *s, struct sq_conn *c, int64_t show_id,
                              struct show_details *d, enum outcome *o)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_SHOW);
	int64_t now = sq_now(s);
	int step;

	if (st == NULL)
		return STORE_ERR;
	sqlite3_bind_int64(st, 1, show_id);
	step = sq_step_row(c, st);
	if (step < 0)
		return STORE_ERR;
	if (step == 0) {
		*o = OUTCOME_SHOW_NOT_FOUND;
		return STORE_OK;
	}
	d->show_id = sqlite3_column_int64(st, 0);
	sq_copy_text(d->movie_name, sizeof(d->movie_name), st, 1);
	d->duration_minutes = sqlite3_column_int(st, 2);
	d->show_time = sqlite3_column_int64(st, 3);
	sq_copy_text(d->screen_name, sizeof(d->screen_name), st, 4);
	sq_copy_text(d->status, sizeof(d->status), st, 5);
	d->rows = sqlite3_column_int(st, 6);
	d->seats_per_row = sqlite3_column_int(st, 7);
	d->total_seats = sqlite3_column_int(st, 8);
	sqlite3_reset(st);

	/* One block, three runs: available from the front, held and booked
	 * appended after, each already in natural order. */
	struct seat *all =
	    malloc(sizeof(*all) * (size_t)(d->total_seats > 0 ? d->total_seats : 1) * 3);
	if (all == NULL)
		return STORE_ERR;
	d->available = all;
	d->held = all + d->total_seats;
	d->booked = all + 2 * (size_t)d->total_seats;
	d->next_expiry = INT64_MAX;
	st = sq_stmt(c, SQ_SHOW_SEATS);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, show_id);
	sqlite3_bind_int64(st, 2, now);
	while ((step = sq_step_row(c, st)) == 1) {
		struct seat seat = {sqlite3_column_int(st, 0), sqlite3_column_int(st, 1)};
		int state = sqlite3_column_int(st, 2);
		if (d->navailable + d->nheld + d->nbooked >= d->total_seats)
			continue; /* never past the block */
		if (state == 0) {
			d->available[d->navailable++] = seat;
		} else if (state == 1) {
			int64_t exp = sqlite3_column_int64(st, 3);
			d->held[d->nheld++] = seat;
			if (exp < d->next_expiry)
				d->next_expiry = exp;
		} else {
			d->booked[d->nbooked++] = seat;
		}
	}
	if (step < 0)
		goto fail;
	*o = OUTCOME_OK;
	return STORE_OK;
fail:
	store_show_details_free(d);
	return STORE_ERR;
}

static int sq_show_details(void *state, int64_t show_id, struct show_details *d, enum outcome *o)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	int rc;

	memset(d, 0, sizeof(*d));
	if (c == NULL)
		return STORE_ERR;
	/* One read transaction: the show row and its seats are one snapshot. */
	if (sq_exec(c, SQ_BEGIN) != 0) {
		sq_reader_put(s, c);
		return STORE_ERR;
	}
	rc = sq_show_details_in(s, c, show_id, d, o);
	sq_exec(c, SQ_COMMIT);
	sq_reader_put(s, c);
	return rc;
}

static int sq_booking_details(void *state, const char *username, const char *reference,
                              struct booking *out, enum outcome *o)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	int rc = STORE_ERR, step;

	if (c == NULL)
		return STORE_ERR;
	if (sq_exec(c, SQ_BEGIN) != 0)
		goto done_put;
	sqlite3_stmt *st = sq_stmt(c, SQ_BOOKING_BY_REF);
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
	step = sq_step_row(c, st);
	if (step < 0)
		goto done;
	if (step == 0) {
		*o = OUTCOME_BOOKING_NOT_FOUND;
		rc = STORE_OK;
		goto done;
	}
	int64_t id = sq_booking_from_row(st, sq_now(s), out);
	sqlite3_reset(st);
	if (id < 0 || sq_booking_seats(c, id, out) != 0)
		goto done;
	*o = OUTCOME_OK;
	rc = STORE_OK;
done:
	sq_exec(c, SQ_COMMIT);
done_put:
	sq_reader_put(s, c);
	return rc;
}

static int sq_user_bookings(void *state, const char *username, struct booking **out, size_t *n)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	struct booking *list = NULL;
	int64_t *ids = NULL;
	size_t len = 0, cap = 0;
	int rc = STORE_ERR, step;
	int64_t now = sq_now(s);

	*out = NULL;
	*n = 0;
	if (c == NULL)
		return STORE_ERR;
	if (sq_exec(c, SQ_BEGIN) != 0)
		goto done_put;
	sqlite3_stmt *st = sq_stmt(c, SQ_BOOKINGS_OF_USER);
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	while ((step = sq_step_row(c, st)) == 1) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			struct booking *p = realloc(list, cap * sizeof(*p));
			int64_t *q = realloc(ids, cap * sizeof(*q));
			if (p)
				list = p;
			if (q)
				ids = q;
			if (p == NULL || q == NULL) {
				sqlite3_reset(st);
				goto done;
			}
		}
		ids[len] = sq_booking_from_row(st, now, &list[len]);
		if (ids[len] < 0) {
			sqlite3_reset(st);
			goto done;
		}
		len++;
	}
	if (step < 0)
		goto done;
	for (size_t i = 0; i < len; i++)
		if (sq_booking_seats(c, ids[i], &list[i]) != 0)
			goto done;
	*out = list;
	*n = len;
	list = NULL;
	rc = STORE_OK;
done:
	sq_exec(c, SQ_COMMIT);
done_put:
	free(list);
	free(ids);
	sq_reader_put(s, c);
	return rc;
}

static int sq_next_expiry(void *state, int64_t *at)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	int rc = STORE_ERR;

	*at = INT64_MAX;
	if (c == NULL)
		return STORE_ERR;
	sqlite3_stmt *st = sq_stmt(c, SQ_NEXT_EXPIRY);
	if (st != NULL && sq_step_row(c, st) == 1) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			*at = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		rc = STORE_OK;
	}
	sq_reader_put(s, c);
	return rc;
}

static int sq_ping(void *state)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	int rc;

	if (c == NULL)
		return STORE_ERR;
	rc = sqlite3_exec(c->db, "SELECT count(*) FROM meta", NULL, NULL, NULL) == SQLITE_OK
	         ? STORE_OK
	         : STORE_ERR;
	sq_reader_put(s, c);
	return rc;
}

/* Every connection is opened with the same pragmas (sq_conn_open), so a
 * reader reports the writer's. In WAL mode, synchronous below FULL commits
 * without syncing the WAL: a power cut loses the last acknowledged writes
 * (tests/powerloss shows it). */
static int sq_durability(void *state, struct store_durability *out)
{
	static const char *const levels[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	sqlite3_stmt *st = NULL;
	int rc = STORE_ERR, level;

	if (c == NULL)
		return STORE_ERR;
	if (sqlite3_prepare_v2(c->db, "PRAGMA synchronous", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	level = sqlite3_column_int(st, 0);
	store_durability_add(
	    out, "synchronous", level >= 0 && level <= 3 ? levels[level] : "unknown",
	    level < 2 ? "commits are acknowledged before the WAL is synced: a power "
	                "cut can lose the last acknowledged bookings"
	              : NULL);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	store_durability_add(out, "journal_mode", (const char *)sqlite3_column_text(st, 0), NULL);
	rc = STORE_OK;
out:
	sqlite3_finalize(st);
	sq_reader_put(s, c);
	return rc;
}

/* Runs every check of verify_checks.h in one read transaction. */
static int sq_verify(void *state, struct store_report *report)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	int rc = STORE_OK;

	if (c == NULL)
		return STORE_ERR;
	if (sq_exec(c, SQ_BEGIN) != 0) {
		sq_reader_put(s, c);
		return STORE_ERR;
	}
	for (size_t i = 0; i < sizeof(verify_checks) / sizeof(verify_checks[0]) && rc == 0; i++) {
		char sql[2048];
		verify_sql(verify_checks[i].sql, "?1", sql, sizeof(sql));
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
			sq_log(c->db, sql);
			rc = STORE_ERR;
			break;
		}
		if (sqlite3_bind_parameter_count(st) > 0)
			sqlite3_bind_int64(st, 1, sq_now(s));
		if (sqlite3_step(st) == SQLITE_ROW)
			store_report_add(report, verify_checks[i].name, sqlite3_column_int64(st, 0),
			                 (const char *)sqlite3_column_text(st, 1));
		else
			rc = STORE_ERR;
		sqlite3_finalize(st);
	}
	sq_exec(c, SQ_COMMIT);
	sq_reader_put(s, c);
	return rc;
}

/* One process owns a SQLite file: nothing to exclude. */
static int sq_exclusive(void *state, int (*fn)(void *arg), void *arg)
{
	(void)state;
	return fn(arg);
}

static void sq_set_listener(void *state, store_listener_fn fn, void *arg)
{
	struct sq_state *s = state;

	pthread_mutex_lock(&s->pool_lock);
	s->listener = fn;
	s->listener_arg = arg;
	pthread_mutex_unlock(&s->pool_lock);
}

/* ---- lifecycle ---- */

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
	if (s->writer_conn)
		sq_conn_close(s->writer_conn);
	while (s->all_conns) {
		struct sq_conn *next = s->all_conns->next_all;
		sq_conn_close(s->all_conns);
		s->all_conns = next;
	}
	pthread_mutex_destroy(&s->pool_lock);
	cmdqueue_destroy(&s->queue);
	free(s);
}

static int sq_open(const struct store_config *cfg, void **state)
{
	struct sq_state *s = calloc(1, sizeof(*s));
	const char *path = cfg->url + strlen("sqlite:");

	if (s == NULL)
		return STORE_ERR;
	/* Memory statistics cost a global mutex on every allocation. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	s->cfg = *cfg;
	pthread_mutex_init(&s->pool_lock, NULL);
	if (cmdqueue_init(&s->queue, SQ_QUEUE_MAX) != 0) {
		sq_close(s);
		return STORE_ERR;
	}
	if (*path == '\0' || strlen(path) >= sizeof(s->path)) {
		sq_close(s);
		return STORE_EINVAL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->writer_conn = sq_conn_open(s->path);
	if (s->writer_conn == NULL || sq_migrate(s->writer_conn) != 0) {
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
    .next_expiry = sq_next_expiry,
    .ping = sq_ping,
    .durability = sq_durability,
    .set_listener = sq_set_listener,
    .verify = sq_verify,
    .exclusive = sq_exclusive,
    .stats = sq_stats,
};
