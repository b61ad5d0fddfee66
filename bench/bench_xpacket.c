/* The cost of protecting one datagram: today's per-message DATA seal (the 4-byte
 * sequence and the message as two updates, PROTOCOL.md 5.1) beside the extended
 * session's packet seal and open (xpacket.c: one keyed context, only the IV set per
 * packet, the 14-byte header as associated data), ChaCha20-Poly1305 and AES-256-GCM,
 * at 100 and 1200 bytes. One thread, no sockets; nanoseconds per call, the best of
 * three runs (the machine is shared: the best run is the least disturbed).
 *
 * usage: bench_xpacket [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "xpacket.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile uint8_t g_sink;

static double bench_data_seal(size_t size, long iters) {
  uint8_t key[32] = {1}, nonce[12] = {0}, pre[4] = {0}, msg[1200] = {0}, out[1300];
  crypto_aead *a = crypto_aead_new(key, 1);
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    nonce[11] = (uint8_t)i, nonce[10] = (uint8_t)(i >> 8);
    crypto_aead_seal(a, nonce, pre, 4, msg, size, out);
    g_sink ^= out[0];
  }
  double t = (now_ns() - t0) / (double)iters;
  crypto_aead_free(a);
  return t;
}

static void bench_packet(int suite, size_t size, long iters, double *seal_ns, double *open_ns) {
  uint8_t secret[32] = {2}, msg[1200] = {0}, out[1300];
  static uint8_t pkts[4096][1200 + XPKT_OVERHEAD];
  int lens[4096];
  xpkt_tx tx;
  xpkt_rx rx;
  if (xpkt_tx_init(&tx, suite, secret, 7, 0) || xpkt_rx_init(&rx, suite, secret, 7)) {
    fprintf(stderr, "init failed\n");
    exit(1);
  }
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    int n = xpkt_seal(&tx, 0, msg, size, pkts[i & 4095], sizeof pkts[0]);
    lens[i & 4095] = n;
    g_sink ^= pkts[i & 4095][n - 1];
  }
  *seal_ns = (now_ns() - t0) / (double)iters;
  /* open what the last batch sealed, again and again: fresh receivers so the replay
   * window never refuses (its cost is included, the receiver set-up is not) */
  long done = 0, bad = 0;
  double spent = 0;
  while (done < iters) {
    xpkt_rx_free(&rx);
    xpkt_rx_init(&rx, suite, secret, 7);
    long first = iters > 4096 ? iters - 4096 : 0, m = iters - first;
    t0 = now_ns();
    for (long j = 0; j < m && done < iters; j++, done++)
      if (xpkt_open(&rx, 0, pkts[(first + j) & 4095], (size_t)lens[(first + j) & 4095], out,
                    sizeof out, NULL) < 0)
        bad++;
    spent += now_ns() - t0;
  }
  *open_ns = spent / (double)iters;
  if (bad) fprintf(stderr, "%ld packets failed to open\n", bad);
  xpkt_tx_free(&tx);
  xpkt_rx_free(&rx);
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 200000;
  static const size_t sizes[] = {100, 1200};
  printf("AES instructions: %s\n", crypto_cpu_has_aes() ? "yes" : "no");
  printf("%-34s %8s %8s\n", "ns per call", "100 B", "1200 B");
  double d[2] = {1e18, 1e18}, s[2][2], o[2][2];
  for (int k = 0; k < 4; k++) s[k / 2][k % 2] = o[k / 2][k % 2] = 1e18;
  for (int rep = 0; rep < 3; rep++) {
    for (int i = 0; i < 2; i++) {
      double x = bench_data_seal(sizes[i], iters);
      if (x < d[i]) d[i] = x;
    }
    for (int suite = 1; suite <= 2; suite++)
      for (int i = 0; i < 2; i++) {
        double a, b;
        bench_packet(suite, sizes[i], iters, &a, &b);
        if (a < s[suite - 1][i]) s[suite - 1][i] = a;
        if (b < o[suite - 1][i]) o[suite - 1][i] = b;
      }
  }
  printf("%-34s %8.0f %8.0f\n", "DATA seal, ChaCha (today)", d[0], d[1]);
  printf("%-34s %8.0f %8.0f\n", "packet seal, ChaCha20-Poly1305", s[0][0], s[0][1]);
  printf("%-34s %8.0f %8.0f\n", "packet open, ChaCha20-Poly1305", o[0][0], o[0][1]);
  printf("%-34s %8.0f %8.0f\n", "packet seal, AES-256-GCM", s[1][0], s[1][1]);
  printf("%-34s %8.0f %8.0f\n", "packet open, AES-256-GCM", o[1][0], o[1][1]);
  return 0;
}
