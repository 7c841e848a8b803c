/* Internet checksum helpers (csum.h).
 *
 * The one's-complement sum does not care about byte order as long as data
 * is summed in the order it sits in memory: adding 16-bit words loaded in
 * host order gives the byte-swapped sum on a little-endian machine, and
 * storing the folded result back in host order swaps it back.  So every
 * function here works on values "as they lie in memory" (network order
 * fields, read with memcpy) and never swaps, except for the host-order
 * length and protocol of the pseudo-headers.
 *
 * It also does not care about the width of the words: the sum of 64-bit
 * words with end-around carry, folded down to 16 bits, equals the sum of
 * the 16-bit words, because 2^16 == 1 modulo 2^16 - 1.  csum_partial()
 * therefore adds 8-byte words into a 128-bit accumulator (an add/adc pair
 * per word, four independent chains) and folds once at the end.  Unaligned
 * loads go through memcpy, which compiles to a plain load on x86-64. */
#include "datapath/csum.h"

#include <arpa/inet.h>
#include <string.h>

/* Folds a 64-bit one's-complement accumulator to 32 bits. */
static inline uint32_t
fold64(uint64_t sum)
{
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    return (uint32_t)sum;
}

/* Folds a 128-bit accumulator (sum of 64-bit words) to 64 bits. */
static inline uint64_t
fold128(unsigned __int128 acc)
{
    uint64_t lo = (uint64_t)acc, hi = (uint64_t)(acc >> 64);
    uint64_t s = lo + hi;

    return s + (s < lo); /* end-around carry */
}

static inline uint64_t
load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CSUM_AVX2 1

/* The AVX2 loop for the 64-byte blocks of [p, p + len): 64-bit lanes add
 * the low and the high 32-bit halves of the words separately, so no carry
 * is ever lost (a lane takes one 32-bit value per 64 bytes: it cannot
 * overflow below 2^38 bytes), and the lanes are added with end-around
 * carry at the end.  About twice the scalar loop's rate on data in cache
 * (the scalar add/adc chains run out of registers).  Returns the 64-bit
 * one's-complement sum of the blocks; *done = bytes summed. */
__attribute__((target("avx2"))) static uint64_t
csum_blocks_avx2(const uint8_t *p, size_t len, size_t *done)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const __m256i lo = _mm256_set1_epi64x(0xffffffff);
    size_t n = len & ~(size_t)63;
    uint64_t lane[4], s = 0;

    for (size_t i = 0; i < n; i += 64) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i w = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        a0 = _mm256_add_epi64(a0, _mm256_and_si256(v, lo));
        a1 = _mm256_add_epi64(a1, _mm256_srli_epi64(v, 32));
        a2 = _mm256_add_epi64(a2, _mm256_and_si256(w, lo));
        a3 = _mm256_add_epi64(a3, _mm256_srli_epi64(w, 32));
    }
    /* The halves are added as they are, not shifted back into place:
     * like the word width above, 2^32 == 1 modulo 2^16 - 1. */
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    _mm256_storeu_si256((__m256i *)lane, a0);
    for (int i = 0; i < 4; i++) {
        s += lane[i];
        s += s < lane[i];
    }
    *done = n;
    return s;
}
#endif

uint32_t
csum_partial(const void *data, size_t len, uint32_t partial)
{
    const uint8_t *p = data;
    unsigned __int128 a0 = partial, a1 = 0, a2 = 0, a3 = 0;

#ifdef CSUM_AVX2
    if (len >= 256 && __builtin_cpu_supports("avx2")) {
        size_t done;
        a1 = csum_blocks_avx2(p, len, &done);
        p += done;
        len -= done;
    }
#endif

    while (len >= 64) {
        a0 += load64(p);
        a1 += load64(p + 8);
        a2 += load64(p + 16);
        a3 += load64(p + 24);
        a0 += load64(p + 32);
        a1 += load64(p + 40);
        a2 += load64(p + 48);
        a3 += load64(p + 56);
        p += 64;
        len -= 64;
    }
    while (len >= 8) {
        a0 += load64(p);
        p += 8;
        len -= 8;
    }
    if (len) {
        /* The tail, zero-padded to 8 bytes: an odd last byte becomes the
         * first byte of a 16-bit word whose second byte is 0, as RFC 1071
         * asks. */
        uint64_t tail = 0;
        memcpy(&tail, p, len);
        a1 += tail;
    }

    /* Each accumulator took fewer than 2^61 words, so the sums below
     * cannot overflow 128 bits. */
    uint64_t s0 = fold128(a0 + a1), s1 = fold128(a2 + a3);
    uint64_t s = s0 + s1;
    s += s < s0;
    return fold64(s);
}

uint16_t
csum_finish(uint32_t partial)
{
    uint32_t s = (partial & 0xffff) + (partial >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

uint32_t
csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint64_t s = (uint64_t)src + dst + htons(proto) + htons(len);
    return fold64(s);
}

uint32_t
csum_pseudo_ipv6(const void *src16, const void *dst16, uint8_t proto,
                 uint32_t len)
{
    uint32_t tail[2] = {htonl(len), htonl(proto)};
    uint32_t s = csum_partial(src16, 16, 0);

    s = csum_partial(dst16, 16, s);
    return csum_partial(tail, sizeof tail, s);
}

/* Adds 16-bit one's-complement values with end-around carry. */
static inline uint16_t
add16(uint32_t a, uint32_t b)
{
    uint32_t s = a + b;
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)((s & 0xffff) + (s >> 16));
}

uint16_t
csum_update16(uint16_t csum, uint16_t old, uint16_t new_)
{
    /* HC' = ~(~HC + ~m + m') */
    uint16_t s = add16((uint16_t)~csum, (uint16_t)~old);
    return (uint16_t)~add16(s, new_);
}

uint16_t
csum_update32(uint16_t csum, uint32_t old, uint32_t new_)
{
    /* A 32-bit field is two adjacent 16-bit words; as in csum_partial()
     * the split follows memory order, which halves of the host-order
     * value give on either endianness up to a swap that cancels out. */
    csum = csum_update16(csum, (uint16_t)(old >> 16), (uint16_t)(new_ >> 16));
    return csum_update16(csum, (uint16_t)old, (uint16_t)new_);
}
