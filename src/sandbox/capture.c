/* capture.c - a request's method, target, headers and body as JSON. */
#include "config.h"

#include "sandbox/capture.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

/*
 * The length of the valid UTF-8 sequence at S (LEN bytes left), or 0
 * when the bytes there are not one (RFC 3629 §4: no overlongs, no
 * surrogates, nothing past U+10FFFF).
 */
static size_t
capture_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t        need, k;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (need >= len) {
        return 0;
    }
    for (k = 1; k <= need; k++) {
        if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf)) {
            return 0;
        }
    }
    return need + 1;
}

char *
capture_utf8_copy(const unsigned char *s, size_t len, size_t *outlen)
{
    char  *out = malloc(len * 3 + 1);
    size_t i = 0, o = 0, n;

    if (out == NULL) {
        return NULL;
    }
    while (i < len) {
        n = capture_utf8_seq(s + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);    /* U+FFFD */
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* Adds header H to HEADERS, joining a repeated name with ", ". */
static void
capture_join(struct json_object *headers, const struct evkeyval *h)
{
    struct json_object *prev;
    char               *joined;

    if (json_object_object_get_ex(headers, h->key, &prev) &&
        asprintf(&joined, "%s, %s", json_object_get_string(prev),
                 h->value) >= 0) {
        json_object_object_add(headers, h->key,
                               json_object_new_string(joined));
        free(joined);
        return;
    }
    json_object_object_add(headers, h->key, json_object_new_string(h->value));
}

struct json_object *
capture_request(struct evhttp_request *req, const char *method,
                const unsigned char *body, size_t len, size_t total)
{
    struct json_object    *res, *headers, *list, *pair;
    const struct evkeyval *h;
    char                  *text = NULL;
    size_t                 tlen = 0;

    res = json_object_new_object();
    headers = json_object_new_object();
    list = json_object_new_array();
    if (len == total && body != NULL) {
        text = capture_utf8_copy(body, len, &tlen);
    }
    if (res == NULL || headers == NULL || list == NULL ||
        (len == total && body != NULL && text == NULL)) {
        json_object_put(res);
        json_object_put(headers);
        json_object_put(list);
        free(text);
        return NULL;
    }
    json_object_object_add(res, "method", json_object_new_string(method));
    json_object_object_add(res, "path",
                           json_object_new_string(evhttp_request_get_uri(req)));
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
        pair = json_object_new_array();
        if (pair != NULL) {
            json_object_array_add(pair, json_object_new_string(h->key));
            json_object_array_add(pair, json_object_new_string(h->value));
            json_object_array_add(list, pair);
        }
        capture_join(headers, h);
    }
    json_object_object_add(res, "headers", headers);
    json_object_object_add(res, "header_list", list);
    if (total == 0) {
        json_object_object_add(res, "body", json_object_new_string(""));
    } else {
        json_object_object_add(res, "body",
                               text == NULL ? NULL
                                            : json_object_new_string_len(
                                                  text, (int)tlen));
    }
    json_object_object_add(res, "body_length",
                           json_object_new_int64((int64_t)total));
    free(text);
    return res;
}
