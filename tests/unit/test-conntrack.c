/* Unit tests of connection tracking (conntrack.h): TCP handshake and
 * teardown states, RST, strict-mode window checks, timeouts driven by an
 * explicit clock, UDP replies, ICMP echo and ICMP/ICMPv6 errors as RELATED,
 * IPv6, zones, the bounded table (refusal and reclaiming expired entries),
 * flush by rule, the dump API, a randomized run against a naive model
 * of which connections are live, the batched fast path against the
 * one-packet path, and what a flow cache entry standing in for a
 * connection relies on (struct ct_cache_ops, with a one-entry cache).
 * Frames are built here and go through
 * dp_parse() as in the datapath. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "datapath/conntrack.h"
#include "datapath/flowcache.h"
#include "datapath/parse.h"
#include "testlib.h"

static struct dp_pool *pool;
static struct dp_packet *pkt;

struct ep { /* an endpoint */
    int family;
    uint8_t ip[16];
    uint16_t port;
};

static struct ep
ep4(uint32_t ip, uint16_t port)
{
    struct ep e = {4, {0}, port};
    uint32_t n = htonl(ip);
    memcpy(e.ip, &n, 4);
    return e;
}

static struct ep
ep6(uint16_t last, uint16_t port)
{
    struct ep e = {6, {0x20, 0x01, 0x0d, 0xb8}, port};
    e.ip[14] = (uint8_t)(last >> 8);
    e.ip[15] = (uint8_t)last;
    return e;
}

static void
setup(void)
{
    if (!pool) {
        pool = dp_pool_create(8, 2048);
        pkt = dp_pool_get(pool);
    }
}

/* Writes Ethernet + IP(src -> dst, proto) + 'l4' into 'pkt' and parses. */
static void
frame(const struct ep *s, const struct ep *d, uint8_t proto, const void *l4,
      uint32_t l4_len)
{
    uint8_t *f = pkt->data;
    struct eth_hdr eth = {
        {{2, 0, 0, 0, 0, 2}},
        {{2, 0, 0, 0, 0, 1}},
        htons(s->family == 4 ? ETH_TYPE_IPV4 : ETH_TYPE_IPV6)};
    uint32_t l3_len;

    dp_packet_reset_meta(pkt);
    memcpy(f, &eth, 14);
    if (s->family == 4) {
        struct ipv4_hdr ip = {.ver_ihl = 0x45,
                              .tot_len = htons((uint16_t)(20 + l4_len)),
                              .ttl = 64,
                              .proto = proto};
        memcpy(&ip.src, s->ip, 4);
        memcpy(&ip.dst, d->ip, 4);
        memcpy(f + 14, &ip, 20);
        l3_len = 20;
    } else {
        struct ipv6_hdr ip = {.ver_tc_flow = htonl(6u << 28),
                              .payload_len = htons((uint16_t)l4_len),
                              .next = proto,
                              .hop_limit = 64};
        memcpy(&ip.src, s->ip, 16);
        memcpy(&ip.dst, d->ip, 16);
        memcpy(f + 14, &ip, 40);
        l3_len = 40;
    }
    memcpy(f + 14 + l3_len, l4, l4_len);
    pkt->len = 14 + l3_len + l4_len;
    if (dp_parse(pkt) != DP_DROP_NONE) {
        fprintf(stderr, "test frame did not parse\n");
        abort();
    }
}

static uint32_t
tcp_bytes(uint8_t *b, const struct ep *s, const struct ep *d, uint32_t seq,
          uint32_t ack, uint8_t flags, uint16_t win, uint32_t payload,
          int wscale)
{
    struct tcp_hdr t = {.src = htons(s->port),
                        .dst = htons(d->port),
                        .seq = htonl(seq),
                        .ack = htonl(ack),
                        .flags = flags,
                        .win = htons(win)};
    uint32_t hl = wscale >= 0 ? 24 : 20;
    t.off = (uint8_t)(hl / 4 << 4);
    memcpy(b, &t, 20);
    if (wscale >= 0) {
        b[20] = 1; /* NOP */
        b[21] = 3;
        b[22] = 3;
        b[23] = (uint8_t)wscale;
    }
    memset(b + hl, 'x', payload);
    return hl + payload;
}

static void
tcp(const struct ep *s, const struct ep *d, uint32_t seq, uint32_t ack,
    uint8_t flags, uint32_t payload)
{
    uint8_t b[1600];
    uint32_t n = tcp_bytes(b, s, d, seq, ack, flags, 65535, payload, -1);
    frame(s, d, IPPROTO_TCP_, b, n);
}

static void
udp(const struct ep *s, const struct ep *d, uint32_t payload)
{
    uint8_t b[1600] = {0};
    struct udp_hdr u = {htons(s->port), htons(d->port),
                        htons((uint16_t)(8 + payload)), 0};
    memcpy(b, &u, 8);
    frame(s, d, IPPROTO_UDP_, b, 8 + payload);
}

static void
echo(const struct ep *s, const struct ep *d, bool reply, uint16_t id)
{
    uint8_t b[16] = {0};
    uint8_t proto = s->family == 4 ? IPPROTO_ICMP_ : IPPROTO_ICMPV6_;
    b[0] = s->family == 4 ? (reply ? 0 : 8) : (reply ? 129 : 128);
    b[4] = (uint8_t)(id >> 8);
    b[5] = (uint8_t)id;
    frame(s, d, proto, b, sizeof b);
}

/* ICMP error from 'router' to 'to', quoting the current contents of 'pkt'
 * (its L3 header and 8 bytes of L4). */
static void
icmp_error(const struct ep *router, const struct ep *to, uint8_t type)
{
    uint8_t b[128] = {0}, quoted[64];
    uint32_t qlen = (uint32_t)(pkt->l4_ofs - pkt->l3_ofs) + 8;
    memcpy(quoted, pkt->data + pkt->l3_ofs, qlen);
    b[0] = type;
    memcpy(b + 8, quoted, qlen);
    frame(router, to, router->family == 4 ? IPPROTO_ICMP_ : IPPROTO_ICMPV6_, b,
          8 + qlen);
}

static struct ct_table *
table(uint32_t max, bool strict)
{
    struct ct_config cfg;
    ct_config_default(&cfg);
    cfg.max_entries = max;
    cfg.strict = strict;
    setup();
    return ct_create(&cfg);
}

static struct ct_pkt last_cp;
static struct ct_conn *last_conn;

/* Runs the current packet through 'ct' (zone 1, direction out). */
static enum ct_verdict
run(struct ct_table *ct, uint64_t now)
{
    return ct_process(ct, pkt, 1, true, now, &last_cp, &last_conn);
}

/* Runs and commits if new (rule 'rule'). */
static enum ct_verdict
run_commit(struct ct_table *ct, uint64_t now, uint32_t rule)
{
    enum ct_verdict v = run(ct, now);
    if (v == CT_NEW) {
        last_conn = ct_commit(ct, &last_cp, now, rule, 0);
    }
    return v;
}

static enum ct_state
state_of(struct ct_table *ct, struct ct_conn *c, uint64_t now)
{
    struct ct_conn_info info;
    ct_conn_get_info(ct, c, now, &info);
    return info.state;
}

static uint64_t
expires_in(struct ct_table *ct, struct ct_conn *c, uint64_t now)
{
    struct ct_conn_info info;
    ct_conn_get_info(ct, c, now, &info);
    return info.expires_in_ms;
}

/* A full handshake, data, and an orderly close, checking each state. */
static void
handshake_and_close(struct ct_table *ct, struct ep cl, struct ep sv)
{
    uint64_t t = 1000;
    struct ct_conn *c;

    tcp(&cl, &sv, 100, 0, TCP_SYN, 0);
    CHECK_EQ(run_commit(ct, t, 7), CT_NEW);
    c = last_conn;
    CHECK(c != NULL);
    CHECK_EQ(state_of(ct, c, t), CT_ST_SYN_SENT);
    CHECK_EQ(expires_in(ct, c, t), 30000);

    tcp(&sv, &cl, 5000, 101, TCP_SYN | TCP_ACK, 0);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    CHECK(last_conn == c);
    CHECK_EQ(state_of(ct, c, t), CT_ST_SYN_RECV);

    tcp(&cl, &sv, 101, 5001, TCP_ACK, 0);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, t), CT_ST_ESTABLISHED);
    CHECK_EQ(expires_in(ct, c, t), 43200000);

    tcp(&cl, &sv, 101, 5001, TCP_ACK | TCP_PSH, 100);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    tcp(&sv, &cl, 5001, 201, TCP_ACK | TCP_PSH, 1000);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);

    /* Client closes; server acknowledges, then closes too. */
    tcp(&cl, &sv, 201, 6001, TCP_ACK | TCP_FIN, 0);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, t), CT_ST_FIN_WAIT);
    tcp(&sv, &cl, 6001, 202, TCP_ACK, 0);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, t), CT_ST_CLOSE_WAIT);
    tcp(&sv, &cl, 6001, 202, TCP_ACK | TCP_PSH, 10); /* half-closed data */
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    tcp(&sv, &cl, 6011, 202, TCP_ACK | TCP_FIN, 0);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, t), CT_ST_LAST_ACK);
    tcp(&cl, &sv, 202, 6012, TCP_ACK, 0);
    CHECK_EQ(run(ct, ++t), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, t), CT_ST_TIME_WAIT);
    CHECK_EQ(expires_in(ct, c, t), 120000);

    struct ct_conn_info info;
    ct_conn_get_info(ct, c, t, &info);
    CHECK_EQ(info.packets[0], 5);
    CHECK_EQ(info.packets[1], 5);
    CHECK_EQ(info.rule_id, 7);
    CHECK_EQ(info.sport, cl.port);
    CHECK_EQ(info.dport, sv.port);
    CHECK(!memcmp(info.src, cl.ip, cl.family == 4 ? 4 : 16));

    /* TIME_WAIT runs out: the entry expires with the clock. */
    CHECK_EQ(ct_expire(ct, t + 119000, 100), 0);
    CHECK_EQ(ct_expire(ct, t + 120000, 100), 1);
    struct ct_stats st;
    ct_get_stats(ct, &st);
    CHECK_EQ(st.n_conns, 0);
}

TEST(tcp_handshake_and_close_ipv4)
{
    struct ct_table *ct = table(100, false);
    handshake_and_close(ct, ep4(0x0a000001, 40000), ep4(0x0a000002, 80));
    ct_destroy(ct);
}

TEST(tcp_handshake_and_close_strict)
{
    struct ct_table *ct = table(100, true);
    handshake_and_close(ct, ep4(0x0a000001, 40000), ep4(0x0a000002, 80));
    ct_destroy(ct);
}

TEST(tcp_handshake_and_close_ipv6)
{
    struct ct_table *ct = table(100, true);
    handshake_and_close(ct, ep6(1, 40000), ep6(2, 443));
    ct_destroy(ct);
}

TEST(tcp_rst_closes_and_syn_reopens)
{
    struct ct_table *ct = table(100, false);
    struct ep cl = ep4(0x0a000001, 1234), sv = ep4(0x0a000002, 22);
    tcp(&cl, &sv, 1, 0, TCP_SYN, 0);
    CHECK_EQ(run_commit(ct, 0, 1), CT_NEW);
    tcp(&sv, &cl, 9, 2, TCP_SYN | TCP_ACK, 0);
    CHECK_EQ(run(ct, 1), CT_ESTABLISHED);
    tcp(&cl, &sv, 2, 10, TCP_ACK, 0);
    CHECK_EQ(run(ct, 2), CT_ESTABLISHED);
    tcp(&sv, &cl, 10, 2, TCP_RST | TCP_ACK, 0);
    CHECK_EQ(run(ct, 3), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, last_conn, 3), CT_ST_CLOSED);
    CHECK_EQ(expires_in(ct, last_conn, 3), 10000);
    tcp(&cl, &sv, 2, 10, TCP_ACK, 5); /* data after the reset */
    CHECK_EQ(run(ct, 4), CT_INVALID);
    tcp(&cl, &sv, 1000, 0, TCP_SYN, 0); /* port reuse */
    CHECK_EQ(run(ct, 5), CT_NEW);
    struct ct_conn *c = ct_commit(ct, &last_cp, 5, 2, 0);
    CHECK(c != NULL);
    CHECK_EQ(state_of(ct, c, 5), CT_ST_SYN_SENT);
    CHECK_EQ(ct_conn_rule(c), 2);
    ct_destroy(ct);
}

TEST(tcp_connection_refused)
{
    struct ct_table *ct = table(100, true);
    struct ep cl = ep4(0x0a000001, 1234), sv = ep4(0x0a000002, 23);
    tcp(&cl, &sv, 500, 0, TCP_SYN, 0);
    CHECK_EQ(run_commit(ct, 0, 1), CT_NEW);
    tcp(&sv, &cl, 0, 999, TCP_RST | TCP_ACK, 0); /* wrong ack: blind RST */
    CHECK_EQ(run(ct, 1), CT_INVALID);
    CHECK_EQ(state_of(ct, last_conn, 1), CT_ST_SYN_SENT);
    tcp(&sv, &cl, 0, 501, TCP_RST | TCP_ACK, 0);
    CHECK_EQ(run(ct, 2), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, last_conn, 2), CT_ST_CLOSED);
    ct_destroy(ct);
}

TEST(tcp_strict_window_checks)
{
    struct ct_table *ct = table(100, true);
    struct ep cl = ep4(0x0a000001, 1234), sv = ep4(0x0a000002, 80);
    uint8_t b[64];

    /* Both SYNs carry window scale 2: windows count 4-byte units. */
    frame(&cl, &sv, IPPROTO_TCP_, b,
          tcp_bytes(b, &cl, &sv, 1000, 0, TCP_SYN, 1000, 0, 2));
    CHECK_EQ(run_commit(ct, 0, 1), CT_NEW);
    frame(&sv, &cl, IPPROTO_TCP_, b,
          tcp_bytes(b, &sv, &cl, 9000, 1001, TCP_SYN | TCP_ACK, 1000, 0, 2));
    CHECK_EQ(run(ct, 1), CT_ESTABLISHED);
    frame(&cl, &sv, IPPROTO_TCP_, b,
          tcp_bytes(b, &cl, &sv, 1001, 9001, TCP_ACK, 1000, 0, -1));
    CHECK_EQ(run(ct, 2), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, last_conn, 2), CT_ST_ESTABLISHED);

    /* Server's scaled window is 4000 bytes: 3000 fit. */
    frame(&cl, &sv, IPPROTO_TCP_, b,
          tcp_bytes(b, &cl, &sv, 1001, 9001, TCP_ACK, 1000, 0, -1));
    tcp(&cl, &sv, 1001, 9001, TCP_ACK, 1000);
    CHECK_EQ(run(ct, 3), CT_ESTABLISHED);
    /* Far beyond the window. */
    tcp(&cl, &sv, 1001 + 10000000, 9001, TCP_ACK, 10);
    CHECK_EQ(run(ct, 4), CT_INVALID);
    /* Far behind the window. */
    tcp(&cl, &sv, 1001 - 10000000, 9001, TCP_ACK, 10);
    CHECK_EQ(run(ct, 5), CT_INVALID);
    /* Acknowledging data the server never sent. */
    tcp(&cl, &sv, 2001, 9001 + 500000, TCP_ACK, 0);
    CHECK_EQ(run(ct, 6), CT_INVALID);
    /* A blind RST far off is refused and changes nothing. */
    tcp(&sv, &cl, 9001 + 50000000, 0, TCP_RST, 0);
    CHECK_EQ(run(ct, 7), CT_INVALID);
    CHECK_EQ(state_of(ct, last_conn, 7), CT_ST_ESTABLISHED);
    /* A RST at the expected sequence number closes. */
    tcp(&sv, &cl, 9001, 0, TCP_RST, 0);
    CHECK_EQ(run(ct, 8), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, last_conn, 8), CT_ST_CLOSED);

    struct ct_stats st;
    ct_get_stats(ct, &st);
    CHECK_EQ(st.invalid, 4);
    ct_destroy(ct);
}

TEST(tcp_only_syn_opens_in_strict_mode)
{
    struct ep cl = ep4(0x0a000001, 1234), sv = ep4(0x0a000002, 80);
    struct ct_table *strict = table(100, true);
    struct ct_table *loose = table(100, false);

    tcp(&cl, &sv, 5, 6, TCP_ACK, 10);
    CHECK_EQ(run(strict, 0), CT_INVALID);
    CHECK_EQ(run_commit(loose, 0, 1), CT_NEW); /* mid-stream pickup */
    CHECK_EQ(state_of(loose, last_conn, 0), CT_ST_ESTABLISHED);
    tcp(&sv, &cl, 6, 15, TCP_ACK, 10);
    CHECK_EQ(run(loose, 1), CT_ESTABLISHED);
    /* Neither opens on SYN+ACK, RST or FIN. */
    tcp(&cl, &sv, 5, 6, TCP_SYN | TCP_ACK, 0);
    cl.port++;
    tcp(&cl, &sv, 5, 6, TCP_SYN | TCP_ACK, 0);
    CHECK_EQ(run(loose, 2), CT_INVALID);
    tcp(&cl, &sv, 5, 6, TCP_RST, 0);
    CHECK_EQ(run(loose, 2), CT_INVALID);
    tcp(&cl, &sv, 5, 6, TCP_FIN, 0);
    CHECK_EQ(run(strict, 2), CT_INVALID);
    CHECK(ct_commit(strict, &last_cp, 2, 1, 0) == NULL);
    ct_destroy(strict);
    ct_destroy(loose);
}

TEST(tcp_timeouts_follow_state)
{
    struct ct_table *ct = table(100, false);
    struct ep cl = ep4(0x0a000001, 1234), sv = ep4(0x0a000002, 80);
    tcp(&cl, &sv, 1, 0, TCP_SYN, 0);
    CHECK_EQ(run_commit(ct, 1000, 1), CT_NEW);
    /* Unanswered SYN: gone after 30 s. */
    CHECK_EQ(ct_expire(ct, 30999, 10), 0);
    tcp(&cl, &sv, 1, 0, TCP_SYN, 0); /* retransmission refreshes */
    CHECK_EQ(run(ct, 20000), CT_ESTABLISHED);
    CHECK_EQ(ct_expire(ct, 31000, 10), 0);
    CHECK_EQ(ct_expire(ct, 49999, 10), 0);
    CHECK_EQ(ct_expire(ct, 50000, 10), 1);
    /* A lookup after expiry (no sweep) sees no connection either. */
    tcp(&cl, &sv, 1, 0, TCP_SYN, 0);
    CHECK_EQ(run_commit(ct, 60000, 1), CT_NEW);
    tcp(&cl, &sv, 1, 0, TCP_SYN, 0);
    CHECK_EQ(run(ct, 60000 + 30000), CT_NEW);
    ct_destroy(ct);
}

TEST(udp_reply_and_timeouts)
{
    struct ct_table *ct = table(100, false);
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);
    udp(&a, &b, 20);
    CHECK_EQ(run_commit(ct, 0, 3), CT_NEW);
    struct ct_conn *c = last_conn;
    CHECK_EQ(state_of(ct, c, 0), CT_ST_FIRST);
    CHECK_EQ(expires_in(ct, c, 0), 30000);
    udp(&a, &b, 20);
    CHECK_EQ(run(ct, 10), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, 10), CT_ST_FIRST);
    udp(&b, &a, 100);
    CHECK_EQ(run(ct, 20), CT_ESTABLISHED);
    CHECK(last_conn == c);
    CHECK_EQ(state_of(ct, c, 20), CT_ST_REPLIED);
    CHECK_EQ(expires_in(ct, c, 20), 120000);
    struct ct_conn_info info;
    ct_conn_get_info(ct, c, 20, &info);
    CHECK_EQ(info.packets[0], 2);
    CHECK_EQ(info.packets[1], 1);
    CHECK_EQ(info.bytes[1], 14 + 20 + 8 + 100);
    /* A different port pair is another connection. */
    b.port = 54;
    udp(&b, &a, 1);
    CHECK_EQ(run(ct, 30), CT_NEW);
    ct_destroy(ct);
}

/* ---- Standing in for a connection (struct ct_cache_ops). ----
 * A cache of one entry, as the flow cache keeps it: what the table told
 * it is counted, and forgetting clears the entry as the real one would. */
struct one_entry_cache {
    struct ct_cache_ref e;
    uint64_t tag;    /* 0: no entry */
    int forgets;     /* forget calls that found the entry */
    int forgets_all; /* forget calls */
    /* What the table counted to rules (ct_set_rule_counter()), by id. */
    uint64_t rule_packets[16], rule_bytes[16];
};

static void
one_rule_count(void *arg, uint32_t rule_id, uint64_t packets, uint64_t bytes)
{
    struct one_entry_cache *oc = arg;
    CHECK(rule_id < ARRAY_SIZE(oc->rule_packets));
    CHECK(packets > 0);
    oc->rule_packets[rule_id] += packets;
    oc->rule_bytes[rule_id] += bytes;
}

static void
one_forget(void *arg, uint64_t tag, uint32_t conn, uint64_t *packets,
           uint64_t *bytes)
{
    struct one_entry_cache *oc = arg;
    oc->forgets_all++;
    if (oc->tag == tag && (oc->e.conn & ~CT_REF_REPLY) == conn) {
        packets[oc->e.conn & CT_REF_REPLY] += oc->e.packets;
        bytes[oc->e.conn & CT_REF_REPLY] += oc->e.bytes;
        oc->e = CT_CACHE_NO_CONN; /* as the flow cache clears it */
        oc->tag = 0;
        oc->forgets++;
    }
}

static void
one_peek(const void *arg, uint64_t tag, uint32_t conn, uint64_t *packets,
         uint64_t *bytes)
{
    const struct one_entry_cache *oc = arg;
    if (oc->tag == tag && (oc->e.conn & ~CT_REF_REPLY) == conn) {
        packets[oc->e.conn & CT_REF_REPLY] += oc->e.packets;
        bytes[oc->e.conn & CT_REF_REPLY] += oc->e.bytes;
    }
}

static const struct ct_cache_ops one_ops = {one_forget, one_peek};

/* Makes the cache's entry (tag 'tag') stand in for the connection of the
 * last packet, which took the fast path, as dp_fc_insert() does; false
 * if the table refused the binding. */
static bool
bind_last(struct ct_table *ct, struct one_entry_cache *oc, uint64_t tag,
          uint64_t now)
{
    struct ct_ref ref;
    ct_ref_set(ct, last_conn, &last_cp, &ref);
    if (!ct_cache_bind(ct, &ref, tag, now)) {
        return false;
    }
    oc->e = (struct ct_cache_ref){ref.conn, (uint32_t)now, 0, 0};
    oc->tag = tag;
    return true;
}

/* ct_cached_pass() of the current packet on the cache's entry at 'now',
 * as the pipeline does it (begin, pass, end). */
static bool
cached_pass_at(struct ct_table *ct, struct one_entry_cache *oc, uint64_t now)
{
    struct ct_cached cc;
    ct_cached_begin(ct, now, &cc);
    bool ok = ct_cached_pass(&cc, pkt, &oc->e, oc->tag);
    ct_cached_end(&cc, ok);
    return ok;
}

static uint64_t
packets_of(struct ct_table *ct, struct ct_conn *c, int dir)
{
    struct ct_conn_info info;
    ct_conn_get_info(ct, c, 0, &info);
    return info.packets[dir];
}

/* Opens a UDP connection a -> b by rule 3 (at 0), replied at 1, and
 * runs a's next packet at 2, which takes the fast path (last_cp); returns
 * it. */
static struct ct_conn *
open_udp(struct ct_table *ct, const struct ep *a, const struct ep *b)
{
    udp(a, b, 20);
    CHECK_EQ(run_commit(ct, 0, 3), CT_NEW);
    struct ct_conn *c = last_conn;
    udp(b, a, 20);
    CHECK_EQ(run(ct, 1), CT_ESTABLISHED);
    udp(a, b, 20);
    CHECK_EQ(run(ct, 2), CT_ESTABLISHED);
    return c;
}

/* An entry counts its packets and hands them, with the expiry they earn,
 * to the connection when due (at once after binding, then every 'gran'
 * ms: a second for UDP's replied class), or when its byte count grows
 * large; a listing sees the counts it has not handed over yet. */
TEST(cache_entry_counts_syncs_and_refreshes)
{
    struct ct_table *ct = table(100, false);
    struct one_entry_cache oc = {0};
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);
    struct ct_conn_info info;
    const uint32_t len = 14 + 20 + 8 + 20;

    ct_set_cache(ct, &one_ops, &oc);
    ct_set_rule_counter(ct, one_rule_count, &oc);
    udp(&a, &b, 20);
    CHECK_EQ(run_commit(ct, 0, 3), CT_NEW);
    struct ct_conn *c = last_conn;
    udp(&b, &a, 100);
    CHECK_EQ(run(ct, 20), CT_ESTABLISHED); /* replied: on the fast path */
    udp(&a, &b, 20);
    CHECK_EQ(run(ct, 30), CT_ESTABLISHED);
    CHECK(bind_last(ct, &oc, 7, 30));
    CHECK_EQ(oc.e.conn & CT_REF_REPLY, 0);

    /* The first hit syncs (nothing yet) and counts itself. */
    CHECK(cached_pass_at(ct, &oc, 40));
    CHECK_EQ(oc.e.packets, 1);
    CHECK_EQ(oc.e.bytes, len);
    CHECK_EQ(oc.e.sync_at, 40 + 1000);
    ct_conn_get_info(ct, c, 40, &info);
    CHECK_EQ(info.packets[0], 3); /* two on the table, one on the entry */
    CHECK_EQ(info.bytes[0], 3 * len);
    CHECK_EQ(info.packets[1], 1);
    CHECK_EQ(info.expires_in_ms, 120000 + 1000);

    /* Not due: the entry alone. */
    CHECK(cached_pass_at(ct, &oc, 1039));
    CHECK_EQ(oc.e.packets, 2);
    CHECK_EQ(expires_in(ct, c, 1039), 121040 - 1039);
    /* Due: the two go over, the expiry moves on. */
    CHECK_EQ(oc.rule_packets[3], 0); /* rules get them with the table */
    CHECK(cached_pass_at(ct, &oc, 1040));
    CHECK_EQ(oc.e.packets, 1);
    CHECK_EQ(packets_of(ct, c, 0), 5);
    CHECK_EQ(expires_in(ct, c, 1040), 121000);
    CHECK_EQ(oc.rule_packets[3], 2); /* the connection's rule */
    CHECK_EQ(oc.rule_bytes[3], 2 * len);

    /* A large byte count syncs before the time. */
    oc.e.bytes = CT_CACHE_SYNC_BYTES;
    CHECK(cached_pass_at(ct, &oc, 1041));
    CHECK_EQ(oc.e.packets, 1);
    CHECK_EQ(oc.e.bytes, len);
    ct_conn_get_info(ct, c, 1041, &info);
    CHECK_EQ(info.bytes[0], 5 * (uint64_t)len + CT_CACHE_SYNC_BYTES);
    CHECK_EQ(info.packets[0], 6);

    /* The refresh moved the connection in its expiry list: the sweep at
     * its old expiry keeps it, the one at its new frees it, and freeing
     * has the cache forget the entry. */
    CHECK_EQ(ct_expire(ct, 121040, 100), 0);
    CHECK_EQ(oc.tag, 7);
    CHECK_EQ(oc.rule_packets[3], 3);
    CHECK_EQ(ct_expire(ct, 1041 + 121000, 100), 1);
    CHECK_EQ(oc.forgets, 1);
    CHECK_EQ(oc.tag, 0);
    CHECK_EQ(oc.rule_packets[3], 4); /* the last one, with the entry */
    /* (the byte count set above stood for the 1040 packet's) */
    CHECK_EQ(oc.rule_bytes[3], 3 * (uint64_t)len + CT_CACHE_SYNC_BYTES);
    CHECK(!cached_pass_at(ct, &oc, 122100)); /* a forgotten entry fails */
    CHECK(!cached_pass_at(ct, &oc, 0x80000000u + 5)); /* whatever the time */
    CHECK_EQ(oc.e.packets, 0);
    ct_destroy(ct);
}

/* Collecting hands an entry's counts to its connection and rule now,
 * once, and changes neither the expiry nor when the entry syncs next;
 * an entry of another tag or of no connection gives nothing. */
TEST(cache_entry_collect_hands_counts_over_once)
{
    struct ct_table *ct = table(100, false);
    struct one_entry_cache oc = {0};
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);
    const uint32_t len = 14 + 20 + 8 + 20;

    ct_set_cache(ct, &one_ops, &oc);
    ct_set_rule_counter(ct, one_rule_count, &oc);
    struct ct_conn *c = open_udp(ct, &a, &b); /* rule 3 */
    CHECK(bind_last(ct, &oc, 9, 2));
    CHECK(cached_pass_at(ct, &oc, 3)); /* synced: expires 3 + 121000 */
    CHECK(cached_pass_at(ct, &oc, 4));
    CHECK(cached_pass_at(ct, &oc, 5));
    CHECK_EQ(oc.e.packets, 3);
    CHECK_EQ(oc.rule_packets[3], 0);

    ct_cache_collect(ct, &oc.e, 8); /* not its entry */
    CHECK_EQ(oc.e.packets, 3);
    ct_cache_collect(ct, &oc.e, 9);
    CHECK_EQ(oc.e.packets, 0);
    CHECK_EQ(oc.e.bytes, 0);
    CHECK_EQ(oc.e.sync_at, 3 + 1000);
    CHECK_EQ(oc.rule_packets[3], 3);
    CHECK_EQ(oc.rule_bytes[3], 3 * len);
    CHECK_EQ(packets_of(ct, c, 0), 2 + 3);
    CHECK_EQ(expires_in(ct, c, 5), 3 + 121000 - 5);
    ct_cache_collect(ct, &oc.e, 9); /* nothing left */
    CHECK_EQ(oc.rule_packets[3], 3);
    CHECK_EQ(packets_of(ct, c, 0), 2 + 3);

    /* The next sync hands over only what came since. */
    CHECK(cached_pass_at(ct, &oc, 6));
    CHECK(cached_pass_at(ct, &oc, 1003));
    CHECK_EQ(oc.rule_packets[3], 4);
    CHECK_EQ(packets_of(ct, c, 0), 2 + 5); /* one still on the entry */
    CHECK_EQ(expires_in(ct, c, 1003), 121000);

    /* No connection: nothing, and the entry stays due. */
    struct ct_cache_ref none = CT_CACHE_NO_CONN;
    ct_cache_collect(ct, &none, 9);
    CHECK_EQ(none.bytes, CT_CACHE_SYNC_BYTES);
    CHECK_EQ(oc.rule_packets[3], 4);
    ct_destroy(ct);
    CHECK_EQ(oc.rule_packets[3], 5); /* the last one, as the table went */
}

/* An entry passes nothing for a connection that expired but was not
 * swept yet (the full way finds it gone), and the table refuses to bind
 * a reference to a use of an entry that is over. */
TEST(cache_entry_stops_at_expiry_and_reuse)
{
    struct ct_table *ct = table(100, false);
    struct one_entry_cache oc = {0};
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);
    struct ct_ref old;

    ct_set_cache(ct, &one_ops, &oc);
    struct ct_conn *c = open_udp(ct, &a, &b);
    ct_ref_set(ct, c, &last_cp, &old);
    CHECK(bind_last(ct, &oc, 9, 2));
    CHECK(cached_pass_at(ct, &oc, 3)); /* synced: expires 3 + 121000 */
    CHECK(cached_pass_at(ct, &oc, 4));
    CHECK(!cached_pass_at(ct, &oc, 3 + 121000));
    CHECK_EQ(oc.e.packets, 2); /* nothing changed */
    CHECK_EQ(packets_of(ct, c, 0), 2 + 2);

    /* Freed and reused by another connection: the old reference is
     * refused. */
    CHECK_EQ(ct_expire(ct, 3 + 121000, 100), 1);
    CHECK_EQ(oc.forgets, 1);
    udp(&b, &a, 20);
    CHECK_EQ(run_commit(ct, 130000, 4), CT_NEW);
    CHECK(last_conn == c); /* the same entry, another use */
    CHECK(!ct_cache_bind(ct, &old, 9, 130000));
    CHECK_EQ(oc.tag, 0);
    ct_destroy(ct);
}

/* While an entry stands in for a connection, the full way (here the
 * peer's packets) never moves the expiry a sync set back; a connection
 * the peer alone keeps alive for CT_CACHE_MAX_UNSYNCED_MS has the cache
 * forget a silent entry (its 32-bit sync time would soon compare
 * wrong); detaching the cache forgets its entries. */
TEST(cache_entry_expiry_with_the_peer_on_the_full_way)
{
    struct ct_table *ct = table(100, false);
    struct one_entry_cache oc = {0};
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);

    ct_set_cache(ct, &one_ops, &oc);
    struct ct_conn *c = open_udp(ct, &a, &b);
    CHECK(bind_last(ct, &oc, 5, 2));
    CHECK(cached_pass_at(ct, &oc, 1000)); /* synced: 1000 + 121000 */
    CHECK_EQ(expires_in(ct, c, 1000), 121000);
    udp(&b, &a, 20);
    CHECK_EQ(run(ct, 1001), CT_ESTABLISHED);
    CHECK_EQ(expires_in(ct, c, 1001), 120999); /* not 120000 */

    /* The peer alone, a packet a minute: the first of its packets that
     * finds the entry unsynced for 2^29 ms has the cache forget it. */
    uint64_t t = 1001;
    while (oc.tag && t < 2ull * CT_CACHE_MAX_UNSYNCED_MS) {
        t += 60000;
        CHECK_EQ(run(ct, t), CT_ESTABLISHED);
        ct_expire(ct, t, 100);
    }
    CHECK_EQ(oc.tag, 0);
    CHECK(t - 1000 >= CT_CACHE_MAX_UNSYNCED_MS);
    CHECK(t - 1000 < CT_CACHE_MAX_UNSYNCED_MS + 60000);
    CHECK_EQ(packets_of(ct, c, 0), 3); /* the entry's hit kept */

    /* Bound again, then detached: the entry goes, and the table works on
     * without a cache. */
    udp(&a, &b, 20);
    CHECK_EQ(run(ct, t), CT_ESTABLISHED);
    CHECK(bind_last(ct, &oc, 6, t));
    CHECK(cached_pass_at(ct, &oc, t + 1));
    ct_set_cache(ct, NULL, NULL);
    CHECK_EQ(oc.tag, 0);
    CHECK_EQ(packets_of(ct, c, 0), 5);
    CHECK_EQ(ct_flush_rule(ct, 3), 1);
    ct_destroy(ct);
}

/* A full-way refresh just after a sync keeps the connection's list
 * position at its own packet's expiry, not at the sync's later one, so
 * the lists stay sorted and a sweep frees every connection that is due
 * (a full table reclaims them). */
TEST(cache_entry_keeps_the_expiry_lists_sorted)
{
    struct ct_table *ct = table(100, false);
    struct one_entry_cache oc = {0};
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);
    struct ep a2 = ep4(0xc0a80001, 5354);

    ct_set_cache(ct, &one_ops, &oc);
    struct ct_conn *c = open_udp(ct, &a, &b);
    CHECK(bind_last(ct, &oc, 7, 2));
    struct ct_conn *d = open_udp(ct, &a2, &b);
    udp(&a, &b, 20);
    CHECK(cached_pass_at(ct, &oc, 1000)); /* sync: expires 122000 */
    udp(&b, &a, 20);
    CHECK_EQ(run(ct, 1001), CT_ESTABLISHED); /* the reply, full way */
    CHECK_EQ(expires_in(ct, c, 1001), 120999);
    udp(&a2, &b, 20);
    CHECK_EQ(run(ct, 1002), CT_ESTABLISHED); /* d: 121002 */
    CHECK_EQ(expires_in(ct, d, 121003), 0);
    CHECK_EQ(ct_expire(ct, 121003, 100), 1);  /* d, behind c's position */
    CHECK_EQ(expires_in(ct, c, 121003), 997); /* 122000 */
    CHECK_EQ(ct_expire(ct, 122000, 100), 1);
    CHECK_EQ(oc.tag, 0);
    ct_destroy(ct);
}

/* With custom timeouts a first reply may move a UDP connection to a
 * class with a shorter timeout than the one its entry's sync covered:
 * the entry goes, and the connection expires on the new timeout. */
TEST(cache_entry_goes_when_the_timeout_shortens)
{
    struct ct_config cfg;
    ct_config_default(&cfg);
    cfg.max_entries = 100;
    cfg.timeout_ms[CT_TO_UDP_FIRST] = 60000;
    cfg.timeout_ms[CT_TO_UDP_REPLIED] = 5000;
    setup();
    struct ct_table *ct = ct_create(&cfg);
    struct one_entry_cache oc = {0};
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);

    ct_set_cache(ct, &one_ops, &oc);
    udp(&a, &b, 20);
    CHECK_EQ(run_commit(ct, 0, 3), CT_NEW);
    struct ct_conn *c = last_conn;
    udp(&a, &b, 20);
    CHECK_EQ(run(ct, 1), CT_ESTABLISHED); /* FIRST: the opener is fast */
    CHECK(bind_last(ct, &oc, 8, 1));
    CHECK(cached_pass_at(ct, &oc, 2)); /* synced: 2 + 60000 + 1000 */
    udp(&b, &a, 20);
    CHECK_EQ(run(ct, 3), CT_ESTABLISHED); /* REPLIED: 5 s */
    CHECK_EQ(oc.tag, 0);
    CHECK_EQ(oc.forgets, 1);
    CHECK_EQ(expires_in(ct, c, 3), 5000);
    CHECK_EQ(packets_of(ct, c, 0), 3);
    ct_destroy(ct);
}

/* The real flow cache (dp_fc_ct_ops): an entry that an insert replaces,
 * also one without a connection of its own (flow_cache_all), hands its
 * counts to its connection; so does a listing before that (peek). */
TEST(flow_cache_entry_counts_survive_its_replacement)
{
    struct ct_table *ct = table(100, false);
    struct dp_fc *fc = dp_fc_create();
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);
    struct dp_fc_key k, k2;
    struct ct_ref ref;

    ct_set_cache(ct, &dp_fc_ct_ops, fc);
    struct ct_conn *c = open_udp(ct, &a, &b);
    ct_ref_set(ct, c, &last_cp, &ref);
    CHECK(dp_fc_key(pkt, 5, &k));
    uint32_t h = dp_fc_hash(fc, &k);
    CHECK(dp_fc_insert(fc, &k, h, 1, DP_FC_LOCAL, 7, ct, &ref, 2));
    struct dp_fc_val *v = dp_fc_lookup(fc, &k, h, 1);
    CHECK(v != NULL && v->ct.conn == ref.conn);
    for (int i = 0; i < 5; i++) {
        struct ct_cached cc;
        ct_cached_begin(ct, 3, &cc);
        CHECK(ct_cached_pass(&cc, pkt, &v->ct, dp_fc_tag(DP_FC_V4, h)));
        ct_cached_end(&cc, 1);
    }
    CHECK_EQ(v->ct.packets, 5);
    CHECK_EQ(packets_of(ct, c, 0), 7);

    /* Another key whose first slot is this entry's, under new tables
     * (this one is stale now), without a connection. */
    uint32_t h2 = 0;
    for (uint64_t x = 1; x < 1000000; x++) {
        k2 = k;
        k2.w[3] ^= x << 16;
        h2 = dp_fc_hash(fc, &k2);
        if (dp_fc_slot(fc, h2, 0) == dp_fc_slot(fc, h, 0)) {
            break;
        }
    }
    CHECK(dp_fc_slot(fc, h2, 0) == dp_fc_slot(fc, h, 0));
    CHECK(dp_fc_insert(fc, &k2, h2, 2, DP_FC_LOCAL, 1, ct, NULL, 4));
    CHECK(!dp_fc_lookup(fc, &k, h, 1));
    CHECK_EQ(packets_of(ct, c, 0), 7);
    ct_destroy(ct);
    dp_fc_destroy(fc);
}

/* Opens a TCP connection cl -> sv (handshake at t, t + 1, then 10 bytes
 * from the client at t + 2, which leaves it on the fast path) and
 * returns it; the client's next sequence number is 111, the server's
 * 5001. */
static struct ct_conn *
open_tcp(struct ct_table *ct, const struct ep *cl, const struct ep *sv,
         uint64_t t)
{
    tcp(cl, sv, 100, 0, TCP_SYN, 0);
    CHECK_EQ(run_commit(ct, t, 7), CT_NEW);
    struct ct_conn *c = last_conn;
    tcp(sv, cl, 5000, 101, TCP_SYN | TCP_ACK, 0);
    CHECK_EQ(run(ct, t + 1), CT_ESTABLISHED);
    tcp(cl, sv, 101, 5001, TCP_ACK, 10);
    CHECK_EQ(run(ct, t + 2), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, t + 2), CT_ST_ESTABLISHED);
    return c;
}

/* The entry never looks at the connection between syncs, so the table
 * must have the cache forget it whenever the connection changes what
 * the entry relies on: a FIN or RST (either way), another rule, another
 * entry for it; and keep it when the connection only gains a direction
 * (a first UDP reply).  Forgetting keeps the counts. */
TEST(cache_entry_is_forgotten_when_the_connection_changes)
{
    struct ct_table *ct = table(100, false);
    struct one_entry_cache oc = {0};
    struct ep cl = ep4(0x0a000001, 1234), sv = ep4(0x0a000002, 80);

    ct_set_cache(ct, &one_ops, &oc);
    ct_set_rule_counter(ct, one_rule_count, &oc);
    struct ct_conn *c = open_tcp(ct, &cl, &sv, 1);
    tcp(&sv, &cl, 5001, 111, TCP_ACK, 10);
    CHECK_EQ(run(ct, 5), CT_ESTABLISHED);
    CHECK(bind_last(ct, &oc, 11, 5)); /* the server's direction */
    CHECK_EQ(oc.e.conn & CT_REF_REPLY, CT_REF_REPLY);
    tcp(&sv, &cl, 5011, 111, TCP_ACK, 10);
    CHECK(cached_pass_at(ct, &oc, 6));
    CHECK(cached_pass_at(ct, &oc, 6));
    CHECK_EQ(packets_of(ct, c, 1), 4); /* SYN+ACK, ACK, two on the entry */

    /* The client's FIN takes the full way and ends the fast path: the
     * server's entry goes, its two packets counted. */
    tcp(&cl, &sv, 111, 5021, TCP_ACK | TCP_FIN, 0);
    CHECK_EQ(run(ct, 7), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, c, 7), CT_ST_FIN_WAIT);
    CHECK_EQ(oc.forgets, 1);
    CHECK_EQ(oc.tag, 0);
    CHECK_EQ(packets_of(ct, c, 1), 4);
    tcp(&sv, &cl, 5021, 112, TCP_ACK, 10);
    CHECK(!cached_pass_at(ct, &oc, 8));
    CHECK_EQ(run(ct, 8), CT_ESTABLISHED); /* the full way has it */
    CHECK_EQ(packets_of(ct, c, 1), 5);

    /* A RST from the server ends another connection's entry. */
    cl.port++;
    struct ct_conn *r = open_tcp(ct, &cl, &sv, 10);
    CHECK(bind_last(ct, &oc, 12, 12));
    tcp(&cl, &sv, 111, 5001, TCP_ACK, 10);
    CHECK(cached_pass_at(ct, &oc, 13));
    tcp(&sv, &cl, 5001, 111, TCP_RST | TCP_ACK, 0);
    CHECK_EQ(run(ct, 14), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, r, 14), CT_ST_CLOSED);
    CHECK_EQ(oc.forgets, 2);
    CHECK_EQ(packets_of(ct, r, 0), 3);

    /* Another rule (revalidation), and another entry for the same
     * connection, each forget the entry in place. */
    cl.port++;
    struct ct_conn *s = open_tcp(ct, &cl, &sv, 20);
    CHECK(bind_last(ct, &oc, 13, 22));
    uint64_t rule7 = oc.rule_packets[7];
    CHECK(cached_pass_at(ct, &oc, 23));
    ct_conn_set_rule(ct, s, 8, 1);
    CHECK_EQ(oc.forgets, 3);
    CHECK_EQ(oc.rule_packets[7], rule7 + 1); /* the rule that passed it */
    CHECK(!cached_pass_at(ct, &oc, 24));
    tcp(&cl, &sv, 121, 5001, TCP_ACK, 10);
    CHECK_EQ(run(ct, 25), CT_ESTABLISHED);
    CHECK(bind_last(ct, &oc, 14, 25));
    CHECK(cached_pass_at(ct, &oc, 26));
    struct one_entry_cache keep = oc; /* as if entry 14 were elsewhere */
    CHECK(bind_last(ct, &oc, 15, 27));
    CHECK_EQ(oc.forgets_all, keep.forgets_all + 1); /* 14 was forgotten */
    CHECK_EQ(packets_of(ct, s, 0), 5);
    CHECK_EQ(oc.rule_packets[8], 1); /* under the new rule */
    CHECK_EQ(oc.rule_packets[7], rule7 + 1);

    /* UDP: the opener's entry, made before any reply, survives the first
     * reply (the connection becomes fast both ways). */
    struct ep a = ep4(0xc0a80001, 5353), b = ep4(0xc0a80002, 53);
    udp(&a, &b, 20);
    CHECK_EQ(run_commit(ct, 30, 3), CT_NEW);
    struct ct_conn *u = last_conn;
    udp(&a, &b, 20);
    CHECK_EQ(run(ct, 31), CT_ESTABLISHED);
    CHECK(bind_last(ct, &oc, 16, 31)); /* (the one entry: 15 is gone) */
    int forgets = oc.forgets_all;
    udp(&b, &a, 30);
    CHECK_EQ(run(ct, 32), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, u, 32), CT_ST_REPLIED);
    CHECK_EQ(oc.forgets_all, forgets);
    udp(&a, &b, 20);
    CHECK(cached_pass_at(ct, &oc, 33));

    /* The table goes: its entries go first. */
    ct_destroy(ct);
    CHECK_EQ(oc.tag, 0);
}

TEST(icmp_echo_uses_identifier)
{
    struct ct_table *ct = table(100, false);
    struct ep a = ep4(0x0a000001, 0), b = ep4(0x0a000002, 0);
    echo(&b, &a, true, 77); /* unsolicited reply */
    CHECK_EQ(run(ct, 0), CT_INVALID);
    echo(&a, &b, false, 77);
    CHECK_EQ(run_commit(ct, 0, 5), CT_NEW);
    echo(&b, &a, true, 77);
    CHECK_EQ(run(ct, 1), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, last_conn, 1), CT_ST_REPLIED);
    CHECK_EQ(expires_in(ct, last_conn, 1), 10000);
    echo(&b, &a, true, 78);
    CHECK_EQ(run(ct, 2), CT_INVALID);

    struct ep a6 = ep6(1, 0), b6 = ep6(2, 0);
    echo(&a6, &b6, false, 9);
    CHECK_EQ(run_commit(ct, 3, 5), CT_NEW);
    echo(&b6, &a6, true, 9);
    CHECK_EQ(run(ct, 4), CT_ESTABLISHED);
    ct_destroy(ct);
}

TEST(icmp_errors_are_related)
{
    struct ct_table *ct = table(100, false);
    struct ep cl = ep4(0x0a000001, 999), sv = ep4(0x0a000002, 53);
    struct ep router = ep4(0x0a0000fe, 0);

    udp(&cl, &sv, 10);
    CHECK_EQ(run_commit(ct, 0, 1), CT_NEW);
    struct ct_conn *c = last_conn;
    /* Port unreachable from the server, quoting the client's datagram. */
    udp(&cl, &sv, 10);
    icmp_error(&sv, &cl, 3);
    CHECK_EQ(run(ct, 1), CT_RELATED);
    CHECK(last_conn == c);
    /* Time exceeded from a router on the way. */
    udp(&cl, &sv, 10);
    icmp_error(&router, &cl, 11);
    CHECK_EQ(run(ct, 2), CT_RELATED);
    /* An error about a connection nobody made. */
    struct ep other = ep4(0x0a000003, 1);
    udp(&cl, &other, 10);
    icmp_error(&router, &cl, 3);
    CHECK_EQ(run(ct, 3), CT_INVALID);
    /* Quoting a packet the recipient did not send. */
    udp(&cl, &sv, 10);
    icmp_error(&router, &sv, 3);
    CHECK_EQ(run(ct, 4), CT_INVALID);
    /* Errors are not counted as connection traffic. */
    struct ct_conn_info info;
    ct_conn_get_info(ct, c, 5, &info);
    CHECK_EQ(info.packets[0], 1);

    /* IPv6: packet too big about a TCP connection; and about an echo. */
    struct ep cl6 = ep6(1, 5000), sv6 = ep6(2, 443), r6 = ep6(0xfe, 0);
    tcp(&cl6, &sv6, 1, 0, TCP_SYN, 0);
    CHECK_EQ(run_commit(ct, 6, 1), CT_NEW);
    tcp(&cl6, &sv6, 1, 0, TCP_SYN, 0);
    icmp_error(&r6, &cl6, 2);
    CHECK_EQ(run(ct, 7), CT_RELATED);
    echo(&cl6, &sv6, false, 3);
    CHECK_EQ(run_commit(ct, 8, 1), CT_NEW);
    echo(&cl6, &sv6, false, 3);
    icmp_error(&r6, &cl6, 1);
    CHECK_EQ(run(ct, 9), CT_RELATED);
    ct_destroy(ct);
}

TEST(non_tracked_packets)
{
    struct ct_table *ct = table(100, false);
    struct ep a6 = ep6(1, 0), b6 = ep6(2, 0);
    uint8_t ns[24] = {ICMP6_NS};
    frame(&a6, &b6, IPPROTO_ICMPV6_, ns, sizeof ns);
    CHECK_EQ(run(ct, 0), CT_UNTRACKED);
    /* GRE: tracked by addresses alone. */
    struct ep a = ep4(0x0a000001, 0), b = ep4(0x0a000002, 0);
    uint8_t gre[8] = {0};
    frame(&a, &b, 47, gre, sizeof gre);
    CHECK_EQ(run_commit(ct, 0, 1), CT_NEW);
    frame(&b, &a, 47, gre, sizeof gre);
    CHECK_EQ(run(ct, 1), CT_ESTABLISHED);
    CHECK_EQ(state_of(ct, last_conn, 1), CT_ST_REPLIED);
    ct_destroy(ct);
}

TEST(zones_are_separate)
{
    struct ct_table *ct = table(100, false);
    struct ep a = ep4(0x0a000001, 1), b = ep4(0x0a000002, 2);
    struct ct_pkt cp;
    struct ct_conn *c;
    udp(&a, &b, 0);
    CHECK_EQ(ct_process(ct, pkt, 10, true, 0, &cp, &c), CT_NEW);
    CHECK(ct_commit(ct, &cp, 0, 1, 0) != NULL);
    udp(&b, &a, 0);
    CHECK_EQ(ct_process(ct, pkt, 11, false, 0, &cp, &c), CT_NEW);
    CHECK_EQ(ct_process(ct, pkt, 10, false, 0, &cp, &c), CT_ESTABLISHED);
    ct_destroy(ct);
}

TEST(full_table_refuses_then_reclaims_expired)
{
    struct ct_table *ct = table(4, false);
    struct ep a = ep4(0x0a000001, 1000), b = ep4(0x0a000002, 53);
    for (int i = 0; i < 4; i++) {
        a.port = (uint16_t)(1000 + i);
        udp(&a, &b, 0);
        CHECK_EQ(run_commit(ct, (uint64_t)i * 1000, 1), CT_NEW);
        CHECK(last_conn != NULL);
    }
    a.port = 2000;
    udp(&a, &b, 0);
    CHECK_EQ(run_commit(ct, 5000, 1), CT_NEW);
    CHECK(last_conn == NULL);
    struct ct_stats st;
    ct_get_stats(ct, &st);
    CHECK_EQ(st.full, 1);
    CHECK_EQ(st.n_conns, 4);
    /* The first (port 1000, created at 0) expires at 30 s; the others
     * later.  At 30 s exactly one slot frees up. */
    CHECK_EQ(run_commit(ct, 30000, 1), CT_NEW);
    CHECK(last_conn != NULL);
    a.port = 2001;
    udp(&a, &b, 0);
    CHECK_EQ(run_commit(ct, 30000, 1), CT_NEW);
    CHECK(last_conn == NULL);
    ct_get_stats(ct, &st);
    CHECK_EQ(st.full, 2);
    CHECK_EQ(st.expired, 1);
    CHECK_EQ(st.n_conns, 4);
    /* A live connection is never evicted to make room. */
    a.port = 1001;
    udp(&a, &b, 0);
    CHECK_EQ(run(ct, 30000), CT_ESTABLISHED);
    ct_destroy(ct);
}

static bool
collect(const struct ct_conn_info *info, void *arg)
{
    char line[256];
    ct_conn_format(info, line, sizeof line);
    strcat(arg, line);
    strcat(arg, "\n");
    return true;
}

TEST(flush_by_rule_and_dump)
{
    struct ct_table *ct = table(100, false);
    struct ep a = ep4(0x0a000001, 1000), b = ep4(0x0a000002, 80);
    for (int i = 0; i < 10; i++) {
        a.port = (uint16_t)(1000 + i);
        tcp(&a, &b, 1, 0, TCP_SYN, 0);
        CHECK_EQ(run_commit(ct, 0, i % 2 ? 11 : 12), CT_NEW);
    }
    static char dump[4096];
    dump[0] = 0;
    ct_iterate(ct, 0, collect, dump);
    CHECK(strstr(dump, "zone=1 tcp 10.0.0.1:1000 -> 10.0.0.2:80 SYN_SENT "
                       "dir=out rule=12 pkts=1/0") != NULL);
    CHECK_EQ(ct_flush_rule(ct, 11), 5);
    CHECK_EQ(ct_flush_rule(ct, 11), 0);
    struct ct_stats st;
    ct_get_stats(ct, &st);
    CHECK_EQ(st.n_conns, 5);
    a.port = 1001; /* was rule 11 */
    tcp(&a, &b, 1, 0, TCP_SYN, 0);
    CHECK_EQ(run(ct, 1), CT_NEW);
    a.port = 1000; /* rule 12 */
    tcp(&a, &b, 1, 0, TCP_SYN, 0);
    CHECK_EQ(run(ct, 1), CT_ESTABLISHED);
    CHECK_EQ(ct_flush_zone(ct, 1), 5);

    struct ep a6 = ep6(1, 7), b6 = ep6(2, 8);
    udp(&a6, &b6, 0);
    CHECK_EQ(run_commit(ct, 0, 4), CT_NEW);
    dump[0] = 0;
    ct_iterate(ct, 0, collect, dump);
    CHECK(strstr(dump, "udp [2001:db8::1]:7 -> [2001:db8::2]:8 FIRST") != NULL);
    ct_destroy(ct);
}

TEST(batch_matches_single)
{
    struct ct_table *ct = table(1000, false);
    struct dp_pool *bp = dp_pool_create(DP_BATCH_MAX, 2048);
    struct dp_packet *pkts[DP_BATCH_MAX];
    uint32_t zones[DP_BATCH_MAX];
    uint8_t dirs[DP_BATCH_MAX];
    struct ct_pkt cps[DP_BATCH_MAX];
    enum ct_verdict v[DP_BATCH_MAX];
    struct ct_conn *conns[DP_BATCH_MAX];
    struct ep a = ep4(0x0a000001, 0), b = ep4(0x0a000002, 80);

    for (int i = 0; i < DP_BATCH_MAX; i++) { /* 32 flows, committed */
        a.port = (uint16_t)(i % 32 + 1);
        udp(&a, &b, 0);
        if (i < 32) {
            CHECK_EQ(run_commit(ct, 0, 1), CT_NEW);
        }
        pkts[i] = dp_pool_get(bp);
        memcpy(pkts[i]->data, pkt->data, pkt->len);
        pkts[i]->len = pkt->len;
        dp_parse(pkts[i]);
        zones[i] = i < 48 ? 1 : 2;
        dirs[i] = 1;
    }
    ct_process_batch(ct, pkts, zones, dirs, DP_BATCH_MAX, 1, cps, v, conns);
    int est = 0, new = 0;
    for (int i = 0; i < DP_BATCH_MAX; i++) {
        est += v[i] == CT_ESTABLISHED;
        new += v[i] == CT_NEW;
    }
    CHECK_EQ(est, 48);
    CHECK_EQ(new, 16);
    for (int i = 0; i < DP_BATCH_MAX; i++) {
        dp_packet_free(pkts[i]);
    }
    dp_pool_destroy(bp);
    ct_destroy(ct);
}

/* Random UDP traffic over a small flow space and a small table with a
 * moving clock, against a model that records when each flow was last seen
 * and whether it was replied: a packet must be ESTABLISHED exactly when
 * the model says the connection is live. */
TEST(randomized_against_model)
{
    enum { N_FLOWS = 600, MAX = 256, STEPS = 200000 };
    static struct {
        bool present;
        bool replied;
        bool opened_by_b; /* first packet went b -> a */
        uint64_t expires;
    } model[N_FLOWS];
    uint32_t seed = 12345;
    const char *env = getenv("WEFT_TEST_SEED");
    if (env) {
        seed = (uint32_t)strtoul(env, NULL, 0);
    }
    srandom(seed);
    struct ct_table *ct = table(MAX, false);
    uint64_t now = 0;
    int bad = 0;

    for (int step = 0; step < STEPS && !bad; step++) {
        now += (uint64_t)(random() % 300);
        if (random() % 64 == 0) {
            ct_expire(ct, now, (size_t)(random() % 16));
        }
        int f = (int)(random() % N_FLOWS);
        bool reply = random() % 4 == 0;
        struct ep a = ep4(0x0a000000 | (uint32_t)(f % 7), (uint16_t)f);
        struct ep b = ep4(0x0b000000, 53);
        if (reply) {
            udp(&b, &a, 0);
        } else {
            udp(&a, &b, 0);
        }
        enum ct_verdict v = run(ct, now);
        bool live = model[f].present && model[f].expires > now;
        if ((v == CT_ESTABLISHED) != live) {
            fprintf(stderr, "seed %u step %d flow %d: verdict %s, model %s\n",
                    seed, step, f, ct_verdict_name(v), live ? "live" : "dead");
            bad = 1;
            break;
        }
        if (v == CT_ESTABLISHED) {
            if (reply != model[f].opened_by_b) {
                model[f].replied = true;
            }
            model[f].expires = now + (model[f].replied ? 120000 : 30000);
        } else if (v == CT_NEW) {
            struct ct_conn *c = ct_commit(ct, &last_cp, now, 1, 0);
            struct ct_stats st;
            ct_get_stats(ct, &st);
            if (!c && st.n_conns != MAX) {
                fprintf(stderr, "seed %u step %d: refused at %u entries\n",
                        seed, step, st.n_conns);
                bad = 1;
            }
            model[f].present = c != NULL;
            model[f].replied = false;
            model[f].opened_by_b = reply;
            model[f].expires = now + 30000;
        }
    }
    struct ct_stats st;
    ct_get_stats(ct, &st);
    CHECK(!bad);
    CHECK(st.n_conns <= MAX);
    CHECK(st.expired > 1000);
    CHECK(st.full > 0);
    ct_destroy(ct);
}

/* ---- The batched fast path against the one-packet path. ---- */

struct dump_row {
    uint16_t sport, dport;
    uint8_t proto, state;
    uint64_t packets[2];
};

static bool
collect_rows(const struct ct_conn_info *info, void *arg)
{
    struct dump_row *rows = arg;
    size_t i = 0;
    while (rows[i].proto) {
        i++;
    }
    rows[i] = (struct dump_row){info->sport,
                                info->dport,
                                info->proto,
                                (uint8_t)info->state,
                                {info->packets[0], info->packets[1]}};
    return true;
}

static int
row_cmp(const void *a_, const void *b_)
{
    const struct dump_row *a = a_, *b = b_;
    if (a->proto != b->proto) {
        return a->proto - b->proto;
    }
    if (a->sport != b->sport) {
        return a->sport - b->sport;
    }
    return a->dport - b->dport;
}

/* Random TCP and UDP traffic over a few flows (random flags, directions,
 * sometimes the wrong side, a moving clock, rule-generation bumps) goes
 * through one table packet by packet with ct_process() and through another
 * in batches with ct_prepare_batch() + ct_process_fast() +
 * ct_process_prepared(), committing between packets in both: verdicts,
 * states and counters must agree. */
TEST(fast_path_matches_single_packet_path)
{
    enum { N_FLOWS = 24, STEPS = 3000 };
    static const uint8_t flag_choices[] = {
        TCP_SYN,           TCP_SYN | TCP_ACK, TCP_ACK,
        TCP_ACK | TCP_PSH, TCP_ACK,           TCP_ACK | TCP_PSH,
        TCP_FIN | TCP_ACK, TCP_RST,           TCP_ACK};
    struct dp_pool *bp = dp_pool_create(DP_BATCH_MAX, 2048);
    int mismatches = 0, fast = 0;

    setup();
    for (int strict = 0; strict < 2; strict++) {
        struct ct_config cfg;
        ct_config_default(&cfg);
        cfg.max_entries = 1000;
        cfg.strict = strict;
        cfg.check_dir = true;
        struct ct_table *one = ct_create(&cfg), *bat = ct_create(&cfg);
        uint32_t seq[N_FLOWS][2] = {{0}};
        uint32_t gen = 1;
        uint64_t now = 1;
        srandom(777 + (unsigned)strict);

        for (int step = 0; step < STEPS; step++) {
            struct dp_packet *pkts[DP_BATCH_MAX];
            uint32_t zones[DP_BATCH_MAX], gens[DP_BATCH_MAX];
            uint8_t dirs[DP_BATCH_MAX];
            enum ct_verdict v1[DP_BATCH_MAX], v2[DP_BATCH_MAX];
            bool allow[DP_BATCH_MAX];
            int n = 1 + (int)(random() % 32);

            now += (uint64_t)(random() % 2000);
            if (random() % 50 == 0) {
                gen++;
            }
            if (random() % 20 == 0) {
                ct_expire(one, now, 8);
                ct_expire(bat, now, 8);
            }
            for (int i = 0; i < n; i++) {
                int f = (int)(random() % N_FLOWS);
                bool reply = random() % 3 == 0;
                struct ep a = ep4(0x0a000001, (uint16_t)(1000 + f));
                struct ep b = ep4(0x0a000002, f % 2 ? 80 : 53);
                const struct ep *s = reply ? &b : &a, *d = reply ? &a : &b;
                if (f % 3) {
                    uint8_t fl =
                        flag_choices[random() % ARRAY_SIZE(flag_choices)];
                    uint32_t len = fl & TCP_PSH ? 100 : 0;
                    uint32_t *sq = &seq[f][reply], *ak = &seq[f][!reply];
                    tcp(s, d, *sq, *ak, fl, len);
                    *sq += len + !!(fl & (TCP_SYN | TCP_FIN));
                } else {
                    udp(s, d, 10);
                }
                pkts[i] = dp_pool_get(bp);
                memcpy(pkts[i]->data, pkt->data, pkt->len);
                pkts[i]->len = pkt->len;
                dp_parse(pkts[i]);
                zones[i] = 1;
                /* Mostly the right side; now and then the wrong one. */
                dirs[i] = random() % 16 ? !reply : reply;
                gens[i] = gen;
                allow[i] = f % 5 != 0;
            }
            /* One packet at a time. */
            for (int i = 0; i < n; i++) {
                struct ct_pkt cp;
                struct ct_conn *c;
                v1[i] =
                    ct_process(one, pkts[i], zones[i], dirs[i], now, &cp, &c);
                if (v1[i] == CT_NEW && allow[i]) {
                    ct_commit(one, &cp, now, 1, gen);
                } else if (c && ct_conn_gen(c) != gen) {
                    ct_conn_set_rule(one, c, 1, gen); /* revalidated */
                }
            }
            /* Batched, with the fast path. */
            struct ct_pkt cps[DP_BATCH_MAX];
            enum ct_verdict pre[DP_BATCH_MAX];
            struct ct_conn *conns[DP_BATCH_MAX];
            ct_prepare_batch(bat, pkts, zones, dirs, n, cps, pre);
            for (int i = 0; i < n; i++) {
                int k = ct_process_fast(bat, cps, pre, gens, i, n, now, conns);
                fast += k - i;
                for (; i < k; i++) {
                    v2[i] = CT_ESTABLISHED;
                }
                if (i == n) {
                    break;
                }
                struct ct_conn *c;
                v2[i] = ct_process_prepared(bat, &cps[i], pre[i], now, &c);
                if (v2[i] == CT_NEW && allow[i]) {
                    ct_commit(bat, &cps[i], now, 1, gen);
                } else if (c && ct_conn_gen(c) != gen) {
                    ct_conn_set_rule(bat, c, 1, gen);
                }
            }
            for (int i = 0; i < n; i++) {
                if (v1[i] != v2[i] && mismatches++ < 5) {
                    fprintf(stderr, "strict %d step %d pkt %d: %s vs %s\n",
                            strict, step, i, ct_verdict_name(v1[i]),
                            ct_verdict_name(v2[i]));
                }
                dp_packet_free(pkts[i]);
            }
        }
        static struct dump_row r1[1001], r2[1001];
        memset(r1, 0, sizeof r1);
        memset(r2, 0, sizeof r2);
        ct_iterate(one, now, collect_rows, r1);
        ct_iterate(bat, now, collect_rows, r2);
        size_t n1 = 0, n2 = 0;
        while (r1[n1].proto) {
            n1++;
        }
        while (r2[n2].proto) {
            n2++;
        }
        CHECK_EQ(n1, n2);
        CHECK(n1 > 3);
        qsort(r1, n1, sizeof *r1, row_cmp);
        qsort(r2, n2, sizeof *r2, row_cmp);
        int diff = 0;
        for (size_t i = 0; i < n1 && i < n2; i++) {
            diff += r1[i].sport != r2[i].sport || r1[i].dport != r2[i].dport ||
                    r1[i].proto != r2[i].proto || r1[i].state != r2[i].state ||
                    r1[i].packets[0] != r2[i].packets[0] ||
                    r1[i].packets[1] != r2[i].packets[1];
        }
        CHECK_EQ(diff, 0);
        struct ct_stats s1, s2;
        ct_get_stats(one, &s1);
        ct_get_stats(bat, &s2);
        CHECK_EQ(s1.hits, s2.hits);
        CHECK_EQ(s1.invalid, s2.invalid);
        CHECK(s1.hits > 1000);
        ct_destroy(one);
        ct_destroy(bat);
    }
    CHECK_EQ(mismatches, 0);
    CHECK(fast > 2000); /* the fast path took a good share */
    fprintf(stderr, "conntrack: %d packets on the fast path\n", fast);
    dp_pool_destroy(bp);
}
