/* The relayed -> direct upgrade (upgrade.c, PROTOCOL.md 15.8): the PUNCH codec, the
 * timed open between two peers connected through a relay, its retry schedule and its
 * bound, and what it refuses. Three engines (A, relay R, B) on a hand-driven network
 * where A and B cannot reach each other directly until the test lets them. */
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "relay.h"
#include "testutil.h"
#include "upgrade.h"
#include "wire.h"

#define N 3
enum { A = 0, R = 1, B = 2 };

typedef struct node {
  sw_core *c;
  sw_addr addr;
  tu_rng rng;
  int path_events, direct_events, data_events;
  uint8_t last_path_peer[8];
} node;

typedef struct net {
  node n[N];
  int block_ab;
  unsigned direct_ab; /* datagrams A and B sent each other directly (blocked or not) */
  uint64_t now;
} net;

static void rnd(void *ctx, uint8_t *b, size_t len) { tu_rng_bytes(&((node *)ctx)->rng, b, len); }

static void on_event(void *ctx, const sw_event *ev) {
  node *nd = ctx;
  if (ev->type == SW_EV_DATA) nd->data_events++;
  if (ev->type != SW_EV_PATH) return;
  nd->path_events++;
  if (!ev->via) nd->direct_events++;
  memcpy(nd->last_path_peer, ev->peer, 8);
}

static void net_init(net *w) {
  static const core_module_def *const mods[] = {&relay_module, &upgrade_module, NULL};
  static const char *seeds[N] = {"a1", "c3", "b2"};
  static const char *ips[N] = {"10.0.0.1", "10.0.0.3", "10.0.0.2"};
  static const uint16_t ports[N] = {1, 3, 2};
  memset(w, 0, sizeof *w);
  for (int i = 0; i < N; i++) {
    node *nd = &w->n[i];
    nd->rng.s = (uint64_t)i + 21;
    /* the LAN address is what each side offers to be punched to */
    sw_core_config cfg = {.seed_hex = seeds[i], .random = rnd, .on_event = on_event,
                          .ctx = nd, .modules = mods, .relayed = 1, .relay_serve = 1,
                          .lan_ip = ips[i], .port = ports[i]};
    assert_int_equal(sw_core_new(&nd->c, &cfg, 0), SW_OK);
    assert_int_equal(addr_parse_ip(&nd->addr, ips[i], ports[i]), SW_OK);
  }
}

static void net_free(net *w) {
  for (int i = 0; i < N; i++) sw_core_free(w->n[i].c);
}

static void settle(net *w) {
  for (int round = 0; round < 50; round++) {
    size_t moved = 0;
    for (int i = 0; i < N; i++) {
      sw_dgram d[64];
      size_t n;
      sw_core_flush(w->n[i].c, w->now);
      while ((n = sw_core_out_peek(w->n[i].c, d, 64)) > 0) {
        for (size_t k = 0; k < n; k++)
          for (int j = 0; j < N; j++) {
            if (!addr_equal(d[k].to, &w->n[j].addr)) continue;
            int ab = (i == A && j == B) || (i == B && j == A);
            if (ab) w->direct_ab++;
            if (ab && w->block_ab) continue;
            sw_core_datagram(w->n[j].c, d[k].kind, &w->n[i].addr, d[k].data, d[k].len,
                             w->now);
          }
        sw_core_out_consume(w->n[i].c, n, w->now);
        moved += n;
      }
    }
    if (!moved) return;
  }
  fail_msg("the network did not settle");
}

/* Virtual time up to `until`, jumping from deadline to deadline. */
static void run(net *w, uint64_t until) {
  while (w->now < until) {
    uint64_t next = until;
    for (int i = 0; i < N; i++) {
      uint64_t d = sw_core_deadline(w->n[i].c);
      if (d < next) next = d;
    }
    if (next > w->now) w->now = next;
    for (int i = 0; i < N; i++)
      if (sw_core_deadline(w->n[i].c) <= w->now) sw_core_timeout(w->n[i].c, w->now);
    settle(w);
    if (next == w->now && next < until) continue;
  }
}

static const uint8_t *wire_of(const net *w, int i) { return core_identity(w->n[i].c)->id; }

static relay_stats rstats(const net *w, int i) {
  relay_stats st;
  assert_int_equal(relay_get_stats(w->n[i].c, &st, NULL), SW_OK);
  return st;
}

static upgrade_stats ustats(const net *w, int i) {
  upgrade_stats st;
  assert_int_equal(upgrade_get_stats(w->n[i].c, &st), SW_OK);
  return st;
}

static int peer_relayed(const net *w, int at, int who) {
  sw_core_peer_info all[8];
  size_t n = sw_core_peers(w->n[at].c, all, 8);
  for (size_t k = 0; k < n && k < 8; k++)
    if (memcmp(all[k].wire_id, wire_of(w, who), 8) == 0) return all[k].relayed;
  return -1;
}

/* A and B connect through R only (both dial R, then A dials B through R). */
static void connect_relayed(net *w) {
  w->block_ab = 1;
  assert_int_equal(sw_core_dial(w->n[A].c, &w->n[R].addr, NULL, w->now), SW_OK);
  assert_int_equal(sw_core_dial(w->n[B].c, &w->n[R].addr, NULL, w->now), SW_OK);
  settle(w);
  core_path p = {.addr = w->n[R].addr, .relayed = 1};
  memcpy(p.via, wire_of(w, R), 8);
  memcpy(p.far, wire_of(w, B), 8);
  assert_int_equal(core_dial_path(w->n[A].c, &p, w->now), SW_OK);
  settle(w);
  assert_int_equal(peer_relayed(w, A, B), 1);
  assert_int_equal(peer_relayed(w, B, A), 1);
}

static int initiator_of(const net *w) {
  return memcmp(wire_of(w, A), wire_of(w, B), 8) < 0 ? A : B;
}

/* ---- codec ------------------------------------------------------------------------ */

static void test_codec(void **state) {
  (void)state;
  upgrade_msg m = {.kind = UPGRADE_CONNECT, .nonce = 0xdeadbeef, .naddrs = 2}, d;
  assert_int_equal(addr_parse_ip(&m.addrs[0], "203.0.113.7", 40000), SW_OK);
  assert_int_equal(addr_parse_ip(&m.addrs[1], "2001:db8::1", 5), SW_OK);
  uint8_t f[UPGRADE_FRAME_MAX + 4];
  size_t n = upgrade_encode(f, &m);
  assert_int_equal(n, UPGRADE_HDR + 7 + 19);
  assert_int_equal(f[0], WIRE_PUNCH);
  assert_int_equal(upgrade_decode(f, n, &d), SW_OK);
  assert_int_equal(d.kind, UPGRADE_CONNECT);
  assert_int_equal(d.nonce, 0xdeadbeef);
  assert_int_equal(d.naddrs, 2);
  assert_true(addr_equal(&d.addrs[0], &m.addrs[0]));
  assert_true(addr_equal(&d.addrs[1], &m.addrs[1]));
  /* every truncation, trailing bytes, and each bad field are refused */
  for (size_t k = 0; k < n; k++) assert_int_equal(upgrade_decode(f, k, &d), SW_EINVAL);
  f[n] = 0;
  assert_int_equal(upgrade_decode(f, n + 1, &d), SW_EINVAL);
  uint8_t bad[UPGRADE_FRAME_MAX];
  memcpy(bad, f, n);
  bad[1] = 3; /* unknown kind */
  assert_int_equal(upgrade_decode(bad, n, &d), SW_EINVAL);
  memcpy(bad, f, n);
  bad[6] = UPGRADE_MAX_ADDRS + 1;
  assert_int_equal(upgrade_decode(bad, n, &d), SW_EINVAL);
  memcpy(bad, f, n);
  bad[UPGRADE_HDR] = 5; /* unknown family */
  assert_int_equal(upgrade_decode(bad, n, &d), SW_EINVAL);
  memcpy(bad, f, n);
  bad[UPGRADE_HDR + 5] = bad[UPGRADE_HDR + 6] = 0; /* port 0 */
  assert_int_equal(upgrade_decode(bad, n, &d), SW_EINVAL);
  /* a SYNC without addresses */
  upgrade_msg s = {.kind = UPGRADE_SYNC, .nonce = 7};
  n = upgrade_encode(f, &s);
  assert_int_equal(n, UPGRADE_HDR);
  assert_int_equal(upgrade_decode(f, n, &d), SW_OK);
  assert_int_equal(d.naddrs, 0);
  /* an address without a port cannot be encoded */
  s.naddrs = 1;
  memset(&s.addrs[0], 0, sizeof s.addrs[0]);
  assert_int_equal(upgrade_encode(f, &s), 0);
}

/* ---- the upgrade -------------------------------------------------------------------- */

/* The first attempt fails (the NATs stay closed), the second, 30 s later, succeeds once
 * they open: the traffic moves to the direct path, both applications hear SW_EV_PATH with
 * no relay, and the relay forwards nothing more. */
static void test_upgrade_after_retry(void **state) {
  (void)state;
  net w;
  net_init(&w);
  connect_relayed(&w);
  int ini = initiator_of(&w), resp = ini == A ? B : A;
  run(&w, 5000);
  assert_int_equal(ustats(&w, ini).connects_sent, 1);
  assert_int_equal(ustats(&w, ini).syncs_sent, 1);
  assert_int_equal(ustats(&w, resp).connects_sent, 0); /* one side initiates */
  assert_int_equal(ustats(&w, resp).syncs_in, 1);
  assert_true(ustats(&w, ini).fired == 1 && ustats(&w, resp).fired == 1);
  assert_true(w.direct_ab > 0); /* both punched, into closed NATs */
  assert_int_equal(peer_relayed(&w, A, B), 1);
  assert_int_equal(w.n[A].path_events + w.n[B].path_events, 0);

  w.block_ab = 0; /* a NAT changed: the next punch goes through */
  run(&w, 20000);
  assert_int_equal(ustats(&w, ini).connects_sent, 1); /* nothing before its time */
  run(&w, 40000);
  assert_int_equal(ustats(&w, ini).connects_sent, 2);
  assert_int_equal(peer_relayed(&w, A, B), 0);
  assert_int_equal(peer_relayed(&w, B, A), 0);
  assert_true(w.n[A].direct_events >= 1 && w.n[B].direct_events >= 1);
  assert_memory_equal(w.n[A].last_path_peer, wire_of(&w, B), 8);
  assert_memory_equal(w.n[B].last_path_peer, wire_of(&w, A), 8);
  assert_int_equal(ustats(&w, ini).upgraded, 1);

  /* traffic goes direct now: the relay's forwarding stops */
  relay_stats before = rstats(&w, R);
  assert_int_equal(sw_core_write(w.n[A].c, wire_of(&w, B), "direct", 6, w.now), SW_OK);
  assert_int_equal(sw_core_write(w.n[B].c, wire_of(&w, A), "back", 4, w.now), SW_OK);
  settle(&w);
  run(&w, w.now + 60000);
  relay_stats after = rstats(&w, R);
  assert_int_equal(after.forwarded, before.forwarded);
  assert_int_equal(after.forwarded_bytes, before.forwarded_bytes);
  assert_true(w.n[B].data_events >= 1 && w.n[A].data_events >= 1);
  /* and no further attempts on a direct peer */
  run(&w, 15 * 60000);
  assert_int_equal(ustats(&w, ini).connects_sent, 2);
  net_free(&w);
}

/* A pair that can never punch costs UPGRADE_ATTEMPTS exchanges, at 0 s, 30 s, 2 min and
 * 10 min, then nothing more, and stays relayed and usable. */
static void test_attempts_bounded(void **state) {
  (void)state;
  net w;
  net_init(&w);
  connect_relayed(&w);
  int ini = initiator_of(&w);
  run(&w, 25000);
  assert_int_equal(ustats(&w, ini).connects_sent, 1);
  run(&w, 100000);
  assert_int_equal(ustats(&w, ini).connects_sent, 2);
  run(&w, 500000);
  assert_int_equal(ustats(&w, ini).connects_sent, 3);
  run(&w, 25 * 60000);
  assert_int_equal(ustats(&w, ini).connects_sent, UPGRADE_ATTEMPTS);
  assert_int_equal(ustats(&w, ini).exhausted, 1);
  assert_int_equal(ustats(&w, ini).upgraded, 0);
  assert_int_equal(peer_relayed(&w, A, B), 1);
  net_free(&w);
}

/* PUNCH is taken only over a verified relayed path from one of our peers, a SYNC only for
 * the attempt answered, and a responder answers one CONNECT per peer each 10 s. */
static void test_refusals(void **state) {
  (void)state;
  net w;
  net_init(&w);
  connect_relayed(&w);
  int ini = initiator_of(&w), resp = ini == A ? B : A;
  run(&w, 5000);
  upgrade_stats s0 = ustats(&w, resp);
  upgrade_msg m = {.kind = UPGRADE_CONNECT, .nonce = 99, .naddrs = 1};
  assert_int_equal(addr_parse_ip(&m.addrs[0], "192.0.2.1", 9), SW_OK);
  uint8_t f[UPGRADE_FRAME_MAX];
  size_t n = upgrade_encode(f, &m);

  /* direct, from R (verified on a direct path): refused */
  sw_core_datagram(w.n[resp].c, SW_SOCK_MAIN, &w.n[R].addr, f, n, w.now);
  /* relayed, but through a relay nobody proved (an unknown path): refused */
  core_path stranger = {.addr = w.n[R].addr, .relayed = 1};
  memset(stranger.via, 0x55, 8);
  memcpy(stranger.far, wire_of(&w, ini), 8);
  core_datagram_relayed(w.n[resp].c, &stranger, f, n, w.now);
  /* the real relayed path: answered once... */
  core_path rel = {.addr = w.n[R].addr, .relayed = 1};
  memcpy(rel.via, wire_of(&w, R), 8);
  memcpy(rel.far, wire_of(&w, ini), 8);
  core_datagram_relayed(w.n[resp].c, &rel, f, n, w.now + 20000);
  /* ...not twice within 10 s */
  core_datagram_relayed(w.n[resp].c, &rel, f, n, w.now + 21000);
  /* a SYNC for another attempt fires nothing */
  upgrade_msg s = {.kind = UPGRADE_SYNC, .nonce = 100};
  n = upgrade_encode(f, &s);
  core_datagram_relayed(w.n[resp].c, &rel, f, n, w.now + 21000);
  upgrade_stats s1 = ustats(&w, resp);
  assert_int_equal(s1.connects_in - s0.connects_in, 2);
  assert_int_equal(s1.syncs_in - s0.syncs_in, 1);
  assert_int_equal(s1.refused - s0.refused, 4);
  assert_int_equal(s1.fired, s0.fired);
  /* a CONNECT the initiator did not ask for is refused as well */
  upgrade_stats i0 = ustats(&w, ini);
  m.nonce = 12345;
  n = upgrade_encode(f, &m);
  core_path rel2 = rel;
  memcpy(rel2.far, wire_of(&w, resp), 8);
  core_datagram_relayed(w.n[ini].c, &rel2, f, n, w.now + 21000);
  upgrade_stats i1 = ustats(&w, ini);
  assert_int_equal(i1.refused - i0.refused, 1);
  assert_int_equal(i1.syncs_sent, i0.syncs_sent);
  net_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec),
      cmocka_unit_test(test_upgrade_after_retry),
      cmocka_unit_test(test_attempts_bounded),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
