/* AF_PACKET port provider ("afpacket"): VIFs (veth ends, taps) and any other
 * Linux interface, with no dependency beyond the kernel.
 *
 * One packet socket per port, bound to the interface for every ethertype,
 * in promiscuous mode (VIF MACs are not the interface's own), with
 * PACKET_IGNORE_OUTGOING so our own transmissions do not come back to us
 * and PACKET_QDISC_BYPASS so they skip the qdisc layer.
 *
 * RX: recvmmsg() straight into pool buffers, no ring.  Each message of a
 * batch is a virtio-net header scratch plus the data area of a dp_packet
 * lent from the caller's pool, so the kernel copies each frame once, into
 * the buffer the pipeline then uses (decision 4 in docs/decisions.md); the
 * buffers a batch did not fill go straight back to the pool.  A frame is
 * readable, and wakes poll(), the moment the kernel queues it.  This
 * replaced a TPACKET_V3 ring, where a frame became visible only when its
 * 128 KiB block filled or a 1 ms timer retired it: a lone frame (a ping,
 * a TCP ACK) waited up to 1 ms per VIF crossed.  A TPACKET_V2 ring would
 * hand over each frame at once too, but every slot must hold a 64 KiB GSO
 * frame: 68 KiB slots, so 8 MiB of pinned kernel memory per port queues
 * only 120 frames, small or not (4096 would pin 272 MiB), and each frame
 * is still copied out of its slot.  Measured on a veth under a 64-byte
 * flood (2 loaded CPUs): V2 with 68 KiB slots kept 15-68 Kpps (the ring
 * overflowed whenever the reader lost its CPU), V2 with 2 KiB slots 342
 * Kpps, recvmmsg() 377-454 Kpps; lone-frame latency 3-9 us for both.
 * (docs/decisions.md entry 6 still describes the V3 ring.)
 *
 * The queue is the socket's receive buffer (cfg->ring_size bytes, default
 * AFP_RCVBUF_DEFAULT), charged by the real size of each queued frame and
 * empty while idle.  Frames it had no room for are counted by the kernel
 * (PACKET_STATISTICS) and folded into rx_dropped; so are frames bigger
 * than the pool's frames (the kernel truncates them: MSG_TRUNC).
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
 *     pipeline only ever sees plain frames with correct checksums.  When
 *     the segments do not fit in the caller's 'max' (or the pool runs dry),
 *     the rest of the super-frame, and every frame of the batch after it,
 *     waits in port-owned memory for the next rx() call: a port never keeps
 *     a pool buffer between calls, because ports are closed by the control
 *     thread while the packet thread owns the pool.
 * On TX, pkt->ol is always handed to the kernel, which segments and
 * checksums in software whatever the device itself cannot.
 *
 * VLAN tags the kernel stripped into metadata (PACKET_AUXDATA with
 * TP_STATUS_VLAN_VALID) are put back into the frame on RX, so the pipeline
 * sees the frame as sent. */
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
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/gso.h"
#include "lib/log.h"

#define AFP_RCVBUF_DEFAULT (8 * 1024 * 1024) /* RX queue bytes */
#define AFP_SNDBUF         (4 * 1024 * 1024)
#define AFP_HELD_SIZE      (DP_MAX_FRAME + VLAN_HDR_LEN)
#define AFP_HINT_MIN       4    /* smallest recvmmsg() batch */
#define AFP_DROPS_MIN      32   /* frames before a drained queue polls drops */
#define AFP_DROPS_MAX      4096 /* frames before drops are polled anyway */
#define TCP_CWR            0x80

/* Control buffer for one PACKET_AUXDATA message. */
union afp_cmsg {
    struct cmsghdr align;
    uint8_t buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
};

/* A received frame waiting in port memory for room in a later rx() call
 * (offloads off only, see the top of the file). */
struct afp_held {
    uint8_t *buf;         /* AFP_HELD_SIZE bytes, allocated on first use */
    struct dp_packet pkt; /* describes the frame in 'buf': len, ol, and for
                           * a super-frame the parse fields gso.h needs */
};

struct afp_port {
    struct dp_port up;
    int fd;      /* the packet socket */
    int ifindex; /* interface it is bound to */

    /* RX, one recvmmsg() batch into buffers lent by the pool. */
    struct mmsghdr rx_msgs[DP_BATCH_MAX];
    struct iovec rx_iovs[DP_BATCH_MAX][2]; /* vnet header, frame */
    struct virtio_net_hdr rx_vnet[DP_BATCH_MAX];
    union afp_cmsg rx_cmsg[DP_BATCH_MAX];
    struct dp_packet *rx_bufs[DP_BATCH_MAX]; /* lent for the current call */
    uint32_t rx_hint;       /* buffers to lend next: adapts to the rate */
    uint32_t rx_since_poll; /* frames read since the drop counter poll */

    /* Offloads off: frames waiting for the next rx() call, in order. */
    struct afp_held held[DP_BATCH_MAX];
    uint32_t held_n;   /* frames in 'held' */
    uint32_t held_pos; /* next one to deliver */
    uint32_t gso_next; /* next segment of held[held_pos] if a super-frame */

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
    if (p->fd >= 0) {
        close(p->fd);
    }
    for (int i = 0; i < DP_BATCH_MAX; i++) {
        free(p->held[i].buf);
    }
    free(p);
}

/* Sizes the socket's receive queue: SO_RCVBUFFORCE (root) may exceed
 * rmem_max, else take what SO_RCVBUF grants.  The kernel charges each
 * queued frame its real buffer size, so this bounds memory, not frames. */
static void
afp_setup_rcvbuf(struct afp_port *p, const struct dp_port_config *cfg)
{
    uint32_t bytes =
        cfg && cfg->ring_size ? cfg->ring_size : AFP_RCVBUF_DEFAULT;
    int val = (int)MIN(bytes, (uint32_t)INT32_MAX / 2);

    if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof val) < 0) {
        (void)setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof val);
    }
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
    p->up.busy_poll = cfg ? cfg->busy_poll : false;
    p->fd = -1;
    p->rx_hint = AFP_HINT_MIN;
    if (strlen(devname) >= IFNAMSIZ) {
        LOG_ERROR("afpacket", "port=%s msg=\"interface name too long\"",
                  devname);
        free(p);
        return EINVAL;
    }

    /* Protocol 0: receive nothing until the socket is set up and bound. */
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

    if ((err = afp_setopt_int(p, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR")) ||
        (err = afp_setopt_int(p, PACKET_AUXDATA, 1, "PACKET_AUXDATA")) ||
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
    afp_setup_rcvbuf(p, cfg);

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
        p->rx_iovs[i][0].iov_base = &p->rx_vnet[i];
        p->rx_iovs[i][0].iov_len = sizeof p->rx_vnet[i];
        p->rx_msgs[i].msg_hdr.msg_iov = p->rx_iovs[i];
        p->rx_msgs[i].msg_hdr.msg_iovlen = 2;
        p->rx_msgs[i].msg_hdr.msg_control = &p->rx_cmsg[i];

        p->iovs[i][0].iov_base = &p->vnet[i];
        p->iovs[i][0].iov_len = sizeof p->vnet[i];
        p->msgs[i].msg_hdr.msg_iov = p->iovs[i];
        p->msgs[i].msg_hdr.msg_iovlen = 2;
    }
    LOG_INFO("afpacket", "port=%s msg=opened ifindex=%d mtu=%u offloads=%d",
             devname, p->ifindex, p->up.mtu, p->up.offloads);
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

/* Adds the kernel's count of frames lost for lack of queue space. */
static void
afp_poll_drops(struct afp_port *p)
{
    struct tpacket_stats st;
    socklen_t len = sizeof st;

    p->rx_since_poll = 0;
    if (!getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len)) {
        p->up.stats.rx_dropped += st.tp_drops;
    }
}

bool
dp_vnet_to_offload(const struct virtio_net_hdr *vh, const uint8_t *frame,
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
    uint32_t l4 = ol->csum_start, hlen;
    if (ol->gso_type == DP_GSO_UDP_L4) {
        hlen = l4 + 8;
    } else if (l4 + 12 < len) {
        hlen = l4 + (uint32_t)(frame[l4 + 12] >> 4) * 4;
    } else {
        return false;
    }
    if (hlen > len) {
        return false;
    }
    ol->hdr_len = (uint16_t)hlen;
    return true;
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

/* Turns message 'i' of the last batch, received into 'pkt', into a frame
 * as sent: VLAN tag back in place, virtio-net header in pkt->ol, and for a
 * super-frame the parse fields segmentation needs (offloads off).  Returns
 * why the frame is to be dropped (the caller frees and counts it), or
 * DP_DROP_NONE. */
static enum dp_drop
afp_rx_finish(struct afp_port *p, uint32_t i, struct dp_packet *pkt)
{
    struct msghdr *mh = &p->rx_msgs[i].msg_hdr;
    uint32_t len = p->rx_msgs[i].msg_len, shift = 0;
    const struct virtio_net_hdr *vh = &p->rx_vnet[i];

    if (unlikely(mh->msg_flags & MSG_TRUNC)) {
        return DP_DROP_TOO_BIG; /* bigger than the pool's frames */
    }
    if (unlikely(len < sizeof *vh)) {
        return DP_DROP_GSO_BAD; /* no virtio-net header */
    }
    len -= (uint32_t)sizeof *vh;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
            c->cmsg_len < CMSG_LEN(sizeof(struct tpacket_auxdata))) {
            continue;
        }
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(c), sizeof aux);
        if ((aux.tp_status & TP_STATUS_VLAN_VALID) && len >= 12) {
            uint16_t tpid =
                (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) && aux.tp_vlan_tpid
                    ? aux.tp_vlan_tpid
                    : ETH_TYPE_VLAN;
            uint16_t tag[2] = {htons(tpid), htons((uint16_t)aux.tp_vlan_tci)};

            /* Move the MAC addresses into the headroom: 12 bytes, not the
             * whole frame. */
            shift = VLAN_HDR_LEN;
            if (unlikely(len + shift > dp_pool_frame_size(pkt->pool))) {
                return DP_DROP_TOO_BIG;
            }
            memmove(pkt->data - shift, pkt->data, 12);
            pkt->data -= shift;
            memcpy(pkt->data + 12, tag, sizeof tag);
        }
    }
    pkt->len = len + shift;
    if (unlikely(
            !dp_vnet_to_offload(vh, pkt->data, pkt->len, shift, &pkt->ol))) {
        if (log_ratelimit_ok(&afp_rl)) {
            LOG_WARN("afpacket",
                     "port=%s msg=\"unsupported offload request "
                     "dropped\" gso_type=%u gso_size=%u flags=%u",
                     p->up.name, vh->gso_type, vh->gso_size, vh->flags);
        }
        return DP_DROP_GSO_BAD;
    }
    if (!p->up.offloads) {
        if (pkt->ol.gso_type != DP_GSO_NONE) {
            return afp_sf_offsets(pkt) ? DP_DROP_NONE : DP_DROP_GSO_BAD;
        }
        if (dp_csum_complete(pkt) != DP_DROP_NONE) {
            return DP_DROP_GSO_BAD;
        }
        memset(&pkt->ol, 0, sizeof pkt->ol);
    }
    return DP_DROP_NONE;
}

static void
afp_deliver(struct afp_port *p, struct dp_packet *pkt, struct dp_packet **slot)
{
    p->up.stats.rx_packets++;
    p->up.stats.rx_bytes += pkt->len;
    *slot = pkt;
}

/* Cuts the super-frame 'sf' into at most 'room' packets, resuming at
 * segment p->gso_next.  Returns how many were made; sets *done when the
 * last one was made or the frame was dropped (and counted). */
static int
afp_rx_segments(struct afp_port *p, const struct dp_packet *sf,
                struct dp_pool *pool, struct dp_packet **pkts, int room,
                bool *done)
{
    uint32_t count = dp_gso_count(sf), n = 0;
    enum dp_drop err;

    *done = false;
    if (!count) {
        dp_port_count_rx_drop(&p->up.stats, DP_DROP_GSO_BAD);
        *done = true;
        return 0;
    }
    room = (int)MIN((uint32_t)room, dp_pool_available(pool));
    if (room <= 0) {
        return 0;
    }
    err = dp_gso_segment(sf, pool, p->gso_next, pkts, (uint32_t)room, &n);
    if (err != DP_DROP_NONE) {
        if (err == DP_DROP_GSO_BAD) {
            dp_port_count_rx_drop(&p->up.stats, DP_DROP_GSO_BAD);
            *done = true;
        }
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        dp_packet_reset_meta(pkts[i]);
        afp_deliver(p, pkts[i], &pkts[i]);
    }
    p->gso_next += n;
    *done = p->gso_next >= count;
    return (int)n;
}

/* Copies 'pkt' (a finished frame, possibly a super-frame part-way through
 * segmentation at p->gso_next) into port memory for a later call, and
 * frees its buffer. */
static void
afp_hold(struct afp_port *p, struct dp_packet *pkt)
{
    struct afp_held *h = &p->held[p->held_n++];

    if (!h->buf) {
        h->buf = xmalloc(AFP_HELD_SIZE);
    }
    memcpy(h->buf, pkt->data, pkt->len);
    h->pkt = *pkt;
    h->pkt.data = h->pkt.base = h->buf;
    h->pkt.cap = AFP_HELD_SIZE;
    h->pkt.pool = NULL;
    dp_packet_free(pkt);
}

/* Delivers held frames into pkts[*n .. max - 1].  Returns true when none is
 * left. */
static bool
afp_rx_held(struct afp_port *p, struct dp_pool *pool, struct dp_packet **pkts,
            int max, int *n)
{
    while (p->held_pos < p->held_n) {
        const struct dp_packet *h = &p->held[p->held_pos].pkt;

        if (*n >= max) {
            return false;
        }
        if (h->ol.gso_type != DP_GSO_NONE) {
            bool done;
            *n += afp_rx_segments(p, h, pool, pkts + *n, max - *n, &done);
            if (!done) {
                return false;
            }
        } else if (unlikely(h->len > dp_pool_frame_size(pool))) {
            dp_port_count_rx_drop(&p->up.stats, DP_DROP_TOO_BIG);
        } else {
            struct dp_packet *pkt = dp_pool_get(pool);
            if (!pkt) {
                return false;
            }
            memcpy(pkt->data, h->data, h->len);
            pkt->len = h->len;
            afp_deliver(p, pkt, &pkts[(*n)++]);
        }
        p->held_pos++;
        p->gso_next = 0;
    }
    p->held_n = p->held_pos = 0;
    return true;
}

/* Receives up to 'want' frames with one recvmmsg() and delivers them into
 * pkts[*n ..], holding back (offloads off) what does not fit before 'max'.
 * Returns how many messages the kernel gave us. */
static int
afp_rx_batch(struct afp_port *p, struct dp_pool *pool, struct dp_packet **pkts,
             int max, int *n, int want)
{
    uint32_t frame_size = dp_pool_frame_size(pool);
    int r;

    for (int i = 0; i < want; i++) {
        struct dp_packet *pkt = dp_pool_get(pool);

        p->rx_bufs[i] = pkt;
        p->rx_iovs[i][1].iov_base = pkt->data;
        p->rx_iovs[i][1].iov_len = frame_size;
        p->rx_msgs[i].msg_hdr.msg_controllen = sizeof p->rx_cmsg[i];
    }
    r = recvmmsg(p->fd, p->rx_msgs, (unsigned)want, MSG_DONTWAIT, NULL);
    if (r < 0) {
        int err = errno;
        /* A pending socket error (ENETDOWN when the interface goes down)
         * is reported, and cleared, by this call: poll() stops flagging
         * POLLERR. */
        if (err == ENETDOWN) {
            LOG_INFO("afpacket", "port=%s msg=\"interface went down\"",
                     p->up.name);
        } else if (err != EAGAIN && err != EINTR && log_ratelimit_ok(&afp_rl)) {
            LOG_WARN("afpacket", "port=%s msg=\"receive failed\" error=%s",
                     p->up.name, strerror(err));
        }
        r = 0;
    }
    /* Unfilled buffers back first, last taken first: the pool stays a
     * LIFO of warm buffers. */
    for (int i = want - 1; i >= r; i--) {
        dp_packet_free(p->rx_bufs[i]);
    }

    for (int i = 0; i < r; i++) {
        struct dp_packet *pkt = p->rx_bufs[i];
        enum dp_drop why = afp_rx_finish(p, (uint32_t)i, pkt);

        if (unlikely(why != DP_DROP_NONE)) {
            dp_packet_free(pkt);
            dp_port_count_rx_drop(&p->up.stats, why);
        } else if (likely(p->up.offloads)) {
            afp_deliver(p, pkt, &pkts[(*n)++]); /* want <= max - *n */
        } else if (p->held_n || *n >= max) {
            afp_hold(p, pkt); /* behind a held frame, or out of room */
        } else if (pkt->ol.gso_type != DP_GSO_NONE) {
            bool done;
            *n += afp_rx_segments(p, pkt, pool, pkts + *n, max - *n, &done);
            if (done) {
                dp_packet_free(pkt);
                p->gso_next = 0;
            } else {
                afp_hold(p, pkt);
            }
        } else {
            afp_deliver(p, pkt, &pkts[(*n)++]);
        }
    }

    /* Frames the full queue lost: polled once a burst has been drained,
     * and at least every AFP_DROPS_MAX frames under sustained load. */
    p->rx_since_poll += (uint32_t)r;
    if (p->rx_since_poll >= AFP_DROPS_MAX ||
        (r < want && p->rx_since_poll >= AFP_DROPS_MIN)) {
        afp_poll_drops(p);
    }
    return r;
}

static int
afp_rx(struct dp_port *port, struct dp_pool *pool, struct dp_packet **pkts,
       int max)
{
    struct afp_port *p = afp_cast(port);
    int n = 0;

    if (p->held_n && !afp_rx_held(p, pool, pkts, max, &n)) {
        return n;
    }
    /* Lend the pool only as many buffers as the recent rate fills, so an
     * idle port costs a few buffer moves per call; a full batch doubles
     * the next one and reads on. */
    while (n < max) {
        int want = (int)MIN((uint32_t)(max - n),
                            MIN(p->rx_hint, dp_pool_available(pool)));
        if (want <= 0) {
            break;
        }
        int r = afp_rx_batch(p, pool, pkts, max, &n, want);
        if (r < want) {
            p->rx_hint = MIN(MAX((uint32_t)r * 2, AFP_HINT_MIN), DP_BATCH_MAX);
            break;
        }
        p->rx_hint = MIN(p->rx_hint * 2, DP_BATCH_MAX);
        if (p->held_n) {
            break;
        }
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
