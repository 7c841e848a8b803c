/* Receive-side coalescing ("GRO") of TCP segments for VIFs with offloads.
 *
 * Frames that arrive from the fabric are MSS-sized TCP segments: the
 * sending host cut its VM's 64 KiB super-frame into them (gso.h) to fit
 * the underlay.  Handing each one to the receiving VM's kernel separately
 * costs one skb and one trip through its stack per 1.5 KB.  When the VIF
 * takes virtio-net headers, consecutive in-order segments of one flow in
 * the same output batch are merged back into one super-frame (gso_type
 * TCPV4/TCPV6, gso_size = the first segment's payload, checksum left
 * partial), which the VM's kernel receives as one GSO packet.
 *
 * Rules (a subset of Linux's tcp_gro_receive, so the VM sees exactly the
 * byte stream that was sent): same addresses, ports, IP TTL/TOS/DF (IPv4,
 * no options, not fragmented) or traffic class/flow label/hop limit (IPv6,
 * no extension headers); TCP with only ACK (and PSH) set, the same ack
 * number and identical options; sequence number continuing the head; every
 * segment but the last exactly gso_size bytes; a PSH ends the frame; at
 * most 64 KiB of IP packet.  Integrity across the fabric is the outer UDP
 * checksum's job, so the merged frame's TCP checksum is left partial
 * (DP_OL_CSUM_PARTIAL, pseudo-header sum in the field), as virtio-net
 * requires for GSO frames. */
#ifndef WEFT_DP_GRO_H
#define WEFT_DP_GRO_H 1

#include <stdbool.h>

#include "datapath/packet.h"

/* Appends segment 'seg' (parsed, no offload metadata) to 'head' (the
 * previous frame queued for the same VIF: a plain segment, or a frame this
 * function already merged into) if the rules above allow it.  Returns true
 * if merged: 'seg' was copied and the caller frees it.  On false nothing
 * changed. */
bool dp_gro_merge(struct dp_packet *head, const struct dp_packet *seg);

/* The same merge one step earlier, at the tunnel port, while the frames
 * are still encapsulated: a UDP_GRO datagram is a train of one sender's
 * datagrams, typically the segments of one super-frame, and merging them
 * on receipt costs one copy of each payload (out of the socket's buffer
 * into the head) instead of two (into a buffer per segment, then into the
 * head) and one pass through the pipeline instead of one per segment.
 *
 * The head is a pool packet holding a tunnel header of 'skip' bytes and an
 * inner frame; a segment merges if its first 'skip' bytes equal the
 * head's (same VNI and options) and its inner frame merges by the rules
 * above.  The merged head keeps its tunnel header, and its offload
 * metadata (ol) describes the inner frame: offsets count from the inner
 * Ethernet header, where the frame starts after dp_tunnel_decap(). */
struct dp_gro_encap {
    struct dp_packet *head; /* the pool packet merged into */
    struct dp_packet view;  /* its inner frame, parsed */
    uint32_t skip;          /* tunnel header bytes */
};

/* Makes 'head' (tunnel header of 'skip' bytes + inner frame, no offload
 * metadata) the frame that following segments merge into.  Returns false
 * if its inner frame does not parse or could not take segments (not TCP,
 * IP options, fragment...). */
bool dp_gro_encap_start(struct dp_gro_encap *, struct dp_packet *head,
                        uint32_t skip);

/* Appends the encapsulated segment 'seg' of 'len' bytes (read only) to the
 * head if it merges.  Returns true if it did. */
bool dp_gro_encap_merge(struct dp_gro_encap *, const uint8_t *seg,
                        uint32_t len);

#endif
