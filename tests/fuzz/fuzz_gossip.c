/* libFuzzer target: the JSON records peers and servers hand us: the references' gossip
 * object inside DATA (gossip.h, PROTOCOL.md 13.4, D14) and the me record a meet reads
 * (merec.h, 14.2: piping records, DHT values, relay: records).
 *
 * Input: byte 0 selects the path, the rest is the text.
 *   even: gossip_check on the text (a buffer of its exact size, so ASan sees any read
 *         past it). What it accepts must have a 16-hex id whose bytes are the wire id it
 *         reports, and an address that is unset or has a port; what it refuses for
 *         being no gossip object (no leading '{', no "_gossip") is refused cheaply.
 *   odd:  the text parsed as JSON and handed to merec_meet on a joined core: at most
 *         two dials (public and LAN endpoint), each to a set address; merec_parse_id on
 *         the text itself, NUL-terminated.
 * One core lives across inputs; virtual time advances 10 s per input so its dial table
 * and meet budget recycle. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "gossip.h"
#include "merec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_gossip: %s\n", what);
  abort();
}

static uint64_t g_rng = 0x51ed27;
static void frand(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    b[i] = (uint8_t)(g_rng >> 56);
  }
}

static sw_core *g_c;
static uint64_t g_now;

static size_t drain(void) {
  sw_dgram d[64];
  size_t k, n = 0;
  sw_core_flush(g_c, g_now);
  while ((k = sw_core_out_peek(g_c, d, 64)) > 0) {
    for (size_t i = 0; i < k; i++) {
      if (!d[i].to || (d[i].to->family != 4 && d[i].to->family != 6) || !d[i].to->port)
        die("datagram to an unset address");
      n++;
    }
    sw_core_out_consume(g_c, k, g_now);
  }
  return n;
}

static int hexval(int ch) {
  return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static void check_gossip(const uint8_t *buf, size_t len) {
  gossip_info gi;
  memset(&gi, 0x5a, sizeof gi);
  int ok = gossip_check(buf, len, &gi);
  if (!ok) return;
  if (len < 2 || buf[0] != '{' || len > GOSSIP_MAX_LEN) die("accepted a non-object");
  if (!memmem(buf, len, "\"_gossip\"", 9)) die("accepted without the tag");
  if (gi.addr.family != 0 && gi.addr.family != 4 && gi.addr.family != 6) die("bad family");
  if (gi.addr.family && !gi.addr.port) die("address without port");
  /* the id it reports is the 16 hex digits of the object */
  json_error_t err;
  json_t *o = json_loadb((const char *)buf, len, 0, &err);
  const char *ids = json_string_value(json_object_get(o, "id"));
  if (!ids || strlen(ids) != 16) die("accepted without a 16-char id");
  for (int i = 0; i < 8; i++) {
    int hi = hexval(ids[2 * i]), lo = hexval(ids[2 * i + 1]);
    if (hi < 0 || lo < 0 || gi.wire[i] != (uint8_t)(hi << 4 | lo)) die("wire id differs");
  }
  json_decref(o);
}

static void check_merec(const uint8_t *buf, size_t len) {
  json_error_t err;
  char *text = malloc(len + 1);
  if (!text) return;
  memcpy(text, buf, len);
  text[len] = 0;
  uint8_t id[20];
  if (merec_parse_id(text, id) == SW_OK && strlen(text) != 40) die("id of the wrong length");
  json_t *rec = json_loadb((const char *)buf, len, 0, &err);
  free(text);
  if (!rec) return;
  int dials = merec_meet(g_c, rec, g_now);
  if (dials > 2) die("more than two dials from one record");
  json_decref(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_c) {
    sw_core_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.seed_hex = "9055";
    cfg.random = frand;
    if (sw_core_new(&g_c, &cfg, 0)) die("sw_core_new");
    uint8_t topic[32];
    memset(topic, 9, sizeof topic);
    sw_core_join(g_c, topic);
  }
  if (size < 1) return 0;
  size_t len = size - 1;
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, len);
  g_now += 10000;
  if (data[0] % 2 == 0) check_gossip(buf, len);
  else check_merec(buf, len);
  sw_core_timeout(g_c, g_now);
  drain();
  free(buf);
  return 0;
}
