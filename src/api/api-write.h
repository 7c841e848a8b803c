/* Writes: every write request becomes exactly one store transaction, so
 * it is atomic (a subtree PATCH of thousands of objects commits all or
 * nothing), serialized with every other write, durable before it is
 * acknowledged, and recorded in the audit log in the same transaction.
 *
 * Usage, on any thread: fill a 'struct api_write' (write_new()),
 * write_prepare() it (checks the body and the principal's rights to every
 * path the body touches, without touching the store), then write_submit()
 * it; 'done' runs on the store's committer thread once the outcome is
 * durable, with the reply in 'w->reply'; the callee then write_free()s. */
#ifndef WEFT_API_WRITE_H
#define WEFT_API_WRITE_H 1

#include "api/api.h"

enum write_kind {
    WRITE_PUT,          /* create or replace the object at 'mp' */
    WRITE_CREATE,       /* POST: create in the collection at 'mp' */
    WRITE_PATCH,        /* merge-patch the object or subtree at 'mp' */
    WRITE_DELETE,       /* delete the object at 'mp' */
    WRITE_TOKEN_CREATE, /* POST /tokens */
    WRITE_TOKEN_DELETE, /* DELETE /tokens/{id} */
};

struct api_write;
typedef void write_done_fn(struct api_write *w, void *aux);

struct api_write {
    struct api_ctx *ctx;      /* API state */
    enum write_kind kind;     /* what to do */
    struct model_path mp;     /* target */
    char token_id[17];        /* WRITE_TOKEN_DELETE target */
    json_t *body;             /* request body, owned, may be NULL */
    uint64_t if_match;        /* expected revision, 0 = unconditional */
    struct api_principal who; /* requester, owned */
    write_done_fn *done;      /* completion */
    void *done_aux;           /* its argument */

    /* Results. */
    struct api_reply reply; /* the reply, valid in 'done' */
    struct api_error err;   /* error set by the transaction */
    char secret[80];        /* new token secret (WRITE_TOKEN_CREATE) */
    size_t n_objects;       /* objects the body touches */
    json_t *deletes;        /* scratch: deletes of a subtree PATCH */
};

/* Returns a zeroed write for 'ctx' taking ownership of 'body' and 'who'. */
struct api_write *write_new(struct api_ctx *ctx, enum write_kind kind,
                            const struct model_path *mp, json_t *body,
                            struct api_principal *who);
void write_free(struct api_write *w);

/* Checks 'w' before submission; API_OK or an error in 'e'. */
enum api_err write_prepare(struct api_write *w, struct api_error *e);

/* Queues 'w'; 'done' is always called exactly once (also on failure). */
void write_submit(struct api_write *w, write_done_fn *done, void *aux);

#endif
