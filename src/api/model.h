/* The object model: which objects exist, where they live, what their
 * fields are, and how they map onto store keys.
 *
 * Objects live at paths under /api/v1: hosts at /hosts/{id}, the
 * deployment's firewall settings at /settings/firewall (the only id),
 * projects at /projects/{id}, and inside a project segments, groups,
 * services, security policies and routers; ports live under their
 * segment, rules under their security policy and static routes under
 * their router (docs/routing.md).  Each object type has a schema (a
 * table of field descriptors) that model_validate() checks bodies against,
 * strictly: types, ranges, formats, lengths, duplicates, unknown fields and
 * the combinations a type's check hook forbids.
 *
 * Defaults are not written into objects: an optional field that is absent
 * has its documented default (a policy without "category" is an
 * "application" policy); the defaults are the MODEL_DEFAULT_* constants
 * below.  (Values the server allocates, a segment's VNI and a port's MAC,
 * are stored.)
 *
 * Store layout (the controller depends on it, so it is part of the
 * contract):
 *   o<depth><path>   an object, e.g. "o2/projects/default/segments/web";
 *                    the depth digit makes each collection one contiguous
 *                    key range.  Value: the object's JSON without the
 *                    derived fields (id, path, resource_type, _revision).
 *   r/<target>|<referrer>   "<referrer> references <target>" (paths):
 *                    every MF_REF field (group members, policy and rule
 *                    scopes, rule source/destination groups and
 *                    services), a port's attachment host, the segment
 *                    of a group's "segment" condition, and a segment's
 *                    router
 *   v/<vni, 8 digits>       VNI owned by a segment (value: its path)
 *   m/<segment>|<mac>       MAC used by a port on a segment
 *   i/<segment>|<ip>        IP (canonical text) used by a port on a segment:
 *                    its ip_addresses and its dynamic_addresses
 *   x/vni-next              VNI allocation cursor
 *   t/<token id>            API tokens,  a/<rev, 16 digits>  audit log
 * Paths in keys omit the "/api/v1" prefix. */
#ifndef WEFT_API_MODEL_H
#define WEFT_API_MODEL_H 1

#include <jansson.h>
#include <stdbool.h>

#include "api/api-error.h"
#include "api/validate.h"

#define MODEL_MAX_DEPTH  3   /* deepest objects: a port, a rule */
#define MODEL_KEY_MAX    512 /* longest key or path, with NUL */
#define MODEL_API_PREFIX "/api/v1"

enum model_kind {
    MODEL_PROJECT,
    MODEL_SEGMENT,
    MODEL_PORT,
    MODEL_GROUP,
    MODEL_HOST,
    MODEL_SERVICE,  /* /projects/{p}/services/{id} */
    MODEL_POLICY,   /* /projects/{p}/security-policies/{id} */
    MODEL_RULE,     /* .../security-policies/{pol}/rules/{id} */
    MODEL_SETTINGS, /* /settings/firewall */
    MODEL_ROUTER,   /* /projects/{p}/routers/{id} */
    MODEL_ROUTE,    /* .../routers/{r}/static-routes/{id} */
    MODEL_N_KINDS
};

/* Defaults of absent fields (see above). */
#define MODEL_DEFAULT_CATEGORY        "application" /* policy category */
#define MODEL_DEFAULT_SEQUENCE        0             /* policy, rule */
#define MODEL_DEFAULT_STATEFUL        true          /* policy */
#define MODEL_DEFAULT_DIRECTION       "in_out"      /* rule */
#define MODEL_DEFAULT_IP_PROTOCOL     "ipv4_ipv6"   /* rule */
#define MODEL_DEFAULT_LOGGED          false         /* rule */
#define MODEL_DEFAULT_DISABLED        false         /* rule */
#define MODEL_DEFAULT_ACTION          "allow"    /* settings default_action */
#define MODEL_DEFAULT_SPOOFGUARD_SEG  "disabled" /* segment spoofguard */
#define MODEL_DEFAULT_SPOOFGUARD_PORT "inherit"  /* port spoofguard */
#define MODEL_SETTINGS_ID             "firewall" /* the only settings id */
#define MODEL_DEFAULT_ADMIN_DISTANCE  1          /* static route, next hop */
#define MODEL_DEFAULT_LEASE_TIME      86400      /* subnet dhcp, seconds */
#define MODEL_DEFAULT_IPV6_MODE       "slaac"    /* subnet ipv6_address_mode */

/* Field kinds. */
enum mf_kind {
    MF_STRING, /* UTF-8 string, no control characters; max = chars */
    MF_INT,    /* integer in [min, max] */
    MF_ENUM,   /* one of 'values' */
    MF_IP,     /* IPv4 or IPv6 address */
    MF_CIDR,   /* address/prefix-length */
    MF_MAC,    /* unicast MAC address */
    MF_IFNAME, /* interface name */
    MF_ID,     /* object id (val_id()) */
    MF_REF,    /* API path of an object ("/api/v1/..."); 'values' (may
                * be NULL: any) lists the resource types it may name */
    MF_OBJECT, /* JSON object with fields 'sub' */
    MF_ARRAY,  /* JSON array of 'sub[0]', 'min' to 'max' items */
    MF_BOOL,   /* true or false */
    MF_ADDR,   /* IPv4/IPv6 address or network address/prefix-length */
    MF_PORTS,  /* transport port "N" or range "N-M", 1 <= N <= M <= 65535 */
};

#define MF_REQUIRED 0x1 /* must be present (full validation) */
#define MF_READONLY 0x2 /* set by the server; ignored on input */
#define MF_UNIQUE   0x4 /* array: no two equal items */
#define MF_NOINPUT                                                             \
    0x8 /* with MF_READONLY: a write may only send the
                         * current value back (a GET body round-trips);
                         * any other value is 400 READ_ONLY_FIELD */

struct model_field {
    const char *name;              /* JSON member name; NULL ends a list */
    enum mf_kind kind;             /* kind */
    unsigned flags;                /* MF_* flags */
    long long min, max;            /* range (INT), length (STRING), items */
    const char *const *values;     /* MF_ENUM: NULL-terminated names */
    const struct model_field *sub; /* OBJECT members / ARRAY element */
    const char *doc;               /* one-line description */
};

struct model_type {
    enum model_kind kind;             /* this type */
    const char *resource_type;        /* "Segment" */
    const char *collection;           /* path element, "segments" */
    const char *param;                /* OpenAPI path parameter name */
    int parent;                       /* parent kind, -1 = top level */
    int depth;                        /* 1 for top-level objects */
    const struct model_field *fields; /* schema, NULL-name terminated */
    const char *only_id;              /* the only valid id, NULL = any */
    /* Checks what the field table cannot express (combinations of
     * fields), after the table's checks passed; NULL if none.  'full' is
     * false for a partial (merge-patch) body. */
    enum api_err (*check)(json_t *obj, bool full, const char *prefix,
                          struct api_error *e);
};

/* A parsed API path. */
struct model_path {
    int depth;       /* levels, 0 for /api/v1 itself */
    bool collection; /* ends at a collection (no id at the last level) */
    const struct model_type *types[MODEL_MAX_DEPTH]; /* type per level */
    char ids[MODEL_MAX_DEPTH][VAL_ID_MAX + 1];       /* id per level */
};

const struct model_type *model_type(enum model_kind);
/* The child types of 'kind' (-1 = the root), in a static NULL-terminated
 * array. */
const struct model_type *const *model_children(int kind);

/* Parses 'path', the part of a URL path after "/api/v1" ("" for the root,
 * "/projects/default/segments" ...), never decoding anything: '%', empty
 * elements, "." and ".." are rejected, as are bad ids and unknown
 * collections.  Returns API_OK or INVALID_PATH / ROUTE_NOT_FOUND. */
enum api_err model_parse_path(const char *path, struct model_path *mp,
                              struct api_error *e);

/* The store key / API path of the object at levels [0, depth) of 'mp'. */
void model_key(const struct model_path *mp, int depth, char *buf);
void model_api_path(const struct model_path *mp, int depth, char *buf);
/* The key prefix of the collection at level depth-1 under the object at
 * levels [0, depth-1), i.e. of the objects a collection GET lists. */
void model_collection_prefix(const struct model_path *mp, char *buf);
/* Parses an object key back into a path.  False if 'key' is no object
 * key. */
bool model_key_parse(const char *key, struct model_path *mp);

/* Checks 'obj' against the schema of 'type'.  'full': required fields
 * must be present (PUT, or a merged PATCH); otherwise a partial body (a
 * merge patch, where null removes a field).  Also accepts the server
 * fields (id, path, resource_type, _revision, _create_time, _last_modified)
 * and ignores them, except that a present 'id' must equal 'id' and
 * '_revision' must be a non-negative integer.  Member names in 'skip'
 * (NULL-terminated, may be NULL) are ignored.  Returns API_OK or the first
 * error, with 'prefix' prepended to field names. */
enum api_err model_validate(const struct model_type *type, json_t *obj,
                            bool full, const char *id, const char *prefix,
                            const char *const *skip, struct api_error *e);

/* Removes the derived and read-only fields from 'obj' (before storing). */
void model_strip(const struct model_type *type, json_t *obj);

/* Adds the derived fields to a stored object. */
void model_decorate(const struct model_path *mp, json_t *obj, uint64_t rev);

/* True if 'name' is a server-managed member name. */
bool model_is_server_field(const char *name);

/* ---- Evaluation helpers ----
 *
 * Group membership and rule order are evaluated in one place, the
 * controller (src/controller/cfw.c: cfw_member(); its tests are in
 * test-cp); validation parses what it evaluates.  Semantics:
 * docs/mgmt-weftd.md, "Distributed firewall". */

/* A parsed value of a group condition with key "tag":
 *   "scope|tag"  a tag 'tag' with scope 'scope'
 *   "|tag", "tag"  a tag 'tag' without a scope (scope absent or "")
 *   "scope|"     any tag with scope 'scope'
 * The value is split at its first '|'. */
struct model_tag_cond {
    char scope[129]; /* "" = the tag has no scope */
    char tag[257];   /* "" = any tag in 'scope' */
};

/* Parses a tag condition value; false if it is malformed ("|", a scope
 * longer than 128 characters). */
bool model_tag_cond_parse(const char *value, struct model_tag_cond *c);

#endif
