/* Admission control: see admit.h. */
#include "admit.h"

#include <string.h>

#include "peers.h"

int admit_proven(const core_peer *p) {
  const peer_path *b = &p->paths[p->best];
  return b->p.relayed || b->validated;
}

static int loopback(const sw_addr *a) {
  static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (a->family == 4 && a->ip[0] == 127) || (a->family == 6 && !memcmp(a->ip, v6lo, 16));
}

static int same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

static int same_prefix(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, a->family == 4 ? 3 : 6) == 0;
}

/* The direct address a peer is reached at, or NULL through a relay. */
static const sw_addr *where(const core_peer *p) {
  const core_path *b = &p->paths[p->best].p;
  return b->relayed ? NULL : &b->addr;
}

/* The unproven peer made first, at `ip` when given; NULL when none. */
static core_peer *oldest_unproven(sw_core *c, const sw_addr *ip) {
  core_peer *o = NULL;
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used || admit_proven(p)) continue;
    const sw_addr *a = where(p);
    if (ip && (!a || !same_ip(a, ip))) continue;
    if (!o || p->created < o->created) o = p;
  }
  return o;
}

int admit_loaded(sw_core *c) {
  size_t unproven = 0;
  for (size_t k = 0; k < c->peers_hi; k++)
    unproven += c->peers[k].used && !admit_proven(&c->peers[k]);
  return unproven >= ADMIT_UNPROVEN_MAX;
}

int admit_peer(sw_core *c, const core_path *from, uint64_t now) {
  if (from->relayed) return c->npeers < c->max_peers || oldest_unproven(c, NULL);
  const sw_addr *a = &from->addr;
  size_t unproven = 0, unproven_ip = 0, at_ip = 0, at_prefix = 0;
  for (size_t k = 0; k < c->peers_hi; k++) {
    const core_peer *p = &c->peers[k];
    if (!p->used) continue;
    const sw_addr *w = where(p);
    int proven = admit_proven(p);
    unproven += !proven;
    if (!w) continue;
    at_ip += same_ip(w, a);
    at_prefix += same_prefix(w, a);
    unproven_ip += !proven && same_ip(w, a);
  }
  int local = loopback(a);
  size_t per_ip = c->max_peers / ADMIT_PER_IP_DIV, per_prefix = c->max_peers / ADMIT_PER_PREFIX_DIV;
  if (per_ip < ADMIT_UNPROVEN_PER_IP) per_ip = ADMIT_UNPROVEN_PER_IP;
  if (per_prefix < per_ip) per_prefix = per_ip;
  core_peer *drop = NULL;
  if (!local && (at_ip >= per_ip || at_prefix >= per_prefix)) {
    /* the bound of its IP or prefix: only an unproven peer of that IP makes room */
    drop = oldest_unproven(c, a);
    if (!drop) return 0;
  } else if (!local && unproven_ip >= ADMIT_UNPROVEN_PER_IP) {
    /* its IP's unproven share is full: the oldest gives way once it had the time to
     * answer its challenge; until then the newcomer waits for its next HELLO */
    drop = oldest_unproven(c, a);
    if (drop && now - drop->created < ADMIT_YOUNG_MS) return 0;
  } else if (unproven >= ADMIT_UNPROVEN_MAX || c->npeers >= c->max_peers) {
    drop = oldest_unproven(c, NULL);
    if (!drop && c->npeers >= c->max_peers) return 0; /* D20: every slot proven */
  }
  if (drop) {
    c->stats.rx_dropped++;
    peers_remove(c, drop, SW_REASON_EVICTED);
  }
  return c->npeers < c->max_peers;
}
