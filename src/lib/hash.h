/* Fast non-cryptographic hashing for lookup tables and flow hashes.
 * All functions are pure and inline; 'basis' seeds a hash family. */
#ifndef WEFT_HASH_H
#define WEFT_HASH_H 1

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t
hash_mix64(uint64_t h)
{
    /* Finalizer from splitmix64: full avalanche in three multiplies. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

/* One 64 x 64 -> 128-bit multiply, its halves xor-ed: every input bit
 * reaches the middle bits of the result (the "mum" step of wyhash).
 * About a third of hash_mix64()'s cost, but 0 when either input is 0, so
 * callers xor in seeds that their inputs cannot cancel. */
static inline uint64_t
hash_mum(uint64_t a, uint64_t b)
{
    __uint128_t m = (__uint128_t)a * b;

    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static inline uint32_t
hash_u64(uint64_t x, uint32_t basis)
{
    return (uint32_t)hash_mix64(x ^ ((uint64_t)basis << 32 | basis));
}

/* Hashes 'n' bytes.  Reads 8 bytes at a time; the tail is zero-padded. */
static inline uint32_t
hash_bytes(const void *p_, size_t n, uint32_t basis)
{
    const uint8_t *p = p_;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ basis ^ (n * 0xff51afd7ed558ccdull);

    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = hash_mix64(h ^ w);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = hash_mix64(h ^ w);
    }
    return (uint32_t)(h ^ (h >> 32));
}

#endif
