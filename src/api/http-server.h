/* HTTP/HTTPS transport for weftd, on libmicrohttpd.  Knows nothing about
 * the API: it reads a request (method, raw path, headers, decoded query
 * parameters, body up to a limit), hands it to one handler, and sends the
 * response the handler gives, now or later.
 *
 * Asynchrony: the handler must call http_respond() exactly once, from any
 * thread, at any time.  If it has not responded when it returns, the
 * connection is suspended (no thread waits) and resumed by the response.
 * This is what lets a durable write wait for its group commit, and a watch
 * for the next change, without tying up a server thread.
 *
 * Paths are passed raw: nothing is percent-decoded, so "%2F" can never
 * become a path separator behind the router's back.  Query parameters are
 * decoded ('+' and %XX); a malformed one marks the request (see
 * http_request_bad_query()). */
#ifndef WEFT_HTTP_SERVER_H
#define WEFT_HTTP_SERVER_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_request;

typedef void http_handler_fn(void *aux, struct http_request *req);

struct http_server_config {
    const char *addr;     /* address to bind: "127.0.0.1", "::1", "0.0.0.0" */
    uint16_t port;        /* port, 0 for an ephemeral one */
    const char *cert_pem; /* TLS certificate chain, NULL for plain HTTP */
    const char *key_pem;  /* TLS private key */
    size_t max_body;      /* larger bodies are marked too large */
    unsigned threads;     /* server threads */
};

/* Starts serving.  Returns 0 and the server in '*serverp', or an errno
 * value. */
int http_server_start(const struct http_server_config *cfg,
                      http_handler_fn *handler, void *aux,
                      struct http_server **serverp);

/* The bound port (useful with port 0). */
uint16_t http_server_port(const struct http_server *server);

/* From now on, new requests get 503 instead of reaching the handler. */
void http_server_quiesce(struct http_server *server);

/* Quiesces, waits up to 10 s for outstanding responses, then stops and
 * frees the server.  Parked requests (watches) must have been answered
 * first.  Accepts NULL. */
void http_server_stop(struct http_server *server);

/* Request accessors; valid until http_respond(). */
const char *http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req);
/* A request header, or NULL. */
const char *http_request_header(const struct http_request *req,
                                const char *name);
size_t http_request_n_args(const struct http_request *req);
const char *const *http_request_arg_names(const struct http_request *req);
const char *const *http_request_arg_values(const struct http_request *req);
bool http_request_bad_query(const struct http_request *req);
/* The body (NUL-terminated; may contain NULs) or NULL if none. */
const char *http_request_body(const struct http_request *req, size_t *len);
bool http_request_body_too_large(const struct http_request *req);

/* Sends the response and releases the request.  Takes ownership of 'body'
 * (malloc'd, may be NULL).  'headers' is NULL or a NULL-terminated list of
 * name, value pairs. */
void http_respond(struct http_request *req, int status,
                  const char *content_type, char *body, size_t len,
                  const char *const *headers);

/* Streaming responses.  http_respond_stream() answers 'req' with 'status'
 * and a body of unknown length (chunked) that the caller then produces with
 * http_stream_write() from any thread, and finishes with http_stream_end().
 * At most 'max_buffered' bytes wait in the server for the client; a write
 * that would exceed that fails with ENOBUFS (and appends nothing), so a
 * slow client costs bounded memory.  A client that has gone away makes
 * writes fail with EPIPE; the server notices while sending, so periodic
 * writes (heartbeats) are what detect an idle client's departure.  The
 * returned handle stays valid until http_stream_end(). */
struct http_stream;
struct http_stream *http_respond_stream(struct http_request *req, int status,
                                        const char *content_type,
                                        size_t max_buffered,
                                        const char *const *headers);
int http_stream_write(struct http_stream *s, const void *data, size_t len);
/* Queues 'last' (may be NULL; not subject to the bound), ends the body
 * once everything queued is sent, and releases the caller's handle. */
void http_stream_end(struct http_stream *s, const char *last, size_t len);

#endif
