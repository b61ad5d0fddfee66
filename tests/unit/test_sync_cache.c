/* The store/fetch module's in-memory store (src/core/sync_cache.c) on its own: a true
 * LRU (a fetch or WANT touches; PROTOCOL.md 12 says the references only evict first in,
 * first out), eviction on the entry bound and on the byte bound (D17), an entry too big
 * for the byte bound refused, replacing a key, the HAVE summary order, and many keys
 * sharing hash chains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "setowire.h"
#include "sync_state.h"
#include "testutil.h"

static sync_cache *cache_new(size_t max, size_t bytes_max) {
  sync_cache *c = malloc(sizeof *c);
  assert_non_null(c);
  sync_cache_init(c, max, bytes_max);
  return c;
}

static void cache_free(sync_cache *c) {
  sync_cache_clear(c);
  assert_int_equal(c->n, 0);
  assert_int_equal(c->bytes, 0);
  assert_null(c->lru_head);
  assert_null(c->lru_tail);
  free(c);
}

static int put(sync_cache *c, const char *k, const char *v) {
  return sync_cache_put(c, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
}

static cent *find(sync_cache *c, const char *k) {
  return sync_cache_find(c, (const uint8_t *)k, strlen(k));
}

/* The bytes one entry is charged: its header, its key with the NUL, its value. */
static size_t cost(const char *k, const char *v) {
  return sizeof(cent) + strlen(k) + 1 + strlen(v);
}

/* The keys, least recently used first, joined with commas. */
static void order(const sync_cache *c, char *out, size_t cap) {
  sync_key keys[64];
  size_t n = sync_cache_oldest(c, keys, 64), o = 0;
  out[0] = 0;
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "," : "", (int)keys[i].len,
                          (const char *)keys[i].p);
}

static void test_defaults(void **state) {
  (void)state;
  sync_cache *c = cache_new(0, 0);
  assert_int_equal(c->max, SYNC_CACHE_MAX);
  assert_int_equal(c->bytes_max, DEFAULT_CACHE_BYTES);
  assert_int_equal(c->n, 0);
  assert_null(find(c, "a"));
  cache_free(c);
}

static void test_lru_order(void **state) {
  (void)state;
  char buf[256];
  sync_cache *c = cache_new(3, 1 << 20);
  assert_int_equal(put(c, "a", "1"), SW_OK);
  assert_int_equal(put(c, "b", "2"), SW_OK);
  assert_int_equal(put(c, "c", "3"), SW_OK);
  order(c, buf, sizeof buf);
  assert_string_equal(buf, "a,b,c");
  /* Touching a makes b the least recently used: b goes when d comes. */
  cent *e = find(c, "a");
  assert_non_null(e);
  sync_cache_touch(c, e);
  order(c, buf, sizeof buf);
  assert_string_equal(buf, "b,c,a");
  assert_int_equal(put(c, "d", "4"), SW_OK);
  assert_int_equal(c->n, 3);
  assert_null(find(c, "b"));
  order(c, buf, sizeof buf);
  assert_string_equal(buf, "c,a,d");
  /* A find alone does not touch. */
  assert_non_null(find(c, "c"));
  assert_int_equal(put(c, "e", "5"), SW_OK);
  assert_null(find(c, "c"));
  order(c, buf, sizeof buf);
  assert_string_equal(buf, "a,d,e");
  /* Touching the most recent entry changes nothing; touching the only others works. */
  sync_cache_touch(c, find(c, "e"));
  sync_cache_touch(c, find(c, "a"));
  order(c, buf, sizeof buf);
  assert_string_equal(buf, "d,e,a");
  /* The summary stops at its bound. */
  sync_key keys[2];
  assert_int_equal(sync_cache_oldest(c, keys, 2), 2);
  assert_memory_equal(keys[0].p, "d", 1);
  assert_memory_equal(keys[1].p, "e", 1);
  cache_free(c);
}

static void test_byte_bound(void **state) {
  (void)state;
  const char *v = "0123456789012345678901234567890123456789"; /* 40 bytes */
  /* Room for exactly two entries of this size. */
  size_t one = cost("k1", v);
  sync_cache *c = cache_new(100, 2 * one);
  assert_int_equal(put(c, "k1", v), SW_OK);
  assert_int_equal(put(c, "k2", v), SW_OK);
  assert_int_equal(c->bytes, 2 * one);
  assert_int_equal(put(c, "k3", v), SW_OK); /* k1 goes */
  assert_int_equal(c->n, 2);
  assert_int_equal(c->bytes, 2 * one);
  assert_null(find(c, "k1"));
  assert_non_null(find(c, "k2"));
  assert_non_null(find(c, "k3"));
  /* An entry bigger than the room one old entry leaves evicts both old ones. */
  char big[80];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_int_equal(put(c, "k4", big), SW_OK);
  assert_int_equal(c->n, 1);
  assert_int_equal(c->bytes, cost("k4", big));
  assert_non_null(find(c, "k4"));
  /* One entry over the whole bound is refused and evicts nothing. */
  char huge[200];
  memset(huge, 'y', sizeof huge - 1);
  huge[sizeof huge - 1] = 0;
  assert_int_equal(put(c, "k5", huge), SW_EMSGSIZE);
  assert_int_equal(c->n, 1);
  assert_non_null(find(c, "k4"));
  assert_null(find(c, "k5"));
  cache_free(c);
}

static void test_replace(void **state) {
  (void)state;
  char buf[256];
  sync_cache *c = cache_new(3, 1 << 20);
  assert_int_equal(put(c, "a", "old value"), SW_OK);
  assert_int_equal(put(c, "b", "2"), SW_OK);
  assert_int_equal(put(c, "c", "3"), SW_OK);
  /* Replacing a key keeps one entry, charges the new size, and makes it the most
   * recent; with the entry bound reached, nothing else is evicted for it. */
  assert_int_equal(put(c, "a", "new"), SW_OK);
  assert_int_equal(c->n, 3);
  assert_int_equal(c->bytes, cost("a", "new") + cost("b", "2") + cost("c", "3"));
  cent *e = find(c, "a");
  assert_non_null(e);
  assert_int_equal(e->vlen, 3);
  assert_memory_equal(e->val, "new", 3);
  assert_string_equal(e->key, "a");
  order(c, buf, sizeof buf);
  assert_string_equal(buf, "b,c,a");
  assert_non_null(find(c, "b"));
  /* The store keeps its own copy. */
  char v[] = "mine";
  assert_int_equal(put(c, "b", v), SW_OK);
  v[0] = 'X';
  assert_memory_equal(find(c, "b")->val, "mine", 4);
  cache_free(c);
}

/* More keys than hash chains: every one is found, replacing and evicting from the
 * middle of a chain leaves the others in place. */
static void test_many_keys(void **state) {
  (void)state;
  enum { N = 3 * CACHE_BUCKETS };
  char k[32];
  sync_cache *c = cache_new(N, 1 << 30);
  for (int i = 0; i < N; i++) {
    snprintf(k, sizeof k, "key-%d", i);
    assert_int_equal(sync_cache_put(c, (const uint8_t *)k, strlen(k), (const uint8_t *)&i,
                                    sizeof i), SW_OK);
  }
  assert_int_equal(c->n, N);
  for (int i = 0; i < N; i += 2) { /* replace every other key */
    int v = -i;
    snprintf(k, sizeof k, "key-%d", i);
    assert_int_equal(sync_cache_put(c, (const uint8_t *)k, strlen(k), (const uint8_t *)&v,
                                    sizeof v), SW_OK);
  }
  assert_int_equal(c->n, N);
  /* One more: the least recently used (key-1, never replaced) goes. */
  assert_int_equal(put(c, "extra", "x"), SW_OK);
  assert_int_equal(c->n, N);
  assert_null(find(c, "key-1"));
  for (int i = 0; i < N; i++) {
    snprintf(k, sizeof k, "key-%d", i);
    cent *e = find(c, k);
    if (i == 1) continue;
    assert_non_null(e);
    int v;
    memcpy(&v, e->val, sizeof v);
    assert_int_equal(v, i % 2 ? i : -i);
  }
  cache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_lru_order),
      cmocka_unit_test(test_byte_bound),
      cmocka_unit_test(test_replace),
      cmocka_unit_test(test_many_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
