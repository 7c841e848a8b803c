/* Bearer tokens and role checks (see api-auth.h). */
#include "api/api-auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#define AUTH_PREFIX "weft_"

static const char *const role_names[] = {
    [API_ROLE_ADMIN] = "admin",
    [API_ROLE_PROJECT_ADMIN] = "project-admin",
    [API_ROLE_AUDITOR] = "auditor",
};

bool
auth_role_from_string(const char *s, enum api_role *role)
{
    for (size_t i = 0; i < ARRAY_SIZE(role_names); i++) {
        if (!strcmp(s, role_names[i])) {
            *role = (enum api_role)i;
            return true;
        }
    }
    return false;
}

const char *
auth_role_name(enum api_role role)
{
    return role < ARRAY_SIZE(role_names) ? role_names[role] : "?";
}

static void
auth_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-256, fetched once: an implicit fetch per digest costs more than the
 * digest itself. */
static EVP_MD *auth_sha256;

static void
auth_sha256_fetch(void)
{
    auth_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* Hex SHA-256 of 'secret' (65 bytes). */
static void
auth_hash(const char *secret, char *hex)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    uint8_t md[32];
    unsigned int len = sizeof md;

    pthread_once(&once, auth_sha256_fetch);
    EVP_Digest(secret, strlen(secret), md, &len,
               auth_sha256 ? auth_sha256 : EVP_sha256(), NULL);
    auth_hex(md, sizeof md, hex);
}

int
auth_txn_create_token(struct store_txn *txn, const char *name,
                      enum api_role role, json_t *projects, char *secret,
                      char *id)
{
    uint8_t raw[32];
    char hash[65], key[32];
    json_t *rec;
    char *text;
    int error;

    if (RAND_bytes(raw, sizeof raw) != 1) {
        return EIO;
    }
    memcpy(secret, AUTH_PREFIX, strlen(AUTH_PREFIX));
    auth_hex(raw, sizeof raw, secret + strlen(AUTH_PREFIX));
    auth_hash(secret, hash);
    memcpy(id, hash, 16);
    id[16] = '\0';
    snprintf(key, sizeof key, "t/%s", id);

    rec = json_pack("{s:s, s:s, s:s, s:I}", "name", name, "role",
                    auth_role_name(role), "hash", hash, "_create_time",
                    (json_int_t)api_now_ms());
    if (projects) {
        json_object_set(rec, "projects", projects);
    }
    text = json_dumps(rec, JSON_COMPACT);
    error = store_txn_put(txn, key, text, strlen(text));
    free(text);
    json_decref(rec);
    return error;
}

int
auth_txn_delete_token(struct store_txn *txn, const char *id)
{
    char key[64];

    if (strlen(id) != 16) {
        return ENOENT;
    }
    snprintf(key, sizeof key, "t/%s", id);
    return store_txn_delete(txn, key);
}

/* Bootstrap transaction: creates the first token unless one exists. */
struct auth_boot {
    char secret[80]; /* new secret, "" if none created */
    char id[17];     /* its id */
};

static int
auth_boot_txn(struct store_txn *txn, void *aux)
{
    struct auth_boot *b = aux;
    struct store_kv *kvs;
    size_t n;
    int error = store_txn_range(txn, "t/", "t0", 1, &kvs, &n);

    store_kvs_free(kvs, n);
    if (error || n) {
        return error;
    }
    return auth_txn_create_token(txn, "bootstrap", API_ROLE_ADMIN, NULL,
                                 b->secret, b->id);
}

int
auth_bootstrap(struct store *store, const char *path)
{
    struct auth_boot b;
    int fd, error;

    memset(&b, 0, sizeof b);
    error = store_txn_run(store, auth_boot_txn, &b, NULL);
    if (error || !b.secret[0]) {
        return error;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return errno;
    }
    strcat(b.secret, "\n");
    if (write(fd, b.secret, strlen(b.secret)) != (ssize_t)strlen(b.secret) ||
        fsync(fd)) {
        error = errno ? errno : EIO;
    }
    close(fd);
    LOG_INFO("auth", "created the first admin token (id %s) in %s", b.id, path);
    return error;
}

/* ---- Token cache. ----
 *
 * Authenticating a request used to cost a store read and a JSON parse of
 * the token record.  The cache keeps the parsed records of tokens seen
 * recently, keyed by token id.  It follows the store's change feed: before
 * answering, a lookup that finds the head revision past 'rev' reads the
 * "t/" changes since 'rev' and evicts every token they touch (a compacted
 * gap flushes everything).  A request that starts after a revocation was
 * acknowledged therefore never sees the revoked token: the revocation's
 * revision is at or below the head it reads.  A miss reads the record at
 * revision 'rev' and inserts it only if 'rev' has not moved meanwhile, so a
 * record read before a concurrent change is never cached after it. */

#define AUTH_CACHE_SIZE 1024 /* slots; a power of 2 */
#define AUTH_CACHE_MAX  768  /* entries before the cache is flushed */

struct auth_entry {
    bool used;          /* slot holds an entry */
    char id[17];        /* token id (first 16 hex digits of the hash) */
    char hash[65];      /* full hex SHA-256 of the secret */
    char name[65];      /* token name */
    enum api_role role; /* role */
    json_t *projects;   /* project-admin: array of ids (never modified) */
};

struct auth_cache {
    struct store *store;                      /* the store */
    pthread_mutex_t mutex;                    /* guards the members below */
    uint64_t rev;                             /* feed applied up to here */
    size_t n;                                 /* used slots */
    struct auth_entry slots[AUTH_CACHE_SIZE]; /* open addressing */
    uint64_t hits, misses;                    /* statistics */
};

struct auth_cache *
auth_cache_create(struct store *store)
{
    struct auth_cache *c = xcalloc(1, sizeof *c);

    c->store = store;
    c->rev = store_revision(store);
    pthread_mutex_init(&c->mutex, NULL);
    return c;
}

static void
auth_cache_flush(struct auth_cache *c)
{
    for (size_t i = 0; i < AUTH_CACHE_SIZE; i++) {
        json_decref(c->slots[i].projects);
        memset(&c->slots[i], 0, sizeof c->slots[i]);
    }
    c->n = 0;
}

void
auth_cache_destroy(struct auth_cache *c)
{
    if (c) {
        auth_cache_flush(c);
        pthread_mutex_destroy(&c->mutex);
        free(c);
    }
}

/* Home slot of a token id (hex digits, uniformly random). */
static size_t
auth_cache_slot(const char *id)
{
    size_t h = 0;

    for (int i = 0; i < 8; i++) {
        char c = id[i];
        h = h * 16 + (size_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return h & (AUTH_CACHE_SIZE - 1);
}

/* Returns the slot holding 'id', or NULL. */
static struct auth_entry *
auth_cache_find(struct auth_cache *c, const char *id)
{
    for (size_t i = auth_cache_slot(id), k = 0; k < AUTH_CACHE_SIZE;
         i = (i + 1) & (AUTH_CACHE_SIZE - 1), k++) {
        if (!c->slots[i].used) {
            return NULL;
        }
        if (!memcmp(c->slots[i].id, id, 16)) {
            return &c->slots[i];
        }
    }
    return NULL;
}

/* Removes 'e', re-inserting the rest of its probe run (backward shift is
 * not worth it at this size). */
static void
auth_cache_evict(struct auth_cache *c, struct auth_entry *e)
{
    size_t i = (size_t)(e - c->slots);

    json_decref(e->projects);
    memset(e, 0, sizeof *e);
    c->n--;
    for (i = (i + 1) & (AUTH_CACHE_SIZE - 1); c->slots[i].used;
         i = (i + 1) & (AUTH_CACHE_SIZE - 1)) {
        struct auth_entry moved = c->slots[i];
        size_t j = auth_cache_slot(moved.id);

        memset(&c->slots[i], 0, sizeof c->slots[i]);
        while (c->slots[j].used) {
            j = (j + 1) & (AUTH_CACHE_SIZE - 1);
        }
        c->slots[j] = moved;
    }
}

static void
auth_cache_insert(struct auth_cache *c, const struct auth_entry *e)
{
    size_t i;

    if (auth_cache_find(c, e->id)) {
        return;
    }
    if (c->n >= AUTH_CACHE_MAX) {
        auth_cache_flush(c);
    }
    for (i = auth_cache_slot(e->id); c->slots[i].used;
         i = (i + 1) & (AUTH_CACHE_SIZE - 1)) {
        continue;
    }
    c->slots[i] = *e;
    c->slots[i].used = true;
    c->slots[i].projects = json_incref(e->projects);
    c->n++;
}

/* Applies the token changes up to the head.  Called with the mutex held;
 * returns the revision the cache now reflects. */
static uint64_t
auth_cache_catch_up(struct auth_cache *c)
{
    uint64_t head = store_revision(c->store);

    while (c->rev < head) {
        struct store_event *evs;
        size_t n;
        uint64_t next;
        int error =
            store_changes(c->store, c->rev + 1, "t/", 256, &evs, &n, &next);
        if (error) {
            /* Compacted past us (or a read failed): start over empty. */
            auth_cache_flush(c);
            c->rev = head;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            struct auth_entry *e = strlen(evs[i].kv.key) == 18
                                       ? auth_cache_find(c, evs[i].kv.key + 2)
                                       : NULL;
            if (e) {
                auth_cache_evict(c, e);
            }
        }
        store_events_free(evs, n);
        c->rev = MIN(next - 1, head);
        if (!n) {
            c->rev = head;
        }
    }
    return c->rev;
}

/* Reads token 'id' from the store at revision 'rev' (0 = newest) into
 * 'e'.  False if it does not exist or is unreadable. */
static bool
auth_load(struct store *store, const char *id, uint64_t rev,
          struct auth_entry *e)
{
    char key[32];
    struct store_kv kv;
    const char *role, *name, *stored;
    json_t *rec;
    bool ok;

    snprintf(key, sizeof key, "t/%.16s", id);
    if (store_get(store, key, rev, &kv)) {
        return false;
    }
    rec = json_loadb(kv.value, kv.value_len, 0, NULL);
    store_kv_clear(&kv);
    ok = rec &&
         !json_unpack(rec, "{s:s, s:s, s:s}", "hash", &stored, "role", &role,
                      "name", &name) &&
         strlen(stored) == 64 && auth_role_from_string(role, &e->role);
    if (ok) {
        memset(e->id, 0, sizeof e->id);
        memcpy(e->id, id, 16);
        memcpy(e->hash, stored, 65);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->projects = json_incref(json_object_get(rec, "projects"));
    }
    json_decref(rec);
    return ok;
}

void
auth_cache_stats(struct auth_cache *c, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->mutex);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mutex);
}

enum api_err
auth_authenticate(struct store *store, struct auth_cache *cache,
                  const char *header, struct api_principal *p,
                  struct api_error *e)
{
    static const char bearer[] = "Bearer ";
    struct auth_entry ent, *hit;
    const char *secret;
    char hash[65];
    bool found;

    memset(p, 0, sizeof *p);
    if (!header || strncasecmp(header, bearer, strlen(bearer))) {
        return api_error_set(e, API_ERR_UNAUTHENTICATED, NULL,
                             "missing 'Authorization: Bearer <token>'");
    }
    secret = header + strlen(bearer);
    if (strlen(secret) != strlen(AUTH_PREFIX) + 64 ||
        strncmp(secret, AUTH_PREFIX, strlen(AUTH_PREFIX))) {
        return api_error_set(e, API_ERR_UNAUTHENTICATED, NULL,
                             "malformed token");
    }
    auth_hash(secret, hash);

    memset(&ent, 0, sizeof ent);
    if (cache) {
        uint64_t rev;

        pthread_mutex_lock(&cache->mutex);
        rev = auth_cache_catch_up(cache);
        hit = auth_cache_find(cache, hash);
        found = hit != NULL;
        if (found) {
            ent = *hit;
            ent.projects = json_incref(hit->projects);
            cache->hits++;
        } else {
            cache->misses++;
        }
        pthread_mutex_unlock(&cache->mutex);
        if (!found && auth_load(store, hash, rev, &ent)) {
            found = true;
            pthread_mutex_lock(&cache->mutex);
            if (cache->rev == rev) {
                auth_cache_insert(cache, &ent);
            }
            pthread_mutex_unlock(&cache->mutex);
        }
    } else {
        found = auth_load(store, hash, 0, &ent);
    }
    if (!found || CRYPTO_memcmp(ent.hash, hash, 64)) {
        json_decref(ent.projects);
        return api_error_set(e, API_ERR_UNAUTHENTICATED, NULL,
                             "unknown or revoked token");
    }
    memcpy(p->token_id, hash, 16);
    p->token_id[16] = '\0';
    memcpy(p->name, ent.name, sizeof p->name);
    p->role = ent.role;
    p->projects = ent.projects;
    return API_OK;
}

bool
api_principal_has_project(const struct api_principal *p, const char *project)
{
    size_t i;
    json_t *v;

    if (p->role != API_ROLE_PROJECT_ADMIN) {
        return true;
    }
    json_array_foreach(p->projects, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), project)) {
            return true;
        }
    }
    return false;
}

void
api_principal_clear(struct api_principal *p)
{
    json_decref(p->projects);
    memset(p, 0, sizeof *p);
}

static enum api_err
auth_deny(struct api_error *e, const struct api_principal *p)
{
    return api_error_set(e, API_ERR_FORBIDDEN, NULL,
                         "role '%s' may not do this", auth_role_name(p->role));
}

enum api_err
auth_authorize(const struct api_principal *p, enum api_method method,
               enum auth_resource res, const struct model_path *mp,
               struct api_error *e)
{
    bool read = method == API_GET;

    if (p->role == API_ROLE_ADMIN) {
        return API_OK;
    }
    if (p->role == API_ROLE_AUDITOR) {
        return read ? API_OK : auth_deny(e, p);
    }
    /* project-admin */
    switch (res) {
    case AUTH_WATCH:
    case AUTH_STATUS:
        return read ? API_OK : auth_deny(e, p);
    case AUTH_ROOT:
        return method == API_PATCH ? API_OK : auth_deny(e, p);
    case AUTH_AUDIT:
    case AUTH_TOKENS:
        return auth_deny(e, p);
    case AUTH_OBJECTS:
        break;
    }
    if (mp->types[0]->kind == MODEL_HOST ||
        mp->types[0]->kind == MODEL_SETTINGS) {
        return read ? API_OK : auth_deny(e, p); /* deployment-wide */
    }
    if (mp->depth == 1 && mp->collection) {
        return read ? API_OK : auth_deny(e, p); /* list is filtered */
    }
    if (!api_principal_has_project(p, mp->ids[0])) {
        return api_error_set(e, API_ERR_FORBIDDEN, NULL,
                             "token has no access to project '%s'", mp->ids[0]);
    }
    if (mp->depth == 1 && (method == API_PUT || method == API_DELETE)) {
        return auth_deny(e, p);
    }
    return API_OK;
}

json_t *
auth_list_tokens(struct store *store)
{
    json_t *list = json_array();
    struct store_kv *kvs;
    size_t n;

    if (!store_range(store, "t/", "t0", 0, 0, &kvs, &n, NULL)) {
        for (size_t i = 0; i < n; i++) {
            json_t *rec = json_loadb(kvs[i].value, kvs[i].value_len, 0, NULL);
            if (rec) {
                json_object_del(rec, "hash");
                json_object_set_new(rec, "id", json_string(kvs[i].key + 2));
                json_array_append_new(list, rec);
            }
        }
        store_kvs_free(kvs, n);
    }
    return list;
}
