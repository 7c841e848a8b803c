/* Registry of port providers (port.h). */
#include "datapath/port.h"

#include <string.h>

static const struct dp_port_class *const port_classes[] = {
    &dp_port_dummy_class,
    &dp_port_afpacket_class, /* VIFs: veth, tap (port-afpacket.c) */
    &dp_port_udptun_class,   /* tunnel underlay (port-udptun.c) */
    /* Providers register here. */
};

const struct dp_port_class *
dp_port_class_find(const char *type)
{
    for (size_t i = 0; i < ARRAY_SIZE(port_classes); i++) {
        if (!strcmp(port_classes[i]->type, type)) {
            return port_classes[i];
        }
    }
    return NULL;
}
