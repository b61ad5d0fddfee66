/* xor_hash against the reference vectors (hashes.json, PROTOCOL.md 6.2 and 20), then
 * the exact id set the core dedups with (instead of the references' bloom filter, whose
 * positions in hashes.json are local behaviour we do not reproduce): exactness,
 * probing, two-generation rotation by time and by count, memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "setowire.h"
#include "testutil.h"

#define ROTATE_MS 300000u

static void check_xor(const uint8_t *in, size_t len, const char *want) {
  char text[17];
  uint64_t h = dedup_xor_hash(in, len);
  dedup_xor_hash_text(h, text);
  assert_string_equal(text, want);
  /* the 64-bit value is u32be(a) || u32be(b), i.e. the text read as one number */
  uint8_t be[8];
  tu_unhex_into(want, be, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | be[i];
  assert_true(h == v);
}

static void test_xor_hash_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("hashes.json");
  size_t i;
  json_t *e;
  int n = 0;
  json_array_foreach(json_object_get(v, "xor_hash"), i, e) {
    size_t len;
    uint8_t *in = tu_unhex(tu_str(e, "input_hex"), &len);
    assert_int_equal(len, json_integer_value(json_object_get(e, "input_len")));
    check_xor(in, len, tu_str(e, "output"));
    free(in);
    n++;
  }
  assert_int_equal(n, 12);
  json_decref(v);
}

static void test_xor_hash_spec_examples(void **state) {
  (void)state;
  /* PROTOCOL.md 20 */
  uint8_t all[256], sq[6] = {0, 0, 0, 0, 0x68, 0x69};
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  check_xor(NULL, 0, "811c9dc5811c9dc5");
  check_xor((const uint8_t *)"hello", 5, "e9ca428a3f1a6264");
  check_xor(all, 256, "db140ac5b90c57c5");
  check_xor(sq, 6, "22b0b8bf21b0b72c");
  /* leading zeros are kept in the text */
  char text[17];
  dedup_xor_hash_text(0x00000000000000abull, text);
  assert_string_equal(text, "00000000000000ab");
  dedup_xor_hash_text(UINT64_MAX, text);
  assert_string_equal(text, "ffffffffffffffff");
}



static uint64_t id_of(unsigned i) {
  char msg[32];
  int n = snprintf(msg, sizeof msg, "message %u", i);
  return dedup_xor_hash((const uint8_t *)msg, (size_t)n);
}

static void test_set_basic(void **state) {
  (void)state;
  dedup_set s;
  assert_int_equal(dedup_set_init(&s, 3, 0), SW_EINVAL);
  assert_int_equal(dedup_set_init(&s, 29, 0), SW_EINVAL);
  assert_int_equal(dedup_set_init(&s, 10, 0), SW_OK);
  uint64_t x = id_of(1), y = id_of(2);
  assert_false(dedup_set_has(&s, x));
  dedup_set_add(&s, x, 0);
  assert_true(dedup_set_has(&s, x));
  assert_false(dedup_set_has(&s, y));
  assert_int_equal(dedup_set_seen(&s, y, 1), 0);
  assert_int_equal(dedup_set_seen(&s, y, 2), 1);
  /* the id 0 is storable too */
  assert_false(dedup_set_has(&s, 0));
  assert_int_equal(dedup_set_seen(&s, 0, 3), 0);
  assert_true(dedup_set_has(&s, 0));
  assert_false(dedup_set_has(&s, 2));
  dedup_set_free(&s);
  assert_null(s.cur);
}

static void test_set_is_exact(void **state) {
  (void)state;
  /* filled to its rotation point, the set answers "no" for every id it never saw */
  dedup_set s;
  tu_rng r = {42};
  assert_int_equal(dedup_set_init(&s, 12, 0), SW_OK);
  const unsigned n = (1u << 12) / 2;
  uint64_t ids[2048];
  for (unsigned i = 0; i < n; i++) {
    ids[i] = tu_rng_next(&r);
    assert_int_equal(dedup_set_seen(&s, ids[i], 0), 0);
  }
  for (unsigned i = 0; i < n; i++) assert_true(dedup_set_has(&s, ids[i]));
  for (unsigned i = 0; i < 200000; i++) assert_false(dedup_set_has(&s, tu_rng_next(&r) | 2));
  dedup_set_free(&s);
}

static void test_set_probe_wraps(void **state) {
  (void)state;
  /* 16 slots: small ids land on slot (id & 15), so 15, 31, 47 all start at the last
   * slot and the probe has to wrap to the front */
  dedup_set s;
  assert_int_equal(dedup_set_init(&s, 4, 0), SW_OK);
  dedup_set_add(&s, 15, 0);
  dedup_set_add(&s, 31, 0);
  dedup_set_add(&s, 47, 0);
  assert_true(dedup_set_has(&s, 15));
  assert_true(dedup_set_has(&s, 31));
  assert_true(dedup_set_has(&s, 47));
  assert_false(dedup_set_has(&s, 63));
  assert_false(dedup_set_has(&s, 14));
  /* slots 0 and 1 hold the wrapped ids; ids that start there still find their place */
  dedup_set_add(&s, 16, 0);
  dedup_set_add(&s, 1, 0);
  assert_true(dedup_set_has(&s, 16));
  assert_true(dedup_set_has(&s, 1));
  assert_true(dedup_set_has(&s, 47));
  dedup_set_free(&s);
}

static void test_set_rotation_by_time(void **state) {
  (void)state;
  dedup_set s;
  const uint64_t t0 = 777;
  assert_int_equal(dedup_set_init(&s, 10, t0), SW_OK);
  uint64_t x = id_of(10), y = id_of(11), z = id_of(12), w = id_of(13);
  dedup_set_add(&s, x, t0);
  dedup_set_add(&s, y, t0 + ROTATE_MS - 1);
  assert_true(dedup_set_has(&s, x));
  dedup_set_add(&s, z, t0 + ROTATE_MS); /* rotates: x, y now in the old generation */
  assert_true(dedup_set_has(&s, x));
  assert_true(dedup_set_has(&s, y));
  dedup_set_add(&s, w, t0 + 2 * ROTATE_MS - 1);
  assert_true(dedup_set_has(&s, x));
  assert_int_equal(dedup_set_seen(&s, id_of(14), t0 + 2 * ROTATE_MS), 0);
  assert_false(dedup_set_has(&s, x));
  assert_false(dedup_set_has(&s, y));
  assert_true(dedup_set_has(&s, z));
  assert_true(dedup_set_has(&s, w));
  dedup_set_free(&s);
}

static void test_set_rotation_by_count(void **state) {
  (void)state;
  /* 16 slots: a generation is retired when it holds 8 ids */
  dedup_set s;
  assert_int_equal(dedup_set_init(&s, 4, 0), SW_OK);
  for (unsigned i = 0; i < 4; i++) dedup_set_add(&s, id_of(i), 0);
  /* adding a known id again does not count towards the 8 */
  for (unsigned i = 0; i < 20; i++) dedup_set_add(&s, id_of(0), 0);
  for (unsigned i = 4; i < 8; i++) dedup_set_add(&s, id_of(i), 0);
  for (unsigned i = 0; i < 8; i++) assert_true(dedup_set_has(&s, id_of(i)));
  dedup_set_add(&s, id_of(8), 0); /* rotation: ids 0..7 move to old */
  for (unsigned i = 0; i <= 8; i++) assert_true(dedup_set_has(&s, id_of(i)));
  for (unsigned i = 9; i < 16; i++) dedup_set_add(&s, id_of(i), 0);
  for (unsigned i = 0; i < 16; i++) assert_true(dedup_set_has(&s, id_of(i)));
  dedup_set_add(&s, id_of(16), 0); /* rotation again: ids 0..7 are forgotten */
  for (unsigned i = 0; i < 8; i++) assert_false(dedup_set_has(&s, id_of(i)));
  for (unsigned i = 8; i <= 16; i++) assert_true(dedup_set_has(&s, id_of(i)));
  dedup_set_free(&s);
}

static void test_set_memory(void **state) {
  (void)state;
  dedup_set s;
  assert_int_equal(dedup_set_init(&s, 17, 0), SW_OK); /* the core's default */
  assert_int_equal(dedup_set_bytes(&s), 2u << 20);
  dedup_set_free(&s);
  assert_int_equal(dedup_set_init(&s, 4, 0), SW_OK);
  assert_int_equal(dedup_set_bytes(&s), 2 * 16 * 8);
  dedup_set_free(&s);
}

/* The local id: equal content gives equal ids; one changed bit anywhere, at every
 * length across the 32-, 8- and 1-byte steps, gives another; no collision among many
 * messages that differ only in a counter (the shape of real traffic). */
static void test_local_id(void **state) {
  (void)state;
  uint8_t a[200], b[200];
  for (size_t i = 0; i < sizeof a; i++) a[i] = (uint8_t)(i * 7 + 3);
  for (size_t len = 0; len <= sizeof a; len++) {
    memcpy(b, a, sizeof a);
    assert_true(dedup_id(a, len) == dedup_id(b, len));
    if (len) assert_true(dedup_id(a, len) != dedup_id(a, len - 1));
    for (size_t at = 0; at < len; at++)
      for (unsigned bit = 0; bit < 8; bit += 3) {
        b[at] ^= (uint8_t)(1u << bit);
        assert_true(dedup_id(a, len) != dedup_id(b, len));
        b[at] ^= (uint8_t)(1u << bit);
      }
  }
  dedup_set s;
  assert_int_equal(dedup_set_init(&s, 18, 0), SW_OK);
  for (uint32_t i = 0; i < 100000; i++) {
    memcpy(a, &i, sizeof i);
    assert_int_equal(dedup_set_seen(&s, dedup_id(a, 100), 0), 0);
  }
  dedup_set_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xor_hash_vectors),
      cmocka_unit_test(test_xor_hash_spec_examples),
      cmocka_unit_test(test_set_basic),
      cmocka_unit_test(test_set_is_exact),
      cmocka_unit_test(test_set_probe_wraps),
      cmocka_unit_test(test_set_rotation_by_time),
      cmocka_unit_test(test_set_rotation_by_count),
      cmocka_unit_test(test_set_memory),
      cmocka_unit_test(test_local_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
