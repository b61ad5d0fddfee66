/* The origin of a message between our peers (issue 12 item 3), through the engine
 * (corenet): a mesh message over extended sessions travels as a stream entry of kind 4
 * with its author's id and a message id; SW_EV_DATA reports the author, and whether the
 * author's own session sealed it; delivery is once per (author, message id), so two
 * authors' identical messages are both delivered while one message met on two paths is
 * delivered once; reference traffic keeps the content dedup and reports no origin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corenet.h"
#include "corenet_line.h"
#include "testutil.h"
#include "wire.h"
#include "xport.h"
#include "xport_entry.h"

static const sw_core_config XCFG = {.xsession = 1};

/* A - B - C in a line, every hop extended; with `ring`, A - C as well. */
static net *mesh(int *a, int *b, int *c, int ring) {
  net *n = line_new(&XCFG, NULL, NULL, a, b, c);
  if (ring) connect_nodes(n, *a, *c);
  line_ready(n, *a, *b, *c);
  if (ring) assert_true(peer_extended(&n->nodes[*a], &n->nodes[*c]));
  return n;
}

static void test_origin_reported(void **state) {
  (void)state;
  int a, b, c;
  net *n = mesh(&a, &b, &c, 0);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  const ev *e;
  assert_int_equal(sw_core_broadcast(A->c, "from A", 6, n->now), 1);
  assert_int_equal(sw_core_write(C->c, B->id, "from C", 6, n->now), SW_OK);
  advance(n, n->now + 500);
  /* B heard A itself: the origin's own session sealed it */
  assert_int_equal(got_data(B, "from A", &e), 1);
  assert_true(e->has_origin);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 1);
  assert_memory_equal(e->peer, A->id, 8);
  /* C heard it through B: the author is still A, the last hop B, and it says so */
  assert_int_equal(got_data(C, "from A", &e), 1);
  assert_true(e->has_origin);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 0);
  assert_memory_equal(e->peer, B->id, 8);
  /* B counted the flood to C as a message sent to C */
  sw_peer_stats st;
  assert_int_equal(sw_core_peer_stats(B->c, C->id, &st), SW_OK);
  assert_int_equal(st.msgs_sent, 1);
  assert_int_equal(st.bytes_sent, 6);
  /* a write to one peer is a mesh message too (flooded on), with its origin */
  assert_int_equal(got_data(A, "from C", &e), 1);
  assert_memory_equal(e->origin, C->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 0);
  /* a unicast: from its sender, sealed by it */
  assert_int_equal(sw_core_send(C->c, B->id, "just B", 6, SW_SEND_UNICAST, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(B, "just B", &e), 1);
  assert_true(e->has_origin);
  assert_memory_equal(e->origin, C->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 1);
  /* a datagram carries no origin (only reliable entries do): content dedup, unknown */
  assert_int_equal(sw_core_send(A->c, NULL, "dg", 2, SW_SEND_DATAGRAM, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(C, "dg", &e), 1);
  assert_false(e->has_origin);
  /* nobody got its own message back */
  assert_int_equal(got_data(A, "from A", NULL) + got_data(C, "from C", NULL), 0);
  net_free(n);
}

static void test_two_authors_same_bytes(void **state) {
  (void)state;
  int a, b, c;
  net *n = mesh(&a, &b, &c, 0);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  assert_int_equal(sw_core_broadcast(A->c, "same", 4, n->now), 1);
  assert_int_equal(sw_core_broadcast(C->c, "same", 4, n->now), 1);
  advance(n, n->now + 500);
  /* B delivers both, one from each author */
  assert_int_equal(got_data(B, "same", NULL), 2);
  int fromA = 0, fromC = 0;
  for (int i = 0; i < B->nev; i++) {
    const ev *e = &B->evs[i];
    if (e->type != SW_EV_DATA) continue;
    fromA += e->has_origin && memcmp(e->origin, A->id, SW_ID_LEN) == 0;
    fromC += e->has_origin && memcmp(e->origin, C->id, SW_ID_LEN) == 0;
  }
  assert_int_equal(fromA, 1);
  assert_int_equal(fromC, 1);
  /* and each end gets the other's through B, not its own */
  assert_int_equal(got_data(A, "same", NULL), 1);
  assert_int_equal(got_data(C, "same", NULL), 1);
  /* the same author sending the same bytes again is a new message: delivered again */
  assert_int_equal(sw_core_broadcast(A->c, "same", 4, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(B, "same", NULL), 3);
  assert_int_equal(got_data(C, "same", NULL), 2);
  net_free(n);
}

static void test_two_paths_once(void **state) {
  (void)state;
  int a, b, c;
  net *n = mesh(&a, &b, &c, 1);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  uint64_t dup0 = stats(B).duplicates + stats(C).duplicates + stats(A).duplicates;
  assert_int_equal(sw_core_broadcast(A->c, "ring", 4, n->now), 2);
  advance(n, n->now + 500);
  /* B hears it from A and from C (which floods it on), and so does C from A and B */
  assert_int_equal(got_data(B, "ring", NULL), 1);
  assert_int_equal(got_data(C, "ring", NULL), 1);
  assert_int_equal(got_data(A, "ring", NULL), 0);
  uint64_t dup1 = stats(B).duplicates + stats(C).duplicates + stats(A).duplicates;
  assert_true(dup1 >= dup0 + 2);
  net_free(n);
}

/* A reference peer R next to B: its messages come plain, with no origin, and keep the
 * content dedup at B and, flooded on over the extended session, at C. */
static void test_reference_traffic(void **state) {
  (void)state;
  int a, b, c;
  net *n = mesh(&a, &b, &c, 0);
  node *B = &n->nodes[b], *C = &n->nodes[c];
  (void)a;
  ref_peer r;
  ref_init(&r, SEED_R, "10.0.0.9:1009", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  advance(n, n->now + 100);
  const ev *e;
  ref_send(n, &r, b, "plain", 5);
  ref_send(n, &r, b, "plain", 5); /* the same bytes again: content dedup */
  advance(n, n->now + 500);
  assert_int_equal(got_data(B, "plain", &e), 1);
  assert_false(e->has_origin);
  assert_memory_equal(e->peer, r.id.id, 8);
  assert_int_equal(got_data(C, "plain", &e), 1);
  assert_false(e->has_origin);
  ref_free(&r);
  net_free(n);
}

/* The kind 4 entry at the delivery engine alone: sent, received whole with its header;
 * a kind 4 prefix too short for the header breaks the stream. */
static void test_xport_kind4(void **state) {
  (void)state;
  check_header_entry(xport_send_origin, XPORT_ORIGIN_HDR, XPORT_ORIGIN_MAX_MSG, XPORT_ORIGIN,
                     XPORT_ENTRY_ORIGIN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_origin_reported),
      cmocka_unit_test(test_two_authors_same_bytes),
      cmocka_unit_test(test_two_paths_once),
      cmocka_unit_test(test_reference_traffic),
      cmocka_unit_test(test_xport_kind4),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
