/*
 * ufields.c - the fields of an answer's final head that the upstream
 * parser reads itself (see ufields.h): each is split into its
 * comma-separated elements, and each element is judged by the field's
 * reader from a table.
 *
 * Owns nothing: the values go into the caller's struct ufields, and a
 * value is cut up in a copy freed before returning.
 */
#include "config.h"

#include "ufields.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UFIELDS_CL_DIGITS    18     /* decimal digits of a length */
#define UFIELDS_TIMEOUT_MAX  86400  /* Keep-Alive timeout=, seconds */

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void
ufields_init(struct ufields *f)
{
    memset(f, 0, sizeof(*f));
    f->ka_timeout = -1;
}

/* Calls each comma-separated, OWS-trimmed, non-empty element of VALUE
 * (which it cuts up in place) with FN; stops at FN's first error. */
static enum uparse_error
each_element(struct ufields *f, char *value,
             enum uparse_error (*fn)(struct ufields *, char *))
{
    char             *s = value, *e, *end;
    enum uparse_error err;

    for (;;) {
        end = strchr(s, ',');
        if (end != NULL) {
            *end = '\0';
        }
        while (is_ows(*s)) {
            s++;
        }
        e = s + strlen(s);
        while (e > s && is_ows(e[-1])) {
            *--e = '\0';
        }
        if (*s != '\0' && (err = fn(f, s)) != UPARSE_OK) {
            return err;
        }
        if (end == NULL) {
            return UPARSE_OK;
        }
        s = end + 1;
    }
}

static enum uparse_error
on_length(struct ufields *f, char *s)
{
    uint64_t v = 0;
    size_t   n = strlen(s), i;

    if (n == 0 || n > UFIELDS_CL_DIGITS) {
        return UPARSE_BAD_FRAMING;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return UPARSE_BAD_FRAMING;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (f->have_length && f->length != v) {
        return UPARSE_DUPLICATE_LENGTH;
    }
    f->have_length = true;
    f->length = v;
    return UPARSE_OK;
}

static enum uparse_error
on_transfer_coding(struct ufields *f, char *s)
{
    /* Only "chunked", once: any other coding (or chunked twice) is a
     * framing we would read differently from someone else. */
    if (strcasecmp(s, "chunked") != 0 || f->chunked > 0) {
        return UPARSE_BAD_FRAMING;
    }
    f->chunked++;
    return UPARSE_OK;
}

static enum uparse_error
on_connection(struct ufields *f, char *s)
{
    if (strcasecmp(s, "close") == 0) {
        f->conn_close = true;
    }
    return UPARSE_OK;
}

static enum uparse_error
on_keep_alive(struct ufields *f, char *s)
{
    int64_t v = 0;
    size_t  i = 8;

    if (strncasecmp(s, "timeout=", 8) != 0) {
        return UPARSE_OK;           /* max=, extensions: not ours */
    }
    if (s[i] == '"') {
        i++;
    }
    if (s[i] < '0' || s[i] > '9') {
        return UPARSE_OK;           /* unreadable: as if not said */
    }
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v < UFIELDS_TIMEOUT_MAX) {
            v = v * 10 + (s[i] - '0');
        }
    }
    f->ka_timeout = v < UFIELDS_TIMEOUT_MAX ? v : UFIELDS_TIMEOUT_MAX;
    return UPARSE_OK;
}

static enum uparse_error
on_content_coding(struct ufields *f, char *s)
{
    if (strcasecmp(s, "identity") == 0) {
        return UPARSE_OK;
    }
    if (strcasecmp(s, "gzip") == 0 || strcasecmp(s, "x-gzip") == 0) {
        f->gzip++;
    } else {
        f->other_coding = true;
    }
    return UPARSE_OK;
}

/* The fields read here, by name. */
static const struct {
    const char *name;
    enum uparse_error (*fn)(struct ufields *, char *);
} ufields_table[] = {
    { "Content-Length", on_length },
    { "Transfer-Encoding", on_transfer_coding },
    { "Connection", on_connection },
    { "Keep-Alive", on_keep_alive },
    { "Content-Encoding", on_content_coding },
};

enum uparse_error
ufields_read(struct ufields *f, const char *name, const char *value)
{
    char             *copy;
    size_t            i;
    enum uparse_error err;

    for (i = 0; i < sizeof(ufields_table) / sizeof(ufields_table[0]); i++) {
        if (strcasecmp(name, ufields_table[i].name) != 0) {
            continue;
        }
        if (ufields_table[i].fn == on_length &&
            strspn(value, ", \t") == strlen(value)) {
            return UPARSE_BAD_FRAMING;  /* a length that says nothing */
        }
        /* Elements are cut up in place: work on a copy. */
        copy = strdup(value);
        if (copy == NULL) {
            return UPARSE_TOO_LARGE;    /* cannot hold it */
        }
        err = each_element(f, copy, ufields_table[i].fn);
        free(copy);
        return err;
    }
    return UPARSE_OK;
}

enum uparse_coding
ufields_coding(const struct ufields *f)
{
    if (f->other_coding || f->gzip > 1) {
        return UPARSE_CODING_OTHER;
    }
    return f->gzip == 1 ? UPARSE_CODING_GZIP : UPARSE_CODING_IDENTITY;
}
