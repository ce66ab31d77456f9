/* http_stream.c - streaming answers on libmicrohttpd callback responses.
 *
 * The content-reader callback runs on the connection's daemon thread. It
 * copies queued chunks into MHD's buffer; with nothing queued it suspends
 * the connection and returns 0. MHD calls the reader only once everything
 * it buffered before (headers, earlier body) is on the wire, so while the
 * connection is suspended the socket is ours: a send writes the chunk to
 * it directly, one non-blocking send(2), without waking MHD (a resume
 * costs a pass through MHD's loop per viewer and event, and MHD 0.9.75
 * walks its whole suspended list on every resume; see BENCHMARKS.md).
 * Only what the socket does not take at once is queued, and then the
 * connection is resumed so that MHD's loop writes the backlog when the
 * socket drains; once the queue is empty the reader suspends it again.
 * The body is close-delimited (no chunked coding, MHD_RF_HTTP_1_0_SERVER):
 * bytes written directly and bytes MHD writes need no common framing. The
 * suspend-before-resume order matters (a resume that arrives first is
 * lost, see PERFORMANCE-NOTES.md): both happen under the stream's lock and
 * `waiting` is set only once the suspend is done, so a sender resumes only
 * a connection that is really suspended. A suspended connection cannot be
 * closed by MHD (except at daemon stop, which the owner precedes with
 * http_stream_close), so resuming it never touches a freed connection. */
#include "http/http_stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http/http_internal.h"

enum {
	HTTP_STREAM_CHUNKS = 64,  /* queued chunks per stream, at most */
	HTTP_STREAM_BLOCK = 4096, /* MHD's read size for stream bodies */
};

struct http_stream {
	pthread_mutex_t lock;
	struct MHD_Connection *conn;
	int fd; /* the connection's socket, written directly while waiting */
	struct http_body *chunk[HTTP_STREAM_CHUNKS]; /* ring */
	size_t head, count, offset;                  /* offset into chunk[head] */
	size_t queued, max_queued;                   /* bytes not yet read */
	int refs;
	bool waiting; /* suspended by the reader, not yet resumed */
	bool closed;  /* no more sends; end the body once drained */
	bool gone;    /* the connection let go of the body */
	bool failed;  /* a direct write failed: MHD is to close the socket */
};

static void http_stream_unref_locked(struct http_stream *s)
{
	if (--s->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	for (size_t i = 0; i < s->count; i++)
		http_body_unref(s->chunk[(s->head + i) % HTTP_STREAM_CHUNKS]);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Hands the connection back to MHD's loop if the reader parked it. */
static void http_stream_wake_locked(struct http_stream *s)
{
	if (s->waiting) {
		s->waiting = false;
		MHD_resume_connection(s->conn);
	}
}

static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *s = cls;
	size_t n = 0;
	(void)pos;

	pthread_mutex_lock(&s->lock);
	if (s->failed) {
		pthread_mutex_unlock(&s->lock);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	while (s->count > 0 && n < max) {
		struct http_body *b = s->chunk[s->head];
		const char *data;
		size_t len = http_body_len(b, &data) - s->offset;
		size_t take = len < max - n ? len : max - n;
		memcpy(buf + n, data + s->offset, take);
		n += take;
		s->offset += take;
		s->queued -= take;
		if (take == len) {
			http_body_unref(b);
			s->head = (s->head + 1) % HTTP_STREAM_CHUNKS;
			s->count--;
			s->offset = 0;
		}
	}
	if (n == 0) {
		if (s->closed) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		MHD_suspend_connection(s->conn);
		s->waiting = true;
	}
	pthread_mutex_unlock(&s->lock);
	return (ssize_t)n;
}

/* The connection is done with the body (finished, or the client left). */
static void http_stream_free(void *cls)
{
	struct http_stream *s = cls;

	pthread_mutex_lock(&s->lock);
	s->gone = true;
	s->waiting = false;
	http_stream_unref_locked(s);
}

struct http_stream *http_stream_open(struct http_request *req, const char *content_type,
                                     size_t max_queued, const char *hname, const char *hvalue)
{
	struct http_stream *s = calloc(1, sizeof(*s));
	struct MHD_Connection *conn = http_request_connection(req);

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->conn = conn;
	s->fd = -1;
	s->max_queued = max_queued;
	s->refs = 2;
	struct MHD_Response *resp = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, http_stream_read, s, http_stream_free);
	if (resp == NULL) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	/* Close-delimited: direct writes carry no chunk framing. */
	MHD_set_response_options(resp, MHD_RF_HTTP_1_0_SERVER, MHD_RO_END);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	if (hname != NULL)
		MHD_add_response_header(resp, hname, hvalue);
	/* A small, fixed kernel buffer: thousands of streams stay cheap, and a
	 * reader that stops reading shows up in our queue soon. */
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL) {
		s->fd = ci->connect_fd;
		int sz = HTTP_STREAM_SNDBUF;
		setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		/* Events are small and written one by one: no Nagle delay. */
		int one = 1;
		setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	http_respond_mhd(req, 200, resp, content_type);
	return s;
}

int http_stream_send(struct http_stream *s, struct http_body *chunk)
{
	const char *data;
	size_t len = http_body_len(chunk, &data);
	int rc = -1;

	pthread_mutex_lock(&s->lock);
	if (s->closed || s->gone || s->failed) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	size_t sent = 0;
	if (s->waiting && s->count == 0 && s->fd >= 0) {
		/* MHD is parked with nothing buffered: write it ourselves. */
		bool broken = false;
		while (sent < len) {
			ssize_t w =
			    send(s->fd, data + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno == EINTR)
				continue;
			else {
				broken = w == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
				break;
			}
		}
		if (broken) {
			/* The client went away: MHD closes the connection. */
			s->failed = true;
			http_stream_wake_locked(s);
			pthread_mutex_unlock(&s->lock);
			return -1;
		}
		if (sent == len) {
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	}
	if (s->count < HTTP_STREAM_CHUNKS && s->queued + (len - sent) <= s->max_queued) {
		http_body_ref(chunk);
		s->chunk[(s->head + s->count) % HTTP_STREAM_CHUNKS] = chunk;
		if (s->count == 0)
			s->offset = sent;
		s->count++;
		s->queued += len - sent;
		/* MHD writes the rest when the socket can take it. */
		http_stream_wake_locked(s);
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int http_stream_send_copy(struct http_stream *s, const char *data, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return -1;
	memcpy(copy, data, len);
	struct http_body *b = http_body_new(copy, len);
	if (b == NULL)
		return -1;
	int rc = http_stream_send(s, b);
	http_body_unref(b);
	return rc;
}

void http_stream_close(struct http_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->closed = true;
	if (!s->gone)
		http_stream_wake_locked(s);
	pthread_mutex_unlock(&s->lock);
}

bool http_stream_alive(struct http_stream *s)
{
	pthread_mutex_lock(&s->lock);
	bool alive = !s->closed && !s->gone && !s->failed;
	pthread_mutex_unlock(&s->lock);
	return alive;
}

void http_stream_release(struct http_stream *s)
{
	pthread_mutex_lock(&s->lock);
	http_stream_unref_locked(s);
}
