/* Writes as store transactions (see api-write.h).
 *
 * The transaction callbacks here run on the store's committer thread,
 * serialized with every other write, and see the store as their own
 * earlier writes left it.  They report API errors through 'w->err' and
 * return EINVAL so that the store rolls everything back.  Index keys
 * (references, VNIs, MACs; see model.h) are maintained in the same
 * transaction as the objects they index. */
#include "api/api-write.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-audit.h"
#include "api/api-auth.h"
#include "api/ipam.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

/* Errors raised inside a transaction abort it with this store error. */
#define WRITE_ABORT EINVAL

struct api_write *
write_new(struct api_ctx *ctx, enum write_kind kind,
          const struct model_path *mp, json_t *body, struct api_principal *who)
{
    struct api_write *w = xcalloc(1, sizeof *w);

    w->ctx = ctx;
    w->kind = kind;
    if (mp) {
        w->mp = *mp;
    }
    w->body = body;
    w->who = *who;
    memset(who, 0, sizeof *who);
    return w;
}

void
write_free(struct api_write *w)
{
    if (w) {
        json_decref(w->body);
        json_decref(w->reply.body);
        json_decref(w->deletes);
        api_error_clear(&w->err);
        api_principal_clear(&w->who);
        free(w);
    }
}

/* ---- Preparation (caller's thread). ---- */

static bool
write_is_child_collection(int kind, const char *name)
{
    for (const struct model_type *const *t = model_children(kind); *t; t++) {
        if (!strcmp((*t)->collection, name)) {
            return true;
        }
    }
    return false;
}

/* Names of the child collections of 'kind' (at most 7), for
 * model_validate()'s skip list. */
static void
write_child_names(int kind, const char *names[8])
{
    size_t n = 0;
    for (const struct model_type *const *t = model_children(kind); *t && n < 7;
         t++) {
        names[n++] = (*t)->collection;
    }
    names[n] = NULL;
}

static enum api_err
write_authorize_path(struct api_write *w, const struct model_path *mp,
                     enum api_method method, struct api_error *e)
{
    char path[MODEL_KEY_MAX];

    if (auth_authorize(&w->who, method, AUTH_OBJECTS, mp, e)) {
        model_api_path(mp, mp->depth, path);
        api_fmt(e->message, sizeof e->message, "token may not %s %s",
                api_method_name(method), path);
        api_utf8_trim(e->message);
    }
    return e->code;
}

/* Checks a subtree PATCH body at 'mp' (an object, or the root). */
static enum api_err
write_check_tree(struct api_write *w, const struct model_path *mp, json_t *node,
                 const char *prefix, struct api_error *e)
{
    int kind = mp->depth ? (int)mp->types[mp->depth - 1]->kind : -1;
    const char *children[8];
    const char *key;
    json_t *v;
    char name[256];

    if (!json_is_object(node)) {
        return api_error_set(e, API_ERR_NOT_AN_OBJECT, prefix,
                             "'%s' must be a JSON object",
                             *prefix ? prefix : "body");
    }
    if (++w->n_objects > w->ctx->max_subtree_objects) {
        return api_error_set(e, API_ERR_TOO_MANY, prefix,
                             "a PATCH may touch at most %zu objects",
                             w->ctx->max_subtree_objects);
    }
    write_child_names(kind, children);
    if (mp->depth) {
        if (model_validate(mp->types[mp->depth - 1], node, false,
                           mp->ids[mp->depth - 1], prefix, children, e) ||
            write_authorize_path(w, mp, API_PATCH, e)) {
            return e->code;
        }
    } else {
        json_object_foreach(node, key, v)
        {
            if (!write_is_child_collection(-1, key)) {
                return api_error_set(e, API_ERR_UNKNOWN_FIELD, key,
                                     "unknown field '%s' (the root has "
                                     "only 'projects', 'hosts' and "
                                     "'settings')",
                                     key);
            }
        }
    }
    for (const struct model_type *const *t = model_children(kind); *t; t++) {
        json_t *coll = json_object_get(node, (*t)->collection);
        const char *id;
        json_t *child;

        if (!coll) {
            continue;
        }
        api_fmt(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "",
                (*t)->collection);
        if (!json_is_object(coll)) {
            return api_error_set(e, API_ERR_WRONG_TYPE, name,
                                 "'%s' must be an object mapping ids to "
                                 "objects (or null to delete)",
                                 name);
        }
        json_object_foreach(coll, id, child)
        {
            struct model_path cmp = *mp;
            char cname[256];

            api_fmt(cname, sizeof cname, "%s.%s", name, id);
            if (!val_id(id)) {
                return api_error_set(e, API_ERR_BAD_FORMAT, cname,
                                     "'%s': invalid id", cname);
            }
            if ((*t)->only_id && strcmp(id, (*t)->only_id)) {
                return api_error_set(e, API_ERR_BAD_FORMAT, cname,
                                     "'%s': the only %s id is '%s'", cname,
                                     (*t)->resource_type, (*t)->only_id);
            }
            cmp.types[cmp.depth] = *t;
            snprintf(cmp.ids[cmp.depth], sizeof cmp.ids[0], "%s", id);
            cmp.depth++;
            cmp.collection = false;
            if (json_is_null(child)) {
                if (write_authorize_path(w, &cmp, API_DELETE, e)) {
                    return e->code;
                }
                continue;
            }
            if (write_check_tree(w, &cmp, child, cname, e)) {
                return e->code;
            }
        }
    }
    return API_OK;
}

static enum api_err
write_prepare_token(struct api_write *w, struct api_error *e)
{
    const char *name, *role;
    json_t *projects = NULL, *v;
    enum api_role r;
    const char *key;
    size_t i;

    if (!json_is_object(w->body)) {
        return api_error_set(e, API_ERR_NOT_AN_OBJECT, NULL, NULL);
    }
    json_object_foreach(w->body, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "role") &&
            strcmp(key, "projects")) {
            return api_error_set(e, API_ERR_UNKNOWN_FIELD, key,
                                 "unknown field '%s'", key);
        }
    }
    v = json_object_get(w->body, "name");
    if (!v) {
        return api_error_set(e, API_ERR_MISSING_FIELD, "name",
                             "'name' is required");
    }
    name = json_string_value(v);
    if (!name || !val_printable(name) || !*name || strlen(name) > 64) {
        return api_error_set(e, API_ERR_BAD_FORMAT, "name",
                             "'name' must be 1-64 printable characters");
    }
    v = json_object_get(w->body, "role");
    if (!v) {
        return api_error_set(e, API_ERR_MISSING_FIELD, "role",
                             "'role' is required");
    }
    role = json_string_value(v);
    if (!role || !auth_role_from_string(role, &r)) {
        return api_error_set(e, API_ERR_BAD_FORMAT, "role",
                             "'role' must be admin, project-admin or "
                             "auditor");
    }
    projects = json_object_get(w->body, "projects");
    if (r == API_ROLE_PROJECT_ADMIN && !projects) {
        return api_error_set(e, API_ERR_MISSING_FIELD, "projects",
                             "a project-admin token needs 'projects'");
    }
    if (projects && (!json_is_array(projects) || r != API_ROLE_PROJECT_ADMIN ||
                     json_array_size(projects) > 100)) {
        return api_error_set(e, API_ERR_WRONG_TYPE, "projects",
                             "'projects' must be an array of at most 100 "
                             "project ids, for project-admin tokens only");
    }
    json_array_foreach(projects, i, v)
    {
        if (!json_is_string(v) || !val_id(json_string_value(v))) {
            return api_error_set(e, API_ERR_BAD_FORMAT, "projects",
                                 "'projects[%zu]' is not a valid id", i);
        }
    }
    return API_OK;
}

enum api_err
write_prepare(struct api_write *w, struct api_error *e)
{
    const struct model_type *t =
        w->mp.depth ? w->mp.types[w->mp.depth - 1] : NULL;
    const char *children[8];
    json_t *rev;

    /* The router only builds valid combinations; refuse the rest anyway. */
    if (((w->kind == WRITE_PUT || w->kind == WRITE_DELETE) &&
         (!t || w->mp.collection)) ||
        (w->kind == WRITE_CREATE && (!t || !w->mp.collection)) ||
        (w->kind == WRITE_PATCH && w->mp.collection)) {
        return api_error_set(e, API_ERR_METHOD_NOT_ALLOWED, NULL, NULL);
    }
    switch (w->kind) {
    case WRITE_TOKEN_CREATE:
        return write_prepare_token(w, e);
    case WRITE_TOKEN_DELETE:
    case WRITE_DELETE:
        if (w->body) {
            return api_error_set(e, API_ERR_BAD_JSON, NULL,
                                 "DELETE takes no body");
        }
        return API_OK;
    case WRITE_CREATE: {
        json_t *id = json_object_get(w->body, "id");
        if (!json_is_object(w->body)) {
            return api_error_set(e, API_ERR_NOT_AN_OBJECT, NULL, NULL);
        }
        if (!id) {
            return api_error_set(e, API_ERR_MISSING_FIELD, "id",
                                 "'id' is required to create an object");
        }
        if (!json_is_string(id) || !val_id(json_string_value(id))) {
            return api_error_set(e, API_ERR_BAD_FORMAT, "id",
                                 "'id' must be 1-%d characters of letters, "
                                 "digits, '_', '.', '-'",
                                 VAL_ID_MAX);
        }
        if (t->only_id && strcmp(json_string_value(id), t->only_id)) {
            return api_error_set(e, API_ERR_BAD_FORMAT, "id",
                                 "the only %s id is '%s'", t->resource_type,
                                 t->only_id);
        }
        snprintf(w->mp.ids[w->mp.depth - 1], sizeof w->mp.ids[0], "%s",
                 json_string_value(id));
        w->mp.collection = false;
        if (write_authorize_path(w, &w->mp, API_POST, e)) {
            return e->code;
        }
    }
        /* fall through */
    case WRITE_PUT:
        write_child_names((int)t->kind, children);
        if (!json_is_object(w->body)) {
            return api_error_set(e, API_ERR_NOT_AN_OBJECT, NULL, NULL);
        }
        for (size_t i = 0; children[i]; i++) {
            if (json_object_get(w->body, children[i])) {
                return api_error_set(e, API_ERR_UNKNOWN_FIELD, children[i],
                                     "'%s' may only be given in a PATCH",
                                     children[i]);
            }
        }
        if (model_validate(t, w->body, true, w->mp.ids[w->mp.depth - 1], "",
                           NULL, e)) {
            return e->code;
        }
        break;
    case WRITE_PATCH:
        if (write_check_tree(w, &w->mp, w->body, "", e)) {
            return e->code;
        }
        break;
    }
    rev = json_object_get(w->body, "_revision");
    if (!w->if_match && rev) {
        w->if_match = (uint64_t)json_integer_value(rev);
    }
    return API_OK;
}

/* ---- Transactions (committer thread). ---- */

/* Per-run state of one transaction attempt. */
struct write_run {
    struct api_write *w;   /* the request */
    struct store_txn *txn; /* the transaction */
    int64_t now;           /* timestamp for this write */
    json_t *parent;        /* parent object of the object being written */
};

static enum api_err write_fail(struct write_run *run, enum api_err code,
                               const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum api_err
write_fail(struct write_run *run, enum api_err code, const char *field,
           const char *fmt, ...)
{
    struct api_error *e = &run->w->err;
    char msg[512];
    va_list args;

    if (e->code) {
        return e->code;
    }
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    return api_error_set(e, code, field, "%s", msg);
}

/* Store errors other than the expected ones become INTERNAL. */
static enum api_err
write_store_error(struct write_run *run, int error)
{
    return write_fail(run, API_ERR_UNAVAILABLE, NULL, "store error: %s",
                      strerror(error));
}

static json_t *
write_get_json(struct write_run *run, const char *key, uint64_t *rev,
               int *errorp)
{
    struct store_kv kv;
    json_t *obj = NULL;
    int error = store_txn_get(run->txn, key, &kv);

    if (!error) {
        obj = json_loadb(kv.value, kv.value_len, 0, NULL);
        if (rev) {
            *rev = kv.mod_rev;
        }
        error = obj ? 0 : EIO;
    }
    store_kv_clear(&kv);
    if (errorp) {
        *errorp = error;
    }
    return obj;
}

static int
write_put_json(struct write_run *run, const char *key, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    int error = text ? store_txn_put(run->txn, key, text, strlen(text)) : EIO;
    free(text);
    return error;
}

static int
write_put_string(struct write_run *run, const char *key, const char *value)
{
    return store_txn_put(run->txn, key, value, strlen(value));
}

static bool
write_exists(struct write_run *run, const char *key, char *value, size_t size)
{
    struct store_kv kv;
    bool exists = !store_txn_get(run->txn, key, &kv);

    if (exists && value) {
        snprintf(value, size, "%s", kv.value);
    }
    store_kv_clear(&kv);
    return exists;
}

/* RFC 7386 JSON merge patch; returns a new reference. */
static json_t *
write_merge_patch(json_t *target, json_t *patch)
{
    const char *key;
    json_t *v, *result;

    if (!json_is_object(patch)) {
        return json_deep_copy(patch);
    }
    result = json_is_object(target) ? json_deep_copy(target) : json_object();
    json_object_foreach(patch, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(result, key);
        } else {
            json_object_set_new(
                result, key,
                write_merge_patch(json_object_get(result, key), v));
        }
    }
    return result;
}

/* The project id of 'self' (a path without the prefix) into 'buf', ""
 * outside projects. */
static void
write_project_of(const char *self, char *buf, size_t size)
{
    const char *p = "/projects/";

    buf[0] = '\0';
    if (!strncmp(self, p, strlen(p))) {
        self += strlen(p);
        api_fmt(buf, size, "%.*s", (int)strcspn(self, "/"), self);
    }
}

/* Appends to 'refs' (as paths without the prefix) the MF_REF values of
 * 'obj' whose schema is 'fields': references that are top-level fields or
 * arrays of them. */
static void
write_ref_fields(const struct model_field *fields, json_t *obj, json_t *refs)
{
    size_t plen = strlen(MODEL_API_PREFIX), i;
    json_t *v;

    for (const struct model_field *f = fields; f->name; f++) {
        json_t *value = json_object_get(obj, f->name);
        bool array = f->kind == MF_ARRAY && f->sub[0].kind == MF_REF;

        if (!value || (f->kind != MF_REF && !array)) {
            continue;
        }
        json_array_foreach(array ? value : NULL, i, v)
        {
            const char *m = json_string_value(v);
            if (m && strlen(m) > plen) {
                json_array_append_new(refs, json_string(m + plen));
            }
        }
        if (!array && json_string_length(value) > plen) {
            json_array_append_new(refs,
                                  json_string(json_string_value(value) + plen));
        }
    }
}

/* Paths (without "/api/v1") that 'obj' of type 'kind' at 'self'
 * references: its MF_REF fields, a port's host, the segments of a group's
 * segment conditions. */
static json_t *
write_refs_of(enum model_kind kind, const char *self, json_t *obj)
{
    json_t *refs = json_array(), *crit, *cond;
    char path[MODEL_KEY_MAX], project[VAL_ID_MAX + 1];
    size_t i, j;

    if (!obj) {
        return refs;
    }
    write_ref_fields(model_type(kind)->fields, obj, refs);
    if (kind == MODEL_SEGMENT && json_object_get(obj, "router")) {
        write_project_of(self, project, sizeof project);
        api_fmt(path, sizeof path, "/projects/%s/routers/%s", project,
                json_string_value(json_object_get(obj, "router")));
        json_array_append_new(refs, json_string(path));
    } else if (kind == MODEL_PORT) {
        const char *host = json_string_value(
            json_object_get(json_object_get(obj, "attachment"), "host"));
        if (host) {
            api_fmt(path, sizeof path, "/hosts/%s", host);
            json_array_append_new(refs, json_string(path));
        }
    } else if (kind == MODEL_GROUP) {
        write_project_of(self, project, sizeof project);
        json_array_foreach(json_object_get(obj, "criteria"), i, crit)
        {
            json_array_foreach(json_object_get(crit, "conditions"), j, cond)
            {
                const char *key =
                    json_string_value(json_object_get(cond, "key"));
                if (key && !strcmp(key, "segment")) {
                    api_fmt(path, sizeof path, "/projects/%s/segments/%s",
                            project,
                            json_string_value(json_object_get(cond, "value")));
                    json_array_append_new(refs, json_string(path));
                }
            }
        }
    }
    return refs;
}

static bool
write_array_has(json_t *array, json_t *value)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v)
    {
        if (json_equal(v, value)) {
            return true;
        }
    }
    return false;
}

/* Replaces the reference index entries of 'self' (a path without the
 * prefix): from those of 'old' to those of 'new'. */
static int
write_update_refs(struct write_run *run, enum model_kind kind, const char *self,
                  json_t *old, json_t *new)
{
    json_t *old_refs = write_refs_of(kind, self, old);
    json_t *new_refs = write_refs_of(kind, self, new);
    char key[2 * MODEL_KEY_MAX + 8];
    json_t *v;
    size_t i;
    int error = 0;

    json_array_foreach(old_refs, i, v)
    {
        if (!error && !write_array_has(new_refs, v)) {
            api_fmt(key, sizeof key, "r/%s|%s", json_string_value(v), self);
            error = store_txn_delete(run->txn, key);
            error = error == ENOENT ? 0 : error;
        }
    }
    json_array_foreach(new_refs, i, v)
    {
        if (!error && !write_array_has(old_refs, v)) {
            api_fmt(key, sizeof key, "r/%s|%s", json_string_value(v), self);
            error = write_put_string(run, key, "");
        }
    }
    json_decref(old_refs);
    json_decref(new_refs);
    return error;
}

/* Segment: VNI ownership and allocation, subnet overlap. */
static enum api_err
write_check_segment(struct write_run *run, const char *self, json_t *old,
                    json_t *obj, const char *prefix)
{
    json_int_t old_vni = json_integer_value(json_object_get(old, "vni"));
    json_t *vni_j = json_object_get(obj, "vni");
    json_t *subnets = json_object_get(obj, "subnets");
    char key[32], owner[MODEL_KEY_MAX], field[300];
    json_int_t vni;
    int error;

    api_fmt(field, sizeof field, "%s%svni", prefix, *prefix ? "." : "");
    if (vni_j) {
        vni = json_integer_value(vni_j);
    } else if (old_vni) {
        vni = old_vni; /* an allocated VNI sticks */
    } else {
        /* Allocate from the pool, starting at the cursor. */
        uint32_t lo = run->w->ctx->vni_min, hi = run->w->ctx->vni_max;
        uint64_t span = (uint64_t)hi - lo + 1, tries;
        char cursor[32];
        uint32_t next = lo;

        if (write_exists(run, "x/vni-next", cursor, sizeof cursor)) {
            next = (uint32_t)strtoul(cursor, NULL, 10);
            next = next < lo || next > hi ? lo : next;
        }
        for (tries = 0; tries < span; tries++) {
            api_fmt(key, sizeof key, "v/%08" PRIu32, next);
            if (!write_exists(run, key, NULL, 0)) {
                break;
            }
            next = next == hi ? lo : next + 1;
        }
        if (tries == span) {
            return write_fail(run, API_ERR_VNI_EXHAUSTED, field,
                              "no free VNI in the pool %" PRIu32 "-%" PRIu32,
                              lo, hi);
        }
        vni = next;
        api_fmt(cursor, sizeof cursor, "%" PRIu32, next == hi ? lo : next + 1);
        if ((error = write_put_string(run, "x/vni-next", cursor))) {
            return write_store_error(run, error);
        }
    }
    json_object_set_new(obj, "vni", json_integer(vni));
    if (vni != old_vni) {
        api_fmt(key, sizeof key, "v/%08" JSON_INTEGER_FORMAT, vni);
        if (write_exists(run, key, owner, sizeof owner)) {
            return write_fail(run, API_ERR_VNI_IN_USE, field,
                              "VNI %" JSON_INTEGER_FORMAT
                              " is used by segment %s%s",
                              vni, MODEL_API_PREFIX, owner);
        }
        if ((error = write_put_string(run, key, self))) {
            return write_store_error(run, error);
        }
        if (old_vni) {
            api_fmt(key, sizeof key, "v/%08" JSON_INTEGER_FORMAT, old_vni);
            error = store_txn_delete(run->txn, key);
            if (error && error != ENOENT) {
                return write_store_error(run, error);
            }
        }
    }

    /* The router is one of the project's. */
    const char *router = json_string_value(json_object_get(obj, "router"));
    if (router) {
        char project[VAL_ID_MAX + 1], rkey[MODEL_KEY_MAX];
        write_project_of(self, project, sizeof project);
        api_fmt(rkey, sizeof rkey, "o2/projects/%s/routers/%s", project,
                router);
        if (!write_exists(run, rkey, NULL, 0)) {
            api_fmt(field, sizeof field, "%s%srouter", prefix,
                    *prefix ? "." : "");
            return write_fail(run, API_ERR_INVALID_REFERENCE, field,
                              "'%s': project '%s' has no router '%s'", field,
                              project, router);
        }
    }

    /* No two subnets may overlap. */
    size_t n = json_array_size(subnets);
    for (size_t i = 0; i < n; i++) {
        struct val_ip a, b;
        unsigned alen, blen;
        val_cidr_parse(json_string_value(json_object_get(
                           json_array_get(subnets, i), "gateway_address")),
                       &a, &alen);
        for (size_t j = 0; j < i; j++) {
            val_cidr_parse(json_string_value(json_object_get(
                               json_array_get(subnets, j), "gateway_address")),
                           &b, &blen);
            if (val_prefix_overlap(&a, alen, &b, blen)) {
                api_fmt(field, sizeof field, "%s%ssubnets[%zu]", prefix,
                        *prefix ? "." : "", i);
                return write_fail(run, API_ERR_DUPLICATE, field,
                                  "subnets[%zu] overlaps subnets[%zu]", i, j);
            }
        }
    }
    return API_OK;
}

/* The IP index key of 'ip' (any text form) on segment 'seg_path': the
 * address in canonical form, so "2001:db8::1" and "2001:DB8:0::1" meet. */
static void
write_ip_key(char *key, size_t size, const char *seg_path, const char *ip)
{
    char text[INET6_ADDRSTRLEN] = "";
    struct val_ip a;

    if (ip && val_ip_parse(ip, &a)) {
        inet_ntop(a.family, a.bytes, text, sizeof text);
    }
    api_fmt(key, size, "i/%s|%s", seg_path, text);
}

/* True if 'ips' (a JSON array of addresses) holds 'ip' in any text form. */
static bool
write_ips_have(json_t *ips, const char *seg_path, const char *key)
{
    char other[2 * MODEL_KEY_MAX];
    size_t i;
    json_t *v;

    json_array_foreach(ips, i, v)
    {
        write_ip_key(other, sizeof other, seg_path, json_string_value(v));
        if (!strcmp(other, key)) {
            return true;
        }
    }
    return false;
}

/* Port: claims the port's IPs in the segment's IP index ("i/" keys, see
 * model.h) and releases those it no longer has.  An IP held by another
 * port of the segment is a 409 naming that port. */
/* All addresses of the port 'port' (may be NULL): its ip_addresses, then
 * its dynamic_addresses (a new reference). */
static json_t *
write_port_ips(json_t *port)
{
    json_t *all = json_array();

    json_array_extend(all, json_object_get(port, "ip_addresses"));
    json_array_extend(all, json_object_get(port, "dynamic_addresses"));
    return all;
}

static enum api_err
write_claim_ips(struct write_run *run, const char *self, const char *seg_path,
                json_t *old, json_t *obj, const char *prefix)
{
    json_t *old_ips = write_port_ips(old);
    json_t *new_ips = write_port_ips(obj), *v;
    size_t n_static = json_array_size(json_object_get(obj, "ip_addresses"));
    char key[2 * MODEL_KEY_MAX], owner[MODEL_KEY_MAX], field[300];
    enum api_err err = API_OK;
    size_t i;
    int error = 0;

    json_array_foreach(new_ips, i, v)
    {
        write_ip_key(key, sizeof key, seg_path, json_string_value(v));
        if (write_ips_have(old_ips, seg_path, key)) {
            continue;
        }
        if (write_exists(run, key, owner, sizeof owner) &&
            strcmp(owner, self)) {
            if (i < n_static) {
                api_fmt(field, sizeof field, "%s%sip_addresses[%zu]", prefix,
                        *prefix ? "." : "", i);
            } else {
                api_fmt(field, sizeof field, "%s%sdynamic_addresses[%zu]",
                        prefix, *prefix ? "." : "", i - n_static);
            }
            if (write_fail(run, API_ERR_IP_IN_USE, field,
                           "IP %s is used by port %s%s", json_string_value(v),
                           MODEL_API_PREFIX, owner) == API_ERR_IP_IN_USE &&
                !run->w->err.related) {
                run->w->err.related =
                    json_pack("[s+]", MODEL_API_PREFIX, owner);
            }
            err = run->w->err.code;
            goto out;
        }
        if ((error = write_put_string(run, key, self))) {
            goto out;
        }
    }
    json_array_foreach(old_ips, i, v)
    {
        write_ip_key(key, sizeof key, seg_path, json_string_value(v));
        if (!write_ips_have(new_ips, seg_path, key)) {
            error = store_txn_delete(run->txn, key);
            if (error && error != ENOENT) {
                goto out;
            }
            error = 0;
        }
    }
out:
    json_decref(old_ips);
    json_decref(new_ips);
    return error ? write_store_error(run, error) : err;
}

/* ---- Dynamic addresses (docs/routing.md, "Model"). ---- */

/* The assignment of one port's dynamic addresses. */
struct write_ipam {
    struct write_run *run; /* the transaction */
    const char *self;      /* the port (path without the prefix) */
    const char *seg_path;  /* its segment */
    uint8_t mac[6];        /* its MAC */
    json_t *used;          /* canonical IP -> owner, of the segment; lazy */
    struct val_ip gw;      /* gateway of the subnet at hand */
    json_t *bindings;      /* static_bindings of the subnet at hand */
};

/* The segment's IP index as canonical IP -> owning port. */
static json_t *
write_used_ips(struct write_ipam *ia)
{
    char start[2 * MODEL_KEY_MAX], *end;
    struct store_kv *kvs;
    size_t n, plen;

    if (ia->used) {
        return ia->used;
    }
    ia->used = json_object();
    api_fmt(start, sizeof start, "i/%s|", ia->seg_path);
    plen = strlen(start);
    end = store_prefix_end(start);
    if (!store_txn_range(ia->run->txn, start, end, 0, &kvs, &n)) {
        for (size_t i = 0; i < n; i++) {
            json_object_set_new(ia->used, kvs[i].key + plen,
                                json_stringn(kvs[i].value, kvs[i].value_len));
        }
        store_kvs_free(kvs, n);
    }
    free(end);
    return ia->used;
}

/* The static binding of 'mac' in 'bindings' (parsed into 'ip'). */
static bool
write_binding_of(json_t *bindings, const uint8_t mac[6], struct val_ip *ip)
{
    json_t *b;
    size_t i;

    json_array_foreach(bindings, i, b)
    {
        uint8_t m[6];
        if (val_mac_parse(json_string_value(json_object_get(b, "mac_address")),
                          m) &&
            !memcmp(m, mac, 6) &&
            val_ip_parse(json_string_value(json_object_get(b, "ip_address")),
                         ip)) {
            return true;
        }
    }
    return false;
}

/* ipam_taken_fn: the gateway, another port's address, another MAC's
 * static binding. */
static bool
write_ip_taken(void *ia_, const struct val_ip *ip)
{
    struct write_ipam *ia = ia_;
    char text[INET6_ADDRSTRLEN];
    const char *owner;
    json_t *b;
    size_t i;

    if (!memcmp(ip, &ia->gw, sizeof *ip)) {
        return true;
    }
    inet_ntop(ip->family, ip->bytes, text, sizeof text);
    owner = json_string_value(json_object_get(write_used_ips(ia), text));
    if (owner && strcmp(owner, ia->self)) {
        return true;
    }
    json_array_foreach(ia->bindings, i, b)
    {
        struct val_ip bip;
        uint8_t m[6];
        if (val_ip_parse(json_string_value(json_object_get(b, "ip_address")),
                         &bip) &&
            !memcmp(&bip, ip, sizeof bip) &&
            val_mac_parse(json_string_value(json_object_get(b, "mac_address")),
                          m) &&
            memcmp(m, ia->mac, 6)) {
            return true;
        }
    }
    return false;
}

/* The address 'old' (the port's dynamic addresses before this write)
 * held in the prefix 'net'/'plen' if it may stay: still in 'ranges',
 * not in 'excluded' and not taken. */
static bool
write_keep_dynamic(struct write_ipam *ia, json_t *old, const struct val_ip *net,
                   unsigned plen, json_t *ranges, json_t *excluded,
                   struct val_ip *out)
{
    json_t *v;
    size_t i;

    json_array_foreach(old, i, v)
    {
        if (val_ip_parse(json_string_value(v), out) &&
            val_ip_in_prefix(out, net, plen)) {
            return ipam_in_ranges(ranges, out) &&
                   !ipam_in_ranges(excluded, out) && !write_ip_taken(ia, out);
        }
    }
    return false;
}

/* Sets the port's "dynamic_addresses" (absent when none): per subnet of
 * its segment without one of the port's static addresses, the DHCP
 * static binding of its MAC, else the address it had if still valid,
 * else the lowest free one of the pool; SLAAC subnets (/64, slaac or
 * dhcpv6_stateless) always add the EUI-64 address, static or not.  409 ADDRESS_POOL_EXHAUSTED if a pool has nothing left. */
static enum api_err
write_assign_dynamic(struct write_run *run, const char *self,
                     const char *seg_path, json_t *old, json_t *obj,
                     const char *prefix)
{
    struct write_ipam ia = {.run = run, .self = self, .seg_path = seg_path};
    json_t *statics = json_object_get(obj, "ip_addresses");
    json_t *old_dyn = json_object_get(old, "dynamic_addresses");
    json_t *dyn = json_array(), *subnet, *v;
    char text[INET6_ADDRSTRLEN], field[300];
    size_t i, j;

    val_mac_parse(json_string_value(json_object_get(obj, "mac_address")),
                  ia.mac);
    json_array_foreach(json_object_get(run->parent, "subnets"), i, subnet)
    {
        const char *gw_s =
            json_string_value(json_object_get(subnet, "gateway_address"));
        const char *mode =
            json_string_value(json_object_get(subnet, "ipv6_address_mode"));
        json_t *dhcp = json_object_get(subnet, "dhcp");
        json_t *ranges = NULL, *excluded = NULL;
        bool has_static = false, found = false;
        struct val_ip net, ip;
        unsigned plen;

        if (!gw_s || !val_cidr_parse(gw_s, &ia.gw, &plen)) {
            continue;
        }
        net = ia.gw;
        json_array_foreach(statics, j, v)
        {
            struct val_ip s;
            has_static |= val_ip_parse(json_string_value(v), &s) &&
                          val_ip_in_prefix(&s, &net, plen);
        }
        mode = mode ? mode : MODEL_DEFAULT_IPV6_MODE;
        ia.bindings = NULL;
        if (net.family == AF_INET6 && plen == 64 &&
            (!strcmp(mode, "slaac") || !strcmp(mode, "dhcpv6_stateless"))) {
            /* The VM configures its EUI-64 address from the router
             * advertisement whether or not it also has a static one, so
             * the network must know it either way. */
            bool same = false;
            ipam_eui64(&net, ia.mac, &ip);
            json_array_foreach(statics, j, v)
            {
                struct val_ip s;
                same |= val_ip_parse(json_string_value(v), &s) &&
                        !memcmp(s.bytes, ip.bytes, 16);
            }
            if (!same) {
                inet_ntop(ip.family, ip.bytes, text, sizeof text);
                json_array_append_new(dyn, json_string(text));
            }
            continue;
        }
        if (has_static) {
            continue;
        } else if (net.family == AF_INET && dhcp) {
            ranges = json_object_get(dhcp, "ranges");
            excluded = json_object_get(dhcp, "excluded_ranges");
            ia.bindings = json_object_get(dhcp, "static_bindings");
            found = write_binding_of(ia.bindings, ia.mac, &ip);
        } else if (net.family == AF_INET6 && !strcmp(mode, "dhcpv6_stateful")) {
            ranges =
                json_object_get(json_object_get(subnet, "dhcpv6"), "ranges");
        } else {
            continue;
        }
        found = found || write_keep_dynamic(&ia, old_dyn, &net, plen, ranges,
                                            excluded, &ip);
        found = found || ipam_lowest_free(ranges, excluded, net.family,
                                          write_ip_taken, &ia, &ip);
        if (!found && json_array_size(ranges)) {
            json_decref(dyn);
            json_decref(ia.used);
            api_fmt(field, sizeof field, "%s%sdynamic_addresses", prefix,
                    *prefix ? "." : "");
            return write_fail(run, API_ERR_ADDRESS_POOL_EXHAUSTED, field,
                              "no free address left in the %s ranges of "
                              "subnet %s of segment %s%s; widen the ranges "
                              "or give the port a static address",
                              net.family == AF_INET ? "dhcp" : "dhcpv6", gw_s,
                              MODEL_API_PREFIX, seg_path);
        }
        if (found) {
            inet_ntop(ip.family, ip.bytes, text, sizeof text);
            json_array_append_new(dyn, json_string(text));
        }
    }
    json_decref(ia.used);
    if (json_array_size(dyn)) {
        json_object_set_new(obj, "dynamic_addresses", dyn);
    } else {
        json_decref(dyn);
        json_object_del(obj, "dynamic_addresses");
    }
    return API_OK;
}

/* Port: IPs inside the segment's subnets and unique on the segment, MAC
 * unique on the segment (generated if absent), attachment host exists,
 * dynamic addresses assigned. */
static enum api_err
write_check_port(struct write_run *run, const char *self, const char *seg_path,
                 json_t *old, json_t *obj, const char *prefix)
{
    json_t *subnets = json_object_get(run->parent, "subnets"), *v;
    const char *old_mac =
        json_string_value(json_object_get(old, "mac_address"));
    const char *host = json_string_value(
        json_object_get(json_object_get(obj, "attachment"), "host"));
    char field[300], key[2 * MODEL_KEY_MAX], mac[18], owner[MODEL_KEY_MAX];
    size_t i;
    int error;

    json_array_foreach(json_object_get(obj, "ip_addresses"), i, v)
    {
        struct val_ip ip, net;
        unsigned plen;
        bool inside = json_array_size(subnets) == 0;
        size_t j;
        json_t *s;

        val_ip_parse(json_string_value(v), &ip);
        json_array_foreach(subnets, j, s)
        {
            val_cidr_parse(
                json_string_value(json_object_get(s, "gateway_address")), &net,
                &plen);
            inside |= val_ip_in_prefix(&ip, &net, plen);
        }
        if (!inside) {
            api_fmt(field, sizeof field, "%s%sip_addresses[%zu]", prefix,
                    *prefix ? "." : "", i);
            return write_fail(run, API_ERR_OUT_OF_RANGE, field,
                              "%s is in no subnet of segment %s%s",
                              json_string_value(v), MODEL_API_PREFIX, seg_path);
        }
    }

    if (host) {
        api_fmt(key, sizeof key, "o1/hosts/%s", host);
        if (!write_exists(run, key, NULL, 0)) {
            api_fmt(field, sizeof field, "%s%sattachment.host", prefix,
                    *prefix ? "." : "");
            return write_fail(run, API_ERR_INVALID_REFERENCE, field,
                              "host '%s' does not exist", host);
        }
    }

    /* MAC: keep, take the given one, or generate a locally administered
     * one from the port's path. */
    api_fmt(field, sizeof field, "%s%smac_address", prefix, *prefix ? "." : "");
    if (!json_object_get(obj, "mac_address")) {
        if (old_mac) {
            json_object_set_new(obj, "mac_address", json_string(old_mac));
        } else {
            for (uint32_t salt = 0;; salt++) {
                uint32_t h = hash_bytes(self, strlen(self), salt);
                uint32_t h2 = hash_u64(h, salt + 1);
                api_fmt(mac, sizeof mac, "02:%02x:%02x:%02x:%02x:%02x",
                        h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff,
                        (h >> 24) & 0xff, h2 & 0xff);
                api_fmt(key, sizeof key, "m/%s|%s", seg_path, mac);
                if (!write_exists(run, key, NULL, 0) || salt > 64) {
                    break;
                }
            }
            json_object_set_new(obj, "mac_address", json_string(mac));
        }
    }
    /* Normalize to lower case, then claim it. */
    api_fmt(mac, sizeof mac, "%s",
            json_string_value(json_object_get(obj, "mac_address")));
    for (char *p = mac; *p; p++) {
        *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    }
    json_object_set_new(obj, "mac_address", json_string(mac));
    if (!old_mac || strcasecmp(old_mac, mac)) {
        api_fmt(key, sizeof key, "m/%s|%s", seg_path, mac);
        if (write_exists(run, key, owner, sizeof owner)) {
            return write_fail(run, API_ERR_MAC_IN_USE, field,
                              "MAC %s is used by port %s%s", mac,
                              MODEL_API_PREFIX, owner);
        }
        if ((error = write_put_string(run, key, self))) {
            return write_store_error(run, error);
        }
        if (old_mac) {
            api_fmt(key, sizeof key, "m/%s|%s", seg_path, old_mac);
            error = store_txn_delete(run->txn, key);
            if (error && error != ENOENT) {
                return write_store_error(run, error);
            }
        }
    }

    /* Addresses: dynamic ones once the MAC is known, then all claimed. */
    if (write_assign_dynamic(run, self, seg_path, old, obj, prefix)) {
        return run->w->err.code;
    }
    return write_claim_ips(run, self, seg_path, old, obj, prefix);
}

/* Every MF_REF field of 'obj' (the object at 'mp', type 't') names an
 * existing object of its project other than itself; the schema has
 * checked the kinds already. */
static enum api_err
write_check_refs(struct write_run *run, const struct model_path *mp,
                 const struct model_type *t, json_t *obj, const char *prefix)
{
    char self[MODEL_KEY_MAX];

    model_api_path(mp, mp->depth, self);
    for (const struct model_field *f = t->fields; f->name; f++) {
        bool array = f->kind == MF_ARRAY && f->sub[0].kind == MF_REF;
        json_t *value = json_object_get(obj, f->name), *v;
        size_t i, n;

        if (!value || (f->kind != MF_REF && !array)) {
            continue;
        }
        n = array ? json_array_size(value) : 1;
        for (i = 0; i < n; i++) {
            const char *m =
                json_string_value(array ? json_array_get(value, i) : value);
            struct model_path rmp;
            char key[MODEL_KEY_MAX], field[300];

            v = array ? json_array_get(value, i) : value;
            if (array) {
                api_fmt(field, sizeof field, "%s%s%s[%zu]", prefix,
                        *prefix ? "." : "", f->name, i);
            } else {
                api_fmt(field, sizeof field, "%s%s%s", prefix,
                        *prefix ? "." : "", f->name);
            }
            if (!m ||
                model_parse_path(m + strlen(MODEL_API_PREFIX), &rmp, NULL) ||
                rmp.collection) {
                return write_fail(run, API_ERR_BAD_FORMAT, field,
                                  "'%s' is not an object path", field);
            }
            if (rmp.types[0]->kind != MODEL_PROJECT ||
                strcmp(rmp.ids[0], mp->ids[0])) {
                return write_fail(run, API_ERR_INVALID_REFERENCE, field,
                                  "'%s': %s is not in project '%s'", field, m,
                                  mp->ids[0]);
            }
            if (!strcmp(m, self)) {
                return write_fail(run, API_ERR_INVALID_REFERENCE, field,
                                  "'%s': a %s cannot reference itself", field,
                                  t->resource_type);
            }
            model_key(&rmp, rmp.depth, key);
            if (!write_exists(run, key, NULL, 0)) {
                return write_fail(run, API_ERR_INVALID_REFERENCE, field,
                                  "'%s': %s does not exist", field,
                                  json_string_value(v));
            }
        }
    }
    return API_OK;
}

/* True if 'path' (an API path) names a group. */
static bool
write_is_group_path(const char *path)
{
    struct model_path mp;

    return path && !strncmp(path, MODEL_API_PREFIX, strlen(MODEL_API_PREFIX)) &&
           !model_parse_path(path + strlen(MODEL_API_PREFIX), &mp, NULL) &&
           !mp.collection && mp.types[mp.depth - 1]->kind == MODEL_GROUP;
}

#define WRITE_MAX_NESTED_GROUPS 100000 /* groups a cycle check may visit */

/* Checks that none of the group members in 'members' (API paths) contains
 * the group 'self' (an API path), directly or through other groups: one
 * breadth-first walk over the stored groups.  Returns -1 if none does,
 * -2 if the walk exceeded WRITE_MAX_NESTED_GROUPS, else the index of the
 * first member that does, with 'via' set to the group whose members name
 * 'self'. */
static long
write_group_cycle(struct write_run *run, json_t *members, const char *self,
                  char *via, size_t via_size)
{
    json_t *todo = json_array(), *seen = json_object(), *v;
    size_t plen = strlen(MODEL_API_PREFIX), i, next = 0;
    long found = -1;

    /* 'todo' holds [path, index of the member it was reached from]. */
    json_array_foreach(members, i, v)
    {
        const char *m = json_string_value(v);
        if (write_is_group_path(m) && !json_object_get(seen, m)) {
            json_object_set_new(seen, m, json_true());
            json_array_append_new(todo, json_pack("[s, I]", m, (json_int_t)i));
        }
    }
    while (found == -1 && next < json_array_size(todo)) {
        json_t *item = json_array_get(todo, next++), *g;
        const char *cur = json_string_value(json_array_get(item, 0));
        long origin = (long)json_integer_value(json_array_get(item, 1));
        char key[MODEL_KEY_MAX];

        api_fmt(key, sizeof key, "o2%s", cur + plen);
        g = write_get_json(run, key, NULL, NULL);
        json_array_foreach(json_object_get(g, "members"), i, v)
        {
            const char *m = json_string_value(v);
            if (!write_is_group_path(m)) {
                continue;
            }
            if (!strcmp(m, self)) {
                api_fmt(via, via_size, "%s", cur);
                found = origin;
                break;
            }
            if (json_object_size(seen) >= WRITE_MAX_NESTED_GROUPS) {
                found = -2;
                break;
            }
            if (!json_object_get(seen, m)) {
                json_object_set_new(seen, m, json_true());
                json_array_append_new(
                    todo, json_pack("[s, I]", m, (json_int_t)origin));
            }
        }
        json_decref(g);
    }
    json_decref(todo);
    json_decref(seen);
    return found;
}

/* Group: member groups do not contain the group again, segment
 * conditions name existing segments of the project; MACs are stored in
 * lower case (as a port's). */
static enum api_err
write_check_group(struct write_run *run, const struct model_path *gmp,
                  json_t *obj, const char *prefix)
{
    json_t *crit, *cond, *members;
    json_t *macs = json_object_get(obj, "mac_addresses");
    char self[MODEL_KEY_MAX], field[300], via[MODEL_KEY_MAX];
    size_t i, j;
    long cycle;

    model_api_path(gmp, gmp->depth, self);
    members = json_object_get(obj, "members");
    cycle = write_group_cycle(run, members, self, via, sizeof via);
    if (cycle == -2) {
        api_fmt(field, sizeof field, "%s%smembers", prefix, *prefix ? "." : "");
        return write_fail(run, API_ERR_TOO_MANY, field,
                          "'%s': more than %d nested groups to check for "
                          "cycles",
                          field, WRITE_MAX_NESTED_GROUPS);
    }
    if (cycle >= 0) {
        const char *m = json_string_value(json_array_get(members, cycle));
        bool direct = !strcmp(via, m);
        api_fmt(field, sizeof field, "%s%smembers[%ld]", prefix,
                *prefix ? "." : "", cycle);
        return write_fail(run, API_ERR_INVALID_REFERENCE, field,
                          "'%s': %s contains this group%s%s; a group may "
                          "not contain itself",
                          field, m, direct ? "" : " through ",
                          direct ? "" : via);
    }
    json_array_foreach(json_object_get(obj, "criteria"), i, crit)
    {
        json_array_foreach(json_object_get(crit, "conditions"), j, cond)
        {
            const char *value =
                json_string_value(json_object_get(cond, "value"));
            char key[MODEL_KEY_MAX];

            const char *ckey = json_string_value(json_object_get(cond, "key"));

            if (!ckey || strcmp(ckey, "segment")) {
                continue;
            }
            api_fmt(key, sizeof key, "o2/projects/%s/segments/%s", gmp->ids[0],
                    value);
            if (!write_exists(run, key, NULL, 0)) {
                api_fmt(field, sizeof field,
                        "%s%scriteria[%zu].conditions[%zu].value", prefix,
                        *prefix ? "." : "", i, j);
                return write_fail(run, API_ERR_INVALID_REFERENCE, field,
                                  "'%s': project '%s' has no segment '%s'",
                                  field, gmp->ids[0], value);
            }
        }
    }
    for (i = 0; i < json_array_size(macs); i++) {
        char mac[18];
        api_fmt(mac, sizeof mac, "%s",
                json_string_value(json_array_get(macs, i)));
        for (char *p = mac; *p; p++) {
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        }
        json_array_set_new(macs, i, json_string(mac));
    }
    return API_OK;
}

/* MF_NOINPUT fields of 'obj' (the body merged onto 'cur') still hold the
 * stored value, or are absent. */
static enum api_err
write_check_noinput(struct write_run *run, const struct model_type *t,
                    json_t *cur, json_t *obj, const char *prefix)
{
    char field[300];

    for (const struct model_field *f = t->fields; f->name; f++) {
        json_t *v = json_object_get(obj, f->name);

        if ((f->flags & MF_NOINPUT) && v && !json_is_null(v) &&
            !json_equal(v, json_object_get(cur, f->name))) {
            api_fmt(field, sizeof field, "%s%s%s", prefix, *prefix ? "." : "",
                    f->name);
            return write_fail(run, API_ERR_READ_ONLY_FIELD, field,
                              "'%s' is read-only: weftd assigns it", field);
        }
    }
    return API_OK;
}

/* Creates, replaces or merges one object.  'input' has been checked by
 * write_prepare(); 'merge' selects merge-patch semantics. */
static enum api_err
write_put_one(struct write_run *run, const struct model_path *mp, json_t *input,
              bool merge, bool create_only, uint64_t expect, const char *prefix,
              bool *created)
{
    const struct model_type *t = mp->types[mp->depth - 1];
    char key[MODEL_KEY_MAX], self[MODEL_KEY_MAX], parent_key[MODEL_KEY_MAX];
    const char *children[8];
    json_t *cur, *obj, *ct;
    uint64_t cur_rev = 0;
    int error;

    model_key(mp, mp->depth, key);
    model_api_path(mp, mp->depth, self);
    memmove(self, self + strlen(MODEL_API_PREFIX),
            strlen(self) - strlen(MODEL_API_PREFIX) + 1);

    json_decref(run->parent);
    run->parent = NULL;
    if (mp->depth > 1) {
        model_key(mp, mp->depth - 1, parent_key);
        run->parent = write_get_json(run, parent_key, NULL, &error);
        if (!run->parent) {
            char ppath[MODEL_KEY_MAX];
            model_api_path(mp, mp->depth - 1, ppath);
            return write_fail(run, API_ERR_PARENT_NOT_FOUND, prefix,
                              "parent %s does not exist", ppath);
        }
    }
    cur = write_get_json(run, key, &cur_rev, &error);
    if (error && error != ENOENT) {
        return write_store_error(run, error);
    }
    if (create_only && cur) {
        json_decref(cur);
        return write_fail(run, API_ERR_ALREADY_EXISTS, prefix,
                          "%s%s already exists", MODEL_API_PREFIX, self);
    }
    if (expect && (!cur || cur_rev != expect)) {
        json_decref(cur);
        return write_fail(run, API_ERR_REVISION_MISMATCH, prefix,
                          "%s%s is at revision %" PRIu64 ", not %" PRIu64,
                          MODEL_API_PREFIX, self, cur_rev, expect);
    }
    *created = !cur;

    obj = merge && cur ? write_merge_patch(cur, input)
                       : write_merge_patch(NULL, input);
    write_child_names((int)t->kind, children);
    for (size_t i = 0; children[i]; i++) {
        json_object_del(obj, children[i]);
    }
    if (write_check_noinput(run, t, cur, obj, prefix)) {
        goto out;
    }
    model_strip(t, obj);
    json_object_del(obj, "_create_time");
    json_object_del(obj, "_last_modified");
    if (model_validate(t, obj, true, mp->ids[mp->depth - 1], prefix, NULL,
                       &run->w->err)) {
        goto out;
    }
    if (write_check_refs(run, mp, t, obj, prefix)) {
        goto out;
    }
    switch (t->kind) {
    case MODEL_SEGMENT:
        write_check_segment(run, self, cur, obj, prefix);
        break;
    case MODEL_PORT: {
        char seg[MODEL_KEY_MAX];
        model_api_path(mp, mp->depth - 1, seg);
        write_check_port(run, self, seg + strlen(MODEL_API_PREFIX), cur, obj,
                         prefix);
        break;
    }
    case MODEL_GROUP:
        write_check_group(run, mp, obj, prefix);
        break;
    case MODEL_HOST: {
        json_t *status = json_object_get(cur, "status");
        json_object_set_new(obj, "status",
                            status ? json_incref(status)
                                   : json_string("unknown"));
        break;
    }
    case MODEL_PROJECT:
    case MODEL_SERVICE:
    case MODEL_POLICY:
    case MODEL_RULE:
    case MODEL_SETTINGS:
    case MODEL_ROUTER:
    case MODEL_ROUTE:
    case MODEL_N_KINDS:
        break;
    }
    if (run->w->err.code) {
        goto out;
    }
    if ((error = write_update_refs(run, t->kind, self, cur, obj))) {
        write_store_error(run, error);
        goto out;
    }
    ct = json_object_get(cur, "_create_time");
    json_object_set_new(obj, "_create_time",
                        ct ? json_incref(ct) : json_integer(run->now));
    json_object_set_new(obj, "_last_modified", json_integer(run->now));
    if ((error = write_put_json(run, key, obj))) {
        write_store_error(run, error);
    }
out:
    json_decref(cur);
    json_decref(obj);
    return run->w->err.code;
}

/* Collects up to 10 keys in [start, end) into 'e->related' as API paths;
 * 'strip' is the length of the key prefix to drop, 'split' a separator
 * after which the path starts (or 0). */
static size_t
write_collect_related(struct write_run *run, const char *start, const char *end,
                      size_t strip, char split)
{
    struct store_kv *kvs;
    size_t n;

    if (store_txn_range(run->txn, start, end, 10, &kvs, &n) || !n) {
        return 0;
    }
    if (!run->w->err.related) {
        run->w->err.related = json_array();
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = kvs[i].key + strip;
        char path[MODEL_KEY_MAX];
        if (split && strchr(p, split)) {
            p = strchr(p, split) + 1;
        }
        api_fmt(path, sizeof path, "%s%s", MODEL_API_PREFIX, p);
        json_array_append_new(run->w->err.related, json_string(path));
    }
    store_kvs_free(kvs, n);
    return n;
}

static enum api_err
write_delete_one(struct write_run *run, const struct model_path *mp,
                 uint64_t expect, const char *prefix)
{
    const struct model_type *t = mp->types[mp->depth - 1];
    char key[MODEL_KEY_MAX], self[MODEL_KEY_MAX], api_path[MODEL_KEY_MAX];
    char start[2 * MODEL_KEY_MAX], *end;
    json_t *cur;
    uint64_t cur_rev = 0;
    size_t found = 0;
    int error;

    model_key(mp, mp->depth, key);
    model_api_path(mp, mp->depth, api_path);
    api_fmt(self, sizeof self, "%s", api_path + strlen(MODEL_API_PREFIX));
    cur = write_get_json(run, key, &cur_rev, &error);
    if (!cur) {
        return error == ENOENT ? write_fail(run, API_ERR_NOT_FOUND, prefix,
                                            "%s does not exist", api_path)
                               : write_store_error(run, error);
    }
    if (expect && cur_rev != expect) {
        json_decref(cur);
        return write_fail(run, API_ERR_REVISION_MISMATCH, prefix,
                          "%s is at revision %" PRIu64 ", not %" PRIu64,
                          api_path, cur_rev, expect);
    }
    if (t->kind == MODEL_PROJECT && !strcmp(mp->ids[0], "default")) {
        json_decref(cur);
        return write_fail(run, API_ERR_PROTECTED, prefix,
                          "the default project cannot be deleted");
    }

    /* Children first: the caller must delete them explicitly. */
    for (const struct model_type *const *c = model_children((int)t->kind); *c;
         c++) {
        api_fmt(start, sizeof start, "o%d%s/%s/", mp->depth + 1, self,
                (*c)->collection);
        end = store_prefix_end(start);
        found += write_collect_related(run, start, end, 2, 0);
        free(end);
    }
    if (found) {
        json_decref(cur);
        return write_fail(run, API_ERR_HAS_CHILDREN, prefix,
                          "%s still has %s%zu child object(s); delete them "
                          "first (see 'related')",
                          api_path, found >= 10 ? "at least " : "", found);
    }
    api_fmt(start, sizeof start, "r/%s|", self);
    end = store_prefix_end(start);
    found = write_collect_related(run, start, end, 2, '|');
    free(end);
    if (found) {
        char names[400] = "";
        size_t i;
        json_t *v;
        json_array_foreach(run->w->err.related, i, v)
        {
            if (strlen(names) + json_string_length(v) + 3 < sizeof names) {
                strcat(names, i ? ", " : "");
                strcat(names, json_string_value(v));
            }
        }
        json_decref(cur);
        return write_fail(run, API_ERR_REFERENCED, prefix,
                          "%s is referenced by %s", api_path, names);
    }

    /* Release what the object holds in the indexes. */
    if (t->kind == MODEL_SEGMENT) {
        api_fmt(start, sizeof start, "v/%08" JSON_INTEGER_FORMAT,
                json_integer_value(json_object_get(cur, "vni")));
        store_txn_delete(run->txn, start);
    } else if (t->kind == MODEL_PORT) {
        char seg[MODEL_KEY_MAX];
        model_api_path(mp, mp->depth - 1, seg);
        api_fmt(start, sizeof start, "m/%s|%s", seg + strlen(MODEL_API_PREFIX),
                json_string_value(json_object_get(cur, "mac_address")));
        store_txn_delete(run->txn, start);
        write_claim_ips(run, self, seg + strlen(MODEL_API_PREFIX), cur, NULL,
                        prefix);
    }
    error = write_update_refs(run, t->kind, self, cur, NULL);
    if (!error) {
        error = store_txn_delete(run->txn, key);
    }
    json_decref(cur);
    return error ? write_store_error(run, error) : API_OK;
}

/* Pass 1 of a subtree PATCH: upserts in document order (parents before
 * children; hosts before projects, segments before groups), collecting
 * deletes for pass 2. */
static enum api_err
write_apply_tree(struct write_run *run, const struct model_path *mp,
                 json_t *node, const char *prefix, uint64_t expect)
{
    int kind = mp->depth ? (int)mp->types[mp->depth - 1]->kind : -1;
    const struct model_type *const *kids = model_children(kind);
    const struct model_type *order[8];
    size_t n_order = 0;
    char name[256];

    if (mp->depth) {
        const char *key;
        json_t *v;
        bool has_own = false, created;
        char okey[MODEL_KEY_MAX];

        json_object_foreach(node, key, v)
        {
            if (!write_is_child_collection(kind, key) &&
                !model_is_server_field(key)) {
                has_own = true;
            }
        }
        model_key(mp, mp->depth, okey);
        if (has_own || expect || !write_exists(run, okey, NULL, 0)) {
            json_t *own = json_deep_copy(node);
            enum api_err err = write_put_one(run, mp, own, true, false, expect,
                                             prefix, &created);
            json_decref(own);
            if (err) {
                return err;
            }
        }
    }
    /* Hosts before projects so ports may reference new hosts. */
    for (size_t i = 0; kids[i]; i++) {
        if (kids[i]->kind == MODEL_HOST) {
            order[n_order++] = kids[i];
        }
    }
    for (size_t i = 0; kids[i]; i++) {
        if (kids[i]->kind != MODEL_HOST) {
            order[n_order++] = kids[i];
        }
    }
    for (size_t k = 0; k < n_order; k++) {
        json_t *coll = json_object_get(node, order[k]->collection), *child;
        const char *id;

        api_fmt(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "",
                order[k]->collection);
        json_object_foreach(coll, id, child)
        {
            struct model_path cmp = *mp;
            char cname[256];

            api_fmt(cname, sizeof cname, "%s.%s", name, id);
            cmp.types[cmp.depth] = order[k];
            snprintf(cmp.ids[cmp.depth], sizeof cmp.ids[0], "%s", id);
            cmp.depth++;
            if (json_is_null(child)) {
                char key[MODEL_KEY_MAX];
                model_key(&cmp, cmp.depth, key);
                json_array_append_new(
                    run->w->deletes,
                    json_pack("{s:s, s:s}", "key", key, "field", cname));
                continue;
            }
            json_t *rev = json_object_get(child, "_revision");
            if (write_apply_tree(run, &cmp, child, cname,
                                 (uint64_t)json_integer_value(rev))) {
                return run->w->err.code;
            }
        }
    }
    return API_OK;
}

static void
write_reply_object(struct write_run *run, const struct model_path *mp,
                   int status)
{
    char key[MODEL_KEY_MAX];
    uint64_t rev = 0;
    json_t *obj;

    model_key(mp, mp->depth, key);
    obj = write_get_json(run, key, &rev, NULL);
    if (obj) {
        model_decorate(mp, obj, rev);
    }
    run->w->reply.status = status;
    run->w->reply.body = obj;
    run->w->reply.etag = true;
}

static int
write_txn(struct store_txn *txn, void *w_)
{
    struct api_write *w = w_;
    struct write_run run = {w, txn, api_now_ms(), NULL};
    char path[MODEL_KEY_MAX];
    bool created = false;
    int error;

    /* A backend may run us again: start from a clean slate. */
    api_error_clear(&w->err);
    json_decref(w->reply.body);
    memset(&w->reply, 0, sizeof w->reply);
    json_decref(w->deletes);
    w->deletes = json_array();
    model_api_path(&w->mp, w->mp.depth, path);

    switch (w->kind) {
    case WRITE_PUT:
    case WRITE_CREATE:
        if (!write_put_one(&run, &w->mp, w->body, false,
                           w->kind == WRITE_CREATE, w->if_match, "",
                           &created)) {
            write_reply_object(&run, &w->mp, created ? 201 : 200);
        }
        break;
    case WRITE_PATCH:
        if (!write_apply_tree(&run, &w->mp, w->body, "", w->if_match)) {
            /* Pass 2: deletes, children before parents. */
            for (size_t i = json_array_size(w->deletes); i-- > 0;) {
                json_t *d = json_array_get(w->deletes, i);
                struct model_path dmp;
                if (model_key_parse(
                        json_string_value(json_object_get(d, "key")), &dmp) &&
                    write_delete_one(
                        &run, &dmp, 0,
                        json_string_value(json_object_get(d, "field")))) {
                    break;
                }
            }
        }
        if (!w->err.code) {
            if (w->mp.depth) {
                write_reply_object(&run, &w->mp, 200);
            } else {
                w->reply.status = 200;
                w->reply.body = json_pack("{s:I}", "_revision",
                                          (json_int_t)store_txn_revision(txn));
            }
        }
        break;
    case WRITE_DELETE:
        if (!write_delete_one(&run, &w->mp, w->if_match, "")) {
            w->reply.status = 204;
        }
        break;
    case WRITE_TOKEN_CREATE: {
        enum api_role role;
        char id[17];
        const char *name = json_string_value(json_object_get(w->body, "name"));
        json_t *projects = json_object_get(w->body, "projects");

        auth_role_from_string(
            json_string_value(json_object_get(w->body, "role")), &role);
        error = auth_txn_create_token(txn, name, role, projects, w->secret, id);
        if (error) {
            write_store_error(&run, error);
            break;
        }
        w->reply.status = 201;
        w->reply.body =
            json_pack("{s:s, s:s, s:s, s:s}", "id", id, "token", w->secret,
                      "name", name, "role", auth_role_name(role));
        if (projects) {
            json_object_set(w->reply.body, "projects", projects);
        }
        api_fmt(path, sizeof path, "%s/tokens/%s", MODEL_API_PREFIX, id);
        break;
    }
    case WRITE_TOKEN_DELETE:
        error = auth_txn_delete_token(txn, w->token_id);
        if (error) {
            write_fail(
                &run, error == ENOENT ? API_ERR_NOT_FOUND : API_ERR_UNAVAILABLE,
                NULL, "no token with id '%s'", w->token_id);
            break;
        }
        w->reply.status = 204;
        api_fmt(path, sizeof path, "%s/tokens/%s", MODEL_API_PREFIX,
                w->token_id);
        break;
    }
    json_decref(run.parent);

    if (!w->err.code) {
        error = audit_txn_record(
            txn, &w->who,
            api_method_name(w->kind == WRITE_CREATE  ? API_POST
                            : w->kind == WRITE_PUT   ? API_PUT
                            : w->kind == WRITE_PATCH ? API_PATCH
                            : w->kind == WRITE_DELETE ||
                                    w->kind == WRITE_TOKEN_DELETE
                                ? API_DELETE
                                : API_POST),
            path);
        if (error) {
            write_store_error(&run, error);
        }
    }
    return w->err.code ? WRITE_ABORT : 0;
}

static void
write_txn_done(void *w_, int error, uint64_t rev)
{
    struct api_write *w = w_;

    if (error) {
        if (!w->err.code) {
            api_error_set(&w->err, API_ERR_UNAVAILABLE, NULL,
                          "store commit failed: %s", strerror(error));
        }
        json_decref(w->reply.body);
        memset(&w->reply, 0, sizeof w->reply);
        api_reply_error(&w->reply, &w->err);
    } else {
        w->reply.revision = rev;
        if (w->reply.body && json_object_get(w->reply.body, "_revision") &&
            !w->mp.depth) {
            json_object_set_new(w->reply.body, "_revision",
                                json_integer((json_int_t)rev));
        }
    }
    w->done(w, w->done_aux);
}

void
write_submit(struct api_write *w, write_done_fn *done, void *aux)
{
    w->done = done;
    w->done_aux = aux;
    if (store_txn_submit(w->ctx->store, write_txn, w, write_txn_done, w)) {
        write_txn_done(w, ECANCELED, 0);
    }
}
