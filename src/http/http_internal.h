/* http_internal.h - what the http/ files share; not for other layers. */
#ifndef BOXOFFICE_HTTP_HTTP_INTERNAL_H
#define BOXOFFICE_HTTP_HTTP_INTERNAL_H

#include <microhttpd.h>

#include "http/http.h"

struct MHD_Connection *http_request_connection(const struct http_request *req);
/* Makes resp (taken) the answer of req. */
void http_respond_mhd(struct http_request *req, unsigned status, struct MHD_Response *resp,
                      const char *content_type);

#endif
