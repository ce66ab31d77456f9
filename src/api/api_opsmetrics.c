/* api_opsmetrics.c - what /metrics shows an operator beyond the write
 * counters: requests by route and status with a latency histogram per
 * route, bookings by kind, seats by status of the soonest active shows,
 * the storage's queue, batches, transaction times and connection pool,
 * open connections, event-stream viewers and the build.
 *
 * The families are a table (api_opsmetrics_families): adding one is one
 * writer function and one line. Label values come from our own tables
 * (routes, status slots, operation names) or are numbers, so the number
 * of series is bounded; the per-show family is capped at
 * API_METRICS_SHOWS_MAX shows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/hist.h"

/* Statuses counted under their own label; the rest under "other". */
static const unsigned api_status_slots[] = {200, 201, 204, 304, 400, 401, 404, 405, 408,
                                            409, 413, 414, 415, 422, 429, 431, 500, 503};
enum { API_STATUS_SLOTS = sizeof(api_status_slots) / sizeof(api_status_slots[0]) };

struct api_route_stats {
	atomic_ullong by_status[API_STATUS_SLOTS + 1];
	struct hist seconds;
};

struct api_reqstats {
	int nroutes; /* routes of api.c, plus one for requests no route matched */
	struct api_route_stats routes[];
};

int api_reqstats_new(struct api *api)
{
	int n = api_route_count() + 1;
	struct api_reqstats *rs = calloc(1, sizeof(*rs) + (size_t)n * sizeof(rs->routes[0]));

	if (rs == NULL)
		return -1;
	rs->nroutes = n;
	for (int i = 0; i < n; i++) {
		for (int k = 0; k <= API_STATUS_SLOTS; k++)
			atomic_init(&rs->routes[i].by_status[k], 0);
		hist_init(&rs->routes[i].seconds, hist_latency_bounds, hist_latency_n);
	}
	api->reqstats = rs;
	return 0;
}

void api_reqstats_free(struct api *api)
{
	free(api->reqstats);
	api->reqstats = NULL;
}

static int api_status_slot(unsigned status)
{
	for (int k = 0; k < API_STATUS_SLOTS; k++)
		if (api_status_slots[k] == status)
			return k;
	return API_STATUS_SLOTS;
}

void api_observe_request(struct api *api, const struct http_request *req)
{
	struct api_reqstats *rs = api->reqstats;
	int r = api_route_index(http_route(req));
	unsigned status = http_status(req);

	if (rs == NULL || status == 0)
		return; /* never answered: the client went away */
	if (r < 0 || r >= rs->nroutes - 1)
		r = rs->nroutes - 1;
	atomic_fetch_add_explicit(&rs->routes[r].by_status[api_status_slot(status)], 1,
	                          memory_order_relaxed);
	hist_observe(&rs->routes[r].seconds, (double)http_duration_us(req) / 1e6);
}

/* ---- text format helpers ---- */

static void api_double(struct jbuf *b, double v)
{
	char num[32];

	snprintf(num, sizeof(num), "%.9g", v);
	jbuf_lit(b, num);
}

/* name{labels} value; labels is "" or 'k="v",k2="v2"' (our own text). */
static void api_sample(struct jbuf *b, const char *name, const char *labels, long long v)
{
	jbuf_lit(b, name);
	if (*labels) {
		jbuf_lit(b, "{");
		jbuf_lit(b, labels);
		jbuf_lit(b, "}");
	}
	jbuf_lit(b, " ");
	jbuf_int(b, v);
	jbuf_lit(b, "\n");
}

/* A family of one unlabelled sample: its HELP and TYPE lines, then it. */
static void api_single(struct jbuf *b, const char *name, const char *type, const char *help,
                       long long v)
{
	api_metrics_family(b, name, type, help);
	api_sample(b, name, "", v);
}

/* The samples of one histogram: _bucket{...,le}, _sum, _count. */
static void api_hist(struct jbuf *b, const char *name, const char *labels, const struct hist *h)
{
	struct hist_snapshot s;
	char series[160];
	const char *sep = *labels ? "," : "";

	hist_read(h, &s);
	for (int i = 0; i <= s.n; i++) {
		jbuf_lit(b, name);
		jbuf_lit(b, "_bucket{");
		jbuf_lit(b, labels);
		jbuf_lit(b, sep);
		jbuf_lit(b, "le=\"");
		if (i < s.n)
			api_double(b, s.bounds[i]);
		else
			jbuf_lit(b, "+Inf");
		jbuf_lit(b, "\"} ");
		jbuf_int(b, (int64_t)s.cumulative[i]);
		jbuf_lit(b, "\n");
	}
	snprintf(series, sizeof(series), "%s_sum", name);
	jbuf_lit(b, series);
	if (*labels) {
		jbuf_lit(b, "{");
		jbuf_lit(b, labels);
		jbuf_lit(b, "}");
	}
	jbuf_lit(b, " ");
	api_double(b, s.sum);
	jbuf_lit(b, "\n");
	snprintf(series, sizeof(series), "%s_count", name);
	api_sample(b, series, labels, (long long)s.cumulative[s.n]);
}

/* ---- the families ---- */

struct api_scrape {
	struct api *api;
	struct http_request *req;
	struct store_stats store;
};

static void api_fam_build(struct jbuf *b, const struct api_scrape *sc)
{
	char labels[128];

	snprintf(labels, sizeof(labels), "version=\"%s\",backend=\"%s\"", BOXOFFICE_VERSION,
	         store_backend_name(sc->api->store));
	api_metrics_family(b, "boxoffice_build_info", "gauge",
	                   "The build and storage backend of this node.");
	api_sample(b, "boxoffice_build_info", labels, 1);
}

static const char *api_route_label(const struct api_reqstats *rs, int r)
{
	return r < rs->nroutes - 1 ? api_route_name(r) : "other";
}

static void api_fam_requests(struct jbuf *b, const struct api_scrape *sc)
{
	const struct api_reqstats *rs = sc->api->reqstats;
	char labels[160], status[16];

	api_metrics_family(b, "boxoffice_http_requests_total", "counter",
	                   "Answered requests by route template and status.");
	for (int r = 0; r < rs->nroutes; r++) {
		for (int k = 0; k <= API_STATUS_SLOTS; k++) {
			unsigned long long v =
			    atomic_load_explicit(&rs->routes[r].by_status[k], memory_order_relaxed);
			if (v == 0)
				continue;
			if (k < API_STATUS_SLOTS)
				snprintf(status, sizeof(status), "%u", api_status_slots[k]);
			else
				snprintf(status, sizeof(status), "other");
			snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%s\"",
			         api_route_label(rs, r), status);
			api_sample(b, "boxoffice_http_requests_total", labels, (long long)v);
		}
	}
	api_metrics_family(b, "boxoffice_http_request_duration_seconds", "histogram",
	                   "Time from a request's headers to its end, by route template.");
	for (int r = 0; r < rs->nroutes; r++) {
		struct hist_snapshot s;
		hist_read(&rs->routes[r].seconds, &s);
		if (s.cumulative[s.n] == 0)
			continue;
		snprintf(labels, sizeof(labels), "route=\"%s\"", api_route_label(rs, r));
		api_hist(b, "boxoffice_http_request_duration_seconds", labels,
		         &rs->routes[r].seconds);
	}
}

static void api_fam_connections(struct jbuf *b, const struct api_scrape *sc)
{
	struct http_stats hs;

	http_get_stats(sc->req, &hs);
	api_single(b, "boxoffice_http_connections", "gauge", "Open client connections.",
	           (long long)hs.connections);
	api_single(b, "boxoffice_http_requests_in_progress", "gauge",
	           "Requests begun and not yet answered (this scrape included), "
	           "waiting writes among them.",
	           (long long)hs.in_progress);
	api_metrics_family(b, "boxoffice_http_connections_refused_total", "counter",
	                   "Connections closed at once by a connection limit, by limit.");
	api_sample(b, "boxoffice_http_connections_refused_total", "limit=\"total\"",
	           (long long)hs.refused_total);
	api_sample(b, "boxoffice_http_connections_refused_total", "limit=\"per_ip\"",
	           (long long)hs.refused_per_ip);
	api_metrics_family(
	    b, "boxoffice_http_timeouts_total", "counter",
	    "Connections closed because a request's headers or body came too slowly.");
	api_sample(b, "boxoffice_http_timeouts_total", "phase=\"header\"",
	           (long long)hs.header_timeouts);
	api_sample(b, "boxoffice_http_timeouts_total", "phase=\"body\"",
	           (long long)hs.body_timeouts);
	api_single(b, "boxoffice_http_half_closed_total", "counter",
	           "Connections closed because the client half-closed them before "
	           "its request was complete.",
	           (long long)hs.half_closed);
	api_single(b, "boxoffice_http_framing_errors_total", "counter",
	           "Requests refused with 400 for ambiguous framing or control bytes.",
	           (long long)hs.framing_errors);
}

/* Bookings by kind, from the write counters: successful holds (hold and
 * hold-best), confirms, releases and cancels, and refusals that were
 * conflicts (409) by operation. Expiries are
 * boxoffice_holds_expired_total. */
static long long api_writes(const struct api *api, enum store_op op, enum outcome o)
{
	return atomic_load_explicit(&api->metrics.writes[op][o], memory_order_relaxed);
}

static void api_fam_bookings(struct jbuf *b, const struct api_scrape *sc)
{
	static const struct {
		const char *name, *help;
		enum store_op op, op2;
	} kinds[] = {
	    {"boxoffice_holds_total", "Holds that held seats (hold and hold-best).", STORE_OP_HOLD,
	     STORE_OP_HOLD_BEST},
	    {"boxoffice_confirms_total", "Confirms that booked seats (retries included).",
	     STORE_OP_CONFIRM, STORE_OP_CONFIRM},
	    {"boxoffice_releases_total", "Releases that answered the cart.", STORE_OP_RELEASE,
	     STORE_OP_RELEASE},
	    {"boxoffice_cancels_total", "Cancels that answered the cancelled booking.",
	     STORE_OP_CANCEL, STORE_OP_CANCEL},
	};
	static const enum store_op conflict_ops[] = {
	    STORE_OP_HOLD, STORE_OP_HOLD_BEST, STORE_OP_CONFIRM, STORE_OP_RELEASE, STORE_OP_CANCEL};
	const struct api *api = sc->api;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		long long v = api_writes(api, kinds[i].op, OUTCOME_OK);
		if (kinds[i].op2 != kinds[i].op)
			v += api_writes(api, kinds[i].op2, OUTCOME_OK);
		api_metrics_family(b, kinds[i].name, "counter", kinds[i].help);
		api_sample(b, kinds[i].name, "", v);
	}
	api_metrics_family(b, "boxoffice_conflicts_total", "counter",
	                   "Writes refused with 409 because of the seats' or booking's state, by "
	                   "operation.");
	for (size_t i = 0; i < sizeof(conflict_ops) / sizeof(conflict_ops[0]); i++) {
		long long v = 0;
		char labels[64];
		for (int o = 0; o < OUTCOME_COUNT; o++)
			if (api_error_status(api_err_of((enum outcome)o)) == 409 &&
			    o != OUTCOME_IDEMPOTENCY_KEY_IN_USE)
				v += api_writes(api, conflict_ops[i], (enum outcome)o);
		snprintf(labels, sizeof(labels), "op=\"%s\"", api_metrics_op_name(conflict_ops[i]));
		api_sample(b, "boxoffice_conflicts_total", labels, v);
	}
}

static void api_fam_shows(struct jbuf *b, const struct api_scrape *sc)
{
	struct show_summary *shows = NULL;
	size_t n = 0;

	if (store_active_shows(sc->api->store, &shows, &n) != 0)
		return;
	api_single(b, "boxoffice_active_shows", "gauge", "Shows that can still be booked.",
	           (long long)n);
	char help[128];
	snprintf(help, sizeof(help), "Seats by status of the %d soonest active shows.",
	         API_METRICS_SHOWS_MAX);
	api_metrics_family(b, "boxoffice_show_seats", "gauge", help);
	for (size_t i = 0; i < n && i < API_METRICS_SHOWS_MAX; i++) {
		struct show_details d;
		enum outcome o = OUTCOME_UNAVAILABLE;
		static const char *const names[] = {"available", "held", "booked"};
		if (store_show_details(sc->api->store, shows[i].show_id, &d, &o) != 0 ||
		    o != OUTCOME_OK)
			continue;
		int counts[] = {d.navailable, d.nheld, d.nbooked};
		for (int k = 0; k < 3; k++) {
			char labels[96];
			snprintf(labels, sizeof(labels), "show_id=\"%lld\",status=\"%s\"",
			         (long long)shows[i].show_id, names[k]);
			api_sample(b, "boxoffice_show_seats", labels, counts[k]);
		}
		store_show_details_free(&d);
	}
	free(shows);
}

static void api_fam_store(struct jbuf *b, const struct api_scrape *sc)
{
	const struct store_stats *st = &sc->store;

	api_single(b, "boxoffice_store_queue_depth", "gauge", "Write commands waiting for storage.",
	           (long long)st->queue_depth);
	api_single(b, "boxoffice_store_queue_capacity", "gauge",
	           "Room in the write queue; beyond it writes answer 503.",
	           (long long)st->queue_capacity);
	if (st->batch_size != NULL) {
		api_metrics_family(b, "boxoffice_store_batch_size", "histogram",
		                   "Write commands committed in one transaction.");
		api_hist(b, "boxoffice_store_batch_size", "", st->batch_size);
	}
	if (st->txn_seconds != NULL) {
		api_metrics_family(b, "boxoffice_store_transaction_seconds", "histogram",
		                   "Time of one write transaction, begin to durable commit.");
		api_hist(b, "boxoffice_store_transaction_seconds", "", st->txn_seconds);
	}
	api_metrics_family(b, "boxoffice_db_pool_connections", "gauge",
	                   "Database connections of the pool (PostgreSQL: the pool; SQLite: the "
	                   "readers'), by state.");
	api_sample(b, "boxoffice_db_pool_connections", "state=\"in_use\"", st->pool_in_use);
	api_sample(b, "boxoffice_db_pool_connections", "state=\"idle\"", st->pool_idle);
}

static void api_fam_viewers(struct jbuf *b, const struct api_scrape *sc)
{
	if (sc->api->cfg.events == NULL)
		return; /* no change feed (a test build of the API) */
	api_single(b, "boxoffice_sse_viewers", "gauge",
	           "Event-stream viewers attached now (GET /api/shows/{id}/events).",
	           events_viewers(sc->api->cfg.events));
}

typedef void (*api_family_fn)(struct jbuf *b, const struct api_scrape *sc);

static const api_family_fn api_opsmetrics_families[] = {
    api_fam_build, api_fam_requests, api_fam_connections, api_fam_bookings,
    api_fam_shows, api_fam_store,    api_fam_viewers,
};

void api_opsmetrics_write(struct api *api, struct http_request *req, struct jbuf *b)
{
	struct api_scrape sc = {.api = api, .req = req};

	store_stats(api->store, &sc.store);
	for (size_t i = 0; i < sizeof(api_opsmetrics_families) / sizeof(api_opsmetrics_families[0]);
	     i++)
		api_opsmetrics_families[i](b, &sc);
}
