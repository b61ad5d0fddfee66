/* Frame layouts of the Setowire main socket (PROTOCOL.md 1.1, 4-10) and the project's
 * own extensions (PROTOCOL.md 21). Encoders write into caller buffers; decoders
 * never read past the length they are given and never allocate. */
#ifndef SW_CORE_WIRE_H
#define SW_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Frame types, PROTOCOL.md 1.1 and 19. */
enum {
  WIRE_DATA = 0x01,
  WIRE_PING = 0x03,
  WIRE_PONG = 0x04,
  WIRE_IHAVE = 0x07,
  WIRE_LAN = 0x09,
  WIRE_GOAWAY = 0x0A,
  WIRE_FRAG = 0x0B,
  WIRE_HAVE = 0x10,
  WIRE_WANT = 0x11,
  WIRE_CHUNK = 0x12,
  WIRE_BATCH = 0x13,
  WIRE_CHUNK_ACK = 0x14,
  WIRE_RELAY_ANN = 0x20,
  WIRE_RELAY_REQ = 0x21,
  WIRE_RELAY_FWD = 0x22,
  /* Extension between libsetowire peers (PROTOCOL.md 15.7): a datagram carried by a
   * relay for two peers that cannot punch. */
  WIRE_CIRCUIT = 0x24,
  /* Extension between libsetowire peers (PROTOCOL.md 15.8): the timed simultaneous open
   * that moves a relayed session to a direct path. */
  WIRE_PUNCH = 0x25,
  WIRE_PEX = 0x30,
  /* Extension between libsetowire peers (PROTOCOL.md 21.2): a control
   * frame encrypted with the session keys. Not in the reference registry, so reference
   * peers ignore it (PROTOCOL.md 18.1). */
  WIRE_SEALED = 0x40,
  WIRE_HELLO = 0xA1,
  WIRE_HELLO_ACK = 0xA2
};

/* Inner types of a SEALED frame. CHALLENGE and RESPONSE carry WIRE_CHALLENGE_LEN
 * bytes after the type: a restart is believed only once answered (PROTOCOL.md 21.3). */
enum {
  SEALED_PROOF = 0x01,
  SEALED_GOAWAY = 0x02,
  SEALED_CHALLENGE = 0x03,
  SEALED_RESPONSE = 0x04,
  SEALED_CAPS = 0x05, /* our trailer's capability bits, authenticated (TRANSPORT.md 2) */
  SEALED_GRAFT = 0x06 /* "you are in my mesh" (PROTOCOL.md 21.2, 13.2) */
};
#define WIRE_CHALLENGE_LEN 16

#define WIRE_HELLO_LEN 41       /* PROTOCOL.md 4.1 */
#define WIRE_TRAILER_LEN 4      /* "SW", version, capability bits */
#define WIRE_TRAILER_VERSION 1
#define WIRE_CAP_SEALED 0x01
#define WIRE_CAP_XSESSION 0x02 /* docs/TRANSPORT.md 2 */
#define WIRE_CAP_ORIGIN 0x04   /* stream entries of kind 4 (docs/TRANSPORT-delivery.md) */
#define WIRE_CAP_SIGNED 0x08   /* stream entries of kind 5, signed origins (same page) */
#define WIRE_DATA_HDR 13        /* type + 12-byte nonce, PROTOCOL.md 5.1 */
#define WIRE_DATA_OVERHEAD 33   /* header + 4-byte sequence + 16-byte tag */
#define WIRE_DATA_MIN 29        /* header + tag: the references' "body >= 28" */
#define WIRE_PING_LEN 29        /* PROTOCOL.md 9.1 */
#define WIRE_PONG_LEN 21
#define WIRE_GOAWAY_LEN 2       /* 2 bytes so reference receivers process it (D7) */
#define WIRE_FRAG_HDR 13        /* type + id(8) + index(2) + count(2), PROTOCOL.md 7.2 */
#define WIRE_FRAG_DATA_MAX 1188 /* PROTOCOL.md 19 FRAG_DATA_MAX */
#define WIRE_MAX_PAYLOAD 1200   /* PROTOCOL.md 19 MAX_PAYLOAD */
#define WIRE_BATCH_MTU 1400     /* PROTOCOL.md 8.2: sum of (length + 2) per group */
#define WIRE_UDP_MAX 65507      /* largest IPv4 UDP payload */

static inline uint16_t wire_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t wire_get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t wire_get64(const uint8_t *p) {
  return (uint64_t)wire_get32(p) << 32 | wire_get32(p + 4);
}
static inline void wire_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void wire_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void wire_put64(uint8_t *p, uint64_t v) {
  wire_put32(p, (uint32_t)(v >> 32));
  wire_put32(p + 4, (uint32_t)v);
}

typedef struct wire_hello {
  uint8_t type; /* WIRE_HELLO or WIRE_HELLO_ACK */
  const uint8_t *wire_id; /* 8 bytes */
  const uint8_t *pub;     /* 32 bytes */
  int extended;           /* a valid libsetowire trailer follows byte 40 */
  uint8_t caps;
} wire_hello;

/* Writes 41 bytes, plus the trailer when caps_or_neg1 >= 0. Returns the length. */
size_t wire_hello_encode(uint8_t *out, uint8_t type, const uint8_t wire_id[8],
                         const uint8_t pub[32], int caps_or_neg1);
int wire_hello_decode(const uint8_t *buf, size_t len, wire_hello *out);

size_t wire_ping_encode(uint8_t *out, uint64_t ts_ms, const uint8_t full_id[20]);
size_t wire_pong_encode(uint8_t *out, const uint8_t full_id[20]);

/* DATA header: type, session id, counter. */
void wire_data_header(uint8_t *out, uint32_t session_id, uint64_t counter);

typedef struct wire_frag {
  const uint8_t *frag_id; /* 8 bytes */
  uint16_t index, count;
  const uint8_t *data;
  size_t len;
} wire_frag;
int wire_frag_decode(const uint8_t *buf, size_t len, wire_frag *out);
size_t wire_frag_encode(uint8_t *out, const uint8_t frag_id[8], uint16_t index, uint16_t count,
                        const uint8_t *data, size_t len);

/* BATCH iteration (PROTOCOL.md 8.2): stops at the first truncated entry, as the
 * references do. */
typedef struct wire_batch_iter {
  const uint8_t *buf;
  size_t len, off;
  unsigned remaining;
} wire_batch_iter;
int wire_batch_begin(wire_batch_iter *it, const uint8_t *buf, size_t len);
/* Returns 1 with the next sub-frame, 0 at the end. */
int wire_batch_next(wire_batch_iter *it, const uint8_t **frame, size_t *flen);

#endif
