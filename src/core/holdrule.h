/* holdrule.h - the hold rules, stated once: when a cart expires (with its
 * lifetime cap), what a booking and a seat are at a given moment (expiry
 * is a timestamp, so an expired hold reads as gone without any write), and
 * the order in which an operation's refusals are checked.
 *
 * The SQLite backend and the model test (tests/model) call these; the
 * PostgreSQL backend runs the same rules in PL/pgSQL. Each function names
 * its twin in sql/postgres/002_functions.sql, and each twin names the
 * function back: change one, change both (the contract suite runs on both
 * backends and catches a half-made change).
 *
 * Order of refusals. The first that applies is the answer:
 *   hold       SHOW_NOT_FOUND, SHOW_NOT_BOOKABLE, UNKNOWN_SEATS (checked by
 *              holdrule_check_show), then SEATS_UNAVAILABLE (a seat neither
 *              free nor in the user's live cart), then HOLD_LIMIT_EXCEEDED
 *   hold-best  SHOW_NOT_FOUND, SHOW_NOT_BOOKABLE, then SEATS_UNAVAILABLE (no
 *              room), then HOLD_LIMIT_EXCEEDED
 *   confirm    SHOW_NOT_FOUND, UNKNOWN_SEATS; a retry of a success (the same
 *              seats, BOOKED in one CONFIRMED booking of the user) answers OK
 *              here, even after the show started; then SHOW_NOT_BOOKABLE,
 *              then SEATS_NOT_HELD
 *   release    SHOW_NOT_FOUND, UNKNOWN_SEATS (listed seats only), then
 *              BOOKING_NOT_FOUND (no live cart)
 *   cancel     BOOKING_NOT_FOUND, then holdrule_check_cancel
 * Validation (INVALID_REQUEST) comes before all of them, in api/. */
#ifndef BOXOFFICE_CORE_HOLDRULE_H
#define BOXOFFICE_CORE_HOLDRULE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/booking.h"
#include "core/outcome.h"
#include "core/seat.h"

/* The expiry of a cart created at created_at, when a hold adds a seat at
 * now (a new cart: created_at == now): now + ttl, capped at created_at +
 * max_lifetime. Needs ttl_ms <= max_lifetime_ms (store_open asserts it).
 * Twin: bo_hold in sql/postgres/002_functions.sql (the first expiry of a
 * new cart, and v_expiry when a seat is added). */
int64_t holdrule_expiry(int64_t created_at, int64_t now, int64_t ttl_ms, int64_t max_lifetime_ms);

/* A booking's status at now: a STAGED cart whose expiry is at or before now
 * reads EXPIRED, whether or not the sweeper has written it yet.
 * Twin: bo_booking_json in sql/postgres/002_functions.sql (and the live
 * cart test of bo_hold). */
enum booking_status holdrule_booking_status(enum booking_status stored, int64_t expires_at,
                                            int64_t now);

/* A seat's state at now: a HELD seat whose hold expires at or before now is
 * AVAILABLE. held_expiry matters only for HELD seats.
 * Twins: the seat judgement of bo_hold and the free-seat tests of
 * bo_pick_split in sql/postgres/002_functions.sql; SQ_FREE_SEAT, its SQLite
 * text in store/sqlite_sql.c. */
enum seat_status holdrule_seat_status(enum seat_status stored, int64_t held_expiry, int64_t now);

/* What the show-level checks need to know of a show. */
struct holdrule_show {
	bool exists;
	bool active; /* status ACTIVE, not CANCELLED */
	int64_t show_time;
	int rows, seats_per_row;
};

/* A show takes holds and confirms while it is ACTIVE and has not started.
 * Twin: the "status <> 'ACTIVE' OR show_time <= now" tests of
 * hold_seats_for_user, confirm_booking and hold_best_seats. */
bool holdrule_show_bookable(const struct holdrule_show *sh, int64_t now);

enum {
	HOLDRULE_CHECK_BOOKABLE = 1, /* ACTIVE and not started */
	HOLDRULE_CHECK_SEATS = 2,    /* every listed seat exists in the screen */
};

/* The show-level refusals of the order above, those asked for in checks:
 * SHOW_NOT_FOUND, then SHOW_NOT_BOOKABLE, then UNKNOWN_SEATS with the
 * unknown seats in bad (natural order; *nbad counts them, bad has room
 * for nseats). Sorts seats when it checks them. Returns OUTCOME_OK to go
 * on. Twins: the first checks of hold_seats_for_user, confirm_booking,
 * release_seats and hold_best_seats, and bo_unknown_seats. */
enum outcome holdrule_check_show(const struct holdrule_show *sh, unsigned checks, int64_t now,
                                 struct seat *seats, int nseats, struct seat *bad, int *nbad);

/* Whether a found booking (effective status at now) may be cancelled: OK
 * for STAGED and CONFIRMED before the show starts, and for CANCELLED (a
 * cancel again answers as the first did, even after the start);
 * BOOKING_NOT_CANCELLABLE for EXPIRED or a show that has started.
 * Twin: cancel_booking in sql/postgres/002_functions.sql. */
enum outcome holdrule_check_cancel(enum booking_status effective, int64_t show_time, int64_t now);

#endif
