/* The public-address service: see pubaddr.h. */
#include "pubaddr.h"

#include <string.h>

#include "core_internal.h"

static int fam_index(int family) { return family == 4 ? 0 : family == 6 ? 1 : -1; }

static int same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

static int fresh(const pubaddr_entry *e, uint64_t now) {
  return e->learned_at + PUBADDR_FRESH_MS >= now;
}

void pubaddr_init(pubaddr *p, const char *lan_ip, uint16_t main_port) {
  memset(p, 0, sizeof *p);
  if (!lan_ip || addr_parse_ip(&p->lan, lan_ip, main_port) != SW_OK)
    memset(&p->lan, 0, sizeof p->lan);
  p->lan.port = main_port;
}

int pubaddr_learn(pubaddr *p, const sw_addr *a, int source, uint64_t now) {
  int f = a ? fam_index(a->family) : -1;
  if (f < 0 || source <= PUBADDR_SRC_NONE || source >= PUBADDR_NSRC) return 0;
  pubaddr_entry e = {.addr = *a, .learned_at = now, .source = source};
  e.addr.pad = 0;
  if (source == PUBADDR_SRC_DHT) e.addr.port = 0; /* another socket's port: see pubaddr.h */
  if (f == 0) memset(e.addr.ip + 4, 0, 12);
  p->seen[f][source] = e;
  /* A weaker source that sees the same IP confirms the stronger answers. */
  for (int s = source + 1; s < PUBADDR_NSRC; s++)
    if (p->seen[f][s].source && same_ip(&p->seen[f][s].addr, &e.addr))
      p->seen[f][s].learned_at = now;
  /* The strongest fresh answer; when none is fresh, the latest one. */
  const pubaddr_entry *best = NULL;
  for (int s = PUBADDR_NSRC - 1; s > PUBADDR_SRC_NONE && !best; s--)
    if (p->seen[f][s].source && fresh(&p->seen[f][s], now)) best = &p->seen[f][s];
  for (int s = 1; s < PUBADDR_NSRC && !best; s++)
    if (p->seen[f][s].source && (!best || p->seen[f][s].learned_at > best->learned_at))
      best = &p->seen[f][s];
  int changed = !p->cur[f].source || !addr_equal(&p->cur[f].addr, &best->addr);
  p->cur[f] = *best;
  if (changed) p->changes++;
  return changed;
}

const pubaddr_entry *pubaddr_get(const pubaddr *p, int family) {
  int f = fam_index(family);
  return f >= 0 && p->cur[f].source ? &p->cur[f] : NULL;
}

int pubaddr_record_endpoint(sw_core *c, int ip_only_ok, sw_addr *out) {
  const pubaddr *p = core_pubaddr(c);
  static const int fams[2] = {4, 6};
  for (int i = 0; i < 2; i++) {
    const pubaddr_entry *e = pubaddr_get(p, fams[i]);
    if (e && e->addr.port) {
      *out = e->addr;
      return 1;
    }
  }
  for (int i = 0; ip_only_ok && p->lan.port && i < 2; i++) {
    const pubaddr_entry *e = pubaddr_get(p, fams[i]);
    if (e) {
      *out = e->addr;
      out->port = p->lan.port; /* the references' pairing, see pubaddr.h */
      return 1;
    }
  }
  return 0;
}

/* ---- the engine services built on core_pubaddr (core_internal.h) --------- */

const sw_addr *core_public_addr(sw_core *c, int family) {
  const pubaddr_entry *e = pubaddr_get(core_pubaddr(c), family);
  return e ? &e->addr : NULL;
}

const sw_addr *core_lan_addr(sw_core *c) { return &core_pubaddr(c)->lan; }
