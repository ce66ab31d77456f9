/* sqlite_grid.c - hold-best's seats chosen outside the writer thread.
 *
 * Reading a show's whole seat grid costs 25-50 ms on a 100,000-seat show;
 * inside the one writer thread that stalled every write of the node. So
 * the SQLite backend keeps, per recently used show, an in-memory picture
 * of which seats are free (the grid), and hold-best picks from it on the
 * caller's thread (sq_pick). Only the hold of the chosen seats goes to the
 * writer, which takes them only if every one is still free (strict: a seat
 * already in the user's cart counts as taken, as it did for the pick);
 * otherwise the command ends with pick_conflict and the caller picks again
 * (store.h, STORE_PICK_ATTEMPTS), then falls back to the writer's own pick.
 * The grid is a hint: the writer's conditional hold keeps every rule.
 *
 * How the grid stays exact:
 * - It is read from a reader connection's snapshot (seats by effective
 *   status at now) and patched by the writer after each commit with the
 *   command's seat changes (sq_grid_settle), which are absolute states.
 * - A reader builds with the show's entry marked "building" before its
 *   read transaction begins; every patch meanwhile is also logged, and the
 *   log is applied on top of the snapshot when it is installed. The log
 *   holds every commit after the mark in commit order and the snapshot a
 *   prefix of them, so replaying absolute states gives the state after the
 *   last commit either way.
 * - Lazy expiry: the grid goes stale when its earliest hold expires
 *   (every held seat's expiry counts, patched ones too) and at the latest
 *   SQ_GRID_MAX_AGE_MS after it was built; a stale grid is built again.
 * - Seats picked by a hold-best still in flight are "pending": the next
 *   pick avoids them, so concurrent hold-bests of one show choose
 *   different seats instead of colliding on the same best block. A
 *   command's pending seats are released when the writer settles it.
 *
 * Locking: one mutex for the table and every grid. A pick scores the grid
 * under it (core/bestseat prunes: tens of microseconds on a 100,000-seat
 * show), so picks take turns and never choose the same seats; the writer
 * holds it only to patch the seats of its changes. (Scoring a private copy
 * instead let two picks choose the same best block, and under load one
 * lost it again and again until it fell back to the writer's slow pick.)
 *
 * A conflict means the grid was wrong (another process wrote the file):
 * that grid is built again at the next pick. */
#include <stdlib.h>
#include <string.h>

#include "core/bestseat.h"
#include "core/holdrule.h"
#include "store/sqlite_internal.h"

enum {
	SQ_GRID_SHOWS = 16,         /* shows with a grid at once (least recently used goes) */
	SQ_GRID_MAX_AGE_MS = 30000, /* built again at least this often (another process) */
	SQ_GRID_LOG_MAX = 65536,    /* patches logged while one grid is being built */
};

/* Per seat: committed state and whether an in-flight pick chose it. */
enum { SQ_GRID_TAKEN = 1, SQ_GRID_PENDING = 2 };

struct sq_grid_patch {
	struct seat seat;
	int taken;
	int64_t expires; /* a hold's expiry; INT64_MAX otherwise */
};

struct sq_grid {
	int64_t show_id; /* 0: the slot is empty */
	int rows, seats_per_row;
	unsigned char *state; /* SQ_GRID_* bits per seat */
	unsigned char *free;  /* 1 when neither taken nor pending: what picks see */
	int64_t stale_at;     /* the earliest hold's expiry, or the age limit */
	uint64_t used;        /* for eviction */
	int building;         /* a reader is building its replacement */
	size_t npending;      /* seats with SQ_GRID_PENDING */
	struct sq_grid_patch *log;
	size_t nlog;
	int log_lost; /* more patches than SQ_GRID_LOG_MAX: build again */
};

struct sq_grids {
	pthread_mutex_t lock;
	pthread_cond_t built;
	uint64_t tick;
	struct sq_grid slot[SQ_GRID_SHOWS];
};

struct sq_grids *sq_grids_new(void)
{
	struct sq_grids *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->built, NULL);
	return g;
}

static void sq_grid_clear(struct sq_grid *gr)
{
	free(gr->state);
	free(gr->free);
	free(gr->log);
	memset(gr, 0, sizeof(*gr));
}

void sq_grids_free(struct sq_grids *g)
{
	if (g == NULL)
		return;
	for (int i = 0; i < SQ_GRID_SHOWS; i++)
		sq_grid_clear(&g->slot[i]);
	pthread_cond_destroy(&g->built);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static struct sq_grid *sq_grid_find(struct sq_grids *g, int64_t show_id)
{
	for (int i = 0; i < SQ_GRID_SHOWS; i++)
		if (g->slot[i].show_id == show_id)
			return &g->slot[i];
	return NULL;
}

/* A slot for a new show: an empty one, else the least recently used that
 * nobody is building. NULL when every slot is being built. */
static struct sq_grid *sq_grid_slot(struct sq_grids *g)
{
	struct sq_grid *best = NULL;

	for (int i = 0; i < SQ_GRID_SHOWS; i++) {
		struct sq_grid *gr = &g->slot[i];
		if (gr->show_id == 0)
			return gr;
		if (!gr->building && (best == NULL || gr->used < best->used))
			best = gr;
	}
	if (best != NULL)
		sq_grid_clear(best);
	return best;
}

static void sq_grid_set(struct sq_grid *gr, int index, int taken)
{
	unsigned char st =
	    (unsigned char)((gr->state[index] & ~SQ_GRID_TAKEN) | (taken ? SQ_GRID_TAKEN : 0));
	gr->state[index] = st;
	gr->free[index] = st == 0;
}

static void sq_grid_pending(struct sq_grid *gr, int index, int on)
{
	unsigned char st =
	    (unsigned char)((gr->state[index] & ~SQ_GRID_PENDING) | (on ? SQ_GRID_PENDING : 0));
	if ((st ^ gr->state[index]) & SQ_GRID_PENDING)
		gr->npending = on ? gr->npending + 1 : gr->npending - 1;
	gr->state[index] = st;
	gr->free[index] = st == 0;
}

static int sq_grid_index(const struct sq_grid *gr, struct seat s)
{
	if (s.row < 0 || s.row >= gr->rows || s.number < 1 || s.number > gr->seats_per_row)
		return -1;
	return s.row * gr->seats_per_row + (s.number - 1);
}

/* The new grid of show_id read from a reader's snapshot at now: 1 with
 * *out filled (state, free, rows, stale_at), 0 when the show is missing
 * or not bookable (the writer refuses it; nothing to pick), -1 on error. */
static int sq_grid_read(struct sq_state *s, int64_t show_id, int64_t now, struct sq_grid *out)
{
	struct sq_conn *c = sq_reader_get(s);
	struct holdrule_show sh = {0};
	sqlite3_stmt *st;
	int rc = -1;

	if (c == NULL)
		return -1;
	if (sq_exec(c, SQ_BEGIN) != 0) {
		sq_reader_put(s, c);
		return -1;
	}
	int step = sq_row(c, &st, SQ_SHOW_FOR_WRITE, SQ_I64, show_id);
	if (step < 0)
		goto out;
	if (step == 1) {
		sh.exists = true;
		sh.active = strcmp((const char *)sqlite3_column_text(st, 0), "ACTIVE") == 0;
		sh.show_time = sqlite3_column_int64(st, 1);
		sh.rows = sqlite3_column_int(st, 2);
		sh.seats_per_row = sqlite3_column_int(st, 3);
		sq_done(st);
	}
	if (!sh.exists || !holdrule_show_bookable(&sh, now) || sh.rows < 1 ||
	    sh.seats_per_row < 1) {
		rc = 0;
		goto out;
	}
	size_t n = (size_t)sh.rows * (size_t)sh.seats_per_row;
	out->rows = sh.rows;
	out->seats_per_row = sh.seats_per_row;
	out->state = malloc(n);
	out->free = malloc(n);
	if (out->state == NULL || out->free == NULL)
		goto out;
	/* A seat without a row (never, but) stays taken. */
	memset(out->state, SQ_GRID_TAKEN, n);
	memset(out->free, 0, n);
	out->stale_at = now + SQ_GRID_MAX_AGE_MS;
	for (step = sq_row(c, &st, SQ_SHOW_SEATS, SQ_I64 SQ_I64 "%d%d%d", show_id, now,
	                   SEAT_AVAILABLE, SEAT_HELD, SEAT_BOOKED);
	     step == 1; step = sq_next(c, st)) {
		int i = sq_grid_index(
		    out, (struct seat){sqlite3_column_int(st, 0), sqlite3_column_int(st, 1)});
		int status = sqlite3_column_int(st, 2);
		if (i < 0)
			continue;
		sq_grid_set(out, i, status != SEAT_AVAILABLE);
		if (status == SEAT_HELD) {
			int64_t exp = sqlite3_column_int64(st, 3);
			if (exp < out->stale_at)
				out->stale_at = exp;
		}
	}
	rc = step < 0 ? -1 : 1;
out:
	sq_exec(c, SQ_COMMIT);
	sq_reader_put(s, c);
	if (rc != 1) {
		free(out->state);
		free(out->free);
		out->state = out->free = NULL;
	}
	return rc;
}

/* Returns show_id's fresh grid, building it when missing or stale (and
 * waiting for another thread's build); called and returns with the mutex
 * held. NULL when there is nothing to pick from (show missing or not
 * bookable, storage trouble, every slot busy). */
static struct sq_grid *sq_grid_get(struct sq_state *s, int64_t show_id, int64_t now)
{
	struct sq_grids *g = s->grids;
	struct sq_grid *gr;

	for (;;) {
		gr = sq_grid_find(g, show_id);
		if (gr == NULL || !gr->building)
			break;
		pthread_cond_wait(&g->built, &g->lock);
	}
	if (gr != NULL && gr->state != NULL && now < gr->stale_at && !gr->log_lost) {
		gr->used = ++g->tick;
		return gr;
	}
	if (gr == NULL && (gr = sq_grid_slot(g)) == NULL)
		return NULL;
	gr->show_id = show_id;
	gr->building = 1;
	gr->nlog = 0;
	gr->log_lost = 0;
	pthread_mutex_unlock(&g->lock);

	struct sq_grid fresh = {0};
	int rc = sq_grid_read(s, show_id, now, &fresh);

	pthread_mutex_lock(&g->lock);
	gr->building = 0;
	pthread_cond_broadcast(&g->built);
	if (rc != 1 || gr->log_lost) {
		free(fresh.state);
		free(fresh.free);
		sq_grid_clear(gr); /* the next pick reads again */
		return NULL;
	}
	/* Commits since the mark, in order, on top of the snapshot. */
	for (size_t i = 0; i < gr->nlog; i++) {
		int k = sq_grid_index(&fresh, gr->log[i].seat);
		if (k >= 0)
			sq_grid_set(&fresh, k, gr->log[i].taken);
		if (gr->log[i].expires < fresh.stale_at)
			fresh.stale_at = gr->log[i].expires;
	}
	/* Picks still in flight keep their seats. */
	if (gr->state != NULL && gr->rows == fresh.rows &&
	    gr->seats_per_row == fresh.seats_per_row) {
		size_t n = (size_t)fresh.rows * (size_t)fresh.seats_per_row;
		for (size_t i = 0; i < n; i++)
			if (gr->state[i] & SQ_GRID_PENDING)
				sq_grid_pending(&fresh, (int)i, 1);
	}
	free(gr->state);
	free(gr->free);
	gr->state = fresh.state;
	gr->free = fresh.free;
	gr->rows = fresh.rows;
	gr->seats_per_row = fresh.seats_per_row;
	gr->stale_at = fresh.stale_at;
	gr->npending = fresh.npending;
	gr->nlog = 0;
	gr->used = ++g->tick;
	return gr;
}

int sq_pick(void *state, struct store_cmd *cmd)
{
	struct sq_state *s = state;
	struct sq_grids *g = s->grids;
	int64_t now = sq_now(s);

	cmd->picked = false;
	cmd->nseats = 0;
	if (cmd->op != STORE_OP_HOLD_BEST || cmd->count < 1 || cmd->count > BOOKING_SEATS_MAX)
		return 0;
	pthread_mutex_lock(&g->lock);
	struct sq_grid *gr = sq_grid_get(s, cmd->show_id, now);
	if (gr != NULL && bestseat_pick(gr->free, gr->rows, gr->seats_per_row, cmd->count,
	                                cmd->allow_split, cmd->seats) == 0) {
		for (int i = 0; i < cmd->count; i++)
			sq_grid_pending(gr, sq_grid_index(gr, cmd->seats[i]), 1);
		cmd->picked = true;
		cmd->nseats = cmd->count;
	} else if (gr != NULL && gr->npending == 0) {
		/* No fit, and no pick in flight could give seats back: the
		 * writer only checks the show. Otherwise it picks itself. */
		cmd->picked = true;
	}
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* Patches one grid with a change (a hold's expiry, else INT64_MAX),
 * logging it when a build is under way. */
static void sq_grid_patch(struct sq_grid *gr, struct seat seat, int taken, int64_t expires)
{
	int k = sq_grid_index(gr, seat);

	if (gr->state != NULL && k >= 0)
		sq_grid_set(gr, k, taken);
	if (expires < gr->stale_at)
		gr->stale_at = expires;
	if (!gr->building)
		return;
	if (gr->nlog % 1024 == 0) {
		struct sq_grid_patch *p = gr->nlog >= SQ_GRID_LOG_MAX
		                              ? NULL
		                              : realloc(gr->log, (gr->nlog + 1024) * sizeof(*p));
		if (p == NULL) {
			gr->log_lost = 1;
			return;
		}
		gr->log = p;
	}
	gr->log[gr->nlog++] = (struct sq_grid_patch){seat, taken, expires};
}

void sq_grid_settle(struct sq_state *s, const struct store_cmd *cmd, int committed)
{
	struct sq_grids *g = s->grids;

	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (cmd->op == STORE_OP_CANCEL_SHOW && committed) {
		struct sq_grid *gr = sq_grid_find(g, cmd->show_id);
		if (gr != NULL && !gr->building)
			sq_grid_clear(gr);
		else if (gr != NULL)
			gr->log_lost = 1;
	}
	if (committed) {
		struct sq_grid *gr = NULL;
		for (size_t i = 0; i < cmd->nchanges; i++) {
			const struct seat_change *ch = &cmd->changes[i];
			if (gr == NULL || gr->show_id != ch->show_id)
				gr = sq_grid_find(g, ch->show_id);
			if (gr == NULL)
				continue;
			sq_grid_patch(gr, ch->seat, ch->status != SEAT_AVAILABLE,
			              ch->status == SEAT_HELD ? cmd->booking.expires_at
			                                      : INT64_MAX);
		}
	}
	if (cmd->op == STORE_OP_HOLD_BEST && cmd->picked) {
		struct sq_grid *gr = sq_grid_find(g, cmd->show_id);
		if (gr != NULL && cmd->pick_conflict)
			gr->stale_at = INT64_MIN; /* it was wrong: read it again */
		for (int i = 0; gr != NULL && gr->state != NULL && i < cmd->nseats; i++) {
			int k = sq_grid_index(gr, cmd->seats[i]);
			if (k >= 0)
				sq_grid_pending(gr, k, 0);
		}
	}
	pthread_mutex_unlock(&g->lock);
}
