/* http_limits.c - connection counts per address, header and body
 * deadlines, trusted proxies (see http_limits.h for the mechanism). */
#include "http/http_limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

enum {
	HTTP_LIMITS_BUCKETS = 4096, /* per-address count table */
	HTTP_CIDR_TEXT = 32,
};

enum http_conn_state {
	HTTP_CONN_IDLE,    /* between requests: waiting for a first byte */
	HTTP_CONN_HEADERS, /* a request's first byte seen, headers not complete */
	HTTP_CONN_BODY,    /* headers complete, body arriving */
	HTTP_CONN_BUSY,    /* with the application or answering */
};

struct http_conn {
	struct http_conn *prev, *next;
	int fd;
	uint32_t ip; /* host order */
	int counted; /* in the per-address table */
	/* Written by the connection's worker thread, read by the reaper. */
	_Atomic int state;
	_Atomic int64_t since_ms;
	/* The reaper's own: bytes received when the connection went idle. */
	uint64_t rx_mark;
	int64_t mark_since; /* the idle period rx_mark belongs to */
	int rx_marked;
	/* The reaper's own: the phase (since_ms) in which it first saw the
	 * peer's FIN with nothing left to read. */
	int64_t fin_since;
	int fin_seen;
};

struct http_ip_count {
	struct http_ip_count *next;
	uint32_t ip;
	unsigned n;
};

struct http_limits {
	struct http_limits_config cfg;
	uint32_t nets[HTTP_LIMITS_PROXIES_MAX], masks[HTTP_LIMITS_PROXIES_MAX];
	size_t nproxies;

	pthread_mutex_t lock; /* the list, the table, every shutdown() */
	struct http_conn *head;
	unsigned open;
	struct http_ip_count *table[HTTP_LIMITS_BUCKETS];

	pthread_t reaper;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;

	atomic_uint_fast64_t refused_total, refused_per_ip, header_timeouts, body_timeouts,
	    half_closed;
};

static int64_t http_limits_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A CIDR prefix length: one or two digits, 0 to 32. (http/ uses nothing of
 * ours, ARCHITECTURE.md, so not core/num.) */
static int http_limits_prefix(const char *s, long *out)
{
	long v = 0;
	size_t n = 0;

	for (; s[n] >= '0' && s[n] <= '9' && n < 2; n++)
		v = v * 10 + (s[n] - '0');
	if (n == 0 || s[n] != '\0' || v > 32)
		return -1;
	*out = v;
	return 0;
}

int http_limits_parse_cidrs(const char *list, uint32_t *nets, uint32_t *masks, size_t *count)
{
	const char *p = list;

	*count = 0;
	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char text[HTTP_CIDR_TEXT];
		long bits = 32;
		struct in_addr a;

		if (len == 0 || len >= sizeof(text) || *count == HTTP_LIMITS_PROXIES_MAX)
			return -1;
		memcpy(text, p, len);
		text[len] = '\0';
		char *slash = strchr(text, '/');
		if (slash != NULL) {
			*slash = '\0';
			if (http_limits_prefix(slash + 1, &bits) != 0)
				return -1;
		}
		if (inet_pton(AF_INET, text, &a) != 1)
			return -1;
		uint32_t mask = bits == 0 ? 0 : ~(uint32_t)0 << (32 - bits);
		nets[*count] = ntohl(a.s_addr) & mask;
		masks[*count] = mask;
		(*count)++;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

static int http_limits_trusted(const struct http_limits *lim, uint32_t ip)
{
	for (size_t i = 0; i < lim->nproxies; i++)
		if ((ip & lim->masks[i]) == lim->nets[i])
			return 1;
	return 0;
}

static struct http_ip_count **http_limits_slot(struct http_limits *lim, uint32_t ip)
{
	struct http_ip_count **pp = &lim->table[(ip * 2654435761u) % HTTP_LIMITS_BUCKETS];

	while (*pp != NULL && (*pp)->ip != ip)
		pp = &(*pp)->next;
	return pp;
}

int http_limits_accept(struct http_limits *lim, uint32_t addr_be)
{
	uint32_t ip = ntohl(addr_be);
	int ok = 1;

	pthread_mutex_lock(&lim->lock);
	if (lim->open >= lim->cfg.conn_max) {
		atomic_fetch_add(&lim->refused_total, 1);
		ok = 0;
	} else if (lim->cfg.conn_per_ip > 0 && !http_limits_trusted(lim, ip)) {
		struct http_ip_count *e = *http_limits_slot(lim, ip);
		if (e != NULL && e->n >= lim->cfg.conn_per_ip) {
			atomic_fetch_add(&lim->refused_per_ip, 1);
			ok = 0;
		}
	}
	pthread_mutex_unlock(&lim->lock);
	return ok;
}

struct http_conn *http_limits_open(struct http_limits *lim, int fd, uint32_t addr_be)
{
	struct http_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL; /* untracked: only the idle timeout applies */
	c->fd = fd;
	c->ip = ntohl(addr_be);
	atomic_init(&c->state, HTTP_CONN_IDLE);
	atomic_init(&c->since_ms, http_limits_now_ms());
	pthread_mutex_lock(&lim->lock);
	if (lim->cfg.conn_per_ip > 0 && !http_limits_trusted(lim, c->ip)) {
		struct http_ip_count **pp = http_limits_slot(lim, c->ip);
		if (*pp == NULL)
			*pp = calloc(1, sizeof(**pp));
		if (*pp != NULL) {
			(*pp)->ip = c->ip;
			(*pp)->n++;
			c->counted = 1;
		}
	}
	c->next = lim->head;
	if (lim->head != NULL)
		lim->head->prev = c;
	lim->head = c;
	lim->open++;
	pthread_mutex_unlock(&lim->lock);
	return c;
}

void http_limits_close(struct http_limits *lim, struct http_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&lim->lock);
	if (c->counted) {
		struct http_ip_count **pp = http_limits_slot(lim, c->ip);
		if (*pp != NULL && --(*pp)->n == 0) {
			struct http_ip_count *e = *pp;
			*pp = e->next;
			free(e);
		}
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		lim->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	lim->open--;
	pthread_mutex_unlock(&lim->lock);
	free(c);
}

static void http_limits_enter(struct http_conn *c, enum http_conn_state s)
{
	if (c == NULL)
		return;
	atomic_store_explicit(&c->since_ms, http_limits_now_ms(), memory_order_relaxed);
	atomic_store_explicit(&c->state, s, memory_order_release);
}

void http_limits_body_started(struct http_conn *c)
{
	http_limits_enter(c, HTTP_CONN_BODY);
}

void http_limits_busy(struct http_conn *c)
{
	http_limits_enter(c, HTTP_CONN_BUSY);
}

void http_limits_idle(struct http_conn *c)
{
	http_limits_enter(c, HTTP_CONN_IDLE);
}

/* The kernel's TCP_CLOSE_WAIT (netinet/tcp.h, which cannot be included
 * beside linux/tcp.h): the peer has sent its FIN. */
enum { HTTP_TCP_CLOSE_WAIT = 8 };

/* What one TCP_INFO call tells of a connection's socket. */
struct http_tcp {
	int rx_known;
	uint64_t rx;   /* bytes the kernel has received so far */
	int peer_gone; /* the peer half-closed and every byte it sent was read */
};

static void http_limits_tcp(int fd, struct http_tcp *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int unread = 0;

	memset(out, 0, sizeof(*out));
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return;
	if (len >=
	    offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
		out->rx_known = 1;
		out->rx = ti.tcpi_bytes_received;
	}
	out->peer_gone = len >= sizeof(ti.tcpi_state) && ti.tcpi_state == HTTP_TCP_CLOSE_WAIT &&
	                 ioctl(fd, FIONREAD, &unread) == 0 && unread == 0;
}

/* libmicrohttpd's edge-triggered epoll can miss a FIN that arrives with a
 * request's last bytes; the connection would then wait for its deadline
 * (and hold a graceful stop that long). A connection still reading a
 * request, or idle, whose peer has half-closed with nothing left to read,
 * in the same phase on two passes in a row (so libmicrohttpd had every
 * byte for a whole pass and did not finish the request), is shut down.
 * Returns 1 when it was. A complete request (busy) is always answered,
 * half-close or not. */
static int http_limits_reap_gone(struct http_conn *c, int64_t since, int peer_gone)
{
	if (!peer_gone) {
		c->fin_seen = 0;
		return 0;
	}
	if (!c->fin_seen || c->fin_since != since) {
		c->fin_seen = 1;
		c->fin_since = since;
		return 0;
	}
	shutdown(c->fd, SHUT_RDWR);
	return 1;
}

/* One pass over every connection; called with lim->lock held. */
static void http_limits_reap(struct http_limits *lim, int64_t now)
{
	int64_t header_ms = (int64_t)lim->cfg.header_timeout_s * 1000;
	int64_t body_ms = (int64_t)lim->cfg.body_timeout_s * 1000;

	for (struct http_conn *c = lim->head; c != NULL; c = c->next) {
		int state = atomic_load_explicit(&c->state, memory_order_acquire);
		int64_t since = atomic_load_explicit(&c->since_ms, memory_order_relaxed);
		struct http_tcp tcp;

		if (state == HTTP_CONN_BUSY)
			continue; /* with the application: it answers */
		http_limits_tcp(c->fd, &tcp);
		if (http_limits_reap_gone(c, since, tcp.peer_gone)) {
			atomic_fetch_add(&lim->half_closed, 1);
			continue;
		}
		switch (state) {
		case HTTP_CONN_IDLE:
			if (header_ms == 0 || !tcp.rx_known)
				break;
			/* The first pass in an idle period marks the count;
			 * any byte beyond it starts the next request's
			 * headers, so their deadline starts at most one pass
			 * late. */
			if (!c->rx_marked || c->mark_since != since) {
				c->rx_mark = tcp.rx;
				c->mark_since = since;
				c->rx_marked = 1;
			} else if (tcp.rx > c->rx_mark) {
				int expect = HTTP_CONN_IDLE;
				atomic_store_explicit(&c->since_ms, now, memory_order_relaxed);
				atomic_compare_exchange_strong(&c->state, &expect,
				                               HTTP_CONN_HEADERS);
			}
			break;
		case HTTP_CONN_HEADERS:
			if (header_ms > 0 && now - since > header_ms) {
				atomic_fetch_add(&lim->header_timeouts, 1);
				shutdown(c->fd, SHUT_RDWR);
			}
			break;
		case HTTP_CONN_BODY:
			if (body_ms > 0 && now - since > body_ms) {
				atomic_fetch_add(&lim->body_timeouts, 1);
				shutdown(c->fd, SHUT_RDWR);
			}
			break;
		default:
			break;
		}
	}
}

static void *http_limits_main(void *arg)
{
	struct http_limits *lim = arg;

	pthread_mutex_lock(&lim->stop_lock);
	while (!lim->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)HTTP_LIMITS_REAP_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&lim->stop_cond, &lim->stop_lock, &until);
		if (lim->stopping)
			break;
		pthread_mutex_unlock(&lim->stop_lock);
		pthread_mutex_lock(&lim->lock);
		http_limits_reap(lim, http_limits_now_ms());
		pthread_mutex_unlock(&lim->lock);
		pthread_mutex_lock(&lim->stop_lock);
	}
	pthread_mutex_unlock(&lim->stop_lock);
	return NULL;
}

int http_limits_start(const struct http_limits_config *cfg, struct http_limits **out)
{
	struct http_limits *lim = calloc(1, sizeof(*lim));
	pthread_condattr_t ca;

	if (lim == NULL)
		return -1;
	lim->cfg = *cfg;
	if (cfg->trusted_proxy != NULL &&
	    http_limits_parse_cidrs(cfg->trusted_proxy, lim->nets, lim->masks, &lim->nproxies) !=
	        0) {
		fprintf(stderr,
		        "boxoffice: --trusted-proxy '%s' is not a list of at most %d IPv4 "
		        "CIDRs\n",
		        cfg->trusted_proxy, HTTP_LIMITS_PROXIES_MAX);
		free(lim);
		return -1;
	}
	lim->cfg.trusted_proxy = NULL; /* not kept: the caller owns the text */
	pthread_mutex_init(&lim->lock, NULL);
	pthread_mutex_init(&lim->stop_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&lim->stop_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&lim->reaper, NULL, http_limits_main, lim) != 0) {
		pthread_cond_destroy(&lim->stop_cond);
		pthread_mutex_destroy(&lim->stop_lock);
		pthread_mutex_destroy(&lim->lock);
		free(lim);
		return -1;
	}
	*out = lim;
	return 0;
}

void http_limits_stop(struct http_limits *lim)
{
	if (lim == NULL)
		return;
	pthread_mutex_lock(&lim->stop_lock);
	lim->stopping = 1;
	pthread_cond_signal(&lim->stop_cond);
	pthread_mutex_unlock(&lim->stop_lock);
	pthread_join(lim->reaper, NULL);
	/* Every connection was closed (and untracked) by libmicrohttpd. */
	for (size_t i = 0; i < HTTP_LIMITS_BUCKETS; i++) {
		while (lim->table[i] != NULL) {
			struct http_ip_count *e = lim->table[i];
			lim->table[i] = e->next;
			free(e);
		}
	}
	pthread_cond_destroy(&lim->stop_cond);
	pthread_mutex_destroy(&lim->stop_lock);
	pthread_mutex_destroy(&lim->lock);
	free(lim);
}

void http_limits_get_stats(struct http_limits *lim, struct http_limits_stats *out)
{
	out->refused_total = atomic_load(&lim->refused_total);
	out->refused_per_ip = atomic_load(&lim->refused_per_ip);
	out->header_timeouts = atomic_load(&lim->header_timeouts);
	out->body_timeouts = atomic_load(&lim->body_timeouts);
	out->half_closed = atomic_load(&lim->half_closed);
	pthread_mutex_lock(&lim->lock);
	out->connections = lim->open;
	pthread_mutex_unlock(&lim->lock);
}

void http_limits_client_addr(const struct http_limits *lim, uint32_t peer_be, const char *xff,
                             char *out)
{
	struct in_addr peer = {.s_addr = peer_be};

	inet_ntop(AF_INET, &peer, out, HTTP_ADDR_TEXT);
	if (xff == NULL || lim == NULL || !http_limits_trusted(lim, ntohl(peer_be)))
		return;
	/* Right to left: each hop appended the address it saw. The first
	 * that is not a trusted proxy is the client; what lies left of it
	 * was written by the client and proves nothing. */
	size_t end = strlen(xff);
	while (end > 0) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		size_t a = start, b = end;
		while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
			a++;
		while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
			b--;
		char text[HTTP_ADDR_TEXT];
		struct in_addr v4;
		struct in6_addr v6;
		if (b - a == 0 || b - a >= sizeof(text))
			return;
		memcpy(text, xff + a, b - a);
		text[b - a] = '\0';
		if (inet_pton(AF_INET, text, &v4) == 1) {
			inet_ntop(AF_INET, &v4, out, HTTP_ADDR_TEXT);
			if (!http_limits_trusted(lim, ntohl(v4.s_addr)))
				return;
		} else if (inet_pton(AF_INET6, text, &v6) == 1) {
			inet_ntop(AF_INET6, &v6, out, HTTP_ADDR_TEXT);
			return;
		} else {
			return; /* a hop wrote garbage: keep the last good one */
		}
		end = start > 0 ? start - 1 : 0;
	}
}
