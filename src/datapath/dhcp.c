/* DHCPv4 server logic (dhcp.h): parsing client messages, choosing
 * addresses, keeping leases, and writing replies.
 *
 * Flow per message type (RFC 2131 section 4.3):
 *   DISCOVER  static binding > the client's current or previous address >
 *             the address it asks for (option 50) if free > a free pool
 *             address; the address is reserved for 'offer_hold' seconds
 *             (a bound lease is not downgraded).  -> OFFER
 *   REQUEST   SELECTING (server id): for us -> ACK if the address is the
 *             one we can give it, else NAK; for another server -> our
 *             offer is withdrawn, no reply.
 *             INIT-REBOOT (option 50, no ciaddr): NAK if the address is
 *             wrong for the segment or held by someone else, ACK if it is
 *             the client's own, silence if we have no record (RFC 2131
 *             4.3.2 requires silence).
 *             RENEWING/REBINDING (ciaddr): ACK if the address is the
 *             client's or free for it (a lease recreated after its record
 *             was lost: we are the segment's only server), else NAK.
 *   DECLINE   the address, if the client held it, rests for
 *             'decline_hold' seconds; no reply.
 *   RELEASE   the client's lease ends now (remembered for it); no reply.
 *   INFORM    ACK with the configuration options, no lease.
 *
 * Free addresses are found by a cursor that walks the pools round-robin,
 * so a fresh address is usually the next one; only when every address has
 * a lease record does a second pass reclaim the first one whose lease is
 * dead.  A failed search is remembered for the rest of that second, so a
 * DISCOVER storm against a full pool costs one scan per second, not one
 * per message. */
#include "datapath/dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/csum.h"
#include "lib/util.h"

/* Option codes (RFC 2132, RFC 3442). */
#define OPT_PAD          0
#define OPT_SUBNET_MASK  1
#define OPT_ROUTER       3
#define OPT_DNS          6
#define OPT_DOMAIN       15
#define OPT_MTU          26
#define OPT_REQUESTED_IP 50
#define OPT_LEASE_TIME   51
#define OPT_OVERLOAD     52
#define OPT_MSG_TYPE     53
#define OPT_SERVER_ID    54
#define OPT_PRL          55
#define OPT_MAX_SIZE     57
#define OPT_T1           58
#define OPT_T2           59
#define OPT_CLIENT_ID    61
#define OPT_CLASSLESS    121
#define OPT_END          255

#define OFS_OP     0
#define OFS_HTYPE  1
#define OFS_HLEN   2
#define OFS_HOPS   3
#define OFS_XID    4
#define OFS_SECS   8
#define OFS_FLAGS  10
#define OFS_CIADDR 12
#define OFS_YIADDR 16
#define OFS_SIADDR 20
#define OFS_GIADDR 24
#define OFS_CHADDR 28
#define OFS_SNAME  44
#define OFS_FILE   108
#define OFS_COOKIE 236

static const uint8_t dhcp_cookie[4] = {99, 130, 83, 99};
static const struct eth_addr bcast_mac = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

/* ---- Drop reasons ---- */

static const char *const dhcp_drop_names[DHCP_DROP_N_REASONS] = {
    [DHCP_DROP_NONE] = "none",
#define DHCP_DROP_NAME(NAME, DESC) [DHCP_DROP_##NAME] = #NAME,
    DHCP_DROP_REASONS(DHCP_DROP_NAME)
#undef DHCP_DROP_NAME
};

static const char *const dhcp_drop_descs[DHCP_DROP_N_REASONS] = {
    [DHCP_DROP_NONE] = "not dropped",
#define DHCP_DROP_DESC(NAME, DESC) [DHCP_DROP_##NAME] = DESC,
    DHCP_DROP_REASONS(DHCP_DROP_DESC)
#undef DHCP_DROP_DESC
};

const char *
dhcp_drop_name(enum dhcp_drop d)
{
    return (unsigned)d < DHCP_DROP_N_REASONS ? dhcp_drop_names[d] : "unknown";
}

const char *
dhcp_drop_description(enum dhcp_drop d)
{
    return (unsigned)d < DHCP_DROP_N_REASONS ? dhcp_drop_descs[d] : "unknown";
}

/* ---- Parsing ---- */

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool
seen_before(uint8_t seen[32], uint8_t code)
{
    bool was = seen[code / 8] >> (code % 8) & 1;
    seen[code / 8] |= (uint8_t)(1u << (code % 8));
    return was;
}

/* One option (not pad or end) with 'len' bytes of value at 'v'. */
static enum dhcp_drop
parse_option(uint8_t code, const uint8_t *v, uint8_t len, bool main_field,
             struct dhcp_msg *m, uint8_t seen[32])
{
    if (code == OPT_OVERLOAD && !main_field) {
        return DHCP_DROP_BAD_OVERLOAD; /* only the options field may */
    }
    switch (code) {
    case OPT_MSG_TYPE:
    case OPT_REQUESTED_IP:
    case OPT_SERVER_ID:
    case OPT_MAX_SIZE:
    case OPT_OVERLOAD:
    case OPT_CLIENT_ID:
        if (seen_before(seen, code)) {
            return DHCP_DROP_OPT_DUP;
        }
        break;
    default:
        break;
    }

    switch (code) {
    case OPT_MSG_TYPE:
        if (len != 1) {
            return DHCP_DROP_OPT_BAD_LEN;
        }
        m->type = v[0];
        break;
    case OPT_REQUESTED_IP:
    case OPT_SERVER_ID:
        if (len != 4) {
            return DHCP_DROP_OPT_BAD_LEN;
        }
        if (code == OPT_REQUESTED_IP) {
            m->has_requested_ip = true;
            m->requested_ip = get32(v);
        } else {
            m->has_server_id = true;
            m->server_id = get32(v);
        }
        break;
    case OPT_MAX_SIZE:
        if (len != 2 || ((uint32_t)v[0] << 8 | v[1]) < 576) {
            return DHCP_DROP_OPT_BAD_LEN;
        }
        m->max_size = (uint16_t)(v[0] << 8 | v[1]);
        break;
    case OPT_OVERLOAD:
        if (!main_field || len != 1 || v[0] < 1 || v[0] > 3) {
            return DHCP_DROP_BAD_OVERLOAD;
        }
        m->overload = v[0];
        break;
    case OPT_CLIENT_ID:
        if (len < 2) {
            return DHCP_DROP_OPT_BAD_LEN;
        }
        m->client_id_len = len;
        break;
    case OPT_PRL:
        if (len < 1) {
            return DHCP_DROP_OPT_BAD_LEN;
        }
        for (uint8_t i = 0; i < len; i++) { /* repeats concatenate */
            m->prl[v[i] / 8] |= (uint8_t)(1u << (v[i] % 8));
        }
        break;
    default: /* not needed by the server: length-checked only */
        break;
    }
    return DHCP_DROP_NONE;
}

/* Walks the options in [p, p + len).  The options field must end with an
 * end option; sname and file may instead run to the end of the field. */
static enum dhcp_drop
parse_field(const uint8_t *p, size_t len, bool main_field, struct dhcp_msg *m,
            uint8_t seen[32])
{
    size_t i = 0;

    while (i < len) {
        uint8_t code = p[i], olen;
        enum dhcp_drop r;

        if (code == OPT_PAD) {
            i++;
            continue;
        }
        if (code == OPT_END) {
            return DHCP_DROP_NONE; /* what follows is padding */
        }
        if (len - i < 2 || len - i - 2 < p[i + 1]) {
            return DHCP_DROP_OPT_TRUNC;
        }
        olen = p[i + 1];
        r = parse_option(code, p + i + 2, olen, main_field, m, seen);
        if (r) {
            return r;
        }
        i += 2 + (size_t)olen;
    }
    return main_field ? DHCP_DROP_OPT_NO_END : DHCP_DROP_NONE;
}

enum dhcp_drop
dhcp_parse(const uint8_t *p, size_t len, struct dhcp_msg *m)
{
    uint8_t seen[32] = {0};
    enum dhcp_drop r;

    memset(m, 0, sizeof *m);
    if (len < DHCP_MIN_LEN) {
        return DHCP_DROP_TRUNC;
    }
    if (p[OFS_OP] != 1) {
        return DHCP_DROP_NOT_REQUEST;
    }
    if (p[OFS_HTYPE] != 1 || p[OFS_HLEN] != ETH_ADDR_LEN) {
        return DHCP_DROP_BAD_HTYPE;
    }
    if (memcmp(p + OFS_COOKIE, dhcp_cookie, 4)) {
        return DHCP_DROP_BAD_COOKIE;
    }
    m->hops = p[OFS_HOPS];
    memcpy(&m->xid, p + OFS_XID, 4);
    m->secs = (uint16_t)(p[OFS_SECS] << 8 | p[OFS_SECS + 1]);
    m->flags = (uint16_t)(p[OFS_FLAGS] << 8 | p[OFS_FLAGS + 1]);
    m->ciaddr = get32(p + OFS_CIADDR);
    m->yiaddr = get32(p + OFS_YIADDR);
    m->siaddr = get32(p + OFS_SIADDR);
    m->giaddr = get32(p + OFS_GIADDR);
    memcpy(m->chaddr.b, p + OFS_CHADDR, ETH_ADDR_LEN);

    r = parse_field(p + DHCP_MIN_LEN, len - DHCP_MIN_LEN, true, m, seen);
    if (!r && (m->overload & 1)) {
        r = parse_field(p + OFS_FILE, 128, false, m, seen);
    }
    if (!r && (m->overload & 2)) {
        r = parse_field(p + OFS_SNAME, 64, false, m, seen);
    }
    if (r) {
        return r;
    }
    if (!m->type) {
        return seen[OPT_MSG_TYPE / 8] >> (OPT_MSG_TYPE % 8) & 1
                   ? DHCP_DROP_BAD_MSG_TYPE
                   : DHCP_DROP_NO_MSG_TYPE;
    }
    switch (m->type) {
    case DHCP_DISCOVER:
    case DHCP_REQUEST:
    case DHCP_DECLINE:
    case DHCP_RELEASE:
    case DHCP_INFORM:
        return DHCP_DROP_NONE;
    default:
        return DHCP_DROP_BAD_MSG_TYPE;
    }
}

/* ---- Configuration ---- */

struct dhcp_server {
    struct dhcp_config cfg; /* arrays point into the copies below */
    struct dhcp_range *pools, *excluded;
    struct dhcp_static_binding *st_mac; /* statics sorted by MAC */
    struct dhcp_static_binding *st_ip;  /* statics sorted by address */
    uint32_t *dns;
    char *domain;
    struct dhcp_route *routes;
    uint32_t mask;   /* subnet mask */
    uint32_t bcast;  /* subnet broadcast address */
    uint64_t n_pool; /* addresses in the pools (with overlaps, exclusions) */

    struct dhcp_leases *leases;
    size_t cur_pool;       /* allocation cursor: pool index... */
    uint32_t cur_ip;       /* ...and the next address to try in it */
    bool exhausted;        /* the last search found nothing at... */
    uint64_t exhausted_at; /* ...this 'now' */
};

static uint32_t
mask_of(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static int
cmp_mac(const void *a_, const void *b_)
{
    const struct dhcp_static_binding *a = a_, *b = b_;
    return memcmp(a->mac.b, b->mac.b, ETH_ADDR_LEN);
}

static int
cmp_ip(const void *a_, const void *b_)
{
    const struct dhcp_static_binding *a = a_, *b = b_;
    return a->ip < b->ip ? -1 : a->ip > b->ip;
}

static int fail(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (err && size) {
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    return EINVAL;
}

static size_t
classless_len(const struct dhcp_config *c)
{
    size_t n = 0;
    bool has_default = false;

    for (size_t i = 0; i < c->n_routes; i++) {
        n += 1 + (c->routes[i].len + 7u) / 8 + 4;
        has_default |= !c->routes[i].len;
    }
    if (c->n_routes && c->router && !has_default) {
        n += 5; /* the default route we add (RFC 3442: router is ignored) */
    }
    return n;
}

int
dhcp_config_validate(const struct dhcp_config *c, char *err, size_t size)
{
    uint32_t mask, bcast;
    uint64_t n_pool = 0;
    struct dhcp_static_binding *st;

#define IN_SUBNET(X)                                                           \
    (((X)&mask) == c->subnet && (X) != c->subnet && (X) != bcast)
    if (c->prefix_len < 1 || c->prefix_len > 30) {
        return fail(err, size, "prefix length %u not in 1..30", c->prefix_len);
    }
    mask = mask_of(c->prefix_len);
    bcast = c->subnet | ~mask;
    if (c->subnet & ~mask) {
        return fail(err, size, "subnet has bits beyond its prefix length");
    }
    if (!IN_SUBNET(c->server_ip)) {
        return fail(err, size, "server address not a host of the subnet");
    }
    if (eth_addr_is_multicast(&c->server_mac) ||
        !memcmp(&c->server_mac, &(struct eth_addr){{0}}, ETH_ADDR_LEN)) {
        return fail(err, size, "server MAC not unicast");
    }
    for (size_t i = 0; i < c->n_pools; i++) {
        const struct dhcp_range *r = &c->pools[i];
        if (r->first > r->last || (r->first & mask) != c->subnet ||
            (r->last & mask) != c->subnet) {
            return fail(err, size, "pools[%zu]: not a range in the subnet", i);
        }
        n_pool += (uint64_t)r->last - r->first + 1;
    }
    if (n_pool > DHCP_MAX_POOL_ADDRS) {
        return fail(err, size, "pools hold more than %u addresses",
                    DHCP_MAX_POOL_ADDRS);
    }
    for (size_t i = 0; i < c->n_excluded; i++) {
        if (c->excluded[i].first > c->excluded[i].last) {
            return fail(err, size, "excluded[%zu]: first after last", i);
        }
    }
    for (size_t i = 0; i < c->n_statics; i++) {
        const struct dhcp_static_binding *s = &c->statics[i];
        if (!IN_SUBNET(s->ip) || s->ip == c->server_ip || s->ip == c->router) {
            return fail(err, size, "statics[%zu]: address not usable", i);
        }
        if (eth_addr_is_multicast(&s->mac) ||
            !memcmp(&s->mac, &(struct eth_addr){{0}}, ETH_ADDR_LEN)) {
            return fail(err, size, "statics[%zu]: MAC not unicast", i);
        }
    }
    if (c->n_statics) {
        size_t n = c->n_statics;
        st = xmalloc(n * sizeof *st);
        memcpy(st, c->statics, n * sizeof *st);
        qsort(st, n, sizeof *st, cmp_mac);
        for (size_t i = 1; i < n; i++) {
            if (!cmp_mac(&st[i - 1], &st[i])) {
                free(st);
                return fail(err, size, "statics: a MAC bound twice");
            }
        }
        qsort(st, n, sizeof *st, cmp_ip);
        for (size_t i = 1; i < n; i++) {
            if (st[i - 1].ip == st[i].ip) {
                free(st);
                return fail(err, size, "statics: an address bound twice");
            }
        }
        free(st);
    }
    if (c->lease_time < 60) {
        return fail(err, size, "lease time below 60 s");
    }
    if (c->router && !IN_SUBNET(c->router)) {
        return fail(err, size, "router not a host of the subnet");
    }
    if (c->n_dns > DHCP_MAX_DNS) {
        return fail(err, size, "more than %d DNS servers", DHCP_MAX_DNS);
    }
    for (size_t i = 0; i < c->n_dns; i++) {
        if (!c->dns[i]) {
            return fail(err, size, "dns[%zu]: 0.0.0.0", i);
        }
    }
    if (c->domain) {
        size_t n = strlen(c->domain);
        if (n > 253) {
            return fail(err, size, "domain name longer than 253 bytes");
        }
        for (size_t i = 0; i < n; i++) {
            char ch = c->domain[i];
            if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
                !(ch >= '0' && ch <= '9') && ch != '.' && ch != '-' &&
                ch != '_') {
                return fail(err, size, "domain name: invalid character");
            }
        }
    }
    if (c->mtu && c->mtu < 68) {
        return fail(err, size, "MTU below 68");
    }
    for (size_t i = 0; i < c->n_routes; i++) {
        const struct dhcp_route *r = &c->routes[i];
        if (r->len > 32 || (r->prefix & ~mask_of(r->len))) {
            return fail(err, size, "routes[%zu]: bad prefix", i);
        }
    }
    if (classless_len(c) > 255) {
        return fail(err, size, "classless routes exceed one option");
    }
#undef IN_SUBNET
    return 0;
}

static void
config_free(struct dhcp_server *s)
{
    free(s->pools);
    free(s->excluded);
    free(s->st_mac);
    free(s->st_ip);
    free(s->dns);
    free(s->domain);
    free(s->routes);
}

static void *
dup_array(const void *p, size_t n, size_t size)
{
    void *q = xmalloc(n ? n * size : 1);
    if (n) {
        memcpy(q, p, n * size);
    }
    return q;
}

/* Copies a validated 'c' into 's' (whose old copy the caller freed). */
static void
config_copy(struct dhcp_server *s, const struct dhcp_config *c)
{
    s->cfg = *c;
    s->pools = dup_array(c->pools, c->n_pools, sizeof *c->pools);
    s->excluded = dup_array(c->excluded, c->n_excluded, sizeof *c->excluded);
    s->st_mac = dup_array(c->statics, c->n_statics, sizeof *c->statics);
    s->st_ip = dup_array(c->statics, c->n_statics, sizeof *c->statics);
    qsort(s->st_mac, c->n_statics, sizeof *s->st_mac, cmp_mac);
    qsort(s->st_ip, c->n_statics, sizeof *s->st_ip, cmp_ip);
    s->dns = dup_array(c->dns, c->n_dns, sizeof *c->dns);
    s->domain = c->domain && *c->domain ? xstrdup(c->domain) : NULL;
    s->routes = dup_array(c->routes, c->n_routes, sizeof *c->routes);
    s->cfg.pools = s->pools;
    s->cfg.excluded = s->excluded;
    s->cfg.statics = s->st_mac;
    s->cfg.dns = s->dns;
    s->cfg.domain = s->domain;
    s->cfg.routes = s->routes;
    if (!s->cfg.offer_hold) {
        s->cfg.offer_hold = 60;
    }
    if (!s->cfg.decline_hold) {
        s->cfg.decline_hold = 600;
    }
    s->mask = mask_of(c->prefix_len);
    s->bcast = c->subnet | ~s->mask;
    s->n_pool = 0;
    for (size_t i = 0; i < c->n_pools; i++) {
        s->n_pool += (uint64_t)c->pools[i].last - c->pools[i].first + 1;
    }
    s->cur_pool = 0;
    s->cur_ip = c->n_pools ? c->pools[0].first : 0;
    s->exhausted = false;
}

/* ---- Address policy ---- */

static const struct dhcp_static_binding *
static_by_mac(const struct dhcp_server *s, const struct eth_addr *mac)
{
    struct dhcp_static_binding key = {.mac = *mac};
    return s->cfg.n_statics
               ? bsearch(&key, s->st_mac, s->cfg.n_statics, sizeof key, cmp_mac)
               : NULL;
}

static const struct dhcp_static_binding *
static_by_ip(const struct dhcp_server *s, uint32_t ip)
{
    struct dhcp_static_binding key = {.ip = ip};
    return s->cfg.n_statics
               ? bsearch(&key, s->st_ip, s->cfg.n_statics, sizeof key, cmp_ip)
               : NULL;
}

static bool
in_subnet(const struct dhcp_server *s, uint32_t ip)
{
    return (ip & s->mask) == s->cfg.subnet && ip != s->cfg.subnet &&
           ip != s->bcast;
}

/* May 'ip' be leased dynamically at all? */
static bool
dynamic_ok(const struct dhcp_server *s, uint32_t ip)
{
    bool in_pool = false;

    if (!in_subnet(s, ip) || ip == s->cfg.server_ip || ip == s->cfg.router) {
        return false;
    }
    for (size_t i = 0; i < s->cfg.n_pools && !in_pool; i++) {
        in_pool = ip >= s->pools[i].first && ip <= s->pools[i].last;
    }
    if (!in_pool) {
        return false;
    }
    for (size_t i = 0; i < s->cfg.n_excluded; i++) {
        if (ip >= s->excluded[i].first && ip <= s->excluded[i].last) {
            return false;
        }
    }
    return !static_by_ip(s, ip);
}

/* May 'ip' be given to 'mac' now (ignoring static bindings of 'mac')? */
static bool
free_for(const struct dhcp_server *s, uint32_t ip, const struct eth_addr *mac,
         uint64_t now)
{
    const struct dhcp_lease *l;

    if (!dynamic_ok(s, ip)) {
        return false;
    }
    l = dhcp_leases_find_ip(s->leases, ip);
    return !l || !dhcp_lease_is_live(l, now) || eth_addr_equals(&l->mac, mac);
}

/* Is 'ip' the right address for 'mac': its static one if it has one,
 * else one free for it. */
static bool
addr_ok_for(const struct dhcp_server *s, uint32_t ip,
            const struct eth_addr *mac, uint64_t now)
{
    const struct dhcp_static_binding *st = static_by_mac(s, mac);
    return st ? st->ip == ip : free_for(s, ip, mac, now);
}

/* Next address under the cursor; advances it. */
static uint32_t
cursor_next(struct dhcp_server *s)
{
    uint32_t ip = s->cur_ip;
    const struct dhcp_range *r = &s->pools[s->cur_pool];

    if (ip < r->first || ip > r->last) { /* stale after reconfigure */
        ip = r->first;
    }
    if (ip == r->last) {
        s->cur_pool = (s->cur_pool + 1) % s->cfg.n_pools;
        s->cur_ip = s->pools[s->cur_pool].first;
    } else {
        s->cur_ip = ip + 1;
    }
    return ip;
}

/* A free pool address for 'mac', or 0: first one without any lease
 * record, else the first whose record is dead. */
static uint32_t
find_free(struct dhcp_server *s, const struct eth_addr *mac, uint64_t now)
{
    if (!s->cfg.n_pools || (s->exhausted && s->exhausted_at == now)) {
        return 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t i = 0; i < s->n_pool; i++) {
            uint32_t ip = cursor_next(s);
            if (!dynamic_ok(s, ip)) {
                continue;
            }
            if (pass == 0 ? !dhcp_leases_find_ip(s->leases, ip)
                          : free_for(s, ip, mac, now)) {
                s->exhausted = false;
                return ip;
            }
        }
    }
    s->exhausted = true;
    s->exhausted_at = now;
    return 0;
}

/* Records that 'mac' has 'ip' in 'state' until 'expires', removing the
 * client's record of another address and a dead record of the address.
 * Returns NULL if the table is full of live leases. */
static struct dhcp_lease *
lease_bind(struct dhcp_server *s, const struct eth_addr *mac, uint32_t ip,
           enum dhcp_lease_state state, uint64_t expires, uint64_t now)
{
    struct dhcp_lease *l = dhcp_leases_find_mac(s->leases, mac);
    struct dhcp_lease *o = dhcp_leases_find_ip(s->leases, ip);

    if (o && o != l) {
        if (dhcp_lease_is_live(o, now)) {
            return NULL; /* never taken from a live holder */
        }
        dhcp_leases_remove(s->leases, o);
    }
    if (l && l->ip != ip) {
        dhcp_leases_remove(s->leases, l);
        l = NULL;
    }
    if (!l) {
        l = dhcp_leases_add(s->leases, mac, ip, state, expires, now);
        if (!l) {
            return NULL;
        }
    }
    l->state = (uint8_t)state;
    l->expires = expires;
    l->is_static = static_by_mac(s, mac) != NULL;
    return l;
}

static uint64_t
lease_end(const struct dhcp_server *s, uint64_t now)
{
    return s->cfg.lease_time == UINT32_MAX ? DHCP_NEVER
                                           : now + s->cfg.lease_time;
}

/* ---- Replies ---- */

struct optw {
    uint8_t *p;
    size_t n, cap; /* 'cap' keeps one byte for the end option */
};

static bool
opt_put(struct optw *w, uint8_t code, const void *v, size_t len)
{
    if (len > 255 || w->n + 2 + len > w->cap) {
        return false;
    }
    w->p[w->n] = code;
    w->p[w->n + 1] = (uint8_t)len;
    if (len) {
        memcpy(w->p + w->n + 2, v, len);
    }
    w->n += 2 + len;
    return true;
}

static void
opt_put32(struct optw *w, uint8_t code, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    opt_put(w, code, b, 4);
}

/* Configuration options, in priority order: each is left out if it does
 * not fit the 548-byte reply. */
static void
put_config_options(const struct dhcp_server *s, const struct dhcp_msg *m,
                   struct optw *w)
{
    const struct dhcp_config *c = &s->cfg;
    uint8_t b[255];

    opt_put32(w, OPT_SUBNET_MASK, s->mask);
    if (c->router) {
        opt_put32(w, OPT_ROUTER, c->router);
    }
    if (c->n_dns) {
        for (size_t i = 0; i < c->n_dns; i++) {
            put32(b + 4 * i, c->dns[i]);
        }
        opt_put(w, OPT_DNS, b, 4 * c->n_dns);
    }
    if (c->mtu) {
        b[0] = (uint8_t)(c->mtu >> 8);
        b[1] = (uint8_t)c->mtu;
        opt_put(w, OPT_MTU, b, 2);
    }
    if (c->n_routes && dhcp_msg_requests(m, OPT_CLASSLESS)) {
        size_t n = 0;
        bool has_default = false;

        for (size_t i = 0; i < c->n_routes; i++) {
            const struct dhcp_route *r = &c->routes[i];
            uint8_t pfx[4];

            put32(pfx, r->prefix);
            b[n++] = r->len;
            memcpy(b + n, pfx, (r->len + 7u) / 8);
            n += (r->len + 7u) / 8;
            put32(b + n, r->gateway);
            n += 4;
            has_default |= !r->len;
        }
        if (c->router && !has_default) {
            /* RFC 3442: a client that takes option 121 ignores option 3,
             * so the default route must be in here too. */
            b[n++] = 0;
            put32(b + n, c->router);
            n += 4;
        }
        opt_put(w, OPT_CLASSLESS, b, n);
    }
    if (s->domain) {
        opt_put(w, OPT_DOMAIN, s->domain, strlen(s->domain));
    }
}

/* Fills 'r' with a reply of 'type' to 'm'. */
static void
make_reply(const struct dhcp_server *s, const struct dhcp_msg *m, uint8_t type,
           uint32_t yiaddr, bool with_lease, struct dhcp_reply *r)
{
    const struct dhcp_config *c = &s->cfg;
    uint8_t *d = r->data;
    uint32_t ciaddr = type == DHCP_NAK ? 0 : m->ciaddr;
    struct optw w = {d + DHCP_MIN_LEN, 0, DHCP_REPLY_MAX - DHCP_MIN_LEN - 1};

    memset(d, 0, DHCP_MIN_LEN);
    d[OFS_OP] = 2;
    d[OFS_HTYPE] = 1;
    d[OFS_HLEN] = ETH_ADDR_LEN;
    memcpy(d + OFS_XID, &m->xid, 4);
    d[OFS_FLAGS] = (uint8_t)(m->flags >> 8);
    d[OFS_FLAGS + 1] = (uint8_t)m->flags;
    put32(d + OFS_CIADDR, ciaddr);
    put32(d + OFS_YIADDR, yiaddr);
    put32(d + OFS_GIADDR, m->giaddr);
    memcpy(d + OFS_CHADDR, m->chaddr.b, ETH_ADDR_LEN);
    memcpy(d + OFS_COOKIE, dhcp_cookie, 4);

    opt_put(&w, OPT_MSG_TYPE, &type, 1);
    opt_put32(&w, OPT_SERVER_ID, c->server_ip);
    if (with_lease) {
        uint32_t t = c->lease_time;
        opt_put32(&w, OPT_LEASE_TIME, t);
        if (t != UINT32_MAX) {
            opt_put32(&w, OPT_T1, t / 2);
            opt_put32(&w, OPT_T2, (uint32_t)((uint64_t)t * 7 / 8));
        }
    }
    if (type != DHCP_NAK) {
        put_config_options(s, m, &w);
    }
    w.p[w.n++] = OPT_END;
    r->len = (uint16_t)(DHCP_MIN_LEN + w.n);
    r->type = type;
    r->src_ip = c->server_ip;
    r->src_mac = c->server_mac;

    /* RFC 2131 4.1, with giaddr always 0 here. */
    if (type == DHCP_NAK) {
        r->dst_ip = UINT32_MAX;
        r->dst_mac = bcast_mac;
    } else if (ciaddr) {
        r->dst_ip = ciaddr;
        r->dst_mac = m->chaddr;
    } else if (m->flags & DHCP_FLAG_BROADCAST) {
        r->dst_ip = UINT32_MAX;
        r->dst_mac = bcast_mac;
    } else {
        r->dst_ip = yiaddr;
        r->dst_mac = m->chaddr;
    }
}

/* ---- Message handlers ---- */

static enum dhcp_drop
handle_discover(struct dhcp_server *s, const struct dhcp_msg *m, uint64_t now,
                struct dhcp_reply *r)
{
    const struct eth_addr *mac = &m->chaddr;
    const struct dhcp_static_binding *st = static_by_mac(s, mac);
    struct dhcp_lease *l = dhcp_leases_find_mac(s->leases, mac);
    uint32_t ip = 0;

    if (st) {
        ip = st->ip;
    } else if (l && free_for(s, l->ip, mac, now)) {
        ip = l->ip; /* current, or previous and still free */
    } else if (m->has_requested_ip && free_for(s, m->requested_ip, mac, now)) {
        ip = m->requested_ip;
    } else {
        ip = find_free(s, mac, now);
    }
    if (!ip) {
        return DHCP_DROP_NO_ADDRESS;
    }
    if (l && l->ip == ip && dhcp_lease_state_at(l, now) == DHCP_LEASE_BOUND) {
        /* Still bound: offer it again without shortening the lease. */
    } else if (!lease_bind(s, mac, ip, DHCP_LEASE_OFFERED,
                           now + s->cfg.offer_hold, now)) {
        return DHCP_DROP_NO_ADDRESS;
    }
    make_reply(s, m, DHCP_OFFER, ip, true, r);
    return DHCP_DROP_NONE;
}

static enum dhcp_drop
ack(struct dhcp_server *s, const struct dhcp_msg *m, uint32_t ip, uint64_t now,
    struct dhcp_reply *r)
{
    if (!lease_bind(s, &m->chaddr, ip, DHCP_LEASE_BOUND, lease_end(s, now),
                    now)) {
        return DHCP_DROP_NO_ADDRESS;
    }
    make_reply(s, m, DHCP_ACK, ip, true, r);
    return DHCP_DROP_NONE;
}

static enum dhcp_drop
nak(struct dhcp_server *s, const struct dhcp_msg *m, struct dhcp_reply *r)
{
    make_reply(s, m, DHCP_NAK, 0, false, r);
    return DHCP_DROP_NONE;
}

static enum dhcp_drop
handle_request(struct dhcp_server *s, const struct dhcp_msg *m, uint64_t now,
               struct dhcp_reply *r)
{
    const struct eth_addr *mac = &m->chaddr;
    struct dhcp_lease *l = dhcp_leases_find_mac(s->leases, mac);

    if (m->has_server_id) { /* SELECTING */
        if (m->server_id != s->cfg.server_ip) {
            if (l && dhcp_lease_state_at(l, now) == DHCP_LEASE_OFFERED) {
                l->state = DHCP_LEASE_RELEASED; /* offer declined */
                l->expires = now;
            }
            return DHCP_DROP_OTHER_SERVER;
        }
        if (!m->has_requested_ip || m->ciaddr) {
            return DHCP_DROP_MISSING_FIELD;
        }
        return addr_ok_for(s, m->requested_ip, mac, now)
                   ? ack(s, m, m->requested_ip, now, r)
                   : nak(s, m, r);
    }
    if (m->has_requested_ip && !m->ciaddr) { /* INIT-REBOOT */
        uint32_t ip = m->requested_ip;
        if (!in_subnet(s, ip)) {
            return nak(s, m, r);
        }
        if (static_by_mac(s, mac)) {
            return addr_ok_for(s, ip, mac, now) ? ack(s, m, ip, now, r)
                                                : nak(s, m, r);
        }
        if (l) {
            return l->ip == ip && free_for(s, ip, mac, now)
                       ? ack(s, m, ip, now, r)
                       : nak(s, m, r);
        }
        if (!free_for(s, ip, mac, now)) {
            return nak(s, m, r);
        }
        return DHCP_DROP_UNKNOWN_CLIENT;
    }
    if (m->ciaddr) { /* RENEWING or REBINDING */
        return addr_ok_for(s, m->ciaddr, mac, now)
                   ? ack(s, m, m->ciaddr, now, r)
                   : nak(s, m, r);
    }
    return DHCP_DROP_MISSING_FIELD;
}

static enum dhcp_drop
handle_decline(struct dhcp_server *s, const struct dhcp_msg *m, uint64_t now)
{
    struct dhcp_lease *l;

    if (!m->has_server_id || !m->has_requested_ip) {
        return DHCP_DROP_MISSING_FIELD;
    }
    if (m->server_id != s->cfg.server_ip) {
        return DHCP_DROP_OTHER_SERVER;
    }
    l = dhcp_leases_find_ip(s->leases, m->requested_ip);
    if (!l || !eth_addr_equals(&l->mac, &m->chaddr) ||
        !dhcp_lease_is_live(l, now)) {
        return DHCP_DROP_NOT_OWNER;
    }
    if (l->is_static) {
        /* A static address cannot move: the operator must fix the
         * conflict.  The client's lease just ends. */
        l->state = DHCP_LEASE_RELEASED;
        l->expires = now;
        return DHCP_DROP_NONE;
    }
    dhcp_leases_forget_mac(s->leases, l);
    l->state = DHCP_LEASE_DECLINED;
    l->expires = now + s->cfg.decline_hold;
    return DHCP_DROP_NONE;
}

static enum dhcp_drop
handle_release(struct dhcp_server *s, const struct dhcp_msg *m, uint64_t now)
{
    struct dhcp_lease *l;

    if (!m->has_server_id || !m->ciaddr) {
        return DHCP_DROP_MISSING_FIELD;
    }
    if (m->server_id != s->cfg.server_ip) {
        return DHCP_DROP_OTHER_SERVER;
    }
    l = dhcp_leases_find_mac(s->leases, &m->chaddr);
    if (!l || l->ip != m->ciaddr || !dhcp_lease_is_live(l, now)) {
        return DHCP_DROP_NOT_OWNER;
    }
    l->state = DHCP_LEASE_RELEASED;
    l->expires = now;
    s->exhausted = false;
    return DHCP_DROP_NONE;
}

static enum dhcp_drop
handle_inform(struct dhcp_server *s, const struct dhcp_msg *m,
              struct dhcp_reply *r)
{
    if (!m->ciaddr) {
        return DHCP_DROP_MISSING_FIELD;
    }
    if (!in_subnet(s, m->ciaddr)) {
        return DHCP_DROP_WRONG_SUBNET;
    }
    make_reply(s, m, DHCP_ACK, 0, false, r);
    return DHCP_DROP_NONE;
}

enum dhcp_drop
dhcp_server_input(struct dhcp_server *s, const uint8_t *msg, size_t len,
                  const struct eth_addr *src_mac, uint64_t now,
                  struct dhcp_reply *r)
{
    struct dhcp_msg m;
    enum dhcp_drop d;

    r->len = 0;
    d = dhcp_parse(msg, len, &m);
    if (d) {
        return d;
    }
    if (!eth_addr_equals(&m.chaddr, src_mac)) {
        return DHCP_DROP_CHADDR_MISMATCH;
    }
    if (m.giaddr) {
        return DHCP_DROP_RELAYED;
    }
    switch (m.type) {
    case DHCP_DISCOVER:
        return handle_discover(s, &m, now, r);
    case DHCP_REQUEST:
        return handle_request(s, &m, now, r);
    case DHCP_DECLINE:
        return handle_decline(s, &m, now);
    case DHCP_RELEASE:
        return handle_release(s, &m, now);
    case DHCP_INFORM:
    default:
        return handle_inform(s, &m, r);
    }
}

/* ---- Server lifecycle ---- */

int
dhcp_server_create(const struct dhcp_config *cfg, uint32_t max_leases,
                   struct dhcp_server **out)
{
    struct dhcp_server *s;

    *out = NULL;
    if (dhcp_config_validate(cfg, NULL, 0)) {
        return EINVAL;
    }
    s = xcalloc(1, sizeof *s);
    config_copy(s, cfg);
    if (!max_leases) {
        max_leases = (uint32_t)MAX(s->n_pool + cfg->n_statics, 16);
    }
    s->leases = dhcp_leases_create(max_leases);
    *out = s;
    return 0;
}

void
dhcp_server_destroy(struct dhcp_server *s)
{
    if (s) {
        config_free(s);
        dhcp_leases_destroy(s->leases);
        free(s);
    }
}

int
dhcp_server_reconfigure(struct dhcp_server *s, const struct dhcp_config *cfg,
                        uint64_t now)
{
    struct dhcp_server old = *s;
    uint32_t cap = dhcp_leases_capacity(s->leases);

    if (dhcp_config_validate(cfg, NULL, 0)) {
        return EINVAL;
    }
    config_copy(s, cfg);
    config_free(&old);
    /* Keep what is still valid: a static binding's own address, or a
     * dynamic one that is still leasable.  Slot iteration is stable under
     * removal (removing never moves other entries). */
    for (uint32_t i = 0; i < cap; i++) {
        struct dhcp_lease *l =
            (struct dhcp_lease *)dhcp_leases_slot(s->leases, i);
        const struct dhcp_static_binding *st;
        bool keep;

        if (!l) {
            continue;
        }
        if (l->state == DHCP_LEASE_DECLINED) {
            keep = dynamic_ok(s, l->ip) && dhcp_lease_state_at(l, now);
        } else {
            st = static_by_mac(s, &l->mac);
            keep = st ? st->ip == l->ip : dynamic_ok(s, l->ip);
            l->is_static = st != NULL;
        }
        if (!keep) {
            dhcp_leases_remove(s->leases, l);
        }
    }
    return 0;
}

const struct dhcp_leases *
dhcp_server_leases(const struct dhcp_server *s)
{
    return s->leases;
}

/* ---- Frames ---- */

size_t
dhcp_reply_frame(const struct dhcp_reply *r, uint8_t *buf, size_t cap)
{
    size_t ip_len = 20 + 8 + (size_t)r->len;
    size_t len = ETH_HDR_LEN + ip_len;
    struct eth_hdr eth;
    struct ipv4_hdr ip;
    struct udp_hdr udp;
    uint32_t sum;

    if (!r->len || cap < len) {
        return 0;
    }
    eth.dst = r->dst_mac;
    eth.src = r->src_mac;
    eth.type = htons(ETH_TYPE_IPV4);
    memset(&ip, 0, sizeof ip);
    ip.ver_ihl = 0x45;
    ip.tot_len = htons((uint16_t)ip_len);
    ip.ttl = 64;
    ip.proto = IPPROTO_UDP_;
    ip.src = htonl(r->src_ip);
    ip.dst = htonl(r->dst_ip);
    ip.csum = csum_finish(csum_partial(&ip, sizeof ip, 0));
    udp.src = htons(DHCP_SERVER_PORT);
    udp.dst = htons(DHCP_CLIENT_PORT);
    udp.len = htons((uint16_t)(8 + r->len));
    udp.csum = 0;

    memcpy(buf, &eth, ETH_HDR_LEN);
    memcpy(buf + ETH_HDR_LEN, &ip, 20);
    memcpy(buf + ETH_HDR_LEN + 20, &udp, 8);
    memcpy(buf + ETH_HDR_LEN + 28, r->data, r->len);
    sum =
        csum_pseudo_ipv4(ip.src, ip.dst, IPPROTO_UDP_, (uint16_t)(8 + r->len));
    sum = csum_partial(buf + ETH_HDR_LEN + 20, 8 + (size_t)r->len, sum);
    udp.csum = csum_finish(sum);
    if (!udp.csum) {
        udp.csum = 0xffff; /* 0 means "no checksum" in UDP over IPv4 */
    }
    memcpy(buf + ETH_HDR_LEN + 20 + 6, &udp.csum, 2);
    return len;
}
