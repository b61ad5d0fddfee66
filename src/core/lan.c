/* LAN discovery module: see lan.h. Section numbers refer to docs/PROTOCOL.md. */
#include "lan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "crypto.h"
#include "wire.h"

struct lan {
  sw_core *c;
  sw_addr group; /* 239.0.0.1:45678 */
  /* the hashes of the joined topics, in core_topic_at order */
  char topic[SW_MAX_TOPICS][CRYPTO_TOPIC_HASH_LEN + 1];
  int ntopics;
  uint64_t next_beacon;
  double tokens; /* the LAN's dial budget: LAN_MEET_RATE_PER_S, bursts of LAN_MEET_BURST */
  uint64_t refill_at;
  lan_stats st;
};

size_t lan_beacon_encode(uint8_t *out, size_t cap, const uint8_t id[20], const sw_addr *addr,
                         const char *topic_hash) {
  char ip[64], text[LAN_BEACON_MAX + 1], idhex[41];
  if (!addr || addr->family != 4 || cap < 1) return 0; /* the format has no room for v6 */
  if (addr_format_ip(addr, ip, sizeof ip) < 0) return 0;
  crypto_hex_encode(id, 20, idhex);
  int n = snprintf(text, sizeof text, "%s:%s:%u:%s", idhex, ip, (unsigned)addr->port,
                   topic_hash ? topic_hash : "");
  if (n < 0 || (size_t)n >= sizeof text || (size_t)n + 1 > cap) return 0;
  out[0] = WIRE_LAN;
  memcpy(out + 1, text, (size_t)n);
  return (size_t)n + 1;
}

int lan_beacon_parse(const uint8_t *buf, size_t len, lan_beacon *out) {
  char text[LAN_BEACON_MAX + 1];
  char *field[5];
  int nf = 0;
  if (!buf || len < 2 || len > LAN_BEACON_MAX || buf[0] != WIRE_LAN) return SW_EINVAL;
  memcpy(text, buf + 1, len - 1);
  text[len - 1] = 0;
  if (strlen(text) != len - 1) return SW_EINVAL; /* a NUL inside */
  /* Fields split on ':' (an IPv6 address would add more: D21, refused). */
  field[nf++] = text;
  for (char *p = text; *p; p++) {
    if (*p != ':') continue;
    if (nf == 4) return SW_EINVAL;
    *p = 0;
    field[nf++] = p + 1;
  }
  if (nf < 3) return SW_EINVAL; /* as Python requires; JavaScript would read garbage */
  memset(out, 0, sizeof *out);
  if (crypto_hex_decode(field[0], out->id, 20) != 20) return SW_EINVAL;
  /* port: decimal digits only, 1..65535 */
  const char *ps = field[2];
  size_t pl = strlen(ps);
  if (pl < 1 || pl > 5) return SW_EINVAL;
  unsigned long port = 0;
  for (size_t i = 0; i < pl; i++) {
    if (ps[i] < '0' || ps[i] > '9') return SW_EINVAL;
    port = port * 10 + (unsigned long)(ps[i] - '0');
  }
  if (port < 1 || port > 65535) return SW_EINVAL;
  /* a dotted quad and nothing else */
  size_t il = strlen(field[1]);
  if (il < 7 || il > 15 || strspn(field[1], "0123456789.") != il) return SW_EINVAL;
  if (addr_parse_ip(&out->addr, field[1], (uint16_t)port) != SW_OK || out->addr.family != 4)
    return SW_EINVAL;
  if (nf == 4) {
    size_t tl = strlen(field[3]);
    uint8_t th[CRYPTO_TOPIC_HASH_LEN / 2];
    if (tl != 0 && crypto_hex_decode(field[3], th, sizeof th) != (int)sizeof th)
      return SW_EINVAL; /* empty, or 12 hex characters */
    memcpy(out->topic, field[3], tl + 1);
  }
  return SW_OK;
}

/* ---- hooks ------------------------------------------------------------------ */

static void lan_datagram(void *m, sw_sock_kind kind, const sw_addr *from, const uint8_t *buf,
                        size_t len, uint64_t now) {
  lan *l = m;
  lan_beacon b;
  (void)from;
  if (kind != SW_SOCK_LAN) return;
  l->st.received++;
  if (lan_beacon_parse(buf, len, &b)) {
    l->st.malformed++;
    return;
  }
  if (memcmp(b.id, core_identity(l->c)->id, 20) == 0) { /* our own, looped back */
    l->st.own++;
    return;
  }
  /* D33, stricter than the references: nobody is met before we join, and then only
   * peers announcing the hash of a topic we joined. */
  if (!l->ntopics) {
    l->st.not_joined++;
    return;
  }
  int ti = 0;
  while (ti < l->ntopics && strcmp(b.topic, l->topic[ti]) != 0) ti++;
  if (ti == l->ntopics) {
    l->st.other_topic++;
    return;
  }
  /* D10: the connected test uses the wire id, so a peer is not re-dialled each beacon. */
  if (core_connected(l->c, b.id)) {
    l->st.connected++;
    return;
  }
  /* Anyone on the link (or able to reach the port) can send beacons naming any id and
   * any address: the LAN has its own small dial budget, so a flood of them costs at
   * most LAN_MEET_RATE_PER_S dials and leaves core_meet's tokens to other discovery.
   * Real peers beacon every 5 s and are met on a later beacon if one is refused. */
  if (now > l->refill_at) {
    l->tokens += (double)(now - l->refill_at) * LAN_MEET_RATE_PER_S / 1000.0;
    if (l->tokens > LAN_MEET_BURST) l->tokens = LAN_MEET_BURST;
    l->refill_at = now;
  }
  if (l->tokens < 1) {
    l->st.over_budget++;
    return;
  }
  /* The full id is checked against the key that answers (D2). */
  int rc = core_meet_topic(l->c, &b.addr, b.id, core_topic_at(l->c, ti), now);
  if (rc == SW_OK) l->st.met++;
  if (rc != SW_EFULL) l->tokens -= 1;
}

/* The hashes again from the engine's list (a topic joined or left). */
static void lan_topics(void *m, uint64_t now) {
  lan *l = m;
  (void)now;
  l->ntopics = core_topic_count(l->c);
  for (int i = 0; i < l->ntopics; i++) crypto_topic_hash(core_topic_at(l->c, i), l->topic[i]);
}

static void lan_leave(void *m, const uint8_t topic[32], uint64_t now) {
  (void)topic;
  lan_topics(m, now);
}

/* Beacons leave only once we have joined: before that there is nothing to be found
 * for, and reference nodes would dial us on an empty topic hash (D33). One beacon per
 * joined topic each period (a reference node hears the one of its topic). */
static void lan_timeout(void *m, uint64_t now) {
  lan *l = m;
  uint8_t beacon[LAN_BEACON_MAX];
  if (now < l->next_beacon) return;
  l->next_beacon = now + LAN_PERIOD_MS;
  /* our LAN IP and main port from the engine (pubaddr.h); IPv4 only (D21) */
  const sw_addr *self = core_lan_addr(l->c);
  if (self->family != 4 || !self->port) return;
  for (int i = 0; i < l->ntopics; i++) {
    size_t n =
        lan_beacon_encode(beacon, sizeof beacon, core_identity(l->c)->id, self, l->topic[i]);
    if (!n) return;
    core_send(l->c, SW_SOCK_LAN, &l->group, beacon, n);
    l->st.sent++;
  }
}

static uint64_t lan_deadline(const void *m) { return ((const lan *)m)->next_beacon; }

static void lan_close(void *m, uint64_t now) {
  (void)now;
  ((lan *)m)->next_beacon = UINT64_MAX;
}

static void lan_free(void *m) { free(m); }

static size_t lan_memory(const void *m) {
  (void)m;
  return sizeof(lan);
}

void lan_get_stats(const lan *l, lan_stats *out) { *out = l->st; }

int lan_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, lan **out) {
  (void)cfg;
  lan *l = calloc(1, sizeof *l);
  if (!l) return SW_ENOMEM;
  l->c = c;
  addr_parse_ip(&l->group, LAN_GROUP, LAN_PORT);
  l->next_beacon = now + LAN_PERIOD_MS; /* 11.9: the first 5 s after start */
  l->tokens = LAN_MEET_BURST;
  l->refill_at = now;
  core_module m = {.name = "lan", .sockets = CORE_SOCKET(SW_SOCK_LAN),
                   .on_datagram = lan_datagram, .on_join = lan_topics,
                   .on_timeout = lan_timeout, .deadline = lan_deadline, .on_close = lan_close,
                   .free = lan_free, .memory = lan_memory, .state = l,
                   .on_leave = lan_leave};
  int rc = core_add_module(c, &m);
  if (rc) {
    free(l);
    return rc;
  }
  if (out) *out = l;
  return SW_OK;
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  return cfg->lan ? lan_attach(c, cfg, now, NULL) : SW_OK;
}

const core_module_def lan_module = {"lan", attach_from_config};
