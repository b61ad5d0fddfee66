/* Fake HTTP for module tests: take what the core asks for (sw_core_http_take), keep a
 * copy, answer it by hand (sw_core_http_done). Header-only, for test_httpboot.c and
 * test_piping.c. */
#ifndef SW_TEST_HTTPFAKE_H
#define SW_TEST_HTTPFAKE_H

#include <stdio.h>
#include <string.h>

#include "core.h"
#include "testutil.h"

#define HF_MAX 64

typedef struct hf_req {
  uint32_t id;
  char method[8], url[512], ctype[64], body[512];
  size_t len;
  uint32_t timeout_ms;
} hf_req;

/* Take every waiting request into out (up to HF_MAX); returns how many. */
static inline size_t hf_take(sw_core *c, hf_req *out) {
  sw_http_request r;
  size_t n = 0;
  while (n < HF_MAX && sw_core_http_take(c, &r)) {
    hf_req *q = &out[n++];
    memset(q, 0, sizeof *q);
    q->id = r.id;
    snprintf(q->method, sizeof q->method, "%s", r.method);
    snprintf(q->url, sizeof q->url, "%s", r.url);
    snprintf(q->ctype, sizeof q->ctype, "%s", r.content_type ? r.content_type : "");
    q->len = r.len < sizeof q->body - 1 ? r.len : sizeof q->body - 1;
    if (r.len) memcpy(q->body, r.body, q->len);
    q->timeout_ms = r.timeout_ms;
  }
  return n;
}

/* Index of the request with this method and URL among n, or -1. */
static inline int hf_find(const hf_req *r, size_t n, const char *method, const char *url) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(r[i].method, method) == 0 && strcmp(r[i].url, url) == 0) return (int)i;
  return -1;
}

static inline void hf_answer(sw_core *c, const hf_req *q, int status, const char *body,
                             uint64_t now) {
  sw_core_http_done(c, q->id, status, (const uint8_t *)body, body ? strlen(body) : 0, now);
}

/* Datagrams queued to ip:port (HELLOs of a dial); all queued datagrams are consumed. */
static inline size_t hf_sent_to(sw_core *c, const char *hostport, uint64_t now) {
  sw_addr want;
  assert_int_equal(addr_parse_hostport(&want, hostport), SW_OK);
  sw_dgram d[64];
  size_t n, hits = 0;
  while ((n = sw_core_out_peek(c, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++)
      if (addr_equal(d[i].to, &want)) hits++;
    sw_core_out_consume(c, n, now);
  }
  return hits;
}

/* Drop every queued datagram. */
static inline void hf_drain(sw_core *c, uint64_t now) {
  sw_dgram d[64];
  size_t n;
  while ((n = sw_core_out_peek(c, d, 64)) > 0) sw_core_out_consume(c, n, now);
}

#endif
