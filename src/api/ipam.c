/* Address ranges, EUI-64 and the lowest-free search (see ipam.h). */
#include "api/ipam.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

ipam_u128
ipam_to_u128(const struct val_ip *ip)
{
    size_t n = ip->family == AF_INET ? 4 : 16;
    ipam_u128 v = 0;

    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | ip->bytes[i];
    }
    return v;
}

void
ipam_from_u128(int family, ipam_u128 v, struct val_ip *ip)
{
    size_t n = family == AF_INET ? 4 : 16;

    memset(ip, 0, sizeof *ip);
    ip->family = family;
    for (size_t i = n; i-- > 0;) {
        ip->bytes[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

bool
ipam_range_parse(const char *s, struct val_ip *first, struct val_ip *last)
{
    const char *dash = strchr(s, '-');
    char a[64];

    if (!dash || (size_t)(dash - s) >= sizeof a) {
        return false;
    }
    memcpy(a, s, (size_t)(dash - s));
    a[dash - s] = '\0';
    return val_ip_parse(a, first) && val_ip_parse(dash + 1, last) &&
           first->family == last->family;
}

void
ipam_prefix_bounds(const struct val_ip *net, unsigned plen, ipam_u128 *lo,
                   ipam_u128 *hi)
{
    unsigned bits = net->family == AF_INET ? 32 : 128;
    ipam_u128 host = plen >= bits ? 0
                     : plen == 0  ? ~(ipam_u128)0
                                  : ((ipam_u128)1 << (bits - plen)) - 1;

    *lo = ipam_to_u128(net) & ~host;
    *hi = *lo | host;
}

void
ipam_eui64(const struct val_ip *prefix, const uint8_t mac[6],
           struct val_ip *out)
{
    *out = *prefix;
    out->bytes[8] = mac[0] ^ 0x02;
    out->bytes[9] = mac[1];
    out->bytes[10] = mac[2];
    out->bytes[11] = 0xff;
    out->bytes[12] = 0xfe;
    out->bytes[13] = mac[3];
    out->bytes[14] = mac[4];
    out->bytes[15] = mac[5];
}

/* The bounds of the range string 'v'; false if it is not one of
 * 'family'. */
static bool
ipam_bounds(const json_t *v, int family, ipam_u128 *lo, ipam_u128 *hi)
{
    struct val_ip a, b;
    const char *s = json_string_value(v);

    if (!s || !ipam_range_parse(s, &a, &b) || a.family != family) {
        return false;
    }
    *lo = ipam_to_u128(&a);
    *hi = ipam_to_u128(&b);
    return *lo <= *hi;
}

bool
ipam_in_ranges(const json_t *ranges, const struct val_ip *ip)
{
    ipam_u128 x = ipam_to_u128(ip), lo, hi;
    const json_t *v;
    size_t i;

    json_array_foreach(ranges, i, v)
    {
        if (ipam_bounds(v, ip->family, &lo, &hi) && x >= lo && x <= hi) {
            return true;
        }
    }
    return false;
}

/* If 'x' lies in an excluded range, the last address of that range. */
static bool
ipam_excluded_end(const json_t *excluded, int family, ipam_u128 x,
                  ipam_u128 *end)
{
    ipam_u128 lo, hi;
    const json_t *v;
    size_t i;

    json_array_foreach(excluded, i, v)
    {
        if (ipam_bounds(v, family, &lo, &hi) && x >= lo && x <= hi) {
            *end = hi;
            return true;
        }
    }
    return false;
}

bool
ipam_lowest_free(const json_t *ranges, const json_t *excluded, int family,
                 ipam_taken_fn *taken, void *aux, struct val_ip *out)
{
    ipam_u128 best = 0, lo, hi;
    bool found = false;
    const json_t *v;
    size_t i;

    json_array_foreach(ranges, i, v)
    {
        if (!ipam_bounds(v, family, &lo, &hi) || (found && lo >= best)) {
            continue;
        }
        for (ipam_u128 x = lo;;) {
            ipam_u128 end;
            struct val_ip ip;

            if (ipam_excluded_end(excluded, family, x, &end)) {
                if (end >= hi) {
                    break;
                }
                x = end + 1;
                continue;
            }
            ipam_from_u128(family, x, &ip);
            if (!taken(aux, &ip)) {
                if (!found || x < best) {
                    best = x;
                    found = true;
                }
                break;
            }
            if (x == hi || (found && x + 1 >= best)) {
                break;
            }
            x++;
        }
    }
    if (found) {
        ipam_from_u128(family, best, out);
    }
    return found;
}
