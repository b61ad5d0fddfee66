/* Shared engine-test setups on corenet (tests/unit/corenet.h): three of our cores in a
 * line, A - B - C, the relay triangle of the origin and send-flag tests (test_origin.c,
 * test_origin_signed.c, test_sendflags.c), and what those tests ask of it. */
#ifndef SW_TEST_CORENET_LINE_H
#define SW_TEST_CORENET_LINE_H

#include "corenet.h"

/* A new net with A at 10.0.0.1:1001, B at 10.0.0.2:1002 and C at 10.0.0.3:1003, each made
 * with cfg (seed_a / seed_b: their identities, NULL for random ones; C's is random); A
 * dials B, then B dials C. Their indexes in *a, *b, *c. */
net *line_new(const sw_core_config *cfg, const char *seed_a, const char *seed_b, int *a,
              int *b, int *c);
/* 100 ms more for the extended handshakes, then A - B and B - C must be extended. */
void line_ready(net *n, int a, int b, int c);

/* 1 when nd holds a session with other and it is the extended session. */
int peer_extended(const node *nd, const node *other);
/* The DATA events at nd whose bytes are exactly m: their count, the last one in *last
 * (when last is not NULL). */
int got_data(const node *nd, const char *m, const ev **last);

#endif
