/*
 * upstream_wire.h - private to the upstream pool: how a request to the
 * upstream looks on the wire (SPEC §11). Builds bytes into a buffer the
 * caller owns; no I/O, no state.
 */
#ifndef HSP_UPSTREAM_WIRE_H
#define HSP_UPSTREAM_WIRE_H

#include <stddef.h>

#include "upstream_msg.h"
#include "url.h"

struct evbuffer;

/* Room for any Host field value upstream_wire_host writes. */
#define UPSTREAM_WIRE_HOST_MAX (URL_HOST_MAX + 8)

/*
 * Writes the Host field value that names URL (never the client's Host)
 * into BUF of CAP bytes: the host, bracketed when it is an IPv6 address,
 * and the port unless it is the scheme's default.
 */
void upstream_wire_host(char *buf, size_t cap, const struct url_upstream *url);

/*
 * Appends RQ as an HTTP/1.1 request (head and body) for HOST (a Host
 * value) to W: the caller's end-to-end fields, then the pool's own
 * (X-Request-Id, Accept-Encoding: gzip, Content-Length). Returns 0, or -1
 * when RQ cannot be written (a method outside GET..PATCH, a URI holding
 * SP, CR or LF) or when out of memory; W may then hold part of it.
 */
int upstream_wire_build(struct evbuffer *w, const struct upstream_request *rq,
                        const char *host);

#endif /* HSP_UPSTREAM_WIRE_H */
