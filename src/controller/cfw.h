/* Queries on the controller's firewall model (cfw.c) for the controller's
 * API: effective group members and per-rule hit counters.  The model is
 * driven through cpm (cpm-int.h); the caller holds the controller's lock. */
#ifndef WEFT_CONTROLLER_CFW_H
#define WEFT_CONTROLLER_CFW_H 1

#include <jansson.h>

#include "proto/weft.pb-c.h"

struct cpm;

/* {"ports": [paths], "ip_addresses": ["addr/plen"...], "port_count": N}
 * for the group at 'path' (without "/api/v1"), or NULL if there is no such
 * group.  Caller owns the result. */
json_t *cfw_group_members(struct cpm *, const char *path);

/* Records the counters host 'host_id' reported. */
void cfw_stats_update(struct cpm *, const char *host_id,
                      const Weft__RuleStats *);

/* {"packets", "bytes", "sessions", "hosts": [{"host", ...}]} summed over
 * the hosts' latest reports for the rule at 'path', or NULL if there is no
 * such rule. */
json_t *cfw_rule_stats(struct cpm *, const char *path);

#endif
