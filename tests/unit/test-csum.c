/* Unit tests for the Internet checksum helpers (csum.h), checked against a
 * deliberately naive byte-by-byte reference on random data of every length
 * and alignment. */
#include "datapath/csum.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

/* Reference: big-endian 16-bit words, summed one byte at a time, folded at
 * the end; returns the complemented checksum in host order. */
static uint16_t
ref_csum(const uint8_t *p, size_t len, uint64_t start)
{
    uint64_t s = start;

    for (size_t i = 0; i < len; i++) {
        s += (i % 2 == 0) ? (uint64_t)p[i] << 8 : p[i];
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)~s;
}

/* A csum_partial() accumulator holds a sum of words in memory order; the
 * reference sums big-endian words.  Converts the former to the latter. */
static uint64_t
ref_start(uint32_t partial)
{
    uint32_t s = (partial & 0xffff) + (partial >> 16);
    s = (s & 0xffff) + (s >> 16);
    return ntohs((uint16_t)s);
}

/* csum_finish() gives network order; the reference gives host order. */
static uint16_t
fin(uint32_t partial)
{
    return ntohs(csum_finish(partial));
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
    /* xorshift64*: deterministic, so failures reproduce. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void
fill_random(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)rnd();
    }
}

TEST(csum_all_lengths_and_alignments)
{
    enum { MAXLEN = 1100 };
    uint8_t *buf = malloc(MAXLEN + 16);
    int bad = 0;

    fill_random(buf, MAXLEN + 16);
    for (size_t align = 0; align < 16; align++) {
        for (size_t len = 0; len <= MAXLEN; len++) {
            const uint8_t *p = buf + align;
            if (fin(csum_partial(p, len, 0)) != ref_csum(p, len, 0)) {
                bad++;
            }
        }
    }
    CHECK_EQ(bad, 0);
    free(buf);
}

TEST(csum_large_random_buffers)
{
    enum { MAXLEN = 70000 };
    uint8_t *buf = malloc(MAXLEN + 8);
    int bad = 0;

    for (int iter = 0; iter < 200; iter++) {
        size_t len = rnd() % MAXLEN, align = rnd() % 8;
        fill_random(buf + align, len);
        if (fin(csum_partial(buf + align, len, 0)) !=
            ref_csum(buf + align, len, 0)) {
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
    free(buf);
}

TEST(csum_extremes)
{
    /* All-ones data drives every carry path; the sum of 0xffff words is
     * "negative zero", whose checksum is 0. */
    static uint8_t ff[65536], zero[100];

    memset(ff, 0xff, sizeof ff);
    for (size_t len = 0; len <= 130; len++) {
        CHECK_EQ(fin(csum_partial(ff, len, 0)), ref_csum(ff, len, 0));
    }
    CHECK_EQ(fin(csum_partial(ff, sizeof ff, 0)), ref_csum(ff, sizeof ff, 0));
    CHECK_EQ(fin(csum_partial(ff, sizeof ff, 0xffffffffu)),
             ref_csum(ff, sizeof ff, 0xffffffffu));
    CHECK_EQ(fin(csum_partial(zero, sizeof zero, 0)), 0xffff);
    CHECK_EQ(fin(csum_partial(ff, 2, 0)), 0);
}

TEST(csum_chained_partials)
{
    uint8_t buf[3000];
    int bad = 0;

    fill_random(buf, sizeof buf);
    for (int iter = 0; iter < 2000; iter++) {
        /* Splits at even offsets chain exactly, with any start value. */
        size_t len = rnd() % sizeof buf;
        size_t cut = (rnd() % (len + 1)) & ~(size_t)1;
        uint32_t start = (uint32_t)rnd();
        uint32_t s = csum_partial(buf, cut, start);
        s = csum_partial(buf + cut, len - cut, s);
        if (fin(s) != ref_csum(buf, len, ref_start(start))) {
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

TEST(csum_pseudo_headers)
{
    int bad = 0;

    for (int iter = 0; iter < 1000; iter++) {
        uint8_t ph4[12], ph6[40];
        uint32_t src, dst;
        uint8_t proto = (uint8_t)rnd();
        uint16_t len16 = (uint16_t)rnd();
        uint32_t len32 = (uint32_t)rnd();

        /* IPv4: src, dst, zero, proto, length. */
        fill_random(ph4, 8);
        memcpy(&src, ph4, 4);
        memcpy(&dst, ph4 + 4, 4);
        ph4[8] = 0;
        ph4[9] = proto;
        ph4[10] = (uint8_t)(len16 >> 8);
        ph4[11] = (uint8_t)len16;
        if (fin(csum_pseudo_ipv4(src, dst, proto, len16)) !=
            ref_csum(ph4, sizeof ph4, 0)) {
            bad++;
        }

        /* IPv6: src, dst, 32-bit length, three zeros, next header. */
        fill_random(ph6, 32);
        ph6[32] = (uint8_t)(len32 >> 24);
        ph6[33] = (uint8_t)(len32 >> 16);
        ph6[34] = (uint8_t)(len32 >> 8);
        ph6[35] = (uint8_t)len32;
        ph6[36] = ph6[37] = ph6[38] = 0;
        ph6[39] = proto;
        if (fin(csum_pseudo_ipv6(ph6, ph6 + 16, proto, len32)) !=
            ref_csum(ph6, sizeof ph6, 0)) {
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

/* Checks a stored checksum: the sum over data including the checksum
 * field must fold to 0xffff (i.e. finish to 0). */
static bool
verifies(const uint8_t *p, size_t len)
{
    return csum_finish(csum_partial(p, len, 0)) == 0;
}

TEST(csum_incremental_updates)
{
    int bad = 0;

    for (int iter = 0; iter < 20000; iter++) {
        uint8_t buf[64];
        uint16_t c, old16, new16;
        uint32_t old32, new32;
        size_t at16 = 2 + 2 * (rnd() % 30), at32 = 2 + 2 * (rnd() % 29);

        fill_random(buf, sizeof buf);
        if (iter % 7 == 0) {
            memset(buf + 2, 0, 20); /* exercise zero and 0xffff sums */
        } else if (iter % 7 == 1) {
            memset(buf + 2, 0xff, 20);
        }
        buf[0] = buf[1] = 0;
        c = csum_finish(csum_partial(buf, sizeof buf, 0));
        memcpy(buf, &c, 2);
        if (!verifies(buf, sizeof buf)) {
            bad++;
        }

        /* 16-bit field. */
        memcpy(&old16, buf + at16, 2);
        new16 = (iter % 5 == 0) ? (uint16_t)~old16 : (uint16_t)rnd();
        memcpy(buf + at16, &new16, 2);
        memcpy(&c, buf, 2);
        c = csum_update16(c, old16, new16);
        memcpy(buf, &c, 2);
        if (!verifies(buf, sizeof buf)) {
            bad++;
        }

        /* 32-bit field (an IPv4 address, say). */
        memcpy(&old32, buf + at32, 4);
        new32 = (uint32_t)rnd();
        memcpy(buf + at32, &new32, 4);
        memcpy(&c, buf, 2);
        c = csum_update32(c, old32, new32);
        memcpy(buf, &c, 2);
        if (!verifies(buf, sizeof buf)) {
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

TEST(csum_ipv4_header_known_value)
{
    /* A classic worked example: the header checksum is 0xb861. */
    const uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
                             0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
                             0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    uint16_t c = csum_finish(csum_partial(hdr, sizeof hdr, 0));
    const uint8_t *b = (const uint8_t *)&c;

    CHECK_EQ(b[0], 0xb8);
    CHECK_EQ(b[1], 0x61);
}
