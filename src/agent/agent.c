/* weft-agent's local control plane (agent.h). */
#include "agent/agent.h"
#include "agent/agent-dfw.h"
#include "agent/agent-dhcp.h"
#include "agent/agent-state.h"
#include "datapath/dfw.h"
#include "datapath/tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ctl.h"
#include "datapath/datapath.h"
#include "datapath/kfp.h"
#include "datapath/lpm.h"
#include "datapath/port.h"
#include "lib/hash.h"
#include "lib/hmap.h"
#include "lib/log.h"
#include "lib/util.h"

#define RETRY_NS    1000000000ull /* pending ports: retry every second */
#define SPORT_BASE  49152         /* first tunnel source port */
#define SPORT_COUNT 16            /* source ports per tunnel type */

/* One datapath port index. */
struct agent_port {
    struct hmap_node node;  /* in agent.by_name (VIFs with an ifname) */
    char ifname[IFNAMSIZ];  /* interface (VIF) or label (tunnel); "" free */
    struct dp_port *port;   /* NULL while pending */
    bool offloads;          /* opened with virtio-net headers */
    bool wanted;            /* in the current configuration */
    uint64_t next_retry_ns; /* when to try opening again */
    int last_error;         /* errno of the last failed open */
};

struct agent {
    struct datapath *dp;
    struct agent_config *cfg;     /* applied configuration, NULL before any */
    struct agent_port *ports;     /* index = datapath port index */
    uint32_t n_ports;             /* slots in use: highest index + 1 */
    uint32_t cap;                 /* slots allocated */
    struct hmap by_name;          /* VIF slots with an ifname, by ifname */
    uint32_t free_hint;           /* VIF slots below it are all taken */
    uint64_t generation;          /* of the last published snapshot */
    struct agent_dfw *dfw;        /* firewall objects (controller mode) */
    struct agent_dhcp *dhcp;      /* DHCPv4/DHCPv6/RA services */
    struct dp_tables_spare spare; /* of the last retired snapshot */
    uint64_t n_patched;           /* snapshots patched (agent_realize()) */
    uint64_t n_built;             /* snapshots built whole */
    struct dp_port **retired;     /* devices out of the published snapshot,
                                     closed by agent_close_retired() */
    uint32_t n_retired;           /* entries in 'retired' */
    struct kfp *kfp;              /* kernel fast path, NULL: off */
    char kfp_error[160];          /* why it is off though asked for */
};

struct agent *
agent_create(void)
{
    struct agent *a = xcalloc(1, sizeof *a);
    struct datapath_options opts = {
        .n_buffers = 1024,
        .frame_size = DP_MAX_FRAME,
        .busy_poll = false,
    };

    a->dp = datapath_create(&opts);
    if (!a->dp) {
        free(a);
        return NULL;
    }
    a->cap = 16;
    a->dfw = agent_dfw_create();
    a->dhcp = agent_dhcp_create(a->dp, NULL);
    a->ports = xcalloc(a->cap, sizeof *a->ports);
    a->n_ports = DP_PORT_FIRST_VIF;
    hmap_init(&a->by_name);
    a->free_hint = DP_PORT_FIRST_VIF;
    strcpy(a->ports[DP_PORT_GENEVE].ifname, "geneve");
    strcpy(a->ports[DP_PORT_VXLAN].ifname, "vxlan");
    return a;
}

void
agent_destroy(struct agent *a)
{
    if (!a) {
        return;
    }
    agent_dhcp_destroy(a->dhcp); /* saves its leases */
    kfp_close(a->kfp);           /* before the sockets it filters close */
    datapath_destroy(a->dp);     /* stops the packet thread first */
    for (uint32_t i = 0; i < a->n_ports; i++) {
        dp_port_close(a->ports[i].port);
    }
    agent_close_retired(a);
    hmap_destroy(&a->by_name);
    free(a->ports);
    agent_config_free(a->cfg);
    agent_dfw_destroy(a->dfw);
    dp_tables_spare_clear(&a->spare);
    free(a);
}

static int
open_port(struct agent *a, uint32_t index)
{
    struct agent_port *ap = &a->ports[index];
    struct dp_port_config pc = {.offloads = ap->offloads};
    const struct dp_port_class *class = &dp_port_afpacket_class;
    int error;

    if (index < DP_PORT_FIRST_VIF) {
        const struct agent_config *cfg = a->cfg;
        class = &dp_port_udptun_class;
        pc.udp_port =
            index == DP_PORT_GENEVE ? cfg->geneve_port : cfg->vxlan_port;
        memcpy(pc.local_addr, cfg->local_ip.b, 16);
        pc.sport_min = (uint16_t)(SPORT_BASE + index * SPORT_COUNT);
        pc.sport_count = SPORT_COUNT;
        pc.tun_hdr_len = index == DP_PORT_GENEVE ? dp_tunnel_hdr_len_geneve
                                                 : dp_tunnel_hdr_len_vxlan;
    }
    pc.busy_poll = a->cfg->busy_poll;
    error = class->open(ap->ifname, &pc, &ap->port);
    if (error) {
        ap->port = NULL;
        if (error != ap->last_error) {
            LOG_WARN("agent", "msg=\"port pending\" port=%s error=\"%s\"",
                     ap->ifname, strerror(error));
        }
        ap->last_error = error;
        ap->next_retry_ns = time_nsec() + RETRY_NS;
        return error;
    }
    if (ap->last_error) {
        LOG_INFO("agent", "msg=\"port opened after retry\" port=%s",
                 ap->ifname);
    }
    ap->last_error = 0;
    return 0;
}

/* ---- VIF slots ----
 *
 * A VIF's slot is found by name through 'by_name', not by a scan of the
 * slots: tables are built by looking up every configured VIF, which a scan
 * made O(VIFs^2).  A slot is in 'by_name' exactly while its ifname is set
 * (find_or_alloc_slot() sets it, free_slot() clears it; nothing else
 * changes a VIF's name).  A new VIF takes the lowest free slot, as a scan
 * would find it; the scan starts at 'free_hint', so the slots of one
 * agent_apply() cost one pass in all. */

/* The VIF slot of interface 'ifname', or UINT32_MAX if none ("" names no
 * slot: free slots are not looked up by their empty name). */
static uint32_t
slot_of(const struct agent *a, const char *ifname)
{
    const struct agent_port *ap;

    HMAP_FOR_EACH_WITH_HASH (ap, node, hash_str(ifname), &a->by_name) {
        if (!strcmp(ap->ifname, ifname)) {
            return (uint32_t)(ap - a->ports);
        }
    }
    return UINT32_MAX;
}

/* Makes room for one more slot.  'by_name' points into 'ports', so it is
 * rebuilt when the array grows (O(slots) per doubling). */
static void
grow_ports(struct agent *a)
{
    a->cap *= 2;
    a->ports = xrealloc(a->ports, a->cap * sizeof *a->ports);
    hmap_destroy(&a->by_name);
    for (uint32_t i = DP_PORT_FIRST_VIF; i < a->n_ports; i++) {
        struct agent_port *ap = &a->ports[i];
        if (ap->ifname[0]) {
            hmap_insert(&a->by_name, &ap->node, ap->node.hash);
        }
    }
}

/* The VIF slot of 'ifname': its own, else the lowest free one (cleared and
 * named 'ifname'), else a new one. */
static uint32_t
find_or_alloc_slot(struct agent *a, const char *ifname)
{
    uint32_t slot = slot_of(a, ifname);
    struct agent_port *ap;

    if (slot != UINT32_MAX) {
        return slot;
    }
    for (slot = a->free_hint; slot < a->n_ports; slot++) {
        if (!a->ports[slot].ifname[0]) {
            break;
        }
    }
    if (slot == a->n_ports) {
        if (a->n_ports == a->cap) {
            grow_ports(a);
        }
        a->n_ports++;
    }
    ap = &a->ports[slot];
    memset(ap, 0, sizeof *ap);
    snprintf(ap->ifname, IFNAMSIZ, "%s", ifname);
    if (ap->ifname[0]) {
        hmap_insert(&a->by_name, &ap->node, hash_str(ap->ifname));
        a->free_hint = slot + 1;
    }
    return slot;
}

/* Frees VIF slot 'slot' for reuse (its device is the caller's to close).
 * Freeing a free slot again is harmless. */
static void
free_slot(struct agent *a, uint32_t slot)
{
    struct agent_port *ap = &a->ports[slot];

    if (ap->ifname[0]) {
        hmap_remove(&a->by_name, &ap->node);
    }
    memset(ap, 0, sizeof *ap);
    a->free_hint = MIN(a->free_hint, slot);
}

/* Adds 'cfg's routers and static routes, and the router attachment of
 * segment 'si' (after its segment was added); 'routers' maps config router
 * indices to datapath ones. */
static void
add_segment_router(struct dp_tables_builder *b, const struct cfg_segment *seg,
                   uint32_t si, const uint32_t *routers)
{
    if (seg->router == CFG_NO_ROUTER) {
        return;
    }
    dp_tb_set_segment_router(b, si, routers[seg->router], &seg->router_mac);
    for (uint32_t g = 0; g < seg->n_gateways; g++) {
        dp_tb_add_segment_gateway(b, si, seg->gateways[g].ip.b,
                                  seg->gateways[g].plen);
    }
}

static void
add_routes(struct dp_tables_builder *b, const struct agent_config *cfg,
           const uint32_t *routers)
{
    for (uint32_t r = 0; r < cfg->n_routes; r++) {
        const struct cfg_route *cr = &cfg->routes[r];
        uint8_t(*hops)[16] = xcalloc(cr->n_next_hops + 1, sizeof *hops);
        for (uint32_t h = 0; h < cr->n_next_hops; h++) {
            memcpy(hops[h], cr->next_hops[h].b, 16);
        }
        dp_tb_add_route(b, routers[cr->router], cr->prefix.ip.b,
                        cr->prefix.plen, (const uint8_t(*)[16])hops,
                        cr->n_next_hops, cr->distance);
        free(hops);
    }
}

/* Adds 'cfg's segments, ports, remote bindings and flood lists to 'b';
 * 'slot_of' maps a VIF's interface name to its datapath port index. */
static void
add_config(struct dp_tables_builder *b, const struct agent_config *cfg,
           const struct agent_dfw *dfw,
           uint32_t (*slot_of_fn)(const void *aux, const char *ifname),
           const void *aux)
{
    uint32_t *routers = xcalloc(cfg->n_routers + 1, sizeof *routers);

    dp_tb_set_underlay(b, cfg->mtu, !cfg_ip_is_v4(&cfg->local_ip, NULL));
    if (dfw && agent_dfw_sets(dfw)) {
        dp_tb_set_firewall(b, agent_dfw_sets(dfw));
    }
    for (uint32_t r = 0; r < cfg->n_routers; r++) {
        routers[r] = dp_tb_add_router(b);
    }
    for (uint32_t s = 0; s < cfg->n_segments; s++) {
        const struct cfg_segment *seg = &cfg->segments[s];
        uint32_t si = dp_tb_add_segment(
            b, seg->vni,
            seg->encap == CFG_ENCAP_VXLAN ? DP_ENCAP_VXLAN : DP_ENCAP_GENEVE);
        uint8_t punt = (seg->dhcp.enabled ? DP_PUNT_DHCP4 : 0) |
                       (seg->ipv6.dhcp6 ? DP_PUNT_DHCP6 : 0) |
                       (seg->ipv6.ra ? DP_PUNT_RS : 0);

        if (punt) { /* answered by agent-dhcp.c */
            dp_tb_set_segment_punt(b, si, punt);
        }
        add_segment_router(b, seg, si, routers);

        for (uint32_t p = 0; p < seg->n_ports; p++) {
            const struct cfg_port *cp = &seg->ports[p];
            uint32_t slot = slot_of_fn(aux, cp->ifname);
            dp_tb_add_local(b, si, (uint16_t)slot, cp->id, &cp->mac);
            if (dfw && agent_dfw_vnic(dfw, cp->id)) {
                dp_tb_set_vif_firewall(b, (uint16_t)slot,
                                       agent_dfw_vnic(dfw, cp->id));
            }
            for (uint32_t i = 0; i < cp->n_ips; i++) {
                dp_tb_add_neigh(b, si, cp->ips[i].b, &cp->mac);
            }
        }
        for (uint32_t r = 0; r < seg->n_remotes; r++) {
            const struct cfg_remote *cr = &seg->remotes[r];
            dp_tb_add_remote(b, si, &cr->mac, cr->vtep.b, cr->port_id);
            for (uint32_t i = 0; i < cr->n_ips; i++) {
                dp_tb_add_neigh(b, si, cr->ips[i].b, &cr->mac);
            }
        }
        for (uint32_t f = 0; f < seg->n_flood_vteps; f++) {
            dp_tb_add_flood(b, si, seg->flood_vteps[f].b);
        }
    }
    add_routes(b, cfg, routers);
    free(routers);
}

static uint32_t
agent_slot_of(const void *a, const char *ifname)
{
    return slot_of(a, ifname);
}

/* Builds a snapshot of the applied configuration and the open ports. */
static struct dp_tables *
build_tables(struct agent *a)
{
    struct dp_tables_builder *b = dp_tables_builder_create(++a->generation);
    struct dp_port **ports = xcalloc(a->n_ports, sizeof *ports);

    a->n_built++;
    for (uint32_t i = 0; i < a->n_ports; i++) {
        ports[i] = a->ports[i].port;
    }
    dp_tb_set_ports(b, ports, a->n_ports);
    free(ports);
    add_config(b, a->cfg, a->dfw, agent_slot_of, a);
    return dp_tables_build(b);
}

/* Port-less builds number VIFs in the order they come. */
struct ordinal_slots {
    uint32_t next;
};

static uint32_t
ordinal_slot_of(const void *aux, const char *ifname)
{
    struct ordinal_slots *o = (struct ordinal_slots *)aux;
    (void)ifname;
    return o->next++;
}

struct dp_tables *
agent_config_tables(const struct agent_config *cfg, uint64_t generation)
{
    struct dp_tables_builder *b = dp_tables_builder_create(generation);
    struct ordinal_slots o = {DP_PORT_FIRST_VIF};

    add_config(b, cfg, NULL, ordinal_slot_of, &o);
    return dp_tables_build(b);
}

/* Queues the 'n' devices of 'ports', which the published snapshot no
 * longer holds, for agent_close_retired().  Closing them here would put
 * close() of each AF_PACKET socket (~10 ms: the kernel's
 * synchronize_net()) before the acknowledgement of the change. */
static void
retire_ports(struct agent *a, struct dp_port **ports, uint32_t n)
{
    if (!n) {
        return;
    }
    a->retired = xrealloc(a->retired, (a->n_retired + n) * sizeof *a->retired);
    memcpy(&a->retired[a->n_retired], ports, n * sizeof *ports);
    a->n_retired += n;
}

void
agent_close_retired(struct agent *a)
{
    for (uint32_t i = 0; i < a->n_retired; i++) {
        dp_port_close(a->retired[i]);
    }
    free(a->retired);
    a->retired = NULL;
    a->n_retired = 0;
}

uint32_t
agent_n_retired(const struct agent *a)
{
    return a->n_retired;
}

/* The kernel fast path (decision 70): opened when options.kernel_fastpath
 * asks for it (again when the tunnel addressing changes), closed when it
 * no longer does.  An open that fails leaves the agent without one and
 * says why in the log and in `ctl fastpath`. */
static void
fastpath_configure(struct agent *a, bool tunnels_changed)
{
    const struct agent_config *cfg = a->cfg;

    if (a->kfp && (tunnels_changed || !cfg->kernel_fastpath)) {
        kfp_close(a->kfp);
        a->kfp = NULL;
    }
    if (!cfg->kernel_fastpath) {
        a->kfp_error[0] = '\0';
        return;
    }
    if (!a->kfp) {
        struct kfp_underlay u = {
            .geneve_port = cfg->geneve_port,
            .vxlan_port = cfg->vxlan_port,
            .sport_min = {SPORT_BASE + DP_PORT_GENEVE * SPORT_COUNT,
                          SPORT_BASE + DP_PORT_VXLAN * SPORT_COUNT},
            .sport_count = SPORT_COUNT,
        };
        memcpy(u.local_ip, cfg->local_ip.b, 16);
        a->kfp = kfp_open(&u, a->kfp_error, sizeof a->kfp_error);
        if (!a->kfp) {
            LOG_WARN("agent",
                     "msg=\"kernel fast path not available; the pipeline "
                     "carries everything\" reason=\"%s\"",
                     a->kfp_error);
        } else {
            a->kfp_error[0] = '\0';
        }
    }
}

/* Publishes 't' and brings the kernel fast path in line with it; returns
 * the snapshot it replaced. */
static struct dp_tables *
publish_tables(struct agent *a, struct dp_tables *t)
{
    struct dp_tables *old;

    if (a->kfp) {
        kfp_sync_begin(a->kfp, t);
    }
    old = datapath_publish(a->dp, t);

    if (a->kfp) {
        kfp_sync(a->kfp, t);
    }
    return old;
}

/* Publishes a snapshot of the current state, then queues 'retired' to be
 * closed (the packet thread no longer reads them once datapath_publish()
 * returns). */
static void
publish(struct agent *a, struct dp_port **retired, uint32_t n_retired)
{
    struct dp_tables *old = publish_tables(a, build_tables(a));

    dp_tables_free_spare(old, &a->spare);
    agent_dhcp_configure(a->dhcp, a->cfg, agent_slot_of, a,
                         time_nsec() / 1000000);
    retire_ports(a, retired, n_retired);
}

static bool
tunnel_config_changed(const struct agent_config *old,
                      const struct agent_config *new_)
{
    return !old || memcmp(&old->local_ip, &new_->local_ip, 16) ||
           old->geneve_port != new_->geneve_port ||
           old->vxlan_port != new_->vxlan_port ||
           old->busy_poll != new_->busy_poll;
}

int
agent_apply(struct agent *a, struct agent_config *cfg)
{
    struct dp_port **retired = xcalloc(a->n_ports + 2, sizeof *retired);
    uint32_t n_retired = 0, n_vifs = 0;
    bool reopen_tunnels = tunnel_config_changed(a->cfg, cfg);
    struct agent_config *old_cfg = a->cfg;

    a->cfg = cfg;

    /* Tunnels: reopen only if their addressing changed. */
    for (uint32_t i = 0; i < DP_PORT_FIRST_VIF; i++) {
        if (reopen_tunnels) {
            if (a->ports[i].port) {
                retired[n_retired++] = a->ports[i].port;
            }
            a->ports[i].port = NULL;
            a->ports[i].last_error = 0;
            a->ports[i].next_retry_ns = 0;
        }
        a->ports[i].wanted = true;
    }

    /* VIFs: keep the ones that stay, retire the ones that left. */
    for (uint32_t i = DP_PORT_FIRST_VIF; i < a->n_ports; i++) {
        a->ports[i].wanted = false;
    }
    for (uint32_t s = 0; s < cfg->n_segments; s++) {
        for (uint32_t p = 0; p < cfg->segments[s].n_ports; p++) {
            const char *ifname = cfg->segments[s].ports[p].ifname;
            uint32_t slot = slot_of(a, ifname);
            if (slot != UINT32_MAX) {
                a->ports[slot].wanted = true;
            }
        }
    }
    for (uint32_t i = DP_PORT_FIRST_VIF; i < a->n_ports; i++) {
        struct agent_port *ap = &a->ports[i];
        if (ap->ifname[0] && (!ap->wanted || ap->offloads != cfg->offloads)) {
            if (ap->port) {
                retired = xrealloc(retired, (n_retired + 1) * sizeof *retired);
                retired[n_retired++] = ap->port;
            }
            if (!ap->wanted) {
                free_slot(a, i);
            } else {
                ap->port = NULL; /* reopen with the new offload setting */
                ap->last_error = 0;
                ap->next_retry_ns = 0;
            }
        }
    }
    for (uint32_t s = 0; s < cfg->n_segments; s++) {
        for (uint32_t p = 0; p < cfg->segments[s].n_ports; p++) {
            uint32_t slot =
                find_or_alloc_slot(a, cfg->segments[s].ports[p].ifname);
            a->ports[slot].wanted = true;
            a->ports[slot].offloads = cfg->offloads;
            n_vifs++;
        }
    }
    /* Open new ports now; ports already pending keep their retry
     * schedule (agent_retry_pending()), so a change elsewhere does not pay
     * for failing opens again. */
    uint64_t now = time_nsec();
    for (uint32_t i = 0; i < a->n_ports; i++) {
        if (a->ports[i].wanted && !a->ports[i].port &&
            now >= a->ports[i].next_retry_ns) {
            open_port(a, i);
        }
    }

    fastpath_configure(a, reopen_tunnels);
    publish(a, retired, n_retired);
    free(retired);
    agent_config_free(old_cfg);
    LOG_INFO("agent",
             "msg=\"configuration applied\" generation=%" PRIu64
             " segments=%" PRIu32 " ports=%" PRIu32 " retired=%" PRIu32,
             a->generation, cfg->n_segments, n_vifs, n_retired);
    return 0;
}

/* ---- Incremental realization (agent_realize()). ---- */

/* A copy of 'n' addresses (never NULL). */
static struct cfg_ip *
ips_dup(const struct cfg_ip *ips, uint32_t n)
{
    struct cfg_ip *c = xcalloc(n + 1, sizeof *c);
    if (n) {
        memcpy(c, ips, n * sizeof *c);
    }
    return c;
}

/* Grows array ARR of N elements by one; the new element's address. */
#define ARRAY_PUSH(ARR, N)                                                     \
    ((ARR) = xrealloc((ARR), ((N) + 1) * sizeof *(ARR)), &(ARR)[(N)++])

/* Removes the remote binding with 'mac' from configuration segment 'cs'. */
static void
cfg_del_remote(struct cfg_segment *cs, const struct eth_addr *mac)
{
    for (uint32_t i = 0; i < cs->n_remotes; i++) {
        if (eth_addr_equals(&cs->remotes[i].mac, mac)) {
            free(cs->remotes[i].ips);
            cs->remotes[i] = cs->remotes[--cs->n_remotes];
            return;
        }
    }
}

/* Removes the local port on 'ifname' from configuration segment 'cs'. */
static void
cfg_del_port(struct cfg_segment *cs, const char *ifname)
{
    for (uint32_t i = 0; i < cs->n_ports; i++) {
        if (!strcmp(cs->ports[i].ifname, ifname)) {
            free(cs->ports[i].ips);
            cs->ports[i] = cs->ports[--cs->n_ports];
            return;
        }
    }
}

/* Removes 'vtep' from the flood list of configuration segment 'cs'. */
static void
cfg_del_flood(struct cfg_segment *cs, const struct cfg_ip *vtep)
{
    for (uint32_t i = 0; i < cs->n_flood_vteps; i++) {
        if (!memcmp(&cs->flood_vteps[i], vtep, sizeof *vtep)) {
            cs->flood_vteps[i] = cs->flood_vteps[--cs->n_flood_vteps];
            return;
        }
    }
}

/* Applies operation 'op' (patched into the snapshot) to the
 * configuration. */
static void
cfg_apply_op(struct agent_config *cfg, const struct dstate_op *op)
{
    struct cfg_segment *cs = &cfg->segments[op->segment];

    if (op->kind == DSTATE_OP_REMOTE && op->add) {
        struct cfg_remote *c = ARRAY_PUSH(cs->remotes, cs->n_remotes);
        *c = op->remote;
        c->ips = ips_dup(op->remote.ips, op->remote.n_ips);
    } else if (op->kind == DSTATE_OP_REMOTE) {
        cfg_del_remote(cs, &op->remote.mac);
    } else if (op->kind == DSTATE_OP_PORT && op->add) {
        struct cfg_port *c = ARRAY_PUSH(cs->ports, cs->n_ports);
        *c = op->port;
        c->ips = ips_dup(op->port.ips, op->port.n_ips);
    } else if (op->kind == DSTATE_OP_PORT) {
        cfg_del_port(cs, op->port.ifname);
    } else if (op->add) {
        *ARRAY_PUSH(cs->flood_vteps, cs->n_flood_vteps) = op->vtep;
    } else {
        cfg_del_flood(cs, &op->vtep);
    }
}

/* Adds (or deletes) the neighbour entries of 'n' addresses owned by 'mac'
 * in 'segment' of the copy 't'; false if one is taken (missing). */
static bool
patch_neighs(struct dp_tables *t, bool add, uint32_t segment,
             const struct cfg_ip *ips, uint32_t n, const struct eth_addr *mac)
{
    for (uint32_t i = 0; i < n; i++) {
        if (add ? !dp_tables_add_neigh(t, segment, ips[i].b, mac)
                : !dp_tables_del_neigh(t, segment, ips[i].b, mac)) {
            return false;
        }
    }
    return true;
}

/* One remote-binding operation on the copy 't'; false if a full build
 * must do it. */
static bool
patch_remote(struct dp_tables *t, const struct agent_config *cfg,
             const struct dstate_op *op)
{
    const struct cfg_remote *r = &op->remote;

    if (!op->add) {
        return patch_neighs(t, false, op->segment, r->ips, r->n_ips, &r->mac) &&
               dp_tables_del_remote(t, op->segment, &r->mac);
    }
    return memcmp(&r->vtep, &cfg->local_ip, sizeof r->vtep) &&
           dp_tables_add_remote(t, op->segment, &r->mac, r->vtep.b,
                                r->port_id) &&
           patch_neighs(t, true, op->segment, r->ips, r->n_ips, &r->mac);
}

/* Whether a VIF of 't' is bound as logical port 'lport'. */
static bool
lport_bound(const struct dp_tables *t, uint32_t lport)
{
    for (uint32_t i = DP_PORT_FIRST_VIF; i < t->n_ports; i++) {
        if (t->vifs[i].segment != DP_SEG_NONE && t->vifs[i].lport == lport) {
            return true;
        }
    }
    return false;
}

/* The VIF slots a patch touches: those it unbinds and those it claims for
 * an interface that had none (opened when the patch succeeded). */
struct slot_changes {
    uint32_t *slots;
    uint32_t n;
};

/* One local-port operation on the copy 't'; false if a full build must do
 * it (then the slots claimed stay unopened, and agent_apply() frees those
 * the configuration does not name).  An addition takes over the slot, and
 * the open device, of a port on the same interface deleted before it. */
static bool
patch_port(struct agent *a, struct dp_tables *t, const struct dstate_op *op,
           struct slot_changes *sc)
{
    const struct cfg_port *p = &op->port;
    uint32_t slot;

    if (!p->ifname[0]) {
        return false; /* no interface, no slot of its own */
    }
    slot = slot_of(a, p->ifname);
    if (!op->add) {
        if (slot == UINT32_MAX ||
            !dp_tables_del_local(t, op->segment, (uint16_t)slot, &p->mac)) {
            return false;
        }
        *ARRAY_PUSH(sc->slots, sc->n) = slot;
        return patch_neighs(t, false, op->segment, p->ips, p->n_ips, &p->mac);
    }
    /* The conversion would leave out one of two ports on one interface or
     * with one logical port id (which one depends on the order). */
    if ((slot != UINT32_MAX && t->vifs[slot].segment != DP_SEG_NONE) ||
        lport_bound(t, p->id)) {
        return false;
    }
    if (slot == UINT32_MAX) {
        slot = find_or_alloc_slot(a, p->ifname);
        if (slot > UINT16_MAX) {
            return false;
        }
        a->ports[slot].wanted = true;
        a->ports[slot].offloads = a->cfg->offloads;
        *ARRAY_PUSH(sc->slots, sc->n) = slot;
    }
    return dp_tables_add_local(t, op->segment, (uint16_t)slot, p->id,
                               &p->mac) &&
           patch_neighs(t, true, op->segment, p->ips, p->n_ips, &p->mac);
}

/* One operation on the copy 't'; false if a full build must do it. */
static bool
patch_op(struct agent *a, struct dp_tables *t, const struct dstate_op *op,
         struct slot_changes *sc)
{
    if (op->segment >= a->cfg->n_segments) {
        return false;
    }
    switch (op->kind) {
    case DSTATE_OP_REMOTE:
        return patch_remote(t, a->cfg, op);
    case DSTATE_OP_PORT:
        return patch_port(a, t, op, sc);
    case DSTATE_OP_FLOOD:
        return op->add ? dp_tables_add_flood(t, op->segment, op->vtep.b)
                       : dp_tables_del_flood(t, op->segment, op->vtep.b);
    }
    return false;
}

/* After a successful patch: opens the VIFs of the slots claimed and sets
 * them in 't'; frees the slots left unbound and returns their devices in
 * '*retired' (queued for closing once 't' is published). */
static uint32_t
commit_slots(struct agent *a, struct dp_tables *t,
             const struct slot_changes *sc, struct dp_port ***retired)
{
    uint32_t n_retired = 0;

    *retired = xcalloc(sc->n + 1, sizeof **retired);
    for (uint32_t i = 0; i < sc->n; i++) {
        uint32_t slot = sc->slots[i];
        struct agent_port *ap = &a->ports[slot];

        if (t->vifs[slot].segment == DP_SEG_NONE) {
            if (ap->port) {
                (*retired)[n_retired++] = ap->port;
            }
            free_slot(a, slot);
        } else if (!ap->port && !ap->next_retry_ns) {
            open_port(a, slot); /* claimed now: pending if it fails */
        }
        dp_tables_set_port(t, (uint16_t)slot, ap->port);
    }
    return n_retired;
}

/* Publishes a copy of the current snapshot patched with 'ops' and the
 * current firewall objects, and patches the configuration (and VIFs) to
 * match.  Returns false, having changed nothing that a full build does
 * not redo, if a full build must do it. */
static bool
apply_ops(struct agent *a, const struct dstate_op *ops, size_t n_ops)
{
    const struct dp_tables *cur = datapath_tables(a->dp);
    struct slot_changes sc = {NULL, 0};
    struct dp_port **retired;
    struct dp_tables *t;
    uint32_t n_retired;
    bool ports = false;

    if (!a->cfg || cur->generation != a->generation ||
        !(t = dp_tables_clone(cur, a->generation + 1, &a->spare))) {
        return false;
    }
    for (size_t i = 0; i < n_ops; i++) {
        if (!patch_op(a, t, &ops[i], &sc)) {
            dp_tables_free(t);
            free(sc.slots);
            return false;
        }
        ports |= ops[i].kind == DSTATE_OP_PORT;
    }
    n_retired = commit_slots(a, t, &sc, &retired);
    free(sc.slots);
    /* The firewall objects as add_config() sets them. */
    dp_tables_patch_firewall(t, agent_dfw_sets(a->dfw));
    for (uint32_t i = DP_PORT_FIRST_VIF; i < t->n_ports; i++) {
        if (t->vifs[i].segment != DP_SEG_NONE) {
            dp_tables_patch_vif_firewall(
                t, (uint16_t)i, agent_dfw_vnic(a->dfw, t->vifs[i].lport));
        }
    }
    dp_tables_finish(t);
    dp_tables_free_spare(publish_tables(a, t), &a->spare);
    a->generation = t->generation;
    a->n_patched++;
    retire_ports(a, retired, n_retired);
    free(retired);

    for (size_t i = 0; i < n_ops; i++) {
        cfg_apply_op(a->cfg, &ops[i]);
    }
    if (ports) {
        agent_dhcp_configure(a->dhcp, a->cfg, agent_slot_of, a,
                             time_nsec() / 1000000);
    }
    LOG_DEBUG("agent",
              "msg=\"snapshot patched\" generation=%" PRIu64 " changes=%zu",
              a->generation, n_ops);
    return true;
}

/* Whether 'o' gives the applied configuration's underlay MTU, VIF
 * offloads and kernel fast path setting (a change needs a full build). */
static bool
same_options(const struct agent_config *cfg, const struct dstate_options *o)
{
    return cfg && cfg->mtu == (o->mtu ? o->mtu : 1500) &&
           cfg->offloads == o->offloads &&
           cfg->kernel_fastpath == o->kernel_fastpath;
}

void
agent_realize(struct agent *a, struct dstate *ds,
              const struct dstate_options *o, struct dstate_failures *f)
{
    const struct dstate_op *ops;
    struct agent_config *cfg;
    size_t n_ops;
    bool fw_changed = agent_dfw_sync(a->dfw, ds);

    /* Patch when the last realization was complete (no failures: every
     * object is in the configuration, so no left-out one can come back)
     * and only bindings, ports, flood lists and firewall objects changed
     * since. */
    if (!f->n && same_options(a->cfg, o) && dstate_changes(ds, &ops, &n_ops) &&
        ((!n_ops && !fw_changed) || apply_ops(a, ops, n_ops))) {
        dstate_changes_done(ds);
        return;
    }
    dstate_failures_clear(f);
    cfg = dstate_to_config(ds, o, f);
    if (cfg) {
        agent_apply(a, cfg);
    }
}

void
agent_realize_counts(const struct agent *a, uint64_t *patched, uint64_t *built)
{
    *patched = a->n_patched;
    *built = a->n_built;
}

int
agent_reload(struct agent *a, const char *path, char *err, size_t size)
{
    struct agent_config *cfg;
    int error = agent_config_load(path, &cfg, err, size);

    if (error) {
        LOG_ERROR("agent",
                  "msg=\"configuration rejected, keeping the "
                  "running one\" error=\"%s\"",
                  err);
        return error;
    }
    return agent_apply(a, cfg);
}

void
agent_retry_pending(struct agent *a)
{
    uint64_t now = time_nsec();
    bool opened = false;

    if (!a->cfg) {
        return;
    }
    for (uint32_t i = 0; i < a->n_ports; i++) {
        struct agent_port *ap = &a->ports[i];
        if (ap->wanted && !ap->port && now >= ap->next_retry_ns &&
            !open_port(a, i)) {
            opened = true;
        }
    }
    if (opened) {
        publish(a, NULL, 0);
    }
}

/* ---- Control socket commands. ---- */

static const char *
segment_name_of_slot(const struct agent *a, uint32_t slot, uint32_t *lport)
{
    const struct agent_config *cfg = a->cfg;
    for (uint32_t s = 0; cfg && s < cfg->n_segments; s++) {
        for (uint32_t p = 0; p < cfg->segments[s].n_ports; p++) {
            const struct cfg_port *cp = &cfg->segments[s].ports[p];
            if (!strcmp(cp->ifname, a->ports[slot].ifname)) {
                *lport = cp->id;
                return cfg->segments[s].name;
            }
        }
    }
    return "-";
}

static int
cmd_ports(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    (void)argc;
    (void)argv;
    ctl_reply_printf(r, "%-5s %-15s %-8s %-8s %-12s %-8s %12s %12s %10s %10s\n",
                     "index", "name", "type", "state", "segment", "lport",
                     "rx_packets", "tx_packets", "tx_drops", "rx_drops");
    for (uint32_t i = 0; i < a->n_ports; i++) {
        const struct agent_port *ap = &a->ports[i];
        uint32_t lport = 0;
        const char *seg = "-";
        if (!ap->ifname[0] || !ap->wanted) {
            continue;
        }
        if (i >= DP_PORT_FIRST_VIF) {
            seg = segment_name_of_slot(a, i, &lport);
        }
        const struct dp_port_stats *st = ap->port ? &ap->port->stats : NULL;
        uint64_t rx = st ? st->rx_packets : 0, tx = st ? st->tx_packets : 0;
        uint64_t fp_rx, fp_rx_bytes, fp_tx, fp_tx_bytes;
        /* A VIF's frames in both paths: the kernel fast path's too. */
        if (a->kfp && i >= DP_PORT_FIRST_VIF &&
            kfp_get_vif_stats(a->kfp, i, &fp_rx, &fp_rx_bytes, &fp_tx,
                              &fp_tx_bytes)) {
            rx += fp_rx;
            tx += fp_tx;
        }
        ctl_reply_printf(
            r,
            "%-5" PRIu32 " %-15s %-8s %-8s %-12s %-8" PRIu32 " %12" PRIu64
            " %12" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
            i, ap->ifname, i < DP_PORT_FIRST_VIF ? "tunnel" : "vif",
            ap->port ? "up" : "pending", seg, lport, rx, tx,
            st ? st->tx_dropped : 0, st ? st->rx_dropped : 0);
    }
    return 0;
}

static void
format_mac(const struct eth_addr *m, char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m->b[0], m->b[1],
             m->b[2], m->b[3], m->b[4], m->b[5]);
}

static int
cmd_macs(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    const struct agent_config *cfg = a->cfg;
    const char *only = argc > 1 ? argv[1] : NULL;
    char mac[18], ip[64];

    if (only) {
        bool found = false;
        for (uint32_t s = 0; cfg && s < cfg->n_segments; s++) {
            found |= !strcmp(only, cfg->segments[s].name);
        }
        if (!found) {
            ctl_reply_printf(r, "no segment named \"%s\"\n", only);
            return 1;
        }
    }
    ctl_reply_printf(r, "%-12s %-8s %-17s %-7s %-15s %s\n", "segment", "vni",
                     "mac", "where", "port/vtep", "lport");
    for (uint32_t s = 0; cfg && s < cfg->n_segments; s++) {
        const struct cfg_segment *seg = &cfg->segments[s];
        if (only && strcmp(only, seg->name)) {
            continue;
        }
        for (uint32_t p = 0; p < seg->n_ports; p++) {
            format_mac(&seg->ports[p].mac, mac);
            ctl_reply_printf(
                r, "%-12s %-8" PRIu32 " %-17s %-7s %-15s %" PRIu32 "\n",
                seg->name, seg->vni, mac, "local", seg->ports[p].ifname,
                seg->ports[p].id);
        }
        for (uint32_t i = 0; i < seg->n_remotes; i++) {
            format_mac(&seg->remotes[i].mac, mac);
            cfg_ip_format(&seg->remotes[i].vtep, ip, sizeof ip);
            ctl_reply_printf(
                r, "%-12s %-8" PRIu32 " %-17s %-7s %-15s %" PRIu32 "\n",
                seg->name, seg->vni, mac, "remote", ip,
                seg->remotes[i].port_id);
        }
    }
    return 0;
}

static int
cmd_tunnels(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    const struct agent_config *cfg = a->cfg;
    char ip[64];
    (void)argc;
    (void)argv;

    if (!cfg) {
        ctl_reply_printf(r, "no configuration\n");
        return 0;
    }
    cfg_ip_format(&cfg->local_ip, ip, sizeof ip);
    ctl_reply_printf(r,
                     "local endpoint %s, geneve udp/%u, vxlan udp/%u, "
                     "underlay mtu %" PRIu32 "\n",
                     ip, cfg->geneve_port, cfg->vxlan_port, cfg->mtu);
    for (uint32_t i = 0; i < DP_PORT_FIRST_VIF; i++) {
        const struct agent_port *ap = &a->ports[i];
        const struct dp_port_stats *st = ap->port ? &ap->port->stats : NULL;
        ctl_reply_printf(r,
                         "  %-6s %-7s rx %" PRIu64 " tx %" PRIu64
                         " tx_dropped %" PRIu64 "\n",
                         ap->ifname, ap->port ? "up" : "pending",
                         st ? st->rx_packets : 0, st ? st->tx_packets : 0,
                         st ? st->tx_dropped : 0);
    }
    ctl_reply_printf(r, "peers:\n");
    for (uint32_t s = 0; s < cfg->n_segments; s++) {
        const struct cfg_segment *seg = &cfg->segments[s];
        for (uint32_t f = 0; f < seg->n_flood_vteps; f++) {
            cfg_ip_format(&seg->flood_vteps[f], ip, sizeof ip);
            ctl_reply_printf(
                r, "  %-15s segment %s vni %" PRIu32 " %s\n", ip, seg->name,
                seg->vni, seg->encap == CFG_ENCAP_VXLAN ? "vxlan" : "geneve");
        }
    }
    return 0;
}

static int
cmd_counters(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    struct dp_counters c;
    (void)argc;
    (void)argv;

    datapath_get_counters(a->dp, &c);
    /* Frames the ports refused before the pipeline saw them, under the
     * same reasons (struct dp_port_stats); open ports only. */
    for (uint32_t i = 0; i < a->n_ports; i++) {
        const struct dp_port *port = a->ports[i].port;
        if (port) {
            c.drops[DP_DROP_GSO_BAD] += port->stats.rx_gso_bad;
            c.drops[DP_DROP_TOO_BIG] += port->stats.rx_too_big;
        }
    }
#define SHOW(F) ctl_reply_printf(r, "%-16s %" PRIu64 "\n", #F, c.F)
    SHOW(rx_packets);
    SHOW(tx_packets);
    SHOW(l2_local);
    SHOW(l2_remote);
    SHOW(flow_cache_hits);
    SHOW(flooded);
    SHOW(replicas);
    SHOW(decap);
    SHOW(arp_replies);
    SHOW(nd_replies);
    SHOW(gso_frames);
    SHOW(gso_segments);
    SHOW(csum_completed);
    SHOW(gro_merged);
    SHOW(punted);
    SHOW(routed);
    SHOW(ip_fragments);
    SHOW(icmp_errors_sent);
    SHOW(icmp_errors_suppressed);
    SHOW(router_echo_replies);
#undef SHOW
    ctl_reply_printf(r, "drops:\n");
    for (int d = 1; d < DP_DROP_N_REASONS; d++) {
        if (c.drops[d]) {
            ctl_reply_printf(r, "  %-20s %-10" PRIu64 " %s\n",
                             dp_drop_name((enum dp_drop)d), c.drops[d],
                             dp_drop_description((enum dp_drop)d));
        }
    }
    return 0;
}

static int
cmd_fastpath(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    struct kfp_stats st;
    (void)argc;
    (void)argv;

    if (!a->kfp) {
        ctl_reply_printf(
            r, "kernel fast path: off%s%s\n", a->kfp_error[0] ? ": " : "",
            a->kfp_error[0] ? a->kfp_error : " (options.kernel_fastpath)");
        return 0;
    }
    kfp_get_stats(a->kfp, &st);
    ctl_reply_printf(r, "kernel fast path: on\n");
    ctl_reply_printf(r,
                     "entries: vifs %" PRIu32 " segments %" PRIu32
                     " macs %" PRIu32 " peers %" PRIu32 "\n",
                     st.vifs, st.segments, st.macs, st.peers);
#define SHOW(F) ctl_reply_printf(r, "%-16s %" PRIu64 "\n", #F, st.F)
    SHOW(local);
    SHOW(encap);
    SHOW(decap);
    SHOW(err_encap);
    SHOW(err_decap);
    SHOW(err_redirect);
#undef SHOW
    ctl_reply_printf(r, "%-5s %-15s %14s %14s %14s %14s\n", "index", "name",
                     "from_vm_pkts", "from_vm_bytes", "to_vm_pkts",
                     "to_vm_bytes");
    for (uint32_t i = DP_PORT_FIRST_VIF; i < a->n_ports; i++) {
        uint64_t fp, fb, tp, tb;
        if (!a->ports[i].ifname[0] || !a->ports[i].wanted ||
            !kfp_get_vif_stats(a->kfp, i, &fp, &fb, &tp, &tb)) {
            continue;
        }
        ctl_reply_printf(r,
                         "%-5" PRIu32 " %-15s %14" PRIu64 " %14" PRIu64
                         " %14" PRIu64 " %14" PRIu64 "\n",
                         i, a->ports[i].ifname, fp, fb, tp, tb);
    }
    return 0;
}

/* An address of the tables (IPv4-mapped or IPv6) as text. */
static const char *
format_addr(const uint8_t addr[16], char *buf, size_t size)
{
    struct cfg_ip ip;
    memcpy(ip.b, addr, 16);
    return cfg_ip_format(&ip, buf, size);
}

/* The name of datapath segment 'seg' (the config's order). */
static const char *
segment_name(const struct agent *a, uint32_t seg)
{
    return a->cfg && seg < a->cfg->n_segments ? a->cfg->segments[seg].name
                                              : "?";
}

static int
cmd_routes(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    const struct dp_tables *t = datapath_tables(a->dp);
    static const char *const kinds[] = {"via", "discard", "local"};
    char p[INET6_ADDRSTRLEN], h[INET6_ADDRSTRLEN];
    (void)argc;
    (void)argv;

    for (uint32_t ri = 0; ri < t->n_routers; ri++) {
        const struct dp_router *rt = &t->routers[ri];
        const char *id =
            a->cfg && ri < a->cfg->n_routers ? a->cfg->routers[ri] : "?";
        ctl_reply_printf(r,
                         "router %s: %" PRIu32 " routes, %" PRIu32
                         " unresolved next hops, %" PRIu32
                         " unused static routes, lpm %zu + %zu bytes\n",
                         id, rt->n_routes, rt->n_unresolved,
                         rt->n_routes_unused, lpm4_bytes(rt->lpm4),
                         lpm6_bytes(rt->lpm6));
        for (uint32_t i = 0; i < rt->n_routes; i++) {
            const struct dp_route_info *ri_ = &rt->routes[i];
            const struct dp_nh_group *g = &rt->groups[ri_->group];
            ctl_reply_printf(r, "  %s/%u [%u] %s",
                             format_addr(ri_->prefix, p, sizeof p), ri_->plen,
                             ri_->distance, kinds[g->kind <= 2 ? g->kind : 0]);
            for (uint32_t k = 0; g->kind == DP_NHG_FORWARD && k < g->n; k++) {
                const struct dp_nexthop *nh = &rt->nhs[g->first + k];
                ctl_reply_printf(r, " %s%s", k ? ", " : "",
                                 segment_name(a, nh->segment));
                if (!nh->direct) {
                    ctl_reply_printf(r, " %s",
                                     format_addr(nh->addr, h, sizeof h));
                }
            }
            ctl_reply_printf(r, "\n");
        }
    }
    if (!t->n_routers) {
        ctl_reply_printf(r, "no routers\n");
    }
    return 0;
}

struct fw_show {
    struct agent *a;
    struct ctl_reply *r;
};

static void
fw_show_rule(void *aux, uint32_t id, const char *path)
{
    struct fw_show *fs = aux;
    struct dfw_rule_counters c;

    datapath_get_rule_counters(fs->a->dp, id, &c);
    ctl_reply_printf(fs->r,
                     "  rule %-6" PRIu32 " packets %-10" PRIu64
                     " bytes %-12" PRIu64 " sessions %-8" PRIu64 " %s\n",
                     id, c.packets, c.bytes, c.sessions, path);
}

static int
cmd_firewall(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    struct agent_dfw_stats st;
    struct dfw_stats fst;
    struct dfw_rule_counters dc;
    struct fw_show fs = {a, r};
    (void)argc;
    (void)argv;

    agent_dfw_get_stats(a->dfw, &st);
    datapath_get_fw_stats(a->dp, &fst);
    ctl_reply_printf(r,
                     "rules %" PRIu32 " address-sets %" PRIu32
                     " members %" PRIu32 " vnics-with-firewall %" PRIu32
                     " compiles %" PRIu64 " set-builds %" PRIu64
                     " renewals %" PRIu64 "\n",
                     st.rules, st.sets, st.members, st.vnics, st.compiles,
                     st.set_builds, st.renewals);
    const struct dfw_sets *sets = a->dfw ? agent_dfw_sets(a->dfw) : NULL;
    ctl_reply_printf(r, "tcp-tracking %s (for new connections)\n",
                     sets && sets->tcp_mode == DFW_TCP_STRICT ? "strict"
                                                              : "loose");
    ctl_reply_printf(r,
                     "checked %" PRIu64 " established %" PRIu64
                     " classified %" PRIu64 " sessions %" PRIu64
                     " revalidated %" PRIu64 " reval-dropped %" PRIu64
                     " rejects-sent %" PRIu64 " rejects-limited %" PRIu64 "\n",
                     fst.checked, fst.established, fst.classified, fst.sessions,
                     fst.revalidated, fst.reval_dropped, fst.rejects_sent,
                     fst.rejects_limited);
    if (a->cfg) {
        for (uint32_t s = 0; s < a->cfg->n_segments; s++) {
            const struct cfg_segment *seg = &a->cfg->segments[s];
            for (uint32_t p = 0; p < seg->n_ports; p++) {
                const struct cfg_port *cp = &seg->ports[p];
                const struct dfw_vnic *v = agent_dfw_vnic(a->dfw, cp->id);
                ctl_reply_printf(
                    r, "vnic %s lport %" PRIu32 " firewall %s spoofguard %s\n",
                    cp->name, cp->id,
                    !v       ? "off"
                    : v->cls ? "on"
                             : "off",
                    v && v->spoofguard ? "on" : "off");
            }
        }
    }
    datapath_collect_counts(a->dp); /* established flows' latest packets */
    datapath_get_rule_counters(a->dp, AGENT_DFW_DEFAULT_RULE, &dc);
    ctl_reply_printf(r,
                     "  rule %-6d packets %-10" PRIu64 " bytes %-12" PRIu64
                     " sessions %-8" PRIu64 " default\n",
                     AGENT_DFW_DEFAULT_RULE, dc.packets, dc.bytes, dc.sessions);
    agent_dfw_rules_foreach(a->dfw, fw_show_rule, &fs);
    return 0;
}

#define CT_SHOW_DEFAULT_LIMIT 1000

/* What `ctl conntrack` lists: one vNIC's connections or all, up to a
 * limit. */
struct ct_show {
    struct ctl_reply *r;
    bool one_zone;
    uint32_t zone;  /* with one_zone */
    uint64_t limit; /* UINT64_MAX: --all */
    uint64_t shown;
    bool stopped; /* at the limit, with more to list */
};

static bool
ct_show(void *cs_, const struct ct_conn_info *ci)
{
    struct ct_show *cs = cs_;
    char line[256];

    if (cs->one_zone && ci->zone != cs->zone) {
        return true;
    }
    if (cs->shown == cs->limit) {
        cs->stopped = true;
        return false;
    }
    ct_conn_format(ci, line, sizeof line);
    ctl_reply_printf(cs->r, "%s\n", line);
    cs->shown++;
    return true;
}

/* `conntrack [LPORT] [--limit N | --all]`: the listing is capped by
 * default, as a host may track a million connections (a full listing is
 * some 150 MB of text, past the reply cap). */
static int
cmd_conntrack(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    struct ct_show cs = {.r = r, .limit = CT_SHOW_DEFAULT_LIMIT};
    struct ct_stats st;
    uint64_t v;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all")) {
            cs.limit = UINT64_MAX;
        } else if (!strcmp(argv[i], "--limit")) {
            if (i + 1 == argc || !str_to_u64(argv[i + 1], UINT32_MAX, &v) ||
                !v) {
                ctl_reply_printf(r, "--limit needs a count from 1 to %u\n",
                                 UINT32_MAX);
                return 1;
            }
            cs.limit = v;
            i++;
        } else if (argv[i][0] != '-' && !cs.one_zone &&
                   str_to_u64(argv[i], UINT32_MAX, &v)) {
            cs.one_zone = true;
            cs.zone = (uint32_t)v;
        } else {
            ctl_reply_printf(r,
                             "usage: conntrack [LPORT] [--limit N | --all] "
                             "(not understood: %s)\n",
                             argv[i]);
            return 1;
        }
    }
    if (datapath_ct_stats(a->dp, &st) ||
        datapath_ct_dump(a->dp, ct_show, &cs)) {
        ctl_reply_printf(r, "the packet thread did not answer");
        return 1;
    }
    if (cs.stopped) {
        ctl_reply_printf(r,
                         "listing stopped after %" PRIu64
                         " connections (--limit N, --all)\n",
                         cs.shown);
    }
    ctl_reply_printf(r,
                     "connections %" PRIu32 " max %" PRIu32 " inserts %" PRIu64
                     " full %" PRIu64 " expired %" PRIu64 " invalid %" PRIu64
                     " related %" PRIu64 "\n",
                     st.n_conns, st.max_entries, st.inserts, st.full,
                     st.expired, st.invalid, st.related);
    return 0;
}

static int
cmd_conntrack_flush(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    uint64_t zone;
    size_t n = 0;

    if (argc != 2) {
        ctl_reply_printf(r, "usage: conntrack-flush LPORT");
        return 1;
    }
    if (!str_to_u64(argv[1], UINT32_MAX, &zone)) {
        ctl_reply_printf(r, "not a logical port id: %s", argv[1]);
        return 1;
    }
    if (datapath_ct_flush_zone(a->dp, (uint32_t)zone, &n)) {
        ctl_reply_printf(r, "the packet thread did not answer");
        return 1;
    }
    ctl_reply_printf(r, "flushed %zu connections\n", n);
    return 0;
}

static int
cmd_dhcp(int argc, const char *argv[], struct ctl_reply *r, void *a_)
{
    struct agent *a = a_;
    (void)argc;
    (void)argv;

    agent_dhcp_show(a->dhcp, time_nsec() / 1000000, r);
    return 0;
}

void
agent_register_ctl(struct agent *a, struct ctl_server *ctl)
{
    ctl_register(ctl, "dhcp", "",
                 "show DHCPv4/DHCPv6/RA services, leases and counters",
                 cmd_dhcp, a);
    ctl_register(ctl, "firewall", "",
                 "show firewall state, per-vNIC status and rule counters",
                 cmd_firewall, a);
    ctl_register(ctl, "conntrack", "[LPORT] [--limit N | --all]",
                 "list tracked connections (of one vNIC; the first 1000 "
                 "unless told) and conntrack statistics",
                 cmd_conntrack, a);
    ctl_register(ctl, "conntrack-flush", "LPORT",
                 "forget the connections of one vNIC (logical port id)",
                 cmd_conntrack_flush, a);
    ctl_register(ctl, "ports", "",
                 "list datapath ports and their counters (a VIF's include "
                 "the kernel fast path's frames)",
                 cmd_ports, a);
    ctl_register(ctl, "macs", "[SEGMENT]",
                 "show the MAC table (local ports and remote bindings)",
                 cmd_macs, a);
    ctl_register(ctl, "tunnels", "", "show tunnel sockets and peers",
                 cmd_tunnels, a);
    ctl_register(ctl, "routes", "",
                 "show each router's installed routes and next hops",
                 cmd_routes, a);
    ctl_register(ctl, "counters", "",
                 "show pipeline counters and drops by reason", cmd_counters, a);
    ctl_register(ctl, "fastpath", "",
                 "show the kernel fast path: state, entries, counters",
                 cmd_fastpath, a);
}

struct agent_dfw *
agent_firewall(struct agent *a)
{
    return a->dfw;
}

struct datapath *
agent_datapath(struct agent *a)
{
    return a->dp;
}

const struct agent_config *
agent_get_config(const struct agent *a)
{
    return a->cfg;
}

uint32_t
agent_n_vifs(const struct agent *a)
{
    uint32_t n = 0;

    for (uint32_t i = DP_PORT_FIRST_VIF; i < a->n_ports; i++) {
        n += a->ports[i].ifname[0] != 0;
    }
    return n;
}

struct agent_dhcp *
agent_get_dhcp(struct agent *a)
{
    return a->dhcp;
}

void
agent_set_state_dir(struct agent *a, const char *state_dir)
{
    agent_dhcp_destroy(a->dhcp);
    a->dhcp = agent_dhcp_create(a->dp, state_dir);
    if (a->cfg) {
        agent_dhcp_configure(a->dhcp, a->cfg, agent_slot_of, a,
                             time_nsec() / 1000000);
    }
}
