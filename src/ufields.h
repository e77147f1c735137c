/*
 * ufields.h - what the upstream parser (uparse) reads from the fields of
 * an answer's final head itself: its framing (Content-Length,
 * Transfer-Encoding), whether the connection stays open (Connection,
 * Keep-Alive) and its Content-Encoding. Pure: no libevent, no I/O.
 *
 * uparse checks a field line's bytes and hands each name and value here;
 * the rules for repeats and lists are in uparse.h. The values are a plain
 * struct that uparse embeds; it owns nothing.
 */
#ifndef HSP_UFIELDS_H
#define HSP_UFIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include "uparse_types.h"

struct ufields {
    bool     have_length;           /* a Content-Length was read */
    uint64_t length;                /* its value */
    int      chunked;               /* "chunked" codings seen */
    bool     conn_close;            /* Connection: close */
    int64_t  ka_timeout;            /* Keep-Alive: timeout=, or -1 */
    int      gzip;                  /* gzip codings seen */
    bool     other_coding;          /* a coding other than gzip */
};

/* Sets F to a head that has said nothing yet. */
void ufields_init(struct ufields *f);

/*
 * Reads the field NAME: VALUE (VALUE without surrounding OWS) into F when
 * it is one of ours; any other field is left alone. Both are borrowed and
 * left unchanged. Returns UPARSE_OK, or the error that refuses the answer.
 */
enum uparse_error ufields_read(struct ufields *f, const char *name,
                               const char *value);

/* The Content-Encoding that F's fields add up to. */
enum uparse_coding ufields_coding(const struct ufields *f);

#endif /* HSP_UFIELDS_H */
