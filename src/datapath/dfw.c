/* The distributed firewall stage (dfw.h): vNIC and deployment objects,
 * SpoofGuard, the per-packet check over conntrack and the classifier,
 * per-rule counters, connection logging and reject answers. */
#include "datapath/dfw.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/csum.h"
#include "datapath/icmp-error.h"
#include "datapath/parse.h"
#include "lib/log.h"
#include "lib/util.h"

/* ---- vNIC firewall objects. ---- */

static int
cmp_u32(const void *a_, const void *b_)
{
    uint32_t a = ntohl(*(const uint32_t *)a_), b = ntohl(*(const uint32_t *)b_);
    return (a > b) - (a < b);
}

static int
cmp_in6(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static bool
is_v4_mapped(const uint8_t ip[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(ip, prefix, 12);
}

struct dfw_vnic *
dfw_vnic_create(const struct dfw_vnic_config *cfg)
{
    struct dfw_vnic *v = xcalloc(1, sizeof *v);

    atomic_init(&v->refcount, 1);
    v->cls = cfg->cls;
    v->rules_version = cfg->rules_version;
    v->spoofguard = cfg->spoofguard;
    v->has_stateless =
        cfg->cls && (cls_flags_union(cfg->cls) & CLS_F_STATELESS);
    v->mac = cfg->mac;
    v->ip4 = xcalloc(cfg->n_ips + 1, sizeof *v->ip4);
    v->ip6 = xcalloc(cfg->n_ips + 1, sizeof *v->ip6);
    for (size_t i = 0; i < cfg->n_ips; i++) {
        if (is_v4_mapped(cfg->ips[i])) {
            memcpy(&v->ip4[v->n_ip4++], cfg->ips[i] + 12, 4);
        } else {
            memcpy(v->ip6[v->n_ip6++].b, cfg->ips[i], 16);
        }
    }
    qsort(v->ip4, v->n_ip4, sizeof *v->ip4, cmp_u32);
    qsort(v->ip6, v->n_ip6, sizeof *v->ip6, cmp_in6);
    return v;
}

struct dfw_vnic *
dfw_vnic_ref(const struct dfw_vnic *v_)
{
    struct dfw_vnic *v = (struct dfw_vnic *)v_;
    if (v) {
        atomic_fetch_add_explicit(&v->refcount, 1, memory_order_relaxed);
    }
    return v;
}

void
dfw_vnic_unref(const struct dfw_vnic *v_)
{
    struct dfw_vnic *v = (struct dfw_vnic *)v_;
    if (v &&
        atomic_fetch_sub_explicit(&v->refcount, 1, memory_order_acq_rel) == 1) {
        if (v->cls_owner) {
            dfw_vnic_unref(v->cls_owner);
        } else {
            cls_free(v->cls);
        }
        free(v->ip4);
        free(v->ip6);
        free(v);
    }
}

struct dfw_vnic *
dfw_vnic_renew(const struct dfw_vnic *v, uint32_t rules_version)
{
    struct dfw_vnic *n = xmalloc(sizeof *n);

    *n = *v;
    atomic_init(&n->refcount, 1);
    n->rules_version = rules_version;
    n->ip4 = xcalloc(v->n_ip4 + 1, sizeof *n->ip4);
    n->ip6 = xcalloc(v->n_ip6 + 1, sizeof *n->ip6);
    memcpy(n->ip4, v->ip4, v->n_ip4 * sizeof *n->ip4);
    memcpy(n->ip6, v->ip6, v->n_ip6 * sizeof *n->ip6);
    n->cls_owner = dfw_vnic_ref(v->cls_owner ? v->cls_owner : v);
    return n;
}

/* ---- Deployment-wide objects. ---- */

struct dfw_sets *
dfw_sets_create(const struct dfw_sets_config *cfg)
{
    struct dfw_sets *s = xcalloc(1, sizeof *s);

    atomic_init(&s->refcount, 1);
    s->tcp_mode = cfg->tcp_mode <= DFW_TCP_STRICT ? cfg->tcp_mode : 0;
    if (cfg->asx) {
        s->asx = cfg->asx;
    } else {
        struct as_db *db = as_db_create();
        s->asx = as_index_build(db);
        as_db_destroy(db);
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        uint32_t id = cfg->rules[i].id;
        if (id <= DFW_MAX_RULE_ID && id >= s->n_names) {
            s->n_names = id + 1;
        }
    }
    s->names = xcalloc(s->n_names + 1, sizeof *s->names);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct dfw_rule_info *r = &cfg->rules[i];
        if (r->id <= DFW_MAX_RULE_ID && r->name) {
            free(s->names[r->id]);
            s->names[r->id] = xstrdup(r->name);
        }
    }
    return s;
}

struct dfw_sets *
dfw_sets_ref(const struct dfw_sets *s_)
{
    struct dfw_sets *s = (struct dfw_sets *)s_;
    if (s) {
        atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed);
    }
    return s;
}

void
dfw_sets_unref(const struct dfw_sets *s_)
{
    struct dfw_sets *s = (struct dfw_sets *)s_;
    if (s &&
        atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) == 1) {
        as_index_free(s->asx);
        for (uint32_t i = 0; i < s->n_names; i++) {
            free(s->names[i]);
        }
        free(s->names);
        free(s);
    }
}

const char *
dfw_sets_rule_name(const struct dfw_sets *s, uint32_t id)
{
    return s && id < s->n_names ? s->names[id] : NULL;
}

/* ---- Per packet thread. ---- */

#define CHUNK_BITS 10 /* rules per counter chunk: 1024 */
#define N_CHUNKS   ((DFW_MAX_RULE_ID >> CHUNK_BITS) + 1)

/* One rule's counters.  Only the packet thread writes them (relaxed
 * load + store: no locked instruction); other threads read them whole. */
struct rule_ctr {
    _Atomic uint64_t packets, bytes, sessions;
};

struct dfw_thread {
    struct dfw_options opts;
    struct ct_table *ct;                  /* created on first use */
    bool ct_failed;                       /* ct_create() failed: fail closed */
    const struct ct_cache_ops *cache_ops; /* the flow cache, for 'ct' */
    void *cache_arg;
    struct as_index *empty_asx;  /* for checks without dfw_sets */
    struct dfw_stats stats;      /* written by the packet thread only */
    uint64_t rej_tokens;         /* reject bucket, in 1/1000 tokens */
    uint64_t rej_last_ms;        /* last refill */
    struct log_ratelimit log_rl; /* connection log lines */
    bool strict;                 /* TCP mode the table has now */
    /* Per-rule counters in chunks of 1 << CHUNK_BITS rules, allocated by
     * the packet thread when first needed and published with a release
     * store, so any thread can read them without a lock. */
    _Atomic(struct rule_ctr *) chunks[N_CHUNKS];
};

void
dfw_options_default(struct dfw_options *o)
{
    memset(o, 0, sizeof *o);
    ct_config_default(&o->ct);
    o->reject_rate = 1000;
    o->reject_burst = 200;
    o->log_rate = 100;
    o->log_burst = 500;
}

struct dfw_thread *
dfw_thread_create(const struct dfw_options *opts)
{
    struct dfw_thread *th = xcalloc(1, sizeof *th);
    struct as_db *db = as_db_create();
    struct dfw_options d;

    dfw_options_default(&d);
    th->opts = opts ? *opts : d;
    if (!th->opts.ct.max_entries) {
        th->opts.ct.max_entries = d.ct.max_entries;
    }
    th->opts.ct.check_dir = true;
    th->strict = th->opts.ct.strict;
    if (!th->opts.reject_rate) {
        th->opts.reject_rate = d.reject_rate;
    }
    if (!th->opts.reject_burst) {
        th->opts.reject_burst = d.reject_burst;
    }
    if (!th->opts.log_rate) {
        th->opts.log_rate = d.log_rate;
    }
    if (!th->opts.log_burst) {
        th->opts.log_burst = d.log_burst;
    }
    th->empty_asx = as_index_build(db);
    as_db_destroy(db);
    th->rej_tokens = (uint64_t)th->opts.reject_burst * 1000;
    th->log_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(th->opts.log_rate,
                                                          th->opts.log_burst);
    for (size_t i = 0; i < N_CHUNKS; i++) {
        atomic_init(&th->chunks[i], NULL);
    }
    return th;
}

void
dfw_thread_destroy(struct dfw_thread *th)
{
    if (!th) {
        return;
    }
    ct_destroy(th->ct);
    as_index_free(th->empty_asx);
    for (size_t i = 0; i < N_CHUNKS; i++) {
        free(atomic_load_explicit(&th->chunks[i], memory_order_relaxed));
    }
    free(th);
}

struct ct_table *
dfw_thread_ct(const struct dfw_thread *th)
{
    return th->ct;
}

void
dfw_thread_set_cache(struct dfw_thread *th, const struct ct_cache_ops *ops,
                     void *arg)
{
    th->cache_ops = ops;
    th->cache_arg = arg;
    if (th->ct) {
        ct_set_cache(th->ct, ops, arg);
    }
}

static struct rule_ctr *
chunk_alloc(struct dfw_thread *th, uint32_t chunk)
{
    struct rule_ctr *c = xcalloc((size_t)1 << CHUNK_BITS, sizeof *c);
    atomic_store_explicit(&th->chunks[chunk], c, memory_order_release);
    return c;
}

static inline void
ctr_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* Per-rule packet and byte counts of a run of packets to one rule, added
 * to the rule's counters in one update when the rule changes or the run
 * ends (rule_run_flush()). */
struct dfw_rule_run {
    uint32_t id; /* UINT32_MAX: none yet */
    uint64_t packets, bytes;
};

static void
rule_run_flush(struct dfw_thread *th, struct dfw_rule_run *r)
{
    if (r->packets && r->id <= DFW_MAX_RULE_ID) {
        struct rule_ctr *c = atomic_load_explicit(
            &th->chunks[r->id >> CHUNK_BITS], memory_order_relaxed);
        if (unlikely(!c)) {
            c = chunk_alloc(th, r->id >> CHUNK_BITS);
        }
        c += r->id & ((1u << CHUNK_BITS) - 1);
        ctr_add(&c->packets, r->packets);
        ctr_add(&c->bytes, r->bytes);
    }
    r->packets = r->bytes = 0;
}

/* ct_rule_count_fn: the packets a flow cache entry carried, counted to
 * their connection's rule when they reach the connection. */
static void
count_cached_rule(void *th, uint32_t id, uint64_t packets, uint64_t bytes)
{
    struct dfw_rule_run run = {id, packets, bytes};
    rule_run_flush(th, &run);
}

static struct ct_table *
get_ct(struct dfw_thread *th)
{
    if (unlikely(!th->ct) && !th->ct_failed) {
        th->ct = ct_create(&th->opts.ct);
        if (th->ct) {
            ct_set_rule_counter(th->ct, count_cached_rule, th);
            ct_set_cache(th->ct, th->cache_ops, th->cache_arg);
        } else {
            th->ct_failed = true;
            LOG_ERROR("dfw",
                      "msg=\"cannot create the connection table: every IP "
                      "packet through a firewall is dropped\" entries=%u",
                      th->opts.ct.max_entries);
        }
    }
    return th->ct;
}

/* Counts one packet of 'bytes' (and a session if 'session') to rule 'id'. */
static inline void
rule_count(struct dfw_thread *th, uint32_t id, uint32_t bytes, bool session)
{
    if (unlikely(id > DFW_MAX_RULE_ID)) {
        return;
    }
    struct rule_ctr *c = atomic_load_explicit(&th->chunks[id >> CHUNK_BITS],
                                              memory_order_relaxed);
    if (unlikely(!c)) {
        c = chunk_alloc(th, id >> CHUNK_BITS);
    }
    c += id & ((1u << CHUNK_BITS) - 1);
    ctr_add(&c->packets, 1);
    ctr_add(&c->bytes, bytes);
    if (session) {
        ctr_add(&c->sessions, 1);
    }
}

void
dfw_thread_rule_counters(const struct dfw_thread *th, uint32_t id,
                         struct dfw_rule_counters *out)
{
    memset(out, 0, sizeof *out);
    if (id > DFW_MAX_RULE_ID) {
        return;
    }
    struct rule_ctr *c = atomic_load_explicit(
        &((struct dfw_thread *)th)->chunks[id >> CHUNK_BITS],
        memory_order_acquire);
    if (c) {
        c += id & ((1u << CHUNK_BITS) - 1);
        out->packets = atomic_load_explicit(&c->packets, memory_order_relaxed);
        out->bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed);
        out->sessions =
            atomic_load_explicit(&c->sessions, memory_order_relaxed);
    }
}

void
dfw_thread_stats(const struct dfw_thread *th, struct dfw_stats *s)
{
    memcpy(s, &th->stats, sizeof *s);
}

void
dfw_expire(struct dfw_thread *th, uint64_t now_ms, size_t budget)
{
    if (th->ct) {
        ct_expire(th->ct, now_ms, budget);
    }
}

static bool
reject_allowed(struct dfw_thread *th, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)th->opts.reject_burst * 1000;

    if (now_ms > th->rej_last_ms) {
        uint64_t add = (now_ms - th->rej_last_ms) * th->opts.reject_rate;
        th->rej_tokens = MIN(cap, th->rej_tokens + add);
        th->rej_last_ms = now_ms;
    }
    if (th->rej_tokens >= 1000) {
        th->rej_tokens -= 1000;
        return true;
    }
    th->stats.rejects_limited++;
    return false;
}

/* ---- SpoofGuard. ---- */

static bool
ip4_allowed(const struct dfw_vnic *v, uint32_t ip) /* network order */
{
    if (v->n_ip4 <= 8) {
        for (uint32_t i = 0; i < v->n_ip4; i++) {
            if (v->ip4[i] == ip) {
                return true;
            }
        }
        return false;
    }
    return bsearch(&ip, v->ip4, v->n_ip4, sizeof ip, cmp_u32) != NULL;
}

static bool
ip6_allowed(const struct dfw_vnic *v, const uint8_t *ip)
{
    if (v->n_ip6 <= 8) {
        for (uint32_t i = 0; i < v->n_ip6; i++) {
            if (!memcmp(v->ip6[i].b, ip, 16)) {
                return true;
            }
        }
        return false;
    }
    return bsearch(ip, v->ip6, v->n_ip6, sizeof *v->ip6, cmp_in6) != NULL;
}

/* Where the options of ICMPv6 neighbour-discovery message 'type' start
 * (RFC 4861 4.1-4.5), 0 if 'type' is not one. */
static uint32_t
nd_options_ofs(uint8_t type)
{
    switch (type) {
    case ICMP6_RS:
        return 8;
    case ICMP6_RA:
        return 16;
    case ICMP6_NS:
    case ICMP6_NA:
        return 24;
    case ICMP6_REDIRECT:
        return 40;
    }
    return 0;
}

/* SpoofGuard for an ICMPv6 neighbour-discovery message from vNIC 'v', the
 * IPv6 counterpart of the ARP check: its link-layer address options must
 * name the vNIC's MAC and an NA's target must be one of its addresses (a
 * link-local target passes, as a link-local source does, unless it is
 * 'router_lla', the segment router's).  A vNIC under SpoofGuard is an end
 * host: its router advertisements and redirects fail (RA guard), and so
 * does a fragmented ND message (RFC 6980: never legitimate), a truncated
 * one and one with an option of length 0 (RFC 4861 has hosts drop those
 * too).  Other packets pass. */
static bool
nd_allowed(const struct dfw_vnic *v, const struct dp_packet *p,
           const uint8_t *router_lla)
{
    const uint8_t *l4 = p->data + p->l4_ofs, *end;
    uint32_t ofs;

    if (p->ip_proto != IPPROTO_ICMPV6_ || p->l4_ofs == DP_OFS_NONE ||
        !(ofs = nd_options_ofs(l4[0]))) {
        return true;
    }
    end = dp_packet_ip_end(p);
    if (end - l4 < (ptrdiff_t)ofs || (p->pflags & DP_PF_FRAG) ||
        l4[0] == ICMP6_RA || l4[0] == ICMP6_REDIRECT) {
        return false;
    }
    if (l4[0] == ICMP6_NA) {
        const uint8_t *target = l4 + 8;
        if (ip6_is_link_local(target)
                ? router_lla && !memcmp(target, router_lla, 16)
                : !ip6_allowed(v, target)) {
            return false;
        }
    }
    for (const uint8_t *o = l4 + ofs; o < end;) {
        if (end - o < 2 || !o[1] || end - o < o[1] * 8) {
            return false;
        }
        if ((o[0] == ND_OPT_SLLA || o[0] == ND_OPT_TLLA) &&
            (o[1] != 1 || memcmp(o + 2, v->mac.b, 6))) {
            return false;
        }
        o += o[1] * 8;
    }
    return true;
}

bool
dfw_spoofguard_slow(const struct dfw_vnic *v, const struct dp_packet *p,
                    const uint8_t *router_lla)
{
    const uint8_t *l3 = p->data + p->l3_ofs;

    if (!v->spoofguard) {
        return true;
    }
    if (!eth_addr_equals(&dp_packet_eth(p)->src, &v->mac)) {
        return false;
    }
    if (p->pflags & DP_PF_IPV4) {
        uint32_t src = rd32(l3 + 12);
        return !src || ip4_allowed(v, src); /* 0.0.0.0: DHCP */
    }
    if (p->pflags & DP_PF_IPV6) {
        const uint8_t *src = l3 + 8;
        bool link_local = ip6_is_link_local(src);
        if (link_local && router_lla && !memcmp(src, router_lla, 16)) {
            return false; /* the router's own address */
        }
        return (link_local || ip6_is_unspecified(src) || /* ::: DAD */
                ip6_allowed(v, src)) &&
               nd_allowed(v, p, router_lla);
    }
    if (p->pflags & DP_PF_ARP) {
        struct arp_eth_ipv4 arp;
        memcpy(&arp, l3, sizeof arp);
        return eth_addr_equals(&arp.sha, &v->mac) &&
               (!arp.spa || ip4_allowed(v, arp.spa)); /* 0: ARP probe */
    }
    return true;
}

/* ---- Logging. ---- */

static void
format_ep(char *buf, size_t size, const struct dp_packet *p, bool src)
{
    const uint8_t *l3 = p->data + p->l3_ofs;
    char ip[INET6_ADDRSTRLEN];
    bool v4 = p->pflags & DP_PF_IPV4;
    bool ports = p->l4_ofs != DP_OFS_NONE &&
                 (p->ip_proto == IPPROTO_TCP_ || p->ip_proto == IPPROTO_UDP_);

    inet_ntop(v4 ? AF_INET : AF_INET6,
              v4 ? l3 + (src ? 12 : 16) : l3 + (src ? 8 : 24), ip, sizeof ip);
    if (!ports) {
        snprintf(buf, size, "%s", ip);
        return;
    }
    uint16_t port = ntohs(rd16(p->data + p->l4_ofs + (src ? 0 : 2)));
    snprintf(buf, size, v4 ? "%s:%u" : "[%s]:%u", ip, port);
}

/* One line per new connection (or refused attempt) of a logged rule. */
static void
log_conn(struct dfw_thread *th, const struct dfw_sets *sets,
         const struct cls_result *r, bool out, uint32_t zone,
         const struct dp_packet *p)
{
    static const char *const actions[] = {"allow", "drop", "reject"};
    char src[64], dst[64], idbuf[16];
    const char *name;

    if (!(r->flags & CLS_F_LOGGED) || LOG_INF < log_threshold) {
        return;
    }
    if (!log_ratelimit_ok(&th->log_rl)) {
        th->stats.logs_suppressed++;
        return;
    }
    name = dfw_sets_rule_name(sets, r->rule_id);
    if (!name) {
        snprintf(idbuf, sizeof idbuf, "%u", r->rule_id);
        name = idbuf;
    }
    format_ep(src, sizeof src, p, true);
    format_ep(dst, sizeof dst, p, false);
    log_msg(LOG_INF, "dfw",
            "dfw: rule=%s dir=%s action=%s vnic=%u proto=%u src=%s dst=%s",
            name, out ? "out" : "in",
            r->action < ARRAY_SIZE(actions) ? actions[r->action] : "drop", zone,
            p->ip_proto, src, dst);
    if (th->log_rl.suppressed) {
        log_msg(LOG_INF, "dfw",
                "msg=\"connection log lines suppressed\" n=%llu",
                (unsigned long long)th->log_rl.suppressed);
        th->log_rl.suppressed = 0;
    }
}

/* ---- The check. ---- */

static inline uint8_t
action_verdict(uint8_t action)
{
    return action == CLS_ALLOW    ? DP_DROP_NONE
           : action == CLS_REJECT ? DP_DROP_FW_REJECT
                                  : DP_DROP_FW_DROP;
}

/* IPv6 neighbour discovery and MLD: as necessary as ARP, never filtered. */
static bool
is_nd_or_mld(const struct dp_packet *p)
{
    if (!(p->pflags & DP_PF_IPV6) || p->ip_proto != IPPROTO_ICMPV6_ ||
        p->l4_ofs == DP_OFS_NONE) {
        return false;
    }
    uint8_t type = p->data[p->l4_ofs];
    return (type >= 130 && type <= 137) || type == 143;
}

struct check_ctx {
    struct dfw_thread *th;
    struct ct_table *ct;
    const struct dfw_sets *sets;
    const struct as_index *asx;
    uint64_t now;
};

/* Classifies 'p' on its own; counts and logs.  The result's verdict. */
static struct cls_result
classify(struct check_ctx *cx, const struct dfw_vnic *vn,
         const struct dp_packet *p, bool out)
{
    struct cls_key k;

    cls_key_from_packet(p, out ? CLS_DIR_OUT : CLS_DIR_IN, &k);
    cx->th->stats.classified++;
    return cls_lookup(vn->cls, cx->asx, &k);
}

static uint8_t
check_new(struct check_ctx *cx, const struct dfw_vnic *vn,
          const struct dp_packet *p, const struct ct_pkt *cp, uint32_t zone,
          bool out)
{
    struct cls_result r = classify(cx, vn, p, out);

    if (r.action == CLS_ALLOW && !(r.flags & CLS_F_STATELESS)) {
        if (!ct_commit(cx->ct, cp, cx->now, r.rule_id, vn->rules_version)) {
            return DP_DROP_CT_FULL;
        }
        cx->th->stats.sessions++;
        rule_count(cx->th, r.rule_id, p->len, true);
    } else {
        rule_count(cx->th, r.rule_id, p->len, false);
    }
    log_conn(cx->th, cx->sets, &r, out, zone, p);
    return action_verdict(r.action);
}

/* The classifier key of a connection's first packet. */
static void
key_from_conn(const struct ct_conn_info *ci, struct cls_key *k)
{
    k->family = ci->family;
    if (ci->family == 4) {
        k->src = as_key_v4(ci->src);
        k->dst = as_key_v4(ci->dst);
    } else {
        k->src = as_key_v6(ci->src);
        k->dst = as_key_v6(ci->dst);
    }
    k->dir = ci->dir_out ? CLS_DIR_OUT : CLS_DIR_IN;
    k->proto = ci->proto;
    if (ci->proto == IPPROTO_TCP_ || ci->proto == IPPROTO_UDP_) {
        k->port = ci->dport;
    } else if (ci->proto == IPPROTO_ICMP_) {
        k->port = 8 << 8; /* echo request, code 0 */
    } else if (ci->proto == IPPROTO_ICMPV6_) {
        k->port = 128 << 8;
    } else {
        k->port = 0;
    }
}

/* A connection admitted under other rules, or denied: classify it again
 * as its first packet would be.  Still allowed: re-admitted.  A stateless
 * allow now: the entry goes and the packet passes.  Refused: the entry
 * stays, denied (CT_GEN_DENIED), so the flow's later packets, either way,
 * come back here instead of reopening it by loose pickup; they are
 * dropped (or rejected) for as long as the rules refuse it, and a later
 * rule change that allows it again re-admits it. */
static uint8_t
revalidate(struct check_ctx *cx, const struct dfw_vnic *vn,
           const struct dp_packet *p, struct ct_conn *c, uint32_t zone,
           bool out)
{
    bool denied = ct_conn_denied(c);
    struct ct_conn_info ci;
    struct cls_key k;

    ct_conn_get_info(cx->ct, c, cx->now, &ci);
    key_from_conn(&ci, &k);
    struct cls_result r = cls_lookup(vn->cls, cx->asx, &k);
    if (!denied) {
        cx->th->stats.revalidated++;
    }
    cx->th->stats.classified++;
    rule_count(cx->th, r.rule_id, p->len, false);
    if (r.action == CLS_ALLOW && !(r.flags & CLS_F_STATELESS)) {
        ct_conn_set_rule(cx->ct, c, r.rule_id, vn->rules_version);
        return DP_DROP_NONE;
    }
    if (r.action == CLS_ALLOW) {
        ct_conn_delete(cx->ct, c);
    } else {
        ct_conn_deny(cx->ct, c, r.rule_id); /* the rule refusing it now */
    }
    if (!denied) {
        cx->th->stats.reval_dropped++;
        if (r.action != CLS_ALLOW) {
            log_conn(cx->th, cx->sets, &r, out, zone, p);
        }
    }
    return action_verdict(r.action);
}

static uint8_t
check_slow(struct check_ctx *cx, const struct dfw_vnic *vn,
           const struct dp_packet *p, const struct ct_pkt *cp,
           enum ct_verdict v, struct ct_conn *c, uint32_t zone, bool out)
{
    struct cls_result r;

    switch (v) {
    case CT_NEW:
        return check_new(cx, vn, p, cp, zone, out);
    case CT_ESTABLISHED:
    case CT_RELATED:
        return revalidate(cx, vn, p, c, zone, out);
    case CT_UNTRACKED:
        if (!(p->pflags & (DP_PF_IPV4 | DP_PF_IPV6)) ||
            p->pflags & DP_PF_LATER || is_nd_or_mld(p)) {
            return DP_DROP_NONE;
        }
        /* Other untracked IP (ICMP informational but echo): classified
         * on its own every time, as if stateless. */
        r = classify(cx, vn, p, out);
        rule_count(cx->th, r.rule_id, p->len, false);
        log_conn(cx->th, cx->sets, &r, out, zone, p);
        return action_verdict(r.action);
    case CT_INVALID:
    default:
        if (!c && vn->has_stateless) {
            /* Cannot open a connection (FIN, RST, echo reply, ...): fine
             * if a stateless rule lets it through. */
            r = classify(cx, vn, p, out);
            if (r.action == CLS_ALLOW && r.flags & CLS_F_STATELESS) {
                rule_count(cx->th, r.rule_id, p->len, false);
                return DP_DROP_NONE;
            }
        }
        return DP_DROP_CT_INVALID;
    }
}

static inline void
rule_run_add(struct dfw_thread *th, struct dfw_rule_run *r, uint32_t id,
             uint32_t bytes)
{
    if (unlikely(id != r->id)) {
        rule_run_flush(th, r);
        r->id = id;
    }
    r->packets++;
    r->bytes += bytes;
}

/* The packet's flow hash for tunnel entropy, from conntrack's hash (both
 * hash the same headers): saves computing another.  Not for fragments,
 * whose pieces must all hash alike (dp_flow_hash() leaves ports out). */
static inline void
set_flow_hash(struct dp_packet *p, const struct ct_pkt *cp)
{
    if (!(p->pflags & DP_PF_FRAG)) {
        p->hash = cp->hash ? cp->hash : 1;
    }
}

/* dfw_check() with per-packet vNICs, zones and directions, or with
 * 'vnic1', 'zone1' and 'dir1' for all when 'vnics' is NULL (the uniform
 * case, a batch from one VIF, is compiled apart). */
static inline void
check_batch(struct dfw_thread *th, const struct dfw_sets *sets,
            struct dp_packet **pkts, const struct dfw_vnic *const *vnics,
            const struct dfw_vnic *vnic1, const uint32_t *zones, uint32_t zone1,
            const uint8_t *dir_out, bool dir1, int n, uint64_t now_ms,
            uint8_t *verdicts, struct ct_ref *refs)
{
    struct ct_pkt cps[DP_BATCH_MAX];
    enum ct_verdict pre[DP_BATCH_MAX];
    struct ct_conn *conns[DP_BATCH_MAX];
    uint32_t gens[DP_BATCH_MAX];
    struct check_ctx cx = {th, get_ct(th), sets,
                           sets ? sets->asx : th->empty_asx, now_ms};
    struct dfw_rule_run run = {UINT32_MAX, 0, 0};
    uint64_t est = 0;

#define VNIC(I) (vnics ? vnics[I] : vnic1)
    th->stats.checked += (uint64_t)n;
    if (unlikely(!cx.ct)) {
        for (int i = 0; i < n; i++) {
            verdicts[i] = pkts[i]->pflags & (DP_PF_IPV4 | DP_PF_IPV6)
                              ? DP_DROP_CT_FULL
                              : DP_DROP_NONE;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        gens[i] = VNIC(i)->rules_version;
    }
    bool strict = sets && sets->tcp_mode ? sets->tcp_mode == DFW_TCP_STRICT
                                         : th->opts.ct.strict;
    if (unlikely(strict != th->strict)) {
        ct_set_strict(cx.ct, strict);
        th->strict = strict;
        LOG_INFO("dfw",
                 "msg=\"TCP connection tracking is now %s for new "
                 "connections\"",
                 strict ? "strict" : "loose");
    }
    if (vnics) {
        ct_prepare_batch(cx.ct, pkts, zones, dir_out, n, cps, pre);
    } else {
        ct_prepare_batch1(cx.ct, pkts, zone1, dir1, n, cps, pre);
    }
    for (int i = 0; i < n; i++) {
        /* Established, current: conntrack's fast path in one loop. */
        int k = ct_process_fast(cx.ct, cps, pre, gens, i, n, now_ms, conns);
        est += (uint64_t)(k - i);
        for (; i < k; i++) {
            rule_run_add(th, &run, ct_conn_rule(conns[i]), pkts[i]->len);
            set_flow_hash(pkts[i], &cps[i]);
            verdicts[i] = DP_DROP_NONE;
            if (refs) {
                ct_ref_set(cx.ct, conns[i], &cps[i], &refs[i]);
            }
        }
        if (i == n) {
            break;
        }

        /* Anything else, one packet. */
        const struct dfw_vnic *vn = VNIC(i);
        struct ct_conn *c;
        enum ct_verdict v =
            ct_process_prepared(cx.ct, &cps[i], pre[i], now_ms, &c);
        if ((v == CT_ESTABLISHED || v == CT_RELATED) &&
            ct_conn_gen(c) == vn->rules_version) {
            rule_run_add(th, &run, ct_conn_rule(c), pkts[i]->len);
            verdicts[i] = DP_DROP_NONE;
            est++;
            if (refs) {
                refs[i].conn = 0; /* not the fast path: not remembered */
            }
        } else {
            if (refs) {
                refs[i].conn = 0;
            }
            rule_run_flush(th, &run);
            verdicts[i] =
                check_slow(&cx, vn, pkts[i], &cps[i], v, c,
                           vnics ? zones[i] : zone1, vnics ? dir_out[i] : dir1);
        }
        if (verdicts[i] == DP_DROP_NONE && pre[i] == CT_NEW) {
            set_flow_hash(pkts[i], &cps[i]);
        }
    }
#undef VNIC
    rule_run_flush(th, &run);
    th->stats.established += est;
}

void
dfw_check(struct dfw_thread *th, const struct dfw_sets *sets,
          struct dp_packet **pkts, const struct dfw_vnic *const *vnics,
          const uint32_t *zones, const uint8_t *dir_out, int n, uint64_t now_ms,
          uint8_t *verdicts)
{
    check_batch(th, sets, pkts, vnics, NULL, zones, 0, dir_out, false, n,
                now_ms, verdicts, NULL);
}

void
dfw_check_vnic(struct dfw_thread *th, const struct dfw_sets *sets,
               struct dp_packet **pkts, int n, const struct dfw_vnic *vnic,
               uint32_t zone, bool dir_out, uint64_t now_ms, uint8_t *verdicts,
               struct ct_ref *refs)
{
    check_batch(th, sets, pkts, NULL, vnic, NULL, zone, NULL, dir_out, n,
                now_ms, verdicts, refs);
}

bool
dfw_cached_begin(struct dfw_thread *th, uint64_t now_ms, struct dfw_cached *dc)
{
    if (unlikely(!th->ct)) {
        return false;
    }
    ct_cached_begin(th->ct, now_ms, &dc->ct);
    dc->th = th;
    dc->passed = 0;
    return true;
}

void
dfw_cached_end(struct dfw_cached *dc)
{
    ct_cached_end(&dc->ct, dc->passed);
    dc->th->stats.checked += (uint64_t)dc->passed;
    dc->th->stats.established += (uint64_t)dc->passed;
}

/* ---- Reject answers. ---- */

static bool
ip4_unanswerable(uint32_t a) /* network order */
{
    uint32_t h = ntohl(a);
    return !h || h == 0xffffffffu || (h >> 28) == 0xe || (h >> 24) == 127;
}

static bool
icmp_is_error(bool v4, uint8_t type)
{
    if (v4) {
        return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    }
    return type < 128;
}

bool
dfw_reject_answerable(const struct dp_packet *o)
{
    const struct eth_hdr *eth = dp_packet_eth(o);
    const uint8_t *l3 = o->data + o->l3_ofs;
    bool v4 = o->pflags & DP_PF_IPV4;

    if (!(o->pflags & (DP_PF_IPV4 | DP_PF_IPV6)) || o->pflags & DP_PF_LATER ||
        eth_addr_is_multicast(&eth->dst) || eth_addr_is_multicast(&eth->src)) {
        return false;
    }
    if (v4) {
        if (ip4_unanswerable(rd32(l3 + 12)) ||
            ip4_unanswerable(rd32(l3 + 16))) {
            return false;
        }
    } else if (l3[8] == 0xff || l3[24] == 0xff || ip6_is_unspecified(l3 + 8) ||
               ip6_is_unspecified(l3 + 24)) {
        return false;
    }
    if (o->l4_ofs != DP_OFS_NONE) {
        const uint8_t *l4 = o->data + o->l4_ofs;
        if (o->ip_proto == IPPROTO_TCP_) {
            return !(l4[13] & TCP_RST);
        }
        if (o->ip_proto == IPPROTO_ICMP_ || o->ip_proto == IPPROTO_ICMPV6_) {
            return !icmp_is_error(v4, l4[0]) &&
                   (v4 || l4[0] < 133 || l4[0] > 137);
        }
    }
    return true;
}

/* Length of the original IP packet (header included) within the frame. */
static uint32_t
orig_ip_len(const struct dp_packet *o)
{
    const uint8_t *l3 = o->data + o->l3_ofs;
    uint32_t len = o->pflags & DP_PF_IPV4 ? ntohs(rd16(l3 + 2))
                                          : 40 + (uint32_t)ntohs(rd16(l3 + 4));
    return MIN(len, o->len - o->l3_ofs);
}

static uint32_t
build_rst(const struct dp_packet *o, uint8_t *ip, bool v4)
{
    const uint8_t *ol3 = o->data + o->l3_ofs, *ol4 = o->data + o->l4_ofs;
    uint32_t hl = v4 ? 20 : 40;
    uint8_t *t = ip + hl;
    struct tcp_hdr th;
    uint8_t fl = ol4[13];

    memset(&th, 0, sizeof th);
    th.src = rd16(ol4 + 2);
    th.dst = rd16(ol4);
    th.off = 5 << 4;
    if (fl & TCP_ACK) {
        th.seq = rd32(ol4 + 8);
        th.flags = TCP_RST;
    } else {
        uint32_t doff = (uint32_t)(ol4[12] >> 4) * 4;
        uint32_t hdrs = (uint32_t)(o->l4_ofs - o->l3_ofs) + doff;
        uint32_t len = orig_ip_len(o);
        uint32_t seg =
            (len > hdrs ? len - hdrs : 0) + !!(fl & TCP_SYN) + !!(fl & TCP_FIN);
        th.ack = htonl(ntohl(rd32(ol4 + 4)) + seg);
        th.flags = TCP_RST | TCP_ACK;
    }
    memcpy(t, &th, sizeof th);

    uint32_t sum;
    if (v4) {
        struct ipv4_hdr h = {
            .ver_ihl = 0x45,
            .tot_len = htons(40),
            .frag_off = htons(IPV4_DF),
            .ttl = 64,
            .proto = IPPROTO_TCP_,
        };
        memcpy(&h.src, ol3 + 16, 4);
        memcpy(&h.dst, ol3 + 12, 4);
        h.csum = csum_finish(csum_partial(&h, sizeof h, 0));
        memcpy(ip, &h, sizeof h);
        sum = csum_pseudo_ipv4(h.src, h.dst, IPPROTO_TCP_, 20);
    } else {
        struct ipv6_hdr h = {
            .ver_tc_flow = htonl(0x60000000),
            .payload_len = htons(20),
            .next = IPPROTO_TCP_,
            .hop_limit = 64,
        };
        memcpy(h.src.b, ol3 + 24, 16);
        memcpy(h.dst.b, ol3 + 8, 16);
        memcpy(ip, &h, sizeof h);
        sum = csum_pseudo_ipv6(h.src.b, h.dst.b, IPPROTO_TCP_, 20);
    }
    uint16_t csum = csum_finish(csum_partial(t, 20, sum));
    memcpy(t + offsetof(struct tcp_hdr, csum), &csum, 2);
    return hl + 20;
}

struct dp_packet *
dfw_reject_build(const struct dp_packet *o, struct dp_pool *pool)
{
    bool v4 = o->pflags & DP_PF_IPV4;
    uint32_t l2 = o->l3_ofs; /* Ethernet, tags, ethertype */
    struct dp_packet *r;

    if (!dfw_reject_answerable(o) ||
        dp_pool_frame_size(pool) < l2 + (v4 ? 20 : 40) + 8 + 20) {
        return NULL;
    }
    if (o->ip_proto != IPPROTO_TCP_ || o->l4_ofs == DP_OFS_NONE) {
        /* ICMP(v6) administratively prohibited, from the destination. */
        const uint8_t *ol3 = o->data + o->l3_ofs;
        uint8_t src[16] = {[10] = 0xff, [11] = 0xff};
        if (v4) {
            memcpy(src + 12, ol3 + 16, 4);
        } else {
            memcpy(src, ol3 + 24, 16);
        }
        return dp_icmp_error_build(o, pool, &dp_packet_eth(o)->dst, src,
                                   v4 ? 3 : 1, v4 ? 13 : 1, 0);
    }
    r = dp_pool_get(pool);
    if (!r) {
        return NULL;
    }
    uint8_t *d = r->data;
    memcpy(d + 12, o->data + 12, l2 - 12);
    memcpy(d, o->data + 6, ETH_ADDR_LEN); /* to the original source */
    memcpy(d + 6, o->data, ETH_ADDR_LEN); /* from its destination */
    r->len = l2 + build_rst(o, d + l2, v4);
    if (r->len < 60) { /* minimum Ethernet frame, as a NIC would pad */
        memset(d + r->len, 0, 60 - r->len);
        r->len = 60;
    }
    dp_parse(r);
    return r;
}

struct dp_packet *
dfw_reject(struct dfw_thread *th, const struct dp_packet *orig,
           struct dp_pool *pool, uint64_t now_ms)
{
    struct dp_packet *r;

    if (!dfw_reject_answerable(orig) || !reject_allowed(th, now_ms)) {
        return NULL;
    }
    r = dfw_reject_build(orig, pool);
    if (r) {
        th->stats.rejects_sent++;
    }
    return r;
}
