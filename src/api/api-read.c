/* GET of objects and collections (see api-read.h). */
#include "api/api-read.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "store/store.h"

/* The hot path of GET: the stored value is the object's compact JSON
 * without its derived members (model_strip() removed them), so appending
 * them as text gives exactly what model_decorate() + json_dumps() would,
 * without parsing and re-serializing.  Returns NULL (use the slow path) if
 * the value does not look like that. */
static char *
read_splice(const struct model_path *mp, const struct store_kv *kv,
            size_t *lenp)
{
    static const char *const derived[] = {
        "\"id\":", "\"path\":", "\"resource_type\":", "\"_revision\":"};
    const struct model_type *t = mp->types[mp->depth - 1];
    const char *v = kv->value;
    size_t len = kv->value_len, n;
    char path[MODEL_KEY_MAX], *out;
    int tail;

    if (len < 2 || v[0] != '{' || v[len - 1] != '}') {
        return NULL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(derived); i++) {
        if (memmem(v, len, derived[i], strlen(derived[i]))) {
            return NULL;
        }
    }
    model_api_path(mp, mp->depth, path);
    n = len + strlen(path) + strlen(t->resource_type) + VAL_ID_MAX + 96;
    out = xmalloc(n);
    memcpy(out, v, len - 1);
    tail = snprintf(out + len - 1, n - (len - 1),
                    "%s\"id\":\"%s\",\"resource_type\":\"%s\",\"path\":"
                    "\"%s\",\"_revision\":%" PRIu64 "}",
                    len > 2 ? "," : "", mp->ids[mp->depth - 1],
                    t->resource_type, path, kv->mod_rev);
    *lenp = len - 1 + (size_t)tail;
    return out;
}

void
read_object(struct api_ctx *ctx, const struct model_path *mp,
            struct api_reply *r)
{
    struct api_error e = {0};
    char key[MODEL_KEY_MAX];
    struct store_kv kv;
    json_t *obj;
    int error;

    model_key(mp, mp->depth, key);
    error = store_get(ctx->store, key, 0, &kv);
    if (error) {
        api_error_set(&e,
                      error == ENOENT ? API_ERR_NOT_FOUND : API_ERR_UNAVAILABLE,
                      NULL, error == ENOENT ? "no object at this path" : NULL);
        api_reply_error(r, &e);
        return;
    }
    r->text = read_splice(mp, &kv, &r->text_len);
    if (r->text) {
        r->status = 200;
        r->revision = kv.mod_rev;
        r->etag = true;
        store_kv_clear(&kv);
        return;
    }
    obj = json_loadb(kv.value, kv.value_len, 0, NULL);
    if (!obj) {
        store_kv_clear(&kv);
        api_error_set(&e, API_ERR_INTERNAL, NULL, "stored object unreadable");
        api_reply_error(r, &e);
        return;
    }
    model_decorate(mp, obj, kv.mod_rev);
    r->status = 200;
    r->body = obj;
    r->revision = kv.mod_rev;
    r->etag = true;
    store_kv_clear(&kv);
}

/* One field filter: a (dotted) field and the wanted value. */
struct read_filter {
    const char *const *path; /* field names, NULL-terminated */
    size_t depth;            /* names in 'path' */
    const char *value;       /* wanted value */
};

/* Resolves the dotted field 'name' against 'fields'; fills 'names' (at
 * most 4).  False if it names no scalar or array field. */
static bool
read_resolve_field(const struct model_field *fields, const char *name,
                   char names[4][64], size_t *depth)
{
    const char *p = name;

    *depth = 0;
    while (fields && *depth < 4) {
        size_t len = strcspn(p, ".");
        const struct model_field *f;

        if (!len || len >= 64) {
            return false;
        }
        for (f = fields; f->name; f++) {
            if (strlen(f->name) == len && !memcmp(f->name, p, len)) {
                break;
            }
        }
        if (!f->name) {
            return false;
        }
        memcpy(names[*depth], p, len);
        names[(*depth)++][len] = '\0';
        p += len;
        if (!*p) {
            return f->kind != MF_OBJECT;
        }
        p++;
        fields = f->kind == MF_OBJECT ? f->sub : NULL;
    }
    return false;
}

static bool
read_scalar_matches(json_t *v, const char *want)
{
    char buf[32];

    if (json_is_string(v)) {
        return !strcmp(json_string_value(v), want);
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return !strcmp(buf, want);
    }
    if (json_is_boolean(v)) {
        return !strcmp(json_is_true(v) ? "true" : "false", want);
    }
    return false;
}

static bool
read_field_matches(json_t *obj, char names[4][64], size_t depth,
                   const char *want)
{
    json_t *v = obj;
    size_t i;
    json_t *item;

    for (size_t d = 0; d < depth && v; d++) {
        v = json_object_get(v, names[d]);
    }
    if (!v) {
        return false;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if (read_scalar_matches(item, want)) {
                return true;
            }
        }
        return false;
    }
    return read_scalar_matches(v, want);
}

static bool
read_tag_matches(json_t *obj, const char *want)
{
    const char *bar = strchr(want, '|');
    json_t *tags = json_object_get(obj, "tags"), *t;
    size_t i;

    json_array_foreach(tags, i, t)
    {
        const char *scope = json_string_value(json_object_get(t, "scope"));
        const char *tag = json_string_value(json_object_get(t, "tag"));
        if (!tag) {
            continue;
        }
        if (!bar) {
            if (!strcmp(tag, want)) {
                return true;
            }
        } else if (!strcmp(tag, bar + 1) &&
                   strlen(scope ? scope : "") == (size_t)(bar - want) &&
                   !memcmp(scope ? scope : "", want, (size_t)(bar - want))) {
            return true;
        }
    }
    return false;
}

/* Parsed list parameters. */
struct read_params {
    size_t page_size;           /* results per page */
    uint64_t rev;               /* snapshot revision, 0 = newest */
    char after[VAL_ID_MAX + 1]; /* resume after this id, "" = start */
    size_t n_filters;           /* used 'filters' */
    struct {
        char names[4][64]; /* field path */
        size_t depth;      /* used 'names', 0 for a tag filter */
        const char *value; /* wanted value */
    } filters[16];
};

static enum api_err
read_parse_params(const struct model_type *t, const struct api_query *q,
                  struct read_params *rp, struct api_error *e)
{
    memset(rp, 0, sizeof *rp);
    rp->page_size = READ_PAGE_DEFAULT;
    for (size_t i = 0; i < q->n; i++) {
        const char *name = q->names[i], *value = q->values[i];
        char *end;

        if (!strcmp(name, "page_size")) {
            uint64_t v;
            if (!str_to_u64(value, READ_PAGE_MAX, &v) || v < 1) {
                return api_error_set(e, API_ERR_INVALID_QUERY, "page_size",
                                     "page_size must be 1..%d", READ_PAGE_MAX);
            }
            rp->page_size = v;
        } else if (!strcmp(name, "cursor")) {
            unsigned long long rev = strtoull(value, &end, 10);
            if (!rev || *end != ':' || !val_id(end + 1)) {
                return api_error_set(e, API_ERR_INVALID_QUERY, "cursor",
                                     "malformed cursor");
            }
            rp->rev = rev;
            snprintf(rp->after, sizeof rp->after, "%s", end + 1);
        } else if (rp->n_filters >= ARRAY_SIZE(rp->filters)) {
            return api_error_set(e, API_ERR_INVALID_QUERY, name,
                                 "too many filters");
        } else if (!strcmp(name, "tag")) {
            rp->filters[rp->n_filters].depth = 0;
            rp->filters[rp->n_filters++].value = value;
        } else if (read_resolve_field(t->fields, name,
                                      rp->filters[rp->n_filters].names,
                                      &rp->filters[rp->n_filters].depth)) {
            rp->filters[rp->n_filters++].value = value;
        } else {
            return api_error_set(e, API_ERR_INVALID_QUERY, name,
                                 "'%s' is not a filterable field of %s", name,
                                 t->resource_type);
        }
    }
    return API_OK;
}

static bool
read_matches(const struct read_params *rp, json_t *obj)
{
    for (size_t i = 0; i < rp->n_filters; i++) {
        bool ok =
            rp->filters[i].depth
                ? read_field_matches(obj, (char(*)[64])rp->filters[i].names,
                                     rp->filters[i].depth, rp->filters[i].value)
                : read_tag_matches(obj, rp->filters[i].value);
        if (!ok) {
            return false;
        }
    }
    return true;
}

void
read_list(struct api_ctx *ctx, const struct model_path *mp,
          const struct api_principal *who, const struct api_query *q,
          struct api_reply *r)
{
    const struct model_type *t = mp->types[mp->depth - 1];
    struct api_error e = {0};
    struct read_params rp;
    char prefix[MODEL_KEY_MAX], start[MODEL_KEY_MAX + VAL_ID_MAX + 1];
    char last[VAL_ID_MAX + 1], *end;
    bool skip_start;
    json_t *results = json_array();
    bool more = false;
    uint64_t rev;

    if (read_parse_params(t, q, &rp, &e)) {
        json_decref(results);
        api_reply_error(r, &e);
        return;
    }
    /* The parent must exist. */
    if (mp->depth > 1) {
        struct store_kv kv;
        model_key(mp, mp->depth - 1, prefix);
        if (store_get(ctx->store, prefix, rp.rev, &kv)) {
            json_decref(results);
            api_error_set(&e, API_ERR_PARENT_NOT_FOUND, NULL, NULL);
            api_reply_error(r, &e);
            return;
        }
        store_kv_clear(&kv);
    }
    model_collection_prefix(mp, prefix);
    end = store_prefix_end(prefix);
    snprintf(start, sizeof start, "%s%s", prefix, rp.after);
    skip_start = rp.after[0] != '\0';
    rev = rp.rev;
    last[0] = '\0';

    for (;;) {
        size_t batch = MAX(rp.page_size + 1, (size_t)64), n;
        struct store_kv *kvs;
        int error =
            store_range(ctx->store, start, end, rev, batch, &kvs, &n, &rev);
        if (error) {
            json_decref(results);
            free(end);
            api_error_set(
                &e, error == ERANGE ? API_ERR_COMPACTED : API_ERR_UNAVAILABLE,
                "cursor", NULL);
            api_reply_error(r, &e);
            return;
        }
        for (size_t i = 0; i < n && !more; i++) {
            struct model_path omp;
            json_t *obj;

            if (skip_start && !strcmp(kvs[i].key, start)) {
                continue; /* already returned */
            }
            if (!model_key_parse(kvs[i].key, &omp) ||
                (t->kind == MODEL_PROJECT &&
                 !api_principal_has_project(who, omp.ids[0]))) {
                continue;
            }
            obj = json_loadb(kvs[i].value, kvs[i].value_len, 0, NULL);
            if (obj && read_matches(&rp, obj)) {
                if (json_array_size(results) >= rp.page_size) {
                    more = true;
                } else {
                    model_decorate(&omp, obj, kvs[i].mod_rev);
                    json_array_append(results, obj);
                    snprintf(last, sizeof last, "%s", omp.ids[omp.depth - 1]);
                }
            }
            json_decref(obj);
        }
        if (n) {
            snprintf(start, sizeof start, "%s", kvs[n - 1].key);
            skip_start = true;
        }
        store_kvs_free(kvs, n);
        if (more || n < batch) {
            break;
        }
    }
    free(end);

    r->status = 200;
    r->revision = rev;
    r->body = json_pack("{s:o, s:I, s:I}", "results", results, "result_count",
                        (json_int_t)json_array_size(results), "_revision",
                        (json_int_t)rev);
    if (more) {
        char cursor[VAL_ID_MAX + 32];
        snprintf(cursor, sizeof cursor, "%" PRIu64 ":%s", rev, last);
        json_object_set_new(r->body, "cursor", json_string(cursor));
    }
}
