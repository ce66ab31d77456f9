/* model.c - model-based random test of the store ("exactly once ...
 * proven"): seeded sequences of operations by several users run through
 * store.h only and, step by step, through a small in-memory reference
 * model of API.md written here; after every step the outcome, the seats
 * at fault, the booking returned, the seat changes reported and the reads
 * (show details, active shows, the acting user's bookings) must agree.
 *
 * The model: seats AVAILABLE / HELD(cart) / BOOKED(booking); carts with
 * createdAt and expiresAt; bookings with status and seats. Expiry is lazy:
 * a hold counts as AVAILABLE once now >= its expiry, and a STAGED cart
 * reads EXPIRED from that moment on. The store invents references; the
 * model learns each one from the result of the hold that opened the cart
 * and from then on expects it back (confirm keeps it; a hold after expiry
 * opens a cart with a new one). hold-best's choice must be exactly the
 * seats core/bestseat ranks best among those the model sees free (and
 * free, and side by side unless split): so a backend that ranks seats its
 * own way (PostgreSQL's twin of bestseat) or feeds the ranking a wrong
 * picture of free seats is caught.
 *
 * Coverage: the generator aims a share of its ops at rules (enum m_rule)
 * a run has not exercised MODEL_RULE_MIN times yet; a run of
 * MODEL_DEFAULT_STEPS steps or more that still falls short of one fails.
 *
 * Where API.md leaves room, the model reads it so: a hold has expired at
 * its expiresAt (now >= expiry), not after; hold-best decides room before
 * the per-user limit, as a hold decides availability before it; a
 * cancelled booking keeps listing its seats (release leaves an emptied
 * cart with none); cancelling a cancelled booking answers 200 even once
 * the show has started; release is not refused for a started show.
 * RELEASE ops never name unknown seats or shows: the contract is silent.
 *
 * Time: a fake clock (cfg.clock) that starts at the real time and moves
 * in random steps, so that expiries and the lifetime cap happen often.
 * Each op carries its time as an offset from the start of the run, so a
 * sequence with steps removed keeps the others at their times.
 *
 * On a divergence the run's seed, step, expectation and answer are
 * printed, then the sequence is shrunk (steps removed greedily, each try
 * replayed on a fresh database, kept when the same kind of divergence
 * still shows) and the shortest failing sequence is printed, one op per
 * line. The database is BOXOFFICE_TEST_DB when set (shared: every world
 * makes its own shows and users under unique names), else a fresh SQLite
 * file per world. Both backends follow the fake clock (PostgreSQL through
 * bo_now(), which the store sets from cfg.clock on every call); a probe
 * checks that once, so a backend that did not would fail in one line
 * instead of a flood of divergences.
 *
 * model_tests [--seed N] [--steps N] [--runs N] [--seconds S] [--no-shrink]
 * Output ends with "N passed, M failed" (one test per run); exit 1 on any
 * failure. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "../common/test_util.h"
#include "core/bestseat.h"
#include "core/booking.h"
#include "core/holdrule.h"
#include "core/num.h"
#include "core/outcome.h"
#include "core/seat.h"
#include "core/timefmt.h"
#include "store/store.h"

#define MODEL_TTL_MS  INT64_C(60000) /* hold TTL */
#define MODEL_LIFE_MS INT64_C(90000) /* cart lifetime cap */
/* A reference no store will have issued in this run (its shape is valid). */
#define MODEL_NO_REF "BX-22222222"

enum {
	MODEL_USERS = 6,
	MODEL_SHOWS_MAX = 3,
	MODEL_ROWS_MAX = 3,
	MODEL_PER_ROW_MAX = 5,
	MODEL_SEATS_MAX = MODEL_ROWS_MAX * MODEL_PER_ROW_MAX,
	MODEL_OP_SEATS = 8, /* seats listed in one op */
	MODEL_PER_USER = 4, /* max seats per user and show */
	MODEL_DURATION_MIN = 100,
	MODEL_DEFAULT_STEPS = 200,
	MODEL_DEFAULT_RUNS = 20,
	MODEL_STEPS_MAX = 100000,
	MODEL_RUNS_MAX = 1000000,
	MODEL_SECONDS_MAX = 7 * 24 * 3600,
	MODEL_AVG_STEP_MS = 9850, /* mean clock advance per step, see m_gen_delta */
	MODEL_SHRINK_REPLAYS = 5000,
	MODEL_SHRINK_SECONDS = 120,
	MODEL_TEXT = 2048,
	MODEL_LINE = 320,
	MODEL_SEATS_TEXT = 128,
	MODEL_RULE_MIN = 2,      /* times each rule must be exercised per run */
	MODEL_COVERAGE_GROW = 4, /* a run short of coverage grows to at most 4x */
	MODEL_DIRECTED = 45,     /* % of ops aimed at a rule not reached yet */
	MODEL_AIM_TRIES = 12,    /* users and shows tried for an aimed op */
	MODEL_BEST_COUNT_MAX = 6,
};

static const char *const model_user_names[MODEL_USERS] = {"alice", "bob",  "carol",
                                                          "dave",  "erin", "frank"};

/* ---- random numbers --------------------------------------------------- */

struct m_rng {
	uint64_t s;
};

/* splitmix64: small, fast and good enough to drive a test. */
static uint64_t m_rand(struct m_rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int m_below(struct m_rng *r, int n)
{
	return n <= 1 ? 0 : (int)(m_rand(r) % (uint64_t)n);
}

static bool m_chance(struct m_rng *r, int percent)
{
	return m_below(r, 100) < percent;
}

/* ---- operations ------------------------------------------------------- */

enum m_kind { M_HOLD, M_HOLD_BEST, M_CONFIRM, M_RELEASE, M_CANCEL, M_EXPIRE, M_KINDS };

static const char *const m_kind_names[M_KINDS] = {"HOLD",    "HOLD_BEST", "CONFIRM",
                                                  "RELEASE", "CANCEL",    "EXPIRE_DUE"};

/* What a run must exercise, each at least MODEL_RULE_MIN times (when it
 * has MODEL_DEFAULT_STEPS steps or more), or it fails: every refusal of
 * every write, every way one user meets another's seats or bookings, and
 * the rules of time and carts. A step counts for a rule once store and
 * model agreed on it; the generator aims at rules not yet reached. */
enum m_rule {
	R_HOLD_NO_SHOW,
	R_HOLD_NOT_BOOKABLE,
	R_HOLD_UNKNOWN,
	R_HOLD_UNAVAILABLE,
	R_HOLD_LIMIT,
	R_BEST_NO_SHOW,
	R_BEST_NOT_BOOKABLE,
	R_BEST_NO_ROOM,
	R_BEST_LIMIT,
	R_CONFIRM_NO_SHOW,
	R_CONFIRM_UNKNOWN,
	R_CONFIRM_NOT_BOOKABLE,
	R_CONFIRM_NOT_HELD,
	R_RELEASE_NO_CART,
	R_CANCEL_NOT_FOUND,
	R_CANCEL_NOT_CANCELLABLE,
	R_X_HOLD_HELD,
	R_X_HOLD_BOOKED,
	R_X_TAKEOVER,
	R_X_CONFIRM_HELD,
	R_X_CONFIRM_BOOKED,
	R_X_RELEASE_HELD,
	R_X_CANCEL,
	R_X_BEST_AROUND,
	R_LIFETIME_CAP,
	R_NEW_CART_AFTER_EXPIRY,
	R_CONFIRM_RETRY,
	R_CONFIRM_SUBSET,
	R_CART_GROWS,
	R_RELEASE_SOME,
	R_RELEASE_EMPTIES,
	R_CANCEL_CONFIRMED,
	R_CANCEL_CART,
	R_CANCEL_AGAIN,
	R_BEST_SPLIT,
	R_SWEEP,
	M_RULES
};

static const char *const m_rule_names[M_RULES] = {
    [R_HOLD_NO_SHOW] = "hold: SHOW_NOT_FOUND",
    [R_HOLD_NOT_BOOKABLE] = "hold: SHOW_NOT_BOOKABLE",
    [R_HOLD_UNKNOWN] = "hold: UNKNOWN_SEATS",
    [R_HOLD_UNAVAILABLE] = "hold: SEATS_UNAVAILABLE",
    [R_HOLD_LIMIT] = "hold: HOLD_LIMIT_EXCEEDED",
    [R_BEST_NO_SHOW] = "hold-best: SHOW_NOT_FOUND",
    [R_BEST_NOT_BOOKABLE] = "hold-best: SHOW_NOT_BOOKABLE",
    [R_BEST_NO_ROOM] = "hold-best: SEATS_UNAVAILABLE",
    [R_BEST_LIMIT] = "hold-best: HOLD_LIMIT_EXCEEDED",
    [R_CONFIRM_NO_SHOW] = "confirm: SHOW_NOT_FOUND",
    [R_CONFIRM_UNKNOWN] = "confirm: UNKNOWN_SEATS",
    [R_CONFIRM_NOT_BOOKABLE] = "confirm: SHOW_NOT_BOOKABLE",
    [R_CONFIRM_NOT_HELD] = "confirm: SEATS_NOT_HELD",
    [R_RELEASE_NO_CART] = "release: BOOKING_NOT_FOUND",
    [R_CANCEL_NOT_FOUND] = "cancel: BOOKING_NOT_FOUND",
    [R_CANCEL_NOT_CANCELLABLE] = "cancel: BOOKING_NOT_CANCELLABLE",
    [R_X_HOLD_HELD] = "hold refused over another user's live hold",
    [R_X_HOLD_BOOKED] = "hold refused over another user's booking",
    [R_X_TAKEOVER] = "hold takes another user's expired hold",
    [R_X_CONFIRM_HELD] = "confirm refused for another user's held seat",
    [R_X_CONFIRM_BOOKED] = "confirm refused for another user's booked seat",
    [R_X_RELEASE_HELD] = "release naming another user's held seat leaves it held",
    [R_X_CANCEL] = "cancel of another user's booking not found",
    [R_X_BEST_AROUND] = "hold-best around other users' seats",
    [R_LIFETIME_CAP] = "a cart's refresh capped by its lifetime",
    [R_NEW_CART_AFTER_EXPIRY] = "a hold after the cart expired opens a new cart",
    [R_CONFIRM_RETRY] = "a retried confirm answers the booking",
    [R_CONFIRM_SUBSET] = "confirm of part of a cart frees the rest",
    [R_CART_GROWS] = "a hold adds to the live cart",
    [R_RELEASE_SOME] = "release of some seats keeps the cart",
    [R_RELEASE_EMPTIES] = "release of every seat cancels the cart",
    [R_CANCEL_CONFIRMED] = "cancel of a confirmed booking",
    [R_CANCEL_CART] = "cancel of a live cart",
    [R_CANCEL_AGAIN] = "cancel of a cancelled booking",
    [R_BEST_SPLIT] = "hold-best splits when no block fits",
    [R_SWEEP] = "expire-due frees expired holds",
};

/* One step, concrete enough to replay without the run that made it;
 * only the booking a CANCEL names is symbolic (the owner's nth booking),
 * since references differ from one replay to the next. */
struct m_op {
	int64_t at; /* ms since the start of the run */
	enum m_kind kind;
	int user;
	int show; /* index; -1: a show that does not exist */
	int nseats;
	struct seat seats[MODEL_OP_SEATS];
	bool all;   /* release the whole cart */
	int count;  /* hold-best */
	bool split; /* hold-best */
	int owner;  /* cancel: whose booking */
	int nth;    /* cancel: the owner's nth booking, 0-based; -1: MODEL_NO_REF */
	/* generating only: this op prepared rule aim - 1 for aim_user in its
	 * show, so the next op aims at it (0: none) */
	int aim, aim_user;
};

/* What a run is made of, all derived from its seed. */
struct m_plan {
	uint64_t seed;
	int nshows;
	int rows[MODEL_SHOWS_MAX], per_row[MODEL_SHOWS_MAX];
	int64_t ahead[MODEL_SHOWS_MAX]; /* show time, ms after the start */
};

/* ---- the reference model ---------------------------------------------- */

struct m_seat {
	enum seat_status state; /* as written; a HELD seat may have expired */
	int booking;            /* index, -1 when AVAILABLE */
};

struct m_show {
	int rows, per_row;
	int64_t show_time;
	struct m_seat seat[MODEL_SEATS_MAX];
};

struct m_booking {
	char ref[BOOKING_REF_SIZE]; /* learned from the store; empty until then */
	int user, show;
	enum booking_status status; /* STAGED, CONFIRMED or CANCELLED; EXPIRED is derived */
	int64_t created, expires, confirmed, cancelled;
	int nseats;
	struct seat seats[MODEL_SEATS_MAX]; /* natural order */
};

struct model {
	int64_t now;
	int nshows;
	struct m_show shows[MODEL_SHOWS_MAX];
	int nbookings, cap;
	struct m_booking *b;
	int cart[MODEL_USERS][MODEL_SHOWS_MAX]; /* last STAGED booking, -1 */
	int nbook_of[MODEL_USERS];
	int hits[M_RULES]; /* how often each rule was exercised */
};

static int m_seat_index(const struct m_show *sh, struct seat s)
{
	if (s.row < 0 || s.row >= sh->rows || s.number < 1 || s.number > sh->per_row)
		return -1;
	return s.row * sh->per_row + s.number - 1;
}

/* The show as core/holdrule's show checks see it (-1: no such show; the
 * model's shows are never cancelled). */
static struct holdrule_show m_rule_show(const struct model *m, int s)
{
	struct holdrule_show hs = {false, false, 0, 0, 0};

	if (s >= 0)
		hs = (struct holdrule_show){true, true, m->shows[s].show_time, m->shows[s].rows,
		                            m->shows[s].per_row};
	return hs;
}

static struct seat m_seat_at(const struct m_show *sh, int i)
{
	return (struct seat){i / sh->per_row, i % sh->per_row + 1};
}

static bool m_seats_has(const struct seat *a, int n, struct seat s)
{
	for (int i = 0; i < n; i++)
		if (seat_compare(&a[i], &s) == 0)
			return true;
	return false;
}

static bool m_seats_equal(const struct seat *a, int na, const struct seat *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (seat_compare(&a[i], &b[i]) != 0)
			return false;
	return true;
}

static enum booking_status m_status(const struct model *m, const struct m_booking *b)
{
	return holdrule_booking_status(b->status, b->expires, m->now);
}

/* The state everyone sees now: an expired hold is AVAILABLE at once. */
static enum seat_status m_vis(const struct model *m, int s, int i)
{
	const struct m_seat *st = &m->shows[s].seat[i];

	return holdrule_seat_status(st->state,
	                            st->state == SEAT_HELD ? m->b[st->booking].expires : 0, m->now);
}

static int m_live_cart(const struct model *m, int u, int s)
{
	int c = m->cart[u][s];

	if (c < 0 || m_status(m, &m->b[c]) != BOOKING_STAGED)
		return -1;
	return c;
}

static int m_nth_booking(const struct model *m, int u, int nth)
{
	for (int i = 0, k = 0; nth >= 0 && i < m->nbookings; i++)
		if (m->b[i].user == u && k++ == nth)
			return i;
	return -1;
}

static int m_find_ref(const struct model *m, const char *ref)
{
	for (int i = 0; i < m->nbookings; i++)
		if (strcmp(m->b[i].ref, ref) == 0)
			return i;
	return -1;
}

static void m_booking_add_seat(struct m_booking *b, struct seat s)
{
	if (b->nseats < MODEL_SEATS_MAX && !m_seats_has(b->seats, b->nseats, s)) {
		b->seats[b->nseats++] = s;
		seat_sort(b->seats, (size_t)b->nseats);
	}
}

static void m_booking_remove_seat(struct m_booking *b, struct seat s)
{
	int k = 0;

	for (int i = 0; i < b->nseats; i++)
		if (seat_compare(&b->seats[i], &s) != 0)
			b->seats[k++] = b->seats[i];
	b->nseats = k;
}

static bool m_has_block(const struct model *m, int s, int count)
{
	const struct m_show *sh = &m->shows[s];

	for (int r = 0; r < sh->rows; r++) {
		int run = 0;
		for (int n = 0; n < sh->per_row; n++) {
			run = m_vis(m, s, r * sh->per_row + n) == SEAT_AVAILABLE ? run + 1 : 0;
			if (run >= count)
				return true;
		}
	}
	return false;
}

static int m_free_count(const struct model *m, int s)
{
	const struct m_show *sh = &m->shows[s];
	int n = 0;

	for (int i = 0; i < sh->rows * sh->per_row; i++)
		n += m_vis(m, s, i) == SEAT_AVAILABLE;
	return n;
}

/* What the API says an op must answer, decided before it runs. */
struct m_expect {
	enum outcome outcome;
	int nbad;
	struct seat bad[MODEL_OP_SEATS];
	int booking; /* OK: the booking answered, -1 for a cart yet to open */
};

static void m_expect_hold(const struct model *m, const struct m_op *op, struct m_expect *e)
{
	struct seat sorted[MODEL_OP_SEATS];
	int n = op->nseats;

	struct holdrule_show hs = m_rule_show(m, op->show);

	memcpy(sorted, op->seats, sizeof(sorted[0]) * (size_t)n);
	e->outcome = holdrule_check_show(&hs, HOLDRULE_CHECK_BOOKABLE | HOLDRULE_CHECK_SEATS,
	                                 m->now, sorted, n, e->bad, &e->nbad);
	if (e->outcome != OUTCOME_OK)
		return;
	const struct m_show *sh = &m->shows[op->show];
	int cart = m_live_cart(m, op->user, op->show);
	int total = cart >= 0 ? m->b[cart].nseats : 0;
	for (int i = 0; i < n; i++) {
		int k = m_seat_index(sh, sorted[i]);
		enum seat_status v = m_vis(m, op->show, k);
		if (v == SEAT_AVAILABLE)
			total++;
		else if (!(v == SEAT_HELD && sh->seat[k].booking == cart))
			e->bad[e->nbad++] = sorted[i];
	}
	if (e->nbad > 0)
		e->outcome = OUTCOME_SEATS_UNAVAILABLE;
	else if (total > MODEL_PER_USER)
		e->outcome = OUTCOME_HOLD_LIMIT_EXCEEDED;
	else
		e->booking = cart;
}

static void m_expect_hold_best(const struct model *m, const struct m_op *op, struct m_expect *e)
{
	struct holdrule_show hs = m_rule_show(m, op->show);

	e->outcome =
	    holdrule_check_show(&hs, HOLDRULE_CHECK_BOOKABLE, m->now, NULL, 0, e->bad, &e->nbad);
	if (e->outcome != OUTCOME_OK)
		return;
	bool room = op->split ? m_free_count(m, op->show) >= op->count
	                      : m_has_block(m, op->show, op->count);
	int cart = m_live_cart(m, op->user, op->show);
	if (!room)
		e->outcome = OUTCOME_SEATS_UNAVAILABLE;
	else if ((cart >= 0 ? m->b[cart].nseats : 0) + op->count > MODEL_PER_USER)
		e->outcome = OUTCOME_HOLD_LIMIT_EXCEEDED;
	else
		e->booking = cart;
}

static void m_expect_confirm(const struct model *m, const struct m_op *op, struct m_expect *e)
{
	struct seat sorted[MODEL_OP_SEATS];
	int n = op->nseats;

	struct holdrule_show hs = m_rule_show(m, op->show);

	memcpy(sorted, op->seats, sizeof(sorted[0]) * (size_t)n);
	e->outcome =
	    holdrule_check_show(&hs, HOLDRULE_CHECK_SEATS, m->now, sorted, n, e->bad, &e->nbad);
	if (e->outcome != OUTCOME_OK)
		return;
	const struct m_show *sh = &m->shows[op->show];
	/* A retry of a success: the same set, booked in one confirmed booking. */
	for (int i = 0; i < m->nbookings; i++) {
		const struct m_booking *b = &m->b[i];
		if (b->user == op->user && b->show == op->show && b->status == BOOKING_CONFIRMED &&
		    m_seats_equal(b->seats, b->nseats, sorted, n)) {
			e->booking = i;
			return;
		}
	}
	if (!holdrule_show_bookable(&hs, m->now)) {
		e->outcome = OUTCOME_SHOW_NOT_BOOKABLE;
		return;
	}
	int cart = m_live_cart(m, op->user, op->show);
	for (int i = 0; i < n; i++) {
		const struct m_seat *st = &sh->seat[m_seat_index(sh, sorted[i])];
		if (cart < 0 || st->state != SEAT_HELD || st->booking != cart)
			e->bad[e->nbad++] = sorted[i];
	}
	if (e->nbad > 0)
		e->outcome = OUTCOME_SEATS_NOT_HELD;
	else
		e->booking = cart;
}

static void m_expect(const struct model *m, const struct m_op *op, int target, struct m_expect *e)
{
	memset(e, 0, sizeof(*e));
	e->outcome = OUTCOME_OK;
	e->booking = -1;
	switch (op->kind) {
	case M_HOLD:
		m_expect_hold(m, op, e);
		break;
	case M_HOLD_BEST:
		m_expect_hold_best(m, op, e);
		break;
	case M_CONFIRM:
		m_expect_confirm(m, op, e);
		break;
	case M_RELEASE:
		if (op->show < 0)
			e->outcome = OUTCOME_SHOW_NOT_FOUND;
		else if ((e->booking = m_live_cart(m, op->user, op->show)) < 0)
			e->outcome = OUTCOME_BOOKING_NOT_FOUND;
		break;
	case M_CANCEL:
		if (target < 0 || m->b[target].user != op->user) {
			e->outcome = OUTCOME_BOOKING_NOT_FOUND;
			break;
		}
		e->booking = target;
		/* Cancelling again answers 200 even once the show has started. */
		e->outcome = holdrule_check_cancel(m_status(m, &m->b[target]),
		                                   m->shows[m->b[target].show].show_time, m->now);
		break;
	case M_EXPIRE:
	case M_KINDS:
		break;
	}
}

/* ---- applying a success to the model ---------------------------------- */

static int m_booking_new(struct model *m, int u, int s)
{
	if (m->nbookings == m->cap)
		return -1;
	int i = m->nbookings++;
	struct m_booking *b = &m->b[i];

	memset(b, 0, sizeof(*b));
	b->user = u;
	b->show = s;
	b->status = BOOKING_STAGED;
	b->created = m->now;
	b->expires = holdrule_expiry(m->now, m->now, MODEL_TTL_MS, MODEL_LIFE_MS);
	m->cart[u][s] = i;
	m->nbook_of[u]++;
	return i;
}

/* Holds seats (all free or already in the live cart) for u. */
static int m_apply_hold(struct model *m, int u, int s, const struct seat *seats, int n)
{
	struct m_show *sh = &m->shows[s];
	int c = m_live_cart(m, u, s);
	bool fresh = c < 0;
	int added = 0;

	if (fresh && (c = m_booking_new(m, u, s)) < 0)
		return -1;
	struct m_booking *b = &m->b[c];
	for (int i = 0; i < n; i++) {
		int k = m_seat_index(sh, seats[i]);
		if (sh->seat[k].state == SEAT_HELD && sh->seat[k].booking == c)
			continue;
		sh->seat[k] = (struct m_seat){SEAT_HELD, c};
		m_booking_add_seat(b, seats[i]);
		added++;
	}
	if (added > 0 && !fresh) {
		b->expires = holdrule_expiry(b->created, m->now, MODEL_TTL_MS, MODEL_LIFE_MS);
	}
	return c;
}

static int m_apply_confirm(struct model *m, int u, int s, const struct seat *seats, int n)
{
	struct m_show *sh = &m->shows[s];
	int c = m_live_cart(m, u, s);
	struct m_booking *b = &m->b[c];

	for (int i = 0; i < b->nseats; i++)
		if (!m_seats_has(seats, n, b->seats[i]))
			sh->seat[m_seat_index(sh, b->seats[i])] =
			    (struct m_seat){SEAT_AVAILABLE, -1};
	b->nseats = 0;
	for (int i = 0; i < n; i++) {
		sh->seat[m_seat_index(sh, seats[i])] = (struct m_seat){SEAT_BOOKED, c};
		m_booking_add_seat(b, seats[i]);
	}
	b->status = BOOKING_CONFIRMED;
	b->confirmed = m->now;
	m->cart[u][s] = -1;
	return c;
}

static int m_apply_release(struct model *m, const struct m_op *op)
{
	struct m_show *sh = &m->shows[op->show];
	int c = m_live_cart(m, op->user, op->show);
	struct m_booking *b = &m->b[c];
	struct seat drop[MODEL_SEATS_MAX];
	int ndrop = 0;

	for (int i = 0; i < b->nseats; i++)
		if (op->all || m_seats_has(op->seats, op->nseats, b->seats[i]))
			drop[ndrop++] = b->seats[i];
	for (int i = 0; i < ndrop; i++) {
		sh->seat[m_seat_index(sh, drop[i])] = (struct m_seat){SEAT_AVAILABLE, -1};
		m_booking_remove_seat(b, drop[i]);
	}
	if (b->nseats == 0) {
		b->status = BOOKING_CANCELLED;
		b->cancelled = m->now;
		m->cart[op->user][op->show] = -1;
	}
	return c;
}

/* A cancelled booking keeps listing the seats it had. */
static void m_apply_cancel(struct model *m, int i)
{
	struct m_booking *b = &m->b[i];
	struct m_show *sh = &m->shows[b->show];

	if (b->status == BOOKING_CANCELLED)
		return;
	for (int k = 0; k < b->nseats; k++) {
		struct m_seat *st = &sh->seat[m_seat_index(sh, b->seats[k])];
		if (st->booking == i)
			*st = (struct m_seat){SEAT_AVAILABLE, -1};
	}
	b->status = BOOKING_CANCELLED;
	b->cancelled = m->now;
	if (m->cart[b->user][b->show] == i)
		m->cart[b->user][b->show] = -1;
}

/* ---- one world: a store, its shows, users, clock and the model -------- */

struct m_verdict {
	int step; /* failing step, -1 none, -2 setup */
	char tag[48];
	char msg[MODEL_TEXT];
};

/* The fake clock never goes back from one run to the next (see
 * m_world_open). */
static int64_t model_clock_floor;

struct m_world {
	struct store *st;
	struct store_config cfg;
	char url[PATH_MAX + 32];
	char dir[PATH_MAX];
	bool shared;
	_Atomic int64_t now;
	int64_t t0;
	char users[MODEL_USERS][USERNAME_MAX + 1];
	int64_t show_id[MODEL_SHOWS_MAX];
	char movie_name[MODEL_SHOWS_MAX][NAME_MAX_LEN + 1];
	char screen_name[MODEL_SHOWS_MAX][NAME_MAX_LEN + 1];
	struct model m;
	bool failed;
	char tag[32];
	char msg[MODEL_TEXT];
};

static char model_run_id[TEST_RUN_ID_LEN + 1];
static unsigned model_serial;
static unsigned long model_hist[M_KINDS][OUTCOME_COUNT];
/* hold-best ops whose seats were chosen outside the writer / by it */
static unsigned long model_best_outside, model_best_writer;
static long model_rule_total[M_RULES]; /* over all runs */
static int model_run_hits[M_RULES];    /* of the last generated run */
static bool model_shrink = true;

static int64_t m_clock(void *arg)
{
	struct m_world *w = arg;
	return atomic_load(&w->now);
}

__attribute__((format(printf, 3, 4))) static void m_diverge(struct m_world *w, const char *tag,
                                                            const char *fmt, ...)
{
	va_list ap;

	if (w->failed)
		return;
	w->failed = true;
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

/* ---- text ------------------------------------------------------------- */

/* A time as an offset from the start of the run: "t+65s", "t+65.250s". */
static void m_trel(int64_t rel, char buf[32])
{
	const char *sign = rel < 0 ? "-" : "+";
	int64_t a = rel < 0 ? -rel : rel;

	if (a % TEST_SECOND_MS == 0)
		snprintf(buf, 32, "t%s%" PRId64 "s", sign, a / TEST_SECOND_MS);
	else
		snprintf(buf, 32, "t%s%" PRId64 ".%03" PRId64 "s", sign, a / TEST_SECOND_MS,
		         a % TEST_SECOND_MS);
}

static void m_tabs(const struct m_world *w, int64_t at, char buf[32])
{
	if (at == 0)
		snprintf(buf, 32, "-");
	else
		m_trel(at - w->t0, buf);
}

static void m_booking_text(const struct m_world *w, const char *ref, enum booking_status st,
                           const struct seat *seats, int n, int64_t created, int64_t expires,
                           int64_t confirmed, int64_t cancelled, char *buf, size_t size)
{
	char s[MODEL_SEATS_TEXT], tc[32], te[32], tf[32], tx[32];

	test_seats_text(seats, n, s, sizeof(s));
	m_tabs(w, created, tc);
	m_tabs(w, expires, te);
	m_tabs(w, confirmed, tf);
	m_tabs(w, cancelled, tx);
	snprintf(buf, size, "%s %s [%s] created %s expires %s confirmed %s cancelled %s", ref,
	         booking_status_name(st), s, tc, te, tf, tx);
}

static void m_model_booking_text(const struct m_world *w, int i, char *buf, size_t size)
{
	const struct m_booking *b = &w->m.b[i];
	enum booking_status st = m_status(&w->m, b);

	m_booking_text(w, b->ref[0] ? b->ref : "(new ref)", st, b->seats, b->nseats, b->created,
	               st == BOOKING_STAGED ? b->expires : 0, b->confirmed, b->cancelled, buf,
	               size);
}

static void m_got_booking_text(const struct m_world *w, const struct booking *g, char *buf,
                               size_t size)
{
	m_booking_text(w, g->reference, g->status, g->seats, g->nseats, g->created_at,
	               g->expires_at, g->confirmed_at, g->cancelled_at, buf, size);
}

/* Whether a hold-best op is picked outside the writer (store_pick, as the
 * API does) or by the writer itself: both must choose the model's seats.
 * Three in four, derived from the op's time so that a replay agrees. */
static bool m_outside(const struct m_op *op)
{
	return op->kind == M_HOLD_BEST && ((uint64_t)op->at * 2654435761u >> 7) % 4 != 0;
}

static void m_op_text(const struct m_op *op, char *buf, size_t size)
{
	char t[32], s[MODEL_SEATS_TEXT], show[16];
	const char *user = model_user_names[op->user];

	m_trel(op->at, t);
	test_seats_text(op->seats, op->nseats, s, sizeof(s));
	if (op->show < 0)
		snprintf(show, sizeof(show), "noshow");
	else
		snprintf(show, sizeof(show), "show%d", op->show + 1);
	switch (op->kind) {
	case M_HOLD:
	case M_CONFIRM:
		snprintf(buf, size, "%s %s %s %s %s", t, user, m_kind_names[op->kind], show, s);
		break;
	case M_HOLD_BEST:
		snprintf(buf, size, "%s %s HOLD_BEST %s count=%d%s%s", t, user, show, op->count,
		         op->split ? " split" : "", m_outside(op) ? " picked-outside" : "");
		break;
	case M_RELEASE:
		snprintf(buf, size, "%s %s RELEASE %s %s", t, user, show, op->all ? "all" : s);
		break;
	case M_CANCEL:
		if (op->nth < 0)
			snprintf(buf, size, "%s %s CANCEL never-issued", t, user);
		else
			snprintf(buf, size, "%s %s CANCEL %s#%d", t, user,
			         model_user_names[op->owner], op->nth + 1);
		break;
	case M_EXPIRE:
	case M_KINDS:
		snprintf(buf, size, "%s EXPIRE_DUE", t);
		break;
	}
}

static void m_result_text(const struct m_world *w, const struct m_op *op, const struct store_cmd *c,
                          const char *ref, char *buf, size_t size)
{
	char s[MODEL_SEATS_TEXT], t[32], pre[32] = "";

	if (op->kind == M_CANCEL)
		snprintf(pre, sizeof(pre), "(%s) ", ref);
	if (c->outcome != OUTCOME_OK) {
		test_seats_text(c->bad, c->nbad, s, sizeof(s));
		snprintf(buf, size, "%s-> %s%s%s%s", pre, outcome_name(c->outcome),
		         c->nbad ? " [" : "", s, c->nbad ? "]" : "");
		return;
	}
	if (op->kind == M_EXPIRE) {
		snprintf(buf, size, "-> OK (%" PRId64 " expired)", c->expired);
		return;
	}
	test_seats_text(c->booking.seats, c->booking.nseats, s, sizeof(s));
	m_tabs(w, c->booking.expires_at, t);
	snprintf(buf, size, "%s-> OK %s %s [%s]%s%s", pre, c->booking.reference,
	         booking_status_name(c->booking.status), s,
	         c->booking.status == BOOKING_STAGED ? " expires " : "",
	         c->booking.status == BOOKING_STAGED ? t : "");
}

/* ---- checks ----------------------------------------------------------- */

/* got must be model booking i, as read now. */
static void m_check_booking(struct m_world *w, const struct booking *got, int i, const char *what)
{
	const struct m_booking *b = &w->m.b[i];
	enum booking_status st = m_status(&w->m, b);
	char gt[MODEL_LINE], wt[MODEL_LINE];

	if (strcmp(got->username, w->users[b->user]) != 0 || got->show_id != w->show_id[b->show] ||
	    strcmp(got->movie_name, w->movie_name[b->show]) != 0 ||
	    strcmp(got->screen_name, w->screen_name[b->show]) != 0 ||
	    got->show_time != w->m.shows[b->show].show_time) {
		m_diverge(w, "booking",
		          "%s %s: user/show/names differ: got user %s show %" PRId64 " at %" PRId64
		          ", want user %s show %" PRId64 " at %" PRId64,
		          what, got->reference, got->username, got->show_id, got->show_time,
		          w->users[b->user], w->show_id[b->show], w->m.shows[b->show].show_time);
		return;
	}
	if (strcmp(got->reference, b->ref) == 0 && got->status == st &&
	    got->created_at == b->created &&
	    got->expires_at == (st == BOOKING_STAGED ? b->expires : 0) &&
	    got->confirmed_at == b->confirmed && got->cancelled_at == b->cancelled &&
	    m_seats_equal(got->seats, got->nseats, b->seats, b->nseats))
		return;
	m_got_booking_text(w, got, gt, sizeof(gt));
	m_model_booking_text(w, i, wt, sizeof(wt));
	m_diverge(w, "booking", "%s of %s:\n    got  %s\n    want %s", what,
	          model_user_names[b->user], gt, wt);
}

static void m_check_show(struct m_world *w, int s)
{
	const struct model *m = &w->m;
	const struct m_show *sh = &m->shows[s];
	struct show_details d;
	enum outcome o = OUTCOME_COUNT;
	struct seat want[3][MODEL_SEATS_MAX];
	int nwant[3] = {0, 0, 0};
	int64_t next = INT64_MAX;

	memset(&d, 0, sizeof(d));
	int rc = store_show_details(w->st, w->show_id[s], &d, &o);
	if (rc != 0 || o != OUTCOME_OK) {
		m_diverge(w, "show_details", "show%d: store_show_details = %d, %s", s + 1, rc,
		          outcome_name(o));
		store_show_details_free(&d);
		return;
	}
	for (int i = 0; i < sh->rows * sh->per_row; i++) {
		enum seat_status v = m_vis(m, s, i);
		want[v][nwant[v]++] = m_seat_at(sh, i);
		if (v == SEAT_HELD && m->b[sh->seat[i].booking].expires < next)
			next = m->b[sh->seat[i].booking].expires;
	}
	const struct seat *got[3] = {d.available, d.held, d.booked};
	int ngot[3] = {d.navailable, d.nheld, d.nbooked};
	bool same = true;
	for (int k = 0; k < 3; k++)
		same = same && m_seats_equal(got[k], ngot[k], want[k], nwant[k]);
	if (!same) {
		char g[3][MODEL_SEATS_TEXT], x[3][MODEL_SEATS_TEXT];
		for (int k = 0; k < 3; k++) {
			test_seats_text(got[k], ngot[k], g[k], sizeof(g[k]));
			test_seats_text(want[k], nwant[k], x[k], sizeof(x[k]));
		}
		m_diverge(w, "show_details",
		          "show%d seats:\n    got  available [%s] held [%s] booked [%s]\n"
		          "    want available [%s] held [%s] booked [%s]",
		          s + 1, g[0], g[1], g[2], x[0], x[1], x[2]);
	} else if (d.next_expiry != next) {
		char tg[32], tw[32];
		m_tabs(w, d.next_expiry == INT64_MAX ? 0 : d.next_expiry, tg);
		m_tabs(w, next == INT64_MAX ? 0 : next, tw);
		m_diverge(w, "show_details", "show%d next_expiry %s, want %s", s + 1, tg, tw);
	} else if (d.show_id != w->show_id[s] || strcmp(d.status, "ACTIVE") != 0 ||
	           d.rows != sh->rows || d.seats_per_row != sh->per_row ||
	           d.total_seats != sh->rows * sh->per_row || d.show_time != sh->show_time ||
	           d.duration_minutes != MODEL_DURATION_MIN ||
	           strcmp(d.movie_name, w->movie_name[s]) != 0 ||
	           strcmp(d.screen_name, w->screen_name[s]) != 0) {
		m_diverge(w, "show_details",
		          "show%d header: id %" PRId64 " status %s %dx%d total %d time %" PRId64
		          " duration %d",
		          s + 1, d.show_id, d.status, d.rows, d.seats_per_row, d.total_seats,
		          d.show_time, d.duration_minutes);
	}
	store_show_details_free(&d);
}

static void m_check_active(struct m_world *w)
{
	const struct model *m = &w->m;
	struct show_summary *list = NULL;
	size_t n = 0;

	if (store_active_shows(w->st, &list, &n) != 0) {
		m_diverge(w, "active_shows", "store_active_shows failed");
		free(list);
		return;
	}
	for (int s = 0; s < m->nshows; s++) {
		const struct show_summary *found = NULL;
		for (size_t i = 0; i < n; i++)
			if (list[i].show_id == w->show_id[s])
				found = &list[i];
		bool listed = m->now < m->shows[s].show_time;
		if ((found != NULL) != listed) {
			char t[32];
			m_trel(m->shows[s].show_time - w->t0, t);
			m_diverge(w, "active_shows", "show%d (at %s) %s listed as active", s + 1, t,
			          found ? "is" : "is not");
		} else if (found && found->available_seats != m_free_count(m, s)) {
			m_diverge(w, "active_shows", "show%d: %d seats available, want %d", s + 1,
			          found->available_seats, m_free_count(m, s));
		}
	}
	free(list);
}

static void m_check_user(struct m_world *w, int u)
{
	const struct model *m = &w->m;
	struct booking *list = NULL, b;
	size_t n = 0;
	enum outcome o;

	if (store_user_bookings(w->st, w->users[u], &list, &n) != 0) {
		m_diverge(w, "user_bookings", "store_user_bookings(%s) failed",
		          model_user_names[u]);
		free(list);
		return;
	}
	if (n != (size_t)m->nbook_of[u]) {
		m_diverge(w, "user_bookings", "%s has %zu bookings, want %d", model_user_names[u],
		          n, m->nbook_of[u]);
		free(list);
		return;
	}
	bool *seen = calloc((size_t)m->nbookings + 1, sizeof(*seen));
	for (size_t i = 0; seen && i < n && !w->failed; i++) {
		int k = m_find_ref(m, list[i].reference);
		if (i > 0 && list[i - 1].created_at < list[i].created_at)
			m_diverge(w, "user_bookings", "%s's bookings are not newest first",
			          model_user_names[u]);
		else if (k < 0 || m->b[k].user != u || seen[k])
			m_diverge(w, "user_bookings",
			          "%s's list has %s, not one of theirs (or twice)",
			          model_user_names[u], list[i].reference);
		else
			m_check_booking(w, &list[i], k, "user_bookings");
		if (k >= 0)
			seen[k] = true;
	}
	free(seen);
	free(list);
	for (int i = 0; i < m->nbookings && !w->failed; i++) {
		if (m->b[i].user != u)
			continue;
		o = OUTCOME_COUNT;
		if (store_booking_details(w->st, w->users[u], m->b[i].ref, &b, &o) != 0 ||
		    o != OUTCOME_OK)
			m_diverge(w, "booking_details", "%s's %s: %s", model_user_names[u],
			          m->b[i].ref, outcome_name(o));
		else
			m_check_booking(w, &b, i, "booking_details");
	}
	/* Someone else's reference, and one never issued: not found alike. */
	const char *other = MODEL_NO_REF;
	for (int i = m->nbookings - 1; i >= 0; i--) {
		if (m->b[i].user != u) {
			other = m->b[i].ref;
			break;
		}
	}
	const char *probes[2] = {other, MODEL_NO_REF};
	for (int i = 0; i < 2 && !w->failed; i++) {
		o = OUTCOME_COUNT;
		if (store_booking_details(w->st, w->users[u], probes[i], &b, &o) != 0 ||
		    o != OUTCOME_BOOKING_NOT_FOUND)
			m_diverge(w, "booking_details", "%s reading %s: %s, want BOOKING_NOT_FOUND",
			          model_user_names[u], probes[i], outcome_name(o));
	}
}

typedef enum seat_status m_picture[MODEL_SHOWS_MAX][MODEL_SEATS_MAX];

static void m_take_picture(const struct model *m, m_picture pic)
{
	for (int s = 0; s < m->nshows; s++)
		for (int i = 0; i < m->shows[s].rows * m->shows[s].per_row; i++)
			pic[s][i] = m_vis(m, s, i);
}

static int m_show_index(const struct m_world *w, int64_t id)
{
	for (int s = 0; s < w->m.nshows; s++)
		if (w->show_id[s] == id)
			return s;
	return -1;
}

/* The changes a command reports, applied in order to the picture before
 * it, must give the picture after it: what an event stream needs. */
static void m_check_changes(struct m_world *w, const struct store_cmd *c, m_picture before,
                            enum m_kind kind)
{
	const struct model *m = &w->m;
	m_picture after;
	char text[MODEL_TEXT] = "";
	size_t used = 0;

	for (size_t i = 0; i < c->nchanges; i++) {
		const struct seat_change *ch = &c->changes[i];
		int s = m_show_index(w, ch->show_id);
		if (s < 0 && w->shared && kind == M_EXPIRE)
			continue; /* another test's show in a shared database */
		int k = s < 0 ? -1 : m_seat_index(&m->shows[s], ch->seat);
		char label[SEAT_LABEL_SIZE] = "?";
		if (k >= 0)
			seat_format(ch->seat, label);
		if (k < 0 || (int)ch->status < SEAT_AVAILABLE || (int)ch->status > SEAT_BOOKED) {
			m_diverge(w, "changes",
			          "a change of show %" PRId64 " seat %s to %d is not ours",
			          ch->show_id, label, (int)ch->status);
			return;
		}
		before[s][k] = ch->status;
		int n = snprintf(text + used, sizeof(text) - used, " show%d:%s=%s", s + 1, label,
		                 seat_status_name(ch->status));
		if (n > 0 && (size_t)n < sizeof(text) - used)
			used += (size_t)n;
	}
	m_take_picture(m, after);
	for (int s = 0; s < m->nshows; s++) {
		for (int i = 0; i < m->shows[s].rows * m->shows[s].per_row; i++) {
			if (before[s][i] == after[s][i])
				continue;
			char label[SEAT_LABEL_SIZE];
			seat_format(m_seat_at(&m->shows[s], i), label);
			m_diverge(w, "changes",
			          "show%d %s: the reported changes leave it %s, the model has %s "
			          "(changes:%s)",
			          s + 1, label, seat_status_name(before[s][i]),
			          seat_status_name(after[s][i]), used ? text : " none");
			return;
		}
	}
}

/* hold-best: the seats the store chose (those the cart gained) must be
 * count free seats, side by side in one row whenever a row has room.
 * Returns how many were chosen, or -1 after reporting a divergence. */
static int m_check_best(struct m_world *w, const struct m_op *op, const struct booking *got,
                        struct seat *chosen)
{
	const struct model *m = &w->m;
	const struct m_show *sh = &m->shows[op->show];
	int cart = m_live_cart(m, op->user, op->show), n = 0;
	char s[MODEL_SEATS_TEXT];

	test_seats_text(got->seats, got->nseats, s, sizeof(s));
	if (cart >= 0)
		for (int i = 0; i < m->b[cart].nseats; i++)
			if (!m_seats_has(got->seats, got->nseats, m->b[cart].seats[i])) {
				m_diverge(w, "hold_best", "the cart lost seats: [%s]", s);
				return -1;
			}
	for (int i = 0; i < got->nseats; i++) {
		if (cart >= 0 && m_seats_has(m->b[cart].seats, m->b[cart].nseats, got->seats[i]))
			continue;
		int k = m_seat_index(sh, got->seats[i]);
		if (k < 0 || m_vis(m, op->show, k) != SEAT_AVAILABLE || n == MODEL_OP_SEATS) {
			m_diverge(w, "hold_best", "chose a seat that was not free: cart [%s]", s);
			return -1;
		}
		chosen[n++] = got->seats[i];
	}
	if (n != op->count) {
		m_diverge(w, "hold_best", "chose %d seats, want %d: cart [%s]", n, op->count, s);
		return -1;
	}
	if (!op->split || m_has_block(m, op->show, op->count)) {
		for (int i = 1; i < n; i++) {
			if (chosen[i].row != chosen[0].row ||
			    chosen[i].number != chosen[0].number + i) {
				test_seats_text(chosen, n, s, sizeof(s));
				m_diverge(w, "hold_best",
				          "chosen seats [%s] are not side by side in one row", s);
				return -1;
			}
		}
	}
	/* And exactly the seats the model would choose: core/bestseat's
	 * ranking over the seats the model sees free now. */
	unsigned char grid[MODEL_SEATS_MAX];
	struct seat want[MODEL_BEST_COUNT_MAX];
	for (int i = 0; i < sh->rows * sh->per_row; i++)
		grid[i] = m_vis(m, op->show, i) == SEAT_AVAILABLE;
	if (op->count > MODEL_BEST_COUNT_MAX ||
	    bestseat_pick(grid, sh->rows, sh->per_row, op->count, op->split, want) != 0) {
		m_diverge(w, "hold_best", "the store held %d seats where the model finds no choice",
		          n);
		return -1;
	}
	seat_sort(chosen, (size_t)n);
	if (!m_seats_equal(chosen, n, want, op->count)) {
		char g[MODEL_SEATS_TEXT], x[MODEL_SEATS_TEXT];
		test_seats_text(chosen, n, g, sizeof(g));
		test_seats_text(want, op->count, x, sizeof(x));
		m_diverge(w, "hold_best", "chose [%s], the model chooses [%s]", g, x);
		return -1;
	}
	return n;
}

/* Applies a success to the model; returns the booking it answers with. */
static int m_apply(struct m_world *w, const struct m_op *op, const struct m_expect *e,
                   const struct store_cmd *c, int target)
{
	struct model *m = &w->m;
	struct seat chosen[MODEL_OP_SEATS];
	int n;

	switch (op->kind) {
	case M_HOLD:
		return m_apply_hold(m, op->user, op->show, op->seats, op->nseats);
	case M_HOLD_BEST:
		n = m_check_best(w, op, &c->booking, chosen);
		return n < 0 ? -1 : m_apply_hold(m, op->user, op->show, chosen, n);
	case M_CONFIRM:
		if (e->booking >= 0 && m->b[e->booking].status == BOOKING_CONFIRMED)
			return e->booking;
		return m_apply_confirm(m, op->user, op->show, op->seats, op->nseats);
	case M_RELEASE:
		return m_apply_release(m, op);
	case M_CANCEL:
		m_apply_cancel(m, target);
		return target;
	case M_EXPIRE:
	case M_KINDS:
		break;
	}
	return -1;
}

static void m_check_reads(struct m_world *w, const struct m_op *op)
{
	for (int s = 0; s < w->m.nshows && !w->failed; s++)
		m_check_show(w, s);
	if (!w->failed)
		m_check_active(w);
	if (!w->failed && op->kind != M_EXPIRE)
		m_check_user(w, op->user);
	if (!w->failed && op->kind == M_CANCEL && op->owner != op->user)
		m_check_user(w, op->owner);
}

/* ---- coverage: which rules a step exercises --------------------------- */

/* The user whose booking holds seat i of show s (whatever its state), -1. */
static int m_seat_user(const struct model *m, int s, int i)
{
	int b = m->shows[s].seat[i].booking;

	return b < 0 ? -1 : m->b[b].user;
}

static bool m_seat_other_held(const struct model *m, int u, int s, int i)
{
	return m_vis(m, s, i) == SEAT_HELD && m_seat_user(m, s, i) != u;
}

static bool m_seat_other_booked(const struct model *m, int u, int s, int i)
{
	return m_vis(m, s, i) == SEAT_BOOKED && m_seat_user(m, s, i) != u;
}

/* Free to everyone, but still written HELD by another user's cart. */
static bool m_seat_other_expired(const struct model *m, int u, int s, int i)
{
	return m->shows[s].seat[i].state == SEAT_HELD && m_vis(m, s, i) == SEAT_AVAILABLE &&
	       m_seat_user(m, s, i) != u;
}

static int m_longest_run(const struct model *m, int s)
{
	const struct m_show *sh = &m->shows[s];
	int best = 0;

	for (int r = 0; r < sh->rows; r++)
		for (int n = 0, run = 0; n < sh->per_row; n++) {
			run = m_vis(m, s, r * sh->per_row + n) == SEAT_AVAILABLE ? run + 1 : 0;
			if (run > best)
				best = run;
		}
	return best;
}

static enum m_rule m_refusal_rule(enum m_kind kind, enum outcome o)
{
	switch (kind) {
	case M_HOLD:
		return o == OUTCOME_SHOW_NOT_FOUND        ? R_HOLD_NO_SHOW
		       : o == OUTCOME_SHOW_NOT_BOOKABLE   ? R_HOLD_NOT_BOOKABLE
		       : o == OUTCOME_UNKNOWN_SEATS       ? R_HOLD_UNKNOWN
		       : o == OUTCOME_SEATS_UNAVAILABLE   ? R_HOLD_UNAVAILABLE
		       : o == OUTCOME_HOLD_LIMIT_EXCEEDED ? R_HOLD_LIMIT
		                                          : M_RULES;
	case M_HOLD_BEST:
		return o == OUTCOME_SHOW_NOT_FOUND        ? R_BEST_NO_SHOW
		       : o == OUTCOME_SHOW_NOT_BOOKABLE   ? R_BEST_NOT_BOOKABLE
		       : o == OUTCOME_SEATS_UNAVAILABLE   ? R_BEST_NO_ROOM
		       : o == OUTCOME_HOLD_LIMIT_EXCEEDED ? R_BEST_LIMIT
		                                          : M_RULES;
	case M_CONFIRM:
		return o == OUTCOME_SHOW_NOT_FOUND      ? R_CONFIRM_NO_SHOW
		       : o == OUTCOME_UNKNOWN_SEATS     ? R_CONFIRM_UNKNOWN
		       : o == OUTCOME_SHOW_NOT_BOOKABLE ? R_CONFIRM_NOT_BOOKABLE
		       : o == OUTCOME_SEATS_NOT_HELD    ? R_CONFIRM_NOT_HELD
		                                        : M_RULES;
	case M_RELEASE:
		return o == OUTCOME_BOOKING_NOT_FOUND ? R_RELEASE_NO_CART : M_RULES;
	case M_CANCEL:
		return o == OUTCOME_BOOKING_NOT_FOUND         ? R_CANCEL_NOT_FOUND
		       : o == OUTCOME_BOOKING_NOT_CANCELLABLE ? R_CANCEL_NOT_CANCELLABLE
		                                              : M_RULES;
	case M_EXPIRE:
	case M_KINDS:
		break;
	}
	return M_RULES;
}

/* Marks in hit[] the rules op exercises, judged on the model before it
 * runs (e is what the model expects it to answer). */
static void m_classify(const struct model *m, const struct m_op *op, const struct m_expect *e,
                       int target, bool hit[M_RULES])
{
	int u = op->user, s = op->show;
	const struct m_show *sh = s >= 0 ? &m->shows[s] : NULL;
	int cart = s >= 0 ? m_live_cart(m, u, s) : -1;

	memset(hit, 0, sizeof(bool) * M_RULES);
	if (e->outcome != OUTCOME_OK) {
		enum m_rule r = m_refusal_rule(op->kind, e->outcome);
		if (r < M_RULES)
			hit[r] = true;
		for (int i = 0; i < e->nbad && sh; i++) {
			int k = m_seat_index(sh, e->bad[i]);
			if (k < 0)
				continue;
			if (op->kind == M_HOLD && m_seat_other_held(m, u, s, k))
				hit[R_X_HOLD_HELD] = true;
			if (op->kind == M_HOLD && m_seat_other_booked(m, u, s, k))
				hit[R_X_HOLD_BOOKED] = true;
			if (op->kind == M_CONFIRM && m_seat_other_held(m, u, s, k))
				hit[R_X_CONFIRM_HELD] = true;
			if (op->kind == M_CONFIRM && m_seat_other_booked(m, u, s, k))
				hit[R_X_CONFIRM_BOOKED] = true;
		}
		if (op->kind == M_CANCEL && target >= 0 && m->b[target].user != u)
			hit[R_X_CANCEL] = true;
		return;
	}
	switch (op->kind) {
	case M_HOLD: {
		bool added = false;
		for (int i = 0; i < op->nseats; i++) {
			int k = m_seat_index(sh, op->seats[i]);
			if (m_seat_other_expired(m, u, s, k))
				hit[R_X_TAKEOVER] = true;
			added |= !(sh->seat[k].state == SEAT_HELD && sh->seat[k].booking == cart &&
			           cart >= 0);
		}
		if (cart >= 0 && added) {
			hit[R_CART_GROWS] = true;
			if (m->now + MODEL_TTL_MS > m->b[cart].created + MODEL_LIFE_MS)
				hit[R_LIFETIME_CAP] = true;
		}
		if (cart < 0 && m->cart[u][s] >= 0 &&
		    m_status(m, &m->b[m->cart[u][s]]) == BOOKING_EXPIRED)
			hit[R_NEW_CART_AFTER_EXPIRY] = true;
		break;
	}
	case M_HOLD_BEST:
		for (int i = 0; i < sh->rows * sh->per_row; i++)
			if (m_seat_other_held(m, u, s, i) || m_seat_other_booked(m, u, s, i))
				hit[R_X_BEST_AROUND] = true;
		if (op->split && !m_has_block(m, s, op->count))
			hit[R_BEST_SPLIT] = true;
		break;
	case M_CONFIRM:
		if (e->booking >= 0 && m->b[e->booking].status == BOOKING_CONFIRMED)
			hit[R_CONFIRM_RETRY] = true;
		else if (cart >= 0 && op->nseats < m->b[cart].nseats)
			hit[R_CONFIRM_SUBSET] = true;
		break;
	case M_RELEASE: {
		int drop = 0;
		for (int i = 0; !op->all && i < op->nseats; i++) {
			int k = m_seat_index(sh, op->seats[i]);
			if (k >= 0 && m_seat_other_held(m, u, s, k))
				hit[R_X_RELEASE_HELD] = true;
			drop += m_seats_has(m->b[cart].seats, m->b[cart].nseats, op->seats[i]);
		}
		if (op->all || drop == m->b[cart].nseats)
			hit[R_RELEASE_EMPTIES] = true;
		else if (drop > 0)
			hit[R_RELEASE_SOME] = true;
		break;
	}
	case M_CANCEL: {
		enum booking_status st = m_status(m, &m->b[target]);
		hit[st == BOOKING_CANCELLED   ? R_CANCEL_AGAIN
		    : st == BOOKING_CONFIRMED ? R_CANCEL_CONFIRMED
		                              : R_CANCEL_CART] = true;
		break;
	}
	case M_EXPIRE:
		for (int t = 0; t < m->nshows; t++)
			for (int i = 0; i < m->shows[t].rows * m->shows[t].per_row; i++)
				if (m->shows[t].seat[i].state == SEAT_HELD &&
				    m_vis(m, t, i) == SEAT_AVAILABLE)
					hit[R_SWEEP] = true;
		break;
	case M_KINDS:
		break;
	}
}

/* Runs one op against the store and the model and compares. */
static void m_step(struct m_world *w, const struct m_op *op, char *result, bool stats)
{
	struct model *m = &w->m;
	m_picture before;
	struct m_expect e;
	int target = -1;
	const char *ref = MODEL_NO_REF;

	atomic_store(&w->now, w->t0 + op->at);
	m->now = w->t0 + op->at;
	if (op->kind == M_CANCEL && (target = m_nth_booking(m, op->owner, op->nth)) >= 0)
		ref = m->b[target].ref;
	m_take_picture(m, before);
	m_expect(m, op, target, &e);
	bool hit[M_RULES];
	m_classify(m, op, &e, target, hit);

	struct store_cmd *c = calloc(1, sizeof(*c));
	if (!c) {
		m_diverge(w, "setup", "out of memory");
		return;
	}
	c->op = op->kind == M_HOLD        ? STORE_OP_HOLD
	        : op->kind == M_HOLD_BEST ? STORE_OP_HOLD_BEST
	        : op->kind == M_CONFIRM   ? STORE_OP_CONFIRM
	        : op->kind == M_RELEASE   ? STORE_OP_RELEASE
	        : op->kind == M_CANCEL    ? STORE_OP_CANCEL
	                                  : STORE_OP_EXPIRE_DUE;
	snprintf(c->username, sizeof(c->username), "%s", w->users[op->user]);
	c->show_id = op->show < 0 ? INT64_MAX : w->show_id[op->show];
	c->nseats = op->all ? 0 : op->nseats;
	memcpy(c->seats, op->seats, sizeof(op->seats[0]) * (size_t)op->nseats);
	c->all_seats = op->all;
	c->count = op->count;
	c->allow_split = op->split;
	snprintf(c->reference, sizeof(c->reference), "%s", ref);
	if (m_outside(op))
		store_pick(w->st, c);

	int rc = store_run(w->st, c);
	if (rc != 0) {
		if (result)
			snprintf(result, MODEL_LINE, "-> store_run failed (%d)", rc);
		m_diverge(w, "store_run", "store_run = %d", rc);
		goto out;
	}
	if (c->pick_conflict) {
		/* One op at a time: the grid must be exact. */
		m_diverge(w, "pick", "seats picked outside the writer were not free");
		goto out;
	}
	if (result)
		m_result_text(w, op, c, ref, result, MODEL_LINE);
	if (stats) {
		model_hist[op->kind][c->outcome < OUTCOME_COUNT ? c->outcome : 0]++;
		if (op->kind == M_HOLD_BEST)
			++*(c->picked ? &model_best_outside : &model_best_writer);
	}

	char gb[MODEL_SEATS_TEXT], wb[MODEL_SEATS_TEXT];
	test_seats_text(c->bad, c->nbad, gb, sizeof(gb));
	test_seats_text(e.bad, e.nbad, wb, sizeof(wb));
	if (c->outcome != e.outcome) {
		m_diverge(w, "outcome", "expected %s%s%s%s, got %s%s%s%s", outcome_name(e.outcome),
		          e.nbad ? " [" : "", wb, e.nbad ? "]" : "", outcome_name(c->outcome),
		          c->nbad ? " [" : "", gb, c->nbad ? "]" : "");
		goto out;
	}
	if (c->outcome != OUTCOME_OK) {
		struct seat sorted[BOOKING_SEATS_MAX];
		int nb = c->nbad < 0 || c->nbad > BOOKING_SEATS_MAX ? 0 : c->nbad;
		memcpy(sorted, c->bad, sizeof(sorted[0]) * (size_t)nb);
		seat_sort(sorted, (size_t)nb);
		if (op->kind != M_HOLD_BEST && !m_seats_equal(sorted, nb, e.bad, e.nbad))
			m_diverge(w, "bad", "%s: seats at fault [%s], want [%s]",
			          outcome_name(c->outcome), gb, wb);
		else if (c->nchanges != 0)
			m_diverge(w, "changes", "a refused command reported %zu changes",
			          c->nchanges);
		goto reads;
	}
	if (c->nbad != 0) {
		m_diverge(w, "bad", "OK with seats at fault [%s]", gb);
		goto out;
	}
	int i = m_apply(w, op, &e, c, target);
	if (w->failed)
		goto out;
	if (op->kind != M_EXPIRE) {
		if (i < 0) {
			m_diverge(w, "setup", "the model ran out of booking slots");
			goto out;
		}
		if (m->b[i].ref[0] == '\0') {
			/* A new cart: the store names it, once and for all. */
			if (!test_ref_shaped(c->booking.reference) ||
			    m_find_ref(m, c->booking.reference) >= 0) {
				m_diverge(w, "booking", "new cart with reference \"%s\": %s",
				          c->booking.reference,
				          test_ref_shaped(c->booking.reference)
				              ? "not new"
				              : "not BX-XXXXXXXX");
				goto out;
			}
			snprintf(m->b[i].ref, sizeof(m->b[i].ref), "%s", c->booking.reference);
		}
		m_check_booking(w, &c->booking, i, "the answer");
	}
	if (!w->failed)
		m_check_changes(w, c, before, op->kind);
reads:
	if (!w->failed)
		m_check_reads(w, op);
	for (int r = 0; r < M_RULES && !w->failed; r++)
		m->hits[r] += hit[r];
out:
	store_cmd_clear(c);
	free(c);
}

/* ---- generating ops from the model's state ---------------------------- */

enum m_pick { PICK_FREE, PICK_TAKEN, PICK_MINE, PICK_ANY };

/* A seat of show s of the given kind, as u sees it now; -1 when none. */
static int m_pick_seat(const struct model *m, struct m_rng *r, int u, int s, enum m_pick kind,
                       struct seat *out)
{
	const struct m_show *sh = &m->shows[s];
	int cand[MODEL_SEATS_MAX], n = 0, cart = m_live_cart(m, u, s);

	for (int i = 0; i < sh->rows * sh->per_row; i++) {
		enum seat_status v = m_vis(m, s, i);
		bool mine = v == SEAT_HELD && sh->seat[i].booking == cart;
		if (kind == PICK_ANY || (kind == PICK_FREE && v == SEAT_AVAILABLE) ||
		    (kind == PICK_MINE && mine) ||
		    (kind == PICK_TAKEN && v != SEAT_AVAILABLE && !mine))
			cand[n++] = i;
	}
	if (n == 0)
		return -1;
	*out = m_seat_at(sh, cand[m_below(r, n)]);
	return 0;
}

static struct seat m_unknown_seat(const struct m_show *sh, struct m_rng *r)
{
	switch (m_below(r, 3)) {
	case 0:
		return (struct seat){sh->rows, 1 + m_below(r, sh->per_row)};
	case 1:
		return (struct seat){m_below(r, sh->rows), sh->per_row + 1 + m_below(r, 2)};
	default:
		return (struct seat){SEAT_ROWS_MAX - 1, SEAT_NUMBER_MAX};
	}
}

static void m_op_add(struct m_op *op, struct seat s)
{
	if (op->nseats < MODEL_OP_SEATS && !m_seats_has(op->seats, op->nseats, s))
		op->seats[op->nseats++] = s;
}

static void m_op_shuffle(struct m_op *op, struct m_rng *r)
{
	for (int i = op->nseats - 1; i > 0; i--) {
		int j = m_below(r, i + 1);
		struct seat t = op->seats[i];
		op->seats[i] = op->seats[j];
		op->seats[j] = t;
	}
}

/* Mostly whole seconds, so that "now == expiry" happens; often zero;
 * now and then past a whole TTL or lifetime. */
static int64_t m_gen_delta(struct m_rng *r)
{
	int p = m_below(r, 100);
	int64_t d;

	if (p < 40)
		d = 0;
	else if (p < 85)
		d = (1 + m_below(r, 10)) * TEST_SECOND_MS;
	else if (p < 97)
		d = (15 + m_below(r, 46)) * TEST_SECOND_MS;
	else
		d = (60 + m_below(r, 71)) * TEST_SECOND_MS;
	if (d > 0 && m_chance(r, 10))
		d += m_below(r, 1000);
	return d;
}

static void m_gen_hold_seats(const struct model *m, struct m_rng *r, struct m_op *op)
{
	int s = op->show < 0 ? 0 : op->show;
	int want = 1 + m_below(r, 3);
	struct seat t;

	for (int tries = 0; op->nseats < want && tries < 12; tries++) {
		int p = m_below(r, 100);
		enum m_pick kind = p < 55   ? PICK_FREE
		                   : p < 70 ? PICK_TAKEN
		                   : p < 80 ? PICK_MINE
		                            : PICK_ANY;
		if (m_pick_seat(m, r, op->user, s, kind, &t) == 0)
			m_op_add(op, t);
	}
	if (op->nseats == 0 && m_pick_seat(m, r, op->user, s, PICK_ANY, &t) == 0)
		m_op_add(op, t);
	if (m_chance(r, 6))
		m_op_add(op, m_unknown_seat(&m->shows[s], r));
}

static void m_gen_confirm_seats(const struct model *m, struct m_rng *r, struct m_op *op)
{
	int s = op->show < 0 ? 0 : op->show;
	int cart = op->show < 0 ? -1 : m_live_cart(m, op->user, op->show);
	int p = m_below(r, 100);
	struct seat t;

	if (cart >= 0 && p < 62) {
		const struct m_booking *b = &m->b[cart];
		bool subset = p >= 45;
		for (int i = 0; i < b->nseats; i++)
			if (!subset || m_chance(r, 60))
				m_op_add(op, b->seats[i]);
		if (op->nseats == 0)
			m_op_add(op, b->seats[m_below(r, b->nseats)]);
	} else if (cart >= 0 && p < 72) {
		const struct m_booking *b = &m->b[cart];
		for (int i = 0; i < b->nseats; i++)
			m_op_add(op, b->seats[i]);
		if (m_pick_seat(m, r, op->user, s, m_chance(r, 50) ? PICK_TAKEN : PICK_ANY, &t) ==
		    0)
			m_op_add(op, t);
	} else if (p < 88) {
		/* Again the seats of an earlier confirm of theirs in this show. */
		int pick = -1, n = 0;
		for (int i = 0; i < m->nbookings; i++)
			if (m->b[i].user == op->user && m->b[i].show == op->show &&
			    m->b[i].confirmed != 0 && m_below(r, ++n) == 0)
				pick = i;
		if (pick >= 0)
			for (int i = 0; i < m->b[pick].nseats; i++)
				m_op_add(op, m->b[pick].seats[i]);
	}
	for (int tries = 0; op->nseats == 0 && tries < 4; tries++)
		if (m_pick_seat(m, r, op->user, s, PICK_ANY, &t) == 0)
			m_op_add(op, t);
	if (m_chance(r, 3))
		m_op_add(op, m_unknown_seat(&m->shows[s], r));
	m_op_shuffle(op, r);
}

/* ---- aiming at a rule ------------------------------------------------- */

typedef bool (*m_seat_pred)(const struct model *m, int u, int s, int i);

static bool m_seat_free(const struct model *m, int u, int s, int i)
{
	(void)u;
	return m_vis(m, s, i) == SEAT_AVAILABLE;
}

static bool m_seat_any(const struct model *m, int u, int s, int i)
{
	(void)m, (void)u, (void)s, (void)i;
	return true;
}

/* Adds up to want seats of show s for which pred holds, chosen at
 * random; returns how many were added. */
static int m_add_seats(const struct model *m, struct m_rng *r, struct m_op *op, m_seat_pred pred,
                       int want)
{
	const struct m_show *sh = &m->shows[op->show];
	int cand[MODEL_SEATS_MAX], n = 0, added = 0;

	for (int i = 0; i < sh->rows * sh->per_row; i++)
		if (pred(m, op->user, op->show, i) &&
		    !m_seats_has(op->seats, op->nseats, m_seat_at(sh, i)))
			cand[n++] = i;
	while (added < want && n > 0 && op->nseats < MODEL_OP_SEATS) {
		int j = m_below(r, n);
		m_op_add(op, m_seat_at(sh, cand[j]));
		cand[j] = cand[--n];
		added++;
	}
	return added;
}

static bool m_started(const struct model *m, int s)
{
	return m->now >= m->shows[s].show_time;
}

static int m_cart_size(const struct model *m, int u, int s)
{
	int c = m_live_cart(m, u, s);

	return c < 0 ? 0 : m->b[c].nseats;
}

/* A booking of u (index) for which pred holds, at random; -1 when none. */
static int m_pick_booking(const struct model *m, struct m_rng *r, int u,
                          bool (*pred)(const struct model *m, const struct m_booking *b))
{
	int pick = -1, n = 0;

	for (int i = 0; i < m->nbookings; i++)
		if (m->b[i].user == u && pred(m, &m->b[i]) && m_below(r, ++n) == 0)
			pick = i;
	return pick;
}

static bool m_bk_not_cancellable(const struct model *m, const struct m_booking *b)
{
	return holdrule_check_cancel(m_status(m, b), m->shows[b->show].show_time, m->now) !=
	       OUTCOME_OK;
}

static bool m_bk_confirmed_ahead(const struct model *m, const struct m_booking *b)
{
	return m_status(m, b) == BOOKING_CONFIRMED && m->now < m->shows[b->show].show_time;
}

static bool m_bk_confirmed(const struct model *m, const struct m_booking *b)
{
	return m_status(m, b) == BOOKING_CONFIRMED;
}

static bool m_bk_live_cart_ahead(const struct model *m, const struct m_booking *b)
{
	return m_status(m, b) == BOOKING_STAGED && m->now < m->shows[b->show].show_time;
}

static bool m_bk_cancelled(const struct model *m, const struct m_booking *b)
{
	return m_status(m, b) == BOOKING_CANCELLED;
}

static bool m_bk_any(const struct model *m, const struct m_booking *b)
{
	(void)m, (void)b;
	return true;
}

/* op's CANCEL of booking i. */
static void m_aim_cancel(const struct model *m, struct m_op *op, int i)
{
	op->kind = M_CANCEL;
	op->owner = m->b[i].user;
	op->nth = 0;
	for (int k = 0; k < i; k++)
		op->nth += m->b[k].user == op->owner;
}

/* Fills op (user and show already chosen, no seats yet) so that it
 * exercises rule; false when the state gives no way to now. */
static bool m_aim_at(const struct model *m, struct m_rng *r, enum m_rule rule, struct m_op *op)
{
	int u = op->user, s = op->show, k = m_cart_size(m, u, s), cart = m_live_cart(m, u, s);
	bool ahead = !m_started(m, s);
	int i;

	switch (rule) {
	case R_HOLD_NO_SHOW:
	case R_BEST_NO_SHOW:
	case R_CONFIRM_NO_SHOW:
		op->kind = rule == R_HOLD_NO_SHOW   ? M_HOLD
		           : rule == R_BEST_NO_SHOW ? M_HOLD_BEST
		                                    : M_CONFIRM;
		m_add_seats(m, r, op, m_seat_any, 1);
		op->count = 1;
		op->show = -1;
		return true;
	case R_HOLD_NOT_BOOKABLE:
	case R_BEST_NOT_BOOKABLE:
		op->kind = rule == R_HOLD_NOT_BOOKABLE ? M_HOLD : M_HOLD_BEST;
		op->count = 1;
		return !ahead && m_add_seats(m, r, op, m_seat_free, 1) == 1;
	case R_CONFIRM_NOT_BOOKABLE:
		/* not a retry: a seat that is not booked by u */
		op->kind = M_CONFIRM;
		return !ahead && m_add_seats(m, r, op, m_seat_free, 1) == 1;
	case R_HOLD_UNKNOWN:
		op->kind = M_HOLD;
		m_add_seats(m, r, op, m_seat_free, 1);
		m_op_add(op, m_unknown_seat(&m->shows[s], r));
		return ahead;
	case R_CONFIRM_UNKNOWN:
		op->kind = M_CONFIRM;
		if (cart >= 0)
			m_op_add(op, m->b[cart].seats[m_below(r, m->b[cart].nseats)]);
		m_op_add(op, m_unknown_seat(&m->shows[s], r));
		return true;
	case R_HOLD_UNAVAILABLE:
	case R_X_HOLD_HELD:
		op->kind = M_HOLD;
		if (!ahead || m_add_seats(m, r, op, m_seat_other_held, 1) != 1)
			return false;
		m_add_seats(m, r, op, m_seat_free, m_below(r, 2));
		return true;
	case R_X_HOLD_BOOKED:
		op->kind = M_HOLD;
		return ahead && m_add_seats(m, r, op, m_seat_other_booked, 1) == 1;
	case R_HOLD_LIMIT:
		op->kind = M_HOLD;
		return ahead && m_add_seats(m, r, op, m_seat_free, MODEL_PER_USER - k + 1) ==
		                    MODEL_PER_USER - k + 1;
	case R_BEST_NO_ROOM:
		op->kind = M_HOLD_BEST;
		op->count = m_longest_run(m, s) + 1;
		return ahead && op->count <= MODEL_BEST_COUNT_MAX;
	case R_BEST_LIMIT:
		op->kind = M_HOLD_BEST;
		op->count = MODEL_PER_USER - k + 1;
		return ahead && k > 0 && m_has_block(m, s, op->count);
	case R_CONFIRM_NOT_HELD:
	case R_X_CONFIRM_HELD:
		op->kind = M_CONFIRM;
		if (!ahead || m_add_seats(m, r, op, m_seat_other_held, 1) != 1)
			return false;
		if (cart >= 0 && m_chance(r, 50))
			m_op_add(op, m->b[cart].seats[0]);
		return true;
	case R_X_CONFIRM_BOOKED:
		op->kind = M_CONFIRM;
		if (!ahead || m_add_seats(m, r, op, m_seat_other_booked, 1) != 1)
			return false;
		if (cart >= 0 && m_chance(r, 50))
			m_op_add(op, m->b[cart].seats[0]);
		return true;
	case R_RELEASE_NO_CART:
		op->kind = M_RELEASE;
		op->all = m_chance(r, 50);
		if (!op->all)
			m_add_seats(m, r, op, m_seat_any, 1);
		return cart < 0;
	case R_CANCEL_NOT_FOUND:
		op->kind = M_CANCEL;
		op->owner = u;
		op->nth = -1;
		return true;
	case R_X_CANCEL:
		op->kind = M_CANCEL;
		op->owner = (u + 1 + m_below(r, MODEL_USERS - 1)) % MODEL_USERS;
		if ((i = m_pick_booking(m, r, op->owner, m_bk_any)) < 0)
			return false;
		m_aim_cancel(m, op, i);
		return true;
	case R_CANCEL_NOT_CANCELLABLE:
	case R_CANCEL_CONFIRMED:
	case R_CANCEL_CART:
	case R_CANCEL_AGAIN:
		i = m_pick_booking(m, r, u,
		                   rule == R_CANCEL_NOT_CANCELLABLE ? m_bk_not_cancellable
		                   : rule == R_CANCEL_CONFIRMED     ? m_bk_confirmed_ahead
		                   : rule == R_CANCEL_CART          ? m_bk_live_cart_ahead
		                                                    : m_bk_cancelled);
		if (i < 0)
			return false;
		m_aim_cancel(m, op, i);
		return true;
	case R_X_TAKEOVER:
		op->kind = M_HOLD;
		return ahead && k < MODEL_PER_USER &&
		       m_add_seats(m, r, op, m_seat_other_expired, 1) == 1;
	case R_X_RELEASE_HELD:
		op->kind = M_RELEASE;
		if (cart < 0 || m_add_seats(m, r, op, m_seat_other_held, 1) != 1)
			return false;
		if (m_chance(r, 50))
			m_op_add(op, m->b[cart].seats[m_below(r, m->b[cart].nseats)]);
		return true;
	case R_X_BEST_AROUND: {
		bool others = false;
		const struct m_show *sh = &m->shows[s];
		for (i = 0; i < sh->rows * sh->per_row; i++)
			others |= m_seat_other_held(m, u, s, i) || m_seat_other_booked(m, u, s, i);
		op->kind = M_HOLD_BEST;
		op->count = 1 + m_below(r, 2);
		return ahead && others && k + op->count <= MODEL_PER_USER &&
		       m_has_block(m, s, op->count);
	}
	case R_LIFETIME_CAP:
	case R_CART_GROWS:
		op->kind = M_HOLD;
		if (!ahead || cart < 0 || k >= MODEL_PER_USER)
			return false;
		if (rule == R_LIFETIME_CAP &&
		    m->now + MODEL_TTL_MS <= m->b[cart].created + MODEL_LIFE_MS)
			return false;
		return m_add_seats(m, r, op, m_seat_free, 1) == 1;
	case R_NEW_CART_AFTER_EXPIRY:
		op->kind = M_HOLD;
		return ahead && m->cart[u][s] >= 0 &&
		       m_status(m, &m->b[m->cart[u][s]]) == BOOKING_EXPIRED &&
		       m_add_seats(m, r, op, m_seat_free, 1) == 1;
	case R_CONFIRM_RETRY:
		op->kind = M_CONFIRM;
		if ((i = m_pick_booking(m, r, u, m_bk_confirmed)) < 0)
			return false;
		op->show = m->b[i].show;
		for (int j = 0; j < m->b[i].nseats; j++)
			m_op_add(op, m->b[i].seats[j]);
		m_op_shuffle(op, r);
		return op->nseats > 0;
	case R_CONFIRM_SUBSET:
		op->kind = M_CONFIRM;
		if (!ahead || k < 2)
			return false;
		for (int j = 0, want = 1 + m_below(r, k - 1); j < want; j++)
			m_op_add(op, m->b[cart].seats[j]);
		m_op_shuffle(op, r);
		return true;
	case R_RELEASE_SOME:
	case R_RELEASE_EMPTIES:
		op->kind = M_RELEASE;
		if (cart < 0 || (rule == R_RELEASE_SOME && k < 2))
			return false;
		if (rule == R_RELEASE_EMPTIES)
			op->all = true;
		else
			m_op_add(op, m->b[cart].seats[m_below(r, k)]);
		return true;
	case R_BEST_SPLIT:
		op->kind = M_HOLD_BEST;
		op->split = true;
		for (op->count = 2; op->count <= MODEL_PER_USER - k; op->count++)
			if (!m_has_block(m, s, op->count) && m_free_count(m, s) >= op->count)
				return ahead;
		return false;
	case R_SWEEP:
		op->kind = M_EXPIRE;
		for (int t = 0; t < m->nshows; t++)
			for (i = 0; i < m->shows[t].rows * m->shows[t].per_row; i++)
				if (m_seat_other_expired(m, -1, t, i))
					return true;
		return false;
	case M_RULES:
		break;
	}
	return false;
}

/* The lifetime cap needs a live cart older than the lifetime less the
 * TTL: this op waits (moves its own time on) until some cart is, then
 * adds a free seat to it. False when no cart can get there. */
static bool m_aim_lifetime(const struct model *m, struct m_rng *r, struct m_op *op)
{
	int64_t at = op->at, now = m->now;

	for (int t = 0; t < MODEL_AIM_TRIES; t++) {
		int u = m_below(r, MODEL_USERS), s = m_below(r, m->nshows);
		int c = m_live_cart(m, u, s);
		if (c < 0 || m->b[c].nseats >= MODEL_PER_USER)
			continue;
		int64_t when = m->b[c].created + MODEL_LIFE_MS - MODEL_TTL_MS + TEST_SECOND_MS;
		if (when < now)
			when = now;
		if (when >= m->b[c].expires || when >= m->shows[s].show_time)
			continue;
		memset(op, 0, sizeof(*op));
		op->kind = M_HOLD;
		op->user = u;
		op->show = s;
		/* a seat free now is free later too: holds only run out */
		if (m_add_seats(m, r, op, m_seat_free, 1) != 1)
			continue;
		op->at = at + (when - now);
		return true;
	}
	memset(op, 0, sizeof(*op));
	op->at = at;
	return false;
}

/* A step towards a state in which rule can be aimed at, for the rules
 * that need one the random ops rarely build: a cart of 2 or 3 seats, a
 * cart next to another user's hold, a row broken up by holds. */
static bool m_prepare(const struct model *m, struct m_rng *r, enum m_rule rule, struct m_op *op)
{
	int u = op->user, s = op->show, k = m_cart_size(m, u, s);

	if (m_started(m, s))
		return false;
	if (m_free_count(m, s) == 0) {
		/* a full show: its first confirmed booking is cancelled */
		for (int i = 0; i < m->nbookings; i++)
			if (m->b[i].show == s && m_status(m, &m->b[i]) == BOOKING_CONFIRMED) {
				m_aim_cancel(m, op, i);
				op->user = op->owner;
				return true;
			}
		return false;
	}
	op->kind = M_HOLD;
	switch (rule) {
	case R_HOLD_LIMIT:
	case R_BEST_LIMIT:
		/* fill u's cart up to the limit */
		return k < MODEL_PER_USER && m_add_seats(m, r, op, m_seat_free, 1) == 1;
	case R_LIFETIME_CAP:
	case R_CONFIRM_SUBSET:
	case R_RELEASE_SOME:
		/* grow u's cart to 2 or 3 seats */
		return k < 3 && m_add_seats(m, r, op, m_seat_free, 1) == 1;
	case R_X_RELEASE_HELD:
	case R_X_CONFIRM_HELD:
	case R_CONFIRM_NOT_HELD:
	case R_X_HOLD_HELD:
	case R_HOLD_UNAVAILABLE:
		/* u holds a seat, or someone else does beside u's cart */
		if (k > 0)
			op->user = (u + 1 + m_below(r, MODEL_USERS - 1)) % MODEL_USERS;
		return m_cart_size(m, op->user, s) < MODEL_PER_USER &&
		       m_add_seats(m, r, op, m_seat_free, 1) == 1;
	case R_BEST_SPLIT: {
		/* another user holds the middle seat of a row's longest free run */
		const struct m_show *sh = &m->shows[s];
		int best = 0, at = -1;
		for (int row = 0; row < sh->rows; row++)
			for (int n = 0, run = 0; n < sh->per_row; n++) {
				run = m_vis(m, s, row * sh->per_row + n) == SEAT_AVAILABLE ? run + 1
				                                                           : 0;
				if (run > best) {
					best = run;
					at = row * sh->per_row + n - run / 2;
				}
			}
		if (best < 2)
			return false;
		op->user = (u + 1 + m_below(r, MODEL_USERS - 1)) % MODEL_USERS;
		if (m_cart_size(m, op->user, s) >= MODEL_PER_USER)
			return false;
		m_op_add(op, m_seat_at(sh, at));
		return true;
	}
	case R_X_HOLD_BOOKED:
	case R_X_CONFIRM_BOOKED:
		/* someone else books a seat here */
		op->user = (u + 1 + m_below(r, MODEL_USERS - 1)) % MODEL_USERS;
		/* fall through */
	case R_CONFIRM_RETRY:
	case R_CANCEL_CONFIRMED:
	case R_CANCEL_AGAIN:
	case R_CANCEL_CART: {
		/* u (or that someone) holds a seat, then confirms the cart; for
		 * cancelling again, cancels it */
		int c = m_live_cart(m, op->user, s);
		if (c < 0 || rule == R_CANCEL_CART)
			return m_cart_size(m, op->user, s) < MODEL_PER_USER &&
			       m_add_seats(m, r, op, m_seat_free, 1) == 1;
		if (rule == R_CANCEL_AGAIN) {
			m_aim_cancel(m, op, c);
			return true;
		}
		op->kind = M_CONFIRM;
		for (int j = 0; j < m->b[c].nseats; j++)
			m_op_add(op, m->b[c].seats[j]);
		return true;
	}
	default:
		return false;
	}
}

/* Aims op at a rule this run has not reached MODEL_RULE_MIN times: tries
 * users and shows at random, then a step that prepares for it. False when
 * neither fits now (then op is left for the random generator). */
static bool m_gen_aimed(const struct model *m, struct m_rng *r, struct m_op *op)
{
	enum m_rule short_of[M_RULES];
	int n = 0;

	for (int k = 0; k < M_RULES; k++)
		if (m->hits[k] < MODEL_RULE_MIN)
			short_of[n++] = (enum m_rule)k;
	if (n == 0)
		return false;
	enum m_rule rule = short_of[m_below(r, n)];
	for (int t = 0; t < MODEL_AIM_TRIES; t++) {
		int64_t at = op->at;
		memset(op, 0, sizeof(*op));
		op->at = at;
		op->user = m_below(r, MODEL_USERS);
		op->show = m_below(r, m->nshows);
		if (m_aim_at(m, r, rule, op))
			return true;
	}
	if (rule == R_LIFETIME_CAP && m_aim_lifetime(m, r, op))
		return true;
	for (int t = 0; t < MODEL_AIM_TRIES; t++) {
		int64_t at = op->at;
		memset(op, 0, sizeof(*op));
		op->at = at;
		op->user = m_below(r, MODEL_USERS);
		op->show = m_below(r, m->nshows);
		int u = op->user;
		if (m_prepare(m, r, rule, op)) {
			op->aim = (int)rule + 1;
			op->aim_user = u;
			return true;
		}
	}
	return false;
}

/* prev: the op before, or NULL. Users act in sessions: an op often
 * continues the previous one's user and show, so carts live long enough
 * to be added to, confirmed and released. */
static void m_gen_op(const struct m_world *w, struct m_rng *r, const struct m_op *prev,
                     struct m_op *op)
{
	const struct model *m = &w->m;
	int p = m_below(r, 100);
	struct seat t;

	/* The op after a preparing one aims at what it prepared, or prepares
	 * one step more. */
	if (prev && prev->aim > 0 && m_chance(r, 90)) {
		enum m_rule rule = (enum m_rule)(prev->aim - 1);
		int64_t at = op->at;
		for (int step = 0; step < 2; step++) {
			memset(op, 0, sizeof(*op));
			op->at = at;
			op->user = prev->aim_user;
			op->show = prev->show;
			if (step == 0 && m_aim_at(m, r, rule, op))
				return;
			if (step == 1 && m_prepare(m, r, rule, op)) {
				op->aim = prev->aim;
				op->aim_user = prev->aim_user;
				return;
			}
		}
		memset(op, 0, sizeof(*op));
		op->at = at;
	}
	if (m_chance(r, MODEL_DIRECTED) && m_gen_aimed(m, r, op))
		return;
	if (prev && prev->kind != M_EXPIRE && prev->show >= 0 && m_chance(r, 55)) {
		op->user = prev->user;
		op->show = prev->show;
	} else {
		op->user = m_below(r, MODEL_USERS);
		op->show = m_below(r, m->nshows);
		/* Fewer ops for a show that has started: a few are enough. */
		if (m->now >= m->shows[op->show].show_time && m_chance(r, 70))
			op->show = m_below(r, m->nshows);
	}
	op->kind = p < 34   ? M_HOLD
	           : p < 43 ? M_HOLD_BEST
	           : p < 65 ? M_CONFIRM
	           : p < 77 ? M_RELEASE
	           : p < 92 ? M_CANCEL
	                    : M_EXPIRE;
	if ((op->kind == M_HOLD || op->kind == M_HOLD_BEST || op->kind == M_CONFIRM) &&
	    m_chance(r, 2))
		op->show = -1;
	switch (op->kind) {
	case M_HOLD:
		m_gen_hold_seats(m, r, op);
		break;
	case M_HOLD_BEST:
		op->count = 1 + m_below(r, 3);
		op->split = m_chance(r, 15);
		break;
	case M_CONFIRM:
		m_gen_confirm_seats(m, r, op);
		break;
	case M_RELEASE:
		op->all = m_chance(r, 40);
		for (int i = 0, n = 1 + m_below(r, 2); !op->all && i < n; i++)
			if (m_pick_seat(m, r, op->user, op->show,
			                m_chance(r, 70) ? PICK_MINE : PICK_ANY, &t) == 0)
				m_op_add(op, t);
		if (!op->all && op->nseats == 0 &&
		    m_pick_seat(m, r, op->user, op->show, PICK_ANY, &t) == 0)
			m_op_add(op, t);
		break;
	case M_CANCEL:
		op->owner = m_chance(r, 70)
		                ? op->user
		                : (op->user + 1 + m_below(r, MODEL_USERS - 1)) % MODEL_USERS;
		op->nth = m->nbook_of[op->owner] == 0 || m_chance(r, 5) ? -1
		          : m_chance(r, 60)                             ? m->nbook_of[op->owner] - 1
		                            : m_below(r, m->nbook_of[op->owner]);
		break;
	case M_EXPIRE:
	case M_KINDS:
		break;
	}
}

/* ---- worlds ----------------------------------------------------------- */

static void m_remove_dir(const char *dir)
{
	if (test_remove_dir(dir) != 0)
		fprintf(stderr, "could not remove %s: %s\n", dir, strerror(errno));
}

/* Runs an admin command that must create something; returns its id. */
static int64_t m_admin(struct m_world *w, struct store_cmd *c, const char *what)
{
	int rc = store_run(w->st, c);
	int64_t id = c->created_id;

	if (rc != 0 || c->outcome != OUTCOME_CREATED || id <= 0) {
		m_diverge(w, "setup", "creating %s: store_run = %d, %s", what, rc,
		          outcome_name(c->outcome));
		id = -1;
	}
	store_cmd_clear(c);
	memset(c, 0, sizeof(*c));
	return id;
}

/* Creates a screen, a movie and a show on them, `ahead` ms from now. */
static int64_t m_make_show(struct m_world *w, struct store_cmd *c, const char *tag, int rows,
                           int per_row, int64_t ahead, char *screen_name, char *movie_name)
{
	char buf[TIMEFMT_SIZE];
	int64_t screen, movie;

	c->op = STORE_OP_CREATE_SCREEN;
	snprintf(c->name, sizeof(c->name), "Model screen %s-%u-%s", model_run_id, model_serial,
	         tag);
	snprintf(screen_name, NAME_MAX_LEN + 1, "%s", c->name);
	c->rows = rows;
	c->seats_per_row = per_row;
	if ((screen = m_admin(w, c, "a screen")) < 0)
		return -1;
	c->op = STORE_OP_CREATE_MOVIE;
	snprintf(c->name, sizeof(c->name), "Model movie %s-%u-%s", model_run_id, model_serial, tag);
	snprintf(movie_name, NAME_MAX_LEN + 1, "%s", c->name);
	c->duration_minutes = MODEL_DURATION_MIN;
	timefmt_format(w->t0 + 30 * TEST_DAY_MS, buf);
	memcpy(c->last_show_date, buf, 10);
	c->last_show_date[10] = '\0';
	if ((movie = m_admin(w, c, "a movie")) < 0)
		return -1;
	c->op = STORE_OP_CREATE_SHOW;
	c->movie_id = movie;
	c->screen_id = screen;
	c->show_time = w->t0 + ahead;
	return m_admin(w, c, "a show");
}

/* The model needs the store to follow cfg.clock; a backend that kept its
 * own clock would diverge on every timestamp. Runs in a world of its own,
 * whose show the model never sees. */
static void m_probe_clock(struct m_world *w, struct store_cmd *c)
{
	char screen[NAME_MAX_LEN + 1], movie[NAME_MAX_LEN + 1];
	int64_t show = m_make_show(w, c, "probe", 1, 1, TEST_DAY_MS, screen, movie);

	if (show < 0)
		return;
	atomic_store(&w->now, w->t0 + 7 * TEST_SECOND_MS);
	c->op = STORE_OP_HOLD;
	snprintf(c->username, sizeof(c->username), "probe.%s.%u", model_run_id, model_serial);
	c->show_id = show;
	c->nseats = 1;
	c->seats[0] = (struct seat){0, 1};
	int rc = store_run(w->st, c);
	if (rc != 0 || c->outcome != OUTCOME_OK)
		m_diverge(w, "setup", "clock probe: hold = %d, %s", rc, outcome_name(c->outcome));
	else if (c->booking.created_at != atomic_load(&w->now))
		m_diverge(w, "setup",
		          "the %s backend does not follow cfg.clock (a hold made at the fake "
		          "now says createdAt %+" PRId64
		          " ms off): the model test cannot run on it",
		          store_backend_name(w->st), c->booking.created_at - atomic_load(&w->now));
	store_cmd_clear(c);
	memset(c, 0, sizeof(*c));
}

/* Opens a store on a fresh database (or the shared one) and makes the
 * plan's shows; without a plan, only probes the clock. */
static int m_world_open(struct m_world *w, const struct m_plan *p, int nops)
{
	struct model *m = &w->m;

	model_serial++;
	int shared =
	    test_db_url("model", "model.db", w->url, sizeof(w->url), w->dir, sizeof(w->dir));
	if (shared < 0) {
		m_diverge(w, "setup", "mkdtemp: %s", strerror(errno));
		return -1;
	}
	w->shared = shared == 1;
	/* Each run starts after every hold of the runs before it has expired
	 * on the fake timeline, so a database shared by the runs of this
	 * process (PostgreSQL) stays consistent for store_verify. */
	w->t0 = timefmt_now_ms();
	if (w->t0 < model_clock_floor)
		w->t0 = model_clock_floor;
	atomic_store(&w->now, w->t0);
	w->cfg.url = w->url;
	w->cfg.hold_ttl_ms = MODEL_TTL_MS;
	w->cfg.hold_max_lifetime_ms = MODEL_LIFE_MS;
	w->cfg.max_seats_per_user = MODEL_PER_USER;
	w->cfg.threads = 2;
	w->cfg.pool_size = 2;
	w->cfg.clock = m_clock;
	w->cfg.clock_arg = w;
	int rc = store_open(&w->cfg, &w->st);
	if (rc != 0) {
		w->st = NULL;
		m_diverge(w, "setup", "store_open(%s) = %d", w->url, rc);
		return -1;
	}
	for (int u = 0; u < MODEL_USERS; u++)
		snprintf(w->users[u], sizeof(w->users[u]), "%s.%s.%u", model_user_names[u],
		         model_run_id, model_serial);

	struct store_cmd *c = calloc(1, sizeof(*c));
	if (!c) {
		m_diverge(w, "setup", "out of memory");
		return -1;
	}
	if (!p)
		m_probe_clock(w, c);
	m->nshows = p ? p->nshows : 0;
	for (int s = 0; s < m->nshows && !w->failed; s++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "show%d", s + 1);
		w->show_id[s] = m_make_show(w, c, tag, p->rows[s], p->per_row[s], p->ahead[s],
		                            w->screen_name[s], w->movie_name[s]);
		m->shows[s].rows = p->rows[s];
		m->shows[s].per_row = p->per_row[s];
		m->shows[s].show_time = w->t0 + p->ahead[s];
		for (int i = 0; i < MODEL_SEATS_MAX; i++)
			m->shows[s].seat[i] = (struct m_seat){SEAT_AVAILABLE, -1};
	}
	free(c);
	m->now = w->t0;
	m->cap = nops + 1;
	m->b = calloc((size_t)m->cap, sizeof(*m->b));
	if (!m->b)
		m_diverge(w, "setup", "out of memory");
	for (int u = 0; u < MODEL_USERS; u++)
		for (int s = 0; s < MODEL_SHOWS_MAX; s++)
			m->cart[u][s] = -1;
	return w->failed ? -1 : 0;
}

static void m_world_close(struct m_world *w)
{
	int64_t after = atomic_load(&w->now) + MODEL_LIFE_MS + TEST_SECOND_MS;
	if (after > model_clock_floor)
		model_clock_floor = after;
	if (w->st)
		store_close(w->st);
	w->st = NULL;
	if (w->dir[0])
		m_remove_dir(w->dir);
	free(w->m.b);
	w->m.b = NULL;
}

/* Runs ops[0..n) on a fresh world. With gen set, each op is first
 * generated from the model's state into ops[k]. results (when set) gets
 * one line per op run. Returns the failing step, -1 when store and model
 * agreed throughout, -2 when the world could not be set up. */
static int m_execute(const struct m_plan *p, struct m_op *ops, int n, struct m_rng *gen,
                     char (*results)[MODEL_LINE], struct m_verdict *v, bool stats)
{
	struct m_world *w = calloc(1, sizeof(*w));
	int k = 0;
	int64_t at = 0;

	v->step = -1;
	v->tag[0] = v->msg[0] = '\0';
	if (!w) {
		v->step = -2;
		snprintf(v->msg, sizeof(v->msg), "out of memory");
		return -2;
	}
	if (m_world_open(w, p, n) != 0) {
		v->step = -2;
		snprintf(v->msg, sizeof(v->msg), "%s", w->msg);
		m_world_close(w);
		free(w);
		return -2;
	}
	for (k = 0; k < n && !w->failed; k++) {
		if (gen) {
			memset(&ops[k], 0, sizeof(ops[k]));
			at += m_gen_delta(gen);
			ops[k].at = at;
			w->m.now = w->t0 + at;
			m_gen_op(w, gen, k > 0 ? &ops[k - 1] : NULL, &ops[k]);
			at = ops[k].at; /* an op may wait for its rule (m_aim_lifetime) */
		}
		m_step(w, &ops[k], results ? results[k] : NULL, stats);
	}
	if (!w->failed) {
		/* The end: every user's bookings, not only the last actor's. */
		for (int u = 0; u < MODEL_USERS && !w->failed; u++)
			m_check_user(w, u);
		/* And the database's own invariants (boxoffice verify). */
		struct store_report report;
		if (!w->failed && store_verify(w->st, &report) != 0)
			m_diverge(w, "verify", "store_verify could not run");
		else if (!w->failed && report.failed > 0)
			m_diverge(w, "verify", "invariants broken:\n%s", report.text);
		if (!w->failed)
			free(report.text);
		if (w->failed && n == 0) {
			v->step = -2;
			snprintf(v->msg, sizeof(v->msg), "%s", w->msg);
			m_world_close(w);
			free(w);
			return -2;
		}
	}
	if (w->failed) {
		v->step = k - 1;
		snprintf(v->tag, sizeof(v->tag), "%s/%s", w->tag,
		         k - 1 >= 0 && k - 1 < n ? m_kind_names[ops[k - 1].kind] : "-");
		snprintf(v->msg, sizeof(v->msg), "%s", w->msg);
	}
	if (stats) {
		for (int r = 0; r < M_RULES; r++) {
			model_run_hits[r] = w->m.hits[r];
			model_rule_total[r] += w->m.hits[r];
		}
	}
	m_world_close(w);
	free(w);
	return v->step;
}

/* ---- shrinking -------------------------------------------------------- */

/* Removes ops while the same kind of divergence (check and op kind) still
 * shows, chunks first, then one by one until nothing more goes. Returns
 * the new length; ops[0..len) is the shortest failing sequence found. */
static int m_shrink(const struct m_plan *p, struct m_op *ops, int n, const char *tag, int *tries)
{
	struct m_op *trial = malloc(sizeof(*trial) * (size_t)(n > 0 ? n : 1));
	struct m_verdict v;
	int64_t deadline = timefmt_now_ms() + MODEL_SHRINK_SECONDS * TEST_SECOND_MS;
	int chunk = n / 2 > 0 ? n / 2 : 1;

	*tries = 0;
	if (!trial)
		return n;
	for (;;) {
		bool progress = false;
		for (int i = 0; i < n; i++) {
			if (*tries >= MODEL_SHRINK_REPLAYS || timefmt_now_ms() > deadline)
				goto done;
			int len = 0;
			for (int j = 0; j < n; j++)
				if (j < i || j >= i + chunk)
					trial[len++] = ops[j];
			int f = m_execute(p, trial, len, NULL, NULL, &v, false);
			++*tries;
			if (f >= 0 && strcmp(v.tag, tag) == 0) {
				n = f + 1;
				memcpy(ops, trial, sizeof(*ops) * (size_t)n);
				progress = true;
				i--; /* the next ops moved into place i */
			} else {
				i += chunk - 1;
			}
		}
		if (chunk > 1)
			chunk /= 2;
		else if (!progress)
			break;
	}
done:
	free(trial);
	return n;
}

/* ---- runs ------------------------------------------------------------- */

static void m_plan_make(struct m_plan *p, uint64_t seed, int steps, struct m_rng *r)
{
	r->s = seed;
	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->nshows = 2 + m_below(r, MODEL_SHOWS_MAX - 1);
	for (int s = 0; s < p->nshows; s++) {
		p->rows[s] = 2 + m_below(r, MODEL_ROWS_MAX - 1);
		p->per_row[s] = 3 + m_below(r, MODEL_PER_ROW_MAX - 2);
		p->ahead[s] = TEST_DAY_MS + s * 4 * TEST_HOUR_MS;
	}
	/* The last show starts during the run, so SHOW_NOT_BOOKABLE and
	 * BOOKING_NOT_CANCELLABLE happen: after 20-60% of the expected time. */
	int64_t span = (int64_t)steps * MODEL_AVG_STEP_MS;
	int64_t soon = span * (20 + m_below(r, 41)) / 100;
	p->ahead[p->nshows - 1] = soon > 2 * TEST_MINUTE_MS ? soon : 2 * TEST_MINUTE_MS;
}

static void m_plan_print(const struct m_plan *p)
{
	printf("  shows:");
	for (int s = 0; s < p->nshows; s++) {
		char t[32];
		m_trel(p->ahead[s], t);
		printf(" show%d %dx%d at %s;", s + 1, p->rows[s], p->per_row[s], t);
	}
	printf(" hold TTL %" PRId64 "s, lifetime %" PRId64 "s, %d seats per user\n",
	       MODEL_TTL_MS / TEST_SECOND_MS, MODEL_LIFE_MS / TEST_SECOND_MS, MODEL_PER_USER);
}

/* One run of `steps` generated ops; returns 0 when it passed, 1 when it
 * failed, 2 when it agreed but fell short of coverage and may_grow. */
static int m_run_once(uint64_t seed, int steps, int number, bool may_grow)
{
	struct m_plan plan;
	struct m_rng rng;
	struct m_verdict v;
	struct m_op *ops = calloc((size_t)steps, sizeof(*ops));
	char(*results)[MODEL_LINE] = calloc((size_t)steps, sizeof(*results));
	int rc = 1;

	if (!ops || !results) {
		printf("FAIL run %d (seed %" PRIu64 "): out of memory\n", number, seed);
		goto out;
	}
	m_plan_make(&plan, seed, steps, &rng);
	int f = m_execute(&plan, ops, steps, &rng, results, &v, true);
	if (f == -1) {
		char missing[MODEL_TEXT] = "";
		size_t used = 0;
		for (int k = 0; k < M_RULES && steps >= MODEL_DEFAULT_STEPS; k++) {
			if (model_run_hits[k] >= MODEL_RULE_MIN)
				continue;
			int len = snprintf(missing + used, sizeof(missing) - used, "\n    %s: %d",
			                   m_rule_names[k], model_run_hits[k]);
			if (len > 0 && (size_t)len < sizeof(missing) - used)
				used += (size_t)len;
		}
		if (used > 0 && may_grow) {
			printf("# run %d (seed %" PRIu64 ", %d steps) agreed but fell short of "
			       "coverage:%s\n# again with %d steps\n",
			       number, seed, steps, missing, 2 * steps);
			rc = 2;
			goto out;
		}
		if (used > 0) {
			printf("FAIL run %d (seed %" PRIu64
			       ", %d steps): these rules were exercised "
			       "fewer than %d times:%s\n",
			       number, seed, steps, MODEL_RULE_MIN, missing);
			goto out;
		}
		printf("ok run %d (seed %" PRIu64 ", %d steps)\n", number, seed, steps);
		rc = 0;
		goto out;
	}
	if (f == -2) {
		printf("FAIL run %d (seed %" PRIu64 "): setup: %s\n", number, seed, v.msg);
		goto out;
	}
	char line[MODEL_LINE];
	m_op_text(&ops[f], line, sizeof(line));
	printf("FAIL run %d (seed %" PRIu64 "): step %d diverged [%s]\n", number, seed, f + 1,
	       v.tag);
	m_plan_print(&plan);
	printf("  step %d: %s %s\n  %s\n", f + 1, line, results[f], v.msg);
	fflush(stdout);

	char tag[sizeof(v.tag)];
	int tries = 0;
	snprintf(tag, sizeof(tag), "%s", v.tag);
	if (!model_shrink)
		goto out;
	int len = m_shrink(&plan, ops, f + 1, tag, &tries);
	memset(results, 0, sizeof(*results) * (size_t)steps);
	int g = m_execute(&plan, ops, len, NULL, results, &v, false);
	printf("  shrunk from %d to %d steps in %d replays (reproduce the whole run with: "
	       "model_tests --seed %" PRIu64 " --runs 1 --steps %d):\n",
	       f + 1, len, tries, seed, steps);
	for (int i = 0; i < len; i++) {
		m_op_text(&ops[i], line, sizeof(line));
		printf("    %3d  %s %s\n", i + 1, line, results[i]);
	}
	if (g >= 0)
		printf("  diverges at step %d [%s]:\n  %s\n", g + 1, v.tag, v.msg);
	else
		printf("  (the shrunk sequence no longer diverges on replay: flaky?)\n");
out:
	fflush(stdout);
	free(ops);
	free(results);
	return rc;
}

/* A run that agrees with the model but has not reached every rule
 * MODEL_RULE_MIN times (a rule can need a rare state, such as a show that
 * started) runs again with twice the steps, up to MODEL_COVERAGE_GROW
 * times its length; short of coverage then, it fails. */
static int m_run(uint64_t seed, int steps, int number)
{
	for (int n = steps;; n *= 2) {
		bool may_grow = n < steps * MODEL_COVERAGE_GROW && 2 * n <= MODEL_STEPS_MAX;
		int rc = m_run_once(seed, n, number, may_grow);
		if (rc != 2)
			return rc;
	}
}

/* Checks once that the backend follows the fake clock. */
static int m_probe(int *failed)
{
	struct m_world *w = calloc(1, sizeof(*w));
	int rc = 0;

	if (!w || m_world_open(w, NULL, 0) != 0) {
		printf("FAIL setup: %s\n", w ? w->msg : "out of memory");
		++*failed;
		rc = -1;
	}
	if (w) {
		m_world_close(w);
		free(w);
	}
	return rc;
}

static void m_print_coverage(void)
{
	printf("outcomes seen:");
	for (int k = 0; k < M_KINDS; k++) {
		printf("\n  %-10s", m_kind_names[k]);
		for (int o = 0; o < OUTCOME_COUNT; o++)
			if (model_hist[k][o])
				printf(" %s %lu", outcome_name((enum outcome)o), model_hist[k][o]);
	}
	printf("\nhold-best seats chosen outside the writer %lu, by the writer %lu",
	       model_best_outside, model_best_writer);
	printf("\nrules exercised (times, all runs):");
	for (int r = 0; r < M_RULES; r++)
		printf("\n  %-56s %ld", m_rule_names[r], model_rule_total[r]);
	printf("\n");
}

static int m_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static void m_usage(FILE *f)
{
	fprintf(f,
	        "usage: model_tests [--seed N] [--steps N] [--runs N] [--seconds S] [--no-shrink]\n"
	        "  --seed N     first run's seed (default: from the clock); run i uses N+i\n"
	        "  --steps N    operations per run (default %d)\n"
	        "  --runs N     runs (default %d)\n"
	        "  --seconds S  keep starting runs until S seconds have passed (soak)\n"
	        "  --no-shrink  report a divergence without shrinking it (faster, for\n"
	        "               measuring how often runs catch a deliberate bug)\n"
	        "  runs of %d steps or more fail when a rule was exercised fewer than %d "
	        "times\n"
	        "  BOXOFFICE_TEST_DB: database URL (default: a fresh SQLite file per run)\n",
	        MODEL_DEFAULT_STEPS, MODEL_DEFAULT_RUNS, MODEL_DEFAULT_STEPS, MODEL_RULE_MIN);
}

int main(int argc, char **argv)
{
	uint64_t seed = 0;
	bool have_seed = false;
	long steps = MODEL_DEFAULT_STEPS, runs = MODEL_DEFAULT_RUNS, seconds = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int bad;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			m_usage(stdout);
			return 0;
		} else if (strcmp(a, "--no-shrink") == 0) {
			model_shrink = false;
			continue;
		} else if (strcmp(a, "--seed") == 0) {
			bad = m_parse_u64(val, &seed);
			have_seed = true;
		} else if (strcmp(a, "--steps") == 0) {
			bad = num_parse_int(val ? val : "", 1, MODEL_STEPS_MAX, &steps);
		} else if (strcmp(a, "--runs") == 0) {
			bad = num_parse_int(val ? val : "", 1, MODEL_RUNS_MAX, &runs);
		} else if (strcmp(a, "--seconds") == 0) {
			bad = num_parse_int(val ? val : "", 1, MODEL_SECONDS_MAX, &seconds);
		} else {
			bad = -1;
			val = a;
		}
		if (bad) {
			fprintf(stderr, "model_tests: bad argument %s %s\n", a, val ? val : "");
			m_usage(stderr);
			return 2;
		}
		i++;
	}
	if (!have_seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)timefmt_now_ms();
	if (!have_seed)
		seed %= UINT64_C(1000000000000); /* short enough to type back */
	printf("seed %" PRIu64 "\n", seed);
	fflush(stdout);
	test_make_run_id(model_run_id);

	int64_t start = timefmt_now_ms();
	int passed = 0, failed = 0;
	if (m_probe(&failed) != 0) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	for (long i = 0;; i++) {
		if (seconds > 0 ? i > 0 && timefmt_now_ms() - start >= seconds * TEST_SECOND_MS
		                : i >= runs)
			break;
		if (m_run(seed + (uint64_t)i, (int)steps, (int)i + 1) == 0)
			passed++;
		else
			failed++;
	}
	m_print_coverage();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
