/* Unit tests for the agent's JSON configuration parser (agent/config.h):
 * a complete valid file read field by field, one test per validation rule
 * (each checks the return code and that the message names the right JSON
 * path), limits, hostile input, and agent_config_load() on real files.
 *
 * JSON in this file is written with single quotes for readability; q()
 * turns them into double quotes before parsing. */
#include "agent/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define ERR_SIZE 512

/* Returns a malloc'd copy of 's' with every ' replaced by ". */
static char *
q(const char *s)
{
    char *t = strdup(s);
    for (char *c = t; *c; c++) {
        if (*c == '\'') {
            *c = '"';
        }
    }
    return t;
}

/* Wraps 'segments' (the inside of the "segments" array) in a minimal valid
 * file; returns a malloc'd string in double quotes. */
static char *
with_segments(const char *segments)
{
    char *s, *t;
    if (asprintf(&s,
                 "{'underlay': {'local_ip': '198.18.0.1'}, 'segments': [%s]}",
                 segments) < 0) {
        abort();
    }
    t = q(s);
    free(s);
    return t;
}

/* True if every byte of 's' is printable ASCII. */
static bool
printable(const char *s)
{
    for (; *s; s++) {
        if (*s < 0x20 || *s > 0x7e) {
            return false;
        }
    }
    return true;
}

/* Parses 'json' (len bytes) expecting failure with a message that starts
 * with "<path>: " (or with 'path' itself for "JSON syntax error...") and
 * contains 'reason'.  Returns true if so. */
static bool
expect_errorb(const char *json, size_t len, const char *path,
              const char *reason, int line)
{
    struct agent_config *cfg = (struct agent_config *)1;
    char err[ERR_SIZE] = "";
    char prefix[256];
    int rc = agent_config_parse(json, len, &cfg, err, sizeof err);
    bool ok;

    /* Syntax errors have no JSON path: match their start as given. */
    snprintf(prefix, sizeof prefix, "%s%s", path,
             strncmp(path, "JSON", 4) ? ": " : "");
    ok = CHECK_EQ(rc, EINVAL);
    ok &= CHECK(cfg == NULL);
    ok &= CHECK(!strncmp(err, prefix, strlen(prefix)));
    ok &= CHECK(strstr(err, reason) != NULL);
    ok &= CHECK(printable(err));
    if (!ok) {
        printf("    (line %d) input: %.300s\n    error: %s\n"
               "    wanted: %s...%s\n",
               line, json, err, prefix, reason);
    }
    if (rc == 0) {
        agent_config_free(cfg);
    }
    return ok;
}

#define EXPECT_ERR_RAW(JSON, PATH, REASON)                                     \
    expect_errorb((JSON), strlen(JSON), (PATH), (REASON), __LINE__)

/* Single-quoted JSON of a whole file. */
#define EXPECT_ERR(SQJSON, PATH, REASON)                                       \
    do {                                                                       \
        char *j_ = q(SQJSON);                                                  \
        EXPECT_ERR_RAW(j_, PATH, REASON);                                      \
        free(j_);                                                              \
    } while (0)

/* Single-quoted JSON of the segments array's contents. */
#define EXPECT_SEG_ERR(SQSEGS, PATH, REASON)                                   \
    do {                                                                       \
        char *j_ = with_segments(SQSEGS);                                      \
        EXPECT_ERR_RAW(j_, PATH, REASON);                                      \
        free(j_);                                                              \
    } while (0)

/* Parses expecting success; returns the config (NULL on failure). */
static struct agent_config *
expect_okb(const char *json, int line)
{
    struct agent_config *cfg = NULL;
    char err[ERR_SIZE] = "";
    int rc = agent_config_parse(json, strlen(json), &cfg, err, sizeof err);

    if (!CHECK_EQ(rc, 0) || !CHECK(cfg != NULL)) {
        printf("    (line %d) input: %.300s\n    error: %s\n", line, json, err);
        return NULL;
    }
    return cfg;
}

static struct agent_config *
parse_sq(const char *sq, int line)
{
    char *j = q(sq);
    struct agent_config *cfg = expect_okb(j, line);
    free(j);
    return cfg;
}

static struct agent_config *
parse_segs(const char *sq, int line)
{
    char *j = with_segments(sq);
    struct agent_config *cfg = expect_okb(j, line);
    free(j);
    return cfg;
}

#define PARSE_OK(SQJSON)      parse_sq(SQJSON, __LINE__)
#define PARSE_SEGS_OK(SQSEGS) parse_segs(SQSEGS, __LINE__)

static bool
ip_is(const struct cfg_ip *ip, const char *text)
{
    char buf[INET6_ADDRSTRLEN];
    return !strcmp(cfg_ip_format(ip, buf, sizeof buf), text);
}

static bool
mac_is(const struct eth_addr *mac, uint8_t a, uint8_t b, uint8_t c, uint8_t d,
       uint8_t e, uint8_t f)
{
    const uint8_t want[6] = {a, b, c, d, e, f};
    return !memcmp(mac->b, want, 6);
}

/* A port object (single quotes) with the given id, ifname and MAC. */
#define PORT(ID, IF, MAC)                                                      \
    "{'id': " #ID ", 'ifname': '" IF "', 'mac': '" MAC "'}"
#define REMOTE(MAC, VTEP) "{'mac': '" MAC "', 'vtep': '" VTEP "'}"

static const char full_config[] =
    "{\n"
    "  'underlay': {'local_ip': '198.18.0.1', 'geneve_port': 6082,\n"
    "               'vxlan_port': 4790, 'mtu': 9000},\n"
    "  'options': {'offloads': false, 'busy_poll': true,\n"
    "              'kernel_fastpath': false},\n"
    "  'segments': [\n"
    "    {'name': 'blue', 'vni': 5001, 'encap': 'geneve',\n"
    "     'ports': [\n"
    "       {'id': 11, 'name': 'vm1', 'ifname': 'vif1',\n"
    "        'mac': '02:00:00:00:01:01', 'ips': ['198.19.1.11', "
    "'fd00:1::11']},\n"
    "       {'id': 4294967295, 'ifname': 'vif.2-x_y@z', 'mac': "
    "'0A:bC:00:00:01:02'}\n"
    "     ],\n"
    "     'remote': [\n"
    "       {'mac': '02:00:00:00:02:01', 'ips': ['198.19.1.21'],\n"
    "        'vtep': '198.18.0.2', 'port_id': 21},\n"
    "       {'mac': '02:00:00:00:02:02', 'vtep': '198.18.0.3'},\n"
    "       {'mac': '02:00:00:00:02:03', 'vtep': '198.18.0.2', 'ips': []}\n"
    "     ]},\n"
    "    {'name': 'Red_1.x-y', 'vni': 16777215, 'encap': 'vxlan',\n"
    "     'ports': [{'id': 13, 'ifname': 'vif3', 'mac': '02:00:00:00:01:01',\n"
    "                'ips': ['198.19.1.11']}],\n"
    "     'remote': [{'mac': '02:00:00:00:02:01', 'vtep': '198.18.0.4'}],\n"
    "     'flood_vteps': ['198.18.0.5', '198.18.0.4']},\n"
    "    {'name': 'empty', 'vni': 1}\n"
    "  ]\n"
    "}\n";

TEST(full_config_every_field)
{
    struct agent_config *cfg = PARSE_OK(full_config);
    const struct cfg_segment *s;

    if (!cfg) {
        return;
    }
    CHECK(ip_is(&cfg->local_ip, "198.18.0.1"));
    CHECK(cfg_ip_is_v4(&cfg->local_ip, NULL));
    CHECK_EQ(cfg->geneve_port, 6082);
    CHECK_EQ(cfg->vxlan_port, 4790);
    CHECK_EQ(cfg->mtu, 9000);
    CHECK(!cfg->offloads);
    CHECK(cfg->busy_poll);
    CHECK(!cfg->kernel_fastpath);
    CHECK_EQ(cfg->n_segments, 3);

    s = &cfg->segments[0];
    CHECK_STREQ(s->name, "blue");
    CHECK_EQ(s->vni, 5001);
    CHECK_EQ(s->encap, CFG_ENCAP_GENEVE);
    CHECK_EQ(s->n_ports, 2);
    CHECK_EQ(s->ports[0].id, 11);
    CHECK_STREQ(s->ports[0].name, "vm1");
    CHECK_STREQ(s->ports[0].ifname, "vif1");
    CHECK(mac_is(&s->ports[0].mac, 2, 0, 0, 0, 1, 1));
    CHECK_EQ(s->ports[0].n_ips, 2);
    CHECK(ip_is(&s->ports[0].ips[0], "198.19.1.11"));
    CHECK(ip_is(&s->ports[0].ips[1], "fd00:1::11"));
    CHECK(!cfg_ip_is_v4(&s->ports[0].ips[1], NULL));
    CHECK_EQ(s->ports[1].id, 4294967295u);
    CHECK_STREQ(s->ports[1].name, "");
    CHECK_STREQ(s->ports[1].ifname, "vif.2-x_y@z");
    CHECK(mac_is(&s->ports[1].mac, 0x0a, 0xbc, 0, 0, 1, 2));
    CHECK_EQ(s->ports[1].n_ips, 0);
    CHECK(s->ports[1].ips == NULL);

    CHECK_EQ(s->n_remotes, 3);
    CHECK(mac_is(&s->remotes[0].mac, 2, 0, 0, 0, 2, 1));
    CHECK_EQ(s->remotes[0].n_ips, 1);
    CHECK(ip_is(&s->remotes[0].ips[0], "198.19.1.21"));
    CHECK(ip_is(&s->remotes[0].vtep, "198.18.0.2"));
    CHECK_EQ(s->remotes[0].port_id, 21);
    CHECK(mac_is(&s->remotes[1].mac, 2, 0, 0, 0, 2, 2));
    CHECK_EQ(s->remotes[1].n_ips, 0);
    CHECK(ip_is(&s->remotes[1].vtep, "198.18.0.3"));
    CHECK_EQ(s->remotes[1].port_id, 0);
    CHECK_EQ(s->remotes[2].n_ips, 0);
    /* Derived: distinct remote vteps in order of first appearance. */
    CHECK_EQ(s->n_flood_vteps, 2);
    CHECK(ip_is(&s->flood_vteps[0], "198.18.0.2"));
    CHECK(ip_is(&s->flood_vteps[1], "198.18.0.3"));

    s = &cfg->segments[1];
    CHECK_STREQ(s->name, "Red_1.x-y");
    CHECK_EQ(s->vni, 16777215);
    CHECK_EQ(s->encap, CFG_ENCAP_VXLAN);
    CHECK_EQ(s->n_ports, 1);
    CHECK_EQ(s->ports[0].id, 13);
    /* The same MAC and IP as in "blue" are fine in another segment. */
    CHECK(mac_is(&s->ports[0].mac, 2, 0, 0, 0, 1, 1));
    CHECK(ip_is(&s->ports[0].ips[0], "198.19.1.11"));
    CHECK_EQ(s->n_remotes, 1);
    /* Explicit list, kept in the order given. */
    CHECK_EQ(s->n_flood_vteps, 2);
    CHECK(ip_is(&s->flood_vteps[0], "198.18.0.5"));
    CHECK(ip_is(&s->flood_vteps[1], "198.18.0.4"));

    s = &cfg->segments[2];
    CHECK_STREQ(s->name, "empty");
    CHECK_EQ(s->vni, 1);
    CHECK_EQ(s->encap, CFG_ENCAP_GENEVE);
    CHECK_EQ(s->n_ports, 0);
    CHECK_EQ(s->n_remotes, 0);
    CHECK_EQ(s->n_flood_vteps, 0);
    CHECK(s->ports == NULL && s->remotes == NULL && s->flood_vteps == NULL);
    agent_config_free(cfg);
}

TEST(minimal_config_defaults)
{
    struct agent_config *cfg =
        PARSE_OK("{'underlay': {'local_ip': 'fd00::1'}}");

    if (!cfg) {
        return;
    }
    CHECK(ip_is(&cfg->local_ip, "fd00::1"));
    CHECK(!cfg_ip_is_v4(&cfg->local_ip, NULL));
    CHECK_EQ(cfg->geneve_port, 6081);
    CHECK_EQ(cfg->vxlan_port, 4789);
    CHECK_EQ(cfg->mtu, 1500);
    CHECK(cfg->offloads);
    CHECK(!cfg->busy_poll);
    CHECK(cfg->kernel_fastpath); /* the default */
    CHECK_EQ(cfg->n_segments, 0);
    CHECK(cfg->segments == NULL);
    agent_config_free(cfg);

    cfg = PARSE_OK("{'underlay': {'local_ip': '10.0.0.1'}, 'options': {},"
                   " 'segments': []}");
    if (cfg) {
        CHECK(cfg->offloads);
        CHECK_EQ(cfg->n_segments, 0);
        agent_config_free(cfg);
    }
}

TEST(ipv6_underlay_and_explicit_empty_flood)
{
    struct agent_config *cfg =
        PARSE_SEGS_OK("{'name': 'a', 'vni': 7, 'remote': [" REMOTE(
            "02:00:00:00:00:01", "198.18.0.2") "], 'flood_vteps': []}");

    if (cfg) {
        CHECK_EQ(cfg->segments[0].n_remotes, 1);
        CHECK_EQ(cfg->segments[0].n_flood_vteps, 0);
        agent_config_free(cfg);
    }

    cfg = PARSE_OK("{'underlay': {'local_ip': '2001:db8::1'}, 'segments': "
                   "[{'name': 'v6', 'vni': 9, 'remote': [" REMOTE(
                       "02:00:00:00:00:01",
                       "2001:DB8::2") "], 'flood_vteps': ['2001:db8::3']}]}");
    if (cfg) {
        CHECK(ip_is(&cfg->segments[0].remotes[0].vtep, "2001:db8::2"));
        CHECK(ip_is(&cfg->segments[0].flood_vteps[0], "2001:db8::3"));
        agent_config_free(cfg);
    }
}

/* ---- structure and types ---- */

TEST(root_must_be_object)
{
    EXPECT_ERR_RAW("[]", "(top level)", "expected an object, got an array");
    EXPECT_ERR_RAW("[1, 2]", "(top level)", "expected an object");
}

TEST(unknown_fields_rejected_at_every_level)
{
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1'}, 'extra': 1}",
               "(top level)", "unknown field \"extra\"");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu ': 1500}}",
               "underlay", "unknown field \"mtu \"");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1'}, 'options': "
               "{'offload': true}}",
               "options",
               "unknown field \"offload\" (expected one of: "
               "offloads, busy_poll, kernel_fastpath)");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remotes': []}", "segments[0]",
                   "unknown field \"remotes\"");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [" PORT(
                       1, "v1", "02:00:00:00:00:01") ", {'id': 2, 'ifname': "
                                                     "'v2', 'mac': "
                                                     "'02:00:00:00:00:02', "
                                                     "'vlan': 5}]}",
                   "segments[0].ports[1]", "unknown field \"vlan\"");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [{'mac': "
                   "'02:00:00:00:00:01', 'vtep': '10.0.0.2', 'id': 3}]}",
                   "segments[0].remote[0]", "unknown field \"id\"");
}

TEST(missing_required_fields)
{
    EXPECT_ERR("{}", "underlay", "missing required field");
    EXPECT_ERR("{'underlay': {'mtu': 1500}}", "underlay.local_ip",
               "missing required field");
    EXPECT_SEG_ERR("{'vni': 1}", "segments[0].name", "missing required field");
    EXPECT_SEG_ERR("{'name': 'a'}", "segments[0].vni",
                   "missing required field");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [{'ifname': 'v', 'mac': "
                   "'02:00:00:00:00:01'}]}",
                   "segments[0].ports[0].id", "missing required field");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'mac': "
                   "'02:00:00:00:00:01'}]}",
                   "segments[0].ports[0].ifname", "missing required field");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'ifname': "
                   "'v'}]}",
                   "segments[0].ports[0].mac", "missing required field");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [{'vtep': "
                   "'10.0.0.2'}]}",
                   "segments[0].remote[0].mac", "missing required field");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [{'mac': "
                   "'02:00:00:00:00:01'}]}",
                   "segments[0].remote[0].vtep", "missing required field");
}

TEST(wrong_types)
{
    EXPECT_ERR("{'underlay': []}", "underlay",
               "expected an object, got an "
               "array");
    EXPECT_ERR("{'underlay': {'local_ip': 167772161}}", "underlay.local_ip",
               "expected a string, got an integer");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': '1500'}}",
               "underlay.mtu", "expected an integer, got a string");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': null}}",
               "underlay.mtu", "expected an integer, got null");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1'}, 'options': "
               "{'busy_poll': 1}}",
               "options.busy_poll", "expected true or false, got an integer");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1'}, 'options': "
               "{'kernel_fastpath': 'on'}}",
               "options.kernel_fastpath",
               "expected true or false, got a string");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1'}, 'options': "
               "{'offloads': 'yes'}}",
               "options.offloads", "expected true or false, got a string");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1'}, 'options': []}",
               "options", "expected an object");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1'}, 'segments': {}}",
               "segments", "expected an array, got an object");
    EXPECT_SEG_ERR("'blue'", "segments[0]", "expected an object, got a string");
    EXPECT_SEG_ERR("{'name': 5, 'vni': 1}", "segments[0].name",
                   "expected a string, got an integer");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': '5001'}", "segments[0].vni",
                   "expected an integer, got a string");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': true}", "segments[0].vni",
                   "expected an integer, got a boolean");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'encap': 1}", "segments[0].encap",
                   "expected a string");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': {}}", "segments[0].ports",
                   "expected an array");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [[]]}",
                   "segments[0].ports[0]", "expected an object, got an array");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [null]}",
                   "segments[0].remote[0]", "expected an object, got null");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'ifname': "
                   "'v', 'mac': '02:00:00:00:00:01', 'ips': '10.1.1.1'}]}",
                   "segments[0].ports[0].ips",
                   "expected an array, got a "
                   "string");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'ifname': "
                   "'v', 'mac': '02:00:00:00:00:01', 'ips': ['10.1.1.1', "
                   "7]}]}",
                   "segments[0].ports[0].ips[1]", "expected a string");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'flood_vteps': '10.0.0.2'}",
                   "segments[0].flood_vteps", "expected an array");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [{'mac': "
                   "'02:00:00:00:00:01', 'vtep': '10.0.0.2', 'port_id': "
                   "'7'}]}",
                   "segments[0].remote[0].port_id", "expected an integer");
}

TEST(floats_where_ints_belong)
{
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': 1500.0}}",
               "underlay.mtu", "expected an integer, got a real number");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'geneve_port': 6081.5}}",
               "underlay.geneve_port", "got a real number");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'vxlan_port': 4.789e3}}",
               "underlay.vxlan_port", "got a real number");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1e3}", "segments[0].vni",
                   "got a real number");
}

/* ---- ranges ---- */

TEST(range_vni)
{
    struct agent_config *cfg;

    EXPECT_SEG_ERR("{'name': 'a', 'vni': 0}", "segments[0].vni",
                   "0 is out of range (1..16777215)");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 16777216}", "segments[0].vni",
                   "16777216 is out of range");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': -1}", "segments[0].vni",
                   "-1 is out of range");
    cfg = PARSE_SEGS_OK("{'name': 'a', 'vni': 1}, {'name': 'b', 'vni': "
                        "16777215}");
    agent_config_free(cfg);
}

TEST(range_ports_and_mtu)
{
    struct agent_config *cfg;

    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'geneve_port': 0}}",
               "underlay.geneve_port", "0 is out of range (1..65535)");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'vxlan_port': 65536}}",
               "underlay.vxlan_port", "65536 is out of range (1..65535)");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'vxlan_port': -4789}}",
               "underlay.vxlan_port", "out of range");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': 575}}",
               "underlay.mtu", "575 is out of range (576..9216)");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': 9217}}",
               "underlay.mtu", "9217 is out of range");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'geneve_port': 5000, "
               "'vxlan_port': 5000}}",
               "underlay.vxlan_port", "also underlay.geneve_port");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'vxlan_port': 6081}}",
               "underlay.vxlan_port", "6081 is also underlay.geneve_port");

    cfg = PARSE_OK("{'underlay': {'local_ip': '10.0.0.1', 'geneve_port': 1, "
                   "'vxlan_port': 65535, 'mtu': 576}}");
    if (cfg) {
        CHECK_EQ(cfg->geneve_port, 1);
        CHECK_EQ(cfg->vxlan_port, 65535);
        CHECK_EQ(cfg->mtu, 576);
        agent_config_free(cfg);
    }
    cfg = PARSE_OK("{'underlay': {'local_ip': '10.0.0.1', 'mtu': 9216}}");
    if (cfg) {
        CHECK_EQ(cfg->mtu, 9216);
        agent_config_free(cfg);
    }
}

TEST(range_port_ids)
{
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [" PORT(
                       0, "v1", "02:00:00:00:00:01") "]}",
                   "segments[0].ports[0].id",
                   "0 is out of range "
                   "(1..4294967295)");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [" PORT(
                       4294967296, "v1", "02:00:00:00:00:01") "]}",
                   "segments[0].ports[0].id", "4294967296 is out of range");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [" PORT(
                       -3, "v1", "02:00:00:00:00:01") "]}",
                   "segments[0].ports[0].id", "-3 is out of range");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [{'mac': "
                   "'02:00:00:00:00:01', 'vtep': '10.0.0.2', 'port_id': 0}]}",
                   "segments[0].remote[0].port_id", "0 is out of range");
}

/* ---- syntax of names, interface names, MACs and addresses ---- */

TEST(name_syntax)
{
    struct agent_config *cfg;

    EXPECT_SEG_ERR("{'name': '', 'vni': 1}", "segments[0].name",
                   "must be 1 to 63 characters");
    EXPECT_SEG_ERR("{'name': "
                   "'a123456789012345678901234567890123456789012345678901234567"
                   "890123', 'vni': 1}",
                   "segments[0].name", "must be 1 to 63 characters");
    EXPECT_SEG_ERR("{'name': 'a b', 'vni': 1}", "segments[0].name",
                   "may only contain letters, digits");
    EXPECT_SEG_ERR("{'name': 'a/b', 'vni': 1}", "segments[0].name", "\"a/b\"");
    EXPECT_SEG_ERR("{'name': 'caf\\u00e9', 'vni': 1}", "segments[0].name",
                   "\"caf\\xc3\\xa9\"");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'name': "
                   "'vm 1', 'ifname': 'v', 'mac': '02:00:00:00:00:01'}]}",
                   "segments[0].ports[0].name", "may only contain");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'name': '', "
                   "'ifname': 'v', 'mac': '02:00:00:00:00:01'}]}",
                   "segments[0].ports[0].name", "must be 1 to 63");

    cfg = PARSE_SEGS_OK(
        "{'name': "
        "'a12345678901234567890123456789012345678901234567890123456789012', "
        "'vni': 1}");
    if (cfg) {
        CHECK_EQ(strlen(cfg->segments[0].name), 63);
        agent_config_free(cfg);
    }
}

#define IFNAME_SEG(IF)                                                         \
    "{'name': 'a', 'vni': 1, 'ports': [" PORT(1, IF, "02:00:00:00:00:01") "]}"

TEST(ifname_syntax)
{
    struct agent_config *cfg;

    EXPECT_SEG_ERR(IFNAME_SEG(""), "segments[0].ports[0].ifname",
                   "must be 1 to 15 bytes");
    EXPECT_SEG_ERR(IFNAME_SEG("abcdefghijklmnop"),
                   "segments[0].ports[0].ifname", "must be 1 to 15 bytes");
    EXPECT_SEG_ERR(IFNAME_SEG("."), "segments[0].ports[0].ifname",
                   "not a valid interface name: \".\"");
    EXPECT_SEG_ERR(IFNAME_SEG(".."), "segments[0].ports[0].ifname",
                   "not a valid interface name");
    EXPECT_SEG_ERR(IFNAME_SEG("a/b"), "segments[0].ports[0].ifname",
                   "may not contain '/'");
    EXPECT_SEG_ERR(IFNAME_SEG("a b"), "segments[0].ports[0].ifname",
                   "whitespace");
    EXPECT_SEG_ERR(IFNAME_SEG("a\\tb"), "segments[0].ports[0].ifname",
                   "\"a\\x09b\"");
    EXPECT_SEG_ERR(IFNAME_SEG("eth0:1"), "segments[0].ports[0].ifname", "':'");
    EXPECT_SEG_ERR(IFNAME_SEG("a\\u001bb"), "segments[0].ports[0].ifname",
                   "control characters");

    cfg = PARSE_SEGS_OK(IFNAME_SEG("abcdefghijklmno"));
    if (cfg) {
        CHECK_STREQ(cfg->segments[0].ports[0].ifname, "abcdefghijklmno");
        agent_config_free(cfg);
    }
    cfg = PARSE_SEGS_OK(IFNAME_SEG("..."));
    agent_config_free(cfg);
}

#define MAC_SEG(MAC)                                                           \
    "{'name': 'a', 'vni': 1, 'ports': [" PORT(1, "v1", MAC) "]}"

TEST(mac_syntax)
{
    EXPECT_SEG_ERR(MAC_SEG("zz"), "segments[0].ports[0].mac",
                   "not a MAC address: \"zz\"");
    EXPECT_SEG_ERR(MAC_SEG(""), "segments[0].ports[0].mac",
                   "not a MAC address");
    EXPECT_SEG_ERR(MAC_SEG("02:00:00:00:01"), "segments[0].ports[0].mac",
                   "not a MAC address");
    EXPECT_SEG_ERR(MAC_SEG("02:00:00:00:01:01:01"), "segments[0].ports[0].mac",
                   "not a MAC address");
    EXPECT_SEG_ERR(MAC_SEG("02-00-00-00-01-01"), "segments[0].ports[0].mac",
                   "not a MAC address");
    EXPECT_SEG_ERR(MAC_SEG("02:00:00:00:01:0g"), "segments[0].ports[0].mac",
                   "not a MAC address");
    EXPECT_SEG_ERR(MAC_SEG("2:0:0:0:1:1"), "segments[0].ports[0].mac",
                   "not a MAC address");
    EXPECT_SEG_ERR(MAC_SEG(" 2:00:00:00:01:01"), "segments[0].ports[0].mac",
                   "not a MAC address");
    EXPECT_SEG_ERR(MAC_SEG("02:00:00:00:01:+1"), "segments[0].ports[0].mac",
                   "not a MAC address");
}

TEST(mac_must_be_unicast_and_nonzero)
{
    EXPECT_SEG_ERR(MAC_SEG("01:00:5e:00:00:01"), "segments[0].ports[0].mac",
                   "not a unicast MAC address");
    EXPECT_SEG_ERR(MAC_SEG("ff:ff:ff:ff:ff:ff"), "segments[0].ports[0].mac",
                   "not a unicast MAC address");
    EXPECT_SEG_ERR(MAC_SEG("00:00:00:00:00:00"), "segments[0].ports[0].mac",
                   "all zeros");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [" REMOTE(
                       "33:33:00:00:00:01", "10.0.0.2") "]}",
                   "segments[0].remote[0].mac", "not a unicast MAC address");
}

#define IP_SEG(IP)                                                             \
    "{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'ifname': 'v', 'mac': "       \
    "'02:00:00:00:00:01', 'ips': ['10.1.1.1', '" IP "']}]}"

TEST(ip_syntax)
{
    static const char *const bad[] = {
        "",
        "1.2.3",
        "1.2.3.4.5",
        "198.19.1.300",
        "10.1.1.1/24",
        "fd00::1/64",
        "fe80::1%eth0",
        " 10.1.1.2",
        "10.1.1.2 ",
        "0x0a.1.1.1",
        "fd00:::1",
        "host.example",
        "::g",
        "1.2.3.04x",
    };
    char seg[256], *json;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(seg, sizeof seg, IP_SEG("%s"), bad[i]);
        json = with_segments(seg);
        EXPECT_ERR_RAW(json, "segments[0].ports[0].ips[1]",
                       "not an IPv4 or IPv6 address");
        free(json);
    }
    EXPECT_ERR("{'underlay': {'local_ip': '198.18.0'}}", "underlay.local_ip",
               "not an IPv4 or IPv6 address: \"198.18.0\"");
}

TEST(ip_must_be_unicast)
{
    EXPECT_SEG_ERR(IP_SEG("0.0.0.0"), "segments[0].ports[0].ips[1]",
                   "not a unicast address");
    EXPECT_SEG_ERR(IP_SEG("224.0.0.5"), "segments[0].ports[0].ips[1]",
                   "not a unicast address");
    EXPECT_SEG_ERR(IP_SEG("255.255.255.255"), "segments[0].ports[0].ips[1]",
                   "not a unicast address");
    EXPECT_SEG_ERR(IP_SEG("::"), "segments[0].ports[0].ips[1]",
                   "not a unicast address");
    EXPECT_SEG_ERR(IP_SEG("ff02::1"), "segments[0].ports[0].ips[1]",
                   "not a unicast address");
    EXPECT_ERR("{'underlay': {'local_ip': '0.0.0.0'}}", "underlay.local_ip",
               "not a unicast address");
}

TEST(ipv4_stored_mapped)
{
    struct agent_config *cfg = PARSE_SEGS_OK(IP_SEG("fd00::2"));
    static const uint8_t want[16] = {0, 0, 0,    0,    0,  0, 0, 0,
                                     0, 0, 0xff, 0xff, 10, 1, 1, 1};
    uint32_t v4 = 0;

    if (!cfg) {
        return;
    }
    CHECK(!memcmp(cfg->segments[0].ports[0].ips[0].b, want, 16));
    CHECK(cfg_ip_is_v4(&cfg->segments[0].ports[0].ips[0], &v4));
    CHECK_EQ(v4, htonl(0x0a010101));
    CHECK(!cfg_ip_is_v4(&cfg->segments[0].ports[0].ips[1], &v4));
    CHECK_EQ(v4, htonl(0x0a010101)); /* untouched when not IPv4 */
    agent_config_free(cfg);
}

TEST(ip_format)
{
    struct cfg_ip ip = {{0}};
    char buf[INET6_ADDRSTRLEN], tiny[4] = "xyz";

    ip.b[10] = ip.b[11] = 0xff;
    ip.b[12] = 192, ip.b[13] = 0, ip.b[14] = 2, ip.b[15] = 1;
    CHECK_STREQ(cfg_ip_format(&ip, buf, sizeof buf), "192.0.2.1");
    CHECK(cfg_ip_format(&ip, tiny, sizeof tiny) == tiny);
    CHECK_STREQ(tiny, "");

    memset(&ip, 0, sizeof ip);
    ip.b[0] = 0x20, ip.b[1] = 0x01, ip.b[2] = 0x0d, ip.b[3] = 0xb8;
    ip.b[15] = 1;
    CHECK_STREQ(cfg_ip_format(&ip, buf, sizeof buf), "2001:db8::1");
    memset(&ip, 0, sizeof ip);
    CHECK_STREQ(cfg_ip_format(&ip, buf, sizeof buf), "::");
    CHECK(!cfg_ip_is_v4(&ip, NULL));
}

/* ---- uniqueness ---- */

TEST(duplicate_segment_name_and_vni)
{
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1}, {'name': 'b', 'vni': 2}, "
                   "{'name': 'a', 'vni': 3}",
                   "segments[2].name",
                   "duplicate segment name \"a\" (also at segments[0].name)");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1}, {'name': 'b', 'vni': 1}",
                   "segments[1].vni",
                   "duplicate VNI 1 (also at segments[0].vni)");
}

TEST(duplicate_port_ids_across_file)
{
    EXPECT_SEG_ERR(
        "{'name': 'a', 'vni': 1, 'ports': [" PORT(
            11, "v1",
            "02:00:00:00:00:01") "]}, "
                                 "{'name': 'b', 'vni': 2, 'ports': [" PORT(
                                     12, "v2",
                                     "02:00:00:00:00:02") ", " PORT(11, "v3",
                                                                    "02:00:00:"
                                                                    "00:"
                                                                    "00:03") "]"
                                                                             "}",
        "segments[1].ports[1].id",
        "duplicate port id 11 (also at segments[0].ports[0].id)");
    /* A remote port's id is a logical port id too. */
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [" PORT(
                       11, "v1", "02:00:00:00:00:01") "], 'remote': "
                                                      "[{'mac': "
                                                      "'02:00:00:00:00:02', "
                                                      "'vtep': '10.0.0.2', "
                                                      "'port_id': 11}]}",
                   "segments[0].remote[0].port_id",
                   "duplicate port id 11 (also at segments[0].ports[0].id)");
    EXPECT_SEG_ERR(
        "{'name': 'a', 'vni': 1, 'remote': [{'mac': '02:00:00:00:00:02', "
        "'vtep': '10.0.0.2', 'port_id': 5}]}, {'name': 'b', 'vni': 2, "
        "'remote': [{'mac': '02:00:00:00:00:03', 'vtep': '10.0.0.2', "
        "'port_id': 5}]}",
        "segments[1].remote[0].port_id",
        "duplicate port id 5 (also at segments[0].remote[0].port_id)");
}

TEST(duplicate_ifname_across_file)
{
    EXPECT_SEG_ERR(
        "{'name': 'a', 'vni': 1, 'ports': [" PORT(
            1, "vif1",
            "02:00:00:00:00:01") "]}, "
                                 "{'name': 'b', 'vni': 2, 'ports': [" PORT(
                                     2, "vif1", "02:00:00:00:00:02") "]}",
        "segments[1].ports[0].ifname",
        "duplicate interface name \"vif1\" (also at "
        "segments[0].ports[0].ifname)");
}

TEST(duplicate_mac_in_segment)
{
    struct agent_config *cfg;

    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [" PORT(
                       1, "v1", "02:00:00:00:00:01") ", " PORT(2, "v2",
                                                               "02:00:00:00:"
                                                               "00:01") "]}",
                   "segments[0].ports[1].mac",
                   "duplicate MAC 02:00:00:00:00:01 (also at "
                   "segments[0].ports[0].mac)");
    /* Case does not make a different MAC. */
    EXPECT_SEG_ERR(
        "{'name': 'a', 'vni': 1, 'ports': [" PORT(
            1, "v1",
            "02:00:00:00:00:0a") "], 'remote': [" REMOTE("02:00:00:00:00:0A",
                                                         "10.0.0.2") "]}",
        "segments[0].remote[0].mac",
        "duplicate MAC 02:00:00:00:00:0a (also at "
        "segments[0].ports[0].mac)");
    EXPECT_SEG_ERR(
        "{'name': 'a', 'vni': 1, 'remote': [" REMOTE(
            "02:00:00:00:00:05", "10.0.0.2") ", " REMOTE("02:00:00:00:00:05",
                                                         "10.0.0.3") "]}",
        "segments[0].remote[1].mac", "(also at segments[0].remote[0].mac)");
    /* The same MAC in two segments is fine. */
    cfg = PARSE_SEGS_OK("{'name': 'a', 'vni': 1, 'ports': [" PORT(
        1, "v1", "02:00:00:00:00:01") "]}, {'name': 'b', 'vni': 2, "
                                      "'remote': [" REMOTE("02:00:00:00:00:01",
                                                           "10.0.0.2") "]}");
    agent_config_free(cfg);
}

TEST(duplicate_ip_in_segment)
{
    struct agent_config *cfg;

    EXPECT_SEG_ERR(IP_SEG("10.1.1.1"), "segments[0].ports[0].ips[1]",
                   "duplicate address 10.1.1.1 (also at "
                   "segments[0].ports[0].ips[0])");
    /* IPv4 written as IPv4-mapped IPv6 is the same address. */
    EXPECT_SEG_ERR(IP_SEG("::ffff:10.1.1.1"), "segments[0].ports[0].ips[1]",
                   "duplicate address 10.1.1.1");
    EXPECT_SEG_ERR(
        "{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'ifname': 'v1', 'mac': "
        "'02:00:00:00:00:01', 'ips': ['fd00::1']}, {'id': 2, 'ifname': 'v2', "
        "'mac': '02:00:00:00:00:02', 'ips': ['FD00:0::1']}]}",
        "segments[0].ports[1].ips[0]",
        "duplicate address fd00::1 (also at segments[0].ports[0].ips[0])");
    EXPECT_SEG_ERR(
        "{'name': 'a', 'vni': 1, 'ports': [{'id': 1, 'ifname': 'v1', 'mac': "
        "'02:00:00:00:00:01', 'ips': ['10.1.1.1']}], 'remote': [{'mac': "
        "'02:00:00:00:00:02', 'vtep': '10.0.0.2', 'ips': ['10.1.1.9', "
        "'10.1.1.1']}]}",
        "segments[0].remote[0].ips[1]",
        "(also at segments[0].ports[0].ips[0])");
    /* The same address in two segments is fine. */
    cfg = PARSE_SEGS_OK(
        "{'name': 'a', 'vni': 1, 'remote': [{'mac': '02:00:00:00:00:02', "
        "'vtep': '10.0.0.2', 'ips': ['10.1.1.1']}]}, {'name': 'b', 'vni': 2, "
        "'remote': [{'mac': '02:00:00:00:00:02', 'vtep': '10.0.0.2', 'ips': "
        "['10.1.1.1']}]}");
    agent_config_free(cfg);
}

/* ---- tunnel endpoints ---- */

TEST(vtep_rules)
{
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [" REMOTE(
                       "02:00:00:00:00:01", "198.18.0.1") "]}",
                   "segments[0].remote[0].vtep",
                   "198.18.0.1 is this host's own underlay.local_ip");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [" REMOTE(
                       "02:00:00:00:00:01", "::ffff:198.18.0.1") "]}",
                   "segments[0].remote[0].vtep", "underlay.local_ip");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [" REMOTE(
                       "02:00:00:00:00:01", "fd00::2") "]}",
                   "segments[0].remote[0].vtep",
                   "fd00::2 is not of the same address family");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [" REMOTE(
                       "02:00:00:00:00:01", "224.1.1.1") "]}",
                   "segments[0].remote[0].vtep", "not a unicast address");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': [" REMOTE(
                       "02:00:00:00:00:01", "not-an-ip") "]}",
                   "segments[0].remote[0].vtep",
                   "not an IPv4 or IPv6 address: \"not-an-ip\"");
}

TEST(flood_vtep_rules)
{
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'flood_vteps': ['198.18.0.2', "
                   "'198.18.0.1']}",
                   "segments[0].flood_vteps[1]", "own underlay.local_ip");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'flood_vteps': ['198.18.0.2', "
                   "'198.18.0.3', '198.18.0.2']}",
                   "segments[0].flood_vteps[2]",
                   "duplicate vtep 198.18.0.2 (also at "
                   "segments[0].flood_vteps[0])");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'flood_vteps': ['x']}",
                   "segments[0].flood_vteps[0]", "not an IPv4 or IPv6");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'flood_vteps': [5]}",
                   "segments[0].flood_vteps[0]", "expected a string");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'flood_vteps': ['fd00::5']}",
                   "segments[0].flood_vteps[0]", "address family");
}

TEST(encap_values)
{
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'encap': 'gre'}",
                   "segments[0].encap",
                   "expected \"geneve\" or \"vxlan\", got \"gre\"");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'encap': 'GENEVE'}",
                   "segments[0].encap", "got \"GENEVE\"");
}

/* ---- limits ---- */

/* An open_memstream-backed string builder for large generated files. */
struct sbuf {
    char *s;
    size_t len;
    FILE *f;
};

static void
sbuf_init(struct sbuf *b)
{
    b->s = NULL;
    b->len = 0;
    b->f = open_memstream(&b->s, &b->len);
}

static char *
sbuf_finish(struct sbuf *b)
{
    fclose(b->f);
    return b->s;
}

TEST(limit_segments)
{
    struct sbuf b;
    char *json;
    struct agent_config *cfg;

    for (int n = 4096; n <= 4097; n++) {
        sbuf_init(&b);
        fputs("{\"underlay\": {\"local_ip\": \"10.0.0.1\"}, \"segments\": [",
              b.f);
        for (int i = 0; i < n; i++) {
            fprintf(b.f, "%s{\"name\": \"s%d\", \"vni\": %d}", i ? "," : "", i,
                    i + 1);
        }
        fputs("]}", b.f);
        json = sbuf_finish(&b);
        if (n == 4096) {
            cfg = expect_okb(json, __LINE__);
            if (cfg) {
                CHECK_EQ(cfg->n_segments, 4096);
                agent_config_free(cfg);
            }
        } else {
            EXPECT_ERR_RAW(json, "segments",
                           "too many segments (4097, at "
                           "most 4096)");
        }
        free(json);
    }
}

TEST(limit_ports_per_segment)
{
    for (int n = 65536; n <= 65537; n++) {
        struct sbuf b;
        char *json;

        sbuf_init(&b);
        fputs("{\"underlay\": {\"local_ip\": \"10.0.0.1\"}, \"segments\": "
              "[{\"name\": \"a\", \"vni\": 1, \"ports\": [",
              b.f);
        for (int i = 0; i < n; i++) {
            fprintf(b.f,
                    "%s{\"id\":%d,\"ifname\":\"v%d\",\"mac\":\"02:00:00:%02x:"
                    "%02x:%02x\"}",
                    i ? "," : "", i + 1, i, (i >> 16) & 0xff, (i >> 8) & 0xff,
                    i & 0xff);
        }
        fputs("]}]}", b.f);
        json = sbuf_finish(&b);
        if (n == 65536) {
            struct agent_config *cfg = expect_okb(json, __LINE__);
            if (cfg) {
                CHECK_EQ(cfg->segments[0].n_ports, 65536);
                CHECK_STREQ(cfg->segments[0].ports[65535].ifname, "v65535");
                agent_config_free(cfg);
            }
        } else {
            EXPECT_ERR_RAW(json, "segments[0].ports",
                           "too many ports (65537, at most 65536)");
        }
        free(json);
    }
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'remote': 0}", "segments[0].remote",
                   "expected an array");
}

TEST(limit_ips_per_port)
{
    struct sbuf b;
    char *json;

    sbuf_init(&b);
    fputs("{\"underlay\": {\"local_ip\": \"10.0.0.1\"}, \"segments\": "
          "[{\"name\": \"a\", \"vni\": 1, \"remote\": [{\"mac\": "
          "\"02:00:00:00:00:01\", \"vtep\": \"10.0.0.2\", \"ips\": [",
          b.f);
    for (int i = 0; i < 17; i++) {
        fprintf(b.f, "%s\"10.1.1.%d\"", i ? "," : "", i + 1);
    }
    fputs("]}]}]}", b.f);
    json = sbuf_finish(&b);
    EXPECT_ERR_RAW(json, "segments[0].remote[0].ips",
                   "too many addresses (17, at most 16)");
    free(json);
}

TEST(limit_file_size)
{
    size_t n = (16u << 20) + 1;
    char *big = malloc(n);
    struct agent_config *cfg;
    char err[ERR_SIZE];

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    CHECK_EQ(agent_config_parse(big, n, &cfg, err, sizeof err), EINVAL);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "too large") != NULL);
    free(big);
}

/* ---- hostile input ---- */

TEST(hostile_empty_and_not_json)
{
    EXPECT_ERR_RAW("", "JSON syntax error at line 1, column 0",
                   "expected near end of file");
    EXPECT_ERR_RAW("   \n", "JSON syntax error", "");
    EXPECT_ERR_RAW("hello", "JSON syntax error at line 1", "expected near");
    EXPECT_ERR_RAW("{\"a\": hello}", "JSON syntax error at line 1",
                   "invalid token");
    EXPECT_ERR_RAW("42", "JSON syntax error", "'[' or '{' expected");
    EXPECT_ERR_RAW("\"underlay\"", "JSON syntax error", "");
    EXPECT_ERR_RAW("{\"underlay\": {\"local_ip\": \"10.0.0.1\"}} {}",
                   "JSON syntax error at line 1, column",
                   "end of file "
                   "expected");
    EXPECT_ERR_RAW("{\n  \"underlay\": {\n    \"local_ip\": \"10.0.0.1\",\n"
                   "  }\n}",
                   "JSON syntax error at line 4, column 3", "");
    /* NULL text is treated as empty. */
    {
        struct agent_config *cfg;
        char err[ERR_SIZE];
        CHECK_EQ(agent_config_parse(NULL, 0, &cfg, err, sizeof err), EINVAL);
        CHECK(cfg == NULL);
    }
}

TEST(hostile_deep_nesting)
{
    for (size_t depth = 100; depth <= 100000; depth *= 10) {
        char *s = malloc(2 * depth + 64), *p = s;
        p += sprintf(p, "{\"underlay\": ");
        memset(p, '[', depth);
        p += depth;
        memset(p, ']', depth);
        p += depth;
        strcpy(p, "}");
        if (depth <= 1000) {
            EXPECT_ERR_RAW(s, "underlay", "expected an object, got an array");
        } else {
            EXPECT_ERR_RAW(s, "JSON syntax error", "maximum parsing depth");
        }
        free(s);
    }
    {
        char *s = malloc(300001);
        memset(s, '{', 300000);
        s[300000] = '\0';
        EXPECT_ERR_RAW(s, "JSON syntax error", "");
        free(s);
    }
}

TEST(hostile_numbers)
{
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': "
               "99999999999999999999999}}",
               "JSON syntax error at line 1", "too big integer");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': 1e999}}",
               "JSON syntax error", "real number overflow");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': "
               "9223372036854775807}}",
               "underlay.mtu", "9223372036854775807 is out of range");
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'mtu': "
               "-9223372036854775808}}",
               "underlay.mtu", "-9223372036854775808 is out of range");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': 1, 'ports': [" PORT(
                       18446744073709551617, "v", "02:00:00:00:00:01") "]}",
                   "JSON syntax error", "too big integer");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': -0.0}", "segments[0].vni",
                   "got a real number");
    EXPECT_SEG_ERR("{'name': 'a', 'vni': NaN}", "JSON syntax error", "");
}

TEST(hostile_nul_bytes)
{
    static const char raw[] = "{\"underlay\": {\"local_ip\": \"10.0\0.0.1\"}}";
    static const char key[] = "{\"under\\u0000lay\": {}}";

    /* A raw NUL inside a string. */
    CHECK(
        expect_errorb(raw, sizeof raw - 1, "JSON syntax error", "", __LINE__));
    /* An escaped NUL in a value and in a key. */
    EXPECT_ERR_RAW("{\"underlay\": {\"local_ip\": \"10.0.0.1\\u0000\"}}",
                   "JSON syntax error", "\\u0000 is not allowed");
    EXPECT_ERR_RAW(key, "JSON syntax error", "NUL byte in object key");
    /* A NUL after a complete document. */
    CHECK(expect_errorb("{}\0", 3, "JSON syntax error", "end of file expected",
                        __LINE__));
}

TEST(hostile_invalid_utf8)
{
    EXPECT_ERR_RAW("{\"underlay\": {\"local_ip\": \"10.0.0.\xff\"}}",
                   "JSON syntax error", "unable to decode byte 0xff");
    EXPECT_ERR_RAW("{\"und\xc3\x28\": 1}", "JSON syntax error", "");
    EXPECT_ERR_RAW("{\"underlay\": {\"local_ip\": \"\xed\xa0\x80\"}}",
                   "JSON syntax error", "");
    /* Valid UTF-8 in a wrong place is quoted escaped, never raw. */
    EXPECT_ERR_RAW("{\"underlay\": {\"local_ip\": \"\xe2\x98\x83\"}}",
                   "underlay.local_ip", "\"\\xe2\\x98\\x83\"");
    EXPECT_ERR_RAW("{\"\xe2\x98\x83\": 1}", "(top level)",
                   "unknown field \"\\xe2\\x98\\x83\"");
}

TEST(hostile_duplicate_keys)
{
    EXPECT_ERR("{'underlay': {'local_ip': '10.0.0.1', 'local_ip': "
               "'10.0.0.2'}}",
               "JSON syntax error", "duplicate object key");
}

TEST(hostile_long_strings_are_cut_in_messages)
{
    struct sbuf b;
    char *json;
    struct agent_config *cfg;
    char err[ERR_SIZE];

    sbuf_init(&b);
    fputs("{\"underlay\": {\"local_ip\": \"", b.f);
    for (int i = 0; i < 100000; i++) {
        fputc('A', b.f);
    }
    fputs("\"}}", b.f);
    json = sbuf_finish(&b);
    CHECK_EQ(agent_config_parse(json, strlen(json), &cfg, err, sizeof err),
             EINVAL);
    CHECK(strlen(err) < 120);
    CHECK(strstr(err, "...\"") != NULL);
    CHECK(!strncmp(err, "underlay.local_ip: ", 19));
    free(json);
}

TEST(error_buffer_small_or_null)
{
    struct agent_config *cfg;
    char err[12];
    char *json = q("{'underlay': {'local_ip': 'bogus'}}");

    CHECK_EQ(agent_config_parse(json, strlen(json), &cfg, err, sizeof err),
             EINVAL);
    CHECK_STREQ(err, "underlay.lo");
    CHECK_EQ(agent_config_parse(json, strlen(json), &cfg, NULL, 0), EINVAL);
    CHECK(cfg == NULL);
    CHECK_EQ(agent_config_parse("x", 1, &cfg, NULL, 0), EINVAL);
    free(json);
}

/* ---- loading files ---- */

static char *
write_temp(const char *data, size_t len)
{
    char *path = strdup("/tmp/weft-test-config-XXXXXX");
    int fd = mkstemp(path);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        abort();
    }
    close(fd);
    return path;
}

TEST(load_file)
{
    char *json = q(full_config), *path, err[ERR_SIZE];
    struct agent_config *cfg = NULL;

    path = write_temp(json, strlen(json));
    CHECK_EQ(agent_config_load(path, &cfg, err, sizeof err), 0);
    if (CHECK(cfg != NULL)) {
        CHECK_EQ(cfg->n_segments, 3);
        CHECK_EQ(cfg->segments[0].ports[0].id, 11);
        agent_config_free(cfg);
    }
    unlink(path);
    free(path);
    free(json);
}

TEST(load_errors_name_file)
{
    struct agent_config *cfg = (struct agent_config *)1;
    char err[ERR_SIZE], want[256];
    char *path;
    static const char bad[] = "{\"underlay\": {\"local_ip\": \"10.0.0.1\", "
                              "\"mtu\": 1}}";

    CHECK_EQ(agent_config_load("/nonexistent/weft.json", &cfg, err, sizeof err),
             ENOENT);
    CHECK(cfg == NULL);
    CHECK_STREQ(err, "/nonexistent/weft.json: No such file or directory");

    CHECK_EQ(agent_config_load("/tmp", &cfg, err, sizeof err), EISDIR);
    CHECK_STREQ(err, "/tmp: Is a directory");

    path = write_temp(bad, strlen(bad));
    CHECK_EQ(agent_config_load(path, &cfg, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s: underlay.mtu: 1 is out of range", path);
    CHECK(!strncmp(err, want, strlen(want)));
    unlink(path);
    free(path);

    path = write_temp("{\n\n  x", 6);
    CHECK_EQ(agent_config_load(path, &cfg, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s: JSON syntax error at line 3, column 3",
             path);
    CHECK(!strncmp(err, want, strlen(want)));
    unlink(path);
    free(path);

    CHECK_EQ(agent_config_load("/nonexistent", &cfg, NULL, 0), ENOENT);
}

TEST(load_too_large)
{
    size_t n = (16u << 20) + 10;
    char *big = malloc(n), *path, err[ERR_SIZE];
    struct agent_config *cfg;

    memset(big, ' ', n);
    path = write_temp(big, n);
    CHECK_EQ(agent_config_load(path, &cfg, err, sizeof err), EINVAL);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "file is too large") != NULL);
    unlink(path);
    free(path);
    free(big);

    /* Exactly at the limit is read (and then fails only as JSON). */
    n = 16u << 20;
    big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    path = write_temp(big, n);
    CHECK_EQ(agent_config_load(path, &cfg, err, sizeof err), EINVAL);
    CHECK(strstr(err, "underlay: missing required field") != NULL);
    unlink(path);
    free(path);
    free(big);
}

TEST(free_null)
{
    agent_config_free(NULL);
    CHECK(true);
}
