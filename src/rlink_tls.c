/*
 * rlink_tls.c - the OpenSSL parts of rlink: the client context and the
 * per-connection SSL, in the order libevent's https-client sample sets
 * them up, with OpenSSL >= 1.1's own host name check (SSL_set1_host).
 */
#include "config.h"

#include "rlink_tls.h"

#include <stdio.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Writes OpenSSL's oldest queued error (or WHAT alone) into ERR. */
static void
tls_reason(const char *what, const char *file, char *err, size_t errlen)
{
    char          buf[256] = "";
    unsigned long e = ERR_get_error();

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
    }
    snprintf(err, errlen, "%s%s%s%s%s", what, file != NULL ? " " : "",
             file != NULL ? file : "", buf[0] != '\0' ? ": " : "", buf);
    ERR_clear_error();
}

SSL_CTX *
rlink_tls_ctx_new(const char *ca_file, const char *cert_file,
                  const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        tls_reason("cannot create a TLS context", NULL, err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* RESP frames every reply; an EOF without close_notify is a lost
     * link either way (PITFALLS §4.2.6). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_reason("cannot load the system trust store", NULL, err, errlen);
        goto fail;
    }
    if (ca_file != NULL &&
        SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        tls_reason("cannot load CA file", ca_file, err, errlen);
        goto fail;
    }
    if (cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            tls_reason("cannot load certificate file", cert_file, err,
                       errlen);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file != NULL ? key_file
                                                              : cert_file,
                                        SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            tls_reason("cannot load key file",
                       key_file != NULL ? key_file : cert_file, err, errlen);
            goto fail;
        }
    }
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL *
rlink_tls_ssl_new(SSL_CTX *ctx, const char *name)
{
    SSL            *ssl;
    unsigned char   addr[16];
    int             is_ip;

    ssl = SSL_new(ctx);
    if (ssl == NULL) {
        return NULL;
    }
    is_ip = inet_pton(AF_INET, name, addr) == 1 ||
            inet_pton(AF_INET6, name, addr) == 1;
    if (is_ip) {
        /* SNI carries names only (RFC 6066 §3); match the IP SAN. */
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1) {
            SSL_free(ssl);
            return NULL;
        }
        return ssl;
    }
    if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
        SSL_set1_host(ssl, name) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return ssl;
}

void
rlink_tls_error(SSL *ssl, unsigned long ssl_err, char *buf, size_t len)
{
    char  why[256] = "";
    long  vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

    if (ssl_err != 0) {
        ERR_error_string_n(ssl_err, why, sizeof(why));
    }
    if (vr != X509_V_OK) {
        snprintf(buf, len, "TLS: certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
    } else {
        snprintf(buf, len, "TLS: %s", why[0] != '\0' ? why
                                                     : "handshake failed");
    }
}
