/* weft-agent's local control plane: turns a configuration into datapath
 * ports and forwarding snapshots, and exposes state on the control socket.
 *
 * Port identity is the interface name: a port that stays in the config
 * keeps its datapath port index and its open socket across reloads, so
 * traffic on unchanged segments never stops.  A port whose interface does
 * not exist (yet) is kept "pending" and retried every second; the same for
 * a tunnel socket whose underlay address is not (yet) configured.
 *
 * Everything here runs on the control thread; the datapath thread only
 * sees the snapshots published through datapath.h. */
#ifndef WEFT_AGENT_AGENT_H
#define WEFT_AGENT_AGENT_H 1

#include <stddef.h>

#include "agent/config.h"

struct agent;
struct ctl_server;
struct dp_tables;
struct dstate;
struct dstate_failures;
struct dstate_options;

/* Creates an agent with no configuration and a running datapath. */
struct agent *agent_create(void);
void agent_destroy(struct agent *); /* NULL is fine */

/* Applies 'cfg' atomically (takes ownership).  Returns 0; a port that
 * cannot open yet stays pending (logged), never failing the apply.  The
 * devices of ports that left are queued for agent_close_retired(). */
int agent_apply(struct agent *, struct agent_config *cfg);

/* Realizes desired state 'ds' (controller mode): syncs the firewall
 * objects, then either patches the published snapshot with the remote
 * bindings, local ports and flood-list endpoints changed since the last
 * realization (dstate_changes(): cost proportional to the change, plus a
 * copy of the snapshot's flat arrays; a new local port's VIF is opened
 * first, a deleted one's queued for agent_close_retired() after the
 * publish) or, for anything else, converts 'ds' whole (dstate_to_config())
 * and applies it.  'f' holds the failures of the previous realization and
 * gets those of this one. */
void agent_realize(struct agent *, struct dstate *ds,
                   const struct dstate_options *, struct dstate_failures *f);

/* Closes the devices (VIF and tunnel sockets) that agent_apply() and
 * agent_realize() took out of the published snapshot: deleted, moved or
 * reopened ports.  They only queue them, because close() of an AF_PACKET
 * socket waits ~10 ms for the kernel (synchronize_net()) and belongs after
 * the acknowledgement of the change: the main loop calls this after
 * agent_channel_run(), which writes the acknowledgements.  Safe at any time: the packet thread stopped reading
 * them when the snapshot without them was published, and the agent's
 * bookkeeping has forgotten them (an interface of a queued device may be
 * opened again meanwhile).  agent_destroy() closes what is left. */
void agent_close_retired(struct agent *);
/* How many devices wait for agent_close_retired(). */
uint32_t agent_n_retired(const struct agent *);

/* How many snapshots were patched and how many built whole. */
void agent_realize_counts(const struct agent *, uint64_t *patched,
                          uint64_t *built);

/* Loads 'path' and applies it.  On a bad file returns EINVAL, writes the
 * reason (naming the field) into 'err', and keeps the running state. */
int agent_reload(struct agent *, const char *path, char *err, size_t size);

/* Builds the forwarding snapshot of 'cfg' without ports (VIFs get port
 * indices in configuration order; no port objects): what agent_apply()
 * publishes, minus port I/O.  For simulated hosts in benchmarks and for
 * tests.  Free with dp_tables_free(). */
struct dp_tables *agent_config_tables(const struct agent_config *cfg,
                                      uint64_t generation);

/* Retries pending ports; call about once a second. */
void agent_retry_pending(struct agent *);

/* Registers the agent's commands (ports, macs, tunnels, counters). */
void agent_register_ctl(struct agent *, struct ctl_server *);

/* The firewall compiler whose objects every published snapshot carries
 * (agent-dfw.h); the controller channel keeps it in sync. */
struct agent_dfw *agent_firewall(struct agent *);
/* The datapath (for counters and conntrack queries). */
struct datapath *agent_datapath(struct agent *);
/* The applied configuration (patched along with the snapshot), NULL
 * before any; valid until the next apply or realization. */
const struct agent_config *agent_get_config(const struct agent *);
/* How many VIF slots are in use: interfaces of the configuration, open or
 * pending. */
uint32_t agent_n_vifs(const struct agent *);
/* The DHCP/RA services (agent-dhcp.h): the main loop polls their fd. */
struct agent_dhcp *agent_get_dhcp(struct agent *);
/* Gives the DHCP services a state directory for their lease file (loaded
 * now); call before the first configuration.  NULL: no persistence. */
void agent_set_state_dir(struct agent *, const char *state_dir);

#endif
