/* Test hooks of the dummy port provider (port-dummy.c). */
#ifndef WEFT_DP_PORT_DUMMY_H
#define WEFT_DP_PORT_DUMMY_H 1

#include "datapath/port.h"

/* Queues a frame for the next rx(); returns 0 or ENOBUFS. */
int dp_dummy_inject(struct dp_port *, const void *frame, uint32_t len);
/* The tunnel peer (IPv4-mapped or IPv6) the frames received from now on
 * come from, as a UDP tunnel port sets it; all zero (the default): none,
 * which the pipeline drops as TUN_UNKNOWN_PEER. */
void dp_dummy_set_peer(struct dp_port *, const uint8_t addr[16]);
/* Takes the oldest sent frame into 'buf'; returns its length or -1. */
int dp_dummy_take(struct dp_port *, void *buf, uint32_t size);
/* The same, also giving the frame's tunnel peer and flow hash as the
 * pipeline set them (either may be NULL). */
int dp_dummy_take_meta(struct dp_port *, void *buf, uint32_t size,
                       uint8_t tun_addr[16], uint32_t *hash);
/* Frames sent and not yet taken. */
uint32_t dp_dummy_sent_count(struct dp_port *);
/* tx() calls that were given at least one frame: the batches sent. */
uint32_t dp_dummy_tx_calls(struct dp_port *);
/* With capture off, tx() only counts (for benchmarks). */
void dp_dummy_set_capture(struct dp_port *, bool capture);

#endif
