/* The DHT module (src/core/dht.c): the references' messages of vectors/dht.json parsed
 * and produced, bucket index, keys, topic hash and me record against the vectors, the
 * strict parser on malformed input (D18), the caps on what is stored (D17), and
 * iterative lookups over a fake network of cores (D24: a DHT that finds peers). */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "dht.h"
#include "relay.h"
#include "merec.h"
#include "testutil.h"

#define ANN_PROBATION_T 32 /* dht_state.h ANN_PROBATION */

/* ---- codec against the vectors ------------------------------------------------ */

/* Parse text, encode it again, and compare the parsed JSON of both. */
static void roundtrip(const char *text) {
  dht_msg m;
  uint8_t out[DHT_MAX_DATAGRAM];
  assert_int_equal(dht_parse((const uint8_t *)text, strlen(text), &m), SW_OK);
  int n = dht_encode(&m, out, sizeof out);
  assert_true(n > 0);
  json_error_t e;
  json_t *want = json_loads(text, 0, &e), *got = json_loadb((const char *)out, (size_t)n, 0, &e);
  assert_non_null(want);
  assert_non_null(got);
  /* Python writes "rpcId": null in replies to rpc-less requests; we leave it out. */
  if (json_is_null(json_object_get(want, "rpcId"))) json_object_del(want, "rpcId");
  if (!json_equal(want, got)) {
    char *g = json_dumps(got, JSON_COMPACT);
    fail_msg("re-encoded differs:\n want %s\n got  %s", text, g);
  }
  /* our own form is compact: no space after ',' or ':' outside strings */
  assert_null(memchr(out, '\n', (size_t)n));
  json_decref(want);
  json_decref(got);
}

static void test_vector_messages(void **state) {
  (void)state;
  json_t *v = tu_vectors("dht.json"), *m;
  size_t i;
  int seen[8] = {0};
  json_array_foreach(json_object_get(v, "messages"), i, m) {
    roundtrip(tu_str(m, "python_text"));
    roundtrip(tu_str(m, "js_text"));
    dht_msg a, b;
    const char *pt = tu_str(m, "python_text"), *jt = tu_str(m, "js_text");
    assert_int_equal(dht_parse((const uint8_t *)pt, strlen(pt), &a), SW_OK);
    assert_int_equal(dht_parse((const uint8_t *)jt, strlen(jt), &b), SW_OK);
    assert_int_equal(a.type, json_integer_value(json_object_get(m, "type")));
    assert_int_equal(a.type, b.type);
    assert_memory_equal(a.from, b.from, 20);
    assert_int_equal(a.rpc, b.rpc);
    assert_int_equal(a.nnodes, b.nnodes);
    seen[a.type] = 1;
  }
  for (int t = 1; t <= 7; t++) assert_true(seen[t]);
  /* every datagram of the scripted exchanges, both references */
  const char *who[] = {"python", "js"};
  for (int w = 0; w < 2; w++) {
    json_array_foreach(json_object_get(json_object_get(v, "full_exchange"), who[w]), i, m) {
      size_t len;
      uint8_t *raw = tu_unhex(tu_str(m, "hex"), &len);
      dht_msg x;
      assert_int_equal(dht_parse(raw, len, &x), SW_OK);
      roundtrip(tu_str(m, "text"));
      free(raw);
    }
  }
  json_decref(v);
}

static void test_vector_fields(void **state) {
  (void)state;
  json_t *v = tu_vectors("dht.json");
  /* FOUND_NODE of the vectors: three nodes with ids, IPs and ports */
  json_t *m = json_array_get(json_object_get(v, "messages"), 4);
  const char *t = tu_str(m, "js_text");
  dht_msg x;
  assert_int_equal(dht_parse((const uint8_t *)t, strlen(t), &x), SW_OK);
  assert_int_equal(x.type, DHT_FOUND_NODE);
  assert_int_equal(x.nnodes, 3);
  uint8_t id[20];
  tu_unhex_into("81f9a42f79a8d371cd68938b912e931ab51a8c64", id, 20);
  assert_memory_equal(x.nodes[1].id, id, 20);
  sw_addr a;
  assert_int_equal(addr_parse_hostport(&a, "198.51.100.23:49740"), SW_OK);
  assert_true(addr_equal(&x.nodes[1].addr, &a));
  assert_int_equal(x.rpc, 0xa63dc2ad);
  /* FOUND_VAL carries the value text untouched */
  m = json_array_get(json_object_get(v, "messages"), 6);
  t = tu_str(m, "python_text");
  assert_int_equal(dht_parse((const uint8_t *)t, strlen(t), &x), SW_OK);
  assert_string_equal(x.value, tu_str(v, "find_value_result"));
  json_decref(v);
}

static void test_bucket_index(void **state) {
  (void)state;
  json_t *v = tu_vectors("dht.json"), *c;
  size_t i;
  json_array_foreach(json_object_get(v, "bucket_index"), i, c) {
    uint8_t a[20], b[20];
    tu_unhex_into(tu_str(c, "self_id_hex"), a, 20);
    tu_unhex_into(tu_str(c, "other_id_hex"), b, 20);
    assert_int_equal(dht_bucket_index(a, b), json_integer_value(json_object_get(c, "bucket_index")));
    assert_int_equal(dht_bucket_index(a, a),
                     json_integer_value(json_object_get(v, "bucket_index_identical_ids")));
  }
  json_decref(v);
}

static void test_keys_topic_me(void **state) {
  (void)state;
  json_t *v = tu_vectors("dht.json"), *c;
  size_t i;
  json_array_foreach(json_object_get(v, "key_hashes"), i, c) {
    uint8_t k[20];
    dht_key(tu_str(c, "key"), k);
    assert_string_equal(tu_hex(k, 20), tu_str(c, "sha1_hex"));
  }
  int bytes_cases = 0;
  json_array_foreach(json_object_get(v, "topic_hash"), i, c) {
    if (strcmp(tu_str(c, "topic_kind"), "bytes")) continue; /* we join 32-byte topics */
    uint8_t topic[32];
    char th[13];
    tu_unhex_into(tu_str(c, "topic_hex"), topic, 32);
    crypto_topic_hash(topic, th);
    assert_string_equal(th, tu_str(c, "topic_hash"));
    bytes_cases++;
  }
  assert_true(bytes_cases >= 4);
  json_t *me = json_object_get(v, "me");
  uint8_t id[20];
  tu_unhex_into(tu_str(me, "peer_id_hex"), id, 20);
  char rec[512];
  json_error_t e;
  sw_addr ext;
  assert_int_equal(addr_parse_hostport(&ext, tu_str(me, "ext")), SW_OK);
  sw_addr lan;
  assert_int_equal(addr_parse_ip(&lan, tu_str(me, "lip"),
                                 (uint16_t)json_integer_value(json_object_get(me, "lport"))),
                   SW_OK);
  /* the one builder (merec.c) in the form the DHT STOREs */
  assert_true(merec_build(rec, sizeof rec, MEREC_FULL_OMIT, id, &ext, &lan) > 0);
  json_t *got = json_loads(rec, 0, &e), *want = json_loads(tu_str(me, "js_with_ext"), 0, &e);
  assert_true(json_equal(got, want));
  assert_string_equal(rec, tu_str(me, "js_with_ext")); /* same compact form, same order */
  json_decref(got);
  json_decref(want);
  assert_true(merec_build(rec, sizeof rec, MEREC_FULL_OMIT, id, NULL, &lan) > 0);
  assert_string_equal(rec, tu_str(me, "js_without_ext"));
  json_decref(v);
}

/* Our extension messages survive a round trip with every field. */
static void test_extension_roundtrip(void **state) {
  (void)state;
  dht_msg m, back;
  memset(&m, 0, sizeof m);
  m.type = DHT_PEERS;
  m.has_from = m.has_rpc = m.has_peers = m.has_nodes = m.has_ip = 1;
  memset(m.from, 0xab, 20);
  m.rpc = 0x01020304;
  m.npeers = DHT_MSG_PEERS;
  m.nnodes = DHT_MSG_NODES;
  for (size_t i = 0; i < DHT_MSG_PEERS; i++) {
    memset(m.peers[i].id, (int)i, 20);
    char a[32];
    snprintf(a, sizeof a, "10.1.%zu.1:%zu", i, 1000 + i);
    assert_int_equal(addr_parse_hostport(&m.peers[i].addr, a), SW_OK);
  }
  for (size_t i = 0; i < DHT_MSG_NODES; i++) {
    memset(m.nodes[i].id, (int)(0x80 + i), 20);
    assert_int_equal(addr_parse_hostport(&m.nodes[i].addr, "[2001:db8::1]:65535"), SW_OK);
  }
  assert_int_equal(addr_parse_ip(&m.ip, "203.0.113.9", 0), SW_OK);
  uint8_t out[DHT_MAX_DATAGRAM];
  int n = dht_encode(&m, out, sizeof out);
  assert_true(n > 0 && n < DHT_MAX_DATAGRAM); /* the largest reply we send fits */
  assert_int_equal(dht_parse(out, (size_t)n, &back), SW_OK);
  assert_int_equal(back.npeers, DHT_MSG_PEERS);
  assert_int_equal(back.nnodes, DHT_MSG_NODES);
  assert_true(addr_equal(&back.peers[7].addr, &m.peers[7].addr));
  assert_true(addr_equal(&back.nodes[3].addr, &m.nodes[3].addr));
  assert_true(back.has_ip && addr_equal(&back.ip, &m.ip));
  assert_int_equal(back.rpc, m.rpc);
  /* ANNOUNCE_PEER */
  memset(&m, 0, sizeof m);
  m.type = DHT_ANNOUNCE_PEER;
  m.has_key = m.has_id = m.has_port = 1;
  memset(m.key, 1, 20);
  memset(m.id, 2, 20);
  m.port = 4242;
  n = dht_encode(&m, out, sizeof out);
  assert_int_equal(dht_parse(out, (size_t)n, &back), SW_OK);
  assert_int_equal(back.port, 4242);
  assert_memory_equal(back.id, m.id, 20);
  /* a buffer too small is refused, not overrun */
  assert_int_equal(dht_encode(&m, out, 10), SW_EMSGSIZE);
}

static void test_malformed(void **state) {
  (void)state;
  static const char *bad[] = {
      "",
      "not json",
      "[1,2,3]",
      "{\"type\":1",
      "{\"type\":1} trailing",
      "{}",
      "{\"type\":\"1\"}",
      "{\"type\":0}",
      "{\"type\":11}",
      "{\"type\":1.0}",
      "{\"type\":99999999999999999999999}",
      "{\"type\":1,\"type\":2}",
      "{\"type\":1,\"from\":\"abc\"}",
      "{\"type\":1,\"from\":42}",
      "{\"type\":1,\"from\":\"zz7fba894ac3b028b720d32c6c83b9c1883a6bd9\"}",
      "{\"type\":1,\"rpcId\":\"1234567\"}",
      "{\"type\":1,\"rpcId\":1234}",
      "{\"type\":4}",
      "{\"type\":4,\"target\":null}",
      "{\"type\":6}",
      "{\"type\":3,\"key\":\"cfd3844413a3616cf47a81745ad5d2cdd7e9cd9b\"}",
      "{\"type\":3,\"key\":\"cfd3844413a3616cf47a81745ad5d2cdd7e9cd9b\",\"value\":{}}",
      "{\"type\":5,\"nodes\":{}}",
      "{\"type\":7}",
      "{\"type\":8,\"key\":\"cfd3844413a3616cf47a81745ad5d2cdd7e9cd9b\",\"port\":1}",
      "{\"type\":8,\"key\":\"cfd3844413a3616cf47a81745ad5d2cdd7e9cd9b\","
      "\"id\":\"cfd3844413a3616cf47a81745ad5d2cdd7e9cd9b\",\"port\":70000}",
      "{\"type\":10,\"ip\":\"not an ip\"}",
      "{\"type\":1,\"from\":\"427fba894ac3b028b720d32c6c83b9c1883a6b\\u0000d\"}",
  };
  dht_msg m;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (dht_parse((const uint8_t *)bad[i], strlen(bad[i]), &m) != SW_EINVAL)
      fail_msg("accepted: %s", bad[i]);
  /* too long a value, too long a datagram, deep nesting */
  char *big = malloc(DHT_MAX_DATAGRAM + 64);
  assert_non_null(big);
  int n = snprintf(big, DHT_MAX_DATAGRAM, "{\"type\":3,\"key\":\"%040d\",\"value\":\"", 0);
  memset(big + n, 'x', DHT_VALUE_MAX + 1);
  strcpy(big + n + DHT_VALUE_MAX + 1, "\"}");
  assert_int_equal(dht_parse((uint8_t *)big, strlen(big), &m), SW_EINVAL);
  memset(big, ' ', DHT_MAX_DATAGRAM + 1);
  memcpy(big, "{\"type\":1}", 10);
  assert_int_equal(dht_parse((uint8_t *)big, DHT_MAX_DATAGRAM + 1, &m), SW_EINVAL);
  assert_int_equal(dht_parse((uint8_t *)big, DHT_MAX_DATAGRAM, &m), SW_OK);
  for (int i = 0; i < 4000; i++) big[i] = '[';
  assert_int_equal(dht_parse((uint8_t *)big, 4000, &m), SW_EINVAL);
  free(big);
  /* bad node entries are skipped, and at most DHT_MSG_NODES are read */
  const char *mixed =
      "{\"type\":5,\"nodes\":[{\"id\":\"x\",\"ip\":\"1.2.3.4\",\"port\":1},"
      "{\"id\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\",\"ip\":\"1.2.3.4\",\"port\":0},"
      "{\"id\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\",\"ip\":\"host\",\"port\":5},"
      "7,null,[],"
      "{\"id\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\",\"ip\":\"1.2.3.4\",\"port\":5}]}";
  assert_int_equal(dht_parse((const uint8_t *)mixed, strlen(mixed), &m), SW_OK);
  assert_int_equal(m.nnodes, 1);
  char many[8192];
  size_t off = (size_t)snprintf(many, sizeof many, "{\"type\":5,\"nodes\":[");
  for (int i = 0; i < 40; i++)
    off += (size_t)snprintf(many + off, sizeof many - off,
                            "%s{\"id\":\"%040d\",\"ip\":\"10.0.0.%d\",\"port\":%d}", i ? "," : "",
                            i, i + 1, 1000 + i);
  off += (size_t)snprintf(many + off, sizeof many - off, "]}");
  assert_int_equal(dht_parse((const uint8_t *)many, off, &m), SW_OK);
  assert_int_equal(m.nnodes, DHT_MSG_NODES);
}

/* ---- a fake network of cores --------------------------------------------------- */

#define FN_MAX 64

typedef struct fnode {
  sw_core *c;
  sw_addr main, dht;
  tu_rng rng;
} fnode;

typedef struct fnet {
  fnode n[FN_MAX];
  int count;
  uint64_t now;
  /* main-socket datagrams seen: who sent to whom (HELLOs from meets) */
  int hello[FN_MAX][FN_MAX];
  int to_outside;
  size_t outside_bytes; /* bytes sent to outside */
  sw_addr outside; /* a scripted "reference node" the test speaks for */
  uint8_t last_out[DHT_MAX_DATAGRAM];
  size_t last_len;
} fnet;

static void fn_rand(void *ctx, uint8_t *b, size_t n) { tu_rng_bytes(ctx, b, n); }

static int fn_add_relay(fnet *f, const sw_addr *boot, size_t nboot, int relay, const char *lip);

static int fn_add(fnet *f, const sw_addr *boot, size_t nboot) {
  return fn_add_relay(f, boot, nboot, 0, NULL);
}

static int fn_add_relay(fnet *f, const sw_addr *boot, size_t nboot, int relay, const char *lip) {
  int i = f->count++;
  fnode *x = &f->n[i];
  char a[32];
  snprintf(a, sizeof a, "10.9.%d.%d:%d", i / 200, i % 200 + 1, 3000 + i);
  assert_int_equal(addr_parse_hostport(&x->main, a), SW_OK);
  x->dht = x->main;
  x->dht.port = (uint16_t)(20000 + i);
  x->rng.s = 0x1234 + (uint64_t)i * 7919;
  /* relay 2: not configured, but turned on later, as a NAT found full cone does */
  dht_config dc = {.bootstrap = boot, .nbootstrap = nboot, .relay = relay == 1};
  sw_core_config cfg = {.random = fn_rand, .ctx = &x->rng, .dht = &dc, .lan_ip = lip,
                        .port = x->main.port, .relayed = relay == 2};
  assert_int_equal(sw_core_new(&x->c, &cfg, f->now), SW_OK);
  return i;
}

static int fn_by_dht(fnet *f, const sw_addr *a) {
  for (int i = 0; i < f->count; i++)
    if (addr_equal(&f->n[i].dht, a)) return i;
  return -1;
}
static int fn_by_main(fnet *f, const sw_addr *a) {
  for (int i = 0; i < f->count; i++)
    if (addr_equal(&f->n[i].main, a)) return i;
  return -1;
}

/* Deliver every queued datagram at once, until the network is quiet. */
static void fn_pump(fnet *f) {
  for (int moved = 1; moved;) {
    moved = 0;
    for (int i = 0; i < f->count; i++) {
      sw_dgram d[64];
      size_t k;
      sw_core_flush(f->n[i].c, f->now);
      while ((k = sw_core_out_peek(f->n[i].c, d, 64)) > 0) {
        for (size_t j = 0; j < k; j++) {
          moved = 1;
          if (d[j].kind == SW_SOCK_MAIN) {
            int to = fn_by_main(f, d[j].to);
            if (to >= 0) f->hello[i][to]++;
            continue;
          }
          if (d[j].kind != SW_SOCK_DHT) continue;
          if (f->outside.family && addr_equal(d[j].to, &f->outside)) {
            f->to_outside++;
            f->outside_bytes += d[j].len;
            f->last_len = d[j].len < sizeof f->last_out ? d[j].len : sizeof f->last_out;
            memcpy(f->last_out, d[j].data, f->last_len);
            continue;
          }
          int to = fn_by_dht(f, d[j].to);
          if (to >= 0)
            sw_core_datagram(f->n[to].c, SW_SOCK_DHT, &f->n[i].dht, d[j].data, d[j].len, f->now);
        }
        sw_core_out_consume(f->n[i].c, k, f->now);
      }
    }
  }
}

static void fn_run(fnet *f, uint64_t until) {
  fn_pump(f);
  while (f->now < until) {
    uint64_t t = UINT64_MAX;
    for (int i = 0; i < f->count; i++) {
      uint64_t x = sw_core_deadline(f->n[i].c);
      if (x < t) t = x;
    }
    if (t > until) t = until;
    if (t > f->now) f->now = t;
    for (int i = 0; i < f->count; i++)
      if (sw_core_deadline(f->n[i].c) <= f->now) sw_core_timeout(f->n[i].c, f->now);
    fn_pump(f);
  }
}

static void fn_free(fnet *f) {
  for (int i = 0; i < f->count; i++) sw_core_free(f->n[i].c);
  free(f);
}

/* An empty fake network. */
static fnet *fn_new(void) {
  fnet *f = calloc(1, sizeof *f);
  assert_non_null(f);
  return f;
}

/* A fake network with one node, node 0, that knows nobody. */
static fnet *fn_lone(void) {
  fnet *f = fn_new();
  fn_add(f, NULL, 0);
  return f;
}

static void test_lookups_fake_network(void **state) {
  (void)state;
  fnet *f = fn_lone(); /* node 0: the bootstrap node, knows nobody */
  for (int i = 1; i < 50; i++) fn_add(f, &f->n[0].dht, 1); /* each knows only node 0 */
  fn_run(f, 5000);
  /* everyone learnt node 0's id from its reply, and more nodes through the lookups */
  dht_stats st;
  for (int i = 1; i < 50; i++) {
    assert_true(sw_core_dht_stats(f->n[i].c, &st));
    assert_true(st.table_nodes >= 10);
    assert_true(st.lookups_done >= 1);
  }
  assert_true(sw_core_dht_stats(f->n[0].c, &st));
  /* it heard from all 49, but a bucket holds K = 20: the farthest half (bucket 7) is full */
  assert_true(st.table_nodes >= 30 && st.table_nodes < 49);
  /* two nodes far apart join a topic; a third joins another */
  uint8_t topic[32], other[32];
  memset(topic, 0x42, 32);
  memset(other, 0x43, 32);
  sw_core_join(f->n[7].c, topic);
  sw_core_join(f->n[33].c, topic);
  sw_core_join(f->n[20].c, other);
  fn_run(f, 20000);
  assert_true(f->hello[7][33] > 0 || f->hello[33][7] > 0);
  for (int i = 0; i < 50; i++) {
    assert_int_equal(f->hello[20][i], 0); /* nobody else is on its topic */
    assert_int_equal(f->hello[i][20], 0);
    assert_int_equal(f->hello[i][i], 0);  /* never ourselves */
  }
  /* the record was found over the network: the finder is not where it is stored */
  assert_true(sw_core_dht_stats(f->n[7].c, &st));
  dht_stats st33;
  assert_true(sw_core_dht_stats(f->n[33].c, &st33));
  assert_true(st.peers_found + st33.peers_found >= 1);
  size_t holders = 0;
  for (int i = 0; i < 50; i++) {
    assert_true(sw_core_dht_stats(f->n[i].c, &st));
    holders += st.stored_peers > 0;
    /* the references' STORE of the me record reached other nodes too */
  }
  assert_true(holders >= 3);
  fn_free(f);
}

/* A node that knows nobody answers a reference node's requests (14.6 receiver rules). */
static void send_to(fnet *f, int i, const char *text) {
  sw_core_datagram(f->n[i].c, SW_SOCK_DHT, &f->outside, (const uint8_t *)text, strlen(text),
                   f->now);
  fn_pump(f);
}

/* A relay announces `relay:<topic hash>:<full id>` (14.6, 15.3) to the closest nodes,
 * with the address the DHT learnt for it from its bootstrap node's reply; a node
 * without the relay option does not. */
static void test_relay_record(void **state) {
  (void)state;
  fnet *f = fn_lone();
  int r = fn_add_relay(f, &f->n[0].dht, 1, 1, "192.0.2.9");
  int plain = fn_add(f, &f->n[0].dht, 1);
  int auto_relay = fn_add_relay(f, &f->n[0].dht, 1, 2, "192.0.2.10");
  uint8_t topic[32];
  memset(topic, 0x44, 32);
  sw_core_join(f->n[r].c, topic);
  sw_core_join(f->n[plain].c, topic);
  sw_core_join(f->n[auto_relay].c, topic);
  fn_run(f, 5000);
  /* the NAT module finds auto_relay's NAT full cone: it starts serving, and says so in
   * the DHT with its next topic lookup, as a configured relay does */
  relay_serve(f->n[auto_relay].c, 1);
  fn_run(f, 20000);
  /* the PEERS replies' observation reached the engine's address service: an IP only */
  const pubaddr_entry *seen = pubaddr_get(core_pubaddr(f->n[r].c), 4);
  assert_non_null(seen);
  assert_int_equal(seen->source, PUBADDR_SRC_DHT);
  sw_addr obs;
  assert_int_equal(addr_parse_hostport(&obs, "10.9.0.2:0"), SW_OK);
  assert_true(addr_equal(&seen->addr, &obs));
  assert_int_equal(addr_parse_hostport(&f->outside, "198.51.100.21:49738"), SW_OK);
  char th[13], text[120], keyhex[41], msg[256];
  uint8_t key[20];
  crypto_topic_hash(topic, th);
  for (int who = 0; who < 3; who++) {
    int n = who == 1 ? plain : who == 2 ? auto_relay : r;
    char idh[41];
    uint8_t full[20];
    sw_core_identity(f->n[n].c, NULL, full);
    crypto_hex_encode(full, 20, idh);
    snprintf(text, sizeof text, "relay:%s:%s", th, idh);
    crypto_sha1(text, strlen(text), key);
    crypto_hex_encode(key, 20, keyhex);
    snprintf(msg, sizeof msg,
             "{\"type\":6,\"from\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\","
             "\"key\":\"%s\",\"rpcId\":\"0000000%d\"}", keyhex, who + 1);
    send_to(f, 0, msg);
    dht_msg m;
    assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
    if (who == 0) {
      assert_int_equal(m.type, DHT_FOUND_VAL);
      assert_non_null(strstr(m.value, idh));
      assert_non_null(strstr(m.value, "\"10.9.0.2\"")); /* as seen by node 0 */
    } else if (who == 2) {
      assert_int_equal(m.type, DHT_FOUND_VAL); /* serving since: announced too */
      assert_non_null(strstr(m.value, idh));
    } else {
      assert_int_equal(m.type, DHT_FOUND_NODE); /* not a relay: no such record */
    }
  }
  fn_free(f);
}

static void test_answers_reference_node(void **state) {
  (void)state;
  fnet *f = fn_lone();
  assert_int_equal(addr_parse_hostport(&f->outside, "198.51.100.21:49738"), SW_OK);
  dht_msg m;
  /* PING -> PONG with the rpcId echoed, our node id as from */
  send_to(f, 0, "{\"type\": 1, \"from\": \"427fba894ac3b028b720d32c6c83b9c1883a6bd9\", "
                "\"rpcId\": \"c916f38f\"}");
  assert_int_equal(f->to_outside, 1);
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_PONG);
  assert_int_equal(m.rpc, 0xc916f38f);
  uint8_t me[20];
  assert_true(sw_core_dht_id(f->n[0].c, me));
  assert_memory_equal(m.from, me, 20);
  /* FIND_NODE -> FOUND_NODE listing the pinger it just learnt */
  send_to(f, 0, "{\"type\":4,\"from\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\","
                "\"target\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\",\"rpcId\":\"a63dc2ad\"}");
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_FOUND_NODE);
  assert_int_equal(m.nnodes, 1);
  assert_true(addr_equal(&m.nodes[0].addr, &f->outside));
  /* STORE then FIND_VALUE -> FOUND_VAL; an unknown key -> FOUND_NODE */
  int before = f->to_outside;
  send_to(f, 0, "{\"type\":3,\"from\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\","
                "\"key\":\"cfd3844413a3616cf47a81745ad5d2cdd7e9cd9b\",\"value\":\"{\\\"id\\\":1}\"}");
  assert_int_equal(f->to_outside, before); /* no reply to STORE */
  send_to(f, 0, "{\"type\":6,\"from\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\","
                "\"key\":\"cfd3844413a3616cf47a81745ad5d2cdd7e9cd9b\",\"rpcId\":\"472c2b9b\"}");
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_FOUND_VAL);
  assert_string_equal(m.value, "{\"id\":1}");
  send_to(f, 0, "{\"type\":6,\"key\":\"0000000000000000000000000000000000000000\"}");
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_FOUND_NODE);
  assert_false(m.has_rpc); /* no rpcId asked, none given (as JavaScript does) */
  /* malformed datagrams are counted and never answered */
  before = f->to_outside;
  send_to(f, 0, "{\"type\":4,\"from\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\"}");
  send_to(f, 0, "\xff\xfe");
  assert_int_equal(f->to_outside, before);
  dht_stats st;
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.rx_bad, 2);
  fn_free(f);
}

/* Our node learns a bootstrap node's id from its reply (D24: refs never do). */
static void test_bootstrap_learns_id(void **state) {
  (void)state;
  fnet *f = fn_new();
  assert_int_equal(addr_parse_hostport(&f->outside, "198.51.100.22:49739"), SW_OK);
  fn_add(f, &f->outside, 1);
  fn_run(f, 10);
  assert_int_equal(f->to_outside, 1);
  dht_msg m;
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_FIND_NODE);
  assert_true(m.has_rpc);
  char reply[256];
  snprintf(reply, sizeof reply,
           "{\"type\": 5, \"from\": \"d2c216820ea88263c48adfeac12c900f12352f2f\", \"nodes\": "
           "[], \"rpcId\": \"%08x\"}",
           (unsigned)m.rpc);
  send_to(f, 0, reply);
  dht_stats st;
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.table_nodes, 1);
  /* a reply with an unknown rpcId from elsewhere teaches the table but completes nothing */
  fn_run(f, 30000);
  sw_core_dht_stats(f->n[0].c, &st);
  assert_true(st.tx >= 2); /* the self lookup asked the bootstrap node by id */
  fn_free(f);
}

/* The write token node i gives the address f->outside (a padded GET_PEERS, as our
 * nodes ask); into tok. */
static void get_token(fnet *f, int i, uint8_t tok[DHT_TOKEN_LEN]) {
  send_to(f, i, "{\"type\":9,\"key\":\"2222222222222222222222222222222222222222\","
                "\"pad\":\"00000000000000000000000000000000000000000000000000000000000000\","
                "\"rpcId\":\"0000000f\"}");
  dht_msg m;
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_PEERS);
  assert_true(m.has_token);
  memcpy(tok, m.token, DHT_TOKEN_LEN);
}

static void tok_hex(const uint8_t tok[DHT_TOKEN_LEN], char out[2 * DHT_TOKEN_LEN + 1]) {
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < DHT_TOKEN_LEN; i++) {
    out[2 * i] = hx[tok[i] >> 4];
    out[2 * i + 1] = hx[tok[i] & 15];
  }
  out[2 * DHT_TOKEN_LEN] = 0;
}

/* Node i's write token for f->outside (get_token), as hex (tok_hex). */
static void get_token_hex(fnet *f, int i, char th[2 * DHT_TOKEN_LEN + 1]) {
  uint8_t tok[DHT_TOKEN_LEN];
  get_token(f, i, tok);
  tok_hex(tok, th);
}

static void set_outside(fnet *f, const char *a) {
  assert_int_equal(addr_parse_hostport(&f->outside, a), SW_OK);
}

/* Member i of key announces itself to node 0 (ANNOUNCE_PEER, port 100 + i) from
 * 198.18.i.1:1, with the token that address got; its token in hex into th. */
static void announce_member(fnet *f, const char *key, int i, char th[2 * DHT_TOKEN_LEN + 1]) {
  char a[40], msg[512];
  snprintf(a, sizeof a, "198.18.%d.1:1", i);
  set_outside(f, a);
  get_token_hex(f, 0, th);
  snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%s\",\"id\":\"%040d\",\"port\":%d,"
           "\"token\":\"%s\",\"rpcId\":\"00000001\"}", key, i, 100 + i, th);
  send_to(f, 0, msg);
}

/* D17: what strangers make us store is capped per source, per prefix and in total. */
static void test_caps(void **state) {
  (void)state;
  fnet *f = fn_lone();
  char msg[512], th[17];
  dht_stats st;
  /* tokenless STOREs (the references'): at most 16 values from one source */
  set_outside(f, "198.51.100.30:1");
  for (int i = 0; i < 100; i++) {
    snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%040d\",\"value\":\"v%d\"}", i, i);
    send_to(f, 0, msg);
  }
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_values, 16);
  /* many sources: 32 per /24, 64 tokenless in all */
  for (int i = 0; i < 600; i++) {
    char a[40];
    snprintf(a, sizeof a, "198.51.%d.%d:1", 101 + i / 200, i % 200 + 1);
    set_outside(f, a);
    snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%040d\",\"value\":\"w%d\"}", 1000 + i, i);
    send_to(f, 0, msg);
  }
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_values, 64);
  /* with tokens, from many /24s: up to 256 in all, the tokenless ones going first */
  for (int i = 0; i < 300; i++) {
    char a[40];
    snprintf(a, sizeof a, "100.64.%d.%d:1", i / 2, i % 2 + 1);
    set_outside(f, a);
    get_token_hex(f, 0, th);
    snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%040d\",\"value\":\"t%d\",\"token\":\"%s\"}",
             5000 + i, i, th);
    send_to(f, 0, msg);
  }
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_values, 256);
  /* now tokenless STOREs find no room: they never evict a token-proven value */
  uint64_t refused = st.writes_refused;
  set_outside(f, "198.51.200.1:1");
  send_to(f, 0, "{\"type\":3,\"key\":\"4444444444444444444444444444444444444444\",\"value\":\"x\"}");
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_values, 256);
  assert_int_equal(st.writes_refused, refused + 1);
  /* topic records: 4 per key per address, 32 per key not yet established */
  const char *key = "1111111111111111111111111111111111111111";
  for (int i = 0; i < 200; i++) {
    char a[40];
    snprintf(a, sizeof a, "203.0.%d.%d:1", i / 100, i % 100 + 1);
    set_outside(f, a);
    get_token_hex(f, 0, th);
    snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%s\",\"id\":\"%040d\",\"port\":%d,"
             "\"token\":\"%s\",\"rpcId\":\"00000001\"}", key, i, 1000 + i, th);
    send_to(f, 0, msg);
  }
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_peers, ANN_PROBATION_T);
  /* one source, many keys: 32 records */
  set_outside(f, "203.0.200.1:1");
  get_token_hex(f, 0, th);
  for (int i = 0; i < 100; i++) {
    snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%040d\",\"id\":\"%040d\",\"port\":1,"
             "\"token\":\"%s\"}", i, i, th);
    send_to(f, 0, msg);
  }
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_peers, ANN_PROBATION_T + 32);
  /* that source, at its limit, cannot push a full key over its limit either: it has no
   * record of its own there to give up */
  uint64_t refused0 = st.writes_refused;
  snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%s\",\"id\":\"%040d\",\"port\":1,"
           "\"token\":\"%s\"}", key, 999, th);
  send_to(f, 0, msg);
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_peers, ANN_PROBATION_T + 32);
  assert_int_equal(st.writes_refused, refused0 + 1);
  /* GET_PEERS answers with at most DHT_MSG_PEERS records and the asker's IP (a proven
   * asker: it echoes its token) */
  snprintf(msg, sizeof msg, "{\"type\":9,\"key\":\"%s\",\"token\":\"%s\",\"rpcId\":\"00000002\"}",
           key, th);
  send_to(f, 0, msg);
  dht_msg m;
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_PEERS);
  assert_int_equal(m.npeers, DHT_MSG_PEERS);
  assert_true(m.has_ip);
  /* everything expires */
  fn_run(f, 31 * 60000);
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_values, 0);
  assert_int_equal(st.stored_peers, 0);
  assert_true(sw_core_memory(f->n[0].c) < (1u << 20) + (4u << 20));
  fn_free(f);
}

/* Write tokens (BEP 5 style, 21.4): a STORE or ANNOUNCE_PEER with a wrong token, one
 * given to another address, or one two periods old is refused; a good one is kept. */
static void test_tokens(void **state) {
  (void)state;
  fnet *f = fn_lone();
  char msg[512], th[17];
  uint8_t tok[DHT_TOKEN_LEN], other[DHT_TOKEN_LEN];
  dht_stats st;
  set_outside(f, "192.0.2.7:4000");
  get_token(f, 0, tok);
  set_outside(f, "192.0.2.8:4000");
  get_token(f, 0, other);
  set_outside(f, "192.0.2.7:4000");
  const char *key = "3333333333333333333333333333333333333333";
  /* wrong token */
  snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%s\",\"value\":\"a\",\"token\":\"0011223344556677\"}", key);
  send_to(f, 0, msg);
  /* foreign token: the one given to 192.0.2.8 */
  tok_hex(other, th);
  snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%s\",\"value\":\"b\",\"token\":\"%s\"}", key, th);
  send_to(f, 0, msg);
  snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%s\",\"id\":\"%040d\",\"port\":9,\"token\":\"%s\","
           "\"rpcId\":\"00000003\"}", key, 1, th);
  int before = f->to_outside;
  send_to(f, 0, msg);
  assert_int_equal(f->to_outside, before); /* a refused announce gets no PONG */
  /* no token at all on an announce */
  snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%s\",\"id\":\"%040d\",\"port\":9}", key, 2);
  send_to(f, 0, msg);
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_values, 0);
  assert_int_equal(st.stored_peers, 0);
  assert_int_equal(st.writes_refused, 4);
  /* the right one, within the next period too */
  f->now += 6 * 60000;
  tok_hex(tok, th);
  snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%s\",\"value\":\"c\",\"token\":\"%s\"}", key, th);
  send_to(f, 0, msg);
  snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%s\",\"id\":\"%040d\",\"port\":9,\"token\":\"%s\","
           "\"rpcId\":\"00000004\"}", key, 3, th);
  send_to(f, 0, msg);
  dht_msg m;
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_PONG);
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.stored_values, 1);
  assert_int_equal(st.stored_peers, 1);
  /* a tokenless STORE from elsewhere cannot replace a token-proven value */
  set_outside(f, "192.0.2.9:1");
  snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%s\",\"value\":\"evil\"}", key);
  send_to(f, 0, msg);
  send_to(f, 0, "{\"type\":6,\"key\":\"3333333333333333333333333333333333333333\",\"rpcId\":\"00000005\"}");
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_FOUND_VAL);
  assert_string_equal(m.value, "c");
  /* expired: two periods later the same token is refused */
  f->now += 11 * 60000;
  set_outside(f, "192.0.2.7:4000");
  snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%040d\",\"value\":\"d\",\"token\":\"%s\"}", 7, th);
  send_to(f, 0, msg);
  sw_core_dht_stats(f->n[0].c, &st);
  assert_int_equal(st.writes_refused, 6);
  fn_free(f);
}

/* Established records hold: 20 members announced and refreshed; then 3 addresses with
 * valid tokens announce 1000 fresh ids: every member is still in the answer, first, and
 * the flood holds at most 4 records per address. */
static void test_records_hold(void **state) {
  (void)state;
  fnet *f = fn_lone();
  char msg[512], th[17], a[40];
  const char *key = "5555555555555555555555555555555555555555";
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 20; i++) {
      announce_member(f, key, i, th);
    }
    f->now += 30000; /* the members' next cycle */
  }
  char fth[3][17];
  for (int i = 0; i < 1000; i++) {
    snprintf(a, sizeof a, "198.19.0.%d:1", 1 + i % 3);
    set_outside(f, a);
    if (i < 3) {
      get_token_hex(f, 0, fth[i]);
    }
    snprintf(msg, sizeof msg, "{\"type\":8,\"key\":\"%s\",\"id\":\"%040d\",\"port\":7,"
             "\"token\":\"%s\"}", key, 10000 + i, fth[i % 3]);
    send_to(f, 0, msg);
    if (i % 100 == 99) f->now += 1000;
  }
  set_outside(f, "198.18.200.1:1");
  get_token_hex(f, 0, th);
  snprintf(msg, sizeof msg, "{\"type\":9,\"key\":\"%s\",\"token\":\"%s\",\"rpcId\":\"00000002\"}", key, th);
  send_to(f, 0, msg);
  dht_msg m;
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.type, DHT_PEERS);
  assert_int_equal(m.npeers, 20 + 12); /* the members, then 4 per flooding address */
  for (int i = 0; i < 20; i++) {
    char want[41];
    snprintf(want, sizeof want, "%040d", i);
    uint8_t id[20];
    for (int k = 0; k < 20; k++) id[k] = (uint8_t)((want[2 * k] - '0') << 4 | (want[2 * k + 1] - '0'));
    int found = 0;
    for (int j = 0; j < 20; j++) found |= memcmp(m.peers[j].id, id, 20) == 0;
    assert_true(found);
  }
  fn_free(f);
}

/* Anti-amplification: every request type, forged from fresh addresses, gets back at
 * most 3x its bytes, summed and per request; with or without rpcId, padding or a
 * token, against a node with a full table, a stored value of 1 KiB and a topic set. */
static void test_amplification(void **state) {
  (void)state;
  fnet *f = fn_lone();
  for (int i = 1; i < 40; i++) fn_add(f, &f->n[0].dht, 1);
  fn_run(f, 5000);
  char msg[2048], th[17], a[40], big[1025];
  memset(big, 'v', 1024);
  big[1024] = 0;
  const char *key = "6666666666666666666666666666666666666666";
  /* fill the victim node's stores from proven addresses */
  for (int i = 0; i < 40; i++) {
    announce_member(f, key, i, th);
    if (i == 0) {
      snprintf(msg, sizeof msg, "{\"type\":3,\"key\":\"%s\",\"value\":\"%s\",\"token\":\"%s\"}",
               key, big, th);
      send_to(f, 0, msg);
    }
  }
  const char *from = "\"from\":\"427fba894ac3b028b720d32c6c83b9c1883a6bd9\"";
  const char *reqs[] = {
      "{\"type\":1%s%s}",
      "{\"type\":3,\"key\":\"6666666666666666666666666666666666666666\",\"value\":\"x\"%s%s}",
      "{\"type\":4,\"target\":\"6666666666666666666666666666666666666666\"%s%s}",
      "{\"type\":6,\"key\":\"6666666666666666666666666666666666666666\"%s%s}",
      "{\"type\":6,\"key\":\"6666666666666666666666666666666666666667\"%s%s}",
      "{\"type\":8,\"key\":\"6666666666666666666666666666666666666666\",\"id\":\"%040d\",\"port\":1%s%s}",
      "{\"type\":9,\"key\":\"6666666666666666666666666666666666666666\"%s%s}",
  };
  const char *extras[] = {"", ",\"rpcId\":\"0000abcd\"", ",\"pad\":\"\",\"rpcId\":\"0000abcd\"",
                          ",\"pad\":\"0000000000000000000000000000000000000000\",\"rpcId\":\"0000abcd\"",
                          ",\"token\":\"0011223344556677\",\"rpcId\":\"0000abcd\""};
  int fresh = 0;
  for (size_t r = 0; r < sizeof reqs / sizeof *reqs; r++) {
    size_t in = 0, out = 0;
    for (size_t x = 0; x < sizeof extras / sizeof *extras; x++)
      for (int withfrom = 0; withfrom < 2; withfrom++) {
        char body[600];
        snprintf(body, sizeof body, "%s%s", withfrom ? "," : "", withfrom ? from : "");
        if (r == 5)
          snprintf(msg, sizeof msg, reqs[r], 77, body, extras[x]);
        else
          snprintf(msg, sizeof msg, reqs[r], body, extras[x]);
        fresh++;
        snprintf(a, sizeof a, "203.0.113.%d:%d", 1 + fresh % 250, 1000 + fresh);
        set_outside(f, a);
        size_t before = f->outside_bytes;
        send_to(f, 0, msg);
        size_t got = f->outside_bytes - before;
        if (got > 3 * strlen(msg))
          fail_msg("type %zu: %zu bytes out for %zu in: %s", r, got, strlen(msg), msg);
        in += strlen(msg);
        out += got;
      }
    printf("figure: dht amplification, request form %zu: %zu bytes in, %zu out (x%.2f)\n", r,
           in, out, (double)out / (double)in);
    assert_true(out <= 3 * in);
  }
  /* a source that proved itself (echoed its token) gets the whole answer */
  set_outside(f, "203.0.114.1:1");
  get_token_hex(f, 0, th);
  snprintf(msg, sizeof msg, "{\"type\":9,\"key\":\"%s\",\"token\":\"%s\",\"rpcId\":\"00000002\"}", key, th);
  send_to(f, 0, msg);
  dht_msg m;
  assert_int_equal(dht_parse(f->last_out, f->last_len, &m), SW_OK);
  assert_int_equal(m.npeers, DHT_MSG_PEERS);
  assert_int_equal(m.nnodes, DHT_K);
  fn_free(f);
}

/* Node ids are free (14.6), so one IP holds at most 2 entries of a bucket: 10 ids of
 * one bucket from one host leave 2; the same from loopback (a host's own nodes) all. */
static void test_table_per_ip(void **state) {
  (void)state;
  fnet *f = fn_lone();
  uint8_t self[20];
  assert_true(sw_core_dht_id(f->n[0].c, self));
  const char *hosts[] = {"198.51.100.50", "127.0.0.1"};
  size_t want[] = {2, 2 + 10};
  for (int h = 0; h < 2; h++) {
    for (int i = 0; i < 10; i++) {
      char a[40], msg[200], idh[41];
      uint8_t id[20];
      memcpy(id, self, 20);
      id[0] ^= 0x80; /* the farthest bucket */
      id[19] = (uint8_t)(i + 16 * h);
      for (int k = 0; k < 20; k++) snprintf(idh + 2 * k, 3, "%02x", id[k]);
      snprintf(a, sizeof a, "%s:%d", hosts[h], 5000 + i);
      set_outside(f, a);
      snprintf(msg, sizeof msg, "{\"type\":1,\"from\":\"%s\",\"rpcId\":\"00000001\"}", idh);
      send_to(f, 0, msg);
    }
    dht_stats st;
    sw_core_dht_stats(f->n[0].c, &st);
    assert_int_equal(st.table_nodes, want[h]);
  }
  fn_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector_messages),
      cmocka_unit_test(test_vector_fields),
      cmocka_unit_test(test_bucket_index),
      cmocka_unit_test(test_keys_topic_me),
      cmocka_unit_test(test_extension_roundtrip),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_lookups_fake_network),
      cmocka_unit_test(test_answers_reference_node),
      cmocka_unit_test(test_relay_record),
      cmocka_unit_test(test_bootstrap_learns_id),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_tokens),
      cmocka_unit_test(test_records_hold),
      cmocka_unit_test(test_amplification),
      cmocka_unit_test(test_table_per_ip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
