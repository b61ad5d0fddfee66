/* A reference peer, or a hand-driven libsetowire one, greeting a core (corenet_ref.h). */
#include "corenet_ref.h"

#include "wire.h"

void ref_connect(net *n, ref_peer *r, const char *seed_hex, const char *addr, int to) {
  ref_init(r, seed_hex, addr, &n->nodes[to]);
  ref_hello(n, r, to, WIRE_HELLO);
  pump(n);
}

void sw_peer_connect(net *n, ref_peer *r, const char *seed_hex, const char *addr, int to) {
  ref_init(r, seed_hex, addr, &n->nodes[to]);
  sw_peer_hello(n, r, to, &r->addr);
  pump(n);
}
