/* udpgen: a small, bounded UDP packet generator and sink for the end-to-end
 * datapath benchmark (bench/e2e-datapath.sh).  It only ever talks to the
 * address it is given, from inside the namespace it is started in.
 *
 *   udpgen send DST_IPV4 PORT SECONDS [PAYLOAD_BYTES] [MAX_PACKETS]
 *       Sends PAYLOAD_BYTES-byte UDP datagrams (default 18: a 60-byte
 *       Ethernet frame, 64 bytes on the wire with the FCS) to DST as fast
 *       as sendmmsg() takes them (64 per call, one connected socket), for
 *       SECONDS (at most 60) or MAX_PACKETS (default 1e9), whichever comes
 *       first.  Prints "sent N packets in T s: R pps".
 *
 *   udpgen pace DST_IPV4 PORT SECONDS PPS
 *       Sends one 18-byte datagram every 1/PPS s (PPS at most 100000),
 *       evenly spaced, for SECONDS (at most 60): steady light traffic.
 *
 *   udpgen sink PORT SECONDS
 *       Binds PORT (so the destination answers no ICMP port-unreachable)
 *       and stays for SECONDS (at most 120) without reading: the benchmark
 *       counts arrivals on the interface, not in the socket.
 *
 * Built by bench/e2e-datapath.sh with the system compiler; no dependency
 * beyond libc. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH         64
#define MAX_PAYLOAD   1472
#define MAX_SEND_SECS 60.0
#define MAX_SINK_SECS 120.0

static double
now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
usage(void)
{
    fprintf(stderr, "usage: udpgen send DST_IPV4 PORT SECONDS [PAYLOAD] "
                    "[MAX_PACKETS]\n"
                    "       udpgen pace DST_IPV4 PORT SECONDS PPS\n"
                    "       udpgen sink PORT SECONDS\n");
    return 2;
}

static int
parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*end || v < 1 || v > 65535) ? -1 : (int)v;
}

static int
do_send(int argc, char **argv)
{
    struct sockaddr_in dst = {.sin_family = AF_INET};
    static unsigned char payload[MAX_PAYLOAD];
    struct mmsghdr msgs[BATCH];
    struct iovec iov;
    double secs, start, deadline, end;
    unsigned long long max_pkts = 1000000000ull, sent = 0;
    unsigned long errors = 0;
    size_t plen = 18;
    int port, fd, sndbuf = 4 << 20;

    if (argc < 3 || argc > 5) {
        return usage();
    }
    if (inet_pton(AF_INET, argv[0], &dst.sin_addr) != 1 ||
        (port = parse_port(argv[1])) < 0) {
        return usage();
    }
    dst.sin_port = htons((unsigned short)port);
    secs = atof(argv[2]);
    if (!(secs > 0) || secs > MAX_SEND_SECS) {
        fprintf(stderr, "udpgen: SECONDS must be in (0, %g]\n", MAX_SEND_SECS);
        return 2;
    }
    if (argc > 3) {
        plen = strtoul(argv[3], NULL, 10);
        if (plen < 1 || plen > MAX_PAYLOAD) {
            fprintf(stderr, "udpgen: PAYLOAD must be 1..%d\n", MAX_PAYLOAD);
            return 2;
        }
    }
    if (argc > 4) {
        max_pkts = strtoull(argv[4], NULL, 10);
    }
    for (size_t i = 0; i < plen; i++) {
        payload[i] = (unsigned char)i;
    }

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udpgen: socket");
        return 1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        perror("udpgen: connect");
        return 1;
    }
    iov.iov_base = payload;
    iov.iov_len = plen;
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    start = now_sec();
    deadline = start + secs;
    while (sent < max_pkts) {
        unsigned int want = BATCH;
        if (max_pkts - sent < want) {
            want = (unsigned int)(max_pkts - sent);
        }
        int r = sendmmsg(fd, msgs, want, 0);
        if (r > 0) {
            sent += (unsigned long long)r;
        } else if (r < 0 && errno != EINTR) {
            /* ECONNREFUSED from an ICMP error, ENOBUFS: keep going. */
            errors++;
        }
        if (now_sec() >= deadline) {
            break;
        }
    }
    end = now_sec();
    printf("sent %llu packets in %.3f s: %.0f pps (%lu send errors)\n", sent,
           end - start, (double)sent / (end - start), errors);
    close(fd);
    return 0;
}

static int
do_pace(int argc, char **argv)
{
    struct sockaddr_in dst = {.sin_family = AF_INET};
    static const unsigned char payload[18];
    unsigned long long sent = 0, total;
    unsigned long errors = 0;
    struct timespec t;
    double secs, pps;
    long step_ns;
    int port, fd;

    if (argc != 4 || inet_pton(AF_INET, argv[0], &dst.sin_addr) != 1 ||
        (port = parse_port(argv[1])) < 0) {
        return usage();
    }
    dst.sin_port = htons((unsigned short)port);
    secs = atof(argv[2]);
    pps = atof(argv[3]);
    if (!(secs > 0) || secs > MAX_SEND_SECS || !(pps >= 1) || pps > 100000) {
        fprintf(stderr,
                "udpgen: SECONDS must be in (0, %g], PPS in "
                "[1, 100000]\n",
                MAX_SEND_SECS);
        return 2;
    }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        perror("udpgen: socket");
        return 1;
    }
    step_ns = (long)(1e9 / pps);
    total = (unsigned long long)(secs * pps);
    clock_gettime(CLOCK_MONOTONIC, &t);
    double start = now_sec();
    while (sent < total) {
        if (send(fd, payload, sizeof payload, 0) < 0) {
            errors++;
        }
        sent++;
        t.tv_nsec += step_ns;
        while (t.tv_nsec >= 1000000000L) {
            t.tv_nsec -= 1000000000L;
            t.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) ==
               EINTR) {
        }
    }
    double end = now_sec();
    printf("paced %llu packets in %.3f s: %.0f pps (%lu send errors)\n", sent,
           end - start, (double)sent / (end - start), errors);
    close(fd);
    return 0;
}

static int
do_sink(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_ANY)};
    int port, fd;
    double secs;

    if (argc != 2 || (port = parse_port(argv[0])) < 0) {
        return usage();
    }
    secs = atof(argv[1]);
    if (!(secs > 0) || secs > MAX_SINK_SECS) {
        fprintf(stderr, "udpgen: SECONDS must be in (0, %g]\n", MAX_SINK_SECS);
        return 2;
    }
    a.sin_port = htons((unsigned short)port);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("udpgen: sink socket");
        return 1;
    }
    struct timespec ts = {(time_t)secs,
                          (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    close(fd);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        return usage();
    }
    if (!strcmp(argv[1], "send")) {
        return do_send(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "pace")) {
        return do_pace(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "sink")) {
        return do_sink(argc - 2, argv + 2);
    }
    return usage();
}
