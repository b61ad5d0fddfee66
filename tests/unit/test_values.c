/* Signed and content-addressed values (src/core/sync_value.c, docs/VALUES.md): wire
 * keys and their kinds, the envelope (encode, verify, every byte flipped refused, the
 * signature bound to key and seq), content keys, and on one engine the store rules: a
 * holder keeps only the highest seq, seq 0 counts on, a forged or lower version is
 * refused, and a backend value that fails verification is neither cached nor served. */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "sync.h"
#include "sync_value.h"
#include "testutil.h"

static crypto_signer signer_of(const char *seed_hex) {
  crypto_identity id;
  crypto_signer sg;
  assert_int_equal(crypto_identity_from_hex(&id, seed_hex), SW_OK);
  assert_int_equal(crypto_signer_from_identity(&sg, &id), SW_OK);
  return sg;
}

static void test_key_kinds(void **state) {
  (void)state;
  uint8_t signer[32];
  for (int i = 0; i < 32; i++) signer[i] = (uint8_t)(0xA0 + i);
  char key[SW_KEY_MAX + 1];
  int n = sv_signed_key(key, signer, "doc");
  assert_int_equal(n, 67 + 3);
  assert_memory_equal(key, "s:a0a1a2a3", 10);
  assert_int_equal(key[66], '/');
  assert_string_equal(key + 67, "doc");
  assert_int_equal(sv_key_kind((const uint8_t *)key, (size_t)n), SV_SIGNED);
  uint8_t back[32];
  assert_int_equal(sv_key_signer((const uint8_t *)key, (size_t)n, back), SW_OK);
  assert_memory_equal(back, signer, 32);
  /* the name: 1..188 bytes, the whole key within SW_KEY_MAX */
  char name[SV_NAME_MAX + 2];
  memset(name, 'x', sizeof name);
  name[SV_NAME_MAX] = 0;
  assert_int_equal(sv_signed_key(key, signer, name), SW_KEY_MAX);
  assert_int_equal(sv_key_kind((const uint8_t *)key, SW_KEY_MAX), SV_SIGNED);
  name[SV_NAME_MAX] = 'x';
  name[SV_NAME_MAX + 1] = 0;
  assert_int_equal(sv_signed_key(key, signer, name), SW_EINVAL);
  assert_int_equal(sv_signed_key(key, signer, ""), SW_EINVAL);
  assert_int_equal(sv_signed_key(key, signer, NULL), SW_EINVAL);
  /* not signed: no name, upper-case hex, short hex, no slash */
  sv_signed_key(key, signer, "doc");
  assert_int_equal(sv_key_kind((const uint8_t *)key, 67), SV_PLAIN);
  key[2] = 'A';
  assert_int_equal(sv_key_kind((const uint8_t *)key, 70), SV_PLAIN);
  key[2] = 'a';
  key[66] = '-';
  assert_int_equal(sv_key_kind((const uint8_t *)key, 70), SV_PLAIN);
  assert_int_equal(sv_key_kind((const uint8_t *)"s:abc/doc", 9), SV_PLAIN);
  assert_int_equal(sv_key_kind((const uint8_t *)"doc", 3), SV_PLAIN);
  /* content keys: exactly "c:" + 64 lower-case hex */
  char ck[SV_CONTENT_KEY_LEN + 1];
  sv_content_key(ck, "abc", 3);
  assert_string_equal(ck, "c:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_int_equal(sv_key_kind((const uint8_t *)ck, SV_CONTENT_KEY_LEN), SV_CONTENT);
  assert_int_equal(sv_key_kind((const uint8_t *)ck, SV_CONTENT_KEY_LEN - 1), SV_PLAIN);
  ck[5] = 'F';
  assert_int_equal(sv_key_kind((const uint8_t *)ck, SV_CONTENT_KEY_LEN), SV_PLAIN);
}

static void test_envelope(void **state) {
  (void)state;
  crypto_signer sg = signer_of("01");
  char key[SW_KEY_MAX + 1];
  size_t kl = (size_t)sv_signed_key(key, sg.pub, "profile");
  const char *payload = "hello, versioned world";
  size_t pl = strlen(payload), len = SV_HDR + pl;
  uint8_t env[SV_HDR + 64];
  assert_int_equal(sv_encode(env, &sg, (const uint8_t *)key, kl, 7, (const uint8_t *)payload, pl),
                   SW_OK);
  /* the layout: magic, seq big-endian, signature, payload */
  assert_int_equal(env[0], SV_MAGIC);
  static const uint8_t seq7[8] = {0, 0, 0, 0, 0, 0, 0, 7};
  assert_memory_equal(env + 1, seq7, 8);
  assert_memory_equal(env + SV_HDR, payload, pl);
  uint64_t seq = 0;
  const uint8_t *p;
  size_t plen;
  assert_int_equal(sv_open(env, len, &seq, &p, &plen), SW_OK);
  assert_int_equal(seq, 7);
  assert_int_equal(plen, pl);
  assert_int_equal(sv_verify((const uint8_t *)key, kl, env, len, &seq), SW_OK);
  assert_int_equal(seq, 7);
  /* the signature covers label, key, seq and payload: Ed25519 over exactly these */
  uint8_t msg[256];
  size_t ml = 0;
  memcpy(msg, SV_LABEL, strlen(SV_LABEL));
  ml += strlen(SV_LABEL);
  msg[ml++] = (uint8_t)kl;
  memcpy(msg + ml, key, kl);
  ml += kl;
  memcpy(msg + ml, seq7, 8);
  ml += 8;
  assert_true(ml + pl <= sizeof msg);
  memcpy(msg + ml, payload, pl);
  ml += pl;
  assert_int_equal(crypto_verify(sg.pub, msg, ml, env + 9), SW_OK);

  /* every byte flipped is refused, and every truncation */
  for (size_t i = 0; i < len; i++) {
    for (int bit = 0; bit < 8; bit += 7) {
      env[i] ^= (uint8_t)(1u << bit);
      assert_int_not_equal(sv_verify((const uint8_t *)key, kl, env, len, NULL), SW_OK);
      env[i] ^= (uint8_t)(1u << bit);
    }
  }
  for (size_t n = 0; n < len; n++)
    assert_int_not_equal(sv_verify((const uint8_t *)key, kl, env, n, NULL), SW_OK);
  assert_int_equal(sv_verify((const uint8_t *)key, kl, env, len, NULL), SW_OK);
  /* one byte more is another payload: refused */
  uint8_t longer[SV_HDR + 64 + 1];
  memcpy(longer, env, len);
  longer[len] = 'x';
  assert_int_not_equal(sv_verify((const uint8_t *)key, kl, longer, len + 1, NULL), SW_OK);

  /* bound to its key: another name, another signer's key */
  char other[SW_KEY_MAX + 1];
  size_t ol = (size_t)sv_signed_key(other, sg.pub, "profilf");
  assert_int_not_equal(sv_verify((const uint8_t *)other, ol, env, len, NULL), SW_OK);
  crypto_signer sg2 = signer_of("02");
  ol = (size_t)sv_signed_key(other, sg2.pub, "profile");
  assert_int_not_equal(sv_verify((const uint8_t *)other, ol, env, len, NULL), SW_OK);
  /* ... and signed by the key's signer only */
  uint8_t forged[SV_HDR + 64];
  assert_int_equal(sv_encode(forged, &sg2, (const uint8_t *)key, kl, 8,
                             (const uint8_t *)payload, pl), SW_OK);
  assert_int_not_equal(sv_verify((const uint8_t *)key, kl, forged, len, NULL), SW_OK);
  /* a plain key takes anything; seq 0 and an empty payload are not encoded */
  assert_int_equal(sv_verify((const uint8_t *)"doc", 3, forged, len, &seq), SW_OK);
  assert_int_equal(seq, 0);
  assert_int_equal(sv_encode(forged, &sg, (const uint8_t *)key, kl, 0,
                             (const uint8_t *)payload, pl), SW_EINVAL);
  assert_int_equal(sv_encode(forged, &sg, (const uint8_t *)key, kl, 1,
                             (const uint8_t *)payload, 0), SW_EINVAL);
}

static void test_content_verify(void **state) {
  (void)state;
  char ck[SV_CONTENT_KEY_LEN + 1];
  sv_content_key(ck, "the value", 9);
  assert_int_equal(sv_verify((const uint8_t *)ck, SV_CONTENT_KEY_LEN,
                             (const uint8_t *)"the value", 9, NULL), SW_OK);
  assert_int_not_equal(sv_verify((const uint8_t *)ck, SV_CONTENT_KEY_LEN,
                                 (const uint8_t *)"the valuf", 9, NULL), SW_OK);
  assert_int_not_equal(sv_verify((const uint8_t *)ck, SV_CONTENT_KEY_LEN,
                                 (const uint8_t *)"the valu", 8, NULL), SW_OK);
}

/* ---- one engine: the store rules ------------------------------------------------- */

static void rnd(void *ctx, uint8_t *b, size_t n) { tu_rng_bytes(ctx, b, n); }

static sw_core *engine(tu_rng *r, int storage) {
  sw_core *c;
  sw_core_config cfg = {.seed_hex = "a1", .random = rnd, .ctx = r, .sync = 1,
                        .storage = storage};
  assert_int_equal(sw_core_new(&c, &cfg, 0), SW_OK);
  return c;
}

static uint64_t held(sw_core *c, const char *key) {
  return sv_held_seq(core_module_state(c, "sync"), (const uint8_t *)key, strlen(key));
}

static void test_store_seq_order(void **state) {
  (void)state;
  tu_rng r = {5};
  sw_core *c = engine(&r, 0);
  uint8_t pub[32];
  assert_int_equal(sw_core_signing_key(c, pub), SW_OK);
  crypto_signer sg = signer_of("a1");
  assert_memory_equal(pub, sg.pub, 32);
  char key[SW_KEY_MAX + 1];
  size_t kl = (size_t)sv_signed_key(key, pub, "doc");
  uint64_t got = 0;
  /* seq 0 counts on from what is held: 1, 2; an explicit seq must be above it */
  assert_int_equal(sw_core_store_signed(c, "doc", "v1", 2, 0, &got, 1), SW_OK);
  assert_int_equal(got, 1);
  assert_int_equal(sw_core_store_signed(c, "doc", "v2", 2, 0, &got, 2), SW_OK);
  assert_int_equal(got, 2);
  assert_int_equal(held(c, key), 2);
  assert_int_equal(sw_core_store_signed(c, "doc", "v10", 3, 10, &got, 3), SW_OK);
  assert_int_equal(got, 10);
  assert_int_equal(sw_core_store_signed(c, "doc", "old", 3, 10, &got, 4), SW_EINVAL);
  assert_int_equal(sw_core_store_signed(c, "doc", "old", 3, 9, &got, 4), SW_EINVAL);
  assert_int_equal(held(c, key), 10);
  assert_int_equal(sw_core_store_signed(c, "doc", "", 0, 0, &got, 4), SW_EINVAL);
  assert_int_equal(sw_core_store_signed(c, "", "x", 1, 0, &got, 4), SW_EINVAL);

  /* a raw store of a valid envelope: only a higher seq; a forged one never */
  uint8_t env[SV_HDR + 8];
  assert_int_equal(sv_encode(env, &sg, (const uint8_t *)key, kl, 5, (const uint8_t *)"five", 4),
                   SW_OK);
  assert_int_equal(sw_core_store(c, key, env, SV_HDR + 4, 5), SW_EINVAL);
  assert_int_equal(sv_encode(env, &sg, (const uint8_t *)key, kl, 11, (const uint8_t *)"elev", 4),
                   SW_OK);
  env[SV_HDR] ^= 1;
  assert_int_equal(sw_core_store(c, key, env, SV_HDR + 4, 5), SW_EINVAL);
  env[SV_HDR] ^= 1;
  assert_int_equal(sw_core_store(c, key, env, SV_HDR + 4, 5), SW_OK);
  assert_int_equal(held(c, key), 11);
  /* the cache's own rule: a lower version never replaces a higher one */
  assert_int_equal(sv_encode(env, &sg, (const uint8_t *)key, kl, 3, (const uint8_t *)"thre", 4),
                   SW_OK);
  assert_int_equal(sv_cache_put(core_module_state(c, "sync"), (const uint8_t *)key, kl, env,
                                SV_HDR + 4), 0);
  assert_int_equal(held(c, key), 11);

  /* content: the store takes only the value that hashes to the key */
  char ck[SW_CONTENT_KEY_LEN + 1];
  assert_int_equal(sw_core_store_content(c, "blob", 4, ck, 6), SW_OK);
  char want[SV_CONTENT_KEY_LEN + 1];
  sv_content_key(want, "blob", 4);
  assert_string_equal(ck, want);
  assert_int_equal(sw_core_store(c, ck, "blob", 4, 6), SW_OK);
  assert_int_equal(sw_core_store(c, ck, "blop", 4, 6), SW_EINVAL);
  sw_core_free(c);
}

typedef struct got {
  int calls, err;
  size_t len;
} got;

static void on_done(void *user, int err, const char *key, const uint8_t *v, size_t len,
                    const uint8_t *peer) {
  got *g = user;
  (void)key, (void)v, (void)peer;
  g->calls++;
  g->err = err;
  g->len = len;
}

/* A backend that returns a damaged value for a content key: neither cached nor
 * delivered, and counted; a signed key's fetch with nobody to ask ends with what the
 * engine holds. */
static void test_backend_value_verified(void **state) {
  (void)state;
  tu_rng r = {6};
  sw_core *c = engine(&r, 1);
  char ck[SV_CONTENT_KEY_LEN + 1];
  sv_content_key(ck, "blob", 4);
  got g = {0};
  sw_core_fetch_opts o = {.timeout_ms = 1000};
  assert_int_equal(sw_core_fetch_ex(c, ck, &o, on_done, &g, NULL, 10), SW_OK);
  sw_core_storage_req req;
  assert_int_equal(sw_core_storage_take(c, &req), 1);
  assert_int_equal(req.op, SW_CORE_STORAGE_GET);
  sw_core_storage_done(c, req.id, SW_OK, (const uint8_t *)"blop", 4, 11);
  sync_stats st;
  sync_get_stats(c, &st);
  assert_int_equal(st.forged_values, 1);
  assert_int_equal(st.cache_entries, 0);
  sw_core_timeout(c, 2000);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.err, SW_ETIMEDOUT);

  /* signed: stored here (seq 1), fetched with no peer: the held version, at once */
  assert_int_equal(sw_core_store_signed(c, "doc", "mine", 4, 0, NULL, 3000), SW_OK);
  while (sw_core_storage_take(c, &req)) sw_core_storage_done(c, req.id, SW_OK, NULL, 0, 3000);
  uint8_t pub[32];
  sw_core_signing_key(c, pub);
  char key[SW_KEY_MAX + 1];
  sv_signed_key(key, pub, "doc");
  got g2 = {0};
  assert_int_equal(sw_core_fetch_ex(c, key, &o, on_done, &g2, NULL, 3001), SW_OK);
  sw_core_timeout(c, 3002);
  assert_int_equal(g2.calls, 1);
  assert_int_equal(g2.err, SW_OK);
  assert_int_equal(g2.len, SV_HDR + 4);
  sw_core_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_kinds),
      cmocka_unit_test(test_envelope),
      cmocka_unit_test(test_content_verify),
      cmocka_unit_test(test_store_seq_order),
      cmocka_unit_test(test_backend_value_verified),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
