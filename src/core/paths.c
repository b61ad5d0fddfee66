/* A peer's paths: see paths.h. */
#include "paths.h"

#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "guard.h"
#include "liveness.h"

int core_path_equal(const core_path *a, const core_path *b) {
  if (a->relayed != b->relayed) return 0;
  if (!a->relayed) return a->sock == b->sock && addr_equal(&a->addr, &b->addr);
  return memcmp(a->via, b->via, 8) == 0 && memcmp(a->far, b->far, 8) == 0;
}

/* The output ring's socket for a direct path: the main one, or its probe socket. */
static uint32_t paths_sock(const core_path *to) {
  return to->sock ? OUTQ_SOCK(SW_SOCK_PROBE, to->sock) : OUTQ_SOCK(SW_SOCK_MAIN, 0);
}

int paths_index(const core_peer *p, const core_path *path) {
  for (int i = 0; i < p->npaths; i++)
    if (core_path_equal(&p->paths[i].p, path)) return i;
  return -1;
}

/* How much a peer's path is to be believed when several peers have it (a forged HELLO
 * from a real peer's address): verified and validated, verified, then registered. */
static int path_rank(const peer_path *pp) { return 1 + pp->verified + (pp->verified && pp->validated); }

core_peer *paths_find_peer(sw_core *c, const core_path *path, int *pi) {
  if (c->last_hit && c->last_hit->used) {
    int i = paths_index(c->last_hit, path);
    if (i >= 0 && path_rank(&c->last_hit->paths[i]) == 3) {
      *pi = i;
      return c->last_hit;
    }
  }
  core_peer *best = NULL;
  int bi = -1, rank = 0;
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    int i = paths_index(p, path);
    if (i >= 0 && path_rank(&p->paths[i]) > rank) {
      best = p;
      bi = i;
      rank = path_rank(&p->paths[i]);
      if (rank == 3) break;
    }
  }
  if (best) {
    *pi = bi;
    c->last_hit = best;
  }
  return best;
}

const core_path *paths_best(const core_peer *p) { return &p->paths[p->best].p; }

void paths_first(core_peer *p, const core_path *path) {
  p->paths[0].p = *path;
  p->paths[0].rtt = cc_srtt(&p->cc);
  p->paths[0].verified = 0;
  p->paths[0].validated = path->relayed;
  p->npaths = 1;
  p->best = 0;
}

static void choose_best(core_peer *p) {
  /* Only verified paths may become best (D8), and of those only validated ones (the
   * address answered a challenge, guard.h); with none such, the traffic stays put. */
  int best = -1;
  for (int i = 0; i < p->npaths; i++) {
    if (!p->paths[i].verified || !p->paths[i].validated) continue;
    if (best < 0 || p->paths[i].rtt < p->paths[best].rtt) best = i;
  }
  if (best >= 0) p->best = best;
  else if (p->best >= p->npaths) p->best = 0;
}

/* Add a path, replacing the worst one other than the best when all are taken. */
static int add_path(core_peer *p, const core_path *path) {
  int i;
  if (p->npaths == MAX_PATHS) {
    int worst = -1;
    for (int k = 0; k < p->npaths; k++)
      if (k != p->best && (worst < 0 || p->paths[k].rtt > p->paths[worst].rtt)) worst = k;
    i = worst;
  } else {
    i = p->npaths++;
  }
  p->paths[i].p = *path;
  p->paths[i].rtt = cc_srtt(&p->cc);
  p->paths[i].verified = p->paths[i].validated = 0;
  return i;
}

/* The path at pi proved itself and its address: the peer is there now (D35). Its other
 * paths must prove themselves again, or their older, lower RTT would win them back in
 * paths_touch and everything would go on to where the peer no longer is. */
static void move_to(core_peer *p, int pi) {
  for (int k = 0; k < p->npaths; k++) p->paths[k].verified = k == pi;
  p->best = pi;
}

int paths_proven(sw_core *c, core_peer *p, const core_path *path, int pi) {
  if (pi < 0) pi = paths_index(p, path);
  /* An authenticated frame shows who sent it, not that the sender is at its source
   * address (keys are static, D3: the frame may be the sender's own, sent with a
   * forged source). Traffic moves only to an address that answered a challenge. */
  int valid = path->relayed || guard_validated(c, &path->addr);
  int first = pi < 0 || !p->paths[pi].verified;
  if (pi < 0) {
    pi = add_path(p, path);
    p->paths[pi].verified = 1;
    p->paths[pi].validated = valid;
    if (valid) move_to(p, pi);
  } else {
    p->paths[pi].verified = 1;
    p->paths[pi].validated |= valid;
  }
  if (!valid) liveness_validate(c, p, path, first ? 2 : 0, c->last_now); /* guard.h */
  return pi;
}

void paths_moved(sw_core *c, core_peer *p, const core_path *was) {
  const core_path *is = paths_best(p);
  /* The traffic moved between direct and relayed, or to another relay: say where. */
  if (was->relayed == is->relayed && (!is->relayed || memcmp(was->via, is->via, 8) == 0))
    return;
  char text[SW_ADDRSTRLEN];
  uint8_t id[8], via[8];
  memcpy(id, p->wire_id, 8);
  memcpy(via, is->via, 8);
  addr_format(&is->addr, text, sizeof text);
  sw_event ev = {.type = SW_EV_PATH, .peer = id, .addr = text,
                 .via = is->relayed ? via : NULL};
  engine_emit(c, &ev);
}

void paths_validated(sw_core *c, const sw_addr *a, uint64_t now) {
  (void)now;
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    for (int i = 0; i < p->npaths; i++) {
      peer_path *pp = &p->paths[i];
      if (pp->p.relayed || pp->validated || !addr_equal(&pp->p.addr, a)) continue;
      pp->validated = 1;
      /* a path that carried authenticated frames: the peer is there (D35) */
      if (pp->verified) {
        core_path was = *paths_best(p);
        move_to(p, i);
        paths_moved(c, p, &was);
      }
      if (&p->paths[p->best] == pp) delivery_graft_again(c, p);
      break;
    }
  }
}

void paths_touch(core_peer *p, int pi, uint64_t now, double sample) {
  p->seen = p->last_pong = now;
  p->loss = 0;
  if (pi >= 0) {
    p->paths[pi].rtt = sample >= 0 ? sample : cc_srtt(&p->cc);
    choose_best(p);
  }
}

int paths_send(sw_core *c, const core_path *to, const uint8_t *frame, size_t len) {
  return paths_send_at(c, to, frame, len, 0);
}

int paths_send_at(sw_core *c, const core_path *to, const uint8_t *frame, size_t len,
                  uint64_t not_before) {
  if (!to->relayed) return guard_send(c, paths_sock(to), &to->addr, frame, len, not_before);
  if (!c->relay.send) return SW_ENOTCONN;
  return c->relay.send(c->relay.state, to, frame, len);
}

uint8_t *paths_reserve(sw_core *c, const core_path *to, size_t len) {
  /* An unvalidated address gets its frame through guard_send (paths_send) instead. */
  if (to->relayed || !guard_validated(c, &to->addr)) return NULL;
  return outq_reserve(&c->out, len);
}

void paths_commit(sw_core *c, const core_path *to, size_t len, uint64_t not_before) {
  outq_commit_at(&c->out, paths_sock(to), &to->addr, len, not_before);
}

void core_set_relay(sw_core *c, core_relay_send_fn fn, void *state) {
  c->relay.send = fn;
  c->relay.state = fn ? state : NULL;
}

void core_set_probe_owner(sw_core *c, core_probe_want_fn fn, void *state) {
  c->probe.want = fn;
  c->probe.state = fn ? state : NULL;
}

int sw_core_probe_wanted(const sw_core *c, unsigned probe) {
  if (probe == 0 || probe > SW_CORE_PROBE_MAX) return 0;
  if (c->probe.want && c->probe.want(c->probe.state, probe)) return 1;
  /* A session that settled on the socket keeps it for as long as it has the path. */
  for (size_t k = 0; k < c->peers_hi; k++) {
    const core_peer *p = &c->peers[k];
    if (!p->used) continue;
    for (int i = 0; i < p->npaths; i++)
      if (!p->paths[i].p.relayed && p->paths[i].p.sock == probe) return 1;
  }
  return 0;
}
