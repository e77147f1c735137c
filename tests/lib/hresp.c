/*
 * hresp.c - the HTTP test client's responses: the parser for one response
 * (Content-Length, chunked or read-to-close framing), and the accessors
 * of struct hresp (see hclient.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hwire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

static char *
strndup_or_null(const char *s, size_t n)
{
    char *p;

    p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Whether the comma-separated list LIST has the token TOKEN. */
static bool
list_has_token(const char *list, const char *token)
{
    size_t      tlen = strlen(token);
    const char *p = list;
    const char *end;

    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        end = p;
        while (*end != '\0' && *end != ',') {
            end++;
        }
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if ((size_t)(end - p) == tlen && strncasecmp(p, token, tlen) == 0) {
            return true;
        }
        p = end;
        while (*p != '\0' && *p != ',') {
            p++;
        }
    }
    return false;
}

/* ---- response parsing ------------------------------------------------- */

static void
headers_free(struct hheader *h, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* Finds the end of the head ("\r\n\r\n") in P..P+LEN; NULL if absent. */
static const char *
find_head_end(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i + 3 < len; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
            p[i + 3] == '\n') {
            return p + i + 4;
        }
    }
    return NULL;
}

/*
 * Parses the status line and header lines in P..END (END just past the
 * blank line) into TMP. Returns 0 or -1 (malformed).
 */
static int
parse_head(const char *p, const char *end, struct hresp *tmp)
{
    const char     *eol, *colon, *v, *ve;
    struct hheader *h;
    char            code[4];

    eol = strstr(p, "\r\n");
    if (eol == NULL || eol - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 ||
        p[8] != ' ' || strspn(p + 9, "0123456789") < 3) {
        return -1;
    }
    memcpy(code, p + 9, 3);
    code[3] = '\0';
    tmp->status = atoi(code);
    v = p + 12;
    while (v < eol && *v == ' ') {
        v++;
    }
    tmp->reason = strndup_or_null(v, (size_t)(eol - v));
    if (tmp->reason == NULL) {
        return -1;
    }

    for (p = eol + 2; p < end - 2; p = eol + 2) {
        eol = strstr(p, "\r\n");
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p) {
            return -1;
        }
        v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t')) {
            v++;
        }
        ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
            ve--;
        }
        h = realloc(tmp->headers, (tmp->nheaders + 1) * sizeof(*h));
        if (h == NULL) {
            return -1;
        }
        tmp->headers = h;
        h = &tmp->headers[tmp->nheaders];
        h->name = strndup_or_null(p, (size_t)(colon - p));
        h->value = strndup_or_null(v, (size_t)(ve - v));
        tmp->nheaders++;
        if (h->name == NULL || h->value == NULL) {
            return -1;
        }
    }
    return 0;
}

/*
 * Decodes a chunked body at P..P+LEN into BODY. Returns 1 with *USED set
 * when the last chunk and the trailers have arrived, 0 when more bytes
 * are needed, -1 when malformed.
 */
static int
parse_chunked(const char *p, size_t len, struct hbuf *body, size_t *used)
{
    size_t      pos = 0, size;
    const char *eol, *end;
    char       *num_end;

    for (;;) {
        eol = memmem(p + pos, len - pos, "\r\n", 2);
        if (eol == NULL) {
            return 0;
        }
        errno = 0;
        size = strtoul(p + pos, &num_end, 16);
        if (num_end == p + pos || errno != 0 ||
            (num_end < eol && *num_end != ';' && *num_end != ' ')) {
            return -1;
        }
        pos = (size_t)(eol - p) + 2;
        if (size == 0) {
            /* Trailers, then the blank line. */
            for (;;) {
                eol = memmem(p + pos, len - pos, "\r\n", 2);
                if (eol == NULL) {
                    return 0;
                }
                end = eol + 2;
                if (eol == p + pos) {
                    *used = (size_t)(end - p);
                    return 1;
                }
                pos = (size_t)(end - p);
            }
        }
        if (len - pos < size + 2) {
            return 0;
        }
        if (p[pos + size] != '\r' || p[pos + size + 1] != '\n') {
            return -1;
        }
        if (hbuf_add(body, p + pos, size) == -1) {
            return -1;
        }
        pos += size + 2;
    }
}

int
hresp_parse(const char *p, size_t len, bool head, bool at_eof,
            struct hresp *out, size_t *used)
{
    struct hresp       tmp;
    struct hbuf        body = { NULL, 0, 0 };
    const char        *head_end, *te, *cl;
    size_t             start = 0, head_len, body_used = 0;
    char              *num_end;
    unsigned long long clen;
    int                rc;

    memset(&tmp, 0, sizeof(tmp));
    for (;;) {
        head_end = find_head_end(p + start, len - start);
        if (head_end == NULL) {
            return 0;
        }
        if (parse_head(p + start, head_end, &tmp) == -1) {
            hconn_error(out, "malformed response head");
            rc = -1;
            goto done;
        }
        if (tmp.status >= 200 || tmp.status == 101) {
            break;
        }
        /* An interim 1xx: skip it. */
        hresp_free(&tmp);
        start = (size_t)(head_end - p);
    }
    head_len = (size_t)(head_end - p);
    p = head_end;
    len -= head_len;

    te = hresp_header(&tmp, "Transfer-Encoding");
    cl = hresp_header(&tmp, "Content-Length");
    rc = 1;
    if (head || tmp.status == 204 || tmp.status == 304 || tmp.status == 101) {
        body_used = 0;
    } else if (te != NULL && list_has_token(te, "chunked")) {
        rc = parse_chunked(p, len, &body, &body_used);
        if (rc == -1) {
            hconn_error(out, "malformed chunked body");
        }
    } else if (cl != NULL) {
        errno = 0;
        clen = strtoull(cl, &num_end, 10);
        if (num_end == cl || *num_end != '\0' || errno != 0 ||
            hresp_header_count(&tmp, "Content-Length") > 1) {
            hconn_error(out, "bad Content-Length \"%s\"", cl);
            rc = -1;
        } else if (len < clen) {
            rc = 0;
        } else {
            body_used = (size_t)clen;
            if (hbuf_add(&body, p, body_used) == -1) {
                rc = -1;
            }
        }
    } else if (at_eof) {
        body_used = len;
        if (hbuf_add(&body, p, len) == -1) {
            rc = -1;
        }
    } else {
        rc = 0;                     /* read to close */
    }

    if (rc == 1) {
        tmp.body = hbuf_take(&body, &tmp.body_len);
        if (tmp.body == NULL) {
            rc = -1;
            goto done;
        }
        *used = head_len + body_used;
        out->status = tmp.status;
        out->reason = tmp.reason;
        out->headers = tmp.headers;
        out->nheaders = tmp.nheaders;
        out->body = tmp.body;
        out->body_len = tmp.body_len;
        memset(&tmp, 0, sizeof(tmp));
    }

done:
    free(body.p);
    hresp_free(&tmp);
    return rc;
}


/* ---- public: responses ------------------------------------------------ */

void
hresp_free(struct hresp *r)
{
    if (r == NULL) {
        return;
    }
    free(r->reason);
    headers_free(r->headers, r->nheaders);
    free(r->body);
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

const char *
hresp_header_nth(const struct hresp *r, const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            if (n == 0) {
                return r->headers[i].value;
            }
            n--;
        }
    }
    return NULL;
}

const char *
hresp_header(const struct hresp *r, const char *name)
{
    return hresp_header_nth(r, name, 0);
}

size_t
hresp_header_count(const struct hresp *r, const char *name)
{
    size_t i, n = 0;

    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            n++;
        }
    }
    return n;
}

/* Parses LEN bytes of P as one JSON value; trailing blanks allowed. */
static struct json_object *
json_parse_all(const char *p, size_t len)
{
    struct json_tokener *tok;
    struct json_object  *obj;
    size_t               end;

    if (p == NULL || len > INT_MAX) {
        return NULL;
    }
    tok = json_tokener_new();
    if (tok == NULL) {
        return NULL;
    }
    obj = json_tokener_parse_ex(tok, p, (int)len);
    if (obj != NULL) {
        end = json_tokener_get_parse_end(tok);
        while (end < len && strchr(" \t\r\n", p[end]) != NULL) {
            end++;
        }
        if (end != len) {
            json_object_put(obj);
            obj = NULL;
        }
    }
    json_tokener_free(tok);
    return obj;
}

struct json_object *
hresp_json(const struct hresp *r)
{
    return json_parse_all(r->body, r->body_len);
}

