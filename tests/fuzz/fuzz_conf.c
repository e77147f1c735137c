/*
 * fuzz_conf.c - libFuzzer harness for the configuration parser
 * (src/conf_load.c and the conf_*.c files under it, SPEC §9). The input
 * is a whole configuration file, fed through conf_load_buffer() as bytes
 * (NULs included); its first line is also tried as a -o override and the
 * whole input, as a C string, through the unit parsers.
 *
 * Properties:
 *   - the load returns 0 exactly when it reported no error, and every
 *     error reads "fuzz.conf:LINE: ..." in printable ASCII (conf_value_show
 *     promises that raw bytes never reach the terminal);
 *   - whatever was loaded is in range: every string key is set, and the
 *     numbers are within the bounds the key table gives (spot checks);
 *   - a rate share left to follow rate_limit never exceeds it, so only a
 *     share that was set can fail conf_validate's rate checks;
 *   - conf_validate() and conf_free() run on the result (ASan/LSan check
 *     that nothing leaks or is freed twice, valid or not).
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>

#include "conf.h"

static void
check_errors(const struct conf_errors *errs, size_t from, const char *prefix)
{
    size_t i, j, n = strlen(prefix);

    for (i = from; i < errs->count; i++) {
        const char *m = errs->msg[i];

        FUZZ_CHECK(strnlen(m, CONF_ERROR_LEN) < CONF_ERROR_LEN,
                   "an error is NUL-terminated");
        FUZZ_CHECK(strncmp(m, prefix, n) == 0, "an error starts with where");
        for (j = 0; m[j] != '\0'; j++) {
            FUZZ_CHECK((unsigned char)m[j] >= 0x20 &&
                       (unsigned char)m[j] < 0x7f,
                       "an error is printable ASCII");
        }
    }
}

static bool
is_rate(const struct conf_rate *r)
{
    return r->count >= 0 && r->count <= 1000000 &&
           (r->period_ms == 1000 || r->period_ms == 60000 ||
            r->period_ms == 3600000);
}

/* Whether A allows no more events per millisecond than B, when B is on. */
static bool
rate_within(const struct conf_rate *a, const struct conf_rate *b)
{
    return b->count == 0 || a->count * b->period_ms <= b->count * a->period_ms;
}

static void
check_conf(const struct conf *cf)
{
    FUZZ_CHECK(cf->listen != NULL && cf->listen[0] != '\0' &&
               cf->upstream != NULL && cf->upstream[0] != '\0' &&
               cf->upstream_lowlatency != NULL &&
               cf->upstream_ca_file != NULL && cf->redis != NULL &&
               cf->redis_prefix != NULL && cf->redis_prefix[0] != '\0' &&
               cf->access_log != NULL && cf->access_log[0] != '\0',
               "string keys are set");
    FUZZ_CHECK(cf->workers >= 0 && cf->workers <= 256, "workers in range");
    FUZZ_CHECK(cf->upstream_timeout_ms >= 1 &&
               cf->upstream_timeout_ms <= 600000, "upstream_timeout range");
    FUZZ_CHECK(cf->redis_timeout_ms >= 1 && cf->redis_timeout_ms <= 60000,
               "redis_timeout range");
    FUZZ_CHECK(cf->ttl_lead_ms >= 0 && cf->ttl_blocks_ms >= 0 &&
               cf->stale_if_error_ms >= 0 && cf->idempotency_ttl_ms >= 0,
               "durations are not negative");
    FUZZ_CHECK(cf->max_body >= 1024 && cf->max_body <= 16 * 1024 * 1024,
               "max_body range");
    FUZZ_CHECK(cf->near_cache >= 0, "near_cache not negative");
    FUZZ_CHECK(is_rate(&cf->rate_limit) && is_rate(&cf->rate_reserve_writes) &&
               is_rate(&cf->rate_limit_fallback), "rates are rates");
    FUZZ_CHECK(cf->log_level >= CONF_LOG_ERROR &&
               cf->log_level <= CONF_LOG_DEBUG &&
               (cf->log_format == CONF_LOG_JSON ||
                cf->log_format == CONF_LOG_TEXT) &&
               (cf->upstream_cache_control == CONF_CACHE_CONTROL_HONOR ||
                cf->upstream_cache_control == CONF_CACHE_CONTROL_IGNORE),
               "enums in range");
    FUZZ_CHECK(strnlen(cf->rate_reserve_writes_from, CONF_WHERE_LEN) <
                   CONF_WHERE_LEN &&
               strnlen(cf->rate_limit_fallback_from, CONF_WHERE_LEN) <
                   CONF_WHERE_LEN, "where a share was set is a string");
    FUZZ_CHECK((cf->rate_reserve_writes_from[0] != '\0' ||
                rate_within(&cf->rate_reserve_writes, &cf->rate_limit)) &&
               (cf->rate_limit_fallback_from[0] != '\0' ||
                rate_within(&cf->rate_limit_fallback, &cf->rate_limit)),
               "a share that follows rate_limit is within it");
}

static void
check_units(const char *s)
{
    struct conf_rate r;
    int64_t          v;
    bool             b;

    if (conf_parse_duration(s, &v) == 0) {
        FUZZ_CHECK(v >= 0, "a duration is not negative");
    }
    if (conf_parse_size(s, &v) == 0) {
        FUZZ_CHECK(v >= 0, "a size is not negative");
    }
    if (conf_parse_rate(s, &r) == 0) {
        FUZZ_CHECK(r.count >= 0 && r.period_ms > 0, "a rate is a rate");
    }
    (void)conf_parse_bool(s, &b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf         cf;
    struct conf_errors *errs;
    char               *s, *nl;
    size_t              before;
    int                 rc;

    errs = calloc(1, sizeof(*errs));
    FUZZ_CHECK(errs != NULL, "calloc");
    FUZZ_CHECK(conf_init(&cf) == 0, "conf_init");
    rc = conf_load_buffer(&cf, "fuzz.conf", (const char *)data, size, errs);
    FUZZ_CHECK((rc == 0) == (errs->count == 0 && errs->dropped == 0),
               "0 exactly when no error was reported");
    check_errors(errs, 0, "fuzz.conf:");
    check_conf(&cf);
    (void)conf_validate(&cf, errs);

    /* The first line as an -o override: same values, other framing. */
    s = fuzz_strndup(data, size);
    nl = strchr(s, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
    before = errs->count;
    rc = conf_set_override(&cf, s, errs);
    FUZZ_CHECK((rc == 0) == (errs->count == before && errs->dropped == 0) ||
               errs->count == CONF_ERRORS_MAX, "override result matches");
    check_errors(errs, before, "-o ");
    check_conf(&cf);
    check_units(s);
    free(s);
    conf_free(&cf);
    conf_free(&cf);                 /* freed twice: conf_free zeroes CF */
    free(errs);
    return 0;
}
