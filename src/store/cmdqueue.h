/* cmdqueue.h - the bounded queue of write commands that a backend's
 * worker threads (SQLite: the one writer; PostgreSQL: one per pooled
 * connection) take their work from. Full or closed: STORE_EBUSY, and the
 * API answers 503 rather than queue without bound. */
#ifndef BOXOFFICE_STORE_CMDQUEUE_H
#define BOXOFFICE_STORE_CMDQUEUE_H

#include <pthread.h>
#include <stddef.h>

#include "core/hist.h"
#include "store/store.h"

struct cmdqueue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct store_cmd **ring;
	size_t cap, head, len;
	int closing;
	/* For /metrics: commands handed out together (one transaction on
	 * SQLite, always 1 on PostgreSQL), and how long each transaction took,
	 * observed by the backend. */
	struct hist batch, txn_seconds;
};

int cmdqueue_init(struct cmdqueue *q, size_t cap);
void cmdqueue_destroy(struct cmdqueue *q);
/* STORE_OK, or STORE_EBUSY when full or closed. */
int cmdqueue_push(struct cmdqueue *q, struct store_cmd *cmd);
/* Waits for work and takes up to max commands, oldest first; returns 0
 * only once the queue is closed and empty. */
size_t cmdqueue_pop(struct cmdqueue *q, struct store_cmd **out, size_t max);
/* Refuses new commands; those queued are still handed out. */
void cmdqueue_close(struct cmdqueue *q);
/* Commands waiting now. */
size_t cmdqueue_depth(struct cmdqueue *q);
/* The backend reports the duration of one transaction it ran for commands
 * taken from q. */
void cmdqueue_observe_txn(struct cmdqueue *q, double seconds);

#endif
