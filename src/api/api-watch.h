/* The client-facing change feed: GET /api/v1/watch is a long poll over the
 * store's change feed, or with stream=1 a stream of lines (see
 * watch_stream()).  A request asks for changes from revision N; if
 * some exist it is answered at once, otherwise it is parked (the HTTP
 * connection suspended, no thread held) until a commit brings changes or
 * its timeout passes.  The answer
 *   {"events": [{"revision", "type": "put"|"delete", "path", "object"}],
 *    "next_revision": M, "_revision": head}
 * covers whole revisions; the client asks again from M.  Events are
 * limited to objects under an optional path prefix and to what the
 * principal may read.  410 COMPACTED tells the client to re-list. */
#ifndef WEFT_API_WATCH_H
#define WEFT_API_WATCH_H 1

#include "api/api.h"

struct api_watch_hub;

/* Called exactly once per watch request with its reply; from any thread.
 * The callee takes ownership of 'r->body'. */
typedef void watch_reply_fn(void *aux, struct api_reply *r);

/* Creates the hub and subscribes it to 'store''s commits. */
struct api_watch_hub *watch_hub_create(struct store *store);

/* Answers every parked request (with no events) and frees the hub.
 * Accepts NULL.  The store must still be open. */
void watch_hub_destroy(struct api_watch_hub *hub);

/* Serves one watch request.  'prefix' is an API path prefix ("" = all);
 * 'who' is copied; at most 'max' events per reply (whole revisions). */
void watch_request(struct api_watch_hub *hub, const struct api_principal *who,
                   uint64_t from, const char *prefix, int timeout_ms,
                   size_t max, watch_reply_fn *reply, void *aux);

/* Streaming watch: the same events, one JSON object per line, as they
 * commit, plus a line {"type": "heartbeat", "revision": head,
 * "next_revision": N} every heartbeat interval.  The stream ends with one
 * error line ({"type": "error", "error": ..., "next_revision": N}) on
 * compaction (COMPACTED), when the client reads too slowly for the
 * transport's bound (SLOW_CONSUMER) or at shutdown, or silently when the
 * client goes away.  Events of one revision are always written together.
 * The sink is how the caller's transport takes lines. */
struct watch_sink {
    /* Queues 'len' bytes: 0, ENOBUFS (over the client's bound, nothing
     * queued) or another error (client gone). */
    int (*write)(void *aux, const char *data, size_t len);
    /* Last call: queues 'last' (NULL or 'len' bytes) and ends. */
    void (*end)(void *aux, const char *last, size_t len);
    void *aux; /* their argument */
};

/* Checks that 'from' is still in the feed before a stream is started:
 * true, or false with a 410 COMPACTED reply in 'r'. */
bool watch_check_from(struct api_watch_hub *hub, uint64_t from,
                      struct api_reply *r);

/* Starts a streaming watch from revision 'from'; 'who' is copied. */
void watch_stream(struct api_watch_hub *hub, const struct api_principal *who,
                  uint64_t from, const char *prefix, int heartbeat_ms,
                  const struct watch_sink *sink);

#endif
