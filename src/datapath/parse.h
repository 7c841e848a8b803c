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

/* Returns DP_DROP_NONE and fills the parse fields, or a drop reason. */
enum dp_drop dp_parse(struct dp_packet *pkt);

/* Flow hash over the parsed addresses, L4 protocol and ports (symmetric
 * is not required).  Call after a successful dp_parse(). Never returns 0. */
uint32_t dp_flow_hash(const struct dp_packet *pkt);

#endif
