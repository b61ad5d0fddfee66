/* The engine: cores wired back to back in virtual time by a tiny in-test loop, plus a
 * hand-driven "reference peer" (41-byte HELLO, keys derived here) for the legacy paths.
 * Handshake, events, write/broadcast/flooding, the stricter receipt rules (D2, D7, D9,
 * D18, D19, D20, replays), size and back-pressure errors, legacy FRAG. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "core.h"
#include "crypto.h"
#include "setowire.h"
#include "testutil.h"
#include "wire.h"

/* ---- a small network of cores ------------------------------------------------ */

#define MAXN 10
#define MAXEV 2048

typedef struct ev {
  sw_event_type type;
  uint8_t peer[8];
  uint8_t *data;
  size_t len;
  char addr[SW_ADDRSTRLEN];
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

static void node_random(void *ctx, uint8_t *buf, size_t len) {
  node *nd = ctx;
  tu_rng_bytes(&nd->rng, buf, len);
}

static void node_event(void *ctx, const sw_event *e) {
  node *nd = ctx;
  assert_true(nd->nev < MAXEV);
  ev *x = &nd->evs[nd->nev++];
  memset(x, 0, sizeof *x);
  x->type = e->type;
  if (e->peer) memcpy(x->peer, e->peer, 8);
  if (e->type == SW_EV_DATA) {
    x->data = malloc(e->len ? e->len : 1);
    memcpy(x->data, e->data, e->len);
    x->len = e->len;
  }
  if (e->addr) snprintf(x->addr, sizeof x->addr, "%s", e->addr);
  /* greetings alternate small (batched) and large (sent alone at once) */
  for (int k = 0; e->type == SW_EV_CONNECTION && k < nd->greet; k++) {
    uint8_t m[1500];
    size_t len = k % 2 ? sizeof m : 16;
    memset(m, 'g', len);
    memcpy(m, "greet ", 6);
    m[6] = (uint8_t)('0' + k % 10);
    m[7] = 0;
    assert_int_equal(sw_core_write(nd->c, e->peer, m, len, *nd->clock), SW_OK);
  }
}

static net *net_new(void) {
  net *n = calloc(1, sizeof *n);
  n->now = 1000000;
  return n;
}

static int net_add_cfg(net *n, const char *seed_hex, const char *addr, const sw_core_config *base) {
  assert_true(n->count < MAXN);
  int i = n->count++;
  node *nd = &n->nodes[i];
  nd->rng.s = 0x5eed0000u + (uint64_t)i;
  sw_core_config cfg = {0};
  if (base) cfg = *base;
  cfg.seed_hex = seed_hex;
  cfg.random = node_random;
  cfg.on_event = node_event;
  cfg.ctx = nd;
  nd->clock = &n->now;
  assert_int_equal(sw_core_new(&nd->c, &cfg, n->now), SW_OK);
  assert_int_equal(addr_parse_hostport(&nd->addr, addr), SW_OK);
  sw_core_identity(nd->c, nd->pub, nd->id);
  return i;
}

static int net_add(net *n, const char *addr) { return net_add_cfg(n, NULL, addr, NULL); }

static void net_free(net *n) {
  for (int i = 0; i < n->count; i++) {
    sw_core_free(n->nodes[i].c);
    for (int k = 0; k < n->nodes[i].nev; k++) free(n->nodes[i].evs[k].data);
  }
  for (int k = 0; k < n->nstray; k++) free(n->stray[k].d);
  for (int k = 0; k < n->nseen; k++) free(n->seen[k].d);
  free(n);
}

static int node_at(net *n, const sw_addr *a) {
  for (int i = 0; i < n->count; i++)
    if (!n->nodes[i].dead && addr_equal(&n->nodes[i].addr, a)) return i;
  return -1;
}

static void keep(dgram *arr, int *cnt, int max, int from, const sw_addr *to, const uint8_t *d,
                 size_t len) {
  if (*cnt >= max) return;
  dgram *g = &arr[(*cnt)++];
  g->from = from;
  g->to = *to;
  g->d = malloc(len ? len : 1);
  memcpy(g->d, d, len);
  g->len = len;
}

/* Move datagrams until every core's output is empty. */
static void pump(net *n) {
  for (int guard = 0; guard < 100000; guard++) {
    size_t moved = 0;
    for (int i = 0; i < n->count; i++) {
      node *src = &n->nodes[i];
      sw_dgram d[32];
      if (src->dead) continue;
      sw_core_flush(src->c, n->now);
      size_t k = sw_core_out_peek(src->c, d, 32);
      for (size_t j = 0; j < k; j++) {
        assert_int_equal(d[j].kind, SW_SOCK_MAIN);
        if (n->filter && !n->filter(n, i, d[j].to, d[j].data, d[j].len)) continue;
        int dst = node_at(n, d[j].to);
        if (dst < 0) {
          keep(n->stray, &n->nstray, 512, i, d[j].to, d[j].data, d[j].len);
          continue;
        }
        if (n->record) keep(n->seen, &n->nseen, 512, i, d[j].to, d[j].data, d[j].len);
        /* copy: delivering may make the destination write into its own ring only,
         * but the source could be the destination */
        uint8_t *copy = malloc(d[j].len ? d[j].len : 1);
        memcpy(copy, d[j].data, d[j].len);
        sw_core_datagram(n->nodes[dst].c, SW_SOCK_MAIN, &src->addr, copy, d[j].len, n->now);
        free(copy);
      }
      if (k) sw_core_out_consume(src->c, k, n->now);
      moved += k;
    }
    if (!moved) return;
  }
  fail_msg("datagrams never stopped flowing");
}

/* Run every timer up to `until`, pumping after each, then stop at `until`. */
static void advance(net *n, uint64_t until) {
  for (int guard = 0; guard < 1000000; guard++) {
    uint64_t t = UINT64_MAX;
    for (int i = 0; i < n->count; i++) {
      uint64_t x = sw_core_deadline(n->nodes[i].c);
      if (!n->nodes[i].dead && x < t) t = x;
    }
    if (t > until) break;
    if (t > n->now) n->now = t;
    for (int i = 0; i < n->count; i++)
      if (!n->nodes[i].dead && sw_core_deadline(n->nodes[i].c) <= n->now)
        sw_core_timeout(n->nodes[i].c, n->now);
    pump(n);
  }
  if (until > n->now) n->now = until;
  pump(n);
}

static void inject(net *n, int to, const sw_addr *from, const uint8_t *d, size_t len) {
  sw_core_datagram(n->nodes[to].c, SW_SOCK_MAIN, from, d, len, n->now);
}

static int count_ev(const node *nd, sw_event_type t) {
  int c = 0;
  for (int k = 0; k < nd->nev; k++) c += nd->evs[k].type == t;
  return c;
}

static const ev *nth_ev(const node *nd, sw_event_type t, int nth) {
  for (int k = 0; k < nd->nev; k++)
    if (nd->evs[k].type == t && nth-- == 0) return &nd->evs[k];
  return NULL;
}

static sw_core_stats stats(const node *nd) {
  sw_core_stats s;
  sw_core_get_stats(nd->c, &s);
  return s;
}

static int strays_to(const net *n, const sw_addr *a, uint8_t type) {
  int c = 0;
  for (int k = 0; k < n->nstray; k++)
    if (addr_equal(&n->stray[k].to, a) && n->stray[k].len && n->stray[k].d[0] == type) c++;
  return c;
}

static void clear_strays(net *n) {
  for (int k = 0; k < n->nstray; k++) free(n->stray[k].d);
  n->nstray = 0;
}

/* Connect a to b (a dials), run until both have the session. */
static void connect_nodes(net *n, int a, int b) {
  assert_int_equal(sw_core_dial(n->nodes[a].c, &n->nodes[b].addr, NULL, n->now), SW_OK);
  pump(n);
  advance(n, n->now + 10);
}

static int has_peer(const node *nd, const node *other) {
  sw_core_peer_info info[16];
  size_t k = sw_core_peers(nd->c, info, 16);
  for (size_t i = 0; i < k && i < 16; i++)
    if (memcmp(info[i].wire_id, other->id, 8) == 0) return 1;
  return 0;
}

/* ---- a hand-driven reference peer ------------------------------------------- */

typedef struct ref_peer {
  crypto_identity id;
  sw_addr addr;
  crypto_aead *tx, *rx;
  uint32_t session_id;
  uint64_t ctr;
  uint32_t seq;
} ref_peer;

static void ref_init(ref_peer *r, const char *seed_hex, const char *addr, const node *target) {
  crypto_session_keys k;
  memset(r, 0, sizeof *r);
  assert_int_equal(crypto_identity_from_hex(&r->id, seed_hex), 0);
  assert_int_equal(addr_parse_hostport(&r->addr, addr), SW_OK);
  assert_int_equal(crypto_derive_session(&r->id, target->pub, &k), 0);
  r->tx = crypto_aead_new(k.send_key, 1);
  r->rx = crypto_aead_new(k.recv_key, 0);
  r->session_id = k.session_id;
}

static void ref_free(ref_peer *r) {
  crypto_aead_free(r->tx);
  crypto_aead_free(r->rx);
}

/* The references' 41-byte HELLO (no trailer). */
static void ref_hello(net *n, ref_peer *r, int to, uint8_t type) {
  uint8_t h[WIRE_HELLO_LEN];
  wire_hello_encode(h, type, r->id.id, r->id.pub, -1);
  inject(n, to, &r->addr, h, sizeof h);
}

/* A DATA frame as a reference builds it: counter and sequence from the caller. */
static size_t ref_data_frame(ref_peer *r, uint8_t *out, uint64_t ctr, uint32_t seq, const void *msg,
                             size_t len) {
  uint8_t s[4];
  wire_put32(s, seq);
  wire_data_header(out, r->session_id, ctr);
  assert_int_equal(crypto_aead_seal(r->tx, out + 1, s, 4, msg, len, out + WIRE_DATA_HDR), 0);
  return len + WIRE_DATA_OVERHEAD;
}

static void ref_send(net *n, ref_peer *r, int to, const void *msg, size_t len) {
  uint8_t *f = malloc(len + WIRE_DATA_OVERHEAD);
  size_t fl = ref_data_frame(r, f, r->ctr++, r->seq++, msg, len);
  inject(n, to, &r->addr, f, fl);
  free(f);
}

/* Open a DATA frame the core sent to the reference peer; returns the message length. */
static size_t ref_open(ref_peer *r, const uint8_t *f, size_t len, uint32_t *seq, uint8_t *msg) {
  uint8_t *pt = malloc(len);
  assert_true(len >= WIRE_DATA_OVERHEAD);
  assert_int_equal(f[0], WIRE_DATA);
  assert_true(wire_get32(f + 1) == r->session_id);
  assert_int_equal(crypto_aead_open(r->rx, f + 1, f + WIRE_DATA_HDR, len - WIRE_DATA_HDR, pt), 0);
  size_t ml = len - WIRE_DATA_OVERHEAD;
  *seq = wire_get32(pt);
  memcpy(msg, pt + 4, ml);
  free(pt);
  return ml;
}

/* The same keys driven as a libsetowire peer: HELLO with the trailer, sealed frames. */
static void sw_peer_hello(net *n, ref_peer *r, int to, const sw_addr *from) {
  uint8_t h[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t l = wire_hello_encode(h, WIRE_HELLO, r->id.id, r->id.pub, WIRE_CAP_SEALED);
  inject(n, to, from, h, l);
}

static void sw_peer_sealed(net *n, ref_peer *r, int to, const sw_addr *from, uint64_t ctr,
                           uint8_t type, const uint8_t *body, size_t blen) {
  uint8_t in[64], f[128];
  in[0] = type;
  memcpy(in + 1, body, blen);
  f[0] = WIRE_SEALED;
  wire_put32(f + 1, r->session_id);
  wire_put64(f + 5, ctr);
  assert_int_equal(crypto_aead_seal(r->tx, f + 1, NULL, 0, in, 1 + blen, f + WIRE_DATA_HDR), 0);
  inject(n, to, from, f, WIRE_DATA_HDR + 1 + blen + CRYPTO_TAG_LEN);
}

static void sw_peer_data(net *n, ref_peer *r, int to, const sw_addr *from, uint64_t ctr,
                         uint32_t seq, const void *msg, size_t len) {
  uint8_t *f = malloc(len + WIRE_DATA_OVERHEAD);
  size_t fl = ref_data_frame(r, f, ctr, seq, msg, len);
  inject(n, to, from, f, fl);
  free(f);
}

/* 1 when f is a sealed frame of `type` with 16 bytes after it (into body), opened with
 * r's keys. */
static int sealed_match(ref_peer *r, const uint8_t *f, size_t len, uint8_t type, uint8_t body[16]) {
  uint8_t in[128];
  if (len != WIRE_DATA_HDR + 17 + CRYPTO_TAG_LEN || f[0] != WIRE_SEALED) return 0;
  if (crypto_aead_open(r->rx, f + 1, f + WIRE_DATA_HDR, len - WIRE_DATA_HDR, in)) return 0;
  if (in[0] != type) return 0;
  memcpy(body, in + 1, 16);
  return 1;
}

/* Sealed frames of `type` the core sent to `to`, alone or inside a BATCH; the last
 * one's 16 bytes in body. */
static int sealed_to(const net *n, ref_peer *r, const sw_addr *to, uint8_t type, uint8_t body[16]) {
  int cnt = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    wire_batch_iter it;
    const uint8_t *f;
    size_t fl;
    if (!addr_equal(&g->to, to)) continue;
    if (g->d[0] == WIRE_BATCH && wire_batch_begin(&it, g->d, g->len) == 0) {
      while (wire_batch_next(&it, &f, &fl)) cnt += sealed_match(r, f, fl, type, body);
    } else {
      cnt += sealed_match(r, g->d, g->len, type, body);
    }
  }
  return cnt;
}

static sw_addr addr_of(const char *text) {
  sw_addr a;
  assert_int_equal(addr_parse_hostport(&a, text), SW_OK);
  return a;
}

static int best_is(const node *nd, const sw_addr *a) {
  sw_core_peer_info info[4];
  assert_true(sw_core_peers(nd->c, info, 4) >= 1);
  return addr_equal(&info[0].addr, a);
}

static const char *SEED_R = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
static const char *SEED_R2 = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/* ---- handshake ----------------------------------------------------------------- */

static void test_handshake_one_way(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1001"), b = net_add(n, "10.0.0.2:1002");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  /* the dial sends a HELLO at once: the reference 41 bytes, then our trailer */
  sw_dgram d[4];
  assert_int_equal(sw_core_out_peek(A->c, d, 4), 1);
  assert_int_equal(d[0].len, WIRE_HELLO_LEN + WIRE_TRAILER_LEN);
  uint8_t ref41[WIRE_HELLO_LEN];
  wire_hello_encode(ref41, WIRE_HELLO, A->id, A->pub, -1);
  assert_memory_equal(d[0].data, ref41, WIRE_HELLO_LEN);
  assert_true(addr_equal(d[0].to, &B->addr));
  pump(n);
  /* one CONNECTION each, naming the other and its address */
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  assert_memory_equal(nth_ev(A, SW_EV_CONNECTION, 0)->peer, B->id, 8);
  assert_string_equal(nth_ev(A, SW_EV_CONNECTION, 0)->addr, "10.0.0.2:1002");
  assert_memory_equal(nth_ev(B, SW_EV_CONNECTION, 0)->peer, A->id, 8);
  assert_string_equal(nth_ev(B, SW_EV_CONNECTION, 0)->addr, "10.0.0.1:1001");
  assert_int_equal(sw_core_peer_count(A->c), 1);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* libsetowire on both sides: not a reference session, and each side proved its key
   * to the other with a sealed frame, so both addresses are verified */
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(A->c, &info, 1), 1);
  assert_int_equal(info.reference, 0);
  assert_int_equal(info.verified, 1);
  assert_true(addr_equal(&info.addr, &B->addr));
  assert_int_equal(sw_core_peers(B->c, &info, 1), 1);
  assert_int_equal(info.reference, 0);
  assert_int_equal(info.verified, 1);
  /* the exchange: HELLO, HELLO_ACK, and one sealed proof each way */
  int hellos = 0, acks = 0, sealed = 0;
  for (int k = 0; k < n->nseen; k++) {
    hellos += n->seen[k].d[0] == WIRE_HELLO;
    acks += n->seen[k].d[0] == WIRE_HELLO_ACK;
    sealed += n->seen[k].d[0] == WIRE_SEALED;
  }
  assert_int_equal(hellos, 1);
  assert_int_equal(acks, 1);
  assert_int_equal(sealed, 2);
  /* the dial is over: no more HELLOs in the next seconds, only heartbeats */
  for (int k = 0; k < n->nseen; k++) free(n->seen[k].d);
  n->nseen = 0;
  advance(n, n->now + 6000);
  for (int k = 0; k < n->nseen; k++) {
    assert_int_not_equal(n->seen[k].d[0], WIRE_HELLO);
    assert_true(n->seen[k].d[0] == WIRE_PING || n->seen[k].d[0] == WIRE_PONG);
  }
  assert_true(n->nseen >= 20); /* 6 s of PING + PONG both ways */
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  net_free(n);
}

static void test_handshake_both_ways(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1001"), b = net_add(n, "[2001:db8::2]:1002");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  assert_int_equal(sw_core_dial(B->c, &A->addr, NULL, n->now), SW_OK);
  /* dialling again is a no-op */
  assert_int_equal(sw_core_dial(B->c, &A->addr, NULL, n->now), SW_OK);
  pump(n);
  advance(n, n->now + 3000);
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  assert_string_equal(nth_ev(A, SW_EV_CONNECTION, 0)->addr, "[2001:db8::2]:1002");
  assert_int_equal(sw_core_peer_count(A->c), 1);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* and the session works in both directions */
  assert_int_equal(sw_core_write(A->c, B->id, "ab", 2, n->now), SW_OK);
  assert_int_equal(sw_core_write(B->c, A->id, "ba", 2, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->data, "ab", 2);
  assert_memory_equal(nth_ev(A, SW_EV_DATA, 0)->data, "ba", 2);
  net_free(n);
}

static void test_hello_exchange_vector(void **state) {
  (void)state;
  /* hello.json exchange_example with two cores at the vector's addresses */
  json_t *v = tu_vectors("hello.json");
  json_t *x = json_object_get(v, "exchange_example");
  json_t *vec = json_object_get(v, "vectors");
  json_t *ini = json_array_get(vec, (size_t)json_integer_value(json_object_get(x, "initiator_seed_index")));
  json_t *res = json_array_get(vec, (size_t)json_integer_value(json_object_get(x, "responder_seed_index")));
  net *n = net_new();
  int a = net_add_cfg(n, tu_str(ini, "seed_hex"), tu_str(x, "initiator_addr"), NULL);
  int b = net_add_cfg(n, tu_str(res, "seed_hex"), tu_str(x, "responder_addr"), NULL);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_OK);
  pump(n);
  assert_true(n->nseen >= 2);
  assert_int_equal(n->seen[0].from, a);
  assert_string_equal(tu_hex(n->seen[0].d, WIRE_HELLO_LEN), tu_str(x, "hello_hex"));
  assert_int_equal(n->seen[1].from, b);
  assert_string_equal(tu_hex(n->seen[1].d, WIRE_HELLO_LEN), tu_str(x, "hello_ack_hex"));
  assert_string_equal(tu_hex(nth_ev(B, SW_EV_CONNECTION, 0)->peer, 8),
                      tu_str(x, "responder_registered_initiator_as"));
  assert_string_equal(tu_hex(nth_ev(A, SW_EV_CONNECTION, 0)->peer, 8),
                      tu_str(x, "initiator_registered_responder_as"));
  assert_string_equal(nth_ev(B, SW_EV_CONNECTION, 0)->addr, tu_str(x, "initiator_addr"));
  net_free(n);
  json_decref(v);
}

static void test_dial_with_full_id(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2"), c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  /* the right full id: connects */
  assert_int_equal(sw_core_dial(A->c, &B->addr, B->id, n->now), SW_OK);
  advance(n, n->now + 100);
  assert_true(has_peer(A, B));
  /* a wrong full id for C's address: C's answer does not hash to it, so A refuses it */
  assert_int_equal(sw_core_dial(A->c, &C->addr, B->id, n->now), SW_OK); /* B known: no-op */
  uint8_t wrong[20];
  memcpy(wrong, C->id, 20);
  wrong[19] ^= 1; /* same wire id, different full id */
  assert_int_equal(sw_core_dial(A->c, &C->addr, wrong, n->now), SW_OK);
  advance(n, n->now + 6000);
  assert_false(has_peer(A, C));
  assert_int_equal(sw_core_peer_count(A->c), 1);
  /* our own id, a bad address: refused at the API */
  assert_int_equal(sw_core_dial(A->c, &C->addr, A->id, n->now), SW_EINVAL);
  sw_addr bad;
  memset(&bad, 0, sizeof bad);
  assert_int_equal(sw_core_dial(A->c, &bad, NULL, n->now), SW_EINVAL);
  assert_int_equal(addr_parse_hostport(&bad, "10.0.0.9:0"), SW_OK);
  assert_int_equal(sw_core_dial(A->c, &bad, NULL, n->now), SW_EINVAL);
  assert_int_equal(sw_core_dial(A->c, NULL, NULL, n->now), SW_EINVAL);
  net_free(n);
}

/* ---- messages ------------------------------------------------------------------- */

static void test_write_broadcast_flood(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2"), c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  connect_nodes(n, a, b);
  connect_nodes(n, a, c);
  connect_nodes(n, b, c);
  assert_int_equal(sw_core_peer_count(A->c), 2);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  /* a broadcast reaches each peer once; the floods between B and C are deduplicated
   * and nothing comes back to A */
  assert_int_equal(sw_core_broadcast(A->c, "to all", 6, n->now), 2);
  pump(n);
  advance(n, n->now + 200);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(count_ev(C, SW_EV_DATA), 1);
  assert_int_equal(count_ev(A, SW_EV_DATA), 0);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->peer, A->id, 8);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->data, "to all", 6);
  assert_true(stats(B).duplicates + stats(C).duplicates >= 1);
  /* write to one peer: it is delivered there, and flooded on to the others (6.3) */
  assert_int_equal(sw_core_write(A->c, B->id, "unicast?", 8, n->now), SW_OK);
  pump(n);
  advance(n, n->now + 200);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_int_equal(count_ev(C, SW_EV_DATA), 2);
  /* C got it from B, the last hop; C's own flood back to A is A's own message */
  const ev *e = nth_ev(C, SW_EV_DATA, 1);
  assert_memory_equal(e->data, "unicast?", 8);
  assert_memory_equal(e->peer, B->id, 8);
  assert_int_equal(count_ev(A, SW_EV_DATA), 0);
  /* unknown peer */
  uint8_t nobody[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  assert_int_equal(sw_core_write(A->c, nobody, "x", 1, n->now), SW_ENOTCONN);
  assert_int_equal(sw_core_write(A->c, NULL, "x", 1, n->now), SW_ENOTCONN);
  assert_int_equal(sw_core_write(A->c, B->id, NULL, 1, n->now), SW_EINVAL);
  net_free(n);
}

static void test_multi_hop_chain(void **state) {
  (void)state;
  /* A - B - C, no A - C: C hears A's message through B */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2"), c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  connect_nodes(n, a, b);
  connect_nodes(n, b, c);
  assert_int_equal(sw_core_write(A->c, B->id, "hop", 3, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(C, SW_EV_DATA), 1);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->peer, B->id, 8);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->data, "hop", 3);
  /* C floods back to nobody but B, which has seen it: no loop, A never gets it */
  advance(n, n->now + 500);
  assert_int_equal(count_ev(A, SW_EV_DATA), 0);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  net_free(n);
}

static void test_many_writes_in_order_batched(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->record = 1;
  for (int i = 0; i < 300; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "message number %d", i);
    assert_int_equal(sw_core_write(A->c, B->id, m, (size_t)l, n->now), SW_OK);
  }
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 300);
  for (int i = 0; i < 300; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "message number %d", i);
    const ev *e = nth_ev(B, SW_EV_DATA, i);
    assert_int_equal(e->len, (size_t)l);
    assert_memory_equal(e->data, m, (size_t)l);
  }
  /* coalesced into BATCH datagrams of at most 1402 bytes, grouped by the reference
   * rule (sum of length + 2 at most 1400) */
  int batches = 0, frames = 0;
  for (int k = 0; k < n->nseen; k++) {
    if (n->seen[k].from != a || n->seen[k].d[0] != WIRE_BATCH) continue;
    wire_batch_iter it;
    const uint8_t *f;
    size_t fl, sum = 0;
    assert_true(n->seen[k].len <= WIRE_BATCH_MTU + 2);
    assert_int_equal(wire_batch_begin(&it, n->seen[k].d, n->seen[k].len), SW_OK);
    while (wire_batch_next(&it, &f, &fl)) {
      assert_int_equal(f[0], WIRE_DATA);
      sum += fl + 2;
      frames++;
    }
    assert_true(sum <= WIRE_BATCH_MTU);
    assert_int_equal(it.off, n->seen[k].len);
    batches++;
  }
  assert_true(frames >= 290);
  assert_true(batches <= 20);
  net_free(n);
}

static void test_message_size_limits(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  uint8_t *big = malloc(SW_MAX_MESSAGE + 1);
  for (size_t i = 0; i <= SW_MAX_MESSAGE; i++) big[i] = (uint8_t)(i * 13 + (i >> 9));
  assert_int_equal(sw_core_write(A->c, B->id, big, SW_MAX_MESSAGE + 1, n->now), SW_EMSGSIZE);
  assert_int_equal(sw_core_broadcast(A->c, big, SW_MAX_MESSAGE + 1, n->now), SW_EMSGSIZE);
  assert_int_equal(sw_core_out_pending(A->c), 0);
  /* the largest message is one encrypted datagram of exactly 65507 bytes */
  n->record = 1;
  assert_int_equal(sw_core_write(A->c, B->id, big, SW_MAX_MESSAGE, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(nth_ev(B, SW_EV_DATA, 0)->len, SW_MAX_MESSAGE);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->data, big, SW_MAX_MESSAGE);
  int found = 0;
  for (int k = 0; k < n->nseen; k++) found += n->seen[k].len == WIRE_UDP_MAX && n->seen[k].d[0] == WIRE_DATA;
  assert_int_equal(found, 1);
  /* an empty message is a message */
  assert_int_equal(sw_core_write(A->c, B->id, "", 0, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_int_equal(nth_ev(B, SW_EV_DATA, 1)->len, 0);
  /* a send ring too small for the guarantees is refused at creation */
  sw_core *c2;
  sw_core_config cfg = {0};
  cfg.random = node_random;
  cfg.ctx = A;
  cfg.out_buffer_bytes = 64 * 1024;
  assert_int_equal(sw_core_new(&c2, &cfg, n->now), SW_EINVAL);
  cfg.out_buffer_bytes = 0;
  cfg.seed_hex = "abc";
  assert_int_equal(sw_core_new(&c2, &cfg, n->now), SW_EINVAL);
  cfg.seed_hex = NULL;
  cfg.random = NULL;
  assert_int_equal(sw_core_new(&c2, &cfg, n->now), SW_EINVAL);
  free(big);
  net_free(n);
}

/* ---- back-pressure ------------------------------------------------------------------ */

static void test_ring_full_then_writable(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config small = {0};
  small.out_buffer_bytes = 256 * 1024;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &small), b = net_add(n, "10.0.0.2:2");
  int c = net_add(n, "10.0.0.3:3");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  connect_nodes(n, a, c);
  uint8_t m[1000];
  int ok = 0, rc;
  for (;;) {
    memset(m, 0, sizeof m);
    memcpy(m, &ok, sizeof ok);
    rc = sw_core_write(A->c, B->id, m, sizeof m, n->now);
    if (rc != SW_OK) break;
    ok++;
    assert_true(ok < 100000);
  }
  assert_int_equal(rc, SW_EAGAIN);
  assert_true(ok > 100);
  assert_int_equal(count_ev(A, SW_EV_WRITABLE), 0);
  /* a broadcast now is refused whole: nothing at all is queued */
  size_t pending = sw_core_out_pending(A->c);
  assert_int_equal(sw_core_broadcast(A->c, "bcast", 5, n->now), SW_EAGAIN);
  sw_core_flush(A->c, n->now);
  assert_true(sw_core_out_pending(A->c) >= pending);
  size_t after_flush = sw_core_out_pending(A->c);
  assert_int_equal(sw_core_broadcast(A->c, "bcast", 5, n->now), SW_EAGAIN);
  assert_int_equal(sw_core_out_pending(A->c), after_flush);
  /* draining the ring gives one WRITABLE */
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_WRITABLE), 1);
  /* no write accepted was lost: every one arrived, in order */
  assert_int_equal(count_ev(B, SW_EV_DATA), ok);
  for (int i = 0; i < ok; i++) {
    int got;
    memcpy(&got, nth_ev(B, SW_EV_DATA, i)->data, sizeof got);
    assert_int_equal(got, i);
  }
  assert_int_equal(stats(A).flood_dropped, 0);
  assert_int_equal(stats(A).ctrl_dropped, 0);
  /* writes work again */
  assert_int_equal(sw_core_write(A->c, B->id, "again", 5, n->now), SW_OK);
  assert_int_equal(sw_core_broadcast(A->c, "bcast", 5, n->now), 2);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), ok + 2);
  net_free(n);
}

static void test_big_writes_until_eagain(void **state) {
  (void)state;
  /* 60 KiB messages: each is its own datagram; the ring still never loses one */
  net *n = net_new();
  sw_core_config small = {0};
  small.out_buffer_bytes = 512 * 1024;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &small), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  uint8_t *m = calloc(1, 60000);
  int ok = 0, rc;
  for (int round = 0; round < 3; round++) {
    for (;;) {
      memcpy(m, &ok, sizeof ok);
      m[59999] = (uint8_t)ok;
      rc = sw_core_write(A->c, B->id, m, 60000, n->now);
      if (rc != SW_OK) break;
      ok++;
    }
    assert_int_equal(rc, SW_EAGAIN);
    pump(n);
    assert_int_equal(count_ev(A, SW_EV_WRITABLE), round + 1);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), ok);
  for (int i = 0; i < ok; i++) {
    const ev *e = nth_ev(B, SW_EV_DATA, i);
    int got;
    memcpy(&got, e->data, sizeof got);
    assert_int_equal(got, i);
    assert_int_equal(e->data[59999], (uint8_t)i);
  }
  free(m);
  net_free(n);
}

/* ---- stricter receipt --------------------------------------------------------------- */

static void test_hello_id_key_mismatch_ignored(void **state) {
  (void)state;
  /* D2: a HELLO whose wire id is not SHA-256(key)[0..7] creates nothing, answers nothing */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  uint8_t h[WIRE_HELLO_LEN];
  uint8_t other_id[8] = {0x57, 0x9e, 0xd6, 0xb4, 0xc7, 0x21, 0x08, 0xec}; /* one bit off */
  wire_hello_encode(h, WIRE_HELLO, other_id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  wire_hello_encode(h, WIRE_HELLO_ACK, other_id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  /* someone else's id with our key */
  wire_hello_encode(h, WIRE_HELLO, B->id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  assert_int_equal(n->nstray, 0);
  /* the same key with its own id is accepted, and answered with a HELLO_ACK */
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(strays_to(n, &r.addr, WIRE_HELLO_ACK), 1);
  /* a reference HELLO from an id that is now known, with the wrong id for the key,
   * still changes nothing */
  clear_strays(n);
  wire_hello_encode(h, WIRE_HELLO, other_id, r.id.pub, -1);
  inject(n, b, &r.addr, h, sizeof h);
  pump(n);
  assert_int_equal(n->nstray, 0);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  ref_free(&r);
  net_free(n);
}

static void test_hello_from_self_ignored(void **state) {
  (void)state;
  /* D9: our own HELLO (a node that dialled its own address) never makes a session */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  uint8_t h[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t hl = wire_hello_encode(h, WIRE_HELLO, B->id, B->pub, WIRE_CAP_SEALED);
  sw_addr other;
  addr_parse_hostport(&other, "10.7.7.7:7");
  inject(n, b, &B->addr, h, hl);
  inject(n, b, &other, h, hl);
  hl = wire_hello_encode(h, WIRE_HELLO_ACK, B->id, B->pub, -1);
  inject(n, b, &other, h, hl);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  assert_int_equal(n->nstray, 0);
  /* dialling ourselves: our HELLOs come back to us and are ignored */
  assert_int_equal(sw_core_dial(B->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 6000);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  net_free(n);
}

static void test_low_order_key_ignored(void **state) {
  (void)state;
  /* D18: a key whose shared secret is all zero makes no session (and no crash) */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  static const uint8_t low[3][32] = {{0}, {1}, {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae,
                                              0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
                                              0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd,
                                              0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}};
  sw_addr from;
  addr_parse_hostport(&from, "10.6.6.6:6");
  for (int k = 0; k < 3; k++) {
    uint8_t d[32], h[WIRE_HELLO_LEN];
    crypto_sha256(low[k], 32, d);
    wire_hello_encode(h, WIRE_HELLO, d, low[k], -1); /* the id matches the key */
    inject(n, b, &from, h, sizeof h);
    wire_hello_encode(h, WIRE_HELLO_ACK, d, low[k], -1);
    inject(n, b, &from, h, sizeof h);
  }
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 0);
  assert_int_equal(n->nstray, 0);
  net_free(n);
}

static void test_max_peers_refuses_without_ack(void **state) {
  (void)state;
  /* D20: at max_peers, a HELLO gets no HELLO_ACK, so no one-sided session forms */
  net *n = net_new();
  sw_core_config two = {0};
  two.max_peers = 2;
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &two);
  int a1 = net_add(n, "10.0.0.11:1"), a2 = net_add(n, "10.0.0.12:1"), a3 = net_add(n, "10.0.0.13:1");
  node *B = &n->nodes[b], *A1 = &n->nodes[a1], *A3 = &n->nodes[a3];
  connect_nodes(n, a1, b);
  connect_nodes(n, a2, b);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  n->record = 1;
  assert_int_equal(sw_core_dial(A3->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 6000); /* all 8 HELLOs */
  int hellos = 0;
  for (int k = 0; k < n->nseen; k++) {
    if (n->seen[k].from == a3 && n->seen[k].d[0] == WIRE_HELLO) hellos++;
    /* B never sends anything to A3 */
    assert_false(n->seen[k].from == b && addr_equal(&n->seen[k].to, &A3->addr));
  }
  assert_int_equal(hellos, 8);
  assert_int_equal(sw_core_peer_count(A3->c), 0);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 2);
  /* when a slot frees (A1 says goodbye), A3 gets in */
  assert_int_equal(sw_core_close(A1->c, n->now), SW_OK);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, A1->id, 8);
  assert_int_equal(sw_core_dial(A3->c, &B->addr, NULL, n->now), SW_OK);
  advance(n, n->now + 100);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  assert_true(has_peer(B, A3));
  assert_true(has_peer(A3, B));
  net_free(n);
}

static void test_ping_rules(void **state) {
  (void)state;
  /* D19: a PING from an address that is not a known peer's gets no PONG, even when it
   * carries a connected peer's id (D8) */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  assert_int_equal(sw_core_out_pending(B->c), 0);
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.5.5.5:5");
  uint8_t ping[WIRE_PING_LEN];
  wire_ping_encode(ping, 1700000000123ull, A->id);
  inject(n, b, &stranger, ping, sizeof ping);
  static const uint8_t tiny[2] = {WIRE_PING, 0};
  inject(n, b, &stranger, tiny, sizeof tiny);
  assert_int_equal(sw_core_out_pending(B->c), 0);
  pump(n);
  assert_int_equal(n->nstray, 0);
  /* from the peer's own address: a PONG with our full id, exactly the reference frame */
  inject(n, b, &A->addr, ping, sizeof ping);
  sw_dgram d[2];
  assert_int_equal(sw_core_out_peek(B->c, d, 2), 1);
  uint8_t pong[WIRE_PONG_LEN];
  wire_pong_encode(pong, B->id);
  assert_int_equal(d[0].len, WIRE_PONG_LEN);
  assert_memory_equal(d[0].data, pong, WIRE_PONG_LEN);
  assert_true(addr_equal(d[0].to, &A->addr));
  sw_core_out_consume(B->c, 1, n->now);
  /* any length >= 2 from a known address is a PING (the references ignore the body) */
  inject(n, b, &A->addr, tiny, sizeof tiny);
  assert_int_equal(sw_core_out_pending(B->c), 1);
  pump(n);
  /* a PONG from a stranger carrying A's id adds no address (D8) */
  uint8_t pong_a[WIRE_PONG_LEN];
  wire_pong_encode(pong_a, A->id);
  inject(n, b, &stranger, pong_a, sizeof pong_a);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  advance(n, n->now + 3000);
  assert_int_equal(n->nstray, 0); /* B's PINGs still go to A only */
  net_free(n);
}

static void test_goaway_rules(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  /* the references' 1-byte GOAWAY is dropped, alone or inside a BATCH (10) */
  static const uint8_t g1[1] = {WIRE_GOAWAY};
  static const uint8_t gb[] = {WIRE_BATCH, 1, 0, 1, WIRE_GOAWAY};
  inject(n, b, &A->addr, g1, 1);
  inject(n, b, &A->addr, gb, sizeof gb);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* a 2-byte GOAWAY from a stranger's address does nothing */
  static const uint8_t g2[2] = {WIRE_GOAWAY, 0};
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.5.5.5:5");
  inject(n, b, &stranger, g2, 2);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* nor from a libsetowire peer's verified address: ours say goodbye sealed */
  inject(n, b, &A->addr, g2, 2);
  assert_int_equal(sw_core_peer_count(B->c), 1);

  /* a reference peer R: its address is not verified until authenticated DATA */
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  inject(n, b, &r.addr, g2, 2); /* D7: unverified address, ignored */
  assert_int_equal(sw_core_peer_count(B->c), 2);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 0);
  ref_send(n, &r, b, "proof", 5);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  inject(n, b, &r.addr, g1, 1); /* still 1 byte: still ignored */
  assert_int_equal(sw_core_peer_count(B->c), 2);
  inject(n, b, &r.addr, g2, 2); /* verified now: honoured */
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, r.id.id, 8);
  assert_true(has_peer(B, A));
  ref_free(&r);
  net_free(n);
}

static int drop_goaways(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)from;
  (void)to;
  if (len && (d[0] == WIRE_GOAWAY || d[0] == WIRE_SEALED)) {
    keep(n->stray, &n->nstray, 512, from, to, d, len);
    return 0;
  }
  return 1;
}

static void test_sealed_goaway(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->filter = drop_goaways;
  assert_int_equal(sw_core_close(A->c, n->now), SW_OK);
  assert_int_equal(sw_core_close(A->c, n->now), SW_OK); /* once only */
  pump(n);
  /* A said goodbye twice to B: sealed (our extension) and the 2-byte plain form */
  assert_int_equal(n->nstray, 2);
  const dgram *sealed = NULL, *plain = NULL;
  for (int k = 0; k < n->nstray; k++) {
    assert_true(addr_equal(&n->stray[k].to, &B->addr));
    if (n->stray[k].d[0] == WIRE_SEALED) sealed = &n->stray[k];
    if (n->stray[k].d[0] == WIRE_GOAWAY) plain = &n->stray[k];
  }
  assert_non_null(sealed);
  assert_non_null(plain);
  assert_int_equal(plain->len, WIRE_GOAWAY_LEN);
  assert_int_equal(sealed->len, 1 + 12 + 1 + CRYPTO_TAG_LEN);
  /* a tampered sealed GOAWAY is not honoured */
  uint8_t bad[64];
  memcpy(bad, sealed->d, sealed->len);
  bad[sealed->len - 1] ^= 0x40;
  inject(n, b, &A->addr, bad, sealed->len);
  memcpy(bad, sealed->d, sealed->len);
  bad[13] ^= 0x01; /* the inner type byte */
  inject(n, b, &A->addr, bad, sealed->len);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  /* the genuine one is, without the plain form */
  inject(n, b, &A->addr, sealed->d, sealed->len);
  assert_int_equal(sw_core_peer_count(B->c), 0);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, A->id, 8);
  /* a closed core refuses writes and dials */
  assert_int_equal(sw_core_write(A->c, B->id, "x", 1, n->now), SW_ECLOSED);
  assert_int_equal(sw_core_broadcast(A->c, "x", 1, n->now), SW_ECLOSED);
  assert_int_equal(sw_core_dial(A->c, &B->addr, NULL, n->now), SW_ECLOSED);
  net_free(n);
}

static int capture_data(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  if (len && d[0] == WIRE_DATA) keep(n->stray, &n->nstray, 512, from, to, d, len);
  return 1;
}

static void test_replayed_data_rejected(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->filter = capture_data;
  assert_int_equal(sw_core_write(A->c, B->id, "once", 4, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(n->nstray, 1);
  /* replayed at once (within the restart window of the HELLO), then later, and from
   * another address: never delivered again, and refused before content dedup */
  sw_addr other;
  addr_parse_hostport(&other, "10.4.4.4:4");
  inject(n, b, &A->addr, n->stray[0].d, n->stray[0].len);
  advance(n, n->now + 15000);
  inject(n, b, &A->addr, n->stray[0].d, n->stray[0].len);
  inject(n, b, &other, n->stray[0].d, n->stray[0].len);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  sw_core_stats s = stats(B);
  assert_int_equal(s.rx_replay, 3);
  assert_int_equal(s.duplicates, 0);
  assert_int_equal(s.restarts, 0);
  /* the replay from elsewhere did not win the peer an address */
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  /* fresh frames still flow */
  assert_int_equal(sw_core_write(A->c, B->id, "twice", 5, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  /* the same content in a new frame is a duplicate by content (6.2) */
  assert_int_equal(sw_core_write(A->c, B->id, "once", 4, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_int_equal(stats(B).duplicates, 1);
  net_free(n);
}

static void test_reference_replay_and_restart(void **state) {
  (void)state;
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_int_equal(info.reference, 1);
  /* the reference answers PINGs, so it stays alive across the next seconds */
  uint8_t frame[256];
  size_t fl = ref_data_frame(&r, frame, 0, 0, "first", 5);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  for (int s = 0; s < 12; s++) {
    advance(n, n->now + 1000);
    uint8_t pong[WIRE_PONG_LEN];
    wire_pong_encode(pong, r.id.id);
    inject(n, b, &r.addr, pong, sizeof pong);
  }
  /* long after its HELLO, a replay from the same address is refused */
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(stats(B).rx_replay, 1);
  /* the reference restarts (new process, same seed, same address): HELLO, then its
   * counter and sequence begin at 0 again; the session continues (D12) */
  ref_hello(n, &r, b, WIRE_HELLO);
  fl = ref_data_frame(&r, frame, 0, 0, "after restart", 13);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 1)->data, "after restart", 13);
  assert_int_equal(stats(B).restarts, 1);
  fl = ref_data_frame(&r, frame, 1, 1, "and on", 6);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  ref_free(&r);
  net_free(n);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "core hung on a DATA counter near 2^64\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(1);
}

static void test_counter_near_top(void **state) {
  (void)state;
  /* the sender chooses the counter; counters next to 2^64 must not hang the core */
  signal(SIGALRM, on_alarm);
  alarm(10);
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  uint8_t frame[64];
  size_t fl = ref_data_frame(&r, frame, UINT64_MAX - 3, 0, "m0", 2);
  inject(n, b, &r.addr, frame, fl);
  fl = ref_data_frame(&r, frame, UINT64_MAX, 1, "m1", 2);
  inject(n, b, &r.addr, frame, fl);
  fl = ref_data_frame(&r, frame, UINT64_MAX - 1, 2, "m2", 2);
  inject(n, b, &r.addr, frame, fl);
  inject(n, b, &r.addr, frame, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  alarm(0);
  ref_free(&r);
  net_free(n);
}

static void test_nested_batch(void **state) {
  (void)state;
  /* one level of BATCH nesting is processed; deeper nesting is dropped (D18) */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  uint8_t d1[64], d2[64], d3[64], buf[256];
  size_t l1 = ref_data_frame(&r, d1, 0, 0, "one", 3);
  size_t l2 = ref_data_frame(&r, d2, 1, 1, "two", 3);
  size_t l3 = ref_data_frame(&r, d3, 2, 2, "three", 5);
  /* BATCH(DATA, BATCH(DATA)) */
  size_t o = 0;
  buf[o++] = WIRE_BATCH;
  buf[o++] = 2;
  wire_put16(buf + o, (uint16_t)l1);
  memcpy(buf + o + 2, d1, l1);
  o += 2 + l1;
  wire_put16(buf + o, (uint16_t)(l2 + 4));
  o += 2;
  buf[o++] = WIRE_BATCH;
  buf[o++] = 1;
  wire_put16(buf + o, (uint16_t)l2);
  memcpy(buf + o + 2, d2, l2);
  o += 2 + l2;
  inject(n, b, &r.addr, buf, o);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  /* BATCH(BATCH(BATCH(DATA))) */
  o = 0;
  uint8_t deep[128];
  deep[o++] = WIRE_BATCH;
  deep[o++] = 1;
  wire_put16(deep + o, (uint16_t)(l3 + 8));
  o += 2;
  deep[o++] = WIRE_BATCH;
  deep[o++] = 1;
  wire_put16(deep + o, (uint16_t)(l3 + 4));
  o += 2;
  deep[o++] = WIRE_BATCH;
  deep[o++] = 1;
  wire_put16(deep + o, (uint16_t)l3);
  memcpy(deep + o + 2, d3, l3);
  o += 2 + l3;
  inject(n, b, &r.addr, deep, o);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  /* the same DATA at top level is fine */
  inject(n, b, &r.addr, d3, l3);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  ref_free(&r);
  net_free(n);
}

/* ---- FRAG ------------------------------------------------------------------------------ */

static void test_legacy_frag_send(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config legacy = {0};
  legacy.legacy_frag = 1;
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &legacy);
  int c = net_add(n, "10.0.0.3:3");
  int d = net_add(n, "10.0.0.4:4"); /* default: no legacy FRAG */
  node *A = &n->nodes[a], *C = &n->nodes[c], *D = &n->nodes[d];
  ref_peer r, r2;
  ref_init(&r, SEED_R, "10.9.9.9:9", A);
  ref_init(&r2, SEED_R2, "10.9.9.8:8", D);
  ref_hello(n, &r, a, WIRE_HELLO);
  ref_hello(n, &r2, d, WIRE_HELLO);
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_HELLO_ACK), 1);
  clear_strays(n);
  uint8_t msg[3000];
  for (int i = 0; i < 3000; i++) msg[i] = (uint8_t)(i * 7 + 3);
  /* legacy_frag, towards a 41-byte-HELLO peer: plaintext FRAG, as a reference sends */
  assert_int_equal(sw_core_write(A->c, r.id.id, msg, sizeof msg, n->now), SW_OK);
  pump(n);
  assert_int_equal(n->nstray, 3);
  uint8_t joined[3000];
  size_t total = 0;
  for (int k = 0; k < 3; k++) {
    const dgram *g = &n->stray[k];
    wire_frag f;
    assert_true(addr_equal(&g->to, &r.addr));
    assert_int_equal(g->len, k < 2 ? 1201u : 637u); /* one per datagram, unwrapped */
    assert_int_equal(wire_frag_decode(g->d, g->len, &f), SW_OK);
    assert_int_equal(f.index, k);
    assert_int_equal(f.count, 3);
    assert_memory_equal(f.frag_id, n->stray[0].d + 1, 8);
    memcpy(joined + total, f.data, f.len);
    total += f.len;
  }
  assert_int_equal(total, sizeof msg);
  assert_memory_equal(joined, msg, sizeof msg);
  clear_strays(n);
  /* a message of exactly 1200 bytes is still DATA, sequence 0: the first DATA */
  assert_int_equal(sw_core_write(A->c, r.id.id, msg, 1200, n->now), SW_OK);
  /* and 1201 bytes is two fragments: 1188 + 13 */
  assert_int_equal(sw_core_write(A->c, r.id.id, msg + 1, 1201, n->now), SW_OK);
  pump(n);
  /* the frames, in order, with BATCHes opened (the 13-byte tail may share a datagram
   * with the piece before it, by the reference grouping rule) */
  const uint8_t *fr[8];
  size_t frl[8];
  int nf = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    assert_true(addr_equal(&g->to, &r.addr));
    if (g->d[0] != WIRE_BATCH) {
      assert_true(nf < 8);
      fr[nf] = g->d;
      frl[nf++] = g->len;
      continue;
    }
    wire_batch_iter it;
    assert_int_equal(wire_batch_begin(&it, g->d, g->len), SW_OK);
    while (nf < 8 && wire_batch_next(&it, &fr[nf], &frl[nf])) nf++;
  }
  assert_int_equal(nf, 3);
  uint32_t seq;
  uint8_t out[1300];
  assert_int_equal(frl[0], 1200 + WIRE_DATA_OVERHEAD);
  assert_int_equal(ref_open(&r, fr[0], frl[0], &seq, out), 1200);
  assert_int_equal(seq, 0);
  assert_memory_equal(out, msg, 1200);
  wire_frag f0, f1;
  assert_int_equal(wire_frag_decode(fr[1], frl[1], &f0), SW_OK);
  assert_int_equal(wire_frag_decode(fr[2], frl[2], &f1), SW_OK);
  assert_int_equal(f0.count, 2);
  assert_int_equal(f0.index, 0);
  assert_int_equal(f0.len, WIRE_FRAG_DATA_MAX);
  assert_int_equal(f1.index, 1);
  assert_int_equal(f1.len, 13);
  assert_memory_equal(f0.frag_id, f1.frag_id, 8);
  assert_memory_equal(f0.data, msg + 1, WIRE_FRAG_DATA_MAX);
  assert_memory_equal(f1.data, msg + 1 + WIRE_FRAG_DATA_MAX, 13);
  clear_strays(n);
  /* legacy_frag towards a libsetowire peer: encrypted DATA, delivered whole */
  connect_nodes(n, a, c);
  clear_strays(n);
  assert_int_equal(sw_core_write(A->c, C->id, msg, sizeof msg, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(C, SW_EV_DATA), 1);
  assert_int_equal(nth_ev(C, SW_EV_DATA, 0)->len, sizeof msg);
  assert_memory_equal(nth_ev(C, SW_EV_DATA, 0)->data, msg, sizeof msg);
  /* without legacy_frag, to a reference peer: one encrypted DATA datagram (D1) */
  assert_int_equal(sw_core_write(D->c, r2.id.id, msg, sizeof msg, n->now), SW_OK);
  pump(n);
  int datas = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    assert_int_not_equal(g->d[0], WIRE_FRAG);
    if (!addr_equal(&g->to, &r2.addr) || g->d[0] != WIRE_DATA) continue;
    uint8_t big[3100];
    assert_int_equal(g->len, sizeof msg + WIRE_DATA_OVERHEAD);
    assert_int_equal(ref_open(&r2, g->d, g->len, &seq, big), sizeof msg);
    assert_int_equal(seq, 0);
    assert_memory_equal(big, msg, sizeof msg);
    datas++;
  }
  assert_int_equal(datas, 1);
  ref_free(&r);
  ref_free(&r2);
  net_free(n);
}

static size_t frag_piece(uint8_t *out, const uint8_t id[8], uint16_t idx, uint16_t count,
                         const uint8_t *msg, size_t len) {
  size_t off = (size_t)idx * WIRE_FRAG_DATA_MAX;
  size_t l = len - off < WIRE_FRAG_DATA_MAX ? len - off : WIRE_FRAG_DATA_MAX;
  return wire_frag_encode(out, id, idx, count, msg + off, l);
}

static void test_frag_receive_rules(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  uint8_t msg[3000], f[1300];
  for (int i = 0; i < 3000; i++) msg[i] = (uint8_t)(i ^ (i >> 3));
  static const uint8_t id1[8] = {0xf0, 0x0d, 0xfe, 0xed, 0xca, 0xfe, 0, 1};
  /* from a libsetowire peer's address, plaintext FRAG is refused (D1) */
  uint64_t dropped = stats(B).rx_dropped;
  for (uint16_t k = 0; k < 3; k++) {
    size_t fl = frag_piece(f, id1, k, 3, msg, sizeof msg);
    inject(n, b, &A->addr, f, fl);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 0);
  assert_int_equal(stats(B).rx_dropped, dropped + 3);
  /* from a stranger too */
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.5.5.5:5");
  for (uint16_t k = 0; k < 3; k++) {
    size_t fl = frag_piece(f, id1, k, 3, msg, sizeof msg);
    inject(n, b, &stranger, f, fl);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 0);
  /* from a reference peer (41-byte HELLO), in any order: delivered once, whole */
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  static const uint16_t order[3] = {2, 0, 1};
  for (int k = 0; k < 3; k++) {
    size_t fl = frag_piece(f, id1, order[k], 3, msg, sizeof msg);
    inject(n, b, &r.addr, f, fl);
    if (k < 2) assert_int_equal(count_ev(B, SW_EV_DATA), 0);
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(nth_ev(B, SW_EV_DATA, 0)->len, sizeof msg);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->data, msg, sizeof msg);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 0)->peer, r.id.id, 8);
  /* hostile pieces: index >= count, count 0, a short middle piece: nothing, no crash */
  static const uint8_t id2[8] = {2, 2, 2, 2, 2, 2, 2, 2};
  uint8_t h[WIRE_FRAG_HDR + 10];
  wire_frag_encode(h, id2, 1, 1, msg, 10);
  inject(n, b, &r.addr, h, sizeof h);
  wire_frag_encode(h, id2, 0, 0, msg, 10);
  inject(n, b, &r.addr, h, sizeof h);
  wire_frag_encode(h, id2, 0, 2, msg, 10); /* not the last, but short */
  inject(n, b, &r.addr, h, sizeof h);
  wire_frag_encode(h, id2, 1, 2, msg, 10);
  inject(n, b, &r.addr, h, sizeof h);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  /* a set that never completes is forgotten after 10 s */
  static const uint8_t id3[8] = {3, 3, 3, 3, 3, 3, 3, 3};
  size_t fl = frag_piece(f, id3, 0, 3, msg + 1, 2999);
  inject(n, b, &r.addr, f, fl);
  uint64_t t0 = n->now;
  assert_true(sw_core_deadline(B->c) <= t0 + 10000);
  advance(n, t0 + 10001);
  fl = frag_piece(f, id3, 1, 3, msg + 1, 2999);
  inject(n, b, &r.addr, f, fl);
  fl = frag_piece(f, id3, 2, 3, msg + 1, 2999);
  inject(n, b, &r.addr, f, fl);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  ref_free(&r);
  net_free(n);
}

/* ---- liveness --------------------------------------------------------------------- */

static void test_peer_timeout(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  /* R stays silent: dropped after 60 s (9.4); A answers PINGs: kept */
  advance(n, n->now + 59000);
  assert_int_equal(sw_core_peer_count(B->c), 2);
  advance(n, n->now + 3000);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_memory_equal(nth_ev(B, SW_EV_DISCONNECT, 0)->peer, r.id.id, 8);
  assert_true(has_peer(B, A));
  assert_true(has_peer(A, B));
  /* B pinged R every second while it waited */
  assert_true(strays_to(n, &r.addr, WIRE_PING) >= 59);
  ref_free(&r);
  net_free(n);
}

/* ---- more receive paths --------------------------------------------------------- */

static void test_short_data_path(void **state) {
  (void)state;
  /* PROTOCOL.md 5.2 step 8: an inner plaintext under 4 bytes has no sequence number
   * and is delivered whole */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  uint8_t f[64];
  for (size_t len = 0; len < 4; len++) {
    static const uint8_t inner[3] = {0xaa, 0xbb, 0xcc};
    wire_data_header(f, r.session_id, r.ctr++);
    assert_int_equal(crypto_aead_seal(r.tx, f + 1, inner, len, NULL, 0, f + WIRE_DATA_HDR), 0);
    inject(n, b, &r.addr, f, WIRE_DATA_HDR + len + CRYPTO_TAG_LEN);
  }
  /* 0..3 bytes: 0, 1, 2 and 3 bytes delivered as they are; 4 bytes would be a seq */
  assert_int_equal(count_ev(B, SW_EV_DATA), 4);
  for (int k = 0; k < 4; k++) {
    assert_int_equal(nth_ev(B, SW_EV_DATA, k)->len, (size_t)k);
    if (k) assert_memory_equal(nth_ev(B, SW_EV_DATA, k)->data, "\xaa\xbb\xcc", (size_t)k);
  }
  /* shorter than header + tag: dropped before decryption */
  inject(n, b, &r.addr, f, WIRE_DATA_MIN - 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 4);
  ref_free(&r);
  net_free(n);
}

static void test_nat_rebinding(void **state) {
  (void)state;
  /* A's NAT mapping changes: B follows it only once authenticated DATA comes from the
   * new address (the session id in the nonce names the session; D8) */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  sw_addr old = A->addr;
  assert_int_equal(addr_parse_hostport(&A->addr, "192.0.2.77:40000"), SW_OK);
  /* heartbeats from the new address (PING, PONG) move nothing: B keeps sending to the
   * old mapping, where nobody is */
  advance(n, n->now + 3000);
  assert_true(strays_to(n, &old, WIRE_PING) >= 2);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &old));
  /* authenticated DATA from the new address: B moves there */
  assert_int_equal(sw_core_write(A->c, B->id, "moved", 5, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  assert_int_equal(info.verified, 1);
  clear_strays(n);
  assert_int_equal(sw_core_write(B->c, A->id, "follow", 6, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  advance(n, n->now + 5000);
  assert_int_equal(strays_to(n, &old, WIRE_PING), 0); /* nothing goes back to the old one */
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  net_free(n);
}

static void test_reference_restart_new_address(void **state) {
  (void)state;
  /* D35: a reference restarts with the same seed on a new port: HELLO from there, then
   * DATA with counter and sequence at 0 again; B must take it and send there */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  for (int k = 0; k < 5; k++) {
    char m[8];
    snprintf(m, sizeof m, "old %d", k);
    ref_send(n, &r, b, m, strlen(m));
  }
  assert_int_equal(count_ev(B, SW_EV_DATA), 5);
  advance(n, n->now + 20000);
  sw_addr old = r.addr;
  assert_int_equal(addr_parse_hostport(&r.addr, "10.9.9.9:10"), SW_OK);
  r.ctr = 0;
  r.seq = 0;
  clear_strays(n);
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  assert_int_equal(strays_to(n, &r.addr, WIRE_HELLO_ACK), 1); /* answered where it is */
  ref_send(n, &r, b, "new 0", 5);
  ref_send(n, &r, b, "new 1", 5);
  advance(n, n->now + 100);
  assert_int_equal(count_ev(B, SW_EV_DATA), 7);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 5)->data, "new 0", 5);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 6)->data, "new 1", 5);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1); /* the same peer, not a new one */
  /* B now sends to the new address, and the reference can read it */
  clear_strays(n);
  assert_int_equal(sw_core_write(B->c, r.id.id, "to new", 6, n->now), SW_OK);
  pump(n);
  int got = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    assert_false(addr_equal(&g->to, &old));
    if (g->d[0] != WIRE_DATA) continue;
    uint32_t seq;
    uint8_t m[16];
    assert_true(addr_equal(&g->to, &r.addr));
    assert_int_equal(ref_open(&r, g->d, g->len, &seq, m), 6);
    assert_memory_equal(m, "to new", 6);
    got++;
  }
  assert_int_equal(got, 1);
  ref_free(&r);
  net_free(n);
}

/* A crashes and comes back with the same seed on a new address; B, which kept the
 * old session, must take the new one in both directions. The new session's counter is
 * random (D4): below the old window (a rewind) or far above it (a jump), by rng seed. */
static int restart_once(uint64_t rng_seed) {
  static const char *seed_a = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  net *n = net_new();
  int a = net_add_cfg(n, seed_a, "10.0.0.1:1", NULL), b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  n->record = 1;
  connect_nodes(n, a, b);
  /* contents differ per direction: dedup is by content, own messages included */
  for (int k = 0; k < 10; k++) {
    char m[16];
    snprintf(m, sizeof m, "A before %d", k);
    assert_int_equal(sw_core_write(n->nodes[a].c, B->id, m, strlen(m), n->now), SW_OK);
    m[0] = 'B';
    assert_int_equal(sw_core_write(B->c, n->nodes[a].id, m, strlen(m), n->now), SW_OK);
  }
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 10);
  n->nodes[a].dead = 1;
  advance(n, n->now + 2000);
  int a2 = net_add_cfg(n, seed_a, "10.0.0.1:7", NULL);
  node *A2 = &n->nodes[a2];
  A2->rng.s = rng_seed; /* the new session's first counter comes from here */
  A2->greet = 6;        /* written at once from its CONNECTION callback */
  assert_memory_equal(A2->id, n->nodes[a].id, 20);
  connect_nodes(n, a2, b);
  assert_int_equal(count_ev(A2, SW_EV_CONNECTION), 1);
  assert_int_equal(sw_core_peer_count(B->c), 1);
  for (int k = 0; k < 10; k++) {
    char m[16];
    snprintf(m, sizeof m, "A after %d", k);
    assert_int_equal(sw_core_write(A2->c, B->id, m, strlen(m), n->now), SW_OK);
    m[0] = 'B';
    assert_int_equal(sw_core_write(B->c, A2->id, m, strlen(m), n->now), SW_OK);
  }
  pump(n);
  advance(n, n->now + 200);
  /* everything arrived, in order, at both ends: the greetings too, though B held them
   * until A2 had answered its challenge (PROTOCOL.md 21.3) */
  assert_int_equal(count_ev(B, SW_EV_DATA), 26);
  assert_int_equal(count_ev(A2, SW_EV_DATA), 10);
  for (int k = 0; k < 6; k++) {
    char m[16];
    snprintf(m, sizeof m, "greet %d", k);
    assert_int_equal(nth_ev(B, SW_EV_DATA, 10 + k)->len, k % 2 ? 1500 : 16);
    assert_memory_equal(nth_ev(B, SW_EV_DATA, 10 + k)->data, m, strlen(m) + 1);
  }
  assert_int_equal(stats(B).held_dropped, 0);
  for (int k = 0; k < 10; k++) {
    char m[16];
    snprintf(m, sizeof m, "A after %d", k);
    assert_memory_equal(nth_ev(B, SW_EV_DATA, 16 + k)->data, m, strlen(m));
    m[0] = 'B';
    assert_memory_equal(nth_ev(A2, SW_EV_DATA, k)->data, m, strlen(m));
  }
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A2->addr));
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(stats(B).rx_replay, 0);
  /* which way the counter went: A's last counter against A2's first */
  uint64_t last_a = 0, first_a2 = 0;
  int have_a2 = 0;
  for (int k = 0; k < n->nseen; k++) {
    const dgram *g = &n->seen[k];
    if (g->d[0] != WIRE_DATA && g->d[0] != WIRE_SEALED) continue;
    if (g->from == a) last_a = wire_get64(g->d + 5);
    if (g->from == a2 && !have_a2) {
      first_a2 = wire_get64(g->d + 5);
      have_a2 = 1;
    }
  }
  assert_true(have_a2);
  assert_true(last_a != 0);
  net_free(n);
  return first_a2 > last_a;
}

static void test_libsetowire_restart(void **state) {
  (void)state;
  int up = 0, down = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    if (restart_once(seed))
      up++;
    else
      down++;
  }
  /* both a jump and a rewind were exercised */
  assert_true(up > 0);
  assert_true(down > 0);
}

static int record_data_from_0(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  if (from == 0 && len && d[0] == WIRE_DATA) keep(n->seen, &n->nseen, 512, from, to, d, len);
  return 1;
}

static const char *SEED_A = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_replayed_old_frame_challenged(void **state) {
  (void)state;
  /* Keys are static (D3): a frame recorded long ago still authenticates. Replayed from
   * an attacker's address, or from the peer's own with a HELLO forged in its name for
   * evidence, it looks like a restart. A libsetowire peer must prove a restart by
   * answering a challenge, which the attacker cannot do. */
  net *n = net_new();
  int a = net_add_cfg(n, SEED_A, "10.0.0.1:1", NULL), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  n->filter = record_data_from_0;
  assert_int_equal(sw_core_write(A->c, B->id, "recorded", 8, n->now), SW_OK);
  pump(n);
  n->filter = NULL;
  assert_int_equal(n->nseen, 1);
  const dgram *old = &n->seen[0];
  /* the session goes on, far past the replay window */
  for (int k = 0; k < 1100; k++) {
    char m[16];
    snprintf(m, sizeof m, "m%d", k);
    assert_int_equal(sw_core_write(A->c, B->id, m, strlen(m), n->now), SW_OK);
    if (k % 100 == 99) pump(n);
  }
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1101);
  advance(n, n->now + 15000);
  ref_peer ka; /* A's keys, to read what B sends in A's session */
  ref_init(&ka, SEED_A, "10.0.0.1:1", B);
  sw_addr evil = addr_of("10.6.6.6:6");
  uint8_t nonce[16];

  /* from the attacker's address: nothing moves, the attacker gets one challenge */
  clear_strays(n);
  inject(n, b, &evil, old->d, old->len);
  inject(n, b, &evil, old->d, old->len); /* held once, challenged once */
  pump(n);
  assert_int_equal(stats(B).restarts, 0);
  assert_true(best_is(B, &A->addr));
  assert_int_equal(count_ev(B, SW_EV_DATA), 1101);
  assert_int_equal(n->nstray, 1);
  assert_int_equal(sealed_to(n, &ka, &evil, SEALED_CHALLENGE, nonce), 1);
  /* A's session goes on untouched, both ways */
  assert_int_equal(sw_core_write(A->c, B->id, "still here", 10, n->now), SW_OK);
  assert_int_equal(sw_core_write(B->c, A->id, "to A", 4, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1102);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  assert_true(best_is(B, &A->addr));
  /* unanswered, the challenge and what it held are gone after 5 s */
  advance(n, n->now + 5000);
  assert_int_equal(stats(B).held_dropped, 1);
  assert_int_equal(stats(B).restarts, 0);

  /* from A's own address, with a HELLO in A's name (public bytes) sent by the attacker
   * for evidence: B challenges A's address, and the live A answers from the session B
   * already has, which says no restart happened there */
  clear_strays(n);
  uint8_t h[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t hl = wire_hello_encode(h, WIRE_HELLO, A->id, A->pub, WIRE_CAP_SEALED);
  inject(n, b, &evil, h, hl);
  inject(n, b, &A->addr, old->d, old->len);
  pump(n);
  assert_int_equal(stats(B).restarts, 0);
  assert_int_equal(stats(B).held_dropped, 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1102);
  assert_true(best_is(B, &A->addr));
  assert_int_equal(sealed_to(n, &ka, &evil, SEALED_CHALLENGE, nonce), 1); /* with the ACK */
  assert_int_equal(sw_core_write(A->c, B->id, "and on", 6, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1103);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  ref_free(&ka);
  net_free(n);
}

static void test_sealed_jump_without_evidence(void **state) {
  (void)state;
  /* From a libsetowire peer a counter more than 2^40 above the window is another
   * session. Without evidence of a restart it is an older session replayed: taken, it
   * would put the window past everything the live session sends. */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer s;
  ref_init(&s, SEED_R, "10.9.9.9:9", B);
  sw_peer_hello(n, &s, b, &s.addr);
  pump(n);
  sw_peer_data(n, &s, b, &s.addr, 1000, 0, "j0", 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  advance(n, n->now + 15000);
  sw_peer_data(n, &s, b, &s.addr, 1000 + (1ull << 41), 7, "older", 5);
  assert_int_equal(stats(B).rx_replay, 1);
  sw_peer_data(n, &s, b, &s.addr, 1001, 1, "j1", 2);
  advance(n, n->now + 100);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 1)->data, "j1", 2);
  ref_free(&s);
  net_free(n);
}

static void test_restart_answer_must_match(void **state) {
  (void)state;
  /* A hand-driven libsetowire peer S restarts at a new address: B challenges it there,
   * and only the right nonce from that address proves the restart. */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer s;
  ref_init(&s, SEED_R, "10.9.9.9:9", B);
  sw_addr y0 = s.addr, y1 = addr_of("10.9.9.9:10"), y2 = addr_of("10.7.7.7:7");
  sw_peer_hello(n, &s, b, &y0);
  pump(n);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_int_equal(info.reference, 0);
  sw_peer_data(n, &s, b, &y0, 1ull << 50, 0, "s0", 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  advance(n, n->now + 15000);
  clear_strays(n);
  /* the new session's counter is below the window: held, and y1 challenged */
  sw_peer_data(n, &s, b, &y1, 7, 0, "r0", 2);
  pump(n);
  uint8_t nonce[16], got[16], wrong[16];
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_CHALLENGE, nonce), 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_true(best_is(B, &y0));
  /* a wrong nonce from y1, the right one from y2: both ignored, y2 not challenged */
  memcpy(wrong, nonce, 16);
  wrong[15] ^= 1;
  sw_peer_sealed(n, &s, b, &y1, 8, SEALED_RESPONSE, wrong, 16);
  sw_peer_sealed(n, &s, b, &y2, 9, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 0);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_true(best_is(B, &y0));
  assert_int_equal(sealed_to(n, &s, &y2, SEALED_CHALLENGE, got), 0);
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_CHALLENGE, got), 1);
  /* the right nonce from y1: the restart is taken, the held frame delivered */
  sw_peer_sealed(n, &s, b, &y1, 10, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(stats(B).held_dropped, 0);
  assert_int_equal(count_ev(B, SW_EV_DATA), 2);
  assert_memory_equal(nth_ev(B, SW_EV_DATA, 1)->data, "r0", 2);
  assert_true(best_is(B, &y1));
  sw_peer_data(n, &s, b, &y1, 11, 1, "r1", 2);
  assert_int_equal(count_ev(B, SW_EV_DATA), 3);
  /* the same answer again is just a frame of the session now */
  sw_peer_sealed(n, &s, b, &y1, 12, SEALED_RESPONSE, nonce, 16);
  assert_int_equal(stats(B).restarts, 1);
  /* B answers a challenge with the same bytes, to where it came from */
  clear_strays(n);
  uint8_t mine[16];
  memset(mine, 0xA5, sizeof mine);
  sw_peer_sealed(n, &s, b, &y1, 13, SEALED_CHALLENGE, mine, 16);
  pump(n);
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_RESPONSE, got), 1);
  assert_memory_equal(got, mine, 16);
  ref_free(&s);
  net_free(n);
}

static void test_restart_hold_bounds(void **state) {
  (void)state;
  /* While a challenge is out, at most 16 frames and 64 KiB are held per peer; the
   * rest is dropped and counted, and what is held goes when the challenge expires. */
  net *n = net_new();
  int b = net_add(n, "10.0.0.2:2");
  node *B = &n->nodes[b];
  ref_peer s;
  ref_init(&s, SEED_R, "10.9.9.9:9", B);
  sw_addr y0 = s.addr, y1 = addr_of("10.9.9.9:10"), y2 = addr_of("10.9.9.9:11");
  uint8_t nonce[16];
  sw_peer_hello(n, &s, b, &y0);
  pump(n);
  sw_peer_data(n, &s, b, &y0, 1ull << 50, 0, "s0", 2);
  advance(n, n->now + 15000);
  clear_strays(n);
  /* restart at y1: 20 frames before the answer, one of them twice (no room taken) */
  for (int k = 0; k < 20; k++) {
    char m[16];
    snprintf(m, sizeof m, "h%d", k);
    sw_peer_data(n, &s, b, &y1, 100 + (uint64_t)k, (uint32_t)k, m, strlen(m));
    if (k == 2) sw_peer_data(n, &s, b, &y1, 100 + (uint64_t)k, (uint32_t)k, m, strlen(m));
  }
  pump(n);
  assert_int_equal(stats(B).held_dropped, 4);
  assert_int_equal(count_ev(B, SW_EV_DATA), 1);
  assert_int_equal(sealed_to(n, &s, &y1, SEALED_CHALLENGE, nonce), 1);
  sw_peer_sealed(n, &s, b, &y1, 120, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 17);
  for (int k = 0; k < 16; k++) {
    char m[16];
    snprintf(m, sizeof m, "h%d", k);
    assert_int_equal(nth_ev(B, SW_EV_DATA, 1 + k)->len, strlen(m));
    assert_memory_equal(nth_ev(B, SW_EV_DATA, 1 + k)->data, m, strlen(m));
  }
  /* another restart, at y2 and far above: 10 frames of 8000 bytes, 8 fit in 64 KiB */
  uint8_t big[8000];
  memset(big, 'b', sizeof big);
  for (int k = 0; k < 10; k++)
    sw_peer_data(n, &s, b, &y2, (1ull << 45) + (uint64_t)k, (uint32_t)k, big, sizeof big);
  pump(n);
  assert_int_equal(stats(B).held_dropped, 4 + 2);
  assert_int_equal(sealed_to(n, &s, &y2, SEALED_CHALLENGE, nonce), 1);
  /* unanswered for 5 s: the 8 go, and the late answer proves nothing any more */
  advance(n, n->now + 5000);
  assert_int_equal(stats(B).held_dropped, 4 + 2 + 8);
  sw_peer_sealed(n, &s, b, &y2, (1ull << 45) + 10, SEALED_RESPONSE, nonce, 16);
  pump(n);
  assert_int_equal(stats(B).restarts, 1);
  assert_int_equal(count_ev(B, SW_EV_DATA), 17);
  assert_true(best_is(B, &y1));
  /* the challenge's expiry is among the core's deadlines (the only one once closed),
   * and frames still held when the core is freed are freed with it */
  assert_int_equal(sw_core_close(B->c, n->now), SW_OK);
  assert_true(sw_core_deadline(B->c) == UINT64_MAX);
  sw_peer_data(n, &s, b, &y2, (1ull << 45) + 20, 20, "late", 4);
  assert_true(sw_core_deadline(B->c) == n->now + 5000);
  ref_free(&s);
  net_free(n);
}

static void test_flood_only_to_mesh(void **state) {
  (void)state;
  /* a hub with 8 peers keeps 6 in its mesh (PROTOCOL.md 13.1, D = 6) and floods a
   * message to the mesh members other than the last hop, and to nobody else */
  net *n = net_new();
  int hub = net_add(n, "10.0.0.1:1");
  int leaf[8];
  for (int k = 0; k < 8; k++) {
    char a[32];
    snprintf(a, sizeof a, "10.0.1.%d:%d", k + 1, 100 + k);
    leaf[k] = net_add(n, a);
    connect_nodes(n, leaf[k], hub);
  }
  node *H = &n->nodes[hub];
  sw_core_peer_info info[10];
  assert_int_equal(sw_core_peers(H->c, info, 10), 8);
  int in_mesh = 0, src = -1;
  for (int k = 0; k < 8; k++) {
    in_mesh += info[k].in_mesh;
    if (info[k].in_mesh && src < 0)
      for (int j = 0; j < 8; j++)
        if (memcmp(n->nodes[leaf[j]].id, info[k].wire_id, 8) == 0) src = j;
  }
  assert_int_equal(in_mesh, 6);
  assert_true(src >= 0);
  assert_int_equal(sw_core_write(n->nodes[leaf[src]].c, H->id, "spread", 6, n->now), SW_OK);
  pump(n);
  assert_int_equal(count_ev(H, SW_EV_DATA), 1);
  int got = 0;
  for (int j = 0; j < 8; j++) {
    node *L = &n->nodes[leaf[j]];
    int member = 0;
    for (int k = 0; k < 8; k++) member |= info[k].in_mesh && memcmp(info[k].wire_id, L->id, 8) == 0;
    int c = count_ev(L, SW_EV_DATA);
    if (j == src) assert_int_equal(c, 0);
    else assert_int_equal(c, member);
    got += c;
  }
  assert_int_equal(got, 5);
  net_free(n);
}

static void test_flood_to_reference_peer(void **state) {
  (void)state;
  /* a reference peer in the mesh receives the flood as DATA it can read, its sequence
   * starting at 0 */
  net *n = net_new();
  int a = net_add(n, "10.0.0.1:1"), b = net_add(n, "10.0.0.2:2");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  ref_peer r;
  ref_init(&r, SEED_R, "10.9.9.9:9", B);
  ref_hello(n, &r, b, WIRE_HELLO);
  pump(n);
  clear_strays(n);
  assert_int_equal(sw_core_write(A->c, B->id, "for all", 7, n->now), SW_OK);
  pump(n);
  int got = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    if (!addr_equal(&g->to, &r.addr) || g->d[0] != WIRE_DATA) continue;
    uint32_t seq;
    uint8_t m[16];
    assert_int_equal(ref_open(&r, g->d, g->len, &seq, m), 7);
    assert_int_equal(seq, 0);
    assert_memory_equal(m, "for all", 7);
    got++;
  }
  assert_int_equal(got, 1);
  /* and what the reference sends is flooded to A */
  ref_send(n, &r, b, "from ref", 8);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  assert_memory_equal(nth_ev(A, SW_EV_DATA, 0)->data, "from ref", 8);
  assert_memory_equal(nth_ev(A, SW_EV_DATA, 0)->peer, B->id, 8);
  ref_free(&r);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_one_way),
      cmocka_unit_test(test_handshake_both_ways),
      cmocka_unit_test(test_hello_exchange_vector),
      cmocka_unit_test(test_dial_with_full_id),
      cmocka_unit_test(test_write_broadcast_flood),
      cmocka_unit_test(test_multi_hop_chain),
      cmocka_unit_test(test_many_writes_in_order_batched),
      cmocka_unit_test(test_message_size_limits),
      cmocka_unit_test(test_ring_full_then_writable),
      cmocka_unit_test(test_big_writes_until_eagain),
      cmocka_unit_test(test_hello_id_key_mismatch_ignored),
      cmocka_unit_test(test_hello_from_self_ignored),
      cmocka_unit_test(test_low_order_key_ignored),
      cmocka_unit_test(test_max_peers_refuses_without_ack),
      cmocka_unit_test(test_ping_rules),
      cmocka_unit_test(test_goaway_rules),
      cmocka_unit_test(test_sealed_goaway),
      cmocka_unit_test(test_replayed_data_rejected),
      cmocka_unit_test(test_reference_replay_and_restart),
      cmocka_unit_test(test_counter_near_top),
      cmocka_unit_test(test_nested_batch),
      cmocka_unit_test(test_legacy_frag_send),
      cmocka_unit_test(test_frag_receive_rules),
      cmocka_unit_test(test_peer_timeout),
      cmocka_unit_test(test_short_data_path),
      cmocka_unit_test(test_nat_rebinding),
      cmocka_unit_test(test_reference_restart_new_address),
      cmocka_unit_test(test_libsetowire_restart),
      cmocka_unit_test(test_replayed_old_frame_challenged),
      cmocka_unit_test(test_sealed_jump_without_evidence),
      cmocka_unit_test(test_restart_answer_must_match),
      cmocka_unit_test(test_restart_hold_bounds),
      cmocka_unit_test(test_flood_only_to_mesh),
      cmocka_unit_test(test_flood_to_reference_peer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
