/* DHCPv4 lease table: which address each client MAC holds, and until when.
 *
 * One table per segment, owned by that segment's DHCP server (dhcp.h); it
 * knows nothing of the protocol, only of entries and their two indexes.  A
 * table holds at most 'capacity' entries, fixed at creation, so a client
 * flooding DISCOVERs with random MACs cannot grow it: when it is full, the
 * oldest entry that no longer holds an address (released, expired, or a
 * declined address whose hold time is over) is recycled, and if there is
 * none, adding fails.
 *
 * Invariants: a MAC has at most one entry and an address at most one
 * entry.  Time is whatever unit the caller's 'now' is in (dhcp.h uses
 * seconds); nothing here reads a clock.
 *
 * Not thread-safe: the owner (the agent thread that answers DHCP) is the
 * only user.  The datapath's packet threads never touch it. */
#ifndef WEFT_DP_DHCP_LEASE_H
#define WEFT_DP_DHCP_LEASE_H 1

#include <stdbool.h>
#include <stdint.h>

#include "datapath/proto.h"

#define DHCP_NEVER UINT64_MAX /* 'expires' of an infinite lease */

enum dhcp_lease_state {
    DHCP_LEASE_OFFERED = 1, /* address offered to 'mac' until 'expires' */
    DHCP_LEASE_BOUND,       /* address leased to 'mac' until 'expires' */
    DHCP_LEASE_RELEASED,    /* released or expired: address free again,
                             * remembered so 'mac' gets it back first */
    DHCP_LEASE_DECLINED,    /* a client saw the address in use: nobody gets
                             * it until 'expires'; 'mac' is all-zero */
};

struct dhcp_lease {
    struct eth_addr mac; /* the client; zero for DECLINED */
    uint8_t state;       /* enum dhcp_lease_state; 0 = empty slot */
    uint8_t is_static;   /* 1: from a static binding of the config */
    uint32_t ip;         /* host byte order */
    uint64_t expires;    /* end of the state, in 'now' units; DHCP_NEVER */
};

/* The state at 'now': OFFERED/BOUND past 'expires' read as RELEASED, and a
 * DECLINED past 'expires' as 0 (nothing: the entry is garbage). */
static inline enum dhcp_lease_state
dhcp_lease_state_at(const struct dhcp_lease *l, uint64_t now)
{
    if (now < l->expires || l->state == DHCP_LEASE_RELEASED) {
        return (enum dhcp_lease_state)l->state;
    }
    return l->state == DHCP_LEASE_DECLINED ? 0 : DHCP_LEASE_RELEASED;
}

/* True if the entry still keeps its address from everyone but its MAC. */
static inline bool
dhcp_lease_is_live(const struct dhcp_lease *l, uint64_t now)
{
    enum dhcp_lease_state s = dhcp_lease_state_at(l, now);
    return s == DHCP_LEASE_OFFERED || s == DHCP_LEASE_BOUND ||
           s == DHCP_LEASE_DECLINED;
}

struct dhcp_leases;

/* Creates an empty table for at most 'capacity' (>= 1) entries.  Never
 * returns NULL. */
struct dhcp_leases *dhcp_leases_create(uint32_t capacity);
void dhcp_leases_destroy(struct dhcp_leases *); /* NULL is fine */

uint32_t dhcp_leases_capacity(const struct dhcp_leases *);
uint32_t dhcp_leases_count(const struct dhcp_leases *);

/* Lookups; NULL if absent.  The pointer stays valid until the entry is
 * removed or recycled (any call that adds). */
struct dhcp_lease *dhcp_leases_find_mac(const struct dhcp_leases *,
                                        const struct eth_addr *);
struct dhcp_lease *dhcp_leases_find_ip(const struct dhcp_leases *, uint32_t ip);

/* Adds an entry for ('mac', 'ip'), which must both be absent from the
 * table ('mac' NULL for a DECLINED entry).  Recycles the oldest dead entry
 * at 'now' if the table is full; returns NULL if there is none. */
struct dhcp_lease *dhcp_leases_add(struct dhcp_leases *,
                                   const struct eth_addr *mac, uint32_t ip,
                                   enum dhcp_lease_state, uint64_t expires,
                                   uint64_t now);
/* Removes the entry (a pointer from this table). */
void dhcp_leases_remove(struct dhcp_leases *, struct dhcp_lease *);
/* Drops the MAC from an entry (it becomes nobody's: DECLINED). */
void dhcp_leases_forget_mac(struct dhcp_leases *, struct dhcp_lease *);

/* Iteration over slots 0 .. capacity-1: NULL for empty slots.  For dumps
 * and the API's binding list. */
const struct dhcp_lease *dhcp_leases_slot(const struct dhcp_leases *,
                                          uint32_t i);

/* Removes every entry that is dead at 'now' (DECLINED past its hold);
 * RELEASED entries stay as memory for their MAC.  Returns how many. */
uint32_t dhcp_leases_expire(struct dhcp_leases *, uint64_t now);

#endif
