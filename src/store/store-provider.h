/* The provider interface between the generic store (store.c) and its
 * backends (store-sqlite.c, store-mem.c).
 *
 * store.c owns everything backend-independent: the transaction queue, the
 * single committer thread that runs queued transactions in batches (group
 * commit), revision numbering, commit notification and automatic
 * compaction.  A backend only stores versions and answers queries.
 *
 * Lifecycle: open() once; then the committer thread alone calls
 * batch_begin(), any number of txn_begin()/txn_*()/txn_end() sequences,
 * then batch_commit() (durable) or batch_abort(), and compact().  Any
 * thread may call the read functions (get, range, changes, stats)
 * concurrently with the committer; they must see only committed data and
 * never block the committer for long.  close() runs after the committer
 * has stopped.
 *
 * All functions return 0 or a positive errno value, as in store.h.
 * Revisions passed to read functions are already resolved (never 0) and
 * within [compacted, head]. */
#ifndef WEFT_STORE_PROVIDER_H
#define WEFT_STORE_PROVIDER_H 1

#include "store/store.h"

struct store_backend; /* a backend's private state */

/* What a backend remembers across restarts. */
struct store_backend_state {
    uint64_t head;      /* newest committed revision */
    uint64_t compacted; /* revision compacted up to (0 = none) */
};

struct store_class {
    const char *scheme; /* URL scheme, e.g. "sqlite" */

    int (*open)(const char *arg, struct store_backend **bep,
                struct store_backend_state *state);
    void (*close)(struct store_backend *be);

    /* Committer thread only. */
    int (*batch_begin)(struct store_backend *be);
    int (*batch_commit)(struct store_backend *be, uint64_t head);
    void (*batch_abort)(struct store_backend *be);
    int (*txn_begin)(struct store_backend *be);
    /* Keeps ('commit') or undoes the writes since txn_begin(). */
    int (*txn_end)(struct store_backend *be, bool commit);
    int (*txn_get)(struct store_backend *be, const char *key,
                   struct store_kv *kv);
    int (*txn_range)(struct store_backend *be, const char *start,
                     const char *end, size_t limit, struct store_kv **kvs,
                     size_t *n);
    /* Writes version 'rev' of 'key' ('value' NULL = delete).  ENOENT when
     * deleting a key that does not exist. */
    int (*txn_write)(struct store_backend *be, uint64_t rev, const char *key,
                     const void *value, size_t len);
    /* Drops history in (from, to]: every version superseded by a version
     * <= 'to' and every delete marker <= 'to'; records 'to' durably. */
    int (*compact)(struct store_backend *be, uint64_t from, uint64_t to);

    /* Any thread. */
    int (*get)(struct store_backend *be, const char *key, uint64_t rev,
               struct store_kv *kv);
    int (*range)(struct store_backend *be, const char *start, const char *end,
                 uint64_t rev, size_t limit, struct store_kv **kvs, size_t *n);
    /* Events with from <= rev <= to and key in [start, end), ordered by
     * (rev, key), stopping after whole revisions once 'max' are gathered. */
    int (*changes)(struct store_backend *be, uint64_t from, uint64_t to,
                   const char *start, const char *end, size_t max,
                   struct store_event **events, size_t *n);
    void (*stats)(struct store_backend *be, struct store_stats *stats);
};

extern const struct store_class store_sqlite_class;
extern const struct store_class store_mem_class;

/* Helpers for backends: grow an array of kvs / events by one. */
struct store_kv *store_kv_append(struct store_kv **kvs, size_t *n, size_t *cap);
struct store_event *store_event_append(struct store_event **evs, size_t *n,
                                       size_t *cap);

#endif
