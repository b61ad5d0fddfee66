/* setowire-node's STUN server on libuv (stunsrv_rt.h). The protocol is the core's pure
 * stunsrv_answer; this file owns the sockets, the rate limit and the counters. */
#include "stunsrv_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "stunsrv.h"

#define RL_BUCKETS (2 * STUNRT_SOURCES) /* hash heads, a power of two */
#define MAX_DATAGRAM 1500               /* larger datagrams arrive truncated: dropped */

/* One source IP's token bucket: tokens are counted in thousandths so a rate in answers
 * per second refills `rate` thousandths per millisecond. */
typedef struct rl_entry {
  sw_addr ip; /* port 0 */
  uint64_t last_ms;
  uint32_t milli;
  int32_t hnext;      /* next in the hash chain, -1 ends */
  int32_t prev, next; /* recency list, head the most recent, -1 ends */
} rl_entry;

typedef struct stunsock {
  uv_udp_t h;
  struct stunrt *rt;
  uint8_t fam, ip, port, open;
} stunsock;

struct stunrt {
  uv_loop_t *loop;
  stunsrv_config cfg;
  stunsock sock[2][2][2]; /* [family: 0 IPv4, 1 IPv6][ip][port] */
  unsigned pending;       /* handles not yet closed */
  void (*closed)(void *);
  void *closed_arg;
  stunrt_stats st;
  uint8_t buf[MAX_DATAGRAM];
  int busy; /* buf handed to libuv and not yet returned */
  /* the rate limit */
  rl_entry e[STUNRT_SOURCES];
  int32_t bucket[RL_BUCKETS];
  int32_t head, tail;
  size_t used;
  uint64_t total_last_ms;
  uint32_t total_milli;
};

/* ---- rate limit ---------------------------------------------------------------------- */

static uint32_t refill(uint32_t milli, uint64_t last, uint64_t now, uint32_t rate,
                       uint32_t burst) {
  uint64_t cap = (uint64_t)burst * 1000u;
  if (now <= last) return milli;
  uint64_t dt = now - last;
  uint64_t full = cap / rate + 1; /* beyond this many ms any bucket is full */
  if (dt > full) dt = full;
  uint64_t m = (uint64_t)milli + dt * rate;
  return (uint32_t)(m > cap ? cap : m);
}

static void list_unlink(stunrt *s, int32_t i) {
  rl_entry *x = &s->e[i];
  if (x->prev >= 0) s->e[x->prev].next = x->next;
  else s->head = x->next;
  if (x->next >= 0) s->e[x->next].prev = x->prev;
  else s->tail = x->prev;
  x->prev = x->next = -1;
}

static void list_push(stunrt *s, int32_t i) {
  rl_entry *x = &s->e[i];
  x->prev = -1;
  x->next = s->head;
  if (s->head >= 0) s->e[s->head].prev = i;
  s->head = i;
  if (s->tail < 0) s->tail = i;
}

static size_t slot_of(const sw_addr *ip) { return (size_t)(addr_hash(ip) & (RL_BUCKETS - 1)); }

static void hash_unlink(stunrt *s, int32_t i) {
  int32_t *p = &s->bucket[slot_of(&s->e[i].ip)];
  while (*p >= 0 && *p != i) p = &s->e[*p].hnext;
  if (*p == i) *p = s->e[i].hnext;
  s->e[i].hnext = -1;
}

/* Whether one more answer may go to this source now; takes its token if so. */
static int rl_allow(stunrt *s, const sw_addr *from, uint64_t now) {
  sw_addr ip = *from;
  ip.port = 0;
  s->total_milli =
      refill(s->total_milli, s->total_last_ms, now, STUNRT_TOTAL_RATE, STUNRT_TOTAL_BURST);
  s->total_last_ms = now;
  if (s->total_milli < 1000u) return 0;

  size_t slot = slot_of(&ip);
  int32_t i = s->bucket[slot];
  while (i >= 0 && !addr_equal(&s->e[i].ip, &ip)) i = s->e[i].hnext;
  if (i >= 0) {
    list_unlink(s, i);
  } else {
    if (s->used < STUNRT_SOURCES) {
      i = (int32_t)s->used++;
    } else { /* replace the least recently seen source */
      i = s->tail;
      list_unlink(s, i);
      hash_unlink(s, i);
    }
    s->e[i].ip = ip;
    s->e[i].last_ms = now;
    s->e[i].milli = STUNRT_BURST * 1000u;
    s->e[i].hnext = s->bucket[slot];
    s->bucket[slot] = i;
  }
  list_push(s, i);
  rl_entry *x = &s->e[i];
  x->milli = refill(x->milli, x->last_ms, now, STUNRT_RATE, STUNRT_BURST);
  x->last_ms = now;
  if (x->milli < 1000u) return 0;
  x->milli -= 1000u;
  s->total_milli -= 1000u;
  return 1;
}

/* ---- configuration ------------------------------------------------------------------- */

static int unspecified(const sw_addr *a) {
  static const uint8_t zero[16] = {0};
  return memcmp(a->ip, zero, sizeof zero) == 0;
}

/* Fill the core's configuration and *wild (0: one specific primary address; else the
 * families to bind the wildcard in, bit 0 IPv4, bit 1 IPv6); -1 with a sentence in err
 * when it cannot be served. */
static int build_config(const stunrt_config *c, stunsrv_config *out, unsigned *wild, char *err,
                        size_t n) {
  memset(out, 0, sizeof *out);
  *wild = 0;
  if (c->port == 0) {
    snprintf(err, n, "--stun-port must be a port number above 0");
    return -1;
  }
  if (c->bind && addr_parse_ip(&out->ip[0], c->bind, 0) != 0) {
    snprintf(err, n, "--stun-port needs a numeric --bind address, not '%s'", c->bind);
    return -1;
  }
  if (!c->bind) *wild = 3u;
  else if (unspecified(&out->ip[0])) *wild = out->ip[0].family == 6 ? 3u : 1u; /* :: is both */
  if ((c->alt_ip || c->alt_port) && *wild) {
    snprintf(err, n,
             "--stun-alt-ip and --stun-alt-port need --bind with one specific address: the "
             "answers name the address they leave from (RESPONSE-ORIGIN, OTHER-ADDRESS)");
    return -1;
  }
  if (c->alt_ip) {
    if (addr_parse_ip(&out->ip[1], c->alt_ip, 0) != 0 || unspecified(&out->ip[1])) {
      snprintf(err, n, "--stun-alt-ip needs one specific numeric address, not '%s'",
               c->alt_ip);
      return -1;
    }
    if (out->ip[1].family != out->ip[0].family) {
      snprintf(err, n, "--stun-alt-ip %s is not of --bind %s's address family", c->alt_ip,
               c->bind);
      return -1;
    }
    if (addr_equal(&out->ip[0], &out->ip[1])) {
      snprintf(err, n, "--stun-alt-ip must differ from --bind");
      return -1;
    }
  }
  if (c->alt_port && c->alt_port == c->port) {
    snprintf(err, n, "--stun-alt-port must differ from --stun-port");
    return -1;
  }
  out->port[0] = c->port;
  out->port[1] = c->alt_port;
  /* the wildcard: the core is told family 0, so no RESPONSE-ORIGIN and no changes */
  if (*wild) memset(&out->ip[0], 0, sizeof out->ip[0]);
  return 0;
}

int stunrt_check(const stunrt_config *cfg, char *err, size_t errlen) {
  stunsrv_config c;
  unsigned wild;
  return build_config(cfg, &c, &wild, err, errlen);
}

/* ---- sockets ------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  stunrt *s = ((stunsock *)h->data)->rt;
  if (s->busy) { /* cannot happen on one loop; libuv then reports ENOBUFS */
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  s->busy = 1;
  *buf = uv_buf_init((char *)s->buf, sizeof s->buf);
}

static int from_sockaddr(const struct sockaddr *sa, sw_addr *a) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    addr_from_raw(a, (const uint8_t *)&s4->sin_addr, 4, ntohs(s4->sin_port));
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    addr_from_raw(a, (const uint8_t *)&s6->sin6_addr, 16, ntohs(s6->sin6_port));
    return 0;
  }
  return -1;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  stunsock *k = h->data;
  stunrt *s = k->rt;
  if (buf->base == (char *)s->buf) s->busy = 0;
  if (nread < 0 || addr == NULL) return; /* an error, or nothing more to read */
  s->st.received++;
  sw_addr from;
  if ((flags & UV_UDP_PARTIAL) || from_sockaddr(addr, &from) != 0) {
    s->st.dropped++;
    return;
  }
  uint8_t out[STUN_MAX_RESPONSE];
  stunsrv_route r;
  size_t len = stunsrv_answer(&s->cfg, s->buf, (size_t)nread, &from, k->ip, k->port, out,
                              sizeof out, &r);
  if (len == 0) {
    s->st.dropped++;
    return;
  }
  stunsock *via = &s->sock[k->fam][r.ip & 1u][r.port & 1u];
  if (!via->open) { /* cannot happen: stunsrv_answer names only sockets we have */
    s->st.dropped++;
    return;
  }
  if (!rl_allow(s, &from, uv_now(s->loop))) {
    s->st.limited++;
    return;
  }
  uv_buf_t b = uv_buf_init((char *)out, (unsigned)len);
  /* to the address as it came (a v4-mapped source on an IPv6 socket stays mapped) */
  if (uv_udp_try_send(&via->h, &b, 1, addr) == (int)len) s->st.answered++;
  else s->st.unsent++;
}

static void on_closed(uv_handle_t *h) {
  stunrt *s = ((stunsock *)h->data)->rt;
  if (--s->pending > 0) return;
  void (*cb)(void *) = s->closed;
  void *arg = s->closed_arg;
  free(s);
  if (cb) cb(arg);
}

void stunrt_stop(stunrt *s, void (*closed)(void *arg), void *arg) {
  s->closed = closed;
  s->closed_arg = arg;
  if (s->pending == 0) {
    free(s);
    if (closed) closed(arg);
    return;
  }
  for (unsigned f = 0; f < 2; f++)
    for (unsigned i = 0; i < 2; i++)
      for (unsigned p = 0; p < 2; p++) {
        stunsock *k = &s->sock[f][i][p];
        if (!k->open) continue;
        k->open = 0;
        uv_udp_recv_stop(&k->h);
        uv_close((uv_handle_t *)&k->h, on_closed);
      }
}

/* Bind one socket at a (its port set); 0 or a libuv error. */
static int open_sock(stunrt *s, unsigned fam, unsigned ip, unsigned port, const sw_addr *a) {
  stunsock *k = &s->sock[fam][ip][port];
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  unsigned flags = 0;
  if (fam == 0) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->ip, 4);
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    memcpy(&s6->sin6_addr, a->ip, 16);
    flags = UV_UDP_IPV6ONLY;
  }
  int rc = uv_udp_init(s->loop, &k->h);
  if (rc) return rc;
  k->h.data = k;
  k->rt = s;
  k->fam = (uint8_t)fam;
  k->ip = (uint8_t)ip;
  k->port = (uint8_t)port;
  k->open = 1;
  s->pending++;
  rc = uv_udp_bind(&k->h, (const struct sockaddr *)&ss, flags);
  if (!rc) rc = uv_udp_recv_start(&k->h, on_alloc, on_recv);
  return rc;
}

static void describe(const sw_addr *a, char *buf, size_t n) {
  if (addr_format(a, buf, n) < 0) snprintf(buf, n, "?");
}

int stunrt_start(stunrt **out, uv_loop_t *loop, const stunrt_config *cfg, char *err,
                 size_t errlen) {
  *out = NULL;
  stunrt *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  unsigned want;
  if (build_config(cfg, &s->cfg, &want, err, errlen) != 0) {
    free(s);
    return -1;
  }
  s->loop = loop;
  s->head = s->tail = -1;
  for (size_t i = 0; i < RL_BUCKETS; i++) s->bucket[i] = -1;
  s->total_milli = STUNRT_TOTAL_BURST * 1000u;
  s->total_last_ms = uv_now(loop);

  char where[64];
  int rc = 0;
  if (want) {
    /* the wildcard: one socket per family, each answering from itself */
    sw_addr any;
    memset(&any, 0, sizeof any);
    any.port = cfg->port;
    int bound = 0;
    for (unsigned f = 0; f < 2 && !rc; f++) {
      if (!(want & (1u << f))) continue;
      any.family = f ? 6 : 4;
      rc = open_sock(s, f, 0, 0, &any);
      /* a host without IPv6 still serves IPv4 on the wildcard */
      if (rc && f == 1 && want == 3u && bound &&
          (rc == UV_EAFNOSUPPORT || rc == UV_EADDRNOTAVAIL)) {
        rc = 0;
        s->sock[1][0][0].open = 0;
        uv_close((uv_handle_t *)&s->sock[1][0][0].h, on_closed);
        continue;
      }
      if (!rc) bound = 1;
      else describe(&any, where, sizeof where);
    }
  } else {
    unsigned fam = s->cfg.ip[0].family == 6;
    for (unsigned i = 0; i < 2 && !rc; i++)
      for (unsigned p = 0; p < 2 && !rc; p++) {
        sw_addr a = stunsrv_socket(&s->cfg, i, p);
        if (a.family == 0) continue;
        rc = open_sock(s, fam, i, p, &a);
        if (rc) describe(&a, where, sizeof where);
      }
  }
  if (rc) {
    snprintf(err, errlen, "cannot serve STUN on %s: %s", where, uv_strerror(rc));
    stunrt_stop(s, NULL, NULL);
    return -1;
  }
  *out = s;
  return 0;
}

void stunrt_get_stats(const stunrt *s, stunrt_stats *out) {
  *out = s->st;
  out->sources = s->used;
}
