/* jbuf.c - direct JSON writing. */
#include "api/jbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

void jbuf_init(struct jbuf *b, size_t hint)
{
	b->len = 0;
	b->cap = hint < 64 ? 64 : hint;
	b->data = malloc(b->cap);
	b->failed = b->data == NULL;
}

static void jbuf_free(struct jbuf *b)
{
	free(b->data);
	b->data = NULL;
}

char *jbuf_take(struct jbuf *b, size_t *len)
{
	char *d;

	jbuf_raw(b, "", 1); /* NUL, not counted */
	if (b->failed) {
		jbuf_free(b);
		return NULL;
	}
	d = b->data;
	*len = b->len - 1;
	b->data = NULL;
	return d;
}

static int jbuf_reserve(struct jbuf *b, size_t n)
{
	if (b->failed)
		return -1;
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap;
	while (cap < b->len + n)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void jbuf_raw(struct jbuf *b, const char *s, size_t n)
{
	if (jbuf_reserve(b, n) == 0) {
		memcpy(b->data + b->len, s, n);
		b->len += n;
	}
}

void jbuf_lit(struct jbuf *b, const char *s)
{
	jbuf_raw(b, s, strlen(s));
}

void jbuf_str(struct jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	jbuf_raw(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[6];
		switch (*p) {
		case '"':
			jbuf_raw(b, "\\\"", 2);
			break;
		case '\\':
			jbuf_raw(b, "\\\\", 2);
			break;
		case '\n':
			jbuf_raw(b, "\\n", 2);
			break;
		case '\r':
			jbuf_raw(b, "\\r", 2);
			break;
		case '\t':
			jbuf_raw(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[*p >> 4];
				esc[5] = hex[*p & 15];
				jbuf_raw(b, esc, 6);
			} else {
				jbuf_raw(b, (const char *)p, 1);
			}
		}
	}
	jbuf_raw(b, "\"", 1);
}

void jbuf_int(struct jbuf *b, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);

	jbuf_raw(b, tmp, (size_t)n);
}

void jbuf_time(struct jbuf *b, int64_t ms)
{
	char tmp[TIMEFMT_SIZE];

	if (ms == 0) {
		jbuf_raw(b, "null", 4);
		return;
	}
	int n = timefmt_format(ms, tmp);
	jbuf_raw(b, "\"", 1);
	jbuf_raw(b, tmp, (size_t)n);
	jbuf_raw(b, "\"", 1);
}

void jbuf_seat(struct jbuf *b, struct seat s)
{
	char label[SEAT_LABEL_SIZE + 2];
	int n = seat_format(s, label + 1);

	label[0] = '"';
	label[n + 1] = '"';
	jbuf_raw(b, label, (size_t)n + 2);
}

void jbuf_seats(struct jbuf *b, const struct seat *s, size_t n)
{
	jbuf_raw(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			jbuf_raw(b, ",", 1);
		jbuf_seat(b, s[i]);
	}
	jbuf_raw(b, "]", 1);
}
