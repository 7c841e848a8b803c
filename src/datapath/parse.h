/* Header parser: the first stage of the pipeline.
 *
 * dp_parse() walks Ethernet, up to two 802.1Q/802.1ad tags, ARP, IPv4,
 * IPv6 (with its extension headers: hop-by-hop, routing, fragment,
 * destination options, AH), and TCP, UDP, ICMP and ICMPv6, and fills the
 * parse fields of 'pkt' (packet.h).  It never reads outside [data, data+len)
 * and never writes the frame.  A malformed or truncated header anywhere
 * returns the drop reason (drop.h); the caller drops and counts it.
 * Unknown ethertypes and L4 protocols are not errors: parsing stops there.
 * Checksums are not verified (that is the endpoints' job). */
#ifndef WEFT_DP_PARSE_H
#define WEFT_DP_PARSE_H 1

#include "datapath/drop.h"
#include "datapath/packet.h"

/* Returns DP_DROP_NONE and fills the parse fields, or a drop reason.
 *
 * What the fields hold afterwards (parse.c explains the choices):
 *  - All parse fields are reset first; each is set only once its header
 *    was validated, so after a drop they describe the good headers before
 *    the bad one.  Set offsets satisfy l3_ofs < l4_ofs < l7_ofs <= len.
 *  - vlan_tci is the outer tag's; eth_type the innermost ethertype.
 *  - ip_proto is set for every IPv4/IPv6 packet: the first protocol after
 *    the walked extension headers, also when it is not parsed (then l4_ofs
 *    is DP_OFS_NONE) and for non-first fragments.  l4_ofs is set only for
 *    TCP, UDP, ICMP (IPv4) and ICMPv6 (IPv6); l7_ofs follows the L4 header
 *    (8 bytes for UDP, ICMP and ICMPv6).
 *  - Headers after L3 are bounded by the IP length, not the frame length
 *    (the frame may carry Ethernet padding).
 *  - First fragments get DP_PF_FRAG and a parsed L4 header (whose UDP length
 *    may exceed the fragment); later ones DP_PF_FRAG | DP_PF_LATER and no
 *    L4.  An IPv6 atomic fragment (offset 0, no M flag) is not a fragment.
 *  - DP_PF_PLAIN is set exactly when l3_ofs is 14 (no tag), l4_ofs follows
 *    a bare IPv4 or IPv6 header (34 or 54), the frame is not a fragment
 *    and ip_proto is TCP or UDP; only then, so a dropped frame never has it.
 * Never reads outside [data, data + len); never writes the frame. */
enum dp_drop dp_parse(struct dp_packet *pkt);

/* dp_parse() without its fast path for untagged IPv4 and IPv6 TCP/UDP
 * frames: the same results for every frame.  For tests that compare the
 * two. */
enum dp_drop dp_parse_general(struct dp_packet *pkt);

/* Flow hash over the parsed addresses, L4 protocol and ports (symmetric
 * is not required).  Call after a successful dp_parse(). Never returns 0.
 * IP: addresses, ip_proto and, for TCP and UDP, the ports; fragments
 * only the addresses, so that all fragments of a datagram hash alike.  Other frames:
 * the Ethernet addresses and eth_type. */
uint32_t dp_flow_hash(const struct dp_packet *pkt);

#endif
