/* libFuzzer target: the frame codecs and address parsers, called directly.
 *
 * The whole input is given, as bytes, to wire_hello_decode, wire_frag_decode and the
 * BATCH iterator (recursing into sub-frames the way dispatch does), and, as a
 * NUL-terminated copy, to addr_split_hostport, addr_parse_hostport and
 * crypto_hex_decode (the seed parser). Buffers are allocated at their exact size so
 * ASan sees any byte read or written past them. Besides the sanitizers it checks that
 * decoders return views inside the input and that decode/encode round trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "crypto.h"
#include "setowire.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink;

static void die(const char *what) {
  fprintf(stderr, "fuzz_wire: %s\n", what);
  abort();
}

static int inside(const uint8_t *buf, size_t len, const uint8_t *p, size_t n) {
  return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void check_hello(const uint8_t *buf, size_t len) {
  wire_hello h;
  uint8_t enc[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  if (wire_hello_decode(buf, len, &h)) return;
  if (!inside(buf, len, h.wire_id, 8) || !inside(buf, len, h.pub, 32))
    die("hello fields outside the frame");
  size_t n = wire_hello_encode(enc, h.type, h.wire_id, h.pub, h.extended ? h.caps : -1);
  /* The trailer round trips except its version byte: later versions are accepted
   * and we always write ours. */
  size_t cmp = h.extended ? WIRE_HELLO_LEN + 2 : WIRE_HELLO_LEN;
  if (n > len || memcmp(enc, buf, cmp) != 0 || (h.extended && enc[44] != buf[44]))
    die("hello round trip");
}

static void check_frag(const uint8_t *buf, size_t len) {
  wire_frag f;
  if (wire_frag_decode(buf, len, &f)) return;
  if (!inside(buf, len, f.frag_id, 8) || !inside(buf, len, f.data, f.len))
    die("frag fields outside the frame");
  if (f.index >= f.count || f.len > WIRE_FRAG_DATA_MAX) die("frag decode accepted bad set");
  uint8_t *enc = malloc(WIRE_FRAG_HDR + f.len);
  if (!enc) return;
  size_t n = wire_frag_encode(enc, f.frag_id, f.index, f.count, f.data, f.len);
  if (n != len || memcmp(enc, buf, len) != 0) die("frag round trip");
  free(enc);
}

static void check_frame(const uint8_t *buf, size_t len, int depth) {
  check_hello(buf, len);
  check_frag(buf, len);
  wire_batch_iter it;
  const uint8_t *sub;
  size_t sl;
  if (wire_batch_begin(&it, buf, len)) return;
  unsigned n = 0;
  while (wire_batch_next(&it, &sub, &sl)) {
    if (!inside(buf, len, sub, sl)) die("batch entry outside the frame");
    if (++n > 255) die("batch yielded more entries than its count");
    /* Each entry is copied to a buffer of its exact size, like a datagram. */
    if (depth < 3) {
      uint8_t *copy = malloc(sl ? sl : 1);
      if (!copy) return;
      memcpy(copy, sub, sl);
      check_frame(copy, sl, depth + 1);
      free(copy);
    }
  }
  if (n > buf[1]) die("batch count exceeded");
}

static void check_text(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return;
  memcpy(text, data, size);
  text[size] = 0;

  /* A host buffer of every small size, exactly allocated: the bound must hold. */
  size_t hostlen = size ? (data[0] % 70) : 0;
  char *host = malloc(hostlen ? hostlen : 1);
  uint16_t port;
  if (host && addr_split_hostport(text, host, hostlen, &port) == SW_OK) {
    size_t hl = strnlen(host, hostlen);
    if (hl >= hostlen) die("split: host not terminated inside its buffer");
    g_sink += hl + port;
  }
  free(host);

  sw_addr a, b;
  char out[SW_ADDRSTRLEN];
  if (addr_parse_hostport(&a, text) == SW_OK) {
    if (a.family != 4 && a.family != 6) die("parsed an address without a family");
    int n = addr_format(&a, out, sizeof out);
    if (n < 0) die("a parsed address does not format");
    /* The formatted text is canonical: it parses back to the same address. */
    if (addr_parse_hostport(&b, out) != SW_OK || !addr_equal(&a, &b) ||
        addr_hash(&a) != addr_hash(&b))
      die("address round trip");
    /* Too small buffers fail cleanly. */
    char small[8];
    (void)addr_format(&a, small, sizeof small);
    (void)addr_format_ip(&a, small, sizeof small);
  }

  uint8_t seed[256];
  int n = crypto_hex_decode(text, seed, sizeof seed);
  if (n >= 0) {
    char *back = malloc(2 * (size_t)n + 1);
    if (back) {
      crypto_hex_encode(seed, (size_t)n, back);
      if (strlen(back) != strlen(text) || strncasecmp(back, text, strlen(back)) != 0)
        die("hex round trip");
      free(back);
    }
  }
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: libFuzzer's buffer is exact too, but sub-frames are views. */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  check_frame(buf, size, 0);
  if (size >= 1) {
    sw_addr a;
    addr_from_raw(&a, buf + 1, (size - 1) >= 16 ? 16 : 4 * ((size - 1) >= 4), 1);
    g_sink += addr_hash(&a);
  }
  free(buf);
  check_text(data, size);
  return 0;
}
