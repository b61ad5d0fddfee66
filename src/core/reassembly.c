/* FRAG reassembly: see reassembly.h. */
#include "reassembly.h"

#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "paths.h"

/* Bytes a set holds against the budgets: its pieces' room, charged when it opens. */
static size_t set_cost(unsigned count) { return (size_t)count * (WIRE_FRAG_DATA_MAX + 1); }

static void set_free(sw_core *c, frag_set *f) {
  if (f->used) c->frag_bytes -= set_cost(f->count);
  free(f->data);
  free(f->have);
  memset(f, 0, sizeof *f);
}

/* The set for this fragment id, or a new one; NULL when over budget. A new set first
 * makes room within this peer's own share (FRAG_SETS sets, FRAG_PEER_BUDGET bytes) by
 * dropping the peer's oldest sets, so one peer can hold at most a quarter of the
 * engine's FRAG_BUDGET and never take another peer's room (D17). */
static frag_set *set_for(sw_core *c, core_peer *p, const wire_frag *f, uint64_t now) {
  size_t cost = set_cost(f->count), held = 0;
  frag_set *s = NULL;
  for (int i = 0; i < FRAG_SETS; i++) {
    frag_set *x = &p->frags[i];
    if (x->used && memcmp(x->id, f->frag_id, 8) == 0) return x;
    if (x->used) held += set_cost(x->count);
  }
  if (cost > FRAG_PEER_BUDGET) {
    c->stats.rx_dropped++;
    return NULL;
  }
  for (;;) {
    frag_set *oldest = NULL;
    s = NULL;
    for (int i = 0; i < FRAG_SETS; i++) {
      frag_set *x = &p->frags[i];
      if (!x->used) s = x;
      else if (!oldest || x->expires < oldest->expires) oldest = x;
    }
    if (s && held + cost <= FRAG_PEER_BUDGET) break;
    held -= set_cost(oldest->count); /* oldest is set: some set is used, or we broke */
    set_free(c, oldest);
  }
  if (c->frag_bytes + cost > FRAG_BUDGET) {
    c->stats.rx_dropped++;
    return NULL;
  }
  s->data = malloc((size_t)f->count * WIRE_FRAG_DATA_MAX);
  s->have = calloc(f->count, 1);
  if (!s->data || !s->have) {
    free(s->data);
    free(s->have);
    memset(s, 0, sizeof *s);
    return NULL;
  }
  c->frag_bytes += cost;
  s->used = 1;
  memcpy(s->id, f->frag_id, 8);
  s->count = f->count;
  s->expires = now + FRAG_TIMEOUT_MS;
  return s;
}

void reasm_on_frag(void *core, const core_path *from, const uint8_t *buf, size_t len,
                   uint64_t now) {
  sw_core *c = core;
  int pi;
  wire_frag f;
  core_peer *p = paths_find_peer(c, from, &pi);
  /* Plaintext FRAG only from a peer that identified itself as a reference (D1). */
  if (!p || !p->legacy || wire_frag_decode(buf, len, &f)) {
    c->stats.rx_dropped++;
    return;
  }
  if ((size_t)f.count * WIRE_FRAG_DATA_MAX > FRAG_MAX_MESSAGE) return;
  /* Every piece but the last is full-size; anything else is not a reference sender. */
  if (f.index + 1 < f.count && f.len != WIRE_FRAG_DATA_MAX) return;
  frag_set *s = set_for(c, p, &f, now);
  if (!s || f.count != s->count || s->have[f.index]) return;
  memcpy(s->data + (size_t)f.index * WIRE_FRAG_DATA_MAX, f.data, f.len);
  s->have[f.index] = 1;
  if (f.index + 1 == f.count) s->last_len = (uint32_t)f.len;
  if (++s->got < s->count) return;
  size_t total = (size_t)(s->count - 1) * WIRE_FRAG_DATA_MAX + s->last_len;
  uint8_t *msg = s->data;
  s->data = NULL;
  set_free(c, s);
  delivery_deliver(c, p, msg, total, now);
  free(msg);
}

void reasm_expire(sw_core *c, core_peer *p, uint64_t now) {
  for (int i = 0; i < FRAG_SETS; i++)
    if (p->frags[i].used && now >= p->frags[i].expires) set_free(c, &p->frags[i]);
}

uint64_t reasm_deadline(const core_peer *p) {
  uint64_t t = UINT64_MAX;
  for (int i = 0; i < FRAG_SETS; i++)
    if (p->frags[i].used && p->frags[i].expires < t) t = p->frags[i].expires;
  return t;
}

void reasm_clear(sw_core *c, core_peer *p) {
  for (int i = 0; i < FRAG_SETS; i++) set_free(c, &p->frags[i]);
}
