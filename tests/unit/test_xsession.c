/* The extended session wired into the engine (docs/TRANSPORT.md 2, 8; xsession.c): two
 * cores with sw_core_config.xsession run the handshake after HELLO/HELLO_ACK and carry
 * messages in XPACKETs both ways; what they send does not open with the keys the two
 * static identities alone give; a core without the switch, or a reference peer, gets the
 * plain protocol byte for byte; a flood crosses an extended hop; 10 % loss loses no
 * message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "corenet.h"
#include "peers.h"
#include "corenet_ref.h"
#include "crypto.h"
#include "handshake.h"
#include "testutil.h"
#include "wire.h"
#include "xpacket.h"
#include "xsession.h"

static const sw_core_config XCFG = {.xsession = 1};

static int count_type(const net *n, uint8_t type) {
  int k = 0;
  for (int i = 0; i < n->nseen; i++) k += n->seen[i].len && n->seen[i].d[0] == type;
  return k;
}

/* DATA frames recorded, bare or inside a BATCH. */
static int count_data(const net *n) {
  int k = 0;
  for (int i = 0; i < n->nseen; i++) {
    const dgram *g = &n->seen[i];
    if (!g->len) continue;
    if (g->d[0] == WIRE_DATA) k++;
    wire_batch_iter it;
    const uint8_t *f;
    size_t fl;
    if (g->d[0] != WIRE_BATCH || wire_batch_begin(&it, g->d, g->len)) continue;
    while (wire_batch_next(&it, &f, &fl)) k += fl && f[0] == WIRE_DATA;
  }
  return k;
}

static void forget_seen(net *n) {
  for (int k = 0; k < n->nseen; k++) free(n->seen[k].d);
  n->nseen = 0;
}

/* The DATA events of nd, from `from`, each checked against "m <i>" in order from 0
 * (messages of the other direction say "r <i>": the same bytes would be duplicates). */
static int data_in_order_p(const node *nd, const node *from, int expect, char pre) {
  int got = 0;
  for (int k = 0; k < nd->nev; k++) {
    const ev *e = &nd->evs[k];
    if (e->type != SW_EV_DATA || memcmp(e->peer, from->id, 8) != 0) continue;
    char want[32];
    int wl = snprintf(want, sizeof want, "%c %d", pre, got);
    /* padded ones go on with '.' */
    if (e->len < (size_t)wl || memcmp(e->data, want, (size_t)wl) != 0 ||
        (e->len > (size_t)wl && e->data[wl] != '.'))
      return -1;
    got++;
  }
  return got == expect ? got : -2 - got;
}

static int data_in_order(const node *nd, const node *from, int expect) {
  return data_in_order_p(nd, from, expect, 'm');
}

static void write_n(net *n, int from, int to, int count, int start) {
  for (int i = start; i < start + count; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "%c %d", from < to ? 'm' : 'r', i);
    assert_int_equal(sw_core_write(n->nodes[from].c, n->nodes[to].id, m, (size_t)l, n->now),
                     SW_OK);
  }
}

static void test_handshake_and_messages(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  connect_nodes(n, a, b);
  /* one CONNECTION each, as before; one HS_INIT, one HS_RESP, and a packet each way */
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  assert_int_equal(count_ev(B, SW_EV_CONNECTION), 1);
  assert_int_equal(count_type(n, HS_TYPE_INIT), 1);
  assert_int_equal(count_type(n, HS_TYPE_RESP), 1);
  assert_int_equal(count_type(n, HS_TYPE_RETRY), 0);
  assert_true(count_type(n, XPKT_TYPE) >= 2);
  /* the HELLO trailers carry XSESSION, and ORIGIN and SIGNED beside it */
  for (int k = 0; k < n->nseen; k++)
    if (n->seen[k].d[0] == WIRE_HELLO || n->seen[k].d[0] == WIRE_HELLO_ACK) {
      assert_int_equal(n->seen[k].len, WIRE_HELLO_LEN + WIRE_TRAILER_LEN);
      assert_int_equal(n->seen[k].d[WIRE_HELLO_LEN + 3],
                       WIRE_CAP_SEALED | WIRE_CAP_XSESSION | WIRE_CAP_ORIGIN | WIRE_CAP_SIGNED);
    }
  forget_seen(n);
  /* messages both ways: in XPACKETs only, delivered once, in order */
  write_n(n, a, b, 50, 0);
  write_n(n, b, a, 50, 0);
  advance(n, n->now + 200);
  assert_int_equal(data_in_order(B, A, 50), 50);
  assert_int_equal(data_in_order_p(A, B, 50, 'r'), 50);
  assert_int_equal(count_data(n), 0);
  assert_true(count_type(n, XPKT_TYPE) > 0);
  /* the messages are not in clear in any packet */
  for (int k = 0; k < n->nseen; k++)
    for (size_t i = 0; i + 4 <= n->seen[k].len; i++)
      assert_false(memcmp(n->seen[k].d + i, "m 17", 4) == 0);
  /* a large message, and a broadcast, go the same way */
  uint8_t big[60000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  assert_int_equal(sw_core_write(A->c, B->id, big, sizeof big, n->now), SW_OK);
  assert_int_equal(sw_core_broadcast(B->c, "all", 3, n->now), 1);
  advance(n, n->now + 500);
  const ev *e = nth_ev(B, SW_EV_DATA, 50);
  assert_non_null(e);
  assert_int_equal(e->len, sizeof big);
  assert_memory_equal(e->data, big, sizeof big);
  e = nth_ev(A, SW_EV_DATA, 50);
  assert_non_null(e);
  assert_int_equal(e->len, 3);
  assert_memory_equal(e->data, "all", 3);
  assert_int_equal(count_data(n), 0);
  /* the session holds: heartbeats go on, nobody disconnects */
  advance(n, n->now + 5000);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  assert_true(sw_core_memory(A->c) > 131072 * 2);
  net_free(n);
}

/* A large message is delivered from where it lies in the receive buffer (xsession.c
 * drain), or, when it wraps around the buffer's end, from a copy of drain's own.
 * Datagrams fed in from inside the handler must neither deliver it again nor move or
 * overwrite it (here: a packet of the same session), and if they remove its peer (here:
 * the peer's sealed GOAWAY) the session's buffers must outlive the delivery: the handler
 * still reads the message after, and so does the flood to a third node after the
 * handler. The reads are the handler's own memcmp and the library's flood, both under
 * ASan: a buffer freed too early is a use after free, one never freed a leak. */
static struct {
  const uint8_t *big;
  int in_place; /* the last big message came from the receive buffer itself */
  int intact;   /* and was unchanged after the datagrams */
} during;

static void feed_from(net *n, node *A, node *B) {
  sw_dgram d[32];
  sw_core_flush(A->c, n->now);
  size_t k = sw_core_out_peek(A->c, d, 32);
  assert_true(k > 0);
  for (size_t j = 0; j < k; j++)
    sw_core_datagram(B->c, SW_SOCK_MAIN, &A->addr, d[j].data, d[j].len, n->now);
  sw_core_out_consume(A->c, k, n->now);
}

static void close_sender_inside(node *B, const sw_event *e) {
  net *n = B->hook;
  node *A = &n->nodes[0];
  if (e->len != 60000) return;
  core_peer *p = peers_find(B->c, e->peer);
  assert_non_null(p);
  const xport *x = p->xs->x;
  during.in_place = e->data >= x->rcv_ring && e->data < x->rcv_ring + x->lim.recv_buf;
  uint8_t more[20000];
  memset(more, 'm', sizeof more);
  assert_int_equal(sw_core_write(A->c, B->id, more, sizeof more, n->now), SW_OK);
  uint64_t dropped = stats(B).rx_dropped;
  feed_from(n, A, B); /* packets of this session, while its message is out: dropped */
  assert_true(!during.in_place || stats(B).rx_dropped > dropped);
  assert_int_equal(sw_core_close(A->c, n->now), SW_OK);
  int before = count_ev(B, SW_EV_DISCONNECT);
  feed_from(n, A, B); /* its GOAWAY */
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), before + 1); /* removed, inside */
  during.intact = memcmp(e->data, during.big, 60000) == 0; /* instrumented: not cmocka's */
}

static void removed_during_delivery(int wrap) {
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  /* C and D: after A goes, B still has two peers, so it floods (with one it would not) */
  int c3 = net_add_cfg(n, NULL, "10.0.0.3:1003", &XCFG);
  int d4 = net_add_cfg(n, NULL, "10.0.0.4:1004", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c3], *D = &n->nodes[d4];
  connect_nodes(n, a, b);
  connect_nodes(n, b, c3);
  connect_nodes(n, b, d4);
  advance(n, n->now + 200);
  sw_core_peer_info info[4];
  assert_int_equal(sw_core_peers(B->c, info, 4), 3);
  assert_true(info[0].extended && info[1].extended && info[2].extended);
  static uint8_t big[60000], pre[50000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 13);
  memset(pre, 'p', sizeof pre);
  memset(&during, 0, sizeof during);
  during.big = big;
  B->on_data = close_sender_inside;
  B->hook = n;
  /* two 50 000-byte messages first put the big one across the end of B's 128 KiB
   * receive buffer */
  for (int i = 0; wrap && i < 2; i++) {
    assert_int_equal(sw_core_write(A->c, B->id, pre, sizeof pre, n->now), SW_OK);
    advance(n, n->now + 100);
  }
  assert_int_equal(sw_core_broadcast(A->c, big, sizeof big, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(during.in_place, !wrap);
  assert_true(during.intact);
  int bigs = 0;
  for (int i = 0; i < B->nev; i++) bigs += B->evs[i].type == SW_EV_DATA && B->evs[i].len == 60000;
  assert_int_equal(bigs, 1); /* delivered once */
  assert_int_equal(count_ev(B, SW_EV_DISCONNECT), 1);
  assert_false(has_peer(B, A));
  /* the flood to C and D read the message after the handler */
  for (int k = 0; k < 2; k++) {
    node *to = k ? D : C;
    const ev *e = NULL;
    for (int i = 0; i < to->nev; i++)
      if (to->evs[i].type == SW_EV_DATA && to->evs[i].len == 60000) e = &to->evs[i];
    assert_non_null(e);
    assert_memory_equal(e->data, big, sizeof big);
  }
  B->on_data = NULL;
  net_free(n);
}

static void test_peer_removed_during_delivery(void **state) {
  (void)state;
  removed_during_delivery(0); /* from the receive buffer */
  removed_during_delivery(1); /* around its end: copied */
}

/* Every key the plain protocol derives from the two static identities, and the shared
 * static secret, as a traffic secret of either suite: none opens a recorded packet. */
static void test_recorded_session_static_keys(void **state) {
  (void)state;
  net *n = net_new();
  const char *sa = "1111111111111111111111111111111111111111111111111111111111111111";
  const char *sb = "2222222222222222222222222222222222222222222222222222222222222222";
  int a = net_add_cfg(n, sa, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, sb, "10.0.0.2:1002", &XCFG);
  n->record = 1;
  connect_nodes(n, a, b);
  write_n(n, a, b, 20, 0);
  write_n(n, b, a, 20, 0);
  advance(n, n->now + 200);
  assert_int_equal(data_in_order(&n->nodes[b], &n->nodes[a], 20), 20);
  crypto_identity ia, ib;
  assert_int_equal(crypto_identity_from_hex(&ia, sa), 0);
  assert_int_equal(crypto_identity_from_hex(&ib, sb), 0);
  crypto_session_keys ka, kb;
  assert_int_equal(crypto_derive_session(&ia, ib.pub, &ka), 0);
  assert_int_equal(crypto_derive_session(&ib, ia.pub, &kb), 0);
  const uint8_t *cands[] = {ka.send_key, ka.recv_key, kb.send_key, kb.recv_key};
  int packets = 0;
  for (int k = 0; k < n->nseen; k++) {
    if (n->seen[k].d[0] != XPKT_TYPE) continue;
    xpkt_header h;
    assert_int_equal(xpkt_header_decode(n->seen[k].d, n->seen[k].len, &h), SW_OK);
    packets++;
    for (size_t c = 0; c < sizeof cands / sizeof *cands; c++)
      for (int suite = CRYPTO_SUITE_CHACHA; suite <= CRYPTO_SUITE_AESGCM; suite++) {
        xpkt_rx rx;
        uint8_t out[2048];
        assert_int_equal(xpkt_rx_init(&rx, suite, cands[c], h.receiver_index), SW_OK);
        assert_true(xpkt_open(&rx, n->now, n->seen[k].d, n->seen[k].len, out, sizeof out,
                              NULL) < 0);
        xpkt_rx_free(&rx);
      }
  }
  assert_true(packets >= 4);
  net_free(n);
}

/* The switch off on one side: no XSESSION bit from it, no extended frame either way,
 * messages as plain DATA. */
static void test_one_side_off(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add(n, "10.0.0.2:1002");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  n->record = 1;
  connect_nodes(n, a, b);
  write_n(n, a, b, 10, 0);
  write_n(n, b, a, 10, 0);
  advance(n, n->now + 3000);
  assert_int_equal(data_in_order(B, A, 10), 10);
  assert_int_equal(data_in_order_p(A, B, 10, 'r'), 10);
  for (uint8_t t = XPKT_TYPE; t <= HS_TYPE_RETRY; t++) assert_int_equal(count_type(n, t), 0);
  assert_true(count_data(n) > 0);
  for (int k = 0; k < n->nseen; k++)
    if (n->seen[k].from == b &&
        (n->seen[k].d[0] == WIRE_HELLO || n->seen[k].d[0] == WIRE_HELLO_ACK))
      assert_int_equal(n->seen[k].d[WIRE_HELLO_LEN + 3], WIRE_CAP_SEALED);
  net_free(n);
}

/* A reference peer (41-byte HELLO) talking to a core with the switch on: the plain
 * protocol, and no extended frame towards it. */
static void test_reference_peer(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  node *A = &n->nodes[a];
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.0.0.9:9009", a);
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  ref_send(n, &r, a, "hello", 5);
  pump(n);
  assert_int_equal(count_ev(A, SW_EV_DATA), 1);
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(A->c, &info, 1), 1);
  assert_int_equal(sw_core_write(A->c, info.wire_id, "back", 4, n->now), SW_OK);
  advance(n, n->now + 3000);
  assert_true(strays_to(n, &r.addr, WIRE_DATA) >= 1);
  for (uint8_t t = XPKT_TYPE; t <= HS_TYPE_RETRY; t++)
    assert_int_equal(strays_to(n, &r.addr, t), 0);
  ref_free(&r);
  net_free(n);
}

/* A - B - C in a line: what A broadcasts, B floods to C over its extended hop. */
static void test_flood_over_extended_hop(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  int c = net_add_cfg(n, NULL, "10.0.0.3:1003", &XCFG);
  connect_nodes(n, a, b);
  connect_nodes(n, b, c);
  n->record = 1;
  for (int i = 0; i < 30; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "m %d", i);
    assert_int_equal(sw_core_broadcast(n->nodes[a].c, m, (size_t)l, n->now), 1);
  }
  advance(n, n->now + 500);
  assert_int_equal(data_in_order(&n->nodes[b], &n->nodes[a], 30), 30);
  assert_int_equal(data_in_order(&n->nodes[c], &n->nodes[b], 30), 30);
  assert_int_equal(count_data(n), 0);
  net_free(n);
}

/* 10 % of the extended session's packets lost both ways: every message (300 bytes,
 * about 4 to a packet) arrives once, in order. */
static uint64_t loss_rng = 0x1234567;
static int lossy(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n, (void)from, (void)to;
  if (!len || d[0] != XPKT_TYPE) return 1;
  loss_rng = loss_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (loss_rng >> 33) % 100 >= 10;
}

static void test_loss(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  connect_nodes(n, a, b);
  n->filter = lossy;
  n->record = 1;
  const int total = 1500;
  int sent = 0;
  for (int round = 0; round < 2000 && sent < total; round++) {
    while (sent < total) {
      char m[300];
      memset(m, '.', sizeof m);
      int l = snprintf(m, sizeof m, "m %d", sent);
      m[l] = '.';
      int rc = sw_core_write(n->nodes[a].c, n->nodes[b].id, m, sizeof m, n->now);
      if (rc == SW_EAGAIN) break;
      assert_int_equal(rc, SW_OK);
      sent++;
    }
    advance(n, n->now + 5);
  }
  advance(n, n->now + 10000);
  assert_int_equal(sent, total);
  assert_int_equal(data_in_order(&n->nodes[b], &n->nodes[a], total), total);
  assert_int_equal(count_data(n), 0); /* all of it went in XPACKETs */
  assert_true(count_type(n, XPKT_TYPE) > 100);
  net_free(n);
}

static int peer_extended(const node *nd) {
  sw_core_peer_info info[4];
  return sw_core_peers(nd->c, info, 4) == 1 && info[0].extended;
}

/* A restarts (same seed, a new address): a new extended session replaces the dead one,
 * whichever side initiates, and messages flow both ways again. Returns 1 when A was the
 * lower side (the initiator). */
static int restart_once(const char *seed_a) {
  net *n = net_new();
  int a = net_add_cfg(n, seed_a, "10.0.0.1:1", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &XCFG);
  node *B = &n->nodes[b];
  connect_nodes(n, a, b);
  assert_true(peer_extended(&n->nodes[a]) && peer_extended(B));
  int lower = memcmp(n->nodes[a].id, B->id, 8) < 0;
  write_n(n, a, b, 5, 0);
  advance(n, n->now + 100);
  assert_int_equal(data_in_order(B, &n->nodes[a], 5), 5);
  n->nodes[a].dead = 1;
  advance(n, n->now + 2000);
  int a2 = net_add_cfg(n, seed_a, "10.0.0.1:7", &XCFG);
  node *A2 = &n->nodes[a2];
  connect_nodes(n, a2, b);
  advance(n, n->now + 500);
  if (!peer_extended(A2) || !peer_extended(B))
    printf("lower %d: A2 %d B %d restarts %llu\n", lower, peer_extended(A2), peer_extended(B),
           (unsigned long long)stats(B).restarts);
  assert_true(peer_extended(A2));
  assert_true(peer_extended(B));
  int before = count_ev(B, SW_EV_DATA);
  for (int k = 0; k < 20; k++) {
    char m[16];
    snprintf(m, sizeof m, "after %d", k);
    assert_int_equal(sw_core_write(A2->c, B->id, m, strlen(m), n->now), SW_OK);
    m[0] = 'A';
    assert_int_equal(sw_core_write(B->c, A2->id, m, strlen(m), n->now), SW_OK);
  }
  advance(n, n->now + 300);
  assert_int_equal(count_ev(B, SW_EV_DATA) - before, 20);
  assert_int_equal(count_ev(A2, SW_EV_DATA), 20);
  for (int k = 0; k < 20; k++) {
    char m[16];
    snprintf(m, sizeof m, "after %d", k);
    assert_memory_equal(nth_ev(B, SW_EV_DATA, before + k)->data, m, strlen(m));
  }
  net_free(n);
  return lower;
}

static void test_restart(void **state) {
  (void)state;
  static const char *seeds[] = {
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "1111111111111111111111111111111111111111111111111111111111111111",
      "2222222222222222222222222222222222222222222222222222222222222222",
      "3333333333333333333333333333333333333333333333333333333333333333",
      "4444444444444444444444444444444444444444444444444444444444444444",
      "5555555555555555555555555555555555555555555555555555555555555555",
      "6666666666666666666666666666666666666666666666666666666666666666",
      "7777777777777777777777777777777777777777777777777777777777777777",
  };
  int lower = 0, higher = 0;
  for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
    if (restart_once(seeds[i])) lower++;
    else higher++;
  }
  printf("restarted as the lower side %d times, as the higher %d\n", lower, higher);
  assert_true(lower > 0 && higher > 0); /* both roles restarted */
}

/* A's NAT mapping changes: an authenticated XPACKET from the new address moves B there,
 * as plain DATA would (D8). */
static void test_nat_rebinding(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  assert_true(peer_extended(A) && peer_extended(B));
  sw_addr old = A->addr;
  assert_int_equal(addr_parse_hostport(&A->addr, "192.0.2.77:40000"), SW_OK);
  write_n(n, a, b, 3, 0);
  advance(n, n->now + 100);
  assert_int_equal(data_in_order(B, A, 3), 3);
  sw_core_peer_info info;
  sw_core_peers(B->c, &info, 1);
  assert_true(addr_equal(&info.addr, &A->addr));
  assert_int_equal(info.verified, 1);
  clear_strays(n);
  write_n(n, b, a, 3, 0);
  advance(n, n->now + 5000);
  assert_int_equal(data_in_order_p(A, B, 3, 'r'), 3);
  assert_int_equal(strays_to(n, &old, XPKT_TYPE), 0);
  assert_int_equal(count_ev(A, SW_EV_DISCONNECT) + count_ev(B, SW_EV_DISCONNECT), 0);
  net_free(n);
}


/* ---- order across the switch from plain to extended (TRANSPORT.md 8) ---------- */

static dgram late[256]; /* plain DATA the network holds back */
static int nlate, drop_resps, drop_hs;
#define XS_HOLD_TEST_MS 4000 /* XS_HOLD_MS of xsession.h */

static int has_data(const uint8_t *d, size_t len) {
  if (!len) return 0;
  if (d[0] == WIRE_DATA) return 1;
  wire_batch_iter it;
  const uint8_t *f;
  size_t fl;
  if (d[0] != WIRE_BATCH || wire_batch_begin(&it, d, len)) return 0;
  while (wire_batch_next(&it, &f, &fl))
    if (fl && f[0] == WIRE_DATA) return 1;
  return 0;
}

/* Drops the first drop_resps HS_RESPs and holds back every datagram with plain DATA in
 * it, to be delivered late; or, while drop_hs, drops every handshake message. */
static int inits_dropped[2]; /* HS_INITs delay_plain dropped while drop_hs, per sender */

static int delay_plain(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n;
  if (len && d[0] >= HS_TYPE_INIT && d[0] <= HS_TYPE_RETRY && drop_hs) {
    if (d[0] == HS_TYPE_INIT && from >= 0 && from < 2) inits_dropped[from]++;
    return 0;
  }
  if (len && d[0] == HS_TYPE_RESP && drop_resps > 0) {
    drop_resps--;
    return 0;
  }
  if (!drop_hs && has_data(d, len)) {
    keep(late, &nlate, 256, from, to, d, len);
    return 0;
  }
  return 1;
}

static void deliver_late(net *n) {
  for (int k = 0; k < nlate; k++) {
    int to = -1;
    for (int i = 0; i < n->count; i++)
      if (addr_equal(&n->nodes[i].addr, &late[k].to)) to = i;
    inject(n, to, &n->nodes[late[k].from].addr, late[k].d, late[k].len);
    free(late[k].d);
  }
  nlate = 0;
  pump(n);
}

/* Messages written while the handshake runs (its HS_RESP lost once, so it takes a
 * second) and after it: none goes plain, so none can arrive after the extended ones;
 * all arrive in order, both ways. */
static void test_order_across_switch(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  nlate = 0;
  drop_resps = 1;
  drop_hs = 0;
  n->filter = delay_plain;
  connect_nodes(n, a, b);
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  assert_false(peer_extended(A) || peer_extended(B)); /* the handshake still runs */
  write_n(n, a, b, 10, 0);
  write_n(n, b, a, 10, 0);
  advance(n, n->now + 1500); /* the HS_INIT again, answered this time */
  assert_true(peer_extended(A) && peer_extended(B));
  write_n(n, a, b, 10, 10);
  write_n(n, b, a, 10, 10);
  advance(n, n->now + 200);
  deliver_late(n); /* whatever went plain arrives now, after the extended ones */
  advance(n, n->now + 200);
  assert_int_equal(nlate, 0);
  assert_int_equal(data_in_order(B, A, 20), 20);
  assert_int_equal(data_in_order_p(A, B, 20, 'r'), 20);
  n->filter = NULL;
  net_free(n);
}

/* A handshake that never completes (its messages all lost): what was held goes plain
 * when the hold ends, in order, then what is written later; a full hold says SW_EAGAIN,
 * then SW_EV_WRITABLE. */
static void test_hold_then_plain(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  drop_hs = 1;
  drop_resps = 0;
  inits_dropped[0] = inits_dropped[1] = 0;
  n->filter = delay_plain;
  connect_nodes(n, a, b);
  uint64_t t0 = n->now;
  write_n(n, a, b, 10, 0);
  /* large ones until the hold is full */
  uint8_t big[20000];
  memset(big, 'x', sizeof big);
  int nbig = 0, rc;
  while ((rc = sw_core_write(A->c, B->id, big, sizeof big, n->now)) == SW_OK) {
    big[0] = (uint8_t)++nbig;
    assert_true(nbig < 100);
  }
  assert_int_equal(rc, SW_EAGAIN);
  assert_true(nbig >= 2);
  advance(n, n->now + 1000);
  assert_int_equal(count_ev(B, SW_EV_DATA), 0); /* held */
  assert_int_equal(count_ev(A, SW_EV_WRITABLE), 0);
  advance(n, t0 + XS_HOLD_TEST_MS - 1);
  /* the lower side's HS_INIT at 0, 0.25, 0.75, 1.75 and 3.75 s (TRANSPORT.md 4.5): five
   * tries within the hold (the higher side's own start 1 s later) */
  int most = inits_dropped[0] > inits_dropped[1] ? inits_dropped[0] : inits_dropped[1];
  assert_int_equal(most, 5);
  advance(n, n->now + XS_HOLD_TEST_MS);
  assert_int_equal(count_ev(B, SW_EV_DATA), 10 + nbig);
  for (int k = 0; k < 10 + nbig; k++) { /* in write order */
    const ev *e = nth_ev(B, SW_EV_DATA, k);
    char m[16];
    snprintf(m, sizeof m, "m %d", k);
    if (k < 10) assert_memory_equal(e->data, m, strlen(m));
    else assert_int_equal(e->data[0], k == 10 ? 'x' : k - 10);
  }
  assert_true(count_ev(A, SW_EV_WRITABLE) >= 1);
  write_n(n, a, b, 5, 10);
  advance(n, n->now + 100);
  assert_int_equal(count_ev(B, SW_EV_DATA), 15 + nbig);
  assert_int_equal(memcmp(nth_ev(B, SW_EV_DATA, 10 + nbig)->data, "m 10", 4), 0);
  assert_false(peer_extended(A) || peer_extended(B));
  n->filter = NULL;
  net_free(n);
}

/* ---- downgrade: a XSESSION bit stripped from HELLO (TRANSPORT.md 2) ----------- */

static int strip_from = -1; /* -1: both ways */
static int strip_sealed;    /* also drop every sealed frame */

/* An on-path attacker: HELLO and HELLO_ACK trailers lose XSESSION on the way. */
/* A sealed frame with an inner part shorter than a CHALLENGE/RESPONSE: CAPS, PROOF,
 * GRAFT, GOAWAY. The address challenge is let through, because without it no address
 * ever proves itself (docs/THREATS.md "Main socket") and nothing flows at all: an
 * attacker who drops can always deny service; these tests are about downgrade. */
static int short_sealed(const uint8_t *d, size_t len) {
  return len && d[0] == WIRE_SEALED && len < WIRE_DATA_HDR + 1 + WIRE_CHALLENGE_LEN + 16;
}

static int stripper(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  if (strip_sealed && short_sealed(d, len)) return 0;
  if (len != WIRE_HELLO_LEN + WIRE_TRAILER_LEN || (d[0] != WIRE_HELLO && d[0] != WIRE_HELLO_ACK) ||
      !(d[WIRE_HELLO_LEN + 3] & WIRE_CAP_XSESSION) || (strip_from >= 0 && from != strip_from))
    return 1;
  uint8_t f[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  memcpy(f, d, len);
  f[WIRE_HELLO_LEN + 3] &= (uint8_t)~WIRE_CAP_XSESSION;
  for (int i = 0; i < n->count; i++)
    if (addr_equal(&n->nodes[i].addr, to)) inject(n, i, &n->nodes[from].addr, f, len);
  return 0;
}

static void stripped_once(int from_side) {
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  strip_from = from_side < 0 ? -1 : from_side ? b : a;
  strip_sealed = 0;
  n->filter = stripper;
  connect_nodes(n, a, b);
  advance(n, n->now + 1500); /* an HS_INIT refused before the CAPS came is sent again */
  assert_true(peer_extended(A));
  assert_true(peer_extended(B));
  n->record = 1;
  write_n(n, a, b, 10, 0);
  write_n(n, b, a, 10, 0);
  advance(n, n->now + 200);
  assert_int_equal(data_in_order(B, A, 10), 10);
  assert_int_equal(data_in_order_p(A, B, 10, 'r'), 10);
  assert_int_equal(count_data(n), 0);
  n->filter = NULL;
  net_free(n);
}

/* The bit stripped from A's HELLO, from B's, from both: each side's sealed CAPS tells
 * the other, and the extended session starts anyway. */
static void test_stripped_xsession_bit(void **state) {
  (void)state;
  stripped_once(0);
  stripped_once(1);
  stripped_once(-1);
}

/* The bit stripped both ways and every sealed CAPS (and the other short sealed frames)
 * dropped: the two stay plain, and messages still flow. */
static void test_stripped_and_sealed_dropped(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  strip_from = -1;
  strip_sealed = 1;
  n->filter = stripper;
  connect_nodes(n, a, b);
  advance(n, n->now + 20000);
  assert_false(peer_extended(A) || peer_extended(B));
  write_n(n, a, b, 5, 0);
  advance(n, n->now + 100);
  assert_int_equal(data_in_order(B, A, 5), 5);
  n->filter = NULL;
  net_free(n);
}

/* ---- the higher side initiates after 1 s (TRANSPORT.md 2) --------------------- */

static int lower_node = -1, drop_lower_inits, blind_lower;

/* drop_lower_inits: the lower side's first HS_INITs lost. blind_lower: the lower side
 * never learns the higher speaks the extended session (the bit stripped from the higher
 * side's HELLO, its sealed CAPS lost). */
static int drop_lower_init(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  if (len && d[0] == HS_TYPE_INIT && from == lower_node && drop_lower_inits) {
    drop_lower_inits--;
    return 0;
  }
  if (blind_lower && from != lower_node) {
    if (short_sealed(d, len)) return 0;
    strip_from = from;
    strip_sealed = 0;
    return stripper(n, from, to, d, len);
  }
  return 1;
}

static void higher_initiates_once(int drops, int blind) {
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  lower_node = memcmp(A->id, B->id, 8) < 0 ? a : b;
  drop_lower_inits = drops;
  blind_lower = blind;
  n->filter = drop_lower_init;
  n->record = 1;
  connect_nodes(n, a, b);
  advance(n, n->now + 900);
  assert_false(peer_extended(A) || peer_extended(B));
  /* 1 s after the HELLO exchange the higher side initiates; with the lower side's
   * copies lost until then, its next one (1.75 s, TRANSPORT.md 4.5) crosses it and wins */
  advance(n, n->now + (blind ? 600 : 1000));
  assert_true(peer_extended(A) && peer_extended(B));
  assert_int_equal(count_type(n, HS_TYPE_RESP), 1); /* one handshake was answered */
  forget_seen(n);
  blind_lower = 0; /* its plain DATA would be dropped as sealed frames are not */
  write_n(n, a, b, 10, 0);
  write_n(n, b, a, 10, 0);
  advance(n, n->now + 5000);
  assert_int_equal(data_in_order(B, A, 10), 10);
  assert_int_equal(data_in_order_p(A, B, 10, 'r'), 10);
  assert_int_equal(count_data(n), 0);
  assert_int_equal(count_type(n, HS_TYPE_INIT) + count_type(n, HS_TYPE_RESP), 0);
  n->filter = NULL;
  net_free(n);
}

/* The lower side never initiates (it does not know the higher speaks the extended
 * session): the higher side's handshake after 1 s makes the session. The lower side's
 * HS_INITs of the first second lost (at 0, 0.25 and 0.75 s): the higher side's crosses
 * its next one, and the lower side's wins. */
static void test_higher_side_initiates(void **state) {
  (void)state;
  higher_initiates_once(0, 1);
  higher_initiates_once(3, 0);
}

/* ---- cookie under load (TRANSPORT.md 4.3) ------------------------------------ */

#define LOAD_UNCONFIRMED_TEST 8 /* XS_LOAD_UNCONFIRMED of xsession.h */
#define FLOOD 24

static const dgram *stray_of(const net *n, const sw_addr *to, uint8_t type) {
  for (int k = n->nstray - 1; k >= 0; k--)
    if (addr_equal(&n->stray[k].to, to) && n->stray[k].len && n->stray[k].d[0] == type)
      return &n->stray[k];
  return NULL;
}

/* FLOOD libsetowire identities say HELLO (XSESSION) to A from addresses nothing proves,
 * then each sends A a valid HS_INIT from there: A answers the first ones, then, under
 * load, only with RETRYs, and creates no session for them; an HS_INIT that comes back
 * with its cookie from the same address is answered; from another, it is not. */
static void test_cookie_under_load(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  node *A = &n->nodes[a];
  static ref_peer r[FLOOD];
  static hs_state hs[FLOOD];
  sw_addr at[FLOOD];
  int m = 0;
  for (int seed = 1; m < FLOOD && seed < 1000; seed++) {
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", (seed * 37 + i) & 0xff);
    char where[32];
    snprintf(where, sizeof where, "192.0.2.%d:%d", 1 + m, 4000 + m);
    ref_init(&r[m], hex, where, A);
    if (memcmp(r[m].id.id, A->id, 8) > 0) { /* A must be the responder: the higher side */
      ref_free(&r[m]);
      continue;
    }
    at[m] = r[m].addr;
    uint8_t h[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
    size_t l = wire_hello_encode(h, WIRE_HELLO, r[m].id.id, r[m].id.pub,
                                 WIRE_CAP_SEALED | WIRE_CAP_XSESSION);
    inject(n, a, &at[m], h, l);
    m++;
  }
  assert_int_equal(m, FLOOD);
  pump(n);
  assert_int_equal((int)sw_core_peer_count(A->c), FLOOD);
  size_t mem0 = sw_core_memory(A->c);
  for (int i = 0; i < FLOOD; i++) {
    uint8_t eph[32], init[HS_INIT_LEN];
    for (int k = 0; k < 32; k++) eph[k] = (uint8_t)(i * 11 + k + 1);
    assert_int_equal(hs_initiator_begin(&hs[i], A->pub, eph, 0x1000u + (uint32_t)i,
                                        CRYPTO_SUITE_CHACHA), SW_OK);
    assert_int_equal(hs_initiator_write_init(&hs[i], &r[i].id, 5000, init), SW_OK);
    inject(n, a, &at[i], init, sizeof init);
    pump(n);
  }
  int resp = 0, retry = 0;
  for (int i = 0; i < FLOOD; i++) {
    resp += strays_to(n, &at[i], HS_TYPE_RESP);
    retry += strays_to(n, &at[i], HS_TYPE_RETRY);
  }
  assert_int_equal(resp, LOAD_UNCONFIRMED_TEST);
  assert_int_equal(retry, FLOOD - LOAD_UNCONFIRMED_TEST);
  /* the sessions of the answered ones, and nothing for the others */
  size_t per = (sw_core_memory(A->c) - mem0) / LOAD_UNCONFIRMED_TEST;
  assert_true(per > 100000);
  assert_true(sw_core_memory(A->c) - mem0 < (size_t)(LOAD_UNCONFIRMED_TEST + 1) * per);
  /* The last one comes back with its cookie: answered. */
  int j = FLOOD - 1;
  const dgram *rt = stray_of(n, &at[j], HS_TYPE_RETRY);
  assert_non_null(rt);
  assert_int_equal(hs_initiator_on_retry(&hs[j], rt->d, rt->len), SW_OK);
  uint8_t init[HS_INIT_LEN];
  assert_int_equal(hs_initiator_write_init(&hs[j], &r[j].id, 5001, init), SW_OK);
  /* from another address the cookie is worth nothing */
  sw_addr other = addr_of("192.0.2.200:4999");
  inject(n, a, &other, init, sizeof init);
  pump(n);
  assert_int_equal(strays_to(n, &other, HS_TYPE_RESP), 0);
  assert_int_equal(strays_to(n, &other, HS_TYPE_RETRY), 1);
  inject(n, a, &at[j], init, sizeof init);
  pump(n);
  assert_int_equal(strays_to(n, &at[j], HS_TYPE_RESP), 1);
  for (int i = 0; i < FLOOD; i++) {
    hs_wipe(&hs[i]);
    ref_free(&r[i]);
  }
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_and_messages),
      cmocka_unit_test(test_peer_removed_during_delivery),
      cmocka_unit_test(test_recorded_session_static_keys),
      cmocka_unit_test(test_one_side_off),
      cmocka_unit_test(test_reference_peer),
      cmocka_unit_test(test_flood_over_extended_hop),
      cmocka_unit_test(test_loss),
      cmocka_unit_test(test_restart),
      cmocka_unit_test(test_nat_rebinding),
      cmocka_unit_test(test_order_across_switch),
      cmocka_unit_test(test_hold_then_plain),
      cmocka_unit_test(test_stripped_xsession_bit),
      cmocka_unit_test(test_stripped_and_sealed_dropped),
      cmocka_unit_test(test_higher_side_initiates),
      cmocka_unit_test(test_cookie_under_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
