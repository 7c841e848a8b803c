/* Open-loop, rate-limited HTTP load for bench-api.sh: wrk drives as fast
 * as it can, so it cannot measure latency "at half the target rate".  This
 * client sends requests on a fixed schedule (request i is due at
 * start + i / RATE) over CONNS keep-alive connections, one request in
 * flight per connection, and measures each latency from the request's
 * *scheduled* time, so a stalled server is not hidden by requests that were
 * never sent (no coordinated omission).  Plain HTTP on loopback only.
 *   usage: bench-api-rate PORT TOKEN GET|PUT PATH RATE SECONDS CONNS [BODY]
 * PUT paths get a unique suffix per request ("PATH-<n>").
 *
 * Timing.  The loop sleeps until the next due time (epoll_pwait2,
 * nanosecond timeout; at least MIN_SLEEP_NS, 0.2 ms, where the old 1 ms
 * minimum added ~0.6 ms to every latency) or until a response arrives; a
 * response counts when this process reads it.  On a shared 2-core machine
 * the client is often runnable but not running, and that delay lands in
 * the figures: they are an upper bound on the server's latency.  (Kernel
 * receive timestamps, SO_TIMESTAMPNS, were tried to take the read delay
 * out; on loopback TCP they can predate the request by up to 0.6 ms, so
 * they would understate latency and are not used.)  Figures:
 *   latency  = read - due   (the result: includes waiting for a free
 *                            connection and the client's own lateness)
 *   service  = read - sent  (server, loopback and the client's reading)
 *   lag      = sent - due   (waiting for a free connection + the client)
 *   wake     = how late epoll_pwait2 returned after a timeout (the
 *              client's own scheduling delay)
 * Prints
 *   "RESULT <achieved req/s> <p50 ms> <p99 ms> <errors> <service p99 ms>
 *    <lag p99 ms> <wake p99 ms> <client CPU s> <max ms>". */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
/* Shortest sleep: requests due within it go out together, up to this late
 * (counted in their latency), so that at 25,000/s the client does not
 * wake for every request. */
#define MIN_SLEEP_NS 200000ull
#define MAX(A, B)    ((A) > (B) ? (A) : (B))

struct conn {
    int fd;         /* socket */
    bool busy;      /* a request is in flight */
    uint64_t due;   /* its scheduled time (ns, CLOCK_MONOTONIC) */
    uint64_t sent;  /* when it was written */
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
/* The 'pct' percentile of the 'n' sorted values, in ms. */
static double
pct_ms(const uint64_t *v, uint64_t n, unsigned pct)
{
    return n ? (double)v[n * pct / 100 < n ? n * pct / 100 : n - 1] / 1e6 : 0;
}

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
    uint64_t *lat, *svc, *lag, *wake, start, end, n_sent = 0, n_done = 0,
                                                  n_wake = 0, errors = 0;
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
    size_t n_max = (size_t)(rate * secs) + 1;
    lat = calloc(n_max, sizeof *lat);
    svc = calloc(n_max, sizeof *svc);
    lag = calloc(n_max, sizeof *lag);
    wake = calloc(n_max, sizeof *wake);
    ep = epoll_create1(0);
    if (!lat || !svc || !lag || !wake || ep < 0) {
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
            conns[i].sent = now_ns();
            conns[i].in_len = 0;
            n_sent++;
        }
        /* Wait for responses, or exactly until the next request is due
         * (if a connection is free for it; else a response comes first). */
        struct epoll_event evs[MAX_CONNS];
        uint64_t next_due = start + n_sent * interval, now = now_ns();
        uint64_t wait_ns = n_sent >= total ? 100000000ull
                           : next_due <= now
                               ? 0
                               : MAX(next_due - now, MIN_SLEEP_NS);
        struct timespec to = {(time_t)(wait_ns / 1000000000ull),
                              (long)(wait_ns % 1000000000ull)};
        int n = epoll_pwait2(ep, evs, MAX_CONNS, &to, NULL);
        if (n == 0 && n_sent < total && n_wake < n_max) {
            uint64_t woke = now_ns();
            wake[n_wake++] = woke > now + wait_ns ? woke - now - wait_ns : 0;
        }
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
                uint64_t done = now_ns();
                lat[n_done] = done - c->due;
                svc[n_done] = done - c->sent;
                lag[n_done++] = c->sent - c->due;
                errors += status < 200 || status > 299;
                c->busy = false;
            }
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    qsort(lat, n_done, sizeof *lat, cmp_u64);
    qsort(svc, n_done, sizeof *svc, cmp_u64);
    qsort(lag, n_done, sizeof *lag, cmp_u64);
    qsort(wake, n_wake, sizeof *wake, cmp_u64);
    printf("RESULT %.1f %.3f %.3f %llu %.3f %.3f %.3f %.2f %.3f\n",
           (double)n_done / elapsed, pct_ms(lat, n_done, 50),
           pct_ms(lat, n_done, 99),
           (unsigned long long)(errors + (total - n_done)),
           pct_ms(svc, n_done, 99), pct_ms(lag, n_done, 99),
           pct_ms(wake, n_wake, 99),
           (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
           n_done ? (double)lat[n_done - 1] / 1e6 : 0.0);
    return 0;
}
