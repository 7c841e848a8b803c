/* Control-plane endpoints of the API (api-cp.h). */
#include "api/api-cp.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "api/api-audit.h"
#include "controller/controller.h"
#include "store/store.h"

#define TTL_MIN_S     60
#define TTL_MAX_S     604800
#define TTL_DEFAULT_S 3600

static void
cp_hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    }
}

struct join_txn {
    const struct api_principal *who;
    const char *host;     /* host id */
    char id[17];          /* token id */
    char secret[33];      /* token secret */
    int64_t expires_ms;   /* expiry */
    struct api_error err; /* set on failure */
};

static int
join_txn_fn(struct store_txn *txn, void *aux)
{
    struct join_txn *j = aux;
    char key[MODEL_KEY_MAX], path[MODEL_KEY_MAX], hash_hex[65], *value;
    unsigned char md[32];
    unsigned int n = 0;
    struct store_kv kv;
    int error;

    snprintf(key, sizeof key, "o1/hosts/%s", j->host);
    if (store_txn_get(txn, key, &kv)) {
        api_error_set(&j->err, API_ERR_NOT_FOUND, NULL, "no host '%s'",
                      j->host);
        return ENOENT;
    }
    store_kv_clear(&kv);
    EVP_Digest(j->secret, strlen(j->secret), md, &n, EVP_sha256(), NULL);
    cp_hex(md, 32, hash_hex);
    json_t *v =
        json_pack("{s:s, s:s, s:I, s:I}", "host", j->host, "secret_sha256",
                  hash_hex, "expires_ms", (json_int_t)j->expires_ms,
                  "created_ms", (json_int_t)api_now_ms());
    value = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    snprintf(key, sizeof key, "j/%s", j->id);
    error = store_txn_put(txn, key, value, strlen(value));
    free(value);
    if (!error) {
        api_fmt(path, sizeof path, "%s/hosts/%s/join-token", MODEL_API_PREFIX,
                j->host);
        error = audit_txn_record(txn, j->who, "POST", path);
    }
    return error;
}

void
cp_join_token(struct api_ctx *ctx, const struct model_path *mp, json_t *body,
              const struct api_principal *who, struct api_reply *r)
{
    struct join_txn j = {.who = who, .host = mp->ids[0]};
    unsigned char rnd[24];
    json_int_t ttl = TTL_DEFAULT_S;
    char token[160];
    uint64_t rev;
    int error;

    if (!ctx->controller) {
        api_error_set(&j.err, API_ERR_UNAVAILABLE, NULL,
                      "the controller is not running");
        api_reply_error(r, &j.err);
        return;
    }
    if (body && !json_is_object(body)) {
        api_error_set(&j.err, API_ERR_NOT_AN_OBJECT, NULL, NULL);
        api_reply_error(r, &j.err);
        return;
    }
    if (body) {
        const char *k;
        json_t *v;
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "ttl_s")) {
                api_error_set(&j.err, API_ERR_UNKNOWN_FIELD, k,
                              "unknown field '%s'", k);
                api_reply_error(r, &j.err);
                return;
            }
            if (!json_is_integer(v)) {
                api_error_set(&j.err, API_ERR_WRONG_TYPE, "ttl_s",
                              "'ttl_s' must be an integer");
                api_reply_error(r, &j.err);
                return;
            }
            ttl = json_integer_value(v);
            if (ttl < TTL_MIN_S || ttl > TTL_MAX_S) {
                api_error_set(&j.err, API_ERR_OUT_OF_RANGE, "ttl_s",
                              "'ttl_s' must be in %d..%d", TTL_MIN_S,
                              TTL_MAX_S);
                api_reply_error(r, &j.err);
                return;
            }
        }
    }
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        api_error_set(&j.err, API_ERR_INTERNAL, NULL, "no randomness");
        api_reply_error(r, &j.err);
        return;
    }
    cp_hex(rnd, 8, j.id);
    cp_hex(rnd + 8, 16, j.secret);
    j.expires_ms = api_now_ms() + ttl * 1000;
    error = store_txn_run(ctx->store, join_txn_fn, &j, &rev);
    if (error) {
        if (!j.err.code) {
            api_error_set(&j.err, API_ERR_UNAVAILABLE, NULL, "store error: %s",
                          strerror(error));
        }
        api_reply_error(r, &j.err);
        return;
    }
    snprintf(token, sizeof token, "wft1.%s.%s.%s",
             controller_ca_fingerprint(ctx->controller), j.id, j.secret);
    r->status = 201;
    r->revision = rev;
    r->body = json_pack("{s:s, s:s, s:I, s:s}", "token", token, "host", j.host,
                        "expires_ms", (json_int_t)j.expires_ms, "ca_sha256",
                        controller_ca_fingerprint(ctx->controller));
}

struct revoke_txn {
    const struct api_principal *who;
    const char *host;
    struct api_error err;
};

static int
revoke_txn_fn(struct store_txn *txn, void *aux)
{
    struct revoke_txn *t = aux;
    char key[MODEL_KEY_MAX], path[MODEL_KEY_MAX];
    struct store_kv kv;
    int error;

    snprintf(key, sizeof key, "o1/hosts/%s", t->host);
    if (store_txn_get(txn, key, &kv)) {
        api_error_set(&t->err, API_ERR_NOT_FOUND, NULL, "no host '%s'",
                      t->host);
        return ENOENT;
    }
    store_kv_clear(&kv);
    snprintf(key, sizeof key, "c/%s", t->host);
    error = store_txn_delete(txn, key);
    if (error == ENOENT) {
        api_error_set(&t->err, API_ERR_NOT_FOUND, NULL,
                      "host '%s' has no certificate to revoke", t->host);
        return error;
    }
    if (!error) {
        api_fmt(path, sizeof path, "%s/hosts/%s/revoke", MODEL_API_PREFIX,
                t->host);
        error = audit_txn_record(txn, t->who, "POST", path);
    }
    return error;
}

void
cp_revoke(struct api_ctx *ctx, const struct model_path *mp,
          const struct api_principal *who, struct api_reply *r)
{
    struct revoke_txn t = {.who = who, .host = mp->ids[0]};
    uint64_t rev;
    int error = store_txn_run(ctx->store, revoke_txn_fn, &t, &rev);

    if (error) {
        if (!t.err.code) {
            api_error_set(&t.err, API_ERR_UNAVAILABLE, NULL, "store error: %s",
                          strerror(error));
        }
        api_reply_error(r, &t.err);
        return;
    }
    r->status = 200;
    r->revision = rev;
    r->body = json_pack("{s:s, s:b, s:I}", "host", t.host, "revoked", 1,
                        "_revision", (json_int_t)rev);
}

void
cp_state(struct api_ctx *ctx, const struct model_path *mp, struct api_reply *r)
{
    char key[MODEL_KEY_MAX], path[MODEL_KEY_MAX];
    struct api_error e = {0};
    struct store_kv kv;
    json_t *j;

    if (!ctx->controller) {
        api_error_set(&e, API_ERR_UNAVAILABLE, NULL,
                      "the controller is not running");
        api_reply_error(r, &e);
        return;
    }
    model_key(mp, mp->depth, key);
    if (store_get(ctx->store, key, 0, &kv)) {
        model_api_path(mp, mp->depth, path);
        api_error_set(&e, API_ERR_NOT_FOUND, NULL, "no object at %s", path);
        api_reply_error(r, &e);
        return;
    }
    store_kv_clear(&kv);
    model_api_path(mp, mp->depth, path);
    if (mp->types[0]->kind == MODEL_HOST) {
        j = controller_host_state(ctx->controller, mp->ids[0]);
        if (!j) {
            j = json_pack("{s:s, s:b, s:b, s:s, s:I, s:[]}", "host", mp->ids[0],
                          "connected", 0, "enrolled", 0, "state", "success",
                          "realized_revision", (json_int_t)0, "failures");
        }
    } else {
        j = controller_object_state(ctx->controller,
                                    path + strlen(MODEL_API_PREFIX));
        if (!j) {
            /* Known to the store but not yet to the controller. */
            j = json_pack("{s:s, s:I, s:b, s:[]}", "state", "pending",
                          "revision", (json_int_t)0, "realized_anywhere", 0,
                          "hosts");
        }
    }
    json_object_set_new(j, "path", json_string(path));
    r->status = 200;
    r->body = j;
    r->revision = store_revision(ctx->store);
}

void
cp_firewall_read(struct api_ctx *ctx, const struct model_path *mp, bool stats,
                 struct api_reply *r)
{
    char key[MODEL_KEY_MAX], path[MODEL_KEY_MAX];
    struct api_error e = {0};
    struct store_kv kv;
    json_t *j;

    if (!ctx->controller) {
        api_error_set(&e, API_ERR_UNAVAILABLE, NULL,
                      "the controller is not running");
        api_reply_error(r, &e);
        return;
    }
    model_key(mp, mp->depth, key);
    model_api_path(mp, mp->depth, path);
    if (store_get(ctx->store, key, 0, &kv)) {
        api_error_set(&e, API_ERR_NOT_FOUND, NULL, "no object at %s", path);
        api_reply_error(r, &e);
        return;
    }
    store_kv_clear(&kv);
    j = stats ? controller_rule_stats(ctx->controller,
                                      path + strlen(MODEL_API_PREFIX))
              : controller_group_members(ctx->controller,
                                         path + strlen(MODEL_API_PREFIX));
    if (!j) {
        /* In the store, not yet processed by the controller. */
        j = stats ? json_pack("{s:I, s:I, s:I, s:[]}", "packets", (json_int_t)0,
                              "bytes", (json_int_t)0, "sessions", (json_int_t)0,
                              "hosts")
                  : json_pack("{s:[], s:[], s:I}", "ports", "ip_addresses",
                              "port_count", (json_int_t)0);
    }
    json_object_set_new(j, "path", json_string(path));
    r->status = 200;
    r->body = j;
    r->revision = store_revision(ctx->store);
}

void
cp_realization(struct api_ctx *ctx, uint64_t revision, struct api_reply *r)
{
    struct api_error e = {0};

    if (!ctx->controller) {
        api_error_set(&e, API_ERR_UNAVAILABLE, NULL,
                      "the controller is not running");
        api_reply_error(r, &e);
        return;
    }
    r->status = 200;
    r->body = controller_realization(ctx->controller, revision);
    r->revision = store_revision(ctx->store);
}
