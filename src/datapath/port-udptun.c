/* UDP tunnel port provider ("udptun"): the underlay side of GENEVE/VXLAN.
 *
 * Kernel UDP sockets carry the tunnel packets, so the kernel does routing,
 * neighbour resolution and the outer IP/UDP headers (and their checksum);
 * a packet's data here is the UDP payload: the GENEVE or VXLAN header and
 * the inner frame (tunnel.h).
 *
 * RX: one socket bound to local_addr:udp_port with UDP_GRO, read with
 * recvmmsg() into port-owned 64 KiB buffers.  The kernel may hand us a
 * datagram coalesced from several of the same size (the UDP_GRO control
 * message gives that size); it is split back into one packet per original
 * datagram.  What does not fit in one rx() call stays for the next; a
 * coalesced datagram is not begun in a call that has handed out packets
 * already and has no room left for all of its segments, so its segments
 * (one sender's super-frame) reach the pipeline in one batch, where they
 * are merged back for the VIF (gro.h): split over two calls they left as
 * two frames (26 instead of 45 segments per frame to the VM on average).
 * With cfg->tun_hdr_len (the agent sets it), segments are merged right
 * here instead, still encapsulated: each TCP segment that continues the
 * packet handed out before it (same peer, same tunnel header, same flow,
 * next sequence number; gro.h dp_gro_encap_merge()) is appended to it
 * straight from the receive buffer, so a 64 KiB train costs one copy and
 * one pipeline pass instead of two copies and 45 passes.
 *
 * TX: sport_count sockets bound to local_addr with consecutive source ports
 * from sport_min; a packet leaves through socket pkt->hash % sport_count,
 * so the outer UDP source port follows the inner flow and the underlay's
 * ECMP hashing spreads flows without reordering any of them.  Within one
 * tx() call, packets are grouped per socket (keeping each socket's, hence
 * each flow's, order), runs of packets to the same peer with the same
 * length (the last may be shorter) become one UDP_SEGMENT (GSO) message,
 * and each socket's messages go out with one sendmmsg().  Measured on
 * loopback with 1450-byte packets, UDP_SEGMENT sends 4-5 times as many
 * packets per second as one datagram per message. */
#include "datapath/port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/gro.h"
#include "lib/log.h"

#ifndef UDPTUN_TX_GSO /* 0 turns UDP_SEGMENT off (benchmarks only) */
#define UDPTUN_TX_GSO 1
#endif

#define UT_RX_BATCH        32    /* datagrams per recvmmsg() */
#define UT_RX_BUF          65536 /* bytes per receive buffer */
#define UT_RX_FETCHES      4     /* recvmmsg() calls per rx(), at most */
#define UT_GSO_MAX_SEGS    64    /* UDP_SEGMENT: segments per message */
#define UT_GSO_MAX_BYTES   65507 /* UDP_SEGMENT: payload per message */
#define UT_SPORT_MIN       49152
#define UT_SPORT_COUNT     8
#define UT_SPORT_COUNT_MAX 256
#define UT_SOCKBUF         (8 * 1024 * 1024)

/* A received datagram not yet (fully) handed out. */
struct ut_rxmsg {
    uint32_t len;      /* bytes received */
    uint32_t seg_size; /* UDP_GRO segment size, = len if not coalesced */
};

/* One message to send: a packet, or a GSO run of packets. */
struct ut_txmsg {
    uint16_t first; /* index into the sorted packet order */
    uint16_t count; /* packets in the message */
};

struct ut_port {
    struct dp_port up;
    int family;        /* AF_INET or AF_INET6 */
    uint16_t udp_port; /* destination port of what we send (host order) */
    int rx_fd;         /* bound to local_addr:udp_port */
    int *tx_fds;       /* n_tx sockets, consecutive source ports */
    uint32_t n_tx;
    uint32_t rx_ovfl; /* kernel drop count last seen (SO_RXQ_OVFL) */
    uint32_t (*tun_hdr_len)(const uint8_t *, uint32_t); /* merge: config */

    /* RX: the last recvmmsg() batch and how far it has been handed out. */
    uint8_t *rx_bufs; /* UT_RX_BATCH * UT_RX_BUF bytes */
    struct mmsghdr rx_msgs[UT_RX_BATCH];
    struct iovec rx_iovs[UT_RX_BATCH];
    struct sockaddr_storage rx_addrs[UT_RX_BATCH];
    uint8_t rx_ctl[UT_RX_BATCH]
                  [CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint32_t))];
    struct ut_rxmsg rx_info[UT_RX_BATCH];
    uint32_t rx_count; /* datagrams in the batch */
    uint32_t rx_idx;   /* datagram being handed out */
    uint32_t rx_off;   /* offset of its next segment */

    /* TX scratch, sized for DP_BATCH_MAX packets. */
    uint16_t order[DP_BATCH_MAX]; /* packet indices grouped by socket */
    uint16_t *sock_start;         /* n_tx + 1 bucket bounds */
    struct ut_txmsg txm[DP_BATCH_MAX];
    struct mmsghdr tx_msgs[DP_BATCH_MAX];
    struct iovec tx_iovs[DP_BATCH_MAX];
    struct sockaddr_storage tx_addrs[DP_BATCH_MAX];
    uint8_t tx_ctl[DP_BATCH_MAX][CMSG_SPACE(sizeof(uint16_t))];
};

static struct log_ratelimit ut_rl = LOG_RATELIMIT_INIT(1, 5);

static struct ut_port *
ut_cast(struct dp_port *p)
{
    return CONTAINER_OF(p, struct ut_port, up);
}

static bool
addr_is_v4mapped(const uint8_t a[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a, prefix, sizeof prefix);
}

/* Fills 'ss' with 'addr' (16 bytes, IPv4-mapped or IPv6) and 'port' for a
 * socket of 'family'.  Returns the length, or 0 if the address cannot be
 * used with that family. */
static socklen_t
make_sockaddr(int family, const uint8_t addr[16], uint16_t port,
              struct sockaddr_storage *ss)
{
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (!addr_is_v4mapped(addr)) {
            return 0;
        }
        memset(sin, 0, sizeof *sin);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, addr + 12, 4);
        return sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    memset(sin6, 0, sizeof *sin6);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, addr, 16);
    return sizeof *sin6;
}

/* The reverse of make_sockaddr(): 16-byte address and host-order port. */
static void
parse_sockaddr(const struct sockaddr_storage *ss, uint8_t addr[16],
               uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        memset(addr, 0, 10);
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &sin->sin_addr, 4);
        *port = ntohs(sin->sin_port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        memcpy(addr, &sin6->sin6_addr, 16);
        *port = ntohs(sin6->sin6_port);
    }
}

/* Opens a UDP socket of p->family bound to local:port (port 0 =
 * ephemeral).  Returns the fd, or -1 with errno set. */
static int
ut_socket(const struct ut_port *p, const uint8_t local[16], uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len = make_sockaddr(p->family, local, port, &ss);
    int fd = socket(p->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1, off = 0, buf = UT_SOCKBUF;

    if (fd < 0) {
        return -1;
    }
    if (p->family == AF_INET6) {
        /* Dual-stack only when bound to the IPv6 wildcard. */
        bool any = !memcmp(local, &in6addr_any, 16);
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &off : &on,
                         sizeof on);
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void
ut_free(struct ut_port *p)
{
    if (p->rx_fd >= 0) {
        close(p->rx_fd);
    }
    for (uint32_t i = 0; i < p->n_tx; i++) {
        if (p->tx_fds[i] >= 0) {
            close(p->tx_fds[i]);
        }
    }
    free(p->tx_fds);
    free(p->sock_start);
    free(p->rx_bufs);
    free(p);
}

static int
ut_open(const char *devname, const struct dp_port_config *cfg,
        struct dp_port **portp)
{
    struct ut_port *p;
    uint8_t local[16];
    uint32_t sport_min, n_tx;
    int on = 1, buf = UT_SOCKBUF, err;

    *portp = NULL;
    if (!cfg || !cfg->udp_port) {
        LOG_ERROR("udptun", "port=%s msg=\"no UDP port configured\"", devname);
        return EINVAL;
    }
    n_tx = cfg->sport_count ? cfg->sport_count : UT_SPORT_COUNT;
    sport_min = cfg->sport_min ? cfg->sport_min : UT_SPORT_MIN;
    if (n_tx > UT_SPORT_COUNT_MAX || sport_min + n_tx - 1 > 65535) {
        LOG_ERROR("udptun",
                  "port=%s msg=\"bad source port range\" "
                  "sport_min=%u sport_count=%u",
                  devname, sport_min, n_tx);
        return EINVAL;
    }

    p = xcalloc(1, sizeof *p);
    p->up.class = &dp_port_udptun_class;
    strncpy(p->up.name, devname, sizeof p->up.name - 1);
    p->up.mtu = UT_GSO_MAX_BYTES; /* largest UDP payload we can send */
    p->up.offloads = false;
    p->up.busy_poll = cfg->busy_poll;
    p->rx_fd = -1;
    p->udp_port = cfg->udp_port;
    p->tun_hdr_len = cfg->tun_hdr_len;
    memcpy(local, cfg->local_addr, 16);
    p->family = addr_is_v4mapped(local) ? AF_INET : AF_INET6;
    p->tx_fds = xmalloc(n_tx * sizeof *p->tx_fds);
    for (uint32_t i = 0; i < n_tx; i++) {
        p->tx_fds[i] = -1;
    }
    p->n_tx = n_tx;
    p->sock_start = xcalloc(n_tx + 1, sizeof *p->sock_start);

    p->rx_fd = ut_socket(p, local, cfg->udp_port);
    if (p->rx_fd < 0) {
        err = errno;
        LOG_ERROR("udptun",
                  "port=%s msg=\"cannot bind receive socket\" "
                  "udp_port=%u error=%s",
                  devname, cfg->udp_port, strerror(err));
        goto error;
    }
    if (setsockopt(p->rx_fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0) {
        err = errno;
        LOG_ERROR("udptun", "port=%s msg=\"cannot enable UDP_GRO\" error=%s",
                  devname, strerror(err));
        goto error;
    }
    if (setsockopt(p->rx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) <
        0) {
        (void)setsockopt(p->rx_fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }
    (void)setsockopt(p->rx_fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    if (cfg->busy_poll) {
        int usec = 50;
        (void)setsockopt(p->rx_fd, SOL_SOCKET, SO_BUSY_POLL, &usec,
                         sizeof usec);
    }

    for (uint32_t i = 0; i < n_tx; i++) {
        uint16_t sport = (uint16_t)(sport_min + i);
        int fd = ut_socket(p, local, sport);
        if (fd < 0 && errno == EADDRINUSE) {
            LOG_WARN("udptun",
                     "port=%s msg=\"source port taken, using an "
                     "ephemeral one\" sport=%u",
                     devname, sport);
            fd = ut_socket(p, local, 0);
        }
        if (fd < 0) {
            err = errno;
            LOG_ERROR("udptun",
                      "port=%s msg=\"cannot bind send socket\" "
                      "sport=%u error=%s",
                      devname, sport, strerror(err));
            goto error;
        }
        p->tx_fds[i] = fd;
    }

    p->rx_bufs = xmalloc((size_t)UT_RX_BATCH * UT_RX_BUF);
    for (int i = 0; i < UT_RX_BATCH; i++) {
        p->rx_iovs[i].iov_base = p->rx_bufs + (size_t)i * UT_RX_BUF;
        p->rx_iovs[i].iov_len = UT_RX_BUF;
    }
    LOG_INFO("udptun",
             "port=%s msg=opened family=%s udp_port=%u "
             "sport_min=%u sport_count=%u",
             devname, p->family == AF_INET ? "ipv4" : "ipv6", cfg->udp_port,
             sport_min, n_tx);
    *portp = &p->up;
    return 0;

error:
    ut_free(p);
    return err;
}

static void
ut_close(struct dp_port *port)
{
    if (port) {
        ut_free(ut_cast(port));
    }
}

/* ---- RX ---- */

/* Reads a batch of up to 'want' datagrams.  Returns how many. */
static uint32_t
ut_recv_batch(struct ut_port *p, uint32_t want)
{
    int r;

    want = MIN(want, UT_RX_BATCH);
    for (uint32_t i = 0; i < want; i++) {
        struct msghdr *mh = &p->rx_msgs[i].msg_hdr;
        mh->msg_name = &p->rx_addrs[i];
        mh->msg_namelen = sizeof p->rx_addrs[i];
        mh->msg_iov = &p->rx_iovs[i];
        mh->msg_iovlen = 1;
        mh->msg_control = p->rx_ctl[i];
        mh->msg_controllen = sizeof p->rx_ctl[i];
        mh->msg_flags = 0;
    }
    r = recvmmsg(p->rx_fd, p->rx_msgs, want, MSG_DONTWAIT, NULL);
    if (r <= 0) {
        if (r < 0 && errno != EAGAIN && errno != EINTR &&
            log_ratelimit_ok(&ut_rl)) {
            LOG_WARN("udptun", "port=%s msg=\"receive failed\" error=%s",
                     p->up.name, strerror(errno));
        }
        return 0;
    }
    for (int i = 0; i < r; i++) {
        struct msghdr *mh = &p->rx_msgs[i].msg_hdr;
        struct ut_rxmsg *m = &p->rx_info[i];

        m->len = p->rx_msgs[i].msg_len;
        m->seg_size = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int gso;
                memcpy(&gso, CMSG_DATA(c), sizeof gso);
                m->seg_size = gso > 0 ? (uint32_t)gso : 0;
            } else if (c->cmsg_level == SOL_SOCKET &&
                       c->cmsg_type == SO_RXQ_OVFL) {
                uint32_t ovfl;
                memcpy(&ovfl, CMSG_DATA(c), sizeof ovfl);
                p->up.stats.rx_dropped += ovfl - p->rx_ovfl;
                p->rx_ovfl = ovfl;
            }
        }
        if (!m->seg_size || m->seg_size > m->len) {
            m->seg_size = m->len;
        }
        if (mh->msg_flags & MSG_TRUNC) {
            dp_port_count_rx_drop(&p->up.stats, DP_DROP_TOO_BIG);
            m->len = 0; /* hand out nothing */
        }
    }
    return (uint32_t)r;
}

/* With merging configured: appends the segment 'seg' of 'len' bytes from
 * the peer of the current datagram to the last packet handed out, if that
 * packet is a merge head (*g, *merging) from the same peer and the segment
 * merges into it (gro.h). */
static bool
ut_rx_merge(struct ut_port *p, struct dp_gro_encap *g, bool merging,
            const uint8_t *seg, uint32_t len)
{
    uint8_t addr[16];
    uint16_t sport;

    if (!merging) {
        return false;
    }
    parse_sockaddr(&p->rx_addrs[p->rx_idx], addr, &sport);
    return sport == g->head->tun_sport &&
           !memcmp(addr, g->head->tun_addr, sizeof addr) &&
           dp_gro_encap_merge(g, seg, len);
}

static int
ut_rx(struct dp_port *port, struct dp_pool *pool, struct dp_packet **pkts,
      int max)
{
    struct ut_port *p = ut_cast(port);
    uint32_t frame_size = dp_pool_frame_size(pool);
    struct dp_gro_encap g;
    bool merging = false; /* pkts[n - 1] is g.head */
    int n = 0;

    /* Hands out what is left of the last batch, then reads new batches
     * while they come back full and there is room, at most UT_RX_FETCHES.
     * Every iteration makes a packet, moves forward in the batch, or
     * leaves the loop. */
    int fetches = 0;
    while (n < max) {
        if (p->rx_idx >= p->rx_count) {
            bool last_full = p->rx_count == UT_RX_BATCH;
            if (fetches == UT_RX_FETCHES || (fetches && !last_full)) {
                break;
            }
            p->rx_count = ut_recv_batch(p, (uint32_t)(max - n));
            p->rx_idx = p->rx_off = 0;
            fetches++;
            continue;
        }
        struct ut_rxmsg *m = &p->rx_info[p->rx_idx];
        const uint8_t *buf = p->rx_iovs[p->rx_idx].iov_base;

        if (p->rx_off >= m->len) {
            p->rx_idx++;
            p->rx_off = 0;
            continue;
        }
        /* A coalesced datagram is the run of one flow's segments the
         * sender made from one super-frame: start it only in a call with
         * room for all of it (unless nothing was handed out yet), so the
         * pipeline sees it in one batch and can merge it whole (gro.h). */
        if (p->rx_off == 0 && n > 0 && m->len > m->seg_size &&
            (m->len + m->seg_size - 1) / m->seg_size > (uint32_t)(max - n)) {
            break;
        }
        uint32_t seg = MIN(m->seg_size, m->len - p->rx_off);
        if (seg > frame_size) {
            dp_port_count_rx_drop(&p->up.stats, DP_DROP_TOO_BIG);
            p->rx_off += seg;
            continue;
        }
        if (ut_rx_merge(p, &g, merging, buf + p->rx_off, seg)) {
            p->up.stats.rx_packets++;
            p->up.stats.rx_bytes += seg;
            p->rx_off += seg;
            continue;
        }
        struct dp_packet *pkt = dp_pool_get(pool);
        if (!pkt) {
            break; /* resume here when buffers are back */
        }
        memcpy(pkt->data, buf + p->rx_off, seg);
        pkt->len = seg;
        parse_sockaddr(&p->rx_addrs[p->rx_idx], pkt->tun_addr, &pkt->tun_sport);
        p->up.stats.rx_packets++;
        p->up.stats.rx_bytes += seg;
        pkts[n++] = pkt;
        p->rx_off += seg;
        if (p->tun_hdr_len) {
            uint32_t skip = p->tun_hdr_len(pkt->data, pkt->len);
            merging = skip && dp_gro_encap_start(&g, pkt, skip);
        }
    }
    return n;
}

/* ---- TX ---- */

/* Sends the packets of GSO message 'm' one datagram at a time.  Returns
 * how many were sent; counts the others as dropped. */
static int
ut_send_split(struct ut_port *p, int fd, uint32_t m, struct dp_packet **pkts)
{
    const struct msghdr *gso = &p->tx_msgs[m].msg_hdr;
    int sent = 0;

    for (uint32_t k = 0; k < p->txm[m].count; k++) {
        const struct dp_packet *pkt = pkts[p->order[p->txm[m].first + k]];
        struct msghdr mh = {
            .msg_name = gso->msg_name,
            .msg_namelen = gso->msg_namelen,
            .msg_iov = &gso->msg_iov[k],
            .msg_iovlen = 1,
        };
        if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0) {
            p->up.stats.tx_dropped++;
            continue;
        }
        p->up.stats.tx_packets++;
        p->up.stats.tx_bytes += pkt->len;
        sent++;
    }
    return sent;
}

/* Sends messages [first, first + count) of the prepared batch through
 * 'fd'.  Returns the packets sent; counts the rest as dropped. */
static int
ut_send_msgs(struct ut_port *p, int fd, uint32_t first, uint32_t count,
             struct dp_packet **pkts)
{
    uint32_t done = 0;
    int sent = 0;

    /* Each round sends or drops at least one message. */
    while (done < count) {
        int r =
            sendmmsg(fd, p->tx_msgs + first + done, count - done, MSG_DONTWAIT);
        if (r > 0) {
            for (uint32_t m = first + done; m < first + done + (uint32_t)r;
                 m++) {
                for (uint32_t k = 0; k < p->txm[m].count; k++) {
                    const struct dp_packet *pkt =
                        pkts[p->order[p->txm[m].first + k]];
                    p->up.stats.tx_bytes += pkt->len;
                }
                p->up.stats.tx_packets += p->txm[m].count;
                sent += p->txm[m].count;
            }
            done += (uint32_t)r;
            continue;
        }
        int err = r < 0 ? errno : EIO;
        if (err == EAGAIN || err == ENOBUFS) {
            /* Socket buffer full: the rest would fail as well. */
            for (; done < count; done++) {
                p->up.stats.tx_dropped += p->txm[first + done].count;
            }
        } else if (p->txm[first + done].count > 1) {
            /* The GSO message was refused (a segment over the path MTU,
             * say): send its packets one by one instead. */
            sent += ut_send_split(p, fd, first + done, pkts);
            done++;
        } else {
            p->up.stats.tx_dropped++;
            done++;
        }
        if (log_ratelimit_ok(&ut_rl)) {
            LOG_WARN("udptun", "port=%s msg=\"send failed\" error=%s",
                     p->up.name, strerror(err));
        }
    }
    return sent;
}

/* Sends up to DP_BATCH_MAX packets. */
static int
ut_tx_chunk(struct ut_port *p, struct dp_packet **pkts, int n)
{
    uint32_t n_msgs = 0;
    int sent = 0;

    /* Group packet indices by socket, stably (counting sort). */
    memset(p->sock_start, 0, (p->n_tx + 1) * sizeof *p->sock_start);
    for (int i = 0; i < n; i++) {
        p->sock_start[pkts[i]->hash % p->n_tx + 1]++;
    }
    for (uint32_t s = 0; s < p->n_tx; s++) {
        p->sock_start[s + 1] += p->sock_start[s];
    }
    {
        uint16_t fill[UT_SPORT_COUNT_MAX];
        memcpy(fill, p->sock_start, p->n_tx * sizeof *fill);
        for (int i = 0; i < n; i++) {
            p->order[fill[pkts[i]->hash % p->n_tx]++] = (uint16_t)i;
        }
    }

    for (uint32_t s = 0; s < p->n_tx; s++) {
        uint32_t i = p->sock_start[s], end = p->sock_start[s + 1];
        uint32_t first_msg = n_msgs;

        while (i < end) {
            struct dp_packet *pkt = pkts[p->order[i]];
            struct ut_txmsg *tm = &p->txm[n_msgs];
            struct msghdr *mh = &p->tx_msgs[n_msgs].msg_hdr;
            uint32_t k = 1, bytes = pkt->len;
            socklen_t alen = make_sockaddr(p->family, pkt->tun_addr,
                                           p->udp_port, &p->tx_addrs[n_msgs]);

            if (!alen) {
                p->up.stats.tx_dropped++; /* IPv6 peer on an IPv4 socket */
                i++;
                continue;
            }
            /* Extend a run: same peer, same length, the last may be
             * shorter, within the GSO limits. */
            while (UDPTUN_TX_GSO && i + k < end && k < UT_GSO_MAX_SEGS) {
                const struct dp_packet *q = pkts[p->order[i + k]];
                const struct dp_packet *prev = pkts[p->order[i + k - 1]];
                if (q->len > pkt->len || prev->len != pkt->len ||
                    bytes + q->len > UT_GSO_MAX_BYTES ||
                    memcmp(q->tun_addr, pkt->tun_addr, 16)) {
                    break;
                }
                bytes += q->len;
                k++;
            }
            for (uint32_t j = 0; j < k; j++) {
                struct dp_packet *q = pkts[p->order[i + j]];
                p->tx_iovs[i + j].iov_base = q->data;
                p->tx_iovs[i + j].iov_len = q->len;
            }
            tm->first = (uint16_t)i;
            tm->count = (uint16_t)k;
            memset(mh, 0, sizeof *mh);
            mh->msg_name = &p->tx_addrs[n_msgs];
            mh->msg_namelen = alen;
            mh->msg_iov = &p->tx_iovs[i];
            mh->msg_iovlen = k;
            if (k > 1) {
                struct cmsghdr *c;
                uint16_t gso = (uint16_t)pkt->len;

                mh->msg_control = p->tx_ctl[n_msgs];
                mh->msg_controllen = sizeof p->tx_ctl[n_msgs];
                c = CMSG_FIRSTHDR(mh);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof gso);
                memcpy(CMSG_DATA(c), &gso, sizeof gso);
            }
            n_msgs++;
            i += k;
        }
        if (n_msgs > first_msg) {
            sent += ut_send_msgs(p, p->tx_fds[s], first_msg, n_msgs - first_msg,
                                 pkts);
        }
    }
    return sent;
}

static int
ut_tx(struct dp_port *port, struct dp_packet **pkts, int n)
{
    struct ut_port *p = ut_cast(port);
    int sent = 0;

    for (int base = 0; base < n; base += DP_BATCH_MAX) {
        sent += ut_tx_chunk(p, pkts + base, MIN(n - base, DP_BATCH_MAX));
    }
    return sent;
}

static int
ut_fd(const struct dp_port *port)
{
    return CONTAINER_OF(port, const struct ut_port, up)->rx_fd;
}

const struct dp_port_class dp_port_udptun_class = {
    .type = "udptun",
    .open = ut_open,
    .close = ut_close,
    .rx = ut_rx,
    .tx = ut_tx,
    .flush = NULL,
    .fd = ut_fd,
};
