/* Audit log entries in the store (see api-audit.h). */
#include "api/api-audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

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
