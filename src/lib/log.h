/* Structured logging: one line per event on stderr,
 *   2026-11-21T20:31:02.123Z level=info module=agent msg="..." key=value
 * Levels below the global threshold cost one branch.  log_ratelimit()
 * protects hot paths from flooding the log. */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H 1

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DBG, LOG_INF, LOG_WRN, LOG_ERR };

extern enum log_level log_threshold;

void log_set_level(enum log_level);
/* Parses "debug", "info", "warn" or "error"; returns false otherwise. */
bool log_level_from_string(const char *, enum log_level *);

void log_msg(enum log_level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define VLOG(LEVEL, MODULE, ...)                                               \
    do {                                                                       \
        if ((LEVEL) >= log_threshold) {                                        \
            log_msg(LEVEL, MODULE, __VA_ARGS__);                               \
        }                                                                      \
    } while (0)
#define LOG_DEBUG(M, ...) VLOG(LOG_DBG, M, __VA_ARGS__)
#define LOG_INFO(M, ...)  VLOG(LOG_INF, M, __VA_ARGS__)
#define LOG_WARN(M, ...)  VLOG(LOG_WRN, M, __VA_ARGS__)
#define LOG_ERROR(M, ...) VLOG(LOG_ERR, M, __VA_ARGS__)

/* Token bucket: at most 'burst' messages, refilled at 'per_sec'. */
struct log_ratelimit {
    uint32_t per_sec;    /* refill rate */
    uint32_t burst;      /* bucket size */
    uint32_t tokens;     /* tokens left */
    uint64_t last_ns;    /* time of last refill */
    uint64_t suppressed; /* messages dropped since the last one logged */
};
#define LOG_RATELIMIT_INIT(PER_SEC, BURST)                                     \
    {                                                                          \
        (PER_SEC), (BURST), (BURST), 0, 0                                      \
    }

/* Returns true if a message may be logged now. */
bool log_ratelimit_ok(struct log_ratelimit *);

#endif
