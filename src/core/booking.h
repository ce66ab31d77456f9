/* booking.h - the booking (cart) value and its references.
 *
 * A user's held seats in one show form one STAGED booking; confirming it
 * keeps the same reference. References look like "BX-7K3Q9X2A": eight
 * symbols of a 30-letter alphabet without look-alikes (no 0/O, 1/I/L, U),
 * drawn from a caller-supplied random source, about 2^39 values. */
#ifndef BOXOFFICE_CORE_BOOKING_H
#define BOXOFFICE_CORE_BOOKING_H

#include <stddef.h>
#include <stdint.h>

#include "core/seat.h"

enum {
	BOOKING_SEATS_MAX = 100, /* hard cap on seats per booking/request */
	BOOKING_REF_SIZE = 12,   /* "BX-" + 8 symbols + NUL */
	BOOKING_REF_SYMBOLS = 8,
	USERNAME_MAX = 64,
	NAME_MAX_LEN = 200, /* screen and movie names */
};

enum booking_status {
	BOOKING_STAGED,
	BOOKING_CONFIRMED,
	BOOKING_CANCELLED,
	BOOKING_EXPIRED,
};

struct booking {
	char reference[BOOKING_REF_SIZE];
	enum booking_status status;
	char username[USERNAME_MAX + 1];
	int64_t show_id;
	char movie_name[NAME_MAX_LEN + 1];
	char screen_name[NAME_MAX_LEN + 1];
	int64_t show_time; /* ms since the epoch */
	int64_t created_at;
	int64_t expires_at;   /* STAGED only, else 0 */
	int64_t confirmed_at; /* 0 when never */
	int64_t cancelled_at; /* 0 when never */
	int nseats;
	struct seat seats[BOOKING_SEATS_MAX]; /* natural order */
};

const char *booking_status_name(enum booking_status s);
/* Returns 0 and the status for its upper-case name, else -1. */
int booking_status_parse(const char *name, enum booking_status *out);

/* Fills buf with a fresh reference from random bytes supplied by rnd.
 * Returns 0, or -1 when rnd fails. */
typedef int (*booking_random_fn)(void *arg, void *buf, size_t len);
int booking_ref_new(booking_random_fn rnd, void *arg, char buf[BOOKING_REF_SIZE]);

/* Returns 1 when s is shaped like a reference (any case), else 0. */
int booking_ref_valid(const char *s);

/* Returns 1 when s is a valid username: 1..64 of [A-Za-z0-9._@-]. */
int booking_username_valid(const char *s);

#endif
