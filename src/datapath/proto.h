/* Wire formats the datapath reads and writes: Ethernet, 802.1Q, ARP, IPv4,
 * IPv6, ICMP/ICMPv6, TCP, UDP, GENEVE (RFC 8926) and VXLAN (RFC 7348).
 * Every multi-byte field is in network byte order.  Structs are packed only
 * where the wire layout is not naturally aligned; access fields of packets
 * at unaligned addresses through memcpy or the helpers below. */
#ifndef WEFT_DP_PROTO_H
#define WEFT_DP_PROTO_H 1

#include <stdint.h>
#include <string.h>

#define ETH_ADDR_LEN  6
#define ETH_HDR_LEN   14
#define VLAN_HDR_LEN  4
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP  0x0806
#define ETH_TYPE_VLAN 0x8100
#define ETH_TYPE_QINQ 0x88a8
#define ETH_TYPE_IPV6 0x86dd
#define ETH_TYPE_TEB  0x6558 /* transparent Ethernet bridging (GENEVE) */

#define IPPROTO_ICMP_   1
#define IPPROTO_TCP_    6
#define IPPROTO_UDP_    17
#define IPPROTO_ICMPV6_ 58

#define GENEVE_PORT 6081
#define VXLAN_PORT  4789

struct eth_addr {
    uint8_t b[ETH_ADDR_LEN];
};

struct eth_hdr {
    struct eth_addr dst;
    struct eth_addr src;
    uint16_t type;
} __attribute__((packed));

struct vlan_hdr {
    uint16_t tci;
    uint16_t type;
} __attribute__((packed));

#define ARP_HTYPE_ETH  1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY   2
struct arp_eth_ipv4 {
    uint16_t htype;
    uint16_t ptype;
    uint8_t hlen;
    uint8_t plen;
    uint16_t op;
    struct eth_addr sha;
    uint32_t spa;
    struct eth_addr tha;
    uint32_t tpa;
} __attribute__((packed));

struct ipv4_hdr {
    uint8_t ver_ihl;
    uint8_t tos;
    uint16_t tot_len;
    uint16_t id;
    uint16_t frag_off; /* flags (3 bits) + offset (13 bits, 8-byte units) */
    uint8_t ttl;
    uint8_t proto;
    uint16_t csum;
    uint32_t src;
    uint32_t dst;
} __attribute__((packed));
#define IPV4_DF          0x4000
#define IPV4_MF          0x2000
#define IPV4_OFFSET_MASK 0x1fff

struct in6_addr_ {
    uint8_t b[16];
};

struct ipv6_hdr {
    uint32_t ver_tc_flow;
    uint16_t payload_len;
    uint8_t next;
    uint8_t hop_limit;
    struct in6_addr_ src;
    struct in6_addr_ dst;
} __attribute__((packed));

/* IPv6 extension headers the parser walks. */
#define IPV6_EXT_HOPOPTS  0
#define IPV6_EXT_ROUTING  43
#define IPV6_EXT_FRAGMENT 44
#define IPV6_EXT_AH       51
#define IPV6_EXT_DSTOPTS  60
#define IPV6_EXT_NONE     59

struct icmp_hdr {
    uint8_t type;
    uint8_t code;
    uint16_t csum;
    uint32_t rest;
} __attribute__((packed));

#define ICMP6_RS       133
#define ICMP6_RA       134
#define ICMP6_NS       135
#define ICMP6_NA       136
#define ICMP6_REDIRECT 137
#define ND_OPT_SLLA    1
#define ND_OPT_TLLA    2
struct nd_hdr { /* neighbour solicitation / advertisement */
    uint8_t type;
    uint8_t code;
    uint16_t csum;
    uint32_t flags; /* NA: R, S, O in the top bits */
    struct in6_addr_ target;
} __attribute__((packed));
#define ND_NA_FLAG_ROUTER    0x80000000u
#define ND_NA_FLAG_SOLICITED 0x40000000u
#define ND_NA_FLAG_OVERRIDE  0x20000000u

struct tcp_hdr {
    uint16_t src;
    uint16_t dst;
    uint32_t seq;
    uint32_t ack;
    uint8_t off;   /* data offset in the top 4 bits */
    uint8_t flags; /* CWR ECE URG ACK PSH RST SYN FIN */
    uint16_t win;
    uint16_t csum;
    uint16_t urg;
} __attribute__((packed));
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

struct udp_hdr {
    uint16_t src;
    uint16_t dst;
    uint16_t len;
    uint16_t csum;
} __attribute__((packed));

/* GENEVE base header (RFC 8926 section 3.4). */
struct geneve_hdr {
    uint8_t ver_optlen; /* version (2 bits, 0) + option length (6 bits, 4B) */
    uint8_t flags;      /* O (control), C (critical options present) */
    uint16_t proto;     /* ETH_TYPE_TEB for Ethernet payloads */
    uint8_t vni[3];
    uint8_t reserved;
} __attribute__((packed));
#define GENEVE_HDR_LEN    8
#define GENEVE_F_OAM      0x80
#define GENEVE_F_CRITICAL 0x40

struct geneve_opt {
    uint16_t opt_class;
    uint8_t type; /* top bit: critical */
    uint8_t len;  /* low 5 bits: data length in 4-byte words */
} __attribute__((packed));
#define GENEVE_OPT_CRITICAL 0x80

/* Weft's own option carrying the source logical port.  Class 0xffff is
 * "Experimental Use" in the IANA Geneve option-class registry; we use it
 * until a class is assigned. */
#define WEFT_GENEVE_CLASS        0xffff
#define WEFT_GENEVE_OPT_SRC_PORT 0x01
#define WEFT_GENEVE_OPTS_LEN     8 /* one option header + 4 data bytes */

/* VXLAN header (RFC 7348 section 5). */
struct vxlan_hdr {
    uint8_t flags; /* I flag 0x08: VNI valid */
    uint8_t reserved1[3];
    uint8_t vni[3];
    uint8_t reserved2;
} __attribute__((packed));
#define VXLAN_HDR_LEN 8
#define VXLAN_F_VNI   0x08

static inline uint16_t
rd16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t
rd32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t
rd64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t
vni_get(const uint8_t vni[3])
{
    return (uint32_t)vni[0] << 16 | (uint32_t)vni[1] << 8 | vni[2];
}

static inline void
vni_put(uint8_t vni[3], uint32_t v)
{
    vni[0] = (uint8_t)(v >> 16);
    vni[1] = (uint8_t)(v >> 8);
    vni[2] = (uint8_t)v;
}

static inline int
eth_addr_is_multicast(const struct eth_addr *a)
{
    return a->b[0] & 1;
}

static inline int
eth_addr_equals(const struct eth_addr *a, const struct eth_addr *b)
{
    return !memcmp(a, b, ETH_ADDR_LEN);
}

/* IPv6 address classes (16-byte addresses). */
static inline bool
ip6_is_link_local(const uint8_t *a)
{
    return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; /* fe80::/10 */
}

static inline bool
ip6_is_unspecified(const uint8_t *a)
{
    static const uint8_t zero[16];
    return !memcmp(a, zero, 16);
}

#endif
