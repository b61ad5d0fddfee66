/* Discovery through the DHT alone, at scale, in virtual time (issue 3): 200 cores
 * that each know only one bootstrap node's DHT address, on 10 topics of 20 cores;
 * every pair sharing a topic must connect, and no pair that does not. Lines starting
 * with "figure:" are measurements printed for the record (time to full connectivity,
 * DHT messages per node), asserted only against generous bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dht.h"
#include "simnet.h"

#define SEC 1000ull
#define NCORES 200
#define NTOPICS 10

typedef struct world {
  simnet *net;
  int boot; /* the bootstrap node: in the DHT, on no topic */
  dht_config dc;
  sw_addr boot_addr;
  uint8_t topics[NTOPICS][32];
  sw_core_peer_info *info;
} world;

static void configure(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  world *w = ctx;
  cfg->port = simnet_addr(net, node)->port;
  w->dc.bootstrap = node == w->boot ? NULL : &w->boot_addr;
  w->dc.nbootstrap = node == w->boot ? 0 : 1;
  cfg->dht = &w->dc;
  cfg->dedup_slots_log2 = 10; /* 200 cores: the default 2 MiB id set each is not needed */
}

static int topic_of(int node) { return node == 0 ? -1 : node % NTOPICS; }

/* Pairs on one topic with a session on both sides; counts cross-topic sessions too. */
static size_t connected_pairs(world *w, size_t *cross) {
  size_t pairs = 0;
  *cross = 0;
  int n = simnet_node_count(w->net);
  for (int i = 1; i < n; i++) {
    size_t k = sw_core_peers(simnet_core(w->net, i), w->info, 256);
    for (size_t j = 0; j < k && j < 256; j++) {
      int o = simnet_node_by_wire(w->net, w->info[j].wire_id);
      if (o <= i) continue; /* count each pair once, from its lower index */
      if (topic_of(o) != topic_of(i)) {
        (*cross)++;
        continue;
      }
      /* the other side must see us as well */
      size_t k2 = sw_core_peers(simnet_core(w->net, o), w->info + 256, 256);
      for (size_t m = 0; m < k2 && m < 256; m++)
        if (memcmp(w->info[256 + m].wire_id, simnet_id(w->net, i), 8) == 0) {
          pairs++;
          break;
        }
    }
  }
  return pairs;
}

static void run_world(uint64_t seed, const sim_link *link, const char *label,
                      uint64_t t_max) {
  world w;
  memset(&w, 0, sizeof w);
  w.info = calloc(512, sizeof *w.info);
  assert_non_null(w.info);
  w.net = simnet_new(seed);
  assert_non_null(w.net);
  if (link) simnet_set_default_link(w.net, link);
  simnet_set_config(w.net, configure, &w);
  w.boot = 0;
  assert_int_equal(simnet_add_node(w.net, NULL), 0);
  w.boot_addr = *simnet_dht_addr(w.net, 0);
  for (int i = 1; i <= NCORES; i++) assert_int_equal(simnet_add_node(w.net, NULL), i);
  for (int t = 0; t < NTOPICS; t++) {
    memset(w.topics[t], 0, 32);
    snprintf((char *)w.topics[t], 32, "sim-dht-topic-%d", t);
  }
  /* joins spread over the first 3 s, as processes start */
  tu_rng r = {seed * 31 + 7};
  uint64_t join_at[NCORES + 1];
  for (int i = 1; i <= NCORES; i++) join_at[i] = tu_rng_next(&r) % (3 * SEC);
  for (uint64_t t = 0; t <= 3 * SEC; t += 10) {
    simnet_run_until(w.net, t);
    for (int i = 1; i <= NCORES; i++)
      if (join_at[i] >= t && join_at[i] < t + 10) {
        assert_int_equal(sw_core_join(simnet_core(w.net, i), w.topics[topic_of(i)]), SW_OK);
        simnet_kick(w.net, i);
      }
  }
  size_t want = (size_t)NTOPICS * (NCORES / NTOPICS) * (NCORES / NTOPICS - 1) / 2;
  size_t got = 0, cross = 0;
  uint64_t t = simnet_now(w.net);
  while (t < t_max) {
    t += 100;
    simnet_run_until(w.net, t);
    got = connected_pairs(&w, &cross);
    if (got == want) break;
  }
  SIM_ASSERT(w.net, simnet_fault(w.net) == NULL, "fault: %s", simnet_fault(w.net));
  SIM_ASSERT(w.net, got == want, "%zu of %zu topic pairs connected by %llu ms", got, want,
             (unsigned long long)t);
  SIM_ASSERT(w.net, cross == 0, "%zu sessions across topics", cross);
  uint64_t full_at = simnet_now(w.net);
  /* messages: DHT datagrams each core sent, and all datagrams */
  uint64_t dht_tx = 0, dht_max = 0, all_tx = 0;
  for (int i = 1; i <= NCORES; i++) {
    dht_stats st;
    assert_true(sw_core_dht_stats(simnet_core(w.net, i), &st));
    dht_tx += st.tx;
    if (st.tx > dht_max) dht_max = st.tx;
    all_tx += simnet_node_stats(w.net, i)->tx_datagrams;
  }
  dht_stats bs;
  sw_core_dht_stats(simnet_core(w.net, 0), &bs);
  printf("figure: dht %s seed %llu: %d cores, %d topics: all %zu topic pairs connected at "
         "%.1f s virtual; DHT messages sent per core %.1f (max %llu), all datagrams per core "
         "%.1f; bootstrap node sent %llu, knows %zu nodes\n",
         label, (unsigned long long)seed, NCORES, NTOPICS, want, (double)full_at / 1000.0,
         (double)dht_tx / NCORES, (unsigned long long)dht_max, (double)all_tx / NCORES,
         (unsigned long long)bs.tx, bs.table_nodes);
  /* bounded effort: a lookup cycle is tens of messages, not thousands */
  SIM_ASSERT(w.net, dht_tx / NCORES < 2000, "too many DHT messages per core");
  /* 30 s more: the refresh cycles keep everyone connected */
  simnet_run_until(w.net, simnet_now(w.net) + 30 * SEC);
  got = connected_pairs(&w, &cross);
  SIM_ASSERT(w.net, got == want && cross == 0, "lost pairs later: %zu of %zu", got, want);
  simnet_free(w.net);
  free(w.info);
}

static void test_dht_200_clean(void **state) {
  (void)state;
  static const uint64_t seeds[] = {1};
  uint64_t s[1];
  size_t n = simnet_seeds(seeds, 1, s);
  for (size_t i = 0; i < n; i++) run_world(s[i], NULL, "10 ms links", 120 * SEC);
}

static void test_dht_200_lossy(void **state) {
  (void)state;
  static const uint64_t seeds[] = {3};
  uint64_t s[1];
  size_t n = simnet_seeds(seeds, 1, s);
  sim_link l = {.loss = 0.05, .dup = 0.01, .delay_ms = 20, .jitter_ms = 30};
  for (size_t i = 0; i < n; i++) run_world(s[i], &l, "5% loss 20+0..30 ms", 240 * SEC);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dht_200_clean),
      cmocka_unit_test(test_dht_200_lossy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
