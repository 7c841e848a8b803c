/* The audit log: one entry per committed write, stored in the same
 * transaction as the write itself (so an entry exists if and only if the
 * change does), under "a/<revision, 16 digits>":
 *   {"revision": 42, "time": <ms>, "token": "<id>", "user": "<name>",
 *    "method": "PATCH", "path": "/api/v1/projects/default"}
 * Audit entries are live keys, so compaction of history keeps them; they
 * are kept for a maximum age instead (audit_set_max_age_ms(), default
 * AUDIT_DEFAULT_DAYS): each write deletes up to AUDIT_PRUNE_BATCH of the
 * oldest entries that are older than that, in its own transaction, so the
 * log stays bounded at a bounded cost per write. */
#ifndef WEFT_API_AUDIT_H
#define WEFT_API_AUDIT_H 1

#include "api/api.h"

struct store_txn;

#define AUDIT_DEFAULT_DAYS 90
#define AUDIT_PRUNE_BATCH  4 /* > 1: the log shrinks while it is written */

/* How long entries are kept, in ms; 0 keeps them forever.  Set once at
 * start (weftd --audit-days), before any write. */
void audit_set_max_age_ms(int64_t max_age_ms);

/* Inside a transaction: deletes the oldest entries whose time is before
 * 'cutoff_ms', at most AUDIT_PRUNE_BATCH.  Returns how many it deleted,
 * or a negative errno value. */
int audit_txn_prune(struct store_txn *txn, int64_t cutoff_ms);

/* Inside the write's transaction: records that 'who' did 'method' on
 * 'path' and prunes entries past the maximum age.  Returns 0 or an errno
 * value. */
int audit_txn_record(struct store_txn *txn, const struct api_principal *who,
                     const char *method, const char *path);

/* Entries with revision >= 'from', oldest first, at most 'limit'.  Returns
 * a JSON array and stores the revision to continue from in '*next'. */
json_t *audit_list(struct store *store, uint64_t from, size_t limit,
                   uint64_t *next);

#endif
