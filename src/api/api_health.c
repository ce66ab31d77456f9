/* api_health.c - GET /healthz (the process answers), GET /readyz (its
 * storage answers too, with the durability settings it runs on) and
 * GET /metrics. */
#include "api/api_internal.h"

void api_health_live(struct api *api, struct http_request *req, const char *seg)
{
	struct jbuf b;
	(void)api;
	(void)seg;

	jbuf_init(&b, 32);
	jbuf_lit(&b, "{\"status\":\"ok\"}");
	api_send(req, 200, &b);
}

void api_health_ready(struct api *api, struct http_request *req, const char *seg)
{
	struct store_durability d;
	struct jbuf b;
	(void)seg;

	if (http_draining(req)) {
		/* Shutting down: balancers stop sending before the node goes. */
		api_error(req, api_err_of(OUTCOME_UNAVAILABLE), "the server is shutting down");
		return;
	}
	if (store_ping(api->store) != 0) {
		api_error(req, api_err_of(OUTCOME_UNAVAILABLE), NULL);
		return;
	}
	jbuf_init(&b, 64);
	jbuf_lit(&b, "{\"status\":\"ready\",\"backend\":");
	jbuf_str(&b, store_backend_name(api->store));
	if (store_durability(api->store, &d) == 0) {
		/* "durability":{"settings":{"fsync":"on",...},"atRisk":[names]} */
		jbuf_lit(&b, ",\"durability\":{\"settings\":{");
		for (int i = 0; i < d.n; i++) {
			if (i > 0)
				jbuf_lit(&b, ",");
			jbuf_str(&b, d.settings[i].name);
			jbuf_lit(&b, ":");
			jbuf_str(&b, d.settings[i].value);
		}
		jbuf_lit(&b, "},\"atRisk\":[");
		for (int i = 0, first = 1; i < d.n; i++) {
			if (d.settings[i].risk == NULL)
				continue;
			if (!first)
				jbuf_lit(&b, ",");
			first = 0;
			jbuf_str(&b, d.settings[i].name);
		}
		jbuf_lit(&b, "]}");
	}
	jbuf_lit(&b, "}");
	api_send(req, 200, &b);
}

void api_metrics_get(struct api *api, struct http_request *req, const char *seg)
{
	struct jbuf b;
	size_t len;
	(void)seg;

	jbuf_init(&b, 16384);
	api_metrics_write(&api->metrics, api->store, &b);
	api_opsmetrics_write(api, req, &b);
	api_limits_metrics_write(api, &b);
	char *body = jbuf_take(&b, &len);
	if (body != NULL)
		http_respond(req, 200, "text/plain; version=0.0.4", body, len, NULL, NULL);
}
