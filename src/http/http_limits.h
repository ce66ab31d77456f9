/* http_limits.h - connection hygiene for the HTTP adapter: how many
 * connections in all and per client address, and how long a request may
 * take to arrive (headers counted from their first byte, then the body).
 *
 * libmicrohttpd has one timeout, restarted by every byte, so a client that
 * drips a byte every few seconds keeps its slot for ever. This module adds
 * the deadlines it lacks: it tracks every connection (from libmicrohttpd's
 * connection notifications), watches the kernel's byte count of idle ones
 * (TCP_INFO) to see when a request's first byte arrives, and a reaper thread
 * shuts down the socket of a connection past its deadline; libmicrohttpd
 * then sees the end of the stream and closes it as usual. The socket is only
 * ever shut down under the lock that its close notification also takes, and
 * libmicrohttpd notifies before it closes, so a reused descriptor is never
 * touched.
 *
 * The same module knows the trusted proxies (--trusted-proxy) and so which
 * address a request comes from. */
#ifndef BOXOFFICE_HTTP_HTTP_LIMITS_H
#define BOXOFFICE_HTTP_HTTP_LIMITS_H

#include <stddef.h>
#include <stdint.h>

enum {
	HTTP_LIMITS_PROXIES_MAX = 16, /* --trusted-proxy CIDRs */
	HTTP_LIMITS_REAP_MS = 250,    /* how often deadlines are checked */
	HTTP_ADDR_TEXT = 46,          /* INET6_ADDRSTRLEN */
};

struct http_limits_config {
	unsigned conn_max;         /* connections in all */
	unsigned conn_per_ip;      /* per client address; 0: no cap */
	unsigned header_timeout_s; /* first byte to the end of the headers; 0: off */
	unsigned body_timeout_s;   /* end of headers to the end of the body; 0: off */
	const char *trusted_proxy; /* comma-separated IPv4 CIDRs, or NULL */
};

/* Counters of refusals, for /metrics. */
struct http_limits_stats {
	uint64_t refused_total;  /* beyond conn_max */
	uint64_t refused_per_ip; /* beyond conn_per_ip */
	uint64_t header_timeouts;
	uint64_t body_timeouts;
	uint64_t half_closed; /* shut: the peer half-closed mid-request */
	uint64_t connections; /* open now */
};

struct http_limits;
struct http_conn;

/* Parses a comma-separated list of IPv4 CIDRs ("10.0.0.0/8,127.0.0.1").
 * Returns 0, or -1 when one is malformed or there are more than
 * HTTP_LIMITS_PROXIES_MAX. nets/masks are in host byte order. */
int http_limits_parse_cidrs(const char *list, uint32_t *nets, uint32_t *masks, size_t *count);

/* Returns 0 and a running tracker (its reaper thread started), or -1 when
 * the configuration is invalid (message on stderr) or out of resources. */
int http_limits_start(const struct http_limits_config *cfg, struct http_limits **out);
void http_limits_stop(struct http_limits *lim);

/* The acceptance policy: 1 to take a connection from this IPv4 address
 * (network byte order), 0 to close it at once (counted). */
int http_limits_accept(struct http_limits *lim, uint32_t addr_be);

/* A connection was opened / is closing (before its socket is closed). */
struct http_conn *http_limits_open(struct http_limits *lim, int fd, uint32_t addr_be);
void http_limits_close(struct http_limits *lim, struct http_conn *c);

/* Request phases, told by the adapter: headers complete (the body
 * deadline starts), handed to the application (no deadline: it answers),
 * and request finished (idle again: the next byte starts a header
 * deadline). */
void http_limits_body_started(struct http_conn *c);
void http_limits_busy(struct http_conn *c);
void http_limits_idle(struct http_conn *c);

void http_limits_get_stats(struct http_limits *lim, struct http_limits_stats *out);

/* The client's address as text: the peer, or, when the peer is a trusted
 * proxy, the rightmost address in X-Forwarded-For (xff, may be NULL) that
 * is not itself a trusted proxy. out has HTTP_ADDR_TEXT bytes. */
void http_limits_client_addr(const struct http_limits *lim, uint32_t peer_be, const char *xff,
                             char *out);

#endif
