/* The replay window over the nonce counter (D5): replay_check/replay_commit/replay_reset,
 * the window's edge, jumps ahead, counters next to 2^64, and random traffic against a
 * model. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "replay.h"
#include "setowire.h"
#include "testutil.h"

static void test_replay_basic(void **state) {
  (void)state;
  replay_window w;
  replay_reset(&w);
  /* fresh: anything goes, including 0 */
  assert_true(replay_check(&w, 0));
  assert_true(replay_check(&w, 123456));
  replay_commit(&w, 5);
  assert_false(replay_check(&w, 5)); /* duplicate */
  assert_true(replay_check(&w, 4));  /* below the top but never seen */
  assert_true(replay_check(&w, 6));
  replay_commit(&w, 4);
  assert_false(replay_check(&w, 4));
  replay_commit(&w, 7);
  assert_false(replay_check(&w, 7));
  assert_true(replay_check(&w, 6));
  assert_false(replay_check(&w, 5));
  replay_reset(&w);
  assert_true(replay_check(&w, 5));
}

static void test_replay_old_beyond_window(void **state) {
  (void)state;
  replay_window w;
  replay_reset(&w);
  replay_commit(&w, 2000);
  /* 1023 behind the top is inside the window; 1024 behind is too old */
  assert_true(replay_check(&w, 2000 - (REPLAY_BITS - 1)));
  assert_false(replay_check(&w, 2000 - REPLAY_BITS));
  assert_false(replay_check(&w, 0));
  replay_commit(&w, 2000 - (REPLAY_BITS - 1));
  assert_false(replay_check(&w, 2000 - (REPLAY_BITS - 1)));
}

static void test_replay_jump_ahead(void **state) {
  (void)state;
  replay_window w;
  replay_reset(&w);
  for (uint64_t c = 0; c <= 10; c++) replay_commit(&w, c);
  /* a jump by less than the window: the slots of the counters in between are cleared,
   * the ones still inside stay remembered */
  replay_commit(&w, 1030);
  assert_false(replay_check(&w, 1030));
  assert_false(replay_check(&w, 7));  /* 1023 behind, seen */
  assert_false(replay_check(&w, 6));  /* 1024 behind: too old */
  for (uint64_t c = 11; c < 1030; c++)
    if (!replay_check(&w, c)) fail_msg("counter %llu never seen but refused", (unsigned long long)c);
  /* a jump by more than the window forgets everything below */
  replay_commit(&w, 1030 + 5000);
  assert_false(replay_check(&w, 1030));
  assert_true(replay_check(&w, 1030 + 5000 - 1));
  assert_true(replay_check(&w, 1030 + 5000 - 1023));
  /* exactly the window size */
  replay_reset(&w);
  replay_commit(&w, 0);
  replay_commit(&w, REPLAY_BITS);
  assert_false(replay_check(&w, 0));
  assert_true(replay_check(&w, 1));
  assert_false(replay_check(&w, REPLAY_BITS));
  /* our own senders start at a random counter below 2^62 (D4) */
  replay_reset(&w);
  replay_commit(&w, (1ull << 62) - 2);
  replay_commit(&w, (1ull << 62) - 1);
  assert_false(replay_check(&w, (1ull << 62) - 2));
  assert_true(replay_check(&w, (1ull << 62) - 3));
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "replay window hung (counter loop did not terminate)\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(1);
}

static void test_replay_top_of_range(void **state) {
  (void)state;
  /* an authenticated peer chooses its counters freely (the references never check):
   * counters next to 2^64 - 1 must neither hang nor wrap the window */
  signal(SIGALRM, on_alarm);
  alarm(10);
  replay_window w;
  replay_reset(&w);
  replay_commit(&w, UINT64_MAX - 3);
  replay_commit(&w, UINT64_MAX);
  assert_false(replay_check(&w, UINT64_MAX));
  assert_false(replay_check(&w, UINT64_MAX - 3));
  assert_true(replay_check(&w, UINT64_MAX - 1));
  assert_true(replay_check(&w, UINT64_MAX - 2));
  assert_false(replay_check(&w, 0));
  replay_commit(&w, UINT64_MAX - 1);
  assert_false(replay_check(&w, UINT64_MAX - 1));
  replay_reset(&w);
  replay_commit(&w, 5);
  replay_commit(&w, UINT64_MAX);
  assert_false(replay_check(&w, 5));
  assert_true(replay_check(&w, UINT64_MAX - 10));
  alarm(0);
}

static void test_replay_random_against_model(void **state) {
  (void)state;
  /* model: the set of committed counters and the top; check must say "new" exactly
   * for counters above the top, or within 1023 of it and never committed */
  enum { SPAN = 20000 };
  uint8_t *seen = calloc(SPAN, 1);
  tu_rng g = {99};
  replay_window w;
  replay_reset(&w);
  int started = 0;
  uint64_t top = 0;
  for (int k = 0; k < 200000; k++) {
    uint64_t r = tu_rng_next(&g);
    uint64_t c;
    if (!started || r % 3 == 0)
      c = top + r % 40;                             /* mostly forward */
    else
      c = top >= 1500 ? top - (r >> 8) % 1500 : (r >> 8) % (top + 1); /* around the edge */
    if (c >= SPAN) break;
    int want = !started || c > top || (top - c < REPLAY_BITS && !seen[c]);
    if (replay_check(&w, c) != want)
      fail_msg("step %d: check(%llu) with top %llu gave %d", k, (unsigned long long)c,
               (unsigned long long)top, !want);
    if (want && (r >> 40) % 2) {
      replay_commit(&w, c);
      seen[c] = 1;
      if (!started || c > top) top = c;
      started = 1;
    }
  }
  assert_true(top > 5000);
  free(seen);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replay_basic),
      cmocka_unit_test(test_replay_old_beyond_window),
      cmocka_unit_test(test_replay_jump_ahead),
      cmocka_unit_test(test_replay_top_of_range),
      cmocka_unit_test(test_replay_random_against_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
