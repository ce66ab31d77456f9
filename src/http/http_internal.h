/* http_internal.h - what the http/ files share; not for other layers: the
 * server, request and shared-body structures, and the helpers http.c
 * (the library glue), http_request.c (a request as handlers see it) and
 * http_stream.c (streamed answers) call across files. */
#ifndef BOXOFFICE_HTTP_HTTP_INTERNAL_H
#define BOXOFFICE_HTTP_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "http/http.h"
#include "http/http_limits.h"

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_config cfg;
	struct http_limits *limits;
	int quiesced;
	atomic_uint_fast64_t framing_errors;
	/* The library's log lines (one per aborted connection, say) pass
	 * through a token bucket, so that a flood cannot fill the disk. */
	pthread_mutex_t log_lock;
	double log_tokens;
	int64_t log_last_ms;
	unsigned long log_dropped;
	atomic_int draining;
	atomic_uint active;   /* requests between first call and completion */
	uint32_t id_prefix;   /* random per process: ids of nodes differ */
	atomic_ullong id_seq; /* made-up request ids */
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
	int head;
	int have_addr;
	char addr[HTTP_ADDR_TEXT];
	struct http_conn *hconn;
	struct MHD_Response *response;
	unsigned status;
	size_t bytes;
	int64_t start_ns; /* CLOCK_MONOTONIC */
	int64_t end_ns;
	const char *route;
	char id[HTTP_REQUEST_ID_MAX + 1];
	char user[HTTP_USER_MAX + 1];
	void *user_data;
	void (*user_free)(void *);
};

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t http_now_ns(void);
/* The connection's IPv4 peer address, network byte order (0: not IPv4). */
uint32_t http_peer_be(struct MHD_Connection *conn);
/* Sets req->id: the client's X-Request-Id when valid, else a new one. */
void http_request_id_init(struct http_request *req);

struct MHD_Connection *http_request_connection(const struct http_request *req);
/* Makes resp (taken) the answer of req. */
void http_respond_mhd(struct http_request *req, unsigned status, struct MHD_Response *resp,
                      const char *content_type);

#endif
