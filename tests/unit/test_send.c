/* The send path: write and broadcast (and the errors they return), many writes
 * coalesced into BATCH datagrams in order, message size limits, back-pressure on the send
 * ring (EAGAIN, then WRITABLE, nothing lost), BATCH nesting on receipt (D18), and
 * legacy plaintext FRAG sending to reference peers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corenet.h"
#include "testutil.h"
#include "wire.h"

static void test_write_broadcast_flood(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2"), c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  connect_nodes(n, a, b);
  connect_nodes(n, a, c);
  connect_nodes(n, b, c);
  assert_int_equal(sw_core_peer_count(A->c), 2);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  /* a broadcast reaches each peer once; the floods between B and C are deduplicated
   * and nothing comes back to A */
  assert_int_equal(sw_core_broadcast(A->c, "to all", 6, n->now), 2);
  pump(n);
  advance(n, n->now + 200);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(count_ev(C, SW_EV_DATA), 1);
  assert_int_equal(count_ev(A, SW_EV_DATA), 0);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->peer, A->id, 8);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->data, "to all", 6);
  assert_true(stats(B).duplicates + stats(C).duplicates >= 1);
  /* write to one peer: it is delivered there, and flooded on to the others (6.3) */
  assert_int_equal(sw_core_write(A->c, B->id, "unicast?", 8, n->now), SW_OK);
  pump(n);
  advance(n, n->now + 200);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_int_equal(count_ev(C, SW_EV_DATA), 2);
  /* C got it from B, the last hop; C's own flood back to A is A's own message */
  const ev *e = nth_ev(C, SW_EV_DATA, 1);
  assert_memory_equal(e->data, "unicast?", 8);
  assert_memory_equal(e->peer, B->id, 8);
  assert_int_equal(count_ev(A, SW_EV_DATA), 0);
  /* unknown peer */
  uint8_t nobody[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  assert_int_equal(sw_core_write(A->c, nobody, "x", 1, n->now), SW_ENOTCONN);
  assert_int_equal(sw_core_write(A->c, NULL, "x", 1, n->now), SW_ENOTCONN);
  assert_int_equal(sw_core_write(A->c, B->id, NULL, 1, n->now), SW_EINVAL);
  net_free(n);
}

static void test_many_writes_in_order_batched(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->record = 1;
  for (int i = 0; i < 300; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "message number %d", i);
    assert_int_equal(sw_core_write(A->c, B->id, m, (size_t)l, n->now), SW_OK);
  }
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 300);
  for (int i = 0; i < 300; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "message number %d", i);
    const ev *e = nth_ev(B, SW_EV_DATA, i);
    assert_int_equal(e->len, (size_t)l);
    assert_memory_equal(e->data, m, (size_t)l);
  }
  /* coalesced into BATCH datagrams of at most 1402 bytes, grouped by the reference
   * rule (sum of length + 2 at most 1400) */
  int batches = 0, frames = 0;
  for (int k = 0; k < n->nseen; k++) {
    if (n->seen[k].from != a || n->seen[k].d[0] != WIRE_BATCH) continue;
    wire_batch_iter it;
    const uint8_t *f;
    size_t fl, sum = 0;
    assert_true(n->seen[k].len <= WIRE_BATCH_MTU + 2);
    assert_int_equal(wire_batch_begin(&it, n->seen[k].d, n->seen[k].len), SW_OK);
    while (wire_batch_next(&it, &f, &fl)) {
      assert_int_equal(f[0], WIRE_DATA);
      sum += fl + 2;
      frames++;
    }
    assert_true(sum <= WIRE_BATCH_MTU);
    assert_int_equal(it.off, n->seen[k].len);
    batches++;
  }
  assert_true(frames >= 290);
  assert_true(batches <= 20);
  net_free(n);
}

static void test_message_size_limits(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  uint8_t *big = malloc(SW_MAX_MESSAGE + 1);
  for (size_t i = 0; i <= SW_MAX_MESSAGE; i++) big[i] = (uint8_t)(i * 13 + (i >> 9));
  assert_int_equal(sw_core_write(A->c, B->id, big, SW_MAX_MESSAGE + 1, n->now), SW_EMSGSIZE);
  assert_int_equal(sw_core_broadcast(A->c, big, SW_MAX_MESSAGE + 1, n->now), SW_EMSGSIZE);
  assert_int_equal(sw_core_out_pending(A->c), 0);
  /* the largest message is one encrypted datagram of exactly 65507 bytes */
  n->record = 1;
  assert_int_equal(sw_core_write(A->c, B->id, big, SW_MAX_MESSAGE, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(nth_ev(B, SW_EV_DATA, 0)->len, SW_MAX_MESSAGE);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->data, big, SW_MAX_MESSAGE);
  int found = 0;
  for (int k = 0; k < n->nseen; k++) found += n->seen[k].len == WIRE_UDP_MAX && n->seen[k].d[0] == WIRE_DATA;
  assert_int_equal(found, 1);
  /* an empty message is a message */
  assert_int_equal(sw_core_write(A->c, B->id, "", 0, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_int_equal(nth_ev(B, SW_EV_DATA, 1)->len, 0);
  /* a send ring too small for the guarantees is refused at creation */
  sw_core *c2;
  sw_core_config cfg = {0};
  cfg.random = node_random;
  cfg.ctx = A;
  cfg.out_buffer_bytes = 64 * 1024;
  assert_int_equal(sw_core_new(&c2, &cfg, n->now), SW_EINVAL);
  cfg.out_buffer_bytes = 0;
  cfg.seed_hex = "abc";
  assert_int_equal(sw_core_new(&c2, &cfg, n->now), SW_EINVAL);
  cfg.seed_hex = NULL;
  cfg.random = NULL;
  assert_int_equal(sw_core_new(&c2, &cfg, n->now), SW_EINVAL);
  free(big);
  net_free(n);
}

static void test_ring_full_then_writable(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config small = {0};
  small.out_buffer_bytes = 256 * 1024;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &small), b = net_add(n, "10.0.0.2:2");
  int c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  connect_nodes(n, a, c);
  uint8_t m[1000];
  int ok = 0, rc;
  for (;;) {
    memset(m, 0, sizeof m);
    memcpy(m, &ok, sizeof ok);
    rc = sw_core_write(A->c, B->id, m, sizeof m, n->now);
    if (rc != SW_OK) break;
    ok++;
    assert_true(ok < 100000);
  }
  assert_int_equal(rc, SW_EAGAIN);
  assert_true(ok > 100);
  assert_int_equal(count_ev(A, SW_EV_WRITABLE), 0);
  /* a broadcast now is refused whole: nothing at all is queued */
  size_t pending = sw_core_out_pending(A->c);
  assert_int_equal(sw_core_broadcast(A->c, "bcast", 5, n->now), SW_EAGAIN);
  sw_core_flush(A->c, n->now);
  assert_true(sw_core_out_pending(A->c) >= pending);
  size_t after_flush = sw_core_out_pending(A->c);
  assert_int_equal(sw_core_broadcast(A->c, "bcast", 5, n->now), SW_EAGAIN);
  assert_int_equal(sw_core_out_pending(A->c), after_flush);
  /* draining the ring gives one WRITABLE */
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_WRITABLE), 1);
  /* no write accepted was lost: every one arrived, in order */
  assert_int_equal(count_ev(B, SW_EV_DATA), ok);
  for (int i = 0; i < ok; i++) {
    int got;
    memcpy(&got, nth_ev(B, SW_EV_DATA, i)->data, sizeof got);
    assert_int_equal(got, i);
  }
  assert_int_equal(stats(A).flood_dropped, 0);
  assert_int_equal(stats(A).ctrl_dropped, 0);
  /* writes work again */
  assert_int_equal(sw_core_write(A->c, B->id, "again", 5, n->now), SW_OK);
  assert_int_equal(sw_core_broadcast(A->c, "bcast", 5, n->now), 2);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), ok + 2);
  net_free(n);
}

static void test_big_writes_until_eagain(void **state) {
  (void)state;
  /* 60 KiB messages: each is its own datagram; the ring still never loses one */
  net *n = net_new();
  sw_core_config small = {0};
  small.out_buffer_bytes = 512 * 1024;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &small), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  uint8_t *m = calloc(1, 60000);
  int ok = 0, rc;
  for (int round = 0; round < 3; round++) {
    for (;;) {
      memcpy(m, &ok, sizeof ok);
      m[59999] = (uint8_t)ok;
      rc = sw_core_write(A->c, B->id, m, 60000, n->now);
      if (rc != SW_OK) break;
      ok++;
    }
    assert_int_equal(rc, SW_EAGAIN);
    pump(n);
    assert_int_equal(count_ev(A, SW_EV_WRITABLE), round + 1);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), ok);
  for (int i = 0; i < ok; i++) {
    const ev *e = nth_ev(B, SW_EV_DATA, i);
    int got;
    memcpy(&got, e->data, sizeof got);
    assert_int_equal(got, i);
    assert_int_equal(e->data[59999], (uint8_t)i);
  }
  free(m);
  net_free(n);
}

static void test_nested_batch(void **state) {
  (void)state;
  /* one level of BATCH nesting is processed; deeper nesting is dropped (D18) */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  uint8_t d1[64], d2[64], d3[64], buf[256];
  size_t l1 = ref_data_frame(&r, d1, 0, 0, "one", 3);
  size_t l2 = ref_data_frame(&r, d2, 1, 1, "two", 3);
  size_t l3 = ref_data_frame(&r, d3, 2, 2, "three", 5);
  /* BATCH(DATA, BATCH(DATA)) */
  size_t o = 0;
  buf[o++] = WIRE_BATCH;
  buf[o++] = 2;
  wire_put16(buf + o, (uint16_t)l1);
  memcpy(buf + o + 2, d1, l1);
  o += 2 + l1;
  wire_put16(buf + o, (uint16_t)(l2 + 4));
  o += 2;
  buf[o++] = WIRE_BATCH;
  buf[o++] = 1;
  wire_put16(buf + o, (uint16_t)l2);
  memcpy(buf + o + 2, d2, l2);
  o += 2 + l2;
  inject(n, b, &r.addr, buf, o);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  /* BATCH(BATCH(BATCH(DATA))) */
  o = 0;
  uint8_t deep[128];
  deep[o++] = WIRE_BATCH;
  deep[o++] = 1;
  wire_put16(deep + o, (uint16_t)(l3 + 8));
  o += 2;
  deep[o++] = WIRE_BATCH;
  deep[o++] = 1;
  wire_put16(deep + o, (uint16_t)(l3 + 4));
  o += 2;
  deep[o++] = WIRE_BATCH;
  deep[o++] = 1;
  wire_put16(deep + o, (uint16_t)l3);
  memcpy(deep + o + 2, d3, l3);
  o += 2 + l3;
  inject(n, b, &r.addr, deep, o);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  /* the same DATA at top level is fine */
  inject(n, b, &r.addr, d3, l3);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  ref_free(&r);
  net_free(n);
}

static void test_legacy_frag_send(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config legacy = {0};
  legacy.legacy_frag = 1;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &legacy);
  int c = net_add(n, "10.0.0.3:3");
  int d = net_add(n, "10.0.0.4:4"); /* default: no legacy FRAG */
  node *A = &n->nodes[a], *C = &n->nodes[c], *D = &n->nodes[d];
  ref_peer r, r2;
  ref_init(&r, SEED_R, "10.9.9.9:9", A);
  ref_init(&r2, SEED_R2, "10.9.9.8:8", D);
  ref_hello(n, &r, a, WIRE_HELLO);
  ref_hello(n, &r2, d, WIRE_HELLO);
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_HELLO_ACK), 1);
  /* both answer PINGs, as references do: their addresses are validated */
  assert_int_equal(ref_prove(n, &r, a), 1);
  assert_int_equal(ref_prove(n, &r2, d), 1);
  clear_strays(n);
  uint8_t msg[3000];
  for (int i = 0; i < 3000; i++) msg[i] = (uint8_t)(i * 7 + 3);
  /* legacy_frag, towards a 41-byte-HELLO peer: plaintext FRAG, as a reference sends */
  assert_int_equal(sw_core_write(A->c, r.id.id, msg, sizeof msg, n->now), SW_OK);
  pump(n);
  assert_int_equal(n->nstray, 3);
  uint8_t joined[3000];
  size_t total = 0;
  for (int k = 0; k < 3; k++) {
    const dgram *g = &n->stray[k];
    wire_frag f;
    assert_true(addr_equal(&g->to, &r.addr));
    assert_int_equal(g->len, k < 2 ? 1201u : 637u); /* one per datagram, unwrapped */
    assert_int_equal(wire_frag_decode(g->d, g->len, &f), SW_OK);
    assert_int_equal(f.index, k);
    assert_int_equal(f.count, 3);
    assert_memory_equal(f.frag_id, n->stray[0].d + 1, 8);
    memcpy(joined + total, f.data, f.len);
    total += f.len;
  }
  assert_int_equal(total, sizeof msg);
  assert_memory_equal(joined, msg, sizeof msg);
  clear_strays(n);
  /* a message of exactly 1200 bytes is still DATA, sequence 0: the first DATA */
  assert_int_equal(sw_core_write(A->c, r.id.id, msg, 1200, n->now), SW_OK);
  /* and 1201 bytes is two fragments: 1188 + 13 */
  assert_int_equal(sw_core_write(A->c, r.id.id, msg + 1, 1201, n->now), SW_OK);
  pump(n);
  /* the frames, in order, with BATCHes opened (the 13-byte tail may share a datagram
   * with the piece before it, by the reference grouping rule) */
  const uint8_t *fr[8];
  size_t frl[8];
  int nf = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    assert_true(addr_equal(&g->to, &r.addr));
    if (g->d[0] != WIRE_BATCH) {
      assert_true(nf < 8);
      fr[nf] = g->d;
      frl[nf++] = g->len;
      continue;
    }
    wire_batch_iter it;
    assert_int_equal(wire_batch_begin(&it, g->d, g->len), SW_OK);
    while (nf < 8 && wire_batch_next(&it, &fr[nf], &frl[nf])) nf++;
  }
  assert_int_equal(nf, 3);
  uint32_t seq;
  uint8_t out[1300];
  assert_int_equal(frl[0], 1200 + WIRE_DATA_OVERHEAD);
  assert_int_equal(ref_open(&r, fr[0], frl[0], &seq, out), 1200);
  assert_int_equal(seq, 0);
  assert_memory_equal(out, msg, 1200);
  wire_frag f0, f1;
  assert_int_equal(wire_frag_decode(fr[1], frl[1], &f0), SW_OK);
  assert_int_equal(wire_frag_decode(fr[2], frl[2], &f1), SW_OK);
  assert_int_equal(f0.count, 2);
  assert_int_equal(f0.index, 0);
  assert_int_equal(f0.len, WIRE_FRAG_DATA_MAX);
  assert_int_equal(f1.index, 1);
  assert_int_equal(f1.len, 13);
  assert_memory_equal(f0.frag_id, f1.frag_id, 8);
  assert_memory_equal(f0.data, msg + 1, WIRE_FRAG_DATA_MAX);
  assert_memory_equal(f1.data, msg + 1 + WIRE_FRAG_DATA_MAX, 13);
  clear_strays(n);
  /* legacy_frag towards a libsetowire peer: encrypted DATA, delivered whole */
  connect_nodes(n, a, c);
  clear_strays(n);
  assert_int_equal(sw_core_write(A->c, C->id, msg, sizeof msg, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(C, SW_EV_DATA), 1);
  assert_int_equal(nth_ev(C, SW_EV_DATA, 0)->len, sizeof msg);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->data, msg, sizeof msg);
  /* without legacy_frag, to a reference peer: one encrypted DATA datagram (D1) */
  assert_int_equal(sw_core_write(D->c, r2.id.id, msg, sizeof msg, n->now), SW_OK);
  pump(n);
  int datas = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    assert_int_not_equal(g->d[0], WIRE_FRAG);
    if (!addr_equal(&g->to, &r2.addr) || g->d[0] != WIRE_DATA) continue;
    uint8_t big[3100];
    assert_int_equal(g->len, sizeof msg + WIRE_DATA_OVERHEAD);
    assert_int_equal(ref_open(&r2, g->d, g->len, &seq, big), sizeof msg);
    assert_int_equal(seq, 0);
    assert_memory_equal(big, msg, sizeof msg);
    datas++;
  }
  assert_int_equal(datas, 1);
  ref_free(&r);
  ref_free(&r2);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_broadcast_flood),
      cmocka_unit_test(test_many_writes_in_order_batched),
      cmocka_unit_test(test_message_size_limits),
      cmocka_unit_test(test_ring_full_then_writable),
      cmocka_unit_test(test_big_writes_until_eagain),
      cmocka_unit_test(test_nested_batch),
      cmocka_unit_test(test_legacy_frag_send),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
