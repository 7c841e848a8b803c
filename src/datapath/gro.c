/* TCP receive-side coalescing for VIFs with offloads (gro.h). */
#include "datapath/gro.h"

#include <arpa/inet.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/parse.h"

#define GRO_MAX_IP_LEN   65535
#define TCP_GRO_FLAGS_OK (TCP_ACK | TCP_PSH)

/* Payload bytes of a parsed TCP frame. */
static inline uint32_t
tcp_payload_len(const struct dp_packet *p)
{
    return p->len - p->l7_ofs;
}

/* A frame that could be a GRO head or segment at all. */
static bool
gro_eligible(const struct dp_packet *p)
{
    if (p->ip_proto != IPPROTO_TCP_ || p->l4_ofs == DP_OFS_NONE ||
        p->l7_ofs == DP_OFS_NONE || (p->pflags & DP_PF_FRAG) ||
        p->l7_ofs >= p->len) {
        return false;
    }
    if (p->pflags & DP_PF_IPV4) {
        const struct ipv4_hdr *ip = (const void *)(p->data + p->l3_ofs);
        /* No IP options, and the frame is exactly the IP packet (no
         * Ethernet padding to carry along). */
        return ip->ver_ihl == 0x45 && p->l4_ofs == p->l3_ofs + 20 &&
               ntohs(rd16(&ip->tot_len)) == p->len - p->l3_ofs;
    }
    if (p->pflags & DP_PF_IPV6) {
        const struct ipv6_hdr *ip = (const void *)(p->data + p->l3_ofs);
        return p->l4_ofs == p->l3_ofs + 40 &&
               ntohs(rd16(&ip->payload_len)) == p->len - p->l4_ofs;
    }
    return false;
}

/* Same flow and same per-packet header values, apart from the fields a
 * merge rewrites (lengths, IPv4 id and checksum, TCP seq/flags/window/
 * checksum). */
static bool
same_headers(const struct dp_packet *h, const struct dp_packet *s)
{
    const uint8_t *hd = h->data, *sd = s->data;
    uint32_t tcp_hlen = s->l7_ofs - s->l4_ofs;

    if (h->l3_ofs != s->l3_ofs || h->l4_ofs != s->l4_ofs ||
        h->l7_ofs != s->l7_ofs || h->pflags != s->pflags ||
        memcmp(hd, sd, s->l3_ofs)) { /* Ethernet and VLAN */
        return false;
    }
    if (s->pflags & DP_PF_IPV4) {
        const struct ipv4_hdr *a = (const void *)(hd + h->l3_ofs);
        const struct ipv4_hdr *b = (const void *)(sd + s->l3_ofs);
        if (a->tos != b->tos || a->ttl != b->ttl ||
            rd16(&a->frag_off) != rd16(&b->frag_off) ||
            rd32(&a->src) != rd32(&b->src) || rd32(&a->dst) != rd32(&b->dst)) {
            return false;
        }
    } else {
        const struct ipv6_hdr *a = (const void *)(hd + h->l3_ofs);
        const struct ipv6_hdr *b = (const void *)(sd + s->l3_ofs);
        if (rd32(&a->ver_tc_flow) != rd32(&b->ver_tc_flow) ||
            a->hop_limit != b->hop_limit ||
            memcmp(&a->src, &b->src, 32)) { /* src and dst */
            return false;
        }
    }
    const struct tcp_hdr *ta = (const void *)(hd + h->l4_ofs);
    const struct tcp_hdr *tb = (const void *)(sd + s->l4_ofs);
    return rd32(&ta->src) == rd32(&tb->src) && /* both ports */
           rd32(&ta->ack) == rd32(&tb->ack) && ta->off == tb->off &&
           !memcmp(hd + h->l4_ofs + 20, sd + s->l4_ofs + 20, tcp_hlen - 20);
}

/* Writes the lengths and checksums of 'head' after its payload grew. */
static void
fix_headers(struct dp_packet *head)
{
    uint8_t *d = head->data;
    uint32_t tcp_len = head->len - head->l4_ofs;
    uint32_t pseudo;

    if (head->pflags & DP_PF_IPV4) {
        struct ipv4_hdr *ip = (void *)(d + head->l3_ofs);
        uint16_t tot = htons((uint16_t)(head->len - head->l3_ofs));
        uint16_t sum = csum_update16(rd16(&ip->csum), rd16(&ip->tot_len), tot);
        uint32_t src = rd32(&ip->src), dst = rd32(&ip->dst);

        /* Only the length changed: update the header checksum (RFC 1624)
         * instead of summing the header again.  Summing it read 8-byte
         * words across the 2-byte fields just written, a load the CPU
         * cannot forward from its store buffer, so every merge waited
         * there for the payload copy before it to reach the cache: 11 %
         * of the receiving agent's packet thread in an iperf3 run. */
        memcpy(&ip->tot_len, &tot, 2);
        memcpy(&ip->csum, &sum, 2);
        pseudo = csum_pseudo_ipv4(src, dst, IPPROTO_TCP_, (uint16_t)tcp_len);
    } else {
        struct ipv6_hdr *ip = (void *)(d + head->l3_ofs);
        uint16_t plen = htons((uint16_t)tcp_len);
        memcpy(&ip->payload_len, &plen, 2);
        pseudo = csum_pseudo_ipv6(ip->src.b, ip->dst.b, IPPROTO_TCP_, tcp_len);
    }
    /* virtio-net partial checksum: the field holds the folded (not
     * complemented) pseudo-header sum. */
    uint16_t partial = (uint16_t)~csum_finish(pseudo);
    memcpy(d + head->l4_ofs + offsetof(struct tcp_hdr, csum), &partial, 2);
}

bool
dp_gro_merge(struct dp_packet *head, const struct dp_packet *seg)
{
    uint32_t seg_payload, head_payload, gso_size;
    const struct tcp_hdr *ts;
    struct tcp_hdr *th;

    if (seg->ol.flags || seg->ol.gso_type || !gro_eligible(seg)) {
        return false;
    }
    if (head->ol.gso_type == DP_GSO_NONE) {
        /* A plain segment becomes a head only if nothing else is owed. */
        if (head->ol.flags || !gro_eligible(head)) {
            return false;
        }
        gso_size = tcp_payload_len(head);
    } else if (head->ol.gso_type == DP_GSO_TCPV4 ||
               head->ol.gso_type == DP_GSO_TCPV6) {
        gso_size = head->ol.gso_size;
    } else {
        return false;
    }
    if (!same_headers(head, seg)) {
        return false;
    }

    th = (void *)(head->data + head->l4_ofs);
    ts = (const void *)(seg->data + seg->l4_ofs);
    if ((th->flags & ~TCP_GRO_FLAGS_OK) || (ts->flags & ~TCP_GRO_FLAGS_OK) ||
        (th->flags & TCP_PSH)) {
        return false; /* SYN/FIN/RST/URG/ECN, or the head already ended */
    }
    seg_payload = tcp_payload_len(seg);
    head_payload = tcp_payload_len(head);
    if (seg_payload > gso_size || head_payload % gso_size ||
        ntohl(rd32(&ts->seq)) != ntohl(rd32(&th->seq)) + head_payload ||
        head->len - head->l3_ofs + seg_payload > GRO_MAX_IP_LEN ||
        seg_payload > dp_packet_tailroom(head)) {
        return false;
    }

    memcpy(head->data + head->len, seg->data + seg->l7_ofs, seg_payload);
    head->len += seg_payload;
    th->flags |= ts->flags & TCP_PSH;
    memcpy(&th->win, &ts->win, 2); /* the newest window */

    head->ol.gso_type =
        (head->pflags & DP_PF_IPV4) ? DP_GSO_TCPV4 : DP_GSO_TCPV6;
    head->ol.gso_size = (uint16_t)gso_size;
    head->ol.hdr_len = head->l7_ofs;
    head->ol.flags = DP_OL_CSUM_PARTIAL;
    head->ol.csum_start = head->l4_ofs;
    head->ol.csum_offset = offsetof(struct tcp_hdr, csum);
    fix_headers(head);
    return true;
}

bool
dp_gro_encap_start(struct dp_gro_encap *g, struct dp_packet *head,
                   uint32_t skip)
{
    if (head->len <= skip) {
        return false;
    }
    g->head = head;
    g->skip = skip;
    g->view = *head;
    dp_packet_reset_meta(&g->view);
    dp_packet_pull(&g->view, skip);
    /* Only a TCP frame can take segments: anything else (a UDP flood,
     * say) costs one parse, not one merge attempt per following frame. */
    return dp_parse(&g->view) == DP_DROP_NONE && gro_eligible(&g->view);
}

bool
dp_gro_encap_merge(struct dp_gro_encap *g, const uint8_t *seg, uint32_t len)
{
    struct dp_packet s;

    if (len <= g->skip || memcmp(g->head->data, seg, g->skip)) {
        return false;
    }
    memset(&s, 0, sizeof s);
    dp_packet_reset_meta(&s);
    s.data = (uint8_t *)(uintptr_t)(seg + g->skip); /* dp_parse() only reads */
    s.len = len - g->skip;
    if (dp_parse(&s) != DP_DROP_NONE || !dp_gro_merge(&g->view, &s)) {
        return false;
    }
    g->head->len = g->view.len + g->skip;
    g->head->ol = g->view.ol;
    return true;
}
