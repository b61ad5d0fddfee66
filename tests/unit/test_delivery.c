/* Delivery: a message relayed along a chain by flooding with no loop back, a flood
 * going to the mesh members only (PROTOCOL.md 13.1), flooding to and from a reference
 * peer, and the short DATA path (an inner plaintext under 4 bytes delivered whole). */
#include <stdio.h>
#include <string.h>

#include "corenet.h"
#include "corenet_ref.h"
#include "crypto.h"
#include "testutil.h"
#include "wire.h"

static void test_multi_hop_chain(void **state) {
  (void)state;
  /* A - B - C, no A - C: C hears A's message through B */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2"), c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  connect_nodes(n, a, b);
  connect_nodes(n, b, c);
  assert_int_equal(sw_core_write(A->c, B->id, "hop", 3, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(C, SW_EV_DATA), 1);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->peer, B->id, 8);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->data, "hop", 3);
  /* C floods back to nobody but B, which has seen it: no loop, A never gets it */
  advance(n, n->now + 500);
  assert_int_equal(count_ev(A, SW_EV_DATA), 0);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  net_free(n);
}

static void test_short_data_path(void **state) {
  (void)state;
  /* PROTOCOL.md 5.2 step 8: an inner plaintext under 4 bytes has no sequence number
   * and is delivered whole */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  uint8_t f[64];
  for (size_t len = 0; len < 4; len++) {
    static const uint8_t inner[3] = {0xaa, 0xbb, 0xcc};
    wire_data_header(f, r.session_id, r.ctr++);
    assert_int_equal(crypto_aead_seal(r.tx, f + 1, inner, len, NULL, 0, f + WIRE_DATA_HDR), 0);
    inject(n, b, &r.addr, f, WIRE_DATA_HDR + len + CRYPTO_TAG_LEN);
  }
  /* 0..3 bytes: 0, 1, 2 and 3 bytes delivered as they are; 4 bytes would be a seq */
  assert_int_equal(count_ev(B, SW_EV_DATA), 4);
  for (int k = 0; k < 4; k++) {
    assert_int_equal(nth_ev(B, SW_EV_DATA, k)->len, (size_t)k);
    if (k) assert_memory_equal(nth_ev(B, SW_EV_DATA, k)->data, "\xaa\xbb\xcc", (size_t)k);
  }
  /* shorter than header + tag: dropped before decryption */
  inject(n, b, &r.addr, f, WIRE_DATA_MIN - 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 4);
  ref_free(&r);
  net_free(n);
}

static void test_flood_only_to_mesh(void **state) {
  (void)state;
  /* a hub with 8 peers chooses 6 for its mesh (PROTOCOL.md 13.1, D = 6); each leaf chose
   * the hub and told it (GRAFT, 21.2), so the hub's mesh holds all 8; a message is
   * flooded to every mesh member but the last hop */
  net *n = net_new();
  int hub = net_add(n, "10.0.0.1:1");
  int leaf[8];
  for (int k = 0; k < 8; k++) {
    char a[32];
    snprintf(a, sizeof a, "10.0.1.%d:%d", k + 1, 100 + k);
    leaf[k] = net_add(n, a);
    connect_nodes(n, leaf[k], hub);
  }
  node *H = &n->nodes[hub];
  sw_core_peer_info info[10];
  assert_int_equal(sw_core_peers(H->c, info, 10), 8);
  int in_mesh = 0;
  for (int k = 0; k < 8; k++) in_mesh += info[k].in_mesh;
  assert_int_equal(in_mesh, 8);
  assert_int_equal(sw_core_write(n->nodes[leaf[3]].c, H->id, "spread", 6, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(H, SW_EV_DATA), 1);
  int got = 0;
  for (int j = 0; j < 8; j++) {
    int c = count_ev(&n->nodes[leaf[j]], SW_EV_DATA);
    assert_int_equal(c, j == 3 ? 0 : 1);
    got += c;
  }
  assert_int_equal(got, 7);
  net_free(n);
}

/* Without GRAFT (a leaf that speaks the reference protocol cannot send one) the hub's
 * mesh is its own choice: D = 6 of 8, and a flood reaches only those. */
static void test_flood_mesh_without_graft(void **state) {
  (void)state;
  net *n = net_new();
  int hub = net_add(n, "10.0.0.1:1");
  node *H = &n->nodes[hub];
  ref_peer r[8];
  for (int k = 0; k < 8; k++) {
    char a[32], seed[8];
    snprintf(a, sizeof a, "10.0.1.%d:%d", k + 1, 100 + k);
    snprintf(seed, sizeof seed, "e%d", k);
    ref_connect(n, &r[k], seed, a, hub);
  }
  sw_core_peer_info info[10];
  assert_int_equal(sw_core_peers(H->c, info, 10), 8);
  int in_mesh = 0;
  for (int k = 0; k < 8; k++) in_mesh += info[k].in_mesh;
  assert_int_equal(in_mesh, 6);
  for (int k = 0; k < 8; k++) ref_free(&r[k]);
  net_free(n);
}

static void test_flood_to_reference_peer(void **state) {
  (void)state;
  /* a reference peer in the mesh receives the flood as DATA it can read, its sequence
   * starting at 0 */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.9.9.9:9", b);
  clear_strays(n);
  assert_int_equal(sw_core_write(A->c, B->id, "for all", 7, n->now), SW_OK);
  pump(n);
  int got = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    if (!addr_equal(&g->to, &r.addr) || g->d[0] != WIRE_DATA) continue;
    uint32_t seq;
    uint8_t m[16];
    assert_int_equal(ref_open(&r, g->d, g->len, &seq, m), 7);
    assert_int_equal(seq, 0);
    assert_memory_equal(m, "for all", 7);
    got++;
  }
  assert_int_equal(got, 1);
  /* and what the reference sends is flooded to A */
  ref_send(n, &r, b, "from ref", 8);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  assert_memory_equal(nth_ev(A, SW_EV_DATA, 0)->data, "from ref", 8);
  assert_memory_equal(nth_ev(A, SW_EV_DATA, 0)->peer, B->id, 8);
  ref_free(&r);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_multi_hop_chain),
      cmocka_unit_test(test_short_data_path),
      cmocka_unit_test(test_flood_only_to_mesh),
      cmocka_unit_test(test_flood_mesh_without_graft),
      cmocka_unit_test(test_flood_to_reference_peer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
