/* The simulator's NAT models (simnet.h, RFC 4787 terms), checked with raw datagrams
 * between nodes' sockets and public endpoints: what a remote sees as the source, which
 * unsolicited datagrams pass, mapping expiry and refresh in virtual time, hairpinning,
 * LANs behind one NAT, the bound on mappings, port preservation.
 *
 * Then a first measurement with today's engine: two cores behind every pair of NAT
 * types learn each other's public address from a rendezvous endpoint (the source of a
 * datagram each sent it, what STUN or the DHT would report) and dial each other at about
 * the same time. The "figure: nat-pair" table gives the success rate and the time to
 * connect; only what holds by construction is asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simnet.h"

#define SEC 1000ull

static const uint8_t PROBE[] = {0xEE, 'p', 'r', 'o', 'b', 'e'}; /* no frame of the core */

/* ---- helpers ------------------------------------------------------------------ */

static void check_healthy(simnet *net) {
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
  SIM_ASSERT(net, simnet_get_stats(net)->overflow == 0, "in-flight bound reached");
}

/* Node n's main socket sends a probe to endpoint e; returns the source e saw. */
static sw_addr seen_by(simnet *net, int n, int e) {
  uint64_t before = simnet_endpoint_stats(net, e)->rx;
  assert_int_equal(simnet_send_raw(net, n, SW_SOCK_MAIN, simnet_endpoint_addr(net, e), PROBE,
                                   sizeof PROBE),
                   SW_OK);
  simnet_run_until(net, simnet_now(net) + 100);
  SIM_ASSERT(net, simnet_endpoint_stats(net, e)->rx == before + 1,
             "endpoint %d got nothing from node %d", e, n);
  return simnet_endpoint_stats(net, e)->last_from;
}

/* Endpoint e sends a probe to `to`; returns 1 if node n received it (from e's address). */
static int reaches(simnet *net, int e, const sw_addr *to, int n) {
  uint64_t before = simnet_node_stats(net, n)->rx_datagrams;
  simnet_endpoint_send(net, e, to, PROBE, sizeof PROBE);
  simnet_run_until(net, simnet_now(net) + 100);
  if (simnet_node_stats(net, n)->rx_datagrams == before) return 0;
  SIM_ASSERT(net, simnet_node_stats(net, n)->rx_datagrams == before + 1, "two copies");
  SIM_ASSERT(net, addr_equal(&simnet_node_stats(net, n)->last_rx_from,
                             simnet_endpoint_addr(net, e)),
             "inbound source rewritten");
  return 1;
}

static int same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, sizeof a->ip) == 0;
}

static uint16_t next_port(uint16_t p) { return p == 65535 ? 1024 : (uint16_t)(p + 1); }

/* A net with one node behind a NAT of `type` (or open) and endpoints e1 and e1b (same
 * host, other port) and e2 (another host). */
typedef struct world {
  simnet *net;
  int nat, node, e1, e1b, e2;
} world;

static world world_new(uint64_t seed, const sim_nat_config *cfg, sim_nat_type type) {
  world w;
  w.net = simnet_new(seed);
  assert_non_null(w.net);
  w.nat = cfg ? simnet_add_nat(w.net, cfg) : simnet_add_nat_type(w.net, type);
  if (cfg || type != SIM_NAT_OPEN) assert_true(w.nat >= 0);
  w.node = simnet_add_node_behind(w.net, NULL, w.nat, 0);
  assert_true(w.node >= 0);
  w.e1 = simnet_add_endpoint(w.net, -1, 0, NULL, NULL);
  w.e1b = simnet_add_endpoint(w.net, w.e1, 3479, NULL, NULL);
  w.e2 = simnet_add_endpoint(w.net, -1, 0, NULL, NULL);
  assert_true(w.e1 >= 0 && w.e1b >= 0 && w.e2 >= 0);
  assert_true(same_ip(simnet_endpoint_addr(w.net, w.e1), simnet_endpoint_addr(w.net, w.e1b)));
  assert_false(same_ip(simnet_endpoint_addr(w.net, w.e1), simnet_endpoint_addr(w.net, w.e2)));
  return w;
}

/* ---- mapping behaviour ---------------------------------------------------------- */

static void test_mapping(void **state) {
  (void)state;
  for (int t = 0; t < SIM_NAT_TYPE_COUNT + 1; t++) {
    sim_nat_config ad; /* not a preset: address-dependent mapping, open filter */
    simnet_nat_preset(&ad, SIM_NAT_FULL_CONE);
    ad.mapping = SIM_NAT_AD;
    int custom = t == SIM_NAT_TYPE_COUNT;
    world w = world_new(7 + (uint64_t)t, custom ? &ad : NULL, (sim_nat_type)t);
    simnet *net = w.net;
    const sw_addr *own = simnet_addr(net, w.node);
    sw_addr s1 = seen_by(net, w.node, w.e1), s1b = seen_by(net, w.node, w.e1b),
            s2 = seen_by(net, w.node, w.e2);
    /* a second datagram on the same path uses the same mapping */
    sw_addr again = seen_by(net, w.node, w.e1);
    SIM_ASSERT(net, addr_equal(&again, &s1), "type %d: the mapping changed", t);
    if (t == SIM_NAT_OPEN) {
      SIM_ASSERT(net, simnet_node_nat(net, w.node) == -1, "open node behind a NAT");
      SIM_ASSERT(net, addr_equal(&s1, own) && addr_equal(&s2, own) && addr_equal(&s1b, own),
                 "open node not seen at its own address");
      simnet_free(net);
      continue;
    }
    const sw_addr *pub = simnet_nat_public(net, w.nat);
    SIM_ASSERT(net, same_ip(&s1, pub) && same_ip(&s1b, pub) && same_ip(&s2, pub),
               "type %d: source is not the NAT's public IP", t);
    SIM_ASSERT(net, !same_ip(own, pub), "private and public address alike");
    sw_addr q;
    SIM_ASSERT(net, simnet_nat_mapped(net, w.node, SW_SOCK_MAIN, simnet_endpoint_addr(net, w.e2),
                                      &q) == 1 &&
                        addr_equal(&q, &s2),
               "simnet_nat_mapped disagrees with what the endpoint saw");
    const sim_nat_config *cfg = simnet_nat_config(net, w.nat);
    switch (cfg->mapping) {
      case SIM_NAT_EI:
        SIM_ASSERT(net, addr_equal(&s1, &s1b) && addr_equal(&s1, &s2),
                   "type %d: EI mapping gave different sources", t);
        SIM_ASSERT(net, s1.port == own->port, "type %d: port not preserved", t);
        SIM_ASSERT(net, simnet_nat_mappings(net, w.nat) == 1, "EI: one mapping");
        break;
      case SIM_NAT_AD:
        SIM_ASSERT(net, addr_equal(&s1, &s1b) && !addr_equal(&s1, &s2),
                   "AD mapping: same for one address, another for the other");
        SIM_ASSERT(net, simnet_nat_mappings(net, w.nat) == 2, "AD: two mappings");
        break;
      default:
        SIM_ASSERT(net, !addr_equal(&s1, &s1b) && !addr_equal(&s1, &s2) && !addr_equal(&s1b, &s2),
                   "APD mapping: one per destination");
        SIM_ASSERT(net, simnet_nat_mappings(net, w.nat) == 3, "APD: three mappings");
        if (cfg->ports == SIM_NAT_PORT_SEQUENTIAL)
          SIM_ASSERT(net, s1b.port == next_port(s1.port) && s2.port == next_port(s1b.port),
                     "sequential ports: %u %u %u", s1.port, s1b.port, s2.port);
        break;
    }
    SIM_ASSERT(net, simnet_nat_stats(net, w.nat)->out == 4, "4 datagrams translated");
    printf("figure: mapping %-11s own %u -> seen ports %u / %u (same IP) / %u (other IP)\n",
           custom ? "AD-map" : simnet_nat_type_name((sim_nat_type)t), own->port, s1.port,
           s1b.port, s2.port);
    check_healthy(net);
    simnet_free(net);
  }
}

/* ---- filtering behaviour ---------------------------------------------------------- */

static void test_filtering(void **state) {
  (void)state;
  for (int t = 0; t < SIM_NAT_TYPE_COUNT; t++) {
    world w = world_new(100 + (uint64_t)t, NULL, (sim_nat_type)t);
    simnet *net = w.net;
    sw_addr m = seen_by(net, w.node, w.e1); /* the node has sent to e1 only */
    int from_e1 = reaches(net, w.e1, &m, w.node);
    int from_e1b = reaches(net, w.e1b, &m, w.node);
    int from_e2 = reaches(net, w.e2, &m, w.node);
    int want_e1b = 1, want_e2 = 1;
    if (t != SIM_NAT_OPEN) {
      sim_nat_dep f = simnet_nat_config(net, w.nat)->filtering;
      want_e1b = f != SIM_NAT_APD;
      want_e2 = f == SIM_NAT_EI;
    }
    SIM_ASSERT(net, from_e1, "type %d: the answer from the destination was dropped", t);
    SIM_ASSERT(net, from_e1b == want_e1b, "type %d: same IP other port: %d", t, from_e1b);
    SIM_ASSERT(net, from_e2 == want_e2, "type %d: other IP: %d", t, from_e2);
    if (t != SIM_NAT_OPEN) {
      const sim_nat_stats *st = simnet_nat_stats(net, w.nat);
      SIM_ASSERT(net, st->filtered == (uint64_t)(!want_e1b + !want_e2), "filtered count");
      /* a port no mapping owns */
      sw_addr other = m;
      other.port = m.port == 65535 ? 65534 : (uint16_t)(m.port + 1);
      SIM_ASSERT(net, !reaches(net, w.e1, &other, w.node), "no mapping, yet delivered");
      SIM_ASSERT(net, st->no_mapping == 1, "no_mapping count");
      SIM_ASSERT(net, simnet_get_stats(net)->nat_dropped == st->filtered + 1, "nat_dropped");
    }
    printf("figure: filtering %-11s unsolicited from same IP+port %d, same IP %d, other IP %d\n",
           simnet_nat_type_name((sim_nat_type)t), from_e1, from_e1b, from_e2);
    check_healthy(net);
    simnet_free(net);
  }
}

/* ---- timeouts and refresh ------------------------------------------------------------ */

static int mapped(simnet *net, const world *w, int e) {
  sw_addr q;
  return simnet_nat_mapped(net, w->node, SW_SOCK_MAIN, simnet_endpoint_addr(net, e), &q);
}

static void test_timeouts(void **state) {
  (void)state;
  static const sim_nat_type types[] = {SIM_NAT_PORT_RESTRICTED, SIM_NAT_SYMMETRIC};
  for (size_t k = 0; k < 2; k++) {
    world w = world_new(200 + k, NULL, types[k]);
    simnet *net = w.net;
    const sim_nat_stats *st = simnet_nat_stats(net, w.nat);
    /* one-way: 30 s after the datagram left (it left at t=0) */
    sw_addr m = seen_by(net, w.node, w.e1);
    simnet_run_until(net, 29999);
    SIM_ASSERT(net, mapped(net, &w, w.e1), "expired early");
    simnet_run_until(net, 30000);
    SIM_ASSERT(net, !mapped(net, &w, w.e1), "one-way mapping alive after 30 s");
    SIM_ASSERT(net, simnet_nat_mappings(net, w.nat) == 0 && st->mappings_expired == 1,
               "expired mapping not removed");
    SIM_ASSERT(net, !reaches(net, w.e1, &m, w.node), "reached through an expired mapping");
    SIM_ASSERT(net, st->no_mapping == 1, "no_mapping count");

    /* two-way: 120 s after the last inbound datagram passed */
    uint64_t t0 = simnet_now(net);
    m = seen_by(net, w.node, w.e1);            /* leaves at t0 */
    SIM_ASSERT(net, reaches(net, w.e1, &m, w.node), "answer dropped"); /* passes at t0+110 */
    uint64_t t_in = t0 + 100 + 10;
    simnet_run_until(net, t_in + 120000 - 1);
    SIM_ASSERT(net, mapped(net, &w, w.e1), "two-way mapping expired early");
    simnet_run_until(net, t_in + 120000);
    SIM_ASSERT(net, !mapped(net, &w, w.e1), "two-way mapping alive after 120 s");
    SIM_ASSERT(net, !reaches(net, w.e1, &m, w.node), "reached through an expired mapping");

    /* refresh: a datagram every 20 s keeps a one-way mapping, and its port */
    m = seen_by(net, w.node, w.e1);
    for (int i = 0; i < 10; i++) {
      simnet_run_until(net, simnet_now(net) + 20 * SEC - 100);
      sw_addr again = seen_by(net, w.node, w.e1);
      SIM_ASSERT(net, addr_equal(&again, &m), "refreshed mapping changed port");
    }
    SIM_ASSERT(net, reaches(net, w.e1, &m, w.node), "refreshed mapping lost");

    /* inbound traffic alone refreshes it too (Linux conntrack does) */
    for (int i = 0; i < 5; i++) {
      simnet_run_until(net, simnet_now(net) + 100 * SEC);
      SIM_ASSERT(net, reaches(net, w.e1, &m, w.node), "inbound refresh %d failed", i);
    }
    check_healthy(net);
    simnet_free(net);
  }

  /* without inbound refresh, the last outbound datagram decides */
  sim_nat_config cfg;
  simnet_nat_preset(&cfg, SIM_NAT_FULL_CONE);
  cfg.no_inbound_refresh = 1;
  cfg.timeout_ms = 5000; /* shorter timeouts are honoured */
  world w = world_new(210, &cfg, SIM_NAT_FULL_CONE);
  simnet *net = w.net;
  sw_addr m = seen_by(net, w.node, w.e1); /* leaves at 0: expires at 5000 */
  int passed = 0;
  for (int i = 0; i < 6; i++) {
    simnet_run_until(net, (uint64_t)(i + 1) * 1000 - 10);
    passed += reaches(net, w.e2, &m, w.node); /* arrives at (i + 1) s */
  }
  SIM_ASSERT(net, passed == 4, "%d of 6 passed, want the 4 before 5 s", passed);
  check_healthy(net);
  simnet_free(net);
}

/* ---- two nodes behind one NAT: hairpin and LAN ---------------------------------------- */

static void test_hairpin(void **state) {
  (void)state;
  for (int variant = 0; variant < 3; variant++) {
    sim_nat_config cfg;
    simnet_nat_preset(&cfg, variant == 2 ? SIM_NAT_PORT_RESTRICTED : SIM_NAT_FULL_CONE);
    cfg.hairpin = variant != 1;
    simnet *net = simnet_new(300 + (uint64_t)variant);
    int nat = simnet_add_nat(net, &cfg);
    int a = simnet_add_node_behind(net, NULL, nat, 0);
    int b = simnet_add_node_behind(net, NULL, nat, 0);
    int e = simnet_add_endpoint(net, -1, 0, NULL, NULL);
    assert_true(nat >= 0 && a >= 0 && b >= 0 && e >= 0);
    sw_addr mb = seen_by(net, b, e);
    uint64_t rx = simnet_node_stats(net, b)->rx_datagrams;
    assert_int_equal(simnet_send_raw(net, a, SW_SOCK_MAIN, &mb, PROBE, sizeof PROBE), SW_OK);
    simnet_run_until(net, simnet_now(net) + 100);
    const sim_nat_stats *st = simnet_nat_stats(net, nat);
    int got = simnet_node_stats(net, b)->rx_datagrams == rx + 1;
    if (variant == 0) {
      sw_addr ma;
      SIM_ASSERT(net, got && st->hairpinned == 1, "hairpinned datagram lost");
      SIM_ASSERT(net, simnet_nat_mapped(net, a, SW_SOCK_MAIN, &mb, &ma) == 1, "A's mapping");
      SIM_ASSERT(net, addr_equal(&simnet_node_stats(net, b)->last_rx_from, &ma) &&
                          same_ip(&ma, simnet_nat_public(net, nat)),
                 "hairpin source is not A's public mapping");
    } else if (variant == 1) {
      SIM_ASSERT(net, !got && st->hairpin_dropped == 1, "hairpinning off, yet delivered");
    } else {
      SIM_ASSERT(net, !got && st->hairpinned == 1 && st->filtered == 1,
                 "hairpinned datagram must meet B's filter (B never sent to A's mapping)");
    }
    check_healthy(net);
    simnet_free(net);
  }
}

typedef struct conn_goal {
  int a, b;
} conn_goal;

static int both_connected(simnet *net, void *ctx) {
  const conn_goal *g = ctx;
  return simnet_node_stats(net, g->a)->connections > 0 &&
         simnet_node_stats(net, g->b)->connections > 0;
}

static void test_lan(void **state) {
  (void)state;
  sim_nat_config cfg;
  simnet_nat_preset(&cfg, SIM_NAT_SYMMETRIC);
  cfg.lan_prefix[0] = 192;
  cfg.lan_prefix[1] = 168;
  cfg.lan_prefix[2] = 1;
  simnet *net = simnet_new(400);
  int nat = simnet_add_nat(net, &cfg);
  int a = simnet_add_node_behind(net, NULL, nat, 0);
  int b = simnet_add_node_behind(net, NULL, nat, 0);
  int nat2 = simnet_add_nat(net, &cfg); /* another home, same subnet */
  int c = simnet_add_node_behind(net, NULL, nat2, 0);
  int open = simnet_add_node(net, NULL);
  assert_true(nat >= 0 && nat2 >= 0 && a >= 0 && b >= 0 && c >= 0 && open >= 0);
  const sw_addr *pa = simnet_addr(net, a), *pb = simnet_addr(net, b);
  SIM_ASSERT(net, pa->ip[0] == 192 && pa->ip[1] == 168 && pa->ip[2] == 1, "LAN prefix");
  SIM_ASSERT(net, addr_equal(simnet_addr(net, c), pa), "same slot in both homes");

  /* A -> B's private address: on the LAN, untranslated */
  assert_int_equal(simnet_send_raw(net, a, SW_SOCK_MAIN, pb, PROBE, sizeof PROBE), SW_OK);
  simnet_run_until(net, 100);
  SIM_ASSERT(net, simnet_node_stats(net, b)->rx_datagrams == 1 &&
                      addr_equal(&simnet_node_stats(net, b)->last_rx_from, pa),
             "LAN datagram lost or rewritten");
  SIM_ASSERT(net, simnet_nat_stats(net, nat)->out == 0 && simnet_nat_mappings(net, nat) == 0,
             "LAN traffic went through the NAT");
  /* DHT socket to DHT socket on the LAN too */
  assert_int_equal(
      simnet_send_raw(net, a, SW_SOCK_DHT, simnet_dht_addr(net, b), PROBE, sizeof PROBE), SW_OK);
  simnet_run_until(net, 200);
  SIM_ASSERT(net, simnet_node_stats(net, b)->last_rx_kind == SW_SOCK_DHT, "DHT on the LAN");

  /* C (other home) and an open node cannot reach B's private address */
  uint64_t unroutable = simnet_get_stats(net)->unroutable;
  assert_int_equal(simnet_send_raw(net, c, SW_SOCK_MAIN, pb, PROBE, sizeof PROBE), SW_OK);
  assert_int_equal(simnet_send_raw(net, open, SW_SOCK_MAIN, pb, PROBE, sizeof PROBE), SW_OK);
  simnet_run_until(net, 300);
  SIM_ASSERT(net, simnet_node_stats(net, b)->rx_datagrams == 2, "B reached from outside");
  SIM_ASSERT(net, simnet_get_stats(net)->unroutable == unroutable + 2, "unroutable count");

  /* the engines: a session over the LAN, nothing through the NAT */
  conn_goal g = {a, b};
  assert_int_equal(simnet_dial(net, a, b), SW_OK);
  SIM_ASSERT(net, simnet_run_until_cond(net, 5 * SEC, both_connected, &g), "no LAN session");
  SIM_ASSERT(net, simnet_nat_stats(net, nat)->out == 0, "LAN session went through the NAT");
  check_healthy(net);
  simnet_free(net);
}

/* ---- the bound on mappings, port preservation, determinism ------------------------------ */

static void test_mapping_bound(void **state) {
  (void)state;
  sim_nat_config cfg;
  simnet_nat_preset(&cfg, SIM_NAT_SYMMETRIC);
  cfg.max_mappings = 4;
  simnet *net = simnet_new(500);
  int nat = simnet_add_nat(net, &cfg);
  int n = simnet_add_node_behind(net, NULL, nat, 0);
  int e[6];
  for (int i = 0; i < 6; i++) e[i] = simnet_add_endpoint(net, -1, 0, NULL, NULL);
  for (int i = 0; i < 6; i++)
    simnet_send_raw(net, n, SW_SOCK_MAIN, simnet_endpoint_addr(net, e[i]), PROBE, sizeof PROBE);
  simnet_run_until(net, 100);
  for (int i = 0; i < 6; i++)
    SIM_ASSERT(net, simnet_endpoint_stats(net, e[i])->rx == (i < 4), "endpoint %d", i);
  SIM_ASSERT(net, simnet_nat_stats(net, nat)->full == 2 && simnet_nat_mappings(net, nat) == 4,
             "bound not applied");
  SIM_ASSERT(net, simnet_get_stats(net)->nat_dropped == 2, "nat_dropped");
  /* existing mappings still work while full */
  seen_by(net, n, e[0]);
  simnet_run_until(net, 30 * SEC + 50); /* all but e[0]'s (refreshed at 100) expired */
  SIM_ASSERT(net, simnet_nat_mappings(net, nat) == 1, "expired mappings hold room");
  seen_by(net, n, e[4]);
  check_healthy(net);
  simnet_free(net);
}

static void test_port_preservation(void **state) {
  (void)state;
  simnet *net = simnet_new(600);
  int nat = simnet_add_nat_type(net, SIM_NAT_PORT_RESTRICTED);
  int a = simnet_add_node_behind(net, NULL, nat, 5000);
  int b = simnet_add_node_behind(net, NULL, nat, 5000);
  int e = simnet_add_endpoint(net, -1, 0, NULL, NULL);
  assert_true(nat >= 0 && a >= 0 && b >= 0 && e >= 0);
  SIM_ASSERT(net, simnet_addr(net, a)->port == 5000 && simnet_addr(net, b)->port == 5000,
             "asked ports");
  sw_addr sa = seen_by(net, a, e), sb = seen_by(net, b, e);
  SIM_ASSERT(net, sa.port == 5000 && sb.port != 5000, "first keeps the port, second cannot");
  SIM_ASSERT(net, simnet_nat_stats(net, nat)->port_not_preserved == 1, "count");
  /* the DHT socket has its own mapping */
  assert_int_equal(simnet_send_raw(net, a, SW_SOCK_DHT, simnet_endpoint_addr(net, e), PROBE,
                                   sizeof PROBE),
                   SW_OK);
  simnet_run_until(net, simnet_now(net) + 100);
  SIM_ASSERT(net, simnet_endpoint_stats(net, e)->last_from.port == 5001, "DHT mapping");
  check_healthy(net);
  simnet_free(net);
}

static void test_deterministic(void **state) {
  (void)state;
  uint16_t ports[2][4];
  for (int run = 0; run < 2; run++) {
    world w = world_new(700, NULL, SIM_NAT_SYMMETRIC);
    ports[run][0] = seen_by(w.net, w.node, w.e1).port;
    ports[run][1] = seen_by(w.net, w.node, w.e1b).port;
    ports[run][2] = seen_by(w.net, w.node, w.e2).port;
    ports[run][3] = simnet_nat_public(w.net, w.nat)->ip[3];
    simnet_free(w.net);
  }
  assert_memory_equal(ports[0], ports[1], sizeof ports[0]);
}

/* ---- the engines behind every pair of NAT types ------------------------------------------ */

typedef struct rendezvous {
  sw_addr seen[2];
  int have[2];
} rendezvous;

/* The rendezvous records the source of "R<side>" datagrams. */
static void on_rendezvous(void *ctx, simnet *net, int ep, const sw_addr *from,
                          const uint8_t *data, size_t len) {
  rendezvous *r = ctx;
  (void)net;
  (void)ep;
  if (len == 2 && data[0] == 'R' && data[1] < 2) {
    r->seen[data[1]] = *from;
    r->have[data[1]] = 1;
  }
}

static uint64_t first_connection(simnet *net, int i) {
  const sim_record *log;
  size_t n = simnet_log(net, i, &log);
  for (size_t k = 0; k < n; k++)
    if (log[k].type == SW_EV_CONNECTION) return log[k].t_ms;
  return UINT64_MAX;
}

#define PAIR_WINDOW_MS 10000 /* after the later dial: beyond the dial's expiry (5.4 s) */

/* Each side starts dialling at a random time in [0, spread_ms) after both are known.
 * Returns 1 and the time from the first dial to both CONNECTIONs, or 0. */
static int run_pair(uint64_t seed, sim_nat_type ta, sim_nat_type tb, uint64_t spread_ms,
                    uint64_t *ms) {
  sim_link l = {.loss = 0.01, .delay_ms = 20, .jitter_ms = 10};
  rendezvous rv = {0};
  simnet *net = simnet_new(seed);
  assert_non_null(net);
  simnet_set_default_link(net, &l);
  int na = simnet_add_nat_type(net, ta), nb = simnet_add_nat_type(net, tb);
  int side[2] = {simnet_add_node_behind(net, NULL, na, 0),
                 simnet_add_node_behind(net, NULL, nb, 0)};
  int r = simnet_add_endpoint(net, -1, 0, on_rendezvous, &rv);
  assert_true(side[0] >= 0 && side[1] >= 0 && r >= 0);
  /* each side tells the rendezvous, again until it is seen (the link loses 1%) */
  for (int tries = 0; tries < 20 && !(rv.have[0] && rv.have[1]); tries++) {
    for (uint8_t s = 0; s < 2; s++) {
      uint8_t msg[2] = {'R', s};
      if (!rv.have[s])
        simnet_send_raw(net, side[s], SW_SOCK_MAIN, simnet_endpoint_addr(net, r), msg, 2);
    }
    simnet_run_until(net, simnet_now(net) + 200);
  }
  SIM_ASSERT(net, rv.have[0] && rv.have[1], "rendezvous never heard both sides");
  /* both dial the other's observed address, at about the same time */
  tu_rng rng = {seed * 0x9E3779B97F4A7C15ull + 1};
  uint64_t t0 = simnet_now(net), start[2];
  start[0] = t0 + tu_rng_next(&rng) % spread_ms;
  start[1] = t0 + tu_rng_next(&rng) % spread_ms;
  int first = start[1] < start[0];
  for (int k = 0; k < 2; k++) {
    int s = k ? !first : first;
    simnet_run_until(net, start[s]);
    assert_int_equal(simnet_dial_addr(net, side[s], side[!s], &rv.seen[!s]), SW_OK);
  }
  conn_goal g = {side[0], side[1]};
  int ok = simnet_run_until_cond(net, start[!first] + PAIR_WINDOW_MS, both_connected, &g);
  if (ok) {
    uint64_t ca = first_connection(net, side[0]), cb = first_connection(net, side[1]);
    *ms = (ca > cb ? ca : cb) - start[first];
  }
  check_healthy(net);
  simnet_free(net);
  return ok;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int symmetric(sim_nat_type t) {
  return t == SIM_NAT_SYMMETRIC || t == SIM_NAT_SYMMETRIC_SEQ;
}

static void pair_matrix(uint64_t spread_ms) {
  enum { N = SIM_NAT_TYPE_COUNT, RUNS = 100 };
  uint64_t dflt[RUNS], seeds[RUNS], times[RUNS];
  for (int i = 0; i < RUNS; i++) dflt[i] = 1 + (uint64_t)i;
  size_t ns = simnet_seeds(dflt, RUNS, seeds);
  char cell[N][N][32];
  for (int a = 0; a < N; a++) {
    for (int b = a; b < N; b++) {
      size_t ok = 0;
      for (size_t s = 0; s < ns; s++) {
        uint64_t ms;
        if (run_pair(seeds[s] * 64 + (uint64_t)(a * N + b), (sim_nat_type)a, (sim_nat_type)b,
                     spread_ms, &ms))
          times[ok++] = ms;
      }
      qsort(times, ok, sizeof times[0], cmp_u64);
      if (ok)
        snprintf(cell[a][b], sizeof cell[a][b], "%3zu%% %4llu/%-4llu", ok * 100 / ns,
                 (unsigned long long)times[(ok - 1) / 2],
                 (unsigned long long)times[(ok * 9 + 9) / 10 - 1]);
      else
        snprintf(cell[a][b], sizeof cell[a][b], "%3zu%%     -/-   ", (size_t)0);
      memcpy(cell[b][a], cell[a][b], sizeof cell[a][b]);
      /* what holds by construction */
      sim_nat_type ta = (sim_nat_type)a, tb = (sim_nat_type)b;
      int easy = ta <= SIM_NAT_FULL_CONE || tb <= SIM_NAT_FULL_CONE;
      int hard = (symmetric(ta) || ta == SIM_NAT_PORT_RESTRICTED) &&
                 (symmetric(tb) || tb == SIM_NAT_PORT_RESTRICTED) &&
                 (symmetric(ta) || symmetric(tb));
      if (easy && ok != ns)
        fail_msg("%s x %s: %zu of %zu connected; an open or full-cone side always answers",
                 simnet_nat_type_name(ta), simnet_nat_type_name(tb), ok, ns);
      if (hard && ok != 0)
        fail_msg("%s x %s: %zu connected without coordinated punching or a relay",
                 simnet_nat_type_name(ta), simnet_nat_type_name(tb), ok);
    }
  }
  printf("figure: nat-pair: both dial the other's rendezvous-observed address, each at a "
         "random time in [0, %llu) ms; 20+0..10 ms links, 1%% loss; success %% and p50/p90 "
         "ms from the first dial to both CONNECTIONs, %zu seeds per pair\n",
         (unsigned long long)spread_ms, ns);
  printf("figure: nat-pair-%-5llu %-10s", (unsigned long long)spread_ms, "");
  for (int b = 0; b < N; b++) printf(" %-15s", simnet_nat_type_name((sim_nat_type)b));
  printf("\n");
  for (int a = 0; a < N; a++) {
    printf("figure: nat-pair-%-5llu %-10s", (unsigned long long)spread_ms,
           simnet_nat_type_name((sim_nat_type)a));
    for (int b = 0; b < N; b++) printf(" %-15s", cell[a][b]);
    printf("\n");
  }
}

/* Dials about together (a rendezvous tells both at once), then seconds apart. */
static void test_pair_matrix(void **state) {
  (void)state;
  pair_matrix(500);
  pair_matrix(5000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mapping),          cmocka_unit_test(test_filtering),
      cmocka_unit_test(test_timeouts),         cmocka_unit_test(test_hairpin),
      cmocka_unit_test(test_lan),              cmocka_unit_test(test_mapping_bound),
      cmocka_unit_test(test_port_preservation), cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_pair_matrix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
