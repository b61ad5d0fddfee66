/* A peer's addresses: NAT rebinding followed only once authenticated DATA comes from
 * the new address (D8), and a reference restarting on a new port taken there (D35). */
#include <stdio.h>
#include <string.h>

#include "corenet.h"
#include "testutil.h"
#include "wire.h"

static void test_nat_rebinding(void **state) {
  (void)state;
  /* A's NAT mapping changes: B follows it only once authenticated DATA comes from the
   * new address (the session id in the nonce names the session; D8) */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  sw_addr old = A->addr;
  assert_int_equal(addr_parse_hostport(&A->addr, "192.0.2.77:40000"), SW_OK);
  /* heartbeats from the new address (PING, PONG) move nothing: B keeps sending to the
   * old mapping, where nobody is */
  advance(n, n->now + 3000);
  assert_true(strays_to(n, &old, WIRE_PING) >= 2);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &old));
  /* authenticated DATA from the new address: B moves there */
  assert_int_equal(sw_core_write(A->c, B->id, "moved", 5, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  assert_int_equal(info.verified, 1);
  clear_strays(n);
  assert_int_equal(sw_core_write(B->c, A->id, "follow", 6, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  advance(n, n->now + 5000);
  assert_int_equal(strays_to(n, &old, WIRE_PING), 0); /* nothing goes back to the old one */
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  net_free(n);
}

static void test_reference_restart_new_address(void **state) {
  (void)state;
  /* D35: a reference restarts with the same seed on a new port: HELLO from there, then
   * DATA with counter and sequence at 0 again; B must take it and send there */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  for (int k = 0; k < 5; k++) {
    char m[8];
    snprintf(m, sizeof m, "old %d", k);
    ref_send(n, &r, b, m, strlen(m));
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 5);
  advance(n, n->now + 20000);
  sw_addr old = r.addr;
  assert_int_equal(addr_parse_hostport(&r.addr, "10.9.9.9:10"), SW_OK);
  r.ctr = 0;
  r.seq = 0;
  clear_strays(n);
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_HELLO_ACK), 1); /* answered where it is */
  ref_send(n, &r, b, "new 0", 5);
  ref_send(n, &r, b, "new 1", 5);
  advance(n, n->now + 100);
  assert_int_equal(count_ev(B, SW_EV_DATA), 7);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 5)->data, "new 0", 5);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 6)->data, "new 1", 5);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1); /* the same peer, not a new one */
  /* the new address answers B's PING (docs/THREATS.md "Main socket") */
  assert_int_equal(ref_prove(n, &r, b), 1);
  /* B now sends to the new address, and the reference can read it */
  clear_strays(n);
  assert_int_equal(sw_core_write(B->c, r.id.id, "to new", 6, n->now), SW_OK);
  pump(n);
  int got = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    assert_false(addr_equal(&g->to, &old));
    if (g->d[0] != WIRE_DATA) continue;
    uint32_t seq;
    uint8_t m[16];
    assert_true(addr_equal(&g->to, &r.addr));
    assert_int_equal(ref_open(&r, g->d, g->len, &seq, m), 6);
    assert_memory_equal(m, "to new", 6);
    got++;
  }
  assert_int_equal(got, 1);
  ref_free(&r);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nat_rebinding),
      cmocka_unit_test(test_reference_restart_new_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
