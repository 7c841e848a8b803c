/* Bearer tokens and role checks (see api-auth.h). */
#include "api/api-auth.h"

#include <errno.h>
#include <fcntl.h>
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

/* Hex SHA-256 of 'secret' (65 bytes). */
static void
auth_hash(const char *secret, char *hex)
{
    uint8_t md[32];
    unsigned int len = sizeof md;

    EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL);
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

enum api_err
auth_authenticate(struct store *store, const char *header,
                  struct api_principal *p, struct api_error *e)
{
    static const char bearer[] = "Bearer ";
    char hash[65], key[32];
    struct store_kv kv;
    json_t *rec;
    const char *secret, *role, *name, *stored;

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
    snprintf(key, sizeof key, "t/%.16s", hash);
    if (store_get(store, key, 0, &kv)) {
        return api_error_set(e, API_ERR_UNAUTHENTICATED, NULL,
                             "unknown or revoked token");
    }
    rec = json_loadb(kv.value, kv.value_len, 0, NULL);
    store_kv_clear(&kv);
    if (!rec ||
        json_unpack(rec, "{s:s, s:s, s:s}", "hash", &stored, "role", &role,
                    "name", &name) ||
        strlen(stored) != 64 || CRYPTO_memcmp(stored, hash, 64) ||
        !auth_role_from_string(role, &p->role)) {
        json_decref(rec);
        return api_error_set(e, API_ERR_UNAUTHENTICATED, NULL,
                             "unknown or revoked token");
    }
    snprintf(p->token_id, sizeof p->token_id, "%.16s", hash);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->projects = json_incref(json_object_get(rec, "projects"));
    json_decref(rec);
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
    if (mp->types[0]->kind == MODEL_HOST) {
        return read ? API_OK : auth_deny(e, p);
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
