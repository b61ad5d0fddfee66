/* Plaintext FRAG reassembly: taken from reference peers only (D1), in any order, once;
 * hostile pieces do nothing, a set that never completes is forgotten after 10 s, and
 * one peer holds at most its share of the reassembly budget. */
#include <stdlib.h>

#include "corenet.h"
#include "testutil.h"
#include "wire.h"

static size_t frag_piece(uint8_t *out, const uint8_t id[8], uint16_t idx, uint16_t count,
                         const uint8_t *msg, size_t len) {
  size_t off = (size_t)idx * WIRE_FRAG_DATA_MAX;
  size_t l = len - off < WIRE_FRAG_DATA_MAX ? len - off : WIRE_FRAG_DATA_MAX;
  return wire_frag_encode(out, id, idx, count, msg + off, l);
}

static void test_frag_receive_rules(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  uint8_t msg[3000], f[1300];
  for (int i = 0; i < 3000; i++) msg[i] = (uint8_t)(i ^ (i >> 3));
  static const uint8_t id1[8] = {0xf0, 0x0d, 0xfe, 0xed, 0xca, 0xfe, 0, 1};
  /* from a libsetowire peer's address, plaintext FRAG is refused (D1) */
  uint64_t dropped = stats(B).rx_dropped;
  for (uint16_t k = 0; k < 3; k++) {
    size_t fl = frag_piece(f, id1, k, 3, msg, sizeof msg);
    inject(n, b, &A->addr, f, fl);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 0);
  assert_int_equal(stats(B).rx_dropped, dropped + 3);
  /* from a stranger too */
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.5.5.5:5");
  for (uint16_t k = 0; k < 3; k++) {
    size_t fl = frag_piece(f, id1, k, 3, msg, sizeof msg);
    inject(n, b, &stranger, f, fl);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 0);
  /* from a reference peer (41-byte HELLO), in any order: delivered once, whole */
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  static const uint16_t order[3] = {2, 0, 1};
  for (int k = 0; k < 3; k++) {
    size_t fl = frag_piece(f, id1, order[k], 3, msg, sizeof msg);
    inject(n, b, &r.addr, f, fl);
    if (k < 2) assert_int_equal(count_ev(B, SW_EV_DATA), 0);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(nth_ev(B, SW_EV_DATA, 0)->len, sizeof msg);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->data, msg, sizeof msg);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->peer, r.id.id, 8);
  /* hostile pieces: index >= count, count 0, a short middle piece: nothing, no crash */
  static const uint8_t id2[8] = {2, 2, 2, 2, 2, 2, 2, 2};
  uint8_t h[WIRE_FRAG_HDR + 10];
  wire_frag_encode(h, id2, 1, 1, msg, 10);
  inject(n, b, &r.addr, h, sizeof h);
  wire_frag_encode(h, id2, 0, 0, msg, 10);
  inject(n, b, &r.addr, h, sizeof h);
  wire_frag_encode(h, id2, 0, 2, msg, 10); /* not the last, but short */
  inject(n, b, &r.addr, h, sizeof h);
  wire_frag_encode(h, id2, 1, 2, msg, 10);
  inject(n, b, &r.addr, h, sizeof h);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  /* a set that never completes is forgotten after 10 s */
  static const uint8_t id3[8] = {3, 3, 3, 3, 3, 3, 3, 3};
  size_t fl = frag_piece(f, id3, 0, 3, msg + 1, 2999);
  inject(n, b, &r.addr, f, fl);
  uint64_t t0 = n->now;
  assert_true(sw_core_deadline(B->c) <= t0 + 10000);
  advance(n, t0 + 10001);
  fl = frag_piece(f, id3, 1, 3, msg + 1, 2999);
  inject(n, b, &r.addr, f, fl);
  fl = frag_piece(f, id3, 2, 3, msg + 1, 2999);
  inject(n, b, &r.addr, f, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  ref_free(&r);
  net_free(n);
}

/* Issue 11: the reassembly budget is shared fairly. One reference peer opening set after
 * set of the largest size (one piece each, 1.2 kB that reserve 1 MiB) holds at most
 * its own share: another peer's largest message still reassembles. */
static void test_frag_budget_per_peer(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  enum { COUNT = (1u << 20) / WIRE_FRAG_DATA_MAX, LEN = COUNT * WIRE_FRAG_DATA_MAX };
  uint8_t *msg = malloc(LEN), f[1300];
  assert_non_null(msg);
  for (size_t i = 0; i < LEN; i++) msg[i] = (uint8_t)(i * 7 + (i >> 9));
  ref_peer r1, r2;
  ref_init(&r1, SEED_R, "10.9.9.9:9", B);
  ref_init(&r2, SEED_R2, "10.9.9.8:8", B);
  ref_hello(n, &r1, b, WIRE_HELLO);
  ref_hello(n, &r2, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  /* r1: the first piece of eight largest sets, each a new fragment id */
  for (uint8_t k = 0; k < 8; k++) {
    uint8_t id[8] = {0xee, 0, 0, 0, 0, 0, 1, k};
    size_t fl = frag_piece(f, id, 0, COUNT, msg, LEN);
    inject(n, b, &r1.addr, f, fl);
  }
  /* r2: one whole largest message, delivered */
  static const uint8_t id2[8] = {0xdd, 0, 0, 0, 0, 0, 2, 2};
  for (uint16_t k = 0; k < COUNT; k++) {
    size_t fl = frag_piece(f, id2, k, COUNT, msg, LEN);
    inject(n, b, &r2.addr, f, fl);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(nth_ev(B, SW_EV_DATA, 0)->len, LEN);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->data, msg, LEN);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->peer, r2.id.id, 8);
  /* and r1 still completes its latest set: its share is its own to use (its last
   * piece differs, so content dedup does not take it for r2's message) */
  msg[LEN - 1] ^= 0x5a;
  static const uint8_t id1[8] = {0xee, 0, 0, 0, 0, 0, 1, 7};
  for (uint16_t k = 1; k < COUNT; k++) {
    size_t fl = frag_piece(f, id1, k, COUNT, msg, LEN);
    inject(n, b, &r1.addr, f, fl);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 1)->peer, r1.id.id, 8);
  free(msg);
  ref_free(&r1);
  ref_free(&r2);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frag_receive_rules),
      cmocka_unit_test(test_frag_budget_per_peer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
