/* weftd, the management-plane daemon, assembled: state directory, store,
 * bootstrap objects and token, TLS identity, API context, HTTP server.
 * weftd-main.c only parses flags and waits for a signal. */
#ifndef WEFT_WEFTD_H
#define WEFT_WEFTD_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct weftd_config {
    const char *state_dir;   /* required: store, certificates, token */
    const char *listen;      /* bind address */
    uint16_t port;           /* 0 = ephemeral */
    bool insecure_http;      /* plain HTTP (loopback only) */
    const char *cert_file;   /* TLS certificate, NULL = state dir */
    const char *key_file;    /* TLS key, NULL = state dir */
    unsigned threads;        /* HTTP threads */
    uint64_t retention_revs; /* history kept by compaction, 0 = all */
    uint32_t audit_days;     /* audit log entries' maximum age, 0 = all */
    uint32_t vni_min;        /* VNI pool */
    uint32_t vni_max;
    size_t max_body;     /* request body limit */
    size_t watch_buffer; /* bytes queued per streaming watch client */
    /* Control plane (controller.h). */
    bool no_controller;            /* do not start it */
    const char *controller_listen; /* bind address, NULL = 'listen' */
    int controller_port;           /* -1 = default (6643, or 0 with port 0) */
    unsigned keepalive_ms;         /* channel keepalive, 0 = default */
};

struct weftd;

/* Starts the daemon.  Returns 0 or an errno value (logged). */
int weftd_start(const struct weftd_config *cfg, struct weftd **wp);
/* The bound port. */
uint16_t weftd_port(const struct weftd *w);
/* The controller's bound port (0 if it is not running). */
uint16_t weftd_controller_port(const struct weftd *w);
/* Graceful stop: no new requests, answer parked ones, finish writes,
 * close the store. */
void weftd_stop(struct weftd *w);

/* True if 'addr' is a loopback address (127.0.0.0/8 or ::1). */
bool weftd_is_loopback(const char *addr);

#endif
