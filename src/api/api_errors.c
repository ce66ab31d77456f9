/* api_errors.c - the one table of error answers and the one function that
 * writes them (see api_errors.h). A new error is one row here; a new
 * message with a limit in it names the limit in its row. */
#include "api/api_errors.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

struct api_error_row {
	unsigned status;
	const char *code;    /* NULL: the outcome's name (core/outcome.c) */
	const char *message; /* default; "%ld" is replaced by limit */
	long limit;
};

static const struct api_error_row api_errors[API_ERR_COUNT] = {
    /* Business outcomes (core/outcome.h). */
    [OUTCOME_OK] = {200, NULL, "ok", 0},
    [OUTCOME_CREATED] = {201, NULL, "created", 0},
    [OUTCOME_INVALID_REQUEST] = {400, NULL, "the request is not valid", 0},
    [OUTCOME_UNKNOWN_SEATS] = {400, NULL, "some seats do not exist in this show's screen", 0},
    [OUTCOME_SHOW_NOT_FOUND] = {404, NULL, "there is no show with this id", 0},
    [OUTCOME_BOOKING_NOT_FOUND] = {404, NULL, "this user has no such booking", 0},
    [OUTCOME_MOVIE_NOT_FOUND] = {404, NULL, "there is no movie with this id", 0},
    [OUTCOME_SCREEN_NOT_FOUND] = {404, NULL, "there is no screen with this id", 0},
    [OUTCOME_SEATS_UNAVAILABLE] = {409, NULL, "some seats are not available", 0},
    [OUTCOME_SEATS_NOT_HELD] = {409, NULL,
                                "some seats are not held by this user, or the hold expired", 0},
    [OUTCOME_SHOW_NOT_BOOKABLE] = {409, NULL, "the show is cancelled or has already started", 0},
    [OUTCOME_HOLD_LIMIT_EXCEEDED] = {409, NULL,
                                     "this would hold more seats than one user may hold in a show",
                                     0},
    [OUTCOME_BOOKING_NOT_CANCELLABLE] = {409, NULL,
                                         "the booking has expired or its show has started", 0},
    [OUTCOME_SCREEN_BUSY] = {409, NULL, "another show uses this screen at that time", 0},
    [OUTCOME_IDEMPOTENCY_KEY_IN_USE] = {409, NULL,
                                        "a request with this Idempotency-Key is still running", 0},
    [OUTCOME_IDEMPOTENCY_KEY_REUSED] = {422, NULL,
                                        "this Idempotency-Key was used for another request", 0},
    [OUTCOME_UNAVAILABLE] = {503, NULL, "storage is unavailable; retry later", 0},

    /* Protocol errors: routing, parsing, authorisation, and http/'s. */
    [API_ERR_NOT_FOUND] = {404, "NOT_FOUND", "there is nothing at this path", 0},
    [API_ERR_METHOD_NOT_ALLOWED] = {405, "METHOD_NOT_ALLOWED",
                                    "this path does not accept that method", 0},
    [API_ERR_UNAUTHORIZED] = {401, "UNAUTHORIZED", "a valid admin bearer token is required", 0},
    [API_ERR_PAYLOAD_TOO_LARGE] = {413, "PAYLOAD_TOO_LARGE",
                                   "the request body is larger than %ld KiB", HTTP_BODY_MAX / 1024},
    [API_ERR_UNSUPPORTED_MEDIA_TYPE] = {415, "UNSUPPORTED_MEDIA_TYPE",
                                        "the request body must be application/json", 0},
    [API_ERR_RATE_LIMITED] = {429, "RATE_LIMITED", "too many requests; retry after Retry-After", 0},
};

_Static_assert(HTTP_BODY_MAX % 1024 == 0, "the 413 message counts KiB");

const char api_json_type[] = "application/json";

unsigned api_error_json(struct jbuf *b, enum api_err err, const char *message,
                        const struct seat *seats, int nseats)
{
	char text[160];

	assert(b != NULL && nseats >= 0 && (nseats == 0 || seats != NULL));
	if ((unsigned)err >= API_ERR_COUNT)
		err = api_err_of(OUTCOME_UNAVAILABLE); /* a store bug must still answer */
	const struct api_error_row *row = &api_errors[err];
	if (message == NULL && row->limit != 0) {
		snprintf(text, sizeof(text), row->message, row->limit);
		message = text;
	} else if (message == NULL) {
		message = row->message;
	}
	jbuf_lit(b, "{\"error\":{\"code\":");
	jbuf_str(b, row->code != NULL ? row->code : outcome_name((enum outcome)err));
	jbuf_lit(b, ",\"message\":");
	jbuf_str(b, message);
	if (nseats > 0) {
		jbuf_lit(b, ",\"seats\":");
		jbuf_seats(b, seats, (size_t)nseats);
	}
	jbuf_lit(b, "}}");
	return row->status;
}

void api_send(struct http_request *req, unsigned status, struct jbuf *b)
{
	size_t len;
	char *body = jbuf_take(b, &len);

	if (body == NULL)
		return; /* out of memory: the adapter drops the connection */
	http_respond(req, status, api_json_type, body, len, NULL, NULL);
}

void api_error_header(struct http_request *req, enum api_err err, const char *message,
                      const char *hname, const char *hvalue)
{
	struct jbuf b;
	size_t len;

	jbuf_init(&b, 128);
	unsigned status = api_error_json(&b, err, message, NULL, 0);
	char *body = jbuf_take(&b, &len);
	if (status == 503 && hname == NULL) {
		/* Storage down, the writer's queue full, shutting down: all
		 * soon over, so say when to come back. */
		hname = "Retry-After";
		hvalue = API_RETRY_AFTER_503;
	}
	if (body != NULL)
		http_respond(req, status, api_json_type, body, len, hname, hvalue);
}

void api_error(struct http_request *req, enum api_err err, const char *message)
{
	api_error_header(req, err, message, NULL, NULL);
}

void api_error_bad(struct http_request *req, const struct api_bad *bad)
{
	api_error(req, bad->err, bad->message[0] != '\0' ? bad->message : NULL);
}

int api_answer_take(struct jbuf *b, unsigned status, unsigned *status_out, char **body, size_t *len)
{
	*body = jbuf_take(b, len);
	*status_out = status;
	return *body != NULL ? 0 : -1;
}

int api_error_answer(const struct store_cmd *cmd, const char *message, unsigned *status,
                     char **body, size_t *len)
{
	struct jbuf b;

	jbuf_init(&b, 160);
	unsigned code = api_error_json(&b, api_err_of(cmd->outcome), message, cmd->bad, cmd->nbad);
	return api_answer_take(&b, code, status, body, len);
}

void api_http_error(void *arg, struct http_request *req, unsigned status, const char *message)
{
	(void)arg;
	/* Protocol rows first: a 404 from http/ means "nothing here", not a
	 * missing show; then the outcomes, each status's first row (400 is
	 * INVALID_REQUEST, 503 UNAVAILABLE). */
	for (int e = API_ERR_NOT_FOUND; e < API_ERR_COUNT; e++) {
		if (api_errors[e].status == status) {
			api_error(req, (enum api_err)e, message);
			return;
		}
	}
	for (int e = 0; e < OUTCOME_COUNT; e++) {
		if (api_errors[e].status == status) {
			api_error(req, (enum api_err)e, message);
			return;
		}
	}
	assert(!"http/ raised a status that has no row in api_errors");
	api_error(req, api_err_of(OUTCOME_INVALID_REQUEST), message);
}

unsigned api_error_status(enum api_err err)
{
	return (unsigned)err < API_ERR_COUNT ? api_errors[err].status : 503;
}
