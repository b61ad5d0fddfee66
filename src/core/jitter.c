/* The reorder buffer: see jitter.h. */
#include "jitter.h"

#include <stdlib.h>
#include <string.h>

static int32_t seqdiff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

void jitter_init(jitter_buf *j, uint32_t next) {
  memset(j, 0, sizeof *j);
  j->next = next;
}

void jitter_free(jitter_buf *j) {
  for (unsigned i = 0; i < JITTER_SLOTS; i++) free(j->slots[i].msg);
  while (j->ready) {
    jitter_msg *m = j->ready;
    j->ready = m->next;
    free(m);
  }
  free(j->taken);
  uint32_t next = j->next;
  jitter_init(j, next);
}

void jitter_reset(jitter_buf *j, uint32_t next) {
  jitter_free(j);
  j->next = next;
}

static jitter_msg *copy_of(const uint8_t *data, size_t len) {
  jitter_msg *m = malloc(sizeof *m + (len ? len : 1));
  if (!m) return NULL;
  m->next = NULL;
  m->len = (uint32_t)len;
  memcpy(m->data, data, len);
  return m;
}

static void ready_append(jitter_buf *j, jitter_msg *m) {
  m->next = NULL;
  if (j->ready_tail) j->ready_tail->next = m;
  else j->ready = m;
  j->ready_tail = m;
}

/* Take the message in slot `next` when it is the expected one. */
static jitter_msg *take_next(jitter_buf *j) {
  jitter_slot *s = &j->slots[j->next % JITTER_SLOTS];
  if (!s->used || s->seq != j->next) return NULL;
  jitter_msg *m = s->msg;
  memset(s, 0, sizeof *s);
  j->count--;
  j->next++;
  return m;
}

/* Skip next forward to the lowest waiting sequence number, abandoning the gap. */
static int skip_to_lowest(jitter_buf *j) {
  int found = 0;
  uint32_t best = 0;
  for (unsigned i = 0; i < JITTER_SLOTS; i++) {
    const jitter_slot *s = &j->slots[i];
    if (s->used && (!found || seqdiff(s->seq, best) < 0)) {
      best = s->seq;
      found = 1;
    }
  }
  if (found) j->next = best;
  return found;
}

/* Release the lowest waiting run into the ready list (it stays counted in bytes). */
static void release_lowest(jitter_buf *j) {
  skip_to_lowest(j);
  jitter_msg *m;
  while ((m = take_next(j)) != NULL) ready_append(j, m);
}

/* The offered message goes now, or, when released ones must go first, behind them. */
static int go_now(jitter_buf *j, const uint8_t *data, size_t len) {
  if (!j->ready) return JITTER_NOW;
  jitter_msg *m = copy_of(data, len);
  if (!m) return JITTER_NOW; /* out of order rather than lost */
  ready_append(j, m);
  j->bytes += len;
  return JITTER_HELD;
}

int jitter_offer(jitter_buf *j, uint32_t seq, const uint8_t *data, size_t len, uint64_t now) {
  int32_t d = seqdiff(seq, j->next);
  if (d < 0) return JITTER_DROP; /* late or duplicate */
  /* Too far ahead, or the byte bound is reached: release what waits, in order, so
   * memory stays bounded; the gaps below are abandoned as the references do. */
  while (j->count && (d >= JITTER_SLOTS || j->bytes + len > JITTER_MAX_BYTES)) {
    release_lowest(j);
    d = seqdiff(seq, j->next);
    if (d < 0) return JITTER_DROP;
  }
  if (d >= JITTER_SLOTS || len > JITTER_MAX_BYTES) {
    j->next = seq + 1;
    return go_now(j, data, len);
  }
  if (d == 0) {
    j->next++;
    return go_now(j, data, len);
  }
  jitter_slot *s = &j->slots[seq % JITTER_SLOTS];
  if (s->used) return JITTER_DROP; /* same seq already waiting: a duplicate */
  jitter_msg *m = copy_of(data, len);
  if (!m) return JITTER_NOW;
  s->msg = m;
  s->seq = seq;
  s->since = now;
  s->used = 1;
  j->count++;
  j->bytes += len;
  return JITTER_HELD;
}

int jitter_next(jitter_buf *j, uint64_t now, const uint8_t **data, size_t *len) {
  free(j->taken);
  j->taken = NULL;
  jitter_msg *m = j->ready;
  if (m) {
    j->ready = m->next;
    if (!j->ready) j->ready_tail = NULL;
  } else {
    m = take_next(j);
    if (!m && j->count && jitter_deadline(j) <= now && skip_to_lowest(j)) m = take_next(j);
  }
  if (!m) return 0;
  j->bytes -= m->len;
  j->taken = m;
  *data = m->data;
  *len = m->len;
  return 1;
}

uint64_t jitter_deadline(const jitter_buf *j) {
  uint64_t best = UINT64_MAX;
  if (!j->count) return best;
  for (unsigned i = 0; i < JITTER_SLOTS; i++)
    if (j->slots[i].used && j->slots[i].since + JITTER_WAIT_MS < best)
      best = j->slots[i].since + JITTER_WAIT_MS;
  return best;
}
