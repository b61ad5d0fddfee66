/* The congestion and pacing seam (cc.h): the RTT estimator every controller shares, the
 * default controller that keeps today's behaviour, and a test controller plugged in
 * through sw_core_config.cc to show that the send path obeys room and pacing: writes
 * answer SW_EAGAIN without room and SW_EV_WRITABLE follows acknowledgements; paced
 * datagrams stay in the ring until their time, which sw_core_deadline reports. */
#include <string.h>

#include "cc.h"
#include "core.h"
#include "core_internal.h"
#include "testutil.h"

static void test_rtt_estimator(void **state) {
  (void)state;
  cc_state s;
  cc_init(&s, NULL, 0);
  assert_ptr_equal(s.ops, &cc_unlimited);
  assert_true(cc_srtt(&s) == CC_RTT_INIT_MS);
  /* PROTOCOL.md 9.2: srtt += alpha * (sample - srtt), from RTT_INIT */
  cc_rtt_sample(&s, 20);
  assert_true(cc_srtt(&s) == 100.0 + 0.125 * (20.0 - 100.0));
  assert_true(s.rtt.min == 20 && s.rtt.latest == 20 && s.rtt.samples == 1);
  cc_rtt_sample(&s, 40);
  assert_true(s.rtt.min == 20 && s.rtt.latest == 40 && s.rtt.samples == 2);
  /* no sample, or a nonsense one, changes nothing */
  double before = cc_srtt(&s);
  cc_rtt_sample(&s, -1);
  cc_on_acked(&s, 0, -1, 5);
  assert_true(cc_srtt(&s) == before && s.rtt.samples == 2);
}

static void test_unlimited_accounting(void **state) {
  (void)state;
  cc_state s;
  cc_init(&s, &cc_unlimited, 0);
  assert_true(cc_room(&s) == SIZE_MAX);
  assert_int_equal(cc_next_send(&s, 1234), 1234);
  cc_on_sent(&s, 1000, 1);
  cc_on_sent(&s, 500, 1);
  assert_int_equal(s.in_flight, 1500);
  cc_on_acked(&s, 600, 10, 2);
  cc_on_lost(&s, 400, 3);
  assert_int_equal(s.in_flight, 500);
  assert_int_equal(s.sent_bytes, 1500);
  assert_int_equal(s.acked_bytes, 600);
  assert_int_equal(s.lost_bytes, 400);
  cc_on_lost(&s, 9999, 4); /* never below zero */
  assert_int_equal(s.in_flight, 0);
  assert_true(cc_room(&s) == SIZE_MAX);
}

/* A test controller: a fixed window, and one datagram per 10 ms. */
#define WINDOW 3000
#define GAP_MS 10
typedef struct fixed {
  uint64_t next_at;
} fixed;
static void fixed_sent(cc_state *s, size_t bytes, uint64_t now) {
  fixed *f = (fixed *)s->algo.bytes;
  (void)bytes;
  f->next_at = (f->next_at > now ? f->next_at : now) + GAP_MS;
}
static size_t fixed_room(const cc_state *s) {
  return s->in_flight >= WINDOW ? 0 : WINDOW - s->in_flight;
}
static uint64_t fixed_next(const cc_state *s, uint64_t now) {
  const fixed *f = (const fixed *)s->algo.bytes;
  return f->next_at > now ? f->next_at : now;
}
static const cc_ops fixed_ops = {
    .name = "fixed", .on_sent = fixed_sent, .room = fixed_room, .next_send = fixed_next};

typedef struct side {
  sw_core *c;
  sw_addr addr;
  tu_rng rng;
  int writable;
} side;

static void side_rand(void *ctx, uint8_t *b, size_t n) { tu_rng_bytes(&((side *)ctx)->rng, b, n); }
static void side_event(void *ctx, const sw_event *ev) {
  if (ev->type == SW_EV_WRITABLE) ((side *)ctx)->writable++;
}

static void side_init(side *s, const char *seed, const char *addr) {
  static const core_module_def *const none[] = {NULL};
  memset(s, 0, sizeof *s);
  s->rng.s = (uint64_t)seed[1];
  sw_core_config cfg = {.seed_hex = seed, .random = side_rand, .on_event = side_event,
                        .ctx = s, .modules = none, .cc = &fixed_ops};
  assert_int_equal(sw_core_new(&s->c, &cfg, 0), SW_OK);
  assert_int_equal(addr_parse_hostport(&s->addr, addr), SW_OK);
}

/* Deliver what a may send now to b; returns how many datagrams. */
static size_t move(side *a, side *b, uint64_t now) {
  sw_dgram d[64];
  size_t n, total = 0;
  sw_core_flush(a->c, now);
  while ((n = sw_core_out_peek(a->c, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++)
      sw_core_datagram(b->c, d[i].kind, &a->addr, d[i].data, d[i].len, now);
    sw_core_out_consume(a->c, n, now);
    total += n;
  }
  return total;
}

static void test_send_path_obeys_seam(void **state) {
  (void)state;
  side a, b;
  side_init(&a, "a1", "10.0.0.1:1");
  side_init(&b, "b2", "10.0.0.2:2");
  assert_int_equal(sw_core_dial(a.c, &b.addr, NULL, 0), SW_OK);
  for (int i = 0; i < 3; i++) {
    move(&a, &b, 0);
    move(&b, &a, 0);
  }
  assert_int_equal(sw_core_peer_count(a.c), 1);
  const uint8_t *bw = core_identity(b.c)->id;
  uint8_t msg[1000];
  memset(msg, 'x', sizeof msg);

  /* pacing: the first datagram leaves at once, the second waits GAP_MS */
  assert_int_equal(sw_core_write(a.c, bw, msg, sizeof msg, 100), SW_OK);
  assert_int_equal(move(&a, &b, 100), 1);
  assert_int_equal(sw_core_write(a.c, bw, msg, sizeof msg, 101), SW_OK);
  assert_int_equal(move(&a, &b, 101), 0);
  assert_int_equal(sw_core_out_pending(a.c), 1);
  assert_true(sw_core_deadline(a.c) == 100 + GAP_MS);
  sw_core_timeout(a.c, 100 + GAP_MS);
  assert_int_equal(move(&a, &b, 100 + GAP_MS), 1);

  /* room: two 1000-byte messages are in flight; a third does not fit the window */
  assert_int_equal(sw_core_write(a.c, bw, msg, sizeof msg, 200), SW_EAGAIN);
  assert_int_equal(sw_core_broadcast(a.c, msg, sizeof msg, 200), SW_EAGAIN);
  static const uint8_t ctrl[4] = {0x77, 1, 2, 3};
  assert_int_equal(core_send_ctrl(a.c, bw, ctrl, sizeof ctrl), SW_OK); /* small: fits */
  assert_int_equal(a.writable, 0);
  /* an acknowledgement frees the window: SW_EV_WRITABLE, then writes go again */
  core_cc_acked(a.c, bw, 2 * (sizeof msg + 33), 7.0);
  assert_int_equal(a.writable, 1);
  assert_int_equal(sw_core_write(a.c, bw, msg, sizeof msg, 210), SW_OK);
  /* the RTT sample of the acknowledgement reached the peer's estimate */
  sw_core_peer_info info;
  assert_int_equal(sw_core_peers(a.c, &info, 1), 1);
  assert_true(info.rtt_ms < CC_RTT_INIT_MS);
  sw_core_free(a.c);
  sw_core_free(b.c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rtt_estimator),
      cmocka_unit_test(test_unlimited_accounting),
      cmocka_unit_test(test_send_path_obeys_seam),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
