/* Unit tests of the agent's DHCP/RA glue (agent-dhcp.h) through its
 * direct call path: punted frames go in with agent_dhcp_input(), answers
 * come out of the output hook.  A DISCOVER/OFFER/REQUEST/ACK exchange
 * for a local port's address with the configured options, an RS answered
 * with the segment's prefix, unsolicited RAs after configuration, frames
 * of ports not on the segment ignored, and the lease file round trip
 * (and a malformed file ignored).  With 2,000 segments: a new
 * configuration takes over the servers (and leases) of the segments that
 * stay, by name, as a scan of the old ones would, and saved leases go
 * back to their own segments.  Static DHCPv4 bindings: one per MAC, the
 * first port with a usable address winning, in a small segment and in one
 * of 6,000 ports checked against a scan. */
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

/* ---- Many segments ---- */

#define MANY 2000

/* The slot of port "p<k>" of many_config() (or "q<k>" of dup_config()):
 * k + 2. */
static uint32_t
many_slot_of(const void *aux, const char *ifname)
{
    (void)aux;
    return (uint32_t)atoi(ifname + 1) + 2;
}

static struct eth_addr
many_mac(uint32_t k)
{
    struct eth_addr m = {{0x02, 0x33, 0, 0, (uint8_t)(k >> 8), (uint8_t)k}};
    return m;
}

/* A configuration of 'n' segments, segment i being key keys[i]: named
 * "m<key>", DHCPv4 on 10.<key/256>.<key%256>.0/24 (gateway .1), one port
 * "p<key>" at .10 with MAC many_mac(key). */
static struct agent_config *
many_config(const uint32_t *keys, uint32_t n)
{
    struct agent_config *c = calloc(1, sizeof *c);
    char ip[32];

    c->n_segments = n;
    c->segments = calloc(n, sizeof *c->segments);
    for (uint32_t i = 0; i < n; i++) {
        struct cfg_segment *s = &c->segments[i];
        uint32_t k = keys[i];

        snprintf(s->name, sizeof s->name, "m%u", k);
        s->vni = 10000 + k;
        s->router = CFG_NO_ROUTER;
        s->router_mac = rtr;
        s->n_gateways = 1;
        s->gateways = calloc(1, sizeof *s->gateways);
        snprintf(ip, sizeof ip, "10.%u.%u.1", k / 256, k % 256);
        ip_set(&s->gateways[0].ip, AF_INET, ip);
        s->gateways[0].plen = 24;
        s->dhcp.enabled = true;
        s->n_ports = 1;
        s->ports = calloc(1, sizeof *s->ports);
        s->ports[0].id = k + 1;
        snprintf(s->ports[0].ifname, sizeof s->ports[0].ifname, "p%u", k);
        s->ports[0].mac = many_mac(k);
        s->ports[0].n_ips = 1;
        s->ports[0].ips = calloc(1, sizeof *s->ports[0].ips);
        snprintf(ip, sizeof ip, "10.%u.%u.10", k / 256, k % 256);
        ip_set(&s->ports[0].ips[0], AF_INET, ip);
    }
    return c;
}

/* Sends a DISCOVER from the port of key 'k' on segment 'seg'; true if
 * the one answer offers that port's address. */
static bool
many_discover(struct agent_dhcp *ad, uint32_t seg, uint32_t k)
{
    struct eth_addr m = many_mac(k);
    struct dp_punt_entry e;
    uint32_t yi = htonl(0x0a000000 | k << 8 | 10);

    dhcp_entry(&e, (uint16_t)(k + 2), DHCP_DISCOVER, NULL, NULL);
    e.segment = seg;
    memcpy(e.frame + 6, m.b, 6);       /* source MAC */
    memcpy(e.frame + 42 + 28, m.b, 6); /* chaddr */
    n_out = 0;
    agent_dhcp_input(ad, &e, 1000);
    return n_out == 1 && !memcmp(out[0] + 42 + 16, &yi, 4);
}

TEST(many_segments_keep_their_servers_by_name)
{
    static uint32_t keys[MANY], keys2[MANY + MANY / 4];
    static const struct dhcp_server *before[MANY];
    struct agent_config *c, *c2;
    struct agent_dhcp *ad;
    uint32_t n2 = 0, kept = 0, fresh_ = 0;
    bool ok = true;

    /* Keys in a scrambled order; then a second configuration that drops
     * every fifth segment, reverses the order and adds new ones. */
    for (uint32_t i = 0; i < MANY; i++) {
        keys[i] = (i * 7919) % MANY;
    }
    for (uint32_t i = MANY; i-- > 0;) {
        if (i % 5) {
            keys2[n2++] = keys[i];
        }
        if (i % 8 == 0) {
            keys2[n2++] = MANY + i; /* new */
        }
    }
    c = many_config(keys, MANY);
    c2 = many_config(keys2, n2);
    ad = agent_dhcp_create(NULL, NULL);
    agent_dhcp_set_output(ad, capture, NULL);
    agent_dhcp_configure(ad, c, many_slot_of, NULL, 1000);
    for (uint32_t i = 0; ok && i < MANY; i++) {
        before[i] = agent_dhcp_v4(ad, i);
        ok &= CHECK(before[i] != NULL) && CHECK(many_discover(ad, i, keys[i]));
    }
    agent_dhcp_configure(ad, c2, many_slot_of, NULL, 2000);

    /* The reference: a scan of the old segments for the name. */
    for (uint32_t i = 0; ok && i < n2; i++) {
        const struct dhcp_server *expect = NULL;
        const struct dhcp_server *got = agent_dhcp_v4(ad, i);
        const struct dhcp_lease *l;
        struct eth_addr m = many_mac(keys2[i]);

        for (uint32_t o = 0; o < MANY && !expect; o++) {
            if (!strcmp(c->segments[o].name, c2->segments[i].name)) {
                expect = before[o];
            }
        }
        if (!CHECK(got != NULL)) {
            break;
        }
        l = dhcp_leases_find_mac(dhcp_server_leases(got), &m);
        if (expect) {
            /* Taken over, with the lease its OFFER made. */
            ok &= CHECK(got == expect);
            ok &= CHECK(l && l->state == DHCP_LEASE_OFFERED &&
                        l->ip == (0x0a000000 | keys2[i] << 8 | 10));
            kept++;
        } else {
            /* A new server (the old ones all still existed meanwhile). */
            for (uint32_t o = 0; o < MANY; o++) {
                ok &= CHECK(got != before[o]);
            }
            ok &= CHECK(l == NULL);
            fresh_++;
        }
        /* Either way, it answers this segment's port. */
        ok &= CHECK(many_discover(ad, i, keys2[i]));
    }
    CHECK_EQ(kept, MANY - MANY / 5);
    CHECK_EQ(fresh_, MANY / 8);
    CHECK(agent_dhcp_v4(ad, n2) == NULL);

    /* And back to nothing. */
    agent_dhcp_configure(ad, NULL, many_slot_of, NULL, 3000);
    CHECK(agent_dhcp_v4(ad, 0) == NULL);
    agent_dhcp_destroy(ad);
    agent_config_free(c);
    agent_config_free(c2);
}

TEST(many_segments_restore_their_own_leases)
{
    static uint32_t keys[MANY];
    char dir[] = "/tmp/weft-test-dhcp-XXXXXX";
    char path[128];
    struct agent_config *c;
    struct agent_dhcp *ad;
    bool ok = true;
    FILE *f;

    for (uint32_t i = 0; i < MANY; i++) {
        keys[i] = i;
    }
    c = many_config(keys, MANY);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/dhcp-leases", dir);
    f = fopen(path, "w");
    if (!CHECK(f != NULL)) {
        return;
    }
    /* Leases in an order unrelated to the segments': for each segment a
     * lease of its port at a wrong address first (not restored: not the
     * static binding), then the right one; and leases of a segment the
     * configuration does not have. */
    fprintf(f, "weft-dhcp-leases 1\n");
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t k = (i * 7919) % MANY;
        fprintf(f, "m%u 02:33:00:00:%02x:%02x 10.%u.%u.%u 2 never\n", k,
                k >> 8 & 255, k & 255, k / 256, k % 256, 11 + k % 200);
        fprintf(f, "m%u 02:33:00:00:%02x:%02x 10.%u.%u.10 2 never\n", k,
                k >> 8 & 255, k & 255, k / 256, k % 256);
        if (i % 100 == 0) {
            fprintf(f, "gone%u 02:44:00:00:00:01 10.200.0.10 2 never\n", k);
        }
    }
    fclose(f);

    ad = agent_dhcp_create(NULL, dir);
    agent_dhcp_configure(ad, c, many_slot_of, NULL, 5000);
    for (uint32_t i = 0; ok && i < MANY; i++) {
        const struct dhcp_leases *t = dhcp_server_leases(agent_dhcp_v4(ad, i));
        struct eth_addr m = many_mac(i);
        const struct dhcp_lease *l = dhcp_leases_find_mac(t, &m);
        ok &= CHECK(l && l->state == DHCP_LEASE_BOUND &&
                    l->ip == (0x0a000000 | i << 8 | 10) &&
                    l->expires == DHCP_NEVER);
        ok &= CHECK_EQ(dhcp_leases_count(t), 1);
    }
    agent_dhcp_destroy(ad);
    unlink(path);
    rmdir(dir);
    agent_config_free(c);
}

/* ---- Static bindings: one per MAC ---- */

static struct eth_addr
dup_mac(uint32_t m)
{
    struct eth_addr e = {{0x02, 0x44, 0, 0, (uint8_t)(m >> 8), (uint8_t)m}};
    return e;
}

/* Segment "d" with DHCPv4 on 10.9.0.0/16 (gateway 10.9.0.1) and 'n'
 * ports: port k is "q<k>" (slot k + 2 by many_slot_of()), id k + 1, MAC
 * dup_mac(macs[k]) and IPv4 address ips[k] (host order; 0: only an IPv6
 * address). */
static struct agent_config *
dup_config(const uint32_t *macs, const uint32_t *ips, uint32_t n)
{
    struct agent_config *c = calloc(1, sizeof *c);
    struct cfg_segment *s;

    c->n_segments = 1;
    c->segments = s = calloc(1, sizeof *s);
    strcpy(s->name, "d");
    s->vni = 7001;
    s->router = CFG_NO_ROUTER;
    s->router_mac = rtr;
    s->n_gateways = 1;
    s->gateways = calloc(1, sizeof *s->gateways);
    ip_set(&s->gateways[0].ip, AF_INET, "10.9.0.1");
    s->gateways[0].plen = 16;
    s->dhcp.enabled = true;
    s->n_ports = n;
    s->ports = calloc(n ? n : 1, sizeof *s->ports);
    for (uint32_t k = 0; k < n; k++) {
        struct cfg_port *p = &s->ports[k];
        uint32_t a = htonl(ips[k]);

        p->id = k + 1;
        snprintf(p->ifname, sizeof p->ifname, "q%u", k);
        p->mac = dup_mac(macs[k]);
        p->n_ips = 1;
        p->ips = calloc(1, sizeof *p->ips);
        if (ips[k]) {
            ip_set(&p->ips[0], AF_INET, "0.0.0.0");
            memcpy(p->ips[0].b + 12, &a, 4);
        } else {
            ip_set(&p->ips[0], AF_INET6, "fd00:9::99");
        }
    }
    return c;
}

/* Services configured with 'c' at 1 s, answers captured. */
static struct agent_dhcp *
dup_start(const struct agent_config *c)
{
    struct agent_dhcp *ad = agent_dhcp_create(NULL, NULL);

    agent_dhcp_set_output(ad, capture, NULL);
    agent_dhcp_configure(ad, c, many_slot_of, NULL, 1000);
    return ad;
}

/* The address (host order) offered to a DISCOVER from MAC dup_mac(m) on
 * port k of segment 0, or 0 if there is no one answer. */
static uint32_t
dup_offer(struct agent_dhcp *ad, uint32_t k, uint32_t m)
{
    struct eth_addr mac = dup_mac(m);
    struct dp_punt_entry e;
    uint32_t yi;

    dhcp_entry(&e, (uint16_t)(k + 2), DHCP_DISCOVER, NULL, NULL);
    memcpy(e.frame + 6, mac.b, 6);       /* source MAC */
    memcpy(e.frame + 42 + 28, mac.b, 6); /* chaddr */
    n_out = 0;
    agent_dhcp_input(ad, &e, 1000);
    if (n_out != 1) {
        return 0;
    }
    memcpy(&yi, out[0] + 42 + 16, 4);
    return ntohl(yi);
}

TEST(duplicate_macs_first_bound_port_wins)
{
    /* MAC 1: bound by port 0 (.10); ports 1 and 6 are left out, so .20
     * stays free for MAC 3 (were port 1 kept, the server would refuse
     * the configuration: a MAC bound twice).  MAC 4: port 3 has no
     * usable IPv4 address, so it binds nothing and port 4 binds MAC 4
     * (.40).  MAC 5 has only an IPv6 address. */
    static const uint32_t macs[] = {1, 1, 3, 4, 4, 5, 1};
    static const uint32_t ips[] = {0x0a09000a, 0x0a090014, 0x0a090014,
                                   0x0a630005, 0x0a090028, 0,
                                   0x0a09003c};
    struct agent_config *c = dup_config(macs, ips, 7);
    struct agent_dhcp *ad = dup_start(c);

    if (!CHECK(agent_dhcp_v4(ad, 0) != NULL)) {
        goto out;
    }
    CHECK_EQ(dup_offer(ad, 0, 1), 0x0a09000a);
    CHECK_EQ(dup_offer(ad, 1, 1), 0x0a09000a); /* from another port too */
    CHECK_EQ(dup_offer(ad, 2, 3), 0x0a090014);
    CHECK_EQ(dup_offer(ad, 4, 4), 0x0a090028);
    CHECK_EQ(dup_offer(ad, 5, 5), 0);
    CHECK_EQ(dup_offer(ad, 0, 9), 0); /* a MAC of no port */
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(agent_dhcp_v4(ad, 0))), 3);

    /* Configured again (the server reconfigured): the same bindings. */
    agent_dhcp_configure(ad, c, many_slot_of, NULL, 2000);
    CHECK_EQ(dup_offer(ad, 6, 1), 0x0a09000a);
    CHECK_EQ(dup_offer(ad, 2, 3), 0x0a090014);
    CHECK_EQ(dup_offer(ad, 3, 4), 0x0a090028);
out:
    agent_dhcp_destroy(ad);
    agent_config_free(c);
}

#define DUP_PORTS 6000

TEST(thousands_of_ports_in_one_segment_one_binding_per_mac)
{
    static uint32_t macs[DUP_PORTS], ips[DUP_PORTS];
    static uint32_t want[DUP_PORTS], first_port[DUP_PORTS];
    static bool bound[DUP_PORTS];
    struct agent_config *c;
    struct agent_dhcp *ad;
    uint32_t n_bound = 0, n_macs = 0, n_late = 0;
    bool ok = true;

    /* Every third port reuses the MAC of an earlier one (spread over the
     * whole segment); every seventh port has no IPv4 address, so a later
     * port with its MAC binds it. */
    for (uint32_t k = 0; k < DUP_PORTS; k++) {
        uint32_t j = k ? (uint32_t)((k * 2654435761ull) >> 16) % k : 0;
        macs[k] = k % 3 == 2 ? macs[j] : k;
        ips[k] = k % 7 == 3 ? 0 : 0x0a090000 + 10 + k;
    }
    /* The reference: a scan of the bindings made so far, per port. */
    for (uint32_t m = 0; m < DUP_PORTS; m++) {
        first_port[m] = UINT32_MAX;
    }
    for (uint32_t k = 0; k < DUP_PORTS; k++) {
        bool dup = false;
        for (uint32_t j = 0; j < k; j++) {
            dup |= bound[j] && macs[j] == macs[k];
        }
        if (first_port[macs[k]] == UINT32_MAX) {
            first_port[macs[k]] = k;
            n_macs++;
        }
        if (!dup && ips[k]) {
            bound[k] = true;
            want[macs[k]] = ips[k];
            n_bound++;
            n_late += first_port[macs[k]] != k;
        }
    }
    /* The cases occur: MACs on several ports, MACs bound by none, MACs
     * bound by a port after their first. */
    CHECK(n_macs < DUP_PORTS && n_bound < n_macs && n_late > 0);

    c = dup_config(macs, ips, DUP_PORTS);
    ad = dup_start(c);
    if (!CHECK(agent_dhcp_v4(ad, 0) != NULL)) {
        goto out;
    }
    for (uint32_t m = 0; ok && m < DUP_PORTS; m++) {
        if (first_port[m] != UINT32_MAX) {
            ok &= CHECK_EQ(dup_offer(ad, first_port[m], m), want[m]);
        }
    }
    CHECK_EQ(dhcp_leases_count(dhcp_server_leases(agent_dhcp_v4(ad, 0))),
             n_bound);
out:
    agent_dhcp_destroy(ad);
    agent_config_free(c);
}
