/* The main socket trusts no source address (docs/THREATS.md "Main socket", issue 11):
 * amplification to an unvalidated address, a forged HELLO from a peer's address, a
 * session moved by a forged source. Each drives the engine with forged datagrams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "corenet.h"
#include "corenet_ref.h"
#include "guard.h"
#include "relay.h"
#include "sync.h"
#include "wire.h"

static const sw_core_config XCFG = {.xsession = 1};
static const sw_core_config SYNC = {.sync = 1};
static const sw_core_config XSYNC = {.sync = 1, .xsession = 1};

/* Bytes the cores sent to one address (the victim), counted in flight. */
static sw_addr g_victim;
static size_t g_to_victim, g_dgrams_to_victim;

static int count_victim(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n;
  (void)from;
  (void)d;
  if (addr_equal(to, &g_victim)) {
    g_to_victim += len;
    g_dgrams_to_victim++;
  }
  return 1;
}

static void watch(net *n, const char *victim) {
  g_victim = addr_of(victim);
  g_to_victim = g_dgrams_to_victim = 0;
  n->filter = count_victim;
}

/* An attacker forges a HELLO from the victim's address (as a reference peer, or as a
 * libsetowire one), then WANTs for a large value, and CHUNK_ACKs to keep it flowing
 * (the campaign's x308 per WANT, x14 940 for one WANT of a 1 MiB value):
 * what reaches the victim stays within 3x what was sent in its name. */
static void forged_hello_then_wants(const sw_core_config *cfg, int libsetowire) {
  net *n = net_new();
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", cfg);
  node *B = &n->nodes[b];
  static uint8_t value[256 * 1024];
  for (size_t i = 0; i < sizeof value; i++) value[i] = (uint8_t)(i * 31);
  assert_int_equal(sw_core_store(B->c, "big", value, sizeof value, n->now), SW_OK);
  assert_int_equal(sw_core_store(B->c, "k", "v", 1, n->now), SW_OK);
  ref_peer r;
  ref_init(&r, SEED_R, "192.0.2.66:4000", B);
  watch(n, "192.0.2.66:4000");
  size_t in = 0;
  if (libsetowire) {
    sw_peer_hello(n, &r, b, &r.addr);
    in += WIRE_HELLO_LEN + WIRE_TRAILER_LEN;
  } else {
    ref_hello(n, &r, b, WIRE_HELLO);
    in += WIRE_HELLO_LEN;
  }
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 1); /* the forged session exists */
  uint8_t f[64];
  for (int k = 0; k < 200; k++) {
    size_t wl = sync_want_encode(f, (const uint8_t *)(k % 2 ? "big" : "k"), k % 2 ? 3 : 1);
    inject(n, b, &r.addr, f, wl);
    in += wl;
    /* and CHUNK_ACKs, as if the victim kept the value's window moving */
    size_t al = sync_ack_encode(f, (const uint8_t *)"big", 3, (uint16_t)(k * 2));
    inject(n, b, &r.addr, f, al);
    in += al;
    advance(n, n->now + 50);
  }
  advance(n, n->now + 30000);
  printf("%s HELLO: %zu bytes in, %zu bytes (%zu datagrams) to the victim: x%.2f\n",
         libsetowire ? "libsetowire" : "reference", in, g_to_victim, g_dgrams_to_victim,
         (double)g_to_victim / (double)in);
  assert_true(g_to_victim > 0); /* the HELLO_ACK at least */
  assert_true(g_to_victim <= GUARD_AMP_FACTOR * in);
  ref_free(&r);
  net_free(n);
}

static void test_forged_reference_hello_then_wants(void **state) {
  (void)state;
  forged_hello_then_wants(&SYNC, 0);
  forged_hello_then_wants(&XSYNC, 0);
}

static void test_forged_libsetowire_hello_then_wants(void **state) {
  (void)state;
  forged_hello_then_wants(&SYNC, 1);
  forged_hello_then_wants(&XSYNC, 1);
}

/* Store/fetch serves only peers (issue 11, "What to build" 5): 100 WANTs and CHUNK_ACKs
 * for a 1 MiB value from an address with no session get nothing back at all. */
static void test_stranger_wants_get_nothing(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &XSYNC);
  node *B = &n->nodes[b];
  static uint8_t value[1024 * 1024];
  for (size_t i = 0; i < sizeof value; i++) value[i] = (uint8_t)(i * 7);
  assert_int_equal(sw_core_store(B->c, "big", value, sizeof value, n->now), SW_OK);
  sw_addr who = addr_of("192.0.2.77:77");
  watch(n, "192.0.2.77:77");
  uint8_t f[64];
  for (int k = 0; k < 100; k++) {
    inject(n, b, &who, f, sync_want_encode(f, (const uint8_t *)"big", 3));
    inject(n, b, &who, f, sync_ack_encode(f, (const uint8_t *)"big", 3, (uint16_t)k));
    advance(n, n->now + 50);
  }
  advance(n, n->now + 30000);
  assert_int_equal(g_to_victim, 0);
  net_free(n);
}

/* A real reference peer answers the PING: its address is validated and its traffic
 * flows without the limit, the held frames first. */
static void test_reference_proves_with_pong(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.9.9.9:9", b);
  clear_strays(n);
  /* 3 x 41 bytes of budget: these 20 messages wait */
  for (int k = 0; k < 20; k++)
    assert_int_equal(sw_core_write(B->c, r.id.id, "0123456789", 10, n->now), SW_OK);
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_DATA) + strays_to(n, &r.addr, WIRE_BATCH), 0);
  /* an unasked PONG proves nothing (and poisons the address for a while) */
  uint8_t pong[WIRE_PONG_LEN];
  inject(n, b, &r.addr, pong, wire_pong_encode(pong, r.id.id));
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_DATA) + strays_to(n, &r.addr, WIRE_BATCH), 0);
  advance(n, n->now + GUARD_POISON_MS);
  /* what waited longer than GUARD_HELD_MS was dropped; new messages wait again */
  ref_send(n, &r, b, "alive", 5); /* R's DATA: B still hears it, and it pays for PINGs */
  for (int k = 0; k < 5; k++)
    assert_int_equal(sw_core_write(B->c, r.id.id, "0123456789", 10, n->now), SW_OK);
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_DATA) + strays_to(n, &r.addr, WIRE_BATCH), 0);
  assert_int_equal(ref_prove(n, &r, b), 1);
  assert_true(strays_to(n, &r.addr, WIRE_DATA) + strays_to(n, &r.addr, WIRE_BATCH) >= 1);
  ref_free(&r);
  net_free(n);
}

/* One forged HELLO from the address a peer will use must not shadow that peer: its
 * frames find its session by session id, both ways work, with either transport. */
static void forged_hello_from_peer_address(const sw_core_config *cfg) {
  net *n = net_new();
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", cfg);
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.0.0.1:1", b); /* the attacker's key, A's address */
  assert_int_equal(sw_core_peer_count(n->nodes[b].c), 1);
  /* A comes up at that address afterwards */
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", cfg);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  advance(n, n->now + 2000);
  assert_true(has_peer(B, A));
  assert_true(has_peer(A, B));
  for (int k = 0; k < 5; k++) {
    char m[16];
    snprintf(m, sizeof m, "a to b %d", k);
    assert_int_equal(sw_core_write(A->c, B->id, m, strlen(m), n->now), SW_OK);
    m[0] = 'b';
    assert_int_equal(sw_core_write(B->c, A->id, m, strlen(m), n->now), SW_OK);
    advance(n, n->now + 100);
  }
  int ab = 0, ba = 0;
  for (int k = 0; k < B->nev; k++)
    ab += B->evs[k].type == SW_EV_DATA && memcmp(B->evs[k].peer, A->id, 8) == 0;
  ba = count_ev(A, SW_EV_DATA);
  assert_int_equal(ab, 5);
  assert_int_equal(ba, 5);
  assert_int_equal(stats(B).rx_auth_fail, 0);
  ref_free(&r);
  net_free(n);
}

static void test_forged_hello_from_peer_address(void **state) {
  (void)state;
  forged_hello_from_peer_address(NULL);
  forged_hello_from_peer_address(&XCFG);
}

/* The attacker's own session, proven at its real address, sends its own fresh DATA with
 * the victim's address as source: delivered, but the session does not move there, and
 * the victim gets no more than 3x those bytes. */
static void test_forged_source_data_does_not_move(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer s;
  sw_peer_connect(n, &s, SEED_R, "10.9.9.9:9", b);
  uint64_t ctr = 1000;
  sw_peer_sealed(n, &s, b, &s.addr, ctr++, SEALED_PROOF, (const uint8_t *)"", 0);
  pump(n);
  uint8_t nonce[16];
  assert_true(sealed_to(n, &s, &s.addr, SEALED_CHALLENGE, nonce) >= 1);
  sw_peer_sealed(n, &s, b, &s.addr, ctr++, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_true(best_is(B, &s.addr));
  sw_peer_data(n, &s, b, &s.addr, ctr++, 0, "real", 4);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  watch(n, "192.0.2.66:4000");
  size_t in = 0;
  uint8_t big[1000];
  memset(big, 7, sizeof big);
  for (uint32_t k = 1; k <= 20; k++) {
    sw_peer_data(n, &s, b, &g_victim, ctr++, k, big, sizeof big);
    in += sizeof big + WIRE_DATA_OVERHEAD;
    assert_true(best_is(B, &s.addr));
    /* and B's traffic for the session goes on where it was */
    for (int w = 0; w < 5; w++)
      assert_int_equal(sw_core_write(B->c, s.id.id, big, sizeof big, n->now), SW_OK);
    advance(n, n->now + 100);
  }
  advance(n, n->now + 10000);
  assert_true(best_is(B, &s.addr));
  printf("forged-source DATA: %zu bytes in, %zu bytes to the victim\n", in, g_to_victim);
  assert_true(g_to_victim <= GUARD_AMP_FACTOR * in);
  assert_true(g_to_victim < 2000); /* challenges only, not the session's traffic */
  ref_free(&s);
  net_free(n);
}

/* The same with the extended session: A's real packets, never delivered, are replayed by
 * an on-path attacker from a forged source; B does not move A's session there. */
static int g_hold_a;
static uint8_t g_held[32][1500];
static size_t g_held_len[32];
static int g_nheld;

static int hold_a_to_b(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  count_victim(n, from, to, d, len);
  if (!g_hold_a || from != 0 || !addr_equal(to, &n->nodes[1].addr)) return 1;
  if (g_nheld < 32 && len <= sizeof g_held[0]) {
    memcpy(g_held[g_nheld], d, len);
    g_held_len[g_nheld++] = len;
  }
  return 0;
}

static void test_forged_source_xpacket_does_not_move(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &XCFG), b = net_add_cfg(n, NULL, "10.0.0.2:2", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  advance(n, n->now + 1000);
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(B->c, &info, 1), 1);
  assert_true(info.extended);
  watch(n, "192.0.2.66:4000");
  n->filter = hold_a_to_b;
  g_hold_a = 1;
  g_nheld = 0;
  assert_int_equal(sw_core_write(A->c, B->id, "hello", 5, n->now), SW_OK);
  pump(n);
  g_hold_a = 0;
  assert_true(g_nheld >= 1);
  size_t in = 0;
  for (int k = 0; k < g_nheld; k++) {
    inject(n, b, &g_victim, g_held[k], g_held_len[k]);
    in += g_held_len[k];
  }
  advance(n, n->now + 5000);
  assert_int_equal(sw_core_peers(B->c, &info, 1), 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  assert_true(g_to_victim <= GUARD_AMP_FACTOR * in);
  /* and A's session still works both ways */
  assert_int_equal(sw_core_write(B->c, A->id, "back", 4, n->now), SW_OK);
  advance(n, n->now + 100);
  assert_true(count_ev(A, SW_EV_DATA) >= 1);
  net_free(n);
}

/* ---- admission (item 4) ------------------------------------------------------------ */

/* src/core/admit.h (it includes the engine's header, which tests do not see) */
#define ADMIT_UNPROVEN_MAX 32
#define ADMIT_PER_IP_DIV 4
#define ADMIT_PER_PREFIX_DIV 2

/* n forged HELLOs, each from a fresh identity at a fresh address (forged sources). */
static void forge_hellos(net *n, int to, int count, int salt) {
  for (int k = 0; k < count; k++) {
    char seed[65], where[32];
    for (int i = 0; i < 64; i++) seed[i] = "0123456789abcdef"[(k * 7 + i * 13 + salt) & 15];
    snprintf(seed + 56, 9, "%08x", (unsigned)(k + salt * 100000));
    seed[64] = 0;
    snprintf(where, sizeof where, "198.%d.%d.%d:%d", 18 + (k >> 16 & 1), (k >> 8) & 255,
             k & 255, 1000 + salt);
    ref_peer r;
    ref_init(&r, seed, where, &n->nodes[to]);
    ref_hello(n, &r, to, WIRE_HELLO);
    ref_free(&r);
  }
  pump(n);
}

/* has_peer, for a table of more than 16 peers. */
static int knows(const node *nd, const node *other) {
  static sw_core_peer_info info[128];
  size_t k = sw_core_peers(nd->c, info, 128);
  for (size_t i = 0; i < k && i < 128; i++)
    if (memcmp(info[i].wire_id, other->id, 8) == 0) return 1;
  return 0;
}

/* A real peer connects and both exchange messages. Under load (a full unproven pool)
 * the answering side makes the peer only once its address answered a PING sent on a
 * random heartbeat: a few seconds. */
static void real_peer_talks(net *n, int a, int b, int round) {
  node *A = &n->nodes[a], *B = &n->nodes[b];
  uint64_t t0 = n->now;
  if (!knows(B, A)) connect_nodes(n, a, b);
  for (int step = 0; step < 100 && !(knows(B, A) && has_peer(A, B)); step++)
    advance(n, n->now + 100);
  printf("round %d: the real peer connected in %llu ms\n", round,
         (unsigned long long)(n->now - t0));
  advance(n, n->now + 1000);
  assert_true(knows(B, A));
  assert_true(has_peer(A, B));
  int before_a = count_ev(A, SW_EV_DATA), before_b = count_ev(B, SW_EV_DATA);
  char m[32];
  snprintf(m, sizeof m, "round %d a", round);
  assert_int_equal(sw_core_write(A->c, B->id, m, strlen(m), n->now), SW_OK);
  snprintf(m, sizeof m, "round %d b", round);
  assert_int_equal(sw_core_write(B->c, A->id, m, strlen(m), n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(count_ev(A, SW_EV_DATA), before_a + 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), before_b + 1);
}

static void test_forged_hellos_do_not_lock_out(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  /* 100 forged HELLOs, repeated every 30 s: a real peer still connects each time */
  for (int round = 0; round < 4; round++) {
    forge_hellos(n, b, 100, round);
    assert_true(sw_core_peer_count(n->nodes[b].c) <= ADMIT_UNPROVEN_MAX + 1);
    if (round == 0) net_add(n, "10.0.0.1:1");
    real_peer_talks(n, 1, b, round);
    advance(n, n->now + 30000);
  }
  net_free(n);
}

static void test_fresh_identities_do_not_lock_out(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  for (int k = 0; k < 4; k++) {
    forge_hellos(n, b, 500, 7 + k);
    n->nodes[b].nev = 0; /* the events of the forged sessions, beyond the log's room */
  }
  assert_true(sw_core_peer_count(n->nodes[b].c) <= ADMIT_UNPROVEN_MAX);
  int a = net_add(n, "10.0.0.1:1");
  real_peer_talks(n, a, b, 0);
  net_free(n);
}

/* One address, or one /24, with many proven identities takes at most its share of the
 * slots: max_peers / 4 per IP, max_peers / 2 per /24. */
static void many_identities(int ips, int expect) {
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  int admitted = 0;
  for (int k = 0; k < 100; k++) {
    char seed[65], where[32];
    snprintf(seed, sizeof seed, "%064x", k + 1);
    snprintf(where, sizeof where, "203.0.113.%d:%d", 5 + k % ips, 2000 + k);
    ref_peer s;
    ref_init(&s, seed, where, B);
    size_t before = sw_core_peer_count(B->c);
    sw_peer_hello(n, &s, b, &s.addr);
    pump(n);
    if (sw_core_peer_count(B->c) > before) {
      admitted++;
      uint8_t nonce[16];
      sw_peer_sealed(n, &s, b, &s.addr, 100, SEALED_PROOF, (const uint8_t *)"", 0);
      pump(n);
      assert_true(sealed_to(n, &s, &s.addr, SEALED_CHALLENGE, nonce) >= 1);
      sw_peer_sealed(n, &s, b, &s.addr, 101, SEALED_RESPONSE, nonce, 16);
      pump(n);
    }
    clear_strays(n);
    ref_free(&s);
  }
  printf("%d address(es) of one /24, 100 proven identities: %d admitted of %d slots\n", ips,
         admitted, 100);
  assert_int_equal(admitted, expect);
  /* and peers from elsewhere still get in */
  int a = net_add(n, "10.0.0.1:1");
  real_peer_talks(n, a, b, 0);
  net_free(n);
}

static void test_one_address_many_identities(void **state) {
  (void)state;
  many_identities(1, 100 / ADMIT_PER_IP_DIV);
}

static void test_one_prefix_many_identities(void **state) {
  (void)state;
  many_identities(25, 100 / ADMIT_PER_PREFIX_DIV); /* 4 an IP: only the /24's bound */
}

/* Under load (the unproven pool full), a HELLO from a stranger makes no peer until its
 * address answers a PING (docs/THREATS.md "Main socket"). 300 HELLOs a second from
 * fresh identities at fresh addresses for 10 s: no peer is made for them beyond the
 * pool's slots the real peers free, the table stays within the pool's bound, and a
 * libsetowire peer and a reference peer (which PINGs every second and answers our PING
 * with a PONG, as the references do) connect during the flood and exchange messages. */
static sw_addr g_ref_addr;
static int g_ping_to_ref, g_data_to_ref;
static size_t g_to_forged; /* bytes to the flood's forged sources (198.18.0.0/15) */
static int flood_filter(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n;
  (void)from;
  if (to->family == 4 && to->ip[0] == 198 && (to->ip[1] & 0xfe) == 18) g_to_forged += len;
  if (addr_equal(to, &g_ref_addr)) {
    g_ping_to_ref += d[0] == WIRE_PING;
    g_data_to_ref += d[0] == WIRE_DATA || d[0] == WIRE_BATCH;
  }
  return 1;
}

#define FLOOD_PER_STEP 30 /* every 100 ms: 300 a second */

static void hello_flood_under_load(const sw_core_config *cfg) {
  net *n = net_new();
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", cfg);
  node *B = &n->nodes[b];
  forge_hellos(n, b, ADMIT_UNPROVEN_MAX, 50); /* the pool is full: load */
  assert_int_equal(sw_core_peer_count(B->c), ADMIT_UNPROVEN_MAX);
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", cfg);
  node *A = &n->nodes[a];
  ref_peer r;
  ref_init(&r, SEED_R, "10.7.7.7:7", B);
  g_ref_addr = r.addr;
  g_ping_to_ref = g_data_to_ref = 0;
  g_to_forged = 0;
  n->filter = flood_filter;
  B->nev = 0;
  size_t most = 0;
  int forged_conns = 0, hellos = 0, pongs = 0;
  uint64_t a_at = 0, r_at = 0, t0 = 0;
  for (int step = 0; step < 100; step++) {
    forge_hellos(n, b, FLOOD_PER_STEP, 1000 + step);
    hellos += FLOOD_PER_STEP;
    if (step == 5) {
      t0 = n->now;
      assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
      ref_hello(n, &r, b, WIRE_HELLO);
    }
    if (step > 5 && step % 10 == 0) { /* the reference's heartbeat PING, every second */
      uint8_t ping[WIRE_PING_LEN];
      inject(n, b, &r.addr, ping, wire_ping_encode(ping, n->now, r.id.id));
    }
    g_ping_to_ref = 0;
    advance(n, n->now + 100);
    if (g_ping_to_ref && !r_at) { /* a reference answers every PING */
      uint8_t pong[WIRE_PONG_LEN];
      inject(n, b, &r.addr, pong, wire_pong_encode(pong, r.id.id));
      pump(n);
      pongs++;
    }
    for (int k = 0; k < B->nev; k++) {
      const ev *e = &B->evs[k];
      if (e->type != SW_EV_CONNECTION) continue;
      if (memcmp(e->peer, A->id, 8) == 0) a_at = n->now;
      else if (memcmp(e->peer, r.id.id, 8) == 0) r_at = n->now;
      else {
        forged_conns++;
        printf("forged connection at step %d (%s), %zu peers\n", step, e->addr,
               sw_core_peer_count(B->c));
      }
    }
    B->nev = 0;
    size_t np = sw_core_peer_count(B->c);
    if (np > most) most = np;
    clear_strays(n);
  }
  printf("%s: %d HELLOs from fresh identities under load: %d peers made for them, at most "
         "%zu peers; the real peer in %llu ms, the reference in %llu ms (%d PONGs); "
         "x%.2f to the forged sources\n",
         cfg->xsession ? "extended" : "plain", hellos, forged_conns, most,
         (unsigned long long)(a_at ? a_at - t0 : 0), (unsigned long long)(r_at ? r_at - t0 : 0),
         pongs, (double)g_to_forged / (double)((size_t)hellos * WIRE_HELLO_LEN));
  assert_true(g_to_forged <= GUARD_AMP_FACTOR * (size_t)hellos * WIRE_HELLO_LEN);
  /* the two real peers, once in, leave the pool (proven) or push a forged one out of
   * it: each frees one unproven slot, which the flood's next HELLO takes; nothing else */
  assert_true(forged_conns <= 2);
  assert_true(most <= ADMIT_UNPROVEN_MAX + 2);
  assert_true(a_at && r_at);
  /* and both talk */
  real_peer_talks(n, a, b, 0);
  int before = count_ev(B, SW_EV_DATA);
  ref_send(n, &r, b, "from the reference", 18);
  assert_int_equal(sw_core_write(B->c, r.id.id, "to the reference", 16, n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(count_ev(B, SW_EV_DATA), before + 1);
  assert_true(g_data_to_ref > 0);
  ref_free(&r);
  net_free(n);
}

static void test_hello_flood_under_load(void **state) {
  (void)state;
  static const sw_core_config plain = {0};
  hello_flood_under_load(&plain);
  hello_flood_under_load(&XCFG);
}

/* A relay (our peer serving CIRCUIT, relay.c) forwards in its own name to a target it
 * holds a session with. An attacker that holds a verified session with the relay makes
 * the target a session it forged from the victim's address (a reference HELLO, 41
 * bytes), then pushes 200 CIRCUIT frames of 1 kB at it: what the relay sends to the
 * victim stays within 3x what came from the victim, since the relay's forward is an
 * ordinary frame to the target's path, under the main socket's limit. Both transports. */
static void relay_to_forged_target(const sw_core_config *base) {
  static const core_module_def *mods[] = {&relay_module, NULL};
  sw_core_config cfg = *base;
  cfg.modules = mods;
  cfg.relayed = 1;
  cfg.relay_serve = 1;
  net *n = net_new();
  int r = net_add_cfg(n, NULL, "10.0.0.3:3", &cfg);
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &cfg);
  node *R = &n->nodes[r], *A = &n->nodes[a];
  connect_nodes(n, a, r);
  advance(n, n->now + 3000); /* proofs, challenges, the extended handshake */
  ref_peer t;
  ref_init(&t, SEED_R, "192.0.2.66:4000", R);
  watch(n, "192.0.2.66:4000");
  ref_hello(n, &t, r, WIRE_HELLO);
  pump(n);
  size_t in = WIRE_HELLO_LEN;
  assert_true(core_connected(R->c, t.id.id)); /* the forged session is a target */
  static uint8_t frame[10 + 1000];
  frame[0] = WIRE_CIRCUIT;
  frame[1] = 0; /* to the relay */
  memcpy(frame + 2, t.id.id, 8);
  size_t pushed = 0;
  for (int k = 0; k < 200; k++) {
    memset(frame + 10, k, 1000);
    if (core_send_ctrl(A->c, R->id, frame, sizeof frame) == SW_OK) pushed += sizeof frame;
    advance(n, n->now + 20);
  }
  advance(n, n->now + 15000);
  relay_stats st;
  assert_int_equal(relay_get_stats(R->c, &st, NULL), SW_OK);
  printf("relay, %s: %zu bytes pushed by the attacker, %llu forwarded by the relay, "
         "%zu bytes in from the victim, %zu bytes (%zu datagrams) to it: x%.2f\n",
         base->xsession ? "extended" : "plain", pushed, (unsigned long long)st.forwarded_bytes,
         in, g_to_victim, g_dgrams_to_victim, (double)g_to_victim / (double)in);
  assert_true(pushed >= 100 * sizeof frame);
  assert_true(st.forwarded > 0); /* the relay took them: the bound below is the guard's */
  assert_true(g_to_victim <= GUARD_AMP_FACTOR * in);
  ref_free(&t);
  net_free(n);
}

static void test_relay_to_forged_target(void **state) {
  (void)state;
  static const sw_core_config plain = {0};
  relay_to_forged_target(&plain);
  relay_to_forged_target(&XCFG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forged_reference_hello_then_wants),
      cmocka_unit_test(test_forged_libsetowire_hello_then_wants),
      cmocka_unit_test(test_stranger_wants_get_nothing),
      cmocka_unit_test(test_reference_proves_with_pong),
      cmocka_unit_test(test_forged_hello_from_peer_address),
      cmocka_unit_test(test_forged_source_data_does_not_move),
      cmocka_unit_test(test_forged_source_xpacket_does_not_move),
      cmocka_unit_test(test_forged_hellos_do_not_lock_out),
      cmocka_unit_test(test_fresh_identities_do_not_lock_out),
      cmocka_unit_test(test_one_address_many_identities),
      cmocka_unit_test(test_one_prefix_many_identities),
      cmocka_unit_test(test_relay_to_forged_target),
      cmocka_unit_test(test_hello_flood_under_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
