/* A shared engine-test setup on corenet (tests/unit/corenet.h): a hand-driven reference
 * peer that has said its HELLO to one of the net's cores, the opening of most tests that
 * talk to a core as a reference does (test_delivery.c, test_guard.c, test_liveness.c,
 * test_sendflags.c, test_session.c, test_xsession.c), and the same for a hand-driven
 * libsetowire peer. */
#ifndef SW_TEST_CORENET_REF_H
#define SW_TEST_CORENET_REF_H

#include "corenet.h"

/* ref_init r (identity from seed_hex, at addr "ip:port", keys towards node `to`), send
 * the references' 41-byte HELLO to `to`, and pump the net: the core has answered. Its
 * address is still unproven (ref_prove, or authenticated DATA, proves it). */
void ref_connect(net *n, ref_peer *r, const char *seed_hex, const char *addr, int to);
/* The same keys driven as a libsetowire peer (corenet's sw_peer_*): ref_init r, send
 * its HELLO with the trailer from r's address to `to`, and pump the net. */
void sw_peer_connect(net *n, ref_peer *r, const char *seed_hex, const char *addr, int to);

#endif
