/* weftd: the Weft management-plane daemon.  Parses flags, starts the
 * daemon (weftd.c) and waits for SIGTERM/SIGINT to stop it gracefully. */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api-audit.h"
#include "api/api-router.h"
#include "api/weftd.h"
#include "lib/log.h"
#include "lib/util.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: weftd --state-dir DIR [options]\n"
            "  --state-dir DIR     store, certificates and admin.token\n"
            "  --listen ADDR       address to bind (default 127.0.0.1)\n"
            "  --port N            TCP port (default 8443, 0 = ephemeral;\n"
            "                      the bound port is written to "
            "DIR/weftd.port)\n"
            "  --insecure-http     plain HTTP instead of HTTPS (loopback "
            "only)\n"
            "  --cert FILE --key FILE   TLS identity (default: self-signed,\n"
            "                      generated in DIR at first start)\n"
            "  --threads N         HTTP threads (default 2)\n"
            "  --retention N       revisions of history kept (default "
            "100000, 0 = all)\n"
            "  --audit-days N      days the audit log keeps an entry "
            "(default 90,\n"
            "                      0 = forever)\n"
            "  --vni-range A-B     VNI pool (default 5000-16777215)\n"
            "  --max-body BYTES    request body limit (default 64 MiB)\n"
            "  --watch-buffer BYTES  bytes a streaming watch may queue for\n"
            "                      a slow client before it is cut off\n"
            "                      (default 1 MiB)\n"
            "  --controller-listen ADDR  control channel address for agents\n"
            "                      (default: --listen)\n"
            "  --controller-port N control channel port (default 6643, or\n"
            "                      ephemeral with --port 0; the bound port\n"
            "                      is written to DIR/controller.port)\n"
            "  --no-controller     run the management plane only\n"
            "  --keepalive-ms N    control channel keepalive (default 5000)\n"
            "  --log-level LEVEL   debug, info, warn or error\n"
            "  --dump-routes       print the served routes and exit\n");
}

static void
print_route(void *aux, const char *method, const char *path)
{
    (void)aux;
    printf("%s %s\n", method, path);
}

int
main(int argc, char *argv[])
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"port", required_argument, NULL, 'p'},
        {"insecure-http", no_argument, NULL, 'i'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},
        {"retention", required_argument, NULL, 'r'},
        {"vni-range", required_argument, NULL, 'v'},
        {"max-body", required_argument, NULL, 'b'},
        {"watch-buffer", required_argument, NULL, 'W'},
        {"log-level", required_argument, NULL, 'L'},
        {"dump-routes", no_argument, NULL, 'R'},
        {"controller-listen", required_argument, NULL, 'C'},
        {"controller-port", required_argument, NULL, 'P'},
        {"no-controller", no_argument, NULL, 'N'},
        {"keepalive-ms", required_argument, NULL, 'K'},
        {"audit-days", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct weftd_config cfg = {
        .listen = "127.0.0.1",
        .port = 8443,
        .threads = 2,
        .retention_revs = 100000,
        .audit_days = AUDIT_DEFAULT_DAYS,
        .vni_min = 5000,
        .vni_max = 16777215,
        .max_body = 64u << 20,
        .watch_buffer = 1u << 20,
        .controller_port = -1,
    };
    struct weftd *w;
    sigset_t sigs;
    uint64_t v;
    int c, sig, error;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            cfg.state_dir = optarg;
            break;
        case 'l':
            cfg.listen = optarg;
            break;
        case 'p':
            if (!str_to_u64(optarg, 65535, &v)) {
                goto bad;
            }
            cfg.port = (uint16_t)v;
            break;
        case 'i':
            cfg.insecure_http = true;
            break;
        case 'c':
            cfg.cert_file = optarg;
            break;
        case 'k':
            cfg.key_file = optarg;
            break;
        case 't':
            if (!str_to_u64(optarg, 256, &v) || !v) {
                goto bad;
            }
            cfg.threads = (unsigned)v;
            break;
        case 'r':
            if (!str_to_u64(optarg, UINT64_MAX / 2, &cfg.retention_revs)) {
                goto bad;
            }
            break;
        case 'A':
            if (!str_to_u64(optarg, 36500, &v)) {
                goto bad;
            }
            cfg.audit_days = (uint32_t)v;
            break;
        case 'v': {
            unsigned long lo, hi;
            char extra;
            if (sscanf(optarg, "%lu-%lu%c", &lo, &hi, &extra) != 2 || !lo ||
                lo > hi || hi > 16777215) {
                goto bad;
            }
            cfg.vni_min = (uint32_t)lo;
            cfg.vni_max = (uint32_t)hi;
            break;
        }
        case 'b':
            if (!str_to_u64(optarg, 1ull << 32, &v) || v < 1024) {
                goto bad;
            }
            cfg.max_body = (size_t)v;
            break;
        case 'W':
            if (!str_to_u64(optarg, 1ull << 32, &v) || v < 4096) {
                goto bad;
            }
            cfg.watch_buffer = (size_t)v;
            break;
        case 'L': {
            enum log_level level;
            if (!log_level_from_string(optarg, &level)) {
                goto bad;
            }
            log_set_level(level);
            break;
        }
        case 'C':
            cfg.controller_listen = optarg;
            break;
        case 'P':
            if (!str_to_u64(optarg, 65535, &v)) {
                goto bad;
            }
            cfg.controller_port = (int)v;
            break;
        case 'N':
            cfg.no_controller = true;
            break;
        case 'K':
            if (!str_to_u64(optarg, 600000, &v) || v < 100) {
                goto bad;
            }
            cfg.keepalive_ms = (unsigned)v;
            break;
        case 'R':
            api_routes_foreach(print_route, NULL);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!cfg.state_dir || optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Signals are taken synchronously by this thread only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    error = weftd_start(&cfg, &w);
    if (error) {
        return 1;
    }
    {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        FILE *f;
        snprintf(path, sizeof path, "%s/weftd.port", cfg.state_dir);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%u\n", weftd_port(w));
            fclose(f);
            rename(tmp, path);
        }
        snprintf(path, sizeof path, "%s/controller.port", cfg.state_dir);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        if (weftd_controller_port(w) && (f = fopen(tmp, "w"))) {
            fprintf(f, "%u\n", weftd_controller_port(w));
            fclose(f);
            rename(tmp, path);
        }
    }
    sigdelset(&sigs, SIGPIPE);
    do {
        sig = 0;
        sigwait(&sigs, &sig);
    } while (sig != SIGTERM && sig != SIGINT);
    LOG_INFO("weftd", "signal %d: stopping", sig);
    weftd_stop(w);
    return 0;

bad:
    fprintf(stderr, "weftd: invalid value '%s'\n", optarg);
    usage(stderr);
    return 2;
}
