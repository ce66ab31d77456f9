/* ratelimit.h - token buckets keyed by a string (a client address, a
 * username), in bounded memory.
 *
 * A bucket holds up to `burst` tokens and gains `rate` a second; a request
 * takes one. The table has a fixed number of slots, set-associative: a key
 * new to a full set takes the slot of the fullest bucket there (one that has
 * refilled, so forgetting it loses nothing), so memory never grows with the
 * number of clients and an attacker cycling keys only ever gets fresh
 * bursts, never more memory. Thread-safe (striped locks). The clock is the
 * caller's, in milliseconds. */
#ifndef BOXOFFICE_API_RATELIMIT_H
#define BOXOFFICE_API_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

enum {
	RATELIMIT_SLOTS = 65536, /* buckets per limiter: 64 K keys at once */
	RATELIMIT_WAYS = 4,
	RATELIMIT_TEXT = 32, /* "RATE/BURST" option text */
};

/* A limit as an option gives it: 0 rate turns it off. */
struct ratelimit_spec {
	double rate;  /* tokens a second */
	double burst; /* bucket size, at least 1 */
};

/* Parses "RATE" or "RATE/BURST" (burst defaults to 2 x rate, at least 1);
 * "0" is off. Returns 0, or -1 when malformed or out of [0, 1e6]. */
int ratelimit_parse(const char *text, struct ratelimit_spec *out);

struct ratelimit;

/* A limiter, or NULL for an off spec (every ratelimit_take() on NULL
 * allows). Returns 0, or -1 when out of memory. */
int ratelimit_new(const struct ratelimit_spec *spec, struct ratelimit **out);
void ratelimit_free(struct ratelimit *rl);

/* Takes a token from key's bucket. Returns 1 when allowed; 0 when not,
 * with *retry_after_s the whole seconds until a token (at least 1). */
int ratelimit_take(struct ratelimit *rl, const char *key, size_t len, int64_t now_ms,
                   unsigned *retry_after_s);

#endif
