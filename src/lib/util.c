/* Implementation of util.h. */
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static void
out_of_memory(size_t size)
{
    fprintf(stderr, "weft: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        out_of_memory(n * size);
    }
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *
xasprintf(const char *fmt, ...)
{
    va_list args;
    char *s;
    int n;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    s = xmalloc((size_t)(n < 0 ? 0 : n) + 1);
    va_start(args, fmt);
    vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, fmt, args);
    va_end(args);
    return s;
}

void *
xmalloc_aligned(size_t align, size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1)) {
        out_of_memory(size);
    }
    return p;
}

#define HUGE_PAGE (2u << 20)

void *
xmalloc_huge(size_t size)
{
    void *p;

    if (size < HUGE_PAGE) {
        return xmalloc(size);
    }
    size = ROUND_UP(size, HUGE_PAGE);
    p = xmalloc_aligned(HUGE_PAGE, size);
    /* Advice only: without THP support the table still works. */
    (void)madvise(p, size, MADV_HUGEPAGE);
    return p;
}

void *
map_zeroed(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    (void)madvise(p, size, MADV_HUGEPAGE); /* advice only */
    return p;
}

void *
xmap_zeroed(size_t size)
{
    void *p = map_zeroed(size);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void
unmap_zeroed(void *p, size_t size)
{
    if (p) {
        munmap(p, size);
    }
}

uint64_t
time_nsec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
time_msec_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000;
}

bool
str_to_u64(const char *s, uint64_t max, uint64_t *v)
{
    uint64_t n = 0;

    if (!s || !*s) {
        return false;
    }
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9 || d > max || n > (max - d) / 10) {
            return false; /* not a digit, or past 'max' */
        }
        n = n * 10 + d;
    }
    *v = n;
    return true;
}
