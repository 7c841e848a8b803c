/* The datapath's packet thread and snapshot publication (datapath.h). */
#include "datapath/datapath.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "datapath/port.h"
#include "lib/log.h"

#define IDLE_ROUNDS_BEFORE_SLEEP 32 /* empty polls before poll() */
#define POLL_TIMEOUT_MS          1000

struct datapath {
    struct datapath_options opts;
    _Atomic(struct dp_tables *) tables; /* current snapshot */
    _Atomic uint64_t seen_generation;   /* last one the thread loaded */
    atomic_bool stop;                   /* asks the thread to exit */
    int wake_fd;                        /* eventfd: wakes poll() */
    pthread_t thread;
    struct dp_pool *pool;         /* packet thread's buffers */
    struct dp_pipeline *pipeline; /* packet thread's pipeline */
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

/* Sleeps until a port has work, the control side wakes us, or timeout. */
static void
wait_for_work(struct datapath *dp, const struct dp_tables *t,
              struct pollfd **fds, uint32_t *cap)
{
    uint32_t n = 0;

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
        }
    }
    if (poll(*fds, n, POLL_TIMEOUT_MS) > 0 && ((*fds)[0].revents & POLLIN)) {
        uint64_t v;
        if (read(dp->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN) {
            LOG_WARN("datapath", "msg=\"eventfd read failed\"");
        }
    }
}

static void *
packet_thread(void *dp_)
{
    struct datapath *dp = dp_;
    struct dp_packet *pkts[DP_BATCH_MAX];
    struct pollfd *fds = NULL;
    uint32_t fds_cap = 0, idle = 0;

    while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
        struct dp_tables *t =
            atomic_load_explicit(&dp->tables, memory_order_acquire);
        uint32_t work = 0;

        atomic_store_explicit(&dp->seen_generation, t->generation,
                              memory_order_release);
        for (uint32_t i = 0; i < t->n_ports; i++) {
            struct dp_port *p = t->ports[i];
            if (!p) {
                continue;
            }
            int n = dp_port_rx(p, dp->pool, pkts, DP_BATCH_MAX);
            if (n > 0) {
                dp_pipeline_run(dp->pipeline, t, (uint16_t)i, pkts, n);
                work += (uint32_t)n;
            }
        }
        if (work) {
            dp_pipeline_flush(dp->pipeline, t);
            idle = 0;
        } else if (!dp->opts.busy_poll && ++idle >= IDLE_ROUNDS_BEFORE_SLEEP) {
            wait_for_work(dp, t, &fds, &fds_cap);
            idle = 0;
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

    dp->opts = *opts;
    atomic_init(&dp->tables, dp_tables_build(b));
    atomic_init(&dp->seen_generation, 0);
    atomic_init(&dp->stop, false);
    dp->pool = dp_pool_create(opts->n_buffers, opts->frame_size);
    dp->pipeline = dp_pipeline_create(dp->pool);
    dp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (dp->wake_fd < 0) {
        LOG_ERROR("datapath", "msg=\"eventfd failed\" error=\"%s\"",
                  strerror(errno));
        goto error;
    }
    int err = pthread_create(&dp->thread, NULL, packet_thread, dp);
    if (err) {
        LOG_ERROR("datapath", "msg=\"cannot start packet thread\" error=\"%s\"",
                  strerror(err));
        close(dp->wake_fd);
        goto error;
    }
    pthread_setname_np(dp->thread, "weft-dp");
    return dp;

error:
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
