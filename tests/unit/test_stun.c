/* The STUN codec (src/core/stun.h): the references' request and every response of
 * stun.json, the RFC 5769 sample messages (FINGERPRINT, IPv4 and IPv6 XOR-MAPPED-ADDRESS),
 * the rules where we are stricter than the references (transaction id, family byte,
 * lengths), and our encoders decoded back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "stun.h"
#include "testutil.h"

static const uint8_t TID[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

static sw_addr A(const char *ip, uint16_t port) {
  sw_addr a;
  assert_int_equal(addr_parse_ip(&a, ip, port), 0);
  return a;
}

static void assert_addr(const sw_addr *got, const char *ip, uint16_t port) {
  sw_addr want = A(ip, port);
  char g[64], w[64];
  addr_format(got, g, sizeof g);
  addr_format(&want, w, sizeof w);
  if (!addr_equal(got, &want)) fail_msg("address %s, want %s", g, w);
}

/* ---- stun.json ------------------------------------------------------------- */

static void test_request_vector(void **st) {
  (void)st;
  json_t *v = tu_vectors("stun.json");
  json_t *rq = json_object_get(v, "request");
  uint8_t tid[12], out[64];
  tu_unhex_into(tu_str(rq, "transaction_id_hex"), tid, 12);
  memset(out, 0xee, sizeof out);
  int n = stun_encode_request(out, sizeof out, tid, 0);
  assert_int_equal(n, 20);
  assert_string_equal(tu_hex(out, 20), tu_str(rq, "hex"));
  assert_int_equal(out[20], 0xee);

  stun_msg m;
  assert_true(stun_is_message(out, 20));
  assert_int_equal(stun_decode(out, 20, &m), STUN_OK);
  assert_int_equal(m.type, STUN_BINDING_REQUEST);
  assert_int_equal(m.cls, STUN_CLASS_REQUEST);
  assert_int_equal(m.method, STUN_METHOD_BINDING);
  assert_int_equal(m.length, json_integer_value(json_object_get(rq, "message_length")));
  assert_memory_equal(m.tid, tid, 12);
  assert_int_equal(m.present, 0);
  assert_false(stun_response_for(&m, tid)); /* a request is not a response */
  json_decref(v);
}

static void test_response_vectors(void **st) {
  (void)st;
  json_t *v = tu_vectors("stun.json");
  uint8_t tid[12];
  tu_unhex_into(tu_str(json_object_get(v, "request"), "transaction_id_hex"), tid, 12);
  size_t i, seen = 0;
  json_t *r;
  json_array_foreach(json_object_get(v, "responses"), i, r) {
    const char *name = tu_str(r, "name");
    size_t len;
    uint8_t *b = tu_unhex(tu_str(r, "response_hex"), &len);
    stun_msg m;
    assert_true(stun_is_message(b, len));
    if (stun_decode(b, len, &m) != STUN_OK) fail_msg("%s: does not decode", name);
    assert_int_equal(m.type, STUN_BINDING_SUCCESS);
    assert_int_equal(m.cls, STUN_CLASS_SUCCESS);
    assert_int_equal(m.method, STUN_METHOD_BINDING);
    int match = json_is_true(json_object_get(r, "transaction_id_matches_request"));
    /* the transaction id decides, as in the Python reference; JavaScript takes any */
    assert_int_equal(stun_response_for(&m, tid), match);
    assert_true(stun_response_for(&m, m.tid));

    /* The references report the first address attribute. We decode each; both agree
     * with the references on what each attribute says. */
    json_t *js = json_object_get(r, "js_result");
    assert_true(json_is_object(js));
    sw_addr ref = A(tu_str(js, "ip"), (uint16_t)json_integer_value(json_object_get(js, "port")));
    int in_mapped = (m.present & STUN_HAS_MAPPED) && addr_equal(&m.mapped, &ref);
    int in_xor = (m.present & STUN_HAS_XOR_MAPPED) && addr_equal(&m.xor_mapped, &ref);
    if (!in_mapped && !in_xor) fail_msg("%s: the references' address is in no attribute", name);
    json_t *py = json_object_get(r, "python_result");
    assert_int_equal(json_is_object(py), match);
    const sw_addr *ours = stun_mapped(&m);
    assert_non_null(ours);
    if (!strcmp(name, "mapped_before_xor_mapped")) {
      /* Here we differ on purpose: RFC 8489 clients take XOR-MAPPED-ADDRESS (a NAT that
       * rewrites addresses in payloads cannot touch it); the references take the first. */
      assert_true(in_mapped);
      assert_addr(ours, "203.0.113.9", 2000);
    } else {
      assert_true(addr_equal(ours, &ref));
    }
    free(b);
    seen++;
  }
  assert_int_equal(seen, 5);
  json_decref(v);
}

/* ---- RFC 5769 sample messages ------------------------------------------------ */

static const char RFC5769_REQUEST[] =
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
static const char RFC5769_V4[] =
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96";
static const char RFC5769_V6[] =
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf1"
    "1784c97c8292c275bfe3ed4180280004c8fb0b4c";

static void test_rfc5769(void **st) {
  (void)st;
  size_t len;
  stun_msg m;
  uint8_t tid[12];
  tu_unhex_into("b7e7a701bc34d686fa87dfae", tid, 12);

  uint8_t *b = tu_unhex(RFC5769_REQUEST, &len);
  assert_int_equal(stun_decode(b, len, &m), STUN_OK);
  assert_int_equal(m.type, STUN_BINDING_REQUEST);
  assert_true(m.present & STUN_HAS_FINGERPRINT);
  assert_true(m.present & STUN_HAS_INTEGRITY);
  /* PRIORITY (0x0024, ICE) is comprehension-required and not ours; ICE-CONTROLLED and
   * SOFTWARE are optional, USERNAME and MESSAGE-INTEGRITY are known */
  assert_int_equal(m.nunknown, 1);
  assert_int_equal(m.unknown[0], 0x0024);
  free(b);

  b = tu_unhex(RFC5769_V4, &len);
  assert_int_equal(stun_decode(b, len, &m), STUN_OK);
  assert_true(stun_response_for(&m, tid));
  assert_true(m.present & STUN_HAS_FINGERPRINT);
  assert_addr(stun_mapped(&m), "192.0.2.1", 32853);
  /* one changed bit anywhere before FINGERPRINT breaks it */
  b[30] ^= 0x01;
  assert_int_equal(stun_decode(b, len, &m), STUN_EFINGERPRINT);
  free(b);

  b = tu_unhex(RFC5769_V6, &len);
  assert_int_equal(stun_decode(b, len, &m), STUN_OK);
  assert_true(m.present & STUN_HAS_FINGERPRINT);
  assert_addr(stun_mapped(&m), "2001:db8:1234:5678:11:2233:4455:6677", 32853);
  free(b);

  /* the CRC is zlib's */
  assert_int_equal(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
  assert_int_equal(stun_crc32(NULL, 0), 0);
}

/* ---- where we are stricter ------------------------------------------------------ */

/* A success response to TID with one attribute (type, value) and a correct length. */
static size_t one_attr(uint8_t *out, uint16_t type, const uint8_t *val, size_t vlen) {
  size_t padded = (vlen + 3) & ~(size_t)3;
  assert_int_equal(stun_encode_request(out, 64, TID, 0), 20);
  out[0] = 0x01;
  out[1] = 0x01;
  out[20] = (uint8_t)(type >> 8);
  out[21] = (uint8_t)type;
  out[22] = (uint8_t)(vlen >> 8);
  out[23] = (uint8_t)vlen;
  memset(out + 24, 0, padded);
  memcpy(out + 24, val, vlen);
  out[2] = 0;
  out[3] = (uint8_t)(4 + padded);
  return 24 + padded;
}

static void test_strict_header(void **st) {
  (void)st;
  json_t *v = tu_vectors("stun.json");
  size_t len;
  uint8_t *good = tu_unhex(tu_str(json_array_get(json_object_get(v, "responses"), 0),
                                  "response_hex"),
                           &len);
  uint8_t b[64];
  stun_msg m;
  assert_int_equal(len, 32);

  assert_false(stun_is_message(NULL, 0));
  assert_int_equal(stun_decode(NULL, 0, &m), STUN_ENOTSTUN);
  for (size_t n = 0; n < len; n++) { /* every truncation: the length no longer matches */
    memcpy(b, good, n);
    assert_false(stun_is_message(b, n));
    assert_int_equal(stun_decode(b, n, &m), STUN_ENOTSTUN);
  }
  memcpy(b, good, len); /* one byte too many */
  b[len] = 0;
  assert_false(stun_is_message(b, len + 1));
  memcpy(b, good, len); /* top bits */
  b[0] |= 0x40;
  assert_false(stun_is_message(b, len));
  b[0] = (uint8_t)((good[0] & 0x3f) | 0x80);
  assert_false(stun_is_message(b, len));
  memcpy(b, good, len); /* magic cookie */
  b[7] ^= 1;
  assert_int_equal(stun_decode(b, len, &m), STUN_ENOTSTUN);
  /* a length that is not a multiple of 4, matching the datagram */
  memcpy(b, good, len);
  b[len] = 0;
  b[3] = 13;
  assert_false(stun_is_message(b, 33));
  assert_int_equal(stun_decode(b, 33, &m), STUN_ENOTSTUN);
  /* a Setowire DATA frame looks like nothing of the sort */
  uint8_t data[40] = {0x01, 0x00, 0x00, 0x14, 0xde, 0xad, 0xbe, 0xef};
  assert_false(stun_is_message(data, sizeof data));
  free(good);
  json_decref(v);
}

static void test_strict_attributes(void **st) {
  (void)st;
  uint8_t b[128];
  stun_msg m;
  const uint8_t v4[8] = {0, 0x01, 0xf5, 0x23, 0xea, 0x12, 0xd5, 0x47};
  size_t n = one_attr(b, STUN_ATTR_XOR_MAPPED_ADDRESS, v4, 8);
  assert_int_equal(stun_decode(b, n, &m), STUN_OK);
  assert_addr(stun_mapped(&m), "203.0.113.5", 54321);

  /* the family byte: 0x03, 0x00 are no family; 0x02 needs 16 address bytes */
  for (unsigned fam = 0; fam < 256; fam++) {
    if (fam == 1) continue;
    uint8_t bad[8];
    memcpy(bad, v4, 8);
    bad[1] = (uint8_t)fam;
    n = one_attr(b, STUN_ATTR_XOR_MAPPED_ADDRESS, bad, 8);
    assert_int_equal(stun_decode(b, n, &m), fam == 2 ? STUN_EATTR : STUN_EFAMILY);
    n = one_attr(b, STUN_ATTR_OTHER_ADDRESS, bad, 8); /* every address attribute */
    assert_int_equal(stun_decode(b, n, &m), fam == 2 ? STUN_EATTR : STUN_EFAMILY);
  }
  /* an IPv4 family with the length of IPv6, and address values cut short */
  uint8_t v6len[20] = {0, 0x01};
  n = one_attr(b, STUN_ATTR_MAPPED_ADDRESS, v6len, 20);
  assert_int_equal(stun_decode(b, n, &m), STUN_EATTR);
  for (size_t k = 0; k < 8; k++) {
    n = one_attr(b, STUN_ATTR_XOR_MAPPED_ADDRESS, v4, k);
    assert_int_equal(stun_decode(b, n, &m), STUN_EATTR);
  }
  /* an attribute length running past the message */
  n = one_attr(b, STUN_ATTR_XOR_MAPPED_ADDRESS, v4, 8);
  for (unsigned l = 9; l < 300; l++) {
    b[22] = (uint8_t)(l >> 8);
    b[23] = (uint8_t)l;
    assert_int_equal(stun_decode(b, n, &m), STUN_ETRUNC);
  }
  b[22] = b[23] = 0xff;
  assert_int_equal(stun_decode(b, n, &m), STUN_ETRUNC);
  /* an unknown optional attribute running past the end is just as bad */
  n = one_attr(b, 0x8099, v4, 8);
  b[23] = 12;
  assert_int_equal(stun_decode(b, n, &m), STUN_ETRUNC);
  /* a header of an attribute and no room for it */
  assert_int_equal(stun_encode_request(b, 64, TID, 0), 20);
  b[3] = 4;
  b[20] = 0x00;
  b[21] = 0x20;
  b[22] = 0;
  b[23] = 4;
  assert_int_equal(stun_decode(b, 24, &m), STUN_ETRUNC);
  b[23] = 0; /* an empty XOR-MAPPED-ADDRESS */
  assert_int_equal(stun_decode(b, 24, &m), STUN_EATTR);

  /* CHANGE-REQUEST and ERROR-CODE shapes */
  const uint8_t chg[4] = {0, 0, 0, 0xff};
  n = one_attr(b, STUN_ATTR_CHANGE_REQUEST, chg, 4);
  assert_int_equal(stun_decode(b, n, &m), STUN_OK);
  assert_int_equal(m.change, STUN_CHANGE_IP | STUN_CHANGE_PORT); /* other bits dropped */
  n = one_attr(b, STUN_ATTR_CHANGE_REQUEST, chg, 3);
  assert_int_equal(stun_decode(b, n, &m), STUN_EATTR);
  const uint8_t err[8] = {0, 0, 4, 20, 'n', 'o', 'p', 'e'};
  n = one_attr(b, STUN_ATTR_ERROR_CODE, err, 8);
  assert_int_equal(stun_decode(b, n, &m), STUN_OK);
  assert_int_equal(m.error_code, 420);
  assert_int_equal(m.reason_len, 4);
  assert_memory_equal(m.reason, "nope", 4);
  const uint8_t err_bad[4] = {0, 0, 2, 0};
  n = one_attr(b, STUN_ATTR_ERROR_CODE, err_bad, 4);
  assert_int_equal(stun_decode(b, n, &m), STUN_EATTR);
  const uint8_t err_num[4] = {0, 0, 4, 100};
  n = one_attr(b, STUN_ATTR_ERROR_CODE, err_num, 4);
  assert_int_equal(stun_decode(b, n, &m), STUN_EATTR);
}

static void test_attribute_order(void **st) {
  (void)st;
  uint8_t b[128];
  stun_msg m;
  sw_addr x = A("198.51.100.1", 1111), y = A("198.51.100.2", 2222);
  /* two XOR-MAPPED-ADDRESS: the first counts */
  int n = stun_encode_success(b, sizeof b, TID, &x, NULL, NULL, 0);
  assert_int_equal(n, 32);
  int n2 = stun_encode_success(b + 64, 64, TID, &y, NULL, NULL, 0);
  assert_int_equal(n2, 32);
  memcpy(b + 32, b + 64 + 20, 12);
  b[3] = 24;
  assert_int_equal(stun_decode(b, 44, &m), STUN_OK);
  assert_addr(stun_mapped(&m), "198.51.100.1", 1111);

  /* after MESSAGE-INTEGRITY only FINGERPRINT counts */
  assert_int_equal(stun_encode_request(b, sizeof b, TID, 0), 20);
  b[0] = 0x01;
  b[1] = 0x01;
  uint8_t *p = b + 20;
  memcpy(p, "\x00\x08\x00\x14", 4);
  memset(p + 4, 0xaa, 20);
  memcpy(p + 24, b + 64 + 20, 12); /* XOR-MAPPED-ADDRESS of y */
  b[3] = 36;
  assert_int_equal(stun_decode(b, 56, &m), STUN_OK);
  assert_true(m.present & STUN_HAS_INTEGRITY);
  assert_null(stun_mapped(&m));

  /* nothing may follow FINGERPRINT */
  n = stun_encode_request(b, sizeof b, TID, STUN_OPT_FINGERPRINT);
  assert_int_equal(n, 28);
  memcpy(b + 28, "\x80\x22\x00\x00", 4); /* an empty SOFTWARE after it */
  b[3] = 12;
  assert_int_equal(stun_decode(b, 32, &m), STUN_EATTR);
  /* FINGERPRINT of the wrong size */
  n = stun_encode_request(b, sizeof b, TID, STUN_OPT_FINGERPRINT);
  b[23] = 8;
  memset(b + 28, 0, 4);
  b[3] = 12;
  assert_int_equal(stun_decode(b, 32, &m), STUN_EATTR);

  /* message classes and the method bits */
  assert_int_equal(stun_encode_request(b, sizeof b, TID, 0), 20);
  const struct {
    uint16_t type, method;
    uint8_t cls;
  } cases[] = {{0x0001, 1, 0}, {0x0011, 1, 1}, {0x0101, 1, 2}, {0x0111, 1, 3},
               {0x0003, 3, 0}, {0x3fef, 0xfff, 2}, {0x0113, 3, 3}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    b[0] = (uint8_t)(cases[i].type >> 8);
    b[1] = (uint8_t)cases[i].type;
    assert_int_equal(stun_decode(b, 20, &m), STUN_OK);
    assert_int_equal(m.method, cases[i].method);
    assert_int_equal(m.cls, cases[i].cls);
    assert_int_equal(stun_response_for(&m, TID),
                     cases[i].method == 1 && (cases[i].cls == 2 || cases[i].cls == 3));
  }
}

/* ---- our encoders, decoded back ------------------------------------------------ */

static void test_change_request(void **st) {
  (void)st;
  uint8_t b[64];
  stun_msg m;
  int n = stun_encode_request(b, sizeof b, TID, STUN_OPT_CHANGE_IP | STUN_OPT_CHANGE_PORT);
  assert_int_equal(n, 28);
  assert_string_equal(tu_hex(b, 28),
                      "000100082112a4420102030405060708090a0b0c0003000400000006");
  n = stun_encode_request(b, sizeof b, TID, STUN_OPT_CHANGE_PORT);
  assert_string_equal(tu_hex(b, 28),
                      "000100082112a4420102030405060708090a0b0c0003000400000002");
  assert_int_equal(stun_decode(b, 28, &m), STUN_OK);
  assert_true(m.present & STUN_HAS_CHANGE);
  assert_int_equal(m.change, STUN_CHANGE_PORT);
  n = stun_encode_request(b, sizeof b, TID, STUN_OPT_CHANGE_IP | STUN_OPT_FINGERPRINT);
  assert_int_equal(n, 36);
  assert_int_equal(b[3], 16);
  assert_int_equal(stun_decode(b, 36, &m), STUN_OK);
  assert_int_equal(m.present, STUN_HAS_CHANGE | STUN_HAS_FINGERPRINT);
  assert_int_equal(m.change, STUN_CHANGE_IP);
  assert_int_equal(m.nunknown, 0);
  /* FINGERPRINT alone */
  n = stun_encode_request(b, sizeof b, TID, STUN_OPT_FINGERPRINT);
  assert_int_equal(n, 28);
  assert_int_equal(stun_decode(b, 28, &m), STUN_OK);
  assert_int_equal(m.present, STUN_HAS_FINGERPRINT);
  /* too little room: nothing written past cap */
  for (size_t cap = 0; cap < 36; cap++) {
    uint8_t c[40];
    memset(c, 0xee, sizeof c);
    assert_int_equal(stun_encode_request(c, cap, TID,
                                         STUN_OPT_CHANGE_IP | STUN_OPT_FINGERPRINT),
                     STUN_ESPACE);
    for (size_t k = cap; k < sizeof c; k++) assert_int_equal(c[k], 0xee);
  }
}

static void test_success_round_trip(void **st) {
  (void)st;
  uint8_t b[STUN_MAX_RESPONSE + 8];
  stun_msg m;
  const char *ips[] = {"203.0.113.5", "2001:db8:1234:5678:11:2233:4455:6677", "::1",
                       "fe80::1", "0.0.0.0", "255.255.255.255"};
  for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++) {
    for (unsigned opts = 0; opts < 4; opts++) {
      unsigned o = (opts & 1 ? STUN_OPT_MAPPED : 0) | (opts & 2 ? STUN_OPT_FINGERPRINT : 0);
      sw_addr mapped = A(ips[i], (uint16_t)(40000 + i));
      sw_addr origin = A(i & 1 ? "2001:db8::10" : "192.0.2.10", 3478);
      sw_addr other = A(i & 1 ? "2001:db8::11" : "192.0.2.11", 3479);
      memset(b, 0xee, sizeof b);
      int n = stun_encode_success(b, sizeof b, TID, &mapped, &origin, &other, o);
      assert_true(n > 0 && n <= STUN_MAX_RESPONSE);
      assert_int_equal(b[n], 0xee);
      assert_int_equal(stun_decode(b, (size_t)n, &m), STUN_OK);
      assert_int_equal(m.type, STUN_BINDING_SUCCESS);
      assert_true(stun_response_for(&m, TID));
      assert_true(addr_equal(&m.xor_mapped, &mapped));
      assert_true(addr_equal(stun_mapped(&m), &mapped));
      assert_true(addr_equal(&m.origin, &origin));
      assert_true(addr_equal(&m.other, &other));
      assert_int_equal(!!(m.present & STUN_HAS_MAPPED), !!(o & STUN_OPT_MAPPED));
      if (o & STUN_OPT_MAPPED) assert_true(addr_equal(&m.mapped, &mapped));
      assert_int_equal(!!(m.present & STUN_HAS_FINGERPRINT), !!(o & STUN_OPT_FINGERPRINT));
      if (mapped.family == 6 && i & 1 && o == (STUN_OPT_MAPPED | STUN_OPT_FINGERPRINT))
        assert_int_equal(n, STUN_MAX_RESPONSE); /* the bound is reached, not passed */
      /* the XOR really hides the address: its bytes are not in the message */
      if (!(o & STUN_OPT_MAPPED) && mapped.family == 6)
        assert_null(memmem(b, (size_t)n, mapped.ip, 16));
    }
  }
  /* the IPv6 XOR uses the transaction id: another id, other bytes */
  sw_addr v6 = A("2001:db8::1", 5);
  uint8_t c[64], tid2[12];
  memcpy(tid2, TID, 12);
  tid2[11] ^= 0xff;
  assert_int_equal(stun_encode_success(b, sizeof b, TID, &v6, NULL, NULL, 0), 44);
  assert_int_equal(stun_encode_success(c, sizeof c, tid2, &v6, NULL, NULL, 0), 44);
  assert_memory_not_equal(b + 28, c + 28, 16);
  assert_memory_equal(b + 28, c + 28, 15);
  /* bad arguments */
  sw_addr none;
  memset(&none, 0, sizeof none);
  assert_int_equal(stun_encode_success(b, sizeof b, TID, &none, NULL, NULL, 0), STUN_EFAMILY);
  assert_int_equal(stun_encode_success(b, sizeof b, TID, NULL, NULL, NULL, 0), STUN_EFAMILY);
  assert_int_equal(stun_encode_success(b, sizeof b, TID, &v6, &none, NULL, 0), STUN_EFAMILY);
  assert_int_equal(stun_encode_success(b, 43, TID, &v6, NULL, NULL, 0), STUN_ESPACE);
}

static void test_error_round_trip(void **st) {
  (void)st;
  uint8_t b[STUN_MAX_RESPONSE];
  stun_msg m;
  const uint16_t unk[6] = {0x0024, 0x0025, 0x7fff, 0x0003, 0x0042, 0x0043};
  int n = stun_encode_error(b, sizeof b, TID, 420, unk, 6, STUN_OPT_FINGERPRINT);
  assert_true(n > 0 && n <= STUN_MAX_RESPONSE);
  assert_int_equal(stun_decode(b, (size_t)n, &m), STUN_OK);
  assert_int_equal(m.type, STUN_BINDING_ERROR);
  assert_int_equal(m.cls, STUN_CLASS_ERROR);
  assert_true(stun_response_for(&m, TID));
  assert_int_equal(m.error_code, 420);
  assert_int_equal(m.reason_len, strlen("Unknown Attribute"));
  assert_memory_equal(m.reason, "Unknown Attribute", m.reason_len);
  assert_true(m.present & STUN_HAS_FINGERPRINT);
  assert_null(stun_mapped(&m));
  /* UNKNOWN-ATTRIBUTES holds the first four: 20 + 4+24 + 4+8 + 8 */
  assert_int_equal(n, 68);
  assert_string_equal(tu_hex(b + 48, 12), "000a0008002400257fff0003");
  n = stun_encode_error(b, sizeof b, TID, 400, NULL, 0, 0);
  assert_int_equal(stun_decode(b, (size_t)n, &m), STUN_OK);
  assert_int_equal(m.error_code, 400);
  assert_int_equal(stun_encode_error(b, sizeof b, TID, 299, NULL, 0, 0), STUN_EATTR);
  assert_int_equal(stun_encode_error(b, sizeof b, TID, 700, NULL, 0, 0), STUN_EATTR);
  assert_int_equal(stun_encode_error(b, 30, TID, 420, unk, 1, 0), STUN_ESPACE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_vector),     cmocka_unit_test(test_response_vectors),
      cmocka_unit_test(test_rfc5769),            cmocka_unit_test(test_strict_header),
      cmocka_unit_test(test_strict_attributes),  cmocka_unit_test(test_attribute_order),
      cmocka_unit_test(test_change_request),     cmocka_unit_test(test_success_round_trip),
      cmocka_unit_test(test_error_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
