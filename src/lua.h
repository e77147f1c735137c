/*
 * lua.h - the old names of the scripts in script.h, for the callers not
 * yet moved to script.h's typed calls. It goes once they are.
 */
#ifndef HSP_LUA_H
#define HSP_LUA_H

#include "script.h"

/*
 * The scripts, as the struct store_script objects store_eval takes. They
 * were globals; script.c owns them now (and their text and KEYS/ARGV
 * order, documented in script.h), hence the macros. The C names of the
 * typed calls are script_*: lua_lookup could not be both a function and
 * this object during the move.
 */
#define lua_lookup        (*script_get(SCRIPT_ID_LOOKUP))
#define lua_fill          (*script_get(SCRIPT_ID_FILL))
#define lua_lock          (*script_get(SCRIPT_ID_LOCK))
#define lua_ping          (*script_get(SCRIPT_ID_PING))
#define lua_unlock        (*script_get(SCRIPT_ID_UNLOCK))
#define lua_write         (*script_get(SCRIPT_ID_WRITE))
#define lua_idem_claim    (*script_get(SCRIPT_ID_IDEM_CLAIM))
#define lua_idem_complete (*script_get(SCRIPT_ID_IDEM_COMPLETE))
#define lua_idem_release  (*script_get(SCRIPT_ID_IDEM_RELEASE))

/* Does nothing that has not been done: script.c computes the scripts'
 * SHAs before main runs. Harmless to call, at any time. */
void lua_init(void);

#endif /* HSP_LUA_H */
