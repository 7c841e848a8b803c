/* Keys, certificates and TLS contexts (pki.h). */
#include "proto/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

EVP_PKEY *
pki_new_key(void)
{
    return EVP_EC_gen("P-256");
}

static bool
pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) {
        return false;
    }
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return true;
}

X509 *
pki_issue(EVP_PKEY *subject, const char *cn, uint64_t serial, int days,
          X509 *issuer, EVP_PKEY *issuer_key, enum pki_kind kind)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    bool ok;

    ok = cert && name && X509_set_version(cert, 2) &&
         ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), serial) &&
         X509_gmtime_adj(X509_getm_notBefore(cert), -300) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400) &&
         X509_set_pubkey(cert, subject) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) &&
         X509_set_subject_name(cert, name) &&
         X509_set_issuer_name(cert,
                              issuer ? X509_get_subject_name(issuer) : name);
    if (ok) {
        switch (kind) {
        case PKI_CA:
            ok = pki_add_ext(cert, issuer, NID_basic_constraints,
                             "critical,CA:TRUE,pathlen:0") &&
                 pki_add_ext(cert, issuer, NID_key_usage,
                             "critical,keyCertSign,cRLSign") &&
                 pki_add_ext(cert, issuer, NID_subject_key_identifier, "hash");
            break;
        case PKI_SERVER:
        case PKI_CLIENT:
            ok = pki_add_ext(cert, issuer, NID_basic_constraints,
                             "critical,CA:FALSE") &&
                 pki_add_ext(cert, issuer, NID_key_usage,
                             "critical,digitalSignature") &&
                 pki_add_ext(cert, issuer, NID_ext_key_usage,
                             kind == PKI_SERVER ? "serverAuth" : "clientAuth");
            break;
        }
    }
    ok = ok && X509_sign(cert, issuer_key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

uint8_t *
pki_csr_der(EVP_PKEY *key, const char *cn, size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    uint8_t *der = NULL, *p;
    int n = 0;

    if (req && name &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) &&
        X509_REQ_set_subject_name(req, name) && X509_REQ_set_pubkey(req, key) &&
        X509_REQ_sign(req, key, EVP_sha256()) > 0 &&
        (n = i2d_X509_REQ(req, NULL)) > 0) {
        der = p = xmalloc((size_t)n);
        i2d_X509_REQ(req, &p);
        *len = (size_t)n;
    }
    X509_NAME_free(name);
    X509_REQ_free(req);
    return der;
}

EVP_PKEY *
pki_csr_verify(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    EVP_PKEY *key = NULL;

    if (req && p == der + len) {
        key = X509_REQ_get_pubkey(req);
        if (key && (X509_REQ_verify(req, key) != 1 ||
                    EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
                    EVP_PKEY_get_bits(key) != 256)) {
            EVP_PKEY_free(key);
            key = NULL;
        }
    }
    X509_REQ_free(req);
    return key;
}

uint8_t *
pki_cert_der(X509 *cert, size_t *len)
{
    int n = i2d_X509(cert, NULL);
    uint8_t *der, *p;

    if (n <= 0) {
        return NULL;
    }
    der = p = xmalloc((size_t)n);
    i2d_X509(cert, &p);
    *len = (size_t)n;
    return der;
}

X509 *
pki_cert_from_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);

    if (cert && p != der + len) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* Writes via 'write_fn' into 'path'.tmp with 'mode', fsyncs, renames. */
static int
pki_write_file(const char *path, int mode, bool (*write_fn)(BIO *, void *),
               void *obj)
{
    char tmp[PATH_MAX];
    int fd, error = 0;
    BIO *bio;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        return ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return errno;
    }
    bio = BIO_new_fd(fd, BIO_NOCLOSE);
    if (!bio || !write_fn(bio, obj) || BIO_flush(bio) != 1) {
        error = EIO;
    }
    BIO_free(bio);
    if (!error && fsync(fd)) {
        error = errno;
    }
    close(fd);
    if (!error && rename(tmp, path)) {
        error = errno;
    }
    if (error) {
        unlink(tmp);
    }
    return error;
}

static bool
pki_write_key_bio(BIO *bio, void *key)
{
    return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
}

static bool
pki_write_cert_bio(BIO *bio, void *cert)
{
    return PEM_write_bio_X509(bio, cert);
}

int
pki_write_key(const char *path, EVP_PKEY *key)
{
    return pki_write_file(path, 0600, pki_write_key_bio, key);
}

int
pki_write_cert(const char *path, X509 *cert)
{
    return pki_write_file(path, 0644, pki_write_cert_bio, cert);
}

EVP_PKEY *
pki_read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key;

    if (!f) {
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return key;
}

X509 *
pki_read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *cert;

    if (!f) {
        return NULL;
    }
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return cert;
}

void
pki_fingerprint(X509 *cert, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    hex[0] = '\0';
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
}

bool
pki_cert_cn(X509 *cert, char *buf, size_t size)
{
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
                                      NID_commonName, buf, (int)size);
    return n > 0 && (size_t)n < size && strlen(buf) == (size_t)n;
}

uint64_t
pki_cert_serial(X509 *cert)
{
    uint64_t v = 0;

    if (ASN1_INTEGER_get_uint64(&v, X509_get0_serialNumber(cert)) != 1) {
        ERR_clear_error();
        return 0;
    }
    return v;
}

bool
pki_signed_by(X509 *cert, X509 *ca)
{
    EVP_PKEY *pub = X509_get0_pubkey(ca);
    return pub && X509_verify(cert, pub) == 1;
}

SSL_CTX *
pki_ssl_ctx(bool server, X509 *cert, EVP_PKEY *key, X509 *ca, X509 *extra)
{
    SSL_CTX *ctx =
        SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

    if (!ctx) {
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (cert && key &&
        (SSL_CTX_use_certificate(ctx, cert) != 1 ||
         SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
         SSL_CTX_check_private_key(ctx) != 1)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (extra) {
        X509_up_ref(extra);
        if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (ca) {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        if (X509_STORE_add_cert(store, ca) != 1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_purpose(ctx, server ? X509_PURPOSE_SSL_CLIENT
                                        : X509_PURPOSE_SSL_SERVER);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, NULL);
        SSL_CTX_set_verify_depth(ctx, 2);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

const char *
pki_last_error(void)
{
    static __thread char buf[256];
    unsigned long e = ERR_get_error();
    unsigned long next;

    /* Report the newest error: the outermost reason. */
    while ((next = ERR_get_error())) {
        e = next;
    }
    if (!e) {
        return "no OpenSSL error";
    }
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}
