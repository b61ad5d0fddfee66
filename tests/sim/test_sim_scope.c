/* Scoped keys, unstore and lifetimes (src/core/sync_scope.c; issue 12 item 5) over the
 * simulated network, in virtual time: two topics hold one key with different values and
 * each fetch gets its own; another topic's key, or the global one, is not found; after
 * unstore a peer's fetch and our own find nothing and the backend row is removed; a
 * value with a TTL dies at the holder and in a fetcher's cache at the same moment, its
 * backend row with it, while a value without one stays. Between our peers on the
 * extended session (where "none" answers exist), and the plain session where it
 * matters (a lifetime does not travel there). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simnet.h"
#include "sync.h"

#define SEC 1000ull

/* ---- a storage backend in memory, served between simulator events ---------------- */

#define ROWS 16
typedef struct backend {
  char key[ROWS][SYNC_KEY_MAX + 1];
  uint8_t *val[ROWS];
  size_t len[ROWS];
  int removals; /* sets of length 0 seen */
} backend;

static int row(backend *b, const char *k) {
  for (int i = 0; i < ROWS; i++)
    if (b->val[i] && strcmp(b->key[i], k) == 0) return i;
  return -1;
}

/* Run every request node's core has queued. */
static void serve(simnet *net, int node, backend *b) {
  sw_core *c = simnet_core(net, node);
  sw_core_storage_req r;
  int any = 0;
  while (sw_core_storage_take(c, &r)) {
    any = 1;
    int i = row(b, r.key);
    if (r.op == SW_CORE_STORAGE_GET) {
      sw_core_storage_done(c, r.id, SW_OK, i >= 0 ? b->val[i] : NULL, i >= 0 ? b->len[i] : 0,
                           simnet_now(net));
      continue;
    }
    if (i >= 0) {
      free(b->val[i]);
      b->val[i] = NULL;
    }
    if (!r.len) {
      b->removals++;
    } else {
      for (i = 0; b->val[i]; i++) assert_true(i + 1 < ROWS);
      snprintf(b->key[i], sizeof b->key[i], "%s", r.key);
      b->val[i] = malloc(r.len);
      memcpy(b->val[i], r.value, r.len);
      b->len[i] = r.len;
    }
    sw_core_storage_done(c, r.id, SW_OK, NULL, 0, simnet_now(net));
  }
  if (any) simnet_kick(net, node);
}

static void backend_free(backend *b) {
  for (int i = 0; i < ROWS; i++) free(b->val[i]);
}

/* ---- the network ------------------------------------------------------------------ */

typedef struct world {
  simnet *net;
  backend be[3]; /* node i's backend, when it has one */
  int has_be[3];
} world;

typedef struct result {
  int calls, err, from_peer;
  char key[SYNC_KEY_MAX + 1];
  char v[64];
} result;

static void on_done(void *user, int err, const char *key, const uint8_t *v, size_t len,
                    const uint8_t *peer) {
  result *r = user;
  r->calls++;
  r->err = err;
  snprintf(r->key, sizeof r->key, "%s", key);
  r->v[0] = 0;
  if (v && len < sizeof r->v) {
    memcpy(r->v, v, len);
    r->v[len] = 0;
  }
  r->from_peer = peer != NULL;
}

typedef struct cond_ctx {
  world *w;
  int (*inner)(simnet *, void *);
  void *ctx;
} cond_ctx;

/* Every condition also serves the backends: the runtime's part, done between events. */
static int with_backends(simnet *net, void *p) {
  cond_ctx *cc = p;
  for (int i = 0; i < 3; i++)
    if (cc->w->has_be[i]) serve(net, i, &cc->w->be[i]);
  return cc->inner ? cc->inner(net, cc->ctx) : 0;
}

static int run_cond(world *w, uint64_t until, int (*cond)(simnet *, void *), void *ctx) {
  cond_ctx cc = {w, cond, ctx};
  return simnet_run_until_cond(w->net, until, with_backends, &cc);
}

static void run_to(world *w, uint64_t t) {
  run_cond(w, t, NULL, NULL);
  simnet_run_until(w->net, t);
  cond_ctx cc = {w, NULL, NULL};
  with_backends(w->net, &cc);
}

static int done(simnet *net, void *ctx) {
  (void)net;
  return ((result *)ctx)->calls > 0;
}

static int xsession_on;
static void xcfg(void *ctx, simnet *net, int node, sw_core_config *cfg) {
  (void)ctx, (void)net, (void)node;
  cfg->xsession = xsession_on;
}

static int both_ready(simnet *net, void *ctx) {
  int *nodes = ctx;
  for (int k = 0; k < 2; k++) {
    sw_core_peer_info info[8];
    size_t n = sw_core_peers(simnet_core(net, nodes[k]), info, 8);
    int ok = 0;
    for (size_t i = 0; i < n && i < 8; i++)
      ok |= memcmp(info[i].wire_id, simnet_id(net, nodes[1 - k]), 8) == 0 &&
            (info[i].extended || !xsession_on);
    if (!ok) return 0;
  }
  return 1;
}

/* n nodes, node i with a backend when backends[i]; 0-1 (and 0-2, 1-2) connected. */
static void world_new(world *w, uint64_t seed, int n, const int *backends, int extended) {
  memset(w, 0, sizeof *w);
  xsession_on = extended;
  w->net = simnet_new(seed);
  assert_non_null(w->net);
  sim_link l = {.delay_ms = 10};
  simnet_set_default_link(w->net, &l);
  simnet_set_config(w->net, xcfg, NULL);
  for (int i = 0; i < n; i++) {
    assert_int_equal(simnet_add_node(w->net, NULL), i);
    w->has_be[i] = backends && backends[i];
    assert_int_equal(sync_attach(simnet_core(w->net, i), 0, 0, w->has_be[i]), SW_OK);
  }
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++) {
      int both[2] = {a, b};
      assert_int_equal(simnet_dial(w->net, a, b), SW_OK);
      SIM_ASSERT(w->net, run_cond(w, simnet_now(w->net) + 30 * SEC, both_ready, both),
                 "nodes %d and %d did not connect", a, b);
    }
}

static void world_free(world *w) {
  SIM_ASSERT(w->net, simnet_fault(w->net) == NULL, "simulator fault: %s", simnet_fault(w->net));
  for (int i = 0; i < 3; i++) backend_free(&w->be[i]);
  simnet_free(w->net);
}

/* Node `node` fetches key in scope (NULL: global) and waits for the completion. */
static result fetch(world *w, int node, const char *key, const sw_core_scope *scope,
                    uint32_t timeout_ms) {
  result r = {0};
  sw_core_fetch_opts o = {.timeout_ms = timeout_ms, .scope = scope};
  uint64_t t0 = simnet_now(w->net);
  assert_int_equal(sw_core_fetch_ex(simnet_core(w->net, node), key, &o, on_done, &r, NULL, t0),
                   SW_OK);
  simnet_kick(w->net, node);
  SIM_ASSERT(w->net, run_cond(w, t0 + timeout_ms + 5 * SEC, done, &r), "fetch of %s: no end", key);
  return r;
}

static void store(world *w, int node, const char *key, const char *v, const sw_core_scope *scope,
                  uint32_t ttl_ms) {
  assert_int_equal(sw_core_store_ex(simnet_core(w->net, node), key, v, strlen(v), scope, ttl_ms,
                                    simnet_now(w->net)),
                   SW_OK);
  simnet_kick(w->net, node);
}

static void topic_of(uint8_t t[32], char c) { memset(t, c, 32); }

/* ---- two topics, one key ---------------------------------------------------------- */

static void two_topics(int extended) {
  world w;
  world_new(&w, 11, 2, NULL, extended);
  uint8_t ta[32], tb[32], tc[32];
  topic_of(ta, 'a');
  topic_of(tb, 'b');
  topic_of(tc, 'c');
  sw_core_scope sa = {0, ta}, sb = {0, tb}, sc = {0, tc}, first = {0, NULL};
  store(&w, 1, "k", "value in A", &sa, 0);
  store(&w, 1, "k", "value in B", &sb, 0);
  result r = fetch(&w, 0, "k", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "value in A") == 0, "A: %d %s", r.err, r.v);
  SIM_ASSERT(w.net, strcmp(r.key, "k") == 0 && r.from_peer, "A: key %s", r.key);
  r = fetch(&w, 0, "k", &sb, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "value in B") == 0, "B: %d %s", r.err, r.v);
  /* Again, now from node 0's own cache: each topic still its own value. */
  r = fetch(&w, 0, "k", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && !r.from_peer && strcmp(r.v, "value in A") == 0, "A cached");
  /* No topic joined and none given: refused. */
  sw_core_fetch_opts o = {.scope = &first};
  assert_int_equal(sw_core_fetch_ex(simnet_core(w.net, 0), "k", &o, on_done, &r, NULL,
                                    simnet_now(w.net)),
                   SW_EINVAL);
  assert_int_equal(sw_core_store_ex(simnet_core(w.net, 0), "k", "v", 1, &first, 0,
                                    simnet_now(w.net)),
                   SW_EINVAL);
  /* The first joined topic is the default; leaving it moves the default on. */
  assert_int_equal(sw_core_join(simnet_core(w.net, 0), ta), SW_OK);
  assert_int_equal(sw_core_join(simnet_core(w.net, 0), tb), SW_OK);
  r = fetch(&w, 0, "k", &first, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "value in A") == 0, "first: %s", r.v);
  assert_int_equal(sw_core_leave(simnet_core(w.net, 0), ta), SW_OK);
  r = fetch(&w, 0, "k", &first, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "value in B") == 0, "after leave: %s", r.v);
  /* A key too long once scoped is refused; the longest that fits is taken. */
  char longkey[SYNC_KEY_MAX + 1];
  memset(longkey, 'x', sizeof longkey);
  longkey[SYNC_KEY_MAX - 15 + 1] = 0;
  assert_int_equal(sw_core_store_ex(simnet_core(w.net, 1), longkey, "v", 1, &sa, 0,
                                    simnet_now(w.net)),
                   SW_EINVAL);
  longkey[SYNC_KEY_MAX - 15] = 0;
  store(&w, 1, longkey, "v", &sa, 0);
  if (extended) {
    /* Another topic, or the global key: every peer says it holds none. */
    r = fetch(&w, 0, "k", &sc, 10000);
    SIM_ASSERT(w.net, r.err == SW_ENOTFOUND, "C: %d", r.err);
    r = fetch(&w, 0, "k", NULL, 10000);
    SIM_ASSERT(w.net, r.err == SW_ENOTFOUND, "global: %d", r.err);
  } else {
    r = fetch(&w, 0, "k", &sc, 3000); /* no "none" on a plain session: time runs out */
    SIM_ASSERT(w.net, r.err == SW_ETIMEDOUT, "C plain: %d", r.err);
  }
  world_free(&w);
}

static void test_two_topics(void **state) {
  (void)state;
  two_topics(1);
  two_topics(0);
}

/* ---- the SW_EV_SYNC event names the caller's key and the topic ------------------- */

typedef struct ev_seen {
  int n;
  char key[SYNC_KEY_MAX + 1];
  int has_topic;
  uint8_t topic[32];
} ev_seen;

static void on_event(void *ctx, simnet *net, int node, const sw_event *ev) {
  (void)net;
  ev_seen *e = ctx;
  if (node != 0 || ev->type != SW_EV_SYNC) return;
  e->n++;
  snprintf(e->key, sizeof e->key, "%s", ev->key);
  e->has_topic = ev->topic != NULL;
  if (ev->topic) memcpy(e->topic, ev->topic, 32);
}

static void test_sync_event(void **state) {
  (void)state;
  world w;
  world_new(&w, 12, 2, NULL, 1);
  ev_seen e = {0};
  simnet_set_hook(w.net, on_event, &e);
  uint8_t ta[32];
  topic_of(ta, 'a');
  sw_core_scope sa = {0, ta};
  store(&w, 1, "doc", "scoped", &sa, 0);
  store(&w, 1, "plain", "global", NULL, 0);
  result r = fetch(&w, 0, "doc", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK, "scoped fetch %d", r.err);
  SIM_ASSERT(w.net, e.n == 1 && strcmp(e.key, "doc") == 0 && e.has_topic &&
                        memcmp(e.topic, ta, 32) == 0,
             "event: %d %s %d", e.n, e.key, e.has_topic);
  r = fetch(&w, 0, "plain", NULL, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "global") == 0, "global fetch %d", r.err);
  SIM_ASSERT(w.net, e.n == 2 && strcmp(e.key, "plain") == 0 && !e.has_topic, "global event");
  world_free(&w);
}

/* ---- unstore ------------------------------------------------------------------------ */

static void test_unstore(void **state) {
  (void)state;
  static const int be[3] = {0, 1, 0};
  world w;
  world_new(&w, 13, 3, be, 1);
  uint8_t ta[32];
  topic_of(ta, 'a');
  sw_core_scope sa = {0, ta};
  store(&w, 1, "gone", "soon gone", &sa, 0);
  store(&w, 1, "other", "stays", &sa, 0);
  run_to(&w, simnet_now(w.net) + 100);
  /* Node 2 fetches it first: its copy stays after the unstore (documented). */
  result r = fetch(&w, 2, "gone", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK, "before unstore: %d", r.err);
  int rows = 0;
  for (int i = 0; i < ROWS; i++) rows += w.be[1].val[i] != NULL;
  SIM_ASSERT(w.net, rows == 2, "rows before: %d", rows);
  sw_core *c1 = simnet_core(w.net, 1);
  assert_int_equal(sw_core_unstore(c1, "gone", &sa, simnet_now(w.net)), SW_OK);
  assert_int_equal(sw_core_unstore(c1, "never stored", &sa, simnet_now(w.net)), SW_OK);
  simnet_kick(w.net, 1);
  run_to(&w, simnet_now(w.net) + 100);
  rows = 0;
  for (int i = 0; i < ROWS; i++) rows += w.be[1].val[i] != NULL;
  SIM_ASSERT(w.net, rows == 1 && w.be[1].removals >= 1, "rows after: %d", rows);
  /* Node 0 asks nodes 1 and 2: 1 says none, 2 still has its fetched copy. Cut 2 off to
   * see node 1's own answer. */
  simnet_partition(w.net, 0, 2, 1);
  r = fetch(&w, 0, "gone", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_ENOTFOUND || r.err == SW_ETIMEDOUT, "peer fetch: %d", r.err);
  simnet_partition(w.net, 1, 2, 1);
  /* Our own fetch: not from memory nor the backend (node 2, cut off, cannot answer). */
  r = fetch(&w, 1, "gone", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_ENOTFOUND || r.err == SW_ETIMEDOUT, "own fetch: %d (%s)", r.err,
             r.v);
  r = fetch(&w, 0, "other", &sa, 10000); /* nothing else was touched */
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "stays") == 0, "other: %d", r.err);
  sync_stats st;
  sync_get_stats(c1, &st);
  SIM_ASSERT(w.net, st.unstored == 2, "unstored %llu", (unsigned long long)st.unstored);
  world_free(&w);
}

/* With only node 1 asked, the answer is exactly SW_ENOTFOUND. */
static void test_unstore_not_found(void **state) {
  (void)state;
  static const int be[2] = {0, 1};
  world w;
  world_new(&w, 14, 2, be, 1);
  store(&w, 1, "k", "v", NULL, 0);
  run_to(&w, simnet_now(w.net) + 100);
  assert_int_equal(sw_core_unstore(simnet_core(w.net, 1), "k", NULL, simnet_now(w.net)), SW_OK);
  simnet_kick(w.net, 1);
  result r = fetch(&w, 0, "k", NULL, 10000);
  SIM_ASSERT(w.net, r.err == SW_ENOTFOUND, "peer fetch: %d", r.err);
  SIM_ASSERT(w.net, row(&w.be[1], "k") < 0, "row still there");
  r = fetch(&w, 1, "k", NULL, 10000); /* our own: node 0 says none, nothing held here */
  SIM_ASSERT(w.net, r.err == SW_ENOTFOUND, "own fetch: %d", r.err);
  world_free(&w);
}

/* ---- lifetimes ---------------------------------------------------------------------- */

static size_t cached(world *w, int node) {
  sync_stats st;
  sync_get_stats(simnet_core(w->net, node), &st);
  return st.cache_entries;
}

static void test_ttl(void **state) {
  (void)state;
  static const int be[2] = {1, 1};
  world w;
  world_new(&w, 15, 2, be, 1);
  uint8_t ta[32];
  topic_of(ta, 'a');
  sw_core_scope sa = {0, ta};
  uint64_t t0 = simnet_now(w.net);
  store(&w, 1, "short", "lives 5 s", &sa, 5000);
  store(&w, 1, "forever", "no ttl", &sa, 0);
  run_to(&w, t0 + 1000);
  result r = fetch(&w, 0, "short", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && r.from_peer, "fetch: %d", r.err);
  r = fetch(&w, 0, "forever", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK, "fetch forever: %d", r.err);
  run_to(&w, simnet_now(w.net) + 100);
  SIM_ASSERT(w.net, cached(&w, 0) == 2 && cached(&w, 1) == 2, "cached before");
  int rows0 = 0;
  for (int i = 0; i < ROWS; i++) rows0 += w.be[0].val[i] != NULL;
  SIM_ASSERT(w.net, rows0 == 2, "fetcher's backend rows: %d", rows0);
  /* Just before the end: still there, at the fetcher from its cache. */
  run_to(&w, t0 + 4990);
  r = fetch(&w, 0, "short", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && !r.from_peer, "before expiry: %d", r.err);
  SIM_ASSERT(w.net, cached(&w, 0) == 2 && cached(&w, 1) == 2, "cached at 4990");
  /* Just after: gone at both, with the backend rows; the other value stays. */
  run_to(&w, t0 + 5050);
  SIM_ASSERT(w.net, cached(&w, 0) == 1 && cached(&w, 1) == 1, "cached after: %zu %zu",
             cached(&w, 0), cached(&w, 1));
  for (int n = 0; n < 2; n++) {
    int rows = 0;
    for (int i = 0; i < ROWS; i++) rows += w.be[n].val[i] != NULL;
    SIM_ASSERT(w.net, rows == 1, "node %d backend rows: %d", n, rows);
  }
  sync_stats st;
  sync_get_stats(simnet_core(w.net, 0), &st);
  SIM_ASSERT(w.net, st.expired == 1, "fetcher expired %llu", (unsigned long long)st.expired);
  r = fetch(&w, 0, "short", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_ENOTFOUND, "after expiry: %d", r.err);
  r = fetch(&w, 1, "short", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_ENOTFOUND, "holder's own: %d", r.err);
  /* Much later the value without a lifetime is still served. */
  run_to(&w, t0 + 120 * SEC);
  r = fetch(&w, 0, "forever", &sa, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "no ttl") == 0, "forever: %d", r.err);
  sw_core_fetch_opts o = {.timeout_ms = 10000, .flags = SW_FETCH_NO_CACHE, .scope = &sa};
  r = (result){0};
  assert_int_equal(sw_core_fetch_ex(simnet_core(w.net, 0), "forever", &o, on_done, &r, NULL,
                                    simnet_now(w.net)),
                   SW_OK);
  simnet_kick(w.net, 0);
  SIM_ASSERT(w.net, run_cond(&w, simnet_now(w.net) + 15 * SEC, done, &r) && r.err == SW_OK &&
                        r.from_peer,
             "forever from the peer: %d", r.err);
  world_free(&w);
}

/* A store without a lifetime replaces one with, and the other way round. */
static void test_ttl_replaced(void **state) {
  (void)state;
  world w;
  world_new(&w, 16, 2, NULL, 1);
  uint64_t t0 = simnet_now(w.net);
  store(&w, 1, "k", "first", NULL, 1000);
  store(&w, 1, "k", "second", NULL, 0);
  store(&w, 1, "j", "first", NULL, 0);
  store(&w, 1, "j", "second", NULL, 1000);
  run_to(&w, t0 + 2000);
  result r = fetch(&w, 0, "k", NULL, 10000);
  SIM_ASSERT(w.net, r.err == SW_OK && strcmp(r.v, "second") == 0, "k: %d", r.err);
  r = fetch(&w, 0, "j", NULL, 10000);
  SIM_ASSERT(w.net, r.err == SW_ENOTFOUND, "j: %d", r.err);
  world_free(&w);
}

/* Many keys expiring at once are dropped a bounded number per timeout, all of them in
 * the end. */
static void test_ttl_many(void **state) {
  (void)state;
  world w;
  world_new(&w, 17, 1, NULL, 1);
  sw_core *c = simnet_core(w.net, 0);
  uint64_t t0 = simnet_now(w.net);
  char k[16];
  for (int i = 0; i < 1000; i++) {
    snprintf(k, sizeof k, "k%d", i);
    assert_int_equal(sw_core_store_ex(c, k, "v", 1, NULL, (uint32_t)(1000 + (i % 7)), t0), SW_OK);
  }
  simnet_kick(w.net, 0);
  run_to(&w, t0 + 999);
  SIM_ASSERT(w.net, cached(&w, 0) == 1000, "early: %zu", cached(&w, 0));
  run_to(&w, t0 + 1010);
  SIM_ASSERT(w.net, cached(&w, 0) == 0, "left: %zu", cached(&w, 0));
  world_free(&w);
}

/* Lifetimes survive a restart: the backend keeps each with its value. A value read back
 * alive gets its lifetime again (and dies on time); one that died while the node was
 * down is not returned and its row goes. A value that happens to begin with the
 * backend's lifetime mark comes back intact. */
static void test_ttl_restart(void **state) {
  (void)state;
  static const int be[1] = {1};
  world w;
  world_new(&w, 18, 1, be, 1);
  uint64_t t0 = simnet_now(w.net);
  static const char marked[] = "\xffSWTTL\x00\x01 and more";
  store(&w, 0, "long", "lives 5 s", NULL, 5000);
  store(&w, 0, "brief", "lives 1 s", NULL, 1000);
  assert_int_equal(sw_core_store_ex(simnet_core(w.net, 0), "marked", marked, sizeof marked, NULL,
                                    0, t0),
                   SW_OK);
  simnet_kick(w.net, 0);
  run_to(&w, t0 + 500);
  assert_int_equal(simnet_restart_node(w.net, 0, 1), SW_OK);
  assert_int_equal(sync_attach(simnet_core(w.net, 0), 0, 0, 1), SW_OK);
  SIM_ASSERT(w.net, cached(&w, 0) == 0, "a fresh core holds nothing");
  run_to(&w, t0 + 2000);
  result r = fetch(&w, 0, "long", NULL, 1000);
  SIM_ASSERT(w.net, r.err == SW_OK && !r.from_peer && strcmp(r.v, "lives 5 s") == 0,
             "long after restart: %d", r.err);
  r = fetch(&w, 0, "marked", NULL, 1000);
  SIM_ASSERT(w.net, r.err == SW_OK && memcmp(r.v, marked, sizeof marked) == 0,
             "marked: %d %02x %02x %s", r.err, (uint8_t)r.v[0], (uint8_t)r.v[7], r.v + 8);
  r = fetch(&w, 0, "brief", NULL, 1000); /* died while we were down */
  SIM_ASSERT(w.net, r.err == SW_ETIMEDOUT, "brief after restart: %d", r.err);
  run_to(&w, simnet_now(w.net) + 10);
  SIM_ASSERT(w.net, row(&w.be[0], "brief") < 0, "brief's row is still there");
  SIM_ASSERT(w.net, row(&w.be[0], "long") >= 0, "long's row is gone early");
  run_to(&w, t0 + 5010);
  SIM_ASSERT(w.net, row(&w.be[0], "long") < 0 && cached(&w, 0) == 1, "long did not expire");
  SIM_ASSERT(w.net, row(&w.be[0], "marked") >= 0, "marked's row is gone");
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_topics),  cmocka_unit_test(test_sync_event),
      cmocka_unit_test(test_unstore),     cmocka_unit_test(test_unstore_not_found),
      cmocka_unit_test(test_ttl),         cmocka_unit_test(test_ttl_replaced),
      cmocka_unit_test(test_ttl_many),    cmocka_unit_test(test_ttl_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
