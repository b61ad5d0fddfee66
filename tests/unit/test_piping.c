/* The piping rendezvous (piping.c, PROTOCOL.md 14.4) and the me record (merec.c, 14.2)
 * with fake HTTP completions: paths, the announce schedule, long-poll loops and their
 * back-off, inbox replies, which records are met, own id skipped, malformed bodies. */
#include <openssl/sha.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "httpfake.h"
#include "merec.h"
#include "piping.h"
#include "testutil.h"

#define SRV "http://127.0.0.1:9"
#define OTHER "e0747b0fc2e5f8562239f8a2df040ff919018325" /* vectors: dht.json "me" */

static tu_rng rng = {11};
static char hash[13], ann_url[128], inbox_url[128];

static sw_core *mk(const char *const *urls, size_t n, int no_defaults) {
  sw_core *c;
  sw_core_config cfg = {.seed_hex = "b2", .random = tu_rng_bytes, .ctx = &rng, .http = 1,
                        .piping = urls, .n_piping = n, .no_default_servers = no_defaults,
                        .lan_ip = "10.0.0.1", .port = 4000};
  assert_int_equal(sw_core_new(&c, &cfg, 0), SW_OK);
  return c;
}

static piping_stats stats(sw_core *c) {
  piping_stats st;
  piping *p = core_module_state(c, "piping");
  assert_non_null(p);
  piping_get_stats(p, &st);
  return st;
}

/* Join the chat topic of room "general" (14.1: topic hash cd5eb9c4d1a1) at time t. */
static void join(sw_core *c, uint64_t t) {
  uint8_t topic[32];
  SHA256((const unsigned char *)"chat:general", 12, topic);
  sw_core_timeout(c, t); /* the join hook runs at the core's last time */
  sw_core_join(c, topic);
  snprintf(hash, sizeof hash, "cd5eb9c4d1a1");
  snprintf(ann_url, sizeof ann_url, SRV "/p2p-%s-announce", hash);
  snprintf(inbox_url, sizeof inbox_url, SRV "/p2p-%s-%s", hash,
           tu_hex(core_identity(c)->id, 20));
}

/* The record a core configured with LAN IP 10.0.0.1 and port 4000 publishes. */
static void lan_record(char *out, size_t cap, const uint8_t id[20]) {
  sw_addr lan;
  assert_int_equal(addr_parse_hostport(&lan, "10.0.0.1:4000"), SW_OK);
  assert_true(merec_build(out, cap, MEREC_FULL, id, NULL, &lan) > 0);
}

static void test_topic_hash_and_record(void **state) {
  (void)state;
  json_t *v = tu_vectors("dht.json");
  json_t *th = json_object_get(v, "topic_hash");
  size_t i;
  json_t *e;
  json_array_foreach(th, i, e) {
    if (strcmp(tu_str(e, "topic_kind"), "bytes") != 0) continue;
    uint8_t topic[32];
    char out[13];
    tu_unhex_into(tu_str(e, "topic_hex"), topic, 32);
    crypto_topic_hash(topic, out);
    assert_string_equal(out, tu_str(e, "topic_hash"));
  }
  /* our record, in the JavaScript spacing, with the LAN address in ip/port as well */
  json_t *me = json_object_get(v, "me");
  uint8_t id[20];
  assert_int_equal(merec_parse_id(tu_str(me, "peer_id_hex"), id), SW_OK);
  char rec[MEREC_MAX];
  sw_addr lan;
  assert_int_equal(addr_parse_ip(&lan, tu_str(me, "lip"),
                                 (uint16_t)json_integer_value(json_object_get(me, "lport"))),
                   SW_OK);
  size_t n = merec_build(rec, sizeof rec, MEREC_FULL, id, NULL, &lan);
  assert_true(n > 0);
  assert_string_equal(rec, "{\"id\":\"" OTHER "\",\"ip\":\"192.168.1.11\",\"port\":40001,"
                           "\"lip\":\"192.168.1.11\",\"lport\":40001,\"nat\":\"unknown\"}");
  /* the JS form without STUN is our form minus ip/port: same field order and spacing */
  char js[MEREC_MAX];
  snprintf(js, sizeof js, "%s", tu_str(me, "js_without_ext"));
  assert_string_equal(js, "{\"id\":\"" OTHER "\",\"lip\":\"192.168.1.11\",\"lport\":40001,"
                          "\"nat\":\"unknown\"}");
  assert_int_equal(merec_build(rec, 20, MEREC_FULL, id, NULL, &lan), 0); /* does not fit */
  sw_addr none = {.port = 5}; /* no LAN IP configured */
  merec_build(rec, sizeof rec, MEREC_FULL, id, NULL, &none);
  assert_non_null(strstr(rec, "\"ip\":\"127.0.0.1\""));
  json_decref(v);
}

static void test_meet_records(void **state) {
  (void)state;
  json_t *v = tu_vectors("dht.json");
  json_t *me = json_object_get(v, "me");
  sw_core *c = mk(NULL, 0, 1);
  json_error_t err;
  /* both spacings, with a public and a LAN address: two dials */
  const char *forms[] = {"python_with_ext", "js_with_ext"};
  for (int i = 0; i < 2; i++) {
    json_t *rec = json_loads(tu_str(me, forms[i]), 0, &err);
    assert_int_equal(merec_meet(c, rec, 10), 2);
    assert_true(hf_sent_to(c, "203.0.113.1:51001", 10) >= (i == 0 ? 1u : 0u));
    json_decref(rec);
  }
  /* without a public address (either reference before STUN): ignored, as in 14.2 */
  const char *without[] = {"python_without_ext", "js_without_ext"};
  for (int i = 0; i < 2; i++) {
    json_t *rec = json_loads(tu_str(me, without[i]), 0, &err);
    assert_int_equal(merec_meet(c, rec, 20), SW_EINVAL);
    json_decref(rec);
  }
  assert_int_equal(hf_sent_to(c, "192.168.1.11:40001", 20), 0);
  /* our own id, bad ids, ports */
  char own[200];
  snprintf(own, sizeof own, "{\"id\":\"%s\",\"ip\":\"10.0.0.9\",\"port\":9}",
           tu_hex(core_identity(c)->id, 20));
  const char *bad[] = {own, "{\"id\":\"e0747b\",\"ip\":\"10.0.0.9\",\"port\":9}",
                       "{\"id\":\"" OTHER "\",\"ip\":\"10.0.0.9\",\"port\":0}",
                       "{\"id\":\"" OTHER "\",\"ip\":\"10.0.0.9\",\"port\":\"9\"}",
                       "{\"id\":\"" OTHER "\",\"ip\":\"example.com\",\"port\":9}",
                       "{\"id\":5,\"ip\":\"10.0.0.9\",\"port\":9}", "[]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *rec = json_loads(bad[i], 0, &err);
    assert_int_equal(merec_meet(c, rec, 30), SW_EINVAL);
    json_decref(rec);
  }
  assert_int_equal(hf_sent_to(c, "10.0.0.9:9", 30), 0);
  sw_core_free(c);
  json_decref(v);
}

static void test_paths_and_schedule(void **state) {
  (void)state;
  static const char *const urls[] = {SRV "/"};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX];
  sw_core_timeout(c, 100);
  assert_int_equal(hf_take(c, r), 0); /* nothing before join */
  join(c, 1000);
  size_t n = hf_take(c, r);
  assert_int_equal(n, 3);
  int p = hf_find(r, n, "POST", ann_url), ga = hf_find(r, n, "GET", ann_url),
      gi = hf_find(r, n, "GET", inbox_url);
  assert_true(p >= 0 && ga >= 0 && gi >= 0);
  assert_int_equal(r[p].timeout_ms, PIPING_POST_TIMEOUT_MS);
  assert_int_equal(r[ga].timeout_ms, PIPING_GET_TIMEOUT_MS);
  assert_string_equal(r[p].ctype, "application/json");
  char rec[MEREC_MAX];
  lan_record(rec, sizeof rec, core_identity(c)->id);
  assert_string_equal(r[p].body, rec);
  /* POSTs at join, +2 s, +5 s, then every 18 s (each answered at once) */
  hf_answer(c, &r[p], 200, NULL, 1000);
  const uint64_t at[] = {3000, 6000, 19000, 37000, 55000};
  uint64_t t = 1000;
  for (int k = 0; k < 5; k++) {
    for (; t < at[k]; t += 500) {
      sw_core_timeout(c, t);
      assert_int_equal(hf_take(c, r), 0);
    }
    assert_true(sw_core_deadline(c) <= at[k]);
    sw_core_timeout(c, at[k]);
    n = hf_take(c, r);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].url, ann_url);
    hf_answer(c, &r[0], 200, NULL, at[k]);
    t = at[k] + 500;
  }
  /* a POST still waiting for its receiver is not doubled */
  sw_core_timeout(c, 73000);
  assert_int_equal(hf_take(c, r), 1);
  sw_core_timeout(c, 91000);
  assert_int_equal(hf_take(c, r), 0);
  assert_int_equal(stats(c).posts, 7);
  sw_core_free(c);
}

static void test_longpoll(void **state) {
  (void)state;
  static const char *const urls[] = {SRV};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX], q[HF_MAX];
  join(c, 1000);
  size_t n = hf_take(c, r);
  int ga = hf_find(r, n, "GET", ann_url), gi = hf_find(r, n, "GET", inbox_url);
  hf_drain(c, 1000);
  /* an announcement: reply in the sender's inbox on that server, then meet */
  hf_answer(c, &r[ga], 200,
            "  {\"id\": \"E0747B0FC2E5F8562239F8A2DF040FF919018325\", \"ip\": \"10.0.0.2\", "
            "\"port\": 5000, \"lip\": \"192.168.0.2\", \"lport\": 5001, \"nat\": \"unknown\"}\n",
            1100);
  n = hf_take(c, q);
  assert_int_equal(n, 1);
  char want[160];
  snprintf(want, sizeof want, SRV "/p2p-%s-" OTHER, hash);
  assert_string_equal(q[0].method, "POST");
  assert_string_equal(q[0].url, want);
  assert_true(hf_sent_to(c, "10.0.0.2:5000", 1100) >= 1);
  assert_int_equal(stats(c).met, 1);
  /* re-poll 100 ms after the response */
  sw_core_timeout(c, 1199);
  assert_int_equal(hf_find(q, hf_take(c, q), "GET", ann_url), -1);
  assert_true(sw_core_deadline(c) <= 1200);
  sw_core_timeout(c, 1200);
  n = hf_take(c, q);
  ga = hf_find(q, n, "GET", ann_url);
  assert_true(ga >= 0);
  /* our own announcement read back: no reply, no dial */
  char own[300];
  lan_record(own, sizeof own, core_identity(c)->id);
  hf_answer(c, &q[ga], 200, own, 1300);
  assert_int_equal(hf_take(c, q), 0);
  assert_int_equal(stats(c).own, 1);
  /* the inbox: met, never answered */
  hf_answer(c, &r[gi], 200,
            "{\"id\":\"1111111111111111111111111111111111111111\",\"ip\":\"10.0.0.3\","
            "\"port\":6000}",
            1300);
  assert_int_equal(hf_take(c, q), 0);
  assert_true(hf_sent_to(c, "10.0.0.3:6000", 1300) >= 1);
  /* malformed bodies: counted, the loop goes on */
  const char *bad[] = {"garbage", "[1,2]", "{\"id\":\"nothex\",\"ip\":\"10.0.0.4\",\"port\":1}",
                       "{\"ip\":\"10.0.0.4\",\"port\":1}", "\"str\""};
  uint64_t t = 1400;
  for (int i = 0; i < 5; i++, t += 200) {
    sw_core_timeout(c, t);
    n = hf_take(c, q);
    ga = hf_find(q, n, "GET", ann_url);
    assert_true(ga >= 0);
    hf_answer(c, &q[ga], 200, bad[i], t);
    size_t m = hf_take(c, q);
    for (size_t j = 0; j < m; j++) /* answer the inbox re-polls out of the way */
      hf_answer(c, &q[j], -1, NULL, t);
  }
  assert_int_equal(stats(c).malformed, 5);
  assert_int_equal(hf_sent_to(c, "10.0.0.4:1", t), 0);
  /* an empty response (timeout at the server) is not an error */
  sw_core_timeout(c, t);
  n = hf_take(c, q);
  ga = hf_find(q, n, "GET", ann_url);
  hf_answer(c, &q[ga], 200, "", t);
  sw_core_free(c);
}

static void test_backoff(void **state) {
  (void)state;
  static const char *const urls[] = {SRV};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX];
  join(c, 1000);
  size_t n = hf_take(c, r);
  int gi = hf_find(r, n, "GET", inbox_url);
  int p = hf_find(r, n, "POST", ann_url);
  hf_answer(c, &r[p], 200, NULL, 1000);
  int ga = hf_find(r, n, "GET", ann_url);
  hf_answer(c, &r[ga], 200, NULL, 1000); /* keep the announce loop quiet... */
  /* errors on the inbox loop: 1 s, 2 s, 4 s, 8 s, 16 s, 16 s */
  uint64_t t = 1000, expect = PIPING_BACKOFF_MIN_MS;
  hf_answer(c, &r[gi], 400, "[ERROR] another receiver", t);
  for (int k = 0; k < 6; k++) {
    uint64_t due = t + expect;
    for (uint64_t s = t + 50; s < due; s += 50) {
      sw_core_timeout(c, s);
      hf_req q[HF_MAX];
      size_t m = hf_take(c, q);
      assert_int_equal(hf_find(q, m, "GET", inbox_url), -1);
      for (size_t j = 0; j < m; j++) hf_answer(c, &q[j], 200, NULL, s); /* announce side */
    }
    sw_core_timeout(c, due);
    hf_req q[HF_MAX];
    size_t m = hf_take(c, q);
    int i = hf_find(q, m, "GET", inbox_url);
    assert_true(i >= 0);
    for (size_t j = 0; j < m; j++)
      if ((int)j != i) hf_answer(c, &q[j], 200, NULL, due);
    t = due;
    hf_answer(c, &q[i], -1, NULL, t);
    expect = expect * 2 > PIPING_BACKOFF_MAX_MS ? PIPING_BACKOFF_MAX_MS : expect * 2;
  }
  assert_true(stats(c).errors >= 7);
  sw_core_free(c);
}

/* Someone else waits on the announce path (the server refuses a second receiver):
 * our record goes there at once, and only once while that POST is in flight. */
static void test_busy_announce_path(void **state) {
  (void)state;
  static const char *const urls[] = {SRV};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX], q[HF_MAX];
  join(c, 1000);
  size_t n = hf_take(c, r);
  hf_answer(c, &r[hf_find(r, n, "POST", ann_url)], 200, NULL, 1000);
  hf_answer(c, &r[hf_find(r, n, "GET", ann_url)], 400, "[ERROR] receivers", 1010);
  n = hf_take(c, q);
  assert_int_equal(n, 1);
  assert_string_equal(q[0].method, "POST");
  assert_string_equal(q[0].url, ann_url);
  sw_core_timeout(c, 1010 + PIPING_BACKOFF_MIN_MS);
  size_t m = hf_take(c, r);
  int g = hf_find(r, m, "GET", ann_url);
  assert_true(g >= 0);
  hf_answer(c, &r[g], 400, NULL, 2100);
  assert_int_equal(hf_take(c, r), 0); /* the first POST still waits for its receiver */
  /* a transport error says nothing about other receivers: no POST */
  hf_answer(c, &q[0], 200, NULL, 2200);
  sw_core_timeout(c, 2100 + 2 * PIPING_BACKOFF_MIN_MS);
  m = hf_take(c, r);
  g = hf_find(r, m, "GET", ann_url);
  assert_true(g >= 0);
  hf_answer(c, &r[g], -1, NULL, 4200);
  assert_int_equal(hf_find(r, hf_take(c, r), "POST", ann_url), -1);
  sw_core_free(c);
}

static void test_defaults_and_bounds(void **state) {
  (void)state;
  hf_req r[HF_MAX];
  /* host names become https:// URLs; the references' four defaults are merged in */
  static const char *const urls[] = {"ppng.io", SRV};
  sw_core *c = mk(urls, 2, 0);
  join(c, 1000);
  size_t n = hf_take(c, r), pp = 0;
  for (size_t i = 0; i < n; i++) pp += strstr(r[i].url, "/p2p-") != NULL; /* not httpboot's */
  assert_int_equal(pp, 5 * 3); /* 5 distinct servers x (POST + 2 GETs) */
  char u[200];
  snprintf(u, sizeof u, "https://piping.glitch.me/p2p-%s-announce", hash);
  assert_true(hf_find(r, n, "POST", u) >= 0);
  sw_core_free(c);
  /* bad URLs are refused at creation */
  static const char *const bad[] = {"ftp://x", "http://", "http://a b"};
  for (int i = 0; i < 3; i++) {
    sw_core *b = NULL;
    sw_core_config cfg = {.seed_hex = "b2", .random = tu_rng_bytes, .ctx = &rng, .http = 1,
                          .piping = &bad[i], .n_piping = 1, .no_default_servers = 1};
    assert_int_equal(sw_core_new(&b, &cfg, 0), SW_EINVAL);
  }
  /* replies in flight are bounded */
  static const char *const one[] = {SRV};
  c = mk(one, 1, 1);
  join(c, 1000);
  n = hf_take(c, r);
  int ga = hf_find(r, n, "GET", ann_url);
  uint64_t t = 1000;
  size_t replies = 0;
  for (int k = 0; k < 40; k++) {
    char rec[200];
    snprintf(rec, sizeof rec, "{\"id\":\"%040d\",\"ip\":\"10.2.0.%d\",\"port\":1}", k + 1, k + 1);
    hf_answer(c, &r[ga], 200, rec, t);
    t += PIPING_REPOLL_MS;
    sw_core_timeout(c, t);
    hf_req q[HF_MAX];
    size_t m = hf_take(c, q);
    ga = -1;
    for (size_t j = 0; j < m; j++) {
      if (strcmp(q[j].method, "POST") == 0 && strstr(q[j].url, "announce") == NULL) replies++;
      else if (strcmp(q[j].method, "GET") == 0 && strstr(q[j].url, "announce")) r[0] = q[j], ga = 0;
    }
    assert_true(ga == 0);
    hf_drain(c, t);
  }
  assert_int_equal(replies, PIPING_REPLIES_MAX); /* never answered: the slots stay taken */
  sw_core_free(c);
}

static void test_off_and_close(void **state) {
  (void)state;
  hf_req r[HF_MAX];
  static const char *const urls[] = {SRV};
  sw_core *c;
  sw_core_config off = {.seed_hex = "b2", .random = tu_rng_bytes, .ctx = &rng, .piping = urls,
                        .n_piping = 1, .no_default_servers = 1};
  assert_int_equal(sw_core_new(&c, &off, 0), SW_OK);
  join(c, 1000);
  assert_int_equal(hf_take(c, r), 0);
  assert_null(core_module_state(c, "piping"));
  sw_core_free(c);
  c = mk(urls, 1, 1);
  join(c, 1000);
  size_t n = hf_take(c, r);
  sw_core_close(c, 1100);
  for (size_t i = 0; i < n; i++)
    hf_answer(c, &r[i], 200, "{\"id\":\"" OTHER "\",\"ip\":\"10.0.0.2\",\"port\":1}", 1200);
  sw_core_timeout(c, 30000);
  assert_int_equal(hf_take(c, r), 0); /* no reply, no re-poll, no announce after close */
  sw_core_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_topic_hash_and_record), cmocka_unit_test(test_meet_records),
      cmocka_unit_test(test_paths_and_schedule),    cmocka_unit_test(test_longpoll),
      cmocka_unit_test(test_backoff),               cmocka_unit_test(test_busy_announce_path),
      cmocka_unit_test(test_defaults_and_bounds),
      cmocka_unit_test(test_off_and_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
