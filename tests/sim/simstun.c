/* See simstun.h. */
#include "simstun.h"

#include <string.h>

static void on_request(void *ctx, simnet *net, int ep, const sw_addr *from, const uint8_t *d,
                       size_t len) {
  simstun *s = ctx;
  if (s->silent) return;
  for (unsigned ip = 0; ip < 2; ip++)
    for (unsigned port = 0; port < 2; port++) {
      if (s->ep[ip][port] != ep) continue;
      uint8_t out[STUN_MAX_RESPONSE];
      stunsrv_route r;
      size_t n = stunsrv_answer(&s->cfg, d, len, from, ip, port, out, sizeof out, &r);
      if (!n) return;
      s->answered++;
      simnet_endpoint_send(net, s->ep[r.ip][r.port], from, out, n);
      return;
    }
}

void simstun_init(simstun *s, simnet *net) {
  memset(s, 0, sizeof *s);
  s->ep[0][0] = simnet_add_endpoint(net, -1, 3478, on_request, s);
  s->ep[0][1] = simnet_add_endpoint(net, s->ep[0][0], 3479, on_request, s);
  s->ep[1][0] = simnet_add_endpoint(net, -1, 3478, on_request, s);
  s->ep[1][1] = simnet_add_endpoint(net, s->ep[1][0], 3479, on_request, s);
  s->cfg.ip[0] = *simnet_endpoint_addr(net, s->ep[0][0]);
  s->cfg.ip[1] = *simnet_endpoint_addr(net, s->ep[1][0]);
  s->cfg.port[0] = 3478;
  s->cfg.port[1] = 3479;
}

sw_addr simstun_primary(const simstun *s) { return stunsrv_socket(&s->cfg, 0, 0); }
