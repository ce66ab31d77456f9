/* hist.c - lock-free histograms for /metrics. See hist.h. */
#include "core/hist.h"

#include <string.h>

const double hist_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const int hist_latency_n = sizeof(hist_latency_bounds) / sizeof(hist_latency_bounds[0]);
const double hist_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
const int hist_batch_n = sizeof(hist_batch_bounds) / sizeof(hist_batch_bounds[0]);

void hist_init(struct hist *h, const double *bounds, int n)
{
	if (n > HIST_BOUNDS_MAX)
		n = HIST_BOUNDS_MAX;
	h->n = n;
	memcpy(h->bounds, bounds, (size_t)n * sizeof(*bounds));
	for (int i = 0; i <= HIST_BOUNDS_MAX; i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum_millionths, 0);
}

void hist_observe(struct hist *h, double v)
{
	int i = 0;

	while (i < h->n && v > h->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	if (v > 0)
		atomic_fetch_add_explicit(&h->sum_millionths, (unsigned long long)(v * 1e6 + 0.5),
		                          memory_order_relaxed);
}

void hist_read(const struct hist *h, struct hist_snapshot *out)
{
	unsigned long long total = 0;

	out->n = h->n;
	memcpy(out->bounds, h->bounds, sizeof(out->bounds));
	for (int i = 0; i <= h->n; i++) {
		total += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		out->cumulative[i] = total;
	}
	out->sum = (double)atomic_load_explicit(&h->sum_millionths, memory_order_relaxed) / 1e6;
}
