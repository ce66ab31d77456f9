/* seatmap_cache.h - the per-show cache of seat-map answers.
 *
 * The seat map is the hottest read, so its JSON is cached per show. The
 * writer never builds JSON: after a commit it only invalidates (drops the
 * cached body and bumps the show's generation). A reader rebuilds on a miss
 * and installs its body only if the generation did not move while it was
 * reading, so a body older than a commit is never installed. A cached body
 * also goes stale on its own when its earliest hold expires (lazy expiry),
 * and at the latest SEATMAP_MAX_AGE_MS after it was built. */
#ifndef BOXOFFICE_API_SEATMAP_CACHE_H
#define BOXOFFICE_API_SEATMAP_CACHE_H

#include <stdint.h>

#include "http/http.h"

enum {
	/* A cached map is rebuilt at least this often, whatever happens: it
	 * bounds staleness should another node's notification be lost. */
	SEATMAP_MAX_AGE_MS = 1000,
};

struct seatmap_cache;

/* What a reader saw when it missed: the install must match it. */
struct seatmap_ticket {
	int had_entry;
	uint64_t generation; /* the show's, when had_entry */
	uint64_t epoch;      /* the cache's, otherwise */
};

struct seatmap_cache *seatmap_cache_new(void);
void seatmap_cache_free(struct seatmap_cache *c);

/* A commit changed show_id (0: anything may have changed). */
void seatmap_cache_invalidate(struct seatmap_cache *c, int64_t show_id);

/* Answers req (200, content_type) with show_id's cached body when it is
 * still fresh at now, and returns 1. Otherwise returns 0 and fills *t for
 * seatmap_cache_install(). */
int seatmap_cache_respond(struct seatmap_cache *c, int64_t show_id, int64_t now,
                          struct http_request *req, const char *content_type,
                          struct seatmap_ticket *t);

/* Like seatmap_cache_respond, but hands back show_id's fresh body (a
 * reference for the caller) instead of answering; NULL with *t filled on
 * a miss. */
struct http_body *seatmap_cache_get(struct seatmap_cache *c, int64_t show_id, int64_t now,
                                    struct seatmap_ticket *t);

/* Installs body (the cache takes its own reference) as show_id's map,
 * fresh until stale_at, unless a commit invalidated the show since t. */
void seatmap_cache_install(struct seatmap_cache *c, int64_t show_id, const struct seatmap_ticket *t,
                           struct http_body *body, int64_t stale_at);

#endif
