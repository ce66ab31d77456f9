/* api_events.c - GET /api/shows/{id}/events: the seat changes of one show
 * as server-sent events (API.md 9).
 *
 * The answer opens with a retry: hint, then either the snapshot (the body
 * of GET /api/shows/{id}, with id: the feed position it was read after)
 * or, when Last-Event-ID names a point the show's ring still holds,
 * nothing more: the stream resumes right after that point. From then on
 * events/ queues each `seats` event. The viewer slot is taken before any
 * work, so a full server answers 503 at once. */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/num.h"
#include "http/http_stream.h"

static const char api_sse_type[] = "text/event-stream";

/* events/ talks to viewers through these: a message is an http_body, a
 * viewer an http_stream. */
static void *api_events_msg_new(char *data, size_t len)
{
	return http_body_new(data, len);
}

static void api_events_msg_unref(void *msg)
{
	http_body_unref(msg);
}

static int api_events_send(void *viewer, void *msg)
{
	return http_stream_send(viewer, msg);
}

static void api_events_drop(void *viewer)
{
	http_stream_close(viewer);
	http_stream_release(viewer);
}

const struct events_io api_events_io = {
    .msg_new = api_events_msg_new,
    .msg_unref = api_events_msg_unref,
    .send = api_events_send,
    .drop = api_events_drop,
};

/* The Last-Event-ID header as a seq, or -1 (absent or not ours: the
 * viewer then starts from a snapshot). */
static int64_t api_last_event_id(struct http_request *req)
{
	const char *v = http_header(req, "Last-Event-ID");
	int64_t id;

	if (v == NULL || num_parse_id(v, strlen(v), &id) != 0)
		return -1;
	return id;
}

void api_shows_events(struct api *api, struct http_request *req, const char *seg)
{
	struct events *ev = api->cfg.events;
	struct http_body *snapshot = NULL;
	int64_t show_id, pos;
	enum outcome o = OUTCOME_UNAVAILABLE;
	char text[96];

	struct api_bad bad;

	if (api_parse_path_id(seg, &show_id, &bad) != 0) {
		api_error_bad(req, &bad);
		return;
	}
	if (ev == NULL || !events_reserve(ev)) {
		snprintf(text, sizeof(text), "%d", EVENTS_RETRY_AFTER_S);
		api_error_header(req, api_err_of(OUTCOME_UNAVAILABLE),
		                 "too many event-stream viewers", "Retry-After", text);
		return;
	}
	pos = api_last_event_id(req);
	if (pos < 0 || !events_covers(ev, show_id, pos)) {
		/* Position first, snapshot second: the snapshot is then never
		 * older than the changes the stream leaves out. */
		if (events_position(ev, show_id, &pos) != 0 ||
		    api_seatmap_body(api, show_id, &snapshot, &o) != 0 || o != OUTCOME_OK) {
			events_unreserve(ev);
			api_error(req, api_err_of(o), NULL);
			return;
		}
	}
	const char *data = NULL;
	size_t snap_len = snapshot ? http_body_len(snapshot, &data) : 0;
	struct http_stream *s =
	    http_stream_open(req, api_sse_type, EVENTS_VIEWER_QUEUE + snap_len, NULL, NULL);
	if (s == NULL) {
		http_body_unref(snapshot);
		events_unreserve(ev);
		api_error(req, api_err_of(OUTCOME_UNAVAILABLE), NULL);
		return;
	}
	int n = snprintf(text, sizeof(text), "retry: %d\n\n", events_retry_ms(ev));
	http_stream_send_copy(s, text, (size_t)n);
	if (snapshot != NULL) {
		n = snprintf(text, sizeof(text),
		             "id: %lld\nevent: snapshot\ndata: ", (long long)pos);
		http_stream_send_copy(s, text, (size_t)n);
		http_stream_send(s, snapshot);
		http_stream_send_copy(s, "\n\n", 2);
		http_body_unref(snapshot);
	}
	/* A failure here closes the stream: the client reconnects. */
	events_attach(ev, show_id, s, pos);
}
