/* api_write.c - the write path (see api_write.h). */
#include "api/api_write.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

/* ---- the in-flight table ---- */

struct api_key {
	struct api_key *next;
	char key[];
};

void api_keys_init(struct api_keys *k)
{
	memset(k->buckets, 0, sizeof(k->buckets));
	pthread_mutex_init(&k->lock, NULL);
}

void api_keys_destroy(struct api_keys *k)
{
	for (size_t i = 0; i < API_KEYS_BUCKETS; i++) {
		while (k->buckets[i] != NULL) {
			struct api_key *next = k->buckets[i]->next;
			free(k->buckets[i]);
			k->buckets[i] = next;
		}
	}
	pthread_mutex_destroy(&k->lock);
}

static size_t api_keys_bucket(const char *key)
{
	size_t h = 5381;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = h * 33 + *p;
	return h % API_KEYS_BUCKETS;
}

/* Adds key unless present; returns 0 when added, -1 when it was there
 * (or memory ran out, which is answered the same way: retry later). */
static int api_keys_add(struct api_keys *k, const char *key)
{
	size_t b = api_keys_bucket(key), n = strlen(key);
	int rc = 0;

	pthread_mutex_lock(&k->lock);
	for (struct api_key *e = k->buckets[b]; e != NULL && rc == 0; e = e->next)
		if (strcmp(e->key, key) == 0)
			rc = -1;
	if (rc == 0) {
		struct api_key *e = malloc(sizeof(*e) + n + 1);
		if (e == NULL) {
			rc = -1;
		} else {
			memcpy(e->key, key, n + 1);
			e->next = k->buckets[b];
			k->buckets[b] = e;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

static void api_keys_remove(struct api_keys *k, const char *key)
{
	pthread_mutex_lock(&k->lock);
	for (struct api_key **pp = &k->buckets[api_keys_bucket(key)]; *pp != NULL;
	     pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			struct api_key *e = *pp;
			*pp = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&k->lock);
}

/* ---- pending commands ---- */

static void api_pending_done(struct store_cmd *cmd)
{
	struct api_pending *p = cmd->arg;

	http_resume(p->req);
}

static void api_pending_release_key(struct api_pending *p)
{
	if (p->inflight) {
		api_keys_remove(&p->api->keys, p->cmd.idem_key);
		p->inflight = 0;
	}
}

static void api_pending_free(void *arg)
{
	struct api_pending *p = arg;

	api_pending_release_key(p);
	store_cmd_clear(&p->cmd);
	free(p->request);
	free(p);
}

struct api_pending *api_pending_new(struct api *api, struct http_request *req,
                                    store_answer_fn answer)
{
	struct api_pending *p = calloc(1, sizeof(*p));

	assert(api != NULL && req != NULL && answer != NULL);
	if (p == NULL) {
		api_error(req, api_err_of(OUTCOME_UNAVAILABLE), NULL);
		return NULL;
	}
	p->api = api;
	p->req = req;
	p->cmd.answer = answer;
	return p;
}

void api_pending_drop(struct api_pending *p)
{
	if (p == NULL)
		return;
	assert(!p->inflight && p->cmd.changes == NULL);
	free(p->request);
	free(p);
}

/* A hold-best whose picked seats another write took first is picked again
 * and resubmitted (store_pick); after STORE_PICK_ATTEMPTS the store picks
 * itself. Returns 1 when p went back to the store. */
static int api_pending_repick(struct api_pending *p)
{
	struct store_cmd *cmd = &p->cmd;

	if (!cmd->pick_conflict)
		return 0;
	api_metrics_count_repick(&p->api->metrics);
	if (++p->picks < STORE_PICK_ATTEMPTS)
		store_pick(p->api->store, cmd);
	else
		store_unpick(cmd);
	http_suspend(p->req);
	if (store_submit(p->api->store, cmd) != 0) {
		cmd->pick_conflict = false;
		cmd->outcome = OUTCOME_UNAVAILABLE;
		http_resume(p->req);
	}
	return 1;
}

void api_pending_answer(struct api_pending *p)
{
	struct store_cmd *cmd = &p->cmd;
	unsigned status;
	char *body;
	size_t len;

	if (api_pending_repick(p))
		return;
	api_pending_release_key(p);
	api_metrics_count_write(&p->api->metrics, cmd);
	api_limits_note(p->api, p->req, cmd);
	if (cmd->answer_body != NULL) {
		body = malloc(cmd->answer_len + 1);
		if (body == NULL)
			return;
		memcpy(body, cmd->answer_body, cmd->answer_len + 1);
		http_respond(p->req, cmd->answer_status, api_json_type, body, cmd->answer_len,
		             cmd->replayed ? "Idempotent-Replayed" : NULL,
		             cmd->replayed ? "true" : NULL);
		return;
	}
	if (cmd->answer(cmd, &status, &body, &len) == 0)
		http_respond(p->req, status, api_json_type, body, len,
		             status == 503 ? "Retry-After" : NULL,
		             status == 503 ? API_RETRY_AFTER_503 : NULL);
}

/* Checks and takes the request's Idempotency-Key (API.md 11). Returns 0,
 * or -1 after answering (400 for a malformed key, 409 while another
 * request with the key runs on this node). */
static int api_take_key(struct api_pending *p)
{
	const char *key = http_header(p->req, "Idempotency-Key");
	struct api_bad bad;
	size_t n, len;

	if (key == NULL)
		return 0;
	if (api_parse_idempotency_key(key, &n, &bad) != 0) {
		api_error_bad(p->req, &bad);
		return -1;
	}
	const char *body = http_body_data(p->req, &len);
	const char *method = http_method(p->req), *path = http_path(p->req);
	size_t head = strlen(method) + 1 + strlen(path) + 1;
	p->request = malloc(head + len + 1);
	if (p->request == NULL) {
		api_error(p->req, api_err_of(OUTCOME_UNAVAILABLE), NULL);
		return -1;
	}
	snprintf(p->request, head + 1, "%s %s\n", method, path);
	memcpy(p->request + head, body, len);
	p->request[head + len] = '\0';
	if (api_keys_add(&p->api->keys, key) != 0) {
		api_error(p->req, api_err_of(OUTCOME_IDEMPOTENCY_KEY_IN_USE), NULL);
		return -1;
	}
	p->inflight = 1;
	memcpy(p->cmd.idem_key, key, n + 1);
	p->cmd.idem_request = p->request;
	p->cmd.idem_request_len = head + len;
	return 0;
}

void api_submit(struct api_pending *p)
{
	if (api_take_key(p) != 0) {
		api_pending_drop(p);
		return;
	}
	p->cmd.done = api_pending_done;
	p->cmd.arg = p;
	http_set_user_data(p->req, p, api_pending_free);
	/* A hold-best's seats are chosen here, not in the store's writer. */
	if (p->cmd.op == STORE_OP_HOLD_BEST)
		store_pick(p->api->store, &p->cmd);
	/* Suspend first: the store may finish before this function returns. */
	http_suspend(p->req);
	if (store_submit(p->api->store, &p->cmd) != 0) {
		p->cmd.outcome = OUTCOME_UNAVAILABLE;
		http_resume(p->req);
	}
}
