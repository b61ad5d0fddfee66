/* RELAY_ANN (PROTOCOL.md 11.7, 15.3): a serving relay tells its reference peers where it
 * is, as the JavaScript reference does (on connecting and every 30 s), never its own
 * peers; a RELAY_ANN from a verified peer is remembered (at most 20), from anyone else
 * refused. The codec reads exactly what the references read. */
#include <string.h>

#include "core_internal.h"
#include "corenet.h"
#include "relay.h"
#include "wire.h"

/* RELAY_ANN frames sent to `to`, alone or inside a BATCH; the last one's fields. */
static int anns_to(const net *n, const sw_addr *to, uint8_t id[8], sw_addr *where) {
  int c = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *d = &n->stray[k];
    if (!addr_equal(&d->to, to) || !d->len) continue;
    if (d->d[0] == WIRE_RELAY_ANN) {
      c += relay_ann_decode(d->d, d->len, id, where) == SW_OK;
      continue;
    }
    wire_batch_iter it;
    const uint8_t *f;
    size_t fl;
    if (d->d[0] != WIRE_BATCH || wire_batch_begin(&it, d->d, d->len)) continue;
    while (wire_batch_next(&it, &f, &fl))
      if (fl && f[0] == WIRE_RELAY_ANN) c += relay_ann_decode(f, fl, id, where) == SW_OK;
  }
  return c;
}

/* RELAY_ANN frames in the recorded datagram k between nodes. */
static int anns_to_seen(const net *n, int k) {
  const dgram *d = &n->seen[k];
  if (d->len && d->d[0] == WIRE_RELAY_ANN) return 1;
  wire_batch_iter it;
  const uint8_t *f;
  size_t fl;
  int c = 0;
  if (!d->len || d->d[0] != WIRE_BATCH || wire_batch_begin(&it, d->d, d->len)) return 0;
  while (wire_batch_next(&it, &f, &fl)) c += fl && f[0] == WIRE_RELAY_ANN;
  return c;
}

static void test_codec(void **state) {
  (void)state;
  uint8_t id[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[8], f[RELAY_ANN_MAX + 2];
  sw_addr a = addr_of("203.0.113.5:4444"), b;
  size_t n = relay_ann_encode(f, id, &a);
  assert_int_equal(n, 10 + strlen("203.0.113.5") + 2);
  assert_int_equal(relay_ann_decode(f, n, got, &b), SW_OK);
  assert_memory_equal(got, id, 8);
  assert_true(addr_equal(&a, &b));
  sw_addr v6 = addr_of("[2001:db8::7]:9");
  n = relay_ann_encode(f, id, &v6);
  assert_true(n > 0 && n <= RELAY_ANN_MAX);
  assert_int_equal(relay_ann_decode(f, n, got, &b), SW_OK);
  assert_true(addr_equal(&v6, &b));
  /* truncations refused; trailing bytes taken, as the references take them */
  for (size_t k = 0; k < n; k++) assert_int_equal(relay_ann_decode(f, k, got, &b), SW_EINVAL);
  f[n] = 0xff;
  assert_int_equal(relay_ann_decode(f, n + 1, got, &b), SW_OK);
  /* not an IP, port 0, empty IP */
  n = relay_ann_encode(f, id, &a);
  f[10] = 'x';
  assert_int_equal(relay_ann_decode(f, n, got, &b), SW_EINVAL);
  n = relay_ann_encode(f, id, &a);
  f[n - 1] = f[n - 2] = 0;
  assert_int_equal(relay_ann_decode(f, n, got, &b), SW_EINVAL);
  n = relay_ann_encode(f, id, &a);
  f[9] = 0;
  assert_int_equal(relay_ann_decode(f, n, got, &b), SW_EINVAL);
}

static int add_relay_node(net *n, int serve) {
  sw_core_config cfg = {.relayed = 1, .relay_serve = serve, .lan_ip = "10.0.0.2", .port = 2};
  return net_add_cfg(n, NULL, "10.0.0.2:2", &cfg);
}

/* A serving relay announces itself to a reference peer as it connects and every 30 s;
 * a libsetowire peer gets none; a relay that does not serve sends none. */
static void test_announced_to_reference_peers(void **state) {
  (void)state;
  net *n = net_new();
  n->record = 1;
  int b = add_relay_node(n, 1);
  int ours = net_add(n, "10.0.0.3:3");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  connect_nodes(n, ours, b);
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(ref_prove(n, &r, b), 1); /* R answers PINGs, as references do */
  uint8_t id[8];
  sw_addr where;
  assert_int_equal(anns_to(n, &r.addr, id, &where), 1);
  assert_memory_equal(id, B->id, 8);
  assert_true(addr_equal(&where, &B->addr));
  advance(n, n->now + RELAY_ANN_MS + 100);
  int twice = anns_to(n, &r.addr, id, &where);
  assert_true(twice >= 2 && twice <= 3);
  relay_stats st;
  assert_int_equal(relay_get_stats(B->c, &st, NULL), SW_OK);
  assert_true(st.anns_sent >= 2);
  /* our own peer hears none (it is not a reference peer; CIRCUIT is what ours use) */
  assert_true(n->nseen > 0);
  for (int k = 0; k < n->nseen; k++) assert_int_equal(anns_to_seen(n, k), 0);

  /* not serving: nothing */
  net *m = net_new();
  int q = add_relay_node(m, 0);
  ref_peer r2;
  ref_init(&r2, SEED_R, "10.9.9.9:9", &m->nodes[q]);
  ref_hello(m, &r2, q, WIRE_HELLO);
  advance(m, m->now + 2 * RELAY_ANN_MS);
  assert_int_equal(anns_to(m, &r2.addr, id, &where), 0);
  /* until it starts serving (as a full-cone NAT makes it): at the next timeout */
  relay_serve(m->nodes[q].c, 1);
  advance(m, m->now + 10);
  assert_int_equal(anns_to(m, &r2.addr, id, &where), 1);
  ref_free(&r2);
  net_free(m);
  ref_free(&r);
  net_free(n);
}

/* RELAY_ANN is taken from a verified peer only, remembered once per relay, at most 20. */
static void test_received(void **state) {
  (void)state;
  net *n = net_new();
  int b = add_relay_node(n, 0);
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  uint8_t f[RELAY_ANN_MAX], rid[8] = {9, 9, 9, 9, 9, 9, 9, 1};
  sw_addr at = addr_of("198.51.100.9:7000");
  size_t len = relay_ann_encode(f, rid, &at);
  /* from a stranger: refused */
  inject(n, b, &r.addr, f, len);
  /* from a reference peer with a session but no DATA yet (its address unproven) */
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  inject(n, b, &r.addr, f, len);
  assert_int_equal(relay_known(B->c, NULL, NULL, 0), 0);
  relay_stats st;
  assert_int_equal(relay_get_stats(B->c, &st, NULL), SW_OK);
  assert_int_equal(st.refused, 2);
  /* once its DATA and its PONG proved the address: remembered */
  ref_send(n, &r, b, "hi", 2);
  assert_int_equal(ref_prove(n, &r, b), 1);
  inject(n, b, &r.addr, f, len);
  inject(n, b, &r.addr, f, len); /* the same relay again: one entry */
  uint8_t ids[RELAY_KNOWN + 4][8];
  sw_addr addrs[RELAY_KNOWN + 4];
  assert_int_equal(relay_known(B->c, ids, addrs, RELAY_KNOWN + 4), 1);
  assert_memory_equal(ids[0], rid, 8);
  assert_true(addr_equal(&addrs[0], &at));
  /* our own id is not a relay of ours; malformed frames are refused */
  len = relay_ann_encode(f, B->id, &at);
  inject(n, b, &r.addr, f, len);
  inject(n, b, &r.addr, f, 11);
  assert_int_equal(relay_known(B->c, NULL, NULL, 0), 1);
  /* bounded: the oldest gives way */
  for (int i = 0; i < RELAY_KNOWN + 5; i++) {
    rid[7] = (uint8_t)(10 + i);
    n->now += 1;
    len = relay_ann_encode(f, rid, &at);
    inject(n, b, &r.addr, f, len);
  }
  assert_int_equal(relay_known(B->c, ids, addrs, RELAY_KNOWN + 4), RELAY_KNOWN);
  assert_int_equal(relay_get_stats(B->c, &st, NULL), SW_OK);
  assert_int_equal(st.anns_in, 2 + RELAY_KNOWN + 5);
  assert_int_equal(sw_core_peer_count(B->c), 1); /* and the session stands */
  ref_free(&r);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec),
      cmocka_unit_test(test_announced_to_reference_peers),
      cmocka_unit_test(test_received),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
