/* Software offloads: segmentation of TCP/UDP super-frames and completion of
 * pending checksums.
 *
 * A VIF with offloads (virtio-net header, packet.h struct dp_offload) may
 * hand the datapath a super-frame of up to 64 KiB with a gso_size, and
 * frames whose L4 checksum is still owed.  Where the packet leaves through
 * a port that cannot take them as they are (no offloads on the egress port,
 * or an MTU that a tunnel header would break), the output stage calls these
 * functions to do in software what a NIC would do in hardware.
 *
 * Segmentation follows what Linux's GSO produces: every segment carries a
 * copy of the super-frame's headers (Ethernet, VLAN tags, IP, L4) with
 *   - IPv4: tot_len, id (+1 per segment) and header checksum fixed;
 *   - IPv6: payload_len fixed (extension headers are copied as they are);
 *   - TCP: seq advanced by gso_size per segment, FIN and PSH only on the
 *     last segment, CWR only on the first; full checksum computed;
 *   - UDP (DP_GSO_UDP_L4): length and full checksum per segment.
 * Segments have no offload requests left (pkt->ol cleared), their parse
 * fields equal the super-frame's (headers keep their lengths), and their
 * logical metadata (ports, segment, hash, tunnel fields) is copied.
 *
 * Thread-safety: none needed; the functions touch only their arguments. */
#ifndef WEFT_DP_GSO_H
#define WEFT_DP_GSO_H 1

#include <stdint.h>

#include "datapath/drop.h"
#include "datapath/packet.h"

/* Number of segments dp_gso_segment() cuts 'pkt' into: ceil(payload /
 * gso_size), at least 1.  Returns 0 when 'pkt' is not a super-frame this
 * module can segment (see dp_gso_segment()). */
uint32_t dp_gso_count(const struct dp_packet *pkt);

/* Cuts the super-frame 'pkt' into segments.
 *
 * 'pkt' must carry ol.gso_type DP_GSO_TCPV4, DP_GSO_TCPV6 or DP_GSO_UDP_L4
 * with ol.gso_size > 0, and the parse results of a successful dp_parse():
 * l3_ofs, l4_ofs, l7_ofs, pflags (DP_PF_IPV4 for TCPV4, DP_PF_IPV6 for
 * TCPV6, either for UDP_L4, never DP_PF_FRAG) and ip_proto matching the
 * GSO type.  The IP length fields and checksums of 'pkt' are ignored: the
 * payload is everything from l7_ofs to the end of the frame.
 *
 * Produces segments number 'first' .. 'first' + *n - 1 (counting from 0)
 * into segs[0 .. *n - 1], with *n = MIN(max, dp_gso_count(pkt) - first),
 * so a caller can emit a large super-frame in several batches.  Segment
 * buffers come from 'pool', whose frames must hold the headers plus
 * gso_size bytes.
 *
 * Returns DP_DROP_NONE on success: the caller owns the new segments.
 * Otherwise nothing is produced (*n = 0) and the result is
 * DP_DROP_GSO_BAD (request malformed or unsupported, 'first' out of range,
 * segments too big for the pool) or DP_DROP_NO_BUFFER (pool exhausted).
 * Never takes ownership of 'pkt' and never modifies it. */
enum dp_drop dp_gso_segment(const struct dp_packet *pkt, struct dp_pool *pool,
                            uint32_t first, struct dp_packet **segs,
                            uint32_t max, uint32_t *n);

/* Completes the checksum 'pkt' still owes (ol.flags DP_OL_CSUM_PARTIAL),
 * with virtio-net semantics: the 16-bit field at csum_start + csum_offset
 * holds the pseudo-header sum; the one's-complement sum from csum_start to
 * the end of the frame is stored there, 0 as 0xffff (the same value in
 * one's complement, and the only correct one for UDP).  Then clears DP_OL_CSUM_PARTIAL and sets DP_OL_CSUM_VALID.
 *
 * Returns DP_DROP_NONE (also when no checksum was pending) or
 * DP_DROP_GSO_BAD if csum_start/csum_offset point outside the frame (then
 * 'pkt' is unchanged).  Does not look at gso_type: for a super-frame, call
 * dp_gso_segment(), which computes full checksums itself. */
enum dp_drop dp_csum_complete(struct dp_packet *pkt);

#endif
