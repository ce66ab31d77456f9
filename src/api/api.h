/* api.h - the HTTP API of API.md on top of the store.
 *
 * One file per resource (api_shows.c, api_bookings.c, api_admin.c); this
 * module routes, parses and answers. JSON in -> validated command -> store
 * -> JSON out. Bad input is refused here, before any storage work. */
#ifndef BOXOFFICE_API_API_H
#define BOXOFFICE_API_API_H

#include "http/http.h"
#include "store/store.h"

struct api_config {
	int max_seats_per_request;
	const char *admin_token; /* NULL: the admin API answers 404 */
};

struct api;

int api_create(const struct api_config *cfg, struct store *st, struct api **out);
void api_destroy(struct api *api);

/* The http_handler_fn of the server; arg is the struct api. */
void api_handle(void *arg, struct http_request *req);

/* Called by the store listener after every commit (drops cached views). */
void api_on_commit(struct api *api, const struct store_cmd *cmd);

#endif
