#include "dedup.h"

#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "crypto.h"
#include "setowire.h"

#define FNV_OFFSET 0x811C9DC5u /* PROTOCOL.md 6.2 */
#define FNV_PRIME 0x01000193u
#define HUGE_BYTES ((size_t)2 << 20) /* x86-64 and arm64 huge page */
#define DEDUP_ROTATE_MS 300000u /* PROTOCOL.md 19 BLOOM_ROTATE: generation lifetime */

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

/* ---- the local id ---------------------------------------------------------- */

#define K1 0x9E3779B185EBCA87ull /* odd constants with well spread bits */
#define K2 0xC2B2AE3D27D4EB4Full
#define K3 0x165667B19E3779F9ull
#define K4 0xD6E8FEB86659FD93ull

static uint64_t rotl64(uint64_t x, unsigned r) { return (x << r) | (x >> (64 - r)); }

static uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8); /* host order: the id is only compared inside this process */
  return v;
}

#if defined(__SIZEOF_INT128__)
/* The 64 x 64 -> 128-bit product folded to 64 bits: one multiply mixes 16 input bytes,
 * where the lanes below need two per 8. */
__extension__ typedef unsigned __int128 u128;
static uint64_t mum(uint64_t a, uint64_t b) {
  u128 r = (u128)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Four independent chains over 64-byte stripes (each step: the product of one input
 * word and the other word xored with the chain, added to the chain, so a product of
 * zero keeps what came before), then 16-byte steps, the zero-padded tail and the
 * length, then a final mix. About three times the bytes per cycle of the lanes. */
uint64_t dedup_id(const uint8_t *d, size_t len) {
  uint64_t a = K1, b = K2, c = K3, e = K4;
  size_t i = 0;
  for (; i + 64 <= len; i += 64) {
    a += mum(load64(d + i) ^ K1, load64(d + i + 8) ^ a);
    b += mum(load64(d + i + 16) ^ K2, load64(d + i + 24) ^ b);
    c += mum(load64(d + i + 32) ^ K3, load64(d + i + 40) ^ c);
    e += mum(load64(d + i + 48) ^ K4, load64(d + i + 56) ^ e);
  }
  uint64_t h = a ^ rotl64(b, 17) ^ rotl64(c, 31) ^ rotl64(e, 47);
  for (; i + 16 <= len; i += 16) h += mum(load64(d + i) ^ K2, load64(d + i + 8) ^ h);
  uint8_t t[16] = {0};
  memcpy(t, d + i, len - i);
  h += mum(load64(t) ^ K3, load64(t + 8) ^ h ^ (uint64_t)len);
  return mum(h ^ K4, (uint64_t)len ^ K1);
}
#else
static uint64_t lane(uint64_t acc, uint64_t w) { return rotl64(acc + w * K2, 31) * K1; }

uint64_t dedup_id(const uint8_t *d, size_t len) {
  uint64_t a = K1 + K2, b = K2, c = K3, e = K4, h;
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    a = lane(a, load64(d + i));
    b = lane(b, load64(d + i + 8));
    c = lane(c, load64(d + i + 16));
    e = lane(e, load64(d + i + 24));
  }
  h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(e, 18) + (uint64_t)len * K3;
  for (; i + 8 <= len; i += 8) h = rotl64(h ^ lane(0, load64(d + i)), 27) * K1 + K4;
  for (; i < len; i++) h = rotl64(h ^ (d[i] * K3), 11) * K1;
  /* final avalanche: every input bit reaches every output bit */
  h ^= h >> 33;
  h *= K2;
  h ^= h >> 29;
  h *= K3;
  h ^= h >> 32;
  return h;
}
#endif

void dedup_xor_hash_text(uint64_t h, char out[17]) {
  uint8_t be[8];
  for (int i = 7; i >= 0; i--, h >>= 8) be[i] = (uint8_t)h;
  crypto_hex_encode(be, 8, out);
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
  size_t bytes = 2 * s->slots * sizeof *s->base;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  /* Lookups land on random slots of a table larger than the caches: with 4 KiB pages
   * nearly each one misses the TLB too, and the page walk cost as much as the line.
   * Aligned to a huge page and marked for it, the 2 MiB table is one page. */
  if (bytes >= HUGE_BYTES) {
    void *m = NULL;
    if (posix_memalign(&m, HUGE_BYTES, bytes) == 0) {
      (void)madvise(m, bytes, MADV_HUGEPAGE);
      memset(m, 0, bytes);
      s->base = m;
    }
  }
#endif
  if (!s->base) s->base = calloc(2 * s->slots, sizeof *s->base);
  if (!s->base) return SW_ENOMEM;
  s->cur = s->base;
  s->old = s->base + 1;
  s->rotated_at_ms = now_ms;
  return SW_OK;
}

void dedup_set_free(dedup_set *s) {
  free(s->base);
  s->base = s->cur = s->old = NULL;
}

size_t dedup_set_bytes(const dedup_set *s) { return 2 * s->slots * sizeof(uint64_t); }

/* A generation's slot i is t[2 * i] (interleaved with the other's). */
static int gen_has(const uint64_t *t, size_t slots, uint64_t key) {
  size_t mask = slots - 1;
  for (size_t i = set_slot(key, mask);; i = (i + 1) & mask) {
    if (t[2 * i] == key) return 1;
    if (!t[2 * i]) return 0; /* load stays <= 1/2: an empty slot is always reached */
  }
}

/* Pending ids: added, their slot's cache line asked for (prefetch), not yet written
 * into the table; written DEDUP_PENDING adds later, when the line has arrived. */
static int pend_has(const dedup_set *s, uint64_t key) {
  for (size_t k = 0; k < s->npend; k++)
    if (s->pend[(s->phead + k) % DEDUP_PENDING] == key) return 1;
  return 0;
}

static void insert(dedup_set *s, uint64_t key) {
  size_t mask = s->slots - 1;
  for (size_t i = set_slot(key, mask);; i = (i + 1) & mask) {
    if (s->cur[2 * i] == key) return;
    if (!s->cur[2 * i]) {
      s->cur[2 * i] = key;
      s->count++;
      return;
    }
  }
}

static void pend_flush_one(dedup_set *s) {
  insert(s, s->pend[s->phead]);
  s->phead = (s->phead + 1) % DEDUP_PENDING;
  s->npend--;
}

int dedup_set_has(const dedup_set *s, uint64_t id) {
  uint64_t key = set_key(id);
  return pend_has(s, key) || gen_has(s->cur, s->slots, key) || gen_has(s->old, s->slots, key);
}

void dedup_set_add(dedup_set *s, uint64_t id, uint64_t now_ms) {
  uint64_t key = set_key(id);
  if (pend_has(s, key)) return;
  /* count + npend bounds the generation's ids (a pending id may be in it already) */
  if (s->count + s->npend >= s->slots / 2 || now_ms - s->rotated_at_ms >= DEDUP_ROTATE_MS) {
    while (s->npend) pend_flush_one(s); /* they belong to the generation being retired */
    uint64_t *t = s->old;
    s->old = s->cur;
    s->cur = t;
    for (size_t i = 0; i < s->slots; i++) s->cur[2 * i] = 0;
    s->count = 0;
    s->rotated_at_ms = now_ms;
  }
  if (s->npend == DEDUP_PENDING) pend_flush_one(s);
  __builtin_prefetch(&s->cur[2 * set_slot(key, s->slots - 1)], 1);
  s->pend[(s->phead + s->npend) % DEDUP_PENDING] = key;
  s->npend++;
}

void dedup_set_prefetch(const dedup_set *s, uint64_t id) {
  __builtin_prefetch(&s->cur[2 * set_slot(set_key(id), s->slots - 1)], 0);
}

int dedup_set_seen(dedup_set *s, uint64_t id, uint64_t now_ms) {
  if (dedup_set_has(s, id)) return 1;
  dedup_set_add(s, id, now_ms);
  return 0;
}
