/* Overlay encapsulation: GENEVE (RFC 8926) and VXLAN (RFC 7348).
 *
 * The underlay's outer IP and UDP headers are written by the tunnel port
 * (port-udptun.c, through the kernel); this module adds and removes only the
 * GENEVE/VXLAN header, whose bytes are the UDP payload.
 *
 * GENEVE frames carry one Weft option (class WEFT_GENEVE_CLASS, type
 * WEFT_GENEVE_OPT_SRC_PORT, not critical) holding the sender's logical port
 * id, so a receiving host knows which logical port a frame came from. */
#ifndef WEFT_DP_TUNNEL_H
#define WEFT_DP_TUNNEL_H 1

#include "datapath/drop.h"
#include "datapath/packet.h"
#include "datapath/tables.h"

/* Bytes the tunnel header adds in front of the inner frame. */
#define DP_GENEVE_OVERHEAD (GENEVE_HDR_LEN + WEFT_GENEVE_OPTS_LEN)
#define DP_VXLAN_OVERHEAD  VXLAN_HDR_LEN
/* Outer IPv4 + UDP, added by the kernel. */
#define DP_UNDERLAY_V4_OVERHEAD (20 + 8)
#define DP_UNDERLAY_V6_OVERHEAD (40 + 8)

/* Writes the tunnel header of 'seg' (VNI, and for GENEVE the source-port
 * option with port 0) into 'hdr'; tables.c keeps it in the segment so that
 * encapsulation is a copy.  16 bytes for GENEVE, 8 for VXLAN. */
void dp_tunnel_build_header(const struct dp_segment *seg, uint8_t hdr[16]);

/* Prepends the header of 'seg' with 'src_lport' and addresses the packet to
 * 'vtep'.  Returns DP_DROP_NONE, or DP_DROP_NO_BUFFER without headroom. */
enum dp_drop dp_tunnel_encap(struct dp_packet *pkt,
                             const struct dp_segment *seg,
                             const struct dp_vtep *vtep, uint32_t src_lport);

/* Length of the GENEVE (VXLAN) header at the start of the UDP payload 'p'
 * of 'len' bytes if it is one that carries an Ethernet frame, else 0.
 * Only a quick look for the receive-side merge (dp_port_config
 * tun_hdr_len); dp_tunnel_decap() still validates every frame. */
uint32_t dp_tunnel_hdr_len_geneve(const uint8_t *p, uint32_t len);
uint32_t dp_tunnel_hdr_len_vxlan(const uint8_t *p, uint32_t len);

/* Validates and strips the header of a frame received on the tunnel port of
 * 'encap': checks version, flags, options (an unknown critical option
 * drops), payload type, and maps the VNI to a segment of 't'.  On success
 * sets pkt->segment and pkt->src_lport (0 if absent) and leaves pkt->data at
 * the inner Ethernet header. */
enum dp_drop dp_tunnel_decap(struct dp_packet *pkt, enum dp_encap encap,
                             const struct dp_tables *t);

#endif
