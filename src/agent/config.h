/* weft-agent's declarative configuration, read from a JSON file until the
 * controller exists (then the controller fills the same structures).
 *
 * File format (every field is checked; unknown fields are errors):
 *
 * {
 *   "underlay": {
 *     "local_ip": "198.18.0.1",      required, IPv4 or IPv6 tunnel endpoint
 *     "geneve_port": 6081,           optional, UDP port, default 6081
 *     "vxlan_port": 4789,            optional, UDP port, default 4789
 *     "mtu": 1500                    optional, underlay MTU, 576..9216
 *   },
 *   "options": {                     optional
 *     "offloads": true,              GSO/checksum offload on VIFs (default on)
 *     "busy_poll": false,            poll without sleeping (default off)
 *     "kernel_fastpath": true        carry plain L2 unicast of VIFs without a
 *                                    firewall in the kernel (BPF; default
 *                                    on, docs/decisions.md 70)
 *   },
 *   "segments": [
 *     {
 *       "name": "blue",              required, 1..63 chars [A-Za-z0-9_.-]
 *       "vni": 5001,                 required, 1..16777215, unique
 *       "encap": "geneve",           optional, "geneve" (default) | "vxlan"
 *       "ports": [                   local ports (VIFs on this host)
 *         { "id": 11,                required, 1..4294967295, unique on host
 *           "name": "vm1",           optional, as segment name
 *           "ifname": "vif1",        required, Linux interface name, unique
 *           "mac": "02:00:00:00:01:01",  required, unicast
 *           "ips": ["198.19.1.11", "fd00:1::11"] }    optional
 *       ],
 *       "remote": [                  ports of this segment on other hosts
 *         { "mac": "02:00:00:00:02:01", "ips": ["198.19.1.21"],
 *           "vtep": "198.18.0.2",    required, the remote tunnel endpoint
 *           "port_id": 21 }          optional
 *       ],
 *       "flood_vteps": ["198.18.0.2"] optional: BUM replication list;
 *                                    default: every distinct remote vtep
 *     }
 *   ]
 * }
 *
 * A MAC may appear once per segment (local or remote), and so may an IP
 * address.  Port ids (local "id" and remote "port_id" share one id space)
 * and interface names are unique in the whole file.  All MACs are unicast
 * and non-zero; all addresses are unicast (not unspecified, multicast or
 * 255.255.255.255).  A vtep or flood vtep is never underlay.local_ip and has
 * its address family.  "segments", "ports" and "remote" may be left out
 * (empty).  Limits: 16 MiB of text, 4096 segments, 65536 ports, remotes and
 * flood vteps per segment, 16 IPs per port or remote.  docs/agent-config.md
 * is the operator's reference.
 *
 * Addresses are kept as 16-byte IPv6 or IPv4-mapped (::ffff:a.b.c.d)
 * values, so IPv4 written either way is the same address.
 *
 * Thread-safety: the functions keep no state; a parsed config is immutable
 * and may be read from any thread. */
#ifndef WEFT_AGENT_CONFIG_H
#define WEFT_AGENT_CONFIG_H 1

#include <stdbool.h>
#include <stdint.h>

/* options.kernel_fastpath when a configuration does not say (decision 70);
 * also the controller-mode default (--kernel-fastpath). */
#define AGENT_KERNEL_FASTPATH_DEFAULT true

#include "datapath/proto.h"

#define CFG_NAME_MAX   64
#define CFG_IFNAME_MAX 16

struct cfg_ip {
    uint8_t b[16]; /* IPv6, or IPv4-mapped ::ffff:a.b.c.d */
};

enum cfg_encap { CFG_ENCAP_GENEVE, CFG_ENCAP_VXLAN };

struct cfg_port {
    uint32_t id;                 /* logical port id */
    char name[CFG_NAME_MAX];     /* display name, may be empty */
    char ifname[CFG_IFNAME_MAX]; /* local interface */
    struct eth_addr mac;
    struct cfg_ip *ips;
    uint32_t n_ips;
};

struct cfg_remote {
    struct eth_addr mac;
    struct cfg_ip *ips;
    uint32_t n_ips;
    struct cfg_ip vtep; /* tunnel endpoint of the host it lives on */
    uint32_t port_id;   /* 0 if not given */
};

/* An address with a prefix length in its family's terms (0..32 for
 * IPv4-mapped addresses, 0..128 for IPv6). */
struct cfg_prefix {
    struct cfg_ip ip;
    uint8_t plen;
};

struct cfg_dhcp_route { /* DHCPv4 classless static route (option 121) */
    struct cfg_prefix dst;
    struct cfg_ip gateway;
};

#define CFG_DOMAIN_MAX 256
#define CFG_NO_ROUTER  UINT32_MAX

/* A segment's DHCPv4 service: answered by the agent for its local ports,
 * each of which gets its own IPv4 addresses (assigned centrally). */
struct cfg_dhcp {
    bool enabled;
    uint32_t lease_time; /* seconds */
    struct cfg_ip *dns;  /* IPv4 and IPv6 servers (each side picks its own) */
    uint32_t n_dns;
    char domain[CFG_DOMAIN_MAX]; /* "" = none */
    uint16_t mtu;                /* 0 = none */
    struct cfg_dhcp_route *routes;
    uint32_t n_routes;
};

/* A segment's IPv6 services (docs/routing.md): router advertisements
 * (with the IPv6 gateway prefixes; 'slaac': A flag on them), the M and O
 * flags, and a DHCPv6 server (stateful when 'managed', else information
 * only).  DNS servers and domain come from cfg_dhcp. */
struct cfg_ipv6 {
    bool ra;
    bool slaac;
    bool managed;
    bool other;
    bool dhcp6;
};

struct cfg_segment {
    char name[CFG_NAME_MAX];
    uint32_t vni;
    enum cfg_encap encap;
    /* Routing: index into agent_config.routers or CFG_NO_ROUTER, the
     * router's MAC on the segment and its addresses (gateways). */
    uint32_t router;
    struct eth_addr router_mac;
    struct cfg_prefix *gateways;
    uint32_t n_gateways;
    struct cfg_dhcp dhcp;
    struct cfg_ipv6 ipv6;
    struct cfg_port *ports;
    uint32_t n_ports;
    struct cfg_remote *remotes;
    uint32_t n_remotes;
    struct cfg_ip *flood_vteps; /* explicit, or derived from remotes */
    uint32_t n_flood_vteps;
};

/* A static route of router 'router' (index into agent_config.routers):
 * no next hops = discard. */
struct cfg_route {
    uint32_t router;
    struct cfg_prefix prefix;
    struct cfg_ip *next_hops;
    uint32_t n_next_hops;
    uint32_t distance;
};

struct agent_config {
    struct cfg_ip local_ip;
    uint16_t geneve_port;
    uint16_t vxlan_port;
    uint32_t mtu;
    bool offloads;
    bool busy_poll;
    bool kernel_fastpath; /* default AGENT_KERNEL_FASTPATH_DEFAULT */
    struct cfg_segment *segments;
    uint32_t n_segments;
    char **routers; /* router ids (paths); segments refer by index */
    uint32_t n_routers;
    struct cfg_route *routes;
    uint32_t n_routes;
};

/* Parses and validates JSON text.  On success returns 0 and a config the
 * caller frees with agent_config_free().  On failure returns EINVAL, sets
 * *cfgp to NULL and writes into 'err' a message that names the field by its
 * JSON path, e.g. "segments[1].ports[0].mac: not a MAC address: \"zz\"",
 * or for malformed JSON "JSON syntax error at line L, column C: ...".  The
 * message is printable ASCII, truncated to fit 'err_size' ('err' may be NULL
 * when 'err_size' is 0).  'json' need not be NUL-terminated. */
int agent_config_parse(const char *json, size_t len, struct agent_config **cfgp,
                       char *err, size_t err_size);
/* Reads 'path' and parses it as above; every message starts "<path>: ".
 * Returns 0, the errno of a failed open() or read() (message
 * "<path>: <strerror>"), or EINVAL for a file that is too large or invalid. */
int agent_config_load(const char *path, struct agent_config **cfgp, char *err,
                      size_t err_size);
void agent_config_free(struct agent_config *); /* NULL is fine */

/* True if 'ip' is IPv4-mapped; then *v4 (if not NULL) is the address in
 * network order. */
bool cfg_ip_is_v4(const struct cfg_ip *ip, uint32_t *v4);
/* Formats into buf (INET6_ADDRSTRLEN at least); returns buf.  IPv4-mapped
 * addresses print as dotted quads.  If 'size' is too small, buf is "". */
const char *cfg_ip_format(const struct cfg_ip *ip, char *buf, size_t size);

#endif
