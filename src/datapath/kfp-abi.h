/* The kernel fast path's maps as both sides see them: the BPF programs
 * (src/bpf/kfp.bpf.c, compiled with clang -target bpf) and the agent that
 * fills the maps (kfp.c).  Plain fixed-width types only, no padding the
 * two compilers could lay out differently.  docs/decisions.md 70.
 *
 * Everything is keyed by values that mean the same in every snapshot (an
 * interface index, a VNI, a MAC), never by a snapshot's array index, so
 * that a map updated entry by entry never points one packet into another
 * segment. */
#ifndef WEFT_DP_KFP_ABI_H
#define WEFT_DP_KFP_ABI_H 1

#include <linux/types.h>

#define KFP_MAX_VIFS   4096
#define KFP_MAX_SEGS   4096
#define KFP_MAX_MACS   262144
#define KFP_MAX_PEERS  4096
#define KFP_STAT_SLOTS 4096 /* per-VIF counter slots (datapath port index) */

enum kfp_encap { KFP_ENCAP_GENEVE = 0, KFP_ENCAP_VXLAN = 1 };

/* kfp_cfg[0]: this host's tunnel endpoint. */
struct kfp_cfg {
    __u32 local_ip;         /* IPv4, network order */
    __u32 underlay_ifindex; /* the device that owns local_ip */
    __u16 geneve_port;      /* UDP destination ports, network order */
    __u16 vxlan_port;
    __u16 sport_min[2]; /* first outer source port, by enum kfp_encap */
    __u16 sport_count;  /* source ports per encapsulation */
    __u16 pad;
};

/* kfp_vifs[ifindex]: a VIF whose frames the fast path may take: bound to
 * a segment, no firewall. */
struct kfp_vif {
    __u32 vni;   /* its segment */
    __u32 lport; /* logical port id (GENEVE source-port option) */
    __u32 slot;  /* counter slot, < KFP_STAT_SLOTS */
    __u32 pad;
};

/* kfp_segs[vni]: a segment. */
struct kfp_seg {
    __u8 encap;   /* enum kfp_encap */
    __u8 punt;    /* DP_PUNT_* (tables.h): such frames stay with the agent */
    __u8 hdr_len; /* bytes of 'hdr': 16 (GENEVE) or 8 (VXLAN) */
    __u8 pad;
    __u32 max_frame; /* largest inner frame the underlay carries */
    __u8 hdr[16];    /* the tunnel header, source-port option zero */
};

struct kfp_mac_key {
    __u32 vni;
    __u8 mac[6];
    __u16 pad; /* zero */
};

#define KFP_MAC_PEER 0x01 /* local VIF is a veth: deliver to its peer */

/* kfp_macs[{vni, mac}]: where a MAC of the segment lives.  Local entries
 * exist only for VIFs the fast path may deliver to (no firewall). */
struct kfp_mac_val {
    __u32 ifindex; /* local VIF, 0 if remote */
    __u32 vtep;    /* remote endpoint, IPv4 network order */
    __u32 slot;    /* local VIF's counter slot */
    __u8 flags;    /* KFP_MAC_* */
    __u8 pad[3];
};

/* Per CPU, per VIF slot. */
struct kfp_vif_stats {
    __u64 from_vm_packets; /* frames the VM sent that the fast path took */
    __u64 from_vm_bytes;
    __u64 to_vm_packets; /* frames the fast path delivered to the VM */
    __u64 to_vm_bytes;
};

/* kfp_stats, per CPU, one slot each. */
enum kfp_stat {
    KFP_ST_LOCAL,        /* VIF to VIF on this host */
    KFP_ST_ENCAP,        /* VIF to a tunnel */
    KFP_ST_DECAP,        /* tunnel to a VIF */
    KFP_ST_ERR_ENCAP,    /* taken but could not be encapsulated: dropped */
    KFP_ST_ERR_DECAP,    /* the kernel refused to strip the header: passed */
    KFP_ST_ERR_REDIRECT, /* taken but the redirect failed: dropped */
    KFP_ST_MAX
};

#endif
