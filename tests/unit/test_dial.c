/* Dialling: with the peer's full id (a wrong one refuses the answer), and the dials
 * the API refuses (our own id, bad addresses). */
#include <stdio.h>
#include <string.h>

#include "core_internal.h"
#include "corenet.h"
#include "testutil.h"
#include "wire.h"

/* engine.h's (it cannot be included beside corenet.h) */
#define DIAL_PER_IP 8
#define DIAL_PER_PREFIX 64
#define DIAL_IP_PER_MIN 16
#define DIAL_PREFIX_PER_MIN 64
#define PUNCH_TRIES 8

static void test_dial_with_full_id(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2"), c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  /* the right full id: connects */
  assert_int_equal(sw_core_dial(A->c, &B->addr, B->id, n->now), SW_OK);
  advance(n, n->now + 100);
  assert_true(has_peer(A, B));
  /* a wrong full id for C's address: C's answer does not hash to it, so A refuses it */
  assert_int_equal(sw_core_dial(A->c, &C->addr, B->id, n->now), SW_OK); /* B known: no-op */
  uint8_t wrong[20];
  memcpy(wrong, C->id, 20);
  wrong[19] ^= 1; /* same wire id, different full id */
  assert_int_equal(sw_core_dial(A->c, &C->addr, wrong, n->now), SW_OK);
  advance(n, n->now + 6000);
  assert_false(has_peer(A, C));
  assert_int_equal(sw_core_peer_count(A->c), 1);
  /* our own id, a bad address: refused at the API */
  assert_int_equal(sw_core_dial(A->c, &C->addr, A->id, n->now), SW_EINVAL);
  sw_addr bad;
  memset(&bad, 0, sizeof bad);
  assert_int_equal(sw_core_dial(A->c, &bad, NULL, n->now), SW_EINVAL);
  assert_int_equal(addr_parse_hostport(&bad, "10.0.0.9:0"), SW_OK);
  assert_int_equal(sw_core_dial(A->c, &bad, NULL, n->now), SW_EINVAL);
  assert_int_equal(sw_core_dial(A->c, NULL, NULL, n->now), SW_EINVAL);
  net_free(n);
}

/* HELLOs sent into 192.0.2.0/24 (the victim network), counted in flight. */
static size_t g_hellos_victim;
static int count_victim_hellos(net *n, int from, const sw_addr *to, const uint8_t *d,
                               size_t len) {
  (void)n;
  (void)from;
  (void)len;
  if (to->family == 4 && to->ip[0] == 192 && to->ip[1] == 0 && to->ip[2] == 2 &&
      d[0] == WIRE_HELLO)
    g_hellos_victim++;
  return 1;
}

/* Discovery records (any source ends in core_meet: DHT, HTTP, piping, PEX, LAN, peer
 * cache, seeds) flood one victim /24 for three minutes, 50 fresh addresses every
 * 100 ms, a fifth of them at one IP: the dials started stay within the per-IP and
 * per-prefix bounds, in flight and per minute; another network is dialled at once
 * meanwhile, and so is the application's own dial into the victim's network. */
static void test_discovery_flood_one_prefix(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1");
  node *A = &n->nodes[a];
  g_hellos_victim = 0;
  n->filter = count_victim_hellos;
  static uint64_t started[4096], started_ip[4096];
  size_t ns = 0, nip = 0, records = 0;
  uint64_t t0 = n->now;
  for (int round = 0; round < 1800; round++) {
    for (int k = 0; k < 50; k++) {
      char where[32];
      unsigned port = 1000 + (unsigned)(round * 50 + k) % 60000;
      snprintf(where, sizeof where, "192.0.2.%d:%u", k % 5 == 0 ? 7 : 1 + (k * 37 + round) % 250,
               port);
      sw_addr v = addr_of(where);
      records++;
      if (core_meet(A->c, &v, NULL, n->now) == SW_OK) {
        assert_true(ns < 4096);
        started[ns++] = n->now;
        if (v.ip[3] == 7) started_ip[nip++] = n->now;
      }
    }
    if (round == 900) {
      /* another network: dialled at once; the application's dial: not bounded */
      sw_addr other = addr_of("198.51.100.9:9"), mine = addr_of("192.0.2.200:5");
      assert_int_equal(core_meet(A->c, &other, NULL, n->now), SW_OK);
      assert_int_equal(sw_core_dial(A->c, &mine, NULL, n->now), SW_OK);
    }
    advance(n, n->now + 100);
  }
  advance(n, n->now + 10000);
  printf("%zu records naming one /24 in %.0f s: %zu dials started (%zu to one IP), %zu HELLOs\n",
         records, (double)(n->now - t0) / 1000.0, ns, nip, g_hellos_victim);
  /* per minute: any 60 s holds at most the bound (prefix, and the one IP) */
  for (size_t i = 0; i < ns; i++) {
    size_t in_min = 0, in_flight = 0;
    for (size_t j = i; j < ns && started[j] - started[i] < 60000; j++) in_min++;
    /* nobody answers: a dial stays in flight its whole timeout (5.4 s) */
    for (size_t j = i; j < ns && started[j] - started[i] < 5400; j++) in_flight++;
    assert_true(in_min <= DIAL_PREFIX_PER_MIN);
    assert_true(in_flight <= DIAL_PER_PREFIX);
  }
  for (size_t i = 0; i < nip; i++) {
    size_t in_min = 0, in_flight = 0;
    for (size_t j = i; j < nip && started_ip[j] - started_ip[i] < 60000; j++) in_min++;
    for (size_t j = i; j < nip && started_ip[j] - started_ip[i] < 5400; j++) in_flight++;
    assert_true(in_min <= DIAL_IP_PER_MIN);
    assert_true(in_flight <= DIAL_PER_IP);
  }
  /* three minutes: at most three minutes' worth, and each dial is at most PUNCH_TRIES
   * HELLOs (the application's one dial included) */
  assert_true(ns <= 3 * DIAL_PREFIX_PER_MIN);
  assert_true(ns >= 2 * DIAL_PREFIX_PER_MIN); /* the bound, not a stall */
  assert_true(g_hellos_victim <= (ns + 1) * PUNCH_TRIES);
  net_free(n);
}

/* Loopback is exempt (every local process shares it), as admission's bounds are. */
static void test_discovery_loopback_exempt(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1");
  node *A = &n->nodes[a];
  int ok = 0;
  for (int k = 0; k < 40; k++) {
    char where[32];
    snprintf(where, sizeof where, "127.0.0.1:%d", 2000 + k);
    sw_addr v = addr_of(where);
    ok += core_meet(A->c, &v, NULL, n->now) == SW_OK;
  }
  assert_int_equal(ok, 40); /* the meet tokens' burst, not the per-IP bound */
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dial_with_full_id),
      cmocka_unit_test(test_discovery_flood_one_prefix),
      cmocka_unit_test(test_discovery_loopback_exempt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
