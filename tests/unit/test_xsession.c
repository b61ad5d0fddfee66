/* The extended session wired into the engine (docs/TRANSPORT.md 2, 8; xsession.c): two
 * cores with sw_core_config.xsession run the handshake after HELLO/HELLO_ACK and carry
 * messages in XPACKETs both ways; what they send does not open with the keys the two
 * static identities alone give; a core without the switch, or a reference peer, gets the
 * plain protocol byte for byte; a flood crosses an extended hop; 10 % loss loses no
 * message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corenet.h"
#include "crypto.h"
#include "handshake.h"
#include "testutil.h"
#include "wire.h"
#include "xpacket.h"

static const sw_core_config XCFG = {.xsession = 1};

static int count_type(const net *n, uint8_t type) {
  int k = 0;
  for (int i = 0; i < n->nseen; i++) k += n->seen[i].len && n->seen[i].d[0] == type;
  return k;
}

/* DATA frames recorded, bare or inside a BATCH. */
static int count_data(const net *n) {
  int k = 0;
  for (int i = 0; i < n->nseen; i++) {
    const dgram *g = &n->seen[i];
    if (!g->len) continue;
    if (g->d[0] == WIRE_DATA) k++;
    wire_batch_iter it;
    const uint8_t *f;
    size_t fl;
    if (g->d[0] != WIRE_BATCH || wire_batch_begin(&it, g->d, g->len)) continue;
    while (wire_batch_next(&it, &f, &fl)) k += fl && f[0] == WIRE_DATA;
  }
  return k;
}

static void forget_seen(net *n) {
  for (int k = 0; k < n->nseen; k++) free(n->seen[k].d);
  n->nseen = 0;
}

/* The DATA events of nd, from `from`, each checked against "m <i>" in order from 0
 * (messages of the other direction say "r <i>": the same bytes would be duplicates). */
static int data_in_order_p(const node *nd, const node *from, int expect, char pre) {
  int got = 0;
  for (int k = 0; k < nd->nev; k++) {
    const ev *e = &nd->evs[k];
    if (e->type != SW_EV_DATA || memcmp(e->peer, from->id, 8) != 0) continue;
    char want[32];
    int wl = snprintf(want, sizeof want, "%c %d", pre, got);
    /* padded ones go on with '.' */
    if (e->len < (size_t)wl || memcmp(e->data, want, (size_t)wl) != 0 ||
        (e->len > (size_t)wl && e->data[wl] != '.'))
      return -1;
    got++;
  }
  return got == expect ? got : -2 - got;
}

static int data_in_order(const node *nd, const node *from, int expect) {
  return data_in_order_p(nd, from, expect, 'm');
}

static void write_n(net *n, int from, int to, int count, int start) {
  for (int i = start; i < start + count; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "%c %d", from < to ? 'm' : 'r', i);
    assert_int_equal(sw_core_write(n->nodes[from].c, n->nodes[to].id, m, (size_t)l, n->now),
                     SW_OK);
  }
}

static void test_handshake_and_messages(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  connect_nodes(n, a, b);
  /* one CONNECTION each, as before; one HS_INIT, one HS_RESP, and a packet each way */
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  assert_int_equal(count_type(n, HS_TYPE_INIT), 1);
  assert_int_equal(count_type(n, HS_TYPE_RESP), 1);
  assert_int_equal(count_type(n, HS_TYPE_RETRY), 0);
  assert_true(count_type(n, XPKT_TYPE) >= 2);
  /* the HELLO trailers carry XSESSION, and ORIGIN beside it */
  for (int k = 0; k < n->nseen; k++)
    if (n->seen[k].d[0] == WIRE_HELLO || n->seen[k].d[0] == WIRE_HELLO_ACK) {
      assert_int_equal(n->seen[k].len, WIRE_HELLO_LEN + WIRE_TRAILER_LEN);
      assert_int_equal(n->seen[k].d[WIRE_HELLO_LEN + 3],
                       WIRE_CAP_SEALED | WIRE_CAP_XSESSION | WIRE_CAP_ORIGIN);
    }
  forget_seen(n);
  /* messages both ways: in XPACKETs only, delivered once, in order */
  write_n(n, a, b, 50, 0);
  write_n(n, b, a, 50, 0);
  advance(n, n->now + 200);
  assert_int_equal(data_in_order(B, A, 50), 50);
  assert_int_equal(data_in_order_p(A, B, 50, 'r'), 50);
  assert_int_equal(count_data(n), 0);
  assert_true(count_type(n, XPKT_TYPE) > 0);
  /* the messages are not in clear in any packet */
  for (int k = 0; k < n->nseen; k++)
    for (size_t i = 0; i + 4 <= n->seen[k].len; i++)
      assert_false(memcmp(n->seen[k].d + i, "m 17", 4) == 0);
  /* a large message, and a broadcast, go the same way */
  uint8_t big[60000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  assert_int_equal(sw_core_write(A->c, B->id, big, sizeof big, n->now), SW_OK);
  assert_int_equal(sw_core_broadcast(B->c, "all", 3, n->now), 1);
  advance(n, n->now + 500);
  const ev *e = nth_ev(B, SW_EV_DATA, 50);
  assert_non_null(e);
  assert_int_equal(e->len, sizeof big);
  assert_memory_equal(e->data, big, sizeof big);
  e = nth_ev(A, SW_EV_DATA, 50);
  assert_non_null(e);
  assert_int_equal(e->len, 3);
  assert_memory_equal(e->data, "all", 3);
  assert_int_equal(count_data(n), 0);
  /* the session holds: heartbeats go on, nobody disconnects */
  advance(n, n->now + 5000);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  assert_true(sw_core_memory(A->c) > 131072 * 2);
  net_free(n);
}

/* Every key the plain protocol derives from the two static identities, and the shared
 * static secret, as a traffic secret of either suite: none opens a recorded packet. */
static void test_recorded_session_static_keys(void **state) {
  (void)state;
  net *n = net_new();
  const char *sa = "1111111111111111111111111111111111111111111111111111111111111111";
  const char *sb = "2222222222222222222222222222222222222222222222222222222222222222";
  int a = net_add_cfg(n, sa, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, sb, "10.0.0.2:1002", &XCFG);
  n->record = 1;
  connect_nodes(n, a, b);
  write_n(n, a, b, 20, 0);
  write_n(n, b, a, 20, 0);
  advance(n, n->now + 200);
  assert_int_equal(data_in_order(&n->nodes[b], &n->nodes[a], 20), 20);
  crypto_identity ia, ib;
  assert_int_equal(crypto_identity_from_hex(&ia, sa), 0);
  assert_int_equal(crypto_identity_from_hex(&ib, sb), 0);
  crypto_session_keys ka, kb;
  assert_int_equal(crypto_derive_session(&ia, ib.pub, &ka), 0);
  assert_int_equal(crypto_derive_session(&ib, ia.pub, &kb), 0);
  const uint8_t *cands[] = {ka.send_key, ka.recv_key, kb.send_key, kb.recv_key};
  int packets = 0;
  for (int k = 0; k < n->nseen; k++) {
    if (n->seen[k].d[0] != XPKT_TYPE) continue;
    xpkt_header h;
    assert_int_equal(xpkt_header_decode(n->seen[k].d, n->seen[k].len, &h), SW_OK);
    packets++;
    for (size_t c = 0; c < sizeof cands / sizeof *cands; c++)
      for (int suite = CRYPTO_SUITE_CHACHA; suite <= CRYPTO_SUITE_AESGCM; suite++) {
        xpkt_rx rx;
        uint8_t out[2048];
        assert_int_equal(xpkt_rx_init(&rx, suite, cands[c], h.receiver_index), SW_OK);
        assert_true(xpkt_open(&rx, n->now, n->seen[k].d, n->seen[k].len, out, sizeof out,
                              NULL) < 0);
        xpkt_rx_free(&rx);
      }
  }
  assert_true(packets >= 4);
  net_free(n);
}

/* The switch off on one side: no XSESSION bit from it, no extended frame either way,
 * messages as plain DATA. */
static void test_one_side_off(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add(n, "10.0.0.2:1002");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  connect_nodes(n, a, b);
  write_n(n, a, b, 10, 0);
  write_n(n, b, a, 10, 0);
  advance(n, n->now + 3000);
  assert_int_equal(data_in_order(B, A, 10), 10);
  assert_int_equal(data_in_order_p(A, B, 10, 'r'), 10);
  for (uint8_t t = XPKT_TYPE; t <= HS_TYPE_RETRY; t++) assert_int_equal(count_type(n, t), 0);
  assert_true(count_data(n) > 0);
  for (int k = 0; k < n->nseen; k++)
    if (n->seen[k].from == b &&
        (n->seen[k].d[0] == WIRE_HELLO || n->seen[k].d[0] == WIRE_HELLO_ACK))
      assert_int_equal(n->seen[k].d[WIRE_HELLO_LEN + 3], WIRE_CAP_SEALED);
  net_free(n);
}

/* A reference peer (41-byte HELLO) talking to a core with the switch on: the plain
 * protocol, and no extended frame towards it. */
static void test_reference_peer(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  node *A = &n->nodes[a];
  ref_peer r;
  ref_init(&r, SEED_R, "10.0.0.9:9009", A);
  ref_hello(n, &r, a, WIRE_HELLO);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  ref_send(n, &r, a, "hello", 5);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(A->c, &info, 1), 1);
  assert_int_equal(sw_core_write(A->c, info.wire_id, "back", 4, n->now), SW_OK);
  advance(n, n->now + 3000);
  assert_true(strays_to(n, &r.addr, WIRE_DATA) >= 1);
  for (uint8_t t = XPKT_TYPE; t <= HS_TYPE_RETRY; t++)
    assert_int_equal(strays_to(n, &r.addr, t), 0);
  ref_free(&r);
  net_free(n);
}

/* A - B - C in a line: what A broadcasts, B floods to C over its extended hop. */
static void test_flood_over_extended_hop(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  int c = net_add_cfg(n, NULL, "10.0.0.3:1003", &XCFG);
  connect_nodes(n, a, b);
  connect_nodes(n, b, c);
  n->record = 1;
  for (int i = 0; i < 30; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "m %d", i);
    assert_int_equal(sw_core_broadcast(n->nodes[a].c, m, (size_t)l, n->now), 1);
  }
  advance(n, n->now + 500);
  assert_int_equal(data_in_order(&n->nodes[b], &n->nodes[a], 30), 30);
  assert_int_equal(data_in_order(&n->nodes[c], &n->nodes[b], 30), 30);
  assert_int_equal(count_data(n), 0);
  net_free(n);
}

/* 10 % of the extended session's packets lost both ways: every message (300 bytes,
 * about 4 to a packet) arrives once, in order. */
static uint64_t loss_rng = 0x1234567;
static int lossy(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n, (void)from, (void)to;
  if (!len || d[0] != XPKT_TYPE) return 1;
  loss_rng = loss_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (loss_rng >> 33) % 100 >= 10;
}

static void test_loss(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  connect_nodes(n, a, b);
  n->filter = lossy;
  n->record = 1;
  const int total = 1500;
  int sent = 0;
  for (int round = 0; round < 2000 && sent < total; round++) {
    while (sent < total) {
      char m[300];
      memset(m, '.', sizeof m);
      int l = snprintf(m, sizeof m, "m %d", sent);
      m[l] = '.';
      int rc = sw_core_write(n->nodes[a].c, n->nodes[b].id, m, sizeof m, n->now);
      if (rc == SW_EAGAIN) break;
      assert_int_equal(rc, SW_OK);
      sent++;
    }
    advance(n, n->now + 5);
  }
  advance(n, n->now + 10000);
  assert_int_equal(sent, total);
  assert_int_equal(data_in_order(&n->nodes[b], &n->nodes[a], total), total);
  assert_int_equal(count_data(n), 0); /* all of it went in XPACKETs */
  assert_true(count_type(n, XPKT_TYPE) > 100);
  net_free(n);
}

static int peer_extended(const node *nd) {
  sw_core_peer_info info[4];
  return sw_core_peers(nd->c, info, 4) == 1 && info[0].extended;
}

/* A restarts (same seed, a new address): a new extended session replaces the dead one,
 * whichever side initiates, and messages flow both ways again. Returns 1 when A was the
 * lower side (the initiator). */
static int restart_once(const char *seed_a) {
  net *n = net_new();
  int a = net_add_cfg(n, seed_a, "10.0.0.1:1", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &XCFG);
  node *B = &n->nodes[b];
  connect_nodes(n, a, b);
  assert_true(peer_extended(&n->nodes[a]) && peer_extended(B));
  int lower = memcmp(n->nodes[a].id, B->id, 8) < 0;
  write_n(n, a, b, 5, 0);
  advance(n, n->now + 100);
  assert_int_equal(data_in_order(B, &n->nodes[a], 5), 5);
  n->nodes[a].dead = 1;
  advance(n, n->now + 2000);
  int a2 = net_add_cfg(n, seed_a, "10.0.0.1:7", &XCFG);
  node *A2 = &n->nodes[a2];
  connect_nodes(n, a2, b);
  advance(n, n->now + 500);
  if (!peer_extended(A2) || !peer_extended(B))
    printf("lower %d: A2 %d B %d restarts %llu\n", lower, peer_extended(A2), peer_extended(B),
           (unsigned long long)stats(B).restarts);
  assert_true(peer_extended(A2));
  assert_true(peer_extended(B));
  int before = count_ev(B, SW_EV_DATA);
  for (int k = 0; k < 20; k++) {
    char m[16];
    snprintf(m, sizeof m, "after %d", k);
    assert_int_equal(sw_core_write(A2->c, B->id, m, strlen(m), n->now), SW_OK);
    m[0] = 'A';
    assert_int_equal(sw_core_write(B->c, A2->id, m, strlen(m), n->now), SW_OK);
  }
  advance(n, n->now + 300);
  assert_int_equal(count_ev(B, SW_EV_DATA) - before, 20);
  assert_int_equal(count_ev(A2, SW_EV_DATA), 20);
  for (int k = 0; k < 20; k++) {
    char m[16];
    snprintf(m, sizeof m, "after %d", k);
    assert_memory_equal(nth_ev(B, SW_EV_DATA, before + k)->data, m, strlen(m));
  }
  net_free(n);
  return lower;
}

static void test_restart(void **state) {
  (void)state;
  static const char *seeds[] = {
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "1111111111111111111111111111111111111111111111111111111111111111",
      "2222222222222222222222222222222222222222222222222222222222222222",
      "3333333333333333333333333333333333333333333333333333333333333333",
      "4444444444444444444444444444444444444444444444444444444444444444",
      "5555555555555555555555555555555555555555555555555555555555555555",
      "6666666666666666666666666666666666666666666666666666666666666666",
      "7777777777777777777777777777777777777777777777777777777777777777",
  };
  int lower = 0, higher = 0;
  for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
    if (restart_once(seeds[i])) lower++;
    else higher++;
  }
  printf("restarted as the lower side %d times, as the higher %d\n", lower, higher);
  assert_true(lower > 0 && higher > 0); /* both roles restarted */
}

/* A's NAT mapping changes: an authenticated XPACKET from the new address moves B there,
 * as plain DATA would (D8). */
static void test_nat_rebinding(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  assert_true(peer_extended(A) && peer_extended(B));
  sw_addr old = A->addr;
  assert_int_equal(addr_parse_hostport(&A->addr, "192.0.2.77:40000"), SW_OK);
  write_n(n, a, b, 3, 0);
  advance(n, n->now + 100);
  assert_int_equal(data_in_order(B, A, 3), 3);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  assert_int_equal(info.verified, 1);
  clear_strays(n);
  write_n(n, b, a, 3, 0);
  advance(n, n->now + 5000);
  assert_int_equal(data_in_order_p(A, B, 3, 'r'), 3);
  assert_int_equal(strays_to(n, &old, XPKT_TYPE), 0);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_and_messages),
      cmocka_unit_test(test_recorded_session_static_keys),
      cmocka_unit_test(test_one_side_off),
      cmocka_unit_test(test_reference_peer),
      cmocka_unit_test(test_flood_over_extended_hop),
      cmocka_unit_test(test_loss),
      cmocka_unit_test(test_restart),
      cmocka_unit_test(test_nat_rebinding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
