/* A STUN client over a real UDP socket, built on the core's codec (stun.h) and NAT
 * classification (natclass.h), for tests/net/test_stun_coturn.py (interop with another
 * STUN server on loopback).
 *
 *   sw_stun_probe HOST PORT [OPTS]     one Binding request from a socket bound to the
 *                                      loopback address of HOST's family; OPTS: any of
 *                                      i (change IP), p (change port), f (FINGERPRINT)
 *   sw_stun_probe -n HOST PORT         the RFC 5780 sequence (tests I-III for mapping,
 *                                      the two CHANGE-REQUEST probes for filtering) from
 *                                      one socket, then natclass_classify
 *
 * Prints one JSON object per request: "sent", "answered", and when answered "from" (the
 * datagram's source), "class", "error", "mapped", "origin", "other", "fingerprint",
 * "tid_ok"; -n then prints {"mapping","filtering","type"}. Exit 0 when it ran, 1 on a
 * socket error, 2 on usage. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "natclass.h"
#include "stun.h"

static int to_sockaddr(const sw_addr *a, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (a->family == 4) {
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(a->port);
    memcpy(&s->sin_addr, a->ip, 4);
    *len = sizeof *s;
    return 0;
  }
  struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(a->port);
  memcpy(&s->sin6_addr, a->ip, 16);
  *len = sizeof *s;
  return 0;
}

static void from_sockaddr(const struct sockaddr_storage *ss, sw_addr *a) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
    addr_from_raw(a, (const uint8_t *)&s->sin_addr, 4, ntohs(s->sin_port));
  } else {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
    addr_from_raw(a, (const uint8_t *)&s->sin6_addr, 16, ntohs(s->sin6_port));
  }
}

static void print_addr(const char *key, const sw_addr *a) {
  char b[80];
  if (addr_format(a, b, sizeof b) < 0) snprintf(b, sizeof b, "?");
  printf(",\"%s\":\"%s\"", key, b);
}

typedef struct result {
  int answered;
  sw_addr from;
  stun_msg m;
} result;

/* One request to `to` with the given options; up to 3 tries of 700 ms. */
static int probe(int fd, const sw_addr *to, unsigned opts, result *res) {
  static unsigned counter;
  uint8_t tid[12], req[64], buf[1500];
  memset(res, 0, sizeof *res);
  unsigned c = ++counter;
  for (int i = 0; i < 12; i++) tid[i] = (uint8_t)(0xa0 + i + c * 13 + (unsigned)getpid());
  int n = stun_encode_request(req, sizeof req, tid, opts);
  if (n < 0) return -1;
  struct sockaddr_storage ss;
  socklen_t sl;
  to_sockaddr(to, &ss, &sl);
  printf("{\"sent\":");
  char tb[80];
  addr_format(to, tb, sizeof tb);
  printf("\"%s\",\"opts\":%u", tb, opts);
  for (int tries = 0; tries < 3 && !res->answered; tries++) {
    if (sendto(fd, req, (size_t)n, 0, (struct sockaddr *)&ss, sl) != n) return -1;
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, 700) > 0) {
      struct sockaddr_storage from;
      socklen_t fl = sizeof from;
      ssize_t got = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (got < 0) return -1;
      stun_msg m;
      if (stun_decode(buf, (size_t)got, &m) != STUN_OK) {
        printf(",\"undecodable\":%zd", got);
        continue;
      }
      if (!stun_response_for(&m, tid)) continue; /* a late answer to an earlier probe */
      res->answered = 1;
      res->m = m;
      from_sockaddr(&from, &res->from);
      break;
    }
  }
  printf(",\"answered\":%d", res->answered);
  if (res->answered) {
    const stun_msg *m = &res->m;
    print_addr("from", &res->from);
    printf(",\"class\":%u,\"error\":%u,\"fingerprint\":%d,\"len\":%u", m->cls, m->error_code,
           !!(m->present & STUN_HAS_FINGERPRINT), (unsigned)m->length + STUN_HDR_LEN);
    if (stun_mapped(m)) print_addr("mapped", stun_mapped(m));
    if (m->present & STUN_HAS_MAPPED) print_addr("plain_mapped", &m->mapped);
    if (m->present & STUN_HAS_ORIGIN) print_addr("origin", &m->origin);
    if (m->present & STUN_HAS_OTHER) print_addr("other", &m->other);
  }
  printf("}\n");
  fflush(stdout);
  return 0;
}

static int ok_answer(const result *r) {
  return r->answered && r->m.cls == STUN_CLASS_SUCCESS && stun_mapped(&r->m);
}

static nat_probe as_probe(const sw_addr *server, const result *r) {
  nat_probe p;
  memset(&p, 0, sizeof p);
  p.server = *server;
  if (ok_answer(r)) {
    p.answered = 1;
    p.mapped = *stun_mapped(&r->m);
  }
  return p;
}

/* A filtering probe's outcome: a success from the right place is yes, silence is no, an
 * error or an answer from the wrong place is untested. */
static nat_tri change_outcome(const sw_addr *to, const result *r, unsigned change) {
  if (!r->answered) return NAT_NO;
  if (!ok_answer(r) || !natclass_change_honoured(to, &r->from, change)) return NAT_UNTESTED;
  return NAT_YES;
}

static int classify(int fd, const sw_addr *server, const sw_addr *local) {
  natclass_input in;
  memset(&in, 0, sizeof in);
  in.locals = local;
  in.nlocals = 1;
  result r1, r;
  if (probe(fd, server, 0, &r1) < 0) return -1;
  in.a = as_probe(server, &r1);
  if (ok_answer(&r1) && (r1.m.present & STUN_HAS_OTHER)) {
    sw_addr other = r1.m.other;
    sw_addr b = other;
    b.port = server->port; /* test II: the other IP, the primary port */
    if (probe(fd, &b, 0, &r) < 0) return -1;
    in.b = as_probe(&b, &r);
    if (probe(fd, &other, 0, &r) < 0) return -1; /* test III */
    in.b2 = as_probe(&other, &r);
    if (probe(fd, server, STUN_CHANGE_IP | STUN_CHANGE_PORT, &r) < 0) return -1;
    in.change_ip_port = change_outcome(server, &r, STUN_CHANGE_IP | STUN_CHANGE_PORT);
    if (probe(fd, server, STUN_CHANGE_PORT, &r) < 0) return -1;
    in.change_port = change_outcome(server, &r, STUN_CHANGE_PORT);
  }
  natclass_result c = natclass_classify(&in);
  printf("{\"mapping\":\"%s\",\"filtering\":\"%s\",\"type\":\"%s\"}\n",
         natclass_mapping_name(c.mapping), natclass_filtering_name(c.filtering),
         natclass_type_name(c.type));
  return 0;
}

int main(int argc, char **argv) {
  int nat = argc > 1 && !strcmp(argv[1], "-n");
  int at = nat ? 2 : 1;
  if (argc < at + 2) {
    fprintf(stderr, "usage: %s [-n] HOST PORT [ipf]\n", argv[0]);
    return 2;
  }
  sw_addr server;
  if (addr_parse_ip(&server, argv[at], (uint16_t)atoi(argv[at + 1])) != 0) return 2;
  unsigned opts = 0;
  for (const char *o = argc > at + 2 ? argv[at + 2] : ""; *o; o++)
    opts |= *o == 'i' ? STUN_OPT_CHANGE_IP : *o == 'p' ? STUN_OPT_CHANGE_PORT
            : *o == 'f' ? STUN_OPT_FINGERPRINT : 0;

  int fd = socket(server.family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return 1;
  sw_addr local;
  addr_parse_ip(&local, server.family == 4 ? "127.0.0.1" : "::1", 0);
  struct sockaddr_storage ss;
  socklen_t sl;
  to_sockaddr(&local, &ss, &sl);
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0) return 1;
  sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return 1;
  from_sockaddr(&ss, &local);
  char lb[80];
  addr_format(&local, lb, sizeof lb);
  printf("{\"local\":\"%s\"}\n", lb);

  int rc = nat ? classify(fd, &server, &local) : probe(fd, &server, opts, &(result){0});
  close(fd);
  return rc < 0 ? 1 : 0;
}
