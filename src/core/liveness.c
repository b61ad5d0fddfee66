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
  if (!p) { /* D8: an id inside a PONG never adds a path */
    if (!from->relayed) guard_pend_pong(c, &from->addr, now); /* a HELLO kept under load */
    return;
  }
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

/* A PING to the peer's best path now, as the heartbeat sends it. */
static void ping_now(sw_core *c, core_peer *p, uint64_t now) {
  uint8_t ping[WIRE_PING_LEN];
  wire_ping_encode(ping, now, c->me.id);
  send_raw(c, paths_best(p), ping, sizeof ping);
  p->last_ping_sent = now;
  p->ping_outstanding = 1;
}

void liveness_on_goaway(void *core, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now) {
  sw_core *c = core;
  int pi;
  (void)buf;
  (void)len;
  core_peer *p = paths_find_peer(c, from, &pi);
  /* D7: a plain GOAWAY is two clear bytes that anyone can send in a peer's name, so it
   * is only a hint, and only from a path that has carried authenticated frames: the
   * peer is pinged now and dropped if nothing of it arrives within GOAWAY_CHECK_MS. A
   * peer that left does not answer; a live one does and stays. A libsetowire peer's
   * goodbye that is believed at once is the sealed one (session.c); its plain copy, or
   * the plain one alone from a peer without sealed frames, gets the same check. */
  if (!p || !p->paths[pi].verified || p->goaway_check) return;
  p->goaway_check = now + GOAWAY_CHECK_MS;
  ping_now(c, p, now);
}

/* The plain GOAWAY's check is over: anything heard from the peer since the hint (a
 * PONG, authenticated data, a PING from its path) keeps it; silence drops it. */
static int goaway_dropped(sw_core *c, core_peer *p, uint64_t now) {
  if (!p->goaway_check || now < p->goaway_check) return 0;
  uint64_t hinted = p->goaway_check - GOAWAY_CHECK_MS;
  p->goaway_check = 0;
  /* a PONG in the very millisecond of the hint leaves `seen` equal but clears the PING */
  if (p->seen > hinted || !p->ping_outstanding) return 0;
  peers_remove(c, p, SW_REASON_GOODBYE);
  return 1;
}

/* The addresses whose HELLO waits under load (guard_pend): a PING on a random heartbeat,
 * as a reference peer's unvalidated address gets (liveness_validate). */
static void ping_pending(sw_core *c, uint64_t now) {
  guard_pend_heartbeat(c, now);
  for (size_t i = 0; i < GUARD_SLOTS; i++) {
    guard_rec *r = &c->guard.recs[i];
    if (!r->used || r->validated || !r->pend_len) continue;
    uint8_t coin;
    engine_rand(c, &coin, 1);
    if ((coin & 1) || !guard_ping_due(c, &r->addr, now)) continue;
    uint8_t ping[WIRE_PING_LEN];
    wire_ping_encode(ping, now, c->me.id);
    core_path to = core_path_direct(&r->addr);
    c->guard.urgent = 1;
    send_raw(c, &to, ping, sizeof ping);
    c->guard.urgent = 0;
  }
}

void liveness_heartbeat(sw_core *c, uint64_t now) {
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (now - p->seen > c->cfg.peer_timeout_ms) { /* PROTOCOL.md 9.4 (60 s by default) */
      /* A peer that said goodbye (a plain GOAWAY under check) and was silent since left:
       * with a peer timeout shorter than GOAWAY_CHECK_MS the timeout comes first, and the
       * application must still see the goodbye, not a timeout. */
      int bye = p->goaway_check && p->seen <= p->goaway_check - GOAWAY_CHECK_MS;
      peers_remove(c, p, bye ? SW_REASON_GOODBYE : SW_REASON_TIMEOUT);
      continue;
    }
    if (goaway_dropped(c, p, now)) continue;
    if (now - p->last_pong > LOSS_MS) p->loss = 1;
  }
  delivery_maintain_mesh(c);
  guard_expire(c, now);
  ping_pending(c, now);
  for (size_t k = 0; k < c->peers_hi; k++) {
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
    ping_now(c, p, now);
  }
}
