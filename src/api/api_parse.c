/* api_parse.c - request parsing (see api_parse.h). */
#include "api/api_parse.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/num.h"
#include "core/timefmt.h"

#define API_USERNAME_RULE "1 to %d characters of A-Z a-z 0-9 . _ @ -"

int api_bad_request(struct api_bad *bad, const char *fmt, ...)
{
	va_list ap;

	bad->err = api_err_of(OUTCOME_INVALID_REQUEST);
	va_start(ap, fmt);
	vsnprintf(bad->message, sizeof(bad->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* A refusal with the table's own message (api_errors.c). */
static int api_refuse_plain(struct api_bad *bad, enum api_err err)
{
	bad->err = err;
	bad->message[0] = '\0';
	return -1;
}

json_t *api_request_object(struct http_request *req)
{
	struct api_bad bad;
	json_t *obj = NULL;
	size_t len;
	const char *body = http_body_data(req, &len);

	if (api_parse_body(http_header(req, "Content-Type"), body, len, &obj, &bad) != 0) {
		api_error_bad(req, &bad);
		return NULL;
	}
	return obj;
}

int api_parse_body(const char *content_type, const char *body, size_t len, json_t **out,
                   struct api_bad *bad)
{
	static const char json[] = "application/json";
	const size_t n = sizeof(json) - 1;
	json_error_t err;

	assert(body != NULL && out != NULL);
	/* A missing Content-Type is taken as JSON; anything else must be,
	 * parameters (";charset=...") allowed. */
	if (content_type != NULL &&
	    (strncasecmp(content_type, json, n) != 0 ||
	     (content_type[n] != '\0' && content_type[n] != ';' && content_type[n] != ' ')))
		return api_refuse_plain(bad, API_ERR_UNSUPPORTED_MEDIA_TYPE);
	json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (obj == NULL)
		return api_bad_request(bad, "the request body is not valid JSON");
	if (!json_is_object(obj)) {
		json_decref(obj);
		return api_bad_request(bad, "the request body must be a JSON object");
	}
	*out = obj;
	return 0;
}

int api_parse_id(json_t *obj, const char *name, int64_t *out, struct api_bad *bad)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return api_bad_request(bad, "'%s' must be a positive integer", name);
	*out = json_integer_value(v);
	return 0;
}

int api_parse_int(json_t *obj, const char *name, long min, long max, long *out, struct api_bad *bad)
{
	json_t *v = json_object_get(obj, name);

	assert(min <= max);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return api_bad_request(bad, "'%s' must be an integer from %ld to %ld", name, min,
		                       max);
	*out = (long)json_integer_value(v);
	return 0;
}

int api_parse_string(json_t *obj, const char *name, size_t max, char *out, struct api_bad *bad)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return api_bad_request(bad, "'%s' must be a string of 1 to %zu characters", name,
		                       max);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int api_parse_bool(json_t *obj, const char *name, int *out, struct api_bad *bad)
{
	json_t *v = json_object_get(obj, name);

	if (v != NULL && !json_is_boolean(v))
		return api_bad_request(bad, "'%s' must be true or false", name);
	*out = json_is_true(v);
	return 0;
}

int api_parse_date(json_t *obj, const char *name, char out[11], struct api_bad *bad)
{
	json_t *v = json_object_get(obj, name);
	int y, m, d;

	if (!json_is_string(v) || json_string_length(v) != 10 ||
	    timefmt_parse_date(json_string_value(v), &y, &m, &d) != 0)
		return api_bad_request(bad, "'%s' must be a date such as \"2026-12-31\"", name);
	memcpy(out, json_string_value(v), 11);
	return 0;
}

int api_parse_time(json_t *obj, const char *name, int64_t *out, struct api_bad *bad)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_string(v) || timefmt_parse(json_string_value(v), out) != 0)
		return api_bad_request(
		    bad, "'%s' must be an RFC 3339 time such as \"2026-11-25T19:30:00.000Z\"",
		    name);
	return 0;
}

static int api_username_ok(const char *s)
{
	return s != NULL && strlen(s) <= USERNAME_MAX && booking_username_valid(s);
}

int api_parse_username(json_t *obj, char out[USERNAME_MAX + 1], struct api_bad *bad)
{
	json_t *v = json_object_get(obj, "username");

	if (!json_is_string(v) || !api_username_ok(json_string_value(v)))
		return api_bad_request(bad, "'username' must be " API_USERNAME_RULE, USERNAME_MAX);
	memcpy(out, json_string_value(v), strlen(json_string_value(v)) + 1);
	return 0;
}

int api_parse_username_query(const char *value, char out[USERNAME_MAX + 1], struct api_bad *bad)
{
	if (!api_username_ok(value))
		return api_bad_request(bad,
		                       "query parameter 'username' is required: " API_USERNAME_RULE,
		                       USERNAME_MAX);
	memcpy(out, value, strlen(value) + 1);
	return 0;
}

int api_parse_seats(json_t *obj, int max, struct seat *out, int *n, struct api_bad *bad)
{
	json_t *arr = json_object_get(obj, "seats");
	size_t i;
	json_t *v;

	assert(max >= 1 && max <= BOOKING_SEATS_MAX);
	if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > (size_t)max)
		return api_bad_request(bad, "'seats' must be an array of 1 to %d seat labels", max);
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) ||
		    seat_parse(json_string_value(v), json_string_length(v), &out[i]) != 0)
			return api_bad_request(
			    bad, "%s", "every seat must be a label such as \"A1\" or \"AA7\"");
	}
	*n = (int)json_array_size(arr);
	/* Sorted copies make duplicates adjacent; labels compare case-free. */
	seat_sort(out, (size_t)*n);
	if (seat_has_duplicates(out, (size_t)*n))
		return api_bad_request(bad, "'seats' lists a seat more than once");
	return 0;
}

int api_parse_path_id(const char *segment, int64_t *out, struct api_bad *bad)
{
	if (segment == NULL || num_parse_id(segment, strlen(segment), out) != 0)
		return api_bad_request(bad, "the id in the path must be a positive integer");
	return 0;
}

int api_parse_reference(const char *in, char out[BOOKING_REF_SIZE], struct api_bad *bad)
{
	size_t n = strlen(in);

	if (n >= BOOKING_REF_SIZE || !booking_ref_valid(in))
		return api_refuse_plain(bad, api_err_of(OUTCOME_BOOKING_NOT_FOUND));
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)toupper((unsigned char)in[i]);
	return 0;
}

int api_parse_reference_field(json_t *obj, const char *name, char out[BOOKING_REF_SIZE],
                              struct api_bad *bad)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_string(v) || json_string_length(v) == 0)
		return api_bad_request(bad, "'%s' must be a non-empty string", name);
	return api_parse_reference(json_string_value(v), out, bad);
}

int api_parse_idempotency_key(const char *key, size_t *len, struct api_bad *bad)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < n; i++) {
		if (key[i] < 0x20 || key[i] > 0x7e)
			n = 0;
	}
	if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
		return api_bad_request(bad,
		                       "the Idempotency-Key header must be 1 to %d printable ASCII "
		                       "characters",
		                       IDEMPOTENCY_KEY_MAX);
	*len = n;
	return 0;
}
