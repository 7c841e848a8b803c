/* The datapath's forwarding state: one immutable snapshot ("tables") that
 * the control side builds and publishes whole, and packet threads read
 * without locks (see datapath.h for the swap).  Nothing here changes after
 * dp_tables_build(): a configuration change builds a new snapshot.
 *
 * Contents:
 *   - ports: the datapath's port array (index = pkt->in_port / out_port);
 *     index DP_PORT_GENEVE and DP_PORT_VXLAN are the tunnel ports.
 *   - vif bindings: for each VIF port, its segment and logical port id.
 *   - segments: VNI, encapsulation, local member ports, flood endpoints.
 *   - a MAC table keyed by (segment, MAC): a local port or a remote VTEP.
 *   - a neighbour table keyed by (segment, IP): the MAC that owns the IP,
 *     used to answer ARP and IPv6 ND locally.
 *   - a VNI -> segment map per encapsulation.
 *   - the distributed firewall (dfw.h): per VIF an optional vNIC firewall
 *     (dp_vif.fw) and the deployment-wide address sets and rule names.
 *     These are reference counted and shared between snapshots.
 * All hash tables use open addressing with linear probing over a
 * power-of-two array sized for a load factor of at most 1/2. */
#ifndef WEFT_DP_TABLES_H
#define WEFT_DP_TABLES_H 1

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "datapath/proto.h"
#include "lib/hash.h"
#include "lib/util.h"

struct dp_port;
struct dp_tables_src;
struct dfw_sets;
struct dfw_vnic;
struct lpm4;
struct lpm6;

#define DP_PORT_GENEVE    0
#define DP_PORT_VXLAN     1
#define DP_PORT_FIRST_VIF 2
#define DP_SEG_NONE       UINT32_MAX
#define DP_ROUTER_NONE    UINT32_MAX

/* Punt flags of a segment: which control frames from its VIFs are taken
 * off the packet path and handed to the agent (docs/routing.md). */
#define DP_PUNT_DHCP4 0x01 /* IPv4 UDP to port 67 */
#define DP_PUNT_DHCP6 0x02 /* IPv6 UDP to port 547 */
#define DP_PUNT_RS    0x04 /* ICMPv6 router solicitation */

enum dp_encap { DP_ENCAP_GENEVE, DP_ENCAP_VXLAN };

struct dp_vtep {
    uint8_t addr[16]; /* IPv4-mapped or IPv6 */
};

struct dp_segment {
    uint32_t vni;
    enum dp_encap encap;
    uint16_t tunnel_port;  /* DP_PORT_GENEVE or DP_PORT_VXLAN */
    uint32_t n_local;      /* local member ports (distinct) */
    uint16_t *local_ports; /* their port indices */
    uint8_t encap_hdr[16]; /* prebuilt tunnel header (tunnel.h) */
    uint32_t max_frame;    /* largest inner frame the underlay carries */
    uint32_t n_flood;      /* remote endpoints for BUM replication */
    struct dp_vtep *flood; /* their addresses */

    /* Distributed router (route.h): the router this segment is attached
     * to (DP_ROUTER_NONE: none) and the router's MAC on it. */
    uint32_t router;
    struct eth_addr router_mac;
    uint8_t punt; /* DP_PUNT_*: control frames from VIFs to the agent */
    /* The router's addresses here, sources of the ICMP errors it sends
     * into this segment (the first gateway of each family wins). */
    uint32_t gw4;     /* IPv4 gateway, network order; 0: none */
    uint8_t gw6[16];  /* global IPv6 gateway; all zero: none */
    uint8_t lla6[16]; /* fe80::EUI-64(router_mac) when the segment has an
                       * IPv6 gateway; all zero otherwise */
};

struct dp_vif {
    uint32_t segment;          /* DP_SEG_NONE when unbound */
    uint32_t lport;            /* logical port id (= firewall zone) */
    struct eth_addr mac;       /* the port's own MAC */
    const struct dfw_vnic *fw; /* firewall, NULL: none (no cost) */
};

/* Where a MAC lives. */
struct dp_mac_entry {
    uint64_t key;   /* (segment + 1) << 48 | MAC; 0 = empty slot */
    uint32_t vtep;  /* index into tables->vteps, for remote entries */
    uint16_t port;  /* local port index, or the tunnel port if remote */
    uint8_t remote; /* 1: behind a tunnel */
    uint8_t pad;
    uint32_t lport; /* logical port id, 0 unknown */
};

struct dp_neigh_entry {
    uint32_t segment;    /* DP_SEG_NONE = empty slot */
    uint8_t ip[16];      /* IPv4-mapped or IPv6 */
    struct eth_addr mac; /* owner */
};

/* ---- Distributed routers (route.h).  Built by dp_tables_build() from the
 * dp_tb_add_router() family below, immutable afterwards. ---- */

/* One member of a next-hop group: where a routed packet leaves and which
 * address is resolved (dp_neigh_lookup) in that segment to find its MAC. */
struct dp_nexthop {
    uint32_t segment;    /* egress segment */
    uint8_t addr[16];    /* next hop, IPv4-mapped or IPv6 (zero if direct) */
    uint8_t direct;      /* 1: connected route, resolve the packet's own
                       * destination address instead of 'addr' */
    uint8_t resolved;    /* 1: 'addr' has a neighbour entry: 'mac' and 'l2'
                       * hold it (resolved when the snapshot is built) */
    struct eth_addr mac; /* the next hop's MAC, if resolved */
    const struct dp_mac_entry *l2; /* where 'mac' lives in 'segment' (NULL:
                                    * unknown, flooded) */
    struct dp_mac_entry l2_copy;   /* *l2, kept here so that the packet path
                                    * reads one cache line, not two */
};

BUILD_ASSERT(sizeof(struct dp_nexthop) == 64); /* one cache line */

/* An LPM value with this bit set is not a group but the index of a lone
 * next hop (a DP_NHG_FORWARD group of one member), so the packet path
 * skips the group. */
#define DP_LPM_LONE_NH 0x40000000u

enum dp_nhg_kind {
    DP_NHG_FORWARD, /* n >= 1 members, ECMP by flow hash */
    DP_NHG_DISCARD, /* static route without next hops: drop */
    DP_NHG_LOCAL,   /* one of the router's own addresses */
};

/* A next-hop group: members nhs[first .. first + n - 1] of its router.
 * Routes with the same member set share one group. */
struct dp_nh_group {
    uint32_t first; /* index of the first member in dp_router.nhs */
    uint16_t n;     /* members; 0 for DP_NHG_DISCARD and DP_NHG_LOCAL */
    uint8_t kind;   /* enum dp_nhg_kind */
};

/* An installed route (after distance and next-hop resolution), kept for
 * `ctl` dumps; the packet path uses the LPM tables only. */
struct dp_route_info {
    uint8_t prefix[16]; /* IPv4-mapped or IPv6, host bits cleared */
    uint8_t plen;       /* in its family's terms (0..32 or 0..128) */
    uint8_t v6;         /* 1: IPv6 */
    uint16_t distance;  /* 0: connected or local, 1..255: static */
    uint32_t group;     /* index into dp_router.groups */
};

struct dp_router {
    struct lpm4 *lpm4; /* IPv4 destination -> group index */
    struct lpm6 *lpm6; /* IPv6 destination -> group index */
    struct dp_nh_group *groups;
    uint32_t n_groups;
    struct dp_nexthop *nhs; /* members of all groups */
    uint32_t n_nhs;
    struct dp_route_info *routes; /* installed routes: IPv4 first, then by
                                   * prefix and length */
    uint32_t n_routes;
    uint32_t n_unresolved;    /* static next hops left out: in no
                               * connected subnet of this router */
    uint32_t n_routes_unused; /* static routes left out: none of their next
                               * hops resolved */
};

struct dp_tables {
    uint64_t generation;   /* increases with every published snapshot */
    uint64_t uid;          /* unique per tables object in this process, never
                            * 0: what a flow cache (flowcache.h) keys on */
    uint32_t underlay_mtu; /* largest outer IP packet, bytes */

    struct dp_port **ports; /* not owned: the agent owns port objects */
    uint32_t n_ports;
    struct dp_vif *vifs; /* n_ports entries; tunnels are unbound */

    struct dp_segment *segments;
    uint32_t n_segments;

    struct dp_vtep *vteps; /* distinct remote endpoints */
    uint32_t n_vteps;

    /* Tunnel peers a frame is taken from (dp_peer_known()): every remote
     * endpoint that a MAC entry or a segment's flood list names, in an
     * open-addressed set (all-zero slot: empty).  Made by
     * dp_tables_build() and dp_tables_finish(). */
    struct dp_vtep *peers;
    uint32_t peer_mask; /* capacity - 1 */

    struct dp_mac_entry *macs;
    uint32_t mac_mask; /* capacity - 1 */

    struct dp_neigh_entry *neighs;
    uint32_t neigh_mask;

    /* VNI -> segment, one small table per encapsulation. */
    struct {
        uint32_t vni, segment;
    } * vni_map[2];
    uint32_t vni_mask;

    /* Distributed firewall: address sets and rule names for every vNIC
     * firewall (NULL when none was set). */
    const struct dfw_sets *fw_sets;

    /* Distributed routers, indexed by dp_segment.router. */
    struct dp_router *routers;
    uint32_t n_routers;

    /* Control side only: what dp_tables_clone() and its patches need. */
    struct dp_tables_src *src;
};

static inline uint64_t
dp_mac_key(uint32_t segment, const struct eth_addr *mac)
{
    /* Bytes 0-5 in host order (only a key), loaded into registers: a
     * 6-byte copy into a zeroed word and a load of the word made a load
     * the store buffer cannot forward, which waited for every store
     * before it (a whole packet copy, right after a port's RX). */
    uint32_t lo;
    uint16_t hi;
    memcpy(&lo, mac, 4);
    memcpy(&hi, (const uint8_t *)mac + 4, 2);
    return lo | (uint64_t)hi << 32 | (uint64_t)(segment + 1) << 48;
}

/* Returns the entry for (segment, mac) or NULL. */
static inline const struct dp_mac_entry *
dp_mac_lookup(const struct dp_tables *t, uint32_t segment,
              const struct eth_addr *mac)
{
    uint64_t key = dp_mac_key(segment, mac);
    uint32_t i = (uint32_t)hash_mix64(key) & t->mac_mask;

    for (;;) {
        const struct dp_mac_entry *e = &t->macs[i];
        if (e->key == key) {
            return e;
        }
        if (!e->key) {
            return NULL;
        }
        i = (i + 1) & t->mac_mask;
    }
}

static inline uint32_t
dp_peer_slot(const struct dp_tables *t, const uint8_t addr[16])
{
    uint64_t a, b;
    memcpy(&a, addr, 8);
    memcpy(&b, addr + 8, 8);
    return (uint32_t)hash_mix64(a ^ hash_mix64(b)) & t->peer_mask;
}

/* Whether 'addr' (IPv4-mapped or IPv6) is a tunnel endpoint of these
 * tables: frames from any other sender (the all-zero address included)
 * are not decapsulated. */
static inline bool
dp_peer_known(const struct dp_tables *t, const uint8_t addr[16])
{
    uint64_t a, b;
    uint32_t i;

    memcpy(&a, addr, 8);
    memcpy(&b, addr + 8, 8);
    if (unlikely(!t->peers || !(a | b))) {
        return false;
    }
    for (i = dp_peer_slot(t, addr);; i = (i + 1) & t->peer_mask) {
        uint64_t pa, pb;
        memcpy(&pa, t->peers[i].addr, 8);
        memcpy(&pb, t->peers[i].addr + 8, 8);
        if (pa == a && pb == b) {
            return true;
        }
        if (!(pa | pb)) {
            return false;
        }
    }
}

/* Returns the segment index for 'vni' under 'encap', or DP_SEG_NONE. */
static inline uint32_t
dp_vni_lookup(const struct dp_tables *t, enum dp_encap encap, uint32_t vni)
{
    uint32_t i = (uint32_t)hash_mix64(vni) & t->vni_mask;

    for (;;) {
        uint32_t v = t->vni_map[encap][i].vni;
        if (!v) {
            return DP_SEG_NONE; /* empty slot; VNI 0 is never stored */
        }
        if (v == vni) {
            return t->vni_map[encap][i].segment;
        }
        i = (i + 1) & t->vni_mask;
    }
}

/* Returns the MAC owning 'ip' (16 bytes) in 'segment', or NULL. */
const struct eth_addr *dp_neigh_lookup(const struct dp_tables *,
                                       uint32_t segment, const uint8_t ip[16]);

/* ---- Building a snapshot (control side only). ---- */

struct dp_tables_builder;

struct dp_tables_builder *dp_tables_builder_create(uint64_t generation);
/* Frees a builder that was not built. NULL is fine. */
void dp_tables_builder_destroy(struct dp_tables_builder *);

/* Sets the port array (copied).  Ports at DP_PORT_GENEVE/VXLAN may be NULL
 * if that encapsulation is unused. */
void dp_tb_set_ports(struct dp_tables_builder *, struct dp_port **ports,
                     uint32_t n_ports);
/* Sets the underlay MTU (default 1500) and whether the underlay is IPv6
 * (default IPv4), which decide the largest frame a segment can carry. */
void dp_tb_set_underlay(struct dp_tables_builder *, uint32_t mtu, bool ipv6);
/* Adds a segment; returns its index. */
uint32_t dp_tb_add_segment(struct dp_tables_builder *, uint32_t vni,
                           enum dp_encap);
/* Binds VIF port 'port' to 'segment' as logical port 'lport' with 'mac'. */
void dp_tb_add_local(struct dp_tables_builder *, uint32_t segment,
                     uint16_t port, uint32_t lport, const struct eth_addr *);
/* Adds a MAC behind remote endpoint 'vtep' (16-byte address). */
void dp_tb_add_remote(struct dp_tables_builder *, uint32_t segment,
                      const struct eth_addr *, const uint8_t vtep[16],
                      uint32_t lport);
/* Adds an endpoint to the segment's BUM replication list. */
void dp_tb_add_flood(struct dp_tables_builder *, uint32_t segment,
                     const uint8_t vtep[16]);
/* Records that 'mac' owns 'ip' in 'segment' (ARP/ND answers). */
void dp_tb_add_neigh(struct dp_tables_builder *, uint32_t segment,
                     const uint8_t ip[16], const struct eth_addr *);

/* ---- Distributed routing (docs/routing.md). ---- */

/* Adds a router (an independent routing table); returns its index. */
uint32_t dp_tb_add_router(struct dp_tables_builder *);
/* Attaches 'segment' to 'router'; 'mac' is the router's MAC on it. */
void dp_tb_set_segment_router(struct dp_tables_builder *, uint32_t segment,
                              uint32_t router, const struct eth_addr *mac);
/* Gives the router an address on 'segment' (attached first): 'addr' is
 * IPv4-mapped or IPv6, 'plen' in its family's terms (0..32 or 0..128).  It
 * becomes a connected route, a neighbour entry answered on every host and
 * the source of ICMP errors sent into that segment. */
void dp_tb_add_segment_gateway(struct dp_tables_builder *, uint32_t segment,
                               const uint8_t addr[16], uint8_t plen);
/* Adds a static route of 'router': 'prefix' IPv4-mapped or IPv6, 'plen' in
 * its family's terms, 'n_next_hops' next-hop addresses of the same family
 * (0: discard), 'distance' 1..255.  Resolution at build time: per prefix
 * the lowest distance wins and its next hops are ECMP; a next hop must lie
 * in a connected subnet of the router, else it is left out. */
void dp_tb_add_route(struct dp_tables_builder *, uint32_t router,
                     const uint8_t prefix[16], uint8_t plen,
                     const uint8_t (*next_hops)[16], uint32_t n_next_hops,
                     uint32_t distance);
/* Sets the punt flags (DP_PUNT_*) of 'segment'. */
void dp_tb_set_segment_punt(struct dp_tables_builder *, uint32_t segment,
                            uint8_t flags);

/* Sets the deployment-wide firewall part (address sets, rule names); takes
 * a reference (the caller keeps its own).  NULL clears it. */
void dp_tb_set_firewall(struct dp_tables_builder *, struct dfw_sets *);
/* Gives VIF port 'port' the firewall 'fw' (NULL: none); takes a reference.
 * A later call for the same port replaces the earlier one. */
void dp_tb_set_vif_firewall(struct dp_tables_builder *, uint16_t port,
                            struct dfw_vnic *fw);

/* Consumes the builder and returns the immutable snapshot. */
struct dp_tables *dp_tables_build(struct dp_tables_builder *);
void dp_tables_free(struct dp_tables *); /* NULL is fine */

/* ---- Patching instead of building (control side only).
 *
 * A small change (remote bindings and their addresses, flood lists, local
 * ports, firewall objects) need not rebuild a snapshot of 100,000
 * bindings: dp_tables_clone() copies a published snapshot's flat arrays
 * (the packet thread keeps reading the original), the dp_tables_add/del
 * functions patch the copy, and dp_tables_finish() rebuilds what is
 * derived from the patched tables (the routers' next-hop resolution, the
 * set of known tunnel peers).  Then the copy is published like a built
 * one.  Lookups in the result equal those of a full build of the
 * same content; only the layout may differ (slot positions, order of
 * 'vteps', which may keep endpoints no binding uses any more, order of a
 * segment's local ports and flood list, unbound VIF slots at the end).
 *
 * A patch function that returns false changed nothing but cannot do the
 * change exactly as a full build would (a key already there or missing,
 * a table that would pass its load factor): free the copy and build. ---- */

/* The big arrays of a retired snapshot, kept for the next clone: copying
 * 14 MB into memory already mapped costs ~2 ms, into fresh memory several
 * times that (page faults, and glibc's work on large blocks). */
struct dp_tables_spare {
    struct dp_mac_entry *macs;
    uint32_t n_macs; /* entries */
    struct dp_neigh_entry *neighs;
    uint32_t n_neighs;
};

/* A patchable copy of 't' with 'generation', or NULL when 't' cannot be
 * patched (a full build had to choose between two entries with the same
 * key: that choice depends on the order of the whole input).  Takes the
 * arrays of 'spare' (may be NULL) that fit. */
struct dp_tables *dp_tables_clone(const struct dp_tables *t,
                                  uint64_t generation,
                                  struct dp_tables_spare *spare);
/* Frees 't' (NULL is fine) except its MAC and neighbour arrays, which
 * replace those in 'spare'. */
void dp_tables_free_spare(struct dp_tables *t, struct dp_tables_spare *);
/* Frees what 'spare' holds. */
void dp_tables_spare_clear(struct dp_tables_spare *);
/* Adds a MAC behind remote endpoint 'vtep' (as dp_tb_add_remote()); false
 * if (segment, mac) is taken. */
bool dp_tables_add_remote(struct dp_tables *, uint32_t segment,
                          const struct eth_addr *, const uint8_t vtep[16],
                          uint32_t lport);
/* Removes the remote entry of (segment, mac); false if there is none. */
bool dp_tables_del_remote(struct dp_tables *, uint32_t segment,
                          const struct eth_addr *);
/* Adds a neighbour entry (as dp_tb_add_neigh()); false if (segment, ip)
 * has one. */
bool dp_tables_add_neigh(struct dp_tables *, uint32_t segment,
                         const uint8_t ip[16], const struct eth_addr *);
/* Removes the entry of (segment, ip); false unless it has 'mac'. */
bool dp_tables_del_neigh(struct dp_tables *, uint32_t segment,
                         const uint8_t ip[16], const struct eth_addr *);
/* Binds VIF port 'port' to 'segment' (as dp_tb_add_local()), growing the
 * port array if 'port' is past its end (new ports pending: see
 * dp_tables_set_port()); false if the port is bound already or
 * (segment, mac) is taken. */
bool dp_tables_add_local(struct dp_tables *, uint32_t segment, uint16_t port,
                         uint32_t lport, const struct eth_addr *);
/* Unbinds VIF port 'port' from 'segment' and removes its MAC entry (and
 * its firewall); false unless 'port' is bound there with 'mac'. */
bool dp_tables_del_local(struct dp_tables *, uint32_t segment, uint16_t port,
                         const struct eth_addr *);
/* Sets the port object at 'index' (< n_ports; NULL: pending). */
void dp_tables_set_port(struct dp_tables *, uint16_t index, struct dp_port *);
/* Adds 'vtep' to / removes it from the segment's BUM replication list;
 * false if it is there already / not there. */
bool dp_tables_add_flood(struct dp_tables *, uint32_t segment,
                         const uint8_t vtep[16]);
bool dp_tables_del_flood(struct dp_tables *, uint32_t segment,
                         const uint8_t vtep[16]);
/* Replaces the firewall address sets / a VIF's firewall (references are
 * taken as by the builder). */
void dp_tables_patch_firewall(struct dp_tables *, struct dfw_sets *);
void dp_tables_patch_vif_firewall(struct dp_tables *, uint16_t port,
                                  struct dfw_vnic *);
/* Rebuilds the routers and tunnel peers of a patched copy; it is then
 * ready to publish.  More patches and another call may follow. */
void dp_tables_finish(struct dp_tables *);

#endif
