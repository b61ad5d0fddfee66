/* store / fetch (src/core/sync.c): the frame codecs byte for byte against the
 * references' datagrams (vectors/frames.json), then cores back to back in virtual
 * time: small and large values, the sending window and its retransmissions, the
 * receive-side hardening of PROTOCOL.md 18 (D6, D17, D19, D28, D29, D30). */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "sync.h"
#include "testutil.h"
#include "wire.h"

/* ---- codecs against the vectors -------------------------------------------------- */

static json_t *frame_named(json_t *root, const char *name) {
  json_t *frames = json_object_get(root, "frames"), *f;
  size_t i;
  json_array_foreach(frames, i, f) if (strcmp(tu_str(f, "name"), name) == 0) return f;
  fail_msg("no frame %s in frames.json", name);
  return NULL;
}

static const char *dgram_hex(json_t *f, const char *list, size_t i) {
  json_t *d = json_array_get(json_object_get(f, list), i);
  assert_non_null(d);
  return tu_str(d, "hex");
}

static void expect_bytes(const uint8_t *got, size_t n, const char *hex) {
  size_t len;
  uint8_t *want = tu_unhex(hex, &len);
  assert_int_equal(n, len);
  assert_memory_equal(got, want, len);
  free(want);
}

static void test_codec_vectors(void **state) {
  (void)state;
  json_t *root = tu_vectors("frames.json");
  uint8_t out[2048];
  sync_frame fr;
  size_t n, len;

  /* HAVE summary with three keys in store order (11.1) */
  sync_key keys[3] = {{(const uint8_t *)"alpha", 5}, {(const uint8_t *)"beta", 4},
                      {(const uint8_t *)"big", 3}};
  n = sync_have_encode(out, sizeof out, keys, 3);
  expect_bytes(out, n, dgram_hex(frame_named(root, "HAVE_3_KEYS"), "datagrams", 0));
  assert_int_equal(sync_decode(out, n, &fr), SW_OK);
  assert_int_equal(fr.nkeys, 3);
  size_t off = 2, kl;
  const uint8_t *k;
  for (int i = 0; i < 3; i++) {
    assert_true(sync_have_next(out, n, &off, &k, &kl));
    assert_int_equal(kl, keys[i].len);
    assert_memory_equal(k, keys[i].p, kl);
  }
  assert_false(sync_have_next(out, n, &off, &k, &kl));
  /* the batched one-key HAVEs of store() */
  json_t *batch = frame_named(root, "HAVE_ANNOUNCE_BATCH");
  json_t *inner = json_object_get(json_object_get(
                                      json_array_get(json_object_get(batch, "datagrams"), 0),
                                      "fields"), "frames");
  for (int i = 0; i < 3; i++) {
    n = sync_have_encode(out, sizeof out, &keys[i], 1);
    expect_bytes(out, n, tu_str(json_array_get(inner, (size_t)i), "hex"));
  }

  /* WANT, and the WANT sent in answer to a HAVE */
  n = sync_want_encode(out, (const uint8_t *)"beta", 4);
  expect_bytes(out, n, dgram_hex(frame_named(root, "WANT"), "datagrams", 0));
  expect_bytes(out, n, tu_str(json_array_get(json_object_get(frame_named(root, "HAVE_3_KEYS"),
                                                             "want_after_have"), 0), "hex"));
  n = sync_want_encode(out, (const uint8_t *)"big", 3);
  expect_bytes(out, n, dgram_hex(frame_named(root, "WANT_BIG"), "datagrams", 0));
  assert_int_equal(sync_decode(out, n, &fr), SW_OK);
  assert_int_equal(fr.type, WIRE_WANT);
  assert_int_equal(fr.klen, 3);

  /* small CHUNK */
  n = sync_chunk_small_encode(out, (const uint8_t *)"beta", 4, (const uint8_t *)"value-beta", 10);
  expect_bytes(out, n, dgram_hex(frame_named(root, "CHUNK_SMALL"), "datagrams", 0));
  assert_int_equal(sync_decode(out, n, &fr), SW_OK);
  assert_false(fr.large);
  assert_int_equal(fr.vlen, 10);
  assert_memory_equal(fr.value, "value-beta", 10);

  /* large CHUNKs: the 2000-byte value in 3 pieces, each re-encoded byte for byte */
  json_t *large = frame_named(root, "CHUNK_LARGE");
  uint8_t *value = tu_unhex(tu_str(large, "value_hex"), &len);
  assert_int_equal(len, 2000);
  for (uint16_t i = 0; i < 3; i++) {
    size_t dl = i < 2 ? 900 : 200;
    n = sync_chunk_large_encode(out, (const uint8_t *)"big", 3, i, 3, value + i * 900, dl);
    expect_bytes(out, n, dgram_hex(large, "python_datagrams", i));
    assert_int_equal(sync_decode(out, n, &fr), SW_OK);
    assert_true(fr.large);
    assert_int_equal(fr.index, i);
    assert_int_equal(fr.count, 3);
    assert_int_equal(fr.vlen, dl);
    assert_memory_equal(fr.value, value + i * 900, dl);
  }
  /* JavaScript put chunks 1 and 2 in one BATCH: the same frames inside */
  uint8_t *js = tu_unhex(dgram_hex(large, "js_datagrams", 1), &len);
  wire_batch_iter it;
  const uint8_t *f;
  size_t fl;
  int idx = 1;
  assert_int_equal(wire_batch_begin(&it, js, len), SW_OK);
  while (wire_batch_next(&it, &f, &fl)) {
    assert_int_equal(sync_decode(f, fl, &fr), SW_OK);
    assert_int_equal(fr.index, idx);
    n = sync_chunk_large_encode(out, (const uint8_t *)"big", 3, fr.index, 3, fr.value, fr.vlen);
    expect_bytes(out, n, dgram_hex(large, "python_datagrams", (size_t)idx));
    idx++;
  }
  assert_int_equal(idx, 3);
  free(js);
  free(value);

  /* CHUNK_ACK, and the acks the Python receiver sent for the JavaScript chunks */
  n = sync_ack_encode(out, (const uint8_t *)"big", 3, 0);
  expect_bytes(out, n, dgram_hex(frame_named(root, "CHUNK_ACK_FIRST"), "datagrams", 0));
  json_t *cross = json_object_get(root, "cross_receiver");
  assert_true(json_is_true(json_object_get(cross, "python_receiver_got_value")));
  for (uint16_t i = 0; i < 3; i++) {
    n = sync_ack_encode(out, (const uint8_t *)"big", 3, i);
    expect_bytes(out, n, dgram_hex(cross, "python_receiver_acks", i));
    if (i) expect_bytes(out, n, dgram_hex(frame_named(root, "CHUNK_ACK_REST"),
                                          "python_datagrams", i - 1u));
    assert_int_equal(sync_decode(out, n, &fr), SW_OK);
    assert_int_equal(fr.type, WIRE_CHUNK_ACK);
    assert_int_equal(fr.index, i);
  }
  json_decref(root);
}

/* The stream messages of PROTOCOL.md 21.10: each layout, and what is refused. */
static void test_stream_codec(void **state) {
  (void)state;
  uint8_t out[SYNC_STREAM_HDR + 16], data[5] = {1, 2, 3, 4, 5};
  sync_smsg m;
  size_t n = sync_stream_encode(out, SYNC_S_WANT, (const uint8_t *)"key", 3, 0, NULL, 0);
  assert_int_equal(n, 5);
  assert_memory_equal(out, "\x01\x03key", 5);
  assert_int_equal(sync_stream_decode(out, n, &m), SW_OK);
  assert_int_equal(m.type, SYNC_S_WANT);
  assert_int_equal(m.klen, 3);
  n = sync_stream_encode(out, SYNC_S_VALUE, (const uint8_t *)"k", 1, 70000, data, 5);
  assert_int_equal(n, 2 + 1 + 4 + 5);
  assert_memory_equal(out, "\x02\x01k\x00\x01\x11\x70\x01\x02\x03\x04\x05", n);
  assert_int_equal(sync_stream_decode(out, n, &m), SW_OK);
  assert_int_equal(m.num, 70000);
  assert_int_equal(m.dlen, 5);
  assert_int_equal(sync_stream_decode(out, 7, &m), SW_EINVAL); /* no value byte */
  n = sync_stream_encode(out, SYNC_S_VALUE, (const uint8_t *)"k", 1, 4, data, 5);
  assert_int_equal(sync_stream_decode(out, n, &m), SW_EINVAL); /* more than the total */
  n = sync_stream_encode(out, SYNC_S_PIECE, (const uint8_t *)"k", 1, 16384, data, 1);
  assert_int_equal(sync_stream_decode(out, n, &m), SW_OK);
  assert_int_equal(m.num, 16384);
  /* VALUE_TTL: the total, the time left, the first bytes; a zero lifetime is refused. */
  n = sync_stream_encode_ttl(out, (const uint8_t *)"k", 1, 70000, 5000, data, 5);
  assert_int_equal(n, 2 + 1 + 8 + 5);
  assert_memory_equal(out, "\x10\x01k\x00\x01\x11\x70\x00\x00\x13\x88\x01\x02\x03\x04\x05", n);
  assert_int_equal(sync_stream_decode(out, n, &m), SW_OK);
  assert_int_equal(m.type, SYNC_S_VALUE_TTL);
  assert_int_equal(m.num, 70000);
  assert_int_equal(m.ttl_ms, 5000);
  assert_int_equal(m.dlen, 5);
  assert_memory_equal(m.data, data, 5);
  assert_int_equal(sync_stream_decode(out, 11, &m), SW_EINVAL); /* no value byte */
  n = sync_stream_encode_ttl(out, (const uint8_t *)"k", 1, 70000, 0, data, 5);
  assert_int_equal(sync_stream_decode(out, n, &m), SW_EINVAL);
  n = sync_stream_encode_ttl(out, (const uint8_t *)"k", 1, 4, 10, data, 5);
  assert_int_equal(sync_stream_decode(out, n, &m), SW_EINVAL); /* more than the total */
  static const uint8_t bad[][4] = {{0x06, 1, 'k', 0}, {0x04, 0, 'k', 0}, {0x04, 3, 'k', 0},
                                   {0x00, 1, 'k', 0}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(sync_stream_decode(bad[i], 3, &m), SW_EINVAL);
  assert_int_equal(sync_stream_decode(out, 2, &m), SW_EINVAL);
  assert_int_equal(sync_stream_decode((const uint8_t *)"\x05\x01kXX", 5, &m), SW_OK);
}

static void test_decode_bounds(void **state) {
  (void)state;
  sync_frame fr;
  /* the references' minimum lengths, and our non-empty keys */
  static const uint8_t have2[] = {0x10, 1};
  static const uint8_t want_short[] = {0x11, 4, 'a', 'b'};
  static const uint8_t want_empty[] = {0x11, 0, 'a'};
  static const uint8_t chunk_nolen[] = {0x12, 1, 'k', 0};
  static const uint8_t chunk_trunc[] = {0x12, 1, 'k', 0, 5, 'a', 'b'};
  static const uint8_t large_trunc[] = {0x12, 1, 'k', 0xff, 0xff, 0, 0, 0};
  static const uint8_t ack_short[] = {0x14, 1, 'k', 0};
  static const uint8_t other[] = {0x13, 0, 0};
  assert_int_not_equal(sync_decode(have2, sizeof have2, &fr), SW_OK);
  assert_int_not_equal(sync_decode(want_short, sizeof want_short, &fr), SW_OK);
  assert_int_not_equal(sync_decode(want_empty, sizeof want_empty, &fr), SW_OK);
  assert_int_not_equal(sync_decode(chunk_nolen, sizeof chunk_nolen, &fr), SW_OK);
  assert_int_not_equal(sync_decode(chunk_trunc, sizeof chunk_trunc, &fr), SW_OK);
  assert_int_not_equal(sync_decode(large_trunc, sizeof large_trunc, &fr), SW_OK);
  assert_int_not_equal(sync_decode(ack_short, sizeof ack_short, &fr), SW_OK);
  assert_int_not_equal(sync_decode(other, sizeof other, &fr), SW_OK);
  assert_int_not_equal(sync_decode(NULL, 0, &fr), SW_OK);
  /* a small CHUNK with extra bytes is accepted, the extra ignored (11.3) */
  static const uint8_t extra[] = {0x12, 1, 'k', 0, 1, 'v', 'x', 'y'};
  assert_int_equal(sync_decode(extra, sizeof extra, &fr), SW_OK);
  assert_int_equal(fr.vlen, 1);
  /* a truncated HAVE entry ends the list */
  static const uint8_t have_trunc[] = {0x10, 2, 1, 'a', 5, 'b'};
  size_t off = 2, kl;
  const uint8_t *k;
  assert_int_equal(sync_decode(have_trunc, sizeof have_trunc, &fr), SW_OK);
  assert_true(sync_have_next(have_trunc, sizeof have_trunc, &off, &k, &kl));
  assert_false(sync_have_next(have_trunc, sizeof have_trunc, &off, &k, &kl));
}

/* ---- cores back to back ------------------------------------------------------------- */

#define NSIDE 4

typedef struct side {
  sw_core *c;
  sw_addr addr;
  tu_rng rng;
  int syncs;
  size_t last_sync_len;
} side;

typedef struct world {
  side s[NSIDE];
  int n;
  uint64_t now;
  /* drop(frame type) from side i to side j when set */
  int drop_type[NSIDE][NSIDE];
  uint64_t dropped;
} world;

static void side_rand(void *ctx, uint8_t *b, size_t n) { tu_rng_bytes(&((side *)ctx)->rng, b, n); }

static void side_event(void *ctx, const sw_event *ev) {
  side *s = ctx;
  if (ev->type == SW_EV_SYNC) {
    s->syncs++;
    s->last_sync_len = ev->len;
  }
}

static void world_init(world *w, int n, size_t cache_max, size_t cache_bytes) {
  static const char *seeds[NSIDE] = {"a1", "b2", "c3", "d4"};
  memset(w, 0, sizeof *w);
  w->n = n;
  for (int i = 0; i < n; i++) {
    side *s = &w->s[i];
    s->rng.s = 77 + (uint64_t)i;
    sw_core_config cfg = {.seed_hex = seeds[i], .random = side_rand, .on_event = side_event,
                          .ctx = s, .sync = 1, .store_cache_max = cache_max,
                          .store_cache_bytes = cache_bytes};
    assert_int_equal(sw_core_new(&s->c, &cfg, 0), SW_OK);
    char a[32];
    snprintf(a, sizeof a, "10.0.0.%d:%d", i + 1, 1000 + i);
    assert_int_equal(addr_parse_hostport(&s->addr, a), SW_OK);
  }
}

static void world_free(world *w) {
  for (int i = 0; i < w->n; i++) sw_core_free(w->s[i].c);
}

static int side_at(world *w, const sw_addr *a) {
  for (int i = 0; i < w->n; i++)
    if (addr_equal(&w->s[i].addr, a)) return i;
  return -1;
}

/* Whether a datagram is, or holds in its BATCH, a frame of type t (0xFF: any). */
static int has_type(const uint8_t *d, size_t len, int t) {
  wire_batch_iter it;
  const uint8_t *f;
  size_t fl;
  if (t == 0xFF) return 1;
  if (len && d[0] == WIRE_BATCH && wire_batch_begin(&it, d, len) == SW_OK) {
    while (wire_batch_next(&it, &f, &fl))
      if (fl && f[0] == t) return 1;
    return 0;
  }
  return len && d[0] == t;
}

/* Deliver everything queued, repeatedly, until the network is quiet. */
static size_t pump(world *w) {
  size_t total = 0, moved;
  do {
    moved = 0;
    for (int i = 0; i < w->n; i++) {
      sw_dgram d[64];
      size_t n;
      sw_core_flush(w->s[i].c, w->now);
      while ((n = sw_core_out_peek(w->s[i].c, d, 64)) > 0) {
        for (size_t k = 0; k < n; k++) {
          int j = side_at(w, d[k].to);
          if (j < 0) continue;
          if (w->drop_type[i][j] && has_type(d[k].data, d[k].len, w->drop_type[i][j])) {
            w->dropped++;
            continue;
          }
          sw_core_datagram(w->s[j].c, d[k].kind, &w->s[i].addr, d[k].data, d[k].len, w->now);
        }
        sw_core_out_consume(w->s[i].c, n, w->now);
        moved += n;
      }
    }
    total += moved;
  } while (moved);
  return total;
}

/* Advance virtual time to t, firing deadlines in order and pumping after each. */
static void run_until(world *w, uint64_t t) {
  pump(w); /* what API calls queued */
  for (;;) {
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < w->n; i++) {
      uint64_t d = sw_core_deadline(w->s[i].c);
      if (d < next) next = d;
    }
    if (next > t) break;
    if (next > w->now) w->now = next;
    for (int i = 0; i < w->n; i++)
      if (sw_core_deadline(w->s[i].c) <= w->now) sw_core_timeout(w->s[i].c, w->now);
    pump(w);
  }
  w->now = t;
}

static void connect_sides(world *w, int a, int b) {
  assert_int_equal(sw_core_dial(w->s[a].c, &w->s[b].addr, NULL, w->now), SW_OK);
  pump(w);
  assert_true(core_connected(w->s[a].c, core_identity(w->s[b].c)->id));
  assert_true(core_connected(w->s[b].c, core_identity(w->s[a].c)->id));
}

typedef struct result {
  int calls, err;
  uint8_t *v;
  size_t len;
} result;

static void on_result(void *user, int err, const char *key, const uint8_t *v, size_t len) {
  result *r = user;
  (void)key;
  r->calls++;
  r->err = err;
  free(r->v);
  r->v = NULL;
  r->len = len;
  if (v && len) {
    r->v = malloc(len);
    memcpy(r->v, v, len);
  }
}

static uint8_t *make_value(size_t n, uint64_t seed) {
  uint8_t *v = malloc(n);
  tu_rng r = {seed};
  tu_rng_bytes(&r, v, n);
  return v;
}

static void fetch_between(size_t size) {
  world w;
  world_init(&w, 2, 0, 0);
  connect_sides(&w, 0, 1);
  uint8_t *v = make_value(size, size);
  assert_int_equal(sw_core_store(w.s[1].c, "key", v, size, w.now), SW_OK);
  result r = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "key", 10000, on_result, &r, w.now), SW_OK);
  assert_int_equal(r.calls, 0); /* never inside the call */
  run_until(&w, 20000);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, size);
  assert_memory_equal(r.v, v, size);
  assert_int_equal(w.s[0].syncs, 1);
  assert_int_equal(w.s[0].last_sync_len, size);
  /* a second fetch is answered from memory, without the network */
  result r2 = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "key", 10000, on_result, &r2, w.now), SW_OK);
  run_until(&w, w.now + 1);
  assert_int_equal(r2.calls, 1);
  assert_int_equal(r2.len, size);
  assert_memory_equal(r2.v, v, size);
  assert_int_equal(w.s[0].syncs, 1);
  sync_stats st;
  assert_int_equal(sync_get_stats(w.s[1].c, &st), SW_OK);
  if (size > SYNC_CHUNK_SIZE) {
    assert_int_equal(st.transfers_done, 1);
    assert_int_equal(st.retransmits, 0);
  }
  free(r.v);
  free(r2.v);
  free(v);
  world_free(&w);
}

static void test_fetch_small(void **state) {
  (void)state;
  fetch_between(1);
  fetch_between(900);
}

static void test_fetch_large(void **state) {
  (void)state;
  fetch_between(901);
  fetch_between(2000);
  fetch_between(1u << 20);
}

/* The window: 8 chunks before any ack; one more per ack; a lost chunk is resent after
 * 1 500 ms; the number of sends is capped (D19) and the transfer then dropped. */
static void test_window_and_retransmission(void **state) {
  (void)state;
  world w;
  world_init(&w, 2, 0, 0);
  connect_sides(&w, 0, 1);
  size_t size = 100 * SYNC_CHUNK_SIZE;
  uint8_t *v = make_value(size, 5);
  assert_int_equal(sw_core_store(w.s[1].c, "w", v, size, w.now), SW_OK);
  w.drop_type[0][1] = WIRE_CHUNK_ACK; /* acks never arrive */
  result r = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "w", 200000, on_result, &r, w.now), SW_OK);
  run_until(&w, w.now + 10);
  sync_stats st;
  sync_get_stats(w.s[1].c, &st);
  assert_int_equal(st.transfers_started, 1);
  assert_int_equal(st.chunks_out, SYNC_WINDOW);
  /* nothing more until the retransmission timer */
  run_until(&w, w.now + SYNC_RTO_MS - 20);
  sync_get_stats(w.s[1].c, &st);
  assert_int_equal(st.chunks_out, SYNC_WINDOW);
  run_until(&w, w.now + 40);
  sync_get_stats(w.s[1].c, &st);
  assert_int_equal(st.chunks_out, 2 * SYNC_WINDOW);
  assert_int_equal(st.retransmits, SYNC_WINDOW);
  /* the cap: each chunk at most 10 sends, then the transfer is given up (before the
   * fetcher's next WANT round, at 16 s, would start another) */
  run_until(&w, w.now + 14000);
  sync_get_stats(w.s[1].c, &st);
  assert_int_equal(st.transfers_abandoned, 1);
  assert_true(st.chunks_out <= 10 * SYNC_WINDOW);
  assert_int_equal(st.transfer_bytes, 0);
  /* acks flowing again: the fetcher's WANT retry starts a new transfer, which completes */
  w.drop_type[0][1] = 0;
  run_until(&w, w.now + 30000);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, size);
  assert_memory_equal(r.v, v, size);
  free(r.v);
  free(v);
  world_free(&w);
}

static void inject(world *w, int to, const sw_addr *from, const uint8_t *f, size_t n) {
  sw_core_datagram(w->s[to].c, SW_SOCK_MAIN, from, f, n, w->now);
  pump(w);
}

/* D6/D28: a CHUNK from a host we did not ask, or for a key we are not fetching, is
 * ignored: no value, no event, no ack, and the real transfer is not corrupted. */
static void test_forged_chunk_ignored(void **state) {
  (void)state;
  world w;
  world_init(&w, 2, 0, 0);
  connect_sides(&w, 0, 1);
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.9.9.9:999");
  uint8_t f[2048];
  size_t n = sync_chunk_small_encode(f, (const uint8_t *)"free", 4, (const uint8_t *)"evil", 4);
  /* unsolicited, from a connected peer: not stored, no event */
  inject(&w, 0, &w.s[1].addr, f, n);
  sync_stats st;
  sync_get_stats(w.s[0].c, &st);
  assert_int_equal(st.ignored, 1);
  assert_int_equal(st.cache_entries, 0);
  assert_int_equal(w.s[0].syncs, 0);

  size_t size = 5000;
  uint8_t *v = make_value(size, 9);
  assert_int_equal(sw_core_store(w.s[1].c, "big", v, size, w.now), SW_OK);
  w.drop_type[1][0] = WIRE_CHUNK; /* hold B's chunks back while the forger strikes */
  result r = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "big", 60000, on_result, &r, w.now), SW_OK);
  pump(&w);
  /* the forger, from an unknown address and from a connected peer we never asked */
  uint8_t junk[SYNC_CHUNK_SIZE];
  memset(junk, 0x66, sizeof junk);
  for (uint16_t i = 0; i < 6; i++) {
    n = sync_chunk_large_encode(f, (const uint8_t *)"big", 3, i, 6, junk,
                                i < 5 ? SYNC_CHUNK_SIZE : 500);
    inject(&w, 0, &stranger, f, n);
  }
  n = sync_chunk_small_encode(f, (const uint8_t *)"big", 3, junk, 10);
  inject(&w, 0, &stranger, f, n);
  sync_get_stats(w.s[0].c, &st);
  assert_true(st.ignored >= 8);
  assert_int_equal(st.reassembly_bytes, 0);
  assert_int_equal(r.calls, 0);
  assert_int_equal(w.s[0].syncs, 0);
  w.drop_type[1][0] = 0;
  run_until(&w, w.now + 5000);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(r.len, size);
  assert_memory_equal(r.v, v, size);
  assert_int_equal(w.s[0].syncs, 1);
  free(r.v);
  free(v);
  world_free(&w);
}

/* D28: an inconsistent set from the asked peer is refused piece by piece; reassembly
 * is per key and peer, and acks go to the source. */
static void test_reassembly_bounds(void **state) {
  (void)state;
  world w;
  world_init(&w, 2, 0, 0);
  connect_sides(&w, 0, 1);
  w.drop_type[0][1] = 0xFF; /* B never hears A's WANT: we play B by hand */
  result r = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "k", 60000, on_result, &r, w.now), SW_OK);
  pump(&w);
  uint8_t f[2048], piece[SYNC_CHUNK_SIZE];
  memset(piece, 1, sizeof piece);
  sync_stats st;
  size_t n;
  /* index >= count, count too large for our bound, short middle piece, empty piece */
  n = sync_chunk_large_encode(f, (const uint8_t *)"k", 1, 3, 3, piece, 10);
  inject(&w, 0, &w.s[1].addr, f, n);
  n = sync_chunk_large_encode(f, (const uint8_t *)"k", 1, 0, 60000, piece, SYNC_CHUNK_SIZE);
  inject(&w, 0, &w.s[1].addr, f, n);
  n = sync_chunk_large_encode(f, (const uint8_t *)"k", 1, 0, 3, piece, 899);
  inject(&w, 0, &w.s[1].addr, f, n);
  n = sync_chunk_large_encode(f, (const uint8_t *)"k", 1, 2, 3, piece, 0);
  inject(&w, 0, &w.s[1].addr, f, n);
  sync_get_stats(w.s[0].c, &st);
  assert_int_equal(st.malformed, 4);
  assert_int_equal(st.acks_out, 0);
  /* a consistent set, with a duplicate: every copy acked, the value delivered once */
  for (uint16_t i = 0; i < 3; i++) {
    n = sync_chunk_large_encode(f, (const uint8_t *)"k", 1, i, 3, piece, i < 2 ? 900 : 7);
    inject(&w, 0, &w.s[1].addr, f, n);
    if (i == 0) inject(&w, 0, &w.s[1].addr, f, n);
  }
  sync_get_stats(w.s[0].c, &st);
  assert_int_equal(st.acks_out, 4);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.len, 2 * 900 + 7);
  assert_int_equal(st.reassembly_bytes, 0);
  free(r.v);
  world_free(&w);
}

/* D29 and the store's bounds in entries and bytes (D17). */
static void test_api_bounds(void **state) {
  (void)state;
  world w;
  world_init(&w, 1, 3, 4096);
  char longkey[300];
  memset(longkey, 'k', sizeof longkey);
  longkey[256] = 0;
  result r = {0};
  assert_int_equal(sw_core_store(w.s[0].c, longkey, "v", 1, 0), SW_EINVAL);
  assert_int_equal(sw_core_fetch(w.s[0].c, longkey, 100, on_result, &r, 0), SW_EINVAL);
  longkey[255] = 0;
  assert_int_equal(sw_core_store(w.s[0].c, longkey, "v", 1, 0), SW_OK);
  assert_int_equal(sw_core_store(w.s[0].c, "", "v", 1, 0), SW_EINVAL);
  assert_int_equal(sw_core_store(w.s[0].c, "e", "", 0, 0), SW_EINVAL);
  assert_int_equal(sw_core_store(w.s[0].c, "huge", "v", SW_VALUE_MAX + 1, 0), SW_EMSGSIZE);
  assert_int_equal(sw_core_fetch(w.s[0].c, "k", 100, NULL, NULL, 0), SW_EINVAL);
  char key[8];
  uint8_t v[1000] = {0};
  for (int i = 0; i < 6; i++) {
    snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(sw_core_store(w.s[0].c, key, v, 100, 0), SW_OK);
  }
  sync_stats st;
  sync_get_stats(w.s[0].c, &st);
  assert_int_equal(st.cache_entries, 3); /* entry bound */
  for (int i = 0; i < 6; i++) {
    snprintf(key, sizeof key, "b%d", i);
    assert_int_equal(sw_core_store(w.s[0].c, key, v, 1000, 0), SW_OK);
  }
  sync_get_stats(w.s[0].c, &st);
  assert_true(st.cache_bytes <= 4096); /* byte bound */
  assert_true(st.cache_entries < 4);
  assert_int_equal(sw_core_store(w.s[0].c, "toobig", v, 0, 0), SW_EINVAL);
  /* the newest survives, the oldest went (and a fetch of it times out, no peers) */
  assert_int_equal(sw_core_fetch(w.s[0].c, "b5", 100, on_result, &r, 0), SW_OK);
  result gone = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "k0", 100, on_result, &gone, 0), SW_OK);
  w.now = 0;
  run_until(&w, 200);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.err, SW_OK);
  assert_int_equal(gone.calls, 1);
  assert_int_equal(gone.err, SW_ETIMEDOUT);
  free(r.v);
  world_free(&w);
}

/* D30: every concurrent fetch of one key completes, each with its own timeout. */
static void test_concurrent_fetches(void **state) {
  (void)state;
  world w;
  world_init(&w, 2, 0, 0);
  connect_sides(&w, 0, 1);
  size_t size = 3000;
  uint8_t *v = make_value(size, 3);
  w.drop_type[1][0] = 0xFF; /* nothing from B for now */
  result a = {0}, b = {0}, c = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "x", 1000, on_result, &a, w.now), SW_OK);
  assert_int_equal(sw_core_fetch(w.s[0].c, "x", 20000, on_result, &b, w.now), SW_OK);
  assert_int_equal(sw_core_fetch(w.s[0].c, "x", 20000, on_result, &c, w.now), SW_OK);
  run_until(&w, w.now + 1500);
  assert_int_equal(a.calls, 1);
  assert_int_equal(a.err, SW_ETIMEDOUT);
  assert_int_equal(b.calls, 0);
  assert_int_equal(sw_core_store(w.s[1].c, "x", v, size, w.now), SW_OK);
  w.drop_type[1][0] = 0;
  run_until(&w, w.now + 5000); /* the WANT retry reaches B */
  assert_int_equal(b.calls, 1);
  assert_int_equal(c.calls, 1);
  assert_int_equal(b.err, SW_OK);
  assert_int_equal(c.err, SW_OK);
  assert_memory_equal(b.v, v, size);
  assert_memory_equal(c.v, v, size);
  assert_int_equal(a.calls, 1);
  /* a close ends pending fetches with SW_ECLOSED, once */
  result d = {0};
  assert_int_equal(sw_core_fetch(w.s[0].c, "never", 20000, on_result, &d, w.now), SW_OK);
  sw_core_close(w.s[0].c, w.now);
  assert_int_equal(d.calls, 1);
  assert_int_equal(d.err, SW_ECLOSED);
  assert_int_equal(sw_core_fetch(w.s[0].c, "y", 100, on_result, &d, w.now), SW_ECLOSED);
  free(b.v);
  free(c.v);
  free(v);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec_vectors),
      cmocka_unit_test(test_decode_bounds),
      cmocka_unit_test(test_stream_codec),
      cmocka_unit_test(test_fetch_small),
      cmocka_unit_test(test_fetch_large),
      cmocka_unit_test(test_window_and_retransmission),
      cmocka_unit_test(test_forged_chunk_ignored),
      cmocka_unit_test(test_reassembly_bounds),
      cmocka_unit_test(test_api_bounds),
      cmocka_unit_test(test_concurrent_fetches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
