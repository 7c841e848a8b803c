/* Small helpers every Weft module may use: branch hints, array sizes,
 * checked allocation and min/max.  Depends on nothing of ours. */
#ifndef WEFT_UTIL_H
#define WEFT_UTIL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define likely(X)     __builtin_expect(!!(X), 1)
#define unlikely(X)   __builtin_expect(!!(X), 0)
#define ARRAY_SIZE(A) (sizeof(A) / sizeof((A)[0]))
#define MIN(A, B)     ((A) < (B) ? (A) : (B))
#define MAX(A, B)     ((A) > (B) ? (A) : (B))
#define CONTAINER_OF(PTR, TYPE, MEMBER)                                        \
    ((TYPE *)(void *)((char *)(PTR)-offsetof(TYPE, MEMBER)))
#define ROUND_UP(X, Y)     (((X) + (Y)-1) / (Y) * (Y))
#define BUILD_ASSERT(EXPR) _Static_assert(EXPR, #EXPR)

/* Allocation that never returns NULL: on exhaustion the process logs and
 * aborts, because no caller can do anything sensible without memory. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
/* Formats into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xmalloc_aligned(size_t align, size_t size); /* free with free() */
/* Like xmalloc(), for large read-mostly tables that packet threads probe at
 * random (the LPM tables): from 2 MiB up, the block is 2 MiB aligned and
 * the kernel is asked to back it with transparent huge pages, so a lookup
 * costs no TLB miss.  Free with free(). */
void *xmalloc_huge(size_t size);
/* Zeroed, page-aligned memory mapped on demand, for big tables of a packet
 * thread (conntrack, flow cache): untouched parts cost address space, not
 * RSS; transparent huge pages are asked for, because packets probe such
 * tables at random and with 4 KiB pages would miss the TLB on most
 * lookups.  NULL when out of address space.  Free with unmap_zeroed(),
 * same size; NULL is fine. */
void *map_zeroed(size_t size);
void *xmap_zeroed(size_t size); /* aborts instead of NULL, as xmalloc() */
void unmap_zeroed(void *p, size_t size);

/* Parses 's' as a decimal number of at most 'max': digits only (no sign,
 * blank or base prefix, which strtoull() would take: " -1" is 2^64 - 1
 * there), at least one.  False, with '*v' untouched, for anything else. */
bool str_to_u64(const char *s, uint64_t max, uint64_t *v);

/* Monotonic time in nanoseconds. */
uint64_t time_nsec(void);
/* The same clock in ms, as the kernel last ticked it (CLOCK_MONOTONIC_
 * COARSE: one tick is 1-10 ms): several times cheaper to read than
 * time_nsec() where the TSC is slow to read (decision 57). */
uint64_t time_msec_coarse(void);

#endif
