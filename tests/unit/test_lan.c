/* LAN discovery (PROTOCOL.md 11.9, 14.1; D10, D33): the beacon codec against the
 * references' datagrams in frames.json, the topic hash against dht.json, and the
 * module's receiver and sender on cores in virtual time. */
#include "disc_util.h"
#include "lan.h"

static json_t *frame_named(json_t *frames, const char *name) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(frames, "frames"), i, f) {
    if (strcmp(tu_str(f, "name"), name) == 0) return f;
  }
  fail_msg("no frame %s in frames.json", name);
  return NULL;
}

static uint8_t *beacon_of(json_t *frames, const char *name, size_t *len) {
  json_t *f = frame_named(frames, name);
  json_t *d = json_array_get(json_object_get(f, "datagrams"), 0);
  return tu_unhex(tu_str(d, "hex"), len);
}

static const char *TOPIC_HEX = "77a5bb4d0c64da6fcea41fa2b0045ac63863005561a5418ce24b4ead2a2fc503";

static void test_topic_hash_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("dht.json");
  size_t i, checked = 0;
  json_t *t;
  json_array_foreach(json_object_get(v, "topic_hash"), i, t) {
    if (strcmp(tu_str(t, "topic_kind"), "bytes") != 0) continue;
    size_t n;
    uint8_t *topic = tu_unhex(tu_str(t, "topic_hex"), &n);
    if (n == 32) {
      char h[CRYPTO_TOPIC_HASH_LEN + 1];
      crypto_topic_hash(topic, h);
      assert_string_equal(h, tu_str(t, "topic_hash"));
      checked++;
    }
    free(topic);
  }
  assert_true(checked >= 2);
  json_decref(v);
}

/* Every LAN datagram of frames.json parses to its fields and re-encodes to itself. */
static void test_beacon_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors("frames.json");
  const char *names[] = {"LAN_NO_TOPIC", "LAN_WITH_TOPIC", "LAN_FROM_D", "LAN_FROM_B"};
  for (size_t k = 0; k < 4; k++) {
    json_t *f = frame_named(v, names[k]);
    json_t *d = json_array_get(json_object_get(f, "datagrams"), 0);
    size_t len;
    uint8_t *hex = tu_unhex(tu_str(d, "hex"), &len);
    char text[128];
    snprintf(text, sizeof text, "%s", tu_str(json_object_get(d, "fields"), "text"));
    lan_beacon b;
    assert_int_equal(lan_beacon_parse(hex, len, &b), SW_OK);
    /* fields: id : ip : port : topic */
    char *id = strtok(text, ":"), *ip = strtok(NULL, ":"), *port = strtok(NULL, ":"),
         *topic = strtok(NULL, ":");
    assert_string_equal(tu_hex(b.id, 20), id);
    char ipt[64];
    addr_format_ip(&b.addr, ipt, sizeof ipt);
    assert_string_equal(ipt, ip);
    assert_int_equal(b.addr.port, atoi(port));
    assert_string_equal(b.topic, topic ? topic : "");
    uint8_t out[LAN_BEACON_MAX];
    size_t n = lan_beacon_encode(out, sizeof out, b.id, &b.addr, b.topic);
    assert_int_equal(n, len);
    assert_memory_equal(out, hex, len);
    free(hex);
  }
  json_decref(v);
}

static void test_beacon_malformed(void **state) {
  (void)state;
  const char *bad[] = {
      "",                                                             /* type only */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11",        /* 2 fields */
      "e0747b0fc2e5f8562239f8a2df040ff91901832:192.168.1.11:1:",      /* 39-char id */
      "e0747b0fc2e5f8562239f8a2df040ff9190183zz:192.168.1.11:1:",     /* not hex */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1:1:",        /* 3-part IP */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:host.lan:1:",         /* a name */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11:0:",     /* port 0 */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11:65536:", /* port > 65535 */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11:+1:",    /* sign */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11::",      /* no port */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11:1:cd5e", /* short topic */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11:1:cd5eb9c4d1a1:x", /* 5 */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:fe80::1:1:",          /* IPv6 (D21) */
      "e0747b0fc2e5f8562239f8a2df040ff919018325:999.168.1.11:1:",     /* not an IP */
  };
  uint8_t buf[256];
  lan_beacon b;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    buf[0] = 0x09;
    size_t n = strlen(bad[i]);
    memcpy(buf + 1, bad[i], n);
    assert_int_equal(lan_beacon_parse(buf, n + 1, &b), SW_EINVAL);
  }
  /* a NUL inside, a wrong type byte, too long */
  static const char ok[] = "e0747b0fc2e5f8562239f8a2df040ff919018325:192.168.1.11:1:";
  buf[0] = 0x09;
  memcpy(buf + 1, ok, sizeof ok - 1);
  assert_int_equal(lan_beacon_parse(buf, sizeof ok, &b), SW_OK);
  buf[5] = 0;
  assert_int_equal(lan_beacon_parse(buf, sizeof ok, &b), SW_EINVAL);
  memcpy(buf + 1, ok, sizeof ok - 1);
  buf[0] = 0x08;
  assert_int_equal(lan_beacon_parse(buf, sizeof ok, &b), SW_EINVAL);
  buf[0] = 0x09;
  memset(buf + sizeof ok, 'a', 100);
  assert_int_equal(lan_beacon_parse(buf, sizeof ok + 100, &b), SW_EINVAL);
  assert_int_equal(lan_beacon_parse(NULL, 0, &b), SW_EINVAL);
  /* the encoder refuses IPv6 (the format cannot carry it) */
  sw_addr v6;
  addr_parse_ip(&v6, "::1", 5);
  assert_int_equal(lan_beacon_encode(buf, sizeof buf, b.id, &v6, ""), 0);
}

/* Node A of frames.json (seed 00..1f, LAN IP 192.168.1.11, port 40001). */
static void lan_node(du_node *n, const char *seed, const char *lip, const char *addr,
                     uint16_t port) {
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.lan = 1;
  cfg.lan_ip = lip;
  cfg.port = port;
  du_init(n, &cfg, seed, addr, 0);
}

static const char *SEED_A = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char *SEED_B = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

static void test_sender(void **state) {
  (void)state;
  json_t *v = tu_vectors("frames.json");
  du_node a;
  lan_node(&a, SEED_A, "192.168.1.11", "192.168.1.11:40001", 40001);
  sw_addr group;
  addr_parse_ip(&group, LAN_GROUP, LAN_PORT);
  assert_true(sw_core_deadline(a.c) <= LAN_PERIOD_MS);
  /* before join: no beacon (D33: nothing to be found for) */
  sw_core_timeout(a.c, LAN_PERIOD_MS);
  assert_int_equal(du_count_out(&a, SW_SOCK_LAN, 0, NULL, LAN_PERIOD_MS), 0);
  uint8_t topic[32];
  tu_unhex_into(TOPIC_HEX, topic, 32);
  sw_core_join(a.c, topic);
  sw_core_timeout(a.c, 2 * LAN_PERIOD_MS - 1);
  assert_int_equal(du_count_out(&a, SW_SOCK_LAN, 0, NULL, 0), 0); /* not yet */
  sw_core_timeout(a.c, 2 * LAN_PERIOD_MS);
  sw_dgram d[4];
  assert_int_equal(sw_core_out_peek(a.c, d, 4), 1);
  assert_int_equal(d[0].kind, SW_SOCK_LAN);
  assert_true(addr_equal(d[0].to, &group));
  size_t len;
  uint8_t *want = beacon_of(v, "LAN_WITH_TOPIC", &len); /* byte for byte the reference's */
  assert_int_equal(d[0].len, len);
  assert_memory_equal(d[0].data, want, len);
  free(want);
  sw_core_out_consume(a.c, 1, 0);
  /* every 5 s after that, and never after close */
  sw_core_timeout(a.c, 3 * LAN_PERIOD_MS);
  assert_int_equal(du_count_out(&a, SW_SOCK_LAN, 0x09, &group, 0), 1);
  sw_core_close(a.c, 3 * LAN_PERIOD_MS);
  sw_core_timeout(a.c, 10 * LAN_PERIOD_MS);
  assert_int_equal(du_count_out(&a, SW_SOCK_LAN, 0, NULL, 0), 0);
  sw_core_free(a.c);
  /* without a usable LAN address: receive only */
  du_node r;
  lan_node(&r, SEED_A, NULL, "192.168.1.11:40001", 40001);
  sw_core_join(r.c, topic);
  sw_core_timeout(r.c, 3 * LAN_PERIOD_MS);
  assert_int_equal(du_count_out(&r, SW_SOCK_LAN, 0, NULL, 0), 0);
  sw_core_free(r.c);
  json_decref(v);
}

static void feed(du_node *n, const uint8_t *b, size_t len, uint64_t now) {
  sw_addr src;
  addr_parse_hostport(&src, "192.168.1.99:45678");
  sw_core_datagram(n->c, SW_SOCK_LAN, &src, b, len, now);
}

static void test_receiver(void **state) {
  (void)state;
  json_t *v = tu_vectors("frames.json");
  size_t own_len, d_len, b_len, nt_len;
  uint8_t *own = beacon_of(v, "LAN_WITH_TOPIC", &own_len);
  uint8_t *from_d = beacon_of(v, "LAN_FROM_D", &d_len);
  uint8_t *from_b = beacon_of(v, "LAN_FROM_B", &b_len);
  uint8_t *no_topic = beacon_of(v, "LAN_NO_TOPIC", &nt_len); /* A's, before joining */
  sw_addr d_addr, b_addr;
  addr_parse_hostport(&d_addr, "192.168.1.14:40004");
  addr_parse_hostport(&b_addr, "192.168.1.12:40002");

  du_node a, b;
  lan_node(&a, SEED_A, "192.168.1.11", "192.168.1.11:40001", 40001);
  lan_node(&b, SEED_B, "192.168.1.12", "192.168.1.12:40002", 40002);
  /* before we join, nobody is dialled (D33, stricter than the references) */
  feed(&a, from_d, d_len, 1);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0, NULL, 1), 0);

  uint8_t topic[32], other[32];
  tu_unhex_into(TOPIC_HEX, topic, 32);
  memset(other, 0x42, 32);
  sw_core_join(a.c, topic);
  /* our own beacon, looped back by the kernel: ignored */
  feed(&a, own, own_len, 2);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0, NULL, 2), 0);
  /* a peer on our topic: met with the punch schedule (a HELLO now) */
  feed(&a, from_d, d_len, 3);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, &d_addr, 3), 1);
  /* while that dial runs, its next beacon does not start another */
  feed(&a, from_d, d_len, 4);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, &d_addr, 4), 0);
  /* a beacon with an empty topic hash while we have joined: ignored (D33) */
  uint8_t c_nt[128];
  memcpy(c_nt, no_topic, nt_len);
  memcpy(c_nt + 1, "579ed6b4c72108eb99a4236832f58fd3dcdc3325", 40); /* B's id, no topic */
  feed(&a, c_nt, nt_len, 5);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0, NULL, 5), 0);
  /* another topic: ignored */
  du_node x;
  lan_node(&x, SEED_B, "192.168.1.12", "192.168.1.12:40002", 40002);
  sw_core_join(x.c, other);
  sw_core_timeout(x.c, LAN_PERIOD_MS);
  sw_dgram dg;
  assert_int_equal(sw_core_out_peek(x.c, &dg, 1), 1);
  feed(&a, dg.data, dg.len, 6);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0, NULL, 6), 0);
  sw_core_free(x.c);
  /* malformed beacons: nothing, whatever they hold */
  tu_rng r = {7};
  for (int i = 0; i < 2000; i++) {
    uint8_t junk[96];
    size_t n = 1 + tu_rng_next(&r) % sizeof junk;
    tu_rng_bytes(&r, junk, n);
    junk[0] = 0x09;
    feed(&a, junk, n, 7);
  }
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0, NULL, 7), 0);

  /* a connected peer is not dialled again on its beacons (D10: wire ids compared) */
  du_connect(&a, &b, 10);
  assert_int_equal(sw_core_peer_count(a.c), 1);
  sw_core_join(b.c, topic);
  feed(&a, from_b, b_len, 11);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, 11), 0);
  /* B hears A's beacon, already connected: nothing either */
  feed(&b, own, own_len, 12);
  assert_int_equal(du_count_out(&b, SW_SOCK_MAIN, 0xA1, NULL, 12), 0);

  sw_core_free(a.c);
  sw_core_free(b.c);
  free(own);
  free(from_d);
  free(from_b);
  free(no_topic);
  json_decref(v);
}

/* Issue 11: forged beacons (any id, any address, our topic) from the link at 1000 a
 * second for 10 s cause at most the LAN's own budget of dials (10, then 2 a second),
 * and other discovery still has core_meet's tokens to dial with. */
static void test_forged_beacon_flood(void **state) {
  (void)state;
  du_node a;
  lan_node(&a, SEED_A, "192.168.1.11", "192.168.1.11:40001", 40001);
  uint8_t topic[32];
  tu_unhex_into(TOPIC_HEX, topic, 32);
  sw_core_join(a.c, topic);
  char th[CRYPTO_TOPIC_HASH_LEN + 1];
  crypto_topic_hash(topic, th);
  lan *l = core_module_state(a.c, "lan");
  assert_non_null(l);
  size_t hellos = 0;
  uint64_t t = 1000;
  for (int i = 0; i < 10000; i++, t += 1) {
    uint8_t id[20], b[LAN_BEACON_MAX];
    memset(id, 0, sizeof id);
    id[0] = (uint8_t)(i >> 8);
    id[1] = (uint8_t)i;
    id[19] = 0xbe;
    char ip[32];
    snprintf(ip, sizeof ip, "10.%d.%d.%d", 1 + i / 62500, (i / 250) % 250, 1 + i % 250);
    sw_addr ad;
    assert_int_equal(addr_parse_ip(&ad, ip, 4000), SW_OK);
    size_t n = lan_beacon_encode(b, sizeof b, id, &ad, th);
    assert_true(n > 0);
    feed(&a, b, n, t);
    if (i % 100 == 99) hellos += du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, t);
  }
  hellos += du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, t);
  lan_stats st;
  lan_get_stats(l, &st);
  /* 10 s: the burst of 10 and 2 a second */
  assert_true(st.met <= LAN_MEET_BURST + LAN_MEET_RATE_PER_S * 10 + 1);
  assert_true(st.met >= LAN_MEET_BURST);
  assert_true(hellos <= st.met * 8); /* PUNCH_TRIES HELLOs a dial at most */
  assert_true(st.over_budget >= 10000 - st.met - 1);
  /* another source of addresses still dials at once */
  sw_addr other;
  addr_parse_hostport(&other, "10.250.0.1:5000");
  assert_int_equal(core_meet(a.c, &other, NULL, t), SW_OK);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, &other, t), 1);
  sw_core_free(a.c);
}

/* Two cores that know nothing of each other find each other by beacons alone. */
static void test_two_cores_meet(void **state) {
  (void)state;
  du_node a, b;
  lan_node(&a, SEED_A, "10.1.0.1", "10.1.0.1:4001", 4001);
  lan_node(&b, SEED_B, "10.1.0.2", "10.1.0.2:4002", 4002);
  uint8_t topic[32];
  tu_unhex_into(TOPIC_HEX, topic, 32);
  sw_core_join(a.c, topic);
  sw_core_join(b.c, topic);
  du_node *nodes[2] = {&a, &b};
  for (uint64_t t = 0; t <= 2 * LAN_PERIOD_MS; t += 100) {
    for (int i = 0; i < 2; i++) {
      sw_core_timeout(nodes[i]->c, t);
      /* the multicast group: every LAN datagram reaches both (and loops back) */
      sw_dgram d[16];
      size_t k = sw_core_out_peek(nodes[i]->c, d, 16);
      for (size_t j = 0; j < k; j++) {
        if (d[j].kind != SW_SOCK_LAN) continue;
        uint8_t copy[LAN_BEACON_MAX];
        size_t n = d[j].len;
        memcpy(copy, d[j].data, n);
        for (int t2 = 0; t2 < 2; t2++)
          sw_core_datagram(nodes[t2]->c, SW_SOCK_LAN, &nodes[i]->addr, copy, n, t);
      }
    }
    du_pump(nodes, 2, t);
  }
  assert_int_equal(sw_core_peer_count(a.c), 1);
  assert_int_equal(sw_core_peer_count(b.c), 1);
  sw_core_free(a.c);
  sw_core_free(b.c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_topic_hash_vectors), cmocka_unit_test(test_beacon_vectors),
      cmocka_unit_test(test_beacon_malformed),   cmocka_unit_test(test_sender),
      cmocka_unit_test(test_receiver),           cmocka_unit_test(test_two_cores_meet),
      cmocka_unit_test(test_forged_beacon_flood),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
