/* The router stage (route.h): deciding a routed frame's fate, rewriting it,
 * answering echo requests to the router and fragmenting IPv4. */
#include "datapath/route.h"

#include <arpa/inet.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/lpm.h"
#include "datapath/parse.h"
#include "datapath/port.h"

static inline enum dp_route_verdict
rv_drop(struct dp_route_result *res, enum dp_drop d)
{
    res->drop = d;
    return DP_RV_DROP;
}

static inline enum dp_route_verdict
rv_error(struct dp_route_result *res, enum dp_drop d, uint8_t type,
         uint8_t code, uint32_t rest)
{
    res->drop = d;
    res->icmp_type = type;
    res->icmp_code = code;
    res->icmp_rest = rest;
    return DP_RV_ICMP_ERROR;
}

static bool
is_echo_request(const struct dp_packet *pkt, bool v4)
{
    const uint8_t *l4;

    if (pkt->l4_ofs == DP_OFS_NONE || pkt->pflags & DP_PF_FRAG ||
        pkt->ol.gso_type != DP_GSO_NONE ||
        pkt->ip_proto != (v4 ? IPPROTO_ICMP_ : IPPROTO_ICMPV6_)) {
        return false;
    }
    l4 = pkt->data + pkt->l4_ofs;
    return l4[0] == (v4 ? 8 : 128) && l4[1] == 0;
}

/* Decrements the TTL or hop limit, rewrites the MACs and moves 'pkt' to
 * egress segment 'eg'.  The IPv4 checksum update is RFC 1624's for a
 * 16-bit word that drops by 0x0100: HC' = HC + 0x0100 with end-around
 * carry (the TTL is never 0 here, so no -0 case arises). */
static inline void
rewrite(struct dp_packet *pkt, bool v4, const struct eth_addr *mac,
        const struct dp_segment *eg, uint32_t egress)
{
    uint8_t *l3 = pkt->data + pkt->l3_ofs;

    if (v4) {
        uint32_t csum = rd16(l3 + 10);
        uint16_t c;
        csum += htons(0x0100);
        c = (uint16_t)(csum + (csum >= 0xffff));
        memcpy(l3 + 10, &c, 2);
        l3[8]--;
    } else {
        l3[7]--;
    }
    memcpy(pkt->data, mac, ETH_ADDR_LEN);
    memcpy(pkt->data + ETH_ADDR_LEN, &eg->router_mac, ETH_ADDR_LEN);
    pkt->segment = egress;
}

enum dp_route_verdict
dp_route_decide(const struct dp_tables *t, struct dp_packet *pkt,
                struct dp_route_result *res)
{
    const struct dp_segment *in_seg = &t->segments[pkt->segment];
    const struct dp_router *rt = &t->routers[in_seg->router];
    const uint8_t *l3 = pkt->data + pkt->l3_ofs;
    uint8_t key[16]; /* the destination, IPv4-mapped or IPv6 */
    bool v4;
    uint32_t g;

    if (pkt->pflags & DP_PF_IPV4) {
        uint32_t dst = ntohl(rd32(l3 + 16));
        v4 = true;
        if (unlikely((dst >> 28) == 0xe || dst == 0xffffffffu)) {
            return rv_drop(res, DP_DROP_ROUTE_NOT_ROUTABLE);
        }
        g = lpm4_lookup(rt->lpm4, dst);
    } else if (pkt->pflags & DP_PF_IPV6) {
        v4 = false;
        if (unlikely(l3[24] == 0xff)) {
            return rv_drop(res, DP_DROP_ROUTE_NOT_ROUTABLE);
        }
        g = lpm6_lookup(rt->lpm6, l3 + 24);
    } else {
        return rv_drop(res, DP_DROP_ROUTE_NOT_IP);
    }

    /* The LPM value is a lone next hop (the common case: no group to
     * read) or a group. */
    const struct dp_nh_group *grp = NULL;
    const struct dp_nexthop *nh = NULL;
    if (likely(g & DP_LPM_LONE_NH) && g != LPM_MISS) {
        nh = &rt->nhs[g & ~DP_LPM_LONE_NH];
    } else if (g != LPM_MISS) {
        grp = &rt->groups[g];
        if (unlikely(grp->kind == DP_NHG_LOCAL)) {
            return is_echo_request(pkt, v4)
                       ? DP_RV_ECHO
                       : rv_drop(res, DP_DROP_ROUTE_TO_ROUTER);
        }
    }
    if (unlikely(!v4 &&
                 (ip6_is_link_local(l3 + 24) || ip6_is_link_local(l3 + 8)))) {
        return rv_drop(res, DP_DROP_ROUTE_NOT_ROUTABLE);
    }
    if (unlikely((v4 ? l3[8] : l3[7]) <= 1)) {
        return rv_error(res, DP_DROP_ROUTE_TTL_EXPIRED, v4 ? 11 : 3, 0, 0);
    }
    if (!nh) {
        if (unlikely(!grp)) {
            return rv_error(res, DP_DROP_ROUTE_NO_ROUTE, v4 ? 3 : 1, 0, 0);
        }
        if (unlikely(grp->kind == DP_NHG_DISCARD)) {
            return rv_drop(res, DP_DROP_ROUTE_DISCARD);
        }
        nh = &rt->nhs[grp->first];
        if (grp->n > 1) {
            if (!pkt->hash) {
                pkt->hash = dp_flow_hash(pkt);
            }
            nh += pkt->hash % grp->n;
        }
    }
    const struct eth_addr *mac;
    const struct dp_mac_entry *e;
    if (likely(nh->resolved)) {
        mac = &nh->mac;
        e = nh->l2 ? &nh->l2_copy : NULL;
    } else if (nh->direct) {
        if (v4) {
            memset(key, 0, 10);
            key[10] = key[11] = 0xff;
            memcpy(key + 12, l3 + 16, 4);
        } else {
            memcpy(key, l3 + 24, 16);
        }
        mac = dp_neigh_lookup(t, nh->segment, key);
        e = mac ? dp_mac_lookup(t, nh->segment, mac) : NULL;
    } else {
        mac = NULL;
    }
    if (unlikely(!mac)) {
        return rv_error(res, DP_DROP_ROUTE_NO_NEIGH, v4 ? 3 : 1, v4 ? 1 : 3, 0);
    }
    const struct dp_segment *eg = &t->segments[nh->segment];
    uint32_t limit = eg->max_frame;
    if (e && !e->remote) {
        const struct dp_port *p = t->ports[e->port];
        limit = p ? p->mtu + ETH_HDR_LEN : UINT32_MAX;
    } else if (!e) {
        /* Flooded (MAC not in the table): the frame goes to the tunnels
         * and to every local port of the segment, so it must fit each. */
        for (uint32_t i = 0; i < eg->n_local; i++) {
            const struct dp_port *p = t->ports[eg->local_ports[i]];
            if (p && p->mtu + ETH_HDR_LEN < limit) {
                limit = p->mtu + ETH_HDR_LEN;
            }
        }
    }
    uint32_t size = pkt->ol.gso_type != DP_GSO_NONE
                        ? (uint32_t)pkt->ol.hdr_len + pkt->ol.gso_size
                        : pkt->len;
    if (unlikely(size > limit) && pkt->ol.gso_type == DP_GSO_NONE) {
        /* Bytes after the IP packet are Ethernet padding: the packet is
         * what must fit, and if it does the padding stays behind. */
        uint32_t end = pkt->l3_ofs +
                       (v4 ? ntohs(rd16(l3 + 2)) : 40u + ntohs(rd16(l3 + 4)));
        if (end <= limit) {
            pkt->len = end;
        }
        size = end;
    }
    res->egress = nh->segment;
    res->l2 = e;
    if (unlikely(size > limit)) {
        /* The IP MTU behind this frame's own L2 header (802.1Q tags
         * count), so that fragments and the MTU told fit the limit. */
        uint32_t mtu = limit > pkt->l3_ofs ? limit - pkt->l3_ofs : 0;
        res->mtu = mtu;
        if (!v4) {
            return rv_error(res, DP_DROP_ROUTE_TOO_BIG, 2, 0, mtu);
        }
        if (rd16(l3 + 6) & htons(IPV4_DF) || pkt->ol.gso_type != DP_GSO_NONE) {
            return rv_error(res, DP_DROP_ROUTE_TOO_BIG, 3, 4, mtu & 0xffff);
        }
        rewrite(pkt, v4, mac, eg, nh->segment);
        return DP_RV_FRAGMENT;
    }
    rewrite(pkt, v4, mac, eg, nh->segment);
    return DP_RV_FORWARD;
}

void
dp_route_echo_reply(const struct dp_tables *t, struct dp_packet *pkt)
{
    uint8_t *l3 = pkt->data + pkt->l3_ofs, *l4 = pkt->data + pkt->l4_ofs;
    uint8_t tmp[16];
    uint16_t old = rd16(l4), new_, csum;

    if (pkt->pflags & DP_PF_IPV4) {
        uint32_t hl = (uint32_t)(l3[0] & 0x0f) * 4;
        memcpy(tmp, l3 + 12, 4);
        memcpy(l3 + 12, l3 + 16, 4);
        memcpy(l3 + 16, tmp, 4);
        l3[8] = 64;
        memset(l3 + 10, 0, 2);
        csum = csum_finish(csum_partial(l3, hl, 0));
        memcpy(l3 + 10, &csum, 2);
        l4[0] = 0; /* echo reply */
    } else {
        /* Swapping the addresses leaves the pseudo-header sum as is. */
        memcpy(tmp, l3 + 8, 16);
        memcpy(l3 + 8, l3 + 24, 16);
        memcpy(l3 + 24, tmp, 16);
        l3[7] = 64;
        l4[0] = 129; /* echo reply */
    }
    new_ = rd16(l4);
    csum = csum_update16(rd16(l4 + 2), old, new_);
    if (unlikely(!csum) && pkt->pflags & DP_PF_IPV4) {
        /* RFC 1624's update gives 0x0000 also when every other word of
         * the reply is zero (a sum of +0), whose checksum is 0xffff.  The
         * IPv6 pseudo-header never sums to +0. */
        const uint8_t *p = l4 + 4, *end = l3 + ntohs(rd16(l3 + 2));
        while (p < end && !*p) {
            p++;
        }
        csum = p < end ? 0 : 0xffff;
    }
    memcpy(l4 + 2, &csum, 2);
    memcpy(pkt->data, pkt->data + ETH_ADDR_LEN, ETH_ADDR_LEN);
    memcpy(pkt->data + ETH_ADDR_LEN, &t->segments[pkt->segment].router_mac,
           ETH_ADDR_LEN);
    pkt->hash = 0;
}

bool
dp_route_error_source(const struct dp_tables *t, const struct dp_packet *pkt,
                      uint8_t src[16])
{
    static const uint8_t zero[16];
    const struct dp_segment *seg = &t->segments[pkt->segment];

    if (pkt->pflags & DP_PF_IPV4) {
        if (!seg->gw4) {
            return false;
        }
        memset(src, 0, 10);
        src[10] = src[11] = 0xff;
        memcpy(src + 12, &seg->gw4, 4);
        return true;
    }
    if (memcmp(seg->gw6, zero, 16)) {
        memcpy(src, seg->gw6, 16);
        return true;
    }
    if (memcmp(seg->lla6, zero, 16)) {
        memcpy(src, seg->lla6, 16);
        return true;
    }
    return false;
}

/* ---- Fragmentation. ---- */

/* Copies the options of 'opt' (length 'len') whose copied flag is set into
 * 'out', padded with end-of-options to a multiple of 4; returns the length
 * written.  Malformed options end the copy. */
static uint32_t
copied_options(const uint8_t *opt, uint32_t len, uint8_t *out)
{
    uint32_t i = 0, o = 0;

    while (i < len && opt[i] != 0) {
        if (opt[i] == 1) { /* no-operation */
            i++;
            continue;
        }
        if (i + 1 >= len || opt[i + 1] < 2 || opt[i + 1] > len - i) {
            break;
        }
        if (opt[i] & 0x80) {
            memcpy(out + o, opt + i, opt[i + 1]);
            o += opt[i + 1];
        }
        i += opt[i + 1];
    }
    while (o & 3) {
        out[o++] = 0;
    }
    return o;
}

enum dp_drop
dp_route_fragment(const struct dp_packet *pkt, struct dp_pool *pool,
                  uint32_t mtu, struct dp_packet **frags, uint32_t max,
                  uint32_t *n)
{
    const uint8_t *l3 = pkt->data + pkt->l3_ofs;
    uint32_t l2 = pkt->l3_ofs;
    uint32_t hl = (uint32_t)(l3[0] & 0x0f) * 4;
    uint32_t tot = ntohs(rd16(l3 + 2));
    uint16_t frag_off = ntohs(rd16(l3 + 6));
    uint32_t off0 = frag_off & IPV4_OFFSET_MASK;
    uint8_t later_hdr[60];
    uint32_t later_hl;

    *n = 0;
    /* A fragment that ends past 65535 bytes (an oversized datagram) would
     * need offsets that wrap: never make it look like an earlier part. */
    if (tot < hl || l2 + tot > pkt->len || pkt->ol.gso_type != DP_GSO_NONE ||
        pkt->ol.flags & DP_OL_CSUM_PARTIAL || off0 * 8 + (tot - hl) > 0xffff) {
        return DP_DROP_ROUTE_FRAG_FAILED;
    }
    memcpy(later_hdr, l3, 20);
    later_hl = 20 + copied_options(l3 + 20, hl - 20, later_hdr + 20);
    later_hdr[0] = (uint8_t)(0x40 | later_hl / 4);
    uint32_t payload = tot - hl;
    if (mtu < hl + 8 || mtu < later_hl + 8 ||
        dp_pool_frame_size(pool) < l2 + MIN(mtu, tot)) {
        return DP_DROP_ROUTE_FRAG_FAILED;
    }
    for (uint32_t pos = 0; pos < payload;) {
        uint32_t h = pos ? later_hl : hl;
        uint32_t chunk = MIN(payload - pos, (mtu - h) & ~7u);
        bool last = pos + chunk == payload;
        struct dp_packet *f;

        if (*n == max || !(f = dp_pool_get(pool))) {
            enum dp_drop d =
                *n == max ? DP_DROP_ROUTE_FRAG_FAILED : DP_DROP_NO_BUFFER;
            for (uint32_t i = 0; i < *n; i++) {
                dp_packet_free(frags[i]);
            }
            *n = 0;
            return d;
        }
        uint8_t *d = f->data, *ip = d + l2;
        memcpy(d, pkt->data, l2);
        memcpy(ip, pos ? later_hdr : l3, h);
        memcpy(ip + h, l3 + hl + pos, chunk);
        uint16_t v = htons((uint16_t)(h + chunk));
        memcpy(ip + 2, &v, 2);
        v = htons((uint16_t)((frag_off & ~IPV4_OFFSET_MASK & ~IPV4_MF) |
                             (!last || frag_off & IPV4_MF ? IPV4_MF : 0) |
                             ((off0 + pos / 8) & IPV4_OFFSET_MASK)));
        memcpy(ip + 6, &v, 2);
        memset(ip + 10, 0, 2);
        v = csum_finish(csum_partial(ip, h, 0));
        memcpy(ip + 10, &v, 2);
        f->len = l2 + h + chunk;
        if (f->len < 60) {
            memset(d + f->len, 0, 60 - f->len);
            f->len = 60;
        }
        dp_parse(f);
        f->in_port = pkt->in_port;
        f->segment = pkt->segment;
        f->src_lport = pkt->src_lport;
        f->hash = pkt->hash;
        frags[(*n)++] = f;
        pos += chunk;
    }
    return DP_DROP_NONE;
}

/* ---- Rate limit. ---- */

void
dp_route_limiter_init(struct dp_route_limiter *l, uint32_t rate, uint32_t burst)
{
    l->rate = rate;
    l->burst = burst;
    l->tokens = (uint64_t)burst * 1000;
    l->last_ms = 0;
}

bool
dp_route_limiter_take(struct dp_route_limiter *l, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)l->burst * 1000;

    if (now_ms > l->last_ms) {
        l->tokens = MIN(cap, l->tokens + (now_ms - l->last_ms) * l->rate);
        l->last_ms = now_ms;
    }
    if (l->tokens >= 1000) {
        l->tokens -= 1000;
        return true;
    }
    return false;
}
