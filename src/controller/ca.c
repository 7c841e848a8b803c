/* The deployment CA (ca.h). */
#include "controller/ca.h"

#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util.h"
#include "proto/pki.h"

#define CA_DAYS     3650
#define SERVER_DAYS 825
#define HOST_DAYS   825

static uint64_t
ca_random_serial(void)
{
    uint64_t v = 0;
    RAND_bytes((unsigned char *)&v, sizeof v);
    return (v >> 1) | 1; /* positive, non-zero */
}

int
ca_open(const char *dir, struct ca **cap, char *err, size_t err_size)
{
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    struct ca *ca = xcalloc(1, sizeof *ca);
    struct stat st;
    int error;

    *cap = NULL;
    if (mkdir(dir, 0700) && errno != EEXIST) {
        error = errno;
        snprintf(err, err_size, "%s: %s", dir, strerror(error));
        free(ca);
        return error;
    }
    snprintf(cert_path, sizeof cert_path, "%s/ca.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/ca.key", dir);
    if (!stat(cert_path, &st)) {
        ca->cert = pki_read_cert(cert_path);
        ca->key = pki_read_key(key_path);
        if (!ca->cert || !ca->key ||
            X509_check_private_key(ca->cert, ca->key) != 1) {
            snprintf(err, err_size, "%s or %s: unreadable or not a pair",
                     cert_path, key_path);
            ca_close(ca);
            return EINVAL;
        }
    } else {
        ca->key = pki_new_key();
        ca->cert = ca->key ? pki_issue(ca->key, "Weft deployment CA",
                                       ca_random_serial(), CA_DAYS, NULL,
                                       ca->key, PKI_CA)
                           : NULL;
        if (!ca->cert) {
            snprintf(err, err_size, "cannot create the CA: %s",
                     pki_last_error());
            ca_close(ca);
            return EIO;
        }
        /* Key first: a crash in between leaves no certificate without it. */
        if ((error = pki_write_key(key_path, ca->key)) ||
            (error = pki_write_cert(cert_path, ca->cert))) {
            snprintf(err, err_size, "cannot write the CA in %s: %s", dir,
                     strerror(error));
            ca_close(ca);
            return error;
        }
    }
    pki_fingerprint(ca->cert, ca->fingerprint);
    ca->server_key = pki_new_key();
    ca->server_cert =
        ca->server_key
            ? pki_issue(ca->server_key, PKI_CONTROLLER_CN, ca_random_serial(),
                        SERVER_DAYS, ca->cert, ca->key, PKI_SERVER)
            : NULL;
    if (!ca->server_cert) {
        snprintf(err, err_size, "cannot issue the server certificate: %s",
                 pki_last_error());
        ca_close(ca);
        return EIO;
    }
    *cap = ca;
    return 0;
}

void
ca_close(struct ca *ca)
{
    if (!ca) {
        return;
    }
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    X509_free(ca->server_cert);
    EVP_PKEY_free(ca->server_key);
    free(ca);
}

X509 *
ca_sign_host(const struct ca *ca, const char *host_id, uint64_t serial,
             const uint8_t *csr, size_t csr_len)
{
    EVP_PKEY *pub = pki_csr_verify(csr, csr_len);
    X509 *cert;

    if (!pub) {
        return NULL;
    }
    cert = pki_issue(pub, host_id, serial, HOST_DAYS, ca->cert, ca->key,
                     PKI_CLIENT);
    EVP_PKEY_free(pub);
    return cert;
}
