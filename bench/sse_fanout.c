/* sse_fanout.c - fan-out benchmark for GET /api/shows/{id}/events.
 *
 * Opens V event-stream viewers of one show (optionally spread over two
 * nodes), each from a loopback source address 127.0.0.2, .3, ... (at most
 * PER_ADDR viewers per address, so a per-address connection cap does not
 * get in the way), waits until every viewer has its snapshot, then sends a
 * burst of H one-seat holds from C client threads (seat i is held by user
 * i). Every viewer scans its stream for the seat labels of `seats` events
 * and records when each seat first arrived. Delivery latency of one seat
 * at one viewer = arrival - the moment the hold's 200 answer reached its
 * client (the commit is acknowledged then; the true commit is a little
 * earlier, so this slightly understates latency by the answer's trip).
 *
 * One epoll thread reads all viewers (reads are cheap: a state machine
 * undoes chunked coding and matches "seat":" on the fly, no buffering).
 * With V = 0 only the burst runs (the reference throughput).
 *
 * usage: sse_fanout PORT_A SHOW ROWS PER_ROW HOLDS CLIENTS VIEWERS_A
 *                   [PORT_B VIEWERS_B] [RSS_PID_A [RSS_PID_B]]
 * Prints one line of key=value results. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "seat_label.h"

enum {
	PER_ADDR = 1000,        /* viewers per source address */
	WAIT_SNAPSHOT_S = 120,  /* all snapshots in, at most */
	WAIT_DELIVERY_S = 30,   /* every change at every viewer, at most */
	HIST_US = 20 * 1000000, /* latency histogram range, 10 us buckets */
	HIST_BUCKET_US = 10,
};

struct viewer {
	int fd;
	int node;        /* 0: A, 1: B */
	int head_done;   /* HTTP head skipped */
	int head_nl;     /* consecutive \r\n seen in the head */
	int status_ok;   /* saw " 200 " in the status line */
	int chunk_state; /* 0: size line, 1: data, 2: CRLF after data, 4: plain */
	int te_match;    /* characters of "chunked" matched in the headers */
	long chunk_left; /* bytes of chunk data left */
	int blanks;      /* blank lines seen (2: retry + snapshot) */
	char prev;       /* previous body byte */
	int match;       /* chars of "seat":" matched */
	char label[8];
	int label_len;
	int collecting;
	int got; /* distinct seats seen */
	int closed;
};

static const char seat_pat[] = "\"seat\":\"";
static int rows, per_row, holds, nclients, show_id;
static int port[2];
static struct viewer *viewers;
static int nviewers;
static float *arrive; /* [viewer][seat]: ms since t0, <0: not yet */
static double *acked; /* [seat]: ms since t0 */
static double *sent;  /* [seat]: ms since t0, when its request was written */
static atomic_int next_hold, holds_ok, holds_failed;
static struct timespec t0;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)(ts.tv_sec - t0.tv_sec) * 1000.0 + (double)(ts.tv_nsec - t0.tv_nsec) / 1e6;
}

/* One decoded body byte of viewer v. */
static void body_byte(struct viewer *v, int vi, char c, double t)
{
	if (c == '\n' && v->prev == '\n')
		v->blanks++;
	v->prev = c;
	if (v->collecting) {
		if (c == '"' || v->label_len >= 7) {
			v->collecting = 0;
			int s = seat_index_of(v->label, (size_t)v->label_len, rows, per_row);
			if (s >= 0 && s < holds && v->blanks >= 2) {
				float *a = &arrive[(size_t)vi * (size_t)holds + (size_t)s];
				if (*a < 0) {
					*a = (float)t;
					v->got++;
				}
			}
		} else {
			v->label[v->label_len++] = c;
		}
		return;
	}
	if (c == seat_pat[v->match]) {
		if (++v->match == (int)sizeof(seat_pat) - 1) {
			v->match = 0;
			v->collecting = 1;
			v->label_len = 0;
		}
	} else {
		v->match = c == seat_pat[0] ? 1 : 0;
	}
}

/* Body bytes p[0..n) of viewer v. Once the snapshot is in and no match is
 * under way, memmem skips to the next "seat":" (the client is to cost as
 * little CPU as it can: it shares the machine with the server it measures;
 * byte by byte it used about one core at 10,000 viewers). */
static void body_bytes(struct viewer *v, int vi, const char *p, size_t n, double t)
{
	const size_t plen = sizeof(seat_pat) - 1;
	size_t i = 0;

	while (i < n) {
		if (v->blanks < 2 || v->collecting || v->match > 0) {
			body_byte(v, vi, p[i++], t);
			continue;
		}
		const char *hit = memmem(p + i, n - i, seat_pat, plen);
		if (hit == NULL) {
			/* a match that the next read completes starts in the tail */
			size_t k = n - i > plen - 1 ? n - (plen - 1) : i;
			for (; k < n; k++)
				body_byte(v, vi, p[k], t);
			return;
		}
		i = (size_t)(hit - p) + plen;
		v->collecting = 1;
		v->label_len = 0;
	}
}

static void viewer_bytes(struct viewer *v, int vi, const char *p, size_t n, double t)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!v->head_done) {
			if (c == '\r')
				continue;
			/* A close-delimited body (no "chunked" in the headers) is
			 * all data. */
			v->te_match = v->te_match < 7 && (c | 0x20) == "chunked"[v->te_match]
			                  ? v->te_match + 1
			                  : (v->te_match == 7 ? 7 : ((c | 0x20) == 'c'));
			if (c == '\n') {
				if (++v->head_nl == 2) {
					v->head_done = 1;
					if (v->te_match < 7)
						v->chunk_state = 4;
				}
			} else {
				v->head_nl = 0;
			}
			if (c == '2' && !v->status_ok)
				v->status_ok = 1; /* crude: "HTTP/1.1 200" */
			continue;
		}
		switch (v->chunk_state) {
		case 0: /* size line */
			if (c >= '0' && c <= '9')
				v->chunk_left = v->chunk_left * 16 + (c - '0');
			else if (c >= 'a' && c <= 'f')
				v->chunk_left = v->chunk_left * 16 + (c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v->chunk_left = v->chunk_left * 16 + (c - 'A' + 10);
			else if (c == '\n')
				v->chunk_state = v->chunk_left > 0 ? 1 : 3;
			break;
		case 1: {
			size_t take = n - i < (size_t)v->chunk_left ? n - i : (size_t)v->chunk_left;
			for (size_t k = 0; k < take; k++)
				body_byte(v, vi, p[i + k], t);
			v->chunk_left -= (long)take;
			i += take - 1;
			if (v->chunk_left == 0)
				v->chunk_state = 2;
			break;
		}
		case 2: /* CRLF */
			if (c == '\n') {
				v->chunk_state = 0;
				v->chunk_left = 0;
			}
			break;
		case 4: /* close-delimited: the rest of this read is body */
			body_bytes(v, vi, p + i, n - i, t);
			return;
		default: /* end of stream */
			break;
		}
	}
}

static int viewer_open(int i, int node)
{
	struct sockaddr_in src = {0}, dst = {0};
	char req[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i / PER_ADDR));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
		close(fd);
		return -1;
	}
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port[node]);
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		close(fd);
		return -1;
	}
	int n = snprintf(req, sizeof(req),
	                 "GET /api/shows/%d/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
	                 "text/event-stream\r\n\r\n",
	                 show_id);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static long rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/* ---- the burst ---- */

static int http_connect(int p)
{
	struct sockaddr_in dst = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)p);
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Reads one answer; returns its status or -1. */
static int http_answer(int fd)
{
	char buf[8192];
	size_t len = 0;
	char *end = NULL;

	while (end == NULL) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	int status = atoi(buf + 9);
	char *cl = strcasestr(buf, "content-length:");
	long body = cl ? strtol(cl + 15, NULL, 10) : 0;
	long have = (long)(len - (size_t)(end + 4 - buf));
	while (have < body) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return -1;
		have += n;
	}
	return status;
}

static char run_tag[32];
static int hold_show; /* SSE_HOLD_SHOW: hold in another show than the one watched */

static void *client_main(void *arg)
{
	int fd = http_connect(port[0]);
	(void)arg;

	for (;;) {
		int i = atomic_fetch_add(&next_hold, 1);
		if (i >= holds)
			break;
		char label[16], body[256], req[512];
		seat_label_of(i, per_row, label);
		int bl = snprintf(body, sizeof(body),
		                  "{\"username\":\"fan-%s-%d\",\"showId\":%d,\"seats\":[\"%s\"]}",
		                  run_tag, i, hold_show ? hold_show : show_id, label);
		int n =
		    snprintf(req, sizeof(req),
		             "POST /api/bookings/hold HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
		             "application/json\r\nContent-Length: %d\r\n\r\n%s",
		             bl, body);
		int st = -1;
		sent[i] = now_ms();
		if (fd >= 0 && write(fd, req, (size_t)n) == n)
			st = http_answer(fd);
		acked[i] = now_ms();
		if (st == 200) {
			atomic_fetch_add(&holds_ok, 1);
		} else {
			atomic_fetch_add(&holds_failed, 1);
			if (fd >= 0)
				close(fd);
			fd = http_connect(port[0]);
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* ---- main ---- */

/* p50/p99/p999, max and min (ms) of arrival - ref[seat] over node's
 * viewers; counts the deliveries and the seats that never arrived. */
static void latencies(int node, const double *ref, double pv[3], double *maxl, double *minl,
                      size_t *cnt, size_t *missing)
{
	size_t nb = HIST_US / HIST_BUCKET_US + 1;
	size_t *hist = calloc(nb, sizeof(*hist));

	*maxl = -1e9;
	*minl = 1e9;
	*cnt = *missing = 0;
	for (int i = 0; i < nviewers; i++) {
		if (viewers[i].node != node)
			continue;
		for (int s = 0; s < holds; s++) {
			float a = arrive[(size_t)i * (size_t)holds + (size_t)s];
			if (a < 0) {
				(*missing)++;
				continue;
			}
			double l = a - ref[s];
			*maxl = l > *maxl ? l : *maxl;
			*minl = l < *minl ? l : *minl;
			long us = (long)(l * 1000.0);
			us = us < 0 ? 0 : us > HIST_US ? HIST_US : us;
			hist[us / HIST_BUCKET_US]++;
			(*cnt)++;
		}
	}
	const double p[3] = {0.5, 0.99, 0.999};
	for (int q = 0; q < 3; q++) {
		size_t want = (size_t)(p[q] * (double)*cnt), acc = 0;
		pv[q] = 0;
		for (size_t b = 0; b < nb; b++) {
			acc += hist[b];
			if (acc > want) {
				pv[q] = (double)(b * HIST_BUCKET_US) / 1000.0;
				break;
			}
		}
	}
	free(hist);
}

static void poll_viewers(int ep, int timeout_ms)
{
	struct epoll_event evs[256];
	char buf[65536];
	int n = epoll_wait(ep, evs, 256, timeout_ms);

	for (int k = 0; k < n; k++) {
		int vi = evs[k].data.u32;
		struct viewer *v = &viewers[vi];
		for (;;) {
			ssize_t r = read(v->fd, buf, sizeof(buf));
			if (r > 0) {
				viewer_bytes(v, vi, buf, (size_t)r, now_ms());
				continue;
			}
			if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, v->fd, NULL);
				close(v->fd);
				v->closed = 1;
			}
			break;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 8) {
		fprintf(stderr,
		        "usage: %s PORT_A SHOW ROWS PER_ROW HOLDS CLIENTS VIEWERS_A "
		        "[PORT_B VIEWERS_B] [RSS_PID_A [RSS_PID_B]]\n",
		        argv[0]);
		return 2;
	}
	port[0] = atoi(argv[1]);
	show_id = atoi(argv[2]);
	rows = atoi(argv[3]);
	per_row = atoi(argv[4]);
	holds = atoi(argv[5]);
	nclients = atoi(argv[6]);
	int va = atoi(argv[7]), vb = 0;
	if (argc > 9) {
		port[1] = atoi(argv[8]);
		vb = atoi(argv[9]);
	}
	int pid_a = argc > 10 ? atoi(argv[10]) : 0, pid_b = argc > 11 ? atoi(argv[11]) : 0;
	nviewers = va + vb;
	if (getenv("SSE_HOLD_SHOW") != NULL)
		hold_show = atoi(getenv("SSE_HOLD_SHOW"));
	snprintf(run_tag, sizeof(run_tag), "%ld-%d", (long)time(NULL), getpid());

	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	viewers = calloc((size_t)(nviewers ? nviewers : 1), sizeof(*viewers));
	arrive = malloc((size_t)(nviewers ? nviewers : 1) * (size_t)holds * sizeof(float));
	acked = calloc((size_t)holds, sizeof(double));
	sent = calloc((size_t)holds, sizeof(double));
	for (size_t i = 0; i < (size_t)nviewers * (size_t)holds; i++)
		arrive[i] = -1;
	int ep = epoll_create1(0);
	long rss0[2] = {rss_kib(pid_a), rss_kib(pid_b)};

	double t_open = now_ms();
	for (int i = 0; i < nviewers; i++) {
		struct viewer *v = &viewers[i];
		v->node = i < va ? 0 : 1;
		v->fd = viewer_open(i, v->node);
		if (v->fd < 0) {
			v->closed = 1;
			continue;
		}
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, v->fd, &e);
		if (i % 500 == 499)
			poll_viewers(ep, 0);
	}
	/* Every viewer has its snapshot (two blank lines: retry, snapshot). */
	int ready = 0;
	while (now_ms() - t_open < WAIT_SNAPSHOT_S * 1000.0) {
		ready = 0;
		int gone = 0;
		for (int i = 0; i < nviewers; i++) {
			ready += !viewers[i].closed && viewers[i].blanks >= 2;
			gone += viewers[i].closed;
		}
		if (ready + gone >= nviewers)
			break;
		poll_viewers(ep, 50);
	}
	double t_ready = now_ms();
	int refused = 0;
	for (int i = 0; i < nviewers; i++)
		refused += viewers[i].closed;
	usleep(300 * 1000); /* let the server settle before measuring memory */
	long rss1[2] = {rss_kib(pid_a), rss_kib(pid_b)};

	/* The burst. */
	pthread_t *th = calloc((size_t)nclients, sizeof(*th));
	double t_burst = now_ms();
	for (int i = 0; i < nclients; i++)
		pthread_create(&th[i], NULL, client_main, NULL);
	if (nviewers == 0) {
		for (int i = 0; i < nclients; i++)
			pthread_join(th[i], NULL);
	} else {
		while (atomic_load(&next_hold) < holds + nclients)
			poll_viewers(ep, 5);
		for (int i = 0; i < nclients; i++)
			pthread_join(th[i], NULL);
	}
	double t_done = now_ms();
	double last_ack = 0;
	for (int i = 0; i < holds; i++)
		if (acked[i] > last_ack)
			last_ack = acked[i];
	/* Until every live viewer has every seat. */
	while (nviewers > 0 && now_ms() - t_done < WAIT_DELIVERY_S * 1000.0) {
		int missing = 0;
		for (int i = 0; i < nviewers && !missing; i++)
			missing = !viewers[i].closed && viewers[i].got < holds_ok;
		if (!missing)
			break;
		poll_viewers(ep, 20);
	}
	long rss2[2] = {rss_kib(pid_a), rss_kib(pid_b)};

	printf("holds=%d ok=%d failed=%d clients=%d burst_s=%.3f holds_per_s=%.0f", holds,
	       atomic_load(&holds_ok), atomic_load(&holds_failed), nclients,
	       (last_ack - t_burst) / 1000.0, holds / ((last_ack - t_burst) / 1000.0));
	for (int node = 0; node < 2; node++) {
		int nv = node == 0 ? va : vb;
		if (nv == 0)
			continue;
		size_t cnt = 0, missing = 0;
		double maxl, minl, pv[3], spv[3], smax, smin;
		int dropped = 0;
		for (int i = 0; i < nviewers; i++)
			dropped += viewers[i].node == node && viewers[i].closed;
		latencies(node, acked, pv, &maxl, &minl, &cnt, &missing);
		/* From the request's write: an upper bound that does not depend
		 * on when the holding client got the CPU to read its answer. */
		latencies(node, sent, spv, &smax, &smin, &cnt, &missing);
		long per = nv > 0 && rss1[node] > 0 ? (rss1[node] - rss0[node]) * 1024 / nv : -1;
		printf(
		    " node%c_viewers=%d node%c_ready=%d node%c_dropped=%d node%c_deliveries=%zu "
		    "node%c_missing=%zu node%c_p50_ms=%.1f node%c_p99_ms=%.1f node%c_p999_ms=%.1f "
		    "node%c_max_ms=%.1f node%c_min_ms=%.1f node%c_rss0_kib=%ld node%c_rss_kib=%ld "
		    "node%c_rss_after_kib=%ld node%c_bytes_per_viewer=%ld",
		    'A' + node, nv, 'A' + node, ready, 'A' + node, dropped, 'A' + node, cnt,
		    'A' + node, missing, 'A' + node, pv[0], 'A' + node, pv[1], 'A' + node, pv[2],
		    'A' + node, maxl, 'A' + node, minl, 'A' + node, rss0[node], 'A' + node,
		    rss1[node], 'A' + node, rss2[node], 'A' + node, per);
		printf(" node%c_p50_sent_ms=%.1f node%c_p99_sent_ms=%.1f node%c_max_sent_ms=%.1f",
		       'A' + node, spv[0], 'A' + node, spv[1], 'A' + node, smax);
	}
	printf(" connect_s=%.2f refused_or_closed=%d\n", (t_ready - t_open) / 1000.0, refused);
	for (int i = 0; i < nviewers; i++)
		if (!viewers[i].closed)
			close(viewers[i].fd);
	return atomic_load(&holds_failed) > 0 ? 1 : 0;
}
