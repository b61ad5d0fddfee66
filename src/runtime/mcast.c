/* LAN multicast socket: see mcast.h. */
#include "mcast.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "setowire.h"

int mcast_open(const char *ifaddr, int *fd_out) {
  struct in_addr group, iface;
  iface.s_addr = htonl(INADDR_ANY);
  if (inet_pton(AF_INET, SW_CORE_LAN_GROUP, &group) != 1) return SW_EINVAL;
  if (ifaddr && inet_pton(AF_INET, ifaddr, &iface) != 1) return SW_EINVAL;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return SW_EIO;
  int one = 1;
  unsigned char ttl = 1, loop = 1; /* the references' defaults, said explicitly */
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(SW_CORE_LAN_PORT);
  sa.sin_addr.s_addr = htonl(INADDR_ANY); /* group traffic arrives addressed to the group */
  struct ip_mreq mreq;
  mreq.imr_multiaddr = group;
  mreq.imr_interface = iface;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
#ifdef SO_REUSEPORT
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
#endif
      bind(fd, (struct sockaddr *)&sa, sizeof sa) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) ||
      (ifaddr && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof iface)) ||
      setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq)) {
    close(fd);
    return SW_EIO;
  }
  *fd_out = fd;
  return SW_OK;
}

void mcast_local_ip(const char *lan_addr, const char *bind, char *out, size_t len) {
  struct in_addr a;
  if (!len) return;
  if (lan_addr && inet_pton(AF_INET, lan_addr, &a) == 1) {
    snprintf(out, len, "%s", lan_addr);
    return;
  }
  if (bind && inet_pton(AF_INET, bind, &a) == 1 && a.s_addr != htonl(INADDR_ANY)) {
    snprintf(out, len, "%s", bind);
    return;
  }
  snprintf(out, len, "127.0.0.1");
  struct ifaddrs *list = NULL;
  if (getifaddrs(&list)) return;
  for (struct ifaddrs *i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char text[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, text, sizeof text))
      continue;
    snprintf(out, len, "%s", text);
    break;
  }
  freeifaddrs(list);
}
