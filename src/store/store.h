/* The store: Weft's revisioned log of desired state.
 *
 * A store maps keys (NUL-terminated strings) to values (byte strings).
 * Every committed transaction that changes something gets the next revision
 * number (1, 2, 3, ...); each key remembers the revision that created it and
 * the one that last modified it.  On top of that the store offers:
 *
 *   - atomic multi-key transactions, run serially by the backend: a
 *     transaction is a callback that reads and writes through a txn handle
 *     and either commits all its writes under one revision or none;
 *   - snapshot reads at any retained revision (0 means "the newest");
 *   - a change feed: every put and delete from revision N on, grouped by
 *     revision, which the controller follows to compute per-host state;
 *   - compaction: history older than a revision is dropped (the newest
 *     version of each live key is always kept), and reads or feeds that
 *     start before the compacted revision fail with ERANGE.
 *
 * Durability: a transaction's completion is reported only after its commit
 * is on stable storage.  Backends may commit several queued transactions
 * with one sync (group commit); each still gets its own revision.
 *
 * Backends plug in through store-provider.h.  Today: "sqlite:<dir>"
 * (embedded, the default) and "mem:" (a volatile test double).  etcd will
 * map its MVCC revisions and watch one-to-one onto this interface.
 *
 * Errors: functions return 0 or a positive errno value.  Common ones:
 * ENOENT (no such key), ERANGE (revision compacted or in the future), EIO
 * (backend failure), ECANCELED (store closing).
 *
 * Thread safety: every function on a 'struct store' may be called from any
 * thread.  A 'struct store_txn' is valid only inside its callback, on the
 * thread that runs it. */
#ifndef WEFT_STORE_H
#define WEFT_STORE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_txn;

/* One version of one key.  'key' and 'value' are owned by the structure
 * and freed by store_kv_clear(); 'value' is NUL-terminated for
 * convenience (the terminator is not counted in 'value_len'). */
struct store_kv {
    char *key;           /* the key */
    char *value;         /* its value, NULL in a delete event */
    size_t value_len;    /* bytes in 'value' */
    uint64_t create_rev; /* revision that created this incarnation */
    uint64_t mod_rev;    /* revision of this version */
};

enum store_event_type {
    STORE_PUT,    /* key created or modified; kv.value is the new value */
    STORE_DELETE, /* key deleted; kv.value is NULL */
};

/* One change in the feed. */
struct store_event {
    enum store_event_type type; /* put or delete */
    struct store_kv kv;         /* kv.mod_rev is the event's revision */
};

struct store_options {
    /* Revisions of history kept by automatic compaction (0 = never compact
     * automatically).  Compaction runs in the background as commits
     * advance the head past the retention window. */
    uint64_t retention_revs;
    /* Upper bound on transactions committed with one sync (0 = default). */
    unsigned max_batch;
};

/* Opens (creating if needed) the store named by 'url': "sqlite:<dir>"
 * keeps its files in <dir>, "mem:" keeps everything in memory.  'opts' may
 * be NULL.  On success stores a new handle in '*storep' and returns 0. */
int store_open(const char *url, const struct store_options *opts,
               struct store **storep);

/* Waits for queued transactions to finish, then frees everything.  Accepts
 * NULL.  No other call on 'store' may be in progress or follow. */
void store_close(struct store *store);

/* Newest durable revision (0 for an empty store). */
uint64_t store_revision(struct store *store);

/* Oldest revision that reads and feeds may still start from is
 * store_compacted(store) + 1... except that a snapshot at exactly the
 * compacted revision is also readable.  0 if nothing was compacted. */
uint64_t store_compacted(struct store *store);

/* Reads 'key' as of revision 'rev' (0 = newest).  Returns 0 and fills
 * '*kv' (caller clears it), ENOENT if the key did not exist then, ERANGE if
 * 'rev' is compacted or newer than the head. */
int store_get(struct store *store, const char *key, uint64_t rev,
              struct store_kv *kv);

/* Reads live keys k with start <= k < end ('end' NULL = no bound), in key
 * order, as of revision 'rev' (0 = newest), at most 'limit' of them
 * (0 = unlimited).  Stores a malloc'd array in '*kvs' (free it with
 * store_kvs_free()), its length in '*n', and the revision actually read in
 * '*read_rev' (may be NULL) so callers can page at the same revision. */
int store_range(struct store *store, const char *start, const char *end,
                uint64_t rev, size_t limit, struct store_kv **kvs, size_t *n,
                uint64_t *read_rev);

/* Transaction callback.  Runs on a backend thread, serialized with every
 * other transaction; must not block on anything but the txn handle and
 * must not call the non-txn functions of the same store.  Returns 0 to
 * commit or a positive error to roll back every write it made.  A backend
 * may run a callback more than once (e.g. etcd on a conflict), so it must
 * have no side effects outside the txn and 'aux'. */
typedef int store_txn_fn(struct store_txn *txn, void *aux);

/* Completion callback: 'error' is the txn callback's return value, or a
 * backend error; 'rev' is the commit revision (the head revision if the
 * txn wrote nothing).  Called once, after the commit is durable, from a
 * backend thread; must be quick. */
typedef void store_done_fn(void *aux, int error, uint64_t rev);

/* Queues a transaction and returns at once: 0 if queued ('done' will be
 * called), ECANCELED if the store is closing ('done' will not be called). */
int store_txn_submit(struct store *store, store_txn_fn *fn, void *fn_aux,
                     store_done_fn *done, void *done_aux);

/* Runs a transaction and waits until it is durable.  Returns its error; on
 * success stores the commit revision in '*rev' (may be NULL). */
int store_txn_run(struct store *store, store_txn_fn *fn, void *aux,
                  uint64_t *rev);

/* Inside a transaction: the revision the txn will commit as if it writes. */
uint64_t store_txn_revision(const struct store_txn *txn);
/* Inside a transaction: like store_get()/store_range() at the txn's view,
 * which includes its own writes. */
int store_txn_get(struct store_txn *txn, const char *key, struct store_kv *kv);
int store_txn_range(struct store_txn *txn, const char *start, const char *end,
                    size_t limit, struct store_kv **kvs, size_t *n);
/* Inside a transaction: sets 'key' to the 'len' bytes at 'value'. */
int store_txn_put(struct store_txn *txn, const char *key, const void *value,
                  size_t len);
/* Inside a transaction: deletes 'key'; ENOENT if it does not exist. */
int store_txn_delete(struct store_txn *txn, const char *key);

/* The change feed.  Reads the events of revisions >= 'from_rev' whose key
 * starts with 'prefix' (NULL or "" = all), oldest first, without blocking.
 * Returns whole revisions only, stopping once 'max' events are gathered
 * (but always at least one whole revision if any exists).  Stores an array
 * in '*events' (free with store_events_free()), its length in '*n', and in
 * '*next_rev' the revision to resume from.  ERANGE if 'from_rev' is
 * compacted away (resync from a snapshot, then resume at its revision+1). */
int store_changes(struct store *store, uint64_t from_rev, const char *prefix,
                  size_t max, struct store_event **events, size_t *n,
                  uint64_t *next_rev);

/* Blocks until the head revision is >= 'rev' or 'timeout_ms' passes.
 * Returns true if the head reached 'rev'. */
bool store_wait(struct store *store, uint64_t rev, int timeout_ms);

/* Commit notification: 'cb' is called with the new head revision after
 * each durable commit, from a backend thread; it must be quick and must not
 * call back into the store.  At most 8 subscribers; returns ENOSPC beyond. */
typedef void store_notify_fn(void *aux, uint64_t rev);
int store_subscribe(struct store *store, store_notify_fn *cb, void *aux);
/* Removes a subscription; when it returns, 'cb' is not running and will
 * not be called again. */
void store_unsubscribe(struct store *store, store_notify_fn *cb, void *aux);

/* Drops history at and before 'rev', keeping each key's newest version.
 * Afterwards reads at revisions < 'rev' fail with ERANGE. */
int store_compact(struct store *store, uint64_t rev);

/* Backend statistics, for benchmarks and the debug endpoint. */
struct store_stats {
    uint64_t commits;    /* transactions that changed something */
    uint64_t syncs;      /* durable syncs (group commits) */
    uint64_t disk_bytes; /* bytes of backend files, 0 for memory */
    uint64_t cache_hits; /* store_get() calls answered from the read cache */
};
void store_get_stats(struct store *store, struct store_stats *stats);

void store_kv_clear(struct store_kv *kv);
void store_kvs_free(struct store_kv *kvs, size_t n);
void store_events_free(struct store_event *events, size_t n);

/* Returns the smallest key greater than every key starting with 'prefix'
 * (malloc'd), for use as the 'end' of a prefix range; NULL if none. */
char *store_prefix_end(const char *prefix);

#endif
