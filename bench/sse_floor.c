/* sse_floor.c - the machine's floor for fan-out: how long one send to each
 * of V loopback TCP sockets takes with no server around it, from 1 and from
 * 2 sending threads, while a child process reads every socket (as the
 * fan-out benchmark's viewers do). The server's fan-out pass cannot beat
 * this; bench/sse_fanout.sh prints it beside the server's figures.
 *
 * Each socket gets the server's stream settings (16 KiB send buffer,
 * TCP_NODELAY). A round is done when the reader has every byte of it.
 * Two processes, so that 2 x V descriptors fit under the file limit.
 *
 * usage: sse_floor VIEWERS BYTES ROUNDS
 * Prints one line of key=value results (best and median of the rounds). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { PER_ADDR = 1000, SNDBUF = 16 * 1024, MAX_ROUNDS = 64, MAX_THREADS = 2 };

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The child: connects n sockets, then reads; writes one byte to `done`
 * each time it has received another `round` bytes in all. */
static void reader(struct sockaddr_in *dst, int n, long round, int ready, int done)
{
	int ep = epoll_create1(0);
	char buf[65536];
	long got = 0;

	for (int i = 0; i < n; i++) {
		struct sockaddr_in src = {0};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i / PER_ADDR));
		if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
		    connect(fd, (struct sockaddr *)dst, sizeof(*dst)) != 0)
			_exit(1);
		fcntl(fd, F_SETFL, O_NONBLOCK);
		struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	for (;;) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, 1000);
		for (int j = 0; j < k; j++) {
			ssize_t r;
			while ((r = read(evs[j].data.fd, buf, sizeof(buf))) > 0) {
				/* scan as the viewers do */
				if (memmem(buf, (size_t)r, "\"seat\":\"", 8) == NULL && r > 1 << 30)
					_exit(1);
				long before = got / round;
				got += r;
				for (long q = before; q < got / round; q++)
					if (write(done, "d", 1) != 1)
						_exit(1);
			}
			if (r == 0)
				_exit(0);
		}
	}
}

struct job {
	const int *fd;
	int lo, hi;
	const char *msg;
	size_t len;
	long partial;
};

static void *sender(void *arg)
{
	struct job *j = arg;
	for (int i = j->lo; i < j->hi; i++)
		if (send(j->fd[i], j->msg, j->len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)j->len)
			j->partial++;
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s VIEWERS BYTES ROUNDS\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[1]), rounds = atoi(argv[3]);
	size_t len = (size_t)atol(argv[2]);
	if (n < 1 || len < 1 || rounds < 1 || rounds > MAX_ROUNDS)
		return 2;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(0x7f000001u);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4096) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) != 0)
		return 1;
	int ready[2], done[2];
	if (pipe(ready) != 0 || pipe(done) != 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		close(l);
		reader(&a, n, (long)n * (long)len, ready[1], done[1]);
		_exit(0);
	}
	int *fd = calloc((size_t)n, sizeof(int));
	for (int i = 0; i < n; i++) {
		fd[i] = accept(l, NULL, NULL);
		if (fd[i] < 0)
			return 1;
		int sz = SNDBUF, one = 1;
		setsockopt(fd[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	char c;
	if (read(ready[0], &c, 1) != 1)
		return 1;
	char *msg = malloc(len);
	static const char entry[] = "{\"seat\":\"A1\",\"status\":\"HELD\"},";
	for (size_t i = 0; i < len; i++)
		msg[i] = entry[i % (sizeof(entry) - 1)];
	printf("viewers=%d bytes=%zu rounds=%d", n, len, rounds);
	for (int threads = 1; threads <= MAX_THREADS; threads++) {
		double took[MAX_ROUNDS];
		long partial = 0;
		for (int r = 0; r < rounds; r++) {
			struct job jobs[MAX_THREADS];
			pthread_t th[MAX_THREADS];
			double t0 = now_ms();
			for (int t = 0; t < threads; t++) {
				jobs[t] = (struct job){fd, n * t / threads, n * (t + 1) / threads, msg, len, 0};
				pthread_create(&th[t], NULL, sender, &jobs[t]);
			}
			for (int t = 0; t < threads; t++) {
				pthread_join(th[t], NULL);
				partial += jobs[t].partial;
			}
			if (read(done[0], &c, 1) != 1) /* the reader has the whole round */
				return 1;
			took[r] = now_ms() - t0;
			usleep(200 * 1000);
		}
		qsort(took, (size_t)rounds, sizeof(double), cmp_double);
		printf(" threads%d_best_ms=%.1f threads%d_median_ms=%.1f threads%d_partial=%ld", threads,
		       took[0], threads, took[rounds / 2], threads, partial);
	}
	printf("\n");
	for (int i = 0; i < n; i++)
		close(fd[i]);
	waitpid(child, NULL, 0);
	return 0;
}
