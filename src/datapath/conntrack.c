/* Connection tracking (see conntrack.h for the model and the contract).
 *
 * Layout.  Entries live in one array reserved at creation ('max_entries'
 * of them, mapped lazily so untouched entries cost no RSS), addressed by
 * index; freed entries go on a free list.  The hash table is an array of
 * 8-byte slots, (32-bit hash << 32 | entry index + 1), at least twice as
 * many as entries, probed linearly and deleted from with backward shifting
 * (no tombstones, so probe chains stay short however long the table runs).
 * The hash in the slot lets a probe skip non-matching entries without
 * touching them.
 *
 * Expiry.  Each timeout class has a doubly linked list (by index).  An
 * entry's 'expires' moves forward with every packet, but the entry is
 * moved to its list's tail only when 'expires' got ahead of its list
 * position by the class's granularity (at most a second): most packets
 * touch no other entry.  An entry keeps that moment, its position plus
 * the granularity, as 'requeue_at'.  Lists stay sorted by position, so
 * the sweep stops at the first head that is not due; a due head that was
 * refreshed since goes back to the tail.  Lookups check 'expires' exactly.
 *
 * TCP.  The state follows SYN / SYN+ACK / ACK, FINs per direction and
 * whether each FIN was acknowledged, and RST.  In strict mode each segment
 * must also lie in the window the peer advertised (Rooij's four bounds on
 * sequence and acknowledgement numbers, with window scaling when both SYNs
 * carried the option), and a RST answering a SYN must acknowledge it. */
#include "datapath/conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/hash.h"
#include "lib/util.h"

#define NIL     UINT32_MAX
#define TC_FREE 0xff

/* ct_pkt.kind */
#define K_TCP      1
#define K_UDP      2
#define K_ICMP     3
#define K_OTHER    4
#define K_CLASS    0x0f
#define K_NOCREATE 0x40 /* echo reply: never opens a connection */
#define K_RELATED  0x80 /* ICMP error: key is the embedded header's */

/* ct_conn.flags */
#define F_ORIG_SWAPPED 0x0001 /* opener is endpoint b */
#define F_DIR_OUT      0x0002 /* opened by the workload */
#define F_V6           0x0004
#define F_LIBERAL      0x0008 /* TCP picked up mid-stream: no window checks */
#define F_FIN0         0x0010 /* FIN sent by opener */
#define F_FIN1         0x0020 /* FIN sent by responder */
#define F_FINACK0      0x0040 /* opener's FIN acknowledged */
#define F_FINACK1      0x0080
#define F_WS0          0x0100 /* opener's SYN had a window-scale option */
#define F_WS1          0x0200
#define F_FAST         0x0400 /* ct_process_fast() may take it either way */
#define F_FAST0        0x0800 /* ... only the opener's packets */
#define F_SD           0x1000 /* F_ORIG_SWAPPED ^ F_DIR_OUT */
/* TCP opened by a SYN in strict mode: window checks for its whole life. */
#define F_STRICT 0x2000
/* A flow cache entry stands in for it ('cache_tag', in line 2: the flag
 * in line 0 spares every other packet that line). */
#define F_CACHED 0x4000

struct ct_tcp_dir {
    uint32_t end;     /* highest seq + len sent */
    uint32_t maxend;  /* highest ack + window the peer granted */
    uint32_t maxwin;  /* largest window advertised; 0 = not seen yet */
    uint32_t fin_end; /* seq just after our FIN: the peer's ack of it */
};

/* Three cache lines (entries are 192 bytes in a page-aligned table): a
 * lookup reads line 0 and the key in line 1; the TCP window state (slow
 * paths only) is in line 2. */
struct ct_conn {
    /* Line 0 (begins with struct ct_conn_head): an established packet's
     * checks and updates. */
    uint32_t incarn;     /* bumped when every reference to it must fail
                          * (retire_refs()) */
    uint32_t gen;        /* policy generation it was admitted under */
    uint32_t rule_id;    /* rule that admitted it */
    uint16_t flags;      /* F_* */
    uint8_t state;       /* enum ct_state */
    uint8_t tclass;      /* enum ct_timeout, TC_FREE when unused */
    uint64_t expires;    /* ms */
    uint64_t requeue_at; /* expiry-list position + the class's gran, ms */
    uint64_t packets[2], bytes[2];
    /* Line 1: the lookup's key, the hash, the expiry list. */
    struct ct_key key; /* canonical */
    uint32_t hash;
    uint32_t prev, next;
    uint8_t wscale; /* opener's scale in the low nibble, responder's high */
    uint8_t pad[3];
    /* Line 2. */
    struct ct_tcp_dir tcp[2];
    uint64_t cache_tag;    /* with F_CACHED: the flow cache entry standing
                            * in for it (struct ct_cache_ops) */
    uint64_t cache_synced; /* when that entry was made or last synced, ms */
    uint8_t pad2[16];
};
#define CT_CONN_BYTES 192
BUILD_ASSERT(sizeof(struct ct_conn) == CT_CONN_BYTES);
BUILD_ASSERT(offsetof(struct ct_conn, key) == 64);
BUILD_ASSERT(offsetof(struct ct_conn, tcp) == 128);
#define SAME_AS_HEAD(F)                                                        \
    BUILD_ASSERT(offsetof(struct ct_conn, F) ==                                \
                 offsetof(struct ct_conn_head, F))
SAME_AS_HEAD(incarn);
SAME_AS_HEAD(gen);
SAME_AS_HEAD(rule_id);
#undef SAME_AS_HEAD

struct ct_table {
    struct ct_config cfg;
    uint64_t timeout[CT_N_TIMEOUTS]; /* ms */
    uint64_t gran[CT_N_TIMEOUTS];    /* list refresh granularity, ms */
    struct ct_conn *conns;           /* cfg.max_entries */
    uint32_t n_used;                 /* entries ever handed out */
    uint32_t free_head;              /* free list through 'next' */
    uint64_t *slots;
    uint32_t mask;
    uint64_t seed[7];
    uint32_t head[CT_N_TIMEOUTS], tail[CT_N_TIMEOUTS];
    struct ct_stats stats;
    const struct ct_cache_ops *cache_ops; /* NULL: no flow cache */
    void *cache_arg;
    ct_rule_count_fn *count_rule; /* NULL: cached packets count no rule */
    void *count_arg;
};

static const char *const state_names[] = {
#define CT_STATE_NAME(NAME) #NAME,
    CT_STATES(CT_STATE_NAME)
#undef CT_STATE_NAME
};

const char *
ct_state_name(enum ct_state s)
{
    return (unsigned)s < CT_N_STATES ? state_names[s] : "?";
}

const char *
ct_verdict_name(enum ct_verdict v)
{
    static const char *const names[] = {"NEW", "ESTABLISHED", "RELATED",
                                        "INVALID", "UNTRACKED"};
    return (unsigned)v < ARRAY_SIZE(names) ? names[v] : "?";
}

void
ct_config_default(struct ct_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_entries = 1000000;
}

struct ct_table *
ct_create(const struct ct_config *cfg)
{
    static const uint32_t defaults[] = {
#define CT_TIMEOUT_DEFAULT(NAME, SECS) SECS,
        CT_TIMEOUTS(CT_TIMEOUT_DEFAULT)
#undef CT_TIMEOUT_DEFAULT
    };
    if (!cfg->max_entries || cfg->max_entries > CT_MAX_ENTRIES) {
        errno = EINVAL;
        return NULL;
    }
    struct ct_table *ct = xcalloc(1, sizeof *ct);
    ct->cfg = *cfg;
    for (int i = 0; i < CT_N_TIMEOUTS; i++) {
        uint64_t t = cfg->timeout_ms[i] ? cfg->timeout_ms[i]
                                        : (uint64_t)defaults[i] * 1000;
        t = MIN(t, CT_TIMEOUT_MAX_MS);
        ct->timeout[i] = t;
        ct->gran[i] = MAX(1, MIN(1000, t / 16));
        ct->head[i] = ct->tail[i] = NIL;
    }
    size_t n_slots = 16;
    while (n_slots < 2 * (size_t)cfg->max_entries) {
        n_slots *= 2;
    }
    ct->conns = map_zeroed((size_t)cfg->max_entries * sizeof *ct->conns);
    ct->slots = map_zeroed(n_slots * sizeof *ct->slots);
    if (!ct->conns || !ct->slots) {
        unmap_zeroed(ct->conns, (size_t)cfg->max_entries * sizeof *ct->conns);
        unmap_zeroed(ct->slots, n_slots * sizeof *ct->slots);
        free(ct);
        errno = ENOMEM;
        return NULL;
    }
    ct->mask = (uint32_t)(n_slots - 1);
    ct->free_head = NIL;
    if (getrandom(ct->seed, sizeof ct->seed, GRND_NONBLOCK) !=
        sizeof ct->seed) {
        uint64_t t = time_nsec() ^ (uintptr_t)ct;
        for (int i = 0; i < 7; i++) {
            ct->seed[i] = hash_mix64(t + (uint64_t)i);
        }
    }
    ct->stats.max_entries = cfg->max_entries;
    return ct;
}

static void forget_all(struct ct_table *);

void
ct_destroy(struct ct_table *ct)
{
    if (ct) {
        forget_all(ct);
        unmap_zeroed(ct->conns,
                     (size_t)ct->cfg.max_entries * sizeof *ct->conns);
        unmap_zeroed(ct->slots, ((size_t)ct->mask + 1) * sizeof *ct->slots);
        free(ct);
    }
}

/* ---- Keys and hashing. ---- */

/* Keyed hash: three 64-bit products of seeded words (NH-style, so the
 * words are mixed in parallel), then a full-avalanche finalizer.  The
 * random seeds keep remote senders from aiming at one probe chain.  Takes
 * the key's words as values: reading back a key just written field by
 * field would stall on store-to-load forwarding. */
static inline uint32_t
hash_words(const struct ct_table *ct, uint64_t a0, uint64_t a1, uint64_t b0,
           uint64_t b1, uint64_t w4, uint64_t proto)
{
    const uint64_t *s = ct->seed;
    uint64_t h = (a0 + s[0]) * (a1 + s[1]) + (b0 + s[2]) * (b1 + s[3]) +
                 (w4 + s[4]) * (proto + s[5]);
    return (uint32_t)hash_mix64(h ^ s[6]);
}

/* Three 16-byte vector compares (keys are 8-byte aligned). */
typedef uint64_t u64x2 __attribute__((vector_size(16), aligned(8), may_alias));

static inline bool
key_eq(const struct ct_key *x, const struct ct_key *y)
{
    const u64x2 *xv = (const void *)x, *yv = (const void *)y;
    BUILD_ASSERT(sizeof(struct ct_key) == 48);
    u64x2 d = (xv[0] ^ yv[0]) | (xv[1] ^ yv[1]) | (xv[2] ^ yv[2]);
    return !(d[0] | d[1]);
}

struct addr_w {
    uint64_t hi, lo; /* the 16 key bytes as memcpy would read them */
};

/* Fills the canonical key and its hash. */
static inline void
make_key(const struct ct_table *ct, struct ct_pkt *cp, struct addr_w s,
         struct addr_w d, uint16_t sport, uint16_t dport, uint8_t proto,
         uint32_t zone)
{
    bool swap = s.hi != d.hi   ? s.hi > d.hi
                : s.lo != d.lo ? s.lo > d.lo
                               : sport > dport;
    struct addr_w a = swap ? d : s, b = swap ? s : d;
    uint16_t pa = swap ? dport : sport, pb = swap ? sport : dport;
    struct ct_key *k = &cp->key;

    k->a[0] = a.hi, k->a[1] = a.lo, k->b[0] = b.hi, k->b[1] = b.lo;
    k->pa = pa, k->pb = pb;
    k->zone = zone;
    k->proto = proto;
    k->pad = 0;
    cp->swapped = swap;
    cp->sd = swap ^ cp->dir_out;
    cp->hash = hash_words(
        ct, a.hi, a.lo, b.hi, b.lo,
        (uint64_t)pa | (uint64_t)pb << 16 | (uint64_t)zone << 32, proto);
}

/* An address as key words (IPv4 as ::ffff:a.b.c.d), without byte stores. */
static inline struct addr_w
addr_words(const uint8_t *ip, int family)
{
    struct addr_w w;
    if (family == 4) {
        w.hi = 0;
        w.lo = (uint64_t)rd32(ip) << 32 | 0xffff0000u;
    } else {
        memcpy(&w.hi, ip, 8);
        memcpy(&w.lo, ip + 8, 8);
    }
    return w;
}

static inline bool
icmp_is_error(int family, uint8_t type)
{
    if (family == 4) {
        return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    }
    return type >= 1 && type <= 4;
}

/* Echo request/reply types of ICMP (8/0) and ICMPv6 (128/129). */
static inline int
icmp_echo_kind(int family, uint8_t type) /* 1 request, 2 reply, 0 other */
{
    if (family == 4) {
        return type == 8 ? 1 : type == 0 ? 2 : 0;
    }
    return type == 128 ? 1 : type == 129 ? 2 : 0;
}

/* Window-scale option of a SYN, 0xff if none. */
static uint8_t
tcp_wscale(const uint8_t *opt, const uint8_t *end)
{
    while (opt < end) {
        if (opt[0] == 0) {
            break;
        }
        if (opt[0] == 1) {
            opt++;
            continue;
        }
        if (end - opt < 2 || opt[1] < 2 || opt[1] > end - opt) {
            break;
        }
        if (opt[0] == 3 && opt[1] == 3) {
            return MIN(opt[2], 14);
        }
        opt += opt[1];
    }
    return 0xff;
}

/* The key of the packet an ICMP error quotes, as the quoted packet would
 * have had it.  Returns CT_NEW when usable, CT_INVALID otherwise. */
static enum ct_verdict
extract_related(const struct ct_table *ct, const uint8_t *outer_dst, int family,
                const uint8_t *e, const uint8_t *end, uint32_t zone,
                struct ct_pkt *cp)
{
    const uint8_t *el4, *esrc, *edst;
    uint8_t proto;
    struct addr_w src, dst;

    if (family == 4) {
        if (end - e < 20 || e[0] >> 4 != 4 || (e[0] & 15) < 5) {
            return CT_INVALID;
        }
        int ihl = (e[0] & 15) * 4;
        if (end - e < ihl + 8 || (rd16(e + 6) & htons(IPV4_OFFSET_MASK))) {
            return CT_INVALID;
        }
        proto = e[9];
        esrc = e + 12;
        edst = e + 16;
        el4 = e + ihl;
        if (memcmp(esrc, outer_dst, 4)) {
            return CT_INVALID;
        }
    } else {
        if (end - e < 48 || e[0] >> 4 != 6) {
            return CT_INVALID;
        }
        proto = e[6];
        esrc = e + 8;
        edst = e + 24;
        el4 = e + 40;
        if (memcmp(esrc, outer_dst, 16)) {
            return CT_INVALID;
        }
    }
    src = addr_words(esrc, family);
    dst = addr_words(edst, family);

    uint16_t sport = 0, dport = 0;
    uint8_t kind;
    if (proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_) {
        sport = rd16(el4);
        dport = rd16(el4 + 2);
        kind = proto == IPPROTO_TCP_ ? K_TCP : K_UDP;
    } else if (proto == (family == 4 ? IPPROTO_ICMP_ : IPPROTO_ICMPV6_)) {
        int echo = icmp_echo_kind(family, el4[0]);
        if (!echo) {
            return CT_INVALID; /* errors about errors are not related */
        }
        uint16_t id = rd16(el4 + 4);
        sport = echo == 1 ? id : 0;
        dport = echo == 1 ? 0 : id;
        kind = K_ICMP;
    } else {
        kind = K_OTHER;
    }
    make_key(ct, cp, src, dst, sport, dport, proto, zone);
    cp->kind = kind | K_RELATED;
    return CT_NEW;
}

/* Fills the TCP sequence fields of 'cp' from its packet, once. */
static void
tcp_fields(struct ct_pkt *cp)
{
    const struct dp_packet *p = cp->pkt;
    const uint8_t *l4 = p->data + p->l4_ofs, *end = dp_packet_ip_end(p);
    int doff = (l4[12] >> 4) * 4;
    uint8_t fl = l4[13];
    long payload = end - (l4 + doff);

    cp->seq = ntohl(rd32(l4 + 4));
    cp->ack = ntohl(rd32(l4 + 8));
    cp->win = ntohs(rd16(l4 + 14));
    cp->seg_len = (uint32_t)(payload > 0 ? payload : 0) + !!(fl & TCP_SYN) +
                  !!(fl & TCP_FIN);
    cp->wscale = fl & TCP_SYN ? tcp_wscale(l4 + 20, l4 + doff) : 0xff;
    cp->tcp_ready = 1;
}

static enum ct_verdict extract_slow(const struct ct_table *,
                                    const struct dp_packet *, uint32_t zone,
                                    struct ct_pkt *);

/* Fills 'cp' from a parsed packet.  Returns CT_NEW when the packet can be
 * looked up, else CT_UNTRACKED or CT_INVALID.  Whole TCP and UDP packets
 * take the short way: addresses, ports and TCP flags only. */
static inline enum ct_verdict
extract(const struct ct_table *ct, const struct dp_packet *p, uint32_t zone,
        bool dir_out, struct ct_pkt *cp)
{
    uint8_t proto = p->ip_proto;

    cp->dir_out = dir_out;
    cp->bytes = p->len;
    cp->tcp_flags = 0;
    cp->tcp_ready = 0;
    cp->pkt = p;
    if (likely(!(p->pflags & DP_PF_FRAG) && p->l4_ofs != DP_OFS_NONE &&
               (proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_))) {
        const uint8_t *l3 = p->data + p->l3_ofs, *l4 = p->data + p->l4_ofs;
        uint32_t ports = rd32(l4);
        if (proto == IPPROTO_TCP_) {
            cp->kind = K_TCP;
            cp->tcp_flags = l4[13];
        } else {
            cp->kind = K_UDP;
        }
        /* make_key() once per family, so that IPv4's zero upper words
         * fold away. */
        if (likely(p->pflags & DP_PF_IPV4)) {
            cp->family = 4;
            make_key(ct, cp, addr_words(l3 + 12, 4), addr_words(l3 + 16, 4),
                     (uint16_t)ports, (uint16_t)(ports >> 16), proto, zone);
        } else {
            cp->family = 6;
            make_key(ct, cp, addr_words(l3 + 8, 6), addr_words(l3 + 24, 6),
                     (uint16_t)ports, (uint16_t)(ports >> 16), proto, zone);
        }
        return CT_NEW;
    }
    return extract_slow(ct, p, zone, cp);
}

/* The rest: fragments, ICMP, other protocols, non-IP. */
static enum ct_verdict
extract_slow(const struct ct_table *ct, const struct dp_packet *p,
             uint32_t zone, struct ct_pkt *cp)
{
    const uint8_t *d = p->data, *l3 = d + p->l3_ofs, *end;
    struct addr_w src, dst;
    int family;

    if (p->pflags & DP_PF_IPV4) {
        family = 4;
        end = l3 + ntohs(rd16(l3 + 2));
        src = addr_words(l3 + 12, 4);
        dst = addr_words(l3 + 16, 4);
    } else if (p->pflags & DP_PF_IPV6) {
        family = 6;
        end = l3 + 40 + ntohs(rd16(l3 + 4));
        src = addr_words(l3 + 8, 6);
        dst = addr_words(l3 + 24, 6);
    } else {
        return CT_UNTRACKED;
    }
    if (end > d + p->len) {
        end = d + p->len;
    }
    cp->family = (uint8_t)family;
    cp->wscale = 0xff;

    uint8_t proto = p->ip_proto;
    if (p->pflags & DP_PF_LATER) {
        return CT_UNTRACKED;
    }
    const uint8_t *l4 = p->l4_ofs != DP_OFS_NONE ? d + p->l4_ofs : NULL;
    if (proto == IPPROTO_TCP_ && l4) {
        cp->kind = K_TCP;
        cp->tcp_flags = l4[13];
        make_key(ct, cp, src, dst, rd16(l4), rd16(l4 + 2), proto, zone);
    } else if (proto == IPPROTO_UDP_ && l4) {
        cp->kind = K_UDP;
        make_key(ct, cp, src, dst, rd16(l4), rd16(l4 + 2), proto, zone);
    } else if ((proto == IPPROTO_ICMP_ || proto == IPPROTO_ICMPV6_) && l4) {
        uint8_t type = l4[0];
        int echo = icmp_echo_kind(family, type);
        if (echo) {
            uint16_t id = rd16(l4 + 4);
            cp->kind = K_ICMP | (echo == 2 ? K_NOCREATE : 0);
            make_key(ct, cp, src, dst, echo == 1 ? id : 0, echo == 1 ? 0 : id,
                     proto, zone);
        } else if (icmp_is_error(family, type)) {
            enum ct_verdict v =
                extract_related(ct, family == 4 ? l3 + 16 : l3 + 24, family,
                                l4 + 8, end, zone, cp);
            if (v != CT_NEW) {
                return v;
            }
        } else {
            return CT_UNTRACKED; /* ND, router advertisements, ... */
        }
    } else if (proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_ ||
               proto == IPPROTO_ICMP_ || proto == IPPROTO_ICMPV6_) {
        return CT_UNTRACKED; /* no L4 header parsed */
    } else {
        cp->kind = K_OTHER;
        make_key(ct, cp, src, dst, 0, 0, proto, zone);
    }
    return CT_NEW;
}

/* ---- Table mechanics. ---- */

static inline uint32_t
conn_index(const struct ct_table *ct, const struct ct_conn *c)
{
    return (uint32_t)(c - ct->conns);
}

static inline struct ct_conn *
find(const struct ct_table *ct, const struct ct_pkt *cp)
{
    uint64_t want = (uint64_t)cp->hash << 32;
    uint32_t i = cp->hash & ct->mask;

    for (;;) {
        uint64_t s = ct->slots[i];
        if (!s) {
            return NULL;
        }
        if ((s & 0xffffffff00000000ull) == want) {
            struct ct_conn *c = &ct->conns[(uint32_t)s - 1];
            if (key_eq(&c->key, &cp->key)) {
                return c;
            }
        }
        i = (i + 1) & ct->mask;
    }
}

static void
slot_insert(struct ct_table *ct, struct ct_conn *c)
{
    uint32_t i = c->hash & ct->mask;
    while (ct->slots[i]) {
        i = (i + 1) & ct->mask;
    }
    ct->slots[i] = (uint64_t)c->hash << 32 | (conn_index(ct, c) + 1);
}

/* Linear-probing deletion by backward shift: later members of the probe
 * chain move up so no lookup ever needs a tombstone. */
static void
slot_remove(struct ct_table *ct, struct ct_conn *c)
{
    uint64_t want = (uint64_t)c->hash << 32 | (conn_index(ct, c) + 1);
    uint32_t i = c->hash & ct->mask;

    while (ct->slots[i] != want) {
        i = (i + 1) & ct->mask;
    }
    for (;;) {
        uint32_t j = i;
        ct->slots[i] = 0;
        for (;;) {
            j = (j + 1) & ct->mask;
            if (!ct->slots[j]) {
                return;
            }
            uint32_t home = (uint32_t)(ct->slots[j] >> 32) & ct->mask;
            bool stays =
                i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) {
                break;
            }
        }
        ct->slots[i] = ct->slots[j];
        i = j;
    }
}

static void
list_append(struct ct_table *ct, struct ct_conn *c)
{
    uint32_t idx = conn_index(ct, c), tc = c->tclass;
    c->next = NIL;
    c->prev = ct->tail[tc];
    if (ct->tail[tc] != NIL) {
        ct->conns[ct->tail[tc]].next = idx;
    } else {
        ct->head[tc] = idx;
    }
    ct->tail[tc] = idx;
}

static void
list_remove(struct ct_table *ct, struct ct_conn *c)
{
    uint32_t tc = c->tclass;
    if (c->prev != NIL) {
        ct->conns[c->prev].next = c->next;
    } else {
        ct->head[tc] = c->next;
    }
    if (c->next != NIL) {
        ct->conns[c->next].prev = c->prev;
    } else {
        ct->tail[tc] = c->prev;
    }
}

/* 'c' as ct_ref.conn names it, without the direction. */
static uint32_t
conn_name(const struct ct_table *ct, const struct ct_conn *c)
{
    return (conn_index(ct, c) + 1) << 1;
}

/* The connection ct_ref.conn or ct_cache_ref.conn 'name' names. */
static struct ct_conn *
conn_named(const struct ct_table *ct, uint32_t name)
{
    return &ct->conns[(name >> 1) - 1];
}

/* Adds packets a flow cache entry carried in direction 'dir' to 'c' and
 * to its rule. */
static void
count_cached(struct ct_table *ct, struct ct_conn *c, int dir, uint64_t packets,
             uint64_t bytes)
{
    c->packets[dir] += packets;
    c->bytes[dir] += bytes;
    if (packets && ct->count_rule) {
        ct->count_rule(ct->count_arg, c->rule_id, packets, bytes);
    }
}

/* Has the cache forget the entry that stands in for 'c', if any, adding
 * the counts it held. */
static void
forget_entry(struct ct_table *ct, struct ct_conn *c)
{
    if (c->flags & F_CACHED) {
        uint64_t packets[2] = {0, 0}, bytes[2] = {0, 0};
        c->flags &= ~F_CACHED;
        ct->cache_ops->forget(ct->cache_arg, c->cache_tag, conn_name(ct, c),
                              packets, bytes);
        for (int dir = 0; dir < 2; dir++) {
            count_cached(ct, c, dir, packets[dir], bytes[dir]);
        }
    }
}

/* Has the cache forget every entry that stands in for a connection: no
 * entry may outlive its table, or its table's tie to the cache. */
static void
forget_all(struct ct_table *ct)
{
    for (uint32_t i = 0; ct->cache_ops && i < ct->n_used; i++) {
        forget_entry(ct, &ct->conns[i]);
    }
}

/* Whether the entry of tag 'tag' stands in for 'c'. */
static bool
is_entry_of(const struct ct_conn *c, uint64_t tag)
{
    return c->flags & F_CACHED && c->cache_tag == tag;
}

/* Moves the counts of entry 'r' to its connection 'c' (and its rule). */
static void
take_counts(struct ct_table *ct, struct ct_conn *c, struct ct_cache_ref *r)
{
    count_cached(ct, c, r->conn & CT_REF_REPLY, r->packets, r->bytes);
    r->packets = 0;
    r->bytes = 0;
}

/* Every reference to this use of 'c' must fail from now on: a batch's
 * struct ct_ref by the incarnation, the flow cache's entry by being
 * forgotten (the counts it held kept). */
static void
retire_refs(struct ct_table *ct, struct ct_conn *c)
{
    c->incarn++;
    forget_entry(ct, c);
}

static void
conn_free(struct ct_table *ct, struct ct_conn *c)
{
    slot_remove(ct, c);
    list_remove(ct, c);
    c->tclass = TC_FREE;
    retire_refs(ct, c);
    c->next = ct->free_head;
    ct->free_head = conn_index(ct, c);
    ct->stats.n_conns--;
}

void
ct_conn_delete(struct ct_table *ct, struct ct_conn *c)
{
    conn_free(ct, c);
    ct->stats.flushed++;
}

static enum ct_timeout
class_of(const struct ct_conn *c)
{
    switch (c->key.proto) {
    case IPPROTO_TCP_:
        return (enum ct_timeout)(CT_TO_TCP_SYN_SENT + c->state -
                                 CT_ST_SYN_SENT);
    case IPPROTO_UDP_:
        return c->state == CT_ST_REPLIED ? CT_TO_UDP_REPLIED : CT_TO_UDP_FIRST;
    case IPPROTO_ICMP_:
    case IPPROTO_ICMPV6_:
        return c->state == CT_ST_REPLIED ? CT_TO_ICMP_REPLIED
                                         : CT_TO_ICMP_FIRST;
    default:
        return c->state == CT_ST_REPLIED ? CT_TO_OTHER_REPLIED
                                         : CT_TO_OTHER_FIRST;
    }
}

/* Whether the established fast path may take the connection's packets:
 * only where a packet can change nothing but counters and expiry.  A
 * struct ct_ref is made only for a packet that took the fast path
 * (ct_ref_set()), and neither a binding nor a flow cache hit looks at the
 * flags, so losing what a reference relied on (F_FAST for the reply
 * direction, either bit for the opener's) retires every reference to the
 * connection. */
static inline void
set_fast(struct ct_table *ct, struct ct_conn *c)
{
    uint16_t old = c->flags;
    uint16_t f = old & ~(F_FAST | F_FAST0);

    if (c->key.proto == IPPROTO_TCP_) {
        if (c->state == CT_ST_ESTABLISHED && !(f & (F_FIN0 | F_FIN1)) &&
            !(f & F_STRICT)) {
            f |= F_FAST; /* and no SYN, FIN or RST in the segment */
        }
    } else if (c->state == CT_ST_REPLIED) {
        f |= F_FAST;
    } else if (c->state == CT_ST_FIRST) {
        f |= F_FAST0; /* a first reply changes the state */
    }
    c->flags = f;
    if ((old & F_FAST && !(f & F_FAST)) ||
        (old & F_FAST0 && !(f & (F_FAST | F_FAST0)))) {
        retire_refs(ct, c);
    }
}

/* After a packet: new expiry, and the list position if the state's class
 * changed or the expiry ran ahead of the position. */
static inline void
refresh(struct ct_table *ct, struct ct_conn *c, uint64_t now,
        bool state_changed)
{
    uint8_t tc = c->tclass;

    if (state_changed) {
        tc = (uint8_t)class_of(c);
        set_fast(ct, c);
    }
    uint64_t pos = now + ct->timeout[tc]; /* this packet's expiry */
    uint64_t exp = pos;

    /* A sync covered the packets the entry carries until the next one
     * (ct_cache_sync()): while the entry stays, the expiry only grows.
     * Only this path keeps a connection alive without a sync, so it also
     * retires an entry silent for too long (before its 32-bit sync_at
     * wraps), and one whose connection moved to a class with a shorter
     * timeout (the sync's expiry would outlast it). */
    if (unlikely(c->flags & F_CACHED)) {
        if (now - c->cache_synced >= CT_CACHE_MAX_UNSYNCED_MS ||
            ct->timeout[tc] < ct->timeout[c->tclass]) {
            retire_refs(ct, c);
        } else {
            exp = MAX(exp, c->expires);
        }
    }

    /* The list position is this packet's expiry either way, so the lists
     * stay sorted; the sweep requeues a connection whose expiry is later. */
    c->expires = exp;
    if (tc != c->tclass || pos >= c->requeue_at) {
        list_remove(ct, c);
        c->tclass = tc;
        c->requeue_at = pos + ct->gran[tc];
        list_append(ct, c);
    }
}

void
ct_set_strict(struct ct_table *ct, bool strict)
{
    ct->cfg.strict = strict;
}

size_t
ct_expire(struct ct_table *ct, uint64_t now, size_t budget)
{
    size_t freed = 0;
    for (int tc = 0; tc < CT_N_TIMEOUTS && budget; tc++) {
        while (budget && ct->head[tc] != NIL) {
            struct ct_conn *c = &ct->conns[ct->head[tc]];
            if (c->requeue_at - ct->gran[tc] > now) { /* list position */
                break;
            }
            budget--;
            if (c->expires <= now) {
                conn_free(ct, c);
                ct->stats.expired++;
                freed++;
            } else { /* refreshed since it was queued: requeue */
                list_remove(ct, c);
                c->requeue_at = c->expires + ct->gran[tc];
                list_append(ct, c);
            }
        }
    }
    return freed;
}

static struct ct_conn *
conn_alloc(struct ct_table *ct, uint64_t now)
{
    uint32_t idx;
    if (ct->free_head == NIL && ct->n_used == ct->cfg.max_entries) {
        ct_expire(ct, now, 64);
    }
    if (ct->free_head != NIL) {
        idx = ct->free_head;
        ct->free_head = ct->conns[idx].next;
    } else if (ct->n_used < ct->cfg.max_entries) {
        idx = ct->n_used++;
    } else {
        return NULL;
    }
    return &ct->conns[idx];
}

/* ---- TCP. ---- */

enum tcp_result { TR_OK, TR_INVALID, TR_REOPEN };

static inline bool
seq_before(uint32_t a, uint32_t b) /* a < b in sequence space */
{
    return (int32_t)(a - b) < 0;
}

static inline bool
seq_after(uint32_t a, uint32_t b)
{
    return (int32_t)(b - a) < 0;
}

/* Rooij's bounds, in the form Linux uses.  'check' false only records. */
static bool
tcp_window(struct ct_conn *c, const struct ct_pkt *cp, int dir, bool check)
{
    struct ct_tcp_dir *s = &c->tcp[dir], *r = &c->tcp[!dir];
    uint8_t fl = cp->tcp_flags;
    uint32_t seq = cp->seq, ack = cp->ack, end = seq + cp->seg_len;
    uint32_t win = cp->win;

    if (!s->maxwin) { /* first segment from this side */
        if (!(fl & TCP_SYN)) {
            return !check;
        }
        s->end = s->maxend = end;
        s->maxwin = win ? win : 1;
        if (cp->wscale != 0xff) {
            c->flags |= dir ? F_WS1 : F_WS0;
            c->wscale = (uint8_t)(dir ? (c->wscale & 0x0f) | cp->wscale << 4
                                      : (c->wscale & 0xf0) | cp->wscale);
        }
    }
    if (!(fl & TCP_ACK) || ((fl & TCP_RST) && !ack)) {
        ack = r->end;
    }
    uint32_t maxack = MAX(s->maxwin, 66000u);
    bool ok = seq_before(seq, s->maxend + 1) &&
              (!r->maxwin || seq_after(end, s->end - r->maxwin - 1)) &&
              (!r->maxwin || (seq_before(ack, r->end + 1) &&
                              seq_after(ack, r->end - maxack - 1)));
    if (check && !ok) {
        return false;
    }
    if (!(fl & TCP_SYN) && (c->flags & (F_WS0 | F_WS1)) == (F_WS0 | F_WS1)) {
        win <<= dir ? c->wscale >> 4 : c->wscale & 0x0f;
    }
    if (s->maxwin < win) {
        s->maxwin = win;
    }
    if (seq_after(end, s->end)) {
        s->end = end;
    }
    if (r->maxwin && seq_after(end, s->maxend)) {
        r->maxwin += end - s->maxend;
    }
    if (fl & TCP_ACK && seq_after(ack + win, r->maxend - 1)) {
        r->maxend = ack + win + !win;
    }
    return true;
}

static enum tcp_result
tcp_state(struct ct_conn *c, const struct ct_pkt *cp, int dir, bool strict)
{
    uint8_t fl = cp->tcp_flags;

    if (fl & TCP_RST) {
        c->state = CT_ST_CLOSED;
        return TR_OK;
    }
    switch (c->state) {
    case CT_ST_SYN_SENT:
        if (dir == 0) {
            return (fl & (TCP_SYN | TCP_ACK)) == TCP_SYN ? TR_OK : TR_INVALID;
        }
        if (!(fl & TCP_SYN)) {
            return TR_INVALID;
        }
        if (fl & TCP_ACK && cp->ack != c->tcp[0].end && strict) {
            return TR_INVALID;
        }
        c->state = CT_ST_SYN_RECV; /* SYN+ACK, or a simultaneous open */
        return TR_OK;
    case CT_ST_SYN_RECV:
        if (fl & TCP_SYN || dir == 1 || !(fl & TCP_ACK)) {
            return TR_OK; /* retransmissions; responder's early data */
        }
        c->state = CT_ST_ESTABLISHED;
        break;
    case CT_ST_CLOSED:
        return TR_INVALID; /* after a reset only a new SYN is welcome */
    default:
        if (fl & TCP_SYN) { /* a retransmitted SYN+ACK is fine */
            return (dir == 1 && fl & TCP_ACK) || !strict ? TR_OK : TR_INVALID;
        }
        break;
    }

    /* ESTABLISHED and the closing states: follow the FINs. */
    uint16_t fin = dir ? F_FIN1 : F_FIN0, ofin = dir ? F_FIN0 : F_FIN1;
    uint16_t ofinack = dir ? F_FINACK0 : F_FINACK1;
    if (fl & TCP_FIN && !(c->flags & fin)) {
        c->flags |= fin;
        c->tcp[dir].fin_end = cp->seq + cp->seg_len;
    }
    if (fl & TCP_ACK && c->flags & ofin &&
        !seq_before(cp->ack, c->tcp[!dir].fin_end)) {
        c->flags |= ofinack;
    }
    int n_fin = !!(c->flags & F_FIN0) + !!(c->flags & F_FIN1);
    if (!n_fin) {
        c->state = CT_ST_ESTABLISHED;
    } else if (n_fin == 1) {
        bool acked = c->flags & (c->flags & F_FIN0 ? F_FINACK0 : F_FINACK1);
        c->state = acked ? CT_ST_CLOSE_WAIT : CT_ST_FIN_WAIT;
    } else {
        bool both =
            (c->flags & (F_FINACK0 | F_FINACK1)) == (F_FINACK0 | F_FINACK1);
        c->state = both ? CT_ST_TIME_WAIT : CT_ST_LAST_ACK;
    }
    return TR_OK;
}

static enum tcp_result
tcp_track(struct ct_conn *c, const struct ct_pkt *cp, int dir)
{
    uint8_t fl = cp->tcp_flags;
    bool check = c->flags & F_STRICT;

    if (!cp->tcp_ready) {
        tcp_fields((struct ct_pkt *)cp); /* the caller's, not const */
    }

    if ((fl & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
        (c->state == CT_ST_TIME_WAIT || c->state == CT_ST_CLOSED)) {
        return TR_REOPEN; /* port reuse: a new connection */
    }
    if (c->state == CT_ST_SYN_SENT && dir == 1 && fl & TCP_RST) {
        /* Connection refused: the RST must acknowledge the SYN. */
        if (check && (!(fl & TCP_ACK) || cp->ack != c->tcp[0].end)) {
            return TR_INVALID;
        }
        c->state = CT_ST_CLOSED;
        return TR_OK;
    }
    if (check && !tcp_window(c, cp, dir, true)) {
        return TR_INVALID;
    }
    return tcp_state(c, cp, dir, check);
}

/* May this untracked packet open a connection? */
static bool
can_open(const struct ct_table *ct, const struct ct_pkt *cp)
{
    if (cp->kind & K_NOCREATE) {
        return false;
    }
    if ((cp->kind & K_CLASS) == K_TCP) {
        uint8_t fl = cp->tcp_flags;
        if (fl & (TCP_RST | TCP_FIN)) {
            return false;
        }
        if (fl & TCP_SYN) {
            return !(fl & TCP_ACK);
        }
        return !ct->cfg.strict && fl & TCP_ACK; /* mid-stream pickup */
    }
    return true;
}

/* The common tail of ct_process(): 'c' is the lookup result. */
static enum ct_verdict
process_found(struct ct_table *ct, const struct ct_pkt *cp, struct ct_conn *c,
              uint64_t now, struct ct_conn **conn)
{
    *conn = NULL;
    ct->stats.lookups++;
    if (c && c->expires <= now) {
        conn_free(ct, c);
        ct->stats.expired++;
        c = NULL;
    }
    if (cp->kind & K_RELATED) {
        if (!c) {
            ct->stats.invalid++;
            return CT_INVALID;
        }
        ct->stats.hits++;
        ct->stats.related++;
        *conn = c;
        return CT_RELATED;
    }
    if (c) {
        int dir = cp->swapped != !!(c->flags & F_ORIG_SWAPPED);
        uint8_t state = c->state;
        ct->stats.hits++;
        if (ct->cfg.check_dir &&
            (dir == 0) != (cp->dir_out == !!(c->flags & F_DIR_OUT))) {
            ct->stats.invalid++; /* the opener's side from the wrong way */
            *conn = c;
            return CT_INVALID;
        }
        if ((cp->kind & K_CLASS) == K_TCP) {
            /* Fast path: an established connection with no FIN yet, a
             * segment without SYN, FIN or RST, and no window checks:
             * nothing in the TCP state can change. */
            if (likely(state == CT_ST_ESTABLISHED &&
                       !(cp->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) &&
                       !(c->flags & (F_FIN0 | F_FIN1)) &&
                       !(c->flags & F_STRICT))) {
                goto count;
            }
            enum tcp_result r = tcp_track(c, cp, dir);
            if (r == TR_INVALID) {
                ct->stats.invalid++;
                *conn = c;
                return CT_INVALID;
            }
            if (r == TR_REOPEN) {
                conn_free(ct, c);
                return CT_NEW;
            }
        } else if (dir == 1 && state == CT_ST_FIRST) {
            c->state = CT_ST_REPLIED;
        }
    count:
        c->packets[dir]++;
        c->bytes[dir] += cp->bytes;
        refresh(ct, c, now, c->state != state);
        *conn = c;
        return CT_ESTABLISHED;
    }
    if (!can_open(ct, cp)) {
        ct->stats.invalid++;
        return CT_INVALID;
    }
    return CT_NEW;
}

enum ct_verdict
ct_process(struct ct_table *ct, const struct dp_packet *p, uint32_t zone,
           bool dir_out, uint64_t now, struct ct_pkt *cp, struct ct_conn **conn)
{
    enum ct_verdict v = extract(ct, p, zone, dir_out, cp);
    if (v != CT_NEW) {
        *conn = NULL;
        if (v == CT_UNTRACKED) {
            ct->stats.untracked++;
        } else {
            ct->stats.invalid++;
        }
        return v;
    }
    return process_found(ct, cp, find(ct, cp), now, conn);
}

/* ct_prepare_batch() with per-packet zones and directions, or with
 * 'zone1' and 'dir1' for all when 'zones' is NULL (the uniform case is
 * compiled apart). */
static inline void
prepare_batch(struct ct_table *ct, struct dp_packet **pkts,
              const uint32_t *zones, uint32_t zone1, const uint8_t *dir_out,
              bool dir1, int n, struct ct_pkt *cps, enum ct_verdict *pre)
{
    /* Stage 1: extract and hash; prefetch the home slots. */
    for (int i = 0; i < n; i++) {
        pre[i] = extract(ct, pkts[i], zones ? zones[i] : zone1,
                         zones ? dir_out[i] : dir1, &cps[i]);
        if (pre[i] == CT_NEW) {
            __builtin_prefetch(&ct->slots[cps[i].hash & ct->mask]);
        }
    }
    /* Stage 2: prefetch the entry of the first slot with a matching hash
     * and remember it as the likely match. */
    for (int i = 0; i < n; i++) {
        cps[i].cand = 0;
        if (pre[i] != CT_NEW) {
            continue;
        }
        uint64_t want = (uint64_t)cps[i].hash << 32;
        uint32_t j = cps[i].hash & ct->mask;
        for (int k = 0; k < 4 && ct->slots[j]; k++) {
            if ((ct->slots[j] & 0xffffffff00000000ull) == want) {
                uint32_t idx = (uint32_t)ct->slots[j];
                const char *e = (const char *)&ct->conns[idx - 1];
                __builtin_prefetch(e); /* checks and counters */
                __builtin_prefetch(e + offsetof(struct ct_conn, key));
                cps[i].cand = idx;
                break;
            }
            j = (j + 1) & ct->mask;
        }
    }
}

void
ct_prepare_batch(struct ct_table *ct, struct dp_packet **pkts,
                 const uint32_t *zones, const uint8_t *dir_out, int n,
                 struct ct_pkt *cps, enum ct_verdict *pre)
{
    prepare_batch(ct, pkts, zones, 0, dir_out, false, n, cps, pre);
}

void
ct_prepare_batch1(struct ct_table *ct, struct dp_packet **pkts, uint32_t zone,
                  bool dir_out, int n, struct ct_pkt *cps, enum ct_verdict *pre)
{
    prepare_batch(ct, pkts, NULL, zone, NULL, dir_out, n, cps, pre);
}

enum ct_verdict
ct_process_prepared(struct ct_table *ct, const struct ct_pkt *cp,
                    enum ct_verdict pre, uint64_t now, struct ct_conn **conn)
{
    if (pre != CT_NEW) {
        *conn = NULL;
        if (pre == CT_UNTRACKED) {
            ct->stats.untracked++;
        } else {
            ct->stats.invalid++;
        }
        return pre;
    }
    return process_found(ct, cp, find(ct, cp), now, conn);
}

int
ct_process_fast(struct ct_table *ct, const struct ct_pkt *cps,
                const enum ct_verdict *pre, const uint32_t *want_gen, int i,
                int n, uint64_t now, struct ct_conn **conns)
{
    int first = i;

    for (; i < n; i++) {
        const struct ct_pkt *cp = &cps[i];
        if (pre[i] != CT_NEW || cp->kind & K_RELATED) {
            break;
        }
        /* The candidate from ct_prepare_batch(), if the table has not
         * changed under it since; else a full lookup. */
        struct ct_conn *c = cp->cand ? &ct->conns[cp->cand - 1] : NULL;
        if (unlikely(!c || c->tclass == TC_FREE ||
                     !key_eq(&c->key, &cp->key))) {
            c = find(ct, cp);
        }
        if (!c || c->expires <= now || c->gen != want_gen[i]) {
            break;
        }
        uint16_t fl = c->flags;
        int dir = cp->swapped != !!(fl & F_ORIG_SWAPPED);
        if (ct->cfg.check_dir && cp->sd != !!(fl & F_SD)) {
            break; /* the opener's side from the wrong way: slow path */
        }
        if (!(fl & (dir ? F_FAST : F_FAST | F_FAST0)) ||
            cp->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
            break;
        }
        c->packets[dir]++;
        c->bytes[dir] += cp->bytes;
        refresh(ct, c, now, false);
        conns[i] = c;
    }
    ct->stats.lookups += (uint64_t)(i - first);
    ct->stats.hits += (uint64_t)(i - first);
    return i;
}

void
ct_ref_set(const struct ct_table *ct, const struct ct_conn *c,
           const struct ct_pkt *cp, struct ct_ref *ref)
{
    bool reply = cp->swapped != !!(c->flags & F_ORIG_SWAPPED);

    /* The direction check of ct_process_fast() (F_SD) is not repeated for
     * a flow cache hit: the connection's F_SD never changes and every
     * packet with this key and direction has the same 'sd' as 'cp', which
     * passed it. */
    ref->conn = conn_name(ct, c) | (reply ? CT_REF_REPLY : 0);
    ref->incarn = c->incarn;
}

void
ct_set_cache(struct ct_table *ct, const struct ct_cache_ops *ops, void *arg)
{
    forget_all(ct);
    ct->cache_ops = ops;
    ct->cache_arg = arg;
}

void
ct_set_rule_counter(struct ct_table *ct, ct_rule_count_fn *fn, void *arg)
{
    ct->count_rule = fn;
    ct->count_arg = arg;
}

bool
ct_cache_bind(struct ct_table *ct, const struct ct_ref *ref, uint64_t tag,
              uint64_t now)
{
    struct ct_conn *c = conn_named(ct, ref->conn);

    if (!ct->cache_ops || c->incarn != ref->incarn || c->tclass == TC_FREE) {
        return false;
    }
    forget_entry(ct, c); /* its earlier entry: at most one */
    c->cache_tag = tag;
    c->flags |= F_CACHED;
    c->cache_synced = now;
    return true;
}

void
ct_cache_unbind(struct ct_table *ct, struct ct_cache_ref *r, uint64_t tag)
{
    struct ct_conn *c = conn_named(ct, r->conn);

    if (is_entry_of(c, tag)) {
        take_counts(ct, c, r);
        c->flags &= ~F_CACHED;
    }
}

void
ct_cache_collect(struct ct_table *ct, struct ct_cache_ref *r, uint64_t tag)
{
    if (r->conn && r->packets) {
        struct ct_conn *c = conn_named(ct, r->conn);
        if (is_entry_of(c, tag)) {
            take_counts(ct, c, r);
        }
    }
}

bool
ct_cache_sync(struct ct_table *ct, struct ct_cache_ref *r, uint64_t tag,
              uint64_t now)
{
    if (!r->conn) {
        return false; /* forgotten (CT_CACHE_NO_CONN) */
    }
    struct ct_conn *c = conn_named(ct, r->conn);
    if (!is_entry_of(c, tag) || c->expires <= now) {
        return false; /* the full way finds it expired (or frees it) */
    }
    uint8_t tc = c->tclass;
    take_counts(ct, c, r);
    /* Until the next sync the entry's packets do not reach the
     * connection: its expiry covers them too.  Its list position stays
     * now + timeout, as a refresh would put it (lists stay sorted); the
     * sweep there finds it not due and requeues it. */
    c->expires = now + ct->timeout[tc] + ct->gran[tc];
    c->cache_synced = now;
    if (c->expires >= c->requeue_at) {
        list_remove(ct, c);
        c->requeue_at = c->expires; /* position + gran */
        list_append(ct, c);
    }
    r->sync_at = (uint32_t)(now + ct->gran[tc]);
    return true;
}

void
ct_cached_begin(struct ct_table *ct, uint64_t now, struct ct_cached *cc)
{
    cc->ct = ct;
    cc->now = now;
    cc->now32 = (uint32_t)now;
}

void
ct_cached_end(struct ct_cached *cc, int n_passed)
{
    cc->ct->stats.lookups += (uint64_t)n_passed;
    cc->ct->stats.hits += (uint64_t)n_passed;
}

void
ct_process_batch(struct ct_table *ct, struct dp_packet **pkts,
                 const uint32_t *zones, const uint8_t *dir_out, int n,
                 uint64_t now, struct ct_pkt *cps, enum ct_verdict *verdicts,
                 struct ct_conn **conns)
{
    ct_prepare_batch(ct, pkts, zones, dir_out, n, cps, verdicts);
    /* Stage 3: in order, as ct_process() would. */
    for (int i = 0; i < n; i++) {
        verdicts[i] =
            ct_process_prepared(ct, &cps[i], verdicts[i], now, &conns[i]);
    }
}

struct ct_conn *
ct_commit(struct ct_table *ct, const struct ct_pkt *cp, uint64_t now,
          uint32_t rule_id, uint32_t gen)
{
    struct ct_conn *c = find(ct, cp);

    if (c) {
        if (c->expires > now) {
            return c;
        }
        conn_free(ct, c);
        ct->stats.expired++;
    }
    if (cp->kind & K_RELATED || !can_open(ct, cp)) {
        return NULL;
    }
    c = conn_alloc(ct, now);
    if (!c) {
        ct->stats.full++;
        return NULL;
    }
    uint32_t incarn = c->incarn;
    memset(c, 0, sizeof *c);
    c->incarn = incarn;
    c->key = cp->key;
    c->hash = cp->hash;
    c->rule_id = rule_id;
    c->gen = gen;
    c->flags = (uint16_t)((cp->swapped ? F_ORIG_SWAPPED : 0) |
                          (cp->dir_out ? F_DIR_OUT : 0) | (cp->sd ? F_SD : 0) |
                          (cp->family == 6 ? F_V6 : 0));
    c->packets[0] = 1;
    c->bytes[0] = cp->bytes;
    if ((cp->kind & K_CLASS) == K_TCP) {
        if (cp->tcp_flags & TCP_SYN) {
            if (!cp->tcp_ready) {
                tcp_fields((struct ct_pkt *)cp);
            }
            c->state = CT_ST_SYN_SENT;
            c->flags |= ct->cfg.strict ? F_STRICT : 0;
            tcp_window(c, cp, 0, false);
        } else {
            c->state = CT_ST_ESTABLISHED;
            c->flags |= F_LIBERAL;
        }
    } else {
        c->state = CT_ST_FIRST;
    }
    c->tclass = (uint8_t)class_of(c);
    set_fast(ct, c);
    c->expires = now + ct->timeout[c->tclass];
    c->requeue_at = c->expires + ct->gran[c->tclass];
    list_append(ct, c);
    slot_insert(ct, c);
    ct->stats.n_conns++;
    ct->stats.inserts++;
    return c;
}

/* ---- Accessors, display, flushing. ---- */

void
ct_conn_set_rule(struct ct_table *ct, struct ct_conn *c, uint32_t rule_id,
                 uint32_t gen)
{
    /* First: references stand for the old rule, and the entry's counts
     * go to it (count_cached()) before the rule changes. */
    retire_refs(ct, c);
    c->rule_id = rule_id;
    c->gen = gen;
}

void
ct_conn_get_info(const struct ct_table *ct, const struct ct_conn *c,
                 uint64_t now, struct ct_conn_info *info)
{
    bool sw = c->flags & F_ORIG_SWAPPED;
    const uint64_t *s = sw ? c->key.b : c->key.a;
    const uint64_t *d = sw ? c->key.a : c->key.b;
    uint8_t sb[16], db[16];

    memset(info, 0, sizeof *info);
    memcpy(sb, s, 16);
    memcpy(db, d, 16);
    info->zone = c->key.zone;
    info->family = c->flags & F_V6 ? 6 : 4;
    info->proto = (uint8_t)c->key.proto;
    info->dir_out = !!(c->flags & F_DIR_OUT);
    if (info->family == 4) {
        memcpy(info->src, sb + 12, 4);
        memcpy(info->dst, db + 12, 4);
    } else {
        memcpy(info->src, sb, 16);
        memcpy(info->dst, db, 16);
    }
    info->sport = ntohs(sw ? c->key.pb : c->key.pa);
    info->dport = ntohs(sw ? c->key.pa : c->key.pb);
    info->state = (enum ct_state)c->state;
    info->expires_in_ms = c->expires > now ? c->expires - now : 0;
    memcpy(info->packets, c->packets, sizeof info->packets);
    memcpy(info->bytes, c->bytes, sizeof info->bytes);
    if (c->flags & F_CACHED) { /* and what its entry has not synced */
        ct->cache_ops->peek(ct->cache_arg, c->cache_tag, conn_name(ct, c),
                            info->packets, info->bytes);
    }
    info->rule_id = c->rule_id;
    info->gen = c->gen;
    if (c->key.proto == IPPROTO_TCP_) {
        info->tcp_checks = c->flags & F_STRICT    ? CT_TCP_STRICT
                           : c->flags & F_LIBERAL ? CT_TCP_PICKUP
                                                  : CT_TCP_LOOSE;
    }
}

int
ct_conn_format(const struct ct_conn_info *in, char *buf, size_t size)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], proto[16];
    int af = in->family == 4 ? AF_INET : AF_INET6;

    inet_ntop(af, in->src, s, sizeof s);
    inet_ntop(af, in->dst, d, sizeof d);
    switch (in->proto) {
    case IPPROTO_TCP_:
        snprintf(proto, sizeof proto, "tcp");
        break;
    case IPPROTO_UDP_:
        snprintf(proto, sizeof proto, "udp");
        break;
    case IPPROTO_ICMP_:
        snprintf(proto, sizeof proto, "icmp");
        break;
    case IPPROTO_ICMPV6_:
        snprintf(proto, sizeof proto, "icmpv6");
        break;
    default:
        snprintf(proto, sizeof proto, "proto%u", in->proto);
    }
    static const char *const checks[] = {"", " tcp=loose", " tcp=strict",
                                         " tcp=pickup"};
    const char *fmt6 =
        "zone=%u %s %s%s%s%s%u -> %s%s%s%s%u %s dir=%s "
        "rule=%u pkts=%llu/%llu bytes=%llu/%llu expires=%llums%s%s";
    bool v6 = in->family == 6;
    return snprintf(
        buf, size, fmt6, in->zone, proto, v6 ? "[" : "", s, v6 ? "]" : "", ":",
        in->sport, v6 ? "[" : "", d, v6 ? "]" : "", ":", in->dport,
        ct_state_name(in->state), in->dir_out ? "out" : "in", in->rule_id,
        (unsigned long long)in->packets[0], (unsigned long long)in->packets[1],
        (unsigned long long)in->bytes[0], (unsigned long long)in->bytes[1],
        (unsigned long long)in->expires_in_ms,
        checks[in->tcp_checks < 4 ? in->tcp_checks : 0],
        in->gen == CT_GEN_DENIED ? " denied" : "");
}

void
ct_iterate(const struct ct_table *ct, uint64_t now,
           bool (*cb)(const struct ct_conn_info *, void *), void *arg)
{
    for (uint32_t i = 0; i < ct->n_used; i++) {
        const struct ct_conn *c = &ct->conns[i];
        if (c->tclass != TC_FREE) {
            struct ct_conn_info info;
            ct_conn_get_info(ct, c, now, &info);
            if (!cb(&info, arg)) {
                return;
            }
        }
    }
}

size_t
ct_flush(struct ct_table *ct, bool (*pred)(const struct ct_conn_info *, void *),
         void *arg)
{
    size_t n = 0;
    for (uint32_t i = 0; i < ct->n_used; i++) {
        struct ct_conn *c = &ct->conns[i];
        if (c->tclass != TC_FREE) {
            struct ct_conn_info info;
            ct_conn_get_info(ct, c, 0, &info);
            if (pred(&info, arg)) {
                ct_conn_delete(ct, c);
                n++;
            }
        }
    }
    return n;
}

static bool
match_rule(const struct ct_conn_info *info, void *arg)
{
    return info->rule_id == *(const uint32_t *)arg;
}

static bool
match_zone(const struct ct_conn_info *info, void *arg)
{
    return info->zone == *(const uint32_t *)arg;
}

size_t
ct_flush_rule(struct ct_table *ct, uint32_t rule_id)
{
    return ct_flush(ct, match_rule, &rule_id);
}

size_t
ct_flush_zone(struct ct_table *ct, uint32_t zone)
{
    return ct_flush(ct, match_zone, &zone);
}

uint32_t
ct_dump_chunk(const struct ct_table *ct, uint64_t now, uint32_t cursor,
              uint32_t max_scan, struct ct_conn_info *out, size_t max_out,
              size_t *n_out)
{
    uint32_t i = cursor;

    *n_out = 0;
    for (; i < ct->n_used && max_scan && *n_out < max_out; i++, max_scan--) {
        const struct ct_conn *c = &ct->conns[i];
        if (c->tclass != TC_FREE && c->expires > now) {
            ct_conn_get_info(ct, c, now, &out[(*n_out)++]);
        }
    }
    return i < ct->n_used ? i : UINT32_MAX;
}

uint32_t
ct_flush_zone_chunk(struct ct_table *ct, uint32_t zone, uint32_t cursor,
                    uint32_t max_scan, size_t *n_flushed)
{
    uint32_t i = cursor;

    for (; i < ct->n_used && max_scan; i++, max_scan--) {
        struct ct_conn *c = &ct->conns[i];
        if (c->tclass != TC_FREE && c->key.zone == zone) {
            ct_conn_delete(ct, c);
            (*n_flushed)++;
        }
    }
    return i < ct->n_used ? i : UINT32_MAX;
}

void
ct_get_stats(const struct ct_table *ct, struct ct_stats *s)
{
    *s = ct->stats;
}

size_t
ct_bytes_per_entry_nominal(const struct ct_table *ct)
{
    return sizeof(struct ct_conn) +
           ((size_t)ct->mask + 1) * 8 / ct->cfg.max_entries;
}
