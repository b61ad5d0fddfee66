/* libFuzzer target: the LAN beacon and PEX parsers, alone and inside a core.
 *
 * Input: byte 0 selects the path, the rest is the datagram.
 *   even: a LAN beacon. lan_beacon_parse must accept or refuse without reading past
 *         the buffer; what it accepts must re-encode (lan_beacon_encode) to bytes that
 *         parse to the same beacon. Then the datagram goes to a joined core with the
 *         LAN module as a SW_SOCK_LAN datagram.
 *   odd:  a PEX frame. pex_parse must return at most PEX_MAX entries, each with an id
 *         length of 8 or 20 and a port; they must re-encode and parse back. Then the
 *         frame goes to a core from the address of a verified peer (PEX module).
 * The datagram is copied into a buffer of its exact size so ASan sees any overread.
 * The cores live across inputs; virtual time advances 10 s per input so their dial
 * tables and meet budget recycle. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "lan.h"
#include "pex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_lan: %s\n", what);
  abort();
}

static uint64_t g_rng = 0x1234567;
static void frand(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    b[i] = (uint8_t)(g_rng >> 56);
  }
}

static sw_core *g_a, *g_b;
static sw_addr g_aaddr, g_baddr;
static uint64_t g_now;

static void drain(sw_core *from, const sw_addr *src, sw_core *to, const sw_addr *dst) {
  sw_dgram d[64];
  size_t k;
  sw_core_flush(from, g_now);
  while ((k = sw_core_out_peek(from, d, 64)) > 0) {
    for (size_t i = 0; i < k && to; i++)
      if (d[i].kind == SW_SOCK_MAIN && addr_equal(d[i].to, dst))
        sw_core_datagram(to, SW_SOCK_MAIN, src, d[i].data, d[i].len, g_now);
    sw_core_out_consume(from, k, g_now);
  }
}

static void setup(void) {
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.random = frand;
  cfg.lan = cfg.pex = cfg.peer_cache = 1;
  /* the other core and what beacons and PEX dial: every timer run scans the table, so
   * 16 slots, not the default 100 (a full table is a case the input can reach sooner) */
  cfg.max_peers = 16;
  cfg.lan_ip = "10.0.0.1";
  cfg.port = 1001;
  cfg.seed_hex = "a1";
  if (sw_core_new(&g_a, &cfg, 0)) die("core a");
  cfg.seed_hex = "b2";
  cfg.lan_ip = "10.0.0.2";
  cfg.port = 1002;
  if (sw_core_new(&g_b, &cfg, 0)) die("core b");
  addr_parse_hostport(&g_aaddr, "10.0.0.1:1001");
  addr_parse_hostport(&g_baddr, "10.0.0.2:1002");
  uint8_t topic[32];
  memset(topic, 7, sizeof topic);
  sw_core_join(g_a, topic);
  sw_core_dial(g_a, &g_baddr, NULL, 0);
  for (int i = 0; i < 4; i++) {
    drain(g_a, &g_aaddr, g_b, &g_baddr);
    drain(g_b, &g_baddr, g_a, &g_aaddr);
  }
  core_path bpath = core_path_direct(&g_baddr);
  if (!core_verified_peer(g_a, &bpath, NULL)) die("no verified session");
}

static void check_beacon(const uint8_t *buf, size_t len) {
  lan_beacon b, b2;
  uint8_t enc[LAN_BEACON_MAX];
  if (lan_beacon_parse(buf, len, &b) != SW_OK) return;
  size_t n = lan_beacon_encode(enc, sizeof enc, b.id, &b.addr, b.topic);
  if (!n) die("an accepted beacon does not encode");
  if (lan_beacon_parse(enc, n, &b2) != SW_OK) die("an encoded beacon does not parse");
  if (memcmp(b.id, b2.id, 20) || !addr_equal(&b.addr, &b2.addr) || strcmp(b.topic, b2.topic))
    die("beacon round trip differs");
}

static void check_pex(const uint8_t *buf, size_t len) {
  pex_entry e[PEX_MAX], e2[PEX_MAX];
  size_t n, n2;
  if (pex_parse(buf, len, e, PEX_MAX, &n) != SW_OK) return;
  if (n > PEX_MAX) die("too many entries");
  for (size_t i = 0; i < n; i++)
    if ((e[i].idlen != 8 && e[i].idlen != 20) || !e[i].addr.port) die("bad entry accepted");
  if (!n) return; /* an empty list encodes to 2 bytes, which no receiver takes */
  uint8_t enc[PEX_FRAME_MAX];
  size_t el = pex_encode(enc, sizeof enc, e, n);
  if (!el) die("accepted entries do not encode");
  if (pex_parse(enc, el, e2, PEX_MAX, &n2) != SW_OK || n2 != n) die("pex round trip count");
  for (size_t i = 0; i < n; i++)
    if (e2[i].idlen != e[i].idlen || memcmp(e2[i].id, e[i].id, e[i].idlen) ||
        !addr_equal(&e2[i].addr, &e[i].addr))
      die("pex round trip differs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_a) setup();
  if (size < 1) return 0;
  size_t len = size - 1;
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, len);
  g_now += 10000;
  if (data[0] % 2 == 0) {
    check_beacon(buf, len);
    sw_core_datagram(g_a, SW_SOCK_LAN, &g_baddr, buf, len, g_now);
  } else {
    check_pex(buf, len);
    sw_core_datagram(g_a, SW_SOCK_MAIN, &g_baddr, buf, len, g_now);
  }
  sw_core_timeout(g_a, g_now);
  sw_core_timeout(g_b, g_now);
  /* keep the session alive: the heartbeat's PINGs and PONGs both ways */
  drain(g_a, &g_aaddr, g_b, &g_baddr);
  drain(g_b, &g_baddr, g_a, &g_aaddr);
  drain(g_a, &g_aaddr, NULL, NULL);
  free(buf);
  return 0;
}
