/* http_stream.h - long-lived streaming answers (server-sent events).
 *
 * A stream is a 200 answer whose body is written over time by another
 * thread. The body is a queue of shared chunks (struct http_body): a
 * message meant for thousands of viewers is built once and queued by
 * reference in each stream. While libmicrohttpd has the connection parked
 * (suspended, nothing of its own left to write) a send writes straight to
 * the socket; what the socket cannot take at once is queued and
 * libmicrohttpd, woken, pulls it through a content-reader callback until
 * the queue is empty and parks the connection again. The body is
 * close-delimited (the stream ends with the connection). No thread waits
 * per stream.
 *
 * Each stream has a bound on the bytes it may hold queued; a send beyond
 * it fails and the owner is expected to close the stream (a slow reader
 * must not make the server buffer without limit). The kernel send buffer
 * of a stream's socket is bounded too (HTTP_STREAM_SNDBUF).
 *
 * Threads: send, close and alive may be called from any thread. A stream
 * has two references, the owner's (from http_stream_open) and the
 * connection's; it is freed when both are gone. Nothing here knows what
 * the bytes mean. */
#ifndef BOXOFFICE_HTTP_HTTP_STREAM_H
#define BOXOFFICE_HTTP_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

enum {
	HTTP_STREAM_SNDBUF = 16 * 1024, /* kernel send buffer of a stream socket */
};

struct http_stream;

/* Answers req with an open-ended 200 body of content_type, holding at most
 * max_queued bytes not yet handed to the socket. Extra header: name/value
 * or NULLs. Returns the owner's reference, or NULL (out of memory: the
 * request is then answered by the caller as usual). */
struct http_stream *http_stream_open(struct http_request *req, const char *content_type,
                                     size_t max_queued, const char *hname, const char *hvalue);
/* Queues chunk (the stream takes its own reference). 0: queued. -1: the
 * stream is closed, its client went away, or the bound would be passed. */
int http_stream_send(struct http_stream *s, struct http_body *chunk);
/* Like http_stream_send with a private copy of data. */
int http_stream_send_copy(struct http_stream *s, const char *data, size_t len);
/* Ends the body after what is queued. */
void http_stream_close(struct http_stream *s);
/* false once closed or once the connection is gone. */
bool http_stream_alive(struct http_stream *s);
/* Drops the owner's reference (after which s must not be used). */
void http_stream_release(struct http_stream *s);

#endif
