/* Firewall compilation for the datapath (agent-dfw.h). */
#include "agent/agent-dfw.h"

#include <stdlib.h>
#include <string.h>

#include "agent/agent-state.h"
#include "datapath/addrset.h"
#include "datapath/classifier.h"
#include "datapath/dfw.h"
#include "lib/hash.h"
#include "lib/hmap.h"
#include "lib/log.h"
#include "lib/util.h"

/* A name (rule or set path) with its stable small id. */
struct name_id {
    struct hmap_node node;
    uint32_t id;
    char name[];
};

/* A set of address-set ids, folded to SETS_BITS bits (set id modulo): the
 * sets a vNIC's rules name, or the sets a sync changed.  A fold may say
 * yes for a set that is not in it, never no for one that is. */
#define SETS_BITS 1024
struct set_bits {
    uint64_t w[SETS_BITS / 64];
};

static void
set_bits_add(struct set_bits *b, uint32_t id)
{
    b->w[id % SETS_BITS / 64] |= UINT64_C(1) << (id % 64);
}

static bool
set_bits_meet(const struct set_bits *a, const struct set_bits *b)
{
    uint64_t any = 0;
    for (size_t i = 0; i < ARRAY_SIZE(a->w); i++) {
        any |= a->w[i] & b->w[i];
    }
    return any != 0;
}

/* The firewall of one local port. */
struct vnic_ent {
    struct hmap_node node; /* by lport */
    uint32_t lport;
    uint64_t sig; /* what it was compiled from */
    struct dfw_vnic *vnic;
    struct set_bits sets; /* the address sets its rules name */
    bool seen;
    bool fresh; /* got a new rules version in this sync */
};

/* One rule of the current state, ready to compile. */
struct rule_ref {
    const Weft__FwRule *msg;
    uint32_t id;       /* datapath rule id */
    uint64_t hash;     /* of its content */
    size_t policy_len; /* of its policy's path, the start of msg->id */
    uint32_t *src, *dst;
    struct cls_service *svcs;
};

struct agent_dfw {
    bool synced;
    struct dstate_fw_gens gens;    /* of the state last synced */
    struct hmap rule_ids, set_ids; /* name_id */
    uint32_t next_rule_id, next_set_id;
    struct hmap vnics; /* vnic_ent */
    struct dfw_sets *sets;
    uint32_t next_version;
    struct rule_ref *rules; /* in evaluation order (rule_cmp()) */
    size_t n_rules;
    uint32_t n_members;
    uint64_t compiles, set_builds, renewals;
    /* Members of each address set (by id) as a sum of their hashes: of
     * the last build and of the one being made. */
    uint64_t *set_sums, *new_sums;
    uint32_t n_sums;              /* entries of both */
    struct set_bits changed_sets; /* by the last build */
};

struct agent_dfw *
agent_dfw_create(void)
{
    struct agent_dfw *d = xcalloc(1, sizeof *d);
    hmap_init(&d->rule_ids);
    hmap_init(&d->set_ids);
    hmap_init(&d->vnics);
    d->next_rule_id = AGENT_DFW_DEFAULT_RULE + 1;
    return d;
}

static void
rules_free(struct agent_dfw *d)
{
    for (size_t i = 0; i < d->n_rules; i++) {
        free(d->rules[i].src);
        free(d->rules[i].dst);
        free(d->rules[i].svcs);
    }
    free(d->rules);
    d->rules = NULL;
    d->n_rules = 0;
}

static void
names_free(struct hmap *m)
{
    struct name_id *n;
    HMAP_FOR_EACH (n, node, m) {
        hmap_remove(m, &n->node);
        free(n);
    }
    hmap_destroy(m);
}

void
agent_dfw_destroy(struct agent_dfw *d)
{
    struct vnic_ent *v;

    if (!d) {
        return;
    }
    HMAP_FOR_EACH (v, node, &d->vnics) {
        hmap_remove(&d->vnics, &v->node);
        dfw_vnic_unref(v->vnic);
        free(v);
    }
    hmap_destroy(&d->vnics);
    names_free(&d->rule_ids);
    names_free(&d->set_ids);
    dfw_sets_unref(d->sets);
    rules_free(d);
    free(d->set_sums);
    free(d->new_sums);
    free(d);
}

/* The id of 'name' in 'm', assigned from '*next' when new.  Returns
 * UINT32_MAX when 'max' ids are used up. */
static uint32_t
name_id(struct hmap *m, const char *name, uint32_t *next, uint32_t max)
{
    uint32_t hash = hash_str(name);
    struct name_id *n;

    HMAP_FOR_EACH_WITH_HASH (n, node, hash, m) {
        if (!strcmp(n->name, name)) {
            return n->id;
        }
    }
    if (*next > max) {
        return UINT32_MAX;
    }
    n = xmalloc(sizeof *n + strlen(name) + 1);
    n->id = (*next)++;
    strcpy(n->name, name);
    hmap_insert(m, &n->node, hash);
    return n->id;
}

/* ---- Rules. ---- */

struct collect {
    struct agent_dfw *d;
    struct rule_ref *v;
    size_t n, cap;
};

/* The length of the policy's path in rule path 'id'
 * (".../security-policies/P" of ".../security-policies/P/rules/R"): all
 * but its last two segments. */
static size_t
policy_path_len(const char *id)
{
    const char *last = strrchr(id, '/');
    size_t n = last ? (size_t)(last - id) : 0;
    while (n > 0 && id[n - 1] != '/') {
        n--;
    }
    return n ? n - 1 : 0;
}

static void
collect_rule(void *aux, const Weft__FwRule *r)
{
    struct collect *c = aux;
    struct rule_ref *rr;
    size_t len = weft__fw_rule__get_packed_size(r);
    uint8_t *buf = xmalloc(len ? len : 1);

    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    rr = &c->v[c->n++];
    memset(rr, 0, sizeof *rr);
    rr->msg = r;
    rr->policy_len = policy_path_len(r->id);
    weft__fw_rule__pack(r, buf);
    rr->hash =
        (uint64_t)hash_bytes(buf, len, 1) << 32 | hash_bytes(buf, len, 2);
    free(buf);
}

/* Evaluation order (proto FwRule): category and policy sequence (the
 * priority's upper bits), policy path, rule sequence, rule path.  Two
 * policies with one category and sequence number keep their rules apart,
 * ordered by the policies' ids; the priority alone would interleave them
 * by rule sequence. */
static int
rule_cmp(const void *a_, const void *b_)
{
    const struct rule_ref *a = a_, *b = b_;
    uint64_t pa = a->msg->priority, pb = b->msg->priority;
    const uint64_t rule_seq_mask = (UINT64_C(1) << 30) - 1;

    if (pa >> 30 != pb >> 30) {
        return pa >> 30 < pb >> 30 ? -1 : 1;
    }
    size_t la = a->policy_len, lb = b->policy_len;
    int c = memcmp(a->msg->id, b->msg->id, MIN(la, lb));
    if (c || la != lb) {
        return c ? c : la < lb ? -1 : 1;
    }
    if ((pa & rule_seq_mask) != (pb & rule_seq_mask)) {
        return (pa & rule_seq_mask) < (pb & rule_seq_mask) ? -1 : 1;
    }
    return strcmp(a->msg->id, b->msg->id);
}

static uint32_t *
set_ids(struct agent_dfw *d, char **paths, size_t n)
{
    uint32_t *ids = xcalloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = name_id(&d->set_ids, paths[i], &d->next_set_id, AS_MAX_ID);
    }
    return ids;
}

/* Rebuilds d->rules from 'ds' (sorted, ids assigned, references resolved).
 * Rules beyond the id space are left out (logged). */
static void
load_rules(struct agent_dfw *d, const struct dstate *ds)
{
    struct collect c = {d, NULL, 0, 0};
    size_t kept = 0;

    rules_free(d);
    dstate_fw_rules(ds, collect_rule, &c);
    if (c.n > 1) {
        qsort(c.v, c.n, sizeof *c.v, rule_cmp);
    }
    for (size_t i = 0; i < c.n; i++) {
        struct rule_ref *rr = &c.v[i];
        const Weft__FwRule *r = rr->msg;

        rr->id =
            name_id(&d->rule_ids, r->id, &d->next_rule_id, DFW_MAX_RULE_ID);
        if (rr->id == UINT32_MAX) {
            LOG_WARN("agent",
                     "msg=\"firewall rule ids exhausted, rule not "
                     "installed\" rule=%s",
                     r->id);
            continue;
        }
        rr->src = set_ids(d, r->src_sets, r->n_src_sets);
        rr->dst = set_ids(d, r->dst_sets, r->n_dst_sets);
        rr->svcs = xcalloc(r->n_services + 1, sizeof *rr->svcs);
        for (size_t k = 0; k < r->n_services; k++) {
            const Weft__FwService *s = r->services[k];
            rr->svcs[k].proto =
                s->proto > 255 ? CLS_ANY_PROTO : (uint16_t)s->proto;
            rr->svcs[k].port_lo = (uint16_t)s->lo;
            rr->svcs[k].port_hi = (uint16_t)s->hi;
        }
        c.v[kept++] = *rr;
    }
    d->rules = c.v;
    d->n_rules = kept;
}

/* ---- Address sets. ---- */

struct set_build {
    struct agent_dfw *d;
    struct as_db *db;
};

/* Makes room for the sums of set ids below 'n'. */
static void
sums_reserve(struct agent_dfw *d, uint32_t n)
{
    if (n <= d->n_sums) {
        return;
    }
    uint32_t cap = MAX(n, d->n_sums * 2);
    d->set_sums = xrealloc(d->set_sums, cap * sizeof *d->set_sums);
    d->new_sums = xrealloc(d->new_sums, cap * sizeof *d->new_sums);
    memset(d->set_sums + d->n_sums, 0, (cap - d->n_sums) * sizeof *d->set_sums);
    memset(d->new_sums + d->n_sums, 0, (cap - d->n_sums) * sizeof *d->new_sums);
    d->n_sums = cap;
}

/* A 64-bit hash of a set member, for the sums (a 32-bit one would let one
 * member's replacement go unnoticed once in 2^32). */
static uint64_t
prefix_hash(const struct as_prefix *p)
{
    uint64_t a, b;
    memcpy(&a, p->addr, 8);
    memcpy(&b, p->addr + 8, 8);
    return hash_mix64(a ^ hash_mix64(b ^ ((uint64_t)p->family << 8 | p->plen)));
}

static void
add_member(void *aux, const char *set, const struct as_prefix *p)
{
    struct set_build *sb = aux;
    struct agent_dfw *d = sb->d;
    uint32_t id = name_id(&d->set_ids, set, &d->next_set_id, AS_MAX_ID);
    if (id != UINT32_MAX && !as_db_add(sb->db, id, p)) {
        d->n_members++;
        sums_reserve(d, id + 1);
        d->new_sums[id] += prefix_hash(p);
    }
}

/* Sets d->changed_sets to the sets whose members the build just made
 * changed (sums differ; a set gone or new has a sum of 0 on one side) and
 * keeps the new sums. */
static void
note_changed_sets(struct agent_dfw *d)
{
    memset(&d->changed_sets, 0, sizeof d->changed_sets);
    for (uint32_t id = 0; id < d->n_sums; id++) {
        if (d->new_sums[id] != d->set_sums[id]) {
            set_bits_add(&d->changed_sets, id);
        }
        d->set_sums[id] = d->new_sums[id];
        d->new_sums[id] = 0;
    }
}

static void
build_sets(struct agent_dfw *d, const struct dstate *ds)
{
    struct set_build sb = {d, as_db_create()};
    struct dfw_rule_info *infos = xcalloc(d->n_rules + 1, sizeof *infos);
    struct dfw_sets_config sc;

    d->n_members = 0;
    dstate_fw_addrs(ds, add_member, &sb);
    note_changed_sets(d);
    infos[0].id = AGENT_DFW_DEFAULT_RULE;
    infos[0].name = "default";
    for (size_t i = 0; i < d->n_rules; i++) {
        infos[i + 1].id = d->rules[i].id;
        infos[i + 1].name = d->rules[i].msg->id;
    }
    sc.asx = as_index_build(sb.db);
    sc.rules = infos;
    sc.n_rules = d->n_rules + 1;
    sc.tcp_mode = dstate_fw_tcp_strict(ds) ? DFW_TCP_STRICT : DFW_TCP_LOOSE;
    dfw_sets_unref(d->sets);
    d->sets = dfw_sets_create(&sc);
    d->set_builds++;
    as_db_destroy(sb.db);
    free(infos);
}

/* ---- Per-port classifiers. ---- */

/* True if 'scope' is empty or names one of the port's sets. */
static bool
scope_ok(char *const *scope, size_t n, const struct dstate_fw_port *p)
{
    if (!n) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < p->n_port_sets; k++) {
            if (!strcmp(scope[i], p->port_sets[k])) {
                return true;
            }
        }
    }
    return false;
}

static bool
rule_applies(const Weft__FwRule *r, const struct dstate_fw_port *p)
{
    size_t n = strlen(r->project);
    return !strncmp(p->id, r->project, n) && p->id[n] == '/' &&
           scope_ok(r->applied_to, r->n_applied_to, p) &&
           scope_ok(r->rule_applied_to, r->n_rule_applied_to, p);
}

static struct vnic_ent *
vnic_find(const struct agent_dfw *d, uint32_t lport)
{
    struct vnic_ent *v;
    HMAP_FOR_EACH_WITH_HASH (v, node, hash_u64(lport, 0), &d->vnics) {
        if (v->lport == lport) {
            return v;
        }
    }
    return NULL;
}

struct port_ctx {
    struct agent_dfw *d;
    Weft__FwAction deflt;
    size_t *idx; /* scratch: applicable rule indices */
    bool changed;
};

static struct cls *
compile(struct agent_dfw *d, const size_t *idx, size_t n, Weft__FwAction deflt)
{
    struct cls_rule *cr = xcalloc(n + 1, sizeof *cr);
    struct cls_result def = {AGENT_DFW_DEFAULT_RULE, UINT32_MAX, (uint8_t)deflt,
                             0};
    struct cls *cls;

    for (size_t i = 0; i < n; i++) {
        const struct rule_ref *rr = &d->rules[idx[i]];
        const Weft__FwRule *r = rr->msg;
        cr[i].id = rr->id;
        cr[i].priority = (uint32_t)idx[i]; /* rank in the sorted order */
        cr[i].src_sets = rr->src;
        cr[i].n_src = (uint32_t)r->n_src_sets;
        cr[i].dst_sets = rr->dst;
        cr[i].n_dst = (uint32_t)r->n_dst_sets;
        cr[i].services = rr->svcs;
        cr[i].n_services = (uint32_t)r->n_services;
        cr[i].dir = (uint8_t)r->direction;
        cr[i].family = (uint8_t)r->family;
        cr[i].action = (uint8_t)r->action;
        cr[i].flags = (uint8_t)((r->logged ? CLS_F_LOGGED : 0) |
                                (r->stateless ? CLS_F_STATELESS : 0));
    }
    cls = cls_compile(cr, n, def);
    d->compiles++;
    free(cr);
    return cls;
}

/* The next rules version (never CT_GEN_DENIED). */
static uint32_t
next_version(struct agent_dfw *d)
{
    if (++d->next_version == CT_GEN_DENIED) {
        d->next_version = 1; /* that value marks denied connections */
    }
    return d->next_version;
}

static void
sync_port(void *aux, const struct dstate_fw_port *p)
{
    struct port_ctx *pc = aux;
    struct agent_dfw *d = pc->d;
    struct vnic_ent *v = vnic_find(d, p->lport);
    uint64_t sig = 0x9e3779b97f4a7c15ull;
    size_t n = 0;
    bool need;

    for (size_t i = 0; i < d->n_rules; i++) {
        if (rule_applies(d->rules[i].msg, p)) {
            pc->idx[n++] = i;
            sig = hash_mix64(sig ^ d->rules[i].hash) + d->rules[i].id;
        }
    }
    sig = hash_mix64(sig ^ (uint64_t)pc->deflt << 1 ^ p->spoofguard);
    if (p->spoofguard) {
        sig = hash_mix64(
            sig ^ hash_bytes(p->mac, sizeof *p->mac, 0) ^
            (uint64_t)hash_bytes(p->ips, p->n_ips * sizeof *p->ips, 1) << 32);
    }
    need = n || pc->deflt != WEFT__FW_ACTION__ALLOW || p->spoofguard;
    if (!need) {
        if (v) {
            hmap_remove(&d->vnics, &v->node);
            dfw_vnic_unref(v->vnic);
            free(v);
            pc->changed = true;
        }
        return;
    }
    if (!v) {
        v = xcalloc(1, sizeof *v);
        v->lport = p->lport;
        hmap_insert(&d->vnics, &v->node, hash_u64(p->lport, 0));
    } else if (v->sig == sig && v->vnic) {
        v->seen = true;
        return;
    }
    {
        uint8_t(*ips)[16] = xcalloc(p->n_ips + 1, 16);
        struct dfw_vnic_config vc;

        for (uint32_t i = 0; i < p->n_ips; i++) {
            memcpy(ips[i], p->ips[i].b, 16);
        }
        memset(&vc, 0, sizeof vc);
        vc.cls = n || pc->deflt != WEFT__FW_ACTION__ALLOW
                     ? compile(d, pc->idx, n, pc->deflt)
                     : NULL;
        vc.rules_version = next_version(d);
        vc.spoofguard = p->spoofguard;
        vc.mac = *p->mac;
        vc.ips = (const uint8_t(*)[16])ips;
        vc.n_ips = p->n_ips;
        dfw_vnic_unref(v->vnic);
        v->vnic = dfw_vnic_create(&vc);
        free(ips);
    }
    memset(&v->sets, 0, sizeof v->sets);
    for (size_t k = 0; k < n; k++) {
        const struct rule_ref *rr = &d->rules[pc->idx[k]];
        for (size_t j = 0; j < rr->msg->n_src_sets; j++) {
            set_bits_add(&v->sets, rr->src[j]);
        }
        for (size_t j = 0; j < rr->msg->n_dst_sets; j++) {
            set_bits_add(&v->sets, rr->dst[j]);
        }
    }
    v->sig = sig;
    v->seen = true;
    v->fresh = true;
    pc->changed = true;
}

/* After an address-set build: a vNIC whose rules name a set that changed
 * and that kept its classifier gets a new rules version, so its
 * connections are checked again at their next packet (a VM retagged out
 * of the group that let it in loses the connections that group allowed,
 * as after a rule change; decision 62). */
static bool
renew_for_changed_sets(struct agent_dfw *d)
{
    struct vnic_ent *v;
    bool any = false;

    HMAP_FOR_EACH (v, node, &d->vnics) {
        if (!v->fresh && v->vnic && v->vnic->cls &&
            set_bits_meet(&v->sets, &d->changed_sets)) {
            struct dfw_vnic *n = dfw_vnic_renew(v->vnic, next_version(d));
            dfw_vnic_unref(v->vnic);
            v->vnic = n;
            d->renewals++;
            any = true;
        }
    }
    return any;
}

bool
agent_dfw_sync(struct agent_dfw *d, const struct dstate *ds)
{
    struct dstate_fw_gens g;
    bool rules, ports;
    struct vnic_ent *v;
    struct port_ctx pc;

    dstate_fw_gens(ds, &g);
    rules = !d->synced || g.rules != d->gens.rules;
    ports = rules || g.ports != d->gens.ports;
    if (!ports && g.addrs == d->gens.addrs) {
        return false;
    }
    if (rules) {
        load_rules(d, ds);
    }
    bool sets = rules || g.addrs != d->gens.addrs;
    if (sets) {
        build_sets(d, ds); /* carries the rule names too */
    }
    HMAP_FOR_EACH (v, node, &d->vnics) {
        v->fresh = false;
    }
    pc.d = d;
    pc.deflt = dstate_fw_default(ds);
    pc.idx = xcalloc(d->n_rules + 1, sizeof *pc.idx);
    pc.changed = rules || g.addrs != d->gens.addrs;
    if (ports) {
        HMAP_FOR_EACH (v, node, &d->vnics) {
            v->seen = false;
        }
        dstate_fw_ports(ds, sync_port, &pc);
        HMAP_FOR_EACH (v, node, &d->vnics) {
            if (!v->seen) {
                hmap_remove(&d->vnics, &v->node);
                dfw_vnic_unref(v->vnic);
                free(v);
                pc.changed = true;
            }
        }
    }
    free(pc.idx);
    if (sets && d->synced) {
        renew_for_changed_sets(d);
    }
    d->synced = true;
    d->gens = g;
    return pc.changed;
}

struct dfw_sets *
agent_dfw_sets(const struct agent_dfw *d)
{
    return d->sets;
}

struct dfw_vnic *
agent_dfw_vnic(const struct agent_dfw *d, uint32_t lport)
{
    struct vnic_ent *v = vnic_find(d, lport);
    return v ? v->vnic : NULL;
}

void
agent_dfw_rules_foreach(const struct agent_dfw *d,
                        void (*fn)(void *aux, uint32_t id, const char *path),
                        void *aux)
{
    for (size_t i = 0; i < d->n_rules; i++) {
        fn(aux, d->rules[i].id, d->rules[i].msg->id);
    }
}

void
agent_dfw_get_stats(const struct agent_dfw *d, struct agent_dfw_stats *st)
{
    st->rules = (uint32_t)d->n_rules;
    st->sets = (uint32_t)hmap_count(&d->set_ids);
    st->members = d->n_members;
    st->vnics = (uint32_t)hmap_count(&d->vnics);
    st->compiles = d->compiles;
    st->set_builds = d->set_builds;
    st->renewals = d->renewals;
}
