/* Tests of the UDP tunnel port provider (port-udptun.c).
 *
 * The process moves itself into a private network namespace
 * (unshare(CLONE_NEWNET), needs root) and uses only addresses it creates
 * there (127.0.0.0/8 on lo, 198.18.5.0/24 and fd00:5::/64 on a veth pair),
 * so no packet can leave it; the namespace disappears with the process.
 * Every wait is bounded. */
#include "datapath/port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/csum.h"
#include "datapath/tunnel.h"
#include "testlib.h"

#define TUN_PORT 6081

static int ns_state; /* 0 not tried, 1 ready, -1 failed */

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
    const char *cmd = "ip link set lo up && "
                      "ip link add ua type veth peer name ub && "
                      "ip link set ua up && ip link set ub up && "
                      "ip addr add 198.18.5.1/24 dev ua && "
                      "ip addr add 198.18.5.2/24 dev ub && "
                      "ip addr add fd00:5::1/64 dev ua nodad && "
                      "ip addr add fd00:5::2/64 dev ub nodad";
    int rc = system(cmd);
    if (rc) {
        printf("    namespace setup failed (%d): %s\n", rc, cmd);
        return false;
    }
    ns_state = 1;
    return true;
}

static void
v4mapped(uint8_t a[16], const char *ip)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    inet_pton(AF_INET, ip, a + 12);
}

static void
v6(uint8_t a[16], const char *ip)
{
    inet_pton(AF_INET6, ip, a);
}

static int
open_port(const char *name, const uint8_t local[16], uint16_t sport_min,
          struct dp_port **portp)
{
    struct dp_port_config cfg = {
        .udp_port = TUN_PORT,
        .sport_min = sport_min,
        .sport_count = 8,
    };
    memcpy(cfg.local_addr, local, 16);
    return dp_port_udptun_class.open(name, &cfg, portp);
}

static uint64_t
now_ms(void)
{
    return time_nsec() / 1000000;
}

/* Packet 'i' of a test: 'len' bytes, index and hash in the first 8. */
static void
fill(struct dp_packet *p, uint32_t i, uint32_t hash, uint32_t len,
     const uint8_t dst[16])
{
    p->len = len;
    memcpy(p->data, &i, 4);
    memcpy(p->data + 4, &hash, 4);
    for (uint32_t k = 8; k < len; k++) {
        p->data[k] = (uint8_t)(k * 7 + i);
    }
    p->hash = hash;
    memcpy(p->tun_addr, dst, 16);
}

static bool
check_payload(const struct dp_packet *p, uint32_t *i, uint32_t *hash)
{
    if (p->len < 8) {
        return false;
    }
    memcpy(i, p->data, 4);
    memcpy(hash, p->data + 4, 4);
    for (uint32_t k = 8; k < p->len; k++) {
        if (p->data[k] != (uint8_t)(k * 7 + *i)) {
            return false;
        }
    }
    return true;
}

/* Sends 'n' packets from 'a' to 'b_addr' (lengths from 'len_of'), receives
 * them on 'b' and checks payloads, lengths, peer address and that the
 * source port follows the hash. */
static void
roundtrip(struct dp_port *a, const uint8_t a_addr[16], uint16_t a_sport_min,
          struct dp_port *b, const uint8_t b_addr[16], uint32_t n,
          uint32_t (*len_of)(uint32_t), uint32_t (*hash_of)(uint32_t),
          struct dp_pool *rx_pool)
{
    struct dp_pool *pool = dp_pool_create(n, 2048);
    struct dp_packet **pkts = calloc(n, sizeof *pkts);
    struct dp_packet *rx[DP_BATCH_MAX];
    bool *seen = calloc(n, sizeof *seen);
    uint32_t got = 0, bad = 0, bad_sport = 0, bad_order = 0;
    uint32_t last_seq[8];
    uint16_t sports_seen = 0; /* bitmap of sport offsets */

    memset(last_seq, 0xff, sizeof last_seq);
    for (uint32_t i = 0; i < n; i++) {
        pkts[i] = dp_pool_get(pool);
        fill(pkts[i], i, hash_of(i), len_of(i), b_addr);
    }
    CHECK_EQ(dp_port_tx(a, pkts, (int)n), (int)n);
    CHECK_EQ(a->stats.tx_dropped, 0);
    for (uint32_t i = 0; i < n; i++) {
        dp_packet_free(pkts[i]);
    }

    uint64_t deadline = now_ms() + 3000;
    while (got < n && now_ms() < deadline) {
        int m = dp_port_rx(b, rx_pool, rx, DP_BATCH_MAX);
        if (!m) {
            struct pollfd pfd = {.fd = dp_port_udptun_class.fd(b),
                                 .events = POLLIN};
            poll(&pfd, 1, 10);
        }
        for (int k = 0; k < m; k++) {
            uint32_t i, hash;
            if (!check_payload(rx[k], &i, &hash) || i >= n || seen[i] ||
                rx[k]->len != len_of(i) ||
                memcmp(rx[k]->tun_addr, a_addr, 16)) {
                bad++;
            } else {
                uint32_t s = rx[k]->tun_sport - a_sport_min;
                seen[i] = true;
                got++;
                if (s != hash % 8) {
                    bad_sport++;
                } else {
                    /* Per source port (flow), packets keep their order. */
                    if (last_seq[s] != UINT32_MAX && i < last_seq[s]) {
                        bad_order++;
                    }
                    last_seq[s] = i;
                    sports_seen |= (uint16_t)(1u << s);
                }
            }
            dp_packet_free(rx[k]);
        }
    }
    CHECK_EQ(got, n);
    CHECK_EQ(bad, 0);
    CHECK_EQ(bad_sport, 0);
    CHECK_EQ(bad_order, 0);
    CHECK(__builtin_popcount(sports_seen) >= 2);
    free(seen);
    free(pkts);
    dp_pool_destroy(pool);
}

static uint32_t
len_equal(uint32_t i)
{
    (void)i;
    return 1200;
}

static uint32_t
len_mixed(uint32_t i)
{
    /* Runs of equal lengths, some ending with a shorter packet. */
    return i % 13 == 12 ? 300 + i : 1000 + (i / 13) * 8;
}

static uint32_t
hash_spread(uint32_t i)
{
    return i * 2654435761u >> 8;
}

static uint32_t
hash_few(uint32_t i)
{
    return (i / 25) * 3 + 1; /* long runs on one socket: GSO */
}

TEST(udptun_ipv4_roundtrip_100)
{
    struct dp_pool *rx_pool = dp_pool_create(256, 2048);
    uint8_t a_addr[16], b_addr[16];
    struct dp_port *a, *b;

    if (!CHECK(netns_setup())) {
        dp_pool_destroy(rx_pool);
        return;
    }
    CHECK(dp_port_class_find("udptun") == &dp_port_udptun_class);
    v4mapped(a_addr, "127.0.0.1");
    v4mapped(b_addr, "127.0.0.2");
    CHECK_EQ(open_port("ta", a_addr, 49152, &a), 0);
    CHECK_EQ(open_port("tb", b_addr, 49200, &b), 0);
    roundtrip(a, a_addr, 49152, b, b_addr, 100, len_equal, hash_few, rx_pool);
    roundtrip(a, a_addr, 49152, b, b_addr, 100, len_equal, hash_spread,
              rx_pool);
    roundtrip(a, a_addr, 49152, b, b_addr, 200, len_mixed, hash_few, rx_pool);
    CHECK_EQ(b->stats.rx_packets, 400);
    CHECK_EQ(b->stats.rx_dropped, 0);
    CHECK_EQ(dp_pool_available(rx_pool), 256);
    dp_port_close(a);
    dp_port_close(b);
    dp_pool_destroy(rx_pool);
}

TEST(udptun_ipv4_veth_and_ipv6)
{
    struct dp_pool *rx_pool = dp_pool_create(256, 2048);
    uint8_t a_addr[16], b_addr[16];
    struct dp_port *a, *b;

    if (!CHECK(netns_setup())) {
        dp_pool_destroy(rx_pool);
        return;
    }
    v4mapped(a_addr, "198.18.5.1");
    v4mapped(b_addr, "198.18.5.2");
    CHECK_EQ(open_port("ta", a_addr, 49152, &a), 0);
    CHECK_EQ(open_port("tb", b_addr, 49152, &b), 0);
    roundtrip(a, a_addr, 49152, b, b_addr, 100, len_equal, hash_few, rx_pool);
    dp_port_close(a);
    dp_port_close(b);

    v6(a_addr, "fd00:5::1");
    v6(b_addr, "fd00:5::2");
    CHECK_EQ(open_port("ta6", a_addr, 49152, &a), 0);
    CHECK_EQ(open_port("tb6", b_addr, 49152, &b), 0);
    roundtrip(a, a_addr, 49152, b, b_addr, 100, len_equal, hash_few, rx_pool);
    roundtrip(a, a_addr, 49152, b, b_addr, 100, len_mixed, hash_spread,
              rx_pool);
    dp_port_close(a);
    dp_port_close(b);
    dp_pool_destroy(rx_pool);
}

TEST(udptun_tx_coalesces_with_udp_segment)
{
    /* A plain UDP_GRO receiver sees how the datagrams were sent: on
     * loopback nothing coalesces them on the way, so a datagram of several
     * segments means the sender used UDP_SEGMENT. */
    struct dp_pool *pool = dp_pool_create(100, 2048);
    struct dp_packet *pkts[100];
    uint8_t a_addr[16], c_addr[16], buf[65536];
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(TUN_PORT)};
    struct dp_port *a;
    int fd, on = 1, calls = 0, max_gso = 0;
    uint32_t bytes = 0;

    if (!CHECK(netns_setup())) {
        dp_pool_destroy(pool);
        return;
    }
    v4mapped(a_addr, "127.0.0.1");
    v4mapped(c_addr, "127.0.0.3");
    inet_pton(AF_INET, "127.0.0.3", &sin.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CHECK(!bind(fd, (struct sockaddr *)&sin, sizeof sin));
    CHECK(!setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on));
    CHECK_EQ(open_port("ta", a_addr, 49152, &a), 0);
    for (uint32_t i = 0; i < 100; i++) {
        pkts[i] = dp_pool_get(pool);
        fill(pkts[i], i, 5, 1000, c_addr);
    }
    CHECK_EQ(dp_port_tx(a, pkts, 100), 100);

    uint64_t deadline = now_ms() + 2000;
    while (bytes < 100 * 1000 && now_ms() < deadline) {
        char ctl[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl,
                            .msg_controllen = sizeof ctl};
        ssize_t r = recvmsg(fd, &mh, 0);
        if (r < 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, 10);
            continue;
        }
        calls++;
        bytes += (uint32_t)r;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
             c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int gso;
                memcpy(&gso, CMSG_DATA(c), sizeof gso);
                max_gso = MAX(max_gso, gso);
            }
        }
    }
    CHECK_EQ(bytes, 100 * 1000);
    CHECK(calls <= 4); /* 64 + 36 segments: two messages */
    CHECK_EQ(max_gso, 1000);
    printf("    100 packets arrived in %d datagram(s)\n", calls);
    for (int i = 0; i < 100; i++) {
        dp_packet_free(pkts[i]);
    }
    close(fd);
    dp_port_close(a);
    dp_pool_destroy(pool);
}

TEST(udptun_rx_resumes_when_pool_runs_dry)
{
    struct dp_pool *tiny = dp_pool_create(4, 2048);
    struct dp_pool *pool = dp_pool_create(100, 2048);
    struct dp_packet *pkts[100], *rx[DP_BATCH_MAX];
    uint8_t a_addr[16], b_addr[16];
    struct dp_port *a, *b;
    uint32_t got = 0, bad = 0;

    if (!CHECK(netns_setup())) {
        dp_pool_destroy(tiny);
        dp_pool_destroy(pool);
        return;
    }
    v4mapped(a_addr, "127.0.0.1");
    v4mapped(b_addr, "127.0.0.2");
    CHECK_EQ(open_port("ta", a_addr, 49152, &a), 0);
    CHECK_EQ(open_port("tb", b_addr, 49200, &b), 0);
    for (uint32_t i = 0; i < 100; i++) {
        pkts[i] = dp_pool_get(pool);
        fill(pkts[i], i, 9, 700, b_addr);
    }
    CHECK_EQ(dp_port_tx(a, pkts, 100), 100);
    uint64_t deadline = now_ms() + 3000;
    while (got < 100 && now_ms() < deadline) {
        int m = dp_port_rx(b, tiny, rx, DP_BATCH_MAX);
        CHECK(m <= 4);
        if (!m) {
            usleep(1000);
        }
        for (int k = 0; k < m; k++) {
            uint32_t i, hash;
            if (!check_payload(rx[k], &i, &hash) || i != got) {
                bad++;
            }
            got++;
            dp_packet_free(rx[k]);
        }
    }
    CHECK_EQ(got, 100);
    CHECK_EQ(bad, 0);
    for (int i = 0; i < 100; i++) {
        dp_packet_free(pkts[i]);
    }
    dp_port_close(a);
    dp_port_close(b);
    dp_pool_destroy(tiny);
    dp_pool_destroy(pool);
}

/* A VXLAN-encapsulated IPv4/TCP segment of one flow: 'len' payload bytes
 * at sequence number 'seq', each byte a function of its sequence number. */
static void
tcp_in_vxlan(struct dp_packet *p, uint32_t seq, uint32_t len,
             const uint8_t dst[16])
{
    static const uint8_t hdr[8 + 14] = {
        VXLAN_F_VNI, 0, 0, 0, 0, 0x13, 0x89, 0, 2, 0,    0,
        0,           0, 2, 2, 0, 0,    0,    0, 1, 0x08, 0x00};
    struct ipv4_hdr ip = {.ver_ihl = 0x45,
                          .tot_len = htons((uint16_t)(40 + len)),
                          .ttl = 64,
                          .proto = IPPROTO_TCP_,
                          .src = htonl(0xc6130101),
                          .dst = htonl(0xc6130102)};
    struct tcp_hdr tcp = {.src = htons(40000),
                          .dst = htons(5201),
                          .seq = htonl(seq),
                          .ack = htonl(1),
                          .off = 5 << 4,
                          .flags = TCP_ACK,
                          .win = htons(500)};
    uint8_t *d = p->data;

    ip.csum = csum_finish(csum_partial(&ip, 20, 0));
    memcpy(d, hdr, sizeof hdr);
    memcpy(d + 22, &ip, 20);
    memcpy(d + 42, &tcp, 20);
    for (uint32_t k = 0; k < len; k++) {
        d[62 + k] = (uint8_t)((seq + k) * 3);
    }
    p->len = 62 + len;
    p->hash = 1;
    memcpy(p->tun_addr, dst, 16);
}

TEST(udptun_rx_merges_tcp_segments_of_a_datagram)
{
    /* The sender's segments leave as one UDP_SEGMENT message, arrive as
     * one UDP_GRO datagram and are merged into one super-frame. */
    enum { N = 20, MSS = 1000 };
    struct dp_pool *pool = dp_pool_create(N, 2048);
    struct dp_pool *rx_pool = dp_pool_create(8, DP_MAX_FRAME);
    struct dp_packet *pkts[N], *rx[DP_BATCH_MAX];
    struct dp_port_config cfg = {.udp_port = TUN_PORT,
                                 .sport_min = 49400,
                                 .sport_count = 1,
                                 .tun_hdr_len = dp_tunnel_hdr_len_vxlan};
    uint8_t a_addr[16], b_addr[16];
    struct dp_port *a, *b;
    uint32_t frames = 0, bytes = 0, bad = 0, seq = 1000;

    if (!CHECK(netns_setup())) {
        dp_pool_destroy(pool);
        dp_pool_destroy(rx_pool);
        return;
    }
    v4mapped(a_addr, "127.0.0.1");
    v4mapped(b_addr, "127.0.0.4");
    memcpy(cfg.local_addr, b_addr, 16);
    CHECK_EQ(open_port("ta", a_addr, 49152, &a), 0);
    CHECK_EQ(dp_port_udptun_class.open("tb", &cfg, &b), 0);
    for (uint32_t i = 0; i < N; i++) {
        pkts[i] = dp_pool_get(pool);
        tcp_in_vxlan(pkts[i], 1000 + i * MSS, MSS, b_addr);
    }
    CHECK_EQ(dp_port_tx(a, pkts, N), N);

    uint64_t deadline = now_ms() + 2000;
    while (bytes < N * MSS && now_ms() < deadline) {
        int m = dp_port_rx(b, rx_pool, rx, DP_BATCH_MAX);
        if (!m) {
            usleep(1000);
        }
        for (int k = 0; k < m; k++) {
            struct dp_packet *p = rx[k];
            uint32_t payload = p->len - 62;
            if (p->len <= 62 || ntohl(rd32(p->data + 42 + 4)) != seq ||
                (payload > MSS &&
                 (p->ol.gso_type != DP_GSO_TCPV4 || p->ol.gso_size != MSS ||
                  p->ol.csum_start != 34))) {
                bad++;
            }
            for (uint32_t i = 0; i < payload; i++) {
                bad += p->data[62 + i] != (uint8_t)((seq + i) * 3);
            }
            seq += payload;
            bytes += payload;
            frames++;
            dp_packet_free(p);
        }
    }
    CHECK_EQ(bytes, N * MSS);
    CHECK_EQ(bad, 0);
    CHECK(frames <= 2); /* one datagram on loopback: one frame */
    CHECK_EQ(b->stats.rx_packets, N);
    printf("    %u segments arrived as %u frame(s)\n", N, frames);
    for (int i = 0; i < N; i++) {
        dp_packet_free(pkts[i]);
    }
    dp_port_close(a);
    dp_port_close(b);
    dp_pool_destroy(pool);
    dp_pool_destroy(rx_pool);
}

TEST(udptun_open_errors_and_port_fallback)
{
    struct dp_port_config cfg = {.udp_port = 0};
    struct dp_port *p = (struct dp_port *)1, *q;
    uint8_t addr[16];
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(49300)};
    int fd;

    if (!CHECK(netns_setup())) {
        return;
    }
    CHECK_EQ(dp_port_udptun_class.open("t", &cfg, &p), EINVAL);
    CHECK(p == NULL);
    v4mapped(addr, "192.0.2.1"); /* not ours: cannot bind */
    CHECK_EQ(open_port("t", addr, 49300, &p), EADDRNOTAVAIL);

    /* A source port already taken falls back to an ephemeral one. */
    v4mapped(addr, "127.0.0.1");
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(!bind(fd, (struct sockaddr *)&sin, sizeof sin));
    CHECK_EQ(open_port("t", addr, 49300, &p), 0);
    /* The receive port is taken now: a second port cannot open. */
    CHECK_EQ(open_port("t2", addr, 49400, &q), EADDRINUSE);
    dp_port_close(p);
    close(fd);
}
