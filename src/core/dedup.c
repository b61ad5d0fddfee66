#include "dedup.h"

#include <stdlib.h>
#include <string.h>

#include "setowire.h"

#define FNV_OFFSET 0x811C9DC5u /* PROTOCOL.md 6.2 */
#define FNV_PRIME 0x01000193u
#define BLOOM_HASHES 5              /* PROTOCOL.md 19 BLOOM_HASHES */
#define BLOOM_ROTATE_MS 300000u     /* PROTOCOL.md 19 BLOOM_ROTATE */

uint64_t dedup_xor_hash(const uint8_t *d, size_t len) {
  uint32_t a = FNV_OFFSET, b = FNV_OFFSET;
  size_t i = 0;
  for (; i + 1 < len; i += 2) {
    a = (a ^ d[i]) * FNV_PRIME;
    b = (b ^ d[i + 1]) * FNV_PRIME;
  }
  if (i < len) a = (a ^ d[i]) * FNV_PRIME;
  return (uint64_t)a << 32 | b;
}

void dedup_xor_hash_text(uint64_t h, char out[17]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--) {
    out[i] = digits[h & 15];
    h >>= 4;
  }
  out[16] = 0;
}

void dedup_bloom_positions(const char *key, size_t keylen, unsigned bits_log2,
                           uint32_t out[5]) {
  uint32_t mask = bits_log2 >= 32 ? 0xffffffffu : ((1u << bits_log2) - 1);
  for (uint32_t i = 0; i < BLOOM_HASHES; i++) {
    uint32_t h = FNV_OFFSET + i * FNV_PRIME;
    for (size_t j = 0; j < keylen; j++) h = (h ^ (uint8_t)key[j]) * FNV_PRIME;
    out[i] = h & mask;
  }
}

int dedup_bloom_init(dedup_bloom *b, unsigned bits_log2, uint64_t now_ms) {
  memset(b, 0, sizeof *b);
  if (bits_log2 < 10 || bits_log2 > 30) return SW_EINVAL;
  size_t bytes = (size_t)1 << (bits_log2 - 3);
  b->cur = calloc(1, bytes);
  b->old = calloc(1, bytes);
  if (!b->cur || !b->old) {
    dedup_bloom_free(b);
    return SW_ENOMEM;
  }
  b->bits_log2 = bits_log2;
  /* k = 5: a false-positive rate of 1e-6 needs about 77 bits per entry. */
  b->capacity = (uint32_t)(((uint64_t)1 << bits_log2) / 77);
  b->rotated_at_ms = now_ms;
  b->rotate_ms = BLOOM_ROTATE_MS;
  return SW_OK;
}

void dedup_bloom_free(dedup_bloom *b) {
  free(b->cur);
  free(b->old);
  b->cur = b->old = NULL;
}

size_t dedup_bloom_bytes(const dedup_bloom *b) {
  return b->cur ? 2 * ((size_t)1 << (b->bits_log2 - 3)) : 0;
}

static void positions(const dedup_bloom *b, uint64_t id, uint32_t pos[5]) {
  char text[17];
  dedup_xor_hash_text(id, text);
  dedup_bloom_positions(text, 16, b->bits_log2, pos);
}

static int all_set(const uint8_t *bits, const uint32_t pos[5]) {
  for (int i = 0; i < BLOOM_HASHES; i++)
    if (!(bits[pos[i] >> 3] & (1u << (pos[i] & 7)))) return 0;
  return 1;
}

int dedup_bloom_has(const dedup_bloom *b, uint64_t id) {
  uint32_t pos[5];
  positions(b, id, pos);
  return all_set(b->cur, pos) || all_set(b->old, pos);
}

static void bloom_add_pos(dedup_bloom *b, const uint32_t pos[5], uint64_t now_ms) {
  if (now_ms - b->rotated_at_ms >= b->rotate_ms || b->count >= b->capacity) {
    uint8_t *t = b->old;
    b->old = b->cur;
    b->cur = t;
    memset(b->cur, 0, (size_t)1 << (b->bits_log2 - 3));
    b->count = 0;
    b->rotated_at_ms = now_ms;
  }
  for (int i = 0; i < BLOOM_HASHES; i++) b->cur[pos[i] >> 3] |= (uint8_t)(1u << (pos[i] & 7));
  b->count++;
}

void dedup_bloom_add(dedup_bloom *b, uint64_t id, uint64_t now_ms) {
  uint32_t pos[5];
  positions(b, id, pos);
  bloom_add_pos(b, pos, now_ms);
}

int dedup_bloom_seen(dedup_bloom *b, uint64_t id, uint64_t now_ms) {
  uint32_t pos[5];
  positions(b, id, pos);
  if (all_set(b->cur, pos) || all_set(b->old, pos)) return 1;
  bloom_add_pos(b, pos, now_ms);
  return 0;
}
