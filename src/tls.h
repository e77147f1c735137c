/*
 * tls.h - TLS to the upstream (SPEC §8): one client SSL_CTX that verifies
 * the certificate chain (system store, plus upstream_ca_file) and a
 * bufferevent per connection with SNI and host-name verification.
 */
#ifndef HSP_TLS_H
#define HSP_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event_base;

/*
 * Creates the client context. CA_FILE (may be NULL or "") adds a private
 * CA to the system trust store. Returns a context the caller frees with
 * SSL_CTX_free (it is shared read-only by every worker), or NULL after
 * logging why.
 */
SSL_CTX *tls_client_ctx_new(const char *ca_file);

/*
 * Creates a TLS client bufferevent for HOST on BASE: SNI is HOST, and the
 * peer certificate must be valid for HOST. Returns a bufferevent that owns
 * its SSL (BEV_OPT_CLOSE_ON_FREE), or NULL.
 */
struct bufferevent *tls_bev_new(struct event_base *base, SSL_CTX *ctx,
                                const char *host);

/*
 * Describes why TLS on BEV failed (verification result or the OpenSSL
 * error queue) into BUF of CAP bytes. Returns 1 when BEV had a TLS error,
 * 0 when TLS itself looks fine (the failure was elsewhere).
 */
int tls_describe_error(struct bufferevent *bev, char *buf, size_t cap);

#endif /* HSP_TLS_H */
