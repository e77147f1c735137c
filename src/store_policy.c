/*
 * store_policy.c - maxmemory-policy and the proxy's keys (store_policy.h).
 */
#include "config.h"

#include "store_policy.h"

#include <string.h>

#define STORE_POLICY_FIELD "maxmemory_policy:"

bool
store_policy_evicts(const char *policy)
{
    return policy == NULL || strcmp(policy, "noeviction") != 0;
}

int
store_policy_from_info(const char *info, char *out, size_t cap)
{
    return store_policy_info_field(info, STORE_POLICY_FIELD, out, cap);
}

int
store_policy_info_field(const char *info, const char *field, char *out,
                        size_t cap)
{
    const char *p = info, *v;
    size_t      n, flen = strlen(field);

    while (p != NULL && *p != '\0') {
        if (strncmp(p, field, flen) == 0) {
            v = p + flen;
            n = strcspn(v, "\r\n");
            if (n == 0 || n >= cap) {
                return -1;
            }
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
        p = strchr(p, '\n');
        if (p != NULL) {
            p++;
        }
    }
    return -1;
}

void
store_replicas_reset(struct store_replicas *r)
{
    r->want = -1;
    r->lower_since_ms = 0;
}

int
store_replicas_seen(struct store_replicas *r, int seen, int64_t now_ms)
{
    if (seen >= r->want) {
        r->want = seen;
        r->lower_since_ms = 0;
    } else if (r->lower_since_ms == 0) {
        r->lower_since_ms = now_ms;
    } else if (now_ms - r->lower_since_ms >= STORE_REPLICAS_SETTLE_MS) {
        r->want = seen;
        r->lower_since_ms = 0;
    }
    return r->want;
}
