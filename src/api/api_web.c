/* api_web.c - the files compiled into the binary: the seat-map page at /
 * (web/), the OpenAPI spec at /openapi.json and the /docs reference
 * rendered from it. They are few and immutable, so a lookup by path in the
 * generated table (embedded_web.h) is all the routing they need. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/embedded_web.h"

/* The page and the docs change with the binary: a browser revalidates. */
static const char api_web_cache[] = "no-cache";

void api_web_file(struct api *api, struct http_request *req, const char *seg)
{
	const char *path = http_path(req);
	(void)api;
	(void)seg;

	for (const struct embedded_web_file *f = embedded_web; f->path != NULL; f++) {
		if (strcmp(f->path, path) != 0)
			continue;
		/* The adapter takes a malloc'd body; these files are small except
		 * the docs bundle, and nothing here is on a hot path. */
		char *body = malloc(f->len > 0 ? f->len : 1);
		if (body == NULL)
			return; /* out of memory: the adapter drops the connection */
		memcpy(body, f->data, f->len);
		http_respond(req, 200, f->type, body, f->len, "Cache-Control", api_web_cache);
		return;
	}
	api_error(req, API_ERR_NOT_FOUND, NULL);
}
