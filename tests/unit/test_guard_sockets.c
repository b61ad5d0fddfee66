/* The sockets besides the main and DHT ones trust no source address either (issue 11,
 * docs/THREATS.md "Tests that show each limit"): forged datagrams from one address on the
 * probe sockets and on the LAN socket, and what the engine sends back to that address on
 * any socket, counted; at most 3x (GUARD_AMP_FACTOR) what it sent, or nothing. The
 * engine is driven directly (corenet's pump takes main-socket output only). */
#include <stdio.h>
#include <string.h>

#include "core_internal.h"
#include "corenet.h"
#include "guard.h"
#include "wire.h"

/* Bytes the core queued for `to` on any socket since the last call; drains the queue. */
static size_t drain_to(sw_core *c, const sw_addr *to, uint64_t now) {
  size_t bytes = 0;
  sw_dgram d[64];
  size_t k;
  while ((k = sw_core_out_peek(c, d, 64)) > 0) {
    for (size_t i = 0; i < k; i++)
      if (addr_equal(d[i].to, to)) bytes += d[i].len;
    sw_core_out_consume(c, k, now);
  }
  return bytes;
}

/* Run the core's timers for ms, draining as it goes; bytes to `to`. */
static size_t run_for(sw_core *c, uint64_t *now, uint64_t ms, const sw_addr *to) {
  size_t bytes = drain_to(c, to, *now);
  uint64_t end = *now + ms;
  while (*now < end) {
    uint64_t d = sw_core_deadline(c);
    *now = d > *now && d < end ? d : (d <= *now ? *now + 1 : end);
    sw_core_timeout(c, *now);
    sw_core_flush(c, *now);
    bytes += drain_to(c, to, *now);
  }
  return bytes;
}

/* Forged datagrams of every kind the main protocol has, from `victim`, fed to the probe
 * sockets 1..8: reference HELLOs and HELLO_ACKs of fresh identities, PINGs, a STUN
 * Binding request, garbage. */
static void probe_sockets(const sw_core_config *cfg) {
  net *n = net_new();
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", cfg);
  sw_core *c = n->nodes[b].c;
  sw_addr victim = addr_of("192.0.2.66:4000");
  uint64_t now = n->now;
  size_t in = 0, out = drain_to(c, &victim, now);
  tu_rng rng = {7};
  for (int k = 0; k < 200; k++) {
    unsigned probe = 1 + (unsigned)k % 8;
    uint8_t f[256];
    size_t fl;
    char seed[65];
    for (int i = 0; i < 64; i++) seed[i] = "0123456789abcdef"[(k * 7 + i * 3) % 16];
    seed[64] = 0;
    ref_peer r;
    ref_init(&r, seed, "192.0.2.66:4000", &n->nodes[b]);
    fl = wire_hello_encode(f, k % 2 ? WIRE_HELLO : WIRE_HELLO_ACK, r.id.id, r.id.pub, -1);
    sw_core_probe_datagram(c, probe, &victim, f, fl, now);
    in += fl;
    fl = wire_ping_encode(f, now, r.id.id);
    sw_core_probe_datagram(c, probe, &victim, f, fl, now);
    in += fl;
    ref_free(&r);
    /* a STUN Binding request, and garbage */
    memcpy(f, "\x00\x01\x00\x00\x21\x12\xa4\x42", 8);
    tu_rng_bytes(&rng, f + 8, 12);
    sw_core_probe_datagram(c, probe, &victim, f, 20, now);
    in += 20;
    fl = 1 + tu_rng_next(&rng) % 200;
    tu_rng_bytes(&rng, f, fl);
    sw_core_probe_datagram(c, probe, &victim, f, fl, now);
    in += fl;
    sw_core_flush(c, now);
    out += run_for(c, &now, 50, &victim);
  }
  out += run_for(c, &now, 60000, &victim);
  printf("probe sockets (xsession %d): %zu bytes in, %zu bytes to the source: x%.2f\n",
         cfg->xsession, in, out, (double)out / (double)in);
  assert_true(out <= GUARD_AMP_FACTOR * in);
  net_free(n);
}

static void test_probe_sockets_amplification(void **state) {
  (void)state;
  sw_core_config plain = {.probe_sockets = 1};
  sw_core_config ext = {.probe_sockets = 1, .xsession = 1};
  probe_sockets(&plain);
  probe_sockets(&ext);
}

/* Forged LAN beacons (well-formed, malformed, garbage) from one address: nothing is sent
 * to it in answer on any socket beyond what dialling a beacon's announced address may
 * send there, and a beacon naming another address sends nothing to the forger. */
static void test_lan_socket_amplification(void **state) {
  (void)state;
  sw_core_config cfg = {.lan = 1, .lan_ip = "10.0.0.2"};
  net *n = net_new();
  int b = net_add_cfg(n, NULL, "10.0.0.2:2", &cfg);
  sw_core *c = n->nodes[b].c;
  sw_addr victim = addr_of("192.168.1.66:4000");
  uint64_t now = n->now;
  size_t in = 0, out = drain_to(c, &victim, now);
  tu_rng rng = {11};
  for (int k = 0; k < 500; k++) {
    char text[160];
    int tl;
    if (k % 3 == 0) /* a beacon that names another address */
      tl = snprintf(text, sizeof text, "%040x:192.168.1.%d:%d:", k + 1, 100 + k % 100,
                    1000 + k);
    else if (k % 3 == 1) /* a malformed one */
      tl = snprintf(text, sizeof text, "%040x:192.168.1:%d:", k + 1, 1000 + k);
    else { /* garbage */
      tl = (int)(1 + tu_rng_next(&rng) % 128);
      tu_rng_bytes(&rng, (uint8_t *)text, (size_t)tl);
    }
    sw_core_datagram(c, SW_SOCK_LAN, &victim, (const uint8_t *)text, (size_t)tl, now);
    in += (size_t)tl;
    out += run_for(c, &now, 20, &victim);
  }
  out += run_for(c, &now, 30000, &victim);
  printf("LAN socket: %zu bytes in, %zu bytes to the source\n", in, out);
  assert_int_equal(out, 0);
  net_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_probe_sockets_amplification),
      cmocka_unit_test(test_lan_socket_amplification),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
