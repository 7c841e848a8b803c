/* Small helpers shared by the API modules (see api.h). */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void
api_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vsnprintf(buf, size, fmt, args);
    va_end(args);
    api_utf8_trim(buf);
}

int64_t
api_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
api_method_name(enum api_method m)
{
    static const char *const names[] = {"GET", "PUT", "PATCH", "DELETE",
                                        "POST"};
    return m < API_N_METHODS ? names[m] : "?";
}

void
api_reply_error(struct api_reply *r, struct api_error *e)
{
    if (!e->code) {
        e->code = API_ERR_INTERNAL;
    }
    json_decref(r->body);
    free(r->text);
    r->text = NULL;
    r->status = api_error_status(e->code);
    r->body = api_error_to_json(e);
    r->revision = 0;
    r->etag = false;
    api_error_clear(e);
}
