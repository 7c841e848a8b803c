/* Unit tests for the small helpers of lib/util.h that hold logic:
 * str_to_u64() against a reference over many strings. */
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

TEST(str_to_u64_accepts_digits)
{
    uint64_t v = 7;

    CHECK(str_to_u64("0", 10, &v));
    CHECK_EQ(v, 0);
    CHECK(str_to_u64("000123", 1000, &v));
    CHECK_EQ(v, 123);
    CHECK(str_to_u64("18446744073709551615", UINT64_MAX, &v));
    CHECK_EQ(v, UINT64_MAX);
    CHECK(str_to_u64("65535", 65535, &v));
    CHECK_EQ(v, 65535);
}

TEST(str_to_u64_rejects_the_rest)
{
    static const char *const bad[] = {
        "",
        " 1",
        "1 ",
        "-1",
        " -1",
        "+1",
        "0x10",
        "1e3",
        "12x",
        "x",
        "1.0",
        "\t5",
        "٣",
        "18446744073709551616",
        "99999999999999999999999999",
    };
    uint64_t v = 42;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        CHECK(!str_to_u64(bad[i], UINT64_MAX, &v));
        CHECK_EQ(v, 42); /* untouched */
    }
    CHECK(!str_to_u64(NULL, 10, &v));
    CHECK(!str_to_u64("65536", 65535, &v));
    CHECK(!str_to_u64("11", 10, &v));
    CHECK(!str_to_u64("7", 5, &v)); /* one digit above a one-digit max */
    CHECK(!str_to_u64("1", 0, &v));
    CHECK(str_to_u64("0", 0, &v));
    CHECK_EQ(v, 0);
}

/* Every number up to 10^6 with random maxima: the result is the number
 * when it is within the max, and a rejection otherwise. */
TEST(str_to_u64_matches_reference)
{
    char buf[32];
    uint64_t v;

    srand(1);
    for (uint64_t n = 0; n < 1000000; n += 1 + (uint64_t)(rand() % 7)) {
        uint64_t max = (uint64_t)rand() % 2000000;
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
        bool ok = str_to_u64(buf, max, &v);
        CHECK_EQ(ok, n <= max);
        if (ok) {
            CHECK_EQ(v, n);
        }
    }
    /* At the top of the range, max just below, at and above. */
    for (uint64_t d = 0; d < 50; d++) {
        uint64_t n = UINT64_MAX - d;
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
        CHECK(str_to_u64(buf, UINT64_MAX, &v));
        CHECK_EQ(v, n);
        CHECK(!str_to_u64(buf, n - 1, &v));
        CHECK(str_to_u64(buf, n, &v));
        if (d > 0) {
            CHECK(str_to_u64(buf, n + 1, &v));
            CHECK_EQ(v, n);
        }
    }
}
