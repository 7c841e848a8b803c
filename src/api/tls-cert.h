/* The server's TLS identity: loads '<dir>/cert.pem' and '<dir>/key.pem',
 * or, when neither exists, generates a self-signed certificate (ECDSA
 * P-256, SHA-256, ten years, subjectAltName localhost, 127.0.0.1, ::1 and
 * the host name) and writes both files (the key mode 0600). */
#ifndef WEFT_TLS_CERT_H
#define WEFT_TLS_CERT_H 1

/* Returns 0 and malloc'd PEM strings in '*cert' and '*key', or an errno
 * value.  'cert_file'/'key_file' override the default paths when non-NULL
 * (then nothing is generated). */
int tls_cert_load_or_create(const char *dir, const char *cert_file,
                            const char *key_file, char **cert, char **key);

#endif
