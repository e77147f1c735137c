/*
 * conf_load.c - configuration text to struct conf (SPEC §9): defaults
 * first, then the `key = value` lines of a file or buffer, then -o
 * overrides, with every error collected as "FILE:LINE: message" (none
 * stops the parse), and conf_free.
 *
 * Each value goes through conf_value_apply() (conf_value.c); the two rate
 * shares that follow rate_limit are then derived from it
 * (conf_key_derive), and again after every value the file or a -o sets.
 * The strings a struct conf holds are owned by it and released by
 * conf_free(); nothing else is kept here. Calls down into conf_value.c
 * and conf_key.c only.
 */
#include "config.h"

#include "conf.h"
#include "conf_load.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_key.h"
#include "conf_value.h"

#define CONF_LINE_MAX     4096          /* longer lines are an error */
#define CONF_FILE_MAX     (1024 * 1024) /* a config file is small */
#define CONF_SUGGEST_MAX  3             /* edit distance for "did you mean" */
#define CONF_KEY_NAME_MAX 32

/* Appends one message to ERRS (which may be NULL), or counts it dropped. */
void
conf_load_error(struct conf_errors *errs, const char *fmt, ...)
{
    va_list ap;

    if (errs == NULL) {
        return;
    }
    if (errs->count >= CONF_ERRORS_MAX) {
        errs->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(errs->msg[errs->count++], CONF_ERROR_LEN, fmt, ap);
    va_end(ap);
}

/* Levenshtein distance between A and the known key B, ignoring case. */
static size_t
conf_distance(const char *a, const char *b)
{
    size_t row[CONF_KEY_NAME_MAX + 1], lb = strlen(b), i, j;

    for (j = 0; j <= lb && j <= CONF_KEY_NAME_MAX; j++) {
        row[j] = j;
    }
    for (i = 0; a[i] != '\0'; i++) {
        size_t diag = row[0];

        row[0] = i + 1;
        for (j = 1; j <= lb && j <= CONF_KEY_NAME_MAX; j++) {
            size_t up = row[j];
            size_t best = diag + ((a[i] | 0x20) != (b[j - 1] | 0x20));

            if (row[j] + 1 < best) {
                best = row[j] + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb < CONF_KEY_NAME_MAX ? lb : CONF_KEY_NAME_MAX];
}

/* Writes "unknown key 'X'" and the nearest known key, if near, into WHY. */
static void
conf_unknown(const char *key, char *why, size_t cap)
{
    const char *best = NULL;
    size_t      i, d, best_d = CONF_SUGGEST_MAX + 1, len = strlen(key);
    char        shown[CONF_SHOW_MAX + 8];

    for (i = 0; i < conf_key_count(); i++) {
        const char *name = conf_key_name(i);

        if (len > strlen(name) + CONF_SUGGEST_MAX) {
            continue;               /* the distance is at least the gap */
        }
        d = conf_distance(key, name);
        if (d < best_d) {
            best_d = d;
            best = name;
        }
    }
    conf_value_show(key, false, shown, sizeof(shown));
    if (best != NULL) {
        snprintf(why, cap, "unknown key '%s' (did you mean '%s'?)", shown,
                 best);
    } else {
        snprintf(why, cap, "unknown key '%s'", shown);
    }
}

static bool
conf_is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* Strips spaces and tabs from both ends of S in place. */
static char *
conf_trim(char *s)
{
    size_t n;

    while (conf_is_blank(*s)) {
        s++;
    }
    n = strlen(s);
    while (n > 0 && conf_is_blank(s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/*
 * Turns the text after '=' into the value, in place: trims it, removes
 * one pair of double quotes around it and, when COMMENTS, a trailing
 * comment (a '#' that starts the value or follows a space or tab; inside
 * quotes '#' is plain text). Returns the value, or NULL with the reason
 * in WHY.
 */
static char *
conf_unquote(char *v, bool comments, char *why, size_t cap)
{
    char *p, *close;

    v = conf_trim(v);
    if (v[0] == '"') {
        close = strchr(v + 1, '"');
        if (close == NULL) {
            snprintf(why, cap, "the opening '\"' has no closing '\"'");
            return NULL;
        }
        *close = '\0';
        p = conf_trim(close + 1);
        if (p[0] != '\0' && !(comments && p[0] == '#')) {
            snprintf(why, cap, "unexpected text after the closing '\"'");
            return NULL;
        }
        return v + 1;
    }
    for (p = v; comments && *p != '\0'; p++) {
        if (*p == '#' && (p == v || conf_is_blank(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    return conf_trim(v);
}

/*
 * Sets KEY to RAW, the text after '=' (both are changed in place), and
 * reports errors as "WHERE: ...". COMMENTS: whether RAW may end in a
 * comment, as file lines may and -o values may not. Returns 0 or -1.
 */
static int
conf_assign(struct conf *cf, const char *where, char *key, char *raw,
            bool comments, struct conf_errors *errs)
{
    char                       why[CONF_ERROR_LEN];
    char                       shown[CONF_SHOW_MAX + 8];
    const struct conf_key     *k;
    const struct conf_derived *d;
    char                      *value;

    key = conf_trim(key);
    if (key[0] == '\0') {
        conf_load_error(errs, "%s: missing key before '='", where);
        return -1;
    }
    k = conf_key_find(key);
    if (k == NULL) {
        conf_unknown(key, why, sizeof(why));
        conf_load_error(errs, "%s: %s", where, why);
        return -1;
    }
    value = conf_unquote(raw, comments, why, sizeof(why));
    if (value == NULL) {
        conf_load_error(errs, "%s: %s: %s", where, k->name, why);
        return -1;
    }
    if (conf_value_apply(cf, k, value, why, sizeof(why)) != 0) {
        if (k->type == CONF_SECRET) {
            snprintf(shown, sizeof(shown), "***");
        } else {
            conf_value_show(value, k->type == CONF_REDIS, shown,
                            sizeof(shown));
        }
        conf_load_error(errs, "%s: %s: '%s' %s", where, k->name, shown, why);
        return -1;
    }
    d = conf_key_derived_of(k);
    if (d != NULL) {                /* set: it no longer follows rate_limit */
        snprintf((char *)cf + d->from, CONF_WHERE_LEN, "%s", where);
    }
    conf_key_derive(cf);            /* rate_limit may have changed */
    return 0;
}

/*
 * Applies one line of a file (N bytes at RAW, without its newline).
 * Errors are reported as "NAME:LINENO: ...". Returns 0 or -1.
 */
static int
conf_line(struct conf *cf, const char *name, unsigned lineno, const char *raw,
          size_t n, struct conf_errors *errs)
{
    char  buf[CONF_LINE_MAX + 1], where[CONF_ERROR_LEN];
    char  shown[CONF_SHOW_MAX + 8], *line, *eq;

    snprintf(where, sizeof(where), "%s:%u", name, lineno);
    if (n > CONF_LINE_MAX) {
        conf_load_error(errs, "%s: line is longer than %d bytes", where,
                        CONF_LINE_MAX);
        return -1;
    }
    if (memchr(raw, '\0', n) != NULL) {
        conf_load_error(errs, "%s: line contains a NUL byte", where);
        return -1;
    }
    memcpy(buf, raw, n);
    buf[n] = '\0';
    line = conf_trim(buf);
    if (line[0] == '\0' || line[0] == '#') {
        return 0;
    }
    eq = strchr(line, '=');
    if (eq == NULL) {
        conf_load_error(errs, "%s: '%s' is not a 'key = value' line "
                        "(no '=')", where,
                        conf_value_show(line, false, shown, sizeof(shown)));
        return -1;
    }
    *eq = '\0';
    /* A key set twice is not an error: the last line wins, as in nginx
     * includes and redis.conf, so a local file can append overrides. */
    return conf_assign(cf, where, line, eq + 1, true, errs);
}

int
conf_load_buffer(struct conf *cf, const char *name, const char *text,
                 size_t len, struct conf_errors *errs)
{
    const char *p = text, *end = text + len, *nl;
    unsigned    lineno = 0;
    size_t      n;
    int         rc = 0;

    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;                     /* a UTF-8 byte order mark */
    }
    while (p < end) {
        lineno++;
        nl = memchr(p, '\n', (size_t)(end - p));
        n = (size_t)((nl == NULL ? end : nl) - p);
        if (n > 0 && p[n - 1] == '\r') {
            n--;                    /* CRLF files */
        }
        if (conf_line(cf, name, lineno, p, n, errs) != 0) {
            rc = -1;
        }
        p = nl == NULL ? end : nl + 1;
    }
    return rc;
}

int
conf_init(struct conf *cf)
{
    char   why[CONF_ERROR_LEN];
    size_t i;

    memset(cf, 0, sizeof(*cf));
    for (i = 0; i < conf_key_count(); i++) {
        const struct conf_key *k = conf_key_at(i);

        if (conf_value_apply(cf, k, k->def, why, sizeof(why)) != 0) {
            conf_free(cf);          /* out of memory, or a bad default */
            return -1;
        }
    }
    conf_key_derive(cf);            /* the same values as their defaults */
    return 0;
}

void
conf_free(struct conf *cf)
{
    size_t i;

    if (cf == NULL) {
        return;
    }
    for (i = 0; i < conf_key_count(); i++) {
        const struct conf_key *k = conf_key_at(i);

        if (CONF_IS_STRING(k->type)) {
            free(*(char **)((char *)cf + k->offset));
        }
    }
    memset(cf, 0, sizeof(*cf));
}

int
conf_load_file(struct conf *cf, const char *path, struct conf_errors *errs)
{
    FILE  *f;
    char  *text;
    size_t len;
    int    rc = -1;

    f = fopen(path, "rb");
    if (f == NULL) {
        conf_load_error(errs, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    text = malloc(CONF_FILE_MAX + 1);
    if (text == NULL) {
        conf_load_error(errs, "%s: out of memory", path);
        goto fail;
    }
    len = fread(text, 1, CONF_FILE_MAX + 1, f);
    if (ferror(f)) {
        conf_load_error(errs, "%s: cannot read: %s", path, strerror(errno));
    } else if (len > CONF_FILE_MAX) {
        conf_load_error(errs, "%s: larger than %d bytes; is it a configuration "
                        "file?", path, CONF_FILE_MAX);
    } else {
        rc = conf_load_buffer(cf, path, text, len, errs);
    }

fail:
    fclose(f);
    free(text);
    return rc;
}

int
conf_load_string(struct conf *cf, const char *name, const char *text,
                 struct conf_errors *errs)
{
    return conf_load_buffer(cf, name, text, strlen(text), errs);
}

int
conf_set_override(struct conf *cf, const char *kv, struct conf_errors *errs)
{
    char  where[CONF_SHOW_MAX + 16], shown[CONF_SHOW_MAX + 8], *copy, *eq;
    int   rc;

    snprintf(where, sizeof(where), "-o %s",
             conf_value_show(kv, true, shown, sizeof(shown)));
    eq = strchr(where, '=');
    if (eq != NULL) {               /* a password is never shown */
        const struct conf_key *k;

        *eq = '\0';
        k = conf_key_find(where + 3);
        *eq = '=';
        if (k != NULL && k->type == CONF_SECRET) {
            snprintf(eq + 1, sizeof(where) - (size_t)(eq + 1 - where), "***");
        }
    }
    copy = strdup(kv);
    if (copy == NULL) {
        conf_load_error(errs, "%s: out of memory", where);
        return -1;
    }
    eq = strchr(copy, '=');
    if (eq == NULL) {
        conf_load_error(errs, "%s: expected key=value", where);
        free(copy);
        return -1;
    }
    *eq = '\0';
    rc = conf_assign(cf, where, copy, eq + 1, false, errs);
    free(copy);
    return rc;
}
