/* The protocol engine alone, no sockets: how many messages per second one core can
 * seal into datagrams and another can open and deliver, on one thread. This is the
 * ceiling the loopback benchmark (bench_loopback) can approach.
 *
 * usage: bench_core [messages] [size] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

typedef struct node {
  sw_core *core;
  sw_addr addr;
  uint64_t delivered;
  int connected;
  uint8_t peer[8];
} node;

static uint64_t rng_state = 42;
static void rnd(void *ctx, uint8_t *buf, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    buf[i] = (uint8_t)(rng_state >> 56);
  }
}

static void on_event(void *ctx, const sw_event *ev) {
  node *n = ctx;
  if (ev->type == SW_EV_DATA) n->delivered++;
  if (ev->type == SW_EV_CONNECTION) {
    n->connected = 1;
    memcpy(n->peer, ev->peer, 8);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Move everything `from` has queued into `to`; returns datagrams moved. */
static size_t pump(node *from, node *to, uint64_t now) {
  sw_dgram d[64];
  size_t total = 0, n;
  sw_core_flush(from->core, now);
  while ((n = sw_core_out_peek(from->core, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++)
      sw_core_datagram(to->core, SW_SOCK_MAIN, &from->addr, d[i].data, d[i].len, now);
    sw_core_out_consume(from->core, n, now);
    total += n;
  }
  return total;
}

int main(int argc, char **argv) {
  size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
  size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
  if (size < 8 || size > SW_MAX_MESSAGE) return 2;
  node a = {0}, b = {0};
  sw_core_config ca = {.seed_hex = "01", .random = rnd, .on_event = on_event, .ctx = &a};
  sw_core_config cb = {.seed_hex = "02", .random = rnd, .on_event = on_event, .ctx = &b};
  if (sw_core_new(&a.core, &ca, 0) || sw_core_new(&b.core, &cb, 0)) return 1;
  addr_parse_ip(&a.addr, "127.0.0.1", 1000);
  addr_parse_ip(&b.addr, "127.0.0.1", 2000);
  sw_core_dial(a.core, &b.addr, NULL, 0);
  for (int i = 0; i < 4 && !(a.connected && b.connected); i++) {
    pump(&a, &b, 0);
    pump(&b, &a, 0);
  }
  if (!a.connected || !b.connected) {
    fprintf(stderr, "no handshake\n");
    return 1;
  }
  uint8_t *msg = calloc(1, size);
  size_t dgrams = 0;
  double t0 = now_s();
  for (size_t i = 0; i < count; i++) {
    memcpy(msg, &i, sizeof i); /* distinct content: dedup would drop repeats */
    int rc = sw_core_write(a.core, a.peer, msg, size, 0);
    if (rc == SW_EAGAIN) {
      dgrams += pump(&a, &b, 0);
      rc = sw_core_write(a.core, a.peer, msg, size, 0);
    }
    if (rc) {
      fprintf(stderr, "write: %s\n", sw_strerror(rc));
      return 1;
    }
  }
  dgrams += pump(&a, &b, 0);
  double dt = now_s() - t0;
  printf("bench_core: %zu messages of %zu bytes: %.0f msg/s, %.1f MB/s, %zu datagrams, "
         "delivered %llu\n",
         count, size, count / dt, count * size / dt / 1e6, dgrams,
         (unsigned long long)b.delivered);
  free(msg);
  sw_core_free(a.core);
  sw_core_free(b.core);
  return b.delivered == count ? 0 : 1;
}
