/* Daemon assembly (see weftd.h). */
#include "api/weftd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api-audit.h"
#include "api/api-auth.h"
#include "api/api-router.h"
#include "api/api-watch.h"
#include "api/api.h"
#include "api/http-server.h"
#include "api/tls-cert.h"
#include "controller/controller.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

struct weftd {
    struct api_ctx ctx;         /* API state */
    struct http_server *server; /* HTTP server */
};

bool
weftd_is_loopback(const char *addr)
{
    struct in6_addr a6;
    struct in_addr a4;

    if (inet_pton(AF_INET, addr, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Creates the default project if it does not exist. */
static int
weftd_default_project(struct store_txn *txn, void *aux)
{
    static const char key[] = "o1/projects/default";
    struct store_kv kv;
    char value[160];
    int64_t now = api_now_ms();

    (void)aux;
    if (!store_txn_get(txn, key, &kv)) {
        store_kv_clear(&kv);
        return 0;
    }
    snprintf(value, sizeof value,
             "{\"display_name\":\"default\",\"_create_time\":%lld,"
             "\"_last_modified\":%lld}",
             (long long)now, (long long)now);
    return store_txn_put(txn, key, value, strlen(value));
}

int
weftd_start(const struct weftd_config *cfg, struct weftd **wp)
{
    struct weftd *w = xcalloc(1, sizeof *w);
    struct store_options sopts = {.retention_revs = cfg->retention_revs};
    struct http_server_config hcfg = {
        .addr = cfg->listen,
        .port = cfg->port,
        .max_body = cfg->max_body,
        .threads = cfg->threads,
    };
    char path[PATH_MAX], *cert = NULL, *key = NULL;
    int error;

    audit_set_max_age_ms((int64_t)cfg->audit_days * 86400 * 1000);

    *wp = NULL;
    if (cfg->insecure_http && !weftd_is_loopback(cfg->listen)) {
        LOG_ERROR("weftd", "plain HTTP is only allowed on loopback, not %s",
                  cfg->listen);
        free(w);
        return EPERM;
    }
    if (mkdir(cfg->state_dir, 0700) && errno != EEXIST) {
        error = errno;
        LOG_ERROR("weftd", "cannot create %s: %s", cfg->state_dir,
                  strerror(error));
        free(w);
        return error;
    }
    snprintf(path, sizeof path, "sqlite:%s/store", cfg->state_dir);
    error = store_open(path, &sopts, &w->ctx.store);
    if (error) {
        LOG_ERROR("weftd", "cannot open store %s: %s", path, strerror(error));
        free(w);
        return error;
    }
    snprintf(path, sizeof path, "%s/admin.token", cfg->state_dir);
    error = store_txn_run(w->ctx.store, weftd_default_project, NULL, NULL);
    if (!error) {
        error = auth_bootstrap(w->ctx.store, path);
    }
    if (!error && !cfg->insecure_http) {
        error = tls_cert_load_or_create(cfg->state_dir, cfg->cert_file,
                                        cfg->key_file, &cert, &key);
        hcfg.cert_pem = cert;
        hcfg.key_pem = key;
    }
    if (error) {
        LOG_ERROR("weftd", "startup failed: %s", strerror(error));
        store_close(w->ctx.store);
        free(w);
        return error;
    }
    w->ctx.vni_min = cfg->vni_min;
    w->ctx.vni_max = cfg->vni_max;
    w->ctx.max_subtree_objects = 1000000;
    w->ctx.watch_buffer = cfg->watch_buffer ? cfg->watch_buffer : 1u << 20;
    w->ctx.watch = watch_hub_create(w->ctx.store);
    w->ctx.auth = auth_cache_create(w->ctx.store);
    if (!cfg->no_controller) {
        struct controller_config ccfg = {
            .store = w->ctx.store,
            .state_dir = cfg->state_dir,
            .listen =
                cfg->controller_listen ? cfg->controller_listen : cfg->listen,
            .port =
                (uint16_t)(cfg->controller_port >= 0 ? cfg->controller_port
                                                     : (cfg->port ? 6643 : 0)),
            .keepalive_ms = cfg->keepalive_ms,
        };
        error = controller_start(&ccfg, &w->ctx.controller);
        if (error) {
            free(cert);
            free(key);
            watch_hub_destroy(w->ctx.watch);
            auth_cache_destroy(w->ctx.auth);
            store_close(w->ctx.store);
            free(w);
            return error;
        }
    }
    error = http_server_start(&hcfg, api_router_handle, &w->ctx, &w->server);
    free(cert);
    free(key);
    if (error) {
        LOG_ERROR("weftd", "cannot listen on %s port %u: %s", cfg->listen,
                  cfg->port, strerror(error));
        controller_stop(w->ctx.controller);
        watch_hub_destroy(w->ctx.watch);
        auth_cache_destroy(w->ctx.auth);
        store_close(w->ctx.store);
        free(w);
        return error;
    }
    LOG_INFO("weftd", "serving %s on %s port %u, revision %llu",
             cfg->insecure_http ? "HTTP" : "HTTPS", cfg->listen,
             http_server_port(w->server),
             (unsigned long long)store_revision(w->ctx.store));
    *wp = w;
    return 0;
}

uint16_t
weftd_port(const struct weftd *w)
{
    return http_server_port(w->server);
}

uint16_t
weftd_controller_port(const struct weftd *w)
{
    return w->ctx.controller ? controller_port(w->ctx.controller) : 0;
}

void
weftd_stop(struct weftd *w)
{
    if (!w) {
        return;
    }
    http_server_quiesce(w->server);
    watch_hub_destroy(w->ctx.watch);
    http_server_stop(w->server);
    controller_stop(w->ctx.controller);
    auth_cache_destroy(w->ctx.auth);
    store_close(w->ctx.store);
    free(w);
}
