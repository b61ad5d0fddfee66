/* Relayed -> direct upgrade (src/core/upgrade.c, PROTOCOL.md 15.8) over simulated NATs:
 * A behind a full-cone NAT and B behind a port-restricted one connect through an open
 * relay R while every direct datagram between them is lost (a cut link: the punch is
 * impossible). The first timed open fails; once the cut is lifted, the retry 30 s later
 * gets through, the traffic moves to the direct path, both applications hear the path
 * event, and R forwards nothing more. A second case keeps the cut: the attempts stop
 * after the fourth and the pair stays relayed, still talking. */
#include <string.h>

#include "core_internal.h"
#include "pubaddr.h"
#include "relay.h"
#include "simnet.h"
#include "testutil.h"
#include "upgrade.h"

typedef struct world {
  simnet *net;
  int r, a, b;
  int direct_events[3], relayed_events[3];
} world;

static int relay_node = 0;

static void config(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  static char ip[8][64];
  (void)ctx;
  cfg->relayed = 1;
  cfg->relay_serve = node == relay_node;
  if (node < 8 && addr_format_ip(simnet_addr(net, node), ip[node], sizeof ip[node]) > 0) {
    cfg->lan_ip = ip[node];
    cfg->port = simnet_addr(net, node)->port;
  }
}

static void hook(void *ctx, simnet *net, int node, const sw_event *ev) {
  world *w = ctx;
  (void)net;
  if (ev->type != SW_EV_PATH || node > 2) return;
  if (ev->via) w->relayed_events[node]++;
  else w->direct_events[node]++;
}

/* What STUN would have told a node behind an endpoint-independent mapping. */
static void learn_public(world *w, int i) {
  sw_addr pub;
  assert_int_equal(simnet_nat_mapped(w->net, i, SW_SOCK_MAIN, simnet_addr(w->net, w->r), &pub),
                   1);
  core_learn_public_addr(simnet_core(w->net, i), &pub, PUBADDR_SRC_STUN, simnet_now(w->net));
}

static void world_init(world *w, uint64_t seed) {
  memset(w, 0, sizeof *w);
  w->net = simnet_new(seed);
  simnet_set_config(w->net, config, NULL);
  simnet_set_hook(w->net, hook, w);
  w->r = simnet_add_node_behind(w->net, "c3", -1, 0);
  w->a = simnet_add_node_behind(w->net, "a1", simnet_add_nat_type(w->net, SIM_NAT_FULL_CONE), 0);
  w->b = simnet_add_node_behind(w->net, "b2",
                                simnet_add_nat_type(w->net, SIM_NAT_PORT_RESTRICTED), 0);
  assert_int_equal(w->r, relay_node);
  simnet_partition(w->net, w->a, w->b, 1);
  assert_int_equal(simnet_dial(w->net, w->a, w->r), SW_OK);
  assert_int_equal(simnet_dial(w->net, w->b, w->r), SW_OK);
  simnet_run_until(w->net, simnet_now(w->net) + 2000);
  assert_int_equal(sw_core_peer_count(simnet_core(w->net, w->r)), 2);
  learn_public(w, w->a);
  learn_public(w, w->b);
  /* A meets B's public address: the punch dies on the cut, the relay takes over */
  sw_addr b_pub;
  assert_int_equal(simnet_nat_mapped(w->net, w->b, SW_SOCK_MAIN, simnet_addr(w->net, w->r),
                                     &b_pub),
                   1);
  assert_int_equal(core_meet(simnet_core(w->net, w->a), &b_pub, simnet_id(w->net, w->b),
                             simnet_now(w->net)),
                   SW_OK);
}

static int peer_relayed(world *w, int at, int who) {
  sw_core_peer_info all[8];
  size_t n = sw_core_peers(simnet_core(w->net, at), all, 8);
  for (size_t k = 0; k < n && k < 8; k++)
    if (memcmp(all[k].wire_id, simnet_id(w->net, who), 8) == 0) return all[k].relayed;
  return -1;
}

static int relayed_both(simnet *net, void *ctx) {
  world *w = ctx;
  (void)net;
  return peer_relayed(w, w->a, w->b) == 1 && peer_relayed(w, w->b, w->a) == 1;
}

static int direct_both(simnet *net, void *ctx) {
  world *w = ctx;
  (void)net;
  return peer_relayed(w, w->a, w->b) == 0 && peer_relayed(w, w->b, w->a) == 0;
}

static relay_stats rstats(world *w) {
  relay_stats st;
  assert_int_equal(relay_get_stats(simnet_core(w->net, w->r), &st, NULL), SW_OK);
  return st;
}

static upgrade_stats ustats(world *w, int i) {
  upgrade_stats st;
  assert_int_equal(upgrade_get_stats(simnet_core(w->net, i), &st), SW_OK);
  return st;
}

static void test_upgrade_when_punch_becomes_possible(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    world w;
    world_init(&w, seed);
    uint64_t t0 = simnet_now(w.net);
    if (!simnet_run_until_cond(w.net, t0 + 10000, relayed_both, &w))
      fail_msg("seed %llu: no relayed session", (unsigned long long)seed);
    /* the first attempt ran and failed on the cut */
    simnet_run_until(w.net, t0 + 15000);
    uint64_t tries = ustats(&w, w.a).connects_sent + ustats(&w, w.b).connects_sent;
    assert_int_equal(tries, 1);
    assert_true(relayed_both(w.net, &w));
    /* messages go both ways over the relay meanwhile */
    assert_int_equal(simnet_write(w.net, w.a, w.b, "via R", 5), SW_OK);
    simnet_run_until(w.net, t0 + 16000);
    assert_true(rstats(&w).forwarded > 0);

    simnet_partition(w.net, w.a, w.b, 0); /* the punch is possible now */
    if (!simnet_run_until_cond(w.net, t0 + 60000, direct_both, &w))
      fail_msg("seed %llu: still relayed after the retry", (unsigned long long)seed);
    assert_int_equal(ustats(&w, w.a).connects_sent + ustats(&w, w.b).connects_sent, 2);
    assert_true(w.direct_events[w.a] >= 1 && w.direct_events[w.b] >= 1);
    /* the relay carries nothing more */
    simnet_run_until(w.net, simnet_now(w.net) + 2000);
    relay_stats before = rstats(&w);
    for (int i = 0; i < 5; i++) {
      assert_int_equal(simnet_write(w.net, w.a, w.b, "direct", 6), SW_OK);
      assert_int_equal(simnet_write(w.net, w.b, w.a, "direct", 6), SW_OK);
      simnet_run_until(w.net, simnet_now(w.net) + 1000);
    }
    simnet_run_until(w.net, simnet_now(w.net) + 60000);
    relay_stats after = rstats(&w);
    assert_int_equal(after.forwarded_bytes, before.forwarded_bytes);
    assert_true(direct_both(w.net, &w));
    simnet_free(w.net);
  }
}

static void test_attempts_stop(void **state) {
  (void)state;
  world w;
  world_init(&w, 9);
  uint64_t t0 = simnet_now(w.net);
  assert_true(simnet_run_until_cond(w.net, t0 + 10000, relayed_both, &w));
  simnet_run_until(w.net, t0 + 20 * 60000);
  int ini = ustats(&w, w.a).connects_sent ? w.a : w.b;
  assert_int_equal(ustats(&w, ini).connects_sent, UPGRADE_ATTEMPTS);
  assert_int_equal(ustats(&w, w.a).fired + ustats(&w, w.b).fired, 2 * UPGRADE_ATTEMPTS);
  assert_true(relayed_both(w.net, &w));
  /* still talking through R */
  relay_stats before = rstats(&w);
  assert_int_equal(simnet_write(w.net, w.a, w.b, "still here", 10), SW_OK);
  simnet_run_until(w.net, simnet_now(w.net) + 1000);
  assert_true(rstats(&w).forwarded > before.forwarded);
  simnet_free(w.net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_upgrade_when_punch_becomes_possible),
      cmocka_unit_test(test_attempts_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
