/* Connection tracking for the stateful distributed firewall.
 *
 * A ct_table tracks connections per zone (the vNIC whose firewall saw
 * them) for TCP (a state machine over SYN/FIN/RST, and in strict mode
 * sequence-window checks after Rooij, "Real Stateful TCP Packet
 * Filtering"), UDP, ICMP/ICMPv6 echo (the identifier stands in for the
 * ports) and other IP protocols (addresses only), IPv4 and IPv6.  ICMP and
 * ICMPv6 errors are RELATED to the connection of the header they embed.
 *
 * One entry per connection, found from either direction through one
 * canonical key (the two endpoints in a fixed order) in an open-addressing
 * hash table; the entry remembers which endpoint opened the connection.
 *
 * Memory is bounded: the table holds at most 'max_entries' connections,
 * reserved up front (pages are touched only as entries are first used).
 * When it is full a new connection first reclaims expired entries and is
 * otherwise refused (counted in ct_stats.full); the table never grows.
 *
 * Time is passed in: every call that can expire something takes 'now' in
 * milliseconds of a monotonic clock.  Each entry carries its expiry; the
 * entries of one timeout class sit on one list in (roughly) expiry order,
 * so ct_expire() frees expired entries from the list heads in O(freed).
 * A lookup that finds an expired entry treats it as gone.
 *
 * Concurrency contract: a ct_table belongs to one thread.  No function
 * takes a lock; calls from another thread (ctl dump, flush on a rule
 * change) must be marshalled to the owning packet thread, e.g. run
 * between two batches.  The datapath keeps one table per packet thread;
 * both directions of a zone's traffic must be handled by the same thread
 * (the agent's single packet thread today; with more threads, steer by
 * zone).  Lookups never allocate. */
#ifndef WEFT_DP_CONNTRACK_H
#define WEFT_DP_CONNTRACK_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "datapath/packet.h"
#include "datapath/proto.h"

/* Connection states.  TCP uses SYN_SENT..CLOSED; UDP, ICMP and other
 * protocols use FIRST (only the opener has sent) and REPLIED. */
#define CT_STATES(X)                                                           \
    X(NONE)                                                                    \
    X(SYN_SENT)    /* SYN seen */                                              \
    X(SYN_RECV)    /* SYN+ACK seen */                                          \
    X(ESTABLISHED) /* handshake completed */                                   \
    X(FIN_WAIT)    /* one side sent FIN, not yet acknowledged */               \
    X(CLOSE_WAIT)  /* one FIN acknowledged, the other side still open */       \
    X(LAST_ACK)    /* both sides sent FIN, not both acknowledged */            \
    X(TIME_WAIT)   /* both FINs acknowledged */                                \
    X(CLOSED)      /* reset */                                                 \
    X(FIRST)       /* UDP/ICMP/other: unreplied */                             \
    X(REPLIED)     /* UDP/ICMP/other: replied */

enum ct_state {
#define CT_STATE_ENUM(NAME) CT_ST_##NAME,
    CT_STATES(CT_STATE_ENUM)
#undef CT_STATE_ENUM
        CT_N_STATES
};
const char *ct_state_name(enum ct_state);

/* Timeout classes, each with its own timeout. */
#define CT_TIMEOUTS(X)                                                         \
    X(TCP_SYN_SENT, 30)                                                        \
    X(TCP_SYN_RECV, 30)                                                        \
    X(TCP_ESTABLISHED, 43200)                                                  \
    X(TCP_FIN_WAIT, 120)                                                       \
    X(TCP_CLOSE_WAIT, 60)                                                      \
    X(TCP_LAST_ACK, 30)                                                        \
    X(TCP_TIME_WAIT, 120)                                                      \
    X(TCP_CLOSED, 10)                                                          \
    X(UDP_FIRST, 30)                                                           \
    X(UDP_REPLIED, 120)                                                        \
    X(ICMP_FIRST, 30)                                                          \
    X(ICMP_REPLIED, 10)                                                        \
    X(OTHER_FIRST, 60)                                                         \
    X(OTHER_REPLIED, 120)

enum ct_timeout {
#define CT_TIMEOUT_ENUM(NAME, SECS) CT_TO_##NAME,
    CT_TIMEOUTS(CT_TIMEOUT_ENUM)
#undef CT_TIMEOUT_ENUM
        CT_N_TIMEOUTS
};

struct ct_config {
    uint32_t max_entries; /* hard bound on tracked connections, 1 to
                           * CT_MAX_ENTRIES */
    bool strict;          /* TCP: only a SYN opens, and sequence numbers,
                           * acknowledgements and RSTs must be in window.
                           * Off: the state machine only, and a mid-stream
                           * ACK packet is picked up (e.g. after a restart) */
    bool check_dir;       /* a packet in the opener's orientation must have
                           * the opener's 'dir_out' (and a reply the other):
                           * otherwise CT_INVALID.  The firewall sets it:
                           * a zone's traffic arrives with its direction. */
    uint32_t timeout_ms[CT_N_TIMEOUTS]; /* per class; 0 = default */
};

/* Defaults: 'max_entries' 1,000,000, strict off, timeouts as above. */
void ct_config_default(struct ct_config *);

/* The most connections one table holds (ct_ref.conn's (index + 1) << 1
 * must fit 32 bits). */
#define CT_MAX_ENTRIES (1u << 24)

/* What a packet is to the connection tracker. */
enum ct_verdict {
    CT_NEW,         /* no connection: classify, then ct_commit() if allowed */
    CT_ESTABLISHED, /* belongs to a tracked connection (either direction) */
    CT_RELATED,     /* ICMP error about a tracked connection */
    CT_INVALID,     /* not acceptable for its connection's state: drop */
    CT_UNTRACKED,   /* not trackable (non-IP, non-first fragment, ICMP
                     * informational other than echo): stateless policy */
};
const char *ct_verdict_name(enum ct_verdict);

/* Canonical connection key: endpoints a < b; addresses are 16 bytes
 * (IPv4 as ::ffff:a.b.c.d), ports in network order (ICMP echo: the
 * identifier on the requester's side, 0 on the responder's). */
struct ct_key {
    uint64_t a[2], b[2];
    uint16_t pa, pb;
    uint32_t zone;
    uint32_t proto;
    uint32_t pad; /* always 0 */
};

/* A packet as the tracker sees it; filled by ct_process() and consumed
 * by ct_commit().  Lives on the caller's stack and refers to the packet,
 * which must stay unchanged until ct_commit() (or until the caller is done
 * with 'cp'): TCP sequence fields are read from it only when needed (the
 * established fast path never needs them). */
struct ct_pkt {
    struct ct_key key;
    uint32_t hash;
    uint8_t swapped;   /* packet's source is endpoint b */
    uint8_t sd;        /* internal: swapped ^ dir_out */
    uint8_t kind;      /* internal: protocol handling */
    uint8_t tcp_flags; /* TCP flags */
    uint8_t wscale;    /* TCP window-scale option in a SYN, 0xff none */
    uint32_t seq, ack; /* TCP, host order (valid with 'tcp_ready') */
    uint32_t seg_len;  /* TCP payload + SYN + FIN (same) */
    uint32_t win;      /* TCP window, unscaled (same) */
    uint32_t bytes;    /* frame length, for counters */
    uint8_t family;    /* 4 or 6 */
    uint8_t dir_out;   /* caller's direction: 1 = sent by the workload */
    uint8_t tcp_ready; /* internal: seq..win and wscale are filled */
    uint32_t cand;     /* internal: likely entry + 1 (ct_prepare_batch) */
    const struct dp_packet *pkt; /* the packet */
};

struct ct_stats {
    uint64_t lookups;     /* packets looked up */
    uint64_t hits;        /* ... that found a connection */
    uint64_t inserts;     /* connections created */
    uint64_t full;        /* connections refused: table full */
    uint64_t expired;     /* entries freed because they expired */
    uint64_t invalid;     /* CT_INVALID verdicts */
    uint64_t related;     /* CT_RELATED verdicts */
    uint64_t untracked;   /* CT_UNTRACKED verdicts */
    uint64_t flushed;     /* entries removed by flushes */
    uint32_t n_conns;     /* connections now */
    uint32_t max_entries; /* the bound */
};

struct ct_table;
struct ct_conn; /* one tracked connection (opaque) */

/* Creates a table; returns NULL (errno EINVAL) for max_entries 0. */
struct ct_table *ct_create(const struct ct_config *);
void ct_destroy(struct ct_table *); /* NULL is fine */

/* The per-packet entry point, after dp_parse().  'zone' is the vNIC the
 * firewall acts for; 'dir_out' says whether the workload sent the packet
 * (recorded on new connections).  Fills '*cp' (needed by ct_commit()),
 * and for ESTABLISHED/RELATED/INVALID-in-state sets '*conn' to the
 * connection (NULL otherwise).  ESTABLISHED updates the state, counters
 * and expiry. */
enum ct_verdict ct_process(struct ct_table *, const struct dp_packet *,
                           uint32_t zone, bool dir_out, uint64_t now_ms,
                           struct ct_pkt *cp, struct ct_conn **conn);

/* Batched form of ct_process() for 'n' packets (<= DP_BATCH_MAX) with one
 * zone and direction each: extracts and hashes them all, prefetches hash
 * slots and entries, then processes them in order.  Same results as n
 * calls of ct_process(). */
void ct_process_batch(struct ct_table *, struct dp_packet **pkts,
                      const uint32_t *zones, const uint8_t *dir_out, int n,
                      uint64_t now_ms, struct ct_pkt *cps,
                      enum ct_verdict *verdicts, struct ct_conn **conns);

/* ct_process_batch() in two steps, for a caller that commits new
 * connections between the packets of a batch (so a second packet of a new
 * flow finds the connection the first one opened):
 * ct_prepare_batch() extracts, hashes and prefetches all 'n' packets and
 * stores a preliminary verdict per packet (CT_NEW: to be looked up; other
 * values are final); ct_process_prepared() then finishes one packet, in
 * order.  Both count in ct_stats as ct_process() does. */
void ct_prepare_batch(struct ct_table *, struct dp_packet **pkts,
                      const uint32_t *zones, const uint8_t *dir_out, int n,
                      struct ct_pkt *cps, enum ct_verdict *pre);
/* The same with one zone and direction for the whole batch. */
void ct_prepare_batch1(struct ct_table *, struct dp_packet **pkts,
                       uint32_t zone, bool dir_out, int n, struct ct_pkt *cps,
                       enum ct_verdict *pre);
enum ct_verdict ct_process_prepared(struct ct_table *, const struct ct_pkt *,
                                    enum ct_verdict pre, uint64_t now_ms,
                                    struct ct_conn **conn);

/* ---- Standing in for a connection: the flow cache (flowcache.h). ----
 *
 * A flow cache entry may carry an established connection's packets on
 * its own: it remembers the connection (struct ct_cache_ref), counts the
 * packets it passes and hands the counts, with the expiry refresh they
 * earn, to the connection every 'gran' milliseconds of traffic (a
 * class's list granularity, at most a second and a sixteenth of its
 * timeout: ct_cache_sync()).  A hit so reads and writes its entry's cache
 * line and nothing else.  In return the table tells the cache when the
 * entry must stop: a connection has at most one entry, named by a tag
 * the cache chooses (never 0), and when it is freed, leaves the fast path
 * or is admitted under another rule, the table has the cache forget that
 * entry (struct ct_cache_ops), adding the counts it still held.  An idle
 * connection therefore expires between its timeout and its timeout plus
 * 'gran' after its last packet.  Counts that reach a connection from its
 * entry also go to its rule (ct_set_rule_counter()), and a collect
 * (ct_cache_collect()) hands them over before counters are read. */

/* A connection as the packet that took the fast path saw it, for binding
 * an entry to it within the same batch (ct_cache_bind()): the entry,
 * which use of it (the incarnation moves on when it is freed, leaves the
 * fast path or gets another rule) and the direction. */
struct ct_ref {
    uint32_t conn;   /* (entry index + 1) << 1 | CT_REF_REPLY; 0: none */
    uint32_t incarn; /* the entry's use when taken */
};

#define CT_REF_REPLY 1u /* ct_ref.conn, ct_cache_ref.conn: reply direction */

/* What a flow cache entry keeps of its connection (16 bytes). */
struct ct_cache_ref {
    uint32_t conn;    /* as ct_ref.conn; 0: none */
    uint32_t sync_at; /* ms, low 32 bits: when the counts go over next */
    uint32_t packets; /* passed since the last sync or collect */
    uint32_t bytes;   /* their bytes */
};

/* Bytes an entry may hold before it syncs whatever the time. */
#define CT_CACHE_SYNC_BYTES (1u << 31)

/* An entry that stands in for no connection: always due, so a hit on it
 * goes to ct_cache_sync(), which refuses it. */
#define CT_CACHE_NO_CONN ((struct ct_cache_ref){0, 0, 0, CT_CACHE_SYNC_BYTES})

/* The longest timeout a table takes (longer ones are cut to it). */
#define CT_TIMEOUT_MAX_MS (1u << 30)

/* The longest an entry may go without a sync before the table has the
 * cache forget it: a connection that packets on the full way (the other
 * direction) keep alive while the entry's side is silent must not
 * outlive the entry's 32-bit 'sync_at', which compares right only within
 * 2^31 ms of now.  Checked on each such packet; without them the
 * connection expires within its timeout (at most CT_TIMEOUT_MAX_MS). */
#define CT_CACHE_MAX_UNSYNCED_MS (1u << 29)

/* How a table reaches the cache whose entries stand in for its
 * connections.  'conn' is the connection as in ct_ref.conn without the
 * direction bit. */
struct ct_cache_ops {
    /* Removes the entry of tag 'tag' for connection 'conn' (if it is still
     * there), adding the counts it held to packets[dir] and bytes[dir]. */
    void (*forget)(void *arg, uint64_t tag, uint32_t conn, uint64_t *packets,
                   uint64_t *bytes);
    /* The same counts, added without changing the entry. */
    void (*peek)(const void *arg, uint64_t tag, uint32_t conn,
                 uint64_t *packets, uint64_t *bytes);
};

/* Connects the table to its cache (one per table; NULL ops: none),
 * first forgetting every entry of the cache it had.  The cache must
 * outlive the table's use or be detached first. */
void ct_set_cache(struct ct_table *, const struct ct_cache_ops *, void *arg);

/* Where the counts of the packets a flow cache entry carried go besides
 * its connection: when they reach it (a sync, the entry's end,
 * ct_cache_collect()), 'fn' gets them with the connection's rule.  The
 * firewall's rule counters take cached packets this way; a cache hit
 * counts no rule itself (decision 67).  NULL: nowhere. */
typedef void ct_rule_count_fn(void *arg, uint32_t rule_id, uint64_t packets,
                              uint64_t bytes);
void ct_set_rule_counter(struct ct_table *, ct_rule_count_fn *, void *arg);

/* Takes 'ref' of connection 'c', the connection of prepared packet 'cp',
 * which took the fast path. */
void ct_ref_set(const struct ct_table *, const struct ct_conn *c,
                const struct ct_pkt *cp, struct ct_ref *ref);

/* Makes the entry of tag 'tag', made at 'now_ms', the one that stands in
 * for the connection of 'ref', if that is still the use 'ref' saw (else
 * false: do not make the entry).  The connection's earlier entry, if
 * any, is forgotten first (its counts kept), so call this before
 * choosing a slot. */
bool ct_cache_bind(struct ct_table *, const struct ct_ref *ref, uint64_t tag,
                   uint64_t now_ms);

/* The cache is overwriting entry 'r' of tag 'tag': its counts go to the
 * connection (the entry's are zeroed), which no longer has an entry. */
void ct_cache_unbind(struct ct_table *, struct ct_cache_ref *r, uint64_t tag);

/* Hands the counts entry 'r' of tag 'tag' holds to its connection (and
 * its rule) now, as a sync would, but leaves the expiry and the next sync
 * as they are: every packet the entry counted came before its 'sync_at',
 * which the connection's expiry already covers.  Nothing for an entry of
 * no connection.  The cache walks its entries with this when counters
 * are read (dp_fc_collect()). */
void ct_cache_collect(struct ct_table *, struct ct_cache_ref *r, uint64_t tag);

/* Out of line part of ct_cached_pass(): hands the counts of entry 'r' of
 * tag 'tag' to its connection and refreshes the connection's expiry, as
 * the packets would have; false (and nothing changed) if the entry has no
 * connection, or the connection has expired or is not the entry's: the
 * packet needs the full way. */
bool ct_cache_sync(struct ct_table *, struct ct_cache_ref *r, uint64_t tag,
                   uint64_t now_ms);

/* The established fast path for packets a flow cache entry carries, one
 * packet at a time, for a caller that fuses it with its own work on the
 * packet: ct_cached_begin() once, ct_cached_pass() for each packet in
 * order until one fails or all are done, ct_cached_end() with the number
 * that passed.  Other table calls may come in between (the pipeline's IN
 * queue may be checked when it fills): such a call may make the cache
 * forget an entry, which then fails. */
struct ct_cached {
    struct ct_table *ct;
    uint64_t now;   /* ms */
    uint32_t now32; /* its low 32 bits */
};

void ct_cached_begin(struct ct_table *, uint64_t now_ms, struct ct_cached *);
void ct_cached_end(struct ct_cached *, int n_passed);

/* Counts packet 'p' on entry 'r' of tag 'tag' if the entry still stands
 * in for a connection and the packet can change nothing but counters and
 * expiry (for TCP: no SYN, FIN or RST), syncing when due.  Else returns
 * false and changes nothing: the packet needs the full way.  'p' must be
 * a whole TCP or UDP segment with the headers the entry was made for.
 * An entry for no connection (CT_CACHE_NO_CONN) is always due. */
static inline bool
ct_cached_pass(const struct ct_cached *cc, const struct dp_packet *p,
               struct ct_cache_ref *r, uint64_t tag)
{
    if (p->ip_proto == IPPROTO_TCP_ &&
        p->data[p->l4_ofs + 13] & (TCP_SYN | TCP_FIN | TCP_RST)) {
        return false;
    }
    /* Due ((int32_t)(now32 - sync_at) >= 0) or bytes >= 2^31
     * (CT_CACHE_SYNC_BYTES): either clears the sign bit of this. */
    if (unlikely((int32_t)((cc->now32 - r->sync_at) & ~r->bytes) >= 0) &&
        !ct_cache_sync(cc->ct, r, tag, cc->now)) {
        return false;
    }
    r->packets++;
    r->bytes += p->len;
    return true;
}

/* The established fast path over prepared packets: from index 'i' on,
 * finishes every packet that is ESTABLISHED on a connection admitted
 * under generation want_gen[k] and needs no state change (for TCP: an
 * established connection without FINs, a segment without SYN, FIN or RST,
 * no window checks), setting conns[k].  Stops at the first packet that is
 * anything else and returns its index (n when all were finished); the
 * caller handles that one with ct_process_prepared() and may resume after
 * it.  Same results and statistics as ct_process_prepared(). */
int ct_process_fast(struct ct_table *, const struct ct_pkt *cps,
                    const enum ct_verdict *pre, const uint32_t *want_gen, int i,
                    int n, uint64_t now_ms, struct ct_conn **conns);

/* Creates the connection for a packet ct_process() called CT_NEW, admitted
 * by rule 'rule_id' of policy generation 'gen'.  Returns the connection,
 * or NULL if the table is full even after reclaiming expired entries
 * (counted in ct_stats.full: the caller drops the packet).  If the
 * connection exists by now (same key committed earlier in the batch), it
 * returns it. */
struct ct_conn *ct_commit(struct ct_table *, const struct ct_pkt *,
                          uint64_t now_ms, uint32_t rule_id, uint32_t gen);

/* Switches TCP strict mode (ct_config.strict) at run time.  It decides
 * what may open a connection from now on and how connections opened from
 * now on are checked; a tracked connection keeps the mode it was opened
 * under (a loose one has no window state to check against), so switching
 * never breaks an established connection. */
void ct_set_strict(struct ct_table *, bool strict);

/* Frees up to 'budget' expired entries; returns how many.  Call once per
 * poll-loop iteration (or every millisecond or so). */
size_t ct_expire(struct ct_table *, uint64_t now_ms, size_t budget);

/* The start of every connection, for the inline accessors below (the
 * rest of struct ct_conn belongs to conntrack.c). */
struct ct_conn_head {
    uint32_t incarn;  /* internal */
    uint32_t gen;     /* policy generation it was admitted under */
    uint32_t rule_id; /* rule that admitted it */
};

/* Accessors for the pipeline. */
static inline uint32_t
ct_conn_rule(const struct ct_conn *c)
{
    return ((const struct ct_conn_head *)(const void *)c)->rule_id;
}

static inline uint32_t
ct_conn_gen(const struct ct_conn *c)
{
    return ((const struct ct_conn_head *)(const void *)c)->gen;
}
/* Re-admits the connection under a new rule/generation (revalidation
 * after a policy change found it still allowed). */
void ct_conn_set_rule(struct ct_table *, struct ct_conn *, uint32_t rule_id,
                      uint32_t gen);

/* The generation of a connection that revalidation found refused: no
 * rules generation takes this value.  A denied connection stays in the
 * table until it expires or closes, so later packets of its flow, either
 * way, find it (and are checked again) instead of opening a connection of
 * their own by loose pickup, which would let the responder's next segment
 * reopen the flow the rules just closed.  The fast paths never pass it:
 * its generation matches no vNIC's. */
#define CT_GEN_DENIED UINT32_MAX

/* Marks the connection refused by rule 'rule_id' (see CT_GEN_DENIED). */
static inline void
ct_conn_deny(struct ct_table *ct, struct ct_conn *c, uint32_t rule_id)
{
    ct_conn_set_rule(ct, c, rule_id, CT_GEN_DENIED);
}

static inline bool
ct_conn_denied(const struct ct_conn *c)
{
    return ct_conn_gen(c) == CT_GEN_DENIED;
}
/* Removes one connection (e.g. revalidation found it now dropped). */
void ct_conn_delete(struct ct_table *, struct ct_conn *);

/* A connection as shown by `weft-agent ctl conntrack`. */
struct ct_conn_info {
    uint32_t zone;
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    uint8_t dir_out; /* opened by the workload (egress) */
    uint8_t src[16]; /* opener's address: 4 or 16 bytes used */
    uint8_t dst[16]; /* responder's address */
    uint16_t sport;  /* host order; ICMP echo: identifier */
    uint16_t dport;  /* host order */
    enum ct_state state;
    uint64_t expires_in_ms;
    uint64_t packets[2]; /* [0] opener -> responder, [1] reply */
    uint64_t bytes[2];
    uint32_t rule_id;
    uint32_t gen;
    uint8_t tcp_checks; /* TCP: CT_TCP_LOOSE, CT_TCP_STRICT, CT_TCP_PICKUP */
};

/* How a TCP connection is checked (ct_conn_info.tcp_checks); a connection
 * keeps the mode it was opened under (ct_set_strict()). */
enum {
    CT_TCP_LOOSE = 1,  /* opened by a SYN: the state machine only */
    CT_TCP_STRICT = 2, /* opened by a SYN in strict mode: sequence windows */
    CT_TCP_PICKUP = 3, /* picked up mid-stream (loose mode): state only */
};

void ct_conn_get_info(const struct ct_table *, const struct ct_conn *,
                      uint64_t now_ms, struct ct_conn_info *);
/* One human-readable line (no newline); returns snprintf()'s result. */
int ct_conn_format(const struct ct_conn_info *, char *buf, size_t size);

/* Calls 'cb' for every live connection (in table order) until it returns
 * false.  'cb' must not change the table. */
void ct_iterate(const struct ct_table *, uint64_t now_ms,
                bool (*cb)(const struct ct_conn_info *, void *), void *arg);

/* Removes every connection for which 'pred' returns true; returns how
 * many.  O(table size). */
size_t ct_flush(struct ct_table *,
                bool (*pred)(const struct ct_conn_info *, void *), void *arg);
/* Removes every connection admitted by rule 'rule_id' (a drop rule was
 * added above it, or it was deleted).  Returns how many. */
size_t ct_flush_rule(struct ct_table *, uint32_t rule_id);
/* Removes every connection of 'zone' (a vNIC went away). */
size_t ct_flush_zone(struct ct_table *, uint32_t zone);

/* Bounded-work forms for a packet thread that must not stall: each looks
 * at most 'max_scan' entry slots starting at 'cursor' (0 to begin) and
 * returns the cursor to continue from, or UINT32_MAX when done.
 * ct_dump_chunk() copies up to 'max_out' live connections into 'out'
 * (setting '*n_out'); ct_flush_zone_chunk() removes the connections of
 * 'zone' (adding to '*n_flushed').  A dump made of chunks is not an atomic
 * snapshot: connections opened or closed meanwhile may be missed. */
uint32_t ct_dump_chunk(const struct ct_table *, uint64_t now_ms,
                       uint32_t cursor, uint32_t max_scan,
                       struct ct_conn_info *out, size_t max_out, size_t *n_out);
uint32_t ct_flush_zone_chunk(struct ct_table *, uint32_t zone, uint32_t cursor,
                             uint32_t max_scan, size_t *n_flushed);

void ct_get_stats(const struct ct_table *, struct ct_stats *);
/* Bytes of memory one entry costs (entry + its share of the hash table at
 * full occupancy). */
size_t ct_bytes_per_entry_nominal(const struct ct_table *);

#endif
