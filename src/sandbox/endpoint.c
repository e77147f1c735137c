/*
 * endpoint.c - the five endpoints of the S2S API: which decoded path is
 * which, their names in stats and logs, and each one's answer from
 * data.c. No libevent beyond the parameter list; "now" is a parameter.
 * Owns nothing: answers are new references the caller puts.
 */
#include "config.h"

#include "sandbox/endpoint.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "sandbox/data.h"
#include "sandbox/params.h"

#define ENDPOINT_PREFIX "/api/v1/appointment/s2s"

static const char *const endpoint_names[ENDPOINT_COUNT] = {
    "query", "query_crm", "blocks", "dispositions", "update",
};

enum endpoint
endpoint_match(const char *path, const char **crm)
{
    const char *p;

    if (strncmp(path, ENDPOINT_PREFIX, strlen(ENDPOINT_PREFIX)) != 0) {
        return ENDPOINT_NONE;
    }
    p = path + strlen(ENDPOINT_PREFIX);
    if (strcmp(p, "/phone/update") == 0) {
        return ENDPOINT_UPDATE;
    }
    if (strncmp(p, "/phone/query", 12) != 0) {
        return ENDPOINT_NONE;
    }
    p += 12;
    if (*p == '\0') {
        return ENDPOINT_QUERY;
    }
    if (*p != '/' || p[1] == '\0' || strchr(p + 1, '/') != NULL) {
        return ENDPOINT_NONE;
    }
    p++;
    if (strcmp(p, "blocks") == 0) {
        return ENDPOINT_BLOCKS;
    }
    if (strcmp(p, "dispositions") == 0) {
        return ENDPOINT_DISPOSITIONS;
    }
    *crm = p;
    return ENDPOINT_QUERY_CRM;
}

const char *
endpoint_name(enum endpoint e)
{
    return endpoint_names[e];
}

int
endpoint_answer(enum endpoint e, struct data_tenant *t, const char *crm_id,
                const struct evkeyvalq *query, const struct json_object *body,
                int64_t now, struct json_object **obj,
                struct data_errors *errs)
{
    const char *phone = params_get(query, "phone");

    *obj = NULL;
    switch (e) {
    case ENDPOINT_QUERY:
    case ENDPOINT_QUERY_CRM:
        *obj = data_query(t, crm_id, phone, errs);
        break;
    case ENDPOINT_BLOCKS:
        *obj = data_blocks(t, phone, params_get(query, "simpleBlockId"),
                           params_get(query, "limitDays"), now, errs);
        break;
    case ENDPOINT_DISPOSITIONS:
        *obj = data_dispositions(t);
        break;
    case ENDPOINT_UPDATE:
        *obj = data_update(t, body, now, errs);
        break;
    case ENDPOINT_COUNT:
    case ENDPOINT_NONE:
        break;
    }
    if (*obj != NULL) {
        return 200;
    }
    if (errs->count == 0) {
        errs->status = 500;
        errs->count = 1;
        snprintf(errs->msg[0], sizeof(errs->msg[0]), "out of memory");
    }
    return errs->status;
}
