#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "setowire.h"

#define SOCKET_BUFFER (4 * 1024 * 1024) /* absorbs bursts of coalesced traffic */

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int udp_open(const char *bind_ip, uint16_t port, int *fd_out, uint16_t *port_out, int *v6_out) {
  struct sockaddr_storage ss;
  socklen_t sl;
  sw_addr a;
  int fd = -1, v6 = 1;
  memset(&ss, 0, sizeof ss);
  if (bind_ip) {
    if (addr_parse_ip(&a, bind_ip, port)) return SW_EINVAL;
    v6 = a.family == 6;
  }
  if (v6) {
    fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && !bind_ip) v6 = 0; /* no IPv6 on this host: IPv4 only */
  }
  if (!v6) fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || set_nonblock(fd)) goto fail;
  int zero = 0, buf = SOCKET_BUFFER;
#ifdef SO_RCVBUFFORCE
  /* The plain option is capped by net.core.rmem_max (about 200 KiB by default);
   * with the privilege to pass the cap, bursts are absorbed instead of dropped. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf))
#endif
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
#ifdef SO_SNDBUFFORCE
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf))
#endif
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (v6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero)) goto fail;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    if (bind_ip) memcpy(&s6->sin6_addr, a.ip, 16);
    else s6->sin6_addr = in6addr_any;
    sl = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    if (bind_ip) memcpy(&s4->sin_addr, a.ip, 4);
    else s4->sin_addr.s_addr = htonl(INADDR_ANY);
    sl = sizeof *s4;
  }
  if (bind(fd, (struct sockaddr *)&ss, sl)) goto fail;
  sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl)) goto fail;
  *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  *fd_out = fd;
  *v6_out = v6;
  return SW_OK;
fail:
  if (fd >= 0) close(fd);
  return SW_EIO;
}

void udp_close(int fd) {
  if (fd >= 0) close(fd);
}

int udp_rx_init(udp_rx *rx) {
  memset(rx, 0, sizeof *rx);
  rx->slot = 65536;
  rx->bufs = malloc(UDP_BATCH * rx->slot);
  return rx->bufs ? SW_OK : SW_ENOMEM;
}

void udp_rx_free(udp_rx *rx) {
  free(rx->bufs);
  rx->bufs = NULL;
}

static void from_sockaddr(sw_addr *out, const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    addr_from_raw(out, s6->sin6_addr.s6_addr, 16, ntohs(s6->sin6_port));
  } else if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    addr_from_raw(out, (const uint8_t *)&s4->sin_addr, 4, ntohs(s4->sin_port));
  } else {
    memset(out, 0, sizeof *out);
  }
}

static socklen_t to_sockaddr(struct sockaddr_storage *ss, const sw_addr *a, int v6) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    if (a->family == 4) { /* v4-mapped through the dual-stack socket */
      s6->sin6_addr.s6_addr[10] = 0xff;
      s6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(s6->sin6_addr.s6_addr + 12, a->ip, 4);
    } else {
      memcpy(s6->sin6_addr.s6_addr, a->ip, 16);
    }
    return sizeof *s6;
  }
  if (a->family != 4) return 0;
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  s4->sin_family = AF_INET;
  s4->sin_port = htons(a->port);
  memcpy(&s4->sin_addr, a->ip, 4);
  return sizeof *s4;
}

#ifdef __linux__
int udp_recv_batch(int fd, udp_rx *rx) {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage ss[UDP_BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < UDP_BATCH; i++) {
    iov[i].iov_base = rx->bufs + (size_t)i * rx->slot;
    iov[i].iov_len = rx->slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &ss[i];
    msgs[i].msg_hdr.msg_namelen = sizeof ss[i];
  }
  int n = recvmmsg(fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : SW_EIO;
  for (int i = 0; i < n; i++) {
    from_sockaddr(&rx->from[i], &ss[i]);
    rx->len[i] = msgs[i].msg_len;
    /* A truncated datagram (bigger than a slot) is not what was sent: mark it empty. */
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) rx->len[i] = 0;
  }
  return n;
}

int udp_send_batch(int fd, int v6, const sw_dgram *d, size_t n) {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage ss[UDP_BATCH];
  size_t done = 0;
  while (done < n) {
    size_t m = n - done < UDP_BATCH ? n - done : UDP_BATCH;
    memset(msgs, 0, sizeof(struct mmsghdr) * m);
    for (size_t i = 0; i < m; i++) {
      iov[i].iov_base = (void *)d[done + i].data;
      iov[i].iov_len = d[done + i].len;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &ss[i];
      msgs[i].msg_hdr.msg_namelen = to_sockaddr(&ss[i], d[done + i].to, v6);
    }
    int r = sendmmsg(fd, msgs, (unsigned)m, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return (int)done;
      if (errno == EINTR) continue;
      /* This datagram cannot go (unreachable, bad address family, too big): skip it
       * so it does not wedge the queue. */
      done++;
      continue;
    }
    done += (size_t)r;
    if ((size_t)r < m) {
      /* sendmmsg stops at the first error; ask again to learn which. */
      continue;
    }
  }
  return (int)done;
}
#else
int udp_recv_batch(int fd, udp_rx *rx) {
  int n = 0;
  while (n < UDP_BATCH) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t r = recvfrom(fd, rx->bufs + (size_t)n * rx->slot, rx->slot, 0,
                         (struct sockaddr *)&ss, &sl);
    if (r < 0) break;
    from_sockaddr(&rx->from[n], &ss);
    rx->len[n] = (size_t)r;
    n++;
  }
  return n;
}

int udp_send_batch(int fd, int v6, const sw_dgram *d, size_t n) {
  size_t i = 0;
  for (; i < n; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = to_sockaddr(&ss, d[i].to, v6);
    if (sendto(fd, d[i].data, d[i].len, 0, (struct sockaddr *)&ss, sl) < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
      break;
  }
  return (int)i;
}
#endif
