/* The controller's model and incremental span computation (cpm.h).
 *
 * Objects: hosts, segments and ports, each in a hash map by id/path.  A
 * host or segment may exist only as a placeholder (referenced by a port,
 * not yet or no longer in the store).  Each (segment, host) pair with
 * active ports has a 'struct cpm_sh' counting them, reachable from both
 * sides; that count is what "host H is in segment S's span" means.
 *
 * Every host has a set of dirty keys (see cpm.h for the key forms, with a
 * one-letter kind prefix: 's' segment, 'l' local port, 'r' remote binding,
 * 'f' flood entry) and a "host config dirty" flag; hosts with any of these
 * sit on a list that cpm_flush() walks. */
#include "controller/cpm.h"
#include "controller/cpm-int.h"
#include "controller/cfw.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hmap.h"
#include "lib/log.h"
#include "lib/util.h"

struct cpm *
cpm_create(void)
{
    struct cpm *m = xcalloc(1, sizeof *m);
    hmap_init(&m->hosts);
    hmap_init(&m->segs);
    hmap_init(&m->ports);
    hmap_init(&m->lports);
    m->fw = cfw_create();
    hmap_init(&m->routers);
    hmap_init(&m->routes);
    return m;
}

/* ---- Lookups and placeholders. ---- */

struct cpm_host *
cpm_host_find(const struct cpm *m, const char *id)
{
    struct cpm_host *h;
    HMAP_FOR_EACH_WITH_HASH (h, node, hash_str(id), &m->hosts) {
        if (!strcmp(h->id, id)) {
            return h;
        }
    }
    return NULL;
}

static struct cpm_host *
cpm_host_get(struct cpm *m, const char *id)
{
    struct cpm_host *h = cpm_host_find(m, id);

    if (!h) {
        h = xcalloc(1, sizeof *h);
        h->id = xstrdup(id);
        hmap_init(&h->segs);
        hmap_init(&h->dirty);
        list_init(&h->ports);
        hmap_insert(&m->hosts, &h->node, hash_str(id));
    }
    return h;
}

static struct cpm_seg *
cpm_seg_find(const struct cpm *m, const char *path)
{
    struct cpm_seg *s;
    HMAP_FOR_EACH_WITH_HASH (s, node, hash_str(path), &m->segs) {
        if (!strcmp(s->path, path)) {
            return s;
        }
    }
    return NULL;
}

static struct cpm_seg *
cpm_seg_get(struct cpm *m, const char *path)
{
    struct cpm_seg *s = cpm_seg_find(m, path);

    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->path = xstrdup(path);
        list_init(&s->ports);
        list_init(&s->router_link);
        hmap_init(&s->hosts);
        hmap_insert(&m->segs, &s->node, hash_str(path));
    }
    return s;
}

struct cpm_port *
cpm_port_find(const struct cpm *m, const char *path)
{
    struct cpm_port *p;
    HMAP_FOR_EACH_WITH_HASH (p, node, hash_str(path), &m->ports) {
        if (!strcmp(p->path, path)) {
            return p;
        }
    }
    return NULL;
}

static uint32_t
ptr_hash(const void *p)
{
    return hash_u64((uintptr_t)p, 0);
}

static struct cpm_sh *
cpm_sh_find(const struct cpm_seg *s, const struct cpm_host *h)
{
    struct cpm_sh *sh;
    HMAP_FOR_EACH_WITH_HASH (sh, by_host, ptr_hash(h), &s->hosts) {
        if (sh->host == h) {
            return sh;
        }
    }
    return NULL;
}

/* Frees placeholders nothing refers to any more. */
static void
cpm_host_gc(struct cpm *m, struct cpm_host *h)
{
    if (h->exists || h->ports.next != &h->ports || hmap_count(&h->segs) ||
        h->on_dirty_list) {
        return;
    }
    hmap_remove(&m->hosts, &h->node);
    hmap_destroy(&h->segs);
    hmap_destroy(&h->dirty);
    free(h->id);
    free(h);
}

static void
cpm_seg_gc(struct cpm *m, struct cpm_seg *s)
{
    if (s->exists || s->ports.next != &s->ports || hmap_count(&s->hosts) ||
        s->router) {
        return;
    }
    hmap_remove(&m->segs, &s->node);
    hmap_destroy(&s->hosts);
    free(s->path);
    free(s);
}

/* ---- Dirty marks. ---- */

void
cpm_mark(struct cpm *m, struct cpm_host *h, char kind, const char *id,
         const char *suffix)
{
    size_t n = strlen(id), ns = suffix ? strlen(suffix) + 1 : 0;
    char key[1 + 2 * 512 + 2];
    struct cpm_dirty *d;
    uint32_t hash;

    if (m->loading || n + ns + 2 > sizeof key) {
        return; /* loading: snapshots follow; ids are bounded by the API */
    }
    key[0] = kind;
    memcpy(key + 1, id, n);
    if (suffix) {
        key[1 + n] = '|';
        memcpy(key + 2 + n, suffix, ns - 1);
    }
    key[1 + n + ns] = '\0';
    hash = hash_str(key);
    HMAP_FOR_EACH_WITH_HASH (d, node, hash, &h->dirty) {
        if (!strcmp(d->key, key)) {
            return;
        }
    }
    d = xmalloc(sizeof *d + n + ns + 2);
    memcpy(d->key, key, n + ns + 2);
    hmap_insert(&h->dirty, &d->node, hash);
    if (!h->on_dirty_list) {
        h->on_dirty_list = true;
        h->next_dirty = m->dirty_hosts;
        m->dirty_hosts = h;
    }
}

void
cpm_mark_config(struct cpm *m, struct cpm_host *h)
{
    h->config_dirty = true;
    if (!h->on_dirty_list) {
        h->on_dirty_list = true;
        h->next_dirty = m->dirty_hosts;
        m->dirty_hosts = h;
    }
}

/* Marks, on 'h', every entry of segment 's' (host joins or leaves);
 * 'floods': also the flood entries (a change of local presence). */
static void
cpm_mark_segment_all(struct cpm *m, struct cpm_host *h, struct cpm_seg *s,
                     bool floods)
{
    struct cpm_port *p;
    struct cpm_sh *sh;

    cpm_mark(m, h, 's', s->path, NULL);
    LIST_FOR_EACH (p, seg_link, &s->ports) {
        if (p->active) {
            cpm_mark(m, h, p->host == h ? 'l' : 'r', p->path, NULL);
        }
    }
    HMAP_FOR_EACH (sh, by_host, &s->hosts) {
        if (floods && sh->host != h && sh->count) {
            cpm_mark(m, h, 'f', s->path, sh->host->id);
        }
    }
}

static struct cpm_sh *
cpm_sh_get(struct cpm_seg *s, struct cpm_host *h)
{
    struct cpm_sh *sh = cpm_sh_find(s, h);

    if (!sh) {
        sh = xcalloc(1, sizeof *sh);
        sh->seg = s;
        sh->host = h;
        hmap_insert(&s->hosts, &sh->by_host, ptr_hash(h));
        hmap_insert(&h->segs, &sh->by_seg, ptr_hash(s));
    }
    return sh;
}

/* Frees 'sh' once nothing needs it. */
static void
cpm_sh_release(struct cpm_sh *sh)
{
    if (!sh->count && !sh->routed) {
        hmap_remove(&sh->seg->hosts, &sh->by_host);
        hmap_remove(&sh->host->segs, &sh->by_seg);
        free(sh);
    }
}

/* Marks, on every other host with local ports on 's', the flood entry
 * towards 'h'. */
static void
cpm_mark_floods_to(struct cpm *m, struct cpm_seg *s, struct cpm_host *h)
{
    struct cpm_sh *o;
    HMAP_FOR_EACH (o, by_host, &s->hosts) {
        if (o->host != h && o->count) {
            cpm_mark(m, o->host, 'f', s->path, h->id);
        }
    }
}

/* Adds 'delta' (+1/-1) active ports of 's' on 'h', marking what a host
 * joining or leaving the segment changes. */
static void
cpm_sh_add(struct cpm *m, struct cpm_seg *s, struct cpm_host *h, int delta)
{
    struct cpm_sh *sh = cpm_sh_get(s, h);

    sh->count = (uint32_t)((int)sh->count + delta);
    if (delta > 0 && sh->count == 1) {
        if (!sh->routed) {
            sh->join_rev = m->cur_rev;
        }
        /* Joins: it needs the whole segment, the others flood to it. */
        cpm_mark_segment_all(m, h, s, true);
        cpm_mark_floods_to(m, s, h);
        crt_local_join(m, s, h, +1);
    } else if (delta < 0 && !sh->count) {
        cpm_mark_segment_all(m, h, s, true);
        cpm_mark_floods_to(m, s, h);
        cpm_sh_release(sh);
        crt_local_join(m, s, h, -1);
    }
}

void
cpm_sh_routed(struct cpm *m, struct cpm_seg *s, struct cpm_host *h, int delta)
{
    struct cpm_sh *sh = cpm_sh_get(s, h);
    bool was = sh->count || sh->routed;

    sh->routed = (uint32_t)((int)sh->routed + delta);
    if (was != (sh->count || sh->routed)) {
        if (!was) {
            sh->join_rev = m->cur_rev;
        }
        cpm_mark_segment_all(m, h, s, false);
    }
    cpm_sh_release(sh);
}

/* Marks port 'p's own entries on every host of its segment. */
static void
cpm_mark_port(struct cpm *m, struct cpm_port *p)
{
    struct cpm_sh *sh;

    if (p->host) {
        cpm_mark(m, p->host, 'l', p->path, NULL);
    }
    HMAP_FOR_EACH (sh, by_host, &p->seg->hosts) {
        if (sh->host != p->host) {
            cpm_mark(m, sh->host, 'r', p->path, NULL);
        }
    }
}

static bool
cpm_port_should_be_active(const struct cpm_port *p)
{
    return p->host && p->vif[0] && p->admin_up && p->host->exists &&
           p->seg->exists;
}

/* Brings p->active in line with the model after something changed,
 * marking what depends on it.  Call cpm_port_deactivate() before changing
 * a port's fields and this after. */
static void
cpm_port_refresh(struct cpm *m, struct cpm_port *p)
{
    if (cpm_port_should_be_active(p)) {
        p->active = true;
        m->active_ports++;
        cpm_sh_add(m, p->seg, p->host, +1);
        cfw_port_active(m, p, +1);
    }
    cpm_mark_port(m, p);
}

static void
cpm_port_deactivate(struct cpm *m, struct cpm_port *p)
{
    cpm_mark_port(m, p);
    if (p->active) {
        p->active = false;
        m->active_ports--;
        cpm_sh_add(m, p->seg, p->host, -1);
        cfw_port_active(m, p, -1);
    }
}

/* ---- Parsing store values. ---- */

bool
cpm_parse_ip(const char *s, struct cpm_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (s && inet_pton(AF_INET, s, ip->b) == 1) {
        ip->len = 4;
        return true;
    }
    if (s && inet_pton(AF_INET6, s, ip->b) == 1) {
        ip->len = 16;
        return true;
    }
    return false;
}

bool
cpm_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char extra;

    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &extra) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t)v[i];
    }
    return true;
}

/* Splits a store key "o<depth>/..." into the kind and path. */
enum cpm_kind { CPM_OTHER, CPM_HOST, CPM_SEGMENT, CPM_PORT };

static enum cpm_kind
cpm_key_kind(const char *key, const char **path)
{
    int n;

    if (key[0] != 'o' || key[1] < '1' || key[1] > '3' || key[2] != '/') {
        return CPM_OTHER;
    }
    *path = key + 2;
    n = path_n_elems(*path);
    if (key[1] == '1' && n == 2 && path_elem_is(*path, 0, "hosts")) {
        return CPM_HOST;
    }
    if (!path_elem_is(*path, 0, "projects")) {
        return CPM_OTHER;
    }
    if (key[1] == '2' && n == 4 && path_elem_is(*path, 2, "segments")) {
        return CPM_SEGMENT;
    }
    if (key[1] == '3' && n == 6 && path_elem_is(*path, 2, "segments") &&
        path_elem_is(*path, 4, "ports")) {
        return CPM_PORT;
    }
    return CPM_OTHER;
}

/* ---- Events. ---- */

static void
cpm_apply_host(struct cpm *m, const char *id, json_t *obj)
{
    struct cpm_host *h = obj ? cpm_host_get(m, id) : cpm_host_find(m, id);
    struct cpm_ip tep;
    bool exists = false;
    struct cpm_port *p;
    struct cpm_sh *sh, *o;

    if (!h) {
        return;
    }
    if (obj) {
        exists = cpm_parse_ip(
            json_string_value(json_object_get(obj, "tunnel_endpoint")), &tep);
    }
    if (exists == h->exists &&
        (!exists || !memcmp(&tep, &h->tep, sizeof tep))) {
        return;
    }
    /* Existence or endpoint changed: every port here re-evaluates, and the
     * other hosts of its segments re-learn its endpoint. */
    LIST_FOR_EACH (p, host_link, &h->ports) {
        cpm_port_deactivate(m, p);
    }
    HMAP_FOR_EACH (sh, by_seg, &h->segs) {
        HMAP_FOR_EACH (o, by_host, &sh->seg->hosts) {
            if (o->host != h) {
                cpm_mark(m, o->host, 'f', sh->seg->path, h->id);
            }
        }
    }
    h->exists = exists;
    if (exists) {
        h->tep = tep;
    }
    LIST_FOR_EACH (p, host_link, &h->ports) {
        cpm_port_refresh(m, p);
    }
    cpm_mark_config(m, h);
    cpm_host_gc(m, h);
}

static void
cpm_apply_segment(struct cpm *m, const char *path, json_t *obj, uint64_t rev)
{
    struct cpm_seg *s = obj ? cpm_seg_get(m, path) : cpm_seg_find(m, path);
    json_int_t vni = 0;
    bool exists = false;
    int encap = WEFT__ENCAP__GENEVE;
    struct cpm_port *p;
    struct cpm_sh *sh;

    if (!s) {
        return;
    }
    if (obj) {
        const char *e = json_string_value(json_object_get(obj, "encap"));
        const char *sg = json_string_value(json_object_get(obj, "spoofguard"));
        bool spoofguard = sg && !strcmp(sg, "enabled");
        if (spoofguard != s->spoofguard) {
            s->spoofguard = spoofguard;
            cfw_segment_changed(m, s);
        }
        vni = json_integer_value(json_object_get(obj, "vni"));
        exists = vni >= 1 && vni <= 16777215;
        encap =
            e && !strcmp(e, "vxlan") ? WEFT__ENCAP__VXLAN : WEFT__ENCAP__GENEVE;
    }
    s->mod_rev = rev;
    if (exists == s->exists &&
        (!exists || ((uint32_t)vni == s->vni && encap == s->encap))) {
        crt_seg_changed(m, s, obj);
        cpm_seg_gc(m, s);
        return;
    }
    if (exists != s->exists) {
        LIST_FOR_EACH (p, seg_link, &s->ports) {
            cpm_port_deactivate(m, p);
        }
        s->exists = exists;
        s->vni = exists ? (uint32_t)vni : 0;
        s->encap = encap;
        LIST_FOR_EACH (p, seg_link, &s->ports) {
            cpm_port_refresh(m, p);
        }
    } else {
        /* VNI or encapsulation changed: the segment entry on its hosts. */
        s->vni = (uint32_t)vni;
        s->encap = encap;
        HMAP_FOR_EACH (sh, by_host, &s->hosts) {
            cpm_mark(m, sh->host, 's', s->path, NULL);
        }
    }
    crt_seg_changed(m, s, obj);
    cpm_seg_gc(m, s);
}

static uint32_t
cpm_alloc_lport(struct cpm *m, struct cpm_port *p)
{
    uint32_t id = hash_str(p->path) & 0x7fffffff;
    struct cpm_port *o;
    bool taken;

    /* Stable across restarts unless two paths collide (then the later one
     * in processing order probes on). */
    do {
        id = id ? id : 1;
        taken = false;
        HMAP_FOR_EACH_WITH_HASH (o, lport_node, id, &m->lports) {
            if (o->lport == id) {
                taken = true;
                id = (id + 1) & 0x7fffffff;
                break;
            }
        }
    } while (taken);
    p->lport = id;
    hmap_insert(&m->lports, &p->lport_node, id);
    return id;
}

static void
cpm_port_free(struct cpm *m, struct cpm_port *p)
{
    struct cpm_seg *s = p->seg;
    struct cpm_host *h = p->host;

    cfw_port_removed(m, p);
    hmap_remove(&m->ports, &p->node);
    hmap_remove(&m->lports, &p->lport_node);
    list_remove(&p->seg_link);
    if (h) {
        list_remove(&p->host_link);
    }
    free(p->ips);
    free(p->path);
    free(p);
    cpm_seg_gc(m, s);
    if (h) {
        cpm_host_gc(m, h);
    }
}

/* The fields only the firewall looks at: name, tags, spoofguard. */
static void
cpm_apply_port_fw_fields(struct cpm_port *p, json_t *obj)
{
    const char *name = json_string_value(json_object_get(obj, "display_name"));
    const char *sg = json_string_value(json_object_get(obj, "spoofguard"));
    json_t *tags = json_object_get(obj, "tags"), *t;
    size_t i;

    free(p->name);
    p->name = xstrdup(name ? name : strrchr(p->path, '/') + 1);
    for (i = 0; i < p->n_tags; i++) {
        free(p->tags[i]);
    }
    free(p->tags);
    p->tags = NULL;
    p->n_tags = 0;
    json_array_foreach(tags, i, t)
    {
        const char *scope = json_string_value(json_object_get(t, "scope"));
        const char *tag = json_string_value(json_object_get(t, "tag"));
        char *st = xasprintf("%s|%s", scope ? scope : "", tag ? tag : "");
        PUSH(p->tags, p->n_tags, st);
    }
    p->spoofguard = !sg || !strcmp(sg, "inherit") ? -1
                    : !strcmp(sg, "enabled")      ? 1
                                                  : 0;
}

static void
cpm_apply_port(struct cpm *m, const char *path, json_t *obj, uint64_t rev)
{
    struct cpm_port *p = cpm_port_find(m, path);
    json_t *att, *ips;
    const char *host_id = NULL, *vif = NULL;
    struct cpm_host *old_host;

    if (!obj) {
        if (p) {
            cpm_port_deactivate(m, p);
            cpm_port_free(m, p);
        }
        return;
    }
    if (!p) {
        char seg_path[600];
        snprintf(seg_path, sizeof seg_path, "%.*s",
                 (int)path_prefix_len(path, 4), path);
        p = xcalloc(1, sizeof *p);
        p->path = xstrdup(path);
        p->seg = cpm_seg_get(m, seg_path);
        list_push(&p->seg->ports, &p->seg_link);
        list_init(&p->host_link);
        list_init(&p->proj_link);
        p->spoofguard = -1;
        hmap_insert(&m->ports, &p->node, hash_str(path));
        cpm_alloc_lport(m, p);
    } else {
        cpm_port_deactivate(m, p);
    }
    p->mod_rev = rev;

    att = json_object_get(obj, "attachment");
    host_id = json_string_value(json_object_get(att, "host"));
    vif = json_string_value(json_object_get(att, "vif"));
    old_host = p->host;
    if (old_host) {
        list_remove(&p->host_link);
        p->host = NULL;
    }
    if (host_id && *host_id && vif && *vif) {
        p->host = cpm_host_get(m, host_id);
        list_push(&p->host->ports, &p->host_link);
        snprintf(p->vif, sizeof p->vif, "%s", vif);
    } else {
        p->vif[0] = '\0';
    }
    if (old_host && old_host != p->host) {
        /* The old host loses the port's local entry. */
        cpm_mark(m, old_host, 'l', p->path, NULL);
        cpm_host_gc(m, old_host);
    }
    p->admin_up =
        !json_is_string(json_object_get(obj, "admin_state")) ||
        strcmp(json_string_value(json_object_get(obj, "admin_state")), "down");
    if (!cpm_parse_mac(json_string_value(json_object_get(obj, "mac_address")),
                       p->mac)) {
        p->admin_up = false; /* never realized without a MAC */
    }
    free(p->ips);
    p->ips = NULL;
    p->n_ips = 0;
    /* Static addresses, then those weftd assigned (DHCP, SLAAC). */
    for (int k = 0; k < 2; k++) {
        ips = json_object_get(obj, k ? "dynamic_addresses" : "ip_addresses");
        size_t n = MIN(json_array_size(ips), (size_t)32);
        if (!n) {
            continue;
        }
        p->ips = xrealloc(p->ips, (p->n_ips + n) * sizeof *p->ips);
        for (size_t i = 0; i < n; i++) {
            if (cpm_parse_ip(json_string_value(json_array_get(ips, i)),
                             &p->ips[p->n_ips])) {
                p->n_ips++;
            }
        }
    }
    cpm_apply_port_fw_fields(p, obj);
    cpm_port_refresh(m, p);
    cfw_port_changed(m, p);
}

void
cpm_apply(struct cpm *m, const char *key, const char *value, size_t len,
          uint64_t rev)
{
    const char *path;
    enum cpm_kind kind = cpm_key_kind(key, &path);
    json_t *obj = NULL;

    if (kind == CPM_OTHER && key[0] != 'o') {
        return;
    }
    m->cur_rev = rev;
    if (value) {
        json_error_t jerr;
        obj = json_loadb(value, len, 0, &jerr);
        if (!json_is_object(obj)) {
            LOG_WARN("controller", "msg=\"unreadable object, ignored\" key=%s",
                     key);
            json_decref(obj);
            obj = NULL;
        }
    }
    switch (kind) {
    case CPM_HOST:
        cpm_apply_host(m, path + 7, obj);
        break;
    case CPM_SEGMENT:
        cpm_apply_segment(m, path, obj, rev);
        break;
    case CPM_PORT:
        cpm_apply_port(m, path, obj, rev);
        break;
    case CPM_OTHER:
        if (!crt_apply(m, key, key + 2, obj)) {
            cfw_apply(m, key, key + 2, obj);
        }
        break;
    }
    json_decref(obj);
}

/* ---- Building updates. ---- */

ProtobufCBinaryData
bin_dup(const void *p, size_t n)
{
    ProtobufCBinaryData b = {n, xmalloc(n)};
    memcpy(b.data, p, n);
    return b;
}

static Weft__HostConfig *
cpm_host_config(struct cpm *m, const struct cpm_host *h)
{
    Weft__HostConfig *hc = xmalloc(sizeof *hc);
    weft__host_config__init(hc);
    hc->local_ip = bin_dup(h->tep.b, h->tep.len);
    cfw_fill_config(m, hc);
    return hc;
}

static void
cpm_add_segment(Weft__Update *u, const struct cpm_seg *s)
{
    Weft__Segment *seg = xmalloc(sizeof *seg);
    weft__segment__init(seg);
    seg->id = xstrdup(s->path);
    seg->vni = s->vni;
    seg->encap = (Weft__Encap)s->encap;
    crt_fill_segment(s, seg);
    PUSH(u->segments, u->n_segments, seg);
}

static ProtobufCBinaryData *
cpm_ips(const struct cpm_port *p)
{
    ProtobufCBinaryData *ips = xcalloc(p->n_ips ? p->n_ips : 1, sizeof *ips);
    for (size_t i = 0; i < p->n_ips; i++) {
        ips[i] = bin_dup(p->ips[i].b, p->ips[i].len);
    }
    return ips;
}

static void
cpm_add_local(struct cpm *m, Weft__Update *u, const struct cpm_port *p)
{
    Weft__LocalPort *lp = xmalloc(sizeof *lp);
    weft__local_port__init(lp);
    lp->id = xstrdup(p->path);
    lp->segment = xstrdup(p->seg->path);
    lp->lport = p->lport;
    lp->mac = bin_dup(p->mac, 6);
    lp->n_ips = p->n_ips;
    lp->ips = cpm_ips(p);
    lp->ifname = xstrdup(p->vif);
    cfw_fill_local(m, p, lp);
    PUSH(u->ports, u->n_ports, lp);
}

static void
cpm_add_remote(Weft__Update *u, const struct cpm_port *p)
{
    Weft__RemoteBinding *rb = xmalloc(sizeof *rb);
    weft__remote_binding__init(rb);
    rb->id = xstrdup(p->path);
    rb->segment = xstrdup(p->seg->path);
    rb->lport = p->lport;
    rb->mac = bin_dup(p->mac, 6);
    rb->n_ips = p->n_ips;
    rb->ips = cpm_ips(p);
    rb->vtep = bin_dup(p->host->tep.b, p->host->tep.len);
    PUSH(u->remotes, u->n_remotes, rb);
}

static void
cpm_add_flood(Weft__Update *u, const struct cpm_seg *s,
              const struct cpm_host *o)
{
    Weft__FloodVtep *f = xmalloc(sizeof *f);
    size_t n = strlen(s->path) + strlen(o->id) + 2;

    weft__flood_vtep__init(f);
    f->id = xmalloc(n);
    snprintf(f->id, n, "%s|%s", s->path, o->id);
    f->segment = xstrdup(s->path);
    f->vtep = bin_dup(o->tep.b, o->tep.len);
    PUSH(u->floods, u->n_floods, f);
}

static Weft__Update *
cpm_update_new(uint64_t rev)
{
    Weft__Update *u = xmalloc(sizeof *u);
    weft__update__init(u);
    u->revision = rev;
    return u;
}

/* Evaluates dirty key 'key' for host 'h' into 'u'. */
static void
cpm_eval(struct cpm *m, struct cpm_host *h, const char *key, Weft__Update *u)
{
    const char *id = key + 1;

    switch (key[0]) {
    case 's': {
        struct cpm_seg *s = cpm_seg_find(m, id);
        if (s && s->exists && cpm_sh_find(s, h)) {
            cpm_add_segment(u, s);
        } else {
            PUSH(u->del_segments, u->n_del_segments, xstrdup(id));
        }
        break;
    }
    case 'l': {
        struct cpm_port *p = cpm_port_find(m, id);
        if (p && p->active && p->host == h) {
            cpm_add_local(m, u, p);
        } else {
            PUSH(u->del_ports, u->n_del_ports, xstrdup(id));
        }
        break;
    }
    case 'r': {
        struct cpm_port *p = cpm_port_find(m, id);
        if (p && p->active && p->host != h && cpm_sh_find(p->seg, h)) {
            cpm_add_remote(u, p);
        } else {
            PUSH(u->del_remotes, u->n_del_remotes, xstrdup(id));
        }
        break;
    }
    case 'f': {
        const char *bar = strrchr(id, '|');
        char seg_path[600];
        struct cpm_seg *s;
        struct cpm_host *o;

        snprintf(seg_path, sizeof seg_path, "%.*s", (int)(bar - id), id);
        s = cpm_seg_find(m, seg_path);
        o = cpm_host_find(m, bar + 1);
        struct cpm_sh *sh_h = s && o ? cpm_sh_find(s, h) : NULL;
        struct cpm_sh *sh_o = sh_h ? cpm_sh_find(s, o) : NULL;
        if (o != h && o->exists && sh_h && sh_h->count && sh_o && sh_o->count) {
            cpm_add_flood(u, s, o);
        } else {
            PUSH(u->del_floods, u->n_del_floods, xstrdup(id));
        }
        break;
    }
    default:
        if (!crt_eval(m, h, key, u)) {
            cfw_eval(m, h, key, u);
        }
        break;
    }
}

void
cpm_flush(struct cpm *m, uint64_t rev, cpm_delta_fn *fn, void *aux)
{
    struct cpm_host *h, *next;

    for (h = m->dirty_hosts, m->dirty_hosts = NULL; h; h = next) {
        Weft__Update *u = cpm_update_new(rev);
        struct cpm_dirty *d;

        next = h->next_dirty;
        h->on_dirty_list = false;
        if (h->config_dirty && h->exists) {
            u->host = cpm_host_config(m, h);
        }
        h->config_dirty = false;
        HMAP_FOR_EACH (d, node, &h->dirty) {
            cpm_eval(m, h, d->key, u);
            hmap_remove(&h->dirty, &d->node);
            free(d);
        }
        hmap_shrink_if_empty(&h->dirty);
        fn(aux, h->id, u);
        cpm_host_gc(m, h);
    }
}

void
cpm_set_loading(struct cpm *m, bool loading)
{
    m->loading = loading;
}

void
cpm_discard_dirty(struct cpm *m)
{
    struct cpm_host *h, *next;

    for (h = m->dirty_hosts, m->dirty_hosts = NULL; h; h = next) {
        struct cpm_dirty *d;
        next = h->next_dirty;
        h->on_dirty_list = false;
        h->config_dirty = false;
        HMAP_FOR_EACH (d, node, &h->dirty) {
            hmap_remove(&h->dirty, &d->node);
            free(d);
        }
        hmap_shrink_if_empty(&h->dirty);
        cpm_host_gc(m, h);
    }
}

Weft__Update *
cpm_snapshot(struct cpm *m, const char *host_id, uint64_t rev)
{
    struct cpm_host *h = cpm_host_find(m, host_id);
    Weft__Update *u;
    struct cpm_sh *sh, *o;
    struct cpm_port *p;

    if (!h || !h->exists) {
        return NULL;
    }
    u = cpm_update_new(rev);
    u->full = true;
    u->host = cpm_host_config(m, h);
    HMAP_FOR_EACH (sh, by_seg, &h->segs) {
        struct cpm_seg *s = sh->seg;
        if (!s->exists) {
            continue;
        }
        cpm_add_segment(u, s);
        LIST_FOR_EACH (p, seg_link, &s->ports) {
            if (!p->active) {
                continue;
            }
            if (p->host == h) {
                cpm_add_local(m, u, p);
            } else {
                cpm_add_remote(u, p);
            }
        }
        HMAP_FOR_EACH (o, by_host, &s->hosts) {
            if (sh->count && o->count && o->host != h && o->host->exists) {
                cpm_add_flood(u, s, o->host);
            }
        }
    }
    cfw_snapshot(m, h, u);
    crt_snapshot(m, h, u);
    return u;
}

void
cpm_update_free(Weft__Update *u)
{
    if (!u) {
        return;
    }
    /* Built with xmalloc throughout, so protobuf-c's own free works. */
    weft__update__free_unpacked(u, NULL);
}

size_t
cpm_update_size(const Weft__Update *u)
{
    return weft__update__get_packed_size(u);
}

/* ---- Queries. ---- */

bool
cpm_object_hosts(struct cpm *m, const char *path,
                 void (*fn)(void *aux, const char *host_id, uint64_t rev),
                 void *aux, uint64_t *mod_rev, bool *active)
{
    struct cpm_port *p = cpm_port_find(m, path);
    struct cpm_seg *s;
    struct cpm_sh *sh;

    *active = false;
    if (p) {
        *mod_rev = p->mod_rev;
        if (!p->active) {
            return true;
        }
        *active = true;
        HMAP_FOR_EACH (sh, by_host, &p->seg->hosts) {
            fn(aux, sh->host->id, MAX(p->mod_rev, sh->join_rev));
        }
        return true;
    }
    s = cpm_seg_find(m, path);
    if (s && s->exists) {
        *mod_rev = s->mod_rev;
        *active = hmap_count(&s->hosts) > 0;
        HMAP_FOR_EACH (sh, by_host, &s->hosts) {
            fn(aux, sh->host->id, MAX(s->mod_rev, sh->join_rev));
        }
        return true;
    }
    return false;
}

void
cpm_get_stats(const struct cpm *m, struct cpm_stats *st)
{
    st->hosts = hmap_count(&m->hosts);
    st->segments = hmap_count(&m->segs);
    st->ports = hmap_count(&m->ports);
    st->active_ports = m->active_ports;
}

void
cpm_destroy(struct cpm *m)
{
    struct cpm_port *p;
    struct cpm_seg *s;
    struct cpm_host *h;
    struct cpm_sh *sh;

    if (!m) {
        return;
    }
    cpm_discard_dirty(m);
    cfw_destroy(m->fw);
    m->fw = NULL; /* ports below only free their firewall fields */
    crt_destroy(m);
    HMAP_FOR_EACH (p, node, &m->ports) {
        cfw_port_removed(m, p);
        free(p->ips);
        free(p->path);
        free(p);
    }
    HMAP_FOR_EACH (s, node, &m->segs) {
        HMAP_FOR_EACH (sh, by_host, &s->hosts) {
            free(sh);
        }
        hmap_destroy(&s->hosts);
        json_decref(s->subnets);
        free(s->path);
        free(s);
    }
    HMAP_FOR_EACH (h, node, &m->hosts) {
        hmap_destroy(&h->segs);
        hmap_destroy(&h->dirty);
        free(h->id);
        free(h);
    }
    hmap_destroy(&m->ports);
    hmap_destroy(&m->lports);
    hmap_destroy(&m->segs);
    hmap_destroy(&m->hosts);
    free(m);
}
