/*
 * endpoint.h - the five endpoints of the S2S API under
 * /api/v1/appointment/s2s (SPEC §2) and each one's answer from data.h.
 * Pure: no event loop; "now" is a parameter.
 */
#ifndef HSP_ENDPOINT_H
#define HSP_ENDPOINT_H

#include <stdint.h>

struct data_errors;
struct data_tenant;
struct evkeyvalq;
struct json_object;

enum endpoint {
    ENDPOINT_QUERY,                 /* GET /phone/query */
    ENDPOINT_QUERY_CRM,             /* GET /phone/query/{crmSettingsId} */
    ENDPOINT_BLOCKS,                /* GET /phone/query/blocks */
    ENDPOINT_DISPOSITIONS,          /* GET /phone/query/dispositions */
    ENDPOINT_UPDATE,                /* PATCH /phone/update */
    ENDPOINT_COUNT,
    ENDPOINT_NONE = -1
};

/*
 * The endpoint of the decoded PATH, or ENDPOINT_NONE. For
 * ENDPOINT_QUERY_CRM, *CRM points at the id inside PATH (borrowed).
 * "blocks" and "dispositions" are reserved, any other single segment
 * after /phone/query/ is a crmSettingsId.
 */
enum endpoint endpoint_match(const char *path, const char **crm);

/* E's name in stats and access logs ("query", "query_crm", ...). Static. */
const char *endpoint_name(enum endpoint e);

/*
 * Computes E's real answer for tenant T: CRM_ID (ENDPOINT_QUERY_CRM),
 * the decoded QUERY parameters and the PATCH BODY (ENDPOINT_UPDATE) are
 * borrowed. Sets *OBJ to a new reference the caller puts (status 200),
 * or to NULL with ERRS filled. Returns the status.
 */
int endpoint_answer(enum endpoint e, struct data_tenant *t,
                    const char *crm_id, const struct evkeyvalq *query,
                    const struct json_object *body, int64_t now,
                    struct json_object **obj, struct data_errors *errs);

#endif /* HSP_ENDPOINT_H */
