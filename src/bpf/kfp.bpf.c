/* Weft's kernel fast path (docs/decisions.md 70): BPF programs that carry
 * the frames of plain L2 unicast between VIFs and tunnels inside the
 * kernel, in the sender's context, without a copy or a thread wake-up.
 * The agent's pipeline stays the authority: it fills the maps below
 * (kfp.c) from the snapshot it publishes, only for what needs no more
 * than this (a VIF without a firewall, a MAC that is a local port or a
 * remote binding), and every frame this code does not take goes on to the
 * agent unchanged.
 *
 *   kfp_vif_in      tc ingress of a VIF's host-side device: a frame from
 *                   the VM to a known unicast MAC of its segment is sent to
 *                   the local VIF, or encapsulated (GENEVE/VXLAN over
 *                   IPv4) and sent to the underlay.
 *   kfp_vif_filter  socket filter on the agent's AF_PACKET socket of that
 *                   VIF: packet sockets see a frame before tc ingress does,
 *                   so the socket lets go of the frames kfp_vif_in takes.
 *                   Both decide with vif_classify(), on the same maps.
 *   kfp_tun_in      tc ingress of the underlay device: a GENEVE/VXLAN
 *                   packet to this host's endpoint from a known peer, for a
 *                   segment it knows and a local MAC the fast path may
 *                   deliver to, is decapsulated and delivered to the VIF.
 *
 * What is left to the agent: ARP, IPv6 ND and router solicitations,
 * DHCP, broadcast, multicast and unknown unicast, VLAN tags, IPv4 options
 * and fragments, IPv6 extension headers, frames over the segment's MTU,
 * routed frames (to a router MAC), VIFs with a firewall, IPv6 underlays.
 * The outer UDP checksum is zero (RFC 7348, RFC 8926 allow it over IPv4);
 * on receipt it is not checked: the inner frame's own checksums are
 * checked end to end by the VM. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "datapath/kfp-abi.h"

/* Linux 6.3 uapi; the build host's headers may be older. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

#define PUNT_DHCP4 0x01 /* tables.h DP_PUNT_* */
#define PUNT_DHCP6 0x02

#define ETH_LEN          14
#define IP4_LEN          20
#define UDP_LEN          8
#define VXLAN_LEN        8
#define GENEVE_MIN       8
#define GENEVE_PROTO_TEB 0x6558

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct kfp_cfg);
} kfp_cfg SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KFP_MAX_VIFS);
    __type(key, __u32); /* ifindex */
    __type(value, struct kfp_vif);
} kfp_vifs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KFP_MAX_SEGS);
    __type(key, __u32); /* VNI */
    __type(value, struct kfp_seg);
} kfp_segs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KFP_MAX_MACS);
    __uint(map_flags, BPF_F_NO_PREALLOC); /* memory as entries come */
    __type(key, struct kfp_mac_key);
    __type(value, struct kfp_mac_val);
} kfp_macs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KFP_MAX_PEERS);
    __type(key, __u32); /* IPv4, network order */
    __type(value, __u8);
} kfp_peers SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, KFP_STAT_SLOTS);
    __type(key, __u32);
    __type(value, struct kfp_vif_stats);
} kfp_vif_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, KFP_ST_MAX);
    __type(key, __u32);
    __type(value, __u64);
} kfp_stats SEC(".maps");

static __always_inline void
count(__u32 which)
{
    __u64 *c = bpf_map_lookup_elem(&kfp_stats, &which);
    if (c) {
        *c += 1;
    }
}

static __always_inline void
count_vif(__u32 slot, int to_vm, __u32 bytes)
{
    struct kfp_vif_stats *s = bpf_map_lookup_elem(&kfp_vif_stats, &slot);
    if (!s) {
        return;
    }
    if (to_vm) {
        s->to_vm_packets++;
        s->to_vm_bytes += bytes;
    } else {
        s->from_vm_packets++;
        s->from_vm_bytes += bytes;
    }
}

static __always_inline int
mac_is_multicast(const __u8 *mac)
{
    return mac[0] & 1;
}

/* What vif_classify() found for a frame the fast path takes. */
struct vif_route {
    const struct kfp_vif *vif;
    const struct kfp_seg *seg;
    const struct kfp_mac_val *dst;
    struct ethhdr eth;
};

/* The L3/L4 checks of a frame whose L3 header starts at 'l3', 'proto' its
 * EtherType: 0 if the agent must see it (see the top of the file), else
 * 1.  The lengths are checked as the pipeline's parser (parse.c) checks
 * them.  'seg' is the segment of a frame from a VIF (its punt flags and
 * MTU apply), NULL for a decapsulated frame. */
static __always_inline int
l3_ok(struct __sk_buff *skb, __u32 l3, __u16 proto, const struct kfp_seg *seg,
      __u32 len, __u32 gso_size)
{
    __u32 l4, end, hdr; /* L4 offset, end of the IP packet, header bytes */
    __u8 ip_proto;

    if (l3 > len) {
        return 0;
    }
    if (proto == ETH_P_IP) {
        struct iphdr ip;
        if (bpf_skb_load_bytes(skb, l3, &ip, sizeof ip)) {
            return 0;
        }
        if (ip.version != 4 || ip.ihl != 5 ||
            (ip.frag_off & bpf_htons(0x3fff)) ||
            bpf_ntohs(ip.tot_len) < IP4_LEN ||
            bpf_ntohs(ip.tot_len) > len - l3) {
            return 0;
        }
        ip_proto = ip.protocol;
        l4 = l3 + IP4_LEN;
        end = l3 + bpf_ntohs(ip.tot_len);
    } else if (proto == ETH_P_IPV6) {
        struct ipv6hdr ip6;
        if (bpf_skb_load_bytes(skb, l3, &ip6, sizeof ip6)) {
            return 0;
        }
        if (ip6.version != 6 ||
            bpf_ntohs(ip6.payload_len) + sizeof ip6 > len - l3) {
            return 0;
        }
        ip_proto = ip6.nexthdr;
        l4 = l3 + sizeof ip6;
        end = l4 + bpf_ntohs(ip6.payload_len);
    } else {
        return 0;
    }

    if (ip_proto == IPPROTO_TCP) {
        __u8 doff;
        if (bpf_skb_load_bytes(skb, l4 + 12, &doff, 1) || (doff >> 4) < 5 ||
            l4 + (doff >> 4) * 4 > end) {
            return 0;
        }
        hdr = l4 - l3 + (doff >> 4) * 4;
    } else if (ip_proto == IPPROTO_UDP) {
        struct udphdr uh;
        if (l4 + UDP_LEN > end || bpf_skb_load_bytes(skb, l4, &uh, sizeof uh)) {
            return 0;
        }
        /* (a GSO frame's UDP length is its first datagram's) */
        if (!gso_size &&
            (bpf_ntohs(uh.len) < UDP_LEN || l4 + bpf_ntohs(uh.len) > end)) {
            return 0;
        }
        __u16 dport = bpf_ntohs(uh.dest);
        if (seg &&
            ((dport == 67 && (seg->punt & PUNT_DHCP4) && proto == ETH_P_IP) ||
             (dport == 547 && (seg->punt & PUNT_DHCP6) &&
              proto == ETH_P_IPV6))) {
            return 0;
        }
        hdr = l4 - l3 + UDP_LEN;
    } else if (ip_proto == IPPROTO_ICMPV6 && proto == ETH_P_IPV6) {
        __u8 type;
        if (l4 + 4 > end || bpf_skb_load_bytes(skb, l4, &type, 1) ||
            (type >= 133 && type <= 137)) { /* RS, RA, NS, NA, redirect */
            return 0;
        }
        hdr = l4 - l3;
    } else if (ip_proto == IPPROTO_ICMP && proto == ETH_P_IP) {
        if (l4 + 8 > end) {
            return 0;
        }
        hdr = l4 - l3;
    } else {
        return 0;
    }
    if (!seg) {
        return 1;
    }

    /* What each frame on the wire will be: one segment of a GSO frame,
     * or the frame itself. */
    if (gso_size) {
        return ETH_LEN + hdr + gso_size <= seg->max_frame;
    }
    return len <= seg->max_frame;
}

/* Whether the fast path takes a frame from the VIF it arrived on: 1 and
 * '*r' filled if it does, else 0.  Reads only the maps and the frame, so
 * the socket filter and the tc program agree. */
static __always_inline int
vif_classify(struct __sk_buff *skb, struct vif_route *r)
{
    struct kfp_mac_key key = {};
    /* Context fields are read once, into registers (the verifier refuses
     * a load through a context pointer the compiler has offset). */
    __u32 ifindex = skb->ifindex, len = skb->len, gso_size = skb->gso_size;

    if (skb->vlan_present || len < ETH_LEN) {
        return 0;
    }
    r->vif = bpf_map_lookup_elem(&kfp_vifs, &ifindex);
    if (!r->vif) {
        return 0;
    }
    if (bpf_skb_load_bytes(skb, 0, &r->eth, sizeof r->eth) ||
        mac_is_multicast(r->eth.h_dest) || mac_is_multicast(r->eth.h_source)) {
        return 0;
    }
    key.vni = r->vif->vni;
    __builtin_memcpy(key.mac, r->eth.h_dest, 6);
    r->dst = bpf_map_lookup_elem(&kfp_macs, &key);
    if (!r->dst || r->dst->ifindex == ifindex) { /* unknown; hairpin */
        return 0;
    }
    r->seg = bpf_map_lookup_elem(&kfp_segs, &key.vni);
    if (!r->seg) {
        return 0;
    }
    return l3_ok(skb, ETH_LEN, bpf_ntohs(r->eth.h_proto), r->seg, len,
                 gso_size);
}

SEC("socket")
int
kfp_vif_filter(struct __sk_buff *skb)
{
    struct vif_route r;
    return vif_classify(skb, &r) ? 0 : skb->len;
}

/* Sends a frame to a local VIF, from a tc ingress hook (the only place a
 * veth's peer can be reached from directly). */
static __always_inline int
to_local(const struct kfp_mac_val *dst, __u32 len)
{
    count_vif(dst->slot, 1, len);
    if (dst->flags & KFP_MAC_PEER) {
        return bpf_redirect_peer(dst->ifindex, 0);
    }
    return bpf_redirect(dst->ifindex, 0);
}

static __always_inline __u16
ip4_csum(const struct iphdr *ip)
{
    const __u16 *w = (const __u16 *)ip;
    __u32 sum = 0;
#pragma clang loop unroll(full)
    for (int i = 0; i < IP4_LEN / 2; i++) {
        sum += w[i];
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

/* The outer headers in front of an inner frame of 'inner_len' bytes. */
struct encap_hdr {
    struct iphdr ip;
    struct udphdr udp;
    __u8 tun[16];
};

static __always_inline int
encap(struct __sk_buff *skb, const struct vif_route *r)
{
    const struct kfp_seg *seg = r->seg;
    __u32 zero = 0, inner_len = skb->len, hdr_len, tun_len;
    struct kfp_cfg *cfg = bpf_map_lookup_elem(&kfp_cfg, &zero);
    struct encap_hdr h = {};
    __u64 flags;
    __u16 sport;

    if (!cfg || !cfg->local_ip || !cfg->sport_count) {
        return -1;
    }
    tun_len = seg->encap == KFP_ENCAP_GENEVE ? 16 : 8;
    hdr_len = IP4_LEN + UDP_LEN + tun_len;

    sport = cfg->sport_min[seg->encap & 1] +
            (__u16)(bpf_get_hash_recalc(skb) % cfg->sport_count);
    h.ip.version = 4;
    h.ip.ihl = 5;
    h.ip.ttl = 64;
    h.ip.frag_off = bpf_htons(0x4000); /* DF, as the tunnel socket sends */
    h.ip.protocol = IPPROTO_UDP;
    h.ip.tot_len = bpf_htons((__u16)(inner_len + hdr_len));
    h.ip.saddr = cfg->local_ip;
    h.ip.daddr = r->dst->vtep;
    h.ip.check = ip4_csum(&h.ip);
    h.udp.source = bpf_htons(sport);
    h.udp.dest =
        seg->encap == KFP_ENCAP_GENEVE ? cfg->geneve_port : cfg->vxlan_port;
    h.udp.len = bpf_htons((__u16)(inner_len + UDP_LEN + tun_len));
    __builtin_memcpy(h.tun, seg->hdr, 16);
    if (seg->encap == KFP_ENCAP_GENEVE) {
        __u32 lport = bpf_htonl(r->vif->lport);
        __builtin_memcpy(h.tun + 12, &lport, 4);
    }

    /* Room after the Ethernet header for the outer IP, UDP, tunnel
     * header and the inner Ethernet header; the frame's own Ethernet
     * header stays in front as the outer one, which bpf_redirect_neigh()
     * rewrites.  The MSS stays: the VM's MTU already leaves room. */
    flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
            BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
            BPF_F_ADJ_ROOM_ENCAP_L2(ETH_LEN);
    if (bpf_skb_adjust_room(skb, (__s32)(hdr_len + ETH_LEN), BPF_ADJ_ROOM_MAC,
                            flags)) {
        return -1;
    }
    if (bpf_skb_store_bytes(skb, ETH_LEN, &h, hdr_len, 0) ||
        bpf_skb_store_bytes(skb, ETH_LEN + hdr_len, &r->eth, ETH_LEN, 0)) {
        return -1;
    }
    __u16 ip_type = bpf_htons(ETH_P_IP);
    if (bpf_skb_store_bytes(skb, 12, &ip_type, 2, 0)) {
        return -1;
    }
    return (int)cfg->underlay_ifindex;
}

SEC("tc")
int
kfp_vif_in(struct __sk_buff *skb)
{
    struct vif_route r;
    __u32 len = skb->len;
    int oif;

    if (!vif_classify(skb, &r)) {
        return TC_ACT_OK; /* the agent's socket has it */
    }
    /* From here on the socket filter has let go of the frame: what
     * cannot be sent is dropped and counted. */
    count_vif(r.vif->slot, 0, len);
    if (r.dst->ifindex) {
        count(KFP_ST_LOCAL);
        return to_local(r.dst, len);
    }
    oif = encap(skb, &r);
    if (oif <= 0) {
        count(KFP_ST_ERR_ENCAP);
        return TC_ACT_SHOT;
    }
    count(KFP_ST_ENCAP);
    return bpf_redirect_neigh((__u32)oif, NULL, 0, 0);
}

/* The tunnel header at 'off': its length if it is one the fast path
 * takes (an Ethernet frame, no control or critical option bits), else 0;
 * '*vni' is set. */
static __always_inline __u32
tun_hdr(struct __sk_buff *skb, __u32 off, int geneve, __u32 *vni)
{
    __u8 h[8];

    if (bpf_skb_load_bytes(skb, off, h, sizeof h)) {
        return 0;
    }
    *vni = ((__u32)h[4] << 16) | ((__u32)h[5] << 8) | h[6];
    if (!geneve) {
        /* VXLAN: only the I flag, reserved bits zero */
        return h[0] == 0x08 && !h[1] && !h[2] && !h[3] && !h[7] ? VXLAN_LEN : 0;
    }
    /* GENEVE: version 0, no O or C bit, Ethernet payload */
    if ((h[0] >> 6) || (h[1] & 0xc0) ||
        ((__u16)h[2] << 8 | h[3]) != GENEVE_PROTO_TEB || h[7]) {
        return 0;
    }
    /* Options: none, or exactly Weft's source-port option (the pipeline
     * judges any other, critical or not). */
    if (!(h[0] & 0x3f)) {
        return GENEVE_MIN;
    }
    __u8 o[4];
    if ((h[0] & 0x3f) != 2 || bpf_skb_load_bytes(skb, off + GENEVE_MIN, o, 4) ||
        o[0] != 0xff || o[1] != 0xff || o[2] != 0x01 || (o[3] & 0x1f) != 1) {
        return 0;
    }
    return GENEVE_MIN + 8;
}

/* Whether the inner IP packet at 'l3' runs to the end of the frame. */
static __always_inline int
one_inner_packet(struct __sk_buff *skb, __u32 l3, __u64 family, __u32 skb_len)
{
    __u16 len;

    if (family == BPF_F_ADJ_ROOM_DECAP_L3_IPV4) {
        if (bpf_skb_load_bytes(skb, l3 + 2, &len, 2)) {
            return 0;
        }
        return bpf_ntohs(len) == skb_len - l3;
    }
    if (bpf_skb_load_bytes(skb, l3 + 4, &len, 2)) {
        return 0;
    }
    return bpf_ntohs(len) + 40 == skb_len - l3;
}

SEC("tc")
int
kfp_tun_in(struct __sk_buff *skb)
{
    struct kfp_mac_key key = {};
    struct kfp_mac_val *dst;
    struct kfp_seg *seg;
    struct kfp_cfg *cfg;
    struct ethhdr inner;
    struct iphdr ip;
    struct udphdr udp;
    __u32 zero = 0, vni, tlen, strip, off;
    __u64 flags;
    int geneve;

    __u32 len = skb->len, gso_size = skb->gso_size; /* read once */

    if (skb->protocol != bpf_htons(ETH_P_IP) || skb->vlan_present) {
        return TC_ACT_OK;
    }
    cfg = bpf_map_lookup_elem(&kfp_cfg, &zero);
    if (!cfg || !cfg->local_ip) {
        return TC_ACT_OK;
    }
    if (bpf_skb_load_bytes(skb, ETH_LEN, &ip, sizeof ip) || ip.version != 4 ||
        ip.ihl != 5 || ip.protocol != IPPROTO_UDP ||
        (ip.frag_off & bpf_htons(0x3fff)) || ip.daddr != cfg->local_ip) {
        return TC_ACT_OK;
    }
    if (bpf_skb_load_bytes(skb, ETH_LEN + IP4_LEN, &udp, sizeof udp)) {
        return TC_ACT_OK;
    }
    if (udp.dest == cfg->geneve_port) {
        geneve = 1;
    } else if (udp.dest == cfg->vxlan_port) {
        geneve = 0;
    } else {
        return TC_ACT_OK;
    }
    if (!bpf_map_lookup_elem(&kfp_peers, &ip.saddr)) {
        return TC_ACT_OK; /* the agent counts it (decision 63) */
    }
    off = ETH_LEN + IP4_LEN + UDP_LEN;
    tlen = tun_hdr(skb, off, geneve, &vni);
    if (!tlen) {
        return TC_ACT_OK;
    }
    seg = bpf_map_lookup_elem(&kfp_segs, &vni);
    if (!seg || seg->encap != (geneve ? KFP_ENCAP_GENEVE : KFP_ENCAP_VXLAN)) {
        return TC_ACT_OK;
    }
    off += tlen;
    if (bpf_skb_load_bytes(skb, off, &inner, sizeof inner) ||
        mac_is_multicast(inner.h_dest)) {
        return TC_ACT_OK;
    }
    if (inner.h_proto == bpf_htons(ETH_P_IP)) {
        flags = BPF_F_ADJ_ROOM_DECAP_L3_IPV4;
    } else if (inner.h_proto == bpf_htons(ETH_P_IPV6)) {
        flags = BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
    } else {
        return TC_ACT_OK; /* ARP and the rest: the agent */
    }
    /* A GSO packet must be one inner packet (a super-frame in a tunnel,
     * as this path or a kernel VXLAN device sends it), not a train of
     * tunnel datagrams (UDP GSO from the pipeline's tunnel socket, or
     * UDP GRO): stripping the first header of a train would corrupt
     * the rest.  The inner IP length tells them apart. */
    if (gso_size && !one_inner_packet(skb, off + ETH_LEN, flags, len)) {
        return TC_ACT_OK;
    }
    if (mac_is_multicast(inner.h_source) ||
        !l3_ok(skb, off + ETH_LEN, bpf_ntohs(inner.h_proto), NULL, len,
               gso_size)) {
        return TC_ACT_OK; /* the pipeline drops and counts it */
    }
    key.vni = vni;
    __builtin_memcpy(key.mac, inner.h_dest, 6);
    dst = bpf_map_lookup_elem(&kfp_macs, &key);
    if (!dst || !dst->ifindex) {
        return TC_ACT_OK;
    }
    /* Only a veth peer takes a GSO frame whose GSO type still says
     * "tunnel" after the header is gone (a tap's virtio-net header
     * cannot say it). */
    if (!(dst->flags & KFP_MAC_PEER) && gso_size) {
        return TC_ACT_OK;
    }

    strip = off - ETH_LEN; /* outer IP, UDP, tunnel header: */
    strip += ETH_LEN;      /* and the inner Ethernet header, copied over */
    if (bpf_skb_adjust_room(skb, -(__s32)strip, BPF_ADJ_ROOM_MAC,
                            BPF_F_ADJ_ROOM_FIXED_GSO | flags)) {
        count(KFP_ST_ERR_DECAP);
        return TC_ACT_OK; /* untouched: the agent's socket has it */
    }
    if (bpf_skb_store_bytes(skb, 0, &inner, sizeof inner, 0)) {
        count(KFP_ST_ERR_REDIRECT);
        return TC_ACT_SHOT;
    }
    count(KFP_ST_DECAP);
    return to_local(dst, len - strip);
}
