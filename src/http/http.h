/* http.h - the HTTP server adapter (libmicrohttpd underneath).
 *
 * The adapter owns listening, request parsing, limits, keep-alive and
 * writing answers. It calls one handler per complete request (whole body
 * read) and the handler answers with http_respond*(). A handler that must
 * wait (for the store's writer) calls http_suspend() BEFORE handing the work
 * on, and whoever finishes the work calls http_resume() from any thread;
 * the handler is then called again for the same request, finds its state
 * with http_user_data() and answers. Nothing here knows the API.
 *
 * Limits are named constants below; exceeding one gives a JSON error. */
#ifndef BOXOFFICE_HTTP_HTTP_H
#define BOXOFFICE_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

enum {
	HTTP_BODY_MAX = 64 * 1024,      /* request body; 413 beyond */
	HTTP_HEADER_MEMORY = 32 * 1024, /* per-connection header memory */
	HTTP_CONNECTIONS_MAX = 4096,
	HTTP_IDLE_TIMEOUT_S = 30, /* per-request/idle timeout */
	HTTP_LISTEN_BACKLOG = 4096,
};

struct http_server;
struct http_request;

/* An immutable, reference-counted response body that many answers can
 * share (the seat-map cache). */
struct http_body;
struct http_body *http_body_new(char *data, size_t len); /* takes data */
void http_body_ref(struct http_body *b);
void http_body_unref(struct http_body *b);

typedef void (*http_handler_fn)(void *arg, struct http_request *req);

struct http_config {
	const char *host;
	uint16_t port; /* 0: any free port */
	unsigned threads;
	http_handler_fn handler;
	void *handler_arg;
};

int http_start(const struct http_config *cfg, struct http_server **out);
uint16_t http_port(const struct http_server *srv);
/* Stops accepting connections (answers in flight go on). */
void http_quiesce(struct http_server *srv);
void http_stop(struct http_server *srv);

const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);
/* A query argument or a request header; NULL when absent. */
const char *http_query(const struct http_request *req, const char *name);
const char *http_header(const struct http_request *req, const char *name);
const char *http_body_data(const struct http_request *req, size_t *len);

void *http_user_data(const struct http_request *req);
/* Attaches handler state, freed with free_fn when the request ends. */
void http_set_user_data(struct http_request *req, void *data, void (*free_fn)(void *));

void http_suspend(struct http_request *req);
void http_resume(struct http_request *req);

/* Answers with body (malloc'd, taken). Extra header: name/value or NULLs. */
void http_respond(struct http_request *req, unsigned status, const char *content_type, char *body,
                  size_t len, const char *hname, const char *hvalue);
/* Answers with a shared body (takes one reference). */
void http_respond_shared(struct http_request *req, unsigned status, const char *content_type,
                         struct http_body *body);

#endif
