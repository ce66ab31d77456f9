/* sweeper.c - the expiry thread.
 *
 * Test builds only (BOXOFFICE_TESTING, the boxoffice_testing binary):
 * BOXOFFICE_TEST_NO_SWEEPER=1 keeps the thread from ever sweeping, so that
 * tests can show that every read and write applies expiry by itself. The
 * server a user runs has no such switch. */
#include "sweeper.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sweeper {
	struct store *store;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t next_at; /* INT64_MAX: nothing known */
	int stopping;
	int disabled;       /* test builds: never sweep */
	int recheck;        /* ask the store for the next expiry */
	int64_t recheck_at; /* not before this (store clock) */
	struct store_cmd cmd;
};

static void sweeper_wait_until(struct sweeper *sw, int64_t at)
{
	/* The store clock is wall time; the condvar uses CLOCK_REALTIME. */
	struct timespec ts = {(time_t)(at / 1000), (long)(at % 1000) * 1000000L};

	pthread_cond_timedwait(&sw->cond, &sw->lock, &ts);
}

static void *sweeper_main(void *arg)
{
	struct sweeper *sw = arg;

	pthread_mutex_lock(&sw->lock);
	while (!sw->stopping) {
		if (sw->disabled) {
			pthread_cond_wait(&sw->cond, &sw->lock);
			continue;
		}
		int64_t now = store_now(sw->store);
		if (sw->recheck && now >= sw->recheck_at) {
			sw->recheck = 0;
			sw->recheck_at = now + SWEEPER_RECHECK_MS;
			pthread_mutex_unlock(&sw->lock);
			int64_t next = INT64_MAX;
			int rc = store_next_expiry(sw->store, &next);
			pthread_mutex_lock(&sw->lock);
			if (rc == 0 && next < sw->next_at)
				sw->next_at = next;
			continue;
		}
		if (sw->next_at > now) {
			int64_t until = sw->next_at;
			if (until - now > SWEEPER_IDLE_MS)
				until = now + SWEEPER_IDLE_MS;
			if (sw->recheck && sw->recheck_at < until)
				until = sw->recheck_at;
			sweeper_wait_until(sw, until);
			if (sw->stopping || store_now(sw->store) < sw->next_at)
				continue;
		}
		/* Holds noted while the sweep runs lower this again. */
		sw->next_at = INT64_MAX;
		pthread_mutex_unlock(&sw->lock);

		int64_t next = INT64_MAX;
		struct store_cmd *cmd = &sw->cmd;
		store_cmd_clear(cmd);
		cmd->op = STORE_OP_EXPIRE_DUE;
		int rc = store_run(sw->store, cmd);
		if (rc == 0 && cmd->outcome == OUTCOME_OK)
			rc = store_next_expiry(sw->store, &next);
		else
			rc = -1;

		pthread_mutex_lock(&sw->lock);
		if (rc == 0) {
			if (next < sw->next_at)
				sw->next_at = next;
		} else {
			sw->next_at = store_now(sw->store) + SWEEPER_RETRY_MS;
		}
	}
	pthread_mutex_unlock(&sw->lock);
	store_cmd_clear(&sw->cmd);
	return NULL;
}

static int sweeper_test_disabled(void)
{
#ifdef BOXOFFICE_TESTING
	const char *v = getenv("BOXOFFICE_TEST_NO_SWEEPER");

	if (v != NULL && strcmp(v, "1") == 0) {
		fprintf(stderr, "boxoffice: test build: the sweeper is off "
		                "(BOXOFFICE_TEST_NO_SWEEPER=1)\n");
		return 1;
	}
#endif
	return 0;
}

int sweeper_start(struct store *st, struct sweeper **out)
{
	struct sweeper *sw;

	assert(st != NULL && out != NULL);
	sw = calloc(1, sizeof(*sw));
	if (sw == NULL)
		return -1;
	sw->store = st;
	sw->disabled = sweeper_test_disabled();
	sw->next_at = 0; /* sweep once at start: holds may have expired while down */
	pthread_mutex_init(&sw->lock, NULL);
	pthread_cond_init(&sw->cond, NULL);
	if (pthread_create(&sw->thread, NULL, sweeper_main, sw) != 0) {
		pthread_mutex_destroy(&sw->lock);
		pthread_cond_destroy(&sw->cond);
		free(sw);
		return -1;
	}
	*out = sw;
	return 0;
}

void sweeper_note_expiry(struct sweeper *sw, int64_t at)
{
	assert(sw != NULL && at > 0);
	pthread_mutex_lock(&sw->lock);
	if (at < sw->next_at) {
		sw->next_at = at;
		pthread_cond_signal(&sw->cond);
	}
	pthread_mutex_unlock(&sw->lock);
}

void sweeper_recheck(struct sweeper *sw)
{
	pthread_mutex_lock(&sw->lock);
	if (!sw->recheck) {
		sw->recheck = 1;
		pthread_cond_signal(&sw->cond);
	}
	pthread_mutex_unlock(&sw->lock);
}

void sweeper_stop(struct sweeper *sw)
{
	if (sw == NULL)
		return;
	pthread_mutex_lock(&sw->lock);
	sw->stopping = 1;
	pthread_cond_signal(&sw->cond);
	pthread_mutex_unlock(&sw->lock);
	pthread_join(sw->thread, NULL);
	pthread_mutex_destroy(&sw->lock);
	pthread_cond_destroy(&sw->cond);
	free(sw);
}
