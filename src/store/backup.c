/* backup.c - `boxoffice backup` and `boxoffice restore` for SQLite, with
 * SQLite's online backup API (sqlite3_backup_*). See backup.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/backend.h"
#include "store/backup.h"
#include "store/embedded_sql.h"
#include "store/store.h"

static const char backup_pg_hint[] =
    "backup and restore handle SQLite databases; for PostgreSQL use pg_dump / pg_restore "
    "(a logical copy) or pg_basebackup (a physical copy), see README";

static int backup_fail(char *msg, size_t msgsize, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msgsize, fmt, ap);
	va_end(ap);
	return rc;
}

/* The path of a sqlite: URL, or NULL with msg set. */
static const char *backup_sqlite_path(const char *url, char *msg, size_t msgsize)
{
	if (strncmp(url, "sqlite:", 7) != 0 || url[7] == '\0') {
		backup_fail(msg, msgsize, STORE_EINVAL, "%s", backup_pg_hint);
		return NULL;
	}
	return url + 7;
}

/* The newest schema version this build's migrations create. */
static int backup_known_version(void)
{
	int v = 0;

	for (const struct embedded_sql *m = embedded_sql_sqlite; m->name != NULL; m++)
		if (m->version > v)
			v = m->version;
	return v;
}

static int backup_open(const char *path, int flags, sqlite3 **db, char *msg, size_t msgsize)
{
	if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
		backup_fail(msg, msgsize, STORE_ERR, "cannot open %s: %s", path,
		            *db ? sqlite3_errmsg(*db) : "out of memory");
		sqlite3_close(*db);
		*db = NULL;
		return STORE_ERR;
	}
	sqlite3_busy_timeout(*db, BACKUP_BUSY_TIMEOUT_MS);
	return 0;
}

/* Copies the whole of src into dst in one step: one read transaction on
 * src (a snapshot that a concurrent writer does not disturb in WAL mode)
 * and one write transaction on dst. */
static int backup_copy(sqlite3 *src, sqlite3 *dst, char *msg, size_t msgsize)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc;

	if (b == NULL)
		return backup_fail(msg, msgsize, STORE_ERR, "cannot start the copy: %s",
		                   sqlite3_errmsg(dst));
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return backup_fail(msg, msgsize, STORE_EBUSY,
		                   "the database stayed locked for %d ms; is a server restoring or "
		                   "checkpointing it?",
		                   BACKUP_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_DONE)
		return backup_fail(msg, msgsize, STORE_ERR, "the copy failed: %s",
		                   sqlite3_errstr(rc));
	return 0;
}

/* Reads the first column of the first row: an integer and/or a text. */
static int backup_pragma(sqlite3 *db, const char *sql, int *num, char *text, size_t textsize)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (num != NULL)
			*num = sqlite3_column_int(st, 0);
		if (text != NULL) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(text, textsize, "%s", t ? (const char *)t : "");
		}
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* 1 when table.column really holds a NULL. SQLite 3.40's quick_check
 * reports "NULL value in T.C" for every row of a WITHOUT ROWID table whose
 * NOT NULL column C comes before a primary-key column (booking_seats):
 * such a line is believed only when a query finds the NULL. */
static int backup_null_is_real(sqlite3 *db, const char *line)
{
	char table[128], column[128];
	char *sql;
	int found = 1;

	if (sscanf(line, "NULL value in %127[^.].%127s", table, column) != 2)
		return 1;
	sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\" WHERE \"%w\" IS NULL", table, column);
	if (sql != NULL && backup_pragma(db, sql, &found, NULL, 0) != 0)
		found = 1;
	sqlite3_free(sql);
	return found != 0;
}

/* 0 when quick_check finds the file intact; else -1 with its first
 * finding in finding ("" when the check itself could not run). */
static int backup_quick_check(sqlite3 *db, char *finding, size_t size)
{
	sqlite3_stmt *st;
	int rc = 0, step;

	*finding = '\0';
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line == NULL || strcmp(line, "ok") == 0)
			continue;
		if (strncmp(line, "NULL value in ", 14) == 0 && !backup_null_is_real(db, line))
			continue;
		snprintf(finding, size, "%s", line);
		rc = -1;
		break;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = -1;
	sqlite3_finalize(st);
	return rc;
}

/* A file that holds an intact boxoffice database this build can run. */
static int backup_check_copy(sqlite3 *db, const char *file, char *msg, size_t msgsize)
{
	char check[256];
	int version = 0, known = backup_known_version();

	if (backup_quick_check(db, check, sizeof(check)) != 0)
		return backup_fail(msg, msgsize, STORE_EINVAL,
		                   "%s is not an intact SQLite database%s%s", file,
		                   *check ? ": " : "", check);
	if (backup_pragma(db, "PRAGMA user_version", &version, NULL, 0) != 0 || version <= 0)
		return backup_fail(msg, msgsize, STORE_EINVAL, "%s is not a boxoffice database",
		                   file);
	if (version > known)
		return backup_fail(
		    msg, msgsize, STORE_EINVAL,
		    "%s has schema version %d; this boxoffice knows up to %d: restore "
		    "it with a newer boxoffice",
		    file, version, known);
	return 0;
}

int backup_create(const char *url, const char *file, char *msg, size_t msgsize)
{
	const char *path = backup_sqlite_path(url, msg, msgsize);
	char tmp[PATH_MAX];
	struct stat a, b;
	sqlite3 *src = NULL, *dst = NULL;
	int rc, tmpfd;

	if (path == NULL)
		return STORE_EINVAL;
	if (*file == '\0')
		return backup_fail(msg, msgsize, STORE_EINVAL, "no backup file given");
	if (stat(path, &a) != 0)
		return backup_fail(msg, msgsize, STORE_ERR, "cannot read %s: %s", path,
		                   strerror(errno));
	if (stat(file, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return backup_fail(msg, msgsize, STORE_EINVAL,
		                   "the backup file is the database itself");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", file) >= sizeof(tmp))
		return backup_fail(msg, msgsize, STORE_EINVAL, "the backup path is too long");
	tmpfd = mkstemp(tmp);
	if (tmpfd < 0)
		return backup_fail(msg, msgsize, STORE_ERR, "cannot create %s: %s", tmp,
		                   strerror(errno));
	close(tmpfd);

	/* No SQLITE_OPEN_CREATE: a missing database is an error, not a new,
	 * empty one. */
	rc = backup_open(path, SQLITE_OPEN_READWRITE, &src, msg, msgsize);
	if (rc == 0)
		rc = backup_open(tmp, SQLITE_OPEN_READWRITE, &dst, msg, msgsize);
	if (rc == 0 &&
	    sqlite3_exec(dst, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)
		rc = backup_fail(msg, msgsize, STORE_ERR, "cannot set up %s", tmp);
	if (rc == 0)
		rc = backup_copy(src, dst, msg, msgsize);
	if (rc == 0)
		rc = backup_check_copy(dst, file, msg, msgsize);
	sqlite3_close(src);
	if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && rc == 0)
		rc = backup_fail(msg, msgsize, STORE_ERR, "cannot close %s", tmp);
	if (rc == 0 && store_sync_path(tmp, 0) != 0)
		rc = backup_fail(msg, msgsize, STORE_ERR, "cannot sync %s: %s", tmp,
		                 strerror(errno));
	if (rc == 0 && rename(tmp, file) != 0)
		rc = backup_fail(msg, msgsize, STORE_ERR, "cannot rename %s to %s: %s", tmp, file,
		                 strerror(errno));
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	/* The rename itself is durable only once the directory is synced. */
	if (store_sync_dir_of(file) != 0)
		return backup_fail(msg, msgsize, STORE_ERR, "cannot sync the directory of %s: %s",
		                   file, strerror(errno));
	return 0;
}

int backup_restore(const char *url, const char *file, char *msg, size_t msgsize)
{
	const char *path = backup_sqlite_path(url, msg, msgsize);
	sqlite3 *src = NULL, *dst = NULL;
	int rc;

	if (path == NULL)
		return STORE_EINVAL;
	rc = backup_open(file, SQLITE_OPEN_READONLY, &src, msg, msgsize);
	if (rc == 0)
		rc = backup_check_copy(src, file, msg, msgsize);
	if (rc == 0)
		rc = backup_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, msg,
		                 msgsize);
	/* An exclusive lock taken before the database is first read keeps
	 * every other connection out, and fails at once while a server has it
	 * open: restoring under a running server would leave its caches and
	 * its writer's view of the data wrong. */
	if (rc == 0) {
		sqlite3_busy_timeout(dst, 0);
		if (sqlite3_exec(dst, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA synchronous = FULL",
		                 NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(dst, "BEGIN EXCLUSIVE; COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = backup_fail(msg, msgsize, STORE_EBUSY,
			                 "%s is in use (%s): stop the server before restoring",
			                 path, sqlite3_errmsg(dst));
	}
	if (rc == 0)
		rc = backup_copy(src, dst, msg, msgsize);
	sqlite3_close(src);
	if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && rc == 0)
		rc = backup_fail(msg, msgsize, STORE_ERR, "cannot close %s", path);
	return rc;
}
