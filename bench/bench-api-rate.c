/* Open-loop, rate-limited HTTP load for bench-api.sh: wrk drives as fast
 * as it can, so it cannot measure latency "at half the target rate".  This
 * client sends requests on a fixed schedule (request i is due at
 * start + i / RATE) over CONNS keep-alive connections, one request in
 * flight per connection, and measures each latency from the request's
 * *scheduled* time, so a stalled server is not hidden by requests that were
 * never sent (no coordinated omission).  Plain HTTP on loopback only.
 *   usage: bench-api-rate PORT TOKEN GET|PUT PATH RATE SECONDS CONNS [BODY]
 * PUT paths get a unique suffix per request ("PATH-<n>").  Prints
 *   "RESULT <achieved req/s> <p50 ms> <p99 ms> <errors>". */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256

struct conn {
    int fd;         /* socket */
    bool busy;      /* a request is in flight */
    uint64_t due;   /* its scheduled time (ns) */
    char in[65536]; /* response bytes */
    size_t in_len;  /* used 'in' */
};

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Returns the response length if 'c->in' holds a whole response, else 0;
 * stores its status in '*status'. */
static size_t
response_complete(const struct conn *c, int *status)
{
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    const char *cl;
    size_t hdr, body = 0;

    if (!end) {
        return 0;
    }
    hdr = (size_t)(end - c->in) + 4;
    cl = memmem(c->in, hdr, "Content-Length:", 15);
    if (!cl) {
        cl = memmem(c->in, hdr, "content-length:", 15);
    }
    if (cl) {
        body = strtoul(cl + 15, NULL, 10);
    }
    *status = atoi(c->in + 9);
    return c->in_len >= hdr + body ? hdr + body : 0;
}

int
main(int argc, char *argv[])
{
    static struct conn conns[MAX_CONNS];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    uint64_t *lat, start, end, n_sent = 0, n_done = 0, errors = 0;
    double rate;
    int n_conns, secs, ep;
    bool put;

    if (argc < 8) {
        fprintf(stderr, "usage: bench-api-rate PORT TOKEN GET|PUT PATH RATE "
                        "SECONDS CONNS [BODY]\n");
        return 2;
    }
    sin.sin_port = htons((uint16_t)atoi(argv[1]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    put = !strcmp(argv[3], "PUT");
    rate = atof(argv[5]);
    secs = atoi(argv[6]);
    n_conns = atoi(argv[7]);
    if (rate <= 0 || secs <= 0 || secs > 600 || n_conns < 1 ||
        n_conns > MAX_CONNS) {
        fprintf(stderr, "bench-api-rate: bad rate, duration or connections\n");
        return 2;
    }
    lat = calloc((size_t)(rate * secs) + 1, sizeof *lat);
    ep = epoll_create1(0);
    if (!lat || ep < 0) {
        return 1;
    }
    for (int i = 0; i < n_conns; i++) {
        int one = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        conns[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (conns[i].fd < 0 ||
            connect(conns[i].fd, (struct sockaddr *)&sin, sizeof sin)) {
            perror("bench-api-rate: connect");
            return 1;
        }
        setsockopt(conns[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }

    uint64_t total = (uint64_t)(rate * secs), interval = (uint64_t)(1e9 / rate);
    start = now_ns();
    end = start + (uint64_t)secs * 1000000000ull + 10000000000ull; /* +10 s */
    while (n_done < total && now_ns() < end) {
        uint64_t t = now_ns();
        /* Send everything due on idle connections. */
        for (int i = 0; i < n_conns && n_sent < total; i++) {
            uint64_t due = start + n_sent * interval;
            char req[2048];
            int len;

            if (conns[i].busy || due > t) {
                continue;
            }
            if (put) {
                const char *body = argc > 8 ? argv[8] : "{}";
                len = snprintf(req, sizeof req,
                               "PUT %s-%llu HTTP/1.1\r\nHost: b\r\n"
                               "Authorization: Bearer %s\r\nContent-Type: "
                               "application/json\r\nContent-Length: %zu\r\n"
                               "\r\n%s",
                               argv[4], (unsigned long long)n_sent, argv[2],
                               strlen(body), body);
            } else {
                len = snprintf(req, sizeof req,
                               "GET %s HTTP/1.1\r\nHost: b\r\n"
                               "Authorization: Bearer %s\r\n\r\n",
                               argv[4], argv[2]);
            }
            if (len <= 0 || (size_t)len >= sizeof req ||
                write(conns[i].fd, req, (size_t)len) != len) {
                perror("bench-api-rate: write");
                return 1;
            }
            conns[i].busy = true;
            conns[i].due = due;
            conns[i].in_len = 0;
            n_sent++;
        }
        /* Wait for responses, or until the next request is due. */
        struct epoll_event evs[MAX_CONNS];
        uint64_t next_due = start + n_sent * interval;
        /* Sleep at least 1 ms: requests then go out in small bursts
         * (latency still counts from each one's due time) and the client
         * leaves the CPU to the server instead of spinning. */
        int timeout_ms = n_sent < total && next_due > t + 1000000
                             ? (int)((next_due - t) / 1000000)
                         : n_sent < total ? 1
                                          : 100;
        int n = epoll_wait(ep, evs, MAX_CONNS, timeout_ms);
        for (int k = 0; k < n; k++) {
            struct conn *c = &conns[evs[k].data.u32];
            ssize_t r =
                read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
            size_t whole;
            int status = 0;

            if (r <= 0) {
                fprintf(stderr, "bench-api-rate: connection closed\n");
                return 1;
            }
            c->in_len += (size_t)r;
            whole = response_complete(c, &status);
            if (whole && c->busy) {
                lat[n_done++] = now_ns() - c->due;
                errors += status < 200 || status > 299;
                c->busy = false;
            }
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    qsort(lat, n_done, sizeof *lat, cmp_u64);
    printf("RESULT %.1f %.3f %.3f %llu\n", (double)n_done / elapsed,
           n_done ? (double)lat[n_done / 2] / 1e6 : 0.0,
           n_done ? (double)lat[n_done * 99 / 100] / 1e6 : 0.0,
           (unsigned long long)(errors + (total - n_done)));
    return 0;
}
