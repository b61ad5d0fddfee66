/* Relayed paths (docs/ARCHITECTURE.md "Paths"): a datagram that arrived through a relay
 * re-enters the engine at core_datagram_relayed and is processed exactly like a direct
 * one: a session forms over it, messages are delivered once, answers go back along the
 * same relayed path, and a direct path that later proves itself takes over. The relay
 * is the relay module (relay.c), driven directly. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "relay.h"
#include "testutil.h"
#include "wire.h"

#define N 3
enum { A = 0, R = 1, B = 2 };

typedef struct node {
  sw_core *c;
  sw_addr addr;
  tu_rng rng;
  int data_events, conn_events;
  uint8_t last_from[8];
  char last_data[64];
} node;

typedef struct net {
  node n[N];
  int block_ab; /* A and B cannot reach each other directly (two symmetric NATs) */
  int drop_rb;  /* datagrams from R to B are lost while this is set */
  unsigned direct_ab;
} net;

static void rnd(void *ctx, uint8_t *b, size_t len) { tu_rng_bytes(&((node *)ctx)->rng, b, len); }

static void on_event(void *ctx, const sw_event *ev) {
  node *nd = ctx;
  if (ev->type == SW_EV_CONNECTION) nd->conn_events++;
  if (ev->type != SW_EV_DATA) return;
  nd->data_events++;
  memcpy(nd->last_from, ev->peer, 8);
  size_t n = ev->len < sizeof nd->last_data - 1 ? ev->len : sizeof nd->last_data - 1;
  memcpy(nd->last_data, ev->data, n);
  nd->last_data[n] = 0;
}

static void net_init(net *w, const core_module_def *const *mods) {
  static const char *seeds[N] = {"a1", "c3", "b2"};
  static const char *addrs[N] = {"10.0.0.1:1", "10.0.0.3:3", "10.0.0.2:2"};
  memset(w, 0, sizeof *w);
  for (int i = 0; i < N; i++) {
    node *nd = &w->n[i];
    nd->rng.s = (uint64_t)i + 11;
    sw_core_config cfg = {.seed_hex = seeds[i], .random = rnd, .on_event = on_event,
                          .ctx = nd, .modules = mods, .relayed = 1, .relay_serve = 1};
    assert_int_equal(sw_core_new(&nd->c, &cfg, 0), SW_OK);
    assert_int_equal(addr_parse_hostport(&nd->addr, addrs[i]), SW_OK);
  }
}

static void net_free(net *w) {
  for (int i = 0; i < N; i++) sw_core_free(w->n[i].c);
}

/* Move every queued datagram among `count` nodes to the node at its address, until all
 * queues are empty; `pass` (may be NULL) decides whether i -> j gets through. */
typedef int (*pass_fn)(void *ctx, int i, int j);
static void move_all(node *n, int count, uint64_t now, pass_fn pass, void *ctx) {
  for (int round = 0; round < 50; round++) {
    size_t moved = 0;
    for (int i = 0; i < count; i++) {
      sw_dgram d[64];
      size_t k;
      sw_core_flush(n[i].c, now);
      while ((k = sw_core_out_peek(n[i].c, d, 64)) > 0) {
        for (size_t q = 0; q < k; q++)
          for (int j = 0; j < count; j++)
            if (addr_equal(d[q].to, &n[j].addr) && (!pass || pass(ctx, i, j)))
              sw_core_datagram(n[j].c, d[q].kind, &n[i].addr, d[q].data, d[q].len, now);
        sw_core_out_consume(n[i].c, k, now);
        moved += k;
      }
    }
    if (!moved) return;
  }
  fail_msg("the network did not settle");
}

/* The three-node net: A and B may be cut apart, R -> B may be lost. */
static int net_pass(void *ctx, int i, int j) {
  net *w = ctx;
  int ab = (i == A && j == B) || (i == B && j == A);
  if (ab) w->direct_ab++;
  if (ab && w->block_ab) return 0;
  return !(i == R && j == B && w->drop_rb);
}

static void settle(net *w, uint64_t now) { move_all(w->n, N, now, net_pass, w); }

/* A and B cannot reach each other directly (two symmetric NATs); both hold a verified
 * session with R. */
static void net_join_r(net *w, const core_module_def *const *mods) {
  net_init(w, mods);
  w->block_ab = 1;
  assert_int_equal(sw_core_dial(w->n[A].c, &w->n[R].addr, NULL, 0), SW_OK);
  assert_int_equal(sw_core_dial(w->n[B].c, &w->n[R].addr, NULL, 0), SW_OK);
  settle(w, 0);
}

static const uint8_t *wire_of(const net *w, int i) { return core_identity(w->n[i].c)->id; }

/* Dial `to` from `from` through the relay `via` (core_dial_path on a relayed path). */
static int dial_via(net *w, int from, int via, int to, uint64_t now) {
  core_path p = {.addr = w->n[via].addr, .relayed = 1};
  memcpy(p.via, core_identity(w->n[via].c)->id, 8);
  memcpy(p.far, core_identity(w->n[to].c)->id, 8);
  return core_dial_path(w->n[from].c, &p, now);
}

static relay_stats rstats(const net *w, int i) {
  relay_stats st;
  assert_int_equal(relay_get_stats(w->n[i].c, &st, NULL), SW_OK);
  return st;
}

static int find_info(const net *w, int at, int who, sw_core_peer_info *out) {
  sw_core_peer_info all[8];
  size_t n = sw_core_peers(w->n[at].c, all, 8);
  for (size_t k = 0; k < n && k < 8; k++)
    if (memcmp(all[k].wire_id, wire_of(w, who), 8) == 0) {
      *out = all[k];
      return 1;
    }
  return 0;
}

/* A and B meet only through R: session, delivery both ways, answers on the same path. */
static void test_session_over_relay(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&relay_module, NULL};
  net w;
  net_join_r(&w, mods);
  assert_int_equal(sw_core_peer_count(w.n[R].c), 2);

  assert_int_equal(dial_via(&w, A, R, B, 10), SW_OK);
  settle(&w, 10);
  /* the session formed over the relayed path, on both sides */
  assert_int_equal(sw_core_peer_count(w.n[A].c), 2);
  assert_int_equal(sw_core_peer_count(w.n[B].c), 2);
  assert_int_equal(w.n[A].conn_events, 2);
  assert_int_equal(w.n[B].conn_events, 2);
  assert_true(rstats(&w, R).forwarded >= 2);
  assert_true(rstats(&w, B).delivered >= 1);
  /* its path is verified (the sealed proof came along it) and leads to the relay */
  sw_core_peer_info info;
  assert_true(find_info(&w, A, B, &info));
  assert_true(info.verified);
  assert_true(addr_equal(&info.addr, &w.n[R].addr));

  /* a message to B through the relay, delivered once, from A */
  assert_int_equal(sw_core_write(w.n[A].c, wire_of(&w, B), "over the relay", 14, 20), SW_OK);
  settle(&w, 20);
  assert_int_equal(w.n[B].data_events, 1);
  assert_memory_equal(w.n[B].last_from, wire_of(&w, A), 8);
  assert_string_equal(w.n[B].last_data, "over the relay");
  /* and back */
  assert_int_equal(sw_core_write(w.n[B].c, wire_of(&w, A), "and back", 8, 30), SW_OK);
  settle(&w, 30);
  assert_string_equal(w.n[A].last_data, "and back");
  /* R carried ciphertext it cannot open; it sees each message once, as the mesh member
   * the receiver floods it to, not as the relay */
  assert_int_equal(w.n[R].data_events, 2);
  sw_core_stats st;
  sw_core_get_stats(w.n[B].c, &st);
  assert_int_equal(st.rx_auth_fail, 0);
  net_free(&w);
}

/* The same frame bytes give the same result directly and relayed: a reference check of
 * "processed exactly like a direct one". Two B's with one identity, one fed directly,
 * one fed the very same datagrams through the relayed entry. */
static void test_relayed_equals_direct(void **state) {
  (void)state;
  static const core_module_def *const none[] = {NULL};
  net w;
  net_init(&w, none);
  /* A dials B directly; capture A's datagrams to B and feed a twin of B via the relay
   * entry, with the twin answering along the relayed path it was given. */
  node twin;
  memset(&twin, 0, sizeof twin);
  twin.rng.s = 2 + 11;
  sw_core_config cfg = {.seed_hex = "b2", .random = rnd, .on_event = on_event, .ctx = &twin,
                        .modules = none};
  assert_int_equal(sw_core_new(&twin.c, &cfg, 0), SW_OK);
  core_path rel = {.addr = w.n[R].addr, .relayed = 1};
  memcpy(rel.via, wire_of(&w, R), 8);
  memcpy(rel.far, wire_of(&w, A), 8);

  assert_int_equal(sw_core_dial(w.n[A].c, &w.n[B].addr, NULL, 0), SW_OK);
  for (int round = 0; round < 4; round++) {
    sw_dgram d[16];
    size_t n;
    sw_core_flush(w.n[A].c, 0);
    while ((n = sw_core_out_peek(w.n[A].c, d, 16)) > 0) {
      for (size_t k = 0; k < n; k++) {
        sw_core_datagram(w.n[B].c, d[k].kind, &w.n[A].addr, d[k].data, d[k].len, 0);
        core_datagram_relayed(twin.c, &rel, d[k].data, d[k].len, 0);
      }
      sw_core_out_consume(w.n[A].c, n, 0);
    }
    /* B's answers go back to A; the twin's would go to the relay hook, which it lacks */
    sw_core_flush(w.n[B].c, 0);
    while ((n = sw_core_out_peek(w.n[B].c, d, 16)) > 0) {
      for (size_t k = 0; k < n; k++)
        sw_core_datagram(w.n[A].c, d[k].kind, &w.n[B].addr, d[k].data, d[k].len, 0);
      sw_core_out_consume(w.n[B].c, n, 0);
    }
    if (round == 1)
      assert_int_equal(sw_core_write(w.n[A].c, wire_of(&w, B), "same bytes", 10, 0), SW_OK);
  }
  /* same session (one peer, A), same delivery, same counters */
  assert_int_equal(sw_core_peer_count(w.n[B].c), 1);
  assert_int_equal(sw_core_peer_count(twin.c), 1);
  assert_int_equal(w.n[B].conn_events, 1);
  assert_int_equal(twin.conn_events, 1);
  assert_int_equal(w.n[B].data_events, 1);
  assert_int_equal(twin.data_events, 1);
  assert_string_equal(w.n[B].last_data, twin.last_data);
  assert_memory_equal(twin.last_from, wire_of(&w, A), 8);
  sw_core_stats sb, st;
  sw_core_get_stats(w.n[B].c, &sb);
  sw_core_get_stats(twin.c, &st);
  assert_int_equal(sb.delivered, st.delivered);
  assert_int_equal(sb.rx_auth_fail, st.rx_auth_fail);
  /* the twin has no relay hook: its answers were counted as dropped, not sent directly */
  assert_true(st.ctrl_dropped > 0);
  assert_int_equal(sw_core_out_pending(twin.c), 0);
  sw_core_free(twin.c);
  net_free(&w);
}

/* A relayed connection moves to the direct path once that path proves itself (an
 * authenticated frame arrives on it), and back-compatible lookups keep working. */
static void test_upgrade_to_direct(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&relay_module, NULL};
  net w;
  net_join_r(&w, mods);
  dial_via(&w, A, R, B, 10);
  settle(&w, 10);
  assert_int_equal(sw_core_peer_count(w.n[A].c), 2);
  /* the NATs open: a punch succeeds and A's next frame to B arrives directly */
  w.block_ab = 0;
  assert_int_equal(sw_core_dial(w.n[B].c, &w.n[A].addr, NULL, 100), SW_OK);
  settle(&w, 100);
  sw_core_peer_info info;
  assert_true(find_info(&w, B, A, &info));
  assert_true(info.verified);
  assert_true(addr_equal(&info.addr, &w.n[A].addr)); /* now direct */
  uint64_t via_relay = rstats(&w, R).forwarded;
  assert_int_equal(sw_core_write(w.n[B].c, wire_of(&w, A), "direct now", 10, 110), SW_OK);
  settle(&w, 110);
  assert_string_equal(w.n[A].last_data, "direct now");
  assert_int_equal(rstats(&w, R).forwarded, via_relay);
  net_free(&w);
}

/* B's NAT gives it a new mapping (a rebinding, a router restarted): the relay has not
 * verified that address, and its own heartbeats to B prove nothing of it. B's relayed
 * traffic carries a proof, so the relayed session goes on both ways. */
static void test_relayed_after_rebinding(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&relay_module, NULL};
  net w;
  net_join_r(&w, mods);
  dial_via(&w, A, R, B, 10);
  settle(&w, 10);
  assert_int_equal(sw_core_peer_count(w.n[B].c), 2);
  assert_int_equal(addr_parse_hostport(&w.n[B].addr, "10.0.0.9:9"), SW_OK);
  assert_int_equal(sw_core_write(w.n[B].c, wire_of(&w, A), "from a new port", 15, 5000),
                   SW_OK);
  settle(&w, 5000);
  assert_string_equal(w.n[A].last_data, "from a new port");
  assert_int_equal(sw_core_write(w.n[A].c, wire_of(&w, B), "and back", 8, 5010), SW_OK);
  settle(&w, 5010);
  assert_string_equal(w.n[B].last_data, "and back");
  net_free(&w);
}

/* A peer that does not serve as a relay carries nothing, and says so in its counters. */
static void test_not_serving_refuses(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&relay_module, NULL};
  net w;
  net_init(&w, mods);
  w.block_ab = 1;
  relay_serve(w.n[R].c, 0);
  sw_core_dial(w.n[A].c, &w.n[R].addr, NULL, 0);
  sw_core_dial(w.n[B].c, &w.n[R].addr, NULL, 0);
  settle(&w, 0);
  assert_int_equal(dial_via(&w, A, R, B, 10), SW_OK);
  settle(&w, 10);
  assert_int_equal(sw_core_peer_count(w.n[A].c), 1); /* R only */
  assert_int_equal(rstats(&w, R).forwarded, 0);
  assert_true(rstats(&w, R).refused >= 1);
  int serving = 1;
  relay_get_stats(w.n[R].c, NULL, &serving);
  assert_int_equal(serving, 0);
  /* serving again: a CIRCUIT larger than anything it could pass on (an IPv6 datagram
   * may carry 65 527 bytes) is refused, not copied (ASan watches) */
  relay_serve(w.n[R].c, 1);
  static uint8_t huge[65527];
  huge[0] = WIRE_CIRCUIT;
  huge[1] = 0;
  memcpy(huge + 2, core_identity(w.n[B].c)->id, 8);
  uint64_t refused = rstats(&w, R).refused;
  sw_core_datagram(w.n[R].c, SW_SOCK_MAIN, &w.n[A].addr, huge, sizeof huge, 20);
  assert_int_equal(rstats(&w, R).refused, refused + 1);
  assert_int_equal(rstats(&w, R).forwarded, 0);
  net_free(&w);
}

/* The relayed entry refuses what is not a relayed path. */
static void test_relayed_entry_checks(void **state) {
  (void)state;
  static const core_module_def *const none[] = {NULL};
  net w;
  net_init(&w, none);
  static const uint8_t ping[WIRE_PING_LEN] = {WIRE_PING};
  core_path direct = core_path_direct(&w.n[R].addr);
  sw_core_stats before, after;
  sw_core_get_stats(w.n[A].c, &before);
  core_datagram_relayed(w.n[A].c, &direct, ping, sizeof ping, 0);
  core_datagram_relayed(w.n[A].c, NULL, ping, sizeof ping, 0);
  sw_core_get_stats(w.n[A].c, &after);
  assert_int_equal(sw_core_out_pending(w.n[A].c), 0);
  assert_int_equal(after.rx_datagrams - before.rx_datagrams, 2);
  net_free(&w);
}

/* Drive every node's timers from `from` to `to` in 100 ms steps, settling between. */
static void run_until(net *w, uint64_t from, uint64_t to) {
  for (uint64_t t = from; t <= to; t += 100) {
    for (int i = 0; i < N; i++) sw_core_timeout(w->n[i].c, t);
    settle(w, t);
  }
}

/* A meets B (full id) but cannot reach it: 3 s later it dials through R. When that
 * relayed HELLO is lost, the fallback tries again 1 s later (PROTOCOL.md 15.7), and no
 * more than RELAY_DIAL_ROUNDS rounds when every one is lost. */
static void test_fallback_repeats(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&relay_module, NULL};
  for (int lose_all = 0; lose_all < 2; lose_all++) {
    net w;
    net_join_r(&w, mods);
    assert_int_equal(core_meet(w.n[A].c, &w.n[B].addr, core_identity(w.n[B].c)->id, 100),
                     SW_OK);
    settle(&w, 100);
    run_until(&w, 200, RELAY_AFTER_MS - 100);
    assert_int_equal(rstats(&w, A).dials, 0); /* punching still has its chance */
    /* the first round's forward to B is lost (and, in the second case, every later one) */
    w.drop_rb = 1;
    run_until(&w, RELAY_AFTER_MS, RELAY_AFTER_MS + RELAY_DIAL_EVERY_MS - 100);
    assert_int_equal(rstats(&w, A).dials, 1);
    assert_false(core_connected(w.n[A].c, wire_of(&w, B)));
    w.drop_rb = lose_all;
    run_until(&w, RELAY_AFTER_MS + RELAY_DIAL_EVERY_MS, RELAY_AFTER_MS + 6000);
    if (!lose_all) {
      assert_true(core_connected(w.n[A].c, wire_of(&w, B)));
      assert_true(core_connected(w.n[B].c, wire_of(&w, A)));
      assert_int_equal(rstats(&w, A).dials, 2); /* R is the only relay A holds */
    } else {
      assert_false(core_connected(w.n[A].c, wire_of(&w, B)));
      assert_int_equal(rstats(&w, A).dials, RELAY_DIAL_ROUNDS);
    }
    net_free(&w);
  }
}

/* An introduction dials an address without an id; a meet of that address with the id
 * arriving while the dial runs still reaches the modules: the relayed fallback watches
 * it, and the id binds the answer. */
static void test_meet_during_dial(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&relay_module, NULL};
  net w;
  net_join_r(&w, mods);
  assert_int_equal(sw_core_dial(w.n[A].c, &w.n[B].addr, NULL, 50), SW_OK); /* no id */
  settle(&w, 50);
  assert_int_equal(core_meet(w.n[A].c, &w.n[B].addr, core_identity(w.n[B].c)->id, 100),
                   SW_OK);
  run_until(&w, 200, RELAY_AFTER_MS + 1000);
  assert_true(rstats(&w, A).dials >= 1);
  assert_true(core_connected(w.n[A].c, wire_of(&w, B)));
  net_free(&w);
}

/* One IP may open at most RELAY_PER_ADDR circuits, however many identities it shows
 * (PROTOCOL.md 15.7): 20 peers behind one address each dial a target through R. */
#define MANY 20
static void test_per_address_bound(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&relay_module, NULL};
  node n[MANY + 2]; /* 0: R, 1: the target, 2..: one IP, many ids */
  memset(n, 0, sizeof n);
  for (int i = 0; i < MANY + 2; i++) {
    char seed[8], addr[32];
    snprintf(seed, sizeof seed, "%02x", 0x40 + i);
    snprintf(addr, sizeof addr, i == 0 ? "10.0.0.3:3" : i == 1 ? "10.0.0.2:2" : "10.0.0.9:%d",
             1000 + i);
    n[i].rng.s = (uint64_t)i + 77;
    sw_core_config cfg = {.seed_hex = seed, .random = rnd, .on_event = on_event, .ctx = &n[i],
                          .modules = mods, .relayed = 1, .relay_serve = i == 0};
    assert_int_equal(sw_core_new(&n[i].c, &cfg, 0), SW_OK);
    assert_int_equal(addr_parse_hostport(&n[i].addr, addr), SW_OK);
  }
  /* R admits 4 unproven peers per IP at a time (docs/THREATS.md "Main socket"): the
   * others' dials retry while the first ones prove their address */
  for (int i = 1; i < MANY + 2; i++)
    assert_int_equal(sw_core_dial(n[i].c, &n[0].addr, NULL, 0), SW_OK);
  uint64_t t = 0;
  for (; t <= 5000; t += 100) {
    for (int i = 0; i < MANY + 2; i++) sw_core_timeout(n[i].c, t);
    move_all(n, MANY + 2, t, NULL, NULL);
  }
  for (int i = 2; i < MANY + 2; i++) {
    assert_true(core_connected(n[i].c, core_identity(n[0].c)->id));
    core_path p = {.addr = n[0].addr, .relayed = 1};
    memcpy(p.via, core_identity(n[0].c)->id, 8);
    memcpy(p.far, core_identity(n[1].c)->id, 8);
    assert_int_equal(core_dial_path(n[i].c, &p, t), SW_OK);
  }
  move_all(n, MANY + 2, t, NULL, NULL);
  relay_stats st;
  assert_int_equal(relay_get_stats(n[0].c, &st, NULL), SW_OK);
  assert_int_equal(st.circuits, RELAY_PER_ADDR);
  assert_true(st.refused >= MANY - RELAY_PER_ADDR);
  int through = 0;
  for (int i = 2; i < MANY + 2; i++) through += core_connected(n[1].c, core_identity(n[i].c)->id);
  assert_int_equal(through, RELAY_PER_ADDR);
  for (int i = 0; i < MANY + 2; i++) sw_core_free(n[i].c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_session_over_relay),
      cmocka_unit_test(test_relayed_equals_direct),
      cmocka_unit_test(test_upgrade_to_direct),
      cmocka_unit_test(test_relayed_after_rebinding),
      cmocka_unit_test(test_relayed_entry_checks),
      cmocka_unit_test(test_not_serving_refuses),
      cmocka_unit_test(test_fallback_repeats),
      cmocka_unit_test(test_meet_during_dial),
      cmocka_unit_test(test_per_address_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
