/* The cost of a signed origin (SW_SEND_SIGNED, docs/API.md "Signed origins"): the
 * author's Ed25519 signature of the label, its id, the message id and the message
 * (origin.c: a key prepared once), and each receiver's check (a fresh public key per
 * call, as origin_verify does), at 100 B, 1 KB, 16 KB and 64 KB messages. One thread,
 * no sockets; microseconds per call, the best of three runs (the machine is shared:
 * the best run is the least disturbed).
 *
 * usage: bench_origin [iterations at 100 B] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 2000;
  if (iters < 1) iters = 1;
  crypto_identity id;
  crypto_signer s;
  if (crypto_identity_from_hex(&id, "a1a1") || crypto_signer_from_identity(&s, &id)) return 1;
  crypto_sign_ctx *k = crypto_sign_ctx_new(&s);
  if (!k) return 1;
  static uint8_t msg[65536];
  uint8_t sig[64];
  static const size_t sizes[] = {100, 1000, 16000, 65000};
  printf("signed origin, us per message (best of 3)\n%8s %10s %10s\n", "bytes", "sign", "verify");
  for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
    size_t len = 25 + 28 + sizes[z]; /* label, author id and message id, message */
    long n = sizes[z] > 10000 ? iters / 8 + 1 : iters;
    double bs = 1e18, bv = 1e18;
    for (int r = 0; r < 3; r++) {
      double t0 = now_us();
      for (long i = 0; i < n; i++) {
        msg[0] = (uint8_t)i;
        if (crypto_sign_ctx_sign(k, msg, len, sig)) return 1;
      }
      double t1 = now_us();
      for (long i = 0; i < n; i++)
        if (crypto_verify(s.pub, msg, len, sig)) return 1;
      double t2 = now_us();
      if ((t1 - t0) / n < bs) bs = (t1 - t0) / n;
      if ((t2 - t1) / n < bv) bv = (t2 - t1) / n;
    }
    printf("%8zu %10.1f %10.1f\n", sizes[z], bs, bv);
  }
  crypto_sign_ctx_free(k);
  return 0;
}
