#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "setowire.h"

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void addr_from_raw(sw_addr *out, const uint8_t *ip, size_t iplen, uint16_t port) {
  memset(out, 0, sizeof *out);
  out->port = port;
  if (iplen == 4) {
    out->family = 4;
    memcpy(out->ip, ip, 4);
  } else if (iplen == 16 && memcmp(ip, v4mapped_prefix, 12) == 0) {
    out->family = 4;
    memcpy(out->ip, ip + 12, 4);
  } else if (iplen == 16) {
    out->family = 6;
    memcpy(out->ip, ip, 16);
  }
}

int addr_parse_ip(sw_addr *out, const char *host, uint16_t port) {
  uint8_t buf[16];
  if (!host) return SW_EINVAL;
  if (inet_pton(AF_INET, host, buf) == 1) {
    addr_from_raw(out, buf, 4, port);
    return SW_OK;
  }
  if (inet_pton(AF_INET6, host, buf) == 1) {
    addr_from_raw(out, buf, 16, port);
    return SW_OK;
  }
  return SW_EINVAL;
}

int addr_split_hostport(const char *text, char *host, size_t hostlen, uint16_t *port) {
  const char *colon, *hs, *he;
  char *end;
  unsigned long p;
  if (!text || !*text) return SW_EINVAL;
  if (text[0] == '[') {
    he = strchr(text, ']');
    if (!he || he[1] != ':') return SW_EINVAL;
    hs = text + 1;
    colon = he + 1;
  } else {
    colon = strrchr(text, ':');
    if (!colon) return SW_EINVAL;
    /* A bare IPv6 address has more colons: demand brackets so the port is unambiguous. */
    if (memchr(text, ':', (size_t)(colon - text))) return SW_EINVAL;
    hs = text;
    he = colon;
  }
  if (he == hs || (size_t)(he - hs) >= hostlen) return SW_EINVAL;
  if (!colon[1]) return SW_EINVAL;
  p = strtoul(colon + 1, &end, 10);
  if (*end || p > 65535 || colon[1] == '-' || colon[1] == '+') return SW_EINVAL;
  memcpy(host, hs, (size_t)(he - hs));
  host[he - hs] = 0;
  *port = (uint16_t)p;
  return SW_OK;
}

int addr_parse_hostport(sw_addr *out, const char *text) {
  char host[64];
  uint16_t port;
  int rc = addr_split_hostport(text, host, sizeof host, &port);
  if (rc) return rc;
  return addr_parse_ip(out, host, port);
}

int addr_format_ip(const sw_addr *a, char *buf, size_t len) {
  if (a->family == 4) {
    if (!inet_ntop(AF_INET, a->ip, buf, (socklen_t)len)) return SW_EINVAL;
  } else if (a->family == 6) {
    if (!inet_ntop(AF_INET6, a->ip, buf, (socklen_t)len)) return SW_EINVAL;
  } else {
    return SW_EINVAL;
  }
  return (int)strlen(buf);
}

int addr_format(const sw_addr *a, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN];
  int n;
  if (addr_format_ip(a, ip, sizeof ip) < 0) return SW_EINVAL;
  if (a->family == 4)
    n = snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
  else
    n = snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
  if (n < 0 || (size_t)n >= len) return SW_EINVAL;
  return n;
}

int addr_equal(const sw_addr *a, const sw_addr *b) {
  if (a->family != b->family || a->port != b->port) return 0;
  return memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

uint64_t addr_hash(const sw_addr *a) {
  /* FNV-1a over the canonical bytes: tables are keyed by this and bounded, so the
   * hash only needs to spread, not to resist chosen inputs (tables cap chains). */
  uint64_t h = 0xcbf29ce484222325ull;
  size_t n = a->family == 4 ? 4 : 16;
  h = (h ^ a->family) * 0x100000001b3ull;
  h = (h ^ (a->port & 0xff)) * 0x100000001b3ull;
  h = (h ^ (a->port >> 8)) * 0x100000001b3ull;
  for (size_t i = 0; i < n; i++) h = (h ^ a->ip[i]) * 0x100000001b3ull;
  return h;
}
