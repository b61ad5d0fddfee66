/* The STUN Binding server (stunsrv.h). */
#include "stunsrv.h"

#include <string.h>

static int ip_known(const sw_addr *a) { return a->family == 4 || a->family == 6; }

/* An address attribute's size on the wire: type, length, reserved, family, port, IP. */
static size_t addr_attr_len(const sw_addr *a) { return a->family == 6 ? 24 : 12; }

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
    return r > 0 && (size_t)r <= 3 * len ? (size_t)r : 0; /* 64 at most, for 24 or more */
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
      return r > 0 && (size_t)r <= 3 * len ? (size_t)r : 0; /* 64 at most, for 28 or more */
    }
  }

  sw_addr origin = stunsrv_socket(cfg, rip, rport);
  sw_addr other = stunsrv_socket(cfg, ip ^ 1u, port ^ 1u);
  /* The answer never exceeds three times the request (the bound every socket of ours keeps
   * towards an unproven source; stunsrv.h has the figures). XOR-MAPPED-ADDRESS and
   * FINGERPRINT always fit (at most 52 bytes for a request of at least 20); then, each only
   * when it still fits: MAPPED-ADDRESS (by option, for clients that know nothing else),
   * OTHER-ADDRESS (what a client needs to start behaviour discovery) and RESPONSE-ORIGIN,
   * the two swapped for a CHANGE-REQUEST, whose client wants to see where it came from. A
   * client that wants them all pads its request (stun.h STUN_OPT_PAD). */
  size_t budget = 3 * len;
  size_t size = STUN_HDR_LEN + addr_attr_len(from) + (fp ? 8 : 0);
  unsigned mapped = 0;
  if ((cfg->opts & STUNSRV_MAPPED) && size + addr_attr_len(from) <= budget) {
    mapped = STUN_OPT_MAPPED;
    size += addr_attr_len(from);
  }
  const sw_addr *want[2] = {&other, &origin}, *got[2] = {NULL, NULL};
  if (m.present & STUN_HAS_CHANGE) {
    want[0] = &origin;
    want[1] = &other;
  }
  for (int i = 0; i < 2; i++)
    if (ip_known(want[i]) && size + addr_attr_len(want[i]) <= budget) {
      got[i] = want[i];
      size += addr_attr_len(want[i]);
    }
  const sw_addr *po = got[0] == &origin || got[1] == &origin ? &origin : NULL;
  const sw_addr *pt = got[0] == &other || got[1] == &other ? &other : NULL;
  int r = stun_encode_success(out, cap, m.tid, from, po, pt, fp | mapped);
  if (r <= 0 || (size_t)r > budget) return 0;
  route->ip = (uint8_t)rip;
  route->port = (uint8_t)rport;
  return (size_t)r;
}
