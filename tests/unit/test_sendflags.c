/* sw_core_send with flags (SW_SEND_DATAGRAM, SW_SEND_UNICAST) and sw_core_peer_stats,
 * through the engine (corenet): a unicast reaches its peer alone and is never flooded on
 * or deduplicated; a datagram over the extended session is never retransmitted and
 * needs no room in the reliable window; a reference peer, or ours without the extended
 * session, refuses a unicast with SW_ENOTSUP; one still making its extended session
 * says SW_EAGAIN, then SW_EV_WRITABLE; the per-peer counters move as the traffic does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corenet.h"
#include "corenet_ref.h"
#include "corenet_line.h"
#include "handshake.h"
#include "testutil.h"
#include "wire.h"
#include "xpacket.h"
#include "xport.h"

static const sw_core_config XCFG = {.xsession = 1};

/* A - B - C in a line, every hop extended. */
static net *line(int *a, int *b, int *c) {
  net *n = line_new(&XCFG, NULL, NULL, a, b, c);
  line_ready(n, *a, *b, *c);
  return n;
}

static void test_unicast_not_flooded(void **state) {
  (void)state;
  int a, b, c;
  net *n = line(&a, &b, &c);
  node *A = &n->nodes[a], *B = &n->nodes[b], *C = &n->nodes[c];
  /* reliable and datagram unicasts, each twice with the same bytes */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sw_core_send(A->c, B->id, "just you", 8, SW_SEND_UNICAST, n->now), 1);
    assert_int_equal(
        sw_core_send(A->c, B->id, "dg you", 6, SW_SEND_UNICAST | SW_SEND_DATAGRAM, n->now), 1);
  }
  /* and, as a control, a write and a datagram to B that B floods on to C */
  assert_int_equal(sw_core_send(A->c, B->id, "for all", 7, 0, n->now), 1);
  assert_int_equal(sw_core_send(A->c, B->id, "dg all", 6, SW_SEND_DATAGRAM, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(B, "just you", NULL), 2); /* no content dedup for a unicast */
  assert_int_equal(got_data(B, "dg you", NULL), 2);
  assert_int_equal(got_data(C, "just you", NULL), 0);
  assert_int_equal(got_data(C, "dg you", NULL), 0);
  assert_int_equal(got_data(B, "for all", NULL), 1);
  assert_int_equal(got_data(C, "for all", NULL), 1);
  assert_int_equal(got_data(B, "dg all", NULL), 1);
  assert_int_equal(got_data(C, "dg all", NULL), 1);
  assert_int_equal(got_data(A, "just you", NULL) + got_data(A, "for all", NULL), 0);
  /* the unicasts left no trace in B's dedup: a broadcast of the same bytes from C is
   * delivered to B as well */
  assert_int_equal(sw_core_broadcast(C->c, "just you", 8, n->now), 1);
  advance(n, n->now + 500);
  assert_int_equal(got_data(B, "just you", NULL), 3);
  /* the counters: A sent B 6 messages, 2 of them datagrams; B got 6 from A */
  sw_peer_stats st;
  assert_int_equal(sw_core_peer_stats(A->c, B->id, &st), SW_OK);
  assert_memory_equal(st.id, B->id, 8);
  assert_int_equal(st.extended, 1);
  assert_int_equal(st.reference, 0);
  assert_int_equal(st.msgs_sent, 6);
  assert_int_equal(st.bytes_sent, 8 + 6 + 8 + 6 + 7 + 6);
  assert_int_equal(st.datagrams_sent, 3);
  assert_int_equal(sw_core_peer_stats(B->c, A->id, &st), SW_OK);
  assert_int_equal(st.msgs_received, 6);
  assert_int_equal(st.datagrams_received, 3);
  net_free(n);
}

/* Every XPACKET from node `drop_from` is lost while `dropping` is set. */
static int dropping, drop_from;
static int drop_filter(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n, (void)to;
  return !(dropping && from == drop_from && len && d[0] == XPKT_TYPE);
}

static void test_datagram_unreliable(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  advance(n, n->now + 100);
  assert_true(peer_extended(A, B));
  n->filter = drop_filter;
  drop_from = a;
  dropping = 1;
  assert_int_equal(sw_core_send(A->c, B->id, "lost dgram", 10, SW_SEND_DATAGRAM, n->now), 1);
  assert_int_equal(sw_core_send(A->c, B->id, "kept msg", 8, 0, n->now), 1);
  advance(n, n->now + 50);
  dropping = 0;
  advance(n, n->now + 3000);
  assert_int_equal(got_data(B, "kept msg", NULL), 1);   /* retransmitted */
  assert_int_equal(got_data(B, "lost dgram", NULL), 0); /* never */
  sw_peer_stats st;
  assert_int_equal(sw_core_peer_stats(A->c, B->id, &st), SW_OK);
  assert_true(st.retransmitted_bytes > 0);
  assert_true(st.packets_lost > 0 || st.retransmitted_bytes >= 8);
  assert_int_equal(st.queued_bytes, 0); /* all acknowledged by now */
  /* a datagram needs no room in the reliable send buffer: fill that, datagrams go on */
  dropping = 1;
  static uint8_t big[60000];
  int full = 0;
  for (int i = 0; i < 64 && !full; i++) {
    int rc = sw_core_send(A->c, B->id, big, sizeof big, 0, n->now);
    if (rc == SW_EAGAIN) full = 1;
    else assert_int_equal(rc, 1);
    pump(n);
  }
  assert_true(full);
  assert_int_equal(sw_core_send(A->c, B->id, "still", 5, SW_SEND_DATAGRAM, n->now), 1);
  assert_int_equal(sw_core_peer_stats(A->c, B->id, &st), SW_OK);
  assert_true(st.queued_bytes >= sizeof big);
  assert_true(st.cwnd_bytes > 0);
  dropping = 0;
  advance(n, n->now + 5000);
  assert_int_equal(got_data(B, "still", NULL), 1);
  /* sizes: a datagram fits one packet */
  static uint8_t m[SW_MAX_DATAGRAM + 1];
  assert_int_equal(sw_core_send(A->c, B->id, m, SW_MAX_DATAGRAM, SW_SEND_DATAGRAM, n->now), 1);
  assert_int_equal(sw_core_send(A->c, B->id, m, SW_MAX_DATAGRAM + 1, SW_SEND_DATAGRAM, n->now),
                   SW_EMSGSIZE);
  assert_int_equal(sw_core_send(A->c, NULL, m, SW_MAX_DATAGRAM + 1, SW_SEND_DATAGRAM, n->now),
                   SW_EMSGSIZE); /* a broadcast too: all or nothing */
  advance(n, n->now + 500);
  const ev *e = nth_ev(B, SW_EV_DATA, count_ev(B, SW_EV_DATA) - 1);
  assert_non_null(e);
  assert_int_equal(e->len, SW_MAX_DATAGRAM);
  net_free(n);
}

static void test_bad_arguments(void **state) {
  (void)state;
  int a, b, c;
  net *n = line(&a, &b, &c);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  assert_int_equal(sw_core_send(A->c, B->id, "x", 1, 8, n->now), SW_EINVAL);
  /* a signature goes with an origin: mesh messages only */
  assert_int_equal(sw_core_send(A->c, B->id, "x", 1, SW_SEND_SIGNED | SW_SEND_UNICAST, n->now),
                   SW_EINVAL);
  assert_int_equal(sw_core_send(A->c, NULL, "x", 1, SW_SEND_SIGNED | SW_SEND_DATAGRAM, n->now),
                   SW_EINVAL);
  assert_int_equal(sw_core_send(A->c, NULL, "x", 1, SW_SEND_UNICAST, n->now), SW_EINVAL);
  assert_int_equal(sw_core_send(A->c, B->id, NULL, 1, 0, n->now), SW_EINVAL);
  assert_int_equal(sw_core_send(A->c, n->nodes[c].id, "x", 1, SW_SEND_UNICAST, n->now),
                   SW_ENOTCONN);
  static uint8_t big[SW_MAX_MESSAGE + 1];
  assert_int_equal(sw_core_send(A->c, B->id, big, sizeof big, 0, n->now), SW_EMSGSIZE);
  /* flags 0 to nobody in particular: a broadcast, counted per peer */
  assert_int_equal(sw_core_send(B->c, NULL, "both", 4, 0, n->now), 2);
  assert_int_equal(sw_core_send(B->c, NULL, "both dg", 7, SW_SEND_DATAGRAM, n->now), 2);
  advance(n, n->now + 300);
  assert_int_equal(got_data(A, "both", NULL), 1);
  assert_int_equal(got_data(n->nodes + c, "both", NULL), 1);
  assert_int_equal(got_data(A, "both dg", NULL), 1);
  assert_int_equal(got_data(n->nodes + c, "both dg", NULL), 1);
  sw_peer_stats st;
  uint8_t nobody[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  assert_int_equal(sw_core_peer_stats(A->c, nobody, &st), SW_ENOTCONN);
  assert_int_equal(sw_core_peer_stats(A->c, NULL, &st), SW_EINVAL);
  assert_int_equal(sw_core_close(A->c, n->now), SW_OK);
  assert_int_equal(sw_core_send(A->c, B->id, "x", 1, SW_SEND_UNICAST, n->now), SW_ECLOSED);
  net_free(n);
}

/* A reference peer floods what it gets: a unicast to it is refused; a datagram to it is
 * the plain DATA it knows. */
static void test_reference_peer(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  node *A = &n->nodes[a];
  ref_peer r;
  ref_connect(n, &r, SEED_R, "10.0.0.9:9009", a);
  assert_int_equal(count_ev(A, SW_EV_CONNECTION), 1);
  /* its address proves it receives (a PONG to our PING) before data goes there */
  assert_int_equal(ref_prove(n, &r, a), 1);
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(A->c, &info, 1), 1);
  assert_int_equal(sw_core_send(A->c, info.wire_id, "u", 1, SW_SEND_UNICAST, n->now),
                   SW_ENOTSUP);
  assert_int_equal(
      sw_core_send(A->c, info.wire_id, "u", 1, SW_SEND_UNICAST | SW_SEND_DATAGRAM, n->now),
      SW_ENOTSUP);
  clear_strays(n);
  assert_int_equal(sw_core_send(A->c, info.wire_id, "dgram", 5, SW_SEND_DATAGRAM, n->now), 1);
  assert_int_equal(sw_core_send(A->c, NULL, "all", 3, SW_SEND_DATAGRAM, n->now), 1);
  advance(n, n->now + 100);
  int seen = 0;
  for (int k = 0; k < n->nstray; k++) {
    const dgram *g = &n->stray[k];
    if (!addr_equal(&g->to, &r.addr) || !g->len) continue;
    const uint8_t *f = g->d;
    size_t fl = g->len;
    wire_batch_iter it;
    int batch = g->d[0] == WIRE_BATCH && wire_batch_begin(&it, g->d, g->len) == 0;
    while (batch ? wire_batch_next(&it, &f, &fl) : f != NULL) {
      uint8_t msg[64];
      uint32_t seq;
      size_t ml = fl && f[0] == WIRE_DATA ? ref_open(&r, f, fl, &seq, msg) : 0;
      seen += (ml == 5 && memcmp(msg, "dgram", 5) == 0) || (ml == 3 && memcmp(msg, "all", 3) == 0);
      if (!batch) f = NULL;
    }
  }
  assert_int_equal(seen, 2);
  ref_send(n, &r, a, "hello", 5);
  pump(n);
  sw_peer_stats st;
  assert_int_equal(sw_core_peer_stats(A->c, info.wire_id, &st), SW_OK);
  assert_int_equal(st.reference, 1);
  assert_int_equal(st.extended, 0);
  assert_int_equal(st.msgs_sent, 2);
  assert_int_equal(st.bytes_sent, 8);
  assert_int_equal(st.msgs_received, 1);
  assert_int_equal(st.bytes_received, 5);
  assert_int_equal(st.cwnd_bytes, 0);
  assert_int_equal(st.packets_sent, 0);
  assert_true(st.srtt_ms > 0); /* the PING/PONG estimate's starting value */
  ref_free(&r);
  net_free(n);
}

/* Our peer without the extended session floods too: refused. */
static void test_plain_peer(void **state) {
  (void)state;
  net *n = net_new();
  int a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  int b = net_add(n, "10.0.0.2:1002");
  node *A = &n->nodes[a], *B = &n->nodes[b];
  connect_nodes(n, a, b);
  advance(n, n->now + 100);
  assert_int_equal(sw_core_send(A->c, B->id, "u", 1, SW_SEND_UNICAST, n->now), SW_ENOTSUP);
  assert_int_equal(sw_core_send(B->c, A->id, "u", 1, SW_SEND_UNICAST, n->now), SW_ENOTSUP);
  assert_int_equal(sw_core_send(A->c, B->id, "plain dg", 8, SW_SEND_DATAGRAM, n->now), 1);
  advance(n, n->now + 100);
  assert_int_equal(got_data(B, "plain dg", NULL), 1);
  sw_peer_stats st;
  assert_int_equal(sw_core_peer_stats(B->c, A->id, &st), SW_OK);
  assert_int_equal(st.extended, 0);
  assert_int_equal(st.reference, 0);
  assert_int_equal(st.msgs_received, 1);
  assert_int_equal(st.datagrams_received, 0);
  net_free(n);
}

/* Handshake messages lost while `hs_drop` is set. */
static int hs_drop;
static int hs_filter(net *n, int from, const sw_addr *to, const uint8_t *d, size_t len) {
  (void)n, (void)from, (void)to;
  return !(hs_drop && len && (d[0] == HS_TYPE_INIT || d[0] == HS_TYPE_RESP));
}

/* A and B, both with the extended session switched on, connected while every handshake
 * message is lost (hs_drop set, until the test clears it). */
static net *connect_without_handshake(int *a, int *b) {
  net *n = net_new();
  *a = net_add_cfg(n, NULL, "10.0.0.1:1001", &XCFG);
  *b = net_add_cfg(n, NULL, "10.0.0.2:1002", &XCFG);
  n->filter = hs_filter;
  hs_drop = 1;
  connect_nodes(n, *a, *b);
  return n;
}

/* A unicast while the extended session is being made: SW_EAGAIN, then SW_EV_WRITABLE
 * once it is confirmed, and the retry goes through. */
static void test_unicast_waits_for_handshake(void **state) {
  (void)state;
  int a, b;
  net *n = connect_without_handshake(&a, &b);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  assert_true(has_peer(A, B) && has_peer(B, A));
  assert_false(peer_extended(A, B));
  int wa = count_ev(A, SW_EV_WRITABLE), wb = count_ev(B, SW_EV_WRITABLE);
  assert_int_equal(sw_core_send(A->c, B->id, "u", 1, SW_SEND_UNICAST, n->now), SW_EAGAIN);
  assert_int_equal(sw_core_send(B->c, A->id, "v", 1, SW_SEND_UNICAST, n->now), SW_EAGAIN);
  advance(n, n->now + 500);
  assert_int_equal(count_ev(A, SW_EV_WRITABLE), wa);
  hs_drop = 0; /* the next HS_INIT retransmission completes it */
  advance(n, n->now + 5000);
  assert_true(peer_extended(A, B) && peer_extended(B, A));
  assert_true(count_ev(A, SW_EV_WRITABLE) > wa);
  assert_true(count_ev(B, SW_EV_WRITABLE) > wb);
  assert_int_equal(sw_core_send(A->c, B->id, "u", 1, SW_SEND_UNICAST, n->now), 1);
  assert_int_equal(sw_core_send(B->c, A->id, "v", 1, SW_SEND_UNICAST, n->now), 1);
  advance(n, n->now + 100);
  assert_int_equal(got_data(B, "u", NULL), 1);
  assert_int_equal(got_data(A, "v", NULL), 1);
  net_free(n);
}

/* The handshake never completes: the initiator gives up (TRANSPORT.md 4.5) and the
 * responder stops waiting after UNICAST_WAIT_MS; both then say SW_ENOTSUP. */
static void test_unicast_gives_up(void **state) {
  (void)state;
  int a, b;
  net *n = connect_without_handshake(&a, &b);
  node *A = &n->nodes[a], *B = &n->nodes[b];
  assert_int_equal(sw_core_send(A->c, B->id, "u", 1, SW_SEND_UNICAST, n->now), SW_EAGAIN);
  assert_int_equal(sw_core_send(B->c, A->id, "u", 1, SW_SEND_UNICAST, n->now), SW_EAGAIN);
  int wa = count_ev(A, SW_EV_WRITABLE), wb = count_ev(B, SW_EV_WRITABLE);
  advance(n, n->now + 40000);
  assert_true(has_peer(A, B));
  assert_true(count_ev(A, SW_EV_WRITABLE) > wa);
  assert_true(count_ev(B, SW_EV_WRITABLE) > wb);
  assert_int_equal(sw_core_send(A->c, B->id, "u", 1, SW_SEND_UNICAST, n->now), SW_ENOTSUP);
  assert_int_equal(sw_core_send(B->c, A->id, "u", 1, SW_SEND_UNICAST, n->now), SW_ENOTSUP);
  /* ordinary messages still go, plain */
  assert_int_equal(sw_core_send(A->c, B->id, "plain", 5, 0, n->now), 1);
  advance(n, n->now + 100);
  assert_int_equal(got_data(B, "plain", NULL), 1);
  hs_drop = 0;
  net_free(n);
}

/* The delivery engine alone: direct entries and DIRECT_DATAGRAM frames come out with
 * XPORT_DIRECT, mesh ones without; a stream prefix of an unknown kind breaks the stream. */
static void test_xport_direct(void **state) {
  (void)state;
  xport s, r;
  assert_int_equal(xport_init(&s, NULL, NULL, 0), SW_OK);
  assert_int_equal(xport_init(&r, NULL, NULL, 0), SW_OK);
  assert_int_equal(xport_send(&s, "mesh", 4, XPORT_RELIABLE, 0), SW_OK);
  assert_int_equal(xport_send(&s, "direct", 6, XPORT_RELIABLE | XPORT_DIRECT, 0), SW_OK);
  assert_int_equal(xport_send(&s, "", 0, XPORT_RELIABLE | XPORT_DIRECT, 0), SW_OK);
  assert_int_equal(xport_send(&s, "dg", 2, 0, 0), SW_OK);
  assert_int_equal(xport_send(&s, "ddg", 3, XPORT_DIRECT, 0), SW_OK);
  uint8_t pkt[XPORT_MTU_DEFAULT];
  uint64_t pn;
  size_t n;
  int types[16] = {0};
  while ((n = xport_build(&s, 1, pkt, sizeof pkt, &pn)) > 0) {
    assert_int_equal(xport_check(pkt, n), SW_OK);
    for (size_t i = 0; i < n; i++)
      if (pkt[i] == XPORT_F_DIRECT_DATAGRAM) types[XPORT_F_DIRECT_DATAGRAM]++;
    assert_int_equal(xport_on_packet(&r, pn, pkt, n, 2), SW_OK);
  }
  assert_true(types[XPORT_F_DIRECT_DATAGRAM] >= 1);
  /* datagrams first (the inbox), then the stream in order */
  struct {
    const char *m;
    unsigned flags;
  } want[] = {{"dg", 0},
              {"ddg", XPORT_DIRECT},
              {"mesh", XPORT_RELIABLE},
              {"direct", XPORT_RELIABLE | XPORT_DIRECT},
              {"", XPORT_RELIABLE | XPORT_DIRECT}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    uint8_t buf[64];
    unsigned flags = 99;
    int k = xport_recv_ex(&r, buf, sizeof buf, &flags);
    assert_int_equal(k, (int)strlen(want[i].m));
    assert_memory_equal(buf, want[i].m, (size_t)k);
    assert_int_equal(flags, want[i].flags);
  }
  uint8_t buf[64];
  assert_int_equal(xport_recv_ex(&r, buf, sizeof buf, NULL), SW_EAGAIN);
  xport_free(&r);
  /* a MSG frame whose entry has kind 2: an engine message (TRANSPORT.md 7.1) */
  assert_int_equal(xport_init(&r, NULL, NULL, 0), SW_OK);
  uint8_t eng[16] = {XPORT_F_MSG, 0x00, 0x05};
  size_t k = xport_varint_put(eng + 3, 8, XPORT_ENTRY_ENGINE + 1);
  assert_int_equal(k, 4);
  eng[3 + k] = 'x';
  assert_int_equal(xport_on_packet(&r, 0, eng, 3 + k + 1, 1), SW_OK);
  unsigned eflags = 0;
  assert_int_equal(xport_recv_ex(&r, buf, sizeof buf, &eflags), 1);
  assert_int_equal(eflags, XPORT_RELIABLE | XPORT_ENGINE);
  xport_free(&r);
  /* a MSG frame whose entry has kind 3: the stream is broken, nothing delivered */
  assert_int_equal(xport_init(&r, NULL, NULL, 0), SW_OK);
  uint8_t bad[16] = {XPORT_F_MSG, 0x00, 0x05};
  k = xport_varint_put(bad + 3, 8, 3 * XPORT_ENTRY_DIRECT + 1);
  assert_int_equal(k, 4);
  bad[3 + k] = 'x';
  assert_int_equal(xport_on_packet(&r, 0, bad, 3 + k + 1, 1), SW_OK);
  assert_int_equal(xport_recv_ex(&r, buf, sizeof buf, NULL), SW_EINVAL);
  /* 0x07 is PADDING now (to the end of the plaintext); 0x08 is still reserved */
  const uint8_t padding[] = {0x01, 0x07, 0x00, 'x'};
  assert_int_equal(xport_check(padding, sizeof padding), SW_OK);
  const uint8_t reserved[] = {0x08, 0x01, 'x'};
  assert_int_equal(xport_check(reserved, sizeof reserved), SW_EINVAL);
  xport_free(&r);
  xport_free(&s);
}

int main(void) {
  /* xport_dgram_max at the default MTU: mtu - 1 - len(varint(mtu)) */
  if (SW_MAX_DATAGRAM != XPORT_MTU_DEFAULT - 1 - 2) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xport_direct),
      cmocka_unit_test(test_unicast_not_flooded),
      cmocka_unit_test(test_datagram_unreliable),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_reference_peer),
      cmocka_unit_test(test_plain_peer),
      cmocka_unit_test(test_unicast_waits_for_handshake),
      cmocka_unit_test(test_unicast_gives_up),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
