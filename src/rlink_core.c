/*
 * rlink_core.c - the state every part of a Redis link shares (rlink.h,
 * rlink_int.h): the clock and timers, the re-entrancy guard and the one
 * release path (rlink_int_leave), the FIFO of pending commands, sending a
 * command, and going up or down. Below both rlink.c (the public calls,
 * the timers) and rlink_io.c (connecting, the handshake, reading), which
 * call into it and never into each other's internals but rlink.c's one
 * call to rlink_int_open.
 */
#include "config.h"

#include "rlink_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "backoff.h"

uint64_t
rlink_int_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
rlink_int_add_ms(struct event *ev, uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(ev, &tv);
}

void
rlink_int_enter(struct rlink *link)
{
    link->busy++;
}

/* Leaves an entry point; frees LINK if rlink_free ran meanwhile. */
void
rlink_int_leave(struct rlink *link)
{
    size_t i;

    if (--link->busy > 0 || !link->freeing) {
        return;
    }
    event_free(link->tick);
    event_free(link->retry);
    SSL_CTX_free(link->ssl_ctx);
    for (i = 0; i < sizeof(link->strings) / sizeof(link->strings[0]); i++) {
        free(link->strings[i]);
    }
    free(link);
}

/* Releases the connection: socket, SSL, reader; IDLE after. */
void
rlink_int_close(struct rlink *link)
{
    event_del(link->tick);
    if (link->bev != NULL) {
        bufferevent_free(link->bev);
        link->bev = NULL;
    }
    if (link->reader != NULL) {
        redisReaderFree(link->reader);
        link->reader = NULL;
    }
    link->state = ST_IDLE;
    link->handshake = 0;
    link->gen++;
}

/* Calls every pending callback with NULL, oldest first. */
void
rlink_int_fail_pending(struct rlink *link)
{
    struct pending *p = link->head;
    struct pending *next;

    link->head = NULL;
    link->tail = &link->head;
    for (; p != NULL; p = next) {
        next = p->next;
        if (p->cb != NULL) {
            p->cb(link, NULL, p->arg);
        }
        free(p);
    }
}

/*
 * The connection failed or went down for REASON: close it, set the retry
 * (unless freeing), fail what was pending, and tell the owner.
 */
void
rlink_int_down(struct rlink *link, enum rlink_reason reason,
               enum rerr_kind kind, const char *detail)
{
    bool was_up = link->state == ST_UP;

    if (detail != link->detail) {
        snprintf(link->detail, sizeof(link->detail), "%s", detail);
    }
    rlink_int_close(link);
    rlink_int_add_ms(link->retry,
                     backoff_delay(link->backoff_ms, (uint32_t)random()));
    link->backoff_ms = backoff_next(link->backoff_ms, link->conf.backoff_min_ms,
                                    link->conf.backoff_max_ms);
    link->n.failures++;
    rlink_int_fail_pending(link);
    if (link->cb != NULL && !link->freeing) {
        link->cb(link, was_up ? RLINK_LOST : RLINK_FAILED, reason, kind,
                 link->detail, link->arg);
    }
}

void
rlink_int_up(struct rlink *link)
{
    link->state = ST_UP;
    link->n.connects++;
    if (link->cb != NULL) {
        link->cb(link, RLINK_UP, RLINK_REASON_NONE, RERR_OTHER, "",
                 link->arg);
    }
}

/* Queues a pending entry for CB and arms the deadline timer. */
int
rlink_int_push(struct rlink *link, rlink_reply_cb cb, void *arg, unsigned ms,
               unsigned confirms)
{
    struct pending *p = malloc(sizeof(*p));

    if (p == NULL) {
        return -1;
    }
    p->next = NULL;
    p->cb = cb;
    p->arg = arg;
    p->confirms = confirms;
    p->deadline_ms = ms > 0 ? rlink_int_now_ms() + ms : RLINK_NO_DEADLINE;
    *link->tail = p;
    link->tail = &p->next;
    /* The head has the earliest deadline: arm for it when it is P. A
     * timer left from an earlier head fires early and re-arms. */
    if (ms > 0 && link->head == p) {
        rlink_int_add_ms(link->tick, ms);
    }
    return 0;
}

/* Formats and appends one command to the output. */
int
rlink_int_send(struct rlink *link, int argc, const char **argv,
             const size_t *lens)
{
    char *cmd;
    int   len;
    int   rc;

    len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0) {
        return -1;
    }
    rc = bufferevent_write(link->bev, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}
