/* Bounded SPSC frame rings for punt and inject (punt.h).
 *
 * 'head' is written only by the producer, 'tail' only by the consumer;
 * each side reads the other's index with acquire and publishes its own
 * with release, so a slot's bytes are visible before its index moves.
 * The wake-up decision needs one more step: the producer publishes 'head'
 * and then reads 'tail', the consumer publishes 'tail' and (on finding
 * the ring empty) reads 'head' again, both with a full fence in between
 * (Dekker).  So either the producer sees that the consumer caught up
 * (and wakes it) or the consumer sees the new entry: no lost wake-up. */
#include "datapath/punt.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct dp_ring {
    _Alignas(64) _Atomic uint32_t head; /* next slot to fill (producer) */
    uint64_t pushed[4];                 /* producer's counters */
    uint64_t full, too_big;
    _Alignas(64) _Atomic uint32_t tail; /* next slot to take (consumer) */
    _Alignas(64) struct dp_punt_entry slots[DP_RING_SLOTS];
};

struct dp_ring *
dp_ring_create(void)
{
    struct dp_ring *r = xcalloc(1, sizeof *r);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r;
}

void
dp_ring_destroy(struct dp_ring *r)
{
    free(r);
}

int
dp_ring_push(struct dp_ring *r, uint16_t port, uint8_t reason, uint32_t segment,
             const void *frame, uint32_t len, bool *was_empty)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    struct dp_punt_entry *e;

    if (len > DP_PUNT_FRAME_MAX) {
        r->too_big++;
        return EMSGSIZE;
    }
    if (h - t >= DP_RING_SLOTS) {
        r->full++;
        return ENOBUFS;
    }
    e = &r->slots[h & (DP_RING_SLOTS - 1)];
    e->port = port;
    e->reason = reason;
    e->segment = segment;
    e->len = (uint16_t)len;
    memcpy(e->frame, frame, len);
    r->pushed[dp_punt_reason_index(reason)]++;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    if (was_empty) {
        atomic_thread_fence(memory_order_seq_cst);
        *was_empty = atomic_load_explicit(&r->tail, memory_order_relaxed) == h;
    }
    return 0;
}

bool
dp_ring_pop(struct dp_ring *r, struct dp_punt_entry *out)
{
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    const struct dp_punt_entry *e;

    if (h == t) {
        atomic_thread_fence(memory_order_seq_cst);
        h = atomic_load_explicit(&r->head, memory_order_acquire);
        if (h == t) {
            return false;
        }
    }
    e = &r->slots[t & (DP_RING_SLOTS - 1)];
    out->port = e->port;
    out->reason = e->reason;
    out->segment = e->segment;
    out->len = e->len;
    memcpy(out->frame, e->frame, e->len);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return true;
}

bool
dp_ring_nonempty(const struct dp_ring *r_)
{
    struct dp_ring *r = (struct dp_ring *)r_;
    return atomic_load_explicit(&r->head, memory_order_acquire) !=
           atomic_load_explicit(&r->tail, memory_order_relaxed);
}

void
dp_ring_get_counters(const struct dp_ring *r, struct dp_ring_counters *c)
{
    memcpy(c->pushed, r->pushed, sizeof c->pushed);
    c->full = r->full;
    c->too_big = r->too_big;
}
