/* libmicrohttpd glue (see http-server.h).
 *
 * Request lifecycle, per connection callback invocation:
 *   1st call        allocate the request; dispatch at once if the declared
 *                   body is too large (the response then closes the
 *                   connection)
 *   calls with data append to the body (or discard past the limit)
 *   last call       dispatch to the handler; queue the response if it is
 *                   already there, else suspend the connection
 *   after resume    queue the response that http_respond() stored.
 * 'req->mutex' orders http_respond() (any thread) against the suspend in
 * the server thread.
 *
 * Threads: one MHD daemon per server thread, each with its own listening
 * socket on the same address and port (SO_REUSEPORT), so the kernel spreads
 * connections over the threads by their addresses.  MHD's own thread pool
 * shares one listening socket, and whichever thread is awake accepts: in
 * the benchmarks one thread ended up with 90-100 % of 64 connections. */
#include "api/http-server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define HTTP_MAX_ARGS    64
#define HTTP_MAX_THREADS 64

struct http_server {
    struct MHD_Daemon *daemons[HTTP_MAX_THREADS]; /* one per thread */
    unsigned n_daemons;                           /* used 'daemons' */
    http_handler_fn *handler;                     /* request handler */
    void *aux;                                    /* its argument */
    size_t max_body;                              /* body limit */
    uint16_t port;                                /* bound port */
    atomic_int inflight;  /* dispatched, not yet responded */
    atomic_bool stopping; /* http_server_stop() called */
};

enum http_state {
    HTTP_READING,    /* receiving the body */
    HTTP_DISPATCHED, /* handler called, no response yet */
    HTTP_SUSPENDED,  /* connection suspended waiting for the response */
    HTTP_RESPONDED,  /* response stored, not yet queued */
    HTTP_QUEUED,     /* response queued */
};

struct http_request {
    struct http_server *server;          /* owning server */
    struct MHD_Connection *conn;         /* connection */
    char method[16];                     /* request method */
    char *path;                          /* raw path */
    char *body;                          /* body, NUL-terminated */
    size_t body_len, body_cap;           /* its length and allocation */
    bool too_large;                      /* body exceeded the limit */
    bool bad_query;                      /* a query parameter was malformed */
    size_t n_args;                       /* query parameters */
    char *arg_names[HTTP_MAX_ARGS + 1];  /* their names, decoded */
    char *arg_values[HTTP_MAX_ARGS + 1]; /* their values, decoded */
    pthread_mutex_t mutex;               /* guards 'state' and 'response' */
    enum http_state state;               /* see above */
    struct MHD_Response *response;       /* stored response */
    unsigned status;                     /* its status */
};

/* Leaves strings alone: paths stay raw; arguments are decoded by us. */
static size_t
http_no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static int
http_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes 's' ('+' and %XX); NULL if malformed or if it decodes to NUL. */
static char *
http_decode(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;

    for (; *s; s++) {
        if (*s == '+') {
            *o++ = ' ';
        } else if (*s == '%') {
            int hi = http_hex(s[1]), lo = hi >= 0 ? http_hex(s[2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static enum MHD_Result
http_collect_arg(void *req_, enum MHD_ValueKind kind, const char *key,
                 const char *value)
{
    struct http_request *req = req_;
    char *k, *v;

    (void)kind;
    if (req->n_args >= HTTP_MAX_ARGS) {
        req->bad_query = true;
        return MHD_NO;
    }
    k = http_decode(key);
    v = http_decode(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        req->bad_query = true;
        return MHD_NO;
    }
    req->arg_names[req->n_args] = k;
    req->arg_values[req->n_args++] = v;
    return MHD_YES;
}

static void
http_request_free(struct http_request *req)
{
    if (req->response) {
        MHD_destroy_response(req->response);
    }
    for (size_t i = 0; i < req->n_args; i++) {
        free(req->arg_names[i]);
        free(req->arg_values[i]);
    }
    pthread_mutex_destroy(&req->mutex);
    free(req->path);
    free(req->body);
    free(req);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
               enum MHD_RequestTerminationCode toe)
{
    struct http_request *req = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (req) {
        *con_cls = NULL;
        http_request_free(req);
    }
}

static void
http_dispatch(struct http_request *req)
{
    struct http_server *server = req->server;

    req->state = HTTP_DISPATCHED;
    atomic_fetch_add(&server->inflight, 1);
    if (atomic_load(&server->stopping)) {
        static const char msg[] =
            "{\"error_code\":5002,\"error\":\"UNAVAILABLE\",\"message\":"
            "\"server is shutting down\",\"field\":\"\"}";
        http_respond(req, 503, "application/json", xstrdup(msg), strlen(msg),
                     NULL);
        return;
    }
    server->handler(server->aux, req);
}

/* Queues the stored response if there is one, else suspends.  Returns the
 * MHD result for the access handler. */
static enum MHD_Result
http_finish(struct http_request *req)
{
    enum MHD_Result ret = MHD_YES;

    pthread_mutex_lock(&req->mutex);
    if (req->state == HTTP_RESPONDED) {
        ret = MHD_queue_response(req->conn, req->status, req->response);
        req->state = HTTP_QUEUED;
    } else if (req->state == HTTP_DISPATCHED) {
        req->state = HTTP_SUSPENDED;
        MHD_suspend_connection(req->conn);
    }
    pthread_mutex_unlock(&req->mutex);
    return ret;
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
            const char *method, const char *version, const char *upload_data,
            size_t *upload_data_size, void **con_cls)
{
    struct http_server *server = cls;
    struct http_request *req = *con_cls;

    (void)version;
    if (!req) {
        const char *cl;

        req = xcalloc(1, sizeof *req);
        req->server = server;
        req->conn = conn;
        snprintf(req->method, sizeof req->method, "%s", method);
        req->path = xstrdup(url);
        pthread_mutex_init(&req->mutex, NULL);
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_collect_arg,
                                  req);
        *con_cls = req;
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > server->max_body) {
            req->too_large = true;
            http_dispatch(req);
            return http_finish(req);
        }
        return MHD_YES;
    }
    if (req->state == HTTP_READING && *upload_data_size) {
        size_t n = *upload_data_size;
        if (!req->too_large && req->body_len + n > server->max_body) {
            req->too_large = true;
            free(req->body);
            req->body = NULL;
            req->body_len = req->body_cap = 0;
        }
        if (!req->too_large) {
            if (req->body_len + n + 1 > req->body_cap) {
                req->body_cap = MAX(2 * req->body_cap, req->body_len + n + 1);
                req->body = xrealloc(req->body, req->body_cap);
            }
            memcpy(req->body + req->body_len, upload_data, n);
            req->body_len += n;
            req->body[req->body_len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* body after an early response: discard */
        return MHD_YES;
    }
    if (req->state == HTTP_READING) {
        http_dispatch(req);
    }
    return http_finish(req);
}

/* Hands 'resp' to the request and wakes its connection if it was parked
 * waiting for the answer. */
static void
deliver_response(struct http_server *server, struct http_request *req,
                 struct MHD_Response *resp, int status)
{
    pthread_mutex_lock(&req->mutex);
    req->response = resp;
    req->status = (unsigned)status;
    bool suspended = req->state == HTTP_SUSPENDED;
    req->state = HTTP_RESPONDED;
    if (suspended) {
        MHD_resume_connection(req->conn);
    }
    pthread_mutex_unlock(&req->mutex);
    atomic_fetch_sub(&server->inflight, 1);
}

void
http_respond(struct http_request *req, int status, const char *content_type,
             char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : (char *)"",
        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    struct http_server *server = req->server;

    if (content_type && body) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type);
    }
    for (size_t i = 0; headers && headers[i]; i += 2) {
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    }
    deliver_response(server, req, resp, status);
}

/* ---- Streaming responses. ----
 *
 * The producer appends to 'buf'; MHD pulls from it through
 * http_stream_read() in the server thread.  With nothing to send, the
 * reader suspends the connection and the next write or the end resumes
 * it, so an idle stream holds no thread and burns no CPU.  'mutex' guards
 * everything; 'refs' counts the producer's handle and MHD's response. */
struct http_stream {
    pthread_mutex_t mutex;       /* guards the members below */
    struct MHD_Connection *conn; /* the connection */
    struct http_server *server;  /* owning server */
    char *buf;                   /* queued bytes [off, len) */
    size_t off, len, cap;        /* read offset, end, allocation */
    size_t max;                  /* bound on len - off */
    bool suspended;              /* reader suspended the connection */
    bool ended;                  /* producer finished */
    bool gone;                   /* MHD released the response */
    int refs;                    /* producer + response */
};

static void
http_stream_unref(struct http_stream *s)
{
    pthread_mutex_lock(&s->mutex);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mutex);
    if (last) {
        pthread_mutex_destroy(&s->mutex);
        free(s->buf);
        free(s);
    }
}

/* Called with the mutex held after queuing data or ending. */
static void
http_stream_kick(struct http_stream *s)
{
    if (s->suspended && !s->gone) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

static ssize_t
http_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct http_stream *s = cls;
    ssize_t n;

    (void)pos;
    pthread_mutex_lock(&s->mutex);
    if (s->off < s->len) {
        n = (ssize_t)MIN(max, s->len - s->off);
        memcpy(out, s->buf + s->off, (size_t)n);
        s->off += (size_t)n;
        if (s->off == s->len) {
            s->off = s->len = 0;
        }
    } else if (s->ended) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        n = 0;
    }
    pthread_mutex_unlock(&s->mutex);
    return n;
}

static void
http_stream_released(void *cls)
{
    struct http_stream *s = cls;

    pthread_mutex_lock(&s->mutex);
    s->gone = true;
    pthread_mutex_unlock(&s->mutex);
    http_stream_unref(s);
}

static void
http_stream_append(struct http_stream *s, const void *data, size_t len)
{
    if (s->off && s->len + len > s->cap) {
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (s->len + len > s->cap) {
        s->cap = MAX(2 * s->cap, s->len + len);
        s->buf = xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
}

struct http_stream *
http_respond_stream(struct http_request *req, int status,
                    const char *content_type, size_t max_buffered,
                    const char *const *headers)
{
    struct http_stream *s = xcalloc(1, sizeof *s);
    struct http_server *server = req->server;
    struct MHD_Response *resp;

    pthread_mutex_init(&s->mutex, NULL);
    s->conn = req->conn;
    s->server = server;
    s->max = max_buffered;
    s->refs = 2;
    resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, http_stream_read, s, http_stream_released);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (size_t i = 0; headers && headers[i]; i += 2) {
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    }
    deliver_response(server, req, resp, status);
    return s;
}

int
http_stream_write(struct http_stream *s, const void *data, size_t len)
{
    int error = 0;

    pthread_mutex_lock(&s->mutex);
    if (s->gone) {
        error = EPIPE;
    } else if (s->len - s->off + len > s->max) {
        error = ENOBUFS;
    } else {
        http_stream_append(s, data, len);
        http_stream_kick(s);
    }
    pthread_mutex_unlock(&s->mutex);
    return error;
}

void
http_stream_end(struct http_stream *s, const char *last, size_t len)
{
    pthread_mutex_lock(&s->mutex);
    if (!s->gone && last && len) {
        http_stream_append(s, last, len);
    }
    s->ended = true;
    http_stream_kick(s);
    pthread_mutex_unlock(&s->mutex);
    http_stream_unref(s);
}

/* Returns a listening socket bound to 'ss' (SO_REUSEPORT, so every
 * thread can bind its own), or -1 with errno set. */
static int
http_listen(const struct sockaddr_storage *ss)
{
    socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    int fd =
        socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;

    if (fd < 0) {
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
        bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 1024)) {
        int error = errno;
        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

static void
http_server_free(struct http_server *server)
{
    for (unsigned i = 0; i < server->n_daemons; i++) {
        MHD_stop_daemon(server->daemons[i]);
    }
    free(server);
}

int
http_server_start(const struct http_server_config *cfg,
                  http_handler_fn *handler, void *aux,
                  struct http_server **serverp)
{
    struct http_server *server = xcalloc(1, sizeof *server);
    struct sockaddr_storage ss;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    unsigned n = MIN(MAX(cfg->threads, 1u), HTTP_MAX_THREADS);
    in_port_t *portp;

    *serverp = NULL;
    memset(&ss, 0, sizeof ss);
    if (strchr(cfg->addr, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(cfg->port);
        portp = &sin6->sin6_port;
        if (inet_pton(AF_INET6, cfg->addr, &sin6->sin6_addr) != 1) {
            free(server);
            return EINVAL;
        }
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(cfg->port);
        portp = &sin->sin_port;
        if (inet_pton(AF_INET, cfg->addr, &sin->sin_addr) != 1) {
            free(server);
            return EINVAL;
        }
    }
    if (cfg->cert_pem) {
        flags |= MHD_USE_TLS;
    }
    server->handler = handler;
    server->aux = aux;
    server->max_body = cfg->max_body;

    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    for (unsigned i = 0; i < n; i++) {
        int fd = http_listen(&ss);
        if (fd < 0) {
            int error = errno;
            http_server_free(server);
            return error == EADDRINUSE ? error : EADDRNOTAVAIL;
        }
        if (!i) {
            /* The others bind the port the first one got. */
            struct sockaddr_storage bound;
            socklen_t len = sizeof bound;
            getsockname(fd, (struct sockaddr *)&bound, &len);
            *portp = bound.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&bound)->sin6_port
                         : ((struct sockaddr_in *)&bound)->sin_port;
            server->port = ntohs(*portp);
        }
        server->daemons[i] = MHD_start_daemon(
            flags, server->port, NULL, NULL, http_access, server,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned int)MAX(4096 / n, 64u), MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned int)120, MHD_OPTION_NOTIFY_COMPLETED, http_completed,
            server, MHD_OPTION_UNESCAPE_CALLBACK, http_no_unescape, server,
            MHD_OPTION_ARRAY, cfg->cert_pem ? tls_opts : &tls_opts[2],
            MHD_OPTION_END);
        if (!server->daemons[i]) {
            close(fd);
            http_server_free(server);
            return EADDRNOTAVAIL;
        }
        server->n_daemons++;
    }
    *serverp = server;
    return 0;
}

uint16_t
http_server_port(const struct http_server *server)
{
    return server->port;
}

void
http_server_quiesce(struct http_server *server)
{
    atomic_store(&server->stopping, true);
}

void
http_server_stop(struct http_server *server)
{
    if (!server) {
        return;
    }
    atomic_store(&server->stopping, true);
    for (int i = 0; i < 1000 && atomic_load(&server->inflight) > 0; i++) {
        usleep(10000);
    }
    http_server_free(server);
}

const char *
http_request_method(const struct http_request *req)
{
    return req->method;
}

const char *
http_request_path(const struct http_request *req)
{
    return req->path;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

size_t
http_request_n_args(const struct http_request *req)
{
    return req->n_args;
}

const char *const *
http_request_arg_names(const struct http_request *req)
{
    return (const char *const *)req->arg_names;
}

const char *const *
http_request_arg_values(const struct http_request *req)
{
    return (const char *const *)req->arg_values;
}

bool
http_request_bad_query(const struct http_request *req)
{
    return req->bad_query;
}

const char *
http_request_body(const struct http_request *req, size_t *len)
{
    *len = req->body_len;
    return req->body;
}

bool
http_request_body_too_large(const struct http_request *req)
{
    return req->too_large;
}
