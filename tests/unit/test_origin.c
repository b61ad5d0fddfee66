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
#include "testutil.h"
#include "wire.h"
#include "xport.h"

static const sw_core_config XCFG = {.xsession = 1};

static int peer_extended(const node *nd, const node *other) {
  sw_peer_stats st;
  return sw_core_peer_stats(nd->c, other->id, &st) == SW_OK && st.extended;
}

/* The DATA events at nd whose bytes are exactly m: their count, the last one in *last. */
static int got(const node *nd, const char *m, const ev **last) {
  int k = 0;
  for (int i = 0; i < nd->nev; i++) {
    const ev *e = &nd->evs[i];
    if (e->type == SW_EV_DATA && e->len == strlen(m) && memcmp(e->data, m, e->len) == 0) {
      k++;
      if (last) *last = e;
    }
  }
  return k;
}

/* A - B - C in a line, every hop extended; with `ring`, A - C as well. */
static net *mesh(int *a, int *b, int *c, int ring) {
  net *n = net_new();
  *a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  *b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  *c = net_add_cfg(n, NULL, "10.0.0.3:1003", &XCFG);
  connect_nodes(n, *a, *b);
  connect_nodes(n, *b, *c);
  if (ring) connect_nodes(n, *a, *c);
  advance(n, n->now + 100);
  assert_true(peer_extended(&n->nodes[*a], &n->nodes[*b]));
  assert_true(peer_extended(&n->nodes[*b], &n->nodes[*c]));
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
  assert_int_equal(got(B, "from A", &e), 1);
  assert_true(e->has_origin);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 1);
  assert_memory_equal(e->peer, A->id, 8);
  /* C heard it through B: the author is still A, the last hop B, and it says so */
  assert_int_equal(got(C, "from A", &e), 1);
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
  assert_int_equal(got(A, "from C", &e), 1);
  assert_memory_equal(e->origin, C->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 0);
  /* a unicast: from its sender, sealed by it */
  assert_int_equal(sw_core_send(C->c, B->id, "just B", 6, SW_SEND_UNICAST, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got(B, "just B", &e), 1);
  assert_true(e->has_origin);
  assert_memory_equal(e->origin, C->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 1);
  /* a datagram carries no origin (only reliable entries do): content dedup, unknown */
  assert_int_equal(sw_core_send(A->c, NULL, "dg", 2, SW_SEND_DATAGRAM, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got(C, "dg", &e), 1);
  assert_false(e->has_origin);
  /* nobody got its own message back */
  assert_int_equal(got(A, "from A", NULL) + got(C, "from C", NULL), 0);
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
  assert_int_equal(got(B, "same", NULL), 2);
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
  assert_int_equal(got(A, "same", NULL), 1);
  assert_int_equal(got(C, "same", NULL), 1);
  /* the same author sending the same bytes again is a new message: delivered again */
  assert_int_equal(sw_core_broadcast(A->c, "same", 4, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got(B, "same", NULL), 3);
  assert_int_equal(got(C, "same", NULL), 2);
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
  assert_int_equal(got(B, "ring", NULL), 1);
  assert_int_equal(got(C, "ring", NULL), 1);
  assert_int_equal(got(A, "ring", NULL), 0);
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
  assert_int_equal(got(B, "plain", &e), 1);
  assert_false(e->has_origin);
  assert_memory_equal(e->peer, r.id.id, 8);
  assert_int_equal(got(C, "plain", &e), 1);
  assert_false(e->has_origin);
  ref_free(&r);
  net_free(n);
}

/* The kind 4 entry at the delivery engine alone: sent, received whole with its header;
 * a kind 4 prefix too short for the header breaks the stream. */
static void test_xport_kind4(void **state) {
  (void)state;
  xport s, r;
  assert_int_equal(xport_init(&s, NULL, NULL, 0), SW_OK);
  assert_int_equal(xport_init(&r, NULL, NULL, 0), SW_OK);
  uint8_t hdr[XPORT_ORIGIN_HDR];
  for (int i = 0; i < XPORT_ORIGIN_HDR; i++) hdr[i] = (uint8_t)(i + 1);
  static uint8_t big[XPORT_MAX_MSG];
  assert_int_equal(xport_send_origin(&s, hdr, big, XPORT_ORIGIN_MAX_MSG + 1, 0), SW_EMSGSIZE);
  assert_int_equal(xport_send_origin(&s, NULL, "x", 1, 0), SW_EINVAL);
  assert_int_equal(xport_send_origin(&s, hdr, "hello", 5, 0), SW_OK);
  assert_int_equal(xport_send(&s, "plain", 5, XPORT_RELIABLE, 0), SW_OK);
  uint8_t pkt[XPORT_MTU_DEFAULT], out[64];
  uint64_t pn;
  size_t len = xport_build(&s, 1, pkt, sizeof pkt, &pn);
  assert_true(len > 0);
  assert_int_equal(xport_on_packet(&r, pn, pkt, len, 1), SW_OK);
  unsigned flags = 0;
  assert_int_equal(xport_recv_ex(&r, out, sizeof out, &flags), XPORT_ORIGIN_HDR + 5);
  assert_int_equal(flags, XPORT_RELIABLE | XPORT_ORIGIN);
  assert_memory_equal(out, hdr, XPORT_ORIGIN_HDR);
  assert_memory_equal(out + XPORT_ORIGIN_HDR, "hello", 5);
  assert_int_equal(xport_recv_ex(&r, out, sizeof out, &flags), 5);
  assert_int_equal(flags, XPORT_RELIABLE);
  xport_free(&s);
  xport_free(&r);
  /* a hand-made MSG frame at offset 0: prefix 4 x 2^17 + 27, then 27 bytes */
  assert_int_equal(xport_init(&r, NULL, NULL, 0), SW_OK);
  uint8_t f[64];
  size_t k = 0;
  f[k++] = XPORT_F_MSG;
  k += xport_varint_put(f + k, sizeof f - k, 0);  /* offset */
  k += xport_varint_put(f + k, sizeof f - k, 31); /* length: 4-byte prefix + 27 */
  k += xport_varint_put(f + k, sizeof f - k, XPORT_ENTRY_ORIGIN + 27);
  memset(f + k, 0xab, 27);
  k += 27;
  assert_int_equal(xport_on_packet(&r, 0, f, k, 1), SW_OK);
  assert_int_equal(xport_recv_ex(&r, out, sizeof out, &flags), SW_EINVAL);
  xport_free(&r);
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
