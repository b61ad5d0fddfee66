/* libFuzzer target: HTTP discovery answers (PROTOCOL.md 14.4 piping records, 14.5
 * HTTP bootstrap /peers lists) as the core receives them through sw_core_http_done.
 *
 * Per input, a fresh core with the HTTP modules (one bootstrap URL, one piping server,
 * no third-party servers), the peer cache, and a joined topic. The input is a script
 * of records op(1) len(2, big-endian) body(len):
 *   op & 3 == 0  the oldest request the core asked for gets status S and body
 *   op & 3 == 1  the request number body[0] (mod the number waiting) gets S, and the
 *                rest of body as its body: answers out of order
 *   op & 3 == 2  time passes: body u16, in seconds (op bit 2: in ms), timers fire
 *   op & 3 == 3  every waiting request fails (transport error, status -1)
 *   S = kStatus[op >> 5] (200, 204, 299, 400, 404, 500, 100, -1)
 * Bodies are copied to buffers of their exact size, so reads past them show. Requests
 * still open at the end fail, so every callback runs once. Besides the sanitizers it
 * checks each request the core makes (method, URL, body) and each datagram the meet
 * path sends (a set address and port). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core.h"
#include "setowire.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kSeed =
    "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
static const char *const kBoot[] = {"http://198.51.100.50:8080/"};
static const char *const kPiping[] = {"https://ppng.example"};
static const int kStatus[8] = {200, 204, 299, 400, 404, 500, 100, -1};

#define WAITING 64
static uint32_t g_wait[WAITING]; /* ids taken and not yet answered, oldest first */
static size_t g_nwait;
static uint64_t g_rng, g_now;
static volatile uint64_t g_sink;

static void die(const char *what) {
  fprintf(stderr, "fuzz_http: %s\n", what);
  abort();
}

static void fuzz_random(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; i++) {
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    buf[i] = (uint8_t)(z ^ (z >> 31));
  }
}

static void on_event(void *ctx, const sw_event *ev) {
  (void)ctx;
  g_sink += ev->type + ev->len + (ev->addr ? strlen(ev->addr) : 0);
}

/* Take every request the core wants made, checking each. */
static void take(sw_core *c) {
  sw_http_request r;
  while (sw_core_http_take(c, &r)) {
    if (!r.method || (strcmp(r.method, "GET") && strcmp(r.method, "POST")))
      die("a request with no known method");
    if (!r.url || strncmp(r.url, "http", 4)) die("a request with no http(s) URL");
    if (r.len && !r.body) die("a request body length without a body");
    if (r.body && r.len) g_sink += r.body[0] + r.body[r.len - 1];
    g_sink += strlen(r.url) + (r.content_type ? strlen(r.content_type) : 0);
    if (g_nwait == WAITING) die("more requests open than the core's bound");
    g_wait[g_nwait++] = r.id;
  }
}

static void drain(sw_core *c) {
  sw_dgram d[16];
  size_t n;
  while ((n = sw_core_out_peek(c, d, 16)) > 0) {
    for (size_t i = 0; i < n; i++)
      if ((d[i].to->family != 4 && d[i].to->family != 6) || !d[i].to->port || !d[i].len)
        die("a datagram to an unset address");
    sw_core_out_consume(c, n, g_now);
  }
  take(c);
}

static void answer(sw_core *c, size_t i, int status, const uint8_t *body, size_t len) {
  uint32_t id = g_wait[i];
  memmove(&g_wait[i], &g_wait[i + 1], (g_nwait - i - 1) * sizeof g_wait[0]);
  g_nwait--;
  uint8_t *copy = len ? malloc(len) : NULL;
  if (len && !copy) return;
  if (len) memcpy(copy, body, len);
  sw_core_http_done(c, id, status, copy, len, g_now);
  free(copy);
  drain(c);
}

static void advance(sw_core *c, uint64_t ms) {
  g_now += ms;
  sw_core_timeout(c, g_now);
  drain(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sw_core *c;
  sw_core_config cfg = {.seed_hex = kSeed,
                        .max_peers = 8,
                        .out_buffer_bytes = 256u * 1024u,
                        .dedup_slots_log2 = 6,
                        .lan_ip = "192.168.1.12",
                        .port = 40002,
                        .peer_cache = 1,
                        .http = 1,
                        .bootstrap_http = kBoot,
                        .n_bootstrap_http = 1,
                        .piping = kPiping,
                        .n_piping = 1,
                        .no_default_servers = 1,
                        .random = fuzz_random,
                        .on_event = on_event};
  g_rng = 0x477;
  g_now = 1000000;
  g_nwait = 0;
  if (sw_core_new(&c, &cfg, g_now)) die("sw_core_new");
  uint8_t topic[32];
  memset(topic, 0x42, sizeof topic);
  sw_core_join(c, topic);
  advance(c, 1000); /* the first queries and announcements */

  const uint8_t *p = data;
  size_t n = size;
  while (n >= 3) {
    uint8_t op = p[0];
    size_t len = wire_get16(p + 1);
    p += 3, n -= 3;
    if (len > n) len = n;
    int status = kStatus[op >> 5];
    switch (op & 3) {
      case 0:
        if (g_nwait) answer(c, 0, status, p, len);
        else advance(c, 1000);
        break;
      case 1:
        if (g_nwait && len) answer(c, p[0] % g_nwait, status, p + 1, len - 1);
        break;
      case 2: {
        uint64_t t = len >= 2 ? wire_get16(p) : len ? p[0] : 1;
        advance(c, (op & 4) ? t : t * 1000);
        break;
      }
      default:
        while (g_nwait) answer(c, 0, -1, NULL, 0);
        break;
    }
    p += len, n -= len;
  }
  while (g_nwait) answer(c, 0, -1, NULL, 0);
  sw_core_close(c, g_now);
  drain(c);
  while (g_nwait) answer(c, 0, -1, NULL, 0);
  g_sink += sw_core_memory(c);
  sw_core_free(c);
  return 0;
}
