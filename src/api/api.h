/* Shared state and types of the management-plane API (weftd).
 *
 * The API is layered; each layer only calls the ones below it:
 *   http-server.c   HTTP/TLS transport (libmicrohttpd), knows no objects
 *   api-router.c    routes, authentication, body parsing, error replies
 *   api-read.c      GET of objects and lists, on store snapshots
 *   api-write.c     writes as store transactions (one txn per request)
 *   api-watch.c     long-poll change feed for clients
 *   api-auth.c, api-audit.c   tokens/roles and the audit log
 *   model.c, validate.c       schemas, paths, keys, format checks
 * Everything below api-router.c is transport-independent: a request is a
 * parsed path, a JSON body and a principal; a reply is a status and JSON. */
#ifndef WEFT_API_H
#define WEFT_API_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api-error.h"
#include "api/model.h"

struct store;
struct api_watch_hub;
struct auth_cache;
struct controller;

enum api_role { API_ROLE_ADMIN, API_ROLE_PROJECT_ADMIN, API_ROLE_AUDITOR };

/* Who is making a request (from its bearer token). */
struct api_principal {
    char token_id[17];  /* id of the token (not the secret) */
    char name[65];      /* the token's name, for the audit log */
    enum api_role role; /* role */
    json_t *projects;   /* project-admin: array of project ids, owned */
};

/* The API's configuration and shared state. */
struct api_ctx {
    struct store *store;           /* the revisioned store */
    struct api_watch_hub *watch;   /* long-poll and streaming watchers */
    struct auth_cache *auth;       /* token cache, NULL = no cache */
    uint32_t vni_min, vni_max;     /* VNI pool for allocation */
    size_t max_subtree_objects;    /* objects per subtree PATCH */
    size_t watch_buffer;           /* bytes queued per watch stream */
    struct controller *controller; /* control plane, NULL if not running */
};

enum api_method {
    API_GET,
    API_PUT,
    API_PATCH,
    API_DELETE,
    API_POST,
    API_N_METHODS
};

const char *api_method_name(enum api_method);

/* A reply: status and JSON body (NULL for no body), plus the revision it
 * reflects (sent as X-Weft-Revision, and as ETag for single objects). */
struct api_reply {
    int status;        /* HTTP status */
    json_t *body;      /* owned; NULL for none */
    char *text;        /* owned, malloc'd: the body already serialized
                        * (used instead of 'body' when not NULL) */
    size_t text_len;   /* bytes in 'text' */
    uint64_t revision; /* 0 if none */
    bool etag;         /* send 'revision' as an ETag */
};

/* Decoded query parameters of a request, in order. */
struct api_query {
    size_t n;                  /* number of parameters */
    const char *const *names;  /* their names */
    const char *const *values; /* their values ("" if none) */
};

/* Fills 'r' with the error 'e' (and clears 'e'). */
void api_reply_error(struct api_reply *r, struct api_error *e);

/* snprintf() for messages and paths where truncation is acceptable (and
 * expected for hostile input), trimmed to whole UTF-8 characters. */
void api_fmt(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Milliseconds since the Unix epoch. */
int64_t api_now_ms(void);

/* True if 'p' may act on project 'project' (admins on any). */
bool api_principal_has_project(const struct api_principal *p,
                               const char *project);
void api_principal_clear(struct api_principal *p);

#endif
