/* Wake-up cost micro-benchmark: what it costs one thread to wake another
 * through an eventfd, the way a packet arriving for a sleeping weft-dp
 * thread wakes it.  Used to explain end-to-end RTT (bench/RESULTS.md).
 *
 * Two threads ping-pong over two eventfds.  The initiator stamps the clock,
 * writes; the responder, blocked in poll() (or spinning first, -s), stamps
 * the clock on waking and writes back.  Each one-way hop is a sample.
 * Between rounds the initiator sleeps -g microseconds, so both CPUs may go
 * idle as they do between the pings of `ping -i 0.01`: on a VM an idle
 * vCPU is halted and waking it costs a trip through the hypervisor.
 *
 * Usage: wakeup-pingpong [-n ROUNDS] [-g GAP_US] [-s SPIN_US] [-c CPU_A,CPU_B]
 *   -c pins the initiator to CPU_A and the responder to CPU_B (same number:
 *   same CPU); default unpinned.  Prints p50/p90/p99 of the one-way hop. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 1000000

static int fd_ab, fd_ba; /* initiator -> responder, and back */
static int rounds = 2000, gap_us = 10000, spin_us = 0, cpu_a = -1, cpu_b = -1;
static _Atomic uint64_t stamp; /* time of the last write, ns */
static uint64_t *hops;         /* one-way hops, ns: 2 per round */

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
pin(int cpu)
{
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
}

/* Waits for 'fd' to count: spins (non-blocking reads) for spin_us first,
 * then sleeps in poll(), like the packet thread. */
static void
wait_fd(int fd)
{
    uint64_t v, until = spin_us ? now_ns() + (uint64_t)spin_us * 1000 : 0;

    for (;;) {
        if (read(fd, &v, sizeof v) == sizeof v) {
            return;
        }
        if (until && now_ns() < until) {
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
            perror("poll");
            exit(1);
        }
    }
}

static void
kick(int fd)
{
    uint64_t one = 1;
    atomic_store(&stamp, now_ns());
    if (write(fd, &one, sizeof one) != sizeof one) {
        perror("write");
        exit(1);
    }
}

static void *
responder(void *arg)
{
    (void)arg;
    pin(cpu_b);
    for (int i = 0; i < rounds; i++) {
        wait_fd(fd_ab);
        hops[2 * i] = now_ns() - atomic_load(&stamp);
        kick(fd_ba);
    }
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    pthread_t th;
    int opt;

    while ((opt = getopt(argc, argv, "n:g:s:c:")) != -1) {
        switch (opt) {
        case 'n':
            rounds = atoi(optarg);
            break;
        case 'g':
            gap_us = atoi(optarg);
            break;
        case 's':
            spin_us = atoi(optarg);
            break;
        case 'c':
            if (sscanf(optarg, "%d,%d", &cpu_a, &cpu_b) != 2) {
                fprintf(stderr, "-c wants CPU_A,CPU_B\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n ROUNDS] [-g GAP_US] [-s SPIN_US] "
                    "[-c CPU_A,CPU_B]\n",
                    argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || gap_us < 0 || spin_us < 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    hops = calloc((size_t)rounds * 2, sizeof *hops);
    fd_ab = eventfd(0, EFD_NONBLOCK);
    fd_ba = eventfd(0, EFD_NONBLOCK);
    if (!hops || fd_ab < 0 || fd_ba < 0) {
        perror("setup");
        return 1;
    }
    pin(cpu_a);
    pthread_create(&th, NULL, responder, NULL);
    for (int i = 0; i < rounds; i++) {
        if (gap_us) {
            usleep((useconds_t)gap_us);
        }
        kick(fd_ab);
        wait_fd(fd_ba);
        hops[2 * i + 1] = now_ns() - atomic_load(&stamp);
    }
    pthread_join(th, NULL);

    size_t n = (size_t)rounds * 2;
    qsort(hops, n, sizeof *hops, cmp_u64);
    printf("wakeup hop us: p50 %.1f p90 %.1f p99 %.1f max %.1f (%zu hops, "
           "gap %d us, spin %d us, cpus %d,%d)\n",
           hops[n / 2] / 1e3, hops[n * 9 / 10] / 1e3, hops[n * 99 / 100] / 1e3,
           hops[n - 1] / 1e3, n, gap_us, spin_us, cpu_a, cpu_b);
    return 0;
}
