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
 * Limits are named constants below; exceeding one is answered through the
 * error hook of http_config, so this layer never writes an error body. */
#ifndef BOXOFFICE_HTTP_HTTP_H
#define BOXOFFICE_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

enum {
	HTTP_BODY_MAX = 64 * 1024,      /* request body; 413 beyond */
	HTTP_HEADER_MEMORY = 32 * 1024, /* per-connection header memory */
	HTTP_LISTEN_BACKLOG = 4096,
	/* Defaults of the connection limits (options; see README). */
	HTTP_CONNECTIONS_DEFAULT = 16384, /* in all; refused at once beyond */
	HTTP_PER_IP_DEFAULT = 1024,       /* per client address */
	HTTP_IDLE_TIMEOUT_DEFAULT = 30,   /* s without a byte, keep-alive or not */
	HTTP_HEADER_TIMEOUT_DEFAULT = 10, /* s from a request's first byte to its headers' end */
	HTTP_BODY_TIMEOUT_DEFAULT = 20,   /* s from the headers' end to the body's end */
	HTTP_CONNECTIONS_MAX = 1000000,   /* what an option may ask for */
	HTTP_TIMEOUT_MAX = 86400,
	HTTP_FD_RESERVE = 256,    /* descriptors kept for files, the database, logs */
	HTTP_REQUEST_ID_MAX = 64, /* X-Request-Id: 1..64 of [A-Za-z0-9._:-] */
	HTTP_ROUTE_MAX = 64,      /* a route template, for logs and metrics */
	HTTP_USER_MAX = 64,       /* a username, for logs */
	/* Draining: the server is idle once no request has been in progress
	 * for this long (a request already sent is read within it). */
	HTTP_DRAIN_QUIET_MS = 200,
};

struct http_server;
struct http_request;

/* An immutable, reference-counted response body that many answers can
 * share (the seat-map cache). */
struct http_body;
struct http_body *http_body_new(char *data, size_t len); /* takes data */
void http_body_ref(struct http_body *b);
void http_body_unref(struct http_body *b);
/* The body's bytes (*data) and length. */
size_t http_body_len(const struct http_body *b, const char **data);

typedef void (*http_handler_fn)(void *arg, struct http_request *req);
/* Called once per finished request (answered, or dropped by the client or
 * the server) from a server thread, with the request still readable:
 * http_status(), http_route(), ... describe it. arg is done_arg. */
typedef void (*http_done_fn)(void *arg, const struct http_request *req);
/* Answers a request that http/ refuses itself, before the handler sees it
 * (400 for ambiguous framing, 413), with http_respond*(); arg is
 * handler_arg, message says what was wrong (NULL: nothing more to say).
 * Without a hook the answer is the bare status. */
typedef void (*http_error_fn)(void *arg, struct http_request *req, unsigned status,
                              const char *message);

struct http_config {
	const char *host;
	uint16_t port; /* 0: any free port */
	unsigned threads;
	http_handler_fn handler;
	http_error_fn error; /* may be NULL */
	void *handler_arg;
	unsigned conn_max, conn_per_ip;
	unsigned idle_timeout_s, header_timeout_s, body_timeout_s;
	const char *trusted_proxy; /* comma-separated IPv4 CIDRs or NULL */
	http_done_fn done;         /* may be NULL */
	void *done_arg;
};

int http_start(const struct http_config *cfg, struct http_server **out);
uint16_t http_port(const struct http_server *srv);
/* Graceful stop, first half: stops accepting connections, marks the
 * server draining (http_draining() is 1; every answer from now on carries
 * Connection: close), and waits until no request has been in progress for
 * HTTP_DRAIN_QUIET_MS or no connection is left, or timeout_ms passed.
 * Returns the number of requests still in progress (0: all answered). May
 * be called again, e.g. after the store resumed its last requests. */
int http_drain(struct http_server *srv, long timeout_ms);
/* Closes every connection and frees the server. */
void http_stop(struct http_server *srv);
/* Open connections and requests in progress, for metrics. */
unsigned http_connections(const struct http_server *srv);
unsigned http_requests_active(const struct http_server *srv);

const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);
/* A query argument or a request header; NULL when absent. */
const char *http_query(const struct http_request *req, const char *name);
const char *http_header(const struct http_request *req, const char *name);
const char *http_body_data(const struct http_request *req, size_t *len);
/* The client's address as text (IPv4 or IPv6): the peer's, or the one
 * X-Forwarded-For names when the peer is a trusted proxy. */
const char *http_client_addr(struct http_request *req);
/* 1 when the request was HEAD: http_method() says "GET" and the library
 * sends the answer's headers without its body. */
int http_is_head(const struct http_request *req);

/* Counters of the connection limits, for /metrics. */
struct http_stats {
	uint64_t refused_total, refused_per_ip, header_timeouts, body_timeouts;
	uint64_t half_closed;    /* the peer half-closed before its request was complete */
	uint64_t framing_errors; /* 400s for ambiguous framing or control bytes */
	uint64_t connections;    /* open now */
	uint64_t in_progress;    /* requests begun and not yet finished, now */
};
void http_get_stats(const struct http_request *req, struct http_stats *out);

/* 1 once the server is draining (shutting down): /readyz answers 503. */
int http_draining(const struct http_request *req);

/* The request id: the client's X-Request-Id when it is valid, else one
 * made up here. Every answer carries it in X-Request-Id. */
const char *http_request_id(const struct http_request *req);
/* What the handler knows about the request, for logs and metrics: the
 * route template ("/api/shows/{id}"; route must outlive the request, a
 * string constant) and the user it acts for (copied, cut at
 * HTTP_USER_MAX). Before set, the route is NULL and the user "". */
void http_set_route(struct http_request *req, const char *route);
void http_set_user(struct http_request *req, const char *user);
const char *http_route(const struct http_request *req);
const char *http_user(const struct http_request *req);
/* The answer, once sent: status (0 when none was queued), body bytes, and
 * microseconds from the request's first byte of headers being parsed to
 * the end. */
unsigned http_status(const struct http_request *req);
size_t http_bytes(const struct http_request *req);
long long http_duration_us(const struct http_request *req);

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
