/* The main socket's guard drops what waits for an unvalidated address GUARD_HELD_MS
 * after it was held (guard.h). The heartbeat's expiry skips its scan of every slot while
 * nothing can be due (guard_table.held_min/held_max): that shortcut must neither keep a
 * datagram past its time nor drop one early, for each address on its own clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "engine.h"
#include "guard.h"
#include "outq.h"
#include "wire.h"

/* Twenty bytes to `to` after ten came from it: the first datagram fits the 3x budget,
 * the second waits. */
static void hold_one(sw_core *c, const char *to, uint64_t now) {
  sw_addr a;
  uint8_t d[20];
  assert_int_equal(addr_parse_hostport(&a, to), 0);
  memset(d, 0, sizeof d);
  d[0] = WIRE_DATA;
  c->last_now = now;
  guard_recv(c, &a, 10, now);
  assert_int_equal(guard_send(c, OUTQ_SOCK(SW_SOCK_MAIN, 0), &a, d, sizeof d, 0), SW_OK);
  assert_int_equal(guard_send(c, OUTQ_SOCK(SW_SOCK_MAIN, 0), &a, d, sizeof d, 0), SW_OK);
}

static void fixed_random(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 7 + 1);
}

static void test_held_expire_on_time(void **state) {
  (void)state;
  sw_core *c;
  sw_core_config cfg = {.seed_hex = "42", .random = fixed_random};
  const uint64_t t0 = 1000000, t1 = t0 + 4000;
  assert_int_equal(sw_core_new(&c, &cfg, t0), SW_OK);
  hold_one(c, "192.0.2.7:7", t0);
  assert_int_equal(c->guard.nheld, 1);
  hold_one(c, "192.0.2.8:8", t1);
  assert_int_equal(c->guard.nheld, 2);
  for (int pass = 0; pass < 2; pass++) { /* the second pass: held again after empty */
    uint64_t a = t0 + (uint64_t)pass * 100000, b = t1 + (uint64_t)pass * 100000;
    guard_expire(c, b); /* virtual time does not go back: from the second hold on */
    guard_expire(c, a + GUARD_HELD_MS - 1);
    assert_int_equal(c->guard.nheld, 2);
    guard_expire(c, a + GUARD_HELD_MS); /* the first address's, not the second's */
    assert_int_equal(c->guard.nheld, 1);
    guard_expire(c, b + GUARD_HELD_MS - 1);
    assert_int_equal(c->guard.nheld, 1);
    guard_expire(c, b + GUARD_HELD_MS);
    assert_int_equal(c->guard.nheld, 0);
    assert_int_equal(c->guard.held_bytes, 0);
    if (pass == 0) { /* fresh addresses: the first two spent their budget */
      hold_one(c, "192.0.2.9:9", a + 100000);
      hold_one(c, "192.0.2.10:10", b + 100000);
      assert_int_equal(c->guard.nheld, 2);
    }
  }
  sw_core_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_held_expire_on_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
