/* Seeds are dialled when discovery starts (PROTOCOL.md 14.7), bootstrap nodes 15 s
 * later only if nobody is connected (14.3 step 7); both through the meet gate. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "testutil.h"
#include "wire.h"

typedef struct box {
  sw_core *c;
  tu_rng rng;
} box;

static void box_rand(void *ctx, uint8_t *b, size_t n) { tu_rng_bytes(&((box *)ctx)->rng, b, n); }

static void box_init(box *b, const char *seed) {
  memset(b, 0, sizeof *b);
  b->rng.s = 7;
  sw_core_config cfg = {.seed_hex = seed, .random = box_rand, .ctx = b};
  assert_int_equal(sw_core_new(&b->c, &cfg, 0), SW_OK);
}

/* HELLOs queued to `to` (any address when NULL), consuming everything queued; those to
 * `also` are counted into *also_n. */
static int hellos_to2(box *b, const sw_addr *to, const sw_addr *also, int *also_n, uint64_t now) {
  sw_dgram d[64];
  size_t n;
  int count = 0;
  sw_core_flush(b->c, now);
  while ((n = sw_core_out_peek(b->c, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++)
      if (d[i].kind == SW_SOCK_MAIN && d[i].len >= WIRE_HELLO_LEN &&
          d[i].data[0] == WIRE_HELLO) {
        if (!to || addr_equal(d[i].to, to)) count++;
        if (also && addr_equal(d[i].to, also)) (*also_n)++;
      }
    sw_core_out_consume(b->c, n, now);
  }
  return count;
}

static int hellos_to(box *b, const sw_addr *to, uint64_t now) {
  return hellos_to2(b, to, NULL, NULL, now);
}

static void run_until(box *b, uint64_t from, uint64_t to) {
  for (uint64_t t = from; t <= to; t += 100) sw_core_timeout(b->c, t);
}

static void test_seeds_dialled_at_join(void **state) {
  (void)state;
  box b;
  box_init(&b, "11");
  sw_addr s1, s2, late;
  addr_parse_hostport(&s1, "10.0.0.1:1000");
  addr_parse_hostport(&s2, "[2001:db8::1]:2000");
  addr_parse_hostport(&late, "10.0.0.3:3000");
  assert_int_equal(sw_core_add_seed(b.c, &s1, 0), SW_OK);
  assert_int_equal(sw_core_add_seed(b.c, &s2, 0), SW_OK);
  assert_int_equal(sw_core_add_seed(b.c, &s1, 0), SW_OK); /* once only */
  sw_addr noport = s1;
  noport.port = 0;
  assert_int_equal(sw_core_add_seed(b.c, &noport, 0), SW_EINVAL);
  /* nothing before discovery starts */
  run_until(&b, 0, 500);
  assert_int_equal(hellos_to(&b, NULL, 500), 0);
  uint8_t topic[32] = {3};
  sw_core_join(b.c, topic);
  int n2 = 0;
  assert_int_equal(hellos_to2(&b, &s1, &s2, &n2, 600), 1);
  assert_int_equal(n2, 1);
  /* the punch schedule: 8 HELLOs each, 300 ms apart */
  int n1 = 0;
  for (uint64_t t = 600; t <= 3000; t += 100) {
    sw_core_timeout(b.c, t);
    n1 += hellos_to(&b, &s1, t);
  }
  assert_int_equal(n1, 7);
  /* a seed resolved after join is dialled at once */
  assert_int_equal(sw_core_add_seed(b.c, &late, 3000), SW_OK);
  assert_int_equal(hellos_to(&b, &late, 3000), 1);
  /* a second join does not start discovery again */
  sw_core_join(b.c, topic);
  run_until(&b, 6000, 6500);
  assert_int_equal(hellos_to(&b, &s1, 6500), 0);
  sw_core_free(b.c);
}

static void test_seed_bound(void **state) {
  (void)state;
  box b;
  box_init(&b, "12");
  int ok = 0, full = 0;
  for (int i = 0; i < 100; i++) {
    sw_addr a;
    char text[32];
    snprintf(text, sizeof text, "10.1.0.%d:%d", i + 1, 1000 + i);
    addr_parse_hostport(&a, text);
    int rc = sw_core_add_seed(b.c, &a, 0);
    ok += rc == SW_OK;
    full += rc == SW_EFULL;
  }
  assert_int_equal(ok, 64);
  assert_int_equal(full, 36);
  sw_core_free(b.c);
}

static void test_fallback_after_15s_when_alone(void **state) {
  (void)state;
  box b;
  box_init(&b, "13");
  sw_addr boot;
  addr_parse_hostport(&boot, "10.0.0.9:49737");
  assert_int_equal(sw_core_add_fallback(b.c, &boot), SW_OK);
  uint8_t topic[32] = {4};
  sw_core_join(b.c, topic);
  assert_true(sw_core_deadline(b.c) <= 15000);
  run_until(&b, 0, 14900);
  assert_int_equal(hellos_to(&b, &boot, 14900), 0);
  sw_core_timeout(b.c, 15000);
  assert_int_equal(hellos_to(&b, &boot, 15000), 1);
  sw_core_free(b.c);
}

static void test_no_fallback_when_connected(void **state) {
  (void)state;
  box a, b;
  box_init(&a, "14");
  box_init(&b, "15");
  sw_addr aa, ba, boot;
  addr_parse_hostport(&aa, "10.0.0.1:1");
  addr_parse_hostport(&ba, "10.0.0.2:2");
  addr_parse_hostport(&boot, "10.0.0.9:49737");
  assert_int_equal(sw_core_add_fallback(a.c, &boot), SW_OK);
  uint8_t topic[32] = {5};
  sw_core_join(a.c, topic);
  /* a meets b by hand: HELLO one way, HELLO_ACK back */
  sw_core_dial(a.c, &ba, NULL, 0);
  sw_dgram d[16];
  size_t n = sw_core_out_peek(a.c, d, 16);
  for (size_t i = 0; i < n; i++) sw_core_datagram(b.c, SW_SOCK_MAIN, &aa, d[i].data, d[i].len, 0);
  sw_core_out_consume(a.c, n, 0);
  sw_core_flush(b.c, 0);
  n = sw_core_out_peek(b.c, d, 16);
  for (size_t i = 0; i < n; i++) sw_core_datagram(a.c, SW_SOCK_MAIN, &ba, d[i].data, d[i].len, 0);
  sw_core_out_consume(b.c, n, 0);
  assert_int_equal(sw_core_peer_count(a.c), 1);
  /* b stays a peer past 15 s (the 60 s timeout is far): no fallback dial */
  int fallback = 0;
  for (uint64_t t = 100; t <= 16000; t += 100) {
    sw_core_timeout(a.c, t);
    fallback += hellos_to(&a, &boot, t);
  }
  assert_int_equal(sw_core_peer_count(a.c), 1);
  assert_int_equal(fallback, 0);
  sw_core_free(a.c);
  sw_core_free(b.c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seeds_dialled_at_join),
      cmocka_unit_test(test_seed_bound),
      cmocka_unit_test(test_fallback_after_15s_when_alone),
      cmocka_unit_test(test_no_fallback_when_connected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
