/* Audit log entries in the store (see api-audit.h). */
#include "api/api-audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static int64_t audit_max_age_ms = (int64_t)AUDIT_DEFAULT_DAYS * 86400 * 1000;

void
audit_set_max_age_ms(int64_t max_age_ms)
{
    audit_max_age_ms = max_age_ms > 0 ? max_age_ms : 0;
}

int
audit_txn_prune(struct store_txn *txn, int64_t cutoff_ms)
{
    struct store_kv *kvs;
    int deleted = 0, error;
    size_t n;

    error = store_txn_range(txn, "a/", "a0", AUDIT_PRUNE_BATCH, &kvs, &n);
    if (error) {
        return -error;
    }
    for (size_t i = 0; i < n && !error; i++) {
        json_t *rec = json_loadb(kvs[i].value, kvs[i].value_len, 0, NULL);
        json_t *t = json_object_get(rec, "time");
        /* An entry without a readable time was not written by us: old. */
        bool old = !json_is_integer(t) || json_integer_value(t) < cutoff_ms;
        json_decref(rec);
        if (!old) {
            break;
        }
        error = store_txn_delete(txn, kvs[i].key);
        deleted += !error;
    }
    store_kvs_free(kvs, n);
    return error ? -error : deleted;
}

int
audit_txn_record(struct store_txn *txn, const struct api_principal *who,
                 const char *method, const char *path)
{
    uint64_t rev = store_txn_revision(txn);
    char key[32], *text;
    json_t *rec;
    int error;

    snprintf(key, sizeof key, "a/%016" PRIu64, rev);
    rec =
        json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "revision", (json_int_t)rev,
                  "time", (json_int_t)api_now_ms(), "token", who->token_id,
                  "user", who->name, "method", method, "path", path);
    if (!rec) {
        return EINVAL;
    }
    text = json_dumps(rec, JSON_COMPACT);
    error = store_txn_put(txn, key, text, strlen(text));
    free(text);
    json_decref(rec);
    if (!error && audit_max_age_ms) {
        int r = audit_txn_prune(txn, api_now_ms() - audit_max_age_ms);
        error = r < 0 ? -r : 0;
    }
    return error;
}

json_t *
audit_list(struct store *store, uint64_t from, size_t limit, uint64_t *next)
{
    json_t *list = json_array();
    struct store_kv *kvs;
    char start[32];
    size_t n;

    *next = from;
    snprintf(start, sizeof start, "a/%016" PRIu64, from);
    if (!store_range(store, start, "a0", 0, limit, &kvs, &n, NULL)) {
        for (size_t i = 0; i < n; i++) {
            json_t *rec = json_loadb(kvs[i].value, kvs[i].value_len, 0, NULL);
            if (rec) {
                json_array_append_new(list, rec);
            }
            *next = strtoull(kvs[i].key + 2, NULL, 10) + 1;
        }
        store_kvs_free(kvs, n);
    }
    return list;
}
