/* Weft's minimal unit-test framework.
 *
 * A test file defines tests with TEST(name) { ... CHECK(...); } and links
 * against testlib.c, whose main() runs every registered test (or those whose
 * name contains argv[1]) and ends with the line "N passed, N failed".
 *
 * A test passes when it made at least one check and none failed: a test that
 * asserts nothing is reported as failed, so it can never pass by accident. */
#ifndef WEFT_TESTLIB_H
#define WEFT_TESTLIB_H 1

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef void (*test_fn)(void);

void test_register(const char *name, test_fn fn);
bool test_check(bool ok, const char *expr, const char *file, int line);
bool test_check_int(long long a, long long b, const char *ea, const char *eb,
                    const char *file, int line);
bool test_check_str(const char *a, const char *b, const char *ea,
                    const char *eb, const char *file, int line);

#define TEST(NAME)                                                             \
    static void NAME(void);                                                    \
    __attribute__((constructor)) static void register_##NAME(void)             \
    {                                                                          \
        test_register(#NAME, NAME);                                            \
    }                                                                          \
    static void NAME(void)

/* Each returns the truth of the check so a test may stop early on failure. */
#define CHECK(COND) test_check(!!(COND), #COND, __FILE__, __LINE__)
#define CHECK_EQ(A, B)                                                         \
    test_check_int((long long)(A), (long long)(B), #A, #B, __FILE__, __LINE__)
#define CHECK_STREQ(A, B) test_check_str((A), (B), #A, #B, __FILE__, __LINE__)

#endif
