/* libFuzzer target for the control protocol's frame and message decoder
 * (wire.c) and what the agent does with a decoded update (agent-state.c).
 *
 * The input is a byte stream as it would arrive on the channel; it is fed
 * to the decoder in two pieces (the split point taken from the first
 * byte) to exercise partial frames.  Every envelope the decoder accepts
 * must pass wire_check() again (it promised to check it), updates are
 * applied to a desired state, turned into a datapath configuration and
 * snapshotted, and the snapshot must round-trip through the cache encoding.
 * The target abort()s when the decoder accepts a frame over its limit or
 * keeps decoding after refusing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-state.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_FRAME 65536

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_decoder d;
    struct dstate *ds = dstate_create();
    struct dstate_options o = {.mtu = 1500, .offloads = true};
    size_t split = size ? data[0] % (size + 1) : 0;
    Weft__Envelope *env;
    char err[256];
    int error = 0;

    wire_decoder_init(&d, FUZZ_MAX_FRAME);
    for (int piece = 0; piece < 2; piece++) {
        if (piece == 0) {
            wire_decoder_feed(&d, data, split);
        } else {
            wire_decoder_feed(&d, data + split, size - split);
        }
        while (!(error = wire_decoder_next(&d, &env, err, sizeof err))) {
            if (wire_check(env, err, sizeof err)) {
                abort(); /* accepted something it should have refused */
            }
            if (weft__envelope__get_packed_size(env) > FUZZ_MAX_FRAME) {
                abort();
            }
            if (env->body_case == WEFT__ENVELOPE__BODY_UPDATE &&
                !dstate_apply(ds, env->update, err, sizeof err)) {
                struct dstate_failures f = {0};
                struct agent_config *cfg = dstate_to_config(ds, &o, &f);
                agent_config_free(cfg);
                dstate_failures_clear(&f);
                Weft__Update *snap = dstate_snapshot(ds);
                if (snap) {
                    weft__update__free_unpacked(snap, NULL);
                }
            }
            wire_free(env);
        }
        if (error != EAGAIN) {
            /* Refused: must stay refused. */
            if (wire_decoder_next(&d, &env, err, sizeof err) == 0) {
                abort();
            }
            break;
        }
    }
    wire_decoder_destroy(&d);
    dstate_destroy(ds);
    return 0;
}
