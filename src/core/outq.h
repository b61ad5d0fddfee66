/* The core's outgoing datagrams: one bounded byte ring, filled by the protocol code and
 * drained by whatever owns the sockets (sw_core_out_peek / sw_core_out_consume). The
 * bound is what makes write() answer SW_EAGAIN instead of growing without limit. */
#ifndef SW_CORE_OUTQ_H
#define SW_CORE_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef struct outq_rec {
  uint32_t len;  /* payload bytes; 0 with kind 0xff marks a wrap to offset 0 */
  uint8_t kind;  /* socket kind */
  uint8_t pad;
  uint16_t probe; /* SW_SOCK_PROBE: which probe socket (1..SW_CORE_PROBE_MAX) */
  sw_addr to;
  uint64_t not_before; /* pacing: not to be sent before this time (0: at once) */
} outq_rec;

typedef struct outq {
  uint8_t *buf;
  size_t cap, head, tail, used; /* used counts record headers, payloads and wasted tails */
  size_t count;
} outq;

/* Where a datagram leaves, as the `sock` argument below: the socket kind in the low
 * byte, and for a probe socket its index above it. */
#define OUTQ_SOCK(kind, probe) ((uint32_t)(kind) | ((uint32_t)(probe) << 8))

int outq_init(outq *q, size_t cap);
void outq_free(outq *q);
/* Reserve room for a datagram of len bytes; returns where to write it, or NULL when
 * the ring is full. The record exists once outq_commit is called. */
uint8_t *outq_reserve(outq *q, size_t len);
void outq_commit(outq *q, uint32_t sock, const sw_addr *to, size_t len);
int outq_push(outq *q, uint32_t sock, const sw_addr *to, const uint8_t *data, size_t len);
/* The same, for a datagram the pacer holds until not_before. */
void outq_commit_at(outq *q, uint32_t sock, const sw_addr *to, size_t len, uint64_t not_before);
int outq_push_at(outq *q, uint32_t sock, const sw_addr *to, const uint8_t *data, size_t len,
                 uint64_t not_before);
/* The head record, or NULL when empty. */
const outq_rec *outq_head(const outq *q);
size_t outq_free_bytes(const outq *q);
/* Peek the i-th record from the head (i < count). */
const outq_rec *outq_peek(const outq *q, size_t *cursor);
void outq_pop(outq *q);



static inline const uint8_t *outq_rec_data(const outq_rec *r) {
  return (const uint8_t *)r + sizeof(outq_rec);
}
#endif
