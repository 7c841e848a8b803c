/* ICMP and ICMPv6 error messages (RFC 792, RFC 1812 4.3.2, RFC 4443) that
 * the distributed router (route.h) sends: time exceeded, destination
 * unreachable, fragmentation needed and packet too big.  Building only:
 * the caller decides when, rate-limits and emits. */
#ifndef WEFT_DP_ICMP_ERROR_H
#define WEFT_DP_ICMP_ERROR_H 1

#include <stdbool.h>
#include <stdint.h>

#include "datapath/packet.h"

/* True if an error may be sent about 'orig' (parsed IPv4 or IPv6) at all.
 * Never about an ICMP/ICMPv6 error, a non-first fragment, a frame from a
 * multicast MAC, or a packet whose destination is multicast or broadcast
 * or whose source is unspecified, multicast, broadcast, class E or
 * loopback, so errors never answer errors and never amplify. */
bool dp_icmp_error_allowed(const struct dp_packet *orig);

/* Builds, in a new buffer of 'pool', the error 'type'/'code' about 'orig'
 * with 'rest' (host order) as the 32-bit word after the checksum (the MTU
 * of "fragmentation needed" / "packet too big", else 0).  The frame goes
 * from 'src_mac' to orig's source MAC (orig's 802.1Q tags kept), the
 * packet from 'src_ip' (IPv4-mapped or IPv6, of orig's family) to orig's
 * source, and quotes as much of orig's IP packet as keeps the error within
 * 576 (IPv4) or 1280 (IPv6) bytes.  The result is parsed.  Returns NULL if
 * the pool is empty or its buffers too small.  Does not check
 * dp_icmp_error_allowed(). */
struct dp_packet *dp_icmp_error_build(const struct dp_packet *orig,
                                      struct dp_pool *pool,
                                      const struct eth_addr *src_mac,
                                      const uint8_t src_ip[16], uint8_t type,
                                      uint8_t code, uint32_t rest);

#endif
