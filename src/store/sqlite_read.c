/* sqlite_read.c - the reads of the SQLite backend (shows, seat maps,
 * bookings, the next expiry, ping, durability settings, verify) and the decoding of booking
 * rows, which the writes use too. Every read runs on a pooled reader
 * connection, never blocks the writer, and sees one snapshot (WAL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/holdrule.h"
#include "store/sqlite_internal.h"

int64_t sq_booking_from_row(sqlite3_stmt *st, int64_t now, struct booking *b)
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
	b->status = holdrule_booking_status(b->status, b->expires_at, now);
	if (b->status != BOOKING_STAGED)
		b->expires_at = 0;
	return id;
}

int sq_booking_seats(struct sq_conn *c, int64_t booking_id, struct booking *b)
{
	sqlite3_stmt *st;
	int rc;

	b->nseats = 0;
	for (rc = sq_row(c, &st, SQ_BOOKING_SEATS, SQ_I64, booking_id); rc == 1;
	     rc = sq_next(c, st)) {
		if (b->nseats == BOOKING_SEATS_MAX)
			continue;
		b->seats[b->nseats].row = sqlite3_column_int(st, 0);
		b->seats[b->nseats].number = sqlite3_column_int(st, 1);
		b->nseats++;
	}
	return rc;
}

int sq_load_booking(struct sq_conn *c, int64_t id, int64_t now, struct booking *b)
{
	sqlite3_stmt *st;

	if (sq_row(c, &st, SQ_BOOKING_BY_ID, SQ_I64, id) != 1)
		return -1;
	int64_t got = sq_booking_from_row(st, now, b);
	sq_done(st);
	if (got < 0)
		return -1;
	return sq_booking_seats(c, id, b);
}

int sq_active_shows(void *state, struct show_summary **out, size_t *n)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	struct show_summary *list = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int rc = STORE_ERR, step;

	*out = NULL;
	*n = 0;
	if (c == NULL)
		return STORE_ERR;
	for (step = sq_row(c, &st, SQ_ACTIVE_SHOWS, SQ_I64, sq_now(s)); step == 1;
	     step = sq_next(c, st)) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			struct show_summary *p = realloc(list, cap * sizeof(*p));
			if (p == NULL) {
				sq_done(st);
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
	int64_t now = sq_now(s);
	sqlite3_stmt *st;
	int step;

	step = sq_row(c, &st, SQ_SHOW, SQ_I64, show_id);
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
	sq_done(st);

	if (store_show_details_alloc(d) != 0)
		return STORE_ERR;
	d->next_expiry = INT64_MAX;
	for (step = sq_row(c, &st, SQ_SHOW_SEATS, SQ_I64 SQ_I64 "%d%d%d", show_id, now,
	                   SEAT_AVAILABLE, SEAT_HELD, SEAT_BOOKED);
	     step == 1; step = sq_next(c, st)) {
		struct seat seat = {sqlite3_column_int(st, 0), sqlite3_column_int(st, 1)};
		if (d->navailable + d->nheld + d->nbooked >= d->total_seats)
			continue; /* never past the block */
		switch ((enum seat_status)sqlite3_column_int(st, 2)) {
		case SEAT_AVAILABLE:
			d->available[d->navailable++] = seat;
			break;
		case SEAT_HELD:
			d->held[d->nheld++] = seat;
			int64_t exp = sqlite3_column_int64(st, 3);
			if (exp < d->next_expiry)
				d->next_expiry = exp;
			break;
		case SEAT_BOOKED:
		case SEAT_STATUS_COUNT:
			d->booked[d->nbooked++] = seat;
			break;
		}
	}
	if (step < 0) {
		store_show_details_free(d);
		return STORE_ERR;
	}
	*o = OUTCOME_OK;
	return STORE_OK;
}

int sq_show_details(void *state, int64_t show_id, struct show_details *d, enum outcome *o)
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

int sq_booking_details(void *state, const char *username, const char *reference,
                       struct booking *out, enum outcome *o)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	sqlite3_stmt *st;
	int rc = STORE_ERR, step;

	if (c == NULL)
		return STORE_ERR;
	if (sq_exec(c, SQ_BEGIN) != 0)
		goto done_put;
	step = sq_row(c, &st, SQ_BOOKING_BY_REF, "%s%s", reference, username);
	if (step < 0)
		goto done;
	if (step == 0) {
		*o = OUTCOME_BOOKING_NOT_FOUND;
		rc = STORE_OK;
		goto done;
	}
	int64_t id = sq_booking_from_row(st, sq_now(s), out);
	sq_done(st);
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

/* The user's bookings, all of them (page NULL) or one page: one row more
 * than the page is read, to know whether more follow. */
static int sq_user_bookings_rows(void *state, const char *username, const struct store_page *page,
                                 struct booking **out, size_t *n, struct store_page_next *next)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	struct booking *list = NULL;
	int64_t *ids = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int rc = STORE_ERR, step;
	int64_t now = sq_now(s);

	*out = NULL;
	*n = 0;
	if (c == NULL)
		return STORE_ERR;
	if (sq_exec(c, SQ_BEGIN) != 0)
		goto done_put;
	if (page == NULL)
		step = sq_row(c, &st, SQ_BOOKINGS_OF_USER, "%s", username);
	else
		step = sq_row(c, &st, SQ_BOOKINGS_OF_USER_PAGE, "%s" SQ_I64 SQ_I64 "%d", username,
		              page->has_after ? page->after.created_at : INT64_MAX,
		              page->has_after ? page->after.id : INT64_MAX, page->limit + 1);
	for (; step == 1; step = sq_next(c, st)) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			struct booking *p = realloc(list, cap * sizeof(*p));
			int64_t *q = realloc(ids, cap * sizeof(*q));
			if (p)
				list = p;
			if (q)
				ids = q;
			if (p == NULL || q == NULL) {
				sq_done(st);
				goto done;
			}
		}
		ids[len] = sq_booking_from_row(st, now, &list[len]);
		if (ids[len] < 0) {
			sq_done(st);
			goto done;
		}
		len++;
	}
	if (step < 0)
		goto done;
	if (page != NULL && len > (size_t)page->limit) {
		len = (size_t)page->limit;
		next->more = 1;
		next->after.created_at = list[len - 1].created_at;
		next->after.id = ids[len - 1];
	}
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

int sq_user_bookings(void *state, const char *username, struct booking **out, size_t *n)
{
	return sq_user_bookings_rows(state, username, NULL, out, n, NULL);
}

int sq_user_bookings_page(void *state, const char *username, const struct store_page *page,
                          struct booking **out, size_t *n, struct store_page_next *next)
{
	next->more = 0;
	return sq_user_bookings_rows(state, username, page, out, n, next);
}

int sq_next_expiry(void *state, int64_t *at)
{
	struct sq_state *s = state;
	struct sq_conn *c = sq_reader_get(s);
	sqlite3_stmt *st;
	int rc = STORE_ERR;

	*at = INT64_MAX;
	if (c == NULL)
		return STORE_ERR;
	if (sq_first(c, &st, SQ_NEXT_EXPIRY) == 1) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			*at = sqlite3_column_int64(st, 0);
		sq_done(st);
		rc = STORE_OK;
	}
	sq_reader_put(s, c);
	return rc;
}

int sq_ping(void *state)
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
int sq_durability(void *state, struct store_durability *out)
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

struct sq_verify_ctx {
	struct sq_state *s;
	struct sq_conn *c;
};

/* One check, prepared for this run only (verify is rare). */
static int sq_verify_query(void *arg, const char *sql, long long *violations, char *example,
                           size_t size)
{
	struct sq_verify_ctx *v = arg;
	sqlite3_stmt *st;
	int rc = -1;

	if (sqlite3_prepare_v2(v->c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_log(v->c->db, sql);
		return -1;
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, sq_now(v->s));
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 1);
		*violations = sqlite3_column_int64(st, 0);
		snprintf(example, size, "%s", t ? (const char *)t : "?");
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Runs every invariant check in one read transaction. */
int sq_verify(void *state, struct store_report *report)
{
	struct sq_state *s = state;
	struct sq_verify_ctx v = {s, sq_reader_get(s)};
	int rc;

	if (v.c == NULL)
		return STORE_ERR;
	if (sq_exec(v.c, SQ_BEGIN) != 0) {
		sq_reader_put(s, v.c);
		return STORE_ERR;
	}
	rc = store_verify_run(report, "?1", sq_verify_query, &v) == 0 ? STORE_OK : STORE_ERR;
	sq_exec(v.c, SQ_COMMIT);
	sq_reader_put(s, v.c);
	return rc;
}
