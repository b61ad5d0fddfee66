#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "setowire.h"

#ifdef __linux__
#include <linux/errqueue.h>
#include <netinet/udp.h>
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#endif

#define SOCKET_BUFFER (4 * 1024 * 1024) /* absorbs bursts of coalesced traffic */
/* Largest UDP payload of one segmented send: an IPv4 packet's 65535 bytes less the IP
 * and UDP headers (IPv6 allows 20 bytes more; one bound for both). */
#define GSO_MAX_BYTES 65507

int udp_test_gso_errno;

static struct {
  atomic_uint_fast64_t tx_calls, tx_dgrams, tx_gso_runs, tx_gso_dgrams, rx_calls, rx_bufs,
      rx_dgrams, rx_gro_bufs;
} counters;

#define COUNT(field, n) atomic_fetch_add_explicit(&counters.field, (n), memory_order_relaxed)
#define READ(field) atomic_load_explicit(&counters.field, memory_order_relaxed)

void udp_counters_get(udp_counters *out) {
  out->tx_calls = READ(tx_calls);
  out->tx_dgrams = READ(tx_dgrams);
  out->tx_gso_runs = READ(tx_gso_runs);
  out->tx_gso_dgrams = READ(tx_gso_dgrams);
  out->rx_calls = READ(rx_calls);
  out->rx_bufs = READ(rx_bufs);
  out->rx_dgrams = READ(rx_dgrams);
  out->rx_gro_bufs = READ(rx_gro_bufs);
}

#ifdef __linux__
/* SETOWIRE_NO_GSO / SETOWIRE_NO_GRO set to anything but "" or "0". */
static int env_off(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

/* SETOWIRE_NO_GSO, read once per process (0 unknown, 1 on, 2 off). */
static atomic_int gso_env;
static int gso_disabled(void) {
  int v = atomic_load_explicit(&gso_env, memory_order_relaxed);
  if (!v) {
    v = env_off("SETOWIRE_NO_GSO") ? 2 : 1;
    atomic_store_explicit(&gso_env, v, memory_order_relaxed);
  }
  return v == 2;
}
#endif

/* Ask for what the receive path can use: coalesced buffers (UDP_GRO) and the kernel's
 * drop counter with each datagram (SO_RXQ_OVFL). Either may be missing: no harm. */
static void rx_options(int fd) {
  int one = 1;
#ifdef SO_RXQ_OVFL
  (void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
#endif
#ifdef __linux__
  if (!env_off("SETOWIRE_NO_GRO")) (void)setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
  /* ICMP errors (port, host, network unreachable) queued for udp_recv_error: a dial to
   * a closed port can end at once (SW_EV_DIAL_FAILED). Both levels on a dual-stack
   * socket: IPv4 destinations are reported through IP_RECVERR. */
  (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
#endif
  (void)one;
}

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
  rx_options(fd);
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
int udp_recv_error(int fd, sw_addr *to, int *refused) {
  for (;;) {
    struct sockaddr_storage ss;
    uint8_t body[64];
    union {
      struct cmsghdr align;
      uint8_t buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)) +
                  64];
    } ctl;
    struct iovec iov = {.iov_base = body, .iov_len = sizeof body};
    struct msghdr h;
    memset(&h, 0, sizeof h);
    memset(&ss, 0, sizeof ss);
    h.msg_name = &ss;
    h.msg_namelen = sizeof ss;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = ctl.buf;
    h.msg_controllen = sizeof ctl.buf;
    if (recvmsg(fd, &h, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return 0; /* EAGAIN: none left */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
            (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) ||
          c->cmsg_len < CMSG_LEN(sizeof(struct sock_extended_err)))
        continue;
      struct sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
      if (ee.ee_errno != ECONNREFUSED && ee.ee_errno != EHOSTUNREACH &&
          ee.ee_errno != ENETUNREACH)
        continue; /* a path MTU note, a time exceeded: not a verdict on the address */
      if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
      from_sockaddr(to, &ss);
      *refused = ee.ee_errno == ECONNREFUSED;
      return 1;
    }
    /* an error of another kind: dropped, read the next */
  }
}

/* Room for the UDP_GRO segment size and the SO_RXQ_OVFL counter, with spare. */
#define RX_CMSG_SPACE (CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint32_t)) + 64)

int udp_recv_batch(int fd, udp_state *st, udp_rx *rx) {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage ss[UDP_BATCH];
  union {
    struct cmsghdr align;
    uint8_t buf[RX_CMSG_SPACE];
  } ctl[UDP_BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < UDP_BATCH; i++) {
    iov[i].iov_base = rx->bufs + (size_t)i * rx->slot;
    iov[i].iov_len = rx->slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &ss[i];
    msgs[i].msg_hdr.msg_namelen = sizeof ss[i];
    msgs[i].msg_hdr.msg_control = ctl[i].buf;
    msgs[i].msg_hdr.msg_controllen = sizeof ctl[i].buf;
  }
  int n = recvmmsg(fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : SW_EIO;
  uint64_t dgrams = 0, gro = 0;
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &msgs[i].msg_hdr;
    from_sockaddr(&rx->from[i], &ss[i]);
    rx->len[i] = msgs[i].msg_len;
    rx->seg[i] = rx->len[i];
    /* A truncated datagram (bigger than a slot) is not what was sent: mark it empty. */
    if (h->msg_flags & MSG_TRUNC) rx->len[i] = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
          c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int seg;
        memcpy(&seg, CMSG_DATA(c), sizeof seg);
        if (seg > 0 && (size_t)seg < rx->len[i]) rx->seg[i] = (size_t)seg;
      }
#ifdef SO_RXQ_OVFL
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
          c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
        uint32_t v;
        memcpy(&v, CMSG_DATA(c), sizeof v);
        /* the kernel's counter is 32 bits and wraps: add what it moved by */
        st->rx_dropped += (uint32_t)(v - st->ovfl_seen);
        st->ovfl_seen = v;
      }
#endif
    }
    if (rx->len[i]) {
      size_t k = (rx->len[i] + rx->seg[i] - 1) / rx->seg[i];
      dgrams += k;
      gro += k > 1;
    }
  }
  COUNT(rx_calls, 1);
  COUNT(rx_bufs, (uint64_t)n);
  COUNT(rx_dgrams, dgrams);
  COUNT(rx_gro_bufs, gro);
  return n;
}

/* How many datagrams from d[0] can leave as one segmented send: same destination,
 * d[0]'s size for all but the last, which may be shorter, within the kernel's limits. */
static size_t gso_run(const sw_dgram *d, size_t n) {
  size_t seg = d[0].len, total = seg, k = 1;
  if (!seg || seg > GSO_MAX_BYTES) return 1;
  while (k < n && k < UDP_GSO_SEGS && d[k].len && d[k].len <= seg &&
         total + d[k].len <= GSO_MAX_BYTES && addr_equal(d[k].to, d[0].to)) {
    total += d[k].len;
    k++;
    if (d[k - 1].len < seg) break; /* a shorter one ends the run */
  }
  return k;
}

/* Errors that say the kernel or the path cannot segment this socket's sends. */
static int gso_refused(int err) {
  return err == EINVAL || err == EIO || err == ENOPROTOOPT || err == EOPNOTSUPP ||
         err == EMSGSIZE;
}

int udp_send_batch(int fd, int v6, udp_state *st, const sw_dgram *d, size_t n) {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage ss[UDP_BATCH];
  size_t cnt[UDP_BATCH];
  union {
    struct cmsghdr align;
    uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
  } ctl[UDP_BATCH];
  size_t done = 0;
  if (!st->gso_off && gso_disabled()) st->gso_off = 1;
  while (done < n) {
    /* One message per run (one datagram each without segmentation), at most UDP_BATCH
     * datagrams per call so the iovec array is enough. */
    size_t m = 0, k = done, limit = done + (n - done < UDP_BATCH ? n - done : UDP_BATCH);
    int gso_msgs = 0;
    memset(msgs, 0, sizeof msgs);
    while (k < limit) {
      size_t run = st->gso_off ? 1 : gso_run(d + k, limit - k);
      struct msghdr *h = &msgs[m].msg_hdr;
      for (size_t j = 0; j < run; j++) {
        iov[k - done + j].iov_base = (void *)d[k + j].data;
        iov[k - done + j].iov_len = d[k + j].len;
      }
      h->msg_iov = &iov[k - done];
      h->msg_iovlen = run;
      h->msg_name = &ss[m];
      h->msg_namelen = to_sockaddr(&ss[m], d[k].to, v6);
      if (run > 1) {
        uint16_t seg = (uint16_t)d[k].len;
        h->msg_control = ctl[m].buf;
        h->msg_controllen = sizeof ctl[m].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof seg);
        memcpy(CMSG_DATA(c), &seg, sizeof seg);
        gso_msgs++;
      }
      cnt[m++] = run;
      k += run;
    }
    int r;
    if (udp_test_gso_errno && gso_msgs) {
      /* the test hook: the first segmented message fails as the kernel would */
      unsigned first = 0;
      while (cnt[first] < 2) first++;
      if (first) {
        r = sendmmsg(fd, msgs, first, MSG_DONTWAIT);
      } else {
        r = -1;
        errno = udp_test_gso_errno;
      }
    } else {
      r = sendmmsg(fd, msgs, (unsigned)m, MSG_DONTWAIT);
    }
    COUNT(tx_calls, 1);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return (int)done;
      if (errno == EINTR) continue;
      if (cnt[0] > 1 && gso_refused(errno)) {
        st->gso_off = 1; /* send one datagram per message from now on */
        continue;
      }
      /* This datagram (or run for one destination) cannot go (unreachable, bad
       * address family, too big): skip it so it does not wedge the queue. */
      done += cnt[0];
      continue;
    }
    for (int i = 0; i < r; i++) {
      done += cnt[i];
      COUNT(tx_dgrams, cnt[i]);
      if (cnt[i] > 1) {
        COUNT(tx_gso_runs, 1);
        COUNT(tx_gso_dgrams, cnt[i]);
      }
    }
    /* r < m: sendmmsg stops at the first error; the loop asks again to learn which. */
  }
  return (int)done;
}
#else
int udp_recv_batch(int fd, udp_state *st, udp_rx *rx) {
  (void)st;
  int n = 0;
  while (n < UDP_BATCH) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t r = recvfrom(fd, rx->bufs + (size_t)n * rx->slot, rx->slot, 0,
                         (struct sockaddr *)&ss, &sl);
    if (r < 0) break;
    from_sockaddr(&rx->from[n], &ss);
    rx->len[n] = rx->seg[n] = (size_t)r;
    n++;
  }
  return n;
}

int udp_recv_error(int fd, sw_addr *to, int *refused) {
  (void)fd;
  (void)to;
  (void)refused;
  return 0;
}

int udp_send_batch(int fd, int v6, udp_state *st, const sw_dgram *d, size_t n) {
  size_t i = 0;
  (void)st;
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
