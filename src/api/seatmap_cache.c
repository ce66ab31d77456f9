/* seatmap_cache.c - the per-show seat-map cache (see seatmap_cache.h). */
#include "api/seatmap_cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

enum { SEATMAP_BUCKETS = 1024 };

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

int seatmap_cache_respond(struct seatmap_cache *c, int64_t show_id, int64_t now,
                          struct http_request *req, const char *content_type,
                          struct seatmap_ticket *t)
{
	assert(show_id > 0);
	pthread_mutex_lock(&c->lock);
	struct seatmap_entry *e = seatmap_find(c, show_id);
	if (e != NULL && e->body != NULL && now < e->stale_at) {
		/* Queue while holding the lock: an invalidation cannot free
		 * the body between lookup and reference. */
		http_body_ref(e->body);
		http_respond_shared(req, 200, content_type, e->body);
		pthread_mutex_unlock(&c->lock);
		return 1;
	}
	t->had_entry = e != NULL;
	t->generation = e != NULL ? e->generation : 0;
	t->epoch = c->epoch;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

struct http_body *seatmap_cache_get(struct seatmap_cache *c, int64_t show_id, int64_t now,
                                    struct seatmap_ticket *t)
{
	struct http_body *body = NULL;

	assert(show_id > 0);
	pthread_mutex_lock(&c->lock);
	struct seatmap_entry *e = seatmap_find(c, show_id);
	if (e != NULL && e->body != NULL && now < e->stale_at) {
		http_body_ref(e->body); /* under the lock, as above */
		body = e->body;
	} else {
		t->had_entry = e != NULL;
		t->generation = e != NULL ? e->generation : 0;
		t->epoch = c->epoch;
	}
	pthread_mutex_unlock(&c->lock);
	return body;
}

void seatmap_cache_install(struct seatmap_cache *c, int64_t show_id, const struct seatmap_ticket *t,
                           struct http_body *body, int64_t stale_at)
{
	struct seatmap_entry *e;
	int install;

	assert(show_id > 0 && body != NULL);
	pthread_mutex_lock(&c->lock);
	if (t->had_entry) {
		e = seatmap_find(c, show_id);
		install = e != NULL && e->generation == t->generation;
	} else {
		/* No generation to compare: any commit since we looked wins. */
		install = c->epoch == t->epoch;
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
}
