/*
 * hexpect.h - checks of the proxy's answers that more than one suite
 * makes: what its Cache-Status says, a stale answer, waiting until a
 * cached entry has expired, and the words nothing in Redis may hold.
 * Test-only; every call but hexpect_status_has asserts with criterion.
 */
#ifndef HSP_HEXPECT_H
#define HSP_HEXPECT_H

#include <stdbool.h>
#include <stddef.h>

struct hheld;
struct hreq;
struct hresp;

/* Whether R's Cache-Status header contains WHAT (false when absent). */
bool hexpect_status_has(const struct hresp *r, const char *what);

/*
 * R is the expired entry FIRST served stale (SPEC §7): 200, X-Cache
 * STALE, a Cache-Status "heavyset-proxy; fwd=stale..." with DETAIL, an
 * Age, and FIRST's body byte for byte.
 */
void hexpect_stale(const struct hresp *r, const struct hresp *first,
                   const char *detail);

/*
 * Polls the proxy at BASE with only-if-cached reads of PATH as TOKEN
 * (which never reach the upstream) until its entry has expired: a 504.
 * Asserts every answer before that is a 200, and a bound of 10 s.
 */
void hexpect_expired(const char *base, const char *path, const char *token);

/*
 * Fires N identical GETs of PATH with the headers OPT at once
 * (hreq_burst), spread in turn over the NBASES proxies at BASES, into H.
 * Asserts that every one was answered with the first one's status and
 * body; returns how many said collapsed in their Cache-Status, and the
 * slowest one's time in *MAX_MS. The caller frees H (hreq_burst_free).
 */
int hexpect_stampede(const char *const *bases, size_t nbases,
                     const char *path, const struct hreq *opt,
                     struct hheld *h, size_t n, double *max_ms);

/*
 * Asserts that K, a key of the run's Redis, is a tenant's (its hash tag:
 * "hsp:v3:{...", or "hsp:v1:{...}" for the budget's keys) or the one key
 * no tenant owns, the marker each proxy
 * raises every second to notice a Redis that lost its data (SPEC §12):
 * a scan of the keys may find it at any moment.
 */
void hexpect_tenant_key(const char *k);

/*
 * Strings that must appear nowhere in Redis (SPEC §13): a token, a phone
 * in its spellings, a lead's strings, and the hashes of them a reader
 * with a dictionary computes. Fill one with hexpect_forbid; the suites
 * search W[0..N-1] themselves, so each word found is reported.
 */
#define HEXPECT_WORDS_MAX 128
#define HEXPECT_WORD_MAX  65        /* a hex SHA-256 and its NUL */

struct hexpect_words {
    size_t n;
    char   w[HEXPECT_WORDS_MAX][HEXPECT_WORD_MAX];
};

/* Adds W to FW (asserts there is room). */
void hexpect_forbid(struct hexpect_words *fw, const char *w);

/* Adds the lowercase hex SHA-256 of the LEN bytes at S, whole and cut to
 * 128 bits, to FW. */
void hexpect_forbid_sha(struct hexpect_words *fw, const char *s, size_t len);

#endif /* HSP_HEXPECT_H */
