/* libFuzzer target: the extended session's packets (xpacket.c).
 *
 * The input is opened as a packet by a receiver in a fixed state (header decode,
 * replay window, key choice by phase), and also sealed as a payload and opened again,
 * which must give the same bytes back; the first input byte picks whether the sender
 * updates its key first, so both phases and the receiver's rotation run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "setowire.h"
#include "xpacket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_xpacket: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t secret[32] = {1, 2, 3};
  xpkt_tx tx;
  xpkt_rx rx;
  xpkt_header h;
  if (size > 65535) return 0;
  int suite = size && (data[0] & 0x80) ? CRYPTO_SUITE_AESGCM : CRYPTO_SUITE_CHACHA;
  if (xpkt_tx_init(&tx, suite, secret, 0x01020304u, 0) ||
      xpkt_rx_init(&rx, suite, secret, 0x01020304u))
    die("init");
  uint8_t *pkt = malloc(size ? size : 1), *out = malloc(size + XPKT_OVERHEAD);
  uint8_t *sealed = malloc(size + XPKT_OVERHEAD);
  if (!pkt || !out || !sealed) die("malloc");
  memcpy(pkt, data, size);

  if (xpkt_header_decode(pkt, size, &h) == 0 && (h.flags & ~XPKT_FLAG_PHASE)) die("flags");
  int n = xpkt_open(&rx, 0, pkt, size, out, size, NULL);
  if (n >= 0) die("a fuzzed packet authenticated");

  if (size && (data[0] & 1)) xpkt_tx_update(&tx, 0);
  n = xpkt_seal(&tx, 0, data, size, sealed, size + XPKT_OVERHEAD);
  if (n != (int)(size + XPKT_OVERHEAD)) die("seal length");
  int m = xpkt_open(&rx, 5, sealed, (size_t)n, out, size + XPKT_OVERHEAD, NULL);
  if (m != (int)size || (size && memcmp(out, data, size))) die("round trip");
  if (xpkt_open(&rx, 5, sealed, (size_t)n, out, size + XPKT_OVERHEAD, NULL) != XPKT_EREPLAY)
    die("replay accepted");
  xpkt_tx_free(&tx);
  xpkt_rx_free(&rx);
  free(pkt);
  free(out);
  free(sealed);
  return 0;
}
