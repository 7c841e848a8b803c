/* The datapath: a packet thread that polls the ports of the current
 * forwarding snapshot and runs the pipeline on what arrives.
 *
 * Threading: one packet thread per datapath (more can come later: state
 * is already per thread).  The control side publishes a whole new snapshot
 * with datapath_publish(); the packet thread picks it up at the top of its
 * next loop, so a batch is processed entirely against one snapshot — never
 * half a change.  publish() returns the old snapshot once the packet thread
 * has provably stopped using it (it has reported the new generation), so
 * the caller can free it and close ports that left.
 *
 * Idle behaviour: after the last frame the thread keeps polling, yielding
 * the CPU each round, for up to 200 us (to take a reply without a costly
 * wake-up; at most 5 % of a CPU over time), then sleeps in poll() on the
 * ports' descriptors: an idle agent uses ~0% CPU.  Under load it polls the
 * rings in a loop without sleeping.  With busy_poll (the option, or a port
 * opened with it) it never sleeps.
 *
 * Firewall state: the packet thread owns its pipeline's connection table
 * (conntrack.h's contract).  The control side reads or changes it through
 * requests the packet thread serves between two batches: the request
 * wakes the thread if it sleeps in poll() (the wake eventfd is in its poll
 * set) and the caller waits for the answer with a timeout.  Work per
 * request is bounded (a dump or flush proceeds in chunks), so forwarding
 * never stalls for long.  Per-rule counters and firewall statistics are
 * read without a request (racy but untorn), after one that collects what
 * the flow cache's entries counted (datapath_collect_counts()). */
#ifndef WEFT_DP_DATAPATH_H
#define WEFT_DP_DATAPATH_H 1

#include <stdbool.h>
#include <stdint.h>

#include "datapath/conntrack.h"
#include "datapath/dfw.h"
#include "datapath/pipeline.h"
#include "datapath/punt.h"
#include "datapath/tables.h"

struct datapath_options {
    uint32_t n_buffers;      /* packet buffers in the thread's pool */
    uint32_t frame_size;     /* bytes per buffer (>= 64 KiB for GSO) */
    bool busy_poll;          /* never sleep */
    uint32_t ct_max_entries; /* connections per packet thread; 0: 1,000,000
                              * (memory is reserved, touched as used) */
    bool ct_strict;          /* TCP: only a SYN opens (no loose pickup) */
};

/* How long a control request waits for the packet thread. */
#define DATAPATH_CTL_TIMEOUT_MS 2000

struct datapath;

/* Creates a datapath with empty tables (generation 0) and starts its
 * thread.  Returns NULL and logs if the thread cannot start. */
struct datapath *datapath_create(const struct datapath_options *);
/* Stops the thread and frees everything but the ports. NULL is fine. */
void datapath_destroy(struct datapath *);

/* Publishes 't' (its generation must be higher than the current one) and
 * returns the previous snapshot after the packet thread stopped using it.
 * The caller owns the returned snapshot.  Control thread only. */
struct dp_tables *datapath_publish(struct datapath *, struct dp_tables *t);

/* The snapshot in use (for display; valid until the next publish). */
const struct dp_tables *datapath_tables(const struct datapath *);

/* Copies the packet thread's counters (a racy but untorn snapshot). */
void datapath_get_counters(const struct datapath *, struct dp_counters *);

/* ---- Firewall (any thread but the packet thread). ---- */

/* Has the packet thread hand what its flow cache entries counted to the
 * rule counters (dp_pipeline_collect_counts()), so that those read next
 * include every packet up to now: call it once before reading a set of
 * rules.  Without it, packets of established flows reach the counters
 * when their entry next syncs (within a second of traffic) or ends.
 * Returns 0 or ETIMEDOUT. */
int datapath_collect_counts(struct datapath *);

/* Counters of firewall rule 'rule_id', summed over packet threads; no
 * lock, no request (racy but untorn; see datapath_collect_counts()). */
void datapath_get_rule_counters(const struct datapath *, uint32_t rule_id,
                                struct dfw_rule_counters *);
/* The same for 'n' rules at once: out[i] for ids[i]. */
void datapath_get_rule_counters_bulk(const struct datapath *,
                                     const uint32_t *ids, size_t n,
                                     struct dfw_rule_counters *out);
/* Firewall statistics (racy but untorn). */
void datapath_get_fw_stats(const struct datapath *, struct dfw_stats *);

/* Calls 'fn' for every live connection, in chunks fetched from the packet
 * thread ('fn' runs in the caller's thread, between requests), until
 * 'fn' returns false.  Not an atomic snapshot.  Returns 0 or ETIMEDOUT
 * (the packet thread did not answer within DATAPATH_CTL_TIMEOUT_MS; 'fn'
 * may have been called for part of the table). */
int datapath_ct_dump(struct datapath *,
                     bool (*fn)(void *aux, const struct ct_conn_info *),
                     void *aux);
/* Conntrack statistics (all zero before the first firewall check).
 * Returns 0 or ETIMEDOUT. */
int datapath_ct_stats(struct datapath *, struct ct_stats *);
/* Removes every connection of 'zone' (a vNIC's logical port id); sets
 * '*n_flushed' if not NULL.  Returns 0 or ETIMEDOUT. */
int datapath_ct_flush_zone(struct datapath *, uint32_t zone, size_t *n_flushed);

/* ---- Punt and inject (punt.h; any one thread but the packet thread).
 * Frames the segments' punt flags select are copied into a bounded ring
 * for the agent; the agent's answers go back through a second ring that
 * the packet thread drains at the top of its loop. ---- */

/* An eventfd that becomes readable when punted frames wait.  The reader
 * clears it (read 8 bytes) and then calls datapath_punt_read() until it
 * returns false. */
int datapath_punt_fd(const struct datapath *);
/* Takes the oldest punted frame into '*e'; false if none.  One consumer
 * thread at a time. */
bool datapath_punt_read(struct datapath *, struct dp_punt_entry *e);
/* Queues 'len' bytes of Ethernet frame to be sent out of datapath port
 * 'port' (as numbered in the current snapshot) and wakes the packet
 * thread.  Returns 0, ENOBUFS (ring full) or EMSGSIZE (> DP_PUNT_FRAME_MAX);
 * an unknown port is found (and counted) by the packet thread.  Serialized
 * internally: any control thread may call it. */
int datapath_inject(struct datapath *, uint16_t port, const void *frame,
                    uint32_t len);
/* Punt and inject counters (racy but untorn). */
void datapath_get_punt_stats(const struct datapath *, struct dp_punt_stats *);

#endif
