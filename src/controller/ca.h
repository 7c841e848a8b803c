/* The deployment CA kept by weftd: '<dir>/ca.pem' and '<dir>/ca.key',
 * created (ECDSA P-256, 10 years) at first start.  It signs the
 * controller's server certificate (a fresh key at every start) and the
 * hosts' client certificates at enrollment.
 *
 * Thread-safety: a 'struct ca' is immutable after ca_open(); ca_sign_host()
 * may be called from any thread. */
#ifndef WEFT_CONTROLLER_CA_H
#define WEFT_CONTROLLER_CA_H 1

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct ca {
    X509 *cert;           /* CA certificate */
    EVP_PKEY *key;        /* CA key */
    X509 *server_cert;    /* controller certificate, CN weft-controller */
    EVP_PKEY *server_key; /* its key */
    char fingerprint[65]; /* SHA-256 of the CA certificate (hex) */
};

/* Loads or creates the CA in 'dir' (created 0700 if missing) and issues a
 * server certificate.  Returns 0 or an errno value with a message in
 * 'err'. */
int ca_open(const char *dir, struct ca **cap, char *err, size_t err_size);
void ca_close(struct ca *); /* NULL is fine */

/* Signs a client certificate for 'host_id' with 'serial' for the key in
 * the DER request 'csr' (verified).  Returns the certificate or NULL. */
X509 *ca_sign_host(const struct ca *, const char *host_id, uint64_t serial,
                   const uint8_t *csr, size_t csr_len);

#endif
