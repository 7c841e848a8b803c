/* weft-agent's DHCPv4, DHCPv6 and router advertisement services
 * (docs/routing.md): per segment of the configuration with
 * cfg.dhcp.enabled, cfg.ipv6.dhcp6 or cfg.ipv6.ra, a dhcp_server
 * (dhcp.h), a dhcp6_server (dhcp6.h) and an RA sender (ra.h) answering
 * the segment's LOCAL ports only, from frames the datapath punts
 * (punt.h), with answers injected out of the ingress port.
 *
 * Addresses are assigned centrally, so the servers have no pools: each
 * local port's MAC is statically bound to its IPv4 address inside the
 * segment's IPv4 gateway subnet (and its IPv6 address inside an IPv6
 * gateway prefix for stateful DHCPv6).  Replies come from the gateway
 * address and the router MAC.  DHCPv4 leases persist in
 * '<state_dir>/dhcp-leases' (written atomically, at most once a second
 * when they changed; loaded at start; a malformed file is logged and
 * ignored), so a client that reboots gets its INIT-REBOOT answered.
 *
 * Runs on the agent's main thread: agent_dhcp_configure() after every
 * publish, agent_dhcp_run() whenever agent_dhcp_fd() is readable or
 * agent_dhcp_next_timeout_ms() has passed.  Not thread-safe. */
#ifndef WEFT_AGENT_DHCP_H
#define WEFT_AGENT_DHCP_H 1

#include <stdint.h>

#include "agent/config.h"

struct agent_dhcp;
struct ctl_reply;
struct datapath;
struct dhcp_server;
struct dhcp6_server;
struct dp_punt_entry;

/* Creates the services for 'dp' (NULL: no datapath, frames go only to the
 * output hook; for tests).  'state_dir' NULL: no lease persistence; else
 * the lease file there is loaded now. */
struct agent_dhcp *agent_dhcp_create(struct datapath *dp,
                                     const char *state_dir);
/* Saves pending leases and frees everything.  NULL is fine. */
void agent_dhcp_destroy(struct agent_dhcp *);

/* Rebuilds the per-segment services from 'cfg' (NULL: none), keeping the
 * leases of segments that stay (matched by name).  Segment i of 'cfg' is
 * datapath segment i.  'slot_of' maps a VIF's interface name to its
 * datapath port index (UINT32_MAX: none). */
void agent_dhcp_configure(struct agent_dhcp *, const struct agent_config *cfg,
                          uint32_t (*slot_of)(const void *aux,
                                              const char *ifname),
                          const void *aux, uint64_t now_ms);

/* The eventfd to poll for punted frames (-1 without a datapath). */
int agent_dhcp_fd(const struct agent_dhcp *);
/* Answers punted frames, sends due RAs, saves leases if due. */
void agent_dhcp_run(struct agent_dhcp *, uint64_t now_ms);
/* Milliseconds until agent_dhcp_run() has timed work (at most 1000). */
int agent_dhcp_next_timeout_ms(const struct agent_dhcp *, uint64_t now_ms);

/* Handles one punted frame (what agent_dhcp_run() does per frame). */
void agent_dhcp_input(struct agent_dhcp *, const struct dp_punt_entry *,
                      uint64_t now_ms);
/* Replaces datapath_inject() as the way out (tests). */
void agent_dhcp_set_output(struct agent_dhcp *,
                           void (*fn)(void *aux, uint16_t port,
                                      const uint8_t *frame, uint32_t len),
                           void *aux);

/* The servers of datapath segment 'seg' (NULL: none), for tests. */
const struct dhcp_server *agent_dhcp_v4(const struct agent_dhcp *,
                                        uint32_t seg);
const struct dhcp6_server *agent_dhcp_v6(const struct agent_dhcp *,
                                         uint32_t seg);

/* `ctl dhcp`: per segment, the services, lease tables and counters. */
void agent_dhcp_show(const struct agent_dhcp *, uint64_t now_ms,
                     struct ctl_reply *);

#endif
