/* http_parse.c - percent-decoding and header checks (see http_parse.h). */
#include "http/http_parse.h"

#include <strings.h>

static int http_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t http_parse_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r; r++) {
		int hi, lo;
		if (*r == '%' && (hi = http_hex(r[1])) >= 0 && (lo = http_hex(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static int http_has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 1;
	}
	return 0;
}

static int http_name_is(const char *key, size_t len, const char *name)
{
	size_t n = 0;

	while (name[n] != '\0')
		n++;
	return len == n && strncasecmp(key, name, n) == 0;
}

void http_framing_add(struct http_framing *f, const char *key, size_t key_len, const char *value,
                      size_t value_len)
{
	if (http_name_is(key, key_len, "Content-Length"))
		f->content_lengths++;
	else if (http_name_is(key, key_len, "Transfer-Encoding"))
		f->transfer_encodings++;
	if (http_has_control(key, key_len) || (value != NULL && http_has_control(value, value_len)))
		f->control_byte = 1;
}

const char *http_framing_verdict(const struct http_framing *f)
{
	if (f->content_lengths > 1)
		return "more than one Content-Length header";
	if (f->content_lengths > 0 && f->transfer_encodings > 0)
		return "both Content-Length and Transfer-Encoding";
	if (f->transfer_encodings > 1)
		return "more than one Transfer-Encoding header";
	if (f->control_byte)
		return "a control character in a request header";
	return NULL;
}
