/*
 * lua.c - the old entry point of the scripts, now in script.c.
 */
#include "config.h"

#include "lua.h"

void
lua_init(void)
{
    (void)script_get(SCRIPT_ID_LOOKUP);     /* sets up every script */
}
