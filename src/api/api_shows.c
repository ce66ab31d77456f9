/* api_shows.c - GET /api/shows/active and GET /api/shows/{id}.
 *
 * The seat map is the hottest read, so its JSON is cached per show. The
 * writer never builds JSON: after a commit it only invalidates (drops the
 * cached body and bumps the show's generation). A reader rebuilds on a miss
 * and installs its body only if the generation did not move while it was
 * reading, so a body older than a commit is never installed. A cached body
 * also goes stale on its own when its earliest hold expires (lazy expiry). */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

enum {
	SEATMAP_BUCKETS = 1024,
	/* A cached map is rebuilt at least this often, whatever happens: it
	 * bounds staleness should another node's notification be lost. */
	SEATMAP_MAX_AGE_MS = 1000,
};

struct seatmap_entry {
	int64_t show_id;
	uint64_t generation;
	struct http_body *body; /* NULL when invalid */
	int64_t stale_at;       /* earliest live hold expiry in body */
	struct seatmap_entry *next;
};

struct seatmap_cache {
	pthread_mutex_t lock;
	uint64_t epoch; /* bumped by every invalidation */
	struct seatmap_entry *buckets[SEATMAP_BUCKETS];
};

struct seatmap_cache *seatmap_cache_new(void)
{
	struct seatmap_cache *c = calloc(1, sizeof(*c));

	if (c != NULL)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

void seatmap_cache_free(struct seatmap_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < SEATMAP_BUCKETS; i++) {
		struct seatmap_entry *e = c->buckets[i];
		while (e != NULL) {
			struct seatmap_entry *next = e->next;
			http_body_unref(e->body);
			free(e);
			e = next;
		}
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct seatmap_entry **seatmap_slot(struct seatmap_cache *c, int64_t show_id)
{
	return &c->buckets[(uint64_t)show_id % SEATMAP_BUCKETS];
}

static struct seatmap_entry *seatmap_find(struct seatmap_cache *c, int64_t show_id)
{
	for (struct seatmap_entry *e = *seatmap_slot(c, show_id); e != NULL; e = e->next)
		if (e->show_id == show_id)
			return e;
	return NULL;
}

static void seatmap_entry_invalidate(struct seatmap_entry *e)
{
	e->generation++;
	http_body_unref(e->body);
	e->body = NULL;
}

void seatmap_cache_invalidate(struct seatmap_cache *c, int64_t show_id)
{
	pthread_mutex_lock(&c->lock);
	c->epoch++;
	if (show_id == 0) {
		/* Anything may have changed (e.g. missed notifications). */
		for (size_t i = 0; i < SEATMAP_BUCKETS; i++)
			for (struct seatmap_entry *e = c->buckets[i]; e != NULL; e = e->next)
				seatmap_entry_invalidate(e);
	} else {
		struct seatmap_entry *e = seatmap_find(c, show_id);
		if (e != NULL)
			seatmap_entry_invalidate(e);
	}
	pthread_mutex_unlock(&c->lock);
}

static void seatmap_json(struct jbuf *b, const struct show_details *d)
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

void api_shows_get(struct api *api, struct http_request *req, const char *seg)
{
	struct seatmap_cache *c = api->seatmaps;
	int64_t show_id, now = store_now(api->store);
	struct show_details d;
	enum outcome o = OUTCOME_UNAVAILABLE;
	uint64_t generation = 0, epoch;
	struct jbuf b;
	size_t len;

	if (api_path_id(req, seg, &show_id) != 0)
		return;
	pthread_mutex_lock(&c->lock);
	struct seatmap_entry *e = seatmap_find(c, show_id);
	if (e != NULL && e->body != NULL && now < e->stale_at) {
		/* Queue while holding the lock: an invalidation cannot free
		 * the body between lookup and reference. */
		http_body_ref(e->body);
		http_respond_shared(req, 200, api_json_type, e->body);
		pthread_mutex_unlock(&c->lock);
		atomic_fetch_add_explicit(&api->metrics.seatmap_hits, 1, memory_order_relaxed);
		return;
	}
	int had_entry = e != NULL;
	if (had_entry)
		generation = e->generation;
	epoch = c->epoch;
	pthread_mutex_unlock(&c->lock);

	atomic_fetch_add_explicit(&api->metrics.seatmap_misses, 1, memory_order_relaxed);
	if (store_show_details(api->store, show_id, &d, &o) != 0) {
		api_outcome_error(req, OUTCOME_UNAVAILABLE, NULL, 0);
		return;
	}
	if (o != OUTCOME_OK) {
		api_outcome_error(req, o, NULL, 0);
		return;
	}
	jbuf_init(&b, 64 + (size_t)d.total_seats * 8);
	seatmap_json(&b, &d);
	int64_t stale_at = d.next_expiry;
	if (stale_at > now + SEATMAP_MAX_AGE_MS)
		stale_at = now + SEATMAP_MAX_AGE_MS;
	store_show_details_free(&d);
	char *text = jbuf_take(&b, &len);
	if (text == NULL)
		return;
	struct http_body *body = http_body_new(text, len);
	if (body == NULL)
		return;

	pthread_mutex_lock(&c->lock);
	int install;
	if (had_entry) {
		e = seatmap_find(c, show_id);
		install = e != NULL && e->generation == generation;
	} else {
		/* No generation to compare: any commit since we looked wins. */
		install = c->epoch == epoch;
		e = seatmap_find(c, show_id);
		if (install && e == NULL) {
			/* Entries exist only for shows that were read. */
			e = calloc(1, sizeof(*e));
			if (e != NULL) {
				e->show_id = show_id;
				e->next = *seatmap_slot(c, show_id);
				*seatmap_slot(c, show_id) = e;
			}
		}
	}
	if (install && e != NULL) {
		http_body_unref(e->body);
		http_body_ref(body);
		e->body = body;
		e->stale_at = stale_at;
	}
	pthread_mutex_unlock(&c->lock);
	http_respond_shared(req, 200, api_json_type, body);
}

void api_shows_active(struct api *api, struct http_request *req, const char *seg)
{
	struct show_summary *shows;
	size_t n;
	struct jbuf b;
	(void)seg;

	if (store_active_shows(api->store, &shows, &n) != 0) {
		api_outcome_error(req, OUTCOME_UNAVAILABLE, NULL, 0);
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
