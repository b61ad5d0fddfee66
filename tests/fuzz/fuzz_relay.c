/* libFuzzer target: the relay and introduction frames as the engine receives them:
 * RELAY_ANN 0x20 (relay.c), RELAY_REQ 0x21 and RELAY_FWD 0x22 (intro.c), CIRCUIT 0x24
 * (relay.c, both the relay's side and the end's side), PROTOCOL.md 11.7, 15.6, 15.7.
 *
 * Input: byte 0 picks the frame and where it comes from, the rest is the frame's body
 * (after its type byte):
 *   bits 0-1  the type: 0x20, 0x21, 0x22, 0x24
 *   bit 2     from an unknown address instead of the verified peer B
 *   bit 3     inside a BATCH of one (the references coalesce control frames)
 * Core A serves as a relay, takes introductions and relayed paths, and has a verified
 * session with core B; both live across inputs, virtual time advancing 10 s per input
 * so circuits, dials and budgets expire and recycle. The frame is copied into a buffer
 * of its exact size so ASan sees any read past it. Besides the sanitizers: every
 * datagram A sends goes to a set address and port. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_relay: %s\n", what);
  abort();
}

static uint64_t g_rng = 0x7e1a7;
static void frand(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    b[i] = (uint8_t)(g_rng >> 56);
  }
}

static sw_core *g_a, *g_b;
static sw_addr g_aaddr, g_baddr, g_unknown;
static uint64_t g_now;

/* Everything `from` sends: what goes to dst is handed to `to`, the rest dropped. */
static void drain(sw_core *from, const sw_addr *src, sw_core *to, const sw_addr *dst) {
  sw_dgram d[64];
  size_t k;
  sw_core_flush(from, g_now);
  while ((k = sw_core_out_peek(from, d, 64)) > 0) {
    for (size_t i = 0; i < k; i++) {
      if (!d[i].to || (d[i].to->family != 4 && d[i].to->family != 6) || !d[i].to->port)
        die("datagram to an unset address");
      if (to && d[i].kind == SW_SOCK_MAIN && addr_equal(d[i].to, dst))
        sw_core_datagram(to, SW_SOCK_MAIN, src, d[i].data, d[i].len, g_now);
    }
    sw_core_out_consume(from, k, g_now);
  }
}

static void exchange(void) {
  for (int i = 0; i < 3; i++) {
    drain(g_a, &g_aaddr, g_b, &g_baddr);
    drain(g_b, &g_baddr, g_a, &g_aaddr);
  }
}

static void setup(void) {
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.random = frand;
  cfg.intro = cfg.relayed = cfg.relay_serve = 1;
  /* B, the relayed peers circuits bring, and room to spare; every timer run and flush
   * scans the table, and the default 100 slots cost most of the target's time */
  cfg.max_peers = 16;
  cfg.seed_hex = "a1";
  if (sw_core_new(&g_a, &cfg, 0)) die("core a");
  cfg.seed_hex = "b2";
  if (sw_core_new(&g_b, &cfg, 0)) die("core b");
  addr_parse_hostport(&g_aaddr, "10.0.0.1:1001");
  addr_parse_hostport(&g_baddr, "10.0.0.2:1002");
  addr_parse_hostport(&g_unknown, "10.66.0.9:6000");
  sw_core_dial(g_a, &g_baddr, NULL, 0);
  exchange();
  core_path bpath = core_path_direct(&g_baddr);
  if (!core_verified_peer(g_a, &bpath, NULL)) die("no verified session");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t types[4] = {WIRE_RELAY_ANN, WIRE_RELAY_REQ, WIRE_RELAY_FWD,
                                   WIRE_CIRCUIT};
  if (!g_a) setup();
  if (size < 1) return 0;
  size_t body = size - 1, len = body + 1 + ((data[0] & 8) ? 4 : 0);
  if (len > 0xffff) return 0;
  uint8_t *buf = malloc(len);
  if (!buf) return 0;
  uint8_t *f = buf;
  if (data[0] & 8) {
    buf[0] = WIRE_BATCH;
    buf[1] = 1;
    buf[2] = (uint8_t)((body + 1) >> 8);
    buf[3] = (uint8_t)(body + 1);
    f = buf + 4;
  }
  f[0] = types[data[0] & 3];
  memcpy(f + 1, data + 1, body);
  g_now += 10000;
  const sw_addr *src = (data[0] & 4) ? &g_unknown : &g_baddr;
  sw_core_datagram(g_a, SW_SOCK_MAIN, src, buf, len, g_now);
  free(buf);
  sw_core_timeout(g_a, g_now);
  sw_core_timeout(g_b, g_now);
  exchange();
  drain(g_a, &g_aaddr, NULL, NULL);
  if (!sw_core_peer_count(g_a)) { /* whatever dropped it, the next input has B again */
    sw_core_dial(g_a, &g_baddr, NULL, g_now);
    exchange();
  }
  return 0;
}
