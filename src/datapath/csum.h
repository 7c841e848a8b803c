/* Internet checksum (RFC 1071) helpers: full sums over buffers, the
 * pseudo-headers of IPv4 and IPv6, and incremental update (RFC 1624). */
#ifndef WEFT_DP_CSUM_H
#define WEFT_DP_CSUM_H 1

#include <stddef.h>
#include <stdint.h>

/* Adds the 16-bit one's-complement sum of 'len' bytes to 'partial' and
 * returns the unfolded 32-bit accumulator. */
uint32_t csum_partial(const void *data, size_t len, uint32_t partial);
/* Folds an accumulator to 16 bits and complements it: the value to store
 * in a header (network byte order). */
uint16_t csum_finish(uint32_t partial);
/* Pseudo-header sums; addresses in network order, len in host order. */
uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto,
                          uint16_t len);
uint32_t csum_pseudo_ipv6(const void *src16, const void *dst16, uint8_t proto,
                          uint32_t len);
/* New checksum after a 16-bit field changed from 'old' to 'new' (all
 * network order), per RFC 1624 eqn. 3. */
uint16_t csum_update16(uint16_t csum, uint16_t old, uint16_t new_);
uint16_t csum_update32(uint16_t csum, uint32_t old, uint32_t new_);

#endif
