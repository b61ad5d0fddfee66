/* The STUN Binding server (stunsrv.h). */
#include "stunsrv.h"

#include <string.h>

static int ip_known(const sw_addr *a) { return a->family == 4 || a->family == 6; }

sw_addr stunsrv_socket(const stunsrv_config *cfg, unsigned ip, unsigned port) {
  sw_addr a;
  memset(&a, 0, sizeof a);
  if (!cfg || ip > 1 || port > 1) return a;
  const sw_addr *base = &cfg->ip[ip];
  uint16_t p = cfg->port[port];
  if (!ip_known(&cfg->ip[0]) || !ip_known(base) || base->family != cfg->ip[0].family || p == 0)
    return a;
  a = *base;
  a.port = p;
  return a;
}

/* Whether this server can answer from a socket: the alternate IP needs a known primary of
 * the same family, the alternate port a non-zero number. The primary IP may be the
 * wildcard (unknown) for the primary socket. */
static int have_ip(const stunsrv_config *cfg, unsigned ip) {
  if (ip == 0) return 1;
  return ip_known(&cfg->ip[0]) && ip_known(&cfg->ip[1]) &&
         cfg->ip[1].family == cfg->ip[0].family;
}

static int have_port(const stunsrv_config *cfg, unsigned port) {
  return port == 0 || cfg->port[1] != 0;
}

size_t stunsrv_answer(const stunsrv_config *cfg, const uint8_t *req, size_t len,
                      const sw_addr *from, unsigned ip, unsigned port, uint8_t *out, size_t cap,
                      stunsrv_route *route) {
  if (!cfg || !req || !from || !out || !route || ip > 1 || port > 1) return 0;
  if (cap < STUN_MAX_RESPONSE) return 0;
  if (!have_ip(cfg, ip) || !have_port(cfg, port)) return 0; /* no such socket */
  if ((from->family != 4 && from->family != 6) || from->port == 0) return 0;

  stun_msg m;
  if (stun_decode(req, len, &m) != STUN_OK) return 0;
  if (m.type != STUN_BINDING_REQUEST) return 0;

  unsigned fp = (cfg->opts & STUNSRV_FINGERPRINT) || (m.present & STUN_HAS_FINGERPRINT)
                    ? STUN_OPT_FINGERPRINT
                    : 0;
  route->ip = (uint8_t)ip;
  route->port = (uint8_t)port;

  if (m.nunknown > 0) {
    size_t n = m.nunknown < STUN_MAX_UNKNOWN ? m.nunknown : STUN_MAX_UNKNOWN;
    int r = stun_encode_error(out, cap, m.tid, 420, m.unknown, n, fp);
    return r > 0 ? (size_t)r : 0;
  }

  unsigned rip = ip, rport = port;
  if (m.present & STUN_HAS_CHANGE) {
    if (m.change & STUN_CHANGE_IP) rip ^= 1u;
    if (m.change & STUN_CHANGE_PORT) rport ^= 1u;
    if (!have_ip(cfg, rip) || !have_port(cfg, rport)) {
      /* RFC 5780 6.1: a change we cannot make is answered with 420, CHANGE-REQUEST
       * listed, from where the request arrived */
      uint16_t t = STUN_ATTR_CHANGE_REQUEST;
      int r = stun_encode_error(out, cap, m.tid, 420, &t, 1, fp);
      return r > 0 ? (size_t)r : 0;
    }
  }

  sw_addr origin = stunsrv_socket(cfg, rip, rport);
  sw_addr other = stunsrv_socket(cfg, ip ^ 1u, port ^ 1u);
  int r = stun_encode_success(out, cap, m.tid, from, ip_known(&origin) ? &origin : NULL,
                              ip_known(&other) ? &other : NULL,
                              fp | ((cfg->opts & STUNSRV_MAPPED) ? STUN_OPT_MAPPED : 0));
  if (r <= 0) return 0;
  route->ip = (uint8_t)rip;
  route->port = (uint8_t)rport;
  return (size_t)r;
}
