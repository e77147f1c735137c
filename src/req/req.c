/*
 * req/req.c - the request object (req/req.h): allocation with spares,
 * the access-log line, the door, clocks, and the stored form of a held
 * answer.
 */
#include "config.h"

#include "req/req.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "access.h"
#include "cache.h"
#include "conf.h"
#include "log.h"
#include "lograte.h"
#include "seal.h"
#include "stats.h"
#include "store.h"
#include "tkeys.h"

#define REQ_SPARE_MAX 256           /* freed requests kept per worker */

static req_door_fn req_door;

void
req_door_set(req_door_fn door)
{
    assert(req_door == NULL || req_door == door);
    req_door = door;
}

void
req_event(struct req *r, enum req_event ev, const void *data)
{
    assert(req_door != NULL);
    req_door(r, ev, data);
}

void
req_on_store_reply(struct redisReply *reply, void *arg)
{
    req_event(arg, REQ_EV_STORE, reply);
}

int64_t
req_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t
req_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
req_lease_ms(const struct conf *cf)
{
    return cf->upstream_timeout_ms + 2 * cf->redis_timeout_ms + 1000;
}

int64_t
req_redis_deadline_at(const struct conf *cf, int64_t sent_ms,
                      int64_t offset_ms)
{
    int64_t margin = cf->redis_timeout_ms / 2;

    if (margin > REQ_CLOCK_ERROR_MS) {
        margin = REQ_CLOCK_ERROR_MS;
    }
    return sent_ms + offset_ms + cf->redis_timeout_ms - margin;
}

int64_t
req_redis_deadline_ms(const struct req *r)
{
    int64_t offset;

    if (!store_clock_offset(r->env->store, &offset)) {
        return 0;
    }
    return req_redis_deadline_at(r->env->cf, req_now_ms(), offset);
}

bool
req_phone_name(const struct req *r, char *out)
{
    return key_phone(tkeys_ctx(r->env->keys), tkey_keys(r->keys), r->phone,
                     out) == 0;
}

bool
req_idem_name(const struct req *r, const char *idem, char *out)
{
    return key_idem_name(tkeys_ctx(r->env->keys), tkey_keys(r->keys), idem,
                         out) == 0;
}

int
req_key_entry(const struct req *r, const struct key_query *q,
              struct key_entry *out)
{
    char ph[KEY_NAME_HEX + 1] = "";

    /* Dispositions name no phone: no HMAC for them. */
    if (r->route.id != ROUTE_DISPOSITIONS && !req_phone_name(r, ph)) {
        return -1;
    }
    return key_entry(r->env->cf->redis_prefix, r->tenant, r->route.id, ph,
                     r->route.crm, q, out);
}

/*
 * The associated data of a value stored under HASH, FIELD: the key name,
 * a NUL, the field (key names hold no NUL). seal.h adds its version.
 */
static size_t
req_entry_aad(const char *hash, const char *field, char *out, size_t cap)
{
    size_t h = strlen(hash), f = strlen(field);

    if (h + 1 + f > cap) {
        return 0;
    }
    memcpy(out, hash, h);
    out[h] = '\0';
    memcpy(out + h + 1, field, f);
    return h + 1 + f;
}

struct evbuffer *
req_entry_value(const struct req *r, const char *hash, const char *field,
                int status, int64_t ttl_ms)
{
    struct cache_entry e;
    struct evbuffer   *v;
    struct evbuffer_iovec iov;
    const char        *ctype = evhttp_find_header(&r->headers, "Content-Type");
    char               header[CACHE_HEADER_MAX];
    char               aad[REQ_AAD_MAX];
    size_t             aad_len = req_entry_aad(hash, field, aad, sizeof(aad));
    size_t             len = evbuffer_get_length(r->body), sealed = 0;
    int                n;

    memset(&e, 0, sizeof(e));
    e.status = status;
    e.stored_ms = req_now_ms();
    e.ttl_ms = ttl_ms;
    e.ctype = ctype != NULL ? ctype : "";
    e.ctype_len = strlen(e.ctype);
    n = cache_entry_header(&e, header, sizeof(header));
    if (n < 0 || aad_len == 0 || r->keys == NULL) {
        return NULL;
    }
    /* The header stays plain (no personal data; the scripts judge
     * freshness from it); the body after it is sealed. */
    v = evbuffer_new();
    if (v == NULL || evbuffer_add(v, header, (size_t)n) != 0 ||
        evbuffer_reserve_space(v, len + SEAL_OVERHEAD, &iov, 1) < 1 ||
        seal_seal(tkeys_ctx(r->env->keys), tkey_keys(r->keys), aad, aad_len,
                  evbuffer_pullup(r->body, -1), len, iov.iov_base,
                  iov.iov_len, &sealed) != SEAL_OK) {
        if (v != NULL) {
            evbuffer_free(v);
        }
        return NULL;
    }
    iov.iov_len = sealed;
    if (evbuffer_commit_space(v, &iov, 1) != 0) {
        evbuffer_free(v);
        return NULL;
    }
    return v;
}

char *
req_entry_open(const struct req *r, const char *hash, const char *field,
               const char *v, size_t len, size_t *out_len)
{
    static struct lograte failed_log;
    const char           *nl = v != NULL ? memchr(v, '\n', len) : NULL;
    char                  aad[REQ_AAD_MAX];
    size_t                aad_len = req_entry_aad(hash, field, aad,
                                                  sizeof(aad));
    size_t                head, body = 0;
    char                 *out;
    enum seal_status      st = SEAL_ESHORT;

    if (v == NULL || r->keys == NULL) {
        return NULL;
    }
    head = nl != NULL ? (size_t)(nl - v) + 1 : len;
    out = malloc(head + (len - head) + 1);
    if (out == NULL) {
        return NULL;
    }
    if (nl != NULL && aad_len > 0) {
        memcpy(out, v, head);
        st = seal_open(tkeys_ctx(r->env->keys), tkey_keys(r->keys), aad,
                       aad_len, (const unsigned char *)v + head, len - head,
                       out + head, len - head + 1, &body);
    }
    if (st != SEAL_OK) {
        /* Tampered, moved under another name, another tenant's, or not
         * sealed at all: a miss. Never the value in the log. */
        free(out);
        stats_add(STATS_STORE_UNSEAL_FAILURES, 1);
        log_rated(&failed_log, LOG_WARN,
                  "proxy: request %s: a stored value did not open (%s); "
                  "taken as a miss", r->request_id, seal_status_name(st));
        return NULL;
    }
    out[head + body] = '\0';
    *out_len = head + body;
    return out;
}

char *
req_entry_read(const struct req *r, const struct key_entry *k,
               const char *v, size_t len, struct cache_entry *e,
               size_t *plain_len)
{
    char *p = req_entry_open(r, k->hash, k->field, v, len, plain_len);

    if (p != NULL && cache_entry_decode(p, *plain_len, e) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* ---- the set ------------------------------------------------------------ */

void
req_set_init(struct req_set *set)
{
    TAILQ_INIT(&set->list);
    set->n = 0;
    TAILQ_INIT(&set->spare);
    set->nspare = 0;
}

void
req_set_clear(struct req_set *set)
{
    struct req *r;

    while ((r = TAILQ_FIRST(&set->spare)) != NULL) {
        TAILQ_REMOVE(&set->spare, r, next);
        evbuffer_free(r->body);
        free(r);
    }
    set->nspare = 0;
}

/* A zeroed request with an empty body buffer, from SET's spares or new. */
static struct req *
req_alloc(struct req_set *set)
{
    struct req *r = TAILQ_FIRST(&set->spare);

    if (r != NULL) {
        TAILQ_REMOVE(&set->spare, r, next);
        set->nspare--;
        return r;
    }
    r = calloc(1, sizeof(*r));
    if (r != NULL) {
        r->body = evbuffer_new();
        if (r->body == NULL) {
            free(r);
            return NULL;
        }
    }
    return r;
}

struct req *
req_new(const struct req_env *env, struct req_set *set,
        struct evhttp_request *client)
{
    struct req *r = req_alloc(set);

    if (r == NULL) {
        return NULL;
    }
    r->start_us = req_mono_us();
    r->start_ms = req_now_ms();
    r->env = env;
    if (env->use != NULL) {
        env->use(env, +1);
    }
    r->set = set;
    r->client = client;
    r->state = REQ_RECV;
    TAILQ_INIT(&r->headers);
    TAILQ_INSERT_TAIL(&set->list, r, next);
    set->n++;
    return r;
}

/*
 * Writes R's access-log line (access.h), once R is finished: after a
 * stale answer's refresh too, so upstream_ms is then the refresh's.
 * total_ms runs from arrival to the answer.
 */
static void
req_log(const struct req *r)
{
    static const char *const caches[STATS_CACHE_COUNT] = {
        [STATS_CACHE_NONE] = NULL,       [STATS_CACHE_HIT] = "HIT",
        [STATS_CACHE_MISS] = "MISS",     [STATS_CACHE_STALE] = "STALE",
        [STATS_CACHE_BYPASS] = "BYPASS", [STATS_CACHE_REPLAY] = "REPLAY",
    };
    struct access_entry e;

    if (!access_enabled()) {
        return;
    }
    e.time_ms = r->start_ms;
    e.request_id = r->request_id;
    e.method = r->method_name;
    e.route = route_name(r->route.id);
    e.status = r->ans_status;
    e.cache = caches[r->ans_cache];
    e.upstream_us = r->up_called ? r->up_us : -1;
    e.total_us = r->answer_us > r->start_us ? r->answer_us - r->start_us : 0;
    e.tenant = r->tenant;
    e.phone = r->phone;
    access_write(&e);
}

void
req_free(struct req *r)
{
    const struct req_env *env = r->env;

    assert(r->client == NULL && r->call == NULL && r->op == NULL &&
           r->bop == NULL);
    if (r->ans_status != 0) {
        stats_request(r->route.id, r->ans_status, r->ans_cache);
        req_log(r);
    }
    TAILQ_REMOVE(&r->set->list, r, next);
    r->set->n--;
    evhttp_clear_headers(&r->headers);
    tkey_release(r->keys);
    if (r->rate_timer != NULL) {
        event_free(r->rate_timer);
    }
    if (r->set->nspare < REQ_SPARE_MAX) {
        /* Kept for the next request: a request is a few KB, and freeing
         * and allocating one per request costs the allocator a
         * consolidation each time. */
        struct req_set  *set = r->set;
        struct evbuffer *body = r->body;

        evbuffer_drain(body, evbuffer_get_length(body));
        memset(r, 0, sizeof(*r));
        r->body = body;
        TAILQ_INSERT_HEAD(&set->spare, r, next);
        set->nspare++;
    } else {
        evbuffer_free(r->body);
        free(r);
    }
    /* Last: this may free ENV, which nothing above reads any more. */
    if (env->use != NULL) {
        env->use(env, -1);
    }
}
