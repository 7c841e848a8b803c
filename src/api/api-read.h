/* Reads: GET of single objects and of collections (with pagination and
 * filters), served from store snapshots on the calling thread. */
#ifndef WEFT_API_READ_H
#define WEFT_API_READ_H 1

#include "api/api.h"

#define READ_PAGE_DEFAULT 100
#define READ_PAGE_MAX     1000

/* GET of the object at 'mp' (not a collection). */
void read_object(struct api_ctx *ctx, const struct model_path *mp,
                 struct api_reply *r);

/* GET of the collection at 'mp'.  Query parameters:
 *   page_size=N (1..1000), cursor=<from the previous page>,
 *   tag=<scope>|<tag> (repeatable; all must match; "tag=x" matches tag x
 *   in any scope), and <field>=<value> for any schema field, dotted into
 *   objects (attachment.host=h1); an array field matches if any item does.
 * A cursor pins the snapshot revision, so pages are mutually consistent;
 * 410 COMPACTED if that revision is gone.  Lists of projects are filtered
 * to the principal's projects. */
void read_list(struct api_ctx *ctx, const struct model_path *mp,
               const struct api_principal *who, const struct api_query *q,
               struct api_reply *r);

#endif
