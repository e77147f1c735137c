/*
 * route.c - the route table (SPEC §2): exact paths, then the one
 * parametric path /phone/query/{crmSettingsId}, whose reserved words
 * `blocks` and `dispositions` are exact entries and so win.
 */
#include "config.h"

#include "route.h"

#include <stdio.h>
#include <string.h>

struct route_entry {
    enum route_id id;
    const char   *path;             /* exact path; NULL: the crm pattern */
    unsigned      methods;          /* enum route_method bits */
    bool          upstream_api;
};

/* HEAD on a cacheable route is answered like GET, without the body
 * (SPEC §11); PURGE drops what it cached (SPEC §13). */
#define ROUTE_CACHEABLE (ROUTE_M_GET | ROUTE_M_HEAD | ROUTE_M_PURGE)

static const struct route_entry route_table[] = {
    { ROUTE_QUERY, ROUTE_PREFIX "/phone/query", ROUTE_CACHEABLE, true },
    { ROUTE_BLOCKS, ROUTE_PREFIX "/phone/query/blocks", ROUTE_CACHEABLE,
      true },
    { ROUTE_DISPOSITIONS, ROUTE_PREFIX "/phone/query/dispositions",
      ROUTE_CACHEABLE, true },
    { ROUTE_UPDATE, ROUTE_PREFIX "/phone/update", ROUTE_M_PATCH, true },
    { ROUTE_HEALTHZ, "/healthz", ROUTE_M_GET | ROUTE_M_HEAD, false },
    { ROUTE_READYZ, "/readyz", ROUTE_M_GET | ROUTE_M_HEAD, false },
    { ROUTE_METRICS, "/metrics", ROUTE_M_GET | ROUTE_M_HEAD, false },
    { ROUTE_QUERY_CRM, NULL, ROUTE_CACHEABLE, true },
};

static const char *const route_names[ROUTE_COUNT] = {
    [ROUTE_NONE] = "none",
    [ROUTE_QUERY] = "query",
    [ROUTE_QUERY_CRM] = "query_crm",
    [ROUTE_BLOCKS] = "blocks",
    [ROUTE_DISPOSITIONS] = "dispositions",
    [ROUTE_UPDATE] = "update",
    [ROUTE_HEALTHZ] = "healthz",
    [ROUTE_READYZ] = "readyz",
    [ROUTE_METRICS] = "metrics",
};

static const struct {
    enum route_method bit;
    const char       *name;
} route_methods[] = {
    { ROUTE_M_GET, "GET" },         { ROUTE_M_HEAD, "HEAD" },
    { ROUTE_M_POST, "POST" },       { ROUTE_M_PUT, "PUT" },
    { ROUTE_M_DELETE, "DELETE" },   { ROUTE_M_OPTIONS, "OPTIONS" },
    { ROUTE_M_PATCH, "PATCH" },     { ROUTE_M_PURGE, "PURGE" },
};

/*
 * Whether PATH is ROUTE_PREFIX/phone/query/<one segment>, and if so copies
 * the segment. A segment is non-empty, has no '/', and fits ROUTE_CRM_MAX.
 */
static bool
route_crm_segment(const char *path, char *crm, size_t cap)
{
    static const char base[] = ROUTE_PREFIX "/phone/query/";
    const char       *seg;
    size_t            len;

    if (strncmp(path, base, sizeof(base) - 1) != 0) {
        return false;
    }
    seg = path + sizeof(base) - 1;
    len = strlen(seg);
    if (len == 0 || len >= cap || strchr(seg, '/') != NULL) {
        return false;
    }
    memcpy(crm, seg, len + 1);
    return true;
}

enum route_result
route_match(const char *path, enum route_method method,
            struct route_match *out)
{
    const struct route_entry *e = NULL;
    size_t                    i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < sizeof(route_table) / sizeof(route_table[0]); i++) {
        if (route_table[i].path != NULL &&
            strcmp(route_table[i].path, path) == 0) {
            e = &route_table[i];
            break;
        }
        if (route_table[i].path == NULL &&
            route_crm_segment(path, out->crm, sizeof(out->crm))) {
            e = &route_table[i];
            break;
        }
    }
    if (e == NULL) {
        out->id = ROUTE_NONE;
        out->name = route_names[ROUTE_NONE];
        return ROUTE_NOT_FOUND;
    }
    out->allowed = e->methods;
    out->name = route_names[e->id];
    out->upstream_api = e->upstream_api;
    out->id = e->id;
    if ((e->methods & (unsigned)method) == 0) {
        return ROUTE_BAD_METHOD;
    }
    return ROUTE_OK;
}

const char *
route_name(enum route_id id)
{
    if ((unsigned)id >= ROUTE_COUNT) {
        return route_names[ROUTE_NONE];
    }
    return route_names[id];
}

void
route_allow_header(unsigned allowed, char *buf, size_t cap)
{
    size_t i, pos = 0;

    if (cap == 0) {
        return;
    }
    buf[0] = '\0';
    for (i = 0; i < sizeof(route_methods) / sizeof(route_methods[0]); i++) {
        size_t need;

        if ((allowed & (unsigned)route_methods[i].bit) == 0) {
            continue;
        }
        need = (pos > 0 ? 2 : 0) + strlen(route_methods[i].name);
        if (pos + need >= cap) {
            return;                 /* whole names only */
        }
        snprintf(buf + pos, cap - pos, "%s%s", pos > 0 ? ", " : "",
                 route_methods[i].name);
        pos += need;
    }
}

enum route_method
route_method_from_name(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(route_methods) / sizeof(route_methods[0]); i++) {
        if (strcmp(route_methods[i].name, name) == 0) {
            return route_methods[i].bit;
        }
    }
    return ROUTE_M_OTHER;
}

const char *
route_method_name(enum route_method m)
{
    size_t i;

    for (i = 0; i < sizeof(route_methods) / sizeof(route_methods[0]); i++) {
        if (route_methods[i].bit == m) {
            return route_methods[i].name;
        }
    }
    return "OTHER";
}
