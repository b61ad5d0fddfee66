/* Every ordered pair of NAT types with introductions (PROTOCOL.md 15.6): a public peer R
 * that both sides connect to, as the lab's rendezvous node is. Side A learns B's public
 * mapping (the address R sees B at, what a rendezvous or STUN-fed record would give) and
 * meets B once, through the meet gate with B's full id: A dials B and asks R to introduce
 * it, R forwards the address it sees A at, and B dials A at once. Nothing else dials.
 *
 * The "figure: natpairs" tables give, for A's NAT type (rows) and B's (columns), the
 * share of seeds where both sides connect to each other within 10 s, and the time from
 * A's meet to both sides connected (p50/p90 ms). Both sides learn their NAT type from a
 * STUN server (stunsrv.c on four endpoints, as the lab's coturn) before the meet: the
 * introduction carries it (PROTOCOL.md 21.9). Four runs without a relay, links 20 ms and
 * 1 % loss:
 * both join R within 0.5 s; one joins up to 6 s after the other; the control, with
 * introductions off; and links with 0..10 ms of jitter (as test_sim_nat's table), which
 * reorder a HELLO_ACK and the key proof sent right behind it: the proof then cannot be
 * opened, the path stays unverified, and introductions, which go only between verified
 * peers, do not happen. bench/NAT.md puts these beside test_sim_nat's table and the lab.
 *
 * Asserted, only what holds by construction:
 * - an open or full-cone target admits A's HELLOs whatever happens: 100 %, with or
 *   without introductions;
 * - with introductions, when R was verified at both ends at the meet, every pair where
 *   neither side maps per destination, and every pair of a symmetric side with an open,
 *   full-cone or restricted-cone side (whose filter admits any port of an address it
 *   sent to): at least 98 % (A asks again 500 and 1000 ms after the meet while not
 *   connected, so a lost RELAY_REQ or RELAY_FWD is repaired);
 * - a symmetric side facing a port-restricted side: the birthday punch (birthday.h), at
 *   most 20 % of the runs that could be introduced missed (the spray misses about 2 %);
 * - without a relay, two symmetric sides: 0 %, since the address R reports is not the
 *   mapping either NAT makes toward the other side;
 * - without a relay, every connection made is direct: each side reaches the other at the
 *   other's NAT, never through R.
 * A fifth run makes R a relay as well ("relay", see relay_matrix below): the pairs no
 * punch opens then connect through R. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birthday.h"
#include "core_internal.h"
#include "relay.h"
#include "simnet.h"
#include "simstun.h"
#include "testutil.h"

#define N SIM_NAT_TYPE_COUNT
#define RUNS 50
#define WINDOW_MS 10000 /* after the meet: beyond the dial's expiry */
#define BIRTHDAY_MISS_MAX 20 /* % of introducible runs a birthday pair may miss */

static int intro_on = 1;
static int relay_on = 0; /* the relay module on every node, R serving (node 0) */

/* As the runtime does: the LAN address a request claims when no public one is known. */
static void config(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  static char ip[4][64];
  (void)ctx;
  cfg->intro = intro_on;
  cfg->relayed = relay_on;
  cfg->relay_serve = relay_on && node == 0;
  cfg->nat = 1;
  if (node < 4 && addr_format_ip(simnet_addr(net, node), ip[node], sizeof ip[node]) > 0) {
    cfg->lan_ip = ip[node];
    cfg->port = simnet_addr(net, node)->port;
  }
}

typedef struct pair {
  simnet *net;
  int r, a, b;
} pair;

/* Whether node i has a session with node j on a path j proved (the only peers an
 * introduction goes through, and comes from). */
static int verified(simnet *net, int i, int j) {
  sw_core_peer_info info[8];
  size_t n = sw_core_peers(simnet_core(net, i), info, 8);
  for (size_t k = 0; k < n && k < 8; k++)
    if (memcmp(info[k].wire_id, simnet_id(net, j), 8) == 0) return info[k].verified;
  return 0;
}

static int on_r(simnet *net, int i, int r) { return verified(net, i, r) && verified(net, r, i); }

static int both_on_r(simnet *net, void *ctx) {
  const pair *p = ctx;
  return on_r(net, p->a, p->r) && on_r(net, p->b, p->r);
}

static int met(simnet *net, void *ctx) {
  const pair *p = ctx;
  return core_connected(simnet_core(net, p->a), simnet_id(net, p->b)) &&
         core_connected(simnet_core(net, p->b), simnet_id(net, p->a));
}

/* Whether node i's session with node j goes to j's NAT (or to j itself when open), not
 * through R. */
static int direct(simnet *net, int i, int j, int r) {
  sw_core_peer_info info[8];
  size_t n = sw_core_peers(simnet_core(net, i), info, 8);
  int nat = simnet_node_nat(net, j);
  const sw_addr *want = nat < 0 ? simnet_addr(net, j) : simnet_nat_public(net, nat);
  for (size_t k = 0; k < n && k < 8; k++) {
    if (memcmp(info[k].wire_id, simnet_id(net, j), 8) != 0) continue;
    if (addr_equal(&info[k].addr, simnet_addr(net, r))) return 0;
    return info[k].addr.family == want->family &&
           memcmp(info[k].addr.ip, want->ip, sizeof want->ip) == 0;
  }
  return 0;
}

/* Whether node i's session with node j goes through R (a relayed path names R's
 * address). */
static int through_r(simnet *net, int i, int j, int r) {
  sw_core_peer_info info[8];
  size_t n = sw_core_peers(simnet_core(net, i), info, 8);
  for (size_t k = 0; k < n && k < 8; k++)
    if (memcmp(info[k].wire_id, simnet_id(net, j), 8) == 0)
      return addr_equal(&info[k].addr, simnet_addr(net, r));
  return 0;
}

typedef struct result {
  int ok, direct, relayed; /* relayed: both sides' sessions go through R */
  int introducible; /* A and B had verified R, and R both of them, at the meet */
  uint64_t ms;
} result;

static int connected(simnet *net, int i, int j) {
  return core_connected(simnet_core(net, i), simnet_id(net, j));
}

static int a_joined(simnet *net, void *ctx) {
  const pair *p = ctx;
  return connected(net, p->a, p->r) && connected(net, p->r, p->a);
}

static int b_joined(simnet *net, void *ctx) {
  const pair *p = ctx;
  return connected(net, p->b, p->r) && connected(net, p->r, p->b);
}

static int both_joined(simnet *net, void *ctx) { return a_joined(net, ctx) && b_joined(net, ctx); }

static int both_typed(simnet *net, void *ctx) {
  const pair *p = ctx;
  return sw_core_nat(simnet_core(net, p->a), NULL, NULL) &&
         sw_core_nat(simnet_core(net, p->b), NULL, NULL);
}

/* One run: R open; A behind ta, B behind tb; links 20 ms + [0, jitter] ms, 1 % loss.
 * The two join R `gap_max` ms apart at most (which one first drawn at random). Once both
 * have a session with R, A meets B when the four ends have verified each other (within
 * 3 s: discovery takes that long in the lab), plus up to 250 ms. */
static result run_pair(uint64_t seed, sim_nat_type ta, sim_nat_type tb, uint64_t gap_max,
                       uint32_t jitter) {
  sim_link l = {.loss = 0.01, .delay_ms = 20, .jitter_ms = jitter};
  result res = {0};
  pair p;
  p.net = simnet_new(seed);
  assert_non_null(p.net);
  simnet *net = p.net;
  simnet_set_default_link(net, &l);
  simnet_set_config(net, config, NULL);
  p.r = simnet_add_node_behind(net, NULL, -1, 0);
  p.a = simnet_add_node_behind(net, NULL, simnet_add_nat_type(net, ta), 0);
  p.b = simnet_add_node_behind(net, NULL, simnet_add_nat_type(net, tb), 0);
  assert_true(p.r == 0 && p.a == 1 && p.b == 2);
  simstun stun;
  simstun_init(&stun, net);
  sw_addr stun_addr = stunsrv_socket(&stun.cfg, 0, 0);
  for (int i = 1; i <= 2; i++) {
    assert_int_equal(sw_core_add_stun_server(simnet_core(net, i), &stun_addr, 0), SW_OK);
    simnet_kick(net, i);
  }

  tu_rng rng = {seed * 0x9E3779B97F4A7C15ull + 7};
  uint64_t gap = tu_rng_next(&rng) % gap_max;
  int a_first = (int)(tu_rng_next(&rng) & 1);
  int first = a_first ? p.a : p.b, second = a_first ? p.b : p.a;
  assert_int_equal(simnet_dial(net, first, p.r), SW_OK);
  SIM_ASSERT(net, simnet_run_until_cond(net, 5000, a_first ? a_joined : b_joined, &p),
             "the first side never joined R");
  if (simnet_now(net) < gap) simnet_run_until(net, gap);
  assert_int_equal(simnet_dial(net, second, p.r), SW_OK);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 5000, both_joined, &p),
             "the second side never joined R");
  res.introducible = simnet_run_until_cond(net, simnet_now(net) + 3000, both_on_r, &p);
  /* Both sides know their NAT type (STUN, as in the lab) before the meet. */
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 10000, both_typed, &p),
             "a side never learned its NAT type");

  /* R reports B's mapping toward it; A meets B there. */
  simnet_run_until(net, simnet_now(net) + tu_rng_next(&rng) % 250);
  sw_addr b_pub;
  SIM_ASSERT(net, simnet_nat_mapped(net, p.b, SW_SOCK_MAIN, simnet_addr(net, p.r), &b_pub) == 1,
             "B has no mapping toward R");
  uint64_t t_meet = simnet_now(net);
  assert_int_equal(core_meet(simnet_core(net, p.a), &b_pub, simnet_id(net, p.b), t_meet),
                   SW_OK);
  simnet_kick(net, p.a);
  /* With relays, B also learns A's record, as in the lab (test_nat_relay.py), and meets
   * A at A's mapping toward R at the same moment: both sides then fall back to R. (Not
   * later: a meet that finds the dial a RELAY_FWD started to that address already
   * running stops at the gate, and B's relay module never hears of A.) */
  if (relay_on) {
    sw_addr a_pub;
    SIM_ASSERT(net,
               simnet_nat_mapped(net, p.a, SW_SOCK_MAIN, simnet_addr(net, p.r), &a_pub) == 1,
               "A has no mapping toward R");
    assert_int_equal(core_meet(simnet_core(net, p.b), &a_pub, simnet_id(net, p.a), t_meet),
                     SW_OK);
    simnet_kick(net, p.b);
  }
  if (simnet_run_until_cond(net, t_meet + WINDOW_MS, met, &p)) {
    res.ok = 1;
    res.ms = simnet_now(net) - t_meet;
    res.direct = direct(net, p.a, p.b, p.r) && direct(net, p.b, p.a, p.r);
    res.relayed = through_r(net, p.a, p.b, p.r) && through_r(net, p.b, p.a, p.r);
  }
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
  SIM_ASSERT(net, simnet_get_stats(net)->overflow == 0, "in-flight bound reached");
  simnet_free(net);
  return res;
}

static int cmp_u64(const void *x, const void *y) {
  uint64_t u = *(const uint64_t *)x, v = *(const uint64_t *)y;
  return u < v ? -1 : u > v;
}

static int symmetric(sim_nat_type t) {
  return t == SIM_NAT_SYMMETRIC || t == SIM_NAT_SYMMETRIC_SEQ;
}

/* What must connect every time, and what never can (see the top of the file). */
static int must_connect(sim_nat_type ta, sim_nat_type tb, int with_intro) {
  if (tb <= SIM_NAT_FULL_CONE) return 1;
  if (!with_intro) return 0;
  if (!symmetric(ta) && !symmetric(tb)) return 1;
  sim_nat_type other = symmetric(ta) ? tb : ta;
  return other <= SIM_NAT_RESTRICTED_CONE;
}

static int cannot_connect(sim_nat_type ta, sim_nat_type tb) {
  return symmetric(ta) && symmetric(tb);
}

/* A symmetric side facing a port-restricted one: only the birthday punch opens it. */
static int birthday_pair(sim_nat_type ta, sim_nat_type tb) {
  return (symmetric(ta) && tb == SIM_NAT_PORT_RESTRICTED) ||
         (symmetric(tb) && ta == SIM_NAT_PORT_RESTRICTED);
}

static void matrix(const char *label, uint64_t gap_max, uint32_t jitter, int with_intro) {
  uint64_t dflt[RUNS], seeds[RUNS], times[RUNS];
  for (int i = 0; i < RUNS; i++) dflt[i] = 1 + (uint64_t)i;
  size_t ns = simnet_seeds(dflt, RUNS, seeds);
  char cell[N][N][32];
  size_t total_ok = 0, total = 0, unverified = 0;
  intro_on = with_intro;
  for (int a = 0; a < N; a++) {
    for (int b = 0; b < N; b++) {
      sim_nat_type ta = (sim_nat_type)a, tb = (sim_nat_type)b;
      size_t ok = 0, nondirect = 0, missed = 0; /* missed: introducible, not connected */
      for (size_t s = 0; s < ns; s++) {
        result r = run_pair(seeds[s] * 64 + (uint64_t)(a * N + b), ta, tb, gap_max, jitter);
        unverified += !r.introducible;
        if (!r.ok) {
          missed += r.introducible || tb <= SIM_NAT_FULL_CONE;
          continue;
        }
        times[ok++] = r.ms;
        nondirect += !r.direct;
      }
      total_ok += ok;
      total += ns;
      qsort(times, ok, sizeof times[0], cmp_u64);
      if (ok)
        snprintf(cell[a][b], sizeof cell[a][b], "%3zu%% %4llu/%-4llu", ok * 100 / ns,
                 (unsigned long long)times[(ok - 1) / 2],
                 (unsigned long long)times[(ok * 9 + 9) / 10 - 1]);
      else
        snprintf(cell[a][b], sizeof cell[a][b], "%3zu%%     -/-   ", (size_t)0);
      if (nondirect)
        fail_msg("%s: %s x %s: %zu connections not direct", label, simnet_nat_type_name(ta),
                 simnet_nat_type_name(tb), nondirect);
      /* An introduction is up to 3 rounds of RELAY_REQ and RELAY_FWD: losing all three at
       * 1 % loss per hop is rare, but not impossible. Only a target that admits A's HELLOs
       * must always. */
      if (must_connect(ta, tb, with_intro) && (tb <= SIM_NAT_FULL_CONE ? missed != 0
                                                                         : missed * 50 > ns))
        fail_msg("%s: %s x %s: %zu of %zu did not connect", label, simnet_nat_type_name(ta),
                 simnet_nat_type_name(tb), missed, ns);
      if (cannot_connect(ta, tb) && ok != 0)
        fail_msg("%s: %s x %s: %zu connected without port prediction or a relay", label,
                 simnet_nat_type_name(ta), simnet_nat_type_name(tb), ok);
      /* The birthday punch (birthday.h): about 98 % of sprays hit, and the introduction
       * that starts it is lost about 2 % of the time. */
      if (with_intro && birthday_pair(ta, tb) && missed * 100 > ns * BIRTHDAY_MISS_MAX)
        fail_msg("%s: %s x %s: %zu of %zu did not connect (birthday)", label,
                 simnet_nat_type_name(ta), simnet_nat_type_name(tb), missed, ns);
    }
  }
  printf("figure: natpairs %s: R public, both sides join it %s; A (row) meets B (column) "
         "once at B's mapping toward R, introductions %s; links 20+0..%u ms, 1%% loss; "
         "success %% and p50/p90 ms from A's meet to both connected (all direct), %zu seeds "
         "per pair; overall %zu%%; runs where R was not verified at both ends at the meet: "
         "%zu of %zu\n",
         label, gap_max > 1000 ? "up to 6 s apart" : "within 0.5 s",
         with_intro ? "on" : "off", jitter, ns, total ? total_ok * 100 / total : 0, unverified,
         total);
  printf("figure: natpairs-%-8s %-10s", label, "A \\ B");
  for (int b = 0; b < N; b++) printf(" %-15s", simnet_nat_type_name((sim_nat_type)b));
  printf("\n");
  for (int a = 0; a < N; a++) {
    printf("figure: natpairs-%-8s %-10s", label, simnet_nat_type_name((sim_nat_type)a));
    for (int b = 0; b < N; b++) printf(" %-15s", cell[a][b]);
    printf("\n");
  }
}

/* The same introductions with R also a relay (relay module on everywhere, R serving):
 * what does not punch falls back, RELAY_AFTER_MS after the meet, to a session through R.
 * A cell: the share connected at all, how many of those direct and relayed, and p50/p90
 * ms from A's meet to both connected. The whole table (36 pairs) is printed when
 * SIM_NATPAIRS_ALL is set; otherwise only a subset of what it asserts runs: the pairs
 * that cannot punch, except those of two symmetric NATs with a sequential one among them
 * (they behave as symmetric x symmetric), and two that punch.
 * Here B learns A's record too and meets A at A's mapping toward R at the same moment A
 * meets B (as both homes do in the lab, test_nat_relay.py), so both sides dial, both ask
 * R for an introduction, and both fall back to R; pairs that punch then do it as a
 * simultaneous open, faster than in the tables above.
 * Asserted: the pairs that cannot punch connect, all through R, in at least 96 % of the
 * seeds; the birthday pairs connect, directly or (when the spray missed) through R, in
 * at least 96 %; every other connection is direct or through R; pairs that punch
 * connect as with introductions. */
static int relay_subset(sim_nat_type ta, sim_nat_type tb) {
  if (ta == SIM_NAT_PORT_RESTRICTED && tb == SIM_NAT_PORT_RESTRICTED) return 1;
  if (ta == SIM_NAT_OPEN && tb == SIM_NAT_SYMMETRIC) return 1;
  if (birthday_pair(ta, tb)) return ta == SIM_NAT_SYMMETRIC || tb == SIM_NAT_SYMMETRIC;
  return ta == SIM_NAT_SYMMETRIC && tb == SIM_NAT_SYMMETRIC;
}

static void relay_matrix(const char *label, uint64_t gap_max, int all) {
  uint64_t dflt[RUNS], seeds[RUNS], times[RUNS];
  for (int i = 0; i < RUNS; i++) dflt[i] = 1 + (uint64_t)i;
  size_t ns = simnet_seeds(dflt, RUNS, seeds);
  char cell[N][N][40];
  size_t total_ok = 0, total = 0, total_relayed = 0;
  intro_on = 1;
  relay_on = 1;
  for (int a = 0; a < N; a++) {
    for (int b = 0; b < N; b++) {
      sim_nat_type ta = (sim_nat_type)a, tb = (sim_nat_type)b;
      if (!all && !relay_subset(ta, tb)) {
        snprintf(cell[a][b], sizeof cell[a][b], "(not run)");
        continue;
      }
      size_t ok = 0, n_direct = 0, n_relayed = 0, missed = 0;
      for (size_t s = 0; s < ns; s++) {
        result r = run_pair(seeds[s] * 64 + (uint64_t)(a * N + b), ta, tb, gap_max, 0);
        if (!r.ok) {
          missed += r.introducible || tb <= SIM_NAT_FULL_CONE;
          continue;
        }
        times[ok++] = r.ms;
        n_direct += r.direct;
        n_relayed += r.relayed;
      }
      total_ok += ok;
      total += ns;
      total_relayed += n_relayed;
      qsort(times, ok, sizeof times[0], cmp_u64);
      if (ok)
        snprintf(cell[a][b], sizeof cell[a][b], "%3zu%% %zud %zur %llu/%llu", ok * 100 / ns,
                 n_direct, n_relayed, (unsigned long long)times[(ok - 1) / 2],
                 (unsigned long long)times[(ok * 9 + 9) / 10 - 1]);
      else
        snprintf(cell[a][b], sizeof cell[a][b], "%3zu%% -/-", (size_t)0);
      if (n_direct + n_relayed != ok)
        fail_msg("%s: %s x %s: %zu connections neither direct nor through R", label,
                 simnet_nat_type_name(ta), simnet_nat_type_name(tb),
                 ok - n_direct - n_relayed);
      if (cannot_connect(ta, tb)) {
        if (n_direct)
          fail_msg("%s: %s x %s: %zu direct without port prediction", label,
                   simnet_nat_type_name(ta), simnet_nat_type_name(tb), n_direct);
        if (ok * 25 < ns * 24)
          fail_msg("%s: %s x %s: only %zu of %zu connected through R", label,
                   simnet_nat_type_name(ta), simnet_nat_type_name(tb), ok, ns);
      } else if (birthday_pair(ta, tb) && ok * 25 < ns * 24) {
        fail_msg("%s: %s x %s: only %zu of %zu connected (birthday, else R)", label,
                 simnet_nat_type_name(ta), simnet_nat_type_name(tb), ok, ns);
      } else if (must_connect(ta, tb, 1) &&
                 (tb <= SIM_NAT_FULL_CONE ? missed != 0 : missed * 50 > ns)) {
        fail_msg("%s: %s x %s: %zu of %zu did not connect", label, simnet_nat_type_name(ta),
                 simnet_nat_type_name(tb), missed, ns);
      }
    }
  }
  relay_on = 0;
  printf("figure: natpairs %s: as \"intro\" (both join R %s), R also a relay and every node "
         "falling back to it %u ms after its meet; success %%, direct (d) and relayed (r) "
         "counts, p50/p90 ms from A's meet to both connected, %zu seeds per pair; %s; "
         "connected %zu%%, relayed %zu%% of the runs\n",
         label, gap_max > 1000 ? "up to 6 s apart" : "within 0.5 s", RELAY_AFTER_MS, ns,
         all ? "every pair" : "the asserted pairs only (SIM_NATPAIRS_ALL=1: every pair)",
         total ? total_ok * 100 / total : 0, total ? total_relayed * 100 / total : 0);
  printf("figure: natpairs-%-8s %-10s", label, "A \\ B");
  for (int b = 0; b < N; b++) printf(" %-22s", simnet_nat_type_name((sim_nat_type)b));
  printf("\n");
  for (int a = 0; a < N; a++) {
    printf("figure: natpairs-%-8s %-10s", label, simnet_nat_type_name((sim_nat_type)a));
    for (int b = 0; b < N; b++) printf(" %-22s", cell[a][b]);
    printf("\n");
  }
}

/* Links that keep order: the NAT pairs alone. */
static void test_intro_together(void **state) {
  (void)state;
  matrix("intro", 500, 0, 1);
}

static void test_intro_apart(void **state) {
  (void)state;
  matrix("intro-6s", 6000, 0, 1);
}

static void test_control(void **state) {
  (void)state;
  matrix("nointro", 500, 0, 0);
}

/* Links that reorder, as test_sim_nat's table has: a HELLO_ACK overtaken by the proof
 * sent right after it leaves that path unverified (the proof cannot be opened before the
 * session exists), and an introduction needs verified peers at both ends. */
static void test_intro_jitter(void **state) {
  (void)state;
  matrix("intro-jit", 500, 10, 1);
}

/* R relays: the pairs that cannot punch connect through it. */
static void test_relay_fallback(void **state) {
  (void)state;
  const char *all = getenv("SIM_NATPAIRS_ALL");
  relay_matrix("relay", 500, all && *all && strcmp(all, "0") != 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_intro_together),
      cmocka_unit_test(test_intro_apart),
      cmocka_unit_test(test_control),
      cmocka_unit_test(test_intro_jitter),
      cmocka_unit_test(test_relay_fallback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
