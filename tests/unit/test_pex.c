/* Peer exchange (PROTOCOL.md 11.6; D6, D19): the frame layout against the references'
 * PEX_2_ENTRIES datagram, parsing bounds, and the module on cores in virtual time:
 * lists leave every 60 s, are taken from verified peers only, and lead to dials. */
#include "disc_util.h"
#include "pex.h"
#include "wire.h"

static void test_layout_vector(void **state) {
  (void)state;
  json_t *v = tu_vectors("frames.json");
  size_t i;
  json_t *f, *frame = NULL;
  json_array_foreach(json_object_get(v, "frames"), i, f) {
    if (strcmp(tu_str(f, "name"), "PEX_2_ENTRIES") == 0) frame = f;
  }
  assert_non_null(frame);
  json_t *d = json_array_get(json_object_get(frame, "datagrams"), 0);
  size_t len;
  uint8_t *hex = tu_unhex(tu_str(d, "hex"), &len);
  pex_entry e[PEX_MAX];
  size_t n;
  assert_int_equal(pex_parse(hex, len, e, PEX_MAX, &n), SW_OK);
  json_t *want = json_object_get(json_object_get(d, "fields"), "entries");
  assert_int_equal(n, json_array_size(want));
  for (size_t k = 0; k < n; k++) {
    json_t *w = json_array_get(want, k);
    assert_int_equal(e[k].idlen, 8);
    assert_string_equal(tu_hex(e[k].id, 8), tu_str(w, "id"));
    char ip[64];
    addr_format_ip(&e[k].addr, ip, sizeof ip);
    assert_string_equal(ip, tu_str(w, "ip"));
    assert_int_equal(e[k].addr.port, json_integer_value(json_object_get(w, "port")));
  }
  uint8_t out[PEX_FRAME_MAX];
  assert_int_equal(pex_encode(out, sizeof out, e, n), len);
  assert_memory_equal(out, hex, len);
  assert_int_equal(pex_encode(out, len - 1, e, n), 0); /* no room: nothing */
  free(hex);
  json_decref(v);
}

static size_t put_entry(uint8_t *b, size_t off, const uint8_t *id, size_t idl, const char *ip,
                        uint16_t port) {
  b[off++] = (uint8_t)idl;
  memcpy(b + off, id, idl);
  off += idl;
  b[off++] = (uint8_t)strlen(ip);
  memcpy(b + off, ip, strlen(ip));
  off += strlen(ip);
  b[off++] = (uint8_t)(port >> 8);
  b[off++] = (uint8_t)port;
  return off;
}

static void test_parse_bounds(void **state) {
  (void)state;
  uint8_t b[4096], id[20];
  pex_entry e[PEX_MAX];
  size_t n, off = 2;
  memset(id, 0x11, sizeof id);
  /* too short, wrong type */
  assert_int_equal(pex_parse((const uint8_t *)"\x30\x01", 2, e, PEX_MAX, &n), SW_EINVAL);
  assert_int_equal(pex_parse((const uint8_t *)"\x31\x01\x00", 3, e, PEX_MAX, &n), SW_EINVAL);
  /* skipped entries: id length 5, port 0, a name, a NUL inside the IP; then good ones */
  b[0] = WIRE_PEX;
  off = put_entry(b, off, id, 5, "10.0.0.1", 1);
  off = put_entry(b, off, id, 8, "10.0.0.2", 0);
  off = put_entry(b, off, id, 8, "example.org", 3);
  off = put_entry(b, off, id, 8, "10.0\0.4", 4);
  off = put_entry(b, off, id, 8, "10.0.0.5", 5);
  off = put_entry(b, off, id, 20, "::1", 6);
  b[1] = 6;
  assert_int_equal(pex_parse(b, off, e, PEX_MAX, &n), SW_OK);
  assert_int_equal(n, 2);
  assert_int_equal(e[0].addr.port, 5);
  assert_int_equal(e[1].idlen, 20);
  assert_int_equal(e[1].addr.family, 6);
  /* a truncated entry ends the list (11.6), wherever it is cut */
  for (size_t cut = 3; cut < off; cut++) {
    assert_int_equal(pex_parse(b, cut, e, PEX_MAX, &n), SW_OK);
    assert_true(n <= 2);
  }
  /* a count larger than the entries present, and more entries than PEX_MAX */
  off = 2;
  for (int k = 0; k < 60; k++) {
    char ip[32];
    snprintf(ip, sizeof ip, "10.0.1.%d", k + 1);
    off = put_entry(b, off, id, 8, ip, (uint16_t)(1000 + k));
  }
  b[1] = 255;
  assert_int_equal(pex_parse(b, off, e, PEX_MAX, &n), SW_OK);
  assert_int_equal(n, PEX_MAX);
  /* random frames never overrun */
  tu_rng r = {3};
  for (int i = 0; i < 5000; i++) {
    size_t len = tu_rng_next(&r) % 300;
    tu_rng_bytes(&r, b, len);
    if (len) b[0] = WIRE_PEX;
    pex_parse(b, len, e, PEX_MAX, &n);
    assert_true(n <= PEX_MAX);
  }
}

static sw_core_config pex_cfg(void) {
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.pex = 1;
  cfg.peer_cache = 1;
  return cfg;
}

/* A and C each know only B; B's PEX introduces them. */
static void test_exchange(void **state) {
  (void)state;
  sw_core_config cfg = pex_cfg();
  du_node a, b, c;
  du_init(&a, &cfg, "a1", "10.0.0.1:1001", 0);
  du_init(&b, &cfg, "b2", "10.0.0.2:1002", 0);
  du_init(&c, &cfg, "c3", "10.0.0.3:1003", 0);
  du_connect(&a, &b, 0);
  du_connect(&c, &b, 0);
  assert_int_equal(sw_core_peer_count(a.c), 1);
  assert_int_equal(sw_core_peer_count(c.c), 1);
  assert_true(sw_core_deadline(b.c) <= PEX_INTERVAL_MS);
  du_node *all[3] = {&a, &b, &c};
  /* nothing before 60 s */
  du_run(all, 3, 1000, PEX_INTERVAL_MS - 1000, 1000);
  assert_int_equal(sw_core_peer_count(a.c), 1);
  du_run(all, 3, PEX_INTERVAL_MS, PEX_INTERVAL_MS + 3000, 500);
  assert_int_equal(sw_core_peer_count(a.c), 2);
  assert_int_equal(sw_core_peer_count(c.c), 2);
  sw_core_free(a.c);
  sw_core_free(b.c);
  sw_core_free(c.c);
}

static void test_receiver_rules(void **state) {
  (void)state;
  sw_core_config cfg = pex_cfg();
  du_node a, b, c;
  du_init(&a, &cfg, "a1", "10.0.0.1:1001", 0);
  du_init(&b, &cfg, "b2", "10.0.0.2:1002", 0);
  du_init(&c, &cfg, "c3", "10.0.0.3:1003", 0);
  du_connect(&a, &b, 0);
  du_connect(&a, &c, 0);
  uint8_t f[2048], id[8];
  size_t off = 2;
  f[0] = WIRE_PEX;
  /* our own id, a connected peer (C), and two strangers */
  off = put_entry(f, off, core_identity(a.c)->id, 8, "10.0.0.1", 1001);
  off = put_entry(f, off, core_identity(c.c)->id, 8, "10.0.0.3", 1003);
  memset(id, 0x55, 8);
  off = put_entry(f, off, id, 8, "10.0.0.8", 1008);
  id[0] = 0x56;
  off = put_entry(f, off, id, 8, "10.0.0.9", 1009);
  f[1] = 4;
  sw_addr s8, s9, stranger;
  addr_parse_hostport(&s8, "10.0.0.8:1008");
  addr_parse_hostport(&s9, "10.0.0.9:1009");
  addr_parse_hostport(&stranger, "10.0.0.66:6666");
  /* from an address that is no verified peer: ignored (D6) */
  sw_core_datagram(a.c, SW_SOCK_MAIN, &stranger, f, off, 10);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, 10), 0);
  /* from B, verified: only the two strangers are dialled */
  sw_core_datagram(a.c, SW_SOCK_MAIN, &b.addr, f, off, 11);
  sw_core_flush(a.c, 11);
  sw_dgram d[64];
  size_t k = sw_core_out_peek(a.c, d, 64), hellos = 0, h8 = 0, h9 = 0;
  for (size_t j = 0; j < k; j++) {
    if (d[j].data[0] != 0xA1) continue;
    hellos++;
    h8 += addr_equal(d[j].to, &s8);
    h9 += addr_equal(d[j].to, &s9);
  }
  sw_core_out_consume(a.c, k, 11);
  assert_int_equal(hellos, 2);
  assert_int_equal(h8, 1);
  assert_int_equal(h9, 1);
  /* inside a BATCH, as the references coalesce control frames: still taken */
  uint8_t batch[2100];
  batch[0] = 0x13;
  batch[1] = 1;
  batch[2] = (uint8_t)(off >> 8);
  batch[3] = (uint8_t)off;
  memcpy(batch + 4, f, off);
  id[0] = 0x57;
  off = put_entry(f, 2, id, 8, "10.0.0.10", 1010);
  f[1] = 1;
  batch[2] = (uint8_t)(off >> 8);
  batch[3] = (uint8_t)off;
  memcpy(batch + 4, f, off);
  sw_core_datagram(a.c, SW_SOCK_MAIN, &b.addr, batch, off + 4, 12);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, 12), 1);
  /* a flood of lists from a verified peer: dials stay under the meet rate (D19) */
  size_t total = 0;
  for (int round = 0; round < 20; round++) {
    off = 2;
    for (int e = 0; e < PEX_MAX; e++) {
      char ip[32];
      id[0] = (uint8_t)round;
      id[1] = (uint8_t)e;
      snprintf(ip, sizeof ip, "10.%d.%d.1", 100 + round, e);
      off = put_entry(f, off, id, 8, ip, 2000);
    }
    f[1] = PEX_MAX;
    sw_core_datagram(a.c, SW_SOCK_MAIN, &b.addr, f, off, 13);
    total += du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, 13);
  }
  assert_true(total <= 40); /* the burst of core_meet's bucket, not 400 */
  assert_true(total >= 1);
  sw_core_free(a.c);
  sw_core_free(b.c);
  sw_core_free(c.c);
}

/* Issue 11: one verified peer's lists, however many and however fast, cause at most
 * PEX_DIALS dials a minute, so they cannot spend the meet tokens other peers' lists
 * (and other discovery) need. */
static void test_sender_dial_budget(void **state) {
  (void)state;
  sw_core_config cfg = pex_cfg();
  du_node a, b, c;
  du_init(&a, &cfg, "a1", "10.0.0.1:1001", 0);
  du_init(&b, &cfg, "b2", "10.0.0.2:1002", 0);
  du_init(&c, &cfg, "c3", "10.0.0.3:1003", 0);
  du_connect(&a, &b, 0);
  du_connect(&a, &c, 0);
  pex *px = core_module_state(a.c, "pex");
  assert_non_null(px);
  uint8_t f[2048], id[8];
  memset(id, 0x77, sizeof id);
  f[0] = WIRE_PEX;
  /* B sends a fresh list of 20 every 100 ms for two minutes */
  uint64_t t = 100;
  for (int round = 0; round < 1200; round++, t += 100) {
    size_t off = 2;
    for (int e = 0; e < PEX_MAX; e++) {
      char ip[32];
      id[0] = (uint8_t)round;
      id[1] = (uint8_t)(round >> 8);
      id[2] = (uint8_t)e;
      snprintf(ip, sizeof ip, "10.%d.%d.%d", 64 + round / 250, round % 250, 1 + e);
      off = put_entry(f, off, id, 8, ip, 2000);
    }
    f[1] = PEX_MAX;
    sw_core_datagram(a.c, SW_SOCK_MAIN, &b.addr, f, off, t);
    du_count_out(&a, SW_SOCK_MAIN, 0, NULL, t);
  }
  pex_stats st;
  pex_get_stats(px, &st);
  /* two minutes (the second ends at t = 120 s): at most three budgets */
  assert_true(st.met <= 3 * PEX_DIALS);
  assert_true(st.met >= PEX_DIALS);
  assert_true(st.over_budget >= 1200 * PEX_MAX - 3 * PEX_DIALS - 100);
  /* C's list, right after, is dialled in full */
  size_t off = 2;
  for (int e = 0; e < 5; e++) {
    char ip[32];
    id[0] = 0xcc;
    id[1] = (uint8_t)e;
    snprintf(ip, sizeof ip, "10.200.0.%d", 1 + e);
    off = put_entry(f, off, id, 8, ip, 3000);
  }
  f[1] = 5;
  uint64_t met = st.met;
  sw_core_datagram(a.c, SW_SOCK_MAIN, &c.addr, f, off, t);
  pex_get_stats(px, &st);
  assert_int_equal(st.met, met + 5);
  sw_core_free(a.c);
  sw_core_free(b.c);
  sw_core_free(c.c);
}

/* Sender: each peer gets the others, never itself; at most PEX_MAX entries. */
static void test_sender_lists(void **state) {
  (void)state;
  sw_core_config cfg = pex_cfg();
  enum { N = 24 };
  static du_node n[N];
  for (int i = 0; i < N; i++) {
    char seed[8], addr[32];
    const uint8_t raw[2] = {(uint8_t)(i + 1), (uint8_t)(i + 7)};
    crypto_hex_encode(raw, 2, seed);
    snprintf(addr, sizeof addr, "10.0.2.%d:%d", i + 1, 3000 + i);
    du_init(&n[i], i ? NULL : &cfg, seed, addr, 0);
  }
  for (int i = 1; i < N; i++) du_connect(&n[0], &n[i], 0);
  sw_core_timeout(n[0].c, PEX_INTERVAL_MS);
  sw_core_flush(n[0].c, PEX_INTERVAL_MS);
  sw_dgram d[256];
  size_t k = sw_core_out_peek(n[0].c, d, 256), frames = 0;
  int listed[N] = {0}; /* how often each node was listed, over every frame */
  for (size_t j = 0; j < k; j++) {
    /* PEX rides alone or in a BATCH with the heartbeat's PINGs */
    const uint8_t *p = d[j].data;
    size_t len = d[j].len;
    const uint8_t *fr[8];
    size_t fl[8], nf = 0;
    if (p[0] == 0x13) {
      size_t off = 2;
      for (unsigned q = 0; q < p[1] && off + 2 <= len && nf < 8; q++) {
        size_t l = (size_t)(p[off] << 8 | p[off + 1]);
        fr[nf] = p + off + 2;
        fl[nf++] = l;
        off += 2 + l;
      }
    } else {
      fr[0] = p;
      fl[0] = len;
      nf = 1;
    }
    for (size_t q = 0; q < nf; q++) {
      if (fr[q][0] != WIRE_PEX) continue;
      pex_entry e[PEX_MAX];
      size_t ne;
      assert_int_equal(pex_parse(fr[q], fl[q], e, PEX_MAX, &ne), SW_OK);
      assert_int_equal(ne, PEX_MAX);
      int to = -1;
      for (int i = 1; i < N; i++)
        if (addr_equal(d[j].to, &n[i].addr)) to = i;
      assert_true(to > 0);
      for (size_t x = 0; x < ne; x++) {
        assert_memory_not_equal(e[x].id, core_identity(n[to].c)->id, 8);
        /* A libsetowire recipient gets full ids: its meet gate can then ask for an
         * introduction and fall back to a relay. */
        assert_int_equal(e[x].idlen, 20);
        int who = -1;
        for (int i = 1; i < N; i++)
          if (memcmp(e[x].id, core_identity(n[i].c)->id, 20) == 0) who = i;
        assert_true(who > 0 && who != to);
        assert_true(addr_equal(&e[x].addr, &n[who].addr));
        listed[who]++;
      }
      frames++;
    }
  }
  sw_core_out_consume(n[0].c, k, PEX_INTERVAL_MS);
  assert_int_equal(frames, N - 1);
  /* 20 drawn at random per recipient, not the first 20 of the table for everyone: every
   * one of the 23 peers is listed to someone. */
  for (int i = 1; i < N; i++) assert_true(listed[i] > 0);
  for (int i = 0; i < N; i++) sw_core_free(n[i].c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout_vector), cmocka_unit_test(test_parse_bounds),
      cmocka_unit_test(test_exchange),      cmocka_unit_test(test_receiver_rules),
      cmocka_unit_test(test_sender_dial_budget),
      cmocka_unit_test(test_sender_lists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
