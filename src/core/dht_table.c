/* The DHT's tables: the routing table of k-buckets (PROTOCOL.md 14.6) and what other
 * nodes asked us to keep, STOREd values and topic-set records, each capped in entries,
 * per key and per source IP, and expired (D17). Declared in dht_state.h. */
#include <stdlib.h>
#include <string.h>

#include "dht_state.h"

static int same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

int dht_bucket_index(const uint8_t self[DHT_ID_LEN], const uint8_t other[DHT_ID_LEN]) {
  for (int i = 0; i < DHT_ID_LEN; i++) {
    uint8_t d = self[i] ^ other[i];
    if (!d) continue;
    int hb = 7;
    while (!(d & 0x80)) {
      d = (uint8_t)(d << 1);
      hb--;
    }
    return 8 * i + hb;
  }
  return DHT_BUCKETS - 1; /* 14.6: identical ids */
}

/* ---- routing table ------------------------------------------------------------- */

size_t dht_table_count(const dht *d) {
  size_t n = 0;
  for (int b = 0; b < DHT_BUCKETS; b++)
    if (d->buckets[b])
      for (int i = 0; i < DHT_K; i++) n += d->buckets[b][i].used;
  return n;
}

/* 14.6: a node we heard from directly. A full bucket keeps its nodes unless one of
 * them stopped answering (the references discard the newcomer always). */
void dht_table_add(dht *d, const uint8_t id[DHT_ID_LEN], const sw_addr *addr, uint64_t now) {
  if (memcmp(id, d->self, DHT_ID_LEN) == 0) return;
  int b = dht_bucket_index(d->self, id);
  if (!d->buckets[b]) {
    d->buckets[b] = calloc(DHT_K, sizeof(rt_entry));
    if (!d->buckets[b]) return;
  }
  rt_entry *e = d->buckets[b], *slot = NULL, *worst = NULL;
  for (int i = 0; i < DHT_K; i++) {
    if (e[i].used && memcmp(e[i].id, id, DHT_ID_LEN) == 0) {
      e[i].addr = *addr;
      e[i].seen = now;
      e[i].fails = 0;
      return;
    }
    if (!e[i].used && !slot) slot = &e[i];
    if (e[i].used && e[i].fails && (!worst || e[i].fails > worst->fails)) worst = &e[i];
  }
  if (!slot) slot = worst;
  if (!slot) return;
  memcpy(slot->id, id, DHT_ID_LEN);
  slot->addr = *addr;
  slot->seen = now;
  slot->fails = 0;
  slot->used = 1;
}

static rt_entry *rt_find(dht *d, const uint8_t id[DHT_ID_LEN]) {
  rt_entry *e = d->buckets[dht_bucket_index(d->self, id)];
  if (!e) return NULL;
  for (int i = 0; i < DHT_K; i++)
    if (e[i].used && memcmp(e[i].id, id, DHT_ID_LEN) == 0) return &e[i];
  return NULL;
}

void dht_table_failed(dht *d, const uint8_t id[DHT_ID_LEN]) {
  rt_entry *e = rt_find(d, id);
  if (e && ++e->fails >= RT_MAX_FAILS) e->used = 0;
}

/* Up to max known nodes closest to target, closest first. */
size_t dht_table_closest(const dht *d, const uint8_t *target, dht_node *out, size_t max) {
  size_t n = 0;
  for (int b = 0; b < DHT_BUCKETS; b++) {
    const rt_entry *e = d->buckets[b];
    if (!e) continue;
    for (int i = 0; i < DHT_K; i++) {
      if (!e[i].used) continue;
      size_t pos = n;
      while (pos > 0 && dht_dist_cmp(e[i].id, out[pos - 1].id, target) < 0) pos--;
      if (pos >= max) continue;
      size_t last = n < max ? n : max - 1;
      memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof *out);
      memcpy(out[pos].id, e[i].id, DHT_ID_LEN);
      out[pos].addr = e[i].addr;
      if (n < max) n++;
    }
  }
  return n;
}

/* ---- stores --------------------------------------------------------------------- */

static void store_drop(dht *d, size_t i) {
  d->store_bytes -= d->store[i].len;
  free(d->store[i].value);
  d->store[i] = d->store[--d->nstore];
}

void dht_table_store_put(dht *d, const uint8_t key[DHT_ID_LEN], const char *v, size_t len,
                         const sw_addr *src, uint64_t now) {
  size_t from_src = 0, oldest_src = SIZE_MAX, oldest = SIZE_MAX;
  for (size_t i = 0; i < d->nstore; i++) {
    store_entry *e = &d->store[i];
    if (memcmp(e->key, key, DHT_ID_LEN) == 0) { /* a new value replaces the old */
      store_drop(d, i);
      break;
    }
  }
  for (size_t i = 0; i < d->nstore; i++) {
    store_entry *e = &d->store[i];
    if (same_ip(&e->src, src)) {
      from_src++;
      if (oldest_src == SIZE_MAX || e->expires < d->store[oldest_src].expires) oldest_src = i;
    }
    if (oldest == SIZE_MAX || e->expires < d->store[oldest].expires) oldest = i;
  }
  if (from_src >= STORE_PER_SRC) {
    store_drop(d, oldest_src);
  } else {
    while (d->nstore && (d->nstore >= STORE_MAX || d->store_bytes + len > STORE_BYTES)) {
      oldest = 0;
      for (size_t i = 1; i < d->nstore; i++)
        if (d->store[i].expires < d->store[oldest].expires) oldest = i;
      store_drop(d, oldest);
    }
  }
  char *copy = malloc(len + 1);
  if (!copy) return;
  memcpy(copy, v, len);
  copy[len] = 0;
  store_entry *e = &d->store[d->nstore++];
  memcpy(e->key, key, DHT_ID_LEN);
  e->value = copy;
  e->len = len;
  e->src = *src;
  e->expires = now + STORE_TTL_MS;
  d->store_bytes += len;
}

const store_entry *dht_table_store_get(const dht *d, const uint8_t key[DHT_ID_LEN],
                                       uint64_t now) {
  for (size_t i = 0; i < d->nstore; i++)
    if (memcmp(d->store[i].key, key, DHT_ID_LEN) == 0 && d->store[i].expires > now)
      return &d->store[i];
  return NULL;
}

void dht_table_ann_put(dht *d, const uint8_t key[DHT_ID_LEN], const uint8_t id[DHT_ID_LEN],
                       const sw_addr *addr, const sw_addr *src, uint64_t now) {
  ann_entry *same = NULL, *free_slot = NULL, *old_key = NULL, *old_src = NULL, *old_all = NULL;
  size_t nkey = 0, nsrc = 0;
  for (int i = 0; i < ANN_MAX; i++) {
    ann_entry *e = &d->ann[i];
    if (!e->used || e->expires <= now) {
      e->used = 0;
      if (!free_slot) free_slot = e;
      continue;
    }
    if (memcmp(e->key, key, DHT_ID_LEN) == 0) {
      if (memcmp(e->id, id, DHT_ID_LEN) == 0) same = e;
      nkey++;
      if (!old_key || e->expires < old_key->expires) old_key = e;
    }
    if (same_ip(&e->src, src)) {
      nsrc++;
      if (!old_src || e->expires < old_src->expires) old_src = e;
    }
    if (!old_all || e->expires < old_all->expires) old_all = e;
  }
  ann_entry *slot = same;
  if (!slot && nsrc >= ANN_PER_SRC) slot = old_src;
  if (!slot && nkey >= ANN_PER_KEY) slot = old_key;
  if (!slot) slot = free_slot ? free_slot : old_all;
  if (!slot) return;
  slot->used = 1;
  memcpy(slot->key, key, DHT_ID_LEN);
  memcpy(slot->id, id, DHT_ID_LEN);
  slot->addr = *addr;
  slot->src = *src;
  slot->expires = now + ANN_TTL_MS;
}

void dht_table_sweep(dht *d, uint64_t now) {
  d->next_sweep = now + SWEEP_MS;
  for (size_t i = 0; i < d->nstore;) {
    if (d->store[i].expires <= now)
      store_drop(d, i);
    else
      i++;
  }
  for (int i = 0; i < ANN_MAX; i++)
    if (d->ann[i].used && d->ann[i].expires <= now) d->ann[i].used = 0;
}

size_t dht_table_ann_get(const dht *d, const uint8_t key[DHT_ID_LEN], dht_node *out,
                         size_t max, uint64_t now) {
  size_t n = 0;
  for (int i = ANN_MAX - 1; i >= 0 && n < max; i--) {
    const ann_entry *e = &d->ann[i];
    if (!e->used || e->expires <= now || memcmp(e->key, key, DHT_ID_LEN)) continue;
    memcpy(out[n].id, e->id, DHT_ID_LEN);
    out[n++].addr = e->addr;
  }
  return n;
}

size_t dht_table_ann_count(const dht *d) {
  size_t n = 0;
  for (int i = 0; i < ANN_MAX; i++) n += d->ann[i].used;
  return n;
}

size_t dht_table_memory(const dht *d) {
  size_t n = 0;
  for (int b = 0; b < DHT_BUCKETS; b++)
    if (d->buckets[b]) n += DHT_K * sizeof(rt_entry);
  return n;
}

void dht_table_free(dht *d) {
  for (int b = 0; b < DHT_BUCKETS; b++) free(d->buckets[b]);
  for (size_t i = 0; i < d->nstore; i++) free(d->store[i].value);
  free(d->ann);
}
