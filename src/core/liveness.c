/* Liveness: see liveness.h. */
#include "liveness.h"

#include <string.h>

#include "delivery.h"
#include "guard.h"
#include "paths.h"
#include "peers.h"
#include "send.h"

void liveness_on_ping(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now) {
  sw_core *c = core;
  int pi;
  (void)buf;
  (void)len;
  core_peer *p = paths_find_peer(c, from, &pi);
  /* D19: answer only peers we know on this path; a PONG to anyone else would be
   * reflection and would disclose our full id. */
  if (!p) return;
  paths_touch(p, pi, now, -1);
  uint8_t pong[WIRE_PONG_LEN];
  send_raw(c, from, pong, wire_pong_encode(pong, c->me.id));
}

void liveness_on_pong(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now) {
  sw_core *c = core;
  int pi;
  (void)buf;
  (void)len;
  core_peer *p = paths_find_peer(c, from, &pi);
  if (!p) return; /* D8: an id inside a PONG never adds a path */
  /* PROTOCOL.md 9.2: the time since our last PING is the sample; a PONG we did not ask
   * for carries none. The estimate itself is the seam's (cc.h). */
  double sample = p->ping_outstanding ? (double)(now - p->last_ping_sent) : -1;
  p->ping_outstanding = 0;
  cc_on_acked(&p->cc, 0, sample, now); /* a PONG acknowledges no data, only time */
  paths_touch(p, pi, now, sample >= 0 ? sample : cc_srtt(&p->cc));
  /* A reference peer's only way to show it receives at this address (guard.h). */
  if (p->legacy && !from->relayed) guard_on_pong(c, &from->addr, now);
}

void liveness_validate(sw_core *c, core_peer *p, const core_path *to, int tick, uint64_t now) {
  if (to->relayed || !p->tx || guard_validated(c, &to->addr)) return;
  if (p->caps & WIRE_CAP_SEALED) {
    const uint8_t *nonce = guard_challenge(c, &to->addr, tick == 2, now);
    if (!nonce) return;
    uint8_t inner[1 + WIRE_CHALLENGE_LEN];
    inner[0] = SEALED_CHALLENGE;
    memcpy(inner + 1, nonce, WIRE_CHALLENGE_LEN);
    c->guard.urgent = 1;
    send_sealed_to(c, p, to, inner, sizeof inner);
    c->guard.urgent = 0;
    return;
  }
  uint8_t coin;
  engine_rand(c, &coin, 1);
  if (!tick || (coin & 1) || !guard_ping_due(c, &to->addr, now)) return;
  uint8_t ping[WIRE_PING_LEN];
  wire_ping_encode(ping, now, c->me.id);
  c->guard.urgent = 1;
  send_raw(c, to, ping, sizeof ping);
  c->guard.urgent = 0;
  p->last_ping_sent = now;
  p->ping_outstanding = 1;
}

void liveness_on_goaway(void *core, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now) {
  sw_core *c = core;
  int pi;
  (void)buf;
  (void)len;
  (void)now;
  core_peer *p = paths_find_peer(c, from, &pi);
  /* D7: honoured only from a path that has carried authenticated frames, and only from
   * reference peers: a libsetowire peer says goodbye sealed, so a plain GOAWAY in its
   * name can only be forged (a replayed old frame can verify an address). */
  if (p && p->legacy && p->paths[pi].verified) peers_remove(c, p);
}

void liveness_heartbeat(sw_core *c, uint64_t now) {
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (now - p->seen > PEER_TIMEOUT_MS) { /* PROTOCOL.md 9.4 */
      peers_remove(c, p);
      continue;
    }
    if (now - p->last_pong > LOSS_MS) p->loss = 1;
  }
  delivery_maintain_mesh(c);
  guard_expire(c, now);
  uint8_t ping[WIRE_PING_LEN];
  wire_ping_encode(ping, now, c->me.id);
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    /* The paths that wait for their address to prove itself, the best one included. */
    for (int i = 0; i < p->npaths; i++) {
      const core_path *to = &p->paths[i].p;
      if (!p->paths[i].validated && (i == p->best || p->paths[i].verified))
        liveness_validate(c, p, to, 1, now);
    }
    const core_path *best = paths_best(p);
    /* A reference peer's unvalidated address gets only the validation PINGs above. */
    if (p->legacy && !best->relayed && !guard_validated(c, &best->addr)) continue;
    send_raw(c, best, ping, sizeof ping);
    p->last_ping_sent = now;
    p->ping_outstanding = 1;
  }
}
