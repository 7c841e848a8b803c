/* The router: turns an HTTP request into an API operation.
 *
 * For every request, in this order: match the route (404/405), check the
 * bearer token (401), check the role (403), read and parse the body (413,
 * 415, 400), then run the operation (api-read.c, api-write.c,
 * api-watch.c) and send its JSON reply.  Nothing is written to the store
 * unless every check passed.  The route table is also what weftd
 * --dump-routes prints, so the OpenAPI test compares the document against
 * the table the server actually dispatches on. */
#ifndef WEFT_API_ROUTER_H
#define WEFT_API_ROUTER_H 1

#include "api/api.h"

struct http_request;

/* http_handler_fn for http_server_start(); 'ctx' is a struct api_ctx. */
void api_router_handle(void *ctx, struct http_request *req);

/* Calls 'cb' for every served route: method and OpenAPI-style path
 * ("/api/v1/projects/{project}/segments"). */
void api_routes_foreach(void (*cb)(void *aux, const char *method,
                                   const char *path),
                        void *aux);

/* Parses a JSON request body the way the router does (strict: no
 * duplicate keys, valid UTF-8, no NUL).  Returns the value or NULL with
 * BAD_JSON in 'e'.  Exposed for the fuzzer. */
json_t *api_parse_body(const char *body, size_t len, struct api_error *e);

#endif
