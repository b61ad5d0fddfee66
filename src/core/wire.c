#include "wire.h"

#include <string.h>

#include "setowire.h"

size_t wire_hello_encode(uint8_t *out, uint8_t type, const uint8_t wire_id[8],
                         const uint8_t pub[32], int caps_or_neg1) {
  out[0] = type;
  memcpy(out + 1, wire_id, 8);
  memcpy(out + 9, pub, 32);
  if (caps_or_neg1 < 0) return WIRE_HELLO_LEN;
  out[41] = 'S';
  out[42] = 'W';
  out[43] = WIRE_TRAILER_VERSION;
  out[44] = (uint8_t)caps_or_neg1;
  return WIRE_HELLO_LEN + WIRE_TRAILER_LEN;
}

int wire_hello_decode(const uint8_t *buf, size_t len, wire_hello *out) {
  if (len < WIRE_HELLO_LEN || (buf[0] != WIRE_HELLO && buf[0] != WIRE_HELLO_ACK))
    return SW_EINVAL;
  out->type = buf[0];
  out->wire_id = buf + 1;
  out->pub = buf + 9;
  out->extended = 0;
  out->caps = 0;
  /* Anything after byte 40 is ignored by the references (PROTOCOL.md 18.1); a
   * trailer of another shape is tolerated and treated as "not ours". */
  if (len >= WIRE_HELLO_LEN + WIRE_TRAILER_LEN && buf[41] == 'S' && buf[42] == 'W' &&
      buf[43] >= WIRE_TRAILER_VERSION) {
    out->extended = 1;
    out->caps = buf[44];
  }
  return SW_OK;
}

size_t wire_ping_encode(uint8_t *out, uint64_t ts_ms, const uint8_t full_id[20]) {
  out[0] = WIRE_PING;
  wire_put64(out + 1, ts_ms);
  memcpy(out + 9, full_id, 20);
  return WIRE_PING_LEN;
}

size_t wire_pong_encode(uint8_t *out, const uint8_t full_id[20]) {
  out[0] = WIRE_PONG;
  memcpy(out + 1, full_id, 20);
  return WIRE_PONG_LEN;
}

void wire_data_header(uint8_t *out, uint32_t session_id, uint64_t counter) {
  out[0] = WIRE_DATA;
  wire_put32(out + 1, session_id);
  wire_put64(out + 5, counter);
}

int wire_frag_decode(const uint8_t *buf, size_t len, wire_frag *out) {
  if (len < WIRE_FRAG_HDR || buf[0] != WIRE_FRAG) return SW_EINVAL;
  out->frag_id = buf + 1;
  out->index = wire_get16(buf + 9);
  out->count = wire_get16(buf + 11);
  out->data = buf + WIRE_FRAG_HDR;
  out->len = len - WIRE_FRAG_HDR;
  /* Stricter than the references (D18): an index outside the count, an empty set or
   * an oversized piece can never be part of a valid message. */
  if (out->count == 0 || out->index >= out->count || out->len > WIRE_FRAG_DATA_MAX)
    return SW_EINVAL;
  return SW_OK;
}

size_t wire_frag_encode(uint8_t *out, const uint8_t frag_id[8], uint16_t index, uint16_t count,
                        const uint8_t *data, size_t len) {
  out[0] = WIRE_FRAG;
  memcpy(out + 1, frag_id, 8);
  wire_put16(out + 9, index);
  wire_put16(out + 11, count);
  memcpy(out + WIRE_FRAG_HDR, data, len);
  return WIRE_FRAG_HDR + len;
}

int wire_batch_begin(wire_batch_iter *it, const uint8_t *buf, size_t len) {
  if (len < 3 || buf[0] != WIRE_BATCH) return SW_EINVAL;
  it->buf = buf;
  it->len = len;
  it->off = 2;
  it->remaining = buf[1];
  return SW_OK;
}

int wire_batch_next(wire_batch_iter *it, const uint8_t **frame, size_t *flen) {
  if (!it->remaining || it->len - it->off < 2) return 0;
  size_t l = wire_get16(it->buf + it->off);
  if (it->len - it->off - 2 < l) return 0;
  *frame = it->buf + it->off + 2;
  *flen = l;
  it->off += 2 + l;
  it->remaining--;
  return 1;
}
