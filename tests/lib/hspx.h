/*
 * hspx.h - a proxy on a Sentinel topology (hsentinel.h), as the
 * Sentinel tests drive it: started on the topology's sentinels, asked
 * where it stands (/readyz) and for a lookup. Test-only; asserts with
 * criterion.
 */
#ifndef HSP_HSPX_H
#define HSP_HSPX_H

#include <stdbool.h>
#include <stddef.h>

#define HSPX_TOKEN  "hs_test_tenant_alpha_0001"
#define HSPX_LOOKUP "/api/v1/appointment/s2s/phone/query?phone=%2B18015551234"

struct hproc;
struct hredis;
struct hsentinel;
struct json_object;

/* Whether /readyz of BASE says it is up on the master at PORT, confirmed
 * by every worker. */
bool hspx_on_master(const char *base, int port);

/* Waits (MS, stretched for slow builds) until hspx_on_master(BASE,
 * PORT); asserts it came. */
void hspx_wait_on_master(const char *base, int port, long ms);

/* Starts a proxy NAME, two workers, on the sentinels of T (with TLS its
 * redis_ca_file too) into P; more -o in EXTRA (NULL-terminated, at most
 * 4, may be NULL). */
void hspx_start(const char *name, const struct hsentinel *t,
                const char *const *extra, struct hproc *p);

/* GET HSPX_LOOKUP through BASE: its status (0: no answer), X-Cache into
 * XC, the lead's name into NAME (both CAP bytes). Safe in any thread. */
int hspx_lookup(const char *base, char *xc, char *name, size_t cap);

/* PATCHes with an Idempotency-Key through the proxies: how often each
 * reached the upstream (ran), how often it was refused (503). */
#define HSPX_KEYS_MAX 64

struct hspx_patches {
    int  n;
    char keys[HSPX_KEYS_MAX][32];
    char first[HSPX_KEYS_MAX][32];       /* the body's firstName, the same in
                                     * a retry */
    int  ran[HSPX_KEYS_MAX];             /* answers forwarded (not replayed) */
    int  refused[HSPX_KEYS_MAX];         /* 503s */
};

/* PATCHes key I of PS through BASE, noting whether it was forwarded; its
 * body names FIRST (NULL: as the first time). */
void hspx_patch_key(struct hspx_patches *ps, int i, const char *base,
                    const char *first);

/* PATCHes key I of PS through BASE until it is forwarded or replayed
 * (bounded, asserted): after a failover the new master may have no
 * replica yet, and a claim no replica took is refused (503). Returns
 * how long that took, in ms. */
long hspx_patch_until_taken(struct hspx_patches *ps, int i,
                            const char *base, const char *first);

/* Runs "FMT" (with PORT) on node R of a topology; asserts no error. */
void hspx_node_do(const struct hredis *r, const char *fmt, int port);

#endif /* HSP_HSPX_H */
