/* faults.c - sliding-window rate limit and fault/latency planning. */
#include "config.h"

#include "sandbox/faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The admitted requests of one token in the last window: a ring of
 * their times, oldest at HEAD. CAP equals the rate limit. */
struct faults_window {
    struct faults_window *next;
    char                 *key;      /* owned: the token */
    int64_t              *stamps;   /* owned: CAP admission times, ms */
    size_t                head;     /* index of the oldest stamp */
    size_t                count;    /* stamps in use */
};

static const char *const faults_misbehave_names[FAULTS_MISBEHAVE_COUNT] = {
    "none", "long-body", "two-lengths", "body-on-204", "bad-header-byte",
    "bad-header-name", "unasked-coding", "after-last-chunk", "http10-close",
};

struct faults {
    struct faults_config  cf;
    uint64_t              rng;      /* splitmix64 state */
    struct faults_window *windows;  /* owned list, one per token seen */
};

int
faults_config_check(const struct faults_config *cf, char *err, size_t errlen)
{
    if (cf->latency_ms < 0 || cf->latency_ms > FAULTS_DELAY_MAX_MS) {
        snprintf(err, errlen, "latency_ms must be between 0 and %d",
                 FAULTS_DELAY_MAX_MS);
        return -1;
    }
    if (cf->jitter_ms < 0 || cf->jitter_ms > FAULTS_DELAY_MAX_MS) {
        snprintf(err, errlen, "jitter_ms must be between 0 and %d",
                 FAULTS_DELAY_MAX_MS);
        return -1;
    }
    /* Written so that NaN fails too. */
    if (!(cf->fail_rate >= 0.0 && cf->fail_rate <= 1.0)) {
        snprintf(err, errlen, "fail_rate must be between 0 and 1");
        return -1;
    }
    if (!(cf->drop_rate >= 0.0 && cf->drop_rate <= 1.0)) {
        snprintf(err, errlen, "drop_rate must be between 0 and 1");
        return -1;
    }
    if (cf->rate_limit < 0 || cf->rate_limit > FAULTS_RATE_LIMIT_MAX) {
        snprintf(err, errlen, "rate_limit must be between 0 and %d",
                 FAULTS_RATE_LIMIT_MAX);
        return -1;
    }
    if ((unsigned)cf->misbehave >= FAULTS_MISBEHAVE_COUNT) {
        snprintf(err, errlen, "misbehave is not a known kind");
        return -1;
    }
    return 0;
}

struct faults *
faults_new(const struct faults_config *cf, uint64_t seed)
{
    struct faults *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return NULL;
    }
    f->cf = *cf;
    f->rng = seed;
    return f;
}

void
faults_reset(struct faults *f)
{
    struct faults_window *w, *next;

    for (w = f->windows; w != NULL; w = next) {
        next = w->next;
        free(w->key);
        free(w->stamps);
        free(w);
    }
    f->windows = NULL;
}

void
faults_free(struct faults *f)
{
    if (f == NULL) {
        return;
    }
    faults_reset(f);
    free(f);
}

void
faults_get_config(const struct faults *f, struct faults_config *out)
{
    *out = f->cf;
}

int
faults_set_config(struct faults *f, const struct faults_config *cf,
                  char *err, size_t errlen)
{
    if (faults_config_check(cf, err, errlen) != 0) {
        return -1;
    }
    if (cf->rate_limit != f->cf.rate_limit) {
        faults_reset(f);            /* rings are sized by the limit */
    }
    f->cf = *cf;
    return 0;
}

int
faults_parse(const char *delay, const char *fail, struct faults_plan *out,
             char *err, size_t errlen)
{
    char *end;
    long  v;

    memset(out, 0, sizeof(*out));
    if (delay != NULL) {
        v = strtol(delay, &end, 10);
        if (delay[0] < '0' || delay[0] > '9' || *end != '\0' || v < 0 ||
            v > FAULTS_DELAY_MAX_MS) {
            snprintf(err, errlen,
                     "X-Sandbox-Delay-Ms must be an integer between 0 and %d",
                     FAULTS_DELAY_MAX_MS);
            return -1;
        }
        out->delay_ms = v;
    }
    if (fail == NULL) {
        return 0;
    }
    out->forced = true;
    if (strcasecmp(fail, "drop") == 0) {
        out->action = FAULTS_DROP;
        return 0;
    }
    if (strcasecmp(fail, "drop-after") == 0) {
        out->action = FAULTS_DROP_AFTER;
        return 0;
    }
    v = strtol(fail, &end, 10);
    if (fail[0] < '0' || fail[0] > '9' || *end != '\0' || v < 400 ||
        v > 599) {
        snprintf(err, errlen,
                 "X-Sandbox-Fail must be a status 400-599, drop or "
                 "drop-after");
        return -1;
    }
    out->action = FAULTS_FAIL;
    out->status = (int)v;
    return 0;
}

const char *
faults_misbehave_name(enum faults_misbehave kind)
{
    return (unsigned)kind < FAULTS_MISBEHAVE_COUNT
               ? faults_misbehave_names[kind]
               : "unknown";
}

int
faults_misbehave_find(const char *s, enum faults_misbehave *out)
{
    size_t i;

    for (i = 0; i < FAULTS_MISBEHAVE_COUNT; i++) {
        if (strcasecmp(s, faults_misbehave_names[i]) == 0) {
            *out = (enum faults_misbehave)i;
            return 0;
        }
    }
    return -1;
}

int
faults_parse_misbehave(const char *s, struct faults_plan *plan, char *err,
                       size_t errlen)
{
    enum faults_misbehave kind;
    size_t                i, n;

    if (s == NULL) {
        return 0;
    }
    if (faults_misbehave_find(s, &kind) != 0) {
        n = (size_t)snprintf(err, errlen, "X-Sandbox-Misbehave must be one "
                             "of");
        for (i = 0; i < FAULTS_MISBEHAVE_COUNT && n < errlen; i++) {
            n += (size_t)snprintf(err + n, errlen - n, "%s %s",
                                  i == 0 ? "" : ",", faults_misbehave_names[i]);
        }
        return -1;
    }
    plan->misbehave = kind;
    plan->misbehave_forced = true;
    return 0;
}

static struct faults_window *
faults_window(struct faults *f, const char *key)
{
    struct faults_window *w;

    for (w = f->windows; w != NULL; w = w->next) {
        if (strcmp(w->key, key) == 0) {
            return w;
        }
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    w->key = strdup(key);
    w->stamps = calloc((size_t)f->cf.rate_limit, sizeof(*w->stamps));
    if (w->key == NULL || w->stamps == NULL) {
        free(w->key);
        free(w->stamps);
        free(w);
        return NULL;
    }
    w->next = f->windows;
    f->windows = w;
    return w;
}

bool
faults_rate_take(struct faults *f, const char *key, int64_t now_ms,
                 int64_t *retry_after)
{
    struct faults_window *w;
    size_t                cap = (size_t)f->cf.rate_limit;
    int64_t               wait;

    if (cap == 0) {
        return true;
    }
    w = faults_window(f, key);
    if (w == NULL) {
        return true;                /* fail open: the limit is a test aid */
    }
    while (w->count > 0 && w->stamps[w->head] <= now_ms - FAULTS_WINDOW_MS) {
        w->head = (w->head + 1) % cap;
        w->count--;
    }
    if (w->count < cap) {
        w->stamps[(w->head + w->count) % cap] = now_ms;
        w->count++;
        return true;
    }
    wait = w->stamps[w->head] + FAULTS_WINDOW_MS - now_ms;
    *retry_after = wait <= 1000 ? 1 : (wait + 999) / 1000;
    return false;
}

/* splitmix64 (Steele, Lea, Flood): tiny, seedable, good enough here. */
static uint64_t
faults_next(struct faults *f)
{
    uint64_t z = (f->rng += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
faults_uniform(struct faults *f)
{
    return (double)(faults_next(f) >> 11) * 0x1.0p-53;
}

void
faults_draw(struct faults *f, struct faults_plan *plan)
{
    if (!plan->misbehave_forced) {
        plan->misbehave = f->cf.misbehave;
    }
    plan->delay_ms += f->cf.latency_ms;
    if (f->cf.jitter_ms > 0) {
        plan->delay_ms +=
            (int64_t)(faults_next(f) % (uint64_t)(f->cf.jitter_ms + 1));
    }
    if (plan->forced) {
        return;
    }
    /* Draw only for a non-zero rate, so a zero rate never spends the
     * generator and a test's seeded sequence does not depend on it. */
    if (f->cf.drop_rate > 0.0 && faults_uniform(f) < f->cf.drop_rate) {
        plan->action = FAULTS_DROP;
    } else if (f->cf.fail_rate > 0.0 && faults_uniform(f) < f->cf.fail_rate) {
        plan->action = FAULTS_FAIL;
        plan->status = 500;
    }
}
