/* The distributed router: the pipeline stage that routes frames a VIF
 * addresses to its segment's router MAC (docs/routing.md, "Datapath"), and
 * the build of the per-router tables it reads (dp_router in tables.h).
 *
 * Every host runs every router its segments attach to, so a routed packet
 * is routed once, on the sender's host: the frame from the VIF is looked up
 * in the router's LPM table (lpm.h), its next hop resolved to a MAC in the
 * egress segment through the neighbour table, its TTL decremented and its
 * MACs rewritten, and it then leaves by plain L2 forwarding in the egress
 * segment (a local VIF, or a tunnel with that segment's VNI).  Frames
 * arriving from tunnels are never routed.
 *
 * This module decides and rewrites; the pipeline (pipeline.c) emits,
 * counts and rate-limits.  Everything here runs on packet threads without
 * locks, reading immutable tables, except dp_routers_build() and
 * dp_routers_free() (control side, while building or freeing a snapshot).
 *
 * ICMP errors the router sends (time exceeded, unreachable, too big) are
 * built by icmp-error.h. */
#ifndef WEFT_DP_ROUTE_H
#define WEFT_DP_ROUTE_H 1

#include <stdbool.h>
#include <stdint.h>

#include "datapath/drop.h"
#include "datapath/packet.h"
#include "datapath/tables.h"

/* What dp_route_decide() concluded. */
enum dp_route_verdict {
    DP_RV_FORWARD,    /* rewritten: send by L2 in res.egress to res.l2 */
    DP_RV_FRAGMENT,   /* IPv4 without DF, too big; rewritten: fragment to
                       * res.mtu, then send every fragment as above */
    DP_RV_ECHO,       /* echo request to the router: dp_route_echo_reply()
                       * and send back to the ingress VIF */
    DP_RV_ICMP_ERROR, /* answer with res.icmp_* and drop with res.drop */
    DP_RV_DROP,       /* drop with res.drop */
};

struct dp_route_result {
    enum dp_drop drop;             /* DP_RV_DROP, DP_RV_ICMP_ERROR */
    uint32_t egress;               /* egress segment (forward, fragment) */
    const struct dp_mac_entry *l2; /* where the next hop's MAC lives in
                                    * 'egress'; NULL: unknown, flood */
    uint32_t mtu;                  /* IP MTU of the egress (too big,
                                    * fragment) */
    uint8_t icmp_type, icmp_code;  /* DP_RV_ICMP_ERROR */
    uint32_t icmp_rest;            /* its second 32-bit word, host order */
};

/* 'pkt' came from a VIF of segment pkt->segment, is parsed, and is
 * addressed to that segment's router MAC (whose router is not
 * DP_ROUTER_NONE).  Decides its fate (see enum dp_route_verdict).  For
 * DP_RV_FORWARD and DP_RV_FRAGMENT the packet is rewritten: TTL or hop
 * limit decremented (IPv4 header checksum updated incrementally, RFC
 * 1624), MACs from the egress segment's router MAC to the next hop's,
 * pkt->segment the egress segment, and Ethernet padding after the IP
 * packet cut off if only it made the frame too big for the egress (the
 * IP packet is what is measured).  Otherwise it is unchanged but for
 * pkt->hash, which may be set (the flow hash, for ECMP). */
enum dp_route_verdict dp_route_decide(const struct dp_tables *,
                                      struct dp_packet *pkt,
                                      struct dp_route_result *res);

/* After DP_RV_ECHO: turns the echo request into its reply in place, from
 * the address it was sent to, back to the sender's MAC from the ingress
 * segment's router MAC. */
void dp_route_echo_reply(const struct dp_tables *, struct dp_packet *pkt);

/* Cuts the (rewritten) IPv4 packet 'pkt' into fragments of at most 'mtu'
 * bytes of IP (RFC 791: offsets in 8-byte units, options with the copied
 * flag repeated in every fragment), in new buffers of 'pool', into
 * frags[0 .. *n - 1] (at most 'max').  Metadata and the flow hash are
 * copied and every fragment is parsed.  Returns DP_DROP_NONE, or
 * DP_DROP_NO_BUFFER / DP_DROP_ROUTE_FRAG_FAILED with nothing produced.
 * Never takes ownership of 'pkt'. */
enum dp_drop dp_route_fragment(const struct dp_packet *pkt,
                               struct dp_pool *pool, uint32_t mtu,
                               struct dp_packet **frags, uint32_t max,
                               uint32_t *n);

/* The router's source address for ICMP errors about 'pkt' into its
 * ingress segment: IPv4 gateway, or IPv6 global gateway, else link-local.
 * Returns false if the segment has none of that family. */
bool dp_route_error_source(const struct dp_tables *,
                           const struct dp_packet *pkt, uint8_t src[16]);

/* A token bucket for ICMP errors, one per packet thread. */
struct dp_route_limiter {
    uint64_t tokens;  /* in 1/1000 of an error */
    uint64_t last_ms; /* when it was last refilled */
    uint32_t rate;    /* errors per second */
    uint32_t burst;   /* bucket size */
};
#define DP_ROUTE_ICMP_RATE  1000
#define DP_ROUTE_ICMP_BURST 100

void dp_route_limiter_init(struct dp_route_limiter *, uint32_t rate,
                           uint32_t burst);
/* Takes a token at 'now_ms'; false if there is none. */
bool dp_route_limiter_take(struct dp_route_limiter *, uint64_t now_ms);

/* ---- Building (control side, from dp_tables_build()). ---- */

/* The link-local address fe80::/64 + modified EUI-64 of 'mac' (RFC 4291
 * appendix A). */
void dp_route_lla(const struct eth_addr *mac, uint8_t out[16]);

/* A router address on a segment (dp_tb_add_segment_gateway()). */
struct dp_route_gw {
    uint32_t segment;
    uint8_t addr[16]; /* IPv4-mapped or IPv6 */
    uint8_t plen;     /* in its family's terms */
};

/* A static route (dp_tb_add_route()). */
struct dp_route_static {
    uint32_t router;
    uint8_t prefix[16]; /* IPv4-mapped or IPv6 */
    uint8_t plen;       /* in its family's terms */
    uint32_t distance;  /* 1..255 */
    uint32_t first_nh;  /* next hops: nhs[first_nh .. first_nh + n_nh - 1] */
    uint32_t n_nh;      /* 0: discard */
};

struct dp_routes_input {
    uint32_t n_routers;
    const struct dp_route_gw *gws;
    uint32_t n_gws;
    const struct dp_route_static *routes;
    uint32_t n_routes;
    const uint8_t (*nhs)[16];
};

/* Fills t->routers (t->n_routers = in->n_routers) from 'in'.  The
 * segments of 't' must be built, with router and router_mac set.  Per
 * router: connected routes of its gateways (distance 0), a local route for
 * each gateway and link-local address, static routes whose next hops are
 * resolved to the longest connected prefix containing them (unresolvable
 * ones left out and counted); per prefix the lowest distance wins, equal
 * distances merge their next hops (ECMP). */
void dp_routers_build(struct dp_tables *t, const struct dp_routes_input *in);
/* Frees what dp_routers_build() put in 't'. */
void dp_routers_free(struct dp_tables *t);

#endif
