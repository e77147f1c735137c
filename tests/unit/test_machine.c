/*
 * test_machine.c - the request machine's transitions: which event each
 * state of each path takes (req/machine.h). Every (path, state, event)
 * not in the table must be refused.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>

#include <criterion/criterion.h>

#include "req/machine.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct edge {
    enum req_kind  kind;
    enum req_state state;
    enum req_event ev;
};

/* Every wait of each path and the one event that ends it. */
static const struct edge edges[] = {
    { REQ_KIND_READ, REQ_LOOKUP, REQ_EV_STORE },
    { REQ_KIND_READ, REQ_LOCK, REQ_EV_STORE },
    { REQ_KIND_READ, REQ_WAIT, REQ_EV_WAKE },
    { REQ_KIND_READ, REQ_BUDGET, REQ_EV_BUDGET },
    { REQ_KIND_READ, REQ_FETCH, REQ_EV_UPSTREAM },
    { REQ_KIND_READ, REQ_STORE, REQ_EV_STORE },
    { REQ_KIND_WRITE, REQ_CLAIM, REQ_EV_STORE },
    { REQ_KIND_WRITE, REQ_BUDGET, REQ_EV_BUDGET },
    { REQ_KIND_WRITE, REQ_FETCH, REQ_EV_UPSTREAM },
    { REQ_KIND_WRITE, REQ_WRITE, REQ_EV_STORE },
    { REQ_KIND_WRITE, REQ_SETTLE, REQ_EV_STORE },
    { REQ_KIND_PURGE, REQ_PURGE, REQ_EV_STORE },
};

static bool
in_table(enum req_kind kind, enum req_state state, enum req_event ev)
{
    size_t i;

    for (i = 0; i < N(edges); i++) {
        if (edges[i].kind == kind && edges[i].state == state &&
            edges[i].ev == ev) {
            return true;
        }
    }
    return false;
}

Test(machine, each_state_takes_its_event_only)
{
    static const enum req_kind kinds[] = { REQ_KIND_LOCAL, REQ_KIND_READ,
                                           REQ_KIND_WRITE, REQ_KIND_PURGE };
    static const enum req_event evs[] = { REQ_EV_STORE, REQ_EV_UPSTREAM,
                                          REQ_EV_WAKE, REQ_EV_BUDGET };
    size_t k, e;
    int    s;

    for (k = 0; k < N(kinds); k++) {
        for (s = REQ_CLAIM; s < REQ_DONE; s++) {
            for (e = 0; e < N(evs); e++) {
                cr_expect_eq(machine_accepts(kinds[k], (enum req_state)s,
                                             evs[e]),
                             in_table(kinds[k], (enum req_state)s, evs[e]),
                             "kind %d state %d event %d", (int)kinds[k], s,
                             (int)evs[e]);
            }
        }
    }
}

Test(machine, recv_takes_start_only)
{
    cr_expect(machine_accepts(REQ_KIND_LOCAL, REQ_RECV, REQ_EV_START));
    cr_expect_not(machine_accepts(REQ_KIND_LOCAL, REQ_RECV, REQ_EV_STORE));
    cr_expect_not(machine_accepts(REQ_KIND_READ, REQ_LOOKUP, REQ_EV_START));
    cr_expect_not(machine_accepts(REQ_KIND_WRITE, REQ_CLAIM, REQ_EV_START));
}

Test(machine, abort_until_done)
{
    int s;

    for (s = REQ_RECV; s < REQ_DONE; s++) {
        cr_expect(machine_accepts(REQ_KIND_READ, (enum req_state)s,
                                  REQ_EV_ABORT), "state %d", s);
    }
    cr_expect_not(machine_accepts(REQ_KIND_READ, REQ_DONE, REQ_EV_ABORT));
    cr_expect_not(machine_accepts(REQ_KIND_WRITE, REQ_DONE, REQ_EV_STORE));
}

/* Every waiting state of the table is reached by one path at least. */
Test(machine, no_state_is_orphaned)
{
    int    s;
    size_t i;
    bool   seen;

    for (s = REQ_CLAIM; s < REQ_DONE; s++) {
        seen = false;
        for (i = 0; i < N(edges); i++) {
            seen = seen || edges[i].state == (enum req_state)s;
        }
        cr_expect(seen, "state %d has no edge", s);
    }
}
