/* backup.h - copies of a whole database: `boxoffice backup` and
 * `boxoffice restore`.
 *
 * SQLite only, through SQLite's online backup API: a backup reads one
 * consistent snapshot (one read transaction in WAL mode), so it runs while
 * a server is serving and never blocks its writer; the copy holds every
 * write committed before the backup started. PostgreSQL databases are
 * copied with PostgreSQL's own tools (pg_dump, pg_basebackup), which these
 * functions name in their refusal.
 *
 * Every function returns 0 or a negative store_err code; on failure a
 * human sentence is written to msg (msgsize bytes, always terminated). */
#ifndef BOXOFFICE_STORE_BACKUP_H
#define BOXOFFICE_STORE_BACKUP_H

#include <stddef.h>

enum {
	BACKUP_BUSY_TIMEOUT_MS = 5000, /* waiting for a lock held by a server */
	BACKUP_MSG_MAX = 512,          /* a message always fits in this */
};

/* Writes a copy of the database of url ("sqlite:PATH") to file, atomically:
 * the copy goes to a temporary file beside it, is synced, and is renamed
 * over file only when complete. file must not be the database itself.
 * STORE_EINVAL for a URL that is not SQLite, or a bad file. */
int backup_create(const char *url, const char *file, char *msg, size_t msgsize);

/* Replaces the database of url with the copy in file, after checking that
 * file is an intact boxoffice database whose schema this build knows.
 * The server must be stopped: a database in use is refused (STORE_EBUSY)
 * when its lock says so. The database is replaced in one transaction. */
int backup_restore(const char *url, const char *file, char *msg, size_t msgsize);

#endif
