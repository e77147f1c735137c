/* tls.c - verified TLS client connections to the upstream. */
#include "config.h"

#include "tls.h"

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"

SSL_CTX *
tls_client_ctx_new(const char *ca_file)
{
    SSL_CTX      *ctx;
    unsigned long err;
    char          buf[256];

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* OpenSSL 3 reports an EOF without close_notify as an error, and
     * libevent 2.1.12 predates that; HTTP/1.1 frames its own bodies, so a
     * truncated response is still seen as one (PITFALLS §4.2.6). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        goto fail;
    }
    if (ca_file != NULL && ca_file[0] != '\0' &&
        SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;

fail:
    err = ERR_get_error();
    ERR_error_string_n(err, buf, sizeof(buf));
    log_err("tls: cannot set up the client context%s%s: %s",
            ca_file != NULL && ca_file[0] != '\0' ? " with CA file " : "",
            ca_file != NULL ? ca_file : "", buf);
    SSL_CTX_free(ctx);
    return NULL;
}

struct bufferevent *
tls_bev_new(struct event_base *base, SSL_CTX *ctx, const char *host)
{
    struct bufferevent *bev;
    SSL                *ssl;

    ssl = SSL_new(ctx);
    if (ssl == NULL) {
        return NULL;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl, host) != 1 || /* SNI */
        SSL_set1_host(ssl, host) != 1) {            /* name check */
        SSL_free(ssl);
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                         BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE |
                                             BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL) {
        return NULL;                /* CLOSE_ON_FREE: SSL already freed */
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int
tls_describe_error(struct bufferevent *bev, char *buf, size_t cap)
{
    SSL          *ssl;
    long          vr;
    unsigned long err;
    int           had = 0;

    buf[0] = '\0';
    if (bev == NULL) {
        return 0;
    }
    ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl == NULL) {
        return 0;
    }
    vr = SSL_get_verify_result(ssl);
    if (vr != X509_V_OK) {
        snprintf(buf, cap, "certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
        had = 1;
    }
    while ((err = bufferevent_get_openssl_error(bev)) != 0) {
        /* A refused or reset TCP connection shows up here as a system
         * error: that is not a TLS failure. */
        if (ERR_GET_LIB(err) != ERR_LIB_SSL &&
            ERR_GET_LIB(err) != ERR_LIB_X509) {
            continue;
        }
        if (!had) {
            char e[200];

            ERR_error_string_n(err, e, sizeof(e));
            snprintf(buf, cap, "%s", e);
            had = 1;
        }
    }
    return had;
}
