/* embedded_web.h - the seat-map page (web/), the OpenAPI spec and the /docs
 * files (from npm's swagger-ui-dist), compiled in by CMake
 * (cmake/embed_web.cmake). The table ends with an entry whose path is NULL. */
#ifndef BOXOFFICE_API_EMBEDDED_WEB_H
#define BOXOFFICE_API_EMBEDDED_WEB_H

#include <stddef.h>

struct embedded_web_file {
	const char *path; /* the URL path it is served at */
	const char *type; /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct embedded_web_file embedded_web[];

#endif
