/* hist.h - a histogram for /metrics: fixed bucket bounds, lock-free
 * observation from any thread (relaxed atomics), read as a snapshot whose
 * cumulative counts and total agree with each other.
 *
 * Values are doubles (seconds, commands per batch); the sum is kept in
 * millionths, exact enough for any latency or size we count. */
#ifndef BOXOFFICE_CORE_HIST_H
#define BOXOFFICE_CORE_HIST_H

#include <stdatomic.h>

enum { HIST_BOUNDS_MAX = 16 };

struct hist {
	int n; /* finite upper bounds, ascending */
	double bounds[HIST_BOUNDS_MAX];
	atomic_ullong counts[HIST_BOUNDS_MAX + 1]; /* per bucket; [n] is above the last bound */
	atomic_ullong sum_millionths;
};

struct hist_snapshot {
	int n;
	double bounds[HIST_BOUNDS_MAX];
	unsigned long long cumulative[HIST_BOUNDS_MAX + 1]; /* [n] is le="+Inf" = count */
	double sum;
};

/* Bounds beyond HIST_BOUNDS_MAX are dropped (the last bucket takes them). */
void hist_init(struct hist *h, const double *bounds, int n);
void hist_observe(struct hist *h, double v);
void hist_read(const struct hist *h, struct hist_snapshot *out);

/* Bounds shared by the server's histograms. */
extern const double hist_latency_bounds[]; /* seconds, 0.5 ms .. 10 s */
extern const int hist_latency_n;
extern const double hist_batch_bounds[]; /* commands per transaction, 1 .. 256 */
extern const int hist_batch_n;

#endif
