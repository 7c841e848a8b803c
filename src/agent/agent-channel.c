/* weft-agent's control channel (agent-channel.h). */
#include "agent/agent-channel.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent-dfw.h"
#include "agent/agent-state.h"
#include "datapath/datapath.h"
#include "datapath/dfw.h"
#include "lib/hash.h"
#include "agent/agent.h"
#include "agent/ctl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/chan.h"
#include "proto/pki.h"
#include "proto/wire.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define HANDSHAKE_MS   10000
#define ENROLL_TIMEOUT 30000
#define NS_PER_MS      1000000ull
#define CACHE_MIN_NS   (1000 * NS_PER_MS) /* state.cache: one write a second */

enum ch_state { CH_IDLE, CH_CONNECTING, CH_ACTIVE };

struct agent_channel {
    struct agent *agent; /* the datapath side */
    struct agent_channel_config cfg;
    char state_dir[PATH_MAX];
    char controller[256]; /* address */
    char host_id[WIRE_HOST_ID_MAX + 1];
    SSL_CTX *ssl;                 /* client certificate + pinned CA */
    struct dstate *ds;            /* desired state */
    struct dstate_failures fails; /* objects not realized */
    bool cache_dirty;             /* state.cache is behind 'ds' */
    uint64_t cache_saved_ns;      /* when state.cache was last written */

    enum ch_state state;
    struct chan *chan;        /* current connection, or NULL */
    uint64_t next_attempt_ns; /* CH_IDLE: when to reconnect */
    unsigned backoff_ms;      /* current backoff */
    uint64_t deadline_ns;     /* CH_CONNECTING: handshake deadline */
    uint64_t last_rx_ns, last_tx_ns;
    uint64_t rx_bytes;
    uint64_t ka_ns;

    uint64_t stats_sent_ns; /* last RuleStats */
    uint64_t stats_sum;     /* what it reported (to skip repeats) */

    /* Statistics for the control socket. */
    uint64_t connects, updates, snapshots;
    char last_error[256];
};

/* Firewall rule counters go to the controller every STATS_PERIOD_NS while
 * they change. */
#define STATS_PERIOD_NS (2000 * NS_PER_MS)

static uint64_t
now_ns(void)
{
    return time_nsec();
}

/* Splits "host:port", "[v6]:port" or "host" into parts. */
static int
parse_addr(const char *addr, char *host, size_t size, char *port, size_t psize)
{
    const char *colon;

    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || (size_t)(end - addr - 1) >= size) {
            return EINVAL;
        }
        snprintf(host, size, "%.*s", (int)(end - addr - 1), addr + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(addr, ':');
        if (colon && strchr(addr, ':') != colon) {
            colon = NULL; /* bare IPv6 */
        }
        if ((size_t)(colon ? colon - addr : (long)strlen(addr)) >= size) {
            return EINVAL;
        }
        snprintf(host, size, "%.*s",
                 (int)(colon ? colon - addr : (long)strlen(addr)), addr);
    }
    snprintf(port, psize, "%s", colon ? colon + 1 : "6643");
    return *host && *port ? 0 : EINVAL;
}

/* Starts a non-blocking TCP connection. */
static int
connect_start(const char *addr, int *fdp, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    char host[256], port[16];
    int fd, one = 1, error;

    if (parse_addr(addr, host, sizeof host, port, sizeof port)) {
        snprintf(err, err_size, "bad controller address \"%s\"", addr);
        return EINVAL;
    }
    error = getaddrinfo(host, port, &hints, &ai);
    if (error) {
        snprintf(err, err_size, "%s: %s", addr, gai_strerror(error));
        return EHOSTUNREACH;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno;
        freeaddrinfo(ai);
        snprintf(err, err_size, "socket: %s", strerror(error));
        return error;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
        error = errno;
        freeaddrinfo(ai);
        close(fd);
        snprintf(err, err_size, "connect %s: %s", addr, strerror(error));
        return error;
    }
    freeaddrinfo(ai);
    *fdp = fd;
    return 0;
}

static void
path_in(char *buf, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size) {
        buf[0] = '\0'; /* too long: opening "" fails cleanly */
    }
}

static int
write_text(const char *path, const char *text)
{
    char tmp[PATH_MAX + 8];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        return errno;
    }
    fprintf(f, "%s\n", text);
    if (fflush(f) || fsync(fileno(f))) {
        fclose(f);
        return EIO;
    }
    fclose(f);
    return rename(tmp, path) ? errno : 0;
}

static bool
read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    bool ok;

    if (!f) {
        return false;
    }
    ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok) {
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    return ok && *buf;
}

/* Runs 'c' until a message arrives, the peer closes or 'deadline'. */
static int
chan_wait_message(struct chan *c, uint64_t deadline, Weft__Envelope **env,
                  char *err, size_t err_size)
{
    for (;;) {
        int error = chan_run(c, err, err_size);
        if (error) {
            /* A message that arrived with the close (the controller's
             * Error) is still worth more than "peer closed". */
            char err2[64];
            if (chan_established(c) && !chan_recv(c, env, err2, sizeof err2)) {
                return 0;
            }
            return error;
        }
        if (chan_established(c)) {
            error = chan_recv(c, env, err, err_size);
            if (error != EAGAIN) {
                return error;
            }
        }
        uint64_t now = now_ns();
        if (now >= deadline) {
            snprintf(err, err_size, "timed out");
            return ETIMEDOUT;
        }
        struct pollfd pfd = {chan_fd(c), 0, 0};
        pfd.events =
            (short)((chan_events(c) & EPOLLOUT) ? POLLOUT : 0) | POLLIN;
        if (!chan_more(c)) {
            poll(&pfd, 1, (int)MIN((deadline - now) / NS_PER_MS + 1, 1000));
        }
    }
}

/* Handshake only (no message expected yet). */
static int
chan_wait_established(struct chan *c, uint64_t deadline, char *err,
                      size_t err_size)
{
    while (!chan_established(c)) {
        int error = chan_run(c, err, err_size);
        if (error) {
            return error;
        }
        if (chan_established(c)) {
            break;
        }
        if (now_ns() >= deadline) {
            snprintf(err, err_size, "TLS handshake timed out");
            return ETIMEDOUT;
        }
        struct pollfd pfd = {chan_fd(c), POLLIN | POLLOUT, 0};
        poll(&pfd, 1, 100);
    }
    return 0;
}

int
agent_channel_enroll(const char *state_dir, const char *addr, const char *token,
                     char *host_id, char *err, size_t err_size)
{
    uint64_t deadline = now_ns() + ENROLL_TIMEOUT * NS_PER_MS;
    char path[PATH_MAX], fp[65], cn[64];
    SSL_CTX *ctx = NULL;
    struct chan *c = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL, *ca = NULL, *pinned = NULL;
    STACK_OF(X509) * chain;
    Weft__Envelope env = WEFT__ENVELOPE__INIT, *reply = NULL;
    Weft__EnrollRequest req = WEFT__ENROLL_REQUEST__INIT;
    uint8_t *csr = NULL;
    size_t csr_len = 0;
    int fd, error;

    /* Token: "wft1.<CA sha256>.<id>.<secret>" (see controller.c). */
    if (strlen(token) != 119 || strncmp(token, "wft1.", 5) ||
        token[69] != '.' || strspn(token + 5, "0123456789abcdef") != 64) {
        snprintf(err, err_size, "malformed join token");
        return EINVAL;
    }
    if (mkdir(state_dir, 0700) && errno != EEXIST) {
        error = errno;
        snprintf(err, err_size, "%s: %s", state_dir, strerror(error));
        return error;
    }
    if ((error = connect_start(addr, &fd, err, err_size))) {
        return error;
    }
    ctx = pki_ssl_ctx(false, NULL, NULL, NULL, NULL);
    c = ctx ? chan_new(ctx, fd, false, WIRE_MAX_FRAME) : NULL;
    if (!c) {
        snprintf(err, err_size, "TLS setup failed: %s", pki_last_error());
        error = EIO;
        goto out;
    }
    if ((error = chan_wait_established(c, deadline, err, err_size))) {
        goto out;
    }
    /* Pin the CA named by the token, and check that it signed the server's
     * certificate, before the token's secret leaves this host. */
    chain = SSL_get_peer_cert_chain(chan_ssl(c));
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        pki_fingerprint(x, fp);
        if (!strncmp(fp, token + 5, 64)) {
            pinned = x;
        }
    }
    X509 *leaf = SSL_get0_peer_certificate(chan_ssl(c));
    if (!pinned || !leaf || !pki_signed_by(leaf, pinned) ||
        !pki_cert_cn(leaf, cn, sizeof cn) || strcmp(cn, PKI_CONTROLLER_CN)) {
        snprintf(err, err_size,
                 "the server at %s does not hold the CA the token names "
                 "(wrong address or a man in the middle)",
                 addr);
        error = EPERM;
        goto out;
    }
    key = pki_new_key();
    csr = key ? pki_csr_der(key, "weft-host", &csr_len) : NULL;
    if (!csr) {
        snprintf(err, err_size, "cannot make a key: %s", pki_last_error());
        error = EIO;
        goto out;
    }
    req.token = (char *)token;
    req.csr_der.data = csr;
    req.csr_der.len = csr_len;
    env.body_case = WEFT__ENVELOPE__BODY_ENROLL_REQUEST;
    env.enroll_request = &req;
    chan_send(c, &env);
    error = chan_wait_message(c, deadline, &reply, err, err_size);
    if (error) {
        goto out;
    }
    if (reply->body_case == WEFT__ENVELOPE__BODY_ERROR) {
        snprintf(err, err_size, "enrollment refused: %s", reply->error->reason);
        error = EACCES;
        goto out;
    }
    if (reply->body_case != WEFT__ENVELOPE__BODY_ENROLL_REPLY) {
        snprintf(err, err_size, "unexpected reply to enrollment");
        error = EPROTO;
        goto out;
    }
    cert = pki_cert_from_der(reply->enroll_reply->cert_der.data,
                             reply->enroll_reply->cert_der.len);
    ca = pki_cert_from_der(reply->enroll_reply->ca_der.data,
                           reply->enroll_reply->ca_der.len);
    if (!cert || !ca || X509_cmp(ca, pinned) || !pki_signed_by(cert, ca) ||
        X509_check_private_key(cert, key) != 1 ||
        !pki_cert_cn(cert, cn, sizeof cn) ||
        strcmp(cn, reply->enroll_reply->host_id)) {
        snprintf(err, err_size, "the certificate received is not valid");
        error = EPROTO;
        goto out;
    }
    path_in(path, sizeof path, state_dir, "key.pem");
    if ((error = pki_write_key(path, key))) {
        goto write_failed;
    }
    path_in(path, sizeof path, state_dir, "cert.pem");
    if ((error = pki_write_cert(path, cert))) {
        goto write_failed;
    }
    path_in(path, sizeof path, state_dir, "ca.pem");
    if ((error = pki_write_cert(path, ca))) {
        goto write_failed;
    }
    path_in(path, sizeof path, state_dir, "controller");
    if ((error = write_text(path, addr))) {
        goto write_failed;
    }
    snprintf(host_id, WIRE_HOST_ID_MAX + 1, "%s", cn);
    goto out;

write_failed:
    snprintf(err, err_size, "%s: %s", path, strerror(error));
out:
    wire_free(reply);
    free(csr);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    chan_free(c);
    SSL_CTX_free(ctx);
    return error;
}

/* ---- The running channel. ---- */

static void
channel_cache_path(const struct agent_channel *ch, char *buf, size_t size)
{
    path_in(buf, size, ch->state_dir, "state.cache");
}

/* Writes state.cache if it is behind and a write is due ('force': now). */
static void
channel_save_cache(struct agent_channel *ch, bool force)
{
    char path[PATH_MAX];
    uint64_t now = now_ns();
    int error;

    if (!ch->cache_dirty ||
        (!force && now - ch->cache_saved_ns < CACHE_MIN_NS)) {
        return;
    }
    channel_cache_path(ch, path, sizeof path);
    if ((error = dstate_save(ch->ds, path))) {
        LOG_WARN("agent",
                 "msg=\"cannot write the state cache\" file=%s "
                 "error=\"%s\"",
                 path, strerror(error));
    }
    ch->cache_dirty = false;
    ch->cache_saved_ns = now;
}

/* Turns the desired state into datapath state; refreshes 'fails'. */
static void
channel_realize(struct agent_channel *ch)
{
    struct dstate_options o = {.mtu = ch->cfg.mtu,
                               .offloads = ch->cfg.offloads,
                               .kernel_fastpath = ch->cfg.kernel_fastpath};

    agent_realize(ch->agent, ch->ds, &o, &ch->fails);
    for (size_t i = 0; i < ch->fails.n && i < 8; i++) {
        LOG_WARN("agent", "msg=\"object not realized\" object=%s reason=\"%s\"",
                 ch->fails.items[i].object, ch->fails.items[i].reason);
    }
}

struct agent_channel *
agent_channel_create(struct agent *agent,
                     const struct agent_channel_config *cfg, char *err,
                     size_t err_size)
{
    struct agent_channel *ch;
    char path[PATH_MAX], cn[WIRE_HOST_ID_MAX + 1];
    X509 *cert, *ca;
    EVP_PKEY *key;
    int error;

    ch = xcalloc(1, sizeof *ch);
    ch->agent = agent;
    ch->cfg = *cfg;
    snprintf(ch->state_dir, sizeof ch->state_dir, "%s", cfg->state_dir);
    ch->ka_ns =
        (uint64_t)(cfg->keepalive_ms ? cfg->keepalive_ms : 5000) * NS_PER_MS;
    ch->backoff_ms = BACKOFF_MIN_MS;
    ch->ds = dstate_create();

    path_in(path, sizeof path, ch->state_dir, "cert.pem");
    cert = pki_read_cert(path);
    path_in(path, sizeof path, ch->state_dir, "key.pem");
    key = pki_read_key(path);
    path_in(path, sizeof path, ch->state_dir, "ca.pem");
    ca = pki_read_cert(path);
    if (!cert || !key || !ca || !pki_cert_cn(cert, cn, sizeof cn)) {
        snprintf(err, err_size,
                 "%s: not enrolled (no key.pem/cert.pem/ca.pem); join "
                 "with --join ADDRESS --token TOKEN",
                 ch->state_dir);
        goto fail;
    }
    snprintf(ch->host_id, sizeof ch->host_id, "%s", cn);
    ch->ssl = pki_ssl_ctx(false, cert, key, ca, NULL);
    if (!ch->ssl) {
        snprintf(err, err_size, "TLS setup failed: %s", pki_last_error());
        goto fail;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca);
    cert = ca = NULL;
    key = NULL;
    path_in(path, sizeof path, ch->state_dir, "controller");
    if (cfg->controller) {
        snprintf(ch->controller, sizeof ch->controller, "%s", cfg->controller);
    } else if (!read_text(path, ch->controller, sizeof ch->controller)) {
        snprintf(err, err_size, "%s: no controller address (use --controller)",
                 path);
        goto fail;
    }

    /* Headless start: the cached state first. */
    channel_cache_path(ch, path, sizeof path);
    error = dstate_load(ch->ds, path);
    if (!error) {
        LOG_INFO("agent",
                 "msg=\"restored cached state\" revision=%" PRIu64 " file=%s",
                 dstate_revision(ch->ds), path);
        channel_realize(ch);
    } else if (error != ENOENT) {
        LOG_WARN("agent", "msg=\"cache unreadable, ignored\" file=%s", path);
    }
    ch->state = CH_IDLE;
    ch->next_attempt_ns = now_ns();
    LOG_INFO("agent", "msg=\"control channel\" host=%s controller=%s",
             ch->host_id, ch->controller);
    return ch;

fail:
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca);
    agent_channel_destroy(ch);
    return NULL;
}

void
agent_channel_destroy(struct agent_channel *ch)
{
    if (!ch) {
        return;
    }
    channel_save_cache(ch, true);
    chan_free(ch->chan);
    SSL_CTX_free(ch->ssl);
    dstate_destroy(ch->ds);
    dstate_failures_clear(&ch->fails);
    free(ch);
}

static void
channel_drop(struct agent_channel *ch, const char *why)
{
    unsigned jitter;

    if (ch->state == CH_ACTIVE) {
        LOG_WARN("agent",
                 "msg=\"controller connection lost, forwarding headless\" "
                 "why=\"%s\"",
                 why);
    } else {
        LOG_WARN("agent",
                 "msg=\"cannot reach the controller\" controller=%s "
                 "why=\"%s\"",
                 ch->controller, why);
    }
    snprintf(ch->last_error, sizeof ch->last_error, "%s", why);
    chan_free(ch->chan);
    ch->chan = NULL;
    if (ch->state == CH_ACTIVE) {
        ch->backoff_ms = BACKOFF_MIN_MS;
    }
    ch->state = CH_IDLE;
    jitter = (unsigned)(rand() % (int)(ch->backoff_ms / 5 + 1));
    ch->next_attempt_ns = now_ns() + (ch->backoff_ms + jitter) * NS_PER_MS;
    ch->backoff_ms = MIN(ch->backoff_ms * 2, BACKOFF_MAX_MS);
}

static void
channel_send(struct agent_channel *ch, Weft__Envelope *env)
{
    chan_send(ch->chan, env);
    ch->last_tx_ns = now_ns();
}

static void
channel_send_error(struct agent_channel *ch, const char *reason)
{
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__Error e = WEFT__ERROR__INIT;
    char err[128];

    e.reason = (char *)reason;
    env.body_case = WEFT__ENVELOPE__BODY_ERROR;
    env.error = &e;
    channel_send(ch, &env);
    chan_run(ch->chan, err, sizeof err);
}

static void
channel_ack(struct agent_channel *ch)
{
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__Ack ack = WEFT__ACK__INIT;
    Weft__Failure *items = NULL, **ptrs = NULL;

    ack.revision = dstate_revision(ch->ds);
    if (ch->fails.n) {
        items = xcalloc(ch->fails.n, sizeof *items);
        ptrs = xcalloc(ch->fails.n, sizeof *ptrs);
        for (size_t i = 0; i < ch->fails.n; i++) {
            weft__failure__init(&items[i]);
            items[i].object = ch->fails.items[i].object;
            items[i].reason = ch->fails.items[i].reason;
            ptrs[i] = &items[i];
        }
        ack.n_failures = ch->fails.n;
        ack.failures = ptrs;
    }
    env.body_case = WEFT__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    channel_send(ch, &env);
    free(items);
    free(ptrs);
}

/* Returns false if the channel was dropped. */
static bool
channel_update(struct agent_channel *ch, const Weft__Update *u)
{
    char err[256];
    int error;

    error = dstate_apply(ch->ds, u, err, sizeof err);
    if (error) {
        /* Out of order: resync (the Hello says what we have). */
        channel_send_error(ch, err);
        channel_drop(ch, err);
        return false;
    }
    ch->updates++;
    ch->snapshots += u->full;
    channel_realize(ch);
    LOG_INFO("agent",
             "msg=\"update realized\" revision=%" PRIu64 " full=%d "
             "failures=%zu",
             u->revision, (int)u->full, ch->fails.n);
    channel_ack(ch);
    /* The cache only helps a restart while the controller is away: write
     * it after the ack, at most once a second in a burst of updates (a
     * write is O(span) plus an fsync); agent_channel_run() writes the
     * rest when due. */
    ch->cache_dirty = true;
    channel_save_cache(ch, false);
    return true;
}

static void
channel_hello(struct agent_channel *ch)
{
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__Hello hello = WEFT__HELLO__INIT;

    hello.version = WIRE_VERSION;
    hello.host_id = ch->host_id;
    hello.realized_revision = dstate_revision(ch->ds);
    env.body_case = WEFT__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    channel_send(ch, &env);
}

static void
channel_connect(struct agent_channel *ch)
{
    char err[256];
    int fd;

    if (connect_start(ch->controller, &fd, err, sizeof err)) {
        channel_drop(ch, err);
        return;
    }
    ch->chan = chan_new(ch->ssl, fd, false, WIRE_MAX_FRAME);
    if (!ch->chan) {
        channel_drop(ch, "TLS setup failed");
        return;
    }
    ch->state = CH_CONNECTING;
    ch->deadline_ns = now_ns() + HANDSHAKE_MS * NS_PER_MS;
    ch->rx_bytes = 0;
    ch->last_rx_ns = ch->last_tx_ns = now_ns();
}

static void
channel_io(struct agent_channel *ch)
{
    char err[WIRE_REASON_MAX + 64];
    Weft__Envelope *env;
    int error;

    for (int round = 0; round < 16 && ch->chan; round++) {
        error = chan_run(ch->chan, err, sizeof err);
        if (error) {
            channel_drop(ch, err);
            return;
        }
        if (chan_bytes_received(ch->chan) != ch->rx_bytes) {
            ch->rx_bytes = chan_bytes_received(ch->chan);
            ch->last_rx_ns = now_ns();
        }
        if (ch->state == CH_CONNECTING && chan_established(ch->chan)) {
            ch->state = CH_ACTIVE;
            ch->connects++;
            LOG_INFO("agent",
                     "msg=\"connected to the controller\" controller=%s "
                     "revision=%" PRIu64,
                     ch->controller, dstate_revision(ch->ds));
            channel_hello(ch);
            continue;
        }
        if (ch->state != CH_ACTIVE) {
            return;
        }
        for (;;) {
            error = chan_recv(ch->chan, &env, err, sizeof err);
            if (error == EAGAIN) {
                break;
            }
            if (error) {
                char why[WIRE_REASON_MAX + 96];
                snprintf(why, sizeof why, "bad frame from the controller: %s",
                         err);
                channel_send_error(ch, why);
                channel_drop(ch, why);
                return;
            }
            bool alive = true;
            switch (env->body_case) {
            case WEFT__ENVELOPE__BODY_UPDATE:
                alive = channel_update(ch, env->update);
                if (alive) {
                    ch->backoff_ms = BACKOFF_MIN_MS;
                }
                break;
            case WEFT__ENVELOPE__BODY_KEEPALIVE: {
                /* Answer, so the controller's period (which may be shorter
                 * than ours) decides its liveness check. */
                Weft__Envelope reply = WEFT__ENVELOPE__INIT;
                Weft__Keepalive ka = WEFT__KEEPALIVE__INIT;
                ka.time_ms = env->keepalive->time_ms;
                reply.body_case = WEFT__ENVELOPE__BODY_KEEPALIVE;
                reply.keepalive = &ka;
                channel_send(ch, &reply);
                break;
            }
            case WEFT__ENVELOPE__BODY_ERROR:
                snprintf(err, sizeof err, "refused by the controller: %s",
                         env->error->reason);
                channel_drop(ch, err);
                alive = false;
                break;
            default:
                channel_send_error(ch, "unexpected message from controller");
                channel_drop(ch, "unexpected message from the controller");
                alive = false;
            }
            wire_free(env);
            if (!alive) {
                return;
            }
        }
        if (!chan_more(ch->chan) && !chan_out_pending(ch->chan)) {
            return;
        }
        if (!chan_more(ch->chan)) {
            error = chan_run(ch->chan, err, sizeof err);
            if (error) {
                channel_drop(ch, err);
            }
            return;
        }
    }
}

int
agent_channel_fd(const struct agent_channel *ch)
{
    return ch->chan ? chan_fd(ch->chan) : -1;
}

short
agent_channel_events(const struct agent_channel *ch)
{
    if (!ch->chan) {
        return 0;
    }
    return (short)(POLLIN | ((chan_events(ch->chan) & EPOLLOUT) ? POLLOUT : 0));
}

int
agent_channel_timeout_ms(const struct agent_channel *ch)
{
    uint64_t now = now_ns(), due;

    switch (ch->state) {
    case CH_IDLE:
        due = ch->next_attempt_ns;
        break;
    case CH_CONNECTING:
        due = ch->deadline_ns;
        break;
    case CH_ACTIVE:
    default:
        due = MIN(ch->last_tx_ns + ch->ka_ns, ch->last_rx_ns + 4 * ch->ka_ns);
        due = MIN(due, ch->stats_sent_ns + STATS_PERIOD_NS);
        break;
    }
    if (ch->cache_dirty) {
        due = MIN(due, ch->cache_saved_ns + CACHE_MIN_NS);
    }
    if (ch->chan && chan_more(ch->chan)) {
        return 0;
    }
    return due <= now ? 0 : (int)MIN((due - now) / NS_PER_MS + 1, 60000);
}

struct stats_ctx {
    struct datapath *dp;
    Weft__RuleCounter **v;
    size_t n, cap;
    uint64_t sum;
};

static void
stats_add(void *aux, uint32_t id, const char *path)
{
    struct stats_ctx *sc = aux;
    struct dfw_rule_counters rc;
    Weft__RuleCounter *c;

    datapath_get_rule_counters(sc->dp, id, &rc);
    if (!rc.packets && !rc.sessions) {
        return;
    }
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 16;
        sc->v = xrealloc(sc->v, sc->cap * sizeof *sc->v);
    }
    c = xmalloc(sizeof *c);
    weft__rule_counter__init(c);
    c->rule = (char *)path; /* borrowed until sent */
    c->packets = rc.packets;
    c->bytes = rc.bytes;
    c->sessions = rc.sessions;
    sc->v[sc->n++] = c;
    sc->sum = hash_mix64(sc->sum ^ rc.packets) + rc.sessions + id;
}

static void
channel_send_stats(struct agent_channel *ch)
{
    struct stats_ctx sc = {agent_datapath(ch->agent), NULL, 0, 0, 0};
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__RuleStats rs = WEFT__RULE_STATS__INIT;

    datapath_collect_counts(sc.dp); /* established flows' latest packets */
    agent_dfw_rules_foreach(agent_firewall(ch->agent), stats_add, &sc);
    if (sc.n && sc.sum != ch->stats_sum) {
        rs.n_counters = sc.n;
        rs.counters = sc.v;
        env.body_case = WEFT__ENVELOPE__BODY_RULE_STATS;
        env.rule_stats = &rs;
        channel_send(ch, &env);
        ch->stats_sum = sc.sum;
    }
    for (size_t i = 0; i < sc.n; i++) {
        free(sc.v[i]);
    }
    free(sc.v);
}

void
agent_channel_run(struct agent_channel *ch)
{
    uint64_t now = now_ns();

    channel_save_cache(ch, false);
    switch (ch->state) {
    case CH_IDLE:
        if (now >= ch->next_attempt_ns) {
            channel_connect(ch);
            if (ch->chan) {
                channel_io(ch);
            }
        }
        return;
    case CH_CONNECTING:
        if (now >= ch->deadline_ns) {
            channel_drop(ch, "TLS handshake timed out");
            return;
        }
        channel_io(ch);
        return;
    case CH_ACTIVE:
        channel_io(ch);
        if (ch->state != CH_ACTIVE) {
            return;
        }
        now = now_ns();
        if (now - ch->last_rx_ns > 4 * ch->ka_ns) {
            channel_drop(ch, "keepalive timeout");
            return;
        }
        if (now - ch->stats_sent_ns >= STATS_PERIOD_NS) {
            channel_send_stats(ch);
            ch->stats_sent_ns = now;
        }
        if (now - ch->last_tx_ns >= ch->ka_ns) {
            Weft__Envelope env = WEFT__ENVELOPE__INIT;
            Weft__Keepalive ka = WEFT__KEEPALIVE__INIT;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ka.time_ms =
                (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
            env.body_case = WEFT__ENVELOPE__BODY_KEEPALIVE;
            env.keepalive = &ka;
            channel_send(ch, &env);
            channel_io(ch);
        }
        return;
    }
}

/* ---- Control socket. ---- */

static int
cmd_controller(int argc, const char *argv[], struct ctl_reply *r, void *ch_)
{
    static const char *const names[] = {"disconnected", "connecting",
                                        "connected"};
    struct agent_channel *ch = ch_;
    size_t segs, ports, remotes, floods;
    (void)argc;
    (void)argv;

    dstate_counts(ch->ds, &segs, &ports, &remotes, &floods);
    ctl_reply_printf(r, "host %s controller %s state %s\n", ch->host_id,
                     ch->controller, names[ch->state]);
    ctl_reply_printf(r,
                     "revision %" PRIu64 " segments %zu ports %zu remotes %zu "
                     "floods %zu\n",
                     dstate_revision(ch->ds), segs, ports, remotes, floods);
    ctl_reply_printf(
        r, "connects %" PRIu64 " updates %" PRIu64 " snapshots %" PRIu64 "\n",
        ch->connects, ch->updates, ch->snapshots);
    if (ch->last_error[0]) {
        ctl_reply_printf(r, "last error: %s\n", ch->last_error);
    }
    for (size_t i = 0; i < ch->fails.n; i++) {
        ctl_reply_printf(r, "failed: %s: %s\n", ch->fails.items[i].object,
                         ch->fails.items[i].reason);
    }
    return 0;
}

void
agent_channel_register_ctl(struct agent_channel *ch, struct ctl_server *ctl)
{
    ctl_register(ctl, "controller", "",
                 "show the control channel and the desired state's revision",
                 cmd_controller, ch);
}
