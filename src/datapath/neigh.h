/* Local ARP and IPv6 neighbour-discovery responder.
 *
 * The tables know which MAC owns each IP of a segment (local and remote
 * ports alike), so an ARP request or a neighbour solicitation for a known
 * address is answered by the sending VM's own host instead of being flooded
 * over the fabric.  Requests we cannot answer (unknown address, a VM asking
 * for its own address, DAD probes) are forwarded as usual. */
#ifndef WEFT_DP_NEIGH_H
#define WEFT_DP_NEIGH_H 1

#include <stdbool.h>

#include "datapath/packet.h"
#include "datapath/tables.h"

/* 'pkt' is parsed and arrived in 'segment'.  If it is an ARP request or an
 * NS that the tables can answer, rewrites it in place into the reply
 * (addressed back to the sender) and returns true; else returns false and
 * leaves it untouched. */
bool dp_neigh_reply(struct dp_packet *pkt, const struct dp_tables *t,
                    uint32_t segment);

#endif
