/* Parser and validator for weft-agent's JSON configuration (config.h).
 *
 * The file is decoded by jansson into a tree, then walked once, top-down,
 * filling a freshly allocated struct agent_config.  Every value is checked
 * where it is read, and the first problem found stops the walk: its message
 * names the value by JSON path ("segments[1].ports[0].mac"), which the
 * walker keeps in a small string that grows and shrinks as it descends.
 *
 * Uniqueness rules (names, VNIs, port ids, interface names across the file;
 * MACs and IPs within a segment) are checked with small open-addressing hash
 * sets whose keys point into the config being built: arrays are allocated at
 * their final size before their elements are parsed, so the pointers stay
 * valid.  Each set entry remembers where its key was first seen so that a
 * duplicate's message can point at both places.
 *
 * Nothing here trusts the input: sizes are bounded before anything is
 * allocated from them, strings are checked for length and embedded NULs, and
 * every error message is reduced to printable ASCII before it is returned. */
#include "agent/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/hash.h"
#include "lib/util.h"

/* Limits that keep a hostile or mistaken file from exhausting the agent. */
#define CFG_FILE_MAX     (16u << 20) /* bytes of JSON text */
#define CFG_SEGMENTS_MAX 4096        /* segments per file */
#define CFG_PORTS_MAX    65536       /* local ports, remotes, flood vteps */
#define CFG_IPS_MAX      16          /* addresses per port or remote */

#define CFG_VNI_MAX     16777215 /* 24 bits */
#define CFG_MTU_MIN     576
#define CFG_MTU_MAX     9216
#define CFG_PORT_ID_MAX 4294967295u

/* Where a key of a uniqueness set was first seen, compact enough to keep one
 * per port; cfg_loc_format() turns it back into a JSON path. */
enum cfg_loc_kind {
    LOC_SEG_NAME,    /* segments[seg].name */
    LOC_SEG_VNI,     /* segments[seg].vni */
    LOC_PORT_ID,     /* segments[seg].ports[item].id */
    LOC_PORT_IFNAME, /* segments[seg].ports[item].ifname */
    LOC_PORT_MAC,    /* segments[seg].ports[item].mac */
    LOC_PORT_IP,     /* segments[seg].ports[item].ips[sub] */
    LOC_REMOTE_ID,   /* segments[seg].remote[item].port_id */
    LOC_REMOTE_MAC,  /* segments[seg].remote[item].mac */
    LOC_REMOTE_IP,   /* segments[seg].remote[item].ips[sub] */
    LOC_REMOTE_VTEP, /* segments[seg].remote[item].vtep */
    LOC_FLOOD,       /* segments[seg].flood_vteps[item] */
};

struct cfg_loc {
    uint32_t seg;  /* index in "segments" */
    uint32_t item; /* index in "ports", "remote" or "flood_vteps" */
    uint32_t sub;  /* index in "ips" */
    enum cfg_loc_kind kind;
};

/* One key of a uniqueness set.  'key' points into the config being built. */
struct cfg_set_entry {
    const void *key;    /* NULL marks a free slot */
    uint32_t len;       /* bytes of key */
    uint32_t hash;      /* hash_bytes(key, len) */
    struct cfg_loc loc; /* first occurrence */
};

/* Open-addressing hash set with linear probing, at most half full. */
struct cfg_set {
    struct cfg_set_entry *slots; /* 'mask' + 1 slots, or NULL when empty */
    size_t mask;                 /* capacity - 1 (capacity is a power of 2) */
    size_t n;                    /* keys stored */
};

/* State of one parse. */
struct cfg_parser {
    char path[128];  /* JSON path of the value being examined */
    size_t path_len; /* strlen(path) */
    char *err;       /* caller's error buffer, may be NULL */
    size_t err_size; /* its size */
    bool failed;     /* an error has been reported */

    struct agent_config *cfg; /* being built */
    uint32_t seg_idx;         /* index of the segment being parsed */

    /* Keys unique in the whole file. */
    struct cfg_set seg_names; /* segment names */
    struct cfg_set vnis;      /* segment VNIs */
    struct cfg_set port_ids;  /* local port ids and remote port_ids */
    struct cfg_set ifnames;   /* local port interface names */

    /* Keys unique within one segment; emptied before each segment. */
    struct cfg_set macs;  /* local and remote MACs */
    struct cfg_set ips;   /* local and remote port addresses */
    struct cfg_set vteps; /* explicit flood_vteps, or derived ones */
};

/* ---------------------------------------------------------------------- */
/* Uniqueness sets. */

static void
cfg_set_destroy(struct cfg_set *set)
{
    free(set->slots);
    *set = (struct cfg_set){NULL, 0, 0};
}

static void
cfg_set_grow(struct cfg_set *set)
{
    size_t cap = set->slots ? (set->mask + 1) * 2 : 64;
    struct cfg_set_entry *slots = xcalloc(cap, sizeof *slots);

    for (size_t i = 0; set->slots && i <= set->mask; i++) {
        struct cfg_set_entry *e = &set->slots[i];
        if (e->key) {
            size_t j = e->hash & (cap - 1);
            while (slots[j].key) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = *e;
        }
    }
    free(set->slots);
    set->slots = slots;
    set->mask = cap - 1;
}

/* Adds 'key' (of 'len' bytes, which must stay valid while the set lives)
 * first seen at 'loc'.  Returns NULL if it was new, otherwise the location
 * of the earlier copy (and leaves the set unchanged). */
static const struct cfg_loc *
cfg_set_add(struct cfg_set *set, const void *key, uint32_t len,
            const struct cfg_loc *loc)
{
    uint32_t hash = hash_bytes(key, len, 0);
    size_t i;

    if (!set->slots || (set->n + 1) * 2 > set->mask + 1) {
        cfg_set_grow(set);
    }
    for (i = hash & set->mask; set->slots[i].key; i = (i + 1) & set->mask) {
        const struct cfg_set_entry *e = &set->slots[i];
        if (e->hash == hash && e->len == len && !memcmp(e->key, key, len)) {
            return &e->loc;
        }
    }
    set->slots[i] = (struct cfg_set_entry){key, len, hash, *loc};
    set->n++;
    return NULL;
}

static void
cfg_loc_format(const struct cfg_loc *loc, char *buf, size_t size)
{
    static const char *const fmts[] = {
        [LOC_SEG_NAME] = "segments[%" PRIu32 "].name",
        [LOC_SEG_VNI] = "segments[%" PRIu32 "].vni",
        [LOC_PORT_ID] = "segments[%" PRIu32 "].ports[%" PRIu32 "].id",
        [LOC_PORT_IFNAME] = "segments[%" PRIu32 "].ports[%" PRIu32 "].ifname",
        [LOC_PORT_MAC] = "segments[%" PRIu32 "].ports[%" PRIu32 "].mac",
        [LOC_PORT_IP] =
            "segments[%" PRIu32 "].ports[%" PRIu32 "].ips[%" PRIu32 "]",
        [LOC_REMOTE_ID] = "segments[%" PRIu32 "].remote[%" PRIu32 "].port_id",
        [LOC_REMOTE_MAC] = "segments[%" PRIu32 "].remote[%" PRIu32 "].mac",
        [LOC_REMOTE_IP] =
            "segments[%" PRIu32 "].remote[%" PRIu32 "].ips[%" PRIu32 "]",
        [LOC_REMOTE_VTEP] = "segments[%" PRIu32 "].remote[%" PRIu32 "].vtep",
        [LOC_FLOOD] = "segments[%" PRIu32 "].flood_vteps[%" PRIu32 "]",
    };
    snprintf(buf, size, fmts[loc->kind], loc->seg, loc->item, loc->sub);
}

/* ---------------------------------------------------------------------- */
/* Paths and errors. */

/* Appends ".name" (or "name" at the top level) to the path; returns the old
 * length for path_pop(). */
static size_t
path_push_field(struct cfg_parser *p, const char *name)
{
    size_t old = p->path_len;
    int n = snprintf(p->path + old, sizeof p->path - old, "%s%s",
                     old ? "." : "", name);
    p->path_len = MIN(old + (size_t)MAX(n, 0), sizeof p->path - 1);
    return old;
}

/* Appends "[idx]" to the path; returns the old length for path_pop(). */
static size_t
path_push_index(struct cfg_parser *p, size_t idx)
{
    size_t old = p->path_len;
    int n = snprintf(p->path + old, sizeof p->path - old, "[%zu]", idx);
    p->path_len = MIN(old + (size_t)MAX(n, 0), sizeof p->path - 1);
    return old;
}

static void
path_pop(struct cfg_parser *p, size_t old)
{
    p->path_len = old;
    p->path[old] = '\0';
}

/* Replaces every byte that is not printable ASCII, so that no message can
 * carry terminal escapes or invalid UTF-8 into a log line. */
static void
sanitize(char *s)
{
    for (; *s; s++) {
        if (*s < 0x20 || *s > 0x7e) {
            *s = '?';
        }
    }
}

/* Records the first error as "<path>: <reason>" and returns EINVAL. */
static int __attribute__((format(printf, 2, 3)))
cfg_error(struct cfg_parser *p, const char *fmt, ...)
{
    if (!p->failed && p->err && p->err_size) {
        int n = snprintf(p->err, p->err_size,
                         "%s: ", p->path_len ? p->path : "(top level)");
        if (n >= 0 && (size_t)n < p->err_size) {
            va_list args;
            va_start(args, fmt);
            vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, args);
            va_end(args);
        }
        sanitize(p->err);
    }
    p->failed = true;
    return EINVAL;
}

/* Writes 's' (of 'len' bytes) into 'buf' as a double-quoted string with
 * anything but printable ASCII escaped as \xNN, and cut short with "..." if
 * long: error messages quote what the operator wrote, but never all of a
 * megabyte-long string. */
static const char *
quote(const char *s, size_t len, char *buf, size_t size)
{
    size_t o = 0;

    if (size < 8) {
        return size ? (*buf = '\0', buf) : "";
    }
    buf[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 4 + 5 > size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static const char *
json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static int
type_error(struct cfg_parser *p, const json_t *v, const char *expected)
{
    return cfg_error(p, "expected %s, got %s", expected, json_type_name(v));
}

/* ---------------------------------------------------------------------- */
/* Values: each checks the JSON value 'v' found at the current path. */

static int
check_fields(struct cfg_parser *p, const json_t *obj,
             const char *const allowed[], size_t n_allowed)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj)) {
        return type_error(p, obj, "an object");
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n_allowed && !known; i++) {
            known = !strcmp(key, allowed[i]);
        }
        if (!known) {
            char q[64], list[256];
            size_t o = 0;

            for (size_t i = 0; i < n_allowed; i++) {
                int n = snprintf(list + o, sizeof list - o, "%s%s",
                                 i ? ", " : "", allowed[i]);
                o = MIN(o + (size_t)MAX(n, 0), sizeof list - 1);
            }
            return cfg_error(p, "unknown field %s (expected one of: %s)",
                             quote(key, strlen(key), q, sizeof q), list);
        }
    }
    return 0;
}

static int
value_uint(struct cfg_parser *p, const json_t *v, uint64_t min, uint64_t max,
           uint64_t *out)
{
    json_int_t x;

    if (!json_is_integer(v)) {
        return type_error(p, v, "an integer");
    }
    x = json_integer_value(v);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
        return cfg_error(p, "%lld is out of range (%" PRIu64 "..%" PRIu64 ")",
                         (long long)x, min, max);
    }
    *out = (uint64_t)x;
    return 0;
}

static int
value_bool(struct cfg_parser *p, const json_t *v, bool *out)
{
    if (!json_is_boolean(v)) {
        return type_error(p, v, "true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* Returns the string in 'v' with its length; it never holds a NUL (the
 * decoder rejects \u0000, and this checks again). */
static int
value_string(struct cfg_parser *p, const json_t *v, const char **s, size_t *len)
{
    if (!json_is_string(v)) {
        return type_error(p, v, "a string");
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    if (strlen(*s) != *len) {
        return cfg_error(p, "string contains a NUL byte");
    }
    return 0;
}

/* A name: 1..CFG_NAME_MAX-1 characters from [A-Za-z0-9_.-]. */
static int
value_name(struct cfg_parser *p, const json_t *v, char out[CFG_NAME_MAX])
{
    const char *s;
    size_t len;
    char q[64];

    if (value_string(p, v, &s, &len)) {
        return EINVAL;
    }
    if (len == 0 || len >= CFG_NAME_MAX) {
        return cfg_error(p, "name must be 1 to %d characters long: %s",
                         CFG_NAME_MAX - 1, quote(s, len, q, sizeof q));
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
            return cfg_error(p,
                             "name may only contain letters, digits, '_', "
                             "'.' and '-': %s",
                             quote(s, len, q, sizeof q));
        }
    }
    memcpy(out, s, len + 1);
    return 0;
}

/* A Linux interface name, checked as the kernel's dev_valid_name() does:
 * 1..15 bytes, not "." or "..", no '/', ':' or whitespace.  Control
 * characters are refused too: no operator means them, and they would end up
 * in logs. */
static int
value_ifname(struct cfg_parser *p, const json_t *v, char out[CFG_IFNAME_MAX])
{
    const char *s;
    size_t len;
    char q[64];

    if (value_string(p, v, &s, &len)) {
        return EINVAL;
    }
    if (len == 0 || len >= CFG_IFNAME_MAX) {
        return cfg_error(p, "interface name must be 1 to %d bytes long: %s",
                         CFG_IFNAME_MAX - 1, quote(s, len, q, sizeof q));
    }
    if (!strcmp(s, ".") || !strcmp(s, "..")) {
        return cfg_error(p, "not a valid interface name: %s",
                         quote(s, len, q, sizeof q));
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' || c == ':' || c <= 0x20 || c == 0x7f) {
            return cfg_error(p,
                             "interface name may not contain '/', ':', "
                             "whitespace or control characters: %s",
                             quote(s, len, q, sizeof q));
        }
    }
    memcpy(out, s, len + 1);
    return 0;
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A MAC address written as six pairs of hex digits separated by ':'.  All
 * MACs in the file are unicast and not zero: they are the addresses of
 * ports, and a group address in an L2 table would swallow flooded traffic. */
static int
value_mac(struct cfg_parser *p, const json_t *v, struct eth_addr *mac)
{
    const char *s;
    size_t len;
    char q[64];

    if (value_string(p, v, &s, &len)) {
        return EINVAL;
    }
    if (len != 17) {
        goto bad;
    }
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[i * 3]), lo = hexval(s[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':')) {
            goto bad;
        }
        mac->b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (mac->b[0] & 1) {
        return cfg_error(p, "not a unicast MAC address: %s",
                         quote(s, len, q, sizeof q));
    }
    if (!(mac->b[0] | mac->b[1] | mac->b[2] | mac->b[3] | mac->b[4] |
          mac->b[5])) {
        return cfg_error(p, "MAC address is all zeros");
    }
    return 0;

bad:
    return cfg_error(p, "not a MAC address: %s", quote(s, len, q, sizeof q));
}

/* True for the addresses that can never name one host: unspecified,
 * multicast and the IPv4 limited broadcast. */
static bool
ip_is_unicast(const struct cfg_ip *ip)
{
    static const uint8_t zero[16];
    uint32_t v4;

    if (cfg_ip_is_v4(ip, &v4)) {
        v4 = ntohl(v4);
        return v4 != 0 && (v4 >> 28) != 0xe && v4 != 0xffffffff;
    }
    return memcmp(ip->b, zero, 16) && ip->b[0] != 0xff;
}

/* An IPv4 or IPv6 address in the usual text form (no prefix length, no
 * zone); IPv4 is stored IPv4-mapped. */
static int
value_ip(struct cfg_parser *p, const json_t *v, struct cfg_ip *ip)
{
    const char *s;
    size_t len;
    char q[64];

    if (value_string(p, v, &s, &len)) {
        return EINVAL;
    }
    memset(ip, 0, sizeof *ip);
    if (inet_pton(AF_INET, s, &ip->b[12]) == 1) {
        ip->b[10] = ip->b[11] = 0xff;
    } else if (inet_pton(AF_INET6, s, ip->b) != 1) {
        return cfg_error(p, "not an IPv4 or IPv6 address: %s",
                         quote(s, len, q, sizeof q));
    }
    if (!ip_is_unicast(ip)) {
        return cfg_error(p, "not a unicast address: %s",
                         quote(s, len, q, sizeof q));
    }
    return 0;
}

/* An array of at most 'max' elements; returns its size in *n. */
static int
value_array(struct cfg_parser *p, const json_t *v, size_t max, const char *what,
            size_t *n)
{
    if (!json_is_array(v)) {
        return type_error(p, v, "an array");
    }
    *n = json_array_size(v);
    if (*n > max) {
        return cfg_error(p, "too many %s (%zu, at most %zu)", what, *n, max);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Fields: each looks up 'name' in the object 'obj' at the current path and
 * checks it with the matching value_*() function at the path extended by
 * the field name.  An absent optional field leaves *out untouched. */

static int
missing(struct cfg_parser *p, const char *name)
{
    size_t mark = path_push_field(p, name);
    int error = cfg_error(p, "missing required field");
    path_pop(p, mark);
    return error;
}

static int
field_uint(struct cfg_parser *p, const json_t *obj, const char *name,
           bool required, uint64_t min, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    size_t mark;
    int error;

    if (!v) {
        return required ? missing(p, name) : 0;
    }
    mark = path_push_field(p, name);
    error = value_uint(p, v, min, max, out);
    path_pop(p, mark);
    return error;
}

static int
field_bool(struct cfg_parser *p, const json_t *obj, const char *name, bool *out)
{
    const json_t *v = json_object_get(obj, name);
    size_t mark;
    int error;

    if (!v) {
        return 0;
    }
    mark = path_push_field(p, name);
    error = value_bool(p, v, out);
    path_pop(p, mark);
    return error;
}

/* ---------------------------------------------------------------------- */
/* The file, top-down. */

static int
parse_underlay(struct cfg_parser *p, const json_t *obj)
{
    static const char *const fields[] = {"local_ip", "geneve_port",
                                         "vxlan_port", "mtu"};
    struct agent_config *cfg = p->cfg;
    uint64_t geneve = GENEVE_PORT, vxlan = VXLAN_PORT, mtu = 1500;
    const json_t *v;
    size_t mark;
    int error;

    if (check_fields(p, obj, fields, ARRAY_SIZE(fields))) {
        return EINVAL;
    }
    v = json_object_get(obj, "local_ip");
    if (!v) {
        return missing(p, "local_ip");
    }
    mark = path_push_field(p, "local_ip");
    error = value_ip(p, v, &cfg->local_ip);
    path_pop(p, mark);
    if (error || field_uint(p, obj, "geneve_port", false, 1, 65535, &geneve) ||
        field_uint(p, obj, "vxlan_port", false, 1, 65535, &vxlan) ||
        field_uint(p, obj, "mtu", false, CFG_MTU_MIN, CFG_MTU_MAX, &mtu)) {
        return EINVAL;
    }
    if (geneve == vxlan) {
        mark = path_push_field(p, "vxlan_port");
        error = cfg_error(p, "%" PRIu64 " is also underlay.geneve_port", vxlan);
        path_pop(p, mark);
        return error;
    }
    cfg->geneve_port = (uint16_t)geneve;
    cfg->vxlan_port = (uint16_t)vxlan;
    cfg->mtu = (uint32_t)mtu;
    return 0;
}

static int
parse_options(struct cfg_parser *p, const json_t *obj)
{
    static const char *const fields[] = {"offloads", "busy_poll",
                                         "kernel_fastpath"};

    if (check_fields(p, obj, fields, ARRAY_SIZE(fields))) {
        return EINVAL;
    }
    return field_bool(p, obj, "offloads", &p->cfg->offloads) ||
                   field_bool(p, obj, "busy_poll", &p->cfg->busy_poll) ||
                   field_bool(p, obj, "kernel_fastpath",
                              &p->cfg->kernel_fastpath)
               ? EINVAL
               : 0;
}

/* Reports a duplicate of a key first seen at 'first'. */
static int
duplicate(struct cfg_parser *p, const char *what, const char *value,
          const struct cfg_loc *first)
{
    char where[96];

    cfg_loc_format(first, where, sizeof where);
    return cfg_error(p, "duplicate %s %s (also at %s)", what, value, where);
}

/* Checks a tunnel endpoint at the current path against underlay.local_ip:
 * it must be another host, reachable over the same address family. */
static int
check_vtep(struct cfg_parser *p, const struct cfg_ip *vtep)
{
    char buf[INET6_ADDRSTRLEN];

    if (!memcmp(vtep, &p->cfg->local_ip, sizeof *vtep)) {
        return cfg_error(p, "%s is this host's own underlay.local_ip",
                         cfg_ip_format(vtep, buf, sizeof buf));
    }
    if (cfg_ip_is_v4(vtep, NULL) != cfg_ip_is_v4(&p->cfg->local_ip, NULL)) {
        return cfg_error(p,
                         "%s is not of the same address family as "
                         "underlay.local_ip",
                         cfg_ip_format(vtep, buf, sizeof buf));
    }
    return 0;
}

/* Parses the optional "ips" of a port or remote into *ips / *n, checking
 * each address is unique within the segment.  'loc' says whose they are. */
static int
parse_ips(struct cfg_parser *p, const json_t *obj, struct cfg_loc loc,
          struct cfg_ip **ips, uint32_t *n_ips)
{
    const json_t *arr = json_object_get(obj, "ips");
    size_t mark, n;
    int error = 0;

    if (!arr) {
        return 0;
    }
    mark = path_push_field(p, "ips");
    if (value_array(p, arr, CFG_IPS_MAX, "addresses", &n)) {
        error = EINVAL;
    } else if (n) {
        *ips = xcalloc(n, sizeof **ips);
        *n_ips = (uint32_t)n;
    }
    for (size_t i = 0; !error && i < n; i++) {
        size_t mark2 = path_push_index(p, i);
        const struct cfg_loc *first;

        loc.sub = (uint32_t)i;
        error = value_ip(p, json_array_get(arr, i), &(*ips)[i]);
        if (!error &&
            (first = cfg_set_add(&p->ips, &(*ips)[i], 16, &loc)) != NULL) {
            char buf[INET6_ADDRSTRLEN];
            error =
                duplicate(p, "address",
                          cfg_ip_format(&(*ips)[i], buf, sizeof buf), first);
        }
        path_pop(p, mark2);
    }
    path_pop(p, mark);
    return error;
}

/* Adds the MAC at the current path to the segment's set. */
static int
unique_mac(struct cfg_parser *p, const struct eth_addr *mac,
           const struct cfg_loc *loc)
{
    const struct cfg_loc *first = cfg_set_add(&p->macs, mac, 6, loc);
    char buf[18];

    if (!first) {
        return 0;
    }
    snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac->b[0],
             mac->b[1], mac->b[2], mac->b[3], mac->b[4], mac->b[5]);
    return duplicate(p, "MAC", buf, first);
}

/* Adds the port id at the current path to the file's set. */
static int
unique_port_id(struct cfg_parser *p, const uint32_t *id,
               const struct cfg_loc *loc)
{
    const struct cfg_loc *first = cfg_set_add(&p->port_ids, id, 4, loc);
    char buf[16];

    if (!first) {
        return 0;
    }
    snprintf(buf, sizeof buf, "%" PRIu32, *id);
    return duplicate(p, "port id", buf, first);
}

static int
parse_port(struct cfg_parser *p, const json_t *obj, uint32_t idx,
           struct cfg_port *port)
{
    static const char *const fields[] = {"id", "name", "ifname", "mac", "ips"};
    struct cfg_loc loc = {p->seg_idx, idx, 0, LOC_PORT_ID};
    const struct cfg_loc *first;
    const json_t *v;
    uint64_t id;
    size_t mark;
    int error = 0;

    if (check_fields(p, obj, fields, ARRAY_SIZE(fields))) {
        return EINVAL;
    }

    if (field_uint(p, obj, "id", true, 1, CFG_PORT_ID_MAX, &id)) {
        return EINVAL;
    }
    port->id = (uint32_t)id;
    mark = path_push_field(p, "id");
    error = unique_port_id(p, &port->id, &loc);
    path_pop(p, mark);
    if (error) {
        return error;
    }

    if ((v = json_object_get(obj, "name")) != NULL) {
        mark = path_push_field(p, "name");
        error = value_name(p, v, port->name);
        path_pop(p, mark);
        if (error) {
            return error;
        }
    }

    if (!(v = json_object_get(obj, "ifname"))) {
        return missing(p, "ifname");
    }
    mark = path_push_field(p, "ifname");
    error = value_ifname(p, v, port->ifname);
    loc.kind = LOC_PORT_IFNAME;
    if (!error && (first = cfg_set_add(&p->ifnames, port->ifname,
                                       (uint32_t)strlen(port->ifname), &loc))) {
        char q[64];
        error = duplicate(
            p, "interface name",
            quote(port->ifname, strlen(port->ifname), q, sizeof q), first);
    }
    path_pop(p, mark);
    if (error) {
        return error;
    }

    if (!(v = json_object_get(obj, "mac"))) {
        return missing(p, "mac");
    }
    mark = path_push_field(p, "mac");
    loc.kind = LOC_PORT_MAC;
    error = value_mac(p, v, &port->mac) || unique_mac(p, &port->mac, &loc)
                ? EINVAL
                : 0;
    path_pop(p, mark);
    if (error) {
        return error;
    }

    loc.kind = LOC_PORT_IP;
    return parse_ips(p, obj, loc, &port->ips, &port->n_ips);
}

static int
parse_remote(struct cfg_parser *p, const json_t *obj, uint32_t idx,
             struct cfg_remote *r)
{
    static const char *const fields[] = {"mac", "ips", "vtep", "port_id"};
    struct cfg_loc loc = {p->seg_idx, idx, 0, LOC_REMOTE_MAC};
    const json_t *v;
    uint64_t id = 0;
    size_t mark;
    int error;

    if (check_fields(p, obj, fields, ARRAY_SIZE(fields))) {
        return EINVAL;
    }

    if (!(v = json_object_get(obj, "mac"))) {
        return missing(p, "mac");
    }
    mark = path_push_field(p, "mac");
    error =
        value_mac(p, v, &r->mac) || unique_mac(p, &r->mac, &loc) ? EINVAL : 0;
    path_pop(p, mark);
    if (error) {
        return error;
    }

    loc.kind = LOC_REMOTE_IP;
    if (parse_ips(p, obj, loc, &r->ips, &r->n_ips)) {
        return EINVAL;
    }

    if (!(v = json_object_get(obj, "vtep"))) {
        return missing(p, "vtep");
    }
    mark = path_push_field(p, "vtep");
    error = value_ip(p, v, &r->vtep) || check_vtep(p, &r->vtep) ? EINVAL : 0;
    path_pop(p, mark);
    if (error) {
        return error;
    }

    if (field_uint(p, obj, "port_id", false, 1, CFG_PORT_ID_MAX, &id)) {
        return EINVAL;
    }
    r->port_id = (uint32_t)id;
    if (r->port_id) {
        loc.kind = LOC_REMOTE_ID;
        mark = path_push_field(p, "port_id");
        error = unique_port_id(p, &r->port_id, &loc);
        path_pop(p, mark);
    }
    return error;
}

/* Parses the array field 'name' of segment 'obj' whose elements are objects
 * handled by 'parse_elem'; allocates *elems with room for all of them and
 * sets *n before parsing any, so a failure leaves a config that
 * agent_config_free() can release. */
static int
parse_objects(struct cfg_parser *p, const json_t *obj, const char *name,
              const char *what, size_t elem_size, void **elems, uint32_t *n,
              int (*parse_elem)(struct cfg_parser *, const json_t *, uint32_t,
                                void *))
{
    const json_t *arr = json_object_get(obj, name);
    size_t mark, count;
    int error = 0;

    if (!arr) {
        return 0;
    }
    mark = path_push_field(p, name);
    if (value_array(p, arr, CFG_PORTS_MAX, what, &count)) {
        error = EINVAL;
    } else if (count) {
        *elems = xcalloc(count, elem_size);
        *n = (uint32_t)count;
    }
    for (size_t i = 0; !error && i < count; i++) {
        size_t mark2 = path_push_index(p, i);
        error = parse_elem(p, json_array_get(arr, i), (uint32_t)i,
                           (char *)*elems + i * elem_size);
        path_pop(p, mark2);
    }
    path_pop(p, mark);
    return error;
}

static int
parse_port_elem(struct cfg_parser *p, const json_t *v, uint32_t idx, void *e)
{
    return parse_port(p, v, idx, e);
}

static int
parse_remote_elem(struct cfg_parser *p, const json_t *v, uint32_t idx, void *e)
{
    return parse_remote(p, v, idx, e);
}

/* Parses an explicit "flood_vteps" list, or derives one: every distinct
 * remote vtep, in order of first appearance. */
static int
parse_flood(struct cfg_parser *p, const json_t *obj, struct cfg_segment *seg)
{
    const json_t *arr = json_object_get(obj, "flood_vteps");
    size_t mark, n;
    int error = 0;

    if (!arr) {
        if (seg->n_remotes) {
            seg->flood_vteps =
                xcalloc(seg->n_remotes, sizeof *seg->flood_vteps);
        }
        for (uint32_t i = 0; i < seg->n_remotes; i++) {
            struct cfg_loc loc = {p->seg_idx, i, 0, LOC_REMOTE_VTEP};
            const struct cfg_ip *vtep = &seg->remotes[i].vtep;
            if (!cfg_set_add(&p->vteps, vtep, 16, &loc)) {
                seg->flood_vteps[seg->n_flood_vteps++] = *vtep;
            }
        }
        return 0;
    }

    mark = path_push_field(p, "flood_vteps");
    if (value_array(p, arr, CFG_PORTS_MAX, "flood vteps", &n)) {
        error = EINVAL;
    } else if (n) {
        seg->flood_vteps = xcalloc(n, sizeof *seg->flood_vteps);
        seg->n_flood_vteps = (uint32_t)n;
    }
    for (size_t i = 0; !error && i < n; i++) {
        struct cfg_loc loc = {p->seg_idx, (uint32_t)i, 0, LOC_FLOOD};
        struct cfg_ip *vtep = &seg->flood_vteps[i];
        size_t mark2 = path_push_index(p, i);
        const struct cfg_loc *first;

        error = value_ip(p, json_array_get(arr, i), vtep) || check_vtep(p, vtep)
                    ? EINVAL
                    : 0;
        if (!error && (first = cfg_set_add(&p->vteps, vtep, 16, &loc))) {
            char buf[INET6_ADDRSTRLEN];
            error = duplicate(p, "vtep", cfg_ip_format(vtep, buf, sizeof buf),
                              first);
        }
        path_pop(p, mark2);
    }
    path_pop(p, mark);
    return error;
}

static int
parse_segment(struct cfg_parser *p, const json_t *obj, uint32_t idx,
              struct cfg_segment *seg)
{
    static const char *const fields[] = {"name",  "vni",    "encap",
                                         "ports", "remote", "flood_vteps"};
    struct cfg_loc loc = {idx, 0, 0, LOC_SEG_NAME};
    const struct cfg_loc *first;
    const json_t *v;
    uint64_t vni;
    size_t mark;
    void *ports = NULL, *remotes = NULL;
    int error;

    p->seg_idx = idx;
    cfg_set_destroy(&p->macs);
    cfg_set_destroy(&p->ips);
    cfg_set_destroy(&p->vteps);

    if (check_fields(p, obj, fields, ARRAY_SIZE(fields))) {
        return EINVAL;
    }

    if (!(v = json_object_get(obj, "name"))) {
        return missing(p, "name");
    }
    mark = path_push_field(p, "name");
    error = value_name(p, v, seg->name);
    if (!error && (first = cfg_set_add(&p->seg_names, seg->name,
                                       (uint32_t)strlen(seg->name), &loc))) {
        char q[80];
        error =
            duplicate(p, "segment name",
                      quote(seg->name, strlen(seg->name), q, sizeof q), first);
    }
    path_pop(p, mark);
    if (error) {
        return error;
    }

    if (field_uint(p, obj, "vni", true, 1, CFG_VNI_MAX, &vni)) {
        return EINVAL;
    }
    seg->vni = (uint32_t)vni;
    seg->router = CFG_NO_ROUTER;
    loc.kind = LOC_SEG_VNI;
    if ((first = cfg_set_add(&p->vnis, &seg->vni, 4, &loc)) != NULL) {
        char buf[16];
        snprintf(buf, sizeof buf, "%" PRIu32, seg->vni);
        mark = path_push_field(p, "vni");
        error = duplicate(p, "VNI", buf, first);
        path_pop(p, mark);
        return error;
    }

    seg->encap = CFG_ENCAP_GENEVE;
    if ((v = json_object_get(obj, "encap")) != NULL) {
        const char *s;
        size_t len;

        mark = path_push_field(p, "encap");
        error = value_string(p, v, &s, &len);
        if (!error && !strcmp(s, "vxlan")) {
            seg->encap = CFG_ENCAP_VXLAN;
        } else if (!error && strcmp(s, "geneve")) {
            char q[64];
            error = cfg_error(p, "expected \"geneve\" or \"vxlan\", got %s",
                              quote(s, len, q, sizeof q));
        }
        path_pop(p, mark);
        if (error) {
            return error;
        }
    }

    /* Through void * variables: no struct pointer is written as a void *. */
    error = parse_objects(p, obj, "ports", "ports", sizeof *seg->ports, &ports,
                          &seg->n_ports, parse_port_elem);
    seg->ports = ports;
    if (!error) {
        error = parse_objects(p, obj, "remote", "remote ports",
                              sizeof *seg->remotes, &remotes, &seg->n_remotes,
                              parse_remote_elem);
        seg->remotes = remotes;
    }
    if (error) {
        return error;
    }
    return parse_flood(p, obj, seg);
}

static int
parse_root(struct cfg_parser *p, const json_t *root)
{
    static const char *const fields[] = {"underlay", "options", "segments"};
    struct agent_config *cfg = p->cfg;
    const json_t *v;
    size_t mark, n;
    int error = 0;

    if (check_fields(p, root, fields, ARRAY_SIZE(fields))) {
        return EINVAL;
    }

    if (!(v = json_object_get(root, "underlay"))) {
        return missing(p, "underlay");
    }
    mark = path_push_field(p, "underlay");
    error = parse_underlay(p, v);
    path_pop(p, mark);
    if (error) {
        return error;
    }

    cfg->offloads = true;
    cfg->busy_poll = false;
    cfg->kernel_fastpath = AGENT_KERNEL_FASTPATH_DEFAULT;
    if ((v = json_object_get(root, "options")) != NULL) {
        mark = path_push_field(p, "options");
        error = parse_options(p, v);
        path_pop(p, mark);
        if (error) {
            return error;
        }
    }

    if (!(v = json_object_get(root, "segments"))) {
        return 0;
    }
    mark = path_push_field(p, "segments");
    if (value_array(p, v, CFG_SEGMENTS_MAX, "segments", &n)) {
        error = EINVAL;
    } else if (n) {
        cfg->segments = xcalloc(n, sizeof *cfg->segments);
        cfg->n_segments = (uint32_t)n;
    }
    for (size_t i = 0; !error && i < n; i++) {
        size_t mark2 = path_push_index(p, i);
        error = parse_segment(p, json_array_get(v, i), (uint32_t)i,
                              &cfg->segments[i]);
        path_pop(p, mark2);
    }
    path_pop(p, mark);
    return error;
}

/* ---------------------------------------------------------------------- */
/* Public interface. */

int
agent_config_parse(const char *json, size_t len, struct agent_config **cfgp,
                   char *err, size_t err_size)
{
    struct cfg_parser p = {.err = err, .err_size = err_size};
    json_error_t jerr;
    json_t *root;
    int error;

    *cfgp = NULL;
    if (err && err_size) {
        err[0] = '\0';
    }
    if (len > CFG_FILE_MAX) {
        return cfg_error(&p,
                         "configuration is too large (%zu bytes, at most "
                         "%u)",
                         len, CFG_FILE_MAX);
    }

    /* Duplicate keys are refused: with them, which value wins would depend
     * on the decoder.  \u0000 stays refused (no JSON_ALLOW_NUL). */
    root = json_loadb(json ? json : "", json ? len : 0, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (!root) {
        if (err && err_size) {
            if (jerr.line > 0) {
                snprintf(err, err_size,
                         "JSON syntax error at line %d, column %d: %s",
                         jerr.line, jerr.column, jerr.text);
            } else {
                snprintf(err, err_size, "JSON syntax error: %s", jerr.text);
            }
            sanitize(err);
        }
        return EINVAL;
    }

    p.cfg = xcalloc(1, sizeof *p.cfg);
    error = parse_root(&p, root);
    json_decref(root);

    cfg_set_destroy(&p.seg_names);
    cfg_set_destroy(&p.vnis);
    cfg_set_destroy(&p.port_ids);
    cfg_set_destroy(&p.ifnames);
    cfg_set_destroy(&p.macs);
    cfg_set_destroy(&p.ips);
    cfg_set_destroy(&p.vteps);

    if (error) {
        agent_config_free(p.cfg);
        return EINVAL;
    }
    *cfgp = p.cfg;
    return 0;
}

int
agent_config_load(const char *path, struct agent_config **cfgp, char *err,
                  size_t err_size)
{
    size_t len = 0, cap = 64 * 1024;
    char *buf, msg[512];
    int fd, error = 0;

    *cfgp = NULL;
    if (!err) {
        err_size = 0; /* snprintf(NULL, 0, ...) writes nothing */
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = errno;
        snprintf(err, err_size, "%s: %s", path, strerror(error));
        return error;
    }

    /* Read at most one byte more than the limit, so that a larger file is
     * refused without reading all of it (and a FIFO works too). */
    buf = xmalloc(cap);
    for (;;) {
        ssize_t n;

        if (len == cap) {
            if (cap > CFG_FILE_MAX) {
                break;
            }
            cap = MIN(cap * 2, (size_t)CFG_FILE_MAX + 1);
            buf = xrealloc(buf, cap);
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0) {
            error = errno;
            break;
        } else if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);

    if (error) {
        snprintf(err, err_size, "%s: %s", path, strerror(error));
    } else if (len > CFG_FILE_MAX) {
        snprintf(err, err_size, "%s: file is too large (more than %u bytes)",
                 path, CFG_FILE_MAX);
        error = EINVAL;
    } else if (agent_config_parse(buf, len, cfgp, msg, sizeof msg)) {
        snprintf(err, err_size, "%s: %s", path, msg);
        error = EINVAL;
    }
    free(buf);
    return error;
}

void
agent_config_free(struct agent_config *cfg)
{
    if (!cfg) {
        return;
    }
    for (uint32_t i = 0; i < cfg->n_segments; i++) {
        struct cfg_segment *seg = &cfg->segments[i];

        for (uint32_t j = 0; j < seg->n_ports; j++) {
            free(seg->ports[j].ips);
        }
        for (uint32_t j = 0; j < seg->n_remotes; j++) {
            free(seg->remotes[j].ips);
        }
        free(seg->ports);
        free(seg->remotes);
        free(seg->flood_vteps);
        free(seg->gateways);
        free(seg->dhcp.dns);
        free(seg->dhcp.routes);
    }
    free(cfg->segments);
    for (uint32_t i = 0; i < cfg->n_routers; i++) {
        free(cfg->routers[i]);
    }
    free(cfg->routers);
    for (uint32_t i = 0; i < cfg->n_routes; i++) {
        free(cfg->routes[i].next_hops);
    }
    free(cfg->routes);
    free(cfg);
}

bool
cfg_ip_is_v4(const struct cfg_ip *ip, uint32_t *v4)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

    if (memcmp(ip->b, prefix, sizeof prefix)) {
        return false;
    }
    if (v4) {
        memcpy(v4, &ip->b[12], 4);
    }
    return true;
}

const char *
cfg_ip_format(const struct cfg_ip *ip, char *buf, size_t size)
{
    bool v4 = cfg_ip_is_v4(ip, NULL);

    if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? &ip->b[12] : ip->b, buf,
                   (socklen_t)MIN(size, (size_t)INT32_MAX)) &&
        size) {
        buf[0] = '\0';
    }
    return buf;
}
