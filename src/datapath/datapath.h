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
 * Idle behaviour: after a few empty rounds the thread sleeps in poll() on
 * the ports' descriptors (an idle agent uses ~0% CPU); under load it polls
 * the rings in a loop without sleeping.  With busy_poll it never sleeps. */
#ifndef WEFT_DP_DATAPATH_H
#define WEFT_DP_DATAPATH_H 1

#include <stdbool.h>
#include <stdint.h>

#include "datapath/pipeline.h"
#include "datapath/tables.h"

struct datapath_options {
    uint32_t n_buffers;  /* packet buffers in the thread's pool */
    uint32_t frame_size; /* bytes per buffer (>= 64 KiB for GSO) */
    bool busy_poll;      /* never sleep */
};

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

#endif
