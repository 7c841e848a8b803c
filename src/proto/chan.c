/* Non-blocking TLS channel with framing (chan.h). */
#include "proto/chan.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/util.h"
#include "proto/pki.h"

#define CHAN_READ_CHUNK 65536

struct chan {
    SSL *ssl;                /* the TLS connection */
    int fd;                  /* its socket, owned */
    bool established;        /* handshake completed */
    bool want_write;         /* OpenSSL needs the socket writable */
    bool more;               /* stopped reading with data pending */
    struct wire_buf out;     /* encoded frames not yet written */
    struct wire_decoder dec; /* received bytes and frame decoder */
    uint64_t out_seq;        /* 'seq' of the last queued envelope */
    uint64_t sent, received; /* byte totals (plaintext) */
};

struct chan *
chan_new(SSL_CTX *ctx, int fd, bool server, size_t max_frame)
{
    struct chan *c;
    SSL *ssl = SSL_new(ctx);

    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    c = xcalloc(1, sizeof *c);
    c->ssl = ssl;
    c->fd = fd;
    if (server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
    }
    wire_decoder_init(&c->dec, max_frame);
    return c;
}

void
chan_free(struct chan *c)
{
    if (!c) {
        return;
    }
    SSL_free(c->ssl);
    close(c->fd);
    wire_buf_free(&c->out);
    wire_decoder_destroy(&c->dec);
    free(c);
}

int
chan_fd(const struct chan *c)
{
    return c->fd;
}

SSL *
chan_ssl(const struct chan *c)
{
    return c->ssl;
}

bool
chan_established(const struct chan *c)
{
    return c->established;
}

/* Maps an OpenSSL failure to an errno and a message.  Returns 0 for the
 * retryable WANT_READ/WANT_WRITE. */
static int
chan_ssl_error(struct chan *c, int ret, const char *what, char *err,
               size_t size)
{
    int e = SSL_get_error(c->ssl, ret);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        c->want_write = true;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(err, size, "peer closed the connection");
        return ECONNRESET;
    case SSL_ERROR_SYSCALL:
        if (!ERR_peek_error()) {
            int en = errno;
            snprintf(err, size, "%s: %s", what,
                     en ? strerror(en) : "connection closed");
            return en ? en : ECONNRESET;
        }
        /* fall through */
    default:
        snprintf(err, size, "%s: TLS error: %s", what, pki_last_error());
        ERR_clear_error();
        return EPROTO;
    }
}

int
chan_run(struct chan *c, char *err, size_t err_size)
{
    uint8_t buf[CHAN_READ_CHUNK];
    int ret, error;

    c->want_write = false;
    c->more = false;
    if (!c->established) {
        ERR_clear_error();
        ret = SSL_do_handshake(c->ssl);
        if (ret != 1) {
            return chan_ssl_error(c, ret, "handshake", err, err_size);
        }
        c->established = true;
    }

    /* Write what is queued. */
    while (wire_buf_pending(&c->out)) {
        size_t n = MIN(wire_buf_pending(&c->out), (size_t)1 << 30);
        ERR_clear_error();
        ret = SSL_write(c->ssl, c->out.data + c->out.ofs, (int)n);
        if (ret <= 0) {
            error = chan_ssl_error(c, ret, "write", err, err_size);
            if (error) {
                return error;
            }
            break;
        }
        wire_buf_consume(&c->out, (size_t)ret);
        c->sent += (size_t)ret;
    }

    /* Read what arrived, but stop buffering beyond a few frames' worth so
     * a peer cannot make us hold unbounded data: the owner decodes, then
     * calls again (chan_more()). */
    for (;;) {
        if (wire_decoder_buffered(&c->dec) > c->dec.max_frame + 4 * 65536) {
            c->more = true;
            break;
        }
        ERR_clear_error();
        ret = SSL_read(c->ssl, buf, sizeof buf);
        if (ret <= 0) {
            return chan_ssl_error(c, ret, "read", err, err_size);
        }
        c->received += (size_t)ret;
        wire_decoder_feed(&c->dec, buf, (size_t)ret);
    }
    return 0;
}

int
chan_recv(struct chan *c, Weft__Envelope **env, char *err, size_t err_size)
{
    return wire_decoder_next(&c->dec, env, err, err_size);
}

size_t
chan_send(struct chan *c, Weft__Envelope *env)
{
    env->seq = ++c->out_seq;
    return wire_encode(&c->out, env);
}

void
chan_send_raw(struct chan *c, const void *data, size_t n)
{
    struct wire_buf *b = &c->out;

    if (b->cap - b->len < n) {
        size_t pending = wire_buf_pending(b);
        size_t cap = MAX(b->cap * 2, pending + n + 4096);
        uint8_t *d = xmalloc(cap);
        if (pending) {
            memcpy(d, b->data + b->ofs, pending);
        }
        free(b->data);
        b->data = d;
        b->cap = cap;
        b->ofs = 0;
        b->len = pending;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

size_t
chan_out_pending(const struct chan *c)
{
    return wire_buf_pending(&c->out);
}

uint32_t
chan_events(const struct chan *c)
{
    uint32_t ev = EPOLLIN;

    if (c->want_write || wire_buf_pending(&c->out)) {
        ev |= EPOLLOUT;
    }
    return ev;
}

bool
chan_more(const struct chan *c)
{
    return c->more;
}

uint64_t
chan_bytes_sent(const struct chan *c)
{
    return c->sent;
}

uint64_t
chan_bytes_received(const struct chan *c)
{
    return c->received;
}
