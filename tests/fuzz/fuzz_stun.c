/* libFuzzer target: the STUN codec and the STUN server function.
 *
 * The whole input is one datagram. It goes to stun_is_message and stun_decode (in a
 * buffer of its exact size, so ASan sees any read past it), and to stunsrv_answer on
 * each socket of an RFC 5780 server (two IPs, two ports) and of a wildcard-bound one.
 * Besides the sanitizers it checks that the recognizer and the decoder agree, that views
 * stay inside the input, that decoded addresses re-encode and decode to themselves, and
 * that an answer is only ever given to a Binding request, is a well-formed response with
 * its transaction id, and fits the bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "stun.h"
#include "stunsrv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_stun: %s\n", what);
  abort();
}

static int valid_addr(const sw_addr *a) { return a->family == 4 || a->family == 6; }

static void check_reencode(const stun_msg *m) {
  uint8_t out[STUN_MAX_RESPONSE];
  stun_msg back;
  const sw_addr *mapped = stun_mapped(m);
  if (!mapped) return;
  if (!valid_addr(mapped)) die("decoded address without a family");
  const sw_addr *origin = (m->present & STUN_HAS_ORIGIN) ? &m->origin : NULL;
  const sw_addr *other = (m->present & STUN_HAS_OTHER) ? &m->other : NULL;
  int n = stun_encode_success(out, sizeof out, m->tid, mapped, origin, other,
                              STUN_OPT_MAPPED | STUN_OPT_FINGERPRINT);
  if (n <= 0 || n > STUN_MAX_RESPONSE) die("re-encode failed");
  if (stun_decode(out, (size_t)n, &back) != STUN_OK) die("re-encoded message rejected");
  if (!addr_equal(&back.xor_mapped, mapped) || !addr_equal(&back.mapped, mapped))
    die("mapped address round trip");
  if (origin && !addr_equal(&back.origin, origin)) die("origin round trip");
  if (other && !addr_equal(&back.other, other)) die("other round trip");
  if (!stun_response_for(&back, m->tid)) die("re-encoded tid");
}

static void serve(const stunsrv_config *c, const uint8_t *buf, size_t len, int is_request,
                  const uint8_t *tid) {
  static const char *from_ip[2] = {"198.51.100.9", "2001:db8:9::9"};
  uint8_t out[STUN_MAX_RESPONSE + 1];
  for (unsigned f = 0; f < 2; f++) {
    sw_addr from;
    if (addr_parse_ip(&from, from_ip[f], 40000) != 0) die("harness address");
    for (unsigned ip = 0; ip < 2; ip++)
      for (unsigned port = 0; port < 2; port++) {
        stunsrv_route r;
        out[STUN_MAX_RESPONSE] = 0x5a;
        size_t n = stunsrv_answer(c, buf, len, &from, ip, port, out, STUN_MAX_RESPONSE, &r);
        if (out[STUN_MAX_RESPONSE] != 0x5a) die("server wrote past cap");
        if (n == 0) continue;
        if (!is_request) die("answered something that is not a Binding request");
        if (n > STUN_MAX_RESPONSE) die("answer over the bound");
        if (r.ip > 1 || r.port > 1) die("bad route");
        stun_msg m;
        if (stun_decode(out, n, &m) != STUN_OK) die("server answer does not decode");
        if (!stun_response_for(&m, tid)) die("server answer with another tid");
        if (m.cls == STUN_CLASS_SUCCESS) {
          const sw_addr *mapped = stun_mapped(&m);
          if (!mapped || !addr_equal(mapped, &from)) die("server maps to another address");
        } else if (m.error_code != 420) {
          die("server error other than 420");
        }
      }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);

  stun_msg m;
  int rc = stun_decode(buf, size, &m);
  int is = stun_is_message(buf, size);
  if ((rc == STUN_ENOTSTUN) == is) die("recognizer and decoder disagree");
  if (rc > 0 || rc < STUN_ESPACE) die("decoder returned an unknown code");
  int is_request = 0;
  if (rc == STUN_OK) {
    if (m.length + (size_t)STUN_HDR_LEN != size) die("length");
    if (m.present & STUN_HAS_ERROR) {
      if (m.error_code < 300 || m.error_code > 699) die("error code range");
      if (m.reason < buf || m.reason > buf + size || m.reason_len > size ||
          (size_t)(m.reason - buf) > size - m.reason_len)
        die("reason outside the message");
    }
    if (m.cls > 3 || m.method > 0xfff) die("class or method");
    check_reencode(&m);
    is_request = m.type == STUN_BINDING_REQUEST;
  }

  stunsrv_config c;
  memset(&c, 0, sizeof c);
  if (addr_parse_ip(&c.ip[0], "192.0.2.1", 0) || addr_parse_ip(&c.ip[1], "192.0.2.2", 0))
    die("harness address");
  c.port[0] = 3478;
  c.port[1] = 3479;
  c.opts = size & 1 ? STUNSRV_FINGERPRINT | STUNSRV_MAPPED : 0;
  serve(&c, buf, size, is_request, is_request ? m.tid : NULL);
  memset(&c, 0, sizeof c); /* bound to the wildcard, one port */
  c.port[0] = 3478;
  serve(&c, buf, size, is_request, is_request ? m.tid : NULL);
  free(buf);
  return 0;
}
