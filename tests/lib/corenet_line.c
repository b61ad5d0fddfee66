/* The A - B - C line of cores for engine tests (corenet_line.h). */
#include "corenet_line.h"

#include <string.h>

net *line_new(const sw_core_config *cfg, const char *seed_a, const char *seed_b, int *a,
              int *b, int *c) {
  net *n = net_new();
  *a = net_add_cfg(n, seed_a, "10.0.0.1:1001", cfg);
  *b = net_add_cfg(n, seed_b, "10.0.0.2:1002", cfg);
  *c = net_add_cfg(n, NULL, "10.0.0.3:1003", cfg);
  connect_nodes(n, *a, *b);
  connect_nodes(n, *b, *c);
  return n;
}

void line_ready(net *n, int a, int b, int c) {
  advance(n, n->now + 100);
  assert_true(peer_extended(&n->nodes[a], &n->nodes[b]));
  assert_true(peer_extended(&n->nodes[b], &n->nodes[c]));
}

int peer_extended(const node *nd, const node *other) {
  sw_peer_stats st;
  return sw_core_peer_stats(nd->c, other->id, &st) == SW_OK && st.extended;
}

int got_data(const node *nd, const char *m, const ev **last) {
  int k = 0;
  for (int i = 0; i < nd->nev; i++) {
    const ev *e = &nd->evs[i];
    if (e->type == SW_EV_DATA && e->len == strlen(m) && memcmp(e->data, m, e->len) == 0) {
      k++;
      if (last) *last = e;
    }
  }
  return k;
}
