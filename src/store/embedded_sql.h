/* embedded_sql.h - the migrations of sql/, compiled in by CMake.
 * Each table ends with an entry whose name is NULL. */
#ifndef BOXOFFICE_STORE_EMBEDDED_SQL_H
#define BOXOFFICE_STORE_EMBEDDED_SQL_H

struct embedded_sql {
	int version;
	const char *name;
	const char *text;
};

extern const struct embedded_sql embedded_sql_sqlite[];
extern const struct embedded_sql embedded_sql_postgres[];

#endif
