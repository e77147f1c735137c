/*
 * opts.h - heavyset-sandbox's command line (see --help, or
 * doc/heavyset-sandbox.1): parsed into a plain struct opts, which main.c
 * turns into the running sandbox.
 */
#ifndef HSP_OPTS_H
#define HSP_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "sandbox/faults.h"
#include "sandbox/wire.h"

#define OPTS_PROGRAM    "heavyset-sandbox"
#define OPTS_SEED_FILE  "sandbox-seed.json"
#define OPTS_SEED_LOCAL "conf/" OPTS_SEED_FILE
/* evhttp's own cap, a memory guard only: its 413 is HTML. api.c answers
 * bodies past API_BODY_LIMIT with a JSON 413 first. Also the largest
 * --gzip-min. */
#define OPTS_MAX_BODY   (16 * 1024 * 1024)

struct opts {
    const char          *listen;    /* borrowed from argv or static */
    const char          *tls_cert;  /* NULL: plain HTTP */
    const char          *tls_key;
    const char          *seed;      /* NULL: the installed default */
    struct faults_config faults;
    enum log_level       level;
    bool                 json_log;
    bool                 quiet;     /* no access-log lines */
    bool                 have_random_seed;
    uint64_t             random_seed;
    struct wire_habits   habits;
    bool                 realistic; /* --realistic */
    int                  gzip;      /* -1 unset, else 0/1 */
    int                  chunked;   /* -1 unset, else 0/1 */
    int                  early_hints; /* -1 unset, else 0/1 */
    int64_t              keepalive; /* -1 unset, else seconds */
};

/*
 * Parses ARGV into O (every field set; strings borrowed from ARGV).
 * Returns 0 to run, 1 when -h/-V was answered on stdout, -1 on a usage
 * error, already printed to stderr.
 */
int opts_parse(int argc, char **argv, struct opts *o);

/*
 * Splits LISTEN ("host:port", "[v6]:port") into HOST (CAP bytes) and
 * PORT. Returns 0, or -1 when malformed.
 */
int opts_split_listen(const char *listen, char *host, size_t cap,
                      uint16_t *port);

#endif /* HSP_OPTS_H */
