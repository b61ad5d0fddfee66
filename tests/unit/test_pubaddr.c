/* The public-address service (pubaddr.c) and the me-record builder (merec.c): learning,
 * change detection, IPv4/IPv6 apart, a STUN answer against DHT observations, the
 * engine's on_public_addr hook, the endpoint each publisher takes, and the bytes of
 * every record form against what the publishers sent before and dht.json. Then the
 * publishers re-announcing when the address changes (HTTP bootstrap, piping). */
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "httpfake.h"
#include "merec.h"
#include "pubaddr.h"
#include "testutil.h"

#define ID "e0747b0fc2e5f8562239f8a2df040ff919018325" /* vectors: dht.json "me" */
#define MIN 60000u

static sw_addr A(const char *hostport) {
  sw_addr a;
  assert_int_equal(addr_parse_hostport(&a, hostport), SW_OK);
  return a;
}

static void assert_pub(const pubaddr *p, int family, const char *want, int source) {
  const pubaddr_entry *e = pubaddr_get(p, family);
  assert_non_null(e);
  char text[64];
  assert_true(addr_format(&e->addr, text, sizeof text) > 0);
  assert_string_equal(text, want);
  assert_int_equal(e->source, source);
}

static void test_lan(void **state) {
  (void)state;
  pubaddr p;
  pubaddr_init(&p, "192.168.1.11", 40001);
  sw_addr want = A("192.168.1.11:40001");
  assert_true(addr_equal(&p.lan, &want));
  assert_null(pubaddr_get(&p, 4));
  assert_null(pubaddr_get(&p, 6));
  /* no LAN IP, or a malformed one: none, the port kept */
  pubaddr_init(&p, NULL, 4000);
  assert_int_equal(p.lan.family, 0);
  assert_int_equal(p.lan.port, 4000);
  pubaddr_init(&p, "lan.example", 4000);
  assert_int_equal(p.lan.family, 0);
  assert_int_equal(p.lan.port, 4000);
  pubaddr_init(&p, "::ffff:10.0.0.7", 0); /* canonical: one form per address */
  want = A("10.0.0.7:0");
  assert_true(addr_equal(&p.lan, &want));
}

static void test_learn_and_change(void **state) {
  (void)state;
  pubaddr p;
  pubaddr_init(&p, "10.0.0.1", 4000);
  sw_addr a = A("203.0.113.1:51001");
  /* a DHT observation: the IP only, whatever port came with it */
  assert_int_equal(pubaddr_learn(&p, &a, PUBADDR_SRC_DHT, 1000), 1);
  assert_pub(&p, 4, "203.0.113.1:0", PUBADDR_SRC_DHT);
  assert_int_equal(pubaddr_get(&p, 4)->learned_at, 1000);
  assert_int_equal(pubaddr_learn(&p, &a, PUBADDR_SRC_DHT, 2000), 0); /* the same again */
  assert_int_equal(pubaddr_get(&p, 4)->learned_at, 2000);
  sw_addr b = A("203.0.113.2:1");
  assert_int_equal(pubaddr_learn(&p, &b, PUBADDR_SRC_DHT, 3000), 1);
  assert_pub(&p, 4, "203.0.113.2:0", PUBADDR_SRC_DHT);
  /* STUN: the mapped port too */
  sw_addr bs = A("203.0.113.2:51999");
  assert_int_equal(pubaddr_learn(&p, &bs, PUBADDR_SRC_STUN, 4000), 1);
  assert_pub(&p, 4, "203.0.113.2:51999", PUBADDR_SRC_STUN);
  assert_int_equal(p.changes, 3);
  /* refused: no family, an unknown source, NULL */
  sw_addr none = {0};
  assert_int_equal(pubaddr_learn(&p, &none, PUBADDR_SRC_STUN, 5000), 0);
  assert_int_equal(pubaddr_learn(&p, &a, PUBADDR_SRC_NONE, 5000), 0);
  assert_int_equal(pubaddr_learn(&p, &a, PUBADDR_NSRC, 5000), 0);
  assert_int_equal(pubaddr_learn(&p, &a, -1, 5000), 0);
  assert_int_equal(pubaddr_learn(&p, NULL, PUBADDR_SRC_DHT, 5000), 0);
  assert_pub(&p, 4, "203.0.113.2:51999", PUBADDR_SRC_STUN);
  assert_int_equal(p.changes, 3);
}

static void test_families_apart(void **state) {
  (void)state;
  pubaddr p;
  pubaddr_init(&p, "10.0.0.1", 4000);
  sw_addr v4 = A("198.51.100.7:5000"), v6 = A("[2001:db8::7]:6000");
  assert_int_equal(pubaddr_learn(&p, &v4, PUBADDR_SRC_STUN, 10), 1);
  assert_null(pubaddr_get(&p, 6));
  assert_int_equal(pubaddr_learn(&p, &v6, PUBADDR_SRC_DHT, 20), 1);
  assert_pub(&p, 4, "198.51.100.7:5000", PUBADDR_SRC_STUN); /* untouched */
  assert_pub(&p, 6, "[2001:db8::7]:0", PUBADDR_SRC_DHT);
  /* a v6 STUN answer changes v6 only; a v4-mapped address is IPv4 */
  sw_addr v6s = A("[2001:db8::8]:6001");
  assert_int_equal(pubaddr_learn(&p, &v6s, PUBADDR_SRC_STUN, 30), 1);
  assert_pub(&p, 4, "198.51.100.7:5000", PUBADDR_SRC_STUN);
  assert_pub(&p, 6, "[2001:db8::8]:6001", PUBADDR_SRC_STUN);
  sw_addr mapped = A("[::ffff:198.51.100.7]:5000");
  assert_int_equal(pubaddr_learn(&p, &mapped, PUBADDR_SRC_STUN, 40), 0);
  assert_null(pubaddr_get(&p, 0));
  assert_null(pubaddr_get(&p, 5));
}

/* A later STUN answer and DHT observations that agree or disagree with it. */
static void test_source_priority(void **state) {
  (void)state;
  pubaddr p;
  pubaddr_init(&p, "10.0.0.1", 4000);
  sw_addr obs = A("203.0.113.1:0"), stun = A("203.0.113.1:62000"), other = A("203.0.113.9:0");
  uint64_t t = 1000;
  assert_int_equal(pubaddr_learn(&p, &obs, PUBADDR_SRC_DHT, t), 1);
  /* STUN after the DHT, same IP: the mapped port is news */
  assert_int_equal(pubaddr_learn(&p, &stun, PUBADDR_SRC_STUN, t + 10), 1);
  assert_pub(&p, 4, "203.0.113.1:62000", PUBADDR_SRC_STUN);
  /* the DHT agrees: nothing changes, and the STUN answer is renewed */
  assert_int_equal(pubaddr_learn(&p, &obs, PUBADDR_SRC_DHT, t + 9 * MIN), 0);
  assert_pub(&p, 4, "203.0.113.1:62000", PUBADDR_SRC_STUN);
  /* the DHT disagrees while the STUN answer is fresh (renewed at 9 min): STUN stands */
  assert_int_equal(pubaddr_learn(&p, &other, PUBADDR_SRC_DHT, t + 15 * MIN), 0);
  assert_pub(&p, 4, "203.0.113.1:62000", PUBADDR_SRC_STUN);
  /* ...until it is stale: then the newer observation is what we know */
  assert_int_equal(pubaddr_learn(&p, &other, PUBADDR_SRC_DHT, t + 9 * MIN + PUBADDR_FRESH_MS + 1),
                   1);
  assert_pub(&p, 4, "203.0.113.9:0", PUBADDR_SRC_DHT);
  /* a new STUN answer wins again at once, even against the DHT's IP */
  sw_addr stun2 = A("203.0.113.5:40000");
  assert_int_equal(pubaddr_learn(&p, &stun2, PUBADDR_SRC_STUN, t + 30 * MIN), 1);
  assert_pub(&p, 4, "203.0.113.5:40000", PUBADDR_SRC_STUN);
  assert_int_equal(pubaddr_learn(&p, &other, PUBADDR_SRC_DHT, t + 31 * MIN), 0);
  /* a changed mapping from STUN itself is a change */
  sw_addr stun3 = A("203.0.113.5:40001");
  assert_int_equal(pubaddr_learn(&p, &stun3, PUBADDR_SRC_STUN, t + 32 * MIN), 1);
  assert_pub(&p, 4, "203.0.113.5:40001", PUBADDR_SRC_STUN);
}

/* ---- through the engine -------------------------------------------------- */

typedef struct watch {
  int calls, family;
  uint64_t at;
} watch;

static void on_pub(void *m, int family, uint64_t now) {
  watch *w = m;
  w->calls++;
  w->family = family;
  w->at = now;
}

static tu_rng rng = {23};

static sw_core *mk(const char *lan_ip, uint16_t port, int http) {
  static const char *const urls[] = {"http://127.0.0.1:9"};
  sw_core *c;
  sw_core_config cfg = {.seed_hex = "c3", .random = tu_rng_bytes, .ctx = &rng,
                        .lan_ip = lan_ip, .port = port, .http = http,
                        .no_default_servers = 1, .bootstrap_http = http ? urls : NULL,
                        .n_bootstrap_http = http ? 1 : 0, .piping = http ? urls : NULL,
                        .n_piping = http ? 1 : 0};
  assert_int_equal(sw_core_new(&c, &cfg, 0), SW_OK);
  return c;
}

static void test_engine_hook(void **state) {
  (void)state;
  sw_core *c = mk("192.168.5.5", 7000, 0);
  watch w = {0};
  core_module m = {.name = "watch", .on_public_addr = on_pub, .state = &w};
  assert_int_equal(core_add_module(c, &m), SW_OK);
  sw_addr lan = A("192.168.5.5:7000");
  assert_true(addr_equal(core_lan_addr(c), &lan));
  assert_null(core_public_addr(c, 4));
  sw_addr ep;
  assert_int_equal(pubaddr_record_endpoint(c, 1, &ep), 0);
  sw_addr obs = A("198.51.100.3:1234");
  core_learn_public_addr(c, &obs, PUBADDR_SRC_DHT, 50);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.family, 4);
  assert_int_equal(w.at, 50);
  assert_int_equal(core_public_addr(c, 4)->port, 0);
  assert_null(core_public_addr(c, 6));
  core_learn_public_addr(c, &obs, PUBADDR_SRC_DHT, 60); /* no change: no call */
  assert_int_equal(w.calls, 1);
  /* an IP-only address is an endpoint only where the format allows the local port */
  assert_int_equal(pubaddr_record_endpoint(c, 0, &ep), 0);
  assert_int_equal(pubaddr_record_endpoint(c, 1, &ep), 1);
  sw_addr guess = A("198.51.100.3:7000");
  assert_true(addr_equal(&ep, &guess));
  sw_addr v6 = A("[2001:db8::3]:9000");
  core_learn_public_addr(c, &v6, PUBADDR_SRC_STUN, 70);
  assert_int_equal(w.calls, 2);
  assert_int_equal(w.family, 6);
  /* a mapped v6 endpoint beats an IP-only v4 one; a mapped v4 one beats both */
  assert_int_equal(pubaddr_record_endpoint(c, 1, &ep), 1);
  assert_true(addr_equal(&ep, &v6));
  sw_addr stun = A("198.51.100.3:61000");
  core_learn_public_addr(c, &stun, PUBADDR_SRC_STUN, 80);
  assert_int_equal(w.calls, 3);
  assert_int_equal(pubaddr_record_endpoint(c, 0, &ep), 1);
  assert_true(addr_equal(&ep, &stun));
  assert_int_equal(pubaddr_get(core_pubaddr(c), 4)->source, PUBADDR_SRC_STUN);
  sw_core_free(c);
}

/* ---- the builder ------------------------------------------------------------ */

static void test_builder_forms(void **state) {
  (void)state;
  uint8_t id[20];
  tu_unhex_into(ID, id, 20);
  char rec[MEREC_MAX];
  json_t *v = tu_vectors("dht.json");
  json_t *me = json_object_get(v, "me");
  sw_addr ext = A(tu_str(me, "ext"));
  sw_addr lan = A("192.168.1.11:40001");
  /* the DHT's STORE: JavaScript's bytes with and without a public address */
  assert_true(merec_build(rec, sizeof rec, MEREC_FULL_OMIT, id, &ext, &lan) > 0);
  assert_string_equal(rec, tu_str(me, "js_with_ext"));
  assert_true(merec_build(rec, sizeof rec, MEREC_FULL_OMIT, id, NULL, &lan) > 0);
  assert_string_equal(rec, tu_str(me, "js_without_ext"));
  /* piping: the same bytes with a public address; the LAN one in ip/port without */
  assert_true(merec_build(rec, sizeof rec, MEREC_FULL, id, &ext, &lan) > 0);
  assert_string_equal(rec, tu_str(me, "js_with_ext"));
  size_t n = merec_build(rec, sizeof rec, MEREC_FULL, id, NULL, &lan);
  assert_int_equal(n, strlen(rec));
  assert_string_equal(rec, "{\"id\":\"" ID "\",\"ip\":\"192.168.1.11\",\"port\":40001,"
                           "\"lip\":\"192.168.1.11\",\"lport\":40001,\"nat\":\"unknown\"}");
  /* the HTTP bootstrap announce and the relay record: what httpboot.c and dht.c wrote */
  assert_true(merec_build(rec, sizeof rec, MEREC_ENDPOINT, id, NULL, &lan) > 0);
  assert_string_equal(rec, "{\"id\":\"" ID "\",\"ip\":\"192.168.1.11\",\"port\":40001}");
  assert_true(merec_build(rec, sizeof rec, MEREC_ENDPOINT, id, &ext, &lan) > 0);
  assert_string_equal(rec, "{\"id\":\"" ID "\",\"ip\":\"203.0.113.1\",\"port\":51001}");
  /* no LAN IP: 127.0.0.1, as both references fall back to */
  sw_addr nolan = {.port = 4000};
  assert_true(merec_build(rec, sizeof rec, MEREC_ENDPOINT, id, NULL, &nolan) > 0);
  assert_string_equal(rec, "{\"id\":\"" ID "\",\"ip\":\"127.0.0.1\",\"port\":4000}");
  assert_true(merec_build(rec, sizeof rec, MEREC_FULL_OMIT, id, NULL, &nolan) > 0);
  assert_string_equal(rec, "{\"id\":\"" ID "\",\"lip\":\"127.0.0.1\",\"lport\":4000,"
                           "\"nat\":\"unknown\"}");
  /* the longest: two full IPv6 addresses fit MEREC_MAX; a short buffer is refused */
  sw_addr l6 = A("[fd00:1111:2222:3333:4444:5555:6666:7777]:65535");
  sw_addr p6 = A("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535");
  n = merec_build(rec, sizeof rec, MEREC_FULL, id, &p6, &l6);
  assert_true(n > 0 && n < MEREC_MAX);
  json_error_t err;
  json_t *j = json_loads(rec, 0, &err);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "ip")),
                      "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff");
  json_decref(j);
  assert_int_equal(merec_build(rec, n, MEREC_FULL, id, &p6, &l6), 0);
  assert_int_equal(merec_build(rec, n + 1, MEREC_FULL, id, &p6, &l6), n);
  json_decref(v);
}

/* ---- publishers re-announce ------------------------------------------------- */

static int count(const hf_req *r, size_t n, const char *method, const char *url_part) {
  int k = 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(r[i].method, method) && strstr(r[i].url, url_part)) k++;
  return k;
}

/* The body of the first request with this method and URL part ("" when none). */
static const char *body_of(const hf_req *r, size_t n, const char *method, const char *part) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(r[i].method, method) && strstr(r[i].url, part)) return r[i].body;
  return "";
}

static void answer_all(sw_core *c, const hf_req *r, size_t n, uint64_t now) {
  for (size_t i = 0; i < n; i++) hf_answer(c, &r[i], 200, NULL, now);
}

static void test_publishers_reannounce(void **state) {
  (void)state;
  sw_core *c = mk("10.0.0.1", 4000, 1);
  static hf_req r[HF_MAX];
  uint8_t topic[32] = {7};
  sw_core_timeout(c, 500);
  sw_core_join(c, topic);
  sw_core_timeout(c, 600);
  size_t n = hf_take(c, r);
  const char *hb = body_of(r, n, "POST", "/announce"), *pp = body_of(r, n, "POST", "-announce");
  char want[MEREC_MAX];
  assert_true(merec_build_own(c, MEREC_ENDPOINT, 0, want, sizeof want) > 0);
  assert_string_equal(hb, want);
  assert_non_null(strstr(hb, "\"ip\":\"10.0.0.1\",\"port\":4000"));
  assert_non_null(strstr(pp, "\"ip\":\"10.0.0.1\",\"port\":4000,\"lip\""));
  answer_all(c, r, n, 700);
  (void)hf_take(c, r);
  /* an IP-only observation changes neither HTTP record: nothing is re-sent */
  sw_addr obs = A("198.51.100.4:0");
  core_learn_public_addr(c, &obs, PUBADDR_SRC_DHT, 800);
  n = hf_take(c, r);
  assert_int_equal(count(r, n, "POST", "announce"), 0);
  answer_all(c, r, n, 800);
  /* a STUN mapping: both announce it at once, the LAN address kept in lip/lport */
  sw_addr stun = A("198.51.100.4:62001");
  core_learn_public_addr(c, &stun, PUBADDR_SRC_STUN, 900);
  n = hf_take(c, r);
  hb = body_of(r, n, "POST", "/announce");
  pp = body_of(r, n, "POST", "-announce");
  assert_non_null(strstr(hb, "\"ip\":\"198.51.100.4\",\"port\":62001}"));
  assert_non_null(
      strstr(pp, "\"ip\":\"198.51.100.4\",\"port\":62001,\"lip\":\"10.0.0.1\",\"lport\":4000"));
  answer_all(c, r, n, 950);
  (void)hf_take(c, r);
  /* the same mapping again: no change, nothing sent */
  core_learn_public_addr(c, &stun, PUBADDR_SRC_STUN, 1000);
  n = hf_take(c, r);
  assert_int_equal(count(r, n, "POST", "announce"), 0);
  answer_all(c, r, n, 1000);
  sw_core_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lan),           cmocka_unit_test(test_learn_and_change),
      cmocka_unit_test(test_families_apart), cmocka_unit_test(test_source_priority),
      cmocka_unit_test(test_engine_hook),   cmocka_unit_test(test_builder_forms),
      cmocka_unit_test(test_publishers_reannounce),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
