/* fuzz_api.h - drives the real API (routing, query and body parsing,
 * Idempotency-Key and header handling, answers) on a fake HTTP layer and a
 * fake store (fake_api.c), so that a request runs in microseconds and the
 * decoded command can be checked.
 *
 * Properties checked on every request: the handler answers exactly once
 * (directly, or after its command completes); the status is one the
 * contract names; the body is JSON and an error has a code and a message;
 * a command reaching the store satisfies the contract's input rules
 * (valid username, positive ids, 1..max distinct seats in natural order,
 * a well-formed Idempotency-Key of printable ASCII). */
#ifndef BOXOFFICE_TESTS_FUZZ_FUZZ_API_H
#define BOXOFFICE_TESTS_FUZZ_FUZZ_API_H

#include <stddef.h>
#include <stdint.h>

enum { FUZZ_HEADERS_MAX = 32 };

struct fuzz_request {
	const char *method;
	const char *target; /* path and query, as sent (percent-encoded) */
	const char *header_names[FUZZ_HEADERS_MAX];
	const char *header_values[FUZZ_HEADERS_MAX];
	int nheaders;
	const char *body;
	size_t body_len;
	uint8_t store_byte; /* picks the fake store's outcome */
};

/* Runs one request through api_handle and checks the properties above. */
void fuzz_api_run(const struct fuzz_request *r);

/* "\n"-separated lines of data as NUL-terminated strings in a malloc'd
 * copy; *n lines at most max. Returns the copy (free it). */
char *fuzz_lines(const uint8_t *data, size_t size, char **lines, int max, int *n);

#endif
