/* http_request.c - a request as handlers see it: method, path, query,
 * headers, body, the client's address (through trusted proxies), the
 * request id, what the handler tells the log (route, user), the answer's
 * status, size and duration, handler state, suspend and resume. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/http_internal.h"

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

uint32_t http_peer_be(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (ci == NULL || ci->client_addr == NULL || ci->client_addr->sa_family != AF_INET)
		return 0;
	return ((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr.s_addr;
}

/* Every X-Forwarded-For line joined with commas, as RFC 9110 reads
 * repeated fields: haproxy adds its own line after the client's. */
struct http_xff {
	char *text;
	size_t len;
};

static enum MHD_Result http_xff_add(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
	struct http_xff *x = cls;
	(void)kind;

	if (value == NULL || key_size != 15 || strncasecmp(key, "X-Forwarded-For", 15) != 0)
		return MHD_YES;
	char *p = realloc(x->text, x->len + value_size + 2);
	if (p == NULL)
		return MHD_NO;
	if (x->len > 0)
		p[x->len++] = ',';
	memcpy(p + x->len, value, value_size);
	x->len += value_size;
	p[x->len] = '\0';
	x->text = p;
	return MHD_YES;
}

const char *http_client_addr(struct http_request *req)
{
	if (!req->have_addr) {
		struct http_xff x = {NULL, 0};
		MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, http_xff_add, &x);
		http_limits_client_addr(req->srv->limits, http_peer_be(req->conn), x.text,
		                        req->addr);
		free(x.text);
		req->have_addr = 1;
	}
	return req->addr;
}

int http_is_head(const struct http_request *req)
{
	return req->head;
}

void http_get_stats(const struct http_request *req, struct http_stats *out)
{
	struct http_limits_stats ls;

	http_limits_get_stats(req->srv->limits, &ls);
	out->refused_total = ls.refused_total;
	out->refused_per_ip = ls.refused_per_ip;
	out->header_timeouts = ls.header_timeouts;
	out->body_timeouts = ls.body_timeouts;
	out->half_closed = ls.half_closed;
	out->connections = ls.connections;
	out->in_progress = http_requests_active(req->srv);
	out->framing_errors = atomic_load(&req->srv->framing_errors);
}

int64_t http_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int http_draining(const struct http_request *req)
{
	return atomic_load_explicit(&req->srv->draining, memory_order_relaxed);
}

const char *http_request_id(const struct http_request *req)
{
	return req->id;
}

void http_set_route(struct http_request *req, const char *route)
{
	req->route = route;
}

void http_set_user(struct http_request *req, const char *user)
{
	snprintf(req->user, sizeof(req->user), "%s", user ? user : "");
}

const char *http_route(const struct http_request *req)
{
	return req->route;
}

const char *http_user(const struct http_request *req)
{
	return req->user;
}

unsigned http_status(const struct http_request *req)
{
	return req->answered ? req->status : 0;
}

size_t http_bytes(const struct http_request *req)
{
	return req->answered ? req->bytes : 0;
}

long long http_duration_us(const struct http_request *req)
{
	int64_t end = req->end_ns ? req->end_ns : http_now_ns();
	return (long long)((end - req->start_ns) / 1000);
}

/* A client's X-Request-Id is taken as it is when it is 1..64 characters
 * of [A-Za-z0-9._:-] (safe in a header, a log line and a label); anything
 * else is replaced, never echoed. */
static int http_request_id_valid(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (n >= HTTP_REQUEST_ID_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return n > 0;
}

void http_request_id_init(struct http_request *req)
{
	const char *given = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Request-Id");
	struct http_server *srv = req->srv;

	if (given != NULL && http_request_id_valid(given)) {
		snprintf(req->id, sizeof(req->id), "%s", given);
		return;
	}
	unsigned long long seq = atomic_fetch_add_explicit(&srv->id_seq, 1, memory_order_relaxed);
	snprintf(req->id, sizeof(req->id), "%08x%08llx", (unsigned)srv->id_prefix,
	         seq & 0xffffffffULL);
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
