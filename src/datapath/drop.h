/* The one table of datapath drop reasons.  Every dropped packet is counted
 * under exactly one of these; `weft-agent ctl counters` shows them by name.
 * Numbers are stable: append new reasons at the end of their group. */
#ifndef WEFT_DP_DROP_H
#define WEFT_DP_DROP_H 1

#define DP_DROP_REASONS(X)                                                     \
    /* parser: malformed or truncated frames */                                \
    X(RUNT, "frame shorter than an Ethernet header")                           \
    X(VLAN_TRUNC, "truncated 802.1Q tag")                                      \
    X(VLAN_TOO_MANY, "more 802.1Q tags than supported")                        \
    X(ARP_TRUNC, "truncated ARP packet")                                       \
    X(ARP_BAD, "ARP that is not Ethernet/IPv4")                                \
    X(IPV4_TRUNC, "truncated IPv4 header")                                     \
    X(IPV4_BAD_VERSION, "IPv4 version field is not 4")                         \
    X(IPV4_BAD_IHL, "IPv4 header length below 20 bytes")                       \
    X(IPV4_BAD_LEN, "IPv4 total length inconsistent with frame")               \
    X(IPV6_TRUNC, "truncated IPv6 header")                                     \
    X(IPV6_BAD_VERSION, "IPv6 version field is not 6")                         \
    X(IPV6_BAD_LEN, "IPv6 payload length inconsistent with frame")             \
    X(IPV6_EXT_TRUNC, "truncated IPv6 extension header")                       \
    X(IPV6_EXT_TOO_MANY, "too many IPv6 extension headers")                    \
    X(TCP_TRUNC, "truncated TCP header")                                       \
    X(TCP_BAD_OFF, "TCP data offset out of range")                             \
    X(UDP_TRUNC, "truncated UDP header")                                       \
    X(UDP_BAD_LEN, "UDP length inconsistent with IP length")                   \
    X(ICMP_TRUNC, "truncated ICMP/ICMPv6 header")                              \
    X(SRC_MAC_MULTICAST, "multicast source MAC address")                       \
    /* tunnels */                                                              \
    X(TUN_TRUNC, "truncated tunnel header")                                    \
    X(TUN_BAD_VERSION, "unsupported GENEVE version")                           \
    X(TUN_BAD_PROTO, "tunnel payload is not Ethernet")                         \
    X(TUN_OAM, "GENEVE OAM frame (not handled)")                               \
    X(TUN_CRITICAL_OPT, "unknown critical GENEVE option")                      \
    X(TUN_BAD_FLAGS, "VXLAN header without the VNI flag")                      \
    X(TUN_UNKNOWN_VNI, "VNI of no local segment")                              \
    X(TUN_UNKNOWN_PEER, "tunnel packet from an unknown endpoint")              \
    /* logical switching */                                                    \
    X(PORT_UNBOUND, "frame from a port bound to no segment")                   \
    X(SPOOFED_SRC_MAC, "reserved, never counted (see SPOOFGUARD)")             \
    X(NO_DESTINATION, "no destination for the frame")                          \
    X(HAIRPIN, "destination is the source port")                               \
    X(TOO_BIG, "frame larger than the egress MTU or a receive buffer")         \
    X(GSO_BAD, "offload request that cannot be honoured")                      \
    X(NO_BUFFER, "buffer pool exhausted")                                      \
    X(TX_ERROR, "output port failed to send")                                  \
    /* distributed firewall */                                                 \
    X(SPOOFGUARD, "source, or address ARP/ND claims, not the vNIC's own")      \
    X(FW_DROP, "dropped by a firewall rule")                                   \
    X(FW_REJECT, "rejected by a firewall rule (answered if allowed)")          \
    X(CT_INVALID, "invalid for its connection's state (conntrack)")            \
    X(CT_FULL, "connection table full")                                        \
    /* punt to the agent (DHCP, router solicitations) */                       \
    X(PUNT_FULL, "punt ring to the agent full")                                \
    X(PUNT_TOO_BIG, "control frame too large to punt")                         \
    /* distributed routing */                                                  \
    X(ROUTE_NOT_IP, "frame to a router MAC that is not IPv4 or IPv6")          \
    X(ROUTE_TO_ROUTER, "to a router address and not an echo request")          \
    X(ROUTE_NOT_ROUTABLE, "multicast, broadcast or link-local address")        \
    X(ROUTE_TTL_EXPIRED, "TTL or hop limit expired (answered if allowed)")     \
    X(ROUTE_NO_ROUTE, "no route to the destination (answered if allowed)")     \
    X(ROUTE_DISCARD, "matched a discard route")                                \
    X(ROUTE_NO_NEIGH, "next hop MAC unknown (answered if allowed)")            \
    X(ROUTE_TOO_BIG, "larger than the egress MTU (answered if allowed)")       \
    X(ROUTE_FRAG_FAILED, "IPv4 packet that cannot be fragmented")              \
    X(ROUTE_FROM_TUNNEL, "frame from a tunnel addressed to a router MAC")

enum dp_drop {
    DP_DROP_NONE = 0,
#define DP_DROP_ENUM(NAME, DESC) DP_DROP_##NAME,
    DP_DROP_REASONS(DP_DROP_ENUM)
#undef DP_DROP_ENUM
        DP_DROP_N_REASONS
};

/* Name as written in the table ("IPV4_TRUNC") and description. */
const char *dp_drop_name(enum dp_drop);
const char *dp_drop_description(enum dp_drop);

#endif
