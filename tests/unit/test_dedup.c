/* xor_hash and the bloom filter against the reference vectors (hashes.json,
 * PROTOCOL.md 6.2 and 20), and the filter's own behaviour: has/add/seen, the two
 * generations, rotation by time and by capacity, memory. Then the exact id set the
 * core dedups with: exactness, probing, the same two-generation rotation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "setowire.h"
#include "testutil.h"

#define REF_BITS_LOG2 26 /* PROTOCOL.md 6.2: BLOOM_BITS = 2^26 */
#define ROTATE_MS 300000u

static void check_xor(const uint8_t *in, size_t len, const char *want) {
  char text[17];
  uint64_t h = dedup_xor_hash(in, len);
  dedup_xor_hash_text(h, text);
  assert_string_equal(text, want);
  /* the 64-bit value is u32be(a) || u32be(b), i.e. the text read as one number */
  assert_true(h == strtoull(want, NULL, 16));
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

static void check_positions(const uint8_t *key, size_t len, json_t *want, json_t *bim) {
  uint32_t pos[5];
  dedup_bloom_positions((const char *)key, len, REF_BITS_LOG2, pos);
  assert_int_equal(json_array_size(want), 5);
  for (size_t k = 0; k < 5; k++) {
    assert_int_equal(pos[k], json_integer_value(json_array_get(want, k)));
    if (bim) {
      /* [p >> 3, hex(1 << (p & 7))]: least significant bit first */
      json_t *pair = json_array_get(bim, k);
      char mask[3];
      snprintf(mask, sizeof mask, "%02x", 1u << (pos[k] & 7));
      assert_int_equal(pos[k] >> 3, json_integer_value(json_array_get(pair, 0)));
      assert_string_equal(mask, json_string_value(json_array_get(pair, 1)));
    }
  }
}

/* JavaScript hashes UTF-16 code units; when every code point of a key is below 256 those
 * units are single bytes (Latin-1), which our byte-oriented function can reproduce. */
static int utf8_to_latin1(const uint8_t *in, size_t len, uint8_t *out, size_t *outlen) {
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (in[i] < 0x80) {
      out[o++] = in[i++];
    } else if ((in[i] & 0xe0) == 0xc0 && i + 1 < len) {
      unsigned cp = (unsigned)(in[i] & 0x1f) << 6 | (in[i + 1] & 0x3f);
      if (cp > 0xff) return 0;
      out[o++] = (uint8_t)cp;
      i += 2;
    } else {
      return 0;
    }
  }
  *outlen = o;
  return 1;
}

static void test_bloom_position_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("hashes.json");
  json_t *bloom = json_object_get(v, "bloom");
  assert_int_equal(json_integer_value(json_object_get(bloom, "bits")), 1u << REF_BITS_LOG2);
  assert_int_equal(json_integer_value(json_object_get(bloom, "hashes")), 5);
  size_t i;
  json_t *e;
  int n = 0, js = 0;
  json_array_foreach(json_object_get(bloom, "keys"), i, e) {
    size_t len;
    int is_bytes = strcmp(tu_str(e, "key_kind"), "bytes") == 0;
    uint8_t *key = tu_unhex(is_bytes ? tu_str(e, "key") : tu_str(e, "key_utf8_hex"), &len);
    if (!is_bytes) {
      /* the UTF-8 bytes are the key text */
      assert_int_equal(len, strlen(tu_str(e, "key")));
      assert_memory_equal(key, tu_str(e, "key"), len);
    }
    check_positions(key, len, json_object_get(e, "positions"),
                    json_object_get(e, "byte_index_and_mask"));
    json_t *jsp = json_object_get(e, "js_positions");
    if (jsp) {
      uint8_t units[64];
      size_t ul = 0;
      assert_true(utf8_to_latin1(key, len, units, &ul));
      check_positions(units, ul, jsp, NULL);
      js++;
    }
    free(key);
    n++;
  }
  assert_int_equal(n, 11);
  assert_int_equal(js, 1);
  json_decref(v);
}

static void test_bloom_positions_spec_example(void **state) {
  (void)state;
  /* PROTOCOL.md 20: bloom positions of the key e9ca428a3f1a6264 (xor_hash("hello")) */
  static const uint32_t want[5] = {20852127, 39350406, 58950769, 36053072, 65486443};
  uint32_t pos[5];
  char text[17];
  dedup_xor_hash_text(dedup_xor_hash((const uint8_t *)"hello", 5), text);
  dedup_bloom_positions(text, 16, REF_BITS_LOG2, pos);
  assert_memory_equal(pos, want, sizeof want);
  /* a smaller filter keeps the low bits of the same hashes */
  uint32_t small[5];
  dedup_bloom_positions(text, 16, 12, small);
  for (int k = 0; k < 5; k++) assert_int_equal(small[k], want[k] & 0xfff);
}

static uint64_t id_of(unsigned i) {
  char msg[32];
  int n = snprintf(msg, sizeof msg, "message %u", i);
  return dedup_xor_hash((const uint8_t *)msg, (size_t)n);
}

static int bit_set(const uint8_t *bits, uint32_t p) { return bits[p >> 3] >> (p & 7) & 1; }

static void test_bloom_basic(void **state) {
  (void)state;
  dedup_bloom b;
  assert_int_equal(dedup_bloom_init(&b, 16, 1000), SW_OK);
  uint64_t x = id_of(1), y = id_of(2);
  assert_false(dedup_bloom_has(&b, x));
  dedup_bloom_add(&b, x, 1000);
  assert_true(dedup_bloom_has(&b, x));
  assert_false(dedup_bloom_has(&b, y));
  /* the bits are the reference positions of the 16-char text, LSB first */
  char text[17];
  uint32_t pos[5];
  dedup_xor_hash_text(x, text);
  dedup_bloom_positions(text, 16, 16, pos);
  int set = 0;
  for (size_t k = 0; k < ((size_t)1 << 13); k++) set += __builtin_popcount(b.cur[k]);
  for (int k = 0; k < 5; k++) assert_true(bit_set(b.cur, pos[k]));
  assert_true(set >= 1 && set <= 5);
  /* seen = has, then add */
  assert_int_equal(dedup_bloom_seen(&b, y, 1001), 0);
  assert_int_equal(dedup_bloom_seen(&b, y, 1002), 1);
  assert_int_equal(dedup_bloom_seen(&b, x, 1003), 1);
  /* content dedup: the same bytes from anywhere are the same id */
  assert_int_equal(dedup_bloom_seen(&b, dedup_xor_hash((const uint8_t *)"message 1", 9), 1004), 1);
  dedup_bloom_free(&b);
  assert_null(b.cur);
  assert_int_equal(dedup_bloom_bytes(&b), 0);
}

static void test_bloom_has_needs_one_generation(void **state) {
  (void)state;
  /* PROTOCOL.md 6.2: all five bits in current, or all five in old, never mixed */
  dedup_bloom b;
  assert_int_equal(dedup_bloom_init(&b, 16, 0), SW_OK);
  uint64_t x = id_of(7);
  char text[17];
  uint32_t pos[5];
  dedup_xor_hash_text(x, text);
  dedup_bloom_positions(text, 16, 16, pos);
  for (int k = 0; k < 5; k++) {
    uint8_t *g = k < 3 ? b.cur : b.old;
    g[pos[k] >> 3] |= (uint8_t)(1u << (pos[k] & 7));
  }
  int distinct = 1;
  for (int k = 0; k < 5; k++)
    for (int m = 0; m < k; m++) distinct &= pos[k] != pos[m];
  if (distinct) assert_false(dedup_bloom_has(&b, x));
  for (int k = 0; k < 5; k++) b.old[pos[k] >> 3] |= (uint8_t)(1u << (pos[k] & 7));
  assert_true(dedup_bloom_has(&b, x));
  dedup_bloom_free(&b);
}

static void test_bloom_rotation_by_time(void **state) {
  (void)state;
  dedup_bloom b;
  const uint64_t t0 = 5000;
  assert_int_equal(dedup_bloom_init(&b, 20, t0), SW_OK);
  uint64_t x = id_of(10), y = id_of(11), z = id_of(12), w = id_of(13);
  dedup_bloom_add(&b, x, t0);
  /* one millisecond before the period: no rotation */
  dedup_bloom_add(&b, y, t0 + ROTATE_MS - 1);
  assert_true(dedup_bloom_has(&b, x));
  char text[17];
  uint32_t pos[5];
  dedup_xor_hash_text(x, text);
  dedup_bloom_positions(text, 16, 20, pos);
  for (int k = 0; k < 5; k++) assert_true(bit_set(b.cur, pos[k]));
  /* time alone rotates nothing: rotation happens on an insertion */
  assert_true(dedup_bloom_has(&b, x));
  /* at 300 000 ms the insertion rotates: x and y move to old, still remembered */
  dedup_bloom_add(&b, z, t0 + ROTATE_MS);
  for (int k = 0; k < 5; k++) assert_true(bit_set(b.old, pos[k]));
  assert_true(dedup_bloom_has(&b, x));
  assert_true(dedup_bloom_has(&b, y));
  assert_true(dedup_bloom_has(&b, z));
  /* not again before another full period from the rotation */
  dedup_bloom_add(&b, w, t0 + 2 * ROTATE_MS - 1);
  assert_true(dedup_bloom_has(&b, x));
  /* a second rotation forgets the first generation */
  assert_int_equal(dedup_bloom_seen(&b, id_of(14), t0 + 2 * ROTATE_MS), 0);
  assert_false(dedup_bloom_has(&b, x));
  assert_false(dedup_bloom_has(&b, y));
  assert_true(dedup_bloom_has(&b, z));
  assert_true(dedup_bloom_has(&b, w));
  assert_true(dedup_bloom_has(&b, id_of(14)));
  dedup_bloom_free(&b);
}

static void test_bloom_rotation_by_capacity(void **state) {
  (void)state;
  dedup_bloom b;
  /* 2^14 bits: capacity 16384 / 77 = 212 insertions per generation */
  assert_int_equal(dedup_bloom_init(&b, 14, 0), SW_OK);
  const unsigned cap = (1u << 14) / 77;
  assert_int_equal(b.capacity, cap);
  for (unsigned i = 0; i < cap; i++) assert_int_equal(dedup_bloom_seen(&b, id_of(i), 1), 0);
  /* full generation, same instant: nothing rotated yet, everything remembered */
  for (unsigned i = 0; i < cap; i++) assert_true(dedup_bloom_has(&b, id_of(i)));
  /* the next insertion rotates: the first batch is in old and still found */
  assert_int_equal(dedup_bloom_seen(&b, id_of(cap), 2), 0);
  for (unsigned i = 0; i <= cap; i++) assert_true(dedup_bloom_has(&b, id_of(i)));
  /* fill the new generation and rotate once more: the first batch is gone */
  for (unsigned i = cap + 1; i < 2 * cap; i++) dedup_bloom_add(&b, id_of(i), 3);
  dedup_bloom_add(&b, id_of(2 * cap), 4);
  unsigned still = 0;
  for (unsigned i = 0; i < cap; i++) still += (unsigned)dedup_bloom_has(&b, id_of(i));
  /* only false positives can remain: at this load well under 1 % */
  assert_true(still <= 2);
  for (unsigned i = cap; i <= 2 * cap; i++) assert_true(dedup_bloom_has(&b, id_of(i)));
  dedup_bloom_free(&b);
}

static void test_bloom_false_positive_rate(void **state) {
  (void)state;
  /* at capacity the filter must stay near its design rate (about 1e-6 per query) */
  dedup_bloom b;
  assert_int_equal(dedup_bloom_init(&b, 20, 0), SW_OK);
  unsigned cap = b.capacity;
  for (unsigned i = 0; i < cap; i++) dedup_bloom_add(&b, id_of(i), 0);
  unsigned fp = 0;
  for (unsigned i = 0; i < 200000; i++) fp += (unsigned)dedup_bloom_has(&b, id_of(1000000 + i));
  assert_true(fp <= 5);
  dedup_bloom_free(&b);
}

static void test_bloom_memory(void **state) {
  (void)state;
  dedup_bloom b;
  assert_int_equal(dedup_bloom_init(&b, 9, 0), SW_EINVAL);
  assert_int_equal(dedup_bloom_init(&b, 31, 0), SW_EINVAL);
  assert_int_equal(dedup_bloom_init(&b, 10, 0), SW_OK);
  assert_int_equal(dedup_bloom_bytes(&b), 2 * 128);
  dedup_bloom_free(&b);
  assert_int_equal(dedup_bloom_init(&b, 23, 0), SW_OK);
  assert_int_equal(dedup_bloom_bytes(&b), 2u << 20); /* the core default: 1 MiB each */
  dedup_bloom_free(&b);
  /* the references' size: 8 MiB per generation, 16 MiB in all (PROTOCOL.md 6.2) */
  assert_int_equal(dedup_bloom_init(&b, REF_BITS_LOG2, 0), SW_OK);
  assert_int_equal(dedup_bloom_bytes(&b), 16u << 20);
  uint64_t x = dedup_xor_hash((const uint8_t *)"hello", 5);
  dedup_bloom_add(&b, x, 0);
  /* in a reference-sized filter the bits sit at the reference positions (PROTOCOL.md 20) */
  static const uint32_t want[5] = {20852127, 39350406, 58950769, 36053072, 65486443};
  for (int k = 0; k < 5; k++) assert_true(bit_set(b.cur, want[k]));
  dedup_bloom_free(&b);
}

/* ---- the exact set the core uses ------------------------------------------ */

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xor_hash_vectors),
      cmocka_unit_test(test_xor_hash_spec_examples),
      cmocka_unit_test(test_bloom_position_vectors),
      cmocka_unit_test(test_bloom_positions_spec_example),
      cmocka_unit_test(test_bloom_basic),
      cmocka_unit_test(test_bloom_has_needs_one_generation),
      cmocka_unit_test(test_bloom_rotation_by_time),
      cmocka_unit_test(test_bloom_rotation_by_capacity),
      cmocka_unit_test(test_bloom_false_positive_rate),
      cmocka_unit_test(test_bloom_memory),
      cmocka_unit_test(test_set_basic),
      cmocka_unit_test(test_set_is_exact),
      cmocka_unit_test(test_set_probe_wraps),
      cmocka_unit_test(test_set_rotation_by_time),
      cmocka_unit_test(test_set_rotation_by_count),
      cmocka_unit_test(test_set_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
