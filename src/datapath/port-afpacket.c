/* AF_PACKET port provider ("afpacket"): VIFs (veth ends, taps) and any other
 * Linux interface, with no dependency beyond the kernel.
 *
 * One packet socket per port, bound to the interface for every ethertype,
 * in promiscuous mode (VIF MACs are not the interface's own), with
 * PACKET_IGNORE_OUTGOING so our own transmissions do not come back to us
 * and PACKET_QDISC_BYPASS so they skip the qdisc layer.
 *
 * RX: a TPACKET_V3 ring.  The kernel fills blocks of frames and hands a
 * block over when it is full or after AFP_RETIRE_MS, so a slow trickle of
 * frames still arrives within about a millisecond.  rx() walks the frames
 * of handed-over blocks, copies each into a pool buffer (decision 4 in
 * docs/decisions.md) and gives a block back as soon as its last frame is
 * copied.  A frame the pool cannot take stays in the ring for the next
 * call.
 *
 * TX: sendmmsg() of up to DP_BATCH_MAX frames per system call.  Measured on
 * veth it sends ~10% more 64-byte frames per second than a TPACKET_V2 TX
 * ring with one send() per batch (1.28 vs 1.16 Mpps), ~50% more 1500-byte
 * ones (1.14 vs 0.75 Mpps), and it takes 64 KiB GSO frames without a ring
 * of 64 KiB slots.
 *
 * Offloads: the socket always exchanges a virtio-net header
 * (PACKET_VNET_HDR), because only that header says which received frames
 * are GSO super-frames or still owe their checksum: traffic from a local
 * TCP stack through a veth always does.
 *   - cfg->offloads on: the header is translated into pkt->ol and the
 *     pipeline decides (the output stage resolves what an egress port
 *     cannot take, gso.h).
 *   - off: rx() resolves the offloads itself, completing pending checksums
 *     and cutting super-frames into gso_size segments in software, so the
 *     pipeline only ever sees plain frames with correct checksums.
 * On TX, pkt->ol is always handed to the kernel, which segments and
 * checksums in software whatever the device itself cannot.
 *
 * VLAN tags the kernel stripped into metadata (TP_STATUS_VLAN_VALID) are
 * put back into the frame on RX, so the pipeline sees the frame as sent. */
#include "datapath/port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/gso.h"
#include "lib/log.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define AFP_BLOCK_SIZE   (128 * 1024)      /* holds a 64 KiB GSO frame */
#define AFP_FRAME_SIZE   2048              /* V3: only sizes the ring */
#define AFP_RING_DEFAULT (8 * 1024 * 1024) /* RX ring bytes */
#define AFP_MIN_BLOCKS   4
#define AFP_RETIRE_MS    1 /* block timeout: bounds RX latency */
#define AFP_SNDBUF       (4 * 1024 * 1024)
#define AFP_SCRATCH_SIZE (DP_MAX_FRAME + VLAN_HDR_LEN)
#define TCP_CWR          0x80

struct afp_port {
    struct dp_port up;
    int fd;      /* the packet socket */
    int ifindex; /* interface it is bound to */

    /* RX ring (TPACKET_V3). */
    uint8_t *ring;         /* mmap()ed blocks */
    size_t ring_len;       /* bytes mapped */
    uint32_t block_size;   /* bytes per block */
    uint32_t block_nr;     /* blocks in the ring */
    uint32_t blk;          /* block rx() reads next */
    uint32_t pkts_left;    /* frames left in 'blk', 0 when not opened */
    uint8_t *next;         /* next frame header in 'blk' */
    uint32_t blocks_since; /* blocks released since the drop counter poll */

    /* Software segmentation of a super-frame (offloads off). */
    uint8_t *scratch;    /* the super-frame, VLAN tag restored */
    uint32_t gso_next;   /* next segment to deliver, 0 = not started */
    struct dp_packet sf; /* describes 'scratch' while gso_next > 0 */

    /* TX, one sendmmsg() batch. */
    struct mmsghdr msgs[DP_BATCH_MAX];
    struct iovec iovs[DP_BATCH_MAX][2];
    struct virtio_net_hdr vnet[DP_BATCH_MAX];
};

static struct log_ratelimit afp_rl = LOG_RATELIMIT_INIT(1, 5);

static struct afp_port *
afp_cast(struct dp_port *p)
{
    return CONTAINER_OF(p, struct afp_port, up);
}

static int
afp_setopt(struct afp_port *p, int level, int opt, const void *val,
           socklen_t len, const char *what)
{
    if (setsockopt(p->fd, level, opt, val, len) < 0) {
        int err = errno;
        LOG_ERROR("afpacket", "port=%s msg=\"setsockopt %s failed\" error=%s",
                  p->up.name, what, strerror(err));
        return err;
    }
    return 0;
}

static int
afp_setopt_int(struct afp_port *p, int opt, int val, const char *what)
{
    return afp_setopt(p, SOL_PACKET, opt, &val, sizeof val, what);
}

static void
afp_free(struct afp_port *p)
{
    if (p->ring && p->ring != MAP_FAILED) {
        munmap(p->ring, p->ring_len);
    }
    if (p->fd >= 0) {
        close(p->fd);
    }
    free(p->scratch);
    free(p);
}

static int
afp_setup_ring(struct afp_port *p, const struct dp_port_config *cfg)
{
    uint32_t bytes = cfg && cfg->ring_size ? cfg->ring_size : AFP_RING_DEFAULT;
    struct tpacket_req3 req;
    int err;

    p->block_size = AFP_BLOCK_SIZE;
    p->block_nr = MAX(bytes / p->block_size, AFP_MIN_BLOCKS);
    memset(&req, 0, sizeof req);
    req.tp_block_size = p->block_size;
    req.tp_block_nr = p->block_nr;
    req.tp_frame_size = AFP_FRAME_SIZE;
    req.tp_frame_nr = p->block_size / AFP_FRAME_SIZE * p->block_nr;
    req.tp_retire_blk_tov = AFP_RETIRE_MS;
    err = afp_setopt(p, SOL_PACKET, PACKET_RX_RING, &req, sizeof req,
                     "PACKET_RX_RING");
    if (err) {
        return err;
    }
    p->ring_len = (size_t)p->block_size * p->block_nr;
    /* The kernel allocated the blocks already; this maps them and fills
     * the page tables up front. */
    p->ring = mmap(NULL, p->ring_len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, p->fd, 0);
    if (p->ring == MAP_FAILED) {
        err = errno;
        LOG_ERROR("afpacket", "port=%s msg=\"cannot map RX ring\" error=%s",
                  p->up.name, strerror(err));
        return err;
    }
    return 0;
}

static int
afp_open(const char *devname, const struct dp_port_config *cfg,
         struct dp_port **portp)
{
    struct afp_port *p = xcalloc(1, sizeof *p);
    struct sockaddr_ll sll;
    struct packet_mreq mreq;
    struct ifreq ifr;
    int err, sndbuf = AFP_SNDBUF;

    *portp = NULL;
    p->up.class = &dp_port_afpacket_class;
    strncpy(p->up.name, devname, sizeof p->up.name - 1);
    p->up.offloads = cfg ? cfg->offloads : false;
    p->fd = -1;
    if (strlen(devname) >= IFNAMSIZ) {
        LOG_ERROR("afpacket", "port=%s msg=\"interface name too long\"",
                  devname);
        free(p);
        return EINVAL;
    }

    /* Protocol 0: receive nothing until the ring exists and we bind. */
    p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        err = errno;
        LOG_ERROR("afpacket",
                  "port=%s msg=\"cannot open packet socket\" "
                  "error=%s",
                  devname, strerror(err));
        goto error;
    }
    p->ifindex = (int)if_nametoindex(devname);
    if (!p->ifindex) {
        err = errno ? errno : ENODEV;
        LOG_ERROR("afpacket", "port=%s msg=\"no such interface\" error=%s",
                  devname, strerror(err));
        goto error;
    }
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, devname, sizeof ifr.ifr_name - 1);
    if (ioctl(p->fd, SIOCGIFMTU, &ifr) < 0) {
        err = errno;
        LOG_ERROR("afpacket", "port=%s msg=\"cannot read MTU\" error=%s",
                  devname, strerror(err));
        goto error;
    }
    p->up.mtu = (uint32_t)ifr.ifr_mtu;

    if ((err =
             afp_setopt_int(p, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION")) ||
        (err = afp_setopt_int(p, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR")) ||
        (err = afp_setopt_int(p, PACKET_QDISC_BYPASS, 1,
                              "PACKET_QDISC_BYPASS")) ||
        (err = afp_setopt_int(p, PACKET_IGNORE_OUTGOING, 1,
                              "PACKET_IGNORE_OUTGOING"))) {
        goto error;
    }
    /* Room for a batch of GSO frames in flight; SO_SNDBUFFORCE (root)
     * may exceed wmem_max, else take what SO_SNDBUF grants. */
    if (setsockopt(p->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) <
        0) {
        (void)setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    if ((err = afp_setup_ring(p, cfg))) {
        goto error;
    }

    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = p->ifindex;
    if (bind(p->fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        err = errno;
        LOG_ERROR("afpacket", "port=%s msg=\"cannot bind\" error=%s", devname,
                  strerror(err));
        goto error;
    }
    memset(&mreq, 0, sizeof mreq);
    mreq.mr_ifindex = p->ifindex;
    mreq.mr_type = PACKET_MR_PROMISC;
    if ((err = afp_setopt(p, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq,
                          sizeof mreq, "PACKET_ADD_MEMBERSHIP"))) {
        goto error;
    }

    for (int i = 0; i < DP_BATCH_MAX; i++) {
        p->iovs[i][0].iov_base = &p->vnet[i];
        p->iovs[i][0].iov_len = sizeof p->vnet[i];
        p->msgs[i].msg_hdr.msg_iov = p->iovs[i];
        p->msgs[i].msg_hdr.msg_iovlen = 2;
    }
    LOG_INFO("afpacket",
             "port=%s msg=opened ifindex=%d mtu=%u offloads=%d "
             "ring_blocks=%u",
             devname, p->ifindex, p->up.mtu, p->up.offloads, p->block_nr);
    *portp = &p->up;
    return 0;

error:
    afp_free(p);
    return err;
}

static void
afp_close(struct dp_port *port)
{
    if (port) {
        afp_free(afp_cast(port));
    }
}

/* ---- RX ---- */

static struct tpacket_block_desc *
afp_block(const struct afp_port *p, uint32_t i)
{
    return (struct tpacket_block_desc *)(void *)(p->ring +
                                                 (size_t)i * p->block_size);
}

/* Adds the kernel's count of frames lost for lack of ring space. */
static void
afp_poll_drops(struct afp_port *p)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;

    if (!getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len)) {
        p->up.stats.rx_dropped += st.tp_drops;
    }
}

/* Gives the current block back to the kernel and moves to the next. */
static void
afp_release_block(struct afp_port *p)
{
    struct tpacket_block_desc *bd = afp_block(p, p->blk);

    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
                     __ATOMIC_RELEASE);
    p->blk = (p->blk + 1) % p->block_nr;
    p->pkts_left = 0;
    if (++p->blocks_since >= p->block_nr / 2) {
        p->blocks_since = 0;
        afp_poll_drops(p);
    }
}

/* Returns the next received frame, or NULL if the kernel has handed over
 * no block with frames. */
static struct tpacket3_hdr *
afp_next_frame(struct afp_port *p)
{
    for (uint32_t tries = 0; !p->pkts_left && tries < p->block_nr; tries++) {
        struct tpacket_block_desc *bd = afp_block(p, p->blk);
        uint32_t status =
            __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
        if (!(status & TP_STATUS_USER)) {
            return NULL;
        }
        if (bd->hdr.bh1.num_pkts) {
            p->pkts_left = bd->hdr.bh1.num_pkts;
            p->next = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
        } else {
            afp_release_block(p); /* timed out empty */
        }
    }
    return p->pkts_left ? (struct tpacket3_hdr *)(void *)p->next : NULL;
}

/* Done with the current frame. */
static void
afp_consume(struct afp_port *p)
{
    struct tpacket3_hdr *h = (struct tpacket3_hdr *)(void *)p->next;

    p->next += h->tp_next_offset;
    if (!--p->pkts_left) {
        afp_release_block(p);
    }
}

/* Translates the virtio-net header of a received frame into 'ol'; 'shift'
 * is what a restored VLAN tag moved the headers by.  Returns false for a
 * header we cannot honour. */
static bool
afp_vnet_to_ol(const struct virtio_net_hdr *vh, const uint8_t *frame,
               uint32_t len, uint32_t shift, struct dp_offload *ol)
{
    memset(ol, 0, sizeof *ol);
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        ol->flags = DP_OL_CSUM_PARTIAL;
        ol->csum_start = (uint16_t)(vh->csum_start + shift);
        ol->csum_offset = vh->csum_offset;
    } else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
        ol->flags = DP_OL_CSUM_VALID;
    }
    switch (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        return true;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        ol->gso_type = DP_GSO_TCPV4;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        ol->gso_type = DP_GSO_TCPV6;
        break;
    case VIRTIO_NET_HDR_GSO_UDP_L4:
        ol->gso_type = DP_GSO_UDP_L4;
        break;
    default:
        return false;
    }
    if (!vh->gso_size || !(ol->flags & DP_OL_CSUM_PARTIAL)) {
        return false;
    }
    ol->gso_size = vh->gso_size;
    /* The kernel's hdr_len is the linear length of its buffer, not the
     * header length: compute the latter from the L4 header. */
    uint32_t l4 = ol->csum_start, doff_at = vh->csum_start + 12u, hlen;
    if (ol->gso_type == DP_GSO_UDP_L4) {
        hlen = l4 + 8;
    } else if (doff_at < len) {
        hlen = l4 + (uint32_t)(frame[doff_at] >> 4) * 4;
    } else {
        return false;
    }
    if (hlen > len + shift) {
        return false;
    }
    ol->hdr_len = (uint16_t)hlen;
    return true;
}

/* Copies 'len' bytes of 'frame' to 'dst', restoring a VLAN tag when
 * 'tpid' is nonzero. */
static void
afp_copy_frame(uint8_t *dst, const uint8_t *frame, uint32_t len, uint16_t tpid,
               uint16_t tci)
{
    if (!tpid) {
        memcpy(dst, frame, len);
        return;
    }
    uint16_t tag[2] = {htons(tpid), htons(tci)};
    memcpy(dst, frame, 12);
    memcpy(dst + 12, tag, 4);
    memcpy(dst + 16, frame + 12, len - 12);
}

/* Fills the parse fields of the super-frame 'sf' that dp_gso_segment()
 * needs, from its headers and offload metadata.  Returns false if they
 * do not add up. */
static bool
afp_sf_offsets(struct dp_packet *sf)
{
    const uint8_t *d = sf->data;
    uint32_t ofs = 12, l4 = sf->ol.csum_start;

    while (ofs + 2 <= sf->len && (rd16(d + ofs) == htons(ETH_TYPE_VLAN) ||
                                  rd16(d + ofs) == htons(ETH_TYPE_QINQ))) {
        ofs += VLAN_HDR_LEN;
    }
    ofs += 2;
    if (ofs >= l4 || l4 >= sf->len) {
        return false;
    }
    sf->l3_ofs = (uint16_t)ofs;
    sf->l4_ofs = (uint16_t)l4;
    sf->l7_ofs = sf->ol.hdr_len;
    sf->pflags = (d[ofs] >> 4) == 4 ? DP_PF_IPV4 : DP_PF_IPV6;
    sf->ip_proto =
        sf->ol.gso_type == DP_GSO_UDP_L4 ? IPPROTO_UDP_ : IPPROTO_TCP_;
    return true;
}

/* Software-segments the frame in 'scratch' (described by p->sf) into at
 * most 'room' packets, resuming at p->gso_next.  Returns how many were
 * made; sets *done when the last segment was made or the frame is to be
 * dropped. */
static int
afp_rx_segments(struct afp_port *p, struct dp_pool *pool,
                struct dp_packet **pkts, int room, bool *done)
{
    uint32_t count = dp_gso_count(&p->sf), n = 0;
    uint32_t avail = dp_pool_available(pool);
    enum dp_drop err;

    *done = false;
    if (!count) {
        p->up.stats.rx_dropped++;
        *done = true;
        return 0;
    }
    room = (int)MIN((uint32_t)room, avail);
    if (!room) {
        return 0;
    }
    err = dp_gso_segment(&p->sf, pool, p->gso_next, pkts, (uint32_t)room, &n);
    if (err != DP_DROP_NONE) {
        if (err == DP_DROP_GSO_BAD) {
            p->up.stats.rx_dropped++;
            *done = true;
        }
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        dp_packet_reset_meta(pkts[i]);
        p->up.stats.rx_packets++;
        p->up.stats.rx_bytes += pkts[i]->len;
    }
    p->gso_next += n;
    if (p->gso_next >= count) {
        *done = true;
    }
    return (int)n;
}

/* Turns the ring frame 'h' into packets in 'pkts' (at most 'room').
 * Returns how many; sets *done when the frame is finished with (delivered
 * or dropped) and may be consumed. */
static int
afp_rx_frame(struct afp_port *p, struct dp_pool *pool,
             const struct tpacket3_hdr *h, struct dp_packet **pkts, int room,
             bool *done)
{
    const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
    uint32_t len = h->tp_snaplen;
    uint16_t tpid = 0, tci = 0;
    struct virtio_net_hdr vh;
    struct dp_offload ol;
    struct dp_packet *pkt;

    *done = true;
    if (p->gso_next) { /* resuming a super-frame already in scratch */
        return afp_rx_segments(p, pool, pkts, room, done);
    }
    if (unlikely(len != h->tp_len)) { /* truncated: did not fit a block */
        p->up.stats.rx_dropped++;
        return 0;
    }
    if ((h->tp_status & TP_STATUS_VLAN_VALID) && len >= 12) {
        tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid
                   ? h->hv1.tp_vlan_tpid
                   : ETH_TYPE_VLAN;
        tci = (uint16_t)h->hv1.tp_vlan_tci;
    }
    uint32_t shift = tpid ? VLAN_HDR_LEN : 0, flen = len + shift;
    memcpy(&vh, frame - sizeof vh, sizeof vh);
    if (unlikely(!afp_vnet_to_ol(&vh, frame, len, shift, &ol))) {
        p->up.stats.rx_dropped++;
        if (log_ratelimit_ok(&afp_rl)) {
            LOG_WARN("afpacket",
                     "port=%s msg=\"unsupported offload request "
                     "dropped\" gso_type=%u gso_size=%u flags=%u",
                     p->up.name, vh.gso_type, vh.gso_size, vh.flags);
        }
        return 0;
    }

    if (!p->up.offloads && ol.gso_type != DP_GSO_NONE) {
        if (!p->scratch) {
            p->scratch = xmalloc(AFP_SCRATCH_SIZE);
        }
        if (flen > AFP_SCRATCH_SIZE) {
            p->up.stats.rx_dropped++;
            return 0;
        }
        afp_copy_frame(p->scratch, frame, len, tpid, tci);
        memset(&p->sf, 0, sizeof p->sf);
        p->sf.data = p->scratch;
        p->sf.len = flen;
        p->sf.ol = ol;
        if (!afp_sf_offsets(&p->sf)) {
            p->up.stats.rx_dropped++;
            return 0;
        }
        return afp_rx_segments(p, pool, pkts, room, done);
    }

    if (unlikely(flen > dp_pool_frame_size(pool))) {
        p->up.stats.rx_dropped++;
        return 0;
    }
    pkt = dp_pool_get(pool);
    if (unlikely(!pkt)) {
        *done = false; /* retry on the next call */
        return 0;
    }
    afp_copy_frame(pkt->data, frame, len, tpid, tci);
    pkt->len = flen;
    pkt->ol = ol;
    if (!p->up.offloads) {
        if (dp_csum_complete(pkt) != DP_DROP_NONE) {
            dp_packet_free(pkt);
            p->up.stats.rx_dropped++;
            return 0;
        }
        memset(&pkt->ol, 0, sizeof pkt->ol);
    }
    p->up.stats.rx_packets++;
    p->up.stats.rx_bytes += flen;
    pkts[0] = pkt;
    return 1;
}

static int
afp_rx(struct dp_port *port, struct dp_pool *pool, struct dp_packet **pkts,
       int max)
{
    struct afp_port *p = afp_cast(port);
    int n = 0;

    while (n < max) {
        struct tpacket3_hdr *h = afp_next_frame(p);
        bool done;

        if (!h) {
            break;
        }
        n += afp_rx_frame(p, pool, h, pkts + n, max - n, &done);
        if (!done) {
            break; /* out of buffers or room: resume here next time */
        }
        p->gso_next = 0;
        afp_consume(p);
    }
    return n;
}

/* ---- TX ---- */

/* Fills the virtio-net header for 'pkt' from its offload requests. */
static void
afp_ol_to_vnet(const struct dp_packet *pkt, struct virtio_net_hdr *vh)
{
    const struct dp_offload *ol = &pkt->ol;

    memset(vh, 0, sizeof *vh);
    if (likely(!ol->flags && !ol->gso_type)) {
        return;
    }
    if (ol->flags & DP_OL_CSUM_PARTIAL) {
        vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vh->csum_start = ol->csum_start;
        vh->csum_offset = ol->csum_offset;
    }
    switch (ol->gso_type) {
    case DP_GSO_TCPV4:
        vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        break;
    case DP_GSO_TCPV6:
        vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
        break;
    case DP_GSO_UDP_L4:
        vh->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
        break;
    default:
        return;
    }
    vh->gso_size = ol->gso_size;
    vh->hdr_len = (uint16_t)MIN(ol->hdr_len, pkt->len);
    if (vh->gso_type != VIRTIO_NET_HDR_GSO_UDP_L4 &&
        (ol->flags & DP_OL_CSUM_PARTIAL) &&
        (uint32_t)ol->csum_start + 13 < pkt->len &&
        (pkt->data[ol->csum_start + 13] & TCP_CWR)) {
        vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    }
}

static int
afp_tx(struct dp_port *port, struct dp_packet **pkts, int n)
{
    struct afp_port *p = afp_cast(port);
    int sent = 0;

    for (int base = 0; base < n; base += DP_BATCH_MAX) {
        int chunk = MIN(n - base, DP_BATCH_MAX), done = 0;

        for (int i = 0; i < chunk; i++) {
            struct dp_packet *pkt = pkts[base + i];
            afp_ol_to_vnet(pkt, &p->vnet[i]);
            p->iovs[i][1].iov_base = pkt->data;
            p->iovs[i][1].iov_len = pkt->len;
        }
        /* Each round either sends at least one frame or drops one, so the
         * loop ends within 'chunk' rounds. */
        while (done < chunk) {
            int r = sendmmsg(p->fd, p->msgs + done, (unsigned)(chunk - done),
                             MSG_DONTWAIT);
            if (r > 0) {
                for (int i = done; i < done + r; i++) {
                    p->up.stats.tx_bytes += pkts[base + i]->len;
                }
                p->up.stats.tx_packets += (uint64_t)r;
                sent += r;
                done += r;
                continue;
            }
            int err = r < 0 ? errno : EIO;
            if (err == EAGAIN || err == ENOBUFS) {
                /* Device or socket buffer full: the rest would fail too. */
                p->up.stats.tx_dropped += (uint64_t)(chunk - done);
                done = chunk;
            } else {
                /* This frame is bad (EMSGSIZE, EINVAL): skip it. */
                p->up.stats.tx_dropped++;
                done++;
            }
            if (log_ratelimit_ok(&afp_rl)) {
                LOG_WARN("afpacket", "port=%s msg=\"send failed\" error=%s",
                         p->up.name, strerror(err));
            }
        }
    }
    return sent;
}

static int
afp_fd(const struct dp_port *port)
{
    return CONTAINER_OF(port, const struct afp_port, up)->fd;
}

const struct dp_port_class dp_port_afpacket_class = {
    .type = "afpacket",
    .open = afp_open,
    .close = afp_close,
    .rx = afp_rx,
    .tx = afp_tx,
    .flush = NULL,
    .fd = afp_fd,
};
