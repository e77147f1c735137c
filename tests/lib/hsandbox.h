/*
 * hsandbox.h - the integration tests' side of heavyset-sandbox: its admin
 * routes (/__sandbox/...) at $HSP_SANDBOX_URL, over hclient.h, and its
 * seed file. Test-only. These return errors as values; hfixture.h has
 * the asserting fixtures built on them.
 */
#ifndef HSP_HSANDBOX_H
#define HSP_HSANDBOX_H

struct json_object;

/*
 * The sandbox's admin routes, at $HSP_SANDBOX_URL.
 *
 * hsandbox_count returns counter NAME of GET /__sandbox/stats:
 * "total" or any other top-level integer, else the member NAME of
 * "requests" ("query", "query_crm", "blocks", "dispositions", "update").
 * Returns -1 when the sandbox cannot be asked or has no such counter.
 */
long hsandbox_count(const char *name);

/* POST /__sandbox/reset. Returns 0 on a 2xx, else -1. */
int hsandbox_reset(void);

/* POST /__sandbox/config with the JSON object JSON. 0 on a 2xx, else -1. */
int hsandbox_config(const char *json);

/*
 * GET /__sandbox/last: the last API request the sandbox saw, as
 * {"method":..,"path":..,"headers":{..},"body":".."}. Returns a new
 * reference the caller puts, or NULL.
 */
struct json_object *hsandbox_last(void);

/*
 * The value of header NAME (case-insensitive) in LAST's "headers" object,
 * or NULL when absent. A header given as an array yields its first
 * element. Borrowed from LAST.
 */
const char *hsandbox_last_header(struct json_object *last, const char *name);

/*
 * Parses the seed file $HSP_SEED_FILE. Returns a new reference the
 * caller puts, or NULL (the reason is printed on stderr).
 */
struct json_object *hsandbox_seed_load(void);

#endif /* HSP_HSANDBOX_H */
