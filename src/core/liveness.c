/* Liveness: see liveness.h. */
#include "liveness.h"

#include "delivery.h"
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
  if (p && p->legacy && p->paths[pi].verified) peers_remove(c, p, SW_REASON_GOODBYE);
}

void liveness_heartbeat(sw_core *c, uint64_t now) {
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (now - p->seen > c->cfg.peer_timeout_ms) { /* PROTOCOL.md 9.4 (60 s by default) */
      peers_remove(c, p, SW_REASON_TIMEOUT);
      continue;
    }
    if (now - p->last_pong > LOSS_MS) p->loss = 1;
  }
  delivery_maintain_mesh(c);
  uint8_t ping[WIRE_PING_LEN];
  wire_ping_encode(ping, now, c->me.id);
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    send_raw(c, paths_best(p), ping, sizeof ping);
    p->last_ping_sent = now;
    p->ping_outstanding = 1;
  }
}
