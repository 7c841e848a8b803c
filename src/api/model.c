/* Object model: schemas, paths and keys (see model.h). */
#include "api/model.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/ipam.h"
#include "lib/util.h"

static const char *const admin_states[] = {"up", "down", NULL};
static const char *const host_states[] = {"unknown", "up", "down", NULL};
static const char *const encaps[] = {"geneve", "vxlan", NULL};
static const char *const condition_keys[] = {"tag", "name", "segment", NULL};
static const char *const operators[] = {"equals", "contains", "starts_with",
                                        "ends_with", NULL};
static const char *const protocols[] = {"TCP",    "UDP", "ICMPv4",
                                        "ICMPv6", "IP",  NULL};
static const char *const categories[] = {"emergency", "infrastructure",
                                         "environment", "application", NULL};
static const char *const directions[] = {"in", "out", "in_out", NULL};
static const char *const ip_protocols[] = {"ipv4", "ipv6", "ipv4_ipv6", NULL};
static const char *const rule_actions[] = {"allow", "drop", "reject", NULL};
static const char *const default_actions[] = {"allow", "drop", NULL};
static const char *const seg_spoofguard[] = {"enabled", "disabled", NULL};
static const char *const port_spoofguard[] = {"inherit", "enabled", "disabled",
                                              NULL};
/* Resource types an MF_REF may name. */
static const char *const member_ref_types[] = {"SegmentPort", "Segment",
                                               "Group", NULL};
static const char *const group_ref_types[] = {"Group", NULL};
static const char *const service_ref_types[] = {"Service", NULL};

static const struct model_field tag_fields[] = {
    {"scope", MF_STRING, 0, 0, 128, NULL, NULL, "tag scope"},
    {"tag", MF_STRING, MF_REQUIRED, 1, 256, NULL, NULL, "tag value"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
static const struct model_field tag_elem[] = {
    {"tag", MF_OBJECT, 0, 0, 0, NULL, tag_fields, "a scope|tag pair"},
};

#define COMMON_FIELDS                                                          \
    {"display_name", MF_STRING, 0, 0, 255, NULL, NULL, "human name"},          \
        {"description", MF_STRING, 0, 0, 1024, NULL, NULL, "free text"},       \
    {                                                                          \
        "tags", MF_ARRAY, MF_UNIQUE, 0, 30, NULL, tag_elem, "tags"             \
    }
#define END_FIELDS                                                             \
    {                                                                          \
        NULL, 0, 0, 0, 0, NULL, NULL, NULL                                     \
    }

static const struct model_field project_fields[] = {
    COMMON_FIELDS,
    END_FIELDS,
};

/* ---- Subnets: DHCPv4, IPv6 address modes, DHCPv6. ---- */

static const struct model_field ip_elem[] = {
    {"ip", MF_IP, 0, 0, 0, NULL, NULL, "an IP address"},
};
static const struct model_field range_elem[] = {
    {"range", MF_STRING, 0, 3, 91, NULL, NULL,
     "first-last, e.g. 10.1.1.100-10.1.1.200"},
};
static const struct model_field binding_fields[] = {
    {"mac_address", MF_MAC, MF_REQUIRED, 0, 0, NULL, NULL, "a unicast MAC"},
    {"ip_address", MF_IP, MF_REQUIRED, 0, 0, NULL, NULL,
     "the address that MAC always gets"},
    END_FIELDS,
};
static const struct model_field binding_elem[] = {
    {"binding", MF_OBJECT, 0, 0, 0, NULL, binding_fields, "a static binding"},
};
static const struct model_field csr_fields[] = {
    {"network", MF_ADDR, MF_REQUIRED, 0, 0, NULL, NULL,
     "IPv4 network without host bits"},
    {"next_hop", MF_IP, MF_REQUIRED, 0, 0, NULL, NULL,
     "IPv4 address in the subnet"},
    END_FIELDS,
};
static const struct model_field csr_elem[] = {
    {"route", MF_OBJECT, 0, 0, 0, NULL, csr_fields, "a classless route"},
};
static const struct model_field dhcp_fields[] = {
    {"ranges", MF_ARRAY, MF_UNIQUE, 0, 32, NULL, range_elem,
     "address pools, first-last, inside the subnet"},
    {"excluded_ranges", MF_ARRAY, MF_UNIQUE, 0, 32, NULL, range_elem,
     "addresses of the ranges never handed out"},
    {"static_bindings", MF_ARRAY, MF_UNIQUE, 0, 1024, NULL, binding_elem,
     "fixed MAC -> address assignments"},
    {"lease_time", MF_INT, 0, 60, 31536000, NULL, NULL,
     "seconds (default 86400)"},
    {"dns_servers", MF_ARRAY, MF_UNIQUE, 0, 8, NULL, ip_elem,
     "IPv4 DNS servers (option 6)"},
    {"domain_name", MF_STRING, 0, 1, 253, NULL, NULL, "DNS domain (option 15)"},
    {"mtu", MF_INT, 0, 68, 9000, NULL, NULL, "interface MTU (option 26)"},
    {"classless_static_routes", MF_ARRAY, MF_UNIQUE, 0, 16, NULL, csr_elem,
     "option 121 routes"},
    END_FIELDS,
};
static const struct model_field dhcpv6_fields[] = {
    {"ranges", MF_ARRAY, MF_UNIQUE, 0, 32, NULL, range_elem,
     "address pools for dhcpv6_stateful, inside the subnet"},
    {"dns_servers", MF_ARRAY, MF_UNIQUE, 0, 8, NULL, ip_elem,
     "IPv6 DNS servers"},
    {"domain_name", MF_STRING, 0, 1, 253, NULL, NULL, "DNS search domain"},
    END_FIELDS,
};
static const char *const ipv6_modes[] = {"slaac", "dhcpv6_stateful",
                                         "dhcpv6_stateless", "static", NULL};

static const struct model_field subnet_fields[] = {
    {"gateway_address", MF_CIDR, MF_REQUIRED, 0, 0, NULL, NULL,
     "gateway address with prefix length, e.g. 10.1.1.1/24"},
    {"dhcp", MF_OBJECT, 0, 0, 0, NULL, dhcp_fields,
     "IPv4 only: DHCP service and address pools"},
    {"ipv6_address_mode", MF_ENUM, 0, 0, 0, ipv6_modes, NULL,
     "IPv6 only: slaac (default), dhcpv6_stateful, dhcpv6_stateless or "
     "static"},
    {"dhcpv6", MF_OBJECT, 0, 0, 0, NULL, dhcpv6_fields,
     "IPv6 only: DHCPv6 pools and options"},
    END_FIELDS,
};
static const struct model_field subnet_elem[] = {
    {"subnet", MF_OBJECT, 0, 0, 0, NULL, subnet_fields, "a subnet"},
};

static const struct model_field segment_fields[] = {
    COMMON_FIELDS,
    {"vni", MF_INT, 0, 1, 16777215, NULL, NULL,
     "overlay VNI; allocated from the pool when absent"},
    {"encap", MF_ENUM, 0, 0, 0, encaps, NULL,
     "overlay encapsulation: geneve (when absent) or vxlan"},
    {"subnets", MF_ARRAY, MF_UNIQUE, 0, 16, NULL, subnet_elem, "subnets"},
    {"admin_state", MF_ENUM, 0, 0, 0, admin_states, NULL, "up or down"},
    {"spoofguard", MF_ENUM, 0, 0, 0, seg_spoofguard, NULL,
     "enabled or disabled (when absent): the default of its ports"},
    {"router", MF_ID, 0, 0, 0, NULL, NULL,
     "id of a router of the same project (docs/routing.md)"},
    END_FIELDS,
};

static const struct model_field attachment_fields[] = {
    {"host", MF_ID, MF_REQUIRED, 0, 0, NULL, NULL, "id of a host"},
    {"vif", MF_IFNAME, MF_REQUIRED, 0, 0, NULL, NULL,
     "interface name on the host"},
    END_FIELDS,
};

static const struct model_field port_fields[] = {
    COMMON_FIELDS,
    {"mac_address", MF_MAC, 0, 0, 0, NULL, NULL,
     "unicast MAC; generated when absent"},
    {"ip_addresses", MF_ARRAY, MF_UNIQUE, 0, 32, NULL, ip_elem,
     "addresses within the segment's subnets"},
    {"attachment", MF_OBJECT, 0, 0, 0, NULL, attachment_fields,
     "where the port is plugged in"},
    {"admin_state", MF_ENUM, 0, 0, 0, admin_states, NULL, "up or down"},
    {"spoofguard", MF_ENUM, 0, 0, 0, port_spoofguard, NULL,
     "inherit (when absent: the segment's), enabled or disabled"},
    {"dynamic_addresses", MF_ARRAY, MF_READONLY | MF_NOINPUT, 0, 32, NULL,
     ip_elem, "assigned by weftd from the subnets' DHCP/SLAAC settings"},
    END_FIELDS,
};

static const struct model_field host_fields[] = {
    COMMON_FIELDS,
    {"tunnel_endpoint", MF_IP, MF_REQUIRED, 0, 0, NULL, NULL,
     "underlay address of the host's tunnel endpoint"},
    {"status", MF_ENUM, MF_READONLY, 0, 0, host_states, NULL,
     "reported by the host's agent"},
    END_FIELDS,
};

/* ---- Groups. ---- */

static const struct model_field member_elem[] = {
    {"member", MF_REF, 0, 0, 0, member_ref_types, NULL,
     "path of a port, segment or other group of the same project"},
};
static const struct model_field group_ref_elem[] = {
    {"group", MF_REF, 0, 0, 0, group_ref_types, NULL,
     "path of a group of the same project"},
};
static const struct model_field addr_elem[] = {
    {"address", MF_ADDR, 0, 0, 0, NULL, NULL, "an address or network"},
};
static const struct model_field mac_elem[] = {
    {"mac", MF_MAC, 0, 0, 0, NULL, NULL, "a MAC address"},
};
static const struct model_field condition_fields[] = {
    {"key", MF_ENUM, MF_REQUIRED, 0, 0, condition_keys, NULL,
     "what of a port to compare: tag, name or segment"},
    {"operator", MF_ENUM, MF_REQUIRED, 0, 0, operators, NULL,
     "equals, contains, starts_with or ends_with (tag, segment: equals)"},
    {"value", MF_STRING, MF_REQUIRED, 1, 256, NULL, NULL,
     "tag: scope|tag, |tag, scope| or tag; segment: a segment id"},
    END_FIELDS,
};
static const struct model_field condition_elem[] = {
    {"condition", MF_OBJECT, 0, 0, 0, NULL, condition_fields, "a condition"},
};
static const struct model_field criterion_fields[] = {
    {"conditions", MF_ARRAY, MF_REQUIRED | MF_UNIQUE, 1, 5, NULL,
     condition_elem, "conditions on a port, ANDed"},
    END_FIELDS,
};
static const struct model_field criterion_elem[] = {
    {"criterion", MF_OBJECT, 0, 0, 0, NULL, criterion_fields, "a criterion"},
};

static const struct model_field group_fields[] = {
    COMMON_FIELDS,
    {"members", MF_ARRAY, MF_UNIQUE, 0, 500, NULL, member_elem,
     "static members"},
    {"ip_addresses", MF_ARRAY, MF_UNIQUE, 0, 500, NULL, addr_elem,
     "addresses and networks"},
    {"mac_addresses", MF_ARRAY, MF_UNIQUE, 0, 500, NULL, mac_elem,
     "MAC addresses"},
    {"criteria", MF_ARRAY, MF_UNIQUE, 0, 5, NULL, criterion_elem,
     "dynamic membership criteria (ORed) selecting ports"},
    END_FIELDS,
};

/* Sets 'e' for the member 'member' of the object at 'name'. */
static enum api_err
model_fail(struct api_error *e, enum api_err code, const char *name,
           const char *member, const char *msg)
{
    char field[300];

    snprintf(field, sizeof field, "%s%s%s", name, *name && *member ? "." : "",
             member);
    return api_error_set(e, code, field, "'%s' %s", field, msg);
}

/* Group: conditions combine keys, operators and values sensibly. */
static enum api_err
group_check(json_t *obj, bool full, const char *prefix, struct api_error *e)
{
    (void)full;
    json_t *crit, *cond;
    size_t i, j;
    char name[256];

    json_array_foreach(json_object_get(obj, "criteria"), i, crit)
    {
        json_array_foreach(json_object_get(crit, "conditions"), j, cond)
        {
            const char *key = json_string_value(json_object_get(cond, "key"));
            const char *op =
                json_string_value(json_object_get(cond, "operator"));
            const char *value =
                json_string_value(json_object_get(cond, "value"));
            struct model_tag_cond tc;

            if (!key || !op || !value) {
                continue; /* a partial body: nothing to combine */
            }
            snprintf(name, sizeof name, "%s%scriteria[%zu].conditions[%zu]",
                     prefix, *prefix ? "." : "", i, j);
            if (!strcmp(key, "tag")) {
                if (strcmp(op, "equals")) {
                    return model_fail(e, API_ERR_BAD_FORMAT, name, "operator",
                                      "must be 'equals' for a tag condition");
                }
                if (!model_tag_cond_parse(value, &tc)) {
                    return model_fail(e, API_ERR_BAD_FORMAT, name, "value",
                                      "must be 'scope|tag', '|tag', "
                                      "'scope|' or 'tag' (scope at most "
                                      "128 characters)");
                }
            } else if (!strcmp(key, "segment")) {
                if (strcmp(op, "equals")) {
                    return model_fail(e, API_ERR_BAD_FORMAT, name, "operator",
                                      "must be 'equals' for a segment "
                                      "condition");
                }
                if (!val_id(value)) {
                    return model_fail(e, API_ERR_BAD_FORMAT, name, "value",
                                      "must be the id of a segment of the "
                                      "group's project");
                }
            }
        }
    }
    return API_OK;
}

/* ---- Services. ---- */

static const struct model_field ports_elem[] = {
    {"port", MF_PORTS, 0, 0, 0, NULL, NULL, "a port N or range N-M"},
};
static const struct model_field service_entry_fields[] = {
    {"protocol", MF_ENUM, MF_REQUIRED, 0, 0, protocols, NULL,
     "TCP, UDP, ICMPv4, ICMPv6 or IP"},
    {"destination_ports", MF_ARRAY, MF_UNIQUE, 1, 15, NULL, ports_elem,
     "TCP/UDP only: destination ports; absent = any port"},
    {"icmp_type", MF_INT, 0, 0, 255, NULL, NULL,
     "ICMPv4/ICMPv6 only: type; absent = any"},
    {"icmp_code", MF_INT, 0, 0, 255, NULL, NULL,
     "ICMPv4/ICMPv6 only, with icmp_type: code; absent = any"},
    {"protocol_number", MF_INT, 0, 0, 255, NULL, NULL,
     "IP only (and required): the IP protocol number"},
    END_FIELDS,
};
static const struct model_field service_entry_elem[] = {
    {"entry", MF_OBJECT, 0, 0, 0, NULL, service_entry_fields,
     "a service entry"},
};

/* Checks the combinations of every entry of 'entries' (a service's or a
 * rule's "service_entries") at 'prefix'. */
static enum api_err
service_entries_check(json_t *entries, const char *prefix, struct api_error *e)
{
    json_t *entry;
    size_t i;
    char name[256];

    json_array_foreach(entries, i, entry)
    {
        const char *proto =
            json_string_value(json_object_get(entry, "protocol"));
        bool l4 = proto && (!strcmp(proto, "TCP") || !strcmp(proto, "UDP"));
        bool icmp =
            proto && (!strcmp(proto, "ICMPv4") || !strcmp(proto, "ICMPv6"));
        bool ip = proto && !strcmp(proto, "IP");

        if (!proto) {
            continue;
        }
        snprintf(name, sizeof name, "%s%sservice_entries[%zu]", prefix,
                 *prefix ? "." : "", i);
        if (!l4 && json_object_get(entry, "destination_ports")) {
            return model_fail(e, API_ERR_BAD_FORMAT, name, "destination_ports",
                              "is only allowed with protocol TCP or UDP");
        }
        if (!icmp && json_object_get(entry, "icmp_type")) {
            return model_fail(e, API_ERR_BAD_FORMAT, name, "icmp_type",
                              "is only allowed with protocol ICMPv4 or "
                              "ICMPv6");
        }
        if (!icmp && json_object_get(entry, "icmp_code")) {
            return model_fail(e, API_ERR_BAD_FORMAT, name, "icmp_code",
                              "is only allowed with protocol ICMPv4 or "
                              "ICMPv6");
        }
        if (json_object_get(entry, "icmp_code") &&
            !json_object_get(entry, "icmp_type")) {
            return model_fail(e, API_ERR_MISSING_FIELD, name, "icmp_type",
                              "is required with icmp_code");
        }
        if (!ip && json_object_get(entry, "protocol_number")) {
            return model_fail(e, API_ERR_BAD_FORMAT, name, "protocol_number",
                              "is only allowed with protocol IP");
        }
        if (ip && !json_object_get(entry, "protocol_number")) {
            return model_fail(e, API_ERR_MISSING_FIELD, name, "protocol_number",
                              "is required with protocol IP");
        }
    }
    return API_OK;
}

static const struct model_field service_fields[] = {
    COMMON_FIELDS,
    {"service_entries", MF_ARRAY, MF_REQUIRED | MF_UNIQUE, 1, 64, NULL,
     service_entry_elem, "what the service is: protocol, ports, ICMP type"},
    END_FIELDS,
};

static enum api_err
service_check(json_t *obj, bool full, const char *prefix, struct api_error *e)
{
    (void)full;
    return service_entries_check(json_object_get(obj, "service_entries"),
                                 prefix, e);
}

/* ---- Security policies and rules. ---- */

static const struct model_field policy_fields[] = {
    COMMON_FIELDS,
    {"category", MF_ENUM, 0, 0, 0, categories, NULL,
     "emergency, infrastructure, environment or application (default)"},
    {"sequence_number", MF_INT, 0, 0, 999999999, NULL, NULL,
     "order inside the category (default 0)"},
    {"scope", MF_ARRAY, MF_UNIQUE, 0, 128, NULL, group_ref_elem,
     "applied to the ports of these groups; absent/empty = every port"},
    {"stateful", MF_BOOL, 0, 0, 0, NULL, NULL,
     "track connections (default true)"},
    END_FIELDS,
};

static const struct model_field service_ref_elem[] = {
    {"service", MF_REF, 0, 0, 0, service_ref_types, NULL,
     "path of a service of the same project"},
};

static const struct model_field rule_fields[] = {
    COMMON_FIELDS,
    {"notes", MF_STRING, 0, 0, 2048, NULL, NULL, "free text"},
    {"sequence_number", MF_INT, 0, 0, 999999999, NULL, NULL,
     "order inside the policy (default 0)"},
    {"source_groups", MF_ARRAY, MF_UNIQUE, 0, 128, NULL, group_ref_elem,
     "absent/empty = any source"},
    {"destination_groups", MF_ARRAY, MF_UNIQUE, 0, 128, NULL, group_ref_elem,
     "absent/empty = any destination"},
    {"services", MF_ARRAY, MF_UNIQUE, 0, 128, NULL, service_ref_elem,
     "services; with service_entries absent/empty = any service"},
    {"service_entries", MF_ARRAY, MF_UNIQUE, 0, 64, NULL, service_entry_elem,
     "inline service entries"},
    {"direction", MF_ENUM, 0, 0, 0, directions, NULL,
     "in (to the workload), out or in_out (default)"},
    {"ip_protocol", MF_ENUM, 0, 0, 0, ip_protocols, NULL,
     "ipv4, ipv6 or ipv4_ipv6 (default)"},
    {"action", MF_ENUM, MF_REQUIRED, 0, 0, rule_actions, NULL,
     "allow, drop or reject"},
    {"logged", MF_BOOL, 0, 0, 0, NULL, NULL, "log matches (default false)"},
    {"scope", MF_ARRAY, MF_UNIQUE, 0, 128, NULL, group_ref_elem,
     "narrows the policy's scope; absent/empty = the policy's"},
    {"disabled", MF_BOOL, 0, 0, 0, NULL, NULL,
     "a disabled rule matches nothing (default false)"},
    END_FIELDS,
};

static enum api_err
rule_check(json_t *obj, bool full, const char *prefix, struct api_error *e)
{
    (void)full;
    return service_entries_check(json_object_get(obj, "service_entries"),
                                 prefix, e);
}

/* ---- Segments: subnet services. ---- */

/* A subnet being checked: its prefix and gateway. */
struct model_subnet {
    struct val_ip gw; /* gateway address */
    unsigned plen;    /* prefix length */
    ipam_u128 lo, hi; /* first (network) and last address */
    const char *name; /* "subnets[i]" with the caller's prefix */
    char field[300];  /* scratch for field names */
};

/* Sets 'sn->field' to "<subnet>.<a>.<b>[i]" ('i' < 0: no index). */
static const char *
model_sub_field(struct model_subnet *sn, const char *a, const char *b, long i)
{
    char idx[32] = "";

    if (i >= 0) {
        snprintf(idx, sizeof idx, "[%ld]", i);
    }
    snprintf(sn->field, sizeof sn->field, "%s.%s%s%s%s", sn->name, a,
             b ? "." : "", b ? b : "", idx);
    return sn->field;
}

/* The addresses of 'array' (strings) are of 'family'. */
static enum api_err
model_check_family(struct model_subnet *sn, json_t *array, int family,
                   const char *obj, const char *member, struct api_error *e)
{
    json_t *v;
    size_t i;

    json_array_foreach(array, i, v)
    {
        struct val_ip ip;
        if (val_ip_parse(json_string_value(v), &ip) && ip.family != family) {
            const char *f = model_sub_field(sn, obj, member, (long)i);
            return api_error_set(e, API_ERR_BAD_FORMAT, f,
                                 "'%s' must be an %s address", f,
                                 family == AF_INET ? "IPv4" : "IPv6");
        }
    }
    return API_OK;
}

/* An address of the subnet that may be handed out: inside, and neither
 * the network, the (IPv4) broadcast nor the gateway address. */
static const char *
model_host_problem(const struct model_subnet *sn, ipam_u128 x)
{
    if (x < sn->lo || x > sn->hi) {
        return "outside the subnet";
    }
    if (x == sn->lo) {
        return "the subnet's network address";
    }
    if (x == sn->hi && sn->gw.family == AF_INET) {
        return "the subnet's broadcast address";
    }
    if (x == ipam_to_u128(&sn->gw)) {
        return "the gateway address";
    }
    return NULL;
}

/* Ranges "first-last" inside the subnet; 'pool' ranges also keep clear
 * of the network, broadcast and gateway addresses. */
static enum api_err
model_check_ranges(struct model_subnet *sn, json_t *ranges, const char *obj,
                   const char *member, bool pool, struct api_error *e)
{
    json_t *v;
    size_t i;

    json_array_foreach(ranges, i, v)
    {
        const char *f = model_sub_field(sn, obj, member, (long)i);
        struct val_ip a, b;
        ipam_u128 lo, hi, gw = ipam_to_u128(&sn->gw);

        if (!ipam_range_parse(json_string_value(v), &a, &b) ||
            a.family != sn->gw.family) {
            return api_error_set(e, API_ERR_BAD_FORMAT, f,
                                 "'%s' is not a range first-last of %s "
                                 "addresses",
                                 f, sn->gw.family == AF_INET ? "IPv4" : "IPv6");
        }
        lo = ipam_to_u128(&a);
        hi = ipam_to_u128(&b);
        if (lo > hi) {
            return api_error_set(e, API_ERR_BAD_FORMAT, f,
                                 "'%s': the first address is above the last",
                                 f);
        }
        if (lo < sn->lo || hi > sn->hi) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, f,
                                 "'%s' is not inside the subnet", f);
        }
        if (pool &&
            (lo == sn->lo || (sn->gw.family == AF_INET && hi == sn->hi))) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, f,
                                 "'%s' contains the subnet's network or "
                                 "broadcast address",
                                 f);
        }
        if (pool && lo <= gw && gw <= hi) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, f,
                                 "'%s' contains the gateway address", f);
        }
    }
    return API_OK;
}

static enum api_err
model_check_bindings(struct model_subnet *sn, json_t *bindings,
                     struct api_error *e)
{
    json_t *b;
    size_t i, j;

    json_array_foreach(bindings, i, b)
    {
        const char *mac = json_string_value(json_object_get(b, "mac_address"));
        const char *ip = json_string_value(json_object_get(b, "ip_address"));
        const char *problem;
        struct val_ip a, o;

        if (!mac || !ip || !val_ip_parse(ip, &a)) {
            continue; /* the schema reported it */
        }
        problem = a.family != sn->gw.family
                      ? "of the other IP family"
                      : model_host_problem(sn, ipam_to_u128(&a));
        if (problem) {
            const char *f =
                model_sub_field(sn, "dhcp", "static_bindings", (long)i);
            return api_error_set(e, API_ERR_OUT_OF_RANGE, f,
                                 "'%s.ip_address' %s is %s", f, ip, problem);
        }
        for (j = 0; j < i; j++) {
            json_t *p = json_array_get(bindings, j);
            const char *pmac =
                json_string_value(json_object_get(p, "mac_address"));
            const char *pip =
                json_string_value(json_object_get(p, "ip_address"));
            bool same_ip =
                pip && val_ip_parse(pip, &o) && !memcmp(&o, &a, sizeof a);
            if (same_ip || (pmac && !strcasecmp(pmac, mac))) {
                const char *f =
                    model_sub_field(sn, "dhcp", "static_bindings", (long)i);
                return api_error_set(e, API_ERR_DUPLICATE, f,
                                     "'%s' has the %s of static_bindings[%zu]",
                                     f, same_ip ? "ip_address" : "mac_address",
                                     j);
            }
        }
    }
    return API_OK;
}

static enum api_err
model_check_domain(struct model_subnet *sn, json_t *obj, const char *member,
                   struct api_error *e)
{
    const char *d = json_string_value(json_object_get(obj, "domain_name"));

    if (d && !val_dns_name(d)) {
        const char *f = model_sub_field(sn, member, "domain_name", -1);
        return api_error_set(e, API_ERR_BAD_FORMAT, f, "'%s' is not a DNS name",
                             f);
    }
    return API_OK;
}

static enum api_err
model_check_dhcp(struct model_subnet *sn, json_t *dhcp, struct api_error *e)
{
    json_t *r;
    size_t i;

    if (model_check_ranges(sn, json_object_get(dhcp, "ranges"), "dhcp",
                           "ranges", true, e) ||
        model_check_ranges(sn, json_object_get(dhcp, "excluded_ranges"), "dhcp",
                           "excluded_ranges", false, e) ||
        model_check_bindings(sn, json_object_get(dhcp, "static_bindings"), e) ||
        model_check_family(sn, json_object_get(dhcp, "dns_servers"), AF_INET,
                           "dhcp", "dns_servers", e) ||
        model_check_domain(sn, dhcp, "dhcp", e)) {
        return e->code;
    }
    json_array_foreach(json_object_get(dhcp, "classless_static_routes"), i, r)
    {
        struct val_ip net, hop;
        unsigned len;
        const char *f;

        if (!val_addr_parse(json_string_value(json_object_get(r, "network")),
                            &net, &len) ||
            !val_ip_parse(json_string_value(json_object_get(r, "next_hop")),
                          &hop)) {
            continue; /* the schema reported it */
        }
        f = model_sub_field(sn, "dhcp", "classless_static_routes", (long)i);
        if (net.family != AF_INET) {
            return api_error_set(e, API_ERR_BAD_FORMAT, f,
                                 "'%s.network' must be an IPv4 network", f);
        }
        if (hop.family != AF_INET ||
            !val_ip_in_prefix(&hop, &sn->gw, sn->plen)) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, f,
                                 "'%s.next_hop' must be an address of the "
                                 "subnet",
                                 f);
        }
    }
    return API_OK;
}

/* Segment: each subnet's services match its family and lie inside it. */
static enum api_err
segment_check(json_t *obj, bool full, const char *prefix, struct api_error *e)
{
    json_t *subnet;
    size_t i;
    char name[256];

    (void)full;
    json_array_foreach(json_object_get(obj, "subnets"), i, subnet)
    {
        struct model_subnet sn;
        json_t *dhcp = json_object_get(subnet, "dhcp");
        json_t *dhcpv6 = json_object_get(subnet, "dhcpv6");
        const char *mode =
            json_string_value(json_object_get(subnet, "ipv6_address_mode"));

        snprintf(name, sizeof name, "%s%ssubnets[%zu]", prefix,
                 *prefix ? "." : "", i);
        if (!val_cidr_parse(
                json_string_value(json_object_get(subnet, "gateway_address")),
                &sn.gw, &sn.plen)) {
            continue; /* the schema reported it */
        }
        sn.name = name;
        ipam_prefix_bounds(&sn.gw, sn.plen, &sn.lo, &sn.hi);
        if (sn.gw.family == AF_INET) {
            if (mode || dhcpv6) {
                return model_fail(e, API_ERR_BAD_FORMAT, name,
                                  mode ? "ipv6_address_mode" : "dhcpv6",
                                  "is only allowed on an IPv6 subnet");
            }
            if (dhcp && model_check_dhcp(&sn, dhcp, e)) {
                return e->code;
            }
            continue;
        }
        if (dhcp) {
            return model_fail(e, API_ERR_BAD_FORMAT, name, "dhcp",
                              "is only allowed on an IPv4 subnet (use "
                              "ipv6_address_mode and dhcpv6)");
        }
        if (model_check_ranges(&sn, json_object_get(dhcpv6, "ranges"), "dhcpv6",
                               "ranges", true, e) ||
            model_check_family(&sn, json_object_get(dhcpv6, "dns_servers"),
                               AF_INET6, "dhcpv6", "dns_servers", e) ||
            model_check_domain(&sn, dhcpv6, "dhcpv6", e)) {
            return e->code;
        }
        if (mode && !strcmp(mode, "dhcpv6_stateful") &&
            !json_array_size(json_object_get(dhcpv6, "ranges"))) {
            return model_fail(e, API_ERR_MISSING_FIELD, name, "dhcpv6.ranges",
                              "is required with ipv6_address_mode "
                              "dhcpv6_stateful");
        }
    }
    return API_OK;
}

/* ---- Routers and static routes. ---- */

static const struct model_field router_fields[] = {
    COMMON_FIELDS,
    END_FIELDS,
};

static const struct model_field next_hop_fields[] = {
    {"ip_address", MF_IP, MF_REQUIRED, 0, 0, NULL, NULL,
     "next hop, of the route's family"},
    {"admin_distance", MF_INT, 0, 1, 255, NULL, NULL,
     "1..255 (default 1); the lowest wins, equal ones are ECMP"},
    END_FIELDS,
};
static const struct model_field next_hop_elem[] = {
    {"next_hop", MF_OBJECT, 0, 0, 0, NULL, next_hop_fields, "a next hop"},
};

static const struct model_field route_fields[] = {
    COMMON_FIELDS,
    {"network", MF_ADDR, MF_REQUIRED, 0, 0, NULL, NULL,
     "destination network/prefix-length without host bits"},
    {"next_hops", MF_ARRAY, 0, 1, 16, NULL, next_hop_elem,
     "next hops (or discard)"},
    {"discard", MF_BOOL, 0, 0, 0, NULL, NULL,
     "true: drop what matches (instead of next_hops)"},
    {"admin_distance", MF_INT, 0, 1, 255, NULL, NULL,
     "with discard: its distance (default 1)"},
    END_FIELDS,
};

/* Static route: a CIDR network, and next hops of its family or discard. */
static enum api_err
route_check(json_t *obj, bool full, const char *prefix, struct api_error *e)
{
    const char *network = json_string_value(json_object_get(obj, "network"));
    json_t *hops = json_object_get(obj, "next_hops"), *hop;
    json_t *distance = json_object_get(obj, "admin_distance");
    bool discard = json_is_true(json_object_get(obj, "discard"));
    struct val_ip net;
    unsigned plen;
    size_t i, j;
    char name[256];

    if (network && !strchr(network, '/')) {
        return model_fail(e, API_ERR_BAD_FORMAT, prefix, "network",
                          "must be a network address/prefix-length (e.g. "
                          "10.2.0.0/16, 0.0.0.0/0, fd00:1::/64)");
    }
    if (json_is_null(hops)) {
        hops = NULL; /* merge-patch null: absent */
    }
    if (json_is_null(distance)) {
        distance = NULL;
    }
    if (discard && hops) {
        return model_fail(e, API_ERR_BAD_FORMAT, prefix, "discard",
                          "and next_hops exclude each other");
    }
    if (full && !discard && !hops) {
        return model_fail(e, API_ERR_MISSING_FIELD, prefix, "next_hops",
                          "is required unless discard is true");
    }
    if (hops && distance) {
        return model_fail(e, API_ERR_BAD_FORMAT, prefix, "admin_distance",
                          "is only allowed with discard (each next hop "
                          "has its own admin_distance)");
    }
    if (!network || !val_addr_parse(network, &net, &plen)) {
        return API_OK;
    }
    json_array_foreach(hops, i, hop)
    {
        struct val_ip a, b;

        snprintf(name, sizeof name, "%s%snext_hops[%zu]", prefix,
                 *prefix ? "." : "", i);
        if (!val_ip_parse(json_string_value(json_object_get(hop, "ip_address")),
                          &a)) {
            continue;
        }
        if (a.family != net.family) {
            return model_fail(e, API_ERR_BAD_FORMAT, name, "ip_address",
                              "is not of the network's IP family");
        }
        for (j = 0; j < i; j++) {
            if (val_ip_parse(json_string_value(json_object_get(
                                 json_array_get(hops, j), "ip_address")),
                             &b) &&
                !memcmp(&a, &b, sizeof a)) {
                return model_fail(e, API_ERR_DUPLICATE, name, "ip_address",
                                  "repeats an earlier next hop");
            }
        }
    }
    return API_OK;
}

/* ---- Deployment settings. ---- */

static const struct model_field settings_fields[] = {
    COMMON_FIELDS,
    {"default_action", MF_ENUM, 0, 0, 0, default_actions, NULL,
     "what happens to traffic no rule matches: allow (default) or drop"},
    {"tcp_strict", MF_BOOL, 0, 0, 0, NULL, NULL,
     "TCP tracking for new connections: true = only a SYN opens one and "
     "sequence windows are checked; false (default) = a mid-stream segment "
     "the rules allow is picked up"},
    END_FIELDS,
};

static const struct model_type model_types[MODEL_N_KINDS] = {
    [MODEL_PROJECT] = {MODEL_PROJECT, "Project", "projects", "project", -1, 1,
                       project_fields, NULL, NULL},
    [MODEL_SEGMENT] = {MODEL_SEGMENT, "Segment", "segments", "segment",
                       MODEL_PROJECT, 2, segment_fields, NULL, segment_check},
    [MODEL_PORT] = {MODEL_PORT, "SegmentPort", "ports", "port", MODEL_SEGMENT,
                    3, port_fields, NULL, NULL},
    [MODEL_GROUP] = {MODEL_GROUP, "Group", "groups", "group", MODEL_PROJECT, 2,
                     group_fields, NULL, group_check},
    [MODEL_HOST] = {MODEL_HOST, "Host", "hosts", "host", -1, 1, host_fields,
                    NULL, NULL},
    [MODEL_SERVICE] = {MODEL_SERVICE, "Service", "services", "service",
                       MODEL_PROJECT, 2, service_fields, NULL, service_check},
    [MODEL_POLICY] = {MODEL_POLICY, "SecurityPolicy", "security-policies",
                      "policy", MODEL_PROJECT, 2, policy_fields, NULL, NULL},
    [MODEL_RULE] = {MODEL_RULE, "Rule", "rules", "rule", MODEL_POLICY, 3,
                    rule_fields, NULL, rule_check},
    [MODEL_SETTINGS] = {MODEL_SETTINGS, "FirewallSettings", "settings",
                        "settings", -1, 1, settings_fields, MODEL_SETTINGS_ID,
                        NULL},
    [MODEL_ROUTER] = {MODEL_ROUTER, "Router", "routers", "router",
                      MODEL_PROJECT, 2, router_fields, NULL, NULL},
    [MODEL_ROUTE] = {MODEL_ROUTE, "StaticRoute", "static-routes", "route",
                     MODEL_ROUTER, 3, route_fields, NULL, route_check},
};

static const struct model_type *const root_children[] = {
    &model_types[MODEL_PROJECT], &model_types[MODEL_HOST],
    &model_types[MODEL_SETTINGS], NULL};
/* Order matters for a subtree PATCH: objects are written in this order,
 * so a segment may name a router, a group segments and a policy's rules
 * groups and services created in the same PATCH. */
static const struct model_type *const project_children[] = {
    &model_types[MODEL_ROUTER], &model_types[MODEL_SEGMENT],
    &model_types[MODEL_GROUP],  &model_types[MODEL_SERVICE],
    &model_types[MODEL_POLICY], NULL};
static const struct model_type *const segment_children[] = {
    &model_types[MODEL_PORT], NULL};
static const struct model_type *const policy_children[] = {
    &model_types[MODEL_RULE], NULL};
static const struct model_type *const router_children[] = {
    &model_types[MODEL_ROUTE], NULL};
static const struct model_type *const no_children[] = {NULL};

const struct model_type *
model_type(enum model_kind kind)
{
    return &model_types[kind];
}

const struct model_type *const *
model_children(int kind)
{
    switch (kind) {
    case -1:
        return root_children;
    case MODEL_PROJECT:
        return project_children;
    case MODEL_SEGMENT:
        return segment_children;
    case MODEL_POLICY:
        return policy_children;
    case MODEL_ROUTER:
        return router_children;
    default:
        return no_children;
    }
}

static const struct model_type *
model_child_by_collection(int parent, const char *name, size_t len)
{
    for (const struct model_type *const *t = model_children(parent); *t; t++) {
        if (strlen((*t)->collection) == len &&
            !memcmp((*t)->collection, name, len)) {
            return *t;
        }
    }
    return NULL;
}

enum api_err
model_parse_path(const char *path, struct model_path *mp, struct api_error *e)
{
    const char *p = path;
    int parent = -1;

    memset(mp, 0, sizeof *mp);
    if (strlen(path) >= MODEL_KEY_MAX - 8) {
        return api_error_set(e, API_ERR_INVALID_PATH, NULL, "path too long");
    }
    if (strchr(path, '%')) {
        return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                             "percent-encoded characters are not allowed in "
                             "paths");
    }
    while (*p) {
        const char *elem[2];
        size_t len[2];
        const struct model_type *t;

        /* One level: "/collection" and optionally "/id". */
        for (int i = 0; i < 2 && *p; i++) {
            if (*p != '/') {
                return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                     "malformed path");
            }
            elem[i] = ++p;
            len[i] = strcspn(p, "/");
            p += len[i];
            if (!len[i] || (len[i] == 1 && elem[i][0] == '.') ||
                (len[i] == 2 && !memcmp(elem[i], "..", 2))) {
                return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                     "empty, '.' or '..' path element");
            }
            if (i == 0) {
                len[1] = 0;
            }
        }
        if (mp->depth >= MODEL_MAX_DEPTH ||
            !(t = model_child_by_collection(parent, elem[0], len[0]))) {
            return api_error_set(e, API_ERR_ROUTE_NOT_FOUND, NULL,
                                 "no such collection in path");
        }
        mp->types[mp->depth] = t;
        if (!len[1]) {
            mp->collection = true;
            mp->depth++;
            if (*p) {
                return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                     "malformed path");
            }
            break;
        }
        if (len[1] > VAL_ID_MAX) {
            return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                 "id longer than %d characters", VAL_ID_MAX);
        }
        memcpy(mp->ids[mp->depth], elem[1], len[1]);
        mp->ids[mp->depth][len[1]] = '\0';
        if (!val_id(mp->ids[mp->depth])) {
            return api_error_set(e, API_ERR_INVALID_PATH, NULL,
                                 "invalid id in path (allowed: letters, "
                                 "digits, '_', '.', '-')");
        }
        if (t->only_id && strcmp(mp->ids[mp->depth], t->only_id)) {
            return api_error_set(
                e, API_ERR_INVALID_PATH, NULL, "the only %s object is %s/%s/%s",
                t->resource_type, MODEL_API_PREFIX, t->collection, t->only_id);
        }
        mp->depth++;
        parent = (int)t->kind;
    }
    return API_OK;
}

static void
model_path_string(const struct model_path *mp, int depth, char *buf,
                  size_t size)
{
    size_t n = strlen(buf);

    for (int i = 0; i < depth && n < size; i++) {
        n += (size_t)snprintf(buf + n, size - n, "/%s/%s",
                              mp->types[i]->collection, mp->ids[i]);
    }
}

void
model_key(const struct model_path *mp, int depth, char *buf)
{
    snprintf(buf, MODEL_KEY_MAX, "o%d", depth);
    model_path_string(mp, depth, buf, MODEL_KEY_MAX);
}

void
model_api_path(const struct model_path *mp, int depth, char *buf)
{
    snprintf(buf, MODEL_KEY_MAX, "%s", MODEL_API_PREFIX);
    model_path_string(mp, depth, buf, MODEL_KEY_MAX);
}

void
model_collection_prefix(const struct model_path *mp, char *buf)
{
    int d = mp->depth;
    size_t n;

    snprintf(buf, MODEL_KEY_MAX, "o%d", d);
    model_path_string(mp, d - 1, buf, MODEL_KEY_MAX);
    n = strlen(buf);
    snprintf(buf + n, MODEL_KEY_MAX - n, "/%s/", mp->types[d - 1]->collection);
}

bool
model_key_parse(const char *key, struct model_path *mp)
{
    if (key[0] != 'o' || key[1] < '1' || key[1] > '0' + MODEL_MAX_DEPTH) {
        return false;
    }
    return model_parse_path(key + 2, mp, NULL) == API_OK && !mp->collection &&
           mp->depth == key[1] - '0';
}

static const char *const server_fields[] = {
    "id",        "path",         "resource_type",
    "_revision", "_create_time", "_last_modified",
    NULL};

bool
model_is_server_field(const char *name)
{
    for (const char *const *f = server_fields; *f; f++) {
        if (!strcmp(*f, name)) {
            return true;
        }
    }
    return false;
}

static const char *
mf_kind_name(enum mf_kind kind)
{
    static const char *const names[] = {
        [MF_STRING] = "a string",
        [MF_INT] = "an integer",
        [MF_ENUM] = "a string",
        [MF_IP] = "an IP address string",
        [MF_CIDR] = "a CIDR string",
        [MF_MAC] = "a MAC address string",
        [MF_IFNAME] = "a string",
        [MF_ID] = "an id string",
        [MF_REF] = "a path string",
        [MF_OBJECT] = "an object",
        [MF_ARRAY] = "an array",
        [MF_BOOL] = "true or false",
        [MF_ADDR] = "an IP address or network string",
        [MF_PORTS] = "a port or port range string",
    };
    return names[kind];
}

/* True if 'a' and 'b', valid values of 'f', mean the same: addresses in
 * any spelling ("fd00::5" and "FD00:0::5", "10.0.0.1" and "10.0.0.1/32"),
 * MACs in any case, everything else as equal JSON. */
static bool
mf_equal(const struct model_field *f, json_t *a, json_t *b)
{
    const char *sa = json_string_value(a), *sb = json_string_value(b);

    if (sa && sb && (f->kind == MF_ADDR || f->kind == MF_IP)) {
        struct val_ip ia, ib;
        unsigned la = 0, lb = 0;
        bool ok =
            f->kind == MF_ADDR
                ? val_addr_parse(sa, &ia, &la) && val_addr_parse(sb, &ib, &lb)
                : val_ip_parse(sa, &ia) && val_ip_parse(sb, &ib);
        if (ok) {
            return ia.family == ib.family && la == lb &&
                   !memcmp(ia.bytes, ib.bytes, sizeof ia.bytes);
        }
    }
    if (sa && sb && f->kind == MF_MAC) {
        return !strcasecmp(sa, sb);
    }
    return json_equal(a, b);
}

static enum api_err mf_check_object(const struct model_field *fields,
                                    json_t *obj, bool full, const char *prefix,
                                    const char *const *skip,
                                    struct api_error *e);

/* Checks one value against descriptor 'f'; 'name' is its field path. */
static enum api_err
mf_check_value(const struct model_field *f, json_t *v, const char *name,
               struct api_error *e)
{
    char sub[256];

    if (f->kind == MF_INT) {
        if (!json_is_integer(v)) {
            return api_error_set(e, API_ERR_WRONG_TYPE, name,
                                 "'%s' must be an integer", name);
        }
        json_int_t i = json_integer_value(v);
        if (i < f->min || i > f->max) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, name,
                                 "'%s' must be between %lld and %lld", name,
                                 f->min, f->max);
        }
        return API_OK;
    }
    if (f->kind == MF_BOOL) {
        return json_is_boolean(v)
                   ? API_OK
                   : api_error_set(e, API_ERR_WRONG_TYPE, name,
                                   "'%s' must be true or false", name);
    }
    if (f->kind == MF_OBJECT) {
        if (!json_is_object(v)) {
            return api_error_set(e, API_ERR_WRONG_TYPE, name,
                                 "'%s' must be an object", name);
        }
        return mf_check_object(f->sub, v, true, name, NULL, e);
    }
    if (f->kind == MF_ARRAY) {
        size_t i, j;
        json_t *item;

        if (!json_is_array(v)) {
            return api_error_set(e, API_ERR_WRONG_TYPE, name,
                                 "'%s' must be an array", name);
        }
        if ((long long)json_array_size(v) > f->max) {
            return api_error_set(e, API_ERR_TOO_MANY, name,
                                 "'%s' has more than %lld items", name, f->max);
        }
        if ((long long)json_array_size(v) < f->min) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, name,
                                 "'%s' needs at least %lld item(s) (leave "
                                 "it out instead of sending it empty)",
                                 name, f->min);
        }
        json_array_foreach(v, i, item)
        {
            snprintf(sub, sizeof sub, "%s[%zu]", name, i);
            if (mf_check_value(&f->sub[0], item, sub, e)) {
                return e->code;
            }
            for (j = 0; (f->flags & MF_UNIQUE) && j < i; j++) {
                if (mf_equal(&f->sub[0], item, json_array_get(v, j))) {
                    return api_error_set(e, API_ERR_DUPLICATE, sub,
                                         "'%s' duplicates item %zu", sub, j);
                }
            }
        }
        return API_OK;
    }

    /* Every other kind is a string. */
    if (!json_is_string(v)) {
        return api_error_set(e, API_ERR_WRONG_TYPE, name, "'%s' must be %s",
                             name, mf_kind_name(f->kind));
    }
    const char *s = json_string_value(v);
    if (json_string_length(v) != strlen(s) || !val_printable(s)) {
        return api_error_set(e, API_ERR_BAD_FORMAT, name,
                             "'%s' contains control characters", name);
    }
    struct val_ip ip;
    unsigned plen;
    switch (f->kind) {
    case MF_STRING:
        if ((long long)val_utf8_len(s) > f->max) {
            return api_error_set(e, API_ERR_TOO_LONG, name,
                                 "'%s' is longer than %lld characters", name,
                                 f->max);
        }
        if ((long long)val_utf8_len(s) < f->min) {
            return api_error_set(e, API_ERR_OUT_OF_RANGE, name,
                                 "'%s' must not be empty", name);
        }
        return API_OK;
    case MF_ENUM:
        for (const char *const *p = f->values; *p; p++) {
            if (!strcmp(*p, s)) {
                return API_OK;
            }
        }
        return api_error_set(e, API_ERR_BAD_FORMAT, name,
                             "'%s' must be one of the documented values", name);
    case MF_IP:
        return val_ip_parse(s, &ip)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not an IP address", name);
    case MF_CIDR:
        return val_cidr_parse(s, &ip, &plen)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not an address/prefix-length "
                                   "(e.g. 10.1.1.1/24)",
                                   name);
    case MF_ADDR:
        return val_addr_parse(s, &ip, &plen)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not an IP address or a network "
                                   "address/prefix-length without host bits "
                                   "(e.g. 10.1.1.5, 10.1.0.0/16, fd00::/64)",
                                   name);
    case MF_PORTS:
        return val_port_range(s, NULL, NULL)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not a port (1-65535) or a port "
                                   "range N-M with N <= M",
                                   name);
    case MF_MAC:
        return val_mac_parse(s, NULL)
                   ? API_OK
                   : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                   "'%s' is not a unicast MAC address "
                                   "(aa:bb:cc:dd:ee:ff)",
                                   name);
    case MF_IFNAME:
        return val_ifname(s) ? API_OK
                             : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                             "'%s' is not an interface name "
                                             "(1-15 characters)",
                                             name);
    case MF_ID:
        if (strlen(s) > VAL_ID_MAX) {
            return api_error_set(e, API_ERR_TOO_LONG, name,
                                 "'%s' is longer than %d characters", name,
                                 VAL_ID_MAX);
        }
        return val_id(s) ? API_OK
                         : api_error_set(e, API_ERR_BAD_FORMAT, name,
                                         "'%s' is not a valid id", name);
    case MF_REF: {
        struct model_path mp;
        size_t plen_api = strlen(MODEL_API_PREFIX);
        if (strncmp(s, MODEL_API_PREFIX, plen_api) ||
            model_parse_path(s + plen_api, &mp, NULL) != API_OK ||
            mp.collection || !mp.depth) {
            return api_error_set(e, API_ERR_BAD_FORMAT, name,
                                 "'%s' is not an object path", name);
        }
        if (f->values) {
            const char *rt = mp.types[mp.depth - 1]->resource_type;
            char kinds[128] = "";
            for (const char *const *p = f->values; *p; p++) {
                if (!strcmp(*p, rt)) {
                    return API_OK;
                }
                snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds),
                         "%s%s",
                         p == f->values ? ""
                         : p[1]         ? ", "
                                        : " or ",
                         *p);
            }
            return api_error_set(e, API_ERR_INVALID_REFERENCE, name,
                                 "'%s' names a %s; it must be the path of a "
                                 "%s",
                                 name, rt, kinds);
        }
        return API_OK;
    }
    default:
        return api_error_set(e, API_ERR_INTERNAL, name, NULL);
    }
}

static bool
mf_in(const char *const *list, const char *name)
{
    for (; list && *list; list++) {
        if (!strcmp(*list, name)) {
            return true;
        }
    }
    return false;
}

static enum api_err
mf_check_object(const struct model_field *fields, json_t *obj, bool full,
                const char *prefix, const char *const *skip,
                struct api_error *e)
{
    const char *key;
    json_t *v;
    char name[256];

    json_object_foreach(obj, key, v)
    {
        const struct model_field *f;

        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (mf_in(skip, key)) {
            continue;
        }
        for (f = fields; f->name && strcmp(f->name, key); f++) {
            continue;
        }
        if (!f->name) {
            return api_error_set(e, API_ERR_UNKNOWN_FIELD, name,
                                 "unknown field '%s'", name);
        }
        if (f->flags & MF_READONLY) {
            continue;
        }
        if (json_is_null(v)) {
            if (full && (f->flags & MF_REQUIRED)) {
                return api_error_set(e, API_ERR_MISSING_FIELD, name,
                                     "'%s' is required", name);
            }
            continue;
        }
        if (mf_check_value(f, v, name, e)) {
            return e->code;
        }
    }
    for (const struct model_field *f = fields; full && f->name; f++) {
        if ((f->flags & MF_REQUIRED) && !json_object_get(obj, f->name)) {
            snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "",
                     f->name);
            return api_error_set(e, API_ERR_MISSING_FIELD, name,
                                 "'%s' is required", name);
        }
    }
    return API_OK;
}

enum api_err
model_validate(const struct model_type *type, json_t *obj, bool full,
               const char *id, const char *prefix, const char *const *skip,
               struct api_error *e)
{
    json_t *v;
    char name[256];

    if (!json_is_object(obj)) {
        return api_error_set(e, API_ERR_NOT_AN_OBJECT, prefix,
                             "'%s' must be a JSON object",
                             *prefix ? prefix : "body");
    }
    snprintf(name, sizeof name, "%s%sid", prefix, *prefix ? "." : "");
    v = json_object_get(obj, "id");
    if (v && (!json_is_string(v) || (id && strcmp(json_string_value(v), id)))) {
        return api_error_set(e, API_ERR_ID_MISMATCH, name,
                             "'%s' does not match the id in the path", name);
    }
    snprintf(name, sizeof name, "%s%s_revision", prefix, *prefix ? "." : "");
    v = json_object_get(obj, "_revision");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        return api_error_set(e, API_ERR_WRONG_TYPE, name,
                             "'%s' must be a non-negative integer", name);
    }
    /* Skip the server fields and the caller's list. */
    const char *const *lists[2] = {server_fields, skip};
    const char *merged[32];
    size_t n = 0;
    for (int l = 0; l < 2; l++) {
        for (const char *const *p = lists[l]; p && *p && n < 31; p++) {
            merged[n++] = *p;
        }
    }
    merged[n] = NULL;
    if (mf_check_object(type->fields, obj, full, prefix, merged, e)) {
        return e->code;
    }
    return type->check ? type->check(obj, full, prefix, e) : API_OK;
}

void
model_strip(const struct model_type *type, json_t *obj)
{
    json_object_del(obj, "id");
    json_object_del(obj, "path");
    json_object_del(obj, "resource_type");
    json_object_del(obj, "_revision");
    for (const struct model_field *f = type->fields; f->name; f++) {
        if (f->flags & MF_READONLY) {
            json_object_del(obj, f->name);
        }
    }
    /* Merge-patch nulls mean "absent". */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(obj, key);
        }
    }
}

void
model_decorate(const struct model_path *mp, json_t *obj, uint64_t rev)
{
    const struct model_type *t = mp->types[mp->depth - 1];
    char path[MODEL_KEY_MAX];

    model_api_path(mp, mp->depth, path);
    json_object_set_new(obj, "id", json_string(mp->ids[mp->depth - 1]));
    json_object_set_new(obj, "resource_type", json_string(t->resource_type));
    json_object_set_new(obj, "path", json_string(path));
    json_object_set_new(obj, "_revision", json_integer((json_int_t)rev));
}

/* ---- Evaluation helpers (see model.h). ---- */

bool
model_tag_cond_parse(const char *value, struct model_tag_cond *c)
{
    const char *bar = strchr(value, '|');
    size_t slen = bar ? (size_t)(bar - value) : 0;
    const char *tag = bar ? bar + 1 : value;

    memset(c, 0, sizeof *c);
    if ((!slen && !*tag) || val_utf8_len(tag) > 256) {
        return false;
    }
    if (slen >= sizeof c->scope || strlen(tag) >= sizeof c->tag) {
        /* Byte lengths beyond the buffers: longer than any valid tag. */
        return false;
    }
    memcpy(c->scope, value, slen);
    c->scope[slen] = '\0';
    if (val_utf8_len(c->scope) > 128) {
        return false;
    }
    snprintf(c->tag, sizeof c->tag, "%s", tag);
    return true;
}
