/* Compiles the firewall part of the agent's desired state (agent-state.h:
 * rules, address-set members, each local port's scopes and SpoofGuard,
 * the default action) into the datapath's objects (datapath/dfw.h): one
 * address-set index shared by every vNIC, and per vNIC a classifier of
 * the rules installed on it.
 *
 * Incremental: agent_dfw_sync() does nothing when the firewall state did
 * not change; an address-set change rebuilds the shared index only (no
 * classifier is recompiled); a rule or scope change recompiles only the
 * vNICs whose list of rules (or the rules' content) changed.  Existing
 * connections of a vNIC are re-checked against its new rules (the vNIC's
 * rules_version changes); an address-set change applies to new
 * connections and re-checks those of the vNICs whose rules name a changed
 * set (a new rules_version, the classifier shared; decision 62).
 *
 * Rule ids in the datapath are small integers assigned here, stable for
 * the agent's lifetime (counters are kept per id); id 0 is the default
 * rule.  Not thread-safe: the agent's control thread owns it. */
#ifndef WEFT_AGENT_AGENT_DFW_H
#define WEFT_AGENT_AGENT_DFW_H 1

#include <stdbool.h>
#include <stdint.h>

struct agent_dfw;
struct dstate;
struct dfw_sets;
struct dfw_vnic;

#define AGENT_DFW_DEFAULT_RULE 0 /* id of the default rule */

struct agent_dfw *agent_dfw_create(void);
void agent_dfw_destroy(struct agent_dfw *); /* NULL is fine */

/* Brings the compiled objects in line with 'ds'.  Returns true if
 * anything changed (a new snapshot should be published). */
bool agent_dfw_sync(struct agent_dfw *, const struct dstate *ds);

/* The deployment-wide part (borrowed; NULL before the first sync). */
struct dfw_sets *agent_dfw_sets(const struct agent_dfw *);
/* The firewall of the local port with logical port id 'lport' (borrowed),
 * or NULL if it has none (no rules, default allow, no SpoofGuard). */
struct dfw_vnic *agent_dfw_vnic(const struct agent_dfw *, uint32_t lport);

/* Calls 'fn' for every rule currently installed: its datapath id and its
 * path. */
void agent_dfw_rules_foreach(const struct agent_dfw *,
                             void (*fn)(void *aux, uint32_t id,
                                        const char *path),
                             void *aux);

/* Statistics for the control socket. */
struct agent_dfw_stats {
    uint32_t rules;      /* rules known */
    uint32_t sets;       /* address sets */
    uint32_t members;    /* address-set members */
    uint32_t vnics;      /* local ports with a firewall */
    uint64_t compiles;   /* classifiers compiled so far */
    uint64_t set_builds; /* address-set index rebuilds so far */
    uint64_t renewals;   /* vNICs given a new rules version because a set
                          * their rules name changed (connections
                          * re-checked) */
};
void agent_dfw_get_stats(const struct agent_dfw *, struct agent_dfw_stats *);

#endif
