/* api_metrics.c - the /metrics counters (see api_metrics.h). */
#include "api/api_metrics.h"

#include "api/jbuf.h"

static const char *const api_metrics_op_names[API_METRICS_OPS] = {
    [STORE_OP_HOLD] = "hold",
    [STORE_OP_HOLD_BEST] = "hold_best",
    [STORE_OP_CONFIRM] = "confirm",
    [STORE_OP_RELEASE] = "release",
    [STORE_OP_CANCEL] = "cancel",
    [STORE_OP_EXPIRE_DUE] = "expire_due",
    [STORE_OP_CREATE_SCREEN] = "create_screen",
    [STORE_OP_CREATE_MOVIE] = "create_movie",
    [STORE_OP_CREATE_SHOW] = "create_show",
    [STORE_OP_CANCEL_SHOW] = "cancel_show",
    [STORE_OP_NOTIFY] = "notify",
};

void api_metrics_count_write(struct api_metrics *m, const struct store_cmd *cmd)
{
	if ((unsigned)cmd->op < API_METRICS_OPS && (unsigned)cmd->outcome < OUTCOME_COUNT)
		atomic_fetch_add_explicit(&m->writes[cmd->op][cmd->outcome], 1,
		                          memory_order_relaxed);
}

void api_metrics_count_seatmap(struct api_metrics *m, int hit)
{
	atomic_fetch_add_explicit(hit ? &m->seatmap_hits : &m->seatmap_misses, 1,
	                          memory_order_relaxed);
}

void api_metrics_count_repick(struct api_metrics *m)
{
	atomic_fetch_add_explicit(&m->hold_best_repicks, 1, memory_order_relaxed);
}

void api_metrics_count_expired(struct api_metrics *m, int64_t n)
{
	atomic_fetch_add_explicit(&m->holds_expired, n, memory_order_relaxed);
}

void api_metrics_family(struct jbuf *b, const char *name, const char *type, const char *help)
{
	jbuf_lit(b, "# HELP ");
	jbuf_lit(b, name);
	jbuf_lit(b, " ");
	jbuf_lit(b, help);
	jbuf_lit(b, "\n# TYPE ");
	jbuf_lit(b, name);
	jbuf_lit(b, " ");
	jbuf_lit(b, type);
	jbuf_lit(b, "\n");
}

static void api_metrics_counter(struct jbuf *b, const char *name, const char *help,
                                const atomic_llong *v)
{
	api_metrics_family(b, name, "counter", help);
	jbuf_lit(b, name);
	jbuf_lit(b, " ");
	jbuf_int(b, atomic_load_explicit(v, memory_order_relaxed));
	jbuf_lit(b, "\n");
}

/* The storage's durability settings, read now: one gauge per setting with
 * its value as a label, and how many of them can lose acknowledged writes. */
static void api_metrics_durability(struct store *st, struct jbuf *b)
{
	struct store_durability d;
	int risky = 0;

	if (store_durability(st, &d) != 0)
		return;
	jbuf_lit(b, "# HELP boxoffice_storage_setting A storage setting that durability rests on "
	            "(its value is the label).\n# TYPE boxoffice_storage_setting gauge\n");
	for (int i = 0; i < d.n; i++) {
		jbuf_lit(b, "boxoffice_storage_setting{name=");
		jbuf_str(b, d.settings[i].name);
		jbuf_lit(b, ",value=");
		jbuf_str(b, d.settings[i].value);
		jbuf_lit(b, "} 1\n");
		risky += d.settings[i].risk != NULL;
	}
	jbuf_lit(b, "# HELP boxoffice_storage_durability_at_risk Storage settings with which an "
	            "acknowledged write can be lost (0: none).\n"
	            "# TYPE boxoffice_storage_durability_at_risk gauge\n"
	            "boxoffice_storage_durability_at_risk ");
	jbuf_int(b, risky);
	jbuf_lit(b, "\n");
}

const char *api_metrics_op_name(enum store_op op)
{
	return (unsigned)op < API_METRICS_OPS && api_metrics_op_names[op] ? api_metrics_op_names[op]
	                                                                  : "other";
}

void api_metrics_write(const struct api_metrics *m, struct store *st, struct jbuf *b)
{
	jbuf_lit(b, "# HELP boxoffice_writes_total Write requests answered, by operation and "
	            "outcome.\n# TYPE boxoffice_writes_total counter\n");
	for (int op = 0; op < API_METRICS_OPS; op++) {
		for (int o = 0; o < OUTCOME_COUNT; o++) {
			long long v = atomic_load_explicit(&m->writes[op][o], memory_order_relaxed);
			if (v == 0)
				continue;
			jbuf_lit(b, "boxoffice_writes_total{op=\"");
			jbuf_lit(b, api_metrics_op_names[op]);
			jbuf_lit(b, "\",outcome=\"");
			jbuf_lit(b, outcome_name((enum outcome)o));
			jbuf_lit(b, "\"} ");
			jbuf_int(b, v);
			jbuf_lit(b, "\n");
		}
	}
	api_metrics_counter(b, "boxoffice_holds_expired_total",
	                    "Expired holds given back by this node's sweeper.", &m->holds_expired);
	api_metrics_counter(b, "boxoffice_seatmap_cache_hits_total",
	                    "Seat maps served from the cache.", &m->seatmap_hits);
	api_metrics_counter(b, "boxoffice_seatmap_cache_misses_total",
	                    "Seat maps built from storage.", &m->seatmap_misses);
	api_metrics_counter(
	    b, "boxoffice_hold_best_repicks_total",
	    "Hold-best seats chosen again because another write took the picked ones "
	    "first.",
	    &m->hold_best_repicks);
	api_metrics_durability(st, b);
}
