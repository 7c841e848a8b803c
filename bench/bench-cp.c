/* Control-plane scale benchmark (bench/bench-cp.sh runs it).
 *
 *   bench-cp HOSTS PORTS SEGMENTS SPAN SUFFIX WEFTD
 *
 * A real weftd (the binary WEFTD, its own process, so its CPU and memory
 * are its own) and HOSTS simulated hosts in this process: each is a real
 * TLS session with its own client certificate speaking the real protocol,
 * and keeps the agent's real tables: on every update, as weft-agent does
 * before it acknowledges, the desired state (agent-state.c) is applied,
 * converted into the agent configuration and built into the datapath's
 * forwarding snapshot (agent_config_tables(): the dp_tables weft-agent
 * publishes, without ports, packet thread or state cache).  Hosts and their certificates are prepared in the store and
 * the CA before weftd starts (enrollment is tested elsewhere); the
 * topology then goes through the REST API:
 *   SEGMENTS segments of PORTS/SEGMENTS ports each, each segment spread
 *   over SPAN hosts (a tenant network lives on a few hosts).
 *
 * Figures (name: value unit, names suffixed with SUFFIX):
 *   cp_full_realize_s      first PATCH sent -> every host acknowledged the
 *                          whole topology (PATCHes of 10 segments each,
 *                          realization polled on GET /api/v1/realization)
 *   cp_change_p50_ms/p99   one port PUT or DELETE: request sent -> every
 *                          affected host acknowledged its revision
 *   cp_bytes_per_change    protocol bytes received by all hosts per change
 *   weftd_peak_rss_mb      weftd's VmHWM at the end
 *   weftd_cpu_s            weftd's user+system CPU for the whole run */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent-state.h"
#include "agent/agent.h"
#include "datapath/tables.h"
#include "controller/ca.h"
#include "lib/util.h"
#include "proto/chan.h"
#include "proto/pki.h"
#include "proto/wire.h"
#include "store/store.h"

#define CHANGES 200

struct sim {
    int idx;
    SSL_CTX *ctx;
    struct chan *chan;
    struct dstate *ds;
    struct dp_tables *tables; /* forwarding snapshot of 'ds' */
    uint64_t generation;      /* of 'tables' */
    bool hello_sent;
    _Atomic uint64_t acked;    /* revision acknowledged */
    _Atomic uint64_t ack_ns;   /* when */
    _Atomic uint64_t rx_bytes; /* protocol bytes received */
};

static struct sim *sims;
static int n_hosts;
static int epfd;
static atomic_bool stop;
static char dir[256];
static char endpoint[64], cacert[300], auth[200];
static CURL *curl;

static uint64_t
now_ns(void)
{
    return time_nsec();
}

static void
die(const char *msg)
{
    fprintf(stderr, "bench-cp: %s\n", msg);
    exit(1);
}

/* ---- Preparation: hosts, certificates, store. ---- */

struct prep {
    int n;
    uint64_t *serials;
};

static int
prep_txn(struct store_txn *txn, void *aux)
{
    struct prep *p = aux;
    char key[64], value[256];

    for (int i = 0; i < p->n; i++) {
        snprintf(key, sizeof key, "o1/hosts/h%d", i);
        snprintf(value, sizeof value,
                 "{\"tunnel_endpoint\":\"10.%d.%d.%d\",\"_create_time\":1,"
                 "\"_last_modified\":1}",
                 100 + i / 65536, (i / 256) % 256, i % 256 + 0);
        store_txn_put(txn, key, value, strlen(value));
        snprintf(key, sizeof key, "c/h%d", i);
        snprintf(value, sizeof value, "{\"serial\":%" PRIu64 "}",
                 p->serials[i]);
        store_txn_put(txn, key, value, strlen(value));
    }
    return 0;
}

static void
prepare(void)
{
    struct prep p = {n_hosts, xcalloc((size_t)n_hosts, sizeof(uint64_t))};
    char path[400], err[256];
    struct store *store;
    struct ca *ca;

    snprintf(path, sizeof path, "%s/ca", dir);
    if (ca_open(path, &ca, err, sizeof err)) {
        die(err);
    }
    for (int i = 0; i < n_hosts; i++) {
        char cn[32];
        EVP_PKEY *key = pki_new_key();
        X509 *cert;

        snprintf(cn, sizeof cn, "h%d", i);
        p.serials[i] = (uint64_t)i + 1000;
        cert =
            pki_issue(key, cn, p.serials[i], 30, ca->cert, ca->key, PKI_CLIENT);
        sims[i].idx = i;
        sims[i].ctx = pki_ssl_ctx(false, cert, key, ca->cert, NULL);
        sims[i].ds = dstate_create();
        X509_free(cert);
        EVP_PKEY_free(key);
        if (!sims[i].ctx) {
            die("TLS context");
        }
    }
    ca_close(ca);
    snprintf(path, sizeof path, "sqlite:%s/store", dir);
    if (store_open(path, NULL, &store) ||
        store_txn_run(store, prep_txn, &p, NULL)) {
        die("cannot prepare the store");
    }
    store_close(store);
    free(p.serials);
}

/* ---- weftd ---- */

static pid_t
start_weftd(const char *bin, uint16_t *api_port, uint16_t *cp_port)
{
    char log[400], pf[400], cf[400];
    pid_t pid;

    snprintf(log, sizeof log, "%s/weftd.log", dir);
    pid = fork();
    if (!pid) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(bin, bin, "--state-dir", dir, "--port", "0", "--controller-port",
              "0", "--log-level", "warn", "--threads", "2", (char *)NULL);
        _exit(127);
    }
    snprintf(pf, sizeof pf, "%s/weftd.port", dir);
    snprintf(cf, sizeof cf, "%s/controller.port", dir);
    for (int i = 0; i < 600; i++) {
        FILE *a = fopen(pf, "r"), *b = fopen(cf, "r");
        unsigned x = 0, y = 0;
        if (a && b && fscanf(a, "%u", &x) == 1 && fscanf(b, "%u", &y) == 1) {
            fclose(a);
            fclose(b);
            *api_port = (uint16_t)x;
            *cp_port = (uint16_t)y;
            return pid;
        }
        if (a) {
            fclose(a);
        }
        if (b) {
            fclose(b);
        }
        usleep(100000);
    }
    die("weftd did not start (see weftd.log)");
    return -1;
}

static void
weftd_usage(pid_t pid, double *rss_mb, double *cpu_s)
{
    char path[64], line[256];
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long kb;
        if (sscanf(line, "VmHWM: %lu kB", &kb) == 1) {
            *rss_mb = (double)kb / 1024;
        }
    }
    if (f) {
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f && fgets(line, sizeof line, f)) {
        unsigned long ut = 0, st = 0;
        char *p = strrchr(line, ')');
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &ut, &st) == 2) {
            *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
    }
    if (f) {
        fclose(f);
    }
}

/* ---- HTTP ---- */

struct body {
    char *data;
    size_t len;
};

static size_t
on_data(char *p, size_t size, size_t n, void *aux)
{
    struct body *b = aux;
    b->data = xrealloc(b->data, b->len + size * n + 1);
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* Returns the reply's X-Weft-Revision (0 on failure). */
static uint64_t
http(const char *method, const char *path, const char *json, json_t **reply)
{
    char url[512];
    struct body b = {0};
    struct curl_slist *h = NULL;
    long status = 0;
    uint64_t rev = 0;

    snprintf(url, sizeof url, "%s%s", endpoint, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json ? json : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
                     (long)(json ? strlen(json) : 0));
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(curl) == CURLE_OK) {
        struct curl_header *hdr;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (curl_easy_header(curl, "X-Weft-Revision", 0, CURLH_HEADER, -1,
                             &hdr) == CURLHE_OK) {
            rev = strtoull(hdr->value, NULL, 10);
        }
    }
    curl_slist_free_all(h);
    if (status >= 300) {
        fprintf(stderr, "bench-cp: %s %s: HTTP %ld %s\n", method, path, status,
                b.data ? b.data : "");
        rev = 0;
    }
    if (reply) {
        *reply = b.data ? json_loads(b.data, 0, NULL) : NULL;
    }
    free(b.data);
    return rev;
}

/* ---- Simulated hosts (one thread, epoll). ---- */

static void
sim_send(struct sim *s, Weft__Envelope *env)
{
    char err[128];
    chan_send(s->chan, env);
    chan_run(s->chan, err, sizeof err);
}

/* As weft-agent's channel_realize(), minus ports: desired state ->
 * configuration -> forwarding snapshot. */
static void
sim_realize(struct sim *s)
{
    struct dstate_options o = {.mtu = 1500, .offloads = true};
    struct dstate_failures f = {0};
    struct agent_config *cfg = dstate_to_config(s->ds, &o, &f);

    if (cfg) {
        dp_tables_free(s->tables);
        s->tables = agent_config_tables(cfg, ++s->generation);
        agent_config_free(cfg);
    }
    if (f.n) {
        fprintf(stderr, "bench-cp: host %d: %zu objects not realized (%s)\n",
                s->idx, f.n, f.items[0].reason);
    }
    dstate_failures_clear(&f);
}

static void
sim_io(struct sim *s)
{
    char err[256];
    Weft__Envelope *env;
    int error;

    do {
        if ((error = chan_run(s->chan, err, sizeof err))) {
            fprintf(stderr, "bench-cp: host %d: %s\n", s->idx, err);
            epoll_ctl(epfd, EPOLL_CTL_DEL, chan_fd(s->chan), NULL);
            chan_free(s->chan);
            s->chan = NULL;
            return;
        }
        if (chan_established(s->chan) && !s->hello_sent) {
            Weft__Envelope e = WEFT__ENVELOPE__INIT;
            Weft__Hello hello = WEFT__HELLO__INIT;
            char id[32];
            snprintf(id, sizeof id, "h%d", s->idx);
            hello.version = WIRE_VERSION;
            hello.host_id = id;
            hello.realized_revision = dstate_revision(s->ds);
            e.body_case = WEFT__ENVELOPE__BODY_HELLO;
            e.hello = &hello;
            s->hello_sent = true;
            sim_send(s, &e);
        }
        while (!(error = chan_recv(s->chan, &env, err, sizeof err))) {
            if (env->body_case == WEFT__ENVELOPE__BODY_UPDATE) {
                Weft__Envelope e = WEFT__ENVELOPE__INIT;
                Weft__Ack ack = WEFT__ACK__INIT;
                if (dstate_apply(s->ds, env->update, err, sizeof err)) {
                    fprintf(stderr, "bench-cp: host %d: %s\n", s->idx, err);
                }
                sim_realize(s);
                ack.revision = dstate_revision(s->ds);
                e.body_case = WEFT__ENVELOPE__BODY_ACK;
                e.ack = &ack;
                sim_send(s, &e);
                atomic_store(&s->rx_bytes, chan_bytes_received(s->chan));
                atomic_store(&s->ack_ns, now_ns());
                atomic_store(&s->acked, ack.revision);
            } else if (env->body_case == WEFT__ENVELOPE__BODY_KEEPALIVE) {
                Weft__Envelope e = WEFT__ENVELOPE__INIT;
                Weft__Keepalive ka = WEFT__KEEPALIVE__INIT;
                e.body_case = WEFT__ENVELOPE__BODY_KEEPALIVE;
                e.keepalive = &ka;
                sim_send(s, &e);
            }
            wire_free(env);
        }
        if (error != EAGAIN) {
            fprintf(stderr, "bench-cp: host %d: %s\n", s->idx, err);
        }
    } while (chan_more(s->chan));
    struct epoll_event ev = {.events = chan_events(s->chan), .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_MOD, chan_fd(s->chan), &ev);
}

static void *
sim_thread(void *aux)
{
    struct epoll_event evs[256];
    (void)aux;

    while (!atomic_load(&stop)) {
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct sim *s = evs[i].data.ptr;
            if (s->chan) {
                sim_io(s);
            }
        }
    }
    return NULL;
}

static void
sim_connect(struct sim *s, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) &&
        errno != EINPROGRESS) {
        die("connect");
    }
    s->chan = chan_new(s->ctx, fd, false, WIRE_MAX_FRAME);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int
all_acked(uint64_t rev, const int *hosts, int n)
{
    for (int i = 0; i < n; i++) {
        int h = hosts ? hosts[i] : i;
        if (atomic_load(&sims[h].acked) < rev) {
            return 0;
        }
    }
    return 1;
}

static uint64_t
total_rx(void)
{
    uint64_t t = 0;
    for (int i = 0; i < n_hosts; i++) {
        t += atomic_load(&sims[i].rx_bytes);
    }
    return t;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
segment_hosts(int seg, int span, int *out)
{
    for (int k = 0; k < span; k++) {
        out[k] = (int)(((long)seg * span + k) % n_hosts);
    }
}

int
main(int argc, char *argv[])
{
    int n_ports, n_segs, span;
    const char *suffix, *weftd;
    uint16_t api_port, cp_port;
    pthread_t thr;
    pid_t wpid;
    char path[512];
    FILE *f;

    if (argc != 7) {
        fprintf(stderr, "usage: bench-cp HOSTS PORTS SEGMENTS SPAN SUFFIX "
                        "WEFTD\n");
        return 2;
    }
    n_hosts = atoi(argv[1]);
    n_ports = atoi(argv[2]);
    n_segs = atoi(argv[3]);
    span = atoi(argv[4]);
    suffix = argv[5];
    weftd = argv[6];
    if (n_hosts < 2 || n_segs < 1 || span < 1 || span > n_hosts ||
        n_ports < n_segs) {
        die("bad sizes");
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/weft-bench-cp.XXXXXX");
    if (!mkdtemp(dir)) {
        die("mkdtemp");
    }
    sims = xcalloc((size_t)n_hosts, sizeof *sims);
    fprintf(stderr, "bench-cp: %d hosts, %d ports, %d segments (span %d)\n",
            n_hosts, n_ports, n_segs, span);
    prepare();
    wpid = start_weftd(weftd, &api_port, &cp_port);
    snprintf(endpoint, sizeof endpoint, "https://127.0.0.1:%u", api_port);
    snprintf(cacert, sizeof cacert, "%s/cert.pem", dir);
    snprintf(path, sizeof path, "%s/admin.token", dir);
    f = fopen(path, "r");
    char tok[128] = "";
    if (!f || !fgets(tok, sizeof tok, f)) {
        die("no admin token");
    }
    fclose(f);
    tok[strcspn(tok, "\n")] = '\0';
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_CAINFO, cacert);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);

    /* Connect every host; each gets its (empty) snapshot. */
    epfd = epoll_create1(0);
    pthread_create(&thr, NULL, sim_thread, NULL);
    uint64_t t0 = now_ns();
    for (int i = 0; i < n_hosts; i++) {
        sim_connect(&sims[i], cp_port);
        if (i % 64 == 63) {
            usleep(2000);
        }
    }
    while (!all_acked(1, NULL, n_hosts)) {
        if (now_ns() - t0 > 600e9) {
            die("hosts did not connect");
        }
        usleep(10000);
    }
    fprintf(stderr, "bench-cp: %d hosts connected in %.2f s\n", n_hosts,
            (double)(now_ns() - t0) / 1e9);

    /* Full realization from an empty topology. */
    int per_seg = n_ports / n_segs;
    int *hosts = xcalloc((size_t)span, sizeof *hosts);
    uint64_t rev = 0, rx0 = total_rx();
    t0 = now_ns();
    for (int s0 = 0; s0 < n_segs; s0 += 10) {
        json_t *segs = json_object();
        for (int s = s0; s < n_segs && s < s0 + 10; s++) {
            json_t *ports = json_object();
            char name[32], mac[32], ip[32];
            segment_hosts(s, span, hosts);
            for (int p = 0; p < per_seg; p++) {
                snprintf(name, sizeof name, "p%d", p);
                snprintf(mac, sizeof mac, "02:00:%02x:%02x:%02x:%02x",
                         (s >> 8) & 255, s & 255, (p >> 8) & 255, p & 255);
                snprintf(ip, sizeof ip, "10.%d.%d.%d", 1 + (p >> 8), s % 256,
                         2 + p % 250);
                char h[32], vif[32];
                snprintf(h, sizeof h, "h%d", hosts[p % span]);
                snprintf(vif, sizeof vif, "v%d-%d", s, p);
                json_object_set_new(ports, name,
                                    json_pack("{s:s, s:[s], s:{s:s, s:s}}",
                                              "mac_address", mac,
                                              "ip_addresses", ip, "attachment",
                                              "host", h, "vif", vif));
            }
            snprintf(name, sizeof name, "s%d", s);
            json_object_set_new(
                segs, name,
                json_pack("{s:i, s:o}", "vni", 10000 + s, "ports", ports));
        }
        json_t *body =
            json_pack("{s:{s:{s:o}}}", "projects", "default", "segments", segs);
        char *text = json_dumps(body, JSON_COMPACT);
        rev = http("PATCH", "/api/v1", text, NULL);
        free(text);
        json_decref(body);
        if (!rev) {
            die("PATCH failed");
        }
    }
    for (;;) {
        json_t *r;
        char q[64];
        snprintf(q, sizeof q, "/api/v1/realization?revision=%" PRIu64, rev);
        http("GET", q, NULL, &r);
        bool done = json_is_true(json_object_get(r, "realized"));
        json_decref(r);
        if (done) {
            break;
        }
        if (now_ns() - t0 > 1800e9) {
            die("full realization timed out");
        }
        usleep(10000);
    }
    double full_s = (double)(now_ns() - t0) / 1e9;
    uint64_t full_bytes = total_rx() - rx0;
    fprintf(stderr, "bench-cp: full topology realized in %.2f s, %.1f MB\n",
            full_s, (double)full_bytes / 1e6);

    /* Single changes: add a port, then delete it. */
    double lat[CHANGES];
    uint64_t bytes = 0;
    unsigned seed = 7;
    int s = 0;
    for (int i = 0; i < CHANGES; i++) {
        if (i % 2 == 0) { /* add to a random segment, then delete it */
            s = (int)(((seed = seed * 1103515245u + 12345u) >> 8) %
                      (unsigned)n_segs);
        }
        char p[256], body[256];
        segment_hosts(s, span, hosts);
        snprintf(p, sizeof p,
                 "/api/v1/projects/default/segments/s%d/ports/extra%d", s,
                 i / 2);
        if (i % 2 == 0) {
            snprintf(body, sizeof body,
                     "{\"mac_address\":\"02:ff:%02x:%02x:%02x:01\","
                     "\"ip_addresses\":[\"10.250.%d.%d\"],"
                     "\"attachment\":{\"host\":\"h%d\",\"vif\":\"x%d\"}}",
                     (s >> 8) & 255, s & 255, (i / 2) % 256, s % 256,
                     (i / 2) % 200 + 1, hosts[0], i);
        }
        uint64_t before = total_rx(), ts = now_ns();
        rev = http(i % 2 ? "DELETE" : "PUT", p, i % 2 ? NULL : body, NULL);
        if (!rev) {
            die("change failed");
        }
        while (!all_acked(rev, hosts, span)) {
            if (now_ns() - ts > 60e9) {
                die("change not realized");
            }
            usleep(50);
        }
        uint64_t last = 0;
        for (int k = 0; k < span; k++) {
            last = MAX(last, atomic_load(&sims[hosts[k]].ack_ns));
        }
        lat[i] = (double)(last - ts) / 1e6;
        usleep(20000); /* let stragglers settle */
        bytes += total_rx() - before;
    }
    qsort(lat, CHANGES, sizeof *lat, cmp_double);

    double rss = 0, cpu = 0;
    weftd_usage(wpid, &rss, &cpu);
    printf("cp_full_realize_s%s: %.2f s\n", suffix, full_s);
    printf("cp_change_p50_ms%s: %.2f ms\n", suffix, lat[CHANGES / 2]);
    printf("cp_change_p99_ms%s: %.2f ms\n", suffix, lat[CHANGES * 99 / 100]);
    printf("cp_bytes_per_change%s: %" PRIu64 " bytes\n", suffix,
           bytes / CHANGES);
    printf("cp_full_bytes%s: %.1f MB\n", suffix, (double)full_bytes / 1e6);
    printf("weftd_peak_rss_mb%s: %.1f MB\n", suffix, rss);
    printf("weftd_cpu_s%s: %.2f s\n", suffix, cpu);
    fflush(stdout);

    atomic_store(&stop, true);
    pthread_join(thr, NULL);
    kill(wpid, SIGTERM);
    waitpid(wpid, NULL, 0);
    for (int i = 0; i < n_hosts; i++) {
        chan_free(sims[i].chan);
        SSL_CTX_free(sims[i].ctx);
        dstate_destroy(sims[i].ds);
        dp_tables_free(sims[i].tables);
    }
    free(sims);
    free(hosts);
    curl_easy_cleanup(curl);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path)) {
        fprintf(stderr, "bench-cp: could not remove %s\n", dir);
    }
    return 0;
}
