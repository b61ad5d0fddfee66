/* The replay window of one remote session (PROTOCOL.md 5.2, D5, D12): a sliding bitmap
 * over the 64-bit nonce counter. It lives as long as the remote session does: a remote
 * restart resets it (session.c decides when one is believed). */
#ifndef SW_CORE_REPLAY_H
#define SW_CORE_REPLAY_H

#include <stdint.h>

#define REPLAY_BITS 1024 /* ours: counters remembered below the highest one */

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
