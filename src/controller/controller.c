/* weftd's central control plane (controller.h).
 *
 * One thread runs an epoll loop over the listener, an eventfd poked by the
 * store after every commit, and the agent sessions.  After a poke it reads
 * the change feed from the last processed revision, applies each event to
 * the model (cpm.c) and flushes the per-host deltas into the sessions'
 * output queues; the sockets are then written as they become writable.
 *
 * 'mutex' guards the model, the host states and 'processed_rev' (the API's
 * query functions read them from HTTP threads); the session list belongs
 * to the controller thread alone. */
#include "controller/controller.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "controller/ca.h"
#include "controller/cfw.h"
#include "controller/cpm.h"
#include "lib/hmap.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/chan.h"
#include "proto/pki.h"
#include "proto/wire.h"
#include "store/store.h"

#define MAX_SESSIONS      65536
#define HELLO_TIMEOUT_NS  (10ull * 1000000000ull)
#define JOURNAL_MAX_BYTES (1u << 20) /* per host */
#define TOUCH_MAX         4096       /* unacknowledged revisions per host */
#define FEED_BATCH        20000      /* events per store_changes() call */
#define LIST_MAX          64         /* hosts/failures listed in replies */

/* What the controller knows about one host beyond the model. */
struct hstate {
    struct hmap_node node; /* in controller->hosts */
    char id[WIRE_HOST_ID_MAX + 1];
    struct session *sess;   /* its active session, NULL if none */
    uint64_t cert_serial;   /* recorded certificate ("c/<id>"), 0 none */
    uint64_t acked_rev;     /* newest revision it acknowledged */
    uint64_t chain_rev;     /* revision of the newest update for it */
    bool journal_ok;        /* 'journal' holds every update since the
                              * last acknowledged one */
    Weft__Update **journal; /* unacknowledged updates, oldest first */
    size_t n_journal;
    size_t journal_bytes;
    uint64_t *touch;              /* unacknowledged revisions that touched it */
    size_t touch_head, touch_len; /* ring of 'touch_cap' slots */
    size_t touch_cap;             /* grows by doubling up to TOUCH_MAX */
    bool touch_overflow;          /* some touches were not recorded */
    json_t *failures;             /* [{"object","reason"}] from the last ack */
    int64_t connected_ms;         /* when the current session said Hello */
    int64_t last_ack_ms;          /* when it last acknowledged */
    uint64_t sessions;            /* Hello count */
};

enum sess_state {
    SS_HANDSHAKE, /* TLS handshake in progress */
    SS_OPEN,      /* waiting for Hello or EnrollRequest */
    SS_ACTIVE,    /* Hello accepted */
    SS_CLOSING,   /* flush what is queued, then close */
};

struct session {
    struct session *prev, *next; /* in controller->sessions */
    struct chan *chan;           /* the connection */
    enum sess_state state;
    struct hstate *hs; /* SS_ACTIVE: its host */
    bool synced;       /* snapshot or journal replay sent */
    bool has_cert;     /* presented a verified certificate */
    char cert_cn[WIRE_HOST_ID_MAX + 1];
    uint64_t cert_serial;
    uint64_t deadline_ns; /* handshake/Hello/closing deadline */
    uint64_t last_rx_ns;  /* last byte received */
    uint64_t last_tx_ns;  /* last message queued */
    uint64_t rx_bytes;    /* chan_bytes_received() at last check */
    char peer[64];        /* address:port, for logs */
};

struct controller {
    struct controller_config cfg;
    struct store *store;
    struct ca *ca;
    SSL_CTX *ssl;
    int lfd, epfd, evfd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool loaded; /* the first controller_load() is done */
    uint64_t ka_ns;     /* keepalive period */

    pthread_mutex_t mutex; /* guards the members below */
    struct cpm *cpm;
    struct hmap hosts;      /* hstate by id */
    uint64_t processed_rev; /* feed read through this revision */
    uint64_t bytes_sent;    /* update bytes queued, for statistics */

    struct session sessions; /* list head (controller thread only) */
    size_t n_sessions;
};

/* Sentinels for epoll data. */
static char listener_tag, eventfd_tag;

static uint64_t
now_ns(void)
{
    return time_nsec();
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Host states. ---- */

static struct hstate *
hstate_find(struct controller *c, const char *id)
{
    struct hstate *hs;
    HMAP_FOR_EACH_WITH_HASH (hs, node, hash_str(id), &c->hosts) {
        if (!strcmp(hs->id, id)) {
            return hs;
        }
    }
    return NULL;
}

static struct hstate *
hstate_get(struct controller *c, const char *id)
{
    struct hstate *hs = hstate_find(c, id);

    if (!hs) {
        hs = xcalloc(1, sizeof *hs);
        snprintf(hs->id, sizeof hs->id, "%s", id);
        hs->failures = json_array();
        hmap_insert(&c->hosts, &hs->node, hash_str(hs->id));
    }
    return hs;
}

static void
hstate_journal_clear(struct hstate *hs)
{
    for (size_t i = 0; i < hs->n_journal; i++) {
        cpm_update_free(hs->journal[i]);
    }
    free(hs->journal);
    hs->journal = NULL;
    hs->n_journal = 0;
    hs->journal_bytes = 0;
}

static void
hstate_free(struct hstate *hs)
{
    hstate_journal_clear(hs);
    free(hs->touch);
    json_decref(hs->failures);
    free(hs);
}

static void
hstate_touch(struct hstate *hs, uint64_t rev)
{
    if (hs->touch_len &&
        hs->touch[(hs->touch_head + hs->touch_len - 1) % hs->touch_cap] >=
            rev) {
        return;
    }
    if (hs->touch_len == TOUCH_MAX) {
        hs->touch_overflow = true;
        return;
    }
    if (hs->touch_len == hs->touch_cap) {
        /* Grow, unrolling the ring.  Most hosts (never connected, or
         * acknowledging promptly) keep a few slots: a full TOUCH_MAX ring
         * each was ~8 KB of RSS per host. */
        size_t cap = hs->touch_cap ? 2 * hs->touch_cap : 4;
        uint64_t *t = xmalloc(cap * sizeof *t);
        for (size_t i = 0; i < hs->touch_len; i++) {
            t[i] = hs->touch[(hs->touch_head + i) % hs->touch_cap];
        }
        free(hs->touch);
        hs->touch = t;
        hs->touch_cap = cap;
        hs->touch_head = 0;
    }
    hs->touch[(hs->touch_head + hs->touch_len) % hs->touch_cap] = rev;
    hs->touch_len++;
}

/* The oldest revision that touched the host and is not acknowledged. */
static uint64_t
hstate_earliest_unacked(const struct hstate *hs)
{
    if (hs->touch_len) {
        return hs->touch[hs->touch_head];
    }
    return hs->touch_overflow ? hs->acked_rev + 1 : UINT64_MAX;
}

static void
hstate_acked(struct hstate *hs, uint64_t rev)
{
    size_t keep = 0;

    hs->acked_rev = rev;
    while (hs->touch_len && hs->touch[hs->touch_head] <= rev) {
        hs->touch_head = (hs->touch_head + 1) % hs->touch_cap;
        hs->touch_len--;
    }
    if (rev >= hs->chain_rev) {
        hs->touch_overflow = false;
    }
    for (size_t i = 0; i < hs->n_journal; i++) {
        if (hs->journal[i]->revision <= rev) {
            hs->journal_bytes -= cpm_update_size(hs->journal[i]);
            cpm_update_free(hs->journal[i]);
        } else {
            hs->journal[keep++] = hs->journal[i];
        }
    }
    hs->n_journal = keep;
}

/* ---- Sending. ---- */

static void
session_send(struct controller *c, struct session *s, Weft__Envelope *env)
{
    chan_send(s->chan, env);
    s->last_tx_ns = now_ns();
    (void)c;
}

static void
session_send_update(struct controller *c, struct session *s, Weft__Update *u)
{
    Weft__Envelope env = WEFT__ENVELOPE__INIT;

    env.body_case = WEFT__ENVELOPE__BODY_UPDATE;
    env.update = u;
    session_send(c, s, &env);
    c->bytes_sent += cpm_update_size(u);
}

static void
session_send_error(struct controller *c, struct session *s, const char *reason)
{
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__Error e = WEFT__ERROR__INIT;

    e.reason = (char *)reason;
    env.body_case = WEFT__ENVELOPE__BODY_ERROR;
    env.error = &e;
    session_send(c, s, &env);
}

/* Sends 'hs' a snapshot at the processed revision (or nothing yet if its
 * host object does not exist: then when it appears). */
static void
session_send_snapshot(struct controller *c, struct session *s)
{
    struct hstate *hs = s->hs;
    Weft__Update *u = cpm_snapshot(c->cpm, hs->id, c->processed_rev);

    if (!u) {
        LOG_INFO("controller",
                 "msg=\"host object missing, nothing to send yet\" host=%s",
                 hs->id);
        return;
    }
    hstate_journal_clear(hs);
    hs->journal_ok = true;
    hs->chain_rev = u->revision;
    hstate_touch(hs, u->revision);
    session_send_update(c, s, u);
    LOG_INFO("controller",
             "msg=\"snapshot sent\" host=%s revision=%" PRIu64
             " segments=%zu ports=%zu remotes=%zu bytes=%zu",
             hs->id, u->revision, u->n_segments, u->n_ports, u->n_remotes,
             cpm_update_size(u));
    cpm_update_free(u);
    s->synced = true;
}

/* Called by cpm_flush() with the delta for one host (mutex held). */
static void
controller_on_delta(void *aux, const char *host_id, Weft__Update *u)
{
    struct controller *c = aux;
    struct hstate *hs = hstate_get(c, host_id);
    struct session *s = hs->sess;

    hstate_touch(hs, u->revision);
    if (s && !s->synced) {
        cpm_update_free(u);
        session_send_snapshot(c, s);
        return;
    }
    u->prev_revision = hs->chain_rev;
    hs->chain_rev = u->revision;
    if (s) {
        session_send_update(c, s, u);
    }
    if (hs->journal_ok) {
        size_t n = cpm_update_size(u);
        if (hs->journal_bytes + n > JOURNAL_MAX_BYTES) {
            hstate_journal_clear(hs);
            hs->journal_ok = false;
        } else {
            hs->journal = xrealloc(hs->journal,
                                   (hs->n_journal + 1) * sizeof *hs->journal);
            hs->journal[hs->n_journal++] = u;
            hs->journal_bytes += n;
            return;
        }
    }
    cpm_update_free(u);
}

/* ---- Sessions. ---- */

static void
session_epoll(struct controller *c, struct session *s, int op)
{
    struct epoll_event ev = {.events = chan_events(s->chan), .data.ptr = s};
    epoll_ctl(c->epfd, op, chan_fd(s->chan), &ev);
}

static void
session_close(struct controller *c, struct session *s, const char *why)
{
    if (s->hs) {
        pthread_mutex_lock(&c->mutex);
        if (s->hs->sess == s) {
            s->hs->sess = NULL;
        }
        pthread_mutex_unlock(&c->mutex);
        LOG_INFO("controller",
                 "msg=\"session closed\" host=%s peer=%s why=\"%s\"", s->hs->id,
                 s->peer, why);
    } else {
        LOG_INFO("controller", "msg=\"session closed\" peer=%s why=\"%s\"",
                 s->peer, why);
    }
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, chan_fd(s->chan), NULL);
    chan_free(s->chan);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    c->n_sessions--;
    free(s);
}

/* Refuses the peer: logs 'why', tells the peer, closes after a last
 * flush attempt. */
static void
session_refuse(struct controller *c, struct session *s, const char *why)
{
    char err[256];

    LOG_WARN("controller", "msg=\"session refused\" peer=%s host=%s why=\"%s\"",
             s->peer, s->hs ? s->hs->id : "-", why);
    if (chan_established(s->chan)) {
        /* Deliver the reason before closing: flush (bounded, 200 ms), then
         * a TLS close_notify, so the peer reads the Error rather than an
         * unexpected EOF. */
        struct pollfd pfd = {chan_fd(s->chan), POLLOUT, 0};
        session_send_error(c, s, why);
        for (int i = 0; i < 20; i++) {
            if (chan_run(s->chan, err, sizeof err) ||
                !chan_out_pending(s->chan)) {
                break;
            }
            poll(&pfd, 1, 10);
        }
        if (!chan_out_pending(s->chan)) {
            SSL_shutdown(chan_ssl(s->chan));
        }
    }
    session_close(c, s, why);
}

static void
controller_accept(struct controller *c)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(c->lfd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        char host[INET6_ADDRSTRLEN] = "?", serv[8] = "?";
        struct session *s;
        int one = 1;

        if (fd < 0) {
            return;
        }
        if (c->n_sessions >= MAX_SESSIONS) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv,
                    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
        s = xcalloc(1, sizeof *s);
        s->chan = chan_new(c->ssl, fd, true, WIRE_MAX_FRAME_CP);
        if (!s->chan) {
            free(s);
            continue;
        }
        snprintf(s->peer, sizeof s->peer, "%s:%s", host, serv);
        s->state = SS_HANDSHAKE;
        s->deadline_ns = now_ns() + HELLO_TIMEOUT_NS;
        s->last_rx_ns = s->last_tx_ns = now_ns();
        s->next = &c->sessions;
        s->prev = c->sessions.prev;
        c->sessions.prev->next = s;
        c->sessions.prev = s;
        c->n_sessions++;
        session_epoll(c, s, EPOLL_CTL_ADD);
    }
}

/* ---- Enrollment. ---- */

struct enroll_txn {
    char id[17];                     /* token id */
    char secret_hash[65];            /* SHA-256 of the presented secret */
    int64_t now_ms;                  /* for expiry */
    uint64_t serial;                 /* of the certificate to issue */
    char host[WIRE_HOST_ID_MAX + 1]; /* out: the token's host */
    char err[128];                   /* out: why refused */
};

static void
sha256_hex(const char *s, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;

    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
}

static int
enroll_txn_fn(struct store_txn *txn, void *aux)
{
    struct enroll_txn *e = aux;
    struct store_kv kv;
    char key[96], value[160];
    json_t *j;
    const char *hash, *host;
    json_int_t expires;
    int error;

    snprintf(key, sizeof key, "j/%s", e->id);
    if (store_txn_get(txn, key, &kv)) {
        snprintf(e->err, sizeof e->err, "unknown or already used join token");
        return EACCES;
    }
    j = json_loadb(kv.value, kv.value_len, 0, NULL);
    store_kv_clear(&kv);
    hash = json_string_value(json_object_get(j, "secret_sha256"));
    host = json_string_value(json_object_get(j, "host"));
    expires = json_integer_value(json_object_get(j, "expires_ms"));
    if (!hash || !host || strlen(hash) != 64 ||
        CRYPTO_memcmp(hash, e->secret_hash, 64)) {
        snprintf(e->err, sizeof e->err, "unknown or already used join token");
        json_decref(j);
        return EACCES;
    }
    if (expires <= e->now_ms) {
        snprintf(e->err, sizeof e->err, "join token expired");
        json_decref(j);
        return EACCES;
    }
    snprintf(e->host, sizeof e->host, "%s", host);
    json_decref(j);
    if ((error = store_txn_delete(txn, key))) {
        return error;
    }
    snprintf(key, sizeof key, "c/%s", e->host);
    snprintf(value, sizeof value,
             "{\"serial\":%" PRIu64 ",\"issued_ms\":%" PRId64 "}", e->serial,
             e->now_ms);
    return store_txn_put(txn, key, value, strlen(value));
}

/* Returns false if the session was closed. */
static bool
session_enroll(struct controller *c, struct session *s,
               const Weft__EnrollRequest *req)
{
    /* Token: "wft1.<CA sha256, 64 hex>.<id, 16 hex>.<secret, 32 hex>". */
    const char *t = req->token;
    struct enroll_txn e = {0};
    Weft__Envelope env = WEFT__ENVELOPE__INIT;
    Weft__EnrollReply reply = WEFT__ENROLL_REPLY__INIT;
    EVP_PKEY *pub;
    X509 *cert;
    size_t cert_len = 0, ca_len = 0;
    uint8_t *cert_der, *ca_der;
    int error;

    if (strlen(t) != 5 + 64 + 1 + 16 + 1 + 32 || strncmp(t, "wft1.", 5) ||
        t[69] != '.' || t[86] != '.' ||
        strspn(t + 70, "0123456789abcdef") != 16 ||
        strspn(t + 87, "0123456789abcdef") != 32) {
        session_refuse(c, s, "malformed join token");
        return false;
    }
    if (strncmp(t + 5, c->ca->fingerprint, 64)) {
        session_refuse(c, s, "join token is for another deployment");
        return false;
    }
    pub = pki_csr_verify(req->csr_der.data, req->csr_der.len);
    if (!pub) {
        session_refuse(c, s, "certificate request invalid (want EC P-256)");
        return false;
    }
    EVP_PKEY_free(pub);
    memcpy(e.id, t + 70, 16);
    sha256_hex(t + 87, e.secret_hash);
    e.now_ms = wall_ms();
    RAND_bytes((unsigned char *)&e.serial, sizeof e.serial);
    e.serial = (e.serial >> 1) | 1;
    error = store_txn_run(c->store, enroll_txn_fn, &e, NULL);
    if (error) {
        session_refuse(c, s, e.err[0] ? e.err : "enrollment failed");
        return false;
    }
    cert = ca_sign_host(c->ca, e.host, e.serial, req->csr_der.data,
                        req->csr_der.len);
    if (!cert) {
        session_refuse(c, s, "signing failed");
        return false;
    }
    cert_der = pki_cert_der(cert, &cert_len);
    ca_der = pki_cert_der(c->ca->cert, &ca_len);
    reply.host_id = e.host;
    reply.cert_der.data = cert_der;
    reply.cert_der.len = cert_len;
    reply.ca_der.data = ca_der;
    reply.ca_der.len = ca_len;
    env.body_case = WEFT__ENVELOPE__BODY_ENROLL_REPLY;
    env.enroll_reply = &reply;
    session_send(c, s, &env);
    free(cert_der);
    free(ca_der);
    X509_free(cert);
    LOG_INFO("controller",
             "msg=\"host enrolled\" host=%s peer=%s serial=%" PRIu64, e.host,
             s->peer, e.serial);
    s->state = SS_CLOSING;
    s->deadline_ns = now_ns() + 5000000000ull;
    return true;
}

/* ---- Hello, acks. ---- */

/* Brings a new session up to date from 'rev' (mutex held). */
static void
session_sync(struct controller *c, struct session *s, uint64_t rev)
{
    struct hstate *hs = s->hs;
    size_t i;

    if (hs->journal_ok && rev && rev == hs->chain_rev) {
        s->synced = true; /* nothing it lacks */
        if (rev > hs->acked_rev) {
            hstate_acked(hs, rev);
        }
        return;
    }
    if (hs->journal_ok && rev) {
        for (i = 0; i < hs->n_journal; i++) {
            if (hs->journal[i]->prev_revision == rev) {
                break;
            }
        }
        if (i < hs->n_journal) {
            size_t n = hs->n_journal - i;
            if (rev > hs->acked_rev) {
                hstate_acked(hs, rev);
            }
            for (i = hs->n_journal - n; i < hs->n_journal; i++) {
                session_send_update(c, s, hs->journal[i]);
            }
            s->synced = true;
            LOG_INFO("controller",
                     "msg=\"resynced from journal\" host=%s from=%" PRIu64
                     " updates=%zu",
                     hs->id, rev, n);
            return;
        }
    }
    session_send_snapshot(c, s);
}

/* Returns false if the session was closed. */
static bool
session_hello(struct controller *c, struct session *s, const Weft__Hello *h)
{
    struct hstate *hs;
    struct session *old;
    char why[256];

    if (!s->has_cert) {
        session_refuse(c, s, "Hello without a client certificate");
        return false;
    }
    if (strcmp(h->host_id, s->cert_cn)) {
        snprintf(why, sizeof why,
                 "Hello for host %.64s with a certificate of %s", h->host_id,
                 s->cert_cn);
        session_refuse(c, s, why);
        return false;
    }
    pthread_mutex_lock(&c->mutex);
    hs = hstate_get(c, h->host_id);
    if (!hs->cert_serial || hs->cert_serial != s->cert_serial) {
        pthread_mutex_unlock(&c->mutex);
        session_refuse(c, s, "certificate revoked or unknown");
        return false;
    }
    old = hs->sess;
    hs->sess = NULL;
    pthread_mutex_unlock(&c->mutex);
    if (old) {
        session_close(c, old, "replaced by a new session of the same host");
    }
    pthread_mutex_lock(&c->mutex);
    hs->sess = s;
    hs->sessions++;
    hs->connected_ms = wall_ms();
    s->hs = hs;
    s->state = SS_ACTIVE;
    LOG_INFO("controller",
             "msg=\"host connected\" host=%s peer=%s realized=%" PRIu64, hs->id,
             s->peer, h->realized_revision);
    session_sync(c, s, h->realized_revision);
    pthread_mutex_unlock(&c->mutex);
    return true;
}

/* Returns false if the ack broke the protocol (the session is refused). */
static bool
session_ack(struct controller *c, struct session *s, const Weft__Ack *a)
{
    struct hstate *hs = s->hs;
    char why[160];

    pthread_mutex_lock(&c->mutex);
    if (a->revision > hs->chain_rev || a->revision < hs->acked_rev) {
        snprintf(why, sizeof why,
                 "ack for revision %" PRIu64 " out of order (acked %" PRIu64
                 ", sent up to %" PRIu64 ")",
                 a->revision, hs->acked_rev, hs->chain_rev);
        pthread_mutex_unlock(&c->mutex);
        session_refuse(c, s, why);
        return false;
    }
    hstate_acked(hs, a->revision);
    hs->last_ack_ms = wall_ms();
    json_decref(hs->failures);
    hs->failures = json_array();
    for (size_t i = 0; i < a->n_failures; i++) {
        json_array_append_new(hs->failures,
                              json_pack("{s:s, s:s}", "object",
                                        a->failures[i]->object, "reason",
                                        a->failures[i]->reason));
        if (i < 8) {
            LOG_WARN("controller",
                     "msg=\"object failed on host\" host=%s object=%s "
                     "reason=\"%s\"",
                     hs->id, a->failures[i]->object, a->failures[i]->reason);
        }
    }
    pthread_mutex_unlock(&c->mutex);
    return true;
}

/* Handles one envelope.  Returns false if the session was closed. */
static bool
session_handle(struct controller *c, struct session *s, Weft__Envelope *env)
{
    char why[WIRE_REASON_MAX + 64];

    if (s->state == SS_OPEN) {
        switch (env->body_case) {
        case WEFT__ENVELOPE__BODY_ENROLL_REQUEST:
            return session_enroll(c, s, env->enroll_request);
        case WEFT__ENVELOPE__BODY_HELLO:
            return session_hello(c, s, env->hello);
        default:
            session_refuse(c, s, "expected Hello or EnrollRequest");
            return false;
        }
    }
    if (s->state != SS_ACTIVE) {
        session_refuse(c, s, "message after the end of the session");
        return false;
    }
    switch (env->body_case) {
    case WEFT__ENVELOPE__BODY_ACK:
        return session_ack(c, s, env->ack);
    case WEFT__ENVELOPE__BODY_RULE_STATS:
        pthread_mutex_lock(&c->mutex);
        cfw_stats_update(c->cpm, s->hs->id, env->rule_stats);
        pthread_mutex_unlock(&c->mutex);
        return true;
    case WEFT__ENVELOPE__BODY_KEEPALIVE:
        return true;
    case WEFT__ENVELOPE__BODY_ERROR:
        snprintf(why, sizeof why, "agent error: %s", env->error->reason);
        session_close(c, s, why);
        return false;
    default:
        session_refuse(c, s, "unexpected message type from an agent");
        return false;
    }
}

static void
session_established(struct controller *c, struct session *s)
{
    X509 *peer = SSL_get0_peer_certificate(chan_ssl(s->chan));

    (void)c;
    s->state = SS_OPEN;
    if (peer) {
        s->has_cert = pki_cert_cn(peer, s->cert_cn, sizeof s->cert_cn) &&
                      wire_host_id_ok(s->cert_cn);
        s->cert_serial = pki_cert_serial(peer);
    }
}

static void
session_io(struct controller *c, struct session *s)
{
    char err[WIRE_REASON_MAX + 64];
    Weft__Envelope *env;
    int error;

    for (int round = 0; round < 8; round++) {
        error = chan_run(s->chan, err, sizeof err);
        if (error) {
            if (s->state == SS_HANDSHAKE) {
                LOG_WARN("controller",
                         "msg=\"TLS handshake failed\" peer=%s error=\"%s\"",
                         s->peer, err);
            }
            session_close(c, s, err);
            return;
        }
        if (chan_bytes_received(s->chan) != s->rx_bytes) {
            s->rx_bytes = chan_bytes_received(s->chan);
            s->last_rx_ns = now_ns();
        }
        if (s->state == SS_HANDSHAKE && chan_established(s->chan)) {
            session_established(c, s);
        }
        while (s->state == SS_OPEN || s->state == SS_ACTIVE) {
            error = chan_recv(s->chan, &env, err, sizeof err);
            if (error == EAGAIN) {
                break;
            }
            if (error) {
                char why[WIRE_REASON_MAX + 96];
                snprintf(why, sizeof why, "bad frame: %s", err);
                session_refuse(c, s, why);
                return;
            }
            bool alive = session_handle(c, s, env);
            wire_free(env);
            if (!alive) {
                return;
            }
        }
        if (s->state == SS_CLOSING && !chan_out_pending(s->chan)) {
            session_close(c, s, "done");
            return;
        }
        if (!chan_more(s->chan) && !chan_out_pending(s->chan)) {
            break;
        }
        if (!chan_more(s->chan)) {
            /* Output pending: flush once more, then wait for EPOLLOUT. */
            error = chan_run(s->chan, err, sizeof err);
            if (error) {
                session_close(c, s, err);
                return;
            }
            break;
        }
    }
    session_epoll(c, s, EPOLL_CTL_MOD);
}

/* Keepalives and deadlines, about four times a second. */
static void
controller_timers(struct controller *c)
{
    uint64_t now = now_ns();
    struct session *s, *next;

    for (s = c->sessions.next; s != &c->sessions; s = next) {
        next = s->next;
        if (s->state != SS_ACTIVE) {
            if (now > s->deadline_ns) {
                session_close(c, s, "timed out before Hello");
            }
            continue;
        }
        if (now - s->last_rx_ns > 4 * c->ka_ns) {
            session_close(c, s, "keepalive timeout");
            continue;
        }
        if (now - s->last_tx_ns >= c->ka_ns) {
            Weft__Envelope env = WEFT__ENVELOPE__INIT;
            Weft__Keepalive ka = WEFT__KEEPALIVE__INIT;
            ka.time_ms = (uint64_t)wall_ms();
            env.body_case = WEFT__ENVELOPE__BODY_KEEPALIVE;
            env.keepalive = &ka;
            session_send(c, s, &env);
            session_io(c, s);
        }
    }
}

/* ---- The change feed. ---- */

static void
controller_cert_event(struct controller *c, const struct store_event *ev,
                      struct session **to_close, size_t *n_close)
{
    const char *host = ev->kv.key + 2;
    struct hstate *hs;
    uint64_t serial = 0;

    if (!wire_host_id_ok(host)) {
        return;
    }
    if (ev->type == STORE_PUT) {
        json_t *j = json_loadb(ev->kv.value, ev->kv.value_len, 0, NULL);
        serial = (uint64_t)json_integer_value(json_object_get(j, "serial"));
        json_decref(j);
    }
    hs = hstate_get(c, host);
    hs->cert_serial = serial;
    if (hs->sess && hs->sess->cert_serial != serial && *n_close < 64) {
        to_close[(*n_close)++] = hs->sess;
        hs->sess = NULL;
    }
}

/* Objects read per store_range() call while loading: bounds the memory
 * the load holds besides the model (all 1,000,000 objects at once were
 * ~200 MB) without costing more reads. */
#define LOAD_PAGE 10000

/* Applies every object ("o...") of the store to 'm', reading pages of
 * LOAD_PAGE at one revision: the head's, stored in '*revp'.  Counts them
 * in '*n'.  ECANCELED if the controller is stopping; ERANGE if that
 * revision was compacted away meanwhile (the caller tries again). */
static int
controller_load_objects(struct controller *c, struct cpm *m, uint64_t *revp,
                        size_t *n)
{
    char *end = store_prefix_end("o"), *from = xstrdup("o");
    int error = 0;

    *revp = 0;
    cpm_set_loading(m, true); /* no dirty marks: discarded anyway */
    while (!error) {
        struct store_kv *kvs;
        size_t n_kvs;

        error = store_range(c->store, from, end, *revp, LOAD_PAGE, &kvs, &n_kvs,
                            revp);
        if (error) {
            break;
        }
        for (size_t i = 0; i < n_kvs; i++) {
            cpm_apply(m, kvs[i].key, kvs[i].value, kvs[i].value_len,
                      kvs[i].mod_rev);
        }
        *n += n_kvs;
        free(from);
        /* The next page starts just after the last key: no key lies
         * between K and K + "\x01". */
        from =
            n_kvs == LOAD_PAGE ? xasprintf("%s\x01", kvs[n_kvs - 1].key) : NULL;
        store_kvs_free(kvs, n_kvs);
        if (!from) {
            break;
        }
        if (atomic_load(&c->stop)) {
            error = ECANCELED;
        }
    }
    free(from);
    free(end);
    cpm_set_loading(m, false);
    return error;
}

/* Reloads everything from a snapshot of the store: at start (from the
 * controller thread, so weftd serves its API while this runs) and when the
 * feed's position was compacted away.  Called without the mutex, from the
 * controller thread only: the new model is built aside (the API's queries
 * keep reading the old one) and swapped in under the mutex together with
 * the certificate records read at the same revision.  Sessions whose
 * certificate changed are added to 'to_close' (room for 64). */
static int
controller_load(struct controller *c, struct session **to_close,
                size_t *n_close)
{
    struct cpm *m = cpm_create(), *old;
    struct store_kv *certs = NULL;
    size_t n_objs = 0, n_certs = 0;
    uint64_t rev = 0, t0 = now_ns();
    struct hstate *hs;
    int error = controller_load_objects(c, m, &rev, &n_objs);

    if (!error) {
        char *end = store_prefix_end("c/");
        error =
            store_range(c->store, "c/", end, rev, 0, &certs, &n_certs, &rev);
        free(end);
    }
    if (error) {
        if (error != ECANCELED) {
            LOG_ERROR("controller", "msg=\"cannot read the store\" error=%s",
                      strerror(error));
        }
        cpm_destroy(m);
        return error;
    }
    cpm_discard_dirty(m);

    pthread_mutex_lock(&c->mutex);
    old = c->cpm;
    c->cpm = m;
    HMAP_FOR_EACH (hs, node, &c->hosts) {
        hs->cert_serial = 0;
        hstate_journal_clear(hs);
        hs->journal_ok = false;
    }
    for (size_t i = 0; i < n_certs; i++) {
        struct store_event ev = {.type = STORE_PUT, .kv = certs[i]};
        controller_cert_event(c, &ev, to_close, n_close);
    }
    c->processed_rev = rev;
    atomic_store(&c->loaded, true);
    pthread_mutex_unlock(&c->mutex);

    store_kvs_free(certs, n_certs);
    cpm_destroy(old);
    LOG_INFO("controller",
             "msg=\"model loaded\" objects=%zu revision=%" PRIu64
             " ms=%" PRIu64,
             n_objs, rev, (now_ns() - t0) / 1000000);
    return 0;
}

static void
controller_feed(struct controller *c)
{
    struct session *to_close[64];
    size_t n_close = 0;

    pthread_mutex_lock(&c->mutex);
    for (int round = 0; round < 64; round++) {
        struct store_event *evs;
        size_t n;
        uint64_t next;
        int error = store_changes(c->store, c->processed_rev + 1, NULL,
                                  FEED_BATCH, &evs, &n, &next);
        if (error == ERANGE) {
            struct session *s;
            LOG_WARN("controller", "msg=\"feed position compacted, "
                                   "reloading and resending snapshots\"");
            pthread_mutex_unlock(&c->mutex);
            error = controller_load(c, to_close, &n_close);
            pthread_mutex_lock(&c->mutex);
            if (error) {
                break;
            }
            for (s = c->sessions.next; s != &c->sessions; s = s->next) {
                if (s->state == SS_ACTIVE) {
                    session_send_snapshot(c, s);
                }
            }
            continue;
        }
        if (error || !n) {
            if (!error && next > c->processed_rev + 1) {
                c->processed_rev = next - 1;
            }
            break;
        }
        for (size_t i = 0; i < n; i++) {
            const struct store_event *ev = &evs[i];
            if (ev->kv.key[0] == 'o') {
                cpm_apply(c->cpm, ev->kv.key, ev->kv.value, ev->kv.value_len,
                          ev->kv.mod_rev);
            } else if (!strncmp(ev->kv.key, "c/", 2)) {
                controller_cert_event(c, ev, to_close, &n_close);
            }
        }
        c->processed_rev = next - 1;
        cpm_flush(c->cpm, c->processed_rev, controller_on_delta, c);
        store_events_free(evs, n);
    }
    pthread_mutex_unlock(&c->mutex);

    for (size_t i = 0; i < n_close; i++) {
        session_refuse(c, to_close[i], "certificate revoked");
    }
}

static void
controller_notify(void *aux, uint64_t rev)
{
    struct controller *c = aux;
    uint64_t one = 1;
    (void)rev;
    if (write(c->evfd, &one, sizeof one) < 0) {
        /* the counter is saturated: a wakeup is pending anyway */
    }
}

/* ---- The thread. ---- */

static void *
controller_main(void *c_)
{
    struct controller *c = c_;
    struct epoll_event evs[64];
    uint64_t next_timer = now_ns();

    /* The model first: sessions wait in the listen backlog meanwhile. */
    while (!atomic_load(&c->stop) && !atomic_load(&c->loaded)) {
        struct session *none[64];
        size_t n_none = 0;
        if (controller_load(c, none, &n_none) && !atomic_load(&c->stop)) {
            usleep(250000); /* store error (logged): try again */
        }
    }
    while (!atomic_load(&c->stop)) {
        int n = epoll_wait(c->epfd, evs, ARRAY_SIZE(evs), 250);

        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &listener_tag) {
                controller_accept(c);
            } else if (p == &eventfd_tag) {
                uint64_t v;
                if (read(c->evfd, &v, sizeof v) < 0) {
                    /* nothing pending */
                }
                controller_feed(c);
            } else {
                struct session *s = p;
                /* A session closed earlier in this batch was freed: check
                 * it is still listed before touching it. */
                struct session *t;
                for (t = c->sessions.next; t != &c->sessions && t != s;
                     t = t->next) {
                    continue;
                }
                if (t == s) {
                    session_io(c, s);
                }
            }
        }
        if (now_ns() >= next_timer) {
            controller_timers(c);
            /* Belt and braces: a missed wakeup costs at most 250 ms. */
            if (store_revision(c->store) > c->processed_rev) {
                controller_feed(c);
            }
            /* Sessions with queued output from the feed. */
            struct session *s, *next;
            for (s = c->sessions.next; s != &c->sessions; s = next) {
                next = s->next;
                if (chan_out_pending(s->chan)) {
                    session_io(c, s);
                }
            }
            next_timer = now_ns() + 250000000ull;
        }
        /* Flush the output that the feed queued without waiting. */
        if (n > 0) {
            struct session *s, *next;
            for (s = c->sessions.next; s != &c->sessions; s = next) {
                next = s->next;
                if (chan_out_pending(s->chan)) {
                    session_io(c, s);
                }
            }
        }
    }
    return NULL;
}

static int
controller_listen(struct controller *c)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    char port[8];
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int one = 1, error;

    snprintf(port, sizeof port, "%u", c->cfg.port);
    error = getaddrinfo(c->cfg.listen, port, &hints, &ai);
    if (error) {
        LOG_ERROR("controller", "msg=\"bad listen address\" addr=%s",
                  c->cfg.listen);
        return EINVAL;
    }
    c->lfd =
        socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->lfd < 0 ||
        setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(c->lfd, ai->ai_addr, ai->ai_addrlen) || listen(c->lfd, 1024)) {
        error = errno;
        freeaddrinfo(ai);
        LOG_ERROR("controller",
                  "msg=\"cannot listen\" addr=%s port=%u error=\"%s\"",
                  c->cfg.listen, c->cfg.port, strerror(error));
        return error;
    }
    freeaddrinfo(ai);
    getsockname(c->lfd, (struct sockaddr *)&ss, &len);
    c->port = ntohs(ss.ss_family == AF_INET
                        ? ((struct sockaddr_in *)&ss)->sin_port
                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

int
controller_start(const struct controller_config *cfg, struct controller **cp)
{
    struct controller *c = xcalloc(1, sizeof *c);
    char dir[PATH_MAX], err[256];
    struct epoll_event ev;
    int error;

    *cp = NULL;
    c->cfg = *cfg;
    c->store = cfg->store;
    c->lfd = c->epfd = c->evfd = -1;
    c->ka_ns =
        (uint64_t)(cfg->keepalive_ms ? cfg->keepalive_ms : 5000) * 1000000ull;
    c->sessions.next = c->sessions.prev = &c->sessions;
    hmap_init(&c->hosts);
    pthread_mutex_init(&c->mutex, NULL);

    snprintf(dir, sizeof dir, "%s/ca", cfg->state_dir);
    error = ca_open(dir, &c->ca, err, sizeof err);
    if (error) {
        LOG_ERROR("controller", "msg=\"CA unavailable\" error=\"%s\"", err);
        goto fail;
    }
    c->ssl = pki_ssl_ctx(true, c->ca->server_cert, c->ca->server_key,
                         c->ca->cert, c->ca->cert);
    if (!c->ssl) {
        LOG_ERROR("controller", "msg=\"TLS setup failed\" error=\"%s\"",
                  pki_last_error());
        error = EIO;
        goto fail;
    }
    c->cpm = cpm_create(); /* empty until the thread has loaded the store */
    if ((error = controller_listen(c))) {
        goto fail;
    }
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.ptr = &listener_tag;
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->lfd, &ev);
    ev.data.ptr = &eventfd_tag;
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->evfd, &ev);
    if ((error = store_subscribe(c->store, controller_notify, c))) {
        LOG_ERROR("controller", "msg=\"cannot follow the store\" error=%s",
                  strerror(error));
        goto fail;
    }
    if ((error = pthread_create(&c->thread, NULL, controller_main, c))) {
        store_unsubscribe(c->store, controller_notify, c);
        goto fail;
    }
    LOG_INFO("controller",
             "msg=\"listening\" addr=%s port=%u revision=%" PRIu64
             " ca_sha256=%s",
             cfg->listen, c->port, c->processed_rev, c->ca->fingerprint);
    *cp = c;
    return 0;

fail:
    if (c->lfd >= 0) {
        close(c->lfd);
    }
    if (c->epfd >= 0) {
        close(c->epfd);
    }
    if (c->evfd >= 0) {
        close(c->evfd);
    }
    SSL_CTX_free(c->ssl);
    ca_close(c->ca);
    cpm_destroy(c->cpm);
    pthread_mutex_destroy(&c->mutex);
    free(c);
    return error;
}

void
controller_stop(struct controller *c)
{
    struct hstate *hs;

    if (!c) {
        return;
    }
    store_unsubscribe(c->store, controller_notify, c);
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    while (c->sessions.next != &c->sessions) {
        session_close(c, c->sessions.next, "controller stopping");
    }
    HMAP_FOR_EACH (hs, node, &c->hosts) {
        hstate_free(hs);
    }
    hmap_destroy(&c->hosts);
    close(c->lfd);
    close(c->epfd);
    close(c->evfd);
    SSL_CTX_free(c->ssl);
    ca_close(c->ca);
    cpm_destroy(c->cpm);
    pthread_mutex_destroy(&c->mutex);
    free(c);
}

uint16_t
controller_port(const struct controller *c)
{
    return c->port;
}

const char *
controller_ca_fingerprint(const struct controller *c)
{
    return c->ca->fingerprint;
}

/* ---- Queries. ---- */

json_t *
controller_realization(struct controller *c, uint64_t revision)
{
    json_t *pending = json_array(), *failed = json_array();
    size_t n_pending = 0;
    uint64_t processed;
    struct hstate *hs;

    if (!revision) {
        revision = store_revision(c->store);
    }
    pthread_mutex_lock(&c->mutex);
    processed = c->processed_rev;
    HMAP_FOR_EACH (hs, node, &c->hosts) {
        if (hstate_earliest_unacked(hs) <= revision) {
            if (n_pending++ < LIST_MAX) {
                json_array_append_new(pending, json_string(hs->id));
            }
        }
        for (size_t i = 0; i < json_array_size(hs->failures); i++) {
            json_t *f = json_array_get(hs->failures, i);
            if (json_array_size(failed) < LIST_MAX) {
                json_array_append_new(
                    failed, json_pack("{s:s, s:O, s:O}", "host", hs->id,
                                      "object", json_object_get(f, "object"),
                                      "reason", json_object_get(f, "reason")));
            }
        }
    }
    pthread_mutex_unlock(&c->mutex);
    return json_pack(
        "{s:I, s:I, s:b, s:I, s:o, s:o}", "revision", (json_int_t)revision,
        "processed_revision", (json_int_t)processed, "realized",
        processed >= revision && !n_pending, "pending_count",
        (json_int_t)n_pending, "pending_hosts", pending, "failed", failed);
}

json_t *
controller_host_state(struct controller *c, const char *host_id)
{
    struct hstate *hs;
    json_t *j = NULL;

    if (!atomic_load(&c->loaded)) {
        /* Still loading the store: nothing is known or realized yet. */
        return json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:s, s:[]}", "host",
                         host_id, "connected", 0, "enrolled", 0,
                         "realized_revision", (json_int_t)0, "sent_revision",
                         (json_int_t)0, "processed_revision", (json_int_t)0,
                         "state", "pending", "failures");
    }
    pthread_mutex_lock(&c->mutex);
    hs = hstate_find(c, host_id);
    if (hs) {
        uint64_t e = hstate_earliest_unacked(hs);
        j = json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:s, s:I, s:I, s:O}",
                      "host", hs->id, "connected", hs->sess != NULL, "enrolled",
                      hs->cert_serial != 0, "realized_revision",
                      (json_int_t)hs->acked_rev, "sent_revision",
                      (json_int_t)hs->chain_rev, "processed_revision",
                      (json_int_t)c->processed_rev, "state",
                      json_array_size(hs->failures)
                          ? "failed"
                          : (e == UINT64_MAX
                                 ? "success"
                                 : (hs->sess ? "in_progress" : "pending")),
                      "sessions", (json_int_t)hs->sessions, "last_ack_ms",
                      (json_int_t)hs->last_ack_ms, "failures", hs->failures);
        if (hs->sess) {
            json_object_set_new(j, "peer", json_string(hs->sess->peer));
        }
    }
    pthread_mutex_unlock(&c->mutex);
    return j;
}

struct obj_state_ctx {
    struct controller *c;
    const char *path;
    uint64_t rev;
    json_t *hosts;
    int worst; /* 0 success, 1 in_progress, 2 pending, 3 failed */
};

static void
obj_state_host(void *aux, const char *host_id, uint64_t rev)
{
    static const char *const names[] = {"success", "in_progress", "pending",
                                        "failed"};
    struct obj_state_ctx *x = aux;
    struct hstate *hs = hstate_find(x->c, host_id);
    const char *reason = NULL;
    int st = 2;

    if (hs) {
        for (size_t i = 0; i < json_array_size(hs->failures); i++) {
            json_t *f = json_array_get(hs->failures, i);
            if (!strcmp(json_string_value(json_object_get(f, "object")),
                        x->path)) {
                reason = json_string_value(json_object_get(f, "reason"));
            }
        }
        if (reason) {
            st = 3;
        } else if (hstate_earliest_unacked(hs) > rev &&
                   x->c->processed_rev >= rev) {
            st = 0;
        } else if (hs->sess && hs->sess->synced && hs->chain_rev >= rev) {
            st = 1;
        }
    }
    json_t *h = json_pack("{s:s, s:s}", "host", host_id, "state", names[st]);
    if (reason) {
        json_object_set_new(h, "reason", json_string(reason));
    }
    json_array_append_new(x->hosts, h);
    if (st > x->worst) {
        x->worst = st;
    }
}

json_t *
controller_object_state(struct controller *c, const char *path)
{
    static const char *const names[] = {"success", "in_progress", "pending",
                                        "failed"};
    struct obj_state_ctx x = {c, path, 0, json_array(), 0};
    bool active, known;

    pthread_mutex_lock(&c->mutex);
    known = cpm_object_hosts(c->cpm, path, obj_state_host, &x, &x.rev, &active);
    pthread_mutex_unlock(&c->mutex);
    if (!known) {
        json_decref(x.hosts);
        return NULL;
    }
    return json_pack("{s:s, s:I, s:b, s:o}", "state", names[x.worst],
                     "revision", (json_int_t)x.rev, "realized_anywhere", active,
                     "hosts", x.hosts);
}

json_t *
controller_group_members(struct controller *c, const char *path)
{
    json_t *j;

    pthread_mutex_lock(&c->mutex);
    j = cfw_group_members(c->cpm, path);
    pthread_mutex_unlock(&c->mutex);
    return j;
}

json_t *
controller_rule_stats(struct controller *c, const char *path)
{
    json_t *j;

    pthread_mutex_lock(&c->mutex);
    j = cfw_rule_stats(c->cpm, path);
    pthread_mutex_unlock(&c->mutex);
    return j;
}
