/* weftd's central control plane: follows the store's change feed, keeps
 * the model and every host's span (cpm.h), and pushes deltas to the
 * agents over TLS with mutual certificates (one listener, one thread).
 *
 * Sessions.  A client without a certificate may only enroll: it sends a
 * join token (created through the API, stored as "j/<id>") and a CSR, and
 * gets a certificate for the token's host, whose serial is recorded as
 * "c/<host>" in the same store transaction that consumes the token.  A
 * client with a certificate (verified against the CA) must say Hello with
 * the certificate's host id, and its serial must be the one recorded for
 * that host (deleting "c/<host>" revokes it, and drops a live session).
 * It then gets the deltas since the revision it says it has, if this
 * controller still holds them in its journal for the host, or a snapshot.
 *
 * Realization.  For each host the controller remembers the revisions of
 * the deltas that touched it and have not been acknowledged.  A revision N
 * is realized on a host when none of those is <= N (and the controller has
 * processed N); it is realized everywhere when that holds on every host.
 * The query functions below turn this into the API's realization states.
 *
 * Thread-safety: the controller runs its own thread; the query functions
 * may be called from any thread (they take the controller's lock briefly).
 */
#ifndef WEFT_CONTROLLER_CONTROLLER_H
#define WEFT_CONTROLLER_CONTROLLER_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;
struct controller;

struct controller_config {
    struct store *store;   /* the revisioned store (not owned) */
    const char *state_dir; /* CA files go to <state_dir>/ca */
    const char *listen;    /* bind address */
    uint16_t port;         /* 0 = ephemeral */
    unsigned keepalive_ms; /* idle keepalive period (0 = 5000); a peer
                            * silent for 4 periods is dropped */
};

/* Starts the controller: CA, listener, thread.  Returns 0 or an errno value
 * (logged).  The thread loads the model from the store before it accepts
 * agents; until then the query functions below answer "pending" (their
 * "processed_revision" is 0), so weftd can serve its API at once. */
int controller_start(const struct controller_config *, struct controller **);
/* Stops the thread and closes every session.  NULL is fine. */
void controller_stop(struct controller *);

uint16_t controller_port(const struct controller *);
/* SHA-256 of the CA certificate, 64 hex digits (for join tokens). */
const char *controller_ca_fingerprint(const struct controller *);

/* {"revision": N, "processed_revision": P, "realized": bool,
 *  "pending_hosts": [...], "failed": [{"host","object","reason"}...]}:
 * whether revision N (0 = the store's head) is realized on every host it
 * applies to.  Caller owns the result. */
json_t *controller_realization(struct controller *, uint64_t revision);

/* The state of one host ({"host", "connected", "enrolled",
 * "realized_revision", ...}), or NULL if the controller knows nothing of
 * it. */
json_t *controller_host_state(struct controller *, const char *host_id);

/* Realization state of a segment or port ('path' without "/api/v1"):
 * {"state": pending|in_progress|success|failed, "revision": R,
 *  "hosts": [{"host", "state", "reason"?}...]}, or NULL if unknown. */
json_t *controller_object_state(struct controller *, const char *path);

/* The effective members of a group ('path' without "/api/v1"): {"ports",
 * "ip_addresses", "port_count"}, or NULL if the controller has no such
 * group. */
json_t *controller_group_members(struct controller *, const char *path);

/* Hit counters of a firewall rule summed over the hosts' latest reports:
 * {"packets", "bytes", "sessions", "hosts": [...]}, or NULL if unknown. */
json_t *controller_rule_stats(struct controller *, const char *path);

#endif
