/* The kernel fast path's loader and map keeper (kfp.h). */
#include "datapath/kfp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <net/if_arp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath/kfp-abi.h"
#include "datapath/port.h"
#include "datapath/tables.h"
#include "lib/log.h"
#include "lib/util.h"

/* The BPF object, built by the Makefile from src/bpf/kfp.bpf.c and
 * embedded here so that the agent is one file. */
__asm__(".section .rodata\n"
        ".balign 8\n"
        ".global kfp_bpf_obj\n"
        "kfp_bpf_obj:\n"
        ".incbin \"" KFP_BPF_OBJ "\"\n"
        ".global kfp_bpf_obj_end\n"
        "kfp_bpf_obj_end:\n"
        ".previous\n");
extern const char kfp_bpf_obj[], kfp_bpf_obj_end[];

#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46 /* Linux 6.6 uapi */
#endif

/* What is attached for one datapath port index. */
struct kfp_slot {
    const struct dp_port *port; /* whose socket has the filter; NULL: none */
    int sock_fd;
    int ifindex;
    int link_fd; /* tcx link of kfp_vif_in, -1: none */
    bool peer;   /* a veth */
    bool in_map; /* has a kfp_vifs entry: 'written' */
    struct kfp_vif written;
};

struct kfp {
    struct bpf_object *obj;
    int vif_in_fd, vif_filter_fd, tun_in_fd;
    int cfg_fd, vifs_fd, segs_fd, macs_fd, peers_fd, vif_stats_fd, stats_fd;
    int tun_link_fd;
    int ncpus;
    struct kfp_slot *slots; /* KFP_STAT_SLOTS */
    struct kfp_stats last;  /* entry counts of the last sync */
};

/* Whether 16-byte address 'a' is IPv4-mapped (::ffff:a.b.c.d). */
static bool
v4mapped(const uint8_t *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a, prefix, sizeof prefix);
}

static int
libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char buf[8192], *tail = buf;
    size_t len;
    int n;

    if (level == LIBBPF_DEBUG) {
        return 0;
    }
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    len = strlen(buf);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' ')) {
        buf[--len] = '\0';
    }
    /* A verifier log says why at its end. */
    if (len > 1500) {
        tail = buf + len - 1500;
    }
    for (char *c = tail; *c; c++) {
        if (*c == '\n' || *c == '"') {
            *c = *c == '"' ? '\'' : '|';
        }
    }
    LOG_WARN("kfp", "msg=\"libbpf\" detail=\"%s\"", tail);
    return n;
}

/* The index of the interface that has IPv4 address 'ip' (network order),
 * 0 if none. */
static unsigned
ifindex_of_addr(uint32_t ip)
{
    struct ifaddrs *ifa, *i;
    unsigned idx = 0;

    if (getifaddrs(&ifa) < 0) {
        return 0;
    }
    for (i = ifa; i && !idx; i = i->ifa_next) {
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
            ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == ip) {
            idx = if_nametoindex(i->ifa_name);
        }
    }
    freeifaddrs(ifa);
    return idx;
}

/* Interface ioctl 'req' on 'ifname' with '*ifr' (its name is set here;
 * other fields as the request needs them); 0 or -1. */
static int
if_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0) {
        return -1;
    }
    snprintf(ifr->ifr_name, sizeof ifr->ifr_name, "%s", ifname);
    rc = ioctl(fd, req, ifr);
    close(fd);
    return rc;
}

/* Whether interface 'ifname' is an Ethernet device other than loopback:
 * the fast path sends the frames it encapsulates out of the device that
 * owns the underlay address, which is only right when that device is the
 * uplink. */
static bool
is_ethernet_uplink(const char *ifname)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    if (if_ioctl(ifname, SIOCGIFFLAGS, &ifr) || ifr.ifr_flags & IFF_LOOPBACK) {
        return false;
    }
    memset(&ifr, 0, sizeof ifr);
    return !if_ioctl(ifname, SIOCGIFHWADDR, &ifr) &&
           ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
}

static bool
is_veth(const char *ifname)
{
    struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_data = (void *)&info;
    return !if_ioctl(ifname, SIOCETHTOOL, &ifr) && !strcmp(info.driver, "veth");
}

static int
prog_fd(struct bpf_object *obj, const char *name)
{
    struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
    return p ? bpf_program__fd(p) : -1;
}

static int
map_fd(struct bpf_object *obj, const char *name)
{
    struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
    return m ? bpf_map__fd(m) : -1;
}

struct kfp *
kfp_open(const struct kfp_underlay *u, char *err, size_t errlen)
{
    LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "weft_kfp");
    struct kfp_cfg cfg = {0};
    struct kfp *k;
    uint32_t zero = 0;
    unsigned underlay;
    int e;

    if (!v4mapped(u->local_ip)) {
        snprintf(err, errlen,
                 "the underlay is IPv6; the fast path serves "
                 "IPv4 underlays only");
        return NULL;
    }
    memcpy(&cfg.local_ip, u->local_ip + 12, 4);
    underlay = ifindex_of_addr(cfg.local_ip);
    if (!underlay) {
        snprintf(err, errlen, "no interface has the underlay address");
        return NULL;
    }
    char ifname[IF_NAMESIZE] = "";
    if (!if_indextoname(underlay, ifname) || !is_ethernet_uplink(ifname)) {
        snprintf(err, errlen,
                 "the underlay address is on %s, not on an Ethernet uplink "
                 "(the fast path sends out of the device that owns it)",
                 ifname[0] ? ifname : "an unknown device");
        return NULL;
    }
    cfg.underlay_ifindex = underlay;
    cfg.geneve_port = htons(u->geneve_port);
    cfg.vxlan_port = htons(u->vxlan_port);
    cfg.sport_min[KFP_ENCAP_GENEVE] = u->sport_min[0];
    cfg.sport_min[KFP_ENCAP_VXLAN] = u->sport_min[1];
    cfg.sport_count = u->sport_count;

    libbpf_set_print(libbpf_log);
    k = xcalloc(1, sizeof *k);
    k->tun_link_fd = -1;
    k->obj = bpf_object__open_mem(kfp_bpf_obj,
                                  (size_t)(kfp_bpf_obj_end - kfp_bpf_obj), &oo);
    if (!k->obj) {
        snprintf(err, errlen, "cannot open the BPF object: %s",
                 strerror(errno));
        free(k);
        return NULL;
    }
    if ((e = bpf_object__load(k->obj)) < 0) {
        snprintf(err, errlen, "the kernel refused the BPF programs: %s",
                 strerror(-e));
        goto fail;
    }
    k->vif_in_fd = prog_fd(k->obj, "kfp_vif_in");
    k->vif_filter_fd = prog_fd(k->obj, "kfp_vif_filter");
    k->tun_in_fd = prog_fd(k->obj, "kfp_tun_in");
    k->cfg_fd = map_fd(k->obj, "kfp_cfg");
    k->vifs_fd = map_fd(k->obj, "kfp_vifs");
    k->segs_fd = map_fd(k->obj, "kfp_segs");
    k->macs_fd = map_fd(k->obj, "kfp_macs");
    k->peers_fd = map_fd(k->obj, "kfp_peers");
    k->vif_stats_fd = map_fd(k->obj, "kfp_vif_stats");
    k->stats_fd = map_fd(k->obj, "kfp_stats");
    if (k->vif_in_fd < 0 || k->vif_filter_fd < 0 || k->tun_in_fd < 0 ||
        k->cfg_fd < 0 || k->vifs_fd < 0 || k->segs_fd < 0 || k->macs_fd < 0 ||
        k->peers_fd < 0 || k->vif_stats_fd < 0 || k->stats_fd < 0) {
        snprintf(err, errlen, "the BPF object lacks a program or map");
        goto fail;
    }
    if (bpf_map_update_elem(k->cfg_fd, &zero, &cfg, BPF_ANY) < 0) {
        snprintf(err, errlen, "cannot write the configuration map: %s",
                 strerror(errno));
        goto fail;
    }
    k->tun_link_fd =
        bpf_link_create(k->tun_in_fd, (int)underlay, BPF_TCX_INGRESS, NULL);
    if (k->tun_link_fd < 0) {
        snprintf(err, errlen,
                 "cannot attach to the underlay device's tc ingress (tcx, "
                 "Linux 6.6 and later): %s",
                 strerror(errno));
        goto fail;
    }
    k->ncpus = libbpf_num_possible_cpus();
    if (k->ncpus <= 0) {
        snprintf(err, errlen, "cannot count the CPUs");
        goto fail;
    }
    k->slots = xcalloc(KFP_STAT_SLOTS, sizeof *k->slots);
    for (int i = 0; i < KFP_STAT_SLOTS; i++) {
        k->slots[i].link_fd = -1;
        k->slots[i].sock_fd = -1;
    }
    LOG_INFO("kfp", "msg=\"kernel fast path on\" underlay_ifindex=%u",
             underlay);
    return k;

fail:
    if (k->tun_link_fd >= 0) {
        close(k->tun_link_fd);
    }
    bpf_object__close(k->obj);
    free(k);
    return NULL;
}

/* What prune()'s callbacks judge a key by. */
struct keep_ctx {
    const struct kfp *k;
    const struct dp_tables *t; /* the snapshot that wants keys, or */
    uint32_t not_to;           /* a VIF no MAC entry may deliver to */
};

/* Deletes every key of map 'fd' (key size 'ks') for which 'keep' says
 * no (keys are collected first: deleting while walking would skip some);
 * returns how many are left. */
static uint32_t
prune(int fd, size_t ks, bool (*keep)(const struct keep_ctx *, const void *),
      const struct keep_ctx *c)
{
    uint8_t cur[32], next[32];
    uint8_t *doomed = NULL;
    size_t n_doomed = 0, cap = 0;
    uint32_t left = 0;
    const void *prev = NULL;

    while (bpf_map_get_next_key(fd, prev, next) == 0) {
        memcpy(cur, next, ks);
        prev = cur;
        if (keep(c, cur)) {
            left++;
            continue;
        }
        if (n_doomed == cap) {
            cap = cap ? cap * 2 : 64;
            doomed = xrealloc(doomed, cap * ks);
        }
        memcpy(doomed + n_doomed++ * ks, cur, ks);
    }
    for (size_t i = 0; i < n_doomed; i++) {
        (void)bpf_map_delete_elem(fd, doomed + i * ks);
    }
    free(doomed);
    return left;
}

/* prune() callback: a MAC entry that does not deliver to c->not_to. */
static bool
keep_not_to(const struct keep_ctx *c, const void *key)
{
    struct kfp_mac_val v;
    return bpf_map_lookup_elem(c->k->macs_fd, key, &v) ||
           v.ifindex != c->not_to;
}

/* Stops frames from and to slot 'i''s VIF going the fast way: its VIF
 * entry and every MAC entry that delivers to it. */
static void
slot_withdraw(struct kfp *k, uint32_t i)
{
    struct kfp_slot *s = &k->slots[i];
    uint32_t ifx = (uint32_t)s->ifindex;

    if (!s->in_map) {
        return;
    }
    struct keep_ctx c = {.k = k, .not_to = ifx};

    (void)bpf_map_delete_elem(k->vifs_fd, &ifx);
    s->in_map = false;
    prune(k->macs_fd, sizeof(struct kfp_mac_key), keep_not_to, &c);
}

/* Takes slot 'i' out of the fast path: its map entry first, then its
 * program and the socket's filter. */
static void
slot_detach(struct kfp *k, uint32_t i)
{
    struct kfp_slot *s = &k->slots[i];

    slot_withdraw(k, i);
    if (s->link_fd >= 0) {
        close(s->link_fd);
        s->link_fd = -1;
    }
    if (s->port && s->sock_fd >= 0) {
        /* The socket may already be closed with its port: no matter. */
        (void)setsockopt(s->sock_fd, SOL_SOCKET, SO_DETACH_BPF, NULL, 0);
    }
    s->port = NULL;
    s->sock_fd = -1;
    s->ifindex = 0;
}

void
kfp_close(struct kfp *k)
{
    if (!k) {
        return;
    }
    for (uint32_t i = 0; i < KFP_STAT_SLOTS; i++) {
        if (k->slots[i].port || k->slots[i].link_fd >= 0) {
            slot_detach(k, i);
        }
    }
    if (k->tun_link_fd >= 0) {
        close(k->tun_link_fd);
    }
    bpf_object__close(k->obj);
    free(k->slots);
    free(k);
}

/* Whether port index 'i' of 't' is a VIF the fast path may serve: an
 * AF_PACKET port bound to a segment, without a firewall. */
static bool
vif_eligible(const struct dp_tables *t, uint32_t i)
{
    const struct dp_port *p = i < t->n_ports ? t->ports[i] : NULL;

    return i >= DP_PORT_FIRST_VIF && i < KFP_STAT_SLOTS && p &&
           p->class == &dp_port_afpacket_class &&
           t->vifs[i].segment != DP_SEG_NONE && !t->vifs[i].fw;
}

/* Attaches slot 'i' to port 'p' (filter on its socket, tc program on its
 * device) unless it already is; false on failure. */
static bool
slot_attach(struct kfp *k, uint32_t i, const struct dp_port *p)
{
    struct kfp_slot *s = &k->slots[i];
    int fd = p->class->fd(p);
    int ifindex = (int)if_nametoindex(p->name);

    if (s->port == p && s->sock_fd == fd && s->ifindex == ifindex) {
        return true;
    }
    slot_detach(k, i);
    if (fd < 0 || !ifindex) {
        return false;
    }
    /* The filter first: until the map entry exists neither takes a frame,
     * and from then on both decide alike. */
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &k->vif_filter_fd,
                   sizeof k->vif_filter_fd) < 0) {
        LOG_WARN("kfp",
                 "msg=\"cannot attach the socket filter\" port=%s "
                 "error=\"%s\"",
                 p->name, strerror(errno));
        return false;
    }
    s->port = p;
    s->sock_fd = fd;
    s->ifindex = ifindex;
    s->link_fd = bpf_link_create(k->vif_in_fd, ifindex, BPF_TCX_INGRESS, NULL);
    if (s->link_fd < 0) {
        LOG_WARN("kfp",
                 "msg=\"cannot attach to tc ingress\" port=%s "
                 "error=\"%s\"",
                 p->name, strerror(errno));
        slot_detach(k, i);
        return false;
    }
    s->peer = is_veth(p->name);
    /* A new port in this slot starts its counts from zero. */
    struct kfp_vif_stats *zero = xcalloc((size_t)k->ncpus, sizeof *zero);
    (void)bpf_map_update_elem(k->vif_stats_fd, &i, zero, BPF_ANY);
    free(zero);
    return true;
}

static int
update(int fd, const void *key, const void *val, int *failed)
{
    if (bpf_map_update_elem(fd, key, val, BPF_ANY) < 0) {
        (*failed)++;
        return -1;
    }
    return 0;
}

/* The segment with VNI 'vni' in 't', or NULL. */
static const struct dp_segment *
segment_of_vni(const struct dp_tables *t, uint32_t vni)
{
    uint32_t s = dp_vni_lookup(t, DP_ENCAP_GENEVE, vni);
    if (s == DP_SEG_NONE) {
        s = dp_vni_lookup(t, DP_ENCAP_VXLAN, vni);
    }
    return s < t->n_segments ? &t->segments[s] : NULL;
}

/* The fast path's entry for MAC table slot 'e' of 't': false if it has
 * none (a local port the fast path may not deliver to, a remote IPv6
 * endpoint, a segment's router MAC). */
static bool
mac_entry(const struct kfp *k, const struct dp_tables *t,
          const struct dp_mac_entry *e, struct kfp_mac_key *key,
          struct kfp_mac_val *val)
{
    uint32_t s = (uint32_t)(e->key >> 48) - 1;
    const struct dp_segment *seg;

    if (s >= t->n_segments) {
        return false;
    }
    seg = &t->segments[s];
    memset(key, 0, sizeof *key);
    memset(val, 0, sizeof *val);
    key->vni = seg->vni;
    memcpy(key->mac, &e->key, 6); /* dp_mac_key(): bytes in order */
    if (seg->router != DP_ROUTER_NONE &&
        !memcmp(key->mac, &seg->router_mac, 6)) {
        return false;
    }
    if (e->remote) {
        const struct dp_vtep *v = &t->vteps[e->vtep];
        if (!v4mapped(v->addr)) {
            return false;
        }
        memcpy(&val->vtep, v->addr + 12, 4);
        return true;
    }
    if (!vif_eligible(t, e->port) || !k->slots[e->port].port) {
        return false;
    }
    val->ifindex = (uint32_t)k->slots[e->port].ifindex;
    val->slot = e->port;
    val->flags = k->slots[e->port].peer ? KFP_MAC_PEER : 0;
    return true;
}

/* prune() callbacks: whether the snapshot still wants a key. */
static bool
keep_seg(const struct keep_ctx *c, const void *key)
{
    uint32_t vni;
    memcpy(&vni, key, 4);
    return segment_of_vni(c->t, vni) != NULL;
}

static bool
keep_mac(const struct keep_ctx *c, const void *key)
{
    const struct dp_tables *t = c->t;
    struct kfp_mac_key want, k2;
    struct kfp_mac_val v;
    const struct dp_segment *seg;
    struct eth_addr mac;
    const struct dp_mac_entry *e;

    memcpy(&want, key, sizeof want);
    seg = segment_of_vni(t, want.vni);
    if (!seg) {
        return false;
    }
    memcpy(&mac, want.mac, 6);
    e = dp_mac_lookup(t, (uint32_t)(seg - t->segments), &mac);
    return e && mac_entry(c->k, t, e, &k2, &v) &&
           !memcmp(&k2, &want, sizeof want);
}

static bool
keep_peer(const struct keep_ctx *c, const void *key)
{
    const struct dp_tables *t = c->t;
    uint8_t a[16] = {0};
    a[10] = a[11] = 0xff;
    memcpy(a + 12, key, 4);
    return dp_peer_known(t, a);
}

/* The kfp_vifs value of port index 'i' in 't'. */
static struct kfp_vif
vif_value(const struct dp_tables *t, uint32_t i)
{
    const struct dp_vif *vif = &t->vifs[i];
    struct kfp_vif v = {
        .vni = t->segments[vif->segment].vni,
        .lport = vif->lport,
        .slot = i,
    };
    return v;
}

void
kfp_sync_begin(struct kfp *k, const struct dp_tables *next)
{
    for (uint32_t i = DP_PORT_FIRST_VIF; i < KFP_STAT_SLOTS; i++) {
        struct kfp_slot *s = &k->slots[i];
        if (!s->in_map) {
            continue;
        }
        if (!vif_eligible(next, i) || next->ports[i] != s->port) {
            slot_withdraw(k, i);
            continue;
        }
        struct kfp_vif v = vif_value(next, i);
        if (memcmp(&v, &s->written, sizeof v)) {
            slot_withdraw(k, i); /* a new segment or port id */
        }
    }
}

int
kfp_sync(struct kfp *k, const struct dp_tables *t)
{
    int failed = 0;
    uint32_t n_vifs = 0;
    uint8_t one = 1;

    /* 1. VIFs that are no longer served leave first. */
    for (uint32_t i = DP_PORT_FIRST_VIF; i < KFP_STAT_SLOTS; i++) {
        struct kfp_slot *s = &k->slots[i];
        if ((s->port || s->link_fd >= 0) &&
            (!vif_eligible(t, i) || t->ports[i] != s->port)) {
            slot_detach(k, i);
        }
    }
    /* 2. Attach the VIFs that are (map entries come in step 5). */
    for (uint32_t i = DP_PORT_FIRST_VIF; i < t->n_ports && i < KFP_STAT_SLOTS;
         i++) {
        if (vif_eligible(t, i) && !slot_attach(k, i, t->ports[i])) {
            failed++;
        }
    }
    /* 3. Segments, MACs and peers: written, then the stale ones pruned. */
    for (uint32_t s = 0; s < t->n_segments; s++) {
        const struct dp_segment *seg = &t->segments[s];
        struct kfp_seg v = {0};
        v.encap =
            seg->encap == DP_ENCAP_GENEVE ? KFP_ENCAP_GENEVE : KFP_ENCAP_VXLAN;
        v.punt = seg->punt;
        v.hdr_len = seg->encap == DP_ENCAP_GENEVE ? 16 : 8;
        v.max_frame = seg->max_frame;
        memcpy(v.hdr, seg->encap_hdr, 16);
        update(k->segs_fd, &seg->vni, &v, &failed);
    }
    for (uint32_t i = 0; i <= t->mac_mask; i++) {
        struct kfp_mac_key key;
        struct kfp_mac_val val;
        if (t->macs[i].key && mac_entry(k, t, &t->macs[i], &key, &val)) {
            update(k->macs_fd, &key, &val, &failed);
        }
    }
    for (uint32_t i = 0; t->peers && i <= t->peer_mask; i++) {
        const uint8_t *a = t->peers[i].addr;
        if (v4mapped(a)) {
            update(k->peers_fd, a + 12, &one, &failed);
        }
    }
    /* 4. */
    struct keep_ctx c = {.k = k, .t = t};
    k->last.macs = prune(k->macs_fd, sizeof(struct kfp_mac_key), keep_mac, &c);
    k->last.segments = prune(k->segs_fd, 4, keep_seg, &c);
    k->last.peers = prune(k->peers_fd, 4, keep_peer, &c);
    /* 5. The VIFs' entries, last: from here on their frames may go the
     * fast way. */
    for (uint32_t i = DP_PORT_FIRST_VIF; i < t->n_ports && i < KFP_STAT_SLOTS;
         i++) {
        struct kfp_slot *s = &k->slots[i];
        if (!vif_eligible(t, i) || !s->port) {
            continue;
        }
        struct kfp_vif v = vif_value(t, i);
        uint32_t ifx = (uint32_t)s->ifindex;
        if (!update(k->vifs_fd, &ifx, &v, &failed)) {
            s->in_map = true;
            s->written = v;
            n_vifs++;
        }
    }
    k->last.vifs = n_vifs;
    if (failed) {
        LOG_WARN("kfp", "msg=\"fast path sync incomplete\" failed=%d", failed);
    }
    return failed;
}

static uint64_t
sum_percpu_u64(const struct kfp *k, int fd, uint32_t key)
{
    uint64_t *v = xcalloc((size_t)k->ncpus, sizeof *v), sum = 0;
    if (bpf_map_lookup_elem(fd, &key, v) == 0) {
        for (int c = 0; c < k->ncpus; c++) {
            sum += v[c];
        }
    }
    free(v);
    return sum;
}

void
kfp_get_stats(const struct kfp *k, struct kfp_stats *s)
{
    *s = k->last;
    s->local = sum_percpu_u64(k, k->stats_fd, KFP_ST_LOCAL);
    s->encap = sum_percpu_u64(k, k->stats_fd, KFP_ST_ENCAP);
    s->decap = sum_percpu_u64(k, k->stats_fd, KFP_ST_DECAP);
    s->err_encap = sum_percpu_u64(k, k->stats_fd, KFP_ST_ERR_ENCAP);
    s->err_decap = sum_percpu_u64(k, k->stats_fd, KFP_ST_ERR_DECAP);
    s->err_redirect = sum_percpu_u64(k, k->stats_fd, KFP_ST_ERR_REDIRECT);
}

bool
kfp_get_vif_stats(const struct kfp *k, uint32_t slot, uint64_t *from_pkts,
                  uint64_t *from_bytes, uint64_t *to_pkts, uint64_t *to_bytes)
{
    struct kfp_vif_stats *v;
    bool ok;

    *from_pkts = *from_bytes = *to_pkts = *to_bytes = 0;
    if (slot >= KFP_STAT_SLOTS || !k->slots[slot].port) {
        return false; /* not served now: the pipeline has all its frames */
    }
    v = xcalloc((size_t)k->ncpus, sizeof *v);
    ok = bpf_map_lookup_elem(k->vif_stats_fd, &slot, v) == 0;
    for (int c = 0; ok && c < k->ncpus; c++) {
        *from_pkts += v[c].from_vm_packets;
        *from_bytes += v[c].from_vm_bytes;
        *to_pkts += v[c].to_vm_packets;
        *to_bytes += v[c].to_vm_bytes;
    }
    free(v);
    return ok;
}
