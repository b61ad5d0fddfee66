/* The harness the engine tests share (corenet.h): cores wired back to back in virtual
 * time, and a hand-driven reference peer. */
#include "corenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "setowire.h"
#include "wire.h"

/* ---- a small network of cores ------------------------------------------------ */

void node_random(void *ctx, uint8_t *buf, size_t len) {
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
    x->has_origin = e->origin != NULL;
    if (e->origin) memcpy(x->origin, e->origin, SW_ID_LEN);
    x->origin_direct = e->origin_direct;
    x->origin_signed = e->origin_signed;
  }
  if (e->addr) snprintf(x->addr, sizeof x->addr, "%s", e->addr);
  x->reason = e->reason;
  if (e->topic) {
    x->has_topic = 1;
    memcpy(x->topic, e->topic, 32);
  }
  x->at = nd->clock ? *nd->clock : 0;
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
  if (e->type == SW_EV_DATA && nd->on_data) nd->on_data(nd, e);
}

net *net_new(void) {
  net *n = calloc(1, sizeof *n);
  n->now = 1000000;
  return n;
}

int net_add_cfg(net *n, const char *seed_hex, const char *addr, const sw_core_config *base) {
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

int net_add(net *n, const char *addr) { return net_add_cfg(n, NULL, addr, NULL); }

void net_free(net *n) {
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

void keep(dgram *arr, int *cnt, int max, int from, const sw_addr *to, const uint8_t *d,
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
void pump(net *n) {
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
void advance(net *n, uint64_t until) {
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

void inject(net *n, int to, const sw_addr *from, const uint8_t *d, size_t len) {
  sw_core_datagram(n->nodes[to].c, SW_SOCK_MAIN, from, d, len, n->now);
}

int count_ev(const node *nd, sw_event_type t) {
  int c = 0;
  for (int k = 0; k < nd->nev; k++) c += nd->evs[k].type == t;
  return c;
}

const ev *nth_ev(const node *nd, sw_event_type t, int nth) {
  for (int k = 0; k < nd->nev; k++)
    if (nd->evs[k].type == t && nth-- == 0) return &nd->evs[k];
  return NULL;
}

sw_core_stats stats(const node *nd) {
  sw_core_stats s;
  sw_core_get_stats(nd->c, &s);
  return s;
}

int strays_to(const net *n, const sw_addr *a, uint8_t type) {
  int c = 0;
  for (int k = 0; k < n->nstray; k++)
    if (addr_equal(&n->stray[k].to, a) && n->stray[k].len && n->stray[k].d[0] == type) c++;
  return c;
}

void clear_strays(net *n) {
  for (int k = 0; k < n->nstray; k++) free(n->stray[k].d);
  n->nstray = 0;
}

/* Connect a to b (a dials), run until both have the session. */
void connect_nodes(net *n, int a, int b) {
  assert_int_equal(sw_core_dial(n->nodes[a].c, &n->nodes[b].addr, NULL, n->now), SW_OK);
  pump(n);
  advance(n, n->now + 10);
}

int has_peer(const node *nd, const node *other) {
  sw_core_peer_info info[16];
  size_t k = sw_core_peers(nd->c, info, 16);
  for (size_t i = 0; i < k && i < 16; i++)
    if (memcmp(info[i].wire_id, other->id, 8) == 0) return 1;
  return 0;
}

/* ---- a hand-driven reference peer ------------------------------------------- */

void ref_init(ref_peer *r, const char *seed_hex, const char *addr, const node *target) {
  crypto_session_keys k;
  memset(r, 0, sizeof *r);
  assert_int_equal(crypto_identity_from_hex(&r->id, seed_hex), 0);
  assert_int_equal(addr_parse_hostport(&r->addr, addr), SW_OK);
  assert_int_equal(crypto_derive_session(&r->id, target->pub, &k), 0);
  r->tx = crypto_aead_new(k.send_key, 1);
  r->rx = crypto_aead_new(k.recv_key, 0);
  r->session_id = k.session_id;
}

void ref_free(ref_peer *r) {
  crypto_aead_free(r->tx);
  crypto_aead_free(r->rx);
}

/* The references' 41-byte HELLO (no trailer). */
void ref_hello(net *n, ref_peer *r, int to, uint8_t type) {
  uint8_t h[WIRE_HELLO_LEN];
  wire_hello_encode(h, type, r->id.id, r->id.pub, -1);
  inject(n, to, &r->addr, h, sizeof h);
}

/* A DATA frame as a reference builds it: counter and sequence from the caller. */
size_t ref_data_frame(ref_peer *r, uint8_t *out, uint64_t ctr, uint32_t seq, const void *msg,
                      size_t len) {
  uint8_t s[4];
  wire_put32(s, seq);
  wire_data_header(out, r->session_id, ctr);
  assert_int_equal(crypto_aead_seal(r->tx, out + 1, s, 4, msg, len, out + WIRE_DATA_HDR), 0);
  return len + WIRE_DATA_OVERHEAD;
}

void ref_send(net *n, ref_peer *r, int to, const void *msg, size_t len) {
  uint8_t *f = malloc(len + WIRE_DATA_OVERHEAD);
  size_t fl = ref_data_frame(r, f, r->ctr++, r->seq++, msg, len);
  inject(n, to, &r->addr, f, fl);
  free(f);
}

int ref_prove(net *n, ref_peer *r, int to) {
  /* The core asks an unvalidated reference address with a PING at a random heartbeat;
   * the first PONG soon after it validates the address (docs/THREATS.md "Main socket"). */
  for (int step = 0; step < 400; step++) {
    int from = n->nstray;
    advance(n, n->now + 100);
    for (int k = from; k < n->nstray; k++) {
      if (!addr_equal(&n->stray[k].to, &r->addr) || !n->stray[k].len ||
          n->stray[k].d[0] != WIRE_PING)
        continue;
      uint8_t pong[WIRE_PONG_LEN];
      inject(n, to, &r->addr, pong, wire_pong_encode(pong, r->id.id));
      pump(n);
      return 1;
    }
    if (n->nstray >= (int)(sizeof n->stray / sizeof *n->stray)) clear_strays(n);
  }
  return 0;
}

/* Open a DATA frame the core sent to the reference peer; returns the message length. */
size_t ref_open(ref_peer *r, const uint8_t *f, size_t len, uint32_t *seq, uint8_t *msg) {
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
void sw_peer_hello(net *n, ref_peer *r, int to, const sw_addr *from) {
  uint8_t h[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t l = wire_hello_encode(h, WIRE_HELLO, r->id.id, r->id.pub, WIRE_CAP_SEALED);
  inject(n, to, from, h, l);
}

void sw_peer_sealed(net *n, ref_peer *r, int to, const sw_addr *from, uint64_t ctr,
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

void sw_peer_data(net *n, ref_peer *r, int to, const sw_addr *from, uint64_t ctr,
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
int sealed_to(const net *n, ref_peer *r, const sw_addr *to, uint8_t type, uint8_t body[16]) {
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

sw_addr addr_of(const char *text) {
  sw_addr a;
  assert_int_equal(addr_parse_hostport(&a, text), SW_OK);
  return a;
}

int best_is(const node *nd, const sw_addr *a) {
  sw_core_peer_info info[4];
  assert_true(sw_core_peers(nd->c, info, 4) >= 1);
  return addr_equal(&info[0].addr, a);
}

const char SEED_R[] = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
const char SEED_R2[] = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
