/*
 * slot.h - Redis Cluster's hash slot of a key (SPEC §12): CRC16/XMODEM
 * of the key's hash tag (the bytes between its first '{' and the first
 * '}' after it, when there is at least one byte between them), else of
 * the whole key (no '{', no '}' after it, or "{}"), modulo
 * 16384. Every key the proxy writes carries the tenant's tag (key.h), so
 * all of one tenant's keys share a slot and no script crosses slots.
 * Pure: no I/O.
 */
#ifndef HSP_SLOT_H
#define HSP_SLOT_H

#include <stddef.h>

#define SLOT_COUNT 16384

/* The slot of the LEN bytes at KEY (binary-safe; LEN 0 is slot 0). */
unsigned slot_of(const char *key, size_t len);

#endif /* HSP_SLOT_H */
