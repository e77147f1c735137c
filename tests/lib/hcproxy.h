/*
 * hcproxy.h - what the Redis Cluster suites (test_cluster*.c) share: the
 * seed tenants and phones they use, the names the proxy exposes for a
 * cluster, a proxy started on a test cluster (hcluster.h), and its
 * reads, PATCHes and /readyz. Test-only; hcp_get and hcp_patch are safe
 * in any thread and assert nothing, the rest asserts with criterion.
 */
#ifndef HSP_HCPROXY_H
#define HSP_HCPROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "hreq.h"

struct hcluster;
struct hproc;
struct json_object;

#define HCP_ALPHA        "hs_test_tenant_alpha_0001"
#define HCP_BRAVO        "hs_test_tenant_bravo_0002"
#define HCP_CHARLIE      "hs_test_tenant_charlie_0003"
#define HCP_QUERY        HREQ_API "/phone/query?phone="
#define HCP_SHARED       "%2B18015551234"   /* alpha's and bravo's */
#define HCP_ALPHA_LEAD   "%2B18015550101"   /* another of alpha's */
#define HCP_CHARLIE_LEAD "%2B12065550100"
/* A PATCH of the shared phone setting its first name to FIRST. */
#define HCP_PATCH_BODY(first) \
    "{\"phone\":\"+18015551234\",\"firstName\":\"" first "\"}"

#define HCP_BURST        50         /* concurrent identical reads */
#define HCP_BUDGET_BURST 40         /* distinct misses at once */

#define HCP_MOVED      "heavyset_redis_redirects_total{kind=\"moved\"}"
#define HCP_ASK        "heavyset_redis_redirects_total{kind=\"ask\"}"
#define HCP_REFRESHES  "heavyset_redis_cluster_refreshes_total"
#define HCP_RETRIES    "heavyset_redis_cluster_retries_total"
#define HCP_NODES      "heavyset_redis_cluster_nodes"
#define HCP_REACHABLE  "heavyset_redis_cluster_nodes_reachable"
#define HCP_NEAR_HITS  "heavyset_near_hits_total"
#define HCP_FALLBACK   "heavyset_budget_fallback_total"

/*
 * Starts a proxy NAME of the sandbox on cluster C, its seeds the nodes
 * of SEEDS (hcluster_url), with 2 workers, C's CA as redis_ca_file with
 * TLS, then each "key=value" of the NULL-terminated EXTRA (may be
 * NULL); waits (bounded) until /readyz says its Redis is up. Fills P.
 */
void hcp_proxy(const char *name, const struct hcluster *c, unsigned seeds,
               const char *const *extra, struct hproc *p);

/*
 * GET HCP_QUERY PHONE through BASE as TOKEN: its status (0 when no
 * answer came), X-Cache into XC and the lead's name into NAME (32 and
 * 128 bytes, "" when absent).
 */
int hcp_get(const char *base, const char *token, const char *phone,
            char xc[32], char name[128]);

/*
 * PATCHes the shared phone of TOKEN's tenant through BASE, its first
 * name FIRST, with the Idempotency-Key KEY when not NULL: its status (0
 * when no answer came); *REPLAYED (when not NULL) says whether the
 * answer was a replay.
 */
int hcp_patch(const char *base, const char *token, const char *key,
              const char *first, bool *replayed);

#endif /* HSP_HCPROXY_H */
