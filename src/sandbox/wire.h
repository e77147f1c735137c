/*
 * wire.h - how every answer of the sandbox (API and admin alike) goes
 * on the wire: the habits of a Node/Express application behind a load
 * balancer, each switchable (struct wire_habits): a "103 Early Hints"
 * with a Link header written before the final answer; "Keep-Alive:
 * timeout=N" (with "Connection: keep-alive" unless the request asked to
 * close); gzip or deflate as compression() does it (coding.h: "Vary:
 * Accept-Encoding" on every answer, a coding only for bodies of
 * CODING_MIN_SIZE bytes or more and never for HEAD); "Transfer-Encoding:
 * chunked" in chunks of at most WIRE_CHUNK_SIZE bytes instead of
 * Content-Length.
 *
 * Misbehaviours (api.h says when; HEAD answers normally) are written raw,
 * every byte built here: the answer's real status and JSON body B of n
 * bytes, Content-Type, Date, the keep-alive headers above, after a 103
 * when early hints are on:
 *   long-body         Content-Length n-3, then all of B: the last 3
 *                     bytes stay on the kept-alive connection
 *   two-lengths       Content-Length n, then Content-Length n+10, B
 *   body-on-204       "204 No Content", no length, then B anyway
 *   bad-header-byte   "X-Sandbox-Note: bad\x01byte", Content-Length n, B
 *   bad-header-name   "X-Sandbox Note: bad name", Content-Length n, B
 *   unasked-coding    B in the first of br, deflate, gzip that the
 *                     request's Accept-Encoding does not accept (br when it
 *                     accepts all), with Content-Encoding, Vary and the
 *                     encoded length
 *   after-last-chunk  B as one chunk, the 0-chunk, then a whole second
 *                     answer nobody asked for (WIRE_SURPLUS_BODY)
 *   http10-close      "HTTP/1.0", "Connection: close", no length, B, and
 *                     the connection closed
 * The connection stays open after all but the last, as a kept-alive one
 * does: a client that reuses it reads the surplus as its next answer.
 *
 * Every function here answers REQ exactly once; evhttp owns REQ and
 * frees it once answered, so the caller must not touch it afterwards.
 */
#ifndef HSP_WIRE_H
#define HSP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/faults.h"

#define WIRE_CHUNK_SIZE 16384      /* bytes per chunk: a zlib stream's */
#define WIRE_SURPLUS_BODY "{\"sandbox\":\"surplus after the last chunk\"}"

/* The transport habits of every answer (see above). */
struct wire_habits {
    bool gzip;                      /* compress when the client accepts */
    int  gzip_min;                  /* ... bodies of at least this many
                                     * bytes (compression()'s threshold,
                                     * CODING_MIN_SIZE, by default) */
    bool chunked;                   /* Transfer-Encoding: chunked */
    bool early_hints;               /* a 103 before each final answer */
    int  keepalive_s;               /* advertised Keep-Alive timeout; 0:
                                     * no Keep-Alive header */
};

struct evhttp_request;
struct json_object;
struct wire;                       /* opaque */

/*
 * A new wire with a copy of HABITS; the caller frees it with
 * wire_free() after the last answer. Returns NULL when out of memory.
 * The caller sets evhttp's idle timeout to match habits->keepalive_s.
 */
struct wire *wire_new(const struct wire_habits *habits);

/* Frees RP. NULL-safe. */
void wire_free(struct wire *w);

/* The habits now, and new ones (POST /__sandbox/config); both copied. */
void wire_get_habits(const struct wire *w, struct wire_habits *out);
void wire_set_habits(struct wire *w, const struct wire_habits *habits);

/*
 * Answers REQ with STATUS and the LEN bytes at S (borrowed) as its JSON
 * body, with RP's habits, or as the misbehaviour MIS; 500 if S is NULL
 * or memory runs out.
 */
void wire_bytes(struct wire *w, struct evhttp_request *req, int status,
                const char *s, size_t len, enum faults_misbehave mis);

/* The same with OBJ serialised compactly (borrowed; the caller puts it). */
void wire_json(struct wire *w, struct evhttp_request *req, int status,
               struct json_object *obj, enum faults_misbehave mis);

/* The upstream's error payload of STATUS with the N messages MSGS. */
void wire_error(struct wire *w, struct evhttp_request *req, int status,
                const char *const *msgs, size_t n,
                enum faults_misbehave mis);

/* The error payload of STATUS with the one message MSG. */
void wire_message(struct wire *w, struct evhttp_request *req, int status,
                  const char *msg, enum faults_misbehave mis);

/*
 * Answers REQ with STATUS (404, 405) and "Cannot METHOD PATH" as NestJS
 * does. Bytes of PATH outside printable ASCII are %-escaped and a long
 * PATH is cut, so the payload stays valid JSON whatever was requested.
 */
void wire_no_route(struct wire *w, struct evhttp_request *req, int status,
                   const char *method, const char *path);

/* The 429 of @nestjs/throttler, with Retry-After: RETRY_AFTER seconds. */
void wire_throttled(struct wire *w, struct evhttp_request *req,
                    int64_t retry_after, enum faults_misbehave mis);

/*
 * Closes REQ's connection without an answer. evhttp owns the connection
 * and frees REQ with it; only ever called from a timer, never from inside
 * evhttp's own request callback. A request whose client already left has
 * no connection: "answering" it just frees it.
 */
void wire_drop(struct evhttp_request *req);

#endif /* HSP_WIRE_H */
