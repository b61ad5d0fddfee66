/* Signed and content-addressed values between our peers over the simulated network
 * (docs/VALUES.md), each scenario with the plain protocol and with the extended session:
 *
 *   forged      a malicious peer, nearer than the writer, serves under the writer's
 *               signed key first a payload with a bad signature, then the writer's valid
 *               but older version: the fetch delivers the writer's newest version each
 *               time, the forgery is counted and never cached.
 *   newer       A stores v1, B fetches v1, A stores v2: B's copy becomes v2 by itself (the
 *               refresh on HAVE), B fetches v2, and C, connected to B alone, fetches v2
 *               from B.
 *   floor       B holds v1, A holds v2 it never announced: B's fetch asks A anyway and
 *               gets v2; when the only answer is older than what B holds, B's version is
 *               delivered (peer NULL) and stays.
 *   content     a content key served with a wrong value by a nearer peer: refused and
 *               counted, the right value delivered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "simnet.h"
#include "sync.h"
#include "sync_state.h"
#include "sync_value.h"

#define SEC 1000ull

typedef struct result {
  int calls, err;
  uint8_t *v;
  size_t len;
  int from_peer;
  uint8_t peer[8];
} result;

static void on_done(void *user, int err, const char *key, const uint8_t *v, size_t len,
                    const uint8_t *peer) {
  result *r = user;
  (void)key;
  r->calls++;
  r->err = err;
  r->len = len;
  free(r->v);
  r->v = NULL;
  if (v && len) {
    r->v = malloc(len);
    memcpy(r->v, v, len);
  }
  r->from_peer = peer != NULL;
  if (peer) memcpy(r->peer, peer, 8);
}

static int done(simnet *net, void *ctx) {
  (void)net;
  return ((result *)ctx)->calls > 0;
}

static void xcfg(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  (void)net, (void)node;
  cfg->xsession = *(int *)ctx;
}

static int pair_connected(simnet *net, void *ctx) {
  int *p = ctx;
  for (int k = 0; k < 2; k++) {
    sw_core_peer_info info[8];
    size_t n = sw_core_peers(simnet_core(net, p[k]), info, 8);
    int ok = 0;
    for (size_t i = 0; i < n && i < 8; i++)
      ok |= memcmp(info[i].wire_id, simnet_id(net, p[1 - k]), 8) == 0 &&
            (!p[2] || info[i].extended);
    if (!ok) return 0;
  }
  return 1;
}

static int g_extended;

static simnet *values_net(uint64_t seed, int nodes, int extended) {
  simnet *net = simnet_new(seed);
  assert_non_null(net);
  sim_link l = {.delay_ms = 2};
  simnet_set_default_link(net, &l);
  g_extended = extended;
  simnet_set_config(net, xcfg, &g_extended);
  for (int i = 0; i < nodes; i++) {
    assert_int_equal(simnet_add_node(net, NULL), i);
    assert_int_equal(sync_attach(simnet_core(net, i), 0, 0, 0), SW_OK);
  }
  return net;
}

static void link_up(simnet *net, int a, int b) {
  int p[3] = {a, b, g_extended};
  assert_int_equal(simnet_dial(net, a, b), SW_OK);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 30 * SEC, pair_connected, p),
             "nodes %d and %d did not connect (extended %d)", a, b, g_extended);
}

static sync_state *state(simnet *net, int i) { return core_module_state(simnet_core(net, i), "sync"); }

static sync_stats stats_of(simnet *net, int i) {
  sync_stats st;
  assert_int_equal(sync_get_stats(simnet_core(net, i), &st), SW_OK);
  return st;
}

/* The signed key of node i's name. */
static void key_of(simnet *net, int i, const char *name, char *key) {
  uint8_t pub[32];
  assert_int_equal(sw_core_signing_key(simnet_core(net, i), pub), SW_OK);
  assert_true(sv_signed_key(key, pub, name) > 0);
}

static void store_signed(simnet *net, int i, const char *name, const char *payload,
                         uint64_t want_seq) {
  uint64_t seq = 0;
  assert_int_equal(sw_core_store_signed(simnet_core(net, i), name, payload, strlen(payload), 0,
                                        &seq, simnet_now(net)), SW_OK);
  assert_int_equal(seq, want_seq);
  simnet_kick(net, i);
}

/* A copy of the envelope node i holds under key. */
static uint8_t *held_copy(simnet *net, int i, const char *key, size_t *len) {
  cent *e = sync_cache_find(&state(net, i)->cache, (const uint8_t *)key, strlen(key));
  assert_non_null(e);
  uint8_t *v = malloc(e->vlen);
  memcpy(v, e->val, e->vlen);
  *len = e->vlen;
  return v;
}

/* Put a value into node i's memory as is, past every check: what a modified peer does. */
static void plant(simnet *net, int i, const char *key, const uint8_t *v, size_t len) {
  assert_int_equal(sync_cache_put(&state(net, i)->cache, (const uint8_t *)key, strlen(key), v, len),
                   SW_OK);
}

static uint64_t held_seq(simnet *net, int i, const char *key) {
  return sv_held_seq(state(net, i), (const uint8_t *)key, strlen(key));
}

static void fetch_now(simnet *net, int i, const char *key, result *r) {
  memset(r, 0, sizeof *r);
  sw_core_fetch_opts o = {.timeout_ms = 10000};
  assert_int_equal(sw_core_fetch_ex(simnet_core(net, i), key, &o, on_done, r, NULL,
                                    simnet_now(net)), SW_OK);
  simnet_kick(net, i);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 20 * SEC, done, r),
             "node %d: the fetch of %s never completed", i, key);
}

/* The payload and seq of a delivered envelope are these. */
static void expect_version(simnet *net, const result *r, const char *payload, uint64_t seq) {
  SIM_ASSERT(net, r->err == SW_OK, "fetch failed: %d", r->err);
  uint64_t s;
  const uint8_t *p;
  size_t pl;
  SIM_ASSERT(net, sv_open(r->v, r->len, &s, &p, &pl) == SW_OK, "not an envelope");
  SIM_ASSERT(net, s == seq && pl == strlen(payload) && memcmp(p, payload, pl) == 0,
             "delivered seq %llu \"%.*s\", wanted seq %llu \"%s\"", (unsigned long long)s,
             (int)pl, (const char *)p, (unsigned long long)seq, payload);
}

/* ---- forged ------------------------------------------------------------------------ */

static void forged(int extended, int stale) {
  /* 0 the writer (far), 1 the fetcher, 2 the malicious peer (near) */
  simnet *net = values_net(31 + (uint64_t)stale, 3, extended);
  sim_link far = {.delay_ms = 60};
  simnet_set_link(net, 0, 1, &far);
  char key[SW_KEY_MAX + 1];
  key_of(net, 0, "doc", key);
  store_signed(net, 0, "doc", "version one", 1);
  size_t v1len;
  uint8_t *v1 = held_copy(net, 0, key, &v1len);
  store_signed(net, 0, "doc", "version two", 2);
  if (stale) {
    plant(net, 2, key, v1, v1len); /* valid, signed by the writer, older */
  } else {
    /* the same wire key, another payload, signed by the malicious peer's own key */
    crypto_signer sg;
    assert_int_equal(crypto_signer_from_identity(&sg, core_identity(simnet_core(net, 2))), 0);
    const char *evil = "version evil";
    uint8_t env[SV_HDR + 32];
    assert_int_equal(sv_encode(env, &sg, (const uint8_t *)key, strlen(key), 9,
                               (const uint8_t *)evil, strlen(evil)), SW_OK);
    plant(net, 2, key, env, SV_HDR + strlen(evil));
  }
  link_up(net, 1, 2);
  link_up(net, 1, 0);
  result r;
  fetch_now(net, 1, key, &r);
  expect_version(net, &r, "version two", 2);
  SIM_ASSERT(net, r.from_peer && memcmp(r.peer, simnet_id(net, 0), 8) == 0,
             "served by someone other than the writer");
  sync_stats st = stats_of(net, 1);
  if (!stale)
    SIM_ASSERT(net, st.forged_values >= 1, "the forgery was not counted (%llu)",
               (unsigned long long)st.forged_values);
  SIM_ASSERT(net, held_seq(net, 1, key) == 2, "the fetcher holds seq %llu",
             (unsigned long long)held_seq(net, 1, key));
  /* Again, now with v2 held: the malicious answer neither wins nor replaces it. */
  result r2;
  fetch_now(net, 1, key, &r2);
  expect_version(net, &r2, "version two", 2);
  SIM_ASSERT(net, held_seq(net, 1, key) == 2, "the held version was replaced");
  st = stats_of(net, 1);
  if (stale)
    SIM_ASSERT(net, st.stale_values >= 1, "the older version was not counted as stale");
  else
    SIM_ASSERT(net, st.forged_values >= 2, "the second forgery was not counted");
  printf("figure: %s, %s: forged %llu, stale %llu\n", extended ? "extended" : "plain",
         stale ? "older version" : "bad signature", (unsigned long long)st.forged_values,
         (unsigned long long)st.stale_values);
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
  free(v1);
  free(r.v);
  free(r2.v);
  simnet_free(net);
}

static void test_forged_signature(void **state) {
  (void)state;
  forged(0, 0);
  forged(1, 0);
}

static void test_forged_old_version(void **state) {
  (void)state;
  forged(0, 1);
  forged(1, 1);
}

/* ---- newer ------------------------------------------------------------------------- */

static int seq_at(simnet *net, void *ctx) {
  const char *key = ctx;
  return held_seq(net, 1, key) == 2;
}

static void newer(int extended) {
  simnet *net = values_net(41, 3, extended);
  link_up(net, 0, 1);
  link_up(net, 1, 2);
  char key[SW_KEY_MAX + 1];
  key_of(net, 0, "profile", key);
  store_signed(net, 0, "profile", "v1", 1);
  result r;
  fetch_now(net, 1, key, &r);
  expect_version(net, &r, "v1", 1);
  SIM_ASSERT(net, held_seq(net, 1, key) == 1, "B does not hold v1");
  free(r.v);
  /* A stores v2: its HAVE makes B fetch it by itself */
  store_signed(net, 0, "profile", "v2", 2);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 5 * SEC, seq_at, key),
             "B's copy was not refreshed to v2");
  SIM_ASSERT(net, stats_of(net, 1).refreshes >= 1, "no refresh counted");
  fetch_now(net, 1, key, &r);
  expect_version(net, &r, "v2", 2);
  free(r.v);
  /* C is connected to B alone */
  fetch_now(net, 2, key, &r);
  expect_version(net, &r, "v2", 2);
  SIM_ASSERT(net, r.from_peer && memcmp(r.peer, simnet_id(net, 1), 8) == 0,
             "C's value did not come from B");
  free(r.v);
  SIM_ASSERT(net, simnet_fault(net) == NULL, "simulator fault: %s", simnet_fault(net));
  simnet_free(net);
}

static void test_newer_version_replaces(void **state) {
  (void)state;
  newer(0);
  newer(1);
}

/* ---- floor ------------------------------------------------------------------------- */

static void floor_case(int extended) {
  simnet *net = values_net(51, 2, extended);
  char key[SW_KEY_MAX + 1];
  key_of(net, 0, "cfg", key);
  store_signed(net, 0, "cfg", "one", 1);
  size_t v1len;
  uint8_t *v1 = held_copy(net, 0, key, &v1len);
  /* B holds v1 (a valid envelope, stored raw); A goes on to v2 and v3 */
  assert_int_equal(sw_core_store(simnet_core(net, 1), key, v1, v1len, simnet_now(net)), SW_OK);
  store_signed(net, 0, "cfg", "two", 2);
  link_up(net, 0, 1);
  simnet_run_until(net, simnet_now(net) + 2 * SEC); /* the summary's refresh, if any */
  /* v3 put into A's memory without a HAVE (as if the announcement were lost) */
  crypto_signer sg;
  assert_int_equal(crypto_signer_from_identity(&sg, core_identity(simnet_core(net, 0))), 0);
  uint8_t env[SV_HDR + 8];
  assert_int_equal(sv_encode(env, &sg, (const uint8_t *)key, strlen(key), 3,
                             (const uint8_t *)"three", 5), SW_OK);
  plant(net, 0, key, env, SV_HDR + 5);
  result r;
  fetch_now(net, 1, key, &r);
  expect_version(net, &r, "three", 3);
  SIM_ASSERT(net, r.from_peer, "the held version was delivered, not A's newer one");
  SIM_ASSERT(net, held_seq(net, 1, key) == 3, "B does not keep v3");
  free(r.v);
  /* A now answers with v1 only: B delivers its own v3, from memory */
  plant(net, 0, key, v1, v1len);
  fetch_now(net, 1, key, &r);
  expect_version(net, &r, "three", 3);
  SIM_ASSERT(net, !r.from_peer, "a peer's version was delivered over the held newer one");
  SIM_ASSERT(net, held_seq(net, 1, key) == 3, "B's version went down");
  free(r.v);
  free(v1);
  simnet_free(net);
}

static void test_held_version_is_the_floor(void **state) {
  (void)state;
  floor_case(0);
  floor_case(1);
}

/* ---- content ----------------------------------------------------------------------- */

static void content(int extended) {
  simnet *net = values_net(61, 3, extended);
  sim_link far = {.delay_ms = 60};
  simnet_set_link(net, 0, 1, &far);
  const char *blob = "the one true blob";
  char ck[SW_CONTENT_KEY_LEN + 1];
  assert_int_equal(sw_core_store_content(simnet_core(net, 0), blob, strlen(blob), ck,
                                         simnet_now(net)), SW_OK);
  plant(net, 2, ck, (const uint8_t *)"a counterfeit blob", 18);
  link_up(net, 1, 2);
  link_up(net, 1, 0);
  result r;
  fetch_now(net, 1, ck, &r);
  SIM_ASSERT(net, r.err == SW_OK && r.len == strlen(blob) && memcmp(r.v, blob, r.len) == 0,
             "content fetch: err %d, %zu bytes", r.err, r.len);
  SIM_ASSERT(net, r.from_peer && memcmp(r.peer, simnet_id(net, 0), 8) == 0,
             "served by the counterfeiter");
  SIM_ASSERT(net, stats_of(net, 1).forged_values >= 1, "the counterfeit was not counted");
  free(r.v);
  /* with the counterfeiter alone: nothing delivered */
  simnet_partition(net, 0, 1, 1);
  cent *e = sync_cache_find(&state(net, 1)->cache, (const uint8_t *)ck, strlen(ck));
  assert_non_null(e);
  uint8_t *copy = malloc(e->vlen);
  memcpy(copy, e->val, e->vlen);
  size_t clen = e->vlen;
  sync_cache_clear(&state(net, 1)->cache);
  memset(&r, 0, sizeof r);
  sw_core_fetch_opts o = {.timeout_ms = 3000};
  assert_int_equal(sw_core_fetch_ex(simnet_core(net, 1), ck, &o, on_done, &r, NULL,
                                    simnet_now(net)), SW_OK);
  simnet_kick(net, 1);
  SIM_ASSERT(net, simnet_run_until_cond(net, simnet_now(net) + 10 * SEC, done, &r), "no end");
  SIM_ASSERT(net, r.err != SW_OK && !r.v, "a counterfeit was delivered");
  SIM_ASSERT(net, !sync_cache_find(&state(net, 1)->cache, (const uint8_t *)ck, strlen(ck)),
             "a counterfeit was cached");
  assert_int_equal(clen, strlen(blob));
  free(copy);
  simnet_free(net);
}

static void test_content_key_checked(void **state) {
  (void)state;
  content(0);
  content(1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forged_signature),
      cmocka_unit_test(test_forged_old_version),
      cmocka_unit_test(test_newer_version_replaces),
      cmocka_unit_test(test_held_version_is_the_floor),
      cmocka_unit_test(test_content_key_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
