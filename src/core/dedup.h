/* Duplicate suppression (PROTOCOL.md 6.2): the references' xor_hash message id and a
 * two-generation set of ids. Local behaviour, but flooding relies on it to stop. */
#ifndef SW_CORE_DEDUP_H
#define SW_CORE_DEDUP_H

#include <stddef.h>
#include <stdint.h>

/* Two FNV-1a style 32-bit accumulators over even and odd bytes: a = bytes 0,2,4...,
 * b = bytes 1,3,5... The reference's 16-hex-char id is hex(u32be(a) || u32be(b)). */
uint64_t dedup_xor_hash(const uint8_t *data, size_t len);
/* The id the local duplicate set keeps for a message: a 64-bit hash of its content that
 * reads 64 bytes per step (four independent chains, each folding a 64 x 64 -> 128-bit
 * product per 16 bytes where the compiler has one, else four multiply-rotate lanes over
 * 32 bytes), then a final mix, so a 60 KB message costs about a microsecond instead of
 * the tens that dedup_xor_hash's byte-at-a-time FNV costs. The id never leaves the process (no reference sees it), so
 * it need not be the references' one; like it, it is not keyed. */
uint64_t dedup_id(const uint8_t *data, size_t len);
/* The 16 lowercase hex chars of the id (the bloom key text of the references). */
void dedup_xor_hash_text(uint64_t h, char out[17]);
/* An exact set of message ids in two generations, where the references keep a bloom
 * filter of 2 x 2^26 bits. A bloom filter drops a fresh message whenever its bits
 * happen to be set (about 1 in 10^6 at a sensible size, which at a million messages
 * a second is a silent loss every second); an exact set errs only on a true 64-bit id
 * collision. 8 bytes per remembered id.
 * A generation is retired when half full or after 300 s, so an id is remembered for
 * at least min(slots/2 - DEDUP_PENDING messages, 300 s). */
#define DEDUP_PENDING 8
typedef struct dedup_set {
  /* The two generations are interleaved in one array, slot i of each side by side
   * (cur[2 * i], old[2 * i]), so that checking both for one id touches one cache line
   * where two separate tables cost two misses (the set is far larger than the caches:
   * the miss was a sixth of each process's CPU at 100-byte messages). */
  uint64_t *cur, *old; /* each points into `base`, entries at even offsets */
  uint64_t *base;
  /* The last ids added wait here while their slot's line is fetched (a prefetch at
   * add, the write DEDUP_PENDING adds later): the sender adds every message it writes,
   * and the miss no longer stalls it. has() looks here first. */
  uint64_t pend[DEDUP_PENDING];
  size_t phead, npend;
  size_t slots; /* per generation, a power of two */
  size_t count;
  uint64_t rotated_at_ms;
} dedup_set;

int dedup_set_init(dedup_set *s, size_t slots_log2, uint64_t now_ms);
void dedup_set_free(dedup_set *s);
size_t dedup_set_bytes(const dedup_set *s);
int dedup_set_has(const dedup_set *s, uint64_t id);
void dedup_set_add(dedup_set *s, uint64_t id, uint64_t now_ms);
/* Ask for the cache line id's lookup will read first (both generations share it): a
 * caller with several ids to look up prefetches them all first. */
void dedup_set_prefetch(const dedup_set *s, uint64_t id);
/* has() then add(): 1 if it was already there. */
int dedup_set_seen(dedup_set *s, uint64_t id, uint64_t now_ms);

#endif
