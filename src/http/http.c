/* http.c - libmicrohttpd glue: one epoll thread per core, the access
 * handler (framing checks, body limits, the handler call), answers and
 * their shared bodies, the library's log, start, drain and stop. What a
 * handler reads of a request is http_request.c's.
 *
 * libmicrohttpd 0.9.75 facts this file relies on (checked in its source):
 * answering on the first, headers-only call turns keep-alive off, so the
 * handler runs only on the final call; MHD_resume_connection() may be
 * called from any thread, even before the access handler that suspended
 * has returned. */
#include "http/http.h"
#include "http/http_internal.h"

#include "http/http_limits.h"
#include "http/http_parse.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum {
	HTTP_LOG_BURST = 20, /* log lines at once, then HTTP_LOG_PER_S a second */
	HTTP_LOG_PER_S = 2,
};

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

size_t http_body_len(const struct http_body *b, const char **data)
{
	*data = b->data;
	return b->len;
}

static void http_body_release(void *cls)
{
	http_body_unref(cls);
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

struct MHD_Connection *http_request_connection(const struct http_request *req)
{
	return req->conn;
}

void http_respond_mhd(struct http_request *req, unsigned status, struct MHD_Response *resp,
                      const char *content_type)
{
	http_attach(req, status, resp, content_type);
}

void http_respond(struct http_request *req, unsigned status, const char *content_type, char *body,
                  size_t len, const char *hname, const char *hvalue)
{
	assert(req != NULL && status >= 100 && status <= 599 && content_type != NULL);
	assert(body != NULL && (hname == NULL) == (hvalue == NULL));
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(body);
		return;
	}
	if (hname != NULL)
		MHD_add_response_header(resp, hname, hvalue);
	http_attach(req, status, resp, content_type);
	req->bytes = len;
}

void http_respond_shared(struct http_request *req, unsigned status, const char *content_type,
                         struct http_body *body)
{
	assert(req != NULL && body != NULL && status >= 100 && status <= 599);
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
	    body->len, body->data, http_body_release, body);

	if (resp == NULL) {
		http_body_unref(body);
		return;
	}
	size_t len = body->len;
	http_attach(req, status, resp, content_type);
	req->bytes = len;
}

/* Whether a Content-Length value is a number above max. http/ uses
 * nothing of ours (ARCHITECTURE.md), so this is a checked strtoull rather
 * than core/num; MHD has already refused a malformed length with 400, so
 * only digits arrive, and one too long for 64 bits is above any max. */
static int http_length_over(const char *s, uint64_t max)
{
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return 1;
	return *end == '\0' && v > max;
}

/* A request refused here, before the handler sees it: the error hook
 * writes the answer (http/ knows no error bodies). */
static void http_refuse(struct http_request *req, unsigned status, const char *message)
{
	const struct http_config *cfg = &req->srv->cfg;

	if (cfg->error != NULL) {
		cfg->error(cfg->handler_arg, req, status, message);
		return;
	}
	char *empty = malloc(1);
	if (empty != NULL)
		http_respond(req, status, "text/plain", empty, 0, NULL, NULL);
}

static enum MHD_Result http_queue(struct http_request *req)
{
	enum MHD_Result rc;

	if (req->response == NULL)
		return MHD_NO; /* could not build an answer: drop the connection */
	MHD_add_response_header(req->response, "X-Request-Id", req->id);
	/* Draining: no request after this one on the connection, so that
	 * keep-alive clients move to another node. */
	if (atomic_load_explicit(&req->srv->draining, memory_order_relaxed))
		MHD_add_response_header(req->response, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(req->conn, req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	req->answered = 1;
	return rc;
}

static enum MHD_Result http_scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                        size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	http_framing_add(cls, key, key_size, value, value_size);
	return MHD_YES;
}

/* The 400's message when the headers are ambiguous or hold a control
 * byte (http_framing_verdict()), else NULL. libmicrohttpd has already cut
 * each value at its first NUL (it stores C strings), so a NUL cannot be
 * seen here; see the README's limits table. */
static const char *http_framing_error(struct MHD_Connection *conn)
{
	struct http_framing f = {0};

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_scan_header, &f);
	return http_framing_verdict(&f);
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
		if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
			req->head = 1;
			req->method = MHD_HTTP_METHOD_GET;
		}
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		req->hconn = ci ? ci->socket_context : NULL;
		http_limits_body_started(req->hconn);
		req->start_ns = http_now_ns();
		http_request_id_init(req);
		atomic_fetch_add_explicit(&srv->active, 1, memory_order_relaxed);
		*con_cls = req;
		const char *bad = http_framing_error(conn);
		if (bad != NULL) {
			/* Answered now, so the connection closes and whatever
			 * follows is never read as a request. */
			atomic_fetch_add(&srv->framing_errors, 1);
			http_refuse(req, 400, bad);
			return http_queue(req);
		}
		const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen != NULL && http_length_over(clen, HTTP_BODY_MAX)) {
			/* Refuse before reading the body. MHD allows an answer
			 * only now or after the whole upload; answering now also
			 * closes the connection, which is right here. (A
			 * malformed length never gets here: MHD answers 400.) */
			http_refuse(req, 413, NULL);
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
	http_limits_busy(req->hconn);
	if (req->too_large) {
		http_refuse(req, 413, NULL);
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
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	(void)conn;
	(void)toe;

	if (req == NULL)
		return;
	http_limits_idle(req->hconn);
	req->end_ns = http_now_ns();
	if (srv->cfg.done != NULL)
		srv->cfg.done(srv->cfg.done_arg, req);
	atomic_fetch_sub_explicit(&srv->active, 1, memory_order_release);
	if (req->user_free)
		req->user_free(req->user_data);
	if (req->response)
		MHD_destroy_response(req->response);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return http_parse_unescape(s);
}

static int64_t http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void http_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	int64_t now = http_now_ms();
	unsigned long dropped = 0;
	int ok = 0;

	pthread_mutex_lock(&srv->log_lock);
	srv->log_tokens += (double)(now - srv->log_last_ms) * HTTP_LOG_PER_S / 1000.0;
	if (srv->log_tokens > HTTP_LOG_BURST)
		srv->log_tokens = HTTP_LOG_BURST;
	srv->log_last_ms = now;
	if (srv->log_tokens >= 1.0) {
		srv->log_tokens -= 1.0;
		dropped = srv->log_dropped;
		srv->log_dropped = 0;
		ok = 1;
	} else {
		srv->log_dropped++;
	}
	pthread_mutex_unlock(&srv->log_lock);
	if (!ok)
		return;
	if (dropped > 0)
		fprintf(stderr, "boxoffice: http: %lu similar lines not logged\n", dropped);
	fputs("boxoffice: http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

static enum MHD_Result http_accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *srv = cls;

	if (addr == NULL || addr->sa_family != AF_INET || addrlen < sizeof(struct sockaddr_in))
		return MHD_NO; /* the listener is IPv4 only */
	uint32_t ip = ((const struct sockaddr_in *)(const void *)addr)->sin_addr.s_addr;
	return http_limits_accept(srv->limits, ip) ? MHD_YES : MHD_NO;
}

static void http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context =
		    http_limits_open(srv->limits, ci ? ci->connect_fd : -1, http_peer_be(conn));
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		http_limits_close(srv->limits, *socket_context);
		*socket_context = NULL;
	}
}

/* Raises the soft descriptor limit to what conn_max needs, or lowers
 * conn_max to what the hard limit allows (and says so). */
static void http_fit_fd_limit(struct http_config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->conn_max + HTTP_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < want) {
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want) {
		unsigned fit = rl.rlim_cur > 2 * (rlim_t)HTTP_FD_RESERVE
		                   ? (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE)
		                   : (unsigned)(rl.rlim_cur / 2);
		fprintf(stderr,
		        "boxoffice: the file limit (%llu) allows %u connections, not %u; "
		        "serving %u\n",
		        (unsigned long long)rl.rlim_cur, fit, cfg->conn_max, fit);
		cfg->conn_max = fit;
	}
}

int http_start(const struct http_config *cfg, struct http_server **out)
{
	struct http_server *srv;
	struct sockaddr_in addr;

	assert(cfg != NULL && cfg->host != NULL && cfg->handler != NULL && cfg->conn_max > 0);
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -1;
	srv->cfg = *cfg;
	if (srv->cfg.conn_max == 0)
		srv->cfg.conn_max = HTTP_CONNECTIONS_DEFAULT;
	http_fit_fd_limit(&srv->cfg);
	pthread_mutex_init(&srv->log_lock, NULL);
	srv->log_tokens = HTTP_LOG_BURST;
	srv->log_last_ms = http_now_ms();
	struct http_limits_config lcfg = {
	    .conn_max = srv->cfg.conn_max,
	    .conn_per_ip = cfg->conn_per_ip,
	    .header_timeout_s = cfg->header_timeout_s,
	    .body_timeout_s = cfg->body_timeout_s,
	    .trusted_proxy = cfg->trusted_proxy,
	};
	if (http_limits_start(&lcfg, &srv->limits) != 0) {
		pthread_mutex_destroy(&srv->log_lock);
		free(srv);
		return -1;
	}
	if (getrandom(&srv->id_prefix, sizeof(srv->id_prefix), 0) != sizeof(srv->id_prefix))
		srv->id_prefix = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(cfg->port);
	if (inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
		fprintf(stderr, "boxoffice: listen address '%s' is not an IPv4 address\n",
		        cfg->host);
		goto fail;
	}
	unsigned threads = cfg->threads > 0 ? cfg->threads : 1;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	/* The global limit is ours (http_limits_accept): libmicrohttpd
	 * splits its own limit between the worker threads and, once a
	 * worker reaches its share, stops accepting, so connections queue in
	 * the backlog. Giving each worker the whole limit leaves refusing to
	 * us, and we refuse at once. */
	srv->daemon = MHD_start_daemon(
	    flags, cfg->port, http_accept_policy, srv, http_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
	    http_log, srv, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_LIMIT, srv->cfg.conn_max * threads, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_HEADER_MEMORY,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)HTTP_LISTEN_BACKLOG,
	    MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED,
	    http_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, http_notify, srv, MHD_OPTION_END);
	if (srv->daemon == NULL) {
		fprintf(stderr, "boxoffice: cannot listen on %s:%u\n", cfg->host, cfg->port);
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	http_limits_stop(srv->limits);
	pthread_mutex_destroy(&srv->log_lock);
	free(srv);
	return -1;
}

uint16_t http_port(const struct http_server *srv)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

/* Stops accepting connections (answers in flight go on). */
static void http_quiesce(struct http_server *srv)
{
	if (!srv->quiesced) {
		MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
		srv->quiesced = 1;
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
}

unsigned http_connections(const struct http_server *srv)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info ? info->num_connections : 0;
}

unsigned http_requests_active(const struct http_server *srv)
{
	return atomic_load_explicit(&srv->active, memory_order_acquire);
}

int http_drain(struct http_server *srv, long timeout_ms)
{
	enum { STEP_MS = 10 };
	long quiet = 0;

	atomic_store(&srv->draining, 1);
	http_quiesce(srv);
	for (long waited = 0; waited < timeout_ms; waited += STEP_MS) {
		if (http_connections(srv) == 0)
			break;
		quiet = http_requests_active(srv) == 0 ? quiet + STEP_MS : 0;
		if (quiet >= HTTP_DRAIN_QUIET_MS)
			break;
		nanosleep(&(struct timespec){0, STEP_MS * 1000000L}, NULL);
	}
	return (int)http_requests_active(srv);
}

void http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->daemon);
	http_limits_stop(srv->limits);
	pthread_mutex_destroy(&srv->log_lock);
	free(srv);
}
