/* Unit tests of the agent's DHCP/RA glue (agent-dhcp.h) through its
 * direct call path: punted frames go in with agent_dhcp_input(), answers
 * come out of the output hook.  A DISCOVER/OFFER/REQUEST/ACK exchange
 * for a local port's address with the configured options, an RS answered
 * with the segment's prefix, unsolicited RAs after configuration, frames
 * of ports not on the segment ignored, and the lease file round trip
 * (and a malformed file ignored). */
#include "agent/agent-dhcp.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/config.h"
#include "datapath/dhcp.h"
#include "datapath/punt.h"
#include "datapath/ra.h"
#include "testlib.h"

static const char *json =
    "{\"underlay\":{\"local_ip\":\"198.18.0.1\"},"
    "\"segments\":[{\"name\":\"blue\",\"vni\":5001,\"ports\":["
    "{\"id\":11,\"ifname\":\"vif1\",\"mac\":\"02:00:00:00:00:11\","
    "\"ips\":[\"10.1.1.11\",\"fd00:1::11\"]},"
    "{\"id\":12,\"ifname\":\"vif2\",\"mac\":\"02:00:00:00:00:12\","
    "\"ips\":[\"10.1.1.12\"]}]}]}";

static const struct eth_addr rtr = {{0x02, 0xaa, 0, 0, 0, 1}};
static const struct eth_addr mac11 = {{0x02, 0, 0, 0, 0, 0x11}};

/* Captured output. */
static uint8_t out[8][2048];
static uint32_t out_len[8];
static uint16_t out_port[8];
static int n_out;

static void
capture(void *aux, uint16_t port, const uint8_t *f, uint32_t len)
{
    (void)aux;
    if (n_out < 8 && len <= sizeof out[0]) {
        memcpy(out[n_out], f, len);
        out_len[n_out] = len;
        out_port[n_out++] = port;
    }
}

static uint32_t
slot_of(const void *aux, const char *ifname)
{
    (void)aux;
    return !strcmp(ifname, "vif1") ? 2 : !strcmp(ifname, "vif2") ? 3 : 9;
}

static void
ip_set(struct cfg_ip *ip, int af, const char *s)
{
    if (af == AF_INET) {
        memset(ip->b, 0, 10);
        ip->b[10] = ip->b[11] = 0xff;
        inet_pton(AF_INET, s, ip->b + 12);
    } else {
        inet_pton(AF_INET6, s, ip->b);
    }
}

static struct agent_config *
config(void)
{
    struct agent_config *c = NULL;
    char err[256];
    struct cfg_segment *s;

    CHECK_EQ(agent_config_parse(json, strlen(json), &c, err, sizeof err), 0);
    s = &c->segments[0];
    s->router_mac = rtr;
    s->n_gateways = 2;
    s->gateways = calloc(2, sizeof *s->gateways);
    ip_set(&s->gateways[0].ip, AF_INET, "10.1.1.1");
    s->gateways[0].plen = 24;
    ip_set(&s->gateways[1].ip, AF_INET6, "fd00:1::1");
    s->gateways[1].plen = 64;
    s->dhcp.enabled = true;
    s->dhcp.lease_time = 3600;
    s->dhcp.n_dns = 2;
    s->dhcp.dns = calloc(2, sizeof *s->dhcp.dns);
    ip_set(&s->dhcp.dns[0], AF_INET, "10.1.1.53");
    ip_set(&s->dhcp.dns[1], AF_INET6, "fd00:1::53");
    strcpy(s->dhcp.domain, "tenant.example");
    s->dhcp.mtu = 1400;
    s->ipv6.ra = true;
    s->ipv6.slaac = true;
    s->ipv6.dhcp6 = true;
    s->ipv6.other = true;
    return c;
}

/* A punted DHCPv4 message from port 'port' (source MAC mac11). */
static void
dhcp_entry(struct dp_punt_entry *e, uint16_t port, uint8_t type,
           const uint8_t *server_id, const uint8_t *req_ip)
{
    uint8_t *p = e->frame + 42;
    size_t n = 240;

    memset(e, 0, sizeof *e);
    e->port = port;
    e->reason = DP_PUNT_DHCP4;
    memset(e->frame, 0xff, 6);
    memcpy(e->frame + 6, mac11.b, 6);
    e->frame[12] = 0x08;
    e->frame[14] = 0x45;
    e->frame[22] = 64;
    e->frame[23] = 17;
    memset(e->frame + 30, 0xff, 4);
    e->frame[35] = 68;
    e->frame[37] = 67;
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    memcpy(p + 4, "\1\2\3\4", 4);
    memcpy(p + 28, mac11.b, 6);
    memcpy(p + 236, "\x63\x82\x53\x63", 4);
    p[n++] = 53;
    p[n++] = 1;
    p[n++] = type;
    p[n++] = 55;
    p[n++] = 4;
    memcpy(p + n, "\1\3\6\x1a", 4);
    n += 4;
    if (server_id) {
        p[n++] = 54;
        p[n++] = 4;
        memcpy(p + n, server_id, 4);
        n += 4;
    }
    if (req_ip) {
        p[n++] = 50;
        p[n++] = 4;
        memcpy(p + n, req_ip, 4);
        n += 4;
    }
    p[n++] = 255;
    e->len = (uint16_t)(42 + n);
    e->frame[16] = (uint8_t)((28 + n) >> 8);
    e->frame[17] = (uint8_t)(28 + n);
    e->frame[38] = (uint8_t)((8 + n) >> 8);
    e->frame[39] = (uint8_t)(8 + n);
}

/* Option 'code' of the DHCP reply in captured frame 'i'. */
static const uint8_t *
reply_opt(int i, uint8_t code, uint8_t *len)
{
    const uint8_t *d = out[i] + 42;
    uint32_t n = out_len[i] - 42, k = 240;

    while (k + 1 < n && d[k] != 255) {
        if (d[k] == code) {
            *len = d[k + 1];
            return d + k + 2;
        }
        k += d[k] == 0 ? 1 : 2u + d[k + 1];
    }
    return NULL;
}

static struct agent_dhcp *
fresh(const char *dir, struct agent_config *c, uint64_t now_ms)
{
    struct agent_dhcp *ad = agent_dhcp_create(NULL, dir);
    agent_dhcp_set_output(ad, capture, NULL);
    agent_dhcp_configure(ad, c, slot_of, NULL, now_ms);
    n_out = 0;
    return ad;
}

static void
exchange(struct agent_dhcp *ad, uint64_t now_ms)
{
    struct dp_punt_entry e;
    uint8_t l = 0;
    const uint8_t *v;
    static const uint8_t yi[4] = {10, 1, 1, 11}, sid[4] = {10, 1, 1, 1};

    dhcp_entry(&e, 2, DHCP_DISCOVER, NULL, NULL);
    agent_dhcp_input(ad, &e, now_ms);
    CHECK_EQ(n_out, 1);
    CHECK_EQ(out_port[0], 2);
    CHECK(!memcmp(out[0] + 42 + 16, yi, 4));
    CHECK(!memcmp(out[0] + 6, rtr.b, 6));
    v = reply_opt(0, 53, &l);
    CHECK(v && v[0] == DHCP_OFFER);
    v = reply_opt(0, 3, &l);
    CHECK(v && l == 4 && !memcmp(v, sid, 4));
    v = reply_opt(0, 6, &l);
    CHECK(v && l == 4 && !memcmp(v, "\12\1\1\65", 4));
    v = reply_opt(0, 26, &l);
    CHECK(v && l == 2 && v[0] == 0x05 && v[1] == 0x78);
    v = reply_opt(0, 54, &l);
    CHECK(v && !memcmp(v, sid, 4));

    dhcp_entry(&e, 2, DHCP_REQUEST, sid, yi);
    agent_dhcp_input(ad, &e, now_ms);
    CHECK_EQ(n_out, 2);
    v = reply_opt(1, 53, &l);
    CHECK(v && v[0] == DHCP_ACK);
    CHECK(!memcmp(out[1] + 42 + 16, yi, 4));
    v = reply_opt(1, 51, &l);
    CHECK(v && l == 4 && v[2] == 0x0e && v[3] == 0x10); /* 3600 */
}

TEST(discover_offer_request_ack)
{
    struct agent_config *c = config();
    struct agent_dhcp *ad = fresh(NULL, c, 5000);
    const struct dhcp_lease *l;
    struct dp_punt_entry e;

    exchange(ad, 5000);
    l = dhcp_leases_find_mac(dhcp_server_leases(agent_dhcp_v4(ad, 0)), &mac11);
    CHECK(l && l->state == DHCP_LEASE_BOUND && l->ip == 0x0a01010b);
    CHECK(agent_dhcp_v6(ad, 0) != NULL);

    /* A frame from a port not on the segment is ignored. */
    dhcp_entry(&e, 7, DHCP_DISCOVER, NULL, NULL);
    agent_dhcp_input(ad, &e, 5000);
    CHECK_EQ(n_out, 2);
    agent_dhcp_destroy(ad);
    agent_config_free(c);
}

TEST(rs_answered_and_unsolicited_ras)
{
    struct agent_config *c = config();
    struct agent_dhcp *ad = fresh(NULL, c, 1000);
    struct dp_punt_entry e;
    uint8_t *ip6;
    uint16_t sum;

    /* Unsolicited: one per port at once. */
    agent_dhcp_run(ad, 1000);
    CHECK_EQ(n_out, 2);
    CHECK(out[0][54] == ICMP6_RA && !memcmp(out[0], ra_all_nodes_mac.b, 6));
    CHECK(agent_dhcp_next_timeout_ms(ad, 1000) <= RA_FAST_INTERVAL_MS);
    n_out = 0;
    agent_dhcp_run(ad, 1001);
    CHECK_EQ(n_out, 0);

    /* An RS from the unspecified address: RA to all nodes on that port,
     * with the /64 (A flag: SLAAC) and the O flag. */
    memset(&e, 0, sizeof e);
    e.port = 3;
    e.reason = DP_PUNT_RS;
    memcpy(e.frame, "\x33\x33\0\0\0\2", 6);
    memcpy(e.frame + 6, "\x02\0\0\0\0\x12", 6);
    e.frame[12] = 0x86;
    e.frame[13] = 0xdd;
    ip6 = e.frame + 14;
    ip6[0] = 0x60;
    ip6[5] = 8;
    ip6[6] = 58;
    ip6[7] = 255;
    ip6[24] = 0xff;
    ip6[25] = 2;
    ip6[39] = 2;
    ip6[40] = ICMP6_RS;
    sum = 0;
    {
        /* checksum: pseudo header (src ::, dst ff02::2, len 8, next 58) */
        uint32_t acc = 0xff02 + 2 + 8 + 58 + (ICMP6_RS << 8);
        while (acc >> 16) {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        sum = htons((uint16_t)~acc);
    }
    memcpy(ip6 + 42, &sum, 2);
    e.len = 14 + 48;
    agent_dhcp_input(ad, &e, 1002);
    CHECK_EQ(n_out, 1);
    CHECK_EQ(out_port[0], 3);
    CHECK(out[0][54] == ICMP6_RA && out[0][59] == 0x40); /* O only */
    CHECK(out_len[0] >= 14 + 40 + 16 + 8 + 32);
    agent_dhcp_destroy(ad);
    agent_config_free(c);
}

TEST(lease_file_round_trip)
{
    char dir[] = "/tmp/weft-test-dhcp-XXXXXX";
    char path[128];
    struct agent_config *c = config();
    struct agent_dhcp *ad;
    const struct dhcp_lease *l;
    FILE *f;

    CHECK(mkdtemp(dir) != NULL);
    ad = fresh(dir, c, 5000);
    exchange(ad, 5000);
    agent_dhcp_run(ad, 7000); /* saves (more than a second later) */
    snprintf(path, sizeof path, "%s/dhcp-leases", dir);
    CHECK_EQ(access(path, R_OK), 0);
    agent_dhcp_destroy(ad);

    /* A new agent (another monotonic origin) finds the lease again. */
    ad = fresh(dir, c, 900000);
    l = dhcp_leases_find_mac(dhcp_server_leases(agent_dhcp_v4(ad, 0)), &mac11);
    CHECK(l && l->state == DHCP_LEASE_BOUND && l->ip == 0x0a01010b);
    CHECK(l && l->expires > 900 && l->expires <= 900 + 3600);
    agent_dhcp_destroy(ad);

    /* A malformed file: logged, start empty. */
    f = fopen(path, "w");
    fprintf(f, "weft-dhcp-leases 1\nblue zz:00 10.1.1.11 2 1\n");
    fclose(f);
    ad = fresh(dir, c, 5000);
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(agent_dhcp_v4(ad, 0))), 0);
    agent_dhcp_destroy(ad);
    unlink(path);
    rmdir(dir);
    agent_config_free(c);
}
