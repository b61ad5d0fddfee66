/* Driving swarms from the application's own poll() loop (sw_swarm_fd, sw_swarm_timeout,
 * sw_swarm_process), on loopback only, in one thread, with no libuv call in the test:
 * the calls' contract, a connection in under 50 ms, 100 000 messages moved, calls made
 * between turns taking effect at the next process, calls from an event callback leaving
 * within the process that ran it, close, and both transports. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"

#define COUNT 100000
#define MSG 100

typedef struct side {
  sw_swarm *s;
  const char *name;
  int listening, connected, disconnected, closed, blocked, nested;
  uint16_t port;
  uint8_t peer[SW_WIRE_ID_LEN];
  uint64_t t_connected;
  size_t received, in_order; /* messages, and how many came in sending order */
  uint64_t next;             /* the index expected next */
  /* Calls made from inside the SW_EV_DATA callback (test_call_from_callback). */
  const char *dial_on_data; /* sw_swarm_connect to it */
  int reply_on_data;        /* sw_swarm_write an answer back to the last hop */
  int dial_rc, reply_rc;
} side;

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  side *v = user;
  switch (ev->type) {
    case SW_EV_LISTENING:
      v->listening++;
      v->port = ev->port;
      break;
    case SW_EV_CONNECTION:
      v->connected++;
      v->t_connected = lo_now_ms();
      memcpy(v->peer, ev->peer, SW_WIRE_ID_LEN);
      /* Not from inside a callback: no re-entry into the loop. */
      v->nested = sw_swarm_process(s);
      break;
    case SW_EV_DATA: {
      uint64_t i;
      assert_int_equal(ev->len, MSG);
      memcpy(&i, ev->data, sizeof i);
      v->received++;
      if (i == v->next) v->in_order++;
      v->next = i + 1;
      if (v->dial_on_data) {
        v->dial_rc = sw_swarm_connect(s, v->dial_on_data);
        v->dial_on_data = NULL;
      }
      if (v->reply_on_data) {
        uint8_t r[MSG];
        memcpy(r, ev->data, MSG);
        r[MSG - 1] ^= 0xff; /* other bytes: the sender's content dedup would drop an echo */
        v->reply_rc = sw_swarm_write(s, ev->peer, r, sizeof r);
        v->reply_on_data = 0;
      }
      break;
    }
    case SW_EV_WRITABLE:
      v->blocked = 0;
      break;
    case SW_EV_DISCONNECT:
      v->disconnected++;
      break;
    case SW_EV_CLOSE:
      v->closed++;
      break;
    default:
      break;
  }
}

static void make(side *v, const char *name, int transport) {
  memset(v, 0, sizeof *v);
  v->name = name;
  sw_options o;
  lo_options(&o);
  o.transport = transport;
  o.on_event = on_event;
  o.user = v;
  assert_int_equal(sw_swarm_new(&v->s, &o, NULL), SW_OK);
}

/* One wait of the application's loop: poll every side's descriptor for at most
 * max_ms or its timeout, then process each side that is readable or due. */
static void turn(side **v, int n, int max_ms) {
  struct pollfd p[4];
  uint64_t due[4], now = lo_now_ms();
  int t = max_ms;
  for (int i = 0; i < n; i++) {
    p[i] = (struct pollfd){.fd = sw_swarm_fd(v[i]->s), .events = POLLIN};
    assert_true(p[i].fd >= 0);
    int ti = sw_swarm_timeout(v[i]->s);
    due[i] = ti < 0 ? UINT64_MAX : now + (uint64_t)ti;
    if (ti >= 0 && ti < t) t = ti;
  }
  assert_true(poll(p, (nfds_t)n, t) >= 0);
  now = lo_now_ms();
  for (int i = 0; i < n; i++)
    if (p[i].revents || now >= due[i]) {
      int rc = sw_swarm_process(v[i]->s);
      assert_true(rc == SW_OK || (rc == SW_ECLOSED && v[i]->closed == 1));
    }
}

static void close_all(side **v, int n) {
  for (int i = 0; i < n; i++) assert_int_equal(sw_swarm_close(v[i]->s), SW_OK);
  uint64_t end = lo_now_ms() + 5000;
  for (;;) {
    int done = 1;
    for (int i = 0; i < n; i++) done &= v[i]->closed == 1;
    if (done || lo_now_ms() > end) break;
    turn(v, n, 100);
  }
  for (int i = 0; i < n; i++) {
    assert_int_equal(v[i]->closed, 1);
    assert_int_equal(sw_swarm_process(v[i]->s), SW_ECLOSED);
    assert_int_equal(sw_swarm_timeout(v[i]->s), -1);
    sw_swarm_free(v[i]->s);
  }
}

/* b dials a; returns the milliseconds from the call to b's connection event. */
static uint64_t connect_pair(side *a, side *b) {
  side *v[2] = {a, b};
  uint64_t end = lo_now_ms() + 5000;
  while (!a->listening && lo_now_ms() < end) turn(v, 2, 100);
  assert_int_equal(a->listening, 1);
  char target[SW_ADDRSTRLEN];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)sw_swarm_port(a->s));
  uint64_t t0 = lo_now_ms();
  assert_int_equal(sw_swarm_connect(b->s, target), SW_OK);
  assert_int_equal(sw_swarm_timeout(b->s), 0); /* the dial leaves at the next process */
  while ((!a->connected || !b->connected) && lo_now_ms() < end) turn(v, 2, 100);
  assert_int_equal(a->connected, 1);
  assert_int_equal(b->connected, 1);
  assert_int_equal(a->nested, SW_EINVAL);
  return b->t_connected - t0;
}

/* a and b made with `transport`, b connected to a (connect_pair). */
static void make_pair(side *a, side *b, int transport) {
  make(a, "a", transport);
  make(b, "b", transport);
  connect_pair(a, b);
}

/* Turns until neither side of the pair has anything due at once (50 at most). */
static void settle(side **v) {
  for (int i = 0; i < 50 && (sw_swarm_timeout(v[0]->s) == 0 || sw_swarm_timeout(v[1]->s) == 0);
       i++)
    turn(v, 2, 10);
}

/* ---- the calls' contract ---------------------------------------------------------- */

static void test_contract(void **state) {
  (void)state;
  assert_int_equal(sw_swarm_fd(NULL), SW_EINVAL);
  assert_int_equal(sw_swarm_timeout(NULL), -1);
  assert_int_equal(sw_swarm_process(NULL), SW_EINVAL);
  assert_null(sw_swarm_loop(NULL));
  side a;
  make(&a, "a", 0);
  assert_non_null(sw_swarm_loop(a.s));
  int fd = sw_swarm_fd(a.s);
  assert_true(fd >= 0);
  assert_int_equal(sw_swarm_fd(a.s), fd); /* one descriptor for the swarm's life */
  /* Nothing has run yet: process at once, which announces the socket. */
  assert_int_equal(sw_swarm_timeout(a.s), 0);
  assert_int_equal(a.listening, 0);
  assert_int_equal(sw_swarm_process(a.s), SW_OK);
  assert_int_equal(a.listening, 1);
  assert_int_equal(a.port, sw_swarm_port(a.s));
  /* Idle: a positive wait (a timer) or none, never a busy loop. */
  int t = sw_swarm_timeout(a.s);
  assert_true(t == -1 || t > 0);
  side *v[1] = {&a};
  close_all(v, 1);
}

/* ---- two swarms in one thread, poll() only ------------------------------------------ */

static void move(int transport) {
  side a, b;
  side *v[2] = {&a, &b};
  uint64_t best = UINT64_MAX;
  /* Best of three: the machine running the tests is shared, one unlucky schedule
   * must not decide. */
  for (int attempt = 0; attempt < 3 && best >= 50; attempt++) {
    make(&a, "a", transport);
    make(&b, "b", transport);
    uint64_t ms = connect_pair(&a, &b);
    if (ms < best) best = ms;
    if (best < 50 || attempt == 2) break;
    close_all(v, 2);
  }
  fprintf(stderr, "transport %s: connected in %llu ms\n", transport ? "extended" : "plain",
          (unsigned long long)best);
  assert_true(best < 50);

  uint8_t msg[MSG];
  memset(msg, 0x5a, sizeof msg);
  size_t sent = 0;
  uint64_t t0 = lo_now_ms(), end = t0 + 120000;
  while (a.received < COUNT && lo_now_ms() < end) {
    while (sent < COUNT && !b.blocked) {
      uint64_t i = sent;
      memcpy(msg, &i, sizeof i); /* distinct content: plain peers dedup by content */
      int rc = sw_swarm_write(b.s, b.peer, msg, sizeof msg);
      if (rc == SW_EAGAIN) {
        b.blocked = 1; /* until SW_EV_WRITABLE */
        break;
      }
      assert_int_equal(rc, SW_OK);
      sent++;
    }
    turn(v, 2, sent < COUNT ? 100 : 1000);
  }
  uint64_t ms = lo_now_ms() - t0;
  fprintf(stderr, "transport %s: %zu of %d messages delivered (%zu in order) in %llu ms\n",
          transport ? "extended" : "plain", a.received, COUNT, a.in_order,
          (unsigned long long)ms);
  assert_int_equal(sent, COUNT);
  assert_int_equal(a.received, COUNT);
  if (transport) assert_int_equal(a.in_order, COUNT); /* reliable and ordered */
  close_all(v, 2);
}

static void test_move_plain(void **state) {
  (void)state;
  move(0);
}

static void test_move_extended(void **state) {
  (void)state;
  move(1);
}

/* A call between turns is reported by sw_swarm_timeout (0), and one process of each
 * side carries it: the sender's sends, the receiver's reads deliver. */
static void test_call_between_turns(void **state) {
  (void)state;
  side a, b;
  side *v[2] = {&a, &b};
  make_pair(&a, &b, 0);
  settle(v); /* until neither has anything due at once */
  assert_int_not_equal(sw_swarm_timeout(b.s), 0);
  uint8_t msg[MSG] = {0};
  assert_int_equal(sw_swarm_broadcast(b.s, msg, sizeof msg), 1);
  assert_int_equal(sw_swarm_timeout(b.s), 0);
  assert_int_equal(sw_swarm_process(b.s), SW_OK); /* one process sends it */
  struct pollfd p = {.fd = sw_swarm_fd(a.s), .events = POLLIN};
  assert_int_equal(poll(&p, 1, 2000), 1); /* a's descriptor wakes for it */
  assert_int_equal(sw_swarm_process(a.s), SW_OK); /* one process delivers it */
  assert_int_equal(a.received, 1);
  close_all(v, 2);
}

/* Calls made from inside an event callback (which runs inside sw_swarm_process) leave
 * before that sw_swarm_process returns: no later turn, and no sw_swarm_timeout of 0, is
 * needed for them. a's SW_EV_DATA callback dials a plain socket and writes an answer
 * back to b; right after the one process that delivered the message, the HELLO is in the
 * plain socket's buffer and b's one process delivers the reply. */
static void call_from_callback(int transport) {
  side a, b;
  side *v[2] = {&a, &b};
  make_pair(&a, &b, transport);
  uint8_t msg[MSG] = {0};
  if (transport) { /* the first message confirms the extended session (TRANSPORT.md 8) */
    assert_int_equal(sw_swarm_broadcast(b.s, msg, sizeof msg), 1);
    uint64_t end = lo_now_ms() + 5000;
    while (a.received < 1 && lo_now_ms() < end) turn(v, 2, 100);
    assert_int_equal(a.received, 1);
  }
  settle(v);
  size_t a0 = a.received, b0 = b.received;

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  char target[SW_ADDRSTRLEN];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
  a.dial_on_data = target;
  a.reply_on_data = 1;

  msg[0] = 1; /* new content: not a duplicate of the warm-up */
  assert_int_equal(sw_swarm_broadcast(b.s, msg, sizeof msg), 1);
  assert_int_equal(sw_swarm_process(b.s), SW_OK);
  struct pollfd p = {.fd = sw_swarm_fd(a.s), .events = POLLIN};
  assert_int_equal(poll(&p, 1, 2000), 1);
  assert_int_equal(sw_swarm_process(a.s), SW_OK); /* delivers; the callback calls */
  assert_int_equal(a.received, a0 + 1);
  assert_null(a.dial_on_data);
  assert_int_equal(a.dial_rc, SW_OK);
  assert_int_equal(a.reply_rc, SW_OK);
  /* The HELLO left inside that process: it is already in the socket's buffer. */
  uint8_t buf[2048];
  struct pollfd q = {.fd = fd, .events = POLLIN};
  assert_int_equal(poll(&q, 1, 500), 1);
  assert_true(recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0);
  /* So did the reply: b's descriptor wakes and one process delivers it. */
  p.fd = sw_swarm_fd(b.s);
  assert_int_equal(poll(&p, 1, 2000), 1);
  assert_int_equal(sw_swarm_process(b.s), SW_OK);
  assert_int_equal(b.received, b0 + 1);
  close(fd);
  close_all(v, 2);
}

static void test_call_from_callback_plain(void **state) {
  (void)state;
  call_from_callback(0);
}

static void test_call_from_callback_extended(void **state) {
  (void)state;
  call_from_callback(1);
}

/* Close between turns: GOAWAY leaves at the next process and the peer sees the
 * disconnect at once, not after the 60 s silence timeout. */
static void test_close_between_turns(void **state) {
  (void)state;
  side a, b;
  side *v[2] = {&a, &b};
  make_pair(&a, &b, 0);
  assert_int_equal(sw_swarm_close(b.s), SW_OK);
  assert_int_equal(sw_swarm_timeout(b.s), 0);
  uint64_t t0 = lo_now_ms();
  while ((!a.disconnected || !b.closed) && lo_now_ms() < t0 + 5000) turn(v, 2, 100);
  assert_int_equal(a.disconnected, 1);
  assert_int_equal(b.closed, 1);
  assert_true(lo_now_ms() - t0 < 2500);
  assert_int_equal(sw_swarm_process(b.s), SW_ECLOSED);
  sw_swarm_free(b.s);
  side *rest[1] = {&a};
  close_all(rest, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_contract),
      cmocka_unit_test(test_move_plain),
      cmocka_unit_test(test_move_extended),
      cmocka_unit_test(test_call_between_turns),
      cmocka_unit_test(test_call_from_callback_plain),
      cmocka_unit_test(test_call_from_callback_extended),
      cmocka_unit_test(test_close_between_turns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
