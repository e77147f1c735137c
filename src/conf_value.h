/*
 * conf_value.h - private to the configuration module (conf_*.c): one
 * value of one key, from the text a user wrote to the field of struct
 * conf, and back to text for error messages. The public unit parsers
 * (conf_parse_duration and the rest) are declared in conf.h.
 */
#ifndef HSP_CONF_VALUE_H
#define HSP_CONF_VALUE_H

#include <stdbool.h>
#include <stddef.h>

struct conf;
struct conf_key;
struct conf_rate;

#define CONF_SHOW_MAX 60            /* value bytes quoted in errors */

/*
 * Parses VALUE for key K and stores it in CF (a string is copied; the
 * old one is freed). On error, writes the reason into WHY (CAP bytes; it
 * reads after the quoted value) and leaves CF as it was. Returns 0 or -1.
 */
int conf_value_apply(struct conf *cf, const struct conf_key *k,
                     const char *value, char *why, size_t cap);

/*
 * Copies V into OUT (CAP bytes) for an error message: bytes outside
 * printable ASCII become '?', long values are cut with "...", and when
 * SECRET the user info of a URL ("://...@") becomes "***". Returns OUT.
 */
const char *conf_value_show(const char *v, bool secret, char *out,
                            size_t cap);

/* Writes R as a user would ("60/min") into BUF (CAP bytes). Returns BUF. */
const char *conf_value_rate_format(const struct conf_rate *r, char *buf,
                                   size_t cap);

#endif /* HSP_CONF_VALUE_H */
