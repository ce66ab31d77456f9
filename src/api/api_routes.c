/* api_routes.c - the route table and the handler http/ calls.
 *
 * Adding an endpoint is one line in api_routes[] and its handler in the
 * resource's file (api_internal.h lists them). A path that matches some
 * route but not its method is 405 with Allow (GET routes allow HEAD too);
 * no match at all is 404, and so is every admin path while no admin token
 * is configured, whatever the method, so that they do not show. */
#include <assert.h>
#include <string.h>

#include "api/api_internal.h"

struct api_route {
	const char *method;
	const char *path; /* "{id}" matches one path segment */
	api_handler_fn fn;
	enum api_limit_class limit; /* whose per-address rate limit applies */
	int admin;                  /* absent (404 to every method) without an admin token */
};

#define R_READ  .limit = API_LIMIT_READ
#define R_WRITE .limit = API_LIMIT_WRITE
#define R_ADMIN .limit = API_LIMIT_ADMIN, .admin = 1

static const struct api_route api_routes[] = {
    {.method = "GET", .path = "/healthz", .fn = api_health_live},
    {.method = "GET", .path = "/readyz", .fn = api_health_ready},
    {.method = "GET", .path = "/metrics", .fn = api_metrics_get},
    {.method = "GET", .path = "/api/shows/active", .fn = api_shows_active, R_READ},
    {.method = "GET", .path = "/api/shows/{id}", .fn = api_shows_get, R_READ},
    {.method = "GET", .path = "/api/shows/{id}/events", .fn = api_shows_events, R_READ},
    {.method = "POST", .path = "/api/bookings/hold", .fn = api_bookings_hold, R_WRITE},
    {.method = "POST", .path = "/api/bookings/hold-best", .fn = api_bookings_hold_best, R_WRITE},
    {.method = "POST", .path = "/api/bookings/confirm", .fn = api_bookings_confirm, R_WRITE},
    {.method = "POST", .path = "/api/bookings/release", .fn = api_bookings_release, R_WRITE},
    {.method = "POST", .path = "/api/bookings/cancel", .fn = api_bookings_cancel, R_WRITE},
    {.method = "GET", .path = "/api/bookings/details", .fn = api_bookings_details, R_READ},
    {.method = "GET", .path = "/api/bookings/user", .fn = api_bookings_user, R_READ},
    {.method = "POST", .path = "/api/admin/screens", .fn = api_admin_screens, R_ADMIN},
    {.method = "POST", .path = "/api/admin/movies", .fn = api_admin_movies, R_ADMIN},
    {.method = "POST", .path = "/api/admin/shows", .fn = api_admin_shows, R_ADMIN},
    {.method = "POST",
     .path = "/api/admin/shows/{id}/cancel",
     .fn = api_admin_show_cancel,
     R_ADMIN},
    {.method = "GET", .path = "/", .fn = api_web_file, R_READ},
    {.method = "GET", .path = "/web/{id}", .fn = api_web_file, R_READ},
    {.method = "GET", .path = "/openapi.json", .fn = api_web_file, R_READ},
    {.method = "GET", .path = "/docs", .fn = api_web_file, R_READ},
    {.method = "GET", .path = "/docs/{id}", .fn = api_web_file, R_READ},
};

#undef R_READ
#undef R_WRITE
#undef R_ADMIN

enum { API_ROUTES = sizeof(api_routes) / sizeof(api_routes[0]) };

int api_route_count(void)
{
	return API_ROUTES;
}

const char *api_route_name(int i)
{
	return i >= 0 && i < API_ROUTES ? api_routes[i].path : "other";
}

int api_route_index(const char *pattern)
{
	for (int i = 0; pattern != NULL && i < API_ROUTES; i++)
		if (api_routes[i].path == pattern)
			return i;
	return -1;
}

enum {
	API_SEGMENT_MAX = 64, /* longer is no id: the handler answers 400 */
	API_ALLOW_MAX = 64,   /* "GET, POST, ..." */
};

/* Matches path against pattern; copies the {id} segment into seg. */
static int api_route_match(const char *pattern, const char *path, char seg[API_SEGMENT_MAX])
{
	while (*pattern && *path) {
		if (strncmp(pattern, "{id}", 4) == 0) {
			size_t n = strcspn(path, "/");
			if (n == 0)
				return 0;
			if (n >= API_SEGMENT_MAX) {
				memcpy(seg, "-", 2);
			} else {
				memcpy(seg, path, n);
				seg[n] = '\0';
			}
			pattern += 4;
			path += n;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

/* Adds method to the Allow list unless it is there. */
static void api_route_allow(char allow[API_ALLOW_MAX], const char *method)
{
	size_t len = strlen(allow);

	if (strstr(allow, method) != NULL)
		return;
	assert(len + strlen(method) + 9 <= API_ALLOW_MAX);
	/* http/ answers HEAD as GET, so a GET route allows both. */
	snprintf(allow + len, API_ALLOW_MAX - len, "%s%s%s", len ? ", " : "", method,
	         strcmp(method, "GET") == 0 ? ", HEAD" : "");
}

void api_handle(void *arg, struct http_request *req)
{
	struct api *api = arg;
	struct api_pending *p = http_user_data(req);
	const char *method = http_method(req), *path = http_path(req);
	char seg[API_SEGMENT_MAX], allow[API_ALLOW_MAX] = "";

	if (p != NULL) {
		/* Resumed after the store finished this request's command. */
		api_pending_answer(p);
		return;
	}
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const struct api_route *r = &api_routes[i];
		seg[0] = '\0';
		if (r->admin && (api->cfg.admin_token == NULL || api->cfg.admin_token[0] == '\0'))
			continue;
		if (!api_route_match(r->path, path, seg))
			continue;
		if (http_route(req) == NULL)
			http_set_route(req, r->path); /* a 405 is counted under its path */
		if (strcmp(r->method, method) == 0) {
			http_set_route(req, r->path); /* for the request log and metrics */
			if (api_limits_admit(api, req, r->limit) != 0)
				return;
			r->fn(api, req, seg[0] ? seg : NULL);
			return;
		}
		api_route_allow(allow, r->method);
	}
	if (allow[0])
		api_error_header(req, API_ERR_METHOD_NOT_ALLOWED, NULL, "Allow", allow);
	else
		api_error(req, API_ERR_NOT_FOUND, NULL);
}
