/* The agent's VIF devices on a real veth (agent.h): a port deleted from
 * the configuration keeps its device open until agent_close_retired()
 * (weft-agent closes it after the acknowledgement), the interface can be
 * opened again meanwhile and works once the old device is closed, and
 * agent_destroy() closes what is still queued.
 *
 * VIF slots: as VIFs come, go, come back and move to another interface,
 * each is bound in the published snapshot at the slot a naive model (the
 * lowest free slot, by scanning) gives it, and opened on its interface,
 * also past the first growth of the slot array.
 *
 * The process first moves itself into a private network namespace
 * (unshare(CLONE_NEWNET), needs root) with a veth pair va <-> vb; the
 * namespace disappears when the process exits.  Every wait is bounded. */
#include "agent/agent.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath/datapath.h"
#include "datapath/port.h"
#include "datapath/tables.h"
#include "lib/log.h"
#include "lib/util.h"
#include "testlib.h"

/* Once per process (any test may run alone). */
static bool
netns_setup(void)
{
    static int done = -1; /* -1: not tried; else whether it worked */

    if (done >= 0) {
        return done;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        printf("    unshare(CLONE_NEWNET) failed: %s; this test needs root "
               "and network namespaces\n",
               strerror(errno));
        done = false;
        return false;
    }
    done = system("ip link set lo up && ip addr add 198.18.0.1/32 dev lo && "
                  "ip link add va type veth peer name vb && "
                  "ip link set va up && ip link set vb up") == 0;
    return done;
}

/* Open file descriptors of the process. */
static int
n_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    while (d && readdir(d)) {
        n++;
    }
    if (d) {
        closedir(d);
    }
    return n;
}

/* The configuration: segment blue, with a port on va if 'port'. */
static struct agent_config *
config(bool port)
{
    char json[512], err[256];
    struct agent_config *c = NULL;

    /* The kernel fast path off: these tests count the ports' descriptors,
     * and the fast path's own (its tcx links) come and go with the VIFs
     * it serves (tests/system/test-kfp.sh covers them). */
    snprintf(json, sizeof json,
             "{\"underlay\":{\"local_ip\":\"198.18.0.1\"},"
             "\"options\":{\"kernel_fastpath\":false},"
             "\"segments\":[{\"name\":\"blue\",\"vni\":5001%s}]}",
             port ? ",\"ports\":[{\"id\":11,\"ifname\":\"va\","
                    "\"mac\":\"02:00:00:00:00:11\"}]"
                  : "");
    CHECK_EQ(agent_config_parse(json, strlen(json), &c, err, sizeof err), 0);
    return c;
}

/* The published snapshot's open device on 'ifname', or NULL. */
static struct dp_port *
published(struct agent *a, const char *ifname)
{
    const struct dp_tables *t = datapath_tables(agent_datapath(a));

    for (uint32_t i = 0; i < t->n_ports; i++) {
        if (t->ports[i] && !strcmp(t->ports[i]->name, ifname)) {
            return t->ports[i];
        }
    }
    return NULL;
}

/* Sends one frame into vb (so out of va) until 'p' counts one received,
 * for at most two seconds. */
static bool
frame_reaches(struct dp_port *p)
{
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_ifindex = (int)if_nametoindex("vb"),
        .sll_halen = 6,
    };
    uint8_t f[60] = {0x02, 0, 0, 0, 0,    0x22, 0x02,
                     0,    0, 0, 0, 0x33, 0x88, 0xb5};
    bool ok = false;

    for (int i = 0; fd >= 0 && i < 200 && !ok; i++) {
        if (sendto(fd, f, sizeof f, 0, (struct sockaddr *)&sll, sizeof sll) <
            0) {
            break;
        }
        usleep(10000);
        ok = p->stats.rx_packets > 0;
    }
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

TEST(deleted_vif_closes_when_told_and_its_interface_reopens)
{
    struct agent *a;
    struct dp_port *first, *second;
    int fds0, fds1;

    log_set_level(LOG_ERR);
    if (!CHECK(netns_setup())) {
        return;
    }
    fds0 = n_fds();
    a = agent_create();
    if (!CHECK(a != NULL)) {
        return;
    }
    agent_apply(a, config(true));
    first = published(a, "va");
    CHECK(first != NULL);
    CHECK_EQ(agent_n_retired(a), 0);
    fds1 = n_fds();

    /* Deleted: out of the snapshot at once, its device still open. */
    agent_apply(a, config(false));
    CHECK(published(a, "va") == NULL);
    CHECK_EQ(agent_n_retired(a), 1);
    CHECK_EQ(n_fds(), fds1);

    /* Added again before the close: a second device on va. */
    agent_apply(a, config(true));
    second = published(a, "va");
    CHECK(second != NULL);
    CHECK_EQ(agent_n_retired(a), 1);
    CHECK_EQ(n_fds(), fds1 + 1);

    /* The close: the old device's descriptor goes, the new one serves. */
    agent_close_retired(a);
    CHECK_EQ(agent_n_retired(a), 0);
    CHECK_EQ(n_fds(), fds1);
    CHECK(published(a, "va") == second);
    CHECK(second && frame_reaches(second));

    /* Deleted again and never told: agent_destroy() closes it (the leak
     * checker and the descriptor count would see it otherwise). */
    agent_apply(a, config(false));
    CHECK_EQ(agent_n_retired(a), 1);
    agent_destroy(a);
    CHECK_EQ(n_fds(), fds0);
}

/* ---- VIF slots ---- */

#define MODEL_SLOTS 128

/* The reference: the interface of each slot as scans over the slots
 * assign them (agent_apply() frees the slots of the interfaces a
 * configuration leaves out, then gives each new one the lowest free
 * slot, in configuration order). */
struct slot_model {
    char name[MODEL_SLOTS][IFNAMSIZ]; /* "" free */
    uint32_t n;                       /* highest slot used + 1 */
};

struct vif {
    const char *ifname;
    uint32_t id; /* logical port id, MAC 02:00:00:01:<id> */
};

static uint32_t
model_slot(const struct slot_model *m, const char *ifname)
{
    for (uint32_t s = DP_PORT_FIRST_VIF; s < m->n; s++) {
        if (!strcmp(m->name[s], ifname)) {
            return s;
        }
    }
    return UINT32_MAX;
}

static void
model_apply(struct slot_model *m, const struct vif *v, uint32_t n)
{
    for (uint32_t s = DP_PORT_FIRST_VIF; s < m->n; s++) {
        bool named = false;
        for (uint32_t i = 0; i < n; i++) {
            named |= !strcmp(m->name[s], v[i].ifname);
        }
        if (!named) {
            m->name[s][0] = '\0';
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = DP_PORT_FIRST_VIF;
        if (model_slot(m, v[i].ifname) != UINT32_MAX) {
            continue;
        }
        while (s < m->n && m->name[s][0]) {
            s++;
        }
        if (s == m->n) {
            m->n++;
        }
        snprintf(m->name[s], IFNAMSIZ, "%s", v[i].ifname);
    }
}

/* Applies segment blue with the VIFs 'v' to 'a' and to 'm', then checks
 * the published snapshot against 'm': each VIF bound at its slot as its
 * logical port and open on its interface, no other VIF bound. */
static bool
apply_vifs(struct agent *a, struct slot_model *m, const struct vif *v,
           uint32_t n)
{
    size_t cap = 256 + n * 96, len;
    char *json = malloc(cap), err[256];
    struct agent_config *c = NULL;
    const struct dp_tables *t;
    uint32_t n_bound = 0;
    bool ok;

    len = (size_t)snprintf(json, cap,
                           "{\"underlay\":{\"local_ip\":\"198.18.0.1\"},"
                           "\"segments\":[{\"name\":\"blue\",\"vni\":5001,"
                           "\"ports\":[");
    for (uint32_t i = 0; i < n; i++) {
        len += (size_t)snprintf(json + len, cap - len,
                                "%s{\"id\":%u,\"ifname\":\"%s\",\"mac\":"
                                "\"02:00:00:01:%02x:%02x\"}",
                                i ? "," : "", v[i].id, v[i].ifname,
                                v[i].id >> 8, v[i].id & 255);
    }
    snprintf(json + len, cap - len, "]}]}");
    ok = CHECK_EQ(agent_config_parse(json, strlen(json), &c, err, sizeof err),
                  0);
    free(json);
    if (!ok) {
        return false;
    }
    agent_apply(a, c);
    agent_close_retired(a);
    model_apply(m, v, n);

    t = datapath_tables(agent_datapath(a));
    ok &= CHECK_EQ(agent_n_vifs(a), n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = model_slot(m, v[i].ifname);
        ok &= CHECK(s < t->n_ports) && CHECK_EQ(t->vifs[s].segment, 0) &&
              CHECK_EQ(t->vifs[s].lport, v[i].id) &&
              CHECK(t->ports[s] && !strcmp(t->ports[s]->name, v[i].ifname));
    }
    for (uint32_t s = DP_PORT_FIRST_VIF; s < t->n_ports; s++) {
        n_bound += t->vifs[s].segment != DP_SEG_NONE;
    }
    ok &= CHECK_EQ(n_bound, n);
    return ok;
}

/* Creates interfaces "<prefix>0" .. "<prefix><n - 1>", up: veths, each
 * with a peer "x<prefix><i>". */
static bool
veths(const char *prefix, uint32_t n)
{
    FILE *f = popen("ip -batch -", "w");

    for (uint32_t i = 0; f && i < n; i++) {
        fprintf(f,
                "link add %s%u type veth peer name x%s%u\n"
                "link set %s%u up\nlink set x%s%u up\n",
                prefix, i, prefix, i, prefix, i, prefix, i);
    }
    return f && pclose(f) == 0;
}

#define N_GROW 40

TEST(vif_slots_follow_adds_removes_reuse_and_renames)
{
    static struct slot_model m;
    static char grow_names[N_GROW][IFNAMSIZ];
    struct vif v[N_GROW + 16];
    struct agent *a;
    uint32_t n;

    log_set_level(LOG_ERR);
    if (!CHECK(netns_setup()) || !CHECK(veths("d", 10)) ||
        !CHECK(veths("g", N_GROW)) || !CHECK(veths("r", 3))) {
        return;
    }
    a = agent_create();
    if (!CHECK(a != NULL)) {
        return;
    }
    memset(&m, 0, sizeof m);
    m.n = DP_PORT_FIRST_VIF;

    /* Six VIFs, then two of them gone (their slots free). */
    static const struct vif six[] = {{"d0", 1}, {"d1", 2}, {"d2", 3},
                                     {"d3", 4}, {"d4", 5}, {"d5", 6}};
    CHECK(apply_vifs(a, &m, six, 6));
    static const struct vif four[] = {
        {"d0", 1}, {"d2", 3}, {"d4", 5}, {"d5", 6}};
    CHECK(apply_vifs(a, &m, four, 4));
    CHECK_EQ(model_slot(&m, "d1"), UINT32_MAX);

    /* Two new ones take the free slots. */
    static const struct vif reuse[] = {{"d0", 1}, {"d2", 3}, {"d4", 5},
                                       {"d5", 6}, {"d6", 7}, {"d7", 8}};
    CHECK(apply_vifs(a, &m, reuse, 6));
    CHECK_EQ(model_slot(&m, "d6"), DP_PORT_FIRST_VIF + 1);
    CHECK_EQ(model_slot(&m, "d7"), DP_PORT_FIRST_VIF + 3);

    /* Port 3 moves from d2 to r2, and d1 comes back first: it gets d2's
     * old slot, r2 a new one. */
    static const struct vif moved[] = {{"d1", 2}, {"d0", 1}, {"r2", 3},
                                       {"d4", 5}, {"d5", 6}, {"d6", 7},
                                       {"d7", 8}};
    CHECK(apply_vifs(a, &m, moved, 7));
    CHECK_EQ(model_slot(&m, "d1"), DP_PORT_FIRST_VIF + 2);

    /* d2 again (another port), and enough VIFs to grow the slot array
     * twice (the index must follow it). */
    memcpy(v, moved, sizeof moved);
    n = 7;
    v[n++] = (struct vif){"d2", 9};
    for (uint32_t i = 0; i < N_GROW; i++) {
        snprintf(grow_names[i], IFNAMSIZ, "g%u", i);
        v[n++] = (struct vif){grow_names[i], 100 + i};
    }
    CHECK(apply_vifs(a, &m, v, n));

    /* Every other one of those gone, with d0, in reverse order; then all
     * back, in reverse order, and r2's port back on d2's interface. */
    n = 0;
    for (uint32_t i = N_GROW; i-- > 0;) {
        if (i % 2) {
            v[n++] = (struct vif){grow_names[i], 100 + i};
        }
    }
    v[n++] = (struct vif){"r2", 3};
    CHECK(apply_vifs(a, &m, v, n));
    n = 0;
    for (uint32_t i = N_GROW; i-- > 0;) {
        v[n++] = (struct vif){grow_names[i], 100 + i};
    }
    v[n++] = (struct vif){"d0", 1};
    v[n++] = (struct vif){"d2", 3};
    CHECK(apply_vifs(a, &m, v, n));

    /* None. */
    CHECK(apply_vifs(a, &m, NULL, 0));
    agent_destroy(a);
}
