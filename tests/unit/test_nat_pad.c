/* The NAT module's mapping requests and the 3x bound of STUN servers (src/core/stunsrv.h,
 * src/core/nat.c): to an IPv6 server the request is padded with PADDING (44 bytes) so
 * the answer may carry OTHER-ADDRESS; to an IPv4 server it is the bare 20 bytes; a server
 * that answers the padded request with 420 is asked again bare, under a new id. */
#include <string.h>

#include "corenet.h"
#include "stun.h"

/* The first queued datagram to `to` (copied into buf), draining the queue; its length. */
static size_t take_to(sw_core *c, const sw_addr *to, uint8_t *buf, uint64_t now) {
  size_t got = 0;
  sw_dgram d[64];
  size_t k;
  while ((k = sw_core_out_peek(c, d, 64)) > 0) {
    for (size_t i = 0; i < k; i++)
      if (!got && addr_equal(d[i].to, to) && d[i].len <= 128) {
        memcpy(buf, d[i].data, d[i].len);
        got = d[i].len;
      }
    sw_core_out_consume(c, k, now);
  }
  return got;
}

static void test_padded_ipv6_mapping_request(void **state) {
  (void)state;
  sw_core_config cfg = {.nat = 1};
  net *n = net_new();
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &cfg);
  sw_core *c = n->nodes[b].c;
  sw_addr s6 = addr_of("[2001:db8::1]:3478"), s4 = addr_of("192.0.2.1:3478");
  assert_int_equal(s6.family, 6);
  assert_int_equal(sw_core_add_stun_server(c, &s6, n->now), SW_OK);
  n->now += 100; /* the round starts 50 ms after the first server */
  sw_core_timeout(c, n->now);
  uint8_t q[128], a[STUN_MAX_RESPONSE];
  size_t ql = take_to(c, &s6, q, n->now);
  print_message("first request: %zu bytes\n", ql);
  assert_int_equal(ql, STUN_HDR_LEN + 4 + STUN_PAD_LEN);
  stun_msg m;
  assert_int_equal(stun_decode(q, ql, &m), STUN_OK);
  assert_int_equal(m.type, STUN_BINDING_REQUEST);
  assert_int_equal(q[20] << 8 | q[21], STUN_ATTR_PADDING);
  /* a server that does not know PADDING */
  uint16_t pad = STUN_ATTR_PADDING;
  int al = stun_encode_error(a, sizeof a, m.tid, 420, &pad, 1, 0);
  assert_true(al > 0);
  sw_core_datagram(c, SW_SOCK_MAIN, &s6, a, (size_t)al, n->now);
  uint8_t q2[128];
  size_t ql2 = take_to(c, &s6, q2, n->now);
  assert_int_equal(ql2, STUN_HDR_LEN); /* bare, at once */
  assert_memory_not_equal(q2 + 8, q + 8, STUN_TID_LEN);
  /* and its answer counts */
  stun_msg m2;
  assert_int_equal(stun_decode(q2, ql2, &m2), STUN_OK);
  sw_addr me = addr_of("[2001:db8:ffff::2]:40000");
  al = stun_encode_success(a, sizeof a, m2.tid, &me, NULL, NULL, 0);
  sw_core_datagram(c, SW_SOCK_MAIN, &s6, a, (size_t)al, n->now);
  sw_addr pub;
  const char *type;
  for (int i = 0; i < 20 && !sw_core_nat(c, &pub, &type); i++) {
    n->now += 1000;
    sw_core_timeout(c, n->now);
    take_to(c, &s6, q2, n->now);
  }
  assert_true(sw_core_nat(c, &pub, &type));
  assert_true(addr_equal(&pub, &me));
  net_free(n);

  /* to an IPv4 server: the bare request (its answer has room for OTHER-ADDRESS) */
  n = net_new();
  b = net_add_cfg(n, NULL, "10.0.0.2:2", &cfg);
  c = n->nodes[b].c;
  assert_int_equal(sw_core_add_stun_server(c, &s4, n->now), SW_OK);
  n->now += 100;
  sw_core_timeout(c, n->now);
  assert_int_equal(take_to(c, &s4, q, n->now), STUN_HDR_LEN);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_padded_ipv6_mapping_request),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
