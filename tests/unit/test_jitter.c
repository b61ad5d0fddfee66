/* The per-session jitter buffer (PROTOCOL.md 6.1, done right: no D13 off-by-one). The
 * replay window is tested in test_replay.c. */
#include <stdlib.h>
#include <string.h>

#include "jitter.h"
#include "setowire.h"
#include "testutil.h"

/* Deliveries are recorded as the u32 each test message carries in its first 4 bytes. */
typedef struct rec {
  uint32_t got[4096];
  size_t len[4096];
  int n;
} rec;

static void on_deliver(void *ctx, const uint8_t *data, size_t len) {
  rec *r = ctx;
  assert_true(r->n < 4096);
  uint32_t v = 0xffffffffu;
  if (len >= 4) memcpy(&v, data, 4);
  r->got[r->n] = v;
  r->len[r->n] = len;
  r->n++;
}

/* The caller's side of the pull interface, as the engine's delivery does it: deliver an
 * offered message at once when told to, then take what became ready. */
static void drain(jitter_buf *j, rec *r, uint64_t now) {
  const uint8_t *d;
  size_t n;
  while (jitter_next(j, now, &d, &n)) on_deliver(r, d, n);
}

static int offer(jitter_buf *j, uint32_t seq, const uint8_t *m, size_t len, uint64_t now,
                 rec *r) {
  int rc = jitter_offer(j, seq, m, len, now);
  if (rc == JITTER_NOW) on_deliver(r, m, len);
  drain(j, r, now);
  return rc;
}

static int push(jitter_buf *j, rec *r, uint32_t seq, uint64_t now) {
  uint8_t m[8];
  memcpy(m, &seq, 4);
  memcpy(m + 4, "abcd", 4);
  offer(j, seq, m, sizeof m, now, r);
  return SW_OK;
}

static void expect(const rec *r, const uint32_t *want, int n) {
  if (r->n != n) fail_msg("delivered %d messages, expected %d", r->n, n);
  for (int i = 0; i < n; i++)
    if (r->got[i] != want[i]) fail_msg("delivery %d is seq %u, expected %u", i, r->got[i], want[i]);
}

static void test_in_order(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  for (uint32_t s = 0; s < 200; s++) {
    assert_int_equal(push(&j, &r, s, 1000), SW_OK);
    /* delivered at once, nothing waits */
    assert_int_equal(r.n, (int)s + 1);
    assert_int_equal(j.count, 0);
    assert_true(jitter_deadline(&j) == UINT64_MAX);
  }
  for (int i = 0; i < 200; i++) {
    assert_int_equal(r.got[i], (uint32_t)i);
    assert_int_equal(r.len[i], 8);
  }
  assert_int_equal(j.next, 200);
  jitter_free(&j);
}

static void test_reorder_within_window(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  push(&j, &r, 0, 100);
  push(&j, &r, 3, 101);
  push(&j, &r, 2, 102);
  push(&j, &r, 5, 103);
  expect(&r, (uint32_t[]){0}, 1);
  assert_int_equal(j.count, 3);
  assert_true(jitter_deadline(&j) == 101 + JITTER_WAIT_MS);
  /* the gap fills: 1, then the waiting 2 and 3 follow immediately */
  push(&j, &r, 1, 110);
  expect(&r, (uint32_t[]){0, 1, 2, 3}, 4);
  assert_int_equal(j.next, 4);
  assert_true(jitter_deadline(&j) == 103 + JITTER_WAIT_MS);
  push(&j, &r, 4, 111);
  expect(&r, (uint32_t[]){0, 1, 2, 3, 4, 5}, 6);
  assert_int_equal(j.count, 0);
  assert_int_equal(j.bytes, 0);
  /* a fully reversed window of 63 */
  for (uint32_t s = 6 + 62; s > 6; s--) push(&j, &r, s, 200);
  assert_int_equal(r.n, 6);
  assert_int_equal(j.count, 62);
  push(&j, &r, 6, 201);
  assert_int_equal(r.n, 6 + 63);
  for (int i = 0; i < r.n; i++) assert_int_equal(r.got[i], (uint32_t)i);
  jitter_free(&j);
}

static void test_duplicates(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  push(&j, &r, 0, 0);
  push(&j, &r, 0, 1); /* delivered already */
  push(&j, &r, 2, 2);
  push(&j, &r, 2, 3); /* waiting already */
  assert_int_equal(j.count, 1);
  assert_int_equal(j.bytes, 8);
  push(&j, &r, 1, 4);
  push(&j, &r, 1, 5);
  push(&j, &r, 2, 6);
  expect(&r, (uint32_t[]){0, 1, 2}, 3);
  jitter_free(&j);
}

static void test_gap_forced_after_50ms(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  push(&j, &r, 0, 1000);
  push(&j, &r, 2, 1010); /* 1 is missing */
  assert_true(jitter_deadline(&j) == 1060);
  drain(&j, &r, 1059);
  expect(&r, (uint32_t[]){0}, 1);
  drain(&j, &r, 1060);
  expect(&r, (uint32_t[]){0, 2}, 2);
  /* D13 not reproduced: next is seq + 1, so 3 goes out at once with no wait */
  assert_int_equal(j.next, 3);
  assert_true(jitter_deadline(&j) == UINT64_MAX);
  push(&j, &r, 3, 1061);
  expect(&r, (uint32_t[]){0, 2, 3}, 3);
  assert_int_equal(j.count, 0);
  /* the forced seq is not delivered twice, and the abandoned 1 stays abandoned */
  push(&j, &r, 2, 1062);
  push(&j, &r, 1, 1063);
  expect(&r, (uint32_t[]){0, 2, 3}, 3);
  assert_int_equal(j.count, 0);
  /* every later message is in time too */
  for (uint32_t s = 4; s < 20; s++) push(&j, &r, s, 1064);
  assert_int_equal(r.n, 19);
  assert_true(jitter_deadline(&j) == UINT64_MAX);
  jitter_free(&j);
}

static void test_gap_forced_runs(void **state) {
  (void)state;
  /* each waiting entry has its own 50 ms: 2 and 3 (from t=0) go at 50, then 4 is
   * missing and 5 (from t=20) goes at 70 */
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  push(&j, &r, 0, 0);
  push(&j, &r, 3, 0);
  push(&j, &r, 2, 0);
  push(&j, &r, 5, 20);
  drain(&j, &r, 50);
  expect(&r, (uint32_t[]){0, 2, 3}, 3);
  assert_int_equal(j.next, 4);
  assert_true(jitter_deadline(&j) == 70);
  drain(&j, &r, 69);
  assert_int_equal(r.n, 3);
  /* a late 4 before the deadline still makes it, and releases 5 with it */
  push(&j, &r, 4, 69);
  expect(&r, (uint32_t[]){0, 2, 3, 4, 5}, 5);
  assert_true(jitter_deadline(&j) == UINT64_MAX);
  /* a long silence with several gaps: one expire call releases all, in order */
  push(&j, &r, 8, 100);
  push(&j, &r, 7, 100);
  push(&j, &r, 11, 101);
  push(&j, &r, 13, 102);
  drain(&j, &r, 10000);
  expect(&r, (uint32_t[]){0, 2, 3, 4, 5, 7, 8, 11, 13}, 9);
  assert_int_equal(j.next, 14);
  assert_int_equal(j.count, 0);
  jitter_free(&j);
}

static void test_far_ahead(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  push(&j, &r, 0, 0);
  push(&j, &r, 2, 0);
  push(&j, &r, 3, 0);
  /* beyond the window: what waits goes first, in order, then the far message */
  push(&j, &r, 1000, 1);
  expect(&r, (uint32_t[]){0, 2, 3, 1000}, 4);
  assert_int_equal(j.next, 1001);
  assert_int_equal(j.count, 0);
  /* the last seq inside the window waits; the first outside does not */
  push(&j, &r, 1001 + JITTER_SLOTS - 1, 2);
  assert_int_equal(r.n, 4);
  assert_int_equal(j.count, 1);
  push(&j, &r, 1001 + JITTER_SLOTS, 3);
  expect(&r, (uint32_t[]){0, 2, 3, 1000, 1001 + JITTER_SLOTS - 1, 1001 + JITTER_SLOTS}, 6);
  assert_int_equal(j.next, 1002 + JITTER_SLOTS);
  /* a huge jump forward (remote counter far ahead), then old ones are late */
  push(&j, &r, 0x7fffffffu, 4);
  assert_int_equal(r.n, 7);
  push(&j, &r, 5000, 5);
  assert_int_equal(r.n, 7);
  jitter_free(&j);
}

static void test_byte_bound(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  const size_t big = 60 * 1024;
  uint8_t *m = calloc(1, JITTER_MAX_BYTES + 16);
  uint32_t s = 0;
  memcpy(m, &s, 4);
  offer(&j, 0, m, 8, 0, &r);
  /* 2..5 wait: 240 KiB */
  for (s = 2; s <= 5; s++) {
    memcpy(m, &s, 4);
    offer(&j, s, m, big, 0, &r);
  }
  assert_int_equal(j.count, 4);
  assert_int_equal(j.bytes, 4 * big);
  assert_int_equal(r.n, 1);
  /* 7 would take it past 256 KiB: the waiting ones are released first */
  s = 7;
  memcpy(m, &s, 4);
  offer(&j, 7, m, big, 0, &r);
  assert_true(j.bytes <= JITTER_MAX_BYTES);
  expect(&r, (uint32_t[]){0, 2, 3, 4, 5}, 5);
  assert_int_equal(j.count, 1);
  assert_int_equal(j.next, 6);
  s = 6;
  memcpy(m, &s, 4);
  offer(&j, 6, m, 8, 1, &r);
  expect(&r, (uint32_t[]){0, 2, 3, 4, 5, 6, 7}, 7);
  assert_int_equal(r.len[6], big);
  /* a single message larger than the bound never waits */
  s = 9;
  memcpy(m, &s, 4);
  offer(&j, 9, m, JITTER_MAX_BYTES + 1, 2, &r);
  expect(&r, (uint32_t[]){0, 2, 3, 4, 5, 6, 7, 9}, 8);
  assert_int_equal(r.len[7], JITTER_MAX_BYTES + 1);
  assert_int_equal(j.bytes, 0);
  /* many small waiting messages stay within the bound */
  for (s = 11; s < 11 + JITTER_SLOTS - 2; s++) {
    memcpy(m, &s, 4);
    offer(&j, s, m, 4096, 3, &r);
    assert_true(j.bytes <= JITTER_MAX_BYTES);
    assert_true(j.count < JITTER_SLOTS);
  }
  jitter_free(&j);
  assert_int_equal(j.count, 0);
  assert_int_equal(j.bytes, 0);
  free(m);
}

static void test_seq_wrap(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0xfffffffeu);
  push(&j, &r, 0xfffffffeu, 0);
  push(&j, &r, 0xffffffffu, 0);
  push(&j, &r, 0, 0);
  push(&j, &r, 1, 0);
  expect(&r, (uint32_t[]){0xfffffffeu, 0xffffffffu, 0, 1}, 4);
  assert_int_equal(j.next, 2);
  /* across the wrap, late is still late */
  push(&j, &r, 0xffffffffu, 1);
  push(&j, &r, 0xfffffff0u, 1);
  assert_int_equal(r.n, 4);
  /* reordering across the wrap */
  jitter_reset(&j, 0xfffffffdu);
  r.n = 0;
  push(&j, &r, 1, 10);
  push(&j, &r, 0xffffffffu, 10);
  push(&j, &r, 0xfffffffeu, 10);
  assert_int_equal(r.n, 0);
  push(&j, &r, 0xfffffffdu, 11);
  expect(&r, (uint32_t[]){0xfffffffdu, 0xfffffffeu, 0xffffffffu}, 3);
  push(&j, &r, 0, 12);
  expect(&r, (uint32_t[]){0xfffffffdu, 0xfffffffeu, 0xffffffffu, 0, 1}, 5);
  /* a forced gap across the wrap */
  jitter_reset(&j, 0xffffffffu);
  r.n = 0;
  push(&j, &r, 1, 100);
  drain(&j, &r, 150);
  expect(&r, (uint32_t[]){1}, 1);
  assert_int_equal(j.next, 2);
  push(&j, &r, 2, 151);
  expect(&r, (uint32_t[]){1, 2}, 2);
  jitter_free(&j);
}

static void test_reset_drops_waiting(void **state) {
  (void)state;
  jitter_buf j;
  rec r = {0};
  jitter_init(&j, 0);
  push(&j, &r, 5, 0);
  push(&j, &r, 6, 0);
  assert_int_equal(j.count, 2);
  /* a remote restart: everything waiting is forgotten, counting starts again */
  jitter_reset(&j, 0);
  assert_int_equal(j.count, 0);
  assert_int_equal(j.bytes, 0);
  assert_true(jitter_deadline(&j) == UINT64_MAX);
  drain(&j, &r, 100000);
  assert_int_equal(r.n, 0);
  push(&j, &r, 0, 1);
  push(&j, &r, 1, 1);
  expect(&r, (uint32_t[]){0, 1}, 2);
  jitter_free(&j);
}

static void test_zero_length_and_copy(void **state) {
  (void)state;
  /* out-of-order data is copied: the caller's buffer may change after the push */
  jitter_buf j;
  rec r = {0};
  uint8_t m[8] = {2, 0, 0, 0, 'x', 'y', 'z', 'w'};
  jitter_init(&j, 0);
  offer(&j, 2, m, sizeof m, 0, &r);
  memset(m, 0, sizeof m);
  offer(&j, 1, m, 0, 0, &r); /* an empty message, out of order */
  assert_int_equal(r.n, 0);
  offer(&j, 0, m, 0, 0, &r);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.len[0], 0);
  assert_int_equal(r.len[1], 0);
  assert_int_equal(r.got[2], 2);
  assert_int_equal(r.len[2], 8);
  jitter_free(&j);
}

/* Random traffic: delivered seqs strictly increase, none twice, everything that was
 * pushed at or above `next` comes out once time has passed, and the bounds hold. */
static void test_random_against_invariants(void **state) {
  (void)state;
  tu_rng g = {7};
  for (int round = 0; round < 20; round++) {
    jitter_buf j;
    rec r = {0};
    uint32_t base = (uint32_t)tu_rng_next(&g);
    uint8_t pushed_ok[600] = {0}, delivered[600] = {0};
    jitter_init(&j, base);
    uint64_t now = 0;
    for (int k = 0; k < 1500 && r.n < 4000; k++) {
      now += tu_rng_next(&g) % 7;
      uint32_t off = (uint32_t)(tu_rng_next(&g) % 600);
      if (tu_rng_next(&g) % 4 == 0) off = (uint32_t)(j.next - base) + (uint32_t)(tu_rng_next(&g) % 3);
      if (off >= 600) continue;
      uint32_t seq = base + off;
      int fresh = (int32_t)(seq - j.next) >= 0;
      int before = r.n;
      push(&j, &r, seq, now);
      if (fresh) pushed_ok[off] = 1;
      for (int d = before; d < r.n; d++) {
        uint32_t o = r.got[d] - base;
        assert_true(o < 600);
        assert_false(delivered[o]);
        delivered[o] = 1;
        if (d > 0) assert_true((int32_t)(r.got[d] - r.got[d - 1]) > 0);
      }
      assert_true(j.count < JITTER_SLOTS);
      assert_true(j.bytes <= JITTER_MAX_BYTES);
      if (tu_rng_next(&g) % 10 == 0) {
        before = r.n;
        drain(&j, &r, now);
        for (int d = before; d < r.n; d++) {
          uint32_t o = r.got[d] - base;
          assert_false(delivered[o]);
          delivered[o] = 1;
          if (d > 0) assert_true((int32_t)(r.got[d] - r.got[d - 1]) > 0);
        }
      }
    }
    int before = r.n;
    drain(&j, &r, now + 1000);
    for (int d = before; d < r.n; d++) {
      uint32_t o = r.got[d] - base;
      assert_false(delivered[o]);
      delivered[o] = 1;
    }
    assert_int_equal(j.count, 0);
    for (int o = 0; o < 600; o++)
      if (pushed_ok[o] && !delivered[o]) {
        /* a fresh push may only be lost by arriving while a gap before it was being
         * waited on and then becoming late: never, since fresh means >= next */
        fail_msg("round %d: seq +%d was pushed fresh but never delivered", round, o);
      }
    jitter_free(&j);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order),
      cmocka_unit_test(test_reorder_within_window),
      cmocka_unit_test(test_duplicates),
      cmocka_unit_test(test_gap_forced_after_50ms),
      cmocka_unit_test(test_gap_forced_runs),
      cmocka_unit_test(test_far_ahead),
      cmocka_unit_test(test_byte_bound),
      cmocka_unit_test(test_seq_wrap),
      cmocka_unit_test(test_reset_drops_waiting),
      cmocka_unit_test(test_zero_length_and_copy),
      cmocka_unit_test(test_random_against_invariants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
