/* The core's STUN server function (stunsrv.h) on real sockets, for
 * tests/net/test_stun_coturn.py: another STUN client (coturn's) talks to it. It is also
 * the pattern setowire-node follows: one socket per (IP, port) pair, each datagram handed
 * to stunsrv_answer with the pair's indices, the answer sent from the socket it names.
 *
 *   sw_stun_serve IP0 IP1 PORT0 PORT1 SECONDS
 *
 * IP1 "-" and/or PORT1 0: no alternate. Prints "ready" once bound, serves for SECONDS,
 * then prints the number of datagrams received and answered and exits 0; 1 on a socket
 * error, 2 on usage. With STUN_SERVE_DUMP set in the environment, each datagram and its
 * answer are written in hex to stderr. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "stunsrv.h"

static socklen_t to_sockaddr(const sw_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == 4) {
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(a->port);
    memcpy(&s->sin_addr, a->ip, 4);
    return sizeof *s;
  }
  struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(a->port);
  memcpy(&s->sin6_addr, a->ip, 16);
  return sizeof *s;
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

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s IP0 IP1|- PORT0 PORT1|0 SECONDS\n", argv[0]);
    return 2;
  }
  stunsrv_config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (addr_parse_ip(&cfg.ip[0], argv[1], 0) != 0) return 2;
  if (strcmp(argv[2], "-") && addr_parse_ip(&cfg.ip[1], argv[2], 0) != 0) return 2;
  cfg.port[0] = (uint16_t)atoi(argv[3]);
  cfg.port[1] = (uint16_t)atoi(argv[4]);
  double until = now_s() + atof(argv[5]);

  int fds[2][2] = {{-1, -1}, {-1, -1}};
  struct pollfd p[4];
  unsigned which[4][2];
  int np = 0;
  for (unsigned ip = 0; ip < 2; ip++)
    for (unsigned port = 0; port < 2; port++) {
      sw_addr a = stunsrv_socket(&cfg, ip, port);
      if (a.family == 0) continue;
      struct sockaddr_storage ss;
      socklen_t sl = to_sockaddr(&a, &ss);
      int fd = socket(a.family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
      if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        perror("bind");
        return 1;
      }
      fds[ip][port] = fd;
      p[np] = (struct pollfd){fd, POLLIN, 0};
      which[np][0] = ip;
      which[np][1] = port;
      np++;
    }
  printf("ready\n");
  fflush(stdout);

  unsigned long received = 0, answered = 0;
  for (;;) {
    double left = until - now_s();
    if (left <= 0) break;
    int r = poll(p, (nfds_t)np, (int)(left * 1000) + 1);
    if (r < 0) return 1;
    for (int i = 0; i < np; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      uint8_t buf[1500], out[STUN_MAX_RESPONSE];
      struct sockaddr_storage from;
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(p[i].fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (n < 0) continue;
      received++;
      sw_addr src;
      from_sockaddr(&from, &src);
      stunsrv_route route;
      size_t len = stunsrv_answer(&cfg, buf, (size_t)n, &src, which[i][0], which[i][1], out,
                                  sizeof out, &route);
      if (getenv("STUN_SERVE_DUMP")) {
        fprintf(stderr, "in %u/%u:", which[i][0], which[i][1]);
        for (ssize_t k = 0; k < n; k++) fprintf(stderr, "%02x", buf[k]);
        fprintf(stderr, "\nout %zu via %u/%u:", len, route.ip, route.port);
        for (size_t k = 0; k < len; k++) fprintf(stderr, "%02x", out[k]);
        fprintf(stderr, "\n");
      }
      if (len == 0) continue;
      int fd = fds[route.ip][route.port];
      if (fd < 0) continue; /* cannot happen: stunsrv_answer names only sockets we have */
      struct sockaddr_storage to;
      socklen_t tl = to_sockaddr(&src, &to);
      if (sendto(fd, out, len, 0, (struct sockaddr *)&to, tl) == (ssize_t)len) answered++;
    }
  }
  printf("received %lu answered %lu\n", received, answered);
  for (unsigned ip = 0; ip < 2; ip++)
    for (unsigned port = 0; port < 2; port++)
      if (fds[ip][port] >= 0) close(fds[ip][port]);
  return 0;
}
