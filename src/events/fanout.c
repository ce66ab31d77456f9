/* fanout.c - helper threads for the parts of one job (see fanout.h).
 *
 * One lock and two condition variables: a job is published by bumping
 * `gen` under the lock; each helper whose index is below the job's part
 * count runs its part outside the lock and counts itself out; the caller
 * waits until the count is zero. The job's fields are read only between
 * the publication and the count reaching zero, so the caller may keep
 * them on its stack. */
#include "events/fanout.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct fanout_helper {
	struct fanout *fo;
	int index;
	pthread_t thread;
};

struct fanout {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	uint64_t gen;
	int pending; /* helpers still running the current job */
	bool stop;
	void (*fn)(void *ctx, int part);
	void *ctx;
	int parts;
	int started; /* helpers running: helper[1..started] */
	struct fanout_helper helper[FANOUT_MAX];
};

static void *fanout_main(void *arg)
{
	struct fanout_helper *h = arg;
	struct fanout *fo = h->fo;
	uint64_t seen = 0;

	pthread_mutex_lock(&fo->lock);
	for (;;) {
		while (fo->gen == seen && !fo->stop)
			pthread_cond_wait(&fo->work, &fo->lock);
		if (fo->stop)
			break;
		seen = fo->gen;
		if (h->index >= fo->parts)
			continue;
		void (*fn)(void *, int) = fo->fn;
		void *ctx = fo->ctx;
		pthread_mutex_unlock(&fo->lock);
		fn(ctx, h->index);
		pthread_mutex_lock(&fo->lock);
		if (--fo->pending == 0)
			pthread_cond_signal(&fo->done);
	}
	pthread_mutex_unlock(&fo->lock);
	return NULL;
}

struct fanout *fanout_create(int parts)
{
	struct fanout *fo = calloc(1, sizeof(*fo));

	if (fo == NULL)
		return NULL;
	pthread_mutex_init(&fo->lock, NULL);
	pthread_cond_init(&fo->work, NULL);
	pthread_cond_init(&fo->done, NULL);
	if (parts > FANOUT_MAX)
		parts = FANOUT_MAX;
	for (int i = 1; i < parts; i++) {
		struct fanout_helper *h = &fo->helper[i];
		h->fo = fo;
		h->index = i;
		if (pthread_create(&h->thread, NULL, fanout_main, h) != 0)
			break;
		fo->started = i;
	}
	return fo;
}

int fanout_parts(const struct fanout *fo)
{
	return fo->started + 1;
}

void fanout_run(struct fanout *fo, void (*fn)(void *ctx, int part), void *ctx, int parts)
{
	if (parts > 1) {
		pthread_mutex_lock(&fo->lock);
		fo->fn = fn;
		fo->ctx = ctx;
		fo->parts = parts;
		fo->pending = parts - 1;
		fo->gen++;
		pthread_cond_broadcast(&fo->work);
		pthread_mutex_unlock(&fo->lock);
	}
	fn(ctx, 0);
	if (parts > 1) {
		pthread_mutex_lock(&fo->lock);
		while (fo->pending > 0)
			pthread_cond_wait(&fo->done, &fo->lock);
		pthread_mutex_unlock(&fo->lock);
	}
}

void fanout_destroy(struct fanout *fo)
{
	if (fo == NULL)
		return;
	pthread_mutex_lock(&fo->lock);
	fo->stop = true;
	pthread_cond_broadcast(&fo->work);
	pthread_mutex_unlock(&fo->lock);
	for (int i = 1; i <= fo->started; i++)
		pthread_join(fo->helper[i].thread, NULL);
	pthread_mutex_destroy(&fo->lock);
	pthread_cond_destroy(&fo->work);
	pthread_cond_destroy(&fo->done);
	free(fo);
}
