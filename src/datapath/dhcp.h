/* DHCPv4 server logic (RFC 2131, options RFC 2132 and RFC 3442), without
 * any transport: the agent answers DHCP on every host for its own VIFs, so
 * no DHCP broadcast ever crosses the fabric.
 *
 * One dhcp_server per segment holds a copy of the segment's DHCP
 * configuration and its lease table (dhcp-lease.h).  The caller hands it
 * the UDP payload of a DHCP message received from a local VIF, the frame's
 * source MAC and the time; it parses the untrusted bytes strictly, updates
 * the leases and produces the reply payload (OFFER, ACK or NAK) if one is
 * due.  dhcp_reply_frame() then wraps a reply in Ethernet/IPv4/UDP.
 *
 * Where it sits (for the pipeline): a frame from a VIF that parses as
 * IPv4/UDP to port 67 (dp_parse() gives l7_ofs) is taken off the packet
 * path before L2 lookup and queued to the agent thread that owns the
 * segment's dhcp_server (bounded queue, dropped when full: the fast path
 * never waits on DHCP).  That thread calls dhcp_server_input() with
 * pkt->data + l7_ofs, the UDP length minus 8, the Ethernet source, and
 * time in seconds; on a reply it calls dhcp_reply_frame() and sends the
 * frame out of the VIF the request came from.  A nonzero return is a
 * drop reason to count.
 *
 * Identity: a client is its MAC.  The message's chaddr must equal the
 * frame's source MAC (which SpoofGuard has already tied to the port), so
 * a VM cannot exhaust the pool by inventing chaddrs or release another
 * VM's lease.  The client-identifier option (61) is accepted but not used
 * as the key, because static bindings are MAC -> IP.  Relayed messages
 * (giaddr set) are refused: the server only serves directly attached VIFs.
 *
 * Addresses in this API are in host byte order. 'now' is in seconds from
 * any fixed origin (the agent's monotonic clock).  Not thread-safe: one
 * thread owns a server. */
#ifndef WEFT_DP_DHCP_H
#define WEFT_DP_DHCP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dhcp-lease.h"
#include "datapath/proto.h"

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68

/* Fixed BOOTP header (236 bytes) + magic cookie. */
#define DHCP_FIXED_LEN 236
#define DHCP_MIN_LEN   240
/* Largest reply payload: the 576-byte minimum every client accepts, less
 * IPv4 and UDP headers.  Replies never need more. */
#define DHCP_REPLY_MAX 548
/* Largest reply frame: Ethernet + IPv4 + UDP + payload. */
#define DHCP_FRAME_MAX (ETH_HDR_LEN + 20 + 8 + DHCP_REPLY_MAX)

enum dhcp_msg_type {
    DHCP_DISCOVER = 1,
    DHCP_OFFER = 2,
    DHCP_REQUEST = 3,
    DHCP_DECLINE = 4,
    DHCP_ACK = 5,
    DHCP_NAK = 6,
    DHCP_RELEASE = 7,
    DHCP_INFORM = 8,
};

/* Why a message got no reply.  The first group is malformed input (to be
 * counted as drops in drop.h); the second well-formed messages that this
 * server does not answer, by protocol rule or policy. */
#define DHCP_DROP_REASONS(X)                                                   \
    X(TRUNC, "DHCP message shorter than the BOOTP header and cookie")          \
    X(NOT_REQUEST, "BOOTP op is not BOOTREQUEST")                              \
    X(BAD_HTYPE, "DHCP hardware type/length is not Ethernet")                  \
    X(BAD_COOKIE, "no DHCP magic cookie")                                      \
    X(OPT_TRUNC, "DHCP option runs past the end of its field")                 \
    X(OPT_NO_END, "DHCP options without an end option")                        \
    X(OPT_BAD_LEN, "DHCP option length or value invalid for its code")         \
    X(OPT_DUP, "single-valued DHCP option repeated")                           \
    X(BAD_OVERLOAD, "invalid DHCP option overload")                            \
    X(NO_MSG_TYPE, "no DHCP message type option")                              \
    X(BAD_MSG_TYPE, "DHCP message type a server does not accept")              \
    X(MISSING_FIELD, "DHCP message lacks a field its type requires")           \
    /* well-formed, not answered */                                            \
    X(CHADDR_MISMATCH, "DHCP chaddr differs from the frame's source MAC")      \
    X(RELAYED, "relayed DHCP message (giaddr set) from a VIF")                 \
    X(OTHER_SERVER, "DHCP message addressed to another server")                \
    X(NOT_OWNER, "DHCP release/decline of an address the client lacks")        \
    X(WRONG_SUBNET, "DHCP INFORM from outside the segment's subnet")           \
    X(UNKNOWN_CLIENT, "DHCP INIT-REBOOT from a client without a lease")        \
    X(NO_ADDRESS, "DHCP pool or lease table exhausted")

enum dhcp_drop {
    DHCP_DROP_NONE = 0,
#define DHCP_DROP_ENUM(NAME, DESC) DHCP_DROP_##NAME,
    DHCP_DROP_REASONS(DHCP_DROP_ENUM)
#undef DHCP_DROP_ENUM
        DHCP_DROP_N_REASONS
};
const char *dhcp_drop_name(enum dhcp_drop);
const char *dhcp_drop_description(enum dhcp_drop);

/* ---- Parsing ---- */

/* What the server needs from a client message. */
struct dhcp_msg {
    uint8_t type;  /* enum dhcp_msg_type */
    uint8_t hops;  /* from the header */
    uint16_t secs; /* host order */
    uint32_t xid;  /* as on the wire (echoed, never interpreted) */
    uint16_t flags;
    uint32_t ciaddr, yiaddr, siaddr, giaddr; /* host order */
    struct eth_addr chaddr;

    bool has_requested_ip; /* option 50 */
    uint32_t requested_ip;
    bool has_server_id; /* option 54 */
    uint32_t server_id;
    uint16_t max_size;     /* option 57, 0 if absent */
    uint8_t overload;      /* option 52: 1 file, 2 sname, 3 both */
    uint8_t client_id_len; /* option 61, 0 if absent */
    uint8_t prl[32];       /* option 55 as a bit set of option codes */
};
#define DHCP_FLAG_BROADCAST 0x8000

static inline bool
dhcp_msg_requests(const struct dhcp_msg *m, uint8_t code)
{
    return m->prl[code / 8] >> (code % 8) & 1;
}

/* Parses 'len' bytes of a BOOTREQUEST (the UDP payload).  Returns
 * DHCP_DROP_NONE and fills '*m', or the first malformation found.  Strict:
 * Ethernet htype/hlen, magic cookie, every option inside its field, an end
 * option closing the options field, single-valued options (53, 50, 54, 57,
 * 52, 61) present at most once with their exact lengths, overload (52)
 * only in the options field and honoured (file, then sname), and a message
 * type a client sends (DISCOVER, REQUEST, DECLINE, RELEASE, INFORM).
 * Reads only [p, p + len). */
enum dhcp_drop dhcp_parse(const uint8_t *p, size_t len, struct dhcp_msg *m);

/* ---- Configuration ---- */

struct dhcp_range {
    uint32_t first, last; /* inclusive, host order */
};

struct dhcp_static_binding {
    struct eth_addr mac;
    uint32_t ip;
};

struct dhcp_route {   /* classless static route (option 121) */
    uint32_t prefix;  /* host order, no bits beyond 'len' */
    uint8_t len;      /* 0..32 */
    uint32_t gateway; /* host order */
};

#define DHCP_MAX_DNS        8
#define DHCP_MAX_POOL_ADDRS (1u << 20)

/* A segment's DHCP service, as the agent receives it.  The arrays and the
 * string belong to the caller; dhcp_server_create() copies them. */
struct dhcp_config {
    uint32_t server_ip;         /* source of replies, option 54: usually the
                                 * router's gateway address on the segment */
    struct eth_addr server_mac; /* source MAC of replies (the gateway MAC) */
    uint32_t subnet;            /* network address of the segment */
    uint8_t prefix_len;         /* 1..30 */

    const struct dhcp_range *pools; /* addresses to lease */
    size_t n_pools;
    const struct dhcp_range *excluded; /* never leased */
    size_t n_excluded;
    const struct dhcp_static_binding *statics; /* fixed MAC -> IP */
    size_t n_statics;

    uint32_t lease_time;   /* seconds, >= 60; UINT32_MAX = infinite */
    uint32_t offer_hold;   /* seconds an OFFER reserves; 0 = 60 */
    uint32_t decline_hold; /* seconds a declined address rests; 0 = 600 */

    uint32_t router; /* option 3; 0 = none */
    const uint32_t *dns;
    size_t n_dns;       /* option 6; at most DHCP_MAX_DNS */
    const char *domain; /* option 15; NULL or "" = none */
    uint16_t mtu;       /* option 26; 0 = none, else >= 68 */
    const struct dhcp_route *routes;
    size_t n_routes; /* option 121 (sent when the client asks for it) */
};

/* Checks a configuration.  Returns 0, or EINVAL and a reason in 'err'
 * (NUL-terminated, truncated to 'err_size'). */
int dhcp_config_validate(const struct dhcp_config *, char *err,
                         size_t err_size);

/* ---- The server ---- */

struct dhcp_server;

/* Creates a server for a valid 'cfg' (copied) with a lease table of
 * 'max_leases' entries (0: pool size + static bindings, at least 16).
 * Returns 0 and '*out', or EINVAL (see dhcp_config_validate()). */
int dhcp_server_create(const struct dhcp_config *cfg, uint32_t max_leases,
                       struct dhcp_server **out);
void dhcp_server_destroy(struct dhcp_server *); /* NULL is fine */

/* Replaces the configuration, keeping the leases that are still valid
 * under the new one (others are dropped: their clients get a NAK at their
 * next renewal).  Returns 0, or EINVAL and changes nothing. */
int dhcp_server_reconfigure(struct dhcp_server *, const struct dhcp_config *,
                            uint64_t now);

/* The lease table, for dumps and the API's list of bindings (read only). */
const struct dhcp_leases *dhcp_server_leases(const struct dhcp_server *);

struct dhcp_reply {
    uint16_t len;                 /* payload bytes; 0 = nothing to send */
    uint8_t type;                 /* DHCP_OFFER, DHCP_ACK or DHCP_NAK */
    uint32_t src_ip;              /* host order: the server's address */
    uint32_t dst_ip;              /* host order: ciaddr, yiaddr or broadcast */
    struct eth_addr src_mac;      /* the server's MAC */
    struct eth_addr dst_mac;      /* chaddr, or broadcast */
    uint8_t data[DHCP_REPLY_MAX]; /* the DHCP message */
};

/* Handles one DHCP message of 'len' bytes received at 'now' in a frame
 * from 'src_mac'.  Returns DHCP_DROP_NONE when the message was valid and
 * handled, with 'reply->len' > 0 if a reply must be sent (RELEASE and
 * DECLINE get none); otherwise the reason it was ignored, with
 * 'reply->len' == 0.  The lease table changes only for valid messages. */
enum dhcp_drop dhcp_server_input(struct dhcp_server *, const uint8_t *msg,
                                 size_t len, const struct eth_addr *src_mac,
                                 uint64_t now, struct dhcp_reply *reply);

/* Writes the Ethernet/IPv4/UDP frame carrying 'reply' into 'buf' (at least
 * DHCP_FRAME_MAX bytes is always enough): UDP 67 -> 68, IPv4 and UDP
 * checksums filled in, TTL 64.  Returns the frame length, or 0 if 'cap' is
 * too small or there is no reply. */
size_t dhcp_reply_frame(const struct dhcp_reply *, uint8_t *buf, size_t cap);

#endif
