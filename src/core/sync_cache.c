/* The in-memory store of the store/fetch module: an LRU bounded in entries and bytes
 * (PROTOCOL.md 12, D17), hashed by key. Declared in sync_state.h. */
#include <stdlib.h>
#include <string.h>

#include "sync_state.h"

uint32_t sync_key_hash(const uint8_t *k, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 16777619u;
  return h;
}

void sync_cache_init(sync_cache *c, size_t max, size_t bytes_max) {
  memset(c, 0, sizeof *c);
  c->max = max ? max : SYNC_CACHE_MAX;
  c->bytes_max = bytes_max ? bytes_max : DEFAULT_CACHE_BYTES;
}

cent *sync_cache_find(sync_cache *c, const uint8_t *k, size_t n) {
  uint32_t h = sync_key_hash(k, n);
  for (cent *e = c->buckets[h % CACHE_BUCKETS]; e; e = e->hnext)
    if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0) return e;
  return NULL;
}

static void lru_unlink(sync_cache *c, cent *e) {
  if (e->prev) e->prev->next = e->next; else c->lru_head = e->next;
  if (e->next) e->next->prev = e->prev; else c->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_append(sync_cache *c, cent *e) {
  e->prev = c->lru_tail;
  e->next = NULL;
  if (c->lru_tail) c->lru_tail->next = e; else c->lru_head = e;
  c->lru_tail = e;
}

static size_t cent_cost(size_t klen, size_t vlen) { return sizeof(cent) + klen + 1 + vlen; }

static void cache_remove(sync_cache *c, cent *e) {
  cent **pp = &c->buckets[e->hash % CACHE_BUCKETS];
  while (*pp != e) pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink(c, e);
  c->n--;
  c->bytes -= cent_cost(e->klen, e->vlen);
  free(e->val);
  free(e);
}

/* Touching moves an entry to the most recently used end (the references' "LRU" is in
 * fact FIFO, 12; ours is a true LRU, a local choice). */
void sync_cache_touch(sync_cache *c, cent *e) {
  lru_unlink(c, e);
  lru_append(c, e);
}

int sync_cache_put(sync_cache *c, const uint8_t *k, size_t n, const uint8_t *v, size_t vlen) {
  size_t cost = cent_cost(n, vlen);
  if (cost > c->bytes_max) return SW_EMSGSIZE;
  cent *old = sync_cache_find(c, k, n);
  if (old) cache_remove(c, old);
  while (c->lru_head && (c->n >= c->max || c->bytes + cost > c->bytes_max))
    cache_remove(c, c->lru_head);
  cent *e = malloc(sizeof *e + n + 1);
  uint8_t *copy = malloc(vlen);
  if (!e || !copy) {
    free(e);
    free(copy);
    return SW_ENOMEM;
  }
  memcpy(copy, v, vlen);
  memcpy(e->key, k, n);
  e->key[n] = 0;
  e->klen = n;
  e->val = copy;
  e->vlen = vlen;
  e->hash = sync_key_hash(k, n);
  e->prev = e->next = NULL;
  e->hnext = c->buckets[e->hash % CACHE_BUCKETS];
  c->buckets[e->hash % CACHE_BUCKETS] = e;
  lru_append(c, e);
  c->n++;
  c->bytes += cost;
  return SW_OK;
}

size_t sync_cache_oldest(const sync_cache *c, sync_key *keys, size_t max) {
  size_t n = 0;
  for (const cent *e = c->lru_head; e && n < max; e = e->next)
    keys[n++] = (sync_key){(const uint8_t *)e->key, e->klen};
  return n;
}

void sync_cache_clear(sync_cache *c) {
  while (c->lru_head) cache_remove(c, c->lru_head);
}

int sync_cache_remove(sync_cache *c, const uint8_t *k, size_t n) {
  cent *e = sync_cache_find(c, k, n);
  if (!e) return 0;
  cache_remove(c, e);
  return 1;
}
