/*
 * tally.c - the sandbox's counters and its last API request. Owns the
 * last request's description (a json-c reference), put on replacement,
 * reset and tally_free().
 */
#include "config.h"

#include "sandbox/tally.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

struct tally {
    uint64_t            counts[ENDPOINT_COUNT];  /* requests routed */
    uint64_t            rate_limited;   /* answered 429 by the limit */
    uint64_t            faulted;        /* given a fault */
    size_t              nheld;          /* waiting on a delay now */
    struct json_object *last;           /* owned: the last request, or
                                         * NULL */
};

struct tally *
tally_new(void)
{
    return calloc(1, sizeof(struct tally));
}

void
tally_free(struct tally *t)
{
    if (t == NULL) {
        return;
    }
    json_object_put(t->last);
    free(t);
}

void
tally_request(struct tally *t, enum endpoint e)
{
    t->counts[e]++;
}

void
tally_throttled(struct tally *t)
{
    t->rate_limited++;
}

void
tally_faulted(struct tally *t)
{
    t->faulted++;
}

void
tally_hold(struct tally *t)
{
    t->nheld++;
}

void
tally_release(struct tally *t)
{
    t->nheld--;
}

void
tally_set_last(struct tally *t, struct json_object *last)
{
    json_object_put(t->last);
    t->last = last;
}

struct json_object *
tally_last(const struct tally *t)
{
    return t->last == NULL ? NULL : json_object_get(t->last);
}

struct json_object *
tally_stats(const struct tally *t)
{
    struct json_object *res = json_object_new_object();
    struct json_object *req = json_object_new_object();
    uint64_t            total = 0;
    size_t              i;

    if (res == NULL || req == NULL) {
        json_object_put(res);
        json_object_put(req);
        return NULL;
    }
    for (i = 0; i < ENDPOINT_COUNT; i++) {
        json_object_object_add(req, endpoint_name((enum endpoint)i),
                               json_object_new_int64((int64_t)t->counts[i]));
        total += t->counts[i];
    }
    json_object_object_add(res, "requests", req);
    json_object_object_add(res, "total",
                           json_object_new_int64((int64_t)total));
    json_object_object_add(res, "rate_limited",
                           json_object_new_int64((int64_t)t->rate_limited));
    json_object_object_add(res, "faults",
                           json_object_new_int64((int64_t)t->faulted));
    json_object_object_add(res, "held",
                           json_object_new_int64((int64_t)t->nheld));
    return res;
}

void
tally_reset(struct tally *t)
{
    memset(t->counts, 0, sizeof(t->counts));
    t->rate_limited = 0;
    t->faulted = 0;
    json_object_put(t->last);
    t->last = NULL;
}
