/* The packet pipeline: what happens to a batch of frames received on one
 * port, against one forwarding snapshot.
 *
 *   from a VIF:    parse -> port binding -> [SpoofGuard] -> punt (DHCP,
 *                  RS: to the agent, punt.h) -> [firewall OUT]
 *                  -> ARP/ND responder -> L2 lookup
 *                  -> local VIF | encapsulate to the remote endpoint
 *                  | flood (local ports + head-end replication)
 *                  or, addressed to the segment's router MAC: the router
 *                  stage (route.h) -> L2 in the egress segment, or an ICMP
 *                  answer straight back to the VIF
 *   from a tunnel: decapsulate (VNI -> segment) -> parse -> L2 lookup
 *                  -> local VIF | flood to local ports (split horizon: a
 *                  frame from the fabric never goes back into it)
 *
 * Distributed firewall (dfw.h): a frame from a VIF with a firewall goes
 * through SpoofGuard and the OUT check (batched, before the forwarding
 * decision); a frame about to be delivered to a local VIF with a firewall
 * goes through that vNIC's IN check.  IN checks are deferred to the end of
 * the batch (or until DP_BATCH_MAX are waiting) so they too run batched;
 * frames to one port keep their order.  Rejected packets are answered: an
 * OUT reject goes straight back to the source VIF, an IN reject is
 * forwarded from the destination vNIC toward the original sender (L2
 * lookup: local VIF, through its IN check, or a tunnel).
 *
 * Offloads: a GSO super-frame from a VIF is passed as is to a VIF that
 * takes offloads, and cut into segments in software (with checksums) on
 * its way into a tunnel or to a VIF without offloads.  Segments from the
 * fabric are merged back into super-frames for VIFs with offloads (gro.h).
 *
 * A pipeline belongs to one thread: it owns its counters and output
 * batches, reads the tables it is given and takes no locks. */
#ifndef WEFT_DP_PIPELINE_H
#define WEFT_DP_PIPELINE_H 1

#include <stdint.h>

#include "datapath/dfw.h"
#include "datapath/drop.h"
#include "datapath/packet.h"
#include "datapath/tables.h"

struct dp_counters {
    uint64_t rx_packets;     /* frames entering the pipeline */
    uint64_t tx_packets;     /* frames handed to output ports */
    uint64_t l2_local;       /* unicast delivered to a local VIF */
    uint64_t l2_remote;      /* unicast sent into a tunnel */
    uint64_t flooded;        /* BUM frames replicated */
    uint64_t replicas;       /* copies made by flooding */
    uint64_t decap;          /* frames received from tunnels */
    uint64_t arp_replies;    /* ARP requests answered locally */
    uint64_t nd_replies;     /* neighbour solicitations answered locally */
    uint64_t gso_frames;     /* super-frames segmented in software */
    uint64_t gso_segments;   /* segments produced */
    uint64_t csum_completed; /* checksums filled in for a peer */
    uint64_t gro_merged;     /* segments merged into a super-frame */
    uint64_t punted;         /* control frames handed to the agent */
    /* Distributed routing (route.h); routed frames are not counted in
     * l2_local / l2_remote. */
    uint64_t routed;                 /* frames routed (before fragmenting) */
    uint64_t ip_fragments;           /* IPv4 fragments made by routers */
    uint64_t icmp_errors_sent;       /* ICMP/ICMPv6 errors sent by routers */
    uint64_t icmp_errors_suppressed; /* not sent: rate limit */
    uint64_t router_echo_replies;    /* echo requests to routers answered */
    uint64_t flow_cache_hits; /* frames forwarded as the flow cache said */
    uint64_t drops[DP_DROP_N_REASONS]; /* by reason */
};

struct dp_pipeline;

struct dp_pipeline_options {
    struct dfw_options fw; /* firewall: conntrack size and mode, limits */
    /* Milliseconds of a monotonic clock for conntrack and rate limits;
     * NULL: time_msec_coarse().  Read at most once per dp_pipeline_run().
     * For tests and benchmarks. */
    uint64_t (*clock_ms)(void *aux);
    void *clock_aux;
    /* Punt (punt.h): frames the segment's punt flags ask for go into
     * 'punt_ring' (NULL: nothing is punted) and 'punt_fd' (an eventfd, -1:
     * none) is signalled when the ring was empty. */
    struct dp_ring *punt_ring;
    int punt_fd;
    /* The flow cache (flowcache.h) serves VIFs with a stateful firewall,
     * where a hit skips the conntrack lookup; without one it costs about
     * what it saves (decision 51).  'no_flow_cache': none at all;
     * 'flow_cache_all': for every VIF.  For tests and benchmarks. */
    bool no_flow_cache;
    bool flow_cache_all;
};
void dp_pipeline_options_default(struct dp_pipeline_options *);

/* Creates a pipeline drawing buffers (for clones, segments and reject
 * answers) from 'pool', which must outlive it.  'opts' NULL: defaults.
 * The firewall's connection table is created on first use. */
struct dp_pipeline *dp_pipeline_create(struct dp_pool *pool,
                                       const struct dp_pipeline_options *opts);
void dp_pipeline_destroy(struct dp_pipeline *); /* NULL is fine */

/* Processes 'n' frames received on port 'in_port' of 't'.  Takes ownership
 * of the packets.  Output is queued per port; frames may be sent before
 * this returns when a queue fills, and all of them are sent by
 * dp_pipeline_flush(). */
void dp_pipeline_run(struct dp_pipeline *, const struct dp_tables *t,
                     uint16_t in_port, struct dp_packet **pkts, int n);
/* Sends every queued frame and frees it. */
void dp_pipeline_flush(struct dp_pipeline *, const struct dp_tables *t);

/* Housekeeping for an idle round (no batch ran): expires connections. */
void dp_pipeline_idle(struct dp_pipeline *);

/* Hands what flow cache entries counted since their last sync to their
 * connections and the firewall's rule counters (dp_fc_collect()), so
 * those read next are exact; nothing to do when no entry was hit since
 * the last call.  The control side asks for it before it reads rule
 * counters (datapath_collect_counts()). */
void dp_pipeline_collect_counts(struct dp_pipeline *);

/* This pipeline's counters (read from other threads without locking). */
const struct dp_counters *dp_pipeline_counters(const struct dp_pipeline *);

/* This pipeline's firewall state: conntrack (owner thread only), per-rule
 * counters and statistics (any thread, see dfw.h). */
struct dfw_thread *dp_pipeline_dfw(const struct dp_pipeline *);
/* The clock as the pipeline reads it (milliseconds). */
uint64_t dp_pipeline_now_ms(const struct dp_pipeline *);

#endif
