/* Agent-side cost of one control-plane delta (bench/bench-cp.sh runs it).
 *
 *   bench-cp-agent SEGMENTS REMOTES_PER_SEGMENT VTEPS [SUFFIX]
 *
 * One agent (a real datapath with its packet thread; VIFs are opened on the
 * veth pairs bench-cp.sh makes, or stay pending where none exists) gets a
 * snapshot with SEGMENTS segments, one local port and REMOTES_PER_SEGMENT
 * remote bindings each, spread over VTEPS other hosts.  Then four series
 * of DELTAS one-object deltas go through the controller-mode path of
 * agent-channel.c, each (but port_update) an addition followed by its
 * deletion:
 *   remote  a remote binding in a segment
 *   flood   a new host's endpoint in a segment's flood list (that host got
 *           its first port in the segment, then lost it)
 *   port    a local port on interface bcpx0 (its VIF opened, then closed)
 *   port_update  a segment's own local port gets an address, then loses
 *           it (same interface: its VIF stays open)
 * and each phase of a delta is timed on its own:
 *   dstate_apply    the delta into the desired state
 *   realize         the desired state into the datapath (agent-state.c
 *                   and agent.c: snapshot patched or built, published)
 *   close           the devices the delta retired (agent_close_retired(),
 *                   which weft-agent runs after writing the ack)
 *   save            the state cache (dstate_save, with fsync; remote only)
 * Figures (name: value unit, names suffixed with SUFFIX):
 *   agent_delta_apply_us, agent_delta_realize_us, agent_delta_save_us
 *   (medians), agent_delta_realize_p99_us, agent_delta_total_p99_us (the
 *   remote series), agent_flood_realize_us, agent_flood_realize_p99_us,
 *   agent_port_realize_us, agent_port_realize_p99_us,
 *   agent_port_del_realize_us (median of the deletions alone),
 *   agent_port_del_close_us (median close of a deleted port's VIF: an
 *   AF_PACKET socket's close() waits ~10 ms for the kernel's
 *   synchronize_net(); after the ack, so not part of realize),
 *   agent_port_update_realize_us, agent_port_update_realize_p99_us,
 *   agent_snapshot_realize_ms, and per series agent_*_patched
 *   (realizations that patched the published snapshot instead of building
 *   it whole). */
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

/* Segment s's own local port (x < 0: "l" on bcpa<s>, with 'ip' or none)
 * or the port of delta pair x (on bcpx0, with an address). */
static Weft__LocalPort *
local_port(int s, int x, bool ip)
{
    Weft__LocalPort *lp = xmalloc(sizeof *lp);
    uint8_t mac[6] = {2, x < 0 ? 1 : 3,           (uint8_t)(s >> 8), (uint8_t)s,
                      0, (uint8_t)(x < 0 ? 1 : x)};

    weft__local_port__init(lp);
    lp->segment = pb_seg_id((uint32_t)s);
    lp->mac = pb_bin(mac, 6);
    if (x < 0) {
        lp->id = xasprintf("/projects/default/segments/s%d/ports/l", s);
        lp->lport = (uint32_t)(s + 1);
        lp->ifname = xasprintf("bcpa%d", s);
    } else {
        lp->id = xasprintf("/projects/default/segments/s%d/ports/x%d", s, x);
        lp->lport = (uint32_t)(900000 + x);
        lp->ifname = xstrdup("bcpx0");
    }
    if (x >= 0 || ip) {
        lp->n_ips = 1;
        lp->ips = xmalloc(sizeof *lp->ips);
        lp->ips[0] = pb_ip4(10, x < 0 ? 251 : 250, (uint8_t)s,
                            (uint8_t)(x < 0 ? 2 : x % 250 + 2));
    }
    return lp;
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
        char buf[96];

        weft__segment__init(seg);
        seg->id = pb_seg_id(s);
        seg->vni = (uint32_t)(5000 + s);
        u->segments[u->n_segments++] = seg;

        u->ports[u->n_ports++] = local_port(s, -1, false);

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

/* Makes the array ARR of N entries hold V alone. */
#define ONLY(N, ARR, V)                                                        \
    ((N) = 1, (ARR) = xmalloc(sizeof *(ARR)), (ARR)[0] = (V))

/* Delta i of a series into 'd' (revisions set by the caller). */
typedef void delta_fn(Weft__Update *d, int i, int n_segs, int per_seg,
                      int vteps);

static void
remote_delta(Weft__Update *d, int i, int n_segs, int per_seg, int vteps)
{
    Weft__RemoteBinding *rb = remote(i / 2 % n_segs, per_seg + i / 2, vteps);

    if (i % 2 == 0) {
        ONLY(d->n_remotes, d->remotes, rb);
    } else {
        ONLY(d->n_del_remotes, d->del_remotes, xstrdup(rb->id));
        weft__remote_binding__free_unpacked(rb, NULL);
    }
}

/* Host 'vteps + i / 2' (an endpoint no binding uses) joins segment
 * i / 2, then leaves it. */
static void
flood_delta(Weft__Update *d, int i, int n_segs, int per_seg, int vteps)
{
    int s = i / 2 % n_segs, v = vteps + i / 2;
    char *id = xasprintf("/projects/default/segments/s%d|hx%d", s, v);
    (void)per_seg;

    if (i % 2 == 0) {
        Weft__FloodVtep *fv = xmalloc(sizeof *fv);
        weft__flood_vtep__init(fv);
        fv->id = id;
        fv->segment = pb_seg_id((uint32_t)s);
        fv->vtep = pb_ip4(172, 17, (uint8_t)(v >> 8), (uint8_t)v);
        ONLY(d->n_floods, d->floods, fv);
    } else {
        ONLY(d->n_del_floods, d->del_floods, id);
    }
}

/* A local port on interface bcpx0 joins segment i / 2, then leaves. */
static void
port_delta(Weft__Update *d, int i, int n_segs, int per_seg, int vteps)
{
    int s = i / 2 % n_segs;
    (void)per_seg;
    (void)vteps;

    if (i % 2 == 0) {
        ONLY(d->n_ports, d->ports, local_port(s, i / 2, true));
    } else {
        ONLY(d->n_del_ports, d->del_ports,
             xasprintf("/projects/default/segments/s%d/ports/x%d", s, i / 2));
    }
}

/* The local port of segment i / 2 gets an address, then loses it (its
 * VIF stays open). */
static void
port_update_delta(Weft__Update *d, int i, int n_segs, int per_seg, int vteps)
{
    (void)per_seg;
    (void)vteps;
    ONLY(d->n_ports, d->ports, local_port(i / 2 % n_segs, -1, i % 2 == 0));
}

/* Times of one series of DELTAS deltas, each sorted. */
struct series {
    uint64_t apply[DELTAS], realize[DELTAS], save[DELTAS], total[DELTAS];
    uint64_t realize_odd[DELTAS / 2]; /* realize of deltas 1, 3, 5, ... */
    uint64_t close_odd[DELTAS / 2];   /* close of deltas 1, 3, 5, ... */
    uint64_t patched;                 /* realizations that patched */
};

/* Runs a series ('path': where the state cache goes, NULL: not saved);
 * '*rev' is the desired state's revision.  Returns false on an error. */
static bool
run_series(struct agent *a, struct dstate *ds, struct dstate_failures *f,
           delta_fn *fn, const int sizes[3], uint64_t *rev, const char *path,
           struct series *out)
{
    uint64_t patched0, patched, built;
    char err[256];

    agent_realize_counts(a, &patched0, &built);
    for (int i = 0; i < DELTAS; i++) {
        Weft__Update *d = xmalloc(sizeof *d);
        uint64_t t1, t2, t3, t4, t5;

        weft__update__init(d);
        fn(d, i, sizes[0], sizes[1], sizes[2]);
        d->prev_revision = *rev;
        d->revision = ++*rev;
        t1 = time_nsec();
        if (dstate_apply(ds, d, err, sizeof err)) {
            fprintf(stderr, "bench-cp-agent: %s\n", err);
            return false;
        }
        t2 = time_nsec();
        realize(a, ds, f);
        t3 = time_nsec();
        /* (weft-agent writes the ack here) */
        agent_close_retired(a);
        t4 = time_nsec();
        if (path) {
            dstate_save(ds, path);
        }
        t5 = time_nsec();
        out->apply[i] = t2 - t1;
        out->realize[i] = t3 - t2;
        if (i % 2) {
            out->realize_odd[i / 2] = t3 - t2;
            out->close_odd[i / 2] = t4 - t3;
        }
        out->save[i] = t5 - t4;
        out->total[i] = t5 - t1;
        weft__update__free_unpacked(d, NULL);
        if (f->n) {
            fprintf(stderr, "bench-cp-agent: %s not realized: %s\n",
                    f->items[0].object, f->items[0].reason);
            return false;
        }
    }
    qsort(out->apply, DELTAS, sizeof *out->apply, cmp_u64);
    qsort(out->realize, DELTAS, sizeof *out->realize, cmp_u64);
    qsort(out->save, DELTAS, sizeof *out->save, cmp_u64);
    qsort(out->total, DELTAS, sizeof *out->total, cmp_u64);
    qsort(out->realize_odd, DELTAS / 2, sizeof *out->realize_odd, cmp_u64);
    qsort(out->close_odd, DELTAS / 2, sizeof *out->close_odd, cmp_u64);
    agent_realize_counts(a, &patched, &built);
    out->patched = patched - patched0;
    return true;
}

static double
us(uint64_t ns)
{
    return (double)ns / 1e3;
}

/* The realize figures of series 'name'. */
static void
print_series(const char *name, const struct series *x, const char *suffix)
{
    printf("agent_%s_realize_us%s: %.1f us\n", name, suffix,
           us(x->realize[DELTAS / 2]));
    printf("agent_%s_realize_p99_us%s: %.1f us\n", name, suffix,
           us(x->realize[DELTAS * 99 / 100]));
    printf("agent_%s_patched%s: %" PRIu64 " of %d\n", name, suffix, x->patched,
           DELTAS);
}

int
main(int argc, char *argv[])
{
    static struct series remotes, floods, ports, updates;
    char tmpl[] = "/tmp/weft-bench-cpa.XXXXXX", path[64], err[256];
    int sizes[3];
    const char *suffix;
    struct dstate_failures fails = {0};
    struct dstate *ds;
    struct agent *a;
    Weft__Update *u;
    uint64_t t0, rev = 1;
    bool ok;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: bench-cp-agent SEGMENTS REMOTES_PER_SEGMENT "
                        "VTEPS [SUFFIX]\n");
        return 2;
    }
    for (int i = 0; i < 3; i++) {
        sizes[i] = atoi(argv[1 + i]);
        if (sizes[i] < 1 || sizes[i] > 60000) {
            fprintf(stderr, "bench-cp-agent: bad sizes\n");
            return 2;
        }
    }
    suffix = argc > 4 ? argv[4] : "";
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

    u = snapshot(sizes[0], sizes[1], sizes[2]);
    t0 = time_nsec();
    dstate_apply(ds, u, err, sizeof err);
    realize(a, ds, &fails);
    double snap_ms = (double)(time_nsec() - t0) / 1e6;
    weft__update__free_unpacked(u, NULL);

    ok = run_series(a, ds, &fails, remote_delta, sizes, &rev, path, &remotes) &&
         run_series(a, ds, &fails, flood_delta, sizes, &rev, NULL, &floods) &&
         run_series(a, ds, &fails, port_delta, sizes, &rev, NULL, &ports) &&
         run_series(a, ds, &fails, port_update_delta, sizes, &rev, NULL,
                    &updates);
    if (ok) {
        printf("agent_snapshot_realize_ms%s: %.1f ms\n", suffix, snap_ms);
        printf("agent_delta_apply_us%s: %.1f us\n", suffix,
               us(remotes.apply[DELTAS / 2]));
        printf("agent_delta_realize_us%s: %.1f us\n", suffix,
               us(remotes.realize[DELTAS / 2]));
        printf("agent_delta_save_us%s: %.1f us\n", suffix,
               us(remotes.save[DELTAS / 2]));
        printf("agent_delta_realize_p99_us%s: %.1f us\n", suffix,
               us(remotes.realize[DELTAS * 99 / 100]));
        printf("agent_delta_total_p99_us%s: %.1f us\n", suffix,
               us(remotes.total[DELTAS * 99 / 100]));
        print_series("flood", &floods, suffix);
        print_series("port", &ports, suffix);
        printf("agent_port_del_realize_us%s: %.1f us\n", suffix,
               us(ports.realize_odd[DELTAS / 4]));
        printf("agent_port_del_close_us%s: %.1f us\n", suffix,
               us(ports.close_odd[DELTAS / 4]));
        print_series("port_update", &updates, suffix);
        printf("agent_delta_patched%s: %" PRIu64 " of %d\n", suffix,
               remotes.patched, DELTAS);
        fflush(stdout);
    }

    dstate_failures_clear(&fails);
    dstate_destroy(ds);
    agent_destroy(a);
    unlink(path);
    rmdir(tmpl);
    return ok ? 0 : 1;
}
