/* The audit log: one entry per committed write, stored in the same
 * transaction as the write itself (so an entry exists if and only if the
 * change does), under "a/<revision, 16 digits>":
 *   {"revision": 42, "time": <ms>, "token": "<id>", "user": "<name>",
 *    "method": "PATCH", "path": "/api/v1/projects/default"}
 * Audit entries are live keys, so compaction of history keeps them. */
#ifndef WEFT_API_AUDIT_H
#define WEFT_API_AUDIT_H 1

#include "api/api.h"

struct store_txn;

/* Inside the write's transaction: records that 'who' did 'method' on
 * 'path'.  Returns 0 or an errno value. */
int audit_txn_record(struct store_txn *txn, const struct api_principal *who,
                     const char *method, const char *path);

/* Entries with revision >= 'from', oldest first, at most 'limit'.  Returns
 * a JSON array and stores the revision to continue from in '*next'. */
json_t *audit_list(struct store *store, uint64_t from, size_t limit,
                   uint64_t *next);

#endif
