/* Introductions (src/core/intro.c, PROTOCOL.md 15.6) over simulated NATs: two peers
 * behind address-and-port-restricted NATs, both connected to a public peer R, meet
 * directly when one of them learns the other's public address: alone its HELLOs die in
 * the other's filter, introduced through R both sides punch at once. A request lost on
 * the way is asked again (INTRO_TRIES in all, INTRO_RETRY_MS apart), only while not
 * connected, and only once per target window. Also: R forwards only requests made in the
 * sender's own name, and nothing from unverified sources. */
#include <string.h>

#include "core_internal.h"
#include "intro.h"
#include "simnet.h"
#include "testutil.h"
#include "wire.h"

static int intro_on = 1;

/* As the runtime does: the LAN address a request claims when no public one is known. */
static void config(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  static char ip[8][64];
  (void)ctx;
  cfg->intro = intro_on;
  if (node < 8 && addr_format_ip(simnet_addr(net, node), ip[node], sizeof ip[node]) > 0) {
    cfg->lan_ip = ip[node];
    cfg->port = simnet_addr(net, node)->port;
  }
}

typedef struct world {
  simnet *net;
  int r, a, b;
} world;

static void world_init(world *w, uint64_t seed, sim_nat_type nat) {
  w->net = simnet_new(seed);
  simnet_set_config(w->net, config, NULL);
  w->r = simnet_add_node_behind(w->net, "c3", -1, 0);
  w->a = simnet_add_node_behind(w->net, "a1", simnet_add_nat_type(w->net, nat), 0);
  w->b = simnet_add_node_behind(w->net, "b2", simnet_add_nat_type(w->net, nat), 0);
  /* both know R's public address and connect to it */
  assert_int_equal(simnet_dial(w->net, w->a, w->r), SW_OK);
  assert_int_equal(simnet_dial(w->net, w->b, w->r), SW_OK);
  simnet_run_until(w->net, simnet_now(w->net) + 3000);
  assert_int_equal(sw_core_peer_count(simnet_core(w->net, w->r)), 2);
}

static int connected(simnet *net, void *ctx) {
  world *w = ctx;
  return core_connected(simnet_core(net, w->a), simnet_id(net, w->b)) &&
         core_connected(simnet_core(net, w->b), simnet_id(net, w->a));
}

/* A learns B's public address (what a rendezvous would tell it) and meets it. */
static int a_meets_b(world *w) {
  sw_addr b_pub;
  assert_int_equal(simnet_nat_mapped(w->net, w->b, SW_SOCK_MAIN, simnet_addr(w->net, w->r),
                                     &b_pub),
                   1);
  int rc = core_meet(simnet_core(w->net, w->a), &b_pub, simnet_id(w->net, w->b),
                     simnet_now(w->net));
  simnet_kick(w->net, w->a); /* send what the meet queued now, not at A's next timer */
  return rc;
}

static void test_introduced_punch(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    world w;
    intro_on = 1;
    world_init(&w, seed, SIM_NAT_PORT_RESTRICTED);
    uint64_t t0 = simnet_now(w.net);
    assert_int_equal(a_meets_b(&w), SW_OK);
    if (!simnet_run_until_cond(w.net, t0 + 5000, connected, &w))
      fail_msg("seed %llu: not connected", (unsigned long long)seed);
    /* direct: B reaches A at A's public mapping, not through R */
    sw_core_peer_info info[4];
    size_t n = sw_core_peers(simnet_core(w.net, w.b), info, 4);
    int direct = 0;
    for (size_t i = 0; i < n && i < 4; i++)
      if (memcmp(info[i].wire_id, simnet_id(w.net, w.a), 8) == 0)
        direct = !addr_equal(&info[i].addr, simnet_addr(w.net, w.r));
    assert_true(direct);
    intro_stats st;
    assert_int_equal(intro_get_stats(simnet_core(w.net, w.r), &st), SW_OK);
    assert_true(st.forwards_sent >= 1);
    assert_int_equal(intro_get_stats(simnet_core(w.net, w.b), &st), SW_OK);
    assert_true(st.dials >= 1);
    /* connected within one round trip of the first request: nothing asked again */
    assert_int_equal(intro_get_stats(simnet_core(w.net, w.a), &st), SW_OK);
    assert_int_equal(st.retries, 0);
    assert_true(st.requests_sent >= 1);
    simnet_free(w.net);
  }
}

/* The first RELAY_REQ is lost (A's link to R is cut as A meets B): the second, 500 ms
 * later, gets B to dial, and the two connect directly. */
static void test_lost_request_asked_again(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    world w;
    intro_on = 1;
    world_init(&w, seed, SIM_NAT_PORT_RESTRICTED);
    uint64_t t0 = simnet_now(w.net);
    simnet_partition(w.net, w.a, w.r, 1);
    assert_int_equal(a_meets_b(&w), SW_OK);
    simnet_run_until(w.net, t0 + 200);
    simnet_partition(w.net, w.a, w.r, 0);
    intro_stats st;
    assert_int_equal(intro_get_stats(simnet_core(w.net, w.r), &st), SW_OK);
    assert_int_equal(st.requests_in, 0);
    if (!simnet_run_until_cond(w.net, t0 + 5000, connected, &w))
      fail_msg("seed %llu: not connected", (unsigned long long)seed);
    assert_true(simnet_now(w.net) >= t0 + INTRO_RETRY_MS);
    assert_int_equal(intro_get_stats(simnet_core(w.net, w.a), &st), SW_OK);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.requests_sent, 2);
    assert_int_equal(intro_get_stats(simnet_core(w.net, w.r), &st), SW_OK);
    assert_int_equal(st.forwards_sent, 1);
    simnet_free(w.net);
  }
}

/* With R unreachable, A asks INTRO_TRIES times INTRO_RETRY_MS apart, then stops; a new
 * meet of the same target within INTRO_TARGET_MS starts no new round. */
static void test_retries_bounded(void **state) {
  (void)state;
  world w;
  intro_on = 1;
  world_init(&w, 3, SIM_NAT_PORT_RESTRICTED);
  sw_core *a = simnet_core(w.net, w.a);
  uint64_t t0 = simnet_now(w.net);
  simnet_partition(w.net, w.a, w.r, 1);
  assert_int_equal(a_meets_b(&w), SW_OK);
  intro_stats st;
  simnet_run_until(w.net, t0 + INTRO_RETRY_MS - 1);
  intro_get_stats(a, &st);
  assert_int_equal(st.requests_sent, 1);
  simnet_run_until(w.net, t0 + INTRO_RETRY_MS);
  intro_get_stats(a, &st);
  assert_int_equal(st.requests_sent, 2);
  simnet_run_until(w.net, t0 + 4000);
  intro_get_stats(a, &st);
  assert_int_equal(st.requests_sent, INTRO_TRIES);
  assert_int_equal(st.retries, INTRO_TRIES - 1);
  /* the meet gate may dial again; the introduction waits for its window */
  a_meets_b(&w);
  simnet_run_until(w.net, t0 + 6000);
  intro_get_stats(a, &st);
  assert_int_equal(st.requests_sent, INTRO_TRIES);
  assert_false(connected(w.net, &w));
  simnet_free(w.net);
}

/* The control: the same meet without introductions does not get through. */
static void test_without_intro_fails(void **state) {
  (void)state;
  world w;
  intro_on = 0;
  world_init(&w, 4, SIM_NAT_PORT_RESTRICTED);
  assert_int_equal(a_meets_b(&w), SW_OK);
  assert_false(simnet_run_until_cond(w.net, simnet_now(w.net) + 8000, connected, &w));
  intro_on = 1;
  simnet_free(w.net);
}

/* R refuses a request made in someone else's name, and anything from a stranger. */
static void test_relay_rules(void **state) {
  (void)state;
  world w;
  intro_on = 1;
  world_init(&w, 7, SIM_NAT_FULL_CONE);
  sw_core *r = simnet_core(w.net, w.r);
  intro_msg req = {.type = WIRE_RELAY_REQ};
  memcpy(req.requester, simnet_id(w.net, w.b), 8); /* B's name ... */
  memcpy(req.target, simnet_id(w.net, w.b), 8);
  addr_parse_hostport(&req.addr, "10.9.9.9:9");
  uint8_t frame[INTRO_FRAME_MAX];
  size_t n = intro_encode(frame, &req);
  assert_true(n > 0);
  /* ... sent by A: refused */
  assert_int_equal(core_send_ctrl(simnet_core(w.net, w.a), simnet_id(w.net, w.r), frame, n),
                   SW_OK);
  simnet_run_until(w.net, simnet_now(w.net) + 500);
  intro_stats st;
  intro_get_stats(r, &st);
  assert_int_equal(st.forwards_sent, 0);
  assert_true(st.refused >= 1);
  /* from an address that proved nothing: refused before decoding */
  uint64_t refused = st.refused;
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.0.99.99:99");
  sw_core_datagram(r, SW_SOCK_MAIN, &stranger, frame, n, simnet_now(w.net));
  intro_get_stats(r, &st);
  assert_int_equal(st.refused, refused + 1);
  /* the codec refuses what does not add up */
  intro_msg m;
  assert_int_equal(intro_decode(frame, n, &m), SW_OK);
  assert_int_equal(intro_decode(frame, n - 1, &m), SW_EINVAL);
  assert_int_equal(m.nat, INTRO_NAT_NONE);
  /* our NAT byte after the reference fields: read when known, ignored when not, and
   * nothing more may follow */
  req.nat = 4;
  uint8_t with[INTRO_FRAME_MAX + 1];
  size_t nw = intro_encode(with, &req);
  assert_int_equal(nw, n + 1);
  assert_int_equal(intro_decode(with, nw, &m), SW_OK);
  assert_int_equal(m.nat, 4);
  with[nw - 1] = 99;
  assert_int_equal(intro_decode(with, nw, &m), SW_OK);
  assert_int_equal(m.nat, INTRO_NAT_NONE);
  with[nw] = 4;
  assert_int_equal(intro_decode(with, nw + 1, &m), SW_EINVAL);
  frame[17] = 200;
  assert_int_equal(intro_decode(frame, n, &m), SW_EINVAL);
  simnet_free(w.net);
}

/* R's forward budget grows with the peers it serves (INTRO_FWD_PEER_*): a rendezvous gets
 * one introduction request per meet its own PEX round causes, PEX_MAX from each peer at
 * once. With two peers R forwards a burst of INTRO_FWD_BURST + 2 x INTRO_FWD_PEER_BURST
 * (the old fixed budget was INTRO_FWD_BURST), and no more. */
static void test_forward_budget(void **state) {
  (void)state;
  world w;
  intro_on = 1;
  world_init(&w, 9, SIM_NAT_FULL_CONE);
  simnet_run_until(w.net, simnet_now(w.net) + 10000); /* the bucket fills up */
  sw_core *r = simnet_core(w.net, w.r);
  intro_stats before, after;
  intro_get_stats(r, &before);
  intro_msg req = {.type = WIRE_RELAY_REQ};
  memcpy(req.requester, simnet_id(w.net, w.a), 8);
  memcpy(req.target, simnet_id(w.net, w.b), 8);
  addr_parse_hostport(&req.addr, "10.9.9.9:9");
  uint8_t frame[INTRO_FRAME_MAX];
  size_t n = intro_encode(frame, &req);
  assert_true(n > 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(
        core_send_ctrl(simnet_core(w.net, w.a), simnet_id(w.net, w.r), frame, n), SW_OK);
  simnet_kick(w.net, w.a);
  simnet_run_until(w.net, simnet_now(w.net) + 100);
  intro_get_stats(r, &after);
  uint64_t fwd = after.forwards_sent - before.forwards_sent;
  uint64_t cap = INTRO_FWD_BURST + 2 * INTRO_FWD_PEER_BURST;
  assert_int_equal(after.requests_in - before.requests_in, 100);
  assert_true(fwd >= cap - 1 && fwd <= cap + 2);
  simnet_free(w.net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_introduced_punch),
      cmocka_unit_test(test_lost_request_asked_again),
      cmocka_unit_test(test_retries_bounded),
      cmocka_unit_test(test_without_intro_fails),
      cmocka_unit_test(test_relay_rules),
      cmocka_unit_test(test_forward_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
