#include "jitter.h"

#include <stdlib.h>
#include <string.h>

#include "setowire.h"

static int32_t seqdiff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

void jitter_init(jitter_buf *j, uint32_t next) {
  memset(j, 0, sizeof *j);
  j->next = next;
}

static void slot_clear(jitter_buf *j, jitter_slot *s) {
  free(s->data);
  j->bytes -= s->len;
  j->count--;
  memset(s, 0, sizeof *s);
}

void jitter_free(jitter_buf *j) {
  for (unsigned i = 0; i < JITTER_SLOTS; i++)
    if (j->slots[i].used) slot_clear(j, &j->slots[i]);
}

void jitter_reset(jitter_buf *j, uint32_t next) {
  jitter_free(j);
  j->next = next;
}

/* Deliver next and every consecutive buffered successor. */
static void flush(jitter_buf *j, jitter_deliver_fn deliver, void *ctx) {
  for (;;) {
    jitter_slot *s = &j->slots[j->next % JITTER_SLOTS];
    if (!s->used || s->seq != j->next) return;
    uint8_t *data = s->data;
    uint32_t len = s->len;
    s->data = NULL;
    slot_clear(j, s);
    j->next++;
    deliver(ctx, data, len);
    free(data);
  }
}

/* Skip next forward to the lowest buffered sequence number, abandoning the gap. */
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

int jitter_push(jitter_buf *j, uint32_t seq, const uint8_t *data, size_t len, uint64_t now,
                jitter_deliver_fn deliver, void *ctx) {
  int32_t d = seqdiff(seq, j->next);
  if (d < 0) return SW_OK; /* late or duplicate */
  if (d == 0) {
    j->next++;
    deliver(ctx, data, len);
    flush(j, deliver, ctx);
    return SW_OK;
  }
  /* Too far ahead, or the byte bound is reached: release what waits, in order, so
   * memory stays bounded; the gaps below are abandoned as the references do. */
  while (j->count && (d >= JITTER_SLOTS || j->bytes + len > JITTER_MAX_BYTES)) {
    skip_to_lowest(j);
    flush(j, deliver, ctx);
    d = seqdiff(seq, j->next);
    if (d < 0) return SW_OK;
  }
  if (d >= JITTER_SLOTS || len > JITTER_MAX_BYTES) {
    j->next = seq + 1;
    deliver(ctx, data, len);
    return SW_OK;
  }
  if (d == 0) {
    j->next++;
    deliver(ctx, data, len);
    flush(j, deliver, ctx);
    return SW_OK;
  }
  jitter_slot *s = &j->slots[seq % JITTER_SLOTS];
  if (s->used) return SW_OK; /* same seq already waiting: a duplicate */
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    deliver(ctx, data, len);
    return SW_ENOMEM;
  }
  memcpy(copy, data, len);
  s->data = copy;
  s->seq = seq;
  s->len = (uint32_t)len;
  s->since = now;
  s->used = 1;
  j->count++;
  j->bytes += len;
  return SW_OK;
}

uint64_t jitter_deadline(const jitter_buf *j) {
  uint64_t best = UINT64_MAX;
  if (!j->count) return best;
  for (unsigned i = 0; i < JITTER_SLOTS; i++)
    if (j->slots[i].used && j->slots[i].since + JITTER_WAIT_MS < best)
      best = j->slots[i].since + JITTER_WAIT_MS;
  return best;
}

void jitter_expire(jitter_buf *j, uint64_t now, jitter_deliver_fn deliver, void *ctx) {
  while (j->count && jitter_deadline(j) <= now) {
    skip_to_lowest(j);
    flush(j, deliver, ctx);
  }
}

void replay_reset(replay_window *r) { memset(r, 0, sizeof *r); }

int replay_check(const replay_window *r, uint64_t ctr) {
  if (!r->started || ctr > r->top) return 1;
  uint64_t back = r->top - ctr;
  if (back >= REPLAY_BITS) return 0;
  return !(r->bits[(ctr % REPLAY_BITS) / 64] >> (ctr % 64) & 1);
}

void replay_commit(replay_window *r, uint64_t ctr) {
  if (!r->started) {
    r->started = 1;
    r->top = ctr;
    memset(r->bits, 0, sizeof r->bits);
  } else if (ctr > r->top) {
    uint64_t shift = ctr - r->top;
    if (shift >= REPLAY_BITS) {
      memset(r->bits, 0, sizeof r->bits);
    } else {
      /* count the steps: "c <= ctr" never fails when ctr is UINT64_MAX */
      for (uint64_t i = 1, c; i <= shift; i++) {
        c = r->top + i;
        r->bits[(c % REPLAY_BITS) / 64] &= ~(1ull << (c % 64));
      }
    }
    r->top = ctr;
  }
  r->bits[(ctr % REPLAY_BITS) / 64] |= 1ull << (ctr % 64);
}
