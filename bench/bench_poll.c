/* Two swarms in one thread on loopback, driven two ways, side by side:
 *
 *   bench_poll [COUNT [SIZE [plain|extended]]]     defaults: 100000 100 plain
 *
 *   poll   each swarm owns its loop; the program's own poll() over sw_swarm_fd, waiting
 *          sw_swarm_timeout, then sw_swarm_process (docs/API.md "Your own event loop")
 *   libuv  both swarms on one uv_loop_t the program runs (UV_RUN_DEFAULT), the sender
 *          writing from an idle handle
 *
 * The sender writes COUNT messages of SIZE bytes to the receiver with sw_swarm_write
 * until SW_EAGAIN, then waits for SW_EV_WRITABLE. Printed per mode: the time from
 * sw_swarm_connect to the connection event, and messages per second from the first
 * write to the last delivery. Figures only: the exit status says whether it ran. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "setowire.h"

typedef struct side {
  sw_swarm *s;
  int listening, connected, closed, blocked;
  uint8_t peer[SW_WIRE_ID_LEN];
  size_t received;
  uint64_t t_connected, t_last;
} side;

static size_t count = 100000, size = 100;
static int transport;
static uint8_t *msg;

static uint64_t now_ns(void) { return uv_hrtime(); }

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  side *v = user;
  (void)s;
  switch (ev->type) {
    case SW_EV_LISTENING: v->listening = 1; break;
    case SW_EV_CONNECTION:
      if (!v->connected) v->t_connected = now_ns();
      v->connected = 1;
      memcpy(v->peer, ev->peer, SW_WIRE_ID_LEN);
      break;
    case SW_EV_DATA:
      v->received++;
      v->t_last = now_ns();
      break;
    case SW_EV_WRITABLE: v->blocked = 0; break;
    case SW_EV_CLOSE: v->closed = 1; break;
    default: break;
  }
}

static void make(side *v, uv_loop_t *loop) {
  memset(v, 0, sizeof *v);
  sw_options o;
  sw_options_init(&o);
  o.bind = "127.0.0.1";
  o.lan = o.dht = o.http = 0;
  o.no_stun = 1;
  o.transport = transport;
  o.send_buffer_bytes = 8u << 20;
  o.on_event = on_event;
  o.user = v;
  if (sw_swarm_new(&v->s, &o, loop)) {
    fprintf(stderr, "sw_swarm_new failed\n");
    exit(1);
  }
}

/* Write until the queue is full or everything is written; returns the count so far. */
static size_t write_some(side *b, size_t sent) {
  while (sent < count && !b->blocked) {
    memcpy(msg, &sent, sizeof sent); /* distinct content: plain peers dedup by content */
    int rc = sw_swarm_write(b->s, b->peer, msg, size);
    if (rc == SW_EAGAIN) {
      b->blocked = 1;
      break;
    }
    if (rc) {
      fprintf(stderr, "write: %s\n", sw_strerror(rc));
      exit(1);
    }
    sent++;
  }
  return sent;
}

static void report(const char *mode, side *a, side *b, uint64_t t_dial, uint64_t t0) {
  double secs = (double)(a->t_last - t0) / 1e9;
  printf("%-6s %s %zu x %zu B: connect %.2f ms; %zu delivered (%.2f%%), %.0f msg/s over "
         "%.3f s\n",
         mode, transport ? "extended" : "plain", count, size,
         (double)(b->t_connected - t_dial) / 1e6, a->received, 100.0 * a->received / count,
         secs > 0 ? a->received / secs : 0, secs);
  fflush(stdout);
}

static void dial(side *a, side *b, uint64_t *t_dial) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)sw_swarm_port(a->s));
  *t_dial = now_ns();
  if (sw_swarm_connect(b->s, target)) exit(1);
}

/* ---- poll --------------------------------------------------------------------- */

static void poll_turn(side **v, int wait_cap) {
  struct pollfd p[2];
  int t = wait_cap;
  for (int i = 0; i < 2; i++) {
    p[i] = (struct pollfd){.fd = sw_swarm_fd(v[i]->s), .events = POLLIN};
    int ti = sw_swarm_timeout(v[i]->s);
    if (ti >= 0 && ti < t) t = ti;
  }
  poll(p, 2, t);
  for (int i = 0; i < 2; i++) sw_swarm_process(v[i]->s);
}

static int run_poll(void) {
  side a, b;
  side *v[2] = {&a, &b};
  make(&a, NULL);
  make(&b, NULL);
  while (!a.listening) poll_turn(v, 100);
  uint64_t t_dial;
  dial(&a, &b, &t_dial);
  while (!a.connected || !b.connected) poll_turn(v, 100);
  uint64_t t0 = now_ns(), quiet_since = 0;
  size_t sent = 0;
  while (a.received < count) {
    sent = write_some(&b, sent);
    size_t before = a.received;
    poll_turn(v, 100);
    /* Losses are possible with the plain protocol: stop after 2 s without progress. */
    if (sent == count && a.received == before) {
      if (!quiet_since) quiet_since = now_ns();
      else if (now_ns() - quiet_since > 2000000000ull) break;
    } else {
      quiet_since = 0;
    }
  }
  report("poll", &a, &b, t_dial, t0);
  sw_swarm_close(a.s);
  sw_swarm_close(b.s);
  while (!a.closed || !b.closed) poll_turn(v, 100);
  sw_swarm_free(a.s);
  sw_swarm_free(b.s);
  return 0;
}

/* ---- libuv --------------------------------------------------------------------- */

typedef struct uvbench {
  side a, b;
  uv_idle_t idle;
  uv_timer_t quiet;
  size_t sent;
  uint64_t t0, t_dial;
  int started, done;
} uvbench;

static void uv_finish(uvbench *u) {
  if (u->done) return;
  u->done = 1;
  report("libuv", &u->a, &u->b, u->t_dial, u->t0);
  uv_idle_stop(&u->idle);
  uv_timer_stop(&u->quiet);
  sw_swarm_close(u->a.s);
  sw_swarm_close(u->b.s);
}

static void on_quiet(uv_timer_t *t) { uv_finish(t->data); }

/* Each loop turn: start once connected, write what the queue takes, stop when all
 * arrived (or 2 s after the last write without progress). */
static void on_idle(uv_idle_t *h) {
  uvbench *u = h->data;
  if (!u->started) {
    if (!u->a.connected || !u->b.connected) return;
    u->started = 1;
    u->t0 = now_ns();
  }
  size_t before = u->sent;
  u->sent = write_some(&u->b, u->sent);
  if (u->a.received >= count) uv_finish(u);
  else if (u->sent == count && before == count && !uv_is_active((uv_handle_t *)&u->quiet))
    uv_timer_start(&u->quiet, on_quiet, 2000, 0);
}

static int run_uv(void) {
  static uvbench u;
  uv_loop_t loop;
  uv_loop_init(&loop);
  make(&u.a, &loop);
  make(&u.b, &loop);
  while (!u.a.listening) uv_run(&loop, UV_RUN_ONCE);
  dial(&u.a, &u.b, &u.t_dial);
  uv_idle_init(&loop, &u.idle);
  uv_timer_init(&loop, &u.quiet);
  u.idle.data = u.quiet.data = &u;
  uv_idle_start(&u.idle, on_idle);
  while (!u.a.closed || !u.b.closed) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&u.idle, NULL);
  uv_close((uv_handle_t *)&u.quiet, NULL);
  sw_swarm_free(u.a.s);
  sw_swarm_free(u.b.s);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1) count = strtoul(argv[1], NULL, 10);
  if (argc > 2) size = strtoul(argv[2], NULL, 10);
  if (argc > 3) transport = !strcmp(argv[3], "extended");
  if (!count || size < sizeof(size_t) || size > SW_MAX_MESSAGE) {
    fprintf(stderr, "usage: bench_poll [COUNT [SIZE [plain|extended]]]\n");
    return 2;
  }
  msg = calloc(1, size);
  if (!msg) return 1;
  int rc = run_poll() || run_uv();
  free(msg);
  return rc;
}
