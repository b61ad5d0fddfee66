/* Peer lifecycle through the engine in virtual time: an abandoned dial reports
 * SW_EV_DIAL_FAILED with its address and reason after the configured attempts, a retry
 * can still connect, a silent peer is dropped after the configured timeout, and every
 * disconnect path says why (sw_event.reason). */
#include <string.h>

#include "core_internal.h"
#include "corenet.h"
#include "testutil.h"
#include "wire.h"

/* HELLOs that left for `a` (outside the net, or to a dead node). */
static int hellos_to(const net *n, const sw_addr *a) { return strays_to(n, a, WIRE_HELLO); }

static void test_dial_failed_default_timing(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1");
  node *A = &n->nodes[a];
  sw_addr nowhere = addr_of("10.9.9.9:9");
  uint64_t t0 = n->now;
  assert_int_equal(sw_core_dial(A->c, &nowhere, NULL, n->now), SW_OK);
  advance(n, t0 + 5399);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 0);
  advance(n, t0 + 5400);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 1); /* today's 5.4 s, now said */
  const ev *e = nth_ev(A, SW_EV_DIAL_FAILED, 0);
  assert_string_equal(e->addr, "10.9.9.9:9");
  assert_int_equal(e->reason, SW_REASON_TIMEOUT);
  assert_int_equal(e->at, t0 + 5400);
  assert_false(e->has_topic);
  assert_int_equal(hellos_to(n, &nowhere), 8);
  advance(n, t0 + 60000);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 1);
  assert_int_equal(hellos_to(n, &nowhere), 8);
  net_free(n);
}

static sw_core_config persistent(void) {
  sw_core_config cfg = {0};
  cfg.dial_timeout_ms = 1000;
  cfg.dial_retries = 2;
  cfg.dial_retry_ms = 500;
  return cfg;
}

static void test_dial_retries_backoff(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config cfg = persistent();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg);
  node *A = &n->nodes[a];
  sw_addr nowhere = addr_of("10.9.9.9:9");
  uint64_t t0 = n->now;
  assert_int_equal(sw_core_dial(A->c, &nowhere, NULL, n->now), SW_OK);
  /* attempt 1: 0..1000 (HELLOs at 0, 300, 600, 900) */
  advance(n, t0 + 1000);
  assert_int_equal(hellos_to(n, &nowhere), 4);
  /* wait 500, attempt 2: 1500..2500 */
  advance(n, t0 + 1499);
  assert_int_equal(hellos_to(n, &nowhere), 4);
  advance(n, t0 + 2500);
  assert_int_equal(hellos_to(n, &nowhere), 8);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 0);
  /* wait 1000 (doubled), attempt 3: 3500..4500, then the dial is over */
  advance(n, t0 + 3499);
  assert_int_equal(hellos_to(n, &nowhere), 8);
  advance(n, t0 + 4499);
  assert_int_equal(hellos_to(n, &nowhere), 12);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 0);
  advance(n, t0 + 4500);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 1);
  assert_int_equal(nth_ev(A, SW_EV_DIAL_FAILED, 0)->reason, SW_REASON_TIMEOUT);
  assert_int_equal(nth_ev(A, SW_EV_DIAL_FAILED, 0)->at, t0 + 4500);
  net_free(n);
}

static void test_retry_connects(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config cfg = persistent();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  B->dead = 1; /* not up yet */
  uint64_t t0 = n->now;
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, t0 + 1200);
  B->dead = 0; /* comes up between attempts: the second attempt reaches it */
  advance(n, t0 + 2000);
  assert_true(has_peer(A, B));
  advance(n, t0 + 10000);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 0);
  net_free(n);
}

static void test_dial_failed_icmp_and_table_full(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config cfg = {0};
  cfg.max_peers = 1;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg), b = net_add(n, "10.0.0.2:2"),
      c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *C = &n->nodes[c];
  sw_addr refused = addr_of("10.9.9.1:1"), unreach = addr_of("10.9.9.2:2");
  uint64_t t0 = n->now;
  /* ICMP: the runtime's report ends the attempt at once */
  assert_int_equal(sw_core_dial(A->c, &refused, NULL, n->now), SW_OK);
  assert_int_equal(sw_core_dial(A->c, &unreach, NULL, n->now), SW_OK);
  sw_core_unreachable(A->c, &refused, 1, n->now + 5);
  sw_core_unreachable(A->c, &unreach, 0, n->now + 5);
  sw_core_unreachable(A->c, &refused, 1, n->now + 5); /* no dial left: ignored */
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 2);
  assert_string_equal(nth_ev(A, SW_EV_DIAL_FAILED, 0)->addr, "10.9.9.1:1");
  assert_int_equal(nth_ev(A, SW_EV_DIAL_FAILED, 0)->reason, SW_REASON_REFUSED);
  assert_string_equal(nth_ev(A, SW_EV_DIAL_FAILED, 1)->addr, "10.9.9.2:2");
  assert_int_equal(nth_ev(A, SW_EV_DIAL_FAILED, 1)->reason, SW_REASON_UNREACHABLE);
  /* our peer table is full: C answers but cannot be taken */
  connect_nodes(n, a, b);
  assert_int_equal(sw_core_dial(A->c, &C->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 5400);
  assert_int_equal(count_ev(A, SW_EV_DIAL_FAILED), 3);
  assert_int_equal(nth_ev(A, SW_EV_DIAL_FAILED, 2)->reason, SW_REASON_TABLE_FULL);
  assert_string_equal(nth_ev(A, SW_EV_DIAL_FAILED, 2)->addr, "10.0.0.3:3");
  (void)t0;
  net_free(n);
}

static void test_silent_peer_timeout(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config cfg = {0};
  cfg.peer_timeout_ms = 3000;
  cfg.keepalive_ms = 250;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  advance(n, n->now + 10000); /* alive: kept far past the timeout */
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 0);
  uint64_t killed = n->now;
  B->dead = 1; /* killed: silent from now on */
  advance(n, killed + 3000 + 250 + 1000);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 1);
  const ev *e = nth_ev(A, SW_EV_DISCONNECT, 0);
  assert_int_equal(e->reason, SW_REASON_TIMEOUT);
  assert_memory_equal(e->peer, B->id, 8);
  /* within the timeout and one heartbeat (B was last heard at most 1 s before) */
  assert_true(e->at > killed + 3000 - 1000 && e->at <= killed + 3000 + 250);
  net_free(n);
}

static void test_default_peer_timeout(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  uint64_t killed = n->now;
  B->dead = 1;
  advance(n, killed + 58000);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 0); /* today's 60 s */
  advance(n, killed + 62000);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 1);
  assert_int_equal(nth_ev(A, SW_EV_DISCONNECT, 0)->reason, SW_REASON_TIMEOUT);
  net_free(n);
}

static void disconnect_reasons(int xsession) {
  net *n = net_new();
  sw_core_config cfg = {0};
  cfg.xsession = xsession;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg), b = net_add_cfg(n, NULL, "10.0.0.2:2", &cfg),
      c = net_add_cfg(n, NULL, "10.0.0.3:3", &cfg);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  connect_nodes(n, a, c);
  /* goodbye: B closes (sealed GOAWAY between our peers) */
  assert_int_equal(sw_core_close(B->c, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 1);
  assert_int_equal(nth_ev(A, SW_EV_DISCONNECT, 0)->reason, SW_REASON_GOODBYE);
  assert_memory_equal(nth_ev(A, SW_EV_DISCONNECT, 0)->peer, B->id, 8);
  /* closed: A drops what is left as its runtime does when closing */
  sw_core_drop_peers(A->c, SW_REASON_CLOSED);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 2);
  assert_int_equal(nth_ev(A, SW_EV_DISCONNECT, 1)->reason, SW_REASON_CLOSED);
  assert_int_equal(sw_core_peer_count(A->c), 0);
  net_free(n);
}

static void test_disconnect_reasons(void **state) {
  (void)state;
  disconnect_reasons(0);
}

static void test_disconnect_reasons_extended(void **state) {
  (void)state;
  disconnect_reasons(1);
}

/* A reference peer R at 10.0.0.9:9 says HELLO to node a, one DATA (which verifies its
 * address, D7), then a plain GOAWAY. */
static void ref_says_goodbye(net *n, ref_peer *r, int a) {
  ref_init(r, SEED_R, "10.0.0.9:9", &n->nodes[a]);
  ref_hello(n, r, a, WIRE_HELLO);
  ref_send(n, r, a, "hi", 2);
  static const uint8_t g[2] = {WIRE_GOAWAY, 0};
  inject(n, a, &r->addr, g, sizeof g);
}

static void test_reference_goodbye(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1");
  node *A = &n->nodes[a];
  ref_peer r;
  ref_says_goodbye(n, &r, a);
  /* a plain GOAWAY is a hint (PROTOCOL.md 10, D7): the reference stays silent after
   * it, so the liveness check ends the session, with the goodbye as its reason */
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 0);
  advance(n, n->now + 2000 + 1000 + 1); /* GOAWAY_CHECK_MS + the heartbeat */
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 1);
  assert_int_equal(nth_ev(A, SW_EV_DISCONNECT, 0)->reason, SW_REASON_GOODBYE);
  ref_free(&r);
  net_free(n);
}

/* The same goodbye with a peer timeout shorter than the goodbye's check (a program that
 * sets peer_timeout_ms to 1 s): the silent peer is dropped by the timeout first, and the
 * reason is still the goodbye it said (setowire-cat's lifecycle test saw "timeout"). */
static void test_reference_goodbye_short_timeout(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config cfg = {0};
  cfg.peer_timeout_ms = 1000;
  cfg.keepalive_ms = 200;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg);
  node *A = &n->nodes[a];
  ref_peer r;
  ref_says_goodbye(n, &r, a);
  advance(n, n->now + 2000 + 1000 + 1);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT), 1);
  assert_int_equal(nth_ev(A, SW_EV_DISCONNECT, 0)->reason, SW_REASON_GOODBYE);
  ref_free(&r);
  net_free(n);
}

static void test_topic_on_connection(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  uint8_t topic[32], other[32];
  memset(topic, 0x7a, 32);
  memset(other, 0x11, 32);
  sw_addr nowhere = addr_of("10.9.9.9:9");
  assert_int_equal(core_meet_topic(A->c, &B->addr, B->id, topic, n->now), SW_OK);
  assert_int_equal(core_meet_topic(A->c, &B->addr, B->id, other, n->now), SW_OK); /* first kept */
  assert_int_equal(core_meet_topic(A->c, &nowhere, NULL, topic, n->now), SW_OK);
  advance(n, n->now + 6000);
  const ev *e = nth_ev(A, SW_EV_CONNECTION, 0);
  assert_non_null(e);
  assert_true(e->has_topic);
  assert_memory_equal(e->topic, topic, 32);
  /* the answering side did not dial: no topic */
  assert_false(nth_ev(B, SW_EV_CONNECTION, 0)->has_topic);
  e = nth_ev(A, SW_EV_DIAL_FAILED, 0);
  assert_non_null(e);
  assert_true(e->has_topic);
  assert_memory_equal(e->topic, topic, 32);
  /* a plain dial names none */
  int c = net_add(n, "10.0.0.3:3");
  assert_int_equal(sw_core_dial(A->c, &n->nodes[c].addr, NULL, n->now), SW_OK);
  advance(n, n->now + 100);
  assert_false(nth_ev(A, SW_EV_CONNECTION, 1)->has_topic);
  net_free(n);
}

/* ---- a goodbye said at any moment of a session's start ----------------------------- */

static int g_pass;       /* datagrams the net still delivers; then it holds them */
static dgram g_held[64];
static int g_nheld;

static int hold_after(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n;
  if (g_pass > 0) {
    g_pass--;
    return 1;
  }
  keep(g_held, &g_nheld, 64, from, to, d, len);
  return 0;
}

/* The peer that closes after k datagrams of the opening (the rest still in flight: those
 * it sent arrive, those sent to it are lost with it). Returns the other side's verdict:
 * 0 when either side had not reported the connection (a peer that closes before it
 * knew of the other has nobody to say goodbye to), else the other side's disconnect
 * reason (-1: none). */
static int close_after(int xsession, int dialler_closes, int greet, int k) {
  net *n = net_new();
  sw_core_config cfg = {0};
  cfg.xsession = xsession;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg), b = net_add_cfg(n, NULL, "10.0.0.2:2", &cfg);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  node *closer = dialler_closes ? A : B, *other = dialler_closes ? B : A;
  int ci = dialler_closes ? a : b;
  closer->greet = greet; /* messages written on its connection: they use up the budget of
                          * an address still proving itself, and wait in its guard */
  g_pass = k;
  g_nheld = 0;
  n->filter = hold_after;
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 20);
  n->filter = NULL;
  for (int i = 0; i < g_nheld; i++) {
    if (g_held[i].from == ci) inject(n, ci == a ? b : a, &closer->addr, g_held[i].d, g_held[i].len);
    free(g_held[i].d);
  }
  assert_int_equal(sw_core_close(closer->c, n->now), SW_OK);
  /* the runtime's drain: running until nothing waits to leave, 2 s at most */
  for (uint64_t end = n->now + 2000; n->now < end && sw_core_out_pending(closer->c);)
    advance(n, n->now + 10);
  pump(n);
  closer->dead = 1;
  advance(n, n->now + 120000);
  int verdict = 0;
  if (count_ev(closer, SW_EV_CONNECTION) && count_ev(other, SW_EV_CONNECTION)) {
    verdict = count_ev(other, SW_EV_DISCONNECT) ? nth_ev(other, SW_EV_DISCONNECT, 0)->reason : -1;
    /* what it wrote on the connection arrived, before its goodbye */
    if (count_ev(other, SW_EV_DATA) != greet) verdict = -2;
  }
  net_free(n);
  return verdict;
}

static void test_goodbye_at_any_moment(void **state) {
  (void)state;
  int bad = 0;
  for (int xs = 0; xs <= 1; xs++)
    for (int dc = 0; dc <= 1; dc++)
      for (int greet = 0; greet <= 4; greet += 4)
        for (int k = 0; k <= 64; k++) {
          int v = close_after(xs, dc, greet, k);
          if (v != 0 && v != SW_REASON_GOODBYE) {
            print_message("xsession %d, %s (greet %d) closes after %d datagrams: reason %d\n",
                          xs, dc ? "dialler" : "answerer", greet, k, v);
            bad++;
          }
        }
  assert_int_equal(bad, 0);
}

static void test_reason_names(void **state) {
  (void)state;
  assert_string_equal(sw_reason_str(SW_REASON_GOODBYE), "goodbye");
  assert_string_equal(sw_reason_str(SW_REASON_TIMEOUT), "timeout");
  assert_string_equal(sw_reason_str(SW_REASON_REPLACED), "replaced");
  assert_string_equal(sw_reason_str(SW_REASON_REFUSED), "refused");
  assert_string_equal(sw_reason_str(SW_REASON_ERROR), "error");
  assert_string_equal(sw_reason_str(SW_REASON_CLOSED), "closed");
  assert_string_equal(sw_reason_str(SW_REASON_UNREACHABLE), "unreachable");
  assert_string_equal(sw_reason_str(SW_REASON_TABLE_FULL), "table_full");
  assert_string_equal(sw_reason_str(999), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dial_failed_default_timing),
      cmocka_unit_test(test_dial_retries_backoff),
      cmocka_unit_test(test_retry_connects),
      cmocka_unit_test(test_dial_failed_icmp_and_table_full),
      cmocka_unit_test(test_silent_peer_timeout),
      cmocka_unit_test(test_reference_goodbye_short_timeout),
      cmocka_unit_test(test_default_peer_timeout),
      cmocka_unit_test(test_disconnect_reasons),
      cmocka_unit_test(test_disconnect_reasons_extended),
      cmocka_unit_test(test_reference_goodbye),
      cmocka_unit_test(test_topic_on_connection),
      cmocka_unit_test(test_goodbye_at_any_moment),
      cmocka_unit_test(test_reason_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
