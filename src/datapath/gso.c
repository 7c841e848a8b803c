/* Software segmentation and checksum completion (gso.h).
 *
 * Each segment is built by copying the super-frame's headers and one
 * gso_size slice of its payload into a fresh pool buffer, then patching
 * the length, id and sequence fields and computing the IP header and L4
 * checksums from scratch.  Computing the L4 sum over the freshly copied
 * (cache-hot) payload costs about as much as an incremental scheme would,
 * and is obviously right. */
#include "datapath/gso.h"

#include <arpa/inet.h>
#include <string.h>

#include "datapath/csum.h"

#define TCP_CWR 0x80

/* Checks what dp_gso_segment() needs of 'pkt' and returns its segment
 * count, or 0 if it cannot be segmented. */
uint32_t
dp_gso_count(const struct dp_packet *pkt)
{
    const struct dp_offload *ol = &pkt->ol;
    uint32_t l3 = pkt->l3_ofs, l4 = pkt->l4_ofs, l7 = pkt->l7_ofs;
    bool v4 = pkt->pflags & DP_PF_IPV4, v6 = pkt->pflags & DP_PF_IPV6;
    uint32_t payload;

    if (!ol->gso_size || l3 == DP_OFS_NONE || l4 == DP_OFS_NONE ||
        l7 == DP_OFS_NONE || !(l3 < l4 && l4 <= l7 && l7 <= pkt->len) ||
        (pkt->pflags & DP_PF_FRAG) || v4 == v6) {
        return 0;
    }
    switch (ol->gso_type) {
    case DP_GSO_TCPV4:
    case DP_GSO_TCPV6:
        if (pkt->ip_proto != IPPROTO_TCP_ || l7 - l4 < sizeof(struct tcp_hdr) ||
            (ol->gso_type == DP_GSO_TCPV4 ? !v4 : !v6)) {
            return 0;
        }
        break;
    case DP_GSO_UDP_L4:
        if (pkt->ip_proto != IPPROTO_UDP_ ||
            l7 - l4 != sizeof(struct udp_hdr)) {
            return 0;
        }
        break;
    default:
        return 0;
    }
    if (v4) {
        const struct ipv4_hdr *ip = (const void *)(pkt->data + l3);
        if ((ip->ver_ihl & 0x0f) * 4u != l4 - l3) {
            return 0;
        }
    } else if (l4 - l3 < sizeof(struct ipv6_hdr)) {
        return 0;
    }
    /* Every segment's IP length must fit its 16-bit field. */
    if (l7 - l3 + ol->gso_size > 0xffff) {
        return 0;
    }
    payload = pkt->len - l7;
    return payload ? (payload + ol->gso_size - 1) / ol->gso_size : 1;
}

/* Gives 'seg' the metadata of 'pkt' (parse results, logical metadata),
 * keeping its own buffer, and clears offload requests. */
static void
copy_meta(struct dp_packet *seg, const struct dp_packet *pkt)
{
    uint8_t *data = seg->data, *base = seg->base;
    uint32_t cap = seg->cap, index = seg->index;
    struct dp_pool *pool = seg->pool;

    *seg = *pkt;
    seg->data = data;
    seg->base = base;
    seg->cap = cap;
    seg->pool = pool;
    seg->index = index;
    memset(&seg->ol, 0, sizeof seg->ol);
}

/* Fixes the headers of segment number 'i' of 'count', whose payload of
 * 'seglen' bytes is 'payload' (in the super-frame: the segment's own copy
 * is made after this), and computes its checksums.
 *
 * The payload is summed where it lies in the super-frame, before it is
 * copied: summing the fresh copy read the bytes just stored, and the loads
 * over the header fields just written (8-byte words across 2- and 4-byte
 * stores) cannot be forwarded from the store buffer, so each segment
 * waited there for its whole payload copy to reach the cache. */
static void
fix_segment(struct dp_packet *seg, const struct dp_packet *pkt, uint32_t i,
            uint32_t count, uint32_t seglen, const uint8_t *payload)
{
    uint8_t *d = seg->data;
    uint32_t l3 = pkt->l3_ofs, l4 = pkt->l4_ofs, l7 = pkt->l7_ofs;
    uint32_t l4len = l7 - l4 + seglen;
    uint32_t sum;

    if (pkt->pflags & DP_PF_IPV4) {
        struct ipv4_hdr *ip = (void *)(d + l3);
        uint16_t id = (uint16_t)(ntohs(ip->id) + i);
        uint16_t c;

        ip->tot_len = htons((uint16_t)(l7 - l3 + seglen));
        ip->id = htons(id);
        ip->csum = 0;
        c = csum_finish(csum_partial(ip, l4 - l3, 0));
        ip->csum = c;
        sum =
            csum_pseudo_ipv4(ip->src, ip->dst, pkt->ip_proto, (uint16_t)l4len);
    } else {
        struct ipv6_hdr *ip6 = (void *)(d + l3);

        ip6->payload_len = htons((uint16_t)(l7 - l3 - sizeof *ip6 + seglen));
        sum = csum_pseudo_ipv6(&ip6->src, &ip6->dst, pkt->ip_proto, l4len);
    }

    if (pkt->ip_proto == IPPROTO_TCP_) {
        struct tcp_hdr *th = (void *)(d + l4);
        uint32_t seq = ntohl(th->seq) + i * pkt->ol.gso_size;

        th->seq = htonl(seq);
        if (i + 1 < count) {
            th->flags &= (uint8_t) ~(TCP_FIN | TCP_PSH);
        }
        if (i > 0) {
            th->flags &= (uint8_t)~TCP_CWR;
        }
        th->csum = 0;
        /* The header is an even number of bytes: the payload's sum adds
         * in as it would in one pass. */
        sum = csum_partial(payload, seglen, sum);
        sum = csum_partial(d + l4, l7 - l4, sum);
        th->csum = csum_finish(sum);
    } else {
        struct udp_hdr *uh = (void *)(d + l4);
        uint16_t c;

        uh->len = htons((uint16_t)l4len);
        uh->csum = 0;
        sum = csum_partial(payload, seglen, sum);
        sum = csum_partial(d + l4, l7 - l4, sum);
        c = csum_finish(sum);
        uh->csum = c ? c : 0xffff;
    }
}

enum dp_drop
dp_gso_segment(const struct dp_packet *pkt, struct dp_pool *pool,
               uint32_t first, struct dp_packet **segs, uint32_t max,
               uint32_t *n)
{
    uint32_t count = dp_gso_count(pkt);
    uint32_t hlen = pkt->l7_ofs, mss = pkt->ol.gso_size;
    uint32_t payload = pkt->len - hlen, want;

    *n = 0;
    if (!count || first >= count ||
        hlen + MIN(mss, payload) > dp_pool_frame_size(pool)) {
        return DP_DROP_GSO_BAD;
    }
    want = MIN(max, count - first);
    if (dp_pool_available(pool) < want) {
        return DP_DROP_NO_BUFFER;
    }
    for (uint32_t k = 0; k < want; k++) {
        uint32_t i = first + k;
        uint32_t off = i * mss;
        uint32_t seglen = MIN(mss, payload - off);
        struct dp_packet *seg = dp_pool_get(pool);

        copy_meta(seg, pkt);
        memcpy(seg->data, pkt->data, hlen);
        seg->len = hlen + seglen;
        fix_segment(seg, pkt, i, count, seglen, pkt->data + hlen + off);
        memcpy(seg->data + hlen, pkt->data + hlen + off, seglen);
        segs[k] = seg;
    }
    *n = want;
    return DP_DROP_NONE;
}

enum dp_drop
dp_csum_complete(struct dp_packet *pkt)
{
    uint32_t start = pkt->ol.csum_start;
    uint32_t at = start + pkt->ol.csum_offset;
    uint16_t c;

    if (!(pkt->ol.flags & DP_OL_CSUM_PARTIAL)) {
        return DP_DROP_NONE;
    }
    if (start > pkt->len || at + 2 > pkt->len) {
        return DP_DROP_GSO_BAD;
    }
    c = csum_finish(csum_partial(pkt->data + start, pkt->len - start, 0));
    if (!c) {
        c = 0xffff;
    }
    memcpy(pkt->data + at, &c, 2);
    pkt->ol.flags =
        (uint8_t)((pkt->ol.flags & ~DP_OL_CSUM_PARTIAL) | DP_OL_CSUM_VALID);
    return DP_DROP_NONE;
}
