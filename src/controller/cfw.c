/* The controller's firewall model: groups, services, security policies,
 * rules and the deployment's default action, and what of them each host
 * needs (its firewall span), kept incrementally like cpm.c keeps the
 * switching span.
 *
 * Groups.  A port is a member of group G when G names it, its segment or
 * its MAC statically, when a criterion of G matches it (conditions ANDed,
 * criteria ORed), or when it is a member of a group G names (nesting, at
 * most CFW_MAX_NEST deep; cycles simply stop there).  Each port keeps the
 * sorted list of groups it is in; each group keeps its address set as a
 * counted map "addr/plen" -> how many members contribute it (member
 * ports' addresses as host prefixes, plus the static ip_addresses of G
 * and of the groups nested in it).  A port change re-evaluates that port
 * against the groups of its project (O(groups)); a group change
 * re-evaluates the project's ports (O(ports x groups)), which is rare.
 *
 * Span.  A host spans a project when it has an active port of it.  It
 * then gets every active rule of the project ('w' + rule path) and every
 * member of the address sets rules name as sources or destinations ('a' +
 * "<group path>|<addr/plen>"), one dirty key each, so a membership change
 * sends one AddrMember upsert or delete per host of the project, not the
 * whole set.  Where a rule is installed (its policy's scope and its own)
 * is decided by the agent from the rule's applied_to and each local
 * port's port_sets: the groups used as a scope that the port is in.
 *
 * Objects that others may reference (groups, services, policies,
 * projects) are never freed before cfw_destroy(): a deleted one stays as
 * a placeholder (exists = false), since the API refuses to delete a
 * referenced object and placeholders are few. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/cfw.h"
#include "controller/cpm-int.h"
#include "lib/log.h"

#define CFW_MAX_NEST 8

enum cfw_cond_key { CK_TAG, CK_NAME, CK_SEGMENT };
enum cfw_cond_op { CO_EQUALS, CO_CONTAINS, CO_STARTS, CO_ENDS };

struct cfw_cond {
    enum cfw_cond_key key;
    enum cfw_cond_op op;
    char *value; /* for segment: the segment path */
};

struct cfw_crit {
    struct cfw_cond *conds; /* ANDed */
    size_t n;
};

struct cfw_proj {
    struct hmap_node node;  /* in cfw->projs */
    char *path;             /* "/projects/p" */
    struct hmap hosts;      /* cfw_ph: hosts with active ports here */
    struct cpm_list ports;  /* cpm_port.proj_link */
    struct cpm_list groups; /* cfw_group.proj_link */
    struct cpm_list rules;  /* cfw_rule.proj_link */
};

/* Host 'host' has 'count' active ports of a project. */
struct cfw_ph {
    struct hmap_node node;
    struct cpm_host *host;
    uint32_t count;
};

struct cfw_addr {
    struct hmap_node node; /* in group->addrs */
    uint32_t count;        /* contributions */
    char key[];            /* "addr/plen" */
};

struct cfw_group {
    struct hmap_node node; /* in cfw->groups */
    char *path;
    struct cfw_proj *proj;
    struct cpm_list proj_link;
    bool exists;

    char **m_ports, **m_segs; /* static members by path */
    size_t n_m_ports, n_m_segs;
    struct cfw_group **m_groups; /* nested */
    size_t n_m_groups;
    uint8_t (*macs)[6];
    size_t n_macs;
    char **cidrs; /* own static prefixes, canonical */
    size_t n_cidrs;
    struct cfw_crit *crit;
    size_t n_crit;

    char **statics; /* prefixes counted from cidrs (own + nested) */
    size_t n_statics;
    struct hmap addrs;   /* cfw_addr */
    uint32_t rule_refs;  /* active rules naming it as source/destination */
    uint32_t scope_refs; /* active rules whose scope names it */
};

struct cfw_svc_entry {
    uint32_t proto, lo, hi; /* as Weft__FwService */
};

struct cfw_service {
    struct hmap_node node;
    char *path;
    bool exists;
    struct cfw_svc_entry *entries;
    size_t n;
};

struct cfw_policy {
    struct hmap_node node;
    char *path;
    struct cfw_proj *proj;
    bool exists;
    uint32_t category; /* 0 emergency .. 3 application */
    uint32_t seq;
    struct cfw_group **scope;
    size_t n_scope;
    bool stateful;
    struct cpm_list rules; /* cfw_rule.pol_link */
};

struct cfw_rule {
    struct hmap_node node;
    char *path;
    struct cfw_policy *pol;
    struct cpm_list pol_link;
    struct cpm_list proj_link;
    bool installed; /* refs counted (rule and policy active) */

    uint32_t seq;
    struct cfw_group **src, **dst, **scope;
    size_t n_src, n_dst, n_scope;
    struct cfw_service **svcs;
    size_t n_svcs;
    struct cfw_svc_entry *entries; /* inline */
    size_t n_entries;
    uint32_t dir, family;
    Weft__FwAction action;
    bool logged, disabled;
};

/* Counters one host reported for one rule. */
struct cfw_stat {
    struct hmap_node node; /* in cfw->stats, by rule path + host */
    char *rule, *host;
    uint64_t packets, bytes, sessions;
};

struct cfw {
    struct hmap projs, groups, services, policies, rules;
    Weft__FwAction default_action;
    bool tcp_strict; /* settings tcp_strict */
    struct hmap stats;
};

/* ---- Small helpers. ---- */

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static bool
strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i], s)) {
            return true;
        }
    }
    return false;
}

/* An API path ("/api/v1/...") without its prefix, or NULL. */
static const char *
cfw_ref(json_t *v)
{
    const char *s = json_string_value(v);
    return s && !strncmp(s, "/api/v1/", 8) ? s + 7 : NULL;
}

/* "addr/plen" canonical (host bits cleared) from an address or CIDR. */
static char *
cfw_prefix_canon(const char *text)
{
    char buf[INET6_ADDRSTRLEN + 8], out[INET6_ADDRSTRLEN];
    uint8_t a[16] = {0};
    int family, plen, max;
    char *slash;

    snprintf(buf, sizeof buf, "%s", text);
    slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
    }
    if (inet_pton(AF_INET, buf, a) == 1) {
        family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, a) == 1) {
        family = AF_INET6;
        max = 128;
    } else {
        return NULL;
    }
    plen = slash ? atoi(slash + 1) : max;
    if (plen < 0 || plen > max) {
        return NULL;
    }
    for (int bit = plen; bit < max; bit++) {
        a[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
    }
    inet_ntop(family, a, out, sizeof out);
    return xasprintf("%s/%d", out, plen);
}

static char *
cfw_ip_prefix(const struct cpm_ip *ip)
{
    char out[INET6_ADDRSTRLEN];
    inet_ntop(ip->len == 4 ? AF_INET : AF_INET6, ip->b, out, sizeof out);
    return xasprintf("%s/%d", out, ip->len == 4 ? 32 : 128);
}

/* ---- Lookups. ---- */

#define CFW_FIND(TYPE, MAP)                                                    \
    static struct TYPE *TYPE##_find(const struct cfw *fw, const char *path)    \
    {                                                                          \
        struct TYPE *x;                                                        \
        HMAP_FOR_EACH_WITH_HASH (x, node, hash_str(path), &fw->MAP) {          \
            if (!strcmp(x->path, path)) {                                      \
                return x;                                                      \
            }                                                                  \
        }                                                                      \
        return NULL;                                                           \
    }
CFW_FIND(cfw_proj, projs)
CFW_FIND(cfw_group, groups)
CFW_FIND(cfw_service, services)
CFW_FIND(cfw_policy, policies)
CFW_FIND(cfw_rule, rules)

/* The project of an object path "/projects/<p>/...". */
static struct cfw_proj *
cfw_proj_get(struct cfw *fw, const char *path)
{
    const char *end = strchr(path + strlen("/projects/"), '/');
    char *pp = end ? xasprintf("%.*s", (int)(end - path), path) : xstrdup(path);
    struct cfw_proj *pr = cfw_proj_find(fw, pp);

    if (!pr) {
        pr = xcalloc(1, sizeof *pr);
        pr->path = pp;
        hmap_init(&pr->hosts);
        list_init(&pr->ports);
        list_init(&pr->groups);
        list_init(&pr->rules);
        hmap_insert(&fw->projs, &pr->node, hash_str(pp));
    } else {
        free(pp);
    }
    return pr;
}

static struct cfw_group *
cfw_group_get(struct cfw *fw, const char *path)
{
    struct cfw_group *g = cfw_group_find(fw, path);

    if (!g) {
        g = xcalloc(1, sizeof *g);
        g->path = xstrdup(path);
        g->proj = cfw_proj_get(fw, path);
        hmap_init(&g->addrs);
        list_push(&g->proj->groups, &g->proj_link);
        hmap_insert(&fw->groups, &g->node, hash_str(path));
    }
    return g;
}

static struct cfw_service *
cfw_service_get(struct cfw *fw, const char *path)
{
    struct cfw_service *s = cfw_service_find(fw, path);

    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->path = xstrdup(path);
        hmap_insert(&fw->services, &s->node, hash_str(path));
    }
    return s;
}

static struct cfw_policy *
cfw_policy_get(struct cfw *fw, const char *path)
{
    struct cfw_policy *p = cfw_policy_find(fw, path);

    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->path = xstrdup(path);
        p->proj = cfw_proj_get(fw, path);
        p->stateful = true;
        list_init(&p->rules);
        hmap_insert(&fw->policies, &p->node, hash_str(path));
    }
    return p;
}

static struct cfw_ph *
cfw_ph_find(const struct cfw_proj *pr, const struct cpm_host *h)
{
    struct cfw_ph *ph;
    HMAP_FOR_EACH_WITH_HASH (ph, node, hash_u64((uintptr_t)h, 0), &pr->hosts) {
        if (ph->host == h) {
            return ph;
        }
    }
    return NULL;
}

struct cfw *
cfw_create(void)
{
    struct cfw *fw = xcalloc(1, sizeof *fw);
    hmap_init(&fw->projs);
    hmap_init(&fw->groups);
    hmap_init(&fw->services);
    hmap_init(&fw->policies);
    hmap_init(&fw->rules);
    hmap_init(&fw->stats);
    return fw;
}

/* ---- Marks. ---- */

/* Marks 'kind'+id(+|suffix) on every host spanning 'pr'. */
static void
cfw_mark_proj(struct cpm *m, struct cfw_proj *pr, char kind, const char *id,
              const char *suffix)
{
    struct cfw_ph *ph;
    HMAP_FOR_EACH (ph, node, &pr->hosts) {
        cpm_mark(m, ph->host, kind, id, suffix);
    }
}

static bool
cfw_rule_active(const struct cfw_rule *r)
{
    return !r->disabled && r->pol->exists;
}

/* Marks every address of 'g' on the hosts of its project. */
static void
cfw_mark_group_addrs(struct cpm *m, struct cfw_group *g)
{
    struct cfw_addr *a;
    HMAP_FOR_EACH (a, node, &g->addrs) {
        cfw_mark_proj(m, g->proj, 'a', g->path, a->key);
    }
}

static bool
cfw_port_in(const struct cpm_port *p, const struct cfw_group *g)
{
    for (size_t i = 0; i < p->n_groups; i++) {
        if (p->groups[i] == g) {
            return true;
        }
    }
    return false;
}

/* Marks the local-port entry of every active member of 'g'. */
static void
cfw_mark_members(struct cpm *m, struct cfw_group *g)
{
    struct cpm_port *p;
    LIST_FOR_EACH (p, proj_link, &g->proj->ports) {
        if (p->active && cfw_port_in(p, g)) {
            cpm_mark(m, p->host, 'l', p->path, NULL);
        }
    }
}

static void
cfw_addr_add(struct cpm *m, struct cfw_group *g, const char *key, int delta)
{
    uint32_t hash = hash_str(key);
    struct cfw_addr *a;

    HMAP_FOR_EACH_WITH_HASH (a, node, hash, &g->addrs) {
        if (!strcmp(a->key, key)) {
            goto found;
        }
    }
    if (delta < 0) {
        return;
    }
    a = xcalloc(1, sizeof *a + strlen(key) + 1);
    strcpy(a->key, key);
    hmap_insert(&g->addrs, &a->node, hash);
found:
    a->count = (uint32_t)((int)a->count + delta);
    if (g->rule_refs && (a->count == 0 || (delta > 0 && a->count == 1))) {
        cfw_mark_proj(m, g->proj, 'a', g->path, a->key);
    }
    if (!a->count) {
        hmap_remove(&g->addrs, &a->node);
        free(a);
    }
}

/* ---- Rule references. ---- */

static void
cfw_rule_refs(struct cpm *m, struct cfw_rule *r, int delta)
{
    struct cfw_group **scopes[2] = {r->pol->scope, r->scope};
    size_t n_scopes[2] = {r->pol->n_scope, r->n_scope};

    for (int side = 0; side < 2; side++) {
        struct cfw_group **v = side ? r->dst : r->src;
        size_t n = side ? r->n_dst : r->n_src;
        for (size_t i = 0; i < n; i++) {
            struct cfw_group *g = v[i];
            g->rule_refs = (uint32_t)((int)g->rule_refs + delta);
            if ((delta > 0 && g->rule_refs == 1) || !g->rule_refs) {
                cfw_mark_group_addrs(m, g);
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < n_scopes[k]; i++) {
            struct cfw_group *g = scopes[k][i];
            g->scope_refs = (uint32_t)((int)g->scope_refs + delta);
            if ((delta > 0 && g->scope_refs == 1) || !g->scope_refs) {
                cfw_mark_members(m, g);
            }
        }
    }
}

/* Counts or uncounts the rule's references to match whether it is active,
 * and marks it on the project's hosts. */
static void
cfw_rule_sync(struct cpm *m, struct cfw_rule *r)
{
    bool active = cfw_rule_active(r);

    if (active != r->installed) {
        cfw_rule_refs(m, r, active ? +1 : -1);
        r->installed = active;
    }
    cfw_mark_proj(m, r->pol->proj, 'w', r->path, NULL);
}

/* ---- Group membership. ---- */

static bool
cfw_str_match(enum cfw_cond_op op, const char *s, const char *v)
{
    size_t ns = strlen(s), nv = strlen(v);

    switch (op) {
    case CO_EQUALS:
        return !strcmp(s, v);
    case CO_CONTAINS:
        return strstr(s, v) != NULL;
    case CO_STARTS:
        return ns >= nv && !memcmp(s, v, nv);
    case CO_ENDS:
        return ns >= nv && !memcmp(s + ns - nv, v, nv);
    }
    return false;
}

/* Tag condition values: "scope|tag" exact, "|tag" or "tag" without a
 * scope, "scope|" any tag in the scope.  Port tags are "scope|tag". */
static bool
cfw_tag_match(const struct cpm_port *p, const char *v)
{
    const char *bar = strchr(v, '|');

    for (size_t i = 0; i < p->n_tags; i++) {
        const char *t = p->tags[i];
        if (!bar) {
            if (t[0] == '|' && !strcmp(t + 1, v)) {
                return true;
            }
        } else if (!bar[1]) {
            size_t ns = (size_t)(bar - v) + 1;
            if (!strncmp(t, v, ns)) {
                return true;
            }
        } else if (!strcmp(t, v)) {
            return true;
        }
    }
    return false;
}

static bool
cfw_cond_match(const struct cpm_port *p, const struct cfw_cond *c)
{
    switch (c->key) {
    case CK_TAG:
        return cfw_tag_match(p, c->value);
    case CK_NAME:
        return p->name && cfw_str_match(c->op, p->name, c->value);
    case CK_SEGMENT:
        return !strcmp(p->seg->path, c->value);
    }
    return false;
}

static bool
cfw_member(const struct cfw_group *g, const struct cpm_port *p, int depth)
{
    if (!g->exists || depth > CFW_MAX_NEST) {
        return false;
    }
    if (strv_has(g->m_ports, g->n_m_ports, p->path) ||
        strv_has(g->m_segs, g->n_m_segs, p->seg->path)) {
        return true;
    }
    for (size_t i = 0; i < g->n_macs; i++) {
        if (!memcmp(g->macs[i], p->mac, 6)) {
            return true;
        }
    }
    for (size_t i = 0; i < g->n_crit; i++) {
        const struct cfw_crit *c = &g->crit[i];
        size_t k = 0;
        while (k < c->n && cfw_cond_match(p, &c->conds[k])) {
            k++;
        }
        if (c->n && k == c->n) {
            return true;
        }
    }
    for (size_t i = 0; i < g->n_m_groups; i++) {
        if (cfw_member(g->m_groups[i], p, depth + 1)) {
            return true;
        }
    }
    return false;
}

static int
ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a;
    uintptr_t y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Moves 'p' out of its groups (their address sets lose its addresses). */
static void
cfw_port_leave(struct cpm *m, struct cpm_port *p, char *const *ips,
               size_t n_ips)
{
    for (size_t g = 0; g < p->n_groups; g++) {
        for (size_t i = 0; i < n_ips; i++) {
            cfw_addr_add(m, p->groups[g], ips[i], -1);
        }
    }
}

/* Re-evaluates which groups 'p' is in.  Its addresses were counted in its
 * old groups as 'old_ips' and are p->fw_ips now. */
static void
cfw_port_eval(struct cpm *m, struct cpm_port *p, char *const *old_ips,
              size_t n_old)
{
    struct cfw_group **ng = NULL, *g;
    size_t n = 0;
    bool changed, ips_changed = n_old != p->fw_n_ips;

    LIST_FOR_EACH (g, proj_link, &p->proj->groups) {
        if (cfw_member(g, p, 0)) {
            PUSH(ng, n, g);
        }
    }
    if (n > 1) {
        qsort(ng, n, sizeof *ng, ptr_cmp);
    }
    changed =
        n != p->n_groups || (n && memcmp(ng, p->groups, n * sizeof *ng) != 0);
    for (size_t i = 0; !ips_changed && i < n_old; i++) {
        ips_changed = strcmp(old_ips[i], p->fw_ips[i]) != 0;
    }
    if (!changed && !ips_changed) {
        free(ng);
        return;
    }
    cfw_port_leave(m, p, old_ips, n_old);
    free(p->groups);
    p->groups = ng;
    p->n_groups = n;
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < p->fw_n_ips; i++) {
            cfw_addr_add(m, ng[k], p->fw_ips[i], +1);
        }
    }
    if (changed && p->active) {
        cpm_mark(m, p->host, 'l', p->path, NULL); /* its port_sets */
    }
}

static struct cfw_proj *
cfw_port_proj(struct cpm *m, struct cpm_port *p)
{
    if (!p->proj) {
        p->proj = cfw_proj_get(m->fw, p->path);
        list_push(&p->proj->ports, &p->proj_link);
    }
    return p->proj;
}

void
cfw_port_changed(struct cpm *m, struct cpm_port *p)
{
    char **old = p->fw_ips;
    size_t n_old = p->fw_n_ips;

    cfw_port_proj(m, p);
    p->fw_ips = NULL;
    p->fw_n_ips = 0;
    for (size_t i = 0; i < p->n_ips; i++) {
        PUSH(p->fw_ips, p->fw_n_ips, cfw_ip_prefix(&p->ips[i]));
    }
    cfw_port_eval(m, p, old, n_old);
    strv_free(old, n_old);
}

void
cfw_port_removed(struct cpm *m, struct cpm_port *p)
{
    if (m->fw) {
        cfw_port_leave(m, p, p->fw_ips, p->fw_n_ips);
        if (p->proj) {
            list_remove(&p->proj_link);
        }
    }
    p->proj = NULL;
    free(p->groups);
    p->groups = NULL;
    p->n_groups = 0;
    strv_free(p->fw_ips, p->fw_n_ips);
    p->fw_ips = NULL;
    p->fw_n_ips = 0;
    strv_free(p->tags, p->n_tags);
    p->tags = NULL;
    p->n_tags = 0;
    free(p->name);
    p->name = NULL;
}

void
cfw_port_active(struct cpm *m, struct cpm_port *p, int delta)
{
    struct cfw_proj *pr = cfw_port_proj(m, p);
    struct cfw_ph *ph = cfw_ph_find(pr, p->host);
    struct cfw_group *g;
    struct cfw_rule *r;

    if (!ph) {
        ph = xcalloc(1, sizeof *ph);
        ph->host = p->host;
        hmap_insert(&pr->hosts, &ph->node, hash_u64((uintptr_t)p->host, 0));
    }
    ph->count = (uint32_t)((int)ph->count + delta);
    if ((delta > 0 && ph->count == 1) || !ph->count) {
        /* The host joins or leaves the project's firewall span. */
        LIST_FOR_EACH (r, proj_link, &pr->rules) {
            cpm_mark(m, p->host, 'w', r->path, NULL);
        }
        LIST_FOR_EACH (g, proj_link, &pr->groups) {
            if (g->rule_refs) {
                struct cfw_addr *a;
                HMAP_FOR_EACH (a, node, &g->addrs) {
                    cpm_mark(m, p->host, 'a', g->path, a->key);
                }
            }
        }
    }
    if (!ph->count) {
        hmap_remove(&pr->hosts, &ph->node);
        free(ph);
    }
}

void
cfw_segment_changed(struct cpm *m, struct cpm_seg *s)
{
    struct cpm_port *p;
    LIST_FOR_EACH (p, seg_link, &s->ports) {
        if (p->active) {
            cpm_mark(m, p->host, 'l', p->path, NULL);
        }
    }
}

/* ---- Parsing objects. ---- */

static void
cfw_group_clear(struct cfw_group *g)
{
    strv_free(g->m_ports, g->n_m_ports);
    strv_free(g->m_segs, g->n_m_segs);
    free(g->m_groups);
    free(g->macs);
    strv_free(g->cidrs, g->n_cidrs);
    for (size_t i = 0; i < g->n_crit; i++) {
        for (size_t k = 0; k < g->crit[i].n; k++) {
            free(g->crit[i].conds[k].value);
        }
        free(g->crit[i].conds);
    }
    free(g->crit);
    g->m_ports = g->m_segs = g->cidrs = NULL;
    g->m_groups = NULL;
    g->macs = NULL;
    g->crit = NULL;
    g->n_m_ports = g->n_m_segs = g->n_m_groups = g->n_macs = g->n_cidrs = 0;
    g->n_crit = 0;
}

static bool
cfw_enum(const char *s, const char *const *names, int *out)
{
    for (int i = 0; s && names[i]; i++) {
        if (!strcmp(s, names[i])) {
            *out = i;
            return true;
        }
    }
    return false;
}

static void
cfw_group_parse(struct cfw *fw, struct cfw_group *g, json_t *obj)
{
    static const char *const keys[] = {"tag", "name", "segment", NULL};
    static const char *const ops[] = {"equals", "contains", "starts_with",
                                      "ends_with", NULL};
    json_t *v, *c, *cond;
    size_t i, k;

    json_array_foreach(json_object_get(obj, "members"), i, v)
    {
        const char *ref = cfw_ref(v);
        if (!ref) {
            continue;
        }
        int n = path_n_elems(ref);
        if (!path_elem_is(ref, 0, "projects")) {
            continue;
        }
        if (n == 6 && path_elem_is(ref, 4, "ports")) {
            PUSH(g->m_ports, g->n_m_ports, xstrdup(ref));
        } else if (n == 4 && path_elem_is(ref, 2, "groups")) {
            PUSH(g->m_groups, g->n_m_groups, cfw_group_get(fw, ref));
        } else if (n == 4 && path_elem_is(ref, 2, "segments")) {
            PUSH(g->m_segs, g->n_m_segs, xstrdup(ref));
        }
    }
    json_array_foreach(json_object_get(obj, "mac_addresses"), i, v)
    {
        uint8_t mac[6];
        if (cpm_parse_mac(json_string_value(v), mac)) {
            if (!(g->n_macs & (g->n_macs - 1))) {
                g->macs = xrealloc(g->macs, (g->n_macs ? g->n_macs * 2 : 1) *
                                                sizeof *g->macs);
            }
            memcpy(g->macs[g->n_macs++], mac, 6);
        }
    }
    json_array_foreach(json_object_get(obj, "ip_addresses"), i, v)
    {
        char *pfx = json_string_value(v)
                        ? cfw_prefix_canon(json_string_value(v))
                        : NULL;
        if (pfx) {
            PUSH(g->cidrs, g->n_cidrs, pfx);
        }
    }
    json_array_foreach(json_object_get(obj, "criteria"), i, c)
    {
        struct cfw_crit crit = {NULL, 0};
        json_array_foreach(json_object_get(c, "conditions"), k, cond)
        {
            struct cfw_cond cc;
            int key, op = CO_EQUALS;
            const char *val = json_string_value(json_object_get(cond, "value"));
            if (!val ||
                !cfw_enum(json_string_value(json_object_get(cond, "key")), keys,
                          &key)) {
                continue;
            }
            cfw_enum(json_string_value(json_object_get(cond, "operator")), ops,
                     &op);
            cc.key = (enum cfw_cond_key)key;
            cc.op = (enum cfw_cond_op)op;
            cc.value = key == CK_SEGMENT
                           ? xasprintf("%s/segments/%s", g->proj->path, val)
                           : xstrdup(val);
            PUSH(crit.conds, crit.n, cc);
        }
        if (crit.n) {
            if (!(g->n_crit & (g->n_crit - 1))) {
                g->crit = xrealloc(g->crit, (g->n_crit ? g->n_crit * 2 : 1) *
                                                sizeof *g->crit);
            }
            g->crit[g->n_crit++] = crit;
        }
    }
}

/* Collects the static prefixes of 'g' and its nested groups. */
static void
cfw_collect_statics(const struct cfw_group *g, int depth, char ***v, size_t *n)
{
    if (!g->exists || depth > CFW_MAX_NEST) {
        return;
    }
    for (size_t i = 0; i < g->n_cidrs; i++) {
        if (!strv_has(*v, *n, g->cidrs[i])) {
            PUSH(*v, *n, xstrdup(g->cidrs[i]));
        }
    }
    for (size_t i = 0; i < g->n_m_groups; i++) {
        cfw_collect_statics(g->m_groups[i], depth + 1, v, n);
    }
}

static void
cfw_group_recount_statics(struct cpm *m, struct cfw_group *g)
{
    char **v = NULL;
    size_t n = 0;

    cfw_collect_statics(g, 0, &v, &n);
    for (size_t i = 0; i < n; i++) {
        cfw_addr_add(m, g, v[i], +1);
    }
    for (size_t i = 0; i < g->n_statics; i++) {
        cfw_addr_add(m, g, g->statics[i], -1);
    }
    strv_free(g->statics, g->n_statics);
    g->statics = v;
    g->n_statics = n;
}

static void
cfw_apply_group(struct cpm *m, const char *path, json_t *obj)
{
    struct cfw_group *g =
        obj ? cfw_group_get(m->fw, path) : cfw_group_find(m->fw, path);
    struct cfw_group *o;
    struct cpm_port *p;

    if (!g) {
        return;
    }
    cfw_group_clear(g);
    g->exists = obj != NULL;
    if (obj) {
        cfw_group_parse(m->fw, g, obj);
    }
    /* Nesting makes any group's statics and members depend on this one. */
    LIST_FOR_EACH (o, proj_link, &g->proj->groups) {
        cfw_group_recount_statics(m, o);
    }
    LIST_FOR_EACH (p, proj_link, &g->proj->ports) {
        cfw_port_eval(m, p, p->fw_ips, p->fw_n_ips);
    }
}

static void
cfw_entries_parse(json_t *arr, struct cfw_svc_entry **out, size_t *n)
{
    json_t *e, *pv;
    size_t i, k;

    json_array_foreach(arr, i, e)
    {
        const char *proto = json_string_value(json_object_get(e, "protocol"));
        struct cfw_svc_entry se = {256, 0, 0xffff};

        if (!proto) {
            continue;
        }
        if (!strcmp(proto, "TCP") || !strcmp(proto, "UDP")) {
            json_t *ports = json_object_get(e, "destination_ports");
            se.proto = proto[0] == 'T' ? 6 : 17;
            if (!json_array_size(ports)) {
                PUSH(*out, *n, se);
            }
            json_array_foreach(ports, k, pv)
            {
                const char *spec = json_string_value(pv);
                unsigned lo, hi;
                if (!spec) {
                    continue;
                }
                if (sscanf(spec, "%u-%u", &lo, &hi) != 2) {
                    hi = lo = (unsigned)atoi(spec);
                }
                se.lo = lo;
                se.hi = hi;
                PUSH(*out, *n, se);
            }
        } else if (!strcmp(proto, "ICMPv4") || !strcmp(proto, "ICMPv6")) {
            json_t *type = json_object_get(e, "icmp_type");
            json_t *code = json_object_get(e, "icmp_code");
            se.proto = proto[4] == 'v' && proto[5] == '6' ? 58 : 1;
            if (json_is_integer(type)) {
                unsigned t = (unsigned)json_integer_value(type);
                se.lo = t << 8 | (json_is_integer(code)
                                      ? (unsigned)json_integer_value(code)
                                      : 0);
                se.hi = t << 8 | (json_is_integer(code)
                                      ? (unsigned)json_integer_value(code)
                                      : 0xff);
            }
            PUSH(*out, *n, se);
        } else if (!strcmp(proto, "IP")) {
            se.proto = (uint32_t)json_integer_value(
                json_object_get(e, "protocol_number"));
            PUSH(*out, *n, se);
        }
    }
}

static void
cfw_apply_service(struct cpm *m, const char *path, json_t *obj)
{
    struct cfw_service *s =
        obj ? cfw_service_get(m->fw, path) : cfw_service_find(m->fw, path);
    struct cfw_rule *r;

    if (!s) {
        return;
    }
    free(s->entries);
    s->entries = NULL;
    s->n = 0;
    s->exists = obj != NULL;
    if (obj) {
        cfw_entries_parse(json_object_get(obj, "service_entries"), &s->entries,
                          &s->n);
    }
    HMAP_FOR_EACH (r, node, &m->fw->rules) {
        for (size_t i = 0; i < r->n_svcs; i++) {
            if (r->svcs[i] == s) {
                cfw_mark_proj(m, r->pol->proj, 'w', r->path, NULL);
                break;
            }
        }
    }
}

static void
cfw_groups_parse(struct cfw *fw, json_t *arr, struct cfw_group ***out,
                 size_t *n)
{
    json_t *v;
    size_t i;

    json_array_foreach(arr, i, v)
    {
        const char *ref = cfw_ref(v);
        if (ref) {
            PUSH(*out, *n, cfw_group_get(fw, ref));
        }
    }
}

static void
cfw_apply_policy(struct cpm *m, const char *path, json_t *obj)
{
    static const char *const cats[] = {"emergency", "infrastructure",
                                       "environment", "application", NULL};
    struct cfw_policy *pol =
        obj ? cfw_policy_get(m->fw, path) : cfw_policy_find(m->fw, path);
    struct cfw_rule *r;
    int cat = 3;

    if (!pol) {
        return;
    }
    /* Uninstall its rules, change, reinstall: scopes may change. */
    LIST_FOR_EACH (r, pol_link, &pol->rules) {
        if (r->installed) {
            cfw_rule_refs(m, r, -1);
            r->installed = false;
        }
    }
    free(pol->scope);
    pol->scope = NULL;
    pol->n_scope = 0;
    pol->exists = obj != NULL;
    if (obj) {
        json_t *st = json_object_get(obj, "stateful");
        cfw_enum(json_string_value(json_object_get(obj, "category")), cats,
                 &cat);
        pol->category = (uint32_t)cat;
        pol->seq = (uint32_t)json_integer_value(
            json_object_get(obj, "sequence_number"));
        pol->stateful = !json_is_false(st);
        cfw_groups_parse(m->fw, json_object_get(obj, "scope"), &pol->scope,
                         &pol->n_scope);
    }
    LIST_FOR_EACH (r, pol_link, &pol->rules) {
        cfw_rule_sync(m, r);
    }
}

static void
cfw_rule_free_fields(struct cfw_rule *r)
{
    free(r->src);
    free(r->dst);
    free(r->scope);
    free(r->svcs);
    free(r->entries);
    r->src = r->dst = r->scope = NULL;
    r->svcs = NULL;
    r->entries = NULL;
    r->n_src = r->n_dst = r->n_scope = r->n_svcs = r->n_entries = 0;
}

static void
cfw_apply_rule(struct cpm *m, const char *path, json_t *obj)
{
    static const char *const dirs[] = {"", "in", "out", "in_out", NULL};
    static const char *const fams[] = {"", "ipv4", "ipv6", "ipv4_ipv6", NULL};
    static const char *const acts[] = {"allow", "drop", "reject", NULL};
    struct cfw_rule *r = cfw_rule_find(m->fw, path);
    struct cfw_policy *pol;
    json_t *v;
    size_t i;
    int dir = 3, fam = 3, act = WEFT__FW_ACTION__DROP;

    if (r && r->installed) {
        cfw_rule_refs(m, r, -1);
        r->installed = false;
    }
    if (!obj) {
        if (r) {
            cfw_mark_proj(m, r->pol->proj, 'w', r->path, NULL);
            list_remove(&r->pol_link);
            list_remove(&r->proj_link);
            hmap_remove(&m->fw->rules, &r->node);
            cfw_rule_free_fields(r);
            free(r->path);
            free(r);
        }
        return;
    }
    if (!r) {
        char *pp = xasprintf("%.*s", (int)path_prefix_len(path, 4), path);
        pol = cfw_policy_get(m->fw, pp);
        free(pp);
        r = xcalloc(1, sizeof *r);
        r->path = xstrdup(path);
        r->pol = pol;
        list_push(&pol->rules, &r->pol_link);
        list_push(&pol->proj->rules, &r->proj_link);
        hmap_insert(&m->fw->rules, &r->node, hash_str(path));
    }
    cfw_rule_free_fields(r);
    r->seq =
        (uint32_t)json_integer_value(json_object_get(obj, "sequence_number"));
    cfw_groups_parse(m->fw, json_object_get(obj, "source_groups"), &r->src,
                     &r->n_src);
    cfw_groups_parse(m->fw, json_object_get(obj, "destination_groups"), &r->dst,
                     &r->n_dst);
    cfw_groups_parse(m->fw, json_object_get(obj, "scope"), &r->scope,
                     &r->n_scope);
    json_array_foreach(json_object_get(obj, "services"), i, v)
    {
        const char *ref = cfw_ref(v);
        if (ref) {
            PUSH(r->svcs, r->n_svcs, cfw_service_get(m->fw, ref));
        }
    }
    cfw_entries_parse(json_object_get(obj, "service_entries"), &r->entries,
                      &r->n_entries);
    cfw_enum(json_string_value(json_object_get(obj, "direction")), dirs, &dir);
    cfw_enum(json_string_value(json_object_get(obj, "ip_protocol")), fams,
             &fam);
    cfw_enum(json_string_value(json_object_get(obj, "action")), acts, &act);
    r->dir = (uint32_t)(dir ? dir : 3);
    r->family = (uint32_t)(fam ? fam : 3);
    r->action = (Weft__FwAction)act;
    r->logged = json_is_true(json_object_get(obj, "logged"));
    r->disabled = json_is_true(json_object_get(obj, "disabled"));
    cfw_rule_sync(m, r);
}

static void
cfw_apply_settings(struct cpm *m, json_t *obj)
{
    const char *a =
        obj ? json_string_value(json_object_get(obj, "default_action")) : NULL;
    Weft__FwAction act = a && !strcmp(a, "drop") ? WEFT__FW_ACTION__DROP
                                                 : WEFT__FW_ACTION__ALLOW;
    bool strict = obj && json_is_true(json_object_get(obj, "tcp_strict"));
    struct cpm_host *h;

    if (act == m->fw->default_action && strict == m->fw->tcp_strict) {
        return;
    }
    m->fw->default_action = act;
    m->fw->tcp_strict = strict;
    HMAP_FOR_EACH (h, node, &m->hosts) {
        if (h->exists) {
            cpm_mark_config(m, h);
        }
    }
}

bool
cfw_apply(struct cpm *m, const char *key, const char *path, json_t *obj)
{
    if (key[0] != 'o' || key[2] != '/') {
        return false;
    }
    if (key[1] == '1' && !strcmp(path, "/settings/firewall")) {
        cfw_apply_settings(m, obj);
        return true;
    }
    if (strncmp(path, "/projects/", 10)) {
        return false;
    }
    if (key[1] == '2' && path_n_elems(path) == 4) {
        if (path_elem_is(path, 2, "groups")) {
            cfw_apply_group(m, path, obj);
            return true;
        }
        if (path_elem_is(path, 2, "services")) {
            cfw_apply_service(m, path, obj);
            return true;
        }
        if (path_elem_is(path, 2, "security-policies")) {
            cfw_apply_policy(m, path, obj);
            return true;
        }
    }
    if (key[1] == '3' && path_n_elems(path) == 6 &&
        path_elem_is(path, 2, "security-policies") &&
        path_elem_is(path, 4, "rules")) {
        cfw_apply_rule(m, path, obj);
        return true;
    }
    return false;
}

/* ---- Building messages. ---- */

static char **
cfw_group_paths(struct cfw_group *const *v, size_t n)
{
    char **out = xcalloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        out[i] = xstrdup(v[i]->path);
    }
    return out;
}

static void
cfw_add_service(Weft__FwRule *fr, const struct cfw_svc_entry *e)
{
    Weft__FwService *s = xmalloc(sizeof *s);
    weft__fw_service__init(s);
    s->proto = e->proto;
    s->lo = e->lo;
    s->hi = e->hi;
    PUSH(fr->services, fr->n_services, s);
}

static void
cfw_add_rule(Weft__Update *u, const struct cfw_rule *r)
{
    Weft__FwRule *fr = xmalloc(sizeof *fr);
    const struct cfw_policy *pol = r->pol;

    weft__fw_rule__init(fr);
    fr->id = xstrdup(r->path);
    fr->project = xstrdup(pol->proj->path);
    fr->priority =
        (uint64_t)pol->category << 60 | (uint64_t)pol->seq << 30 | r->seq;
    fr->n_src_sets = r->n_src;
    fr->src_sets = cfw_group_paths(r->src, r->n_src);
    fr->n_dst_sets = r->n_dst;
    fr->dst_sets = cfw_group_paths(r->dst, r->n_dst);
    for (size_t i = 0; i < r->n_svcs; i++) {
        for (size_t k = 0; k < r->svcs[i]->n; k++) {
            cfw_add_service(fr, &r->svcs[i]->entries[k]);
        }
    }
    for (size_t k = 0; k < r->n_entries; k++) {
        cfw_add_service(fr, &r->entries[k]);
    }
    if ((r->n_svcs || r->n_entries) && !fr->n_services) {
        /* Named services that are all empty: match nothing, not any. */
        static const struct cfw_svc_entry none = {255, 0, 0}; /* reserved */
        cfw_add_service(fr, &none);
    }
    fr->direction = r->dir;
    fr->family = r->family;
    fr->action = r->action;
    fr->logged = r->logged;
    fr->stateless = !pol->stateful;
    fr->n_applied_to = pol->n_scope;
    fr->applied_to = cfw_group_paths(pol->scope, pol->n_scope);
    fr->n_rule_applied_to = r->n_scope;
    fr->rule_applied_to = cfw_group_paths(r->scope, r->n_scope);
    PUSH(u->rules, u->n_rules, fr);
}

static void
cfw_add_member(Weft__Update *u, const struct cfw_group *g, const char *pfx)
{
    Weft__AddrMember *a = xmalloc(sizeof *a);
    char buf[INET6_ADDRSTRLEN + 8], *slash;
    uint8_t addr[16];

    weft__addr_member__init(a);
    a->id = xasprintf("%s|%s", g->path, pfx);
    a->set = xstrdup(g->path);
    snprintf(buf, sizeof buf, "%s", pfx);
    slash = strchr(buf, '/');
    *slash = '\0';
    a->plen = (uint32_t)atoi(slash + 1);
    if (inet_pton(AF_INET, buf, addr) == 1) {
        a->addr = bin_dup(addr, 4);
    } else {
        inet_pton(AF_INET6, buf, addr);
        a->addr = bin_dup(addr, 16);
    }
    PUSH(u->addr_members, u->n_addr_members, a);
}

static bool
cfw_spans(const struct cfw_proj *pr, const struct cpm_host *h)
{
    return cfw_ph_find(pr, h) != NULL;
}

static struct cfw_addr *
cfw_addr_find(const struct cfw_group *g, const char *key)
{
    struct cfw_addr *a;
    HMAP_FOR_EACH_WITH_HASH (a, node, hash_str(key), &g->addrs) {
        if (!strcmp(a->key, key)) {
            return a;
        }
    }
    return NULL;
}

bool
cfw_eval(struct cpm *m, struct cpm_host *h, const char *key, Weft__Update *u)
{
    const char *id = key + 1;

    if (key[0] == 'w') {
        struct cfw_rule *r = cfw_rule_find(m->fw, id);
        if (r && cfw_rule_active(r) && cfw_spans(r->pol->proj, h)) {
            cfw_add_rule(u, r);
        } else {
            PUSH(u->del_rules, u->n_del_rules, xstrdup(id));
        }
        return true;
    }
    if (key[0] == 'a') {
        const char *bar = strrchr(id, '|');
        char *gp = xasprintf("%.*s", (int)(bar - id), id);
        struct cfw_group *g = cfw_group_find(m->fw, gp);
        free(gp);
        if (g && g->exists && g->rule_refs && cfw_spans(g->proj, h) &&
            cfw_addr_find(g, bar + 1)) {
            cfw_add_member(u, g, bar + 1);
        } else {
            PUSH(u->del_addr_members, u->n_del_addr_members, xstrdup(id));
        }
        return true;
    }
    return false;
}

void
cfw_snapshot(struct cpm *m, struct cpm_host *h, Weft__Update *u)
{
    struct cfw_proj *pr;

    HMAP_FOR_EACH (pr, node, &m->fw->projs) {
        struct cfw_group *g;
        struct cfw_rule *r;

        if (!cfw_spans(pr, h)) {
            continue;
        }
        LIST_FOR_EACH (r, proj_link, &pr->rules) {
            if (cfw_rule_active(r)) {
                cfw_add_rule(u, r);
            }
        }
        LIST_FOR_EACH (g, proj_link, &pr->groups) {
            struct cfw_addr *a;
            if (!g->exists || !g->rule_refs) {
                continue;
            }
            HMAP_FOR_EACH (a, node, &g->addrs) {
                cfw_add_member(u, g, a->key);
            }
        }
    }
}

void
cfw_fill_local(struct cpm *m, const struct cpm_port *p, Weft__LocalPort *lp)
{
    (void)m;
    for (size_t i = 0; i < p->n_groups; i++) {
        if (p->groups[i]->scope_refs) {
            PUSH(lp->port_sets, lp->n_port_sets, xstrdup(p->groups[i]->path));
        }
    }
    lp->spoofguard =
        p->spoofguard == 1 || (p->spoofguard == -1 && p->seg->spoofguard);
}

void
cfw_fill_config(struct cpm *m, Weft__HostConfig *hc)
{
    hc->fw_default = m->fw->default_action;
    hc->fw_tcp_strict = m->fw->tcp_strict;
}

/* ---- Queries and statistics. ---- */

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts 'v' and returns it as a JSON array; frees 'v'. */
static json_t *
strv_to_json(char **v, size_t n)
{
    json_t *arr = json_array();
    if (n > 1) {
        qsort(v, n, sizeof *v, str_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_string(v[i]));
    }
    strv_free(v, n);
    return arr;
}

json_t *
cfw_group_members(struct cpm *m, const char *path)
{
    struct cfw_group *g = cfw_group_find(m->fw, path);
    json_t *ports, *addrs, *res;
    char **pv = NULL, **av = NULL;
    size_t n_pv = 0, n_av = 0;
    struct cpm_port *p;
    struct cfw_addr *a;

    if (!g || !g->exists) {
        return NULL;
    }
    LIST_FOR_EACH (p, proj_link, &g->proj->ports) {
        if (cfw_port_in(p, g)) {
            PUSH(pv, n_pv, xasprintf("/api/v1%s", p->path));
        }
    }
    HMAP_FOR_EACH (a, node, &g->addrs) {
        PUSH(av, n_av, xstrdup(a->key));
    }
    ports = strv_to_json(pv, n_pv);
    addrs = strv_to_json(av, n_av);
    res = json_object();
    json_object_set_new(res, "ports", ports);
    json_object_set_new(res, "ip_addresses", addrs);
    json_object_set_new(res, "port_count",
                        json_integer((json_int_t)json_array_size(ports)));
    return res;
}

static struct cfw_stat *
cfw_stat_find(struct cfw *fw, const char *rule, const char *host, uint32_t hash)
{
    struct cfw_stat *st;
    HMAP_FOR_EACH_WITH_HASH (st, node, hash, &fw->stats) {
        if (!strcmp(st->rule, rule) && !strcmp(st->host, host)) {
            return st;
        }
    }
    return NULL;
}

void
cfw_stats_update(struct cpm *m, const char *host_id, const Weft__RuleStats *rs)
{
    for (size_t i = 0; i < rs->n_counters; i++) {
        const Weft__RuleCounter *c = rs->counters[i];
        uint32_t hash = hash_str(c->rule);
        struct cfw_stat *st = cfw_stat_find(m->fw, c->rule, host_id, hash);
        if (!st) {
            st = xcalloc(1, sizeof *st);
            st->rule = xstrdup(c->rule);
            st->host = xstrdup(host_id);
            hmap_insert(&m->fw->stats, &st->node, hash);
        }
        st->packets = c->packets;
        st->bytes = c->bytes;
        st->sessions = c->sessions;
    }
}

json_t *
cfw_rule_stats(struct cpm *m, const char *path)
{
    struct cfw_rule *r = cfw_rule_find(m->fw, path);
    uint64_t packets = 0, bytes = 0, sessions = 0;
    json_t *hosts, *res;
    struct cfw_stat *st;

    if (!r) {
        return NULL;
    }
    hosts = json_array();
    HMAP_FOR_EACH_WITH_HASH (st, node, hash_str(path), &m->fw->stats) {
        if (strcmp(st->rule, path)) {
            continue;
        }
        packets += st->packets;
        bytes += st->bytes;
        sessions += st->sessions;
        json_array_append_new(
            hosts,
            json_pack("{s:s, s:I, s:I, s:I}", "host", st->host, "packets",
                      (json_int_t)st->packets, "bytes", (json_int_t)st->bytes,
                      "sessions", (json_int_t)st->sessions));
    }
    res = json_pack("{s:I, s:I, s:I}", "packets", (json_int_t)packets, "bytes",
                    (json_int_t)bytes, "sessions", (json_int_t)sessions);
    json_object_set_new(res, "hosts", hosts);
    return res;
}

/* ---- Teardown. ---- */

void
cfw_destroy(struct cfw *fw)
{
    struct cfw_group *g;
    struct cfw_service *s;
    struct cfw_policy *p;
    struct cfw_rule *r;
    struct cfw_proj *pr;
    struct cfw_stat *st;

    if (!fw) {
        return;
    }
    HMAP_FOR_EACH (r, node, &fw->rules) {
        cfw_rule_free_fields(r);
        free(r->path);
        free(r);
    }
    HMAP_FOR_EACH (g, node, &fw->groups) {
        struct cfw_addr *a;
        cfw_group_clear(g);
        strv_free(g->statics, g->n_statics);
        HMAP_FOR_EACH (a, node, &g->addrs) {
            free(a);
        }
        hmap_destroy(&g->addrs);
        free(g->path);
        free(g);
    }
    HMAP_FOR_EACH (s, node, &fw->services) {
        free(s->entries);
        free(s->path);
        free(s);
    }
    HMAP_FOR_EACH (p, node, &fw->policies) {
        free(p->scope);
        free(p->path);
        free(p);
    }
    HMAP_FOR_EACH (pr, node, &fw->projs) {
        struct cfw_ph *ph;
        HMAP_FOR_EACH (ph, node, &pr->hosts) {
            free(ph);
        }
        hmap_destroy(&pr->hosts);
        free(pr->path);
        free(pr);
    }
    HMAP_FOR_EACH (st, node, &fw->stats) {
        free(st->rule);
        free(st->host);
        free(st);
    }
    hmap_destroy(&fw->rules);
    hmap_destroy(&fw->groups);
    hmap_destroy(&fw->services);
    hmap_destroy(&fw->policies);
    hmap_destroy(&fw->projs);
    hmap_destroy(&fw->stats);
    free(fw);
}
