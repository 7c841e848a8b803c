/* The distributed firewall stage: SpoofGuard and a stateful per-vNIC
 * firewall in the packet pipeline.
 *
 * Configuration (control side) comes in two immutable, reference-counted
 * objects that forwarding snapshots (tables.h) point to and successive
 * snapshots share:
 *   - struct dfw_vnic: one vNIC's firewall: its compiled rules (a struct
 *     cls, classifier.h) with a version number, and SpoofGuard (the port's
 *     MAC and the source addresses it may use).  A VIF whose dp_vif.fw is
 *     NULL has no firewall at all and pays one NULL test per frame.
 *   - struct dfw_sets: the deployment-wide part: the address-set index the
 *     rules refer to (addrset.h) and the rule names used in log lines.
 * Build new objects for any change, put them into the next snapshot with
 * dp_tb_set_firewall() / dp_tb_set_vif_firewall() (which take their own
 * references) and drop yours with *_unref().
 *
 * Where checks happen (pipeline.c):
 *   - a frame from a VIF with a firewall: SpoofGuard (if on), then the OUT
 *     check in the vNIC's zone, before forwarding;
 *   - a frame about to be delivered to a local VIF with a firewall (from
 *     another VIF or a tunnel, unicast or a flooded copy): the IN check in
 *     that vNIC's zone.
 * The zone of a vNIC is its logical port id (dp_vif.lport).
 *
 * The check (dfw_check()):
 *   - Non-IP frames (ARP, ...) and IPv6 neighbour discovery / MLD pass,
 *     as does a non-first IP fragment (no ports to check; the first
 *     fragment, which carries them, was checked; there is no reassembly).
 *   - Conntrack finds the connection: if it was admitted under the vNIC's
 *     current rules_version the packet passes and is counted to the rule
 *     that admitted it (the fast path: one hash lookup).  If the version
 *     is stale the connection is classified again once, as its first
 *     packet (opener's direction and tuple): still allowed -> re-admitted
 *     under the new version; otherwise the entry is deleted and the packet
 *     dropped (or rejected).
 *   - No connection: classify (cls_lookup) in the packet's direction as
 *     seen by the vNIC.  ALLOW creates the connection (unless the rule is
 *     CLS_F_STATELESS: then nothing is recorded and every packet is
 *     classified), DROP drops (DP_DROP_FW_DROP), REJECT drops
 *     (DP_DROP_FW_REJECT) and the pipeline answers (dfw_reject_build()).
 *   - Loose pickup: conntrack runs in loose mode by default, so a
 *     mid-stream TCP segment (ACK, no SYN) of a connection we have no
 *     entry for (agent restart, firewall just enabled) is classified and,
 *     if allowed, picked up without sequence checks.  ct_config.strict
 *     turns that off (only a SYN opens).
 *   - ICMP errors about a tracked connection are RELATED and pass.
 *   - Conntrack-invalid packets drop as DP_DROP_CT_INVALID, except that a
 *     packet that cannot open a connection (FIN, RST, echo reply, unrelated
 *     ICMP error) still passes when a stateless rule allows it.  A full
 *     table drops new connections as DP_DROP_CT_FULL.
 *
 * Per packet thread there is one struct dfw_thread: the conntrack table
 * (created on first use), per-rule counters (readable from any thread),
 * and the token buckets for rejects and log lines.  Only its owner thread
 * may call the functions marked "packet thread". */
#ifndef WEFT_DP_DFW_H
#define WEFT_DP_DFW_H 1

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/classifier.h"
#include "datapath/conntrack.h"
#include "datapath/drop.h"
#include "datapath/packet.h"

/* Rule ids (chosen by the agent) are dense small integers up to this;
 * counters and names are kept for these ids only. */
#define DFW_MAX_RULE_ID ((1u << 20) - 1)

/* ---- Per-vNIC firewall (immutable, reference counted). ---- */

struct dfw_vnic_config {
    struct cls *cls;          /* rules; ownership passes to the vNIC.  NULL:
                             * no stateful firewall, SpoofGuard only */
    uint32_t rules_version;   /* changes whenever this vNIC's rules change;
                             * never reuse a value for the same vNIC;
                             * never CT_GEN_DENIED (conntrack.h) */
    bool spoofguard;          /* check source MAC and IPs of frames it sends */
    struct eth_addr mac;      /* the port's own MAC */
    const uint8_t (*ips)[16]; /* addresses it may send from: IPv4-mapped
                               * (::ffff:a.b.c.d) or IPv6; copied */
    size_t n_ips;
};

struct dfw_vnic {
    atomic_uint refcount;
    struct cls *cls; /* NULL: SpoofGuard only */
    uint32_t rules_version;
    bool spoofguard;
    bool has_stateless; /* some rule (or the default) is stateless */
    struct eth_addr mac;
    uint32_t n_ip4, n_ip6;
    uint32_t *ip4;                    /* network order, sorted */
    struct in6_addr_ *ip6;            /* sorted */
    const struct dfw_vnic *cls_owner; /* the vNIC whose 'cls' this one
                                       * shares (dfw_vnic_renew()), NULL
                                       * if it owns it */
};

/* Creates a vNIC firewall with one reference.  Never returns NULL. */
struct dfw_vnic *dfw_vnic_create(const struct dfw_vnic_config *);
/* Takes a reference; returns its argument (NULL is fine). */
struct dfw_vnic *dfw_vnic_ref(const struct dfw_vnic *);
/* Drops a reference; the last one frees it and its classifier. */
void dfw_vnic_unref(const struct dfw_vnic *);
/* A vNIC firewall like 'v' (same classifier, shared, and SpoofGuard) with
 * rules version 'rules_version': its connections are checked against its
 * rules again at their next packet, as after a rule change.  For a change
 * of the address sets its rules name.  Never returns NULL. */
struct dfw_vnic *dfw_vnic_renew(const struct dfw_vnic *v,
                                uint32_t rules_version);

/* ---- Deployment-wide part (immutable, reference counted). ---- */

struct dfw_rule_info {
    uint32_t id;      /* <= DFW_MAX_RULE_ID */
    const char *name; /* copied; shown in log lines */
};

struct dfw_sets_config {
    struct as_index *asx; /* address sets; ownership passes.  NULL: none */
    const struct dfw_rule_info *rules; /* names of rules (any order) */
    size_t n_rules;
    uint8_t tcp_mode; /* DFW_TCP_*: TCP tracking for new connections */
};

/* TCP connection tracking mode (ct_set_strict()); a connection keeps the
 * mode it was opened under. */
enum {
    DFW_TCP_DEFAULT = 0, /* the packet thread's dfw_options.ct.strict */
    DFW_TCP_LOOSE = 1,   /* mid-stream pickup, state machine only */
    DFW_TCP_STRICT = 2,  /* only a SYN opens; sequence-window checks */
};

struct dfw_sets {
    atomic_uint refcount;
    struct as_index *asx; /* never NULL */
    char **names;         /* by rule id, NULL if unnamed */
    uint32_t n_names;     /* entries in 'names' */
    uint8_t tcp_mode;     /* as in dfw_sets_config */
};

/* Creates the deployment-wide part with one reference.  Never NULL. */
struct dfw_sets *dfw_sets_create(const struct dfw_sets_config *);
struct dfw_sets *dfw_sets_ref(const struct dfw_sets *);
void dfw_sets_unref(const struct dfw_sets *);
/* Name of rule 'id', or NULL. */
const char *dfw_sets_rule_name(const struct dfw_sets *, uint32_t id);

/* ---- Per packet thread. ---- */

struct dfw_options {
    struct ct_config ct;   /* conntrack: size (default 1,000,000 entries),
                            * strict mode (default off: loose pickup),
                            * timeouts.  check_dir is always set. */
    uint32_t reject_rate;  /* rejects answered per second (default 1000) */
    uint32_t reject_burst; /* bucket size (default 200) */
    uint32_t log_rate;     /* log lines per second (default 100) */
    uint32_t log_burst;    /* bucket size (default 500) */
};
void dfw_options_default(struct dfw_options *);

/* Per-rule counters.  'packets' and 'bytes' count every packet counted to
 * the rule (new or established, allowed or not); 'sessions' the
 * connections it admitted. */
struct dfw_rule_counters {
    uint64_t packets;
    uint64_t bytes;
    uint64_t sessions;
};

/* What the stage did, beyond drops (which go to dp_counters.drops). */
struct dfw_stats {
    uint64_t checked;         /* packets through dfw_check() */
    uint64_t established;     /* ... that matched a current connection */
    uint64_t classified;      /* ... that went through the classifier */
    uint64_t revalidated;     /* connections classified again (stale) */
    uint64_t reval_dropped;   /* ... and then removed */
    uint64_t sessions;        /* connections created */
    uint64_t rejects_sent;    /* answers built for rejected packets */
    uint64_t rejects_limited; /* rejects not answered: rate limit */
    uint64_t logs_suppressed; /* log lines not written: rate limit */
};

struct dfw_thread;

struct dfw_thread *dfw_thread_create(const struct dfw_options *);
void dfw_thread_destroy(struct dfw_thread *); /* NULL is fine */

/* SpoofGuard for a frame sent by the vNIC (parsed): true if it may pass.
 * dfw_spoofguard_fast() passes the common case (its MAC, IPv4 from its
 * first address) inline; what it does not pass, dfw_spoofguard_slow()
 * decides.  'router_lla' is the link-local address of the router of the
 * vNIC's segment (NULL: none), which the vNIC may not claim. */
bool dfw_spoofguard_slow(const struct dfw_vnic *, const struct dp_packet *,
                         const uint8_t *router_lla);

static inline bool
dfw_spoofguard_fast(const struct dfw_vnic *v, const struct dp_packet *p)
{
    return likely(p->pflags & DP_PF_IPV4) && v->n_ip4 &&
           rd32(p->data + p->l3_ofs + 12) == v->ip4[0] &&
           eth_addr_equals(&dp_packet_eth(p)->src, &v->mac);
}

/* Packet thread: the firewall check of 'n' (<= DP_BATCH_MAX) parsed
 * packets, each for vNIC vnics[i] (cls not NULL) in zone zones[i] and
 * direction dir_out[i] (1: sent by the vNIC).  Sets verdicts[i] to
 * DP_DROP_NONE (pass) or the drop reason; for DP_DROP_FW_REJECT the
 * caller may answer with dfw_reject_build().  'sets' may be NULL (no
 * address sets).  Packets are not freed. */
void dfw_check(struct dfw_thread *, const struct dfw_sets *sets,
               struct dp_packet **pkts, const struct dfw_vnic *const *vnics,
               const uint32_t *zones, const uint8_t *dir_out, int n,
               uint64_t now_ms, uint8_t *verdicts);

/* Packet thread: dfw_check() for 'n' packets of one vNIC, zone and
 * direction (a batch from one VIF).  When 'refs' is not NULL, refs[i]
 * remembers the connection of every packet that passed on conntrack's
 * fast path (for a flow cache, flowcache.h) and has conn 0 for the
 * rest. */
void dfw_check_vnic(struct dfw_thread *, const struct dfw_sets *sets,
                    struct dp_packet **pkts, int n, const struct dfw_vnic *vnic,
                    uint32_t zone, bool dir_out, uint64_t now_ms,
                    uint8_t *verdicts, struct ct_ref *refs);

/* Packet thread: the check of packets of one vNIC (cls not NULL) that
 * flow cache entries carry (flowcache.h: each stands in for the
 * connection that dfw_check_vnic() gave an earlier packet with the same
 * headers, same vNIC and direction): the established fast path on the
 * entry alone (ct_cached_pass()), counted like dfw_check() except for
 * the rule counters: those get a cached packet when its entry hands its
 * counts to the connection (ct_set_rule_counter(); the pipeline collects
 * them before counters are read, dp_pipeline_collect_counts()).  One
 * packet at a time, for a caller that fuses it with forwarding:
 * dfw_cached_begin() (false: no connection table, no packet passes),
 * dfw_cached_pass() for each packet in batch order until one fails (it
 * and the rest need dfw_check_vnic()), dfw_cached_end().  Other firewall
 * calls may come in between (as for ct_cached_begin()). */
struct dfw_cached {
    struct ct_cached ct;
    struct dfw_thread *th;
    int passed; /* packets that passed */
};

bool dfw_cached_begin(struct dfw_thread *, uint64_t now_ms,
                      struct dfw_cached *);
void dfw_cached_end(struct dfw_cached *);

/* 'p' on entry 'r' of tag 'tag' (dp_fc_tag()). */
static inline bool
dfw_cached_pass(struct dfw_cached *dc, const struct dp_packet *p,
                struct ct_cache_ref *r, uint64_t tag)
{
    if (!ct_cached_pass(&dc->ct, p, r, tag)) {
        return false;
    }
    dc->passed++;
    return true;
}

/* Packet thread: the cache whose entries will stand in for connections
 * of this thread's table (struct ct_cache_ops, with 'arg'), connected
 * now or when the table is made. */
void dfw_thread_set_cache(struct dfw_thread *, const struct ct_cache_ops *,
                          void *arg);

/* Packet thread: frees up to 'budget' expired connections. */
void dfw_expire(struct dfw_thread *, uint64_t now_ms, size_t budget);

/* True if 'orig' (parsed, rejected) may be answered at all: never a TCP
 * RST, an ICMP/ICMPv6 error or a non-first fragment, nor a packet to or
 * from a broadcast/multicast/unspecified address. */
bool dfw_reject_answerable(const struct dp_packet *orig);

/* Builds the answer to a rejected packet in a new buffer of 'pool': a TCP
 * RST (RFC 9293 3.10.7.1: seq = the segment's ACK, or ACK of its
 * sequence space) or an ICMP destination unreachable, administratively
 * prohibited (type 3 code 13, RFC 1812; quoting as much of the original
 * as fits in 576 bytes) or ICMPv6 type 1 code 1 (RFC 4443; up to the
 * 1280-byte minimum MTU), with full checksums.  Addresses are the
 * original's swapped (Ethernet and IP), VLAN tags are kept.  Returns NULL
 * if not answerable or the pool is empty.  The result is parsed. */
struct dp_packet *dfw_reject_build(const struct dp_packet *orig,
                                   struct dp_pool *pool);

/* Packet thread: the answer to rejected 'orig' if it may be answered
 * (dfw_reject_answerable()) and the rate limit allows (token bucket of
 * dfw_options.reject_rate/_burst per packet thread), else NULL.  Counts
 * dfw_stats.rejects_sent / rejects_limited. */
struct dp_packet *dfw_reject(struct dfw_thread *, const struct dp_packet *orig,
                             struct dp_pool *pool, uint64_t now_ms);

/* Packet thread: the conntrack table (NULL until the first check). */
struct ct_table *dfw_thread_ct(const struct dfw_thread *);

/* Any thread: counters of rule 'id' (zero if never counted). */
void dfw_thread_rule_counters(const struct dfw_thread *, uint32_t id,
                              struct dfw_rule_counters *);
/* Any thread: the stage's statistics (racy but untorn). */
void dfw_thread_stats(const struct dfw_thread *, struct dfw_stats *);

#endif
