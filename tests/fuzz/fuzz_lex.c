/*
 * fuzz_lex.c - libFuzzer harness for the raw request lexer (src/lex.c),
 * which reads every byte a client sends before evhttp does. The input is
 * the raw bytes of a connection.
 *
 * Properties checked on every input:
 *   - the bytes fed whole, one by one, and in two parts split where the
 *     input's first byte says give the same state, refusal, message,
 *     flags and count of bytes taken (a slow client and a fast one get
 *     the same answer at the same byte);
 *   - lex_feed takes every byte until the request ends, and none after;
 *   - a refusal is one of the statuses client.c answers, with a message
 *     of printable ASCII, and is final;
 *   - under limits, a request the unlimited lexer takes is refused, if
 *     at all, only for a limit (413, 414, 431).
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>

#include "lex.h"

struct run {
    struct lex lx;
    size_t     used;
};

static void
run_whole(struct run *r, const struct lex_limits *lim, const char *p,
          size_t len)
{
    lex_reset(&r->lx, lim);
    r->used = lex_feed(&r->lx, p, len);
}

static void
run_split(struct run *r, const struct lex_limits *lim, const char *p,
          size_t len, size_t at)
{
    lex_reset(&r->lx, lim);
    r->used = lex_feed(&r->lx, p, at);
    r->used += lex_feed(&r->lx, p + at, len - at);
}

static void
run_bytes(struct run *r, const struct lex_limits *lim, const char *p,
          size_t len)
{
    size_t i;

    lex_reset(&r->lx, lim);
    r->used = 0;
    for (i = 0; i < len; i++) {
        r->used += lex_feed(&r->lx, p + i, 1);
    }
}

static void
check_same(const struct run *a, const struct run *b)
{
    const char *wa = NULL, *wb = NULL;

    FUZZ_CHECK(a->used == b->used, "same bytes taken");
    FUZZ_CHECK(a->lx.state == b->lx.state, "same state");
    FUZZ_CHECK(lex_fatal(&a->lx, &wa) == lex_fatal(&b->lx, &wb),
               "same refusal");
    FUZZ_CHECK(wa == wb, "same message");
    FUZZ_CHECK(a->lx.folded == b->lx.folded && a->lx.nul == b->lx.nul,
               "same flags");
}

static void
check_run(const struct run *r, size_t len)
{
    const char *why = NULL;
    int         fatal = lex_fatal(&r->lx, &why);
    size_t      i;

    FUZZ_CHECK(r->used <= len, "takes no more than it is given");
    FUZZ_CHECK(r->lx.state == LEX_DONE || r->used == len,
               "takes every byte until the request ends");
    if (fatal == 0) {
        return;
    }
    FUZZ_CHECK(fatal == 400 || fatal == 413 || fatal == 414 ||
                   fatal == 431 || fatal == 501 || fatal == 505,
               "a status client.c answers");
    FUZZ_CHECK(r->lx.state == LEX_DONE, "a refusal ends the request");
    FUZZ_CHECK(why != NULL && *why != '\0', "a refusal has a message");
    for (i = 0; why[i] != '\0'; i++) {
        FUZZ_CHECK(why[i] >= 0x20 && why[i] < 0x7f, "printable message");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct lex_limits lim = { 200, 100, 50 };
    const char *p = (const char *)data;
    struct run  whole, bytes, split, limited;
    struct lex  again;
    size_t      at = size > 0 ? data[0] % (size + 1) : 0;
    int         fatal;

    run_whole(&whole, NULL, p, size);
    run_bytes(&bytes, NULL, p, size);
    run_split(&split, NULL, p, size, at);
    check_run(&whole, size);
    check_same(&whole, &bytes);
    check_same(&whole, &split);

    /* A refusal is final: more bytes are not taken, nothing changes. */
    fatal = lex_fatal(&whole.lx, NULL);
    if (fatal != 0) {
        again = whole.lx;
        FUZZ_CHECK(lex_feed(&again, p, size) == 0 || size == 0,
                   "nothing taken after a refusal");
        FUZZ_CHECK(lex_fatal(&again, NULL) == fatal, "refusal is final");
    }

    run_whole(&limited, &lim, p, size);
    check_run(&limited, size);
    run_bytes(&bytes, &lim, p, size);
    check_same(&limited, &bytes);
    if (fatal == 0 && lex_fatal(&limited.lx, NULL) != 0) {
        int lf = lex_fatal(&limited.lx, NULL);

        FUZZ_CHECK(lf == 413 || lf == 414 || lf == 431,
                   "limits refuse only for a limit");
    }
    return 0;
}
