/* DHCPv4 lease table (dhcp-lease.h).
 *
 * Entries live in a fixed array of 'capacity' slots.  Two chained hash
 * indexes (by MAC, by address) point into it through 32-bit slot numbers,
 * so removing an entry is unlinking it from two short chains; the bucket
 * arrays have a power-of-two size of at least 'capacity', keeping chains
 * at about one entry.  Free slots form a stack. */
#include "datapath/dhcp-lease.h"

#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/util.h"

#define NIL UINT32_MAX

struct dhcp_leases {
    struct dhcp_lease *slots; /* 'capacity' entries */
    uint32_t *next_mac;       /* chain links of the MAC index */
    uint32_t *next_ip;        /* chain links of the address index */
    uint32_t *head_mac;       /* bucket heads, 'mask' + 1 of them */
    uint32_t *head_ip;
    uint32_t *free_stack; /* free slot numbers */
    uint32_t n_free;
    uint32_t capacity;
    uint32_t mask;
};

static const struct eth_addr zero_mac;

static uint32_t
mac_bucket(const struct dhcp_leases *t, const struct eth_addr *mac)
{
    return hash_bytes(mac->b, ETH_ADDR_LEN, 0x11) & t->mask;
}

static uint32_t
ip_bucket(const struct dhcp_leases *t, uint32_t ip)
{
    return hash_u64(ip, 0x22) & t->mask;
}

struct dhcp_leases *
dhcp_leases_create(uint32_t capacity)
{
    struct dhcp_leases *t = xcalloc(1, sizeof *t);
    uint32_t n = 1;

    capacity = MAX(capacity, 1);
    while (n < capacity) {
        n *= 2;
    }
    t->capacity = capacity;
    t->mask = n - 1;
    t->slots = xcalloc(capacity, sizeof *t->slots);
    t->next_mac = xmalloc(capacity * sizeof *t->next_mac);
    t->next_ip = xmalloc(capacity * sizeof *t->next_ip);
    t->free_stack = xmalloc(capacity * sizeof *t->free_stack);
    t->head_mac = xmalloc(n * sizeof *t->head_mac);
    t->head_ip = xmalloc(n * sizeof *t->head_ip);
    memset(t->head_mac, 0xff, n * sizeof *t->head_mac);
    memset(t->head_ip, 0xff, n * sizeof *t->head_ip);
    for (uint32_t i = 0; i < capacity; i++) {
        t->free_stack[i] = capacity - 1 - i; /* slot 0 is used first */
    }
    t->n_free = capacity;
    return t;
}

void
dhcp_leases_destroy(struct dhcp_leases *t)
{
    if (t) {
        free(t->slots);
        free(t->next_mac);
        free(t->next_ip);
        free(t->head_mac);
        free(t->head_ip);
        free(t->free_stack);
        free(t);
    }
}

uint32_t
dhcp_leases_capacity(const struct dhcp_leases *t)
{
    return t->capacity;
}

uint32_t
dhcp_leases_count(const struct dhcp_leases *t)
{
    return t->capacity - t->n_free;
}

struct dhcp_lease *
dhcp_leases_find_mac(const struct dhcp_leases *t, const struct eth_addr *mac)
{
    for (uint32_t i = t->head_mac[mac_bucket(t, mac)]; i != NIL;
         i = t->next_mac[i]) {
        if (eth_addr_equals(&t->slots[i].mac, mac)) {
            return &t->slots[i];
        }
    }
    return NULL;
}

struct dhcp_lease *
dhcp_leases_find_ip(const struct dhcp_leases *t, uint32_t ip)
{
    for (uint32_t i = t->head_ip[ip_bucket(t, ip)]; i != NIL;
         i = t->next_ip[i]) {
        if (t->slots[i].ip == ip) {
            return &t->slots[i];
        }
    }
    return NULL;
}

static bool
has_mac(const struct dhcp_lease *l)
{
    return !eth_addr_equals(&l->mac, &zero_mac);
}

static void
unlink_chain(uint32_t *head, uint32_t *next, uint32_t slot)
{
    for (uint32_t *p = head; *p != NIL; p = &next[*p]) {
        if (*p == slot) {
            *p = next[slot];
            return;
        }
    }
}

void
dhcp_leases_forget_mac(struct dhcp_leases *t, struct dhcp_lease *l)
{
    uint32_t slot = (uint32_t)(l - t->slots);

    if (has_mac(l)) {
        unlink_chain(&t->head_mac[mac_bucket(t, &l->mac)], t->next_mac, slot);
        l->mac = zero_mac;
    }
}

void
dhcp_leases_remove(struct dhcp_leases *t, struct dhcp_lease *l)
{
    uint32_t slot = (uint32_t)(l - t->slots);

    dhcp_leases_forget_mac(t, l);
    unlink_chain(&t->head_ip[ip_bucket(t, l->ip)], t->next_ip, slot);
    memset(l, 0, sizeof *l);
    t->free_stack[t->n_free++] = slot;
}

/* The dead entry (holding no address at 'now') that expired first, or
 * NULL.  O(capacity), only when the table is full. */
static struct dhcp_lease *
oldest_dead(struct dhcp_leases *t, uint64_t now)
{
    struct dhcp_lease *best = NULL;

    for (uint32_t i = 0; i < t->capacity; i++) {
        struct dhcp_lease *l = &t->slots[i];
        if (l->state && !dhcp_lease_is_live(l, now) &&
            (!best || l->expires < best->expires)) {
            best = l;
        }
    }
    return best;
}

struct dhcp_lease *
dhcp_leases_add(struct dhcp_leases *t, const struct eth_addr *mac, uint32_t ip,
                enum dhcp_lease_state state, uint64_t expires, uint64_t now)
{
    struct dhcp_lease *l;
    uint32_t slot;

    if (!t->n_free) {
        l = oldest_dead(t, now);
        if (!l) {
            return NULL;
        }
        dhcp_leases_remove(t, l);
    }
    slot = t->free_stack[--t->n_free];
    l = &t->slots[slot];
    l->mac = mac ? *mac : zero_mac;
    l->ip = ip;
    l->state = (uint8_t)state;
    l->is_static = 0;
    l->expires = expires;
    if (has_mac(l)) {
        uint32_t b = mac_bucket(t, &l->mac);
        t->next_mac[slot] = t->head_mac[b];
        t->head_mac[b] = slot;
    }
    uint32_t b = ip_bucket(t, ip);
    t->next_ip[slot] = t->head_ip[b];
    t->head_ip[b] = slot;
    return l;
}

const struct dhcp_lease *
dhcp_leases_slot(const struct dhcp_leases *t, uint32_t i)
{
    return i < t->capacity && t->slots[i].state ? &t->slots[i] : NULL;
}

uint32_t
dhcp_leases_expire(struct dhcp_leases *t, uint64_t now)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < t->capacity; i++) {
        struct dhcp_lease *l = &t->slots[i];
        if (l->state && !dhcp_lease_state_at(l, now)) {
            dhcp_leases_remove(t, l);
            n++;
        }
    }
    return n;
}
