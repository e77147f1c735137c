/*
 * opts.c - heavyset-sandbox's command line: the option table, --help,
 * and the typed parsing of every value into struct opts. Owns nothing:
 * string options are borrowed from argv, and errors go to stderr here,
 * once, as the usage line a user reads.
 */
#include "config.h"

#include "sandbox/opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/coding.h"

#define OPTS_LISTEN              "127.0.0.1:8443"
#define OPTS_REALISTIC_KEEPALIVE 5  /* s: Node's server.keepAliveTimeout */
#define OPTS_KEEPALIVE_MAX       3600

enum opts_id {
    OPT_TLS_CERT = 256, OPT_TLS_KEY, OPT_RATE_LIMIT, OPT_LATENCY, OPT_JITTER,
    OPT_FAIL_RATE, OPT_DROP_RATE, OPT_LOG_LEVEL, OPT_LOG_FORMAT,
    OPT_RANDOM_SEED, OPT_GZIP, OPT_GZIP_MIN, OPT_KEEPALIVE, OPT_CHUNKED,
    OPT_EARLY_HINTS, OPT_REALISTIC, OPT_MISBEHAVE
};

static const struct option opts_long[] = {
    { "listen",      required_argument, NULL, 'l' },
    { "tls-cert",    required_argument, NULL, OPT_TLS_CERT },
    { "tls-key",     required_argument, NULL, OPT_TLS_KEY },
    { "seed",        required_argument, NULL, 's' },
    { "rate-limit",  required_argument, NULL, OPT_RATE_LIMIT },
    { "latency",     required_argument, NULL, OPT_LATENCY },
    { "jitter",      required_argument, NULL, OPT_JITTER },
    { "fail-rate",   required_argument, NULL, OPT_FAIL_RATE },
    { "drop-rate",   required_argument, NULL, OPT_DROP_RATE },
    { "log-level",   required_argument, NULL, OPT_LOG_LEVEL },
    { "log-format",  required_argument, NULL, OPT_LOG_FORMAT },
    { "random-seed", required_argument, NULL, OPT_RANDOM_SEED },
    { "gzip",        required_argument, NULL, OPT_GZIP },
    { "keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE },
    { "gzip-min",    required_argument, NULL, OPT_GZIP_MIN },
    { "chunked",     required_argument, NULL, OPT_CHUNKED },
    { "early-hints", required_argument, NULL, OPT_EARLY_HINTS },
    { "realistic",   no_argument,       NULL, OPT_REALISTIC },
    { "misbehave",   required_argument, NULL, OPT_MISBEHAVE },
    { "quiet",       no_argument,       NULL, 'q' },
    { "help",        no_argument,       NULL, 'h' },
    { "version",     no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static void
opts_usage(FILE *out)
{
    fprintf(out,
        "Usage: " OPTS_PROGRAM " [OPTION]...\n"
        "Emulates HeavySet's S2S appointment API for tests and offline "
        "development.\n"
        "\n"
        "  -l, --listen HOST:PORT  listen address (default " OPTS_LISTEN
        ");\n"
        "                          port 0 picks a free port\n"
        "      --tls-cert FILE     serve HTTPS with this PEM certificate "
        "chain\n"
        "      --tls-key FILE      and this PEM key (both or neither)\n"
        "  -s, --seed FILE         seed data (default:\n"
        "                          " DATADIR "/" OPTS_SEED_FILE ",\n"
        "                          else ./" OPTS_SEED_LOCAL ")\n"
        "      --rate-limit N      requests per minute per token, 0 = off\n"
        "                          (default 60)\n"
        "      --latency MS        fixed added latency (default 0)\n"
        "      --jitter MS         plus uniform random 0..MS (default 0)\n"
        "      --fail-rate P       share of requests answered 500, 0..1\n"
        "      --drop-rate P       share of connections closed unanswered\n"
        "      --random-seed N     seed the fault draws (repeatable runs)\n"
        "      --realistic         a Node app's transport habits: gzip,\n"
        "                          keep-alive timeout 5, chunked, early "
        "hints\n"
        "      --gzip on|off       gzip/deflate answers when asked (>= 1 "
        "KiB)\n"
        "      --gzip-min BYTES    code bodies of at least BYTES (1024)\n"
        "      --keepalive-timeout S  close idle connections after S s and\n"
        "                          say so in Keep-Alive (0: off)\n"
        "      --chunked on|off    Transfer-Encoding: chunked answers\n"
        "      --early-hints on|off  a 103 Early Hints before each answer\n"
        "      --misbehave KIND    misbehave on every API answer (see\n"
        "                          X-Sandbox-Misbehave)\n"
        "      --log-level LEVEL   error, warn, info (default) or debug\n"
        "      --log-format FMT    json (default) or text\n"
        "  -q, --quiet             no line per request\n"
        "  -h, --help              this help\n"
        "  -V, --version           print the version\n"
        "\n"
        "Per request: X-Sandbox-Delay-Ms: N (0..60000) delays the answer;\n"
        "X-Sandbox-Fail: 500 (any 400..599), drop or drop-after;\n"
        "X-Sandbox-Misbehave: long-body, two-lengths, body-on-204,\n"
        "bad-header-byte, bad-header-name, unasked-coding,\n"
        "after-last-chunk, http10-close or none.\n"
        "Admin: GET /__sandbox/stats, POST /__sandbox/reset,\n"
        "GET|POST /__sandbox/config, GET /__sandbox/last,\n"
        "GET /__sandbox/lead?token=&phone=\n");
}

/* Parses all of S as an integer in MIN..MAX. */
static int
opts_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char     *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int
opts_rate(const char *s, double *out)
{
    char  *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
        v < 0.0 || v > 1.0) {
        return -1;
    }
    *out = v;
    return 0;
}

/* "on" or "off" into *OUT (1 or 0). */
static int
opts_switch(const char *name, const char *s, int *out)
{
    if (strcmp(s, "on") == 0 || strcmp(s, "off") == 0) {
        *out = strcmp(s, "on") == 0;
        return 0;
    }
    fprintf(stderr, "%s: --%s must be on or off\n", OPTS_PROGRAM, name);
    return -1;
}

static int
opts_level(const char *s, enum log_level *out)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    size_t                   i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int
opts_parse(int argc, char **argv, struct opts *o)
{
    int64_t n;
    int     c;

    memset(o, 0, sizeof(*o));
    o->listen = OPTS_LISTEN;
    o->faults.rate_limit = 60;
    o->level = LOG_INFO;
    o->json_log = true;
    o->gzip = o->chunked = o->early_hints = -1;
    o->keepalive = -1;
    o->habits.gzip_min = CODING_MIN_SIZE;
    while ((c = getopt_long(argc, argv, "l:s:qhV", opts_long, NULL)) !=
           -1) {
        switch (c) {
        case 'l':
            o->listen = optarg;
            break;
        case 's':
            o->seed = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            opts_usage(stdout);
            return 1;
        case 'V':
            printf("%s %s\n", OPTS_PROGRAM, PACKAGE_VERSION);
            return 1;
        case OPT_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            o->tls_key = optarg;
            break;
        case OPT_RATE_LIMIT:
            if (opts_int(optarg, 0, FAULTS_RATE_LIMIT_MAX,
                               &o->faults.rate_limit) != 0) {
                fprintf(stderr, "%s: --rate-limit must be 0..%d\n",
                        OPTS_PROGRAM, FAULTS_RATE_LIMIT_MAX);
                return -1;
            }
            break;
        case OPT_LATENCY:
        case OPT_JITTER:
            if (opts_int(optarg, 0, FAULTS_DELAY_MAX_MS, &n) != 0) {
                fprintf(stderr, "%s: --%s must be 0..%d milliseconds\n",
                        OPTS_PROGRAM, c == OPT_LATENCY ? "latency" : "jitter",
                        FAULTS_DELAY_MAX_MS);
                return -1;
            }
            *(c == OPT_LATENCY ? &o->faults.latency_ms
                               : &o->faults.jitter_ms) = n;
            break;
        case OPT_FAIL_RATE:
        case OPT_DROP_RATE:
            if (opts_rate(optarg, c == OPT_FAIL_RATE
                                            ? &o->faults.fail_rate
                                            : &o->faults.drop_rate) != 0) {
                fprintf(stderr, "%s: --%s must be a number 0..1\n",
                        OPTS_PROGRAM,
                        c == OPT_FAIL_RATE ? "fail-rate" : "drop-rate");
                return -1;
            }
            break;
        case OPT_LOG_LEVEL:
            if (opts_level(optarg, &o->level) != 0) {
                fprintf(stderr, "%s: --log-level must be error, warn, info "
                        "or debug\n", OPTS_PROGRAM);
                return -1;
            }
            break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "%s: --log-format must be json or text\n",
                        OPTS_PROGRAM);
                return -1;
            }
            o->json_log = strcmp(optarg, "json") == 0;
            break;
        case OPT_RANDOM_SEED:
            if (opts_int(optarg, 0, INT64_MAX, &n) != 0) {
                fprintf(stderr, "%s: --random-seed must be a non-negative "
                        "integer\n", OPTS_PROGRAM);
                return -1;
            }
            o->have_random_seed = true;
            o->random_seed = (uint64_t)n;
            break;
        case OPT_GZIP:
        case OPT_CHUNKED:
        case OPT_EARLY_HINTS:
            if (opts_switch(c == OPT_GZIP      ? "gzip"
                                  : c == OPT_CHUNKED ? "chunked"
                                                     : "early-hints",
                                  optarg,
                                  c == OPT_GZIP      ? &o->gzip
                                  : c == OPT_CHUNKED ? &o->chunked
                                                     : &o->early_hints) !=
                0) {
                return -1;
            }
            break;
        case OPT_GZIP_MIN:
            if (opts_int(optarg, 0, OPTS_MAX_BODY, &n) != 0) {
                fprintf(stderr, "%s: --gzip-min must be 0..%d bytes\n",
                        OPTS_PROGRAM, OPTS_MAX_BODY);
                return -1;
            }
            o->habits.gzip_min = (int)n;
            break;
        case OPT_KEEPALIVE:
            if (opts_int(optarg, 0, OPTS_KEEPALIVE_MAX,
                               &o->keepalive) != 0) {
                fprintf(stderr, "%s: --keepalive-timeout must be 0..%d "
                        "seconds\n", OPTS_PROGRAM, OPTS_KEEPALIVE_MAX);
                return -1;
            }
            break;
        case OPT_REALISTIC:
            o->realistic = true;
            break;
        case OPT_MISBEHAVE:
            if (faults_misbehave_find(optarg, &o->faults.misbehave) != 0) {
                fprintf(stderr, "%s: --misbehave must be none, long-body, "
                        "two-lengths, body-on-204, bad-header-byte, "
                        "bad-header-name, unasked-coding, after-last-chunk "
                        "or http10-close\n", OPTS_PROGRAM);
                return -1;
            }
            break;
        default:
            opts_usage(stderr);
            return -1;
        }
    }
    /* --realistic turns every habit on; an explicit flag wins over it,
     * wherever it stands on the line */
    o->habits.gzip = o->gzip >= 0 ? o->gzip == 1 : o->realistic;
    o->habits.chunked = o->chunked >= 0 ? o->chunked == 1 : o->realistic;
    o->habits.early_hints = o->early_hints >= 0 ? o->early_hints == 1
                                                : o->realistic;
    o->habits.keepalive_s = o->keepalive >= 0 ? (int)o->keepalive
                            : o->realistic    ? OPTS_REALISTIC_KEEPALIVE
                                              : 0;
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", OPTS_PROGRAM,
                argv[optind]);
        return -1;
    }
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together\n",
                OPTS_PROGRAM);
        return -1;
    }
    return 0;
}

int
opts_split_listen(const char *listen, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(listen, ':'), *h = listen;
    size_t      hlen;
    int64_t     p;

    if (colon == NULL || opts_int(colon + 1, 0, 65535, &p) != 0) {
        return -1;
    }
    hlen = (size_t)(colon - listen);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= cap) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}
