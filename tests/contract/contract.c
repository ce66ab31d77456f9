/* contract.c - the store contract: every operation and every outcome of
 * store.h, checked through store.h only, so that every backend runs the
 * same suite.
 *
 * The database is BOXOFFICE_TEST_DB when set (any URL store_open takes),
 * else the backend named by CONTRACT_DEFAULT_BACKEND below: for SQLite a
 * fresh file per test in its own temporary directory. A shared database
 * (BOXOFFICE_TEST_DB) is never assumed empty: each test makes its own
 * screens, movies, shows and users under names unique to this run, and
 * checks on global state (store_next_expiry, expire-due counts) become
 * bounds there instead of equalities.
 *
 * Time: the store gets a fake clock that starts at the real time and moves
 * only by contract_advance(), on every backend alike: SQLite reads
 * cfg.clock, PostgreSQL hands it to the stored functions' bo_now() with
 * every call (store_pg.c), so no test sleeps and times compare exactly.
 *
 * After each test, every show it made must satisfy the seat invariant:
 * each seat in exactly one of available/held/booked, in natural order,
 * and available + held + booked == total. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../common/test_util.h"
#include "core/booking.h"
#include "core/outcome.h"
#include "core/seat.h"
#include "core/timefmt.h"
#include "store/store.h"

/* The one switch: which backend runs when BOXOFFICE_TEST_DB is not set
 * ("sqlite" or "postgres"). */
#define CONTRACT_DEFAULT_BACKEND "sqlite"
#define CONTRACT_DEFAULT_PG_URL  "postgres:///boxoffice_test"

enum {
	CONTRACT_TTL_MS = 60000,       /* default hold TTL: never runs out by accident */
	CONTRACT_LIFETIME_MS = 120000, /* default cart lifetime cap */
	CONTRACT_PER_USER = 10,        /* default max seats per user and show */
	CONTRACT_SHORT_TTL_MS = 500,   /* expiry tests */
	CONTRACT_SOON_MS = 1000,       /* a show "a little ahead" */
	CONTRACT_SCREENS_MAX = 32,
	CONTRACT_MOVIES_MAX = 32,
	CONTRACT_SHOWS_MAX = 32,
	CONTRACT_USERS_MAX = 32,
	CONTRACT_TEXT_MAX = 4096, /* seat lists printed on failure */
	CONTRACT_WORKERS = 8,
	CONTRACT_WORKER_SEATS = 25,
	CONTRACT_WORKER_BOOKED = 15, /* of a worker's row: booked, the rest held */
	CONTRACT_TWINS = 8,          /* identical commands raced at once */
	CONTRACT_TWIN_ROUNDS = 20,   /* a race lost 1 time in 5 fails 99% of runs */
};

struct contract_screen {
	int64_t id;
	char name[NAME_MAX_LEN + 1];
	int rows, seats_per_row;
};

struct contract_movie {
	int64_t id;
	char name[NAME_MAX_LEN + 1];
	int duration_minutes;
};

struct contract_show {
	int64_t id;
	int64_t show_time;
	const struct contract_screen *screen;
	const struct contract_movie *movie;
};

/* One test's world. */
struct fx {
	struct store *st;
	struct store_config cfg;
	char url[PATH_MAX + 32];
	char dir[PATH_MAX];  /* temporary directory to remove, or empty */
	bool shared;         /* other data may live in the database */
	_Atomic int64_t now; /* the fake clock */
	unsigned serial;     /* this test's number in the run */
	int nscreens, nmovies, nshows, nusers;
	struct contract_screen screens[CONTRACT_SCREENS_MAX];
	struct contract_movie movies[CONTRACT_MOVIES_MAX];
	struct contract_show shows[CONTRACT_SHOWS_MAX];
	char users[CONTRACT_USERS_MAX][USERNAME_MAX + 1];
};

static char contract_run_id[TEST_RUN_ID_LEN + 1];
static unsigned contract_serial;
/* Each test's clock starts where the one before it stopped, or later: in
 * a shared database a hold that one test saw expire (and gave to someone
 * else) must not come back to life for the next test, nor for
 * store_verify, which judges "live" by the store's clock. */
static int64_t contract_clock_floor;

/* ---- clock ------------------------------------------------------------ */

static int64_t contract_clock(void *arg)
{
	struct fx *f = arg;
	return atomic_load(&f->now);
}

/* The time the store believes it is. */
static int64_t contract_now(struct fx *f)
{
	return atomic_load(&f->now);
}

static void contract_advance(struct fx *f, int64_t ms)
{
	atomic_fetch_add(&f->now, ms);
}

/* ---- failure reporting ------------------------------------------------ */

__attribute__((format(printf, 4, 5))) static void contract_check(bool ok, const char *file,
                                                                 int line, const char *fmt, ...)
{
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprint_error(fmt, ap);
	va_end(ap);
	print_error("\n");
	_fail(file, line);
}

/* Parses a space-separated list of labels written in a test. */
static int contract_seats_parse(const char *labels, struct seat *out, int max)
{
	int n = 0;
	const char *p = labels;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (n == max || seat_parse(p, (size_t)(e - p), &out[n]) != 0)
			fail_msg("test bug: bad seat list \"%s\"", labels);
		n++;
		p = e;
	}
	return n;
}

static void contract_assert_seats(const struct seat *got, int n, const char *labels,
                                  const char *file, int line)
{
	static struct seat want[SEAT_ROWS_MAX];
	static char gtext[CONTRACT_TEXT_MAX];
	int nwant = contract_seats_parse(labels, want, SEAT_ROWS_MAX);
	bool same = n == nwant;

	for (int i = 0; same && i < n; i++)
		same = seat_compare(&got[i], &want[i]) == 0;
	if (!same)
		test_seats_text(got, n, gtext, sizeof(gtext));
	contract_check(same, file, line, "seats: got [%s], want [%s]", same ? "" : gtext, labels);
}
#define assert_seats(got, n, labels) contract_assert_seats((got), (n), (labels), __FILE__, __LINE__)

static void contract_assert_outcome(const struct store_cmd *c, enum outcome want, const char *file,
                                    int line)
{
	char text[CONTRACT_TEXT_MAX];

	test_seats_text(c->bad, c->nbad, text, sizeof(text));
	contract_check(c->outcome == want, file, line, "outcome: got %s (bad [%s]), want %s",
	               outcome_name(c->outcome), text, outcome_name(want));
}
#define assert_outcome(c, want) contract_assert_outcome((c), (want), __FILE__, __LINE__)

/* The refusal names exactly these seats, and the command changed nothing. */
static void contract_assert_refused(const struct store_cmd *c, enum outcome want,
                                    const char *labels, const char *file, int line)
{
	contract_assert_outcome(c, want, file, line);
	contract_assert_seats(c->bad, c->nbad, labels, file, line);
	contract_check(c->nchanges == 0, file, line, "a refused command reported %zu changes",
	               c->nchanges);
}
#define assert_refused(c, want, labels)                                                            \
	contract_assert_refused((c), (want), (labels), __FILE__, __LINE__)

/* The changes of show_id with that status are exactly these seats (any
 * order); changes of other statuses are checked by other calls. */
static void contract_assert_changes(const struct store_cmd *c, int64_t show_id,
                                    enum seat_status status, const char *labels, const char *file,
                                    int line)
{
	static struct seat got[SEAT_ROWS_MAX], want[SEAT_ROWS_MAX];
	static char gtext[CONTRACT_TEXT_MAX];
	int n = 0, nwant = contract_seats_parse(labels, want, SEAT_ROWS_MAX);

	for (size_t i = 0; i < c->nchanges && n < SEAT_ROWS_MAX; i++)
		if (c->changes[i].show_id == show_id && c->changes[i].status == status)
			got[n++] = c->changes[i].seat;
	seat_sort(got, (size_t)n);
	seat_sort(want, (size_t)nwant);
	bool same = n == nwant;
	for (int i = 0; same && i < n; i++)
		same = seat_compare(&got[i], &want[i]) == 0;
	if (!same)
		test_seats_text(got, n, gtext, sizeof(gtext));
	contract_check(same, file, line, "changes to status %d: got [%s], want [%s]", (int)status,
	               same ? "" : gtext, labels);
}
#define assert_changes(c, show, status, labels)                                                    \
	contract_assert_changes((c), (show), (status), (labels), __FILE__, __LINE__)

/* t is "now" as the store sees it: exactly the fake clock. */
static void contract_assert_now(struct fx *f, int64_t t, const char *file, int line)
{
	int64_t now = contract_now(f);
	contract_check(t == now, file, line, "time %" PRId64 ", want now %" PRId64, t, now);
}
#define assert_now(f, t) contract_assert_now((f), (t), __FILE__, __LINE__)

/* got is an interval that should be exactly want ms long. */
static void contract_assert_elapsed(struct fx *f, int64_t got, int64_t want, const char *file,
                                    int line)
{
	(void)f;
	contract_check(got == want, file, line, "interval %" PRId64 " ms, want %" PRId64, got,
	               want);
}
#define assert_elapsed(f, got, want) contract_assert_elapsed((f), (got), (want), __FILE__, __LINE__)

static void contract_assert_booking(const struct booking *b, const struct contract_show *s,
                                    const char *username, enum booking_status status,
                                    const char *file, int line)
{
	contract_check(test_ref_shaped(b->reference), file, line,
	               "reference \"%s\" is not BX-XXXXXXXX", b->reference);
	contract_check(b->status == status, file, line, "status %s, want %s",
	               booking_status_name(b->status), booking_status_name(status));
	contract_check(strcmp(b->username, username) == 0, file, line,
	               "username \"%s\", want \"%s\"", b->username, username);
	contract_check(b->show_id == s->id, file, line, "show %" PRId64 ", want %" PRId64,
	               b->show_id, s->id);
	contract_check(strcmp(b->movie_name, s->movie->name) == 0, file, line,
	               "movie \"%s\", want \"%s\"", b->movie_name, s->movie->name);
	contract_check(strcmp(b->screen_name, s->screen->name) == 0, file, line,
	               "screen \"%s\", want \"%s\"", b->screen_name, s->screen->name);
	contract_check(b->show_time == s->show_time, file, line,
	               "show time %" PRId64 ", want %" PRId64, b->show_time, s->show_time);
	contract_check(b->created_at > 0, file, line, "no created_at");
	if (status == BOOKING_STAGED)
		contract_check(b->expires_at > b->created_at, file, line, "a cart without expiry");
	else
		contract_check(b->expires_at == 0, file, line,
		               "a %s booking with expires_at %" PRId64, booking_status_name(status),
		               b->expires_at);
	if (status == BOOKING_CONFIRMED)
		contract_check(b->confirmed_at >= b->created_at, file, line,
		               "confirmed_at %" PRId64, b->confirmed_at);
	if (status == BOOKING_STAGED || status == BOOKING_EXPIRED)
		contract_check(b->confirmed_at == 0 && b->cancelled_at == 0, file, line,
		               "an unfinished cart with confirmed_at/cancelled_at");
	if (status == BOOKING_CANCELLED)
		contract_check(b->cancelled_at >= b->created_at, file, line,
		               "cancelled_at %" PRId64, b->cancelled_at);
	else
		contract_check(b->cancelled_at == 0, file, line, "cancelled_at set on a %s booking",
		               booking_status_name(status));
	for (int i = 1; i < b->nseats; i++)
		contract_check(seat_compare(&b->seats[i - 1], &b->seats[i]) < 0, file, line,
		               "booking seats not in natural order");
}
#define assert_booking(b, show, user, status)                                                      \
	contract_assert_booking((b), (show), (user), (status), __FILE__, __LINE__)

static void contract_assert_same_booking(const struct booking *a, const struct booking *b,
                                         const char *file, int line)
{
	contract_check(strcmp(a->reference, b->reference) == 0, file, line, "reference %s != %s",
	               a->reference, b->reference);
	contract_check(a->status == b->status, file, line, "status %s != %s",
	               booking_status_name(a->status), booking_status_name(b->status));
	contract_check(strcmp(a->username, b->username) == 0 && a->show_id == b->show_id &&
	                   strcmp(a->movie_name, b->movie_name) == 0 &&
	                   strcmp(a->screen_name, b->screen_name) == 0 &&
	                   a->show_time == b->show_time,
	               file, line, "booking %s: user/show/names differ", a->reference);
	contract_check(a->created_at == b->created_at && a->expires_at == b->expires_at &&
	                   a->confirmed_at == b->confirmed_at && a->cancelled_at == b->cancelled_at,
	               file, line,
	               "booking %s: times differ (created %" PRId64 "/%" PRId64 " expires %" PRId64
	               "/%" PRId64 " confirmed %" PRId64 "/%" PRId64 " cancelled %" PRId64
	               "/%" PRId64 ")",
	               a->reference, a->created_at, b->created_at, a->expires_at, b->expires_at,
	               a->confirmed_at, b->confirmed_at, a->cancelled_at, b->cancelled_at);
	bool same = a->nseats == b->nseats;
	for (int i = 0; same && i < a->nseats; i++)
		same = seat_compare(&a->seats[i], &b->seats[i]) == 0;
	contract_check(same, file, line, "booking %s: seats differ", a->reference);
}
#define assert_same_booking(a, b) contract_assert_same_booking((a), (b), __FILE__, __LINE__)

/* ---- names ------------------------------------------------------------ */

/* A user name unique to this run and test. */
static const char *contract_user(struct fx *f, const char *tag)
{
	if (f->nusers == CONTRACT_USERS_MAX)
		fail_msg("test bug: too many users");
	char *u = f->users[f->nusers++];
	snprintf(u, USERNAME_MAX + 1, "%s.%s.%u", tag, contract_run_id, f->serial);
	return u;
}

/* "YYYY-MM-DD" of an instant, UTC. */
static void contract_date(int64_t ms, char out[11])
{
	char buf[TIMEFMT_SIZE];
	timefmt_format(ms, buf);
	memcpy(out, buf, 10);
	out[10] = '\0';
}

/* ---- commands --------------------------------------------------------- */

static struct store_cmd *contract_cmd(enum store_op op)
{
	struct store_cmd *c = calloc(1, sizeof(*c));
	if (!c)
		fail_msg("out of memory");
	c->op = op;
	return c;
}

static void contract_run_at(struct fx *f, struct store_cmd *c, const char *file, int line)
{
	int rc = store_run(f->st, c);
	contract_check(rc == 0, file, line, "store_run(op %d) = %d", (int)c->op, rc);
}
#define contract_run(f, c) contract_run_at((f), (c), __FILE__, __LINE__)

static void contract_done(struct store_cmd *c)
{
	store_cmd_clear(c);
	free(c);
}

static void contract_set_seats(struct store_cmd *c, const char *labels)
{
	c->nseats = contract_seats_parse(labels, c->seats, BOOKING_SEATS_MAX);
}

static void contract_set_user(struct store_cmd *c, const char *username)
{
	snprintf(c->username, sizeof(c->username), "%s", username);
}

static struct store_cmd *op_hold(struct fx *f, const char *user, int64_t show, const char *seats)
{
	struct store_cmd *c = contract_cmd(STORE_OP_HOLD);
	contract_set_user(c, user);
	c->show_id = show;
	contract_set_seats(c, seats);
	contract_run(f, c);
	return c;
}

static struct store_cmd *op_hold_best(struct fx *f, const char *user, int64_t show, int count,
                                      bool split)
{
	struct store_cmd *c = contract_cmd(STORE_OP_HOLD_BEST);
	contract_set_user(c, user);
	c->show_id = show;
	c->count = count;
	c->allow_split = split;
	contract_run(f, c);
	return c;
}

static struct store_cmd *op_confirm(struct fx *f, const char *user, int64_t show, const char *seats)
{
	struct store_cmd *c = contract_cmd(STORE_OP_CONFIRM);
	contract_set_user(c, user);
	c->show_id = show;
	contract_set_seats(c, seats);
	contract_run(f, c);
	return c;
}

/* seats NULL: the whole cart. */
static struct store_cmd *op_release(struct fx *f, const char *user, int64_t show, const char *seats)
{
	struct store_cmd *c = contract_cmd(STORE_OP_RELEASE);
	contract_set_user(c, user);
	c->show_id = show;
	if (seats)
		contract_set_seats(c, seats);
	else
		c->all_seats = true;
	contract_run(f, c);
	return c;
}

static struct store_cmd *op_cancel(struct fx *f, const char *user, const char *reference)
{
	struct store_cmd *c = contract_cmd(STORE_OP_CANCEL);
	contract_set_user(c, user);
	snprintf(c->reference, sizeof(c->reference), "%s", reference);
	contract_run(f, c);
	return c;
}

static struct store_cmd *op_expire(struct fx *f)
{
	struct store_cmd *c = contract_cmd(STORE_OP_EXPIRE_DUE);
	contract_run(f, c);
	return c;
}

static struct store_cmd *op_cancel_show(struct fx *f, int64_t show)
{
	struct store_cmd *c = contract_cmd(STORE_OP_CANCEL_SHOW);
	c->show_id = show;
	contract_run(f, c);
	return c;
}

/* A hold that must succeed; its booking goes to *out when out is set. */
static void contract_hold_ok(struct fx *f, const char *user, int64_t show, const char *seats,
                             struct booking *out)
{
	struct store_cmd *c = op_hold(f, user, show, seats);
	assert_outcome(c, OUTCOME_OK);
	assert_int_equal(c->booking.status, BOOKING_STAGED);
	if (out)
		*out = c->booking;
	contract_done(c);
}

static void contract_confirm_ok(struct fx *f, const char *user, int64_t show, const char *seats,
                                struct booking *out)
{
	struct store_cmd *c = op_confirm(f, user, show, seats);
	assert_outcome(c, OUTCOME_OK);
	assert_int_equal(c->booking.status, BOOKING_CONFIRMED);
	if (out)
		*out = c->booking;
	contract_done(c);
}

static void contract_cancel_show_ok(struct fx *f, int64_t show)
{
	struct store_cmd *c = op_cancel_show(f, show);
	assert_outcome(c, OUTCOME_OK);
	contract_done(c);
}

/* ---- admin ------------------------------------------------------------ */

static const struct contract_screen *contract_screen_new(struct fx *f, int rows, int seats_per_row)
{
	if (f->nscreens == CONTRACT_SCREENS_MAX)
		fail_msg("test bug: too many screens");
	struct contract_screen *sc = &f->screens[f->nscreens];
	struct store_cmd *c = contract_cmd(STORE_OP_CREATE_SCREEN);

	snprintf(sc->name, sizeof(sc->name), "Screen %s-%u-%d", contract_run_id, f->serial,
	         f->nscreens);
	snprintf(c->name, sizeof(c->name), "%s", sc->name);
	c->rows = rows;
	c->seats_per_row = seats_per_row;
	contract_run(f, c);
	assert_outcome(c, OUTCOME_CREATED);
	assert_true(c->created_id > 0);
	assert_int_equal(c->total_seats, rows * seats_per_row);
	for (int i = 0; i < f->nscreens; i++)
		assert_true(f->screens[i].id != c->created_id);
	sc->id = c->created_id;
	sc->rows = rows;
	sc->seats_per_row = seats_per_row;
	contract_done(c);
	f->nscreens++;
	return sc;
}

static const struct contract_movie *contract_movie_new(struct fx *f, int duration_minutes,
                                                       int64_t last_show_day)
{
	if (f->nmovies == CONTRACT_MOVIES_MAX)
		fail_msg("test bug: too many movies");
	struct contract_movie *m = &f->movies[f->nmovies];
	struct store_cmd *c = contract_cmd(STORE_OP_CREATE_MOVIE);

	snprintf(m->name, sizeof(m->name), "Movie %s-%u-%d", contract_run_id, f->serial,
	         f->nmovies);
	snprintf(c->name, sizeof(c->name), "%s", m->name);
	c->duration_minutes = duration_minutes;
	contract_date(last_show_day, c->last_show_date);
	contract_run(f, c);
	assert_outcome(c, OUTCOME_CREATED);
	assert_true(c->created_id > 0);
	for (int i = 0; i < f->nmovies; i++)
		assert_true(f->movies[i].id != c->created_id);
	m->id = c->created_id;
	m->duration_minutes = duration_minutes;
	contract_done(c);
	f->nmovies++;
	return m;
}

/* Runs CREATE_SHOW; a show it creates is remembered for the invariant
 * check. The caller checks and frees the command. */
static struct store_cmd *contract_try_show(struct fx *f, const struct contract_movie *m,
                                           const struct contract_screen *sc, int64_t show_time,
                                           const struct contract_show **made)
{
	struct store_cmd *c = contract_cmd(STORE_OP_CREATE_SHOW);

	c->movie_id = m ? m->id : INT64_MAX;
	c->screen_id = sc ? sc->id : INT64_MAX;
	c->show_time = show_time;
	contract_run(f, c);
	if (made)
		*made = NULL;
	if (c->outcome == OUTCOME_CREATED) {
		if (f->nshows == CONTRACT_SHOWS_MAX)
			fail_msg("test bug: too many shows");
		struct contract_show *s = &f->shows[f->nshows++];
		s->id = c->created_id;
		s->show_time = show_time;
		s->screen = sc;
		s->movie = m;
		if (made)
			*made = s;
	}
	return c;
}

static const struct contract_show *contract_show_add(struct fx *f, const struct contract_movie *m,
                                                     const struct contract_screen *sc,
                                                     int64_t show_time)
{
	const struct contract_show *s;
	struct store_cmd *c = contract_try_show(f, m, sc, show_time, &s);

	assert_outcome(c, OUTCOME_CREATED);
	assert_true(c->created_id > 0);
	assert_int_equal(c->created_end, show_time + m->duration_minutes * TEST_MINUTE_MS);
	assert_int_equal(c->total_seats, sc->rows * sc->seats_per_row);
	for (int i = 0; i < f->nshows - 1; i++)
		assert_true(f->shows[i].id != c->created_id);
	contract_done(c);
	return s;
}

/* A fresh screen and movie (120 minutes, bookable for 30 days) and one
 * show on them, `ahead` ms from now. */
static const struct contract_show *contract_show_new(struct fx *f, int rows, int seats_per_row,
                                                     int64_t ahead)
{
	const struct contract_screen *sc = contract_screen_new(f, rows, seats_per_row);
	const struct contract_movie *m =
	    contract_movie_new(f, 120, contract_now(f) + 30 * TEST_DAY_MS);
	return contract_show_add(f, m, sc, contract_now(f) + ahead);
}

/* ---- reads ------------------------------------------------------------ */

static void contract_details_at(struct fx *f, int64_t show, struct show_details *d,
                                const char *file, int line)
{
	enum outcome o = OUTCOME_COUNT;

	memset(d, 0, sizeof(*d));
	int rc = store_show_details(f->st, show, d, &o);
	contract_check(rc == 0, file, line, "store_show_details = %d", rc);
	contract_check(o == OUTCOME_OK, file, line, "store_show_details: %s", outcome_name(o));
}
#define contract_details(f, show, d) contract_details_at((f), (show), (d), __FILE__, __LINE__)

static void contract_assert_same_details(const struct show_details *a, const struct show_details *b,
                                         const char *file, int line)
{
	bool same = a->navailable == b->navailable && a->nheld == b->nheld &&
	            a->nbooked == b->nbooked && a->next_expiry == b->next_expiry;
	for (int i = 0; same && i < a->navailable; i++)
		same = seat_compare(&a->available[i], &b->available[i]) == 0;
	for (int i = 0; same && i < a->nheld; i++)
		same = seat_compare(&a->held[i], &b->held[i]) == 0;
	for (int i = 0; same && i < a->nbooked; i++)
		same = seat_compare(&a->booked[i], &b->booked[i]) == 0;
	contract_check(same, file, line,
	               "the show changed (available %d->%d, held %d->%d, booked %d->%d)",
	               a->navailable, b->navailable, a->nheld, b->nheld, a->nbooked, b->nbooked);
}

/* Asserts that the seat map of a show is what `before` recorded; frees
 * before. */
static void contract_assert_unchanged_at(struct fx *f, int64_t show, struct show_details *before,
                                         const char *file, int line)
{
	struct show_details after;
	contract_details_at(f, show, &after, file, line);
	contract_assert_same_details(before, &after, file, line);
	store_show_details_free(before);
	store_show_details_free(&after);
}
#define assert_unchanged(f, show, before)                                                          \
	contract_assert_unchanged_at((f), (show), (before), __FILE__, __LINE__)

/* Checks the order of the whole list and copies out one show's summary;
 * returns its index, or -1 when the show is not listed. */
static long contract_active_find(struct fx *f, int64_t show, struct show_summary *out)
{
	struct show_summary *list = NULL;
	size_t n = 0;
	long at = -1;

	assert_int_equal(store_active_shows(f->st, &list, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			const struct show_summary *p = &list[i - 1], *q = &list[i];
			assert_true(p->show_time < q->show_time ||
			            (p->show_time == q->show_time && p->show_id < q->show_id));
		}
		if (list[i].show_id == show) {
			at = (long)i;
			if (out)
				*out = list[i];
		}
	}
	free(list);
	return at;
}

static void contract_booking_at(struct fx *f, const char *user, const char *reference,
                                struct booking *b, const char *file, int line)
{
	enum outcome o = OUTCOME_COUNT;
	int rc = store_booking_details(f->st, user, reference, b, &o);
	contract_check(rc == 0, file, line, "store_booking_details = %d", rc);
	contract_check(o == OUTCOME_OK, file, line, "store_booking_details(%s): %s", reference,
	               outcome_name(o));
}
#define contract_booking(f, user, ref, b)                                                          \
	contract_booking_at((f), (user), (ref), (b), __FILE__, __LINE__)

static void contract_assert_no_booking_at(struct fx *f, const char *user, const char *reference,
                                          const char *file, int line)
{
	static struct booking b;
	enum outcome o = OUTCOME_COUNT;
	int rc = store_booking_details(f->st, user, reference, &b, &o);
	contract_check(rc == 0, file, line, "store_booking_details = %d", rc);
	contract_check(o == OUTCOME_BOOKING_NOT_FOUND, file, line,
	               "booking %s for %s: %s, want BOOKING_NOT_FOUND", reference, user,
	               outcome_name(o));
}
#define assert_no_booking(f, user, ref)                                                            \
	contract_assert_no_booking_at((f), (user), (ref), __FILE__, __LINE__)

/* The user's bookings, newest first; the caller frees *list. */
static size_t contract_user_bookings_at(struct fx *f, const char *user, struct booking **list,
                                        const char *file, int line)
{
	size_t n = 0;
	*list = NULL;
	int rc = store_user_bookings(f->st, user, list, &n);
	contract_check(rc == 0, file, line, "store_user_bookings = %d", rc);
	for (size_t i = 1; i < n; i++)
		contract_check((*list)[i - 1].created_at >= (*list)[i].created_at, file, line,
		               "user bookings not newest first");
	for (size_t i = 0; i < n; i++)
		contract_check(strcmp((*list)[i].username, user) == 0, file, line,
		               "another user's booking in the list");
	return n;
}
#define contract_user_bookings(f, user, list)                                                      \
	contract_user_bookings_at((f), (user), (list), __FILE__, __LINE__)

static size_t contract_count_bookings(struct fx *f, const char *user)
{
	struct booking *list;
	size_t n = contract_user_bookings(f, user, &list);
	free(list);
	return n;
}

/* ---- fixture ---------------------------------------------------------- */

static void contract_config(struct fx *f, int64_t ttl, int64_t lifetime, int per_user)
{
	memset(&f->cfg, 0, sizeof(f->cfg));
	f->cfg.url = f->url;
	f->cfg.hold_ttl_ms = ttl;
	f->cfg.hold_max_lifetime_ms = lifetime;
	f->cfg.max_seats_per_user = per_user;
	f->cfg.threads = CONTRACT_WORKERS;
	f->cfg.pool_size = 4;
	f->cfg.clock = contract_clock;
	f->cfg.clock_arg = f;
}

/* Closes the store and opens it again on the same database with other
 * limits. */
static void contract_reopen(struct fx *f, int64_t ttl, int64_t lifetime, int per_user)
{
	store_close(f->st);
	f->st = NULL;
	contract_config(f, ttl, lifetime, per_user);
	assert_int_equal(store_open(&f->cfg, &f->st), 0);
	assert_non_null(f->st);
}

static void contract_remove_dir(const char *dir)
{
	if (test_remove_dir(dir) != 0)
		print_error("could not remove %s: %s\n", dir, strerror(errno));
}

static int contract_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *env = getenv("BOXOFFICE_TEST_DB");

	if (!f)
		return -1;
	f->serial = ++contract_serial;
	if (!(env && *env) && strcmp(CONTRACT_DEFAULT_BACKEND, "postgres") == 0) {
		snprintf(f->url, sizeof(f->url), "%s", CONTRACT_DEFAULT_PG_URL);
		f->shared = true;
	} else {
		int shared =
		    test_db_url("contract", "t.db", f->url, sizeof(f->url), f->dir, sizeof(f->dir));
		if (shared < 0) {
			print_error("mkdtemp: %s\n", strerror(errno));
			free(f);
			return -1;
		}
		f->shared = shared == 1;
	}
	int64_t t0 = timefmt_now_ms();
	atomic_store(&f->now, t0 > contract_clock_floor ? t0 : contract_clock_floor);
	contract_config(f, CONTRACT_TTL_MS, CONTRACT_LIFETIME_MS, CONTRACT_PER_USER);
	int rc = store_open(&f->cfg, &f->st);
	if (rc != 0) {
		print_error("store_open(%s) = %d\n", f->url, rc);
		if (f->dir[0])
			contract_remove_dir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* Every show the test made: each seat exactly once across the three
 * lists, lists in natural order, counts adding up. Returns 0 or -1. */
static int contract_invariants(struct fx *f)
{
	int bad = 0;

	for (int i = 0; i < f->nshows; i++) {
		const struct contract_show *s = &f->shows[i];
		int rows = s->screen->rows, per_row = s->screen->seats_per_row;
		struct show_details d;
		enum outcome o = OUTCOME_COUNT;

		memset(&d, 0, sizeof(d));
		if (store_show_details(f->st, s->id, &d, &o) != 0 || o != OUTCOME_OK) {
			print_error("invariant: show %" PRId64 " unreadable (%s)\n", s->id,
			            outcome_name(o));
			bad = -1;
			continue;
		}
		if (d.total_seats != rows * per_row ||
		    d.navailable + d.nheld + d.nbooked != d.total_seats) {
			print_error("invariant: show %" PRId64 ": %d + %d + %d != %d (screen %d)\n",
			            s->id, d.navailable, d.nheld, d.nbooked, d.total_seats,
			            rows * per_row);
			bad = -1;
		}
		unsigned char *seen = calloc((size_t)rows * (size_t)per_row, 1);
		const struct seat *lists[3] = {d.available, d.held, d.booked};
		int counts[3] = {d.navailable, d.nheld, d.nbooked};
		for (int l = 0; seen && l < 3; l++) {
			for (int k = 0; k < counts[l]; k++) {
				struct seat t = lists[l][k];
				if (t.row < 0 || t.row >= rows || t.number < 1 ||
				    t.number > per_row || seen[t.row * per_row + t.number - 1]++ ||
				    (k > 0 && seat_compare(&lists[l][k - 1], &t) >= 0)) {
					print_error("invariant: show %" PRId64
					            ": list %d entry %d misplaced\n",
					            s->id, l, k);
					bad = -1;
					break;
				}
			}
		}
		free(seen);
		store_show_details_free(&d);
	}
	return bad;
}

static int contract_teardown(void **state)
{
	struct fx *f = *state;
	int rc = 0;

	if (!f)
		return 0;
	if (f->st) {
		struct store_report report;
		rc = contract_invariants(f);
		/* The database's own invariants, as boxoffice verify states them. */
		if (store_verify(f->st, &report) != 0) {
			print_error("verify: the checks could not run\n");
			rc = -1;
		} else if (report.failed > 0) {
			print_error("verify:\n%s", report.text);
			rc = -1;
		}
		free(report.text);
		store_close(f->st);
	}
	if (f->dir[0])
		contract_remove_dir(f->dir);
	if (atomic_load(&f->now) + 1 > contract_clock_floor)
		contract_clock_floor = atomic_load(&f->now) + 1;
	free(f);
	*state = NULL;
	return rc;
}

/* ---- tests: plumbing -------------------------------------------------- */

static void test_ping_and_backend(void **state)
{
	struct fx *f = *state;
	const char *name = store_backend_name(f->st);

	assert_int_equal(store_ping(f->st), 0);
	assert_non_null(name);
	assert_true(name[0] != '\0');
	if (strncmp(f->url, "sqlite:", 7) == 0)
		assert_string_equal(name, "sqlite");
	assert_int_equal(store_now(f->st), atomic_load(&f->now));
	contract_advance(f, 1234);
	assert_int_equal(store_now(f->st), atomic_load(&f->now));
}

static void test_open_rejects_bad_url(void **state)
{
	struct fx *f = *state;
	struct store_config cfg = f->cfg;
	struct store *st = NULL;

	cfg.url = "nosuchdb:whatever";
	assert_int_equal(store_open(&cfg, &st), STORE_EINVAL);
	assert_null(st);
}

/* Data written through one store is there after closing and opening it
 * again: every acknowledged write is durable, and migrating twice is
 * harmless. */
static void test_reopen_keeps_data(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking conf, b;

	contract_hold_ok(f, alice, s->id, "A1 A2 B5", NULL);
	contract_confirm_ok(f, alice, s->id, "A1 A2", &conf);
	contract_hold_ok(f, alice, s->id, "B1", NULL);
	contract_reopen(f, CONTRACT_TTL_MS, CONTRACT_LIFETIME_MS, CONTRACT_PER_USER);
	contract_booking(f, alice, conf.reference, &b);
	assert_same_booking(&b, &conf);

	struct show_details d;
	contract_details(f, s->id, &d);
	assert_seats(d.booked, d.nbooked, "A1 A2");
	assert_seats(d.held, d.nheld, "B1");
	store_show_details_free(&d);
	assert_int_equal(contract_count_bookings(f, alice), 2);
}

static atomic_int contract_heard_calls, contract_heard_held;
static _Atomic int64_t contract_heard_show;

static void contract_listener(void *arg, const struct store_cmd *cmd)
{
	(void)arg;
	if (cmd->op == STORE_OP_NOTIFY)
		return; /* a shared feed's echo (test_feed_in_commit_order) */
	atomic_fetch_add(&contract_heard_calls, 1);
	for (size_t i = 0; i < cmd->nchanges; i++)
		if (cmd->changes[i].show_id == atomic_load(&contract_heard_show) &&
		    cmd->changes[i].status == SEAT_HELD)
			atomic_fetch_add(&contract_heard_held, 1);
}

/* A random source whose reference draws (32-byte requests) repeat each
 * value twice, so the second cart's first reference collides with the
 * first cart's. Other draws (user guids) are truly random. */
static atomic_int contract_ref_draws;

static int contract_colliding_random(void *arg, void *buf, size_t len)
{
	(void)arg;
	if (len != 32)
		return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
	memset(buf, atomic_fetch_add(&contract_ref_draws, 1) / 2, len);
	return 0;
}

/* A reference collision is retried inside the store, never surfaced. (On
 * PostgreSQL references are drawn by the database itself, which ignores
 * cfg.random; there the test checks only that they differ.) */
static void test_reference_collision_retried(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking a, b;

	store_close(f->st);
	f->st = NULL;
	atomic_store(&contract_ref_draws, 0);
	f->cfg.random = contract_colliding_random;
	assert_int_equal(store_open(&f->cfg, &f->st), 0);
	contract_hold_ok(f, alice, s->id, "A1", &a);
	contract_hold_ok(f, bob, s->id, "A2", &b);
	assert_string_not_equal(a.reference, b.reference);
	if (strncmp(f->url, "sqlite:", 7) == 0)
		assert_true(atomic_load(&contract_ref_draws) >= 3); /* one draw was retried */
	f->cfg.random = NULL;
}

/* What a shared feed told the listener about one show. */
enum { CONTRACT_FEED_MAX = 16 };
static pthread_mutex_t contract_feed_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t contract_feed_show, contract_feed_seq[CONTRACT_FEED_MAX];
static struct seat_change contract_feed_first[CONTRACT_FEED_MAX];
static size_t contract_feed_n[CONTRACT_FEED_MAX];
static int contract_feed_count;

static void contract_feed_listener(void *arg, const struct store_cmd *cmd)
{
	(void)arg;
	if (cmd->op != STORE_OP_NOTIFY || cmd->nchanges == 0)
		return;
	pthread_mutex_lock(&contract_feed_lock);
	if (cmd->changes[0].show_id == contract_feed_show &&
	    contract_feed_count < CONTRACT_FEED_MAX) {
		contract_feed_seq[contract_feed_count] = cmd->feed_seq;
		contract_feed_first[contract_feed_count] = cmd->changes[0];
		contract_feed_n[contract_feed_count] = cmd->nchanges;
		contract_feed_count++;
	}
	pthread_mutex_unlock(&contract_feed_lock);
}

/* A shared feed (PostgreSQL) numbers each write's changes per show, in
 * commit order, and reports them all, ours too, to the listener; refusals
 * take no seq. A single-node store (SQLite) leaves numbering to events/. */
static void test_feed_in_commit_order(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	int64_t head = -1, after = -1;

	if (!store_feed_shared(f->st)) {
		assert_int_equal(store_feed_head(f->st, s->id, &head), STORE_EINVAL);
		return;
	}
	assert_int_equal(store_feed_head(f->st, s->id, &head), STORE_OK);
	assert_int_equal(head, 0); /* a new show has no events */
	pthread_mutex_lock(&contract_feed_lock);
	contract_feed_show = s->id;
	contract_feed_count = 0;
	pthread_mutex_unlock(&contract_feed_lock);
	store_set_listener(f->st, contract_feed_listener, NULL);
	contract_hold_ok(f, alice, s->id, "A1 A2", NULL);
	struct store_cmd *c = op_hold(f, bob, s->id, "A2");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "A2");
	contract_done(c);
	contract_hold_ok(f, bob, s->id, "B1", NULL);
	c = op_release(f, alice, s->id, "A2");
	assert_outcome(c, OUTCOME_OK);
	contract_done(c);
	int count = 0;
	for (int i = 0; i < 500 && count < 3; i++) { /* the tailer polls */
		pthread_mutex_lock(&contract_feed_lock);
		count = contract_feed_count;
		pthread_mutex_unlock(&contract_feed_lock);
		if (count < 3)
			usleep(10 * 1000);
	}
	store_set_listener(f->st, NULL, NULL);
	assert_int_equal(count, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(contract_feed_seq[i], i + 1);
	assert_int_equal(contract_feed_n[0], 2);
	assert_int_equal(contract_feed_first[0].status, SEAT_HELD);
	assert_int_equal(contract_feed_first[1].seat.row, 1);
	assert_int_equal(contract_feed_first[1].status, SEAT_HELD);
	assert_int_equal(contract_feed_n[2], 1);
	assert_int_equal(contract_feed_first[2].seat.number, 2);
	assert_int_equal(contract_feed_first[2].status, SEAT_AVAILABLE);
	assert_int_equal(store_feed_head(f->st, s->id, &after), STORE_OK);
	assert_int_equal(after, 3);
}

/* The listener hears every committed change, before store_run returns. */
static void test_listener_hears_commits(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");

	atomic_store(&contract_heard_calls, 0);
	atomic_store(&contract_heard_held, 0);
	atomic_store(&contract_heard_show, s->id);
	store_set_listener(f->st, contract_listener, NULL);
	contract_hold_ok(f, alice, s->id, "A1 A2", NULL);
	assert_true(atomic_load(&contract_heard_calls) >= 1);
	assert_int_equal(atomic_load(&contract_heard_held), 2);

	struct store_cmd *c = op_hold(f, bob, s->id, "A2 A3");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "A2");
	contract_done(c);
	assert_int_equal(atomic_load(&contract_heard_held), 2);

	contract_hold_ok(f, bob, s->id, "B3", NULL);
	assert_int_equal(atomic_load(&contract_heard_held), 3);
	store_set_listener(f->st, NULL, NULL);
}

/* Draining finishes the queue and refuses later writes; reads go on. */
static void test_drain_refuses_writes(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking cart, b;

	contract_hold_ok(f, alice, s->id, "A1", &cart);
	store_drain(f->st);
	struct store_cmd *c = contract_cmd(STORE_OP_HOLD);
	contract_set_user(c, alice);
	c->show_id = s->id;
	contract_set_seats(c, "A2");
	assert_int_equal(store_run(f->st, c), STORE_EBUSY);
	contract_done(c);
	contract_booking(f, alice, cart.reference, &b);
	assert_same_booking(&b, &cart);
	assert_int_equal(store_ping(f->st), 0);
}

/* ---- tests: admin ----------------------------------------------------- */

static void test_create_screen(void **state)
{
	struct fx *f = *state;
	const struct contract_screen *a = contract_screen_new(f, 3, 7);
	const struct contract_screen *b = contract_screen_new(f, 1, 1);
	const struct contract_movie *m =
	    contract_movie_new(f, 90, contract_now(f) + 10 * TEST_DAY_MS);
	const struct contract_show *s = contract_show_add(f, m, a, contract_now(f) + TEST_DAY_MS);
	const struct contract_show *t = contract_show_add(f, m, b, contract_now(f) + TEST_DAY_MS);
	struct show_details d;

	assert_true(a->id != b->id);
	contract_details(f, s->id, &d);
	assert_string_equal(d.screen_name, a->name);
	assert_int_equal(d.rows, 3);
	assert_int_equal(d.seats_per_row, 7);
	assert_int_equal(d.total_seats, 21);
	store_show_details_free(&d);
	contract_details(f, t->id, &d);
	assert_string_equal(d.screen_name, b->name);
	assert_int_equal(d.total_seats, 1);
	assert_seats(d.available, d.navailable, "A1");
	store_show_details_free(&d);
}

static void test_create_movie(void **state)
{
	struct fx *f = *state;
	const struct contract_screen *sc = contract_screen_new(f, 2, 2);
	const struct contract_movie *a =
	    contract_movie_new(f, 95, contract_now(f) + 10 * TEST_DAY_MS);
	const struct contract_movie *b =
	    contract_movie_new(f, 1440, contract_now(f) + 10 * TEST_DAY_MS);
	const struct contract_show *s = contract_show_add(f, a, sc, contract_now(f) + TEST_DAY_MS);
	struct show_details d;
	struct show_summary sum;

	assert_true(a->id != b->id);
	contract_details(f, s->id, &d);
	assert_string_equal(d.movie_name, a->name);
	assert_int_equal(d.duration_minutes, 95);
	store_show_details_free(&d);
	assert_true(contract_active_find(f, s->id, &sum) >= 0);
	assert_int_equal(sum.movie_id, a->id);
	assert_string_equal(sum.movie_name, a->name);
	assert_int_equal(sum.duration_minutes, 95);
}

static void test_create_show(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 3, TEST_DAY_MS);
	struct show_details d;
	struct show_summary sum;

	contract_details(f, s->id, &d);
	assert_int_equal(d.show_id, s->id);
	assert_string_equal(d.movie_name, s->movie->name);
	assert_string_equal(d.screen_name, s->screen->name);
	assert_int_equal(d.duration_minutes, 120);
	assert_int_equal(d.show_time, s->show_time);
	assert_string_equal(d.status, "ACTIVE");
	assert_int_equal(d.rows, 2);
	assert_int_equal(d.seats_per_row, 3);
	assert_int_equal(d.total_seats, 6);
	assert_seats(d.available, d.navailable, "A1 A2 A3 B1 B2 B3");
	assert_int_equal(d.nheld, 0);
	assert_int_equal(d.nbooked, 0);
	assert_int_equal(d.next_expiry, INT64_MAX);
	store_show_details_free(&d);

	assert_true(contract_active_find(f, s->id, &sum) >= 0);
	assert_int_equal(sum.show_id, s->id);
	assert_int_equal(sum.movie_id, s->movie->id);
	assert_int_equal(sum.screen_id, s->screen->id);
	assert_string_equal(sum.screen_name, s->screen->name);
	assert_int_equal(sum.show_time, s->show_time);
	assert_int_equal(sum.total_seats, 6);
	assert_int_equal(sum.available_seats, 6);
}

static void test_create_show_unknown_refs(void **state)
{
	struct fx *f = *state;
	const struct contract_screen *sc = contract_screen_new(f, 2, 2);
	const struct contract_movie *m =
	    contract_movie_new(f, 60, contract_now(f) + 10 * TEST_DAY_MS);
	int64_t when = contract_now(f) + TEST_DAY_MS;

	struct store_cmd *c = contract_try_show(f, NULL, sc, when, NULL);
	assert_outcome(c, OUTCOME_MOVIE_NOT_FOUND);
	contract_done(c);
	c = contract_try_show(f, m, NULL, when, NULL);
	assert_outcome(c, OUTCOME_SCREEN_NOT_FOUND);
	contract_done(c);
	/* Neither refusal left a show behind: the slot is free. */
	contract_show_add(f, m, sc, when);
}

static void test_create_show_time_rules(void **state)
{
	struct fx *f = *state;
	const struct contract_screen *a = contract_screen_new(f, 1, 2);
	const struct contract_screen *b = contract_screen_new(f, 1, 2);
	const struct contract_screen *c3 = contract_screen_new(f, 1, 2);
	int64_t last = contract_now(f) + 2 * TEST_DAY_MS;
	const struct contract_movie *m = contract_movie_new(f, 30, last);
	char date[11];
	int y, mo, d;

	contract_date(last, date);
	assert_int_equal(timefmt_parse_date(date, &y, &mo, &d), 0);
	int64_t day_start = timefmt_days_from_civil(y, mo, d) * TEST_DAY_MS;

	struct store_cmd *c = contract_try_show(f, m, c3, contract_now(f) - TEST_SECOND_MS, NULL);
	assert_outcome(c, OUTCOME_INVALID_REQUEST);
	contract_done(c);
	c = contract_try_show(f, m, c3, day_start + TEST_DAY_MS, NULL);
	assert_outcome(c, OUTCOME_INVALID_REQUEST);
	contract_done(c);
	c = contract_try_show(f, m, c3, contract_now(f) + 5 * TEST_DAY_MS, NULL);
	assert_outcome(c, OUTCOME_INVALID_REQUEST);
	contract_done(c);
	/* The whole of the last show date is allowed. */
	contract_show_add(f, m, a, day_start + 23 * TEST_HOUR_MS);
	contract_show_add(f, m, b, day_start + TEST_DAY_MS - 1);
}

static void test_create_show_screen_busy(void **state)
{
	struct fx *f = *state;
	const struct contract_screen *x = contract_screen_new(f, 2, 2);
	const struct contract_screen *y = contract_screen_new(f, 2, 2);
	const struct contract_movie *m120 =
	    contract_movie_new(f, 120, contract_now(f) + 10 * TEST_DAY_MS);
	const struct contract_movie *m60 =
	    contract_movie_new(f, 60, contract_now(f) + 10 * TEST_DAY_MS);
	int64_t t = contract_now(f) + TEST_DAY_MS;
	const struct contract_show *first = contract_show_add(f, m120, x, t);
	const struct {
		const struct contract_movie *m;
		int64_t at;
	} clashes[] = {
	    {m120, t},                       /* the same slot */
	    {m60, t + 119 * TEST_MINUTE_MS}, /* starts inside */
	    {m120, t - 60 * TEST_MINUTE_MS}, /* ends inside */
	    {m60, t + 30 * TEST_MINUTE_MS},  /* inside */
	    {m120, t - 1},                   /* ends 1 ms inside */
	};

	for (size_t i = 0; i < sizeof(clashes) / sizeof(clashes[0]); i++) {
		struct store_cmd *c = contract_try_show(f, clashes[i].m, x, clashes[i].at, NULL);
		assert_outcome(c, OUTCOME_SCREEN_BUSY);
		assert_int_equal(c->nchanges, 0);
		contract_done(c);
	}
	/* Intervals are half-open: touching either end is fine. */
	contract_show_add(f, m60, x, t + 120 * TEST_MINUTE_MS);
	contract_show_add(f, m60, x, t - 60 * TEST_MINUTE_MS);
	/* Another screen at the same time is fine. */
	contract_show_add(f, m120, y, t);
	/* A cancelled show no longer occupies its screen. */
	contract_cancel_show_ok(f, first->id);
	contract_show_add(f, m60, x, t + 30 * TEST_MINUTE_MS);
}

static void test_cancel_show(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 4, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct show_details d;

	struct store_cmd *c = op_cancel_show(f, s->id);
	assert_outcome(c, OUTCOME_OK);
	assert_int_equal(c->created_id, s->id);
	contract_done(c);

	contract_details(f, s->id, &d);
	assert_string_equal(d.status, "CANCELLED");
	store_show_details_free(&d);
	assert_int_equal(contract_active_find(f, s->id, NULL), -1);

	c = op_hold(f, alice, s->id, "A1");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	/* Bookability is checked before the seats exist. */
	c = op_hold(f, alice, s->id, "Z9");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	c = op_hold_best(f, alice, s->id, 2, false);
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	assert_int_equal(contract_count_bookings(f, alice), 0);

	contract_cancel_show_ok(f, s->id); /* again: harmless */
	c = op_cancel_show(f, INT64_MAX);
	assert_outcome(c, OUTCOME_SHOW_NOT_FOUND);
	contract_done(c);
}

/* A show that took holds (so a backend may have its row at hand) and is
 * then cancelled takes no more holds or confirms. */
static void test_cancel_show_after_holds(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 4, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");

	contract_hold_ok(f, alice, s->id, "A1", NULL);
	contract_hold_ok(f, bob, s->id, "A2", NULL);
	contract_cancel_show_ok(f, s->id);
	struct store_cmd *c = op_hold(f, bob, s->id, "A3");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	c = op_confirm(f, alice, s->id, "A1");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
}

/* A refused hold by a new user leaves no user behind, and nothing of it
 * is remembered: the next new user and then the refused one each get a
 * booking of their own (their ids must not be mixed up). */
static void test_refused_new_user(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 4, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *carol = contract_user(f, "carol");
	const char *dave = contract_user(f, "dave");
	struct booking *list;

	contract_hold_ok(f, alice, s->id, "A1", NULL);
	struct store_cmd *c = op_hold(f, carol, s->id, "A1");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "A1");
	contract_done(c);
	contract_hold_ok(f, dave, s->id, "A2", NULL);
	contract_hold_ok(f, carol, s->id, "A3", NULL);
	contract_confirm_ok(f, carol, s->id, "A3", NULL);
	assert_int_equal(contract_user_bookings(f, dave, &list), 1);
	assert_string_equal(list[0].username, dave);
	assert_int_equal(list[0].status, BOOKING_STAGED);
	assert_int_equal(list[0].nseats, 1);
	assert_int_equal(list[0].seats[0].number, 2);
	free(list);
	assert_int_equal(contract_user_bookings(f, carol, &list), 1);
	assert_string_equal(list[0].username, carol);
	assert_int_equal(list[0].status, BOOKING_CONFIRMED);
	assert_int_equal(list[0].seats[0].number, 3);
	free(list);
}

/* Release: seats outside the screen are refused before the cart is looked
 * at, and nothing changes; a whole-cart release lists no seats to check. */
static void test_release_unknown_seats(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 4, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	const char *bob = contract_user(f, "bob");
	struct show_details before;

	contract_hold_ok(f, alice, s->id, "A1 A2", NULL);
	contract_details(f, s->id, &before);
	struct store_cmd *c = op_release(f, alice, s->id, "A1 C1 B5");
	assert_refused(c, OUTCOME_UNKNOWN_SEATS, "B5 C1");
	contract_done(c);
	/* Unknown seats come before "no cart". */
	c = op_release(f, bob, s->id, "C1");
	assert_refused(c, OUTCOME_UNKNOWN_SEATS, "C1");
	contract_done(c);
	assert_unchanged(f, s->id, &before);
	c = op_release(f, alice, s->id, NULL);
	assert_outcome(c, OUTCOME_OK);
	assert_changes(c, s->id, SEAT_AVAILABLE, "A1 A2");
	contract_done(c);
}

/* ---- tests: Idempotency-Key ------------------------------------------- */

enum { CONTRACT_IDEM_TTL_MS = 600000 };

/* The answer the API would build, reduced to what the tests check: 200 or
 * 409 by outcome (400 for INVALID_REQUEST, never kept), and a body naming
 * the outcome and the booking. */
static int contract_answer(const struct store_cmd *cmd, unsigned *status, char **body, size_t *len)
{
	*status = cmd->outcome == OUTCOME_OK                ? 200
	          : cmd->outcome == OUTCOME_CREATED         ? 201
	          : cmd->outcome == OUTCOME_INVALID_REQUEST ? 400
	                                                    : 409;
	int n = asprintf(body, "%s %s %d", outcome_name(cmd->outcome), cmd->booking.reference,
	                 cmd->booking.nseats);
	if (n < 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

static struct store_cmd *op_keyed(struct fx *f, enum store_op op, const char *user, int64_t show,
                                  const char *seats, const char *key, const char *request)
{
	struct store_cmd *c = contract_cmd(op);
	contract_set_user(c, user);
	c->show_id = show;
	contract_set_seats(c, seats);
	snprintf(c->idem_key, sizeof(c->idem_key), "%s", key);
	c->idem_request = request;
	c->idem_request_len = strlen(request);
	c->answer = contract_answer;
	contract_run(f, c);
	return c;
}

static void contract_reopen_idem(struct fx *f)
{
	store_close(f->st);
	f->st = NULL;
	contract_config(f, CONTRACT_TTL_MS, CONTRACT_LIFETIME_MS, CONTRACT_PER_USER);
	f->cfg.idempotency_ttl_ms = CONTRACT_IDEM_TTL_MS;
	assert_int_equal(store_open(&f->cfg, &f->st), 0);
}

/* Every outcome of a keyed write: first run (answer kept), replay of the
 * same request (the kept answer, no second effect), another request under
 * the key (IDEMPOTENCY_KEY_REUSED, nothing done), a refusal kept and
 * replayed, an answer that is not kept (400), and a key free again once
 * its record is older than the TTL. */
static void test_idempotency_outcomes(void **state)
{
	struct fx *f = *state;
	char key[64], key2[64], key3[64];
	const char *alice = contract_user(f, "alice");
	const char *bob = contract_user(f, "bob");

	contract_reopen_idem(f);
	const struct contract_show *s = contract_show_new(f, 2, 4, TEST_DAY_MS);
	snprintf(key, sizeof(key), "%s-k1", alice);
	snprintf(key2, sizeof(key2), "%s-k2", alice);
	snprintf(key3, sizeof(key3), "%s-k3", alice);

	/* First run: done, and its answer kept. */
	struct store_cmd *c = op_keyed(f, STORE_OP_HOLD, alice, s->id, "A1", key, "hold A1");
	assert_outcome(c, OUTCOME_OK);
	assert_false(c->replayed);
	assert_int_equal(c->answer_status, 200);
	assert_non_null(c->answer_body);
	char first[128];
	snprintf(first, sizeof(first), "%s", c->answer_body);
	assert_changes(c, s->id, SEAT_HELD, "A1");
	contract_done(c);
	struct store_cmd *r = op_release(f, alice, s->id, NULL);
	assert_outcome(r, OUTCOME_OK);
	contract_done(r);

	/* The same request again: the kept answer, and no second hold. */
	contract_advance(f, 1000);
	c = op_keyed(f, STORE_OP_HOLD, alice, s->id, "A1", key, "hold A1");
	assert_outcome(c, OUTCOME_OK);
	assert_true(c->replayed);
	assert_int_equal(c->answer_status, 200);
	assert_string_equal(c->answer_body, first);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	struct show_details d;
	contract_details(f, s->id, &d);
	assert_int_equal(d.nheld, 0);
	store_show_details_free(&d);

	/* Another request under the same key: refused, nothing done. */
	c = op_keyed(f, STORE_OP_HOLD, alice, s->id, "A2", key, "hold A2");
	assert_outcome(c, OUTCOME_IDEMPOTENCY_KEY_REUSED);
	assert_false(c->replayed);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	contract_details(f, s->id, &d);
	assert_int_equal(d.nheld, 0);
	store_show_details_free(&d);

	/* A refusal is kept too, and replayed even once it would succeed. */
	contract_hold_ok(f, bob, s->id, "B1", NULL);
	c = op_keyed(f, STORE_OP_HOLD, alice, s->id, "B1", key2, "hold B1");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "B1");
	assert_int_equal(c->answer_status, 409);
	snprintf(first, sizeof(first), "%s", c->answer_body);
	contract_done(c);
	r = op_release(f, bob, s->id, NULL);
	assert_outcome(r, OUTCOME_OK);
	contract_done(r);
	c = op_keyed(f, STORE_OP_HOLD, alice, s->id, "B1", key2, "hold B1");
	assert_outcome(c, OUTCOME_OK);
	assert_true(c->replayed);
	assert_int_equal(c->answer_status, 409);
	assert_string_equal(c->answer_body, first);
	contract_done(c);
	contract_details(f, s->id, &d);
	assert_int_equal(d.nheld, 0);
	store_show_details_free(&d);

	/* A 400 answer is not kept: the key runs anew. */
	struct store_cmd *bad = contract_cmd(STORE_OP_CREATE_SHOW);
	bad->movie_id = s->movie->id;
	bad->screen_id = s->screen->id;
	bad->show_time = contract_now(f) - TEST_DAY_MS; /* in the past */
	snprintf(bad->idem_key, sizeof(bad->idem_key), "%s", key3);
	bad->idem_request = "show in the past";
	bad->idem_request_len = strlen(bad->idem_request);
	bad->answer = contract_answer;
	contract_run(f, bad);
	assert_outcome(bad, OUTCOME_INVALID_REQUEST);
	assert_int_equal(bad->answer_status, 400);
	contract_done(bad);
	c = op_keyed(f, STORE_OP_HOLD, alice, s->id, "A3", key3, "hold A3");
	assert_outcome(c, OUTCOME_OK);
	assert_false(c->replayed);
	assert_changes(c, s->id, SEAT_HELD, "A3");
	contract_done(c);

	/* Past the TTL the first key is free: another request runs. */
	contract_advance(f, CONTRACT_IDEM_TTL_MS + 1000);
	c = op_keyed(f, STORE_OP_HOLD, alice, s->id, "A4", key, "hold A4");
	assert_outcome(c, OUTCOME_OK);
	assert_false(c->replayed);
	assert_changes(c, s->id, SEAT_HELD, "A4");
	contract_done(c);
}

/* ---- tests: hold ------------------------------------------------------ */

static void test_hold(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 3, 12, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking held, b, *list;
	struct show_details d;
	struct show_summary sum;

	struct store_cmd *c = op_hold(f, alice, s->id, "B2 A10 A2");
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_STAGED);
	assert_seats(c->booking.seats, c->booking.nseats, "A2 A10 B2");
	assert_int_equal(c->nbad, 0);
	assert_now(f, c->booking.created_at);
	assert_int_equal(c->booking.expires_at, c->booking.created_at + CONTRACT_TTL_MS);
	assert_int_equal(c->nchanges, 3);
	assert_changes(c, s->id, SEAT_HELD, "A2 A10 B2");
	held = c->booking;
	contract_done(c);

	contract_details(f, s->id, &d);
	assert_seats(d.held, d.nheld, "A2 A10 B2");
	assert_int_equal(d.navailable, 33);
	assert_int_equal(d.nbooked, 0);
	assert_int_equal(d.next_expiry, held.expires_at);
	store_show_details_free(&d);

	assert_true(contract_active_find(f, s->id, &sum) >= 0);
	assert_int_equal(sum.available_seats, 33);

	contract_booking(f, alice, held.reference, &b);
	assert_same_booking(&b, &held);
	assert_int_equal(contract_user_bookings(f, alice, &list), 1);
	assert_same_booking(&list[0], &held);
	free(list);
}

static void test_hold_adds_to_cart(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 12, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking first;

	contract_hold_ok(f, alice, s->id, "B1", &first);
	contract_advance(f, 200);
	struct store_cmd *c = op_hold(f, alice, s->id, "A10 A2");
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_STAGED);
	assert_string_equal(c->booking.reference, first.reference);
	assert_seats(c->booking.seats, c->booking.nseats, "A2 A10 B1");
	assert_int_equal(c->booking.created_at, first.created_at);
	/* Adding seats refreshes the expiry to now + TTL. */
	assert_elapsed(f, c->booking.expires_at - first.expires_at, 200);
	assert_int_equal(c->nchanges, 2);
	assert_changes(c, s->id, SEAT_HELD, "A2 A10");
	contract_done(c);
	assert_int_equal(contract_count_bookings(f, alice), 1);
}

static void test_hold_retry(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking first, b;

	contract_hold_ok(f, alice, s->id, "A1 A2", &first);
	contract_advance(f, 200);
	struct store_cmd *c = op_hold(f, alice, s->id, "A2 A1");
	assert_outcome(c, OUTCOME_OK);
	/* A pure retry changes nothing, the expiry included. */
	assert_same_booking(&c->booking, &first);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	c = op_hold(f, alice, s->id, "A1");
	assert_outcome(c, OUTCOME_OK);
	assert_same_booking(&c->booking, &first);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);

	/* A retry that adds a seat is a hold like any other. */
	c = op_hold(f, alice, s->id, "A1 A3");
	assert_outcome(c, OUTCOME_OK);
	assert_string_equal(c->booking.reference, first.reference);
	assert_seats(c->booking.seats, c->booking.nseats, "A1 A2 A3");
	assert_elapsed(f, c->booking.expires_at - first.expires_at, 200);
	assert_int_equal(c->nchanges, 1);
	assert_changes(c, s->id, SEAT_HELD, "A3");
	contract_done(c);
	contract_booking(f, alice, first.reference, &b);
	assert_seats(b.seats, b.nseats, "A1 A2 A3");
	assert_int_equal(contract_count_bookings(f, alice), 1);
}

static void test_hold_unavailable(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 3, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	const char *carol = contract_user(f, "carol");
	struct booking cart, b;
	struct show_details before;

	contract_hold_ok(f, alice, s->id, "A1 A2", &cart);
	contract_hold_ok(f, bob, s->id, "B1 B2", NULL);
	contract_confirm_ok(f, bob, s->id, "B1", NULL);
	contract_details(f, s->id, &before);

	struct store_cmd *c = op_hold(f, carol, s->id, "C1 B1 A2");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "A2 B1");
	contract_done(c);
	assert_int_equal(contract_count_bookings(f, carol), 0);

	/* Booked by the same user: still unavailable. */
	c = op_hold(f, bob, s->id, "B1 C2");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "B1");
	contract_done(c);

	/* A failed hold leaves the user's own cart as it was. */
	contract_advance(f, 100);
	c = op_hold(f, alice, s->id, "A3 B1");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "B1");
	contract_done(c);
	contract_booking(f, alice, cart.reference, &b);
	assert_same_booking(&b, &cart);
	assert_unchanged(f, s->id, &before);
}

static void test_hold_unknown_seats(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 3, 4, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct show_details before;

	contract_hold_ok(f, bob, s->id, "A1", NULL);
	contract_details(f, s->id, &before);
	struct store_cmd *c = op_hold(f, alice, s->id, "D1 A5 A2 ZZ999");
	assert_refused(c, OUTCOME_UNKNOWN_SEATS, "A5 D1 ZZ999");
	contract_done(c);
	/* Unknown seats are reported before unavailable ones. */
	c = op_hold(f, alice, s->id, "A1 C9");
	assert_refused(c, OUTCOME_UNKNOWN_SEATS, "C9");
	contract_done(c);
	assert_unchanged(f, s->id, &before);
	assert_int_equal(contract_count_bookings(f, alice), 0);
}

static void test_show_not_found(void **state)
{
	struct fx *f = *state;
	const char *alice = contract_user(f, "alice");
	struct show_details d;
	enum outcome o = OUTCOME_COUNT;

	struct store_cmd *c = op_hold(f, alice, INT64_MAX, "A1");
	assert_refused(c, OUTCOME_SHOW_NOT_FOUND, "");
	contract_done(c);
	c = op_hold_best(f, alice, INT64_MAX, 1, false);
	assert_refused(c, OUTCOME_SHOW_NOT_FOUND, "");
	contract_done(c);
	c = op_confirm(f, alice, INT64_MAX, "A1");
	assert_refused(c, OUTCOME_SHOW_NOT_FOUND, "");
	contract_done(c);
	c = op_release(f, alice, INT64_MAX, "A1");
	assert_refused(c, OUTCOME_SHOW_NOT_FOUND, "");
	contract_done(c);
	c = op_release(f, alice, INT64_MAX, NULL);
	assert_refused(c, OUTCOME_SHOW_NOT_FOUND, "");
	contract_done(c);

	memset(&d, 0, sizeof(d));
	assert_int_equal(store_show_details(f->st, INT64_MAX, &d, &o), 0);
	assert_int_equal(o, OUTCOME_SHOW_NOT_FOUND);
	store_show_details_free(&d);
	assert_int_equal(contract_count_bookings(f, alice), 0);
}

/* A show whose time has come is no longer bookable, nor listed as active,
 * but can still be read. */
static void test_hold_show_started(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 4, CONTRACT_SOON_MS);
	const char *alice = contract_user(f, "alice");
	struct show_details d;

	contract_hold_ok(f, alice, s->id, "A1", NULL);
	assert_true(contract_active_find(f, s->id, NULL) >= 0);
	contract_advance(f, CONTRACT_SOON_MS + 500);
	struct store_cmd *c = op_hold(f, alice, s->id, "A2");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	c = op_hold_best(f, alice, s->id, 1, false);
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	c = op_confirm(f, alice, s->id, "A1");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	assert_int_equal(contract_active_find(f, s->id, NULL), -1);
	contract_details(f, s->id, &d);
	assert_string_equal(d.status, "ACTIVE");
	assert_seats(d.held, d.nheld, "A1");
	store_show_details_free(&d);
}

static void test_hold_limit(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_TTL_MS, CONTRACT_LIFETIME_MS, 4);
	const struct contract_show *s = contract_show_new(f, 3, 6, TEST_DAY_MS);
	const struct contract_show *t = contract_show_new(f, 1, 6, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking cart, b;
	struct show_details before;

	contract_hold_ok(f, alice, s->id, "A1 A2 A3", &cart);
	contract_details(f, s->id, &before);
	struct store_cmd *c = op_hold(f, alice, s->id, "A4 A5");
	assert_refused(c, OUTCOME_HOLD_LIMIT_EXCEEDED, "");
	contract_done(c);
	assert_unchanged(f, s->id, &before);
	contract_booking(f, alice, cart.reference, &b);
	assert_same_booking(&b, &cart);

	/* Seats already held count once. */
	contract_hold_ok(f, alice, s->id, "A3 A4", &b);
	assert_seats(b.seats, b.nseats, "A1 A2 A3 A4");
	contract_hold_ok(f, alice, s->id, "A1", NULL);
	c = op_hold(f, alice, s->id, "A5");
	assert_refused(c, OUTCOME_HOLD_LIMIT_EXCEEDED, "");
	contract_done(c);

	c = op_hold(f, bob, s->id, "B1 B2 B3 B4 B5");
	assert_refused(c, OUTCOME_HOLD_LIMIT_EXCEEDED, "");
	contract_done(c);
	assert_int_equal(contract_count_bookings(f, bob), 0);
	/* Availability is decided before the limit. */
	c = op_hold(f, bob, s->id, "A1 B1 B2 B3 B4");
	assert_refused(c, OUTCOME_SEATS_UNAVAILABLE, "A1");
	contract_done(c);

	/* The limit is per show. */
	contract_hold_ok(f, alice, t->id, "A1 A2 A3 A4", NULL);
	/* Releasing makes room again. */
	c = op_release(f, alice, s->id, "A4");
	assert_outcome(c, OUTCOME_OK);
	contract_done(c);
	contract_hold_ok(f, alice, s->id, "A6", &b);
	assert_seats(b.seats, b.nseats, "A1 A2 A3 A6");
}

/* Adding seats refreshes the expiry, but never past createdAt + cap. */
static void test_hold_lifetime_cap(void **state)
{
	struct fx *f = *state;
	enum { TTL = 1000, CAP = 1500 };
	contract_reopen(f, TTL, CAP, CONTRACT_PER_USER);
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking first, b;

	contract_hold_ok(f, alice, s->id, "A1", &first);
	assert_int_equal(first.expires_at, first.created_at + TTL);
	contract_advance(f, 300);
	contract_hold_ok(f, alice, s->id, "A2", &b);
	assert_elapsed(f, b.expires_at - b.created_at, 300 + TTL);
	contract_advance(f, 500);
	contract_hold_ok(f, alice, s->id, "A3", &b);
	assert_string_equal(b.reference, first.reference);
	assert_int_equal(b.created_at, first.created_at);
	assert_int_equal(b.expires_at, first.created_at + CAP);

	struct show_details d;
	contract_details(f, s->id, &d);
	assert_int_equal(d.next_expiry, first.created_at + CAP);
	store_show_details_free(&d);

	/* Past the cap the cart is gone, whatever was added late. */
	contract_advance(f, 800);
	contract_hold_ok(f, bob, s->id, "A1 A2 A3", NULL);
	contract_booking(f, alice, first.reference, &b);
	assert_booking(&b, s, alice, BOOKING_EXPIRED);
}

/* An expired hold is AVAILABLE everywhere at once, before any sweep. */
static void test_expired_hold_available_at_once(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_SHORT_TTL_MS, 2 * CONTRACT_SHORT_TTL_MS, CONTRACT_PER_USER);
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking cart, b, *list;
	struct show_details d;
	struct show_summary sum;

	contract_hold_ok(f, alice, s->id, "A1 A2", &cart);
	assert_true(contract_active_find(f, s->id, &sum) >= 0);
	assert_int_equal(sum.available_seats, 8);
	contract_advance(f, CONTRACT_SHORT_TTL_MS + 100);

	contract_details(f, s->id, &d);
	assert_int_equal(d.navailable, 10);
	assert_int_equal(d.nheld, 0);
	assert_int_equal(d.next_expiry, INT64_MAX);
	store_show_details_free(&d);
	assert_true(contract_active_find(f, s->id, &sum) >= 0);
	assert_int_equal(sum.available_seats, 10);

	contract_booking(f, alice, cart.reference, &b);
	assert_booking(&b, s, alice, BOOKING_EXPIRED);
	assert_string_equal(b.reference, cart.reference);
	assert_int_equal(contract_user_bookings(f, alice, &list), 1);
	assert_int_equal(list[0].status, BOOKING_EXPIRED);
	free(list);

	struct store_cmd *c = op_hold(f, bob, s->id, "A1");
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, bob, BOOKING_STAGED);
	assert_seats(c->booking.seats, c->booking.nseats, "A1");
	assert_changes(c, s->id, SEAT_HELD, "A1");
	contract_done(c);
}

/* After expiry the next hold starts a new cart; the old one stays EXPIRED
 * and can be neither released, confirmed nor cancelled. */
static void test_expired_cart_new_reference(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_SHORT_TTL_MS, 2 * CONTRACT_SHORT_TTL_MS, CONTRACT_PER_USER);
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking old, fresh, b, *list;

	contract_hold_ok(f, alice, s->id, "A1 A2", &old);
	contract_advance(f, CONTRACT_SHORT_TTL_MS + 100);

	struct store_cmd *c = op_release(f, alice, s->id, NULL);
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);
	c = op_confirm(f, alice, s->id, "A2 A1");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "A1 A2");
	contract_done(c);
	c = op_cancel(f, alice, old.reference);
	assert_refused(c, OUTCOME_BOOKING_NOT_CANCELLABLE, "");
	contract_done(c);

	c = op_hold(f, alice, s->id, "B3");
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_STAGED);
	assert_true(strcmp(c->booking.reference, old.reference) != 0);
	assert_seats(c->booking.seats, c->booking.nseats, "B3");
	assert_now(f, c->booking.created_at);
	assert_int_equal(c->booking.expires_at, c->booking.created_at + CONTRACT_SHORT_TTL_MS);
	fresh = c->booking;
	contract_done(c);

	contract_booking(f, alice, old.reference, &b);
	assert_booking(&b, s, alice, BOOKING_EXPIRED);
	assert_int_equal(contract_user_bookings(f, alice, &list), 2);
	assert_string_equal(list[0].reference, fresh.reference);
	assert_int_equal(list[0].status, BOOKING_STAGED);
	assert_string_equal(list[1].reference, old.reference);
	assert_int_equal(list[1].status, BOOKING_EXPIRED);
	free(list);

	/* The expired cart's seats can be held again, into the new cart. */
	contract_hold_ok(f, alice, s->id, "A1", &b);
	assert_string_equal(b.reference, fresh.reference);
	assert_seats(b.seats, b.nseats, "A1 B3");
}

/* ---- tests: hold-best ------------------------------------------------- */

static void test_hold_best_centre(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 5, 9, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking cart;

	struct store_cmd *c = op_hold_best(f, alice, s->id, 3, false);
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_STAGED);
	assert_seats(c->booking.seats, c->booking.nseats, "C4 C5 C6");
	assert_int_equal(c->booking.expires_at, c->booking.created_at + CONTRACT_TTL_MS);
	assert_int_equal(c->nchanges, 3);
	assert_changes(c, s->id, SEAT_HELD, "C4 C5 C6");
	cart = c->booking;
	contract_done(c);

	c = op_hold_best(f, bob, s->id, 4, false);
	assert_outcome(c, OUTCOME_OK);
	assert_int_equal(c->booking.nseats, 4);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(c->booking.seats[i].row, c->booking.seats[0].row);
		assert_int_equal(c->booking.seats[i].number, c->booking.seats[0].number + i);
	}
	assert_true(c->booking.seats[0].row != 2);
	assert_int_equal(c->nchanges, 4);
	contract_done(c);

	/* hold-best adds to the user's cart. */
	c = op_hold_best(f, alice, s->id, 2, false);
	assert_outcome(c, OUTCOME_OK);
	assert_string_equal(c->booking.reference, cart.reference);
	assert_int_equal(c->booking.nseats, 5);
	contract_done(c);

	struct show_details d;
	contract_details(f, s->id, &d);
	assert_int_equal(d.nheld, 9);
	store_show_details_free(&d);
}

static void test_hold_best_no_room(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 3, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	const char *carol = contract_user(f, "carol");
	struct show_details before;

	contract_hold_ok(f, alice, s->id, "A2 B2", NULL);
	contract_details(f, s->id, &before);
	struct store_cmd *c = op_hold_best(f, bob, s->id, 2, false);
	assert_outcome(c, OUTCOME_SEATS_UNAVAILABLE);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	assert_unchanged(f, s->id, &before);
	assert_int_equal(contract_count_bookings(f, bob), 0);

	/* Even split, 5 seats do not fit in the 4 left. */
	c = op_hold_best(f, carol, s->id, 5, true);
	assert_outcome(c, OUTCOME_SEATS_UNAVAILABLE);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);

	c = op_hold_best(f, bob, s->id, 2, true);
	assert_outcome(c, OUTCOME_OK);
	assert_int_equal(c->booking.nseats, 2);
	for (int i = 0; i < 2; i++)
		assert_true(c->booking.seats[i].number == 1 || c->booking.seats[i].number == 3);
	assert_int_equal(c->nchanges, 2);
	contract_done(c);
}

static void test_hold_best_limit(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 4, 20, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");

	struct store_cmd *c = op_hold_best(f, alice, s->id, CONTRACT_PER_USER + 1, false);
	assert_outcome(c, OUTCOME_HOLD_LIMIT_EXCEEDED);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	contract_hold_ok(f, alice, s->id, "A1 A2 A3 A4 A5 A6 A7 A8", NULL);
	c = op_hold_best(f, alice, s->id, 3, false);
	assert_outcome(c, OUTCOME_HOLD_LIMIT_EXCEEDED);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	c = op_hold_best(f, alice, s->id, 2, false);
	assert_outcome(c, OUTCOME_OK);
	assert_int_equal(c->booking.nseats, CONTRACT_PER_USER);
	contract_done(c);
}

/* A hold-best command set up as the API makes it, not yet run. */
static struct store_cmd *contract_best_cmd(const char *user, int64_t show, int count)
{
	struct store_cmd *c = contract_cmd(STORE_OP_HOLD_BEST);
	contract_set_user(c, user);
	c->show_id = show;
	c->count = count;
	return c;
}

/* Seats chosen outside the writer (store_pick), as the API does: on SQLite
 * from the show's grid, so two picks in flight choose different seats, and
 * a pick whose seats another write took first comes back pick_conflict
 * with nothing done and no Idempotency-Key record, then is picked again;
 * on PostgreSQL the write picks (nothing is picked outside). Both end with
 * the seats a one-at-a-time writer would choose. */
static void test_hold_best_picked(void **state)
{
	struct fx *f = *state;
	const bool outside = strcmp(store_backend_name(f->st), "sqlite") == 0;
	char key[64];
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	const char *carol = contract_user(f, "carol");

	contract_reopen_idem(f);
	const struct contract_show *s = contract_show_new(f, 5, 9, TEST_DAY_MS);
	struct store_cmd *a = contract_best_cmd(alice, s->id, 3);
	struct store_cmd *b = contract_best_cmd(bob, s->id, 3);
	assert_int_equal(store_pick(f->st, a), 0);
	assert_int_equal(store_pick(f->st, b), 0);
	assert_int_equal(a->picked, outside);
	assert_int_equal(b->picked, outside);
	if (outside) {
		assert_seats(a->seats, a->nseats, "C4 C5 C6");
		assert_seats(b->seats, b->nseats, "B4 B5 B6"); /* C is pending */
	}
	contract_run(f, a);
	contract_run(f, b);
	assert_outcome(a, OUTCOME_OK);
	assert_outcome(b, OUTCOME_OK);
	assert_seats(a->booking.seats, a->booking.nseats, "C4 C5 C6");
	assert_seats(b->booking.seats, b->booking.nseats, "B4 B5 B6");
	assert_changes(b, s->id, SEAT_HELD, "B4 B5 B6");
	contract_done(a);
	contract_done(b);

	/* Carol's pick loses its seats to a hold that commits first. */
	struct store_cmd *c = contract_best_cmd(carol, s->id, 2);
	snprintf(key, sizeof(key), "%s-best", carol);
	c->idem_key[0] = '\0';
	snprintf(c->idem_key, sizeof(c->idem_key), "%s", key);
	c->idem_request = "hold-best 2";
	c->idem_request_len = strlen(c->idem_request);
	c->answer = contract_answer;
	assert_int_equal(store_pick(f->st, c), 0);
	assert_int_equal(c->picked, outside);
	if (outside)
		assert_seats(c->seats, c->nseats, "D4 D5"); /* front row first: D ties B's row */
	contract_hold_ok(f, alice, s->id, "D4 D5", NULL);
	contract_run(f, c);
	if (outside) {
		assert_true(c->pick_conflict);
		assert_outcome(c, OUTCOME_SEATS_UNAVAILABLE);
		assert_int_equal(c->nchanges, 0);
		assert_null(c->answer_body); /* nothing kept under the key */
		assert_int_equal(contract_count_bookings(f, carol), 0);
		assert_int_equal(store_pick(f->st, c), 0);
		assert_true(c->picked);
		contract_run(f, c);
	}
	assert_false(c->pick_conflict);
	assert_outcome(c, OUTCOME_OK);
	assert_false(c->replayed);
	assert_int_equal(c->booking.nseats, 2);
	for (int i = 0; i < 2; i++)
		assert_false(c->booking.seats[i].row == 3 &&
		             (c->booking.seats[i].number == 4 || c->booking.seats[i].number == 5));
	char first[1024];
	snprintf(first, sizeof(first), "%s", c->answer_body);
	contract_done(c);

	/* The retry under the key replays the answer of the run that held. */
	c = contract_best_cmd(carol, s->id, 2);
	snprintf(c->idem_key, sizeof(c->idem_key), "%s", key);
	c->idem_request = "hold-best 2";
	c->idem_request_len = strlen(c->idem_request);
	c->answer = contract_answer;
	assert_int_equal(store_pick(f->st, c), 0);
	struct seat replay_pick[2];
	memcpy(replay_pick, c->seats, sizeof(replay_pick));
	contract_run(f, c);
	assert_outcome(c, OUTCOME_OK);
	assert_true(c->replayed);
	assert_string_equal(c->answer_body, first);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);

	/* The seats the replay had picked were given back: the next pick
	 * chooses them again. */
	struct store_cmd *d = contract_best_cmd(bob, s->id, 2);
	assert_int_equal(store_pick(f->st, d), 0);
	if (outside) {
		assert_true(d->picked);
		assert_int_equal(d->nseats, 2);
		for (int i = 0; i < 2; i++)
			assert_int_equal(seat_compare(&d->seats[i], &replay_pick[i]), 0);
	}
	contract_run(f, d);
	assert_outcome(d, OUTCOME_OK);
	contract_done(d);
}

/* ---- tests: confirm --------------------------------------------------- */

static void test_confirm(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 3, 10, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking cart, b, *list;
	struct show_details d;
	struct show_summary sum;

	contract_hold_ok(f, alice, s->id, "A1 A2 A3", &cart);
	contract_advance(f, 50);
	struct store_cmd *c = op_confirm(f, alice, s->id, "A2 A1");
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_CONFIRMED);
	assert_string_equal(c->booking.reference, cart.reference);
	assert_seats(c->booking.seats, c->booking.nseats, "A1 A2");
	assert_int_equal(c->booking.created_at, cart.created_at);
	assert_now(f, c->booking.confirmed_at);
	assert_elapsed(f, c->booking.confirmed_at - cart.created_at, 50);
	assert_int_equal(c->nchanges, 3);
	assert_changes(c, s->id, SEAT_BOOKED, "A1 A2");
	assert_changes(c, s->id, SEAT_AVAILABLE, "A3");
	struct booking conf = c->booking;
	contract_done(c);

	contract_details(f, s->id, &d);
	assert_seats(d.booked, d.nbooked, "A1 A2");
	assert_int_equal(d.nheld, 0);
	assert_int_equal(d.navailable, 28);
	assert_int_equal(d.next_expiry, INT64_MAX);
	store_show_details_free(&d);
	assert_true(contract_active_find(f, s->id, &sum) >= 0);
	assert_int_equal(sum.available_seats, 28);

	contract_booking(f, alice, conf.reference, &b);
	assert_same_booking(&b, &conf);
	assert_int_equal(contract_user_bookings(f, alice, &list), 1);
	assert_same_booking(&list[0], &conf);
	free(list);
}

static void test_confirm_retry(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking conf;

	contract_hold_ok(f, alice, s->id, "A1 A2", NULL);
	contract_confirm_ok(f, alice, s->id, "A1 A2", &conf);
	contract_advance(f, 100);
	struct store_cmd *c = op_confirm(f, alice, s->id, "A2 A1");
	assert_outcome(c, OUTCOME_OK);
	assert_same_booking(&c->booking, &conf);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	assert_int_equal(contract_count_bookings(f, alice), 1);

	/* Another set is not a retry: booked seats are not held. */
	c = op_confirm(f, alice, s->id, "A1");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "A1");
	contract_done(c);
	c = op_confirm(f, alice, s->id, "A3 A1 A2");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "A1 A2 A3");
	contract_done(c);
	/* Nor is the same set by someone else. */
	c = op_confirm(f, bob, s->id, "A1 A2");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "A1 A2");
	contract_done(c);

	/* A retry of a success answers even once the show is not bookable. */
	contract_hold_ok(f, alice, s->id, "B1", NULL);
	contract_cancel_show_ok(f, s->id);
	c = op_confirm(f, alice, s->id, "A1 A2");
	assert_outcome(c, OUTCOME_OK);
	assert_same_booking(&c->booking, &conf);
	contract_done(c);
	c = op_confirm(f, alice, s->id, "B1");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
	assert_int_equal(contract_count_bookings(f, alice), 2);
}

static void test_confirm_not_held(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 3, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	const char *carol = contract_user(f, "carol");
	struct booking cart, b;
	struct show_details before;

	contract_hold_ok(f, alice, s->id, "A1 A2", &cart);
	contract_hold_ok(f, bob, s->id, "B1", NULL);
	contract_details(f, s->id, &before);
	struct store_cmd *c = op_confirm(f, alice, s->id, "C1 B1 A1");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "B1 C1");
	contract_done(c);
	c = op_confirm(f, carol, s->id, "A3");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "A3");
	contract_done(c);
	c = op_confirm(f, carol, s->id, "A1");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "A1");
	contract_done(c);
	assert_unchanged(f, s->id, &before);
	contract_booking(f, alice, cart.reference, &b);
	assert_same_booking(&b, &cart);
	assert_int_equal(contract_count_bookings(f, carol), 0);

	contract_confirm_ok(f, bob, s->id, "B1", NULL);
	contract_confirm_ok(f, alice, s->id, "A1 A2", NULL);
}

static void test_confirm_expired(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_SHORT_TTL_MS, 2 * CONTRACT_SHORT_TTL_MS, CONTRACT_PER_USER);
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking cart, b;

	contract_hold_ok(f, alice, s->id, "A1 A2", &cart);
	contract_advance(f, CONTRACT_SHORT_TTL_MS + 100);
	struct store_cmd *c = op_confirm(f, alice, s->id, "A1 A2");
	assert_refused(c, OUTCOME_SEATS_NOT_HELD, "A1 A2");
	contract_done(c);
	contract_booking(f, alice, cart.reference, &b);
	assert_int_equal(b.status, BOOKING_EXPIRED);
	contract_hold_ok(f, bob, s->id, "A1", NULL);
}

static void test_confirm_unknown_and_unbookable(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 3, 10, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct show_details before;

	contract_hold_ok(f, alice, s->id, "A1", NULL);
	contract_details(f, s->id, &before);
	struct store_cmd *c = op_confirm(f, alice, s->id, "A1 Z9 A11");
	assert_refused(c, OUTCOME_UNKNOWN_SEATS, "A11 Z9");
	contract_done(c);
	assert_unchanged(f, s->id, &before);

	contract_cancel_show_ok(f, s->id);
	c = op_confirm(f, alice, s->id, "A1");
	assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
	contract_done(c);
}

/* Confirming closes the cart: the next hold opens a new one. */
static void test_confirm_then_new_cart(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking conf, cart, *list;

	contract_hold_ok(f, alice, s->id, "A1", NULL);
	contract_confirm_ok(f, alice, s->id, "A1", &conf);
	contract_advance(f, 20);
	contract_hold_ok(f, alice, s->id, "B1", &cart);
	assert_true(strcmp(cart.reference, conf.reference) != 0);
	assert_seats(cart.seats, cart.nseats, "B1");
	assert_int_equal(contract_user_bookings(f, alice, &list), 2);
	assert_string_equal(list[0].reference, cart.reference);
	assert_string_equal(list[1].reference, conf.reference);
	assert_seats(list[1].seats, list[1].nseats, "A1");
	free(list);
}

/* ---- tests: release --------------------------------------------------- */

static void test_release(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking cart, b;

	contract_hold_ok(f, alice, s->id, "A1 A2 A3", &cart);
	contract_hold_ok(f, bob, s->id, "B1", NULL);
	contract_advance(f, 30);
	struct store_cmd *c = op_release(f, alice, s->id, "A2");
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_STAGED);
	assert_string_equal(c->booking.reference, cart.reference);
	assert_seats(c->booking.seats, c->booking.nseats, "A1 A3");
	assert_int_equal(c->nchanges, 1);
	assert_changes(c, s->id, SEAT_AVAILABLE, "A2");
	contract_done(c);

	/* Seats not held by the user: nothing changes, bob keeps his. */
	struct show_details before;
	contract_details(f, s->id, &before);
	assert_seats(before.held, before.nheld, "A1 A3 B1");
	c = op_release(f, alice, s->id, "A5 B1");
	assert_outcome(c, OUTCOME_OK);
	assert_seats(c->booking.seats, c->booking.nseats, "A1 A3");
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	assert_unchanged(f, s->id, &before);

	c = op_release(f, alice, s->id, NULL);
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_CANCELLED);
	assert_string_equal(c->booking.reference, cart.reference);
	assert_int_equal(c->booking.nseats, 0);
	assert_now(f, c->booking.cancelled_at);
	assert_int_equal(c->nchanges, 2);
	assert_changes(c, s->id, SEAT_AVAILABLE, "A1 A3");
	contract_done(c);
	contract_booking(f, alice, cart.reference, &b);
	assert_int_equal(b.status, BOOKING_CANCELLED);

	c = op_release(f, alice, s->id, NULL);
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);

	struct show_details d;
	contract_details(f, s->id, &d);
	assert_seats(d.held, d.nheld, "B1");
	store_show_details_free(&d);

	/* The next hold opens a new cart. */
	contract_hold_ok(f, alice, s->id, "A1", &b);
	assert_true(strcmp(b.reference, cart.reference) != 0);
}

static void test_release_every_seat_and_no_cart(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *carol = contract_user(f, "carol");

	contract_hold_ok(f, alice, s->id, "A1 A2", NULL);
	struct store_cmd *c = op_release(f, alice, s->id, "A2 A1");
	assert_outcome(c, OUTCOME_OK);
	assert_int_equal(c->booking.status, BOOKING_CANCELLED);
	assert_int_equal(c->booking.nseats, 0);
	assert_int_equal(c->nchanges, 2);
	contract_done(c);

	c = op_release(f, carol, s->id, NULL);
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);
	c = op_release(f, carol, s->id, "A1");
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);

	/* A confirmed booking is not a cart. */
	contract_hold_ok(f, carol, s->id, "B1", NULL);
	contract_confirm_ok(f, carol, s->id, "B1", NULL);
	c = op_release(f, carol, s->id, "B1");
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);
	struct show_details d;
	contract_details(f, s->id, &d);
	assert_seats(d.booked, d.nbooked, "B1");
	assert_int_equal(d.nheld, 0);
	store_show_details_free(&d);
}

/* ---- tests: cancel ---------------------------------------------------- */

static void test_cancel_confirmed(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking conf, done, b;

	contract_hold_ok(f, alice, s->id, "A1 A2", NULL);
	contract_confirm_ok(f, alice, s->id, "A1 A2", &conf);

	struct store_cmd *c = op_cancel(f, bob, conf.reference);
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);
	c = op_cancel(f, alice, "BX-22222222");
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);

	contract_advance(f, 40);
	c = op_cancel(f, alice, conf.reference);
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_CANCELLED);
	assert_string_equal(c->booking.reference, conf.reference);
	assert_int_equal(c->booking.confirmed_at, conf.confirmed_at);
	assert_now(f, c->booking.cancelled_at);
	assert_int_equal(c->nchanges, 2);
	assert_changes(c, s->id, SEAT_AVAILABLE, "A1 A2");
	done = c->booking;
	contract_done(c);

	struct show_details d;
	contract_details(f, s->id, &d);
	assert_int_equal(d.navailable, 10);
	store_show_details_free(&d);

	contract_advance(f, 40);
	c = op_cancel(f, alice, conf.reference);
	assert_outcome(c, OUTCOME_OK);
	assert_same_booking(&c->booking, &done);
	assert_int_equal(c->nchanges, 0);
	contract_done(c);
	contract_booking(f, alice, conf.reference, &b);
	assert_same_booking(&b, &done);

	contract_hold_ok(f, bob, s->id, "A1 A2", NULL);
}

static void test_cancel_staged(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice");
	struct booking cart;

	contract_hold_ok(f, alice, s->id, "B2 B3", &cart);
	struct store_cmd *c = op_cancel(f, alice, cart.reference);
	assert_outcome(c, OUTCOME_OK);
	assert_booking(&c->booking, s, alice, BOOKING_CANCELLED);
	assert_changes(c, s->id, SEAT_AVAILABLE, "B2 B3");
	assert_int_equal(c->nchanges, 2);
	contract_done(c);

	struct show_details d;
	contract_details(f, s->id, &d);
	assert_int_equal(d.nheld, 0);
	assert_int_equal(d.next_expiry, INT64_MAX);
	store_show_details_free(&d);
	c = op_release(f, alice, s->id, NULL);
	assert_refused(c, OUTCOME_BOOKING_NOT_FOUND, "");
	contract_done(c);
}

static void test_cancel_not_cancellable(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_SHORT_TTL_MS, 2 * CONTRACT_SHORT_TTL_MS, CONTRACT_PER_USER);
	const struct contract_show *s = contract_show_new(f, 2, 5, CONTRACT_SOON_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking cart, conf;

	contract_hold_ok(f, alice, s->id, "A1", &cart);
	contract_hold_ok(f, bob, s->id, "B1", NULL);
	contract_confirm_ok(f, bob, s->id, "B1", &conf);
	contract_advance(f, CONTRACT_SHORT_TTL_MS + 100);
	/* alice's cart has expired. */
	struct store_cmd *c = op_cancel(f, alice, cart.reference);
	assert_refused(c, OUTCOME_BOOKING_NOT_CANCELLABLE, "");
	contract_done(c);
	/* The show has started. */
	contract_advance(f, CONTRACT_SOON_MS);
	c = op_cancel(f, bob, conf.reference);
	assert_refused(c, OUTCOME_BOOKING_NOT_CANCELLABLE, "");
	contract_done(c);
	struct show_details d;
	contract_details(f, s->id, &d);
	assert_seats(d.booked, d.nbooked, "B1");
	store_show_details_free(&d);
}

/* ---- tests: expiry sweep ---------------------------------------------- */

static void test_expire_due(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_SHORT_TTL_MS, 2 * CONTRACT_SHORT_TTL_MS, CONTRACT_PER_USER);
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	const char *carol = contract_user(f, "carol");
	struct booking a, late, b;
	struct show_details d;
	int64_t at = 0;

	if (!f->shared) {
		assert_int_equal(store_next_expiry(f->st, &at), 0);
		assert_int_equal(at, INT64_MAX);
	}
	contract_hold_ok(f, alice, s->id, "A1 A2", &a);
	contract_hold_ok(f, bob, s->id, "B1", NULL);
	contract_advance(f, 400);
	contract_hold_ok(f, carol, s->id, "B5", &late);

	assert_int_equal(store_next_expiry(f->st, &at), 0);
	if (f->shared)
		assert_true(at <= a.expires_at);
	else
		assert_int_equal(at, a.expires_at);
	contract_details(f, s->id, &d);
	assert_int_equal(d.next_expiry, a.expires_at);
	store_show_details_free(&d);

	/* Nothing is due yet. */
	struct store_cmd *c = op_expire(f);
	assert_outcome(c, OUTCOME_OK);
	assert_changes(c, s->id, SEAT_AVAILABLE, "");
	if (!f->shared) {
		assert_int_equal(c->expired, 0);
		assert_int_equal(c->nchanges, 0);
	}
	contract_done(c);

	contract_advance(f, CONTRACT_SHORT_TTL_MS - 400 + 100);
	c = op_expire(f);
	assert_outcome(c, OUTCOME_OK);
	assert_changes(c, s->id, SEAT_AVAILABLE, "A1 A2 B1");
	assert_changes(c, s->id, SEAT_HELD, "");
	if (f->shared) {
		assert_true(c->expired >= 3);
	} else {
		assert_int_equal(c->expired, 3);
		assert_int_equal(c->nchanges, 3);
	}
	contract_done(c);

	contract_details(f, s->id, &d);
	assert_seats(d.held, d.nheld, "B5");
	assert_int_equal(d.navailable, 9);
	assert_int_equal(d.next_expiry, late.expires_at);
	store_show_details_free(&d);
	assert_int_equal(store_next_expiry(f->st, &at), 0);
	if (f->shared)
		assert_true(at <= late.expires_at);
	else
		assert_int_equal(at, late.expires_at);
	contract_booking(f, alice, a.reference, &b);
	assert_booking(&b, s, alice, BOOKING_EXPIRED);

	/* A sweep is idempotent. */
	c = op_expire(f);
	assert_outcome(c, OUTCOME_OK);
	assert_changes(c, s->id, SEAT_AVAILABLE, "");
	if (!f->shared)
		assert_int_equal(c->expired, 0);
	contract_done(c);

	contract_advance(f, 400);
	c = op_expire(f);
	assert_outcome(c, OUTCOME_OK);
	assert_changes(c, s->id, SEAT_AVAILABLE, "B5");
	if (!f->shared) {
		assert_int_equal(c->expired, 1);
		assert_int_equal(c->nchanges, 1);
		assert_int_equal(store_next_expiry(f->st, &at), 0);
		assert_int_equal(at, INT64_MAX);
	}
	contract_done(c);
	contract_details(f, s->id, &d);
	assert_int_equal(d.navailable, 10);
	assert_int_equal(d.next_expiry, INT64_MAX);
	store_show_details_free(&d);
}

/* ---- tests: reads ----------------------------------------------------- */

static void test_active_shows(void **state)
{
	struct fx *f = *state;
	const struct contract_movie *m =
	    contract_movie_new(f, 100, contract_now(f) + 10 * TEST_DAY_MS);
	const struct contract_screen *sc[5];
	for (int i = 0; i < 5; i++)
		sc[i] = contract_screen_new(f, 2, 5);
	int64_t now = contract_now(f);
	const struct contract_show *late = contract_show_add(f, m, sc[0], now + 2 * TEST_DAY_MS);
	const struct contract_show *early = contract_show_add(f, m, sc[1], now + TEST_DAY_MS);
	const struct contract_show *tie = contract_show_add(f, m, sc[2], now + TEST_DAY_MS);
	const struct contract_show *gone = contract_show_add(f, m, sc[3], now + TEST_HOUR_MS);
	const struct contract_show *past = contract_show_add(f, m, sc[4], now + CONTRACT_SOON_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct show_summary sum;

	contract_hold_ok(f, alice, early->id, "A1 A2", NULL);
	contract_hold_ok(f, bob, early->id, "B1", NULL);
	contract_confirm_ok(f, bob, early->id, "B1", NULL);
	contract_cancel_show_ok(f, gone->id);
	contract_advance(f, CONTRACT_SOON_MS + 500);

	long i_late = contract_active_find(f, late->id, NULL);
	long i_early = contract_active_find(f, early->id, &sum);
	long i_tie = contract_active_find(f, tie->id, NULL);
	assert_true(i_early >= 0 && i_tie >= 0 && i_late >= 0);
	assert_true(i_early < i_late && i_tie < i_late);
	assert_true((i_early < i_tie) == (early->id < tie->id));
	assert_int_equal(contract_active_find(f, gone->id, NULL), -1);
	assert_int_equal(contract_active_find(f, past->id, NULL), -1);

	assert_int_equal(sum.show_id, early->id);
	assert_int_equal(sum.movie_id, m->id);
	assert_string_equal(sum.movie_name, m->name);
	assert_int_equal(sum.duration_minutes, 100);
	assert_int_equal(sum.show_time, early->show_time);
	assert_int_equal(sum.screen_id, sc[1]->id);
	assert_string_equal(sum.screen_name, sc[1]->name);
	assert_int_equal(sum.total_seats, 10);
	assert_int_equal(sum.available_seats, 7);
}

static void test_show_details_natural_order(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 28, 12, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	struct booking cart;
	struct show_details d;

	contract_hold_ok(f, alice, s->id, "AA1 Z12 A10 A2 AB3", &cart);
	assert_seats(cart.seats, cart.nseats, "A2 A10 Z12 AA1 AB3");
	contract_hold_ok(f, bob, s->id, "B11 B9 AB12", NULL);
	contract_confirm_ok(f, bob, s->id, "AB12 B9 B11", NULL);

	contract_details(f, s->id, &d);
	assert_int_equal(d.rows, 28);
	assert_int_equal(d.seats_per_row, 12);
	assert_int_equal(d.total_seats, 336);
	assert_seats(d.held, d.nheld, "A2 A10 Z12 AA1 AB3");
	assert_seats(d.booked, d.nbooked, "B9 B11 AB12");
	assert_int_equal(d.navailable, 336 - 8);
	/* available: every other seat, row by row, number by number */
	int k = 0;
	for (int r = 0; r < 28; r++) {
		for (int n = 1; n <= 12; n++) {
			struct seat t = {r, n};
			bool taken = false;
			for (int i = 0; i < d.nheld; i++)
				taken = taken || seat_compare(&d.held[i], &t) == 0;
			for (int i = 0; i < d.nbooked; i++)
				taken = taken || seat_compare(&d.booked[i], &t) == 0;
			if (taken)
				continue;
			assert_true(k < d.navailable);
			assert_int_equal(d.available[k].row, r);
			assert_int_equal(d.available[k].number, n);
			k++;
		}
	}
	assert_int_equal(k, d.navailable);
	assert_int_equal(d.next_expiry, cart.expires_at);
	store_show_details_free(&d);
}

static void test_booking_details(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	const char *nobody = contract_user(f, "nobody");
	struct booking cart, b;

	contract_hold_ok(f, alice, s->id, "A1", &cart);
	contract_booking(f, alice, cart.reference, &b);
	assert_booking(&b, s, alice, BOOKING_STAGED);
	assert_same_booking(&b, &cart);
	/* Not found and not theirs look the same. */
	assert_no_booking(f, bob, cart.reference);
	assert_no_booking(f, nobody, cart.reference);
	assert_no_booking(f, alice, "BX-22222222");
}

static void test_user_bookings(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s1 = contract_show_new(f, 2, 5, TEST_DAY_MS);
	const struct contract_show *s2 = contract_show_new(f, 2, 5, 2 * TEST_DAY_MS);
	const struct contract_show *s3 = contract_show_new(f, 2, 5, 3 * TEST_DAY_MS);
	const char *alice = contract_user(f, "alice"), *bob = contract_user(f, "bob");
	const char *nobody = contract_user(f, "nobody");
	struct booking conf, cancelled, staged, *list = NULL;
	size_t n;

	contract_hold_ok(f, alice, s1->id, "A1", NULL);
	contract_confirm_ok(f, alice, s1->id, "A1", &conf);
	contract_advance(f, 20);
	contract_hold_ok(f, alice, s2->id, "A1 A2", NULL);
	struct store_cmd *c = op_release(f, alice, s2->id, NULL);
	assert_outcome(c, OUTCOME_OK);
	cancelled = c->booking;
	contract_done(c);
	contract_advance(f, 20);
	contract_hold_ok(f, alice, s3->id, "B5", &staged);
	contract_hold_ok(f, bob, s3->id, "B4", NULL);

	n = contract_user_bookings(f, alice, &list);
	assert_int_equal(n, 3);
	assert_true(list[0].created_at > list[1].created_at &&
	            list[1].created_at > list[2].created_at);
	assert_same_booking(&list[0], &staged);
	assert_booking(&list[0], s3, alice, BOOKING_STAGED);
	assert_string_equal(list[1].reference, cancelled.reference);
	assert_booking(&list[1], s2, alice, BOOKING_CANCELLED);
	assert_same_booking(&list[2], &conf);
	assert_booking(&list[2], s1, alice, BOOKING_CONFIRMED);
	free(list);

	list = NULL;
	n = 99;
	assert_int_equal(store_user_bookings(f->st, nobody, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
}

/* ---- tests: concurrency ----------------------------------------------- */

struct contract_worker {
	struct fx *f;
	pthread_barrier_t *start;
	int64_t show_id;
	int row;
	char user[USERNAME_MAX + 1], user2[USERNAME_MAX + 1];
	/* results, read by the main thread after join */
	int rc;
	enum outcome outcome;
	int nbad;
	struct seat bad0;
	char reference[BOOKING_REF_SIZE], reference2[BOOKING_REF_SIZE];
	int failures;
};

static void *contract_race_one_seat(void *arg)
{
	struct contract_worker *w = arg;
	struct store_cmd *c = calloc(1, sizeof(*c));

	if (!c) {
		w->rc = -100;
		return NULL;
	}
	c->op = STORE_OP_HOLD;
	contract_set_user(c, w->user);
	c->show_id = w->show_id;
	c->nseats = 1;
	c->seats[0] = (struct seat){0, 1};
	pthread_barrier_wait(w->start);
	w->rc = store_run(w->f->st, c);
	w->outcome = c->outcome;
	w->nbad = c->nbad;
	if (c->nbad > 0)
		w->bad0 = c->bad[0];
	snprintf(w->reference, sizeof(w->reference), "%s", c->booking.reference);
	store_cmd_clear(c);
	free(c);
	return NULL;
}

static void test_concurrent_same_seat(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 1, 3, TEST_DAY_MS);
	struct contract_worker w[CONTRACT_WORKERS];
	pthread_t th[CONTRACT_WORKERS];
	pthread_barrier_t start;
	int ok = 0, winner = -1;

	memset(w, 0, sizeof(w));
	assert_int_equal(pthread_barrier_init(&start, NULL, CONTRACT_WORKERS), 0);
	for (int i = 0; i < CONTRACT_WORKERS; i++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "racer%d", i);
		w[i].f = f;
		w[i].start = &start;
		w[i].show_id = s->id;
		snprintf(w[i].user, sizeof(w[i].user), "%s", contract_user(f, tag));
		assert_int_equal(pthread_create(&th[i], NULL, contract_race_one_seat, &w[i]), 0);
	}
	for (int i = 0; i < CONTRACT_WORKERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);

	for (int i = 0; i < CONTRACT_WORKERS; i++) {
		assert_int_equal(w[i].rc, 0);
		if (w[i].outcome == OUTCOME_OK) {
			ok++;
			winner = i;
			continue;
		}
		assert_int_equal(w[i].outcome, OUTCOME_SEATS_UNAVAILABLE);
		assert_int_equal(w[i].nbad, 1);
		assert_int_equal(w[i].bad0.row, 0);
		assert_int_equal(w[i].bad0.number, 1);
		assert_int_equal(contract_count_bookings(f, w[i].user), 0);
	}
	assert_int_equal(ok, 1);

	struct show_details d;
	struct booking b;
	contract_details(f, s->id, &d);
	assert_seats(d.held, d.nheld, "A1");
	store_show_details_free(&d);
	contract_booking(f, w[winner].user, w[winner].reference, &b);
	assert_booking(&b, s, w[winner].user, BOOKING_STAGED);
	assert_seats(b.seats, b.nseats, "A1");
}

/* Each worker owns one row: one user holds seats 1..15 one at a time and
 * confirms them, another holds 16..25 one at a time. */
static void *contract_fill_row(void *arg)
{
	struct contract_worker *w = arg;
	struct store_cmd *c = calloc(1, sizeof(*c));

	if (!c) {
		w->rc = -100;
		return NULL;
	}
	pthread_barrier_wait(w->start);
	for (int n = 1; n <= CONTRACT_WORKER_SEATS; n++) {
		memset(c, 0, sizeof(*c));
		c->op = STORE_OP_HOLD;
		contract_set_user(c, n <= CONTRACT_WORKER_BOOKED ? w->user : w->user2);
		c->show_id = w->show_id;
		c->nseats = 1;
		c->seats[0] = (struct seat){w->row, n};
		if (store_run(w->f->st, c) != 0 || c->outcome != OUTCOME_OK || c->nchanges != 1)
			w->failures++;
		if (n == CONTRACT_WORKER_SEATS)
			snprintf(w->reference2, sizeof(w->reference2), "%s", c->booking.reference);
		store_cmd_clear(c);
	}
	memset(c, 0, sizeof(*c));
	c->op = STORE_OP_CONFIRM;
	contract_set_user(c, w->user);
	c->show_id = w->show_id;
	c->nseats = CONTRACT_WORKER_BOOKED;
	for (int n = 1; n <= CONTRACT_WORKER_BOOKED; n++)
		c->seats[n - 1] = (struct seat){w->row, n};
	w->rc = store_run(w->f->st, c);
	w->outcome = c->outcome;
	snprintf(w->reference, sizeof(w->reference), "%s", c->booking.reference);
	if (c->nchanges != CONTRACT_WORKER_BOOKED || c->booking.nseats != CONTRACT_WORKER_BOOKED)
		w->failures++;
	store_cmd_clear(c);
	free(c);
	return NULL;
}

static void test_concurrent_distinct_seats(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_TTL_MS, CONTRACT_LIFETIME_MS, CONTRACT_WORKER_SEATS);
	const struct contract_show *s =
	    contract_show_new(f, CONTRACT_WORKERS, CONTRACT_WORKER_SEATS, TEST_DAY_MS);
	struct contract_worker w[CONTRACT_WORKERS];
	pthread_t th[CONTRACT_WORKERS];
	pthread_barrier_t start;

	memset(w, 0, sizeof(w));
	assert_int_equal(pthread_barrier_init(&start, NULL, CONTRACT_WORKERS), 0);
	for (int i = 0; i < CONTRACT_WORKERS; i++) {
		char tag[16];
		w[i].f = f;
		w[i].start = &start;
		w[i].show_id = s->id;
		w[i].row = i;
		snprintf(tag, sizeof(tag), "buyer%d", i);
		snprintf(w[i].user, sizeof(w[i].user), "%s", contract_user(f, tag));
		snprintf(tag, sizeof(tag), "holder%d", i);
		snprintf(w[i].user2, sizeof(w[i].user2), "%s", contract_user(f, tag));
		assert_int_equal(pthread_create(&th[i], NULL, contract_fill_row, &w[i]), 0);
	}
	for (int i = 0; i < CONTRACT_WORKERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);

	for (int i = 0; i < CONTRACT_WORKERS; i++) {
		assert_int_equal(w[i].rc, 0);
		assert_int_equal(w[i].failures, 0);
		assert_int_equal(w[i].outcome, OUTCOME_OK);
		assert_true(test_ref_shaped(w[i].reference));
		assert_true(test_ref_shaped(w[i].reference2));
		/* Every cart has its own reference. */
		for (int j = 0; j < i; j++) {
			assert_true(strcmp(w[i].reference, w[j].reference) != 0);
			assert_true(strcmp(w[i].reference2, w[j].reference2) != 0);
			assert_true(strcmp(w[i].reference, w[j].reference2) != 0);
		}
		assert_true(strcmp(w[i].reference, w[i].reference2) != 0);
	}

	struct show_details d;
	contract_details(f, s->id, &d);
	assert_int_equal(d.nbooked, CONTRACT_WORKERS * CONTRACT_WORKER_BOOKED);
	assert_int_equal(d.nheld,
	                 CONTRACT_WORKERS * (CONTRACT_WORKER_SEATS - CONTRACT_WORKER_BOOKED));
	assert_int_equal(d.navailable, 0);
	for (int i = 0; i < d.nbooked; i++) {
		assert_int_equal(d.booked[i].row, i / CONTRACT_WORKER_BOOKED);
		assert_int_equal(d.booked[i].number, i % CONTRACT_WORKER_BOOKED + 1);
	}
	store_show_details_free(&d);
	for (int i = 0; i < CONTRACT_WORKERS; i++) {
		struct booking b;
		contract_booking(f, w[i].user2, w[i].reference2, &b);
		assert_int_equal(b.status, BOOKING_STAGED);
		assert_int_equal(b.nseats, CONTRACT_WORKER_SEATS - CONTRACT_WORKER_BOOKED);
	}
}

/* ---- tests: racing twins ---------------------------------------------- */

/* CONTRACT_TWINS identical commands from one user at once (a double-click,
 * a retry) must answer exactly what they answer one after another. Each
 * test repeats its race CONTRACT_TWIN_ROUNDS times, every round on fresh
 * seats and a fresh user. */

struct contract_twin {
	struct fx *f;
	pthread_barrier_t *start;
	struct store_cmd cmd; /* a copy of the prototype; its result after join */
	int rc;
};

static void *contract_twin_run(void *arg)
{
	struct contract_twin *t = arg;

	pthread_barrier_wait(t->start);
	t->rc = store_run(t->f->st, &t->cmd);
	return NULL;
}

/* Runs CONTRACT_TWINS copies of proto at once; the caller reads tw[i].cmd
 * and frees with contract_twins_clear. */
static void contract_race_twins(struct fx *f, const struct store_cmd *proto,
                                struct contract_twin tw[CONTRACT_TWINS])
{
	pthread_t th[CONTRACT_TWINS];
	pthread_barrier_t start;

	assert_int_equal(pthread_barrier_init(&start, NULL, CONTRACT_TWINS), 0);
	for (int i = 0; i < CONTRACT_TWINS; i++) {
		memset(&tw[i], 0, sizeof(tw[i]));
		tw[i].f = f;
		tw[i].start = &start;
		tw[i].cmd = *proto;
		assert_int_equal(pthread_create(&th[i], NULL, contract_twin_run, &tw[i]), 0);
	}
	for (int i = 0; i < CONTRACT_TWINS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < CONTRACT_TWINS; i++)
		assert_int_equal(tw[i].rc, 0);
}

static void contract_twins_clear(struct contract_twin tw[CONTRACT_TWINS])
{
	for (int i = 0; i < CONTRACT_TWINS; i++)
		store_cmd_clear(&tw[i].cmd);
}

/* How many twins ended with outcome o. */
static int contract_twins_with(const struct contract_twin tw[CONTRACT_TWINS], enum outcome o)
{
	int n = 0;
	for (int i = 0; i < CONTRACT_TWINS; i++)
		n += tw[i].cmd.outcome == o;
	return n;
}

static void contract_assert_twins_at(const struct contract_twin tw[CONTRACT_TWINS], int round,
                                     enum outcome o, int want, const char *file, int line)
{
	int got = contract_twins_with(tw, o);
	char seen[256] = "";

	if (got == want)
		return;
	for (int i = 0; i < CONTRACT_TWINS; i++) {
		size_t used = strlen(seen);
		snprintf(seen + used, sizeof(seen) - used, " %s", outcome_name(tw[i].cmd.outcome));
	}
	contract_check(false, file, line, "round %d: %d twins %s, want %d; outcomes:%s", round, got,
	               outcome_name(o), want, seen);
}
#define assert_twins(tw, round, o, want)                                                           \
	contract_assert_twins_at((tw), (round), (o), (want), __FILE__, __LINE__)

/* Every twin answered OK with the same booking as the first; changes
 * summed over the twins go to *nchanges. */
static void contract_assert_twins_one_booking(const struct contract_twin tw[CONTRACT_TWINS],
                                              int round, enum booking_status status,
                                              size_t *nchanges)
{
	*nchanges = 0;
	assert_twins(tw, round, OUTCOME_OK, CONTRACT_TWINS);
	for (int i = 0; i < CONTRACT_TWINS; i++) {
		assert_string_equal(tw[i].cmd.booking.reference, tw[0].cmd.booking.reference);
		assert_int_equal(tw[i].cmd.booking.status, status);
		assert_int_equal(tw[i].cmd.booking.nseats, tw[0].cmd.booking.nseats);
		*nchanges += tw[i].cmd.nchanges;
	}
}

/* This round's user: a fresh name per round. */
static const char *contract_twin_user(struct fx *f, int round)
{
	char tag[16];
	snprintf(tag, sizeof(tag), "twin%d", round);
	return contract_user(f, tag);
}

/* A prototype command for user in show, seats "<row>1 <row>2 ...". */
static void contract_twin_proto(struct store_cmd *c, enum store_op op, const char *user,
                                int64_t show, int row, int nseats)
{
	memset(c, 0, sizeof(*c));
	c->op = op;
	contract_set_user(c, user);
	c->show_id = show;
	c->nseats = nseats;
	for (int i = 0; i < nseats; i++)
		c->seats[i] = (struct seat){row, i + 1};
}

/* Runs proto once as a hold that must succeed: the state the twins race
 * on. The cart goes to *cart when cart is set. */
static void contract_twin_hold_first(struct fx *f, const struct store_cmd *proto,
                                     struct booking *cart)
{
	struct store_cmd *c = contract_cmd(STORE_OP_HOLD);

	*c = *proto;
	c->op = STORE_OP_HOLD;
	contract_run(f, c);
	assert_outcome(c, OUTCOME_OK);
	if (cart)
		*cart = c->booking;
	contract_done(c);
}

static void test_twin_holds(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, CONTRACT_TWIN_ROUNDS, 5, TEST_DAY_MS);
	struct contract_twin tw[CONTRACT_TWINS];
	struct store_cmd proto;
	size_t nchanges;

	for (int r = 0; r < CONTRACT_TWIN_ROUNDS; r++) {
		const char *u = contract_twin_user(f, r);
		contract_twin_proto(&proto, STORE_OP_HOLD, u, s->id, r, 3);
		contract_race_twins(f, &proto, tw);
		contract_assert_twins_one_booking(tw, r, BOOKING_STAGED, &nchanges);
		assert_int_equal(tw[0].cmd.booking.nseats, 3);
		assert_int_equal(nchanges, 3); /* each seat held once */
		assert_int_equal(contract_count_bookings(f, u), 1);
		contract_twins_clear(tw);
	}
}

static void test_twin_confirms(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, CONTRACT_TWIN_ROUNDS, 5, TEST_DAY_MS);
	struct contract_twin tw[CONTRACT_TWINS];
	struct store_cmd proto;
	struct booking cart;
	size_t nchanges;

	for (int r = 0; r < CONTRACT_TWIN_ROUNDS; r++) {
		const char *u = contract_twin_user(f, r);
		contract_twin_proto(&proto, STORE_OP_HOLD, u, s->id, r, 3);
		contract_twin_hold_first(f, &proto, &cart);

		proto.op = STORE_OP_CONFIRM;
		contract_race_twins(f, &proto, tw);
		contract_assert_twins_one_booking(tw, r, BOOKING_CONFIRMED, &nchanges);
		assert_string_equal(tw[0].cmd.booking.reference, cart.reference);
		assert_int_equal(tw[0].cmd.booking.nseats, 3);
		assert_int_equal(nchanges, 3); /* each seat booked once */
		assert_int_equal(contract_count_bookings(f, u), 1);
		contract_twins_clear(tw);
	}
}

static void test_twin_releases(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, CONTRACT_TWIN_ROUNDS, 5, TEST_DAY_MS);
	struct contract_twin tw[CONTRACT_TWINS];
	struct store_cmd proto;
	size_t nchanges;

	for (int r = 0; r < CONTRACT_TWIN_ROUNDS; r++) {
		const char *u = contract_twin_user(f, r);
		contract_twin_proto(&proto, STORE_OP_HOLD, u, s->id, r, 3);
		contract_twin_hold_first(f, &proto, NULL);

		/* One seat: the first frees it, the rest change nothing. */
		contract_twin_proto(&proto, STORE_OP_RELEASE, u, s->id, r, 1);
		contract_race_twins(f, &proto, tw);
		contract_assert_twins_one_booking(tw, r, BOOKING_STAGED, &nchanges);
		assert_int_equal(tw[0].cmd.booking.nseats, 2);
		assert_int_equal(nchanges, 1);
		contract_twins_clear(tw);

		/* The whole cart: the first empties it, the rest find no cart. */
		contract_twin_proto(&proto, STORE_OP_RELEASE, u, s->id, r, 0);
		proto.all_seats = true;
		contract_race_twins(f, &proto, tw);
		assert_twins(tw, r, OUTCOME_OK, 1);
		assert_twins(tw, r, OUTCOME_BOOKING_NOT_FOUND, CONTRACT_TWINS - 1);
		for (int i = 0; i < CONTRACT_TWINS; i++)
			if (tw[i].cmd.outcome == OUTCOME_OK) {
				assert_int_equal(tw[i].cmd.booking.status, BOOKING_CANCELLED);
				assert_int_equal(tw[i].cmd.nchanges, 2);
			}
		contract_twins_clear(tw);
	}
}

static void test_twin_cancels(void **state)
{
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, CONTRACT_TWIN_ROUNDS, 5, TEST_DAY_MS);
	struct contract_twin tw[CONTRACT_TWINS];
	struct store_cmd proto;
	struct booking conf;
	size_t nchanges;

	for (int r = 0; r < CONTRACT_TWIN_ROUNDS; r++) {
		const char *u = contract_twin_user(f, r);
		char seats[16];
		snprintf(seats, sizeof(seats), "%c1 %c2", 'A' + r, 'A' + r);
		contract_hold_ok(f, u, s->id, seats, NULL);
		contract_confirm_ok(f, u, s->id, seats, &conf);

		memset(&proto, 0, sizeof(proto));
		proto.op = STORE_OP_CANCEL;
		contract_set_user(&proto, u);
		snprintf(proto.reference, sizeof(proto.reference), "%s", conf.reference);
		contract_race_twins(f, &proto, tw);
		contract_assert_twins_one_booking(tw, r, BOOKING_CANCELLED, &nchanges);
		assert_string_equal(tw[0].cmd.booking.reference, conf.reference);
		assert_int_equal(nchanges, 2); /* each seat freed once */
		contract_twins_clear(tw);
	}
	struct show_details d;
	contract_details(f, s->id, &d);
	assert_int_equal(d.navailable, s->screen->rows * s->screen->seats_per_row);
	store_show_details_free(&d);
}

static void test_twin_hold_best(void **state)
{
	enum { PER = 2, WINS = CONTRACT_PER_USER / PER };
	struct fx *f = *state;
	const struct contract_show *s = contract_show_new(f, 20, 20, TEST_DAY_MS);
	struct contract_twin tw[CONTRACT_TWINS];
	struct store_cmd proto;

	_Static_assert((int)WINS < (int)CONTRACT_TWINS, "some twins must reach the limit");
	for (int r = 0; r < CONTRACT_TWIN_ROUNDS; r++) {
		const char *u = contract_twin_user(f, r);
		bool sizes[CONTRACT_PER_USER + 1] = {false};

		memset(&proto, 0, sizeof(proto));
		proto.op = STORE_OP_HOLD_BEST;
		contract_set_user(&proto, u);
		proto.show_id = s->id;
		proto.count = PER;
		contract_race_twins(f, &proto, tw);
		/* One after another: the cart grows by PER up to the limit, then
		 * every further call is refused. */
		assert_twins(tw, r, OUTCOME_OK, WINS);
		assert_twins(tw, r, OUTCOME_HOLD_LIMIT_EXCEEDED, CONTRACT_TWINS - WINS);
		const char *ref = NULL;
		for (int i = 0; i < CONTRACT_TWINS; i++) {
			const struct booking *b = &tw[i].cmd.booking;
			if (tw[i].cmd.outcome != OUTCOME_OK)
				continue;
			assert_true(b->nseats % PER == 0 && b->nseats <= CONTRACT_PER_USER);
			assert_false(sizes[b->nseats]); /* one answer per cart size */
			sizes[b->nseats] = true;
			if (ref == NULL)
				ref = b->reference;
			assert_string_equal(b->reference, ref);
			assert_int_equal(tw[i].cmd.nchanges, PER);
		}
		assert_int_equal(contract_count_bookings(f, u), 1);
		contract_twins_clear(tw);
	}
}

static void test_twin_expiries(void **state)
{
	struct fx *f = *state;
	contract_reopen(f, CONTRACT_SHORT_TTL_MS, CONTRACT_LIFETIME_MS, CONTRACT_PER_USER);
	const struct contract_show *s = contract_show_new(f, CONTRACT_TWIN_ROUNDS, 5, TEST_DAY_MS);
	struct contract_twin tw[CONTRACT_TWINS];
	struct store_cmd proto;

	for (int r = 0; r < CONTRACT_TWIN_ROUNDS; r++) {
		char seats[16];
		snprintf(seats, sizeof(seats), "%c1 %c2 %c3", 'A' + r, 'A' + r, 'A' + r);
		contract_hold_ok(f, contract_twin_user(f, r), s->id, seats, NULL);
		contract_advance(f, CONTRACT_SHORT_TTL_MS + 100);

		memset(&proto, 0, sizeof(proto));
		proto.op = STORE_OP_EXPIRE_DUE;
		contract_race_twins(f, &proto, tw);
		/* Each expired seat is counted by exactly one of the twins. */
		int64_t expired = 0;
		for (int i = 0; i < CONTRACT_TWINS; i++) {
			assert_outcome(&tw[i].cmd, OUTCOME_OK);
			expired += tw[i].cmd.expired;
		}
		if (f->shared)
			assert_true(expired >= 3);
		else
			assert_int_equal(expired, 3);
		contract_twins_clear(tw);
		struct show_details d;
		contract_details(f, s->id, &d);
		assert_int_equal(d.nheld, 0);
		store_show_details_free(&d);
	}
}

static void test_twin_show_cancels(void **state)
{
	struct fx *f = *state;
	struct contract_twin tw[CONTRACT_TWINS];
	struct store_cmd proto;

	for (int r = 0; r < CONTRACT_TWIN_ROUNDS; r++) {
		const struct contract_show *s = contract_show_new(f, 1, 2, TEST_DAY_MS);
		memset(&proto, 0, sizeof(proto));
		proto.op = STORE_OP_CANCEL_SHOW;
		proto.show_id = s->id;
		contract_race_twins(f, &proto, tw);
		assert_twins(tw, r, OUTCOME_OK, CONTRACT_TWINS);
		for (int i = 0; i < CONTRACT_TWINS; i++)
			assert_int_equal(tw[i].cmd.created_id, s->id);
		contract_twins_clear(tw);
		struct store_cmd *c = op_hold(f, contract_twin_user(f, r), s->id, "A1");
		assert_refused(c, OUTCOME_SHOW_NOT_BOOKABLE, "");
		contract_done(c);
	}
}

/* ---- the table -------------------------------------------------------- */

#define CONTRACT_TEST(fn) cmocka_unit_test_setup_teardown(fn, contract_setup, contract_teardown)

static const struct CMUnitTest contract_tests[] = {
    CONTRACT_TEST(test_ping_and_backend),
    CONTRACT_TEST(test_open_rejects_bad_url),
    CONTRACT_TEST(test_reopen_keeps_data),
    CONTRACT_TEST(test_reference_collision_retried),
    CONTRACT_TEST(test_listener_hears_commits),
    CONTRACT_TEST(test_feed_in_commit_order),
    CONTRACT_TEST(test_drain_refuses_writes),
    CONTRACT_TEST(test_create_screen),
    CONTRACT_TEST(test_create_movie),
    CONTRACT_TEST(test_create_show),
    CONTRACT_TEST(test_create_show_unknown_refs),
    CONTRACT_TEST(test_create_show_time_rules),
    CONTRACT_TEST(test_create_show_screen_busy),
    CONTRACT_TEST(test_cancel_show),
    CONTRACT_TEST(test_cancel_show_after_holds),
    CONTRACT_TEST(test_refused_new_user),
    CONTRACT_TEST(test_release_unknown_seats),
    CONTRACT_TEST(test_idempotency_outcomes),
    CONTRACT_TEST(test_hold),
    CONTRACT_TEST(test_hold_adds_to_cart),
    CONTRACT_TEST(test_hold_retry),
    CONTRACT_TEST(test_hold_unavailable),
    CONTRACT_TEST(test_hold_unknown_seats),
    CONTRACT_TEST(test_show_not_found),
    CONTRACT_TEST(test_hold_show_started),
    CONTRACT_TEST(test_hold_limit),
    CONTRACT_TEST(test_hold_lifetime_cap),
    CONTRACT_TEST(test_expired_hold_available_at_once),
    CONTRACT_TEST(test_expired_cart_new_reference),
    CONTRACT_TEST(test_hold_best_centre),
    CONTRACT_TEST(test_hold_best_no_room),
    CONTRACT_TEST(test_hold_best_limit),
    CONTRACT_TEST(test_hold_best_picked),
    CONTRACT_TEST(test_confirm),
    CONTRACT_TEST(test_confirm_retry),
    CONTRACT_TEST(test_confirm_not_held),
    CONTRACT_TEST(test_confirm_expired),
    CONTRACT_TEST(test_confirm_unknown_and_unbookable),
    CONTRACT_TEST(test_confirm_then_new_cart),
    CONTRACT_TEST(test_release),
    CONTRACT_TEST(test_release_every_seat_and_no_cart),
    CONTRACT_TEST(test_cancel_confirmed),
    CONTRACT_TEST(test_cancel_staged),
    CONTRACT_TEST(test_cancel_not_cancellable),
    CONTRACT_TEST(test_expire_due),
    CONTRACT_TEST(test_active_shows),
    CONTRACT_TEST(test_show_details_natural_order),
    CONTRACT_TEST(test_booking_details),
    CONTRACT_TEST(test_user_bookings),
    CONTRACT_TEST(test_concurrent_same_seat),
    CONTRACT_TEST(test_concurrent_distinct_seats),
    CONTRACT_TEST(test_twin_holds),
    CONTRACT_TEST(test_twin_confirms),
    CONTRACT_TEST(test_twin_releases),
    CONTRACT_TEST(test_twin_cancels),
    CONTRACT_TEST(test_twin_hold_best),
    CONTRACT_TEST(test_twin_expiries),
    CONTRACT_TEST(test_twin_show_cancels),
};

int main(void)
{
	test_make_run_id(contract_run_id);
	return cmocka_run_group_tests(contract_tests, NULL, NULL);
}
