/*
 * hexpect.c - checks of the proxy's answers (see hexpect.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hexpect.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/sha.h>

#include "hclient.h"
#include "key.h"
#include "hfixture.h"
#include "hreq.h"

#define HEXPECT_DEADLINE_MS 10000   /* hexpect_expired's bound */
#define HEXPECT_POLL_MS     100

bool
hexpect_status_has(const struct hresp *r, const char *what)
{
    const char *cs = hresp_header(r, "Cache-Status");

    return cs != NULL && strstr(cs, what) != NULL;
}

void
hexpect_stale(const struct hresp *r, const struct hresp *first,
              const char *detail)
{
    cr_assert_eq(r->status, 200, "want the stale entry: %d %s", r->status,
                 r->body);
    cr_expect_str_eq(hreq_hdr(r, "X-Cache"), "STALE");
    cr_expect(hexpect_status_has(r, detail), "Cache-Status %s lacks %s",
              hreq_hdr(r, "Cache-Status"), detail);
    cr_expect(hexpect_status_has(r, "heavyset-proxy; fwd=stale"),
              "Cache-Status %s", hreq_hdr(r, "Cache-Status"));
    cr_expect_not_null(hresp_header(r, "Age"), "a stale answer has Age");
    cr_expect(r->body_len == first->body_len &&
                  memcmp(r->body, first->body, r->body_len) == 0,
              "stale body %s, want %s", r->body, first->body);
}

void
hexpect_expired(const char *base, const char *path, const char *token)
{
    long         deadline = hfixture_now_ms() + HEXPECT_DEADLINE_MS;
    struct hresp r;
    int          status;

    for (;;) {
        hreq_get(base, path,
                 HREQ(.token = token,
                      .extra = "Cache-Control: only-if-cached"), &r);
        status = r.status;
        hresp_free(&r);
        if (status == 504) {
            return;
        }
        cr_assert_eq(status, 200, "only-if-cached: %d", status);
        cr_assert_lt(hfixture_now_ms(), deadline, "the entry never expired");
        hfixture_pause_ms(HEXPECT_POLL_MS);
    }
}

int
hexpect_stampede(const char *const *bases, size_t nbases, const char *path,
                 const struct hreq *opt, struct hheld *h, size_t n,
                 double *max_ms)
{
    size_t i;
    int    collapsed = 0;

    memset(h, 0, n * sizeof(*h));
    for (i = 0; i < n; i++) {
        h[i] = (struct hheld){ .method = "GET", .base = bases[i % nbases],
                               .path = path, .opt = *opt };
    }
    hreq_burst(h, n);
    *max_ms = 0;
    for (i = 0; i < n; i++) {
        const struct hresp *r = &h[i].resp;

        cr_assert_eq(h[i].rc, 0, "request %zu: %s", i, r->error);
        cr_expect_eq(r->status, h[0].resp.status,
                     "request %zu: status %d, the first got %d", i, r->status,
                     h[0].resp.status);
        cr_expect(r->body_len == h[0].resp.body_len &&
                      memcmp(r->body, h[0].resp.body, r->body_len) == 0,
                  "request %zu: body %s, the first got %s", i, r->body,
                  h[0].resp.body);
        collapsed += hexpect_status_has(r, "collapsed");
        if (r->elapsed_ms > *max_ms) {
            *max_ms = r->elapsed_ms;
        }
    }
    return collapsed;
}

void
hexpect_tenant_key(const char *k)
{
    static const char marker[] = ":" KEY_SCHEMA ":marker";
    static const char prefix[] = "hsp:" KEY_SCHEMA ":{";
    size_t            n = strlen(k), m = sizeof(marker) - 1;

    if (n >= m && strcmp(k + n - m, marker) == 0) {
        return;
    }
    /* the budget's keys keep v1 (budget.c) */
    if (strncmp(k, "hsp:v1:{", 8) == 0 &&
        ((n > 7 && strcmp(k + n - 7, ":budget") == 0) ||
         (n > 6 && strcmp(k + n - 6, ":pause") == 0))) {
        return;
    }
    cr_expect_eq(strncmp(k, prefix, sizeof(prefix) - 1), 0, "prefix of %s",
                 k);
}

void
hexpect_forbid(struct hexpect_words *fw, const char *w)
{
    cr_assert_lt(fw->n, HEXPECT_WORDS_MAX);
    snprintf(fw->w[fw->n++], HEXPECT_WORD_MAX, "%s", w);
}

void
hexpect_forbid_sha(struct hexpect_words *fw, const char *s, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char          h[HEXPECT_WORD_MAX];
    size_t        i;

    SHA256((const unsigned char *)s, len, md);
    for (i = 0; i < sizeof(md); i++) {
        snprintf(h + 2 * i, 3, "%02x", md[i]);
    }
    hexpect_forbid(fw, h);
    h[32] = '\0';
    hexpect_forbid(fw, h);
}
