/* Birthday punching (src/core/birthday.c, PROTOCOL.md 15.6 and 21.5) over simulated NATs,
 * driven directly (the introduction that starts it in practice: test_sim_natpairs):
 * - the roles: only a symmetric side facing a restricted or port-restricted cone sprays;
 * - a symmetric side and a port-restricted side that cannot punch otherwise meet directly
 *   in most seeds, the hard side on one of its probe sockets;
 * - the bounds: 256 probe sockets and 1024 probes at most, one spray per peer, one per
 *   30 s in all; the probe sockets close after the window except the session's, and that
 *   one when the session ends (no socket leak);
 * - without probe sockets from the runtime the module does not run. */
#include <string.h>

#include "birthday.h"
#include "core_internal.h"
#include "engine.h"
#include "natclass.h"
#include "simnet.h"
#include "testutil.h"

#define SEEDS 20

static int probes_on = 1;

static void config(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  (void)ctx;
  (void)net;
  (void)node;
  cfg->intro = 1;
  cfg->probe_sockets = probes_on;
}

static void test_roles(void **state) {
  (void)state;
  assert_int_equal(birthday_role(NAT_TYPE_SYMMETRIC, NAT_TYPE_RESTRICTED_CONE), BDAY_HARD);
  assert_int_equal(birthday_role(NAT_TYPE_RESTRICTED_CONE, NAT_TYPE_SYMMETRIC), BDAY_EASY);
  for (int a = 0; a <= NAT_TYPE_SYMMETRIC; a++)
    for (int b = 0; b <= NAT_TYPE_SYMMETRIC; b++) {
      int pair = (a == NAT_TYPE_SYMMETRIC && b == NAT_TYPE_RESTRICTED_CONE) ||
                 (b == NAT_TYPE_SYMMETRIC && a == NAT_TYPE_RESTRICTED_CONE);
      if (!pair) assert_int_equal(birthday_role(a, b), BDAY_NONE);
    }
}

typedef struct world {
  simnet *net;
  int hard, easy, stun;
  sw_addr easy_pub, hard_ip;
} world;

static void world_init(world *w, uint64_t seed) {
  w->net = simnet_new(seed);
  assert_non_null(w->net);
  sim_link l = {.loss = 0.01, .delay_ms = 20};
  simnet_set_default_link(w->net, &l);
  simnet_set_config(w->net, config, NULL);
  w->hard = simnet_add_node_behind(w->net, NULL, simnet_add_nat_type(w->net, SIM_NAT_SYMMETRIC), 0);
  w->easy = simnet_add_node_behind(w->net, NULL,
                                   simnet_add_nat_type(w->net, SIM_NAT_PORT_RESTRICTED), 0);
  assert_true(w->hard >= 0 && w->easy >= 0);
  /* The easy side's mapping, as a rendezvous would have seen it. */
  w->stun = simnet_add_endpoint(w->net, -1, 0, NULL, NULL);
  const sw_addr *ep = simnet_endpoint_addr(w->net, w->stun);
  assert_int_equal(simnet_send_raw(w->net, w->easy, SW_SOCK_MAIN, ep, "x", 1), SW_OK);
  assert_int_equal(simnet_nat_mapped(w->net, w->easy, SW_SOCK_MAIN, ep, &w->easy_pub), 1);
  w->hard_ip = *simnet_nat_public(w->net, simnet_node_nat(w->net, w->hard));
}

static int met(simnet *net, void *ctx) {
  world *w = ctx;
  return core_connected(simnet_core(net, w->hard), simnet_id(net, w->easy)) &&
         core_connected(simnet_core(net, w->easy), simnet_id(net, w->hard));
}

static void schedule_both(world *w) {
  uint64_t now = simnet_now(w->net);
  assert_int_equal(birthday_schedule(simnet_core(w->net, w->hard), simnet_id(w->net, w->easy),
                                     &w->easy_pub, BDAY_HARD, now),
                   SW_OK);
  assert_int_equal(birthday_schedule(simnet_core(w->net, w->easy), simnet_id(w->net, w->hard),
                                     &w->hard_ip, BDAY_EASY, now),
                   SW_OK);
  /* at most one spray per peer */
  assert_int_equal(birthday_schedule(simnet_core(w->net, w->hard), simnet_id(w->net, w->easy),
                                     &w->easy_pub, BDAY_HARD, now),
                   SW_EFULL);
  simnet_kick(w->net, w->hard);
  simnet_kick(w->net, w->easy);
}

/* The probe sockets the engine's peers have direct paths on: the ones it must keep. */
static unsigned probe_socks_in_paths(const sw_core *c) {
  unsigned char on[SW_CORE_PROBE_MAX + 1] = {0};
  unsigned n = 0;
  for (size_t k = 0; k < c->peers_hi; k++) {
    const core_peer *p = &c->peers[k];
    for (int i = 0; p->used && i < p->npaths; i++) {
      const core_path *path = &p->paths[i].p;
      if (!path->relayed && path->sock && !on[path->sock]++) n++;
    }
  }
  return n;
}

static void test_spray_connects_and_bounds(void **state) {
  (void)state;
  int ok = 0, several = 0;
  for (uint64_t seed = 1; seed <= SEEDS; seed++) {
    world w;
    world_init(&w, seed);
    simnet *net = w.net;
    /* Alone, the hard side's HELLOs die in the easy side's filter: nothing opens. */
    uint64_t t0 = simnet_now(net);
    schedule_both(&w);
    int hit = simnet_run_until_cond(net, t0 + 4000, met, &w);
    birthday_stats hs, es;
    assert_int_equal(birthday_get_stats(simnet_core(net, w.hard), &hs), SW_OK);
    assert_int_equal(birthday_get_stats(simnet_core(net, w.easy), &es), SW_OK);
    /* The hard side opened its sockets, no more. */
    assert_int_equal(hs.started, 1);
    assert_int_equal(hs.hellos, BDAY_SOCKETS);
    assert_int_equal(simnet_node_stats(net, w.hard)->probes_opened, BDAY_SOCKETS);
    assert_int_equal(simnet_node_stats(net, w.easy)->probes_opened, 0);
    assert_true(es.hellos <= BDAY_PROBES);
    if (hit) {
      ok++;
      /* direct: each side reaches the other's NAT */
      sw_core_peer_info info;
      assert_int_equal(sw_core_peers(simnet_core(net, w.easy), &info, 1), 1);
      assert_memory_equal(info.addr.ip, w.hard_ip.ip, sizeof w.hard_ip.ip);
      /* the easy side stopped at the first session */
      simnet_run_until(net, simnet_now(net) + 2000);
      assert_int_equal(birthday_get_stats(simnet_core(net, w.easy), &es), SW_OK);
      assert_true(es.hellos < BDAY_PROBES || es.connected == 0);
    }
    /* After the window exactly the sockets a session has paths on are left (two probes
     * can land before the first session stops the spray: a peer keeps MAX_PATHS) ... */
    simnet_run_until(net, t0 + BDAY_DELAY_MS + BDAY_HOLD_MS + 2500);
    int live = core_connected(simnet_core(net, w.hard), simnet_id(net, w.easy));
    unsigned left = simnet_probe_sockets(net, w.hard);
    unsigned in_paths = probe_socks_in_paths(simnet_core(net, w.hard));
    SIM_ASSERT(net, live ? left >= 1 && left <= MAX_PATHS && left == in_paths : left == 0,
               "%u probe sockets left open, %u with a path (session: %d)", left, in_paths,
               live);
    several += left > 1;
    /* ... and it closes when the session ends. */
    if (live) {
      assert_int_equal(simnet_close(net, w.easy), SW_OK);
      simnet_run_until(net, simnet_now(net) + 2500);
      SIM_ASSERT(net, !core_connected(simnet_core(net, w.hard), simnet_id(net, w.easy)),
                 "the session outlived the goodbye");
      SIM_ASSERT(net, simnet_probe_sockets(net, w.hard) == 0, "%u probe sockets leaked",
                 simnet_probe_sockets(net, w.hard));
    }
    SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
    simnet_free(net);
  }
  /* 1 - (1 - 256/64512)^1024 is about 98 %; 1 % loss per hop costs a little more. */
  assert_true(ok * 100 >= SEEDS * 85);
  printf("figure: birthday: symmetric x port-restricted, driven directly: %d of %d met, "
         "%d keeping more than one probe socket\n", ok, SEEDS, several);
}

/* One spray per BDAY_PERIOD_MS in all: a second peer right after is skipped. */
static void test_global_rate(void **state) {
  (void)state;
  world w;
  world_init(&w, 99);
  simnet *net = w.net;
  sw_core *hard = simnet_core(net, w.hard);
  uint8_t other[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  sw_addr somewhere;
  addr_parse_hostport(&somewhere, "10.0.77.77:4000");
  uint64_t now = simnet_now(net);
  assert_int_equal(birthday_schedule(hard, simnet_id(net, w.easy), &w.easy_pub, BDAY_HARD, now),
                   SW_OK);
  assert_int_equal(birthday_schedule(hard, other, &somewhere, BDAY_HARD, now + 100), SW_OK);
  assert_int_equal(birthday_schedule(hard, other, &somewhere, BDAY_NONE, now), SW_EINVAL);
  simnet_kick(net, w.hard);
  simnet_run_until(net, now + 3000);
  birthday_stats st;
  assert_int_equal(birthday_get_stats(hard, &st), SW_OK);
  assert_int_equal(st.scheduled, 2);
  assert_int_equal(st.started, 1);
  assert_int_equal(st.skipped, 1);
  assert_int_equal(st.hellos, BDAY_SOCKETS);
  assert_int_equal(simnet_node_stats(net, w.hard)->probes_opened, BDAY_SOCKETS);
  /* nobody answered: every probe socket closes after the window */
  simnet_run_until(net, now + BDAY_DELAY_MS + BDAY_HOLD_MS + 2500);
  assert_int_equal(simnet_probe_sockets(net, w.hard), 0);
  simnet_free(net);
}

/* Without probe sockets from the runtime there is no module, and nothing is asked. */
static void test_off_without_probe_sockets(void **state) {
  (void)state;
  probes_on = 0;
  world w;
  world_init(&w, 5);
  birthday_stats st;
  assert_int_equal(birthday_get_stats(simnet_core(w.net, w.hard), &st), SW_EINVAL);
  assert_int_equal(birthday_schedule(simnet_core(w.net, w.hard), simnet_id(w.net, w.easy),
                                     &w.easy_pub, BDAY_HARD, simnet_now(w.net)),
                   SW_EINVAL);
  assert_int_equal(sw_core_probe_wanted(simnet_core(w.net, w.hard), 1), 0);
  assert_int_equal(sw_core_probe_wanted(simnet_core(w.net, w.hard), 0), 0);
  assert_int_equal(sw_core_probe_wanted(simnet_core(w.net, w.hard), SW_CORE_PROBE_MAX + 1), 0);
  /* a probe index out of range is dropped, not read */
  static const uint8_t junk[4] = {0x01, 0x02, 0x03, 0x04};
  sw_core_probe_datagram(simnet_core(w.net, w.hard), 0, &w.hard_ip, junk, sizeof junk, 0);
  sw_core_probe_datagram(simnet_core(w.net, w.hard), 9999, &w.hard_ip, junk, sizeof junk, 0);
  simnet_free(w.net);
  probes_on = 1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roles),
      cmocka_unit_test(test_spray_connects_and_bounds),
      cmocka_unit_test(test_global_rate),
      cmocka_unit_test(test_off_without_probe_sockets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
