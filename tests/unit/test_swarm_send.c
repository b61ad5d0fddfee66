/* sw_swarm_send and sw_swarm_peer_stats through the runtime, on loopback: three swarms
 * in a line A - B - C with the extended session on, and D without it. A's unicast
 * reaches B and not C, where A's plain write to B is flooded on to C; a unicast to D is
 * refused with SW_ENOTSUP; the per-peer counters say what went where. A's signed
 * broadcast is checked at B (which holds A's signing key) and delivered unchecked at C
 * (which never met A) and at D (plain). */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"

typedef struct node {
  sw_swarm *s;
  int close, connections, writable;
  char got[16][32]; /* the messages received, as text */
  int sig[16];      /* and their origin_signed */
  int ngot;
} node;

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  node *n = user;
  (void)s;
  if (ev->type == SW_EV_CLOSE) n->close++;
  if (ev->type == SW_EV_CONNECTION) n->connections++;
  if (ev->type == SW_EV_WRITABLE) n->writable++;
  if (ev->type == SW_EV_DATA && n->ngot < 16 && ev->len < 32) {
    memcpy(n->got[n->ngot], ev->data, ev->len);
    n->sig[n->ngot] = ev->origin_signed;
    n->got[n->ngot++][ev->len] = 0;
  }
}

static int has(const node *n, const char *m) {
  int k = 0;
  for (int i = 0; i < n->ngot; i++) k += strcmp(n->got[i], m) == 0;
  return k;
}

/* origin_signed of the last message m received, or -1. */
static int signed_of(const node *n, const char *m) {
  int v = -1;
  for (int i = 0; i < n->ngot; i++)
    if (strcmp(n->got[i], m) == 0) v = n->sig[i];
  return v;
}

static void make(uv_loop_t *loop, node *n, int transport) {
  sw_options o;
  lo_options(&o);
  o.transport = transport;
  o.on_event = on_event;
  o.user = n;
  assert_int_equal(sw_swarm_new(&n->s, &o, loop), SW_OK);
}

static void dial(sw_swarm *from, const sw_swarm *to) {
  char t[32];
  snprintf(t, sizeof t, "127.0.0.1:%u", (unsigned)sw_swarm_port(to));
  assert_int_equal(sw_swarm_connect(from, t), SW_OK);
}

/* Run the loop until cond holds or 5 s pass. */
#define RUN_UNTIL(loop, cond)                                                   \
  do {                                                                          \
    uint64_t t0_ = uv_hrtime();                                                 \
    while (!(cond) && uv_hrtime() - t0_ < 5000000000ull) uv_run(loop, UV_RUN_ONCE); \
  } while (0)

static int extended(const node *from, const uint8_t id[SW_WIRE_ID_LEN]) {
  sw_peer_stats st;
  return sw_swarm_peer_stats(from->s, id, &st) == SW_OK && st.extended;
}

static uv_timer_t tick; /* keeps uv_run(ONCE) from blocking long */
static void on_tick(uv_timer_t *h) { (void)h; }

static void test_unicast_and_stats(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  static node a, b, c, d;
  make(&loop, &a, 1);
  make(&loop, &b, 1);
  make(&loop, &c, 1);
  make(&loop, &d, 0);
  dial(b.s, a.s);
  dial(b.s, c.s);
  dial(d.s, a.s);
  RUN_UNTIL(&loop, sw_swarm_peer_count(a.s) == 2 && sw_swarm_peer_count(b.s) == 2 &&
                       sw_swarm_peer_count(c.s) == 1 && sw_swarm_peer_count(d.s) == 1);
  assert_int_equal(sw_swarm_peer_count(b.s), 2);
  uint8_t full[SW_ID_LEN], ida[8], idb[8], idd[8];
  sw_swarm_id(a.s, full);
  memcpy(ida, full, 8);
  sw_swarm_id(b.s, full);
  memcpy(idb, full, 8);
  sw_swarm_id(d.s, full);
  memcpy(idd, full, 8);
  /* the unicast may have to wait for the extended session: SW_EAGAIN, then WRITABLE */
  int rc;
  RUN_UNTIL(&loop, (rc = sw_swarm_send(a.s, idb, "to b only", 9, SW_SEND_UNICAST)) != SW_EAGAIN);
  assert_int_equal(rc, 1);
  assert_true(extended(&a, idb));
  assert_int_equal(sw_swarm_send(a.s, idb, "dgram to b", 10, SW_SEND_UNICAST | SW_SEND_DATAGRAM),
                   1);
  assert_int_equal(sw_swarm_send(a.s, idb, "flooded", 7, 0), 1);
  assert_int_equal(sw_swarm_send(a.s, idd, "to d only", 9, SW_SEND_UNICAST), SW_ENOTSUP);
  assert_int_equal(sw_swarm_send(a.s, idd, "dgram to d", 10, SW_SEND_DATAGRAM), 1);
  RUN_UNTIL(&loop, has(&c, "flooded") && has(&b, "dgram to b") && has(&d, "dgram to d"));
  for (int i = 0; i < 20; i++) uv_run(&loop, UV_RUN_ONCE); /* anything late would show */
  assert_int_equal(has(&b, "to b only"), 1);
  assert_int_equal(has(&b, "dgram to b"), 1);
  assert_int_equal(has(&b, "flooded"), 1);
  assert_int_equal(has(&c, "flooded"), 1);
  assert_int_equal(has(&c, "to b only") + has(&c, "dgram to b"), 0);
  assert_int_equal(has(&d, "dgram to d"), 1);
  assert_int_equal(has(&d, "to d only"), 0);

  sw_peer_stats st;
  assert_int_equal(sw_swarm_peer_stats(a.s, idb, &st), SW_OK);
  assert_int_equal(st.extended, 1);
  assert_int_equal(st.msgs_sent, 3);
  assert_int_equal(st.bytes_sent, 9 + 10 + 7);
  assert_int_equal(st.datagrams_sent, 1);
  assert_true(st.packets_sent > 0);
  assert_true(st.cwnd_bytes > 0 && st.recv_window_bytes > 0 && st.send_window_bytes > 0);
  assert_true(st.srtt_ms >= 0 && st.srtt_ms < 100); /* loopback: whole ms, often 0 */
  /* a few small messages: the buffers stay at their start size */
  assert_int_equal(st.send_buffer_bytes, 128 * 1024);
  assert_int_equal(st.recv_buffer_bytes, 128 * 1024);
  sw_swarm_stats sst;
  assert_int_equal(sw_swarm_get_stats(a.s, &sst), SW_OK);
  assert_true(st.rx_kernel_dropped == sst.rx_kernel_dropped);
  assert_int_equal(sw_swarm_peer_stats(b.s, ida, &st), SW_OK);
  assert_int_equal(st.msgs_received, 3);
  assert_int_equal(st.bytes_received, 9 + 10 + 7);
  assert_int_equal(sw_swarm_peer_stats(a.s, idd, &st), SW_OK);
  assert_int_equal(st.extended, 0);
  assert_int_equal(st.msgs_sent, 1);
  assert_int_equal(st.cwnd_bytes, 0);
  assert_int_equal(sw_swarm_peer_stats(a.s, ida, &st), SW_ENOTCONN); /* ourselves */
  assert_int_equal(sw_swarm_peer_stats(NULL, idb, &st), SW_EINVAL);
  assert_int_equal(sw_swarm_send(NULL, idb, "x", 1, 0), SW_EINVAL);
  assert_string_equal(sw_strerror(SW_ENOTSUP), "not supported by that peer");

  /* signed origins: B met A (checked), C did not (delivered unchecked), D is plain */
  assert_int_equal(sw_swarm_send(a.s, NULL, "signed", 6, SW_SEND_SIGNED), 2);
  assert_int_equal(sw_swarm_send(a.s, idb, "x", 1, SW_SEND_SIGNED | SW_SEND_UNICAST), SW_EINVAL);
  RUN_UNTIL(&loop, has(&c, "signed") && has(&d, "signed"));
  assert_int_equal(signed_of(&b, "signed"), 1);
  assert_int_equal(signed_of(&c, "signed"), 0);
  assert_int_equal(signed_of(&d, "signed"), 0);
  assert_int_equal(signed_of(&c, "flooded"), 0);
  uint8_t key[32], keyb[32];
  assert_int_equal(sw_swarm_peer_signing_key(b.s, ida, key), SW_OK);
  assert_int_equal(sw_swarm_peer_signing_key(a.s, idb, keyb), SW_OK);
  assert_memory_not_equal(key, keyb, 32);
  assert_int_equal(sw_swarm_peer_signing_key(a.s, idd, key), SW_ENOTFOUND); /* plain */
  assert_int_equal(sw_swarm_peer_signing_key(c.s, ida, key), SW_ENOTCONN); /* never met */
  assert_int_equal(sw_swarm_peer_signing_key(a.s, NULL, key), SW_EINVAL);
  assert_int_equal(sw_swarm_get_stats(c.s, &sst), SW_OK);
  assert_int_equal(sst.bad_signatures, 0);

  node *all[4] = {&a, &b, &c, &d};
  for (int i = 0; i < 4; i++) assert_int_equal(sw_swarm_close(all[i]->s), SW_OK);
  assert_int_equal(sw_swarm_send(a.s, idb, "x", 1, 0), SW_ECLOSED);
  RUN_UNTIL(&loop, a.close && b.close && c.close && d.close);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(all[i]->close, 1);
    sw_swarm_free(all[i]->s);
  }
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unicast_and_stats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
