/* log.h - the process's log on stderr: one line per event, in logfmt
 * (key=value ...) or JSON lines, filtered by level.
 *
 * Every request gets one line at level info (log_request): time, method,
 * route template, path, status, duration, bytes, request id and the user
 * when the request names one. Nothing else of a request is logged: never
 * its headers (the admin token), its body or its query string; database
 * URLs are logged only through log_redact_url (no password).
 *
 * Lines are written with one write(2) each, so lines of different threads
 * never interleave. */
#ifndef BOXOFFICE_LOG_H
#define BOXOFFICE_LOG_H

#include <stddef.h>

#include "http/http.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_LOGFMT, LOG_JSON };

enum { LOG_LINE_MAX = 2048 }; /* longer lines are cut, still well formed */

void log_setup(enum log_level level, enum log_format format);
int log_enabled(enum log_level level);
/* 0 and *out set when name is a level ("error", ...) or a format
 * ("logfmt", "json"); -1 otherwise. */
int log_parse_level(const char *name, enum log_level *out);
int log_parse_format(const char *name, enum log_format *out);

/* One event: msg, then key/value pairs (NULL-terminated list of
 * alternating const char * keys and values; a NULL value is skipped). */
void log_event(enum log_level level, const char *msg, ...);
/* The line of one finished request (an http_done_fn's body). */
void log_request(const struct http_request *req);
/* The database URL without its password, for logs. */
void log_redact_url(const char *url, char *out, size_t size);

#endif
