/* Port I/O provider interface.
 *
 * Every way the datapath sends and receives frames is a provider
 * (struct dp_port_class): AF_PACKET sockets for VIFs (veth, tap; batched
 * recvmmsg/sendmmsg with the virtio-net header, not mmap rings: decisions
 * 5 and 6), kernel UDP sockets for the underlay, a dummy port for tests
 * and benchmarks; AF_XDP and DPDK fit the same table.  The pipeline sees
 * only struct dp_port.
 *
 * Lifecycle: open() -> any number of rx()/tx()/flush() from ONE datapath
 * thread -> close().  get_stats() may be called from any thread (counters
 * are read without locking; a torn read of a 64-bit counter cannot happen
 * on the 64-bit platforms we support).
 *
 * Providers embed struct dp_port as their first member. */
#ifndef WEFT_DP_PORT_H
#define WEFT_DP_PORT_H 1

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "datapath/drop.h"
#include "datapath/packet.h"

struct dp_port_stats {
    uint64_t rx_packets;
    uint64_t rx_bytes;
    uint64_t tx_packets;
    uint64_t tx_bytes;
    uint64_t rx_dropped; /* lost before or while receiving */
    uint64_t tx_dropped; /* could not be sent */
    /* Of rx_dropped, the frames the port itself refused, by the reason
     * `weft-agent ctl counters` adds them to (the agent's cmd_counters());
     * the rest were lost in the kernel's queue before the port saw them. */
    uint64_t rx_gso_bad; /* DP_DROP_GSO_BAD: an offload request (virtio-net
                          * header) that cannot be honoured, or none */
    uint64_t rx_too_big; /* DP_DROP_TOO_BIG: larger than a pool buffer */
};

/* Provider side: counts a received frame the port refused, under 'why'
 * (DP_DROP_GSO_BAD, DP_DROP_TOO_BIG; any other reason counts in
 * rx_dropped only). */
static inline void
dp_port_count_rx_drop(struct dp_port_stats *s, enum dp_drop why)
{
    s->rx_dropped++;
    if (why == DP_DROP_GSO_BAD) {
        s->rx_gso_bad++;
    } else if (why == DP_DROP_TOO_BIG) {
        s->rx_too_big++;
    }
}

/* Options to open(); fields a provider does not use are ignored. */
struct dp_port_config {
    bool offloads;      /* exchange virtio-net headers (GSO, csum) */
    uint32_t ring_size; /* AF_PACKET: socket receive buffer bytes, 0 default */
    uint16_t udp_port;  /* tunnel: local UDP port to receive on */
    uint8_t local_addr[16]; /* tunnel: local underlay IPv4-mapped or IPv6 */
    uint16_t sport_min;     /* tunnel: source ports for flow entropy */
    uint16_t sport_count;   /* ...how many, 0 = default */
    bool busy_poll;         /* never sleep: the packet thread spins while
                             * the port is in use (dp_port.busy_poll) */
    /* tunnel: length of the encapsulation header at the start of a
     * received UDP payload, 0 if it is not one to merge behind (tunnel.h).
     * When set, consecutive TCP segments of one flow are merged on receipt
     * (gro.h dp_gro_merge_encap()); NULL: never. */
    uint32_t (*tun_hdr_len)(const uint8_t *payload, uint32_t len);
};

struct dp_port;

struct dp_port_class {
    const char *type; /* "afpacket", "udptun", "dummy" */

    /* Opens 'devname' (an interface name, or for tunnels a label).  Returns
     * 0 and sets *portp, or a positive errno and logs why. */
    int (*open)(const char *devname, const struct dp_port_config *,
                struct dp_port **portp);
    void (*close)(struct dp_port *);

    /* Receives up to 'max' frames into buffers taken from 'pool' and stores
     * them in 'pkts'; returns how many (0 when none is ready: it never
     * blocks).  The caller owns the returned packets.  Offload metadata
     * (pkt->ol) is filled when the port has offloads on; tunnel ports also
     * fill pkt->tun_addr and pkt->tun_sport. */
    int (*rx)(struct dp_port *, struct dp_pool *pool, struct dp_packet **pkts,
              int max);

    /* Sends 'n' frames.  The provider copies what it needs before
     * returning and never takes ownership; the caller frees the packets.
     * Tunnel ports send each packet's data as a UDP payload to pkt->tun_addr
     * with a source port chosen from pkt->hash.  Frames that cannot be sent
     * are counted in tx_dropped.  Returns the number sent. */
    int (*tx)(struct dp_port *, struct dp_packet **pkts, int n);

    /* Pushes out anything tx() queued (may be NULL). */
    void (*flush)(struct dp_port *);

    /* A file descriptor that polls readable when rx() has work, or -1. */
    int (*fd)(const struct dp_port *);
};

struct dp_port {
    const struct dp_port_class *class;
    char name[IFNAMSIZ];
    uint32_t mtu;               /* largest frame (without offloads) in bytes */
    bool offloads;              /* pkt->ol is exchanged with this port */
    bool busy_poll;             /* opened with busy_poll (see config) */
    struct dp_port_stats stats; /* maintained by the provider */
};

extern const struct dp_port_class dp_port_afpacket_class;
extern const struct dp_port_class dp_port_udptun_class;
extern const struct dp_port_class dp_port_dummy_class;

/* Translates the virtio-net header of a frame received from a VIF into
 * 'ol' (the AF_PACKET provider's receive path; exposed for the fuzz
 * targets).  'frame' and 'len' are the frame as the pipeline will see it;
 * 'shift' is what a restored VLAN tag moved the headers by.  Returns false
 * for a header the datapath cannot honour (the frame is then dropped). */
struct virtio_net_hdr;
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* older <linux/virtio_net.h> lack it */
#endif
bool dp_vnet_to_offload(const struct virtio_net_hdr *, const uint8_t *frame,
                        uint32_t len, uint32_t shift, struct dp_offload *ol);

/* Finds a provider by type name; NULL if unknown. */
const struct dp_port_class *dp_port_class_find(const char *type);

static inline int
dp_port_rx(struct dp_port *p, struct dp_pool *pool, struct dp_packet **pkts,
           int max)
{
    return p->class->rx(p, pool, pkts, max);
}

static inline int
dp_port_tx(struct dp_port *p, struct dp_packet **pkts, int n)
{
    return p->class->tx(p, pkts, n);
}

static inline void
dp_port_flush(struct dp_port *p)
{
    if (p->class->flush) {
        p->class->flush(p);
    }
}

static inline void
dp_port_close(struct dp_port *p)
{
    if (p) {
        p->class->close(p);
    }
}

#endif
