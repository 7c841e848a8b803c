/* Scalar format checks (see validate.h). */
#include "api/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
val_id(const char *s)
{
    size_t n = 0;

    if (!*s || *s == '.' || *s == '-') {
        return false;
    }
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= VAL_ID_MAX ||
            !(isalnum(c) || c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

bool
val_ip_parse(const char *s, struct val_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (strlen(s) > 45) {
        return false;
    }
    if (strchr(s, ':')) {
        ip->family = AF_INET6;
        return inet_pton(AF_INET6, s, ip->bytes) == 1;
    }
    ip->family = AF_INET;
    return inet_pton(AF_INET, s, ip->bytes) == 1;
}

bool
val_cidr_parse(const char *s, struct val_ip *ip, unsigned *plen)
{
    const char *slash = strchr(s, '/');
    char addr[64], *end;
    unsigned long len;
    unsigned max;

    if (!slash || (size_t)(slash - s) >= sizeof addr || !slash[1] ||
        strlen(slash + 1) > 3) {
        return false;
    }
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    if (!val_ip_parse(addr, ip)) {
        return false;
    }
    for (const char *p = slash + 1; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
    }
    len = strtoul(slash + 1, &end, 10);
    max = ip->family == AF_INET ? 32 : 128;
    /* A subnet needs room for at least a gateway and one host. */
    if (len > max - 1) {
        return false;
    }
    *plen = (unsigned)len;
    return true;
}

bool
val_addr_parse(const char *s, struct val_ip *ip, unsigned *plen)
{
    const char *slash = strchr(s, '/');
    char addr[64];
    unsigned long len;
    unsigned max;

    if (!slash) {
        if (!val_ip_parse(s, ip)) {
            return false;
        }
        *plen = ip->family == AF_INET ? 32 : 128;
        return true;
    }
    if ((size_t)(slash - s) >= sizeof addr || !slash[1] ||
        strlen(slash + 1) > 3 ||
        strspn(slash + 1, "0123456789") != strlen(slash + 1) ||
        (slash[1] == '0' && slash[2])) {
        return false;
    }
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    if (!val_ip_parse(addr, ip)) {
        return false;
    }
    len = strtoul(slash + 1, NULL, 10);
    max = ip->family == AF_INET ? 32 : 128;
    if (len > max) {
        return false;
    }
    /* No host bits. */
    for (unsigned i = (unsigned)len; i < max; i++) {
        if ((ip->bytes[i / 8] >> (7 - i % 8)) & 1) {
            return false;
        }
    }
    *plen = (unsigned)len;
    return true;
}

bool
val_port_range(const char *s, unsigned *lo, unsigned *hi)
{
    unsigned v[2] = {0, 0};
    int n = 0;

    for (;;) {
        size_t digits = strspn(s, "0123456789");
        if (!digits || digits > 5 || *s == '0') {
            return false;
        }
        for (size_t i = 0; i < digits; i++) {
            v[n] = v[n] * 10 + (unsigned)(s[i] - '0');
        }
        if (v[n] > 65535) {
            return false;
        }
        s += digits;
        n++;
        if (!*s) {
            break;
        }
        if (*s != '-' || n == 2) {
            return false;
        }
        s++;
    }
    if (n == 1) {
        v[1] = v[0];
    }
    if (v[0] > v[1]) {
        return false;
    }
    if (lo) {
        *lo = v[0];
    }
    if (hi) {
        *hi = v[1];
    }
    return true;
}

bool
val_ip_in_prefix(const struct val_ip *ip, const struct val_ip *net,
                 unsigned plen)
{
    if (ip->family != net->family) {
        return false;
    }
    for (unsigned i = 0; i < plen; i++) {
        unsigned byte = i / 8, bit = 7 - i % 8;
        if (((ip->bytes[byte] >> bit) & 1) != ((net->bytes[byte] >> bit) & 1)) {
            return false;
        }
    }
    return true;
}

bool
val_prefix_overlap(const struct val_ip *a, unsigned alen,
                   const struct val_ip *b, unsigned blen)
{
    return a->family == b->family &&
           val_ip_in_prefix(a, b, alen < blen ? alen : blen);
}

bool
val_mac_parse(const char *s, uint8_t mac[6])
{
    uint8_t m[6];
    bool zero = true;

    if (strlen(s) != 17) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
            (i < 5 && p[2] != ':')) {
            return false;
        }
        char hex[3] = {p[0], p[1], '\0'};
        m[i] = (uint8_t)strtoul(hex, NULL, 16);
        zero &= !m[i];
    }
    if (zero || (m[0] & 1)) {
        return false;
    }
    if (mac) {
        memcpy(mac, m, 6);
    }
    return true;
}

bool
val_ifname(const char *s)
{
    size_t n = strlen(s);

    if (!n || n > 15 || !strcmp(s, ".") || !strcmp(s, "..")) {
        return false;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == '/' || c == ':') {
            return false;
        }
    }
    return true;
}

bool
val_dns_name(const char *s)
{
    size_t n = strlen(s), label = 0;

    if (!n || n > 253 || (n > 1 && s[n - 1] == '.' && s[n - 2] == '.')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (!label || s[i - 1] == '-') {
                return false;
            }
            label = 0;
        } else if (isalnum(c) || (c == '-' && label)) {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return !label || s[n - 1] != '-';
}

bool
val_printable(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

size_t
val_utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}
