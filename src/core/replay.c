/* The replay window: see replay.h. */
#include "replay.h"

#include <string.h>

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
