/* ARP and IPv6 ND responder (neigh.h). */
#include "datapath/neigh.h"

#include <arpa/inet.h>
#include <string.h>

#include "datapath/csum.h"

static void
ipv4_to_mapped(uint32_t v4, uint8_t ip[16])
{
    memset(ip, 0, 10);
    ip[10] = ip[11] = 0xff;
    memcpy(ip + 12, &v4, 4);
}

static bool
arp_reply(struct dp_packet *pkt, const struct dp_tables *t, uint32_t segment)
{
    struct arp_eth_ipv4 arp;
    struct eth_hdr eth;
    const struct eth_addr *owner;
    uint8_t ip[16];
    uint32_t tpa;

    if (pkt->len < pkt->l3_ofs + sizeof arp) {
        return false;
    }
    memcpy(&arp, pkt->data + pkt->l3_ofs, sizeof arp);
    if (arp.op != htons(ARP_OP_REQUEST)) {
        return false;
    }
    ipv4_to_mapped(arp.tpa, ip);
    owner = dp_neigh_lookup(t, segment, ip);
    if (!owner || eth_addr_equals(owner, &arp.sha) || arp.tpa == arp.spa) {
        return false;
    }

    memcpy(&eth, pkt->data, sizeof eth);
    eth.dst = eth.src;
    eth.src = *owner;
    memcpy(pkt->data, &eth.dst, 2 * ETH_ADDR_LEN);

    tpa = arp.tpa;
    arp.op = htons(ARP_OP_REPLY);
    arp.tha = arp.sha;
    arp.tpa = arp.spa;
    arp.sha = *owner;
    arp.spa = tpa;
    memcpy(pkt->data + pkt->l3_ofs, &arp, sizeof arp);
    return true;
}

#define NA_LEN (sizeof(struct nd_hdr) + 8) /* NA + target link-layer opt */

static bool
nd_reply(struct dp_packet *pkt, const struct dp_tables *t, uint32_t segment)
{
    struct ipv6_hdr ip6;
    struct nd_hdr nd;
    const struct eth_addr *owner;
    static const uint8_t unspecified[16];
    uint8_t *l4;

    if (pkt->ip_proto != IPPROTO_ICMPV6_ || pkt->l4_ofs == DP_OFS_NONE ||
        pkt->l4_ofs != pkt->l3_ofs + sizeof ip6 ||
        dp_packet_ip_end(pkt) < pkt->data + pkt->l4_ofs + sizeof nd) {
        return false; /* RFC 4861 7.1.1: ICMP length 24 or more */
    }
    memcpy(&ip6, pkt->data + pkt->l3_ofs, sizeof ip6);
    memcpy(&nd, pkt->data + pkt->l4_ofs, sizeof nd);
    if (nd.type != ICMP6_NS || nd.code != 0 || ip6.hop_limit != 255 ||
        !memcmp(ip6.src.b, unspecified, 16)) {
        return false; /* not an NS, invalid (RFC 4861 7.1.1), or DAD */
    }
    owner = dp_neigh_lookup(t, segment, nd.target.b);
    if (!owner || eth_addr_equals(owner, &dp_packet_eth(pkt)->src)) {
        return false;
    }
    if (pkt->l4_ofs + NA_LEN > pkt->len + dp_packet_tailroom(pkt)) {
        return false;
    }

    /* Ethernet: back to the sender, from the owner. */
    struct eth_hdr eth;
    memcpy(&eth, pkt->data, sizeof eth);
    eth.dst = eth.src;
    eth.src = *owner;
    memcpy(pkt->data, &eth.dst, 2 * ETH_ADDR_LEN);

    /* IPv6: from the target address to the solicitor. */
    ip6.dst = ip6.src;
    ip6.src = nd.target;
    ip6.payload_len = htons(NA_LEN);
    ip6.hop_limit = 255;
    memcpy(pkt->data + pkt->l3_ofs, &ip6, sizeof ip6);

    /* NA with the target link-layer address option. */
    l4 = pkt->data + pkt->l4_ofs;
    nd.type = ICMP6_NA;
    nd.code = 0;
    nd.csum = 0;
    nd.flags = ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE;
    if (t->segments[segment].router != DP_ROUTER_NONE &&
        eth_addr_equals(owner, &t->segments[segment].router_mac)) {
        nd.flags |= ND_NA_FLAG_ROUTER; /* RFC 4861 4.4: else hosts drop
                                        * us as a default router */
    }
    nd.flags = htonl(nd.flags);
    memcpy(l4, &nd, sizeof nd);
    l4[sizeof nd] = ND_OPT_TLLA;
    l4[sizeof nd + 1] = 1; /* length in units of 8 bytes */
    memcpy(l4 + sizeof nd + 2, owner, ETH_ADDR_LEN);

    uint32_t sum =
        csum_pseudo_ipv6(ip6.src.b, ip6.dst.b, IPPROTO_ICMPV6_, NA_LEN);
    uint16_t csum = csum_finish(csum_partial(l4, NA_LEN, sum));
    memcpy(l4 + offsetof(struct nd_hdr, csum), &csum, 2);

    pkt->len = pkt->l4_ofs + NA_LEN;
    pkt->l7_ofs = DP_OFS_NONE;
    return true;
}

bool
dp_neigh_reply(struct dp_packet *pkt, const struct dp_tables *t,
               uint32_t segment)
{
    if (pkt->pflags & DP_PF_ARP) {
        return arp_reply(pkt, t, segment);
    }
    if (pkt->pflags & DP_PF_IPV6) {
        return nd_reply(pkt, t, segment);
    }
    return false;
}
