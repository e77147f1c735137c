/*
 * conf_ref.c - a configuration shared by threads and freed when its last
 * holder lets go: the process holds the one in force, and each worker
 * holds the one its requests use until they are done (see proxy.c).
 *
 * A struct conf_ref owns the struct conf moved into it; the last
 * conf_ref_drop() releases both (conf_free, then the ref). The count is
 * a C11 atomic with explicit orders; nothing else is shared.
 */
#include "config.h"

#include "conf.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>


struct conf_ref {
    atomic_size_t refs;             /* holders; the last one frees */
    struct conf   cf;               /* owned */
};

struct conf_ref *
conf_ref_new(struct conf *cf)
{
    struct conf_ref *ref = calloc(1, sizeof(*ref));

    if (ref == NULL) {
        return NULL;
    }
    atomic_init(&ref->refs, 1);
    ref->cf = *cf;                  /* the strings move */
    memset(cf, 0, sizeof(*cf));
    return ref;
}

const struct conf *
conf_ref_conf(const struct conf_ref *ref)
{
    return &ref->cf;
}

struct conf_ref *
conf_ref_hold(struct conf_ref *ref)
{
    /* Relaxed: a holder already has a reference, so nothing is published. */
    atomic_fetch_add_explicit(&ref->refs, 1, memory_order_relaxed);
    return ref;
}

void
conf_ref_drop(struct conf_ref *ref)
{
    if (ref == NULL) {
        return;
    }
    /* Release, then acquire before the free: every holder's reads of the
     * configuration happen before it is freed, whichever thread frees. */
    if (atomic_fetch_sub_explicit(&ref->refs, 1, memory_order_release) !=
        1) {
        return;
    }
    atomic_thread_fence(memory_order_acquire);
    conf_free(&ref->cf);
    free(ref);
}
