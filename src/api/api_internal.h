/* api_internal.h - what the api/ files share; not for other layers.
 *
 * struct api (the state of one API instance) and the resource handlers
 * that api_routes.c's table points at. Where things live:
 *   api_routes.c     the route table: one line per endpoint
 *   api_shows.c, api_bookings.c, api_admin.c, api_health.c   resources
 *   api_web.c        the page, the OpenAPI spec and /docs (compiled in)
 *   api_events.c     GET /api/shows/{id}/events, the SSE stream
 *   ratelimit.c      token buckets in bounded memory
 *   api_parse.c      the JSON body and every field reader (pure)
 *   api_errors.c     the one table of error answers
 *   api_write.c      the write path and the Idempotency-Key in-flight table
 *   api_metrics.c    the /metrics counters
 *   api_opsmetrics.c the operator's /metrics families (requests, seats, storage)
 *   seatmap_cache.c  the per-show seat-map cache
 *   jbuf.c           writing JSON directly into a buffer
 *   api.c            creating and destroying the API; commit notifications */
#ifndef BOXOFFICE_API_API_INTERNAL_H
#define BOXOFFICE_API_API_INTERNAL_H

#include "api/api.h"
#include "api/api_errors.h"
#include "api/api_limits.h"
#include "api/api_metrics.h"
#include "api/api_parse.h"
#include "api/api_write.h"
#include "api/jbuf.h"
#include "api/seatmap_cache.h"

struct api_reqstats; /* requests by route and status, api_opsmetrics.c */

enum { API_METRICS_SHOWS_MAX = 20 }; /* shows in boxoffice_show_seats */

struct api {
	struct api_config cfg;
	struct store *store;
	struct seatmap_cache *seatmaps;
	struct api_metrics metrics;
	struct api_reqstats *reqstats;
	struct api_keys keys;
	struct api_limits limits;
};

/* A resource handler: answers req, or submits a command whose answer
 * follows (api_write.h). seg is the path's {id} segment, or NULL. */
typedef void (*api_handler_fn)(struct api *api, struct http_request *req, const char *seg);

void api_health_live(struct api *api, struct http_request *req, const char *seg);
void api_health_ready(struct api *api, struct http_request *req, const char *seg);
void api_metrics_get(struct api *api, struct http_request *req, const char *seg);
void api_shows_active(struct api *api, struct http_request *req, const char *seg);
void api_shows_get(struct api *api, struct http_request *req, const char *seg);
/* GET /api/shows/{id}/events (api_events.c). */
void api_shows_events(struct api *api, struct http_request *req, const char *seg);
/* The body of GET /api/shows/{id} (from the seat-map cache when fresh):
 * 0 with *o OK and a reference in *out, 0 with a refusal in *o, or <0
 * (storage trouble, *o UNAVAILABLE). */
int api_seatmap_body(struct api *api, int64_t show_id, struct http_body **out, enum outcome *o);
void api_bookings_hold(struct api *api, struct http_request *req, const char *seg);
void api_bookings_hold_best(struct api *api, struct http_request *req, const char *seg);
void api_bookings_confirm(struct api *api, struct http_request *req, const char *seg);
void api_bookings_release(struct api *api, struct http_request *req, const char *seg);
void api_bookings_cancel(struct api *api, struct http_request *req, const char *seg);
void api_bookings_details(struct api *api, struct http_request *req, const char *seg);
void api_bookings_user(struct api *api, struct http_request *req, const char *seg);
void api_admin_screens(struct api *api, struct http_request *req, const char *seg);
void api_admin_movies(struct api *api, struct http_request *req, const char *seg);
void api_admin_shows(struct api *api, struct http_request *req, const char *seg);
void api_admin_show_cancel(struct api *api, struct http_request *req, const char *seg);
/* The embedded page, spec and docs files (api_web.c), found by path. */
void api_web_file(struct api *api, struct http_request *req, const char *seg);

/* The route table (api_routes.c), for metrics: how many routes, the
 * template of route i, and the index of a template (-1: none; the
 * pointer http_set_route was given). */
int api_route_count(void);
const char *api_route_name(int i);
int api_route_index(const char *pattern);

/* api_opsmetrics.c: the request counters (0 or -1), and the families it
 * adds to /metrics. */
int api_reqstats_new(struct api *api);
void api_reqstats_free(struct api *api);
void api_opsmetrics_write(struct api *api, struct http_request *req, struct jbuf *b);

#endif
