#include "outq.h"

#include <stdlib.h>
#include <string.h>

#include "setowire.h"

#define REC_ALIGN 8
#define WRAP_KIND 0xff

static size_t rec_size(size_t len) {
  return (sizeof(outq_rec) + len + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
}

int outq_init(outq *q, size_t cap) {
  memset(q, 0, sizeof *q);
  cap &= ~(size_t)(REC_ALIGN - 1);
  if (cap < 2 * rec_size(65536)) return SW_EINVAL;
  q->buf = malloc(cap);
  if (!q->buf) return SW_ENOMEM;
  q->cap = cap;
  return SW_OK;
}

void outq_free(outq *q) {
  free(q->buf);
  memset(q, 0, sizeof *q);
}

size_t outq_free_bytes(const outq *q) { return q->cap - q->used; }

/* The writer position is tail; records never straddle the end: when one does not fit
 * before the end, a wrap marker sends the reader back to 0. Room for a marker is always
 * kept at the end, and tail never catches up with head while records are queued, so
 * "tail == head" only ever means "empty". */
static int fits_at_end(const outq *q, size_t need) {
  return q->cap - q->tail >= need + sizeof(outq_rec);
}

uint8_t *outq_reserve(outq *q, size_t len) {
  size_t need = rec_size(len);
  if (!q->count) {
    q->head = q->tail = q->used = 0;
    return fits_at_end(q, need) ? q->buf + sizeof(outq_rec) : NULL;
  }
  if (q->tail > q->head) {
    if (fits_at_end(q, need)) return q->buf + q->tail + sizeof(outq_rec);
    return q->head > need ? q->buf + sizeof(outq_rec) : NULL;
  }
  return q->head - q->tail > need ? q->buf + q->tail + sizeof(outq_rec) : NULL;
}

void outq_commit(outq *q, uint32_t sock, const sw_addr *to, size_t len) {
  outq_commit_at(q, sock, to, len, 0);
}

void outq_commit_at(outq *q, uint32_t sock, const sw_addr *to, size_t len, uint64_t not_before) {
  size_t need = rec_size(len);
  if (q->count && q->tail > q->head && !fits_at_end(q, need)) {
    outq_rec *w = (outq_rec *)(q->buf + q->tail);
    w->kind = WRAP_KIND;
    w->len = 0;
    q->used += q->cap - q->tail;
    q->tail = 0;
  }
  outq_rec *r = (outq_rec *)(q->buf + q->tail);
  r->len = (uint32_t)len;
  r->kind = (uint8_t)(sock & 0xff);
  r->probe = (uint16_t)(sock >> 8);
  r->to = *to;
  r->not_before = not_before;
  q->tail += need;
  q->used += need;
  q->count++;
}

int outq_push(outq *q, uint32_t sock, const sw_addr *to, const uint8_t *data, size_t len) {
  return outq_push_at(q, sock, to, data, len, 0);
}

int outq_push_at(outq *q, uint32_t sock, const sw_addr *to, const uint8_t *data, size_t len,
                 uint64_t not_before) {
  uint8_t *p = outq_reserve(q, len);
  if (!p) return SW_EAGAIN;
  memcpy(p, data, len);
  outq_commit_at(q, sock, to, len, not_before);
  return SW_OK;
}

const outq_rec *outq_head(const outq *q) {
  size_t cursor = q->head;
  return outq_peek(q, &cursor);
}

const outq_rec *outq_peek(const outq *q, size_t *cursor) {
  size_t off = *cursor;
  if (!q->count) return NULL;
  const outq_rec *r = (const outq_rec *)(q->buf + off);
  if (r->kind == WRAP_KIND && r->len == 0) {
    off = 0;
    r = (const outq_rec *)q->buf;
  }
  *cursor = off + rec_size(r->len);
  return r;
}

void outq_pop(outq *q) {
  if (!q->count) return;
  const outq_rec *r = (const outq_rec *)(q->buf + q->head);
  if (r->kind == WRAP_KIND && r->len == 0) {
    q->used -= q->cap - q->head;
    q->head = 0;
    r = (const outq_rec *)q->buf;
  }
  size_t sz = rec_size(r->len);
  q->head += sz;
  q->used -= sz;
  q->count--;
  if (!q->count) q->head = q->tail = q->used = 0;
}
