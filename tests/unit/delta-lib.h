/* Helpers for tests and benchmarks that build controller deltas (weft.proto
 * messages) by hand: owned byte fields and segment ids.  Header-only; the
 * unit tests and the benchmarks both have tests/unit on the include
 * path. */
#ifndef WEFT_TESTS_DELTA_LIB_H
#define WEFT_TESTS_DELTA_LIB_H 1

#include <inttypes.h>
#include <string.h>

#include "lib/util.h"
#include "proto/weft.pb-c.h"

/* A copy of 'n' bytes at 'p', owned by the message. */
static inline ProtobufCBinaryData
pb_bin(const void *p, size_t n)
{
    ProtobufCBinaryData b = {n, xmalloc(n)};
    memcpy(b.data, p, n);
    return b;
}

static inline ProtobufCBinaryData
pb_ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    uint8_t x[4] = {a, b, c, d};
    return pb_bin(x, 4);
}

/* The path of segment s<n> of project "default" (a new string). */
static inline char *
pb_seg_id(uint32_t n)
{
    return xasprintf("/projects/default/segments/s%" PRIu32, n);
}

#endif
