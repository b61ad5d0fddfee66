/* A swarm behind mixed NATs finds itself (issue 9): SWARM_N peers (200; SIM_NATSWARM_N
 * overrides it, e.g. 400, or fewer under ASan, set by CMake) each behind its own NAT,
 * drawn from a mix close to what home and mobile networks show (10 % open, 20 % full
 * cone, 15 % restricted cone, 35 % port-restricted, 15 % symmetric with random ports,
 * 5 % symmetric with sequential ports), plus a few homes where 2 or 3 hosts share one
 * port-restricted NAT. Two public rendezvous nodes R0 and R1 are seeds, relays
 * (relay_serve) and take up to 512 peers; one STUN server (stunsrv.c, two IPs and two
 * ports, as test_sim_natpairs) tells everyone its NAT type. Links: 20 ms, 0..5 ms
 * jitter, 1 % loss.
 *
 * Discovery is the engine's own, nothing in the test dials a peer: each peer joins the
 * topic with R0 and R1 as seeds (seeds.h) within the first 5 s; after PEX_INTERVAL_MS
 * (60 s) R0 and R1 send every peer a PEX frame (pex.h) naming up to 20 of their other
 * peers, at the address the rendezvous sees them at (their mapping toward it); peers do
 * the same among themselves. Each entry goes through the meet gate: a dial with an
 * introduction through a common verified peer (intro.h), the birthday punch for a hard
 * side facing a port-restricted one (birthday.h), the fallback to a relay when nothing
 * punches (relay.h). The DHT is not used.
 *
 * Asserted, for each seed (1, 2, 3), at SWARM_T_MS (90 s: the first PEX round is at 60 s,
 * so 60 s is too soon for anything beyond the rendezvous):
 * - at least 95 % of the peers have MESH_LOW (engine.h: the mesh is kept at 4..16, 6
 *   wanted) sessions with other peers, the rendezvous not counted, and every peer has
 *   one. The goal is every peer: the few that miss are behind symmetric NATs, and the
 *   rendezvous refuse their relayed dials once RELAY_CIRCUITS (64) circuits are taken;
 * - the peers alone (without R0 and R1) form one connected component;
 * - a broadcast from a random peer reaches at least 99 % of the other peers. A peer's
 *   mesh is its own choice (MESH_D first sessions, delivery.c); a libsetowire peer
 *   tells the peers it chose (sealed GRAFT, PROTOCOL.md 21.2) and they choose it back,
 *   so nobody is left in nobody's mesh. Without GRAFT about half of the peers here
 *   never heard a flood (the test found it);
 * - every core's sw_core_memory() is within docs/API.md's bound for its configuration;
 * - at most 1 % of the sessions go through a relay where a punch works (two symmetric
 *   NATs, or a symmetric and a port-restricted one whose birthday spray missed, are
 *   where a relay belongs).
 * SIM_NATSWARM_400=1 adds a run with 400 peers, printed, not asserted.
 * The "figure: natswarm" lines give the share of peers with MESH_LOW sessions, the time
 * until each had them (p50/p90), and sessions direct / relayed by NAT-type pair
 * (bench/NAT.md, "Swarm"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "engine.h"
#include "intro.h"
#include "relay.h"
#include "simnet.h"
#include "simstun.h"
#include "testutil.h"

#define SWARM_N 200
#define SWARM_MAX 600
#define NRDV 2
#define SWARM_T_MS 90000ull
#define JOIN_SPREAD_MS 5000
#define HOMES 6        /* shared NATs, 2 or 3 hosts each */
#define NT (SIM_NAT_TYPE_COUNT + 1) /* + "home": two hosts behind one NAT */
#define T_HOME SIM_NAT_TYPE_COUNT
#define OUT_BYTES (256u * 1024u)
#define DEDUP_LOG2 12

typedef struct swarm {
  simnet *net;
  int n;                 /* nodes, rendezvous included */
  int type[SWARM_MAX];   /* sim_nat_type of each node's NAT */
  int home[SWARM_MAX];   /* 1: shares its NAT with other hosts */
  char ip[SWARM_MAX][64];
  uint64_t t_k[SWARM_MAX]; /* when it first had MESH_LOW peer sessions; 0: not yet */
} swarm;


static void config(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  swarm *w = ctx;
  cfg->intro = 1;
  cfg->relayed = 1;
  cfg->relay_serve = node < NRDV;
  cfg->nat = 1;
  cfg->pex = 1;
  cfg->probe_sockets = 1;
  cfg->max_peers = node < NRDV ? 512 : 0;
  cfg->out_buffer_bytes = OUT_BYTES;
  cfg->dedup_slots_log2 = DEDUP_LOG2;
  if (node < SWARM_MAX &&
      addr_format_ip(simnet_addr(net, node), w->ip[node], sizeof w->ip[node]) > 0) {
    cfg->lan_ip = w->ip[node];
    cfg->port = simnet_addr(net, node)->port;
  }
}

/* The NAT mix, in percent per type (SIM_NAT_OPEN .. SIM_NAT_SYMMETRIC_SEQ). */
static const unsigned MIX[SIM_NAT_TYPE_COUNT] = {10, 20, 15, 35, 15, 5};

static sim_nat_type draw_type(tu_rng *rng) {
  unsigned r = (unsigned)(tu_rng_next(rng) % 100), acc = 0;
  for (int t = 0; t < SIM_NAT_TYPE_COUNT; t++) {
    acc += MIX[t];
    if (r < acc) return (sim_nat_type)t;
  }
  return SIM_NAT_PORT_RESTRICTED;
}

/* Sessions of node i with other peers (not the rendezvous). */
static int peer_degree(simnet *net, int i) {
  sw_core_peer_info info[128];
  size_t n = sw_core_peers(simnet_core(net, i), info, 128);
  int d = 0;
  for (size_t k = 0; k < n && k < 128; k++) {
    int j = simnet_node_by_wire(net, info[k].wire_id);
    if (j >= NRDV && core_connected(simnet_core(net, i), simnet_id(net, j))) d++;
  }
  return d;
}

static int symm(int t) { return t == SIM_NAT_SYMMETRIC || t == SIM_NAT_SYMMETRIC_SEQ; }

/* Where a relayed session may be: no punch opens these. */
static int relay_allowed(int ta, int tb) {
  if (symm(ta) && symm(tb)) return 1;
  return (symm(ta) && tb == SIM_NAT_PORT_RESTRICTED) ||
         (symm(tb) && ta == SIM_NAT_PORT_RESTRICTED);
}

static const char *tname(int t) {
  return t == T_HOME ? "same-home" : simnet_nat_type_name((sim_nat_type)t);
}

static int cmp_u64(const void *x, const void *y) {
  uint64_t u = *(const uint64_t *)x, v = *(const uint64_t *)y;
  return u < v ? -1 : u > v;
}

typedef struct tally {
  size_t direct[NT][NT], relayed[NT][NT];
} tally;

/* The introduction and relay counters, for the rendezvous and summed over the peers. */
static void print_stats(simnet *net, int n) {
  intro_stats sum = {0};
  relay_stats rsum = {0};
  for (int i = 0; i < n; i++) {
    intro_stats st;
    relay_stats rs;
    int serving = 0;
    if (intro_get_stats(simnet_core(net, i), &st) || relay_get_stats(simnet_core(net, i), &rs, &serving))
      continue;
    if (i < NRDV)
      printf("rendezvous %d: intro req_in %llu refused %llu fwd_sent %llu; relay fwd %llu "
             "refused %llu circuits %llu; peers %zu\n",
             i, (unsigned long long)st.requests_in, (unsigned long long)st.refused,
             (unsigned long long)st.forwards_sent, (unsigned long long)rs.forwarded,
             (unsigned long long)rs.refused, (unsigned long long)rs.circuits,
             sw_core_peer_count(simnet_core(net, i)));
    if (i < NRDV) continue;
    sum.requests_sent += st.requests_sent;
    sum.requests_in += st.requests_in;
    sum.forwards_sent += st.forwards_sent;
    sum.forwards_in += st.forwards_in;
    sum.dials += st.dials;
    sum.refused += st.refused;
    sum.retries += st.retries;
    rsum.dials += rs.dials;
    rsum.refused += rs.refused;
    rsum.circuits += rs.circuits;
    rsum.forwarded += rs.forwarded;
  }
  printf("peers: intro req_sent %llu req_in %llu fwd_sent %llu fwd_in %llu dials %llu refused "
         "%llu retries %llu; relay dials %llu fwd %llu refused %llu circuits %llu\n",
         (unsigned long long)sum.requests_sent, (unsigned long long)sum.requests_in,
         (unsigned long long)sum.forwards_sent, (unsigned long long)sum.forwards_in,
         (unsigned long long)sum.dials, (unsigned long long)sum.refused,
         (unsigned long long)sum.retries, (unsigned long long)rsum.dials,
         (unsigned long long)rsum.forwarded, (unsigned long long)rsum.refused,
         (unsigned long long)rsum.circuits);
}

static void run_swarm(uint64_t seed, int npeers, int check) {
  static swarm w;
  memset(&w, 0, sizeof w);
  sim_link l = {.loss = 0.01, .delay_ms = 20, .jitter_ms = 5};
  simnet *net = simnet_new(seed);
  assert_non_null(net);
  w.net = net;
  simnet_set_default_link(net, &l);
  simnet_set_config(net, config, &w);
  tu_rng rng = {seed * 0x9E3779B97F4A7C15ull + 11};

  for (int r = 0; r < NRDV; r++) {
    assert_int_equal(simnet_add_node_behind(net, NULL, -1, 0), r);
    w.type[r] = SIM_NAT_OPEN;
  }
  int homes = 0;
  while (simnet_node_count(net) < NRDV + npeers) {
    int left = NRDV + npeers - simnet_node_count(net);
    if (homes < HOMES && left >= 3 && tu_rng_next(&rng) % 16 == 0) {
      int nat = simnet_add_nat_type(net, SIM_NAT_PORT_RESTRICTED);
      assert_true(nat >= 0);
      int hosts = 2 + (int)(tu_rng_next(&rng) % 2);
      for (int h = 0; h < hosts; h++) {
        int i = simnet_add_node_behind(net, NULL, nat, 0);
        assert_true(i >= 0 && i < SWARM_MAX);
        w.type[i] = SIM_NAT_PORT_RESTRICTED;
        w.home[i] = 1;
      }
      homes++;
      continue;
    }
    sim_nat_type t = draw_type(&rng);
    int i = simnet_add_node_behind(net, NULL, simnet_add_nat_type(net, t), 0);
    assert_true(i >= 0 && i < SWARM_MAX);
    w.type[i] = t;
  }
  w.n = simnet_node_count(net);
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));

  simstun stun;
  simstun_init(&stun, net);
  sw_addr stun_addr = stunsrv_socket(&stun.cfg, 0, 0);
  uint8_t topic[32];
  memset(topic, 0x5a, sizeof topic);
  /* Everyone joins within JOIN_SPREAD_MS, in a random order. */
  uint64_t *join_at = calloc((size_t)w.n, sizeof *join_at);
  assert_non_null(join_at);
  for (int i = 0; i < w.n; i++) join_at[i] = i < NRDV ? 0 : tu_rng_next(&rng) % JOIN_SPREAD_MS;
  for (uint64_t t = 0; t <= JOIN_SPREAD_MS; t += 50) {
    simnet_run_until(net, t);
    for (int i = 0; i < w.n; i++) {
      if (join_at[i] < t || join_at[i] >= t + 50 || (t == 0 && i < NRDV && join_at[i]))
        continue;
      sw_core *c = simnet_core(net, i);
      if (i >= NRDV)
        assert_int_equal(sw_core_add_stun_server(c, &stun_addr, simnet_now(net)), SW_OK);
      assert_int_equal(sw_core_join(c, topic), SW_OK);
      for (int r = 0; r < NRDV; r++)
        if (r != i) assert_int_equal(sw_core_add_seed(c, simnet_addr(net, r), simnet_now(net)), SW_OK);
      simnet_kick(net, i);
    }
  }
  free(join_at);

  /* Run, sampling every 500 ms who has MESH_LOW peer sessions. */
  for (uint64_t t = JOIN_SPREAD_MS; t <= SWARM_T_MS; t += 500) {
    simnet_run_until(net, t);
    for (int i = NRDV; i < w.n; i++)
      if (!w.t_k[i] && peer_degree(net, i) >= MESH_LOW) w.t_k[i] = t;
  }
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));

  /* Degrees, components (union-find over peer sessions), and the paths. */
  static int parent[SWARM_MAX];
  static tally tl;
  memset(&tl, 0, sizeof tl);
  for (int i = 0; i < w.n; i++) parent[i] = i;
  size_t with_k = 0, bad_relay = 0, pairs = 0, max_mem = 0, min_deg = SIZE_MAX;
  size_t max_deg = 0, sum_deg = 0;
  for (int i = NRDV; i < w.n; i++) {
    sw_core_peer_info info[128];
    sw_core *c = simnet_core(net, i);
    size_t n = sw_core_peers(c, info, 128);
    size_t deg = 0;
    for (size_t k = 0; k < n && k < 128; k++) {
      int j = simnet_node_by_wire(net, info[k].wire_id);
      if (j < NRDV || !core_connected(c, simnet_id(net, j))) continue;
      deg++;
      int a = i, b = j;
      while (parent[a] != a) a = parent[a] = parent[parent[a]];
      while (parent[b] != b) b = parent[b] = parent[parent[b]];
      parent[a] = b;
      if (j < i) continue; /* each pair once, from its lower end */
      pairs++;
      int same = simnet_node_nat(net, i) >= 0 && simnet_node_nat(net, i) == simnet_node_nat(net, j);
      int ta = same ? T_HOME : w.type[i], tb = same ? T_HOME : w.type[j];
      if (ta > tb) { int x = ta; ta = tb; tb = x; }
      if (info[k].relayed) {
        tl.relayed[ta][tb]++;
        if (!relay_allowed(ta, tb)) {
          bad_relay++;
          print_message("relayed without need: node %d (%s) and %d (%s)\n", i,
                        tname(w.type[i]), j, tname(w.type[j]));
        }
      } else {
        tl.direct[ta][tb]++;
      }
    }
    sum_deg += deg;
    if (deg < min_deg) min_deg = deg;
    if (deg > max_deg) max_deg = deg;
    if (deg >= MESH_LOW) with_k++;
    else
      print_message("node %d (%s%s) has %zu peer sessions\n", i, tname(w.type[i]),
                    w.home[i] ? ", home" : "", deg);
    size_t mem = sw_core_memory(c);
    if (mem > max_mem) max_mem = mem;
  }
  if (getenv("SIM_NATSWARM_DEBUG")) print_stats(net, w.n);
  int comps = 0;
  for (int i = NRDV; i < w.n; i++) comps += parent[i] == i;

  /* The broadcast. */
  int from = NRDV + (int)(tu_rng_next(&rng) % (uint64_t)npeers);
  /* The flood goes along mesh edges only (delivery.c), and a peer's mesh is its own
   * choice: who is in nobody's mesh, and who the origin's flood can reach at all. */
  static uint8_t mesh[SWARM_MAX][SWARM_MAX];
  static int indeg[SWARM_MAX], queue[SWARM_MAX], seen[SWARM_MAX];
  memset(mesh, 0, sizeof mesh);
  memset(indeg, 0, sizeof indeg);
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < w.n; i++) {
    static sw_core_peer_info info[SWARM_MAX];
    size_t n = sw_core_peers(simnet_core(net, i), info, SWARM_MAX);
    for (size_t k = 0; k < n && k < SWARM_MAX; k++) {
      int j = simnet_node_by_wire(net, info[k].wire_id);
      if (j >= 0 && info[k].in_mesh) {
        mesh[i][j] = 1;
        indeg[j]++;
      }
    }
  }
  size_t orphans = 0, mesh_reach = 0;
  for (int i = NRDV; i < w.n; i++) orphans += indeg[i] == 0;
  int qh = 0, qt = 0;
  queue[qt++] = from;
  seen[from] = 1;
  while (qh < qt) {
    int i = queue[qh++];
    for (int j = 0; j < w.n; j++)
      if (mesh[i][j] && !seen[j]) {
        seen[j] = 1;
        queue[qt++] = j;
        mesh_reach += j >= NRDV;
      }
  }
  uint8_t msg[24];
  memset(msg, 0, sizeof msg);
  memcpy(msg, "natswarm-bcast-", 15);
  msg[16] = (uint8_t)seed;
  uint64_t t_b = simnet_now(net);
  SIM_ASSERT(net, simnet_broadcast(net, from, msg, sizeof msg) > 0, "broadcast refused");
  simnet_run_until(net, t_b + 5000);
  size_t reached = 0;
  for (int i = NRDV; i < w.n; i++) {
    if (i == from) continue;
    const sim_record *rec;
    size_t nr = simnet_log(net, i, &rec);
    for (size_t k = 0; k < nr; k++)
      if (rec[k].type == SW_EV_DATA && rec[k].t_ms >= t_b && rec[k].len == sizeof msg &&
          memcmp(rec[k].data, msg, sizeof msg) == 0) {
        reached++;
        break;
      }
  }

  /* Memory: docs/API.md's engine state with every module (3 997 072 bytes at the
   * defaults) less what this configuration shrinks (send queue, dedup), plus the peer
   * table and about 2 KiB of cipher and jitter state per session. */
  size_t mem_bound = 3997072u - ((1u << 20) - OUT_BYTES) -
                     (2u * 8u * ((1u << 17) - (1u << DEDUP_LOG2))) +
                     (DEFAULT_MAX_PEERS * 4352u) + 2048u * max_deg + 65536u;

  uint64_t times[SWARM_MAX];
  size_t nt = 0;
  for (int i = NRDV; i < w.n; i++)
    if (w.t_k[i]) times[nt++] = w.t_k[i];
  qsort(times, nt, sizeof times[0], cmp_u64);
  size_t n_direct = 0, n_relayed = 0;
  for (int a = 0; a < NT; a++)
    for (int b = 0; b < NT; b++) {
      n_direct += tl.direct[a][b];
      n_relayed += tl.relayed[a][b];
    }
  printf("figure: natswarm seed %llu: %d peers (%d homes of 2-3), 2 rendezvous/relays, links "
         "20+0..5 ms 1%% loss, PEX + introductions + birthday + relay fallback; at %llu s: "
         "%zu%% of peers with >= %d peer sessions (min %zu, mean %.1f, max %zu), %d "
         "component(s); time to %d sessions p50/p90 %llu/%llu ms; sessions %zu: %zu direct, "
         "%zu relayed; broadcast reached %zu of %d (%zu in nobody's mesh, %zu reachable along "
         "mesh edges); max sw_core_memory %zu (bound %zu)\n",
         (unsigned long long)seed, npeers, homes, (unsigned long long)(SWARM_T_MS / 1000),
         with_k * 100 / (size_t)npeers, MESH_LOW, min_deg, (double)sum_deg / npeers, max_deg,
         comps, MESH_LOW, nt ? (unsigned long long)times[(nt - 1) / 2] : 0ull,
         nt ? (unsigned long long)times[(nt * 9 + 9) / 10 - 1] : 0ull, pairs, n_direct,
         n_relayed, reached, npeers - 1, orphans, mesh_reach, max_mem, mem_bound);
    for (int a = 0; a < NT; a++)
      for (int b = a; b < NT; b++)
        if (tl.direct[a][b] || tl.relayed[a][b])
          printf("figure: natswarm-pairs %-13s x %-13s direct %4zu relayed %4zu\n", tname(a),
                 tname(b), tl.direct[a][b], tl.relayed[a][b]);

  /* Goal: every peer. What the engine reaches (see the top of the file): 95 %. */
  SIM_ASSERT(net, !check || with_k * 100 >= (size_t)npeers * 95,
             "%zu of %d peers have fewer than %d peer sessions", (size_t)npeers - with_k,
             npeers, MESH_LOW);
  SIM_ASSERT(net, !check || min_deg >= 1, "a peer has no peer session");
  SIM_ASSERT(net, !check || comps == 1, "the peers form %d components", comps);
  SIM_ASSERT(net, !check || reached * 100 >= (size_t)(npeers - 1) * 99,
             "broadcast reached %zu of %d (%zu reachable along mesh edges)", reached,
             npeers - 1, mesh_reach);
  SIM_ASSERT(net, !check || max_mem <= mem_bound, "a core holds %zu bytes (bound %zu)", max_mem,
             mem_bound);
  /* A punch can lose its race with the fallback (RELAY_AFTER_MS) when the introduction
   * that starts it is lost or the target's meet budget is spent (MEET_BURST: a PEX round
   * brings 40 meets at once); the upgrade module moves such a session later. */
  SIM_ASSERT(net, !check || bad_relay * 100 <= pairs, "%zu sessions relayed where a punch works", bad_relay);
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
  SIM_ASSERT(net, simnet_get_stats(net)->overflow == 0, "in-flight bound reached");
  simnet_free(net);
}

static int env_int(const char *name, int dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  int n = atoi(v);
  return n > 0 ? n : dflt;
}

static void test_swarm(void **state) {
  (void)state;
  static const uint64_t dflt[] = {1, 2, 3};
  uint64_t seeds[3];
  size_t ns = simnet_seeds(dflt, 3, seeds);
  int n = env_int("SIM_NATSWARM_N", SWARM_N);
  if (n > SWARM_MAX - NRDV) n = SWARM_MAX - NRDV;
  for (size_t s = 0; s < ns; s++) run_swarm(seeds[s], n, 1);
}

/* SIM_NATSWARM_400=1: the same with 400 peers, printed, not asserted. */
static void test_swarm_400(void **state) {
  (void)state;
  const char *v = getenv("SIM_NATSWARM_400");
  if (!v || !*v || strcmp(v, "0") == 0) skip();
  run_swarm(1, 400, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_swarm),
      cmocka_unit_test(test_swarm_400),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
