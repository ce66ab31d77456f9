/* holdrule.c - the hold rules of holdrule.h: expiry and its lifetime cap,
 * effective statuses at a moment, the show-level refusals in order. */
#include "core/holdrule.h"

#include <stddef.h>

int64_t holdrule_expiry(int64_t created_at, int64_t now, int64_t ttl_ms, int64_t max_lifetime_ms)
{
	int64_t expires = now + ttl_ms;
	int64_t cap = created_at + max_lifetime_ms;

	return expires < cap ? expires : cap;
}

enum booking_status holdrule_booking_status(enum booking_status stored, int64_t expires_at,
                                            int64_t now)
{
	if (stored == BOOKING_STAGED && expires_at <= now)
		return BOOKING_EXPIRED;
	return stored;
}

enum seat_status holdrule_seat_status(enum seat_status stored, int64_t held_expiry, int64_t now)
{
	if (stored == SEAT_HELD && held_expiry <= now)
		return SEAT_AVAILABLE;
	return stored;
}

bool holdrule_show_bookable(const struct holdrule_show *sh, int64_t now)
{
	return sh->exists && sh->active && sh->show_time > now;
}

enum outcome holdrule_check_show(const struct holdrule_show *sh, unsigned checks, int64_t now,
                                 struct seat *seats, int nseats, struct seat *bad, int *nbad)
{
	*nbad = 0;
	if (!sh->exists)
		return OUTCOME_SHOW_NOT_FOUND;
	if ((checks & HOLDRULE_CHECK_BOOKABLE) && !holdrule_show_bookable(sh, now))
		return OUTCOME_SHOW_NOT_BOOKABLE;
	if (checks & HOLDRULE_CHECK_SEATS) {
		seat_sort(seats, (size_t)nseats);
		for (int i = 0; i < nseats; i++)
			if (seats[i].row >= sh->rows || seats[i].number > sh->seats_per_row)
				bad[(*nbad)++] = seats[i];
		if (*nbad > 0)
			return OUTCOME_UNKNOWN_SEATS;
	}
	return OUTCOME_OK;
}

enum outcome holdrule_check_cancel(enum booking_status effective, int64_t show_time, int64_t now)
{
	if (effective == BOOKING_CANCELLED)
		return OUTCOME_OK;
	if (effective == BOOKING_EXPIRED || show_time <= now)
		return OUTCOME_BOOKING_NOT_CANCELLABLE;
	return OUTCOME_OK;
}
