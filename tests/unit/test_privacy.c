/* Privacy by default: a swarm created with the default options that only dials
 * 127.0.0.1 contacts nobody else. For 5 s it resolves no name, sends no datagram and
 * opens no connection to any address but loopback, and opens no multicast socket;
 * discovery (LAN, DHT bootstrap, HTTP bootstrap, piping, the references' STUN servers)
 * starts only at sw_swarm_join.
 *
 * How it is observed: this program defines getaddrinfo, connect, sendto, sendmsg,
 * sendmmsg and setsockopt itself, so the library's calls (and libuv's and libcurl's)
 * come here first. Each counts what it sees and refuses anything bound elsewhere than
 * loopback (and any DNS datagram): nothing leaves the machine even when the library
 * tries. To be sure, the test first moves into a network namespace of its own with only
 * loopback up (root, or an unprivileged user namespace); where it cannot, it says so
 * and relies on the refusals alone. The sockets it owns are read from /proc/self/net.
 *
 * The second part joins a topic and sees the attempts begin (refused), which shows the
 * counters see what the library does. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"

#define LAN_PORT 45678 /* the LAN multicast socket's port (PROTOCOL.md 19) */

static atomic_int n_lookups, n_foreign, n_mcast_joins;

/* ---- interposed calls ---------------------------------------------------------- */

static void *real(const char *name) {
  void *f = dlsym(RTLD_NEXT, name);
  if (!f) abort();
  return f;
}

/* Loopback and not DNS: allowed. Anything that is not IP is not ours to judge. */
static int allowed(const struct sockaddr *sa, socklen_t len) {
  if (!sa || len < sizeof(sa_family_t)) return 1;
  if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    return (ntohl(s4->sin_addr.s_addr) >> 24) == 127 && ntohs(s4->sin_port) != 53;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    const uint8_t *b = s6->sin6_addr.s6_addr;
    int v4loop = IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && b[12] == 127;
    return (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) || v4loop) && ntohs(s6->sin6_port) != 53;
  }
  return sa->sa_family != AF_INET && sa->sa_family != AF_INET6;
}

int getaddrinfo(const char *restrict node, const char *restrict service,
                const struct addrinfo *restrict hints, struct addrinfo **restrict res) {
  (void)service;
  (void)hints;
  (void)res;
  atomic_fetch_add(&n_lookups, 1);
  fprintf(stderr, "test_privacy: refused a name lookup: %s\n", node ? node : "(null)");
  return EAI_NONAME;
}

int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len) {
  static int (*f)(int, __CONST_SOCKADDR_ARG, socklen_t);
  if (!allowed(addr.__sockaddr__, len)) {
    atomic_fetch_add(&n_foreign, 1);
    errno = EPERM;
    return -1;
  }
  if (!f) f = real("connect");
  return f(fd, addr, len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG addr,
               socklen_t len) {
  static ssize_t (*f)(int, const void *, size_t, int, __CONST_SOCKADDR_ARG, socklen_t);
  if (!allowed(addr.__sockaddr__, len)) {
    atomic_fetch_add(&n_foreign, 1);
    return (ssize_t)n; /* as if sent: a datagram may be lost anyway */
  }
  if (!f) f = real("sendto");
  return f(fd, buf, n, flags, addr, len);
}

static size_t iov_bytes(const struct msghdr *m) {
  size_t n = 0;
  for (size_t i = 0; i < m->msg_iovlen; i++) n += m->msg_iov[i].iov_len;
  return n;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
  static ssize_t (*f)(int, const struct msghdr *, int);
  if (!allowed(m->msg_name, m->msg_namelen)) {
    atomic_fetch_add(&n_foreign, 1);
    return (ssize_t)iov_bytes(m);
  }
  if (!f) f = real("sendmsg");
  return f(fd, m, flags);
}

/* One message at a time, so that refused ones can be skipped among allowed ones. */
int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags) {
  static ssize_t (*f)(int, const struct msghdr *, int);
  if (!f) f = real("sendmsg");
  for (unsigned int i = 0; i < n; i++) {
    if (!allowed(v[i].msg_hdr.msg_name, v[i].msg_hdr.msg_namelen)) {
      atomic_fetch_add(&n_foreign, 1);
      v[i].msg_len = (unsigned)iov_bytes(&v[i].msg_hdr);
      continue;
    }
    ssize_t r = f(fd, &v[i].msg_hdr, flags);
    if (r < 0) return i ? (int)i : -1;
    v[i].msg_len = (unsigned)r;
  }
  return (int)n;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
  static int (*f)(int, int, int, const void *, socklen_t);
  if ((level == IPPROTO_IP && name == IP_ADD_MEMBERSHIP) ||
      (level == IPPROTO_IPV6 && name == IPV6_JOIN_GROUP)) {
    atomic_fetch_add(&n_mcast_joins, 1);
    errno = EPERM; /* no group is joined: LAN discovery stays off */
    return -1;
  }
  if (!f) f = real("setsockopt");
  return f(fd, level, name, val, len);
}

/* ---- the namespace ------------------------------------------------------------------ */

static int own_netns(void) {
  if (unshare(CLONE_NEWNET) && unshare(CLONE_NEWUSER | CLONE_NEWNET)) return 0;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  int ok = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
           (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
  if (fd >= 0) close(fd);
  return ok;
}

/* Sockets of this process bound to `port` (UDP, either family), from /proc. */
static int own_sockets_on(uint16_t port) {
  unsigned long inodes[256];
  int ninodes = 0, found = 0;
  for (int fd = 0; fd < 1024 && ninodes < 256; fd++) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) inodes[ninodes++] = st.st_ino;
  }
  const char *files[] = {"/proc/self/net/udp", "/proc/self/net/udp6"};
  for (int f = 0; f < 2; f++) {
    FILE *fp = fopen(files[f], "r");
    char line[512];
    if (!fp) continue;
    while (fgets(line, sizeof line, fp)) {
      char local[128];
      unsigned long inode;
      /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
      if (sscanf(line, " %*s %127s %*s %*s %*s %*s %*s %*s %*s %lu", local, &inode) != 2)
        continue;
      char *colon = strrchr(local, ':');
      if (!colon || strtoul(colon + 1, NULL, 16) != port) continue;
      for (int i = 0; i < ninodes; i++) found += inodes[i] == inode;
    }
    fclose(fp);
  }
  return found;
}

/* ---- the swarms, driven by poll() ----------------------------------------------------- */

typedef struct side {
  sw_swarm *s;
  int listening, connected, closed, received;
} side;

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  side *v = user;
  (void)s;
  if (ev->type == SW_EV_LISTENING) v->listening = 1;
  if (ev->type == SW_EV_CONNECTION) v->connected = 1;
  if (ev->type == SW_EV_DATA) v->received++;
  if (ev->type == SW_EV_CLOSE) v->closed = 1;
}

static void run_for(side **v, int n, uint64_t ms, int (*until)(side **)) {
  uint64_t end = lo_now_ms() + ms;
  while (lo_now_ms() < end && !(until && until(v))) {
    struct pollfd p[2];
    int t = 50;
    for (int i = 0; i < n; i++) {
      p[i] = (struct pollfd){.fd = sw_swarm_fd(v[i]->s), .events = POLLIN};
      int ti = sw_swarm_timeout(v[i]->s);
      if (ti >= 0 && ti < t) t = ti;
    }
    poll(p, (nfds_t)n, t);
    for (int i = 0; i < n; i++) sw_swarm_process(v[i]->s);
  }
}

static int both_connected(side **v) { return v[0]->connected && v[1]->connected; }
static int got_one(side **v) { return v[1]->received > 0; }
static int all_closed(side **v) { return v[0]->closed && v[1]->closed; }

static void test_dial_only_contacts_nobody_else(void **state) {
  (void)state;
  side a = {0}, b = {0};
  side *v[2] = {&a, &b};
  sw_options o;
  /* b: the peer a dials, on loopback with discovery off */
  lo_options(&o);
  o.on_event = on_event;
  o.user = &b;
  assert_int_equal(sw_swarm_new(&b.s, &o, NULL), SW_OK);
  /* a: every default, as the README's minimal example has them */
  sw_options_init(&o);
  o.on_event = on_event;
  o.user = &a;
  assert_int_equal(sw_swarm_new(&a.s, &o, NULL), SW_OK);
  assert_true(sw_swarm_dht_port(a.s) > 0); /* the DHT is on: its socket only listens */

  uint64_t t0 = lo_now_ms();
  char target[SW_ADDRSTRLEN];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)sw_swarm_port(b.s));
  assert_int_equal(sw_swarm_connect(a.s, target), SW_OK);
  run_for(v, 2, 5000, both_connected);
  assert_true(both_connected(v));
  assert_int_equal(sw_swarm_broadcast(a.s, "private", 7), 1);
  run_for(v, 2, 5000, got_one);
  assert_int_equal(b.received, 1);
  /* The rest of the 5 s: the old defaults resolved STUN and HTTP bootstrap names at
   * once, asked HTTP bootstrap servers at 500 ms and joined the multicast group. */
  uint64_t spent = lo_now_ms() - t0;
  if (spent < 5000) run_for(v, 2, 5000 - spent, NULL);
  fprintf(stderr, "test_privacy: 5 s dialling only: %d lookups, %d foreign sends or "
          "connects, %d multicast joins, %d sockets on port %d\n",
          atomic_load(&n_lookups), atomic_load(&n_foreign), atomic_load(&n_mcast_joins),
          own_sockets_on(LAN_PORT), LAN_PORT);
  assert_int_equal(atomic_load(&n_lookups), 0);
  assert_int_equal(atomic_load(&n_foreign), 0);
  assert_int_equal(atomic_load(&n_mcast_joins), 0);
  assert_int_equal(own_sockets_on(LAN_PORT), 0);

  /* Joining a topic starts discovery with the defaults: the references' STUN and HTTP
   * servers are looked up (refused here) and the LAN socket is opened. */
  uint8_t topic[SW_TOPIC_LEN] = {0x70};
  assert_int_equal(sw_swarm_join(a.s, topic), SW_OK);
  assert_int_equal(sw_swarm_timeout(a.s), 0);
  uint64_t end = lo_now_ms() + 5000;
  while (lo_now_ms() < end && (!atomic_load(&n_lookups) || !atomic_load(&n_mcast_joins)))
    run_for(v, 2, 50, NULL);
  fprintf(stderr, "test_privacy: after join: %d lookups (refused), %d multicast joins\n",
          atomic_load(&n_lookups), atomic_load(&n_mcast_joins));
  assert_true(atomic_load(&n_lookups) > 0);
  assert_true(atomic_load(&n_mcast_joins) > 0);

  assert_int_equal(sw_swarm_close(a.s), SW_OK);
  assert_int_equal(sw_swarm_close(b.s), SW_OK);
  run_for(v, 2, 10000, all_closed);
  assert_true(all_closed(v));
  sw_swarm_free(a.s);
  sw_swarm_free(b.s);
}

int main(void) {
  if (own_netns())
    fprintf(stderr, "test_privacy: in a network namespace of its own (loopback only)\n");
  else
    fprintf(stderr, "test_privacy: NOTE: no network namespace could be made (not root, no "
                    "user namespaces): relying on the refusing wrappers alone\n");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dial_only_contacts_nobody_else),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
