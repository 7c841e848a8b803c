/* Memory backend of the store (store-provider.h): a deliberately naive
 * test double.  Every version of every key sits in one array in commit
 * order and every query is a linear scan, so it is obviously correct and
 * serves as the reference the SQLite backend is checked against in
 * randomized tests.  Nothing survives store_close().
 *
 * Writes only append (or modify rows of the running transaction, which
 * all lie past the savepoint), so a savepoint is an array length and
 * rollback is truncation. */
#include "store/store-provider.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* One version of one key. */
struct mem_row {
    char *key;           /* key */
    uint64_t rev;        /* version */
    uint64_t create_rev; /* creating revision */
    char *value;         /* value, NULL for a delete marker */
    size_t len;          /* bytes in 'value' */
};

struct store_backend {
    pthread_rwlock_t lock; /* readers vs. the committer */
    struct mem_row *rows;  /* every version, in write order */
    size_t n, cap;         /* used and allocated 'rows' */
    size_t batch_mark;     /* 'n' at batch_begin() */
    size_t txn_mark;       /* 'n' at txn_begin() */
};

static int
mem_open(const char *arg, struct store_backend **bep,
         struct store_backend_state *state)
{
    struct store_backend *be = xcalloc(1, sizeof *be);

    (void)arg;
    pthread_rwlock_init(&be->lock, NULL);
    state->head = state->compacted = 0;
    *bep = be;
    return 0;
}

static void
mem_truncate(struct store_backend *be, size_t n)
{
    while (be->n > n) {
        struct mem_row *r = &be->rows[--be->n];
        free(r->key);
        free(r->value);
    }
}

static void
mem_close(struct store_backend *be)
{
    if (be) {
        mem_truncate(be, 0);
        free(be->rows);
        pthread_rwlock_destroy(&be->lock);
        free(be);
    }
}

static int
mem_batch_begin(struct store_backend *be)
{
    be->batch_mark = be->n;
    return 0;
}

static int
mem_batch_commit(struct store_backend *be, uint64_t head)
{
    (void)be;
    (void)head;
    return 0;
}

static void
mem_batch_abort(struct store_backend *be)
{
    pthread_rwlock_wrlock(&be->lock);
    mem_truncate(be, be->batch_mark);
    pthread_rwlock_unlock(&be->lock);
}

static int
mem_txn_begin(struct store_backend *be)
{
    be->txn_mark = be->n;
    return 0;
}

static int
mem_txn_end(struct store_backend *be, bool commit)
{
    if (!commit) {
        pthread_rwlock_wrlock(&be->lock);
        mem_truncate(be, be->txn_mark);
        pthread_rwlock_unlock(&be->lock);
    }
    return 0;
}

/* Index of the newest row of 'key' with rev <= 'rev' (and, if
 * 'below_mark', index < 'mark'), or -1. */
static ssize_t
mem_find(const struct store_backend *be, const char *key, uint64_t rev,
         size_t limit_n)
{
    ssize_t best = -1;

    for (size_t i = 0; i < limit_n; i++) {
        const struct mem_row *r = &be->rows[i];
        if (r->rev <= rev && !strcmp(r->key, key) &&
            (best < 0 || r->rev >= be->rows[best].rev)) {
            best = (ssize_t)i;
        }
    }
    return best;
}

static void
mem_fill(const struct mem_row *r, struct store_kv *kv)
{
    kv->key = xstrdup(r->key);
    kv->mod_rev = r->rev;
    kv->create_rev = r->create_rev;
    kv->value_len = r->len;
    kv->value = xmalloc(r->len + 1);
    memcpy(kv->value, r->value, r->len);
    kv->value[r->len] = '\0';
}

static int
mem_get_locked(struct store_backend *be, const char *key, uint64_t rev,
               struct store_kv *kv)
{
    ssize_t i = mem_find(be, key, rev, be->n);

    memset(kv, 0, sizeof *kv);
    if (i < 0 || !be->rows[i].value) {
        return ENOENT;
    }
    mem_fill(&be->rows[i], kv);
    return 0;
}

static int
mem_cmp_kv(const void *a_, const void *b_)
{
    const struct store_kv *a = a_, *b = b_;
    return strcmp(a->key, b->key);
}

static int
mem_range_locked(struct store_backend *be, const char *start, const char *end,
                 uint64_t rev, size_t limit, struct store_kv **kvs, size_t *n)
{
    size_t cap = 0;

    *kvs = NULL;
    *n = 0;
    for (size_t i = 0; i < be->n; i++) {
        const struct mem_row *r = &be->rows[i];
        if (strcmp(r->key, start ? start : "") < 0 ||
            (end && strcmp(r->key, end) >= 0) ||
            mem_find(be, r->key, rev, be->n) != (ssize_t)i || !r->value) {
            continue;
        }
        mem_fill(r, store_kv_append(kvs, n, &cap));
    }
    if (*n) {
        qsort(*kvs, *n, sizeof **kvs, mem_cmp_kv);
    }
    while (limit && *n > limit) {
        store_kv_clear(&(*kvs)[--*n]);
    }
    return 0;
}

static int
mem_txn_get(struct store_backend *be, const char *key, struct store_kv *kv)
{
    return mem_get_locked(be, key, UINT64_MAX, kv);
}

static int
mem_txn_range(struct store_backend *be, const char *start, const char *end,
              size_t limit, struct store_kv **kvs, size_t *n)
{
    return mem_range_locked(be, start, end, UINT64_MAX, limit, kvs, n);
}

static int
mem_txn_write(struct store_backend *be, uint64_t rev, const char *key,
              const void *value, size_t len)
{
    ssize_t before = mem_find(be, key, rev - 1, be->n);
    ssize_t now = mem_find(be, key, rev, be->n);
    bool existed_before = before >= 0 && be->rows[before].value;
    struct mem_row *r;

    if (!value && (now < 0 || !be->rows[now].value)) {
        return ENOENT;
    }
    pthread_rwlock_wrlock(&be->lock);
    if (now >= 0 && be->rows[now].rev == rev) {
        /* Rewritten in this transaction: drop the earlier write. */
        r = &be->rows[now];
        free(r->key);
        free(r->value);
        memmove(r, r + 1, (be->n - (size_t)now - 1) * sizeof *r);
        be->n--;
    }
    if (value || existed_before) {
        if (be->n >= be->cap) {
            be->cap = be->cap ? 2 * be->cap : 64;
            be->rows = xrealloc(be->rows, be->cap * sizeof *be->rows);
        }
        r = &be->rows[be->n++];
        r->key = xstrdup(key);
        r->rev = rev;
        r->create_rev = existed_before ? be->rows[before].create_rev : rev;
        r->len = value ? len : 0;
        r->value = NULL;
        if (value) {
            r->value = xmalloc(len + 1);
            memcpy(r->value, value, len);
        }
    }
    pthread_rwlock_unlock(&be->lock);
    return 0;
}

static int
mem_compact(struct store_backend *be, uint64_t from, uint64_t to)
{
    bool *drop = xcalloc(be->n, sizeof *drop);
    size_t j = 0;

    (void)from;
    /* Decide first, then move: mem_find() needs the array intact. */
    for (size_t i = 0; i < be->n; i++) {
        const struct mem_row *r = &be->rows[i];
        drop[i] = r->rev <= to &&
                  (mem_find(be, r->key, to, be->n) != (ssize_t)i || !r->value);
    }
    pthread_rwlock_wrlock(&be->lock);
    for (size_t i = 0; i < be->n; i++) {
        if (drop[i]) {
            free(be->rows[i].key);
            free(be->rows[i].value);
        } else {
            be->rows[j++] = be->rows[i];
        }
    }
    be->n = j;
    pthread_rwlock_unlock(&be->lock);
    free(drop);
    return 0;
}

static int
mem_get(struct store_backend *be, const char *key, uint64_t rev,
        struct store_kv *kv)
{
    pthread_rwlock_rdlock(&be->lock);
    int error = mem_get_locked(be, key, rev, kv);
    pthread_rwlock_unlock(&be->lock);
    return error;
}

static int
mem_range(struct store_backend *be, const char *start, const char *end,
          uint64_t rev, size_t limit, struct store_kv **kvs, size_t *n)
{
    pthread_rwlock_rdlock(&be->lock);
    int error = mem_range_locked(be, start, end, rev, limit, kvs, n);
    pthread_rwlock_unlock(&be->lock);
    return error;
}

static int
mem_cmp_event(const void *a_, const void *b_)
{
    const struct store_event *a = a_, *b = b_;
    if (a->kv.mod_rev != b->kv.mod_rev) {
        return a->kv.mod_rev < b->kv.mod_rev ? -1 : 1;
    }
    return strcmp(a->kv.key, b->kv.key);
}

static int
mem_changes(struct store_backend *be, uint64_t from, uint64_t to,
            const char *start, const char *end, size_t max,
            struct store_event **events, size_t *n)
{
    size_t cap = 0, keep;

    *events = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&be->lock);
    for (size_t i = 0; i < be->n; i++) {
        const struct mem_row *r = &be->rows[i];
        struct store_event *ev;
        if (r->rev < from || r->rev > to || strcmp(r->key, start) < 0 ||
            (end && strcmp(r->key, end) >= 0)) {
            continue;
        }
        ev = store_event_append(events, n, &cap);
        ev->type = r->value ? STORE_PUT : STORE_DELETE;
        if (r->value) {
            mem_fill(r, &ev->kv);
        } else {
            ev->kv.key = xstrdup(r->key);
            ev->kv.mod_rev = r->rev;
            ev->kv.create_rev = r->create_rev;
        }
    }
    pthread_rwlock_unlock(&be->lock);
    if (*n) {
        qsort(*events, *n, sizeof **events, mem_cmp_event);
    }
    /* Keep whole revisions once 'max' events are reached. */
    for (keep = 0; keep < *n; keep++) {
        if (keep >= max &&
            (*events)[keep].kv.mod_rev != (*events)[keep - 1].kv.mod_rev) {
            break;
        }
    }
    while (*n > keep) {
        store_kv_clear(&(*events)[--*n].kv);
    }
    return 0;
}

static void
mem_stats(struct store_backend *be, struct store_stats *stats)
{
    (void)be;
    stats->disk_bytes = 0;
}

const struct store_class store_mem_class = {
    .scheme = "mem",
    .open = mem_open,
    .close = mem_close,
    .batch_begin = mem_batch_begin,
    .batch_commit = mem_batch_commit,
    .batch_abort = mem_batch_abort,
    .txn_begin = mem_txn_begin,
    .txn_end = mem_txn_end,
    .txn_get = mem_txn_get,
    .txn_range = mem_txn_range,
    .txn_write = mem_txn_write,
    .compact = mem_compact,
    .get = mem_get,
    .range = mem_range,
    .changes = mem_changes,
    .stats = mem_stats,
};
