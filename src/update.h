/*
 * update.h - local checks of PATCH /phone/update (SPEC §4), done before
 * the upstream is called so that an invalid request never spends the rate
 * budget. Pure: works on a parsed json-c object, no libevent.
 */
#ifndef HSP_UPDATE_H
#define HSP_UPDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "phone.h"

#define UPDATE_MSGS_MAX 8

struct json_object;

struct update_check {
    char        phone[PHONE_E164_MAX];  /* normalised, when valid */
    bool        books;          /* blockId or cancelAppt: availability
                                   changes for the whole tenant */
    size_t      nmsgs;          /* validation errors found */
    const char *msgs[UPDATE_MSGS_MAX]; /* static strings, in the
                                          upstream's wording */
};

/*
 * Checks BODY, the parsed request body (any JSON value): it must be an
 * object; `phone` a string that is a phone (SPEC §3); `cancelAppt` and
 * `blockId` not both present; no `primaryPhone` or `textPhone`. Returns 0
 * when valid, else -1 with OUT->msgs saying why.
 */
int update_check(const struct json_object *body, struct update_check *out);

#endif /* HSP_UPDATE_H */
