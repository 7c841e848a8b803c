/* The packet pipeline (pipeline.h). */
#include "datapath/pipeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datapath/flowcache.h"
#include "datapath/gro.h"
#include "datapath/gso.h"
#include "datapath/icmp-error.h"
#include "datapath/lpm.h"
#include "datapath/neigh.h"
#include "datapath/parse.h"
#include "datapath/port.h"
#include "datapath/punt.h"
#include "datapath/route.h"
#include "datapath/tunnel.h"

#define EXPIRE_BUDGET   2048 /* connections expired per millisecond, at most */
#define EXPIRE_CATCH_UP 16   /* ... for at most this many ms since the last */

/* A frame waiting for the IN check of local VIF 'port'. */
struct in_pending {
    struct dp_packet *pkt;
    uint16_t port;
};

struct dp_pipeline {
    struct dp_pool *pool;   /* for clones, GSO segments, reject answers */
    struct dp_counters ctr; /* this thread's counters */
    struct dp_batch *out;   /* per output port queue */
    uint32_t n_out;         /* entries in 'out' */
    uint16_t *dirty;        /* ports with queued frames */
    uint32_t n_dirty;

    /* Firewall. */
    struct dfw_thread *fw; /* conntrack, rule counters, limits */
    uint64_t (*clock_ms)(void *);
    void *clock_aux;
    uint64_t now_ms;     /* valid when 'now_valid' */
    bool now_valid;      /* cleared at every dp_pipeline_run() */
    uint64_t expired_ms; /* when ct expiry last ran */
    struct in_pending in_q[DP_BATCH_MAX]; /* deferred IN checks */
    int n_in_q;

    struct dp_fc *fc;        /* flow cache (flowcache.h), NULL when off */
    bool fc_all;             /* ... also for VIFs without a stateful firewall */
    uint64_t fw_hits;        /* flow cache hits behind a firewall */
    uint64_t collected_hits; /* 'fw_hits' at the last collect */

    /* Punt to the agent (punt.h). */
    struct dp_ring *punt_ring;       /* NULL: punting off */
    int punt_fd;                     /* eventfd to signal, -1 none */
    struct dp_route_limiter icmp_rl; /* ICMP errors sent by routers */
};

void
dp_pipeline_options_default(struct dp_pipeline_options *o)
{
    memset(o, 0, sizeof *o);
    dfw_options_default(&o->fw);
    o->punt_fd = -1;
}

struct dp_pipeline *
dp_pipeline_create(struct dp_pool *pool, const struct dp_pipeline_options *opts)
{
    struct dp_pipeline *pl = xcalloc(1, sizeof *pl);
    struct dp_pipeline_options d;

    if (!opts) {
        dp_pipeline_options_default(&d);
        opts = &d;
    }
    pl->pool = pool;
    pl->fw = dfw_thread_create(&opts->fw);
    pl->fc = opts->no_flow_cache ? NULL : dp_fc_create();
    if (pl->fc) {
        dfw_thread_set_cache(pl->fw, &dp_fc_ct_ops, pl->fc);
    }
    pl->fc_all = opts->flow_cache_all;
    pl->clock_ms = opts->clock_ms;
    pl->clock_aux = opts->clock_aux;
    pl->punt_ring = opts->punt_ring;
    pl->punt_fd = opts->punt_ring ? opts->punt_fd : -1;
    dp_route_limiter_init(&pl->icmp_rl, DP_ROUTE_ICMP_RATE,
                          DP_ROUTE_ICMP_BURST);
    return pl;
}

void
dp_pipeline_destroy(struct dp_pipeline *pl)
{
    if (!pl) {
        return;
    }
    for (uint32_t i = 0; i < pl->n_out; i++) {
        dp_batch_free(&pl->out[i]);
    }
    for (int i = 0; i < pl->n_in_q; i++) {
        dp_packet_free(pl->in_q[i].pkt);
    }
    dfw_thread_destroy(pl->fw);
    dp_fc_destroy(pl->fc);
    free(pl->out);
    free(pl->dirty);
    free(pl);
}

struct dfw_thread *
dp_pipeline_dfw(const struct dp_pipeline *pl)
{
    return pl->fw;
}

static uint64_t
read_clock(const struct dp_pipeline *pl)
{
    return pl->clock_ms ? pl->clock_ms(pl->clock_aux) : time_msec_coarse();
}

uint64_t
dp_pipeline_now_ms(const struct dp_pipeline *pl)
{
    return read_clock(pl);
}

/* The firewall's clock: read once per run; expiry runs when it has
 * moved (the default clock moves by kernel ticks of 1-10 ms), with the
 * budget of the milliseconds since. */
static uint64_t
fw_now(struct dp_pipeline *pl)
{
    if (!pl->now_valid) {
        pl->now_ms = read_clock(pl);
        pl->now_valid = true;
        if (pl->now_ms != pl->expired_ms) {
            /* A clock set by a test may go back: one ms' budget then. */
            uint64_t ms =
                pl->now_ms > pl->expired_ms ? pl->now_ms - pl->expired_ms : 1;
            pl->expired_ms = pl->now_ms;
            dfw_expire(pl->fw, pl->now_ms,
                       EXPIRE_BUDGET * MIN(ms, EXPIRE_CATCH_UP));
        }
    }
    return pl->now_ms;
}

void
dp_pipeline_idle(struct dp_pipeline *pl)
{
    if (dfw_thread_ct(pl->fw)) {
        pl->now_valid = false;
        fw_now(pl);
    }
}

void
dp_pipeline_collect_counts(struct dp_pipeline *pl)
{
    struct ct_table *ct = dfw_thread_ct(pl->fw);

    /* Only hits behind a firewall change what entries hold (an entry's
     * counts start at 0; entries for VIFs without one hold none). */
    if (pl->fc && ct && pl->fw_hits != pl->collected_hits) {
        dp_fc_collect(pl->fc, ct);
        pl->collected_hits = pl->fw_hits;
    }
}

const struct dp_counters *
dp_pipeline_counters(const struct dp_pipeline *pl)
{
    return &pl->ctr;
}

static void
ensure_out(struct dp_pipeline *pl, uint32_t n_ports)
{
    if (likely(n_ports <= pl->n_out)) {
        return;
    }
    pl->out = xrealloc(pl->out, n_ports * sizeof *pl->out);
    pl->dirty = xrealloc(pl->dirty, n_ports * sizeof *pl->dirty);
    for (uint32_t i = pl->n_out; i < n_ports; i++) {
        dp_batch_init(&pl->out[i]);
    }
    pl->n_out = n_ports;
}

static inline void
drop(struct dp_pipeline *pl, struct dp_packet *pkt, enum dp_drop reason)
{
    pl->ctr.drops[reason]++;
    dp_packet_free(pkt);
}

static void
flush_port(struct dp_pipeline *pl, const struct dp_tables *t, uint16_t port)
{
    struct dp_batch *b = &pl->out[port];
    struct dp_port *p = port < t->n_ports ? t->ports[port] : NULL;

    if (!b->n) {
        return;
    }
    if (likely(p)) {
        int sent = dp_port_tx(p, b->pkts, b->n);
        pl->ctr.tx_packets += (uint64_t)sent;
        if (sent < b->n) {
            pl->ctr.drops[DP_DROP_TX_ERROR] += (uint64_t)(b->n - sent);
        }
    } else {
        pl->ctr.drops[DP_DROP_NO_DESTINATION] += b->n;
    }
    dp_batch_free(b);
}

/* Sends what is queued for 'port' now, before the round ends, and takes
 * it off the dirty list (enqueue() puts it back with its next packet). */
static void
flush_early(struct dp_pipeline *pl, const struct dp_tables *t, uint16_t port)
{
    flush_port(pl, t, port);
    for (uint32_t i = 0; i < pl->n_dirty; i++) {
        if (pl->dirty[i] == port) {
            pl->dirty[i] = pl->dirty[--pl->n_dirty];
            break;
        }
    }
}

static inline void
enqueue(struct dp_pipeline *pl, const struct dp_tables *t,
        struct dp_packet *pkt, uint16_t port)
{
    struct dp_batch *b = &pl->out[port];

    if (!b->n) {
        pl->dirty[pl->n_dirty++] = port;
    } else if (unlikely(b->n == DP_BATCH_MAX)) {
        flush_port(pl, t, port);
    }
    pkt->out_port = port;
    dp_batch_add(b, pkt);
}

void
dp_pipeline_flush(struct dp_pipeline *pl, const struct dp_tables *t)
{
    for (uint32_t i = 0; i < pl->n_dirty; i++) {
        flush_port(pl, t, pl->dirty[i]);
    }
    pl->n_dirty = 0;
    for (uint16_t p = 0; p < t->n_ports && p < pl->n_out; p++) {
        if (t->ports[p]) {
            dp_port_flush(t->ports[p]);
        }
    }
}

/* Cuts a super-frame into segments and passes each to 'emit'; the
 * super-frame itself is consumed.  Segments are made a batch at a time so a
 * 64 KiB frame never needs more than DP_BATCH_MAX spare buffers. */
typedef void emit_fn(struct dp_pipeline *, const struct dp_tables *,
                     struct dp_packet *, const void *aux);

static void
segment_and_emit(struct dp_pipeline *pl, const struct dp_tables *t,
                 struct dp_packet *pkt, emit_fn *emit, const void *aux)
{
    uint32_t total = dp_gso_count(pkt);

    if (unlikely(!total)) {
        drop(pl, pkt, DP_DROP_GSO_BAD);
        return;
    }
    pl->ctr.gso_frames++;
    for (uint32_t first = 0; first < total;) {
        struct dp_packet *segs[DP_BATCH_MAX];
        uint32_t n = 0;
        enum dp_drop d =
            dp_gso_segment(pkt, pl->pool, first, segs, DP_BATCH_MAX, &n);

        if (unlikely(d != DP_DROP_NONE)) {
            pl->ctr.drops[d] += total - first;
            break;
        }
        pl->ctr.gso_segments += n;
        for (uint32_t i = 0; i < n; i++) {
            emit(pl, t, segs[i], aux);
        }
        first += n;
    }
    dp_packet_free(pkt);
}

/* complete_csum() for a frame that owes its checksum. */
static __attribute__((noinline)) bool
complete_csum_owed(struct dp_pipeline *pl, struct dp_packet *pkt)
{
    if (dp_csum_complete(pkt) != DP_DROP_NONE) {
        drop(pl, pkt, DP_DROP_GSO_BAD);
        return false;
    }
    pl->ctr.csum_completed++;
    return true;
}

/* Fills in a checksum the sender left to us, for a peer that cannot; false
 * if the frame was dropped.  Inline: most frames owe none, and a call per
 * frame cost more than the test. */
static inline bool
complete_csum(struct dp_pipeline *pl, struct dp_packet *pkt)
{
    return likely(!(pkt->ol.flags & DP_OL_CSUM_PARTIAL)) ||
           complete_csum_owed(pl, pkt);
}

static void emit_local(struct dp_pipeline *, const struct dp_tables *,
                       struct dp_packet *, const void *aux);

/* Delivers to local VIF 'port' (passed through aux as an integer), after
 * any firewall check. */
static void
emit_local(struct dp_pipeline *pl, const struct dp_tables *t,
           struct dp_packet *pkt, const void *aux)
{
    uint16_t port = (uint16_t)(uintptr_t)aux;
    const struct dp_port *p = t->ports[port];

    if (unlikely(!p)) {
        drop(pl, pkt, DP_DROP_NO_DESTINATION);
        return;
    }
    if (!p->offloads) {
        if (pkt->ol.gso_type != DP_GSO_NONE) {
            segment_and_emit(pl, t, pkt, emit_local, aux);
            return;
        }
        if (!complete_csum(pl, pkt)) {
            return;
        }
    } else if (unlikely(pkt->ol.gso_type == DP_GSO_NONE &&
                        pkt->len > p->mtu + ETH_HDR_LEN + VLAN_HDR_LEN)) {
        drop(pl, pkt, DP_DROP_TOO_BIG);
        return;
    } else if (pkt->in_port < DP_PORT_FIRST_VIF && pl->out[port].n) {
        /* Segments from the fabric: merge into the frame queued before. */
        struct dp_batch *b = &pl->out[port];
        if (dp_gro_merge(b->pkts[b->n - 1], pkt)) {
            pl->ctr.gro_merged++;
            dp_packet_free(pkt);
            return;
        }
    }
    enqueue(pl, t, pkt, port);
}

struct tunnel_dest {
    const struct dp_segment *seg;
    const struct dp_vtep *vtep;
    uint32_t src_lport;
};

static void emit_tunnel_gso(struct dp_pipeline *, const struct dp_tables *,
                            struct dp_packet *, const void *aux);

/* Encapsulates 'pkt' for the tunnel endpoint 'aux' (struct tunnel_dest)
 * and queues it on the segment's tunnel port.  Inline into the forwarding
 * paths (a call per frame cost ~16 instructions of register saves); a
 * super-frame is cut into segments out of line first. */
static inline __attribute__((always_inline)) void
emit_tunnel(struct dp_pipeline *pl, const struct dp_tables *t,
            struct dp_packet *pkt, const void *aux)
{
    const struct tunnel_dest *td = aux;
    enum dp_drop d;

    if (unlikely(pkt->ol.gso_type != DP_GSO_NONE)) {
        emit_tunnel_gso(pl, t, pkt, aux);
        return;
    }
    if (!complete_csum(pl, pkt)) {
        return;
    }
    if (unlikely(pkt->len > td->seg->max_frame)) {
        drop(pl, pkt, DP_DROP_TOO_BIG);
        return;
    }
    if (!pkt->hash) {
        pkt->hash = dp_flow_hash(pkt);
    }
    d = dp_tunnel_encap(pkt, td->seg, td->vtep, td->src_lport);
    if (unlikely(d != DP_DROP_NONE)) {
        drop(pl, pkt, d);
        return;
    }
    if (unlikely(!t->ports[td->seg->tunnel_port])) {
        drop(pl, pkt, DP_DROP_NO_DESTINATION);
        return;
    }
    enqueue(pl, t, pkt, td->seg->tunnel_port);
}

/* emit_tunnel() as segment_and_emit()'s callback, for each segment. */
static void
emit_tunnel_segment(struct dp_pipeline *pl, const struct dp_tables *t,
                    struct dp_packet *pkt, const void *aux)
{
    emit_tunnel(pl, t, pkt, aux);
}

static __attribute__((noinline)) void
emit_tunnel_gso(struct dp_pipeline *pl, const struct dp_tables *t,
                struct dp_packet *pkt, const void *aux)
{
    const struct tunnel_dest *td = aux;
    /* Keep a super-frame's segments in one tunnel batch: they leave as
     * one UDP_SEGMENT train per 64 KiB, which the receiving host gets as
     * one UDP_GRO datagram and merges back whole (gro.h); cut by a batch
     * boundary they arrive as two frames. */
    uint16_t tp = td->seg->tunnel_port;
    uint32_t count = dp_gso_count(pkt);
    if (tp < pl->n_out && pl->out[tp].n &&
        pl->out[tp].n + count > DP_BATCH_MAX && count <= DP_BATCH_MAX) {
        flush_early(pl, t, tp);
    }
    segment_and_emit(pl, t, pkt, emit_tunnel_segment, aux);
}

static void in_flush(struct dp_pipeline *, const struct dp_tables *);

/* Delivers to local VIF 'port' through its IN check, if it has one. */
static inline void
to_local(struct dp_pipeline *pl, const struct dp_tables *t,
         struct dp_packet *pkt, uint16_t port)
{
    const struct dfw_vnic *fw = port < t->n_ports ? t->vifs[port].fw : NULL;

    if (unlikely(fw != NULL) && fw->cls) {
        pl->in_q[pl->n_in_q++] = (struct in_pending){pkt, port};
        if (pl->n_in_q == DP_BATCH_MAX) {
            in_flush(pl, t);
        }
        return;
    }
    emit_local(pl, t, pkt, (const void *)(uintptr_t)port);
}

/* Sends a copy of 'pkt' to every local port of its segment but 'in_port'
 * and, when 'to_fabric', to every flood endpoint; consumes 'pkt'. */
static void
flood(struct dp_pipeline *pl, const struct dp_tables *t, struct dp_packet *pkt,
      uint16_t in_port, bool to_fabric)
{
    const struct dp_segment *seg = &t->segments[pkt->segment];
    uint32_t n_targets = 0;

    pl->ctr.flooded++;
    for (uint32_t i = 0; i < seg->n_local; i++) {
        uint16_t port = seg->local_ports[i];
        if (port == in_port) {
            continue;
        }
        struct dp_packet *copy = dp_packet_clone(pkt);
        if (!copy) {
            pl->ctr.drops[DP_DROP_NO_BUFFER]++;
            continue;
        }
        n_targets++;
        to_local(pl, t, copy, port);
    }
    if (to_fabric) {
        for (uint32_t i = 0; i < seg->n_flood; i++) {
            struct tunnel_dest td = {seg, &seg->flood[i], pkt->src_lport};
            struct dp_packet *copy = dp_packet_clone(pkt);
            if (!copy) {
                pl->ctr.drops[DP_DROP_NO_BUFFER]++;
                continue;
            }
            n_targets++;
            emit_tunnel(pl, t, copy, &td);
        }
    }
    pl->ctr.replicas += n_targets;
    if (n_targets) {
        dp_packet_free(pkt);
    } else {
        drop(pl, pkt, DP_DROP_NO_DESTINATION);
    }
}

/* ---- Firewall answers. ---- */

static void route_frame(struct dp_pipeline *, const struct dp_tables *,
                        struct dp_packet *, uint16_t in_port);

/* Answers 'orig', rejected by the OUT check of VIF 'in_port': straight
 * back to that VIF. */
static void
reject_out(struct dp_pipeline *pl, const struct dp_tables *t,
           const struct dp_packet *orig, uint16_t in_port)
{
    struct dp_packet *r = dfw_reject(pl->fw, orig, pl->pool, fw_now(pl));

    if (r) {
        r->in_port = in_port;
        r->segment = orig->segment;
        emit_local(pl, t, r, (const void *)(uintptr_t)in_port);
    }
}

/* Answers 'orig', rejected by the IN check of local VIF 'port': sent as a
 * frame from that vNIC toward the original source MAC. */
static void
reject_in(struct dp_pipeline *pl, const struct dp_tables *t,
          const struct dp_packet *orig, uint16_t port)
{
    const struct dp_vif *dv = &t->vifs[port];
    const struct dp_segment *seg;
    struct dp_packet *r;
    const struct dp_mac_entry *e;

    if (dv->segment == DP_SEG_NONE) {
        return;
    }
    r = dfw_reject(pl->fw, orig, pl->pool, fw_now(pl));
    if (!r) {
        return;
    }
    r->in_port = port;
    r->segment = dv->segment;
    r->src_lport = dv->lport;
    seg = &t->segments[dv->segment];
    if (seg->router != DP_ROUTER_NONE &&
        eth_addr_equals(&dp_packet_eth(r)->dst, &seg->router_mac)) {
        /* The original was routed here: route the answer back. */
        route_frame(pl, t, r, port);
        return;
    }
    e = dp_mac_lookup(t, dv->segment, &dp_packet_eth(r)->dst);
    if (!e) {
        drop(pl, r, DP_DROP_NO_DESTINATION);
    } else if (e->remote) {
        struct tunnel_dest td = {&t->segments[dv->segment], &t->vteps[e->vtep],
                                 dv->lport};
        emit_tunnel(pl, t, r, &td);
    } else if (e->port == port) {
        drop(pl, r, DP_DROP_HAIRPIN);
    } else {
        to_local(pl, t, r, e->port);
    }
}

/* Runs the deferred IN checks and delivers what passes. */
static void
in_flush(struct dp_pipeline *pl, const struct dp_tables *t)
{
    while (pl->n_in_q) {
        struct dp_packet *pkts[DP_BATCH_MAX];
        const struct dfw_vnic *vnics[DP_BATCH_MAX];
        uint32_t zones[DP_BATCH_MAX];
        uint8_t dirs[DP_BATCH_MAX], verdicts[DP_BATCH_MAX];
        uint16_t ports[DP_BATCH_MAX];
        int n = pl->n_in_q;

        for (int i = 0; i < n; i++) {
            uint16_t port = pl->in_q[i].port;
            pkts[i] = pl->in_q[i].pkt;
            ports[i] = port;
            vnics[i] = t->vifs[port].fw;
            zones[i] = t->vifs[port].lport;
            dirs[i] = 0;
        }
        pl->n_in_q = 0; /* answers may queue more */
        dfw_check(pl->fw, t->fw_sets, pkts, vnics, zones, dirs, n, fw_now(pl),
                  verdicts);
        for (int i = 0; i < n; i++) {
            if (likely(verdicts[i] == DP_DROP_NONE)) {
                emit_local(pl, t, pkts[i], (const void *)(uintptr_t)ports[i]);
                continue;
            }
            if (verdicts[i] == DP_DROP_FW_REJECT) {
                reject_in(pl, t, pkts[i], ports[i]);
            }
            drop(pl, pkts[i], (enum dp_drop)verdicts[i]);
        }
    }
}

/* ---- From a VIF. ---- */

/* Parses a frame from 'vif' and binds it to its segment; false if it was
 * dropped. */
static inline bool
vif_ingress(struct dp_pipeline *pl, const struct dp_vif *vif,
            struct dp_packet *pkt)
{
    enum dp_drop d = dp_parse(pkt);

    if (unlikely(d != DP_DROP_NONE)) {
        drop(pl, pkt, d);
        return false;
    }
    if (unlikely(vif->segment == DP_SEG_NONE)) {
        drop(pl, pkt, DP_DROP_PORT_UNBOUND);
        return false;
    }
    pkt->segment = vif->segment;
    pkt->src_lport = vif->lport;
    return true;
}

/* Takes a control frame the segment's punt flags ask for off the packet
 * path into the punt ring (consumed: punted or dropped); false if it is
 * not one. */
static inline __attribute__((always_inline)) bool
punt(struct dp_pipeline *pl, const struct dp_tables *t, struct dp_packet *pkt)
{
    uint8_t flags = t->segments[pkt->segment].punt;
    uint8_t reason;
    bool was_empty = false;
    int err;

    if (likely(!flags) || !pl->punt_ring ||
        !(reason = dp_punt_classify(pkt, flags))) {
        return false;
    }
    err = dp_ring_push(pl->punt_ring, pkt->in_port, reason, pkt->segment,
                       pkt->data, pkt->len, &was_empty);
    if (err) {
        drop(pl, pkt,
             err == EMSGSIZE ? DP_DROP_PUNT_TOO_BIG : DP_DROP_PUNT_FULL);
        return true;
    }
    pl->ctr.punted++;
    dp_packet_free(pkt);
    if (was_empty && pl->punt_fd >= 0) {
        uint64_t one = 1;
        if (write(pl->punt_fd, &one, sizeof one) < 0) {
            /* EAGAIN: the counter is saturated, the agent is awake. */
        }
    }
    return true;
}

/* ---- Routing (route.h). ---- */

/* Sends routed 'pkt' on by L2 in its (egress) segment, to 'e' (NULL:
 * unknown, flooded) as vif_forward() would. */
static void
route_emit(struct dp_pipeline *pl, const struct dp_tables *t,
           struct dp_packet *pkt, const struct dp_mac_entry *e,
           uint16_t in_port)
{
    if (unlikely(!e)) {
        flood(pl, t, pkt, in_port, true);
    } else if (e->remote) {
        struct tunnel_dest td = {&t->segments[pkt->segment], &t->vteps[e->vtep],
                                 pkt->src_lport};
        emit_tunnel(pl, t, pkt, &td);
    } else {
        to_local(pl, t, pkt, e->port);
    }
}

/* Answers 'pkt' (not consumed) with the ICMP error in 'res', straight back
 * to VIF 'in_port', if allowed and the rate limit has a token. */
static void
route_icmp_error(struct dp_pipeline *pl, const struct dp_tables *t,
                 const struct dp_packet *pkt, const struct dp_route_result *res,
                 uint16_t in_port)
{
    struct dp_packet *r;
    uint8_t src[16];

    if (!dp_icmp_error_allowed(pkt) || !dp_route_error_source(t, pkt, src)) {
        return;
    }
    if (!dp_route_limiter_take(&pl->icmp_rl, fw_now(pl))) {
        pl->ctr.icmp_errors_suppressed++;
        return;
    }
    r = dp_icmp_error_build(pkt, pl->pool,
                            &t->segments[pkt->segment].router_mac, src,
                            res->icmp_type, res->icmp_code, res->icmp_rest);
    if (!r) {
        pl->ctr.drops[DP_DROP_NO_BUFFER]++;
        return;
    }
    r->in_port = in_port;
    r->segment = pkt->segment;
    pl->ctr.icmp_errors_sent++;
    emit_local(pl, t, r, (const void *)(uintptr_t)in_port);
}

/* The router stage: 'pkt' from VIF 'in_port' is addressed to its
 * segment's router MAC. */
static void
route_frame(struct dp_pipeline *pl, const struct dp_tables *t,
            struct dp_packet *pkt, uint16_t in_port)
{
    struct dp_route_result res;
    struct dp_packet *frags[DP_BATCH_MAX];
    uint32_t n;
    enum dp_drop d;

    switch (dp_route_decide(t, pkt, &res)) {
    case DP_RV_FORWARD:
        pl->ctr.routed++;
        route_emit(pl, t, pkt, res.l2, in_port);
        return;
    case DP_RV_FRAGMENT:
        if (!complete_csum(pl, pkt)) {
            return;
        }
        d = dp_route_fragment(pkt, pl->pool, res.mtu, frags, DP_BATCH_MAX, &n);
        if (d != DP_DROP_NONE) {
            drop(pl, pkt, d);
            return;
        }
        pl->ctr.routed++;
        pl->ctr.ip_fragments += n;
        for (uint32_t i = 0; i < n; i++) {
            route_emit(pl, t, frags[i], res.l2, in_port);
        }
        dp_packet_free(pkt);
        return;
    case DP_RV_ECHO:
        dp_route_echo_reply(t, pkt);
        pl->ctr.router_echo_replies++;
        emit_local(pl, t, pkt, (const void *)(uintptr_t)in_port);
        return;
    case DP_RV_ICMP_ERROR:
        route_icmp_error(pl, t, pkt, &res, in_port);
        drop(pl, pkt, res.drop);
        return;
    case DP_RV_DROP:
        drop(pl, pkt, res.drop);
        return;
    }
}

/* A decision of vif_forward() the flow cache may remember. */
struct fc_decision {
    enum dp_fc_kind kind; /* DP_FC_FREE: not one to remember */
    uint32_t target;      /* VTEP index or local port */
};

/* Forwards a parsed, bound frame from VIF 'in_port'; when 'dec' is not
 * NULL, says there what was decided. */
static inline __attribute__((always_inline)) void
vif_forward(struct dp_pipeline *pl, const struct dp_tables *t,
            struct dp_packet *pkt, uint16_t in_port, struct fc_decision *dec)
{
    const struct dp_vif *vif = &t->vifs[in_port];
    const struct dp_segment *seg;
    const struct eth_hdr *eth;

    if (dec) {
        dec->kind = DP_FC_FREE;
    }
    if (unlikely(pkt->pflags & (DP_PF_ARP | DP_PF_IPV6)) &&
        dp_neigh_reply(pkt, t, pkt->segment)) {
        if (pkt->pflags & DP_PF_ARP) {
            pl->ctr.arp_replies++;
        } else {
            pl->ctr.nd_replies++;
        }
        enqueue(pl, t, pkt, in_port);
        return;
    }

    eth = dp_packet_eth(pkt);
    seg = &t->segments[pkt->segment];
    if (unlikely(eth_addr_equals(&eth->dst, &seg->router_mac)) &&
        seg->router != DP_ROUTER_NONE) {
        route_frame(pl, t, pkt, in_port);
        return;
    }
    if (likely(!eth_addr_is_multicast(&eth->dst))) {
        const struct dp_mac_entry *e =
            dp_mac_lookup(t, pkt->segment, &eth->dst);
        if (likely(e)) {
            if (e->remote) {
                struct tunnel_dest td = {seg, &t->vteps[e->vtep], vif->lport};
                if (dec) {
                    *dec = (struct fc_decision){DP_FC_REMOTE, e->vtep};
                }
                pl->ctr.l2_remote++;
                emit_tunnel(pl, t, pkt, &td);
            } else if (unlikely(e->port == in_port)) {
                drop(pl, pkt, DP_DROP_HAIRPIN);
            } else {
                if (dec) {
                    *dec = (struct fc_decision){DP_FC_LOCAL, e->port};
                }
                pl->ctr.l2_local++;
                to_local(pl, t, pkt, e->port);
            }
            return;
        }
    }
    flood(pl, t, pkt, in_port, true);
}

#define PREFETCH_MIN_BYTES (1u << 20) /* smaller tables stay in cache */

/* Whether MAC-table lookups are worth prefetching. */
static inline bool
prefetch_macs(const struct dp_tables *t)
{
    return ((size_t)t->mac_mask + 1) * sizeof *t->macs >= PREFETCH_MIN_BYTES;
}

/* Prefetches the MAC-table slot where dp_mac_lookup() of 'pkt's
 * destination will start. */
static inline void
prefetch_mac(const struct dp_tables *t, const struct dp_packet *pkt)
{
    uint64_t key = dp_mac_key(pkt->segment, &dp_packet_eth(pkt)->dst);

    __builtin_prefetch(&t->macs[(uint32_t)hash_mix64(key) & t->mac_mask]);
}

/* Forwarding lookups of a batch, overlapped: as each frame from a VIF
 * passes ingress, the first cache line its lookup will touch is
 * prefetched: the MAC-table slot where dp_mac_lookup() of its destination
 * starts or, for an IPv4 frame to the segment's router MAC, the root entry
 * of the router's LPM table (lpm4_prefetch()).  fwd_prefetch_routes()
 * then, the roots having landed meanwhile, prefetches the routed frames'
 * second-level entries.  Only tables too big to stay in cache are
 * prefetched.  A VIF has one segment, so its batch has one router. */
struct fwd_prefetch {
    const struct dp_segment *seg; /* the VIF's segment */
    const struct lpm4 *lpm;       /* its router's IPv4 table, if big */
    bool routed_seg;              /* 'seg' has a router */
    bool macs;                    /* prefetch MAC-table slots */
    int n_routed;
    uint32_t routed_dst[DP_BATCH_MAX]; /* IPv4 destinations to route */
};

static inline void
fwd_prefetch_init(struct fwd_prefetch *fp, const struct dp_tables *t,
                  const struct dp_vif *vif)
{
    fp->seg = vif->segment != DP_SEG_NONE ? &t->segments[vif->segment] : NULL;
    fp->routed_seg = fp->seg && fp->seg->router != DP_ROUTER_NONE;
    fp->lpm = fp->routed_seg ? t->routers[fp->seg->router].lpm4 : NULL;
    if (fp->lpm && lpm4_bytes(fp->lpm) < PREFETCH_MIN_BYTES) {
        fp->lpm = NULL;
    }
    fp->macs = prefetch_macs(t);
    fp->n_routed = 0;
}

static inline void
fwd_prefetch_add(struct fwd_prefetch *fp, const struct dp_tables *t,
                 const struct dp_packet *pkt)
{
    const struct eth_addr *dst = &dp_packet_eth(pkt)->dst;

    if (fp->routed_seg && eth_addr_equals(dst, &fp->seg->router_mac)) {
        if (fp->lpm && pkt->pflags & DP_PF_IPV4) {
            uint32_t a = ntohl(rd32(pkt->data + pkt->l3_ofs + 16));
            lpm4_prefetch(fp->lpm, a);
            fp->routed_dst[fp->n_routed++] = a;
        }
    } else if (fp->macs) {
        prefetch_mac(t, pkt);
    }
}

static inline void
fwd_prefetch_routes(const struct fwd_prefetch *fp)
{
    for (int i = 0; i < fp->n_routed; i++) {
        lpm4_prefetch_next(fp->lpm, fp->routed_dst[i]);
    }
}

/* Forwards 'pkt' as the flow cache remembered ('action' as in struct
 * dp_fc_val); 'td' holds the segment and source port of the batch's VIF,
 * its endpoint is set here.  The caller counts it in flow_cache_hits. */
static inline __attribute__((always_inline)) void
fc_emit(struct dp_pipeline *pl, const struct dp_tables *t,
        struct dp_packet *pkt, uint32_t action, struct tunnel_dest *td)
{
    uint32_t target = action & DP_FC_TARGET_MAX;

    if (action >> 24 == DP_FC_REMOTE) {
        td->vtep = &t->vteps[target];
        pl->ctr.l2_remote++;
        emit_tunnel(pl, t, pkt, td);
    } else {
        pl->ctr.l2_local++;
        to_local(pl, t, pkt, (uint16_t)target);
    }
}

/* The link-local address of the router of VIF 'port''s segment, NULL if
 * it has none (SpoofGuard: a VM may not claim it). */
static const uint8_t *
router_lla(const struct dp_tables *t, uint16_t port)
{
    uint32_t s = t->vifs[port].segment;
    const uint8_t *lla = s < t->n_segments ? t->segments[s].lla6 : NULL;
    return lla && !ip6_is_unspecified(lla) ? lla : NULL;
}

/* The checks a frame from a VIF passes before the firewall: SpoofGuard
 * (with 'fw') and punting; false when the frame was consumed (dropped or
 * punted), else its forwarding lookup is prefetched. */
static inline __attribute__((always_inline)) bool
vif_admit(struct dp_pipeline *pl, const struct dp_tables *t,
          const struct dfw_vnic *fw, struct dp_packet *pkt,
          struct fwd_prefetch *fp)
{
    if (unlikely(fw != NULL) && fw->spoofguard &&
        !dfw_spoofguard_fast(fw, pkt) &&
        !dfw_spoofguard_slow(fw, pkt, router_lla(t, pkt->in_port))) {
        drop(pl, pkt, DP_DROP_SPOOFGUARD);
        return false;
    }
    if (unlikely(punt(pl, t, pkt))) { /* before the firewall */
        return false;
    }
    fwd_prefetch_add(fp, t, pkt);
    return true;
}

/* from_vif_batch() without the flow cache: ingress and SpoofGuard for
 * all frames, their lookups prefetched, the firewall's OUT check of the
 * whole batch, if any, then forwarding frame by frame. */
static void
from_vif_batch_uncached(struct dp_pipeline *pl, const struct dp_tables *t,
                        struct dp_packet **pkts, int n, uint16_t in_port)
{
    const struct dp_vif *vif = &t->vifs[in_port];
    const struct dfw_vnic *fw = vif->fw;
    struct dp_packet *keep[DP_BATCH_MAX];
    uint8_t verdicts[DP_BATCH_MAX];
    struct fwd_prefetch fp;
    int k = 0;

    fwd_prefetch_init(&fp, t, vif);
    for (int i = 0; i < n; i++) {
        struct dp_packet *pkt = pkts[i];
        pkt->in_port = in_port;
        if (likely(vif_ingress(pl, vif, pkt)) &&
            vif_admit(pl, t, fw, pkt, &fp)) {
            keep[k++] = pkt;
        }
    }
    fwd_prefetch_routes(&fp); /* arrives while the firewall works */
    if (likely(!fw) || !fw->cls) {
        for (int i = 0; i < k; i++) {
            vif_forward(pl, t, keep[i], in_port, NULL);
        }
        return;
    }
    dfw_check_vnic(pl->fw, t->fw_sets, keep, k, fw, vif->lport, true,
                   fw_now(pl), verdicts, NULL);
    for (int i = 0; i < k; i++) {
        if (likely(verdicts[i] == DP_DROP_NONE)) {
            vif_forward(pl, t, keep[i], in_port, NULL);
            continue;
        }
        if (verdicts[i] == DP_DROP_FW_REJECT) {
            reject_out(pl, t, keep[i], in_port);
        }
        drop(pl, keep[i], (enum dp_drop)verdicts[i]);
    }
}

#define FC_NO_KEY 0xff /* fc_slow.key of a frame the cache does not take */

/* The frames of a batch from a VIF that take the full way, in batch
 * order, with the index of their flow cache keys. */
struct fc_slow {
    int n;
    struct dp_packet *pkts[DP_BATCH_MAX];
    uint8_t key[DP_BATCH_MAX]; /* index in keys[]/keys6[], or FC_NO_KEY */
};

static inline void
fc_slow_add(struct fc_slow *slow, struct dp_packet *pkt, uint8_t key)
{
    slow->pkts[slow->n] = pkt;
    slow->key[slow->n++] = key;
}

/* A frame from a VIF that the flow cache did not answer: SpoofGuard and
 * punting (vif_admit()), then the full way, with the index of its flow
 * cache key (FC_NO_KEY if it has none). */
static inline __attribute__((always_inline)) void
fc_miss(struct dp_pipeline *pl, const struct dp_tables *t,
        const struct dfw_vnic *fw, struct dp_packet *pkt, uint8_t key,
        struct fwd_prefetch *fp, struct fc_slow *slow)
{
    if (vif_admit(pl, t, fw, pkt, fp)) {
        fc_slow_add(slow, pkt, key);
    }
}

/* Takes the flow cache's answer for 'pkt', of key hash 'hash', into
 * '*val': the hash is its flow hash, hit or miss; 'v' the entry found in
 * the first candidate slot, if any (the second: below).  (Behind a
 * stateful firewall every entry under the current tables stands in for a
 * connection: keys carry the VIF, and one that gains a firewall gets new
 * tables; a hit without one fails dfw_cached_pass().) */
static inline __attribute__((always_inline)) void
fc_found(struct dp_packet *pkt, uint32_t hash, struct dp_fc_val *v,
         struct dp_fc_val **val)
{
    pkt->hash = hash;
    *val = v;
}

/* A batch from a VIF, in order:
 * 1. ingress (parse, segment) and the flow cache keys, their first
 *    candidate slots prefetched;
 * 2. flow cache lookups in the first candidate slots, then, for the keys
 *    not there, in their second (prefetched while the first ones went);
 * 3. in batch order, hits checked and counted on their entries
 *    (dfw_cached_pass()) and sent as the cache said; from the first hit
 *    that fails the check, hits take the full way too, behind it.  The
 *    others pass SpoofGuard (a hit's headers passed it under these tables
 *    already: the cache keys on the source MAC and IP) and punting (for a
 *    whole IPv4 or IPv6 TCP/UDP frame, whether it is punted depends on its
 *    segment and UDP port only: a hit's frame would not be), with their
 *    forwarding lookups prefetched (struct fwd_prefetch);
 * 4. the OUT check of all that take the full way, then their forwarding,
 *    remembering what it decided.
 * So the frames of one flow leave in order (all of a flow's frames in a
 * batch share its key, hence its lookup: entries stay as they are until
 * step 4's first dp_fc_insert()), and hits may leave ahead of other
 * flows' frames that take the full way.  The cache serves VIFs with a
 * stateful firewall ('stateful', a constant: the function is made once
 * with and once without) and, with flow_cache_all, every other VIF.  Its
 * hash is the flow hash of every frame with a key, so a flow's frames
 * leave by one tunnel source port whichever way they took. */
static inline __attribute__((always_inline)) void
from_vif_batch_cached(struct dp_pipeline *pl, const struct dp_tables *t,
                      struct dp_packet **pkts, int n, uint16_t in_port,
                      const bool stateful)
{
    const struct dp_vif *vif = &t->vifs[in_port];
    const struct dfw_vnic *fw = vif->fw;
    struct dp_fc *fc = pl->fc;
    struct dp_packet *keep[DP_BATCH_MAX];
    uint8_t verdicts[DP_BATCH_MAX];
    struct ct_ref refs[DP_BATCH_MAX];
    /* Also without a firewall here: an insert hands the counts of an
     * entry it replaces (another VIF's) to that entry's connection. */
    struct ct_table *ct = dfw_thread_ct(pl->fw);
    struct dp_fc_key keys[DP_BATCH_MAX];
    struct dp_fc_key6 keys6[DP_BATCH_MAX];
    uint32_t hashes[DP_BATCH_MAX];
    void *slot[DP_BATCH_MAX];     /* slot to look in, prefetched: the
                                   * first, then the second if need be */
    uint8_t fam[DP_BATCH_MAX];    /* enum dp_fc_family */
    uint8_t by_fam[DP_BATCH_MAX]; /* IPv4 keys' indexes, then IPv6 keys' */
    struct dp_fc_val *vals[DP_BATCH_MAX];
    struct fc_slow slow;
    struct fwd_prefetch fp;
    struct dfw_cached dc;
    int k = 0, n4 = 0, n6 = 0;

    for (int i = 0; i < n; i++) {
        struct dp_packet *pkt = pkts[i];
        pkt->in_port = in_port;
        if (unlikely(!vif_ingress(pl, vif, pkt))) {
            continue;
        }
        if (dp_fc_key(pkt, in_port, &keys[k])) {
            uint32_t h = dp_fc_hash(fc, &keys[k]);
            fam[k] = DP_FC_V4;
            hashes[k] = h;
            slot[k] = dp_fc_slot(fc, h, 0);
            __builtin_prefetch(slot[k]); /* the second: decision 66 */
            by_fam[n4++] = (uint8_t)k;
        } else if (dp_fc_key6(pkt, in_port, &keys6[k])) {
            uint32_t h = dp_fc_hash6(fc, &keys6[k]);
            struct dp_fc_entry6 *a = dp_fc_slot6(fc, h, 0);
            fam[k] = DP_FC_V6;
            hashes[k] = h;
            slot[k] = a;
            __builtin_prefetch(a);
            __builtin_prefetch(&a->v);
            by_fam[DP_BATCH_MAX - ++n6] = (uint8_t)k;
        } else {
            fam[k] = DP_FC_NONE;
        }
        vals[k] = NULL;
        keep[k++] = pkt;
    }

    if (!k) {
        return;
    }

    /* 2.  Behind a stateful firewall step 4 inserts only entries that
     * stand in for a connection of this thread's table (keys carry the
     * VIF: entries that flow_cache_all made for other VIFs, without one,
     * never match); with no table (yet) there are none. */
    if (!stateful || likely(ct != NULL)) {
        uint64_t uid = t->uid;
        uint8_t second[DP_BATCH_MAX]; /* keys not in their first slot */
        int n2 = 0;
        for (int j = 0; j < n4; j++) {
            int i = by_fam[j];
            struct dp_fc_entry *a = slot[i];
            bool hit = dp_fc_match(a, &keys[i], uid);
            fc_found(keep[i], hashes[i], hit ? &a->v : NULL, &vals[i]);
            if (!hit) {
                slot[i] = dp_fc_slot(fc, hashes[i], 1);
                __builtin_prefetch(slot[i]);
                second[n2++] = (uint8_t)i;
            }
        }
        for (int j = DP_BATCH_MAX - n6; j < DP_BATCH_MAX; j++) {
            int i = by_fam[j];
            struct dp_fc_entry6 *a = slot[i];
            bool hit = dp_fc_match6(a, &keys6[i], uid);
            fc_found(keep[i], hashes[i], hit ? &a->v : NULL, &vals[i]);
            if (!hit) {
                struct dp_fc_entry6 *b = dp_fc_slot6(fc, hashes[i], 1);
                __builtin_prefetch(b);
                __builtin_prefetch(&b->v);
                slot[i] = b;
                second[n2++] = (uint8_t)i;
            }
        }
        /* Then their second slots, which arrived meanwhile (decision 68). */
        for (int j = 0; j < n2; j++) {
            int i = second[j];
            if (fam[i] == DP_FC_V4) {
                struct dp_fc_entry *b = slot[i];
                vals[i] = dp_fc_match(b, &keys[i], uid) ? &b->v : NULL;
            } else {
                struct dp_fc_entry6 *b = slot[i];
                vals[i] = dp_fc_match6(b, &keys6[i], uid) ? &b->v : NULL;
            }
        }
    }

    /* 3. (every frame kept passed ingress: the VIF has a segment) */
    struct tunnel_dest td = {&t->segments[vif->segment], NULL, vif->lport};
    int i = 0;
    fwd_prefetch_init(&fp, t, vif);
    slow.n = 0;
    if (!stateful) {
        int hits = 0;
        for (; i < k; i++) {
            if (vals[i]) {
                fc_emit(pl, t, keep[i], vals[i]->action, &td);
                hits++;
            } else {
                fc_miss(pl, t, fw, keep[i],
                        fam[i] != DP_FC_NONE ? (uint8_t)i : FC_NO_KEY, &fp,
                        &slow);
            }
        }
        pl->ctr.flow_cache_hits += (uint64_t)hits;
    } else if (dfw_cached_begin(pl->fw, fw_now(pl), &dc)) {
        for (; i < k; i++) {
            struct dp_fc_val *v = vals[i];
            if (v) {
                if (unlikely(!dfw_cached_pass(&dc, keep[i], &v->ct,
                                              dp_fc_tag(fam[i], hashes[i])))) {
                    break; /* it and the rest of the batch: below */
                }
                fc_emit(pl, t, keep[i], v->action, &td);
            } else {
                fc_miss(pl, t, fw, keep[i],
                        fam[i] != DP_FC_NONE ? (uint8_t)i : FC_NO_KEY, &fp,
                        &slow);
            }
        }
        pl->ctr.flow_cache_hits += (uint64_t)dc.passed;
        pl->fw_hits += (uint64_t)dc.passed;
        dfw_cached_end(&dc);
    }
    /* From a hit that failed the check on: this flow's frames, and the
     * other hits too (they are not checked), take the full way. */
    for (; i < k; i++) {
        if (vals[i]) {
            fc_slow_add(&slow, keep[i], (uint8_t)i);
        } else {
            fc_miss(pl, t, fw, keep[i],
                    fam[i] != DP_FC_NONE ? (uint8_t)i : FC_NO_KEY, &fp, &slow);
        }
    }
    if (likely(!slow.n)) {
        return;
    }
    fwd_prefetch_routes(&fp); /* arrives while the firewall works */

    /* 4. */
    if (stateful) {
        dfw_check_vnic(pl->fw, t->fw_sets, slow.pkts, slow.n, fw, vif->lport,
                       true, fw_now(pl), verdicts, refs);
        ct = dfw_thread_ct(pl->fw); /* made on the first check */
    }
    for (int s = 0; s < slow.n; s++) {
        struct dp_packet *pkt = slow.pkts[s];
        uint8_t key = slow.key[s];
        struct fc_decision dec;

        if (stateful && unlikely(verdicts[s] != DP_DROP_NONE)) {
            if (verdicts[s] == DP_DROP_FW_REJECT) {
                reject_out(pl, t, pkt, in_port);
            }
            drop(pl, pkt, (enum dp_drop)verdicts[s]);
            continue;
        }
        if (key == FC_NO_KEY) {
            vif_forward(pl, t, pkt, in_port, NULL);
            continue;
        }
        pkt->hash = hashes[key]; /* the firewall set its own */
        vif_forward(pl, t, pkt, in_port, &dec);
        if (dec.kind == DP_FC_FREE || (stateful && !refs[s].conn)) {
            continue;
        }
        const struct ct_ref *ref = stateful ? &refs[s] : NULL;
        if (fam[key] == DP_FC_V4) {
            dp_fc_insert(fc, &keys[key], hashes[key], t->uid, dec.kind,
                         dec.target, ct, ref, fw_now(pl));
        } else {
            dp_fc_insert6(fc, &keys6[key], hashes[key], t->uid, dec.kind,
                          dec.target, ct, ref, fw_now(pl));
        }
    }
}

/* A batch from a VIF: through the flow cache (from_vif_batch_cached())
 * behind a stateful firewall and, with flow_cache_all, everywhere. */
static void
from_vif_batch(struct dp_pipeline *pl, const struct dp_tables *t,
               struct dp_packet **pkts, int n, uint16_t in_port)
{
    const struct dfw_vnic *fw = t->vifs[in_port].fw;

    if (fw && fw->cls && pl->fc) {
        from_vif_batch_cached(pl, t, pkts, n, in_port, true);
    } else if (pl->fc_all && pl->fc) {
        from_vif_batch_cached(pl, t, pkts, n, in_port, false);
    } else {
        from_vif_batch_uncached(pl, t, pkts, n, in_port);
    }
}

/* Decapsulates and parses a frame from tunnel port 'in_port'; false if it
 * was dropped. */
static inline bool
tunnel_ingress(struct dp_pipeline *pl, const struct dp_tables *t,
               struct dp_packet *pkt, uint16_t in_port)
{
    enum dp_encap encap =
        in_port == DP_PORT_GENEVE ? DP_ENCAP_GENEVE : DP_ENCAP_VXLAN;
    enum dp_drop d;

    pkt->in_port = in_port;
    d = dp_tunnel_decap(pkt, encap, t);
    if (unlikely(d != DP_DROP_NONE)) {
        drop(pl, pkt, d);
        return false;
    }
    pl->ctr.decap++;
    d = dp_parse(pkt);
    if (unlikely(d != DP_DROP_NONE)) {
        drop(pl, pkt, d);
        return false;
    }
    return true;
}

/* Forwards a decapsulated, parsed frame from tunnel port 'in_port'. */
static void
tunnel_forward(struct dp_pipeline *pl, const struct dp_tables *t,
               struct dp_packet *pkt, uint16_t in_port)
{
    const struct eth_hdr *eth = dp_packet_eth(pkt);

    if (likely(!eth_addr_is_multicast(&eth->dst))) {
        const struct dp_mac_entry *e =
            dp_mac_lookup(t, pkt->segment, &eth->dst);
        if (likely(e && !e->remote)) {
            pl->ctr.l2_local++;
            to_local(pl, t, pkt, e->port);
            return;
        }
        if (e) {
            /* Addressed to a MAC we believe is elsewhere: never bounce
             * frames back into the fabric. */
            drop(pl, pkt, DP_DROP_NO_DESTINATION);
            return;
        }
        const struct dp_segment *seg = &t->segments[pkt->segment];
        if (unlikely(eth_addr_equals(&eth->dst, &seg->router_mac)) &&
            seg->router != DP_ROUTER_NONE) {
            /* The sending host routes: a router MAC never crosses. */
            drop(pl, pkt, DP_DROP_ROUTE_FROM_TUNNEL);
            return;
        }
    }
    flood(pl, t, pkt, in_port, false);
}

/* A batch from a tunnel: decapsulation for all frames (their MAC-table
 * slots prefetched when the table is big), then forwarding. */
static void
from_tunnel_batch(struct dp_pipeline *pl, const struct dp_tables *t,
                  struct dp_packet **pkts, int n, uint16_t in_port)
{
    bool prefetch = prefetch_macs(t);
    uint64_t peer[2] = {0, 0}; /* the last sender found known */
    bool have_peer = false;
    int k = 0;

    for (int i = 0; i < n; i++) {
        uint64_t from[2];
        memcpy(from, pkts[i]->tun_addr, 16);
        if (unlikely(!have_peer ||
                     ((from[0] ^ peer[0]) | (from[1] ^ peer[1])))) {
            if (unlikely(!dp_peer_known(t, pkts[i]->tun_addr))) {
                pkts[i]->in_port = in_port;
                drop(pl, pkts[i], DP_DROP_TUN_UNKNOWN_PEER);
                continue;
            }
            peer[0] = from[0];
            peer[1] = from[1];
            have_peer = true;
        }
        if (likely(tunnel_ingress(pl, t, pkts[i], in_port))) {
            if (prefetch) {
                prefetch_mac(t, pkts[i]);
            }
            pkts[k++] = pkts[i];
        }
    }
    for (int i = 0; i < k; i++) {
        tunnel_forward(pl, t, pkts[i], in_port);
    }
}

void
dp_pipeline_run(struct dp_pipeline *pl, const struct dp_tables *t,
                uint16_t in_port, struct dp_packet **pkts, int n)
{
    ensure_out(pl, t->n_ports);
    pl->ctr.rx_packets += (uint64_t)n;
    pl->now_valid = false;
    if (in_port < DP_PORT_FIRST_VIF) {
        from_tunnel_batch(pl, t, pkts, n, in_port);
    } else {
        from_vif_batch(pl, t, pkts, n, in_port);
    }
    if (pl->n_in_q) {
        in_flush(pl, t);
    }
}
