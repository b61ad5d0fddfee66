/* Per-session receive ordering (PROTOCOL.md 6.1) and replay protection (D5).
 * Receiver-local: the references' forced delivery sets next = seq and adds ~50 ms to
 * every later message (D13); this buffer sets next = seq + 1. Bounded in slots and
 * bytes; data is copied only when it arrives out of order. */
#ifndef SW_CORE_JITTER_H
#define SW_CORE_JITTER_H

#include <stddef.h>
#include <stdint.h>

#define JITTER_SLOTS 64          /* reorder window, in sequence numbers */
#define JITTER_MAX_BYTES (256u * 1024u) /* buffered bytes per session */
#define JITTER_WAIT_MS 50        /* PROTOCOL.md 6.1: forced delivery after 50 ms */

typedef void (*jitter_deliver_fn)(void *ctx, const uint8_t *data, size_t len);

typedef struct jitter_slot {
  uint8_t *data;
  uint32_t seq;
  uint32_t len;
  uint64_t since;
  int used;
} jitter_slot;

typedef struct jitter_buf {
  uint32_t next;
  unsigned count;
  size_t bytes;
  jitter_slot slots[JITTER_SLOTS];
} jitter_buf;

void jitter_init(jitter_buf *j, uint32_t next);
void jitter_free(jitter_buf *j);
/* Forget everything (remote restart) and expect `next`. */
void jitter_reset(jitter_buf *j, uint32_t next);
/* Returns 0, or SW_ENOMEM when an out-of-order copy could not be made (then the
 * message is delivered at once rather than lost). */
int jitter_push(jitter_buf *j, uint32_t seq, const uint8_t *data, size_t len, uint64_t now,
                jitter_deliver_fn deliver, void *ctx);
/* Deliver what has waited JITTER_WAIT_MS, abandoning the gaps before it. */
void jitter_expire(jitter_buf *j, uint64_t now, jitter_deliver_fn deliver, void *ctx);
/* UINT64_MAX when nothing waits. */
uint64_t jitter_deadline(const jitter_buf *j);

/* Sliding window over the 64-bit nonce counter of one remote session. */
#define REPLAY_BITS 1024
typedef struct replay_window {
  uint64_t top; /* highest counter accepted */
  int started;
  uint64_t bits[REPLAY_BITS / 64];
} replay_window;

void replay_reset(replay_window *r);
/* 1 when the counter may be new (inside or above the window and unseen). */
int replay_check(const replay_window *r, uint64_t ctr);
/* Record an authenticated counter. */
void replay_commit(replay_window *r, uint64_t ctr);

#endif
