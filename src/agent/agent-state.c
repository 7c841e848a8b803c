/* The agent's desired state (agent-state.h). */
#include "agent/agent-state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datapath/addrset.h"
#include "lib/hmap.h"
#include "lib/util.h"
#include "proto/wire.h"

#define DSTATE_FILE_MAX (256u << 20)

struct ds_seg {
    struct hmap_node node;
    char *id;
    uint32_t vni;
    int encap;          /* Weft__Encap */
    Weft__Segment *msg; /* owned copy: routing and DHCP settings */
    uint32_t cfg_index; /* in the last dstate_to_config() result, or
                         * UINT32_MAX: left out */
};

/* A local port or a remote binding. */
struct ds_port {
    struct hmap_node node;
    char *id;
    char *segment;
    uint32_t lport;
    struct eth_addr mac;
    struct cfg_ip *ips;
    uint32_t n_ips;
    char ifname[CFG_IFNAME_MAX]; /* local */
    struct cfg_ip vtep;          /* remote */
    char **port_sets;            /* local: firewall scopes it is in */
    size_t n_port_sets;
    bool spoofguard; /* local */
};

/* An object kept as an owned copy of its message, by id: firewall rules
 * (Weft__FwRule) and static routes (Weft__Route). */
struct ds_msg {
    struct hmap_node node;
    char *id;
    ProtobufCMessage *msg;
};

/* A member of a firewall address set. */
struct ds_addr {
    struct hmap_node node;
    char *id;
    char *set;
    struct as_prefix pfx;
};

struct ds_flood {
    struct hmap_node node;
    char *id;
    char *segment;
    struct cfg_ip vtep;
};

/* A remote binding or local port changed since the last
 * dstate_to_config(): how it was then (NULL: it did not exist). */
struct ds_change {
    struct hmap_node node;
    char *id;
    struct ds_port *old;
};

/* How many flood entries name endpoint 'vtep' in segment 'segment' (the
 * configuration has the endpoint once if any does).  'touched': the count
 * changed since the last conversion, when it was 'n_before'. */
struct ds_fcount {
    struct hmap_node node;
    char *segment;
    struct cfg_ip vtep;
    uint32_t n;
    uint32_t n_before;
    bool touched;
};

struct dstate {
    uint64_t revision;
    bool has_host;
    struct cfg_ip local_ip;
    struct hmap segs;    /* ds_seg */
    struct hmap ports;   /* ds_port, local */
    struct hmap remotes; /* ds_port, remote */
    struct hmap floods;  /* ds_flood */
    struct hmap fcounts; /* ds_fcount, by segment and endpoint */
    struct hmap rules;   /* ds_msg: Weft__FwRule */
    struct hmap addrs;   /* ds_addr */
    struct hmap routes;  /* ds_msg: Weft__Route */
    Weft__FwAction fw_default;
    bool fw_tcp_strict;
    uint64_t fw_rules_gen, fw_addrs_gen, fw_ports_gen; /* bumped on changes */
    /* Since the last dstate_to_config(): 'incr' while nothing but remote
     * bindings, local ports, flood entries and firewall objects changed;
     * the journals (ds_change) hold the bindings and ports changed, each
     * once, 'ftouched' the flood counts changed. */
    bool incr;
    struct hmap journal;      /* remote bindings */
    struct hmap port_journal; /* local ports */
    struct ds_fcount **ftouched;
    size_t n_ftouched, cap_ftouched;
    struct dstate_op *ops; /* dstate_changes() result */
};

void
dstate_failures_clear(struct dstate_failures *f)
{
    free(f->items);
    f->items = NULL;
    f->n = 0;
}

static void dstate_fail(struct dstate_failures *f, const char *object,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
dstate_fail(struct dstate_failures *f, const char *object, const char *fmt, ...)
{
    va_list args;
    struct dstate_failure *x;

    if (!f) {
        return;
    }
    f->items = xrealloc(f->items, (f->n + 1) * sizeof *f->items);
    x = &f->items[f->n++];
    snprintf(x->object, sizeof x->object, "%s", object);
    va_start(args, fmt);
    vsnprintf(x->reason, sizeof x->reason, fmt, args);
    va_end(args);
}

struct dstate *
dstate_create(void)
{
    struct dstate *ds = xcalloc(1, sizeof *ds);
    hmap_init(&ds->segs);
    hmap_init(&ds->ports);
    hmap_init(&ds->remotes);
    hmap_init(&ds->floods);
    hmap_init(&ds->fcounts);
    hmap_init(&ds->rules);
    hmap_init(&ds->addrs);
    hmap_init(&ds->routes);
    hmap_init(&ds->journal);
    hmap_init(&ds->port_journal);
    return ds;
}

static void
ds_port_free(struct ds_port *p)
{
    for (size_t i = 0; i < p->n_port_sets; i++) {
        free(p->port_sets[i]);
    }
    free(p->port_sets);
    free(p->id);
    free(p->segment);
    free(p->ips);
    free(p);
}

static void
ds_fcount_free(struct dstate *ds, struct ds_fcount *c)
{
    hmap_remove(&ds->fcounts, &c->node);
    free(c->segment);
    free(c);
}

static void
ds_changes_clear(struct hmap *journal)
{
    struct ds_change *c;

    HMAP_FOR_EACH (c, node, journal) {
        hmap_remove(journal, &c->node);
        if (c->old) {
            ds_port_free(c->old);
        }
        free(c->id);
        free(c);
    }
}

/* Forgets the changes since the last conversion. */
static void
ds_journal_clear(struct dstate *ds)
{
    ds_changes_clear(&ds->journal);
    ds_changes_clear(&ds->port_journal);
    for (size_t i = 0; i < ds->n_ftouched; i++) {
        struct ds_fcount *c = ds->ftouched[i];
        c->touched = false;
        if (!c->n) {
            ds_fcount_free(ds, c);
        }
    }
    free(ds->ftouched);
    ds->ftouched = NULL;
    ds->n_ftouched = ds->cap_ftouched = 0;
    free(ds->ops);
    ds->ops = NULL;
}

/* Something that cannot be patched changed: the next realization
 * converts the whole model. */
static void
ds_not_incremental(struct dstate *ds)
{
    ds->incr = false;
    ds_journal_clear(ds);
}

/* The number of flood entries for endpoint 'vtep' in 'segment' changes by
 * 'delta' (+1 or -1); the first change since the conversion is recorded
 * (dstate_changes()). */
static void
ds_flood_count(struct dstate *ds, const char *segment,
               const struct cfg_ip *vtep, int delta)
{
    uint32_t hash = hash_bytes(vtep, sizeof *vtep, hash_str(segment));
    struct ds_fcount *c;

    HMAP_FOR_EACH_WITH_HASH (c, node, hash, &ds->fcounts) {
        if (!strcmp(c->segment, segment) &&
            !memcmp(&c->vtep, vtep, sizeof *vtep)) {
            break;
        }
    }
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->segment = xstrdup(segment);
        c->vtep = *vtep;
        hmap_insert(&ds->fcounts, &c->node, hash);
    }
    if (ds->incr && !c->touched) {
        if (ds->n_ftouched >= MAX(64, hmap_count(&ds->floods) / 4)) {
            ds_not_incremental(ds);
        } else {
            if (ds->n_ftouched == ds->cap_ftouched) {
                ds->cap_ftouched = MAX(16, 2 * ds->cap_ftouched);
                ds->ftouched = xrealloc(ds->ftouched, ds->cap_ftouched *
                                                          sizeof *ds->ftouched);
            }
            ds->ftouched[ds->n_ftouched++] = c;
            c->touched = true;
            c->n_before = c->n;
        }
    }
    c->n += (uint32_t)delta;
    if (!c->n && !c->touched) {
        ds_fcount_free(ds, c);
    }
}

static void
ds_flood_free(struct dstate *ds, struct ds_flood *f)
{
    ds_flood_count(ds, f->segment, &f->vtep, -1);
    hmap_remove(&ds->floods, &f->node);
    free(f->id);
    free(f->segment);
    free(f);
}

static void
ds_msg_free(struct ds_msg *r)
{
    protobuf_c_message_free_unpacked(r->msg, NULL);
    free(r->id);
    free(r);
}

/* Frees every entry of 'm' (a map of ds_msg). */
static void
ds_msgs_clear(struct hmap *m)
{
    struct ds_msg *r;
    HMAP_FOR_EACH (r, node, m) {
        hmap_remove(m, &r->node);
        ds_msg_free(r);
    }
}

static void
ds_addr_free(struct ds_addr *a)
{
    free(a->id);
    free(a->set);
    free(a);
}

static void
ds_fw_clear(struct dstate *ds)
{
    struct ds_addr *a;

    ds_msgs_clear(&ds->rules);
    HMAP_FOR_EACH (a, node, &ds->addrs) {
        hmap_remove(&ds->addrs, &a->node);
        ds_addr_free(a);
    }
    ds->fw_default = WEFT__FW_ACTION__ALLOW;
    ds->fw_tcp_strict = false;
    ds->fw_rules_gen++;
    ds->fw_addrs_gen++;
    ds->fw_ports_gen++;
}

static void
ds_seg_free(struct ds_seg *s)
{
    if (s->msg) {
        weft__segment__free_unpacked(s->msg, NULL);
    }
    free(s->id);
    free(s);
}

static void
dstate_clear(struct dstate *ds)
{
    struct ds_seg *s;
    struct ds_port *p;
    struct ds_flood *f;

    ds_not_incremental(ds); /* first: the journal points at flood counts */
    HMAP_FOR_EACH (s, node, &ds->segs) {
        hmap_remove(&ds->segs, &s->node);
        ds_seg_free(s);
    }
    ds_msgs_clear(&ds->routes);
    HMAP_FOR_EACH (p, node, &ds->ports) {
        hmap_remove(&ds->ports, &p->node);
        ds_port_free(p);
    }
    HMAP_FOR_EACH (p, node, &ds->remotes) {
        hmap_remove(&ds->remotes, &p->node);
        ds_port_free(p);
    }
    HMAP_FOR_EACH (f, node, &ds->floods) {
        ds_flood_free(ds, f); /* and its count */
    }
    ds_fw_clear(ds);
    ds->revision = 0;
    ds->has_host = false;
}

void
dstate_destroy(struct dstate *ds)
{
    if (!ds) {
        return;
    }
    dstate_clear(ds);
    hmap_destroy(&ds->segs);
    hmap_destroy(&ds->ports);
    hmap_destroy(&ds->remotes);
    hmap_destroy(&ds->floods);
    hmap_destroy(&ds->fcounts);
    hmap_destroy(&ds->rules);
    hmap_destroy(&ds->addrs);
    hmap_destroy(&ds->routes);
    hmap_destroy(&ds->journal);
    hmap_destroy(&ds->port_journal);
    free(ds);
}

uint64_t
dstate_revision(const struct dstate *ds)
{
    return ds->revision;
}

/* Wire addresses (4 or 16 bytes) to cfg_ip (IPv4-mapped). */
static void
ds_ip(const ProtobufCBinaryData *b, struct cfg_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (b->len == 4) {
        ip->b[10] = ip->b[11] = 0xff;
        memcpy(ip->b + 12, b->data, 4);
    } else if (b->len == 16) {
        memcpy(ip->b, b->data, 16);
    }
}

/* Generic find-by-id over the three id-keyed maps.  Every element type
 * starts with its hmap_node followed by 'char *id'. */
struct ds_any {
    struct hmap_node node;
    char *id;
};

static struct ds_any *
ds_find(const struct hmap *m, const char *id)
{
    struct ds_any *a;
    HMAP_FOR_EACH_WITH_HASH (a, node, hash_str(id), m) {
        if (!strcmp(a->id, id)) {
            return a;
        }
    }
    return NULL;
}

/* Remote binding or local port 'id' of 'objs' (ds->remotes or
 * ds->ports) is about to change: remember it in 'journal' as it was, once
 * per conversion.  Past a quarter of all of them a whole conversion is
 * about as cheap. */
static void
ds_journal(struct dstate *ds, struct hmap *journal, const struct hmap *objs,
           const char *id)
{
    struct ds_change *c;
    const struct ds_port *p;
    uint32_t hash = hash_str(id);

    if (!ds->incr) {
        return;
    }
    HMAP_FOR_EACH_WITH_HASH (c, node, hash, journal) {
        if (!strcmp(c->id, id)) {
            return;
        }
    }
    if (hmap_count(journal) >= MAX(64, hmap_count(objs) / 4)) {
        ds_not_incremental(ds);
        return;
    }
    c = xcalloc(1, sizeof *c);
    c->id = xstrdup(id);
    p = (const struct ds_port *)ds_find(objs, id);
    if (p) {
        c->old = xcalloc(1, sizeof *c->old);
        c->old->segment = xstrdup(p->segment);
        c->old->lport = p->lport;
        c->old->mac = p->mac;
        c->old->vtep = p->vtep;
        memcpy(c->old->ifname, p->ifname, sizeof p->ifname);
        c->old->n_ips = p->n_ips;
        c->old->ips = xcalloc(p->n_ips + 1, sizeof *p->ips);
        if (p->n_ips) {
            memcpy(c->old->ips, p->ips, p->n_ips * sizeof *p->ips);
        }
    }
    hmap_insert(journal, &c->node, hash);
}

static void
ds_del_seg(struct dstate *ds, const char *id)
{
    struct ds_seg *s = (struct ds_seg *)ds_find(&ds->segs, id);
    struct ds_port *p;
    struct ds_flood *f;

    if (!s) {
        return;
    }
    /* Deleting a segment drops whatever is left inside it. */
    HMAP_FOR_EACH (p, node, &ds->ports) {
        if (!strcmp(p->segment, id)) {
            hmap_remove(&ds->ports, &p->node);
            ds_port_free(p);
        }
    }
    HMAP_FOR_EACH (p, node, &ds->remotes) {
        if (!strcmp(p->segment, id)) {
            hmap_remove(&ds->remotes, &p->node);
            ds_port_free(p);
        }
    }
    HMAP_FOR_EACH (f, node, &ds->floods) {
        if (!strcmp(f->segment, id)) {
            ds_flood_free(ds, f);
        }
    }
    hmap_remove(&ds->segs, &s->node);
    ds_seg_free(s);
}

/* Removes and frees the element with 'id' from 'm' (any of the id-keyed
 * maps, see ds_any), if present. */
static void
ds_del(struct hmap *m, const char *id, void (*free_fn)(void *))
{
    struct ds_any *a = ds_find(m, id);
    if (a) {
        hmap_remove(m, &a->node);
        free_fn(a);
    }
}

static void
ds_port_free_(void *p)
{
    ds_port_free(p);
}

static void
ds_msg_free_(void *r)
{
    ds_msg_free(r);
}

static void
ds_addr_free_(void *a)
{
    ds_addr_free(a);
}

static struct ds_port *
ds_put_port(struct hmap *m, const char *id, const char *segment, uint32_t lport,
            const ProtobufCBinaryData *mac, size_t n_ips,
            const ProtobufCBinaryData *ips)
{
    struct ds_port *p = (struct ds_port *)ds_find(m, id);

    if (p) {
        free(p->segment);
        free(p->ips);
    } else {
        p = xcalloc(1, sizeof *p);
        p->id = xstrdup(id);
        hmap_insert(m, &p->node, hash_str(id));
    }
    p->segment = xstrdup(segment);
    p->lport = lport;
    memcpy(p->mac.b, mac->data, 6);
    p->n_ips = (uint32_t)n_ips;
    p->ips = n_ips ? xcalloc(n_ips, sizeof *p->ips) : NULL;
    for (size_t i = 0; i < n_ips; i++) {
        ds_ip(&ips[i], &p->ips[i]);
    }
    return p;
}

/* A deep copy of any message (packed and unpacked again). */
static void *
ds_msg_copy(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(n ? n : 1);
    ProtobufCMessage *c;

    protobuf_c_message_pack(m, buf);
    c = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    free(buf);
    if (!c) {
        abort(); /* we just packed it */
    }
    return c;
}

/* Replaces (or adds) entry 'id' of ds_msg map 'm' with a copy of 'w'. */
static void
ds_put_msg(struct hmap *m, const char *id, const ProtobufCMessage *w)
{
    struct ds_msg *r = (struct ds_msg *)ds_find(m, id);

    if (r) {
        protobuf_c_message_free_unpacked(r->msg, NULL);
    } else {
        r = xcalloc(1, sizeof *r);
        r->id = xstrdup(id);
        hmap_insert(m, &r->node, hash_str(id));
    }
    r->msg = ds_msg_copy(w);
}

/* The routing part of an update (already checked by wire_check()). */
static void
ds_routes_apply(struct dstate *ds, const Weft__Update *u)
{
    for (size_t i = 0; i < u->n_del_routes; i++) {
        ds_del(&ds->routes, u->del_routes[i], ds_msg_free_);
    }
    for (size_t i = 0; i < u->n_routes; i++) {
        ds_put_msg(&ds->routes, u->routes[i]->id, &u->routes[i]->base);
    }
}

/* The firewall part of an update (already checked by wire_check()). */
static void
ds_fw_apply(struct dstate *ds, const Weft__Update *u)
{
    for (size_t i = 0; i < u->n_del_rules; i++) {
        ds_del(&ds->rules, u->del_rules[i], ds_msg_free_);
    }
    for (size_t i = 0; i < u->n_rules; i++) {
        ds_put_msg(&ds->rules, u->rules[i]->id, &u->rules[i]->base);
    }
    if (u->n_rules || u->n_del_rules) {
        ds->fw_rules_gen++;
    }
    for (size_t i = 0; i < u->n_del_addr_members; i++) {
        ds_del(&ds->addrs, u->del_addr_members[i], ds_addr_free_);
    }
    for (size_t i = 0; i < u->n_addr_members; i++) {
        const Weft__AddrMember *w = u->addr_members[i];
        struct ds_addr *a = (struct ds_addr *)ds_find(&ds->addrs, w->id);
        if (a) {
            free(a->set);
        } else {
            a = xcalloc(1, sizeof *a);
            a->id = xstrdup(w->id);
            hmap_insert(&ds->addrs, &a->node, hash_str(w->id));
        }
        a->set = xstrdup(w->set);
        memset(&a->pfx, 0, sizeof a->pfx);
        a->pfx.family = w->addr.len == 4 ? 4 : 6;
        a->pfx.plen = (uint8_t)w->plen;
        memcpy(a->pfx.addr, w->addr.data, w->addr.len);
    }
    if (u->n_addr_members || u->n_del_addr_members) {
        ds->fw_addrs_gen++;
    }
}

int
dstate_apply(struct dstate *ds, const Weft__Update *u, char *err,
             size_t err_size)
{
    if (u->full) {
        dstate_clear(ds);
    } else if (u->prev_revision != ds->revision) {
        snprintf(err, err_size,
                 "delta for revision %" PRIu64 " builds on %" PRIu64
                 ", this host has %" PRIu64,
                 u->revision, u->prev_revision, ds->revision);
        return EPROTO;
    }
    if (u->host) {
        struct cfg_ip ip;
        ds_ip(&u->host->local_ip, &ip);
        if (!ds->has_host || memcmp(&ip, &ds->local_ip, sizeof ip)) {
            ds_not_incremental(ds);
        }
        ds->local_ip = ip;
        ds->has_host = true;
        if (ds->fw_default != u->host->fw_default) {
            ds->fw_default = u->host->fw_default;
            ds->fw_rules_gen++;
        }
        if (ds->fw_tcp_strict != !!u->host->fw_tcp_strict) {
            ds->fw_tcp_strict = u->host->fw_tcp_strict;
            ds->fw_addrs_gen++; /* carried by the deployment-wide part */
        }
    }
    if (u->n_routes || u->n_del_routes || u->n_segments || u->n_del_segments) {
        ds_not_incremental(ds);
    }
    ds_fw_apply(ds, u);
    ds_routes_apply(ds, u);
    for (size_t i = 0; i < u->n_del_ports; i++) {
        ds_journal(ds, &ds->port_journal, &ds->ports, u->del_ports[i]);
        ds_del(&ds->ports, u->del_ports[i], ds_port_free_);
    }
    for (size_t i = 0; i < u->n_del_remotes; i++) {
        ds_journal(ds, &ds->journal, &ds->remotes, u->del_remotes[i]);
        ds_del(&ds->remotes, u->del_remotes[i], ds_port_free_);
    }
    for (size_t i = 0; i < u->n_del_floods; i++) {
        struct ds_flood *f =
            (struct ds_flood *)ds_find(&ds->floods, u->del_floods[i]);
        if (f) {
            ds_flood_free(ds, f);
        }
    }
    for (size_t i = 0; i < u->n_del_segments; i++) {
        ds_del_seg(ds, u->del_segments[i]);
    }
    for (size_t i = 0; i < u->n_segments; i++) {
        const Weft__Segment *w = u->segments[i];
        struct ds_seg *s = (struct ds_seg *)ds_find(&ds->segs, w->id);
        if (!s) {
            s = xcalloc(1, sizeof *s);
            s->id = xstrdup(w->id);
            hmap_insert(&ds->segs, &s->node, hash_str(w->id));
        }
        s->vni = w->vni;
        s->encap = w->encap;
        if (s->msg) {
            weft__segment__free_unpacked(s->msg, NULL);
        }
        s->msg = ds_msg_copy(&w->base);
    }
    for (size_t i = 0; i < u->n_ports; i++) {
        const Weft__LocalPort *w = u->ports[i];
        ds_journal(ds, &ds->port_journal, &ds->ports, w->id);
        struct ds_port *p = ds_put_port(&ds->ports, w->id, w->segment, w->lport,
                                        &w->mac, w->n_ips, w->ips);
        snprintf(p->ifname, sizeof p->ifname, "%s", w->ifname);
        for (size_t k = 0; k < p->n_port_sets; k++) {
            free(p->port_sets[k]);
        }
        free(p->port_sets);
        p->n_port_sets = w->n_port_sets;
        p->port_sets = xcalloc(w->n_port_sets + 1, sizeof *p->port_sets);
        for (size_t k = 0; k < w->n_port_sets; k++) {
            p->port_sets[k] = xstrdup(w->port_sets[k]);
        }
        p->spoofguard = w->spoofguard;
    }
    if (u->n_ports || u->n_del_ports) {
        ds->fw_ports_gen++; /* scopes, addresses, SpoofGuard may have changed */
    }
    for (size_t i = 0; i < u->n_remotes; i++) {
        const Weft__RemoteBinding *w = u->remotes[i];
        ds_journal(ds, &ds->journal, &ds->remotes, w->id);
        struct ds_port *p = ds_put_port(&ds->remotes, w->id, w->segment,
                                        w->lport, &w->mac, w->n_ips, w->ips);
        ds_ip(&w->vtep, &p->vtep);
    }
    for (size_t i = 0; i < u->n_floods; i++) {
        const Weft__FloodVtep *w = u->floods[i];
        struct ds_flood *f = (struct ds_flood *)ds_find(&ds->floods, w->id);
        if (!f) {
            f = xcalloc(1, sizeof *f);
            f->id = xstrdup(w->id);
            hmap_insert(&ds->floods, &f->node, hash_str(w->id));
        } else {
            ds_flood_count(ds, f->segment, &f->vtep, -1);
            free(f->segment);
        }
        f->segment = xstrdup(w->segment);
        ds_ip(&w->vtep, &f->vtep);
        ds_flood_count(ds, f->segment, &f->vtep, +1);
    }
    ds->revision = u->revision;
    return 0;
}

/* ---- Conversion to the datapath configuration. ---- */

/* Index entry: segment id -> config index, plus uniqueness sets. */
struct ds_idx {
    struct hmap_node node;
    const void *key; /* pointer into the model */
    size_t len;      /* key bytes */
    uint32_t value;  /* segment index, or owner */
    const char *owner;
};

static struct ds_idx *
idx_find(struct hmap *m, const void *key, size_t len, uint32_t hash)
{
    struct ds_idx *x;
    HMAP_FOR_EACH_WITH_HASH (x, node, hash, m) {
        if (x->len == len && !memcmp(x->key, key, len)) {
            return x;
        }
    }
    return NULL;
}

/* Adds 'key' to set 'm'; returns the existing entry's owner if present. */
static const char *
idx_claim(struct hmap *m, const void *key, size_t len, const char *owner,
          uint32_t value)
{
    uint32_t hash = hash_bytes(key, len, 0);
    struct ds_idx *x = idx_find(m, key, len, hash);

    if (x) {
        return x->owner;
    }
    x = xmalloc(sizeof *x);
    x->key = key;
    x->len = len;
    x->value = value;
    x->owner = owner;
    hmap_insert(m, &x->node, hash);
    return NULL;
}

static void
idx_free(struct hmap *m)
{
    struct ds_idx *x;
    HMAP_FOR_EACH (x, node, m) {
        free(x);
    }
    hmap_destroy(m);
}

/* A wire prefix as a cfg_prefix (plen in the family's terms). */
static void
ds_prefix(const Weft__Prefix *w, struct cfg_prefix *p)
{
    ds_ip(&w->addr, &p->ip);
    p->plen = (uint8_t)w->plen;
}

/* Index of router 'id' in cfg->routers, added if new. */
static uint32_t
ds_router_index(struct agent_config *cfg, struct hmap *routers, const char *id)
{
    struct ds_idx *x =
        idx_find(routers, id, strlen(id), hash_bytes(id, strlen(id), 0));

    if (x) {
        return x->value;
    }
    cfg->routers =
        xrealloc(cfg->routers, (cfg->n_routers + 1) * sizeof *cfg->routers);
    cfg->routers[cfg->n_routers] = xstrdup(id);
    idx_claim(routers, cfg->routers[cfg->n_routers], strlen(id), NULL,
              cfg->n_routers);
    return cfg->n_routers++;
}

/* Routing and DHCP settings of segment message 'w' into 'cs'. */
static void
ds_segment_routing(struct agent_config *cfg, struct hmap *routers,
                   const Weft__Segment *w, struct cfg_segment *cs)
{
    const Weft__DhcpOptions *d = w->dhcp;
    const Weft__Ipv6Services *v6 = w->ipv6;

    if (!w->router[0]) {
        return;
    }
    cs->router = ds_router_index(cfg, routers, w->router);
    memcpy(cs->router_mac.b, w->router_mac.data, 6);
    cs->gateways = xcalloc(w->n_gateways + 1, sizeof *cs->gateways);
    for (size_t i = 0; i < w->n_gateways; i++) {
        ds_prefix(w->gateways[i], &cs->gateways[cs->n_gateways++]);
    }
    if (d) {
        cs->dhcp.enabled = d->enabled;
        cs->dhcp.lease_time = d->lease_time;
        cs->dhcp.mtu = (uint16_t)MIN(d->mtu, 65535u);
        snprintf(cs->dhcp.domain, sizeof cs->dhcp.domain, "%s", d->domain);
        cs->dhcp.dns = xcalloc(d->n_dns + 1, sizeof *cs->dhcp.dns);
        for (size_t i = 0; i < d->n_dns; i++) {
            ds_ip(&d->dns[i], &cs->dhcp.dns[cs->dhcp.n_dns++]);
        }
        cs->dhcp.routes = xcalloc(d->n_routes + 1, sizeof *cs->dhcp.routes);
        for (size_t i = 0; i < d->n_routes; i++) {
            struct cfg_dhcp_route *r = &cs->dhcp.routes[cs->dhcp.n_routes++];
            ds_prefix(d->routes[i]->dst, &r->dst);
            ds_ip(&d->routes[i]->gateway, &r->gateway);
        }
    }
    if (v6) {
        cs->ipv6.ra = v6->ra;
        cs->ipv6.slaac = v6->slaac;
        cs->ipv6.managed = v6->managed;
        cs->ipv6.other = v6->other;
        cs->ipv6.dhcp6 = v6->dhcp6;
    }
}

/* The static routes of the routers present in 'cfg': one cfg_route per
 * next hop (each has its own distance) and one per discard route. */
static void
ds_routes_to_config(const struct dstate *ds, struct agent_config *cfg,
                    struct hmap *routers)
{
    const struct ds_msg *r;
    size_t cap = 0;

    HMAP_FOR_EACH (r, node, &ds->routes) {
        const Weft__Route *w = (const Weft__Route *)r->msg;
        const char *id = w->router;
        struct ds_idx *x =
            idx_find(routers, id, strlen(id), hash_bytes(id, strlen(id), 0));
        size_t n = w->n_next_hops + (w->discard_distance ? 1 : 0);

        if (!x) {
            continue; /* router without a segment here */
        }
        if (cfg->n_routes + n > cap) {
            cap = MAX(cap * 2, cfg->n_routes + n);
            cfg->routes = xrealloc(cfg->routes, cap * sizeof *cfg->routes);
        }
        for (size_t i = 0; i < n; i++) {
            struct cfg_route *cr = &cfg->routes[cfg->n_routes++];
            memset(cr, 0, sizeof *cr);
            cr->router = x->value;
            ds_prefix(w->prefix, &cr->prefix);
            if (i < w->n_next_hops) {
                cr->next_hops = xmalloc(sizeof *cr->next_hops);
                ds_ip(&w->next_hops[i]->addr, &cr->next_hops[0]);
                cr->n_next_hops = 1;
                cr->distance = w->next_hops[i]->distance;
            } else {
                cr->distance = w->discard_distance;
            }
        }
    }
}

/* Local port 'p' as a configuration port, but for its addresses
 * (cp->ips NULL, cp->n_ips set). */
static void
ds_cfg_port(const struct ds_port *p, struct cfg_port *cp)
{
    const char *slash = p->id ? strrchr(p->id, '/') : NULL;

    memset(cp, 0, sizeof *cp);
    cp->id = p->lport;
    snprintf(cp->name, sizeof cp->name, "%s", slash ? slash + 1 : "");
    snprintf(cp->ifname, sizeof cp->ifname, "%s", p->ifname);
    cp->mac = p->mac;
    cp->n_ips = p->n_ips;
}

/* Key of a MAC within a segment: segment index + MAC. */
struct seg_mac {
    uint32_t seg;
    uint8_t mac[6];
    uint16_t pad;
};

struct agent_config *
dstate_to_config(struct dstate *ds, const struct dstate_options *o,
                 struct dstate_failures *f)
{
    struct hmap segidx = HMAP_INITIALIZER, vnis = HMAP_INITIALIZER;
    struct hmap ifnames = HMAP_INITIALIZER, lports = HMAP_INITIALIZER;
    struct hmap macs = HMAP_INITIALIZER, routers = HMAP_INITIALIZER;
    struct seg_mac *mac_keys;
    size_t n_mac_keys = 0;
    struct agent_config *cfg;
    struct ds_seg *s;
    struct ds_port *p;
    struct ds_flood *fl;
    uint32_t *cap_ports, *cap_remotes, *cap_floods;
    const char *other;

    ds_not_incremental(ds);
    if (!ds->has_host) {
        return NULL;
    }
    ds->incr = true; /* changes from here on can patch the result */
    cfg = xcalloc(1, sizeof *cfg);
    cfg->local_ip = ds->local_ip;
    cfg->geneve_port = 6081;
    cfg->vxlan_port = 4789;
    cfg->mtu = o->mtu ? o->mtu : 1500;
    cfg->offloads = o->offloads;
    cfg->kernel_fastpath = o->kernel_fastpath;
    cfg->segments = xcalloc(hmap_count(&ds->segs) + 1, sizeof *cfg->segments);
    mac_keys = xcalloc(hmap_count(&ds->ports) + hmap_count(&ds->remotes) + 1,
                       sizeof *mac_keys);

    /* Segments, VNIs unique. */
    HMAP_FOR_EACH (s, node, &ds->segs) {
        uint32_t i = cfg->n_segments;
        s->cfg_index = UINT32_MAX;
        if ((other = idx_claim(&vnis, &s->vni, sizeof s->vni, s->id, i))) {
            dstate_fail(f, s->id, "VNI %" PRIu32 " is already used by %s",
                        s->vni, other);
            continue;
        }
        struct cfg_segment *cs = &cfg->segments[i];
        cs->router = CFG_NO_ROUTER; /* set below when routed */
        /* The datapath names segments for the control socket: the path's
         * last element, prefixed by the project unless it is default. */
        const char *proj = s->id + strlen("/projects/");
        const char *seg = strrchr(s->id, '/') + 1;
        if (!strncmp(s->id, "/projects/", 10) &&
            !strncmp(proj, "default/", 8)) {
            snprintf(cs->name, sizeof cs->name, "%s", seg);
        } else if (!strncmp(s->id, "/projects/", 10)) {
            snprintf(cs->name, sizeof cs->name, "%.*s/%s",
                     (int)strcspn(proj, "/"), proj, seg);
        } else {
            snprintf(cs->name, sizeof cs->name, "%s", s->id);
        }
        cs->vni = s->vni;
        cs->encap =
            s->encap == WEFT__ENCAP__VXLAN ? CFG_ENCAP_VXLAN : CFG_ENCAP_GENEVE;
        if (s->msg) {
            ds_segment_routing(cfg, &routers, s->msg, cs);
        }
        idx_claim(&segidx, s->id, strlen(s->id), s->id, i);
        s->cfg_index = i;
        cfg->n_segments++;
    }
    ds_routes_to_config(ds, cfg, &routers);
    cap_ports = xcalloc(cfg->n_segments + 1, sizeof *cap_ports);
    cap_remotes = xcalloc(cfg->n_segments + 1, sizeof *cap_remotes);
    cap_floods = xcalloc(cfg->n_segments + 1, sizeof *cap_floods);

#define SEG_OF(ID, OUT)                                                        \
    do {                                                                       \
        struct ds_idx *x_ = idx_find(&segidx, (ID), strlen(ID),                \
                                     hash_bytes((ID), strlen(ID), 0));         \
        (OUT) = x_ ? (int64_t)x_->value : -1;                                  \
    } while (0)

    HMAP_FOR_EACH (p, node, &ds->ports) {
        int64_t si;
        struct seg_mac *mk = &mac_keys[n_mac_keys];
        SEG_OF(p->segment, si);
        if (si < 0) {
            dstate_fail(f, p->id, "segment %s is not realized on this host",
                        p->segment);
            continue;
        }
        if ((other =
                 idx_claim(&ifnames, p->ifname, strlen(p->ifname), p->id, 0))) {
            dstate_fail(f, p->id, "interface %s is already used by %s",
                        p->ifname, other);
            continue;
        }
        mk->seg = (uint32_t)si;
        memcpy(mk->mac, p->mac.b, 6);
        if ((other = idx_claim(&macs, mk, sizeof *mk, p->id, 0))) {
            dstate_fail(f, p->id, "MAC already used on the segment by %s",
                        other);
            continue;
        }
        n_mac_keys++;
        if ((other =
                 idx_claim(&lports, &p->lport, sizeof p->lport, p->id, 0))) {
            dstate_fail(f, p->id, "logical port id %" PRIu32 " used by %s",
                        p->lport, other);
            continue;
        }
        struct cfg_segment *cs = &cfg->segments[si];
        if (cs->n_ports == cap_ports[si]) {
            cap_ports[si] = cap_ports[si] ? cap_ports[si] * 2 : 4;
            cs->ports = xrealloc(cs->ports, cap_ports[si] * sizeof *cs->ports);
        }
        struct cfg_port *cp = &cs->ports[cs->n_ports++];
        ds_cfg_port(p, cp);
        if (p->n_ips) {
            cp->ips = xmalloc(p->n_ips * sizeof *cp->ips);
            memcpy(cp->ips, p->ips, p->n_ips * sizeof *cp->ips);
        }
    }
    HMAP_FOR_EACH (p, node, &ds->remotes) {
        int64_t si;
        struct seg_mac *mk = &mac_keys[n_mac_keys];
        SEG_OF(p->segment, si);
        if (si < 0) {
            dstate_fail(f, p->id, "segment %s is not realized on this host",
                        p->segment);
            continue;
        }
        if (!memcmp(&p->vtep, &ds->local_ip, sizeof p->vtep)) {
            dstate_fail(f, p->id,
                        "remote binding points at this host's own endpoint");
            continue;
        }
        mk->seg = (uint32_t)si;
        memcpy(mk->mac, p->mac.b, 6);
        if ((other = idx_claim(&macs, mk, sizeof *mk, p->id, 0))) {
            dstate_fail(f, p->id, "MAC already used on the segment by %s",
                        other);
            continue;
        }
        n_mac_keys++;
        struct cfg_segment *cs = &cfg->segments[si];
        if (cs->n_remotes == cap_remotes[si]) {
            cap_remotes[si] = cap_remotes[si] ? cap_remotes[si] * 2 : 4;
            cs->remotes =
                xrealloc(cs->remotes, cap_remotes[si] * sizeof *cs->remotes);
        }
        struct cfg_remote *cr = &cs->remotes[cs->n_remotes++];
        memset(cr, 0, sizeof *cr);
        cr->mac = p->mac;
        cr->vtep = p->vtep;
        cr->port_id = p->lport;
        cr->n_ips = p->n_ips;
        if (p->n_ips) {
            cr->ips = xmalloc(p->n_ips * sizeof *cr->ips);
            memcpy(cr->ips, p->ips, p->n_ips * sizeof *cr->ips);
        }
    }
    HMAP_FOR_EACH (fl, node, &ds->floods) {
        int64_t si;
        SEG_OF(fl->segment, si);
        if (si < 0 || !memcmp(&fl->vtep, &ds->local_ip, sizeof fl->vtep)) {
            continue; /* nothing to flood to */
        }
        struct cfg_segment *cs = &cfg->segments[si];
        bool dup = false;
        for (uint32_t k = 0; k < cs->n_flood_vteps; k++) {
            dup |= !memcmp(&cs->flood_vteps[k], &fl->vtep, sizeof fl->vtep);
        }
        if (dup) {
            continue;
        }
        if (cs->n_flood_vteps == cap_floods[si]) {
            cap_floods[si] = cap_floods[si] ? cap_floods[si] * 2 : 4;
            cs->flood_vteps = xrealloc(
                cs->flood_vteps, cap_floods[si] * sizeof *cs->flood_vteps);
        }
        cs->flood_vteps[cs->n_flood_vteps++] = fl->vtep;
    }
#undef SEG_OF
    free(cap_ports);
    free(cap_remotes);
    free(cap_floods);
    idx_free(&segidx);
    idx_free(&vnis);
    idx_free(&ifnames);
    idx_free(&lports);
    idx_free(&macs);
    idx_free(&routers);
    free(mac_keys);
    return cfg;
}

/* The configuration segment index of segment 'id', or UINT32_MAX. */
static uint32_t
ds_cfg_segment(const struct dstate *ds, const char *id)
{
    const struct ds_seg *s = (const struct ds_seg *)ds_find(&ds->segs, id);
    return s ? s->cfg_index : UINT32_MAX;
}

/* Operation 'op' of 'kind' on remote binding or local port 'p'. */
static void
ds_port_op(struct dstate_op *op, enum dstate_op_kind kind, bool add,
           uint32_t segment, const struct ds_port *p)
{
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->add = add;
    op->segment = segment;
    if (kind == DSTATE_OP_REMOTE) {
        op->remote.mac = p->mac;
        op->remote.ips = p->ips;
        op->remote.n_ips = p->n_ips;
        op->remote.vtep = p->vtep;
        op->remote.port_id = p->lport;
    } else {
        ds_cfg_port(p, &op->port);
        op->port.ips = p->ips;
    }
}

/* Appends to ops[*n] the deletions ('add' false: the objects of 'journal'
 * as they were) or the additions (as they are now in 'objs') of 'kind'.
 * False if one of them is an object the conversion leaves out (it is to
 * report why). */
static bool
ds_journal_ops(const struct dstate *ds, const struct hmap *journal,
               const struct hmap *objs, enum dstate_op_kind kind, bool add,
               struct dstate_op *ops, size_t *n)
{
    const struct ds_change *c;

    HMAP_FOR_EACH (c, node, journal) {
        const struct ds_port *p =
            add ? (const struct ds_port *)ds_find(objs, c->id) : c->old;
        uint32_t si;

        if (!p) {
            continue;
        }
        si = ds_cfg_segment(ds, p->segment);
        if (si == UINT32_MAX ||
            (kind == DSTATE_OP_REMOTE &&
             !memcmp(&p->vtep, &ds->local_ip, sizeof p->vtep))) {
            return false;
        }
        ds_port_op(&ops[(*n)++], kind, add, si, p);
    }
    return true;
}

/* Whether the configuration floods to c->vtep in c->segment when 'n'
 * flood entries name it; '*si': the segment's index. */
static bool
ds_flood_in_config(const struct dstate *ds, const struct ds_fcount *c,
                   uint32_t n, uint32_t *si)
{
    *si = ds_cfg_segment(ds, c->segment);
    return n && *si != UINT32_MAX &&
           memcmp(&c->vtep, &ds->local_ip, sizeof c->vtep);
}

/* Appends to ops[*n] the endpoints that left ('add' false) or joined a
 * segment's flood list since the conversion. */
static void
ds_flood_ops(const struct dstate *ds, bool add, struct dstate_op *ops,
             size_t *n)
{
    for (size_t i = 0; i < ds->n_ftouched; i++) {
        const struct ds_fcount *c = ds->ftouched[i];
        uint32_t si;
        bool was = ds_flood_in_config(ds, c, c->n_before, &si);

        if (ds_flood_in_config(ds, c, c->n, &si) == add && was != add) {
            struct dstate_op *op = &ops[(*n)++];
            memset(op, 0, sizeof *op);
            op->kind = DSTATE_OP_FLOOD;
            op->add = add;
            op->segment = si;
            op->vtep = c->vtep;
        }
    }
}

bool
dstate_changes(struct dstate *ds, const struct dstate_op **opsp, size_t *n_opsp)
{
    size_t n = 0, max = 2 * (hmap_count(&ds->journal) +
                             hmap_count(&ds->port_journal)) +
                        ds->n_ftouched;
    struct dstate_op *ops;

    if (!ds->incr) {
        return false;
    }
    free(ds->ops);
    ds->ops = ops = xcalloc(max + 1, sizeof *ds->ops);
    /* Deletions first: an addition may reuse a MAC, an address or an
     * interface one of them frees.  Local ports before remote bindings,
     * as the conversion claims their MACs first. */
    if (!ds_journal_ops(ds, &ds->journal, &ds->remotes, DSTATE_OP_REMOTE, false,
                        ops, &n) ||
        !ds_journal_ops(ds, &ds->port_journal, &ds->ports, DSTATE_OP_PORT,
                        false, ops, &n) ||
        !ds_journal_ops(ds, &ds->port_journal, &ds->ports, DSTATE_OP_PORT, true,
                        ops, &n) ||
        !ds_journal_ops(ds, &ds->journal, &ds->remotes, DSTATE_OP_REMOTE, true,
                        ops, &n)) {
        return false;
    }
    ds_flood_ops(ds, false, ops, &n);
    ds_flood_ops(ds, true, ops, &n);
    *opsp = ops;
    *n_opsp = n;
    return true;
}

void
dstate_changes_done(struct dstate *ds)
{
    ds_journal_clear(ds);
}

/* ---- Snapshots and the cache file. ---- */

/* The model as one snapshot update whose strings, bytes and messages
 * point into the model (valid until it changes): a handful of
 * allocations instead of several per binding, so that writing the cache
 * of 100,000 bindings leaves no heap of small free chunks behind (glibc
 * consolidates those on the next large allocation: ~30 ms paid by the
 * next realization).  Free with snapshot_ref_free(). */
struct snapshot_ref {
    Weft__Update u;
    Weft__HostConfig host;
    Weft__LocalPort *ports;
    Weft__RemoteBinding *remotes;
    Weft__FloodVtep *floods;
    Weft__AddrMember *addrs;
    ProtobufCBinaryData *bins; /* addresses of ports and remotes */
};

/* An address as on the wire (4 or 16 bytes), pointing into 'ip'. */
static ProtobufCBinaryData
ds_wire_ip_ref(const struct cfg_ip *ip)
{
    bool v4 = cfg_ip_is_v4(ip, NULL);
    ProtobufCBinaryData b = {v4 ? 4 : 16, (uint8_t *)(v4 ? ip->b + 12 : ip->b)};
    return b;
}

static ProtobufCBinaryData
ds_bin_ref(const void *data, size_t n)
{
    ProtobufCBinaryData b = {n, (uint8_t *)data};
    return b;
}

/* The addresses of 'p' in the next n_ips entries of '*bins'. */
static ProtobufCBinaryData *
ds_wire_ips_ref(const struct ds_port *p, ProtobufCBinaryData **bins)
{
    ProtobufCBinaryData *ips = *bins;
    for (uint32_t i = 0; i < p->n_ips; i++) {
        ips[i] = ds_wire_ip_ref(&p->ips[i]);
    }
    *bins += p->n_ips;
    return ips;
}

static void
snapshot_ref_free(struct snapshot_ref *r)
{
    free(r->u.segments);
    free(r->u.routes);
    free(r->u.ports);
    free(r->u.remotes);
    free(r->u.floods);
    free(r->u.rules);
    free(r->u.addr_members);
    free(r->ports);
    free(r->remotes);
    free(r->floods);
    free(r->addrs);
    free(r->bins);
}

/* Fills 'r'; false if the model is empty. */
static bool
snapshot_ref(const struct dstate *ds, struct snapshot_ref *r)
{
    Weft__Update *u = &r->u;
    ProtobufCBinaryData *bins;
    struct ds_seg *s;
    struct ds_port *p;
    struct ds_flood *f;
    struct ds_msg *m;
    struct ds_addr *a;
    size_t n_bins = 1;

    memset(r, 0, sizeof *r);
    if (!ds->revision || !ds->has_host) {
        return false;
    }
    weft__update__init(u);
    u->revision = ds->revision;
    u->full = true;
    weft__host_config__init(&r->host);
    u->host = &r->host;
    r->host.local_ip = ds_wire_ip_ref(&ds->local_ip);
    r->host.fw_default = ds->fw_default;
    r->host.fw_tcp_strict = ds->fw_tcp_strict;
    u->segments = xcalloc(hmap_count(&ds->segs) + 1, sizeof *u->segments);
    HMAP_FOR_EACH (s, node, &ds->segs) {
        u->segments[u->n_segments++] = s->msg;
    }
    u->routes = xcalloc(hmap_count(&ds->routes) + 1, sizeof *u->routes);
    HMAP_FOR_EACH (m, node, &ds->routes) {
        u->routes[u->n_routes++] = (Weft__Route *)m->msg;
    }
    HMAP_FOR_EACH (p, node, &ds->ports) {
        n_bins += p->n_ips;
    }
    HMAP_FOR_EACH (p, node, &ds->remotes) {
        n_bins += p->n_ips;
    }
    r->bins = bins = xcalloc(n_bins, sizeof *r->bins);
    r->ports = xcalloc(hmap_count(&ds->ports) + 1, sizeof *r->ports);
    u->ports = xcalloc(hmap_count(&ds->ports) + 1, sizeof *u->ports);
    HMAP_FOR_EACH (p, node, &ds->ports) {
        Weft__LocalPort *w = &r->ports[u->n_ports];
        weft__local_port__init(w);
        w->id = p->id;
        w->segment = p->segment;
        w->lport = p->lport;
        w->mac = ds_bin_ref(p->mac.b, 6);
        w->n_ips = p->n_ips;
        w->ips = ds_wire_ips_ref(p, &bins);
        w->ifname = (char *)p->ifname;
        w->spoofguard = p->spoofguard;
        w->n_port_sets = p->n_port_sets;
        w->port_sets = p->port_sets;
        u->ports[u->n_ports++] = w;
    }
    r->remotes = xcalloc(hmap_count(&ds->remotes) + 1, sizeof *r->remotes);
    u->remotes = xcalloc(hmap_count(&ds->remotes) + 1, sizeof *u->remotes);
    HMAP_FOR_EACH (p, node, &ds->remotes) {
        Weft__RemoteBinding *w = &r->remotes[u->n_remotes];
        weft__remote_binding__init(w);
        w->id = p->id;
        w->segment = p->segment;
        w->lport = p->lport;
        w->mac = ds_bin_ref(p->mac.b, 6);
        w->n_ips = p->n_ips;
        w->ips = ds_wire_ips_ref(p, &bins);
        w->vtep = ds_wire_ip_ref(&p->vtep);
        u->remotes[u->n_remotes++] = w;
    }
    r->floods = xcalloc(hmap_count(&ds->floods) + 1, sizeof *r->floods);
    u->floods = xcalloc(hmap_count(&ds->floods) + 1, sizeof *u->floods);
    HMAP_FOR_EACH (f, node, &ds->floods) {
        Weft__FloodVtep *w = &r->floods[u->n_floods];
        weft__flood_vtep__init(w);
        w->id = f->id;
        w->segment = f->segment;
        w->vtep = ds_wire_ip_ref(&f->vtep);
        u->floods[u->n_floods++] = w;
    }
    u->rules = xcalloc(hmap_count(&ds->rules) + 1, sizeof *u->rules);
    HMAP_FOR_EACH (m, node, &ds->rules) {
        u->rules[u->n_rules++] = (Weft__FwRule *)m->msg;
    }
    r->addrs = xcalloc(hmap_count(&ds->addrs) + 1, sizeof *r->addrs);
    u->addr_members =
        xcalloc(hmap_count(&ds->addrs) + 1, sizeof *u->addr_members);
    HMAP_FOR_EACH (a, node, &ds->addrs) {
        Weft__AddrMember *w = &r->addrs[u->n_addr_members];
        weft__addr_member__init(w);
        w->id = a->id;
        w->set = a->set;
        w->addr = ds_bin_ref(a->pfx.addr, a->pfx.family == 4 ? 4 : 16);
        w->plen = a->pfx.plen;
        u->addr_members[u->n_addr_members++] = w;
    }
    return true;
}

Weft__Update *
dstate_snapshot(const struct dstate *ds)
{
    struct snapshot_ref r;
    Weft__Update *u = NULL;

    if (snapshot_ref(ds, &r)) {
        u = ds_msg_copy(&r.u.base); /* owned: packed and unpacked */
    }
    snapshot_ref_free(&r);
    return u;
}

/* Cache file: a frame as on the wire (4-byte length, then an Envelope
 * holding the snapshot with seq 1), so loading reuses the same decoder and
 * checks as the channel. */
int
dstate_save(const struct dstate *ds, const char *path)
{
    struct snapshot_ref r;
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    struct wire_buf buf = {0};
    char tmp[PATH_MAX + 8];
    int fd, error = 0;

    if (!snapshot_ref(ds, &r)) {
        return 0;
    }
    env.seq = 1;
    env.body_case = WEFT__ENVELOPE__BODY_UPDATE;
    env.update = &r.u;
    wire_encode(&buf, &env);
    snapshot_ref_free(&r);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = errno;
    } else {
        size_t off = 0;
        while (!error && off < buf.len) {
            ssize_t n = write(fd, buf.data + off, buf.len - off);
            if (n < 0) {
                error = errno;
            } else {
                off += (size_t)n;
            }
        }
        if (!error && fsync(fd)) {
            error = errno;
        }
        close(fd);
        if (!error && rename(tmp, path)) {
            error = errno;
        }
        if (error) {
            unlink(tmp);
        }
    }
    wire_buf_free(&buf);
    return error;
}

int
dstate_load(struct dstate *ds, const char *path)
{
    struct wire_decoder dec;
    Weft__Envelope *env = NULL;
    char buf[65536], err[256];
    size_t total = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), error;
    ssize_t n;

    dstate_clear(ds);
    if (fd < 0) {
        return errno;
    }
    wire_decoder_init(&dec, WIRE_MAX_FRAME);
    while ((n = read(fd, buf, sizeof buf)) > 0 && total < DSTATE_FILE_MAX) {
        wire_decoder_feed(&dec, buf, (size_t)n);
        total += (size_t)n;
    }
    close(fd);
    error = wire_decoder_next(&dec, &env, err, sizeof err);
    wire_decoder_destroy(&dec);
    if (error || env->body_case != WEFT__ENVELOPE__BODY_UPDATE ||
        !env->update->full) {
        wire_free(env);
        return EINVAL;
    }
    error = dstate_apply(ds, env->update, err, sizeof err);
    wire_free(env);
    return error ? EINVAL : 0;
}

void
dstate_counts(const struct dstate *ds, size_t *segments, size_t *ports,
              size_t *remotes, size_t *floods)
{
    *segments = hmap_count(&ds->segs);
    *ports = hmap_count(&ds->ports);
    *remotes = hmap_count(&ds->remotes);
    *floods = hmap_count(&ds->floods);
}

/* ---- The firewall view. ---- */

Weft__FwAction
dstate_fw_default(const struct dstate *ds)
{
    return ds->fw_default;
}

bool
dstate_fw_tcp_strict(const struct dstate *ds)
{
    return ds->fw_tcp_strict;
}

void
dstate_fw_gens(const struct dstate *ds, struct dstate_fw_gens *g)
{
    g->rules = ds->fw_rules_gen;
    g->addrs = ds->fw_addrs_gen;
    g->ports = ds->fw_ports_gen;
}

void
dstate_fw_rules(const struct dstate *ds,
                void (*fn)(void *aux, const Weft__FwRule *), void *aux)
{
    struct ds_msg *r;
    HMAP_FOR_EACH (r, node, &ds->rules) {
        fn(aux, (const Weft__FwRule *)r->msg);
    }
}

void
dstate_fw_addrs(const struct dstate *ds,
                void (*fn)(void *aux, const char *set,
                           const struct as_prefix *),
                void *aux)
{
    struct ds_addr *a;
    HMAP_FOR_EACH (a, node, &ds->addrs) {
        fn(aux, a->set, &a->pfx);
    }
}

void
dstate_fw_ports(const struct dstate *ds,
                void (*fn)(void *aux, const struct dstate_fw_port *), void *aux)
{
    struct ds_port *p;
    HMAP_FOR_EACH (p, node, &ds->ports) {
        struct dstate_fw_port fp = {
            p->id,          p->lport,     &p->mac,
            p->ips,         p->n_ips,     (const char *const *)p->port_sets,
            p->n_port_sets, p->spoofguard};
        fn(aux, &fp);
    }
}
