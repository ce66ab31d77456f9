/* fuzz_body.c - every endpoint's JSON body decoded into a command. Input:
 * byte 0 the endpoint, byte 1 the fake store's outcome, the rest the body
 * (any bytes). Each command that reaches the store is checked against the
 * contract's input rules; properties: fuzz_api.h. */
#include "fuzz.h"
#include "fuzz_api.h"

static const char *const fuzz_posts[] = {
    "/api/bookings/hold",    "/api/bookings/hold-best", "/api/bookings/confirm",
    "/api/bookings/release", "/api/bookings/cancel",    "/api/admin/screens",
    "/api/admin/movies",     "/api/admin/shows",        "/api/admin/shows/7/cancel",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct fuzz_request r = {
	    .method = "POST",
	    .target = fuzz_posts[data[0] % (sizeof(fuzz_posts) / sizeof(fuzz_posts[0]))],
	    .header_names = {"Authorization", "Content-Type"},
	    .header_values = {"Bearer fuzz-token", "application/json"},
	    .nheaders = 2,
	    .body = (const char *)data + 2,
	    .body_len = size - 2,
	    .store_byte = data[1],
	};
	fuzz_api_run(&r);
	return 0;
}
