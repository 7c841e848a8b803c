/* The controller's model: an in-memory copy of the objects that matter to
 * forwarding (hosts, segments, ports), and each host's span, kept
 * incrementally as store events arrive.
 *
 * A host's span is: the segments with an active port on that host; in each
 * of them the local ports, the remote bindings (every other active port of
 * the segment, with the tunnel endpoint of the host it lives on) and the
 * flood list (the other hosts with active ports on the segment).  A port is
 * active when it is attached (host + VIF), admin up, its segment exists and
 * its host exists (so its tunnel endpoint is known).
 *
 * Incremental, never a recompute: an event marks as dirty, on each host it
 * affects, the keys of the span entries that may have changed (a port
 * change touches its own entry on the hosts of its segment: O(hosts of the
 * segment), independent of the number of ports elsewhere; a host joining
 * or leaving a segment touches that segment's entries on that host).
 * cpm_flush() then evaluates each dirty key against the current model and
 * emits, per dirty host, one delta with the final state of those keys:
 * changes within one batch coalesce, and an entry that ends where it
 * started costs one harmless upsert.
 *
 * Keys of span entries (also the object ids on the wire, see weft.proto):
 * segments and ports by API path without "/api/v1", floods by
 * "<segment path>|<host id>".
 *
 * Not thread-safe: the controller serializes all calls. */
#ifndef WEFT_CONTROLLER_CPM_H
#define WEFT_CONTROLLER_CPM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/weft.pb-c.h"

struct cpm;
struct cpm_host;

struct cpm *cpm_create(void);
void cpm_destroy(struct cpm *); /* NULL is fine */

/* Applies a store change: 'key' (store key, e.g. "o3/projects/p/segments/
 * s/ports/x") now has 'value' (JSON, NULL for a delete) as of revision
 * 'rev'.  Keys of other kinds are ignored.  A value that does not parse
 * is treated as a delete (logged). */
void cpm_apply(struct cpm *, const char *key, const char *value, size_t len,
               uint64_t rev);

/* Called by cpm_flush() once per host with dirty entries: 'u' is the delta
 * (revision = 'rev', prev_revision and seq left for the caller), owned by
 * the callee (free with cpm_update_free()). */
typedef void cpm_delta_fn(void *aux, const char *host_id, Weft__Update *u);

/* Emits the deltas of everything applied since the last flush, tagged with
 * 'rev', and clears the dirty marks. */
void cpm_flush(struct cpm *, uint64_t rev, cpm_delta_fn *fn, void *aux);

/* While 'loading', changes mark nothing dirty (an initial load, after
 * which every host gets a snapshot anyway): loading N objects then costs
 * O(N), not O(N x hosts). */
void cpm_set_loading(struct cpm *, bool loading);

/* Drops the dirty marks without emitting (after the initial load). */
void cpm_discard_dirty(struct cpm *);

/* A full snapshot of 'host_id's span tagged 'rev', or NULL if the host
 * object does not exist (no tunnel endpoint to give it). */
Weft__Update *cpm_snapshot(struct cpm *, const char *host_id, uint64_t rev);

/* Frees an update built by this module.  NULL is fine. */
void cpm_update_free(Weft__Update *);

/* Bytes of the packed update (for journals and statistics). */
size_t cpm_update_size(const Weft__Update *);

/* ---- Realization queries. ---- */

/* Hosts an object applies to, for its realization state: for a port its
 * own host and the other hosts of its segment, for a segment the hosts
 * with ports on it.  Calls 'fn' per host id with the revision that host
 * must have realized for the object to be there as it is now (the later
 * of the object's last change and the host joining the segment); returns
 * false if the model has no object at 'path' (API path without
 * "/api/v1").  '*mod_rev' gets the revision of the object's last change,
 * '*active' whether it is realized anywhere at all. */
bool cpm_object_hosts(struct cpm *, const char *path,
                      void (*fn)(void *aux, const char *host_id, uint64_t rev),
                      void *aux, uint64_t *mod_rev, bool *active);

/* Statistics. */
struct cpm_stats {
    size_t hosts, segments, ports, active_ports;
};
void cpm_get_stats(const struct cpm *, struct cpm_stats *);

#endif
