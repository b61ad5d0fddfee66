/* store / fetch: key-value sync between peers (PROTOCOL.md 11.1-11.4 and 12), a
 * protocol module of the core (core_internal.h). Sans-I/O: the storage backend is
 * reached through a request queue the runtime serves (sw_core_storage_take/_done), like
 * the core's HTTP requests; this module never touches a file.
 *
 * Stricter than the references on receipt (PROTOCOL.md 18): control frames only from
 * verified peers, or from the registered address of a reference peer (D6); CHUNK only
 * from a peer we sent a WANT to and only for a key we are fetching (D6); reassembly
 * per key and peer, acks to the source, every count bounded (D17, D28); keys over 255
 * bytes refused (D29); concurrent fetches of one key all complete (D30); transfers
 * retransmit a bounded number of times (D19). A value is delivered only complete. */
#ifndef SW_CORE_SYNC_H
#define SW_CORE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "wire.h"

/* Frame types are WIRE_HAVE, WIRE_WANT, WIRE_CHUNK, WIRE_CHUNK_ACK (wire.h); constants
 * (PROTOCOL.md 19). */
#define SYNC_CHUNK_SIZE 900   /* SYNC_CHUNK_SIZE: small-CHUNK limit and piece size */
#define SYNC_LARGE_MARK 0xFFFF
#define SYNC_KEY_MAX 255      /* one length byte (D29) */
#define SYNC_HAVE_BATCH 64    /* HAVE_BATCH: keys in the summary sent on connect */
#define SYNC_WINDOW 8         /* chunk WINDOW */
#define SYNC_RTO_MS 1500      /* chunk RTO */
#define SYNC_SAFETY_MS 60000  /* chunk safety */
#define SYNC_TIMEOUT_MS 30000 /* SYNC_TIMEOUT: default fetch timeout */
#define SYNC_CACHE_MAX 10000  /* SYNC_CACHE_MAX: default store_cache_max */

/* ---- codecs, in sync_wire.c (every encoder writes at most 2 + 255 + 6 + 900 bytes
 * but HAVE) ---- */

typedef struct sync_frame {
  uint8_t type;
  const uint8_t *key; /* WANT, CHUNK, CHUNK_ACK */
  size_t klen;
  int large;          /* CHUNK: the large form */
  const uint8_t *value; /* CHUNK: small value, or this piece of a large one */
  size_t vlen;
  uint16_t index, count; /* large CHUNK; CHUNK_ACK index */
  uint8_t nkeys;      /* HAVE: the announced count (entries may be fewer) */
} sync_frame;

/* Decode a HAVE/WANT/CHUNK/CHUNK_ACK with the references' length rules, and ours: the
 * key is never empty. 0 or SW_EINVAL. Views point into buf. */
int sync_decode(const uint8_t *buf, size_t len, sync_frame *f);
/* HAVE entries, from *off = 2; 1 and the next key, 0 at the first truncated one. */
int sync_have_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **key,
                   size_t *klen);

size_t sync_want_encode(uint8_t *out, const uint8_t *key, size_t klen);
size_t sync_chunk_small_encode(uint8_t *out, const uint8_t *key, size_t klen,
                               const uint8_t *v, size_t vlen);
size_t sync_chunk_large_encode(uint8_t *out, const uint8_t *key, size_t klen, uint16_t index,
                               uint16_t count, const uint8_t *data, size_t dlen);
size_t sync_ack_encode(uint8_t *out, const uint8_t *key, size_t klen, uint16_t index);
/* HAVE with keys[0..n) (at most 255), stopping before a key that would pass cap. */
typedef struct sync_key {
  const uint8_t *p;
  size_t len;
} sync_key;
size_t sync_have_encode(uint8_t *out, size_t cap, const sync_key *keys, size_t n);

/* ---- the stream messages between our peers (PROTOCOL.md 21.10) -------------------
 * On the reliable stream of an extended session (docs/TRANSPORT.md 7.1), channel
 * SYNC_STREAM_CHANNEL. Each: type (1 byte), key length k (1 byte, 1-255), the key, then
 * per type: VALUE total length (4 bytes) and the first bytes; PIECE the offset of its
 * bytes (4 bytes) and the bytes; WANT, NONE and CANCEL nothing more. */
#define SYNC_STREAM_CHANNEL 1
enum {
  SYNC_S_WANT = 0x01,   /* send me the value of key */
  SYNC_S_VALUE = 0x02,  /* the value of key: its total length, its first bytes */
  SYNC_S_PIECE = 0x03,  /* the next bytes of a value under way */
  SYNC_S_NONE = 0x04,   /* I hold no value for key */
  SYNC_S_CANCEL = 0x05, /* stop sending me key */
  /* VALUE of a value that expires: total length (4 bytes), the milliseconds it has left
   * (4 bytes, at least 1), then its first bytes; PIECEs follow as for VALUE. */
  SYNC_S_VALUE_TTL = 0x10,
};
#define SYNC_STREAM_PIECE 16384 /* value bytes per VALUE or PIECE message */
#define SYNC_STREAM_HDR (2 + SYNC_KEY_MAX + 8)

typedef struct sync_smsg {
  uint8_t type;
  const uint8_t *key;
  size_t klen;
  uint32_t num;        /* VALUE: total length; PIECE: offset */
  const uint8_t *data; /* VALUE, VALUE_TTL, PIECE: at least one byte */
  size_t dlen;
  uint32_t ttl_ms;     /* VALUE_TTL: the time the value has left (never 0) */
} sync_smsg;
/* 0, or SW_EINVAL for an unknown type or a length that does not add up (bytes after a
 * WANT/NONE/CANCEL are ignored: room for later fields). Views point into buf. */
int sync_stream_decode(const uint8_t *buf, size_t len, sync_smsg *m);
/* Writes at most SYNC_STREAM_HDR + dlen bytes; num and data only for VALUE and PIECE. */
size_t sync_stream_encode(uint8_t *out, uint8_t type, const uint8_t *key, size_t klen,
                          uint32_t num, const uint8_t *data, size_t dlen);
/* A VALUE_TTL: total length, ttl_ms left (1 or more), the first bytes. */
size_t sync_stream_encode_ttl(uint8_t *out, const uint8_t *key, size_t klen, uint32_t total,
                              uint32_t ttl_ms, const uint8_t *data, size_t dlen);

/* ---- the module ---------------------------------------------------------- */

/* Register the module on a core (sw_core_new does it when cfg->sync is set). cache_max
 * and cache_bytes 0: the defaults; backend 1: storage requests are queued. */
int sync_attach(sw_core *c, size_t cache_max, size_t cache_bytes, int backend);

/* The module's entry points are the engine's (core.h): sw_core_store, sw_core_fetch,
 * sw_core_storage_take and sw_core_storage_done are implemented in sync.c. */
enum { SYNC_OP_GET = SW_CORE_STORAGE_GET, SYNC_OP_SET = SW_CORE_STORAGE_SET };

typedef struct sync_stats {
  uint64_t values_in;        /* complete values accepted from peers */
  uint64_t chunks_in, acks_out, acks_in, chunks_out, retransmits;
  uint64_t ignored;          /* frames refused: unknown or unasked source, unknown key */
  uint64_t malformed;        /* undecodable or inconsistent frames */
  uint64_t transfers_started, transfers_done, transfers_abandoned;
  uint64_t storage_errors;
  uint64_t stream_served;    /* values sent on an extended session's stream */
  uint64_t stream_pieces_in; /* VALUE and PIECE messages taken */
  uint64_t nones_in, nones_out; /* "no such value" answers */
  uint64_t refused_caps;     /* WANTs refused: the peer's or its address's slots full */
  uint64_t held_values;      /* values held back until confirmed (several holders) */
  uint64_t rejected_values;  /* values that lost to a confirmed one */
  uint64_t expired;          /* keys dropped at the end of their lifetime */
  uint64_t unstored;         /* keys removed by sw_core_unstore */
  uint64_t forged_values;    /* signed or content values refused: bad envelope,
                                signature or hash (docs/VALUES.md) */
  uint64_t stale_values;     /* valid signed values older than one held or offered */
  uint64_t refreshes;        /* signed keys fetched again on a peer's HAVE */
  size_t cache_entries, cache_bytes, reassembly_bytes, transfer_bytes;
} sync_stats;
/* 0, or SW_EINVAL when the module is not attached. */
int sync_get_stats(sw_core *c, sync_stats *out);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def sync_module;

#endif
