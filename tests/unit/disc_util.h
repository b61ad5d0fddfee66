/* Helpers shared by the discovery module tests (test_lan.c, test_pex.c,
 * test_peercache.c, test_gossip.c): cores with the discovery modules switched on,
 * wired to each other by address in virtual time. Header-only: each test includes it. */
#ifndef SW_DISC_UTIL_H
#define SW_DISC_UTIL_H

#include <stdio.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "testutil.h"

#define DU_MAX_EVENTS 64

typedef struct du_node {
  sw_core *c;
  sw_addr addr;
  tu_rng rng;
  int data_events, peers_events;
  size_t last_npeers;
  sw_peer_entry last_peers[8];
  uint8_t last_data[256];
  size_t last_len;
} du_node;

static inline void du_rand(void *ctx, uint8_t *b, size_t n) { tu_rng_bytes(&((du_node *)ctx)->rng, b, n); }

static inline void du_event(void *ctx, const sw_event *ev) {
  du_node *n = ctx;
  if (ev->type == SW_EV_DATA) {
    n->data_events++;
    n->last_len = ev->len < sizeof n->last_data ? ev->len : sizeof n->last_data;
    memcpy(n->last_data, ev->data, n->last_len);
  } else if (ev->type == SW_EV_PEERS) {
    n->peers_events++;
    n->last_npeers = ev->npeers;
    memcpy(n->last_peers, ev->peers, (ev->npeers < 8 ? ev->npeers : 8) * sizeof *ev->peers);
  }
}

/* cfg: optional base configuration (the discovery switches); seed and address given. */
static inline void du_init(du_node *n, const sw_core_config *base, const char *seed, const char *addr,
                    uint64_t now) {
  memset(n, 0, sizeof *n);
  n->rng.s = (uint64_t)seed[0] * 131u + (uint64_t)seed[1];
  sw_core_config cfg;
  if (base) cfg = *base;
  else memset(&cfg, 0, sizeof cfg);
  cfg.seed_hex = seed;
  cfg.random = du_rand;
  cfg.on_event = du_event;
  cfg.ctx = n;
  assert_int_equal(sw_core_new(&n->c, &cfg, now), SW_OK);
  assert_int_equal(addr_parse_hostport(&n->addr, addr), SW_OK);
}

/* Deliver everything queued at every node to the node owning the destination (other
 * destinations are dropped); repeat until quiet. Returns the datagrams moved. */
static inline size_t du_pump(du_node **nodes, size_t count, uint64_t now) {
  size_t total = 0, moved;
  do {
    moved = 0;
    for (size_t i = 0; i < count; i++) {
      sw_dgram d[64];
      size_t k;
      sw_core_flush(nodes[i]->c, now);
      while ((k = sw_core_out_peek(nodes[i]->c, d, 64)) > 0) {
        for (size_t j = 0; j < k; j++)
          for (size_t t = 0; t < count; t++)
            if (t != i && d[j].kind == SW_SOCK_MAIN && addr_equal(d[j].to, &nodes[t]->addr))
              sw_core_datagram(nodes[t]->c, SW_SOCK_MAIN, &nodes[i]->addr, d[j].data,
                               d[j].len, now);
        sw_core_out_consume(nodes[i]->c, k, now);
        moved += k;
      }
    }
    total += moved;
  } while (moved);
  return total;
}

/* Run every node's timers from `from` to `to` in steps of `step` ms, pumping between. */
static inline void du_run(du_node **nodes, size_t count, uint64_t from, uint64_t to, uint64_t step) {
  for (uint64_t t = from; t <= to; t += step) {
    for (size_t i = 0; i < count; i++) sw_core_timeout(nodes[i]->c, t);
    du_pump(nodes, count, t);
  }
}

/* What one node has queued, without sending it: how many datagrams of `kind` whose
 * first byte is `type` (0: any) go to `to` (NULL: anywhere). Then drops the queue. */
static inline size_t du_count_out(du_node *n, sw_sock_kind kind, uint8_t type, const sw_addr *to,
                           uint64_t now) {
  sw_dgram d[64];
  size_t k, hits = 0;
  sw_core_flush(n->c, now);
  while ((k = sw_core_out_peek(n->c, d, 64)) > 0) {
    for (size_t j = 0; j < k; j++)
      if (d[j].kind == kind && (!type || (d[j].len && d[j].data[0] == type)) &&
          (!to || addr_equal(d[j].to, to)))
        hits++;
    sw_core_out_consume(n->c, k, now);
  }
  return hits;
}

static inline void du_connect(du_node *a, du_node *b, uint64_t now) {
  du_node *pair[2] = {a, b};
  size_t before = sw_core_peer_count(a->c);
  assert_int_equal(sw_core_dial(a->c, &b->addr, NULL, now), SW_OK);
  du_pump(pair, 2, now);
  assert_int_equal(sw_core_peer_count(a->c), before + 1);
}

#endif
