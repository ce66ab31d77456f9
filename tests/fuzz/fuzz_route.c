/* fuzz_route.c - routing and path/query parsing: any method and request
 * target (path and query, percent-encoded) through the real API. Input:
 * byte 0 the method, byte 1 the fake store's outcome, the rest the target.
 * Properties: fuzz_api.h. */
#include <string.h>

#include "fuzz.h"
#include "fuzz_api.h"

static const char *const fuzz_methods[] = {"GET",   "POST",    "PUT", "DELETE",
                                           "PATCH", "OPTIONS", "get", "TRACE"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	char *target = strndup((const char *)data + 2, size - 2);
	struct fuzz_request r = {
	    .method = fuzz_methods[data[0] % (sizeof(fuzz_methods) / sizeof(fuzz_methods[0]))],
	    .target = target,
	    .header_names = {"Authorization"},
	    .header_values = {data[0] & 8 ? "Bearer fuzz-token" : "Bearer nope"},
	    .nheaders = 1,
	    .body = "{}",
	    .body_len = 2,
	    .store_byte = data[1],
	};
	fuzz_api_run(&r);
	free(target);
	return 0;
}
