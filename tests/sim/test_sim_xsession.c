/* The extended session over the simulated network (issue 10's first test): two cores
 * with sw_core_config.xsession on, a path that loses 10 % of datagrams, duplicates 5 %
 * and reorders (10 ms + 0-8 ms jitter each way): 10 000 messages arrive complete, once
 * each, in order. A failure prints the seed that replays it (SIMNET_SEED=<n>). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_newreno.h"
#include "simnet.h"

#define SEC 1000ull
#define TOTAL 10000

static const uint64_t SEEDS[] = {1, 2, 0xC0FFEE};
#define NSEEDS (sizeof SEEDS / sizeof SEEDS[0])

/* The extended session's controller: NULL, the default (BBR), unless a test says. */
static const cc_ops *xcc;

static void xcfg(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  (void)ctx, (void)net, (void)node;
  cfg->xsession = 1;
  cfg->xsession_cc = xcc;
}

static int peer_extended(simnet *net, int i) {
  sw_core_peer_info info[4];
  size_t n = sw_core_peers(simnet_core(net, i), info, 4);
  return n == 1 && info[0].extended;
}

static int both_extended(simnet *net, void *ctx) {
  (void)ctx;
  return peer_extended(net, 0) && peer_extended(net, 1);
}

static int connected(simnet *net, void *ctx) {
  (void)ctx;
  return simnet_node_stats(net, 0)->connections >= 1 &&
         simnet_node_stats(net, 1)->connections >= 1;
}

typedef struct goal {
  int node, from;
  size_t want;
} goal;

static int got_all(simnet *net, void *ctx) {
  const goal *g = ctx;
  return simnet_count(net, g->node, SW_EV_DATA, simnet_id(net, g->from), 0) >= g->want;
}

static void run_seed(uint64_t seed) {
  simnet *net = simnet_new(seed);
  assert_non_null(net);
  sim_link l = {.loss = 0.10, .dup = 0.05, .delay_ms = 10, .jitter_ms = 8};
  simnet_set_default_link(net, &l);
  simnet_set_config(net, xcfg, NULL);
  assert_int_equal(simnet_add_node(net, NULL), 0);
  assert_int_equal(simnet_add_node(net, NULL), 1);
  assert_int_equal(simnet_dial(net, 0, 1), SW_OK);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 30 * SEC, connected, NULL),
             "no session");
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 30 * SEC, both_extended, NULL),
             "no extended session");
  uint64_t t0 = simnet_now(net);
  int sent = 0, refused = 0;
  while (sent < TOTAL) {
    SIM_ASSERT(net, simnet_now(net) < t0 + 600 * SEC, "writes stalled at %d", sent);
    char m[100];
    memset(m, '.', sizeof m);
    int len = snprintf(m, sizeof m, "m %d", sent);
    m[len] = '.';
    int rc = simnet_write(net, 0, 1, m, 20 + (size_t)(sent % 80));
    if (rc == SW_EAGAIN) {
      refused++;
      simnet_run_until(net, simnet_now(net) + 5);
      continue;
    }
    SIM_ASSERT(net, rc == SW_OK, "write %d: %d", sent, rc);
    sent++;
  }
  goal g = {1, 0, TOTAL};
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 600 * SEC, got_all, &g),
             "only %zu of %d arrived",
             simnet_count(net, 1, SW_EV_DATA, simnet_id(net, 0), 0), TOTAL);
  simnet_run_until(net, simnet_now(net) + 5 * SEC); /* nothing more may come */
  const sim_record *r;
  size_t nr = simnet_log(net, 1, &r);
  int k = 0;
  for (size_t i = 0; i < nr; i++) {
    if (r[i].type != SW_EV_DATA) continue;
    char want[16];
    int wl = snprintf(want, sizeof want, "m %d", k);
    SIM_ASSERT(net, r[i].len == 20 + (size_t)(k % 80) && memcmp(r[i].data, want, (size_t)wl) == 0 &&
                        r[i].data[wl] == '.',
               "message %d out of order or damaged", k);
    k++;
  }
  SIM_ASSERT(net, k == TOTAL, "%d delivered, want %d once each", k, TOTAL);
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
  sw_core_stats st;
  sw_core_get_stats(simnet_core(net, 1), &st);
  printf("figure: %s, seed %llu: %d messages in %.1f s virtual, %d writes refused (SW_EAGAIN), "
         "%llu datagrams lost, %llu duplicated\n",
         xcc ? xcc->name : "default", (unsigned long long)seed, TOTAL, (double)(simnet_now(net) - t0) / 1000.0, refused,
         (unsigned long long)simnet_get_stats(net)->lost,
         (unsigned long long)simnet_get_stats(net)->duplicated);
  simnet_free(net);
}

static void test_lossy_path_in_order(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t n = simnet_seeds(SEEDS, NSEEDS, seeds);
  for (size_t i = 0; i < n; i++) run_seed(seeds[i]);
}

/* The same with NewReno, the other controller a user may choose (sw_options.congestion). */
static void test_lossy_path_newreno(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t n = simnet_seeds(SEEDS, NSEEDS, seeds);
  xcc = &cc_newreno_ops;
  run_seed(seeds[0]);
  xcc = NULL;
  (void)n;
}

/* Writes from the moment the session exists, before the handshake: over a path that
 * reorders and duplicates (no loss, so the handshake is never given up), every message
 * arrives once, in order, across the switch from plain to extended (TRANSPORT.md 8). */
#define EARLY 2000
static void run_early(uint64_t seed) {
  simnet *net = simnet_new(seed);
  assert_non_null(net);
  sim_link l = {.loss = 0, .dup = 0.05, .delay_ms = 10, .jitter_ms = 8};
  simnet_set_default_link(net, &l);
  simnet_set_config(net, xcfg, NULL);
  assert_int_equal(simnet_add_node(net, NULL), 0);
  assert_int_equal(simnet_add_node(net, NULL), 1);
  assert_int_equal(simnet_dial(net, 0, 1), SW_OK);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 30 * SEC, connected, NULL),
             "no session");
  int sent = 0;
  uint64_t t0 = simnet_now(net);
  while (sent < EARLY) {
    SIM_ASSERT(net, simnet_now(net) < t0 + 600 * SEC, "writes stalled at %d", sent);
    char m[32];
    int len = snprintf(m, sizeof m, "e %d", sent);
    int rc = simnet_write(net, 0, 1, m, (size_t)len);
    if (rc == SW_EAGAIN) {
      simnet_run_until(net, simnet_now(net) + 1);
      continue;
    }
    SIM_ASSERT(net, rc == SW_OK, "write %d: %d", sent, rc);
    sent++;
    if (sent % 20 == 0) simnet_run_until(net, simnet_now(net) + 1); /* time goes by */
  }
  goal g = {1, 0, EARLY};
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 60 * SEC, got_all, &g),
             "only %zu of %d arrived",
             simnet_count(net, 1, SW_EV_DATA, simnet_id(net, 0), 0), EARLY);
  SIM_ASSERT(net, both_extended(net, NULL), "no extended session");
  const sim_record *r;
  size_t nr = simnet_log(net, 1, &r);
  int k = 0;
  for (size_t i = 0; i < nr; i++) {
    if (r[i].type != SW_EV_DATA) continue;
    char want[32];
    int wl = snprintf(want, sizeof want, "e %d", k);
    SIM_ASSERT(net, r[i].len == (size_t)wl && memcmp(r[i].data, want, (size_t)wl) == 0,
               "message %d out of order", k);
    k++;
  }
  SIM_ASSERT(net, k == EARLY, "%d delivered, want %d once each", k, EARLY);
  simnet_free(net);
}

static void test_early_writes_in_order(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t n = simnet_seeds(SEEDS, NSEEDS, seeds);
  for (size_t i = 0; i < n; i++) run_early(seeds[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lossy_path_in_order),
      cmocka_unit_test(test_lossy_path_newreno),
      cmocka_unit_test(test_early_writes_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
