/* libFuzzer target: the extended session's frame parser and delivery engine (xport.c).
 *
 * An engine first writes a few messages and builds its first packets, so that ACK frames
 * in the input can acknowledge something. The input is then a series of packets, each
 * [1 byte: packet number step][2 bytes: length, big-endian][that many bytes of plaintext],
 * each copied into a buffer of its exact size (ASan sees a read past it) and given to
 * xport_on_packet at an advancing time; after each, the application reads everything,
 * the timers run and the engine builds its answers.
 *
 * Besides the sanitizers it checks: a plaintext xport_check refuses is refused by the
 * engine too; a refused packet changes no counter; the engine's own packets always pass
 * xport_check and fit the MTU; every buffer stays under its bound; a read message has
 * the length its prefix said and never exceeds the message limit.
 *
 * The controller is BBR (the default) for an input of odd length, NewReno for an even
 * one, so both meet every kind of acknowledgement and loss pattern. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_bbr.h"
#include "cc_newreno.h"
#include "setowire.h"
#include "xport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_xport: %s\n", what);
  abort();
}

static void drain(xport *x, uint64_t now) {
  uint8_t out[XPORT_MTU_DEFAULT];
  uint64_t pn;
  size_t n;
  int guard = 0;
  while ((n = xport_build(x, now, out, sizeof out, &pn)) > 0) {
    if (n > sizeof out) die("packet over the MTU");
    if (xport_check(out, n) != SW_OK) die("own packet does not parse");
    if (++guard > 4096) die("build does not stop");
  }
}

static void check_bounds(const xport *x) {
  xport_stats st;
  xport_stats_get(x, &st);
  if (st.queued > x->lim.send_buf + XPORT_DGRAM_QUEUE) die("send side over its bound");
  if (st.buffered > x->lim.recv_buf + XPORT_DGRAM_INBOX) die("receive side over its bound");
  if (x->sent_count > XPORT_MAX_SENT || x->nack > XPORT_ACK_RANGES) die("records over bound");
  if (x->snd_base > x->snd_next || x->snd_next > x->snd_end) die("send offsets out of order");
  if (x->rcv_read > x->rcv_contig || x->rcv_contig > x->rcv_adv) die("receive offsets");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t msg[XPORT_MAX_MSG];
  xport x;
  uint64_t now = 1;
  const cc_ops *cc = size & 1 ? &cc_bbr_ops : &cc_newreno_ops;
  if (xport_init(&x, NULL, cc, now) != SW_OK) die("init");
  memset(msg, 0x5a, sizeof msg);
  for (size_t i = 0; i < 4; i++)
    if (xport_send(&x, msg, 300 * i + 1, XPORT_RELIABLE, now) != SW_OK) die("send");
  if (xport_send(&x, msg, 50, 0, now) != SW_OK) die("datagram");
  if (xport_send(&x, msg, 40, XPORT_DIRECT, now) != SW_OK) die("direct datagram");
  if (xport_send(&x, msg, 70, XPORT_RELIABLE | XPORT_DIRECT, now) != SW_OK) die("direct");
  drain(&x, now);

  size_t at = 0;
  uint64_t pn = 0;
  while (size - at >= 3) {
    pn += data[at];
    size_t len = (size_t)data[at + 1] << 8 | data[at + 2];
    at += 3;
    if (len > size - at) len = size - at;
    uint8_t *pkt = malloc(len ? len : 1);
    if (!pkt) die("malloc");
    memcpy(pkt, data + at, len);
    at += len;
    now += 3;
    xport_stats before, after;
    xport_stats_get(&x, &before);
    int ok = xport_check(pkt, len);
    int rc = xport_on_packet(&x, pn, pkt, len, now);
    free(pkt);
    if (rc != SW_OK && rc != SW_EINVAL) die("unexpected return");
    if (ok != SW_OK && rc == SW_OK) die("engine took what the parser refused");
    xport_stats_get(&x, &after);
    if (rc != SW_OK && memcmp(&before, &after, sizeof before)) die("refused packet changed state");
    for (int guard = 0;; guard++) {
      int rel = -1;
      int n = xport_recv(&x, msg, sizeof msg, &rel);
      if (n < 0) break;
      if (n > XPORT_MAX_MSG || (rel != 0 && rel != 1)) die("bad message");
      if (guard > 100000) die("recv does not stop");
    }
    if (xport_deadline(&x, now) <= now) xport_timeout(&x, now);
    drain(&x, now);
    check_bounds(&x);
  }
  xport_free(&x);
  return 0;
}
