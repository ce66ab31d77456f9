/* pg_migrate.c - brings a PostgreSQL database's schema up to date under an
 * advisory lock (nodes starting together do not race): each migration of
 * sql/postgres once, the repeatable one (the stored functions) again
 * whenever its text changed; refuses a database a newer boxoffice
 * migrated. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/num.h"
#include "store/embedded_sql.h"
#include "store/pg_internal.h"

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
int pg_migrate(PGconn *c)
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
