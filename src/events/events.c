/* events.c - feeds, rings, viewers and the fan-out thread.
 *
 * Two locks. ring_lock guards the feeds' seqs and rings: the store's
 * committing thread takes it only to copy a change list in. view_lock
 * guards the viewer lists and each feed's `flushed` (the last seq handed
 * to viewers); the fan-out thread holds it while it queues an event to
 * every viewer. Order: view_lock, then ring_lock. Feeds live until
 * events_destroy (one per show that changed or was watched).
 *
 * A feed keeps its viewers in one list per core (round robin at attach):
 * the fan-out of a feed with many viewers sends to its lists side by side
 * (events/fanout.c), still under view_lock, so the last of 10,000 viewers
 * gets an event sooner (BENCHMARKS.md). */
#include "events/events.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/seat.h"
#include "events/fanout.h"

enum {
	EVENTS_BUCKETS = 1024,
	EVENTS_PARALLEL_MIN = 64, /* viewers of a feed worth more than one thread */
};

struct events_entry {
	int64_t seq;
	size_t n;
	struct seat_change *changes;
};

struct events_viewer {
	void *stream; /* the io's viewer */
	struct events_viewer *next;
};

struct events_feed {
	int64_t show_id;
	int64_t last;                              /* newest seq (ring_lock) */
	int64_t flushed;                           /* newest seq sent (view_lock) */
	struct events_entry ring[EVENTS_RING];     /* by seq % EVENTS_RING */
	int64_t ring_first;                        /* oldest seq held; > last: empty */
	struct events_viewer *viewers[FANOUT_MAX]; /* one list per part (view_lock) */
	int nviewers;                              /* in all lists (view_lock) */
	unsigned next_list;                        /* the list the next viewer joins */
	bool dirty;                                /* last > flushed (ring_lock) */
	bool reset;                                /* a gap: drop the viewers */
	struct events_feed *next;
	struct events_feed *dirty_next; /* ev->dirty's list (ring_lock) */
	struct events_feed *flush_next; /* the fan-out thread's own copy */
};

struct events {
	struct events_config cfg;
	pthread_mutex_t ring_lock, view_lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stopping;
	bool shared; /* seqs come from the store */
	int64_t seq_base;
	struct events_feed *buckets[EVENTS_BUCKETS];
	struct events_feed *dirty;
	int viewers, reserved; /* view_lock */
	void *keepalive;       /* the comment line, an io message */
	struct fanout *fanout;
	int nlists; /* viewer lists per feed: the fanout's parts */
};

static int64_t events_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct events_feed *events_find(struct events *ev, int64_t show_id)
{
	for (struct events_feed *f = ev->buckets[(uint64_t)show_id % EVENTS_BUCKETS]; f != NULL;
	     f = f->next)
		if (f->show_id == show_id)
			return f;
	return NULL;
}

/* A new feed whose newest seq is `last` (ring_lock held). */
static struct events_feed *events_feed_new(struct events *ev, int64_t show_id, int64_t last)
{
	struct events_feed *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->show_id = show_id;
	f->last = f->flushed = last;
	f->ring_first = last + 1;
	struct events_feed **slot = &ev->buckets[(uint64_t)show_id % EVENTS_BUCKETS];
	f->next = *slot;
	*slot = f;
	return f;
}

static void events_ring_clear(struct events_feed *f)
{
	for (int64_t q = f->ring_first; q <= f->last; q++)
		free(f->ring[q % EVENTS_RING].changes);
	f->ring_first = f->last + 1;
}

/* Appends one show's changes as seq (ring_lock held). */
static void events_append(struct events *ev, struct events_feed *f, int64_t seq,
                          const struct seat_change *changes, size_t n)
{
	struct seat_change *copy = malloc(n * sizeof(*copy));

	if (copy == NULL)
		return; /* the gap is noticed by the fan-out: viewers resync */
	memcpy(copy, changes, n * sizeof(*copy));
	if (seq != f->last + 1) {
		/* A gap (feed rows pruned before this node read them): the
		 * ring cannot serve what is missing, viewers start over. */
		events_ring_clear(f);
		f->last = seq - 1;
		f->ring_first = seq;
		f->reset = true;
	}
	if (f->last - f->ring_first + 1 >= EVENTS_RING) {
		free(f->ring[f->ring_first % EVENTS_RING].changes);
		f->ring_first++;
	}
	struct events_entry *e = &f->ring[seq % EVENTS_RING];
	e->seq = seq;
	e->n = n;
	e->changes = copy;
	f->last = seq;
	if (!f->dirty) {
		f->dirty = true;
		f->dirty_next = ev->dirty;
		ev->dirty = f;
		pthread_cond_signal(&ev->cond);
	}
}

/* One show's run of changes (ring_lock held). */
static void events_take(struct events *ev, int64_t show_id, int64_t seq,
                        const struct seat_change *c, size_t n)
{
	struct events_feed *f = events_find(ev, show_id);

	if (f == NULL) {
		f = events_feed_new(ev, show_id, ev->shared ? seq - 1 : ev->seq_base);
		if (f == NULL)
			return;
	}
	if (!ev->shared)
		seq = f->last + 1;
	else if (seq <= f->last)
		return; /* already known (a feed created from the store's head) */
	events_append(ev, f, seq, c, n);
}

void events_on_commit(struct events *ev, const struct store_cmd *cmd)
{
	if (cmd->nchanges == 0 || ev->shared != (cmd->op == STORE_OP_NOTIFY))
		return;
	pthread_mutex_lock(&ev->ring_lock);
	/* A command's changes come grouped by show (an expiry sweep spans
	 * shows); each group is one seq of its show. */
	size_t i = 0;
	while (i < cmd->nchanges) {
		size_t j = i + 1;
		while (j < cmd->nchanges && cmd->changes[j].show_id == cmd->changes[i].show_id)
			j++;
		events_take(ev, cmd->changes[i].show_id, cmd->feed_seq, cmd->changes + i, j - i);
		i = j;
	}
	pthread_mutex_unlock(&ev->ring_lock);
}

/* ---- messages ---- */

struct events_buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void events_put(struct events_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void events_putf(struct events_buf *b, const char *fmt, long long v)
{
	char tmp[64];
	int n = snprintf(tmp, sizeof(tmp), fmt, v);
	events_put(b, tmp, (size_t)n);
}

static const char *const events_status_name[] = {
    [SEAT_AVAILABLE] = "AVAILABLE",
    [SEAT_HELD] = "HELD",
    [SEAT_BOOKED] = "BOOKED",
};

/* The `seats` event for ring entries first..upto (ring_lock held), or NULL.
 * Its id and seq are upto's: a client that has it has all before it. */
static void *events_message(struct events *ev, struct events_feed *f, int64_t first, int64_t upto)
{
	struct events_buf b = {0};

	events_putf(&b, "id: %lld\nevent: seats\ndata: {\"showId\":", (long long)upto);
	events_putf(&b, "%lld", (long long)f->show_id);
	events_putf(&b, ",\"seq\":%lld,\"changes\":[", (long long)upto);
	bool comma = false;
	for (int64_t q = first; q <= upto; q++) {
		const struct events_entry *e = &f->ring[q % EVENTS_RING];
		for (size_t i = 0; i < e->n; i++) {
			char label[SEAT_LABEL_SIZE];
			int n = seat_format(e->changes[i].seat, label);
			events_put(&b, comma ? ",{\"seat\":\"" : "{\"seat\":\"", comma ? 10 : 9);
			events_put(&b, label, (size_t)n);
			events_put(&b, "\",\"status\":\"", 12);
			const char *st = events_status_name[e->changes[i].status];
			events_put(&b, st, strlen(st));
			events_put(&b, "\"}", 2);
			comma = true;
		}
	}
	events_put(&b, "]}\n\n", 4);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return ev->cfg.io->msg_new(b.p, b.len);
}

/* Messages for the ring entries after..upto, each of at most
 * EVENTS_MESSAGE_CHANGES changes unless one entry alone is larger
 * (ring_lock held). Returns how many were built into out[]; *covered is
 * the last seq they cover. */
static size_t events_messages(struct events *ev, struct events_feed *f, int64_t after, int64_t upto,
                              void **out, size_t max, int64_t *covered)
{
	size_t nout = 0;
	int64_t first = after + 1;

	while (first <= upto && nout < max) {
		int64_t q = first;
		size_t n = f->ring[q % EVENTS_RING].n;
		while (q < upto && n + f->ring[(q + 1) % EVENTS_RING].n <= EVENTS_MESSAGE_CHANGES)
			n += f->ring[++q % EVENTS_RING].n;
		void *m = events_message(ev, f, first, q);
		if (m == NULL)
			break;
		out[nout++] = m;
		first = q + 1;
	}
	*covered = first - 1;
	return nout;
}

/* ---- viewers ---- */

/* One fan-out: msgs to every viewer of f, list by list. */
struct events_job {
	struct events *ev;
	struct events_feed *f;
	void **msgs;
	size_t n;
	int dropped[FANOUT_MAX]; /* per list: parts run side by side */
};

/* Sends the job's msgs to every viewer of one list; drops those that
 * cannot take them. */
static void events_send_list(void *ctx, int list)
{
	struct events_job *j = ctx;
	struct events_viewer **pv = &j->f->viewers[list];

	while (*pv != NULL) {
		struct events_viewer *v = *pv;
		bool ok = true;
		for (size_t i = 0; i < j->n && ok; i++)
			ok = j->ev->cfg.io->send(v->stream, j->msgs[i]) == 0;
		if (ok) {
			pv = &v->next;
		} else {
			*pv = v->next;
			j->ev->cfg.io->drop(v->stream);
			free(v);
			j->dropped[list]++;
		}
	}
}

/* Sends msgs to every viewer of f, a large feed's lists side by side;
 * drops those that cannot take them (view_lock held). */
static void events_fan_out(struct events *ev, struct events_feed *f, void **msgs, size_t n)
{
	struct events_job j = {.ev = ev, .f = f, .msgs = msgs, .n = n};

	if (f->nviewers >= EVENTS_PARALLEL_MIN)
		fanout_run(ev->fanout, events_send_list, &j, ev->nlists);
	else
		for (int i = 0; i < ev->nlists; i++)
			events_send_list(&j, i);
	for (int i = 0; i < ev->nlists; i++) {
		f->nviewers -= j.dropped[i];
		ev->viewers -= j.dropped[i];
	}
}

static void events_drop_all(struct events *ev, struct events_feed *f)
{
	for (int i = 0; i < ev->nlists; i++) {
		while (f->viewers[i] != NULL) {
			struct events_viewer *v = f->viewers[i];
			f->viewers[i] = v->next;
			ev->cfg.io->drop(v->stream);
			free(v);
			f->nviewers--;
			ev->viewers--;
		}
	}
}

enum { EVENTS_BATCH = 64 }; /* messages per feed per pass */

/* Hands one dirty feed's new entries to its viewers. */
static void events_flush_feed(struct events *ev, struct events_feed *f)
{
	void *msgs[EVENTS_BATCH];
	size_t n = 0;

	pthread_mutex_lock(&ev->view_lock);
	pthread_mutex_lock(&ev->ring_lock);
	int64_t upto = f->last;
	bool reset = f->reset || f->flushed < f->ring_first - 1;
	f->reset = false;
	if (!reset && f->nviewers > 0) {
		int64_t covered;
		n = events_messages(ev, f, f->flushed, upto, msgs, EVENTS_BATCH, &covered);
		if (covered < upto) {
			/* What did not fit in this pass waits for the next one. */
			upto = covered;
			if (!f->dirty) {
				f->dirty = true;
				f->dirty_next = ev->dirty;
				ev->dirty = f;
			}
		}
	}
	pthread_mutex_unlock(&ev->ring_lock);
	if (reset)
		events_drop_all(ev, f);
	else
		events_fan_out(ev, f, msgs, n);
	f->flushed = upto;
	pthread_mutex_unlock(&ev->view_lock);
	for (size_t i = 0; i < n; i++)
		ev->cfg.io->msg_unref(msgs[i]);
}

/* A comment line to every viewer; also finds viewers whose client left. */
static void events_keepalive(struct events *ev)
{
	pthread_mutex_lock(&ev->view_lock);
	for (size_t b = 0; b < EVENTS_BUCKETS; b++) {
		pthread_mutex_lock(&ev->ring_lock);
		struct events_feed *f = ev->buckets[b];
		pthread_mutex_unlock(&ev->ring_lock);
		for (; f != NULL; f = f->next)
			events_fan_out(ev, f, &ev->keepalive, 1);
	}
	pthread_mutex_unlock(&ev->view_lock);
}

static void *events_main(void *arg)
{
	struct events *ev = arg;
	int64_t next_keepalive = events_now_ms() + ev->cfg.keepalive_ms;

	pthread_mutex_lock(&ev->ring_lock);
	while (!ev->stopping) {
		int64_t now = events_now_ms();
		if (now >= next_keepalive) {
			pthread_mutex_unlock(&ev->ring_lock);
			events_keepalive(ev);
			pthread_mutex_lock(&ev->ring_lock);
			next_keepalive = now + ev->cfg.keepalive_ms;
			continue;
		}
		if (ev->dirty == NULL) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t wait = next_keepalive - now;
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&ev->cond, &ev->ring_lock, &ts);
			continue;
		}
		/* The list is copied into flush_next under the lock: once a
		 * feed's dirty flag is clear, a commit may link it into the
		 * next list through dirty_next while this pass still walks it. */
		struct events_feed *list = NULL, **tail = &list;
		for (struct events_feed *f = ev->dirty; f != NULL; f = f->dirty_next) {
			f->dirty = false;
			*tail = f;
			tail = &f->flush_next;
		}
		*tail = NULL;
		ev->dirty = NULL;
		pthread_mutex_unlock(&ev->ring_lock);
		int64_t started = events_now_ms();
		while (list != NULL) {
			struct events_feed *f = list;
			list = f->flush_next;
			events_flush_feed(ev, f);
		}
		/* Coalescing: changes committed during the next window go out
		 * together, in seq order. Each event costs every viewer one
		 * send to its socket (a few us of CPU on loopback, more when a
		 * backlog wakes libmicrohttpd; BENCHMARKS.md), so the window
		 * grows with the viewers: fan-out must leave room for writes. */
		pthread_mutex_lock(&ev->view_lock);
		int64_t window = EVENTS_COALESCE_MS + ev->viewers / EVENTS_COALESCE_VIEWERS_PER_MS;
		pthread_mutex_unlock(&ev->view_lock);
		if (window > EVENTS_COALESCE_MAX_MS)
			window = EVENTS_COALESCE_MAX_MS;
		int64_t rest = started + window - events_now_ms();
		if (rest > 0) {
			struct timespec d = {0, (long)rest * 1000000L};
			nanosleep(&d, NULL);
		}
		pthread_mutex_lock(&ev->ring_lock);
	}
	pthread_mutex_unlock(&ev->ring_lock);
	return NULL;
}

/* ---- subscribing ---- */

bool events_reserve(struct events *ev)
{
	pthread_mutex_lock(&ev->view_lock);
	bool ok = !ev->stopping && ev->viewers + ev->reserved < ev->cfg.max_viewers;
	if (ok)
		ev->reserved++;
	pthread_mutex_unlock(&ev->view_lock);
	return ok;
}

void events_unreserve(struct events *ev)
{
	pthread_mutex_lock(&ev->view_lock);
	ev->reserved--;
	pthread_mutex_unlock(&ev->view_lock);
}

bool events_covers(struct events *ev, int64_t show_id, int64_t after)
{
	pthread_mutex_lock(&ev->view_lock);
	pthread_mutex_lock(&ev->ring_lock);
	struct events_feed *f = events_find(ev, show_id);
	bool ok = f != NULL && after >= f->ring_first - 1 && after <= f->flushed;
	pthread_mutex_unlock(&ev->ring_lock);
	pthread_mutex_unlock(&ev->view_lock);
	return ok;
}

int events_position(struct events *ev, int64_t show_id, int64_t *seq)
{
	pthread_mutex_lock(&ev->view_lock);
	pthread_mutex_lock(&ev->ring_lock);
	struct events_feed *f = events_find(ev, show_id);
	if (f != NULL)
		*seq = f->flushed;
	pthread_mutex_unlock(&ev->ring_lock);
	pthread_mutex_unlock(&ev->view_lock);
	if (f != NULL)
		return 0;
	if (!ev->shared) {
		*seq = ev->seq_base;
		return 0;
	}
	return store_feed_head(ev->cfg.store, show_id, seq) == STORE_OK ? 0 : -1;
}

int events_attach(struct events *ev, int64_t show_id, void *s, int64_t after)
{
	struct events_viewer *v = calloc(1, sizeof(*v));
	void *msgs[EVENTS_BATCH];
	size_t n = 0;
	int rc = -1;

	pthread_mutex_lock(&ev->view_lock);
	ev->reserved--;
	pthread_mutex_lock(&ev->ring_lock);
	struct events_feed *f = events_find(ev, show_id);
	if (f == NULL)
		f = events_feed_new(ev, show_id, after);
	if (v != NULL && f != NULL && !ev->stopping && after >= f->ring_first - 1 &&
	    after <= f->flushed) {
		int64_t covered;
		n = events_messages(ev, f, after, f->flushed, msgs, EVENTS_BATCH, &covered);
		rc = covered == f->flushed ? 0 : -1;
	}
	pthread_mutex_unlock(&ev->ring_lock);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (ev->cfg.io->send(s, msgs[i]) != 0)
			rc = -1;
	if (rc == 0) {
		struct events_viewer **list = &f->viewers[f->next_list++ % (unsigned)ev->nlists];
		v->stream = s;
		v->next = *list;
		*list = v;
		f->nviewers++;
		ev->viewers++;
	}
	pthread_mutex_unlock(&ev->view_lock);
	for (size_t i = 0; i < n; i++)
		ev->cfg.io->msg_unref(msgs[i]);
	if (rc != 0) {
		free(v);
		ev->cfg.io->drop(s);
	}
	return rc;
}

int events_retry_ms(const struct events *ev)
{
	(void)ev;
	return EVENTS_RETRY_MS;
}

int events_viewers(struct events *ev)
{
	pthread_mutex_lock(&ev->view_lock);
	int n = ev->viewers;
	pthread_mutex_unlock(&ev->view_lock);
	return n;
}

/* ---- lifecycle ---- */

int events_create(const struct events_config *cfg, struct events **out)
{
	struct events *ev = calloc(1, sizeof(*ev));
	static const char comment[] = ": keepalive\n\n";

	if (ev == NULL)
		return -1;
	ev->cfg = *cfg;
	if (ev->cfg.max_viewers <= 0)
		ev->cfg.max_viewers = EVENTS_MAX_VIEWERS;
	if (ev->cfg.keepalive_ms <= 0)
		ev->cfg.keepalive_ms = EVENTS_KEEPALIVE_MS;
	ev->shared = store_feed_shared(cfg->store);
	ev->seq_base = store_now(cfg->store) * 1000;
	char *text = strdup(comment);
	ev->keepalive = text ? cfg->io->msg_new(text, sizeof(comment) - 1) : NULL;
	pthread_mutex_init(&ev->ring_lock, NULL);
	pthread_mutex_init(&ev->view_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	ev->fanout = fanout_create(cpus < 1 ? 1 : (int)(cpus < FANOUT_MAX ? cpus : FANOUT_MAX));
	ev->nlists = ev->fanout ? fanout_parts(ev->fanout) : 1;
	if (ev->keepalive == NULL || ev->fanout == NULL ||
	    pthread_create(&ev->thread, NULL, events_main, ev) != 0) {
		events_destroy(ev);
		return -1;
	}
	ev->started = true;
	*out = ev;
	return 0;
}

/* The last message of every stream when the server stops: a comment and
 * the retry: hint, so that clients reconnect (to another node, or to this
 * one once it is back) after that delay rather than at once. NULL when
 * out of memory: the streams then just end. */
static void *events_goodbye(struct events *ev)
{
	char text[64];
	int n =
	    snprintf(text, sizeof(text), ": server stopping\nretry: %d\n\n", events_retry_ms(ev));
	char *data = n > 0 ? malloc((size_t)n + 1) : NULL;

	if (data == NULL)
		return NULL;
	memcpy(data, text, (size_t)n + 1);
	return ev->cfg.io->msg_new(data, (size_t)n);
}

void events_shutdown(struct events *ev)
{
	if (ev == NULL)
		return;
	void *bye = events_goodbye(ev);
	pthread_mutex_lock(&ev->view_lock);
	pthread_mutex_lock(&ev->ring_lock);
	ev->stopping = true;
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->ring_lock);
	for (size_t b = 0; b < EVENTS_BUCKETS; b++) {
		for (struct events_feed *f = ev->buckets[b]; f != NULL; f = f->next) {
			/* a full stream just ends */
			for (int i = 0; i < ev->nlists && bye != NULL; i++)
				for (struct events_viewer *v = f->viewers[i]; v != NULL;
				     v = v->next)
					ev->cfg.io->send(v->stream, bye);
			events_drop_all(ev, f);
		}
	}
	pthread_mutex_unlock(&ev->view_lock);
	if (bye != NULL)
		ev->cfg.io->msg_unref(bye);
	if (ev->started) {
		pthread_join(ev->thread, NULL);
		ev->started = false;
	}
}

void events_destroy(struct events *ev)
{
	if (ev == NULL)
		return;
	events_shutdown(ev);
	for (size_t b = 0; b < EVENTS_BUCKETS; b++) {
		while (ev->buckets[b] != NULL) {
			struct events_feed *f = ev->buckets[b];
			ev->buckets[b] = f->next;
			events_ring_clear(f);
			free(f);
		}
	}
	if (ev->keepalive != NULL)
		ev->cfg.io->msg_unref(ev->keepalive);
	fanout_destroy(ev->fanout);
	pthread_mutex_destroy(&ev->ring_lock);
	pthread_mutex_destroy(&ev->view_lock);
	pthread_cond_destroy(&ev->cond);
	free(ev);
}
