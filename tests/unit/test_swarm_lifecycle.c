/* Peer lifecycle through the libuv runtime on loopback: the lifecycle options are
 * bounded, a dial to a closed port ends in SW_EV_DIAL_FAILED within the configured
 * time (at once, "refused", where the kernel reports the ICMP error), and a peer that goes silent (its loop no longer runs: as killed) is dropped
 * with reason "timeout" within the configured peer timeout, then every peer left gets
 * reason "closed" when the swarm closes. And sw_swarm_join / sw_swarm_leave's bounds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "setowire.h"
#include "testutil.h"

typedef struct events {
  int listening, close, connection, disconnect, dial_failed;
  int last_reason;
  uint16_t port;
  char failed_addr[SW_ADDRSTRLEN];
  uint64_t failed_at, disconnect_at;
} events;

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  events *e = user;
  (void)s;
  switch (ev->type) {
    case SW_EV_LISTENING:
      e->listening++;
      e->port = ev->port;
      break;
    case SW_EV_CONNECTION: e->connection++; break;
    case SW_EV_DISCONNECT:
      e->disconnect++;
      e->last_reason = ev->reason;
      e->disconnect_at = uv_hrtime() / 1000000;
      break;
    case SW_EV_DIAL_FAILED:
      e->dial_failed++;
      e->last_reason = ev->reason;
      e->failed_at = uv_hrtime() / 1000000;
      snprintf(e->failed_addr, sizeof e->failed_addr, "%s", ev->addr);
      break;
    case SW_EV_CLOSE: e->close++; break;
    default: break;
  }
}

static void quiet_options(sw_options *o, events *e) {
  sw_options_init(o);
  o->bind = "127.0.0.1";
  o->lan = o->dht = o->http = 0;
  o->no_stun = 1;
  o->on_event = on_event;
  o->user = e;
}

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

static void test_bounds(void **state) {
  (void)state;
  events e = {0};
  sw_options o;
  sw_swarm *s = NULL;
  quiet_options(&o, &e);
  assert_int_equal(o.dial_timeout_ms, 5400);
  assert_int_equal(o.dial_retries, 0);
  assert_int_equal(o.dial_retry_ms, 1000);
  assert_int_equal(o.peer_timeout_ms, 60000);
  assert_int_equal(o.keepalive_ms, 1000);
  const struct {
    uint32_t dial_timeout, retries, retry, peer, keep;
  } bad[] = {{299, 0, 1000, 60000, 1000},  {600001, 0, 1000, 60000, 1000},
             {5400, 17, 1000, 60000, 1000}, {5400, 0, 99, 60000, 1000},
             {5400, 0, 60001, 60000, 1000}, {5400, 0, 1000, 999, 500},
             {5400, 0, 1000, 3600001, 1000}, {5400, 0, 1000, 2000, 2000},
             {5400, 0, 1000, 60000, 99},   {5400, 0, 1000, 60000, 60001}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    quiet_options(&o, &e);
    o.dial_timeout_ms = bad[i].dial_timeout;
    o.dial_retries = bad[i].retries;
    o.dial_retry_ms = bad[i].retry;
    o.peer_timeout_ms = bad[i].peer;
    o.keepalive_ms = bad[i].keep;
    assert_int_equal(sw_swarm_new(&s, &o, NULL), SW_EINVAL);
  }
  /* the congestion controller: SW_CC_DEFAULT, SW_CC_BBR or SW_CC_NEWRENO */
  quiet_options(&o, &e);
  assert_int_equal(o.congestion, SW_CC_DEFAULT);
  o.congestion = SW_CC_NEWRENO + 1;
  assert_int_equal(sw_swarm_new(&s, &o, NULL), SW_EINVAL);
  o.congestion = -1;
  assert_int_equal(sw_swarm_new(&s, &o, NULL), SW_EINVAL);
}

static void run_until(uv_loop_t *loop, const int *flag, uint64_t limit_ms) {
  uint64_t end = now_ms() + limit_ms;
  while (!*flag && now_ms() < end) uv_run(loop, UV_RUN_ONCE);
}

static void close_on(uv_loop_t *loop, sw_swarm *s, events *e) {
  assert_int_equal(sw_swarm_close(s), SW_OK);
  run_until(loop, &e->close, 5000);
  assert_int_equal(e->close, 1);
  sw_swarm_free(s);
}

static void test_dial_closed_port(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  /* a port nobody listens on: bound, learnt, closed */
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t sl = sizeof sa;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  close(fd);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));

  events e = {0};
  sw_options o;
  sw_swarm *s = NULL;
  quiet_options(&o, &e);
  o.dial_timeout_ms = 600;
  o.dial_retries = 1;
  o.dial_retry_ms = 200; /* attempts 0..600 and 800..1400: at most 1.4 s */
  assert_int_equal(sw_swarm_new(&s, &o, &loop), SW_OK);
  uint64_t t0 = now_ms();
  assert_int_equal(sw_swarm_connect(s, target), SW_OK);
  run_until(&loop, &e.dial_failed, 5000);
  assert_int_equal(e.dial_failed, 1);
  assert_string_equal(e.failed_addr, target);
#ifdef __linux__
  /* the kernel's ICMP port unreachable ends each attempt at once (IP_RECVERR): the
   * retry 200 ms later is refused too */
  assert_int_equal(e.last_reason, SW_REASON_REFUSED);
  assert_true(e.failed_at - t0 >= 200);
  assert_true(e.failed_at - t0 <= 200 + 300);
#else
  assert_true(e.last_reason == SW_REASON_REFUSED || e.last_reason == SW_REASON_TIMEOUT);
  assert_true(e.failed_at - t0 <= 1400 + 300);
#endif
  close_on(&loop, s, &e);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void killed_peer(int transport) {
  uv_loop_t la, lb;
  assert_int_equal(uv_loop_init(&la), 0);
  assert_int_equal(uv_loop_init(&lb), 0);
  events ea = {0}, eb = {0};
  sw_options oa, ob;
  sw_swarm *a = NULL, *b = NULL;
  quiet_options(&oa, &ea);
  quiet_options(&ob, &eb);
  oa.transport = ob.transport = transport;
  oa.peer_timeout_ms = 1500;
  oa.keepalive_ms = 200;
  assert_int_equal(sw_swarm_new(&a, &oa, &la), SW_OK);
  assert_int_equal(sw_swarm_new(&b, &ob, &lb), SW_OK);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)sw_swarm_port(b));
  assert_int_equal(sw_swarm_connect(a, target), SW_OK);
  uint64_t end = now_ms() + 5000;
  while ((!ea.connection || !eb.connection) && now_ms() < end) {
    uv_run(&la, UV_RUN_NOWAIT);
    uv_run(&lb, UV_RUN_NOWAIT);
    usleep(1000);
  }
  assert_int_equal(ea.connection, 1);
  /* let the session settle (the extended handshake, a few PINGs) */
  end = now_ms() + 500;
  while (now_ms() < end) {
    uv_run(&la, UV_RUN_NOWAIT);
    uv_run(&lb, UV_RUN_NOWAIT);
    usleep(1000);
  }
  assert_int_equal(ea.disconnect, 0);
  uint64_t killed = now_ms(); /* b's loop stops: b is silent from here */
  run_until(&la, &ea.disconnect, 6000);
  assert_int_equal(ea.disconnect, 1);
  assert_int_equal(ea.last_reason, SW_REASON_TIMEOUT);
  uint64_t took = ea.disconnect_at - killed;
  assert_true(took >= 1500 - 400);  /* b was last heard at most a keepalive or so earlier */
  assert_true(took <= 1500 + 1000); /* within the timeout, a heartbeat and scheduling */
  close_on(&la, a, &ea);
  /* b closes with a in its table: its one peer leaves with reason "closed" */
  assert_int_equal(sw_swarm_close(b), SW_OK);
  run_until(&lb, &eb.close, 5000);
  assert_int_equal(eb.disconnect, 1);
  assert_int_equal(eb.last_reason, SW_REASON_CLOSED);
  sw_swarm_free(b);
  assert_int_equal(uv_loop_close(&la), 0);
  assert_int_equal(uv_loop_close(&lb), 0);
}

/* sw_swarm_join / sw_swarm_leave through the runtime: bounded, leave only what is
 * joined, nothing after close. */
static void test_topics_api(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  events e = {0};
  sw_options o;
  sw_swarm *s = NULL;
  quiet_options(&o, &e);
  assert_int_equal(sw_swarm_new(&s, &o, &loop), SW_OK);
  uint8_t t[SW_MAX_TOPICS + 1][SW_TOPIC_LEN];
  memset(t, 0, sizeof t);
  for (int i = 0; i <= SW_MAX_TOPICS; i++) t[i][0] = (uint8_t)(i + 1);
  assert_int_equal(sw_swarm_leave(s, t[0]), SW_EINVAL);
  assert_int_equal(sw_swarm_join(s, NULL), SW_EINVAL);
  for (int i = 0; i < SW_MAX_TOPICS; i++) assert_int_equal(sw_swarm_join(s, t[i]), SW_OK);
  assert_int_equal(sw_swarm_join(s, t[0]), SW_OK); /* joined already */
  assert_int_equal(sw_swarm_join(s, t[SW_MAX_TOPICS]), SW_EFULL);
  assert_int_equal(sw_swarm_leave(s, t[5]), SW_OK);
  assert_int_equal(sw_swarm_leave(s, t[5]), SW_EINVAL);
  assert_int_equal(sw_swarm_join(s, t[SW_MAX_TOPICS]), SW_OK);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(sw_swarm_close(s), SW_OK);
  assert_int_equal(sw_swarm_leave(s, t[0]), SW_ECLOSED);
  assert_int_equal(sw_swarm_join(s, t[5]), SW_ECLOSED);
  run_until(&loop, &e.close, 5000);
  assert_int_equal(e.close, 1);
  sw_swarm_free(s);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_killed_peer_plain(void **state) {
  (void)state;
  killed_peer(0);
}

static void test_killed_peer_extended(void **state) {
  (void)state;
  killed_peer(1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bounds),
      cmocka_unit_test(test_dial_closed_port),
      cmocka_unit_test(test_topics_api),
      cmocka_unit_test(test_killed_peer_plain),
      cmocka_unit_test(test_killed_peer_extended),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
