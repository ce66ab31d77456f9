/* sqlite_conn.c - SQLite connections, their cached prepared statements,
 * the binder (sq_run, sq_row) and the pool of reader connections.
 *
 * The binder is on the writer's hot path: it never allocates and never
 * prepares twice (statements are SQLITE_PREPARE_PERSISTENT, cached per
 * connection, reset and unbound on each use). */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/num.h"
#include "store/sqlite_internal.h"

void sq_log(sqlite3 *db, const char *what)
{
	fprintf(stderr, "boxoffice: sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no db");
}

int64_t sq_now(const struct sq_state *s)
{
	return store_config_now(&s->cfg);
}

int sq_random(void *state, void *buf, size_t len)
{
	const struct sq_state *s = state;

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

struct sq_conn *sq_conn_open(const char *path)
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

void sq_conn_close(struct sq_conn *c)
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

	assert(id >= 0 && id < SQ_STMT_COUNT);
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

/* Binds the arguments that fmt describes (see sqlite_internal.h). */
static int sq_bind(struct sq_conn *c, sqlite3_stmt *st, const char *fmt, va_list ap)
{
	int i = 0, rc = SQLITE_OK;

	for (const char *p = fmt; *p != '\0' && rc == SQLITE_OK; p++) {
		if (*p != '%')
			continue;
		p++;
		i++;
		if (*p == 'd') {
			rc = sqlite3_bind_int(st, i, va_arg(ap, int));
		} else if (*p == 's') {
			rc = sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_STATIC);
		} else if (p[0] == '.' && p[1] == '*' && p[2] == 's') {
			int len = va_arg(ap, int);
			rc = sqlite3_bind_text(st, i, va_arg(ap, const char *), len, SQLITE_STATIC);
			p += 2;
		} else {
			while (*p == 'l')
				p++; /* PRId64: "ld" or "lld" */
			assert(*p == 'd');
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
		}
	}
	assert(i == sqlite3_bind_parameter_count(st));
	if (rc != SQLITE_OK) {
		sq_log(c->db, sqlite3_sql(st));
		return -1;
	}
	return 0;
}

int sq_run(struct sq_conn *c, enum sq_stmt_id id, const char *fmt, ...)
{
	sqlite3_stmt *st = sq_stmt(c, id);
	va_list ap;
	int rc;

	if (st == NULL)
		return -1;
	va_start(ap, fmt);
	rc = sq_bind(c, st, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return -1;
	rc = sqlite3_step(st);
	int changes = sqlite3_changes(c->db);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_log(c->db, sq_sql[id]);
		return -1;
	}
	return changes;
}

int sq_next(struct sq_conn *c, sqlite3_stmt *st)
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

int sq_row(struct sq_conn *c, sqlite3_stmt **st, enum sq_stmt_id id, const char *fmt, ...)
{
	va_list ap;
	int rc;

	*st = sq_stmt(c, id);
	if (*st == NULL)
		return -1;
	va_start(ap, fmt);
	rc = sq_bind(c, *st, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return -1;
	return sq_next(c, *st);
}

int sq_first(struct sq_conn *c, sqlite3_stmt **st, enum sq_stmt_id id)
{
	*st = sq_stmt(c, id);
	if (*st == NULL)
		return -1;
	assert(sqlite3_bind_parameter_count(*st) == 0);
	return sq_next(c, *st);
}

void sq_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
}

int sq_exec(struct sq_conn *c, enum sq_stmt_id id)
{
	sqlite3_stmt *st = sq_stmt(c, id);
	int rc;

	if (st == NULL)
		return -1;
	assert(sqlite3_bind_parameter_count(st) == 0);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_log(c->db, sq_sql[id]);
		return -1;
	}
	return 0;
}

int sq_count(struct sq_conn *c, enum sq_stmt_id id, int64_t arg, int64_t *n)
{
	sqlite3_stmt *st;

	if (sq_row(c, &st, id, SQ_I64, arg) != 1)
		return -1;
	*n = sqlite3_column_int64(st, 0);
	sq_done(st);
	return 0;
}

void sq_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

struct sq_conn *sq_reader_get(struct sq_state *s)
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

void sq_reader_put(struct sq_state *s, struct sq_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next_free = s->free_conns;
	s->free_conns = c;
	pthread_mutex_unlock(&s->pool_lock);
}
