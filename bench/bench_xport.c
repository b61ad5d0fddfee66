/* The extended session's delivery engine alone (src/core/xport.c): no AEAD, no sockets,
 * no event loop. Two engines exchange packets through an in-memory path in virtual time
 * (0.1 ms steps, 0.1 ms each way, no bottleneck, random loss both ways), one sending
 * MSGS messages of SIZE bytes that the other reads, for each loss rate:
 *
 *     bench_xport [MSGS [SIZE [MTU [LOSS%]]]]   (default 4000 x 60 000 B, 16 354 B
 *                                               packets: the size the session reaches on
 *                                               loopback; 0, 1 and 10 % loss, or LOSS%)
 *
 * Prints the process CPU per MB delivered, beside a memcpy of the same bytes measured in
 * the same run (the cost of touching every byte once), and the packets sent and lost.
 * What it isolates: the engine's bookkeeping (acknowledgement ranges, the byte maps of
 * the send and receive buffers, loss detection, the controller), which in the two-process
 * benchmark hides among AEAD and the kernel. Figures, never a pass or fail. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc_bbr.h"
#include "setowire.h"
#include "xport.h"

#define RING 1024 /* packets in flight one way, at most (4 MiB of 16 KB packets: 256) */

typedef struct pkt {
  uint64_t due, pn;
  uint32_t len;
  uint8_t *data;
} pkt;

typedef struct path {
  pkt p[RING];
  size_t head, len;
} path;

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
static double uniform(void) { /* xorshift64*: the same losses in every run */
  rng_s ^= rng_s >> 12;
  rng_s ^= rng_s << 25;
  rng_s ^= rng_s >> 27;
  return (double)((rng_s * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct result {
  double cpu, vtime_ms;
  xport_stats st;
  int ok;
} result;

static result run(size_t msgs, size_t size, size_t mtu, double loss) {
  result r = {0};
  xport_limits lim;
  xport_limits_default(&lim);
  lim.mtu = mtu;
  xport x[2];
  if (xport_init(&x[0], &lim, &cc_bbr_ops, 1) != SW_OK ||
      xport_init(&x[1], &lim, &cc_bbr_ops, 1) != SW_OK) {
    fprintf(stderr, "bench_xport: xport_init failed\n");
    return r;
  }
  path *net = calloc(2, sizeof *net);
  uint8_t *slab = malloc(2 * (size_t)RING * mtu), *msg = malloc(size), *in = malloc(XPORT_MAX_MSG);
  if (!net || !slab || !msg || !in) {
    fprintf(stderr, "bench_xport: out of memory\n");
    exit(1);
  }
  for (int d = 0; d < 2; d++)
    for (size_t i = 0; i < RING; i++) net[d].p[i].data = slab + ((size_t)d * RING + i) * mtu;
  memset(msg, 'x', size);
  memset(slab, 0, 2 * (size_t)RING * mtu); /* its page faults before the clock starts */
  size_t sent = 0, got = 0;
  const uint64_t sub = 10; /* steps per ms */
  uint64_t step = sub;
  double t0 = cpu_now();
  while (got < msgs && step < 600000 * sub) {
    step++;
    uint64_t now = step / sub;
    for (int d = 0; d < 2; d++) { /* d 0: sender to receiver */
      path *q = &net[d];
      while (q->len && q->p[q->head].due <= step) {
        pkt *p = &q->p[q->head];
        (void)xport_on_packet(&x[1 - d], p->pn, p->data, p->len, now);
        q->head = (q->head + 1) % RING;
        q->len--;
      }
    }
    while (sent < msgs) {
      memcpy(msg, &sent, sizeof sent); /* a message number, checked on arrival */
      if (xport_send(&x[0], msg, size, XPORT_RELIABLE, now) != SW_OK) break;
      sent++;
    }
    for (;;) {
      unsigned fl;
      int n = xport_recv_ex(&x[1], in, XPORT_MAX_MSG, &fl);
      if (n < 0) break;
      size_t no;
      memcpy(&no, in, sizeof no);
      if ((size_t)n != size || no != got) {
        fprintf(stderr, "bench_xport: message %zu wrong (%d bytes, number %zu)\n", got, n, no);
        exit(1);
      }
      got++;
    }
    for (int d = 0; d < 2; d++) {
      xport *e = &x[d];
      if (xport_deadline(e, now) <= now) xport_timeout(e, now);
      path *q = &net[d];
      while (q->len < RING) {
        pkt *p = &q->p[(q->head + q->len) % RING];
        uint64_t pn;
        size_t n = xport_build(e, now, p->data, mtu, &pn);
        if (!n) break;
        if (loss > 0 && uniform() < loss) continue;
        p->pn = pn;
        p->len = (uint32_t)n;
        p->due = step + 1;
        q->len++;
      }
    }
  }
  r.cpu = cpu_now() - t0;
  r.vtime_ms = (double)step / (double)sub;
  r.ok = got == msgs;
  xport_stats_get(&x[0], &r.st);
  xport_free(&x[0]);
  xport_free(&x[1]);
  free(net);
  free(slab);
  free(msg);
  free(in);
  return r;
}

int main(int argc, char **argv) {
  size_t msgs = argc > 1 ? strtoul(argv[1], NULL, 10) : 4000;
  size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 60000;
  size_t mtu = argc > 3 ? strtoul(argv[3], NULL, 10) : 16354;
  double only = argc > 4 ? strtod(argv[4], NULL) / 100 : -1;
  if (!msgs || size < sizeof(size_t) || size > XPORT_MAX_MSG || mtu < 256 || mtu > XPORT_MTU_MAX) {
    fprintf(stderr, "usage: bench_xport [MSGS [SIZE (8..%d) [MTU (256..%d) [LOSS%%]]]]\n",
            XPORT_MAX_MSG, XPORT_MTU_MAX);
    return 2;
  }
  double mb = (double)msgs * (double)size / 1e6;
  /* the ceiling: every byte copied once, between two buffers the size of the send ring */
  size_t span = 4u << 20;
  uint8_t *a = malloc(span), *b = malloc(span);
  if (!a || !b) return 1;
  memset(a, 1, span);
  memset(b, 2, span);
  double t0 = cpu_now();
  for (size_t done = 0, at = 0; done < msgs * size; done += size, at = (at + size) % (span - size))
    memcpy(b + at, a + at, size);
  double copy = cpu_now() - t0;
  printf("memcpy of the same %.0f MB: %.1f us per MB (the cost of touching each byte once; "
         "checksum %u)\n", mb, copy * 1e6 / mb, b[size / 2]);
  free(a);
  free(b);
  static const double losses[] = {0, 0.01, 0.10};
  for (size_t i = 0; i < sizeof losses / sizeof losses[0]; i++) {
    if (only >= 0 && i) break;
    result r = run(msgs, size, mtu, only >= 0 ? only : losses[i]);
    if (!r.ok) {
      printf("loss %2.0f%%: FAILED (not every message arrived in %.0f ms of virtual time)\n",
             (only >= 0 ? only : losses[i]) * 100, r.vtime_ms);
      return 1;
    }
    printf("loss %2.0f%%: %zu x %zu B, %zu B packets: %.1f us of CPU per MB (%.1fx memcpy), "
           "%llu packets sent, %llu declared lost (%llu spurious), %.1f MB sent again; "
           "%.0f ms virtual\n",
           (only >= 0 ? only : losses[i]) * 100, msgs, size, mtu, r.cpu * 1e6 / mb, r.cpu / copy,
           (unsigned long long)r.st.packets_sent, (unsigned long long)r.st.packets_lost,
           (unsigned long long)r.st.packets_spurious, (double)r.st.retransmitted_bytes / 1e6,
           r.vtime_ms);
  }
  return 0;
}
