/* Many topics per engine through the DHT, in virtual time (issue 12 item 2). A is on
 * topics X and Y, B on Y, C on X, all knowing only a bootstrap node: A finds both, and
 * a dial made for a topic's discovery names that topic with its connection. Then A
 * leaves X: once the records it announced have expired (they are not renewed), a
 * newcomer on X finds C but not A, while a newcomer on Y still finds A and B. */
#include <string.h>

#include "dht.h"
#include "simnet.h"

#define SEC 1000ull

typedef struct world {
  simnet *net;
  dht_config dc;
  sw_addr boot_addr;
  uint8_t x[32], y[32];
  int wrong_topic;   /* a CONNECTION naming a topic its two ends do not share */
  int named[8];      /* CONNECTIONs per node that named a topic */
  int side_topic[8]; /* per node, 1: on X, 2: on Y, 3: both */
} world;

static void configure(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  world *w = ctx;
  cfg->port = simnet_addr(net, node)->port;
  w->dc.bootstrap = node == 0 ? NULL : &w->boot_addr;
  w->dc.nbootstrap = node == 0 ? 0 : 1;
  cfg->dht = &w->dc;
  cfg->dedup_slots_log2 = 10;
}

static void hook(void *ctx, simnet *net, int node, const sw_event *ev) {
  world *w = ctx;
  if (ev->type != SW_EV_CONNECTION || !ev->topic || node >= 8) return;
  w->named[node]++;
  int other = simnet_node_by_wire(net, ev->peer);
  int bit = memcmp(ev->topic, w->x, 32) == 0 ? 1 : memcmp(ev->topic, w->y, 32) == 0 ? 2 : 0;
  if (!bit || other < 0 || other >= 8 || !(w->side_topic[node] & bit) ||
      !(w->side_topic[other] & bit))
    w->wrong_topic++;
}

static int connected(simnet *net, int a, int b) {
  sw_core_peer_info info[16];
  size_t n = sw_core_peers(simnet_core(net, a), info, 16);
  for (size_t i = 0; i < n && i < 16; i++)
    if (memcmp(info[i].wire_id, simnet_id(net, b), 8) == 0) return 1;
  return 0;
}

typedef struct pair {
  int a, b, c, d;
} pair;

static int both_pairs(simnet *net, void *ctx) {
  const pair *p = ctx;
  return connected(net, p->a, p->b) && connected(net, p->c, p->d);
}

static void join(world *w, int node, int which) {
  w->side_topic[node] = which;
  if (which & 1) assert_int_equal(sw_core_join(simnet_core(w->net, node), w->x), SW_OK);
  if (which & 2) assert_int_equal(sw_core_join(simnet_core(w->net, node), w->y), SW_OK);
  simnet_kick(w->net, node);
}

static void run(uint64_t seed) {
  world w;
  memset(&w, 0, sizeof w);
  w.net = simnet_new(seed);
  assert_non_null(w.net);
  simnet_set_config(w.net, configure, &w);
  simnet_set_hook(w.net, hook, &w);
  snprintf((char *)w.x, 32, "sim-topic-x");
  snprintf((char *)w.y, 32, "sim-topic-y");
  assert_int_equal(simnet_add_node(w.net, NULL), 0);
  w.boot_addr = *simnet_dht_addr(w.net, 0);
  for (int i = 1; i <= 3; i++) assert_int_equal(simnet_add_node(w.net, NULL), i);
  const int A = 1, B = 2, C = 3;
  join(&w, A, 3);
  join(&w, B, 2);
  join(&w, C, 1);
  pair p1 = {A, B, A, C};
  SIM_ASSERT(w.net, simnet_run_until_cond(w.net, 60 * SEC, both_pairs, &p1),
             "A did not find B (on Y) and C (on X)");
  SIM_ASSERT(w.net, !connected(w.net, B, C), "B and C share no topic");
  /* each pair formed from a dial one side's discovery made for the shared topic */
  SIM_ASSERT(w.net, w.named[A] + w.named[B] >= 1 && w.named[A] + w.named[C] >= 1,
             "no connection named its topic");
  SIM_ASSERT(w.net, w.wrong_topic == 0, "%d connections named a wrong topic", w.wrong_topic);

  /* A leaves X. The records it announced for X live ANN_TTL_MS (180 s) at the nodes. */
  assert_int_equal(sw_core_leave(simnet_core(w.net, A), w.x), SW_OK);
  simnet_kick(w.net, A);
  simnet_run_until(w.net, simnet_now(w.net) + 200 * SEC);
  assert_int_equal(simnet_add_node(w.net, NULL), 4);
  assert_int_equal(simnet_add_node(w.net, NULL), 5);
  const int D = 4, E = 5;
  join(&w, D, 1); /* X: only C announces it now */
  join(&w, E, 2); /* Y: A and B */
  pair p2 = {D, C, E, A};
  SIM_ASSERT(w.net, simnet_run_until_cond(w.net, simnet_now(w.net) + 60 * SEC, both_pairs, &p2),
             "newcomers did not find C on X and A on Y");
  pair p3 = {E, B, E, B};
  SIM_ASSERT(w.net, simnet_run_until_cond(w.net, simnet_now(w.net) + 60 * SEC, both_pairs, &p3),
             "the newcomer on Y did not find B");
  simnet_run_until(w.net, simnet_now(w.net) + 60 * SEC);
  SIM_ASSERT(w.net, !connected(w.net, D, A), "A was found on X after leaving it");
  SIM_ASSERT(w.net, w.wrong_topic == 0, "%d connections named a wrong topic", w.wrong_topic);
  SIM_ASSERT(w.net, simnet_fault(w.net) == NULL, "fault: %s", simnet_fault(w.net));
  simnet_free(w.net);
}

static void test_two_topics_one_left(void **state) {
  (void)state;
  static const uint64_t dflt[] = {1, 2, 3};
  uint64_t seeds[8];
  size_t n = simnet_seeds(dflt, 3, seeds);
  for (size_t i = 0; i < n; i++) run(seeds[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_topics_one_left),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
