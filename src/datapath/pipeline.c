/* The packet pipeline (pipeline.h). */
#include "datapath/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "datapath/gro.h"
#include "datapath/gso.h"
#include "datapath/neigh.h"
#include "datapath/parse.h"
#include "datapath/port.h"
#include "datapath/tunnel.h"

struct dp_pipeline {
    struct dp_pool *pool;   /* for clones and GSO segments */
    struct dp_counters ctr; /* this thread's counters */
    struct dp_batch *out;   /* per output port queue */
    uint32_t n_out;         /* entries in 'out' */
    uint16_t *dirty;        /* ports with queued frames */
    uint32_t n_dirty;
};

struct dp_pipeline *
dp_pipeline_create(struct dp_pool *pool)
{
    struct dp_pipeline *pl = xcalloc(1, sizeof *pl);
    pl->pool = pool;
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
    free(pl->out);
    free(pl->dirty);
    free(pl);
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

/* Fills in a checksum the sender left to us, for a peer that cannot. */
static bool
complete_csum(struct dp_pipeline *pl, struct dp_packet *pkt)
{
    if (pkt->ol.flags & DP_OL_CSUM_PARTIAL) {
        if (dp_csum_complete(pkt) != DP_DROP_NONE) {
            drop(pl, pkt, DP_DROP_GSO_BAD);
            return false;
        }
        pl->ctr.csum_completed++;
    }
    return true;
}

static void emit_local(struct dp_pipeline *, const struct dp_tables *,
                       struct dp_packet *, const void *aux);

/* Delivers to local VIF 'port' (passed through aux as an integer). */
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

static void
emit_tunnel(struct dp_pipeline *pl, const struct dp_tables *t,
            struct dp_packet *pkt, const void *aux)
{
    const struct tunnel_dest *td = aux;
    enum dp_drop d;

    if (pkt->ol.gso_type != DP_GSO_NONE) {
        segment_and_emit(pl, t, pkt, emit_tunnel, aux);
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
        emit_local(pl, t, copy, (const void *)(uintptr_t)port);
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

static void
from_vif(struct dp_pipeline *pl, const struct dp_tables *t,
         struct dp_packet *pkt, uint16_t in_port)
{
    const struct dp_vif *vif = &t->vifs[in_port];
    const struct eth_hdr *eth;
    enum dp_drop d;

    d = dp_parse(pkt);
    if (unlikely(d != DP_DROP_NONE)) {
        drop(pl, pkt, d);
        return;
    }
    if (unlikely(vif->segment == DP_SEG_NONE)) {
        drop(pl, pkt, DP_DROP_PORT_UNBOUND);
        return;
    }
    pkt->segment = vif->segment;
    pkt->src_lport = vif->lport;

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
    if (likely(!eth_addr_is_multicast(&eth->dst))) {
        const struct dp_mac_entry *e =
            dp_mac_lookup(t, pkt->segment, &eth->dst);
        if (likely(e)) {
            if (e->remote) {
                struct tunnel_dest td = {&t->segments[pkt->segment],
                                         &t->vteps[e->vtep], vif->lport};
                pl->ctr.l2_remote++;
                emit_tunnel(pl, t, pkt, &td);
            } else if (unlikely(e->port == in_port)) {
                drop(pl, pkt, DP_DROP_HAIRPIN);
            } else {
                pl->ctr.l2_local++;
                emit_local(pl, t, pkt, (const void *)(uintptr_t)e->port);
            }
            return;
        }
    }
    flood(pl, t, pkt, in_port, true);
}

static void
from_tunnel(struct dp_pipeline *pl, const struct dp_tables *t,
            struct dp_packet *pkt, uint16_t in_port)
{
    enum dp_encap encap =
        in_port == DP_PORT_GENEVE ? DP_ENCAP_GENEVE : DP_ENCAP_VXLAN;
    const struct eth_hdr *eth;
    enum dp_drop d;

    d = dp_tunnel_decap(pkt, encap, t);
    if (unlikely(d != DP_DROP_NONE)) {
        drop(pl, pkt, d);
        return;
    }
    pl->ctr.decap++;
    d = dp_parse(pkt);
    if (unlikely(d != DP_DROP_NONE)) {
        drop(pl, pkt, d);
        return;
    }
    eth = dp_packet_eth(pkt);
    if (likely(!eth_addr_is_multicast(&eth->dst))) {
        const struct dp_mac_entry *e =
            dp_mac_lookup(t, pkt->segment, &eth->dst);
        if (likely(e && !e->remote)) {
            pl->ctr.l2_local++;
            emit_local(pl, t, pkt, (const void *)(uintptr_t)e->port);
            return;
        }
        if (e) {
            /* Addressed to a MAC we believe is elsewhere: never bounce
             * frames back into the fabric. */
            drop(pl, pkt, DP_DROP_NO_DESTINATION);
            return;
        }
    }
    flood(pl, t, pkt, in_port, false);
}

void
dp_pipeline_run(struct dp_pipeline *pl, const struct dp_tables *t,
                uint16_t in_port, struct dp_packet **pkts, int n)
{
    ensure_out(pl, t->n_ports);
    pl->ctr.rx_packets += (uint64_t)n;
    if (in_port < DP_PORT_FIRST_VIF) {
        for (int i = 0; i < n; i++) {
            pkts[i]->in_port = in_port;
            from_tunnel(pl, t, pkts[i], in_port);
        }
    } else {
        for (int i = 0; i < n; i++) {
            pkts[i]->in_port = in_port;
            from_vif(pl, t, pkts[i], in_port);
        }
    }
}
