/* test_url.c - upstream, Redis and listen address parsers. */
#include "config.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "url.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct upstream_case {
    const char *in;
    int         rc;
    bool        tls;
    const char *host;
    uint16_t    port;
    const char *err;                /* substring of the reason, or NULL */
};

static const struct upstream_case upstream_cases[] = {
    { "https://api.heavyset.tech", 0, true, "api.heavyset.tech", 443, NULL },
    { "https://api.heavyset.tech/", 0, true, "api.heavyset.tech", 443, NULL },
    { "http://127.0.0.1:9000", 0, false, "127.0.0.1", 9000, NULL },
    { "http://localhost", 0, false, "localhost", 80, NULL },
    { "HTTPS://API.example.com:8443/", 0, true, "API.example.com", 8443,
      NULL },
    { "http://[::1]:8080", 0, false, "::1", 8080, NULL },
    { "https://[2001:db8::1]", 0, true, "2001:db8::1", 443, NULL },
    { "http://a:1", 0, false, "a", 1, NULL },
    { "http://a:65535", 0, false, "a", 65535, NULL },
    { "http://sandbox_1.internal:80", 0, false, "sandbox_1.internal", 80,
      NULL },
    { "http://example.com.", 0, false, "example.com.", 80, NULL },
    { "", -1, false, NULL, 0, "empty" },
    { "api.heavyset.tech", -1, false, NULL, 0, "scheme" },
    { "ftp://api.heavyset.tech", -1, false, NULL, 0, "scheme" },
    { "https://", -1, false, NULL, 0, "missing host" },
    { "https://:443", -1, false, NULL, 0, "missing host" },
    { "https://api.heavyset.tech/api/v1", -1, false, NULL, 0, "path" },
    { "https://api.heavyset.tech//", -1, false, NULL, 0, "path" },
    { "https://api.heavyset.tech?x=1", -1, false, NULL, 0, "query" },
    { "https://api.heavyset.tech/#top", -1, false, NULL, 0, "query" },
    { "https://user:pw@api.heavyset.tech", -1, false, NULL, 0, "user info" },
    { "http://a:0", -1, false, NULL, 0, "out of range" },
    { "http://a:65536", -1, false, NULL, 0, "out of range" },
    { "http://a:99999999999", -1, false, NULL, 0, "out of range" },
    { "http://a:", -1, false, NULL, 0, "empty port" },
    { "http://a:8o", -1, false, NULL, 0, "not a number" },
    { "http://a:-1", -1, false, NULL, 0, "not a number" },
    /* fuzz_conf: raw bytes of a value never reach the reason */
    { "http://a:8\xbd", -1, false, NULL, 0, "port '8?' is not a number" },
    { "http://[\xbd:1]", -1, false, NULL, 0,
      "'?:1' is not a valid IPv6 address" },
    { "http://::1:80", -1, false, NULL, 0, "brackets" },
    { "http://[::1", -1, false, NULL, 0, "']'" },
    { "http://[::g]:80", -1, false, NULL, 0, "IPv6" },
    { "http://[]:80", -1, false, NULL, 0, "IPv6" },
    { "http://[::1]x", -1, false, NULL, 0, "after ']'" },
    { "http://999.1.1.1", -1, false, NULL, 0, "IPv4" },
    { "http://1.2.3", -1, false, NULL, 0, "IPv4" },
    { "http://exa mple.com", -1, false, NULL, 0, "space" },
    { "http://a..b", -1, false, NULL, 0, "empty label" },
    { "http://-a.b", -1, false, NULL, 0, "'-'" },
    { "http://a-.b", -1, false, NULL, 0, "'-'" },
    { "http://a%41.b", -1, false, NULL, 0, "'%'" },
    { "http://ex\xc3\xa4mple.com", -1, false, NULL, 0, "byte" },
};

Test(url, upstream_table)
{
    size_t i;

    for (i = 0; i < NELEM(upstream_cases); i++) {
        const struct upstream_case *c = &upstream_cases[i];
        struct url_upstream         u;
        char                        err[128] = "";
        int                         rc;

        rc = url_parse_upstream(c->in, &u, err, sizeof(err));
        cr_expect_eq(rc, c->rc, "upstream '%s': rc %d (%s)", c->in, rc, err);
        if (rc != c->rc) {
            continue;
        }
        if (rc == 0) {
            cr_expect_eq(u.tls, c->tls, "upstream '%s': tls", c->in);
            cr_expect_str_eq(u.host, c->host, "upstream '%s': host", c->in);
            cr_expect_eq(u.port, c->port, "upstream '%s': port %u", c->in,
                         u.port);
        } else {
            cr_expect_not_null(strstr(err, c->err),
                               "upstream '%s': reason '%s' lacks '%s'", c->in,
                               err, c->err);
        }
    }
}

Test(url, upstream_edges)
{
    struct url_upstream u;
    char                host[300], url[320], err[8];
    size_t              i;

    cr_expect_eq(url_parse_upstream(NULL, &u, NULL, 0), -1, "NULL input");
    cr_expect_eq(url_parse_upstream("ftp://x", &u, NULL, 0), -1,
                 "ERR may be NULL");
    cr_expect_eq(url_parse_upstream("ftp://x", &u, err, sizeof(err)), -1);
    cr_expect_eq(strlen(err), sizeof(err) - 1, "the reason is truncated");
    /* 253 characters is the longest name; 254 is refused. */
    memset(host, 'a', sizeof(host));
    for (i = 60; i < 253; i += 61) {
        host[i] = '.';
    }
    host[253] = '\0';
    snprintf(url, sizeof(url), "http://%s", host);
    cr_expect_eq(url_parse_upstream(url, &u, NULL, 0), 0, "253 chars");
    cr_expect_str_eq(u.host, host);
    strcat(url, "a");
    cr_expect_eq(url_parse_upstream(url, &u, NULL, 0), -1, "254 chars");
    memset(host, 'a', 64);
    host[64] = '\0';
    snprintf(url, sizeof(url), "http://%s.com", host);
    cr_expect_eq(url_parse_upstream(url, &u, NULL, 0), -1, "64-char label");
}

struct redis_case {
    const char *in;
    int         rc;
    bool        unix_socket;
    const char *host;               /* or the socket path */
    uint16_t    port;
    const char *password;
    int         db;
    const char *err;
};

static const struct redis_case redis_cases[] = {
    { "redis://127.0.0.1:6379/0", 0, false, "127.0.0.1", 6379, "", 0, NULL },
    { "redis://127.0.0.1", 0, false, "127.0.0.1", 6379, "", 0, NULL },
    { "redis://cache.internal:6380/", 0, false, "cache.internal", 6380, "", 0,
      NULL },
    { "redis://h/15", 0, false, "h", 6379, "", 15, NULL },
    { "redis://h/07", 0, false, "h", 6379, "", 7, NULL },
    { "redis://:secret@h:1/2", 0, false, "h", 1, "secret", 2, NULL },
    { "redis://:p%40ss%2Fw0rd@h", 0, false, "h", 6379, "p@ss/w0rd", 0, NULL },
    { "redis://:p@ss@h", 0, false, "h", 6379, "p@ss", 0, NULL },
    { "redis://:a/b@h/3", 0, false, "h", 6379, "a/b", 3, NULL },
    { "redis://[::1]:6379/1", 0, false, "::1", 6379, "", 1, NULL },
    { "REDIS://h", 0, false, "h", 6379, "", 0, NULL },
    { "unix:///run/redis/redis.sock", 0, true, "/run/redis/redis.sock", 0, "",
      0, NULL },
    { "unix:///tmp/r.sock?db=4", 0, true, "/tmp/r.sock", 0, "", 4, NULL },
    { "", -1, false, NULL, 0, NULL, 0, "empty" },
    { "127.0.0.1:6379", -1, false, NULL, 0, NULL, 0, "scheme" },
    { "http://h:6379", -1, false, NULL, 0, NULL, 0, "scheme" },
    { "rediss://h:6379", 0, false, "h", 6379, "", 0, NULL },
    { "rediss://u:pw@cache.example:6380/2", 0, false, "cache.example", 6380,
      "pw", 2, NULL },
    { "REDISS://h", 0, false, "h", 6379, "", 0, NULL },
    { "rediss://", -1, false, NULL, 0, NULL, 0, "missing host" },
    { "redis://", -1, false, NULL, 0, NULL, 0, "missing host" },
    { "redis://h/16", -1, false, NULL, 0, NULL, 0, "0 to 15" },
    { "redis://h/100", -1, false, NULL, 0, NULL, 0, "0 to 15" },
    { "redis://h/x", -1, false, NULL, 0, NULL, 0, "0 to 15" },
    { "redis://h/-1", -1, false, NULL, 0, NULL, 0, "0 to 15" },
    { "redis://h/1/2", -1, false, NULL, 0, NULL, 0, "0 to 15" },
    { "redis://h:0", -1, false, NULL, 0, NULL, 0, "out of range" },
    { "redis://h:70000", -1, false, NULL, 0, NULL, 0, "out of range" },
    { "redis://h?db=1", -1, false, NULL, 0, NULL, 0, "query" },
    { "redis://user:pw@h:7/3", 0, false, "h", 7, "pw", 3, NULL },
    { "redis://pw@h", -1, false, NULL, 0, NULL, 0, "needs a password" },
    { "redis://:@h", -1, false, NULL, 0, NULL, 0, "empty password" },
    { "redis://:a%2@h", -1, false, NULL, 0, NULL, 0, "%-escape" },
    { "redis://:a%zz@h", -1, false, NULL, 0, NULL, 0, "%-escape" },
    { "redis://:a%00b@h", -1, false, NULL, 0, NULL, 0, "%00" },
    { "redis://:pw @h", -1, false, NULL, 0, NULL, 0, "space" },
    { "unix://run/redis.sock", -1, false, NULL, 0, NULL, 0, "absolute" },
    { "unix://", -1, false, NULL, 0, NULL, 0, "absolute" },
    { "unix:///run/", -1, false, NULL, 0, NULL, 0, "directory" },
    { "unix:///tmp/r.sock?db=16", -1, false, NULL, 0, NULL, 0, "0 to 15" },
    { "unix:///tmp/r.sock?password=x", -1, false, NULL, 0, NULL, 0,
      "?db=N" },
};

Test(url, redis_table)
{
    size_t i;

    for (i = 0; i < NELEM(redis_cases); i++) {
        const struct redis_case *c = &redis_cases[i];
        struct url_redis         r;
        char                     err[128] = "";
        int                      rc;

        rc = url_parse_redis(c->in, &r, err, sizeof(err));
        cr_expect_eq(rc, c->rc, "redis '%s': rc %d (%s)", c->in, rc, err);
        if (rc != c->rc) {
            continue;
        }
        if (rc != 0) {
            cr_expect_not_null(strstr(err, c->err),
                               "redis '%s': reason '%s' lacks '%s'", c->in,
                               err, c->err);
            continue;
        }
        cr_expect_eq(r.unix_socket, c->unix_socket, "redis '%s'", c->in);
        cr_expect_eq(r.tls, strncasecmp(c->in, "rediss:", 7) == 0,
                     "redis '%s': tls", c->in);
        if (c->unix_socket) {
            cr_expect_str_eq(r.path, c->host, "redis '%s': path", c->in);
        } else {
            cr_expect_str_eq(r.host, c->host, "redis '%s': host", c->in);
            cr_expect_eq(r.port, c->port, "redis '%s': port", c->in);
        }
        cr_expect_str_eq(r.password, c->password, "redis '%s'", c->in);
        cr_expect_eq(r.db, c->db, "redis '%s': db %d", c->in, r.db);
    }
}

/* redis-sentinel:// (SPEC §12): seeds, master name, db, credentials. */
struct sentinel_case {
    const char *in;
    int         rc;
    bool        tls;
    int         nseeds;
    const char *first;              /* "host:port" of the first seed */
    const char *last;               /* and of the last */
    const char *master;
    const char *user;
    const char *password;
    int         db;
    const char *err;                /* substring of the reason, or NULL */
};

static const struct sentinel_case sentinel_cases[] = {
    { "redis-sentinel://127.0.0.1:26379/mymaster", 0, false, 1,
      "127.0.0.1:26379", "127.0.0.1:26379", "mymaster", "", "", 0, NULL },
    { "redis-sentinel://a:1,b:2,c:3/m/5", 0, false, 3, "a:1", "c:3", "m", "",
      "", 5, NULL },
    { "redis-sentinel://s1,s2/m", 0, false, 2, "s1:26379", "s2:26379", "m",
      "", "", 0, NULL },
    { "redis-sentinel://[::1]:5000,10.0.0.2:5001/cache-01.eu_w", 0, false, 2,
      "::1:5000", "10.0.0.2:5001", "cache-01.eu_w", "", "", 0, NULL },
    { "redis-sentinel://proxy:p%40ss@h:1/m/", 0, false, 1, "h:1", "h:1", "m",
      "proxy", "p@ss", 0, NULL },
    { "redis-sentinel://:a/b,c@h:1,i:2/m", 0, false, 2, "h:1", "i:2", "m", "",
      "a/b,c", 0, NULL },
    { "rediss-sentinel://h:1/m", 0, true, 1, "h:1", "h:1", "m", "", "", 0,
      NULL },
    { "REDIS-SENTINEL://h:1/m", 0, false, 1, "h:1", "h:1", "m", "", "", 0,
      NULL },
    { "redis-sentinel://h:1", -1, false, 0, NULL, NULL, NULL, NULL, NULL, 0,
      "missing master name" },
    { "redis-sentinel://h:1/", -1, false, 0, NULL, NULL, NULL, NULL, NULL, 0,
      "missing master name" },
    { "redis-sentinel://h:1//0", -1, false, 0, NULL, NULL, NULL, NULL, NULL,
      0, "missing master name" },
    { "redis-sentinel:///m", -1, false, 0, NULL, NULL, NULL, NULL, NULL, 0,
      "no sentinel address" },
    { "redis-sentinel://a:1,,b:2/m", -1, false, 0, NULL, NULL, NULL, NULL,
      NULL, 0, "no sentinel address" },
    { "redis-sentinel://a:1,/m", -1, false, 0, NULL, NULL, NULL, NULL, NULL,
      0, "no sentinel address" },
    { "redis-sentinel://a:0/m", -1, false, 0, NULL, NULL, NULL, NULL, NULL, 0,
      "out of range" },
    { "redis-sentinel://a:65536/m", -1, false, 0, NULL, NULL, NULL, NULL,
      NULL, 0, "out of range" },
    { "redis-sentinel://a:x/m", -1, false, 0, NULL, NULL, NULL, NULL, NULL, 0,
      "not a number" },
    { "redis-sentinel://a:1/m/16", -1, false, 0, NULL, NULL, NULL, NULL, NULL,
      0, "0 to 15" },
    { "redis-sentinel://a:1/m/1/2", -1, false, 0, NULL, NULL, NULL, NULL,
      NULL, 0, "0 to 15" },
    { "redis-sentinel://a:1/m?x=1", -1, false, 0, NULL, NULL, NULL, NULL,
      NULL, 0, "query" },
    { "redis-sentinel://a:1/m!x", -1, false, 0, NULL, NULL, NULL, NULL, NULL,
      0, "master name 'm!x'" },
    { "redis-sentinel://a:1/"
      "m123456789012345678901234567890123456789012345678901234567890123", -1,
      false, 0, NULL, NULL, NULL, NULL, NULL, 0, "longer than 63" },
    { "redis-sentinel://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9,j:10,k:11,l:12,"
      "m:13,n:14,o:15,p:16,q:17/m", -1, false, 0, NULL, NULL, NULL, NULL,
      NULL, 0, "more than 16 sentinels" },
    { "redis-sentinel://pw@a:1/m", -1, false, 0, NULL, NULL, NULL, NULL,
      NULL, 0, "needs a password" },
    { "redis-sentinel://a b:1/m", -1, false, 0, NULL, NULL, NULL, NULL, NULL,
      0, "space" },
    { "redis://a:1,b:2/0", -1, false, 0, NULL, NULL, NULL, NULL, NULL, 0,
      "redis-sentinel://" },
    { "redis-cluster://a:1/m", -1, false, 0, NULL, NULL, NULL, NULL, NULL, 0,
      "unexpected path '/m'" },
    { "rediss-sentinel//a:1/m", -1, false, 0, NULL, NULL, NULL, NULL, NULL,
      0, "scheme" },
};

/* "host:port" of SEED into OUT. */
static const char *
seed_text(const struct url_seed *seed, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%u", seed->host, (unsigned)seed->port);
    return out;
}

Test(url, sentinel_table)
{
    size_t i;

    for (i = 0; i < NELEM(sentinel_cases); i++) {
        const struct sentinel_case *c = &sentinel_cases[i];
        struct url_redis            r;
        char                        err[128] = "", a[300];
        int                         rc;

        rc = url_parse_redis(c->in, &r, err, sizeof(err));
        cr_expect_eq(rc, c->rc, "'%s': rc %d (%s)", c->in, rc, err);
        if (rc != c->rc) {
            continue;
        }
        if (rc != 0) {
            cr_expect_not_null(strstr(err, c->err),
                               "'%s': reason '%s' lacks '%s'", c->in, err,
                               c->err);
            continue;
        }
        cr_expect(r.sentinel, "'%s': sentinel", c->in);
        cr_expect_eq(r.tls, c->tls, "'%s': tls", c->in);
        cr_expect_eq(r.nseeds, c->nseeds, "'%s': %d seeds", c->in, r.nseeds);
        cr_expect_str_eq(seed_text(&r.seeds[0], a, sizeof(a)), c->first,
                         "'%s': first seed", c->in);
        cr_expect_str_eq(seed_text(&r.seeds[r.nseeds - 1], a, sizeof(a)),
                         c->last, "'%s': last seed", c->in);
        cr_expect_str_eq(r.master, c->master, "'%s': master", c->in);
        cr_expect_str_eq(r.user, c->user, "'%s': user", c->in);
        cr_expect_str_eq(r.password, c->password, "'%s': password", c->in);
        cr_expect_eq(r.db, c->db, "'%s': db", c->in);
        cr_expect_str_eq(r.host, "", "'%s': no master yet", c->in);
    }
}

/* redis-cluster:// (SPEC §12): seed nodes, credentials, db 0 only. */
struct cluster_case {
    const char *in;
    int         rc;
    bool        tls;
    int         nseeds;
    const char *first;              /* "host:port" of the first seed */
    const char *last;               /* and of the last */
    const char *user;
    const char *password;
    const char *err;                /* substring of the reason, or NULL */
};

static const struct cluster_case cluster_cases[] = {
    { "redis-cluster://127.0.0.1:7000", 0, false, 1, "127.0.0.1:7000",
      "127.0.0.1:7000", "", "", NULL },
    { "redis-cluster://a:7000,b:7001,c", 0, false, 3, "a:7000", "c:6379", "",
      "", NULL },
    { "redis-cluster://n1,n2/", 0, false, 2, "n1:6379", "n2:6379", "", "",
      NULL },
    { "redis-cluster://n1/0", 0, false, 1, "n1:6379", "n1:6379", "", "",
      NULL },
    { "redis-cluster://n1/00", 0, false, 1, "n1:6379", "n1:6379", "", "",
      NULL },
    { "redis-cluster://[::1]:7000,[2001:db8::2]", 0, false, 2, "::1:7000",
      "2001:db8::2:6379", "", "", NULL },
    { "rediss-cluster://proxy:p%40ss@cache.example:6380,10.0.0.2", 0, true,
      2, "cache.example:6380", "10.0.0.2:6379", "proxy", "p@ss", NULL },
    { "redis-cluster://:a/b,c@h:1,i:2", 0, false, 2, "h:1", "i:2", "",
      "a/b,c", NULL },
    { "REDIS-CLUSTER://h:1", 0, false, 1, "h:1", "h:1", "", "", NULL },
    { "RediSS-Cluster://h:1", 0, true, 1, "h:1", "h:1", "", "", NULL },
    { "redis-cluster://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9,j:10,k:11,l:12,"
      "m:13,n:14,o:15,p:16", 0, false, 16, "a:1", "p:16", "", "", NULL },
    { "redis-cluster://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9,j:10,k:11,l:12,"
      "m:13,n:14,o:15,p:16,q:17", -1, false, 0, NULL, NULL, NULL, NULL,
      "more than 16 cluster nodes" },
    { "redis-cluster://h/3", -1, false, 0, NULL, NULL, NULL, NULL,
      "only database 0" },
    { "redis-cluster://h/16", -1, false, 0, NULL, NULL, NULL, NULL,
      "only database 0" },
    { "redis-cluster://h/01", -1, false, 0, NULL, NULL, NULL, NULL,
      "only database 0" },
    { "redis-cluster://h/0/", -1, false, 0, NULL, NULL, NULL, NULL,
      "unexpected path '/0/'" },
    { "redis-cluster://h//", -1, false, 0, NULL, NULL, NULL, NULL,
      "unexpected path '//'" },
    { "redis-cluster://h/mymaster", -1, false, 0, NULL, NULL, NULL, NULL,
      "unexpected path '/mymaster'" },
    { "redis-cluster://h?db=0", -1, false, 0, NULL, NULL, NULL, NULL,
      "query" },
    { "redis-cluster://h/#x", -1, false, 0, NULL, NULL, NULL, NULL,
      "query" },
    { "redis-cluster://h:1,i:2?x", -1, false, 0, NULL, NULL, NULL, NULL,
      "query" },
    { "redis-cluster://", -1, false, 0, NULL, NULL, NULL, NULL,
      "no cluster node address" },
    { "redis-cluster:///0", -1, false, 0, NULL, NULL, NULL, NULL,
      "no cluster node address" },
    { "redis-cluster://a,,b", -1, false, 0, NULL, NULL, NULL, NULL,
      "no cluster node address" },
    { "redis-cluster://a:1,", -1, false, 0, NULL, NULL, NULL, NULL,
      "no cluster node address" },
    { "redis-cluster://a:0", -1, false, 0, NULL, NULL, NULL, NULL,
      "out of range" },
    { "redis-cluster://a:65536", -1, false, 0, NULL, NULL, NULL, NULL,
      "out of range" },
    { "redis-cluster://a:x", -1, false, 0, NULL, NULL, NULL, NULL,
      "not a number" },
    { "redis-cluster://::1:7000", -1, false, 0, NULL, NULL, NULL, NULL,
      "brackets" },
    { "redis-cluster://pw@a:1", -1, false, 0, NULL, NULL, NULL, NULL,
      "needs a password" },
    { "redis-cluster://a b:1", -1, false, 0, NULL, NULL, NULL, NULL,
      "space" },
    { "redis-cluster//a:1", -1, false, 0, NULL, NULL, NULL, NULL,
      "redis-cluster://, rediss-cluster://" },
};

Test(url, cluster_table)
{
    size_t i;

    for (i = 0; i < NELEM(cluster_cases); i++) {
        const struct cluster_case *c = &cluster_cases[i];
        struct url_redis           r;
        char                       err[160] = "", a[300];
        int                        rc;

        rc = url_parse_redis(c->in, &r, err, sizeof(err));
        cr_expect_eq(rc, c->rc, "'%s': rc %d (%s)", c->in, rc, err);
        if (rc != c->rc) {
            continue;
        }
        if (rc != 0) {
            cr_expect_not_null(strstr(err, c->err),
                               "'%s': reason '%s' lacks '%s'", c->in, err,
                               c->err);
            continue;
        }
        cr_expect(r.cluster, "'%s': cluster", c->in);
        cr_expect_not(r.sentinel, "'%s': not sentinel", c->in);
        cr_expect_eq(r.tls, c->tls, "'%s': tls", c->in);
        cr_expect_eq(r.nseeds, c->nseeds, "'%s': %d seeds", c->in, r.nseeds);
        cr_expect_str_eq(seed_text(&r.seeds[0], a, sizeof(a)), c->first,
                         "'%s': first seed", c->in);
        cr_expect_str_eq(seed_text(&r.seeds[r.nseeds - 1], a, sizeof(a)),
                         c->last, "'%s': last seed", c->in);
        cr_expect_str_eq(r.user, c->user, "'%s': user", c->in);
        cr_expect_str_eq(r.password, c->password, "'%s': password", c->in);
        cr_expect_eq(r.db, 0, "'%s': db", c->in);
        cr_expect_str_eq(r.host, "", "'%s': no host", c->in);
        cr_expect_eq(r.port, 0, "'%s': no port", c->in);
        cr_expect_str_eq(r.master, "", "'%s': no master", c->in);
    }
}

/* The other forms never say cluster. */
Test(url, cluster_only_when_asked)
{
    static const char *const urls[] = {
        "redis://h", "rediss://h:1/2", "unix:///tmp/r.sock",
        "redis-sentinel://h/m", "rediss-sentinel://h/m",
    };
    struct url_redis r;
    size_t           i;

    for (i = 0; i < NELEM(urls); i++) {
        cr_assert_eq(url_parse_redis(urls[i], &r, NULL, 0), 0, "%s", urls[i]);
        cr_expect_not(r.cluster, "%s", urls[i]);
    }
}

/* ACL users (SPEC §12): redis://user:password@host, both decoded. */
struct redis_user_case {
    const char *in;
    int         rc;
    const char *user;
    const char *password;
    const char *err;
};

static const struct redis_user_case redis_user_cases[] = {
    { "redis://proxy:s3cret@h", 0, "proxy", "s3cret", NULL },
    { "redis://:s3cret@h", 0, "", "s3cret", NULL },
    { "redis://h", 0, "", "", NULL },
    { "redis://pr%6Fxy:a%3Ab@h", 0, "proxy", "a:b", NULL },
    { "redis://u%40x:p@h/1", 0, "u@x", "p", NULL },
    { "redis://u:p:q@h", 0, "u", "p:q", NULL },
    { "redis://u:p@q@h:1", 0, "u", "p@q", NULL },
    { "redis://u%3Av:p@h", 0, "u:v", "p", NULL },
    { "redis://user@h", -1, NULL, NULL, "needs a password" },
    { "redis://user:@h", -1, NULL, NULL, "empty password" },
    { "redis://u%2:p@h", -1, NULL, NULL, "%-escape in user name" },
    { "redis://u%00:p@h", -1, NULL, NULL, "%00 is not allowed in user name" },
    { "redis://u:p%zz@h", -1, NULL, NULL, "%-escape in password" },
};

Test(url, redis_users)
{
    size_t i;

    for (i = 0; i < NELEM(redis_user_cases); i++) {
        const struct redis_user_case *c = &redis_user_cases[i];
        struct url_redis              r;
        char                          err[128] = "";
        int                           rc;

        rc = url_parse_redis(c->in, &r, err, sizeof(err));
        cr_expect_eq(rc, c->rc, "redis '%s': rc %d (%s)", c->in, rc, err);
        if (rc != c->rc) {
            continue;
        }
        if (rc != 0) {
            cr_expect_not_null(strstr(err, c->err),
                               "redis '%s': reason '%s' lacks '%s'", c->in,
                               err, c->err);
            continue;
        }
        cr_expect_str_eq(r.user, c->user, "redis '%s': user", c->in);
        cr_expect_str_eq(r.password, c->password, "redis '%s'", c->in);
        cr_expect_str_eq(r.host, "h", "redis '%s': host", c->in);
    }
}

Test(url, redis_user_length)
{
    struct url_redis r;
    char             url[URL_USER_MAX + 32], err[128];

    strcpy(url, "redis://");
    memset(url + 8, 'u', URL_USER_MAX - 1);
    strcpy(url + 8 + URL_USER_MAX - 1, ":p@h");
    cr_expect_eq(url_parse_redis(url, &r, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(strlen(r.user), URL_USER_MAX - 1);
    strcpy(url, "redis://");
    memset(url + 8, 'u', URL_USER_MAX);
    strcpy(url + 8 + URL_USER_MAX, ":p@h");
    cr_expect_eq(url_parse_redis(url, &r, err, sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "user name is longer"), "%s", err);
}

Test(url, redis_lengths)
{
    struct url_redis r;
    char             url[600], err[128];

    /* sun_path holds 107 characters and the NUL. */
    strcpy(url, "unix:///");
    memset(url + 8, 'a', 106);
    url[8 + 106] = '\0';
    cr_expect_eq(url_parse_redis(url, &r, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(strlen(r.path), 107);
    strcat(url, "a");
    cr_expect_eq(url_parse_redis(url, &r, err, sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "longer than 107"), "%s", err);

    strcpy(url, "redis://:");
    memset(url + 9, 'p', 255);
    strcpy(url + 9 + 255, "@h");
    cr_expect_eq(url_parse_redis(url, &r, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(strlen(r.password), 255);
    memset(url + 9, 'p', 256);
    strcpy(url + 9 + 256, "@h");
    cr_expect_eq(url_parse_redis(url, &r, err, sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "longer than 255"), "%s", err);
}

struct listen_case {
    const char *in;
    int         rc;
    const char *host;
    uint16_t    port;
    const char *err;
};

static const struct listen_case listen_cases[] = {
    { "127.0.0.1:8080", 0, "127.0.0.1", 8080, NULL },
    { "0.0.0.0:0", 0, "0.0.0.0", 0, NULL },
    { "[::]:8080", 0, "::", 8080, NULL },
    { "[::1]:65535", 0, "::1", 65535, NULL },
    { "localhost:80", 0, "localhost", 80, NULL },
    { "10.1.2.3:00080", 0, "10.1.2.3", 80, NULL },
    { "", -1, NULL, 0, "empty" },
    { ":8080", -1, NULL, 0, "missing host" },
    { "*:8080", -1, NULL, 0, "missing host" },
    { "127.0.0.1", -1, NULL, 0, "missing port" },
    { "[::1]", -1, NULL, 0, "missing port" },
    { "127.0.0.1:", -1, NULL, 0, "empty port" },
    { "127.0.0.1:65536", -1, NULL, 0, "out of range" },
    { "127.0.0.1:http", -1, NULL, 0, "not a number" },
    { "::1:8080", -1, NULL, 0, "brackets" },
    { "http://127.0.0.1:8080", -1, NULL, 0, "scheme" },
    { "127.0.0.1:80/x", -1, NULL, 0, "not a number" },
    { "256.0.0.1:80", -1, NULL, 0, "IPv4" },
    { "127.0.0.1 :80", -1, NULL, 0, "space" },
    { "/run/hsp.sock", -1, NULL, 0, "'/'" },
};

Test(url, listen_table)
{
    size_t i;

    for (i = 0; i < NELEM(listen_cases); i++) {
        const struct listen_case *c = &listen_cases[i];
        struct url_listen         l;
        char                      err[128] = "";
        int                       rc;

        rc = url_parse_listen(c->in, &l, err, sizeof(err));
        cr_expect_eq(rc, c->rc, "listen '%s': rc %d (%s)", c->in, rc, err);
        if (rc != c->rc) {
            continue;
        }
        if (rc == 0) {
            cr_expect_str_eq(l.host, c->host, "listen '%s': host", c->in);
            cr_expect_eq(l.port, c->port, "listen '%s': port", c->in);
        } else {
            cr_expect_not_null(strstr(err, c->err),
                               "listen '%s': reason '%s' lacks '%s'", c->in,
                               err, c->err);
        }
    }
}

/* Random input must never crash or overrun the fixed-size fields. */
Test(url, never_crashes)
{
    static const char alphabet[] = "redis:/unix?db=[]@%:.-_0123456789ab"
                                   "https\x01\xff ";
    static const char *const prefixes[] = { "", "http://", "https://",
                                            "redis://", "redis://:",
                                            "unix:///", "[" };
    unsigned seed = 777;
    char     in[400], err[64];
    size_t   round, i, n, plen;

    for (round = 0; round < 20000; round++) {
        struct url_upstream u;
        struct url_redis    r;
        struct url_listen   l;

        strcpy(in, prefixes[round % NELEM(prefixes)]);
        plen = strlen(in);
        n = (seed = seed * 1103515245u + 12345u) % (sizeof(in) - plen - 1);
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[plen + i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        in[plen + n] = '\0';
        if (url_parse_upstream(in, &u, err, sizeof(err)) == 0) {
            cr_expect_lt(strlen(u.host), sizeof(u.host));
        }
        if (url_parse_redis(in, &r, err, sizeof(err)) == 0) {
            cr_expect_leq(r.db, 15);
        }
        (void)url_parse_listen(in, &l, err, sizeof(err));
    }
}
