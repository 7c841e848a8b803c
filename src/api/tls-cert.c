/* Self-signed certificate generation with OpenSSL (see tls-cert.h). */
#include "api/tls-cert.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

static char *
tls_read_file(const char *path, int *error)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f) {
        *error = errno;
        return NULL;
    }
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? 2 * cap : 8192;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (!got) {
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    *error = 0;
    return buf;
}

/* Writes 'bio' contents to 'path' with 'mode', durably. */
static int
tls_write_bio(BIO *bio, const char *path, mode_t mode)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    int error = 0;

    if (fd < 0) {
        return errno;
    }
    if (write(fd, data, (size_t)len) != len || fsync(fd)) {
        error = errno ? errno : EIO;
    }
    close(fd);
    return error;
}

static int
tls_generate(const char *cert_path, const char *key_path)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    BIO *cbio = BIO_new(BIO_s_mem()), *kbio = BIO_new(BIO_s_mem());
    char host[HOST_NAME_MAX + 1] = "localhost", san[2 * HOST_NAME_MAX + 64];
    unsigned char serial[16];
    int error = EIO;

    if (!pkey || !x || !cbio || !kbio) {
        goto out;
    }
    gethostname(host, sizeof host - 1);
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    X509_set_version(x, 2);
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, pkey);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               (const unsigned char *)"Weft", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"weftd", -1, -1, 0);
    X509_set_issuer_name(x, name);

    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
             strcmp(host, "localhost") ? ",DNS:" : "",
             strcmp(host, "localhost") ? host : "");
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "CA:FALSE");
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(x, pkey, EVP_sha256()) ||
        !PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(cbio, x)) {
        goto out;
    }
    error = tls_write_bio(kbio, key_path, 0600);
    if (!error) {
        error = tls_write_bio(cbio, cert_path, 0644);
    }
    if (!error) {
        LOG_INFO("tls", "generated a self-signed certificate in %s", cert_path);
    }
out:
    BIO_free(cbio);
    BIO_free(kbio);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return error;
}

int
tls_cert_load_or_create(const char *dir, const char *cert_file,
                        const char *key_file, char **cert, char **key)
{
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    int error;

    *cert = *key = NULL;
    snprintf(cert_path, sizeof cert_path, "%s", cert_file ? cert_file : dir);
    snprintf(key_path, sizeof key_path, "%s", key_file ? key_file : dir);
    if (!cert_file) {
        strncat(cert_path, "/cert.pem",
                sizeof cert_path - strlen(cert_path) - 1);
    }
    if (!key_file) {
        strncat(key_path, "/key.pem", sizeof key_path - strlen(key_path) - 1);
    }
    if (!cert_file && !key_file && access(cert_path, F_OK) &&
        access(key_path, F_OK)) {
        error = tls_generate(cert_path, key_path);
        if (error) {
            return error;
        }
    }
    *cert = tls_read_file(cert_path, &error);
    if (*cert) {
        *key = tls_read_file(key_path, &error);
    }
    if (error) {
        free(*cert);
        *cert = NULL;
    }
    return error;
}
