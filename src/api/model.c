/* Object model: schemas, paths and keys (see model.h). */
#include "api/model.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static const char *const admin_states[] = {"up", "down", NULL};
static const char *const host_states[] = {"unknown", "up", "down", NULL};
static const char *const encaps[] = {"geneve", "vxlan", NULL};
static const char *const member_types[] = {"port", "segment", NULL};
static const char *const criteria_keys[] = {"tag", "name", NULL};
static const char *const operators[] = {"equals", "contains", "starts_with",
                                        NULL};

static const struct model_field tag_fields[] = {
    {"scope", MF_STRING, 0, 0, 128, NULL, NULL, "tag scope"},
    {"tag", MF_STRING, MF_REQUIRED, 1, 256, NULL, NULL, "tag value"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
static const struct model_field tag_elem[] = {
    {"tag", MF_OBJECT, 0, 0, 0, NULL, tag_fields, "a scope|tag pair"},
};

#define COMMON_FIELDS                                                          \
    {"display_name", MF_STRING, 0, 0, 255, NULL, NULL, "human name"},          \
        {"description", MF_STRING, 0, 0, 1024, NULL, NULL, "free text"},       \
    {                                                                          \
        "tags", MF_ARRAY, MF_UNIQUE, 0, 30, NULL, tag_elem, "tags"             \
    }
#define END_FIELDS                                                             \
    {                                                                          \
        NULL, 0, 0, 0, 0, NULL, NULL, NULL                                     \
    }

static const struct model_field project_fields[] = {
    COMMON_FIELDS,
    END_FIELDS,
};

static const struct model_field subnet_fields[] = {
    {"gateway_address", MF_CIDR, MF_REQUIRED, 0, 0, NULL, NULL,
     "gateway address with prefix length, e.g. 10.1.1.1/24"},
    END_FIELDS,
};
static const struct model_field subnet_elem[] = {
    {"subnet", MF_OBJECT, 0, 0, 0, NULL, subnet_fields, "a subnet"},
};

static const struct model_field segment_fields[] = {
    COMMON_FIELDS,
    {"vni", MF_INT, 0, 1, 16777215, NULL, NULL,
     "overlay VNI; allocated from the pool when absent"},
    {"encap", MF_ENUM, 0, 0, 0, encaps, NULL,
     "overlay encapsulation: geneve (when absent) or vxlan"},
    {"subnets", MF_ARRAY, MF_UNIQUE, 0, 16, NULL, subnet_elem, "subnets"},
    {"admin_state", MF_ENUM, 0, 0, 0, admin_states, NULL, "up or down"},
    END_FIELDS,
};

static const struct model_field ip_elem[] = {
    {"ip", MF_IP, 0, 0, 0, NULL, NULL, "an IP address"},
};
static const struct model_field attachment_fields[] = {
    {"host", MF_ID, MF_REQUIRED, 0, 0, NULL, NULL, "id of a host"},
    {"vif", MF_IFNAME, MF_REQUIRED, 0, 0, NULL, NULL,
     "interface name on the host"},
    END_FIELDS,
};

static const struct model_field port_fields[] = {
    COMMON_FIELDS,
    {"mac_address", MF_MAC, 0, 0, 0, NULL, NULL,
     "unicast MAC; generated when absent"},
    {"ip_addresses", MF_ARRAY, MF_UNIQUE, 0, 32, NULL, ip_elem,
     "addresses within the segment's subnets"},
    {"attachment", MF_OBJECT, 0, 0, 0, NULL, attachment_fields,
     "where the port is plugged in"},
    {"admin_state", MF_ENUM, 0, 0, 0, admin_states, NULL, "up or down"},
    END_FIELDS,
};

static const struct model_field host_fields[] = {
    COMMON_FIELDS,
    {"tunnel_endpoint", MF_IP, MF_REQUIRED, 0, 0, NULL, NULL,
     "underlay address of the host's tunnel endpoint"},
    {"status", MF_ENUM, MF_READONLY, 0, 0, host_states, NULL,
     "reported by the host's agent"},
    END_FIELDS,
};

static const struct model_field member_elem[] = {
    {"member", MF_REF, 0, 0, 0, NULL, NULL,
     "path of a segment or port of the same project"},
};
static const struct model_field criterion_fields[] = {
    {"member_type", MF_ENUM, MF_REQUIRED, 0, 0, member_types, NULL, ""},
    {"key", MF_ENUM, MF_REQUIRED, 0, 0, criteria_keys, NULL, ""},
    {"operator", MF_ENUM, MF_REQUIRED, 0, 0, operators, NULL, ""},
    {"value", MF_STRING, MF_REQUIRED, 1, 256, NULL, NULL, ""},
    END_FIELDS,
};
static const struct model_field criterion_elem[] = {
    {"criterion", MF_OBJECT, 0, 0, 0, NULL, criterion_fields, ""},
};

static const struct model_field group_fields[] = {
    COMMON_FIELDS,
    {"members", MF_ARRAY, MF_UNIQUE, 0, 500, NULL, member_elem,
     "static members"},
    {"criteria", MF_ARRAY, MF_UNIQUE, 0, 5, NULL, criterion_elem,
     "dynamic membership criteria (ORed)"},
    END_FIELDS,
};

static const struct model_type model_types[MODEL_N_KINDS] = {
    [MODEL_PROJECT] = {MODEL_PROJECT, "Project", "projects", "project", -1, 1,
                       project_fields},
    [MODEL_SEGMENT] = {MODEL_SEGMENT, "Segment", "segments", "segment",
                       MODEL_PROJECT, 2, segment_fields},
    [MODEL_PORT] = {MODEL_PORT, "SegmentPort", "ports", "port", MODEL_SEGMENT,
                    3, port_fields},
    [MODEL_GROUP] = {MODEL_GROUP, "Group", "groups", "group", MODEL_PROJECT, 2,
                     group_fields},
    [MODEL_HOST] = {MODEL_HOST, "Host", "hosts", "host", -1, 1, host_fields},
};

static const struct model_type *const root_children[] = {
    &model_types[MODEL_PROJECT], &model_types[MODEL_HOST], NULL};
static const struct model_type *const project_children[] = {
    &model_types[MODEL_SEGMENT], &model_types[MODEL_GROUP], NULL};
static const struct model_type *const segment_children[] = {
    &model_types[MODEL_PORT], NULL};
static const struct model_type *const no_children[] = {NULL};

const struct model_type *
model_type(enum model_kind kind)
{
    return &model_types[kind];
}

const struct model_type *const *
model_children(int kind)
{
    switch (kind) {
    case -1:
        return root_children;
    case MODEL_PROJECT:
        return project_children;
    case MODEL_SEGMENT:
        return segment_children;
    default:
        return no_children;
    }
}

static const struct model_type *
model_child_by_collection(int parent, const char *name, size_t len)
{
    for (const struct model_type *const *t = model_children(parent); *t; t++) {
        if (strlen((*t)->collection) == len &&
            !memcmp((*t)->collection, name, len)) {
            return *t;
        }
    }
    return NULL;
}

enum api_err
model_parse_path(const char *path, struct model_path *mp, struct api_error *e)
{
    const char *p = path;
    int parent = -1;

    memset(mp, 0, sizeof *mp);
    if (strlen(path) >= MODEL_KEY_MAX - 8) {
        return api_error_set(e, API_ERR_INVALID_PATH, NULL, "path too long");
    }
    if (strchr(path, '%')) {
        return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                             "percent-encoded characters are not allowed in "
                             "paths");
    }
    while (*p) {
        const char *elem[2];
        size_t len[2];
        const struct model_type *t;

        /* One level: "/collection" and optionally "/id". */
        for (int i = 0; i < 2 && *p; i++) {
            if (*p != '/') {
                return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                     "malformed path");
            }
            elem[i] = ++p;
            len[i] = strcspn(p, "/");
            p += len[i];
            if (!len[i] || (len[i] == 1 && elem[i][0] == '.') ||
                (len[i] == 2 && !memcmp(elem[i], "..", 2))) {
                return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                     "empty, '.' or '..' path element");
            }
            if (i == 0) {
                len[1] = 0;
            }
        }
        if (mp->depth >= MODEL_MAX_DEPTH ||
            !(t = model_child_by_collection(parent, elem[0], len[0]))) {
            return api_error_set(e, API_ERR_ROUTE_NOT_FOUND, NULL,
                                 "no such collection in path");
        }
        mp->types[mp->depth] = t;
        if (!len[1]) {
            mp->collection = true;
            mp->depth++;
            if (*p) {
                return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                     "malformed path");
            }
            break;
        }
        if (len[1] > VAL_ID_MAX) {
            return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                 "id longer than %d characters", VAL_ID_MAX);
        }
        memcpy(mp->ids[mp->depth], elem[1], len[1]);
        mp->ids[mp->depth][len[1]] = '\0';
        if (!val_id(mp->ids[mp->depth])) {
            return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                 "invalid id in path (allowed: letters, "
                                 "digits, '_', '.', '-')");
        }
        mp->depth++;
        parent = (int)t->kind;
    }
    return API_OK;
}

static void
model_path_string(const struct model_path *mp, int depth, char *buf,
                  size_t size)
{
    size_t n = strlen(buf);

    for (int i = 0; i < depth && n < size; i++) {
        n += (size_t)snprintf(buf + n, size - n, "/%s/%s",
                              mp->types[i]->collection, mp->ids[i]);
    }
}

void
model_key(const struct model_path *mp, int depth, char *buf)
{
    snprintf(buf, MODEL_KEY_MAX, "o%d", depth);
    model_path_string(mp, depth, buf, MODEL_KEY_MAX);
}

void
model_api_path(const struct model_path *mp, int depth, char *buf)
{
    snprintf(buf, MODEL_KEY_MAX, "%s", MODEL_API_PREFIX);
    model_path_string(mp, depth, buf, MODEL_KEY_MAX);
}

void
model_collection_prefix(const struct model_path *mp, char *buf)
{
    int d = mp->depth;
    size_t n;

    snprintf(buf, MODEL_KEY_MAX, "o%d", d);
    model_path_string(mp, d - 1, buf, MODEL_KEY_MAX);
    n = strlen(buf);
    snprintf(buf + n, MODEL_KEY_MAX - n, "/%s/", mp->types[d - 1]->collection);
}

bool
model_key_parse(const char *key, struct model_path *mp)
{
    if (key[0] != 'o' || key[1] < '1' || key[1] > '0' + MODEL_MAX_DEPTH) {
        return false;
    }
    return model_parse_path(key + 2, mp, NULL) == API_OK && !mp->collection &&
           mp->depth == key[1] - '0';
}

static const char *const server_fields[] = {
    "id",        "path",         "resource_type",
    "_revision", "_create_time", "_last_modified",
    NULL};

bool
model_is_server_field(const char *name)
{
    for (const char *const *f = server_fields; *f; f++) {
        if (!strcmp(*f, name)) {
            return true;
        }
    }
    return false;
}

static const char *
mf_kind_name(enum mf_kind kind)
{
    static const char *const names[] = {
        [MF_STRING] = "a string",    [MF_INT] = "an integer",
        [MF_ENUM] = "a string",      [MF_IP] = "an IP address string",
        [MF_CIDR] = "a CIDR string", [MF_MAC] = "a MAC address string",
        [MF_IFNAME] = "a string",    [MF_ID] = "an id string",
        [MF_REF] = "a path string",  [MF_OBJECT] = "an object",
        [MF_ARRAY] = "an array",
    };
    return names[kind];
}

static enum api_err mf_check_object(const struct model_field *fields,
                                    json_t *obj, bool full, const char *prefix,
                                    const char *const *skip,
                                    struct api_error *e);

/* Checks one value against descriptor 'f'; 'name' is its field path. */
static enum api_err
mf_check_value(const struct model_field *f, json_t *v, const char *name,
               struct api_error *e)
{
    char sub[256];

    if (f->kind == MF_INT) {
        if (!json_is_integer(v)) {
            return api_error_set(e, API_ERR_WRONG_TYPE, name,
                                 "'%s' must be an integer", name);
        }
        json_int_t i = json_integer_value(v);
        if (i < f->min || i > f->max) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, name,
                                 "'%s' must be between %lld and %lld", name,
                                 f->min, f->max);
        }
        return API_OK;
    }
    if (f->kind == MF_OBJECT) {
        if (!json_is_object(v)) {
            return api_error_set(e, API_ERR_WRONG_TYPE, name,
                                 "'%s' must be an object", name);
        }
        return mf_check_object(f->sub, v, true, name, NULL, e);
    }
    if (f->kind == MF_ARRAY) {
        size_t i, j;
        json_t *item;

        if (!json_is_array(v)) {
            return api_error_set(e, API_ERR_WRONG_TYPE, name,
                                 "'%s' must be an array", name);
        }
        if ((long long)json_array_size(v) > f->max) {
            return api_error_set(e, API_ERR_TOO_MANY, name,
                                 "'%s' has more than %lld items", name, f->max);
        }
        json_array_foreach(v, i, item)
        {
            snprintf(sub, sizeof sub, "%s[%zu]", name, i);
            if (mf_check_value(&f->sub[0], item, sub, e)) {
                return e->code;
            }
            for (j = 0; (f->flags & MF_UNIQUE) && j < i; j++) {
                if (json_equal(item, json_array_get(v, j))) {
                    return api_error_set(e, API_ERR_DUPLICATE, sub,
                                         "'%s' duplicates item %zu", sub, j);
                }
            }
        }
        return API_OK;
    }

    /* Every other kind is a string. */
    if (!json_is_string(v)) {
        return api_error_set(e, API_ERR_WRONG_TYPE, name, "'%s' must be %s",
                             name, mf_kind_name(f->kind));
    }
    const char *s = json_string_value(v);
    if (json_string_length(v) != strlen(s) || !val_printable(s)) {
        return api_error_set(e, API_ERR_BAD_FORMAT, name,
                             "'%s' contains control characters", name);
    }
    struct val_ip ip;
    unsigned plen;
    switch (f->kind) {
    case MF_STRING:
        if ((long long)val_utf8_len(s) > f->max) {
            return api_error_set(e, API_ERR_TOO_LONG, name,
                                 "'%s' is longer than %lld characters", name,
                                 f->max);
        }
        if ((long long)val_utf8_len(s) < f->min) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, name,
                                 "'%s' must not be empty", name);
        }
        return API_OK;
    case MF_ENUM:
        for (const char *const *p = f->values; *p; p++) {
            if (!strcmp(*p, s)) {
                return API_OK;
            }
        }
        return api_error_set(e, API_ERR_BAD_FORMAT, name,
                             "'%s' must be one of the documented values", name);
    case MF_IP:
        return val_ip_parse(s, &ip)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not an IP address", name);
    case MF_CIDR:
        return val_cidr_parse(s, &ip, &plen)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not an address/prefix-length "
                                   "(e.g. 10.1.1.1/24)",
                                   name);
    case MF_MAC:
        return val_mac_parse(s, NULL)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not a unicast MAC address "
                                   "(aa:bb:cc:dd:ee:ff)",
                                   name);
    case MF_IFNAME:
        return val_ifname(s) ? API_OK
                             : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                             "'%s' is not an interface name "
                                             "(1-15 characters)",
                                             name);
    case MF_ID:
        if (strlen(s) > VAL_ID_MAX) {
            return api_error_set(e, API_ERR_TOO_LONG, name,
                                 "'%s' is longer than %d characters", name,
                                 VAL_ID_MAX);
        }
        return val_id(s) ? API_OK
                         : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                         "'%s' is not a valid id", name);
    case MF_REF: {
        struct model_path mp;
        size_t plen_api = strlen(MODEL_API_PREFIX);
        if (strncmp(s, MODEL_API_PREFIX, plen_api) ||
            model_parse_path(s + plen_api, &mp, NULL) != API_OK ||
            mp.collection || !mp.depth) {
            return api_error_set(e, API_ERR_BAD_FORMAT, name,
                                 "'%s' is not an object path", name);
        }
        return API_OK;
    }
    default:
        return api_error_set(e, API_ERR_INTERNAL, name, NULL);
    }
}

static bool
mf_in(const char *const *list, const char *name)
{
    for (; list && *list; list++) {
        if (!strcmp(*list, name)) {
            return true;
        }
    }
    return false;
}

static enum api_err
mf_check_object(const struct model_field *fields, json_t *obj, bool full,
                const char *prefix, const char *const *skip,
                struct api_error *e)
{
    const char *key;
    json_t *v;
    char name[256];

    json_object_foreach(obj, key, v)
    {
        const struct model_field *f;

        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (mf_in(skip, key)) {
            continue;
        }
        for (f = fields; f->name && strcmp(f->name, key); f++) {
            continue;
        }
        if (!f->name) {
            return api_error_set(e, API_ERR_UNKNOWN_FIELD, name,
                                 "unknown field '%s'", name);
        }
        if (f->flags & MF_READONLY) {
            continue;
        }
        if (json_is_null(v)) {
            if (full && (f->flags & MF_REQUIRED)) {
                return api_error_set(e, API_ERR_MISSING_FIELD, name,
                                     "'%s' is required", name);
            }
            continue;
        }
        if (mf_check_value(f, v, name, e)) {
            return e->code;
        }
    }
    for (const struct model_field *f = fields; full && f->name; f++) {
        if ((f->flags & MF_REQUIRED) && !json_object_get(obj, f->name)) {
            snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "",
                     f->name);
            return api_error_set(e, API_ERR_MISSING_FIELD, name,
                                 "'%s' is required", name);
        }
    }
    return API_OK;
}

enum api_err
model_validate(const struct model_type *type, json_t *obj, bool full,
               const char *id, const char *prefix, const char *const *skip,
               struct api_error *e)
{
    json_t *v;
    char name[256];

    if (!json_is_object(obj)) {
        return api_error_set(e, API_ERR_NOT_AN_OBJECT, prefix,
                             "'%s' must be a JSON object",
                             *prefix ? prefix : "body");
    }
    snprintf(name, sizeof name, "%s%sid", prefix, *prefix ? "." : "");
    v = json_object_get(obj, "id");
    if (v && (!json_is_string(v) || (id && strcmp(json_string_value(v), id)))) {
        return api_error_set(e, API_ERR_ID_MISMATCH, name,
                             "'%s' does not match the id in the path", name);
    }
    snprintf(name, sizeof name, "%s%s_revision", prefix, *prefix ? "." : "");
    v = json_object_get(obj, "_revision");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        return api_error_set(e, API_ERR_WRONG_TYPE, name,
                             "'%s' must be a non-negative integer", name);
    }
    /* Skip the server fields and the caller's list. */
    const char *const *lists[2] = {server_fields, skip};
    const char *merged[32];
    size_t n = 0;
    for (int l = 0; l < 2; l++) {
        for (const char *const *p = lists[l]; p && *p && n < 31; p++) {
            merged[n++] = *p;
        }
    }
    merged[n] = NULL;
    return mf_check_object(type->fields, obj, full, prefix, merged, e);
}

void
model_strip(const struct model_type *type, json_t *obj)
{
    json_object_del(obj, "id");
    json_object_del(obj, "path");
    json_object_del(obj, "resource_type");
    json_object_del(obj, "_revision");
    for (const struct model_field *f = type->fields; f->name; f++) {
        if (f->flags & MF_READONLY) {
            json_object_del(obj, f->name);
        }
    }
    /* Merge-patch nulls mean "absent". */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(obj, key);
        }
    }
}

void
model_decorate(const struct model_path *mp, json_t *obj, uint64_t rev)
{
    const struct model_type *t = mp->types[mp->depth - 1];
    char path[MODEL_KEY_MAX];

    model_api_path(mp, mp->depth, path);
    json_object_set_new(obj, "id", json_string(mp->ids[mp->depth - 1]));
    json_object_set_new(obj, "resource_type", json_string(t->resource_type));
    json_object_set_new(obj, "path", json_string(path));
    json_object_set_new(obj, "_revision", json_integer((json_int_t)rev));
}
