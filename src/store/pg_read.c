/* pg_read.c - the reads of the PostgreSQL backend (shows, seat maps,
 * bookings, the next expiry, ping, durability settings, verify) and the
 * cluster-wide exclusive section. Each read is one call on a pooled
 * connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_internal.h"

int pg_active_shows(void *state, struct show_summary **out, size_t *n)
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

int pg_show_details(void *state, int64_t show_id, struct show_details *d, enum outcome *o)
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

int pg_booking_details(void *state, const char *username, const char *reference,
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

int pg_user_bookings(void *state, const char *username, struct booking **out, size_t *n)
{
	return pg_user_bookings_rows(state, username, NULL, out, n, NULL);
}

int pg_user_bookings_page(void *state, const char *username, const struct store_page *page,
                          struct booking **out, size_t *n, struct store_page_next *next)
{
	next->more = 0;
	return pg_user_bookings_rows(state, username, page, out, n, next);
}

int pg_next_expiry(void *state, int64_t *at)
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

int pg_ping(void *state)
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
int pg_durability(void *state, struct store_durability *out)
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
int pg_verify(void *state, struct store_report *report)
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
int pg_exclusive(void *state, int (*fn)(void *arg), void *arg)
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
