/* Control side of the distributed firewall at scale (bench/bench-dfw.sh
 * runs it):
 *
 *   bench-dfw-span HOSTS RULES GROUP_MEMBERS
 *
 * The controller's model (cpm + cfw, in process) holds HOSTS hosts, a
 * policy of RULES rules between two groups defined by tag criteria, and
 * 2 x GROUP_MEMBERS tagged ports spread over the hosts (so each group has
 * GROUP_MEMBERS members).  One agent's side is real too: host h0's desired
 * state (agent-state.c) gets its full snapshot and agent-dfw.c compiles
 * it (its vNICs' classifiers and the address-set index).
 *
 * Then one membership change: a port is retagged from group a to group
 * b.  Figures:
 *   dfw_group_change_ctl_ms      store event -> the controller has built
 *                                the delta of every host (cpm_apply +
 *                                cpm_flush; the deltas are packed, as
 *                                for sending)
 *   dfw_group_change_agent_ms    one agent: apply the delta and rebuild
 *                                its firewall objects (no classifier is
 *                                recompiled: address sets are shared)
 *   dfw_group_change_realize_ms  the sum: compute on both sides of one
 *                                change reaching every host (the wire adds
 *                                one TLS hop, measured by bench-cp as
 *                                cp_change_p50_ms)
 *   dfw_group_change_bytes_per_host  delta size per host
 *   dfw_span_rules_per_host      rules in a host's snapshot
 *   dfw_agent_compile_s          h0's first compile of its vNICs */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-dfw.h"
#include "agent/agent-state.h"
#include "controller/cpm.h"
#include "lib/util.h"

static struct {
    size_t hosts, bytes;
    Weft__Update *h0; /* h0's delta, kept for the agent side */
} flush_ctx;

static void
on_delta(void *aux, const char *host_id, Weft__Update *u)
{
    (void)aux;
    flush_ctx.hosts++;
    flush_ctx.bytes += cpm_update_size(u);
    if (!strcmp(host_id, "h0")) {
        flush_ctx.h0 = u;
        return;
    }
    cpm_update_free(u);
}

static double
ms_since(uint64_t t0)
{
    return (double)(time_nsec() - t0) / 1e6;
}

static void
put(struct cpm *m, const char *key, const char *value, uint64_t rev)
{
    cpm_apply(m, key, value, strlen(value), rev);
}

int
main(int argc, char *argv[])
{
    size_t hosts = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    size_t rules = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    size_t members = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
    struct cpm *m = cpm_create();
    struct dstate *ds = dstate_create();
    struct agent_dfw *dfw = agent_dfw_create();
    char key[256], value[1024], err[256];
    uint64_t rev = 1, t0, load0 = time_nsec();
    Weft__Update *snap;
    double ctl_ms, agent_ms, compile_s;

    cpm_set_loading(m, true); /* as the controller's initial load */
    for (size_t h = 0; h < hosts; h++) {
        snprintf(key, sizeof key, "o1/hosts/h%zu", h);
        snprintf(value, sizeof value,
                 "{\"tunnel_endpoint\":\"10.%zu.%zu.%zu\"}", h >> 16 & 255,
                 h >> 8 & 255, (h & 255) + 1);
        put(m, key, value, rev);
    }
    for (size_t s = 0; s < 100; s++) {
        snprintf(key, sizeof key, "o2/projects/default/segments/s%zu", s);
        snprintf(value, sizeof value, "{\"vni\":%zu}", 1000 + s);
        put(m, key, value, rev);
    }
    put(m, "o2/projects/default/groups/a",
        "{\"criteria\":[{\"conditions\":[{\"key\":\"tag\",\"operator\":"
        "\"equals\",\"value\":\"tier|a\"}]}]}",
        rev);
    put(m, "o2/projects/default/groups/b",
        "{\"criteria\":[{\"conditions\":[{\"key\":\"tag\",\"operator\":"
        "\"equals\",\"value\":\"tier|b\"}]}]}",
        rev);
    put(m, "o2/projects/default/security-policies/big",
        "{\"category\":\"application\",\"sequence_number\":1}", rev);
    for (size_t r = 0; r < rules; r++) {
        snprintf(key, sizeof key,
                 "o3/projects/default/security-policies/big/rules/r%zu", r);
        snprintf(value, sizeof value,
                 "{\"sequence_number\":%zu,\"action\":\"%s\","
                 "\"source_groups\":[\"/api/v1/projects/default/groups/%s\"],"
                 "\"destination_groups\":[\"/api/v1/projects/default/groups/"
                 "%s\"],\"service_entries\":[{\"protocol\":\"TCP\","
                 "\"destination_ports\":[\"%zu\"]}]}",
                 r, r % 2 ? "allow" : "drop", r % 2 ? "a" : "b",
                 r % 2 ? "b" : "a", 1 + r % 65535);
        put(m, key, value, rev);
    }
    /* Ports: 2 x members, h0 gets two of them (its vNICs). */
    for (size_t p = 0; p < 2 * members; p++) {
        size_t h = p < 2 ? 0 : 1 + p % (hosts - 1);
        snprintf(key, sizeof key,
                 "o3/projects/default/segments/s%zu/ports/p%zu", p % 100, p);
        snprintf(value, sizeof value,
                 "{\"mac_address\":\"02:00:%02zx:%02zx:%02zx:%02zx\","
                 "\"ip_addresses\":[\"10.%zu.%zu.%zu\"],"
                 "\"tags\":[{\"scope\":\"tier\",\"tag\":\"%s\"}],"
                 "\"attachment\":{\"host\":\"h%zu\",\"vif\":\"v%zu\"}}",
                 p >> 24 & 255, p >> 16 & 255, p >> 8 & 255, p & 255,
                 100 + (p >> 16 & 63), p >> 8 & 255, p & 255, p % 2 ? "b" : "a",
                 h, p);
        put(m, key, value, rev);
    }
    cpm_set_loading(m, false);
    cpm_discard_dirty(m);
    printf("dfw_ctl_load_s: %.2f s\n", ms_since(load0) / 1000);

    snap = cpm_snapshot(m, "h0", rev);
    printf("dfw_span_rules_per_host: %zu rules\n", snap->n_rules);
    printf("dfw_span_members_per_host: %zu members\n", snap->n_addr_members);
    if (dstate_apply(ds, snap, err, sizeof err)) {
        fprintf(stderr, "snapshot: %s\n", err);
        return 1;
    }
    cpm_update_free(snap);
    t0 = time_nsec();
    agent_dfw_sync(dfw, ds);
    compile_s = ms_since(t0) / 1000;
    printf("dfw_agent_compile_s: %.2f s\n", compile_s);

    /* One membership change: port p2 (group a) retagged into group b. */
    rev++;
    snprintf(value, sizeof value,
             "{\"mac_address\":\"02:00:00:00:00:02\","
             "\"ip_addresses\":[\"10.100.0.2\"],"
             "\"tags\":[{\"scope\":\"tier\",\"tag\":\"b\"}],"
             "\"attachment\":{\"host\":\"h%zu\",\"vif\":\"v2\"}}",
             1 + 2 % (hosts - 1));
    t0 = time_nsec();
    cpm_apply(m, "o3/projects/default/segments/s2/ports/p2", value,
              strlen(value), rev);
    cpm_flush(m, rev, on_delta, NULL);
    ctl_ms = ms_since(t0);
    if (!flush_ctx.h0) {
        fprintf(stderr, "no delta for h0\n");
        return 1;
    }
    flush_ctx.h0->prev_revision = rev - 1;
    t0 = time_nsec();
    if (dstate_apply(ds, flush_ctx.h0, err, sizeof err)) {
        fprintf(stderr, "delta: %s\n", err);
        return 1;
    }
    agent_dfw_sync(dfw, ds);
    agent_ms = ms_since(t0);
    cpm_update_free(flush_ctx.h0);

    printf("dfw_group_change_hosts: %zu hosts\n", flush_ctx.hosts);
    printf("dfw_group_change_bytes_per_host: %.0f bytes\n",
           (double)flush_ctx.bytes /
               (double)(flush_ctx.hosts ? flush_ctx.hosts : 1));
    printf("dfw_group_change_ctl_ms: %.2f ms\n", ctl_ms);
    printf("dfw_group_change_agent_ms: %.2f ms\n", agent_ms);
    printf("dfw_group_change_realize_ms: %.2f ms\n", ctl_ms + agent_ms);
    agent_dfw_destroy(dfw);
    dstate_destroy(ds);
    cpm_destroy(m);
    return 0;
}
