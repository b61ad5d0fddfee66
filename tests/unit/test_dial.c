/* Dialling: with the peer's full id (a wrong one refuses the answer), and the dials
 * the API refuses (our own id, bad addresses). */
#include <string.h>

#include "corenet.h"
#include "testutil.h"

static void test_dial_with_full_id(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2"), c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  /* the right full id: connects */
  assert_int_equal(sw_core_dial(A->c, &B->addr, B->id, n->now), SW_OK);
  advance(n, n->now + 100);
  assert_true(has_peer(A, B));
  /* a wrong full id for C's address: C's answer does not hash to it, so A refuses it */
  assert_int_equal(sw_core_dial(A->c, &C->addr, B->id, n->now), SW_OK); /* B known: no-op */
  uint8_t wrong[20];
  memcpy(wrong, C->id, 20);
  wrong[19] ^= 1; /* same wire id, different full id */
  assert_int_equal(sw_core_dial(A->c, &C->addr, wrong, n->now), SW_OK);
  advance(n, n->now + 6000);
  assert_false(has_peer(A, C));
  assert_int_equal(sw_core_peer_count(A->c), 1);
  /* our own id, a bad address: refused at the API */
  assert_int_equal(sw_core_dial(A->c, &C->addr, A->id, n->now), SW_EINVAL);
  sw_addr bad;
  memset(&bad, 0, sizeof bad);
  assert_int_equal(sw_core_dial(A->c, &bad, NULL, n->now), SW_EINVAL);
  assert_int_equal(addr_parse_hostport(&bad, "10.0.0.9:0"), SW_OK);
  assert_int_equal(sw_core_dial(A->c, &bad, NULL, n->now), SW_EINVAL);
  assert_int_equal(sw_core_dial(A->c, NULL, NULL, n->now), SW_EINVAL);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dial_with_full_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
