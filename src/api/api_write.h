/* api_write.h - the write path shared by every POST: a pending command per
 * request, the Idempotency-Key in-flight table, submission to the store
 * with the request suspended, and the answer once the store is done. */
#ifndef BOXOFFICE_API_API_WRITE_H
#define BOXOFFICE_API_API_WRITE_H

#include <pthread.h>

#include "http/http.h"
#include "store/store.h"

struct api;

enum { API_KEYS_BUCKETS = 256 };

/* The Idempotency-Keys whose first request still runs on this node: a
 * second request with one gets 409 IDEMPOTENCY_KEY_IN_USE at once. (Across
 * nodes the store's own record decides.) */
struct api_keys {
	pthread_mutex_t lock;
	struct api_key *buckets[API_KEYS_BUCKETS];
};

void api_keys_init(struct api_keys *k);
void api_keys_destroy(struct api_keys *k);

/* A write waiting for the store; freed when its request ends. */
struct api_pending {
	struct api *api;
	struct http_request *req;
	int inflight;  /* its Idempotency-Key is in api->keys */
	int picks;     /* hold-best: times its seats were picked again */
	char *request; /* method, path and body, for the idempotency record */
	struct store_cmd cmd;
};

/* A new pending command whose answer, once the store is done, answer()
 * builds. NULL (after answering 503) when memory ran out. */
struct api_pending *api_pending_new(struct api *api, struct http_request *req,
                                    store_answer_fn answer);
/* Frees p before it was submitted (the request was refused). */
void api_pending_drop(struct api_pending *p);
/* Takes p: checks its Idempotency-Key, suspends the request and queues
 * p->cmd; the answer is sent when the store is done. */
void api_submit(struct api_pending *p);
/* The handler's second call for a request whose command is done: sends
 * the answer the store kept (or replayed) or builds it now. */
void api_pending_answer(struct api_pending *p);

#endif
