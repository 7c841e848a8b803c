/* libFuzzer target for the API's request-validation path: the body parser
 * (api_parse_body), the path parser (model_parse_path), schema validation
 * of every object type in full and merge-patch mode (model_validate), and
 * the subtree-PATCH and PUT/POST preparation (write_prepare), none of which
 * touch the store.
 *
 * Input layout: byte 0 selects what to exercise, the rest is the body
 * (or the path). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-router.h"
#include "api/api-write.h"
#include "api/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_ctx ctx = {
        .vni_min = 1, .vni_max = 100, .max_subtree_objects = 10000};
    struct api_error e = {0};
    struct model_path mp;
    uint8_t sel;
    json_t *body;

    if (size < 1) {
        return 0;
    }
    sel = data[0];
    data++;
    size--;

    if (sel & 0x80) {
        /* Path parsing: the input is a URL path after /api/v1. */
        char *path = malloc(size + 1);
        memcpy(path, data, size);
        path[size] = '\0';
        if (!model_parse_path(path, &mp, &e) && mp.depth) {
            char key[MODEL_KEY_MAX], back[MODEL_KEY_MAX];
            struct model_path mp2;
            model_key(&mp, mp.depth, key);
            model_api_path(&mp, mp.depth, back);
            if (!mp.collection && !model_key_parse(key, &mp2)) {
                abort(); /* a valid object path must round-trip */
            }
        }
        api_error_clear(&e);
        free(path);
        return 0;
    }

    body = api_parse_body((const char *)data, size, &e);
    api_error_clear(&e);
    if (!body) {
        return 0;
    }
    const struct model_type *t =
        model_type((enum model_kind)(sel % MODEL_N_KINDS));
    model_validate(t, body, sel & 8, "x", "", NULL, &e);
    json_decref(api_error_to_json(&e));
    api_error_clear(&e);

    /* Preparation of a write of the body at a path of the chosen type. */
    static const char *const paths[] = {
        "",
        "/projects/p",
        "/projects/p/segments/s",
        "/projects/p/segments/s/ports/x",
        "/hosts/h",
        "/projects/p/groups",
        "/projects/p/security-policies/q",
        "/settings/firewall",
    };
    if (model_parse_path(paths[(sel >> 4) % (sizeof paths / sizeof *paths)],
                         &mp, NULL) == API_OK) {
        static const enum write_kind kinds[] = {
            WRITE_PATCH, WRITE_PUT, WRITE_CREATE, WRITE_TOKEN_CREATE};
        enum write_kind kind = kinds[(sel >> 1) & 3];
        struct api_principal who = {.role = (sel & 1) ? API_ROLE_ADMIN
                                                      : API_ROLE_PROJECT_ADMIN};
        struct api_write *w;

        if ((kind == WRITE_CREATE) != mp.collection && kind != WRITE_PATCH &&
            kind != WRITE_TOKEN_CREATE) {
            kind = WRITE_PATCH;
        }
        if (kind == WRITE_PATCH && mp.collection) {
            json_decref(body);
            return 0;
        }
        who.projects = json_pack("[s]", "p");
        w = write_new(&ctx, kind, &mp, json_incref(body), &who);
        write_prepare(w, &e);
        api_error_clear(&e);
        write_free(w);
    }
    json_decref(body);
    return 0;
}
