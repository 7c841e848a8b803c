/* The API's control-plane endpoints: host enrollment (join tokens,
 * revocation) and realization state, on top of controller.h.
 *
 *   POST /api/v1/hosts/{host}/join-token   {"ttl_s": N} (optional, 60..
 *        604800, default 3600) -> 201 {"token", "host", "expires_ms",
 *        "ca_sha256"}.  The token is single-use; the store keeps only the
 *        SHA-256 of its secret, under "j/<id>".
 *   POST /api/v1/hosts/{host}/revoke       -> 200: the host's certificate
 *        ("c/<host>") is deleted, so the controller refuses it and drops
 *        its session; the host joins again with a new token.
 *   GET  /api/v1/hosts/{host}/state        the host's channel and
 *        realization state
 *   GET  .../segments/{segment}/state, .../ports/{port}/state
 *        the object's realization state per host
 *   GET  /api/v1/realization?revision=N    is N (default: the head)
 *        realized on every host it applies to
 *
 * Writes are one store transaction each, audited like every other write.
 * These run on HTTP threads and block on the store (enrollment is rare). */
#ifndef WEFT_API_CP_H
#define WEFT_API_CP_H 1

#include "api/api.h"

/* POST .../join-token; 'body' may be NULL (borrowed). */
void cp_join_token(struct api_ctx *ctx, const struct model_path *mp,
                   json_t *body, const struct api_principal *who,
                   struct api_reply *r);
/* POST .../revoke. */
void cp_revoke(struct api_ctx *ctx, const struct model_path *mp,
               const struct api_principal *who, struct api_reply *r);
/* GET .../state of a host, segment or port. */
void cp_state(struct api_ctx *ctx, const struct model_path *mp,
              struct api_reply *r);
/* GET /realization. */
/* GET of a group's effective members (stats false) or of a rule's hit
 * counters (stats true), from the controller's model. */
void cp_firewall_read(struct api_ctx *, const struct model_path *, bool stats,
                      struct api_reply *);
void cp_realization(struct api_ctx *ctx, uint64_t revision,
                    struct api_reply *r);

#endif
