/* weft-agent: the per-host agent.  Runs the datapath and serves the
 * control socket; its desired state comes either from the controller
 * (--state-dir, enrolled once with --join/--token; agent-channel.h) or
 * from a JSON file re-applied on SIGHUP or `weft-agent ctl reload`.
 *
 *   weft-agent --state-dir DIR [--join ADDR --token T] --ctl SOCKET ...
 *   weft-agent --config FILE --ctl SOCKET [--log-level L] [--pidfile F]
 *   weft-agent ctl --ctl SOCKET COMMAND [ARG...]
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/agent-channel.h"
#include "agent/config.h"
#include "agent/agent-dhcp.h"
#include "agent/agent.h"
#include "agent/ctl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/wire.h"

#define EXIT_USAGE 2

struct main_ctx {
    struct agent *agent;
    const char *config_path;
    struct agent_channel *channel; /* controller mode, else NULL */
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: weft-agent --state-dir DIR --ctl SOCKET [options]\n"
            "       weft-agent --config FILE --ctl SOCKET [options]\n"
            "       weft-agent ctl --ctl SOCKET COMMAND [ARG...]\n"
            "\n"
            "Runs Weft's per-host datapath agent.\n"
            "\n"
            "options:\n"
            "  --state-dir DIR   controller mode: identity, CA and state\n"
            "                    cache live in DIR (docs/controller.md)\n"
            "  --join ADDR       enroll first with the controller at\n"
            "                    ADDR (host[:port], default port 6643)\n"
            "  --token TOKEN     the join token (weft host join-token)\n"
            "  --controller ADDR override the saved controller address\n"
            "  --underlay-mtu N  underlay MTU in controller mode (1500)\n"
            "  --keepalive-ms N  control channel keepalive (5000)\n"
            "  --kernel-fastpath on|off\n"
            "                    controller mode: the kernel fast path\n"
            "                    (docs/decisions.md 70; default %s)\n"
            "  --config FILE     JSON configuration (docs/agent-config.md)\n"
            "  --ctl SOCKET      control socket path\n"
            "  --log-level L     debug, info (default), warn or error\n"
            "  --pidfile FILE    write the process id to FILE\n"
            "  --check-config    validate --config and exit (0 valid, 1 not)\n"
            "  -h, --help        this help\n"
            "\n"
            "Signals: SIGHUP re-reads the configuration (a bad file is\n"
            "rejected and the running state kept); SIGTERM/SIGINT exit.\n"
            "Try `weft-agent ctl --ctl SOCKET help` for control commands.\n",
            AGENT_KERNEL_FASTPATH_DEFAULT ? "on" : "off");
}

static int
cmd_reload(int argc, const char *argv[], struct ctl_reply *r, void *ctx_)
{
    struct main_ctx *ctx = ctx_;
    char err[512];
    (void)argc;
    (void)argv;

    if (agent_reload(ctx->agent, ctx->config_path, err, sizeof err)) {
        ctl_reply_printf(r, "configuration rejected: %s\n", err);
        return 1;
    }
    ctl_reply_printf(r, "configuration applied\n");
    return 0;
}

static int
run_ctl(int argc, char *argv[])
{
    const char *sock = NULL;
    int i = 1;

    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--ctl") && i + 1 < argc) {
            sock = argv[++i];
        } else if (!strncmp(argv[i], "--ctl=", 6)) {
            sock = argv[i] + 6;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            break;
        }
    }
    if (!sock || i >= argc) {
        fprintf(stderr, "weft-agent ctl: need --ctl SOCKET and a command "
                        "(try: help)\n");
        return EXIT_USAGE;
    }
    return ctl_client_call(sock, argc - i, argv + i, stdout, stderr);
}

static int
write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "weft-agent: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

static int
serve(struct main_ctx *ctx, struct ctl_server *ctl, int sfd)
{
    for (;;) {
        struct agent_dhcp *dhcp = agent_get_dhcp(ctx->agent);
        struct pollfd fds[4] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = ctl_server_fd(ctl), .events = POLLIN},
            {.fd = -1, .events = 0},
            {.fd = agent_dhcp_fd(dhcp), .events = POLLIN},
        };
        int timeout =
            MIN(1000, agent_dhcp_next_timeout_ms(dhcp, time_nsec() / 1000000));
        if (ctx->channel) {
            fds[2].fd = agent_channel_fd(ctx->channel);
            fds[2].events = agent_channel_events(ctx->channel);
            timeout = MIN(timeout, agent_channel_timeout_ms(ctx->channel));
        }
        int n = poll(fds, 4, timeout);

        if (n < 0 && errno != EINTR) {
            LOG_ERROR("agent", "msg=\"poll failed\" error=\"%s\"",
                      strerror(errno));
            return 1;
        }
        if (n > 0 && (fds[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGHUP && !ctx->config_path) {
                    LOG_INFO("agent", "msg=\"SIGHUP ignored in controller "
                                      "mode\"");
                } else if (si.ssi_signo == SIGHUP) {
                    char err[512];
                    LOG_INFO("agent", "msg=\"SIGHUP: reloading\" file=%s",
                             ctx->config_path);
                    agent_reload(ctx->agent, ctx->config_path, err, sizeof err);
                } else {
                    LOG_INFO("agent", "msg=\"exiting\" signal=%u",
                             si.ssi_signo);
                    return 0;
                }
            }
        }
        if (n > 0 && (fds[1].revents & POLLIN)) {
            ctl_server_run(ctl);
        }
        if (ctx->channel) {
            agent_channel_run(ctx->channel); /* writes the acks it owes */
        }
        /* Devices of deleted ports close after the acknowledgement (or,
         * from a file, after the reload's reply), not before. */
        agent_close_retired(ctx->agent);
        agent_dhcp_run(agent_get_dhcp(ctx->agent), time_nsec() / 1000000);
        agent_retry_pending(ctx->agent);
    }
}

int
main(int argc, char *argv[])
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"ctl", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'l'},
        {"pidfile", required_argument, NULL, 'p'},
        {"check-config", no_argument, NULL, 'C'},
        {"state-dir", required_argument, NULL, 'S'},
        {"join", required_argument, NULL, 'J'},
        {"token", required_argument, NULL, 'T'},
        {"controller", required_argument, NULL, 'A'},
        {"underlay-mtu", required_argument, NULL, 'M'},
        {"keepalive-ms", required_argument, NULL, 'K'},
        {"kernel-fastpath", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct main_ctx ctx = {0};
    const char *ctl_path = NULL, *pidfile = NULL;
    bool check_only = false;
    struct agent_config *cfg = NULL;
    struct agent_channel_config chcfg = {
        .mtu = 1500,
        .offloads = true,
        .kernel_fastpath = AGENT_KERNEL_FASTPATH_DEFAULT,
    };
    const char *join = NULL, *token = NULL;
    char err[512];
    int opt, rc;

    if (argc > 1 && !strcmp(argv[1], "ctl")) {
        return run_ctl(argc - 1, argv + 1);
    }
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            ctx.config_path = optarg;
            break;
        case 's':
            ctl_path = optarg;
            break;
        case 'l': {
            enum log_level level;
            if (!log_level_from_string(optarg, &level)) {
                fprintf(stderr,
                        "weft-agent: --log-level: unknown level "
                        "\"%s\" (debug, info, warn, error)\n",
                        optarg);
                return EXIT_USAGE;
            }
            log_set_level(level);
            break;
        }
        case 'p':
            pidfile = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'S':
            chcfg.state_dir = optarg;
            break;
        case 'J':
            join = optarg;
            break;
        case 'T':
            token = optarg;
            break;
        case 'A':
            chcfg.controller = optarg;
            break;
        case 'M':
        case 'K': {
            uint64_t v;
            if (!str_to_u64(optarg, opt == 'M' ? 9216 : 600000, &v) ||
                v < (opt == 'M' ? 576u : 100u)) {
                fprintf(stderr, "weft-agent: bad value \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            if (opt == 'M') {
                chcfg.mtu = (uint32_t)v;
            } else {
                chcfg.keepalive_ms = (unsigned)v;
            }
            break;
        }
        case 'F':
            if (!strcmp(optarg, "on") || !strcmp(optarg, "off")) {
                chcfg.kernel_fastpath = !strcmp(optarg, "on");
                break;
            }
            fprintf(stderr,
                    "weft-agent: --kernel-fastpath: expected on or off, "
                    "got \"%s\"\n",
                    optarg);
            return EXIT_USAGE;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weft-agent: unexpected argument \"%s\"\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    if (chcfg.state_dir || join || token) {
        char host[WIRE_HOST_ID_MAX + 1];
        if (ctx.config_path || !chcfg.state_dir || !ctl_path ||
            !join != !token) {
            fprintf(stderr, "weft-agent: controller mode needs --state-dir "
                            "and --ctl, --join goes with --token, and "
                            "--config does not mix with them (see --help)\n");
            return EXIT_USAGE;
        }
        if (join) {
            if (agent_channel_enroll(chcfg.state_dir, join, token, host, err,
                                     sizeof err)) {
                fprintf(stderr, "weft-agent: cannot join %s: %s\n", join, err);
                return 1;
            }
            LOG_INFO("agent", "msg=\"enrolled\" host=%s controller=%s", host,
                     join);
        }
    } else if (!ctx.config_path || (!ctl_path && !check_only)) {
        fprintf(stderr, "weft-agent: --config and --ctl are required "
                        "(see --help)\n");
        return EXIT_USAGE;
    }
    if (ctx.config_path &&
        agent_config_load(ctx.config_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "weft-agent: %s\n", err);
        return 1;
    }
    if (check_only) {
        agent_config_free(cfg);
        printf("%s: valid\n", ctx.config_path);
        return 0;
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    /* Block before any thread starts so only the signalfd sees them. */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "weft-agent: signalfd: %s\n", strerror(errno));
        agent_config_free(cfg);
        return 1;
    }

    struct ctl_server *ctl = ctl_server_create(ctl_path, err, sizeof err);
    if (!ctl) {
        fprintf(stderr, "weft-agent: %s\n", err);
        agent_config_free(cfg);
        close(sfd);
        return 1;
    }
    ctx.agent = agent_create();
    if (!ctx.agent) {
        ctl_server_destroy(ctl);
        agent_config_free(cfg);
        close(sfd);
        return 1;
    }
    if (chcfg.state_dir) {
        agent_set_state_dir(ctx.agent, chcfg.state_dir); /* DHCP leases */
    }
    if (cfg) {
        agent_apply(ctx.agent, cfg);
    } else {
        ctx.channel = agent_channel_create(ctx.agent, &chcfg, err, sizeof err);
        if (!ctx.channel) {
            fprintf(stderr, "weft-agent: %s\n", err);
            agent_destroy(ctx.agent);
            ctl_server_destroy(ctl);
            close(sfd);
            return 1;
        }
        agent_channel_register_ctl(ctx.channel, ctl);
    }
    agent_register_ctl(ctx.agent, ctl);
    if (ctx.config_path) {
        ctl_register(ctl, "reload", "",
                     "re-read the configuration file and apply it", cmd_reload,
                     &ctx);
    }
    if (pidfile && write_pidfile(pidfile)) {
        rc = 1;
    } else {
        LOG_INFO("agent", "msg=\"started\" config=%s ctl=%s",
                 ctx.config_path ? ctx.config_path : "(controller)", ctl_path);
        rc = serve(&ctx, ctl, sfd);
    }

    agent_channel_destroy(ctx.channel);
    agent_destroy(ctx.agent);
    ctl_server_destroy(ctl);
    close(sfd);
    if (pidfile) {
        unlink(pidfile);
    }
    return rc;
}
