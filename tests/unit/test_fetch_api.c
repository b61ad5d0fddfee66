/* sw_swarm_fetch_ex and sw_swarm_fetch_cancel through the public API, two swarms on
 * loopback (libuv): progress and the serving peer, SW_ENOTFOUND when every peer asked
 * says it holds no such value (extended session) and SW_ETIMEDOUT when nobody can say so
 * (plain session), SW_ECANCELED after a cancel (never inside the call), and
 * SW_FETCH_NO_CACHE fetching a newer value than the one held here. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "setowire.h"
#include "testutil.h"

typedef struct node {
  sw_swarm *s;
  int listening, close, connected;
  uint16_t port;
  uint8_t peer[SW_WIRE_ID_LEN]; /* the peer of the last CONNECTION */
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

static void on_progress(sw_swarm *s, const char *key, size_t got, size_t total, void *user) {
  result *r = user;
  (void)s, (void)key;
  r->progress_calls++;
  assert_true(got <= total);
  r->last_got = got;
  r->last_total = total;
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
  assert_int_equal(sw_swarm_new(&n->s, &o, loop), SW_OK);
  assert_true(run_until(loop, &n->listening, 2000));
}

/* Two swarms, b connected to a (and, with the extended session, its handshake done). */
static void pair(uv_loop_t *loop, node *a, node *b, int transport) {
  memset(a, 0, sizeof *a);
  memset(b, 0, sizeof *b);
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

static void progress_and_peer(int transport) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  node a, b;
  pair(&loop, &a, &b, transport);
  size_t size = 1u << 20;
  uint8_t *v = malloc(size);
  tu_rng rng = {42};
  tu_rng_bytes(&rng, v, size);
  assert_int_equal(sw_swarm_store(a.s, "big", v, size), SW_OK);
  result r = {0};
  sw_fetch_opts o = {.timeout_ms = 20000, .flags = SW_FETCH_GLOBAL, .progress = on_progress};
  assert_int_equal(fetch(&b, "big", &o, &r, NULL), SW_OK);
  assert_int_equal(r.calls, 0);
  assert_true(run_until(&loop, &r.calls, 25000));
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, size);
  assert_memory_equal(r.val, v, size);
  assert_true(r.has_peer);
  assert_memory_equal(r.peer, b.peer, SW_WIRE_ID_LEN); /* the serving peer: a */
  assert_true(r.progress_calls >= 1);
  assert_true(r.last_total >= size - 900 && r.last_total <= size + 900);
  assert_false(r.cb_inside);
  /* Now held here: answered locally, no peer. */
  result r2 = {0};
  assert_int_equal(fetch(&b, "big", NULL, &r2, NULL), SW_OK);
  assert_true(run_until(&loop, &r2.calls, 5000));
  assert_int_equal(r2.err, SW_OK);
  assert_false(r2.has_peer);
  free(r.val);
  free(r2.val);
  free(v);
  unpair(&loop, &a, &b);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_progress_and_peer_extended(void **state) {
  (void)state;
  progress_and_peer(1);
}

static void test_progress_and_peer_plain(void **state) {
  (void)state;
  progress_and_peer(0);
}

static void test_not_found(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  node a, b;
  /* Extended session: a says NONE, the fetch ends long before its timeout. */
  pair(&loop, &a, &b, 1);
  result r = {0};
  sw_fetch_opts o = {.timeout_ms = 10000, .flags = SW_FETCH_GLOBAL};
  uint64_t t0 = uv_hrtime();
  assert_int_equal(fetch(&b, "nothing here", &o, &r, NULL), SW_OK);
  assert_true(run_until(&loop, &r.calls, 12000));
  assert_int_equal(r.err, SW_ENOTFOUND);
  assert_true((uv_hrtime() - t0) / 1000000u < 5000);
  assert_null(r.val);
  assert_false(r.has_peer);
  unpair(&loop, &a, &b);
  /* Plain session: nobody can say so; the timeout ends it. */
  pair(&loop, &a, &b, 0);
  result r2 = {0};
  o.timeout_ms = 600;
  assert_int_equal(fetch(&b, "nothing here", &o, &r2, NULL), SW_OK);
  assert_true(run_until(&loop, &r2.calls, 5000));
  assert_int_equal(r2.err, SW_ETIMEDOUT);
  unpair(&loop, &a, &b);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_cancel(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  node a, b;
  pair(&loop, &a, &b, 0);
  result r = {0}, other = {0};
  sw_fetch *h = NULL, *h2 = NULL;
  sw_fetch_opts o = {.timeout_ms = 10000, .flags = SW_FETCH_GLOBAL};
  assert_int_equal(fetch(&b, "never", &o, &r, &h), SW_OK);
  assert_non_null(h);
  assert_int_equal(fetch(&b, "never", &o, &other, &h2), SW_OK); /* joins the same fetch */
  inside_call = 1;
  assert_int_equal(sw_swarm_fetch_cancel(h), SW_OK);
  inside_call = 0;
  assert_int_equal(r.calls, 0); /* never inside the call */
  uint64_t t0 = uv_hrtime();
  assert_true(run_until(&loop, &r.calls, 5000));
  assert_true((uv_hrtime() - t0) / 1000000u < 1000);
  assert_int_equal(r.err, SW_ECANCELED);
  assert_false(r.cb_inside);
  assert_int_equal(other.calls, 0); /* the other fetch of the key goes on */
  assert_int_equal(sw_swarm_fetch_cancel(h2), SW_OK);
  assert_true(run_until(&loop, &other.calls, 5000));
  assert_int_equal(other.err, SW_ECANCELED);
  assert_int_equal(r.calls, 1);
  assert_int_equal(sw_swarm_fetch_cancel(NULL), SW_EINVAL);
  unpair(&loop, &a, &b);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_no_cache(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  node a, b;
  pair(&loop, &a, &b, 1);
  assert_int_equal(sw_swarm_store(a.s, "doc", "version 1", 9), SW_OK);
  result r = {0};
  assert_int_equal(fetch(&b, "doc", NULL, &r, NULL), SW_OK);
  assert_true(run_until(&loop, &r.calls, 10000));
  assert_int_equal(r.err, SW_OK);
  assert_memory_equal(r.val, "version 1", 9);
  assert_int_equal(sw_swarm_store(a.s, "doc", "version 2", 9), SW_OK);
  result held = {0}, fresh = {0};
  assert_int_equal(fetch(&b, "doc", NULL, &held, NULL), SW_OK);
  assert_true(run_until(&loop, &held.calls, 5000));
  assert_memory_equal(held.val, "version 1", 9); /* the cache answers */
  assert_false(held.has_peer);
  sw_fetch_opts o = {.flags = SW_FETCH_NO_CACHE | SW_FETCH_GLOBAL};
  assert_int_equal(fetch(&b, "doc", &o, &fresh, NULL), SW_OK);
  assert_true(run_until(&loop, &fresh.calls, 10000));
  assert_int_equal(fresh.err, SW_OK);
  assert_memory_equal(fresh.val, "version 2", 9);
  assert_true(fresh.has_peer);
  free(r.val);
  free(held.val);
  free(fresh.val);
  unpair(&loop, &a, &b);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_progress_and_peer_extended),
      cmocka_unit_test(test_progress_and_peer_plain),
      cmocka_unit_test(test_not_found),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_no_cache),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
