/* Sessions between cores over the simulated network (simnet): handshake, two-way
 * traffic, the 60 s timeout and keep-alive, GOAWAY, multi-hop flooding, restart.
 * Every scenario runs for several seeds; a failure prints the seed that replays it
 * (SIMNET_SEED=<n>, SIMNET_TRACE=1 for a datagram trace). Lines starting with
 * "figure:" are virtual-time measurements, printed for the record, never asserted on
 * beyond the protocol's own bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simnet.h"

#define SEC 1000ull

static const uint64_t SEEDS[] = {1, 2, 3, 4, 5, 6, 7, 8, 0xC0FFEE, 0x5E70371};
#define NSEEDS (sizeof SEEDS / sizeof SEEDS[0])

/* ---- helpers ---------------------------------------------------------------- */

static simnet *net_with(uint64_t seed, int nodes, const sim_link *l) {
  simnet *net = simnet_new(seed);
  assert_non_null(net);
  if (l) simnet_set_default_link(net, l);
  for (int i = 0; i < nodes; i++) assert_int_equal(simnet_add_node(net, NULL), i);
  return net;
}

static void check_healthy(simnet *net) {
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
  for (int i = 0; i < simnet_node_count(net); i++)
    SIM_ASSERT(net, simnet_node_stats(net, i)->log_dropped == 0, "node %d log overflowed", i);
  SIM_ASSERT(net, simnet_get_stats(net)->overflow == 0, "in-flight bound reached");
}

/* Each node in the list has at least `want` CONNECTION events. */
typedef struct conn_goal {
  const int *nodes;
  int n;
  size_t want;
} conn_goal;

static int connected(simnet *net, void *ctx) {
  const conn_goal *g = ctx;
  for (int i = 0; i < g->n; i++)
    if (simnet_node_stats(net, g->nodes[i])->connections < g->want) return 0;
  return 1;
}

static void connect_pair(simnet *net, int a, int b) {
  int both[2] = {a, b};
  conn_goal g = {both, 2, 1};
  assert_int_equal(simnet_dial(net, a, b), SW_OK);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 10 * SEC, connected, &g),
             "nodes %d and %d did not connect", a, b);
}

static uint64_t mix64(uint64_t x) {
  tu_rng r = {x};
  return tu_rng_next(&r);
}

/* A test message: 'M', tag, u32 index, then filler derived from (tag, index), so any
 * delivered message can be checked byte for byte. About 1 in 40 is larger than a
 * BATCH (sent alone); the rest share datagrams. */
#define MSG_MAX 3200
static size_t make_msg(uint8_t *buf, uint8_t tag, uint32_t idx) {
  uint64_t h = mix64((uint64_t)tag << 32 | idx);
  size_t len = idx % 40 == 17 ? 1400 + h % 1700 : 8 + h % 200;
  tu_rng r = {h};
  buf[0] = 'M';
  buf[1] = tag;
  buf[2] = (uint8_t)(idx >> 24);
  buf[3] = (uint8_t)(idx >> 16);
  buf[4] = (uint8_t)(idx >> 8);
  buf[5] = (uint8_t)idx;
  tu_rng_bytes(&r, buf + 6, len - 6);
  return len;
}

/* 1 when (d, len) is exactly a message make_msg produces; gives its tag and index. */
static int parse_msg(const uint8_t *d, size_t len, uint8_t *tag, uint32_t *idx) {
  uint8_t want[MSG_MAX];
  if (len < 6 || d[0] != 'M') return 0;
  *tag = d[1];
  *idx = (uint32_t)d[2] << 24 | (uint32_t)d[3] << 16 | (uint32_t)d[4] << 8 | d[5];
  return make_msg(want, *tag, *idx) == len && memcmp(want, d, len) == 0;
}

typedef struct rx_report {
  size_t delivered;
  int in_order;
  uint32_t disorder_prev, disorder_idx; /* the first pair delivered out of send order */
  uint64_t disorder_ms;
  uint64_t first_ms, last_ms;
} rx_report;

/* Check node `rx`'s DATA events with `tag` (sent as indices 0..n-1): each one intact,
 * none twice. Reports how many and whether they came in send order. */
static rx_report check_stream(simnet *net, int rx, uint8_t tag, uint32_t n, uint64_t since) {
  const sim_record *log;
  size_t nlog = simnet_log(net, rx, &log);
  uint8_t *seen = calloc(n, 1);
  rx_report rep = {.in_order = 1};
  int64_t last = -1;
  assert_non_null(seen);
  for (size_t k = 0; k < nlog; k++) {
    const sim_record *r = &log[k];
    uint8_t t;
    uint32_t idx;
    if (r->type != SW_EV_DATA || r->t_ms < since) continue;
    SIM_ASSERT(net, parse_msg(r->data, r->len, &t, &idx),
               "node %d got a message that was never sent (%zu bytes at t=%llu)", rx, r->len,
               (unsigned long long)r->t_ms);
    if (t != tag) continue;
    SIM_ASSERT(net, idx < n, "node %d: index %u out of range", rx, idx);
    SIM_ASSERT(net, !seen[idx], "node %d: message %u of tag %u delivered twice", rx, idx, tag);
    seen[idx] = 1;
    if ((int64_t)idx < last && rep.in_order) {
      rep.in_order = 0;
      rep.disorder_prev = (uint32_t)last;
      rep.disorder_idx = idx;
      rep.disorder_ms = r->t_ms;
    }
    last = idx;
    if (!rep.delivered) rep.first_ms = r->t_ms;
    rep.last_ms = r->t_ms;
    rep.delivered++;
  }
  free(seen);
  return rep;
}

static uint64_t first_event(simnet *net, int i, sw_event_type type, uint64_t since) {
  const sim_record *log;
  size_t n = simnet_log(net, i, &log);
  for (size_t k = 0; k < n; k++)
    if (log[k].type == type && log[k].t_ms >= since) return log[k].t_ms;
  return UINT64_MAX;
}

/* ---- (a) handshake under loss, reordering and duplication -------------------- */

static void test_handshake_under_loss(void **state) {
  (void)state;
  static const uint64_t many[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                  14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
                                  27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40};
  uint64_t seeds[64], times[64];
  size_t ns = simnet_seeds(many, sizeof many / sizeof many[0], seeds);
  sim_link l = {.loss = 0.20, .dup = 0.10, .delay_ms = 20, .jitter_ms = 40};
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], 2, &l);
    int both[2] = {0, 1};
    conn_goal g = {both, 2, 1};
    assert_int_equal(simnet_dial(net, 0, 1), SW_OK);
    SIM_ASSERT(net, simnet_run_until_cond(net, 10 * SEC, connected, &g), "no handshake");
    times[s] = simnet_now(net);
    /* Let every HELLO retry, duplicate and late copy land, and the dial expire. */
    simnet_run_until(net, 30 * SEC);
    for (int i = 0; i < 2; i++) {
      SIM_ASSERT(net, simnet_node_stats(net, i)->connections == 1,
                 "node %d: %llu CONNECTION events", i,
                 (unsigned long long)simnet_node_stats(net, i)->connections);
      SIM_ASSERT(net, simnet_node_stats(net, i)->disconnects == 0, "node %d disconnected", i);
      SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, i)) == 1, "node %d peer count", i);
    }
    const sim_record *log;
    simnet_log(net, 0, &log);
    SIM_ASSERT(net, memcmp(log[0].peer, simnet_id(net, 1), 8) == 0, "A connected to B");
    simnet_log(net, 1, &log);
    SIM_ASSERT(net, memcmp(log[0].peer, simnet_id(net, 0), 8) == 0, "B connected to A");
    check_healthy(net);
    simnet_free(net);
  }
  uint64_t min = UINT64_MAX, max = 0, sum = 0;
  for (size_t s = 0; s < ns; s++) {
    min = times[s] < min ? times[s] : min;
    max = times[s] > max ? times[s] : max;
    sum += times[s];
  }
  printf("figure: handshake, 20%% loss, 10%% dup, 20+0..40 ms: both connected after "
         "min %llu / mean %llu / max %llu ms over %zu seeds\n",
         (unsigned long long)min, (unsigned long long)(sum / ns), (unsigned long long)max, ns);
  /* Not asserted, recorded: at 30% loss, how often the dialer's 8 HELLOs all go
   * unanswered while the other side, which got one, holds a one-sided session (the
   * references behave the same, PROTOCOL.md 4.3). */
  sim_link heavy = {.loss = 0.30, .dup = 0.05, .delay_ms = 30, .jitter_ms = 20};
  size_t one_sided = 0, none = 0, runs = 1000;
  for (size_t s = 0; s < runs; s++) {
    simnet *net = net_with(1000 + s, 2, &heavy);
    assert_int_equal(simnet_dial(net, 0, 1), SW_OK);
    simnet_run_until(net, 10 * SEC);
    int a = simnet_node_stats(net, 0)->connections > 0;
    int b = simnet_node_stats(net, 1)->connections > 0;
    one_sided += a != b;
    none += !a && !b;
    check_healthy(net);
    simnet_free(net);
  }
  printf("figure: handshake, 30%% loss: %zu of %zu seeds (1000..%zu) one-sided, %zu with no "
         "session, after the dial's 8 HELLOs\n", one_sided, runs, 1000 + runs - 1, none);
}

/* ---- (b) 1000 messages each way ------------------------------------------------ */

#define NMSG 1000
#define TAG_AB 1
#define TAG_BA 2

typedef struct stream_case {
  const char *name;
  sim_link link;
  int lossless; /* no loss configured: everything must arrive, in order */
} stream_case;

static void run_streams(const stream_case *sc) {
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  size_t total = 0, worst = NMSG;
  uint64_t span = 0;
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], 2, NULL);
    uint8_t msg[MSG_MAX];
    /* The handshake under loss is scenario (a); here the link degrades once it is up
     * (under heavy loss a handshake can fail for good: see test_handshake_under_loss). */
    connect_pair(net, 0, 1);
    simnet_set_default_link(net, &sc->link);
    uint64_t t0 = simnet_now(net) + 100;
    /* One message each way every 2 ms: a 2 s stream that keeps the reorder depth
     * (jitter / interval) well inside the jitter buffer's window. */
    for (uint32_t i = 0; i < NMSG; i++) {
      simnet_run_until(net, t0 + 2ull * i);
      size_t n = make_msg(msg, TAG_AB, i);
      SIM_ASSERT(net, simnet_write(net, 0, 1, msg, n) == SW_OK, "A write %u", i);
      n = make_msg(msg, TAG_BA, i);
      SIM_ASSERT(net, simnet_write(net, 1, 0, msg, n) == SW_OK, "B write %u", i);
    }
    simnet_run_until(net, simnet_now(net) + 5 * SEC);
    check_healthy(net);
    rx_report ab = check_stream(net, 1, TAG_AB, NMSG, 0);
    rx_report ba = check_stream(net, 0, TAG_BA, NMSG, 0);
    SIM_ASSERT(net, check_stream(net, 0, TAG_AB, NMSG, 0).delivered == 0 &&
                        check_stream(net, 1, TAG_BA, NMSG, 0).delivered == 0,
               "%s: a node got its own message", sc->name);
    /* The jitter buffer never delivers below what it has delivered (PROTOCOL.md 6.1):
     * whatever arrives, arrives in send order, with or without loss. */
    sw_core_stats sa, sb;
    sw_core_get_stats(simnet_core(net, 0), &sa);
    sw_core_get_stats(simnet_core(net, 1), &sb);
    SIM_ASSERT(net, ab.in_order, "%s: B got %u after %u at t=%llu (B saw %llu restarts)",
               sc->name, ab.disorder_idx, ab.disorder_prev,
               (unsigned long long)ab.disorder_ms, (unsigned long long)sb.restarts);
    SIM_ASSERT(net, ba.in_order, "%s: A got %u after %u at t=%llu (A saw %llu restarts)",
               sc->name, ba.disorder_idx, ba.disorder_prev,
               (unsigned long long)ba.disorder_ms, (unsigned long long)sa.restarts);
    if (sc->lossless) {
      SIM_ASSERT(net, ab.delivered == NMSG, "%s: B got %zu of %d", sc->name, ab.delivered,
                 NMSG);
      SIM_ASSERT(net, ba.delivered == NMSG, "%s: A got %zu of %d", sc->name, ba.delivered,
                 NMSG);
    }
    SIM_ASSERT(net, simnet_node_stats(net, 0)->disconnects == 0, "A disconnected");
    SIM_ASSERT(net, simnet_node_stats(net, 1)->disconnects == 0, "B disconnected");
    total += ab.delivered + ba.delivered;
    worst = ab.delivered < worst ? ab.delivered : worst;
    worst = ba.delivered < worst ? ba.delivered : worst;
    if (ab.last_ms - t0 > span) span = ab.last_ms - t0;
    simnet_free(net);
  }
  printf("figure: streams %-12s delivered %.1f%% (worst direction %zu/%d), last message "
         "at most %llu ms after the first write (%zu seeds)\n",
         sc->name, 100.0 * (double)total / (double)(2 * NMSG * ns), worst, NMSG,
         (unsigned long long)span, ns);
}

static void test_streams_clean(void **state) {
  (void)state;
  stream_case sc = {"clean", {.delay_ms = 15}, 1};
  run_streams(&sc);
}

static void test_streams_reorder(void **state) {
  (void)state;
  stream_case sc = {"reorder", {.delay_ms = 20, .jitter_ms = 30}, 1};
  run_streams(&sc);
}

static void test_streams_reorder_dup(void **state) {
  (void)state;
  stream_case sc = {"reorder+dup", {.dup = 0.10, .delay_ms = 20, .jitter_ms = 30}, 1};
  run_streams(&sc);
}

static void test_streams_lossy(void **state) {
  (void)state;
  stream_case sc = {"lossy", {.loss = 0.10, .dup = 0.10, .delay_ms = 20, .jitter_ms = 30}, 0};
  run_streams(&sc);
}

static void test_streams_harsh(void **state) {
  (void)state;
  /* Jitter beyond the 50 ms reorder wait: late datagrams are abandoned, never
   * delivered out of order, twice or damaged. */
  stream_case sc = {"harsh", {.loss = 0.30, .dup = 0.30, .delay_ms = 5, .jitter_ms = 150}, 0};
  run_streams(&sc);
}

/* ---- (c) 60 s timeout, and keep-alive ------------------------------------------ */

static int rx_changed(simnet *net, void *ctx) {
  const uint64_t *before = ctx;
  return simnet_node_stats(net, 1)->rx_datagrams != *before;
}

static void test_timeout_after_cut(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  sim_link l = {.delay_ms = 25, .jitter_ms = 10};
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], 2, &l);
    connect_pair(net, 0, 1);
    simnet_run_until(net, simnet_now(net) + 5 * SEC + seeds[s] % 1000);
    /* Cut right after B hears from A, so the cut and B's last contact coincide. */
    uint64_t before = simnet_node_stats(net, 1)->rx_datagrams;
    SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 5 * SEC, rx_changed, &before),
               "B heard nothing");
    simnet_partition(net, 0, 1, 1);
    uint64_t cut = simnet_now(net), a_last = simnet_node_stats(net, 0)->last_rx_ms;
    /* Not before 60 s of silence: B's started at the cut, A's at its last contact. */
    simnet_run_until(net, a_last + 59999);
    SIM_ASSERT(net, simnet_node_stats(net, 0)->disconnects == 0, "A gave up before 60 s");
    simnet_run_until(net, cut + 59999);
    SIM_ASSERT(net, simnet_node_stats(net, 1)->disconnects == 0, "B gave up before 60 s");
    simnet_run_until(net, cut + 70 * SEC);
    uint64_t tb = first_event(net, 1, SW_EV_DISCONNECT, 0);
    uint64_t ta = first_event(net, 0, SW_EV_DISCONNECT, 0);
    SIM_ASSERT(net, tb != UINT64_MAX && tb - cut >= 60 * SEC && tb - cut <= 62 * SEC,
               "B's DISCONNECT came %lld ms after the cut", (long long)(tb - cut));
    /* A's last contact was at or before the cut: 60..62 s of silence, measured from it. */
    SIM_ASSERT(net, ta != UINT64_MAX && ta - a_last >= 60 * SEC && ta - a_last <= 62 * SEC,
               "A's DISCONNECT came %lld ms after its last contact", (long long)(ta - a_last));
    SIM_ASSERT(net, simnet_node_stats(net, 0)->disconnects == 1, "A: one DISCONNECT");
    SIM_ASSERT(net, simnet_node_stats(net, 1)->disconnects == 1, "B: one DISCONNECT");
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 0)) == 0, "A forgot B");
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 1)) == 0, "B forgot A");
    check_healthy(net);
    lo = tb - cut < lo ? tb - cut : lo;
    hi = tb - cut > hi ? tb - cut : hi;
    simnet_free(net);
  }
  printf("figure: link cut: DISCONNECT %llu..%llu ms after the last datagram heard "
         "(%zu seeds)\n", (unsigned long long)lo, (unsigned long long)hi, ns);
}

static void test_keepalive(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  const sim_link links[2] = {{.delay_ms = 30, .jitter_ms = 20},
                             {.loss = 0.30, .dup = 0.05, .delay_ms = 30, .jitter_ms = 20}};
  for (int v = 0; v < 2; v++)
    for (size_t s = 0; s < ns; s++) {
      simnet *net = net_with(seeds[s], 2, NULL);
      connect_pair(net, 0, 1);
      simnet_set_default_link(net, &links[v]);
      simnet_run_until(net, simnet_now(net) + 600 * SEC);
      for (int i = 0; i < 2; i++) {
        SIM_ASSERT(net, simnet_node_stats(net, i)->disconnects == 0,
                   "node %d disconnected an idle but live peer (variant %d)", i, v);
        SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, i)) == 1, "node %d peers", i);
      }
      check_healthy(net);
      simnet_free(net);
    }
}

/* ---- (d) GOAWAY ------------------------------------------------------------------ */

static void test_goaway(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  sim_link l = {.dup = 0.10, .delay_ms = 40, .jitter_ms = 20};
  uint64_t worst = 0;
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], 2, &l);
    uint8_t msg[MSG_MAX];
    connect_pair(net, 0, 1);
    for (uint32_t i = 0; i < 20; i++) {
      size_t n = make_msg(msg, TAG_AB, i);
      SIM_ASSERT(net, simnet_write(net, 0, 1, msg, n) == SW_OK, "write");
      simnet_run_until(net, simnet_now(net) + 10);
    }
    simnet_run_until(net, simnet_now(net) + 3 * SEC + seeds[s] % 700);
    uint64_t t = simnet_now(net);
    SIM_ASSERT(net, simnet_close(net, 0) == SW_OK, "close");
    simnet_run_until(net, t + 70 * SEC);
    uint64_t tb = first_event(net, 1, SW_EV_DISCONNECT, 0);
    SIM_ASSERT(net, tb != UINT64_MAX && tb - t < 1 * SEC,
               "B's DISCONNECT came %lld ms after A closed", (long long)(tb - t));
    SIM_ASSERT(net, simnet_node_stats(net, 1)->disconnects == 1, "B: exactly one DISCONNECT");
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 1)) == 0, "B forgot A");
    /* Everything A wrote before closing was delivered first. */
    rx_report r = check_stream(net, 1, TAG_AB, 20, 0);
    SIM_ASSERT(net, r.delivered == 20 && r.last_ms <= tb, "B got %zu of 20 before GOAWAY",
               r.delivered);
    check_healthy(net);
    worst = tb - t > worst ? tb - t : worst;
    simnet_free(net);
  }
  printf("figure: GOAWAY, 40+0..20 ms links: B's DISCONNECT at most %llu ms after A's "
         "close (%zu seeds)\n", (unsigned long long)worst, ns);
}

/* ---- (e) multi-hop flooding ------------------------------------------------------- */

#define TAG_BCAST 0x40 /* tag = TAG_BCAST + origin node */

/* Node `o` broadcasts `per` messages; afterwards check who got what. */
static void broadcast_round(simnet *net, int nodes, int per) {
  uint8_t msg[MSG_MAX];
  for (int k = 0; k < per; k++)
    for (int o = 0; o < nodes; o++) {
      size_t n = make_msg(msg, (uint8_t)(TAG_BCAST + o), (uint32_t)k);
      int rc = simnet_broadcast(net, o, msg, n);
      SIM_ASSERT(net, rc > 0, "node %d broadcast: %d", o, rc);
      simnet_run_until(net, simnet_now(net) + 7);
    }
  simnet_run_until(net, simnet_now(net) + 5 * SEC);
}

/* Every node got every other node's `per` messages exactly once (or at most once when
 * `lossy`), and none of its own. Returns the latest delivery time seen, and adds the
 * number of deliveries to *got. */
static uint64_t check_flood(simnet *net, int nodes, int per, int lossy, uint64_t since,
                            size_t *got) {
  uint64_t latest = 0;
  for (int i = 0; i < nodes; i++)
    for (int o = 0; o < nodes; o++) {
      rx_report r = check_stream(net, i, (uint8_t)(TAG_BCAST + o), (uint32_t)per, since);
      if (o == i) {
        SIM_ASSERT(net, r.delivered == 0, "node %d got its own message back", i);
      } else if (!lossy) {
        SIM_ASSERT(net, r.delivered == (size_t)per, "node %d got %zu of node %d's %d", i,
                   r.delivered, o, per);
      }
      if (r.delivered && r.last_ms > latest) latest = r.last_ms;
      *got += r.delivered;
    }
  return latest;
}

static void test_flood_line(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  sim_link l = {.dup = 0.10, .delay_ms = 20, .jitter_ms = 30};
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], 3, &l); /* A=0, B=1, C=2 */
    simnet_partition(net, 0, 2, 1);          /* A and C can never meet */
    connect_pair(net, 0, 1);
    connect_pair(net, 2, 1);
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 0)) == 1, "A has one peer");
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 2)) == 1, "C has one peer");
    uint64_t t0 = simnet_now(net);
    size_t got = 0;
    broadcast_round(net, 3, 30);
    check_flood(net, 3, 30, 0, t0, &got);
    /* C's copies of A's messages all came through B. */
    SIM_ASSERT(net, simnet_count(net, 2, SW_EV_DATA, simnet_id(net, 0), 0) == 0,
               "C heard from A directly");
    check_healthy(net);
    simnet_free(net);
  }
}

/* A node's own message must not come back even when its peer set grows while the
 * message travels: A (one peer, B) broadcasts just before its handshake with C
 * completes; the message goes A -> B -> C, and C, which already counts A among its
 * peers, floods it on to A. */
static void test_flood_own_message_while_meeting(void **state) {
  (void)state;
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  sim_link l = {.delay_ms = 10}; /* fixed delays: the race is hit exactly */
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], 3, &l);
    uint8_t msg[MSG_MAX];
    connect_pair(net, 0, 1);
    connect_pair(net, 2, 1);
    simnet_run_until(net, simnet_now(net) + 1 * SEC + seeds[s] % 500);
    uint64_t t = simnet_now(net);
    assert_int_equal(simnet_dial(net, 0, 2), SW_OK); /* HELLO at C at t+10, ACK at A at t+20 */
    simnet_run_until(net, t + 19);
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 0)) == 1, "A still has one peer");
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 2)) == 2, "C already counts A");
    size_t n = make_msg(msg, TAG_BCAST, 0);
    SIM_ASSERT(net, simnet_broadcast(net, 0, msg, n) == 1, "A broadcast to B");
    simnet_run_until(net, t + 5 * SEC);
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 0)) == 2, "A met C");
    SIM_ASSERT(net, check_stream(net, 2, TAG_BCAST, 1, t).delivered == 1, "C got it");
    SIM_ASSERT(net, check_stream(net, 0, TAG_BCAST, 1, t).delivered == 0,
               "A got its own message back (from C)");
    check_healthy(net);
    simnet_free(net);
  }
}

static void connect_all(simnet *net, const int (*edges)[2], int nedges) {
  for (int e = 0; e < nedges; e++)
    assert_int_equal(simnet_dial(net, edges[e][0], edges[e][1]), SW_OK);
  simnet_run_until(net, simnet_now(net) + 10 * SEC);
  for (int e = 0; e < nedges; e++) {
    int a = edges[e][0], b = edges[e][1];
    SIM_ASSERT(net, simnet_count(net, a, SW_EV_CONNECTION, simnet_id(net, b), 0) == 1 &&
                        simnet_count(net, b, SW_EV_CONNECTION, simnet_id(net, a), 0) == 1,
               "edge %d-%d did not connect exactly once", a, b);
  }
}

static void flood_topology(const char *name, int ring, const sim_link *l, int lossy) {
  enum { N = 10, PER = 5 };
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  uint64_t worst = 0;
  size_t got = 0;
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], N, l);
    int edges[N * N][2], ne = 0;
    for (int a = 0; a < N; a++)
      for (int b = a + 1; b < N; b++) {
        int adjacent = b == a + 1 || (a == 0 && b == N - 1);
        if (!ring || adjacent) {
          edges[ne][0] = a;
          edges[ne][1] = b;
          ne++;
        } else {
          simnet_partition(net, a, b, 1);
        }
      }
    connect_all(net, (const int(*)[2])edges, ne);
    uint64_t t0 = simnet_now(net);
    broadcast_round(net, N, PER);
    uint64_t latest = check_flood(net, N, PER, lossy, t0, &got);
    check_healthy(net);
    worst = latest - t0 > worst ? latest - t0 : worst;
    simnet_free(net);
  }
  printf("figure: flood %-10s %d nodes x %d broadcasts: %.2f%% of the %d x %d deliveries "
         "made, the last %llu ms after the first broadcast (%zu seeds)\n", name, N, PER,
         100.0 * (double)got / (double)(ns * N * (N - 1) * PER), N - 1, PER,
         (unsigned long long)worst, ns);
}

static void test_flood_ring(void **state) {
  (void)state;
  sim_link l = {.dup = 0.10, .delay_ms = 20, .jitter_ms = 30};
  flood_topology("ring", 1, &l, 0);
}

static void test_flood_mesh(void **state) {
  (void)state;
  sim_link l = {.dup = 0.10, .delay_ms = 20, .jitter_ms = 30};
  flood_topology("mesh", 0, &l, 0);
}

static void test_flood_mesh_lossy(void **state) {
  (void)state;
  sim_link l = {.loss = 0.10, .dup = 0.10, .delay_ms = 20, .jitter_ms = 30};
  flood_topology("mesh-lossy", 0, &l, 1);
}

/* ---- (f) restart ------------------------------------------------------------------- */

#define TAG_OLD_BA 0x10
#define TAG_NEW_BA 0x11
#define TAG_OLD_AB 0x12
#define TAG_NEW_AB 0x13

/* `from` writes messages first..first+count-1 of `tag` to `to`, one every 3 ms; each
 * time, cond(net, ctx) is polled until it holds and the time recorded in *t_cond. */
static void send_range(simnet *net, int from, int to, uint8_t tag, uint32_t first,
                       uint32_t count, simnet_cond cond, void *ctx, uint64_t *t_cond) {
  uint8_t msg[MSG_MAX];
  for (uint32_t i = first; i < first + count; i++) {
    size_t len = make_msg(msg, tag, i);
    SIM_ASSERT(net, simnet_write(net, from, to, msg, len) == SW_OK, "%d write %u", from, i);
    uint64_t until = simnet_now(net) + 3;
    if (*t_cond == UINT64_MAX && simnet_run_until_cond(net, until, cond, ctx))
      *t_cond = simnet_now(net);
    simnet_run_until(net, until);
  }
}

/* Both ways at once, messages 0..n-1. */
static void exchange(simnet *net, uint8_t tag_ab, uint8_t tag_ba, uint32_t first, uint32_t n) {
  uint8_t msg[MSG_MAX];
  for (uint32_t i = first; i < first + n; i++) {
    size_t len = make_msg(msg, tag_ab, i - first);
    SIM_ASSERT(net, simnet_write(net, 0, 1, msg, len) == SW_OK, "A write %u", i);
    len = make_msg(msg, tag_ba, i);
    SIM_ASSERT(net, simnet_write(net, 1, 0, msg, len) == SW_OK, "B write %u", i);
    simnet_run_until(net, simnet_now(net) + 3);
  }
  simnet_run_until(net, simnet_now(net) + 2 * SEC);
}

/* A has seen B's new session (a restart) and sends to B's current address. */
typedef struct learn_goal {
  uint64_t restarts_before;
} learn_goal;

static int a_learned(simnet *net, void *ctx) {
  const learn_goal *g = ctx;
  sw_core_stats st;
  sw_core_peer_info info;
  sw_core_get_stats(simnet_core(net, 0), &st);
  return st.restarts > g->restarts_before && sw_core_peers(simnet_core(net, 0), &info, 1) == 1 &&
         addr_equal(&info.addr, simnet_addr(net, 1));
}

static void restart_case(const char *name, int keep_address) {
  uint64_t seeds[NSEEDS];
  size_t ns = simnet_seeds(SEEDS, NSEEDS, seeds);
  sim_link l = {.dup = 0.05, .delay_ms = 20, .jitter_ms = 30};
  uint64_t worst_first = 0, worst_learn = 0;
  for (size_t s = 0; s < ns; s++) {
    simnet *net = net_with(seeds[s], 2, &l);
    connect_pair(net, 0, 1);
    /* Enough traffic that A's view of B's counters and sequence numbers is far along. */
    exchange(net, TAG_OLD_AB, TAG_OLD_BA, 0, 300);
    sw_addr old_addr = *simnet_addr(net, 1);
    simnet_run_until(net, simnet_now(net) + 12 * SEC + seeds[s] % 1000);
    uint64_t t = simnet_now(net);
    sw_core_stats st;
    sw_core_get_stats(simnet_core(net, 0), &st);
    learn_goal lg = {st.restarts};
    assert_int_equal(simnet_restart_node(net, 1, keep_address), 0); /* a crash: no GOAWAY */
    SIM_ASSERT(net, keep_address == addr_equal(&old_addr, simnet_addr(net, 1)), "address");
    assert_int_equal(simnet_dial(net, 1, 0), SW_OK);
    int b_only[1] = {1};
    conn_goal g = {b_only, 1, 2}; /* B's second CONNECTION: the new core's */
    SIM_ASSERT(net, simnet_run_until_cond(net, t + 10 * SEC, connected, &g),
               "new B did not connect");
    uint64_t tc = simnet_now(net);
    /* The new B talks at once: A must take it (replay window, jitter buffer). */
    uint64_t tl = UINT64_MAX;
    send_range(net, 1, 0, TAG_NEW_BA, 0, 100, a_learned, &lg, &tl);
    /* A's own messages can only reach B once A has seen B's new session: until then
     * A has no authenticated word that B moved (HELLO proves nothing, D8). */
    SIM_ASSERT(net, tl != UINT64_MAX, "A never saw B's new session");
    exchange(net, TAG_NEW_AB, TAG_NEW_BA, 100, 200);
    rx_report to_a = check_stream(net, 0, TAG_NEW_BA, 300, t);
    rx_report to_b = check_stream(net, 1, TAG_NEW_AB, 200, t);
    SIM_ASSERT(net, to_a.delivered == 300 && to_a.in_order,
               "%s: A delivered %zu of the new B's 300 messages (in order: %d)", name,
               to_a.delivered, to_a.in_order);
    SIM_ASSERT(net, to_b.delivered == 200 && to_b.in_order,
               "%s: new B delivered %zu of A's 200 messages (in order: %d)", name,
               to_b.delivered, to_b.in_order);
    SIM_ASSERT(net, sw_core_peer_count(simnet_core(net, 0)) == 1, "A has one peer");
    SIM_ASSERT(net, simnet_node_stats(net, 0)->disconnects == 0, "A dropped B");
    check_healthy(net);
    worst_first = to_a.first_ms - tc > worst_first ? to_a.first_ms - tc : worst_first;
    worst_learn = tl - tc > worst_learn ? tl - tc : worst_learn;
    simnet_free(net);
  }
  printf("figure: restart %-12s the new B's first message delivered by A <= %llu ms, A "
         "sending to the new session <= %llu ms after B's handshake (%zu seeds)\n",
         name, (unsigned long long)worst_first, (unsigned long long)worst_learn, ns);
}

static void test_restart_new_address(void **state) {
  (void)state;
  restart_case("new-address", 0);
}

static void test_restart_same_address(void **state) {
  (void)state;
  restart_case("same-address", 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_under_loss),
      cmocka_unit_test(test_streams_clean),
      cmocka_unit_test(test_streams_reorder),
      cmocka_unit_test(test_streams_reorder_dup),
      cmocka_unit_test(test_streams_lossy),
      cmocka_unit_test(test_streams_harsh),
      cmocka_unit_test(test_timeout_after_cut),
      cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_goaway),
      cmocka_unit_test(test_flood_line),
      cmocka_unit_test(test_flood_own_message_while_meeting),
      cmocka_unit_test(test_flood_ring),
      cmocka_unit_test(test_flood_mesh),
      cmocka_unit_test(test_flood_mesh_lossy),
      cmocka_unit_test(test_restart_new_address),
      cmocka_unit_test(test_restart_same_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
