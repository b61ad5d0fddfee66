/* capture.json: a real recorded session between the Python and the JavaScript
 * reference. Every DATA frame is opened (and resealed byte for byte), the sequence
 * numbers and application messages are checked, the FRAG sets are reassembled; then
 * each direction of the recording is fed, in order and in virtual time, into an
 * sw_core holding the receiving side's seed, which must deliver exactly what that
 * reference application received and answer PINGs exactly as that reference did. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core.h"
#include "crypto.h"
#include "setowire.h"
#include "testutil.h"
#include "wire.h"

enum { PY_TO_JS = 0, JS_TO_PY = 1 };
static const char *dir_name[2] = {"py->js", "js->py"};

typedef struct msg_list {
  uint8_t *msg[16];
  size_t len[16];
  int n;
} msg_list;

static void list_add(msg_list *l, const uint8_t *m, size_t len) {
  assert_true(l->n < 16);
  l->msg[l->n] = malloc(len ? len : 1);
  memcpy(l->msg[l->n], m, len);
  l->len[l->n] = len;
  l->n++;
}

static void list_free(msg_list *l) {
  for (int i = 0; i < l->n; i++) free(l->msg[i]);
  l->n = 0;
}

static void list_equals_hex(const msg_list *l, json_t *arr) {
  assert_int_equal((size_t)l->n, json_array_size(arr));
  for (int i = 0; i < l->n; i++) {
    size_t wl;
    uint8_t *w = tu_unhex(json_string_value(json_array_get(arr, (size_t)i)), &wl);
    if (wl != l->len[i] || memcmp(w, l->msg[i], wl) != 0)
      fail_msg("message %d differs (%zu bytes, expected %zu)", i, l->len[i], wl);
    free(w);
  }
}

static int dir_of(json_t *d) {
  const char *s = tu_str(d, "dir");
  if (strcmp(s, "py->js") == 0) return PY_TO_JS;
  assert_string_equal(s, "js->py");
  return JS_TO_PY;
}

/* ---- the recording, decoded by our own codecs ------------------------------ */

typedef struct cap_ctx {
  crypto_aead *open[2], *seal[2];
  uint8_t send_key[2][32];
  json_t *seqs[2];
  msg_list app[2];
  /* one FRAG set per direction in this capture */
  uint8_t frag_id[2][8];
  uint8_t *frag_buf[2];
  uint8_t frag_have[2][8];
  uint16_t frag_count[2];
  size_t frag_last[2];
  int frag_done[2];
  int counts[256];
  int data_frames;
} cap_ctx;

static void cap_data(cap_ctx *cc, int dir, const uint8_t *f, size_t len, json_t *dec) {
  assert_true(len >= WIRE_DATA_MIN);
  uint8_t *pt = malloc(len);
  assert_int_equal(crypto_aead_open(cc->open[dir], f + 1, f + WIRE_DATA_HDR, len - WIRE_DATA_HDR, pt), 0);
  size_t pl = len - WIRE_DATA_HDR - CRYPTO_TAG_LEN;
  assert_string_equal(tu_hex(pt, pl), tu_str(dec, "decrypted_hex"));
  assert_string_equal(tu_hex(pt, pl), tu_str(dec, "js_decrypted_hex"));
  assert_true(pl >= 4);
  uint32_t seq = wire_get32(pt);
  assert_int_equal(seq, json_integer_value(json_object_get(dec, "seq")));
  assert_string_equal(tu_hex(pt + 4, pl - 4), tu_str(dec, "app_payload_hex"));
  assert_int_equal(wire_get32(f + 1), json_integer_value(json_object_get(dec, "session_id")));
  assert_true(wire_get64(f + 5) == (uint64_t)json_integer_value(json_object_get(dec, "counter")));
  json_array_append_new(cc->seqs[dir], json_integer(seq));
  list_add(&cc->app[dir], pt + 4, pl - 4);
  /* the sender's key seals the same plaintext into the same bytes */
  uint8_t *re = malloc(len);
  wire_data_header(re, wire_get32(f + 1), wire_get64(f + 5));
  assert_int_equal(crypto_aead_seal(cc->seal[dir], re + 1, pt, 4, pt + 4, pl - 4, re + 13), 0);
  assert_memory_equal(re, f, len);
  /* and the other direction's key does not open it */
  assert_int_not_equal(crypto_aead_open(cc->open[!dir], f + 1, f + 13, len - 13, pt), 0);
  free(re);
  free(pt);
  cc->data_frames++;
}

static void cap_frag(cap_ctx *cc, int dir, const uint8_t *f, size_t len, json_t *dec) {
  wire_frag fr;
  assert_int_equal(wire_frag_decode(f, len, &fr), SW_OK);
  assert_string_equal(tu_hex(fr.frag_id, 8), tu_str(dec, "frag_id"));
  assert_int_equal(fr.index, json_integer_value(json_object_get(dec, "index")));
  assert_int_equal(fr.count, json_integer_value(json_object_get(dec, "total")));
  assert_int_equal(fr.len, json_integer_value(json_object_get(dec, "data_len")));
  assert_true(fr.count <= 8);
  if (!cc->frag_buf[dir]) {
    cc->frag_buf[dir] = calloc(fr.count, WIRE_FRAG_DATA_MAX);
    memcpy(cc->frag_id[dir], fr.frag_id, 8);
    cc->frag_count[dir] = fr.count;
  }
  assert_memory_equal(cc->frag_id[dir], fr.frag_id, 8);
  assert_false(cc->frag_have[dir][fr.index]);
  memcpy(cc->frag_buf[dir] + (size_t)fr.index * WIRE_FRAG_DATA_MAX, fr.data, fr.len);
  cc->frag_have[dir][fr.index] = 1;
  if (fr.index + 1 == fr.count) cc->frag_last[dir] = fr.len;
  int got = 0;
  for (int i = 0; i < fr.count; i++) got += cc->frag_have[dir][i];
  if (got == fr.count) {
    size_t total = (size_t)(fr.count - 1) * WIRE_FRAG_DATA_MAX + cc->frag_last[dir];
    list_add(&cc->app[dir], cc->frag_buf[dir], total);
    cc->frag_done[dir] = 1;
  }
}

static void cap_frame(cap_ctx *cc, int dir, const uint8_t *f, size_t len, json_t *dec) {
  cc->counts[f[0]]++;
  assert_string_equal(tu_hex(f, 1), tu_str(dec, "type"));
  switch (f[0]) {
    case WIRE_DATA: cap_data(cc, dir, f, len, dec); break;
    case WIRE_FRAG: cap_frag(cc, dir, f, len, dec); break;
    case WIRE_BATCH: {
      wire_batch_iter it;
      const uint8_t *sf;
      size_t sl, k = 0;
      json_t *subs = json_object_get(dec, "frames");
      assert_int_equal(wire_batch_begin(&it, f, len), SW_OK);
      while (wire_batch_next(&it, &sf, &sl)) {
        json_t *sub = json_array_get(subs, k++);
        assert_non_null(sub);
        assert_string_equal(tu_hex(sf, sl), tu_str(sub, "hex"));
        cap_frame(cc, dir, sf, sl, sub);
      }
      assert_int_equal(k, json_array_size(subs));
      assert_int_equal(k, json_integer_value(json_object_get(dec, "count")));
      break;
    }
    case WIRE_HELLO:
    case WIRE_HELLO_ACK: {
      wire_hello h;
      uint8_t out[WIRE_HELLO_LEN];
      assert_int_equal(wire_hello_decode(f, len, &h), SW_OK);
      assert_int_equal(len, WIRE_HELLO_LEN); /* references: never a trailer */
      assert_int_equal(h.extended, 0);
      assert_string_equal(tu_hex(h.wire_id, 8), tu_str(dec, "wire_id"));
      assert_string_equal(tu_hex(h.pub, 32), tu_str(dec, "public_key"));
      wire_hello_encode(out, f[0], h.wire_id, h.pub, -1);
      assert_memory_equal(out, f, len);
      break;
    }
    case WIRE_PING: {
      uint8_t id[20], out[WIRE_PING_LEN];
      tu_unhex_into(tu_str(dec, "sender_id"), id, 20);
      wire_ping_encode(out, (uint64_t)json_integer_value(json_object_get(dec, "timestamp_ms")), id);
      assert_int_equal(len, WIRE_PING_LEN);
      assert_memory_equal(out, f, len);
      break;
    }
    case WIRE_PONG: {
      uint8_t id[20], out[WIRE_PONG_LEN];
      tu_unhex_into(tu_str(dec, "sender_id"), id, 20);
      wire_pong_encode(out, id);
      assert_int_equal(len, WIRE_PONG_LEN);
      assert_memory_equal(out, f, len);
      break;
    }
    case WIRE_GOAWAY: assert_int_equal(len, 1); break;
    default: fail_msg("unexpected frame type %02x in the capture", f[0]);
  }
}

static void test_capture_decode(void **state) {
  (void)state;
  json_t *v = tu_vectors("capture.json");
  json_t *peers = json_object_get(v, "peers");
  json_t *py = json_object_get(peers, "python"), *js = json_object_get(peers, "js");
  cap_ctx *cc = calloc(1, sizeof *cc);
  uint8_t k[32];
  /* py->js: sealed with Python's send key, opened with JavaScript's receive key */
  tu_unhex_into(tu_str(js, "recv_key_hex"), k, 32);
  cc->open[PY_TO_JS] = crypto_aead_new(k, 0);
  tu_unhex_into(tu_str(py, "send_key_hex"), k, 32);
  cc->seal[PY_TO_JS] = crypto_aead_new(k, 1);
  tu_unhex_into(tu_str(py, "recv_key_hex"), k, 32);
  cc->open[JS_TO_PY] = crypto_aead_new(k, 0);
  tu_unhex_into(tu_str(js, "send_key_hex"), k, 32);
  cc->seal[JS_TO_PY] = crypto_aead_new(k, 1);
  cc->seqs[0] = json_array();
  cc->seqs[1] = json_array();

  /* our identity and session derivation give the recorded keys */
  crypto_identity ipy, ijs;
  crypto_session_keys kpy, kjs;
  assert_int_equal(crypto_identity_from_hex(&ipy, tu_str(py, "seed_hex")), 0);
  assert_int_equal(crypto_identity_from_hex(&ijs, tu_str(js, "seed_hex")), 0);
  assert_string_equal(tu_hex(ipy.id, 20), tu_str(py, "peer_id_hex"));
  assert_string_equal(tu_hex(ijs.pub, 32), tu_str(js, "public_key_hex"));
  assert_int_equal(crypto_derive_session(&ipy, ijs.pub, &kpy), 0);
  assert_int_equal(crypto_derive_session(&ijs, ipy.pub, &kjs), 0);
  assert_string_equal(tu_hex(kpy.send_key, 32), tu_str(py, "send_key_hex"));
  assert_string_equal(tu_hex(kpy.recv_key, 32), tu_str(py, "recv_key_hex"));
  assert_string_equal(tu_hex(kjs.send_key, 32), tu_str(js, "send_key_hex"));
  assert_int_equal(kpy.session_id, json_integer_value(json_object_get(py, "session_id")));
  assert_int_equal(kjs.session_id, kpy.session_id);

  size_t i;
  json_t *d;
  int n = 0;
  json_array_foreach(json_object_get(v, "datagrams"), i, d) {
    size_t len;
    uint8_t *f = tu_unhex(tu_str(d, "hex"), &len);
    assert_int_equal(len, json_integer_value(json_object_get(d, "len")));
    assert_int_equal(json_integer_value(json_object_get(d, "index")), (json_int_t)i);
    cap_frame(cc, dir_of(d), f, len, json_object_get(d, "decoded"));
    free(f);
    n++;
  }
  assert_int_equal(n, 53);

  /* frame counts as the generator counted them (BATCH and its contents) */
  static const struct {
    const char *name;
    uint8_t type;
  } names[] = {{"BATCH", WIRE_BATCH}, {"DATA", WIRE_DATA},     {"FRAG", WIRE_FRAG},
               {"GOAWAY", WIRE_GOAWAY}, {"HELLO", WIRE_HELLO}, {"HELLO_ACK", WIRE_HELLO_ACK},
               {"PING", WIRE_PING},   {"PONG", WIRE_PONG}};
  json_t *fc = json_object_get(v, "frame_counts");
  int total_named = 0;
  for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
    assert_int_equal(cc->counts[names[t].type],
                     json_integer_value(json_object_get(fc, names[t].name)));
    total_named += cc->counts[names[t].type];
  }
  assert_int_equal(json_object_size(fc), sizeof names / sizeof names[0]);
  int total = 0;
  for (int t = 0; t < 256; t++) total += cc->counts[t];
  assert_int_equal(total, total_named);
  assert_int_equal(cc->data_frames, 6);

  /* sequence numbers in each direction */
  json_t *checks = json_object_get(v, "checks");
  assert_true(json_equal(cc->seqs[PY_TO_JS], json_object_get(checks, "py_to_js_sequence_numbers")));
  assert_true(json_equal(cc->seqs[JS_TO_PY], json_object_get(checks, "js_to_py_sequence_numbers")));

  /* the reassembled fragment sets */
  json_t *rf;
  int sets = 0;
  json_array_foreach(json_object_get(v, "reassembled_fragments"), i, rf) {
    int dir = strcmp(tu_str(rf, "dir"), "py->js") == 0 ? PY_TO_JS : JS_TO_PY;
    assert_string_equal(dir_name[dir], tu_str(rf, "dir"));
    assert_true(cc->frag_done[dir]);
    assert_string_equal(tu_hex(cc->frag_id[dir], 8), tu_str(rf, "frag_id_hex"));
    assert_int_equal(cc->frag_count[dir], json_integer_value(json_object_get(rf, "total")));
    size_t pl;
    uint8_t *p = tu_unhex(tu_str(rf, "payload_hex"), &pl);
    assert_int_equal(pl, 3000);
    assert_memory_equal(cc->frag_buf[dir], p, pl);
    free(p);
    sets++;
  }
  assert_int_equal(sets, 2);

  /* in datagram order, the messages each application received, and each one sent */
  json_t *am = json_object_get(v, "application_messages");
  list_equals_hex(&cc->app[PY_TO_JS], json_object_get(am, "js_received"));
  list_equals_hex(&cc->app[PY_TO_JS], json_object_get(am, "python_sent"));
  list_equals_hex(&cc->app[JS_TO_PY], json_object_get(am, "python_received"));
  list_equals_hex(&cc->app[JS_TO_PY], json_object_get(am, "js_sent"));

  for (int dir = 0; dir < 2; dir++) {
    crypto_aead_free(cc->open[dir]);
    crypto_aead_free(cc->seal[dir]);
    free(cc->frag_buf[dir]);
    list_free(&cc->app[dir]);
    json_decref(cc->seqs[dir]);
  }
  free(cc);
  json_decref(v);
}

/* ---- the recording, replayed into our engine -------------------------------- */

typedef struct core_ctx {
  tu_rng rng;
  msg_list data;
  uint8_t data_peer[16][8];
  int connections, disconnects, other;
  uint8_t conn_peer[8];
  char conn_addr[SW_ADDRSTRLEN];
} core_ctx;

static void cc_random(void *ctx, uint8_t *buf, size_t len) {
  core_ctx *c = ctx;
  tu_rng_bytes(&c->rng, buf, len);
}

static void cc_event(void *ctx, const sw_event *ev) {
  core_ctx *c = ctx;
  switch (ev->type) {
    case SW_EV_DATA:
      assert_true(c->data.n < 16);
      memcpy(c->data_peer[c->data.n], ev->peer, 8);
      list_add(&c->data, ev->data, ev->len);
      break;
    case SW_EV_CONNECTION:
      c->connections++;
      memcpy(c->conn_peer, ev->peer, 8);
      snprintf(c->conn_addr, sizeof c->conn_addr, "%s", ev->addr);
      break;
    case SW_EV_DISCONNECT: c->disconnects++; break;
    default: c->other++; break;
  }
}

/* Drain the core's output; PONGs are kept in order for comparison. */
static int drain(sw_core *core, uint64_t now, uint8_t pongs[][WIRE_PONG_LEN], int npongs,
                 const sw_addr *peer_addr) {
  sw_dgram d[64];
  size_t n;
  sw_core_flush(core, now);
  while ((n = sw_core_out_peek(core, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(d[i].kind, SW_SOCK_MAIN);
      assert_true(addr_equal(d[i].to, peer_addr)); /* nobody else is ever addressed */
      if (d[i].len >= 1 && d[i].data[0] == WIRE_PONG) {
        assert_int_equal(d[i].len, WIRE_PONG_LEN);
        assert_true(npongs < 64);
        memcpy(pongs[npongs++], d[i].data, WIRE_PONG_LEN);
      }
    }
    sw_core_out_consume(core, n, now);
  }
  return npongs;
}

static void replay_direction(int dir) {
  json_t *v = tu_vectors("capture.json");
  json_t *peers = json_object_get(v, "peers");
  /* the core is the receiving side of `dir` */
  json_t *me = json_object_get(peers, dir == PY_TO_JS ? "js" : "python");
  json_t *them = json_object_get(peers, dir == PY_TO_JS ? "python" : "js");
  core_ctx *ctx = calloc(1, sizeof *ctx);
  ctx->rng.s = 1234 + (uint64_t)dir;
  sw_core_config cfg = {0};
  cfg.seed_hex = tu_str(me, "seed_hex");
  cfg.random = cc_random;
  cfg.on_event = cc_event;
  cfg.ctx = ctx;
  const uint64_t base = 1000000;
  sw_core *core;
  assert_int_equal(sw_core_new(&core, &cfg, base), SW_OK);
  uint8_t my_id[20];
  sw_core_identity(core, NULL, my_id);
  assert_string_equal(tu_hex(my_id, 20), tu_str(me, "peer_id_hex"));
  sw_addr from;
  assert_int_equal(addr_parse_hostport(&from, "127.0.0.1:56674"), SW_OK);

  /* the PONGs the reference we stand in for sent, in order */
  static uint8_t want_pongs[64][WIRE_PONG_LEN], got_pongs[64][WIRE_PONG_LEN];
  int nwant = 0, ngot = 0, pings = 0;
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(v, "datagrams"), i, d) {
    size_t len;
    if (dir_of(d) == dir) continue;
    uint8_t *f = tu_unhex(tu_str(d, "hex"), &len);
    if (f[0] == WIRE_PONG) memcpy(want_pongs[nwant++], f, WIRE_PONG_LEN);
    free(f);
  }

  uint64_t now = base;
  int first = 1;
  json_array_foreach(json_object_get(v, "datagrams"), i, d) {
    if (dir_of(d) != dir) continue;
    uint64_t t = base + (uint64_t)json_number_value(json_object_get(d, "t_ms"));
    while (sw_core_deadline(core) <= t) {
      now = sw_core_deadline(core);
      sw_core_timeout(core, now);
      ngot = drain(core, now, got_pongs, ngot, &from);
    }
    now = t;
    size_t len;
    uint8_t *f = tu_unhex(tu_str(d, "hex"), &len);
    if (f[0] == WIRE_PING) pings++;
    sw_core_datagram(core, SW_SOCK_MAIN, &from, f, len, now);
    if (first) {
      /* the first frame from a reference creates the session at once */
      assert_int_equal(ctx->connections, 1);
      assert_int_equal(sw_core_peer_count(core), 1);
      if (f[0] == WIRE_HELLO) {
        /* we answer a HELLO with a HELLO_ACK whose first 41 bytes are the reference's */
        sw_dgram out[4];
        assert_true(sw_core_out_peek(core, out, 4) >= 1);
        assert_int_equal(out[0].data[0], WIRE_HELLO_ACK);
        assert_int_equal(out[0].len, WIRE_HELLO_LEN + WIRE_TRAILER_LEN);
        json_t *ack = json_array_get(json_object_get(v, "datagrams"), i + 1);
        assert_string_equal(tu_hex(out[0].data, WIRE_HELLO_LEN), tu_str(ack, "hex"));
      }
      first = 0;
    }
    free(f);
    ngot = drain(core, now, got_pongs, ngot, &from);
  }
  /* let every timer that is due run (jitter, fragments), then check */
  now += 100;
  while (sw_core_deadline(core) <= now) {
    sw_core_timeout(core, sw_core_deadline(core));
    ngot = drain(core, now, got_pongs, ngot, &from);
  }

  /* exactly one connection, from the sender, at its address */
  assert_int_equal(ctx->connections, 1);
  assert_string_equal(tu_hex(ctx->conn_peer, 8), tu_str(them, "wire_id_hex"));
  assert_string_equal(ctx->conn_addr, "127.0.0.1:56674");
  /* every message that reference application received, in order, and nothing else */
  json_t *am = json_object_get(v, "application_messages");
  list_equals_hex(&ctx->data, json_object_get(am, dir == PY_TO_JS ? "js_received" : "python_received"));
  for (int k = 0; k < ctx->data.n; k++)
    assert_string_equal(tu_hex(ctx->data_peer[k], 8), tu_str(them, "wire_id_hex"));
  /* the 1-byte GOAWAY the Python peer sent is ignored, as the references do (10) */
  assert_int_equal(ctx->disconnects, 0);
  assert_int_equal(sw_core_peer_count(core), 1);
  /* each PING was answered with the PONG the reference sent, byte for byte */
  assert_true(pings >= 5);
  assert_int_equal(ngot, pings);
  assert_true(nwant >= pings - 2); /* the recording stops before the last answers */
  for (int k = 0; k < pings && k < nwant; k++) assert_memory_equal(got_pongs[k], want_pongs[k], WIRE_PONG_LEN);
  /* the session is a reference session: no trailer was seen */
  sw_core_peer_info info[2];
  assert_int_equal(sw_core_peers(core, info, 2), 1);
  assert_int_equal(info[0].reference, 1);
  assert_int_equal(info[0].verified, 1); /* authenticated DATA came from that address */
  sw_core_stats st;
  sw_core_get_stats(core, &st);
  assert_int_equal(st.delivered, (uint64_t)ctx->data.n);
  assert_int_equal(st.rx_auth_fail, 0);
  assert_int_equal(st.rx_replay, 0);
  assert_int_equal(st.duplicates, 0);

  sw_core_free(core);
  list_free(&ctx->data);
  free(ctx);
  json_decref(v);
}

static void test_capture_js_to_python_core(void **state) {
  (void)state;
  replay_direction(JS_TO_PY);
}

static void test_capture_python_to_js_core(void **state) {
  (void)state;
  replay_direction(PY_TO_JS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_capture_decode),
      cmocka_unit_test(test_capture_js_to_python_core),
      cmocka_unit_test(test_capture_python_to_js_core),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
