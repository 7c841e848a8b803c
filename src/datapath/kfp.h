/* The kernel fast path (docs/decisions.md 70): loads the BPF programs of
 * src/bpf/kfp.bpf.c, attaches them to the VIFs and the underlay device,
 * and keeps their maps in line with each snapshot the agent publishes.
 * The programs carry plain L2 unicast of VIFs without a firewall inside
 * the kernel; everything else reaches the agent's pipeline as before.
 *
 * Attachments are tcx links and socket filters owned by this process:
 * when it exits, however it exits, the kernel removes them, so a crashed
 * agent never leaves a fast path forwarding on stale maps.
 *
 * Thread-safety: one control thread calls everything; kfp_get_stats()
 * may be called from any thread of the agent's control side. */
#ifndef WEFT_DP_KFP_H
#define WEFT_DP_KFP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_tables;
struct kfp;

struct kfp_underlay {
    uint8_t local_ip[16]; /* IPv4-mapped: IPv6 underlays are not served */
    uint16_t geneve_port; /* host order */
    uint16_t vxlan_port;
    uint16_t sport_min[2]; /* first outer source port: GENEVE, VXLAN */
    uint16_t sport_count;
};

/* Loads the programs and attaches the tunnel one to the device that owns
 * u->local_ip.  Returns NULL with a reason in 'err' when the kernel or the
 * underlay cannot have a fast path; the agent then runs without one. */
struct kfp *kfp_open(const struct kfp_underlay *u, char *err, size_t errlen);

/* Detaches everything and frees 'k' (NULL: nothing). */
void kfp_close(struct kfp *k);

/* Called with 'next' before it is published: withdraws every VIF whose
 * entry 'next' changes or drops (a new segment, a firewall, a new device),
 * and the MAC entries that deliver to it, so that no frame goes the fast
 * way under the old entry once the pipeline follows 'next'. */
void kfp_sync_begin(struct kfp *k, const struct dp_tables *next);

/* Brings the maps and the VIF attachments in line with 't', the snapshot
 * just published: VIFs that left are detached first, new ones attached
 * last, so a frame is never taken by a VIF's program and its socket at
 * once.  Returns the number of map or attach operations that failed
 * (logged; such an entry is simply left to the agent). */
int kfp_sync(struct kfp *k, const struct dp_tables *t);

struct kfp_stats {
    uint64_t local, encap, decap; /* frames the kernel carried */
    uint64_t err_encap, err_decap, err_redirect;
    uint32_t vifs, segments, macs, peers; /* entries after the last sync */
};

/* Counters summed over CPUs; per VIF (datapath port index 'slot') too. */
void kfp_get_stats(const struct kfp *k, struct kfp_stats *s);
bool kfp_get_vif_stats(const struct kfp *k, uint32_t slot,
                       uint64_t *from_vm_packets, uint64_t *from_vm_bytes,
                       uint64_t *to_vm_packets, uint64_t *to_vm_bytes);

#endif
