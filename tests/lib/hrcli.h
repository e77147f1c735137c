/*
 * hrcli.h - a blocking Redis client of the tests' own, over TCP or TLS
 * (hiredis 0.14 has no TLS: its reader and formatter, OpenSSL for the
 * rest), to drive the redis-servers a test starts (tests/lib/hcluster.h)
 * whatever they listen on. Test-only. Errors are values (no criterion
 * calls), since a test also asks nodes it has just killed or paused.
 * Every read and write has a deadline, so a paused server fails a call
 * instead of hanging the test.
 */
#ifndef HSP_HRCLI_H
#define HSP_HRCLI_H

#include <stdarg.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

struct hrcli;

/*
 * Connects to 127.0.0.1:PORT, with TLS when CA_FILE is not NULL (the
 * server's chain verified against it, and its address), then says AUTH
 * PASSWORD (as USER when not NULL) when PASSWORD is not NULL. Returns
 * the client (the caller's, for hrcli_close), or NULL with the reason
 * in ERR (ERRLEN bytes).
 */
struct hrcli *hrcli_open(int port, const char *ca_file, const char *user,
                         const char *password, char *err, size_t errlen);

/*
 * Sends the command FMT (redisCommand's format) and reads its reply: the
 * caller's to freeReplyObject, an error reply included. NULL when the
 * connection failed (timed out, closed): the reason is then in
 * hrcli_error, and C is good only for hrcli_close.
 */
redisReply *hrcli_cmd(struct hrcli *c, const char *fmt, ...);

/* As hrcli_cmd, with the arguments in AP. */
redisReply *hrcli_vcmd(struct hrcli *c, const char *fmt, va_list ap);

/* As hrcli_cmd, with ARGC arguments ARGV of ARGVLEN bytes each. */
redisReply *hrcli_argv(struct hrcli *c, int argc, const char **argv,
                       const size_t *argvlen);

/* Why the last call on C failed. Borrowed from C. */
const char *hrcli_error(const struct hrcli *c);

/* Closes C (NULL is fine). */
void hrcli_close(struct hrcli *c);

#endif /* HSP_HRCLI_H */
