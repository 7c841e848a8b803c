/* The agent's VIF devices on a real veth (agent.h): a port deleted from
 * the configuration keeps its device open until agent_close_retired()
 * (weft-agent closes it after the acknowledgement), the interface can be
 * opened again meanwhile and works once the old device is closed, and
 * agent_destroy() closes what is still queued.
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

static bool
netns_setup(void)
{
    if (unshare(CLONE_NEWNET) < 0) {
        printf("    unshare(CLONE_NEWNET) failed: %s; this test needs root "
               "and network namespaces\n",
               strerror(errno));
        return false;
    }
    return system("ip link set lo up && ip addr add 198.18.0.1/32 dev lo && "
                  "ip link add va type veth peer name vb && "
                  "ip link set va up && ip link set vb up") == 0;
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

    snprintf(json, sizeof json,
             "{\"underlay\":{\"local_ip\":\"198.18.0.1\"},"
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
