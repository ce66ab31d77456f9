/* api.c - the life of one API instance: creating and destroying its state
 * (api_internal.h), the hooks it registers with http/, and what it does
 * after every commit (drop cached seat maps, count expiries). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

int api_create(const struct api_config *cfg, struct store *st, struct api **out)
{
	struct api *api;

	assert(cfg != NULL && st != NULL && out != NULL);
	assert(cfg->max_seats_per_request >= 1 && cfg->max_seats_per_request <= BOOKING_SEATS_MAX);
	api = calloc(1, sizeof(*api));
	if (api == NULL)
		return -1;
	api->cfg = *cfg;
	api->store = st;
	api->seatmaps = seatmap_cache_new();
	if (api->seatmaps == NULL) {
		free(api);
		return -1;
	}
	if (api_reqstats_new(api) != 0) {
		seatmap_cache_free(api->seatmaps);
		free(api);
		return -1;
	}
	if (api_limits_init(&api->limits, cfg) != 0) {
		api_reqstats_free(api);
		seatmap_cache_free(api->seatmaps);
		free(api);
		return -1;
	}
	api_keys_init(&api->keys);
	*out = api;
	return 0;
}

void api_config_defaults(struct api_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_seats_per_request = 10;
	cfg->write_rate_user.rate = API_WRITE_RATE_USER_DEFAULT;
	cfg->write_rate_user.burst = API_WRITE_BURST_USER_DEFAULT;
}

void api_destroy(struct api *api)
{
	if (api == NULL)
		return;
	seatmap_cache_free(api->seatmaps);
	api_keys_destroy(&api->keys);
	api_limits_destroy(&api->limits);
	api_reqstats_free(api);
	free(api);
}

void api_http_hooks(struct api *api, struct http_config *cfg)
{
	cfg->handler = api_handle;
	cfg->error = api_http_error;
	cfg->handler_arg = api;
}

void api_on_commit(struct api *api, const struct store_cmd *cmd)
{
	int64_t last = 0;

	if (cmd->op == STORE_OP_EXPIRE_DUE)
		api_metrics_count_expired(&api->metrics, cmd->expired);
	for (size_t i = 0; i < cmd->nchanges; i++) {
		if (cmd->changes[i].show_id != last) {
			last = cmd->changes[i].show_id;
			seatmap_cache_invalidate(api->seatmaps, last);
		}
	}
	if (cmd->op == STORE_OP_CANCEL_SHOW || (cmd->op == STORE_OP_NOTIFY && cmd->nchanges == 0))
		seatmap_cache_invalidate(api->seatmaps, cmd->show_id);
}
