/* Tests of the AF_PACKET port provider (port-afpacket.c) on veth pairs.
 *
 * The process first moves itself into a private network namespace
 * (unshare(CLONE_NEWNET), needs root) and creates every interface there;
 * the namespace, and everything in it, disappears when the process exits,
 * also when a test fails or crashes.  A TCP test moves one veth end into
 * the namespace of a forked child, which is gone when the child exits.
 * No traffic can reach the root namespace.  Every wait is bounded. */
#include "datapath/port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datapath/csum.h"
#include "datapath/gso.h"
#include "testlib.h"

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */

static int ns_state; /* 0 not tried, 1 ready, -1 failed */

static bool
run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) {
        printf("    command failed (%d): %s\n", rc, cmd);
    }
    return rc == 0;
}

static void
write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

/* Enters a private network namespace with a veth pair va <-> vb, once. */
static bool
netns_setup(void)
{
    if (ns_state) {
        return ns_state > 0;
    }
    ns_state = -1;
    if (unshare(CLONE_NEWNET) < 0) {
        printf("    unshare(CLONE_NEWNET) failed: %s; these tests need root "
               "and network namespaces\n",
               strerror(errno));
        return false;
    }
    /* No IPv6 autoconfiguration chatter on the test links. */
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    if (!run("ip link set lo up && "
             "ip link add va type veth peer name vb && "
             "ip link set va up && ip link set vb up")) {
        return false;
    }
    ns_state = 1;
    return true;
}

static uint64_t
now_ms(void)
{
    return time_nsec() / 1000000;
}

/* A plain packet socket on 'ifname' receiving only TEST_ETHERTYPE (or
 * everything with ETH_P_ALL). */
static int
raw_socket(const char *ifname, uint16_t proto)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(proto));
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(proto),
        .sll_ifindex = (int)if_nametoindex(ifname),
    };
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Test frame number 'i': to a MAC that is not va's (so only promiscuous
 * mode lets it in), our ethertype, 'i' in the first payload bytes. */
static uint32_t
make_frame(uint8_t *f, uint32_t i, bool vlan)
{
    uint32_t len = 60 + i * 97 % 1455, ofs = 12;

    memcpy(f, "\x02\x00\x00\x00\x00\xaa\x02\x00\x00\x00\x00\xbb", 12);
    if (vlan) {
        memcpy(f + 12, "\x81\x00\x01\x23", 4);
        ofs += 4;
        len += 4;
    }
    f[ofs] = TEST_ETHERTYPE >> 8;
    f[ofs + 1] = TEST_ETHERTYPE & 0xff;
    memcpy(f + ofs + 2, &i, 4);
    for (uint32_t k = ofs + 6; k < len; k++) {
        f[k] = (uint8_t)(k * 31 + i);
    }
    return len;
}

/* Returns the frame number of a test frame, or -1. */
static int
frame_index(const uint8_t *f, uint32_t len)
{
    uint32_t ofs = 12, i;

    if (len >= 20 && f[12] == 0x81 && f[13] == 0x00) {
        ofs += 4;
    }
    if (len < ofs + 6 || f[ofs] != (TEST_ETHERTYPE >> 8) ||
        f[ofs + 1] != (TEST_ETHERTYPE & 0xff)) {
        return -1;
    }
    memcpy(&i, f + ofs + 2, 4);
    return i < 100000 ? (int)i : -1;
}

static void
wait_readable(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    (void)poll(&pfd, 1, ms);
}

TEST(afpacket_open_errors)
{
    struct dp_port *port = (struct dp_port *)1;
    struct dp_port_config cfg = {0};

    if (!CHECK(netns_setup())) {
        return;
    }
    CHECK(dp_port_class_find("afpacket") == &dp_port_afpacket_class);
    CHECK_EQ(dp_port_afpacket_class.open("nonexistent0", &cfg, &port), ENODEV);
    CHECK(port == NULL);
    CHECK_EQ(dp_port_afpacket_class.open("va", &cfg, &port), 0);
    CHECK_EQ(port->mtu, 1500);
    CHECK(dp_port_afpacket_class.fd(port) >= 0);
    dp_port_close(port);
    dp_port_close(NULL);
}

TEST(afpacket_rx_from_raw_socket)
{
    enum { N = 100 };
    struct dp_pool *pool = dp_pool_create(256, 2048);
    struct dp_port_config cfg = {0};
    struct dp_port *port;
    struct dp_packet *pkts[DP_BATCH_MAX];
    bool seen[N] = {false};
    uint8_t f[1600];
    int got = 0, bad = 0, fd;

    if (!CHECK(netns_setup()) ||
        !CHECK_EQ(dp_port_afpacket_class.open("va", &cfg, &port), 0)) {
        dp_pool_destroy(pool);
        return;
    }
    fd = raw_socket("vb", ETH_P_ALL);
    CHECK(fd >= 0);
    /* Send in bursts of 10 and drain between them, as the datapath thread
     * does: with a 1 ms block timeout, a reader that sleeps while a slow
     * (sanitized, loaded) sender trickles frames would let every block
     * retire half-empty and the ring fill. */
    uint32_t sent = 0;
    uint64_t deadline = now_ms() + 5000;
    while (got < N && now_ms() < deadline) {
        for (uint32_t b = 0; b < 10 && sent < N; b++, sent++) {
            uint32_t len = make_frame(f, sent, sent % 10 == 5);
            CHECK_EQ(send(fd, f, len, 0), (ssize_t)len);
        }
        int n = dp_port_rx(port, pool, pkts, DP_BATCH_MAX);
        if (!n) {
            wait_readable(dp_port_afpacket_class.fd(port), 10);
        }
        for (int k = 0; k < n; k++) {
            int i = frame_index(pkts[k]->data, pkts[k]->len);
            if (i >= 0 && i < N && !seen[i]) {
                uint32_t len = make_frame(f, (uint32_t)i, i % 10 == 5);
                if (pkts[k]->len != len || memcmp(pkts[k]->data, f, len) ||
                    pkts[k]->ol.flags || pkts[k]->ol.gso_type) {
                    bad++;
                }
                seen[i] = true;
                got++;
            }
            dp_packet_free(pkts[k]);
        }
    }
    CHECK_EQ(got, N);
    CHECK_EQ(bad, 0); /* VLAN tags restored, bytes exact */
    CHECK(port->stats.rx_packets >= N);
    CHECK_EQ(dp_pool_available(pool), 256);

    /* Latency of a lone frame, woken the way the datapath thread is: it
     * sleeps in poll() on the port's fd, then calls rx().  A frame must be
     * readable as soon as the kernel has it (no ring block to fill or
     * time out), so the median is far below a millisecond. */
    enum { LONE = 20 };
    uint64_t lat[LONE];
    int lone_ok = 0;
    for (uint32_t k = 0; k < LONE; k++) {
        uint32_t len = make_frame(f, 1000 + k, k % 2);
        uint64_t t0 = time_nsec(), t1 = 0;
        CHECK_EQ(send(fd, f, len, 0), (ssize_t)len);
        while (!t1 && time_nsec() - t0 < 1000000000ull) {
            int n = dp_port_rx(port, pool, pkts, DP_BATCH_MAX);
            if (!n) {
                wait_readable(dp_port_afpacket_class.fd(port), 100);
            }
            for (int j = 0; j < n; j++) {
                if (frame_index(pkts[j]->data, pkts[j]->len) ==
                    (int)(1000 + k)) {
                    t1 = time_nsec();
                    lone_ok +=
                        pkts[j]->len == len && !memcmp(pkts[j]->data, f, len);
                }
                dp_packet_free(pkts[j]);
            }
        }
        lat[k] = t1 ? t1 - t0 : UINT64_MAX;
        usleep(2000); /* lone: nothing else in flight */
    }
    for (int a = 1; a < LONE; a++) { /* insertion sort */
        for (int b = a; b > 0 && lat[b - 1] > lat[b]; b--) {
            uint64_t t = lat[b];
            lat[b] = lat[b - 1];
            lat[b - 1] = t;
        }
    }
    printf("    lone frame latency over %d frames: min %.1f us, "
           "median %.1f us, max %.1f us\n",
           LONE, (double)lat[0] / 1e3, (double)lat[LONE / 2] / 1e3,
           (double)lat[LONE - 1] / 1e3);
    CHECK_EQ(lone_ok, LONE);
    CHECK(lat[LONE / 2] < 500000ull);
    CHECK_EQ(dp_pool_available(pool), 256); /* unfilled buffers went back */
    close(fd);
    dp_port_close(port);
    dp_pool_destroy(pool);
}

/* Frames the socket's receive queue has no room for are lost in the
 * kernel; the port counts them in rx_dropped. */
TEST(afpacket_rx_queue_overflow_counted)
{
    enum { N = 2000 };
    struct dp_pool *pool = dp_pool_create(256, 2048);
    struct dp_port_config cfg = {.ring_size = 64 * 1024};
    struct dp_port *port;
    struct dp_packet *pkts[DP_BATCH_MAX];
    uint8_t f[1600];
    int got = 0, fd;

    if (!CHECK(netns_setup()) ||
        !CHECK_EQ(dp_port_afpacket_class.open("va", &cfg, &port), 0)) {
        dp_pool_destroy(pool);
        return;
    }
    fd = raw_socket("vb", ETH_P_ALL);
    CHECK(fd >= 0);
    for (uint32_t i = 0; i < N; i++) { /* nobody reads meanwhile */
        uint32_t len = make_frame(f, i, false);
        if (send(fd, f, len, 0) != (ssize_t)len) {
            wait_readable(fd, 1); /* sender's buffer full: let it drain */
        }
    }
    uint64_t deadline = now_ms() + 2000;
    while (now_ms() < deadline) {
        int n = dp_port_rx(port, pool, pkts, DP_BATCH_MAX);
        if (!n) {
            wait_readable(dp_port_afpacket_class.fd(port), 50);
        }
        for (int k = 0; k < n; k++) {
            got += frame_index(pkts[k]->data, pkts[k]->len) >= 0;
            dp_packet_free(pkts[k]);
        }
        if (!n && got && port->stats.rx_dropped) {
            break;
        }
    }
    printf("    %d sent, %d received, %llu dropped\n", N, got,
           (unsigned long long)port->stats.rx_dropped);
    CHECK(got > 0);
    CHECK(got < N);
    CHECK(port->stats.rx_dropped > 0);
    CHECK(got + port->stats.rx_dropped <= N);
    CHECK_EQ(dp_pool_available(pool), 256);
    close(fd);
    dp_port_close(port);
    dp_pool_destroy(pool);
}

TEST(afpacket_tx_to_raw_socket)
{
    enum { N = 100 };
    struct dp_pool *pool = dp_pool_create(256, 2048);
    struct dp_port_config cfg = {0};
    struct dp_port *port;
    struct dp_packet *pkts[N];
    bool seen[N] = {false};
    uint8_t f[1600], buf[2048];
    int got = 0, bad = 0, fd, echoed = 0;

    if (!CHECK(netns_setup()) ||
        !CHECK_EQ(dp_port_afpacket_class.open("va", &cfg, &port), 0)) {
        dp_pool_destroy(pool);
        return;
    }
    fd = raw_socket("vb", TEST_ETHERTYPE);
    CHECK(fd >= 0);
    for (uint32_t i = 0; i < N; i++) {
        pkts[i] = dp_pool_get(pool);
        pkts[i]->len = make_frame(pkts[i]->data, i, false);
    }
    CHECK_EQ(dp_port_tx(port, pkts, N), N);
    dp_port_flush(port);
    CHECK_EQ(port->stats.tx_packets, N);
    for (int i = 0; i < N; i++) {
        dp_packet_free(pkts[i]);
    }

    uint64_t deadline = now_ms() + 3000;
    while (got < N && now_ms() < deadline) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0) {
            wait_readable(fd, 10);
            continue;
        }
        int i = frame_index(buf, (uint32_t)r);
        if (i >= 0 && i < N && !seen[i]) {
            uint32_t len = make_frame(f, (uint32_t)i, false);
            if ((uint32_t)r != len || memcmp(buf, f, len)) {
                bad++;
            }
            seen[i] = true;
            got++;
        }
    }
    CHECK_EQ(got, N);
    CHECK_EQ(bad, 0);

    /* PACKET_IGNORE_OUTGOING: our own frames do not come back. */
    deadline = now_ms() + 100;
    while (now_ms() < deadline) {
        wait_readable(dp_port_afpacket_class.fd(port), 10);
        int n = dp_port_rx(port, pool, pkts, DP_BATCH_MAX);
        for (int k = 0; k < n; k++) {
            echoed += frame_index(pkts[k]->data, pkts[k]->len) >= 0;
            dp_packet_free(pkts[k]);
        }
    }
    CHECK_EQ(echoed, 0);
    close(fd);
    dp_port_close(port);
    dp_pool_destroy(pool);
}

/* Builds a TCP/IPv4 super-frame owing its checksum, as a local stack with
 * TSO hands it to a device: the checksum field holds the pseudo-header
 * sum. */
static struct dp_packet *
make_tcp_superframe(struct dp_pool *pool, uint32_t payload, uint16_t mss)
{
    struct dp_packet *p = dp_pool_get(pool);
    uint8_t *d = p->data;
    struct ipv4_hdr *ip = (void *)(d + 14);
    struct tcp_hdr *th = (void *)(d + 34);
    uint32_t pseudo;
    uint16_t fold;

    memset(d, 0, 54);
    memcpy(d, "\x02\x00\x00\x00\x00\xaa\x02\x00\x00\x00\x00\xbb\x08\x00", 14);
    ip->ver_ihl = 0x45;
    ip->tot_len = htons((uint16_t)(40 + payload));
    ip->id = htons(100);
    ip->frag_off = htons(IPV4_DF);
    ip->ttl = 64;
    ip->proto = IPPROTO_TCP_;
    ip->src = htonl(0xc6120a01);
    ip->dst = htonl(0xc6120a02);
    ip->csum = csum_finish(csum_partial(ip, 20, 0));
    th->src = htons(1234);
    th->dst = htons(80);
    th->seq = htonl(1000);
    th->off = 5 << 4;
    th->flags = TCP_ACK | TCP_PSH;
    th->win = htons(1000);
    for (uint32_t i = 0; i < payload; i++) {
        d[54 + i] = (uint8_t)(i * 13 + (i >> 8));
    }
    p->len = 54 + payload;
    pseudo = csum_pseudo_ipv4(ip->src, ip->dst, IPPROTO_TCP_,
                              (uint16_t)(20 + payload));
    fold = (uint16_t)~csum_finish(pseudo);
    th->csum = fold;
    p->ol.flags = DP_OL_CSUM_PARTIAL;
    p->ol.csum_start = 34;
    p->ol.csum_offset = 16;
    p->ol.gso_type = DP_GSO_TCPV4;
    p->ol.gso_size = mss;
    p->ol.hdr_len = 54;
    return p;
}

/* True if the IPv4 header and TCP checksum of a plain frame verify. */
static bool
tcp4_frame_ok(const uint8_t *d, uint32_t len)
{
    const struct ipv4_hdr *ip = (const void *)(d + 14);
    uint32_t l4len = len - 34;
    uint32_t s =
        csum_pseudo_ipv4(ip->src, ip->dst, IPPROTO_TCP_, (uint16_t)l4len);

    return csum_finish(csum_partial(ip, 20, 0)) == 0 &&
           ntohs(ip->tot_len) == len - 14 &&
           csum_finish(csum_partial(d + 34, l4len, s)) == 0;
}

TEST(afpacket_gso_frame_passes)
{
    enum { PAYLOAD = 20000, MSS = 1400 };
    struct dp_pool *pool = dp_pool_create(128, DP_MAX_FRAME);
    struct dp_port_config on = {.offloads = true}, off = {0};
    struct dp_port *a, *b;
    struct dp_packet *pkts[DP_BATCH_MAX], *sf;
    uint8_t *joined = calloc(1, PAYLOAD);
    uint32_t got_bytes = 0, frames = 0, bad = 0, super = 0;

    if (!CHECK(netns_setup()) ||
        !CHECK_EQ(dp_port_afpacket_class.open("va", &on, &a), 0)) {
        free(joined);
        dp_pool_destroy(pool);
        return;
    }

    /* Offloads on both ends: the super-frame crosses the veth whole (or
     * in segments, if the kernel chose to segment) with its metadata. */
    CHECK_EQ(dp_port_afpacket_class.open("vb", &on, &b), 0);
    sf = make_tcp_superframe(pool, PAYLOAD, MSS);
    CHECK_EQ(dp_port_tx(a, &sf, 1), 1);
    uint64_t deadline = now_ms() + 3000;
    while (got_bytes < PAYLOAD && now_ms() < deadline) {
        int n = dp_port_rx(b, pool, pkts, DP_BATCH_MAX);
        if (!n) {
            wait_readable(dp_port_afpacket_class.fd(b), 10);
        }
        for (int k = 0; k < n; k++) {
            struct dp_packet *p = pkts[k];
            if (p->len > 54 && rd16(p->data + 12) == htons(ETH_TYPE_IPV4) &&
                p->data[23] == IPPROTO_TCP_) {
                uint32_t seq = ntohl(rd32(p->data + 38)) - 1000;
                uint32_t plen = p->len - 54;
                if (p->ol.gso_type) {
                    super++;
                    if (p->ol.gso_type != DP_GSO_TCPV4 ||
                        p->ol.gso_size != MSS ||
                        !(p->ol.flags & DP_OL_CSUM_PARTIAL) ||
                        p->ol.csum_start != 34 || p->ol.csum_offset != 16 ||
                        p->ol.hdr_len != 54) {
                        bad++;
                    }
                }
                if (seq + plen <= PAYLOAD) {
                    memcpy(joined + seq, p->data + 54, plen);
                    got_bytes += plen;
                    frames++;
                }
            }
            dp_packet_free(p);
        }
    }
    printf("    offloads on: %u frame(s), %u super-frame(s)\n", frames, super);
    CHECK_EQ(got_bytes, PAYLOAD);
    CHECK_EQ(bad, 0);
    CHECK(!memcmp(joined, sf->data + 54, PAYLOAD));
    dp_port_close(b);

    /* Offloads off on the receiver: the port segments in software and
     * completes the checksums; the pipeline sees plain frames. */
    CHECK_EQ(dp_port_afpacket_class.open("vb", &off, &b), 0);
    memset(joined, 0, PAYLOAD);
    got_bytes = frames = bad = 0;
    CHECK_EQ(dp_port_tx(a, &sf, 1), 1);
    deadline = now_ms() + 3000;
    while (got_bytes < PAYLOAD && now_ms() < deadline) {
        /* Small bites exercise resuming a super-frame across calls. */
        int n = dp_port_rx(b, pool, pkts, 4);
        if (!n) {
            wait_readable(dp_port_afpacket_class.fd(b), 10);
        }
        for (int k = 0; k < n; k++) {
            struct dp_packet *p = pkts[k];
            if (p->len > 54 && rd16(p->data + 12) == htons(ETH_TYPE_IPV4) &&
                p->data[23] == IPPROTO_TCP_) {
                uint32_t seq = ntohl(rd32(p->data + 38)) - 1000;
                uint32_t plen = p->len - 54;
                if (p->len > 54 + MSS || p->ol.gso_type || p->ol.flags ||
                    !tcp4_frame_ok(p->data, p->len)) {
                    bad++;
                }
                if (seq + plen <= PAYLOAD) {
                    memcpy(joined + seq, p->data + 54, plen);
                    got_bytes += plen;
                    frames++;
                }
            }
            dp_packet_free(p);
        }
    }
    CHECK_EQ(frames, (PAYLOAD + MSS - 1) / MSS);
    CHECK_EQ(got_bytes, PAYLOAD);
    CHECK_EQ(bad, 0);
    CHECK(!memcmp(joined, sf->data + 54, PAYLOAD));

    /* A frame queued behind a super-frame stays behind all its segments,
     * also when they take several calls. */
    struct dp_packet *two[2] = {sf, dp_pool_get(pool)};
    uint32_t marker_at = 0, segs = 0;
    two[1]->len = make_frame(two[1]->data, 42, false);
    CHECK_EQ(dp_port_tx(a, two, 2), 2);
    deadline = now_ms() + 3000;
    while (!marker_at && now_ms() < deadline) {
        int n = dp_port_rx(b, pool, pkts, 4);
        if (!n) {
            wait_readable(dp_port_afpacket_class.fd(b), 10);
        }
        for (int k = 0; k < n; k++) {
            struct dp_packet *p = pkts[k];
            if (frame_index(p->data, p->len) == 42) {
                marker_at = segs + 1;
            } else if (p->len > 54 &&
                       rd16(p->data + 12) == htons(ETH_TYPE_IPV4) &&
                       p->data[23] == IPPROTO_TCP_) {
                segs++;
            }
            dp_packet_free(p);
        }
    }
    dp_packet_free(two[1]);
    CHECK_EQ(segs, (PAYLOAD + MSS - 1) / MSS);
    CHECK_EQ(marker_at, segs + 1);

    /* A receiver whose pool frames are too small for the super-frame
     * drops it and counts it, with offloads on. */
    dp_port_close(b);
    CHECK_EQ(dp_port_afpacket_class.open("vb", &on, &b), 0);
    struct dp_pool *small = dp_pool_create(64, 2048);
    CHECK_EQ(dp_port_tx(a, &sf, 1), 1);
    deadline = now_ms() + 1000;
    while (!b->stats.rx_dropped && now_ms() < deadline) {
        wait_readable(dp_port_afpacket_class.fd(b), 10);
        int n = dp_port_rx(b, small, pkts, DP_BATCH_MAX);
        for (int k = 0; k < n; k++) {
            dp_packet_free(pkts[k]);
        }
    }
    CHECK(b->stats.rx_dropped >= 1);
    /* ... under its reason (ctl counters: TOO_BIG), not as a bad header. */
    CHECK(b->stats.rx_too_big >= 1);
    CHECK_EQ(b->stats.rx_gso_bad, 0);
    dp_pool_destroy(small);

    dp_packet_free(sf);
    dp_port_close(b);
    dp_port_close(a);
    free(joined);
    dp_pool_destroy(pool);
}

/* ---- TCP through a two-port bridge ----
 *
 *   child netns: client 198.18.N.1 on "xb"
 *        | veth
 *   "xa" -- our port A --[bridge thread]-- our port C -- "xc"
 *        | veth
 *   test netns: server 198.18.N.2 on "xd"
 *
 * The client's kernel hands TSO super-frames to its veth; they arrive on A
 * with GSO metadata, and the bridge forwards them to C. */

struct bridge {
    struct dp_port *a, *c;
    volatile bool stop;
    uint64_t a_rx_gso;     /* super-frames seen on A */
    uint32_t a_rx_max_len; /* longest frame handed up by A */
    uint64_t forwarded;
};

static void *
bridge_main(void *arg)
{
    struct bridge *br = arg;
    struct dp_pool *pool = dp_pool_create(1024, DP_MAX_FRAME);
    struct dp_packet *pkts[DP_BATCH_MAX];
    uint64_t deadline = now_ms() + 30000;

    while (!br->stop && now_ms() < deadline) {
        int na = dp_port_rx(br->a, pool, pkts, DP_BATCH_MAX);
        for (int k = 0; k < na; k++) {
            br->a_rx_gso += pkts[k]->ol.gso_type != DP_GSO_NONE;
            br->a_rx_max_len = MAX(br->a_rx_max_len, pkts[k]->len);
        }
        dp_port_tx(br->c, pkts, na);
        for (int k = 0; k < na; k++) {
            dp_packet_free(pkts[k]);
        }
        int nc = dp_port_rx(br->c, pool, pkts, DP_BATCH_MAX);
        dp_port_tx(br->a, pkts, nc);
        for (int k = 0; k < nc; k++) {
            dp_packet_free(pkts[k]);
        }
        br->forwarded += (uint64_t)(na + nc);
        if (!na && !nc) {
            struct pollfd pfd[2] = {
                {.fd = br->a->class->fd(br->a), .events = POLLIN},
                {.fd = br->c->class->fd(br->c), .events = POLLIN},
            };
            (void)poll(pfd, 2, 2);
        }
    }
    dp_pool_destroy(pool);
    return NULL;
}

#define XFER_BYTES (8u << 20)

static uint8_t
pattern(uint32_t i)
{
    return (uint8_t)(i ^ (i >> 11) ^ (i >> 19));
}

/* Child: configures its end, connects, sends XFER_BYTES, expects the
 * server's 4-byte count back.  Exit status 0 on success. */
static void
client_main(int go_fd, int ready_fd, const char *ifname, int subnet,
            uint16_t port)
{
    char cmd[256], c;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    static uint8_t buf[65536];
    int fd = -1;

    if (unshare(CLONE_NEWNET) < 0 || write(ready_fd, "r", 1) != 1 ||
        read(go_fd, &c, 1) != 1) {
        _exit(2);
    }
    snprintf(cmd, sizeof cmd,
             "ip link set lo up && ip link set %s up && "
             "ip addr add 198.18.%d.1/24 dev %s",
             ifname, subnet, ifname);
    if (system(cmd)) {
        _exit(3);
    }
    sin.sin_addr.s_addr = htonl(0xc6120002 | (uint32_t)subnet << 8);
    for (int tries = 0; tries < 50; tries++) { /* up to ~5 s */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (!connect(fd, (struct sockaddr *)&sin, sizeof sin)) {
            break;
        }
        close(fd);
        fd = -1;
        usleep(100000);
    }
    if (fd < 0) {
        _exit(4);
    }
    for (uint32_t off = 0; off < XFER_BYTES;) {
        uint32_t chunk = MIN(sizeof buf, XFER_BYTES - off);
        for (uint32_t i = 0; i < chunk; i++) {
            buf[i] = pattern(off + i);
        }
        for (uint32_t sent = 0; sent < chunk;) {
            ssize_t r = send(fd, buf + sent, chunk - sent, 0);
            if (r <= 0) {
                _exit(5);
            }
            sent += (uint32_t)r;
        }
        off += chunk;
    }
    shutdown(fd, SHUT_WR);
    uint32_t count = 0;
    if (recv(fd, &count, 4, MSG_WAITALL) != 4 || count != XFER_BYTES) {
        _exit(6);
    }
    close(fd);
    _exit(0);
}

static void
tcp_bridge_test(bool offloads)
{
    int subnet = offloads ? 21 : 20;
    uint16_t tport = (uint16_t)(5000 + subnet);
    char xa[16], xb[16], xc[16], xd[16], cmd[512];
    struct dp_port_config cfg = {.offloads = offloads};
    struct bridge br = {0};
    int go[2], ready[2], lfd, cfd = -1, status = -1;
    uint32_t received = 0, bad = 0;
    pthread_t thread;
    pid_t pid;
    char c;

    if (!CHECK(netns_setup())) {
        return;
    }
    snprintf(xa, sizeof xa, "xa%d", subnet);
    snprintf(xb, sizeof xb, "xb%d", subnet);
    snprintf(xc, sizeof xc, "xc%d", subnet);
    snprintf(xd, sizeof xd, "xd%d", subnet);
    snprintf(cmd, sizeof cmd,
             "ip link add %s type veth peer name %s && "
             "ip link add %s type veth peer name %s && "
             "ip link set %s up && ip link set %s up && ip link set %s up && "
             "ip addr add 198.18.%d.2/24 dev %s",
             xa, xb, xc, xd, xa, xc, xd, subnet, xd);
    if (!CHECK(run(cmd))) {
        return;
    }

    /* Server socket first, so the client cannot race it. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(tport)};
    sin.sin_addr.s_addr = htonl(0xc6120002 | (uint32_t)subnet << 8);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    CHECK(!bind(lfd, (struct sockaddr *)&sin, sizeof sin));
    CHECK(!listen(lfd, 1));

    CHECK(!pipe(go) && !pipe(ready));
    pid = fork();
    if (pid == 0) {
        client_main(go[0], ready[1], xb, subnet, tport);
    }
    CHECK(pid > 0);
    CHECK_EQ(read(ready[0], &c, 1), 1);
    snprintf(cmd, sizeof cmd, "ip link set %s netns %d", xb, (int)pid);
    CHECK(run(cmd));
    CHECK_EQ(write(go[1], "g", 1), 1);

    CHECK_EQ(dp_port_afpacket_class.open(xa, &cfg, &br.a), 0);
    CHECK_EQ(dp_port_afpacket_class.open(xc, &cfg, &br.c), 0);
    CHECK(!pthread_create(&thread, NULL, bridge_main, &br));

    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    uint64_t t0 = 0, t1 = 0;
    if (CHECK_EQ(poll(&pfd, 1, 10000), 1)) {
        cfd = accept(lfd, NULL, NULL);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        static uint8_t buf[65536];
        t0 = time_nsec();
        while (received < XFER_BYTES) {
            ssize_t r = recv(cfd, buf, sizeof buf, 0);
            if (r <= 0) {
                break;
            }
            for (ssize_t i = 0; i < r; i++) {
                bad += buf[i] != pattern(received + (uint32_t)i);
            }
            received += (uint32_t)r;
        }
        t1 = time_nsec();
        CHECK_EQ(send(cfd, &received, 4, 0), 4);
    }

    /* Reap the child within 10 s, or kill it. */
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            break;
        }
        usleep(100000);
        if (i == 99) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    br.stop = true;
    pthread_join(thread, NULL);

    CHECK_EQ(received, XFER_BYTES);
    CHECK_EQ(bad, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (offloads) {
        CHECK(br.a_rx_gso > 0); /* the client's TSO frames showed up */
    } else {
        CHECK_EQ(br.a_rx_gso, 0);
        CHECK(br.a_rx_max_len <= 1514);
    }
    if (t1 > t0) {
        printf("    offloads=%d: %u MiB in %.1f ms (%.0f Mbit/s), "
               "%llu super-frames on rx, longest frame %u\n",
               offloads, XFER_BYTES >> 20, (double)(t1 - t0) / 1e6,
               received * 8.0 / ((double)(t1 - t0) / 1e9) / 1e6,
               (unsigned long long)br.a_rx_gso, br.a_rx_max_len);
    }
    if (cfd >= 0) {
        close(cfd);
    }
    close(lfd);
    close(go[0]);
    close(go[1]);
    close(ready[0]);
    close(ready[1]);
    dp_port_close(br.a);
    dp_port_close(br.c);
    snprintf(cmd, sizeof cmd, "ip link del %s 2>/dev/null; true", xc);
    run(cmd);
}

TEST(afpacket_tcp_bridge_offloads)
{
    tcp_bridge_test(true);
}

TEST(afpacket_tcp_bridge_no_offloads)
{
    tcp_bridge_test(false);
}
