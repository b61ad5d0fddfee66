/* Frame codecs against the references' own datagrams (frames.json, hello.json), their
 * edge cases (the 41-byte HELLO vs our trailer, FRAG rejects, BATCH truncation), and
 * the address module (parse, format, v4-mapped canonical form, host:port errors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "crypto.h"
#include "setowire.h"
#include "testutil.h"
#include "wire.h"

/* ---- hello.json ------------------------------------------------------------ */

static void check_hello(const char *hex, uint8_t type, const char *wire_hex, const char *pub_hex) {
  size_t len;
  uint8_t *f = tu_unhex(hex, &len);
  uint8_t wid[8], pub[32], out[64];
  tu_unhex_into(wire_hex, wid, 8);
  tu_unhex_into(pub_hex, pub, 32);
  assert_int_equal(len, WIRE_HELLO_LEN);
  wire_hello h;
  assert_int_equal(wire_hello_decode(f, len, &h), SW_OK);
  assert_int_equal(h.type, type);
  assert_memory_equal(h.wire_id, wid, 8);
  assert_memory_equal(h.pub, pub, 32);
  assert_int_equal(h.extended, 0); /* a reference peer */
  assert_int_equal(h.caps, 0);
  /* our encoder without a trailer is byte for byte the reference frame */
  memset(out, 0xee, sizeof out);
  assert_int_equal(wire_hello_encode(out, type, wid, pub, -1), WIRE_HELLO_LEN);
  assert_memory_equal(out, f, len);
  assert_int_equal(out[WIRE_HELLO_LEN], 0xee); /* nothing written past byte 40 */
  /* the references always send a wire id that is the key's (D2) */
  uint8_t d[32];
  crypto_sha256(pub, 32, d);
  assert_memory_equal(d, wid, 8);
  free(f);
}

static void test_hello_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("hello.json");
  size_t i;
  json_t *e;
  int n = 0;
  json_array_foreach(json_object_get(v, "vectors"), i, e) {
    /* the frame is built from the identity the seed gives */
    crypto_identity id;
    assert_int_equal(crypto_identity_from_hex(&id, tu_str(e, "seed_hex")), 0);
    assert_string_equal(tu_hex(id.pub, 32), tu_str(e, "public_key_hex"));
    assert_string_equal(tu_hex(id.id, 8), tu_str(e, "wire_id_hex"));
    uint8_t out[WIRE_HELLO_LEN];
    wire_hello_encode(out, WIRE_HELLO, id.id, id.pub, -1);
    assert_string_equal(tu_hex(out, sizeof out), tu_str(e, "hello_hex"));
    wire_hello_encode(out, WIRE_HELLO_ACK, id.id, id.pub, -1);
    assert_string_equal(tu_hex(out, sizeof out), tu_str(e, "hello_ack_hex"));
    check_hello(tu_str(e, "hello_hex"), WIRE_HELLO, tu_str(e, "wire_id_hex"),
                tu_str(e, "public_key_hex"));
    check_hello(tu_str(e, "hello_ack_hex"), WIRE_HELLO_ACK, tu_str(e, "wire_id_hex"),
                tu_str(e, "public_key_hex"));
    n++;
  }
  assert_int_equal(n, 7);
  json_t *x = json_object_get(v, "exchange_example");
  size_t len;
  uint8_t *f = tu_unhex(tu_str(x, "hello_hex"), &len);
  wire_hello h;
  assert_int_equal(wire_hello_decode(f, len, &h), SW_OK);
  assert_string_equal(tu_hex(h.wire_id, 8), tu_str(x, "responder_registered_initiator_as"));
  free(f);
  f = tu_unhex(tu_str(x, "hello_ack_hex"), &len);
  assert_int_equal(wire_hello_decode(f, len, &h), SW_OK);
  assert_int_equal(h.type, WIRE_HELLO_ACK);
  assert_string_equal(tu_hex(h.wire_id, 8), tu_str(x, "initiator_registered_responder_as"));
  free(f);
  json_decref(v);
}

static void test_hello_trailer_rule(void **state) {
  (void)state;
  uint8_t wid[8], pub[32], buf[128];
  wire_hello h;
  for (int i = 0; i < 8; i++) wid[i] = (uint8_t)(0x10 + i);
  for (int i = 0; i < 32; i++) pub[i] = (uint8_t)(0x80 + i);
  /* with capabilities: the 41 reference bytes, then "SW", version, caps */
  size_t n = wire_hello_encode(buf, WIRE_HELLO, wid, pub, WIRE_CAP_SEALED);
  assert_int_equal(n, WIRE_HELLO_LEN + WIRE_TRAILER_LEN);
  uint8_t plain[WIRE_HELLO_LEN];
  wire_hello_encode(plain, WIRE_HELLO, wid, pub, -1);
  assert_memory_equal(buf, plain, WIRE_HELLO_LEN);
  assert_int_equal(buf[41], 'S');
  assert_int_equal(buf[42], 'W');
  assert_int_equal(buf[43], WIRE_TRAILER_VERSION);
  assert_int_equal(buf[44], WIRE_CAP_SEALED);
  assert_int_equal(wire_hello_decode(buf, n, &h), SW_OK);
  assert_int_equal(h.extended, 1);
  assert_int_equal(h.caps, WIRE_CAP_SEALED);
  assert_memory_equal(h.wire_id, wid, 8);
  assert_memory_equal(h.pub, pub, 32);
  /* caps 0 is still an extended peer */
  n = wire_hello_encode(buf, WIRE_HELLO_ACK, wid, pub, 0);
  assert_int_equal(wire_hello_decode(buf, n, &h), SW_OK);
  assert_int_equal(h.type, WIRE_HELLO_ACK);
  assert_int_equal(h.extended, 1);
  assert_int_equal(h.caps, 0);
  /* exactly 41 bytes: a reference peer */
  assert_int_equal(wire_hello_decode(buf, WIRE_HELLO_LEN, &h), SW_OK);
  assert_int_equal(h.extended, 0);
  /* shorter than 41: refused (PROTOCOL.md 4.1) */
  assert_int_equal(wire_hello_decode(buf, WIRE_HELLO_LEN - 1, &h), SW_EINVAL);
  assert_int_equal(wire_hello_decode(buf, 0, &h), SW_EINVAL);
  /* another type byte is not a HELLO */
  wire_hello_encode(buf, WIRE_HELLO, wid, pub, 1);
  buf[0] = WIRE_DATA;
  assert_int_equal(wire_hello_decode(buf, 45, &h), SW_EINVAL);
  buf[0] = 0xA3;
  assert_int_equal(wire_hello_decode(buf, 45, &h), SW_EINVAL);
  /* a partial trailer, a foreign trailer or version 0 is "not ours": still accepted */
  wire_hello_encode(buf, WIRE_HELLO, wid, pub, 1);
  for (size_t len = 42; len < 45; len++) {
    assert_int_equal(wire_hello_decode(buf, len, &h), SW_OK);
    assert_int_equal(h.extended, 0);
  }
  buf[42] = 'X';
  assert_int_equal(wire_hello_decode(buf, 45, &h), SW_OK);
  assert_int_equal(h.extended, 0);
  buf[42] = 'W';
  buf[43] = 0;
  assert_int_equal(wire_hello_decode(buf, 45, &h), SW_OK);
  assert_int_equal(h.extended, 0);
  /* a later version with more bytes after the trailer is still understood */
  buf[43] = WIRE_TRAILER_VERSION + 1;
  memset(buf + 45, 0x77, 40);
  assert_int_equal(wire_hello_decode(buf, 85, &h), SW_OK);
  assert_int_equal(h.extended, 1);
  assert_int_equal(h.caps, 1);
}

/* ---- frames.json ----------------------------------------------------------- */

static const struct {
  const char *name;
  uint8_t type;
} type_names[] = {
    {"DATA", WIRE_DATA},         {"PING", WIRE_PING},           {"PONG", WIRE_PONG},
    {"IHAVE", WIRE_IHAVE},       {"LAN", WIRE_LAN},             {"GOAWAY", WIRE_GOAWAY},
    {"FRAG", WIRE_FRAG},         {"HAVE", WIRE_HAVE},           {"WANT", WIRE_WANT},
    {"CHUNK", WIRE_CHUNK},       {"BATCH", WIRE_BATCH},         {"CHUNK_ACK", WIRE_CHUNK_ACK},
    {"RELAY_ANN", WIRE_RELAY_ANN}, {"RELAY_REQ", WIRE_RELAY_REQ}, {"RELAY_FWD", WIRE_RELAY_FWD},
    {"PEX", WIRE_PEX},           {"HELLO", WIRE_HELLO},         {"HELLO_ACK", WIRE_HELLO_ACK},
};
#define NTYPES (sizeof type_names / sizeof type_names[0])

#define MAX_KEYS 16
#define MAX_SETS 8
typedef struct frame_ctx {
  uint8_t keys[MAX_KEYS][32];
  int nkeys;
  int seen[NTYPES];
  int data_frames, encoded_same;
  struct {
    uint8_t id[8];
    uint16_t count;
    uint8_t *piece[4];
    size_t len[4];
  } sets[MAX_SETS];
  int nsets;
} frame_ctx;

static int type_index(uint8_t t) {
  for (size_t i = 0; i < NTYPES; i++)
    if (type_names[i].type == t) return (int)i;
  return -1;
}

static void check_data(frame_ctx *fc, const uint8_t *f, size_t len, json_t *fields) {
  assert_true(len >= WIRE_DATA_MIN);
  uint32_t sid = (uint32_t)json_integer_value(json_object_get(fields, "session_id"));
  uint64_t ctr = (uint64_t)json_integer_value(json_object_get(fields, "counter"));
  uint8_t hdr[WIRE_DATA_HDR];
  wire_data_header(hdr, sid, ctr);
  assert_memory_equal(hdr, f, WIRE_DATA_HDR);
  assert_string_equal(tu_hex(f + 1, 12), tu_str(fields, "nonce"));
  size_t pl;
  uint8_t *want = tu_unhex(tu_str(fields, "plaintext_hex"), &pl);
  assert_int_equal(pl, len - WIRE_DATA_HDR - CRYPTO_TAG_LEN);
  uint8_t *out = malloc(len + 16);
  int opened = 0;
  for (int k = 0; k < fc->nkeys; k++) {
    crypto_aead *rx = crypto_aead_new(fc->keys[k], 0);
    if (crypto_aead_open(rx, f + 1, f + WIRE_DATA_HDR, len - WIRE_DATA_HDR, out) == 0) {
      opened++;
      assert_memory_equal(out, want, pl);
      /* sealing the same plaintext with the same key and nonce gives the same frame */
      crypto_aead *tx = crypto_aead_new(fc->keys[k], 1);
      wire_data_header(out, sid, ctr);
      assert_int_equal(crypto_aead_seal(tx, out + 1, want, 4, want + 4, pl - 4, out + 13), 0);
      assert_memory_equal(out, f, len);
      crypto_aead_free(tx);
      fc->encoded_same++;
    }
    crypto_aead_free(rx);
  }
  assert_int_equal(opened, 1);
  fc->data_frames++;
  free(out);
  free(want);
}

static void check_frag(frame_ctx *fc, const uint8_t *f, size_t len, json_t *fields) {
  wire_frag fr;
  assert_int_equal(wire_frag_decode(f, len, &fr), SW_OK);
  assert_string_equal(tu_hex(fr.frag_id, 8), tu_str(fields, "frag_id"));
  assert_int_equal(fr.index, json_integer_value(json_object_get(fields, "index")));
  assert_int_equal(fr.count, json_integer_value(json_object_get(fields, "total")));
  assert_int_equal(fr.len, json_integer_value(json_object_get(fields, "data_len")));
  assert_ptr_equal(fr.data, f + WIRE_FRAG_HDR);
  uint8_t out[WIRE_FRAG_HDR + WIRE_FRAG_DATA_MAX];
  assert_int_equal(wire_frag_encode(out, fr.frag_id, fr.index, fr.count, fr.data, fr.len), len);
  assert_memory_equal(out, f, len);
  fc->encoded_same++;
  int s;
  for (s = 0; s < fc->nsets; s++)
    if (memcmp(fc->sets[s].id, fr.frag_id, 8) == 0) break;
  if (s == fc->nsets) {
    assert_true(fc->nsets < MAX_SETS);
    memcpy(fc->sets[s].id, fr.frag_id, 8);
    fc->sets[s].count = fr.count;
    fc->nsets++;
  }
  assert_true(fr.index < 4);
  assert_int_equal(fc->sets[s].count, fr.count);
  assert_null(fc->sets[s].piece[fr.index]);
  fc->sets[s].piece[fr.index] = malloc(fr.len);
  memcpy(fc->sets[s].piece[fr.index], fr.data, fr.len);
  fc->sets[s].len[fr.index] = fr.len;
}

static void check_frame(frame_ctx *fc, const uint8_t *f, size_t len, json_t *fields);

static void check_batch(frame_ctx *fc, const uint8_t *f, size_t len, json_t *fields) {
  json_t *subs = json_object_get(fields, "frames");
  wire_batch_iter it;
  const uint8_t *sf;
  size_t sl;
  size_t k = 0;
  assert_int_equal(wire_batch_begin(&it, f, len), SW_OK);
  assert_int_equal(f[1], json_integer_value(json_object_get(fields, "count")));
  while (wire_batch_next(&it, &sf, &sl)) {
    json_t *sub = json_array_get(subs, k);
    assert_non_null(sub);
    assert_int_equal(sl, json_integer_value(json_object_get(sub, "len")));
    assert_string_equal(tu_hex(sf, sl), tu_str(sub, "hex"));
    check_frame(fc, sf, sl, sub);
    k++;
  }
  assert_int_equal(k, json_array_size(subs));
  assert_int_equal(it.off, len); /* the references' batches have no trailing bytes */
}

static void check_frame(frame_ctx *fc, const uint8_t *f, size_t len, json_t *fields) {
  assert_true(len >= 1);
  int ti = type_index(f[0]);
  assert_true(ti >= 0);
  fc->seen[ti]++;
  assert_string_equal(type_names[ti].name, tu_str(fields, "type_name"));
  assert_string_equal(tu_hex(f, 1), tu_str(fields, "type"));
  switch (f[0]) {
    case WIRE_HELLO:
    case WIRE_HELLO_ACK: {
      char hex[2 * WIRE_HELLO_LEN + 1];
      snprintf(hex, sizeof hex, "%s", tu_hex(f, len));
      check_hello(hex, f[0], tu_str(fields, "wire_id"), tu_str(fields, "public_key"));
      fc->encoded_same++;
      break;
    }
    case WIRE_PING: {
      uint8_t id[20], out[WIRE_PING_LEN];
      tu_unhex_into(tu_str(fields, "sender_id"), id, 20);
      uint64_t ts = (uint64_t)json_integer_value(json_object_get(fields, "timestamp_ms"));
      assert_int_equal(len, WIRE_PING_LEN);
      assert_int_equal(wire_ping_encode(out, ts, id), WIRE_PING_LEN);
      assert_memory_equal(out, f, len);
      assert_true(wire_get64(f + 1) == ts);
      fc->encoded_same++;
      break;
    }
    case WIRE_PONG: {
      uint8_t id[20], out[WIRE_PONG_LEN];
      tu_unhex_into(tu_str(fields, "sender_id"), id, 20);
      assert_int_equal(len, WIRE_PONG_LEN);
      assert_int_equal(wire_pong_encode(out, id), WIRE_PONG_LEN);
      assert_memory_equal(out, f, len);
      fc->encoded_same++;
      break;
    }
    case WIRE_GOAWAY:
      /* the references' GOAWAY is one byte: below the 2-byte dispatch minimum (10) */
      assert_int_equal(len, 1);
      assert_true(len < WIRE_GOAWAY_LEN);
      break;
    case WIRE_DATA: check_data(fc, f, len, fields); break;
    case WIRE_FRAG: check_frag(fc, f, len, fields); break;
    case WIRE_BATCH: check_batch(fc, f, len, fields); break;
    default: break; /* control frames we do not decode yet: the type byte is checked */
  }
}

static void check_list(frame_ctx *fc, json_t *list) {
  size_t i;
  json_t *d;
  json_array_foreach(list, i, d) {
    size_t len;
    uint8_t *f = tu_unhex(tu_str(d, "hex"), &len);
    check_frame(fc, f, len, json_object_get(d, "fields"));
    free(f);
  }
}

static void test_frames_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("frames.json");
  frame_ctx *fc = calloc(1, sizeof *fc);
  const char *k;
  json_t *s;
  json_object_foreach(json_object_get(v, "sessions"), k, s) {
    assert_true(fc->nkeys + 2 <= MAX_KEYS);
    tu_unhex_into(tu_str(s, "send_key_hex"), fc->keys[fc->nkeys++], 32);
  }
  assert_int_equal(fc->nkeys, 6);
  size_t i;
  json_t *e;
  int lists = 0;
  json_array_foreach(json_object_get(v, "frames"), i, e) {
    const char *key;
    json_t *val;
    json_object_foreach(e, key, val) {
      json_t *first = json_array_get(val, 0);
      if (!json_is_array(val) || !json_is_object(first) || !json_object_get(first, "hex"))
        continue;
      check_list(fc, val);
      lists++;
    }
  }
  json_t *cross = json_object_get(v, "cross_receiver");
  check_list(fc, json_object_get(cross, "python_receiver_acks"));
  assert_true(lists >= 25);
  /* every type of the registry appears, so every one was checked */
  for (size_t t = 0; t < NTYPES; t++)
    if (!fc->seen[t]) fail_msg("no %s frame in frames.json", type_names[t].name);
  assert_int_equal(fc->data_frames, 15);
  /* HELLO, HELLO_ACK, PING, PONG, 9 FRAG and 15 DATA were re-encoded identically */
  assert_int_equal(fc->encoded_same, 28);
  assert_int_equal(fc->seen[type_index(WIRE_BATCH)], 8);
  /* FRAG_3000 and its two re-fragmentations all reassemble to payload_hex */
  size_t pl;
  uint8_t *payload = NULL;
  json_array_foreach(json_object_get(v, "frames"), i, e) {
    if (strcmp(tu_str(e, "name"), "FRAG_3000") == 0) payload = tu_unhex(tu_str(e, "payload_hex"), &pl);
  }
  assert_non_null(payload);
  assert_int_equal(pl, 3000);
  assert_int_equal(fc->nsets, 3);
  for (int n = 0; n < fc->nsets; n++) {
    uint8_t buf[3000];
    size_t off = 0;
    assert_int_equal(fc->sets[n].count, (pl + WIRE_FRAG_DATA_MAX - 1) / WIRE_FRAG_DATA_MAX);
    for (int p = 0; p < fc->sets[n].count; p++) {
      assert_non_null(fc->sets[n].piece[p]);
      assert_true(off + fc->sets[n].len[p] <= sizeof buf);
      memcpy(buf + off, fc->sets[n].piece[p], fc->sets[n].len[p]);
      off += fc->sets[n].len[p];
      free(fc->sets[n].piece[p]);
    }
    assert_int_equal(off, pl);
    assert_memory_equal(buf, payload, pl);
  }
  free(payload);
  free(fc);
  json_decref(v);
}

static void test_ping_pong_encode(void **state) {
  (void)state;
  /* PING from frames.json: A's heartbeat at 1700000000123 ms */
  uint8_t id[20], out[WIRE_PING_LEN];
  tu_unhex_into("e0747b0fc2e5f8562239f8a2df040ff919018325", id, 20);
  wire_ping_encode(out, 1700000000123ull, id);
  assert_string_equal(tu_hex(out, sizeof out),
                      "030000018bcfe5687be0747b0fc2e5f8562239f8a2df040ff919018325");
  /* the whole u64 range is big-endian */
  wire_ping_encode(out, 0x0102030405060708ull, id);
  assert_string_equal(tu_hex(out, 9), "030102030405060708");
  uint8_t pong[WIRE_PONG_LEN];
  tu_unhex_into("579ed6b4c72108eb99a4236832f58fd3dcdc3325", id, 20);
  wire_pong_encode(pong, id);
  assert_string_equal(tu_hex(pong, sizeof pong), "04579ed6b4c72108eb99a4236832f58fd3dcdc3325");
}

/* ---- FRAG ------------------------------------------------------------------- */

static size_t make_frag(uint8_t *out, uint16_t index, uint16_t count, size_t len) {
  static const uint8_t id[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t data[WIRE_FRAG_DATA_MAX + 8];
  for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 7);
  return wire_frag_encode(out, id, index, count, data, len);
}

static void test_frag_decode_rules(void **state) {
  (void)state;
  uint8_t buf[WIRE_FRAG_HDR + WIRE_FRAG_DATA_MAX + 8];
  wire_frag f;
  size_t n;
  /* a full piece, the last piece, an empty piece */
  n = make_frag(buf, 0, 3, WIRE_FRAG_DATA_MAX);
  assert_int_equal(n, 1201);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_OK);
  assert_int_equal(f.index, 0);
  assert_int_equal(f.count, 3);
  assert_int_equal(f.len, WIRE_FRAG_DATA_MAX);
  assert_int_equal(f.data[5], 35);
  n = make_frag(buf, 2, 3, 624);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_OK);
  assert_int_equal(f.index, 2);
  assert_int_equal(f.len, 624);
  n = make_frag(buf, 0, 1, 0);
  assert_int_equal(n, WIRE_FRAG_HDR);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_OK);
  assert_int_equal(f.len, 0);
  /* the largest index and count the u16 fields allow */
  n = make_frag(buf, 65534, 65535, 10);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_OK);
  assert_int_equal(f.index, 65534);
  assert_int_equal(f.count, 65535);
  /* D18: index >= count, count 0, oversize piece: refused */
  n = make_frag(buf, 3, 3, 100);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_EINVAL);
  n = make_frag(buf, 4, 3, 100);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_EINVAL);
  n = make_frag(buf, 65535, 65535, 100);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_EINVAL);
  n = make_frag(buf, 0, 0, 100);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_EINVAL);
  n = make_frag(buf, 0, 2, WIRE_FRAG_DATA_MAX + 1);
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_EINVAL);
  /* shorter than the 13-byte header, or not a FRAG */
  n = make_frag(buf, 0, 1, 0);
  assert_int_equal(wire_frag_decode(buf, WIRE_FRAG_HDR - 1, &f), SW_EINVAL);
  assert_int_equal(wire_frag_decode(buf, 1, &f), SW_EINVAL);
  buf[0] = WIRE_DATA;
  assert_int_equal(wire_frag_decode(buf, n, &f), SW_EINVAL);
}

/* ---- BATCH ------------------------------------------------------------------ */

static int batch_collect(const uint8_t *b, size_t len, const uint8_t **fr, size_t *fl, int max) {
  wire_batch_iter it;
  int n = 0;
  if (wire_batch_begin(&it, b, len)) return -1;
  while (n < max && wire_batch_next(&it, &fr[n], &fl[n])) n++;
  return n;
}

static void test_batch_iteration(void **state) {
  (void)state;
  const uint8_t *fr[8];
  size_t fl[8];
  /* three frames, the references' layout */
  static const uint8_t three[] = {0x13, 3, 0, 2, 0x0a, 0x00, 0, 3, 0x10, 0, 0, 0, 1, 0x04};
  assert_int_equal(batch_collect(three, sizeof three, fr, fl, 8), 3);
  assert_int_equal(fl[0], 2);
  assert_ptr_equal(fr[0], three + 4);
  assert_int_equal(fl[1], 3);
  assert_ptr_equal(fr[1], three + 8);
  assert_int_equal(fl[2], 1);
  assert_int_equal(fr[2][0], 0x04);
  /* count larger than the entries present: stop after the last whole entry */
  uint8_t more[sizeof three];
  memcpy(more, three, sizeof three);
  more[1] = 200;
  assert_int_equal(batch_collect(more, sizeof more, fr, fl, 8), 3);
  /* one dangling length byte after the last entry: stop there */
  uint8_t dangling[sizeof three + 1];
  memcpy(dangling, more, sizeof more);
  dangling[sizeof three] = 0;
  assert_int_equal(batch_collect(dangling, sizeof dangling, fr, fl, 8), 3);
  /* half a length field, or a truncated body (length says 3, 2 or 1 remain), stops
   * the iteration before that entry */
  assert_int_equal(batch_collect(three, sizeof three - 2, fr, fl, 8), 2);
  assert_int_equal(batch_collect(three, sizeof three - 4, fr, fl, 8), 1);
  assert_int_equal(batch_collect(three, sizeof three - 5, fr, fl, 8), 1);
  assert_int_equal(batch_collect(three, sizeof three - 7, fr, fl, 8), 1);
  assert_int_equal(batch_collect(three, sizeof three - 9, fr, fl, 8), 0);
  /* an entry claiming 65535 bytes */
  static const uint8_t huge[] = {0x13, 2, 0, 1, 0x03, 0xff, 0xff, 1, 2, 3};
  assert_int_equal(batch_collect(huge, sizeof huge, fr, fl, 8), 1);
  /* count smaller than the entries: the rest is ignored (PROTOCOL.md 8.2) */
  uint8_t fewer[sizeof three];
  memcpy(fewer, three, sizeof three);
  fewer[1] = 2;
  assert_int_equal(batch_collect(fewer, sizeof fewer, fr, fl, 8), 2);
  fewer[1] = 0;
  assert_int_equal(batch_collect(fewer, sizeof fewer, fr, fl, 8), 0);
  /* zero-length entries are yielded as empty frames (dispatch drops them) */
  static const uint8_t empties[] = {0x13, 2, 0, 0, 0, 0};
  assert_int_equal(batch_collect(empties, sizeof empties, fr, fl, 8), 2);
  assert_int_equal(fl[0], 0);
  assert_int_equal(fl[1], 0);
  /* too short, or not a BATCH */
  assert_int_equal(batch_collect(three, 2, fr, fl, 8), -1);
  assert_int_equal(batch_collect(three, 0, fr, fl, 8), -1);
  uint8_t wrong[sizeof three];
  memcpy(wrong, three, sizeof three);
  wrong[0] = 0x14;
  assert_int_equal(batch_collect(wrong, sizeof wrong, fr, fl, 8), -1);
  /* a 3-byte BATCH with count 1 and one length byte only */
  static const uint8_t tiny[] = {0x13, 1, 0};
  assert_int_equal(batch_collect(tiny, sizeof tiny, fr, fl, 8), 0);
}

static void test_batch_255_entries(void **state) {
  (void)state;
  /* the count byte's limit (D27): 255 two-byte frames */
  uint8_t b[2 + 255 * 4];
  b[0] = 0x13;
  b[1] = 255;
  for (int i = 0; i < 255; i++) {
    b[2 + 4 * i] = 0;
    b[3 + 4 * i] = 2;
    b[4 + 4 * i] = 0x99;
    b[5 + 4 * i] = (uint8_t)i;
  }
  wire_batch_iter it;
  const uint8_t *f;
  size_t fl;
  int n = 0;
  assert_int_equal(wire_batch_begin(&it, b, sizeof b), SW_OK);
  while (wire_batch_next(&it, &f, &fl)) {
    assert_int_equal(fl, 2);
    assert_int_equal(f[1], (uint8_t)n);
    n++;
  }
  assert_int_equal(n, 255);
}

static void test_int_helpers(void **state) {
  (void)state;
  uint8_t b[8];
  wire_put16(b, 0xabcd);
  assert_int_equal(b[0], 0xab);
  assert_int_equal(wire_get16(b), 0xabcd);
  wire_put32(b, 0xdeadbeef);
  assert_string_equal(tu_hex(b, 4), "deadbeef");
  assert_true(wire_get32(b) == 0xdeadbeefu);
  wire_put64(b, 0x0123456789abcdefull);
  assert_string_equal(tu_hex(b, 8), "0123456789abcdef");
  assert_true(wire_get64(b) == 0x0123456789abcdefull);
  uint8_t h[WIRE_DATA_HDR];
  wire_data_header(h, 0x931e7279, 1);
  assert_string_equal(tu_hex(h, sizeof h), "01931e72790000000000000001");
}

/* ---- addr ------------------------------------------------------------------- */

static const char *fmt(const sw_addr *a) {
  static char buf[SW_ADDRSTRLEN];
  assert_true(addr_format(a, buf, sizeof buf) > 0);
  return buf;
}

static void test_addr_parse_format(void **state) {
  (void)state;
  sw_addr a, b;
  assert_int_equal(addr_parse_ip(&a, "198.51.100.1", 40001), SW_OK);
  assert_int_equal(a.family, 4);
  assert_int_equal(a.port, 40001);
  assert_string_equal(tu_hex(a.ip, 16), "c6336401000000000000000000000000");
  assert_string_equal(fmt(&a), "198.51.100.1:40001");
  char ip[64];
  assert_int_equal(addr_format_ip(&a, ip, sizeof ip), 12);
  assert_string_equal(ip, "198.51.100.1");
  /* IPv6: canonical text, brackets around the address */
  assert_int_equal(addr_parse_ip(&a, "2001:DB8:0:0:0:0:0:1", 443), SW_OK);
  assert_int_equal(a.family, 6);
  assert_string_equal(fmt(&a), "[2001:db8::1]:443");
  assert_int_equal(addr_parse_ip(&a, "::1", 0), SW_OK);
  assert_string_equal(fmt(&a), "[::1]:0");
  assert_int_equal(addr_parse_ip(&a, "::", 65535), SW_OK);
  assert_string_equal(fmt(&a), "[::]:65535");
  /* ::ffff:a.b.c.d is the IPv4 address itself: one form per address */
  assert_int_equal(addr_parse_ip(&a, "::ffff:10.1.2.3", 7), SW_OK);
  assert_int_equal(addr_parse_ip(&b, "10.1.2.3", 7), SW_OK);
  assert_int_equal(a.family, 4);
  assert_true(addr_equal(&a, &b));
  assert_memory_equal(&a, &b, sizeof a);
  assert_true(addr_hash(&a) == addr_hash(&b));
  assert_string_equal(fmt(&a), "10.1.2.3:7");
  assert_int_equal(addr_parse_ip(&a, "::FFFF:0a01:0203", 7), SW_OK);
  assert_true(addr_equal(&a, &b));
  /* ::a.b.c.d (v4-compatible) and 64:ff9b::/96 are real IPv6 addresses */
  assert_int_equal(addr_parse_ip(&a, "64:ff9b::10.1.2.3", 7), SW_OK);
  assert_int_equal(a.family, 6);
  assert_false(addr_equal(&a, &b));
  /* raw bytes: 4, 16 mapped, 16 */
  uint8_t raw[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  addr_from_raw(&a, raw, 16, 9);
  assert_int_equal(a.family, 4);
  assert_string_equal(fmt(&a), "127.0.0.1:9");
  addr_from_raw(&b, raw + 12, 4, 9);
  assert_memory_equal(&a, &b, sizeof a);
  raw[10] = 0;
  addr_from_raw(&a, raw, 16, 9);
  assert_int_equal(a.family, 6);
  addr_from_raw(&a, raw, 5, 9);
  assert_int_equal(a.family, 0);
  assert_int_equal(addr_format(&a, ip, sizeof ip), SW_EINVAL);
  /* equality looks at family, port and address */
  assert_int_equal(addr_parse_ip(&a, "10.1.2.3", 8), SW_OK);
  assert_false(addr_equal(&a, &b));
  assert_int_equal(addr_parse_ip(&a, "10.1.2.4", 7), SW_OK);
  assert_int_equal(addr_parse_ip(&b, "10.1.2.3", 7), SW_OK);
  assert_false(addr_equal(&a, &b));
  assert_false(addr_hash(&a) == addr_hash(&b));
  /* not numeric, or malformed */
  assert_int_equal(addr_parse_ip(&a, "localhost", 1), SW_EINVAL);
  assert_int_equal(addr_parse_ip(&a, "1.2.3.256", 1), SW_EINVAL);
  assert_int_equal(addr_parse_ip(&a, "1.2.3", 1), SW_EINVAL);
  assert_int_equal(addr_parse_ip(&a, " 1.2.3.4", 1), SW_EINVAL);
  assert_int_equal(addr_parse_ip(&a, "fe80::1%eth0", 1), SW_EINVAL);
  assert_int_equal(addr_parse_ip(&a, "", 1), SW_EINVAL);
  assert_int_equal(addr_parse_ip(&a, NULL, 1), SW_EINVAL);
  /* a buffer too small for the text */
  assert_int_equal(addr_parse_ip(&a, "198.51.100.1", 40001), SW_OK);
  assert_int_equal(addr_format(&a, ip, 18), SW_EINVAL);
  assert_int_equal(addr_format(&a, ip, 19), 18);
  assert_string_equal(ip, "198.51.100.1:40001");
}

static void test_addr_hostport(void **state) {
  (void)state;
  sw_addr a;
  char host[64];
  uint16_t port = 1;
  assert_int_equal(addr_parse_hostport(&a, "198.51.100.2:40002"), SW_OK);
  assert_string_equal(fmt(&a), "198.51.100.2:40002");
  assert_int_equal(addr_parse_hostport(&a, "[2001:db8::7]:1"), SW_OK);
  assert_int_equal(a.family, 6);
  assert_string_equal(fmt(&a), "[2001:db8::7]:1");
  assert_int_equal(addr_parse_hostport(&a, "[::ffff:192.0.2.5]:80"), SW_OK);
  assert_int_equal(a.family, 4);
  assert_string_equal(fmt(&a), "192.0.2.5:80");
  /* names are split but not resolved here */
  assert_int_equal(addr_split_hostport("example.org:8080", host, sizeof host, &port), SW_OK);
  assert_string_equal(host, "example.org");
  assert_int_equal(port, 8080);
  assert_int_equal(addr_parse_hostport(&a, "example.org:8080"), SW_EINVAL);
  /* port 0 stays 0 (the caller decides on a fallback, PROTOCOL.md 1) */
  assert_int_equal(addr_split_hostport("1.2.3.4:0", host, sizeof host, &port), SW_OK);
  assert_int_equal(port, 0);
  assert_int_equal(addr_split_hostport("1.2.3.4:65535", host, sizeof host, &port), SW_OK);
  assert_int_equal(port, 65535);
  /* errors */
  static const char *bad[] = {
      "",       "1.2.3.4",       "1.2.3.4:",      "1.2.3.4:65536", "1.2.3.4:-1",
      "1.2.3.4:+1", "1.2.3.4:12a",  "1.2.3.4:0x10", "1.2.3.4:99999999999999999999",
      "::1:80", "2001:db8::1",   "[::1]80",       "[::1]",         "[::1",
      ":80",    "[]:80",         "[::1]:",        "a:b:80",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    port = 4242;
    if (addr_split_hostport(bad[i], host, sizeof host, &port) != SW_EINVAL)
      fail_msg("'%s' was split", bad[i]);
    assert_int_equal(port, 4242); /* untouched on error */
    assert_int_equal(addr_parse_hostport(&a, bad[i]), SW_EINVAL);
  }
  assert_int_equal(addr_split_hostport(NULL, host, sizeof host, &port), SW_EINVAL);
  /* a host longer than the caller's buffer is refused, never truncated */
  assert_int_equal(addr_split_hostport("abcdefgh:1", host, 8, &port), SW_EINVAL);
  assert_int_equal(addr_split_hostport("abcdefg:1", host, 8, &port), SW_OK);
  assert_string_equal(host, "abcdefg");
  char longhost[128];
  memset(longhost, 'a', 100);
  strcpy(longhost + 100, ":5");
  assert_int_equal(addr_parse_hostport(&a, longhost), SW_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hello_vectors),     cmocka_unit_test(test_hello_trailer_rule),
      cmocka_unit_test(test_frames_vectors),    cmocka_unit_test(test_ping_pong_encode),
      cmocka_unit_test(test_frag_decode_rules), cmocka_unit_test(test_batch_iteration),
      cmocka_unit_test(test_batch_255_entries), cmocka_unit_test(test_int_helpers),
      cmocka_unit_test(test_addr_parse_format), cmocka_unit_test(test_addr_hostport),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
