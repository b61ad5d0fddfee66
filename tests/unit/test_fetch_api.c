/* sw_swarm_fetch_ex and sw_swarm_fetch_cancel through the public API, two swarms on
 * loopback (libuv): progress and the serving peer, SW_ENOTFOUND when every peer asked
 * says it holds no such value (extended session) and SW_ETIMEDOUT when nobody can say so
 * (plain session), SW_ECANCELED after a cancel (never inside the call), and
 * SW_FETCH_NO_CACHE fetching a newer value than the one held here. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"

static void on_progress(sw_swarm *s, const char *key, size_t got, size_t total, void *user) {
  lo_fetched *r = user;
  (void)s, (void)key;
  r->progress_calls++;
  assert_true(got <= total);
  r->last_got = got;
  r->last_total = total;
}

static void progress_and_peer(int transport) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  lo_node a = {0}, b = {0};
  lo_pair(&loop, &a, &b, transport);
  size_t size = 1u << 20;
  uint8_t *v = malloc(size);
  tu_rng rng = {42};
  tu_rng_bytes(&rng, v, size);
  assert_int_equal(sw_swarm_store(a.s, "big", v, size), SW_OK);
  lo_fetched r = {0};
  sw_fetch_opts o = {.timeout_ms = 20000, .flags = SW_FETCH_GLOBAL, .progress = on_progress};
  assert_int_equal(lo_fetch(&b, "big", &o, &r, NULL), SW_OK);
  assert_int_equal(r.calls, 0);
  assert_true(lo_run_until(&loop, &r.calls, 25000));
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, size);
  assert_memory_equal(r.val, v, size);
  assert_true(r.has_peer);
  assert_memory_equal(r.peer, b.peer, SW_WIRE_ID_LEN); /* the serving peer: a */
  assert_true(r.progress_calls >= 1);
  assert_true(r.last_total >= size - 900 && r.last_total <= size + 900);
  assert_false(r.cb_inside);
  /* Now held here: answered locally, no peer. */
  lo_fetched r2 = {0};
  assert_int_equal(lo_fetch(&b, "big", NULL, &r2, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r2.calls, 5000));
  assert_int_equal(r2.err, SW_OK);
  assert_false(r2.has_peer);
  free(r.val);
  free(r2.val);
  free(v);
  lo_unpair(&loop, &a, &b);
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
  lo_node a = {0}, b = {0};
  /* Extended session: a says NONE, the fetch ends long before its timeout. */
  lo_pair(&loop, &a, &b, 1);
  lo_fetched r = {0};
  sw_fetch_opts o = {.timeout_ms = 10000, .flags = SW_FETCH_GLOBAL};
  uint64_t t0 = uv_hrtime();
  assert_int_equal(lo_fetch(&b, "nothing here", &o, &r, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r.calls, 12000));
  assert_int_equal(r.err, SW_ENOTFOUND);
  assert_true((uv_hrtime() - t0) / 1000000u < 5000);
  assert_null(r.val);
  assert_false(r.has_peer);
  lo_unpair(&loop, &a, &b);
  /* Plain session: nobody can say so; the timeout ends it. */
  lo_pair(&loop, &a, &b, 0);
  lo_fetched r2 = {0};
  o.timeout_ms = 600;
  assert_int_equal(lo_fetch(&b, "nothing here", &o, &r2, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r2.calls, 5000));
  assert_int_equal(r2.err, SW_ETIMEDOUT);
  lo_unpair(&loop, &a, &b);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_cancel(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  lo_node a = {0}, b = {0};
  lo_pair(&loop, &a, &b, 0);
  lo_fetched r = {0}, other = {0};
  sw_fetch *h = NULL, *h2 = NULL;
  sw_fetch_opts o = {.timeout_ms = 10000, .flags = SW_FETCH_GLOBAL};
  assert_int_equal(lo_fetch(&b, "never", &o, &r, &h), SW_OK);
  assert_non_null(h);
  assert_int_equal(lo_fetch(&b, "never", &o, &other, &h2), SW_OK); /* joins the same fetch */
  assert_int_equal(lo_fetch_cancel(h), SW_OK);
  assert_int_equal(r.calls, 0); /* never inside the call */
  uint64_t t0 = uv_hrtime();
  assert_true(lo_run_until(&loop, &r.calls, 5000));
  assert_true((uv_hrtime() - t0) / 1000000u < 1000);
  assert_int_equal(r.err, SW_ECANCELED);
  assert_false(r.cb_inside);
  assert_int_equal(other.calls, 0); /* the other fetch of the key goes on */
  assert_int_equal(sw_swarm_fetch_cancel(h2), SW_OK);
  assert_true(lo_run_until(&loop, &other.calls, 5000));
  assert_int_equal(other.err, SW_ECANCELED);
  assert_int_equal(r.calls, 1);
  assert_int_equal(sw_swarm_fetch_cancel(NULL), SW_EINVAL);
  lo_unpair(&loop, &a, &b);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_no_cache(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  lo_node a = {0}, b = {0};
  lo_pair(&loop, &a, &b, 1);
  assert_int_equal(sw_swarm_store(a.s, "doc", "version 1", 9), SW_OK);
  lo_fetched r = {0};
  assert_int_equal(lo_fetch(&b, "doc", NULL, &r, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r.calls, 10000));
  assert_int_equal(r.err, SW_OK);
  assert_memory_equal(r.val, "version 1", 9);
  assert_int_equal(sw_swarm_store(a.s, "doc", "version 2", 9), SW_OK);
  lo_fetched held = {0}, fresh = {0};
  assert_int_equal(lo_fetch(&b, "doc", NULL, &held, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &held.calls, 5000));
  assert_memory_equal(held.val, "version 1", 9); /* the cache answers */
  assert_false(held.has_peer);
  sw_fetch_opts o = {.flags = SW_FETCH_NO_CACHE | SW_FETCH_GLOBAL};
  assert_int_equal(lo_fetch(&b, "doc", &o, &fresh, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &fresh.calls, 10000));
  assert_int_equal(fresh.err, SW_OK);
  assert_memory_equal(fresh.val, "version 2", 9);
  assert_true(fresh.has_peer);
  free(r.val);
  free(held.val);
  free(fresh.val);
  lo_unpair(&loop, &a, &b);
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
