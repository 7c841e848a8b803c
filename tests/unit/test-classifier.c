/* Unit tests of the firewall classifier (classifier.h) and address sets
 * (addrset.h).
 *
 * The main test is differential: random rule sets (0 to a few thousand
 * rules, random priorities with ties, random source/destination sets,
 * services, directions, families and actions) and random address sets
 * (overlapping IPv4 and IPv6 prefixes) are compiled, and random packets
 * are classified both by the compiled classifier and by a deliberately
 * naive evaluator that walks the rules in order and tests every member
 * prefix of every set bit by bit.  Sets are then edited (members added,
 * removed, replaced; sets deleted) and only the address index is rebuilt,
 * and the comparison runs again.  Every case has its own seed, printed on
 * failure; WEFT_TEST_SEED sets the base seed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "datapath/classifier.h"
#include "datapath/parse.h"
#include "testlib.h"

/* ---- A small deterministic PRNG (xorshift64*), so seeds reproduce. ---- */

static uint64_t rng_state;

static void
rng_seed(uint64_t s)
{
    rng_state = s * 0x9e3779b97f4a7c15ull + 1;
}

static uint32_t
rnd(uint32_t n) /* 0 .. n-1 */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

/* ---- Reference evaluator. ---- */

static bool
ref_in_set(const struct as_db *db, uint32_t set, int family,
           const uint8_t *addr)
{
    size_t n;
    const struct as_prefix *m = as_db_members(db, set, &n);
    for (size_t i = 0; i < n; i++) {
        if (as_prefix_contains(&m[i], family, addr)) {
            return true;
        }
    }
    return false;
}

static bool
ref_in_any(const struct as_db *db, const uint32_t *sets, uint32_t n, int family,
           const uint8_t *addr)
{
    if (!n) {
        return true;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (ref_in_set(db, sets[i], family, addr)) {
            return true;
        }
    }
    return false;
}

static bool
ref_service(const struct cls_rule *r, uint8_t proto, uint16_t port)
{
    if (!r->n_services) {
        return true;
    }
    for (uint32_t i = 0; i < r->n_services; i++) {
        const struct cls_service *s = &r->services[i];
        if (s->proto == CLS_ANY_PROTO) {
            return true;
        }
        if (s->proto != proto) {
            continue;
        }
        bool ranged = cls_proto_has_ports(proto) || proto == 1 || proto == 58;
        if (!ranged || (port >= s->port_lo && port <= s->port_hi)) {
            return true;
        }
    }
    return false;
}

struct ref_pkt {
    int family;
    uint8_t src[16], dst[16];
    uint8_t dir, proto;
    uint16_t port;
};

/* First match in (priority, id) order, by brute force. */
static struct cls_result
ref_lookup(const struct cls_rule *rules, size_t n, const struct as_db *db,
           const struct ref_pkt *p, struct cls_result deflt)
{
    const struct cls_rule *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct cls_rule *r = &rules[i];
        uint8_t dir = r->dir ? r->dir : CLS_DIR_BOTH;
        uint8_t fam = r->family ? r->family : CLS_FAM_BOTH;
        if (!(dir & p->dir) ||
            !(fam & (p->family == 4 ? CLS_FAM_V4 : CLS_FAM_V6)) ||
            !ref_in_any(db, r->src_sets, r->n_src, p->family, p->src) ||
            !ref_in_any(db, r->dst_sets, r->n_dst, p->family, p->dst) ||
            !ref_service(r, p->proto, p->port)) {
            continue;
        }
        if (!best || r->priority < best->priority ||
            (r->priority == best->priority && r->id < best->id)) {
            best = r;
        }
    }
    if (!best) {
        return deflt;
    }
    return (struct cls_result){best->id, 0, best->action, best->flags};
}

/* ---- Random generation. ---- */

#define MAX_SETS 64

/* Random prefixes cluster in 10.0.0.0/16 and 2001:db8::/112 so that they
 * overlap and packets hit them; a few are short and wide. */
static struct as_prefix
rand_prefix(void)
{
    struct as_prefix p = {0};
    if (rnd(4)) {
        p.family = 4;
        p.addr[0] = 10;
        p.addr[1] = 0;
        p.addr[2] = (uint8_t)rnd(4);
        p.addr[3] = (uint8_t)rnd(256);
        p.plen = (uint8_t)(rnd(8) ? 20 + rnd(13) : rnd(17));
    } else {
        p.family = 6;
        static const uint8_t base[14] = {0x20, 0x01, 0x0d, 0xb8};
        memcpy(p.addr, base, 14);
        p.addr[14] = (uint8_t)rnd(4);
        p.addr[15] = (uint8_t)rnd(256);
        p.plen = (uint8_t)(rnd(8) ? 116 + rnd(13) : rnd(120));
    }
    return p;
}

static void
rand_set(struct as_db *db, uint32_t id)
{
    struct as_prefix m[8];
    size_t n = rnd(9);
    for (size_t i = 0; i < n; i++) {
        m[i] = rand_prefix();
    }
    as_db_set(db, id, m, n);
}

static const uint8_t protos[] = {6, 17, 1, 58, 47, 132};

static struct cls_service
rand_service(void)
{
    struct cls_service s;
    if (!rnd(10)) {
        s.proto = CLS_ANY_PROTO;
        s.port_lo = s.port_hi = 0;
        return s;
    }
    s.proto = protos[rnd(sizeof protos)];
    if (s.proto == 1 || s.proto == 58) {
        s = cls_service_icmp((uint8_t)s.proto, rnd(3) ? (int)rnd(12) : -1,
                             rnd(2) ? (int)rnd(4) : -1);
        return s;
    }
    uint16_t a = (uint16_t)rnd(100), b = (uint16_t)rnd(100);
    if (!rnd(8)) {
        b = (uint16_t)(a + rnd(65536 - a));
    }
    s.port_lo = MIN(a, b);
    s.port_hi = MAX(a, b);
    return s;
}

struct ruleset {
    struct cls_rule *r;
    uint32_t *sets;         /* storage for set ids */
    struct cls_service *sv; /* storage for services */
    size_t n;
};

static void
rand_rules(struct ruleset *rs, size_t n, uint32_t n_sets)
{
    rs->n = n;
    rs->r = calloc(n + 1, sizeof *rs->r);
    rs->sets = calloc(6 * n + 1, sizeof *rs->sets);
    rs->sv = calloc(3 * n + 1, sizeof *rs->sv);
    for (size_t i = 0; i < n; i++) {
        struct cls_rule *r = &rs->r[i];
        uint32_t *ids = &rs->sets[6 * i];
        struct cls_service *sv = &rs->sv[3 * i];
        r->id = (uint32_t)(i * 7 + 1000); /* unique */
        r->priority = rnd(n / 2 + 2);     /* plenty of ties */
        r->n_src = rnd(3) ? rnd(4) : 0;
        r->n_dst = rnd(3) ? rnd(4) : 0;
        for (uint32_t j = 0; j < r->n_src; j++) {
            ids[j] = rnd(n_sets + 2); /* sometimes an unknown set */
        }
        for (uint32_t j = 0; j < r->n_dst; j++) {
            ids[3 + j] = rnd(n_sets + 2);
        }
        r->src_sets = ids;
        r->dst_sets = ids + 3;
        r->n_services = rnd(4);
        for (uint32_t j = 0; j < r->n_services; j++) {
            sv[j] = rand_service();
        }
        r->services = sv;
        r->dir = (uint8_t)rnd(4);
        r->family = (uint8_t)rnd(4);
        r->action = (uint8_t)rnd(3);
        r->flags = (uint8_t)rnd(2);
    }
}

static void
free_rules(struct ruleset *rs)
{
    free(rs->r);
    free(rs->sets);
    free(rs->sv);
}

/* An address: usually inside a random member of a random set. */
static void
rand_addr(const struct as_db *db, uint32_t n_sets, int family, uint8_t *a)
{
    size_t n;
    const struct as_prefix *m = as_db_members(db, rnd(n_sets), &n);
    struct as_prefix p = rand_prefix();
    for (int tries = 0; tries < 4 && (!m || p.family != family); tries++) {
        if (m && n) {
            p = m[rnd((uint32_t)n)];
        } else {
            p = rand_prefix();
        }
    }
    if (p.family != family) {
        p = rand_prefix();
        while (p.family != family) {
            p = rand_prefix();
        }
    }
    int bytes = family == 4 ? 4 : 16;
    memcpy(a, p.addr, (size_t)bytes);
    for (int i = p.plen; i < bytes * 8; i++) { /* random host bits */
        int bit = 7 - i % 8;
        a[i / 8] = (uint8_t)((a[i / 8] & ~(1 << bit)) | (rnd(2) << bit));
    }
}

static void
rand_pkt(const struct as_db *db, uint32_t n_sets, struct ref_pkt *p,
         struct cls_key *k)
{
    memset(p, 0, sizeof *p);
    p->family = rnd(4) ? 4 : 6;
    rand_addr(db, n_sets, p->family, p->src);
    rand_addr(db, n_sets, p->family, p->dst);
    p->dir = rnd(2) ? CLS_DIR_IN : CLS_DIR_OUT;
    p->proto = protos[rnd(sizeof protos)];
    if (cls_proto_has_ports(p->proto)) {
        p->port = (uint16_t)(rnd(4) ? rnd(110) : rnd(65536));
    } else if (p->proto == 1 || p->proto == 58) {
        p->port = (uint16_t)(rnd(13) << 8 | rnd(5));
    }
    k->family = (uint8_t)p->family;
    k->src = p->family == 4 ? as_key_v4(p->src) : as_key_v6(p->src);
    k->dst = p->family == 4 ? as_key_v4(p->dst) : as_key_v6(p->dst);
    k->dir = p->dir;
    k->proto = p->proto;
    k->port = p->port;
}

static bool
same(struct cls_result a, struct cls_result b)
{
    return a.rule_id == b.rule_id && a.action == b.action && a.flags == b.flags;
}

static long n_lookups, n_matched; /* how often a rule (not the default)
                                    * decided: the test's own coverage */

/* One case: returns false (and reports) on the first disagreement. */
static bool
run_case(uint64_t seed, size_t n_rules, int n_packets)
{
    rng_seed(seed);
    uint32_t n_sets = 1 + rnd(MAX_SETS);
    struct as_db *db = as_db_create();
    for (uint32_t i = 0; i < n_sets; i++) {
        rand_set(db, i);
    }
    struct ruleset rs;
    rand_rules(&rs, n_rules, n_sets);
    struct cls_result deflt = {99, 0, (uint8_t)rnd(2), 0};
    struct cls *c = cls_compile(rs.r, rs.n, deflt);
    struct as_index *ix = as_index_build(db);
    bool ok = true;

    for (int round = 0; round < 3 && ok; round++) {
        for (int i = 0; i < n_packets; i++) {
            struct ref_pkt p;
            struct cls_key k;
            rand_pkt(db, n_sets, &p, &k);
            struct cls_result got = cls_lookup(c, ix, &k);
            struct cls_result want = ref_lookup(rs.r, rs.n, db, &p, deflt);
            n_lookups++;
            n_matched += want.rule_id != deflt.rule_id;
            if (!same(got, want)) {
                fprintf(stderr,
                        "classifier mismatch: seed %llu rules %zu round %d "
                        "packet %d: got rule %u, want rule %u\n",
                        (unsigned long long)seed, n_rules, round, i,
                        got.rule_id, want.rule_id);
                ok = false;
                break;
            }
        }
        /* Edit some sets; rebuild only the address index. */
        for (int e = 0; e < 6; e++) {
            uint32_t id = rnd(n_sets);
            struct as_prefix p = rand_prefix();
            size_t n;
            const struct as_prefix *m;
            switch (rnd(4)) {
            case 0:
                as_db_add(db, id, &p);
                break;
            case 1:
                m = as_db_members(db, id, &n);
                if (n) {
                    struct as_prefix victim = m[rnd((uint32_t)n)];
                    as_db_remove(db, id, &victim);
                }
                break;
            case 2:
                rand_set(db, id);
                break;
            default:
                as_db_delete(db, id);
            }
        }
        as_index_free(ix);
        ix = as_index_build(db);
    }
    as_index_free(ix);
    cls_free(c);
    free_rules(&rs);
    as_db_destroy(db);
    return ok;
}

TEST(differential_against_linear_reference)
{
    static const size_t sizes[] = {0, 1, 2, 5, 17, 64, 65, 200, 1000, 3000};
    uint64_t base = 20261121;
    const char *env = getenv("WEFT_TEST_SEED");
    if (env) {
        base = strtoull(env, NULL, 0);
    }
    int cases = 0, failed = 0;
    for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
        int n_cases = sizes[s] >= 1000 ? 4 : 40;
        int n_packets = sizes[s] >= 1000 ? 300 : 200;
        for (int i = 0; i < n_cases; i++) {
            uint64_t seed = base * 1000003 + s * 1000 + (uint64_t)i;
            cases++;
            failed += !run_case(seed, sizes[s], n_packets);
        }
    }
    fprintf(stderr,
            "classifier: %d random cases (base seed %llu), %ld lookups, "
            "%ld decided by a rule, %d cases failed\n",
            cases, (unsigned long long)base, n_lookups, n_matched, failed);
    CHECK(n_matched > n_lookups / 4);
    CHECK_EQ(failed, 0);
}

/* ---- Directed tests. ---- */

static struct as_prefix
pfx4(const char *s, int plen)
{
    struct as_prefix p = {4, (uint8_t)plen, {0}};
    inet_pton(AF_INET, s, p.addr);
    return p;
}

static struct as_prefix
pfx6(const char *s, int plen)
{
    struct as_prefix p = {6, (uint8_t)plen, {0}};
    inet_pton(AF_INET6, s, p.addr);
    return p;
}

static struct cls_key
key4(const char *src, const char *dst, uint8_t dir, uint8_t proto,
     uint16_t port)
{
    uint8_t s[4], d[4];
    inet_pton(AF_INET, src, s);
    inet_pton(AF_INET, dst, d);
    struct cls_key k = {as_key_v4(s), as_key_v4(d), 4, dir, proto, port};
    return k;
}

TEST(address_index_overlaps_and_edges)
{
    struct as_db *db = as_db_create();
    struct as_prefix a[] = {pfx4("10.0.0.0", 8), pfx4("10.1.0.0", 16)};
    struct as_prefix b[] = {pfx4("10.1.2.0", 24), pfx4("0.0.0.0", 0)};
    struct as_prefix c[] = {pfx4("255.255.255.255", 32), pfx6("2001:db8::", 32),
                            pfx6("::", 0)};
    const uint32_t *ids;
    uint8_t ip[16];

    CHECK_EQ(as_db_set(db, 1, a, 2), 0);
    CHECK_EQ(as_db_set(db, 2, b, 2), 0);
    CHECK_EQ(as_db_set(db, 3, c, 3), 0);
    struct as_prefix bad = {4, 33, {0}};
    CHECK_EQ(as_db_add(db, 4, &bad), EINVAL);
    CHECK_EQ(as_db_set(db, AS_MAX_ID + 1, a, 1), EINVAL);
    struct as_index *ix = as_index_build(db);

    inet_pton(AF_INET, "10.1.2.3", ip);
    CHECK_EQ(as_index_lookup(ix, 4, ip, &ids), 2);
    CHECK(ids[0] == 1 && ids[1] == 2);
    inet_pton(AF_INET, "11.0.0.1", ip);
    CHECK_EQ(as_index_lookup(ix, 4, ip, &ids), 1);
    CHECK_EQ(ids[0], 2);
    inet_pton(AF_INET, "255.255.255.255", ip);
    CHECK_EQ(as_index_lookup(ix, 4, ip, &ids), 2);
    CHECK(ids[0] == 2 && ids[1] == 3);
    inet_pton(AF_INET6, "2001:db8::1", ip);
    CHECK_EQ(as_index_lookup(ix, 6, ip, &ids), 1);
    inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ip);
    CHECK_EQ(as_index_lookup(ix, 6, ip, &ids), 1);

    /* Remove a member; only the index is rebuilt. */
    CHECK_EQ(as_db_remove(db, 2, &b[1]), 0);
    CHECK_EQ(as_db_remove(db, 2, &b[1]), ENOENT);
    as_index_free(ix);
    ix = as_index_build(db);
    inet_pton(AF_INET, "11.0.0.1", ip);
    CHECK_EQ(as_index_lookup(ix, 4, ip, &ids), 0);
    as_index_free(ix);
    as_db_destroy(db);
}

TEST(first_match_services_directions_default)
{
    struct as_db *db = as_db_create();
    struct as_prefix web = pfx4("10.0.1.0", 24), app = pfx4("10.0.2.0", 24);
    as_db_set(db, 1, &web, 1);
    as_db_set(db, 2, &app, 1);
    struct as_index *ix = as_index_build(db);

    uint32_t s_web = 1, s_app = 2;
    struct cls_service http = {6, 80, 80}, alt = {6, 8080, 8090};
    struct cls_service ping = cls_service_icmp(1, 8, -1);
    struct cls_rule rules[] = {
        /* web -> app:8080-8090 allowed (out of web's vNIC) */
        {.id = 1,
         .priority = 10,
         .src_sets = &s_web,
         .n_src = 1,
         .dst_sets = &s_app,
         .n_dst = 1,
         .services = &alt,
         .n_services = 1,
         .dir = CLS_DIR_OUT,
         .action = CLS_ALLOW},
        /* anything -> web:80 in */
        {.id = 2,
         .priority = 20,
         .dst_sets = &s_web,
         .n_dst = 1,
         .services = &http,
         .n_services = 1,
         .dir = CLS_DIR_IN,
         .action = CLS_ALLOW,
         .flags = CLS_F_LOGGED},
        /* ping from anywhere, IPv4 only */
        {.id = 3,
         .priority = 30,
         .services = &ping,
         .n_services = 1,
         .family = CLS_FAM_V4,
         .action = CLS_ALLOW},
        /* web -> app anything else: reject (lower priority than 1) */
        {.id = 4,
         .priority = 40,
         .src_sets = &s_web,
         .n_src = 1,
         .dst_sets = &s_app,
         .n_dst = 1,
         .action = CLS_REJECT},
    };
    struct cls_result deflt = {0, 0, CLS_DROP, 0};
    struct cls *c = cls_compile(rules, ARRAY_SIZE(rules), deflt);
    struct cls_key k;

    k = key4("10.0.1.5", "10.0.2.7", CLS_DIR_OUT, 6, 8080);
    CHECK_EQ(cls_lookup(c, ix, &k).rule_id, 1);
    k.port = 5432;
    CHECK_EQ(cls_lookup(c, ix, &k).rule_id, 4);
    CHECK_EQ(cls_lookup(c, ix, &k).action, CLS_REJECT);
    k = key4("192.0.2.1", "10.0.1.5", CLS_DIR_IN, 6, 80);
    struct cls_result r = cls_lookup(c, ix, &k);
    CHECK_EQ(r.rule_id, 2);
    CHECK_EQ(r.flags, CLS_F_LOGGED);
    CHECK_EQ(r.rank, 1);
    k.dir = CLS_DIR_OUT;
    CHECK_EQ(cls_lookup(c, ix, &k).rule_id, 0); /* default */
    CHECK_EQ(cls_lookup(c, ix, &k).action, CLS_DROP);
    CHECK_EQ(cls_lookup(c, ix, &k).rank, UINT32_MAX);
    k = key4("192.0.2.1", "10.0.1.5", CLS_DIR_IN, 1, 8 << 8 | 0);
    CHECK_EQ(cls_lookup(c, ix, &k).rule_id, 3);
    k.port = 0 << 8; /* echo reply is not allowed by rule 3 */
    CHECK_EQ(cls_lookup(c, ix, &k).rule_id, 0);

    /* Moving 10.0.2.7 out of "app" changes the verdict without touching
     * the classifier. */
    struct as_prefix app2 = pfx4("10.0.3.0", 24);
    as_db_set(db, 2, &app2, 1);
    as_index_free(ix);
    ix = as_index_build(db);
    k = key4("10.0.1.5", "10.0.2.7", CLS_DIR_OUT, 6, 8080);
    CHECK_EQ(cls_lookup(c, ix, &k).rule_id, 0);
    k = key4("10.0.1.5", "10.0.3.7", CLS_DIR_OUT, 6, 8080);
    CHECK_EQ(cls_lookup(c, ix, &k).rule_id, 1);

    cls_free(c);
    as_index_free(ix);
    as_db_destroy(db);
}

TEST(key_from_parsed_packet)
{
    struct dp_pool *pool = dp_pool_create(4, 2048);
    struct dp_packet *p = dp_pool_get(pool);
    uint8_t f[64] = {0};
    struct eth_hdr eth = {
        {{2, 0, 0, 0, 0, 2}}, {{2, 0, 0, 0, 0, 1}}, htons(ETH_TYPE_IPV4)};
    struct ipv4_hdr ip = {.ver_ihl = 0x45,
                          .tot_len = htons(28),
                          .ttl = 64,
                          .proto = IPPROTO_UDP_,
                          .src = htonl(0x0a000001),
                          .dst = htonl(0x0a000002)};
    struct udp_hdr u = {htons(1234), htons(53), htons(8), 0};
    memcpy(f, &eth, 14);
    memcpy(f + 14, &ip, 20);
    memcpy(f + 34, &u, 8);
    memcpy(p->data, f, 60);
    p->len = 60;
    CHECK_EQ(dp_parse(p), DP_DROP_NONE);
    struct cls_key k;
    CHECK(cls_key_from_packet(p, CLS_DIR_OUT, &k));
    CHECK_EQ(k.family, 4);
    CHECK_EQ(k.src.lo, 0x0a000001);
    CHECK_EQ(k.dst.lo, 0x0a000002);
    CHECK_EQ(k.proto, IPPROTO_UDP_);
    CHECK_EQ(k.port, 53);
    CHECK_EQ(k.dir, CLS_DIR_OUT);
    dp_packet_free(p);
    dp_pool_destroy(pool);
}
