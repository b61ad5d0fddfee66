/* PUNCH 0x25 (upgrade.h) and RELAY_ANN 0x20 (relay.h) as the engine decodes them: never a
 * read past the input, and whatever decodes encodes back and decodes to the same
 * message (PUNCH also to the same bytes: it has one encoding). Byte 0 picks the codec;
 * the rest is the frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "upgrade.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void punch(const uint8_t *b, size_t len) {
  upgrade_msg m, again;
  if (upgrade_decode(b, len, &m) != 0) return;
  uint8_t out[UPGRADE_FRAME_MAX];
  size_t n = upgrade_encode(out, &m);
  if (n != len || memcmp(out, b, len) != 0) abort();
  if (upgrade_decode(out, n, &again) != 0 || again.kind != m.kind ||
      again.nonce != m.nonce || again.naddrs != m.naddrs)
    abort();
  for (size_t i = 0; i < m.naddrs; i++)
    if (!addr_equal(&again.addrs[i], &m.addrs[i])) abort();
}

static void ann(const uint8_t *b, size_t len) {
  uint8_t id[8], id2[8];
  sw_addr a, a2;
  if (relay_ann_decode(b, len, id, &a) != 0) return;
  uint8_t out[RELAY_ANN_MAX];
  size_t n = relay_ann_encode(out, id, &a);
  if (n == 0 || n > sizeof out) abort();
  if (relay_ann_decode(out, n, id2, &a2) != 0 || memcmp(id, id2, 8) != 0 ||
      !addr_equal(&a, &a2))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) ann(data + 1, size - 1);
  else punch(data + 1, size - 1);
  return 0;
}
