/* Request routing, authentication and replies (see api-router.h). */
#include "api/api-router.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-audit.h"
#include "api/api-auth.h"
#include "api/api-cp.h"
#include "api/api-read.h"
#include "api/api-watch.h"
#include "api/api-write.h"
#include "api/http-server.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#define WATCH_MAX_TIMEOUT_S 300
#define WATCH_DEFAULT_MAX   1000

/* Special (non-object) endpoints. */
enum route_special {
    ROUTE_OBJECTS, /* model objects */
    ROUTE_ROOT,    /* /api/v1 */
    ROUTE_STATUS,  /* /api/v1/status */
    ROUTE_WATCH,   /* /api/v1/watch */
    ROUTE_AUDIT,   /* /api/v1/audit */
    ROUTE_TOKENS,  /* /api/v1/tokens */
    ROUTE_TOKEN,   /* /api/v1/tokens/{id} */
    /* Control plane (api-cp.h). */
    ROUTE_REALIZATION,   /* /api/v1/realization */
    ROUTE_HOST_JOIN,     /* /api/v1/hosts/{host}/join-token */
    ROUTE_HOST_REVOKE,   /* /api/v1/hosts/{host}/revoke */
    ROUTE_HOST_STATE,    /* /api/v1/hosts/{host}/state */
    ROUTE_SEGMENT_STATE, /* .../segments/{segment}/state */
    ROUTE_PORT_STATE,    /* .../ports/{port}/state */
    ROUTE_GROUP_MEMBERS, /* .../groups/{group}/members */
    ROUTE_RULE_STATS,    /* .../rules/{rule}/statistics */
};

/* Methods allowed per special route / object route shape, as bit masks. */
#define M(X) (1u << (X))
static const unsigned special_methods[] = {
    [ROUTE_OBJECTS] = 0,
    [ROUTE_ROOT] = M(API_PATCH),
    [ROUTE_STATUS] = M(API_GET),
    [ROUTE_WATCH] = M(API_GET),
    [ROUTE_AUDIT] = M(API_GET),
    [ROUTE_TOKENS] = M(API_GET) | M(API_POST),
    [ROUTE_TOKEN] = M(API_DELETE),
    [ROUTE_REALIZATION] = M(API_GET),
    [ROUTE_HOST_JOIN] = M(API_POST),
    [ROUTE_HOST_REVOKE] = M(API_POST),
    [ROUTE_HOST_STATE] = M(API_GET),
    [ROUTE_SEGMENT_STATE] = M(API_GET),
    [ROUTE_PORT_STATE] = M(API_GET),
    [ROUTE_GROUP_MEMBERS] = M(API_GET),
    [ROUTE_RULE_STATS] = M(API_GET),
};
static const char *const special_paths[] = {
    [ROUTE_ROOT] = "",
    [ROUTE_STATUS] = "/status",
    [ROUTE_WATCH] = "/watch",
    [ROUTE_AUDIT] = "/audit",
    [ROUTE_TOKENS] = "/tokens",
    [ROUTE_TOKEN] = "/tokens/{token}",
    [ROUTE_REALIZATION] = "/realization",
    [ROUTE_HOST_JOIN] = "/hosts/{host}/join-token",
    [ROUTE_HOST_REVOKE] = "/hosts/{host}/revoke",
    [ROUTE_HOST_STATE] = "/hosts/{host}/state",
    [ROUTE_SEGMENT_STATE] = "/projects/{project}/segments/{segment}/state",
    [ROUTE_PORT_STATE] =
        "/projects/{project}/segments/{segment}/ports/{port}/state",
    [ROUTE_GROUP_MEMBERS] = "/projects/{project}/groups/{group}/members",
    [ROUTE_RULE_STATS] = "/projects/{project}/security-policies/"
                         "{policy}/rules/{rule}/statistics",
};

/* Object sub-resources: "<object path>/<suffix>" routes. */
static const struct {
    const char *suffix;       /* "/state" */
    enum model_kind kind;     /* of the object */
    enum route_special route; /* the route */
} sub_routes[] = {
    {"/state", MODEL_HOST, ROUTE_HOST_STATE},
    {"/state", MODEL_SEGMENT, ROUTE_SEGMENT_STATE},
    {"/state", MODEL_PORT, ROUTE_PORT_STATE},
    {"/join-token", MODEL_HOST, ROUTE_HOST_JOIN},
    {"/revoke", MODEL_HOST, ROUTE_HOST_REVOKE},
    {"/members", MODEL_GROUP, ROUTE_GROUP_MEMBERS},
    {"/statistics", MODEL_RULE, ROUTE_RULE_STATS},
};
#define COLLECTION_METHODS (M(API_GET) | M(API_POST))
#define OBJECT_METHODS     (M(API_GET) | M(API_PUT) | M(API_PATCH) | M(API_DELETE))

static void
route_pattern(const struct model_type *t, char *buf, size_t size)
{
    char parent[MODEL_KEY_MAX] = "";

    if (t->parent >= 0) {
        const struct model_type *p = model_type((enum model_kind)t->parent);
        route_pattern(p, parent, sizeof parent);
        api_fmt(buf, size, "%s/{%s}/%s", parent, p->param, t->collection);
    } else {
        api_fmt(buf, size, "%s/%s", MODEL_API_PREFIX, t->collection);
    }
}

void
api_routes_foreach(void (*cb)(void *aux, const char *method, const char *path),
                   void *aux)
{
    char path[MODEL_KEY_MAX], obj[MODEL_KEY_MAX];

    for (size_t r = ROUTE_ROOT; r < ARRAY_SIZE(special_methods); r++) {
        api_fmt(path, sizeof path, "%s%s", MODEL_API_PREFIX, special_paths[r]);
        for (int m = 0; m < API_N_METHODS; m++) {
            if (special_methods[r] & M(m)) {
                cb(aux, api_method_name((enum api_method)m), path);
            }
        }
    }
    for (int k = 0; k < MODEL_N_KINDS; k++) {
        const struct model_type *t = model_type((enum model_kind)k);
        route_pattern(t, path, sizeof path);
        api_fmt(obj, sizeof obj, "%s/{%s}", path, t->param);
        for (int m = 0; m < API_N_METHODS; m++) {
            if (COLLECTION_METHODS & M(m)) {
                cb(aux, api_method_name((enum api_method)m), path);
            }
            if (OBJECT_METHODS & M(m)) {
                cb(aux, api_method_name((enum api_method)m), obj);
            }
        }
    }
}

json_t *
api_parse_body(const char *body, size_t len, struct api_error *e)
{
    json_error_t jerr;
    json_t *j =
        json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

    if (!j) {
        api_error_set(e, API_ERR_BAD_JSON, NULL,
                      "invalid JSON at line %d column %d: %s", jerr.line,
                      jerr.column, jerr.text);
    }
    return j;
}

/* ---- Replies. ---- */

static void
router_send(struct http_request *req, struct api_reply *r)
{
    char rev[32], etag[40], *text = NULL;
    const char *headers[7];
    size_t n = 0;

    if (r->revision) {
        snprintf(rev, sizeof rev, "%" PRIu64, r->revision);
        headers[n++] = "X-Weft-Revision";
        headers[n++] = rev;
        if (r->etag) {
            snprintf(etag, sizeof etag, "\"%" PRIu64 "\"", r->revision);
            headers[n++] = "ETag";
            headers[n++] = etag;
        }
    }
    headers[n] = NULL;
    if (r->text) {
        http_respond(req, r->status, "application/json", r->text, r->text_len,
                     headers);
        r->text = NULL;
        json_decref(r->body);
        r->body = NULL;
        return;
    }
    if (r->body) {
        text = json_dumps(r->body, JSON_COMPACT);
        json_decref(r->body);
        r->body = NULL;
    }
    if (!text && r->status != 204) {
        text = xstrdup("{}");
    }
    http_respond(req, r->status, "application/json", text,
                 text ? strlen(text) : 0, headers);
}

static void
router_error(struct http_request *req, struct api_error *e)
{
    struct api_reply r = {0};

    api_reply_error(&r, e);
    router_send(req, &r);
}

static void
router_write_done(struct api_write *w, void *req)
{
    router_send(req, &w->reply);
    write_free(w);
}

static void
router_watch_done(void *req, struct api_reply *r)
{
    router_send(req, r);
}

static int
router_stream_write(void *stream, const char *data, size_t len)
{
    return http_stream_write(stream, data, len);
}

static void
router_stream_end(void *stream, const char *last, size_t len)
{
    http_stream_end(stream, last, len);
}

/* GET /api/v1/watch?stream=1: a 410 now if 'from' is gone, else a
 * chunked application/x-ndjson response fed by the watch hub. */
static void
router_watch_stream(struct api_ctx *ctx, struct http_request *req,
                    const struct api_principal *who, uint64_t from,
                    const char *prefix, uint64_t heartbeat_s)
{
    struct api_reply r = {0};
    struct watch_sink sink;
    char rev[32];
    const char *headers[3] = {"X-Weft-Revision", rev, NULL};

    if (!watch_check_from(ctx->watch, from, &r)) {
        router_send(req, &r);
        return;
    }
    snprintf(rev, sizeof rev, "%" PRIu64, store_revision(ctx->store));
    sink.write = router_stream_write;
    sink.end = router_stream_end;
    sink.aux = http_respond_stream(req, 200, "application/x-ndjson",
                                   ctx->watch_buffer, headers);
    watch_stream(ctx->watch, who, from, prefix, (int)heartbeat_s * 1000, &sink);
}

/* ---- Request parsing helpers. ---- */

static bool
router_parse_method(const char *s, enum api_method *m)
{
    for (int i = 0; i < API_N_METHODS; i++) {
        if (!strcmp(s, api_method_name((enum api_method)i))) {
            *m = (enum api_method)i;
            return true;
        }
    }
    return false;
}

/* Parses If-Match: 17, "17" or W/"17".  Returns false if malformed. */
static bool
router_if_match(const char *h, uint64_t *rev)
{
    char *end;

    *rev = 0;
    if (!h) {
        return true;
    }
    if (!strncmp(h, "W/", 2)) {
        h += 2;
    }
    if (*h == '"') {
        h++;
    }
    if (*h < '0' || *h > '9') {
        return false;
    }
    *rev = strtoull(h, &end, 10);
    return (*end == '\0' || (*end == '"' && end[1] == '\0')) && *rev;
}

/* Looks up query parameter 'name'; NULL if absent. */
static const char *
router_arg(const struct api_query *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++) {
        if (!strcmp(q->names[i], name)) {
            return q->values[i];
        }
    }
    return NULL;
}

/* Rejects parameters not in 'allowed' (NULL-terminated). */
static enum api_err
router_check_args(const struct api_query *q, const char *const *allowed,
                  struct api_error *e)
{
    for (size_t i = 0; i < q->n; i++) {
        const char *const *a;
        for (a = allowed; *a && strcmp(*a, q->names[i]); a++) {
            continue;
        }
        if (!*a) {
            return api_error_set(e, API_ERR_INVALID_QUERY, q->names[i],
                                 "unknown query parameter '%s'", q->names[i]);
        }
    }
    return API_OK;
}

static bool
router_uint_arg(const struct api_query *q, const char *name, uint64_t lo,
                uint64_t hi, uint64_t *value, struct api_error *e)
{
    const char *s = router_arg(q, name);

    if (!s) {
        return true;
    }
    if (!str_to_u64(s, hi, value) || *value < lo) {
        api_error_set(e, API_ERR_INVALID_QUERY, name,
                      "'%s' must be an integer in %" PRIu64 "..%" PRIu64, name,
                      lo, hi);
        return false;
    }
    return true;
}

/* ---- Special endpoints. ---- */

static void
router_status(struct api_ctx *ctx, struct api_reply *r)
{
    struct store_stats st;

    store_get_stats(ctx->store, &st);
    r->status = 200;
    r->revision = store_revision(ctx->store);
    r->body =
        json_pack("{s:s, s:I, s:I, s:{s:I, s:I, s:I}}", "version", "0.1.0",
                  "revision", (json_int_t)r->revision, "compacted",
                  (json_int_t)store_compacted(ctx->store), "store", "commits",
                  (json_int_t)st.commits, "syncs", (json_int_t)st.syncs,
                  "disk_bytes", (json_int_t)st.disk_bytes);
}

/* ---- The handler. ---- */

struct router_req {
    struct api_ctx *ctx;       /* API state */
    struct http_request *http; /* transport request */
    enum api_method method;    /* parsed method */
    enum route_special route;  /* which endpoint */
    struct model_path mp;      /* object path (ROUTE_OBJECTS) */
    char token_id[17];         /* ROUTE_TOKEN */
    struct api_query q;        /* query parameters */
    struct api_principal who;  /* authenticated principal */
};

/* Matches the path; API_OK with 'rr->route' and 'rr->mp' set. */
static enum api_err
router_match(struct router_req *rr, const char *path, struct api_error *e)
{
    size_t plen = strlen(MODEL_API_PREFIX);
    const char *rest;

    if (strncmp(path, MODEL_API_PREFIX, plen) ||
        (path[plen] && path[plen] != '/')) {
        return api_error_set(e, API_ERR_ROUTE_NOT_FOUND, NULL,
                             "API paths start with %s", MODEL_API_PREFIX);
    }
    rest = path + plen;
    if (!*rest) {
        rr->route = ROUTE_ROOT;
    } else if (!strcmp(rest, "/status")) {
        rr->route = ROUTE_STATUS;
    } else if (!strcmp(rest, "/watch")) {
        rr->route = ROUTE_WATCH;
    } else if (!strcmp(rest, "/audit")) {
        rr->route = ROUTE_AUDIT;
    } else if (!strcmp(rest, "/tokens")) {
        rr->route = ROUTE_TOKENS;
    } else if (!strcmp(rest, "/realization")) {
        rr->route = ROUTE_REALIZATION;
    } else if (!strncmp(rest, "/tokens/", 8)) {
        const char *id = rest + 8;
        if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16) {
            return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                 "token ids are 16 hex digits");
        }
        rr->route = ROUTE_TOKEN;
        memcpy(rr->token_id, id, 17);
    } else {
        size_t len = strlen(rest);
        for (size_t i = 0; i < ARRAY_SIZE(sub_routes); i++) {
            size_t sl = strlen(sub_routes[i].suffix);
            char prefix[MODEL_KEY_MAX];
            struct api_error e2 = {0};

            if (len <= sl || len - sl >= sizeof prefix ||
                strcmp(rest + len - sl, sub_routes[i].suffix)) {
                continue;
            }
            memcpy(prefix, rest, len - sl);
            prefix[len - sl] = '\0';
            if (!model_parse_path(prefix, &rr->mp, &e2) && !rr->mp.collection &&
                rr->mp.types[rr->mp.depth - 1]->kind == sub_routes[i].kind) {
                rr->route = sub_routes[i].route;
                return API_OK;
            }
            api_error_clear(&e2);
        }
        rr->route = ROUTE_OBJECTS;
        return model_parse_path(rest, &rr->mp, e);
    }
    return API_OK;
}

static bool
router_method_allowed(const struct router_req *rr)
{
    if (rr->route != ROUTE_OBJECTS) {
        return special_methods[rr->route] & M(rr->method);
    }
    return (rr->mp.collection ? COLLECTION_METHODS : OBJECT_METHODS) &
           M(rr->method);
}

static enum auth_resource
router_resource(enum route_special route)
{
    switch (route) {
    case ROUTE_ROOT:
        return AUTH_ROOT;
    case ROUTE_STATUS:
    case ROUTE_REALIZATION:
        return AUTH_STATUS;
    case ROUTE_WATCH:
        return AUTH_WATCH;
    case ROUTE_AUDIT:
        return AUTH_AUDIT;
    case ROUTE_TOKENS:
    case ROUTE_TOKEN:
        return AUTH_TOKENS;
    case ROUTE_OBJECTS:
    case ROUTE_HOST_JOIN:
    case ROUTE_HOST_REVOKE:
    case ROUTE_HOST_STATE:
    case ROUTE_SEGMENT_STATE:
    case ROUTE_PORT_STATE:
    case ROUTE_GROUP_MEMBERS:
    case ROUTE_RULE_STATS:
    default:
        return AUTH_OBJECTS;
    }
}

/* Reads the JSON body of a write; NULL with 'e' set on failure. */
static json_t *
router_body(struct router_req *rr, struct api_error *e)
{
    const char *ct = http_request_header(rr->http, "Content-Type");
    size_t len;
    const char *body = http_request_body(rr->http, &len);

    if (!body || !len) {
        api_error_set(e, API_ERR_BAD_JSON, NULL, "a JSON body is required");
        return NULL;
    }
    if (!ct || strncasecmp(ct, "application/json", 16) ||
        (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        api_error_set(e, API_ERR_UNSUPPORTED_MEDIA_TYPE, NULL,
                      "Content-Type must be application/json");
        return NULL;
    }
    return api_parse_body(body, len, e);
}

static void
router_dispatch(struct router_req *rr)
{
    struct api_ctx *ctx = rr->ctx;
    struct api_error e = {0};
    struct api_reply r = {0};
    json_t *body = NULL;
    enum write_kind kind;
    uint64_t if_match;
    struct api_write *w;

    if (rr->method == API_GET) {
        static const char *const list_args[] = {NULL};
        static const char *const watch_args[] = {
            "from", "prefix", "timeout", "max", "stream", "heartbeat", NULL};
        uint64_t stream = 0, heartbeat = 10;
        const char *accept;
        static const char *const audit_args[] = {"from", "page_size", NULL};
        uint64_t from = 0, timeout = 30, max = WATCH_DEFAULT_MAX;
        uint64_t page = READ_PAGE_DEFAULT;
        const char *prefix;

        switch (rr->route) {
        case ROUTE_STATUS:
            router_status(ctx, &r);
            break;
        case ROUTE_TOKENS:
            if (router_check_args(&rr->q, list_args, &e)) {
                break;
            }
            r.status = 200;
            r.body =
                json_pack("{s:o}", "results", auth_list_tokens(ctx->store));
            break;
        case ROUTE_AUDIT:
            if (router_check_args(&rr->q, audit_args, &e) ||
                !router_uint_arg(&rr->q, "from", 0, UINT64_MAX / 2, &from,
                                 &e) ||
                !router_uint_arg(&rr->q, "page_size", 1, READ_PAGE_MAX, &page,
                                 &e)) {
                break;
            }
            r.status = 200;
            r.body = json_object();
            json_object_set_new(r.body, "results",
                                audit_list(ctx->store, from, page, &from));
            json_object_set_new(r.body, "next", json_integer((json_int_t)from));
            break;
        case ROUTE_WATCH:
            prefix = router_arg(&rr->q, "prefix");
            if (router_check_args(&rr->q, watch_args, &e) ||
                !router_uint_arg(&rr->q, "from", 0, UINT64_MAX / 2, &from,
                                 &e) ||
                !router_uint_arg(&rr->q, "timeout", 0, WATCH_MAX_TIMEOUT_S,
                                 &timeout, &e) ||
                !router_uint_arg(&rr->q, "max", 1, 100000, &max, &e) ||
                !router_uint_arg(&rr->q, "stream", 0, 1, &stream, &e) ||
                !router_uint_arg(&rr->q, "heartbeat", 1, WATCH_MAX_TIMEOUT_S,
                                 &heartbeat, &e)) {
                break;
            }
            if (prefix && *prefix &&
                (strncmp(prefix, MODEL_API_PREFIX, strlen(MODEL_API_PREFIX)) ||
                 strlen(prefix) >= MODEL_KEY_MAX)) {
                api_error_set(&e, API_ERR_INVALID_QUERY, "prefix",
                              "'prefix' must be an API path");
                break;
            }
            accept = http_request_header(rr->http, "Accept");
            if (stream || (accept && strstr(accept, "application/x-ndjson"))) {
                router_watch_stream(ctx, rr->http, &rr->who, from,
                                    prefix ? prefix : "", heartbeat);
                return;
            }
            watch_request(ctx->watch, &rr->who, from, prefix ? prefix : "",
                          (int)timeout * 1000, max, router_watch_done,
                          rr->http);
            return;
        case ROUTE_REALIZATION: {
            static const char *const real_args[] = {"revision", NULL};
            uint64_t rev = 0;
            if (router_check_args(&rr->q, real_args, &e) ||
                !router_uint_arg(&rr->q, "revision", 0, UINT64_MAX / 2, &rev,
                                 &e)) {
                break;
            }
            cp_realization(ctx, rev, &r);
            break;
        }
        case ROUTE_HOST_STATE:
        case ROUTE_SEGMENT_STATE:
        case ROUTE_PORT_STATE:
            if (!router_check_args(&rr->q, list_args, &e)) {
                cp_state(ctx, &rr->mp, &r);
            }
            break;
        case ROUTE_GROUP_MEMBERS:
        case ROUTE_RULE_STATS:
            if (!router_check_args(&rr->q, list_args, &e)) {
                cp_firewall_read(ctx, &rr->mp, rr->route == ROUTE_RULE_STATS,
                                 &r);
            }
            break;
        case ROUTE_OBJECTS:
            if (rr->mp.collection) {
                read_list(ctx, &rr->mp, &rr->who, &rr->q, &r);
            } else if (!router_check_args(&rr->q, list_args, &e)) {
                read_object(ctx, &rr->mp, &r);
            }
            break;
        default:
            api_error_set(&e, API_ERR_METHOD_NOT_ALLOWED, NULL, NULL);
        }
        if (e.code) {
            router_error(rr->http, &e);
        } else {
            router_send(rr->http, &r);
        }
        return;
    }

    /* Control-plane writes: the body is optional. */
    if (rr->route == ROUTE_HOST_JOIN || rr->route == ROUTE_HOST_REVOKE) {
        size_t len;
        const char *raw = http_request_body(rr->http, &len);
        if (rr->q.n) {
            api_error_set(&e, API_ERR_INVALID_QUERY, rr->q.names[0],
                          "writes take no query parameters");
        } else if (raw && len && !(body = router_body(rr, &e))) {
            /* error set */
        } else if (rr->route == ROUTE_HOST_JOIN) {
            cp_join_token(ctx, &rr->mp, body, &rr->who, &r);
        } else if (body && (!json_is_object(body) || json_object_size(body))) {
            api_error_set(&e, API_ERR_UNKNOWN_FIELD, NULL,
                          "revoke takes no fields");
        } else {
            cp_revoke(ctx, &rr->mp, &rr->who, &r);
        }
        json_decref(body);
        if (e.code) {
            router_error(rr->http, &e);
        } else {
            router_send(rr->http, &r);
        }
        return;
    }

    /* Writes. */
    if (!router_if_match(http_request_header(rr->http, "If-Match"),
                         &if_match)) {
        api_error_set(&e, API_ERR_BAD_FORMAT, "If-Match",
                      "If-Match must be a revision number");
        router_error(rr->http, &e);
        return;
    }
    if (rr->q.n) {
        api_error_set(&e, API_ERR_INVALID_QUERY, rr->q.names[0],
                      "writes take no query parameters");
        router_error(rr->http, &e);
        return;
    }
    if (rr->method != API_DELETE) {
        body = router_body(rr, &e);
        if (!body) {
            router_error(rr->http, &e);
            return;
        }
    } else {
        size_t len;
        if (http_request_body(rr->http, &len) && len) {
            api_error_set(&e, API_ERR_BAD_JSON, NULL, "DELETE takes no body");
            router_error(rr->http, &e);
            return;
        }
    }
    switch (rr->method) {
    case API_PUT:
        kind = WRITE_PUT;
        break;
    case API_PATCH:
        kind = WRITE_PATCH;
        break;
    case API_DELETE:
        kind = rr->route == ROUTE_TOKEN ? WRITE_TOKEN_DELETE : WRITE_DELETE;
        break;
    case API_POST:
    default:
        kind = rr->route == ROUTE_TOKENS ? WRITE_TOKEN_CREATE : WRITE_CREATE;
        break;
    }
    w = write_new(ctx, kind, &rr->mp, body, &rr->who);
    memcpy(w->token_id, rr->token_id, sizeof w->token_id);
    w->if_match = if_match;
    if (write_prepare(w, &e)) {
        write_free(w);
        router_error(rr->http, &e);
        return;
    }
    write_submit(w, router_write_done, rr->http);
}

void
api_router_handle(void *ctx_, struct http_request *req)
{
    struct router_req rr;
    struct api_error e = {0};

    memset(&rr, 0, sizeof rr);
    rr.ctx = ctx_;
    rr.http = req;
    rr.q.n = http_request_n_args(req);
    rr.q.names = http_request_arg_names(req);
    rr.q.values = http_request_arg_values(req);

    if (http_request_body_too_large(req)) {
        api_error_set(&e, API_ERR_BODY_TOO_LARGE, NULL, NULL);
    } else if (http_request_bad_query(req)) {
        api_error_set(&e, API_ERR_INVALID_QUERY, NULL,
                      "malformed query string");
    } else if (auth_authenticate(rr.ctx->store, rr.ctx->auth,
                                 http_request_header(req, "Authorization"),
                                 &rr.who, &e)) {
        /* 401 before revealing anything about paths */
    } else if (router_match(&rr, http_request_path(req), &e)) {
        /* 400/404 */
    } else if (!router_parse_method(http_request_method(req), &rr.method) ||
               !router_method_allowed(&rr)) {
        api_error_set(&e, API_ERR_METHOD_NOT_ALLOWED, NULL,
                      "%s is not allowed on this path",
                      http_request_method(req));
    } else if (auth_authorize(&rr.who, rr.method, router_resource(rr.route),
                              &rr.mp, &e)) {
        /* 403 */
    }
    if (e.code) {
        api_principal_clear(&rr.who);
        router_error(req, &e);
        return;
    }
    router_dispatch(&rr);
    api_principal_clear(&rr.who);
}
