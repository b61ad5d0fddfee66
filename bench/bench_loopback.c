/* Two peers in two processes on loopback, through the public API and real sockets.
 *
 *   bench_loopback throughput COUNT SIZE   one-way messages/s, sender -> receiver
 *   bench_loopback latency COUNT           application round trip (echo), percentiles
 *   bench_loopback handshake COUNT         connect() to SW_EV_CONNECTION, fresh peers
 *   bench_loopback raw COUNT SIZE          the ceiling: plain UDP, one sendto per datagram,
 *                                          the receiver reading with recvmmsg
 *
 * A first argument --extended turns the extended session on in both processes
 * (sw_options.transport = 1, docs/TRANSPORT.md); without it both use the plain one.
 * --buffer-max BYTES then sets sw_options.transport_buffer_max in both (how far the
 * extended session's buffers may grow; 131072: they stay at their start size).
 *
 * Throughput also prints what the UDP offload did on each side (system calls,
 * datagrams in segmented sends, coalesced buffers received); SETOWIRE_NO_GSO=1 and
 * SETOWIRE_NO_GRO=1 turn sending and receiving offload off for comparison.
 *
 * Prints figures; the exit status only says whether the run worked, never how fast. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "setowire.h"
#include "udp.h" /* the runtime's offload counters (internal, linked statically) */

enum { M_THROUGHPUT, M_LATENCY, M_HANDSHAKE, M_RAW };

typedef struct bench {
  int mode;
  int extended; /* sw_options.transport for both processes */
  int congestion; /* sw_options.congestion for both (--congestion bbr|newreno) */
  size_t buffer_max; /* sw_options.transport_buffer_max for both (--buffer-max); 0: default */
  size_t count, size;
  sw_swarm *swarm;
  uv_loop_t loop;
  uv_idle_t idle;
  uint8_t peer[SW_WIRE_ID_LEN];
  int connected;
  /* sender */
  size_t sent;
  uint8_t *msg;
  uint64_t t_start, t_connect_start;
  /* receiver */
  size_t received;
  uint64_t t_first, t_last;
  size_t stamped; /* messages received when t_last was read */
  uv_timer_t idle_timer;
  uv_timer_t go_timer; /* --extended: the start, once the handshake has had its time */
  /* latency */
  uint64_t *rtts;
  uint64_t t_sent;
  int result_fd;
} bench;

static uint64_t now_ns(void) { return uv_hrtime(); }
static void print_bufs(bench *b, const char *who);

/* CPU seconds this process used (user + system): on a shared machine the wall-clock
 * rates move with the load, the CPU per message much less. */
static double cpu_secs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void fill(bench *b, size_t i) {
  memset(b->msg, 0xab, b->size);
  memcpy(b->msg, &i, sizeof i); /* distinct content: receivers dedup by content */
}

static void pump_send(bench *b) {
  while (b->sent < b->count) {
    fill(b, b->sent);
    int rc = sw_swarm_write(b->swarm, b->peer, b->msg, b->size);
    if (rc == SW_EAGAIN) {
      uv_idle_stop(&b->idle); /* wait for SW_EV_WRITABLE */
      return;
    }
    if (rc) {
      fprintf(stderr, "write: %s\n", sw_strerror(rc));
      exit(1);
    }
    b->sent++;
    if (b->sent % 4096 == 0) return; /* let the loop send between bursts */
  }
  uv_idle_stop(&b->idle);
  print_bufs(b, "sender");
  sw_swarm_close(b->swarm);
}

static void on_idle(uv_idle_t *h) { pump_send(h->data); }

static void send_ping(bench *b) {
  fill(b, b->sent);
  b->t_sent = now_ns();
  if (sw_swarm_write(b->swarm, b->peer, b->msg, b->size)) exit(1);
}

static void recv_done(uv_timer_t *t) {
  bench *b = t->data;
  if (b->mode == M_THROUGHPUT) print_bufs(b, "receiver");
  sw_swarm_close(b->swarm);
}

/* The sender's first message: at once, or with --extended 300 ms (BENCH_XWAIT_MS) after
 * the connection event, when the extended handshake (one round trip after it) is done, so that every
 * measured message travels in the extended session rather than the plain one that
 * carries messages written before it is confirmed (docs/TRANSPORT.md). */
static void go(uv_timer_t *t) {
  bench *b = t->data;
  if (b->mode == M_THROUGHPUT) {
    b->t_start = now_ns();
    uv_idle_start(&b->idle, on_idle);
  } else {
    send_ping(b);
  }
}

static void sender_event(sw_swarm *s, const sw_event *ev, void *user) {
  bench *b = user;
  switch (ev->type) {
    case SW_EV_CONNECTION:
      if (b->connected) break;
      b->connected = 1;
      memcpy(b->peer, ev->peer, SW_WIRE_ID_LEN);
      if (b->mode == M_HANDSHAKE) {
        uint64_t dt = now_ns() - b->t_connect_start;
        b->rtts[b->sent++] = dt;
        sw_swarm_close(s);
      } else if (b->extended) {
        const char *w = getenv("BENCH_XWAIT_MS"); /* longer under loss: HS_INIT resent at 1 s */
        uv_timer_start(&b->go_timer, go, w && *w ? strtoul(w, NULL, 10) : 300, 0);
      } else {
        go(&b->go_timer);
      }
      break;
    case SW_EV_WRITABLE:
      if (b->mode == M_THROUGHPUT && b->sent < b->count) uv_idle_start(&b->idle, on_idle);
      break;
    case SW_EV_DATA:
      if (b->mode == M_LATENCY) {
        b->rtts[b->sent++] = now_ns() - b->t_sent;
        if (b->sent < b->count) send_ping(b);
        else sw_swarm_close(s);
      }
      break;
    default: break;
  }
}

static void receiver_event(sw_swarm *s, const sw_event *ev, void *user) {
  bench *b = user;
  if (ev->type == SW_EV_CONNECTION && !b->connected) {
    b->connected = 1;
    memcpy(b->peer, ev->peer, SW_WIRE_ID_LEN);
  }
  if (ev->type == SW_EV_CONNECTION && b->mode == M_HANDSHAKE) {
    /* stay up; the parent closes the connection and we are killed */
  }
  if (ev->type != SW_EV_DATA) return;
  /* The clock and the idle timer every 64 messages (and at the first and the last): per
   * message they were 6 % of the receiver's CPU at 100 bytes, charged to the library. */
  int stamp = b->mode != M_THROUGHPUT || !b->received || b->received % 64 == 63 ||
              b->received + 1 == b->count;
  if (stamp) {
    uint64_t t = now_ns();
    if (!b->received) b->t_first = t;
    b->t_last = t;
    b->stamped = b->received + 1;
  }
  b->received++;
  if (b->mode == M_LATENCY) {
    /* Echo with one byte changed: the sender remembers its own message ids and
     * would drop an identical echo as a duplicate (PROTOCOL.md 6.2). */
    memcpy(b->msg, ev->data, ev->len < b->size ? ev->len : b->size);
    b->msg[b->size - 1] ^= 0xff;
    sw_swarm_write(s, ev->peer, b->msg, b->size);
    return;
  }
  if (b->received == b->count) {
    recv_done(&b->idle_timer);
    return;
  }
  /* Losses are possible (UDP): stop 2 s after the last message (of a group of 64). */
  if (stamp) uv_timer_start(&b->idle_timer, recv_done, 2000, 0);
}

static int start(bench *b, sw_event_cb cb, uint16_t port) {
  sw_options o;
  sw_options_init(&o);
  o.bind = "127.0.0.1";
  o.port = port;
  o.on_event = cb;
  o.user = b;
  o.send_buffer_bytes = 8u << 20;
  o.http = 0; /* loopback only: no HTTP discovery servers */
  o.no_stun = 1;
  o.transport = b->extended;
  if (b->buffer_max) o.transport_buffer_max = b->buffer_max;
  o.congestion = b->congestion;
  uv_loop_init(&b->loop);
  int rc = sw_swarm_new(&b->swarm, &o, &b->loop);
  if (rc) {
    fprintf(stderr, "sw_swarm_new: %s\n", sw_strerror(rc));
    exit(1);
  }
  uv_idle_init(&b->loop, &b->idle);
  b->idle.data = b;
  uv_timer_init(&b->loop, &b->idle_timer);
  b->idle_timer.data = b;
  uv_timer_init(&b->loop, &b->go_timer);
  b->go_timer.data = b;
  return 0;
}

static void finish(bench *b) {
  uv_close((uv_handle_t *)&b->idle, NULL);
  uv_close((uv_handle_t *)&b->idle_timer, NULL);
  uv_close((uv_handle_t *)&b->go_timer, NULL);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  sw_swarm_free(b->swarm);
  uv_loop_close(&b->loop);
}

/* The extended session's buffers once the last message is written or read (they grow
 * where the path needs it). */
static void print_bufs(bench *b, const char *who) {
  sw_peer_stats st;
  if (!b->extended || !b->connected || sw_swarm_peer_stats(b->swarm, b->peer, &st) != SW_OK)
    return;
  printf("%s: send buffer %llu KiB, receive buffer %llu KiB\n", who,
         (unsigned long long)st.send_buffer_bytes >> 10,
         (unsigned long long)st.recv_buffer_bytes >> 10);
  if (st.packets_sent)
    printf("%s: packets %llu sent, %llu declared lost (%llu of them spurious), %llu MB sent "
           "again; srtt %.2f ms, window %llu KiB\n",
           who, (unsigned long long)st.packets_sent, (unsigned long long)st.packets_lost,
           (unsigned long long)st.packets_spurious,
           (unsigned long long)(st.retransmitted_bytes / 1000000), st.srtt_ms,
           st.cwnd_bytes == UINT64_MAX ? 0ull : (unsigned long long)st.cwnd_bytes >> 10);
}

static void print_udp(const char *who) {
  udp_counters c;
  udp_counters_get(&c);
  if (c.tx_dgrams)
    printf("udp %s: sent %llu datagrams in %llu calls, %llu of them in %llu segmented sends "
           "(%.1f per send)\n",
           who, (unsigned long long)c.tx_dgrams, (unsigned long long)c.tx_calls,
           (unsigned long long)c.tx_gso_dgrams, (unsigned long long)c.tx_gso_runs,
           c.tx_gso_runs ? (double)c.tx_gso_dgrams / c.tx_gso_runs : 0.0);
  if (c.rx_dgrams)
    printf("udp %s: received %llu datagrams in %llu buffers (%llu coalesced), %llu calls\n",
           who, (unsigned long long)c.rx_dgrams, (unsigned long long)c.rx_bufs,
           (unsigned long long)c.rx_gro_bufs, (unsigned long long)c.rx_calls);
  fflush(stdout);
}

/* The raw ceiling: the parent sends COUNT datagrams of SIZE bytes with one sendto each
 * (waiting briefly when the buffer is full), the child counts what arrives. */
static int run_raw(bench *b) {
  int pport[2], pres[2];
  if (pipe(pport) || pipe(pres)) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0), buf = 4 << 20;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &al))
      exit(1);
    uint16_t port = ntohs(a.sin_port);
    if (write(pport[1], &port, sizeof port) != sizeof port) exit(1);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static uint8_t bufs[64][2048];
    struct mmsghdr m[64];
    struct iovec iov[64];
    uint64_t r[3] = {0, 0, 0};
    for (;;) {
      memset(m, 0, sizeof m);
      for (int i = 0; i < 64; i++) {
        iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(fd, m, 64, MSG_WAITFORONE, NULL);
      if (n <= 0) break; /* 2 s without a datagram: done */
      uint64_t t = now_ns();
      if (!r[0]) r[1] = t;
      r[2] = t;
      r[0] += (uint64_t)n;
      if (r[0] >= b->count) break;
    }
    if (write(pres[1], r, sizeof r) != sizeof r) exit(1);
    exit(0);
  }
  uint16_t port;
  if (read(pport[0], &port, sizeof port) != sizeof port) return 1;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (size_t i = 0; i < b->count; i++) {
    fill(b, i);
    while (sendto(fd, b->msg, b->size, 0, (struct sockaddr *)&a, sizeof a) < 0) usleep(50);
  }
  uint64_t r[3];
  if (read(pres[0], r, sizeof r) != sizeof r) return 1;
  waitpid(pid, NULL, 0);
  double secs = (r[2] - r[1]) / 1e9;
  printf("raw udp %zu-byte, one sendto per datagram: sent %zu, received %llu (%.2f%%), "
         "%.0f datagrams/s over %.3f s\n",
         b->size, b->count, (unsigned long long)r[0], 100.0 * r[0] / b->count,
         secs > 0 ? r[0] / secs : 0, secs);
  close(fd);
  return r[0] ? 0 : 1;
}

/* Child: receive, report (received, first, last) through the pipe. */
static void run_receiver(bench *b, int port_fd, int result_fd) {
  start(b, receiver_event, 0);
  uint16_t port = sw_swarm_port(b->swarm);
  if (write(port_fd, &port, sizeof port) != sizeof port) exit(1);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  uint64_t r[4] = {b->received, b->t_first, b->t_last, b->stamped};
  sw_swarm_stats st;
  if (b->mode == M_THROUGHPUT && sw_swarm_get_stats(b->swarm, &st) == SW_OK)
    printf("receiver: the kernel dropped %llu datagrams (full receive buffer); cpu %.3f s, "
           "%.2f us per message\n",
           (unsigned long long)st.rx_kernel_dropped, cpu_secs(),
           b->received ? cpu_secs() * 1e6 / b->received : 0.0);
  finish(b);
  if (b->mode == M_THROUGHPUT) print_udp("receiver");
  if (write(result_fd, r, sizeof r) != sizeof r) exit(1);
  exit(0);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void percentiles(const char *what, uint64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_u64);
  printf("%s: n=%zu  p50 %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us\n", what, n,
         v[n / 2] / 1e3, v[n * 9 / 10] / 1e3, v[n * 99 / 100] / 1e3, v[n - 1] / 1e3);
}

static int one_round(bench *b, uint64_t res[4]) {
  int pport[2], pres[2];
  if (pipe(pport) || pipe(pres)) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    close(pport[0]);
    close(pres[0]);
    run_receiver(b, pport[1], pres[1]);
  }
  close(pport[1]);
  close(pres[1]);
  uint16_t port;
  if (read(pport[0], &port, sizeof port) != sizeof port) return 1;
  start(b, sender_event, 0);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%u", port);
  b->t_connect_start = now_ns();
  sw_swarm_connect(b->swarm, target);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  finish(b);
  if (b->mode == M_THROUGHPUT) {
    if (read(pres[0], res, 4 * sizeof *res) != 4 * sizeof *res) return 1;
    waitpid(pid, NULL, 0);
  } else {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
  }
  close(pport[0]);
  close(pres[0]);
  return 0;
}

int main(int argc, char **argv) {
  static bench b;
  if (argc > 1 && !strcmp(argv[1], "--extended")) {
    b.extended = 1;
    argv++;
    argc--;
  }
  if (argc > 2 && !strcmp(argv[1], "--buffer-max")) {
    b.buffer_max = strtoul(argv[2], NULL, 10);
    argv += 2;
    argc -= 2;
  }
  if (argc > 2 && !strcmp(argv[1], "--congestion")) {
    b.congestion = !strcmp(argv[2], "newreno") ? SW_CC_NEWRENO : SW_CC_BBR;
    argv += 2;
    argc -= 2;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: bench_loopback [--extended] [--buffer-max BYTES] "
                    "[--congestion bbr|newreno] "
                    "throughput|latency|handshake|raw "
                    "COUNT [SIZE]\n");
    return 2;
  }
  b.mode = !strcmp(argv[1], "throughput") ? M_THROUGHPUT
           : !strcmp(argv[1], "latency")  ? M_LATENCY
           : !strcmp(argv[1], "handshake") ? M_HANDSHAKE
           : !strcmp(argv[1], "raw")       ? M_RAW
                                           : -1;
  if (b.mode < 0) return 2;
  b.count = strtoul(argv[2], NULL, 10);
  b.size = argc > 3 ? strtoul(argv[3], NULL, 10) : 100;
  if (!b.count || b.size < 8 || b.size > SW_MAX_MESSAGE) return 2;
  b.msg = malloc(b.size);
  b.rtts = calloc(b.count, sizeof *b.rtts);
  signal(SIGPIPE, SIG_IGN);
  if (b.mode == M_RAW) return b.size > 2048 ? 2 : run_raw(&b);
  if (b.mode == M_THROUGHPUT) {
    uint64_t r[4]; /* received, first and last time read, received by that last time */
    if (one_round(&b, r)) return 1;
    double secs = (r[2] - r[1]) / 1e9;
    double send_secs = (double)(now_ns() - b.t_start) / 1e9;
    printf("throughput %zu-byte: sent %zu, received %llu (%.2f%%), %.0f msg/s over %.3f s "
           "(%.1f MB/s); sender total %.3f s\n",
           b.size, b.sent, (unsigned long long)r[0], 100.0 * r[0] / b.sent,
           secs > 0 ? r[3] / secs : 0, secs, secs > 0 ? r[3] * b.size / secs / 1e6 : 0,
           send_secs);
    printf("sender: cpu %.3f s, %.2f us per message\n", cpu_secs(),
           b.sent ? cpu_secs() * 1e6 / b.sent : 0.0);
    print_udp("sender");
    return r[0] ? 0 : 1;
  }
  if (b.mode == M_LATENCY) {
    if (one_round(&b, NULL)) return 1;
    percentiles("latency (application round trip)", b.rtts, b.sent);
    return 0;
  }
  size_t rounds = b.count;
  for (size_t i = 0; i < rounds; i++) {
    bench one = b;
    one.sent = 0;
    one.count = 1;
    one.rtts = &b.rtts[i];
    if (one_round(&one, NULL)) return 1;
  }
  percentiles("handshake (connect to connection event)", b.rtts, rounds);
  return 0;
}
