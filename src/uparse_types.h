/*
 * uparse_types.h - the verdicts on one answer from the upstream: why it
 * was refused (enum uparse_error) and what its body is coded in (enum
 * uparse_coding). uparse (uparse.h) gives them, ufields (ufields.h)
 * finds some of them in the fields it reads for uparse, and uconn counts
 * and acts on them. Types only.
 */
#ifndef HSP_UPARSE_TYPES_H
#define HSP_UPARSE_TYPES_H

/*
 * Why an answer was refused. The names (uparse_error_name) are the
 * `kind` label of heavyset_upstream_protocol_errors_total and appear in
 * logs: keep them stable. The last three are found by the driver, not by
 * the parser, and are here so that one table names them all.
 */
enum uparse_error {
    UPARSE_OK = 0,
    UPARSE_BAD_STATUS_LINE,         /* not HTTP/1.x SP 3DIGIT SP reason */
    UPARSE_BAD_HEADER,              /* bad byte in a field, obs-fold */
    UPARSE_BAD_FRAMING,             /* Transfer-Encoding not just
                                       "chunked", Content-Length not a
                                       number */
    UPARSE_DUPLICATE_LENGTH,        /* Content-Lengths that differ */
    UPARSE_LENGTH_AND_CHUNKED,      /* Content-Length and chunked */
    UPARSE_BAD_CHUNK,               /* chunk size or chunk framing */
    UPARSE_BODY_ON_NO_CONTENT,      /* a body on 204 or 304 */
    UPARSE_UNEXPECTED_1XX,          /* 101 Switching Protocols */
    UPARSE_TOO_LARGE,               /* head or body past the limits */
    UPARSE_TRUNCATED,               /* EOF inside the answer */
    UPARSE_EXCESS_DATA,             /* bytes past the answer's end */
    UPARSE_UNREQUESTED_CODING,      /* a Content-Encoding not asked for */
    UPARSE_BAD_CODING,              /* gzip that does not inflate */
    UPARSE_ERROR_COUNT
};

/* What the answer's Content-Encoding says the body is in. */
enum uparse_coding {
    UPARSE_CODING_IDENTITY,         /* none, or "identity" */
    UPARSE_CODING_GZIP,             /* "gzip" or "x-gzip", once */
    UPARSE_CODING_OTHER             /* anything else, or stacked codings */
};

#endif /* HSP_UPARSE_TYPES_H */
