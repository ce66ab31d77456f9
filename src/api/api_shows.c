/* api_shows.c - GET /api/shows/active and GET /api/shows/{id}.
 *
 * The seat map (API.md 2) is answered from seatmap_cache.c when it can be;
 * on a miss it is read from the store and written straight into a buffer
 * (no JSON tree: this is the hottest read). */
#include <stdlib.h>

#include "api/api_internal.h"

static void shows_seatmap_json(struct jbuf *b, const struct show_details *d)
{
	jbuf_lit(b, "{\"showId\":");
	jbuf_int(b, d->show_id);
	jbuf_lit(b, ",\"movieName\":");
	jbuf_str(b, d->movie_name);
	jbuf_lit(b, ",\"durationMinutes\":");
	jbuf_int(b, d->duration_minutes);
	jbuf_lit(b, ",\"showTime\":");
	jbuf_time(b, d->show_time);
	jbuf_lit(b, ",\"screenName\":");
	jbuf_str(b, d->screen_name);
	jbuf_lit(b, ",\"status\":");
	jbuf_str(b, d->status);
	jbuf_lit(b, ",\"rows\":");
	jbuf_int(b, d->rows);
	jbuf_lit(b, ",\"seatsPerRow\":");
	jbuf_int(b, d->seats_per_row);
	jbuf_lit(b, ",\"totalSeats\":");
	jbuf_int(b, d->total_seats);
	jbuf_lit(b, ",\"availableSeats\":");
	jbuf_int(b, d->navailable);
	jbuf_lit(b, ",\"heldSeats\":");
	jbuf_int(b, d->nheld);
	jbuf_lit(b, ",\"bookedSeats\":");
	jbuf_int(b, d->nbooked);
	jbuf_lit(b, ",\"seats\":{\"available\":");
	jbuf_seats(b, d->available, (size_t)d->navailable);
	jbuf_lit(b, ",\"held\":");
	jbuf_seats(b, d->held, (size_t)d->nheld);
	jbuf_lit(b, ",\"booked\":");
	jbuf_seats(b, d->booked, (size_t)d->nbooked);
	jbuf_lit(b, "}}");
}

int api_seatmap_body(struct api *api, int64_t show_id, struct http_body **out, enum outcome *o)
{
	int64_t now = store_now(api->store);
	struct seatmap_ticket ticket;
	struct show_details d;
	struct jbuf b;
	size_t len;

	*o = OUTCOME_UNAVAILABLE;
	*out = seatmap_cache_get(api->seatmaps, show_id, now, &ticket);
	if (*out != NULL) {
		api_metrics_count_seatmap(&api->metrics, 1);
		*o = OUTCOME_OK;
		return 0;
	}
	api_metrics_count_seatmap(&api->metrics, 0);
	if (store_show_details(api->store, show_id, &d, o) != 0) {
		*o = OUTCOME_UNAVAILABLE;
		return -1;
	}
	if (*o != OUTCOME_OK)
		return 0;
	jbuf_init(&b, 64 + (size_t)d.total_seats * 8);
	shows_seatmap_json(&b, &d);
	int64_t stale_at = d.next_expiry;
	if (stale_at > now + SEATMAP_MAX_AGE_MS)
		stale_at = now + SEATMAP_MAX_AGE_MS;
	store_show_details_free(&d);
	char *text = jbuf_take(&b, &len);
	struct http_body *body = text ? http_body_new(text, len) : NULL;
	if (body == NULL) {
		*o = OUTCOME_UNAVAILABLE;
		return -1;
	}
	seatmap_cache_install(api->seatmaps, show_id, &ticket, body, stale_at);
	*out = body;
	return 0;
}

void api_shows_get(struct api *api, struct http_request *req, const char *seg)
{
	int64_t show_id;
	struct http_body *body;
	enum outcome o;
	struct api_bad bad;

	if (api_parse_path_id(seg, &show_id, &bad) != 0) {
		api_error_bad(req, &bad);
		return;
	}
	if (api_seatmap_body(api, show_id, &body, &o) != 0 || o != OUTCOME_OK) {
		api_error(req, api_err_of(o), NULL);
		return;
	}
	http_respond_shared(req, 200, api_json_type, body);
}

void api_shows_active(struct api *api, struct http_request *req, const char *seg)
{
	struct show_summary *shows;
	size_t n;
	struct jbuf b;
	(void)seg;

	if (store_active_shows(api->store, &shows, &n) != 0) {
		api_error(req, api_err_of(OUTCOME_UNAVAILABLE), NULL);
		return;
	}
	jbuf_init(&b, 64 + n * 256);
	jbuf_lit(&b, "[");
	for (size_t i = 0; i < n; i++) {
		const struct show_summary *s = &shows[i];
		jbuf_lit(&b, i ? ",{\"showId\":" : "{\"showId\":");
		jbuf_int(&b, s->show_id);
		jbuf_lit(&b, ",\"movieId\":");
		jbuf_int(&b, s->movie_id);
		jbuf_lit(&b, ",\"movieName\":");
		jbuf_str(&b, s->movie_name);
		jbuf_lit(&b, ",\"durationMinutes\":");
		jbuf_int(&b, s->duration_minutes);
		jbuf_lit(&b, ",\"showTime\":");
		jbuf_time(&b, s->show_time);
		jbuf_lit(&b, ",\"screenId\":");
		jbuf_int(&b, s->screen_id);
		jbuf_lit(&b, ",\"screenName\":");
		jbuf_str(&b, s->screen_name);
		jbuf_lit(&b, ",\"totalSeats\":");
		jbuf_int(&b, s->total_seats);
		jbuf_lit(&b, ",\"availableSeats\":");
		jbuf_int(&b, s->available_seats);
		jbuf_lit(&b, "}");
	}
	jbuf_lit(&b, "]");
	free(shows);
	api_send(req, 200, &b);
}
