/* Framing and checking of control-protocol messages (weft.proto).
 *
 * A frame is a 4-byte big-endian length N (1 <= N <= the receiver's limit)
 * followed by N bytes: one encoded weft.Envelope.  The decoder takes bytes
 * as they arrive from the stream and hands out whole envelopes, each one
 * checked before the caller sees it:
 *   - the length is within the limit (an oversize header is refused as soon
 *     as its 4 bytes arrive, before any body is buffered);
 *   - the body decodes as an Envelope with a body set (garbage, truncated
 *     varints or fields, and wrong wire types are refused);
 *   - the envelope's 'seq' is exactly one more than the previous one's
 *     (starting at 1): a replayed, reordered or dropped frame is refused;
 *   - every field obeys the contract (wire_check()): lengths of MACs and
 *     addresses, VNI range, ids of printable ASCII, bounded counts...
 * Any refusal is final: the stream is out of sync or the peer is hostile,
 * and the session must be closed (the error text says why, for the log).
 *
 * Both the controller and the agent use this module; it knows nothing of
 * sockets or TLS (chan.h drives it).  Thread-safety: a decoder belongs to
 * one thread; wire_check() and wire_encode() are pure. */
#ifndef WEFT_PROTO_WIRE_H
#define WEFT_PROTO_WIRE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/weft.pb-c.h"

#define WIRE_VERSION      1
#define WIRE_HDR_LEN      4
#define WIRE_MAX_FRAME    (64u << 20) /* controller -> agent (snapshots) */
#define WIRE_MAX_FRAME_CP (1u << 20)  /* agent -> controller */
#define WIRE_ID_MAX       512         /* object ids: paths, with margin */
#define WIRE_HOST_ID_MAX  64          /* host ids (API ids) */
#define WIRE_REASON_MAX   1024        /* error / failure texts */
#define WIRE_IPS_MAX      32          /* addresses per port */
#define WIRE_ITEMS_MAX    2000000     /* entries of one repeated field */
#define WIRE_DER_MAX      16384       /* certificates and CSRs */
#define WIRE_TOKEN_MAX    256         /* join tokens */
#define WIRE_IFNAME_MAX   15          /* Linux interface names */

/* Growable byte buffer: bytes [ofs, len) are pending. */
struct wire_buf {
    uint8_t *data; /* storage */
    size_t ofs;    /* first pending byte */
    size_t len;    /* end of pending bytes */
    size_t cap;    /* allocated */
};

void wire_buf_free(struct wire_buf *);
/* Bytes pending. */
static inline size_t
wire_buf_pending(const struct wire_buf *b)
{
    return b->len - b->ofs;
}
/* Marks 'n' pending bytes consumed. */
void wire_buf_consume(struct wire_buf *, size_t n);

struct wire_decoder {
    struct wire_buf in; /* received, not yet decoded */
    size_t max_frame;   /* largest accepted frame body */
    uint64_t next_seq;  /* 'seq' the next envelope must carry */
    bool failed;        /* refused something: nothing more is decoded */
};

/* Initializes 'd' to accept frames of at most 'max_frame' body bytes. */
void wire_decoder_init(struct wire_decoder *d, size_t max_frame);
void wire_decoder_destroy(struct wire_decoder *d);

/* Appends 'n' received bytes. */
void wire_decoder_feed(struct wire_decoder *d, const void *data, size_t n);

/* Bytes received but not yet decoded. */
size_t wire_decoder_buffered(const struct wire_decoder *d);

/* Decodes the next frame.  Returns 0 and a checked envelope in '*env'
 * (free it with wire_free()); EAGAIN if no whole frame is buffered yet;
 * EMSGSIZE for a frame over the limit (or of length 0), EBADMSG for a body
 * that does not decode or breaks the contract, EPROTO for a 'seq' out of
 * order -- then 'err' says why and every later call fails the same way. */
int wire_decoder_next(struct wire_decoder *d, Weft__Envelope **env, char *err,
                      size_t err_size);

/* Checks an envelope's fields against the contract (not its 'seq').
 * Returns 0 or EBADMSG with the reason (naming the field) in 'err'. */
int wire_check(const Weft__Envelope *env, char *err, size_t err_size);

/* Appends 'env' as one frame to 'out'.  Returns the frame's size. */
size_t wire_encode(struct wire_buf *out, const Weft__Envelope *env);

/* Frees an envelope returned by wire_decoder_next().  NULL is fine. */
void wire_free(Weft__Envelope *env);

/* True if 's' is a valid host id: 1..64 of [A-Za-z0-9_.-], not "." or
 * "..". */
bool wire_host_id_ok(const char *s);

#endif
