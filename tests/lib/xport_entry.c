/* Entries with a header before the message, at the delivery engine (xport_entry.h). */
#include "xport_entry.h"

#include <string.h>

#include "setowire.h"
#include "testutil.h"

void check_header_entry(xport_hdr_send send, size_t hdr_len, size_t max_msg, unsigned flag,
                        uint64_t entry) {
  xport s, r;
  assert_int_equal(xport_init(&s, NULL, NULL, 0), SW_OK);
  assert_int_equal(xport_init(&r, NULL, NULL, 0), SW_OK);
  uint8_t hdr[XPORT_SIGNED_HDR]; /* the longer of the two */
  if (hdr_len > sizeof hdr) fail_msg("a header of %zu bytes does not fit", hdr_len);
  for (size_t i = 0; i < hdr_len; i++) hdr[i] = (uint8_t)(i + 1);
  static uint8_t big[XPORT_MAX_MSG];
  assert_int_equal(send(&s, hdr, big, max_msg + 1, 0), SW_EMSGSIZE);
  assert_int_equal(send(&s, NULL, "x", 1, 0), SW_EINVAL);
  assert_int_equal(send(&s, hdr, "hello", 5, 0), SW_OK);
  assert_int_equal(xport_send(&s, "plain", 5, XPORT_RELIABLE, 0), SW_OK);
  uint8_t pkt[XPORT_MTU_DEFAULT], out[128];
  uint64_t pn;
  size_t len = xport_build(&s, 1, pkt, sizeof pkt, &pn);
  assert_true(len > 0);
  assert_int_equal(xport_on_packet(&r, pn, pkt, len, 1), SW_OK);
  unsigned flags = 0;
  assert_int_equal(xport_recv_ex(&r, out, sizeof out, &flags), (int)hdr_len + 5);
  assert_int_equal(flags, XPORT_RELIABLE | flag);
  assert_memory_equal(out, hdr, hdr_len);
  assert_memory_equal(out + hdr_len, "hello", 5);
  assert_int_equal(xport_recv_ex(&r, out, sizeof out, &flags), 5);
  assert_int_equal(flags, XPORT_RELIABLE);
  xport_free(&s);
  xport_free(&r);
  /* a hand-made MSG frame at offset 0: a 4-byte prefix (the kind, and hdr_len - 1), then
   * hdr_len - 1 bytes */
  assert_int_equal(xport_init(&r, NULL, NULL, 0), SW_OK);
  uint8_t f[128];
  size_t k = 0, body = hdr_len - 1;
  f[k++] = XPORT_F_MSG;
  k += xport_varint_put(f + k, sizeof f - k, 0);        /* offset */
  k += xport_varint_put(f + k, sizeof f - k, 4 + body); /* length: prefix + body */
  k += xport_varint_put(f + k, sizeof f - k, entry + body);
  memset(f + k, 0xab, body);
  k += body;
  assert_int_equal(xport_on_packet(&r, 0, f, k, 1), SW_OK);
  assert_int_equal(xport_recv_ex(&r, out, sizeof out, &flags), SW_EINVAL);
  xport_free(&r);
}
