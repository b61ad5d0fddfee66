/* Identity, session derivation and DATA AEAD against the reference vectors
 * (identity.json, session.json, data_frames.json). */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "setowire.h"
#include "testutil.h"
#include "wire.h"

static void test_identity_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("identity.json");
  size_t i;
  json_t *e;
  int n = 0;
  json_array_foreach(json_object_get(v, "vectors"), i, e) {
    size_t sl;
    uint8_t *seed = tu_unhex(tu_str(e, "seed_hex"), &sl);
    crypto_identity id;
    assert_int_equal(crypto_identity_from_seed(&id, seed, sl), 0);
    assert_string_equal(tu_hex(id.priv, 32), tu_str(e, "private_key_hex"));
    assert_string_equal(tu_hex(id.pub, 32), tu_str(e, "public_key_hex"));
    assert_string_equal(tu_hex(id.id, 20), tu_str(e, "peer_id_hex"));
    assert_string_equal(tu_hex(id.id, 8), tu_str(e, "wire_id_hex"));
    /* the public API gives the same */
    uint8_t pub[32], full[20];
    assert_int_equal(sw_identity_from_seed(tu_str(e, "seed_hex"), pub, full), 0);
    assert_memory_equal(full, id.id, 20);
    free(seed);
    n++;
  }
  assert_true(n >= 7);
  json_decref(v);
}

/* The tree's one hex codec: lowercase out, strict in (either case accepted). */
static void test_hex(void **state) {
  (void)state;
  uint8_t all[256], back[256];
  char text[2 * 256 + 1];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  crypto_hex_encode(all, 256, text);
  assert_int_equal(strlen(text), 512);
  assert_memory_equal(text, "000102", 6);
  assert_string_equal(text + 500, "fafbfcfdfeff");
  assert_int_equal(crypto_hex_decode(text, back, sizeof back), 256);
  assert_memory_equal(back, all, 256);
  for (char *p = text; *p; p++)
    if (*p >= 'a') *p = (char)(*p - 32); /* upper case decodes to the same bytes */
  memset(back, 0, sizeof back);
  assert_int_equal(crypto_hex_decode(text, back, sizeof back), 256);
  assert_memory_equal(back, all, 256);
  crypto_hex_encode(all, 0, text);
  assert_string_equal(text, "");
  assert_int_equal(crypto_hex_decode("", back, 4), 0);
  /* refused: odd length, non-hex characters anywhere, more bytes than room */
  static const char *const bad[] = {"0", "abc", "0g", "g0", "zz", "0x12", " 12", "12 ",
                                    "1-", "+1", "\xff\xfe", "12345678901"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(crypto_hex_decode(bad[i], back, 5), SW_EINVAL);
  assert_int_equal(crypto_hex_decode("0102030405", back, 5), 5);
  assert_int_equal(crypto_hex_decode("010203040506", back, 5), SW_EINVAL);
  uint8_t one[1] = {0xee};
  assert_int_equal(crypto_hex_decode("7", one, 1), SW_EINVAL);
  assert_int_equal(one[0], 0xee);
  /* the topic hash (14.1) is built on them: dht.json's first case */
  uint8_t topic[32];
  char th[CRYPTO_TOPIC_HASH_LEN + 1];
  assert_int_equal(crypto_hex_decode(
                       "77a5bb4d0c64da6fcea41fa2b0045ac63863005561a5418ce24b4ead2a2fc503", topic, 32),
                   32);
  crypto_topic_hash(topic, th);
  assert_string_equal(th, "cd5eb9c4d1a1");
}

static void test_seed_edge_cases(void **state) {
  (void)state;
  uint8_t pub[32], id[20];
  /* the empty seed is a valid zero-byte seed (PROTOCOL.md 20) */
  assert_int_equal(sw_identity_from_seed("", pub, id), 0);
  assert_string_equal(tu_hex(id, 20), "d507709e99aa9f3454ee5d4dbdd2f94ff01ad5db");
  /* malformed seeds are refused, never truncated */
  assert_int_equal(sw_identity_from_seed("zz11", pub, id), SW_EINVAL);
  assert_int_equal(sw_identity_from_seed("abc", pub, id), SW_EINVAL);
  assert_int_equal(sw_identity_from_seed("00 0", pub, id), SW_EINVAL);
  assert_int_equal(sw_identity_from_seed(NULL, pub, id), SW_EINVAL);
  /* upper case hex is the same seed */
  uint8_t id2[20];
  assert_int_equal(sw_identity_from_seed("AA", pub, id2), 0);
  assert_string_equal(tu_hex(id2, 20), "80ea454e7b17e7dd9110607fffcd4255f5fb14ed");
}

static void test_session_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("session.json");
  size_t i;
  json_t *e;
  int n = 0;
  json_array_foreach(json_object_get(v, "pairs"), i, e) {
    size_t al, bl;
    uint8_t *as = tu_unhex(tu_str(e, "a_seed_hex"), &al);
    uint8_t *bs = tu_unhex(tu_str(e, "b_seed_hex"), &bl);
    crypto_identity a, b;
    crypto_session_keys ka, kb;
    assert_int_equal(crypto_identity_from_seed(&a, as, al), 0);
    assert_int_equal(crypto_identity_from_seed(&b, bs, bl), 0);
    assert_int_equal(crypto_derive_session(&a, b.pub, &ka), 0);
    assert_int_equal(crypto_derive_session(&b, a.pub, &kb), 0);
    assert_string_equal(tu_hex(ka.send_key, 32), tu_str(e, "a_send_key_hex"));
    assert_string_equal(tu_hex(ka.recv_key, 32), tu_str(e, "a_recv_key_hex"));
    assert_string_equal(tu_hex(kb.send_key, 32), tu_str(e, "b_send_key_hex"));
    assert_string_equal(tu_hex(kb.recv_key, 32), tu_str(e, "b_recv_key_hex"));
    assert_int_equal(ka.session_id, json_integer_value(json_object_get(e, "session_id")));
    assert_int_equal(kb.session_id, ka.session_id);
    free(as);
    free(bs);
    n++;
  }
  assert_true(n >= 1);
  json_decref(v);
}

static void test_tie_break_cases(void **state) {
  (void)state;
  json_t *v = tu_vectors("session.json");
  size_t i;
  json_t *e;
  int n = 0;
  json_array_foreach(json_object_get(v, "tie_break_function_cases"), i, e) {
    json_t *lp = json_object_get(e, "local_pub_hex"), *rp = json_object_get(e, "remote_pub_hex");
    json_t *res = json_object_get(e, "python_result");
    if (!json_is_boolean(res)) continue; /* cases where Python raised */
    uint8_t lw[8], rw[8], lpub[32] = {0}, rpub[32] = {0};
    char l16[17], r16[17];
    snprintf(l16, sizeof l16, "%s", tu_str(e, "local_id"));
    snprintf(r16, sizeof r16, "%s", tu_str(e, "remote_id"));
    tu_unhex_into(l16, lw, 8);
    tu_unhex_into(r16, rw, 8);
    if (memcmp(lw, rw, 8) == 0) {
      /* a collision: only 32-byte keys reach the key comparison */
      if (!json_is_string(lp) || strlen(json_string_value(lp)) != 64) continue;
      tu_unhex_into(json_string_value(lp), lpub, 32);
      tu_unhex_into(json_string_value(rp), rpub, 32);
    }
    assert_int_equal(crypto_is_lower(lw, rw, lpub, rpub), json_is_true(res));
    n++;
  }
  assert_true(n >= 4);
  json_decref(v);
}

static void test_low_order_key_refused(void **state) {
  (void)state;
  crypto_identity a;
  crypto_session_keys k;
  uint8_t zero[32] = {0}, one[32] = {1};
  assert_int_equal(crypto_identity_from_seed(&a, (const uint8_t *)"", 0), 0);
  assert_int_equal(crypto_derive_session(&a, zero, &k), SW_ECRYPTO);
  assert_int_equal(crypto_derive_session(&a, one, &k), SW_ECRYPTO);
}

static void test_data_frames(void **state) {
  (void)state;
  json_t *v = tu_vectors("data_frames.json");
  size_t i;
  json_t *e;
  int n = 0;
  json_array_foreach(json_object_get(v, "frames"), i, e) {
    uint8_t key[32], rkey[32];
    tu_unhex_into(tu_str(e, "send_key_hex"), key, 32);
    tu_unhex_into(tu_str(e, "receiver_recv_key_hex"), rkey, 32);
    size_t fl, pl;
    uint8_t *frame = tu_unhex(tu_str(e, "frame_hex"), &fl);
    uint8_t *plain = tu_unhex(tu_str(e, "plaintext_hex"), &pl);
    crypto_aead *tx = crypto_aead_new(key, 1), *rx = crypto_aead_new(rkey, 0);
    uint8_t *out = malloc(fl + 64);
    /* our encoder builds the identical frame */
    wire_data_header(out, (uint32_t)json_integer_value(json_object_get(e, "session_id")),
                     (uint64_t)json_integer_value(json_object_get(e, "counter")));
    assert_int_equal(crypto_aead_seal(tx, out + 1, plain, 4, plain + 4, pl - 4, out + 13), 0);
    assert_int_equal(fl, 13 + pl + 16);
    assert_memory_equal(out, frame, fl);
    /* and our decoder opens the reference frame */
    assert_int_equal(crypto_aead_open(rx, frame + 1, frame + 13, fl - 13, out), 0);
    assert_memory_equal(out, plain, pl);
    crypto_aead_free(tx);
    crypto_aead_free(rx);
    free(frame);
    free(plain);
    free(out);
    n++;
  }
  json_array_foreach(json_object_get(v, "must_fail"), i, e) {
    uint8_t key[32];
    size_t fl;
    tu_unhex_into(tu_str(e, "decrypt_key_hex"), key, 32);
    uint8_t *frame = tu_unhex(tu_str(e, "frame_hex"), &fl);
    uint8_t out[4096];
    crypto_aead *rx = crypto_aead_new(key, 0);
    int ok = fl >= 29 && fl - 13 < sizeof out &&
             crypto_aead_open(rx, frame + 1, frame + 13, fl - 13, out) == 0;
    if (ok) fail_msg("must_fail case '%s' decrypted", tu_str(e, "name"));
    crypto_aead_free(rx);
    free(frame);
    n++;
  }
  assert_true(n >= 10);
  json_decref(v);
}

/* The signing key: derived from the identity (pinned against python-cryptography's
 * Ed25519 over HMAC-SHA256(SHA-256(empty seed), label)), deterministic, and a signature
 * fails on any changed byte of message, signature or key. */
static void test_signing_key(void **state) {
  (void)state;
  static const char want_pub[] =
      "f8bdc58e3d43d7c8aa8c56fa2ef3edd8c6d3de8589ef246eb534ddd7d95fb2d2";
  static const char want_sig[] =
      "a71721c702a4674ebb729991dfbaf25d2005b3b628776f7c0e26d977d9177508"
      "5784dcecfa57124775708669c2465ebb3cca5aff5caeb54a9bce5eb0e5000b0b";
  crypto_identity id, other;
  crypto_signer s, s2, so;
  char hex[129];
  uint8_t sig[CRYPTO_SIGN_LEN];
  assert_int_equal(crypto_identity_from_seed(&id, (const uint8_t *)"", 0), 0);
  assert_int_equal(crypto_identity_from_seed(&other, (const uint8_t *)"\x01", 1), 0);
  assert_int_equal(crypto_signer_from_identity(&s, &id), 0);
  assert_int_equal(crypto_signer_from_identity(&s2, &id), 0);
  assert_int_equal(crypto_signer_from_identity(&so, &other), 0);
  crypto_hex_encode(s.pub, 32, hex);
  assert_string_equal(hex, want_pub);
  assert_memory_equal(s.pub, s2.pub, 32);
  assert_memory_not_equal(s.pub, so.pub, 32);
  assert_int_equal(crypto_sign(&s, "setowire", 8, sig), 0);
  crypto_hex_encode(sig, 64, hex);
  assert_string_equal(hex, want_sig);
  assert_int_equal(crypto_verify(s.pub, "setowire", 8, sig), 0);
  assert_int_equal(crypto_verify(s.pub, "setowirf", 8, sig), SW_ECRYPTO);
  assert_int_equal(crypto_verify(so.pub, "setowire", 8, sig), SW_ECRYPTO);
  sig[63] ^= 1;
  assert_int_equal(crypto_verify(s.pub, "setowire", 8, sig), SW_ECRYPTO);
  uint8_t bad[32];
  memset(bad, 0xff, sizeof bad); /* not a point encoding */
  assert_int_equal(crypto_verify(bad, "setowire", 8, sig), SW_ECRYPTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity_vectors),  cmocka_unit_test(test_seed_edge_cases),
      cmocka_unit_test(test_hex),
      cmocka_unit_test(test_session_vectors),   cmocka_unit_test(test_tie_break_cases),
      cmocka_unit_test(test_low_order_key_refused), cmocka_unit_test(test_data_frames),
      cmocka_unit_test(test_signing_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
