/* api_metrics.h - the counters behind GET /metrics (Prometheus text
 * format): answered writes by operation and outcome, holds expired by this
 * node's sweeper, seat-map cache hits and misses; and the storage's
 * durability settings, read at each scrape. Counters are relaxed
 * atomics, bumped on the request's own thread. */
#ifndef BOXOFFICE_API_API_METRICS_H
#define BOXOFFICE_API_API_METRICS_H

#include <stdatomic.h>

#include "api/jbuf.h"
#include "http/http.h"
#include "store/store.h"

enum { API_METRICS_OPS = STORE_OP_NOTIFY + 1 };

struct api_metrics {
	atomic_llong writes[API_METRICS_OPS][OUTCOME_COUNT]; /* answered writes */
	atomic_llong holds_expired;                          /* by this node's sweeper */
	atomic_llong seatmap_hits, seatmap_misses;
	atomic_llong hold_best_repicks; /* picked seats taken first: picked again */
};

/* Counts an answered write. */
void api_metrics_count_write(struct api_metrics *m, const struct store_cmd *cmd);
/* Counts one seat-map answer, from the cache (hit) or from storage. */
void api_metrics_count_seatmap(struct api_metrics *m, int hit);
/* Counts a hold-best whose picked seats another write took first. */
void api_metrics_count_repick(struct api_metrics *m);
/* Counts the holds a committed expire-due command gave back. */
void api_metrics_count_expired(struct api_metrics *m, int64_t n);

/* An operation's name in labels ("hold", ...; "other" out of range). */
const char *api_metrics_op_name(enum store_op op);

/* Writes a metric family's "# HELP" and "# TYPE" lines (type "counter",
 * "gauge" or "histogram"); every family of /metrics starts with them. */
void api_metrics_family(struct jbuf *b, const char *name, const char *type, const char *help);

/* Writes every counter, and st's durability settings as gauges, in
 * Prometheus text format into b (GET /metrics, api_health.c). */
void api_metrics_write(const struct api_metrics *m, struct store *st, struct jbuf *b);

#endif
