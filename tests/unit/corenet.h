/* A harness for the engine tests (test_session.c, test_send.c, test_delivery.c, ...):
 * a small in-memory network of cores run in virtual time by a tiny loop, every event
 * recorded per node, and a hand-driven "reference peer" (41-byte HELLO, keys derived
 * here) for the legacy paths, which can also speak as a libsetowire peer. Everything
 * goes through the public sw_core_* API (core.h). */
#ifndef SW_TEST_CORENET_H
#define SW_TEST_CORENET_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "core.h"
#include "crypto.h"
#include "setowire.h"
#include "testutil.h"

/* ---- a small network of cores ------------------------------------------------ */

#define MAXN 10
#define MAXEV 2048

/* One event a core reported, with copies of what it pointed to. */
typedef struct ev {
  sw_event_type type;
  uint8_t peer[8];
  uint8_t *data;
  size_t len;
  char addr[SW_ADDRSTRLEN];
  int reason;        /* sw_event.reason */
  int has_topic;     /* sw_event.topic was set: copied below */
  uint8_t topic[32];
  uint64_t at;       /* the net's clock when it was reported */
  int has_origin, origin_direct; /* DATA: whether origin was given, and origin_direct */
  int origin_signed;             /* DATA: sw_event.origin_signed */
  uint8_t origin[SW_ID_LEN];
} ev;

typedef struct node {
  sw_core *c;
  sw_addr addr;
  tu_rng rng;
  ev evs[MAXEV];
  int nev;
  uint8_t id[20];
  uint8_t pub[32];
  int dead; /* crashed: sends nothing, receives nothing, runs no timers */
  int greet; /* on CONNECTION, write this many messages at once, from the callback */
  const uint64_t *clock;
  /* called from the core's callback for every DATA, after it is recorded (a test may
   * call into cores from there, as an application's handler would) */
  void (*on_data)(struct node *nd, const sw_event *e);
  void *hook;
} node;

typedef struct dgram {
  int from; /* node index, -1 for injected */
  sw_addr to;
  uint8_t *d;
  size_t len;
} dgram;

typedef struct net net;
/* Return 0 to drop a datagram in flight. */
typedef int (*net_filter)(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len);

struct net {
  node nodes[MAXN];
  int count;
  uint64_t now;
  net_filter filter;
  dgram stray[512]; /* datagrams to addresses outside the net (the fake references) */
  int nstray;
  dgram seen[512]; /* every datagram between nodes, when record is set */
  int nseen, record;
};

/* A node's randomness (sw_core_config.random; ctx is the node). */
void node_random(void *ctx, uint8_t *buf, size_t len);

/* An empty net at a clock of 10^6 ms; free it with net_free. */
net *net_new(void);
/* Add a core at `addr` ("ip:port"): seed_hex NULL for a random identity, base NULL for
 * the default configuration. Returns its index in n->nodes. */
int net_add_cfg(net *n, const char *seed_hex, const char *addr, const sw_core_config *base);
int net_add(net *n, const char *addr);
void net_free(net *n);

/* Append a copy of a datagram to arr (n->stray or n->seen) while there is room. */
void keep(dgram *arr, int *cnt, int max, int from, const sw_addr *to, const uint8_t *d,
          size_t len);
/* Move datagrams until every core's output is empty. */
void pump(net *n);
/* Run every timer up to `until`, pumping after each, then stop at `until`. */
void advance(net *n, uint64_t until);
/* Hand a datagram from `from` to node `to`, now. */
void inject(net *n, int to, const sw_addr *from, const uint8_t *d, size_t len);

int count_ev(const node *nd, sw_event_type t);
/* The nth event of type t (from 0), or NULL. */
const ev *nth_ev(const node *nd, sw_event_type t, int nth);
sw_core_stats stats(const node *nd);
/* Datagrams to `a` outside the net whose first byte is `type`. */
int strays_to(const net *n, const sw_addr *a, uint8_t type);
void clear_strays(net *n);
/* Connect a to b (a dials), run until both have the session. */
void connect_nodes(net *n, int a, int b);
int has_peer(const node *nd, const node *other);

/* ---- a hand-driven reference peer ------------------------------------------- */

typedef struct ref_peer {
  crypto_identity id;
  sw_addr addr;
  crypto_aead *tx, *rx;
  uint32_t session_id;
  uint64_t ctr;
  uint32_t seq;
} ref_peer;

/* Identity from seed_hex, at addr, with the session keys towards `target`. */
void ref_init(ref_peer *r, const char *seed_hex, const char *addr, const node *target);
void ref_free(ref_peer *r);
/* The references' 41-byte HELLO (no trailer). */
void ref_hello(net *n, ref_peer *r, int to, uint8_t type);
/* A DATA frame as a reference builds it: counter and sequence from the caller. */
size_t ref_data_frame(ref_peer *r, uint8_t *out, uint64_t ctr, uint32_t seq, const void *msg,
                      size_t len);
/* A DATA frame with the next counter and sequence, injected from r's address. */
void ref_send(net *n, ref_peer *r, int to, const void *msg, size_t len);
/* Answer the core's next PING to r with a PONG, as a reference peer does, so that r's
 * address is validated (advances the clock up to 40 s in 100 ms steps). 1 when done. */
int ref_prove(net *n, ref_peer *r, int to);
/* Open a DATA frame the core sent to the reference peer; returns the message length. */
size_t ref_open(ref_peer *r, const uint8_t *f, size_t len, uint32_t *seq, uint8_t *msg);

/* The same keys driven as a libsetowire peer: HELLO with the trailer, sealed frames. */
void sw_peer_hello(net *n, ref_peer *r, int to, const sw_addr *from);
void sw_peer_sealed(net *n, ref_peer *r, int to, const sw_addr *from, uint64_t ctr,
                    uint8_t type, const uint8_t *body, size_t blen);
void sw_peer_data(net *n, ref_peer *r, int to, const sw_addr *from, uint64_t ctr,
                  uint32_t seq, const void *msg, size_t len);
/* Sealed frames of `type` the core sent to `to`, alone or inside a BATCH; the last
 * one's 16 bytes in body. */
int sealed_to(const net *n, ref_peer *r, const sw_addr *to, uint8_t type, uint8_t body[16]);

sw_addr addr_of(const char *text);
/* 1 when the first peer nd lists is at address a. */
int best_is(const node *nd, const sw_addr *a);

/* Seeds for reference peers. */
extern const char SEED_R[];
extern const char SEED_R2[];

#endif
