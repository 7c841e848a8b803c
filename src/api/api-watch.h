/* The client-facing change feed: GET /api/v1/watch is a long poll over the
 * store's change feed.  A request asks for changes from revision N; if
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

#endif
