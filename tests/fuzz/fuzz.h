/*
 * fuzz.h - what the libFuzzer harnesses in tests/fuzz share: the entry
 * point's prototype, a property check that names the broken property,
 * and a NUL-terminated copy of the input.
 *
 * A failed property aborts, which libFuzzer reports as a crash and saves
 * the input, exactly like a sanitizer report.
 */
#ifndef HSP_FUZZ_H
#define HSP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, what)                                              \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz: property broken: %s (%s) at %s:%d\n",    \
                    what, #cond, __FILE__, __LINE__);                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* A malloc'd copy of the SIZE bytes at DATA plus a NUL; caller frees.
 * Aborts when out of memory (the fuzzer's rss limit is the real bound). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL) {
        abort();
    }
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif /* HSP_FUZZ_H */
