/* Implementation of log.h. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "lib/util.h"

enum log_level log_threshold = LOG_INF;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
    log_threshold = level;
}

bool
log_level_from_string(const char *s, enum log_level *level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (!strcmp(s, level_names[i])) {
            *level = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void
log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    char line[1024];
    struct timeval tv;
    struct tm tm;
    va_list args;
    int n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof line,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s module=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000),
                 level_names[level], module);
    va_start(args, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, args);
    va_end(args);
    fprintf(stderr, "%s\n", line);
}

bool
log_ratelimit_ok(struct log_ratelimit *rl)
{
    uint64_t now = time_nsec();
    uint64_t elapsed = now - rl->last_ns;
    uint64_t refill = elapsed * rl->per_sec / 1000000000ull;

    if (refill) {
        rl->tokens = (uint32_t)MIN((uint64_t)rl->burst, rl->tokens + refill);
        rl->last_ns = now;
    }
    if (rl->tokens) {
        rl->tokens--;
        return true;
    }
    rl->suppressed++;
    return false;
}
