/* test_conf.c - unit parsers, the file reader, -o and cross-key checks. */
#include "config.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- unit parsers ------------------------------------------------------ */

struct num_case {
    const char *in;
    int         rc;                 /* 0: valid, -1: rejected */
    int64_t     want;
};

static const struct num_case duration_cases[] = {
    { "0", 0, 0 },
    { "00", 0, 0 },
    { "0ms", 0, 0 },
    { "0s", 0, 0 },
    { "0h", 0, 0 },
    { "1ms", 0, 1 },
    { "100ms", 0, 100 },
    { "1s", 0, 1000 },
    { "10s", 0, 10000 },
    { "5m", 0, 300000 },
    { "1h", 0, 3600000 },
    { "24h", 0, 86400000 },
    { "007s", 0, 7000 },
    { "9223372036854775807ms", 0, INT64_MAX },
    { "", -1, 0 },
    { "10", -1, 0 },                /* a bare non-zero number has no unit */
    { "1", -1, 0 },
    { "-1s", -1, 0 },
    { "-0", -1, 0 },
    { "+1s", -1, 0 },
    { " 1s", -1, 0 },
    { "1s ", -1, 0 },
    { "1 s", -1, 0 },
    { "1.5s", -1, 0 },
    { "10x", -1, 0 },
    { "s", -1, 0 },
    { "ms", -1, 0 },
    { "1d", -1, 0 },
    { "1S", -1, 0 },
    { "1sec", -1, 0 },
    { "1h30m", -1, 0 },
    { "0x10s", -1, 0 },
    { "9223372036854775808ms", -1, 0 }, /* INT64_MAX + 1 */
    { "9223372036854775807s", -1, 0 },  /* overflows when scaled */
    { "99999999999999999999999h", -1, 0 },
};

Test(conf_units, duration_table)
{
    size_t i;

    for (i = 0; i < NELEM(duration_cases); i++) {
        const struct num_case *c = &duration_cases[i];
        int64_t                got = -42;
        int                    rc = conf_parse_duration(c->in, &got);

        cr_expect_eq(rc, c->rc, "duration '%s': rc %d, want %d", c->in, rc,
                     c->rc);
        if (c->rc == 0 && rc == 0) {
            cr_expect_eq(got, c->want, "duration '%s': %lld, want %lld",
                         c->in, (long long)got, (long long)c->want);
        }
    }
    cr_expect_eq(conf_parse_duration(NULL, &(int64_t){ 0 }), -1);
}

static const struct num_case size_cases[] = {
    { "0", 0, 0 },
    { "1", 0, 1 },
    { "512", 0, 512 },
    { "65536", 0, 65536 },
    { "1k", 0, 1024 },
    { "64k", 0, 65536 },
    { "64K", 0, 65536 },
    { "1m", 0, 1048576 },
    { "16M", 0, 16777216 },
    { "1024k", 0, 1048576 },
    { "0k", 0, 0 },
    { "9007199254740991k", 0, INT64_C(9007199254740991) * 1024 },
    { "", -1, 0 },
    { "k", -1, 0 },
    { "-1k", -1, 0 },
    { "1.5k", -1, 0 },
    { "1kb", -1, 0 },
    { "1g", -1, 0 },
    { "1 k", -1, 0 },
    { "64kk", -1, 0 },
    { "+1", -1, 0 },
    { "0x10", -1, 0 },
    { "1e3", -1, 0 },
    { " 1k", -1, 0 },
    { "9223372036854775807k", -1, 0 },
    { "99999999999999999999", -1, 0 },
};

Test(conf_units, size_table)
{
    size_t i;

    for (i = 0; i < NELEM(size_cases); i++) {
        const struct num_case *c = &size_cases[i];
        int64_t                got = -42;
        int                    rc = conf_parse_size(c->in, &got);

        cr_expect_eq(rc, c->rc, "size '%s': rc %d, want %d", c->in, rc,
                     c->rc);
        if (c->rc == 0 && rc == 0) {
            cr_expect_eq(got, c->want, "size '%s': %lld, want %lld", c->in,
                         (long long)got, (long long)c->want);
        }
    }
}

struct rate_case {
    const char *in;
    int         rc;
    int64_t     count, period_ms;
};

static const struct rate_case rate_cases[] = {
    { "60/min", 0, 60, 60000 },
    { "60/m", 0, 60, 60000 },
    { "1/s", 0, 1, 1000 },
    { "1/sec", 0, 1, 1000 },
    { "100/h", 0, 100, 3600000 },
    { "100/hour", 0, 100, 3600000 },
    { "0", 0, 0, 60000 },
    { "0/min", 0, 0, 60000 },
    { "0/s", 0, 0, 1000 },
    { "1000000/min", 0, 1000000, 60000 },
    { "060/min", 0, 60, 60000 },
    { "60", -1, 0, 0 },             /* no period */
    { "60/", -1, 0, 0 },
    { "/min", -1, 0, 0 },
    { "60/minute", -1, 0, 0 },
    { "60/ min", -1, 0, 0 },
    { "60 /min", -1, 0, 0 },
    { "-1/min", -1, 0, 0 },
    { "1.5/s", -1, 0, 0 },
    { "60/d", -1, 0, 0 },
    { "60/MIN", -1, 0, 0 },
    { "abc", -1, 0, 0 },
    { "", -1, 0, 0 },
    { "60/min/s", -1, 0, 0 },
    { "60min", -1, 0, 0 },
    { "99999999999999999999/s", -1, 0, 0 },
};

Test(conf_units, rate_table)
{
    size_t i;

    for (i = 0; i < NELEM(rate_cases); i++) {
        const struct rate_case *c = &rate_cases[i];
        struct conf_rate        got = { -1, -1 };
        int                     rc = conf_parse_rate(c->in, &got);

        cr_expect_eq(rc, c->rc, "rate '%s': rc %d, want %d", c->in, rc,
                     c->rc);
        if (c->rc == 0 && rc == 0) {
            cr_expect(got.count == c->count && got.period_ms == c->period_ms,
                      "rate '%s': %lld per %lld ms", c->in,
                      (long long)got.count, (long long)got.period_ms);
        }
    }
}

struct bool_case {
    const char *in;
    int         rc;
    bool        want;
};

static const struct bool_case bool_cases[] = {
    { "yes", 0, true },   { "no", 0, false },  { "true", 0, true },
    { "false", 0, false }, { "on", 0, true },  { "off", 0, false },
    { "1", 0, true },     { "0", 0, false },   { "YES", 0, true },
    { "True", 0, true },  { "OFF", 0, false }, { "", -1, false },
    { "y", -1, false },   { "n", -1, false },  { "2", -1, false },
    { "yess", -1, false }, { "enable", -1, false }, { " yes", -1, false },
    { "yes ", -1, false }, { "nope", -1, false }, { "-1", -1, false },
    { "01", -1, false },
};

Test(conf_units, bool_table)
{
    size_t i;

    for (i = 0; i < NELEM(bool_cases); i++) {
        const struct bool_case *c = &bool_cases[i];
        bool                    got = !c->want;
        int                     rc = conf_parse_bool(c->in, &got);

        cr_expect_eq(rc, c->rc, "bool '%s': rc %d, want %d", c->in, rc,
                     c->rc);
        if (c->rc == 0 && rc == 0) {
            cr_expect_eq(got, c->want, "bool '%s'", c->in);
        }
    }
}

/* ---- defaults ---------------------------------------------------------- */

/* Checks that CF holds exactly the defaults of SPEC §9. */
static void
expect_spec_defaults(const struct conf *cf, const char *what)
{
    cr_expect_str_eq(cf->listen, "127.0.0.1:8080", "%s: listen", what);
    cr_expect_eq(cf->workers, 0, "%s: workers", what);
    cr_expect_str_eq(cf->upstream, "https://api.heavyset.tech", "%s", what);
    cr_expect_str_eq(cf->upstream_lowlatency, "", "%s", what);
    cr_expect_str_eq(cf->upstream_ca_file, "", "%s", what);
    cr_expect_eq(cf->upstream_timeout_ms, 10000, "%s", what);
    cr_expect_eq(cf->upstream_connections, 64, "%s", what);
    cr_expect_str_eq(cf->redis, "redis://127.0.0.1:6379/0", "%s", what);
    cr_expect_str_eq(cf->redis_ca_file, "", "%s", what);
    cr_expect_str_eq(cf->redis_cert_file, "", "%s", what);
    cr_expect_str_eq(cf->redis_key_file, "", "%s", what);
    cr_expect_str_eq(cf->redis_prefix, "hsp", "%s", what);
    cr_expect_eq(cf->redis_timeout_ms, 100, "%s", what);
    cr_expect_eq(cf->ttl_lead_ms, 300000, "%s", what);
    cr_expect_eq(cf->ttl_not_found_ms, 30000, "%s", what);
    cr_expect_eq(cf->ttl_dispositions_ms, 3600000, "%s", what);
    cr_expect_eq(cf->ttl_blocks_ms, 0, "%s", what);
    cr_expect_eq(cf->stale_while_revalidate_ms, 30000, "%s", what);
    cr_expect_eq(cf->stale_if_error_ms, 3600000, "%s", what);
    cr_expect_eq(cf->idempotency_ttl_ms, 86400000, "%s", what);
    cr_expect_eq(cf->idempotency_required, false, "%s", what);
    cr_expect_eq(cf->rate_limit.count, 60, "%s", what);
    cr_expect_eq(cf->rate_limit.period_ms, 60000, "%s", what);
    cr_expect_eq(cf->rate_reserve_writes.count, 10, "%s", what);
    cr_expect_eq(cf->rate_reserve_writes.period_ms, 60000, "%s", what);
    cr_expect_eq(cf->rate_limit_wait_ms, 0, "%s", what);
    cr_expect_eq(cf->rate_limit_fallback.count, 20, "%s", what);
    cr_expect_eq(cf->rate_limit_fallback.period_ms, 60000, "%s", what);
    cr_expect_eq(cf->gzip, false, "%s", what);
    cr_expect_eq(cf->upstream_cache_control, CONF_CACHE_CONTROL_HONOR, "%s",
                 what);
    cr_expect_eq(cf->max_body, 65536, "%s", what);
    cr_expect_eq(cf->max_header_size, 8192, "%s", what);
    cr_expect_eq(cf->max_headers, 100, "%s", what);
    cr_expect_eq(cf->max_query, 4096, "%s", what);
    cr_expect_eq(cf->client_timeout_ms, 60000, "%s", what);
    cr_expect_eq(cf->max_connections, 10000, "%s", what);
    cr_expect_eq(cf->near_cache, 16 * 1024 * 1024, "%s", what);
    cr_expect_eq(cf->log_level, CONF_LOG_INFO, "%s", what);
    cr_expect_eq(cf->log_format, CONF_LOG_JSON, "%s", what);
    cr_expect_str_eq(cf->access_log, "stderr", "%s", what);
}

Test(conf_defaults, equal_spec)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    expect_spec_defaults(&cf, "conf_init");
    cr_expect_eq(conf_validate(&cf, &errs), 0, "defaults fail validation: %s",
                 errs.msg[0]);
    conf_free(&cf);
    cr_expect_null(cf.listen, "conf_free zeroes");
    conf_free(&cf);                 /* twice is harmless */
    conf_free(NULL);
}

Test(conf_defaults, key_table)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char               kv[128];
    size_t             i;

    /* 26 keys of SPEC §9, gzip and upstream_cache_control (§11),
     * near_cache (the hit path's in-process copy), the five limits on
     * clients and idempotency_on_store_error (SPEC §8). */
    cr_expect_eq(conf_key_count(), 40,
                 "26 keys of SPEC §9 + 2 of §11 + near_cache + 5 client "
                 "limits + idempotency_on_store_error + 3 redis TLS files "
                 "+ 2 sentinel credentials (§12)");
    cr_expect_null(conf_key_name(conf_key_count()));
    cr_expect_null(conf_key_default(conf_key_count()));
    cr_assert_eq(conf_init(&cf), 0);
    /* Every default can be written back through -o. */
    for (i = 0; i < conf_key_count(); i++) {
        snprintf(kv, sizeof(kv), "%s=%s", conf_key_name(i),
                 conf_key_default(i));
        cr_expect_eq(conf_set_override(&cf, kv, &errs), 0, "-o %s: %s", kv,
                     errs.msg[0]);
    }
    expect_spec_defaults(&cf, "defaults via -o");
    conf_free(&cf);
}

/* ---- per-key values, through -o ---------------------------------------- */

struct kv_case {
    const char *kv;
    int         rc;
};

static const struct kv_case kv_cases[] = {
    { "workers=auto", 0 },
    { "workers=1", 0 },
    { "workers=256", 0 },
    { "workers=0", -1 },
    { "workers=257", -1 },
    { "workers=AUTO", -1 },
    { "workers=-1", -1 },
    { "workers=two", -1 },
    { "upstream_connections=1", 0 },
    { "upstream_connections=10000", 0 },
    { "upstream_connections=0", -1 },
    { "upstream_connections=10001", -1 },
    { "upstream_timeout=1ms", 0 },
    { "upstream_timeout=10m", 0 },
    { "upstream_timeout=0", -1 },
    { "upstream_timeout=601s", -1 },
    { "redis_timeout=60s", 0 },
    { "redis_timeout=60001ms", -1 },
    { "redis_timeout=0ms", -1 },
    { "ttl_lead=0", 0 },
    { "ttl_lead=720h", 0 },
    { "ttl_lead=721h", -1 },
    { "stale_if_error=0s", 0 },
    { "idempotency_ttl=0", 0 },
    { "rate_limit_wait=10m", 0 },
    { "rate_limit_wait=11m", -1 },
    { "rate_reserve_writes=0/min", 0 },
    { "rate_limit=1000000/s", 0 },
    { "rate_limit=1000001/s", -1 },
    { "rate_limit=60", -1 },
    { "max_body=1k", 0 },
    { "max_body=1024", 0 },
    { "max_body=16m", 0 },
    { "max_body=1023", -1 },
    { "max_header_size=1k", 0 },
    { "max_header_size=1m", 0 },
    { "max_header_size=1023", -1 },
    { "max_header_size=1025k", -1 },
    { "max_headers=1", 0 },
    { "max_headers=10000", 0 },
    { "max_headers=0", -1 },
    { "max_headers=10001", -1 },
    { "max_query=256", 0 },
    { "max_query=64k", 0 },
    { "max_query=255", -1 },
    { "max_query=65537", -1 },
    { "client_timeout=100ms", 0 },
    { "client_timeout=1h", 0 },
    { "client_timeout=99ms", -1 },
    { "client_timeout=0", -1 },
    { "client_timeout=61m", -1 },
    { "max_connections=1", 0 },
    { "max_connections=1000000", 0 },
    { "max_connections=0", -1 },
    { "max_connections=1000001", -1 },
    { "near_cache=0", 0 },
    { "near_cache=1024m", 0 },
    { "near_cache=1025m", -1 },
    { "near_cache=-1", -1 },
    { "max_body=16385k", -1 },
    { "max_body=0", -1 },
    { "idempotency_required=on", 0 },
    { "idempotency_required=maybe", -1 },
    { "gzip=on", 0 },
    { "gzip=off", 0 },
    { "gzip=yes", 0 },
    { "gzip=FALSE", 0 },
    { "gzip=1", 0 },
    { "gzip=gzip", -1 },
    { "gzip=", -1 },
    { "upstream_cache_control=honor", 0 },
    { "upstream_cache_control=honour", 0 },
    { "upstream_cache_control=IGNORE", 0 },
    { "upstream_cache_control=off", -1 },
    { "upstream_cache_control=no-store", -1 },
    { "upstream_cache_control=", -1 },
    { "log_level=debug", 0 },
    { "log_level=WARN", 0 },
    { "log_level=warning", -1 },
    { "log_format=text", 0 },
    { "log_format=xml", -1 },
    { "access_log=off", 0 },
    { "access_log=/var/log/hsp/access.log", 0 },
    { "access_log=", -1 },
    { "redis_prefix=hsp-prod.v2_a", 0 },
    { "redis_prefix=abcdefghijklmnopqrstuvwxyz012345", 0 },
    { "redis_prefix=abcdefghijklmnopqrstuvwxyz0123456", -1 },
    { "redis_prefix=", -1 },
    { "redis_prefix=a b", -1 },
    { "redis_prefix={tag}", -1 },
    { "redis_prefix=hsp:", -1 },
    { "listen=0.0.0.0:0", 0 },
    { "listen=[::1]:8080", 0 },
    { "listen=:8080", -1 },
    { "listen=127.0.0.1", -1 },
    { "upstream=http://127.0.0.1:9000", 0 },
    { "upstream=", -1 },
    { "upstream=https://api.heavyset.tech/api/v1", -1 },
    { "upstream_lowlatency=", 0 },
    { "upstream_lowlatency=https://fast.heavyset.tech", 0 },
    { "upstream_lowlatency=ftp://fast", -1 },
    { "upstream_ca_file=", 0 },
    { "upstream_ca_file=/nonexistent/ca.pem", -1 },
    { "upstream_ca_file=/", -1 },
    { "redis=unix:///run/redis.sock", 0 },
    { "redis=redis://:pw@10.0.0.5:6380/3", 0 },
    { "redis=redis://h/16", -1 },
    { "redis=rediss://user:pw@redis.example:6380/2", 0 },
    { "redis_ca_file=", 0 },
    { "redis_ca_file=/nonexistent/ca.pem", -1 },
    { "redis_cert_file=/nonexistent/cert.pem", -1 },
    { "redis_key_file=/", -1 },
    { "redis=memcached://h", -1 },
    { "access_log=a\tb", -1 },
};

Test(conf_override, value_table)
{
    size_t i;

    for (i = 0; i < NELEM(kv_cases); i++) {
        struct conf        cf;
        struct conf_errors errs = { 0 };
        int                rc;

        cr_assert_eq(conf_init(&cf), 0);
        rc = conf_set_override(&cf, kv_cases[i].kv, &errs);
        cr_expect_eq(rc, kv_cases[i].rc, "-o %s: rc %d, want %d (%s)",
                     kv_cases[i].kv, rc, kv_cases[i].rc,
                     errs.count > 0 ? errs.msg[0] : "no error");
        cr_expect_eq(errs.count, rc == 0 ? 0u : 1u, "-o %s: %zu errors",
                     kv_cases[i].kv, errs.count);
        conf_free(&cf);
    }
}

struct msg_case {
    const char *kv;
    const char *want;               /* the exact error */
};

static const struct msg_case override_msgs[] = {
    { "upstream_timeout=10x",
      "-o upstream_timeout=10x: upstream_timeout: '10x' is not a duration "
      "(use a number with ms, s, m or h)" },
    { "upstream_timeout=10",
      "-o upstream_timeout=10: upstream_timeout: '10' has no unit (use a "
      "number with ms, s, m or h, e.g. 30s)" },
    { "ttl_lead=-5s",
      "-o ttl_lead=-5s: ttl_lead: '-5s' is negative (use a number with ms, "
      "s, m or h; 0 turns it off)" },
    { "upstream_timeout=11m",
      "-o upstream_timeout=11m: upstream_timeout: '11m' is out of range "
      "(1ms to 10m)" },
    { "ttl_lead=99999999999999999999s",
      "-o ttl_lead=99999999999999999999s: ttl_lead: "
      "'99999999999999999999s' is out of range (0 to 720h)" },
    { "max_body=32m",
      "-o max_body=32m: max_body: '32m' is out of range (1k to 16m)" },
    { "max_body=1.5k",
      "-o max_body=1.5k: max_body: '1.5k' is not a size (use a number of "
      "bytes, or with k or m)" },
    { "workers=0",
      "-o workers=0: workers: '0' is out of range (auto, or 1 to 256)" },
    { "upstream_connections=many",
      "-o upstream_connections=many: upstream_connections: 'many' is not a "
      "number (use digits only)" },
    { "rate_limit=60",
      "-o rate_limit=60: rate_limit: '60' has no unit (use N/s, N/min or "
      "N/h, or 0 for off, e.g. 60/min)" },
    { "rate_limit=5000000/h",
      "-o rate_limit=5000000/h: rate_limit: '5000000/h' is out of range (at "
      "most 1000000 per period)" },
    { "log_level=loud",
      "-o log_level=loud: log_level: 'loud' is not one of error, warn, info "
      "or debug" },
    { "log_format=xml",
      "-o log_format=xml: log_format: 'xml' is not one of json or text" },
    { "idempotency_required=maybe",
      "-o idempotency_required=maybe: idempotency_required: 'maybe' is not "
      "a boolean (use yes or no)" },
    { "gzip=br", "-o gzip=br: gzip: 'br' is not a boolean (use yes or no)" },
    { "upstream_cache_control=respect",
      "-o upstream_cache_control=respect: upstream_cache_control: 'respect' "
      "is not one of honor or ignore" },
    { "gzp=on", "-o gzp=on: unknown key 'gzp' (did you mean 'gzip'?)" },
    { "upstream_cache_contrl=ignore",
      "-o upstream_cache_contrl=ignore: unknown key 'upstream_cache_contrl' "
      "(did you mean 'upstream_cache_control'?)" },
    { "ttl_leed=5m",
      "-o ttl_leed=5m: unknown key 'ttl_leed' (did you mean 'ttl_lead'?)" },
    { "frobnicate=1", "-o frobnicate=1: unknown key 'frobnicate'" },
    { "ttl_lead", "-o ttl_lead: expected key=value" },
    { "upstream=ftp://x",
      "-o upstream=ftp://x: upstream: 'ftp://x' is not an upstream URL: "
      "scheme must be http:// or https://" },
    { "upstream_ca_file=/nonexistent/ca.pem",
      "-o upstream_ca_file=/nonexistent/ca.pem: upstream_ca_file: "
      "'/nonexistent/ca.pem' cannot be read: No such file or directory" },
    { "redis=redis://:hunter2@db:99999",
      "-o redis=redis://***@db:99999: redis: 'redis://***@db:99999' is not "
      "a Redis URL: port is out of range (1 to 65535)" },
    { "redis=redis-sentinel://:hunter2@s1:26379",
      "-o redis=redis-sentinel://***@s1:26379: redis: "
      "'redis-sentinel://***@s1:26379' is not a Redis URL: missing master "
      "name (write redis-sentinel://host:port/master-name)" },
    { "redis=redis-cluster://:hunter2@n1:7000,n2:7001/2",
      "-o redis=redis-cluster://***@n1:7000,n2:7001/2: redis: "
      "'redis-cluster://***@n1:7000,n2:7001/2' is not a Redis URL: a Redis "
      "Cluster has only database 0 (write /0 or no path)" },
    { "redis=rediss-cluster://n1,::1",
      "-o redis=rediss-cluster://n1,::1: redis: 'rediss-cluster://n1,::1' "
      "is not a Redis URL: an IPv6 address must be in brackets, e.g. [::1]" },
    /* the sentinels' password is never shown, not even when it is bad */
    { "redis_sentinel_password=hunter2\x01",
      "-o redis_sentinel_password=***: redis_sentinel_password: '***' "
      "contains a control character" },
    { "access_log=\"unterminated",
      "-o access_log=\"unterminated: access_log: the opening '\"' has no "
      "closing '\"'" },
};

Test(conf_override, messages)
{
    size_t i;

    for (i = 0; i < NELEM(override_msgs); i++) {
        struct conf        cf;
        struct conf_errors errs = { 0 };

        cr_assert_eq(conf_init(&cf), 0);
        cr_expect_eq(conf_set_override(&cf, override_msgs[i].kv, &errs), -1,
                     "-o %s accepted", override_msgs[i].kv);
        cr_expect_eq(errs.count, 1, "-o %s", override_msgs[i].kv);
        cr_expect_str_eq(errs.msg[0], override_msgs[i].want, "-o %s",
                         override_msgs[i].kv);
        conf_free(&cf);
    }
}

Test(conf_override, forms)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_set_override(&cf, " ttl_lead = 7m ", &errs), 0);
    cr_expect_eq(cf.ttl_lead_ms, 420000);
    cr_expect_eq(conf_set_override(&cf, "access_log=\"/tmp/a #b.log\"", &errs),
                 0);
    cr_expect_str_eq(cf.access_log, "/tmp/a #b.log");
    /* No comments on the command line: '#' is part of the value. */
    cr_expect_eq(conf_set_override(&cf, "access_log=/tmp/x #y", &errs), 0);
    cr_expect_str_eq(cf.access_log, "/tmp/x #y");
    cr_expect_eq(conf_set_override(&cf, "redis=redis://:a=b@h", &errs), 0);
    cr_expect_str_eq(cf.redis, "redis://:a=b@h", "split at the first '='");
    cr_expect_eq(conf_set_override(&cf, "ttl_lead=bad", NULL), -1,
                 "ERRS may be NULL");
    cr_expect_eq(cf.ttl_lead_ms, 420000, "a bad value changes nothing");
    cr_expect_eq(errs.count, 0, "%s", errs.msg[0]);
    conf_free(&cf);
}

/* ---- files --------------------------------------------------------------- */

static const char good_text[] =
    "# a comment line\n"
    "\n"
    "   # an indented comment\n"
    "listen = 0.0.0.0:9090\r\n"
    "workers=4\n"
    "\tupstream\t=\thttp://127.0.0.1:9000/   # trailing comment\n"
    "upstream_lowlatency = \"\"\n"
    "redis_prefix = \"hsp2\"   # a quoted value\n"
    "access_log = /var/log/a#b.log\n"
    "ttl_lead = 1m\n"
    "ttl_lead = 2m\r\n"
    "log_level = debug #\n"
    "rate_limit = 120/h\n"
    "stale_if_error =   0s   \n"
    "idempotency_required = yes\n"
    "upstream_timeout = 2s";        /* no final newline */

Test(conf_file, valid_text)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_string(&cf, "good.conf", good_text, &errs), 0,
                 "%s", errs.msg[0]);
    cr_expect_eq(errs.count, 0);
    cr_expect_str_eq(cf.listen, "0.0.0.0:9090", "CRLF stripped");
    cr_expect_eq(cf.workers, 4);
    cr_expect_str_eq(cf.upstream, "http://127.0.0.1:9000/");
    cr_expect_str_eq(cf.upstream_lowlatency, "");
    cr_expect_str_eq(cf.redis_prefix, "hsp2");
    cr_expect_str_eq(cf.access_log, "/var/log/a#b.log", "'#' inside a word");
    cr_expect_eq(cf.ttl_lead_ms, 120000, "the last duplicate wins");
    cr_expect_eq(cf.log_level, CONF_LOG_DEBUG);
    cr_expect_eq(cf.rate_limit.count, 120);
    cr_expect_eq(cf.rate_limit.period_ms, 3600000);
    cr_expect_eq(cf.stale_if_error_ms, 0);
    cr_expect_eq(cf.idempotency_required, true);
    cr_expect_eq(cf.upstream_timeout_ms, 2000);
    cr_expect_eq(cf.ttl_not_found_ms, 30000, "untouched keys keep defaults");
    cr_expect_eq(conf_load_string(&cf, "q.conf",
                                  "access_log = \"/tmp/x #1.log\" # c\n"
                                  "upstream_ca_file = # nothing\n", &errs),
                 0, "%s", errs.msg[0]);
    cr_expect_str_eq(cf.access_log, "/tmp/x #1.log", "'#' inside quotes");
    cr_expect_str_eq(cf.upstream_ca_file, "", "a comment-only value");
    conf_free(&cf);
}

struct file_case {
    const char *text;
    const char *want;               /* the one exact error */
};

static const struct file_case file_errors[] = {
    { "listen 127.0.0.1:80\n",
      "t.conf:1: 'listen 127.0.0.1:80' is not a 'key = value' line (no '=')" },
    { "\n\n = 5\n", "t.conf:3: missing key before '='" },
    { "# c\nttl_leed = 5m\n",
      "t.conf:2: unknown key 'ttl_leed' (did you mean 'ttl_lead'?)" },
    { "TTL_LEAD = 5m\n",
      "t.conf:1: unknown key 'TTL_LEAD' (did you mean 'ttl_lead'?)" },
    { "upstream_timout = 5s\n",
      "t.conf:1: unknown key 'upstream_timout' (did you mean "
      "'upstream_timeout'?)" },
    { "redis_pefix = x\n",
      "t.conf:1: unknown key 'redis_pefix' (did you mean 'redis_prefix'?)" },
    { "colour = blue\n", "t.conf:1: unknown key 'colour'" },
    { "\ngzipp = on\n",
      "t.conf:2: unknown key 'gzipp' (did you mean 'gzip'?)" },
    { "upstream_cachecontrol = honor\n",
      "t.conf:1: unknown key 'upstream_cachecontrol' (did you mean "
      "'upstream_cache_control'?)" },
    { "upstream_cache_control = honer\n",
      "t.conf:1: upstream_cache_control: 'honer' is not one of honor or "
      "ignore" },
    { "# c\n\ngzip = maybe\n",
      "t.conf:3: gzip: 'maybe' is not a boolean (use yes or no)" },
    { "\r\nupstream_timeout = 10x\r\n",
      "t.conf:2: upstream_timeout: '10x' is not a duration (use a number "
      "with ms, s, m or h)" },
    { "ttl_lead = 30\n",
      "t.conf:1: ttl_lead: '30' has no unit (use a number with ms, s, m or "
      "h, e.g. 30s)" },
    { "access_log = \"/tmp/x\n",
      "t.conf:1: access_log: the opening '\"' has no closing '\"'" },
    { "access_log = \"/tmp/x\" y\n",
      "t.conf:1: access_log: unexpected text after the closing '\"'" },
    { "listen = \n", "t.conf:1: listen: '' is empty (use host:port, e.g. "
      "127.0.0.1:8080)" },
    { "listen = \"\"\n", "t.conf:1: listen: '' is empty (use host:port, "
      "e.g. 127.0.0.1:8080)" },
    { "upstream_ca_file = /\n", "t.conf:1: upstream_ca_file: '/' is not a "
      "regular file (use the path of a PEM file, or leave it empty)" },
    { "access_log =\n", "t.conf:1: access_log: '' is empty (use stderr, off "
      "or a file path)" },
    { "max_body = 64k # ok\nmax_body = 64 k\n",
      "t.conf:2: max_body: '64 k' is not a size (use a number of bytes, or "
      "with k or m)" },
    { "redis = redis://:s3cret@h:0\n",
      "t.conf:1: redis: 'redis://***@h:0' is not a Redis URL: port is out "
      "of range (1 to 65535)" },
    { "access_log = a\x01" "b\n",
      "t.conf:1: access_log: 'a?b' contains a control character" },
    /* found by fuzz_conf: the port's raw bytes were in the message */
    { "listen=0.true0:etl_lt\xbd",
      "t.conf:1: listen: '0.true0:etl_lt?' is not a listen address: port "
      "'etl_lt?' is not a number" },
};

Test(conf_file, error_table)
{
    size_t i;

    for (i = 0; i < NELEM(file_errors); i++) {
        struct conf        cf;
        struct conf_errors errs = { 0 };
        int                rc;

        cr_assert_eq(conf_init(&cf), 0);
        rc = conf_load_string(&cf, "t.conf", file_errors[i].text, &errs);
        cr_expect_eq(rc, -1, "case %zu accepted", i);
        cr_expect_eq(errs.count, 1, "case %zu: %zu errors", i, errs.count);
        cr_expect_str_eq(errs.msg[0], file_errors[i].want, "case %zu", i);
        conf_free(&cf);
    }
}

Test(conf_file, all_errors_collected)
{
    static const char text[] =
        "ttl_lead = 1m\n"           /* 1 */
        "bogus\n"                   /* 2 */
        "ttl_leed = 5m\n"           /* 3 */
        "max_body = 64k\n"          /* 4 */
        "workers = lots\n"          /* 5 */
        "log_format = text\n";      /* 6 */
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_string(&cf, "m.conf", text, &errs), -1);
    cr_assert_eq(errs.count, 3);
    cr_expect(strncmp(errs.msg[0], "m.conf:2: ", 10) == 0, "%s", errs.msg[0]);
    cr_expect(strncmp(errs.msg[1], "m.conf:3: ", 10) == 0, "%s", errs.msg[1]);
    cr_expect_str_eq(errs.msg[2], "m.conf:5: workers: 'lots' is not a worker "
                     "count (use auto or a number)");
    cr_expect_eq(cf.ttl_lead_ms, 60000, "good lines still apply");
    cr_expect_eq(cf.log_format, CONF_LOG_TEXT, "lines after errors apply");
    cr_expect_eq(cf.workers, 0, "a bad value keeps the old one");
    /* Errors accumulate across calls, as -c then -o do. */
    cr_expect_eq(conf_set_override(&cf, "workers=x", &errs), -1);
    cr_expect_eq(errs.count, 4);
    cr_expect_eq(conf_load_string(&cf, "ok.conf", "workers = 2\n", &errs), 0,
                 "returns 0 when it added no error");
    conf_free(&cf);
}

Test(conf_file, error_cap)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char              *text;
    size_t             i, n = CONF_ERRORS_MAX + 10;

    text = calloc(n, 8);
    cr_assert_not_null(text);
    for (i = 0; i < n; i++) {
        strcat(text, "bogus\n");
    }
    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_string(&cf, "cap.conf", text, &errs), -1);
    cr_expect_eq(errs.count, CONF_ERRORS_MAX);
    cr_expect_eq(errs.dropped, 10);
    cr_expect_eq(conf_load_string(&cf, "cap.conf", "bogus\n", NULL), -1,
                 "ERRS may be NULL");
    free(text);
    conf_free(&cf);
}

Test(conf_file, long_lines)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char              *text;
    size_t             len = 4096 + 200;

    text = malloc(len + 64);
    cr_assert_not_null(text);
    /* Exactly 4096 bytes is accepted (a long value, then an error about
     * the value itself); 4097 is refused whole, not truncated. */
    memset(text, 'a', 4096);
    memcpy(text, "access_log = /", 14);
    strcpy(text + 4096, "\r\n");
    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_string(&cf, "l.conf", text, &errs), 0, "%s",
                 errs.msg[0]);
    cr_expect_eq(strlen(cf.access_log), 4096 - 13);
    memset(text, 'a', len);
    memcpy(text, "ttl_lead = 1m", 13);
    strcpy(text + len, "\nttl_lead = 2m\n");
    cr_expect_eq(conf_load_string(&cf, "l.conf", text, &errs), -1);
    cr_assert_eq(errs.count, 1);
    cr_expect_str_eq(errs.msg[0], "l.conf:1: line is longer than 4096 bytes");
    cr_expect_eq(cf.ttl_lead_ms, 120000, "parsing goes on after it");
    free(text);
    conf_free(&cf);
}

/* Writes LEN bytes of DATA to a new temporary file; returns its path. */
static char *
write_temp(const void *data, size_t len)
{
    char *path = strdup("/tmp/test_conf.XXXXXX");
    int   fd;

    cr_assert_not_null(path);
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(conf_file, nul_bytes_and_bom)
{
    static const char data[] = "\xef\xbb\xbfttl_lead = 1m\n"
                               "ttl_not_found = 1\0s\n"
                               "ttl_blocks = 5s\n";
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char              *path, want[256];

    path = write_temp(data, sizeof(data) - 1);
    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_file(&cf, path, &errs), -1);
    cr_assert_eq(errs.count, 1);
    snprintf(want, sizeof(want), "%s:2: line contains a NUL byte", path);
    cr_expect_str_eq(errs.msg[0], want);
    cr_expect_eq(cf.ttl_lead_ms, 60000, "the BOM is skipped");
    cr_expect_eq(cf.ttl_not_found_ms, 30000);
    cr_expect_eq(cf.ttl_blocks_ms, 5000);
    unlink(path);
    free(path);
    conf_free(&cf);
}

Test(conf_file, buffer_with_length)
{
    /* What follows LEN is never read: the last line has no newline and
     * no NUL after it, and a NUL inside a line is an error, not its end. */
    static const char data[] = "ttl_lead = 1m\r\n"
                               "ttl_not_found = 1\0s\n"
                               "ttl_blocks = 5sXXXX";
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char              *copy;
    size_t             len = sizeof(data) - 1 - 4;

    copy = malloc(len);             /* exactly LEN bytes, for ASan */
    cr_assert_not_null(copy);
    memcpy(copy, data, len);
    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_buffer(&cf, "b.conf", copy, len, &errs), -1);
    cr_assert_eq(errs.count, 1);
    cr_expect_str_eq(errs.msg[0], "b.conf:2: line contains a NUL byte");
    cr_expect_eq(cf.ttl_lead_ms, 60000);
    cr_expect_eq(cf.ttl_not_found_ms, 30000);
    cr_expect_eq(cf.ttl_blocks_ms, 5000, "the last line ends at LEN");
    errs.count = 0;
    cr_expect_eq(conf_load_buffer(&cf, "e.conf", copy, 0, &errs), 0,
                 "an empty buffer is an empty file");
    cr_expect_eq(errs.count, 0);
    free(copy);
    conf_free(&cf);
}

Test(conf_file, unreadable)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_file(&cf, "/nonexistent/hsp.conf", &errs), -1);
    cr_assert_eq(errs.count, 1);
    cr_expect_str_eq(errs.msg[0], "/nonexistent/hsp.conf: cannot open: No "
                     "such file or directory");
    cr_expect_eq(conf_load_file(&cf, "/", &errs), -1, "a directory");
    cr_expect_eq(errs.count, 2);
    expect_spec_defaults(&cf, "after failed loads");
    conf_free(&cf);
}

Test(conf_file, ca_file_readable)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char              *path, kv[64];

    path = write_temp("-----BEGIN CERTIFICATE-----\n", 28);
    snprintf(kv, sizeof(kv), "upstream_ca_file=%s", path);
    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_set_override(&cf, kv, &errs), 0, "%s", errs.msg[0]);
    cr_expect_str_eq(cf.upstream_ca_file, path);
    unlink(path);
    free(path);
    conf_free(&cf);
}

/* Finds FILE under $abs_top_srcdir, or relative to the usual cwds. */
static char *
source_path(const char *file)
{
    const char *top = getenv("abs_top_srcdir");
    const char *tops[] = { top, ".", "../..", ".." };
    char        buf[4096];
    size_t      i;

    for (i = 0; i < NELEM(tops); i++) {
        if (tops[i] == NULL) {
            continue;
        }
        snprintf(buf, sizeof(buf), "%s/%s", tops[i], file);
        if (access(buf, R_OK) == 0) {
            return strdup(buf);
        }
    }
    cr_assert_fail("cannot find %s (set abs_top_srcdir)", file);
    return NULL;
}

#define READ_TEXT_MAX (1 << 18)     /* room for a long document */

/* Reads the whole file at PATH, with a newline in front, or fails. */
static char *
read_text(const char *path)
{
    char  *text;
    size_t len;
    FILE  *f;

    text = calloc(1, READ_TEXT_MAX);
    cr_assert_not_null(text);
    text[0] = '\n';
    f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    len = fread(text + 1, 1, READ_TEXT_MAX - 2, f);
    fclose(f);
    cr_assert_lt(len, READ_TEXT_MAX - 2, "%s is too large for the test",
                 path);
    return text;
}

Test(conf_file, default_file)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char              *path, *text, want[128];
    size_t             i;

    path = source_path("conf/heavyset-proxy.conf");
    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_file(&cf, path, &errs), 0, "%s", errs.msg[0]);
    cr_expect_eq(errs.count, 0);
    expect_spec_defaults(&cf, "conf/heavyset-proxy.conf");
    cr_expect_eq(conf_validate(&cf, &errs), 0, "%s", errs.msg[0]);

    /* Every key is documented as an uncommented `key = default` line;
     * an empty default is written `key =`. A key whose default follows
     * another is commented out (`# key = default`): set, it would stop
     * following. */
    text = read_text(path);
    for (i = 0; i < conf_key_count(); i++) {
        bool derived = conf_key_derived(i) != NULL;

        snprintf(want, sizeof(want), "\n%s%s =%s%s\n",
                 derived ? "# " : "", conf_key_name(i),
                 conf_key_default(i)[0] == '\0' ? "" : " ",
                 conf_key_default(i));
        cr_expect_not_null(strstr(text, want), "%s lacks '%s'", path,
                           want + 1);
        snprintf(want, sizeof(want), "\n%s =", conf_key_name(i));
        cr_expect(!derived || strstr(text, want) == NULL,
                  "%s sets %s, which would stop following its default",
                  path, conf_key_name(i));
    }
    free(text);
    free(path);
    conf_free(&cf);
}

/* doc/configuration.md has one table row per key, with its default. */
Test(conf_file, doc_table)
{
    char  *path, *text, want[128];
    size_t i;

    path = source_path("doc/configuration.md");
    text = read_text(path);
    for (i = 0; i < conf_key_count(); i++) {
        const char *derived = conf_key_derived(i), *of;

        if (derived != NULL) {
            /* "a sixth of rate_limit" -> a sixth of `rate_limit` (`10/min`) */
            of = strrchr(derived, ' ') + 1;
            snprintf(want, sizeof(want), "\n| `%s` | %.*s`%s` (`%s`) |",
                     conf_key_name(i), (int)(of - derived), derived, of,
                     conf_key_default(i));
        } else if (conf_key_default(i)[0] == '\0') {
            snprintf(want, sizeof(want), "\n| `%s` | empty |",
                     conf_key_name(i));
        } else {
            snprintf(want, sizeof(want), "\n| `%s` | `%s` |", conf_key_name(i),
                     conf_key_default(i));
        }
        cr_expect_not_null(strstr(text, want), "%s lacks the row '%s'", path,
                           want + 1);
    }
    free(text);
    free(path);
}

Test(conf_file, bad_fixture)
{
    static const char *const want[] = {
        ":4: 'this line has no equals sign' is not a 'key = value' line "
        "(no '=')",
        ":7: unknown key 'ttl_leed' (did you mean 'ttl_lead'?)",
        ":9: upstream_timeout: '10x' is not a duration (use a number with "
        "ms, s, m or h)",
        ":11: max_body: '1g' is not a size (use a number of bytes, or with k "
        "or m)",
        ":13: upstream: 'https://api.heavyset.tech/api/v1' is not an "
        "upstream URL: a path is not allowed (the proxy forwards request "
        "paths unchanged)",
        ":15: rate_limit: '60' has no unit (use N/s, N/min or N/h, or 0 for "
        "off, e.g. 60/min)",
        ":17: redis_prefix: 'hsp:v1' is not a key prefix (use 1 to 32 of A-Z "
        "a-z 0-9 _ . -)",
    };
    struct conf        cf;
    struct conf_errors errs = { 0 };
    char              *path, full[512];
    size_t             i;

    /* Load it by a short relative name, so that no message is cut at
     * CONF_ERROR_LEN however deep the source tree lies (distcheck). */
    path = source_path("tests/fixtures/bad.conf");
    *strrchr(path, '/') = '\0';
    cr_assert_eq(chdir(path), 0, "cannot enter %s", path);
    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_file(&cf, "bad.conf", &errs), -1);
    cr_expect_eq(errs.count, NELEM(want));
    for (i = 0; i < NELEM(want) && i < errs.count; i++) {
        snprintf(full, sizeof(full), "bad.conf%s", want[i]);
        cr_expect_str_eq(errs.msg[i], full, "error %zu", i);
    }
    cr_expect_eq(cf.ttl_not_found_ms, 45000, "the good lines apply");
    free(path);
    conf_free(&cf);
}

/* Random bytes must never crash the reader or the -o path. */
Test(conf_file, never_crashes)
{
    static const char alphabet[] = "= #\"\r\n\t\\/:@.-_0123456789smhk"
                                   "abcdefghijklmnopqrstuvwxyz\x01\xff";
    struct conf        cf;
    unsigned           seed = 12345;
    char               text[600];
    size_t             round, i, n;

    cr_assert_eq(conf_init(&cf), 0);
    for (round = 0; round < 3000; round++) {
        struct conf_errors errs = { 0 };

        n = (seed = seed * 1103515245u + 12345u) % (sizeof(text) - 1);
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            text[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        text[n] = '\0';
        (void)conf_load_string(&cf, "fuzz", text, &errs);
        (void)conf_set_override(&cf, text, &errs);
        if (n > 10) {
            memcpy(text, conf_key_name(round % conf_key_count()),
                   strlen(conf_key_name(round % conf_key_count())));
            (void)conf_set_override(&cf, text, &errs);
            (void)conf_load_string(&cf, "fuzz", text, &errs);
        }
        (void)conf_validate(&cf, &errs);
    }
    conf_free(&cf);
}

/* ---- cross-key checks ---------------------------------------------------- */

struct validate_case {
    const char *text;
    const char *want;               /* NULL: valid */
};

static const struct validate_case validate_cases[] = {
    { "", NULL },
    { "rate_reserve_writes = 60/min\n", NULL },
    { "rate_reserve_writes = 1/s\n", NULL },          /* 60/min exactly */
    { "rate_reserve_writes = 2/s\n",
      "v.conf:1: rate_reserve_writes: 2/s exceeds rate_limit 60/min (the "
      "reserve for writes is taken from that budget)" },
    { "rate_reserve_writes = 61/min\n",
      "v.conf:1: rate_reserve_writes: 61/min exceeds rate_limit 60/min (the "
      "reserve for writes is taken from that budget)" },
    { "rate_limit = 3600/h\nrate_reserve_writes = 1/s\n", NULL },
    { "rate_limit = 10/min\nrate_reserve_writes = 20/min\n"
      "rate_limit_fallback = 10/min\n",
      "v.conf:2: rate_reserve_writes: 20/min exceeds rate_limit 10/min (the "
      "reserve for writes is taken from that budget)" },
    /* set before rate_limit lowers it: still the line that set it */
    { "# x\nrate_reserve_writes = 20/min\nrate_limit = 10/min\n",
      "v.conf:2: rate_reserve_writes: 20/min exceeds rate_limit 10/min (the "
      "reserve for writes is taken from that budget)" },
    { "rate_limit = 0\nrate_reserve_writes = 10/min\n", NULL },
    { "rate_limit_fallback = 2/s\n",
      "v.conf:1: rate_limit_fallback: 2/s exceeds rate_limit 60/min (one "
      "instance alone would overrun the shared budget while Redis is "
      "down)" },
    { "rate_limit_fallback = 0\n", NULL },
    /* the defaults follow rate_limit: never an error */
    { "rate_limit = 10/min\n", NULL },
    { "rate_limit = 1/min\n", NULL },
    { "rate_limit = 1/s\n", NULL },
    { "rate_limit = 10/min\nrate_limit_fallback = 10/min\n", NULL },
    { "rate_limit = 10/min\nrate_reserve_writes = 5/min\n", NULL },
    { "rate_limit = 10/min\nrate_limit_fallback = 11/min\n",
      "v.conf:2: rate_limit_fallback: 11/min exceeds rate_limit 10/min (one "
      "instance alone would overrun the shared budget while Redis is "
      "down)" },
    { "idempotency_required = yes\n", NULL },
    { "idempotency_required = yes\nidempotency_ttl = 0\n",
      "idempotency_required: yes needs idempotency_ttl above 0 (responses "
      "are kept for replay that long)" },
    { "idempotency_ttl = 0\n", NULL },
    { "upstream_lowlatency = https://fast.example\n", NULL },
    { "upstream_lowlatency = http://fast.example\n",
      "upstream_lowlatency: plain http:// while upstream uses https:// would "
      "send tokens unencrypted (use https://)" },
    { "upstream = http://127.0.0.1:9000\n"
      "upstream_lowlatency = http://127.0.0.1:9001\n", NULL },
    { "redis = rediss://127.0.0.1:6380\nredis_ca_file = /etc/passwd\n",
      NULL },
    { "redis_cert_file = /etc/passwd\nredis_key_file = /etc/passwd\n",
      NULL },
    { "redis_cert_file = /etc/passwd\n",
      "redis_cert_file and redis_key_file go together (a client "
      "certificate and its key)" },
};

Test(conf_validate, cross_key_table)
{
    size_t i;

    for (i = 0; i < NELEM(validate_cases); i++) {
        const struct validate_case *c = &validate_cases[i];
        struct conf                 cf;
        struct conf_errors          errs = { 0 };
        int                         rc;

        cr_assert_eq(conf_init(&cf), 0);
        cr_assert_eq(conf_load_string(&cf, "v.conf", c->text, &errs), 0,
                     "case %zu: %s", i, errs.msg[0]);
        rc = conf_validate(&cf, &errs);
        if (c->want == NULL) {
            cr_expect_eq(rc, 0, "case %zu: %s", i, errs.msg[0]);
            cr_expect_eq(errs.count, 0, "case %zu", i);
        } else {
            cr_expect_eq(rc, -1, "case %zu accepted", i);
            cr_expect_eq(errs.count, 1, "case %zu: %zu errors", i,
                         errs.count);
            cr_expect_str_eq(errs.msg[0], c->want, "case %zu", i);
        }
        conf_free(&cf);
    }
}

Test(conf_validate, several_at_once)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    cr_assert_eq(conf_load_string(&cf, "v.conf",
                                  "rate_limit = 1/min\n"
                                  "rate_reserve_writes = 10/min\n"
                                  "rate_limit_fallback = 20/min\n"
                                  "idempotency_required = yes\n"
                                  "idempotency_ttl = 0\n"
                                  "upstream_lowlatency = http://x\n",
                                  &errs),
                 0);
    cr_expect_eq(conf_validate(&cf, &errs), -1);
    cr_expect_eq(errs.count, 4, "reserve, fallback, idempotency, scheme");
    cr_expect_eq(strncmp(errs.msg[0], "v.conf:2: rate_reserve_writes: ", 31),
                 0, "%s", errs.msg[0]);
    cr_expect_eq(strncmp(errs.msg[1], "v.conf:3: rate_limit_fallback: ", 31),
                 0, "%s", errs.msg[1]);
    conf_free(&cf);
}

/* ---- rate shares that follow rate_limit (SPEC §9) ----------------------- */

struct derive_case {
    const char *text;               /* the file */
    const char *opt;                /* then this -o, or NULL */
    int64_t     reserve, reserve_period;
    int64_t     fallback, fallback_period;
};

#define MIN_MS  INT64_C(60000)
#define SEC_MS  INT64_C(1000)
#define HOUR_MS INT64_C(3600000)

static const struct derive_case derive_cases[] = {
    { "", NULL, 10, MIN_MS, 20, MIN_MS },               /* as before */
    { "rate_limit = 60/min\n", NULL, 10, MIN_MS, 20, MIN_MS },
    { "", "rate_limit=10/min", 1, MIN_MS, 3, MIN_MS },
    { "rate_limit = 10/min\n", NULL, 1, MIN_MS, 3, MIN_MS },
    /* rounded down: 7/6 = 1.17, 7/3 = 2.33 */
    { "rate_limit = 7/min\n", NULL, 1, MIN_MS, 2, MIN_MS },
    { "rate_limit = 11/min\n", NULL, 1, MIN_MS, 3, MIN_MS },
    { "rate_limit = 12/min\n", NULL, 2, MIN_MS, 4, MIN_MS },
    { "rate_limit = 600/min\n", NULL, 100, MIN_MS, 200, MIN_MS },
    /* but at least 1: the fallback from 1 (0 would mean no local limit),
     * the reserve from 2 (under 1 it would leave reads nothing) */
    { "rate_limit = 5/min\n", NULL, 1, MIN_MS, 1, MIN_MS },
    { "rate_limit = 2/min\n", NULL, 1, MIN_MS, 1, MIN_MS },
    { "rate_limit = 1/min\n", NULL, 0, MIN_MS, 1, MIN_MS },
    /* off: no budget, nothing limited */
    { "rate_limit = 0\n", NULL, 0, MIN_MS, 0, MIN_MS },
    { "rate_limit = 0/h\n", NULL, 0, HOUR_MS, 0, HOUR_MS },
    /* in rate_limit's own unit */
    { "rate_limit = 90/h\n", NULL, 15, HOUR_MS, 30, HOUR_MS },
    { "rate_limit = 3600/hour\n", NULL, 600, HOUR_MS, 1200, HOUR_MS },
    { "rate_limit = 12/s\n", NULL, 2, SEC_MS, 4, SEC_MS },
    { "rate_limit = 1/sec\n", NULL, 0, SEC_MS, 1, SEC_MS },
    { "rate_limit = 6/m\n", NULL, 1, MIN_MS, 2, MIN_MS },
    /* a value that was set stays, whatever rate_limit does after it */
    { "rate_reserve_writes = 3/min\nrate_limit = 12/min\n", NULL,
      3, MIN_MS, 4, MIN_MS },
    { "rate_limit_fallback = 5/h\n", "rate_limit=30/min",
      5, MIN_MS, 5, HOUR_MS },
    { "rate_limit = 30/min\n", "rate_reserve_writes=0", 0, MIN_MS,
      10, MIN_MS },
    /* a default written out is set too: it no longer follows */
    { "rate_reserve_writes = 10/min\nrate_limit_fallback = 20/min\n",
      "rate_limit=120/min", 10, MIN_MS, 20, MIN_MS },
    /* the last rate_limit counts */
    { "rate_limit = 10/min\nrate_limit = 60/min\n", NULL,
      10, MIN_MS, 20, MIN_MS },
    /* a refused rate_limit leaves the shares as they were */
    { "rate_limit = 12/min\n", "rate_limit=12", 2, MIN_MS, 4, MIN_MS },
};

Test(conf_derive, rate_shares_table)
{
    size_t i;

    for (i = 0; i < NELEM(derive_cases); i++) {
        const struct derive_case *c = &derive_cases[i];
        struct conf               cf;
        struct conf_errors        errs = { 0 };

        cr_assert_eq(conf_init(&cf), 0);
        (void)conf_load_string(&cf, "d.conf", c->text, &errs);
        if (c->opt != NULL) {
            (void)conf_set_override(&cf, c->opt, &errs);
        }
        if (c->opt != NULL && strcmp(c->opt, "rate_limit=12") == 0) {
            cr_expect_eq(errs.count, 1, "case %zu", i);
        } else {
            cr_expect_eq(errs.count, 0, "case %zu: %s", i, errs.msg[0]);
            cr_expect_eq(conf_validate(&cf, &errs), 0, "case %zu: %s", i,
                         errs.msg[0]);
        }
        cr_expect_eq(cf.rate_reserve_writes.count, c->reserve,
                     "case %zu: reserve %lld, want %lld", i,
                     (long long)cf.rate_reserve_writes.count,
                     (long long)c->reserve);
        cr_expect_eq(cf.rate_reserve_writes.period_ms, c->reserve_period,
                     "case %zu: reserve period %lld", i,
                     (long long)cf.rate_reserve_writes.period_ms);
        cr_expect_eq(cf.rate_limit_fallback.count, c->fallback,
                     "case %zu: fallback %lld, want %lld", i,
                     (long long)cf.rate_limit_fallback.count,
                     (long long)c->fallback);
        cr_expect_eq(cf.rate_limit_fallback.period_ms, c->fallback_period,
                     "case %zu: fallback period %lld", i,
                     (long long)cf.rate_limit_fallback.period_ms);
        conf_free(&cf);
    }
}

/* The startup that used to fail: only rate_limit lowered, by -o. */
Test(conf_derive, lower_limit_alone_starts)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_set_override(&cf, "rate_limit=10/min", &errs), 0);
    cr_expect_eq(conf_validate(&cf, &errs), 0, "%s", errs.msg[0]);
    cr_expect_eq(errs.count, 0);
    conf_free(&cf);
}

/* An explicit value over the limit is named where it was set. */
Test(conf_derive, explicit_over_limit_names_where)
{
    static const struct {
        const char *text, *opt, *want;
    } cases[] = {
        { "", "rate_reserve_writes=20/min",
          "-o rate_reserve_writes=20/min: rate_reserve_writes: 20/min "
          "exceeds rate_limit 10/min (the reserve for writes is taken from "
          "that budget)" },
        { "rate_limit_fallback = 1/s\n", NULL,
          "e.conf:1: rate_limit_fallback: 1/s exceeds rate_limit 10/min (one "
          "instance alone would overrun the shared budget while Redis is "
          "down)" },
    };
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        struct conf        cf;
        struct conf_errors errs = { 0 };

        cr_assert_eq(conf_init(&cf), 0);
        cr_assert_eq(conf_load_string(&cf, "e.conf", cases[i].text, &errs),
                     0);
        cr_assert_eq(conf_set_override(&cf, "rate_limit=10/min", &errs), 0);
        if (cases[i].opt != NULL) {
            cr_assert_eq(conf_set_override(&cf, cases[i].opt, &errs), 0);
        }
        cr_expect_eq(conf_validate(&cf, &errs), -1, "case %zu", i);
        cr_expect_eq(errs.count, 1, "case %zu", i);
        cr_expect_str_eq(errs.msg[0], cases[i].want, "case %zu", i);
        conf_free(&cf);
    }
}

/* What the docs say the defaults are. */
Test(conf_derive, docs)
{
    size_t i, n = 0;

    for (i = 0; i < conf_key_count(); i++) {
        if (conf_key_derived(i) == NULL) {
            continue;
        }
        n++;
        if (strcmp(conf_key_name(i), "rate_reserve_writes") == 0) {
            cr_expect_str_eq(conf_key_derived(i), "a sixth of rate_limit");
        } else {
            cr_expect_str_eq(conf_key_name(i), "rate_limit_fallback");
            cr_expect_str_eq(conf_key_derived(i), "a third of rate_limit");
        }
    }
    cr_expect_eq(n, 2);
    cr_expect_null(conf_key_derived(conf_key_count()));
}

Test(conf_override, gzip_and_cache_control)
{
    static const struct {
        const char             *kv;
        bool                    gzip;
        enum conf_cache_control cc;
    } cases[] = {
        { "gzip=on", true, CONF_CACHE_CONTROL_HONOR },
        { "gzip=yes", true, CONF_CACHE_CONTROL_HONOR },
        { "gzip=true", true, CONF_CACHE_CONTROL_HONOR },
        { "gzip=off", false, CONF_CACHE_CONTROL_HONOR },
        { "gzip=no", false, CONF_CACHE_CONTROL_HONOR },
        { "upstream_cache_control=ignore", false,
          CONF_CACHE_CONTROL_IGNORE },
        { "upstream_cache_control=Ignore", false,
          CONF_CACHE_CONTROL_IGNORE },
        { "upstream_cache_control=honor", false, CONF_CACHE_CONTROL_HONOR },
        { "upstream_cache_control=honour", false, CONF_CACHE_CONTROL_HONOR },
        { "upstream_cache_control=HONOUR", false, CONF_CACHE_CONTROL_HONOR },
    };
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        struct conf        cf;
        struct conf_errors errs = { 0 };

        cr_assert_eq(conf_init(&cf), 0);
        /* start from the other value, so that each case shows a change */
        cf.gzip = !cases[i].gzip;
        cf.upstream_cache_control = cases[i].cc == CONF_CACHE_CONTROL_HONOR
                                        ? CONF_CACHE_CONTROL_IGNORE
                                        : CONF_CACHE_CONTROL_HONOR;
        if (strncmp(cases[i].kv, "gzip", 4) == 0) {
            cf.upstream_cache_control = cases[i].cc;
        } else {
            cf.gzip = cases[i].gzip;
        }
        cr_expect_eq(conf_set_override(&cf, cases[i].kv, &errs), 0, "-o %s",
                     cases[i].kv);
        cr_expect_eq(cf.gzip, cases[i].gzip, "-o %s", cases[i].kv);
        cr_expect_eq(cf.upstream_cache_control, cases[i].cc, "-o %s",
                     cases[i].kv);
        conf_free(&cf);
    }
}

Test(conf_override, wins_over_file)
{
    struct conf        cf;
    struct conf_errors errs = { 0 };

    cr_assert_eq(conf_init(&cf), 0);
    cr_expect_eq(conf_load_string(&cf, "f.conf", "ttl_lead = 1m\n"
                                  "listen = 127.0.0.1:1\n", &errs), 0);
    cr_expect_eq(conf_set_override(&cf, "ttl_lead=3m", &errs), 0);
    cr_expect_eq(conf_set_override(&cf, "listen=127.0.0.1:0", &errs), 0);
    cr_expect_eq(cf.ttl_lead_ms, 180000);
    cr_expect_str_eq(cf.listen, "127.0.0.1:0");
    cr_expect_eq(conf_set_override(&cf, "ttl_lead=3", &errs), -1);
    cr_expect_eq(cf.ttl_lead_ms, 180000, "a bad -o keeps the value");
    cr_expect_eq(errs.count, 1);
    conf_free(&cf);
}

/* ---- reload: conf_diff ---------------------------------------------------- */

struct diff_case {
    const char *text;               /* the new file, on top of defaults */
    const char *changed;            /* applied keys, comma separated */
    const char *restart;            /* kept keys, comma separated */
};

static const struct diff_case diff_cases[] = {
    { "", "", "" },
    { "ttl_lead = 5m\n", "", "" },  /* the default: no change */
    { "ttl_lead = 1s\n", "ttl_lead", "" },
    /* 60/min in another period; the shares follow it, in seconds */
    { "rate_limit = 1/s\n",
      "rate_limit,rate_reserve_writes,rate_limit_fallback", "" },
    { "rate_limit = 120/min\nrate_limit_wait = 2s\n",
      "rate_limit,rate_reserve_writes,rate_limit_wait,rate_limit_fallback",
      "" },
    { "rate_limit = 120/min\nrate_reserve_writes = 10/min\n"
      "rate_limit_fallback = 20/min\n", "rate_limit", "" },
    { "gzip = on\nupstream_cache_control = ignore\n",
      "gzip,upstream_cache_control", "" },
    { "gzip = off\nupstream_cache_control = honour\n", "", "" },
    { "ttl_not_found = 1s\nttl_dispositions = 1s\nttl_blocks = 1s\n"
      "stale_while_revalidate = 0\nstale_if_error = 0\n",
      "ttl_not_found,ttl_dispositions,ttl_blocks,stale_while_revalidate,"
      "stale_if_error", "" },
    { "idempotency_ttl = 1h\nidempotency_required = yes\n",
      "idempotency_ttl,idempotency_required", "" },
    { "max_body = 1m\nupstream_timeout = 2s\nredis_timeout = 1s\n",
      "upstream_timeout,redis_timeout,max_body", "" },
    { "log_level = debug\nlog_format = text\n", "log_level,log_format", "" },
    { "rate_reserve_writes = 0\nrate_limit_fallback = 0\n",
      "rate_reserve_writes,rate_limit_fallback", "" },
    { "listen = 127.0.0.1:9999\n", "", "listen" },
    { "workers = 3\n", "", "workers" },
    { "upstream = https://example.com\n", "", "upstream" },
    { "upstream_lowlatency = https://low.example.com\n", "",
      "upstream_lowlatency" },
    { "upstream_connections = 8\n", "", "upstream_connections" },
    { "redis = unix:///tmp/r.sock\n", "", "redis" },
    { "redis_prefix = other\n", "", "redis_prefix" },
    { "near_cache = 0\n", "", "near_cache" },
    { "access_log = off\n", "access_log", "" },
    { "max_headers = 20\nmax_header_size = 4k\nmax_query = 1k\n",
      "max_header_size,max_headers,max_query", "" },
    { "max_connections = 10\nclient_timeout = 5s\n", "",
      "client_timeout,max_connections" },
    { "listen = 127.0.0.1:9999\nttl_lead = 1s\nredis_prefix = x\n",
      "ttl_lead", "listen,redis_prefix" },
};

/* NAMES joined with commas, as the table writes them. */
static void
diff_join(const char *const *names, size_t n, char *buf, size_t cap)
{
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s%s",
                                i > 0 ? "," : "", names[i]);
        cr_assert_lt(len, cap);
    }
}

Test(conf_reload, diff_table)
{
    size_t i;

    for (i = 0; i < NELEM(diff_cases); i++) {
        const struct diff_case *c = &diff_cases[i];
        struct conf             old, next;
        struct conf_errors      errs;
        struct conf_diff        d, again;
        char                    got[512];

        memset(&errs, 0, sizeof(errs));
        cr_assert_eq(conf_init(&old), 0);
        cr_assert_eq(conf_init(&next), 0);
        cr_assert_eq(conf_load_string(&next, "new.conf", c->text, &errs), 0,
                     "case %zu: %s", i, errs.msg[0]);
        cr_assert_eq(conf_diff(&old, &next, &d), 0);
        diff_join(d.changed, d.nchanged, got, sizeof(got));
        cr_assert_str_eq(got, c->changed, "case %zu changed", i);
        diff_join(d.restart, d.nrestart, got, sizeof(got));
        cr_assert_str_eq(got, c->restart, "case %zu restart", i);
        /* the kept keys are back to the old values: a second diff only
         * sees what applies, and NEXT with OLD's keys is still valid */
        cr_assert_eq(conf_diff(&old, &next, &again), 0);
        cr_assert_eq(again.nrestart, 0, "case %zu", i);
        cr_assert_eq(again.nchanged, d.nchanged, "case %zu", i);
        cr_assert_eq(conf_validate(&next, &errs), 0, "case %zu", i);
        /* and NEXT against itself: nothing */
        cr_assert_eq(conf_diff(&next, &next, &again), 0);
        cr_assert_eq(again.nchanged + again.nrestart, 0);
        conf_free(&old);
        conf_free(&next);
    }
}

Test(conf_reload, restart_keys_are_known_keys)
{
    static const char *const restart[] = {
        "listen", "workers", "upstream", "upstream_lowlatency",
        "upstream_ca_file", "upstream_connections", "redis", "redis_ca_file",
        "redis_cert_file", "redis_key_file", "redis_sentinel_user",
        "redis_sentinel_password", "redis_prefix", "near_cache", "max_connections", "client_timeout",
    };
    size_t i, n = 0;

    for (i = 0; i < conf_key_count(); i++) {
        n += conf_key_needs_restart(conf_key_name(i));
    }
    cr_assert_eq(n, NELEM(restart));
    for (i = 0; i < NELEM(restart); i++) {
        cr_assert(conf_key_needs_restart(restart[i]), "%s", restart[i]);
    }
    cr_assert_not(conf_key_needs_restart("ttl_lead"));
    cr_assert_not(conf_key_needs_restart("rate_limit"));
    cr_assert_not(conf_key_needs_restart("access_log"));
    cr_assert_not(conf_key_needs_restart("nope"));
}

Test(conf_reload, ref_counts)
{
    struct conf      cf;
    struct conf_ref *ref;

    cr_assert_eq(conf_init(&cf), 0);
    cf.ttl_lead_ms = 1234;
    ref = conf_ref_new(&cf);
    cr_assert_not_null(ref);
    cr_assert_null(cf.listen);      /* the strings moved */
    cr_assert_eq(conf_ref_conf(ref)->ttl_lead_ms, 1234);
    cr_assert_str_eq(conf_ref_conf(ref)->listen, "127.0.0.1:8080");
    cr_assert_eq(conf_ref_hold(ref), ref);
    conf_ref_drop(ref);
    cr_assert_eq(conf_ref_conf(ref)->ttl_lead_ms, 1234);   /* still held */
    conf_ref_drop(ref);             /* freed: ASan reports a leak if not */
    conf_ref_drop(NULL);
}
