/* Unit tests for the API's scalar checks (validate.h), paths and keys,
 * schema validation and the group evaluation helpers (model.h), the
 * error table (api-error.h) and address management (ipam.h, against a
 * naive reference). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-error.h"
#include "api/ipam.h"
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

/* ---- Firewall model. ---- */

TEST(address_sets_and_ports)
{
    struct val_ip ip;
    unsigned plen, lo, hi;

    CHECK(val_addr_parse("10.1.1.5", &ip, &plen) && plen == 32);
    CHECK(val_addr_parse("fd00::1", &ip, &plen) && plen == 128);
    CHECK(val_addr_parse("10.1.0.0/16", &ip, &plen) && plen == 16);
    CHECK(val_addr_parse("10.1.1.5/32", &ip, &plen) && plen == 32);
    CHECK(val_addr_parse("0.0.0.0/0", &ip, &plen) && plen == 0);
    CHECK(val_addr_parse("fd00::/64", &ip, &plen) && plen == 64);
    CHECK(!val_addr_parse("10.1.1.1/24", &ip, &plen)); /* host bits */
    CHECK(!val_addr_parse("fd00::1/64", &ip, &plen));
    CHECK(!val_addr_parse("10.1.1.0/33", &ip, &plen));
    CHECK(!val_addr_parse("10.1.1.0/", &ip, &plen));
    CHECK(!val_addr_parse("10.1.1.0/08", &ip, &plen));
    CHECK(!val_addr_parse("10.1.1.0/-8", &ip, &plen));
    CHECK(!val_addr_parse("host", &ip, &plen));

    CHECK(val_port_range("80", &lo, &hi) && lo == 80 && hi == 80);
    CHECK(val_port_range("8000-8080", &lo, &hi) && lo == 8000 && hi == 8080);
    CHECK(val_port_range("1-65535", &lo, &hi) && lo == 1 && hi == 65535);
    CHECK(val_port_range("443-443", NULL, NULL));
    CHECK(!val_port_range("0", NULL, NULL));
    CHECK(!val_port_range("65536", NULL, NULL));
    CHECK(!val_port_range("100-99", NULL, NULL));
    CHECK(!val_port_range("080", NULL, NULL));
    CHECK(!val_port_range("80-", NULL, NULL));
    CHECK(!val_port_range("-80", NULL, NULL));
    CHECK(!val_port_range("1-2-3", NULL, NULL));
    CHECK(!val_port_range(" 80", NULL, NULL));
    CHECK(!val_port_range("", NULL, NULL));
    CHECK(!val_port_range("+80", NULL, NULL));
}

TEST(firewall_paths)
{
    struct model_path mp, back;
    struct api_error e = {0};
    char key[MODEL_KEY_MAX];

    CHECK_EQ(
        model_parse_path("/projects/p/security-policies/pol/rules/r1", &mp, &e),
        API_OK);
    CHECK_EQ(mp.depth, 3);
    CHECK_EQ(mp.types[2]->kind, MODEL_RULE);
    CHECK_STREQ(mp.types[2]->resource_type, "Rule");
    model_key(&mp, 3, key);
    CHECK_STREQ(key, "o3/projects/p/security-policies/pol/rules/r1");
    CHECK(model_key_parse(key, &back) && back.types[1]->kind == MODEL_POLICY);
    CHECK_EQ(model_parse_path("/projects/p/services/s", &mp, &e), API_OK);
    CHECK_EQ(mp.types[1]->kind, MODEL_SERVICE);
    CHECK_EQ(model_parse_path("/settings/firewall", &mp, &e), API_OK);
    CHECK_EQ(mp.types[0]->kind, MODEL_SETTINGS);
    CHECK_EQ(model_parse_path("/settings", &mp, &e), API_OK);
    CHECK(mp.collection);

    memset(&e, 0, sizeof e);
    CHECK_EQ(model_parse_path("/settings/other", &mp, &e),
             API_ERR_INVALID_PATH);
    CHECK(strstr(e.message, "/api/v1/settings/firewall") != NULL);
    memset(&e, 0, sizeof e);
    CHECK(model_parse_path("/projects/p/rules/r", &mp, &e) != API_OK);
    memset(&e, 0, sizeof e);
    CHECK(model_parse_path("/projects/p/services/s/rules/r", &mp, &e) !=
          API_OK);
}

/* Validates 'text' as 'kind' in full and expects 'code' at 'field'. */
static bool
rejects(enum model_kind kind, const char *text, enum api_err code,
        const char *field)
{
    struct api_error e;
    bool ok =
        validate_text(kind, text, true, &e) == code && !strcmp(e.field, field);
    if (!ok) {
        fprintf(stderr, "  %s: got %d '%s' (%s)\n", text, e.code, e.field,
                e.message);
    }
    return ok;
}

TEST(group_schema)
{
    struct api_error e;

    CHECK_EQ(
        validate_text(MODEL_GROUP,
                      "{\"members\": [\"/api/v1/projects/p/groups/other\", "
                      "\"/api/v1/projects/p/segments/s/ports/x\"], "
                      "\"ip_addresses\": [\"10.0.0.0/8\", \"fd00::1\"], "
                      "\"mac_addresses\": [\"02:00:00:00:00:01\"], "
                      "\"criteria\": [{\"conditions\": [{\"key\": \"tag\", "
                      "\"operator\": \"equals\", \"value\": \"tier|web\"}, "
                      "{\"key\": \"name\", \"operator\": \"ends_with\", "
                      "\"value\": \"-db\"}, {\"key\": \"segment\", "
                      "\"operator\": \"equals\", \"value\": \"web\"}]}]}",
                      true, &e),
        API_OK);
    CHECK(rejects(MODEL_GROUP, "{\"members\": [\"/api/v1/hosts/h\"]}",
                  API_ERR_INVALID_REFERENCE, "members[0]"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"members\": [\"/api/v1/projects/p/services/s\"]}",
                  API_ERR_INVALID_REFERENCE, "members[0]"));
    CHECK(rejects(MODEL_GROUP, "{\"ip_addresses\": [\"10.0.0.1/8\"]}",
                  API_ERR_BAD_FORMAT, "ip_addresses[0]"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"ip_addresses\": [\"10.0.0.1\", \"10.0.0.1/32\"]}",
                  API_ERR_DUPLICATE, "ip_addresses[1]"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"ip_addresses\": [\"fd00::5\", \"FD00:0::5\"]}",
                  API_ERR_DUPLICATE, "ip_addresses[1]"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"mac_addresses\": [\"02:aa:00:00:00:01\", "
                  "\"02:AA:00:00:00:01\"]}",
                  API_ERR_DUPLICATE, "mac_addresses[1]"));
    CHECK(rejects(MODEL_GROUP, "{\"mac_addresses\": [\"01:00:5e:00:00:01\"]}",
                  API_ERR_BAD_FORMAT, "mac_addresses[0]"));
    CHECK(rejects(MODEL_GROUP, "{\"criteria\": [{\"conditions\": []}]}",
                  API_ERR_OUT_OF_RANGE, "criteria[0].conditions"));
    CHECK(rejects(MODEL_GROUP, "{\"criteria\": [{}]}", API_ERR_MISSING_FIELD,
                  "criteria[0].conditions"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"criteria\": [{\"conditions\": [{\"key\": \"name\", "
                  "\"operator\": \"equals\", \"value\": \"a\"}, {\"key\": "
                  "\"tag\", \"operator\": \"contains\", \"value\": "
                  "\"x\"}]}]}",
                  API_ERR_BAD_FORMAT, "criteria[0].conditions[1].operator"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"criteria\": [{\"conditions\": [{\"key\": \"segment\", "
                  "\"operator\": \"starts_with\", \"value\": \"w\"}]}]}",
                  API_ERR_BAD_FORMAT, "criteria[0].conditions[0].operator"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"criteria\": [{\"conditions\": [{\"key\": \"segment\", "
                  "\"operator\": \"equals\", \"value\": \"a/b\"}]}]}",
                  API_ERR_BAD_FORMAT, "criteria[0].conditions[0].value"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"criteria\": [{\"conditions\": [{\"key\": \"tag\", "
                  "\"operator\": \"equals\", \"value\": \"|\"}]}]}",
                  API_ERR_BAD_FORMAT, "criteria[0].conditions[0].value"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"criteria\": [{\"conditions\": [{\"key\": \"name\", "
                  "\"operator\": \"matches\", \"value\": \"a\"}]}]}",
                  API_ERR_BAD_FORMAT, "criteria[0].conditions[0].operator"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"criteria\": [{\"conditions\": [{\"key\": \"name\", "
                  "\"value\": \"a\"}]}]}",
                  API_ERR_MISSING_FIELD, "criteria[0].conditions[0].operator"));
    CHECK(rejects(MODEL_GROUP,
                  "{\"criteria\": [{\"conditions\": [{\"key\": \"name\", "
                  "\"operator\": \"equals\", \"value\": \"\"}]}]}",
                  API_ERR_OUT_OF_RANGE, "criteria[0].conditions[0].value"));
    /* Partial bodies are checked too, with the prefix of a subtree. */
    memset(&e, 0, sizeof e);
    json_t *j = json_loads("{\"criteria\": [{\"conditions\": [{\"key\": "
                           "\"tag\", \"operator\": \"ends_with\", \"value\": "
                           "\"x\"}]}]}",
                           0, NULL);
    CHECK_EQ(model_validate(model_type(MODEL_GROUP), j, false, "g", "groups.g",
                            NULL, &e),
             API_ERR_BAD_FORMAT);
    CHECK_STREQ(e.field, "groups.g.criteria[0].conditions[0].operator");
    json_decref(j);
}

TEST(service_schema)
{
    struct api_error e;

    CHECK_EQ(validate_text(MODEL_SERVICE,
                           "{\"service_entries\": [{\"protocol\": \"TCP\", "
                           "\"destination_ports\": [\"80\", \"8000-8080\"]}, "
                           "{\"protocol\": \"UDP\"}, {\"protocol\": "
                           "\"ICMPv4\", \"icmp_type\": 8, \"icmp_code\": 0}, "
                           "{\"protocol\": \"ICMPv6\"}, {\"protocol\": "
                           "\"IP\", \"protocol_number\": 47}]}",
                           true, &e),
             API_OK);
    CHECK(
        rejects(MODEL_SERVICE, "{}", API_ERR_MISSING_FIELD, "service_entries"));
    CHECK(rejects(MODEL_SERVICE, "{\"service_entries\": []}",
                  API_ERR_OUT_OF_RANGE, "service_entries"));
    CHECK(rejects(MODEL_SERVICE, "{\"service_entries\": [{}]}",
                  API_ERR_MISSING_FIELD, "service_entries[0].protocol"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"SCTP\"}]}",
                  API_ERR_BAD_FORMAT, "service_entries[0].protocol"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"TCP\", "
                  "\"destination_ports\": [\"0\"]}]}",
                  API_ERR_BAD_FORMAT,
                  "service_entries[0].destination_ports[0]"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"TCP\", "
                  "\"destination_ports\": [80]}]}",
                  API_ERR_WRONG_TYPE,
                  "service_entries[0].destination_ports[0]"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"TCP\", "
                  "\"destination_ports\": [\"9-1\"]}]}",
                  API_ERR_BAD_FORMAT,
                  "service_entries[0].destination_ports[0]"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"TCP\", "
                  "\"destination_ports\": [\"1\", \"1\"]}]}",
                  API_ERR_DUPLICATE,
                  "service_entries[0].destination_ports[1]"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"TCP\", "
                  "\"destination_ports\": [\"1\", \"2\", \"3\", \"4\", "
                  "\"5\", \"6\", \"7\", \"8\", \"9\", \"10\", \"11\", "
                  "\"12\", \"13\", \"14\", \"15\", \"16\"]}]}",
                  API_ERR_TOO_MANY, "service_entries[0].destination_ports"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"ICMPv4\", "
                  "\"destination_ports\": [\"1\"]}]}",
                  API_ERR_BAD_FORMAT, "service_entries[0].destination_ports"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"UDP\"}, "
                  "{\"protocol\": \"TCP\", \"icmp_type\": 3}]}",
                  API_ERR_BAD_FORMAT, "service_entries[1].icmp_type"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"IP\", "
                  "\"protocol_number\": 6, \"icmp_code\": 3}]}",
                  API_ERR_BAD_FORMAT, "service_entries[0].icmp_code"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"ICMPv6\", "
                  "\"icmp_code\": 3}]}",
                  API_ERR_MISSING_FIELD, "service_entries[0].icmp_type"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"ICMPv4\", "
                  "\"icmp_type\": 256}]}",
                  API_ERR_OUT_OF_RANGE, "service_entries[0].icmp_type"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"IP\"}]}",
                  API_ERR_MISSING_FIELD, "service_entries[0].protocol_number"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"UDP\", "
                  "\"protocol_number\": 17}]}",
                  API_ERR_BAD_FORMAT, "service_entries[0].protocol_number"));
    CHECK(rejects(MODEL_SERVICE,
                  "{\"service_entries\": [{\"protocol\": \"UDP\"}, "
                  "{\"protocol\": \"UDP\"}]}",
                  API_ERR_DUPLICATE, "service_entries[1]"));
}

TEST(policy_rule_settings_schema)
{
    struct api_error e;

    CHECK_EQ(validate_text(MODEL_POLICY, "{}", true, &e), API_OK);
    CHECK_EQ(validate_text(MODEL_POLICY,
                           "{\"category\": \"emergency\", "
                           "\"sequence_number\": 999999999, \"scope\": "
                           "[\"/api/v1/projects/p/groups/g\"], "
                           "\"stateful\": false}",
                           true, &e),
             API_OK);
    CHECK(rejects(MODEL_POLICY, "{\"category\": \"urgent\"}",
                  API_ERR_BAD_FORMAT, "category"));
    CHECK(rejects(MODEL_POLICY, "{\"sequence_number\": 1000000000}",
                  API_ERR_OUT_OF_RANGE, "sequence_number"));
    CHECK(rejects(MODEL_POLICY, "{\"sequence_number\": -1}",
                  API_ERR_OUT_OF_RANGE, "sequence_number"));
    CHECK(rejects(MODEL_POLICY, "{\"stateful\": 1}", API_ERR_WRONG_TYPE,
                  "stateful"));
    CHECK(rejects(MODEL_POLICY, "{\"stateful\": \"true\"}", API_ERR_WRONG_TYPE,
                  "stateful"));
    CHECK(rejects(MODEL_POLICY,
                  "{\"scope\": [\"/api/v1/projects/p/segments/s\"]}",
                  API_ERR_INVALID_REFERENCE, "scope[0]"));
    CHECK(rejects(MODEL_POLICY, "{\"rules\": {}}", API_ERR_UNKNOWN_FIELD,
                  "rules"));

    CHECK(rejects(MODEL_RULE, "{}", API_ERR_MISSING_FIELD, "action"));
    CHECK_EQ(validate_text(MODEL_RULE,
                           "{\"action\": \"reject\", \"notes\": \"n\", "
                           "\"source_groups\": "
                           "[\"/api/v1/projects/p/groups/a\"], "
                           "\"destination_groups\": "
                           "[\"/api/v1/projects/p/groups/b\"], \"services\": "
                           "[\"/api/v1/projects/p/services/s\"], "
                           "\"service_entries\": [{\"protocol\": \"UDP\", "
                           "\"destination_ports\": [\"53\"]}], "
                           "\"direction\": \"in\", \"ip_protocol\": "
                           "\"ipv6\", \"logged\": true, \"disabled\": "
                           "false, \"sequence_number\": 7, \"scope\": []}",
                           true, &e),
             API_OK);
    CHECK(rejects(MODEL_RULE, "{\"action\": \"deny\"}", API_ERR_BAD_FORMAT,
                  "action"));
    CHECK(rejects(MODEL_RULE, "{\"action\": \"drop\", \"direction\": \"both\"}",
                  API_ERR_BAD_FORMAT, "direction"));
    CHECK(rejects(MODEL_RULE,
                  "{\"action\": \"drop\", \"ip_protocol\": \"ipv5\"}",
                  API_ERR_BAD_FORMAT, "ip_protocol"));
    CHECK(rejects(MODEL_RULE,
                  "{\"action\": \"drop\", \"logged\": null, "
                  "\"disabled\": 0}",
                  API_ERR_WRONG_TYPE, "disabled"));
    CHECK(rejects(MODEL_RULE,
                  "{\"action\": \"drop\", \"services\": "
                  "[\"/api/v1/projects/p/groups/g\"]}",
                  API_ERR_INVALID_REFERENCE, "services[0]"));
    CHECK(rejects(MODEL_RULE,
                  "{\"action\": \"drop\", \"source_groups\": "
                  "[\"/api/v1/projects/p/groups/g\", "
                  "\"/api/v1/projects/p/groups/g\"]}",
                  API_ERR_DUPLICATE, "source_groups[1]"));
    CHECK(rejects(MODEL_RULE,
                  "{\"action\": \"drop\", \"destination_groups\": "
                  "[\"groups/g\"]}",
                  API_ERR_BAD_FORMAT, "destination_groups[0]"));
    CHECK(rejects(MODEL_RULE,
                  "{\"action\": \"drop\", \"service_entries\": "
                  "[{\"protocol\": \"IP\"}]}",
                  API_ERR_MISSING_FIELD, "service_entries[0].protocol_number"));
    char notes[2100 + 40];
    snprintf(notes, sizeof notes, "{\"action\": \"drop\", \"notes\": \"%s\"}",
             "");
    size_t n = strlen("{\"action\": \"drop\", \"notes\": \"");
    memset(notes + n, 'x', 2049);
    strcpy(notes + n + 2049, "\"}");
    CHECK(rejects(MODEL_RULE, notes, API_ERR_TOO_LONG, "notes"));

    CHECK_EQ(validate_text(MODEL_SETTINGS, "{\"default_action\": \"drop\"}",
                           true, &e),
             API_OK);
    CHECK(rejects(MODEL_SETTINGS, "{\"default_action\": \"reject\"}",
                  API_ERR_BAD_FORMAT, "default_action"));
    CHECK(rejects(MODEL_SEGMENT, "{\"spoofguard\": \"inherit\"}",
                  API_ERR_BAD_FORMAT, "spoofguard"));
    CHECK_EQ(
        validate_text(MODEL_SEGMENT, "{\"spoofguard\": \"enabled\"}", true, &e),
        API_OK);
    CHECK_EQ(
        validate_text(MODEL_PORT, "{\"spoofguard\": \"inherit\"}", true, &e),
        API_OK);
    CHECK(rejects(MODEL_PORT, "{\"spoofguard\": \"on\"}", API_ERR_BAD_FORMAT,
                  "spoofguard"));
}

/* Tag condition values as validation parses them; what they match is the
 * controller's (test-cp: firewall_group_membership). */
TEST(tag_condition_values)
{
    struct model_tag_cond c;

    CHECK(model_tag_cond_parse("tier|web", &c));
    CHECK_STREQ(c.scope, "tier");
    CHECK_STREQ(c.tag, "web");
    CHECK(model_tag_cond_parse("tier|", &c) && !c.tag[0]);
    CHECK(model_tag_cond_parse("prod", &c) && !c.scope[0]);
    CHECK_STREQ(c.tag, "prod");
    CHECK(model_tag_cond_parse("|prod", &c) && !c.scope[0]);
    CHECK(model_tag_cond_parse("a|b|c", &c) && !strcmp(c.tag, "b|c"));
    CHECK(!model_tag_cond_parse("|", &c));
}

TEST(dns_names)
{
    CHECK(val_dns_name("example.internal"));
    CHECK(val_dns_name("a-b.c9."));
    CHECK(val_dns_name("x"));
    CHECK(!val_dns_name(""));
    CHECK(!val_dns_name("."));
    CHECK(!val_dns_name("a..b"));
    CHECK(!val_dns_name("-a.b"));
    CHECK(!val_dns_name("a-.b"));
    CHECK(!val_dns_name("a_b.c"));
    CHECK(!val_dns_name("a b"));
}

TEST(ipam_ranges_and_eui64)
{
    struct val_ip a, b, net, out;
    uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    ipam_u128 lo, hi;
    char text[64];

    CHECK(ipam_range_parse("10.1.1.10-10.1.1.20", &a, &b));
    CHECK_EQ(ipam_to_u128(&b) - ipam_to_u128(&a), 10);
    CHECK(ipam_range_parse("fd00::1-fd00::ff", &a, &b));
    CHECK(!ipam_range_parse("10.1.1.10-fd00::1", &a, &b));
    CHECK(!ipam_range_parse("10.1.1.10", &a, &b));
    CHECK(!ipam_range_parse("10.1.1.10 -10.1.1.20", &a, &b));
    CHECK(val_cidr_parse("10.1.1.77/24", &net, &(unsigned){0}));
    ipam_prefix_bounds(&net, 24, &lo, &hi);
    ipam_from_u128(AF_INET, lo, &out);
    inet_ntop(AF_INET, out.bytes, text, sizeof text);
    CHECK_STREQ(text, "10.1.1.0");
    ipam_from_u128(AF_INET, hi, &out);
    inet_ntop(AF_INET, out.bytes, text, sizeof text);
    CHECK_STREQ(text, "10.1.1.255");
    CHECK(val_ip_parse("fd00:1::", &net));
    ipam_prefix_bounds(&net, 0, &lo, &hi);
    CHECK(lo == 0 && hi == ~(ipam_u128)0);
    ipam_eui64(&net, mac, &out);
    inet_ntop(AF_INET6, out.bytes, text, sizeof text);
    CHECK_STREQ(text, "fd00:1::5054:ff:fe12:3456");
}

/* A random set of taken addresses for the reference comparison. */
static bool taken_set[64];

static bool
taken_in_set(void *aux, const struct val_ip *ip)
{
    (void)aux;
    return taken_set[ip->bytes[3] & 63];
}

/* ipam_lowest_free() against a naive scan of every address. */
TEST(ipam_lowest_free_vs_reference)
{
    unsigned seed = 12345;

    for (int round = 0; round < 2000; round++) {
        json_t *ranges = json_array(), *excluded = json_array();
        bool in_range[64] = {false}, in_excl[64] = {false};
        char buf[64];
        struct val_ip out;
        int want = -1;

        for (int i = 0; i < 64; i++) {
            taken_set[i] = rand_r(&seed) % 3 == 0;
        }
        for (int k = 0; k < 1 + rand_r(&seed) % 3; k++) {
            int x = rand_r(&seed) % 64, y = rand_r(&seed) % 64;
            int l = x < y ? x : y, h = x < y ? y : x;
            bool excl = k && rand_r(&seed) % 2;
            snprintf(buf, sizeof buf, "10.0.0.%d-10.0.0.%d", l, h);
            json_array_append_new(excl ? excluded : ranges, json_string(buf));
            for (int i = l; i <= h; i++) {
                *(excl ? &in_excl[i] : &in_range[i]) = true;
            }
        }
        for (int i = 0; i < 64 && want < 0; i++) {
            if (in_range[i] && !in_excl[i] && !taken_set[i]) {
                want = i;
            }
        }
        bool found = ipam_lowest_free(ranges, excluded, AF_INET, taken_in_set,
                                      NULL, &out);
        CHECK_EQ(found, want >= 0);
        if (found) {
            CHECK_EQ(out.bytes[3], want);
        }
        json_decref(ranges);
        json_decref(excluded);
    }
}

TEST(routing_schema)
{
    struct api_error e;

    CHECK_EQ(validate_text(MODEL_ROUTE,
                           "{\"network\": \"10.0.0.0/8\", \"discard\": true}",
                           true, &e),
             API_OK);
    CHECK_EQ(validate_text(MODEL_ROUTE, "{\"display_name\": \"x\"}", false, &e),
             API_OK); /* a partial body needs neither */
    CHECK_EQ(
        validate_text(MODEL_ROUTE, "{\"network\": \"10.0.0.0/8\"}", true, &e),
        API_ERR_MISSING_FIELD);
    CHECK_STREQ(e.field, "next_hops");
    CHECK_EQ(validate_text(MODEL_SEGMENT,
                           "{\"subnets\": [{\"gateway_address\": "
                           "\"fd00::1/64\", \"dhcp\": {}}]}",
                           true, &e),
             API_ERR_BAD_FORMAT);
    CHECK_STREQ(e.field, "subnets[0].dhcp");
    CHECK_EQ(validate_text(MODEL_SEGMENT,
                           "{\"subnets\": [{\"gateway_address\": "
                           "\"10.1.1.1/24\", \"dhcp\": {\"ranges\": "
                           "[\"10.1.1.1-10.1.1.9\"]}}]}",
                           true, &e),
             API_ERR_OUT_OF_RANGE);
    CHECK_STREQ(e.field, "subnets[0].dhcp.ranges[0]");
}
