/* libFuzzer target: DHT messages (src/core/dht.c, PROTOCOL.md 14.6, D18).
 *
 * Input: byte 0 = mode, the rest the body.
 *   mode & 1 == 0: the body is one datagram.
 *   mode & 1 == 1: the body is a script of records len(2, big endian) + datagram,
 *                  fed one after another.
 *   mode & 2: the datagrams come from one of 8 source addresses (else from one).
 *   mode & 4: after each datagram, virtual time advances by 1..4 s and the core's
 *             timers run (request timeouts, lookups, expiry).
 * Each datagram is given to dht_parse (and, when accepted, encoded and parsed again,
 * which must give the same message) and to a long-lived core whose DHT module has
 * joined a topic, so replies, lookups and stores run on fuzzed data. Everything the
 * core sends is drained; the write tokens it hands each source are kept, and a datagram
 * carrying a "token" member is fed with the real token of its source (else every
 * ANNOUNCE_PEER and tokened STORE would be refused and the tables never fill). Besides the sanitizers it checks the round trip and that
 * the core's memory stays under its bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core.h"
#include "dht.h"
#include "setowire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_dht: %s\n", what);
  abort();
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static void rnd(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    b[i] = (uint8_t)(g_rng >> 56);
  }
}

static sw_core *g_core;
static uint64_t g_now = 1000;
static sw_addr g_src[8];

static void setup(void) {
  if (g_core) return;
  sw_addr boot;
  addr_parse_hostport(&boot, "198.51.100.22:49739");
  dht_config dc = {.bootstrap = &boot, .nbootstrap = 1, .relay = 1};
  /* the DHT's dials go to addresses that never answer: 8 peer slots, not the default
   * 100 that every timer run would scan */
  sw_core_config cfg = {.random = rnd, .dht = &dc, .dedup_slots_log2 = 8, .port = 40000,
                        .max_peers = 8};
  if (sw_core_new(&g_core, &cfg, g_now) != SW_OK) die("sw_core_new");
  uint8_t topic[32];
  memset(topic, 0x5a, sizeof topic);
  sw_core_join(g_core, topic);
  for (int i = 0; i < 8; i++) {
    char a[32];
    snprintf(a, sizeof a, "198.51.100.%d:%d", 20 + i, 49738 + i);
    addr_parse_hostport(&g_src[i], a);
  }
}

static uint8_t g_tok[8][DHT_TOKEN_LEN];
static int g_has_tok[8];

static void drain(void) {
  sw_dgram d[64];
  size_t n;
  static dht_msg m;
  sw_core_flush(g_core, g_now);
  while ((n = sw_core_out_peek(g_core, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++) {
      if (d[i].kind != SW_SOCK_DHT || dht_parse(d[i].data, d[i].len, &m) != SW_OK || !m.has_token)
        continue;
      for (int s = 0; s < 8; s++)
        if (addr_equal(d[i].to, &g_src[s])) {
          memcpy(g_tok[s], m.token, DHT_TOKEN_LEN);
          g_has_tok[s] = 1;
        }
    }
    sw_core_out_consume(g_core, n, g_now);
  }
}

static void same(const dht_msg *a, const dht_msg *b) {
  if (a->type != b->type || a->has_from != b->has_from || a->has_rpc != b->has_rpc ||
      (a->has_rpc && a->rpc != b->rpc) || a->nnodes != b->nnodes || a->npeers != b->npeers ||
      a->has_value != b->has_value || a->value_len != b->value_len ||
      memcmp(a->value, b->value, a->value_len) || a->has_key != b->has_key ||
      (a->has_key && memcmp(a->key, b->key, 20)) || a->port != b->port ||
      a->has_token != b->has_token || (a->has_token && memcmp(a->token, b->token, DHT_TOKEN_LEN)))
    die("encode/parse round trip differs");
  for (size_t i = 0; i < a->nnodes; i++)
    if (memcmp(a->nodes[i].id, b->nodes[i].id, 20) || !addr_equal(&a->nodes[i].addr, &b->nodes[i].addr))
      die("node differs after round trip");
}

static void one(const uint8_t *d, size_t len, int src, int tick) {
  /* exact-size copy: ASan sees any read past the datagram */
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return;
  memcpy(buf, d, len);
  static dht_msg m, back;
  static uint8_t enc[DHT_MAX_DATAGRAM];
  int tokened = 0;
  if (dht_parse(buf, len, &m) == SW_OK) {
    int n = dht_encode(&m, enc, sizeof enc);
    if (n > 0) {
      if (dht_parse(enc, (size_t)n, &back) != SW_OK) die("our own encoding refused");
      same(&m, &back);
    }
    if (m.has_token && g_has_tok[src & 7]) { /* the real token of this source */
      memcpy(m.token, g_tok[src & 7], DHT_TOKEN_LEN);
      n = dht_encode(&m, enc, sizeof enc);
      if (n > 0) {
        sw_core_datagram(g_core, SW_SOCK_DHT, &g_src[src & 7], enc, (size_t)n, g_now);
        tokened = 1;
      }
    }
  }
  if (!tokened) sw_core_datagram(g_core, SW_SOCK_DHT, &g_src[src & 7], buf, len, g_now);
  free(buf);
  if (tick) {
    g_now += 1000 + (uint64_t)(len ? d[0] & 3 : 0) * 1000;
    if (sw_core_deadline(g_core) <= g_now) sw_core_timeout(g_core, g_now);
  }
  drain();
  if (sw_core_memory(g_core) > (64u << 20)) die("memory over its bound");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  if (size < 1) return 0;
  int mode = data[0];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  if (!(mode & 1)) {
    one(p, n, (mode & 2) ? (mode >> 3) : 0, mode & 4);
    return 0;
  }
  int k = 0;
  while (n >= 2) {
    size_t len = (size_t)p[0] << 8 | p[1];
    p += 2;
    n -= 2;
    if (len > n) len = n;
    one(p, len, (mode & 2) ? k : 0, mode & 4);
    p += len;
    n -= len;
    k++;
  }
  return 0;
}
