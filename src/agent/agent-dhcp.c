/* weft-agent's DHCPv4/DHCPv6/RA services (agent-dhcp.h).
 *
 * Lease file format (text, one lease a line after a version line):
 *   weft-dhcp-leases 1
 *   <segment name> <mac> <ipv4 dotted> <state 1..4> <expires: unix s|never>
 * Expiry is stored in wall-clock seconds and turned back into the
 * monotonic clock on load, so a restart neither shortens nor extends a
 * lease.  Only leases that are still valid under the current config are
 * restored (static bindings: the MAC must still own the address). */
#include "agent/agent-dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/ctl.h"
#include "datapath/datapath.h"
#include "datapath/dhcp.h"
#include "datapath/dhcp6.h"
#include "datapath/parse.h"
#include "datapath/punt.h"
#include "datapath/ra.h"
#include "lib/hash.h"
#include "lib/hmap.h"
#include "lib/log.h"
#include "lib/util.h"

#define LEASE_FILE     "dhcp-leases"
#define SAVE_PERIOD_MS 1000
#define MAX_PER_RUN    1024 /* punted frames handled per run */
#define MAX_DNS4       DHCP_MAX_DNS
#define MAX_ROUTES     32

/* A local port of a segment. */
struct ad_port {
    uint16_t slot; /* datapath port index */
    struct eth_addr mac;
    struct ra_timer ra; /* unsolicited RAs to it */
};

struct ad_segment {
    char name[CFG_NAME_MAX];
    struct eth_addr router_mac;
    struct dhcp_server *v4;  /* NULL: DHCPv4 off */
    struct dhcp6_server *v6; /* NULL: DHCPv6 off */
    bool ra;                 /* RAs on */
    struct ra_config ra_cfg; /* points into the arrays below */
    struct ra_prefix ra_prefixes[RA_MAX_PREFIXES];
    uint8_t ra_dns[RA_MAX_DNS][16];
    struct ad_port *ports;
    uint32_t n_ports;

    /* Counters. */
    uint64_t rx4, tx4, rx6, tx6, rs_rx, ra_tx, ra_unsolicited, declines6;
    uint64_t drops4[DHCP_DROP_N_REASONS];
    uint64_t drops6[DHCP6_DROP_N_REASONS];
    uint64_t drops_rs[RA_DROP_N_REASONS];
};

/* A lease read from the file, waiting for its segment. */
struct ad_saved {
    char segment[CFG_NAME_MAX];
    struct eth_addr mac;
    uint32_t ip;
    uint8_t state;
    uint64_t expires_wall; /* UINT64_MAX: never */
    size_t seq;            /* order in the file */
};

struct agent_dhcp {
    struct datapath *dp;
    char path[PATH_MAX];     /* lease file; "" = no persistence */
    struct ad_segment *segs; /* index = datapath segment */
    uint32_t n_segs;
    struct ad_saved *saved; /* from the file, until applied; sorted by
                               segment, then file order */
    size_t n_saved;
    bool dirty;        /* leases changed since the last save */
    uint64_t saved_ms; /* when they were last saved */
    uint32_t rng;      /* RA jitter */
    void (*out)(void *, uint16_t, const uint8_t *, uint32_t);
    void *out_aux;
    struct dp_punt_entry entry; /* receive buffer */
    uint64_t unknown;           /* frames of no configured service */
    uint64_t unparsed;          /* frames that do not parse */
    uint64_t inject_failed;     /* answers the inject ring refused */
};

static uint64_t
wall_s(void)
{
    return (uint64_t)time(NULL);
}

/* ---- Lease file ---- */

static int
cmp_saved(const void *a_, const void *b_)
{
    const struct ad_saved *a = a_, *b = b_;
    int c = strcmp(a->segment, b->segment);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static void
load_leases(struct agent_dhcp *ad)
{
    FILE *f = fopen(ad->path, "r");
    char line[512];
    size_t cap = 0;
    int lineno = 1;

    if (!f) {
        if (errno != ENOENT) {
            LOG_WARN("dhcp", "msg=\"cannot read leases\" file=%s error=\"%s\"",
                     ad->path, strerror(errno));
        }
        return;
    }
    if (!fgets(line, sizeof line, f) || strcmp(line, "weft-dhcp-leases 1\n")) {
        goto bad;
    }
    while (fgets(line, sizeof line, f)) {
        struct ad_saved s;
        char mac[32], ip[32], exp[32];
        unsigned m[6], state;
        struct in_addr a;
        char *end;

        lineno++;
        memset(&s, 0, sizeof s);
        if (sscanf(line, "%63s %31s %31s %u %31s", s.segment, mac, ip, &state,
                   exp) != 5 ||
            sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
                   &m[5]) != 6 ||
            inet_pton(AF_INET, ip, &a) != 1 || state < DHCP_LEASE_OFFERED ||
            state > DHCP_LEASE_DECLINED) {
            goto bad;
        }
        for (int i = 0; i < 6; i++) {
            if (m[i] > 255) {
                goto bad;
            }
            s.mac.b[i] = (uint8_t)m[i];
        }
        s.ip = ntohl(a.s_addr);
        s.state = (uint8_t)state;
        if (!strcmp(exp, "never")) {
            s.expires_wall = UINT64_MAX;
        } else {
            errno = 0;
            s.expires_wall = strtoull(exp, &end, 10);
            if (errno || *end || !exp[0]) {
                goto bad;
            }
        }
        if (ad->n_saved == cap) {
            cap = cap ? 2 * cap : 64;
            ad->saved = xrealloc(ad->saved, cap * sizeof *ad->saved);
        }
        s.seq = ad->n_saved;
        ad->saved[ad->n_saved++] = s;
    }
    fclose(f);
    /* Each segment finds its own leases by binary search. */
    if (ad->n_saved) {
        qsort(ad->saved, ad->n_saved, sizeof *ad->saved, cmp_saved);
    }
    LOG_INFO("dhcp", "msg=\"leases loaded\" file=%s leases=%zu", ad->path,
             ad->n_saved);
    return;

bad:
    LOG_WARN("dhcp",
             "msg=\"malformed lease file, starting empty\" file=%s "
             "line=%d",
             ad->path, lineno);
    fclose(f);
    free(ad->saved);
    ad->saved = NULL;
    ad->n_saved = 0;
}

/* Writes every DHCPv4 lease to a temporary file, fsyncs and renames it
 * over the lease file. */
static void
save_leases(struct agent_dhcp *ad, uint64_t now_ms)
{
    char tmp[PATH_MAX + 8];
    uint64_t now = now_ms / 1000, wall = wall_s();
    FILE *f;
    int err = 0;

    ad->dirty = false;
    ad->saved_ms = now_ms;
    if (!ad->path[0]) {
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", ad->path);
    f = fopen(tmp, "w");
    if (!f) {
        LOG_WARN("dhcp", "msg=\"cannot write leases\" file=%s error=\"%s\"",
                 tmp, strerror(errno));
        return;
    }
    fprintf(f, "weft-dhcp-leases 1\n");
    for (uint32_t s = 0; s < ad->n_segs; s++) {
        const struct dhcp_leases *t;
        if (!ad->segs[s].v4) {
            continue;
        }
        t = dhcp_server_leases(ad->segs[s].v4);
        for (uint32_t i = 0; i < dhcp_leases_capacity(t); i++) {
            const struct dhcp_lease *l = dhcp_leases_slot(t, i);
            const uint8_t *m;
            if (!l || !dhcp_lease_state_at(l, now)) {
                continue;
            }
            m = l->mac.b;
            fprintf(f, "%s %02x:%02x:%02x:%02x:%02x:%02x %u.%u.%u.%u %u ",
                    ad->segs[s].name, m[0], m[1], m[2], m[3], m[4], m[5],
                    l->ip >> 24, (l->ip >> 16) & 255, (l->ip >> 8) & 255,
                    l->ip & 255, l->state);
            if (l->expires == DHCP_NEVER) {
                fprintf(f, "never\n");
            } else {
                fprintf(f, "%" PRIu64 "\n",
                        wall + (l->expires > now ? l->expires - now : 0));
            }
        }
    }
    if (fflush(f) || fsync(fileno(f))) {
        err = errno;
    }
    if (fclose(f) && !err) {
        err = errno;
    }
    if (!err && rename(tmp, ad->path)) {
        err = errno;
    }
    if (err) {
        LOG_WARN("dhcp", "msg=\"cannot write leases\" file=%s error=\"%s\"",
                 ad->path, strerror(err));
        unlink(tmp);
    }
}

/* Restores the saved leases of segment 'seg' into its new server. */
static void
restore_leases(struct agent_dhcp *ad, struct ad_segment *seg,
               const struct dhcp_static_binding *st, uint32_t n_st,
               uint64_t now_ms)
{
    /* The lease table is the server's; restoring is the one write from
     * outside, done before the server answers anything.  Entries are
     * only restored for the address the MAC is statically bound to, so
     * they are valid under the configuration by construction. */
    struct dhcp_leases *t = (struct dhcp_leases *)dhcp_server_leases(seg->v4);
    uint64_t now = now_ms / 1000, wall = wall_s();
    size_t lo = 0, hi = ad->n_saved;

    /* The first lease of the segment (the file's order within it). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ad->saved[mid].segment, seg->name) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (size_t i = lo;
         i < ad->n_saved && !strcmp(ad->saved[i].segment, seg->name); i++) {
        const struct ad_saved *s = &ad->saved[i];
        struct dhcp_lease *l;
        uint64_t exp;

        if (s->state == DHCP_LEASE_DECLINED) {
            continue;
        }
        l = dhcp_leases_find_mac(t, &s->mac);
        if (l || dhcp_leases_find_ip(t, s->ip)) {
            continue;
        }
        exp = s->expires_wall == UINT64_MAX ? DHCP_NEVER
              : s->expires_wall > wall      ? now + (s->expires_wall - wall)
                                            : now;
        for (uint32_t k = 0; k < n_st; k++) {
            if (eth_addr_equals(&st[k].mac, &s->mac) && st[k].ip == s->ip) {
                l = dhcp_leases_add(t, &s->mac, s->ip,
                                    (enum dhcp_lease_state)s->state, exp, now);
                if (l) {
                    l->is_static = 1;
                }
            }
        }
    }
}

/* ---- Configuration ---- */

static int cmp_port(const void *, const void *);
static const struct ad_port *port_of(const struct ad_segment *, uint16_t slot);

static bool
v4_of(const struct cfg_ip *ip, uint32_t *host)
{
    uint32_t n;
    if (!cfg_ip_is_v4(ip, &n)) {
        return false;
    }
    *host = ntohl(n);
    return true;
}

static bool
in_prefix6(const uint8_t *a, const uint8_t *p, uint8_t plen)
{
    uint8_t bytes = plen / 8, bits = plen % 8;
    return !memcmp(a, p, bytes) &&
           (!bits || !((a[bytes] ^ p[bytes]) & (uint8_t)(0xff << (8 - bits))));
}

static void
mask6(uint8_t *a, uint8_t plen)
{
    for (int i = 0; i < 16; i++) {
        int keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
        a[i] &= (uint8_t)(0xff << (8 - keep));
    }
}

static bool
is_mac_zero(const struct eth_addr *m)
{
    static const struct eth_addr zero;
    return eth_addr_equals(m, &zero);
}

/* The MAC of one static binding, in the set of those of a segment, so
 * that a port whose MAC is already bound is found in O(1), not by a scan
 * of the bindings so far (O(ports^2) per segment and configuration). */
struct ad_mac {
    struct hmap_node node; /* in the set, by hash_mac() */
    struct eth_addr mac;
};

static uint32_t
hash_mac(const struct eth_addr *m)
{
    return hash_bytes(m->b, ETH_ADDR_LEN, 0);
}

/* Whether set 'macs' (of struct ad_mac) holds 'mac'. */
static bool
mac_in_set(const struct hmap *macs, const struct eth_addr *mac)
{
    const struct ad_mac *m;

    HMAP_FOR_EACH_WITH_HASH (m, node, hash_mac(mac), macs) {
        if (eth_addr_equals(&m->mac, mac)) {
            return true;
        }
    }
    return false;
}

/* DHCPv4 of 'cs' into 'seg' (created, reconfigured or removed). */
static void
configure_v4(struct agent_dhcp *ad, struct ad_segment *seg,
             const struct cfg_segment *cs, uint64_t now_ms)
{
    struct dhcp_static_binding *st = NULL;
    struct hmap macs = HMAP_INITIALIZER;
    struct ad_mac *macs_of;
    uint32_t dns[MAX_DNS4], gw = 0, n_dns = 0, n_st = 0, n_routes = 0;
    struct dhcp_route routes[MAX_ROUTES];
    uint8_t plen = 0;
    struct dhcp_config c;
    char err[128];
    bool fresh;

    for (uint32_t g = 0; g < cs->n_gateways && !gw; g++) {
        if (v4_of(&cs->gateways[g].ip, &gw)) {
            plen = cs->gateways[g].plen;
        }
    }
    if (!cs->dhcp.enabled || !gw || plen < 1 || plen > 30 ||
        is_mac_zero(&cs->router_mac)) {
        if (cs->dhcp.enabled) {
            LOG_WARN("dhcp",
                     "msg=\"DHCPv4 needs a router MAC and an IPv4 gateway "
                     "/1../30\" segment=%s",
                     cs->name);
        }
        dhcp_server_destroy(seg->v4);
        seg->v4 = NULL;
        return;
    }
    uint32_t mask = ~0u << (32 - plen);
    st = xcalloc(cs->n_ports ? cs->n_ports : 1, sizeof *st);
    /* One binding per MAC: a port whose MAC an earlier port's binding
     * holds is left out (st[k] and macs_of[k] go together). */
    macs_of = xcalloc(cs->n_ports ? cs->n_ports : 1, sizeof *macs_of);
    for (uint32_t p = 0; p < cs->n_ports; p++) {
        const struct cfg_port *cp = &cs->ports[p];
        bool dup = mac_in_set(&macs, &cp->mac);
        for (uint32_t i = 0; i < cp->n_ips && !dup; i++) {
            uint32_t a;
            if (v4_of(&cp->ips[i], &a) && (a & mask) == (gw & mask) &&
                a != gw && (a & ~mask) && (a & ~mask) != ~mask) {
                macs_of[n_st].mac = cp->mac;
                hmap_insert(&macs, &macs_of[n_st].node, hash_mac(&cp->mac));
                st[n_st].mac = cp->mac;
                st[n_st++].ip = a;
                break;
            }
        }
    }
    hmap_destroy(&macs);
    free(macs_of);
    for (uint32_t i = 0; i < cs->dhcp.n_dns && n_dns < MAX_DNS4; i++) {
        if (v4_of(&cs->dhcp.dns[i], &dns[n_dns])) {
            n_dns++;
        }
    }
    for (uint32_t i = 0; i < cs->dhcp.n_routes && n_routes < MAX_ROUTES; i++) {
        const struct cfg_dhcp_route *r = &cs->dhcp.routes[i];
        if (v4_of(&r->dst.ip, &routes[n_routes].prefix) &&
            v4_of(&r->gateway, &routes[n_routes].gateway)) {
            routes[n_routes++].len = r->dst.plen;
        }
    }
    c = (struct dhcp_config){
        .server_ip = gw,
        .server_mac = cs->router_mac,
        .subnet = gw & mask,
        .prefix_len = plen,
        .statics = st,
        .n_statics = n_st,
        .lease_time = cs->dhcp.lease_time >= 60 ? cs->dhcp.lease_time : 86400,
        .router = gw,
        .dns = dns,
        .n_dns = n_dns,
        .domain = cs->dhcp.domain,
        .mtu = cs->dhcp.mtu >= 68 ? cs->dhcp.mtu : 0,
        .routes = routes,
        .n_routes = n_routes,
    };
    fresh = !seg->v4;
    if (dhcp_config_validate(&c, err, sizeof err)) {
        LOG_WARN("dhcp",
                 "msg=\"DHCPv4 configuration refused\" segment=%s "
                 "error=\"%s\"",
                 cs->name, err);
        dhcp_server_destroy(seg->v4);
        seg->v4 = NULL;
    } else if (fresh) {
        dhcp_server_create(&c, 0, &seg->v4);
        restore_leases(ad, seg, st, n_st, now_ms);
    } else {
        dhcp_server_reconfigure(seg->v4, &c, now_ms / 1000);
    }
    free(st);
}

/* DHCPv6 and RA of 'cs' into 'seg'. */
static void
configure_v6(struct ad_segment *seg, const struct cfg_segment *cs)
{
    uint8_t pfx[RA_MAX_PREFIXES][16], plens[RA_MAX_PREFIXES];
    uint32_t n_pfx = 0, n_dns = 0, n_b = 0;
    struct dhcp6_binding *b;
    struct dhcp6_config c;

    for (uint32_t g = 0; g < cs->n_gateways && n_pfx < RA_MAX_PREFIXES; g++) {
        const struct cfg_prefix *gp = &cs->gateways[g];
        if (cfg_ip_is_v4(&gp->ip, NULL) || gp->ip.b[0] == 0xfe) {
            continue; /* IPv4, or link-local */
        }
        memcpy(pfx[n_pfx], gp->ip.b, 16);
        mask6(pfx[n_pfx], gp->plen);
        plens[n_pfx++] = gp->plen;
    }
    for (uint32_t i = 0; i < cs->dhcp.n_dns && n_dns < RA_MAX_DNS; i++) {
        if (!cfg_ip_is_v4(&cs->dhcp.dns[i], NULL)) {
            memcpy(seg->ra_dns[n_dns++], cs->dhcp.dns[i].b, 16);
        }
    }

    seg->ra = cs->ipv6.ra && !is_mac_zero(&cs->router_mac);
    for (uint32_t i = 0; i < n_pfx; i++) {
        memcpy(seg->ra_prefixes[i].prefix, pfx[i], 16);
        seg->ra_prefixes[i].len = plens[i];
        seg->ra_prefixes[i].autonomous = cs->ipv6.slaac && plens[i] == 64;
    }
    seg->ra_cfg = (struct ra_config){
        .router_mac = cs->router_mac,
        .managed = cs->ipv6.managed,
        .other = cs->ipv6.other,
        .prefixes = seg->ra_prefixes,
        .n_prefixes = n_pfx,
        .mtu = cs->dhcp.mtu >= 1280 ? cs->dhcp.mtu : 0,
        .dns = (const uint8_t(*)[16])seg->ra_dns,
        .n_dns = n_dns,
    };

    if (!cs->ipv6.dhcp6 || is_mac_zero(&cs->router_mac)) {
        dhcp6_server_destroy(seg->v6);
        seg->v6 = NULL;
        return;
    }
    b = xcalloc(cs->n_ports ? cs->n_ports : 1, sizeof *b);
    for (uint32_t p = 0; p < cs->n_ports; p++) {
        const struct cfg_port *cp = &cs->ports[p];
        for (uint32_t i = 0; i < cp->n_ips; i++) {
            bool in = false;
            for (uint32_t k = 0; k < n_pfx; k++) {
                in |= in_prefix6(cp->ips[i].b, pfx[k], plens[k]);
            }
            if (in && !cfg_ip_is_v4(&cp->ips[i], NULL)) {
                b[n_b].mac = cp->mac;
                memcpy(b[n_b++].addr, cp->ips[i].b, 16);
                break;
            }
        }
    }
    c = (struct dhcp6_config){
        .server_mac = cs->router_mac,
        .stateful = cs->ipv6.managed,
        .bindings = b,
        .n_bindings = n_b,
        .prefixes = (const uint8_t(*)[16])pfx,
        .prefix_lens = plens,
        .n_prefixes = n_pfx,
        .dns = (const uint8_t(*)[16])seg->ra_dns,
        .n_dns = n_dns,
        .domain = cs->dhcp.domain,
    };
    if (seg->v6 ? dhcp6_server_reconfigure(seg->v6, &c)
                : dhcp6_server_create(&c, &seg->v6)) {
        c.domain = NULL; /* a domain DHCPv6 cannot encode: serve without */
        if (seg->v6 ? dhcp6_server_reconfigure(seg->v6, &c)
                    : dhcp6_server_create(&c, &seg->v6)) {
            LOG_WARN("dhcp", "msg=\"DHCPv6 configuration refused\" segment=%s",
                     cs->name);
        }
    }
    free(b);
}

static void
segment_free(struct ad_segment *seg)
{
    dhcp_server_destroy(seg->v4);
    dhcp6_server_destroy(seg->v6);
    free(seg->ports);
}

/* An old segment, indexed by name while a configuration takes over the
 * segments that stay. */
struct ad_old {
    struct hmap_node node; /* in the map of old segments, by name */
    uint32_t index;        /* in agent_dhcp.segs */
};

/* Removes from 'map' and returns the index of the first old segment named
 * 'name' (the lowest index, as a scan in order would find), or
 * UINT32_MAX. */
static uint32_t
take_old(struct hmap *map, const struct ad_segment *segs, const char *name)
{
    struct ad_old *o, *best = NULL;

    HMAP_FOR_EACH_WITH_HASH (o, node, hash_str(name), map) {
        if (!strcmp(segs[o->index].name, name) &&
            (!best || o->index < best->index)) {
            best = o;
        }
    }
    if (!best) {
        return UINT32_MAX;
    }
    hmap_remove(map, &best->node);
    return best->index;
}

void
agent_dhcp_configure(struct agent_dhcp *ad, const struct agent_config *cfg,
                     uint32_t (*slot_of)(const void *, const char *),
                     const void *aux, uint64_t now_ms)
{
    uint32_t n = cfg ? cfg->n_segments : 0;
    struct ad_segment *segs = xcalloc(n ? n : 1, sizeof *segs);
    struct ad_old *olds = xcalloc(ad->n_segs + 1, sizeof *olds);
    struct hmap old_map;

    /* The old segments by name: matching each new one costs O(1), not a
     * scan of the old ones (O(segments^2) per configuration). */
    hmap_init(&old_map);
    for (uint32_t o = 0; o < ad->n_segs; o++) {
        olds[o].index = o;
        hmap_insert(&old_map, &olds[o].node, hash_str(ad->segs[o].name));
    }
    for (uint32_t s = 0; s < n; s++) {
        const struct cfg_segment *cs = &cfg->segments[s];
        struct ad_segment *seg = &segs[s];
        uint32_t o = take_old(&old_map, ad->segs, cs->name);

        /* Take over the servers and counters of the segment of that name. */
        if (o != UINT32_MAX) {
            *seg = ad->segs[o];
            memset(&ad->segs[o], 0, sizeof ad->segs[o]);
        }
        snprintf(seg->name, sizeof seg->name, "%s", cs->name);
        seg->router_mac = cs->router_mac;

        /* Ports: keep RA timers of ports that stay (the old array is
         * sorted by slot, so each is found by bsearch). */
        struct ad_segment old = *seg;
        seg->ports = xcalloc(cs->n_ports ? cs->n_ports : 1, sizeof *seg->ports);
        seg->n_ports = 0;
        for (uint32_t p = 0; p < cs->n_ports; p++) {
            uint32_t slot = slot_of(aux, cs->ports[p].ifname);
            struct ad_port *np = &seg->ports[seg->n_ports];
            const struct ad_port *op;
            if (slot == UINT32_MAX || slot > UINT16_MAX) {
                continue;
            }
            np->slot = (uint16_t)slot;
            np->mac = cs->ports[p].mac;
            ra_timer_start(&np->ra, now_ms);
            op = port_of(&old, np->slot);
            if (op && eth_addr_equals(&op->mac, &np->mac)) {
                np->ra = op->ra;
            }
            seg->n_ports++;
        }
        free(old.ports);
        qsort(seg->ports, seg->n_ports, sizeof *seg->ports, cmp_port);
        configure_v4(ad, seg, cs, now_ms);
        configure_v6(seg, cs);
    }
    hmap_destroy(&old_map);
    free(olds);
    for (uint32_t o = 0; o < ad->n_segs; o++) {
        segment_free(&ad->segs[o]);
    }
    free(ad->segs);
    ad->segs = segs;
    ad->n_segs = n;
    /* Saved leases are applied once, at the first configuration. */
    if (n) {
        free(ad->saved);
        ad->saved = NULL;
        ad->n_saved = 0;
    }
}

/* ---- Life cycle ---- */

struct agent_dhcp *
agent_dhcp_create(struct datapath *dp, const char *state_dir)
{
    struct agent_dhcp *ad = xcalloc(1, sizeof *ad);

    ad->dp = dp;
    ad->rng = (uint32_t)time_nsec() | 1;
    if (state_dir && state_dir[0]) {
        snprintf(ad->path, sizeof ad->path, "%s/%s", state_dir, LEASE_FILE);
        load_leases(ad);
    }
    return ad;
}

void
agent_dhcp_destroy(struct agent_dhcp *ad)
{
    if (!ad) {
        return;
    }
    if (ad->dirty) {
        save_leases(ad, time_nsec() / 1000000);
    }
    for (uint32_t s = 0; s < ad->n_segs; s++) {
        segment_free(&ad->segs[s]);
    }
    free(ad->segs);
    free(ad->saved);
    free(ad);
}

void
agent_dhcp_set_output(struct agent_dhcp *ad,
                      void (*fn)(void *, uint16_t, const uint8_t *, uint32_t),
                      void *aux)
{
    ad->out = fn;
    ad->out_aux = aux;
}

int
agent_dhcp_fd(const struct agent_dhcp *ad)
{
    return ad->dp ? datapath_punt_fd(ad->dp) : -1;
}

const struct dhcp_server *
agent_dhcp_v4(const struct agent_dhcp *ad, uint32_t seg)
{
    return seg < ad->n_segs ? ad->segs[seg].v4 : NULL;
}

const struct dhcp6_server *
agent_dhcp_v6(const struct agent_dhcp *ad, uint32_t seg)
{
    return seg < ad->n_segs ? ad->segs[seg].v6 : NULL;
}

/* ---- Frames ---- */

static void
send_frame(struct agent_dhcp *ad, uint16_t port, const uint8_t *f, size_t len)
{
    if (ad->out) {
        ad->out(ad->out_aux, port, f, (uint32_t)len);
    } else if (ad->dp && datapath_inject(ad->dp, port, f, (uint32_t)len)) {
        ad->inject_failed++;
    }
}

static int
cmp_port(const void *a_, const void *b_)
{
    const struct ad_port *a = a_, *b = b_;
    return (a->slot > b->slot) - (a->slot < b->slot);
}

/* The local port at datapath index 'slot' (ports are sorted by slot). */
static const struct ad_port *
port_of(const struct ad_segment *seg, uint16_t slot)
{
    struct ad_port key = {.slot = slot};
    if (!seg->n_ports) {
        return NULL; /* bsearch() wants a non-NULL array even when empty */
    }
    return bsearch(&key, seg->ports, seg->n_ports, sizeof key, cmp_port);
}

static void
input_v4(struct agent_dhcp *ad, struct ad_segment *seg,
         const struct dp_packet *p, uint16_t port, uint64_t now_ms)
{
    const uint8_t *udp = p->data + p->l4_ofs;
    size_t ulen = (size_t)(udp[4] << 8 | udp[5]);
    size_t avail = p->len - p->l7_ofs;
    struct dhcp_reply r;
    uint8_t f[DHCP_FRAME_MAX];
    enum dhcp_drop d;

    seg->rx4++;
    ulen = ulen >= 8 && ulen - 8 <= avail ? ulen - 8 : avail;
    d = dhcp_server_input(seg->v4, p->data + p->l7_ofs, ulen,
                          &dp_packet_eth(p)->src, now_ms / 1000, &r);
    if (d) {
        seg->drops4[d]++;
        return;
    }
    ad->dirty = true;
    if (r.len) {
        size_t n = dhcp_reply_frame(&r, f, sizeof f);
        seg->tx4++;
        send_frame(ad, port, f, n);
    }
}

static void
input_v6(struct agent_dhcp *ad, struct ad_segment *seg,
         const struct dp_packet *p, uint16_t port, uint64_t now_ms)
{
    const uint8_t *udp = p->data + p->l4_ofs;
    size_t ulen = (size_t)(udp[4] << 8 | udp[5]);
    size_t avail = p->len - p->l7_ofs;
    struct dhcp6_reply r;
    uint8_t f[DHCP6_FRAME_MAX];
    enum dhcp6_drop d;

    seg->rx6++;
    ulen = ulen >= 8 && ulen - 8 <= avail ? ulen - 8 : avail;
    d = dhcp6_server_input(seg->v6, p->data + p->l7_ofs, ulen,
                           &dp_packet_eth(p)->src, p->data + p->l3_ofs + 8,
                           now_ms / 1000, &r);
    if (d) {
        seg->drops6[d]++;
        return;
    }
    if (r.declined) {
        seg->declines6++;
        LOG_WARN("dhcp", "msg=\"DHCPv6 address declined\" segment=%s",
                 seg->name);
    }
    seg->tx6++;
    send_frame(ad, port, f, dhcp6_reply_frame(&r, f, sizeof f));
}

static void
input_rs(struct agent_dhcp *ad, struct ad_segment *seg,
         const struct dp_packet *p, uint16_t port)
{
    static const uint8_t unspec[16];
    const uint8_t *ip6 = p->data + p->l3_ofs;
    size_t end = p->l3_ofs + 40 + (size_t)(ip6[4] << 8 | ip6[5]);
    struct ra_rs rs;
    uint8_t f[RA_FRAME_MAX];
    enum ra_drop d;
    size_t n;

    seg->rs_rx++;
    if (end > p->len || end < p->l4_ofs) {
        end = p->len;
    }
    d = ra_parse_rs(ip6, p->data + p->l4_ofs, end - p->l4_ofs, &rs);
    if (d) {
        seg->drops_rs[d]++;
        return;
    }
    if (!memcmp(rs.src, unspec, 16)) {
        n = ra_build(&seg->ra_cfg, &ra_all_nodes_mac, ra_all_nodes_ip, f,
                     sizeof f);
    } else {
        n = ra_build(&seg->ra_cfg, &dp_packet_eth(p)->src, rs.src, f, sizeof f);
    }
    seg->ra_tx++;
    send_frame(ad, port, f, n);
}

void
agent_dhcp_input(struct agent_dhcp *ad, const struct dp_punt_entry *e,
                 uint64_t now_ms)
{
    struct ad_segment *seg =
        e->segment < ad->n_segs ? &ad->segs[e->segment] : NULL;
    struct dp_packet p;

    memset(&p, 0, sizeof p);
    p.data = (uint8_t *)e->frame;
    p.len = e->len;
    /* The snapshot may have changed since the punt: the port must still
     * be a local port of that segment. */
    if (!seg || !port_of(seg, e->port)) {
        ad->unknown++;
        return;
    }
    if (dp_parse(&p) != DP_DROP_NONE || p.l4_ofs == DP_OFS_NONE) {
        ad->unparsed++;
        return;
    }
    if (e->reason == DP_PUNT_DHCP4 && seg->v4 && p.l7_ofs != DP_OFS_NONE) {
        input_v4(ad, seg, &p, e->port, now_ms);
    } else if (e->reason == DP_PUNT_DHCP6 && seg->v6 &&
               p.l7_ofs != DP_OFS_NONE) {
        input_v6(ad, seg, &p, e->port, now_ms);
    } else if (e->reason == DP_PUNT_RS && seg->ra) {
        input_rs(ad, seg, &p, e->port);
    } else {
        ad->unknown++;
    }
}

static uint32_t
next_rand(struct agent_dhcp *ad)
{
    ad->rng ^= ad->rng << 13;
    ad->rng ^= ad->rng >> 17;
    ad->rng ^= ad->rng << 5;
    return ad->rng;
}

void
agent_dhcp_run(struct agent_dhcp *ad, uint64_t now_ms)
{
    int fd = agent_dhcp_fd(ad);
    uint64_t v;

    if (fd >= 0 && read(fd, &v, sizeof v) < 0 && errno != EAGAIN) {
        LOG_WARN("dhcp", "msg=\"eventfd read failed\"");
    }
    for (int i = 0;
         ad->dp && i < MAX_PER_RUN && datapath_punt_read(ad->dp, &ad->entry);
         i++) {
        agent_dhcp_input(ad, &ad->entry, now_ms);
    }
    for (uint32_t s = 0; s < ad->n_segs; s++) {
        struct ad_segment *seg = &ad->segs[s];
        for (uint32_t p = 0; seg->ra && p < seg->n_ports; p++) {
            if (ra_timer_due(&seg->ports[p].ra, now_ms, next_rand(ad))) {
                uint8_t f[RA_FRAME_MAX];
                size_t n = ra_build(&seg->ra_cfg, &ra_all_nodes_mac,
                                    ra_all_nodes_ip, f, sizeof f);
                seg->ra_unsolicited++;
                send_frame(ad, seg->ports[p].slot, f, n);
            }
        }
    }
    if (ad->dirty && now_ms - ad->saved_ms >= SAVE_PERIOD_MS) {
        save_leases(ad, now_ms);
    }
}

int
agent_dhcp_next_timeout_ms(const struct agent_dhcp *ad, uint64_t now_ms)
{
    uint64_t next = now_ms + 1000;

    if (ad->dirty) {
        next = MIN(next, ad->saved_ms + SAVE_PERIOD_MS);
    }
    for (uint32_t s = 0; s < ad->n_segs; s++) {
        for (uint32_t p = 0; ad->segs[s].ra && p < ad->segs[s].n_ports; p++) {
            next = MIN(next, ad->segs[s].ports[p].ra.next_ms);
        }
    }
    return next > now_ms ? (int)(next - now_ms) : 0;
}

/* ---- ctl dhcp ---- */

static const char *const v4_states[] = {"-", "offered", "bound", "released",
                                        "declined"};
static const char *const v6_states[] = {"-", "advertised", "bound", "released",
                                        "declined"};

void
agent_dhcp_show(const struct agent_dhcp *ad, uint64_t now_ms,
                struct ctl_reply *r)
{
    uint64_t now = now_ms / 1000;
    char ip[INET6_ADDRSTRLEN];

    if (ad->dp) {
        struct dp_punt_stats st;
        datapath_get_punt_stats(ad->dp, &st);
        ctl_reply_printf(r,
                         "punted dhcp4 %" PRIu64 " dhcp6 %" PRIu64
                         " rs %" PRIu64 " ring-full %" PRIu64
                         " too-big %" PRIu64 "; injected %" PRIu64
                         " sent %" PRIu64 " failed %" PRIu64 "\n",
                         st.punted[0], st.punted[1], st.punted[2], st.punt_full,
                         st.punt_too_big, st.injected, st.inject_sent,
                         st.inject_failed + st.inject_full);
    }
    ctl_reply_printf(r,
                     "not served %" PRIu64 " unparsed %" PRIu64
                     " inject-refused %" PRIu64 " lease-file %s\n",
                     ad->unknown, ad->unparsed, ad->inject_failed,
                     ad->path[0] ? ad->path : "(none)");
    for (uint32_t s = 0; s < ad->n_segs; s++) {
        const struct ad_segment *seg = &ad->segs[s];
        if (!seg->v4 && !seg->v6 && !seg->ra) {
            continue;
        }
        ctl_reply_printf(
            r,
            "segment %s: dhcp4 %s dhcp6 %s ra %s\n"
            "  dhcp4 rx %" PRIu64 " tx %" PRIu64 "  dhcp6 rx %" PRIu64
            " tx %" PRIu64 " declined %" PRIu64 "  rs rx %" PRIu64
            " ra tx %" PRIu64 " unsolicited %" PRIu64 "\n",
            seg->name, seg->v4 ? "on" : "off", seg->v6 ? "on" : "off",
            seg->ra ? "on" : "off", seg->rx4, seg->tx4, seg->rx6, seg->tx6,
            seg->declines6, seg->rs_rx, seg->ra_tx, seg->ra_unsolicited);
        if (seg->v4) {
            const struct dhcp_leases *t = dhcp_server_leases(seg->v4);
            for (uint32_t i = 0; i < dhcp_leases_capacity(t); i++) {
                const struct dhcp_lease *l = dhcp_leases_slot(t, i);
                const uint8_t *m;
                enum dhcp_lease_state st;
                if (!l || !(st = dhcp_lease_state_at(l, now))) {
                    continue;
                }
                m = l->mac.b;
                ctl_reply_printf(
                    r, "  lease4 %02x:%02x:%02x:%02x:%02x:%02x %u.%u.%u.%u %s",
                    m[0], m[1], m[2], m[3], m[4], m[5], l->ip >> 24,
                    (l->ip >> 16) & 255, (l->ip >> 8) & 255, l->ip & 255,
                    v4_states[st]);
                if (l->expires == DHCP_NEVER) {
                    ctl_reply_printf(r, " never\n");
                } else {
                    ctl_reply_printf(r, " %" PRIu64 "s\n",
                                     l->expires > now ? l->expires - now : 0);
                }
            }
        }
        for (size_t i = 0; seg->v6 && i < dhcp6_server_n_leases(seg->v6); i++) {
            const struct dhcp6_lease *l = dhcp6_server_lease(seg->v6, i);
            const uint8_t *m = l->mac.b;
            inet_ntop(AF_INET6, l->addr, ip, sizeof ip);
            ctl_reply_printf(r,
                             "  lease6 %02x:%02x:%02x:%02x:%02x:%02x %s %s "
                             "iaid %" PRIu32 "\n",
                             m[0], m[1], m[2], m[3], m[4], m[5], ip,
                             v6_states[l->state], l->iaid);
        }
        for (int d = 1; d < DHCP_DROP_N_REASONS; d++) {
            if (seg->drops4[d]) {
                ctl_reply_printf(r, "  drop4 %-16s %" PRIu64 " %s\n",
                                 dhcp_drop_name((enum dhcp_drop)d),
                                 seg->drops4[d],
                                 dhcp_drop_description((enum dhcp_drop)d));
            }
        }
        for (int d = 1; d < DHCP6_DROP_N_REASONS; d++) {
            if (seg->drops6[d]) {
                ctl_reply_printf(r, "  drop6 %-16s %" PRIu64 " %s\n",
                                 dhcp6_drop_name((enum dhcp6_drop)d),
                                 seg->drops6[d],
                                 dhcp6_drop_description((enum dhcp6_drop)d));
            }
        }
        for (int d = 1; d < RA_DROP_N_REASONS; d++) {
            if (seg->drops_rs[d]) {
                ctl_reply_printf(r, "  droprs %-16s %" PRIu64 " %s\n",
                                 ra_drop_name((enum ra_drop)d),
                                 seg->drops_rs[d],
                                 ra_drop_description((enum ra_drop)d));
            }
        }
    }
}
