/* Framing and checking of control-protocol messages (wire.h). */
#include "proto/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

void
wire_buf_free(struct wire_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void
wire_buf_consume(struct wire_buf *b, size_t n)
{
    b->ofs += n;
    if (b->ofs == b->len) {
        b->ofs = b->len = 0;
    }
}

/* Makes room for 'n' more bytes at the end, compacting first. */
static uint8_t *
wire_buf_reserve(struct wire_buf *b, size_t n)
{
    if (b->ofs && b->cap - b->len < n) {
        memmove(b->data, b->data + b->ofs, b->len - b->ofs);
        b->len -= b->ofs;
        b->ofs = 0;
    }
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            cap *= 2;
        }
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void
wire_decoder_init(struct wire_decoder *d, size_t max_frame)
{
    memset(d, 0, sizeof *d);
    d->max_frame = max_frame;
    d->next_seq = 1;
}

void
wire_decoder_destroy(struct wire_decoder *d)
{
    wire_buf_free(&d->in);
}

void
wire_decoder_feed(struct wire_decoder *d, const void *data, size_t n)
{
    if (!n) {
        return;
    }
    memcpy(wire_buf_reserve(&d->in, n), data, n);
    d->in.len += n;
}

size_t
wire_decoder_buffered(const struct wire_decoder *d)
{
    return wire_buf_pending(&d->in);
}

static int __attribute__((format(printf, 4, 5)))
wire_fail(int error, char *err, size_t size, const char *fmt, ...)
{
    va_list args;

    if (size) {
        va_start(args, fmt);
        vsnprintf(err, size, fmt, args);
        va_end(args);
    }
    return error;
}

int
wire_decoder_next(struct wire_decoder *d, Weft__Envelope **envp, char *err,
                  size_t err_size)
{
    size_t have = wire_buf_pending(&d->in);
    const uint8_t *p = have ? d->in.data + d->in.ofs : NULL;
    Weft__Envelope *env;
    uint32_t len;
    int error;

    *envp = NULL;
    if (d->failed) {
        return wire_fail(EPROTO, err, err_size, "stream already refused");
    }
    if (have < WIRE_HDR_LEN) {
        return EAGAIN;
    }
    len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
          p[3];
    if (!len || len > d->max_frame) {
        d->failed = true;
        return wire_fail(EMSGSIZE, err, err_size,
                         "frame length %" PRIu32 " outside 1..%zu", len,
                         d->max_frame);
    }
    if (have - WIRE_HDR_LEN < len) {
        return EAGAIN;
    }
    env = weft__envelope__unpack(NULL, len, p + WIRE_HDR_LEN);
    wire_buf_consume(&d->in, WIRE_HDR_LEN + len);
    if (!env) {
        d->failed = true;
        return wire_fail(EBADMSG, err, err_size,
                         "frame of %" PRIu32 " bytes is not a valid envelope",
                         len);
    }
    if (env->seq != d->next_seq) {
        d->failed = true;
        error =
            wire_fail(EPROTO, err, err_size,
                      "frame out of order: seq %" PRIu64 ", expected %" PRIu64,
                      env->seq, d->next_seq);
        wire_free(env);
        return error;
    }
    error = wire_check(env, err, err_size);
    if (error) {
        d->failed = true;
        wire_free(env);
        return error;
    }
    d->next_seq++;
    *envp = env;
    return 0;
}

/* ---- Field checks. ---- */

struct wire_ctx {
    char *err;   /* message buffer */
    size_t size; /* its size */
};

#define CHECK_OR_FAIL(COND, ...)                                               \
    do {                                                                       \
        if (!(COND)) {                                                         \
            return wire_fail(EBADMSG, c->err, c->size, __VA_ARGS__);           \
        }                                                                      \
    } while (0)

/* Printable ASCII, 1..max characters. */
static bool
wire_printable(const char *s, size_t max)
{
    size_t n = 0;

    if (!s) {
        return false;
    }
    for (; s[n]; n++) {
        if (n >= max || s[n] < 0x20 || s[n] > 0x7e) {
            return false;
        }
    }
    return n > 0;
}

bool
wire_host_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > WIRE_HOST_ID_MAX || !strcmp(s, ".") || !strcmp(s, "..")) {
        return false;
    }
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-") == n;
}

static bool
wire_ifname_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > WIRE_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, "..")) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] > 0x7e || s[i] == '/' || s[i] == ':') {
            return false;
        }
    }
    return true;
}

static bool
wire_ip_ok(const ProtobufCBinaryData *b)
{
    static const uint8_t zero[16];

    if (b->len != 4 && b->len != 16) {
        return false;
    }
    if (!memcmp(b->data, zero, b->len)) {
        return false; /* unspecified */
    }
    if (b->len == 4) {
        return b->data[0] < 224 && memcmp(b->data, "\xff\xff\xff\xff", 4);
    }
    return b->data[0] != 0xff; /* not multicast */
}

static bool
wire_mac_ok(const ProtobufCBinaryData *b)
{
    static const uint8_t zero[6];
    return b->len == 6 && !(b->data[0] & 1) && memcmp(b->data, zero, 6);
}

static int
wire_check_ips(struct wire_ctx *c, const char *what, size_t i, size_t n,
               const ProtobufCBinaryData *ips)
{
    CHECK_OR_FAIL(n <= WIRE_IPS_MAX, "%s[%zu].ips: more than %d addresses",
                  what, i, WIRE_IPS_MAX);
    for (size_t k = 0; k < n; k++) {
        CHECK_OR_FAIL(wire_ip_ok(&ips[k]),
                      "%s[%zu].ips[%zu]: not a unicast IPv4/IPv6 address", what,
                      i, k);
    }
    return 0;
}

static int
wire_check_ids(struct wire_ctx *c, const char *what, size_t n, char *const *ids)
{
    CHECK_OR_FAIL(n <= WIRE_ITEMS_MAX, "%s: too many entries", what);
    for (size_t i = 0; i < n; i++) {
        CHECK_OR_FAIL(wire_printable(ids[i], WIRE_ID_MAX),
                      "%s[%zu]: id must be 1..%d printable characters", what, i,
                      WIRE_ID_MAX);
    }
    return 0;
}

static bool
wire_action_ok(Weft__FwAction a)
{
    return a == WEFT__FW_ACTION__ALLOW || a == WEFT__FW_ACTION__DROP ||
           a == WEFT__FW_ACTION__REJECT;
}

#define WIRE_RULE_REFS_MAX 1024 /* sets or services named by one rule */

static int
wire_check_rule(struct wire_ctx *c, size_t i, const Weft__FwRule *r)
{
    int error;

    CHECK_OR_FAIL(wire_printable(r->id, WIRE_ID_MAX), "rules[%zu].id: bad id",
                  i);
    CHECK_OR_FAIL(wire_printable(r->project, WIRE_ID_MAX),
                  "rules[%zu].project: bad id", i);
    CHECK_OR_FAIL(r->direction >= 1 && r->direction <= 3,
                  "rules[%zu].direction: must be 1..3", i);
    CHECK_OR_FAIL(r->family >= 1 && r->family <= 3,
                  "rules[%zu].family: must be 1..3", i);
    CHECK_OR_FAIL(wire_action_ok(r->action), "rules[%zu].action: unknown", i);
    CHECK_OR_FAIL(r->n_src_sets <= WIRE_RULE_REFS_MAX &&
                      r->n_dst_sets <= WIRE_RULE_REFS_MAX &&
                      r->n_services <= WIRE_RULE_REFS_MAX &&
                      r->n_applied_to <= WIRE_RULE_REFS_MAX &&
                      r->n_rule_applied_to <= WIRE_RULE_REFS_MAX,
                  "rules[%zu]: too many references", i);
    for (size_t j = 0; j < r->n_services; j++) {
        const Weft__FwService *s = r->services[j];
        CHECK_OR_FAIL(s->proto <= 256 && s->lo <= s->hi && s->hi <= 0xffff,
                      "rules[%zu].services[%zu]: bad service", i, j);
    }
    if ((error = wire_check_ids(c, "rules[].src_sets", r->n_src_sets,
                                r->src_sets)) ||
        (error = wire_check_ids(c, "rules[].dst_sets", r->n_dst_sets,
                                r->dst_sets)) ||
        (error = wire_check_ids(c, "rules[].applied_to", r->n_applied_to,
                                r->applied_to)) ||
        (error = wire_check_ids(c, "rules[].rule_applied_to",
                                r->n_rule_applied_to, r->rule_applied_to))) {
        return error;
    }
    return 0;
}

static bool
wire_prefix_ok(const Weft__Prefix *p)
{
    return p && ((p->addr.len == 4 && p->plen <= 32) ||
                 (p->addr.len == 16 && p->plen <= 128));
}

static int
wire_check_segment(struct wire_ctx *c, size_t i, const Weft__Segment *s)
{
    int error;

    CHECK_OR_FAIL(wire_printable(s->id, WIRE_ID_MAX),
                  "segments[%zu].id: bad id", i);
    CHECK_OR_FAIL(s->vni >= 1 && s->vni <= 16777215,
                  "segments[%zu].vni: outside 1..16777215", i);
    CHECK_OR_FAIL(s->encap == WEFT__ENCAP__GENEVE ||
                      s->encap == WEFT__ENCAP__VXLAN,
                  "segments[%zu].encap: unknown", i);
    if (!s->router[0]) {
        return 0;
    }
    CHECK_OR_FAIL(wire_printable(s->router, WIRE_ID_MAX),
                  "segments[%zu].router: bad id", i);
    CHECK_OR_FAIL(wire_mac_ok(&s->router_mac),
                  "segments[%zu].router_mac: not unicast", i);
    CHECK_OR_FAIL(s->n_gateways <= 64, "segments[%zu].gateways: too many", i);
    for (size_t j = 0; j < s->n_gateways; j++) {
        CHECK_OR_FAIL(wire_prefix_ok(s->gateways[j]) &&
                          wire_ip_ok(&s->gateways[j]->addr),
                      "segments[%zu].gateways[%zu]: bad prefix", i, j);
    }
    if (s->dhcp) {
        const Weft__DhcpOptions *d = s->dhcp;
        CHECK_OR_FAIL(d->n_dns <= 16 && d->n_routes <= 64 &&
                          strlen(d->domain) < 256,
                      "segments[%zu].dhcp: too many entries", i);
        CHECK_OR_FAIL(!d->enabled || d->lease_time >= 60,
                      "segments[%zu].dhcp.lease_time: below 60", i);
        if ((error = wire_check_ips(c, "segments[].dhcp.dns", i, d->n_dns,
                                    d->dns))) {
            return error;
        }
        for (size_t j = 0; j < d->n_routes; j++) {
            const Weft__DhcpRoute *r = d->routes[j];
            CHECK_OR_FAIL(wire_prefix_ok(r->dst) && r->dst->addr.len == 4 &&
                              r->gateway.len == 4,
                          "segments[%zu].dhcp.routes[%zu]: bad route", i, j);
        }
    }
    return 0;
}

static int
wire_check_route(struct wire_ctx *c, size_t i, const Weft__Route *r)
{
    CHECK_OR_FAIL(wire_printable(r->id, WIRE_ID_MAX), "routes[%zu].id: bad id",
                  i);
    CHECK_OR_FAIL(wire_printable(r->router, WIRE_ID_MAX),
                  "routes[%zu].router: bad id", i);
    CHECK_OR_FAIL(wire_prefix_ok(r->prefix), "routes[%zu].prefix: bad prefix",
                  i);
    CHECK_OR_FAIL(r->discard_distance <= 255,
                  "routes[%zu].discard_distance: above 255", i);
    CHECK_OR_FAIL(r->n_next_hops <= 64, "routes[%zu].next_hops: too many", i);
    for (size_t j = 0; j < r->n_next_hops; j++) {
        const Weft__NextHop *nh = r->next_hops[j];
        CHECK_OR_FAIL(nh->distance >= 1 && nh->distance <= 255,
                      "routes[%zu].next_hops[%zu].distance: outside 1..255", i,
                      j);
        CHECK_OR_FAIL(nh->addr.len == r->prefix->addr.len &&
                          wire_ip_ok(&nh->addr),
                      "routes[%zu].next_hops[%zu]: not a unicast address of "
                      "the prefix's family",
                      i, j);
    }
    return 0;
}

static int
wire_check_update(struct wire_ctx *c, const Weft__Update *u)
{
    int error;

    CHECK_OR_FAIL(u->revision > 0, "update.revision: must be positive");
    CHECK_OR_FAIL(u->prev_revision < u->revision,
                  "update.prev_revision: must be below revision");
    if (u->full) {
        CHECK_OR_FAIL(!u->prev_revision && !u->n_del_segments &&
                          !u->n_del_ports && !u->n_del_remotes &&
                          !u->n_del_floods && !u->n_del_addr_members &&
                          !u->n_del_rules && !u->n_del_routes,
                      "update: a snapshot has no prev_revision or deletes");
        CHECK_OR_FAIL(u->host, "update.host: required in a snapshot");
    }
    if (u->host) {
        CHECK_OR_FAIL(wire_ip_ok(&u->host->local_ip),
                      "update.host.local_ip: not a unicast address");
        CHECK_OR_FAIL(wire_action_ok(u->host->fw_default),
                      "update.host.fw_default: unknown action");
    }
    CHECK_OR_FAIL(
        u->n_segments <= WIRE_ITEMS_MAX && u->n_ports <= WIRE_ITEMS_MAX &&
            u->n_remotes <= WIRE_ITEMS_MAX && u->n_floods <= WIRE_ITEMS_MAX &&
            u->n_addr_members <= WIRE_ITEMS_MAX &&
            u->n_rules <= WIRE_ITEMS_MAX && u->n_routes <= WIRE_ITEMS_MAX,
        "update: too many entries");
    for (size_t i = 0; i < u->n_segments; i++) {
        if ((error = wire_check_segment(c, i, u->segments[i]))) {
            return error;
        }
    }
    for (size_t i = 0; i < u->n_routes; i++) {
        if ((error = wire_check_route(c, i, u->routes[i]))) {
            return error;
        }
    }
    for (size_t i = 0; i < u->n_ports; i++) {
        const Weft__LocalPort *p = u->ports[i];
        CHECK_OR_FAIL(wire_printable(p->id, WIRE_ID_MAX),
                      "ports[%zu].id: bad id", i);
        CHECK_OR_FAIL(wire_printable(p->segment, WIRE_ID_MAX),
                      "ports[%zu].segment: bad id", i);
        CHECK_OR_FAIL(p->lport, "ports[%zu].lport: must be non-zero", i);
        CHECK_OR_FAIL(wire_mac_ok(&p->mac), "ports[%zu].mac: not unicast", i);
        CHECK_OR_FAIL(wire_ifname_ok(p->ifname),
                      "ports[%zu].ifname: not an interface name", i);
        if ((error = wire_check_ips(c, "ports", i, p->n_ips, p->ips)) ||
            (error = wire_check_ids(c, "ports[].port_sets", p->n_port_sets,
                                    p->port_sets))) {
            return error;
        }
    }
    for (size_t i = 0; i < u->n_remotes; i++) {
        const Weft__RemoteBinding *r = u->remotes[i];
        CHECK_OR_FAIL(wire_printable(r->id, WIRE_ID_MAX),
                      "remotes[%zu].id: bad id", i);
        CHECK_OR_FAIL(wire_printable(r->segment, WIRE_ID_MAX),
                      "remotes[%zu].segment: bad id", i);
        CHECK_OR_FAIL(wire_mac_ok(&r->mac), "remotes[%zu].mac: not unicast", i);
        CHECK_OR_FAIL(wire_ip_ok(&r->vtep),
                      "remotes[%zu].vtep: not a unicast address", i);
        if ((error = wire_check_ips(c, "remotes", i, r->n_ips, r->ips))) {
            return error;
        }
    }
    for (size_t i = 0; i < u->n_floods; i++) {
        const Weft__FloodVtep *f = u->floods[i];
        CHECK_OR_FAIL(wire_printable(f->id, WIRE_ID_MAX),
                      "floods[%zu].id: bad id", i);
        CHECK_OR_FAIL(wire_printable(f->segment, WIRE_ID_MAX),
                      "floods[%zu].segment: bad id", i);
        CHECK_OR_FAIL(wire_ip_ok(&f->vtep),
                      "floods[%zu].vtep: not a unicast address", i);
    }
    for (size_t i = 0; i < u->n_addr_members; i++) {
        const Weft__AddrMember *a = u->addr_members[i];
        CHECK_OR_FAIL(wire_printable(a->id, WIRE_ID_MAX),
                      "addr_members[%zu].id: bad id", i);
        CHECK_OR_FAIL(wire_printable(a->set, WIRE_ID_MAX),
                      "addr_members[%zu].set: bad id", i);
        CHECK_OR_FAIL((a->addr.len == 4 && a->plen <= 32) ||
                          (a->addr.len == 16 && a->plen <= 128),
                      "addr_members[%zu]: bad prefix", i);
    }
    for (size_t i = 0; i < u->n_rules; i++) {
        if ((error = wire_check_rule(c, i, u->rules[i]))) {
            return error;
        }
    }
    if ((error = wire_check_ids(c, "del_addr_members", u->n_del_addr_members,
                                u->del_addr_members)) ||
        (error =
             wire_check_ids(c, "del_rules", u->n_del_rules, u->del_rules)) ||
        (error =
             wire_check_ids(c, "del_routes", u->n_del_routes, u->del_routes))) {
        return error;
    }
    if ((error = wire_check_ids(c, "del_segments", u->n_del_segments,
                                u->del_segments)) ||
        (error =
             wire_check_ids(c, "del_ports", u->n_del_ports, u->del_ports)) ||
        (error = wire_check_ids(c, "del_remotes", u->n_del_remotes,
                                u->del_remotes)) ||
        (error =
             wire_check_ids(c, "del_floods", u->n_del_floods, u->del_floods))) {
        return error;
    }
    return 0;
}

int
wire_check(const Weft__Envelope *env, char *err, size_t err_size)
{
    struct wire_ctx ctx = {err, err_size}, *c = &ctx;

    switch (env->body_case) {
    case WEFT__ENVELOPE__BODY_HELLO:
        CHECK_OR_FAIL(env->hello->version == WIRE_VERSION,
                      "hello.version: %" PRIu32 " not supported (want %d)",
                      env->hello->version, WIRE_VERSION);
        CHECK_OR_FAIL(wire_host_id_ok(env->hello->host_id),
                      "hello.host_id: not a host id");
        return 0;
    case WEFT__ENVELOPE__BODY_ENROLL_REQUEST: {
        const Weft__EnrollRequest *r = env->enroll_request;
        CHECK_OR_FAIL(wire_printable(r->token, WIRE_TOKEN_MAX),
                      "enroll_request.token: 1..%d printable characters",
                      WIRE_TOKEN_MAX);
        CHECK_OR_FAIL(r->csr_der.len && r->csr_der.len <= WIRE_DER_MAX,
                      "enroll_request.csr_der: 1..%d bytes", WIRE_DER_MAX);
        return 0;
    }
    case WEFT__ENVELOPE__BODY_ENROLL_REPLY: {
        const Weft__EnrollReply *r = env->enroll_reply;
        CHECK_OR_FAIL(wire_host_id_ok(r->host_id),
                      "enroll_reply.host_id: not a host id");
        CHECK_OR_FAIL(r->cert_der.len && r->cert_der.len <= WIRE_DER_MAX &&
                          r->ca_der.len && r->ca_der.len <= WIRE_DER_MAX,
                      "enroll_reply: certificates must be 1..%d bytes",
                      WIRE_DER_MAX);
        return 0;
    }
    case WEFT__ENVELOPE__BODY_UPDATE:
        return wire_check_update(c, env->update);
    case WEFT__ENVELOPE__BODY_ACK: {
        const Weft__Ack *a = env->ack;
        CHECK_OR_FAIL(a->revision > 0, "ack.revision: must be positive");
        CHECK_OR_FAIL(a->n_failures <= WIRE_ITEMS_MAX,
                      "ack.failures: too many");
        for (size_t i = 0; i < a->n_failures; i++) {
            CHECK_OR_FAIL(wire_printable(a->failures[i]->object, WIRE_ID_MAX),
                          "ack.failures[%zu].object: bad id", i);
            CHECK_OR_FAIL(
                wire_printable(a->failures[i]->reason, WIRE_REASON_MAX),
                "ack.failures[%zu].reason: 1..%d printable characters", i,
                WIRE_REASON_MAX);
        }
        return 0;
    }
    case WEFT__ENVELOPE__BODY_RULE_STATS: {
        const Weft__RuleStats *r = env->rule_stats;
        CHECK_OR_FAIL(r->n_counters <= WIRE_ITEMS_MAX,
                      "rule_stats.counters: too many");
        for (size_t i = 0; i < r->n_counters; i++) {
            CHECK_OR_FAIL(wire_printable(r->counters[i]->rule, WIRE_ID_MAX),
                          "rule_stats.counters[%zu].rule: bad id", i);
        }
        return 0;
    }
    case WEFT__ENVELOPE__BODY_KEEPALIVE:
        return 0;
    case WEFT__ENVELOPE__BODY_ERROR:
        CHECK_OR_FAIL(wire_printable(env->error->reason, WIRE_REASON_MAX),
                      "error.reason: 1..%d printable characters",
                      WIRE_REASON_MAX);
        return 0;
    case WEFT__ENVELOPE__BODY__NOT_SET:
    default:
        return wire_fail(EBADMSG, err, err_size, "envelope without a body");
    }
}

size_t
wire_encode(struct wire_buf *out, const Weft__Envelope *env)
{
    size_t len = weft__envelope__get_packed_size(env);
    uint8_t *p = wire_buf_reserve(out, WIRE_HDR_LEN + len);

    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    weft__envelope__pack(env, p + WIRE_HDR_LEN);
    out->len += WIRE_HDR_LEN + len;
    return WIRE_HDR_LEN + len;
}

void
wire_free(Weft__Envelope *env)
{
    if (env) {
        weft__envelope__free_unpacked(env, NULL);
    }
}
