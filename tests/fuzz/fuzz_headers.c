/* fuzz_headers.c - Idempotency-Key and every other header the API reads
 * (Content-Type, Authorization, X-Request-Id, ...). Input: byte 0 the
 * request, byte 1 the fake store's outcome, the rest "Name: value" lines.
 * The body is a valid one for the endpoint. Properties: fuzz_api.h. */
#include <string.h>

#include "fuzz.h"
#include "fuzz_api.h"

static const struct {
	const char *method, *target, *body;
} fuzz_reqs[] = {
    {"POST", "/api/bookings/hold", "{\"username\":\"u1\",\"showId\":1,\"seats\":[\"A1\"]}"},
    {"POST", "/api/bookings/confirm", "{\"username\":\"u1\",\"showId\":1,\"seats\":[\"A1\"]}"},
    {"POST", "/api/admin/movies",
     "{\"name\":\"m\",\"durationMinutes\":90,\"lastShowDate\":\"2030-01-01\"}"},
    {"GET", "/api/shows/1", ""},
    {"GET", "/api/bookings/user?username=u1", ""},
    {"GET", "/metrics", ""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *lines[FUZZ_HEADERS_MAX];
	int n;

	if (size < 2)
		return 0;
	size_t which = data[0] % (sizeof(fuzz_reqs) / sizeof(fuzz_reqs[0]));
	char *copy = fuzz_lines(data + 2, size - 2, lines, FUZZ_HEADERS_MAX, &n);
	struct fuzz_request r = {
	    .method = fuzz_reqs[which].method,
	    .target = fuzz_reqs[which].target,
	    .body = fuzz_reqs[which].body,
	    .body_len = strlen(fuzz_reqs[which].body),
	    .store_byte = data[1],
	};
	for (int i = 0; i < n; i++) {
		char *colon = strchr(lines[i], ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		r.header_names[r.nheaders] = lines[i];
		r.header_values[r.nheaders] = v;
		r.nheaders++;
	}
	fuzz_api_run(&r);
	free(copy);
	return 0;
}
