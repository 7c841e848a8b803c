/* Runner for the unit-test framework declared in testlib.h. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>

#define TEST_MAX 1024

struct test_case {
    const char *name; /* function name, as written in TEST() */
    test_fn fn;       /* the test body */
};

static struct test_case tests[TEST_MAX];
static int n_tests;
static int cur_checks;   /* checks made by the running test */
static int cur_failures; /* failed checks of the running test */

void
test_register(const char *name, test_fn fn)
{
    if (n_tests >= TEST_MAX) {
        fprintf(stderr, "testlib: too many tests\n");
        abort();
    }
    tests[n_tests++] = (struct test_case){name, fn};
}

bool
test_check(bool ok, const char *expr, const char *file, int line)
{
    cur_checks++;
    if (!ok) {
        cur_failures++;
        printf("    FAIL %s:%d: %s\n", file, line, expr);
    }
    return ok;
}

bool
test_check_int(long long a, long long b, const char *ea, const char *eb,
               const char *file, int line)
{
    cur_checks++;
    if (a != b) {
        cur_failures++;
        printf("    FAIL %s:%d: %s == %s (%lld != %lld)\n", file, line, ea, eb,
               a, b);
        return false;
    }
    return true;
}

bool
test_check_str(const char *a, const char *b, const char *ea, const char *eb,
               const char *file, int line)
{
    cur_checks++;
    if (!a || !b || strcmp(a, b)) {
        cur_failures++;
        printf("    FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n", file, line, ea,
               eb, a ? a : "(null)", b ? b : "(null)");
        return false;
    }
    return true;
}

int
main(int argc, char *argv[])
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) {
            continue;
        }
        cur_checks = cur_failures = 0;
        tests[i].fn();
        if (cur_failures == 0 && cur_checks > 0) {
            passed++;
            printf("ok   %s (%d checks)\n", tests[i].name, cur_checks);
        } else {
            failed++;
            printf("FAIL %s (%d checks, %d failed%s)\n", tests[i].name,
                   cur_checks, cur_failures,
                   cur_checks ? "" : ": asserts nothing");
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
