/* Per-session receive ordering (PROTOCOL.md 6.1). Receiver-local: the references'
 * forced delivery sets next = seq and adds ~50 ms to every later message (D13); this
 * buffer sets next = seq + 1. Bounded in slots and bytes; data is copied only when it
 * arrives out of order.
 *
 * The caller pulls: it offers each message, delivers its own copy at once when told
 * JITTER_NOW, and then takes whatever became ready with jitter_next until it says none.
 * Nothing is called back, so the buffer never reaches into its caller. */
#ifndef SW_CORE_JITTER_H
#define SW_CORE_JITTER_H

#include <stddef.h>
#include <stdint.h>

#define JITTER_SLOTS 64          /* reorder window, in sequence numbers */
#define JITTER_MAX_BYTES (256u * 1024u) /* buffered bytes per session */
#define JITTER_WAIT_MS 50        /* PROTOCOL.md 6.1: forced delivery after 50 ms */

/* A message the buffer holds: a copy, made only when it could not go at once. */
typedef struct jitter_msg {
  struct jitter_msg *next; /* in the ready list */
  uint32_t len;
  uint8_t data[];
} jitter_msg;

typedef struct jitter_slot {
  jitter_msg *msg;
  uint32_t seq;
  uint64_t since;
  int used;
} jitter_slot;

typedef struct jitter_buf {
  uint32_t next;
  unsigned count;   /* messages in slots */
  size_t bytes;     /* their bytes, and those of the ready list */
  jitter_msg *ready, *ready_tail; /* released in order, to be taken first */
  jitter_msg *taken;              /* handed out by jitter_next, freed at the next call */
  jitter_slot slots[JITTER_SLOTS];
} jitter_buf;

enum {
  JITTER_DROP = 0, /* late or duplicate: not delivered */
  JITTER_NOW = 1,  /* deliver the offered message now, then drain jitter_next */
  JITTER_HELD = 2  /* kept (or queued behind released ones): drain jitter_next */
};

void jitter_init(jitter_buf *j, uint32_t next);
void jitter_free(jitter_buf *j);
/* Forget everything (remote restart) and expect `next`. */
void jitter_reset(jitter_buf *j, uint32_t next);
/* Offer message `seq`. When a copy cannot be made it answers JITTER_NOW: the message is
 * delivered out of order rather than lost. */
int jitter_offer(jitter_buf *j, uint32_t seq, const uint8_t *data, size_t len, uint64_t now);
/* The next message to deliver, in order: released ones, then consecutive successors, then
 * (once `now` passes a waiting message's JITTER_WAIT_MS) the lowest waiting one, the gaps
 * before it abandoned. Returns 1 with the message (valid until the next call on j), or 0. */
int jitter_next(jitter_buf *j, uint64_t now, const uint8_t **data, size_t *len);
/* UINT64_MAX when nothing waits. */
uint64_t jitter_deadline(const jitter_buf *j);

#endif
