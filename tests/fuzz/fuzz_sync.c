/* libFuzzer target: the sync frames (HAVE, WANT, CHUNK both forms, CHUNK_ACK).
 *
 * 1. The whole input goes to sync_decode and the HAVE iterator; views must stay
 *    inside the input and every decoded frame must re-encode to the same bytes.
 * 2. Then the input drives a core with the sync module: a reference peer (a plain
 *    41-byte HELLO from seed 01 at 192.0.2.1:4000) is connected, we fetch "k" and
 *    "big" (so it is asked and its CHUNKs count), and hold a 5 000-byte value "v" (so
 *    its WANTs start a windowed transfer); we also fetch a signed key of the peer's
 *    signing key and a content key (docs/VALUES.md: every value for them is checked)
 *    and hold a signed value of our own (a HAVE for it starts a refresh). The input is
 *    cut into records
 *    [u8 flags][u16be length][frame]: flags bit 0 sends from a stranger instead of the
 *    peer, bits 1-7 advance virtual time by that many x 100 ms. Outgoing datagrams are
 *    drained and dropped. Sanitizers check memory; the module's byte counters must
 *    return to zero when the core is freed (leaks are LeakSanitizer's). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core.h"
#include "crypto.h"
#include "sync.h"
#include "sync_value.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_sync: %s\n", what);
  abort();
}

static int inside(const uint8_t *b, size_t len, const uint8_t *p, size_t n) {
  return p >= b && n <= len && (size_t)(p - b) <= len - n;
}

/* The stream messages of PROTOCOL.md 21.10: views inside, and a re-encoding that gives
 * the same bytes (WANT/NONE/CANCEL: up to the key, the rest being ignored). */
static void check_stream(const uint8_t *b, size_t len) {
  sync_smsg m;
  if (sync_stream_decode(b, len, &m)) return;
  if (!inside(b, len, m.key, m.klen) || m.klen == 0) die("stream key outside the message");
  int valued = m.type == SYNC_S_VALUE || m.type == SYNC_S_PIECE || m.type == SYNC_S_VALUE_TTL;
  if (valued && (!m.dlen || !inside(b, len, m.data, m.dlen)))
    die("stream data outside the message");
  if ((m.type == SYNC_S_VALUE || m.type == SYNC_S_VALUE_TTL) && m.dlen > m.num)
    die("VALUE longer than its total");
  if (m.type == SYNC_S_VALUE_TTL && m.ttl_ms == 0) die("VALUE_TTL without a lifetime");
  uint8_t *enc = malloc(SYNC_STREAM_HDR + len);
  if (!enc) return;
  size_t n = m.type == SYNC_S_VALUE_TTL
                 ? sync_stream_encode_ttl(enc, m.key, m.klen, m.num, m.ttl_ms, m.data, m.dlen)
                 : sync_stream_encode(enc, m.type, m.key, m.klen, m.num, m.data, m.dlen);
  if (n > len || memcmp(enc, b, n) != 0) die("stream message does not re-encode");
  if (valued && n != len) die("stream message length");
  free(enc);
}

static void check_codec(const uint8_t *b, size_t len) {
  check_stream(b, len);
  sync_frame f;
  uint8_t *enc;
  size_t n;
  if (sync_decode(b, len, &f)) return;
  if (f.type == WIRE_HAVE) {
    size_t off = 2, kl;
    const uint8_t *k;
    unsigned count = 0;
    while (count < f.nkeys && sync_have_next(b, len, &off, &k, &kl)) {
      if (!inside(b, len, k, kl)) die("have key outside the frame");
      count++;
    }
    return;
  }
  if (!inside(b, len, f.key, f.klen) || f.klen == 0 || f.klen > SYNC_KEY_MAX)
    die("key outside the frame");
  enc = malloc(8 + SYNC_KEY_MAX + (len > 900 ? len : 900));
  if (!enc) return;
  switch (f.type) {
    case WIRE_WANT: n = sync_want_encode(enc, f.key, f.klen); break;
    case WIRE_CHUNK_ACK: n = sync_ack_encode(enc, f.key, f.klen, f.index); break;
    default:
      if (!inside(b, len, f.value, f.vlen)) die("value outside the frame");
      n = f.large ? sync_chunk_large_encode(enc, f.key, f.klen, f.index, f.count, f.value, f.vlen)
                  : sync_chunk_small_encode(enc, f.key, f.klen, f.value, f.vlen);
  }
  /* Decoders ignore trailing bytes (WANT, small CHUNK, ACK): compare the prefix. */
  if (n > len || memcmp(enc, b, n) != 0) die("round trip");
  free(enc);
}

static uint64_t g_rng;
static void rnd(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    b[i] = (uint8_t)(g_rng >> 56);
  }
}

static void on_result(void *user, int err, const char *key, const uint8_t *v, size_t len) {
  (void)user;
  (void)key;
  /* a delivered value is complete: readable to its last byte */
  if (!err && len) {
    volatile uint8_t x = v[0] ^ v[len - 1];
    (void)x;
  }
}

static void drain(sw_core *c, uint64_t now) {
  sw_dgram d[64];
  size_t n;
  sw_core_flush(c, now);
  while ((n = sw_core_out_peek(c, d, 64)) > 0) sw_core_out_consume(c, n, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_codec(data, size);

  static uint8_t hello[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  static size_t hello_len;
  static sw_addr peer, stranger;
  static char skey[SW_KEY_MAX + 1], ckey[SV_CONTENT_KEY_LEN + 1];
  if (!hello_len) {
    crypto_identity id;
    crypto_signer sg;
    if (crypto_identity_from_hex(&id, "01")) die("identity");
    if (crypto_signer_from_identity(&sg, &id) || sv_signed_key(skey, sg.pub, "s") < 0)
      die("signed key");
    sv_content_key(ckey, "c", 1);
    hello_len = wire_hello_encode(hello, WIRE_HELLO, id.id, id.pub, -1);
    addr_parse_hostport(&peer, "192.0.2.1:4000");
    addr_parse_hostport(&stranger, "198.51.100.9:9");
  }
  g_rng = 1;
  sw_core *c;
  /* small tables: a core per input must be cheap, and every timer run scans the peer
   * table (the peer and, at most, a stranger that says HELLO: 4 slots are plenty) */
  sw_core_config cfg = {.seed_hex = "1f", .random = rnd, .sync = 1, .dedup_slots_log2 = 6,
                        .max_peers = 4, .out_buffer_bytes = 256u * 1024u};
  if (sw_core_new(&c, &cfg, 0)) die("core");
  uint64_t now = 0;
  sw_core_datagram(c, SW_SOCK_MAIN, &peer, hello, hello_len, now);
  if (sw_core_peer_count(c) != 1) die("no peer");
  static uint8_t v[5000];
  memset(v, 0x5a, sizeof v);
  sw_core_store(c, "v", v, sizeof v, now);
  sw_core_fetch(c, "k", 5000, on_result, NULL, now);
  sw_core_fetch(c, "big", 60000, on_result, NULL, now);
  sw_core_fetch(c, "big", 1000, on_result, NULL, now);
  sw_core_fetch(c, skey, 5000, on_result, NULL, now);
  sw_core_fetch(c, ckey, 5000, on_result, NULL, now);
  if (sw_core_store_signed(c, "mine", "signed", 6, 0, NULL, now)) die("store_signed");
  drain(c, now);
  size_t o = 0;
  while (o + 3 <= size) {
    uint8_t flags = data[o];
    size_t n = (size_t)data[o + 1] << 8 | data[o + 2];
    o += 3;
    if (n > size - o) n = size - o;
    /* The timers are looked at when time moves: a deadline the last datagram set at
     * `now` fires with the next step (a record with flags bits 1-7 clear costs no scan
     * of the core's tables, so long scripts of datagrams stay fast). */
    if (flags >> 1) {
      now += (uint64_t)(flags >> 1) * 100;
      if (sw_core_deadline(c) <= now) sw_core_timeout(c, now);
    }
    sw_core_datagram(c, SW_SOCK_MAIN, (flags & 1) ? &stranger : &peer, data + o, n, now);
    drain(c, now);
    o += n;
  }
  now += 61000; /* every timer fires: fetches end, transfers are dropped */
  for (uint64_t t; (t = sw_core_deadline(c)) <= now;) { /* one deadline scan per step */
    sw_core_timeout(c, t);
    drain(c, now);
  }
  sync_stats st;
  if (sync_get_stats(c, &st)) die("stats");
  if (st.reassembly_bytes) die("reassembly left after every fetch ended");
  sw_core_free(c);
  return 0;
}
