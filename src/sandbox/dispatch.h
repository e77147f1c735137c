/*
 * dispatch.h - the sandbox's front door: evhttp's one callback for every
 * request. It names the method (a PUT is the GET main.c turned it into),
 * decodes the path (400 when it does not decode), and hands
 * /__sandbox/... to admin.c and everything else to api.c. It sits above
 * both, so the control routes and the S2S pipeline never call each other.
 */
#ifndef HSP_DISPATCH_H
#define HSP_DISPATCH_H

#include "sandbox/admin.h"

struct api;
struct evhttp;
struct wire;
struct dispatch;                    /* opaque */

/*
 * Becomes HTTP's generic callback, routing to API and to the control
 * routes over ADMIN (copied; its pointers stay borrowed); REPLY answers
 * paths that do not decode. All stay owned by the caller and must
 * outlive the dispatcher, which the caller frees with dispatch_free()
 * after evhttp_free(HTTP). Returns NULL when out of memory.
 */
struct dispatch *dispatch_new(struct evhttp *http, struct api *api,
                              const struct admin_ctx *admin,
                              struct wire *wire);

/* Frees D. NULL-safe. */
void dispatch_free(struct dispatch *d);

#endif /* HSP_DISPATCH_H */
