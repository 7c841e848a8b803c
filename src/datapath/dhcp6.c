/* DHCPv6 server logic (dhcp6.h).
 *
 * Parsing walks the options once, checking every length against its
 * container before reading; IA_NA and IAADDR are containers whose inner
 * options are walked the same way.  Replies are written by a small
 * cursor that refuses to overrun DHCP6_REPLY_MAX (it cannot, with the
 * limits on DNS servers, domain and IAs, but a bound is cheaper than a
 * proof).
 *
 * A segment may have thousands of local ports, so leases are found by hash
 * (lib/hmap.h), never by a scan: 'by_mac' gives the lease of a client's MAC
 * for every message, and on reconfiguration a temporary index of the old
 * leases by MAC and address carries their state over.  Both answer as the
 * scans from the start of the array they replace: with duplicate keys, the
 * first lease wins.  The lease array changes only in config_install(),
 * which rebuilds 'by_mac' there; messages change leases in place but never
 * their MAC, so the index stays valid between configurations. */
#include "datapath/dhcp6.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/csum.h"
#include "lib/hash.h"
#include "lib/hmap.h"
#include "lib/util.h"

#define OPT_CLIENTID     1
#define OPT_SERVERID     2
#define OPT_IA_NA        3
#define OPT_IA_TA        4
#define OPT_IAADDR       5
#define OPT_ORO          6
#define OPT_PREFERENCE   7
#define OPT_ELAPSED_TIME 8
#define OPT_STATUS_CODE  13
#define OPT_RAPID_COMMIT 14
#define OPT_DNS_SERVERS  23
#define OPT_DOMAIN_LIST  24
#define OPT_IA_PD        25

#define DUID_LL 3

/* ---- Drop reasons ---- */

static const char *const drop_names[DHCP6_DROP_N_REASONS] = {
    [DHCP6_DROP_NONE] = "none",
#define DHCP6_DROP_NAME(NAME, DESC) [DHCP6_DROP_##NAME] = #NAME,
    DHCP6_DROP_REASONS(DHCP6_DROP_NAME)
#undef DHCP6_DROP_NAME
};

static const char *const drop_descs[DHCP6_DROP_N_REASONS] = {
    [DHCP6_DROP_NONE] = "not dropped",
#define DHCP6_DROP_DESC(NAME, DESC) [DHCP6_DROP_##NAME] = DESC,
    DHCP6_DROP_REASONS(DHCP6_DROP_DESC)
#undef DHCP6_DROP_DESC
};

const char *
dhcp6_drop_name(enum dhcp6_drop d)
{
    return (unsigned)d < DHCP6_DROP_N_REASONS ? drop_names[d] : "unknown";
}

const char *
dhcp6_drop_description(enum dhcp6_drop d)
{
    return (unsigned)d < DHCP6_DROP_N_REASONS ? drop_descs[d] : "unknown";
}

/* ---- Parsing ---- */

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Walks the options in [p, p + len) without interpreting them: each must
 * fit.  Used for the options inside IAADDR. */
static enum dhcp6_drop
walk_opaque(const uint8_t *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (len - i < 4 || len - i - 4 < get16(p + i + 2)) {
            return DHCP6_DROP_OPT_TRUNC;
        }
        i += 4 + (size_t)get16(p + i + 2);
    }
    return DHCP6_DROP_NONE;
}

/* The options of an IA_NA after its 12 fixed bytes. */
static enum dhcp6_drop
parse_ia_options(const uint8_t *p, size_t len, struct dhcp6_ia *ia)
{
    size_t i = 0;

    while (i < len) {
        uint16_t code, olen;
        enum dhcp6_drop d;

        if (len - i < 4) {
            return DHCP6_DROP_OPT_TRUNC;
        }
        code = get16(p + i);
        olen = get16(p + i + 2);
        if (len - i - 4 < olen) {
            return DHCP6_DROP_OPT_TRUNC;
        }
        if (code == OPT_IAADDR) {
            if (olen < 24) {
                return DHCP6_DROP_OPT_BAD_LEN;
            }
            d = walk_opaque(p + i + 28, olen - 24u);
            if (d) {
                return d;
            }
            if (ia && ia->n_addrs < DHCP6_MAX_ADDRS) {
                memcpy(ia->addrs[ia->n_addrs++], p + i + 4, 16);
            }
        } else if (code == OPT_STATUS_CODE && olen < 2) {
            return DHCP6_DROP_OPT_BAD_LEN;
        }
        i += 4 + (size_t)olen;
    }
    return DHCP6_DROP_NONE;
}

static bool
seen_before(uint32_t *seen, uint16_t code)
{
    bool was = *seen >> code & 1;
    *seen |= 1u << code;
    return was;
}

/* One top-level option. */
static enum dhcp6_drop
parse_option(uint16_t code, const uint8_t *v, uint16_t len, struct dhcp6_msg *m,
             uint32_t *seen)
{
    switch (code) {
    case OPT_CLIENTID:
    case OPT_SERVERID:
    case OPT_ELAPSED_TIME:
    case OPT_RAPID_COMMIT:
    case OPT_ORO:
        if (seen_before(seen, code)) {
            return DHCP6_DROP_OPT_DUP;
        }
        break;
    default:
        break;
    }
    switch (code) {
    case OPT_CLIENTID:
    case OPT_SERVERID:
        if (len < 2 || len > DHCP6_DUID_MAX) {
            return DHCP6_DROP_OPT_BAD_LEN;
        }
        if (code == OPT_CLIENTID) {
            m->client_id = v;
            m->client_id_len = (uint8_t)len;
        } else {
            m->server_id = v;
            m->server_id_len = (uint8_t)len;
        }
        break;
    case OPT_ELAPSED_TIME:
        if (len != 2) {
            return DHCP6_DROP_OPT_BAD_LEN;
        }
        break;
    case OPT_RAPID_COMMIT:
        if (len != 0) {
            return DHCP6_DROP_OPT_BAD_LEN;
        }
        m->rapid_commit = true;
        break;
    case OPT_ORO:
        if (len % 2) {
            return DHCP6_DROP_OPT_BAD_LEN;
        }
        break;
    case OPT_IA_NA: {
        struct dhcp6_ia *ia = NULL;
        if (len < 12) {
            return DHCP6_DROP_OPT_BAD_LEN;
        }
        m->has_ia = true;
        if (m->n_ia < DHCP6_MAX_IA) {
            ia = &m->ia[m->n_ia++];
            memset(ia, 0, sizeof *ia);
            ia->iaid = get32(v);
        }
        return parse_ia_options(v + 12, len - 12u, ia);
    }
    case OPT_IA_TA:
    case OPT_IA_PD:
        if (len < (code == OPT_IA_TA ? 4 : 12)) {
            return DHCP6_DROP_OPT_BAD_LEN;
        }
        m->has_ia = true;
        return walk_opaque(v + (code == OPT_IA_TA ? 4 : 12),
                           len - (code == OPT_IA_TA ? 4u : 12u));
    case OPT_IAADDR:
        return DHCP6_DROP_OPT_BAD_LEN; /* only inside an IA */
    default:
        break; /* unknown options are ignored (RFC 8415 16) */
    }
    return DHCP6_DROP_NONE;
}

enum dhcp6_drop
dhcp6_parse(const uint8_t *p, size_t len, struct dhcp6_msg *m)
{
    uint32_t seen = 0;
    size_t i = 4;

    memset(m, 0, offsetof(struct dhcp6_msg, ia));
    if (len < 4) {
        return DHCP6_DROP_TRUNC;
    }
    m->type = p[0];
    memcpy(m->xid, p + 1, 3);
    switch (m->type) {
    case DHCP6_SOLICIT:
    case DHCP6_REQUEST:
    case DHCP6_CONFIRM:
    case DHCP6_RENEW:
    case DHCP6_REBIND:
    case DHCP6_RELEASE:
    case DHCP6_DECLINE:
    case DHCP6_INFORMATION_REQUEST:
        break;
    case DHCP6_RELAY_FORW:
        return DHCP6_DROP_RELAYED;
    default:
        return DHCP6_DROP_BAD_MSG_TYPE;
    }
    while (i < len) {
        uint16_t code, olen;
        enum dhcp6_drop d;

        if (len - i < 4) {
            return DHCP6_DROP_OPT_TRUNC;
        }
        code = get16(p + i);
        olen = get16(p + i + 2);
        if (len - i - 4 < olen) {
            return DHCP6_DROP_OPT_TRUNC;
        }
        d = parse_option(code, p + i + 4, olen, m, &seen);
        if (d) {
            return d;
        }
        i += 4 + (size_t)olen;
    }

    /* RFC 8415 16: what each type must and must not carry. */
    if (!m->client_id && m->type != DHCP6_INFORMATION_REQUEST) {
        return DHCP6_DROP_NO_CLIENT_ID;
    }
    switch (m->type) {
    case DHCP6_SOLICIT:
    case DHCP6_CONFIRM:
    case DHCP6_REBIND:
        if (m->server_id) {
            return DHCP6_DROP_UNEXPECTED_SERVER_ID;
        }
        break;
    case DHCP6_REQUEST:
    case DHCP6_RENEW:
    case DHCP6_RELEASE:
    case DHCP6_DECLINE:
        if (!m->server_id) {
            return DHCP6_DROP_NO_SERVER_ID;
        }
        break;
    case DHCP6_INFORMATION_REQUEST:
        if (m->has_ia) {
            return DHCP6_DROP_UNEXPECTED_IA;
        }
        break;
    default:
        break;
    }
    return DHCP6_DROP_NONE;
}

/* ---- Lease indexes ---- */

/* A lease in an index of leases, by its position in the array (which
 * config_install() replaces as a whole). */
struct lease_ref {
    struct hmap_node node; /* in the index, by lease_hash() */
    size_t i;              /* into the indexed array */
};

/* The hash of a key: 'mac', and 'addr' unless it is NULL. */
static uint32_t
lease_hash(const struct eth_addr *mac, const uint8_t *addr)
{
    uint32_t h = hash_bytes(mac->b, ETH_ADDR_LEN, 0);
    return addr ? hash_bytes(addr, 16, h) : h;
}

/* The position of the lease of 'leases' that 'index' holds for 'mac' (and
 * 'addr' unless NULL), whose lease_hash() is 'hash'; SIZE_MAX if none. */
static size_t
index_find(const struct hmap *index, const struct dhcp6_lease *leases,
           const struct eth_addr *mac, const uint8_t *addr, uint32_t hash)
{
    const struct lease_ref *r;

    HMAP_FOR_EACH_WITH_HASH (r, node, hash, index) {
        const struct dhcp6_lease *l = &leases[r->i];
        if (eth_addr_equals(&l->mac, mac) &&
            (!addr || !memcmp(l->addr, addr, 16))) {
            return r->i;
        }
    }
    return SIZE_MAX;
}

/* Fills the empty 'index' with the first of 'leases[0 .. n)' for each MAC
 * (and address, if 'by_addr'), so that index_find() answers as a scan from
 * the start would.  Returns its nodes (room for 'n'), for the caller to
 * free after hmap_destroy(). */
static struct lease_ref *
index_build(struct hmap *index, const struct dhcp6_lease *leases, size_t n,
            bool by_addr)
{
    struct lease_ref *refs = xcalloc(n ? n : 1, sizeof *refs);
    size_t n_refs = 0;

    for (size_t i = 0; i < n; i++) {
        const uint8_t *addr = by_addr ? leases[i].addr : NULL;
        uint32_t hash = lease_hash(&leases[i].mac, addr);

        if (index_find(index, leases, &leases[i].mac, addr, hash) == SIZE_MAX) {
            refs[n_refs].i = i;
            hmap_insert(index, &refs[n_refs++].node, hash);
        }
    }
    return refs;
}

/* ---- Configuration ---- */

struct dhcp6_server {
    struct dhcp6_config cfg;    /* arrays below, owned */
    struct dhcp6_lease *leases; /* one per binding */
    size_t n_leases;
    struct hmap by_mac;         /* the first lease of each MAC */
    struct lease_ref *mac_refs; /* by_mac's nodes: room for n_leases */
    uint8_t (*prefixes)[16];
    uint8_t *prefix_lens;
    uint8_t (*dns)[16];
    uint8_t domain_wire[256]; /* option 24 payload */
    size_t domain_len;
    uint8_t duid[10]; /* DUID-LL of the router MAC */
    uint8_t lla[16];  /* router link-local */
};

size_t
dhcp6_encode_domain(const char *domain, uint8_t *out, size_t cap)
{
    size_t n = 0, dlen = strlen(domain);
    const char *p = domain;

    if (!dlen || dlen > 253 || domain[dlen - 1] == '.') {
        return 0;
    }
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);

        if (!l || l > 63 || n + 1 + l + 1 > cap) {
            return 0;
        }
        for (size_t k = 0; k < l; k++) {
            char c = p[k];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-')) {
                return 0;
            }
        }
        out[n++] = (uint8_t)l;
        memcpy(out + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
        if (dot && !*p) {
            return 0;
        }
    }
    out[n++] = 0;
    return n;
}

void
dhcp6_link_local(const struct eth_addr *mac, uint8_t out[16])
{
    memset(out, 0, 16);
    out[0] = 0xfe;
    out[1] = 0x80;
    out[8] = mac->b[0] ^ 0x02;
    out[9] = mac->b[1];
    out[10] = mac->b[2];
    out[11] = 0xff;
    out[12] = 0xfe;
    out[13] = mac->b[3];
    out[14] = mac->b[4];
    out[15] = mac->b[5];
}

static int
config_check(const struct dhcp6_config *c, uint8_t *wire, size_t *wire_len)
{
    uint32_t pref = c->preferred_lifetime ? c->preferred_lifetime : 3600;

    if (c->n_dns > DHCP6_MAX_DNS ||
        (c->valid_lifetime && c->valid_lifetime < pref)) {
        return EINVAL;
    }
    for (size_t i = 0; i < c->n_prefixes; i++) {
        if (c->prefix_lens[i] > 128) {
            return EINVAL;
        }
    }
    *wire_len = 0;
    if (c->domain && c->domain[0]) {
        *wire_len = dhcp6_encode_domain(c->domain, wire, 256);
        if (!*wire_len) {
            return EINVAL;
        }
    }
    return 0;
}

static void *
dup_or_null(const void *p, size_t n, size_t size)
{
    void *q;
    if (!n) {
        return NULL;
    }
    q = xmalloc(n * size);
    memcpy(q, p, n * size);
    return q;
}

/* Installs a checked 'c' into 's', carrying over the state of bindings
 * whose MAC keeps its address (the first old lease with both, if several
 * have), and rebuilds 's->by_mac' for the new leases. */
static void
config_install(struct dhcp6_server *s, const struct dhcp6_config *c,
               const uint8_t *wire, size_t wire_len)
{
    struct dhcp6_lease *old = s->leases;
    size_t n_old = s->n_leases;
    struct hmap old_index = HMAP_INITIALIZER;
    struct lease_ref *old_refs = index_build(&old_index, old, n_old, true);

    free(s->prefixes);
    free(s->prefix_lens);
    free(s->dns);
    s->cfg = *c;
    s->prefixes = dup_or_null(c->prefixes, c->n_prefixes, 16);
    s->prefix_lens = dup_or_null(c->prefix_lens, c->n_prefixes, 1);
    s->dns = dup_or_null(c->dns, c->n_dns, 16);
    s->cfg.prefixes = (const uint8_t(*)[16])s->prefixes;
    s->cfg.prefix_lens = s->prefix_lens;
    s->cfg.dns = (const uint8_t(*)[16])s->dns;
    s->cfg.bindings = NULL;
    s->cfg.domain = NULL;
    if (!s->cfg.preferred_lifetime) {
        s->cfg.preferred_lifetime = 3600;
    }
    if (!s->cfg.valid_lifetime) {
        s->cfg.valid_lifetime = s->cfg.preferred_lifetime * 2;
    }
    memcpy(s->domain_wire, wire, wire_len);
    s->domain_len = wire_len;
    s->n_leases = c->n_bindings;
    s->leases = xcalloc(c->n_bindings ? c->n_bindings : 1, sizeof *s->leases);
    for (size_t i = 0; i < c->n_bindings; i++) {
        struct dhcp6_lease *l = &s->leases[i];
        l->mac = c->bindings[i].mac;
        memcpy(l->addr, c->bindings[i].addr, 16);
        size_t k = index_find(&old_index, old, &l->mac, l->addr,
                              lease_hash(&l->mac, l->addr));
        if (k != SIZE_MAX) {
            *l = old[k];
        }
    }
    hmap_destroy(&old_index);
    free(old_refs);
    free(old);
    /* A new index rather than the old one emptied: its buckets fit the
     * new leases, however many the old configuration had. */
    hmap_destroy(&s->by_mac);
    free(s->mac_refs);
    s->mac_refs = index_build(&s->by_mac, s->leases, s->n_leases, false);
    s->duid[0] = 0;
    s->duid[1] = DUID_LL;
    s->duid[2] = 0;
    s->duid[3] = 1; /* hardware type: Ethernet */
    memcpy(s->duid + 4, c->server_mac.b, 6);
    dhcp6_link_local(&c->server_mac, s->lla);
}

int
dhcp6_server_create(const struct dhcp6_config *c, struct dhcp6_server **out)
{
    uint8_t wire[256];
    size_t wire_len;

    *out = NULL;
    if (config_check(c, wire, &wire_len)) {
        return EINVAL;
    }
    *out = xcalloc(1, sizeof **out);
    hmap_init(&(*out)->by_mac);
    config_install(*out, c, wire, wire_len);
    return 0;
}

int
dhcp6_server_reconfigure(struct dhcp6_server *s, const struct dhcp6_config *c)
{
    uint8_t wire[256];
    size_t wire_len;

    if (config_check(c, wire, &wire_len)) {
        return EINVAL;
    }
    config_install(s, c, wire, wire_len);
    return 0;
}

void
dhcp6_server_destroy(struct dhcp6_server *s)
{
    if (s) {
        hmap_destroy(&s->by_mac);
        free(s->mac_refs);
        free(s->leases);
        free(s->prefixes);
        free(s->prefix_lens);
        free(s->dns);
        free(s);
    }
}

size_t
dhcp6_server_n_leases(const struct dhcp6_server *s)
{
    return s->n_leases;
}

const struct dhcp6_lease *
dhcp6_server_lease(const struct dhcp6_server *s, size_t i)
{
    return i < s->n_leases ? &s->leases[i] : NULL;
}

/* ---- Replies ---- */

struct cursor {
    uint8_t *p;
    size_t len, cap;
};

static uint8_t *
put_opt(struct cursor *c, uint16_t code, size_t len)
{
    uint8_t *o;

    if (c->cap - c->len < 4 + len) {
        return NULL;
    }
    o = c->p + c->len;
    o[0] = (uint8_t)(code >> 8);
    o[1] = (uint8_t)code;
    o[2] = (uint8_t)(len >> 8);
    o[3] = (uint8_t)len;
    c->len += 4 + len;
    return o + 4;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
put_status(struct cursor *c, enum dhcp6_status st)
{
    uint8_t *v = put_opt(c, OPT_STATUS_CODE, 2);
    if (v) {
        v[0] = 0;
        v[1] = (uint8_t)st;
    }
}

/* An IA_NA for 'iaid': with 'addr' (lifetimes 'pref'/'valid') if not NULL,
 * the client's other addresses with lifetime 0 (RFC 8415 18.3.4), or a
 * status if 'st' is not Success. */
static void
put_ia(struct cursor *c, const struct dhcp6_server *s,
       const struct dhcp6_ia *ia, const uint8_t *addr, uint32_t pref,
       uint32_t valid, enum dhcp6_status st)
{
    size_t start = c->len;
    uint8_t *v = put_opt(c, OPT_IA_NA, 12);
    uint8_t *a;

    if (!v) {
        return;
    }
    put32(v, ia->iaid);
    put32(v + 4, addr ? s->cfg.preferred_lifetime / 2 : 0);
    put32(v + 8, addr ? s->cfg.preferred_lifetime / 5 * 4 : 0);
    if (addr && (a = put_opt(c, OPT_IAADDR, 24))) {
        memcpy(a, addr, 16);
        put32(a + 16, pref);
        put32(a + 20, valid);
    }
    for (uint8_t i = 0; addr && i < ia->n_addrs; i++) {
        if (memcmp(ia->addrs[i], addr, 16) &&
            (a = put_opt(c, OPT_IAADDR, 24))) {
            memcpy(a, ia->addrs[i], 16);
            put32(a + 16, 0);
            put32(a + 20, 0);
        }
    }
    if (st != DHCP6_SUCCESS) {
        put_status(c, st);
    }
    /* Fix the IA_NA length now that its options are written. */
    size_t l = c->len - start - 4;
    c->p[start + 2] = (uint8_t)(l >> 8);
    c->p[start + 3] = (uint8_t)l;
}

/* The lease of the client 'mac' (the first, if several bindings have the
 * MAC), or NULL. */
static struct dhcp6_lease *
lease_of(struct dhcp6_server *s, const struct eth_addr *mac)
{
    size_t i =
        index_find(&s->by_mac, s->leases, mac, NULL, lease_hash(mac, NULL));
    return i != SIZE_MAX ? &s->leases[i] : NULL;
}

static bool
ia_has(const struct dhcp6_ia *ia, const uint8_t *addr)
{
    for (uint8_t i = 0; i < ia->n_addrs; i++) {
        if (!memcmp(ia->addrs[i], addr, 16)) {
            return true;
        }
    }
    return false;
}

static bool
on_link(const struct dhcp6_server *s, const uint8_t *a)
{
    for (size_t i = 0; i < s->cfg.n_prefixes; i++) {
        uint8_t l = s->prefix_lens[i], bytes = l / 8, bits = l % 8;
        if (!memcmp(a, s->prefixes[i], bytes) &&
            (!bits || !((a[bytes] ^ s->prefixes[i][bytes]) &
                        (uint8_t)(0xff << (8 - bits))))) {
            return true;
        }
    }
    return false;
}

/* Header, server id, client id: what every reply starts with. */
static void
start_reply(struct dhcp6_server *s, const struct dhcp6_msg *m, uint8_t type,
            struct cursor *c)
{
    uint8_t *v;

    c->p[0] = type;
    memcpy(c->p + 1, m->xid, 3);
    c->len = 4;
    if ((v = put_opt(c, OPT_SERVERID, sizeof s->duid))) {
        memcpy(v, s->duid, sizeof s->duid);
    }
    if (m->client_id && (v = put_opt(c, OPT_CLIENTID, m->client_id_len))) {
        memcpy(v, m->client_id, m->client_id_len);
    }
}

/* DNS servers and search domain, when configured. */
static void
put_config_options(struct dhcp6_server *s, struct cursor *c)
{
    uint8_t *v;

    if (s->cfg.n_dns && (v = put_opt(c, OPT_DNS_SERVERS, 16 * s->cfg.n_dns))) {
        memcpy(v, s->dns, 16 * s->cfg.n_dns);
    }
    if (s->domain_len && (v = put_opt(c, OPT_DOMAIN_LIST, s->domain_len))) {
        memcpy(v, s->domain_wire, s->domain_len);
    }
}

/* SOLICIT, REQUEST, RENEW, REBIND: the IA_NAs with the client's address.
 * 'commit': the binding becomes BOUND (else ADVERTISED). */
static void
answer_ias(struct dhcp6_server *s, const struct dhcp6_msg *m,
           struct dhcp6_lease *l, bool commit, uint64_t now, struct cursor *c)
{
    bool given = false;

    if (!s->cfg.stateful || !l || l->state == DHCP6_ST_DECLINED) {
        bool renewal = m->type == DHCP6_RENEW || m->type == DHCP6_REBIND;
        for (uint8_t i = 0; i < m->n_ia; i++) {
            put_ia(c, s, &m->ia[i], NULL, 0, 0,
                   renewal ? DHCP6_NO_BINDING : DHCP6_NO_ADDRS_AVAIL);
        }
        return;
    }
    for (uint8_t i = 0; i < m->n_ia; i++) {
        if (given) { /* one address per client: the port's */
            put_ia(c, s, &m->ia[i], NULL, 0, 0, DHCP6_NO_ADDRS_AVAIL);
            continue;
        }
        given = true;
        put_ia(c, s, &m->ia[i], l->addr, s->cfg.preferred_lifetime,
               s->cfg.valid_lifetime, DHCP6_SUCCESS);
        l->iaid = m->ia[i].iaid;
        if (commit) {
            l->state = DHCP6_ST_BOUND;
            l->expires = now + s->cfg.valid_lifetime;
        } else if (l->state != DHCP6_ST_BOUND) {
            l->state = DHCP6_ST_ADVERTISED;
        }
    }
}

enum dhcp6_drop
dhcp6_server_input(struct dhcp6_server *s, const uint8_t *msg, size_t len,
                   const struct eth_addr *src_mac, const uint8_t src_ip[16],
                   uint64_t now, struct dhcp6_reply *r)
{
    struct dhcp6_msg m;
    struct dhcp6_lease *l;
    struct cursor c = {r->data, 0, DHCP6_REPLY_MAX};
    enum dhcp6_drop d;

    r->len = 0;
    r->declined = 0;
    d = dhcp6_parse(msg, len, &m);
    if (d) {
        return d;
    }
    if (src_ip[0] != 0xfe || (src_ip[1] & 0xc0) != 0x80) {
        return DHCP6_DROP_BAD_SOURCE;
    }
    if (m.server_id && (m.server_id_len != sizeof s->duid ||
                        memcmp(m.server_id, s->duid, sizeof s->duid))) {
        return DHCP6_DROP_OTHER_SERVER;
    }
    l = lease_of(s, src_mac);
    switch (m.type) {
    case DHCP6_SOLICIT:
        if (m.rapid_commit) {
            start_reply(s, &m, DHCP6_REPLY, &c);
            put_opt(&c, OPT_RAPID_COMMIT, 0);
        } else {
            start_reply(s, &m, DHCP6_ADVERTISE, &c);
        }
        answer_ias(s, &m, l, m.rapid_commit, now, &c);
        if (!s->cfg.stateful || !l || l->state == DHCP6_ST_DECLINED) {
            put_status(&c, DHCP6_NO_ADDRS_AVAIL);
        }
        break;
    case DHCP6_REQUEST:
    case DHCP6_RENEW:
    case DHCP6_REBIND:
        start_reply(s, &m, DHCP6_REPLY, &c);
        answer_ias(s, &m, l, true, now, &c);
        break;
    case DHCP6_RELEASE:
    case DHCP6_DECLINE:
        start_reply(s, &m, DHCP6_REPLY, &c);
        for (uint8_t i = 0; l && i < m.n_ia; i++) {
            if (ia_has(&m.ia[i], l->addr)) {
                l->state = m.type == DHCP6_RELEASE ? DHCP6_ST_RELEASED
                                                   : DHCP6_ST_DECLINED;
                l->expires = now;
                r->declined = m.type == DHCP6_DECLINE;
            }
        }
        put_status(&c, DHCP6_SUCCESS);
        break;
    case DHCP6_CONFIRM: {
        bool any = false, all = true;
        for (uint8_t i = 0; i < m.n_ia; i++) {
            for (uint8_t k = 0; k < m.ia[i].n_addrs; k++) {
                any = true;
                all = all && on_link(s, m.ia[i].addrs[k]);
            }
        }
        if (!any) {
            return DHCP6_DROP_NO_ADDRESSES;
        }
        start_reply(s, &m, DHCP6_REPLY, &c);
        put_status(&c, all ? DHCP6_SUCCESS : DHCP6_NOT_ON_LINK);
        break;
    }
    case DHCP6_INFORMATION_REQUEST:
    default:
        start_reply(s, &m, DHCP6_REPLY, &c);
        break;
    }
    put_config_options(s, &c);
    r->len = (uint16_t)c.len;
    r->type = c.p[0];
    r->src_mac = s->cfg.server_mac;
    r->dst_mac = *src_mac;
    memcpy(r->src_ip, s->lla, 16);
    memcpy(r->dst_ip, src_ip, 16);
    return DHCP6_DROP_NONE;
}

size_t
dhcp6_reply_frame(const struct dhcp6_reply *r, uint8_t *buf, size_t cap)
{
    size_t len = ETH_HDR_LEN + 40 + 8 + (size_t)r->len;
    struct eth_hdr eth;
    struct ipv6_hdr ip;
    struct udp_hdr udp;
    uint16_t ulen = (uint16_t)(8 + r->len);

    if (!r->len || cap < len) {
        return 0;
    }
    eth.dst = r->dst_mac;
    eth.src = r->src_mac;
    eth.type = htons(ETH_TYPE_IPV6);
    memset(&ip, 0, sizeof ip);
    ip.ver_tc_flow = htonl(0x60000000);
    ip.payload_len = htons(ulen);
    ip.next = IPPROTO_UDP_;
    ip.hop_limit = 255;
    memcpy(ip.src.b, r->src_ip, 16);
    memcpy(ip.dst.b, r->dst_ip, 16);
    udp.src = htons(DHCP6_SERVER_PORT);
    udp.dst = htons(DHCP6_CLIENT_PORT);
    udp.len = htons(ulen);
    udp.csum = 0;
    memcpy(buf, &eth, ETH_HDR_LEN);
    memcpy(buf + ETH_HDR_LEN, &ip, 40);
    memcpy(buf + ETH_HDR_LEN + 40, &udp, 8);
    memcpy(buf + ETH_HDR_LEN + 48, r->data, r->len);
    udp.csum = csum_finish(csum_partial(
        buf + ETH_HDR_LEN + 40, ulen,
        csum_pseudo_ipv6(r->src_ip, r->dst_ip, IPPROTO_UDP_, ulen)));
    if (!udp.csum) {
        udp.csum = 0xffff; /* zero is not allowed over IPv6 */
    }
    memcpy(buf + ETH_HDR_LEN + 46, &udp.csum, 2);
    return len;
}
