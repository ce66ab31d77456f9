/* fake_api.c - the fake HTTP layer and fake store under the real API (see
 * fuzz_api.h). Every http_* and store_* function the API calls is defined
 * here; the fuzz targets link the API's sources with this file instead of
 * http/http.c and store/. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/booking.h"
#include "fuzz.h"
#include "fuzz_api.h"
#include "http/http.h"
#include "http/http_parse.h"
#include "http/http_stream.h"
#include "store/store.h"

enum { FUZZ_QUERY_MAX = 32 };

struct http_body {
	atomic_int refs;
	size_t len;
	char *data;
};

struct http_request {
	const struct fuzz_request *r;
	char *path;
	char *query_text;
	const char *qnames[FUZZ_QUERY_MAX], *qvalues[FUZZ_QUERY_MAX];
	int nquery;
	void *user_data;
	void (*user_free)(void *);
	const char *route;
	int suspended, resumed, answers;
	unsigned status;
	const char *ctype;
	char *body;
	size_t body_len;
};

/* ---- http/ ---- */

struct http_body *http_body_new(char *data, size_t len)
{
	struct http_body *b = malloc(sizeof(*b));

	if (b == NULL) {
		free(data);
		return NULL;
	}
	atomic_init(&b->refs, 1);
	b->len = len;
	b->data = data;
	return b;
}

void http_body_ref(struct http_body *b)
{
	atomic_fetch_add(&b->refs, 1);
}

void http_body_unref(struct http_body *b)
{
	if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1) {
		free(b->data);
		free(b);
	}
}

const char *http_method(const struct http_request *req)
{
	return req->r->method;
}

const char *http_path(const struct http_request *req)
{
	return req->path;
}

const char *http_query(const struct http_request *req, const char *name)
{
	for (int i = 0; i < req->nquery; i++)
		if (strcmp(req->qnames[i], name) == 0)
			return req->qvalues[i];
	return NULL;
}

const char *http_header(const struct http_request *req, const char *name)
{
	for (int i = 0; i < req->r->nheaders; i++)
		if (strcasecmp(req->r->header_names[i], name) == 0)
			return req->r->header_values[i];
	return NULL;
}

const char *http_body_data(const struct http_request *req, size_t *len)
{
	*len = req->r->body_len;
	return req->r->body;
}

const char *http_client_addr(struct http_request *req)
{
	(void)req;
	return "192.0.2.1";
}

int http_is_head(const struct http_request *req)
{
	(void)req;
	return 0;
}

void http_get_stats(const struct http_request *req, struct http_stats *out)
{
	(void)req;
	memset(out, 0, sizeof(*out));
}

int http_draining(const struct http_request *req)
{
	return req->r->store_byte == 254;
}

void http_set_route(struct http_request *req, const char *route)
{
	FUZZ_CHECK(route != NULL && route[0] == '/');
	req->route = route;
}

void http_set_user(struct http_request *req, const char *user)
{
	FUZZ_CHECK(user != NULL);
	(void)req;
}

const char *http_route(const struct http_request *req)
{
	return req->route;
}

const char *http_user(const struct http_request *req)
{
	(void)req;
	return "";
}

unsigned http_status(const struct http_request *req)
{
	return req->status;
}

size_t http_bytes(const struct http_request *req)
{
	return req->body_len;
}

long long http_duration_us(const struct http_request *req)
{
	(void)req;
	return 1;
}

const char *http_request_id(const struct http_request *req)
{
	(void)req;
	return "fuzz-request";
}

void *http_user_data(const struct http_request *req)
{
	return req->user_data;
}

void http_set_user_data(struct http_request *req, void *data, void (*free_fn)(void *))
{
	req->user_data = data;
	req->user_free = free_fn;
}

void http_suspend(struct http_request *req)
{
	FUZZ_CHECK(!req->suspended);
	req->suspended = 1;
	req->resumed = 0;
}

void http_resume(struct http_request *req)
{
	FUZZ_CHECK(req->suspended);
	req->resumed = 1;
}

static void fuzz_answer(struct http_request *req, unsigned status, const char *ctype, char *body,
                        size_t len)
{
	req->answers++;
	free(req->body);
	req->status = status;
	req->ctype = ctype;
	req->body = body;
	req->body_len = len;
}

void http_respond(struct http_request *req, unsigned status, const char *content_type, char *body,
                  size_t len, const char *hname, const char *hvalue)
{
	FUZZ_CHECK((hname == NULL) == (hvalue == NULL));
	fuzz_answer(req, status, content_type, body, len);
}

void http_respond_shared(struct http_request *req, unsigned status, const char *content_type,
                         struct http_body *body)
{
	char *copy = malloc(body->len + 1);

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, body->data, body->len);
	copy[body->len] = '\0';
	fuzz_answer(req, status, content_type, copy, body->len);
	http_body_unref(body);
}

size_t http_body_len(const struct http_body *b, const char **data)
{
	*data = b->data;
	return b->len;
}

/* Event streams: the fuzzed API has no change feed (api_config.events is
 * NULL, so /events answers 503 before any of these could run). */
struct http_stream *http_stream_open(struct http_request *req, const char *content_type,
                                     size_t max_queued, const char *hname, const char *hvalue)
{
	(void)req, (void)content_type, (void)max_queued, (void)hname, (void)hvalue;
	FUZZ_CHECK(0);
	return NULL;
}

int http_stream_send(struct http_stream *s, struct http_body *chunk)
{
	(void)s, (void)chunk;
	FUZZ_CHECK(0);
	return -1;
}

int http_stream_send_copy(struct http_stream *s, const char *data, size_t len)
{
	(void)s, (void)data, (void)len;
	FUZZ_CHECK(0);
	return -1;
}

void http_stream_close(struct http_stream *s)
{
	(void)s;
	FUZZ_CHECK(0);
}

void http_stream_release(struct http_stream *s)
{
	(void)s;
	FUZZ_CHECK(0);
}

bool events_reserve(struct events *ev)
{
	(void)ev;
	FUZZ_CHECK(0);
	return false;
}

void events_unreserve(struct events *ev)
{
	(void)ev;
	FUZZ_CHECK(0);
}

bool events_covers(struct events *ev, int64_t show_id, int64_t after)
{
	(void)ev, (void)show_id, (void)after;
	FUZZ_CHECK(0);
	return false;
}

int events_position(struct events *ev, int64_t show_id, int64_t *seq)
{
	(void)ev, (void)show_id, (void)seq;
	FUZZ_CHECK(0);
	return -1;
}

int events_attach(struct events *ev, int64_t show_id, void *s, int64_t after)
{
	(void)ev, (void)show_id, (void)s, (void)after;
	FUZZ_CHECK(0);
	return -1;
}

int events_retry_ms(const struct events *ev)
{
	(void)ev;
	FUZZ_CHECK(0);
	return 0;
}

int events_viewers(struct events *ev)
{
	(void)ev;
	FUZZ_CHECK(0); /* the fuzzed API has no feed: /metrics never asks */
	return 0;
}

/* ---- store/ ---- */

struct store {
	int unused;
};

static uint8_t fuzz_store_byte;
static const int64_t fuzz_now = 1800000000000; /* 2027-01-15 */

const char *store_backend_name(const struct store *st)
{
	(void)st;
	return "fake";
}

int64_t store_now(const struct store *st)
{
	(void)st;
	return fuzz_now;
}

int store_ping(struct store *st)
{
	(void)st;
	return fuzz_store_byte & 1 ? -1 : 0;
}

int store_durability(struct store *st, struct store_durability *out)
{
	(void)st;
	memset(out, 0, sizeof(*out));
	return 0;
}

void store_stats(struct store *st, struct store_stats *out)
{
	(void)st;
	memset(out, 0, sizeof(*out));
}

void store_cmd_clear(struct store_cmd *cmd)
{
	free(cmd->changes);
	cmd->changes = NULL;
	cmd->nchanges = 0;
	free(cmd->answer_body);
	cmd->answer_body = NULL;
}

static void fuzz_booking(struct booking *b, const char *username, int64_t show_id)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->reference, sizeof(b->reference), "BX-23456789");
	b->status = (enum booking_status)(fuzz_store_byte % 4);
	snprintf(b->username, sizeof(b->username), "%s", username[0] ? username : "u");
	b->show_id = show_id > 0 ? show_id : 1;
	snprintf(b->movie_name, sizeof(b->movie_name), "M \"q\" \\ \x01");
	snprintf(b->screen_name, sizeof(b->screen_name), "S");
	b->show_time = fuzz_now + 86400000;
	b->created_at = fuzz_now;
	b->expires_at = b->status == BOOKING_STAGED ? fuzz_now + 60000 : 0;
	b->nseats = 2;
	b->seats[0] = (struct seat){0, 1};
	b->seats[1] = (struct seat){0, 2};
}

static int fuzz_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/* The contract's input rules, on every command that reaches storage. */
static void fuzz_check_cmd(const struct store_cmd *cmd)
{
	switch (cmd->op) {
	case STORE_OP_HOLD:
	case STORE_OP_CONFIRM:
	case STORE_OP_RELEASE:
	case STORE_OP_HOLD_BEST:
	case STORE_OP_CANCEL:
		FUZZ_CHECK(booking_username_valid(cmd->username));
		if (cmd->op != STORE_OP_CANCEL)
			FUZZ_CHECK(cmd->show_id > 0);
		else
			FUZZ_CHECK(booking_ref_valid(cmd->reference));
		break;
	case STORE_OP_CREATE_SCREEN:
		FUZZ_CHECK(cmd->rows >= 1 && cmd->rows <= SEAT_ROWS_MAX);
		FUZZ_CHECK(cmd->seats_per_row >= 1 && cmd->seats_per_row <= SEAT_NUMBER_MAX);
		FUZZ_CHECK(cmd->name[0] != '\0');
		break;
	case STORE_OP_CREATE_MOVIE:
		FUZZ_CHECK(cmd->name[0] != '\0' && cmd->duration_minutes > 0);
		break;
	case STORE_OP_CREATE_SHOW:
		FUZZ_CHECK(cmd->movie_id > 0 && cmd->screen_id > 0);
		break;
	case STORE_OP_CANCEL_SHOW:
		FUZZ_CHECK(cmd->show_id > 0);
		break;
	default:
		FUZZ_CHECK(0 && "an op the API never submits");
	}
	if (cmd->op == STORE_OP_HOLD || cmd->op == STORE_OP_CONFIRM ||
	    (cmd->op == STORE_OP_RELEASE && !cmd->all_seats)) {
		FUZZ_CHECK(cmd->nseats >= 1 && cmd->nseats <= BOOKING_SEATS_MAX);
		for (int i = 0; i < cmd->nseats; i++) {
			FUZZ_CHECK(cmd->seats[i].row >= 0 && cmd->seats[i].row < SEAT_ROWS_MAX);
			FUZZ_CHECK(cmd->seats[i].number >= 1 &&
			           cmd->seats[i].number <= SEAT_NUMBER_MAX);
			if (i > 0)
				FUZZ_CHECK(seat_compare(&cmd->seats[i - 1], &cmd->seats[i]) < 0);
		}
	}
	if (cmd->op == STORE_OP_HOLD_BEST) {
		FUZZ_CHECK(cmd->count >= 1 && cmd->count <= BOOKING_SEATS_MAX);
		FUZZ_CHECK(cmd->picked ? cmd->nseats == cmd->count : cmd->nseats == 0);
	}
	if (cmd->idem_key[0] != '\0') {
		size_t n = strlen(cmd->idem_key);
		FUZZ_CHECK(n <= IDEMPOTENCY_KEY_MAX && fuzz_printable(cmd->idem_key));
		FUZZ_CHECK(cmd->idem_request != NULL && cmd->idem_request_len > 0);
	}
}

/* Hold-best picks as on SQLite (seats chosen before the write) for every
 * other store byte, and such a command may come back pick_conflict
 * (store_submit): the API picks again, then lets the store pick. */
int store_pick(struct store *st, struct store_cmd *cmd)
{
	(void)st;
	store_unpick(cmd);
	if (fuzz_store_byte % 2 == 0) {
		for (int i = 0; i < cmd->count; i++)
			cmd->seats[i] = (struct seat){0, i + 1};
		cmd->nseats = cmd->count;
		cmd->picked = true;
	}
	return 0;
}

void store_unpick(struct store_cmd *cmd)
{
	cmd->picked = false;
	cmd->nseats = 0;
}

int store_submit(struct store *st, struct store_cmd *cmd)
{
	(void)st;
	fuzz_check_cmd(cmd);
	if (fuzz_store_byte % 7 == 6)
		return STORE_EBUSY; /* queue full */
	cmd->outcome = (enum outcome)(fuzz_store_byte % 5 == 0 ? fuzz_store_byte / 5 % OUTCOME_COUNT
	                                                       : OUTCOME_OK);
	fuzz_booking(&cmd->booking, cmd->username, cmd->show_id);
	cmd->created_id = 7;
	cmd->total_seats = 6;
	if (cmd->outcome == OUTCOME_SEATS_UNAVAILABLE) {
		cmd->nbad = 1;
		cmd->bad[0] = (struct seat){1, 3};
	}
	cmd->pick_conflict = cmd->picked && fuzz_store_byte % 3 == 1;
	if (cmd->pick_conflict)
		cmd->outcome = OUTCOME_SEATS_UNAVAILABLE;
	cmd->done(cmd);
	return 0;
}

int store_active_shows(struct store *st, struct show_summary **out, size_t *n)
{
	(void)st;
	if (fuzz_store_byte == 255)
		return -1; /* storage down: nothing allocated */
	*n = fuzz_store_byte % 3;
	*out = calloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++) {
		(*out)[i].show_id = (int64_t)i + 1;
		snprintf((*out)[i].movie_name, sizeof((*out)[i].movie_name), "m\n%zu", i);
		(*out)[i].show_time = fuzz_now;
		(*out)[i].total_seats = 6;
	}
	return 0;
}

int store_show_details(struct store *st, int64_t show_id, struct show_details *out, enum outcome *o)
{
	(void)st;
	memset(out, 0, sizeof(*out));
	if (fuzz_store_byte % 4 == 3) {
		*o = OUTCOME_SHOW_NOT_FOUND;
		return 0;
	}
	*o = OUTCOME_OK;
	out->show_id = show_id;
	snprintf(out->status, sizeof(out->status), "ACTIVE");
	out->rows = 2;
	out->seats_per_row = 3;
	out->total_seats = 6;
	out->available = calloc(6, sizeof(struct seat));
	for (int i = 0; i < 4; i++)
		out->available[i] = (struct seat){i / 3, i % 3 + 1};
	out->navailable = 4;
	out->held = out->available + 4;
	out->held[0] = (struct seat){1, 2};
	out->nheld = 1;
	out->booked = out->available + 5;
	out->booked[0] = (struct seat){1, 3};
	out->nbooked = 1;
	out->next_expiry = INT64_MAX;
	return 0;
}

void store_show_details_free(struct show_details *d)
{
	free(d->available);
	d->available = d->held = d->booked = NULL;
}

int store_booking_details(struct store *st, const char *username, const char *reference,
                          struct booking *out, enum outcome *o)
{
	(void)st;
	FUZZ_CHECK(booking_username_valid(username));
	FUZZ_CHECK(booking_ref_valid(reference));
	fuzz_booking(out, username, 1);
	*o = fuzz_store_byte % 2 ? OUTCOME_BOOKING_NOT_FOUND : OUTCOME_OK;
	return 0;
}

int store_user_bookings_page(struct store *st, const char *username, const struct store_page *page,
                             struct booking **out, size_t *n, struct store_page_next *next)
{
	FUZZ_CHECK(page->limit >= 1 && page->limit <= STORE_PAGE_MAX);
	FUZZ_CHECK(!page->has_after || (page->after.created_at >= 0 && page->after.id >= 0));
	next->more = fuzz_store_byte % 2;
	next->after.created_at = fuzz_now * 1000;
	next->after.id = 42;
	return store_user_bookings(st, username, out, n);
}

int store_user_bookings(struct store *st, const char *username, struct booking **out, size_t *n)
{
	(void)st;
	FUZZ_CHECK(booking_username_valid(username));
	*n = fuzz_store_byte % 3;
	*out = *n ? calloc(*n, sizeof(**out)) : NULL;
	for (size_t i = 0; i < *n; i++)
		fuzz_booking(&(*out)[i], username, (int64_t)i + 1);
	return 0;
}

/* ---- the driver ---- */

static struct api *fuzz_the_api(void)
{
	static struct api *api;
	static struct store st;

	if (api == NULL) {
		struct api_config cfg = {.max_seats_per_request = 10, .admin_token = "fuzz-token"};
		FUZZ_CHECK(api_create(&cfg, &st, &api) == 0);
	}
	return api;
}

static void fuzz_split_target(struct http_request *req, const char *target)
{
	const char *q = strchr(target, '?');
	size_t plen = q ? (size_t)(q - target) : strlen(target);

	req->path = strndup(target, plen);
	http_parse_unescape(req->path);
	if (q == NULL)
		return;
	req->query_text = strdup(q + 1);
	for (char *tok = strtok(req->query_text, "&"); tok && req->nquery < FUZZ_QUERY_MAX;
	     tok = strtok(NULL, "&")) {
		char *eq = strchr(tok, '=');
		if (eq != NULL)
			*eq++ = '\0';
		http_parse_unescape(tok);
		if (eq != NULL)
			http_parse_unescape(eq);
		req->qnames[req->nquery] = tok;
		req->qvalues[req->nquery] = eq ? eq : "";
		req->nquery++;
	}
}

static int fuzz_status_known(unsigned s)
{
	static const unsigned known[] = {200, 201, 204, 304, 400, 401, 403, 404,
	                                 405, 409, 413, 415, 422, 429, 503};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i] == s)
			return 1;
	return 0;
}

static void fuzz_check_answer(const struct http_request *req)
{
	FUZZ_CHECK(req->answers == 1);
	FUZZ_CHECK(fuzz_status_known(req->status));
	int json = req->ctype != NULL && strncmp(req->ctype, "application/json", 16) == 0;
	if (req->status >= 400)
		FUZZ_CHECK(json);
	if (!json)
		return;
	json_error_t err;
	json_t *v = json_loadb(req->body, req->body_len, 0, &err);
	FUZZ_CHECK(v != NULL);
	if (req->status >= 400) {
		json_t *e = json_object_get(v, "error");
		FUZZ_CHECK(json_is_string(json_object_get(e, "code")));
		FUZZ_CHECK(json_is_string(json_object_get(e, "message")));
	}
	json_decref(v);
}

void fuzz_api_run(const struct fuzz_request *r)
{
	struct api *api = fuzz_the_api();
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.r = r;
	fuzz_store_byte = r->store_byte;
	fuzz_split_target(&req, r->target);
	api_handle(api, &req);
	/* The handler runs again once the store is done; a hold-best whose
	 * picked seats were taken goes back to the store, a bounded number
	 * of times. */
	for (int calls = 0; req.suspended; calls++) {
		FUZZ_CHECK(req.answers == 0 && req.resumed && calls <= STORE_PICK_ATTEMPTS);
		req.suspended = 0;
		api_handle(api, &req);
	}
	fuzz_check_answer(&req);
	if (req.user_free != NULL)
		req.user_free(req.user_data);
	free(req.body);
	free(req.path);
	free(req.query_text);
}

char *fuzz_lines(const uint8_t *data, size_t size, char **lines, int max, int *n)
{
	char *copy = malloc(size + 1);

	memcpy(copy, data, size);
	copy[size] = '\0';
	*n = 0;
	char *p = copy;
	while (*n < max) {
		lines[(*n)++] = p;
		char *nl = memchr(p, '\n', (size_t)(copy + size - p));
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return copy;
}
