/* Peer cache module: see peercache.h. Section numbers refer to docs/PROTOCOL.md. */
#include "peercache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "crypto.h"

typedef struct pc_entry {
  int used;
  uint8_t id[20];
  uint8_t idlen;
  sw_addr addr;
  int64_t last_seen; /* Unix ms: comparable across runs once saved and loaded */
  int hint;          /* only heard of in a peer list (PEX): evicted first, bounded */
} pc_entry;

struct peercache {
  sw_core *c;
  pc_entry e[PEERCACHE_MAX];
  size_t n;
  int64_t unix_offset; /* add to the core's clock to get Unix ms */
  uint64_t next_emit;
  int dialled;
  int (*save)(void *ctx, const sw_peer_entry *list, size_t n);
  void *ctx;
  sw_peer_entry out[PEERCACHE_EMIT]; /* the emitted list; no allocation per emit */
};

/* Room for a new entry: a free slot, else the oldest hint, else (for a verified entry
 * only) the oldest entry; NULL when a hint finds none, or when hints are at their bound
 * and none is older to replace. */
static pc_entry *room(peercache *pc, int hint) {
  pc_entry *free_slot = NULL, *old_hint = NULL, *oldest = NULL;
  size_t hints = 0;
  for (size_t i = 0; i < PEERCACHE_MAX; i++) {
    pc_entry *x = &pc->e[i];
    if (!x->used) {
      if (!free_slot) free_slot = x;
      continue;
    }
    if (x->hint) {
      hints++;
      if (!old_hint || x->last_seen < old_hint->last_seen) old_hint = x;
    }
    if (!oldest || x->last_seen < oldest->last_seen) oldest = x;
  }
  if (hint) return hints >= PEERCACHE_HINTS || !free_slot ? old_hint : free_slot;
  return free_slot ? free_slot : old_hint ? old_hint : oldest;
}

static void put(peercache *pc, const uint8_t *id, size_t idlen, const sw_addr *a,
                int64_t seen, int hint) {
  pc_entry *slot = NULL;
  if (!a || (a->family != 4 && a->family != 6) || !a->port) return;
  if (idlen != 8 && idlen != 20) idlen = 0;
  for (size_t i = 0; i < PEERCACHE_MAX && !slot; i++)
    if (pc->e[i].used && addr_equal(&pc->e[i].addr, a)) slot = &pc->e[i];
  /* What a peer list says never changes an entry we met ourselves (issue 11). */
  if (slot && hint && !slot->hint) return;
  if (!slot) {
    slot = room(pc, hint);
    if (!slot) return;
    if (!slot->used) pc->n++;
    memset(slot, 0, sizeof *slot);
    slot->used = 1;
    slot->addr = *a;
    slot->hint = hint;
  }
  if (!hint) slot->hint = 0;
  /* A full id is worth more than a wire id: keep it when they agree. */
  if (idlen && !(slot->idlen == 20 && idlen == 8 && memcmp(slot->id, id, 8) == 0)) {
    memcpy(slot->id, id, idlen);
    slot->idlen = (uint8_t)idlen;
  }
  if (seen > slot->last_seen) slot->last_seen = seen;
}

void peercache_add(peercache *pc, const uint8_t *id, size_t idlen, const sw_addr *a,
                   uint64_t now) {
  if (pc) put(pc, id, idlen, a, (int64_t)now + pc->unix_offset, 0);
}

void peercache_hint(peercache *pc, const uint8_t *id, size_t idlen, const sw_addr *a,
                    uint64_t now) {
  if (pc) put(pc, id, idlen, a, (int64_t)now + pc->unix_offset, 1);
}

static int newer(const void *x, const void *y) {
  const pc_entry *a = *(const pc_entry *const *)x, *b = *(const pc_entry *const *)y;
  return a->last_seen < b->last_seen ? 1 : a->last_seen > b->last_seen ? -1 : 0;
}

/* Pointers to the used entries, newest first; returns how many. */
static size_t sorted(const peercache *pc, const pc_entry **v) {
  size_t n = 0;
  for (size_t i = 0; i < PEERCACHE_MAX; i++)
    if (pc->e[i].used) v[n++] = &pc->e[i];
  qsort(v, n, sizeof *v, newer);
  return n;
}

size_t peercache_list(const peercache *pc, sw_peer_entry *out, size_t max) {
  const pc_entry *v[PEERCACHE_MAX];
  size_t n = sorted(pc, v);
  if (n > max) n = max;
  for (size_t i = 0; i < n; i++) {
    memset(&out[i], 0, sizeof out[i]);
    crypto_hex_encode(v[i]->id, v[i]->idlen, out[i].id);
    addr_format_ip(&v[i]->addr, out[i].ip, sizeof out[i].ip);
    out[i].port = v[i]->addr.port;
    out[i].last_seen = v[i]->last_seen < 0 ? 0 : (uint64_t)v[i]->last_seen;
  }
  return n;
}

size_t peercache_count(const peercache *pc) { return pc->n; }

static void emit_list(peercache *pc) {
  if (!pc->n) return; /* nothing learnt: never overwrite a saved list with nothing */
  size_t n = peercache_list(pc, pc->out, PEERCACHE_EMIT);
  sw_event ev = {.type = SW_EV_PEERS, .peers = pc->out, .npeers = n};
  core_emit(pc->c, &ev);
  if (pc->save) pc->save(pc->ctx, pc->out, n);
}

/* ---- hooks ------------------------------------------------------------------ */

static void pc_connection(void *m, const uint8_t wire[8], const sw_addr *a, uint64_t now) {
  peercache_add(m, wire, 8, a, now);
}

/* Discovery starts at join (PROTOCOL.md 14.3 step 2): dial the newest entries. */
static void pc_join(void *m, uint64_t now) {
  peercache *pc = m;
  const pc_entry *v[PEERCACHE_MAX];
  if (pc->dialled) return;
  pc->dialled = 1;
  size_t n = sorted(pc, v);
  for (size_t i = 0, tried = 0; i < n && tried < PEERCACHE_DIAL; i++) {
    if (v[i]->idlen >= 8 && core_connected(pc->c, v[i]->id)) continue;
    tried++;
    core_meet(pc->c, &v[i]->addr, v[i]->idlen == 20 ? v[i]->id : NULL, now);
  }
}

static void pc_timeout(void *m, uint64_t now) {
  peercache *pc = m;
  if (now < pc->next_emit) return;
  pc->next_emit = now + PEERCACHE_EMIT_MS;
  emit_list(pc);
}

static uint64_t pc_deadline(const void *m) { return ((const peercache *)m)->next_emit; }

static void pc_close(void *m, uint64_t now) {
  peercache *pc = m;
  (void)now;
  emit_list(pc);
  pc->next_emit = UINT64_MAX;
}

static void pc_free(void *m) { free(m); }

static size_t pc_memory(const void *m) {
  (void)m;
  return sizeof(peercache);
}

int peercache_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, peercache **out) {
  peercache *pc = calloc(1, sizeof *pc);
  if (!pc) return SW_ENOMEM;
  pc->c = c;
  pc->unix_offset = cfg->unix_offset_ms;
  pc->next_emit = now + PEERCACHE_EMIT_MS;
  pc->save = cfg->save_peers;
  pc->ctx = cfg->peers_ctx;
  if (cfg->load_peers) {
    /* The loaded list goes through the same checks as anything learnt. */
    sw_peer_entry *in = calloc(PEERCACHE_MAX, sizeof *in);
    size_t n = in ? cfg->load_peers(cfg->peers_ctx, in, PEERCACHE_MAX) : 0;
    for (size_t i = 0; i < n && i < PEERCACHE_MAX; i++) {
      sw_addr a;
      uint8_t id[20];
      size_t idlen = 0;
      in[i].id[sizeof in[i].id - 1] = 0;
      in[i].ip[sizeof in[i].ip - 1] = 0;
      int hl = crypto_hex_decode(in[i].id, id, sizeof id); /* a wire id or a full id */
      if (hl == 8 || hl == 20) idlen = (size_t)hl;
      if (addr_parse_ip(&a, in[i].ip, in[i].port) != SW_OK) continue;
      put(pc, id, idlen, &a, (int64_t)(in[i].last_seen & INT64_MAX), 0);
    }
    free(in);
  }
  core_module m = {.name = "peercache", .on_connection = pc_connection, .on_join = pc_join,
                   .on_timeout = pc_timeout, .deadline = pc_deadline, .on_close = pc_close,
                   .free = pc_free, .memory = pc_memory, .state = pc};
  int rc = core_add_module(c, &m);
  if (rc) {
    free(pc);
    return rc;
  }
  *out = pc;
  return SW_OK;
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  peercache *pc;
  return cfg->peer_cache ? peercache_attach(c, cfg, now, &pc) : SW_OK;
}

const core_module_def peercache_module = {"peercache", attach_from_config};
