/* The engine's entry points (core.h): creation, the frame registry and dispatch, timers,
 * and the services modules use (core_internal.h). The work itself is in one file per
 * concern (engine.h lists them). Section numbers refer to docs/PROTOCOL.md. */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "dial.h"
#include "engine.h"
#include "guard.h"
#include "httpreq.h"
#include "liveness.h"
#include "origin.h"
#include "paths.h"
#include "peers.h"
#include "reassembly.h"
#include "send.h"
#include "session.h"
#include "xsession.h"

/* ---- the frame registry ------------------------------------------------------ */

static void on_batch(void *core, const core_path *from, const uint8_t *buf, size_t len,
                     uint64_t now);

/* The engine's own frames (PROTOCOL.md 1.1, 21.2), registered like a module's. */
static int register_engine_frames(sw_core *c) {
  static const struct {
    uint8_t type;
    void (*fn)(void *, const core_path *, const uint8_t *, size_t, uint64_t);
  } own[] = {
      {WIRE_HELLO, session_on_hello},     {WIRE_HELLO_ACK, session_on_hello},
      {WIRE_DATA, delivery_on_data},      {WIRE_SEALED, session_on_sealed},
      {WIRE_PING, liveness_on_ping},      {WIRE_PONG, liveness_on_pong},
      {WIRE_GOAWAY, liveness_on_goaway},  {WIRE_FRAG, reasm_on_frag},
      {WIRE_BATCH, on_batch},
      {XPKT_TYPE, xsession_on_packet},    {HS_TYPE_INIT, xsession_on_handshake},
      {HS_TYPE_RESP, xsession_on_handshake}, {HS_TYPE_RETRY, xsession_on_handshake},
  };
  for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
    frame_entry *e = &c->frames[own[i].type];
    if (e->fn) return SW_EINVAL;
    e->fn = own[i].fn;
    e->state = c;
    e->owner = -1;
  }
  return SW_OK;
}

int core_add_module(sw_core *c, const core_module *m) {
  if (!m || (m->nframes && (!m->frames || !m->on_frame)) || (m->sockets && !m->on_datagram) ||
      (m->sockets & ~(CORE_SOCKET(SW_SOCK_DHT) | CORE_SOCKET(SW_SOCK_LAN))))
    return SW_EINVAL;
  /* All claims are checked before any is made: a refused module leaves no trace. */
  for (size_t i = 0; i < m->nframes; i++) {
    if (c->frames[m->frames[i]].fn) return SW_EINVAL;
    for (size_t k = 0; k < i; k++)
      if (m->frames[k] == m->frames[i]) return SW_EINVAL;
  }
  for (unsigned k = 0; k < 3; k++)
    if ((m->sockets & CORE_SOCKET(k)) && c->socket_owner[k] >= 0) return SW_EINVAL;
  if (c->nmodules == CORE_MAX_MODULES) return SW_EFULL;
  core_module *grown = realloc(c->modules, (size_t)(c->nmodules + 1) * sizeof *grown);
  if (!grown) return SW_ENOMEM;
  c->modules = grown;
  int idx = c->nmodules++;
  c->modules[idx] = *m;
  for (size_t i = 0; i < m->nframes; i++) {
    frame_entry *e = &c->frames[m->frames[i]];
    e->fn = m->on_frame;
    e->state = m->state;
    e->owner = idx;
  }
  for (unsigned k = 0; k < 3; k++)
    if (m->sockets & CORE_SOCKET(k)) c->socket_owner[k] = idx;
  if (m->claim) c->claimers[c->nclaims++] = idx;
  return SW_OK;
}

void *core_module_state(sw_core *c, const char *name) {
  FOR_MODULES(c, m) if (m->name && strcmp(m->name, name) == 0) return m->state;
  return NULL;
}

/* ---- dispatch (PROTOCOL.md 3) ----------------------------------------------- */

static void dispatch(sw_core *c, const core_path *from, const uint8_t *buf, size_t len,
                     uint64_t now) {
  /* Step 1: shorter than 2 bytes is dropped (so is a 1-byte GOAWAY). Unknown types are
   * ignored, as in 1.1. */
  if (len < 2) return;
  const frame_entry *e = &c->frames[buf[0]];
  if (e->fn) e->fn(e->state, from, buf, len, now);
}

static void on_batch(void *core, const core_path *from, const uint8_t *buf, size_t len,
                     uint64_t now) {
  sw_core *c = core;
  wire_batch_iter it;
  const uint8_t *f;
  size_t fl;
  /* The references never nest; one level of nesting is tolerated, no more (D18). */
  if (c->batch_depth >= BATCH_DEPTH_MAX || wire_batch_begin(&it, buf, len)) return;
  c->batch_depth++;
  while (wire_batch_next(&it, &f, &fl)) dispatch(c, from, f, fl, now);
  c->batch_depth--;
}

void sw_core_datagram(sw_core *c, sw_sock_kind kind, const sw_addr *from, const uint8_t *buf,
                      size_t len, uint64_t now) {
  c->stats.rx_datagrams++;
  c->last_now = now;
  if (!from || !buf) return;
  if (kind != SW_SOCK_MAIN) {
    int o = (unsigned)kind < 3 ? c->socket_owner[kind] : -1;
    if (o >= 0) c->modules[o].on_datagram(c->modules[o].state, kind, from, buf, len, now);
    return;
  }
  /* Datagrams that only look like frames (STUN answers): their module first. */
  for (int i = 0; i < c->nclaims; i++) {
    core_module *m = &c->modules[c->claimers[i]];
    if (m->claim(m->state, from, buf, len, now)) return;
  }
  guard_recv(c, from, len, now); /* what may be sent back before it proves itself */
  core_path path = core_path_direct(from);
  dispatch(c, &path, buf, len, now);
}

void sw_core_probe_datagram(sw_core *c, unsigned probe, const sw_addr *from, const uint8_t *buf,
                            size_t len, uint64_t now) {
  c->stats.rx_datagrams++;
  c->last_now = now;
  if (!from || !buf || probe == 0 || probe > SW_CORE_PROBE_MAX) return;
  guard_recv(c, from, len, now);
  core_path path = core_path_direct(from);
  path.sock = (uint16_t)probe;
  dispatch(c, &path, buf, len, now);
}

void core_datagram_relayed(sw_core *c, const core_path *from, const uint8_t *buf, size_t len,
                           uint64_t now) {
  c->stats.rx_datagrams++;
  c->last_now = now;
  if (!from || !buf || !from->relayed) return;
  dispatch(c, from, buf, len, now);
}

/* ---- timers --------------------------------------------------------------- */

void sw_core_timeout(sw_core *c, uint64_t now) {
  c->last_now = now;
  dial_run(c, now);
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    delivery_drain(c, p, now);
    if (p->used) reasm_expire(c, p, now);
    if (p->used) session_expire(c, p, now);
    if (p->used) xsession_timeout(c, p, now);
  }
  FOR_MODULES(c, m) if (m->on_timeout) m->on_timeout(m->state, now);
  if (now >= c->next_heartbeat && !c->closing) {
    liveness_heartbeat(c, now);
    c->next_heartbeat = now + c->cfg.keepalive_ms;
  }
  /* Closing, the heartbeat is over, but what the guard holds (the last messages, the
   * goodbyes) still waits for its address's proof while the runtime drains: ask again
   * (at most every GUARD_ASK_MS), should the first challenge or its answer be lost. What
   * waits too long still goes (GUARD_HELD_MS), so an address that never proves itself
   * stops waking the engine. */
  if (c->closing && guard_held_count(&c->guard)) {
    guard_expire(c, now);
    for (size_t k = 0; k < c->peers_hi; k++)
      if (c->peers[k].used) liveness_validate(c, &c->peers[k], paths_best(&c->peers[k]), 1, now);
  }
}

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t sw_core_deadline(const sw_core *c) {
  uint64_t t = !c->closing                     ? c->next_heartbeat
               : guard_held_count(&c->guard) ? c->last_now + GUARD_ASK_MS /* see above */
                                             : UINT64_MAX;
  t = min64(t, dial_deadline(c));
  for (size_t k = 0; k < c->peers_hi; k++) {
    const core_peer *p = &c->peers[k];
    if (!p->used) continue;
    t = min64(t, jitter_deadline(&p->jit));
    t = min64(t, reasm_deadline(p));
    t = min64(t, session_deadline(p));
    t = min64(t, xsession_deadline(p, c->last_now));
  }
  for (const core_module *m = c->modules; m < c->modules + c->nmodules; m++)
    if (m->deadline) t = min64(t, m->deadline(m->state));
  const outq_rec *head = outq_head(&c->out); /* a datagram the pacer holds */
  if (head && head->not_before > c->last_now) t = min64(t, head->not_before);
  return t;
}

/* ---- API ------------------------------------------------------------------ */

static int topic_index(const sw_core *c, const uint8_t topic[32]) {
  for (int i = 0; i < c->ntopics; i++)
    if (memcmp(c->topics[i], topic, 32) == 0) return i;
  return -1;
}

int sw_core_join(sw_core *c, const uint8_t topic[32]) {
  if (!topic) return SW_EINVAL;
  if (topic_index(c, topic) >= 0) return SW_OK;
  if (c->ntopics == SW_MAX_TOPICS) return SW_EFULL;
  memcpy(c->topics[c->ntopics++], topic, 32);
  FOR_MODULES(c, m) if (m->on_join) m->on_join(m->state, c->last_now);
  return SW_OK;
}

int sw_core_leave(sw_core *c, const uint8_t topic[32]) {
  int i = topic ? topic_index(c, topic) : -1;
  if (i < 0) return SW_EINVAL;
  uint8_t left[32];
  memcpy(left, topic, 32); /* the caller's copy may be ours */
  memmove(c->topics[i], c->topics[i + 1], (size_t)(c->ntopics - i - 1) * 32);
  c->ntopics--;
  FOR_MODULES(c, m) if (m->on_leave) m->on_leave(m->state, left, c->last_now);
  return SW_OK;
}

int sw_core_close(sw_core *c, uint64_t now) {
  static const uint8_t goaway[WIRE_GOAWAY_LEN] = {WIRE_GOAWAY, 0};
  if (c->closing) return SW_OK;
  for (size_t k = 0; k < c->peers_hi; k++) /* held for a handshake: plain, now */
    if (c->peers[k].used) xsession_on_close(&c->peers[k]);
  sw_core_flush(c, now); /* queued messages leave before the goodbye */
  c->closing = 1;
  /* The goodbyes go even to an address still proving itself (guard.h "goodbye"):
   * refused by its byte budget or by a full queue, they would never leave and the peer
   * would time out. */
  c->guard.goodbye = 1;
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (p->caps & WIRE_CAP_SEALED) send_sealed(c, p, SEALED_GOAWAY);
    send_raw(c, paths_best(p), goaway, sizeof goaway); /* D7: 2 bytes, so references act */
  }
  c->guard.goodbye = 0;
  dial_cancel_all(c);
  FOR_MODULES(c, m) if (m->on_close) m->on_close(m->state, now);
  return SW_OK;
}

size_t sw_core_peer_count(const sw_core *c) { return c->npeers; }

void sw_core_get_stats(const sw_core *c, sw_core_stats *out) { *out = c->stats; }

size_t sw_core_peers(const sw_core *c, sw_core_peer_info *out, size_t max) {
  size_t n = 0;
  for (size_t k = 0; k < c->peers_hi; k++) {
    const core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (n < max) {
      memcpy(out[n].wire_id, p->wire_id, 8);
      out[n].addr = paths_best(p)->addr;
      out[n].rtt_ms = cc_srtt(&p->cc);
      out[n].in_mesh = p->in_mesh;
      out[n].reference = p->legacy;
      out[n].verified = p->paths[p->best].verified;
      out[n].relayed = paths_best(p)->relayed;
      memcpy(out[n].via, paths_best(p)->via, 8);
      out[n].extended = xsession_active(p);
    }
    n++;
  }
  return n;
}

size_t sw_core_memory(const sw_core *c) {
  size_t n = sizeof *c + c->max_peers * sizeof(core_peer) + c->out.cap +
             dedup_set_bytes(&c->seen) + (size_t)c->nmodules * sizeof(core_module);
  for (size_t k = 0; k < c->peers_hi; k++) n += xsession_memory(&c->peers[k]);
  n += origin_memory(c); /* signing bindings (origin.h) */
  for (const core_module *m = c->modules; m < c->modules + c->nmodules; m++)
    if (m->memory) n += m->memory(m->state);
  return n;
}

void sw_core_identity(const sw_core *c, uint8_t pub[32], uint8_t id[20]) {
  if (pub) memcpy(pub, c->me.pub, 32);
  if (id) memcpy(id, c->me.id, 20);
}

/* ---- lifecycle ------------------------------------------------------------- */

int sw_core_new(sw_core **out, const sw_core_config *cfg, uint64_t now) {
  int rc;
  *out = NULL;
  if (!cfg || !cfg->random) return SW_EINVAL;
  sw_core *c = calloc(1, sizeof *c);
  if (!c) return SW_ENOMEM;
  c->cfg = *cfg;
  c->cfg.seed_hex = NULL; /* not kept: the caller owns the text */
  engine_lifecycle_defaults(&c->cfg);
  pubaddr_init(&c->pub, cfg->lan_ip, cfg->port);
  c->cfg.lan_ip = NULL;   /* pubaddr.c copies what it needs */
  c->cfg.dht = NULL;      /* dht.c copies what it needs */
  c->cfg.bootstrap_http = c->cfg.piping = NULL; /* httpboot.c, piping.c copy them */
  c->cfg.modules = NULL;  /* attached below */
  c->cfg.cc = NULL;       /* kept in c->cc */
  for (unsigned k = 0; k < 3; k++) c->socket_owner[k] = -1;
  c->cc = cfg->cc ? cfg->cc : &cc_unlimited;
  if (cfg->seed_hex) {
    rc = crypto_identity_from_hex(&c->me, cfg->seed_hex);
  } else {
    uint8_t r[32];
    cfg->random(cfg->ctx, r, sizeof r);
    rc = crypto_identity_from_random(&c->me, r);
  }
  if (rc) {
    free(c);
    return rc;
  }
  c->max_peers = cfg->max_peers ? cfg->max_peers : DEFAULT_MAX_PEERS;
  c->peers = calloc(c->max_peers, sizeof *c->peers);
  size_t outbytes = cfg->out_buffer_bytes ? cfg->out_buffer_bytes : DEFAULT_OUT_BYTES;
  if (outbytes < MIN_OUT_BYTES) {
    free(c->peers);
    free(c);
    return SW_EINVAL;
  }
  if (!c->peers || (rc = outq_init(&c->out, outbytes)) != SW_OK ||
      (rc = dedup_set_init(&c->seen, cfg->dedup_slots_log2 ? cfg->dedup_slots_log2
                                                           : DEFAULT_DEDUP_LOG2, now)) ||
      (rc = register_engine_frames(c))) {
    sw_core_free(c);
    return rc ? rc : SW_ENOMEM;
  }
  if (cfg->xsession) {
    uint8_t r[32];
    cfg->random(cfg->ctx, r, sizeof r);
    hs_cookie_init(&c->xs_cookie, r);
    memset(r, 0, sizeof r);
  }
  c->next_heartbeat = now + c->cfg.keepalive_ms; /* PROTOCOL.md 9.4: 1 s by default */
  c->meet_tokens = MEET_BURST;
  c->meet_refill_at = now;
  const core_module_def *const *defs = cfg->modules ? cfg->modules : core_default_modules;
  for (; *defs; defs++) {
    if ((rc = (*defs)->attach(c, cfg, now)) != SW_OK) {
      sw_core_free(c);
      return rc;
    }
  }
  *out = c;
  return SW_OK;
}

void sw_core_free(sw_core *c) {
  if (!c) return;
  FOR_MODULES(c, m) if (m->free) m->free(m->state);
  httpreq_free_all(c);
  guard_free(c);
  if (c->peers)
    for (size_t k = 0; k < c->peers_hi; k++)
      if (c->peers[k].used) peers_clear(c, &c->peers[k]);
  free(c->peers);
  free(c->modules);
  outq_free(&c->out);
  dedup_set_free(&c->seen);
  origin_free(c);
  memset(&c->me, 0, sizeof c->me);
  free(c);
}

/* ---- services to modules (core_internal.h) ------------------------------- */

void core_rand(sw_core *c, void *buf, size_t n) { engine_rand(c, buf, n); }

const crypto_identity *core_identity(const sw_core *c) { return &c->me; }

const uint8_t *core_topic(const sw_core *c) { return c->ntopics ? c->topics[0] : NULL; }

int core_topic_count(const sw_core *c) { return c->ntopics; }

const uint8_t *core_topic_at(const sw_core *c, int i) {
  return i >= 0 && i < c->ntopics ? c->topics[i] : NULL;
}

int core_connected(const sw_core *c, const uint8_t wire[8]) {
  return peers_find((sw_core *)c, wire) != NULL;
}

int core_connected_direct(const sw_core *c, const uint8_t wire[8]) {
  const core_peer *p = peers_find((sw_core *)c, wire);
  for (int i = 0; p && i < p->npaths; i++)
    if (!p->paths[i].p.relayed && p->paths[i].verified) return 1;
  return 0;
}

int core_peer_full_id(const sw_core *c, const uint8_t wire[8], uint8_t id[20]) {
  const core_peer *p = peers_find((sw_core *)c, wire);
  uint8_t h[32];
  if (!p) return 0;
  crypto_sha256(p->pub, 32, h); /* PROTOCOL.md 2.2 */
  memcpy(id, h, 20);
  return 1;
}

int core_verified_peer(sw_core *c, const core_path *from, uint8_t wire[8]) {
  int pi;
  core_peer *p = paths_find_peer(c, from, &pi);
  if (!p || !p->paths[pi].verified) return 0;
  if (wire) memcpy(wire, p->wire_id, 8);
  return 1;
}

int core_peer_at(sw_core *c, const core_path *from, uint8_t wire[8]) {
  int pi;
  core_peer *p = paths_find_peer(c, from, &pi);
  if (!p) return 0;
  if (wire) memcpy(wire, p->wire_id, 8);
  return CORE_PEER_MAPPED | (p->paths[pi].verified ? CORE_PEER_VERIFIED : 0) |
         (p->legacy ? CORE_PEER_LEGACY : 0);
}

void core_prove(sw_core *c, const uint8_t wire[8]) {
  core_peer *p = peers_find(c, wire);
  if (!p || !p->tx || !(p->caps & WIRE_CAP_SEALED) || c->closing) return;
  /* In the peer's batch, so that it travels in one datagram with, and before, the frame
   * the proof is for: reordering cannot put it behind. */
  static const uint8_t inner = SEALED_PROOF;
  uint8_t f[SEALED_FRAME_MAX];
  size_t n = send_build_sealed(p, f, &inner, 1);
  if (n) core_send_ctrl(c, wire, f, n);
}

void core_emit(sw_core *c, const sw_event *ev) { engine_emit(c, ev); }

uint64_t core_now(const sw_core *c) { return c->last_now; }

const pubaddr *core_pubaddr(const sw_core *c) { return &c->pub; }

void core_learn_public_addr(sw_core *c, const sw_addr *a, int source, uint64_t now) {
  if (!pubaddr_learn(&c->pub, a, source, now)) return;
  FOR_MODULES(c, m) if (m->on_public_addr) m->on_public_addr(m->state, a->family, now);
}
