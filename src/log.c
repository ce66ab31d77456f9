/* log.c - the process's log on stderr, logfmt or JSON lines. See log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/timefmt.h"

enum { LOG_PATH_MAX = 256 }; /* escaped at most 6x: a line stays under LOG_LINE_MAX */

static atomic_int log_level_now = LOG_INFO;
static atomic_int log_format_now = LOG_LOGFMT;

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format format)
{
	atomic_store(&log_level_now, (int)level);
	atomic_store(&log_format_now, (int)format);
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level_now, memory_order_relaxed);
}

int log_parse_level(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_parse_format(const char *name, enum log_format *out)
{
	if (strcmp(name, "logfmt") == 0)
		*out = LOG_LOGFMT;
	else if (strcmp(name, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

/* A line being built; cut (never overrun) at LOG_LINE_MAX. */
struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	int json;
	int fields;
};

static void log_put(struct log_line *l, const char *s, size_t n)
{
	/* keep 3 bytes for the closing "}\n" */
	if (l->len + n > sizeof(l->buf) - 3)
		n = l->len < sizeof(l->buf) - 3 ? sizeof(l->buf) - 3 - l->len : 0;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void log_putc(struct log_line *l, char c)
{
	log_put(l, &c, 1);
}

/* logfmt needs quotes around a value with a space, quote, = or control
 * character; an empty value is "". */
static int log_needs_quotes(const char *v)
{
	if (*v == '\0')
		return 1;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
			return 1;
	return 0;
}

/* Writes v escaped for a quoted logfmt or JSON string: \" \\ and \u00hh
 * (or \n, \t) for control characters, so a client's path can never start
 * a line of its own; bytes >= 0x7f too, so that a JSON line stays valid
 * whatever bytes a path holds. */
static void log_escaped(struct log_line *l, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			log_put(l, esc, 2);
		} else if (*p == '\n') {
			log_put(l, "\\n", 2);
		} else if (*p == '\t') {
			log_put(l, "\\t", 2);
		} else if (*p < 0x20 || *p >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			log_put(l, esc, 6);
		} else {
			log_putc(l, (char)*p);
		}
	}
}

/* raw: a number, written without quotes in JSON. */
static void log_field(struct log_line *l, const char *key, const char *value, int raw)
{
	if (value == NULL)
		return;
	if (l->json) {
		log_put(l, l->fields ? ",\"" : "{\"", 2);
		log_put(l, key, strlen(key));
		log_put(l, "\":", 2);
		if (raw) {
			log_put(l, value, strlen(value));
		} else {
			log_putc(l, '"');
			log_escaped(l, value);
			log_putc(l, '"');
		}
	} else {
		if (l->fields)
			log_putc(l, ' ');
		log_put(l, key, strlen(key));
		log_putc(l, '=');
		if (!raw && log_needs_quotes(value)) {
			log_putc(l, '"');
			log_escaped(l, value);
			log_putc(l, '"');
		} else {
			log_put(l, value, strlen(value));
		}
	}
	l->fields++;
}

static void log_begin(struct log_line *l, enum log_level level, const char *msg)
{
	char when[TIMEFMT_SIZE];

	l->len = 0;
	l->fields = 0;
	l->json = atomic_load_explicit(&log_format_now, memory_order_relaxed) == LOG_JSON;
	timefmt_format(timefmt_now_ms(), when);
	log_field(l, "time", when, 0);
	log_field(l, "level", log_level_names[level], 0);
	log_field(l, "msg", msg, 0);
}

static void log_end(struct log_line *l)
{
	if (l->json)
		l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	/* One write per line: lines of concurrent threads do not mix. A log
	 * that cannot be written is dropped, never retried. */
	if (write(STDERR_FILENO, l->buf, l->len) < 0)
		return;
}

void log_event(enum log_level level, const char *msg, ...)
{
	struct log_line l;
	va_list ap;
	const char *key;

	if (!log_enabled(level))
		return;
	log_begin(&l, level, msg);
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) != NULL)
		log_field(&l, key, va_arg(ap, const char *), 0);
	va_end(ap);
	log_end(&l);
}

void log_request(const struct http_request *req)
{
	struct log_line l;
	char status[16], duration[32], bytes[32];
	char path[LOG_PATH_MAX + 4];
	long long us = http_duration_us(req);

	if (!log_enabled(LOG_INFO))
		return;
	snprintf(status, sizeof(status), "%u", http_status(req));
	snprintf(duration, sizeof(duration), "%lld.%03lld", us / 1000, us % 1000);
	snprintf(bytes, sizeof(bytes), "%zu", http_bytes(req));
	/* A path is the client's text: cut it, so the line always fits. */
	if (snprintf(path, sizeof(path), "%.*s", LOG_PATH_MAX, http_path(req)) >= LOG_PATH_MAX)
		memcpy(path + LOG_PATH_MAX, "...", 4);
	log_begin(&l, LOG_INFO, "request");
	log_field(&l, "method", http_is_head(req) ? "HEAD" : http_method(req), 0);
	log_field(&l, "route", http_route(req) ? http_route(req) : "-", 0);
	log_field(&l, "path", path, 0);
	log_field(&l, "status", status, 1);
	log_field(&l, "duration_ms", duration, 1);
	log_field(&l, "bytes", bytes, 1);
	log_field(&l, "request_id", http_request_id(req), 0);
	if (*http_user(req) != '\0')
		log_field(&l, "user", http_user(req), 0);
	log_end(&l);
}

void log_redact_url(const char *url, char *out, size_t size)
{
	const char *scheme = strstr(url, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	size_t o = 0;

	if (size == 0)
		return;
	/* user:password@ -> user:***@, and libpq's ?password=... or
	 * &password=... parameter -> password=*** */
	for (const char *p = url; *p && o + 1 < size;) {
		if (p == colon) {
			o += (size_t)snprintf(out + o, size - o, ":***");
			p = at;
			continue;
		}
		if ((p[0] == '?' || p[0] == '&') && strncmp(p + 1, "password=", 9) == 0) {
			o += (size_t)snprintf(out + o, size - o, "%cpassword=***", p[0]);
			p += 10 + strcspn(p + 10, "&");
			continue;
		}
		out[o++] = *p++;
	}
	if (o >= size)
		o = size - 1;
	out[o] = '\0';
}
