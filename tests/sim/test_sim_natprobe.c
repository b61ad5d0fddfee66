/* The NAT module (src/core/nat.c) behind every simulated NAT type: the public address it
 * reports is the mapping the NAT really made toward the STUN server, the label is the
 * one the NAT's behaviour deserves (RFC 4787 / RFC 5780 probes against a simulated
 * RFC 5780 server on two IPs and two ports, answered by stunsrv.c), the address reaches
 * the address service every publisher reads, a server that never answers costs a
 * bounded number of requests, and datagrams that only look like STUN still reach the
 * frame registry. Deterministic from the seed. */
#include <stdio.h>
#include <string.h>

#include "core_internal.h"
#include "nat.h"
#include "simnet.h"
#include "simstun.h"
#include "testutil.h"

typedef struct seen {
  int nat_events;
  char addr[SW_ADDRSTRLEN];
  char type[32];
} seen;

static void hook(void *ctx, simnet *net, int node, const sw_event *ev) {
  seen *s = ctx;
  (void)net;
  (void)node;
  if (ev->type != SW_EV_NAT) return;
  s->nat_events++;
  snprintf(s->addr, sizeof s->addr, "%s", ev->addr);
  snprintf(s->type, sizeof s->type, "%s", ev->nat_type);
}

/* The node's LAN address, as the runtime would give it, so that "open" can be told. */
static void config(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  static char ip[8][64];
  (void)ctx;
  cfg->nat = 1;
  if (node < 8 && addr_format_ip(simnet_addr(net, node), ip[node], sizeof ip[node]) > 0) {
    cfg->lan_ip = ip[node];
    cfg->port = simnet_addr(net, node)->port;
  }
}

static const char *expected(sim_nat_type t) {
  switch (t) {
    case SIM_NAT_OPEN: return "open";
    case SIM_NAT_FULL_CONE: return "full_cone";
    case SIM_NAT_RESTRICTED_CONE:
    case SIM_NAT_PORT_RESTRICTED: return "restricted_cone";
    default: return "symmetric";
  }
}

static void test_each_nat_type(void **state) {
  (void)state;
  for (int t = 0; t < SIM_NAT_TYPE_COUNT; t++) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
      simnet *net = simnet_new(seed);
      seen s = {0};
      simstun srv;
      simstun_init(&srv, net);
      simnet_set_config(net, config, NULL);
      simnet_set_hook(net, hook, &s);
      int nat = simnet_add_nat_type(net, (sim_nat_type)t);
      int node = simnet_add_node_behind(net, "a1", nat, 0);
      assert_true(node >= 0);
      sw_core *c = simnet_core(net, node);
      sw_addr primary = stunsrv_socket(&srv.cfg, 0, 0);
      assert_int_equal(sw_core_add_stun_server(c, &primary, simnet_now(net)), SW_OK);
      simnet_kick(net, node);
      simnet_run_until(net, 10000);
      if (s.nat_events != 1)
        fail_msg("%s seed %llu: %d nat events", simnet_nat_type_name((sim_nat_type)t),
                 (unsigned long long)seed, s.nat_events);
      if (strcmp(s.type, expected((sim_nat_type)t)) != 0)
        fail_msg("%s seed %llu: reported %s", simnet_nat_type_name((sim_nat_type)t),
                 (unsigned long long)seed, s.type);
      /* the address is the NAT's real mapping toward the server */
      sw_addr mapped;
      char want[SW_ADDRSTRLEN];
      assert_int_equal(simnet_nat_mapped(net, node, SW_SOCK_MAIN, &primary, &mapped), 1);
      addr_format(&mapped, want, sizeof want);
      assert_string_equal(s.addr, want);
      /* and every publisher reads it: IP and mapped port */
      const sw_addr *pub = core_public_addr(c, 4);
      assert_non_null(pub);
      assert_true(addr_equal(pub, &mapped));
      simnet_free(net);
    }
  }
}

/* Nothing answers: no event, and the requests stay few (rounds back off to 60 s). */
static void test_silent_server(void **state) {
  (void)state;
  simnet *net = simnet_new(3);
  seen s = {0};
  simstun srv;
  simstun_init(&srv, net);
  srv.silent = 1;
  simnet_set_config(net, config, NULL);
  simnet_set_hook(net, hook, &s);
  int node = simnet_add_node_behind(net, "a1", simnet_add_nat_type(net, SIM_NAT_FULL_CONE), 0);
  sw_addr primary = stunsrv_socket(&srv.cfg, 0, 0);
  assert_int_equal(sw_core_add_stun_server(simnet_core(net, node), &primary, 0), SW_OK);
  simnet_kick(net, node);
  simnet_run_until(net, 300000);
  assert_int_equal(s.nat_events, 0);
  nat_stats st;
  assert_true(nat_get(simnet_core(net, node), NULL, NULL, &st));
  /* 3 s, 6, 12, 24, 48, 60, 60...: about ten rounds in five minutes, 3 requests each */
  assert_true(st.rounds >= 5 && st.rounds <= 12);
  assert_true(st.requests <= 3 * st.rounds);
  assert_int_equal(st.answers, 0);
  assert_int_equal(simnet_endpoint_stats(net, srv.ep[0][0])->rx, st.requests);
  simnet_free(net);
}

/* The address a second node sees when a NAT re-maps us: the module follows. */
static void test_refresh_follows_remapping(void **state) {
  (void)state;
  simnet *net = simnet_new(9);
  seen s = {0};
  simstun srv;
  simstun_init(&srv, net);
  simnet_set_config(net, config, NULL);
  simnet_set_hook(net, hook, &s);
  sim_nat_config nc;
  simnet_nat_preset(&nc, SIM_NAT_PORT_RESTRICTED);
  nc.ports = SIM_NAT_PORT_RANDOM;
  nc.timeout_ms = nc.timeout_bidir_ms = 20000; /* shorter than the refresh: re-mapped */
  int node = simnet_add_node_behind(net, "a1", simnet_add_nat(net, &nc), 0);
  sw_addr primary = stunsrv_socket(&srv.cfg, 0, 0);
  assert_int_equal(sw_core_add_stun_server(simnet_core(net, node), &primary, 0), SW_OK);
  simnet_kick(net, node);
  simnet_run_until(net, 10000);
  assert_int_equal(s.nat_events, 1);
  char first[SW_ADDRSTRLEN];
  snprintf(first, sizeof first, "%s", s.addr);
  /* quiet past the mapping's life, then the refresh meets a new mapping */
  simnet_run_until(net, 10000 + NAT_REFRESH_MS + 10000);
  assert_int_equal(s.nat_events, 2);
  assert_string_not_equal(first, s.addr);
  simnet_free(net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_nat_type),
      cmocka_unit_test(test_silent_server),
      cmocka_unit_test(test_refresh_follows_remapping),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
