/* The owned loop's extras, on loopback: sw_swarm_loop (the application's own libuv
 * handles beside the swarm, which must not keep sw_swarm_run going after SW_EV_CLOSE)
 * and sw_swarm_close_on_signal (a signal closes the swarm as sw_swarm_close does, the
 * peer hearing the goodbye; a second signal ends the drain). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"

typedef struct side {
  int listening, connected, disconnected, closed;
} side;

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  side *v = user;
  (void)s;
  if (ev->type == SW_EV_LISTENING) v->listening++;
  if (ev->type == SW_EV_CONNECTION) v->connected++;
  if (ev->type == SW_EV_DISCONNECT) v->disconnected++;
  if (ev->type == SW_EV_CLOSE) v->closed++;
}

static sw_swarm *make(side *v, uv_loop_t *loop) {
  sw_options o;
  lo_options(&o);
  o.on_event = on_event;
  o.user = v;
  sw_swarm *s = NULL;
  assert_int_equal(sw_swarm_new(&s, &o, loop), SW_OK);
  return s;
}

/* ---- sw_swarm_loop ------------------------------------------------------------------ */

typedef struct ticker {
  uv_timer_t t;
  sw_swarm *s;
  int ticks;
} ticker;

static void on_tick(uv_timer_t *t) {
  ticker *k = t->data;
  if (++k->ticks == 3) sw_swarm_close(k->s);
}

static void test_own_handles_on_owned_loop(void **state) {
  (void)state;
  side v = {0};
  sw_swarm *s = make(&v, NULL);
  uv_loop_t *loop = sw_swarm_loop(s);
  assert_non_null(loop);
  /* A repeating timer of the application's: it would keep uv_run(DEFAULT) going. */
  ticker k = {.s = s};
  assert_int_equal(uv_timer_init(loop, &k.t), 0);
  k.t.data = &k;
  assert_int_equal(uv_timer_start(&k.t, on_tick, 5, 5), 0);
  assert_int_equal(sw_swarm_run(s), SW_OK); /* returns after SW_EV_CLOSE */
  assert_int_equal(v.closed, 1);
  assert_true(k.ticks >= 3);
  assert_int_equal(sw_swarm_run(s), SW_OK); /* closed: returns at once */
  uv_close((uv_handle_t *)&k.t, NULL); /* its close callback runs in sw_swarm_free */
  sw_swarm_free(s);
  /* A swarm on the application's loop hands that loop back. */
  uv_loop_t mine;
  assert_int_equal(uv_loop_init(&mine), 0);
  side w = {0};
  s = make(&w, &mine);
  assert_ptr_equal(sw_swarm_loop(s), &mine);
  assert_int_equal(sw_swarm_run(s), SW_EINVAL);
  assert_int_equal(sw_swarm_close(s), SW_OK);
  while (!w.closed) uv_run(&mine, UV_RUN_ONCE);
  sw_swarm_free(s);
  assert_int_equal(uv_loop_close(&mine), 0);
}

/* ---- sw_swarm_close_on_signal ---------------------------------------------------------- */

static void test_close_on_signal(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  side a = {0}, b = {0};
  sw_swarm *sa = make(&a, &loop), *sb = make(&b, &loop);
  assert_int_equal(sw_swarm_close_on_signal(NULL, SIGUSR1), SW_EINVAL);
  assert_int_equal(sw_swarm_close_on_signal(sb, 0), SW_EINVAL);
  assert_int_equal(sw_swarm_close_on_signal(sb, SIGKILL), SW_EINVAL);
  assert_int_equal(sw_swarm_close_on_signal(sb, SIGUSR1), SW_OK);
  assert_int_equal(sw_swarm_close_on_signal(sb, SIGUSR1), SW_OK); /* already watched */
  char target[SW_ADDRSTRLEN];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)sw_swarm_port(sa));
  assert_int_equal(sw_swarm_connect(sb, target), SW_OK);
  for (int i = 0; i < 2000 && (!a.connected || !b.connected); i++) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(a.connected, 1);
  /* The signal closes b, which says goodbye: a sees the disconnect at once. */
  uint64_t t0 = uv_hrtime();
  assert_int_equal(raise(SIGUSR1), 0);
  for (int i = 0; i < 2000 && (!b.closed || !a.disconnected); i++) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(b.closed, 1);
  assert_int_equal(a.disconnected, 1);
  assert_true(uv_hrtime() - t0 < 2000000000ull);
  assert_int_equal(sw_swarm_close_on_signal(sb, SIGUSR2), SW_ECLOSED);
  sw_swarm_free(sb);
  /* The handler went with the swarm: a signal now would be the default action. */
  struct sigaction sa_now;
  assert_int_equal(sigaction(SIGUSR1, NULL, &sa_now), 0);
  assert_true(sa_now.sa_handler == SIG_DFL);
  assert_int_equal(sw_swarm_close(sa), SW_OK);
  while (!a.closed) uv_run(&loop, UV_RUN_ONCE);
  sw_swarm_free(sa);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_own_handles_on_owned_loop),
      cmocka_unit_test(test_close_on_signal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
