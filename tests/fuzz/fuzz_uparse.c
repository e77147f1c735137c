/*
 * fuzz_uparse.c - libFuzzer harness for the upstream response parser
 * (src/uparse.c), which reads every byte an upstream sends. The input's
 * first byte picks a split point and the HEAD flag; the rest is what
 * the upstream sent.
 *
 * Properties checked on every input:
 *   - fed whole, one byte at a time, and in two parts, the parser gives
 *     the same error, end, bytes used, status, fields and body (an
 *     upstream's TCP segmentation never changes how an answer is read);
 *   - it uses every byte until the answer ends, none after;
 *   - the body and head never pass their limits;
 *   - only an ended answer can be reusable.
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>

#include "uparse.h"

#define HEAD_MAX 512
#define BODY_MAX 1024

struct run {
    enum uparse_error err;
    size_t            used;
    bool              done;
    bool              reusable;
    int               status;
    unsigned long     fields;       /* a hash of names and values */
    size_t            body_len;
    unsigned long     body;         /* a hash of the body */
};

static unsigned long
hash(unsigned long h, const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        h = h * 31 + (unsigned char)p[i];
    }
    return h;
}

static void
on_status(void *arg, int status, const char *reason)
{
    struct run *r = arg;

    r->status = status;
    FUZZ_CHECK(status >= 200 && status <= 599, "a final status");
}

static void
on_field(void *arg, const char *name, const char *value)
{
    struct run *r = arg;

    r->fields = hash(hash(r->fields, name, strlen(name)), value,
                     strlen(value) + 1);
}

static void
on_body(void *arg, const char *p, size_t len)
{
    struct run *r = arg;

    FUZZ_CHECK(len > 0, "no empty body pieces");
    r->body_len += len;
    r->body = hash(r->body, p, len);
    FUZZ_CHECK(r->body_len <= BODY_MAX, "the body limit");
}

/* Feeds P in pieces of STEP bytes (0: as one, with AT: split there). */
static void
run(struct run *r, bool head, const char *p, size_t len, size_t step,
    size_t at)
{
    static const struct uparse_limits lim = { HEAD_MAX, BODY_MAX };
    static const struct uparse_cbs    cbs = { on_status, on_field, on_body };
    struct uparse                    *u;
    size_t                            off = 0, n, used;

    memset(r, 0, sizeof(*r));
    u = uparse_new(&lim, &cbs, r);
    FUZZ_CHECK(u != NULL, "memory");
    uparse_reset(u, head);
    while (off < len && r->err == UPARSE_OK && !uparse_done(u)) {
        n = step != 0 ? step : off < at ? at - off : len - off;
        if (n > len - off) {
            n = len - off;
        }
        r->err = uparse_feed(u, p + off, n, &used);
        FUZZ_CHECK(used <= n, "used no more than fed");
        FUZZ_CHECK(r->err != UPARSE_OK || uparse_done(u) || used == n,
                   "every byte until the end");
        off += used;
        if (r->err != UPARSE_OK) {
            break;
        }
    }
    r->used = off;
    r->done = uparse_done(u);
    r->reusable = uparse_reusable(u);
    FUZZ_CHECK(!r->reusable || r->done, "reusable only when ended");
    FUZZ_CHECK(uparse_error_name(r->err) != NULL, "a named error");
    uparse_free(u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run  whole, bytes, split;
    const char *p;
    size_t      len, at;
    bool        head;

    if (size < 1) {
        return 0;
    }
    head = (data[0] & 0x80) != 0;
    p = (const char *)data + 1;
    len = size - 1;
    at = len > 0 ? (data[0] & 0x7f) % (len + 1) : 0;
    run(&whole, head, p, len, 0, len);
    run(&bytes, head, p, len, 1, 0);
    run(&split, head, p, len, 0, at);
    FUZZ_CHECK(whole.err == bytes.err && whole.err == split.err,
               "the same error");
    FUZZ_CHECK(whole.done == bytes.done && whole.done == split.done,
               "the same end");
    if (whole.err == UPARSE_OK) {
        FUZZ_CHECK(whole.used == bytes.used && whole.used == split.used,
                   "the same bytes used");
        FUZZ_CHECK(whole.body_len == bytes.body_len &&
                       whole.body == bytes.body &&
                       whole.body == split.body,
                   "the same body");
        FUZZ_CHECK(whole.reusable == bytes.reusable, "the same reuse");
    }
    FUZZ_CHECK(whole.status == bytes.status && whole.status == split.status,
               "the same status");
    FUZZ_CHECK(whole.fields == bytes.fields && whole.fields == split.fields,
               "the same fields");
    return 0;
}
