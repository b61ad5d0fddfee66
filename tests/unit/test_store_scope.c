/* sw_swarm_store_ex, sw_swarm_unstore and the scope of sw_swarm_fetch_ex through the
 * public API, two swarms on loopback (libuv) with the extended session: a key scoped to
 * each of two topics, each fetch getting its own value under the caller's key (in the
 * completion and in SW_EV_SYNC); the global key apart; SW_EINVAL for a scoped call with
 * no topic; unstore removing the SQLite row and making a peer's fetch SW_ENOTFOUND; the
 * SQLite backend's removal (a set of length 0). Lifetimes are tested in virtual time
 * (tests/sim/test_sim_scope.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "setowire.h"
#include "../../src/storage/sqlite.h"
#include "crypto.h"
#include "swarm_pair.h"
#include "testutil.h"

/* SW_EV_SYNC at a swarm (lo_node.ctx): how many, the last key and whether it had a topic. */
typedef struct synced {
  int syncs;
  char sync_key[SW_KEY_MAX + 1];
  int sync_topic;
} synced;

static void on_sync(lo_node *n, const sw_event *ev) {
  synced *y = n->ctx;
  if (ev->type != SW_EV_SYNC) return;
  y->syncs++;
  snprintf(y->sync_key, sizeof y->sync_key, "%s", ev->key);
  y->sync_topic = ev->topic != NULL;
}

static void test_two_topics(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  synced bs = {0};
  lo_node a = {0}, b = {.on_other = on_sync, .ctx = &bs};
  lo_pair(&loop, &a, &b, 1);
  uint8_t ta[SW_TOPIC_LEN], tb[SW_TOPIC_LEN];
  memset(ta, 'A', sizeof ta);
  memset(tb, 'B', sizeof tb);
  /* No topic joined, none given: scoped calls are refused; global ones are not. */
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "x", 1, NULL), SW_EINVAL);
  sw_store_opts none = {0};
  assert_int_equal(sw_swarm_unstore(a.s, "k", &none), SW_EINVAL);
  lo_fetched r = {0};
  sw_fetch_opts fo = {.timeout_ms = 5000};
  assert_int_equal(lo_fetch(&b, "k", &fo, &r, NULL), SW_EINVAL);
  /* a: the key in topic A (the first it joins, by default) and in topic B. */
  assert_int_equal(sw_swarm_join(a.s, ta), SW_OK);
  assert_int_equal(sw_swarm_join(a.s, tb), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "in A", 4, NULL), SW_OK);
  sw_store_opts ob = {.topic = tb};
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "in B", 4, &ob), SW_OK);
  sw_store_opts og = {.flags = SW_STORE_GLOBAL};
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "global", 6, &og), SW_OK);
  fo.topic = ta;
  lo_fetch_wait(&loop, &b, "k", &fo, &r);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, 4);
  assert_memory_equal(r.val, "in A", 4);
  assert_true(r.has_peer);
  assert_int_equal(bs.syncs, 1);
  assert_string_equal(bs.sync_key, "k");
  assert_true(bs.sync_topic);
  fo.topic = tb;
  lo_fetch_wait(&loop, &b, "k", &fo, &r);
  assert_int_equal(r.err, SW_OK);
  assert_memory_equal(r.val, "in B", 4);
  /* The global key: sw_swarm_fetch, a NULL opts, or SW_FETCH_GLOBAL. */
  lo_fetch_wait(&loop, &b, "k", NULL, &r);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, 6);
  assert_memory_equal(r.val, "global", 6);
  assert_int_equal(bs.syncs, 3);
  assert_false(bs.sync_topic);
  /* A topic nobody stored under: every peer says none. */
  uint8_t tc[SW_TOPIC_LEN];
  memset(tc, 'C', sizeof tc);
  fo.topic = tc;
  lo_fetch_wait(&loop, &b, "k", &fo, &r);
  assert_int_equal(r.err, SW_ENOTFOUND);
  /* A key that does not fit once scoped. */
  char longkey[SW_KEY_MAX + 1];
  memset(longkey, 'x', SW_KEY_MAX);
  longkey[SW_KEY_MAX] = 0;
  assert_int_equal(sw_swarm_store(a.s, longkey, "v", 1), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, longkey, "v", 1, NULL), SW_EINVAL);
  lo_unpair(&loop, &a, &b);
  free(r.val);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static char *tmp_db(void) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/sw-scope-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  return path;
}

typedef struct got {
  int calls, err;
  size_t len;
  char v[32];
} got;

static void be_done(void *req, int err, const uint8_t *value, size_t len) {
  got *g = req;
  g->calls++;
  g->err = err;
  g->len = value ? len : 0;
  g->v[0] = 0;
  if (value && len < sizeof g->v) {
    memcpy(g->v, value, len);
    g->v[len] = 0;
  }
}

static got be_get(sw_storage *st, const char *key) {
  got g = {0};
  st->get(st->self, key, be_done, &g);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.err, SW_OK);
  return g;
}

static void be_set(sw_storage *st, const char *key, const char *v) {
  got g = {0};
  st->set(st->self, key, (const uint8_t *)v, strlen(v), be_done, &g);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.err, SW_OK);
}

/* The backend alone: a set of length 0 removes the row, and only that one. */
static void test_sqlite_remove(void **state) {
  (void)state;
  char *path = tmp_db();
  sw_storage *st;
  assert_int_equal(sw_storage_sqlite_open(path, &st, NULL, 0), SW_OK);
  be_set(st, "a", "one");
  be_set(st, "b", "two");
  assert_string_equal(be_get(st, "a").v, "one");
  be_set(st, "a", "");
  assert_int_equal(be_get(st, "a").len, 0);
  assert_string_equal(be_get(st, "b").v, "two");
  be_set(st, "never there", ""); /* removing a missing key is fine */
  sw_storage_sqlite_close(st);
  /* Gone for good: a reopened database does not have it either. */
  assert_int_equal(sw_storage_sqlite_open(path, &st, NULL, 0), SW_OK);
  assert_int_equal(be_get(st, "a").len, 0);
  assert_string_equal(be_get(st, "b").v, "two");
  sw_storage_sqlite_close(st);
  unlink(path);
}

/* Unstore through the API: the SQLite row goes, a peer's fetch finds nothing, another
 * key stays. */
static void test_unstore(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char *path = tmp_db();
  sw_storage *st;
  assert_int_equal(sw_storage_sqlite_open(path, &st, NULL, 0), SW_OK);
  lo_node a = {.storage = st}, b = {0};
  lo_pair(&loop, &a, &b, 1);
  uint8_t ta[SW_TOPIC_LEN];
  memset(ta, 'A', sizeof ta);
  assert_int_equal(sw_swarm_join(a.s, ta), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, "doc", "contents", 8, NULL), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, "keep", "kept", 4, NULL), SW_OK);
  lo_run_for(&loop, 50);
  /* The row is under the wire key: "t:" + the topic hash + "/" + the key. */
  char h[CRYPTO_TOPIC_HASH_LEN + 1], wk[SW_KEY_MAX + 1];
  crypto_topic_hash(ta, h);
  snprintf(wk, sizeof wk, "t:%s/doc", h);
  assert_string_equal(be_get(st, wk).v, "contents");
  assert_int_equal(be_get(st, "doc").len, 0);
  assert_int_equal(sw_swarm_unstore(a.s, "doc", NULL), SW_OK);
  assert_int_equal(sw_swarm_unstore(a.s, "not stored", NULL), SW_OK);
  lo_run_for(&loop, 50);
  assert_int_equal(be_get(st, wk).len, 0); /* the row is gone */
  snprintf(wk, sizeof wk, "t:%s/keep", h);
  assert_string_equal(be_get(st, wk).v, "kept");
  lo_fetched r = {0};
  sw_fetch_opts fo = {.timeout_ms = 10000, .topic = ta};
  lo_fetch_wait(&loop, &b, "doc", &fo, &r);
  assert_int_equal(r.err, SW_ENOTFOUND);
  lo_fetch_wait(&loop, &b, "keep", &fo, &r);
  assert_int_equal(r.err, SW_OK);
  assert_memory_equal(r.val, "kept", 4);
  /* a's own fetch does not return it either. */
  lo_fetch_wait(&loop, &a, "doc", &fo, &r);
  assert_int_equal(r.err, SW_ENOTFOUND);
  lo_unpair(&loop, &a, &b);
  free(r.val);
  assert_int_equal(uv_loop_close(&loop), 0);
  sw_storage_sqlite_close(st);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_topics),
      cmocka_unit_test(test_sqlite_remove),
      cmocka_unit_test(test_unstore),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
