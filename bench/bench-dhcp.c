/* DHCPv4 lease rate as the agent runs it (make bench-dhcp): complete
 * DISCOVER -> OFFER -> REQUEST -> ACK exchanges per second on one core,
 * each message a punted frame handed to agent_dhcp_input() (frame parse,
 * port check, dhcp_server_input(), reply frame, output hook), for many
 * distinct client MACs that are each a local port with a static binding
 * (no pools: addresses are assigned centrally).
 *
 *   bench-dhcp [N_PORTS]    prints: dhcp_agent_leases_per_s: X leases/s */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-dhcp.h"
#include "agent/config.h"
#include "datapath/dhcp.h"
#include "datapath/punt.h"
#include "lib/util.h"

static uint32_t last_yiaddr; /* from the last reply */
static uint8_t last_type;
static uint64_t replies;

static void
sink(void *aux, uint16_t port, const uint8_t *f, uint32_t len)
{
    const uint8_t *d = f + 42;
    (void)aux;
    (void)port;
    memcpy(&last_yiaddr, d + 16, 4);
    last_type = len > 242 + 2 ? d[242] : 0; /* option 53 comes first */
    replies++;
}

static uint32_t
slot_of(const void *aux, const char *ifname)
{
    (void)aux;
    return (uint32_t)atoi(ifname + 1) + 2;
}

static struct eth_addr
mac_of(uint32_t n)
{
    struct eth_addr m = {
        {0x02, 0x01, 0, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n}};
    return m;
}

/* One segment 10.0.0.0/12 with 'n' local ports 10.0.x.y. */
static struct agent_config *
config(uint32_t n)
{
    struct agent_config *c = xcalloc(1, sizeof *c);
    struct cfg_segment *s;

    c->n_segments = 1;
    c->segments = s = xcalloc(1, sizeof *s);
    strcpy(s->name, "bench");
    s->vni = 1;
    s->router_mac = (struct eth_addr){{0x02, 0xee, 0, 0, 0, 1}};
    s->n_gateways = 1;
    s->gateways = xcalloc(1, sizeof *s->gateways);
    s->gateways[0].ip.b[10] = s->gateways[0].ip.b[11] = 0xff;
    s->gateways[0].ip.b[12] = 10;
    s->gateways[0].ip.b[15] = 1;
    s->gateways[0].plen = 12;
    s->dhcp.enabled = true;
    s->dhcp.lease_time = 86400;
    s->dhcp.n_dns = 1;
    s->dhcp.dns = xcalloc(1, sizeof *s->dhcp.dns);
    memcpy(s->dhcp.dns[0].b, s->gateways[0].ip.b, 16);
    s->dhcp.dns[0].b[15] = 2;
    strcpy(s->dhcp.domain, "tenant.example");
    s->dhcp.mtu = 1450;
    s->n_ports = n;
    s->ports = xcalloc(n, sizeof *s->ports);
    for (uint32_t i = 0; i < n; i++) {
        struct cfg_port *p = &s->ports[i];
        uint32_t ip = 0x0a000010 + i;
        p->id = i + 1;
        snprintf(p->ifname, sizeof p->ifname, "v%u", i);
        p->mac = mac_of(i);
        p->n_ips = 1;
        p->ips = xcalloc(1, sizeof *p->ips);
        p->ips[0].b[10] = p->ips[0].b[11] = 0xff;
        ip = htonl(ip);
        memcpy(p->ips[0].b + 12, &ip, 4);
    }
    return c;
}

/* A punted DHCP message from client 'n'. */
static void
entry(struct dp_punt_entry *e, uint32_t n, uint8_t type, uint32_t req_be)
{
    static const uint8_t prl[] = {55, 6, 1, 3, 6, 15, 26, 121};
    struct eth_addr mac = mac_of(n);
    uint8_t *b = e->frame + 42;
    size_t len = 240;

    memset(e->frame, 0, 42 + 300);
    e->port = (uint16_t)(n + 2);
    e->reason = DP_PUNT_DHCP4;
    e->segment = 0;
    memset(e->frame, 0xff, 6);
    memcpy(e->frame + 6, mac.b, 6);
    e->frame[12] = 0x08;
    e->frame[14] = 0x45;
    e->frame[22] = 64;
    e->frame[23] = 17;
    memset(e->frame + 30, 0xff, 4);
    e->frame[35] = 68;
    e->frame[37] = 67;
    b[0] = 1, b[1] = 1, b[2] = 6;
    memcpy(b + 4, &n, 4);
    memcpy(b + 28, mac.b, 6);
    memcpy(b + 236, "\x63\x82\x53\x63", 4);
    b[len++] = 53, b[len++] = 1, b[len++] = type;
    memcpy(b + len, prl, sizeof prl);
    len += sizeof prl;
    if (type == DHCP_REQUEST) {
        uint32_t sid = htonl(0x0a000001);
        b[len++] = 50, b[len++] = 4;
        memcpy(b + len, &req_be, 4);
        len += 4;
        b[len++] = 54, b[len++] = 4;
        memcpy(b + len, &sid, 4);
        len += 4;
    }
    b[len++] = 255;
    e->len = (uint16_t)(42 + len);
    e->frame[16] = (uint8_t)((28 + len) >> 8),
    e->frame[17] = (uint8_t)(28 + len);
    e->frame[38] = (uint8_t)((8 + len) >> 8), e->frame[39] = (uint8_t)(8 + len);
}

int
main(int argc, char *argv[])
{
    uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 50000;
    struct agent_config *c;
    static struct dp_punt_entry e;
    double best = 0;

    if (n < 1 || n > 60000) {
        fprintf(stderr, "bench-dhcp: N_PORTS in 1..60000\n");
        return 2;
    }
    c = config(n);
    for (int rep = 0; rep < 3; rep++) {
        struct agent_dhcp *ad = agent_dhcp_create(NULL, NULL);
        uint64_t start;

        agent_dhcp_set_output(ad, sink, NULL);
        agent_dhcp_configure(ad, c, slot_of, NULL, 1000000);
        replies = 0;
        start = time_nsec();
        for (uint32_t i = 0; i < n; i++) {
            entry(&e, i, DHCP_DISCOVER, 0);
            agent_dhcp_input(ad, &e, 1000000);
            if (last_type != DHCP_OFFER) {
                fprintf(stderr, "bench-dhcp: no OFFER for client %u\n", i);
                return 1;
            }
            entry(&e, i, DHCP_REQUEST, last_yiaddr);
            agent_dhcp_input(ad, &e, 1000000);
            if (last_type != DHCP_ACK || last_yiaddr != htonl(0x0a000010 + i)) {
                fprintf(stderr, "bench-dhcp: no ACK for client %u\n", i);
                return 1;
            }
        }
        double rate = n / ((double)(time_nsec() - start) / 1e9);
        best = rate > best ? rate : best;
        if (replies != 2ull * n) {
            fprintf(stderr, "bench-dhcp: %llu replies\n",
                    (unsigned long long)replies);
            return 1;
        }
        agent_dhcp_destroy(ad);
    }
    agent_config_free(c);
    printf("dhcp_agent_leases_per_s: %.0f leases/s\n", best);
    return 0;
}
