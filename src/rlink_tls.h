/*
 * rlink_tls.h - private to rlink.c: the OpenSSL parts of a TLS Redis
 * link. One SSL_CTX per link (trust store, CA file, client certificate),
 * one fresh SSL per connection (SNI, host name check): a TLS connection
 * is single-life (PITFALLS §4.2.5).
 */
#ifndef HSP_RLINK_TLS_H
#define HSP_RLINK_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/*
 * A client SSL_CTX that verifies the peer against the system trust store
 * and CA_FILE (if not NULL), and shows CERT_FILE with KEY_FILE (if not
 * NULL). Returns NULL and a reason in ERR (ERRLEN bytes) on failure. The
 * caller owns it: SSL_CTX_free.
 */
SSL_CTX *rlink_tls_ctx_new(const char *ca_file, const char *cert_file,
                           const char *key_file, char *err, size_t errlen);

/*
 * An SSL from CTX that checks NAME (a host name: SNI and DNS match; an
 * address: IP match, no SNI). Returns NULL out of memory. The caller owns
 * it until a bufferevent takes it.
 */
SSL *rlink_tls_ssl_new(SSL_CTX *ctx, const char *name);

/* Writes what went wrong in a TLS handshake of SSL into BUF. */
void rlink_tls_error(SSL *ssl, unsigned long ssl_err, char *buf,
                     size_t len);

#endif /* HSP_RLINK_TLS_H */
