/* Agent-side cost of one control-plane delta (bench/bench-cp.sh runs it).
 *
 *   bench-cp-agent SEGMENTS REMOTES_PER_SEGMENT VTEPS [SUFFIX]
 *
 * One agent (a real datapath with its packet thread; VIFs stay pending as
 * their interfaces do not exist) gets a snapshot with SEGMENTS segments,
 * one local port and REMOTES_PER_SEGMENT remote bindings each, spread over
 * VTEPS other hosts.  Then one-port deltas (add a remote binding to a
 * segment, then delete it) go through the controller-mode path of
 * agent-channel.c, each phase timed on its own:
 *   dstate_apply    the delta into the desired state
 *   realize         the desired state into the datapath (agent-state.c
 *                   and agent.c: snapshot built and published)
 *   save            the state cache (dstate_save, with fsync)
 * Figures (name: value unit, names suffixed with SUFFIX):
 *   agent_delta_apply_us, agent_delta_realize_us, agent_delta_save_us
 *   (medians), agent_delta_realize_p99_us, agent_delta_total_p99_us,
 *   agent_snapshot_realize_ms, agent_snapshots_patched (realizations that
 *   patched the published snapshot instead of building it whole). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent-state.h"
#include "agent/agent.h"
#include "lib/log.h"
#include "lib/util.h"
#include "delta-lib.h"

#define DELTAS 200

static Weft__RemoteBinding *
remote(int s, int r, int vteps)
{
    Weft__RemoteBinding *rb = xmalloc(sizeof *rb);
    uint8_t mac[6] = {
        0x02,      0x10, (uint8_t)(s >> 8), (uint8_t)s, (uint8_t)(r >> 8),
        (uint8_t)r};
    char buf[96];
    int v = (s * 7 + r) % vteps;

    weft__remote_binding__init(rb);
    snprintf(buf, sizeof buf, "/projects/default/segments/s%d/ports/r%d", s, r);
    rb->id = xstrdup(buf);
    rb->segment = pb_seg_id(s);
    rb->lport = (uint32_t)(s * 100000 + r + 1000);
    rb->mac = pb_bin(mac, 6);
    rb->n_ips = 1;
    rb->ips = xmalloc(sizeof *rb->ips);
    rb->ips[0] = pb_ip4(10, (uint8_t)(s >> 8), (uint8_t)s, (uint8_t)r);
    rb->ips[0].data[3] = (uint8_t)(r % 250 + 2);
    rb->ips[0].data[1] = (uint8_t)(r / 250);
    rb->vtep = pb_ip4(172, 16, (uint8_t)(v >> 8), (uint8_t)(v + 1));
    return rb;
}

static Weft__Update *
snapshot(int n_segs, int per_seg, int vteps)
{
    Weft__Update *u = xmalloc(sizeof *u);
    size_t n_remotes = (size_t)n_segs * (size_t)per_seg;

    weft__update__init(u);
    u->revision = 1;
    u->full = true;
    u->host = xmalloc(sizeof *u->host);
    weft__host_config__init(u->host);
    u->host->local_ip = pb_ip4(172, 31, 0, 1);
    u->segments = xcalloc((size_t)n_segs, sizeof *u->segments);
    u->ports = xcalloc((size_t)n_segs, sizeof *u->ports);
    u->remotes = xcalloc(n_remotes, sizeof *u->remotes);
    u->floods = xcalloc((size_t)n_segs * 10, sizeof *u->floods);
    for (int s = 0; s < n_segs; s++) {
        Weft__Segment *seg = xmalloc(sizeof *seg);
        Weft__LocalPort *lp = xmalloc(sizeof *lp);
        uint8_t mac[6] = {0x02, 0x01, (uint8_t)(s >> 8), (uint8_t)s, 0, 1};
        char buf[96];

        weft__segment__init(seg);
        seg->id = pb_seg_id(s);
        seg->vni = (uint32_t)(5000 + s);
        u->segments[u->n_segments++] = seg;

        weft__local_port__init(lp);
        snprintf(buf, sizeof buf, "/projects/default/segments/s%d/ports/l", s);
        lp->id = xstrdup(buf);
        lp->segment = pb_seg_id(s);
        lp->lport = (uint32_t)(s + 1);
        lp->mac = pb_bin(mac, 6);
        snprintf(buf, sizeof buf, "bcpa%d", s);
        lp->ifname = xstrdup(buf);
        u->ports[u->n_ports++] = lp;

        for (int r = 0; r < per_seg; r++) {
            u->remotes[u->n_remotes++] = remote(s, r, vteps);
        }
        for (int f = 0; f < 10 && f < vteps; f++) {
            Weft__FloodVtep *fv = xmalloc(sizeof *fv);
            int v = (s * 7 + f) % vteps;
            weft__flood_vtep__init(fv);
            snprintf(buf, sizeof buf, "/projects/default/segments/s%d|h%d", s,
                     v);
            fv->id = xstrdup(buf);
            fv->segment = pb_seg_id(s);
            fv->vtep = pb_ip4(172, 16, (uint8_t)(v >> 8), (uint8_t)(v + 1));
            u->floods[u->n_floods++] = fv;
        }
    }
    return u;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Desired state -> datapath, as agent-channel.c's channel_realize()
 * ('f' persists: a realization with failures makes the next one whole). */
static void
realize(struct agent *a, struct dstate *ds, struct dstate_failures *f)
{
    struct dstate_options o = {.mtu = 1500, .offloads = true};

    agent_realize(a, ds, &o, f);
}

int
main(int argc, char *argv[])
{
    uint64_t t_apply[DELTAS], t_realize[DELTAS], t_save[DELTAS], t_tot[DELTAS];
    char tmpl[] = "/tmp/weft-bench-cpa.XXXXXX", path[64], err[256];
    int n_segs, per_seg, vteps;
    const char *suffix;
    struct dstate_failures fails = {0};
    struct dstate *ds;
    struct agent *a;
    Weft__Update *u;
    uint64_t t0, patched, built;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: bench-cp-agent SEGMENTS REMOTES_PER_SEGMENT "
                        "VTEPS [SUFFIX]\n");
        return 2;
    }
    n_segs = atoi(argv[1]);
    per_seg = atoi(argv[2]);
    vteps = atoi(argv[3]);
    suffix = argc > 4 ? argv[4] : "";
    if (n_segs < 1 || n_segs > 60000 || per_seg < 1 || per_seg > 60000 ||
        vteps < 1 || vteps > 60000) {
        fprintf(stderr, "bench-cp-agent: bad sizes\n");
        return 2;
    }
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/state.cache", tmpl);
    log_set_level(LOG_ERR);
    a = agent_create();
    ds = dstate_create();
    if (!a) {
        return 1;
    }

    u = snapshot(n_segs, per_seg, vteps);
    t0 = time_nsec();
    dstate_apply(ds, u, err, sizeof err);
    realize(a, ds, &fails);
    double snap_ms = (double)(time_nsec() - t0) / 1e6;
    weft__update__free_unpacked(u, NULL);

    for (int i = 0; i < DELTAS; i++) {
        Weft__Update d = WEFT__UPDATE__INIT;
        Weft__RemoteBinding *rb =
            remote(i / 2 % n_segs, per_seg + i / 2, vteps);
        char *del = rb->id;
        uint64_t t1, t2, t3, t4;

        d.revision = (uint64_t)i + 2;
        d.prev_revision = (uint64_t)i + 1;
        if (i % 2 == 0) {
            d.n_remotes = 1;
            d.remotes = &rb;
        } else {
            d.n_del_remotes = 1;
            d.del_remotes = &del;
        }
        t1 = time_nsec();
        if (dstate_apply(ds, &d, err, sizeof err)) {
            fprintf(stderr, "bench-cp-agent: %s\n", err);
            return 1;
        }
        t2 = time_nsec();
        realize(a, ds, &fails);
        t3 = time_nsec();
        dstate_save(ds, path);
        t4 = time_nsec();
        t_apply[i] = t2 - t1;
        t_realize[i] = t3 - t2;
        t_save[i] = t4 - t3;
        t_tot[i] = t4 - t1;
        weft__remote_binding__free_unpacked(rb, NULL);
    }
    qsort(t_apply, DELTAS, sizeof *t_apply, cmp_u64);
    qsort(t_realize, DELTAS, sizeof *t_realize, cmp_u64);
    qsort(t_save, DELTAS, sizeof *t_save, cmp_u64);
    qsort(t_tot, DELTAS, sizeof *t_tot, cmp_u64);
    printf("agent_snapshot_realize_ms%s: %.1f ms\n", suffix, snap_ms);
    printf("agent_delta_apply_us%s: %.1f us\n", suffix,
           (double)t_apply[DELTAS / 2] / 1e3);
    printf("agent_delta_realize_us%s: %.1f us\n", suffix,
           (double)t_realize[DELTAS / 2] / 1e3);
    printf("agent_delta_save_us%s: %.1f us\n", suffix,
           (double)t_save[DELTAS / 2] / 1e3);
    printf("agent_delta_realize_p99_us%s: %.1f us\n", suffix,
           (double)t_realize[DELTAS * 99 / 100] / 1e3);
    printf("agent_delta_total_p99_us%s: %.1f us\n", suffix,
           (double)t_tot[DELTAS * 99 / 100] / 1e3);
    agent_realize_counts(a, &patched, &built);
    printf("agent_snapshots_patched%s: %" PRIu64 " of %" PRIu64 "\n", suffix,
           patched, patched + built);
    fflush(stdout);

    dstate_failures_clear(&fails);
    dstate_destroy(ds);
    agent_destroy(a);
    unlink(path);
    rmdir(tmpl);
    return 0;
}
