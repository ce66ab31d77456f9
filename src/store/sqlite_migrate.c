/* sqlite_migrate.c - brings a SQLite file's schema up to date: applies each
 * embedded migration (sql/sqlite, compiled in) newer than the file's
 * PRAGMA user_version, each in its own transaction; refuses a file that a
 * newer boxoffice migrated. */
#include <stdio.h>

#include "store/embedded_sql.h"
#include "store/sqlite_internal.h"

int sq_migrate(struct sq_conn *c)
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
