/* Buffer pools for dp_packet (packet.h).
 *
 * A pool is one anonymous mapping holding every buffer plus an array of
 * packet descriptors and a LIFO free stack of indices (LIFO keeps recently
 * used, cache-warm buffers in play).  Buffer starts are staggered by a
 * multiple of 64 bytes so the headers of consecutive buffers do not all map
 * to the same cache sets when the buffer size is a power of two. */
#include "datapath/packet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define POOL_STAGGER_SLOTS 16 /* distinct 64-byte offsets */

struct dp_pool *
dp_pool_create(uint32_t n_bufs, uint32_t frame_size)
{
    struct dp_pool *pool = xcalloc(1, sizeof *pool);
    size_t stride = ROUND_UP(
        (size_t)DP_HEADROOM + frame_size + POOL_STAGGER_SLOTS * 64, 64);

    pool->n_bufs = n_bufs;
    pool->frame_size = frame_size;
    pool->mem_size = stride * n_bufs;
    pool->mem = mmap(NULL, pool->mem_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pool->mem == MAP_FAILED) {
        fprintf(stderr, "dp_pool: cannot map %zu bytes\n", pool->mem_size);
        abort();
    }
    pool->pkts = xcalloc(n_bufs, sizeof *pool->pkts);
    pool->free_stack = xmalloc(n_bufs * sizeof *pool->free_stack);
    for (uint32_t i = 0; i < n_bufs; i++) {
        struct dp_packet *p = &pool->pkts[i];
        size_t stagger = (i % POOL_STAGGER_SLOTS) * 64;

        p->base = pool->mem + stride * i + stagger;
        p->cap = DP_HEADROOM + frame_size;
        p->pool = pool;
        p->index = i;
        pool->free_stack[i] = n_bufs - 1 - i;
    }
    pool->n_free = n_bufs;
    return pool;
}

void
dp_pool_destroy(struct dp_pool *pool)
{
    if (!pool) {
        return;
    }
    munmap(pool->mem, pool->mem_size);
    free(pool->pkts);
    free(pool->free_stack);
    free(pool);
}

uint32_t
dp_pool_available(const struct dp_pool *pool)
{
    return pool->n_free;
}

uint32_t
dp_pool_frame_size(const struct dp_pool *pool)
{
    return pool->frame_size;
}

void
dp_batch_free(struct dp_batch *b)
{
    for (uint16_t i = 0; i < b->n; i++) {
        dp_packet_free(b->pkts[i]);
    }
    b->n = 0;
}

struct dp_packet *
dp_packet_clone(const struct dp_packet *src)
{
    struct dp_packet *p;
    uint32_t headroom = dp_packet_headroom(src);

    if (src->len + headroom > src->pool->frame_size + DP_HEADROOM) {
        return NULL;
    }
    p = dp_pool_get(src->pool);
    if (!p) {
        return NULL;
    }
    /* Keep the same headroom so offsets and push() room match. */
    uint8_t *base = p->base;
    uint32_t cap = p->cap, index = p->index;
    *p = *src;
    p->base = base;
    p->cap = cap;
    p->index = index;
    p->data = base + headroom;
    memcpy(p->data, src->data, src->len);
    return p;
}
