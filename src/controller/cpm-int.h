/* Internals of the controller model shared by cpm.c (switching span) and
 * cfw.c (firewall span): the object structs, the intrusive list, and the
 * dirty-mark helpers.  Nothing outside src/controller includes this. */
#ifndef WEFT_CONTROLLER_CPM_INT_H
#define WEFT_CONTROLLER_CPM_INT_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "controller/cpm.h"
#include "lib/hmap.h"
#include "lib/util.h"

struct cfw;
struct crt_router;
struct cfw_proj;
struct cfw_group;

/* Intrusive doubly-linked list. */
struct cpm_list {
    struct cpm_list *prev, *next;
};

static inline void
list_init(struct cpm_list *l)
{
    l->prev = l->next = l;
}

static inline void
list_push(struct cpm_list *head, struct cpm_list *e)
{
    e->next = head;
    e->prev = head->prev;
    head->prev->next = e;
    head->prev = e;
}

static inline void
list_remove(struct cpm_list *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    list_init(e);
}

#define LIST_FOR_EACH(OBJ, MEMBER, HEAD)                                       \
    for (struct cpm_list *ln_ = (HEAD)->next;                                  \
         ln_ != (HEAD) &&                                                      \
         ((OBJ) = CONTAINER_OF(ln_, __typeof__(*(OBJ)), MEMBER), 1);           \
         ln_ = ln_->next)

struct cpm_ip {
    uint8_t b[16]; /* address */
    uint8_t len;   /* 4 or 16 */
};

struct cpm_host {
    struct hmap_node node; /* in cpm->hosts */
    char *id;              /* host id */
    bool exists;           /* the host object is in the store */
    struct cpm_ip tep;     /* tunnel endpoint, valid if 'exists' */
    struct hmap segs;      /* cpm_sh by segment pointer */
    struct cpm_list ports; /* cpm_port.host_link: ports attached here */
    struct hmap dirty;     /* cpm_dirty: entries to re-evaluate */
    bool config_dirty;     /* tunnel endpoint changed */
    bool on_dirty_list;    /* linked in cpm->dirty_hosts */
    struct cpm_host *next_dirty;
};

struct cpm_seg {
    struct hmap_node node; /* in cpm->segs */
    char *path;            /* "/projects/p/segments/s" */
    bool exists;           /* in the store, with a VNI */
    uint32_t vni;          /* overlay VNI */
    int encap;             /* Weft__Encap: "encap" (absent: GENEVE) */
    uint64_t mod_rev;      /* revision of its last change */
    struct cpm_list ports; /* cpm_port.seg_link: all its ports */
    struct hmap hosts;     /* cpm_sh by host pointer */
    bool spoofguard;       /* "spoofguard": "enabled" */

    /* Routing (crt.c). */
    struct crt_router *router;   /* the router it names, NULL: none */
    struct cpm_list router_link; /* in router->segs */
    bool attached;               /* router and segment both exist */
    json_t *subnets;             /* its "subnets" (gateways, DHCP) */
};

/* A (segment, host) pair: the host has 'count' active ports on the
 * segment, and 'routed' is 1 when it needs the segment because it is a
 * host of the segment's router (crt.c).  It exists while either is
 * non-zero: that is what "the segment is in the host's span" means. */
struct cpm_sh {
    struct hmap_node by_seg;  /* in host->segs */
    struct hmap_node by_host; /* in seg->hosts */
    struct cpm_seg *seg;
    struct cpm_host *host;
    uint32_t count;
    uint32_t routed;
    uint64_t join_rev; /* revision at which the host joined the segment */
};

struct cpm_port {
    struct hmap_node node;       /* in cpm->ports */
    struct hmap_node lport_node; /* in cpm->lports */
    char *path;                  /* port path */
    struct cpm_seg *seg;         /* parent segment (maybe a placeholder) */
    struct cpm_list seg_link;    /* in seg->ports */
    struct cpm_host *host;       /* attachment host, NULL if detached */
    struct cpm_list host_link;   /* in host->ports */
    char vif[16];                /* attachment interface */
    bool admin_up;               /* admin_state != down */
    uint8_t mac[6];              /* MAC */
    struct cpm_ip *ips;          /* addresses */
    size_t n_ips;
    uint32_t lport;   /* logical port id */
    uint64_t mod_rev; /* revision of its last change */
    bool active;      /* counted in seg/host's cpm_sh */

    /* Firewall (cfw.c). */
    char *name;  /* display_name, or the id */
    char **tags; /* "scope|tag" */
    size_t n_tags;
    int spoofguard;            /* -1 inherit, 0 disabled, 1 enabled */
    struct cfw_proj *proj;     /* its project */
    struct cpm_list proj_link; /* in proj->ports */
    struct cfw_group **groups; /* groups it is a member of (sorted) */
    size_t n_groups;
    char **fw_ips; /* its addresses as counted in those groups' sets */
    size_t fw_n_ips;
};

struct cpm_dirty {
    struct hmap_node node; /* in host->dirty */
    char key[];            /* kind letter + id */
};

struct cpm {
    struct hmap hosts;            /* cpm_host by id */
    struct hmap segs;             /* cpm_seg by path */
    struct hmap ports;            /* cpm_port by path */
    struct hmap lports;           /* cpm_port by lport */
    struct cpm_host *dirty_hosts; /* hosts with dirty entries */
    uint64_t cur_rev;             /* revision being applied */
    size_t active_ports;          /* statistics */
    struct cfw *fw;               /* firewall model (cfw.c) */
    struct hmap routers;          /* crt_router by path (crt.c) */
    struct hmap routes;           /* crt_route by path (crt.c) */
    bool loading;                 /* cpm_set_loading(): marks off */
};

/* A growable pointer array for the repeated fields. */
#define PUSH(ARR, N, ITEM)                                                     \
    do {                                                                       \
        if (!((N) & ((N)-1))) {                                                \
            (ARR) = xrealloc((ARR), ((N) ? (N)*2 : 1) * sizeof *(ARR));        \
        }                                                                      \
        (ARR)[(N)++] = (ITEM);                                                 \
    } while (0)

/* Path helpers for "/a/b/c..." (no decoding: ids never contain '/'). */
/* Number of elements. */
static inline int
path_n_elems(const char *path)
{
    int n = 0;
    for (; *path; path++) {
        n += *path == '/';
    }
    return n;
}

/* True if element 'i' (0-based) of 'path' is exactly 'name'. */
static inline bool
path_elem_is(const char *path, int i, const char *name)
{
    size_t n = strlen(name);
    for (; *path; path++) {
        if (*path == '/' && i-- == 0) {
            return !strncmp(path + 1, name, n) &&
                   (path[1 + n] == '/' || !path[1 + n]);
        }
    }
    return false;
}

/* Length of the prefix of 'path' made of its first 'n' elements. */
static inline size_t
path_prefix_len(const char *path, int n)
{
    size_t i = 0;
    for (; path[i]; i++) {
        if (path[i] == '/' && n-- == 0) {
            break;
        }
    }
    return i;
}

struct cpm_host *cpm_host_find(const struct cpm *, const char *id);
struct cpm_port *cpm_port_find(const struct cpm *, const char *path);
/* Marks entry 'kind' + id [+ '|' + suffix] dirty on 'h'. */
void cpm_mark(struct cpm *, struct cpm_host *, char kind, const char *id,
              const char *suffix);
void cpm_mark_config(struct cpm *, struct cpm_host *);
bool cpm_parse_ip(const char *, struct cpm_ip *);
bool cpm_parse_mac(const char *, uint8_t mac[6]);
ProtobufCBinaryData bin_dup(const void *, size_t);

/* Adds 'delta' to the 'routed' need of (s, h), spanning or unspanning the
 * segment on the host when presence changes. */
void cpm_sh_routed(struct cpm *, struct cpm_seg *, struct cpm_host *,
                   int delta);

/* ---- The routing model (crt.c), driven by cpm.c. ---- */

/* Routers and static routes from the store: true if 'key' was one. */
bool crt_apply(struct cpm *, const char *key, const char *path, json_t *obj);
/* Segment 's' was written ('obj') or deleted (NULL), after s->exists was
 * brought up to date. */
void crt_seg_changed(struct cpm *, struct cpm_seg *, json_t *obj);
/* Host 'h' got its first (+1) or lost its last (-1) active port on 's'. */
void crt_local_join(struct cpm *, struct cpm_seg *, struct cpm_host *,
                    int delta);
/* Dirty key 't' + route path: true if it was one. */
bool crt_eval(struct cpm *, struct cpm_host *, const char *key,
              Weft__Update *u);
void crt_snapshot(struct cpm *, struct cpm_host *, Weft__Update *u);
/* Router attachment, gateways and DHCP settings of a segment message. */
void crt_fill_segment(const struct cpm_seg *, Weft__Segment *);
void crt_destroy(struct cpm *);

/* ---- The firewall model (cfw.c), driven by cpm.c. ---- */

struct cfw *cfw_create(void);
void cfw_destroy(struct cfw *);
/* Store events of the firewall's kinds; returns false if 'key' is not one
 * of them ('path' is the key without "o<depth>"). */
bool cfw_apply(struct cpm *, const char *key, const char *path, json_t *obj);
/* A port was created or its fields changed (tags, name, segment, MAC,
 * addresses): re-evaluates its group membership. */
void cfw_port_changed(struct cpm *, struct cpm_port *);
/* Before a port is freed. */
void cfw_port_removed(struct cpm *, struct cpm_port *);
/* The port's 'active' went up (+1) or down (-1) on p->host. */
void cfw_port_active(struct cpm *, struct cpm_port *, int delta);
/* A segment's spoofguard setting changed. */
void cfw_segment_changed(struct cpm *, struct cpm_seg *);
/* Evaluates a firewall dirty key ('a' address member, 'w' rule) for 'h'
 * into 'u'; false if the key is not a firewall key. */
bool cfw_eval(struct cpm *, struct cpm_host *, const char *key,
              Weft__Update *u);
/* Adds the host's whole firewall span to snapshot 'u'. */
void cfw_snapshot(struct cpm *, struct cpm_host *, Weft__Update *u);
/* Fills the firewall fields of a LocalPort message. */
void cfw_fill_local(struct cpm *, const struct cpm_port *, Weft__LocalPort *);
/* Fills the firewall fields of a HostConfig message. */
void cfw_fill_config(struct cpm *, Weft__HostConfig *);

#endif
