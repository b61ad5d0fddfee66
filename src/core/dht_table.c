/* The DHT's tables: the routing table of k-buckets (PROTOCOL.md 14.6) and what other
 * nodes asked us to keep, STOREd values and topic-set records, each capped in entries,
 * per key and per source IP, and expired (D17). Declared in dht_state.h. */
#include <stdlib.h>
#include <string.h>

#include "dht_state.h"

#define same_ip dht_same_ip

static int addr_is_loopback(const sw_addr *a) {
  static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (a->family == 4 && a->ip[0] == 127) || (a->family == 6 && !memcmp(a->ip, v6, 16));
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
  int same_host = 0;
  for (int i = 0; i < DHT_K; i++) {
    if (e[i].used && memcmp(e[i].id, id, DHT_ID_LEN) == 0) {
      e[i].addr = *addr;
      e[i].seen = now;
      e[i].fails = 0;
      return;
    }
    if (!e[i].used && !slot) slot = &e[i];
    if (e[i].used && e[i].fails && (!worst || e[i].fails > worst->fails)) worst = &e[i];
    same_host += e[i].used && same_ip(&e[i].addr, addr);
  }
  /* Node ids are chosen freely (14.6; BEP 42 cannot be required of the references):
   * one IP holds at most RT_PER_IP entries of a bucket, so a few hosts cannot fill
   * the part of the table nearest a key with ids they picked. Loopback is exempt (a
   * host's own nodes, the interop tests). */
  if (same_host >= RT_PER_IP && !addr_is_loopback(addr)) return;
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

/* The oldest value that may make room for a new one: any when proven, else only an
 * unproven one, or one from src's IP when src is at its limit; SIZE_MAX if none. */
static size_t store_victim(const dht *d, int proven, const sw_addr *src) {
  size_t v = SIZE_MAX;
  for (size_t i = 0; i < d->nstore; i++) {
    const store_entry *e = &d->store[i];
    if (!proven && e->proven) continue;
    if (src && !same_ip(&e->src, src)) continue;
    if (v == SIZE_MAX || (!e->proven && d->store[v].proven) ||
        (e->proven == d->store[v].proven && e->expires < d->store[v].expires))
      v = i;
  }
  return v;
}

int dht_table_store_put(dht *d, const uint8_t key[DHT_ID_LEN], const char *v, size_t len,
                        const sw_addr *src, int proven, uint64_t now) {
  for (size_t i = 0; i < d->nstore; i++) {
    store_entry *e = &d->store[i];
    if (memcmp(e->key, key, DHT_ID_LEN) == 0) {
      /* a new value replaces the old, unless the old was written with a token and the
       * new one from elsewhere comes without */
      if (e->proven && !proven && !same_ip(&e->src, src)) return SW_EFULL;
      store_drop(d, i);
      break;
    }
  }
  size_t from_src = 0, open = 0, open_net = 0;
  for (size_t i = 0; i < d->nstore; i++) {
    const store_entry *e = &d->store[i];
    from_src += same_ip(&e->src, src);
    open += !e->proven;
    open_net += !e->proven && dht_same_net(&e->src, src);
  }
  if (from_src >= STORE_PER_SRC) { /* a source at its limit replaces its own oldest */
    size_t x = store_victim(d, proven, src);
    if (x == SIZE_MAX) return SW_EFULL;
    store_drop(d, x);
  } else if (!proven && (open >= STORE_OPEN_MAX || open_net >= STORE_OPEN_PER_NET)) {
    /* the tokenless space is full: its oldest goes (within the prefix at its limit) */
    size_t x = SIZE_MAX;
    for (size_t i = 0; i < d->nstore; i++) {
      const store_entry *e = &d->store[i];
      if (e->proven || (open < STORE_OPEN_MAX && !dht_same_net(&e->src, src))) continue;
      if (x == SIZE_MAX || e->expires < d->store[x].expires) x = i;
    }
    if (x == SIZE_MAX) return SW_EFULL;
    store_drop(d, x);
  }
  while (d->nstore && (d->nstore >= STORE_MAX || d->store_bytes + len > STORE_BYTES)) {
    size_t x = store_victim(d, proven, NULL);
    if (x == SIZE_MAX) return SW_EFULL;
    store_drop(d, x);
  }
  char *copy = malloc(len + 1);
  if (!copy) return SW_ENOMEM;
  memcpy(copy, v, len);
  copy[len] = 0;
  store_entry *e = &d->store[d->nstore++];
  memcpy(e->key, key, DHT_ID_LEN);
  e->value = copy;
  e->len = len;
  e->src = *src;
  e->expires = now + STORE_TTL_MS;
  e->proven = proven;
  d->store_bytes += len;
  return SW_OK;
}

const store_entry *dht_table_store_get(const dht *d, const uint8_t key[DHT_ID_LEN],
                                       uint64_t now) {
  for (size_t i = 0; i < d->nstore; i++)
    if (memcmp(d->store[i].key, key, DHT_ID_LEN) == 0 && d->store[i].expires > now)
      return &d->store[i];
  return NULL;
}

/* The oldest record not yet established among those match accepts; NULL if none. */
static ann_entry *ann_victim(dht *d, const uint8_t *key, const sw_addr *ip, const sw_addr *net,
                             uint64_t now) {
  ann_entry *v = NULL;
  for (int i = 0; i < ANN_MAX; i++) {
    ann_entry *e = &d->ann[i];
    if (!e->used || e->expires <= now || e->established) continue;
    if (key && memcmp(e->key, key, DHT_ID_LEN)) continue;
    if (ip && !same_ip(&e->src, ip)) continue;
    if (net && !dht_same_net(&e->src, net)) continue;
    if (!v || e->since < v->since) v = e;
  }
  return v;
}

int dht_table_ann_put(dht *d, const uint8_t key[DHT_ID_LEN], const uint8_t id[DHT_ID_LEN],
                      const sw_addr *addr, const sw_addr *src, uint64_t now) {
  ann_entry *same = NULL, *free_slot = NULL;
  size_t nkey = 0, nsrc = 0, nip_key = 0, nnet_key = 0, nprob_key = 0;
  for (int i = 0; i < ANN_MAX; i++) {
    ann_entry *e = &d->ann[i];
    if (!e->used || e->expires <= now) {
      e->used = 0;
      if (!free_slot) free_slot = e;
      continue;
    }
    int k = memcmp(e->key, key, DHT_ID_LEN) == 0;
    if (k && memcmp(e->id, id, DHT_ID_LEN) == 0) same = e;
    nkey += k;
    nprob_key += k && !e->established;
    nip_key += k && same_ip(&e->src, src);
    nnet_key += k && dht_same_net(&e->src, src);
    nsrc += same_ip(&e->src, src);
  }
  if (same) {
    /* Its owner refreshes it: from the same IP only, or a flood could re-point a live
     * member's record (a member that moved waits for its old record to expire). */
    if (!same_ip(&same->src, src)) return SW_EFULL;
    same->addr = *addr;
    same->expires = now + ANN_TTL_MS;
    if (now >= same->since + ANN_SETTLE_MS) same->established = 1;
    return SW_OK;
  }
  /* A limit that is reached makes room only among records not yet established, the
   * oldest in every set at its limit at once (so that no other limit is passed); when
   * there is none, the newcomer waits. */
  int key_full = nip_key >= ANN_PER_IP_KEY || nnet_key >= ANN_PER_NET_KEY ||
                 nkey >= ANN_PER_KEY || nprob_key >= ANN_PROBATION;
  int ip_full = nsrc >= ANN_PER_SRC || nip_key >= ANN_PER_IP_KEY;
  int net_full = nnet_key >= ANN_PER_NET_KEY;
  ann_entry *slot;
  if (key_full || ip_full)
    slot = ann_victim(d, key_full ? key : NULL, ip_full ? src : NULL, net_full ? src : NULL, now);
  else
    slot = free_slot ? free_slot : ann_victim(d, NULL, NULL, NULL, now);
  if (!slot) return SW_EFULL;
  slot->used = 1;
  slot->established = 0;
  memcpy(slot->key, key, DHT_ID_LEN);
  memcpy(slot->id, id, DHT_ID_LEN);
  slot->addr = *addr;
  slot->src = *src;
  slot->since = now;
  slot->expires = now + ANN_TTL_MS;
  return SW_OK;
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
  /* Established records first, each group the longest-held first: a flood of newcomers
   * sits behind the members that were there before it. A key holds at most
   * ANN_PER_KEY records (one per id). */
  const ann_entry *sel[ANN_PER_KEY];
  size_t k = 0;
  for (int i = 0; i < ANN_MAX && k < ANN_PER_KEY; i++) {
    const ann_entry *e = &d->ann[i];
    if (!e->used || e->expires <= now || memcmp(e->key, key, DHT_ID_LEN)) continue;
    size_t pos = k++;
    while (pos > 0 && (e->established > sel[pos - 1]->established ||
                       (e->established == sel[pos - 1]->established &&
                        e->since < sel[pos - 1]->since))) {
      sel[pos] = sel[pos - 1];
      pos--;
    }
    sel[pos] = e;
  }
  size_t n = k < max ? k : max;
  for (size_t i = 0; i < n; i++) {
    memcpy(out[i].id, sel[i]->id, DHT_ID_LEN);
    out[i].addr = sel[i]->addr;
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
