/* Sessions (the handshake and what protects a session once made): HELLO/HELLO_ACK one
 * way and both ways, the hello.json exchange vector, the HELLOs that make no session
 * (id/key mismatch D2, our own D9, low-order keys D18, max_peers D20), the sealed
 * GOAWAY, replayed DATA refused, restarts of reference and libsetowire peers (D12), and
 * the restart challenge: what proves a restart and what is held meanwhile. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corenet.h"
#include "corenet_ref.h"
#include "crypto.h"
#include "testutil.h"
#include "wire.h"

static void test_handshake_one_way(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1001"), b = net_add(n, "10.0.0.2:1002");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  /* the dial sends a HELLO at once: the reference 41 bytes, then our trailer */
  sw_dgram d[4];
  assert_int_equal(sw_core_out_peek(A->c, d, 4), 1);
  assert_int_equal(d[0].len, WIRE_HELLO_LEN + WIRE_TRAILER_LEN);
  uint8_t ref41[WIRE_HELLO_LEN];
  wire_hello_encode(ref41, WIRE_HELLO, A->id, A->pub, -1);
  assert_memory_equal(d[0].data, ref41, WIRE_HELLO_LEN);
  assert_true(addr_equal(d[0].to, &B->addr));
  pump(n);
  /* one CONNECTION each, naming the other and its address */
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  assert_memory_equal(nth_ev(A, SW_EV_CONNECTION, 0)->peer, B->id, 8);
  assert_string_equal(nth_ev(A, SW_EV_CONNECTION, 0)->addr, "10.0.0.2:1002");
  assert_memory_equal(nth_ev(B, SW_EV_CONNECTION, 0)->peer, A->id, 8);
  assert_string_equal(nth_ev(B, SW_EV_CONNECTION, 0)->addr, "10.0.0.1:1001");
  assert_int_equal(sw_core_peer_count(A->c), 1);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* libsetowire on both sides: not a reference session, and each side proved its key
   * to the other with a sealed frame, so both addresses are verified */
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(A->c, &info, 1), 1);
  assert_int_equal(info.reference, 0);
  assert_int_equal(info.verified, 1);
  assert_true(addr_equal(&info.addr, &B->addr));
  assert_int_equal(sw_core_peers(B->c, &info, 1), 1);
  assert_int_equal(info.reference, 0);
  assert_int_equal(info.verified, 1);
  /* the exchange: HELLO, HELLO_ACK, and each way a sealed proof, a sealed GRAFT (each
   * side puts the other in its mesh, PROTOCOL.md 21.2) and the sealed CHALLENGE and
   * RESPONSE that validate the address (docs/THREATS.md "Main socket"), twice: once
   * with the first frame, again when the first authenticated frame shows that the
   * other side has the session (the first may have overtaken it); and the GRAFT again
   * once the address proved itself (the first may have reached a side that, under
   * load, makes the session only then: delivery_graft_again) */
  int hellos = 0, acks = 0, sealed = 0;
  for (int k = 0; k < n->nseen; k++) {
    hellos += n->seen[k].d[0] == WIRE_HELLO;
    acks += n->seen[k].d[0] == WIRE_HELLO_ACK;
    sealed += n->seen[k].d[0] == WIRE_SEALED;
  }
  assert_int_equal(hellos, 1);
  assert_int_equal(acks, 1);
  assert_int_equal(sealed, 14);
  /* the dial is over: no more HELLOs in the next seconds, only heartbeats */
  for (int k = 0; k < n->nseen; k++) free(n->seen[k].d);
  n->nseen = 0;
  advance(n, n->now + 6000);
  for (int k = 0; k < n->nseen; k++) {
    assert_int_not_equal(n->seen[k].d[0], WIRE_HELLO);
    assert_true(n->seen[k].d[0] == WIRE_PING || n->seen[k].d[0] == WIRE_PONG);
  }
  assert_true(n->nseen >= 20); /* 6 s of PING + PONG both ways */
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  net_free(n);
}

static void test_handshake_both_ways(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1001"), b = net_add(n, "[2001:db8::2]:1002");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  assert_int_equal(sw_core_dial(B->c, &A->addr, NULL, n->now), SW_OK);
  /* dialling again is a no-op */
  assert_int_equal(sw_core_dial(B->c, &A->addr, NULL, n->now), SW_OK);
  pump(n);
  advance(n, n->now + 3000);
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  assert_string_equal(nth_ev(A, SW_EV_CONNECTION, 0)->addr, "[2001:db8::2]:1002");
  assert_int_equal(sw_core_peer_count(A->c), 1);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* and the session works in both directions */
  assert_int_equal(sw_core_write(A->c, B->id, "ab", 2, n->now), SW_OK);
  assert_int_equal(sw_core_write(B->c, A->id, "ba", 2, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->data, "ab", 2);
  assert_memory_equal(nth_ev(A, SW_EV_DATA, 0)->data, "ba", 2);
  net_free(n);
}

static void test_hello_exchange_vector(void **state) {
  (void)state;
  /* hello.json exchange_example with two cores at the vector's addresses */
  json_t *v = tu_vectors("hello.json");
  json_t *x = json_object_get(v, "exchange_example");
  json_t *vec = json_object_get(v, "vectors");
  json_t *ini = json_array_get(vec, (size_t)json_integer_value(json_object_get(x, "initiator_seed_index")));
  json_t *res = json_array_get(vec, (size_t)json_integer_value(json_object_get(x, "responder_seed_index")));
  net *n = net_new();
  int a = net_add_cfg(n, tu_str(ini, "seed_hex"), tu_str(x, "initiator_addr"), NULL);
  int b = net_add_cfg(n, tu_str(res, "seed_hex"), tu_str(x, "responder_addr"), NULL);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  pump(n);
  assert_true(n->nseen >= 2);
  assert_int_equal(n->seen[0].from, a);
  assert_string_equal(tu_hex(n->seen[0].d, WIRE_HELLO_LEN), tu_str(x, "hello_hex"));
  assert_int_equal(n->seen[1].from, b);
  assert_string_equal(tu_hex(n->seen[1].d, WIRE_HELLO_LEN), tu_str(x, "hello_ack_hex"));
  assert_string_equal(tu_hex(nth_ev(B, SW_EV_CONNECTION, 0)->peer, 8),
                      tu_str(x, "responder_registered_initiator_as"));
  assert_string_equal(tu_hex(nth_ev(A, SW_EV_CONNECTION, 0)->peer, 8),
                      tu_str(x, "initiator_registered_responder_as"));
  assert_string_equal(nth_ev(B, SW_EV_CONNECTION, 0)->addr, tu_str(x, "initiator_addr"));
  net_free(n);
  json_decref(v);
}

static void test_hello_id_key_mismatch_ignored(void **state) {
  (void)state;
  /* D2: a HELLO whose wire id is not SHA-256(key)[0..7] creates nothing, answers nothing */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  uint8_t h[WIRE_HELLO_LEN];
  uint8_t other_id[8] = {0x57, 0x9e, 0xd6, 0xb4, 0xc7, 0x21, 0x08, 0xec}; /* one bit off */
  wire_hello_encode(h, WIRE_HELLO, other_id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  wire_hello_encode(h, WIRE_HELLO_ACK, other_id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  /* someone else's id with our key */
  wire_hello_encode(h, WIRE_HELLO, B->id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  assert_int_equal(n->nstray, 0);
  /* the same key with its own id is accepted, and answered with a HELLO_ACK */
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(strays_to(n, &r.addr, WIRE_HELLO_ACK), 1);
  /* a reference HELLO from an id that is now known, with the wrong id for the key,
   * still changes nothing */
  clear_strays(n);
  wire_hello_encode(h, WIRE_HELLO, other_id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  pump(n);
  assert_int_equal(n->nstray, 0);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  ref_free(&r);
  net_free(n);
}

static void test_hello_from_self_ignored(void **state) {
  (void)state;
  /* D9: our own HELLO (a node that dialled its own address) never makes a session */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  uint8_t h[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t hl = wire_hello_encode(h, WIRE_HELLO, B->id, B->pub, WIRE_CAP_SEALED);
  sw_addr other;
  addr_parse_hostport(&other, "10.7.7.7:7");
  inject(n, b, &B->addr, h, hl);
  inject(n, b, &other, h, hl);
  hl = wire_hello_encode(h, WIRE_HELLO_ACK, B->id, B->pub, -1);
  inject(n, b, &other, h, hl);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  assert_int_equal(n->nstray, 0);
  /* dialling ourselves: our HELLOs come back to us and are ignored */
  assert_int_equal(sw_core_dial(B->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 6000);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  net_free(n);
}

static void test_low_order_key_ignored(void **state) {
  (void)state;
  /* D18: a key whose shared secret is all zero makes no session (and no crash) */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  static const uint8_t low[3][32] = {{0}, {1}, {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae,
                                              0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
                                              0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd,
                                              0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}};
  sw_addr from;
  addr_parse_hostport(&from, "10.6.6.6:6");
  for (int k = 0; k < 3; k++) {
    uint8_t d[32], h[WIRE_HELLO_LEN];
    crypto_sha256(low[k], 32, d);
    wire_hello_encode(h, WIRE_HELLO, d, low[k], -1); /* the id matches the key */
    inject(n, b, &from, h, sizeof h);
    wire_hello_encode(h, WIRE_HELLO_ACK, d, low[k], -1);
    inject(n, b, &from, h, sizeof h);
  }
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  assert_int_equal(n->nstray, 0);
  net_free(n);
}

static void test_max_peers_refuses_without_ack(void **state) {
  (void)state;
  /* D20: at max_peers, a HELLO gets no HELLO_ACK, so no one-sided session forms */
  net *n = net_new();
  sw_core_config two = {0};
  two.max_peers = 2;
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &two);
  int a1 = net_add(n, "10.0.0.11:1"), a2 = net_add(n, "10.0.0.12:1"), a3 = net_add(n, "10.0.0.13:1");
  node *B = &n->nodes[b], *A1 = &n->nodes[a1], *A3 = &n->nodes[a3];
  connect_nodes(n, a1, b);
  connect_nodes(n, a2, b);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  n->record = 1;
  assert_int_equal(sw_core_dial(A3->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 6000); /* all 8 HELLOs */
  int hellos = 0;
  for (int k = 0; k < n->nseen; k++) {
    if (n->seen[k].from == a3 && n->seen[k].d[0] == WIRE_HELLO) hellos++;
    /* B never sends anything to A3 */
    assert_false(n->seen[k].from == b && addr_equal(&n->seen[k].to, &A3->addr));
  }
  assert_int_equal(hellos, 8);
  assert_int_equal(sw_core_peer_count(A3->c), 0);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 2);
  /* when a slot frees (A1 says goodbye), A3 gets in */
  assert_int_equal(sw_core_close(A1->c, n->now), SW_OK);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, A1->id, 8);
  assert_int_equal(sw_core_dial(A3->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 100);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  assert_true(has_peer(B, A3));
  assert_true(has_peer(A3, B));
  net_free(n);
}

static int drop_goaways(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)from;
  (void)to;
  if (len && (d[0] == WIRE_GOAWAY || d[0] == WIRE_SEALED)) {
    keep(n->stray, &n->nstray, 512, from, to, d, len);
    return 0;
  }
  return 1;
}

static void test_sealed_goaway(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->filter = drop_goaways;
  assert_int_equal(sw_core_close(A->c, n->now), SW_OK);
  assert_int_equal(sw_core_close(A->c, n->now), SW_OK); /* once only */
  pump(n);
  /* A said goodbye twice to B: sealed (our extension) and the 2-byte plain form */
  assert_int_equal(n->nstray, 2);
  const dgram *sealed = NULL, *plain = NULL;
  for (int k = 0; k < n->nstray; k++) {
    assert_true(addr_equal(&n->stray[k].to, &B->addr));
    if (n->stray[k].d[0] == WIRE_SEALED) sealed = &n->stray[k];
    if (n->stray[k].d[0] == WIRE_GOAWAY) plain = &n->stray[k];
  }
  assert_non_null(sealed);
  assert_non_null(plain);
  assert_int_equal(plain->len, WIRE_GOAWAY_LEN);
  assert_int_equal(sealed->len, 1 + 12 + 1 + CRYPTO_TAG_LEN);
  /* a tampered sealed GOAWAY is not honoured */
  uint8_t bad[64];
  memcpy(bad, sealed->d, sealed->len);
  bad[sealed->len - 1] ^= 0x40;
  inject(n, b, &A->addr, bad, sealed->len);
  memcpy(bad, sealed->d, sealed->len);
  bad[13] ^= 0x01; /* the inner type byte */
  inject(n, b, &A->addr, bad, sealed->len);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* the genuine one is, without the plain form */
  inject(n, b, &A->addr, sealed->d, sealed->len);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, A->id, 8);
  /* a closed core refuses writes and dials */
  assert_int_equal(sw_core_write(A->c, B->id, "x", 1, n->now), SW_ECLOSED);
  assert_int_equal(sw_core_broadcast(A->c, "x", 1, n->now), SW_ECLOSED);
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_ECLOSED);
  net_free(n);
}

static int capture_data(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  if (len && d[0] == WIRE_DATA) keep(n->stray, &n->nstray, 512, from, to, d, len);
  return 1;
}

static void test_replayed_data_rejected(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->filter = capture_data;
  assert_int_equal(sw_core_write(A->c, B->id, "once", 4, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(n->nstray, 1);
  /* replayed at once (within the restart window of the HELLO), then later, and from
   * another address: never delivered again, and refused before content dedup */
  sw_addr other;
  addr_parse_hostport(&other, "10.4.4.4:4");
  inject(n, b, &A->addr, n->stray[0].d, n->stray[0].len);
  advance(n, n->now + 15000);
  inject(n, b, &A->addr, n->stray[0].d, n->stray[0].len);
  inject(n, b, &other, n->stray[0].d, n->stray[0].len);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  sw_core_stats s = stats(B);
  assert_int_equal(s.rx_replay, 3);
  assert_int_equal(s.duplicates, 0);
  assert_int_equal(s.restarts, 0);
  /* the replay from elsewhere did not win the peer an address */
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  /* fresh frames still flow */
  assert_int_equal(sw_core_write(A->c, B->id, "twice", 5, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  /* the same content in a new frame is a duplicate by content (6.2) */
  assert_int_equal(sw_core_write(A->c, B->id, "once", 4, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_int_equal(stats(B).duplicates, 1);
  net_free(n);
}

static void test_reference_replay_and_restart(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.9.9.9:9", b);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_int_equal(info.reference, 1);
  /* the reference answers PINGs, so it stays alive across the next seconds */
  uint8_t frame[256];
  size_t fl = ref_data_frame(&r, frame, 0, 0, "first", 5);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  for (int s = 0; s < 12; s++) {
    advance(n, n->now + 1000);
    uint8_t pong[WIRE_PONG_LEN];
    wire_pong_encode(pong, r.id.id);
    inject(n, b, &r.addr, pong, sizeof pong);
  }
  /* long after its HELLO, a replay from the same address is refused */
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(stats(B).rx_replay, 1);
  /* the reference restarts (new process, same seed, same address): HELLO, then its
   * counter and sequence begin at 0 again; the session continues (D12) */
  ref_hello(n, &r, b, WIRE_HELLO);
  fl = ref_data_frame(&r, frame, 0, 0, "after restart", 13);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 1)->data, "after restart", 13);
  assert_int_equal(stats(B).restarts, 1);
  fl = ref_data_frame(&r, frame, 1, 1, "and on", 6);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  ref_free(&r);
  net_free(n);
}

/* Issue 11: a reference's frame captured mid-session and replayed once content dedup has
 * forgotten it (more than 10 minutes later), after a forged HELLO or from a forged
 * address, is not taken as a restart: its counter is far from 0, where a reference's
 * new session begins. One delivery only; a real restart still works afterwards. */
static void test_reference_midsession_replay(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.9.9.9:9", b);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  uint8_t frame[256], captured[256];
  size_t cl = 0;
  for (uint32_t k = 0; k < 300; k++) {
    char msg[16];
    int ml = snprintf(msg, sizeof msg, "m%u", (unsigned)k);
    size_t fl = ref_data_frame(&r, frame, k, k, msg, (size_t)ml);
    if (k == 280) {
      memcpy(captured, frame, fl);
      cl = fl;
    }
    inject(n, b, &r.addr, frame, fl);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 300);
  /* eleven minutes on, the reference alive (PONGs) and still talking now and then */
  uint8_t pong[WIRE_PONG_LEN];
  wire_pong_encode(pong, r.id.id);
  for (int s = 0; s < 660; s++) {
    advance(n, n->now + 1000);
    inject(n, b, &r.addr, pong, sizeof pong);
    if (s % 60 == 0) {
      uint32_t k = 300 + (uint32_t)s / 60;
      size_t fl = ref_data_frame(&r, frame, k, k, "later", 5 + (size_t)(s / 60) % 2);
      inject(n, b, &r.addr, frame, fl);
    }
  }
  int delivered = count_ev(B, SW_EV_DATA);
  uint64_t replays = stats(B).rx_replay;
  /* replayed as is, after a forged HELLO (restart evidence), and from another address */
  inject(n, b, &r.addr, captured, cl);
  ref_hello(n, &r, b, WIRE_HELLO);
  inject(n, b, &r.addr, captured, cl);
  sw_addr other = addr_of("10.4.4.4:4");
  inject(n, b, &other, captured, cl);
  advance(n, n->now + 1000); /* whatever a reorder buffer held is out by now */
  inject(n, b, &r.addr, pong, sizeof pong);
  assert_int_equal(count_ev(B, SW_EV_DATA), delivered);
  assert_int_equal(stats(B).rx_replay, replays + 3);
  assert_int_equal(stats(B).restarts, 0);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &r.addr));
  /* the session goes on, and a real restart (counter back at 0) is still followed */
  size_t fl = ref_data_frame(&r, frame, 400, 311, "on", 2);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), delivered + 1);
  ref_hello(n, &r, b, WIRE_HELLO);
  fl = ref_data_frame(&r, frame, 0, 0, "restarted", 9);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), delivered + 2);
  assert_int_equal(stats(B).restarts, 1);
  ref_free(&r);
  net_free(n);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "core hung on a DATA counter near 2^64\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(1);
}

static void test_counter_near_top(void **state) {
  (void)state;
  /* the sender chooses the counter; counters next to 2^64 must not hang the core */
  signal(SIGALRM, on_alarm);
  alarm(10);
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  uint8_t frame[64];
  size_t fl = ref_data_frame(&r, frame, UINT64_MAX - 3, 0, "m0", 2);
  inject(n, b, &r.addr, frame, fl);
  fl = ref_data_frame(&r, frame, UINT64_MAX, 1, "m1", 2);
  inject(n, b, &r.addr, frame, fl);
  fl = ref_data_frame(&r, frame, UINT64_MAX - 1, 2, "m2", 2);
  inject(n, b, &r.addr, frame, fl);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  alarm(0);
  ref_free(&r);
  net_free(n);
}

/* A crashes and comes back with the same seed on a new address; B, which kept the
 * old session, must take the new one in both directions. The new session's counter is
 * random (D4): below the old window (a rewind) or far above it (a jump), by rng seed. */
static int restart_once(uint64_t rng_seed) {
  static const char *seed_a = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  net *n = net_new();
  int a = net_add_cfg(n, seed_a, "10.0.0.1:1", NULL), b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  n->record = 1;
  connect_nodes(n, a, b);
  /* contents differ per direction: dedup is by content, own messages included */
  for (int k = 0; k < 10; k++) {
    char m[16];
    snprintf(m, sizeof m, "A before %d", k);
    assert_int_equal(sw_core_write(n->nodes[a].c, B->id, m, strlen(m), n->now), SW_OK);
    m[0] = 'B';
    assert_int_equal(sw_core_write(B->c, n->nodes[a].id, m, strlen(m), n->now), SW_OK);
  }
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 10);
  n->nodes[a].dead = 1;
  advance(n, n->now + 2000);
  int a2 = net_add_cfg(n, seed_a, "10.0.0.1:7", NULL);
  node *A2 = &n->nodes[a2];
  A2->rng.s = rng_seed; /* the new session's first counter comes from here */
  A2->greet = 6;        /* written at once from its CONNECTION callback */
  assert_memory_equal(A2->id, n->nodes[a].id, 20);
  connect_nodes(n, a2, b);
  assert_int_equal(count_ev(A2, SW_EV_CONNECTION), 1);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  for (int k = 0; k < 10; k++) {
    char m[16];
    snprintf(m, sizeof m, "A after %d", k);
    assert_int_equal(sw_core_write(A2->c, B->id, m, strlen(m), n->now), SW_OK);
    m[0] = 'B';
    assert_int_equal(sw_core_write(B->c, A2->id, m, strlen(m), n->now), SW_OK);
  }
  pump(n);
  advance(n, n->now + 200);
  /* everything arrived, in order, at both ends: the greetings too, though B held them
   * until A2 had answered its challenge (PROTOCOL.md 21.3) */
  assert_int_equal(count_ev(B, SW_EV_DATA), 26);
  assert_int_equal(count_ev(A2, SW_EV_DATA), 10);
  for (int k = 0; k < 6; k++) {
    char m[16];
    snprintf(m, sizeof m, "greet %d", k);
    assert_int_equal(nth_ev(B, SW_EV_DATA, 10 + k)->len, k % 2 ? 1500 : 16);
    assert_memory_equal(nth_ev(B, SW_EV_DATA, 10 + k)->data, m, strlen(m) + 1);
  }
  assert_int_equal(stats(B).held_dropped, 0);
  for (int k = 0; k < 10; k++) {
    char m[16];
    snprintf(m, sizeof m, "A after %d", k);
    assert_memory_equal(nth_ev(B, SW_EV_DATA, 16 + k)->data, m, strlen(m));
    m[0] = 'B';
    assert_memory_equal(nth_ev(A2, SW_EV_DATA, k)->data, m, strlen(m));
  }
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A2->addr));
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(stats(B).rx_replay, 0);
  /* which way the counter went: A's last counter against A2's first */
  uint64_t last_a = 0, first_a2 = 0;
  int have_a2 = 0;
  for (int k = 0; k < n->nseen; k++) {
    const dgram *g = &n->seen[k];
    if (g->d[0] != WIRE_DATA && g->d[0] != WIRE_SEALED) continue;
    if (g->from == a) last_a = wire_get64(g->d + 5);
    if (g->from == a2 && !have_a2) {
      first_a2 = wire_get64(g->d + 5);
      have_a2 = 1;
    }
  }
  assert_true(have_a2);
  assert_true(last_a != 0);
  net_free(n);
  return first_a2 > last_a;
}

static void test_libsetowire_restart(void **state) {
  (void)state;
  int up = 0, down = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    if (restart_once(seed))
      up++;
    else
      down++;
  }
  /* both a jump and a rewind were exercised */
  assert_true(up > 0);
  assert_true(down > 0);
}

static int record_data_from_0(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  if (from == 0 && len && d[0] == WIRE_DATA) keep(n->seen, &n->nseen, 512, from, to, d, len);
  return 1;
}

static const char *SEED_A = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_replayed_old_frame_challenged(void **state) {
  (void)state;
  /* Keys are static (D3): a frame recorded long ago still authenticates. Replayed from
   * an attacker's address, or from the peer's own with a HELLO forged in its name for
   * evidence, it looks like a restart. A libsetowire peer must prove a restart by
   * answering a challenge, which the attacker cannot do. */
  net *n = net_new();
  int a = net_add_cfg(n, SEED_A, "10.0.0.1:1", NULL), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->filter = record_data_from_0;
  assert_int_equal(sw_core_write(A->c, B->id, "recorded", 8, n->now), SW_OK);
  pump(n);
  n->filter = NULL;
  assert_int_equal(n->nseen, 1);
  const dgram *old = &n->seen[0];
  /* the session goes on, far past the replay window */
  for (int k = 0; k < 1100; k++) {
    char m[16];
    snprintf(m, sizeof m, "m%d", k);
    assert_int_equal(sw_core_write(A->c, B->id, m, strlen(m), n->now), SW_OK);
    if (k % 100 == 99) pump(n);
  }
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1101);
  advance(n, n->now + 15000);
  ref_peer ka; /* A's keys, to read what B sends in A's session */
  ref_init(&ka, SEED_A, "10.0.0.1:1", B);
  sw_addr evil = addr_of("10.6.6.6:6");
  uint8_t nonce[16];

  /* from the attacker's address: nothing moves, the attacker gets one challenge */
  clear_strays(n);
  inject(n, b, &evil, old->d, old->len);
  inject(n, b, &evil, old->d, old->len); /* held once, challenged once */
  pump(n);
  assert_int_equal(stats(B).restarts, 0);
  assert_true(best_is(B, &A->addr));
  assert_int_equal(count_ev(B, SW_EV_DATA), 1101);
  assert_int_equal(n->nstray, 1);
  assert_int_equal(sealed_to(n, &ka, &evil, SEALED_CHALLENGE, nonce), 1);
  /* A's session goes on untouched, both ways */
  assert_int_equal(sw_core_write(A->c, B->id, "still here", 10, n->now), SW_OK);
  assert_int_equal(sw_core_write(B->c, A->id, "to A", 4, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1102);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  assert_true(best_is(B, &A->addr));
  /* unanswered, the challenge and what it held are gone after 5 s */
  advance(n, n->now + 5000);
  assert_int_equal(stats(B).held_dropped, 1);
  assert_int_equal(stats(B).restarts, 0);

  /* from A's own address, with a HELLO in A's name (public bytes) sent by the attacker
   * for evidence: B challenges A's address, and the live A answers from the session B
   * already has, which says no restart happened there */
  clear_strays(n);
  uint8_t h[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t hl = wire_hello_encode(h, WIRE_HELLO, A->id, A->pub, WIRE_CAP_SEALED);
  inject(n, b, &evil, h, hl);
  inject(n, b, &A->addr, old->d, old->len);
  pump(n);
  assert_int_equal(stats(B).restarts, 0);
  assert_int_equal(stats(B).held_dropped, 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1102);
  assert_true(best_is(B, &A->addr));
  assert_int_equal(sealed_to(n, &ka, &evil, SEALED_CHALLENGE, nonce), 1); /* with the ACK */
  assert_int_equal(sw_core_write(A->c, B->id, "and on", 6, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1103);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  ref_free(&ka);
  net_free(n);
}

static void test_sealed_jump_without_evidence(void **state) {
  (void)state;
  /* From a libsetowire peer a counter more than 2^40 above the window is another
   * session. Without evidence of a restart it is an older session replayed: taken, it
   * would put the window past everything the live session sends. */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer s;
  sw_peer_connect(n, &s, SEED_R, "10.9.9.9:9", b);
  sw_peer_data(n, &s, b, &s.addr, 1000, 0, "j0", 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  advance(n, n->now + 15000);
  sw_peer_data(n, &s, b, &s.addr, 1000 + (1ull << 41), 7, "older", 5);
  assert_int_equal(stats(B).rx_replay, 1);
  sw_peer_data(n, &s, b, &s.addr, 1001, 1, "j1", 2);
  advance(n, n->now + 100);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 1)->data, "j1", 2);
  ref_free(&s);
  net_free(n);
}

static void test_restart_answer_must_match(void **state) {
  (void)state;
  /* A hand-driven libsetowire peer S restarts at a new address: B challenges it there,
   * and only the right nonce from that address proves the restart. */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer s;
  ref_init(&s, SEED_R, "10.9.9.9:9", B);
  sw_addr y0 = s.addr, y1 = addr_of("10.9.9.9:10"), y2 = addr_of("10.7.7.7:7");
  sw_peer_hello(n, &s, b, &y0);
  pump(n);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_int_equal(info.reference, 0);
  sw_peer_data(n, &s, b, &y0, 1ull << 50, 0, "s0", 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  advance(n, n->now + 15000);
  clear_strays(n);
  /* the new session's counter is below the window: held, and y1 challenged */
  sw_peer_data(n, &s, b, &y1, 7, 0, "r0", 2);
  pump(n);
  uint8_t nonce[16], got[16], wrong[16];
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_CHALLENGE, nonce), 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_true(best_is(B, &y0));
  /* a wrong nonce from y1, the right one from y2: both ignored, y2 not challenged */
  memcpy(wrong, nonce, 16);
  wrong[15] ^= 1;
  sw_peer_sealed(n, &s, b, &y1, 8, SEALED_RESPONSE, wrong, 16);
  sw_peer_sealed(n, &s, b, &y2, 9, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 0);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_true(best_is(B, &y0));
  assert_int_equal(sealed_to(n, &s, &y2, SEALED_CHALLENGE, got), 0);
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_CHALLENGE, got), 1);
  /* the right nonce from y1: the restart is taken, the held frame delivered */
  sw_peer_sealed(n, &s, b, &y1, 10, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(stats(B).held_dropped, 0);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 1)->data, "r0", 2);
  assert_true(best_is(B, &y1));
  sw_peer_data(n, &s, b, &y1, 11, 1, "r1", 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  /* the same answer again is just a frame of the session now */
  sw_peer_sealed(n, &s, b, &y1, 12, SEALED_RESPONSE, nonce, 16);
  assert_int_equal(stats(B).restarts, 1);
  /* B answers a challenge with the same bytes, to where it came from */
  clear_strays(n);
  uint8_t mine[16];
  memset(mine, 0xA5, sizeof mine);
  sw_peer_sealed(n, &s, b, &y1, 13, SEALED_CHALLENGE, mine, 16);
  pump(n);
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_RESPONSE, got), 1);
  assert_memory_equal(got, mine, 16);
  ref_free(&s);
  net_free(n);
}

static void test_restart_hold_bounds(void **state) {
  (void)state;
  /* While a challenge is out, at most 16 frames and 64 KiB are held per peer; the
   * rest is dropped and counted, and what is held goes when the challenge expires. */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer s;
  ref_init(&s, SEED_R, "10.9.9.9:9", B);
  sw_addr y0 = s.addr, y1 = addr_of("10.9.9.9:10"), y2 = addr_of("10.9.9.9:11");
  uint8_t nonce[16];
  sw_peer_hello(n, &s, b, &y0);
  pump(n);
  sw_peer_data(n, &s, b, &y0, 1ull << 50, 0, "s0", 2);
  advance(n, n->now + 15000);
  clear_strays(n);
  /* restart at y1: 20 frames before the answer, one of them twice (no room taken) */
  for (int k = 0; k < 20; k++) {
    char m[16];
    snprintf(m, sizeof m, "h%d", k);
    sw_peer_data(n, &s, b, &y1, 100 + (uint64_t)k, (uint32_t)k, m, strlen(m));
    if (k == 2) sw_peer_data(n, &s, b, &y1, 100 + (uint64_t)k, (uint32_t)k, m, strlen(m));
  }
  pump(n);
  assert_int_equal(stats(B).held_dropped, 4);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_CHALLENGE, nonce), 1);
  sw_peer_sealed(n, &s, b, &y1, 120, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 17);
  for (int k = 0; k < 16; k++) {
    char m[16];
    snprintf(m, sizeof m, "h%d", k);
    assert_int_equal(nth_ev(B, SW_EV_DATA, 1 + k)->len, strlen(m));
    assert_memory_equal(nth_ev(B, SW_EV_DATA, 1 + k)->data, m, strlen(m));
  }
  /* another restart, at y2 and far above: 10 frames of 8000 bytes, 8 fit in 64 KiB */
  uint8_t big[8000];
  memset(big, 'b', sizeof big);
  for (int k = 0; k < 10; k++)
    sw_peer_data(n, &s, b, &y2, (1ull << 45) + (uint64_t)k, (uint32_t)k, big, sizeof big);
  pump(n);
  assert_int_equal(stats(B).held_dropped, 4 + 2);
  assert_int_equal(sealed_to(n, &s, &y2, SEALED_CHALLENGE, nonce), 1);
  /* unanswered for 5 s: the 8 go, and the late answer proves nothing any more */
  advance(n, n->now + 5000);
  assert_int_equal(stats(B).held_dropped, 4 + 2 + 8);
  sw_peer_sealed(n, &s, b, &y2, (1ull << 45) + 10, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 17);
  assert_true(best_is(B, &y1));
  /* Closed, the engine still wakes every GUARD_ASK_MS for what the guard holds for y2
   * (never proven), until GUARD_HELD_MS has passed; then the challenge's expiry is the
   * only deadline, and frames still held when the core is freed are freed with it. */
  assert_int_equal(sw_core_close(B->c, n->now), SW_OK);
  assert_true(sw_core_deadline(B->c) == n->now + 250);
  advance(n, n->now + 10000);
  assert_true(sw_core_deadline(B->c) == UINT64_MAX);
  sw_peer_data(n, &s, b, &y2, (1ull << 45) + 20, 20, "late", 4);
  assert_true(sw_core_deadline(B->c) == n->now + 5000);
  ref_free(&s);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_one_way),
      cmocka_unit_test(test_handshake_both_ways),
      cmocka_unit_test(test_hello_exchange_vector),
      cmocka_unit_test(test_hello_id_key_mismatch_ignored),
      cmocka_unit_test(test_hello_from_self_ignored),
      cmocka_unit_test(test_low_order_key_ignored),
      cmocka_unit_test(test_max_peers_refuses_without_ack),
      cmocka_unit_test(test_sealed_goaway),
      cmocka_unit_test(test_replayed_data_rejected),
      cmocka_unit_test(test_reference_replay_and_restart),
      cmocka_unit_test(test_reference_midsession_replay),
      cmocka_unit_test(test_counter_near_top),
      cmocka_unit_test(test_libsetowire_restart),
      cmocka_unit_test(test_replayed_old_frame_challenged),
      cmocka_unit_test(test_sealed_jump_without_evidence),
      cmocka_unit_test(test_restart_answer_must_match),
      cmocka_unit_test(test_restart_hold_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
