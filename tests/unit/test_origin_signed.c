/* Signed origins (issue 12 item 3), through the engine (corenet): each of our peers tells
 * the others its Ed25519 signing key over the extended session (a binding, with a proof
 * that it holds the key); SW_SEND_SIGNED signs (label, author, message id, message) and
 * the signature travels in a kind 5 stream entry that relays forward unchanged; a peer
 * that holds the author's binding checks it and reports origin_signed 1, drops a forged
 * or altered one (counted, never delivered, never flooded on), and reports origin_signed
 * 0 when it cannot check (no binding) or the signature was stripped on the way.
 *
 * A malicious relay is played by writing entries straight into B's stream to C (the
 * engine's own xport), exactly what a modified build of B could send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the engine's headers before corenet.h, whose `ev` type their parameters would shadow */
#include "engine.h"
#include "origin.h"
#include "peers.h"
#include "xsession.h"

#include "corenet.h"
#include "corenet_line.h"
#include "testutil.h"
#include "wire.h"
#include "xport.h"
#include "xport_entry.h"

static const char SEED_A[] = "a1a1a1a1";
static const char SEED_B[] = "b2b2b2b2";

/* The signing key of a seed, derived here as a port would (crypto.h). */
static void signer_of(const char *seed, crypto_signer *s) {
  crypto_identity id;
  assert_int_equal(crypto_identity_from_hex(&id, seed), SW_OK);
  assert_int_equal(crypto_signer_from_identity(s, &id), SW_OK);
}

/* A kind 5 header as the spec says: author, message id, then the signature of
 * "setowire signed origin v1" || author || message id || message, by s. */
static void signed_hdr(uint8_t hdr[XPORT_SIGNED_HDR], const uint8_t author[20], uint8_t idbyte,
                       const crypto_signer *s, const char *signed_msg) {
  static const char label[] = "setowire signed origin v1";
  uint8_t text[256];
  size_t ll = sizeof label - 1, ml = strlen(signed_msg);
  memcpy(hdr, author, 20);
  memset(hdr + 20, idbyte, 8);
  memcpy(text, label, ll);
  memcpy(text + ll, hdr, 28);
  memcpy(text + ll + 28, signed_msg, ml);
  assert_int_equal(crypto_sign(s, text, ll + 28 + ml, hdr + 28), SW_OK);
}

/* The extended session from nd to other, in the engine. */
static xport *stream_to(node *nd, const node *other) {
  core_peer *p = peers_find(nd->c, other->id);
  assert_non_null(p);
  assert_true(xsession_active(p));
  return p->xs->x;
}

static int block_a, block_c; /* datagrams between these two node indexes are dropped */
static int cut(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)d, (void)len;
  return !((from == block_a && addr_equal(to, &n->nodes[block_c].addr)) ||
           (from == block_c && addr_equal(to, &n->nodes[block_a].addr)));
}

/* A - B - C, every hop extended; with `met`, C and A had a session first (C learnt A's
 * key over it), which then died (the path between them cut, both timed out). */
static net *line(int *a, int *b, int *c, int met) {
  /* with `met`, peers time out after 3 s: the cut session ends soon */
  sw_core_config cfg = {.xsession = 1, .peer_timeout_ms = met ? 3000 : 0};
  net *n = line_new(&cfg, SEED_A, SEED_B, a, b, c);
  if (met) {
    connect_nodes(n, *c, *a);
    advance(n, n->now + 100);
    assert_true(peer_extended(&n->nodes[*a], &n->nodes[*c]));
    block_a = *a, block_c = *c;
    n->filter = cut;
    advance(n, n->now + 5000);
    assert_false(has_peer(&n->nodes[*a], &n->nodes[*c]));
    assert_false(has_peer(&n->nodes[*c], &n->nodes[*a]));
  }
  line_ready(n, *a, *b, *c);
  return n;
}

/* C met A once: A's signed broadcast reaches C through B with origin A, signed. */
static void test_signed_relayed_met_before(void **state) {
  (void)state;
  int a, b, c;
  net *n = line(&a, &b, &c, 1);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  crypto_signer sa;
  signer_of(SEED_A, &sa);
  /* C kept A's key after the session ended */
  uint8_t key[32];
  assert_int_equal(sw_core_peer_signing_key(C->c, A->id, key), SW_OK);
  assert_memory_equal(key, sa.pub, 32);
  const ev *e;
  assert_int_equal(sw_core_send(A->c, NULL, "signed by A", 11, SW_SEND_SIGNED, n->now), 1);
  assert_int_equal(sw_core_send(A->c, NULL, "plain from A", 12, 0, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(C, "signed by A", &e), 1);
  assert_true(e->has_origin);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_direct, 0);
  assert_int_equal(e->origin_signed, 1);
  assert_memory_equal(e->peer, B->id, 8);
  /* B heard it from A itself: direct, and checked too */
  assert_int_equal(got_data(B, "signed by A", &e), 1);
  assert_int_equal(e->origin_direct, 1);
  assert_int_equal(e->origin_signed, 1);
  /* an unsigned one: origin, but not signed */
  assert_int_equal(got_data(C, "plain from A", &e), 1);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_signed, 0);
  /* sent to one peer (flooded on), signed the same */
  assert_int_equal(sw_core_send(A->c, B->id, "to B, on to C", 13, SW_SEND_SIGNED, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(C, "to B, on to C", &e), 1);
  assert_int_equal(e->origin_signed, 1);
  assert_int_equal(stats(C).bad_signatures + stats(B).bad_signatures, 0);
  assert_int_equal(got_data(A, "signed by A", NULL), 0);
  net_free(n);
}

/* C never met A: delivered, origin A, origin_signed 0 (nothing to check it with). */
static void test_signed_relayed_never_met(void **state) {
  (void)state;
  int a, b, c;
  net *n = line(&a, &b, &c, 0);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  crypto_signer sa, sb;
  signer_of(SEED_A, &sa);
  signer_of(SEED_B, &sb);
  uint8_t key[32];
  assert_int_equal(sw_core_peer_signing_key(C->c, A->id, key), SW_ENOTCONN);
  assert_int_equal(sw_core_peer_signing_key(C->c, B->id, key), SW_OK);
  assert_memory_equal(key, sb.pub, 32);
  assert_int_equal(sw_core_peer_signing_key(B->c, A->id, key), SW_OK);
  assert_memory_equal(key, sa.pub, 32);
  const ev *e;
  assert_int_equal(sw_core_send(A->c, NULL, "signed by A", 11, SW_SEND_SIGNED, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(C, "signed by A", &e), 1);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_signed, 0);
  assert_int_equal(got_data(B, "signed by A", &e), 1);
  assert_int_equal(e->origin_signed, 1);
  /* too big to carry a signature, and the flags it does not go with */
  static uint8_t big[XPORT_SIGNED_MAX_MSG + 1];
  assert_int_equal(sw_core_send(A->c, NULL, big, sizeof big, SW_SEND_SIGNED, n->now),
                   SW_EMSGSIZE);
  assert_int_equal(sw_core_send(A->c, NULL, big, sizeof big - 1, SW_SEND_SIGNED, n->now), 1);
  advance(n, n->now + 2000);
  assert_int_equal(count_ev(C, SW_EV_DATA), 2);
  assert_int_equal(nth_ev(C, SW_EV_DATA, 1)->len, XPORT_SIGNED_MAX_MSG);
  net_free(n);
}

/* B, the relay, forges: C holds the keys of A (met before) and of B (connected). */
static void test_relay_forgeries(void **state) {
  (void)state;
  int a, b, c;
  net *n = line(&a, &b, &c, 1);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  /* D next to C, which never met A: what C floods on shows there */
  sw_core_config cfg = {.xsession = 1};
  int d = net_add_cfg(n, NULL, "10.0.0.4:1004", &cfg);
  connect_nodes(n, d, c);
  advance(n, n->now + 100);
  node *D = &n->nodes[d];
  assert_true(peer_extended(C, D));
  crypto_signer sa;
  signer_of(SEED_A, &sa);
  xport *bc = stream_to(B, C);
  uint8_t hdr[XPORT_SIGNED_HDR];
  const ev *e;
  uint64_t bad0 = stats(C).bad_signatures;

  /* 1. A's genuine signature, the message altered on the way: dropped, counted */
  signed_hdr(hdr, A->id, 1, &sa, "genuine");
  assert_int_equal(xport_send_signed(bc, hdr, "altered", 7, n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(got_data(C, "altered", NULL), 0);
  assert_int_equal(got_data(D, "altered", NULL), 0); /* not flooded on either */
  assert_int_equal(stats(C).bad_signatures, bad0 + 1);
  /* ... and the genuine message with that (author, message id) is still taken after it */
  assert_int_equal(xport_send_signed(bc, hdr, "genuine", 7, n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(got_data(C, "genuine", &e), 1);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_signed, 1);
  assert_int_equal(got_data(D, "genuine", &e), 1); /* flooded on with its signature: D cannot */
  assert_int_equal(e->origin_signed, 0);      /* check it (never met A), C could */

  /* 2. A's message and signature, the claimed origin rewritten to B: dropped, counted */
  signed_hdr(hdr, A->id, 2, &sa, "whose?");
  memcpy(hdr, B->id, 20);
  assert_int_equal(xport_send_signed(bc, hdr, "whose?", 6, n->now), SW_OK);
  /* ... or to A, for B's own words signed by B */
  crypto_signer sb;
  signer_of(SEED_B, &sb);
  signed_hdr(hdr, B->id, 3, &sb, "B says A said");
  memcpy(hdr, A->id, 20);
  assert_int_equal(xport_send_signed(bc, hdr, "B says A said", 13, n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(got_data(C, "whose?", NULL) + got_data(C, "B says A said", NULL), 0);
  assert_int_equal(got_data(D, "whose?", NULL) + got_data(D, "B says A said", NULL), 0);
  assert_int_equal(stats(C).bad_signatures, bad0 + 3);

  /* 3. the signature stripped (a kind 4 entry): delivered with origin A, not signed */
  signed_hdr(hdr, A->id, 4, &sa, "stripped");
  assert_int_equal(xport_send_origin(bc, hdr, "stripped", 8, n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(got_data(C, "stripped", &e), 1);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_signed, 0);

  /* ... and stripping it first (with the message altered, even) does not suppress the
   * genuine signed copy: that is still delivered after, checked, once */
  signed_hdr(hdr, A->id, 6, &sa, "real");
  assert_int_equal(xport_send_origin(bc, hdr, "fake", 4, n->now), SW_OK);
  assert_int_equal(xport_send_signed(bc, hdr, "real", 4, n->now), SW_OK);
  assert_int_equal(xport_send_signed(bc, hdr, "real", 4, n->now), SW_OK);
  assert_int_equal(xport_send_origin(bc, hdr, "fake again", 10, n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(got_data(C, "fake", &e), 1);
  assert_int_equal(e->origin_signed, 0);
  assert_int_equal(got_data(C, "real", &e), 1);
  assert_memory_equal(e->origin, A->id, SW_ID_LEN);
  assert_int_equal(e->origin_signed, 1);
  assert_int_equal(got_data(C, "fake again", NULL), 0);

  /* 4. an author nobody here met: nothing to check with, so only as good as the relays */
  uint8_t x[20];
  memset(x, 0x5a, sizeof x);
  signed_hdr(hdr, x, 5, &sa, "unknown author");
  assert_int_equal(xport_send_signed(bc, hdr, "unknown author", 14, n->now), SW_OK);
  advance(n, n->now + 200);
  assert_int_equal(got_data(C, "unknown author", &e), 1);
  assert_memory_equal(e->origin, x, 20);
  assert_int_equal(e->origin_signed, 0);
  assert_int_equal(stats(C).bad_signatures, bad0 + 3);

  /* 5. a binding for A's key from B, without A's proof: ignored, B's key stays B's */
  uint8_t bind[1 + ORIGIN_BINDING_LEN] = {ORIGIN_CHANNEL, ORIGIN_MSG_BINDING};
  memcpy(bind + 2, sa.pub, 32);
  memset(bind + 34, 0x11, 64);
  assert_int_equal(xport_send(bc, bind, sizeof bind, XPORT_RELIABLE | XPORT_ENGINE, n->now),
                   SW_OK);
  advance(n, n->now + 200);
  uint8_t key[32];
  assert_int_equal(sw_core_peer_signing_key(C->c, B->id, key), SW_OK);
  assert_memory_equal(key, sb.pub, 32);
  /* the session goes on: A's next signed message is fine */
  assert_int_equal(sw_core_send(A->c, NULL, "after all that", 14, SW_SEND_SIGNED, n->now), 1);
  advance(n, n->now + 300);
  assert_int_equal(got_data(C, "after all that", &e), 1);
  assert_int_equal(e->origin_signed, 1);
  net_free(n);
}

/* A reference peer beside A and one beside B: a signed broadcast reaches both as the
 * plain DATA they read (no header, no signature), from A itself and flooded on by B;
 * what a reference sends arrives with no origin, as before. */
static int ref_got(net *n, ref_peer *r, const char *m) {
  int k = 0;
  for (int i = 0; i < n->nstray; i++) {
    const dgram *g = &n->stray[i];
    if (!addr_equal(&g->to, &r->addr) || g->d[0] != WIRE_DATA) continue;
    uint32_t seq;
    uint8_t msg[256];
    size_t len = ref_open(r, g->d, g->len, &seq, msg);
    k += len == strlen(m) && memcmp(msg, m, len) == 0;
  }
  return k;
}

static void test_reference_peers(void **state) {
  (void)state;
  int a, b, c;
  net *n = line(&a, &b, &c, 0);
  node *A = &n->nodes[a], *C = &n->nodes[c];
  ref_peer ra, rb;
  ref_init(&ra, SEED_R, "10.0.0.8:1008", A);
  ref_init(&rb, SEED_R2, "10.0.0.9:1009", &n->nodes[b]);
  ref_hello(n, &ra, a, WIRE_HELLO);
  assert_true(ref_prove(n, &ra, a));
  ref_hello(n, &rb, b, WIRE_HELLO);
  assert_true(ref_prove(n, &rb, b));
  clear_strays(n);
  assert_int_equal(sw_core_send(A->c, NULL, "signed for all", 14, SW_SEND_SIGNED, n->now), 2);
  advance(n, n->now + 300);
  assert_int_equal(ref_got(n, &ra, "signed for all"), 1);
  assert_int_equal(ref_got(n, &rb, "signed for all"), 1);
  const ev *e;
  assert_int_equal(got_data(C, "signed for all", &e), 1);
  ref_send(n, &rb, b, "from a reference", 16);
  advance(n, n->now + 300);
  assert_int_equal(got_data(C, "from a reference", &e), 1);
  assert_false(e->has_origin);
  assert_int_equal(e->origin_signed, 0);
  uint8_t key[32];
  assert_int_equal(sw_core_peer_signing_key(A->c, ra.id.id, key), SW_ENOTFOUND);
  ref_free(&ra);
  ref_free(&rb);
  net_free(n);
}

/* The binding table: 1 024 entries at most, the least recently used dropped first. */
static void test_binding_table_bound(void **state) {
  (void)state;
  net *n = net_new();
  sw_core_config cfg = {.xsession = 1};
  node *nd = &n->nodes[net_add_cfg(n, NULL, "10.0.0.1:1001", &cfg)];
  size_t mem0 = sw_core_memory(nd->c);
  core_peer fake;
  memset(&fake, 0, sizeof fake);
  uint8_t first[32] = {0};
  for (unsigned i = 0; i < ORIGIN_BINDINGS + 1; i++) {
    crypto_identity id;
    crypto_signer s;
    uint8_t seed[4] = {(uint8_t)(i >> 8), (uint8_t)i, 0x77, 0x01};
    assert_int_equal(crypto_identity_from_seed(&id, seed, sizeof seed), SW_OK);
    assert_int_equal(crypto_signer_from_identity(&s, &id), SW_OK);
    memcpy(fake.full_id, id.id, 20);
    static const char label[] = "setowire signing binding v1";
    uint8_t text[128], msg[ORIGIN_BINDING_LEN] = {ORIGIN_MSG_BINDING};
    memcpy(text, label, sizeof label - 1);
    memcpy(text + sizeof label - 1, id.id, 20);
    memcpy(text + sizeof label - 1 + 20, s.pub, 32);
    memcpy(msg + 1, s.pub, 32);
    assert_int_equal(crypto_sign(&s, text, sizeof label - 1 + 52, msg + 33), SW_OK);
    origin_on_message(nd->c, &fake, msg, sizeof msg, n->now);
    if (i == 0) memcpy(first, id.id, 20);
    if (i == 2) { /* the first is used (a check): it stays; the second is the oldest now */
      uint8_t k[32];
      assert_int_equal(origin_key_of(nd->c, first, 20, k), SW_OK);
      uint8_t hdr[XPORT_SIGNED_HDR] = {0};
      memcpy(hdr, first, 20);
      assert_int_equal(origin_verify(nd->c, hdr, NULL, 0), ORIGIN_FORGED);
    }
  }
  /* 1 025 learnt: the least recently used (the second, i = 1) is gone */
  uint8_t k[32];
  assert_int_equal(origin_key_of(nd->c, first, 20, k), SW_OK);
  crypto_identity id1;
  uint8_t seed1[4] = {0, 1, 0x77, 0x01};
  assert_int_equal(crypto_identity_from_seed(&id1, seed1, sizeof seed1), SW_OK);
  assert_int_equal(origin_key_of(nd->c, id1.id, 20, k), SW_ENOTFOUND);
  /* bounded memory: about 64 bytes a binding */
  size_t grown = sw_core_memory(nd->c) - mem0;
  assert_true(grown <= ORIGIN_BINDINGS * 64 + 256);
  assert_true(grown >= ORIGIN_BINDINGS * 52);
  /* a malformed message on the channel changes nothing */
  origin_on_message(nd->c, &fake, (const uint8_t *)"\x01", 1, n->now);
  origin_on_message(nd->c, &fake, (const uint8_t *)"\x09", 1, n->now);
  net_free(n);
}

/* The prepared signing key signs as crypto_sign does (Ed25519 is deterministic). */
static void test_sign_ctx(void **state) {
  (void)state;
  crypto_signer s;
  signer_of(SEED_A, &s);
  crypto_sign_ctx *k = crypto_sign_ctx_new(&s);
  assert_non_null(k);
  uint8_t a[64], b[64];
  for (size_t len = 0; len < 3000; len += 999) {
    static uint8_t msg[3000];
    memset(msg, (int)len, len);
    assert_int_equal(crypto_sign(&s, msg, len, a), SW_OK);
    assert_int_equal(crypto_sign_ctx_sign(k, msg, len, b), SW_OK);
    assert_memory_equal(a, b, 64);
    assert_int_equal(crypto_verify(s.pub, msg, len, b), SW_OK);
  }
  crypto_sign_ctx_free(k);
  crypto_sign_ctx_free(NULL);
}

/* The kind 5 entry at the delivery engine alone; one too short for its header breaks
 * the stream. */
static void test_xport_kind5(void **state) {
  (void)state;
  check_header_entry(xport_send_signed, XPORT_SIGNED_HDR, XPORT_SIGNED_MAX_MSG, XPORT_SIGNED,
                     XPORT_ENTRY_SIGNED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signed_relayed_met_before),
      cmocka_unit_test(test_signed_relayed_never_met),
      cmocka_unit_test(test_relay_forgeries),
      cmocka_unit_test(test_reference_peers),
      cmocka_unit_test(test_binding_table_bound),
      cmocka_unit_test(test_xport_kind5),
      cmocka_unit_test(test_sign_ctx),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
