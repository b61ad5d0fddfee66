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

/* ---- exact set ------------------------------------------------------------ */

/* 0 marks an empty slot, so the id 0 is stored as 1 (one more collision pair). */
static uint64_t set_key(uint64_t id) { return id ? id : 1; }

static size_t set_slot(uint64_t key, size_t mask) {
  /* ids are FNV outputs whose low bits are well mixed already; fold the top in. */
  return (size_t)(key ^ (key >> 29)) & mask;
}

int dedup_set_init(dedup_set *s, size_t slots_log2, uint64_t now_ms) {
  memset(s, 0, sizeof *s);
  if (slots_log2 < 4 || slots_log2 > 28) return SW_EINVAL;
  s->slots = (size_t)1 << slots_log2;
  s->cur = calloc(s->slots, sizeof *s->cur);
  s->old = calloc(s->slots, sizeof *s->old);
  if (!s->cur || !s->old) {
    dedup_set_free(s);
    return SW_ENOMEM;
  }
  s->rotated_at_ms = now_ms;
  return SW_OK;
}

void dedup_set_free(dedup_set *s) {
  free(s->cur);
  free(s->old);
  s->cur = s->old = NULL;
}

size_t dedup_set_bytes(const dedup_set *s) { return 2 * s->slots * sizeof(uint64_t); }

static int gen_has(const uint64_t *t, size_t slots, uint64_t key) {
  size_t mask = slots - 1;
  for (size_t i = set_slot(key, mask);; i = (i + 1) & mask) {
    if (t[i] == key) return 1;
    if (!t[i]) return 0; /* load stays <= 1/2: an empty slot is always reached */
  }
}

int dedup_set_has(const dedup_set *s, uint64_t id) {
  uint64_t key = set_key(id);
  return gen_has(s->cur, s->slots, key) || gen_has(s->old, s->slots, key);
}

void dedup_set_add(dedup_set *s, uint64_t id, uint64_t now_ms) {
  uint64_t key = set_key(id);
  size_t mask = s->slots - 1;
  if (s->count >= s->slots / 2 || now_ms - s->rotated_at_ms >= BLOOM_ROTATE_MS) {
    uint64_t *t = s->old;
    s->old = s->cur;
    s->cur = t;
    memset(s->cur, 0, s->slots * sizeof *s->cur);
    s->count = 0;
    s->rotated_at_ms = now_ms;
  }
  for (size_t i = set_slot(key, mask);; i = (i + 1) & mask) {
    if (s->cur[i] == key) return;
    if (!s->cur[i]) {
      s->cur[i] = key;
      s->count++;
      return;
    }
  }
}

int dedup_set_seen(dedup_set *s, uint64_t id, uint64_t now_ms) {
  if (dedup_set_has(s, id)) return 1;
  dedup_set_add(s, id, now_ms);
  return 0;
}
