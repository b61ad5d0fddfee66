/* The STUN server function (src/core/stunsrv.h): answers, the socket they leave from,
 * CHANGE-REQUEST with and without alternates, what is never answered, and the bound on
 * answer sizes (amplification). */
#include <string.h>

#include "addr.h"
#include "stun.h"
#include "stunsrv.h"
#include "testutil.h"

static const uint8_t TID[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};

static sw_addr A(const char *ip, uint16_t port) {
  sw_addr a;
  assert_int_equal(addr_parse_ip(&a, ip, port), 0);
  return a;
}

static stunsrv_config full4(void) {
  stunsrv_config c;
  memset(&c, 0, sizeof c);
  c.ip[0] = A("192.0.2.1", 0);
  c.ip[1] = A("192.0.2.2", 0);
  c.port[0] = 3478;
  c.port[1] = 3479;
  return c;
}

/* Ask: the answer decoded into *m; returns its length (0: none). */
static size_t ask(const stunsrv_config *c, const uint8_t *req, size_t len, const sw_addr *from,
                  unsigned ip, unsigned port, stunsrv_route *route, stun_msg *m) {
  uint8_t out[STUN_MAX_RESPONSE + 16];
  memset(out, 0xee, sizeof out);
  memset(route, 0xff, sizeof *route);
  size_t n = stunsrv_answer(c, req, len, from, ip, port, out, STUN_MAX_RESPONSE, route);
  assert_true(n <= STUN_MAX_RESPONSE);
  assert_int_equal(out[STUN_MAX_RESPONSE], 0xee);
  if (n == 0) return 0;
  assert_int_equal(stun_decode(out, n, m), STUN_OK);
  assert_true(stun_response_for(m, TID));
  return n;
}

static void assert_addr(const sw_addr *got, const char *ip, uint16_t port) {
  sw_addr want = A(ip, port);
  char g[64], w[64];
  addr_format(got, g, sizeof g);
  addr_format(&want, w, sizeof w);
  if (!addr_equal(got, &want)) fail_msg("address %s, want %s", g, w);
}

static void test_plain_binding(void **st) {
  (void)st;
  stunsrv_config c = full4();
  uint8_t req[64];
  stun_msg m;
  stunsrv_route r;
  sw_addr from = A("203.0.113.5", 54321);
  size_t rl = (size_t)stun_encode_request(req, sizeof req, TID, 0);
  size_t n = ask(&c, req, rl, &from, 0, 0, &r, &m);
  assert_int_equal(n, 56); /* XOR-MAPPED, RESPONSE-ORIGIN, OTHER-ADDRESS: 20 + 3 x 12 */
  assert_int_equal(m.type, STUN_BINDING_SUCCESS);
  assert_int_equal(r.ip, STUNSRV_PRIMARY);
  assert_int_equal(r.port, STUNSRV_PRIMARY);
  assert_addr(stun_mapped(&m), "203.0.113.5", 54321);
  assert_addr(&m.origin, "192.0.2.1", 3478);
  assert_addr(&m.other, "192.0.2.2", 3479);
  assert_false(m.present & (STUN_HAS_MAPPED | STUN_HAS_FINGERPRINT));

  /* on each of the four sockets: OTHER-ADDRESS is the one differing in both */
  for (unsigned ip = 0; ip < 2; ip++)
    for (unsigned port = 0; port < 2; port++) {
      assert_true(ask(&c, req, rl, &from, ip, port, &r, &m) > 0);
      assert_int_equal(r.ip, ip);
      assert_int_equal(r.port, port);
      assert_addr(&m.origin, ip ? "192.0.2.2" : "192.0.2.1", port ? 3479 : 3478);
      assert_addr(&m.other, ip ? "192.0.2.1" : "192.0.2.2", port ? 3478 : 3479);
    }

  /* FINGERPRINT when the request has one, or always by option; MAPPED-ADDRESS by option */
  rl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_OPT_FINGERPRINT);
  assert_int_equal(ask(&c, req, rl, &from, 0, 0, &r, &m), 64);
  assert_true(m.present & STUN_HAS_FINGERPRINT);
  rl = (size_t)stun_encode_request(req, sizeof req, TID, 0);
  c.opts = STUNSRV_FINGERPRINT | STUNSRV_MAPPED;
  /* a bare 20-byte request pays for 60 bytes: XOR-MAPPED, MAPPED, FINGERPRINT (52) */
  assert_int_equal(ask(&c, req, rl, &from, 0, 0, &r, &m), 52);
  assert_true(m.present & STUN_HAS_FINGERPRINT);
  assert_addr(&m.mapped, "203.0.113.5", 54321);
  assert_false(m.present & (STUN_HAS_ORIGIN | STUN_HAS_OTHER));
  /* padded, it gets everything */
  size_t pl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_OPT_PAD);
  assert_int_equal(pl, 44);
  assert_int_equal(ask(&c, req, pl, &from, 0, 0, &r, &m), 76);
  assert_addr(&m.mapped, "203.0.113.5", 54321);
  assert_addr(&m.origin, "192.0.2.1", 3478);
  assert_addr(&m.other, "192.0.2.2", 3479);
  c.opts = 0;

  /* IPv6 on both sides */
  memset(&c, 0, sizeof c);
  c.ip[0] = A("2001:db8::1", 0);
  c.ip[1] = A("2001:db8::2", 0);
  c.port[0] = 3478;
  c.port[1] = 3479;
  sw_addr from6 = A("2001:db8:ffff::77", 40000);
  rl = (size_t)stun_encode_request(req, sizeof req, TID, 0);
  /* bare: XOR-MAPPED-ADDRESS only (44 = 2.2x); padded: all of it (92 for 44) */
  assert_int_equal(ask(&c, req, rl, &from6, 0, 0, &r, &m), 44);
  assert_addr(stun_mapped(&m), "2001:db8:ffff::77", 40000);
  assert_false(m.present & (STUN_HAS_ORIGIN | STUN_HAS_OTHER));
  pl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_OPT_PAD);
  assert_int_equal(ask(&c, req, pl, &from6, 0, 0, &r, &m), 92);
  assert_addr(stun_mapped(&m), "2001:db8:ffff::77", 40000);
  assert_addr(&m.origin, "2001:db8::1", 3478);
  assert_addr(&m.other, "2001:db8::2", 3479);

  /* a server bound to the wildcard: no RESPONSE-ORIGIN, no OTHER-ADDRESS */
  rl = (size_t)stun_encode_request(req, sizeof req, TID, 0);
  memset(&c, 0, sizeof c);
  c.port[0] = 3478;
  assert_int_equal(ask(&c, req, rl, &from, 0, 0, &r, &m), 32);
  assert_false(m.present & (STUN_HAS_ORIGIN | STUN_HAS_OTHER));
  assert_addr(stun_mapped(&m), "203.0.113.5", 54321);
}

static void test_change_request(void **st) {
  (void)st;
  stunsrv_config c = full4();
  uint8_t req[64];
  stun_msg m;
  stunsrv_route r;
  sw_addr from = A("203.0.113.5", 54321);
  const struct {
    unsigned change, at_ip, at_port, ip, port;
  } cases[] = {
      {STUN_CHANGE_IP | STUN_CHANGE_PORT, 0, 0, 1, 1}, {STUN_CHANGE_PORT, 0, 0, 0, 1},
      {STUN_CHANGE_IP, 0, 0, 1, 0},  {STUN_CHANGE_IP | STUN_CHANGE_PORT, 1, 1, 0, 0},
      {STUN_CHANGE_PORT, 1, 0, 1, 1}, {0, 1, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t rl = (size_t)stun_encode_request(req, sizeof req, TID, cases[i].change);
    if (cases[i].change == 0) { /* a CHANGE-REQUEST with no flag set */
      rl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_CHANGE_PORT);
      req[27] = 0;
    }
    assert_true(ask(&c, req, rl, &from, cases[i].at_ip, cases[i].at_port, &r, &m) > 0);
    assert_int_equal(m.type, STUN_BINDING_SUCCESS);
    assert_int_equal(r.ip, cases[i].ip);
    assert_int_equal(r.port, cases[i].port);
    /* RESPONSE-ORIGIN names the socket it leaves from */
    sw_addr o = stunsrv_socket(&c, r.ip, r.port);
    assert_true(addr_equal(&m.origin, &o));
    assert_addr(stun_mapped(&m), "203.0.113.5", 54321);
  }

  /* no alternates: a change is refused with 420 from where the request came */
  stunsrv_config one;
  memset(&one, 0, sizeof one);
  one.ip[0] = A("192.0.2.1", 0);
  one.port[0] = 3478;
  size_t rl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_CHANGE_IP | STUN_CHANGE_PORT);
  assert_true(ask(&one, req, rl, &from, 0, 0, &r, &m) > 0);
  assert_int_equal(m.type, STUN_BINDING_ERROR);
  assert_int_equal(m.error_code, 420);
  assert_int_equal(r.ip, 0);
  assert_int_equal(r.port, 0);
  /* an alternate port only: change port works, change IP does not, no OTHER-ADDRESS */
  one.port[1] = 3479;
  rl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_CHANGE_PORT);
  assert_true(ask(&one, req, rl, &from, 0, 0, &r, &m) > 0);
  assert_int_equal(m.type, STUN_BINDING_SUCCESS);
  assert_int_equal(r.port, 1);
  assert_addr(&m.origin, "192.0.2.1", 3479);
  assert_false(m.present & STUN_HAS_OTHER);
  rl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_CHANGE_IP);
  assert_true(ask(&one, req, rl, &from, 0, 1, &r, &m) > 0);
  assert_int_equal(m.error_code, 420);
  assert_int_equal(r.port, 1);
  /* an alternate IP of the other family cannot be used */
  one.ip[1] = A("2001:db8::2", 0);
  assert_true(ask(&one, req, rl, &from, 0, 0, &r, &m) > 0);
  assert_int_equal(m.error_code, 420);
  /* a server bound to the wildcard has no alternate IP either */
  memset(&one.ip[0], 0, sizeof one.ip[0]);
  one.ip[1] = A("192.0.2.2", 0);
  assert_true(ask(&one, req, rl, &from, 0, 0, &r, &m) > 0);
  assert_int_equal(m.error_code, 420);
}

static void test_unknown_attributes(void **st) {
  (void)st;
  stunsrv_config c = full4();
  uint8_t req[64];
  stun_msg m;
  stunsrv_route r;
  sw_addr from = A("203.0.113.5", 54321);
  /* PRIORITY (0x0024) and an optional 0x8099: only the first is listed */
  size_t rl = (size_t)stun_encode_request(req, sizeof req, TID, 0);
  memcpy(req + 20, "\x00\x24\x00\x04\x6e\x00\x01\xff\x80\x99\x00\x00", 12);
  req[3] = 12;
  rl += 12;
  uint8_t out[STUN_MAX_RESPONSE];
  size_t n = stunsrv_answer(&c, req, rl, &from, 0, 0, out, sizeof out, &r);
  assert_true(n > 0);
  assert_int_equal(stun_decode(out, n, &m), STUN_OK);
  assert_int_equal(m.error_code, 420);
  assert_string_equal(tu_hex(out + n - 8, 8), "000a000200240000");
  /* the optional one alone is ignored */
  req[21] = 0x99;
  req[20] = 0x80;
  assert_true(ask(&c, req, rl, &from, 0, 0, &r, &m) > 0);
  assert_int_equal(m.type, STUN_BINDING_SUCCESS);
}

static void test_never_answered(void **st) {
  (void)st;
  stunsrv_config c = full4();
  uint8_t req[64], out[STUN_MAX_RESPONSE];
  stunsrv_route r;
  sw_addr from = A("203.0.113.5", 54321);
  size_t rl = (size_t)stun_encode_request(req, sizeof req, TID, 0);
  /* other classes and methods */
  const uint16_t types[] = {0x0011, 0x0101, 0x0111, 0x0003, 0x0004, 0x0002, 0x0201};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    uint8_t q[20];
    memcpy(q, req, 20);
    q[0] = (uint8_t)(types[i] >> 8);
    q[1] = (uint8_t)types[i];
    assert_int_equal(stunsrv_answer(&c, q, 20, &from, 0, 0, out, sizeof out, &r), 0);
  }
  /* not STUN, cut short, wrong cookie, a bad FINGERPRINT, an attribute past the end */
  for (size_t n = 0; n < rl; n++)
    assert_int_equal(stunsrv_answer(&c, req, n, &from, 0, 0, out, sizeof out, &r), 0);
  uint8_t q[64];
  memcpy(q, req, 20);
  q[4] ^= 1;
  assert_int_equal(stunsrv_answer(&c, q, 20, &from, 0, 0, out, sizeof out, &r), 0);
  size_t fl = (size_t)stun_encode_request(q, sizeof q, TID, STUN_OPT_FINGERPRINT);
  q[fl - 1] ^= 1;
  assert_int_equal(stunsrv_answer(&c, q, fl, &from, 0, 0, out, sizeof out, &r), 0);
  memcpy(q, req, 20);
  memcpy(q + 20, "\x80\x22\x00\x08", 4);
  q[3] = 4;
  assert_int_equal(stunsrv_answer(&c, q, 24, &from, 0, 0, out, sizeof out, &r), 0);
  /* a source that cannot be answered, a socket we do not have, no room */
  sw_addr bad = from;
  bad.port = 0;
  assert_int_equal(stunsrv_answer(&c, req, rl, &bad, 0, 0, out, sizeof out, &r), 0);
  memset(&bad, 0, sizeof bad);
  assert_int_equal(stunsrv_answer(&c, req, rl, &bad, 0, 0, out, sizeof out, &r), 0);
  assert_int_equal(stunsrv_answer(&c, req, rl, &from, 2, 0, out, sizeof out, &r), 0);
  assert_int_equal(stunsrv_answer(&c, req, rl, &from, 0, 0, out, STUN_MAX_RESPONSE - 1, &r), 0);
  assert_int_equal(stunsrv_answer(NULL, req, rl, &from, 0, 0, out, sizeof out, &r), 0);
  assert_int_equal(stunsrv_answer(&c, NULL, rl, &from, 0, 0, out, sizeof out, &r), 0);
  stunsrv_config one;
  memset(&one, 0, sizeof one);
  one.ip[0] = A("192.0.2.1", 0);
  one.port[0] = 3478;
  assert_int_equal(stunsrv_answer(&one, req, rl, &from, 1, 0, out, sizeof out, &r), 0);
  assert_int_equal(stunsrv_answer(&one, req, rl, &from, 0, 1, out, sizeof out, &r), 0);

  /* random datagrams: only well-formed Binding requests get anything */
  tu_rng rng = {42};
  for (int i = 0; i < 20000; i++) {
    uint8_t d[48];
    size_t n = 20 + 4 * (tu_rng_next(&rng) % 8);
    tu_rng_bytes(&rng, d, n);
    if (i & 1) { /* make half of them look like STUN */
      d[0] &= 0x3f;
      d[2] = 0;
      d[3] = (uint8_t)(n - 20);
      memcpy(d + 4, "\x21\x12\xa4\x42", 4);
      if (i & 2) {
        d[0] = 0;
        d[1] = 1;
      }
    }
    size_t a = stunsrv_answer(&c, d, n, &from, 0, 0, out, sizeof out, &r);
    stun_msg m;
    int ok = stun_decode(d, n, &m) == STUN_OK && m.type == STUN_BINDING_REQUEST;
    assert_int_equal(a > 0, ok);
  }
}

/* Every answer to every form of request, from every socket of every configuration, is at
 * most three times the request (the bound of THREATS.md: a STUN source never proves its
 * address). Forms: bare, CHANGE-REQUEST (each flag), FINGERPRINT, PADDING, their mixes, an
 * unknown comprehension-required attribute; IPv4 and IPv6; server options all four. */
static void test_amplification(void **st) {
  (void)st;
  const struct {
    const char *ip0, *ip1, *from;
    uint16_t alt_port;
  } confs[] = {
      {"192.0.2.1", "192.0.2.2", "203.0.113.5", 3479},
      {"2001:db8::1", "2001:db8::2", "2001:db8::9", 3479},
      {"192.0.2.1", NULL, "203.0.113.5", 3479},  /* an alternate port only */
      {"192.0.2.1", NULL, "203.0.113.5", 0},     /* one socket */
      {NULL, NULL, "2001:db8::9", 0},            /* the wildcard */
      {"192.0.2.1", "192.0.2.2", "2001:db8::9", 3479}, /* an IPv6 source, IPv4 sockets */
  };
  uint8_t req[128], out[STUN_MAX_RESPONSE];
  stunsrv_route r;
  size_t worst_num = 0, worst_den = 1, answers = 0;
  for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++)
    for (unsigned opts = 0; opts < 4; opts++) {
      stunsrv_config c;
      memset(&c, 0, sizeof c);
      if (confs[i].ip0) c.ip[0] = A(confs[i].ip0, 0);
      if (confs[i].ip1) c.ip[1] = A(confs[i].ip1, 0);
      c.port[0] = 3478;
      c.port[1] = confs[i].alt_port;
      c.opts = opts;
      sw_addr from = A(confs[i].from, 1);
      for (unsigned o = 0; o < 32; o++) {
        unsigned ro = (o & 1 ? STUN_OPT_CHANGE_IP : 0) | (o & 2 ? STUN_OPT_CHANGE_PORT : 0) |
                      (o & 4 ? STUN_OPT_FINGERPRINT : 0) | (o & 8 ? STUN_OPT_PAD : 0);
        size_t rl = (size_t)stun_encode_request(req, sizeof req, TID, ro & ~STUN_OPT_FINGERPRINT);
        if (o & 16) { /* an unknown comprehension-required attribute (PRIORITY) */
          memcpy(req + rl, "\x00\x24\x00\x04\x6e\x00\x01\xff", 8);
          rl += 8;
          req[3] = (uint8_t)(rl - 20);
        }
        if (o & 4) { /* FINGERPRINT last, over whatever came before */
          uint8_t tmp[128];
          memcpy(tmp, req, rl);
          size_t fl = (size_t)stun_encode_request(req, sizeof req, TID, STUN_OPT_FINGERPRINT);
          assert_int_equal(fl, 28);
          uint8_t fpattr[8];
          memcpy(fpattr, req + 20, 8);
          memcpy(req, tmp, rl);
          req[3] = (uint8_t)(rl + 8 - 20);
          memcpy(req + rl, fpattr, 8);
          /* the CRC must be over this message: let the codec's own check say so */
          uint32_t crc = stun_crc32(req, rl) ^ 0x5354554eu;
          req[rl + 4] = (uint8_t)(crc >> 24);
          req[rl + 5] = (uint8_t)(crc >> 16);
          req[rl + 6] = (uint8_t)(crc >> 8);
          req[rl + 7] = (uint8_t)crc;
          rl += 8;
        }
        stun_msg q;
        assert_int_equal(stun_decode(req, rl, &q), STUN_OK);
        for (unsigned ip = 0; ip < 2; ip++)
          for (unsigned port = 0; port < 2; port++) {
            size_t n = stunsrv_answer(&c, req, rl, &from, ip, port, out, sizeof out, &r);
            if (n == 0) continue; /* no such socket */
            answers++;
            assert_true(n <= 3 * rl);
            if (n * worst_den > worst_num * rl) {
              worst_num = n;
              worst_den = rl;
            }
            stun_msg m;
            assert_int_equal(stun_decode(out, n, &m), STUN_OK);
            /* a padded request without a change gets OTHER-ADDRESS wherever one exists */
            if ((o & 8) && !(o & 16) && !(o & 3) && confs[i].ip1 && confs[i].alt_port)
              assert_true(m.present & STUN_HAS_OTHER);
          }
      }
    }
  assert_true(answers > 500);
  /* the worst is 2.86x: an IPv6 source's 28-byte CHANGE-REQUEST to IPv4 sockets with
   * MAPPED-ADDRESS on, 80/28 (a padded IPv6 request with every option: 124/44 = 2.82x;
   * IPv4 bare 56/20 = 2.8x) */
  assert_int_equal(worst_num, 80);
  assert_int_equal(worst_den, 28);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_binding),      cmocka_unit_test(test_change_request),
      cmocka_unit_test(test_unknown_attributes), cmocka_unit_test(test_never_answered),
      cmocka_unit_test(test_amplification),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
