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
struct hsentinel;
struct json_object;

/* /readyz of BASE (always 200), parsed; the caller puts it. */
struct json_object *hspx_readyz(const char *base);

/* The value at O.redis.A[.B] as text ("" when absent); borrowed from O. */
const char *hspx_jget(struct json_object *o, const char *a, const char *b);

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

#endif /* HSP_HSPX_H */
