/* A control channel: one non-blocking TLS connection carrying framed
 * envelopes (wire.h).  Used by the controller's sessions, the agent and
 * the control-plane benchmark's simulated hosts alike.
 *
 * Life cycle: chan_new() on a connected (or connecting) non-blocking
 * socket, which the channel then owns; the owner polls chan_fd() for
 * chan_events() and calls chan_run() whenever it is ready (and after
 * queueing with chan_send()); chan_run() drives the handshake, writes what
 * is queued and reads what arrived, then chan_recv() hands out the decoded
 * envelopes.  Any error (handshake, I/O, a refused frame) is final: the
 * owner logs the message and chan_free()s the channel.
 *
 * Not thread-safe: a channel belongs to one thread. */
#ifndef WEFT_PROTO_CHAN_H
#define WEFT_PROTO_CHAN_H 1

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

struct chan;

/* Takes ownership of 'fd' (closed by chan_free()).  'max_frame' bounds
 * received frames.  Returns NULL if OpenSSL fails. */
struct chan *chan_new(SSL_CTX *ctx, int fd, bool server, size_t max_frame);
void chan_free(struct chan *); /* NULL is fine */

int chan_fd(const struct chan *);
SSL *chan_ssl(const struct chan *);
bool chan_established(const struct chan *); /* handshake done */

/* Does all the I/O that can be done now.  Returns 0 while the channel is
 * usable, or an errno value with the reason in 'err' (ECONNRESET when the
 * peer closed, EPROTO for a TLS failure). */
int chan_run(struct chan *, char *err, size_t err_size);

/* The next received envelope: 0 and '*env' (free with wire_free()), EAGAIN
 * if none is buffered, or a decode error (wire_decoder_next()). */
int chan_recv(struct chan *, Weft__Envelope **env, char *err, size_t err_size);

/* Queues 'env' after setting its 'seq'.  Returns the frame's size. */
size_t chan_send(struct chan *, Weft__Envelope *env);

/* Queues raw bytes as they are (tests of hostile peers only). */
void chan_send_raw(struct chan *, const void *data, size_t n);

/* Bytes queued and not yet written to the socket. */
size_t chan_out_pending(const struct chan *);

/* EPOLLIN and/or EPOLLOUT, as the channel needs now. */
uint32_t chan_events(const struct chan *);

/* True if chan_run() stopped reading with data still inside OpenSSL: call
 * chan_run() again without waiting for the socket. */
bool chan_more(const struct chan *);

/* Totals since creation. */
uint64_t chan_bytes_sent(const struct chan *);
uint64_t chan_bytes_received(const struct chan *);

#endif
