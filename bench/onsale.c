/* onsale.c - the crowd of bench/bench.py's `onsale` scenario (issue 11).
 *
 * USERS logical users over CONNS keep-alive connections hit one show of
 * ROWS x PER_ROW seats at once. A user picks a random seat it believes
 * free, holds it and confirms it; a refused user reads the seat map and
 * goes to the back of the queue with the seats that map shows free, and
 * gives up when it shows none. A user whose hold succeeded is done,
 * whatever its confirm answers. Every connection is open before the clock
 * starts. One thread per connection, blocking sockets: the crowd costs a
 * few microseconds of CPU per request, so that the server, not the
 * client, sets the pace (the asyncio crowd it replaces used 88 % of a core
 * and was the limit on SQLite).
 *
 * usage: onsale PORT SHOW USERS CONNS ROWS PER_ROW SEED
 * Prints one line of key=value results; exit 1 if a connection failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "seat_label.h"

enum { BUF = 256 * 1024 };

struct view { /* seats a user believes free, shared by reference */
	int refs;
	int n;
	int seat[];
};

struct entry {
	int user, tries;
	struct view *view;
};

struct lat {
	double *v;
	size_t n, cap;
};

static int port, show, users, conns, rows, per_row, seats;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct entry *queue; /* ring of users waiting for a try */
static size_t q_head, q_len;
static int in_flight, ready_conns, started, failed_conns;
static long n_requests, n_holds, n_confirms, n_refused, n_gave_up, st_200, st_409, st_other;
static int *tries_of_winner; /* [user]: 0 not a winner */
static double t0, t_sold;
static struct lat lat_write, lat_map;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		l->v = realloc(l->v, l->cap * sizeof(double));
		if (l->v == NULL)
			exit(1);
	}
	l->v[l->n++] = ms;
}

static void view_unref(struct view *v)
{
	if (v != NULL && --v->refs == 0)
		free(v);
}

/* The seats listed in the map's "available":[...], or NULL. */
static struct view *view_from_map(const char *body)
{
	const char *p = strstr(body, "\"available\":[");
	if (p == NULL)
		return NULL;
	p += strlen("\"available\":[");
	const char *end = strchr(p, ']');
	if (end == NULL)
		return NULL;
	struct view *v = malloc(sizeof(*v) + (size_t)seats * sizeof(int));
	if (v == NULL)
		exit(1);
	v->refs = 1;
	v->n = 0;
	while (p < end && v->n < seats) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (q == NULL)
			break;
		const char *e = memchr(q + 1, '"', (size_t)(end - q - 1));
		if (e == NULL)
			break;
		int idx = seat_index_of(q + 1, (size_t)(e - q - 1), rows, per_row);
		if (idx >= 0)
			v->seat[v->n++] = idx;
		p = e + 1;
	}
	return v;
}

/* One request and its answer on fd: the status, the body in buf. */
static int exchange(int fd, const char *req, size_t len, char *buf)
{
	size_t off = 0, have = 0;
	char *end = NULL;

	while (off < len) {
		ssize_t w = write(fd, req + off, len - off);
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	while (end == NULL) {
		ssize_t r = read(fd, buf + have, BUF - 1 - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	int status = atoi(buf + 9);
	const char *cl = strcasestr(buf, "\r\ncontent-length:");
	size_t body = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
	size_t head = (size_t)(end + 4 - buf);
	if (head + body > BUF - 1)
		return -1;
	while (have < head + body) {
		ssize_t r = read(fd, buf + have, head + body - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	memmove(buf, buf + head, body);
	buf[body] = '\0';
	return status;
}

static void count_status(int st)
{
	n_requests++;
	if (st == 200)
		st_200++;
	else if (st == 409)
		st_409++;
	else
		st_other++;
}

static int post(int fd, const char *path, int user, int seat, char *buf)
{
	char label[SEAT_LABEL_MAX], body[160], req[512];
	seat_label_of(seat, per_row, label);
	int bl = snprintf(body, sizeof(body), "{\"username\":\"fan%d\",\"showId\":%d,\"seats\":[\"%s\"]}",
	                  user, show, label);
	int n = snprintf(req, sizeof(req),
	                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %d\r\n\r\n%s",
	                 path, bl, body);
	return exchange(fd, req, (size_t)n, buf);
}

static void *crowd_main(void *arg)
{
	struct sockaddr_in dst = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	char *buf = malloc(BUF), map_req[128];
	unsigned seed = (unsigned)(uintptr_t)arg;
	int map_len = snprintf(map_req, sizeof(map_req),
	                       "GET /api/shows/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", show);

	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	int ok = buf != NULL && fd >= 0 && connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0;
	if (ok)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_mutex_lock(&lock);
	ready_conns++;
	failed_conns += !ok;
	pthread_cond_broadcast(&cond);
	while (!started)
		pthread_cond_wait(&cond, &lock);
	for (; ok;) {
		while (q_len == 0 && in_flight > 0)
			pthread_cond_wait(&cond, &lock);
		if (q_len == 0)
			break;
		struct entry e = queue[q_head];
		q_head = (q_head + 1) % (size_t)users;
		q_len--;
		in_flight++;
		pthread_mutex_unlock(&lock);

		int seat = e.view->seat[rand_r(&seed) % (unsigned)e.view->n];
		double t = now_s();
		int st = post(fd, "/api/bookings/hold", e.user, seat, buf);
		double l_hold = (now_s() - t) * 1000;
		int st2 = -2, st3 = -2;
		double l_conf = 0, l_map = -1;
		struct view *next = NULL;
		if (st == 200) {
			t = now_s();
			st2 = post(fd, "/api/bookings/confirm", e.user, seat, buf);
			l_conf = (now_s() - t) * 1000;
		} else if (st > 0) {
			t = now_s();
			st3 = exchange(fd, map_req, (size_t)map_len, buf);
			l_map = (now_s() - t) * 1000;
			next = st3 == 200 ? view_from_map(buf) : NULL;
		}
		pthread_mutex_lock(&lock);
		if (st < 0 || st2 == -1 || st3 == -1) {
			failed_conns++;
			ok = 0;
		}
		count_status(st);
		lat_add(&lat_write, l_hold);
		if (st == 200) {
			n_holds++;
			count_status(st2);
			lat_add(&lat_write, l_conf);
			if (st2 == 200) {
				n_confirms++;
				tries_of_winner[e.user] = e.tries;
				if (n_confirms == seats)
					t_sold = now_s() - t0;
			}
		} else if (st > 0) {
			n_refused++;
			if (st3 > 0)
				count_status(st3);
			lat_add(&lat_map, l_map);
			if (next == NULL) { /* the map could not be read: the old view */
				next = e.view;
				e.view->refs++;
			}
			if (next->n > 0) {
				queue[(q_head + q_len) % (size_t)users] =
				    (struct entry){e.user, e.tries + 1, next};
				q_len++;
			} else {
				n_gave_up++;
				view_unref(next);
			}
		}
		view_unref(e.view);
		in_flight--;
		pthread_cond_broadcast(&cond);
	}
	pthread_mutex_unlock(&lock);
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(struct lat *l, double p)
{
	if (l->n == 0)
		return 0;
	size_t i = (size_t)((double)l->n * p / 100.0);
	return l->v[i < l->n ? i : l->n - 1];
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: %s PORT SHOW USERS CONNS ROWS PER_ROW SEED\n", argv[0]);
		return 2;
	}
	port = atoi(argv[1]);
	show = atoi(argv[2]);
	users = atoi(argv[3]);
	conns = atoi(argv[4]);
	rows = atoi(argv[5]);
	per_row = atoi(argv[6]);
	unsigned seed = (unsigned)strtoul(argv[7], NULL, 10);
	seats = rows * per_row;
	if (users < 1 || conns < 1 || seats < 1)
		return 2;
	queue = calloc((size_t)users, sizeof(*queue));
	tries_of_winner = calloc((size_t)users, sizeof(int));
	struct view *all = malloc(sizeof(*all) + (size_t)seats * sizeof(int));
	if (queue == NULL || tries_of_winner == NULL || all == NULL)
		return 1;
	all->refs = users;
	all->n = seats;
	for (int i = 0; i < seats; i++)
		all->seat[i] = i;
	for (int u = 0; u < users; u++)
		queue[u] = (struct entry){u, 1, all};
	q_len = (size_t)users;

	pthread_t *th = calloc((size_t)conns, sizeof(*th));
	for (int i = 0; i < conns; i++)
		pthread_create(&th[i], NULL, crowd_main, (void *)(uintptr_t)(seed + (unsigned)i));
	pthread_mutex_lock(&lock);
	while (ready_conns < conns)
		pthread_cond_wait(&cond, &lock);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_s();
	started = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	double elapsed = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	             (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	             (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	             (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

	long winners = 0, first = 0, second = 0, later = 0;
	for (int u = 0; u < users; u++) {
		int t = tries_of_winner[u];
		winners += t > 0;
		first += t == 1;
		second += t == 2;
		later += t > 2;
	}
	qsort(lat_write.v, lat_write.n, sizeof(double), cmp_double);
	qsort(lat_map.v, lat_map.n, sizeof(double), cmp_double);
	double w = winners > 0 ? (double)winners : 1;
	printf("users=%d connections=%d seats=%d client_cpu_share=%.3f time_to_sell_out_s=%.4f "
	       "elapsed_s=%.4f confirms_per_s=%.1f winners=%ld requests=%ld rps=%.1f holds=%ld "
	       "confirms=%ld refused_holds=%ld gave_up=%ld rate_409=%.4f status_200=%ld "
	       "status_409=%ld status_other=%ld share_first_try=%.4f share_second_try=%.4f "
	       "share_later_try=%.4f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
	       "map_p99_ms=%.3f failed_connections=%d\n",
	       users, conns, seats, cpu / elapsed, t_sold, elapsed,
	       t_sold > 0 ? (double)n_confirms / t_sold : 0.0, winners, n_requests,
	       (double)n_requests / elapsed, n_holds, n_confirms, n_refused, n_gave_up,
	       (double)st_409 / (double)(lat_write.n ? lat_write.n : 1), st_200, st_409, st_other,
	       (double)first / w, (double)second / w, (double)later / w, pct(&lat_write, 50),
	       pct(&lat_write, 90), pct(&lat_write, 99), pct(&lat_write, 99.9), pct(&lat_map, 99),
	       failed_conns);
	return failed_conns > 0 ? 1 : 0;
}
