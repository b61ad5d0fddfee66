/* The delivery engine of the extended session (xport.h, docs/TRANSPORT-delivery.md). */
#include "xport.h"

#include <stdlib.h>
#include <string.h>

#include "setowire.h"

/* Flags of a sent-packet record. Only ack-eliciting packets are recorded: an ACK-only
 * packet is neither in flight nor retransmitted (RFC 9002 section 2). */
#define XS_WINDOW 1u /* carried a WINDOW frame: send the window again if lost */
#define XS_DONE 2u   /* acknowledged or lost: waiting to leave the ring */
#define XS_ACKED 4u  /* acknowledged (with XS_DONE) */
#define XS_FILL 8u   /* carried stream bytes below the highest acknowledged: the receiver
                        holds bytes beyond them, so it acknowledges this packet at once */

#define PROBES_PER_PTO 2 /* RFC 9002 section 6.2.4: one or two probes per expiry */

/* The integer ceiling of a non-negative double, without libm (the core links none). */
static uint64_t ceil_ms(double d) {
  if (!(d > 0)) return 0;
  uint64_t u = (uint64_t)d;
  return (double)u < d ? u + 1 : u;
}

/* ---- variable-length integers (RFC 9000 section 16) ---- */

size_t xport_varint_len(uint64_t v) {
  if (v < 64) return 1;
  if (v < 16384) return 2;
  if (v < (1u << 30)) return 4;
  if (v < (1ull << 62)) return 8;
  return 0;
}

size_t xport_varint_put(uint8_t *p, size_t cap, uint64_t v) {
  size_t n = xport_varint_len(v);
  if (!n || n > cap) return 0;
  static const uint8_t tag[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
  for (size_t i = n; i-- > 0;) {
    p[i] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
  p[0] |= tag[n];
  return n;
}

size_t xport_varint_get(const uint8_t *p, size_t len, uint64_t *v) {
  if (!len) return 0;
  size_t n = (size_t)1 << (p[0] >> 6);
  if (n > len) return 0;
  uint64_t r = p[0] & 0x3f;
  for (size_t i = 1; i < n; i++) r = (r << 8) | p[i];
  *v = r;
  return n;
}

/* ---- frame walk ---- */

typedef struct frame {
  uint8_t type;
  uint64_t a, b;        /* PING: -; ACK: largest, delay_us; WINDOW: max; MSG: offset, len;
                           DATAGRAM: len */
  uint64_t nranges;     /* ACK: ranges after the first */
  const uint8_t *body;  /* ACK: the first range and the rest; MSG/DATAGRAM: the data */
  size_t body_len;
} frame;

typedef struct reader {
  const uint8_t *p;
  size_t len, at;
} reader;

static int rd_var(reader *r, uint64_t *v) {
  size_t n = xport_varint_get(r->p + r->at, r->len - r->at, v);
  r->at += n;
  return n ? 0 : -1;
}

/* One ACK range walk: calls back with each [lo, hi], highest first. Fails when a range
 * would go below zero. */
typedef int (*range_fn)(void *ctx, uint64_t lo, uint64_t hi);

static int ack_walk(const frame *f, range_fn fn, void *ctx) {
  reader r = {f->body, f->body_len, 0};
  uint64_t first;
  if (rd_var(&r, &first) || first > f->a) return -1;
  uint64_t hi = f->a, lo = f->a - first;
  if (fn && fn(ctx, lo, hi)) return -1;
  for (uint64_t i = 0; i < f->nranges; i++) {
    uint64_t gap, rl;
    if (rd_var(&r, &gap) || rd_var(&r, &rl)) return -1;
    /* the next range ends gap + 2 below the previous one's low end */
    if (lo < 2 || gap > lo - 2) return -1;
    hi = lo - 2 - gap;
    if (rl > hi) return -1;
    lo = hi - rl;
    if (fn && fn(ctx, lo, hi)) return -1;
  }
  return r.at == r.len ? 0 : -1;
}

/* The next frame of buf at *at. 0, or -1 when it does not parse inside buf. */
static int next_frame(const uint8_t *buf, size_t len, size_t *at, frame *f) {
  reader r = {buf, len, *at};
  memset(f, 0, sizeof *f);
  f->type = buf[r.at++];
  switch (f->type) {
  case XPORT_F_PING:
    break;
  case XPORT_F_WINDOW:
    if (rd_var(&r, &f->a)) return -1;
    break;
  case XPORT_F_ACK: {
    if (rd_var(&r, &f->a) || rd_var(&r, &f->b) || rd_var(&r, &f->nranges)) return -1;
    if (f->nranges >= XPORT_ACK_RANGES) return -1;
    size_t start = r.at;
    uint64_t v;
    if (rd_var(&r, &v)) return -1;
    for (uint64_t i = 0; i < 2 * f->nranges; i++)
      if (rd_var(&r, &v)) return -1;
    f->body = buf + start;
    f->body_len = r.at - start;
    if (ack_walk(f, NULL, NULL)) return -1;
    break;
  }
  case XPORT_F_MSG:
    if (rd_var(&r, &f->a) || rd_var(&r, &f->b)) return -1;
    if (f->b > r.len - r.at) return -1;
    f->body = buf + r.at;
    f->body_len = (size_t)f->b;
    r.at += (size_t)f->b;
    break;
  case XPORT_F_PADDING:
    r.at = r.len; /* to the end of the plaintext */
    break;
  case XPORT_F_DATAGRAM:
  case XPORT_F_DIRECT_DATAGRAM:
    if (rd_var(&r, &f->a)) return -1;
    if (f->a > r.len - r.at) return -1;
    f->body = buf + r.at;
    f->body_len = (size_t)f->a;
    r.at += (size_t)f->a;
    break;
  default:
    return -1;
  }
  *at = r.at;
  return 0;
}

int xport_check(const uint8_t *buf, size_t len) {
  if (!buf || !len) return SW_EINVAL;
  size_t at = 0;
  frame f;
  while (at < len)
    if (next_frame(buf, len, &at, &f)) return SW_EINVAL;
  return SW_OK;
}

/* ---- bit maps over a ring (one bit per byte; ring sizes are multiples of 64) ---- */

typedef size_t (*word_op)(xport *x, size_t w, uint64_t mask);

/* op over the bits of [off, off + len): a partial first word, whole words in a plain
 * loop (a packet covers hundreds of them), a partial last word. Inlined where the
 * compiler can, so that op is inlined into the loop rather than called per word. */
#if defined(__GNUC__)
#define XPORT_INLINE inline __attribute__((always_inline))
#else
#define XPORT_INLINE inline
#endif
static XPORT_INLINE size_t over_words(xport *x, size_t ring, uint64_t off, uint64_t len, word_op op) {
  size_t n = 0;
  size_t p = (size_t)(off % ring); /* one division; then the position only advances */
  size_t b = p & 63;
  if (b && len) {
    uint64_t take = 64 - b < len ? 64 - b : len;
    n += op(x, p >> 6, (take == 64 ? ~0ull : ((1ull << take) - 1)) << b);
    p += (size_t)take;
    if (p == ring) p = 0;
    len -= take;
  }
  const size_t words = ring >> 6;
  size_t i = p >> 6; /* p is at a word's start now, or len is 0 */
  while (len >= 64) {
    uint64_t k = len >> 6;
    if (k > words - i) k = words - i; /* up to the ring's end */
    for (size_t e = i + (size_t)k; i < e; i++) n += op(x, i, ~0ull);
    len -= k << 6;
    if (i == words) i = 0;
  }
  if (len) n += op(x, i, (1ull << len) - 1);
  return n;
}

/* Most words counted hold no bit (nothing lost): skip the count, which without a
 * popcount instruction in the target is a library call. */
static size_t pop(uint64_t v) { return v ? (size_t)__builtin_popcountll(v) : 0; }

/* acknowledged: mark, and no longer to be sent again (the count is of no use) */
static size_t op_ack(xport *x, size_t w, uint64_t m) {
  x->snd_acked[w] |= m;
  x->lost_bytes -= pop(x->snd_lost[w] & m);
  x->snd_lost[w] &= ~m;
  return 0;
}
/* lost: to be sent again, unless acknowledged meanwhile */
static size_t op_lose(xport *x, size_t w, uint64_t m) {
  uint64_t add = m & ~x->snd_acked[w] & ~x->snd_lost[w];
  x->snd_lost[w] |= add;
  x->lost_bytes += pop(add);
  return pop(add);
}
static size_t op_unlose(xport *x, size_t w, uint64_t m) {
  size_t c = pop(x->snd_lost[w] & m);
  x->lost_bytes -= c;
  x->snd_lost[w] &= ~m;
  return c;
}
static size_t op_free(xport *x, size_t w, uint64_t m) {
  x->snd_acked[w] &= ~m;
  return 0;
}
static size_t op_have(xport *x, size_t w, uint64_t m) {
  x->rcv_have[w] |= m;
  return 0;
}
static size_t op_unhave(xport *x, size_t w, uint64_t m) {
  x->rcv_have[w] &= ~m;
  return 0;
}

/* How many bits from off on (at most limit) equal `want`. The runs are long (a buffer's
 * worth of acknowledged or received bytes once a gap fills, the distance to the next
 * lost byte): after the first partial word, whole words are compared in a tight loop. */
static uint64_t run_len(const uint64_t *map, size_t ring, uint64_t off, uint64_t limit, int want) {
  const uint64_t flip = want ? 0 : ~0ull; /* map ^ flip: ones where a bit equals want */
  const size_t words = ring >> 6;
  size_t p = (size_t)(off % ring); /* one division; then the position only advances */
  uint64_t n = 0;
  if (p & 63) {
    size_t b = p & 63;
    uint64_t w = (map[p >> 6] ^ flip) >> b; /* its top b bits are 0: a run ends there */
    uint64_t ones = (uint64_t)__builtin_ctzll(~w);
    if (ones < 64 - b) return ones < limit ? ones : limit;
    n = 64 - b;
    p += 64 - b;
    if (p == ring) p = 0;
  }
  size_t i = p >> 6;
  while (n < limit) {
    while (i + 4 <= words && n + 256 <= limit &&
           ((map[i] ^ flip) & (map[i + 1] ^ flip) & (map[i + 2] ^ flip) & (map[i + 3] ^ flip)) ==
               ~0ull) {
      i += 4; /* four words at a time while the run goes on */
      n += 256;
    }
    while (i < words && (map[i] ^ flip) == ~0ull && n < limit) {
      i++;
      n += 64;
    }
    if (n >= limit) break;
    if (i == words) { /* the ring wraps: go on from its start */
      i = 0;
      continue;
    }
    n += (uint64_t)__builtin_ctzll(~(map[i] ^ flip)); /* not all ones: the run ends here */
    break;
  }
  return n < limit ? n : limit;
}

static void ring_put(uint8_t *ring, size_t size, uint64_t off, const uint8_t *src, size_t len) {
  size_t p = (size_t)(off % size), first = size - p < len ? size - p : len;
  memcpy(ring + p, src, first);
  memcpy(ring, src + first, len - first);
}

static void ring_get(const uint8_t *ring, size_t size, uint64_t off, uint8_t *dst, size_t len) {
  size_t p = (size_t)(off % size), first = size - p < len ? size - p : len;
  memcpy(dst, ring + p, first);
  memcpy(dst + first, ring, len - first);
}

/* ---- datagram queues: records of a 2-byte length and the bytes, in a byte ring ---- */

/* The length's top bit marks a direct (unicast) datagram: queues are far under 32 KiB. */
#define FIFO_DIRECT 0x8000u

static int fifo_push(uint8_t *q, size_t cap, size_t head, size_t *used, const uint8_t *d,
                     size_t n, unsigned direct) {
  if (n > 0x7fff || 2 + n > cap - *used) return -1;
  size_t v = n | (direct ? FIFO_DIRECT : 0);
  uint8_t l[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  ring_put(q, cap, head + *used, l, 2);
  ring_put(q, cap, head + *used + 2, d, n);
  *used += 2 + n;
  return 0;
}

static size_t fifo_peek(const uint8_t *q, size_t cap, size_t head) {
  uint8_t l[2];
  ring_get(q, cap, head, l, 2);
  return ((size_t)l[0] << 8 | l[1]) & ~(size_t)FIFO_DIRECT;
}

static int fifo_direct(const uint8_t *q, size_t cap, size_t head) {
  uint8_t l[2];
  ring_get(q, cap, head, l, 2);
  return (l[0] & (FIFO_DIRECT >> 8)) != 0;
}

static void fifo_pop(const uint8_t *q, size_t cap, size_t *head, size_t *used, uint8_t *dst) {
  size_t n = fifo_peek(q, cap, *head);
  if (dst) ring_get(q, cap, *head + 2, dst, n);
  *head = (*head + 2 + n) % cap;
  *used -= 2 + n;
}

/* ---- setup ---- */

void xport_limits_default(xport_limits *l) {
  l->mtu = XPORT_MTU_DEFAULT;
  l->send_buf = XPORT_SEND_BUF_DEFAULT;
  l->recv_buf = XPORT_RECV_BUF_DEFAULT;
  l->buf_max = XPORT_GROW_MAX_DEFAULT;
  l->budget = NULL;
}

static size_t round64(size_t v) { return (v + 63) & ~(size_t)63; }

int xport_init(xport *x, const xport_limits *lim, const cc_ops *cc, uint64_t now) {
  memset(x, 0, sizeof *x);
  if (lim) x->lim = *lim;
  else xport_limits_default(&x->lim);
  if (x->lim.mtu < XPORT_MTU_MIN || x->lim.mtu > XPORT_MTU_MAX) return SW_EINVAL;
  if (x->lim.send_buf < XPORT_INITIAL_WINDOW || x->lim.send_buf > XPORT_BUF_MAX) return SW_EINVAL;
  if (x->lim.recv_buf < XPORT_INITIAL_WINDOW || x->lim.recv_buf > XPORT_BUF_MAX) return SW_EINVAL;
  if (x->lim.buf_max > XPORT_BUF_MAX) return SW_EINVAL;
  x->lim.send_buf = round64(x->lim.send_buf);
  x->lim.recv_buf = round64(x->lim.recv_buf);
  x->snd_ring = malloc(x->lim.send_buf);
  x->snd_acked = calloc(x->lim.send_buf / 64, sizeof(uint64_t));
  x->snd_lost = calloc(x->lim.send_buf / 64, sizeof(uint64_t));
  x->rcv_ring = malloc(x->lim.recv_buf);
  x->rcv_have = calloc(x->lim.recv_buf / 64, sizeof(uint64_t));
  if (!x->snd_ring || !x->snd_acked || !x->snd_lost || !x->rcv_ring || !x->rcv_have) {
    xport_free(x);
    return SW_ENOMEM;
  }
  cc_init(&x->cc, cc, now);
  x->snd_max = XPORT_INITIAL_WINDOW;
  x->rcv_adv = x->lim.recv_buf; /* more than the initial window: say so at once */
  x->window_dirty = x->rcv_adv > XPORT_INITIAL_WINDOW;
  x->loss_time = UINT64_MAX;
  x->pkt_thresh = XPORT_PKT_THRESHOLD;
  x->ack_deadline = UINT64_MAX;
  x->srtt = XPORT_INITIAL_RTT_MS;
  x->rttvar = XPORT_INITIAL_RTT_MS / 2;
  x->base_mtu = x->lim.mtu;
  x->rcv_mark_at = now;
  x->rcv_mark_adv = x->rcv_adv;
  return SW_OK;
}

void xport_free(xport *x) {
  if (x->lim.budget) x->lim.budget->used -= x->grown; /* the growth given back */
  x->grown = 0;
  free(x->snd_ring);
  free(x->snd_acked);
  free(x->snd_lost);
  free(x->rcv_ring);
  free(x->rcv_have);
  x->snd_ring = x->rcv_ring = NULL;
  x->snd_acked = x->snd_lost = x->rcv_have = NULL;
}

/* ---- buffers that grow (docs/TRANSPORT-delivery.md "Buffers that grow") ---- */

/* Copy the stream bytes [off, off + len) from a ring of os bytes to one of ns: each
 * byte goes from position off % os to off % ns. */
static void relay_bytes(const uint8_t *old, size_t os, uint8_t *nw, size_t ns, uint64_t off,
                        uint64_t len) {
  while (len) {
    size_t po = (size_t)(off % os), pn = (size_t)(off % ns);
    uint64_t n = len;
    if (n > os - po) n = os - po;
    if (n > ns - pn) n = ns - pn;
    memcpy(nw + pn, old + po, (size_t)n);
    off += n;
    len -= n;
  }
}

/* The same for a bit map (one bit per byte). Both sizes are multiples of 64, so a
 * byte's bit sits at the same place within its word in both maps. */
static void relay_bits(const uint64_t *old, size_t os, uint64_t *nw, size_t ns, uint64_t off,
                       uint64_t len) {
  while (len) {
    size_t po = (size_t)(off % os), pn = (size_t)(off % ns), b = po & 63;
    uint64_t take = 64 - b < len ? 64 - b : len;
    uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << b;
    nw[pn >> 6] |= old[po >> 6] & mask;
    off += take;
    len -= take;
  }
}

/* Whether a ring of `size` bytes may double: within buf_max, and the budget takes it
 * (then charged). */
static int grow_charge(xport *x, size_t size) {
  if (size > x->lim.buf_max / 2) return 0;
  xport_budget *b = x->lim.budget;
  if (b && (b->used > b->limit || size > b->limit - b->used)) {
    x->st.grows_refused++;
    return 0;
  }
  if (b) b->used += size;
  x->grown += size;
  return 1;
}

static void grow_refund(xport *x, size_t size) {
  if (x->lim.budget) x->lim.budget->used -= size;
  x->grown -= size;
  x->st.grows_refused++;
}

/* Double the send ring and its two maps, keeping [snd_base, snd_end) at its offsets.
 * 0, or -1 when it may not or the memory is not there (nothing changed then). */
static int snd_grow(xport *x) {
  size_t os = x->lim.send_buf, ns = 2 * os;
  if (!grow_charge(x, os)) return -1;
  uint8_t *ring = malloc(ns);
  uint64_t *acked = calloc(ns / 64, sizeof(uint64_t));
  uint64_t *lost = calloc(ns / 64, sizeof(uint64_t));
  if (!ring || !acked || !lost) {
    free(ring);
    free(acked);
    free(lost);
    grow_refund(x, os);
    return -1;
  }
  uint64_t len = x->snd_end - x->snd_base;
  relay_bytes(x->snd_ring, os, ring, ns, x->snd_base, len);
  relay_bits(x->snd_acked, os, acked, ns, x->snd_base, len);
  relay_bits(x->snd_lost, os, lost, ns, x->snd_base, len);
  free(x->snd_ring);
  free(x->snd_acked);
  free(x->snd_lost);
  x->snd_ring = ring;
  x->snd_acked = acked;
  x->snd_lost = lost;
  x->lim.send_buf = ns;
  x->st.send_grows++;
  return 0;
}

/* Double the receive ring and its map, keeping what arrived above rcv_read at its
 * offsets, and advertise the larger window at once. */
static int rcv_grow(xport *x) {
  size_t os = x->lim.recv_buf, ns = 2 * os;
  if (!grow_charge(x, os)) return -1;
  uint8_t *ring = malloc(ns);
  uint64_t *have = calloc(ns / 64, sizeof(uint64_t));
  if (!ring || !have) {
    free(ring);
    free(have);
    grow_refund(x, os);
    return -1;
  }
  uint64_t top = x->rcv_hi > x->rcv_contig ? x->rcv_hi : x->rcv_contig;
  relay_bytes(x->rcv_ring, os, ring, ns, x->rcv_read, top - x->rcv_read);
  relay_bits(x->rcv_have, os, have, ns, x->rcv_read, top - x->rcv_read);
  free(x->rcv_ring);
  free(x->rcv_have);
  x->rcv_ring = ring;
  x->rcv_have = have;
  x->lim.recv_buf = ns;
  x->st.recv_grows++;
  x->rcv_adv = x->rcv_read + ns;
  x->window_dirty = 1;
  return 0;
}

/* Send side: a stream write waits for room (want_room above 1: 1 is a datagram's) and
 * does not fit, while what holds the flow is our own ring: the peer's window reaches a
 * packet or more past its end, and the controller would let a packet more than its
 * unsent bytes leave. */
static void snd_autotune(xport *x) {
  size_t free_now = x->lim.send_buf - (size_t)(x->snd_end - x->snd_base);
  if (x->eng_room && free_now >= x->eng_room) x->eng_room = 0;
  size_t want = x->want_room > x->eng_room ? x->want_room : x->eng_room;
  if (want <= 1 || free_now >= want) return;
  if (x->snd_max < x->snd_end + x->lim.mtu) return;
  size_t room = cc_room(&x->cc);
  if (room < x->snd_end - x->snd_next + x->lim.mtu) return;
  snd_grow(x);
}

/* Receive side, once per packet: over an interval of at least XPORT_GROW_INTERVAL_MS
 * and two smoothed RTTs (the RTT counts a tick at least), when the peer filled the
 * window we had advertised when the interval began (its data reached within a packet
 * of it: our window, as the peer knew it, held the flow) and the application read at
 * least half the ring per minimum RTT (the reader did not: the ring is under twice
 * what the path holds at the rate it reads), double. */
static void rcv_autotune(xport *x, uint64_t now) {
  uint64_t rtt = ceil_ms(x->srtt), path = ceil_ms(x->min_rtt);
  if (rtt < 1) rtt = 1;
  if (path < 1) path = 1;
  uint64_t span = 2 * rtt > XPORT_GROW_INTERVAL_MS ? 2 * rtt : XPORT_GROW_INTERVAL_MS;
  if (now < x->rcv_mark_at + span) return;
  uint64_t read = x->rcv_read - x->rcv_mark_off, took = now - x->rcv_mark_at;
  if (x->rcv_filled && x->have_rtt && read * path * 2 >= (uint64_t)x->lim.recv_buf * took)
    rcv_grow(x);
  x->rcv_mark_at = now;
  x->rcv_mark_off = x->rcv_read;
  x->rcv_mark_adv = x->rcv_adv;
  x->rcv_filled = 0;
}

/* ---- sending ---- */

void xport_want_room(xport *x, size_t len) {
  if (x->eng_room < len) x->eng_room = len;
  snd_autotune(x);
}

size_t xport_dgram_max(const xport *x) {
  /* the base size: a datagram queued now must still fit after a fall back to it */
  size_t m = x->base_mtu - 1 - xport_varint_len(x->base_mtu);
  return m < XPORT_DGRAM_QUEUE - 2 ? m : XPORT_DGRAM_QUEUE - 2;
}

static size_t snd_free(const xport *x) {
  return x->lim.send_buf - (size_t)(x->snd_end - x->snd_base);
}

/* One stream entry: the prefix (kind base + length), hdr, then data. */
static int stream_put(xport *x, size_t kind, const void *hdr, size_t hlen, const void *data,
                      size_t len) {
  uint8_t pre[8];
  size_t body = hlen + len;
  size_t pl = xport_varint_put(pre, sizeof pre, kind + body);
  if (pl + body > snd_free(x)) {
    size_t waiting = x->want_room;
    x->want_room = pl + body;
    snd_autotune(x); /* our own ring may be what holds the flow: then it grows */
    if (pl + body > snd_free(x)) return SW_EAGAIN;
    x->want_room = waiting;
  }
  ring_put(x->snd_ring, x->lim.send_buf, x->snd_end, pre, pl);
  if (hlen) ring_put(x->snd_ring, x->lim.send_buf, x->snd_end + pl, hdr, hlen);
  if (len) ring_put(x->snd_ring, x->lim.send_buf, x->snd_end + pl + hlen, data, len);
  x->snd_end += pl + body;
  x->st.msgs_sent++;
  x->st.bytes_sent += body;
  return SW_OK;
}

int xport_send(xport *x, const void *data, size_t len, unsigned flags, uint64_t now) {
  (void)now;
  if (len && !data) return SW_EINVAL;
  unsigned direct = (flags & XPORT_DIRECT) != 0;
  if (!(flags & XPORT_RELIABLE)) {
    if (len > xport_dgram_max(x)) return SW_EMSGSIZE;
    if (fifo_push(x->dq, sizeof x->dq, x->dq_head, &x->dq_len, data, len, direct)) {
      x->want_room = x->want_room ? x->want_room : 1;
      return SW_EAGAIN;
    }
    x->st.dgrams_sent++;
    return SW_OK;
  }
  if (len > XPORT_MAX_MSG) return SW_EMSGSIZE;
  uint32_t kind = flags & XPORT_ENGINE ? XPORT_ENTRY_ENGINE : direct ? XPORT_ENTRY_DIRECT : 0;
  return stream_put(x, kind, NULL, 0, data, len);
}

int xport_send_origin(xport *x, const uint8_t *hdr, const void *data, size_t len,
                      uint64_t now) {
  (void)now;
  if (!hdr || (len && !data)) return SW_EINVAL;
  if (len > XPORT_ORIGIN_MAX_MSG) return SW_EMSGSIZE;
  return stream_put(x, XPORT_ENTRY_ORIGIN, hdr, XPORT_ORIGIN_HDR, data, len);
}

int xport_send_signed(xport *x, const uint8_t *hdr, const void *data, size_t len,
                      uint64_t now) {
  (void)now;
  if (!hdr || (len && !data)) return SW_EINVAL;
  if (len > XPORT_SIGNED_MAX_MSG) return SW_EMSGSIZE;
  return stream_put(x, XPORT_ENTRY_SIGNED, hdr, XPORT_SIGNED_HDR, data, len);
}

int xport_writable(xport *x) {
  int w = x->writable;
  x->writable = 0;
  return w;
}

static void check_writable(xport *x) {
  if (!x->want_room) return;
  /* a refused datagram (want_room 1) waits for the datagram queue to drain to half */
  int dgram_ok = x->dq_len <= sizeof x->dq / 2;
  if (snd_free(x) >= x->want_room && dgram_ok) {
    x->want_room = 0;
    x->writable = 1;
  }
}

static uint64_t snd_limit(const xport *x) {
  return x->snd_end < x->snd_max ? x->snd_end : x->snd_max;
}

static int has_eliciting(const xport *x) {
  return x->window_dirty || x->ping_pending || x->dq_len || x->lost_bytes || x->probes > 0 ||
         x->snd_next < snd_limit(x);
}

static int ack_due(const xport *x, uint64_t now) {
  if (!x->ack_eliciting_rx) return 0;
  return x->ack_now || x->ack_eliciting_rx >= XPORT_ACK_EVERY || now >= x->ack_deadline;
}

static int may_elicit(const xport *x, uint64_t now) {
  if (!has_eliciting(x) || x->sent_count >= XPORT_MAX_SENT) return 0;
  if (x->probes > 0) return 1; /* RFC 9002 section 7.5: probes ignore the window */
  return cc_room(&x->cc) > 0 && cc_next_send(&x->cc, now) <= now;
}

static xport_sent *rec(xport *x, size_t i) {
  return &x->sent[(x->sent_tail + i) % XPORT_MAX_SENT];
}

static size_t put_ack(xport *x, uint64_t now, uint8_t *p, size_t cap) {
  const xport_range *r = x->ack;
  uint64_t delay_us = (now - x->largest_rx_at) * 1000;
  uint8_t tmp[16 + 16 * XPORT_ACK_RANGES];
  size_t n = 0, count_at;
  tmp[n++] = XPORT_F_ACK;
  n += xport_varint_put(tmp + n, sizeof tmp - n, r[0].hi);
  n += xport_varint_put(tmp + n, sizeof tmp - n, delay_us);
  count_at = n++;
  n += xport_varint_put(tmp + n, sizeof tmp - n, r[0].hi - r[0].lo);
  if (n > cap) return 0;
  size_t used = 0;
  for (size_t i = 1; i < x->nack; i++) {
    uint8_t one[16];
    size_t k = xport_varint_put(one, sizeof one, r[i - 1].lo - r[i].hi - 2);
    k += xport_varint_put(one + k, sizeof one - k, r[i].hi - r[i].lo);
    if (n + k > cap) break; /* the oldest ranges wait for a later ACK */
    memcpy(tmp + n, one, k);
    n += k;
    used++;
  }
  tmp[count_at] = (uint8_t)used; /* < XPORT_ACK_RANGES < 64: a one-byte varint */
  memcpy(p, tmp, n);
  return n;
}

/* A stream frame of [off, off + take) where take is at most want and fits in cap. */
static size_t put_msg(xport *x, uint8_t *p, size_t cap, uint64_t off, uint64_t want,
                      uint64_t *took) {
  size_t hdr = 1 + xport_varint_len(off) + xport_varint_len(cap);
  if (cap <= hdr) return 0;
  uint64_t take = want < cap - hdr ? want : cap - hdr;
  size_t n = 0;
  p[n++] = XPORT_F_MSG;
  n += xport_varint_put(p + n, cap - n, off);
  n += xport_varint_put(p + n, cap - n, take);
  if (x->segs) { /* xport_build_v: say where they are, p's room stays as it is */
    size_t at = (size_t)(p + n - x->segs_base), q = (size_t)(off % x->lim.send_buf);
    size_t first = x->lim.send_buf - q < take ? x->lim.send_buf - q : (size_t)take;
    x->segs[x->nsegs++] = (xseg){at, x->snd_ring + q, first};
    if (take > first) x->segs[x->nsegs++] = (xseg){at + first, x->snd_ring, (size_t)take - first};
  } else {
    ring_get(x->snd_ring, x->lim.send_buf, off, p + n, (size_t)take);
  }
  *took = take;
  return n + (size_t)take;
}

/* The first lost run at or after the hint: its offset and length, or 0. */
static uint64_t lost_run(xport *x, uint64_t *off) {
  if (!x->lost_bytes) return 0;
  uint64_t s = x->lost_hint > x->snd_base ? x->lost_hint : x->snd_base;
  if (s >= x->snd_next) s = x->snd_base;
  uint64_t skip = run_len(x->snd_lost, x->lim.send_buf, s, x->snd_next - s, 0);
  if (s + skip >= x->snd_next && s > x->snd_base) {
    s = x->snd_base; /* the hint was too high: look from the start once */
    skip = run_len(x->snd_lost, x->lim.send_buf, s, x->snd_next - s, 0);
  }
  s += skip;
  x->lost_hint = s;
  if (s >= x->snd_next) return 0;
  *off = s;
  return run_len(x->snd_lost, x->lim.send_buf, s, x->snd_next - s, 1);
}

/* ---- packet size search (RFC 8899, DPLPMTUD; xport_pmtu_path) ---- */

static const size_t pmtu_steps[] = XPORT_PMTU_STEPS;
#define PMTU_NSTEPS (sizeof pmtu_steps / sizeof pmtu_steps[0])

/* The size to probe next, from step probe_step on: 0 when none is left. */
static size_t probe_target(const xport *x) {
  for (size_t i = x->probe_step; i < PMTU_NSTEPS; i++)
    if (pmtu_steps[i] <= x->pmtu_max && pmtu_steps[i] > x->lim.mtu) return pmtu_steps[i];
  return 0;
}

void xport_pmtu_path(xport *x, uint64_t path, size_t max, uint64_t now) {
  if (max > XPORT_MTU_MAX) max = XPORT_MTU_MAX;
  if (path == x->pmtu_path && max == x->pmtu_max) return;
  x->pmtu_path = path;
  x->pmtu_max = max;
  x->lim.mtu = x->base_mtu; /* nothing above the base before a probe on this path */
  x->probe_out = 0;
  x->probe_fails = x->probe_step = 0;
  x->probe_next_at = now;
}

static int probe_due(const xport *x, uint64_t now, size_t cap) {
  if (!x->pmtu_max || x->probe_out || now < x->probe_next_at) return 0;
  size_t t = probe_target(x);
  return t && t <= cap;
}

static void probe_acked(xport *x) {
  x->lim.mtu = x->probe_size; /* the largest left: the search is over */
  x->probe_out = 0;
  x->probe_fails = 0;
  x->probe_step = PMTU_NSTEPS;
}

/* RFC 8899 section 4.4: a lost probe says nothing of congestion, only of its size. */
static void probe_lost(xport *x, uint64_t now) {
  x->probe_out = 0;
  x->st.pmtu_probes_lost++;
  if (++x->probe_fails < XPORT_PMTU_TRIES) return;
  x->probe_fails = 0;
  while (x->probe_step < PMTU_NSTEPS && pmtu_steps[x->probe_step] >= x->probe_size)
    x->probe_step++;
  if (!probe_target(x)) {
    x->probe_step = 0; /* nothing carried: again later, from the top */
    x->probe_next_at = now + XPORT_PMTU_RETRY_MS;
  }
}

/* RFC 8899 section 4.3: packets of the size found stop arriving. */
static void pmtu_blackhole(xport *x, uint64_t now) {
  if (x->lim.mtu <= x->base_mtu) return;
  x->lim.mtu = x->base_mtu;
  x->probe_out = 0;
  x->probe_fails = x->probe_step = 0;
  x->probe_next_at = now + XPORT_PMTU_BLACKHOLE_MS;
  x->st.pmtu_blackholes++;
}

static uint64_t pto_period(const xport *x);

static uint64_t probe_deadline(const xport *x) {
  return x->probe_out ? x->probe_sent_at + pto_period(x) : UINT64_MAX;
}

size_t xport_build(xport *x, uint64_t now, uint8_t *buf, size_t cap, uint64_t *pn) {
  size_t mtu = cap < x->lim.mtu ? cap : x->lim.mtu;
  if (!buf || mtu < XPORT_MTU_MIN) return 0;
  snd_autotune(x); /* a write refused since the last build (xsession_room) */
  /* Nothing to send though the controller may have room, and the application is not
   * waiting for send buffer (a full buffer limits like a window, and its samples are the
   * path's): the controller's rate samples are marked application-limited. */
  if (!has_eliciting(x) && !x->want_room && !x->eng_room) cc_on_app_limited(&x->cc);
  /* The repeated ACK carries the window again: the sender waits on that as much, and an
   * ACK-only packet would be the newest the sender acknowledges, so this side (the
   * receiver of a one-way flow, whose other packets are all ACK-only) would never get
   * an RTT sample, and its window growth measures in round trips (TRANSPORT-delivery.md
   * "Buffers that grow"). */
  if (x->ack_repeat) x->window_dirty = 1;
  int due = ack_due(x, now) || x->ack_repeat, elicit = may_elicit(x, now);
  if (!due && !elicit) return 0;
  size_t n = 0;
  if (x->nack && (due || x->ack_changed)) {
    /* One ACK that stands for two or more the receiver would have sent had it seen the
     * packets one by one (a batch read at once: on a fast path the whole window arrives
     * in one system call and is answered by one ACK) goes twice, in two packets: the
     * sender's window waits on it, and its loss would leave the sender idle until a
     * probe timeout (issue 10: at 10 % loss, a tenth of the round trips). */
    if (x->ack_repeat) x->ack_repeat = 0;
    else if (x->ack_eliciting_rx >= 2 * XPORT_ACK_EVERY) x->ack_repeat = 1;
    n += put_ack(x, now, buf, mtu);
    x->ack_eliciting_rx = 0;
    x->ack_deadline = UINT64_MAX;
    x->ack_now = 0;
    x->ack_changed = 0;
  }
  if (elicit && probe_due(x, now, cap)) {
    /* A size probe: PING and padding, nothing else, so that its loss costs no data. It
     * is not in flight for the controller and not a sent record: only its
     * acknowledgement, or its absence for a probe period, is looked at. */
    size_t t = probe_target(x);
    buf[n++] = XPORT_F_PING;
    buf[n++] = XPORT_F_PADDING;
    memset(buf + n, 0, t - n);
    n = t;
    *pn = x->next_pn++;
    x->st.packets_sent++;
    x->st.pmtu_probes++;
    x->probe_out = 1;
    x->probe_size = t;
    x->probe_pn = *pn;
    x->probe_sent_at = now;
    return n;
  }
  xport_sent r;
  memset(&r, 0, sizeof r);
  size_t start = n;
  if (elicit) {
    if (x->window_dirty && mtu - n >= 1 + xport_varint_len(x->rcv_adv)) {
      buf[n++] = XPORT_F_WINDOW;
      n += xport_varint_put(buf + n, mtu - n, x->rcv_adv);
      x->window_dirty = 0;
      r.flags |= XS_WINDOW;
    }
    while (x->dq_len) {
      size_t dl = fifo_peek(x->dq, sizeof x->dq, x->dq_head);
      if (mtu - n < 1 + xport_varint_len(dl) + dl) break;
      buf[n++] = fifo_direct(x->dq, sizeof x->dq, x->dq_head) ? XPORT_F_DIRECT_DATAGRAM
                                                               : XPORT_F_DATAGRAM;
      n += xport_varint_put(buf + n, mtu - n, dl);
      fifo_pop(x->dq, sizeof x->dq, &x->dq_head, &x->dq_len, buf + n);
      n += dl;
    }
    uint64_t off, run, took;
    while (r.nranges < XPORT_PKT_RANGES && (run = lost_run(x, &off)) > 0) {
      size_t k = put_msg(x, buf + n, mtu - n, off, run, &took);
      if (!k) break;
      n += k;
      over_words(x, x->lim.send_buf, off, took, op_unlose);
      x->st.retransmitted_bytes += took;
      if (off < x->snd_acked_hi) r.flags |= XS_FILL;
      r.off[r.nranges] = off;
      r.len[r.nranges++] = (uint32_t)took;
    }
    while (r.nranges < XPORT_PKT_RANGES && x->snd_next < snd_limit(x)) {
      size_t k = put_msg(x, buf + n, mtu - n, x->snd_next, snd_limit(x) - x->snd_next, &took);
      if (!k) break;
      n += k;
      r.off[r.nranges] = x->snd_next;
      r.len[r.nranges++] = (uint32_t)took;
      x->snd_next += took;
    }
    if (n == start && (x->probes > 0 || x->ping_pending) && mtu - n >= 1)
      buf[n++] = XPORT_F_PING; /* a probe with nothing else to carry, or a PING asked */
    x->ping_pending = 0;
    check_writable(x);
  }
  if (!n) return 0;
  *pn = x->next_pn++;
  x->st.packets_sent++;
  if (n > start) {
    r.pn = *pn;
    r.sent_at = now;
    r.bytes = (uint32_t)n;
    cc_on_packet_sent(&x->cc, n, now, &r.rate);
    *rec(x, x->sent_count++) = r;
    x->eliciting_out++;
    x->last_eliciting_at = now;
    if (x->probes > 0) x->probes--;
  }
  return n;
}

size_t xport_build_v(xport *x, uint64_t now, uint8_t *buf, size_t cap, uint64_t *pn, xseg *segs,
                     size_t *nsegs) {
  x->segs = segs;
  x->segs_base = buf;
  x->nsegs = 0;
  size_t n = xport_build(x, now, buf, cap, pn);
  *nsegs = n ? x->nsegs : 0;
  x->segs = NULL;
  x->segs_base = NULL;
  return n;
}

/* ---- acknowledgements and loss ---- */

static void compact(xport *x) {
  while (x->sent_count && (rec(x, 0)->flags & XS_DONE)) {
    x->sent_tail = (x->sent_tail + 1) % XPORT_MAX_SENT;
    x->sent_count--;
  }
}

static void lose(xport *x, xport_sent *r, uint64_t now) {
  for (size_t i = 0; i < r->nranges; i++) {
    /* bytes below snd_base are acknowledged and freed already */
    uint64_t off = r->off[i], end = off + r->len[i];
    if (end <= x->snd_base) continue;
    if (off < x->snd_base) off = x->snd_base;
    over_words(x, x->lim.send_buf, off, end - off, op_lose);
    if (off < x->lost_hint) x->lost_hint = off;
  }
  if (r->flags & XS_WINDOW) x->window_dirty = 1;
  r->flags |= XS_DONE;
  x->eliciting_out--;
  x->st.packets_lost++;
  cc_on_packet_lost(&x->cc, r->bytes, r->sent_at, now);
}

static uint64_t loss_delay(const xport *x) {
  double rtt = x->srtt > x->latest_rtt ? x->srtt : x->latest_rtt;
  uint64_t d = ceil_ms(rtt * (XPORT_TIME_NUM + x->time_extra) / XPORT_TIME_DEN);
  return d < XPORT_GRANULARITY_MS ? XPORT_GRANULARITY_MS : d;
}

/* RFC 9002 section 6.2.1: smoothed + max(4 x variation, granularity) + the peer's
 * maximum ack delay, with or without that delay. */
static uint64_t pto_of(const xport *x, uint64_t ack_delay) {
  double rv = 4 * x->rttvar;
  return ceil_ms(x->srtt + (rv > XPORT_GRANULARITY_MS ? rv : XPORT_GRANULARITY_MS) +
                 (double)ack_delay);
}

/* The full probe period: persistent congestion, size probes, black holes. */
static uint64_t pto_period(const xport *x) { return pto_of(x, XPORT_MAX_ACK_DELAY_MS); }

/* What the probe timer waits. The peer's ack delay counts only when the peer may use
 * it: a receiver acknowledges at once every second ack-eliciting packet and any packet
 * out of order, so while two or more are outstanding, those that arrive are acknowledged
 * without delay (the reasoning of TCP's tail loss probe, RFC 8985 section 7.2, which adds
 * the delayed-ACK allowance only with one segment in flight). On a path whose round trip
 * is far below the clock's ms the full period is 11 ms, a hundred round trips: an
 * acknowledgement lost there cost that much idle time each time (issue 10, 10 % loss). A
 * probe sent early because the one packet that arrived waits for its delayed ACK costs
 * that probe and nothing else: the probe's arrival makes the ACK immediate. */
static int acked_at_once(const xport *x) {
  if (x->eliciting_out >= XPORT_ACK_EVERY) return 1;
  /* one outstanding: at once if it fills a gap in the stream or repeats bytes */
  for (size_t i = x->sent_count; i-- > 0;) {
    const xport_sent *r = &x->sent[(x->sent_tail + i) % XPORT_MAX_SENT];
    if (!(r->flags & XS_DONE)) return (r->flags & XS_FILL) != 0;
  }
  return 0;
}

static uint64_t pto_wait(const xport *x) {
  return pto_of(x, acked_at_once(x) ? 0 : XPORT_MAX_ACK_DELAY_MS);
}

/* Reordering (xport.h XPORT_LOST_RECENT): note a loss, so that its acknowledgement, if
 * one comes, can show it was only late. Losses are declared in packet-number order, so
 * the ring stays sorted. */
static void remember_lost(xport *x, uint64_t pn, uint64_t dist, int by_time) {
  size_t i = (x->lost_head + x->lost_n) % XPORT_LOST_RECENT;
  if (x->lost_n == XPORT_LOST_RECENT) x->lost_head = (x->lost_head + 1) % XPORT_LOST_RECENT;
  else x->lost_n++;
  x->lost_recent[i].pn = pn;
  x->lost_recent[i].dist = dist > UINT32_MAX ? UINT32_MAX : (uint32_t)dist;
  x->lost_recent[i].by_time = (uint8_t)by_time;
  x->lost_recent[i].live = 1;
}

/* An acknowledgement for [lo, hi] covers packets declared lost: they were reordered, not
 * lost. Wait longer before the next such verdict (RFC 8985 section 6.2). The bytes they
 * carried went again already; that costs bandwidth once, the wider thresholds keep it
 * from recurring. */
static void spurious_check(xport *x, uint64_t lo, uint64_t hi) {
  /* the first at or above lo (the ring is sorted): an ACK has up to XPORT_ACK_RANGES
   * ranges, each looked up here, so no walk through the older losses */
  size_t a = 0, b = x->lost_n;
  while (a < b) {
    size_t mid = (a + b) / 2;
    if (x->lost_recent[(x->lost_head + mid) % XPORT_LOST_RECENT].pn < lo) a = mid + 1;
    else b = mid;
  }
  for (size_t k = a; k < x->lost_n; k++) {
    size_t i = (x->lost_head + k) % XPORT_LOST_RECENT;
    if (x->lost_recent[i].pn > hi) break;
    if (!x->lost_recent[i].live) continue;
    x->lost_recent[i].live = 0;
    x->st.packets_spurious++;
    uint64_t want = (uint64_t)x->lost_recent[i].dist + 1;
    if (want > XPORT_REORDER_PKTS_MAX) want = XPORT_REORDER_PKTS_MAX;
    if (want > x->pkt_thresh) x->pkt_thresh = (unsigned)want;
    if (x->lost_recent[i].by_time && x->time_extra < XPORT_REORDER_TIME_MAX) x->time_extra++;
    x->reo_persist = XPORT_REORDER_PERSIST;
  }
}

/* Losses were declared: a round trip of them without a spurious one brings the
 * thresholds nearer to RFC 9002's (XPORT_REORDER_PERSIST), so that a path reordered once
 * does not detect its real losses late for the rest of the session. */
static void reorder_decay(xport *x, uint64_t now) {
  if (!x->reo_persist || now < x->reo_round_at) return;
  uint64_t rtt = ceil_ms(x->srtt);
  x->reo_round_at = now + (rtt ? rtt : 1);
  if (--x->reo_persist) return;
  x->pkt_thresh = XPORT_PKT_THRESHOLD;
  x->time_extra = 0;
}

/* RFC 9002 section 6.1: a packet older than the largest acknowledged is lost once
 * kPacketThreshold newer ones were acknowledged or kTimeThreshold RTTs passed. Section
 * 7.6: when the packets lost now span more than 3 probe periods with none acknowledged
 * in between, and an RTT sample exists, the congestion is persistent. */
static void detect_lost(xport *x, uint64_t now) {
  x->loss_time = UINT64_MAX;
  if (!x->have_acked) return;
  uint64_t delay = loss_delay(x);
  uint64_t span = pto_period(x) * XPORT_PERSISTENT_PTOS;
  int in_run = 0, persistent = 0, any = 0;
  uint64_t run_start = 0;
  for (size_t i = 0; i < x->sent_count; i++) {
    xport_sent *r = rec(x, i);
    if (r->pn > x->largest_acked) break;
    if (r->flags & XS_DONE) {
      if (r->flags & XS_ACKED) in_run = 0; /* an acknowledgement in between breaks a run */
      continue;
    }
    uint64_t dist = x->largest_acked - r->pn;
    if (dist >= x->pkt_thresh || r->sent_at + delay <= now) {
      remember_lost(x, r->pn, dist, dist < x->pkt_thresh);
      if (!in_run) {
        in_run = 1;
        run_start = r->sent_at;
      } else if (r->sent_at - run_start > span) {
        persistent = 1;
      }
      lose(x, r, now);
      any = 1;
    } else if (r->sent_at + delay < x->loss_time) {
      x->loss_time = r->sent_at + delay;
    }
  }
  compact(x);
  if (any) reorder_decay(x, now);
  if (persistent && x->have_rtt) {
    x->st.persistent++;
    cc_on_persistent_congestion(&x->cc, now);
    pmtu_blackhole(x, now);
  }
}

/* RFC 9002 section 5.3. */
static void rtt_update(xport *x, double latest, double ack_delay) {
  x->latest_rtt = latest;
  if (!x->have_rtt) {
    x->have_rtt = 1;
    x->min_rtt = x->srtt = latest;
    x->rttvar = latest / 2;
    return;
  }
  if (latest < x->min_rtt) x->min_rtt = latest;
  if (ack_delay > XPORT_MAX_ACK_DELAY_MS) ack_delay = XPORT_MAX_ACK_DELAY_MS;
  double adj = latest >= x->min_rtt + ack_delay ? latest - ack_delay : latest;
  x->rttvar = 0.75 * x->rttvar + 0.25 * (x->srtt > adj ? x->srtt - adj : adj - x->srtt);
  x->srtt = 0.875 * x->srtt + 0.125 * adj;
}

typedef struct ack_ctx {
  xport *x;
  uint64_t now;
  double ack_delay_ms;
  int new_largest, any;
} ack_ctx;

static size_t first_at_or_above(xport *x, uint64_t pn) {
  size_t lo = 0, hi = x->sent_count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (rec(x, mid)->pn < pn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int ack_range(void *ctx, uint64_t lo, uint64_t hi) {
  ack_ctx *a = ctx;
  xport *x = a->x;
  if (x->probe_out && x->probe_pn >= lo && x->probe_pn <= hi) probe_acked(x);
  if (x->lost_n) spurious_check(x, lo, hi);
  for (size_t i = first_at_or_above(x, lo); i < x->sent_count; i++) {
    xport_sent *r = rec(x, i);
    if (r->pn > hi) break;
    if (r->flags & XS_DONE) continue;
    double sample = -1;
    if (a->new_largest && r->pn == x->largest_acked) {
      sample = (double)(a->now - r->sent_at);
      rtt_update(x, sample, a->ack_delay_ms);
    }
    for (size_t k = 0; k < r->nranges; k++) {
      uint64_t off = r->off[k], end = off + r->len[k];
      if (end <= x->snd_base) continue;
      if (off < x->snd_base) off = x->snd_base;
      if (off == x->snd_base && x->snd_acked_hi <= off && !x->lost_bytes) {
        /* the oldest bytes, nothing acknowledged beyond them, nothing to resend: free
         * them at once, without a bit set, scanned and cleared */
        x->snd_base = x->snd_acked_hi = end;
        continue;
      }
      over_words(x, x->lim.send_buf, off, end - off, op_ack);
      if (end > x->snd_acked_hi) x->snd_acked_hi = end;
    }
    r->flags |= XS_DONE | XS_ACKED;
    x->eliciting_out--;
    a->any = 1;
    cc_on_packet_delivered(&x->cc, r->bytes, r->sent_at, &r->rate, sample, a->now);
  }
  return 0;
}

static void on_ack(xport *x, const frame *f, uint64_t now) {
  ack_ctx a = {x, now, (double)f->b / 1000.0, 0, 0};
  snd_autotune(x); /* before this acknowledgement frees room a refused write waits for */
  if (!x->have_acked || f->a > x->largest_acked) {
    x->have_acked = 1;
    x->largest_acked = f->a;
    a.new_largest = 1;
  }
  ack_walk(f, ack_range, &a);
  /* a new largest (even an ACK-only packet's) can make older packets lost */
  if (!a.any && !a.new_largest) return;
  if (a.any) {
    x->pto_count = 0;
    x->acked_at = now;
  }
  compact(x);
  uint64_t k = run_len(x->snd_acked, x->lim.send_buf, x->snd_base, x->snd_next - x->snd_base, 1);
  over_words(x, x->lim.send_buf, x->snd_base, k, op_free);
  x->snd_base += k;
  detect_lost(x, now);
  check_writable(x);
}

/* ---- receiving ---- */

static int seen(const xport *x, uint64_t pn) {
  if (pn < x->ack_floor) return 1;
  for (size_t i = 0; i < x->nack; i++)
    if (pn >= x->ack[i].lo && pn <= x->ack[i].hi) return 1;
  return 0;
}

/* Insert pn (unseen) into the ranges, highest first, merging neighbours; when full, the
 * lowest range is forgotten and becomes the floor. */
static void remember(xport *x, uint64_t pn) {
  size_t i = 0;
  while (i < x->nack && x->ack[i].lo > pn) i++;
  /* ack[i-1] is above pn, ack[i] (if any) below it */
  int join_up = i > 0 && x->ack[i - 1].lo == pn + 1;
  int join_down = i < x->nack && x->ack[i].hi + 1 == pn;
  if (join_up && join_down) {
    x->ack[i - 1].lo = x->ack[i].lo;
    memmove(&x->ack[i], &x->ack[i + 1], (x->nack - i - 1) * sizeof x->ack[0]);
    x->nack--;
    return;
  }
  if (join_up) {
    x->ack[i - 1].lo = pn;
    return;
  }
  if (join_down) {
    x->ack[i].hi = pn;
    return;
  }
  if (x->nack == XPORT_ACK_RANGES) {
    x->ack_floor = x->ack[x->nack - 1].hi + 1;
    x->nack--;
    if (pn < x->ack_floor) return;
    if (i > x->nack) i = x->nack;
  }
  memmove(&x->ack[i + 1], &x->ack[i], (x->nack - i) * sizeof x->ack[0]);
  x->ack[i].lo = x->ack[i].hi = pn;
  x->nack++;
}

static void window_update(xport *x, int force) {
  uint64_t max = x->rcv_read + x->lim.recv_buf;
  if (max > x->rcv_adv && (force || max - x->rcv_adv >= x->lim.recv_buf / 4)) {
    x->rcv_adv = max;
    x->window_dirty = 1;
  }
}

int xport_on_packet(xport *x, uint64_t pn, const uint8_t *buf, size_t len, uint64_t now) {
  if (!buf || !len || pn >= (1ull << 62)) return SW_EINVAL; /* numbers are 62-bit varints */
  /* first pass: everything parses and keeps to the protocol, before anything changes */
  size_t at = 0;
  frame f;
  int eliciting = 0;
  while (at < len) {
    if (next_frame(buf, len, &at, &f)) return SW_EINVAL;
    if (f.type == XPORT_F_ACK && f.a >= x->next_pn) return SW_EINVAL; /* never sent */
    if (f.type == XPORT_F_MSG && f.a + f.b > x->rcv_adv) return SW_EINVAL; /* window */
    if (f.type != XPORT_F_ACK && f.type != XPORT_F_PADDING) eliciting = 1;
  }
  if (seen(x, pn)) {
    x->st.packets_duplicate++;
    return SW_OK;
  }
  int in_order = !x->nack || pn == x->ack[0].hi + 1;
  if (!x->nack || pn > x->ack[0].hi) x->largest_rx_at = now;
  remember(x, pn);
  x->ack_changed = 1;
  x->st.packets_received++;
  if (eliciting) {
    if (!x->ack_eliciting_rx++) x->ack_deadline = now + XPORT_MAX_ACK_DELAY_MS;
    /* RFC 9000 section 13.2.1: out of order, acknowledge at once */
    if (!in_order) x->ack_now = 1;
  }
  at = 0;
  while (at < len) {
    next_frame(buf, len, &at, &f);
    switch (f.type) {
    case XPORT_F_ACK:
      on_ack(x, &f, now);
      break;
    case XPORT_F_WINDOW:
      if (f.a > x->snd_max) x->snd_max = f.a;
      break;
    case XPORT_F_MSG: {
      uint64_t off = f.a, end = f.a + f.b;
      const uint8_t *d = f.body;
      /* Stream bytes below those already received are a retransmission: they fill a
       * gap or repeat bytes, and either way the sender is waiting (its send buffer and
       * our window do not move past a gap; a repeat means it missed an ACK).
       * Acknowledge at once (RFC 5681 section 4.2: a segment that fills a gap). */
      if (off < (x->rcv_hi > x->rcv_contig ? x->rcv_hi : x->rcv_contig)) x->ack_now = 1;
      if (end <= x->rcv_contig) break; /* all of it had arrived */
      if (off < x->rcv_contig) {
        d += x->rcv_contig - off;
        off = x->rcv_contig;
      }
      ring_put(x->rcv_ring, x->lim.recv_buf, off, d, (size_t)(end - off));
      if (end + x->lim.mtu >= x->rcv_mark_adv) x->rcv_filled = 1; /* the window filled */
      if (off == x->rcv_contig && x->rcv_hi <= off) {
        /* in order with nothing beyond it: no bit to set or scan (the map only needs
         * to be right above rcv_contig; bits below it are cleared as they are read) */
        x->rcv_contig = end;
        break;
      }
      over_words(x, x->lim.recv_buf, off, end - off, op_have);
      if (end > x->rcv_hi) x->rcv_hi = end;
      x->rcv_contig +=
          run_len(x->rcv_have, x->lim.recv_buf, x->rcv_contig, x->rcv_adv - x->rcv_contig, 1);
      break;
    }
    case XPORT_F_DATAGRAM:
    case XPORT_F_DIRECT_DATAGRAM:
      if (fifo_push(x->di, sizeof x->di, x->di_head, &x->di_len, f.body, f.body_len,
                    f.type == XPORT_F_DIRECT_DATAGRAM))
        x->st.dgrams_dropped++;
      break;
    default:
      break;
    }
  }
  rcv_autotune(x, now);
  return SW_OK;
}

int xport_recv(xport *x, void *buf, size_t cap, int *reliable) {
  unsigned flags = 0;
  int n = xport_recv_ex(x, buf, cap, &flags);
  if (n >= 0 && reliable) *reliable = (flags & XPORT_RELIABLE) != 0;
  return n;
}

/* The next stream message's length prefix: its size pl, the message's length and kind.
 * SW_EAGAIN (the window opened in full) while it is incomplete; SW_EINVAL when the
 * peer broke the framing. Nothing is consumed. */
static int next_msg(xport *x, size_t *plp, uint64_t *mlenp, unsigned *kindp) {
  if (x->broken) return SW_EINVAL;
  uint64_t avail = x->rcv_contig - x->rcv_read;
  uint8_t pre[8];
  uint64_t mlen;
  size_t pl = 0;
  if (avail) {
    ring_get(x->rcv_ring, x->lim.recv_buf, x->rcv_read, pre, 1);
    pl = (size_t)1 << (pre[0] >> 6);
  }
  if (!avail || avail < pl) {
    window_update(x, 1);
    return SW_EAGAIN;
  }
  ring_get(x->rcv_ring, x->lim.recv_buf, x->rcv_read, pre, pl);
  xport_varint_get(pre, pl, &mlen);
  unsigned kind = 0;
  if (mlen >= XPORT_ENTRY_ENGINE && mlen - XPORT_ENTRY_ENGINE <= XPORT_MAX_MSG) {
    kind = XPORT_ENGINE; /* an engine message: the receiving engine's (TRANSPORT.md 7.1) */
    mlen -= XPORT_ENTRY_ENGINE;
  } else if (mlen >= XPORT_ENTRY_DIRECT && mlen - XPORT_ENTRY_DIRECT <= XPORT_MAX_MSG) {
    kind = XPORT_DIRECT; /* an entry for the receiver alone (TRANSPORT-delivery.md) */
    mlen -= XPORT_ENTRY_DIRECT;
  } else if (mlen >= XPORT_ENTRY_ORIGIN + XPORT_ORIGIN_HDR &&
             mlen - XPORT_ENTRY_ORIGIN <= XPORT_MAX_MSG) {
    kind = XPORT_ORIGIN; /* a mesh message with its author and message id */
    mlen -= XPORT_ENTRY_ORIGIN;
  } else if (mlen >= XPORT_ENTRY_SIGNED + XPORT_SIGNED_HDR &&
             mlen - XPORT_ENTRY_SIGNED <= XPORT_MAX_MSG) {
    kind = XPORT_SIGNED; /* the same with its author's signature */
    mlen -= XPORT_ENTRY_SIGNED;
  }
  if (mlen > XPORT_MAX_MSG) {
    x->broken = 1;
    return SW_EINVAL;
  }
  if (avail < pl + mlen) {
    /* a message is incomplete: the whole buffer must be open for it to complete */
    window_update(x, 1);
    return SW_EAGAIN;
  }
  *plp = pl;
  *mlenp = mlen;
  *kindp = kind;
  return SW_OK;
}

/* The message of prefix pl and length mlen at rcv_read is read: past it, its bits
 * cleared, the window opened. */
static void consume(xport *x, size_t pl, uint64_t mlen) {
  /* bits are set only below rcv_hi (out-of-order arrivals): clear those alone */
  if (x->rcv_read < x->rcv_hi) {
    uint64_t end = x->rcv_read + pl + mlen < x->rcv_hi ? x->rcv_read + pl + mlen : x->rcv_hi;
    over_words(x, x->lim.recv_buf, x->rcv_read, end - x->rcv_read, op_unhave);
  }
  x->rcv_read += pl + mlen;
  x->st.msgs_received++;
  x->st.bytes_received += mlen;
  window_update(x, 0);
}

int xport_recv_ex(xport *x, void *buf, size_t cap, unsigned *flags) {
  if (x->peeked) return SW_EAGAIN; /* a peeked message is out: xport_recv_done first */
  if (x->di_len) {
    size_t n = fifo_peek(x->di, sizeof x->di, x->di_head);
    if (n > cap) return SW_EMSGSIZE;
    unsigned direct = fifo_direct(x->di, sizeof x->di, x->di_head) ? XPORT_DIRECT : 0;
    fifo_pop(x->di, sizeof x->di, &x->di_head, &x->di_len, buf);
    x->st.dgrams_received++;
    if (flags) *flags = direct;
    return (int)n;
  }
  unsigned kind;
  size_t pl;
  uint64_t mlen;
  int rc = next_msg(x, &pl, &mlen, &kind);
  if (rc != SW_OK) return rc;
  if (mlen > cap) return SW_EMSGSIZE;
  if (mlen) ring_get(x->rcv_ring, x->lim.recv_buf, x->rcv_read + pl, buf, (size_t)mlen);
  consume(x, pl, mlen);
  if (flags) *flags = XPORT_RELIABLE | kind;
  return (int)mlen;
}

int xport_recv_peek(xport *x, const uint8_t **data, unsigned *flags) {
  if (x->di_len) return SW_ENOTSUP; /* a datagram comes first: xport_recv_ex */
  unsigned kind;
  size_t pl;
  uint64_t mlen;
  int rc = next_msg(x, &pl, &mlen, &kind);
  if (rc != SW_OK) return rc;
  size_t at = (size_t)((x->rcv_read + pl) % x->lim.recv_buf);
  if (mlen > x->lim.recv_buf - at) return SW_ENOTSUP; /* it wraps: xport_recv_ex */
  *data = x->rcv_ring + at;
  if (flags) *flags = XPORT_RELIABLE | kind;
  x->peek_pl = pl;
  x->peek_len = mlen;
  x->peeked = 1;
  return (int)mlen;
}

void xport_recv_done(xport *x) {
  if (!x->peeked) return;
  x->peeked = 0;
  consume(x, x->peek_pl, x->peek_len);
}

/* ---- timers ---- */

static uint64_t pto_deadline(const xport *x) {
  if (!x->eliciting_out) return UINT64_MAX;
  unsigned b = x->pto_count < XPORT_PTO_MAX_BACKOFF ? x->pto_count : XPORT_PTO_MAX_BACKOFF;
  return x->last_eliciting_at + (pto_wait(x) << b);
}

uint64_t xport_deadline(const xport *x, uint64_t now) {
  uint64_t d = x->loss_time;
  uint64_t p = pto_deadline(x);
  if (p < d) d = p;
  p = probe_deadline(x);
  if (p < d) d = p;
  if (x->ack_repeat) d = now;
  if (x->ack_eliciting_rx) {
    uint64_t a = ack_due(x, now) ? now : x->ack_deadline;
    if (a < d) d = a;
  }
  if (has_eliciting(x) && x->sent_count < XPORT_MAX_SENT &&
      (x->probes > 0 || cc_room(&x->cc) > 0)) {
    uint64_t s = x->probes > 0 ? now : cc_next_send(&x->cc, now);
    if (s < d) d = s;
  }
  return d;
}

void xport_timeout(xport *x, uint64_t now) {
  if (probe_deadline(x) <= now) probe_lost(x, now);
  if (x->loss_time <= now) {
    detect_lost(x, now);
    return;
  }
  if (pto_deadline(x) > now) return;
  /* RFC 9002 section 6.2.4: probe. With nothing new or lost to send, the oldest
   * outstanding packet's data goes again (it stays outstanding). */
  x->pto_count++;
  x->st.pto_count++;
  /* a black hole: three expiries in a row, and at least three full probe periods
   * without an acknowledgement (the timer's own wait may be far shorter, pto_wait) */
  if (x->pto_count >= XPORT_PMTU_BLACKHOLE_PTOS &&
      now - x->acked_at >= XPORT_PMTU_BLACKHOLE_PTOS * pto_period(x))
    pmtu_blackhole(x, now);
  x->probes = PROBES_PER_PTO;
  if (!x->lost_bytes && x->snd_next >= snd_limit(x) && !x->dq_len) {
    for (size_t i = 0; i < x->sent_count; i++) {
      xport_sent *r = rec(x, i);
      if (r->flags & XS_DONE) continue;
      for (size_t k = 0; k < r->nranges; k++) {
        uint64_t off = r->off[k], end = off + r->len[k];
        if (end <= x->snd_base) continue;
        if (off < x->snd_base) off = x->snd_base;
        over_words(x, x->lim.send_buf, off, end - off, op_lose);
        if (off < x->lost_hint) x->lost_hint = off;
      }
      if (r->flags & XS_WINDOW) x->window_dirty = 1;
      break;
    }
  }
}

void xport_stats_get(const xport *x, xport_stats *out) {
  *out = x->st;
  out->queued = (size_t)(x->snd_end - x->snd_base) + x->dq_len;
  out->buffered = (size_t)(x->rcv_contig - x->rcv_read) + x->di_len;
  size_t room = cc_room(&x->cc);
  out->cwnd = room == SIZE_MAX ? UINT64_MAX : room + x->cc.in_flight;
  out->in_flight = x->cc.in_flight;
  out->srtt_ms = x->srtt;
  out->rttvar_ms = x->rttvar;
  out->min_rtt_ms = x->min_rtt;
  out->mtu = x->lim.mtu;
  out->send_buf = x->lim.send_buf;
  out->recv_buf = x->lim.recv_buf;
}
