/* An intrusive chained hash map, in the manner of OVS's hmap: the caller
 * embeds a 'struct hmap_node' in its own structure, computes the hash, and
 * compares keys itself while walking one bucket:
 *
 *   struct thing { struct hmap_node node; char name[32]; };
 *   HMAP_FOR_EACH_WITH_HASH (t, node, hash_str(name), &map)
 *       if (!strcmp(t->name, name)) return t;
 *
 * The bucket array doubles when the load passes 1 and never shrinks.
 * Iteration order is unspecified.  Not thread-safe. */
#ifndef WEFT_HMAP_H
#define WEFT_HMAP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/util.h"

struct hmap_node {
    struct hmap_node *next; /* next in the bucket */
    uint32_t hash;          /* the node's hash */
};

struct hmap {
    struct hmap_node **buckets; /* mask + 1 heads */
    size_t mask;                /* buckets - 1 (a power of two minus 1) */
    size_t n;                   /* nodes */
};

#define HMAP_INITIALIZER                                                       \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

static inline void
hmap_init(struct hmap *m)
{
    m->buckets = NULL;
    m->mask = 0;
    m->n = 0;
}

/* Frees the buckets; the nodes belong to the caller. */
static inline void
hmap_destroy(struct hmap *m)
{
    free(m->buckets);
    hmap_init(m);
}

/* Releases the buckets of an empty map that grew large, so that walking it
 * later costs nothing (a map never shrinks on its own). */
static inline void
hmap_shrink_if_empty(struct hmap *m)
{
    if (!m->n && m->mask > 63) {
        hmap_destroy(m);
    }
}

static inline size_t
hmap_count(const struct hmap *m)
{
    return m->n;
}

static inline void
hmap_expand_(struct hmap *m)
{
    size_t n_buckets = m->buckets ? (m->mask + 1) * 2 : 16;
    struct hmap_node **b = xcalloc(n_buckets, sizeof *b);

    for (size_t i = 0; m->buckets && i <= m->mask; i++) {
        struct hmap_node *node = m->buckets[i], *next;
        for (; node; node = next) {
            next = node->next;
            node->next = b[node->hash & (n_buckets - 1)];
            b[node->hash & (n_buckets - 1)] = node;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->mask = n_buckets - 1;
}

static inline void
hmap_insert(struct hmap *m, struct hmap_node *node, uint32_t hash)
{
    if (!m->buckets || m->n > m->mask) {
        hmap_expand_(m);
    }
    node->hash = hash;
    node->next = m->buckets[hash & m->mask];
    m->buckets[hash & m->mask] = node;
    m->n++;
}

static inline void
hmap_remove(struct hmap *m, struct hmap_node *node)
{
    struct hmap_node **p = &m->buckets[node->hash & m->mask];

    while (*p != node) {
        p = &(*p)->next;
    }
    *p = node->next;
    m->n--;
}

/* First node of the bucket of 'hash' (compare hashes and keys!). */
static inline struct hmap_node *
hmap_first_with_hash(const struct hmap *m, uint32_t hash)
{
    struct hmap_node *n = m->buckets ? m->buckets[hash & m->mask] : NULL;
    while (n && n->hash != hash) {
        n = n->next;
    }
    return n;
}

static inline struct hmap_node *
hmap_next_with_hash(const struct hmap_node *node)
{
    struct hmap_node *n = node->next;
    uint32_t hash = node->hash;
    while (n && n->hash != hash) {
        n = n->next;
    }
    return n;
}

/* Iteration over all nodes: 'pos' is a bucket index cursor. */
static inline struct hmap_node *
hmap_next_(const struct hmap *m, const struct hmap_node *node, size_t *pos)
{
    if (node && node->next) {
        return node->next;
    }
    if (node) {
        (*pos)++;
    }
    for (; m->buckets && *pos <= m->mask; (*pos)++) {
        if (m->buckets[*pos]) {
            return m->buckets[*pos];
        }
    }
    return NULL;
}

#define HMAP_OBJ_(NODE, OBJ, MEMBER)                                           \
    ((NODE) ? CONTAINER_OF(NODE, __typeof__(*(OBJ)), MEMBER) : NULL)

#define HMAP_CAT2_(A, B) A##B
#define HMAP_CAT_(A, B)  HMAP_CAT2_(A, B)
#define HMAP_V_(NAME)    HMAP_CAT_(NAME, __LINE__)

#define HMAP_FOR_EACH_WITH_HASH(OBJ, MEMBER, HASH, MAP)                        \
    for (struct hmap_node * HMAP_V_(hn_) = hmap_first_with_hash(MAP, HASH);    \
         (OBJ) = HMAP_OBJ_(HMAP_V_(hn_), OBJ, MEMBER), HMAP_V_(hn_);           \
         HMAP_V_(hn_) = hmap_next_with_hash(HMAP_V_(hn_)))

/* Safe against removal of the current node (but not of others, and not
 * against insertion).  At most one per source line. */
#define HMAP_FOR_EACH(OBJ, MEMBER, MAP)                                        \
    for (size_t HMAP_V_(hpos_) = 0, HMAP_V_(hdone_) = 0; !HMAP_V_(hdone_);     \
         HMAP_V_(hdone_) = 1)                                                  \
        for (struct hmap_node *                                                \
                 HMAP_V_(hn_) = hmap_next_(MAP, NULL, &HMAP_V_(hpos_)),        \
                 *HMAP_V_(hnx_) = NULL;                                        \
             (OBJ) = HMAP_OBJ_(HMAP_V_(hn_), OBJ, MEMBER),                     \
                 HMAP_V_(hnx_) = HMAP_V_(hn_) ? hmap_next_(MAP, HMAP_V_(hn_),  \
                                                           &HMAP_V_(hpos_))    \
                                              : NULL,                          \
                 HMAP_V_(hn_);                                                 \
             HMAP_V_(hn_) = HMAP_V_(hnx_))

/* Hash of a NUL-terminated string. */
static inline uint32_t
hash_str(const char *s)
{
    return hash_bytes(s, strlen(s), 0x5eed);
}

#endif
