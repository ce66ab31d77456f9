/* events.h - the per-show change feed behind GET /api/shows/{id}/events.
 *
 * Every committed seat change reaches events_on_commit() (the store's
 * listener) in commit order. Each show has a feed: the seq of its newest
 * change, a bounded ring of recent changes (for Last-Event-ID resume) and
 * the viewers subscribed to it. One fan-out thread turns new ring entries
 * into one server-sent event per show per short window (coalescing), built
 * once and queued by reference to every viewer's stream, so a writer never
 * waits for a viewer and a slow viewer only loses its own stream (its
 * stream's bound is reached, it is closed; it reconnects and resumes).
 *
 * Where seqs come from: with a store that keeps a shared feed (PostgreSQL:
 * seqs are assigned in each write's own transaction and every node tails
 * them, see store.h), only STORE_OP_NOTIFY commands carry changes here,
 * each with its seq, and the node's own commits arrive that way too. With
 * a single-node store (SQLite) the feed numbers the committed change lists
 * itself, starting above the process start time in milliseconds times
 * 1000, so seqs of an earlier run never look resumable.
 *
 * Consistency of snapshot and stream: a viewer is given the position P of
 * the show's feed BEFORE its snapshot is read, then every change after P.
 * A change both in the snapshot and after P is applied twice, which is
 * harmless: every change says a seat's new status, in seq order. */
#ifndef BOXOFFICE_EVENTS_EVENTS_H
#define BOXOFFICE_EVENTS_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "store/store.h"

enum {
	EVENTS_RING = 4096,                   /* recent commits kept per show: more than a
	                                       * coalescing window holds at full write rate */
	EVENTS_VIEWER_QUEUE = 512 * 1024,     /* bytes queued per viewer, at most */
	EVENTS_MESSAGE_CHANGES = 1000,        /* changes per event, at most */
	EVENTS_COALESCE_MS = 20,              /* one event per show per window, */
	EVENTS_COALESCE_VIEWERS_PER_MS = 100, /* longer by 1 ms per this many viewers */
	EVENTS_COALESCE_MAX_MS = 150,         /* up to this */
	EVENTS_KEEPALIVE_MS = 15 * 1000,      /* comment line interval */
	EVENTS_RETRY_MS = 2000,               /* the retry: hint */
	EVENTS_MAX_VIEWERS = 20000,           /* default viewer limit */
	EVENTS_RETRY_AFTER_S = 5,             /* Retry-After when full */
};

/* How events/ reaches viewers without knowing HTTP (api/ provides it). A
 * message is built once and shared by the queues of all its viewers. */
struct events_io {
	/* A shared message of data (taken); NULL out of memory. */
	void *(*msg_new)(char *data, size_t len);
	void (*msg_unref)(void *msg);
	/* Queues msg on a viewer's stream, which takes its own reference.
	 * 0, or -1: the viewer cannot take it (gone, closed, over its bound). */
	int (*send)(void *viewer, void *msg);
	/* Ends a viewer's stream and drops the feed's reference to it. */
	void (*drop)(void *viewer);
};

struct events_config {
	const struct events_io *io;
	int max_viewers;  /* 0: EVENTS_MAX_VIEWERS */
	int keepalive_ms; /* 0: EVENTS_KEEPALIVE_MS (tests shorten it) */
	struct store *store;
};

struct events;

int events_create(const struct events_config *cfg, struct events **out);
/* Closes every viewer's stream; call before the HTTP server stops. */
void events_shutdown(struct events *ev);
void events_destroy(struct events *ev);

/* The store listener: takes the committed changes of cmd (any thread,
 * commit order). Copies what it keeps; never blocks on viewers. */
void events_on_commit(struct events *ev, const struct store_cmd *cmd);

/* Takes a viewer slot; false when the limit is reached (answer 503). */
bool events_reserve(struct events *ev);
/* Gives back a slot taken by events_reserve and not attached. */
void events_unreserve(struct events *ev);
/* true when the show's ring still holds every change after `after` (a
 * Last-Event-ID resume needs no snapshot). */
bool events_covers(struct events *ev, int64_t show_id, int64_t after);
/* The feed position to send a snapshot at (read BEFORE the snapshot).
 * <0 when the store cannot tell (storage down). */
int events_position(struct events *ev, int64_t show_id, int64_t *seq);
/* Subscribes viewer (takes it, and a reserved slot):
 * queues every change after `after` still in the ring, then each new one.
 * <0 when the ring no longer reaches back that far (the viewer is
 * dropped: its client reconnects). */
int events_attach(struct events *ev, int64_t show_id, void *viewer, int64_t after);
/* The configured keep-alive interval (for the retry: line's sibling). */
int events_retry_ms(const struct events *ev);
/* Viewers attached now (for /metrics and tests). */
int events_viewers(struct events *ev);

#endif
