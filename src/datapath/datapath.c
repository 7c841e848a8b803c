/* The datapath's packet thread and snapshot publication (datapath.h). */
#include "datapath/datapath.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "datapath/port.h"
#include "lib/log.h"

/* How long the thread keeps polling without sleeping after the last frame
 * (overridable for benchmarks). */
#ifndef DP_IDLE_SPIN_US
#define DP_IDLE_SPIN_US 200
#endif
#define IDLE_SPIN_NS ((uint64_t)DP_IDLE_SPIN_US * 1000)
/* The share of one CPU that spinning may take over time, and how much
 * spin time can be saved up for a burst (struct spin_budget). */
#ifndef DP_SPIN_BUDGET_PCT
#define DP_SPIN_BUDGET_PCT 5
#endif
#define SPIN_BURST_NS   (50 * IDLE_SPIN_NS)
#define DP_SLICE_NS     100000 /* packet thread's time slice (the minimum) */
#define POLL_TIMEOUT_MS 1000
#define CTL_DUMP_CHUNK  1024  /* connections per dump request */
#define CTL_SCAN_CHUNK  65536 /* table entries looked at per request */

/* A request from the control side, served by the packet thread. */
enum ctl_kind { CTL_CT_DUMP, CTL_CT_STATS, CTL_CT_FLUSH_ZONE, CTL_COLLECT };

struct ctl_req {
    enum ctl_kind kind;
    uint32_t zone;            /* CTL_CT_FLUSH_ZONE */
    uint32_t cursor;          /* in: where to start; out: where to go on */
    struct ct_conn_info *buf; /* CTL_CT_DUMP: room for CTL_DUMP_CHUNK */
    size_t n;                 /* out: entries in 'buf', or flushed */
    struct ct_stats stats;    /* CTL_CT_STATS */
    atomic_bool done;         /* set by the packet thread when served */
};

struct datapath {
    struct datapath_options opts;
    _Atomic(struct dp_tables *) tables; /* current snapshot */
    _Atomic uint64_t seen_generation;   /* last one the thread loaded */
    atomic_bool stop;                   /* asks the thread to exit */
    int wake_fd;                        /* eventfd: wakes poll() */
    pthread_t thread;
    struct dp_pool *pool;              /* packet thread's buffers */
    struct dp_pipeline *pipeline;      /* packet thread's pipeline */
    _Atomic(struct ctl_req *) ctl_req; /* pending control request */
    pthread_mutex_t ctl_mutex;         /* one control request at a time */
    int reply_fd;                      /* eventfd: a request was served */

    /* Punt and inject (punt.h). */
    struct dp_ring *punt_ring;     /* packet thread -> agent */
    int punt_fd;                   /* eventfd: punted frames wait */
    struct dp_ring *inject_ring;   /* agent -> packet thread */
    pthread_mutex_t inject_mutex;  /* one producer at a time */
    struct dp_punt_entry inject_e; /* packet thread's pop buffer */
    uint64_t inject_sent;          /* packet thread's counters */
    uint64_t inject_failed;
};

static void
wake(struct datapath *dp)
{
    uint64_t one = 1;
    if (write(dp->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN) {
        LOG_WARN("datapath", "msg=\"eventfd write failed\" error=\"%s\"",
                 strerror(errno));
    }
}

/* Waits up to 'timeout_ms' (0: just looks) until a port has work or the
 * control side wakes us.  Returns true if something may be ready: a port
 * or the wake-up event polled readable, or a port that cannot be polled
 * (no fd) exists. */
static bool
wait_for_work(struct datapath *dp, const struct dp_tables *t,
              struct pollfd **fds, uint32_t *cap, int timeout_ms)
{
    uint32_t n = 0;
    bool blind = false;

    if (*cap < t->n_ports + 1) {
        *cap = t->n_ports + 1;
        *fds = xrealloc(*fds, *cap * sizeof **fds);
    }
    (*fds)[n++] = (struct pollfd){.fd = dp->wake_fd, .events = POLLIN};
    for (uint32_t i = 0; i < t->n_ports; i++) {
        struct dp_port *p = t->ports[i];
        int fd = p ? p->class->fd(p) : -1;
        if (fd >= 0) {
            (*fds)[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        } else if (p) {
            blind = true;
        }
    }
    if (blind && !timeout_ms) {
        return true;
    }
    int r = poll(*fds, n, timeout_ms);
    if (r > 0 && ((*fds)[0].revents & POLLIN)) {
        uint64_t v;
        if (read(dp->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN) {
            LOG_WARN("datapath", "msg=\"eventfd read failed\"");
        }
    }
    return r != 0;
}

/* Packet thread: serves one control request with bounded work. */
static void
serve_ctl(struct datapath *dp, struct ctl_req *r)
{
    struct dfw_thread *fw = dp_pipeline_dfw(dp->pipeline);
    struct ct_table *ct = dfw_thread_ct(fw);
    uint64_t now = dp_pipeline_now_ms(dp->pipeline);
    uint64_t one = 1;

    switch (r->kind) {
    case CTL_CT_DUMP:
        r->n = 0;
        r->cursor = ct ? ct_dump_chunk(ct, now, r->cursor, CTL_SCAN_CHUNK,
                                       r->buf, CTL_DUMP_CHUNK, &r->n)
                       : UINT32_MAX;
        break;
    case CTL_CT_STATS:
        memset(&r->stats, 0, sizeof r->stats);
        if (ct) {
            ct_get_stats(ct, &r->stats);
        }
        break;
    case CTL_CT_FLUSH_ZONE:
        r->n = 0;
        r->cursor = ct ? ct_flush_zone_chunk(ct, r->zone, r->cursor,
                                             CTL_SCAN_CHUNK, &r->n)
                       : UINT32_MAX;
        break;
    case CTL_COLLECT:
        dp_pipeline_collect_counts(dp->pipeline);
        break;
    }
    atomic_store_explicit(&r->done, true, memory_order_release);
    if (write(dp->reply_fd, &one, sizeof one) < 0 && errno != EAGAIN) {
        LOG_WARN("datapath", "msg=\"eventfd write failed\"");
    }
}

/* Packet thread: sends what the agent injected, at most one ring's worth
 * per round so forwarding keeps its share. */
static uint32_t
drain_inject(struct datapath *dp, const struct dp_tables *t)
{
    struct dp_punt_entry *e = &dp->inject_e;
    uint32_t n = 0;

    while (n < DP_RING_SLOTS && dp_ring_pop(dp->inject_ring, e)) {
        struct dp_port *port = e->port < t->n_ports ? t->ports[e->port] : NULL;
        struct dp_packet *pkt = port ? dp_pool_get(dp->pool) : NULL;

        n++;
        if (!pkt) {
            dp->inject_failed++;
            continue;
        }
        memcpy(pkt->data, e->frame, e->len);
        pkt->len = e->len;
        pkt->out_port = e->port;
        if (dp_port_tx(port, &pkt, 1) == 1) {
            dp->inject_sent++;
        } else {
            dp->inject_failed++;
        }
        dp_port_flush(port);
    }
    return n;
}

/* The kernel's struct sched_attr, first version (glibc 2.36 has no
 * sched_setattr() and <linux/sched/types.h> clashes with <sched.h>). */
struct dp_sched_attr {
    uint32_t size;
    uint32_t policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime; /* SCHED_OTHER: the time slice asked for, ns */
    uint64_t deadline;
    uint64_t period;
};

/* Asks the scheduler for a short time slice (still SCHED_OTHER, no
 * privilege needed).  EEVDF lets a waking task with a shorter slice than
 * the running one preempt it at once; with the default slice, a packet
 * thread woken on a CPU that runs some busy process waited up to a tick
 * (4 ms at HZ=250) behind it: the 4 ms RTT outliers in bench/RESULTS.md.
 * Kernels before 6.12 ignore the slice. */
static void
set_short_slice(void)
{
    struct dp_sched_attr attr = {
        .size = sizeof attr, .policy = SCHED_OTHER, .runtime = DP_SLICE_NS};

    if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) {
        LOG_INFO("datapath",
                 "msg=\"cannot shorten the time slice\" error=\"%s\"",
                 strerror(errno));
    }
}

/* Spin time as a token bucket, in ns: it fills at DP_SPIN_BUDGET_PCT % of
 * the time that passes, up to SPIN_BURST_NS, and each spin after a frame
 * takes what it may use from it (the unused rest goes back when a frame
 * ends the spin early).  Sparse request/response traffic, such as a ping's
 * reply coming back 100-150 us after its request, always finds it full;
 * steady light traffic (a frame every millisecond, each followed by a
 * 200 us spin) cannot make an idle agent use more than that share of a CPU. */
struct spin_budget {
    uint64_t tokens; /* ns of spinning allowed now */
    uint64_t at;     /* time of the last refill */
};

static uint64_t
spin_budget_take(struct spin_budget *b, uint64_t now, uint64_t want)
{
    uint64_t add = (now - b->at) / 100 * DP_SPIN_BUDGET_PCT;
    uint64_t got;

    b->tokens = MIN(b->tokens + MIN(add, SPIN_BURST_NS), SPIN_BURST_NS);
    b->at = now;
    got = MIN(want, b->tokens);
    b->tokens -= got;
    return got;
}

static void
spin_budget_refund(struct spin_budget *b, uint64_t unused)
{
    b->tokens = MIN(b->tokens + unused, SPIN_BURST_NS);
}

static void *
packet_thread(void *dp_)
{
    struct datapath *dp = dp_;
    struct dp_packet *pkts[DP_BATCH_MAX];
    struct pollfd *fds = NULL;
    uint32_t fds_cap = 0;
    uint64_t idle_since = 0; /* time of the first empty round, 0: busy */
    uint64_t spin_ns = 0;    /* how long this idle period may spin */
    struct spin_budget budget = {SPIN_BURST_NS, time_nsec()};

    set_short_slice();

    while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
        struct dp_tables *t =
            atomic_load_explicit(&dp->tables, memory_order_acquire);
        uint32_t work = 0;
        bool spin = dp->opts.busy_poll;

        atomic_store_explicit(&dp->seen_generation, t->generation,
                              memory_order_release);
        if (atomic_load_explicit(&dp->ctl_req, memory_order_relaxed)) {
            struct ctl_req *r = atomic_exchange_explicit(&dp->ctl_req, NULL,
                                                         memory_order_acquire);
            if (r) {
                serve_ctl(dp, r);
            }
        }
        if (unlikely(dp_ring_nonempty(dp->inject_ring))) {
            work += drain_inject(dp, t);
        }
        for (uint32_t i = 0; i < t->n_ports; i++) {
            struct dp_port *p = t->ports[i];
            if (!p) {
                continue;
            }
            spin |= p->busy_poll;
            int n = dp_port_rx(p, dp->pool, pkts, DP_BATCH_MAX);
            if (n > 0) {
                dp_pipeline_run(dp->pipeline, t, (uint16_t)i, pkts, n);
                work += (uint32_t)n;
            }
        }
        if (work) {
            dp_pipeline_flush(dp->pipeline, t);
            if (idle_since) {
                uint64_t spun = time_nsec() - idle_since;
                if (spun < spin_ns) {
                    spin_budget_refund(&budget, spin_ns - spun);
                }
                idle_since = 0;
            }
            continue;
        }
        dp_pipeline_idle(dp->pipeline);
        if (spin) {
            continue;
        }
        /* Nothing came in: watch every port with one poll(), first without
         * sleeping until DP_IDLE_SPIN_US have passed since the last frame (as
         * far as the spin budget allows), then sleeping.  A wake-up from poll()
         * costs ~50 us when the thread's vCPU has halted
         * (bench/wakeup-pingpong.c), so the spin is long enough to take the
         * reply to what we just forwarded (a ping's came back 100-150 us later
         * in bench/e2e-datapath.sh) without one.  Each round yields, so the
         * spin never keeps a woken VM process or the peer agent off the CPU.
         * Spinning on a receive call per port cost one system call per port per
         * round: in an iperf3 run ~90,000 mostly empty recvmmsg() calls a
         * second per agent, ten per super-frame.  Control requests, injected
         * frames and new tables wake the poll() (wake()). */
        uint64_t now = time_nsec();
        if (!idle_since) {
            idle_since = now;
            spin_ns = spin_budget_take(&budget, now, IDLE_SPIN_NS);
        }
        while (!atomic_load_explicit(&dp->ctl_req, memory_order_relaxed) &&
               !dp_ring_nonempty(dp->inject_ring)) {
            bool sleep = now - idle_since >= spin_ns;
            bool ready = wait_for_work(dp, t, &fds, &fds_cap,
                                       sleep ? POLL_TIMEOUT_MS : 0);
            if (ready || sleep) {
                break;
            }
            sched_yield(); /* a woken task on our CPU goes first */
            now = time_nsec();
        }
    }
    free(fds);
    return NULL;
}

struct datapath *
datapath_create(const struct datapath_options *opts)
{
    struct datapath *dp = xcalloc(1, sizeof *dp);
    struct dp_tables_builder *b = dp_tables_builder_create(0);
    struct dp_pipeline_options popts;

    dp->opts = *opts;
    atomic_init(&dp->tables, dp_tables_build(b));
    atomic_init(&dp->seen_generation, 0);
    atomic_init(&dp->stop, false);
    atomic_init(&dp->ctl_req, NULL);
    pthread_mutex_init(&dp->ctl_mutex, NULL);
    dp->pool = dp_pool_create(opts->n_buffers, opts->frame_size);
    dp->punt_ring = dp_ring_create();
    dp->inject_ring = dp_ring_create();
    pthread_mutex_init(&dp->inject_mutex, NULL);
    dp->punt_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    dp_pipeline_options_default(&popts);
    popts.punt_ring = dp->punt_ring;
    popts.punt_fd = dp->punt_fd;
    if (opts->ct_max_entries) {
        popts.fw.ct.max_entries = opts->ct_max_entries;
    }
    popts.fw.ct.strict = opts->ct_strict;
    dp->pipeline = dp_pipeline_create(dp->pool, &popts);
    dp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    dp->reply_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (dp->wake_fd < 0 || dp->reply_fd < 0 || dp->punt_fd < 0) {
        LOG_ERROR("datapath", "msg=\"eventfd failed\" error=\"%s\"",
                  strerror(errno));
        goto error;
    }
    int err = pthread_create(&dp->thread, NULL, packet_thread, dp);
    if (err) {
        LOG_ERROR("datapath", "msg=\"cannot start packet thread\" error=\"%s\"",
                  strerror(err));
        goto error;
    }
    pthread_setname_np(dp->thread, "weft-dp");
    return dp;

error:
    if (dp->wake_fd >= 0) {
        close(dp->wake_fd);
    }
    if (dp->reply_fd >= 0) {
        close(dp->reply_fd);
    }
    if (dp->punt_fd >= 0) {
        close(dp->punt_fd);
    }
    pthread_mutex_destroy(&dp->ctl_mutex);
    pthread_mutex_destroy(&dp->inject_mutex);
    dp_ring_destroy(dp->punt_ring);
    dp_ring_destroy(dp->inject_ring);
    dp_pipeline_destroy(dp->pipeline);
    dp_pool_destroy(dp->pool);
    dp_tables_free(atomic_load(&dp->tables));
    free(dp);
    return NULL;
}

void
datapath_destroy(struct datapath *dp)
{
    if (!dp) {
        return;
    }
    atomic_store(&dp->stop, true);
    wake(dp);
    pthread_join(dp->thread, NULL);
    close(dp->wake_fd);
    close(dp->reply_fd);
    close(dp->punt_fd);
    pthread_mutex_destroy(&dp->ctl_mutex);
    pthread_mutex_destroy(&dp->inject_mutex);
    dp_ring_destroy(dp->punt_ring);
    dp_ring_destroy(dp->inject_ring);
    dp_pipeline_destroy(dp->pipeline);
    dp_pool_destroy(dp->pool);
    dp_tables_free(atomic_load(&dp->tables));
    free(dp);
}

struct dp_tables *
datapath_publish(struct datapath *dp, struct dp_tables *t)
{
    struct dp_tables *old =
        atomic_exchange_explicit(&dp->tables, t, memory_order_acq_rel);
    uint64_t start = time_nsec();

    wake(dp);
    /* Grace period: once the thread reports the new generation it has
     * finished every batch that could still use 'old'. */
    while (atomic_load_explicit(&dp->seen_generation, memory_order_acquire) <
           t->generation) {
        usleep(50);
        if (time_nsec() - start > 5000000000ull) {
            LOG_WARN("datapath", "msg=\"packet thread slow to quiesce\"");
            start = time_nsec();
            wake(dp);
        }
    }
    return old;
}

const struct dp_tables *
datapath_tables(const struct datapath *dp)
{
    return atomic_load_explicit(&((struct datapath *)dp)->tables,
                                memory_order_acquire);
}

void
datapath_get_counters(const struct datapath *dp, struct dp_counters *c)
{
    memcpy(c, dp_pipeline_counters(dp->pipeline), sizeof *c);
}

/* ---- Firewall. ---- */

void
datapath_get_rule_counters(const struct datapath *dp, uint32_t rule_id,
                           struct dfw_rule_counters *c)
{
    dfw_thread_rule_counters(dp_pipeline_dfw(dp->pipeline), rule_id, c);
}

void
datapath_get_rule_counters_bulk(const struct datapath *dp, const uint32_t *ids,
                                size_t n, struct dfw_rule_counters *out)
{
    for (size_t i = 0; i < n; i++) {
        datapath_get_rule_counters(dp, ids[i], &out[i]);
    }
}

void
datapath_get_fw_stats(const struct datapath *dp, struct dfw_stats *s)
{
    dfw_thread_stats(dp_pipeline_dfw(dp->pipeline), s);
}

/* Hands 'r' to the packet thread and waits for it to be served.  Returns 0
 * or ETIMEDOUT (then the packet thread never saw it). */
static int
ctl_call(struct datapath *dp, struct ctl_req *r)
{
    uint64_t deadline = time_nsec() + DATAPATH_CTL_TIMEOUT_MS * 1000000ull;
    struct ctl_req *expected = r;
    struct pollfd pfd = {.fd = dp->reply_fd, .events = POLLIN};
    uint64_t v;
    int err = 0;

    atomic_init(&r->done, false);
    pthread_mutex_lock(&dp->ctl_mutex);
    atomic_store_explicit(&dp->ctl_req, r, memory_order_release);
    wake(dp);
    while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
        uint64_t now = time_nsec();
        if (now >= deadline) {
            /* Withdraw it, unless the packet thread already took it: then
             * it is being served right now and will be done shortly. */
            if (atomic_compare_exchange_strong(&dp->ctl_req, &expected, NULL)) {
                err = ETIMEDOUT;
                break;
            }
            deadline = UINT64_MAX;
            continue;
        }
        int ms = deadline == UINT64_MAX
                     ? 100
                     : (int)MIN((deadline - now) / 1000000 + 1, 100);
        poll(&pfd, 1, ms);
    }
    if (!err && read(dp->reply_fd, &v, sizeof v) < 0 && errno != EAGAIN) {
        LOG_WARN("datapath", "msg=\"eventfd read failed\"");
    }
    pthread_mutex_unlock(&dp->ctl_mutex);
    if (err) {
        LOG_WARN("datapath",
                 "msg=\"packet thread did not answer a control "
                 "request\" timeout_ms=%d",
                 DATAPATH_CTL_TIMEOUT_MS);
    }
    return err;
}

int
datapath_ct_dump(struct datapath *dp,
                 bool (*fn)(void *aux, const struct ct_conn_info *), void *aux)
{
    struct ctl_req r = {.kind = CTL_CT_DUMP};
    bool more = true;
    int err = 0;

    r.buf = xmalloc(CTL_DUMP_CHUNK * sizeof *r.buf);
    do {
        err = ctl_call(dp, &r);
        if (err) {
            break;
        }
        for (size_t i = 0; more && i < r.n; i++) {
            more = fn(aux, &r.buf[i]);
        }
    } while (more && r.cursor != UINT32_MAX);
    free(r.buf);
    return err;
}

int
datapath_collect_counts(struct datapath *dp)
{
    struct ctl_req r = {.kind = CTL_COLLECT};
    return ctl_call(dp, &r);
}

int
datapath_ct_stats(struct datapath *dp, struct ct_stats *stats)
{
    struct ctl_req r = {.kind = CTL_CT_STATS};
    int err = ctl_call(dp, &r);

    if (!err) {
        *stats = r.stats;
    }
    return err;
}

int
datapath_ct_flush_zone(struct datapath *dp, uint32_t zone, size_t *n_flushed)
{
    struct ctl_req r = {.kind = CTL_CT_FLUSH_ZONE, .zone = zone};
    size_t total = 0;
    int err;

    do {
        err = ctl_call(dp, &r);
        total += r.n;
    } while (!err && r.cursor != UINT32_MAX);
    if (n_flushed) {
        *n_flushed = total;
    }
    return err;
}

/* ---- Punt and inject. ---- */

int
datapath_punt_fd(const struct datapath *dp)
{
    return dp->punt_fd;
}

bool
datapath_punt_read(struct datapath *dp, struct dp_punt_entry *e)
{
    return dp_ring_pop(dp->punt_ring, e);
}

int
datapath_inject(struct datapath *dp, uint16_t port, const void *frame,
                uint32_t len)
{
    bool was_empty = false;
    int err;

    pthread_mutex_lock(&dp->inject_mutex);
    err = dp_ring_push(dp->inject_ring, port, 0, DP_SEG_NONE, frame, len,
                       &was_empty);
    pthread_mutex_unlock(&dp->inject_mutex);
    if (!err && was_empty) {
        wake(dp);
    }
    return err;
}

void
datapath_get_punt_stats(const struct datapath *dp, struct dp_punt_stats *s)
{
    struct dp_ring_counters pc, ic;

    dp_ring_get_counters(dp->punt_ring, &pc);
    dp_ring_get_counters(dp->inject_ring, &ic);
    memset(s, 0, sizeof *s);
    memcpy(s->punted, pc.pushed, sizeof s->punted);
    s->punt_full = pc.full;
    s->punt_too_big = pc.too_big;
    s->injected = ic.pushed[3];
    s->inject_full = ic.full + ic.too_big;
    s->inject_sent = dp->inject_sent;
    s->inject_failed = dp->inject_failed;
}
