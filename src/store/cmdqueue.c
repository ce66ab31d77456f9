/* cmdqueue.c - a ring of command pointers under one mutex. */
#include "store/cmdqueue.h"

#include <stdlib.h>

int cmdqueue_init(struct cmdqueue *q, size_t cap)
{
	q->ring = calloc(cap, sizeof(*q->ring));
	if (q->ring == NULL)
		return STORE_ERR;
	q->cap = cap;
	q->head = q->len = 0;
	q->closing = 0;
	hist_init(&q->batch, hist_batch_bounds, hist_batch_n);
	hist_init(&q->txn_seconds, hist_latency_bounds, hist_latency_n);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return STORE_OK;
}

void cmdqueue_destroy(struct cmdqueue *q)
{
	if (q->ring == NULL)
		return;
	free(q->ring);
	q->ring = NULL;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

int cmdqueue_push(struct cmdqueue *q, struct store_cmd *cmd)
{
	int rc = STORE_OK;

	pthread_mutex_lock(&q->lock);
	if (q->closing || q->len == q->cap) {
		rc = STORE_EBUSY;
	} else {
		q->ring[(q->head + q->len) % q->cap] = cmd;
		q->len++;
		pthread_cond_signal(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

size_t cmdqueue_pop(struct cmdqueue *q, struct store_cmd **out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	while (q->len == 0 && !q->closing)
		pthread_cond_wait(&q->cond, &q->lock);
	while (n < max && q->len > 0) {
		out[n++] = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	pthread_mutex_unlock(&q->lock);
	if (n > 0)
		hist_observe(&q->batch, (double)n);
	return n;
}

void cmdqueue_close(struct cmdqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closing = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

size_t cmdqueue_depth(struct cmdqueue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void cmdqueue_observe_txn(struct cmdqueue *q, double seconds)
{
	hist_observe(&q->txn_seconds, seconds);
}
