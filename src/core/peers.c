/* The peer table: see peers.h. */
#include "peers.h"

#include <string.h>

#include "reassembly.h"
#include "session.h"
#include "xsession.h"

core_peer *peers_find(sw_core *c, const uint8_t wire[8]) {
  for (size_t k = 0; k < c->peers_hi; k++)
    if (c->peers[k].used && memcmp(c->peers[k].wire_id, wire, 8) == 0) return &c->peers[k];
  return NULL;
}

core_peer *peers_take_slot(sw_core *c) {
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) {
      memset(p, 0, sizeof *p);
      if (k + 1 > c->peers_hi) c->peers_hi = k + 1;
      return p;
    }
  }
  return NULL;
}

void peers_clear(sw_core *c, core_peer *p) {
  if (p->ocount) c->open_batches--;
  session_challenge_clear(c, p);
  crypto_aead_free(p->tx);
  crypto_aead_free(p->rx);
  jitter_free(&p->jit);
  reasm_clear(c, p);
  xsession_clear(p);
  if (c->last_hit == p) c->last_hit = NULL;
  memset(p, 0, sizeof *p);
  while (c->peers_hi && !c->peers[c->peers_hi - 1].used) c->peers_hi--;
}

void peers_remove(sw_core *c, core_peer *p, int reason) {
  uint8_t id[8];
  memcpy(id, p->wire_id, 8);
  peers_clear(c, p);
  c->npeers--;
  sw_event ev = {.type = SW_EV_DISCONNECT, .peer = id, .reason = reason};
  engine_emit(c, &ev);
  FOR_MODULES(c, m) if (m->on_disconnect) m->on_disconnect(m->state, id, c->last_now);
}

void sw_core_drop_peers(sw_core *c, int reason) {
  for (size_t k = 0; k < c->peers_hi; k++)
    if (c->peers[k].used) peers_remove(c, &c->peers[k], reason);
}
