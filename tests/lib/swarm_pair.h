/* Shared setups for the tests of the runtime through the public API, on loopback only:
 * the options of a swarm that stays on 127.0.0.1 (no LAN, DHT, HTTP or STUN), and, on a
 * libuv loop the test owns, a swarm that records the events every such test looks at,
 * a loop run until a flag is set, and two swarms connected to each other (b dials a).
 * Used by test_fetch_api.c, test_store_scope.c, test_values_api.c (the pair) and by
 * test_poll.c, test_swarm.c, test_swarm_send.c, test_ownloop.c, test_privacy.c and
 * test_udp.c (the options). */
#ifndef SW_TEST_SWARM_PAIR_H
#define SW_TEST_SWARM_PAIR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "setowire.h"

/* sw_options_init, then the options of a swarm that only dials what it is told to:
 * bound to 127.0.0.1, no LAN discovery, DHT, HTTP bootstrap or STUN. */
void lo_options(sw_options *o);
/* The monotonic clock in milliseconds, for tests that drive swarms from their own loop. */
uint64_t lo_now_ms(void);

/* A swarm on the test's loop and what it reported. Set the fields under "made with"
 * before lo_start or lo_pair (zero them otherwise); the rest is theirs. */
typedef struct lo_node lo_node;
struct lo_node {
  sw_swarm *s;
  int listening, close, connected; /* SW_EV_LISTENING and SW_EV_CLOSE seen; CONNECTIONs */
  uint16_t port;                   /* from SW_EV_LISTENING */
  uint8_t peer[SW_WIRE_ID_LEN];    /* the peer of the last CONNECTION */
  /* made with: */
  const char *seed_hex;  /* sw_options.seed_hex (NULL: a random identity) */
  sw_storage *storage;   /* sw_options.storage (NULL: in memory) */
  /* called for every event after the fields above are updated, with ctx */
  void (*on_other)(lo_node *n, const sw_event *ev);
  void *ctx;
};

/* Run the loop until *flag is nonzero or ms pass (a 10 ms timer keeps it checking);
 * returns *flag. */
int lo_run_until(uv_loop_t *loop, const int *flag, uint64_t ms);
/* Run the loop for ms. */
void lo_run_for(uv_loop_t *loop, uint64_t ms);

/* A new swarm for n (its results cleared, what it is made with kept) on loopback, run
 * until it listens (2 s at most, else the test fails). */
void lo_start(uv_loop_t *loop, lo_node *n, int transport);

/* Two new swarms, b connected to a: both have had their CONNECTION (5 s at most each),
 * then 300 ms more for the extended handshake and the first PINGs. */
void lo_pair(uv_loop_t *loop, lo_node *a, lo_node *b, int transport);
/* Close both (a first), run until each has closed, free both. */
void lo_unpair(uv_loop_t *loop, lo_node *a, lo_node *b);

/* ---- a fetch's completion, recorded (sw_fetch_done_cb) ---------------------------- */

typedef struct lo_fetched {
  int calls, err, progress_calls;
  int cb_inside; /* a completion ran inside lo_fetch or lo_fetch_cancel */
  size_t len, last_got, last_total;
  uint8_t *val; /* a copy of the value (free it), NULL when there was none */
  int has_peer;
  uint8_t peer[SW_WIRE_ID_LEN];
} lo_fetched;

/* sw_swarm_fetch_ex with r as the completion's record; marks the call so that a
 * completion inside it shows in r->cb_inside. */
int lo_fetch(lo_node *n, const char *key, const sw_fetch_opts *o, lo_fetched *r,
             sw_fetch **h);
/* sw_swarm_fetch_cancel, marked the same way. */
int lo_fetch_cancel(sw_fetch *h);
/* Clear r (freeing its value), lo_fetch (which must say SW_OK) and run until it is
 * done (12 s at most, else the test fails). */
void lo_fetch_wait(uv_loop_t *loop, lo_node *n, const char *key, const sw_fetch_opts *o,
                   lo_fetched *r);

#endif
