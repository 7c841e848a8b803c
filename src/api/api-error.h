/* The one table of API error codes.
 *
 * Every error the API returns is a JSON object
 *   {"error_code": 1004, "error": "UNKNOWN_FIELD",
 *    "message": "unknown field 'colour'", "field": "colour"}
 * whose code, name and HTTP status come from the table in api-error.c.
 * Codes are stable: never renumber or reuse one; add new ones at the end.
 * 'field' names the offending field as a dotted path with [i] for array
 * elements ("subnets[0].gateway_address"), or is "" when no field is at
 * fault. */
#ifndef WEFT_API_ERROR_H
#define WEFT_API_ERROR_H 1

#include <jansson.h>

#define API_ERRORS(X)                                                          \
    X(BAD_JSON, 1001, 400, "request body is not valid JSON")                   \
    X(NOT_AN_OBJECT, 1002, 400, "request body must be a JSON object")          \
    X(WRONG_TYPE, 1003, 400, "field has the wrong type")                       \
    X(UNKNOWN_FIELD, 1004, 400, "unknown field")                               \
    X(MISSING_FIELD, 1005, 400, "required field is missing")                   \
    X(OUT_OF_RANGE, 1006, 400, "value out of range")                           \
    X(BAD_FORMAT, 1007, 400, "value has the wrong format")                     \
    X(TOO_LONG, 1008, 400, "value is too long")                                \
    X(DUPLICATE, 1009, 400, "duplicate value")                                 \
    X(INVALID_REFERENCE, 1010, 400, "referenced object does not exist")        \
    X(ID_MISMATCH, 1011, 400, "id in body does not match the path")            \
    X(READ_ONLY_FIELD, 1012, 400, "field is read-only")                        \
    X(INVALID_PATH, 1013, 400, "invalid path")                                 \
    X(INVALID_QUERY, 1014, 400, "invalid query parameter")                     \
    X(TOO_MANY, 1015, 400, "too many items")                                   \
    X(UNAUTHENTICATED, 2001, 401, "missing or invalid bearer token")           \
    X(FORBIDDEN, 2002, 403, "operation not permitted for this token")          \
    X(NOT_FOUND, 3001, 404, "object not found")                                \
    X(PARENT_NOT_FOUND, 3002, 404, "parent object not found")                  \
    X(ROUTE_NOT_FOUND, 3003, 404, "no such API route")                         \
    X(METHOD_NOT_ALLOWED, 3004, 405, "method not allowed on this path")        \
    X(ALREADY_EXISTS, 4001, 409, "object already exists")                      \
    X(REFERENCED, 4002, 409, "object is referenced by other objects")          \
    X(HAS_CHILDREN, 4003, 409, "object has child objects")                     \
    X(VNI_IN_USE, 4004, 409, "VNI already used by another segment")            \
    X(VNI_EXHAUSTED, 4005, 409, "VNI pool exhausted")                          \
    X(PROTECTED, 4006, 409, "object cannot be deleted")                        \
    X(MAC_IN_USE, 4007, 409, "MAC address already used on this segment")       \
    X(COMPACTED, 4101, 410, "revision is compacted; resync from a list")       \
    X(REVISION_MISMATCH, 4201, 412, "object revision does not match")          \
    X(BODY_TOO_LARGE, 4301, 413, "request body too large")                     \
    X(UNSUPPORTED_MEDIA_TYPE, 4401, 415, "body must be application/json")      \
    X(INTERNAL, 5001, 500, "internal error")                                   \
    X(UNAVAILABLE, 5002, 503, "service unavailable")                           \
    X(IP_IN_USE, 4008, 409, "IP address already used on this segment")         \
    X(SLOW_CONSUMER, 4501, 429, "watch stream fell too far behind")            \
    X(ADDRESS_POOL_EXHAUSTED, 4009, 409, "no free address in the DHCP ranges")

enum api_err {
    API_OK = 0,
#define API_ERR_ENUM(NAME, CODE, STATUS, MSG) API_ERR_##NAME,
    API_ERRORS(API_ERR_ENUM)
#undef API_ERR_ENUM
        API_ERR_N_
};

/* An error being reported: code, field path and a specific message. */
struct api_error {
    enum api_err code; /* API_OK if no error */
    char field[256];   /* offending field, "" if none */
    char message[512]; /* human-readable detail */
    json_t *related;   /* optional array of paths involved (e.g. the
                        * referrers on a 409), owned; NULL if none */
};

/* Frees 'e->related'; 'e' may be reused afterwards. */
void api_error_clear(struct api_error *e);

/* Records an error in 'e' (if 'e' has none yet: the first error wins) and
 * returns 'code'.  'field' may be NULL.  'fmt' NULL uses the table text. */
enum api_err api_error_set(struct api_error *e, enum api_err code,
                           const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int api_error_status(enum api_err);       /* HTTP status, 500 if unknown */
int api_error_number(enum api_err);       /* stable numeric code */
const char *api_error_name(enum api_err); /* stable name */

/* New JSON object for 'e' (caller owns the reference); includes
 * "related" when 'e->related' is set. */
json_t *api_error_to_json(const struct api_error *e);

/* Cuts a trailing incomplete UTF-8 sequence off 's' (left by truncation). */
void api_utf8_trim(char *s);

/* Calls 'cb' for every table row (used to document the table). */
void api_error_foreach(void (*cb)(void *aux, const char *name, int code,
                                  int status, const char *message),
                       void *aux);

#endif
