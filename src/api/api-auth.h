/* Authentication and authorization: bearer tokens and roles.
 *
 * A token is a random secret ("weft_" + 64 hex digits).  The store keeps
 * only its SHA-256 under "t/<id>", where <id> is the first 16 hex digits of
 * the hash, with the token's name, role and (for project-admin) projects.
 * Roles: admin (everything), project-admin (its own projects: read and
 * write inside them, read hosts and settings, no project create/delete),
 * auditor (read-only, everything including the audit log). */
#ifndef WEFT_API_AUTH_H
#define WEFT_API_AUTH_H 1

#include "api/api.h"

struct store_txn;

/* What a request touches, for authorization. */
enum auth_resource {
    AUTH_OBJECTS, /* model objects at 'mp' */
    AUTH_ROOT,    /* /api/v1 itself (subtree PATCH; paths checked apart) */
    AUTH_WATCH,   /* the change feed (filtered per principal) */
    AUTH_AUDIT,   /* the audit log */
    AUTH_TOKENS,  /* token management */
    AUTH_STATUS,  /* server status */
};

/* If no token exists yet, creates an admin token named "bootstrap" and
 * writes its secret to 'path' (mode 0600, fsynced).  Returns 0 or an
 * errno value.  Call before serving requests. */
int auth_bootstrap(struct store *store, const char *path);

/* A cache of token records in front of the store, kept coherent through
 * the change feed (see api-auth.c).  Thread-safe. */
struct auth_cache *auth_cache_create(struct store *store);
void auth_cache_destroy(struct auth_cache *cache); /* accepts NULL */
void auth_cache_stats(struct auth_cache *cache, uint64_t *hits,
                      uint64_t *misses);

/* Resolves an Authorization header value ("Bearer <secret>", may be NULL)
 * into '*p' (caller clears it), through 'cache' unless it is NULL.
 * Returns API_OK or UNAUTHENTICATED.  A token revoked by a write that was
 * acknowledged before this call started is never accepted. */
enum api_err auth_authenticate(struct store *store, struct auth_cache *cache,
                               const char *header, struct api_principal *p,
                               struct api_error *e);

/* Decides whether 'p' may do 'method' on 'res' ('mp' for AUTH_OBJECTS).
 * Returns API_OK or FORBIDDEN. */
enum api_err auth_authorize(const struct api_principal *p,
                            enum api_method method, enum auth_resource res,
                            const struct model_path *mp, struct api_error *e);

/* Parses "admin", "project-admin" or "auditor". */
bool auth_role_from_string(const char *s, enum api_role *role);
const char *auth_role_name(enum api_role role);

/* Inside a transaction: creates a token; writes its secret (NUL-
 * terminated, 70 bytes) to 'secret' and its id to 'id' (17 bytes). */
int auth_txn_create_token(struct store_txn *txn, const char *name,
                          enum api_role role, json_t *projects, char *secret,
                          char *id);

/* Inside a transaction: deletes token 'id'; ENOENT if absent. */
int auth_txn_delete_token(struct store_txn *txn, const char *id);

/* Lists tokens (without secrets) as a JSON array. */
json_t *auth_list_tokens(struct store *store);

#endif
