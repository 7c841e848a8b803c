/* The agent's desired state as the controller sends it: segments, local
 * ports, remote bindings and flood entries, each by id (weft.proto), plus
 * the host's tunnel endpoint and the revision this state realizes.
 *
 * dstate_apply() applies a snapshot or delta to the model only (it knows
 * no datapath); dstate_to_config() turns the model into the agent_config
 * that agent_apply() swaps in atomically.  Objects that cannot be realized
 * (a segment reusing another's VNI, a port whose segment is missing or
 * whose interface or MAC another port already uses, ...) are left out of
 * the config and reported as failures naming the object; the rest is
 * realized.  The model can be saved to and restored from a file (the
 * agent's cache for restarts while the controller is unreachable).
 *
 * Not thread-safe; the agent's control thread owns it. */
#ifndef WEFT_AGENT_AGENT_STATE_H
#define WEFT_AGENT_AGENT_STATE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "proto/weft.pb-c.h"

struct dstate;

/* A failure: the object's id and why it is not realized. */
struct dstate_failure {
    char object[512];
    char reason[160];
};

struct dstate_failures {
    struct dstate_failure *items; /* malloc'd */
    size_t n;
};

void dstate_failures_clear(struct dstate_failures *);

/* Options for the generated agent_config. */
struct dstate_options {
    uint32_t mtu;         /* underlay MTU */
    bool offloads;        /* VIF offloads */
    bool kernel_fastpath; /* options.kernel_fastpath */
};

struct dstate *dstate_create(void);
void dstate_destroy(struct dstate *); /* NULL is fine */

/* The revision the model realizes (0: empty, never updated). */
uint64_t dstate_revision(const struct dstate *);

/* Applies 'u' (checked by wire_check()).  A snapshot replaces everything;
 * a delta must build on our revision: otherwise returns EPROTO with the
 * reason in 'err' and changes nothing. */
int dstate_apply(struct dstate *, const Weft__Update *u, char *err,
                 size_t err_size);

/* Builds the datapath configuration, or NULL if the host's tunnel
 * endpoint is not known yet.  Appends to 'f' the objects left out.  Starts
 * the record of changes that dstate_changes() describes. */
struct agent_config *dstate_to_config(struct dstate *,
                                      const struct dstate_options *,
                                      struct dstate_failures *f);

/* ---- Incremental realization: the changes since dstate_to_config() as
 * operations on its result (agent_realize() in agent.h). ---- */

enum dstate_op_kind {
    DSTATE_OP_REMOTE, /* a remote binding */
    DSTATE_OP_PORT,   /* a local port */
    DSTATE_OP_FLOOD,  /* an endpoint of a segment's flood list */
};

/* An object to add to or delete from configuration segment 'segment' (its
 * index in agent_config.segments).  A deleted binding is named by its MAC,
 * a deleted port by its MAC and interface; their 'ips' are the addresses
 * to remove.  A flood operation adds or removes 'vtep' alone (the flood
 * list has each endpoint once, however many flood entries name it).
 * Pointers stay valid until the next dstate_apply() or
 * dstate_to_config(). */
struct dstate_op {
    enum dstate_op_kind kind;
    bool add;
    uint32_t segment;
    struct cfg_remote remote; /* DSTATE_OP_REMOTE; ips not owned */
    struct cfg_port port;     /* DSTATE_OP_PORT; ips not owned */
    struct cfg_ip vtep;       /* DSTATE_OP_FLOOD */
};

/* If everything that changed since the last dstate_to_config() (and the
 * last dstate_changes_done()) is remote bindings, local ports, flood
 * entries and firewall objects, and none of the bindings or ports is one
 * dstate_to_config() would leave out for a reason this model knows
 * (segment not realized, the host's own endpoint), sets '*ops' to the
 * deletions followed by the additions that turn that configuration into
 * the current one and returns true.  Returns false when the model must be
 * converted whole (segments, routes or the host changed, or too many
 * objects did).  The caller also has to convert whole when the previous
 * conversion reported failures, or when a MAC, address, interface or
 * logical port id of an addition is taken. */
bool dstate_changes(struct dstate *, const struct dstate_op **ops,
                    size_t *n_ops);
/* The operations were applied: the next changes build on them. */
void dstate_changes_done(struct dstate *);

/* The whole model as one snapshot update (free with
 * weft__update__free_unpacked(u, NULL)); NULL if empty. */
Weft__Update *dstate_snapshot(const struct dstate *);

/* Writes the model to 'path' atomically (temporary file, fsync, rename).
 * Returns 0 or an errno value. */
int dstate_save(const struct dstate *, const char *path);
/* Replaces the model with the one saved in 'path'.  Returns 0, ENOENT, or
 * EINVAL for a damaged file (the model is then left empty). */
int dstate_load(struct dstate *, const char *path);

/* Counts, for the control socket. */
void dstate_counts(const struct dstate *, size_t *segments, size_t *ports,
                   size_t *remotes, size_t *floods);

/* ---- The firewall view (agent-dfw.c compiles it for the datapath). ---- */

struct as_prefix;

/* A local port as the firewall sees it (valid until the next apply). */
struct dstate_fw_port {
    const char *id;
    uint32_t lport;
    const struct eth_addr *mac;
    const struct cfg_ip *ips;
    uint32_t n_ips;
    const char *const *port_sets; /* scopes (group paths) it is in */
    size_t n_port_sets;
    bool spoofguard;
};

Weft__FwAction dstate_fw_default(const struct dstate *);
/* The deployment's TCP tracking mode for new connections. */
bool dstate_fw_tcp_strict(const struct dstate *);
/* Counters bumped whenever rules or the default action ('rules'),
 * address-set members ('addrs') or local ports ('ports': their scopes,
 * addresses, SpoofGuard) change. */
struct dstate_fw_gens {
    uint64_t rules, addrs, ports;
};
void dstate_fw_gens(const struct dstate *, struct dstate_fw_gens *);
void dstate_fw_rules(const struct dstate *,
                     void (*fn)(void *aux, const Weft__FwRule *), void *aux);
void dstate_fw_addrs(const struct dstate *,
                     void (*fn)(void *aux, const char *set,
                                const struct as_prefix *),
                     void *aux);
void dstate_fw_ports(const struct dstate *,
                     void (*fn)(void *aux, const struct dstate_fw_port *),
                     void *aux);

#endif
