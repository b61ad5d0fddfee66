/* The store/fetch frame codecs: HAVE, WANT, CHUNK (both forms) and CHUNK_ACK
 * (PROTOCOL.md 11.1-11.4), declared in sync.h. Pure functions of their buffers: the
 * fuzz targets and the unit tests call them directly. */
#include <string.h>

#include "sync.h"
#include "wire.h"

int sync_decode(const uint8_t *b, size_t len, sync_frame *f) {
  memset(f, 0, sizeof *f);
  if (!b || len < 1) return SW_EINVAL;
  f->type = b[0];
  switch (b[0]) {
    case WIRE_HAVE: /* 11.1: length >= 3; entries are read by sync_have_next */
      if (len < 3) return SW_EINVAL;
      f->nkeys = b[1];
      return SW_OK;
    case WIRE_WANT: /* 11.2: length >= 3 and 2 + k */
      if (len < 3 || b[1] == 0 || len < 2u + b[1]) return SW_EINVAL;
      f->key = b + 2;
      f->klen = b[1];
      return SW_OK;
    case WIRE_CHUNK: { /* 11.3 */
      size_t k = len >= 2 ? b[1] : 0, o;
      if (len < 4 || k == 0 || 2 + k + 2 > len) return SW_EINVAL;
      f->key = b + 2;
      f->klen = k;
      o = 2 + k;
      uint16_t v = wire_get16(b + o);
      o += 2;
      if (v != SYNC_LARGE_MARK) {
        if (o + v > len) return SW_EINVAL; /* extra bytes are ignored, as in 11.3 */
        f->value = b + o;
        f->vlen = v;
        return SW_OK;
      }
      if (o + 4 > len) return SW_EINVAL;
      f->large = 1;
      f->index = wire_get16(b + o);
      f->count = wire_get16(b + o + 2);
      f->value = b + o + 4;
      f->vlen = len - o - 4; /* the rest of the frame */
      return SW_OK;
    }
    case WIRE_CHUNK_ACK: /* 11.4: length >= 5, k + 2 after offset 2 */
      if (len < 5 || b[1] == 0 || 2u + b[1] + 2 > len) return SW_EINVAL;
      f->key = b + 2;
      f->klen = b[1];
      f->index = wire_get16(b + 2 + b[1]);
      return SW_OK;
    default: return SW_EINVAL;
  }
}

int sync_have_next(const uint8_t *b, size_t len, size_t *off, const uint8_t **key,
                   size_t *klen) {
  size_t o = *off;
  if (o >= len) return 0;
  size_t k = b[o++];
  if (o + k > len) return 0;
  *key = b + o;
  *klen = k;
  *off = o + k;
  return 1;
}

size_t sync_want_encode(uint8_t *out, const uint8_t *key, size_t klen) {
  out[0] = WIRE_WANT;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  return 2 + klen;
}

size_t sync_chunk_small_encode(uint8_t *out, const uint8_t *key, size_t klen,
                               const uint8_t *v, size_t vlen) {
  out[0] = WIRE_CHUNK;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  wire_put16(out + 2 + klen, (uint16_t)vlen);
  memcpy(out + 4 + klen, v, vlen);
  return 4 + klen + vlen;
}

size_t sync_chunk_large_encode(uint8_t *out, const uint8_t *key, size_t klen, uint16_t index,
                               uint16_t count, const uint8_t *data, size_t dlen) {
  out[0] = WIRE_CHUNK;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  wire_put16(out + 2 + klen, SYNC_LARGE_MARK);
  wire_put16(out + 4 + klen, index);
  wire_put16(out + 6 + klen, count);
  memcpy(out + 8 + klen, data, dlen);
  return 8 + klen + dlen;
}

size_t sync_ack_encode(uint8_t *out, const uint8_t *key, size_t klen, uint16_t index) {
  out[0] = WIRE_CHUNK_ACK;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  wire_put16(out + 2 + klen, index);
  return 4 + klen;
}

size_t sync_have_encode(uint8_t *out, size_t cap, const sync_key *keys, size_t n) {
  size_t o = 2, count = 0;
  if (cap < 2) return 0;
  for (size_t i = 0; i < n && count < 255; i++) {
    if (keys[i].len == 0 || keys[i].len > SYNC_KEY_MAX || o + 1 + keys[i].len > cap) break;
    out[o++] = (uint8_t)keys[i].len;
    memcpy(out + o, keys[i].p, keys[i].len);
    o += keys[i].len;
    count++;
  }
  out[0] = WIRE_HAVE;
  out[1] = (uint8_t)count;
  return o;
}

/* ---- stream messages between our peers (PROTOCOL.md 21.10) ---------------------- */

int sync_stream_decode(const uint8_t *b, size_t len, sync_smsg *m) {
  memset(m, 0, sizeof *m);
  if (!b || len < 3 || b[1] == 0 || 2u + b[1] > len) return SW_EINVAL;
  m->type = b[0];
  m->key = b + 2;
  m->klen = b[1];
  size_t o = 2u + b[1];
  switch (b[0]) {
    case SYNC_S_WANT:
    case SYNC_S_NONE:
    case SYNC_S_CANCEL: return SW_OK;
    case SYNC_S_VALUE_TTL:
      if (o + 8 >= len) return SW_EINVAL; /* the lifetime, and one byte of value */
      m->num = wire_get32(b + o);
      m->ttl_ms = wire_get32(b + o + 4);
      m->data = b + o + 8;
      m->dlen = len - o - 8;
      if (m->ttl_ms == 0 || m->dlen > m->num) return SW_EINVAL;
      return SW_OK;
    case SYNC_S_VALUE:
    case SYNC_S_PIECE:
      if (o + 4 >= len) return SW_EINVAL; /* at least one byte of value */
      m->num = wire_get32(b + o);
      m->data = b + o + 4;
      m->dlen = len - o - 4;
      if (b[0] == SYNC_S_VALUE && m->dlen > m->num) return SW_EINVAL;
      return SW_OK;
    default: return SW_EINVAL;
  }
}

size_t sync_stream_encode(uint8_t *out, uint8_t type, const uint8_t *key, size_t klen,
                          uint32_t num, const uint8_t *data, size_t dlen) {
  out[0] = type;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  size_t o = 2 + klen;
  if (type != SYNC_S_VALUE && type != SYNC_S_PIECE) return o;
  wire_put32(out + o, num);
  memcpy(out + o + 4, data, dlen);
  return o + 4 + dlen;
}

size_t sync_stream_encode_ttl(uint8_t *out, const uint8_t *key, size_t klen, uint32_t total,
                              uint32_t ttl_ms, const uint8_t *data, size_t dlen) {
  out[0] = SYNC_S_VALUE_TTL;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  size_t o = 2 + klen;
  wire_put32(out + o, total);
  wire_put32(out + o + 4, ttl_ms);
  memcpy(out + o + 8, data, dlen);
  return o + 8 + dlen;
}
