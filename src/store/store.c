/* Backend-independent half of the store (see store.h, store-provider.h):
 * the transaction queue, the committer thread with group commit, revision
 * numbering, waiting and notification, and automatic compaction.
 *
 * Group commit: writers queue transactions; the committer takes everything
 * queued (up to max_batch), runs each callback inside its own savepoint of
 * one backend transaction, commits that once (one sync), and only then
 * reports every transaction's result.  Concurrent writers therefore share
 * one sync while each keeps its own revision and all-or-nothing effect.
 *
 * Read cache: store_get() answers from a direct-mapped cache of recently
 * read newest versions when it can (the API's GET path is mostly this).
 * An entry is a version read at the revision 'cache_rev' had then; the
 * committer clears the slot of every key a batch wrote and then advances
 * 'cache_rev', before it publishes the new head.  So an entry present is
 * the key's value for every revision in [entry mod_rev, cache_rev], and a
 * reader inserts what it read at revision R only while 'cache_rev' is
 * still R.  Bounded: CACHE_SLOTS entries of at most CACHE_MAX_VALUE bytes.
 *
 * Locking: 'mutex' guards the queue, 'head', 'compacted', 'closing' and
 * the subscriber list; 'cond' signals a new queue item, 'head_cond' a new
 * head.  'cache_mutex' guards the cache and 'cache_rev'.  The backend is
 * touched by the committer without the mutex. */
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/hash.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store-provider.h"

#define STORE_DEFAULT_BATCH   512
#define STORE_MAX_SUBSCRIBERS 8
/* Revisions compacted per automatic compaction step, so one step never
 * holds the committer for long. */
#define STORE_COMPACT_STEP 2000

/* Read cache geometry (see above). */
#define CACHE_SLOTS     16384 /* a power of 2 */
#define CACHE_MAX_VALUE 2048  /* larger values are not cached */

/* A cached newest version; 'kv.key' NULL if the slot is empty. */
struct store_cache_slot {
    struct store_kv kv; /* owned copy */
};

/* A queued transaction. */
struct store_req {
    struct store_req *next; /* queue link */
    store_txn_fn *fn;       /* callback, NULL for a compaction request */
    void *fn_aux;           /* its argument */
    store_done_fn *done;    /* completion callback */
    void *done_aux;         /* its argument */
    uint64_t compact_to;    /* compaction target when 'fn' is NULL */
    int error;              /* result, set by the committer */
    uint64_t rev;           /* commit revision, set by the committer */
};

/* The txn handle passed to callbacks; lives on the committer's stack. */
struct store_txn {
    struct store *store; /* owning store */
    uint64_t rev;        /* revision this txn commits as */
    bool wrote;          /* made at least one write */
};

struct store_sub {
    store_notify_fn *cb; /* callback */
    void *aux;           /* its argument */
};

struct store {
    const struct store_class *class; /* backend class */
    struct store_backend *be;        /* backend state */
    struct store_options opts;       /* options, defaults applied */
    pthread_t committer;             /* committer thread */

    pthread_mutex_t notify_mutex; /* held while calling subscribers */
    pthread_mutex_t mutex;        /* guards the members below */
    pthread_cond_t cond;          /* queue non-empty or closing */
    pthread_cond_t head_cond;     /* 'head' advanced */
    struct store_req *head_req;   /* queue head */
    struct store_req **tail;      /* where to link the next request */
    bool closing;                 /* store_close() called */
    uint64_t head;                /* newest durable revision */
    uint64_t compacted;           /* compacted revision */
    uint64_t commits;             /* txns that changed something */
    uint64_t syncs;               /* backend commits */
    struct store_sub subs[STORE_MAX_SUBSCRIBERS]; /* subscribers */
    size_t n_subs;                                /* used 'subs' */

    pthread_mutex_t cache_mutex;    /* guards the cache members */
    uint64_t cache_rev;             /* revision the cache reflects */
    struct store_cache_slot *cache; /* CACHE_SLOTS slots */
    uint64_t cache_hits;            /* store_get() answered from it */
    uint32_t *dirty;                /* committer: slots written in batch */
    size_t n_dirty, dirty_cap;      /* used and allocated 'dirty' */
};

static uint32_t
store_cache_index(const char *key)
{
    return hash_bytes(key, strlen(key), 0) & (CACHE_SLOTS - 1);
}

/* Copies the cached version of 'key' valid at 'rev' into 'kv'. */
static bool
store_cache_get(struct store *store, const char *key, uint64_t rev,
                struct store_kv *kv)
{
    struct store_cache_slot *slot = &store->cache[store_cache_index(key)];
    bool hit = false;

    pthread_mutex_lock(&store->cache_mutex);
    if (slot->kv.key && slot->kv.mod_rev <= rev && rev <= store->cache_rev &&
        !strcmp(slot->kv.key, key)) {
        kv->key = xstrdup(key);
        kv->value = xmalloc(slot->kv.value_len + 1);
        memcpy(kv->value, slot->kv.value, slot->kv.value_len + 1);
        kv->value_len = slot->kv.value_len;
        kv->create_rev = slot->kv.create_rev;
        kv->mod_rev = slot->kv.mod_rev;
        store->cache_hits++;
        hit = true;
    }
    pthread_mutex_unlock(&store->cache_mutex);
    return hit;
}

/* Caches 'kv', read at revision 'rev', if no commit came in between. */
static void
store_cache_put(struct store *store, uint64_t rev, const struct store_kv *kv)
{
    struct store_cache_slot *slot = &store->cache[store_cache_index(kv->key)];
    struct store_kv old = {0};

    if (kv->value_len > CACHE_MAX_VALUE) {
        return;
    }
    pthread_mutex_lock(&store->cache_mutex);
    if (rev == store->cache_rev) {
        old = slot->kv;
        slot->kv.key = xstrdup(kv->key);
        slot->kv.value = xmalloc(kv->value_len + 1);
        memcpy(slot->kv.value, kv->value, kv->value_len + 1);
        slot->kv.value_len = kv->value_len;
        slot->kv.create_rev = kv->create_rev;
        slot->kv.mod_rev = kv->mod_rev;
    }
    pthread_mutex_unlock(&store->cache_mutex);
    store_kv_clear(&old);
}

/* Committer: remembers that the batch in progress wrote 'key'. */
static void
store_cache_note_write(struct store *store, const char *key)
{
    if (store->n_dirty >= store->dirty_cap) {
        if (store->dirty_cap >= CACHE_SLOTS) {
            return; /* the whole cache goes anyway */
        }
        store->dirty_cap = store->dirty_cap ? 2 * store->dirty_cap : 64;
        store->dirty =
            xrealloc(store->dirty, store->dirty_cap * sizeof *store->dirty);
    }
    store->dirty[store->n_dirty++] = store_cache_index(key);
}

/* Committer, after a durable commit of revisions up to 'head' and before
 * publishing it: drops what the batch wrote and moves the cache on. */
static void
store_cache_commit(struct store *store, uint64_t head)
{
    bool all =
        store->n_dirty >= store->dirty_cap && store->dirty_cap >= CACHE_SLOTS;

    pthread_mutex_lock(&store->cache_mutex);
    for (size_t i = 0; i < (all ? (size_t)CACHE_SLOTS : store->n_dirty); i++) {
        store_kv_clear(&store->cache[all ? i : store->dirty[i]].kv);
    }
    store->cache_rev = head;
    pthread_mutex_unlock(&store->cache_mutex);
    store->n_dirty = 0;
}

static void *store_committer_main(void *);

int
store_open(const char *url, const struct store_options *opts,
           struct store **storep)
{
    static const struct store_class *const classes[] = {
        &store_sqlite_class,
        &store_mem_class,
    };
    const struct store_class *class = NULL;
    const char *colon = strchr(url, ':');
    struct store_backend_state state = {0, 0};
    struct store *store;
    int error;

    *storep = NULL;
    if (!colon) {
        return EINVAL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        size_t len = strlen(classes[i]->scheme);
        if (len == (size_t)(colon - url) &&
            !memcmp(url, classes[i]->scheme, len)) {
            class = classes[i];
        }
    }
    if (!class) {
        return EPROTONOSUPPORT;
    }

    store = xcalloc(1, sizeof *store);
    store->class = class;
    if (opts) {
        store->opts = *opts;
    }
    if (!store->opts.max_batch) {
        store->opts.max_batch = STORE_DEFAULT_BATCH;
    }
    error = class->open(colon + 1, &store->be, &state);
    if (error) {
        free(store);
        return error;
    }
    store->head = state.head;
    store->compacted = state.compacted;
    store->cache_rev = state.head;
    store->cache = xcalloc(CACHE_SLOTS, sizeof *store->cache);
    pthread_mutex_init(&store->cache_mutex, NULL);
    store->tail = &store->head_req;
    pthread_mutex_init(&store->mutex, NULL);
    pthread_mutex_init(&store->notify_mutex, NULL);
    pthread_cond_init(&store->cond, NULL);
    pthread_cond_init(&store->head_cond, NULL);
    error =
        pthread_create(&store->committer, NULL, store_committer_main, store);
    if (error) {
        class->close(store->be);
        pthread_mutex_destroy(&store->cache_mutex);
        free(store->cache);
        free(store);
        return error;
    }
    *storep = store;
    return 0;
}

void
store_close(struct store *store)
{
    if (!store) {
        return;
    }
    pthread_mutex_lock(&store->mutex);
    store->closing = true;
    pthread_cond_broadcast(&store->cond);
    pthread_cond_broadcast(&store->head_cond);
    pthread_mutex_unlock(&store->mutex);
    pthread_join(store->committer, NULL);
    store->class->close(store->be);
    pthread_mutex_destroy(&store->mutex);
    pthread_mutex_destroy(&store->notify_mutex);
    pthread_cond_destroy(&store->cond);
    pthread_cond_destroy(&store->head_cond);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        store_kv_clear(&store->cache[i].kv);
    }
    pthread_mutex_destroy(&store->cache_mutex);
    free(store->cache);
    free(store->dirty);
    free(store);
}

uint64_t
store_revision(struct store *store)
{
    pthread_mutex_lock(&store->mutex);
    uint64_t head = store->head;
    pthread_mutex_unlock(&store->mutex);
    return head;
}

uint64_t
store_compacted(struct store *store)
{
    pthread_mutex_lock(&store->mutex);
    uint64_t compacted = store->compacted;
    pthread_mutex_unlock(&store->mutex);
    return compacted;
}

/* Resolves 'rev' (0 = head) and checks it is readable. */
static int
store_resolve_rev(struct store *store, uint64_t *rev)
{
    int error = 0;

    pthread_mutex_lock(&store->mutex);
    if (!*rev) {
        *rev = store->head;
    } else if (*rev > store->head ||
               (*rev < store->compacted && store->compacted)) {
        error = ERANGE;
    }
    pthread_mutex_unlock(&store->mutex);
    return error;
}

int
store_get(struct store *store, const char *key, uint64_t rev,
          struct store_kv *kv)
{
    int error = store_resolve_rev(store, &rev);

    memset(kv, 0, sizeof *kv);
    if (error) {
        return error;
    }
    if (!rev) {
        return ENOENT;
    }
    if (store_cache_get(store, key, rev, kv)) {
        return 0;
    }
    error = store->class->get(store->be, key, rev, kv);
    if (!error) {
        store_cache_put(store, rev, kv);
    }
    return error;
}

int
store_range(struct store *store, const char *start, const char *end,
            uint64_t rev, size_t limit, struct store_kv **kvs, size_t *n,
            uint64_t *read_rev)
{
    int error = store_resolve_rev(store, &rev);

    *kvs = NULL;
    *n = 0;
    if (read_rev) {
        *read_rev = rev;
    }
    if (error || !rev) {
        return error;
    }
    return store->class->range(store->be, start, end, rev, limit, kvs, n);
}

int
store_changes(struct store *store, uint64_t from_rev, const char *prefix,
              size_t max, struct store_event **events, size_t *n,
              uint64_t *next_rev)
{
    uint64_t head, compacted;
    char *end = NULL;
    int error;

    *events = NULL;
    *n = 0;
    pthread_mutex_lock(&store->mutex);
    head = store->head;
    compacted = store->compacted;
    pthread_mutex_unlock(&store->mutex);

    if (!from_rev) {
        from_rev = 1;
    }
    *next_rev = from_rev;
    if (compacted && from_rev <= compacted) {
        return ERANGE;
    }
    if (from_rev > head) {
        return 0;
    }
    if (prefix && *prefix) {
        end = store_prefix_end(prefix);
    }
    error =
        store->class->changes(store->be, from_rev, head, prefix ? prefix : "",
                              end, max ? max : 1, events, n);
    free(end);
    if (!error) {
        *next_rev = *n ? (*events)[*n - 1].kv.mod_rev + 1 : head + 1;
    }
    return error;
}

static void
store_abs_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool
store_wait(struct store *store, uint64_t rev, int timeout_ms)
{
    struct timespec deadline;
    bool reached;

    store_abs_deadline(&deadline, timeout_ms);
    pthread_mutex_lock(&store->mutex);
    while (store->head < rev && !store->closing) {
        if (pthread_cond_timedwait(&store->head_cond, &store->mutex,
                                   &deadline) == ETIMEDOUT) {
            break;
        }
    }
    reached = store->head >= rev;
    pthread_mutex_unlock(&store->mutex);
    return reached;
}

int
store_subscribe(struct store *store, store_notify_fn *cb, void *aux)
{
    int error = 0;

    pthread_mutex_lock(&store->mutex);
    if (store->n_subs >= STORE_MAX_SUBSCRIBERS) {
        error = ENOSPC;
    } else {
        store->subs[store->n_subs++] = (struct store_sub){cb, aux};
    }
    pthread_mutex_unlock(&store->mutex);
    return error;
}

void
store_unsubscribe(struct store *store, store_notify_fn *cb, void *aux)
{
    pthread_mutex_lock(&store->notify_mutex);
    pthread_mutex_lock(&store->mutex);
    for (size_t i = 0; i < store->n_subs; i++) {
        if (store->subs[i].cb == cb && store->subs[i].aux == aux) {
            store->subs[i] = store->subs[--store->n_subs];
            break;
        }
    }
    pthread_mutex_unlock(&store->mutex);
    pthread_mutex_unlock(&store->notify_mutex);
}

static int
store_enqueue(struct store *store, struct store_req *req)
{
    pthread_mutex_lock(&store->mutex);
    if (store->closing) {
        pthread_mutex_unlock(&store->mutex);
        return ECANCELED;
    }
    req->next = NULL;
    *store->tail = req;
    store->tail = &req->next;
    pthread_cond_signal(&store->cond);
    pthread_mutex_unlock(&store->mutex);
    return 0;
}

int
store_txn_submit(struct store *store, store_txn_fn *fn, void *fn_aux,
                 store_done_fn *done, void *done_aux)
{
    struct store_req *req = xcalloc(1, sizeof *req);
    int error;

    req->fn = fn;
    req->fn_aux = fn_aux;
    req->done = done;
    req->done_aux = done_aux;
    error = store_enqueue(store, req);
    if (error) {
        free(req);
    }
    return error;
}

/* Rendezvous for the synchronous wrappers. */
struct store_sync {
    pthread_mutex_t mutex; /* guards the members below */
    pthread_cond_t cond;   /* signalled when 'finished' */
    bool finished;         /* completion arrived */
    int error;             /* its error */
    uint64_t rev;          /* its revision */
};

static void
store_sync_done(void *aux, int error, uint64_t rev)
{
    struct store_sync *sync = aux;

    pthread_mutex_lock(&sync->mutex);
    sync->finished = true;
    sync->error = error;
    sync->rev = rev;
    pthread_cond_signal(&sync->cond);
    pthread_mutex_unlock(&sync->mutex);
}

static int
store_sync_wait(struct store *store, struct store_req *req, uint64_t *rev)
{
    struct store_sync sync = {.finished = false};
    int error;

    pthread_mutex_init(&sync.mutex, NULL);
    pthread_cond_init(&sync.cond, NULL);
    req->done = store_sync_done;
    req->done_aux = &sync;
    error = store_enqueue(store, req);
    if (!error) {
        pthread_mutex_lock(&sync.mutex);
        while (!sync.finished) {
            pthread_cond_wait(&sync.cond, &sync.mutex);
        }
        pthread_mutex_unlock(&sync.mutex);
        error = sync.error;
        if (rev) {
            *rev = sync.rev;
        }
    } else {
        free(req);
    }
    pthread_mutex_destroy(&sync.mutex);
    pthread_cond_destroy(&sync.cond);
    return error;
}

int
store_txn_run(struct store *store, store_txn_fn *fn, void *aux, uint64_t *rev)
{
    struct store_req *req = xcalloc(1, sizeof *req);

    req->fn = fn;
    req->fn_aux = aux;
    return store_sync_wait(store, req, rev);
}

int
store_compact(struct store *store, uint64_t rev)
{
    struct store_req *req = xcalloc(1, sizeof *req);

    req->compact_to = rev;
    return store_sync_wait(store, req, NULL);
}

uint64_t
store_txn_revision(const struct store_txn *txn)
{
    return txn->rev;
}

int
store_txn_get(struct store_txn *txn, const char *key, struct store_kv *kv)
{
    memset(kv, 0, sizeof *kv);
    return txn->store->class->txn_get(txn->store->be, key, kv);
}

int
store_txn_range(struct store_txn *txn, const char *start, const char *end,
                size_t limit, struct store_kv **kvs, size_t *n)
{
    *kvs = NULL;
    *n = 0;
    return txn->store->class->txn_range(txn->store->be, start, end, limit, kvs,
                                        n);
}

int
store_txn_put(struct store_txn *txn, const char *key, const void *value,
              size_t len)
{
    int error = txn->store->class->txn_write(txn->store->be, txn->rev, key,
                                             value ? value : "", len);
    if (!error) {
        txn->wrote = true;
        store_cache_note_write(txn->store, key);
    }
    return error;
}

int
store_txn_delete(struct store_txn *txn, const char *key)
{
    int error =
        txn->store->class->txn_write(txn->store->be, txn->rev, key, NULL, 0);
    if (!error) {
        txn->wrote = true;
        store_cache_note_write(txn->store, key);
    }
    return error;
}

/* Runs one compaction request (or automatic step) in its own backend
 * transaction.  Committer thread only. */
static int
store_run_compaction(struct store *store, uint64_t to)
{
    const struct store_class *class = store->class;
    uint64_t from, head;
    int error;

    pthread_mutex_lock(&store->mutex);
    from = store->compacted;
    head = store->head;
    pthread_mutex_unlock(&store->mutex);
    if (to > head) {
        return ERANGE;
    }
    if (to <= from) {
        return 0;
    }
    error = class->batch_begin(store->be);
    if (!error) {
        error = class->compact(store->be, from, to);
        if (!error) {
            error = class->batch_commit(store->be, head);
        } else {
            class->batch_abort(store->be);
        }
    }
    if (!error) {
        pthread_mutex_lock(&store->mutex);
        store->compacted = to;
        pthread_mutex_unlock(&store->mutex);
    } else {
        LOG_ERROR("store", "compaction to %llu failed: %s",
                  (unsigned long long)to, strerror(error));
    }
    return error;
}

/* Runs the transactions in 'batch' as one backend commit.  Committer
 * thread only.  Sets each request's 'error' and 'rev'. */
static void
store_run_batch(struct store *store, struct store_req *batch)
{
    const struct store_class *class = store->class;
    uint64_t head = store->head; /* only the committer changes it */
    uint64_t rev = head;
    uint64_t commits = 0;
    int error;

    error = class->batch_begin(store->be);
    for (struct store_req *r = batch; r; r = r->next) {
        struct store_txn txn = {store, rev + 1, false};

        if (error) {
            r->error = error;
            continue;
        }
        r->error = class->txn_begin(store->be);
        if (r->error) {
            continue;
        }
        r->error = r->fn(&txn, r->fn_aux);
        if (class->txn_end(store->be, !r->error) && !r->error) {
            r->error = EIO;
        }
        if (!r->error && txn.wrote) {
            rev++;
            commits++;
        }
        r->rev = r->error || !txn.wrote ? 0 : rev;
    }
    if (!error) {
        error = rev == head ? (class->batch_abort(store->be), 0)
                            : class->batch_commit(store->be, rev);
    }
    if (error) {
        LOG_ERROR("store", "group commit failed: %s", strerror(error));
        rev = head;
        for (struct store_req *r = batch; r; r = r->next) {
            if (!r->error) {
                r->error = error;
            }
        }
    }

    store_cache_commit(store, rev);
    pthread_mutex_lock(&store->mutex);
    store->head = rev;
    store->commits += commits;
    store->syncs += rev != head;
    pthread_cond_broadcast(&store->head_cond);
    pthread_mutex_unlock(&store->mutex);
    for (struct store_req *r = batch; r; r = r->next) {
        if (!r->error && !r->rev) {
            r->rev = rev;
        }
    }
}

static void
store_notify(struct store *store, uint64_t rev)
{
    struct store_sub subs[STORE_MAX_SUBSCRIBERS];
    size_t n;

    pthread_mutex_lock(&store->notify_mutex);
    pthread_mutex_lock(&store->mutex);
    n = store->n_subs;
    memcpy(subs, store->subs, n * sizeof subs[0]);
    pthread_mutex_unlock(&store->mutex);
    for (size_t i = 0; i < n; i++) {
        subs[i].cb(subs[i].aux, rev);
    }
    pthread_mutex_unlock(&store->notify_mutex);
}

static void *
store_committer_main(void *store_)
{
    struct store *store = store_;

    for (;;) {
        struct store_req *compactions = NULL, **ctail = &compactions;
        struct store_req *txns = NULL, **ttail = &txns;
        uint64_t old_head = store->head;
        unsigned count = 0;

        pthread_mutex_lock(&store->mutex);
        while (!store->head_req && !store->closing) {
            pthread_cond_wait(&store->cond, &store->mutex);
        }
        if (!store->head_req && store->closing) {
            pthread_mutex_unlock(&store->mutex);
            break;
        }
        /* Take up to max_batch requests off the queue. */
        while (store->head_req && count < store->opts.max_batch) {
            struct store_req *r = store->head_req;
            store->head_req = r->next;
            r->next = NULL;
            if (r->fn) {
                *ttail = r;
                ttail = &r->next;
            } else {
                *ctail = r;
                ctail = &r->next;
            }
            count++;
        }
        if (!store->head_req) {
            store->tail = &store->head_req;
        }
        pthread_mutex_unlock(&store->mutex);

        if (txns) {
            store_run_batch(store, txns);
        }
        for (struct store_req *r = compactions; r; r = r->next) {
            r->error = store_run_compaction(store, r->compact_to);
            r->rev = store->head;
        }
        for (struct store_req *r = txns; r;) {
            struct store_req *next = r->next;
            r->done(r->done_aux, r->error, r->rev);
            free(r);
            r = next;
        }
        for (struct store_req *r = compactions; r;) {
            struct store_req *next = r->next;
            r->done(r->done_aux, r->error, r->rev);
            free(r);
            r = next;
        }
        if (store->head != old_head) {
            store_notify(store, store->head);
        }

        /* Automatic compaction, one bounded step at a time. */
        if (store->opts.retention_revs &&
            store->head > store->compacted + store->opts.retention_revs +
                              STORE_COMPACT_STEP / 4) {
            uint64_t to = store->head - store->opts.retention_revs;
            to = MIN(to, store->compacted + STORE_COMPACT_STEP);
            store_run_compaction(store, to);
        }
    }
    return NULL;
}

void
store_get_stats(struct store *store, struct store_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    store->class->stats(store->be, stats);
    pthread_mutex_lock(&store->mutex);
    stats->commits = store->commits;
    stats->syncs = store->syncs;
    pthread_mutex_unlock(&store->mutex);
    pthread_mutex_lock(&store->cache_mutex);
    stats->cache_hits = store->cache_hits;
    pthread_mutex_unlock(&store->cache_mutex);
}

void
store_kv_clear(struct store_kv *kv)
{
    if (kv) {
        free(kv->key);
        free(kv->value);
        memset(kv, 0, sizeof *kv);
    }
}

void
store_kvs_free(struct store_kv *kvs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_kv_clear(&kvs[i]);
    }
    free(kvs);
}

void
store_events_free(struct store_event *events, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_kv_clear(&events[i].kv);
    }
    free(events);
}

char *
store_prefix_end(const char *prefix)
{
    size_t len = strlen(prefix);
    char *end = xstrdup(prefix);

    while (len > 0) {
        unsigned char c = (unsigned char)end[len - 1];
        if (c < 0xff) {
            end[len - 1] = (char)(c + 1);
            end[len] = '\0';
            return end;
        }
        len--;
    }
    free(end);
    return NULL;
}

struct store_kv *
store_kv_append(struct store_kv **kvs, size_t *n, size_t *cap)
{
    if (*n >= *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *kvs = xrealloc(*kvs, *cap * sizeof **kvs);
    }
    memset(&(*kvs)[*n], 0, sizeof **kvs);
    return &(*kvs)[(*n)++];
}

struct store_event *
store_event_append(struct store_event **evs, size_t *n, size_t *cap)
{
    if (*n >= *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *evs = xrealloc(*evs, *cap * sizeof **evs);
    }
    memset(&(*evs)[*n], 0, sizeof **evs);
    return &(*evs)[(*n)++];
}
