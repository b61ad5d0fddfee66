/* The signed and content-addressed value calls through the public API (docs/VALUES.md),
 * two swarms on loopback (libuv), with the extended session and without:
 * sw_swarm_signing_key (the same for the same seed), sw_swarm_store_signed and its
 * errors (seq not above the held one, names too long, empty values), sw_swarm_fetch_signed
 * (payload, seq, serving peer; never inside the call; SW_ENOTFOUND; cancel), a version
 * held here delivered with peer NULL when the peer has nothing newer, and
 * sw_swarm_store_content with sw_swarm_fetch_ex of its key. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"

typedef struct result {
  int calls, err, inside;
  uint64_t seq;
  char text[64];
  size_t len;
  int has_peer;
  uint8_t peer[SW_WIRE_ID_LEN];
} result;

static int inside_call;

static void on_signed(sw_swarm *s, int err, const char *key, const uint8_t *v, size_t len,
                      uint64_t seq, const uint8_t *peer, void *user) {
  result *r = user;
  (void)s;
  assert_non_null(key);
  assert_memory_equal(key, "s:", 2);
  r->calls++;
  r->err = err;
  r->seq = seq;
  r->len = len;
  r->inside |= inside_call;
  memset(r->text, 0, sizeof r->text);
  if (v) memcpy(r->text, v, len < sizeof r->text - 1 ? len : sizeof r->text - 1);
  r->has_peer = peer != NULL;
  if (peer) memcpy(r->peer, peer, SW_WIRE_ID_LEN);
}

static void on_plain(sw_swarm *s, int err, const char *key, const uint8_t *v, size_t len,
                     const uint8_t *peer, void *user) {
  result *r = user;
  (void)s, (void)key;
  r->calls++;
  r->err = err;
  r->len = len;
  memset(r->text, 0, sizeof r->text);
  if (v) memcpy(r->text, v, len < sizeof r->text - 1 ? len : sizeof r->text - 1);
  r->has_peer = peer != NULL;
}

static int fetch_signed(lo_node *n, const uint8_t *signer, const char *name, uint32_t ms,
                        result *r, sw_fetch **h) {
  memset(r, 0, sizeof *r);
  sw_fetch_opts o = {.timeout_ms = ms};
  inside_call = 1;
  int rc = sw_swarm_fetch_signed(n->s, signer, name, &o, on_signed, r, h);
  inside_call = 0;
  return rc;
}

static void signed_values(int transport) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  lo_node a = {.seed_hex = "c0ffee"}, b = {0};
  lo_pair(&loop, &a, &b, transport);
  uint8_t ka[SW_SIGNING_KEY_LEN], kb[SW_SIGNING_KEY_LEN];
  assert_int_equal(sw_swarm_signing_key(a.s, ka), SW_OK);
  assert_int_equal(sw_swarm_signing_key(b.s, kb), SW_OK);
  assert_memory_not_equal(ka, kb, SW_SIGNING_KEY_LEN);
  assert_int_equal(sw_swarm_signing_key(NULL, ka), SW_EINVAL);

  /* errors */
  char long_name[SW_SIGNED_NAME_MAX + 2];
  memset(long_name, 'n', sizeof long_name);
  long_name[SW_SIGNED_NAME_MAX + 1] = 0;
  assert_int_equal(sw_swarm_store_signed(a.s, long_name, "x", 1, 0), SW_EINVAL);
  long_name[SW_SIGNED_NAME_MAX] = 0; /* the longest name fits */
  assert_int_equal(sw_swarm_store_signed(a.s, long_name, "x", 1, 0), SW_OK);
  assert_int_equal(sw_swarm_store_signed(a.s, "", "x", 1, 0), SW_EINVAL);
  assert_int_equal(sw_swarm_store_signed(a.s, NULL, "x", 1, 0), SW_EINVAL);
  assert_int_equal(sw_swarm_store_signed(a.s, "doc", "x", 0, 0), SW_EINVAL);
  assert_int_equal(sw_swarm_store_signed(a.s, "doc", NULL, 1, 0), SW_EINVAL);

  /* v5, then seq not above it refused, then auto: 6 */
  assert_int_equal(sw_swarm_store_signed(a.s, "doc", "five", 4, 5), SW_OK);
  assert_int_equal(sw_swarm_store_signed(a.s, "doc", "four", 4, 4), SW_EINVAL);
  assert_int_equal(sw_swarm_store_signed(a.s, "doc", "five?", 5, 5), SW_EINVAL);
  result r;
  assert_int_equal(fetch_signed(&b, ka, "doc", 10000, &r, NULL), SW_OK);
  assert_int_equal(r.calls, 0);
  assert_true(lo_run_until(&loop, &r.calls, 12000));
  assert_false(r.inside);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.seq, 5);
  assert_string_equal(r.text, "five");
  assert_true(r.has_peer);
  assert_memory_equal(r.peer, b.peer, SW_WIRE_ID_LEN); /* served by a */
  assert_int_equal(sw_swarm_store_signed(a.s, "doc", "six", 3, 0), SW_OK);
  assert_int_equal(fetch_signed(&b, ka, "doc", 10000, &r, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r.calls, 12000));
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.seq, 6);
  assert_string_equal(r.text, "six");

  /* b stores its own record: a holds nothing newer, so b's own copy wins (peer NULL) */
  assert_int_equal(sw_swarm_store_signed(b.s, "mine", "b's", 3, 0), SW_OK);
  assert_int_equal(fetch_signed(&b, kb, "mine", 10000, &r, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r.calls, 12000));
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.seq, 1);
  assert_false(r.has_peer);

  /* another signer's name nobody holds */
  assert_int_equal(fetch_signed(&b, kb, "nothing", 1500, &r, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r.calls, 5000));
  assert_int_equal(r.err, transport ? SW_ENOTFOUND : SW_ETIMEDOUT);
  assert_int_equal(r.seq, 0);
  assert_int_equal(r.len, 0);

  /* cancel */
  sw_fetch *h = NULL;
  assert_int_equal(fetch_signed(&b, ka, "never", 10000, &r, &h), SW_OK);
  assert_non_null(h);
  assert_int_equal(sw_swarm_fetch_cancel(h), SW_OK);
  assert_int_equal(r.calls, 0);
  assert_true(lo_run_until(&loop, &r.calls, 2000));
  assert_int_equal(r.err, SW_ECANCELED);
  assert_int_equal(sw_swarm_fetch_signed(b.s, NULL, "doc", NULL, on_signed, &r, NULL), SW_EINVAL);
  assert_int_equal(sw_swarm_fetch_signed(b.s, ka, "", NULL, on_signed, &r, NULL), SW_EINVAL);
  assert_int_equal(sw_swarm_fetch_signed(b.s, ka, "doc", NULL, NULL, &r, NULL), SW_EINVAL);

  /* content */
  char ck[SW_CONTENT_KEY_LEN + 1];
  assert_int_equal(sw_swarm_store_content(a.s, "blob", 4, ck), SW_OK);
  assert_int_equal(strlen(ck), SW_CONTENT_KEY_LEN);
  assert_memory_equal(ck, "c:", 2);
  assert_int_equal(sw_swarm_store(a.s, ck, "blop", 4), SW_EINVAL); /* not its hash */
  memset(&r, 0, sizeof r);
  assert_int_equal(sw_swarm_fetch_ex(b.s, ck, NULL, on_plain, &r, NULL), SW_OK);
  assert_true(lo_run_until(&loop, &r.calls, 12000));
  assert_int_equal(r.err, SW_OK);
  assert_string_equal(r.text, "blob");
  assert_true(r.has_peer);
  assert_int_equal(sw_swarm_store_content(a.s, "", 0, ck), SW_EINVAL);

  lo_unpair(&loop, &a, &b);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_signed_extended(void **state) {
  (void)state;
  signed_values(1);
}

static void test_signed_plain(void **state) {
  (void)state;
  signed_values(0);
}

/* The same seed gives the same signing key, in another swarm. */
static void test_signing_key_stable(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  lo_node x = {.seed_hex = "c0ffee"}, y = {.seed_hex = "c0ffee"};
  lo_start(&loop, &x, 1);
  lo_start(&loop, &y, 1);
  uint8_t kx[32], ky[32];
  assert_int_equal(sw_swarm_signing_key(x.s, kx), SW_OK);
  assert_int_equal(sw_swarm_signing_key(y.s, ky), SW_OK);
  assert_memory_equal(kx, ky, 32);
  sw_swarm_close(x.s);
  sw_swarm_close(y.s);
  assert_true(lo_run_until(&loop, &x.close, 5000));
  assert_true(lo_run_until(&loop, &y.close, 5000));
  sw_swarm_free(x.s);
  sw_swarm_free(y.s);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signed_extended),
      cmocka_unit_test(test_signed_plain),
      cmocka_unit_test(test_signing_key_stable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
