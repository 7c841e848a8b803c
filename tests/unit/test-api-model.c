/* Unit tests for the API's scalar checks (validate.h), paths and keys and
 * schema validation (model.h), and the error table (api-error.h). */
#include <string.h>

#include "api/api-error.h"
#include "api/model.h"
#include "api/validate.h"
#include "testlib.h"

TEST(ids)
{
    CHECK(val_id("web"));
    CHECK(val_id("a.b_c-d9"));
    CHECK(!val_id(""));
    CHECK(!val_id(".."));
    CHECK(!val_id(".hidden"));
    CHECK(!val_id("-x"));
    CHECK(!val_id("a/b"));
    CHECK(!val_id("a b"));
    CHECK(!val_id("\xc3\xa9"));
    char id[80];
    memset(id, 'a', 64);
    id[64] = '\0';
    CHECK(val_id(id));
    id[64] = 'a';
    id[65] = '\0';
    CHECK(!val_id(id));
}

TEST(addresses)
{
    struct val_ip ip, net;
    unsigned plen;
    uint8_t mac[6];

    CHECK(val_cidr_parse("10.1.1.1/24", &net, &plen) && plen == 24);
    CHECK(val_cidr_parse("fd00::1/64", &net, &plen) && plen == 64);
    CHECK(!val_cidr_parse("10.1.1.1/32", &net, &plen)); /* no hosts */
    CHECK(!val_cidr_parse("10.1.1.1/33", &net, &plen));
    CHECK(!val_cidr_parse("10.1.1/24", &net, &plen));
    CHECK(!val_cidr_parse("10.1.1.1/+4", &net, &plen));
    CHECK(!val_cidr_parse("10.1.1.1/", &net, &plen));
    CHECK(!val_cidr_parse("10.1.1.1", &net, &plen));
    CHECK(val_cidr_parse("10.1.1.1/24", &net, &plen));
    CHECK(val_ip_parse("10.1.1.200", &ip) && val_ip_in_prefix(&ip, &net, 24));
    CHECK(val_ip_parse("10.1.2.1", &ip) && !val_ip_in_prefix(&ip, &net, 24));
    CHECK(val_ip_parse("::1", &ip) && !val_ip_in_prefix(&ip, &net, 24));
    CHECK(!val_ip_parse("1.2.3.4.5", &ip));
    struct val_ip a, b;
    unsigned al, bl;
    val_cidr_parse("10.0.0.1/8", &a, &al);
    val_cidr_parse("10.2.0.1/16", &b, &bl);
    CHECK(val_prefix_overlap(&a, al, &b, bl));
    val_cidr_parse("11.2.0.1/16", &b, &bl);
    CHECK(!val_prefix_overlap(&a, al, &b, bl));
    CHECK(val_mac_parse("02:AB:cd:00:00:01", mac) && mac[1] == 0xab);
    CHECK(!val_mac_parse("01:00:5e:00:00:01", mac));
    CHECK(!val_mac_parse("00:00:00:00:00:00", mac));
    CHECK(!val_mac_parse("02:00:00:00:00:0g", mac));
    CHECK(!val_mac_parse("02:00:00:00:00:001", mac));
    CHECK(val_ifname("tap0") && !val_ifname("") && !val_ifname("a/b") &&
          !val_ifname("0123456789abcdef"));
    CHECK_EQ(val_utf8_len("h\xc3\xa9llo"), 5);
}

TEST(paths_and_keys)
{
    struct model_path mp, back;
    struct api_error e = {0};
    char key[MODEL_KEY_MAX], path[MODEL_KEY_MAX];

    CHECK_EQ(model_parse_path("/projects/p/segments/s/ports/x", &mp, &e),
             API_OK);
    CHECK_EQ(mp.depth, 3);
    CHECK(!mp.collection);
    model_key(&mp, 3, key);
    CHECK_STREQ(key, "o3/projects/p/segments/s/ports/x");
    model_api_path(&mp, 2, path);
    CHECK_STREQ(path, "/api/v1/projects/p/segments/s");
    CHECK(model_key_parse(key, &back));
    CHECK_STREQ(back.ids[2], "x");
    CHECK_EQ(model_parse_path("/projects/p/segments", &mp, &e), API_OK);
    CHECK(mp.collection);
    model_collection_prefix(&mp, key);
    CHECK_STREQ(key, "o2/projects/p/segments/");
    CHECK_EQ(model_parse_path("", &mp, &e), API_OK);
    CHECK_EQ(mp.depth, 0);

    static const char *const bad_paths[] = {
        "/projects/../hosts",
        "/projects/./p",
        "//projects",
        "/projects/",
        "/projects/p%2Fsegments",
        "/projects/p/ports/x",
        "/hosts/h/ports",
        "/projects/p/segments/s/ports/x/more",
        "/widgets",
        "projects",
    };
    for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++) {
        struct api_error e2 = {0};
        CHECK(model_parse_path(bad_paths[i], &mp, &e2) != API_OK);
    }
    CHECK(!model_key_parse("r/hosts/h|x", &back));
    CHECK(!model_key_parse("o2/hosts/h", &back)); /* depth mismatch */
}

static enum api_err
validate_text(enum model_kind kind, const char *text, bool full,
              struct api_error *e)
{
    json_t *j = json_loads(text, 0, NULL);
    enum api_err err;

    memset(e, 0, sizeof *e);
    err = model_validate(model_type(kind), j, full, "x", "", NULL, e);
    json_decref(j);
    return err;
}

TEST(schema_validation)
{
    struct api_error e;

    CHECK_EQ(validate_text(MODEL_SEGMENT, "{\"vni\": 5}", true, &e), API_OK);
    CHECK_EQ(validate_text(MODEL_HOST, "{}", true, &e), API_ERR_MISSING_FIELD);
    CHECK_STREQ(e.field, "tunnel_endpoint");
    CHECK_EQ(validate_text(MODEL_HOST, "{}", false, &e), API_OK);
    CHECK_EQ(validate_text(MODEL_HOST, "{\"display_name\": null}", false, &e),
             API_OK);
    CHECK_EQ(validate_text(MODEL_PORT,
                           "{\"attachment\": {\"host\": \"h\", \"vif\": 1}}",
                           true, &e),
             API_ERR_WRONG_TYPE);
    CHECK_STREQ(e.field, "attachment.vif");
    CHECK_EQ(validate_text(MODEL_SEGMENT,
                           "{\"subnets\": [{\"gateway_address\": "
                           "\"10.0.0.1/8\"}, {\"gateway_address\": \"x\"}]}",
                           true, &e),
             API_ERR_BAD_FORMAT);
    CHECK_STREQ(e.field, "subnets[1].gateway_address");
    CHECK_EQ(validate_text(MODEL_SEGMENT, "{\"id\": \"y\"}", true, &e),
             API_ERR_ID_MISMATCH);
    CHECK_EQ(validate_text(MODEL_HOST,
                           "{\"tunnel_endpoint\": \"::1\", \"status\": "
                           "\"up\", \"_revision\": 3, \"path\": \"p\"}",
                           true, &e),
             API_OK); /* read-only and server fields are ignored */
    CHECK_EQ(validate_text(MODEL_GROUP,
                           "{\"members\": [\"/api/v1/projects/p/segments/s\","
                           " \"/api/v1/projects/p/segments/s\"]}",
                           true, &e),
             API_ERR_DUPLICATE);
    CHECK_STREQ(e.field, "members[1]");
}

static int n_rows;
static int codes[128];

static void
collect(void *aux, const char *name, int code, int status, const char *msg)
{
    (void)aux;
    (void)name;
    (void)msg;
    if (n_rows < 128) {
        codes[n_rows++] = code;
    }
    CHECK(status >= 400 && status < 600);
}

TEST(error_table)
{
    struct api_error e = {0};
    char text[600];
    json_t *j;

    api_error_foreach(collect, NULL);
    CHECK(n_rows > 20);
    for (int i = 0; i < n_rows; i++) {
        for (int k = 0; k < i; k++) {
            CHECK(codes[i] != codes[k]); /* codes are unique */
        }
    }
    /* A message truncated inside a UTF-8 character stays valid UTF-8. */
    memset(text, 'a', sizeof text);
    memcpy(text + 509, "\xe2\x82\xac\xe2\x82\xac", 6);
    text[515] = '\0';
    api_error_set(&e, API_ERR_BAD_FORMAT, "f", "%s", text);
    j = api_error_to_json(&e);
    CHECK(j != NULL);
    CHECK_STREQ(json_string_value(json_object_get(j, "error")), "BAD_FORMAT");
    CHECK_EQ(json_integer_value(json_object_get(j, "error_code")), 1007);
    CHECK(strlen(json_string_value(json_object_get(j, "message"))) < 512);
    json_decref(j);
    CHECK_EQ(api_error_status(API_ERR_REVISION_MISMATCH), 412);
    CHECK_EQ(api_error_status(API_ERR_REFERENCED), 409);
}
