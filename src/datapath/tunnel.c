/* GENEVE and VXLAN header encapsulation and decapsulation (tunnel.h). */
#include "datapath/tunnel.h"

#include <arpa/inet.h>
#include <string.h>

void
dp_tunnel_build_header(const struct dp_segment *seg, uint8_t hdr[16])
{
    memset(hdr, 0, 16);
    if (seg->encap == DP_ENCAP_GENEVE) {
        struct geneve_hdr gh = {
            .ver_optlen = WEFT_GENEVE_OPTS_LEN / 4,
            .flags = 0,
            .proto = htons(ETH_TYPE_TEB),
        };
        struct geneve_opt opt = {
            .opt_class = htons(WEFT_GENEVE_CLASS),
            .type = WEFT_GENEVE_OPT_SRC_PORT,
            .len = 1,
        };
        vni_put(gh.vni, seg->vni);
        memcpy(hdr, &gh, sizeof gh);
        memcpy(hdr + GENEVE_HDR_LEN, &opt, sizeof opt);
    } else {
        struct vxlan_hdr vh = {.flags = VXLAN_F_VNI};
        vni_put(vh.vni, seg->vni);
        memcpy(hdr, &vh, sizeof vh);
    }
}

enum dp_drop
dp_tunnel_encap(struct dp_packet *pkt, const struct dp_segment *seg,
                const struct dp_vtep *vtep, uint32_t src_lport)
{
    uint8_t *h;

    if (seg->encap == DP_ENCAP_GENEVE) {
        uint32_t lport = htonl(src_lport);

        h = dp_packet_push(pkt, DP_GENEVE_OVERHEAD);
        if (unlikely(!h)) {
            return DP_DROP_NO_BUFFER;
        }
        memcpy(h, seg->encap_hdr, DP_GENEVE_OVERHEAD - 4);
        memcpy(h + DP_GENEVE_OVERHEAD - 4, &lport, 4);
    } else {
        h = dp_packet_push(pkt, DP_VXLAN_OVERHEAD);
        if (unlikely(!h)) {
            return DP_DROP_NO_BUFFER;
        }
        memcpy(h, seg->encap_hdr, DP_VXLAN_OVERHEAD);
    }
    memcpy(pkt->tun_addr, vtep->addr, 16);
    pkt->out_port = seg->tunnel_port;
    return DP_DROP_NONE;
}

/* Walks GENEVE options in [p, p+len); picks up Weft's source-port option and
 * rejects unknown critical ones. */
static enum dp_drop
geneve_parse_options(const uint8_t *p, uint32_t len, uint32_t *src_lport)
{
    while (len) {
        struct geneve_opt opt;
        uint32_t opt_len;

        if (len < sizeof opt) {
            return DP_DROP_TUN_TRUNC;
        }
        memcpy(&opt, p, sizeof opt);
        opt_len = sizeof opt + (opt.len & 0x1f) * 4u;
        if (opt_len > len) {
            return DP_DROP_TUN_TRUNC;
        }
        if (opt.opt_class == htons(WEFT_GENEVE_CLASS) &&
            (opt.type & ~GENEVE_OPT_CRITICAL) == WEFT_GENEVE_OPT_SRC_PORT &&
            opt_len == sizeof opt + 4) {
            *src_lport = ntohl(rd32(p + sizeof opt));
        } else if (opt.type & GENEVE_OPT_CRITICAL) {
            return DP_DROP_TUN_CRITICAL_OPT;
        }
        p += opt_len;
        len -= opt_len;
    }
    return DP_DROP_NONE;
}

uint32_t
dp_tunnel_hdr_len_geneve(const uint8_t *p, uint32_t len)
{
    struct geneve_hdr gh;
    uint32_t hdr_len;

    if (len < GENEVE_HDR_LEN) {
        return 0;
    }
    memcpy(&gh, p, sizeof gh);
    hdr_len = GENEVE_HDR_LEN + (gh.ver_optlen & 0x3f) * 4u;
    if ((gh.ver_optlen >> 6) || (gh.flags & GENEVE_F_OAM) ||
        gh.proto != htons(ETH_TYPE_TEB) || hdr_len > len) {
        return 0;
    }
    return hdr_len;
}

uint32_t
dp_tunnel_hdr_len_vxlan(const uint8_t *p, uint32_t len)
{
    return len >= VXLAN_HDR_LEN && (p[0] & VXLAN_F_VNI) ? VXLAN_HDR_LEN : 0;
}

enum dp_drop
dp_tunnel_decap(struct dp_packet *pkt, enum dp_encap encap,
                const struct dp_tables *t)
{
    uint32_t vni, hdr_len, src_lport = 0;

    if (encap == DP_ENCAP_GENEVE) {
        struct geneve_hdr gh;
        enum dp_drop d;

        if (unlikely(pkt->len < GENEVE_HDR_LEN)) {
            return DP_DROP_TUN_TRUNC;
        }
        memcpy(&gh, pkt->data, sizeof gh);
        if (unlikely(gh.ver_optlen >> 6)) {
            return DP_DROP_TUN_BAD_VERSION;
        }
        hdr_len = GENEVE_HDR_LEN + (gh.ver_optlen & 0x3f) * 4u;
        if (unlikely(pkt->len < hdr_len)) {
            return DP_DROP_TUN_TRUNC;
        }
        if (unlikely(gh.flags & GENEVE_F_OAM)) {
            return DP_DROP_TUN_OAM;
        }
        if (unlikely(gh.proto != htons(ETH_TYPE_TEB))) {
            return DP_DROP_TUN_BAD_PROTO;
        }
        d = geneve_parse_options(pkt->data + GENEVE_HDR_LEN,
                                 hdr_len - GENEVE_HDR_LEN, &src_lport);
        if (unlikely(d != DP_DROP_NONE)) {
            return d;
        }
        vni = vni_get(gh.vni);
    } else {
        struct vxlan_hdr vh;

        if (unlikely(pkt->len < VXLAN_HDR_LEN)) {
            return DP_DROP_TUN_TRUNC;
        }
        memcpy(&vh, pkt->data, sizeof vh);
        if (unlikely(!(vh.flags & VXLAN_F_VNI))) {
            return DP_DROP_TUN_BAD_FLAGS;
        }
        hdr_len = VXLAN_HDR_LEN;
        vni = vni_get(vh.vni);
    }

    pkt->segment = dp_vni_lookup(t, encap, vni);
    if (unlikely(pkt->segment == DP_SEG_NONE)) {
        return DP_DROP_TUN_UNKNOWN_VNI;
    }
    pkt->src_lport = src_lport;
    dp_packet_pull(pkt, hdr_len);
    return DP_DROP_NONE;
}
