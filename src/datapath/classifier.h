/* Firewall rule classifier: the rules applied to one vNIC, compiled into a
 * structure whose lookup cost does not grow with a linear scan of rules.
 *
 * Algorithm (Lakshman-Stiliadis bit-vector intersection over per-field
 * lookups).  Rules are ranked by (priority, id); rank r is bit r of every
 * bitmap.  Each field of a packet is looked up on its own and yields the
 * bitmap of rules whose condition on that field holds:
 *   - source / destination address: the shared address-set index
 *     (addrset.h) gives the ids of the sets containing the address; the
 *     classifier keeps, per referenced set id, a sparse bitmap of the rules
 *     naming it, ORed together with the dense bitmap of "any" rules.
 *   - service: an interval index over (protocol << 16 | port) whose atoms
 *     are the distinct (protocol, range) pairs of the rules; ICMP and ICMPv6
 *     use (type << 8 | code) as the "port".  Sparse per-atom bitmaps, ORed
 *     with "any service".
 *   - direction and IP family: four dense precomputed bitmaps.
 * The first set bit of the AND of the four bitmaps is the highest-priority
 * matching rule (first match); the scan stops at the first non-zero word.
 * A lookup costs two address-index binary searches, one service binary
 * search, and O(rules / 64) word operations: for 10,000 rules 157 words.
 *
 * Address sets are referenced by id, so a membership change rebuilds only
 * the as_index (the classifier is untouched); a rule change recompiles the
 * classifier of the vNICs the rule applies to.
 *
 * A compiled classifier is immutable: any number of threads may look up in
 * it concurrently.  Lookups never allocate (the scratch space is a
 * per-thread buffer that grows only when a bigger classifier is first
 * used). */
#ifndef WEFT_DP_CLASSIFIER_H
#define WEFT_DP_CLASSIFIER_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/addrset.h"
#include "datapath/packet.h"

/* Direction relative to the vNIC: IN is traffic delivered to the
 * workload, OUT is traffic the workload sends. */
#define CLS_DIR_IN   0x1
#define CLS_DIR_OUT  0x2
#define CLS_DIR_BOTH (CLS_DIR_IN | CLS_DIR_OUT)

#define CLS_FAM_V4   0x1
#define CLS_FAM_V6   0x2
#define CLS_FAM_BOTH (CLS_FAM_V4 | CLS_FAM_V6)

enum cls_action {
    CLS_ALLOW = 0,
    CLS_DROP = 1,
    CLS_REJECT = 2, /* drop and answer with TCP RST or ICMP unreachable */
};

#define CLS_F_LOGGED 0x1 /* log one line per new connection */
#define CLS_F_STATELESS                                                        \
    0x2 /* from a stateless policy: a match creates no
                             * conntrack entry, every packet is classified */

#define CLS_ANY_PROTO 0xffff /* a service matching every protocol */

/* One service: a protocol and, for TCP/UDP (and SCTP, DCCP, UDP-Lite), a
 * destination port range; for ICMP/ICMPv6 a type range and code range
 * expressed as [type_lo << 8 | code_lo, type_hi << 8 | code_hi] (use
 * cls_service_icmp()); for other protocols the range is ignored. */
struct cls_service {
    uint16_t proto;   /* IP protocol number, or CLS_ANY_PROTO */
    uint16_t port_lo; /* inclusive */
    uint16_t port_hi; /* inclusive */
};

/* ICMP type 'type' (-1 any) and code 'code' (-1 any). */
static inline struct cls_service
cls_service_icmp(uint8_t proto, int type, int code)
{
    struct cls_service s = {proto, 0, 0xffff};
    if (type >= 0) {
        s.port_lo = (uint16_t)(type << 8 | (code >= 0 ? code : 0));
        s.port_hi = (uint16_t)(type << 8 | (code >= 0 ? code : 0xff));
    }
    return s;
}

/* A rule as the agent hands it over (all arrays are copied). */
struct cls_rule {
    uint32_t id;       /* stable rule id (logs, conntrack, counters) */
    uint32_t priority; /* lower is evaluated first; ties by id */
    const uint32_t *src_sets;
    uint32_t n_src; /* 0: any source */
    const uint32_t *dst_sets;
    uint32_t n_dst; /* 0: any destination */
    const struct cls_service *services;
    uint32_t n_services; /* 0: any service */
    uint8_t dir;         /* CLS_DIR_* (0 is treated as both) */
    uint8_t family;      /* CLS_FAM_* (0 is treated as both) */
    uint8_t action;      /* enum cls_action */
    uint8_t flags;       /* CLS_F_* */
};

/* What a lookup returns: the matching rule, or the default rule. */
struct cls_result {
    uint32_t rule_id;
    uint32_t rank; /* rule's position in priority order; UINT32_MAX for
                    * the default rule (index for per-rule counters) */
    uint8_t action;
    uint8_t flags;
};

/* The fields of a packet the classifier looks at.  Addresses are keys as
 * made by as_key_v4()/as_key_v6(). */
struct cls_key {
    struct as_u128 src, dst;
    uint8_t family; /* 4 or 6 */
    uint8_t dir;    /* CLS_DIR_IN or CLS_DIR_OUT */
    uint8_t proto;  /* IP protocol */
    uint16_t port;  /* TCP/UDP destination port; ICMP type << 8 | code;
                     * 0 otherwise */
};

struct cls;

/* Compiles 'n' rules with 'deflt' as the result when none matches.
 * Never returns NULL. */
struct cls *cls_compile(const struct cls_rule *rules, size_t n,
                        struct cls_result deflt);
void cls_free(struct cls *); /* NULL is fine */
size_t cls_n_rules(const struct cls *);
/* The OR of the flags of every rule and of the default result. */
uint8_t cls_flags_union(const struct cls *);
/* Bytes of memory the compiled classifier holds. */
size_t cls_memory(const struct cls *);

/* First-match lookup of 'k' with address sets from 'asx'.  Never
 * allocates after the first call with a classifier of this size on this
 * thread; thread-safe. */
struct cls_result cls_lookup(const struct cls *, const struct as_index *asx,
                             const struct cls_key *k);

/* Fills 'k' from a parsed IPv4/IPv6 packet (dp_parse() succeeded) going
 * in direction 'dir'.  Returns false for non-IP frames.  Non-first
 * fragments get port 0. */
bool cls_key_from_packet(const struct dp_packet *, uint8_t dir,
                         struct cls_key *k);

/* True if the protocol carries a port in the service sense. */
static inline bool
cls_proto_has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 33 || proto == 132 ||
           proto == 136;
}

#endif
