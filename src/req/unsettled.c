/*
 * req/unsettled.c - Idempotency-Key completions not yet known to be
 * kept (req/unsettled.h).
 */
#include "config.h"

#include "req/unsettled.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "http.h"
#include "idem.h"
#include "key.h"
#include "log.h"
#include "lograte.h"
#include "script.h"
#include "store.h"

#define UNSETTLED_MAX      4096     /* completions the table holds */
#define UNSETTLED_TICK_MS  250      /* how often a worker retries */
#define UNSETTLED_GRACE_MS 1000     /* the first settle's own time */
#define UNSETTLED_FOR_MS   120000   /* then given up, and logged */

struct unsettled {
    TAILQ_ENTRY(unsettled) next;
    bool    sending;                /* a worker's retry is in flight */
    int64_t added_ms;               /* monotonic */
    int64_t ttl_ms;
    char    record[KEY_MAX];
    char    owner[HTTP_REQUEST_ID_MAX + 1];
    char    fp[IDEM_FP_HEX + 1];
    size_t  len;
    char   *answer;                 /* owned */
};

TAILQ_HEAD(unsettled_list, unsettled);

static pthread_mutex_t       unsettled_lock = PTHREAD_MUTEX_INITIALIZER;
static struct unsettled_list unsettled_all =
    TAILQ_HEAD_INITIALIZER(unsettled_all);
static atomic_size_t         unsettled_n;   /* read without the lock */

/* How many there are: a hint read without the lock (relaxed). */
static size_t
unsettled_count(void)
{
    return atomic_load_explicit(&unsettled_n, memory_order_relaxed);
}

struct unsettled_retry {
    struct store *store;            /* borrowed */
    struct event *tick;             /* owned */
};

/* The entry of RECORD by OWNER (the lock held), or NULL. */
static struct unsettled *
unsettled_find(const char *record, const char *owner)
{
    struct unsettled *u;

    TAILQ_FOREACH(u, &unsettled_all, next) {
        if (strcmp(u->record, record) == 0 && strcmp(u->owner, owner) == 0) {
            return u;
        }
    }
    return NULL;
}

/* Drops U (the lock held). */
static void
unsettled_drop(struct unsettled *u)
{
    TAILQ_REMOVE(&unsettled_all, u, next);
    atomic_fetch_sub_explicit(&unsettled_n, 1, memory_order_relaxed);
    free(u->answer);
    free(u);
}

bool
unsettled_add(const char *record, const char *owner, const char *fp,
              const char *answer, size_t len, int64_t ttl_ms)
{
    struct unsettled *u;

    if (unsettled_count() >= UNSETTLED_MAX || strlen(record) >= KEY_MAX ||
        strlen(owner) > HTTP_REQUEST_ID_MAX || strlen(fp) > IDEM_FP_HEX ||
        (u = calloc(1, sizeof(*u))) == NULL) {
        return false;
    }
    u->answer = malloc(len > 0 ? len : 1);
    if (u->answer == NULL) {
        free(u);
        return false;
    }
    memcpy(u->answer, answer, len);
    u->len = len;
    u->ttl_ms = ttl_ms;
    u->added_ms = lograte_now_ms();
    strcpy(u->record, record);
    strcpy(u->owner, owner);
    strcpy(u->fp, fp);
    pthread_mutex_lock(&unsettled_lock);
    TAILQ_INSERT_TAIL(&unsettled_all, u, next);
    atomic_fetch_add_explicit(&unsettled_n, 1, memory_order_relaxed);
    pthread_mutex_unlock(&unsettled_lock);
    return true;
}

void
unsettled_done(const char *record, const char *owner)
{
    struct unsettled *u;

    if (unsettled_count() == 0) {
        return;
    }
    pthread_mutex_lock(&unsettled_lock);
    u = unsettled_find(record, owner);
    if (u != NULL) {
        unsettled_drop(u);
    }
    pthread_mutex_unlock(&unsettled_lock);
}

/* What a retry sent, to find its entry again: freed by its callback. */
struct unsettled_send {
    char record[KEY_MAX];
    char owner[HTTP_REQUEST_ID_MAX + 1];
};

static void
unsettled_on_reply(struct redisReply *reply, void *arg)
{
    struct unsettled_send *s = arg;
    struct unsettled      *u;

    pthread_mutex_lock(&unsettled_lock);
    u = unsettled_find(s->record, s->owner);
    if (u != NULL && reply != NULL) {
        unsettled_drop(u);
    } else if (u != NULL) {
        u->sending = false;         /* the next tick tries again */
    }
    pthread_mutex_unlock(&unsettled_lock);
    if (reply != NULL) {
        log_info("proxy: a delayed Idempotency-Key record was stored");
    }
    free(s);
}

/* Sends the completion of U again (the lock held). */
static void
unsettled_send(struct unsettled_retry *ur, struct unsettled *u)
{
    struct unsettled_send           *s = malloc(sizeof(*s));
    struct script_idem_complete_args a = {
        .record = u->record, .owner = u->owner, .fingerprint = u->fp,
        .answer = u->answer, .answer_len = u->len, .ttl_ms = u->ttl_ms };

    if (s == NULL) {
        return;
    }
    memcpy(s->record, u->record, sizeof(s->record));
    memcpy(s->owner, u->owner, sizeof(s->owner));
    /* The store calls back on the loop, never from inside. */
    if (script_idem_complete(ur->store, &a, unsettled_on_reply, s) == NULL) {
        free(s);
        return;
    }
    u->sending = true;
}

static void
unsettled_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct unsettled_retry *ur = arg;
    struct unsettled       *u, *next;
    int64_t                 now = lograte_now_ms();

    (void)fd;
    (void)what;
    if (unsettled_count() == 0 || !store_available(ur->store)) {
        return;
    }
    pthread_mutex_lock(&unsettled_lock);
    for (u = TAILQ_FIRST(&unsettled_all); u != NULL; u = next) {
        next = TAILQ_NEXT(u, next);
        if (now - u->added_ms > UNSETTLED_FOR_MS) {
            log_err("proxy: an Idempotency-Key record could not be stored "
                    "for %d s: a retry after its claim's lease may run the "
                    "PATCH again", UNSETTLED_FOR_MS / 1000);
            if (!u->sending) {
                unsettled_drop(u);
            }
        } else if (!u->sending && now - u->added_ms > UNSETTLED_GRACE_MS) {
            unsettled_send(ur, u);
        }
    }
    pthread_mutex_unlock(&unsettled_lock);
}

struct unsettled_retry *
unsettled_retry_new(struct event_base *base, struct store *st)
{
    struct unsettled_retry *ur = calloc(1, sizeof(*ur));
    struct timeval          tv = { 0, UNSETTLED_TICK_MS * 1000 };

    if (ur == NULL) {
        return NULL;
    }
    ur->store = st;
    ur->tick = event_new(base, -1, EV_PERSIST, unsettled_on_tick, ur);
    if (ur->tick == NULL) {
        free(ur);
        return NULL;
    }
    evtimer_add(ur->tick, &tv);
    return ur;
}

void
unsettled_retry_free(struct unsettled_retry *ur)
{
    if (ur == NULL) {
        return;
    }
    event_free(ur->tick);
    free(ur);
}
