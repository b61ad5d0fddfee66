/* Many topics on one engine (issue 12 item 2): join adds a topic (bounded), leave removes
 * one, and the discovery modules announce and look for each joined topic on its own:
 * LAN beacons (one per topic) and piping paths (per topic); the topic a discovery dial
 * was made for comes back with its outcome. A left topic's announcements stop while the
 * other's go on. The DHT's per-topic cycles: tests/sim/test_sim_topics.c. */
#include <openssl/sha.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "crypto.h"
#include "httpfake.h"
#include "lan.h"
#include "testutil.h"
#include "wire.h"

#define SRV "http://127.0.0.1:9"

/* One core's randomness and what its events said. */
typedef struct fixture {
  tu_rng rng;
  int dial_failed, connections;
  int has_topic;
  uint8_t topic[32];
  char addr[SW_ADDRSTRLEN];
} fixture;

static void fx_random(void *ctx, uint8_t *buf, size_t len) {
  tu_rng_bytes(&((fixture *)ctx)->rng, buf, len);
}

static void fx_event(void *ctx, const sw_event *ev) {
  fixture *f = ctx;
  if (ev->type != SW_EV_DIAL_FAILED && ev->type != SW_EV_CONNECTION) return;
  if (ev->type == SW_EV_DIAL_FAILED) f->dial_failed++;
  else f->connections++;
  f->has_topic = ev->topic != NULL;
  if (ev->topic) memcpy(f->topic, ev->topic, 32);
  snprintf(f->addr, sizeof f->addr, "%s", ev->addr ? ev->addr : "");
}

static sw_core *mk(sw_core_config *cfg, fixture *f) {
  sw_core *c;
  memset(f, 0, sizeof *f);
  f->rng.s = 21;
  cfg->seed_hex = "c3";
  cfg->random = fx_random;
  cfg->on_event = fx_event;
  cfg->ctx = f;
  assert_int_equal(sw_core_new(&c, cfg, 0), SW_OK);
  return c;
}

static void topic_of(const char *name, uint8_t out[32]) {
  SHA256((const unsigned char *)name, strlen(name), out);
}

static void test_join_leave_api(void **state) {
  (void)state;
  fixture f;
  sw_core_config cfg = {0};
  sw_core *c = mk(&cfg, &f);
  uint8_t t[SW_MAX_TOPICS + 1][32];
  for (int i = 0; i <= SW_MAX_TOPICS; i++) {
    memset(t[i], 0, 32);
    t[i][0] = (uint8_t)(i + 1);
  }
  assert_null(core_topic(c));
  assert_int_equal(sw_core_leave(c, t[0]), SW_EINVAL); /* not joined */
  assert_int_equal(sw_core_join(c, NULL), SW_EINVAL);
  assert_int_equal(sw_core_leave(c, NULL), SW_EINVAL);
  for (int i = 0; i < SW_MAX_TOPICS; i++) assert_int_equal(sw_core_join(c, t[i]), SW_OK);
  assert_int_equal(sw_core_join(c, t[3]), SW_OK); /* joined already: a no-op */
  assert_int_equal(core_topic_count(c), SW_MAX_TOPICS);
  assert_int_equal(sw_core_join(c, t[SW_MAX_TOPICS]), SW_EFULL);
  assert_memory_equal(core_topic(c), t[0], 32); /* the oldest */
  assert_int_equal(sw_core_leave(c, t[0]), SW_OK);
  assert_int_equal(sw_core_leave(c, t[0]), SW_EINVAL);
  assert_memory_equal(core_topic(c), t[1], 32);
  assert_int_equal(core_topic_count(c), SW_MAX_TOPICS - 1);
  assert_memory_equal(core_topic_at(c, SW_MAX_TOPICS - 2), t[SW_MAX_TOPICS - 1], 32);
  assert_null(core_topic_at(c, SW_MAX_TOPICS - 1));
  assert_int_equal(sw_core_join(c, t[SW_MAX_TOPICS]), SW_OK); /* room again */
  for (int i = 1; i <= SW_MAX_TOPICS; i++) assert_int_equal(sw_core_leave(c, t[i]), SW_OK);
  assert_null(core_topic(c));
  assert_int_equal(core_topic_count(c), 0);
  sw_core_free(c);
}

/* LAN beacons queued up to now, counted by topic hash (everything queued is consumed). */
static void beacons(sw_core *c, uint64_t now, const char *hx, const char *hy, int *nx, int *ny) {
  sw_dgram d[64];
  size_t n;
  *nx = *ny = 0;
  while ((n = sw_core_out_peek(c, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++) {
      lan_beacon b;
      if (d[i].kind != SW_SOCK_LAN || lan_beacon_parse(d[i].data, d[i].len, &b)) continue;
      if (strcmp(b.topic, hx) == 0) (*nx)++;
      if (strcmp(b.topic, hy) == 0) (*ny)++;
    }
    sw_core_out_consume(c, n, now);
  }
}

static void test_lan_two_topics(void **state) {
  (void)state;
  fixture f;
  sw_core_config cfg = {.lan = 1, .lan_ip = "10.0.0.1", .port = 4000};
  sw_core *c = mk(&cfg, &f);
  uint8_t x[32], y[32];
  char hx[13], hy[13];
  topic_of("topic-x", x);
  topic_of("topic-y", y);
  crypto_topic_hash(x, hx);
  crypto_topic_hash(y, hy);
  int nx, ny;
  sw_core_timeout(c, 5000);
  beacons(c, 5000, hx, hy, &nx, &ny);
  assert_true(nx == 0 && ny == 0); /* nothing before a join (D33) */
  assert_int_equal(sw_core_join(c, x), SW_OK);
  assert_int_equal(sw_core_join(c, y), SW_OK);
  sw_core_timeout(c, 10000);
  beacons(c, 10000, hx, hy, &nx, &ny);
  assert_true(nx == 1 && ny == 1); /* one beacon per topic per period */
  assert_int_equal(sw_core_leave(c, x), SW_OK);
  sw_core_timeout(c, 15000);
  sw_core_timeout(c, 20000);
  beacons(c, 20000, hx, hy, &nx, &ny);
  assert_true(nx == 0 && ny == 2); /* x's stopped, y's go on */
  /* a peer's beacon for the left topic is not met; one for the joined topic is */
  uint8_t other[20];
  memset(other, 0x42, 20);
  sw_addr at;
  uint8_t b[LAN_BEACON_MAX];
  assert_int_equal(addr_parse_hostport(&at, "10.0.0.7:4007"), SW_OK);
  size_t bl = lan_beacon_encode(b, sizeof b, other, &at, hx);
  sw_core_datagram(c, SW_SOCK_LAN, &at, b, bl, 20001);
  assert_int_equal(hf_sent_to(c, "10.0.0.7:4007", 20001), 0);
  bl = lan_beacon_encode(b, sizeof b, other, &at, hy);
  sw_core_datagram(c, SW_SOCK_LAN, &at, b, bl, 20002);
  assert_true(hf_sent_to(c, "10.0.0.7:4007", 20002) >= 1); /* a HELLO: dialled */
  /* nobody answers: the dial ends, and says it was for y */
  for (uint64_t t = 20100; t <= 26000; t += 100) {
    sw_core_timeout(c, t);
    hf_drain(c, t);
  }
  assert_int_equal(f.dial_failed, 1);
  assert_string_equal(f.addr, "10.0.0.7:4007");
  assert_true(f.has_topic);
  assert_memory_equal(f.topic, y, 32);
  sw_core_free(c);
}

/* Requests taken, answering every GET with 200 and an empty body at once would loop at
 * 100 ms: the fake keeps them open. Counts POSTs to each topic's announce path. */
static void posts(const hf_req *r, size_t n, const char *ax, const char *ay, int *px, int *py) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(r[i].method, "POST") != 0) continue;
    if (strcmp(r[i].url, ax) == 0) (*px)++;
    if (strcmp(r[i].url, ay) == 0) (*py)++;
  }
}

static void test_piping_two_topics(void **state) {
  (void)state;
  fixture f;
  static const char *const urls[] = {SRV};
  sw_core_config cfg = {.http = 1, .piping = urls, .n_piping = 1, .no_default_servers = 1,
                        .lan_ip = "10.0.0.1", .port = 4000};
  sw_core *c = mk(&cfg, &f);
  uint8_t x[32], y[32];
  char hx[13], hy[13], ax[128], ay[128], gx[128];
  topic_of("topic-x", x);
  topic_of("topic-y", y);
  crypto_topic_hash(x, hx);
  crypto_topic_hash(y, hy);
  snprintf(ax, sizeof ax, SRV "/p2p-%s-announce", hx);
  snprintf(ay, sizeof ay, SRV "/p2p-%s-announce", hy);
  snprintf(gx, sizeof gx, "%s", ax);
  static hf_req r[HF_MAX * 4];
  size_t n = 0;
  int px = 0, py = 0;
  sw_core_timeout(c, 1000);
  assert_int_equal(sw_core_join(c, x), SW_OK);
  assert_int_equal(sw_core_join(c, y), SW_OK);
  n = hf_take(c, r);
  posts(r, n, ax, ay, &px, &py);
  assert_true(px == 1 && py == 1); /* each topic announced on its own path */
  /* x's long poll on its announce path is still open */
  int getx = hf_find(r, n, "GET", gx);
  assert_true(getx >= 0);
  hf_req pending = r[getx];
  /* the posts complete; x is left */
  for (size_t i = 0; i < n; i++)
    if (strcmp(r[i].method, "POST") == 0) hf_answer(c, &r[i], 200, "", 1500);
  assert_int_equal(sw_core_leave(c, x), SW_OK);
  /* through the 2 s, 5 s and 18 s announcements: y only */
  px = py = 0;
  for (uint64_t t = 1500; t <= 1000 + 18000 + 100; t += 100) {
    sw_core_timeout(c, t);
    size_t k = hf_take(c, r);
    posts(r, k, ax, ay, &px, &py);
    for (size_t i = 0; i < k; i++)
      if (strcmp(r[i].method, "POST") == 0) hf_answer(c, &r[i], 200, "", t);
    for (size_t i = 0; i < k; i++) /* no new poll for x either */
      assert_true(strstr(r[i].url, hx) == NULL);
  }
  assert_int_equal(px, 0);
  assert_int_equal(py, 3);
  /* what x's old poll brings back now is not met: nothing is dialled */
  char rec[256];
  snprintf(rec, sizeof rec,
           "{\"id\":\"e0747b0fc2e5f8562239f8a2df040ff919018325\",\"ip\":\"10.0.0.8\","
           "\"port\":4008}");
  hf_answer(c, &pending, 200, rec, 19200);
  assert_int_equal(hf_sent_to(c, "10.0.0.8:4008", 19200), 0);
  sw_core_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_join_leave_api),
      cmocka_unit_test(test_lan_two_topics),
      cmocka_unit_test(test_piping_two_topics),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
