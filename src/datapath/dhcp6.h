/* DHCPv6 server logic (RFC 8415, DNS options RFC 3646), without transport:
 * the agent answers DHCPv6 on every host for its own VIFs, like DHCPv4
 * (dhcp.h), from frames the datapath punts (punt.h).
 *
 * One dhcp6_server per segment holds a copy of its configuration: the
 * router MAC (source of replies and, as a DUID-LL, the server identifier),
 * whether addresses are handed out (stateful: IA_NA) and which address
 * each local port's MAC gets, lifetimes, DNS servers (option 23) and a
 * domain search list (option 24).  The caller hands it the UDP payload of
 * a message from a local VIF with the frame's source MAC and IPv6 address;
 * it parses the untrusted bytes strictly and produces the reply (ADVERTISE
 * or REPLY) if one is due.  dhcp6_reply_frame() wraps it in
 * Ethernet/IPv6/UDP 547 -> 546 from the router's link-local address.
 *
 * Identity: a client is its MAC (SpoofGuard has tied it to the port).  The
 * client's DUID is echoed back but never decides anything: the address is
 * the one configured for the frame's source MAC.  Addresses are assigned
 * centrally (docs/routing.md), so there is no pool: a MAC without a
 * binding gets NoAddrsAvail.  Per binding the server remembers its state
 * (advertised, bound until, released, declined) for `ctl dhcp`.
 *
 * Messages: SOLICIT -> ADVERTISE (REPLY with Rapid Commit when the client
 * asks), REQUEST / RENEW / REBIND -> REPLY with the IA_NA, RELEASE and
 * DECLINE -> REPLY with Success (a declined address is marked and logged
 * by the caller), CONFIRM -> REPLY Success or NotOnLink, INFORMATION-
 * REQUEST -> REPLY with DNS and domain only (stateless service).  Relayed
 * messages are refused: only directly attached VIFs are served.
 *
 * 'now' is in seconds from any fixed origin.  Not thread-safe: one thread
 * owns a server. */
#ifndef WEFT_DP_DHCP6_H
#define WEFT_DP_DHCP6_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/proto.h"

#define DHCP6_CLIENT_PORT 546
#define DHCP6_SERVER_PORT 547

#define DHCP6_REPLY_MAX 1024 /* reply payload, bytes */
#define DHCP6_FRAME_MAX (ETH_HDR_LEN + 40 + 8 + DHCP6_REPLY_MAX)
#define DHCP6_MAX_DNS   8
#define DHCP6_MAX_IA    4 /* IA_NAs looked at per message */
#define DHCP6_MAX_ADDRS 4 /* addresses looked at per IA_NA */
#define DHCP6_DUID_MAX  128

enum dhcp6_msg_type {
    DHCP6_SOLICIT = 1,
    DHCP6_ADVERTISE = 2,
    DHCP6_REQUEST = 3,
    DHCP6_CONFIRM = 4,
    DHCP6_RENEW = 5,
    DHCP6_REBIND = 6,
    DHCP6_REPLY = 7,
    DHCP6_RELEASE = 8,
    DHCP6_DECLINE = 9,
    DHCP6_INFORMATION_REQUEST = 11,
    DHCP6_RELAY_FORW = 12,
};

enum dhcp6_status {
    DHCP6_SUCCESS = 0,
    DHCP6_UNSPEC_FAIL = 1,
    DHCP6_NO_ADDRS_AVAIL = 2,
    DHCP6_NO_BINDING = 3,
    DHCP6_NOT_ON_LINK = 4,
};

/* Why a message got no reply: malformed input first, then well-formed
 * messages this server does not answer. */
#define DHCP6_DROP_REASONS(X)                                                  \
    X(TRUNC, "DHCPv6 message shorter than its 4-byte header")                  \
    X(BAD_MSG_TYPE, "DHCPv6 message type a server does not accept")            \
    X(OPT_TRUNC, "DHCPv6 option runs past the end of its container")           \
    X(OPT_BAD_LEN, "DHCPv6 option length or value invalid for its code")       \
    X(OPT_DUP, "single-valued DHCPv6 option repeated")                         \
    X(NO_CLIENT_ID, "DHCPv6 message without the client identifier")            \
    X(NO_SERVER_ID, "DHCPv6 message lacks the server identifier")              \
    X(UNEXPECTED_SERVER_ID, "DHCPv6 message must not carry a server id")       \
    X(UNEXPECTED_IA, "DHCPv6 information request carries an IA")               \
    X(BAD_SOURCE, "DHCPv6 message not from a link-local address")              \
    /* well-formed, not answered */                                            \
    X(RELAYED, "relayed DHCPv6 message from a VIF")                            \
    X(OTHER_SERVER, "DHCPv6 message addressed to another server")              \
    X(NO_ADDRESSES, "DHCPv6 confirm without addresses")

enum dhcp6_drop {
    DHCP6_DROP_NONE = 0,
#define DHCP6_DROP_ENUM(NAME, DESC) DHCP6_DROP_##NAME,
    DHCP6_DROP_REASONS(DHCP6_DROP_ENUM)
#undef DHCP6_DROP_ENUM
        DHCP6_DROP_N_REASONS
};
const char *dhcp6_drop_name(enum dhcp6_drop);
const char *dhcp6_drop_description(enum dhcp6_drop);

/* ---- Parsing ---- */

struct dhcp6_ia {
    uint32_t iaid;
    uint8_t n_addrs;                    /* IAADDR options kept */
    uint8_t addrs[DHCP6_MAX_ADDRS][16]; /* the first DHCP6_MAX_ADDRS */
};

struct dhcp6_msg {
    uint8_t type;             /* enum dhcp6_msg_type */
    uint8_t xid[3];           /* transaction id, echoed */
    const uint8_t *client_id; /* DUID inside the message, NULL if absent */
    uint8_t client_id_len;
    const uint8_t *server_id;
    uint8_t server_id_len;
    bool rapid_commit;
    uint8_t n_ia; /* IA_NAs kept (at most DHCP6_MAX_IA) */
    bool has_ia;  /* any IA_NA, IA_TA or IA_PD, kept or not */
    struct dhcp6_ia ia[DHCP6_MAX_IA];
};

/* Parses a client message of 'len' bytes (the UDP payload).  Returns
 * DHCP6_DROP_NONE and fills '*m' (whose pointers point into 'p'), or the
 * first malformation: every option (and every option inside IA_NA and
 * IAADDR) within its container, fixed lengths for the fixed-size options,
 * client id, server id, elapsed time, rapid commit and ORO at most once,
 * DUIDs of 2..128 bytes, and the presence rules of RFC 8415 section 16
 * for each message type.  Reads only [p, p + len). */
enum dhcp6_drop dhcp6_parse(const uint8_t *p, size_t len, struct dhcp6_msg *m);

/* ---- Configuration and server ---- */

struct dhcp6_binding {
    struct eth_addr mac; /* a local port */
    uint8_t addr[16];    /* its address in the segment's prefix */
};

struct dhcp6_config {
    struct eth_addr server_mac; /* router MAC: DUID-LL, reply source */
    bool stateful;              /* hand out IA_NA addresses */
    const struct dhcp6_binding *bindings;
    size_t n_bindings;
    const uint8_t (*prefixes)[16]; /* on-link prefixes, for CONFIRM */
    const uint8_t *prefix_lens;    /* their lengths, 0..128 */
    size_t n_prefixes;
    uint32_t preferred_lifetime; /* seconds; 0 = 3600 */
    uint32_t valid_lifetime;     /* seconds >= preferred; 0 = 2 x pref */
    const uint8_t (*dns)[16];
    size_t n_dns;       /* at most DHCP6_MAX_DNS */
    const char *domain; /* search domain, NULL or "" = none */
};

/* What the server knows of one binding (for dumps). */
enum dhcp6_state {
    DHCP6_ST_NONE = 0,
    DHCP6_ST_ADVERTISED,
    DHCP6_ST_BOUND,
    DHCP6_ST_RELEASED,
    DHCP6_ST_DECLINED,
};
struct dhcp6_lease {
    struct eth_addr mac;
    uint8_t addr[16];
    uint8_t state;    /* enum dhcp6_state */
    uint32_t iaid;    /* of the last IA_NA that got it */
    uint64_t expires; /* BOUND: end of the valid lifetime */
};

struct dhcp6_server;

/* Returns 0 and '*out', or EINVAL (bad lengths, too many DNS servers, a
 * domain that is not a valid DNS name, valid < preferred). */
int dhcp6_server_create(const struct dhcp6_config *, struct dhcp6_server **);
void dhcp6_server_destroy(struct dhcp6_server *); /* NULL is fine */
/* Replaces the configuration; a binding keeps its state if its MAC keeps
 * its address.  Returns 0 or EINVAL (then nothing changed). */
int dhcp6_server_reconfigure(struct dhcp6_server *,
                             const struct dhcp6_config *);

/* Binding 'i' (0 .. n-1) and the count, for dumps. */
size_t dhcp6_server_n_leases(const struct dhcp6_server *);
const struct dhcp6_lease *dhcp6_server_lease(const struct dhcp6_server *,
                                             size_t i);

struct dhcp6_reply {
    uint16_t len;            /* payload bytes; 0 = nothing to send */
    uint8_t type;            /* DHCP6_ADVERTISE or DHCP6_REPLY */
    uint8_t declined;        /* 1: the message declined a bound address */
    struct eth_addr src_mac; /* router MAC */
    struct eth_addr dst_mac; /* the client */
    uint8_t src_ip[16];      /* router link-local */
    uint8_t dst_ip[16];      /* the client's link-local source */
    uint8_t data[DHCP6_REPLY_MAX];
};

/* Handles one message of 'len' bytes in a frame from 'src_mac' /
 * 'src_ip' (16 bytes) at 'now'.  Returns DHCP6_DROP_NONE with
 * 'reply->len' > 0 (every valid message is answered), or the reason it
 * was ignored with 'reply->len' == 0. */
enum dhcp6_drop dhcp6_server_input(struct dhcp6_server *, const uint8_t *msg,
                                   size_t len, const struct eth_addr *src_mac,
                                   const uint8_t src_ip[16], uint64_t now,
                                   struct dhcp6_reply *reply);

/* Writes the Ethernet/IPv6/UDP frame of 'reply' into 'buf' (DHCP6_FRAME_MAX
 * is always enough), UDP checksum filled in, hop limit 255.  Returns the
 * length, or 0 if 'cap' is too small or there is no reply. */
size_t dhcp6_reply_frame(const struct dhcp6_reply *, uint8_t *buf, size_t cap);

/* The link-local address fe80::/64 + modified EUI-64 of 'mac'. */
void dhcp6_link_local(const struct eth_addr *mac, uint8_t out[16]);

/* Encodes 'domain' ("a.example") as a DNS wire name into 'out' (room for
 * 'cap'); returns the length or 0 if it is not a valid name or does not
 * fit (labels of 1..63 bytes of [A-Za-z0-9-], at most 253 bytes). */
size_t dhcp6_encode_domain(const char *domain, uint8_t *out, size_t cap);

#endif
