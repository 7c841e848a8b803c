/* libFuzzer target for the agent's configuration parser (config.h).
 *
 * Each input is the text of a configuration file.  Besides what ASan and
 * UBSan catch, the target abort()s when the parser breaks its contract:
 *   - failure: EINVAL, *cfgp NULL, a non-empty message of printable ASCII,
 *     and the same message cut short when the error buffer is tiny;
 *   - success: an empty message, and a config that obeys the documented
 *     rules (ranges, limits, unicast MACs, no flood vtep equal to the local
 *     endpoint, NUL-terminated names), which is then freed. */
#include "agent/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "fuzz-config: " __VA_ARGS__);                          \
        fputc('\n', stderr);                                                   \
        abort();                                                               \
    } while (0)

static void
check_config(const struct agent_config *cfg)
{
    if (!cfg->geneve_port || !cfg->vxlan_port ||
        cfg->geneve_port == cfg->vxlan_port) {
        FAIL("bad UDP ports");
    }
    if (cfg->mtu < 576 || cfg->mtu > 9216 || cfg->n_segments > 4096) {
        FAIL("mtu or segment count out of range");
    }
    for (uint32_t i = 0; i < cfg->n_segments; i++) {
        const struct cfg_segment *s = &cfg->segments[i];

        if (!s->vni || s->vni > 16777215 || !s->name[0] ||
            memchr(s->name, '\0', CFG_NAME_MAX) == NULL) {
            FAIL("segment %u: bad vni or name", i);
        }
        if (s->n_ports > 65536 || s->n_remotes > 65536) {
            FAIL("segment %u: too many ports", i);
        }
        for (uint32_t j = 0; j < s->n_ports; j++) {
            const struct cfg_port *p = &s->ports[j];
            if (!p->id || !p->ifname[0] ||
                memchr(p->ifname, '\0', CFG_IFNAME_MAX) == NULL ||
                memchr(p->name, '\0', CFG_NAME_MAX) == NULL ||
                (p->mac.b[0] & 1) || p->n_ips > 16) {
                FAIL("segment %u port %u: invalid", i, j);
            }
        }
        for (uint32_t j = 0; j < s->n_remotes; j++) {
            const struct cfg_remote *r = &s->remotes[j];
            if ((r->mac.b[0] & 1) || r->n_ips > 16 ||
                !memcmp(&r->vtep, &cfg->local_ip, sizeof r->vtep)) {
                FAIL("segment %u remote %u: invalid", i, j);
            }
        }
        for (uint32_t j = 0; j < s->n_flood_vteps; j++) {
            if (!memcmp(&s->flood_vteps[j], &cfg->local_ip,
                        sizeof cfg->local_ip)) {
                FAIL("segment %u: flood vtep is the local endpoint", i);
            }
            for (uint32_t k = 0; k < j; k++) {
                if (!memcmp(&s->flood_vteps[j], &s->flood_vteps[k],
                            sizeof s->flood_vteps[j])) {
                    FAIL("segment %u: duplicate flood vtep", i);
                }
            }
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_config *cfg = (struct agent_config *)1;
    char err[512], tiny[8];
    int rc;

    memset(err, 'x', sizeof err);
    rc = agent_config_parse((const char *)data, size, &cfg, err, sizeof err);
    if (!memchr(err, '\0', sizeof err)) {
        FAIL("error message not terminated");
    }
    if (rc == 0) {
        if (!cfg || err[0]) {
            FAIL("success without a config, or with a message");
        }
        check_config(cfg);
        agent_config_free(cfg);
        return 0;
    }
    if (rc != EINVAL || cfg || !err[0]) {
        FAIL("failure %d without EINVAL, NULL config and a message", rc);
    }
    for (const char *c = err; *c; c++) {
        if (*c < 0x20 || *c > 0x7e) {
            FAIL("non-printable byte in message: %s", err);
        }
    }
    rc = agent_config_parse((const char *)data, size, &cfg, tiny, sizeof tiny);
    if (rc != EINVAL || strncmp(tiny, err, sizeof tiny - 1) ||
        strlen(tiny) > sizeof tiny - 1) {
        FAIL("tiny buffer gave \"%s\" for \"%s\"", tiny, err);
    }
    return 0;
}
