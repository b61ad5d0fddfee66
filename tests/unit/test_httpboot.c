/* The HTTP bootstrap client (httpboot.c, PROTOCOL.md 14.5) with fake HTTP completions:
 * its schedule (nothing before the first join, then each join and every 180 s), the announce body, which records of a
 * /peers answer are dialled (own id skipped, D9), bounds, and malformed answers. */
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "httpboot.h"
#include "httpfake.h"
#include "peercache.h"
#include "testutil.h"

#define BASE "http://127.0.0.1:9"

static tu_rng rng = {7};

static sw_core *mk_idle(const char *const *urls, size_t n, int no_defaults) {
  sw_core *c;
  sw_core_config cfg = {.seed_hex = "a1", .random = tu_rng_bytes, .ctx = &rng, .http = 1,
                        .bootstrap_http = urls, .n_bootstrap_http = n,
                        .no_default_servers = no_defaults, .lan_ip = "10.0.0.1", .port = 4000};
  assert_int_equal(sw_core_new(&c, &cfg, 0), SW_OK);
  return c;
}

/* A core that joined a topic at time 0: its first queries are waiting. */
static sw_core *mk(const char *const *urls, size_t n, int no_defaults) {
  sw_core *c = mk_idle(urls, n, no_defaults);
  uint8_t topic[32] = {3};
  assert_int_equal(sw_core_join(c, topic), SW_OK);
  return c;
}

static const char *own_hex(sw_core *c) { return tu_hex(core_identity(c)->id, 20); }

static httpboot_stats stats(sw_core *c) {
  httpboot_stats st;
  httpboot *h = core_module_state(c, "httpboot");
  assert_non_null(h);
  httpboot_get_stats(h, &st);
  return st;
}

static void test_schedule_and_announce(void **state) {
  (void)state;
  static const char *const urls[] = {BASE "/"}; /* one trailing '/' is removed */
  sw_core *c = mk_idle(urls, 1, 1);
  hf_req r[HF_MAX];
  /* Nothing before the first join: a program that only dials contacts no server (the
   * references query 500 ms after start). The join comes at `joined`. */
  const uint64_t joined = 10000;
  for (uint64_t t = 0; t <= joined; t += 100) {
    sw_core_timeout(c, t);
    assert_int_equal(hf_take(c, r), 0);
  }
  uint8_t topic[32] = {1};
  sw_core_join(c, topic);
  size_t n = hf_take(c, r);
  assert_int_equal(n, 2);
  int a = hf_find(r, n, "POST", BASE "/announce"), g = hf_find(r, n, "GET", BASE "/peers");
  assert_true(a >= 0 && g >= 0);
  assert_string_equal(r[a].ctype, "application/json");
  assert_int_equal(r[a].timeout_ms, HTTPBOOT_TIMEOUT_MS);
  json_error_t err;
  json_t *body = json_loads(r[a].body, 0, &err);
  assert_non_null(body);
  assert_string_equal(json_string_value(json_object_get(body, "id")), own_hex(c));
  assert_string_equal(json_string_value(json_object_get(body, "ip")), "10.0.0.1");
  assert_int_equal(json_integer_value(json_object_get(body, "port")), 4000);
  json_decref(body);
  /* a query still running is not doubled at join */
  sw_core_join(c, topic);
  assert_int_equal(hf_take(c, r + n), 0);
  hf_answer(c, &r[a], 200, "{}", joined + 100);
  hf_answer(c, &r[g], 200, "[]", joined + 100);
  /* 500 ms after that first peer list, once more: peers that started with us are
   * listed by then */
  const uint64_t again = joined + 100 + HTTPBOOT_AGAIN_MS;
  assert_true(sw_core_deadline(c) <= again);
  sw_core_timeout(c, again - 1);
  assert_int_equal(hf_take(c, r), 0);
  sw_core_timeout(c, again);
  assert_int_equal(hf_take(c, r), 2);
  hf_answer(c, &r[0], 200, "", again + 100);
  hf_answer(c, &r[1], 200, "[]", again + 100);
  sw_core_join(c, topic); /* joined already: a no-op, nothing is asked */
  assert_int_equal(hf_take(c, r), 0);
  uint8_t topic2[32] = {2}; /* another topic asks again (without moving the schedule) */
  sw_core_join(c, topic2);
  assert_int_equal(hf_take(c, r), 2);
  hf_answer(c, &r[0], 200, "", again + 200);
  hf_answer(c, &r[1], 200, "[]", again + 200);
  /* then every 180 s after the follow-up */
  const uint64_t next = again + HTTPBOOT_PERIOD_MS;
  assert_int_equal(sw_core_deadline(c) <= next, 1);
  for (uint64_t t = again + 1000; t < next; t += 1000) {
    sw_core_timeout(c, t);
    hf_drain(c, t);
  }
  assert_int_equal(hf_take(c, r), 0);
  sw_core_timeout(c, next);
  assert_int_equal(hf_take(c, r), 2);
  assert_true(stats(c).queries == 4 && stats(c).announces == 4);
  sw_core_free(c);
}

static void test_records(void **state) {
  (void)state;
  static const char *const urls[] = {BASE};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX];
  sw_core_timeout(c, 500);
  size_t n = hf_take(c, r);
  int g = hf_find(r, n, "GET", BASE "/peers");
  assert_true(g >= 0);
  char body[2048];
  snprintf(body, sizeof body,
           "[{\"id\":\"%s\",\"ip\":\"10.0.0.1\",\"port\":4000},"           /* ours: skipped */
           "{\"id\":\"e0747b0fc2e5f8562239f8a2df040ff919018325\",\"ip\":\"10.0.0.2\",\"port\":5000,"
           "\"last_seen\":1},"                                              /* met with id */
           "{\"ip\":\"10.0.0.3\",\"port\":6000},"                           /* met, no id */
           "{\"id\":null,\"ip\":\"10.0.0.4\",\"port\":6001},"               /* met, no id */
           "{\"id\":\"zz\",\"ip\":\"10.0.0.5\",\"port\":7000},"             /* bad id */
           "{\"ip\":\"10.0.0.6\"},{\"ip\":\"10.0.0.7\",\"port\":0},"        /* no port */
           "{\"ip\":\"10.0.0.8\",\"port\":\"80\"},{\"ip\":\"host\",\"port\":80}," /* not numeric */
           "{\"ip\":\"10.0.0.9\",\"port\":70000},5,\"x\",[]]",
           own_hex(c));
  hf_drain(c, 500);
  hf_answer(c, &r[g], 200, body, 600);
  assert_int_equal(hf_sent_to(c, "10.0.0.1:4000", 600) + 0, 0);
  /* the answer's dials were queued: look at them all at once */
  sw_core_timeout(c, 600);
  httpboot_stats st = stats(c);
  assert_int_equal(st.own, 1);
  assert_int_equal(st.met, 3);
  assert_int_equal(st.records, 5);
  assert_int_equal(st.malformed, 9);
  assert_int_equal(st.answers, 1);
  sw_core_free(c);
}

static void test_dials(void **state) {
  (void)state;
  static const char *const urls[] = {BASE};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX];
  sw_core_timeout(c, 500);
  size_t n = hf_take(c, r);
  int g = hf_find(r, n, "GET", BASE "/peers");
  char body[512];
  snprintf(body, sizeof body,
           "[{\"id\":\"%s\",\"ip\":\"10.0.0.1\",\"port\":4000},"
           "{\"id\":\"E0747B0FC2E5F8562239F8A2DF040FF919018325\",\"ip\":\"10.0.0.2\",\"port\":5000},"
           "{\"ip\":\"::1\",\"port\":6000}]",
           own_hex(c));
  hf_answer(c, &r[g], 200, body, 600);
  sw_core_flush(c, 600);
  sw_dgram d[64];
  size_t k = sw_core_out_peek(c, d, 64);
  int to2 = 0, to1 = 0, to6 = 0;
  sw_addr a2, a1, a6;
  addr_parse_hostport(&a2, "10.0.0.2:5000");
  addr_parse_hostport(&a1, "10.0.0.1:4000");
  addr_parse_hostport(&a6, "[::1]:6000");
  for (size_t i = 0; i < k; i++) {
    to2 += addr_equal(d[i].to, &a2);
    to1 += addr_equal(d[i].to, &a1);
    to6 += addr_equal(d[i].to, &a6);
  }
  assert_true(to2 >= 1);
  assert_true(to6 >= 1);
  assert_int_equal(to1, 0); /* D9: never ourselves */
  sw_core_free(c);
}

static void test_bounds_and_failures(void **state) {
  (void)state;
  static const char *const urls[] = {BASE};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX];
  sw_core_timeout(c, 500);
  size_t n = hf_take(c, r);
  int g = hf_find(r, n, "GET", BASE "/peers");
  /* 200 records: only HTTPBOOT_RECORDS_MAX are read */
  static char big[200 * 48 + 8];
  size_t off = 0;
  big[off++] = '[';
  for (int i = 0; i < 200; i++)
    off += (size_t)snprintf(big + off, sizeof big - off, "%s{\"ip\":\"10.1.%d.%d\",\"port\":1}",
                            i ? "," : "", i / 250, i % 250 + 1);
  big[off++] = ']';
  big[off] = 0;
  hf_answer(c, &r[g], 200, big, 600);
  hf_answer(c, &r[hf_find(r, n, "POST", BASE "/announce")], 200, NULL, 600);
  assert_int_equal(stats(c).records, HTTPBOOT_RECORDS_MAX);
  hf_drain(c, 600);
  /* malformed JSON, a non-array, an error status, a transport failure: counted, no dial */
  const char *bad[] = {"[{\"ip\":", "{\"ip\":\"10.0.0.2\",\"port\":1}", "\x01\xff", ""};
  for (int i = 0; i < 4; i++) {
    uint8_t topic[32] = {(uint8_t)(10 + i)}; /* a topic not joined yet (mk joined {3}) */
    sw_core_join(c, topic); /* asks again */
    n = hf_take(c, r);
    g = hf_find(r, n, "GET", BASE "/peers");
    assert_true(g >= 0);
    hf_answer(c, &r[g], 200, bad[i], 700);
    int a = hf_find(r, n, "POST", BASE "/announce");
    if (a >= 0) hf_answer(c, &r[a], 200, NULL, 700);
  }
  assert_int_equal(stats(c).malformed, 4);
  uint8_t topic[32] = {9};
  sw_core_join(c, topic);
  n = hf_take(c, r);
  for (size_t i = 0; i < n; i++) hf_answer(c, &r[i], i ? 503 : -1, "[]", 800);
  assert_int_equal(stats(c).failures, 2);
  assert_int_equal(hf_sent_to(c, "10.0.0.2:1", 800), 0);
  sw_core_free(c);
}

static void test_defaults_and_options(void **state) {
  (void)state;
  hf_req r[HF_MAX];
  /* defaults: ours first, then the references' two */
  static const char *const urls[] = {BASE};
  sw_core *c = mk(urls, 1, 0);
  sw_core_timeout(c, 500);
  size_t n = hf_take(c, r);
  assert_true(hf_find(r, n, "GET", BASE "/peers") >= 0);
  assert_true(hf_find(r, n, "GET", HTTPBOOT_DEFAULT_1 "/peers") >= 0);
  assert_true(hf_find(r, n, "GET", HTTPBOOT_DEFAULT_2 "/peers") >= 0);
  sw_core_free(c);
  /* no_default_servers and nothing given: no request at all, no wake-ups */
  c = mk(NULL, 0, 1);
  assert_true(sw_core_deadline(c) >= 1000); /* the heartbeat, not us */
  sw_core_timeout(c, 500);
  uint8_t topic[32] = {1};
  sw_core_join(c, topic);
  assert_int_equal(hf_take(c, r), 0);
  sw_core_free(c);
  /* only http:// and https:// */
  static const char *const bad[] = {"ftp://x", "http://", "https:///x", "http://a b", "x"};
  for (int i = 0; i < 5; i++) {
    sw_core *b = NULL;
    sw_core_config cfg = {.seed_hex = "a1", .random = tu_rng_bytes, .ctx = &rng, .http = 1,
                          .bootstrap_http = &bad[i], .n_bootstrap_http = 1,
                          .no_default_servers = 1};
    assert_int_equal(sw_core_new(&b, &cfg, 0), SW_EINVAL);
  }
  /* http off: the module is not there */
  sw_core_config off = {.seed_hex = "a1", .random = tu_rng_bytes, .ctx = &rng,
                        .bootstrap_http = urls, .n_bootstrap_http = 1};
  assert_int_equal(sw_core_new(&c, &off, 0), SW_OK);
  assert_null(core_module_state(c, "httpboot"));
  sw_core_timeout(c, 500);
  assert_int_equal(hf_take(c, r), 0);
  sw_core_free(c);
}

/* 14.5: the peers a server lists also go to the peer cache, ours excepted */
static void test_peer_cache(void **state) {
  (void)state;
  static const char *const urls[] = {BASE};
  sw_core *c;
  sw_core_config cfg = {.seed_hex = "a1", .random = tu_rng_bytes, .ctx = &rng, .http = 1,
                        .bootstrap_http = urls, .n_bootstrap_http = 1, .no_default_servers = 1,
                        .peer_cache = 1, .lan_ip = "10.0.0.1", .port = 4000};
  assert_int_equal(sw_core_new(&c, &cfg, 0), SW_OK);
  peercache *pc = core_module_state(c, "peercache");
  assert_non_null(pc);
  hf_req r[HF_MAX];
  uint8_t topic[32] = {4};
  sw_core_join(c, topic); /* queries start at join */
  sw_core_timeout(c, 500);
  size_t n = hf_take(c, r);
  char body[512];
  snprintf(body, sizeof body,
           "[{\"id\":\"%s\",\"ip\":\"10.0.0.1\",\"port\":4000},"
           "{\"id\":\"e0747b0fc2e5f8562239f8a2df040ff919018325\",\"ip\":\"10.0.0.2\",\"port\":5000},"
           "{\"ip\":\"10.0.0.3\",\"port\":6000},{\"ip\":\"bad\",\"port\":1}]",
           own_hex(c));
  hf_answer(c, &r[hf_find(r, n, "GET", BASE "/peers")], 200, body, 600);
  assert_int_equal(peercache_count(pc), 2);
  sw_peer_entry e[4];
  assert_int_equal(peercache_list(pc, e, 4), 2);
  int with_id = 0;
  for (int i = 0; i < 2; i++)
    with_id += strcmp(e[i].id, "e0747b0fc2e5f8562239f8a2df040ff919018325") == 0;
  assert_int_equal(with_id, 1);
  sw_core_free(c);
}

static void test_close(void **state) {
  (void)state;
  static const char *const urls[] = {BASE};
  sw_core *c = mk(urls, 1, 1);
  hf_req r[HF_MAX];
  sw_core_timeout(c, 500);
  size_t n = hf_take(c, r);
  sw_core_close(c, 600);
  /* outstanding requests reported as failed after close: no dial, no new request */
  for (size_t i = 0; i < n; i++)
    hf_answer(c, &r[i], -1, "[{\"ip\":\"10.0.0.2\",\"port\":1}]", 700);
  sw_core_timeout(c, 500 + HTTPBOOT_PERIOD_MS);
  assert_int_equal(hf_take(c, r), 0);
  sw_core_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schedule_and_announce), cmocka_unit_test(test_records),
      cmocka_unit_test(test_dials),                 cmocka_unit_test(test_bounds_and_failures),
      cmocka_unit_test(test_defaults_and_options),  cmocka_unit_test(test_peer_cache),
      cmocka_unit_test(test_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
