/* api_parse.h - request parsing: the JSON body and every field reader.
 *
 * Pure functions of their input (no request, no answer, no storage), so
 * they can be tested and fuzzed alone; only api_request_object() reads a
 * request. Each returns 0, or -1 after filling
 * *bad with what to answer (an api_err and its message); the handler then
 * answers with api_error_bad(). Messages name the limits they check; an
 * empty message stands for the error table's own. */
#ifndef BOXOFFICE_API_API_PARSE_H
#define BOXOFFICE_API_API_PARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api_errors.h"
#include "core/booking.h"
#include "core/seat.h"
#include "store/store.h"

/* Fills bad with a 400 INVALID_REQUEST and a printf-style message; -1. */
__attribute__((format(printf, 2, 3))) int api_bad_request(struct api_bad *bad, const char *fmt,
                                                          ...);

/* The request's body as a JSON object (api_parse_body() on its
 * Content-Type and body); NULL after answering 415 or 400. */
json_t *api_request_object(struct http_request *req);

/* The body as a JSON object (a new reference in *out). content_type may be
 * NULL (taken as JSON); anything else must be application/json: 415. */
int api_parse_body(const char *content_type, const char *body, size_t len, json_t **out,
                   struct api_bad *bad);

/* obj[name] as a positive int64. */
int api_parse_id(json_t *obj, const char *name, int64_t *out, struct api_bad *bad);
/* obj[name] as an integer in [min, max]. */
int api_parse_int(json_t *obj, const char *name, long min, long max, long *out,
                  struct api_bad *bad);
/* obj[name] as a string of 1..max bytes without NUL; out has max + 1. */
int api_parse_string(json_t *obj, const char *name, size_t max, char *out, struct api_bad *bad);
/* obj[name] absent, true or false (not null): *out is 1 only for true. */
int api_parse_bool(json_t *obj, const char *name, int *out, struct api_bad *bad);
/* obj[name] as a date "YYYY-MM-DD"; out gets the 10 characters and NUL. */
int api_parse_date(json_t *obj, const char *name, char out[11], struct api_bad *bad);
/* obj[name] as an RFC 3339 time, in ms since the epoch. */
int api_parse_time(json_t *obj, const char *name, int64_t *out, struct api_bad *bad);
/* obj["username"], or the query parameter's value (NULL when absent). */
int api_parse_username(json_t *obj, char out[USERNAME_MAX + 1], struct api_bad *bad);
int api_parse_username_query(const char *value, char out[USERNAME_MAX + 1], struct api_bad *bad);
/* obj["seats"]: 1..max labels, no seat twice; out sorted (natural order). */
int api_parse_seats(json_t *obj, int max, struct seat *out, int *n, struct api_bad *bad);
/* The {id} segment of a path as a positive int64. */
int api_parse_path_id(const char *segment, int64_t *out, struct api_bad *bad);
/* A booking reference in any case, upper-cased into out. Text that does
 * not have a reference's shape cannot name a booking: BOOKING_NOT_FOUND. */
int api_parse_reference(const char *in, char out[BOOKING_REF_SIZE], struct api_bad *bad);
/* obj[name], a non-empty string, as a reference (as above). */
int api_parse_reference_field(json_t *obj, const char *name, char out[BOOKING_REF_SIZE],
                              struct api_bad *bad);

/* An Idempotency-Key header (API.md 11): 1..IDEMPOTENCY_KEY_MAX printable
 * ASCII characters; *len is its length. */
int api_parse_idempotency_key(const char *key, size_t *len, struct api_bad *bad);

#endif
