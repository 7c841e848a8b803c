/* The controller's routing model and span (docs/routing.md).
 *
 * Objects: routers (/projects/p/routers/r) and their static routes
 * (.../static-routes/id).  A segment names its router by id; it is
 * *attached* while both exist.  A router's *hosts* are those with an active
 * port on any attached segment (counted per host in 'struct crt_rh'), and
 * every such host must know every attached segment of the router with its
 * remote bindings, so a routed packet is resolved and tunnelled by the
 * sending host.  That need is recorded as cpm_sh.routed on (segment, host)
 * pairs, next to cpm_sh.count (local ports): cpm.c spans a segment to a
 * host when either is non-zero, and floods only between hosts with local
 * ports.  Static routes go to the router's hosts under dirty key 't' +
 * route path.
 *
 * Router MACs are derived from the router's path (locally administered,
 * first byte 0x0a, distinct from weftd's port MACs which start 0x02), so
 * every host answers the gateway with the same MAC without coordination. */
#include "controller/cpm-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/hmap.h"

struct crt_router {
    struct hmap_node node;  /* in cpm->routers */
    char *path;             /* "/projects/p/routers/r" */
    bool exists;            /* in the store */
    uint8_t mac[6];         /* the router's MAC on all its segments */
    struct cpm_list segs;   /* cpm_seg.router_link: segments naming it */
    struct hmap hosts;      /* crt_rh by host pointer */
    struct cpm_list routes; /* crt_route.router_link */
};

/* Host 'host' has 'count' attached segments of the router with local
 * ports. */
struct crt_rh {
    struct hmap_node node;
    struct cpm_host *host;
    uint32_t count;
};

struct crt_hop {
    struct cpm_ip ip;
    uint32_t distance;
};

struct crt_route {
    struct hmap_node node; /* in cpm->routes */
    char *path;
    struct crt_router *router; /* from the path; a placeholder at worst */
    struct cpm_list router_link;
    struct cpm_ip prefix;
    uint8_t plen;
    struct crt_hop *hops;
    size_t n_hops;
    uint32_t discard_distance; /* 0: not a discard route */
};

static uint32_t
crt_ptr_hash(const void *p)
{
    return hash_u64((uintptr_t)p, 0);
}

/* ---- Routers. ---- */

static struct crt_router *
crt_router_find(const struct cpm *m, const char *path)
{
    struct crt_router *r;
    HMAP_FOR_EACH_WITH_HASH (r, node, hash_str(path), &m->routers) {
        if (!strcmp(r->path, path)) {
            return r;
        }
    }
    return NULL;
}

static struct crt_router *
crt_router_get(struct cpm *m, const char *path)
{
    struct crt_router *r = crt_router_find(m, path);

    if (!r) {
        uint64_t h = hash_str(path) |
                     (uint64_t)hash_bytes(path, strlen(path), 0x5eed) << 32;
        r = xcalloc(1, sizeof *r);
        r->path = xstrdup(path);
        r->mac[0] = 0x0a;
        for (int i = 1; i < 6; i++) {
            r->mac[i] = (uint8_t)(h >> (8 * (i - 1)));
        }
        list_init(&r->segs);
        list_init(&r->routes);
        hmap_init(&r->hosts);
        hmap_insert(&m->routers, &r->node, hash_str(path));
    }
    return r;
}

static void
crt_router_gc(struct cpm *m, struct crt_router *r)
{
    if (r->exists || r->segs.next != &r->segs || r->routes.next != &r->routes ||
        hmap_count(&r->hosts)) {
        return;
    }
    hmap_remove(&m->routers, &r->node);
    hmap_destroy(&r->hosts);
    free(r->path);
    free(r);
}

static struct crt_rh *
crt_rh_find(const struct crt_router *r, const struct cpm_host *h)
{
    struct crt_rh *rh;
    HMAP_FOR_EACH_WITH_HASH (rh, node, crt_ptr_hash(h), &r->hosts) {
        if (rh->host == h) {
            return rh;
        }
    }
    return NULL;
}

static bool
crt_attached(const struct cpm_seg *s)
{
    return s->router && s->router->exists && s->exists;
}

static void
crt_mark_routes(struct cpm *m, struct crt_router *r, struct cpm_host *h)
{
    struct crt_route *rt;
    LIST_FOR_EACH (rt, router_link, &r->routes) {
        cpm_mark(m, h, 't', rt->path, NULL);
    }
}

/* Host 'h' gains (+1) or loses (-1) an attached segment of 'r' with local
 * ports; joining or leaving the router spans its segments and routes. */
static void
crt_router_host_add(struct cpm *m, struct crt_router *r, struct cpm_host *h,
                    int delta)
{
    struct crt_rh *rh = crt_rh_find(r, h);
    struct cpm_seg *s;

    if (!rh) {
        rh = xcalloc(1, sizeof *rh);
        rh->host = h;
        hmap_insert(&r->hosts, &rh->node, crt_ptr_hash(h));
    }
    rh->count = (uint32_t)((int)rh->count + delta);
    if (delta > 0 && rh->count == 1) {
        LIST_FOR_EACH (s, router_link, &r->segs) {
            if (s->attached) {
                cpm_sh_routed(m, s, h, +1);
            }
        }
        crt_mark_routes(m, r, h);
    } else if (delta < 0 && !rh->count) {
        hmap_remove(&r->hosts, &rh->node);
        free(rh);
        LIST_FOR_EACH (s, router_link, &r->segs) {
            if (s->attached) {
                cpm_sh_routed(m, s, h, -1);
            }
        }
        crt_mark_routes(m, r, h);
    }
}

void
crt_local_join(struct cpm *m, struct cpm_seg *s, struct cpm_host *h, int delta)
{
    if (s->attached) {
        crt_router_host_add(m, s->router, h, delta);
    }
}

/* Attaches (+1) or detaches (-1) segment 's' to/from its router. */
static void
crt_seg_attach(struct cpm *m, struct cpm_seg *s, int delta)
{
    struct crt_router *r = s->router;
    struct crt_rh *rh;
    struct cpm_sh *sh;

    if (delta > 0) {
        /* The router's present hosts learn the segment... */
        HMAP_FOR_EACH (rh, node, &r->hosts) {
            cpm_sh_routed(m, s, rh->host, +1);
        }
        s->attached = true;
        /* ...and the segment's hosts join the router. */
        HMAP_FOR_EACH (sh, by_host, &s->hosts) {
            if (sh->count) {
                crt_router_host_add(m, r, sh->host, +1);
            }
        }
    } else {
        HMAP_FOR_EACH (sh, by_host, &s->hosts) {
            if (sh->count) {
                crt_router_host_add(m, r, sh->host, -1);
            }
        }
        s->attached = false;
        HMAP_FOR_EACH (rh, node, &r->hosts) {
            cpm_sh_routed(m, s, rh->host, -1);
        }
    }
}

static void
crt_mark_segment(struct cpm *m, struct cpm_seg *s)
{
    struct cpm_sh *sh;
    HMAP_FOR_EACH (sh, by_host, &s->hosts) {
        cpm_mark(m, sh->host, 's', s->path, NULL);
    }
}

/* Brings s->attached in line with crt_attached(). */
static void
crt_seg_refresh(struct cpm *m, struct cpm_seg *s)
{
    bool want = crt_attached(s);

    if (want != s->attached) {
        crt_seg_attach(m, s, want ? +1 : -1);
        crt_mark_segment(m, s);
    }
}

void
crt_seg_changed(struct cpm *m, struct cpm_seg *s, json_t *obj)
{
    const char *rid =
        obj ? json_string_value(json_object_get(obj, "router")) : NULL;
    json_t *subnets = obj ? json_object_get(obj, "subnets") : NULL;
    struct crt_router *want = NULL;
    char path[600];

    if (rid && *rid) {
        snprintf(path, sizeof path, "%.*s/routers/%s",
                 (int)path_prefix_len(s->path, 2), s->path, rid);
        want = crt_router_get(m, path);
    }
    if (want != s->router) {
        struct crt_router *old = s->router;
        if (s->attached) {
            crt_seg_attach(m, s, -1);
        }
        if (old) {
            list_remove(&s->router_link);
            s->router = NULL;
            crt_router_gc(m, old);
        }
        if (want) {
            s->router = want;
            list_push(&want->segs, &s->router_link);
        }
        crt_mark_segment(m, s);
    }
    crt_seg_refresh(m, s);
    if (!json_equal(subnets, s->subnets)) {
        json_decref(s->subnets);
        s->subnets = json_is_array(subnets) ? json_incref(subnets) : NULL;
        crt_mark_segment(m, s);
    }
}

static void
crt_apply_router(struct cpm *m, const char *path, json_t *obj)
{
    struct crt_router *r =
        obj ? crt_router_get(m, path) : crt_router_find(m, path);
    struct cpm_seg *s;

    if (!r || r->exists == (obj != NULL)) {
        return;
    }
    r->exists = obj != NULL;
    LIST_FOR_EACH (s, router_link, &r->segs) {
        crt_seg_refresh(m, s);
    }
    crt_router_gc(m, r);
}

/* ---- Static routes. ---- */

static struct crt_route *
crt_route_find(const struct cpm *m, const char *path)
{
    struct crt_route *rt;
    HMAP_FOR_EACH_WITH_HASH (rt, node, hash_str(path), &m->routes) {
        if (!strcmp(rt->path, path)) {
            return rt;
        }
    }
    return NULL;
}

/* Parses "a.b.c.d/n" or "x::/n". */
static bool
crt_parse_cidr(const char *s, struct cpm_ip *ip, uint8_t *plen)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    char buf[64];
    char *end;
    long n;

    if (!slash || (size_t)(slash - s) >= sizeof buf) {
        return false;
    }
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    n = strtol(slash + 1, &end, 10);
    if (*end || !cpm_parse_ip(buf, ip) || n < 0 || n > ip->len * 8) {
        return false;
    }
    *plen = (uint8_t)n;
    return true;
}

static uint32_t
crt_distance(json_t *v)
{
    json_int_t d = json_integer_value(v);
    return d >= 1 && d <= 255 ? (uint32_t)d : 1;
}

static void
crt_mark_route_hosts(struct cpm *m, struct crt_route *rt)
{
    struct crt_rh *rh;
    HMAP_FOR_EACH (rh, node, &rt->router->hosts) {
        cpm_mark(m, rh->host, 't', rt->path, NULL);
    }
}

static void
crt_route_free(struct cpm *m, struct crt_route *rt)
{
    struct crt_router *r = rt->router;

    hmap_remove(&m->routes, &rt->node);
    list_remove(&rt->router_link);
    free(rt->hops);
    free(rt->path);
    free(rt);
    crt_router_gc(m, r);
}

static void
crt_apply_route(struct cpm *m, const char *path, json_t *obj)
{
    struct crt_route *rt = crt_route_find(m, path);
    json_t *hops, *h;
    size_t i;

    if (rt) {
        crt_mark_route_hosts(m, rt);
    }
    if (!obj) {
        if (rt) {
            crt_route_free(m, rt);
        }
        return;
    }
    if (!rt) {
        char rpath[600];
        snprintf(rpath, sizeof rpath, "%.*s", (int)path_prefix_len(path, 4),
                 path);
        rt = xcalloc(1, sizeof *rt);
        rt->path = xstrdup(path);
        rt->router = crt_router_get(m, rpath);
        list_push(&rt->router->routes, &rt->router_link);
        hmap_insert(&m->routes, &rt->node, hash_str(path));
    }
    free(rt->hops);
    rt->hops = NULL;
    rt->n_hops = 0;
    rt->discard_distance = 0;
    if (!crt_parse_cidr(json_string_value(json_object_get(obj, "network")),
                        &rt->prefix, &rt->plen)) {
        rt->plen = 0;
        rt->prefix.len = 0; /* never sent: invalid in the store */
    }
    if (json_is_true(json_object_get(obj, "discard"))) {
        rt->discard_distance =
            crt_distance(json_object_get(obj, "admin_distance"));
    }
    hops = json_object_get(obj, "next_hops");
    rt->hops = xcalloc(json_array_size(hops) + 1, sizeof *rt->hops);
    json_array_foreach(hops, i, h)
    {
        struct crt_hop *hop = &rt->hops[rt->n_hops];
        if (cpm_parse_ip(json_string_value(json_object_get(h, "ip_address")),
                         &hop->ip) &&
            hop->ip.len == rt->prefix.len) {
            hop->distance = crt_distance(json_object_get(h, "admin_distance"));
            rt->n_hops++;
        }
    }
    crt_mark_route_hosts(m, rt);
}

bool
crt_apply(struct cpm *m, const char *key, const char *path, json_t *obj)
{
    if (key[0] != 'o' || key[2] != '/' || !path_elem_is(path, 0, "projects") ||
        !path_elem_is(path, 2, "routers")) {
        return false;
    }
    if (key[1] == '2' && path_n_elems(path) == 4) {
        crt_apply_router(m, path, obj);
        return true;
    }
    if (key[1] == '3' && path_n_elems(path) == 6 &&
        path_elem_is(path, 4, "static-routes")) {
        crt_apply_route(m, path, obj);
        return true;
    }
    return false;
}

/* ---- Building messages. ---- */

static Weft__Route *
crt_route_msg(const struct crt_route *rt)
{
    Weft__Route *r = xmalloc(sizeof *r);
    weft__route__init(r);
    r->id = xstrdup(rt->path);
    r->router = xstrdup(rt->router->path);
    r->prefix = xmalloc(sizeof *r->prefix);
    weft__prefix__init(r->prefix);
    r->prefix->addr = bin_dup(rt->prefix.b, rt->prefix.len);
    r->prefix->plen = rt->plen;
    r->discard_distance = rt->discard_distance;
    r->next_hops = xcalloc(rt->n_hops + 1, sizeof *r->next_hops);
    for (size_t i = 0; i < rt->n_hops; i++) {
        Weft__NextHop *nh = xmalloc(sizeof *nh);
        weft__next_hop__init(nh);
        nh->addr = bin_dup(rt->hops[i].ip.b, rt->hops[i].ip.len);
        nh->distance = rt->hops[i].distance;
        r->next_hops[r->n_next_hops++] = nh;
    }
    return r;
}

static bool
crt_route_valid(const struct crt_route *rt)
{
    return rt->prefix.len && (rt->n_hops || rt->discard_distance);
}

bool
crt_eval(struct cpm *m, struct cpm_host *h, const char *key, Weft__Update *u)
{
    struct crt_route *rt;

    if (key[0] != 't') {
        return false;
    }
    rt = crt_route_find(m, key + 1);
    if (rt && rt->router->exists && crt_rh_find(rt->router, h) &&
        crt_route_valid(rt)) {
        PUSH(u->routes, u->n_routes, crt_route_msg(rt));
    } else {
        PUSH(u->del_routes, u->n_del_routes, xstrdup(key + 1));
    }
    return true;
}

void
crt_snapshot(struct cpm *m, struct cpm_host *h, Weft__Update *u)
{
    struct crt_router *r;
    struct crt_route *rt;

    HMAP_FOR_EACH (r, node, &m->routers) {
        if (!r->exists || !crt_rh_find(r, h)) {
            continue;
        }
        LIST_FOR_EACH (rt, router_link, &r->routes) {
            if (crt_route_valid(rt)) {
                PUSH(u->routes, u->n_routes, crt_route_msg(rt));
            }
        }
    }
}

static Weft__Prefix *
crt_prefix_msg(const struct cpm_ip *ip, uint8_t plen)
{
    Weft__Prefix *p = xmalloc(sizeof *p);
    weft__prefix__init(p);
    p->addr = bin_dup(ip->b, ip->len);
    p->plen = plen;
    return p;
}

/* Adds the IPv4 subnet's DHCP options 'd' to 'o'. */
static void
crt_fill_dhcp(Weft__DhcpOptions *o, json_t *d)
{
    json_t *v, *dns = json_object_get(d, "dns_servers");
    const char *domain = json_string_value(json_object_get(d, "domain_name"));
    json_t *routes = json_object_get(d, "classless_static_routes");
    json_int_t lease = json_integer_value(json_object_get(d, "lease_time"));
    size_t i;

    o->enabled = true;
    o->lease_time = lease >= 60 ? (uint32_t)lease : 86400;
    o->mtu = (uint32_t)json_integer_value(json_object_get(d, "mtu"));
    if (domain && !o->domain[0]) {
        free(o->domain);
        o->domain = xstrdup(domain);
    }
    json_array_foreach(dns, i, v)
    {
        struct cpm_ip ip;
        if (cpm_parse_ip(json_string_value(v), &ip)) {
            PUSH(o->dns, o->n_dns, bin_dup(ip.b, ip.len));
        }
    }
    json_array_foreach(routes, i, v)
    {
        struct cpm_ip dst, gw;
        uint8_t plen;
        if (crt_parse_cidr(json_string_value(json_object_get(v, "network")),
                           &dst, &plen) &&
            cpm_parse_ip(json_string_value(json_object_get(v, "next_hop")),
                         &gw) &&
            dst.len == 4 && gw.len == 4) {
            Weft__DhcpRoute *r = xmalloc(sizeof *r);
            weft__dhcp_route__init(r);
            r->dst = crt_prefix_msg(&dst, plen);
            r->gateway = bin_dup(gw.b, gw.len);
            PUSH(o->routes, o->n_routes, r);
        }
    }
}

/* Adds the IPv6 subnet's services (mode, dhcpv6 DNS and domain). */
static void
crt_fill_ipv6(Weft__Ipv6Services *v6, Weft__DhcpOptions *o, json_t *subnet)
{
    const char *mode =
        json_string_value(json_object_get(subnet, "ipv6_address_mode"));
    json_t *d6 = json_object_get(subnet, "dhcpv6"), *v;
    const char *domain = json_string_value(json_object_get(d6, "domain_name"));
    size_t i;

    if (!mode) {
        mode = "slaac";
    }
    v6->ra = true;
    if (!strcmp(mode, "slaac")) {
        v6->slaac = true;
    } else if (!strcmp(mode, "dhcpv6_stateless")) {
        v6->slaac = v6->other = v6->dhcp6 = true;
    } else if (!strcmp(mode, "dhcpv6_stateful")) {
        v6->managed = v6->other = v6->dhcp6 = true;
    }
    json_array_foreach(json_object_get(d6, "dns_servers"), i, v)
    {
        struct cpm_ip ip;
        if (cpm_parse_ip(json_string_value(v), &ip)) {
            PUSH(o->dns, o->n_dns, bin_dup(ip.b, ip.len));
        }
    }
    if (domain && !o->domain[0]) {
        free(o->domain);
        o->domain = xstrdup(domain);
    }
}

void
crt_fill_segment(const struct cpm_seg *s, Weft__Segment *seg)
{
    json_t *subnet;
    size_t i;

    if (!s->attached) {
        return;
    }
    seg->router = xstrdup(s->router->path);
    seg->router_mac = bin_dup(s->router->mac, 6);
    seg->dhcp = xmalloc(sizeof *seg->dhcp);
    weft__dhcp_options__init(seg->dhcp);
    seg->dhcp->domain = xstrdup("");
    seg->ipv6 = xmalloc(sizeof *seg->ipv6);
    weft__ipv6_services__init(seg->ipv6);
    json_array_foreach(s->subnets, i, subnet)
    {
        struct cpm_ip gw;
        uint8_t plen;
        json_t *d = json_object_get(subnet, "dhcp");

        if (!crt_parse_cidr(
                json_string_value(json_object_get(subnet, "gateway_address")),
                &gw, &plen)) {
            continue;
        }
        PUSH(seg->gateways, seg->n_gateways, crt_prefix_msg(&gw, plen));
        if (gw.len == 4 && json_is_object(d) && !seg->dhcp->enabled) {
            crt_fill_dhcp(seg->dhcp, d);
        } else if (gw.len == 16 && !seg->ipv6->ra) {
            crt_fill_ipv6(seg->ipv6, seg->dhcp, subnet);
        }
    }
}

void
crt_destroy(struct cpm *m)
{
    struct crt_route *rt;
    struct crt_router *r;
    struct crt_rh *rh;

    HMAP_FOR_EACH (rt, node, &m->routes) {
        free(rt->hops);
        free(rt->path);
        free(rt);
    }
    HMAP_FOR_EACH (r, node, &m->routers) {
        HMAP_FOR_EACH (rh, node, &r->hosts) {
            free(rh);
        }
        hmap_destroy(&r->hosts);
        free(r->path);
        free(r);
    }
    hmap_destroy(&m->routes);
    hmap_destroy(&m->routers);
}
