/* Shared loopback swarm setups for the runtime's tests (swarm_pair.h). */
#include "swarm_pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

void lo_options(sw_options *o) {
  sw_options_init(o);
  o->bind = "127.0.0.1";
  o->lan = o->dht = o->http = 0; /* only explicit dials: stay on loopback */
  o->no_stun = 1;
}

uint64_t lo_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  lo_node *n = user;
  (void)s;
  if (ev->type == SW_EV_LISTENING) {
    n->listening = 1;
    n->port = ev->port;
  }
  if (ev->type == SW_EV_CONNECTION) {
    n->connected++;
    memcpy(n->peer, ev->peer, SW_WIRE_ID_LEN);
  }
  if (ev->type == SW_EV_CLOSE) n->close = 1;
  if (n->on_other) n->on_other(n, ev);
}

static void on_guard(uv_timer_t *h) { (void)h; }

int lo_run_until(uv_loop_t *loop, const int *flag, uint64_t ms) {
  uv_timer_t guard;
  uv_timer_init(loop, &guard);
  uv_timer_start(&guard, on_guard, 10, 10); /* the loop never sleeps past a check */
  uint64_t end = uv_hrtime() / 1000000u + ms;
  while (!*flag && uv_hrtime() / 1000000u < end) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *flag;
}

void lo_run_for(uv_loop_t *loop, uint64_t ms) {
  int never = 0;
  lo_run_until(loop, &never, ms);
}

void lo_start(uv_loop_t *loop, lo_node *n, int transport) {
  lo_node made = *n; /* keep what it is made with, clear the rest */
  memset(n, 0, sizeof *n);
  n->seed_hex = made.seed_hex;
  n->storage = made.storage;
  n->on_other = made.on_other;
  n->ctx = made.ctx;
  sw_options o;
  lo_options(&o);
  o.transport = transport;
  o.seed_hex = n->seed_hex;
  o.storage = n->storage;
  o.on_event = on_event;
  o.user = n;
  assert_int_equal(sw_swarm_new(&n->s, &o, loop), SW_OK);
  assert_true(lo_run_until(loop, &n->listening, 2000));
}

void lo_pair(uv_loop_t *loop, lo_node *a, lo_node *b, int transport) {
  lo_start(loop, a, transport);
  lo_start(loop, b, transport);
  char target[32];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)a->port);
  assert_int_equal(sw_swarm_connect(b->s, target), SW_OK);
  assert_true(lo_run_until(loop, &b->connected, 5000));
  assert_true(lo_run_until(loop, &a->connected, 5000));
  lo_run_for(loop, 300); /* the extended handshake, and the first PINGs */
}

void lo_unpair(uv_loop_t *loop, lo_node *a, lo_node *b) {
  assert_int_equal(sw_swarm_close(a->s), SW_OK);
  assert_int_equal(sw_swarm_close(b->s), SW_OK);
  assert_true(lo_run_until(loop, &a->close, 5000));
  assert_true(lo_run_until(loop, &b->close, 5000));
  sw_swarm_free(a->s);
  sw_swarm_free(b->s);
}

/* ---- a fetch's completion, recorded ------------------------------------------------ */

static int inside_call; /* set while lo_fetch / lo_fetch_cancel runs */

static void on_done(sw_swarm *s, int err, const char *key, const uint8_t *v, size_t len,
                    const uint8_t *peer, void *user) {
  lo_fetched *r = user;
  (void)s, (void)key;
  r->calls++;
  r->err = err;
  r->len = len;
  r->cb_inside |= inside_call;
  free(r->val);
  r->val = NULL;
  if (v && len) {
    r->val = malloc(len);
    memcpy(r->val, v, len);
  }
  r->has_peer = peer != NULL;
  if (peer) memcpy(r->peer, peer, SW_WIRE_ID_LEN);
}

int lo_fetch(lo_node *n, const char *key, const sw_fetch_opts *o, lo_fetched *r,
             sw_fetch **h) {
  inside_call = 1;
  int rc = sw_swarm_fetch_ex(n->s, key, o, on_done, r, h);
  inside_call = 0;
  return rc;
}

int lo_fetch_cancel(sw_fetch *h) {
  inside_call = 1;
  int rc = sw_swarm_fetch_cancel(h);
  inside_call = 0;
  return rc;
}

void lo_fetch_wait(uv_loop_t *loop, lo_node *n, const char *key, const sw_fetch_opts *o,
                   lo_fetched *r) {
  free(r->val);
  memset(r, 0, sizeof *r);
  assert_int_equal(lo_fetch(n, key, o, r, NULL), SW_OK);
  assert_true(lo_run_until(loop, &r->calls, 12000));
}
