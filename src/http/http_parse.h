/* http_parse.h - the adapter's own parsing of what libmicrohttpd hands it:
 * percent-decoding of paths and query values, and the framing and
 * control-byte checks on request headers. Pure functions of their input,
 * so they are tested and fuzzed alone (tests/fuzz/fuzz_http.c). */
#ifndef BOXOFFICE_HTTP_HTTP_PARSE_H
#define BOXOFFICE_HTTP_HTTP_PARSE_H

#include <stddef.h>

/* Percent-decodes the C string s in place; returns its new length. "%00"
 * stays as it is: a NUL would silently cut a C string short ("81%00x"
 * read as "81"), while the literal text fails validation with a clear
 * 400. Malformed escapes stay as they are too. */
size_t http_parse_unescape(char *s);

/* What a scan of a request's headers found. Zero-initialise, add every
 * header, then ask for the verdict. */
struct http_framing {
	unsigned content_lengths;
	unsigned transfer_encodings;
	int control_byte;
};

void http_framing_add(struct http_framing *f, const char *key, size_t key_len, const char *value,
                      size_t value_len);

/* NULL when the request's framing is unambiguous and no header holds a
 * control byte (other than tab); else the message of its 400. Framing that
 * two parsers could read two ways is refused, so that a lenient proxy in
 * front can never smuggle a second request in a body: more than one
 * Content-Length or Transfer-Encoding, or both. */
const char *http_framing_verdict(const struct http_framing *f);

#endif
