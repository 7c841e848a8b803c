/* The API error table (see api-error.h). */
#include "api/api-error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

struct api_error_info {
    const char *name;    /* stable name */
    int code;            /* stable number */
    int status;          /* HTTP status */
    const char *message; /* default message */
};

static const struct api_error_info api_error_table[API_ERR_N_] = {
    [API_OK] = {"OK", 0, 200, "ok"},
#define API_ERR_ROW(NAME, CODE, STATUS, MSG)                                   \
    [API_ERR_##NAME] = {#NAME, CODE, STATUS, MSG},
    API_ERRORS(API_ERR_ROW)
#undef API_ERR_ROW
};

enum api_err
api_error_set(struct api_error *e, enum api_err code, const char *field,
              const char *fmt, ...)
{
    if (!e || e->code != API_OK) {
        return code;
    }
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    if (fmt) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, args);
        va_end(args);
    } else {
        snprintf(e->message, sizeof e->message, "%s",
                 api_error_table[code].message);
    }
    api_utf8_trim(e->field);
    api_utf8_trim(e->message);
    return code;
}

void
api_utf8_trim(char *s)
{
    size_t len = strlen(s), i = len, need;

    /* Find the start of the last (possibly partial) character. */
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && len - i < 3) {
        i--;
    }
    if (i == 0) {
        return;
    }
    unsigned char lead = (unsigned char)s[i - 1];
    need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (len - (i - 1) < need) {
        s[i - 1] = '\0';
    }
}

void
api_error_clear(struct api_error *e)
{
    json_decref(e->related);
    memset(e, 0, sizeof *e);
}

int
api_error_status(enum api_err code)
{
    return code < API_ERR_N_ ? api_error_table[code].status : 500;
}

int
api_error_number(enum api_err code)
{
    return code < API_ERR_N_ ? api_error_table[code].code : 5001;
}

const char *
api_error_name(enum api_err code)
{
    return code < API_ERR_N_ ? api_error_table[code].name : "INTERNAL";
}

json_t *
api_error_to_json(const struct api_error *e)
{
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:s}", "error_code",
                  api_error_number(e->code), "error", api_error_name(e->code),
                  "message", e->message, "field", e->field);
    /* Only if a message is not UTF-8 after all; never lose the code. */
    if (j && e->related) {
        json_object_set(j, "related", e->related);
    }
    return j ? j
             : json_pack("{s:i, s:s, s:s, s:s}", "error_code",
                         api_error_number(e->code), "error",
                         api_error_name(e->code), "message",
                         api_error_table[e->code].message, "field", "");
}

void
api_error_foreach(void (*cb)(void *aux, const char *name, int code, int status,
                             const char *message),
                  void *aux)
{
    for (size_t i = 1; i < ARRAY_SIZE(api_error_table); i++) {
        const struct api_error_info *row = &api_error_table[i];
        cb(aux, row->name, row->code, row->status, row->message);
    }
}
