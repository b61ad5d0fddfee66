/* The libuv runtime through the public API, on loopback only: the options versions
 * sw_swarm_new accepts, and when queued output leaves. Output queued from any
 * callback (an application's poll or prepare handle here) must leave in the same loop
 * turn, and the loop must never block in poll while output waits. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------- */

typedef struct events {
  int listening, close, data;
  uint16_t port;
} events;

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  events *e = user;
  (void)s;
  if (ev->type == SW_EV_LISTENING) {
    e->listening++;
    e->port = ev->port;
  }
  if (ev->type == SW_EV_CLOSE) e->close++;
  if (ev->type == SW_EV_DATA) e->data++;
}

/* A non-blocking UDP socket on 127.0.0.1, any port. */
static int plain_socket(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t sl = sizeof sa;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static void send_to(int fd, uint16_t port, const void *buf, size_t len) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa), (ssize_t)len);
}

/* Datagrams waiting on fd that came from port (all are read). */
static int count_from(int fd, uint16_t port) {
  uint8_t buf[2048];
  int n = 0;
  for (;;) {
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    ssize_t r = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&sa, &sl);
    if (r < 0) return n;
    if (ntohs(sa.sin_port) == port) n++;
  }
}

static void quiet_options(sw_options *o, events *e) {
  lo_options(o);
  o->on_event = on_event;
  o->user = e;
}

static void close_and_free(uv_loop_t *loop, sw_swarm **s, events **e, int n) {
  for (int i = 0; i < n; i++) assert_int_equal(sw_swarm_close(s[i]), SW_OK);
  for (int guard = 0; guard < 1000; guard++) {
    int done = 1;
    for (int i = 0; i < n; i++) done &= e[i]->close == 1;
    if (done) break;
    uv_run(loop, UV_RUN_ONCE);
  }
  for (int i = 0; i < n; i++) {
    assert_int_equal(e[i]->close, 1);
    sw_swarm_free(s[i]);
  }
}

/* ---- options versions ------------------------------------------------------------ */

/* sw_options as version 1 laid it out, written out here as an old program has it. */
typedef struct old_options_v1 {
  int version;
  const char *seed_hex;
  const char *bind;
  uint16_t port;
  size_t max_peers;
  int legacy_frag;
  size_t send_buffer_bytes;
  int lan, dht, stun, http;
  sw_event_cb on_event;
  void *user;
  int sync;
  const sw_storage *storage;
  size_t store_cache_max;
  size_t store_cache_bytes;
  const char *lan_addr;
  int pex;
  size_t (*load_peers)(void *ctx, sw_peer_entry *out, size_t max);
  int (*save_peers)(void *ctx, const sw_peer_entry *list, size_t n);
  void *peers_ctx;
  const char *const *bootstrap_http;
  size_t n_bootstrap_http;
  const char *const *piping;
  size_t n_piping;
  int no_default_servers;
  const char *const *bootstrap;
  size_t nbootstrap;
  uint16_t dht_port;
  const char *const *seeds;
  size_t nseeds;
  int relay;
} old_options_v1;

static void test_options_v1(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  uint16_t dht_port;
  int probe = plain_socket(&dht_port); /* a port free a moment ago, for dht_port */
  close(probe);
  for (int dht = 0; dht < 2; dht++) {
    events e = {0};
    old_options_v1 v;
    memset(&v, 0, sizeof v);
    v.version = 1;
    v.bind = "127.0.0.1";
    v.max_peers = 100;
    v.send_buffer_bytes = 1u << 20;
    v.lan = 0;
    v.dht = dht;
    v.stun = 1;
    v.http = 0;
    v.on_event = on_event;
    v.user = &e;
    v.sync = 1;
    v.pex = 1;
    v.dht_port = dht_port;
    sw_swarm *s = NULL;
    assert_int_equal(sw_swarm_new(&s, (const sw_options *)(const void *)&v, &loop), SW_OK);
    assert_non_null(s);
    assert_int_not_equal(sw_swarm_port(s), 0);
    /* the fields after the removed `stun` are read from their old places */
    assert_int_equal(sw_swarm_dht_port(s), dht ? dht_port : 0);
    for (int guard = 0; guard < 100 && !e.listening; guard++) uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(e.listening, 1); /* on_event and user came across */
    assert_int_equal(e.port, sw_swarm_port(s));
    events *ep = &e;
    close_and_free(&loop, &s, &ep, 1);
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* A version-2 program hands a struct that ends before `transport`: the library reads
 * no byte past it (ASan would say) and the new fields take their defaults. */
static void test_options_v2(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  events e = {0};
  sw_options o;
  quiet_options(&o, &e);
  o.version = 2;
  size_t v2_size = offsetof(sw_options, transport);
  void *v2 = malloc(v2_size);
  assert_non_null(v2);
  memcpy(v2, &o, v2_size);
  sw_swarm *s = NULL;
  assert_int_equal(sw_swarm_new(&s, (const sw_options *)v2, &loop), SW_OK);
  free(v2);
  for (int guard = 0; guard < 100 && !e.listening; guard++) uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(e.listening, 1);
  events *ep = &e;
  close_and_free(&loop, &s, &ep, 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_options_unknown_version(void **state) {
  (void)state;
  events e = {0};
  sw_options o;
  quiet_options(&o, &e);
  int versions[] = {0, 99, -1, SW_OPTIONS_VERSION + 1};
  for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
    o.version = versions[i];
    sw_swarm *s = (sw_swarm *)&o; /* must be overwritten */
    assert_int_equal(sw_swarm_new(&s, &o, NULL), SW_EINVAL);
    assert_null(s);
  }
  o.version = SW_OPTIONS_VERSION;
  sw_swarm *s = NULL;
  assert_int_equal(sw_swarm_new(&s, NULL, NULL), SW_EINVAL);
  assert_null(s);
  assert_int_equal(sw_swarm_new(&s, &o, NULL), SW_OK);
  sw_swarm_free(s);
}

/* ---- output leaves in the turn that queued it ------------------------------------ */

/* The forwarder: b dials the plain socket P; what P gets from b goes to a, what it
 * gets from a goes to b. So b's datagrams to its peer can be watched on P. */
typedef struct relay {
  int fd;
  uint16_t port, a_port, b_port;
  uv_poll_t poll;
} relay;

static void on_relay(uv_poll_t *h, int status, int events_) {
  relay *r = h->data;
  uint8_t buf[65536];
  (void)status;
  (void)events_;
  for (;;) {
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    ssize_t n = recvfrom(r->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&sa, &sl);
    if (n < 0) return;
    uint16_t from = ntohs(sa.sin_port);
    if (from == r->b_port) send_to(r->fd, r->a_port, buf, (size_t)n);
    else if (from == r->a_port) send_to(r->fd, r->b_port, buf, (size_t)n);
  }
}

typedef struct trigger {
  int fd;
  uint16_t port;
  uv_poll_t poll;
  sw_swarm *swarm;
  int fired, rc;
} trigger;

/* An application's own socket: when it is readable, broadcast on the swarm. */
static void on_trigger(uv_poll_t *h, int status, int events_) {
  trigger *t = h->data;
  uint8_t b[16];
  (void)status;
  (void)events_;
  while (recv(t->fd, b, sizeof b, MSG_DONTWAIT) > 0) {
  }
  t->fired++;
  t->rc = sw_swarm_broadcast(t->swarm, "ping", 4);
}

static void test_broadcast_from_app_poll(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  events ea = {0}, eb = {0};
  sw_options o;
  sw_swarm *a = NULL, *b = NULL;
  quiet_options(&o, &ea);
  assert_int_equal(sw_swarm_new(&a, &o, &loop), SW_OK);
  quiet_options(&o, &eb);
  assert_int_equal(sw_swarm_new(&b, &o, &loop), SW_OK);

  relay r;
  r.fd = plain_socket(&r.port);
  r.a_port = sw_swarm_port(a);
  r.b_port = sw_swarm_port(b);
  assert_int_equal(uv_poll_init(&loop, &r.poll, r.fd), 0);
  r.poll.data = &r;
  uv_poll_start(&r.poll, UV_READABLE, on_relay);
  char target[32];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)r.port);
  assert_int_equal(sw_swarm_connect(b, target), SW_OK);
  uint64_t t0 = uv_hrtime();
  while ((sw_swarm_peer_count(a) < 1 || sw_swarm_peer_count(b) < 1) &&
         uv_hrtime() - t0 < 5000000000ull)
    uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(sw_swarm_peer_count(a), 1);
  assert_int_equal(sw_swarm_peer_count(b), 1);
  /* A message b sends reaches a once b's extended session is confirmed (b holds it until
   * then), and confirms a's: after it both send at once (docs/TRANSPORT.md 8). */
  assert_int_equal(sw_swarm_broadcast(b, "warm", 4), 1);
  t0 = uv_hrtime();
  while (!ea.data && uv_hrtime() - t0 < 5000000000ull) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(ea.data, 1);

  /* From here P is only watched: whatever b sends stays in P's buffer. */
  uv_poll_stop(&r.poll);
  for (int i = 0; i < 5; i++) uv_run(&loop, UV_RUN_NOWAIT); /* settle what was in flight */
  count_from(r.fd, r.b_port);

  trigger t = {.swarm = b};
  t.fd = plain_socket(&t.port);
  assert_int_equal(uv_poll_init(&loop, &t.poll, t.fd), 0);
  t.poll.data = &t;
  uv_poll_start(&t.poll, UV_READABLE, on_trigger);
  for (int round = 0; round < 3; round++) {
    send_to(t.fd, t.port, "x", 1); /* the trigger is readable before the loop polls */
    /* One loop turn: the trigger's callback queues the broadcast in the poll phase;
     * it must have left before uv_run returns. */
    uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(t.fired, round + 1);
    assert_int_equal(t.rc, 1);
    assert_true(count_from(r.fd, r.b_port) >= 1);
  }

  uv_close((uv_handle_t *)&t.poll, NULL);
  uv_close((uv_handle_t *)&r.poll, NULL);
  sw_swarm *ss[2] = {a, b};
  events *es[2] = {&ea, &eb};
  close_and_free(&loop, ss, es, 2);
  uv_run(&loop, UV_RUN_NOWAIT);
  close(t.fd);
  close(r.fd);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* An application's prepare handle started before the swarm runs after the swarm's
 * own: what it queues must not wait for the loop to wake. */
typedef struct app_prepare {
  uv_prepare_t h;
  sw_swarm *swarm;
  const char *target;
  int armed, rc;
} app_prepare;

static void on_app_prepare(uv_prepare_t *h) {
  app_prepare *p = h->data;
  if (!p->armed) return;
  p->armed = 0;
  p->rc = sw_swarm_connect(p->swarm, p->target); /* a HELLO to the plain socket */
}

static void on_guard(uv_timer_t *h) { (void)h; }

static void test_connect_from_app_prepare(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  app_prepare p = {0};
  assert_int_equal(uv_prepare_init(&loop, &p.h), 0);
  p.h.data = &p;
  uv_prepare_start(&p.h, on_app_prepare);

  events e = {0};
  sw_options o;
  sw_swarm *s = NULL;
  quiet_options(&o, &e);
  assert_int_equal(sw_swarm_new(&s, &o, &loop), SW_OK);
  for (int guard = 0; guard < 100 && !e.listening; guard++) uv_run(&loop, UV_RUN_NOWAIT);

  uint16_t port;
  int fd = plain_socket(&port);
  char target[32];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port);
  p.swarm = s;
  p.target = target;
  p.armed = 1;
  /* Nothing else wakes the loop for 2 s (the swarm has no peer and no dial yet). */
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  uv_timer_start(&guard, on_guard, 2000, 0);
  uint64_t t0 = uv_hrtime();
  uv_run(&loop, UV_RUN_ONCE);
  uint64_t waited_ms = (uv_hrtime() - t0) / 1000000u;
  assert_int_equal(p.armed, 0);
  assert_int_equal(p.rc, SW_OK);
  assert_true(count_from(fd, sw_swarm_port(s)) >= 1); /* the HELLO left in that turn */
  assert_true(waited_ms < 1000);                      /* and the loop did not block */

  uv_close((uv_handle_t *)&guard, NULL);
  uv_close((uv_handle_t *)&p.h, NULL);
  events *ep = &e;
  close_and_free(&loop, &s, &ep, 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  close(fd);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_v1),
      cmocka_unit_test(test_options_v2),
      cmocka_unit_test(test_options_unknown_version),
      cmocka_unit_test(test_broadcast_from_app_poll),
      cmocka_unit_test(test_connect_from_app_prepare),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
