/* jbuf.h - a growing buffer for writing JSON directly.
 *
 * Answers are written straight into one buffer (measured several times
 * faster than building a jansson tree for the seat map). Out of memory
 * sticks: later appends do nothing and jbuf_take() returns NULL. */
#ifndef BOXOFFICE_API_JBUF_H
#define BOXOFFICE_API_JBUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/seat.h"

struct jbuf {
	char *data;
	size_t len, cap;
	int failed;
};

void jbuf_init(struct jbuf *b, size_t hint);
/* Hands the NUL-terminated text to the caller; NULL after a failure. */
char *jbuf_take(struct jbuf *b, size_t *len);

void jbuf_raw(struct jbuf *b, const char *s, size_t n);
void jbuf_lit(struct jbuf *b, const char *s);
void jbuf_str(struct jbuf *b, const char *s); /* quoted and escaped */
void jbuf_int(struct jbuf *b, int64_t v);
void jbuf_time(struct jbuf *b, int64_t ms); /* RFC 3339 string, or null when 0 */
void jbuf_seat(struct jbuf *b, struct seat s);
void jbuf_seats(struct jbuf *b, const struct seat *s, size_t n); /* ["A1",...] */

#endif
