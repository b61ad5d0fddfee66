/* Discovery through the DHT alone, at scale, in virtual time (issue 3): 200 cores
 * that each know only one bootstrap node's DHT address, on 10 topics of 20 cores;
 * every pair sharing a topic must connect, and no pair that does not. Lines starting
 * with "figure:" are measurements printed for the record (time to full connectivity,
 * DHT messages per node), asserted only against generous bounds. Then an announce
 * flood (issue 11): a topic's members are still found by a newcomer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dht.h"
#include "simnet.h"

#define SEC 1000ull

/* <0 when a is closer to t than b (XOR metric). */
static int dht_dist_cmp_t(const uint8_t *a, const uint8_t *b, const uint8_t *t) {
  for (int i = 0; i < DHT_ID_LEN; i++) {
    uint8_t x = a[i] ^ t[i], y = b[i] ^ t[i];
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}
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

/* ---- an announce flood (issue 11: eclipse) ------------------------------------- */

/* 60 DHT nodes, 20 of them members of one topic. Once the members have met (and their
 * records are established), 3 attacker addresses flood ANNOUNCE_PEER with fresh ids
 * and valid write tokens (fetched with GET_PEERS like any node) at the campaign's rate,
 * ~55 kB/s, to the 8 nodes closest to the topic key, for 60 s. A newcomer joins 10 s
 * into the flood: it must find and connect to every real member, and the members stay
 * connected. */
#define FL_NODES 60
#define FL_MEMBERS 20
#define FL_ATT 3
#define FL_TARGETS 8

typedef struct flood {
  simnet *net;
  dht_config dc;
  sw_addr boot_addr;
  int ep[FL_ATT];
  int target[FL_TARGETS];
  uint8_t tok[FL_ATT][FL_TARGETS][DHT_TOKEN_LEN];
  int has_tok[FL_ATT][FL_TARGETS];
  uint64_t sent_bytes, tokened;
} flood;

static void fl_configure(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  flood *w = ctx;
  cfg->port = simnet_addr(net, node)->port;
  w->dc.bootstrap = node == 0 ? NULL : &w->boot_addr;
  w->dc.nbootstrap = node == 0 ? 0 : 1;
  cfg->dht = &w->dc;
  cfg->dedup_slots_log2 = 10;
}


/* An attacker endpoint keeps the write token each target gives it. */
static void fl_on_rx(void *ctx, simnet *net, int ep, const sw_addr *from, const uint8_t *data,
                     size_t len) {
  (void)net;
  flood *w = ctx;
  static dht_msg m;
  if (dht_parse(data, len, &m) != SW_OK || !m.has_token) return;
  for (int a = 0; a < FL_ATT; a++)
    for (int t = 0; t < FL_TARGETS; t++)
      if (w->ep[a] == ep && addr_equal(from, simnet_dht_addr(w->net, w->target[t]))) {
        memcpy(w->tok[a][t], m.token, DHT_TOKEN_LEN);
        w->has_tok[a][t] = 1;
      }
}

static void fl_send(flood *w, int a, int t, const dht_msg *m) {
  uint8_t buf[DHT_MAX_DATAGRAM];
  int n = dht_encode(m, buf, sizeof buf);
  assert_true(n > 0);
  simnet_endpoint_send(w->net, w->ep[a], simnet_dht_addr(w->net, w->target[t]), buf, (size_t)n);
  w->sent_bytes += (uint64_t)n;
}

static size_t fl_connected(flood *w, int i, sw_core_peer_info *info) {
  size_t k = sw_core_peers(simnet_core(w->net, i), info, 256), n = 0;
  for (size_t j = 0; j < k && j < 256; j++) {
    int o = simnet_node_by_wire(w->net, info[j].wire_id);
    n += o >= 1 && o <= FL_MEMBERS + 1 && o != i;
  }
  return n;
}

static void test_dht_announce_flood(void **state) {
  (void)state;
  static const uint64_t seeds[] = {5};
  uint64_t sd[1];
  size_t ns = simnet_seeds(seeds, 1, sd);
  for (size_t si = 0; si < ns; si++) {
    flood *w = calloc(1, sizeof *w);
    sw_core_peer_info *info = calloc(256, sizeof *info);
    assert_non_null(w);
    assert_non_null(info);
    w->net = simnet_new(sd[si]);
    assert_non_null(w->net);
    simnet_set_config(w->net, fl_configure, w);
    assert_int_equal(simnet_add_node(w->net, NULL), 0);
    w->boot_addr = *simnet_dht_addr(w->net, 0);
    for (int i = 1; i <= FL_NODES; i++) assert_int_equal(simnet_add_node(w->net, NULL), i);
    for (int a = 0; a < FL_ATT; a++) {
      w->ep[a] = simnet_add_endpoint(w->net, -1, 0, fl_on_rx, w);
      assert_true(w->ep[a] >= 0);
    }
    uint8_t topic[32], key[DHT_ID_LEN];
    memset(topic, 0, sizeof topic);
    snprintf((char *)topic, sizeof topic, "sim-dht-flood");
    dht_topic_key(topic, key);
    /* members 1..20 join; node 21 is the newcomer */
    for (int i = 1; i <= FL_MEMBERS; i++) {
      assert_int_equal(sw_core_join(simnet_core(w->net, i), topic), SW_OK);
      simnet_kick(w->net, i);
    }
    simnet_run_until(w->net, 40 * SEC);
    for (int i = 1; i <= FL_MEMBERS; i++)
      SIM_ASSERT(w->net, fl_connected(w, i, info) == FL_MEMBERS - 1,
                 "member %d has %zu members before the flood", i, fl_connected(w, i, info));
    /* the attacker knows every node id: it targets the 8 closest to the topic key */
    int used[FL_NODES + 1] = {0};
    for (int t = 0; t < FL_TARGETS; t++) {
      int best = -1;
      uint8_t bid[DHT_ID_LEN], id[DHT_ID_LEN];
      for (int i = 0; i <= FL_NODES; i++) {
        if (used[i]) continue;
        assert_true(sw_core_dht_id(simnet_core(w->net, i), id));
        if (best < 0 || dht_dist_cmp_t(id, bid, key) < 0) {
          best = i;
          memcpy(bid, id, DHT_ID_LEN);
        }
      }
      used[best] = 1;
      w->target[t] = best;
    }
    /* 55 kB/s from 3 addresses for 60 s; tokens fetched every 10 s */
    uint64_t t0 = simnet_now(w->net), fresh = 0;
    int joined = 0;
    dht_msg m;
    for (uint64_t t = t0; t < t0 + 60 * SEC; t += 10) {
      simnet_run_until(w->net, t);
      if (!joined && t >= t0 + 10 * SEC) {
        assert_int_equal(sw_core_join(simnet_core(w->net, FL_MEMBERS + 1), topic), SW_OK);
        simnet_kick(w->net, FL_MEMBERS + 1);
        joined = 1;
      }
      for (int a = 0; a < FL_ATT; a++) {
        if ((t - t0) % (10 * SEC) == 0)
          for (int x = 0; x < FL_TARGETS; x++) {
            memset(&m, 0, sizeof m);
            m.type = DHT_GET_PEERS;
            m.has_key = m.has_rpc = 1;
            memcpy(m.key, key, DHT_ID_LEN);
            m.rpc = 0x1000u + (uint32_t)x;
            m.pad = 64;
            fl_send(w, a, x, &m);
          }
        /* one announce per address per 10 ms tick at ~185 bytes: ~55 kB/s in all */
        int x = (int)((t / 10 + (uint64_t)a) % FL_TARGETS);
        memset(&m, 0, sizeof m);
        m.type = DHT_ANNOUNCE_PEER;
        m.has_key = m.has_id = m.has_port = m.has_from = m.has_rpc = 1;
        memcpy(m.key, key, DHT_ID_LEN);
        fresh++;
        for (int b = 0; b < DHT_ID_LEN; b++) {
          m.id[b] = (uint8_t)(fresh >> (8 * (b % 8))) ^ (uint8_t)(0xa5 + b);
          m.from[b] = (uint8_t)(m.id[b] ^ 0x3c);
        }
        m.port = 4000;
        m.rpc = (uint32_t)fresh;
        if (w->has_tok[a][x]) {
          m.has_token = 1;
          memcpy(m.token, w->tok[a][x], DHT_TOKEN_LEN);
          w->tokened++;
        }
        fl_send(w, a, x, &m);
      }
    }
    double rate = (double)w->sent_bytes / 60.0;
    size_t got = fl_connected(w, FL_MEMBERS + 1, info);
    uint64_t refused = 0, held = 0;
    for (int t = 0; t < FL_TARGETS; t++) {
      dht_stats st;
      assert_true(sw_core_dht_stats(simnet_core(w->net, w->target[t]), &st));
      refused += st.writes_refused;
      held += st.stored_peers;
    }
    printf("figure: dht announce flood seed %llu: %.1f kB/s from %d addresses for 60 s "
           "(%llu announces with a valid-looking token); newcomer connected to %zu of %d "
           "members; the 8 target nodes refused %llu writes and hold %llu records\n",
           (unsigned long long)sd[si], rate / 1000.0, FL_ATT, (unsigned long long)w->tokened,
           got, FL_MEMBERS, (unsigned long long)refused, (unsigned long long)held);
    SIM_ASSERT(w->net, rate > 50000.0, "the flood ran at %.0f B/s only", rate);
    SIM_ASSERT(w->net, simnet_fault(w->net) == NULL, "fault: %s", simnet_fault(w->net));
    SIM_ASSERT(w->net, got == FL_MEMBERS, "the newcomer found %zu of %d members", got,
               FL_MEMBERS);
    for (int i = 1; i <= FL_MEMBERS; i++)
      SIM_ASSERT(w->net, fl_connected(w, i, info) >= FL_MEMBERS - 1,
                 "member %d lost members during the flood", i);
    simnet_free(w->net);
    free(info);
    free(w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dht_200_clean),
      cmocka_unit_test(test_dht_200_lossy),
      cmocka_unit_test(test_dht_announce_flood),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
