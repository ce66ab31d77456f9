/* api_errors.h - every error answer of the API, chosen in one place.
 *
 * As in nginx's ngx_http_special_response.c, one table (api_errors.c)
 * gives each error its status, code and default message, and every
 * refusal leaves through api_error_json(): business outcomes from the
 * store, bad input found by the parsers, routing errors, and the protocol
 * errors that http/ finds before the API sees a request (they reach the
 * table through api_http_error(), the hook api registers with http/). */
#ifndef BOXOFFICE_API_API_ERRORS_H
#define BOXOFFICE_API_API_ERRORS_H

#include "api/jbuf.h"
#include "core/outcome.h"
#include "http/http.h"

struct store_cmd;

/* What an error answer is about. The values below OUTCOME_COUNT are the
 * business outcomes of core/outcome.h (api_err_of() converts); the rest
 * are protocol errors, which no store operation produces. */
enum api_err {
	API_ERR_NOT_FOUND = OUTCOME_COUNT, /* no route for the path */
	API_ERR_METHOD_NOT_ALLOWED,
	API_ERR_UNAUTHORIZED,
	API_ERR_PAYLOAD_TOO_LARGE,
	API_ERR_UNSUPPORTED_MEDIA_TYPE,
	API_ERR_RATE_LIMITED,
	API_ERR_COUNT
};

static inline enum api_err api_err_of(enum outcome o)
{
	return (enum api_err)o;
}

extern const char api_json_type[];

/* Retry-After of every 503 (seconds). */
#define API_RETRY_AFTER_503 "1"

enum { API_MESSAGE_MAX = 192 };

/* Why a request is refused before any storage work (api_parse.h fills
 * it): the error, and its message; empty for the table's own. */
struct api_bad {
	enum api_err err;
	char message[API_MESSAGE_MAX];
};

/* Answers req with the refusal in bad. */
void api_error_bad(struct http_request *req, const struct api_bad *bad);

/* THE function that chooses an error answer: writes
 * {"error":{"code","message"[,"seats"]}} for err into b and returns the
 * status. message NULL takes the table's; seats (nseats of them, natural
 * order) are the seats at fault, if any. */
unsigned api_error_json(struct jbuf *b, enum api_err err, const char *message,
                        const struct seat *seats, int nseats);

/* The status of err's answer (for /metrics). */
unsigned api_error_status(enum api_err err);

/* Answers req with err's error now (message as above). */
void api_error(struct http_request *req, enum api_err err, const char *message);
/* The same with one extra header (405's Allow). */
void api_error_header(struct http_request *req, enum api_err err, const char *message,
                      const char *hname, const char *hvalue);

/* For a store_answer_fn: builds the error answer of the finished command
 * (its outcome and the seats at fault). Returns 0, or -1 out of memory. */
int api_error_answer(const struct store_cmd *cmd, const char *message, unsigned *status,
                     char **body, size_t *len);

/* The http_error_fn api registers with http/: answers a protocol error
 * that http/ found (400 framing, 413) with the table's row for that
 * status and http/'s message, if any. */
void api_http_error(void *arg, struct http_request *req, unsigned status, const char *message);

/* Answers with the buffer's JSON (taken). */
void api_send(struct http_request *req, unsigned status, struct jbuf *b);
/* Finishes an answer built in b, for a store_answer_fn. */
int api_answer_take(struct jbuf *b, unsigned status, unsigned *status_out, char **body,
                    size_t *len);

#endif
