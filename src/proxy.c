/*
 * proxy.c - one worker's front end and the request lifecycle, as one
 * explicit state machine (SPEC §2-§4, §7, §8):
 *
 *   RECV ---(local answer: 4xx, healthz, metrics)-----------------> DONE
 *   RECV ---> LOOKUP ---(fresh entry: HIT)------------------------> DONE
 *               |  \---(only-if-cached, nothing: 504)-------------> DONE
 *               v
 *   RECV ---> FETCH ---(error, or answer not to store)------------> DONE
 *               |---(answer to store)---> STORE ---(stored or not)-> DONE
 *               \---(PATCH)---> [WRITE] ---> [SETTLE] ------------> DONE
 *               ^
 *   RECV ---> CLAIM ---(replay 2xx-4xx, 409 in flight, 422)-------> DONE
 *
 * A PATCH with an Idempotency-Key first CLAIMs its record (SPEC §5); after
 * FETCH it WRITEs the lead through when the answer calls for it (SPEC §4),
 * then SETTLEs the record: the answer stored, or the claim released.
 *
 * Only req_step() changes a request's state or answers the client, and it
 * answers exactly once. Every wait is bounded: Redis by redis_timeout,
 * the upstream by upstream_timeout. Redis faults turn into misses and
 * skipped writes, never into a failed request.
 */
#include "config.h"

#include "proxy.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "cache.h"
#include "conf.h"
#include "http.h"
#include "idem.h"
#include "json.h"
#include "key.h"
#include "log.h"
#include "lua.h"
#include "phone.h"
#include "respond.h"
#include "route.h"
#include "stats.h"
#include "store.h"
#include "update.h"
#include "upstream.h"
#include "url.h"

#define PROXY_HEADERS_MAX   (32 * 1024)     /* request line + headers */
#define PROXY_CLIENT_IDLE_S 60              /* keep-alive idle timeout */
#define PROXY_BODY_SLACK    (64 * 1024)
#define PROXY_TOKEN_MAX     4096
#define PROXY_EPOCH_MAX     24
#define PROXY_EPOCH_TTL_MS  ((int64_t)24 * 3600 * 1000)
#define PROXY_LEASE_SLACK_MS 1000           /* a claim outlives its request */

enum req_state {
    REQ_RECV,           /* just arrived: route, check, decide */
    REQ_CLAIM,          /* PATCH: claiming its Idempotency-Key record */
    REQ_LOOKUP,         /* waiting for Redis: the entry and its epoch */
    REQ_FETCH,          /* waiting for the upstream */
    REQ_STORE,          /* filling the cache before answering */
    REQ_WRITE,          /* PATCH: writing through before answering */
    REQ_SETTLE,         /* PATCH: storing or releasing its record */
    REQ_DONE            /* answered; the request is freed */
};

enum req_event {
    REQ_EV_START,       /* evhttp handed us the request */
    REQ_EV_STORE,       /* a Redis call completed (data: the reply) */
    REQ_EV_UPSTREAM,    /* the upstream call completed */
    REQ_EV_ABORT        /* shutdown: answer now */
};

/* What REQ_EV_UPSTREAM carries. */
struct req_upstream_result {
    enum upstream_error             err;
    const struct upstream_response *resp;   /* NULL unless err is OK */
};

struct req {
    TAILQ_ENTRY(req)        next;   /* in the proxy's in-flight list */
    struct proxy           *px;     /* borrowed: the owning worker */
    struct evhttp_request  *client; /* evhttp's; NULL once answered */
    enum req_state          state;
    struct route_match      route;
    enum route_method       method;
    const char             *method_name;    /* static */
    struct upstream_call   *call;   /* while in FETCH */
    struct store_op        *op;     /* while in CLAIM, LOOKUP, STORE, WRITE,
                                       SETTLE */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char tenant[KEY_TENANT_HEX + 1];
    char phone[PHONE_E164_MAX];     /* normalised; "" if none */

    /* cache */
    struct cache_directives dir;
    struct key_query        q;
    struct key_entry        key;
    bool                    cacheable;  /* KEY is valid for this request */
    bool                    may_store;  /* the answer may be stored */
    char                    epoch[PROXY_EPOCH_MAX]; /* seen by the lookup */
    char                    bgen[PROXY_EPOCH_MAX];
    const char             *x_cache;    /* what the answer will say */
    const char             *fwd;        /* Cache-Status fwd= reason */
    const char             *detail;     /* Cache-Status detail=, or NULL */

    /* PATCH */
    bool                    is_update;
    bool                    books;      /* blockId or cancelAppt */
    bool                    idem;       /* has an Idempotency-Key we guard */
    bool                    idem_claimed;   /* we own its record's claim */
    char                    idem_record[KEY_MAX];   /* its Redis key */
    char                    idem_owner[HTTP_REQUEST_ID_MAX + 1]; /* random */
    char                    idem_fp[IDEM_FP_HEX + 1];

    /* the upstream's answer, kept while STORE or WRITE runs */
    enum upstream_error     uerr;
    int                     status;
    struct evkeyvalq        headers;
    struct evbuffer        *body;       /* owned */
};

TAILQ_HEAD(req_list, req);

struct proxy {
    struct event_base   *base;      /* borrowed */
    const struct conf   *cf;        /* borrowed */
    struct evhttp       *http;      /* owned */
    struct evhttp_bound_socket *bound; /* owned by HTTP; NULL once stopped */
    struct upstream     *upstream;  /* owned: `upstream` */
    struct upstream     *lowlat;    /* owned: `upstream_lowlatency`, or NULL */
    struct store        *store;     /* owned: the shared Redis */
    struct req_list      inflight;  /* requests not yet answered */
    size_t               ninflight;
};

static void req_step(struct req *r, enum req_event ev, const void *data);
static void on_client_request(struct evhttp_request *client, void *arg);
static void on_upstream_done(enum upstream_error err,
                             const struct upstream_response *resp,
                             const char *why, void *arg);
static void on_store_reply(struct redisReply *reply, void *arg);
static enum req_state req_settle(struct req *r);

/* libevent's command type as a route method bit, and its name. */
static const struct {
    enum evhttp_cmd_type cmd;
    enum route_method    method;
    const char          *name;
} proxy_methods[] = {
    { EVHTTP_REQ_GET, ROUTE_M_GET, "GET" },
    { EVHTTP_REQ_HEAD, ROUTE_M_HEAD, "HEAD" },
    { EVHTTP_REQ_POST, ROUTE_M_POST, "POST" },
    { EVHTTP_REQ_PUT, ROUTE_M_PUT, "PUT" },
    { EVHTTP_REQ_DELETE, ROUTE_M_DELETE, "DELETE" },
    { EVHTTP_REQ_OPTIONS, ROUTE_M_OPTIONS, "OPTIONS" },
    { EVHTTP_REQ_PATCH, ROUTE_M_PATCH, "PATCH" },
};

static enum route_method
proxy_method(enum evhttp_cmd_type cmd, const char **name)
{
    size_t i;

    for (i = 0; i < sizeof(proxy_methods) / sizeof(proxy_methods[0]); i++) {
        if (proxy_methods[i].cmd == cmd) {
            *name = proxy_methods[i].name;
            return proxy_methods[i].method;
        }
    }
    *name = "OTHER";
    return ROUTE_M_OTHER;
}

static struct upstream *
proxy_upstream_new(struct event_base *base, struct evdns_base *dns,
                   SSL_CTX *ctx, const char *url, unsigned conns,
                   int64_t timeout_ms)
{
    struct url_upstream u;
    char                err[128];

    if (url_parse_upstream(url, &u, err, sizeof(err)) != 0) {
        log_err("proxy: upstream %s: %s", url, err);
        return NULL;
    }
    return upstream_new(base, dns, ctx, &u, conns, timeout_ms);
}

struct proxy *
proxy_new(struct event_base *base, struct evdns_base *dns,
          const struct conf *cf, SSL_CTX *ctx, evutil_socket_t listen_fd,
          unsigned nworkers)
{
    struct proxy *px;
    unsigned      conns;

    assert(nworkers > 0);
    px = calloc(1, sizeof(*px));
    if (px == NULL) {
        log_err("proxy: out of memory");
        evutil_closesocket(listen_fd);
        return NULL;
    }
    px->base = base;
    px->cf = cf;
    TAILQ_INIT(&px->inflight);

    /* upstream_connections bounds the whole process: each worker gets
     * its share, rounded up so that none gets zero. */
    conns = (unsigned)((cf->upstream_connections + nworkers - 1) / nworkers);
    px->upstream = proxy_upstream_new(base, dns, ctx, cf->upstream, conns,
                                      cf->upstream_timeout_ms);
    if (px->upstream == NULL) {
        goto fail;
    }
    if (cf->upstream_lowlatency[0] != '\0') {
        px->lowlat = proxy_upstream_new(base, dns, ctx,
                                        cf->upstream_lowlatency, conns,
                                        cf->upstream_timeout_ms);
        if (px->lowlat == NULL) {
            goto fail;
        }
    }
    px->store = store_new(base, cf->redis, cf->redis_timeout_ms);
    if (px->store == NULL) {
        goto fail;
    }

    px->http = evhttp_new(base);
    if (px->http == NULL) {
        log_err("proxy: cannot create the HTTP server");
        goto fail;
    }
    /* Take every method, so that routes answer 405 in the upstream's
     * format instead of evhttp's 501 (PITFALLS §4.1.1). */
    evhttp_set_allowed_methods(px->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                   EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                   EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(px->http, NULL);
    /* evhttp answers a body over its limit with its own HTML page and no
     * hook, so its limit sits above max_body: bodies between the two get
     * our 413 in the upstream's format, and only absurd ones (evhttp's
     * limit, twice max_body at least) get evhttp's page and a close. */
    evhttp_set_max_body_size(px->http,
                             (ev_ssize_t)(cf->max_body +
                                          (cf->max_body > PROXY_BODY_SLACK
                                               ? cf->max_body
                                               : PROXY_BODY_SLACK)));
    evhttp_set_max_headers_size(px->http, PROXY_HEADERS_MAX);
    evhttp_set_timeout(px->http, PROXY_CLIENT_IDLE_S);
    evhttp_set_gencb(px->http, on_client_request, px);
    px->bound = evhttp_accept_socket_with_handle(px->http, listen_fd);
    if (px->bound == NULL) {
        log_err("proxy: cannot accept on the listening socket");
        goto fail;
    }
    return px;

fail:
    if (px->bound == NULL) {
        evutil_closesocket(listen_fd);
    }
    proxy_free(px);
    return NULL;
}

void
proxy_stop_accepting(struct proxy *px)
{
    if (px->bound != NULL) {
        evhttp_del_accept_socket(px->http, px->bound);
        px->bound = NULL;
    }
}

size_t
proxy_inflight(const struct proxy *px)
{
    return px->ninflight;
}

void
proxy_abort_all(struct proxy *px)
{
    struct req *r;

    while ((r = TAILQ_FIRST(&px->inflight)) != NULL) {
        req_step(r, REQ_EV_ABORT, NULL);
    }
}

void
proxy_free(struct proxy *px)
{
    if (px == NULL) {
        return;
    }
    proxy_abort_all(px);
    if (px->http != NULL) {
        evhttp_free(px->http);
    }
    store_free(px->store);
    upstream_free(px->upstream);
    upstream_free(px->lowlat);
    free(px);
}

/* ---- helpers ------------------------------------------------------------ */

static int64_t
proxy_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void
req_error(struct req *r, int status, const char *msg)
{
    respond_error(r->client, r->request_id, status, &msg, 1, NULL);
    r->client = NULL;
}

static void
req_error_with(struct req *r, int status, const char *msg,
               const char *header, const char *value)
{
    struct respond_header extra = { header, value };

    respond_error(r->client, r->request_id, status, &msg, 1, &extra);
    r->client = NULL;
}

static void
req_error_n(struct req *r, int status, const char *const *msgs, size_t n)
{
    respond_error(r->client, r->request_id, status, msgs, n, NULL);
    r->client = NULL;
}

/*
 * Finds the token (SPEC §3): the x-hs-token header, else a `token` query
 * parameter, else a `token` string in BODY (a parsed JSON body, or NULL).
 * Writes it into OUT; returns its length, 0 when there is none. The token
 * is hashed into the tenant and otherwise travels upstream untouched.
 */
static size_t
req_token(struct req *r, const struct json_object *body, char *out,
          size_t cap)
{
    struct evkeyvalq        *in = evhttp_request_get_input_headers(r->client);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    const char              *v, *query;

    v = evhttp_find_header(in, "x-hs-token");
    if (v != NULL && v[0] != '\0') {
        return (size_t)snprintf(out, cap, "%s", v) < cap ? strlen(out) : 0;
    }
    query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    if (query != NULL) {
        struct evkeyvalq params;
        size_t           n = 0;

        TAILQ_INIT(&params);
        if (evhttp_parse_query_str(query, &params) == 0) {
            v = evhttp_find_header(&params, "token");
            if (v != NULL && v[0] != '\0' &&
                (size_t)snprintf(out, cap, "%s", v) < cap) {
                n = strlen(out);
            }
        }
        evhttp_clear_headers(&params);
        if (n > 0) {
            return n;
        }
    }
    v = json_get_string(body, "token");
    if (v != NULL && v[0] != '\0' && (size_t)snprintf(out, cap, "%s", v) < cap) {
        return strlen(out);
    }
    return 0;
}

/* Builds the end-to-end request headers to pass upstream into OUT. */
static void
req_forward_headers(struct req *r, struct evkeyvalq *out)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->client);
    const char       *conn = evhttp_find_header(in, "Connection");
    struct evkeyval  *h;

    TAILQ_FOREACH(h, in, next) {
        if (http_is_hop_by_hop(h->key, conn) ||
            strcasecmp(h->key, "Host") == 0 ||
            strcasecmp(h->key, "Content-Length") == 0 ||
            strcasecmp(h->key, "Expect") == 0 ||
            strcasecmp(h->key, "X-Request-Id") == 0) {
            continue;
        }
        evhttp_add_header(out, h->key, h->value);
    }
}

/* Sends R upstream. Returns the next state. */
static enum req_state
req_forward(struct req *r)
{
    struct upstream_request rq;
    struct evkeyvalq        headers;
    struct upstream        *up;

    up = r->route.id == ROUTE_QUERY_CRM && r->px->lowlat != NULL
             ? r->px->lowlat
             : r->px->upstream;
    TAILQ_INIT(&headers);
    req_forward_headers(r, &headers);
    memset(&rq, 0, sizeof(rq));
    rq.method = evhttp_request_get_command(r->client);
    rq.uri = evhttp_request_get_uri(r->client);
    rq.headers = &headers;
    rq.request_id = r->request_id;
    rq.body = evhttp_request_get_input_buffer(r->client);
    rq.idempotent = r->method == ROUTE_M_GET;
    r->call = upstream_send(up, &rq, on_upstream_done, r);
    evhttp_clear_headers(&headers);
    if (r->call == NULL) {
        req_error(r, 502, "upstream unreachable");
        return REQ_DONE;
    }
    return REQ_FETCH;
}

/* Answers R with the upstream answer it holds, and its cache headers. */
static void
req_deliver(struct req *r, bool stored)
{
    struct respond_cache c = { r->x_cache, NULL, -1, false };
    char                 status[96];

    if (r->x_cache != NULL) {
        snprintf(status, sizeof(status), "fwd=%s%s%s%s", r->fwd,
                 stored ? "; stored" : "", r->detail != NULL ? "; detail=" : "",
                 r->detail != NULL ? r->detail : "");
        c.status = status;
    }
    respond_relay(r->client, r->request_id, r->status, &r->headers, r->body,
                  r->x_cache != NULL ? &c : NULL);
    r->client = NULL;
}

/* Answers R with the local error for a failed upstream call (SPEC §7). */
static void
req_upstream_error(struct req *r, enum upstream_error err)
{
    switch (err) {
    case UPSTREAM_ETIMEOUT:
        req_error(r, 504, "upstream timeout");
        break;
    case UPSTREAM_ETLS:
        req_error(r, 502, "upstream TLS verification failed");
        break;
    case UPSTREAM_EPROTO:
        req_error(r, 502, "invalid upstream response");
        break;
    case UPSTREAM_OK:
    case UPSTREAM_EUNREACHABLE:
        req_error(r, 502, "upstream unreachable");
        break;
    }
}

/* Answers R from what FETCH left: the upstream's answer, or its error. */
static void
req_answer_held(struct req *r)
{
    if (r->uerr != UPSTREAM_OK) {
        req_upstream_error(r, r->uerr);
    } else {
        req_deliver(r, false);
    }
}

/* ---- RECV --------------------------------------------------------------- */

/* GET /metrics: the counters of the whole process (SPEC §10). */
static void
req_metrics(struct req *r)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);
    int    n = buf != NULL ? stats_render(buf, cap) : -1;

    if (n < 0) {
        req_error(r, 500, "metrics unavailable");
    } else {
        respond_text(r->client, r->request_id, 200,
                     "text/plain; version=0.0.4; charset=utf-8", buf,
                     (size_t)n);
        r->client = NULL;
    }
    free(buf);
}

/* Checks the phone of a GET route; answers R and returns false if bad. */
static bool
req_check_phone(struct req *r)
{
    static const char *const empty[] = { "phone should not be empty",
                                         "phone must be a valid phone number" };
    static const char *const invalid[] = {
        "phone must be a valid phone number" };
    static const char *const repeated[] = {
        "phone must be a string", "phone must be a valid phone number" };

    if (!r->q.has_phone || r->q.phone_raw[0] == '\0') {
        req_error_n(r, 400, empty, 2);
        return false;
    }
    if (r->q.phone_repeated) {
        req_error_n(r, 400, repeated, 2);
        return false;
    }
    if (r->q.phone_too_long ||
        phone_normalize(r->q.phone_raw, r->phone, sizeof(r->phone)) != 0) {
        req_error_n(r, 400, invalid, 1);
        return false;
    }
    return true;
}

/*
 * Redis is away or failed the lookup: go on without the cache (SPEC §8),
 * as a miss whose answer is not stored, since no epoch was read.
 */
static enum req_state
req_without_cache(struct req *r)
{
    if (r->dir.only_if_cached) {
        req_error(r, 504, "no cached response");
        return REQ_DONE;
    }
    r->may_store = false;
    r->detail = "store-unavailable";
    return req_forward(r);
}

/* Starts the lookup of R's entry (and epoch). Returns the next state. */
static enum req_state
req_lookup(struct req *r)
{
    const char *argv[5];
    size_t      lens[5];
    bool        blocks = r->route.id == ROUTE_BLOCKS;
    int         i;

    argv[0] = r->key.hash;
    argv[1] = r->key.epoch;
    argv[2] = blocks ? r->key.bgen : r->key.epoch;
    argv[3] = r->key.field;
    argv[4] = blocks ? "1" : "0";
    for (i = 0; i < 5; i++) {
        lens[i] = strlen(argv[i]);
    }
    r->op = store_eval(r->px->store, &lua_lookup, 3, 5, argv, lens,
                       on_store_reply, r);
    if (r->op != NULL) {
        return REQ_LOOKUP;
    }
    return req_without_cache(r);
}

/* RECV for the GET routes: phone, key, directives; lookup or forward. */
static enum req_state
req_recv_read(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evkeyvalq        *in = evhttp_request_get_input_headers(r->client);
    const struct conf       *cf = r->px->cf;

    key_parse_query(uri != NULL ? evhttp_uri_get_query(uri) : NULL, &r->q);
    if (r->route.id != ROUTE_DISPOSITIONS && !req_check_phone(r)) {
        return REQ_DONE;
    }
    cache_parse_directives(evhttp_find_header(in, "Cache-Control"),
                           evhttp_find_header(in, "Pragma"), &r->dir);
    r->cacheable = cache_route_enabled(cf, r->route.id) &&
                   !r->q.limit_days_bad && !r->q.simple_block_id_bad &&
                   key_entry(cf->redis_prefix, r->tenant, r->route.id,
                             r->phone, r->route.crm, &r->q, &r->key) == 0;
    if (!r->cacheable) {
        /* A disabled TTL or parameters we cannot key on: straight
         * through, and the upstream judges the parameters. */
        if (r->dir.only_if_cached) {
            req_error(r, 504, "no cached response");
            return REQ_DONE;
        }
        r->x_cache = "BYPASS";
        r->fwd = "bypass";
        return req_forward(r);
    }
    if (r->dir.no_store) {
        if (r->dir.only_if_cached) {
            req_error(r, 504, "no cached response");
            return REQ_DONE;
        }
        r->x_cache = "BYPASS";
        r->fwd = "request";
        return req_forward(r);
    }
    /* Even no-cache looks up: the fill needs the epoch it read. */
    r->may_store = true;
    r->x_cache = r->dir.no_cache ? "BYPASS" : "MISS";
    r->fwd = r->dir.no_cache ? "request" : "miss";
    return req_lookup(r);
}

/*
 * Checks the Idempotency-Key of a PATCH (SPEC §5) and, when the proxy
 * guards it, fills R's record key. Answers R and returns false when the
 * header is missing but required, malformed, or given twice. With
 * idempotency_ttl 0 the proxy keeps no records and the header goes
 * upstream like any other, unjudged.
 */
static bool
req_idem_check(struct req *r)
{
    static const char     bad[] = "Idempotency-Key must be 1 to 255 visible "
                                  "ASCII characters";
    const struct conf    *cf = r->px->cf;
    struct evkeyvalq     *in = evhttp_request_get_input_headers(r->client);
    const struct evkeyval *h;
    const char           *value = NULL;
    char                  key[IDEM_KEY_MAX + 1];
    unsigned              n = 0;

    if (cf->idempotency_ttl_ms == 0) {
        return true;
    }
    TAILQ_FOREACH(h, in, next) {
        if (strcasecmp(h->key, "Idempotency-Key") == 0) {
            value = h->value;
            n++;
        }
    }
    if (n == 0) {
        if (cf->idempotency_required) {
            req_error(r, 400, "Idempotency-Key header is required");
            return false;
        }
        return true;
    }
    if (n > 1 || idem_key_parse(value, key, sizeof(key)) != 0) {
        req_error(r, 400, bad);
        return false;
    }
    key_idem(cf->redis_prefix, r->tenant, key, r->idem_record);
    r->idem = true;
    return true;
}

/* Computes R's fingerprint from its raw body. Answers R on failure. */
static bool
req_idem_fingerprint(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evbuffer         *in = evhttp_request_get_input_buffer(r->client);
    size_t                   len = evbuffer_get_length(in), clen;
    char                    *canon, err[160];

    if (idem_canonical((const char *)evbuffer_pullup(in, -1), len, &canon,
                       &clen, err, sizeof(err)) != 0) {
        req_error(r, 400, err);
        return false;
    }
    idem_fingerprint(r->method_name, evhttp_uri_get_path(uri), canon, clen,
                     r->idem_fp);
    free(canon);
    if (http_request_id_new(r->idem_owner, sizeof(r->idem_owner)) != 0) {
        req_error(r, 500, "cannot make a random claim id");
        return false;
    }
    return true;
}

/*
 * Redis is away (or its record unreadable, WHY says): forward R without
 * the guard of its key, which still goes upstream (SPEC §5, §8).
 */
static enum req_state
req_idem_unguarded(struct req *r, const char *why)
{
    stats_add(STATS_IDEM_UNPROTECTED, 1);
    log_warn("proxy: request %s: %s; the Idempotency-Key is forwarded "
             "without a claim", r->request_id, why);
    r->idem = false;
    return req_forward(r);
}

/* Claims R's record, with a lease that outlives every wait of R. */
static enum req_state
req_claim(struct req *r)
{
    const struct conf *cf = r->px->cf;
    const char        *argv[4];
    size_t             lens[4];
    char               lease[24];
    int                i;

    snprintf(lease, sizeof(lease), "%" PRId64,
             cf->upstream_timeout_ms + 2 * cf->redis_timeout_ms +
                 PROXY_LEASE_SLACK_MS);
    argv[0] = r->idem_record;
    argv[1] = r->idem_fp;
    argv[2] = r->idem_owner;
    argv[3] = lease;
    for (i = 0; i < 4; i++) {
        lens[i] = strlen(argv[i]);
    }
    r->op = store_eval(r->px->store, &lua_idem_claim, 1, 4, argv, lens,
                       on_store_reply, r);
    if (r->op == NULL) {
        return req_idem_unguarded(r, "redis unavailable");
    }
    return REQ_CLAIM;
}

/* RECV for PATCH /phone/update: local checks first (SPEC §4, §5). */
static enum req_state
req_recv_update(struct req *r, const struct json_object *body,
                const char *parse_err)
{
    struct update_check chk;

    if (body == NULL) {
        req_error(r, 400, parse_err);
        return REQ_DONE;
    }
    if (!req_idem_check(r)) {
        return REQ_DONE;
    }
    if (update_check(body, &chk) != 0) {
        req_error_n(r, 400, chk.msgs, chk.nmsgs);
        return REQ_DONE;
    }
    memcpy(r->phone, chk.phone, sizeof(r->phone));
    r->books = chk.books;
    r->is_update = true;
    if (r->idem) {
        return req_idem_fingerprint(r) ? req_claim(r) : REQ_DONE;
    }
    return req_forward(r);
}

static enum req_state
req_on_recv(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evbuffer         *in = evhttp_request_get_input_buffer(r->client);
    struct json_object      *body = NULL;
    enum route_result        rr;
    enum req_state           next;
    const char              *path;
    char                     allow[64], msg[160], perr[160];
    char                     token[PROXY_TOKEN_MAX];
    size_t                   tlen, blen = evbuffer_get_length(in);

    path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0') {
        req_error(r, 400, "invalid request target");
        return REQ_DONE;
    }
    rr = route_match(path, r->method, &r->route);
    if (rr == ROUTE_NOT_FOUND) {
        /* NestJS's wording, which the upstream uses for unknown routes. */
        snprintf(msg, sizeof(msg), "Cannot %s %.128s", r->method_name, path);
        req_error(r, 404, msg);
        return REQ_DONE;
    }
    if (rr == ROUTE_BAD_METHOD) {
        route_allow_header(r->route.allowed, allow, sizeof(allow));
        req_error_with(r, 405, "method not allowed", "Allow", allow);
        return REQ_DONE;
    }
    if (r->route.id == ROUTE_HEALTHZ) {
        respond_json(r->client, r->request_id, 200, "{\"status\":\"ok\"}");
        r->client = NULL;
        return REQ_DONE;
    }
    if (r->route.id == ROUTE_METRICS) {
        req_metrics(r);
        return REQ_DONE;
    }
    assert(r->route.upstream_api);
    if (blen > (size_t)r->px->cf->max_body) {
        req_error(r, 413, "request body too large");
        return REQ_DONE;
    }
    if (blen > 0) {
        body = json_parse_strict((const char *)evbuffer_pullup(in, -1), blen,
                                 perr, sizeof(perr));
    } else {
        snprintf(perr, sizeof(perr), "body must be a JSON object");
    }
    tlen = req_token(r, body, token, sizeof(token));
    if (tlen == 0) {
        json_object_put(body);
        req_error(r, 401, "token should not be empty");
        return REQ_DONE;
    }
    key_tenant(token, tlen, r->tenant);
    memset(token, 0, sizeof(token));
    if (r->route.id == ROUTE_UPDATE) {
        next = req_recv_update(r, body, perr);
    } else {
        next = req_recv_read(r);
    }
    json_object_put(body);
    return next;
}

/* ---- CLAIM -------------------------------------------------------------- */

/* Whether E is the status-string reply S. */
static bool
req_reply_is(const redisReply *e, const char *s)
{
    return e->type == REDIS_REPLY_STRING && e->len == strlen(s) &&
           memcmp(e->str, s, e->len) == 0;
}

static enum req_state
req_on_claim(struct req *r, const redisReply *reply)
{
    const redisReply *what;
    struct cache_entry e;

    r->op = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 1) {
        return req_idem_unguarded(r, "redis failed the claim");
    }
    what = reply->element[0];
    if (req_reply_is(what, "claimed")) {
        stats_add(STATS_IDEM_CLAIMED, 1);
        r->idem_claimed = true;
        return req_forward(r);
    }
    if (req_reply_is(what, "busy")) {
        stats_add(STATS_IDEM_IN_FLIGHT, 1);
        req_error_with(r, 409, "a request with this Idempotency-Key is in "
                       "flight", "Retry-After", "1");
        return REQ_DONE;
    }
    if (req_reply_is(what, "mismatch")) {
        stats_add(STATS_IDEM_MISMATCH, 1);
        req_error(r, 422, "Idempotency-Key was used with a different request");
        return REQ_DONE;
    }
    if (req_reply_is(what, "done") && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        cache_entry_decode(reply->element[1]->str, reply->element[1]->len,
                           &e) == 0) {
        struct respond_cache c = { "REPLAY", "hit; detail=idempotent-replay",
                                   -1, true };

        /* No write-through: that happened once, on the real answer. */
        stats_add(STATS_IDEM_REPLAYED, 1);
        respond_entry(r->client, r->request_id, &e, &c);
        r->client = NULL;
        return REQ_DONE;
    }
    return req_idem_unguarded(r, "unreadable idempotency record");
}

/* ---- LOOKUP ------------------------------------------------------------- */

static bool
req_copy_epoch(const redisReply *e, char *out, size_t cap)
{
    if (e->type != REDIS_REPLY_STRING || e->len >= cap) {
        return false;
    }
    memcpy(out, e->str, e->len);
    out[e->len] = '\0';
    return true;
}

static enum req_state
req_on_lookup(struct req *r, const redisReply *reply)
{
    struct cache_entry e;
    int64_t            now = proxy_now_ms();

    r->op = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 3 ||
        !req_copy_epoch(reply->element[1], r->epoch, sizeof(r->epoch)) ||
        !req_copy_epoch(reply->element[2], r->bgen, sizeof(r->bgen))) {
        return req_without_cache(r);  /* Redis failed or was slow */
    }
    if (reply->element[0]->type == REDIS_REPLY_STRING &&
        cache_entry_decode(reply->element[0]->str, reply->element[0]->len,
                           &e) == 0) {
        int64_t fresh = cache_entry_fresh_ms(&e, now);
        int64_t age = cache_entry_age_s(&e, now);

        if (!r->dir.no_cache && fresh > 0 &&
            (r->dir.max_age_s < 0 || age <= r->dir.max_age_s)) {
            struct respond_cache c = { "HIT", NULL, age, false };
            char                 status[64];

            snprintf(status, sizeof(status), "hit; ttl=%" PRId64,
                     (fresh + 999) / 1000);
            c.status = status;
            respond_entry(r->client, r->request_id, &e, &c);
            r->client = NULL;
            return REQ_DONE;
        }
        if (!r->dir.no_cache) {
            r->fwd = "stale";
        }
    }
    if (r->dir.only_if_cached) {
        req_error(r, 504, "no cached response");
        return REQ_DONE;
    }
    return req_forward(r);
}

/* ---- FETCH -------------------------------------------------------------- */

/* Keeps the upstream's answer in R for delivery after a Redis call. */
static void
req_keep(struct req *r, const struct upstream_response *resp)
{
    struct evkeyval *h;

    r->status = resp->status;
    TAILQ_FOREACH(h, resp->headers, next) {
        evhttp_add_header(&r->headers, h->key, h->value);
    }
    evbuffer_add_buffer(r->body, resp->body);
}

/* Builds the stored form of R's answer into a new buffer, or NULL. */
static struct evbuffer *
req_entry_value(struct req *r, int status, int64_t ttl_ms)
{
    struct cache_entry e;
    struct evbuffer   *v;
    const char        *ctype = evhttp_find_header(&r->headers, "Content-Type");
    char               header[CACHE_HEADER_MAX];
    int                n;

    memset(&e, 0, sizeof(e));
    e.status = status;
    e.stored_ms = proxy_now_ms();
    e.ttl_ms = ttl_ms;
    e.ctype = ctype != NULL ? ctype : "";
    e.ctype_len = strlen(e.ctype);
    n = cache_entry_header(&e, header, sizeof(header));
    if (n < 0) {
        return NULL;
    }
    v = evbuffer_new();
    if (v == NULL || evbuffer_add(v, header, (size_t)n) != 0 ||
        evbuffer_add(v, evbuffer_pullup(r->body, -1),
                     evbuffer_get_length(r->body)) != 0) {
        if (v != NULL) {
            evbuffer_free(v);
        }
        return NULL;
    }
    return v;
}

/* Starts the conditional fill of R's answer. Returns the next state. */
static enum req_state
req_store(struct req *r, int64_t ttl_ms)
{
    const struct conf *cf = r->px->cf;
    struct evbuffer   *v = req_entry_value(r, r->status, ttl_ms);
    const char        *argv[9];
    size_t             lens[9];
    char               expire[24];
    bool               blocks = r->route.id == ROUTE_BLOCKS;
    int                i;

    if (v == NULL) {
        req_deliver(r, false);
        return REQ_DONE;
    }
    snprintf(expire, sizeof(expire), "%" PRId64,
             cache_expire_ms(cf, ttl_ms));
    argv[0] = r->key.hash;
    argv[1] = r->key.epoch;
    argv[2] = blocks ? r->key.bgen : r->key.epoch;
    argv[3] = r->key.field;
    argv[4] = (const char *)evbuffer_pullup(v, -1);
    argv[5] = expire;
    argv[6] = r->epoch;
    argv[7] = blocks ? "1" : "0";
    argv[8] = r->bgen;
    for (i = 0; i < 9; i++) {
        lens[i] = i == 4 ? evbuffer_get_length(v) : strlen(argv[i]);
    }
    r->op = store_eval(r->px->store, &lua_fill, 3, 9, argv, lens,
                       on_store_reply, r);
    evbuffer_free(v);               /* store_eval copied it */
    if (r->op == NULL) {
        r->detail = "store-unavailable";
        req_deliver(r, false);
        return REQ_DONE;
    }
    return REQ_STORE;
}

/*
 * Starts the write-through (2xx: the returned lead becomes the entry) or
 * the invalidation (5xx, timeout, lost connection: the upstream state is
 * unknown) of a PATCH (SPEC §4). Returns the next state.
 */
static enum req_state
req_write(struct req *r, bool through)
{
    const struct conf *cf = r->px->cf;
    struct key_entry   lead;
    struct evbuffer   *v = NULL;
    const char        *argv[8];
    size_t             lens[8];
    char               blocks[KEY_MAX], expire[24], epoch_expire[24];
    int64_t            expire_ms;
    int                i;

    key_update(cf->redis_prefix, r->tenant, r->phone, &lead, blocks,
               sizeof(blocks));
    if (through && cf->ttl_lead_ms > 0) {
        /* Served later as a /phone/query answer, hence 200. */
        v = req_entry_value(r, 200, cf->ttl_lead_ms);
    }
    expire_ms = cache_expire_ms(cf, cf->ttl_lead_ms);
    snprintf(expire, sizeof(expire), "%" PRId64, expire_ms);
    snprintf(epoch_expire, sizeof(epoch_expire), "%" PRId64,
             expire_ms * 2 > PROXY_EPOCH_TTL_MS ? expire_ms * 2
                                                : PROXY_EPOCH_TTL_MS);
    argv[0] = lead.hash;
    argv[1] = lead.epoch;
    argv[2] = blocks;
    argv[3] = lead.bgen;
    argv[4] = v != NULL ? (const char *)evbuffer_pullup(v, -1) : "";
    argv[5] = expire;
    argv[6] = r->books ? "1" : "0";
    argv[7] = epoch_expire;
    for (i = 0; i < 8; i++) {
        lens[i] = i == 4 && v != NULL ? evbuffer_get_length(v)
                                      : strlen(argv[i]);
    }
    r->op = store_eval(r->px->store, &lua_write, 4, 8, argv, lens,
                       on_store_reply, r);
    if (v != NULL) {
        evbuffer_free(v);
    }
    if (r->op == NULL) {
        log_warn("proxy: request %s: redis unavailable; the cached lead "
                 "could not be %s", r->request_id,
                 through ? "written through" : "dropped");
        return req_settle(r);
    }
    return REQ_WRITE;
}

/*
 * Settles a PATCH's Idempotency-Key record (SPEC §5), then answers. A
 * final answer is stored for idempotency_ttl; a 5xx, a timeout or a lost
 * connection releases the claim so that a retry is forwarded again. So do
 * 408 and 429: both say the request was not acted on, and replaying them
 * for a day would turn a passing refusal into a permanent one.
 */
static enum req_state
req_settle(struct req *r)
{
    const struct conf *cf = r->px->cf;
    struct evbuffer   *v = NULL;
    const char        *argv[5];
    size_t             lens[5];
    char               ttl[24];
    bool               keep;
    int                i, argc;

    if (!r->idem_claimed) {
        req_answer_held(r);
        return REQ_DONE;
    }
    keep = r->uerr == UPSTREAM_OK && r->status < 500 && r->status != 408 &&
           r->status != 429;
    argv[0] = r->idem_record;
    argv[1] = r->idem_owner;
    if (keep) {
        v = req_entry_value(r, r->status, cf->idempotency_ttl_ms);
        keep = v != NULL;
    }
    if (keep) {
        snprintf(ttl, sizeof(ttl), "%" PRId64, cf->idempotency_ttl_ms);
        argv[2] = r->idem_fp;
        argv[3] = (const char *)evbuffer_pullup(v, -1);
        argv[4] = ttl;
        argc = 5;
    } else {
        stats_add(STATS_IDEM_RELEASED, 1);
        argc = 2;
    }
    for (i = 0; i < argc; i++) {
        lens[i] = i == 3 ? evbuffer_get_length(v) : strlen(argv[i]);
    }
    r->op = store_eval(r->px->store,
                       keep ? &lua_idem_complete : &lua_idem_release, 1, argc,
                       argv, lens, on_store_reply, r);
    if (v != NULL) {
        evbuffer_free(v);
    }
    if (r->op == NULL) {
        log_warn("proxy: request %s: redis unavailable; the idempotency "
                 "claim expires with its lease", r->request_id);
        req_answer_held(r);
        return REQ_DONE;
    }
    return REQ_SETTLE;
}

static enum req_state
req_on_settled(struct req *r, const redisReply *reply)
{
    r->op = NULL;
    if (reply == NULL) {
        log_warn("proxy: request %s: the idempotency record could not be "
                 "settled; the claim expires with its lease", r->request_id);
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        log_warn("proxy: request %s: the idempotency claim had expired and "
                 "was taken again; the answer was not stored", r->request_id);
    }
    req_answer_held(r);
    return REQ_DONE;
}

static enum req_state
req_on_fetch(struct req *r, const struct req_upstream_result *res)
{
    int64_t ttl;

    r->call = NULL;                 /* freed by upstream after this */
    r->uerr = res->err;
    if (res->err != UPSTREAM_OK) {
        if (r->is_update) {
            /* The PATCH may have reached the upstream: forget the lead,
             * then say what happened. */
            return req_write(r, false);
        }
        goto fail;
    }
    req_keep(r, res->resp);
    if (r->is_update) {
        if (r->status >= 200 && r->status < 300) {
            return req_write(r, true);
        }
        if (r->status >= 500) {
            return req_write(r, false);
        }
        return req_settle(r);
    }
    ttl = r->may_store ? cache_ttl_ms(r->px->cf, r->route.id, r->status) : 0;
    if (ttl > 0) {
        return req_store(r, ttl);
    }
    req_deliver(r, false);
    return REQ_DONE;

fail:
    req_upstream_error(r, res->err);
    return REQ_DONE;
}

/* After WRITE: settle the record, then answer the PATCH or its error. */
static enum req_state
req_on_written(struct req *r, const redisReply *reply)
{
    r->op = NULL;
    if (reply == NULL) {
        log_warn("proxy: request %s: the cached lead could not be updated",
                 r->request_id);
    }
    return req_settle(r);
}

/* ---- the state machine -------------------------------------------------- */

static const char *const req_state_names[] = {
    [REQ_RECV] = "recv",   [REQ_CLAIM] = "claim",   [REQ_LOOKUP] = "lookup",
    [REQ_FETCH] = "fetch", [REQ_STORE] = "store",   [REQ_WRITE] = "write",
    [REQ_SETTLE] = "settle", [REQ_DONE] = "done",
};

static void
req_free(struct req *r)
{
    assert(r->client == NULL && r->call == NULL && r->op == NULL);
    TAILQ_REMOVE(&r->px->inflight, r, next);
    r->px->ninflight--;
    evhttp_clear_headers(&r->headers);
    evbuffer_free(r->body);
    free(r);
}

/* Shutdown: drop whatever R waits for and answer now. */
static enum req_state
req_abort(struct req *r)
{
    if (r->call != NULL) {
        upstream_cancel(r->call);
        r->call = NULL;
    }
    if (r->op != NULL) {
        store_cancel(r->op);
        r->op = NULL;
    }
    /* A claim left behind expires with its lease, like a killed proxy's. */
    if (r->state == REQ_STORE || r->state == REQ_WRITE ||
        r->state == REQ_SETTLE) {
        req_answer_held(r);         /* the answer is here: give it */
    } else {
        req_error(r, 503, "shutting down");
    }
    return REQ_DONE;
}

static void
req_step(struct req *r, enum req_event ev, const void *data)
{
    enum req_state next = r->state;

    if (ev == REQ_EV_ABORT) {
        assert(r->state != REQ_DONE);
        next = req_abort(r);
    } else {
        switch (r->state) {
        case REQ_RECV:
            assert(ev == REQ_EV_START);
            next = req_on_recv(r);
            break;
        case REQ_CLAIM:
            assert(ev == REQ_EV_STORE);
            next = req_on_claim(r, data);
            break;
        case REQ_LOOKUP:
            assert(ev == REQ_EV_STORE);
            next = req_on_lookup(r, data);
            break;
        case REQ_FETCH:
            assert(ev == REQ_EV_UPSTREAM);
            next = req_on_fetch(r, data);
            break;
        case REQ_STORE:
            assert(ev == REQ_EV_STORE);
            r->op = NULL;
            req_deliver(r, data != NULL &&
                               ((const redisReply *)data)->type ==
                                   REDIS_REPLY_INTEGER &&
                               ((const redisReply *)data)->integer == 1);
            next = REQ_DONE;
            break;
        case REQ_WRITE:
            assert(ev == REQ_EV_STORE);
            next = req_on_written(r, data);
            break;
        case REQ_SETTLE:
            assert(ev == REQ_EV_STORE);
            next = req_on_settled(r, data);
            break;
        case REQ_DONE:
            assert(!"event on a finished request");
            return;
        }
    }
    log_debug("proxy: request %s: %s -> %s", r->request_id,
              req_state_names[r->state], req_state_names[next]);
    r->state = next;
    if (next == REQ_DONE) {
        assert(r->client == NULL);
        req_free(r);
    }
}

/* ---- callbacks ---------------------------------------------------------- */

static void
on_client_request(struct evhttp_request *client, void *arg)
{
    struct proxy *px = arg;
    struct req   *r;
    const char   *id;

    r = calloc(1, sizeof(*r));
    if (r != NULL) {
        r->body = evbuffer_new();
    }
    if (r == NULL || r->body == NULL) {
        log_err("proxy: out of memory");
        free(r);
        evhttp_send_error(client, 503, "Service Unavailable");
        return;
    }
    r->px = px;
    r->client = client;
    r->state = REQ_RECV;
    TAILQ_INIT(&r->headers);
    r->method = proxy_method(evhttp_request_get_command(client),
                             &r->method_name);
    id = evhttp_find_header(evhttp_request_get_input_headers(client),
                            "X-Request-Id");
    if (id != NULL && http_request_id_valid(id)) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", id);
    } else if (http_request_id_new(r->request_id, sizeof(r->request_id)) !=
               0) {
        snprintf(r->request_id, sizeof(r->request_id), "%" PRId64,
                 proxy_now_ms());
    }
    TAILQ_INSERT_TAIL(&px->inflight, r, next);
    px->ninflight++;
    req_step(r, REQ_EV_START, NULL);
}

static void
on_upstream_done(enum upstream_error err, const struct upstream_response *resp,
                 const char *why, void *arg)
{
    struct req                *r = arg;
    struct req_upstream_result res = { err, resp };

    req_step(r, REQ_EV_UPSTREAM, &res);
}

static void
on_store_reply(struct redisReply *reply, void *arg)
{
    struct req *r = arg;

    req_step(r, REQ_EV_STORE, reply);
}
