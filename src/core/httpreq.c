/* HTTP requests for modules: see httpreq.h. */
#include "httpreq.h"

#include <stdlib.h>
#include <string.h>

static void http_slot_free(http_slot *h) {
  free(h->url);
  free(h->ctype);
  free(h->body);
  memset(h, 0, sizeof *h);
}

int core_http(sw_core *c, const char *method, const char *url, const char *content_type,
              const uint8_t *body, size_t len, uint32_t timeout_ms, core_http_cb cb, void *ctx) {
  if (!method || strlen(method) >= sizeof c->http[0].method || !url || !cb) return SW_EINVAL;
  if (c->closing) return SW_ECLOSED;
  for (int i = 0; i < HTTP_MAX; i++) {
    http_slot *h = &c->http[i];
    if (h->state) continue;
    h->url = strdup(url);
    h->ctype = content_type ? strdup(content_type) : NULL;
    h->body = len ? malloc(len) : NULL;
    if (!h->url || (content_type && !h->ctype) || (len && !h->body)) {
      http_slot_free(h);
      return SW_ENOMEM;
    }
    if (len) memcpy(h->body, body, len);
    memcpy(h->method, method, strlen(method) + 1);
    h->len = len;
    h->timeout_ms = timeout_ms;
    h->cb = cb;
    h->ctx = ctx;
    c->http_next_id = c->http_next_id % 0x7fffffff + 1; /* 1 .. 2^31-1 */
    h->id = c->http_next_id;
    h->state = 1;
    return (int)h->id;
  }
  return SW_EFULL;
}

int sw_core_http_take(sw_core *c, sw_http_request *out) {
  for (int i = 0; i < HTTP_MAX; i++) {
    http_slot *h = &c->http[i];
    if (h->state != 1) continue;
    h->state = 2;
    out->id = h->id;
    out->method = h->method;
    out->url = h->url;
    out->content_type = h->ctype;
    out->body = h->body;
    out->len = h->len;
    out->timeout_ms = h->timeout_ms;
    return 1;
  }
  return 0;
}

void sw_core_http_done(sw_core *c, uint32_t id, int status, const uint8_t *body, size_t len,
                       uint64_t now) {
  c->last_now = now;
  for (int i = 0; i < HTTP_MAX; i++) {
    http_slot *h = &c->http[i];
    if (h->state != 2 || h->id != id) continue;
    core_http_cb cb = h->cb;
    void *ctx = h->ctx;
    http_slot_free(h); /* free first: the callback may ask for the next request */
    cb(ctx, status, body, len, now);
    return;
  }
}

void httpreq_free_all(sw_core *c) {
  for (int i = 0; i < HTTP_MAX; i++) http_slot_free(&c->http[i]);
}
