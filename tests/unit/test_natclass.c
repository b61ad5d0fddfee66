/* NAT classification (src/core/natclass.h): every combination of probe outcomes, the four
 * textbook NATs by name, malformed probe plans, and the change-request source check. */
#include <string.h>

#include "addr.h"
#include "natclass.h"
#include "stun.h"
#include "testutil.h"

static sw_addr A(const char *ip, uint16_t port) {
  sw_addr a;
  assert_int_equal(addr_parse_ip(&a, ip, port), 0);
  return a;
}

/* The servers: A at 192.0.2.1:3478 with OTHER-ADDRESS 192.0.2.2:3479. */
#define SRV_A "192.0.2.1"
#define SRV_ALT "192.0.2.2"

/* Outcomes along each axis. */
enum { A_NONE, A_LOCAL, A_PUBLIC, A_N };
enum { B_NONE, B_SAME, B_DIFF, B_SAMEIP, B_N };          /* B_SAMEIP: b sent to a's IP */
enum { B2_NONE, B2_SAME, B2_DIFF, B2_BADPORT, B2_BADIP, B2_N }; /* same as b's mapping? */

static const sw_addr *locals(size_t *n) {
  static sw_addr l[2];
  l[0] = A("10.0.0.5", 40000);
  l[1] = A("2001:db8:1::5", 40000);
  *n = 2;
  return l;
}

static natclass_input build(int a, int b, int b2, nat_tri cb, nat_tri cp) {
  natclass_input in;
  memset(&in, 0, sizeof in);
  in.locals = locals(&in.nlocals);
  sw_addr pub = A("203.0.113.7", 50000);
  sw_addr mapped_a = a == A_LOCAL ? in.locals[0] : pub;
  if (a != A_NONE) in.a = (nat_probe){1, A(SRV_A, 3478), mapped_a};
  sw_addr mapped_b = b == B_DIFF ? A("203.0.113.7", 50001) : mapped_a;
  if (b == B_SAME || b == B_DIFF) in.b = (nat_probe){1, A(SRV_ALT, 3478), mapped_b};
  if (b == B_SAMEIP) in.b = (nat_probe){1, A(SRV_A, 3479), A("203.0.113.7", 50002)};
  sw_addr other = A("203.0.113.7", 50003);
  switch (b2) {
  case B2_SAME: in.b2 = (nat_probe){1, A(SRV_ALT, 3479), mapped_b}; break;
  case B2_DIFF: in.b2 = (nat_probe){1, A(SRV_ALT, 3479), other}; break;
  case B2_BADPORT: in.b2 = (nat_probe){1, A(SRV_ALT, 3478), other}; break;
  case B2_BADIP: in.b2 = (nat_probe){1, A("192.0.2.3", 3479), other}; break;
  default: break;
  }
  in.change_ip_port = cb;
  in.change_port = cp;
  return in;
}

/* What each axis should give, written out case by case. */
static nat_mapping want_mapping(int a, int b, int b2) {
  if (a == A_NONE || b == B_NONE || b == B_SAMEIP) return NAT_MAP_UNKNOWN;
  if (b == B_SAME) return NAT_MAP_EI;
  if (b2 == B2_SAME) return NAT_MAP_AD;
  if (b2 == B2_DIFF) return NAT_MAP_APD;
  return NAT_MAP_DEPENDENT; /* no usable test III */
}

static nat_filtering want_filtering(int a, nat_tri cb, nat_tri cp) {
  if (a == A_NONE || cb == NAT_UNTESTED) return NAT_FILT_UNKNOWN;
  if (cb == NAT_YES) return NAT_FILT_EI;
  if (cp == NAT_YES) return NAT_FILT_AD;
  if (cp == NAT_NO) return NAT_FILT_APD;
  return NAT_FILT_DEPENDENT;
}

static nat_type want_type(int a, nat_mapping m, nat_filtering f) {
  if (a == A_LOCAL) return NAT_TYPE_OPEN;
  if (m == NAT_MAP_AD || m == NAT_MAP_APD || m == NAT_MAP_DEPENDENT) return NAT_TYPE_SYMMETRIC;
  if (m != NAT_MAP_EI || f == NAT_FILT_UNKNOWN) return NAT_TYPE_UNKNOWN;
  return f == NAT_FILT_EI ? NAT_TYPE_FULL_CONE : NAT_TYPE_RESTRICTED_CONE;
}

static void test_every_combination(void **st) {
  (void)st;
  size_t count = 0;
  size_t per_type[5] = {0};
  for (int a = 0; a < A_N; a++)
    for (int b = 0; b < B_N; b++)
      for (int b2 = 0; b2 < B2_N; b2++)
        for (int cb = 0; cb < 3; cb++)
          for (int cp = 0; cp < 3; cp++) {
            natclass_input in = build(a, b, b2, (nat_tri)cb, (nat_tri)cp);
            natclass_result r = natclass_classify(&in);
            nat_mapping wm = want_mapping(a, b, b2);
            nat_filtering wf = want_filtering(a, (nat_tri)cb, (nat_tri)cp);
            nat_type wt = want_type(a, wm, wf);
            if (r.mapping != wm || r.filtering != wf || r.type != wt)
              fail_msg("a=%d b=%d b2=%d change=%d port=%d: got %s/%s/%s, want %s/%s/%s", a,
                       b, b2, cb, cp, natclass_mapping_name(r.mapping),
                       natclass_filtering_name(r.filtering), natclass_type_name(r.type),
                       natclass_mapping_name(wm), natclass_filtering_name(wf),
                       natclass_type_name(wt));
            per_type[r.type]++;
            count++;
          }
  assert_int_equal(count, A_N * B_N * B2_N * 9);
  for (int t = 0; t < 5; t++) assert_true(per_type[t] > 0); /* every label is reachable */
}

static void test_textbook(void **st) {
  (void)st;
  natclass_result r;
  /* full cone: same mapping everywhere, anyone gets in */
  natclass_input in = build(A_PUBLIC, B_SAME, B2_SAME, NAT_YES, NAT_UNTESTED);
  r = natclass_classify(&in);
  assert_int_equal(r.mapping, NAT_MAP_EI);
  assert_int_equal(r.filtering, NAT_FILT_EI);
  assert_string_equal(natclass_type_name(r.type), "full_cone");
  /* restricted cone */
  in = build(A_PUBLIC, B_SAME, B2_NONE, NAT_NO, NAT_YES);
  r = natclass_classify(&in);
  assert_int_equal(r.filtering, NAT_FILT_AD);
  assert_string_equal(natclass_type_name(r.type), "restricted_cone");
  /* port-restricted cone: still "restricted_cone" in the summary */
  in = build(A_PUBLIC, B_SAME, B2_NONE, NAT_NO, NAT_NO);
  r = natclass_classify(&in);
  assert_int_equal(r.filtering, NAT_FILT_APD);
  assert_string_equal(natclass_type_name(r.type), "restricted_cone");
  /* symmetric */
  in = build(A_PUBLIC, B_DIFF, B2_DIFF, NAT_NO, NAT_NO);
  r = natclass_classify(&in);
  assert_int_equal(r.mapping, NAT_MAP_APD);
  assert_string_equal(natclass_type_name(r.type), "symmetric");
  /* open: no NAT, whatever the firewall does */
  in = build(A_LOCAL, B_SAME, B2_NONE, NAT_NO, NAT_NO);
  r = natclass_classify(&in);
  assert_string_equal(natclass_type_name(r.type), "open");
  /* nothing answered */
  in = build(A_NONE, B_NONE, B2_NONE, NAT_UNTESTED, NAT_UNTESTED);
  r = natclass_classify(&in);
  assert_string_equal(natclass_type_name(r.type), "unknown");
  assert_string_equal(natclass_mapping_name(r.mapping), "unknown");
  assert_string_equal(natclass_filtering_name(r.filtering), "unknown");
  r = natclass_classify(NULL);
  assert_int_equal(r.type, NAT_TYPE_UNKNOWN);
}

static void test_odd_inputs(void **st) {
  (void)st;
  /* an IPv6 probe pair: the mapping of a v6 host with no NAT is its own address */
  natclass_input in;
  memset(&in, 0, sizeof in);
  in.locals = locals(&in.nlocals);
  in.a = (nat_probe){1, A("2001:db8::1", 3478), A("2001:db8:1::5", 40000)};
  in.b = (nat_probe){1, A("2001:db8::2", 3478), A("2001:db8:1::5", 40000)};
  natclass_result r = natclass_classify(&in);
  assert_int_equal(r.mapping, NAT_MAP_EI);
  assert_int_equal(r.type, NAT_TYPE_OPEN);
  /* the local port differs: translated, not open */
  in.a.mapped.port = in.b.mapped.port = 40001;
  r = natclass_classify(&in);
  assert_int_equal(r.type, NAT_TYPE_UNKNOWN); /* filtering untested */
  /* answered with no address (family 0) counts as not answered */
  memset(&in.a.mapped, 0, sizeof in.a.mapped);
  r = natclass_classify(&in);
  assert_int_equal(r.mapping, NAT_MAP_UNKNOWN);
  /* no locals given */
  in = build(A_LOCAL, B_SAME, B2_NONE, NAT_YES, NAT_UNTESTED);
  in.locals = NULL;
  r = natclass_classify(&in);
  assert_int_equal(r.type, NAT_TYPE_FULL_CONE);
  /* test II over IPv6 says nothing about the IPv4 NAT */
  in = build(A_PUBLIC, B_DIFF, B2_NONE, NAT_YES, NAT_UNTESTED);
  in.b.server = A("2001:db8::2", 3478);
  in.b.mapped = A("2001:db8:1::5", 40000);
  r = natclass_classify(&in);
  assert_int_equal(r.mapping, NAT_MAP_UNKNOWN);
  assert_int_equal(r.type, NAT_TYPE_UNKNOWN);
  /* a mapping whose IP changes between servers is endpoint-dependent too */
  in = build(A_PUBLIC, B_SAME, B2_NONE, NAT_YES, NAT_UNTESTED);
  in.b.mapped = A("203.0.113.8", 50000);
  r = natclass_classify(&in);
  assert_int_equal(r.mapping, NAT_MAP_DEPENDENT);
  assert_int_equal(r.type, NAT_TYPE_SYMMETRIC);
}

static void test_change_honoured(void **st) {
  (void)st;
  sw_addr to = A(SRV_A, 3478);
  sw_addr same = to, port = A(SRV_A, 3479), ip = A(SRV_ALT, 3478), both = A(SRV_ALT, 3479);
  const unsigned IPP = STUN_CHANGE_IP | STUN_CHANGE_PORT;
  assert_true(natclass_change_honoured(&to, &both, IPP));
  assert_false(natclass_change_honoured(&to, &same, IPP)); /* the server ignored it */
  assert_false(natclass_change_honoured(&to, &port, IPP));
  assert_false(natclass_change_honoured(&to, &ip, IPP));
  assert_true(natclass_change_honoured(&to, &port, STUN_CHANGE_PORT));
  assert_false(natclass_change_honoured(&to, &both, STUN_CHANGE_PORT));
  assert_false(natclass_change_honoured(&to, &same, STUN_CHANGE_PORT));
  assert_true(natclass_change_honoured(&to, &ip, STUN_CHANGE_IP));
  assert_true(natclass_change_honoured(&to, &same, 0));
  sw_addr none;
  memset(&none, 0, sizeof none);
  assert_false(natclass_change_honoured(&to, &none, IPP));
  assert_false(natclass_change_honoured(NULL, &both, IPP));
  sw_addr v6 = A("2001:db8::1", 3479);
  assert_true(natclass_change_honoured(&to, &v6, IPP)); /* another IP is another IP */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_combination),
      cmocka_unit_test(test_textbook),
      cmocka_unit_test(test_odd_inputs),
      cmocka_unit_test(test_change_honoured),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
