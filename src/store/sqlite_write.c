/* sqlite_write.c - the seat operations of the SQLite backend: hold,
 * hold-best, confirm, release, cancel and the expiry sweep. They run on the
 * writer thread inside the batch's transaction, each in its savepoint
 * (store_sqlite.c), and return 0 with cmd->outcome set, or -1 on a storage
 * error. Refusals follow the order of core/holdrule.h; every seat change
 * is a conditional UPDATE whose WHERE clause is the rule, and is recorded
 * in cmd->changes for caches and events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bestseat.h"
#include "core/holdrule.h"
#include "store/sqlite_internal.h"

static int sq_change_add(struct store_cmd *cmd, int64_t show_id, int row, int number,
                         enum seat_status status)
{
	size_t n = cmd->nchanges;

	/* Capacity is implicit: 8, then doubling at each power of two. */
	if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
		struct seat_change *p = realloc(cmd->changes, (n == 0 ? 8 : 2 * n) * sizeof(*p));
		if (p == NULL)
			return -1;
		cmd->changes = p;
	}
	cmd->changes[n].show_id = show_id;
	cmd->changes[n].seat.row = row;
	cmd->changes[n].seat.number = number;
	cmd->changes[n].status = status;
	cmd->nchanges = n + 1;
	return 0;
}

static void sq_bad_add(struct store_cmd *cmd, struct seat seat)
{
	if (cmd->nbad < BOOKING_SEATS_MAX)
		cmd->bad[cmd->nbad++] = seat;
}

/* Looks the user up: 1 and the id, 0 when there is no such user, -1. */
static int sq_user_find(struct sq_state *s, const char *username, int64_t *id)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st;

	if (sq_wcache_user(c->wcache, username, id))
		return 1;
	int rc = sq_row(c, &st, SQ_USER_GET, "%s", username);
	if (rc == 1) {
		*id = sqlite3_column_int64(st, 0);
		sq_done(st);
		sq_wcache_learn_user(c->wcache, username, *id);
	}
	return rc;
}

/* Finds or creates the user; returns 0 and the id, or -1. */
static int sq_user_id(struct sq_state *s, const char *username, int64_t now, int64_t *id)
{
	struct sq_conn *c = s->writer_conn;
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	char guid[37];
	int rc = sq_user_find(s, username, id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (sq_random(s, r, sizeof(r)) != 0)
		return -1;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* variant */
	/* 8-4-4-4-12 hex digits, by hand: snprintf cost more than the lookup. */
	for (int i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			guid[o++] = '-';
		guid[o++] = hex[r[i] >> 4];
		guid[o++] = hex[r[i] & 0x0f];
	}
	guid[36] = '\0';
	if (sq_run(c, SQ_USER_INSERT, "%s%s" SQ_I64, username, guid, now) != 1)
		return -1;
	*id = sqlite3_last_insert_rowid(c->db);
	sq_wcache_learn_user(c->wcache, username, *id);
	return 0;
}

/* Loads the command's show and applies the checks asked for, in the order
 * of core/holdrule.h. Returns 1 when a check refused the command (its
 * outcome set), 0 to go on, -1 on a storage error. Sorts the seats when
 * it checks them. Fills the show's fields of cmd->booking, so that a
 * write can answer without reading its booking back. The row comes from
 * the writer's cache when it is there (sqlite_wcache.c). */
static int sq_show_check(struct sq_conn *c, struct store_cmd *cmd, int64_t now, unsigned checks,
                         struct holdrule_show *sh)
{
	const struct sq_wc_show *known = sq_wcache_show(c->wcache, cmd->show_id);
	struct sq_wc_show row;

	if (known == NULL) {
		sqlite3_stmt *st;
		int rc = sq_row(c, &st, SQ_SHOW_FOR_WRITE, SQ_I64, cmd->show_id);
		memset(&row, 0, sizeof(row));
		if (rc < 0)
			return -1;
		if (rc == 1) {
			row.id = cmd->show_id;
			row.sh.exists = true;
			row.sh.active =
			    strcmp((const char *)sqlite3_column_text(st, 0), "ACTIVE") == 0;
			row.sh.show_time = sqlite3_column_int64(st, 1);
			row.sh.rows = sqlite3_column_int(st, 2);
			row.sh.seats_per_row = sqlite3_column_int(st, 3);
			sq_copy_text(row.movie_name, sizeof(row.movie_name), st, 4);
			sq_copy_text(row.screen_name, sizeof(row.screen_name), st, 5);
			sq_done(st);
			sq_wcache_learn_show(c->wcache, &row);
		}
		known = &row;
	}
	*sh = known->sh;
	if (sh->exists) {
		cmd->booking.show_id = cmd->show_id;
		cmd->booking.show_time = sh->show_time;
		memcpy(cmd->booking.movie_name, known->movie_name, sizeof(known->movie_name));
		memcpy(cmd->booking.screen_name, known->screen_name, sizeof(known->screen_name));
	}
	cmd->outcome =
	    holdrule_check_show(sh, checks, now, cmd->seats, cmd->nseats, cmd->bad, &cmd->nbad);
	return cmd->outcome != OUTCOME_OK;
}

/* The start of a user's write: the show and the checks asked for, then
 * the user's id. Returns as sq_show_check: 1 refused (outcome set), 0 go
 * on, -1 storage error. */
static int sq_user_write_begin(struct sq_state *s, struct store_cmd *cmd, int64_t now,
                               unsigned checks, struct holdrule_show *sh, int64_t *user_id)
{
	int rc = sq_show_check(s->writer_conn, cmd, now, checks, sh);

	if (rc != 0)
		return rc;
	return sq_user_id(s, cmd->username, now, user_id) != 0 ? -1 : 0;
}

struct sq_cart {
	int64_t id; /* 0 when there is no live cart */
	int64_t created_at, expires_at;
	char reference[BOOKING_REF_SIZE];
};

/* Frees the seats of a booking (HELD only, or all of them), recording the
 * changes. Returns the number freed or -1. The seats are listed first and
 * then freed with one UPDATE whose WHERE is the same rule: both run inside
 * the writer's transaction, so nothing can change in between (and this is
 * cheaper than UPDATE ... RETURNING, which buffers in a temporary table). */
static int sq_free_booking_seats(struct sq_conn *c, struct store_cmd *cmd, int64_t booking_id,
                                 int64_t show_id, int held_only)
{
	sqlite3_stmt *st;
	int rc, n = 0;

	for (rc = sq_row(c, &st, held_only ? SQ_BOOKING_HELD_SEATS : SQ_BOOKING_ALL_SEATS, SQ_I64,
	                 booking_id);
	     rc == 1; rc = sq_next(c, st)) {
		if (sq_change_add(cmd, show_id, sqlite3_column_int(st, 0),
		                  sqlite3_column_int(st, 1), SEAT_AVAILABLE) != 0) {
			sq_done(st);
			return -1;
		}
		n++;
	}
	if (rc < 0)
		return -1;
	if (n == 0)
		return 0;
	rc = sq_run(c, held_only ? SQ_BOOKING_FREE_HELD : SQ_BOOKING_FREE_ALL, SQ_I64, booking_id);
	return rc == n ? n : -1;
}

/* Finds the user's live cart in the show. A cart past its expiry is
 * rewritten EXPIRED on the way (its seats freed), so the caller starts
 * a new one. */
static int sq_cart_get(struct sq_conn *c, struct store_cmd *cmd, int64_t user_id, int64_t now,
                       struct sq_cart *cart)
{
	sqlite3_stmt *st;
	int rc = sq_row(c, &st, SQ_CART_GET, SQ_I64 SQ_I64, cmd->show_id, user_id);

	memset(cart, 0, sizeof(*cart));
	if (rc <= 0)
		return rc;
	int64_t id = sqlite3_column_int64(st, 0);
	int64_t created = sqlite3_column_int64(st, 1);
	int64_t expires = sqlite3_column_int64(st, 2);
	if (holdrule_booking_status(BOOKING_STAGED, expires, now) == BOOKING_STAGED) {
		cart->id = id;
		cart->created_at = created;
		cart->expires_at = expires;
		sq_copy_text(cart->reference, sizeof(cart->reference), st, 3);
		sq_done(st);
		return 0;
	}
	sq_done(st);
	if (sq_run(c, SQ_CART_EXPIRE, SQ_I64 SQ_I64, id, now) < 0)
		return -1;
	return sq_free_booking_seats(c, cmd, id, cmd->show_id, 1) < 0 ? -1 : 0;
}

/* Creates the user's cart, with the total it will have once every seat
 * of the command is in it (a command that falls short is rolled back, or
 * corrects it with sq_cart_refresh). */
static int sq_cart_create(struct sq_state *s, struct store_cmd *cmd, int64_t user_id, int64_t now,
                          int total, struct sq_cart *cart)
{
	struct sq_conn *c = s->writer_conn;
	int64_t expires =
	    holdrule_expiry(now, now, s->cfg.hold_ttl_ms, s->cfg.hold_max_lifetime_ms);
	char ref[BOOKING_REF_SIZE];

	for (int attempt = 0; attempt < SQ_REF_ATTEMPTS; attempt++) {
		if (booking_ref_new(sq_random, s, ref) != 0)
			return -1;
		int n = sq_run(c, SQ_CART_INSERT, SQ_I64 SQ_I64 "%s" SQ_I64 SQ_I64 "%d",
		               cmd->show_id, user_id, ref, now, expires, total);
		if (n < 0)
			return -1;
		if (n == 0)
			continue; /* the reference is taken: draw again */
		cart->id = sqlite3_last_insert_rowid(c->db);
		cart->created_at = now;
		cart->expires_at = expires;
		memcpy(cart->reference, ref, sizeof(cart->reference));
		return 0;
	}
	return -1;
}

/* Moves the cart's expiry when a hold added seats: the rule of
 * holdrule_expiry, never earlier than it was (the clock may step back);
 * cart->expires_at follows. */
static int sq_cart_refresh(struct sq_state *s, struct sq_cart *cart, int64_t held, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	int64_t expires =
	    holdrule_expiry(cart->created_at, now, s->cfg.hold_ttl_ms, s->cfg.hold_max_lifetime_ms);

	if (expires < cart->expires_at)
		expires = cart->expires_at;
	if (sq_run(c, SQ_CART_REFRESH, SQ_I64 SQ_I64 SQ_I64, cart->id, expires, held) != 1)
		return -1;
	/* Its seats follow, unless they already carry this expiry. */
	if (expires != cart->expires_at &&
	    sq_run(c, SQ_CART_SEATS_REFRESH, SQ_I64 SQ_I64, cart->id, expires) < 0)
		return -1;
	cart->expires_at = expires;
	return 0;
}

/* Fills cmd->booking with the cart as the command leaves it, from what
 * the writer knows instead of reading it back: the same fields as
 * sq_load_booking (sq_show_check filled the show's). The seats of a new
 * cart are the ones it took (seats, n); an older cart's are read. */
static int sq_cart_answer(struct sq_conn *c, struct store_cmd *cmd, const struct sq_cart *cart,
                          enum booking_status status, int64_t now, const struct seat *seats, int n)
{
	struct booking *b = &cmd->booking;

	memcpy(b->reference, cart->reference, sizeof(b->reference));
	memcpy(b->username, cmd->username, sizeof(b->username));
	b->created_at = cart->created_at;
	b->expires_at = status == BOOKING_STAGED ? cart->expires_at : 0;
	b->confirmed_at = status == BOOKING_CONFIRMED ? now : 0;
	b->cancelled_at = 0;
	b->status = holdrule_booking_status(status, b->expires_at, now);
	if (b->status != BOOKING_STAGED)
		b->expires_at = 0;
	if (seats == NULL)
		return sq_booking_seats(c, cart->id, b);
	memcpy(b->seats, seats, (size_t)n * sizeof(*seats));
	b->nseats = n;
	seat_sort(b->seats, (size_t)n);
	return 0;
}

/* The number of different seats in a sorted list. */
static int sq_distinct_seats(const struct seat *seats, int n)
{
	int k = n > 0;

	for (int i = 1; i < n; i++)
		k += seat_compare(&seats[i - 1], &seats[i]) != 0;
	return k;
}

/* Lists in cmd's bad seats those of its seats that are not free at now. */
static int sq_seats_not_free(struct sq_conn *c, struct store_cmd *cmd, int64_t now)
{
	for (int i = 0; i < cmd->nseats; i++) {
		sqlite3_stmt *st;
		const struct seat *seat = &cmd->seats[i];
		int rc = sq_row(c, &st, SQ_SEAT_FREE, SQ_I64 "%d%d" SQ_I64, cmd->show_id, seat->row,
		                seat->number, now);
		if (rc < 0)
			return -1;
		if (rc == 1)
			sq_done(st);
		else
			sq_bad_add(cmd, *seat);
	}
	return 0;
}

/* Holds cmd->seats for the user. The seats have been validated for shape;
 * existence, availability and limits are checked here. */
int sq_do_hold(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct holdrule_show sh;
	struct sq_cart cart;
	int64_t user_id, held;
	int added = 0, total = 0;
	struct seat added_seats[BOOKING_SEATS_MAX];

	int rc = sq_show_check(c, cmd, now, HOLDRULE_CHECK_BOOKABLE | HOLDRULE_CHECK_SEATS, &sh);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	int known = sq_user_find(s, cmd->username, &user_id);
	if (known < 0)
		return -1;
	memset(&cart, 0, sizeof(cart));
	if (known == 1 && sq_cart_get(c, cmd, user_id, now, &cart) != 0)
		return -1;
	/* A new cart holds exactly the seats this command takes: it is created
	 * with their total, and neither counted nor refreshed after. */
	int fresh = cart.id == 0;
	if (fresh) {
		/* Without a live cart no seat can be the user's own: a seat that
		 * is not free refuses the hold before a user or cart is made (in
		 * an on-sale most holds are refused, and this is their path). */
		if (sq_seats_not_free(c, cmd, now) != 0)
			return -1;
		if (cmd->nbad > 0) {
			cmd->pick_conflict = cmd->picked;
			cmd->outcome = OUTCOME_SEATS_UNAVAILABLE;
			return 0;
		}
		if (known == 0 && sq_user_id(s, cmd->username, now, &user_id) != 0)
			return -1;
		total = sq_distinct_seats(cmd->seats, cmd->nseats);
		if (sq_cart_create(s, cmd, user_id, now, total, &cart) != 0)
			return -1;
	}

	for (int i = 0; i < cmd->nseats; i++) {
		const struct seat *seat = &cmd->seats[i];
		int n =
		    sq_run(c, SQ_SEAT_TAKE, SQ_I64 "%d%d" SQ_I64 SQ_I64 SQ_I64 SQ_I64, cmd->show_id,
		           seat->row, seat->number, cart.id, now, user_id, cart.expires_at);
		if (n < 0)
			return -1;
		if (n == 1) {
			added_seats[added++] = *seat;
			continue;
		}
		/* Seats picked outside the writer must all be newly taken:
		 * the pick saw them free. */
		if (cmd->picked) {
			cmd->pick_conflict = true;
			sq_bad_add(cmd, *seat);
			continue;
		}
		/* Not free: fine only when it is already in this live cart. */
		sqlite3_stmt *st;
		int mine = sq_row(c, &st, SQ_SEAT_MINE, SQ_I64 "%d%d" SQ_I64 SQ_I64, cmd->show_id,
		                  seat->row, seat->number, cart.id, now);
		if (mine < 0)
			return -1;
		if (mine == 1)
			sq_done(st);
		else
			sq_bad_add(cmd, *seat);
	}
	if (cmd->nbad > 0) {
		cmd->outcome = OUTCOME_SEATS_UNAVAILABLE;
		return 0;
	}
	if (fresh)
		held = added;
	else if (sq_count(c, SQ_CART_COUNT, cart.id, &held) != 0)
		return -1;
	if (held > s->cfg.max_seats_per_user) {
		cmd->outcome = OUTCOME_HOLD_LIMIT_EXCEEDED;
		return 0;
	}
	for (int i = 0; i < added; i++) {
		if (sq_run(c, SQ_BSEAT_INSERT, SQ_I64 SQ_I64 "%d%d", cart.id, cmd->show_id,
		           added_seats[i].row, added_seats[i].number) < 0)
			return -1;
		if (sq_change_add(cmd, cmd->show_id, added_seats[i].row, added_seats[i].number,
		                  SEAT_HELD) != 0)
			return -1;
	}
	/* A hold that adds a seat refreshes the cart, up to the cap. */
	if (added > 0 && (!fresh || held != total) && sq_cart_refresh(s, &cart, held, now) != 0)
		return -1;
	if (sq_cart_answer(c, cmd, &cart, BOOKING_STAGED, now, fresh ? added_seats : NULL, added) !=
	    0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

/* Holds the seats store_pick chose (sqlite_grid.c), or picks the best
 * free seats with core/bestseat from the database and holds them. */
int sq_do_hold_best(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct holdrule_show sh;
	sqlite3_stmt *st;
	unsigned char *grid;
	int rc;

	/* Picked seats: the hold checks the show itself (the same refusals
	 * first), so it is not read twice. */
	if (cmd->picked && cmd->nseats > 0)
		return sq_do_hold(s, cmd, now);
	rc = sq_show_check(c, cmd, now, HOLDRULE_CHECK_BOOKABLE, &sh);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (cmd->picked) { /* and none fit */
		cmd->outcome = OUTCOME_SEATS_UNAVAILABLE;
		return 0;
	}
	grid = calloc((size_t)sh.rows * (size_t)sh.seats_per_row, 1);
	if (grid == NULL)
		return -1;
	for (rc = sq_row(c, &st, SQ_SHOW_SEATS, SQ_I64 SQ_I64 "%d%d%d", cmd->show_id, now,
	                 SEAT_AVAILABLE, SEAT_HELD, SEAT_BOOKED);
	     rc == 1; rc = sq_next(c, st)) {
		int row = sqlite3_column_int(st, 0), number = sqlite3_column_int(st, 1);
		if (row < sh.rows && number >= 1 && number <= sh.seats_per_row)
			grid[(size_t)row * (size_t)sh.seats_per_row + (size_t)(number - 1)] =
			    sqlite3_column_int(st, 2) == SEAT_AVAILABLE;
	}
	if (rc < 0) {
		free(grid);
		return -1;
	}
	rc = bestseat_pick(grid, sh.rows, sh.seats_per_row, cmd->count, cmd->allow_split,
	                   cmd->seats);
	free(grid);
	if (rc != 0) {
		cmd->outcome = OUTCOME_SEATS_UNAVAILABLE;
		return 0;
	}
	cmd->nseats = cmd->count;
	return sq_do_hold(s, cmd, now);
}

/* Returns 1 when every listed seat is BOOKED in one CONFIRMED booking of
 * this user with exactly these seats (a retried confirm), with its id. */
static int sq_confirm_retry(struct sq_conn *c, struct store_cmd *cmd, int64_t user_id,
                            int64_t *booking_id)
{
	int64_t found = 0, count;

	for (int i = 0; i < cmd->nseats; i++) {
		sqlite3_stmt *st;
		int rc = sq_row(c, &st, SQ_SEAT_STATE, SQ_I64 "%d%d", cmd->show_id,
		                cmd->seats[i].row, cmd->seats[i].number);
		if (rc <= 0)
			return rc;
		const char *seat_status = (const char *)sqlite3_column_text(st, 0);
		const char *bstatus = (const char *)sqlite3_column_text(st, 3);
		int64_t bid = sqlite3_column_int64(st, 1);
		int ok = seat_status && strcmp(seat_status, "BOOKED") == 0 && bstatus &&
		         strcmp(bstatus, "CONFIRMED") == 0 &&
		         sqlite3_column_int64(st, 2) == user_id && (found == 0 || found == bid);
		sq_done(st);
		if (!ok)
			return 0;
		found = bid;
	}
	if (sq_count(c, SQ_BSEAT_COUNT, found, &count) != 0)
		return -1;
	if (count != cmd->nseats)
		return 0;
	*booking_id = found;
	return 1;
}

int sq_do_confirm(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct holdrule_show sh;
	struct sq_cart cart;
	int64_t user_id, retry_id;
	int rc;

	rc = sq_user_write_begin(s, cmd, now, HOLDRULE_CHECK_SEATS, &sh, &user_id);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	/* A retried confirm is looked for only when booking the seats fails,
	 * so that a first confirm pays no lookup per seat: a seat can be
	 * booked only while HELD in the live cart, so a retry (every seat
	 * already BOOKED) books nothing here. Bookable is checked after the
	 * retry test: a confirmed booking answers its retry even once the
	 * show has started. */
	int bookable = holdrule_show_bookable(&sh, now);
	memset(&cart, 0, sizeof(cart));
	if (bookable && sq_cart_get(c, cmd, user_id, now, &cart) != 0)
		return -1;
	for (int i = 0; bookable && i < cmd->nseats; i++) {
		const struct seat *seat = &cmd->seats[i];
		if (cart.id == 0) {
			sq_bad_add(cmd, *seat);
			continue;
		}
		int n = sq_run(c, SQ_SEAT_BOOK, SQ_I64 "%d%d" SQ_I64 SQ_I64 SQ_I64, cmd->show_id,
		               seat->row, seat->number, cart.id, user_id, now);
		if (n < 0)
			return -1;
		if (n == 0)
			sq_bad_add(cmd, *seat);
		else if (sq_change_add(cmd, cmd->show_id, seat->row, seat->number, SEAT_BOOKED) !=
		         0)
			return -1;
	}
	if (!bookable || cmd->nbad > 0) {
		rc = sq_confirm_retry(c, cmd, user_id, &retry_id);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			cmd->nbad = 0;
			if (sq_load_booking(c, retry_id, now, &cmd->booking) != 0)
				return -1;
			cmd->outcome = OUTCOME_OK;
			return 0;
		}
		cmd->outcome = bookable ? OUTCOME_SEATS_NOT_HELD : OUTCOME_SHOW_NOT_BOOKABLE;
		return 0;
	}
	/* The cart's seats that were not listed go back on sale. */
	if (sq_free_booking_seats(c, cmd, cart.id, cmd->show_id, 1) < 0)
		return -1;
	if (sq_run(c, SQ_BSEAT_KEEP_BOOKED, SQ_I64, cart.id) < 0)
		return -1;
	if (sq_run(c, SQ_BOOKING_CONFIRM, SQ_I64 SQ_I64 "%d", cart.id, now, cmd->nseats) != 1)
		return -1;
	if (sq_cart_answer(c, cmd, &cart, BOOKING_CONFIRMED, now, NULL, 0) != 0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

static int sq_cancel_booking_row(struct sq_conn *c, int64_t id, int64_t now)
{
	return sq_run(c, SQ_BOOKING_CANCEL, SQ_I64 SQ_I64, id, now) == 1 ? 0 : -1;
}

/* Releases the listed seats of the cart that are still its own. */
static int sq_release_listed(struct sq_conn *c, struct store_cmd *cmd, int64_t cart_id)
{
	for (int i = 0; i < cmd->nseats; i++) {
		const struct seat *seat = &cmd->seats[i];
		int n = sq_run(c, SQ_SEAT_RELEASE, SQ_I64 "%d%d" SQ_I64, cmd->show_id, seat->row,
		               seat->number, cart_id);
		if (n < 0)
			return -1;
		if (n == 0)
			continue; /* not ours: releasing it changes nothing */
		if (sq_change_add(cmd, cmd->show_id, seat->row, seat->number, SEAT_AVAILABLE) != 0)
			return -1;
		if (sq_run(c, SQ_BSEAT_DELETE_ONE, SQ_I64 "%d%d", cart_id, seat->row,
		           seat->number) < 0)
			return -1;
	}
	return 0;
}

int sq_do_release(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	struct holdrule_show sh;
	struct sq_cart cart;
	int64_t user_id, left;

	int rc = sq_user_write_begin(s, cmd, now, cmd->all_seats ? 0 : HOLDRULE_CHECK_SEATS, &sh,
	                             &user_id);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (sq_cart_get(c, cmd, user_id, now, &cart) != 0)
		return -1;
	if (cart.id == 0) {
		cmd->outcome = OUTCOME_BOOKING_NOT_FOUND;
		return 0;
	}
	if (cmd->all_seats) {
		if (sq_free_booking_seats(c, cmd, cart.id, cmd->show_id, 1) < 0)
			return -1;
		if (sq_run(c, SQ_BSEAT_DELETE_ALL, SQ_I64, cart.id) < 0)
			return -1;
	} else if (sq_release_listed(c, cmd, cart.id) != 0) {
		return -1;
	}
	if (sq_count(c, SQ_CART_COUNT, cart.id, &left) != 0)
		return -1;
	if (sq_run(c, SQ_BOOKING_SET_TOTAL, SQ_I64 SQ_I64, cart.id, left) < 0)
		return -1;
	if (left == 0 && sq_cancel_booking_row(c, cart.id, now) != 0)
		return -1;
	if (sq_load_booking(c, cart.id, now, &cmd->booking) != 0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

int sq_do_cancel(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st;
	enum booking_status status;
	int rc;

	rc = sq_row(c, &st, SQ_BOOKING_FIND, "%s%s", cmd->reference, cmd->username);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		cmd->outcome = OUTCOME_BOOKING_NOT_FOUND;
		return 0;
	}
	int64_t id = sqlite3_column_int64(st, 0);
	int bad_status = booking_status_parse((const char *)sqlite3_column_text(st, 1), &status);
	int64_t expires = sqlite3_column_int64(st, 2);
	int64_t show_time = sqlite3_column_int64(st, 3);
	sq_done(st);
	if (bad_status)
		return -1;
	status = holdrule_booking_status(status, expires, now);
	cmd->outcome = holdrule_check_cancel(status, show_time, now);
	if (cmd->outcome != OUTCOME_OK)
		return 0;
	/* Cancelling again answers as the first time did. */
	if (status != BOOKING_CANCELLED) {
		if (sq_free_booking_seats(c, cmd, id, 0, 0) < 0)
			return -1;
		if (sq_cancel_booking_row(c, id, now) != 0)
			return -1;
	}
	if (sq_load_booking(c, id, now, &cmd->booking) != 0)
		return -1;
	for (size_t i = 0; i < cmd->nchanges; i++)
		cmd->changes[i].show_id = cmd->booking.show_id;
	cmd->outcome = OUTCOME_OK;
	return 0;
}

int sq_do_expire_due(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st;
	int rc;

	for (rc = sq_row(c, &st, SQ_EXPIRE_SEATS, SQ_I64, now); rc == 1; rc = sq_next(c, st)) {
		if (sq_change_add(cmd, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
		                  sqlite3_column_int(st, 2), SEAT_AVAILABLE) != 0) {
			sq_done(st);
			return -1;
		}
	}
	if (rc < 0)
		return -1;
	cmd->expired = (int64_t)cmd->nchanges;
	if (sq_run(c, SQ_EXPIRE_CARTS, SQ_I64, now) < 0)
		return -1;
	if (sq_run(c, SQ_IDEM_EXPIRE, SQ_I64, now - s->cfg.idempotency_ttl_ms) < 0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	return 0;
}
