/* RELAY_REQ / RELAY_FWD as the introduction module decodes them (intro.h): never a read
 * past the input, and whatever decodes encodes back to the same bytes and decodes to the
 * same message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  intro_msg m, again;
  if (intro_decode(data, size, &m) != 0) return 0;
  uint8_t out[INTRO_FRAME_MAX];
  size_t n = intro_encode(out, &m);
  if (n == 0 || n > sizeof out) abort();
  if (intro_decode(out, n, &again) != 0) abort();
  if (again.type != m.type || memcmp(again.requester, m.requester, 8) != 0 ||
      memcmp(again.target, m.target, 8) != 0 || !addr_equal(&again.addr, &m.addr) ||
      again.nat != m.nat || m.nat > INTRO_NAT_MAX)
    abort();
  return 0;
}
