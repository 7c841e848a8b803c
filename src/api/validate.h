/* Syntax checks for the scalar formats of the API: ids, IP addresses,
 * CIDR prefixes, MAC addresses, interface names and plain strings.  Pure
 * functions with no state; used by the object model (model.c). */
#ifndef WEFT_API_VALIDATE_H
#define WEFT_API_VALIDATE_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VAL_ID_MAX 64 /* longest object id */

/* An IPv4 or IPv6 address. */
struct val_ip {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* address, 4 or 16 bytes used */
};

/* True if 's' is a valid object id: 1 to VAL_ID_MAX characters from
 * [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool val_id(const char *s);

/* Parses an IPv4 or IPv6 address in its canonical text forms. */
bool val_ip_parse(const char *s, struct val_ip *ip);

/* Parses "addr/len".  The host bits may be set (a gateway address on its
 * subnet, "10.1.1.1/24") but 'len' must not leave no host addresses. */
bool val_cidr_parse(const char *s, struct val_ip *ip, unsigned *plen);

/* True if 'ip' lies in 'net'/'plen' (same family). */
bool val_ip_in_prefix(const struct val_ip *ip, const struct val_ip *net,
                      unsigned plen);

/* Parses an address set member: an address ("10.1.1.5", prefix length
 * 32 or 128) or a network "addr/len" with 0 <= len <= 32 (128) and no
 * host bits set.  'plen' receives the length. */
bool val_addr_parse(const char *s, struct val_ip *ip, unsigned *plen);

/* Parses a transport port "N" or range "N-M" (decimal, no sign or leading
 * zeros, 1 <= N <= M <= 65535); 'lo' and 'hi' may be NULL. */
bool val_port_range(const char *s, unsigned *lo, unsigned *hi);

/* True if the prefixes overlap (same family). */
bool val_prefix_overlap(const struct val_ip *a, unsigned alen,
                        const struct val_ip *b, unsigned blen);

/* Parses a unicast MAC "aa:bb:cc:dd:ee:ff" (case-insensitive) into 'mac'
 * (may be NULL).  Rejects multicast/broadcast and all-zero addresses. */
bool val_mac_parse(const char *s, uint8_t mac[6]);

/* True if 's' is a Linux interface name (1..15 chars, no '/', ':' or
 * whitespace). */
bool val_ifname(const char *s);

/* True if 's' is a DNS name: labels of 1..63 letters, digits and '-'
 * (not at either end) separated by single dots, an optional final dot,
 * at most 253 characters. */
bool val_dns_name(const char *s);

/* True if 's' has no ASCII control characters. */
bool val_printable(const char *s);

/* Number of Unicode characters in the UTF-8 string 's'. */
size_t val_utf8_len(const char *s);

#endif
