/* libFuzzer target: the extended session's handshake messages (handshake.c).
 *
 * The input goes, as is, to hs_header_decode, hs_responder_screen (under load, so the
 * cookie path runs) and hs_initiator_on_retry; then, with its mac1 recomputed as a man
 * in the middle could (it needs only public keys), to hs_responder_read_init and
 * hs_initiator_read_resp, so the Noise decoding runs past the cheap checks. Buffers are
 * allocated at their exact size so ASan sees any read past them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "handshake.h"
#include "setowire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static crypto_identity g_a, g_b;
static hs_state g_init; /* A's handshake after writing its INIT to B */
static hs_cookie_key g_ck;
static int g_ready;

static void die(const char *what) {
  fprintf(stderr, "fuzz_handshake: %s\n", what);
  abort();
}

static void setup(void) {
  uint8_t sa[] = {'a'}, sb[] = {'b'}, e[32], init[HS_INIT_LEN];
  for (int i = 0; i < 32; i++) e[i] = (uint8_t)(i * 5 + 3);
  if (crypto_identity_from_seed(&g_a, sa, 1) || crypto_identity_from_seed(&g_b, sb, 1) ||
      hs_initiator_begin(&g_init, g_b.pub, e, 0x11111111u, CRYPTO_SUITE_AESGCM) ||
      hs_initiator_write_init(&g_init, &g_a, 1000, init))
    die("setup");
  hs_cookie_init(&g_ck, e);
  g_ready = 1;
}

static void remac(uint8_t *msg, size_t off, const uint8_t pub[32]) {
  uint8_t in[22 + 32], key[32], full[32];
  memcpy(in, "setowire xsession mac1", 22);
  memcpy(in + 22, pub, 32);
  crypto_sha256(in, sizeof in, key);
  if (crypto_hmac_sha256(key, 32, msg, off, full)) die("hmac");
  memcpy(msg + off, full, HS_MAC_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t addr[] = {4, 127, 0, 0, 1, 0x1f, 0x90};
  uint8_t retry[HS_RETRY_LEN], resp[HS_RESP_LEN], e[32] = {7};
  hs_header h;
  hs_keys k;
  if (!g_ready) setup();
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);

  if (hs_header_decode(buf, size, &h) == 0 && h.type != buf[0]) die("header type");
  int rc = hs_responder_screen(&g_b, &g_ck, 1, buf, size, addr, sizeof addr, 123456, retry);
  if (rc == HS_SEND_RETRY && (retry[0] != HS_TYPE_RETRY || memcmp(retry + 1, buf + 1, 4)))
    die("retry fields");
  hs_state s = g_init;
  hs_initiator_on_retry(&s, buf, size);

  if (size >= HS_INIT_LEN && buf[0] == HS_TYPE_INIT) {
    remac(buf, 113, g_b.pub);
    hs_state r;
    if (hs_responder_read_init(&r, &g_b, buf, size, NULL) == 0 &&
        hs_responder_write_resp(&r, &g_b, e, 9, CRYPTO_SUITE_AESGCM, resp, &k) != 0)
      die("a read INIT must be answerable");
  }
  if (size >= HS_RESP_LEN && buf[0] == HS_TYPE_RESP) {
    remac(buf, 61, g_a.pub);
    s = g_init;
    if (hs_initiator_read_resp(&s, &g_a, buf, size, &k) == 0 && k.suite != CRYPTO_SUITE_CHACHA &&
        k.suite != CRYPTO_SUITE_AESGCM)
      die("unknown suite accepted");
  }
  free(buf);
  return 0;
}
