/*
 * route.h - the route table of SPEC §2 and §10: (method, path) -> route.
 * Pure: no libevent, so the table is unit-tested without a loop.
 */
#ifndef HSP_ROUTE_H
#define HSP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define ROUTE_PREFIX  "/api/v1/appointment/s2s"
#define ROUTE_CRM_MAX 128           /* longest crmSettingsId accepted */

enum route_id {
    ROUTE_NONE = 0,                 /* no such path: 404 */
    ROUTE_QUERY,                    /* GET /phone/query */
    ROUTE_QUERY_CRM,                /* GET /phone/query/{crmSettingsId} */
    ROUTE_BLOCKS,                   /* GET /phone/query/blocks */
    ROUTE_DISPOSITIONS,             /* GET /phone/query/dispositions */
    ROUTE_UPDATE,                   /* PATCH /phone/update */
    ROUTE_HEALTHZ,                  /* GET /healthz: the proxy's own */
    ROUTE_READYZ,                   /* GET /readyz: the proxy's own */
    ROUTE_METRICS,                  /* GET /metrics: the proxy's own */
    ROUTE_COUNT
};

/* Request methods, as a bit set so a route can allow several. */
enum route_method {
    ROUTE_M_GET = 1 << 0,
    ROUTE_M_HEAD = 1 << 1,
    ROUTE_M_POST = 1 << 2,
    ROUTE_M_PUT = 1 << 3,
    ROUTE_M_DELETE = 1 << 4,
    ROUTE_M_OPTIONS = 1 << 5,
    ROUTE_M_PATCH = 1 << 6,
    ROUTE_M_OTHER = 1 << 7,
    ROUTE_M_PURGE = 1 << 8          /* the proxy's own (SPEC §13) */
};

enum route_result {
    ROUTE_OK,                       /* path and method match */
    ROUTE_NOT_FOUND,                /* no route has this path */
    ROUTE_BAD_METHOD                /* the path exists, not this method */
};

struct route_match {
    enum route_id id;               /* the route, ROUTE_NONE if not found */
    unsigned      allowed;          /* enum route_method bits of the path */
    const char   *name;             /* short label for logs and metrics */
    bool          upstream_api;     /* forwarded to the upstream */
    char          crm[ROUTE_CRM_MAX + 1]; /* crmSettingsId, raw as sent */
};

/*
 * Matches PATH (the raw, still percent-encoded path without the query)
 * and METHOD against the table. Fills OUT in every case (OUT->allowed
 * tells a 405 which methods to list). Pure and total: never fails on
 * any input.
 */
enum route_result route_match(const char *path, enum route_method method,
                              struct route_match *out);

/* The label of ID ("query", "blocks", ...); "none" for ROUTE_NONE. */
const char *route_name(enum route_id id);

/*
 * Writes the methods of ALLOWED as an Allow header value ("GET, PATCH")
 * into BUF of CAP bytes.
 */
void route_allow_header(unsigned allowed, char *buf, size_t cap);

/* The name of method bit M ("PATCH"), "OTHER" for ROUTE_M_OTHER or a
 * bit that is no method. Static. */
const char *route_method_name(enum route_method m);

/* The method bit for a method name ("PATCH"), ROUTE_M_OTHER if unknown. */
enum route_method route_method_from_name(const char *name);

#endif /* HSP_ROUTE_H */
