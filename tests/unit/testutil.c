#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

json_t *tu_vectors(const char *name) {
  char path[1024];
  json_error_t err;
  snprintf(path, sizeof path, "%s/%s", SW_VECTORS_DIR, name);
  json_t *j = json_load_file(path, 0, &err);
  if (!j) fail_msg("cannot load %s: %s (line %d)", path, err.text, err.line);
  return j;
}

uint8_t *tu_unhex(const char *hex, size_t *len) {
  size_t n = strlen(hex) / 2;
  uint8_t *b = malloc(n ? n : 1);
  assert_non_null(b);
  int r = crypto_hex_decode(hex, b, n);
  if (r < 0) fail_msg("bad hex in vector: %.40s", hex);
  *len = (size_t)r;
  return b;
}

void tu_unhex_into(const char *hex, uint8_t *out, size_t len) {
  assert_int_equal(strlen(hex), 2 * len);
  assert_int_equal(crypto_hex_decode(hex, out, len), (int)len);
}

const char *tu_str(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_string(v)) fail_msg("vector field '%s' missing or not a string", key);
  return json_string_value(v);
}

const char *tu_hex(const uint8_t *b, size_t n) {
  static char bufs[4][4096];
  static int k;
  char *out = bufs[k++ & 3];
  if (n > 2047) n = 2047;
  crypto_hex_encode(b, n, out);
  return out;
}

uint64_t tu_rng_next(tu_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void tu_rng_bytes(void *ctx, uint8_t *buf, size_t len) {
  tu_rng *r = ctx;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t v = tu_rng_next(r);
    size_t n = len - i < 8 ? len - i : 8;
    memcpy(buf + i, &v, n);
  }
}
