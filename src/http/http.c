/* http.c - libmicrohttpd glue: one epoll thread per core, suspend/resume
 * for answers that wait on the writer thread.
 *
 * libmicrohttpd 0.9.75 facts this file relies on (checked in its source):
 * answering on the first, headers-only call turns keep-alive off, so the
 * handler runs only on the final call; MHD_resume_connection() may be
 * called from any thread, even before the access handler that suspended
 * has returned. */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_config cfg;
	int quiesced;
};

struct http_body {
	atomic_int refs;
	size_t len;
	char *data;
};

struct http_request {
	struct MHD_Connection *conn;
	struct http_server *srv;
	const char *method;
	const char *path;
	char *body;
	size_t body_len;
	int too_large;
	int answered;
	struct MHD_Response *response;
	unsigned status;
	void *user_data;
	void (*user_free)(void *);
};

static const char http_json[] = "application/json";

struct http_body *http_body_new(char *data, size_t len)
{
	struct http_body *b = malloc(sizeof(*b));

	if (b == NULL) {
		free(data);
		return NULL;
	}
	atomic_init(&b->refs, 1);
	b->len = len;
	b->data = data;
	return b;
}

void http_body_ref(struct http_body *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void http_body_unref(struct http_body *b)
{
	if (b != NULL && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		free(b->data);
		free(b);
	}
}

static void http_body_release(void *cls)
{
	http_body_unref(cls);
}

const char *http_method(const struct http_request *req)
{
	return req->method;
}

const char *http_path(const struct http_request *req)
{
	return req->path;
}

const char *http_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_body_data(const struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body ? req->body : "";
}

void *http_user_data(const struct http_request *req)
{
	return req->user_data;
}

void http_set_user_data(struct http_request *req, void *data, void (*free_fn)(void *))
{
	req->user_data = data;
	req->user_free = free_fn;
}

void http_suspend(struct http_request *req)
{
	MHD_suspend_connection(req->conn);
}

void http_resume(struct http_request *req)
{
	MHD_resume_connection(req->conn);
}

static void http_attach(struct http_request *req, unsigned status, struct MHD_Response *resp,
                        const char *content_type)
{
	if (resp == NULL)
		return; /* out of memory: MHD closes the connection */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (req->response != NULL)
		MHD_destroy_response(req->response);
	req->response = resp;
	req->status = status;
}

void http_respond(struct http_request *req, unsigned status, const char *content_type, char *body,
                  size_t len, const char *hname, const char *hvalue)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(body);
		return;
	}
	if (hname != NULL)
		MHD_add_response_header(resp, hname, hvalue);
	http_attach(req, status, resp, content_type);
}

void http_respond_shared(struct http_request *req, unsigned status, const char *content_type,
                         struct http_body *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
	    body->len, body->data, http_body_release, body);

	if (resp == NULL) {
		http_body_unref(body);
		return;
	}
	http_attach(req, status, resp, content_type);
}

/* The JSON error for problems found before the API sees the request. */
static void http_respond_error(struct http_request *req, unsigned status, const char *code,
                               const char *message)
{
	char *body = NULL;
	int n = asprintf(&body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);

	if (n < 0)
		return;
	http_respond(req, status, http_json, body, (size_t)n, NULL, NULL);
}

static void http_respond_413(struct http_request *req)
{
	http_respond_error(req, 413, "PAYLOAD_TOO_LARGE", "the request body is larger than 64 KiB");
}

static enum MHD_Result http_queue(struct http_request *req)
{
	enum MHD_Result rc;

	if (req->response == NULL)
		return MHD_NO; /* could not build an answer: drop the connection */
	rc = MHD_queue_response(req->conn, req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	req->answered = 1;
	return rc;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	(void)version;

	if (req == NULL) {
		/* First call: headers only. Never answer here (keep-alive). */
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		req->conn = conn;
		req->srv = srv;
		req->method = method;
		req->path = url;
		*con_cls = req;
		const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen != NULL && strtoull(clen, NULL, 10) > HTTP_BODY_MAX) {
			/* Refuse before reading the body. MHD allows an answer
			 * only now or after the whole upload; answering now also
			 * closes the connection, which is right here. */
			http_respond_413(req);
			return http_queue(req);
		}
		return MHD_YES;
	}
	if (req->answered)
		return MHD_YES;
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->too_large || req->body_len + n > HTTP_BODY_MAX) {
			/* A chunked body that grew too large: read and drop the
			 * rest, answer 413 at the end. */
			req->too_large = 1;
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			return MHD_YES;
		}
		char *p = realloc(req->body, req->body_len + n + 1);
		if (p == NULL)
			return MHD_NO;
		memcpy(p + req->body_len, upload_data, n);
		req->body = p;
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (req->too_large) {
		http_respond_413(req);
		return http_queue(req);
	}
	srv->cfg.handler(srv->cfg.handler_arg, req);
	if (req->response != NULL)
		return http_queue(req);
	return MHD_YES; /* suspended: the handler runs again after resume */
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;

	if (req == NULL)
		return;
	if (req->user_free)
		req->user_free(req->user_data);
	if (req->response)
		MHD_destroy_response(req->response);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static int http_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding of paths and query values, in place. "%00" stays as it
 * is: a NUL would silently cut a C string short ("81%00x" read as "81"),
 * while the literal text fails validation with a clear 400. */
static size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *w = s;
	(void)cls;
	(void)conn;

	for (const char *r = s; *r; r++) {
		int hi, lo;
		if (*r == '%' && (hi = http_hex(r[1])) >= 0 && (lo = http_hex(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void http_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("boxoffice: http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int http_start(const struct http_config *cfg, struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_in addr;

	if (srv == NULL)
		return -1;
	srv->cfg = *cfg;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(cfg->port);
	if (inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
		fprintf(stderr, "boxoffice: listen address '%s' is not an IPv4 address\n",
		        cfg->host);
		free(srv);
		return -1;
	}
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	srv->daemon = MHD_start_daemon(
	    flags, cfg->port, NULL, NULL, http_access, srv, MHD_OPTION_EXTERNAL_LOGGER, http_log,
	    NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)(cfg->threads > 0 ? cfg->threads : 1), MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)HTTP_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HTTP_HEADER_MEMORY, MHD_OPTION_LISTEN_BACKLOG_SIZE,
	    (unsigned)HTTP_LISTEN_BACKLOG, MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL, MHD_OPTION_END);
	if (srv->daemon == NULL) {
		fprintf(stderr, "boxoffice: cannot listen on %s:%u\n", cfg->host, cfg->port);
		free(srv);
		return -1;
	}
	*out = srv;
	return 0;
}

uint16_t http_port(const struct http_server *srv)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void http_quiesce(struct http_server *srv)
{
	if (!srv->quiesced) {
		MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
		srv->quiesced = 1;
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
}

void http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
