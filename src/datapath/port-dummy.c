/* Dummy port provider: an in-memory port for tests and benchmarks.
 *
 * Frames "received" are those a test queued with dp_dummy_inject(); frames
 * "sent" are copied into a capture ring that tests read back with
 * dp_dummy_take(), or only counted when capture is off (benchmarks).  The
 * receive queue is a single-producer, single-consumer ring, so a test may
 * inject while a datapath's packet thread receives. */
#include "datapath/port-dummy.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DUMMY_QUEUE 1024

struct dummy_frame {
    uint8_t *data;
    uint32_t len;
    uint32_t hash;        /* sent frames: the packet's flow hash */
    uint8_t tun_addr[16]; /* ... and its tunnel peer */
};

struct dp_dummy {
    struct dp_port up;
    struct dummy_frame rxq[DUMMY_QUEUE]; /* frames waiting to be received */
    _Atomic uint32_t rx_head, rx_tail;   /* consumer's, producer's */
    struct dummy_frame txq[DUMMY_QUEUE]; /* frames sent, if capturing */
    uint32_t tx_head, tx_tail;
    uint8_t rx_peer[16]; /* the tunnel peer frames are received from */
    bool capture;        /* keep copies of sent frames */
    uint32_t tx_calls;   /* tx() calls that sent something */
};

static struct dp_dummy *
dummy_cast(struct dp_port *p)
{
    return CONTAINER_OF(p, struct dp_dummy, up);
}

static int
dummy_open(const char *devname, const struct dp_port_config *cfg,
           struct dp_port **portp)
{
    struct dp_dummy *d = xcalloc(1, sizeof *d);

    d->up.class = &dp_port_dummy_class;
    strncpy(d->up.name, devname, sizeof d->up.name - 1);
    d->up.mtu = 1500;
    d->up.offloads = cfg ? cfg->offloads : false;
    d->capture = true;
    *portp = &d->up;
    return 0;
}

static void
dummy_close(struct dp_port *p)
{
    struct dp_dummy *d = dummy_cast(p);
    while (d->rx_head != d->rx_tail) {
        free(d->rxq[d->rx_head++ % DUMMY_QUEUE].data);
    }
    while (d->tx_head != d->tx_tail) {
        free(d->txq[d->tx_head++ % DUMMY_QUEUE].data);
    }
    free(d);
}

static int
dummy_rx(struct dp_port *p, struct dp_pool *pool, struct dp_packet **pkts,
         int max)
{
    struct dp_dummy *d = dummy_cast(p);
    uint32_t head = atomic_load_explicit(&d->rx_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&d->rx_tail, memory_order_acquire);
    int n = 0;

    while (n < max && head != tail) {
        struct dummy_frame *f = &d->rxq[head % DUMMY_QUEUE];
        struct dp_packet *pkt;

        if (f->len > dp_pool_frame_size(pool)) {
            dp_port_count_rx_drop(&p->stats, DP_DROP_TOO_BIG);
            free(f->data);
            head++;
            continue;
        }
        pkt = dp_pool_get(pool);
        if (!pkt) {
            break;
        }
        memcpy(pkt->data, f->data, f->len);
        pkt->len = f->len;
        memcpy(pkt->tun_addr, d->rx_peer, 16);
        free(f->data);
        head++;
        p->stats.rx_packets++;
        p->stats.rx_bytes += pkt->len;
        pkts[n++] = pkt;
    }
    atomic_store_explicit(&d->rx_head, head, memory_order_release);
    return n;
}

static int
dummy_tx(struct dp_port *p, struct dp_packet **pkts, int n)
{
    struct dp_dummy *d = dummy_cast(p);

    d->tx_calls += n > 0;
    for (int i = 0; i < n; i++) {
        p->stats.tx_packets++;
        p->stats.tx_bytes += pkts[i]->len;
        if (!d->capture) {
            continue;
        }
        if (d->tx_tail - d->tx_head >= DUMMY_QUEUE) {
            p->stats.tx_dropped++;
            continue;
        }
        struct dummy_frame *f = &d->txq[d->tx_tail++ % DUMMY_QUEUE];
        f->data = xmalloc(pkts[i]->len);
        f->len = pkts[i]->len;
        f->hash = pkts[i]->hash;
        memcpy(f->tun_addr, pkts[i]->tun_addr, sizeof f->tun_addr);
        memcpy(f->data, pkts[i]->data, f->len);
    }
    return n;
}

static int
dummy_fd(const struct dp_port *p)
{
    (void)p;
    return -1;
}

const struct dp_port_class dp_port_dummy_class = {
    .type = "dummy",
    .open = dummy_open,
    .close = dummy_close,
    .rx = dummy_rx,
    .tx = dummy_tx,
    .flush = NULL,
    .fd = dummy_fd,
};

int
dp_dummy_inject(struct dp_port *p, const void *frame, uint32_t len)
{
    struct dp_dummy *d = dummy_cast(p);

    uint32_t tail = atomic_load_explicit(&d->rx_tail, memory_order_relaxed);
    if (tail - atomic_load_explicit(&d->rx_head, memory_order_acquire) >=
        DUMMY_QUEUE) {
        return ENOBUFS;
    }
    struct dummy_frame *f = &d->rxq[tail % DUMMY_QUEUE];
    f->data = xmalloc(len ? len : 1);
    f->len = len;
    memcpy(f->data, frame, len);
    atomic_store_explicit(&d->rx_tail, tail + 1, memory_order_release);
    return 0;
}

void
dp_dummy_set_peer(struct dp_port *p, const uint8_t addr[16])
{
    memcpy(dummy_cast(p)->rx_peer, addr, 16);
}

int
dp_dummy_take(struct dp_port *p, void *buf, uint32_t size)
{
    return dp_dummy_take_meta(p, buf, size, NULL, NULL);
}

int
dp_dummy_take_meta(struct dp_port *p, void *buf, uint32_t size,
                   uint8_t tun_addr[16], uint32_t *hash)
{
    struct dp_dummy *d = dummy_cast(p);

    if (d->tx_head == d->tx_tail) {
        return -1;
    }
    struct dummy_frame *f = &d->txq[d->tx_head++ % DUMMY_QUEUE];
    uint32_t len = f->len;
    memcpy(buf, f->data, MIN(len, size));
    if (tun_addr) {
        memcpy(tun_addr, f->tun_addr, sizeof f->tun_addr);
    }
    if (hash) {
        *hash = f->hash;
    }
    free(f->data);
    return (int)len;
}

uint32_t
dp_dummy_sent_count(struct dp_port *p)
{
    struct dp_dummy *d = dummy_cast(p);
    return d->tx_tail - d->tx_head;
}

void
dp_dummy_set_capture(struct dp_port *p, bool capture)
{
    dummy_cast(p)->capture = capture;
}

uint32_t
dp_dummy_tx_calls(struct dp_port *p)
{
    return dummy_cast(p)->tx_calls;
}
