/* api.h - the HTTP API of API.md on top of the store.
 *
 * JSON in -> validated command -> store -> JSON out. Bad input is refused
 * here, before any storage work. api_internal.h says which file of api/
 * owns what (routes, parsing, errors, the write path, ...). */
#ifndef BOXOFFICE_API_API_H
#define BOXOFFICE_API_API_H

#include "events/events.h"
#include "api/ratelimit.h"
#include "http/http.h"
#include "store/store.h"

struct api_config {
	int max_seats_per_request; /* 1..BOOKING_SEATS_MAX */
	const char *admin_token;   /* NULL: the admin API answers 404 */
	struct events *events;     /* the change feed behind /events */
	/* Rate limits (rate 0: off) and the per-address held-seat cap (0:
	 * off); api_config_defaults() sets the documented defaults. */
	struct ratelimit_spec write_rate_user, write_rate_ip, read_rate_ip, admin_rate_ip;
	int max_held_seats_per_ip;
};

/* The per-username write limit's default, as an option takes it. */
#define API_WRITE_RATE_USER_TEXT "20/40"

enum {
	API_WRITE_RATE_USER_DEFAULT = 20, /* writes a second per username */
	API_WRITE_BURST_USER_DEFAULT = 40,
	API_HELD_PER_IP_MAX = 100000, /* what --max-held-seats-per-ip may ask for */
};

/* The defaults of every field above but max_seats_per_request (10) and
 * admin_token (NULL). */
void api_config_defaults(struct api_config *cfg);

struct api;

/* Returns 0 and the API in *out, or -1 out of memory. st must outlive it. */
int api_create(const struct api_config *cfg, struct store *st, struct api **out);
void api_destroy(struct api *api);

/* Registers the API with an http_config: its request handler, and the
 * error hook through which http/'s protocol errors (413) get the API's
 * error answers. */
void api_http_hooks(struct api *api, struct http_config *cfg);

/* How the change feed (events/) reaches event-stream viewers: over
 * http/'s streams (api_events.c). */
extern const struct events_io api_events_io;

/* The http_handler_fn of the server; arg is the struct api. */
void api_handle(void *arg, struct http_request *req);

/* Called by the store listener after every commit (drops cached views). */
void api_on_commit(struct api *api, const struct store_cmd *cmd);

/* Counts a finished request for /metrics (route, status, duration); the
 * body of an http_done_fn. */
void api_observe_request(struct api *api, const struct http_request *req);

#endif
