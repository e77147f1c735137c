/*
 * client.h - one worker's client connections, for the two limits evhttp
 * 2.1 lacks (PITFALLS §4.1.14, SPEC §8):
 *
 *   - max_connections: the worker's share of it. At its share the worker
 *     stops accepting (like HAProxy's maxconn): new clients wait in the
 *     kernel's listen queue, and are accepted as soon as one of the
 *     worker's connections closes. Nothing is refused, nothing accepted
 *     is dropped.
 *   - client_timeout: the time a connection has to deliver one whole
 *     request (headers and body), from its start or from the end of the
 *     previous answer. evhttp's own timeout restarts on every byte read,
 *     so a client sending one byte a second (slowloris) would hold the
 *     connection forever. Past the deadline a connection that sent part of
 *     a request gets a 408 in the upstream's format and is closed; an idle
 *     one is just closed (RFC 9112 §9.5).
 *
 * evhttp shows no connection until a request is complete, so the set
 * learns of a connection from the bufferevent callback (evhttp_set_bevcb),
 * which runs inside evhttp's accept, and takes the connection over
 * (its close callback, a deadline timer) from an event activated there,
 * which runs before the loop polls again: before the connection can see
 * any I/O, so before evhttp can free it.
 *
 * The set also sees each request's raw bytes before evhttp parses them
 * (an evbuffer callback on the connection's input, which runs inside the
 * bufferevent's read, before evhttp's read callback), through the lexer
 * (lex.h): what evhttp hides (obs-fold lines, NUL bytes) is reported with
 * the request; what evhttp would refuse with its own HTML page is
 * answered here instead, in the upstream's format, and the connection
 * closed: its input is dropped, so evhttp never parses it.
 *
 * One set per worker, used only on that worker's loop.
 */
#ifndef HSP_CLIENT_H
#define HSP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client_set;
struct event_base;
struct evconnlistener;
struct evhttp;
struct evhttp_request;

/*
 * Creates the set for HTTP on BASE (both borrowed; BASE outlives the
 * set) and installs its bufferevent callback on HTTP. CAP is the worker's
 * share of max_connections (> 0), TIMEOUT_MS client_timeout. Returns NULL
 * when out of memory. Free it with client_set_free AFTER evhttp_free,
 * whose closing connections still report to it.
 */
/* What a request came as, when evhttp reads it as another method. */
enum client_sent {
    CLIENT_SENT_AS_READ,            /* the method evhttp reports */
    CLIENT_SENT_GET,                /* a GET, which evhttp reads as a PUT */
    CLIENT_SENT_PURGE               /* a PURGE, which it reads as a TRACE */
};

struct client_set *client_set_new(struct event_base *base, struct evhttp *http,
                                  size_t cap, int64_t timeout_ms);

/*
 * The listener the set pauses at its cap and resumes below it (borrowed;
 * evhttp owns it). NULL once evhttp no longer accepts (shutdown).
 */
void client_set_listener(struct client_set *cs, struct evconnlistener *lev);

/*
 * A complete request arrived on one of the set's connections (call it
 * from evhttp's request callback, before answering): its deadline stops
 * until the answer is written, then restarts for the next request.
 * Returns why its raw header must be refused (lex_verdict: a static
 * string), or NULL. *SENT says what the request came as when evhttp
 * read it as another method (client.c explains).
 */
const char *client_request_arrived(struct client_set *cs,
                                   struct evhttp_request *req,
                                   enum client_sent *sent);

/*
 * evhttp's limits on a request's head and body, as set on HTTP: the
 * lexer refuses what passes them no later than evhttp would. BODY_REFUSE
 * is the proxy's own max_body, which a request that expects 100-continue
 * is held to before evhttp invites its body.
 */
void client_set_limits(struct client_set *cs, size_t head_max,
                       int64_t body_max, int64_t body_refuse);

/* The number of open client connections of this worker. */
size_t client_count(const struct client_set *cs);

/* Frees CS. NULL-safe. */
void client_set_free(struct client_set *cs);

#endif /* HSP_CLIENT_H */
