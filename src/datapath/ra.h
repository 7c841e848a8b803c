/* IPv6 router advertisements (RFC 4861, SLAAC flags RFC 4862, RDNSS RFC
 * 8106), without transport: the agent sends them on behalf of each
 * segment's distributed router, to its local VIFs only.
 *
 * ra_build() writes a whole RA frame from the router's link-local address
 * (fe80:: + modified EUI-64 of the router MAC) and MAC: hop limit 255, the
 * M and O flags, router lifetime, a prefix information option per IPv6
 * gateway prefix (L always, A when SLAAC applies), the MTU, the source
 * link-layer address and the DNS servers (RDNSS).  ra_parse_rs() checks a
 * router solicitation strictly (hop limit 255, ICMPv6 checksum, code 0,
 * options of non-zero length inside the message, no source link-layer
 * option from the unspecified address); the agent answers a valid one
 * with an RA to the solicitor (or to all nodes if it has no address yet).
 * struct ra_timer schedules the unsolicited ones: a few quickly after a
 * port appears, then every RA_INTERVAL_MS less up to a quarter of jitter.
 *
 * No state beyond the timer, no clock read: 'now' and randomness come from
 * the caller.  Thread-safe (pure functions over caller memory). */
#ifndef WEFT_DP_RA_H
#define WEFT_DP_RA_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/proto.h"

#define RA_MAX_PREFIXES     8
#define RA_MAX_DNS          8
#define RA_ROUTER_LIFETIME  1800   /* seconds */
#define RA_INTERVAL_MS      200000 /* unsolicited: MaxRtrAdvInterval */
#define RA_FAST_INTERVAL_MS 4000   /* the first RA_FAST_COUNT after a port */
#define RA_FAST_COUNT       3
#define RA_FRAME_MAX                                                           \
    (ETH_HDR_LEN + 40 + 16 + 8 + 8 + 32 * RA_MAX_PREFIXES + 8 + 16 * RA_MAX_DNS)

/* Why an RS was not answered. */
#define RA_DROP_REASONS(X)                                                     \
    X(RS_TRUNC, "router solicitation shorter than 8 bytes")                    \
    X(RS_NOT_RS, "ICMPv6 message is not a router solicitation")                \
    X(RS_BAD_HOP_LIMIT, "router solicitation with hop limit other than 255")   \
    X(RS_BAD_CODE, "router solicitation with a non-zero code")                 \
    X(RS_BAD_CSUM, "router solicitation with a wrong ICMPv6 checksum")         \
    X(RS_OPT_BAD_LEN, "router solicitation option of length 0 or too long")    \
    X(RS_SLLA_UNSPEC, "source link-layer option from the unspecified address")

enum ra_drop {
    RA_DROP_NONE = 0,
#define RA_DROP_ENUM(NAME, DESC) RA_DROP_##NAME,
    RA_DROP_REASONS(RA_DROP_ENUM)
#undef RA_DROP_ENUM
        RA_DROP_N_REASONS
};
const char *ra_drop_name(enum ra_drop);
const char *ra_drop_description(enum ra_drop);

struct ra_prefix {
    uint8_t prefix[16]; /* no bits beyond 'len' */
    uint8_t len;        /* 1..128 (SLAAC needs 64) */
    bool autonomous;    /* A flag: hosts form addresses from it */
};

struct ra_config {
    struct eth_addr router_mac;
    bool managed;             /* M: addresses from DHCPv6 */
    bool other;               /* O: other configuration from DHCPv6 */
    uint16_t router_lifetime; /* seconds; 0 = RA_ROUTER_LIFETIME */
    const struct ra_prefix *prefixes;
    size_t n_prefixes;           /* at most RA_MAX_PREFIXES (more ignored) */
    uint32_t valid_lifetime;     /* prefixes, seconds; 0 = 2592000 */
    uint32_t preferred_lifetime; /* prefixes, seconds; 0 = 604800 */
    uint32_t mtu;                /* 0 = no MTU option */
    const uint8_t (*dns)[16];
    size_t n_dns;          /* at most RA_MAX_DNS (more ignored) */
    uint32_t dns_lifetime; /* seconds; 0 = 3 x RA_INTERVAL_MS */
};

/* Writes an RA frame to 'dst_mac' / 'dst_ip' (16 bytes) into 'buf'
 * (RA_FRAME_MAX is always enough) with its ICMPv6 checksum.  Returns its
 * length, or 0 if 'cap' is too small. */
size_t ra_build(const struct ra_config *, const struct eth_addr *dst_mac,
                const uint8_t dst_ip[16], uint8_t *buf, size_t cap);

/* The all-nodes destination (ff02::1, 33:33:00:00:00:01). */
extern const uint8_t ra_all_nodes_ip[16];
extern const struct eth_addr ra_all_nodes_mac;

/* A valid router solicitation. */
struct ra_rs {
    uint8_t src[16]; /* IPv6 source (may be unspecified) */
    bool has_slla;   /* source link-layer address option present */
    struct eth_addr slla;
};

/* Checks the RS whose IPv6 header is 'ip6' (40 bytes readable) and whose
 * ICMPv6 message is the 'len' bytes at 'icmp' (the rest of the payload).
 * Returns RA_DROP_NONE and fills '*rs', or the first problem found. */
enum ra_drop ra_parse_rs(const uint8_t *ip6, const uint8_t *icmp, size_t len,
                         struct ra_rs *rs);

/* Unsolicited RA schedule of one port. */
struct ra_timer {
    uint64_t next_ms;   /* when the next RA is due */
    uint32_t fast_left; /* quick ones still to send */
};
/* Starts a port's schedule: the first RA is due at 'now_ms'. */
void ra_timer_start(struct ra_timer *, uint64_t now_ms);
/* True if an RA is due at 'now_ms'; then schedules the next one, 'rnd'
 * (any 32-bit random value) choosing the jitter. */
bool ra_timer_due(struct ra_timer *, uint64_t now_ms, uint32_t rnd);

#endif
