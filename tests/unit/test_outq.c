/* The core's output ring: bounded, FIFO, records never split, and a full ring says so
 * (SW_EAGAIN / NULL) instead of growing or overwriting. */
#include <stdlib.h>
#include <string.h>

#include "outq.h"
#include "setowire.h"
#include "testutil.h"

#define BIG 65536
/* the size one record takes in the ring: header + payload, 8-byte aligned */
static size_t rec_bytes(size_t len) { return (sizeof(outq_rec) + len + 7) & ~(size_t)7; }

static void fill(uint8_t *p, size_t len, uint32_t tag) {
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(tag * 31 + i * 7 + (i >> 8));
}

static int check_fill(const uint8_t *p, size_t len, uint32_t tag) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != (uint8_t)(tag * 31 + i * 7 + (i >> 8))) return 0;
  return 1;
}

static sw_addr addr_n(uint32_t n) {
  sw_addr a;
  memset(&a, 0, sizeof a);
  a.family = 4;
  a.ip[0] = 10;
  memcpy(a.ip + 1, &n, 3);
  a.port = (uint16_t)(1000 + n);
  return a;
}

static int push_tagged(outq *q, uint32_t tag, size_t len) {
  static uint8_t buf[BIG];
  sw_addr a = addr_n(tag);
  fill(buf, len, tag);
  return outq_push(q, (uint8_t)(tag % 3), &a, buf, len);
}

static void expect_head(outq *q, uint32_t tag, size_t len) {
  size_t cur = q->head;
  const outq_rec *r = outq_peek(q, &cur);
  assert_non_null(r);
  assert_int_equal(r->len, len);
  assert_int_equal(r->kind, tag % 3);
  sw_addr a = addr_n(tag);
  assert_true(addr_equal(&r->to, &a));
  assert_true(check_fill(outq_rec_data(r), len, tag));
}

static void test_init_bounds(void **state) {
  (void)state;
  outq q;
  size_t min = 2 * rec_bytes(BIG);
  assert_int_equal(outq_init(&q, min - 8), SW_EINVAL);
  assert_int_equal(outq_init(&q, 0), SW_EINVAL);
  assert_int_equal(outq_init(&q, min), SW_OK);
  assert_int_equal(q.cap, min);
  assert_int_equal(outq_free_bytes(&q), min);
  assert_int_equal(q.count, 0);
  /* empty: peek finds nothing, pop does nothing */
  size_t cur = q.head;
  assert_null(outq_peek(&q, &cur));
  outq_pop(&q);
  assert_int_equal(q.count, 0);
  /* the largest record always fits an empty ring */
  assert_int_equal(push_tagged(&q, 1, BIG), SW_OK);
  expect_head(&q, 1, BIG);
  outq_free(&q);
  assert_null(q.buf);
  /* a capacity that is not a multiple of 8 is rounded down */
  assert_int_equal(outq_init(&q, min + 5), SW_OK);
  assert_int_equal(q.cap, min);
  outq_free(&q);
}

static void test_fill_to_full(void **state) {
  (void)state;
  outq q;
  const size_t cap = 1u << 20, len = 1000;
  assert_int_equal(outq_init(&q, cap), SW_OK);
  uint32_t n = 0;
  while (push_tagged(&q, n, len) == SW_OK) {
    n++;
    assert_true(n < 2000);
  }
  /* full means full: nearly every byte is in use (room for a wrap marker is kept) */
  assert_int_equal(q.count, n);
  assert_int_equal(n, (cap - sizeof(outq_rec)) / rec_bytes(len));
  assert_true(outq_free_bytes(&q) < rec_bytes(len) + sizeof(outq_rec));
  assert_null(outq_reserve(&q, len));
  size_t free_full = outq_free_bytes(&q);
  assert_int_equal(push_tagged(&q, 9999, len), SW_EAGAIN);
  assert_int_equal(q.count, n); /* a refused push changes nothing */
  assert_int_equal(outq_free_bytes(&q), free_full);
  /* FIFO, records intact */
  size_t cur = q.head;
  for (uint32_t i = 0; i < n; i++) {
    const outq_rec *r = outq_peek(&q, &cur);
    assert_int_equal(r->len, len);
    assert_true(check_fill(outq_rec_data(r), len, i));
  }
  /* the writer never catches up with the reader: one pop frees exactly one record's
   * room, which is not enough (tail == head would read as empty); two pops are */
  outq_pop(&q);
  assert_int_equal(push_tagged(&q, n, len), SW_EAGAIN);
  outq_pop(&q);
  assert_int_equal(push_tagged(&q, n, len), SW_OK); /* lands at the front: a wrap */
  assert_true(q.tail < q.head);
  assert_int_equal(push_tagged(&q, n + 1, len), SW_EAGAIN);
  for (uint32_t i = 2; i <= n; i++) {
    expect_head(&q, i, len);
    outq_pop(&q);
  }
  assert_int_equal(q.count, 0);
  assert_int_equal(outq_free_bytes(&q), cap);
  outq_free(&q);
}

static void test_reserve_commit(void **state) {
  (void)state;
  outq q;
  assert_int_equal(outq_init(&q, 1u << 18), SW_OK);
  sw_addr a = addr_n(5);
  uint8_t *p = outq_reserve(&q, 100);
  assert_non_null(p);
  /* reserving alone creates nothing */
  assert_int_equal(q.count, 0);
  fill(p, 100, 5);
  outq_commit(&q, 5 % 3, &a, 100);
  assert_int_equal(q.count, 1);
  /* a record may be committed shorter than reserved (the core knows the final size
   * only after sealing) */
  p = outq_reserve(&q, 500);
  fill(p, 60, 6);
  sw_addr b = addr_n(6);
  outq_commit(&q, 0, &b, 60);
  expect_head(&q, 5, 100);
  outq_pop(&q);
  size_t cur = q.head;
  const outq_rec *r = outq_peek(&q, &cur);
  assert_int_equal(r->len, 60);
  assert_true(check_fill(outq_rec_data(r), 60, 6));
  outq_pop(&q);
  assert_int_equal(q.count, 0);
  outq_free(&q);
}

static void test_big_records(void **state) {
  (void)state;
  outq q;
  /* the smallest ring holds one 64 KiB record at a time */
  assert_int_equal(outq_init(&q, 2 * rec_bytes(BIG)), SW_OK);
  for (uint32_t i = 0; i < 50; i++) {
    assert_int_equal(push_tagged(&q, i, BIG), SW_OK);
    assert_int_equal(push_tagged(&q, i + 1000, BIG), SW_EAGAIN);
    expect_head(&q, i, BIG);
    outq_pop(&q);
  }
  outq_free(&q);
  /* a 1 MiB ring: fifteen 64 KiB records, then FIFO through many wraps */
  assert_int_equal(outq_init(&q, 1u << 20), SW_OK);
  static size_t lens[512];
  uint32_t in = 0, out = 0;
  while (push_tagged(&q, in, BIG) == SW_OK) lens[in++] = BIG;
  assert_int_equal(in, ((1u << 20) - sizeof(outq_rec)) / rec_bytes(BIG));
  for (int round = 0; round < 200; round++) {
    expect_head(&q, out, lens[out]);
    outq_pop(&q);
    out++;
    /* sizes around the UDP limit */
    size_t len = round % 2 ? 65507 : BIG;
    if (push_tagged(&q, in, len) == SW_OK) {
      lens[in++] = len;
    } else {
      /* refusing is allowed only when the free bytes cannot hold it in one piece */
      assert_true(outq_free_bytes(&q) < 2 * rec_bytes(len) + sizeof(outq_rec));
    }
  }
  while (q.count) {
    size_t cur = q.head;
    const outq_rec *r = outq_peek(&q, &cur);
    assert_true(check_fill(outq_rec_data(r), r->len, out));
    outq_pop(&q);
    out++;
  }
  assert_int_equal(in, out);
  outq_free(&q);
}

/* Random sizes against a FIFO model: contents, order, addresses and kinds survive any
 * pattern of wraps; a push is refused only when the free space, split in the worst way
 * between the end and the front, cannot hold the record. */
static void test_random_against_model(void **state) {
  (void)state;
  enum { MAXM = 4096 };
  static uint32_t mtag[MAXM];
  static size_t mlen[MAXM];
  size_t mh = 0, mt = 0; /* model ring indices */
  tu_rng g = {2024};
  outq q;
  const size_t cap = 300000;
  assert_int_equal(outq_init(&q, cap), SW_OK);
  uint32_t tag = 0;
  unsigned refused = 0, wrapped = 0;
  for (int step = 0; step < 100000; step++) {
    uint64_t r = tu_rng_next(&g);
    int do_push = (r & 1) != 0 || mt == mh;
    if ((r >> 2) % 97 == 0) do_push = 0;
    if (do_push && mt - mh < MAXM) {
      size_t len;
      switch ((r >> 8) % 5) {
        case 0: len = (r >> 16) % 64; break;
        case 1: len = 1200 + (r >> 16) % 300; break;
        case 2: len = (r >> 16) % 9000; break;
        case 3: len = 60000 + (r >> 16) % 5537; break;
        default: len = (r >> 16) % 1500; break;
      }
      size_t before_tail = q.tail;
      size_t free_before = outq_free_bytes(&q);
      size_t count_before = q.count;
      int rc = push_tagged(&q, tag, len);
      if (rc == SW_OK) {
        mtag[mt % MAXM] = tag;
        mlen[mt % MAXM] = len;
        mt++;
        if (count_before && q.tail < before_tail) wrapped++;
        assert_int_equal(q.count, count_before + 1);
      } else {
        assert_int_equal(rc, SW_EAGAIN);
        assert_int_equal(q.count, count_before);
        assert_int_equal(outq_free_bytes(&q), free_before);
        refused++;
        if (free_before >= 2 * rec_bytes(len) + sizeof(outq_rec) + 1)
          fail_msg("step %d: refused %zu bytes with %zu free", step, len, free_before);
      }
      tag++;
    } else if (mt != mh) {
      expect_head(&q, mtag[mh % MAXM], mlen[mh % MAXM]);
      outq_pop(&q);
      mh++;
    }
    assert_int_equal(q.count, mt - mh);
    assert_true(q.used <= q.cap);
    /* every queued record, in order, with a cursor walk as the core's peek does */
    if (step % 97 == 0) {
      size_t cur = q.head;
      for (size_t k = mh; k < mt; k++) {
        const outq_rec *rec = outq_peek(&q, &cur);
        assert_non_null(rec);
        assert_int_equal(rec->len, mlen[k % MAXM]);
        assert_true(check_fill(outq_rec_data(rec), rec->len, mtag[k % MAXM]));
      }
    }
  }
  assert_true(refused > 100); /* the ring did fill up */
  assert_true(wrapped > 100); /* and wrapped */
  while (mt != mh) {
    expect_head(&q, mtag[mh % MAXM], mlen[mh % MAXM]);
    outq_pop(&q);
    mh++;
  }
  assert_int_equal(outq_free_bytes(&q), cap);
  outq_free(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_bounds),      cmocka_unit_test(test_fill_to_full),
      cmocka_unit_test(test_reserve_commit),   cmocka_unit_test(test_big_records),
      cmocka_unit_test(test_random_against_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
