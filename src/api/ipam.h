/* IP address management for the management plane: address ranges
 * ("first-last"), 128-bit address arithmetic, EUI-64 interface
 * identifiers and the lowest-free search behind a port's
 * dynamic_addresses (docs/routing.md, "Model").  Pure functions over
 * val_ip values (validate.h) with no state; the write path (api-write.c)
 * decides which addresses are taken and the schema checks (model.c) use
 * the same range parser, so validation and assignment agree. */
#ifndef WEFT_API_IPAM_H
#define WEFT_API_IPAM_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/validate.h"

/* An address as an unsigned number (IPv4 in the low 32 bits). */
typedef unsigned __int128 ipam_u128;

ipam_u128 ipam_to_u128(const struct val_ip *ip);
void ipam_from_u128(int family, ipam_u128 v, struct val_ip *ip);

/* Parses the range "first-last": two addresses of one family, no spaces.
 * Does not require first <= last (the caller reports that separately);
 * false if malformed or the families differ. */
bool ipam_range_parse(const char *s, struct val_ip *first, struct val_ip *last);

/* The first and last address of the prefix 'net'/'plen' (host bits of
 * 'net' ignored): the network and, for IPv4, the broadcast address. */
void ipam_prefix_bounds(const struct val_ip *net, unsigned plen, ipam_u128 *lo,
                        ipam_u128 *hi);

/* The address of the /64 'prefix' with the modified EUI-64 interface
 * identifier of 'mac' (RFC 4291 appendix A: U/L bit flipped, ff:fe in the
 * middle) into 'out'. */
void ipam_eui64(const struct val_ip *prefix, const uint8_t mac[6],
                struct val_ip *out);

/* True if 'ip' lies in one of 'ranges' (a JSON array of valid range
 * strings; NULL = none). */
bool ipam_in_ranges(const json_t *ranges, const struct val_ip *ip);

/* Says whether 'ip' may not be handed out (another port has it, ...). */
typedef bool ipam_taken_fn(void *aux, const struct val_ip *ip);

/* Finds the lowest address of 'ranges' (valid range strings of 'family')
 * that is in none of 'excluded' (may be NULL) and not taken(); true with
 * it in 'out', false if there is none.  The search skips excluded ranges
 * in one step, so it costs O(taken addresses + ranges), never the size
 * of a range. */
bool ipam_lowest_free(const json_t *ranges, const json_t *excluded, int family,
                      ipam_taken_fn *taken, void *aux, struct val_ip *out);

#endif
