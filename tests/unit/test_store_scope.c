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
#include "testutil.h"

typedef struct node {
  sw_swarm *s;
  int listening, close, connected;
  uint16_t port;
  uint8_t peer[SW_WIRE_ID_LEN]; /* the peer of the last CONNECTION */
  sw_storage *storage;          /* set before pair() */
  int syncs;                    /* SW_EV_SYNC: how many, the last key and topic */
  char sync_key[SW_KEY_MAX + 1];
  int sync_topic;
} node;

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  node *n = user;
  (void)s;
  if (ev->type == SW_EV_LISTENING) {
    n->listening = 1;
    n->port = ev->port;
  }
  if (ev->type == SW_EV_CONNECTION) {
    n->connected++;
    memcpy(n->peer, ev->peer, SW_WIRE_ID_LEN);
  }
  if (ev->type == SW_EV_CLOSE) n->close = 1;
  if (ev->type == SW_EV_SYNC) {
    n->syncs++;
    snprintf(n->sync_key, sizeof n->sync_key, "%s", ev->key);
    n->sync_topic = ev->topic != NULL;
  }
}

typedef struct result {
  int calls, err, progress_calls, cb_inside;
  size_t len, last_got, last_total;
  uint8_t *val;
  int has_peer;
  uint8_t peer[SW_WIRE_ID_LEN];
} result;

static int inside_call; /* set while sw_swarm_fetch_ex / _cancel runs */

static void on_done(sw_swarm *s, int err, const char *key, const uint8_t *v, size_t len,
                    const uint8_t *peer, void *user) {
  result *r = user;
  (void)s, (void)key;
  r->calls++;
  r->err = err;
  r->len = len;
  r->cb_inside |= inside_call;
  free(r->val);
  r->val = NULL;
  if (v && len) {
    r->val = malloc(len);
    memcpy(r->val, v, len);
  }
  r->has_peer = peer != NULL;
  if (peer) memcpy(r->peer, peer, SW_WIRE_ID_LEN);
}

static void on_guard(uv_timer_t *h) { (void)h; }

/* Run the loop until *flag is set or ms pass; returns the flag. */
static int run_until(uv_loop_t *loop, const int *flag, uint64_t ms) {
  uv_timer_t guard;
  uv_timer_init(loop, &guard);
  uv_timer_start(&guard, on_guard, 10, 10); /* the loop never sleeps past a check */
  uint64_t end = uv_hrtime() / 1000000u + ms;
  while (!*flag && uv_hrtime() / 1000000u < end) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *flag;
}

static void start(uv_loop_t *loop, node *n, int transport) {
  sw_options o;
  sw_options_init(&o);
  o.bind = "127.0.0.1";
  o.lan = o.dht = o.http = 0; /* only explicit dials: stay on loopback */
  o.no_stun = 1;
  o.transport = transport;
  o.on_event = on_event;
  o.user = n;
  o.storage = n->storage;
  assert_int_equal(sw_swarm_new(&n->s, &o, loop), SW_OK);
  assert_true(run_until(loop, &n->listening, 2000));
}

/* Two swarms, b connected to a (and, with the extended session, its handshake done). */
static void pair(uv_loop_t *loop, node *a, node *b, int transport) {
  sw_storage *sa = a->storage, *sb = b->storage;
  memset(a, 0, sizeof *a);
  memset(b, 0, sizeof *b);
  a->storage = sa;
  b->storage = sb;
  start(loop, a, transport);
  start(loop, b, transport);
  char target[32];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)a->port);
  assert_int_equal(sw_swarm_connect(b->s, target), SW_OK);
  assert_true(run_until(loop, &b->connected, 5000));
  assert_true(run_until(loop, &a->connected, 5000));
  int never = 0;
  run_until(loop, &never, 300); /* the extended handshake, and the first PINGs */
}

static void unpair(uv_loop_t *loop, node *a, node *b) {
  assert_int_equal(sw_swarm_close(a->s), SW_OK);
  assert_int_equal(sw_swarm_close(b->s), SW_OK);
  assert_true(run_until(loop, &a->close, 5000));
  assert_true(run_until(loop, &b->close, 5000));
  sw_swarm_free(a->s);
  sw_swarm_free(b->s);
}

static int fetch(node *n, const char *key, const sw_fetch_opts *o, result *r, sw_fetch **h) {
  inside_call = 1;
  int rc = sw_swarm_fetch_ex(n->s, key, o, on_done, r, h);
  inside_call = 0;
  return rc;
}


static void fetch_wait(uv_loop_t *loop, node *n, const char *key, const sw_fetch_opts *o,
                       result *r) {
  free(r->val);
  memset(r, 0, sizeof *r);
  assert_int_equal(fetch(n, key, o, r, NULL), SW_OK);
  assert_true(run_until(loop, &r->calls, 12000));
}

static void test_two_topics(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  node a = {0}, b = {0};
  pair(&loop, &a, &b, 1);
  uint8_t ta[SW_TOPIC_LEN], tb[SW_TOPIC_LEN];
  memset(ta, 'A', sizeof ta);
  memset(tb, 'B', sizeof tb);
  /* No topic joined, none given: scoped calls are refused; global ones are not. */
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "x", 1, NULL), SW_EINVAL);
  sw_store_opts none = {0};
  assert_int_equal(sw_swarm_unstore(a.s, "k", &none), SW_EINVAL);
  result r = {0};
  sw_fetch_opts fo = {.timeout_ms = 5000};
  assert_int_equal(fetch(&b, "k", &fo, &r, NULL), SW_EINVAL);
  /* a: the key in topic A (the first it joins, by default) and in topic B. */
  assert_int_equal(sw_swarm_join(a.s, ta), SW_OK);
  assert_int_equal(sw_swarm_join(a.s, tb), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "in A", 4, NULL), SW_OK);
  sw_store_opts ob = {.topic = tb};
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "in B", 4, &ob), SW_OK);
  sw_store_opts og = {.flags = SW_STORE_GLOBAL};
  assert_int_equal(sw_swarm_store_ex(a.s, "k", "global", 6, &og), SW_OK);
  fo.topic = ta;
  fetch_wait(&loop, &b, "k", &fo, &r);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, 4);
  assert_memory_equal(r.val, "in A", 4);
  assert_true(r.has_peer);
  assert_int_equal(b.syncs, 1);
  assert_string_equal(b.sync_key, "k");
  assert_true(b.sync_topic);
  fo.topic = tb;
  fetch_wait(&loop, &b, "k", &fo, &r);
  assert_int_equal(r.err, SW_OK);
  assert_memory_equal(r.val, "in B", 4);
  /* The global key: sw_swarm_fetch, a NULL opts, or SW_FETCH_GLOBAL. */
  fetch_wait(&loop, &b, "k", NULL, &r);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, 6);
  assert_memory_equal(r.val, "global", 6);
  assert_int_equal(b.syncs, 3);
  assert_false(b.sync_topic);
  /* A topic nobody stored under: every peer says none. */
  uint8_t tc[SW_TOPIC_LEN];
  memset(tc, 'C', sizeof tc);
  fo.topic = tc;
  fetch_wait(&loop, &b, "k", &fo, &r);
  assert_int_equal(r.err, SW_ENOTFOUND);
  /* A key that does not fit once scoped. */
  char longkey[SW_KEY_MAX + 1];
  memset(longkey, 'x', SW_KEY_MAX);
  longkey[SW_KEY_MAX] = 0;
  assert_int_equal(sw_swarm_store(a.s, longkey, "v", 1), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, longkey, "v", 1, NULL), SW_EINVAL);
  unpair(&loop, &a, &b);
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
  node a = {.storage = st}, b = {0};
  pair(&loop, &a, &b, 1);
  uint8_t ta[SW_TOPIC_LEN];
  memset(ta, 'A', sizeof ta);
  assert_int_equal(sw_swarm_join(a.s, ta), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, "doc", "contents", 8, NULL), SW_OK);
  assert_int_equal(sw_swarm_store_ex(a.s, "keep", "kept", 4, NULL), SW_OK);
  int never = 0;
  run_until(&loop, &never, 50);
  /* The row is under the wire key: "t:" + the topic hash + "/" + the key. */
  char h[CRYPTO_TOPIC_HASH_LEN + 1], wk[SW_KEY_MAX + 1];
  crypto_topic_hash(ta, h);
  snprintf(wk, sizeof wk, "t:%s/doc", h);
  assert_string_equal(be_get(st, wk).v, "contents");
  assert_int_equal(be_get(st, "doc").len, 0);
  assert_int_equal(sw_swarm_unstore(a.s, "doc", NULL), SW_OK);
  assert_int_equal(sw_swarm_unstore(a.s, "not stored", NULL), SW_OK);
  run_until(&loop, &never, 50);
  assert_int_equal(be_get(st, wk).len, 0); /* the row is gone */
  snprintf(wk, sizeof wk, "t:%s/keep", h);
  assert_string_equal(be_get(st, wk).v, "kept");
  result r = {0};
  sw_fetch_opts fo = {.timeout_ms = 10000, .topic = ta};
  fetch_wait(&loop, &b, "doc", &fo, &r);
  assert_int_equal(r.err, SW_ENOTFOUND);
  fetch_wait(&loop, &b, "keep", &fo, &r);
  assert_int_equal(r.err, SW_OK);
  assert_memory_equal(r.val, "kept", 4);
  /* a's own fetch does not return it either. */
  fetch_wait(&loop, &a, "doc", &fo, &r);
  assert_int_equal(r.err, SW_ENOTFOUND);
  unpair(&loop, &a, &b);
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
