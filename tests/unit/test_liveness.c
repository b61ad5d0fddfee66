/* Liveness: PING/PONG from known addresses only (D19, D8), the plain GOAWAY (the
 * references' 1-byte form dropped, the 2-byte form a hint from a verified address that
 * drops the peer only when it does not answer a PING, D7), and a silent peer dropped
 * after 60 s while a live one is kept. */
#include "corenet.h"
#include "corenet_ref.h"
#include "testutil.h"
#include "wire.h"

/* engine.h's (it cannot be included beside corenet.h) */
#define GOAWAY_CHECK_MS 2000
#define HEARTBEAT_MS 1000

static void test_ping_rules(void **state) {
  (void)state;
  /* D19: a PING from an address that is not a known peer's gets no PONG, even when it
   * carries a connected peer's id (D8) */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  assert_int_equal(sw_core_out_pending(B->c), 0);
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.5.5.5:5");
  uint8_t ping[WIRE_PING_LEN];
  wire_ping_encode(ping, 1700000000123ull, A->id);
  inject(n, b, &stranger, ping, sizeof ping);
  static const uint8_t tiny[2] = {WIRE_PING, 0};
  inject(n, b, &stranger, tiny, sizeof tiny);
  assert_int_equal(sw_core_out_pending(B->c), 0);
  pump(n);
  assert_int_equal(n->nstray, 0);
  /* from the peer's own address: a PONG with our full id, exactly the reference frame */
  inject(n, b, &A->addr, ping, sizeof ping);
  sw_dgram d[2];
  assert_int_equal(sw_core_out_peek(B->c, d, 2), 1);
  uint8_t pong[WIRE_PONG_LEN];
  wire_pong_encode(pong, B->id);
  assert_int_equal(d[0].len, WIRE_PONG_LEN);
  assert_memory_equal(d[0].data, pong, WIRE_PONG_LEN);
  assert_true(addr_equal(d[0].to, &A->addr));
  sw_core_out_consume(B->c, 1, n->now);
  /* any length >= 2 from a known address is a PING (the references ignore the body) */
  inject(n, b, &A->addr, tiny, sizeof tiny);
  assert_int_equal(sw_core_out_pending(B->c), 1);
  pump(n);
  /* a PONG from a stranger carrying A's id adds no address (D8) */
  uint8_t pong_a[WIRE_PONG_LEN];
  wire_pong_encode(pong_a, A->id);
  inject(n, b, &stranger, pong_a, sizeof pong_a);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  advance(n, n->now + 3000);
  assert_int_equal(n->nstray, 0); /* B's PINGs still go to A only */
  net_free(n);
}

static void test_goaway_rules(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  /* the references' 1-byte GOAWAY is dropped, alone or inside a BATCH (10) */
  static const uint8_t g1[1] = {WIRE_GOAWAY};
  static const uint8_t gb[] = {WIRE_BATCH, 1, 0, 1, WIRE_GOAWAY};
  inject(n, b, &A->addr, g1, 1);
  inject(n, b, &A->addr, gb, sizeof gb);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* a 2-byte GOAWAY from a stranger's address does nothing */
  static const uint8_t g2[2] = {WIRE_GOAWAY, 0};
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.5.5.5:5");
  inject(n, b, &stranger, g2, 2);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* from a libsetowire peer's verified address it is a hint: B pings A, A answers,
   * A stays (ours say goodbye sealed) */
  inject(n, b, &A->addr, g2, 2);
  advance(n, n->now + 2 * GOAWAY_CHECK_MS + HEARTBEAT_MS);
  assert_int_equal(sw_core_peer_count(B->c), 1);

  /* a reference peer R: its address is not verified until authenticated DATA */
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.9.9.9:9", b);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  inject(n, b, &r.addr, g2, 2); /* D7: unverified address, ignored */
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_PING), 0);
  ref_send(n, &r, b, "proof", 5);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  inject(n, b, &r.addr, g1, 1); /* still 1 byte: still ignored */
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_PING), 0);
  /* verified now: a PING at once, not a drop */
  inject(n, b, &r.addr, g2, 2);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  assert_int_equal(strays_to(n, &r.addr, WIRE_PING), 1);
  /* R is alive (the GOAWAY was forged): it answers 10 ms later, and stays */
  uint8_t pong[WIRE_PONG_LEN];
  wire_pong_encode(pong, r.id.id);
  advance(n, n->now + 10);
  inject(n, b, &r.addr, pong, sizeof pong);
  advance(n, n->now + GOAWAY_CHECK_MS + HEARTBEAT_MS);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 0);
  /* a GOAWAY flood costs one PING per check, not one per GOAWAY */
  clear_strays(n);
  for (int k = 0; k < 50; k++) inject(n, b, &r.addr, g2, 2);
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_PING), 1);
  /* R really left: no answer, dropped once the check is over, well before 60 s */
  advance(n, n->now + GOAWAY_CHECK_MS + HEARTBEAT_MS);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, r.id.id, 8);
  assert_true(has_peer(B, A));
  ref_free(&r);
  net_free(n);
}

/* Between our peers, with the extended session off and on: a forged plain GOAWAY never
 * drops a live peer; the plain one alone (its sealed one lost) drops a gone peer in
 * seconds rather than after the 60 s timeout. */
static void goaway_between_ours(int xsession) {
  net *n = net_new();
  sw_core_config cfg = {.xsession = xsession};
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg), b = net_add_cfg(n, NULL, "10.0.0.2:2", &cfg);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  advance(n, n->now + 2000);
  assert_true(has_peer(B, A));
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(B->c, &info, 1), 1);
  assert_int_equal(info.extended, xsession); /* the session under test is the one asked */
  static const uint8_t g2[2] = {WIRE_GOAWAY, 0};
  for (int k = 0; k < 5; k++) {
    inject(n, b, &A->addr, g2, 2);
    advance(n, n->now + GOAWAY_CHECK_MS + HEARTBEAT_MS);
  }
  assert_true(has_peer(B, A));
  assert_true(has_peer(A, B));
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 0);
  /* messages still flow both ways */
  assert_int_equal(sw_core_write(A->c, B->id, "still", 5, n->now), SW_OK);
  assert_int_equal(sw_core_write(B->c, A->id, "here", 4, n->now), SW_OK);
  advance(n, n->now + 500);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  assert_int_equal(sw_core_peers(B->c, &info, 1), 1);
  assert_int_equal(info.extended, xsession);
  /* A crashes; only its plain GOAWAY reaches B */
  A->dead = 1;
  inject(n, b, &A->addr, g2, 2);
  advance(n, n->now + GOAWAY_CHECK_MS + HEARTBEAT_MS + 1);
  assert_false(has_peer(B, A));
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  net_free(n);
}

static void test_goaway_hint_plain(void **state) {
  (void)state;
  goaway_between_ours(0);
}

static void test_goaway_hint_extended(void **state) {
  (void)state;
  goaway_between_ours(1);
}

static void test_peer_timeout(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.9.9.9:9", b);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  /* R stays silent: dropped after 60 s (9.4); A answers PINGs: kept */
  advance(n, n->now + 59000);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  advance(n, n->now + 3000);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, r.id.id, 8);
  assert_true(has_peer(B, A));
  assert_true(has_peer(A, B));
  /* B asked R's unvalidated address with PINGs, no more than the 3x rule allows for
   * R's one HELLO (docs/THREATS.md "Main socket"): HELLO_ACK and two PINGs */
  assert_int_equal(strays_to(n, &r.addr, WIRE_HELLO_ACK), 1);
  assert_true(strays_to(n, &r.addr, WIRE_PING) >= 1);
  assert_true(strays_to(n, &r.addr, WIRE_PING) <= 2);
  ref_free(&r);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ping_rules),
      cmocka_unit_test(test_goaway_rules),
      cmocka_unit_test(test_goaway_hint_plain),
      cmocka_unit_test(test_goaway_hint_extended),
      cmocka_unit_test(test_peer_timeout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
