/* A reference peer greeting a core (corenet_ref.h). */
#include "corenet_ref.h"

#include "wire.h"

void ref_connect(net *n, ref_peer *r, const char *seed_hex, const char *addr, int to) {
  ref_init(r, seed_hex, addr, &n->nodes[to]);
  ref_hello(n, r, to, WIRE_HELLO);
  pump(n);
}
