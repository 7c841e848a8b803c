/* Keys, certificates and TLS contexts of the control channel (OpenSSL).
 *
 * The deployment has one CA, kept by weftd (controller/ca.c).  It issues
 * the controller's server certificate (CN "weft-controller", EKU
 * serverAuth) and one client certificate per enrolled host (CN = host id,
 * EKU clientAuth, serial recorded in the store so that it can be revoked).
 * All keys are ECDSA P-256, all signatures SHA-256.  Peers verify each
 * other's chain against the CA only: the extended key usage keeps a host
 * certificate from posing as the controller, and the store's serial check
 * (controller) keeps revoked ones out.
 *
 * Functions return NULL / a positive errno on failure and log nothing;
 * pki_last_error() describes the newest OpenSSL error for the caller's
 * log line.  Thread-safe (OpenSSL 3). */
#ifndef WEFT_PROTO_PKI_H
#define WEFT_PROTO_PKI_H 1

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKI_CONTROLLER_CN "weft-controller"

enum pki_kind {
    PKI_CA,     /* self-signed CA */
    PKI_SERVER, /* controller: serverAuth */
    PKI_CLIENT, /* host: clientAuth */
};

/* A new ECDSA P-256 key. */
EVP_PKEY *pki_new_key(void);

/* Issues a certificate for the public part of 'subject' named 'cn',
 * valid from now for 'days', with 'serial', signed by 'issuer_key' in the
 * name of 'issuer' (NULL: self-signed, for PKI_CA). */
X509 *pki_issue(EVP_PKEY *subject, const char *cn, uint64_t serial, int days,
                X509 *issuer, EVP_PKEY *issuer_key, enum pki_kind kind);

/* A PKCS#10 request for 'key' named 'cn', DER-encoded (malloc'd). */
uint8_t *pki_csr_der(EVP_PKEY *key, const char *cn, size_t *len);
/* Parses and verifies a DER request (self-signature, EC P-256 key).
 * Returns its public key or NULL. */
EVP_PKEY *pki_csr_verify(const uint8_t *der, size_t len);

/* DER <-> X509. */
uint8_t *pki_cert_der(X509 *cert, size_t *len);
X509 *pki_cert_from_der(const uint8_t *der, size_t len);

/* PEM files.  Writes are atomic (temporary file, fsync, rename); keys get
 * mode 0600, certificates 0644.  Return 0 or an errno value. */
int pki_write_key(const char *path, EVP_PKEY *key);
int pki_write_cert(const char *path, X509 *cert);
EVP_PKEY *pki_read_key(const char *path);
X509 *pki_read_cert(const char *path);

/* SHA-256 of the certificate's DER as 64 lowercase hex digits + NUL. */
void pki_fingerprint(X509 *cert, char hex[65]);
/* The subject CN into 'buf'; false if absent or too long. */
bool pki_cert_cn(X509 *cert, char *buf, size_t size);
/* The serial number (0 if it does not fit 64 bits). */
uint64_t pki_cert_serial(X509 *cert);
/* True if 'cert' is signed by 'ca' (signature only). */
bool pki_signed_by(X509 *cert, X509 *ca);

/* A TLS context (TLS 1.2+) presenting 'cert'/'key' (may be NULL for an
 * enrolling client) plus 'extra' in the chain (may be NULL).  With 'ca',
 * peers must present a chain to it with the right purpose (a server asks
 * for but does not require a client certificate: enrollment sessions have
 * none); without 'ca' nothing is verified (an enrolling client pins the CA
 * itself, see agent-channel.c). */
SSL_CTX *pki_ssl_ctx(bool server, X509 *cert, EVP_PKEY *key, X509 *ca,
                     X509 *extra);

/* The newest OpenSSL error as text (static buffer per thread); clears the
 * error queue. */
const char *pki_last_error(void);

#endif
