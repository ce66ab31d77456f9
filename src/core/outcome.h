/* outcome.h - business outcomes of an operation.
 *
 * Refusals such as "seat taken" are values, not errors: every store
 * operation ends in exactly one outcome, and api/api_error.c is the one
 * place that maps an outcome to an HTTP status and error code. */
#ifndef BOXOFFICE_CORE_OUTCOME_H
#define BOXOFFICE_CORE_OUTCOME_H

enum outcome {
	OUTCOME_OK = 0,
	OUTCOME_CREATED,
	OUTCOME_INVALID_REQUEST,
	OUTCOME_UNKNOWN_SEATS,
	OUTCOME_SHOW_NOT_FOUND,
	OUTCOME_BOOKING_NOT_FOUND,
	OUTCOME_MOVIE_NOT_FOUND,
	OUTCOME_SCREEN_NOT_FOUND,
	OUTCOME_SEATS_UNAVAILABLE,
	OUTCOME_SEATS_NOT_HELD,
	OUTCOME_SHOW_NOT_BOOKABLE,
	OUTCOME_HOLD_LIMIT_EXCEEDED,
	OUTCOME_BOOKING_NOT_CANCELLABLE,
	OUTCOME_SCREEN_BUSY,
	OUTCOME_IDEMPOTENCY_KEY_IN_USE,
	OUTCOME_IDEMPOTENCY_KEY_REUSED,
	OUTCOME_UNAVAILABLE, /* storage trouble: retry later */
	OUTCOME_COUNT
};

/* The UPPER_SNAKE name of an outcome, as used in error bodies. */
const char *outcome_name(enum outcome o);

#endif
