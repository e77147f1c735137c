/*
 * conf_load.h - private to the configuration module (conf_*.c): the
 * error sink the loader fills, shared with the cross-key checks so that
 * -t prints both alike. The loader itself is public (conf.h).
 */
#ifndef HSP_CONF_LOAD_H
#define HSP_CONF_LOAD_H

struct conf_errors;

/* Appends one message to ERRS (which may be NULL), or counts it dropped
 * past CONF_ERRORS_MAX. */
void conf_load_error(struct conf_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* HSP_CONF_LOAD_H */
