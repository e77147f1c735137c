/*
 * hcluster.c - a Redis Cluster a test starts for itself (hcluster.h).
 */
#include "config.h"

#include "hcluster.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "hfixture.h"
#include "hrcli.h"
#include "hcluster_int.h"

#define HCLUSTER_READY_MS 30000     /* gossip on loopback: ~1 s */
#define HCLUSTER_POLL_MS  50
#define HCLUSTER_ARGS     40

/* ---- connections and commands -------------------------------------------- */

struct hrcli *
hcluster_connect(const struct hcluster *c, int i)
{
    char          err[256];
    struct hrcli *cli = hrcli_open(c->nodes[i].port,
                                   c->ca[0] != '\0' ? c->ca : NULL,
                                   c->user[0] != '\0' ? c->user : NULL,
                                   c->password[0] != '\0' ? c->password
                                                          : NULL,
                                   err, sizeof(err));

    cr_assert_not_null(cli, "cluster node %s: %s", c->nodes[i].name, err);
    return cli;
}

/* Runs FMT on node I: its reply (asserted to come), not checked. */
static redisReply *
vask(const struct hcluster *c, int i, const char *fmt, va_list ap)
{
    struct hrcli *cli = hcluster_connect(c, i);
    redisReply   *r = hrcli_vcmd(cli, fmt, ap);

    cr_assert_not_null(r, "%s on %s: %s", fmt, c->nodes[i].name,
                       hrcli_error(cli));
    hrcli_close(cli);
    return r;
}

redisReply *
hcluster_cmd(const struct hcluster *c, int i, const char *fmt, ...)
{
    redisReply *r;
    va_list     ap;

    va_start(ap, fmt);
    r = vask(c, i, fmt, ap);
    va_end(ap);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s on %s: %s", fmt,
                  c->nodes[i].name, r->str);
    return r;
}

/* Runs FMT on node I: its reply, maybe an error. */
redisReply *
hcluster_ask(const struct hcluster *c, int i, const char *fmt, ...)
{
    redisReply *r;
    va_list     ap;

    va_start(ap, fmt);
    r = vask(c, i, fmt, ap);
    va_end(ap);
    return r;
}

/* hcluster_cmd, its reply dropped. */
void
hcluster_ok(const struct hcluster *c, int i, const char *fmt, ...)
{
    redisReply *r;
    va_list     ap;

    va_start(ap, fmt);
    r = vask(c, i, fmt, ap);
    va_end(ap);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s on %s: %s", fmt,
                  c->nodes[i].name, r->str);
    freeReplyObject(r);
}

/* Whether node I answers commands now. */
bool
hcluster_up(const struct hcluster *c, int i)
{
    return !c->down[i] && !c->paused[i];
}

/* The first node up (asserted one is). */
int
hcluster_first_up(const struct hcluster *c)
{
    int i;

    for (i = 0; i < c->n && !hcluster_up(c, i); i++) {
    }
    cr_assert_lt(i, c->n, "no node of the cluster is up");
    return i;
}

/* The node listening on PORT; -1 when none. */
int
hcluster_node_at(const struct hcluster *c, int port)
{
    int i;

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i].port == port) {
            return i;
        }
    }
    return -1;
}

/* Whether node I is a master now (ROLE). */
bool
hcluster_is_master(const struct hcluster *c, int i)
{
    redisReply *r = hcluster_cmd(c, i, "ROLE");
    bool        m = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                    strcmp(r->element[0]->str, "master") == 0;

    freeReplyObject(r);
    return m;
}

/* ---- the slot map ------------------------------------------------------ */

/* Node I's slot map, "lo-hi:port;..." into OUT (CAP bytes). */
static void
slot_map(const struct hcluster *c, int i, char *out, size_t cap)
{
    redisReply *r = hcluster_cmd(c, i, "CLUSTER SLOTS");
    size_t      j, n = 0;

    out[0] = '\0';
    for (j = 0; j < r->elements; j++) {
        const redisReply *e = r->element[j];

        cr_assert(e->elements >= 3 &&
                      e->element[2]->elements >= 2,
                  "CLUSTER SLOTS of %s: a malformed range", c->nodes[i].name);
        n += (size_t)snprintf(out + n, cap - n, "%lld-%lld:%lld;",
                              e->element[0]->integer, e->element[1]->integer,
                              e->element[2]->element[1]->integer);
        cr_assert_lt(n, cap, "slot map too long");
    }
    freeReplyObject(r);
}

/* ---- readiness ----------------------------------------------------------- */

/* Whether node I says cluster_state:ok, knows every node, and flags no
 * node up as failing or still in a handshake; if not, why into WHY (CAP
 * bytes). */
static bool
node_ok(const struct hcluster *c, int i, char *why, size_t cap)
{
    redisReply *info = hcluster_cmd(c, i, "CLUSTER INFO");
    redisReply *nodes;
    char        known[48];
    const char *line;
    bool        good;

    snprintf(known, sizeof(known), "cluster_known_nodes:%d\r", c->n);
    good = strstr(info->str, "cluster_state:ok") != NULL &&
           strstr(info->str, known) != NULL;
    if (!good) {
        snprintf(why, cap, "%s: %.300s", c->nodes[i].name, info->str);
    }
    freeReplyObject(info);
    if (!good) {
        return false;
    }
    nodes = hcluster_cmd(c, i, "CLUSTER NODES");
    for (line = nodes->str; good && line != NULL && *line != '\0';) {
        char id[64], addr[128], flags[128];
        int  port = 0, j;

        if (sscanf(line, "%63s %127s %127s", id, addr, flags) == 3) {
            sscanf(strchr(addr, ':') != NULL ? strchr(addr, ':') + 1 : "",
                   "%d", &port);
            j = hcluster_node_at(c, port);
            good = j < 0 || !hcluster_up(c, j) ||
                   (strstr(flags, "fail") == NULL &&
                    strstr(flags, "handshake") == NULL &&
                    strstr(flags, "noaddr") == NULL);
        }
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    if (!good) {
        snprintf(why, cap, "%s: %.1000s", c->nodes[i].name, nodes->str);
    }
    freeReplyObject(nodes);
    return good;
}

/* Whether every node up is node_ok and has the same slot map. */
static bool
all_ok(const struct hcluster *c, char *why, size_t cap)
{
    char first[1024], map[1024];
    int  i, f = hcluster_first_up(c);

    slot_map(c, f, first, sizeof(first));
    for (i = 0; i < c->n; i++) {
        if (!hcluster_up(c, i)) {
            continue;
        }
        if (!node_ok(c, i, why, cap)) {
            return false;
        }
        slot_map(c, i, map, sizeof(map));
        if (strcmp(map, first) != 0) {
            snprintf(why, cap, "%s maps %s, %s maps %s", c->nodes[i].name,
                     map, c->nodes[f].name, first);
            return false;
        }
    }
    return true;
}

void
hcluster_wait_ok(const struct hcluster *c, long ms)
{
    long end = hfixture_now_ms() + hfixture_slow_ms(ms);
    char why[2200] = "";

    while (!all_ok(c, why, sizeof(why))) {
        cr_assert_lt(hfixture_now_ms(), end, "the cluster is not ok after "
                     "%ld ms: %s", ms, why);
        hfixture_pause_ms(HCLUSTER_POLL_MS);
    }
}

/* Whether INFO replication of node I has TEXT. */
static bool
replication_has(const struct hcluster *c, int i, const char *text)
{
    redisReply *r = hcluster_cmd(c, i, "INFO replication");
    bool        has = strstr(r->str, text) != NULL;

    freeReplyObject(r);
    return has;
}

/* ---- start and stop ------------------------------------------------------ */

/* The arguments of node I into ARGV (NULL-terminated), their text in
 * BUF (CAP bytes). */
static void
node_args(const struct hcluster *c, int i, const char *conf,
          const char **argv, char *buf, size_t cap)
{
    static const char *const fixed[] = {
        "--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
        "--cluster-require-full-coverage", "no",
        "--repl-diskless-sync-delay", "0", NULL };
    size_t n = 0, used = 0;
    int    k;

#define ARG(s)                                                   \
    do {                                                         \
        cr_assert_lt(n + 1, HCLUSTER_ARGS);                      \
        argv[n++] = (s);                                         \
    } while (0)
#define ARGF(...)                                                \
    do {                                                         \
        int len_ = snprintf(buf + used, cap - used, __VA_ARGS__); \
        cr_assert_lt(used + (size_t)len_ + 1, cap);              \
        ARG(buf + used);                                         \
        used += (size_t)len_ + 1;                                \
    } while (0)

    for (k = 0; fixed[k] != NULL; k++) {
        ARG(fixed[k]);
    }
    ARG("--cluster-config-file");
    ARG(conf);
    ARG("--cluster-port");
    ARGF("%d", c->bus[i]);
    if (c->ca[0] != '\0') {
        /* A node verifies the certificate of a node that connects to its
         * bus, whatever tls-auth-clients says: it shows one for clients
         * (the server's is for servers only). */
        ARG("--tls-cluster");
        ARG("yes");
        ARG("--tls-replication");
        ARG("yes");
        ARG("--tls-client-cert-file");
        ARGF("%s/client.pem", hfixture_env("HSP_CERT_DIR"));
        ARG("--tls-client-key-file");
        ARGF("%s/client.key", hfixture_env("HSP_CERT_DIR"));
    }
    if (c->user[0] != '\0') {
        ARG("--user");
        ARG(c->user);
        ARG("on");
        ARGF(">%s", c->password);
        ARG("~*");
        ARG("&*");
        ARG("+@all");
        ARG("--user");
        ARG("default");
        ARG("off");
        ARG("--masteruser");
        ARG(c->user);
        ARG("--masterauth");
        ARG(c->password);
    } else if (c->password[0] != '\0') {
        ARG("--requirepass");
        ARG(c->password);
        ARG("--masterauth");
        ARG(c->password);
    }
    argv[n] = NULL;
#undef ARG
#undef ARGF
}

/* Starts node I of C, named NAME. */
static void
start_node(struct hcluster *c, int i, const char *name)
{
    const char *argv[HCLUSTER_ARGS];
    char        buf[1600], conf[600];
    redisReply *r;

    snprintf(conf, sizeof(conf), "%s/%s.nodes.conf",
             hfixture_env("HSP_TMPDIR"), name);
    unlink(conf);
    c->bus[i] = hredis_free_port();
    node_args(c, i, conf, argv, buf, sizeof(buf));
    if (c->ca[0] != '\0') {
        hredis_start_tls(name, hfixture_env("HSP_CERT_DIR"), argv,
                         &c->nodes[i]);
    } else {
        hredis_start(name, argv, &c->nodes[i]);
    }
    r = hcluster_cmd(c, i, "CLUSTER MYID");
    snprintf(c->ids[i], sizeof(c->ids[i]), "%s", r->str);
    freeReplyObject(r);
    /* Distinct epochs, as redis-cli gives them: no collision to settle. */
    hcluster_ok(c, i, "CLUSTER SET-CONFIG-EPOCH %d", i + 1);
}

void
hcluster_start(const char *prefix, const struct hcluster_opts *opts,
               struct hcluster *out)
{
    static const struct hcluster_opts plain;
    static const int split[HCLUSTER_MASTERS][2] = {
        { 0, 5460 }, { 5461, 10922 }, { 10923, 16383 } };
    char name[64], why[2200];
    long end;
    int  i;

    if (opts == NULL) {
        opts = &plain;
    }
    signal(SIGPIPE, SIG_IGN);       /* a node that dies mid-write */
    memset(out, 0, sizeof(*out));
    out->n = opts->replicas ? HCLUSTER_MAX : HCLUSTER_MASTERS;
    snprintf(out->user, sizeof(out->user), "%s",
             opts->user != NULL ? opts->user : "");
    snprintf(out->password, sizeof(out->password), "%s",
             opts->password != NULL ? opts->password : "");
    cr_assert(out->user[0] == '\0' || out->password[0] != '\0',
              "an ACL user needs a password");
    if (opts->tls) {
        snprintf(out->ca, sizeof(out->ca), "%s/ca.pem",
                 hfixture_env("HSP_CERT_DIR"));
    }
    for (i = 0; i < out->n; i++) {
        if (i < HCLUSTER_MASTERS) {
            snprintf(name, sizeof(name), "%s-%d", prefix, i + 1);
        } else {
            snprintf(name, sizeof(name), "%s-r%d", prefix,
                     i - HCLUSTER_MASTERS + 1);
        }
        start_node(out, i, name);
    }
    /* The slots as redis-cli splits them, then every node met. */
    for (i = 0; i < HCLUSTER_MASTERS; i++) {
        hcluster_ok(out, i, "CLUSTER ADDSLOTSRANGE %d %d", split[i][0], split[i][1]);
    }
    for (i = 1; i < out->n; i++) {
        hcluster_ok(out, 0, "CLUSTER MEET 127.0.0.1 %d %d", out->nodes[i].port,
           out->bus[i]);
    }
    end = hfixture_now_ms() + hfixture_slow_ms(HCLUSTER_READY_MS);
    if (opts->replicas) {
        /* A replica is told its master once it knows it. */
        for (i = HCLUSTER_MASTERS; i < out->n; i++) {
            for (;;) {
                redisReply *r = hcluster_ask(out, i, "CLUSTER REPLICATE %s",
                                         out->ids[i - HCLUSTER_MASTERS]);
                bool        done = r->type != REDIS_REPLY_ERROR;

                cr_assert(done || hfixture_now_ms() < end,
                          "CLUSTER REPLICATE on %s: %s", out->nodes[i].name,
                          r->str);
                freeReplyObject(r);
                if (done) {
                    break;
                }
                hfixture_pause_ms(HCLUSTER_POLL_MS);
            }
        }
        for (i = HCLUSTER_MASTERS; i < out->n; i++) {
            while (!replication_has(out, i, "master_link_status:up")) {
                cr_assert_lt(hfixture_now_ms(), end, "the replica %s does "
                             "not sync", out->nodes[i].name);
                hfixture_pause_ms(HCLUSTER_POLL_MS);
            }
        }
    }
    while (!all_ok(out, why, sizeof(why))) {
        cr_assert_lt(hfixture_now_ms(), end, "the cluster did not form: %s",
                     why);
        hfixture_pause_ms(HCLUSTER_POLL_MS);
    }
}

void
hcluster_stop(struct hcluster *c)
{
    int i;

    for (i = 0; i < c->n; i++) {
        hredis_stop(&c->nodes[i]);
        c->down[i] = true;
        c->paused[i] = false;
    }
}

void
hcluster_url(const struct hcluster *c, unsigned seeds, char *out,
             size_t cap)
{
    size_t n;
    int    i;
    bool   first = true;

    n = (size_t)snprintf(out, cap, "%s://",
                         c->ca[0] != '\0' ? "rediss-cluster"
                                          : "redis-cluster");
    if (c->password[0] != '\0') {
        n += (size_t)snprintf(out + n, cap - n, "%s:%s@", c->user,
                              c->password);
    }
    for (i = 0; i < c->n; i++) {
        if (seeds != 0 ? (seeds & (1u << i)) == 0 : i >= HCLUSTER_MASTERS) {
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s127.0.0.1:%d",
                              first ? "" : ",", c->nodes[i].port);
        first = false;
        cr_assert_lt(n, cap, "cluster URL too long");
    }
    cr_assert(!first, "no seed in %s", out);
}

/* ---- faults -------------------------------------------------------------- */

void
hcluster_kill(struct hcluster *c, int i)
{
    hredis_signal(&c->nodes[i], SIGKILL);
    c->down[i] = true;
    c->paused[i] = false;
}

void
hcluster_pause(struct hcluster *c, int i, bool paused)
{
    hredis_signal(&c->nodes[i], paused ? SIGSTOP : SIGCONT);
    c->paused[i] = paused;
}

void
hcluster_restart(struct hcluster *c, int i)
{
    cr_assert(c->down[i], "%s was not killed", c->nodes[i].name);
    hredis_restart(&c->nodes[i]);
    c->down[i] = false;
    hcluster_wait_ok(c, HCLUSTER_READY_MS);
}

