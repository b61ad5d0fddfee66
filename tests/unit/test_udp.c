/* The runtime's UDP layer on loopback: runs of equal-sized datagrams leave as one
 * segmented send (UDP_SEGMENT) and arrive as the separate datagrams they were; a
 * coalesced buffer (UDP_GRO) is split back into them with the right bytes, a short
 * last one included; when the kernel refuses segmentation everything still goes, one
 * datagram per message; the kernel's drop counter (SO_RXQ_OVFL) rises when a receive
 * buffer overflows, and sw_swarm_get_stats reports it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "setowire.h"
#include "swarm_pair.h"
#include "testutil.h"
#include "udp.h"

#define MAXD 64

/* Distinct bytes for datagram i, so a swap or a cut shows. */
static void pattern(uint8_t *buf, size_t len, unsigned i) {
  for (size_t j = 0; j < len; j++) buf[j] = (uint8_t)(i * 37 + j * 11 + (j >> 8));
}

typedef struct burst {
  uint8_t data[MAXD][1500];
  sw_addr to[2];
  sw_dgram d[MAXD];
  size_t n;
} burst;

static void add(burst *b, int dest, size_t len) {
  assert_true(b->n < MAXD && len <= sizeof b->data[0]);
  pattern(b->data[b->n], len, (unsigned)b->n);
  b->d[b->n] = (sw_dgram){.kind = SW_SOCK_MAIN, .to = &b->to[dest], .data = b->data[b->n], .len = len};
  b->n++;
}

static int open_loopback(uint16_t *port) {
  int fd, v6;
  assert_int_equal(udp_open("127.0.0.1", 0, &fd, port, &v6), SW_OK);
  assert_int_equal(v6, 0);
  return fd;
}

/* A plain socket: no UDP_GRO, so the kernel hands over separate datagrams. */
static int plain_socket(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  int buf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t sl = sizeof sa;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static void wait_readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  assert_int_equal(poll(&p, 1, 2000), 1);
}

/* Read datagrams off a plain socket and check them against b's datagrams for dest,
 * in order. */
static void expect_plain(int fd, const burst *b, int dest) {
  uint8_t buf[2048];
  for (size_t i = 0; i < b->n; i++) {
    if (b->d[i].to != &b->to[dest]) continue;
    wait_readable(fd);
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    assert_int_equal(r, (ssize_t)b->d[i].len);
    assert_memory_equal(buf, b->d[i].data, b->d[i].len);
  }
  assert_true(recv(fd, buf, sizeof buf, MSG_DONTWAIT) < 0); /* nothing more */
}

/* The kernel refused segmentation (older kernel, no checksum offload): say so loudly. */
static int gso_unavailable(const udp_state *st) {
  if (!st->gso_off) return 0;
  fprintf(stderr, "SKIPPED: this kernel refuses UDP_SEGMENT; segmentation not tested\n");
  return 1;
}

static void test_gso_runs_arrive_separately(void **state) {
  (void)state;
  uint16_t sport, p0, p1;
  int s = open_loopback(&sport), r0 = plain_socket(&p0), r1 = plain_socket(&p1);
  static burst b;
  memset(&b, 0, sizeof b);
  addr_parse_ip(&b.to[0], "127.0.0.1", p0);
  addr_parse_ip(&b.to[1], "127.0.0.1", p1);
  /* runs: 10 x 1000 + a short 300 (one run of 11); 3 x 1000 to the other socket (a run
   * of 3); 200, 200 (a run of 2); a lone 1400; 5 x 64 (a run of 5) */
  for (int i = 0; i < 10; i++) add(&b, 0, 1000);
  add(&b, 0, 300);
  for (int i = 0; i < 3; i++) add(&b, 1, 1000);
  add(&b, 0, 200);
  add(&b, 0, 200);
  add(&b, 1, 1400);
  for (int i = 0; i < 5; i++) add(&b, 0, 64);
  udp_state st = {0};
  udp_counters c0, c1;
  udp_counters_get(&c0);
  assert_int_equal(udp_send_batch(s, 0, &st, b.d, b.n), (int)b.n);
  udp_counters_get(&c1);
  if (!gso_unavailable(&st)) {
    assert_int_equal(c1.tx_gso_runs - c0.tx_gso_runs, 4);
    assert_int_equal(c1.tx_gso_dgrams - c0.tx_gso_dgrams, 11 + 3 + 2 + 5);
    assert_int_equal(c1.tx_dgrams - c0.tx_dgrams, b.n);
  }
  expect_plain(r0, &b, 0);
  expect_plain(r1, &b, 1);
  close(s);
  close(r0);
  close(r1);
}

/* A segmented burst to a socket with UDP_GRO: what udp_recv_batch returns, cut at
 * seg bytes as the runtime's receive pump does, is exactly the datagrams sent. */
static void test_gro_split(void **state) {
  (void)state;
  uint16_t sport, rport;
  int s = open_loopback(&sport), r = open_loopback(&rport);
  static burst b;
  memset(&b, 0, sizeof b);
  addr_parse_ip(&b.to[0], "127.0.0.1", rport);
  for (int i = 0; i < 20; i++) add(&b, 0, 1200);
  add(&b, 0, 77); /* the short last one */
  for (int i = 0; i < 7; i++) add(&b, 0, 500);
  udp_state st = {0}, rst = {0};
  assert_int_equal(udp_send_batch(s, 0, &st, b.d, b.n), (int)b.n);
  if (gso_unavailable(&st)) skip();
  udp_rx rx;
  assert_int_equal(udp_rx_init(&rx), SW_OK);
  size_t got = 0, coalesced = 0;
  while (got < b.n) {
    wait_readable(r);
    int n = udp_recv_batch(r, &rst, &rx);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
      assert_true(rx.len[i] > 0);
      assert_true(rx.seg[i] > 0 && rx.seg[i] <= rx.len[i]);
      assert_int_equal(rx.from[i].port, sport);
      coalesced += rx.seg[i] < rx.len[i];
      for (size_t off = 0, len = rx.len[i], seg = rx.seg[i]; off < len; off += seg) {
        size_t one = len - off < seg ? len - off : seg;
        assert_true(got < b.n);
        assert_int_equal(one, b.d[got].len);
        assert_memory_equal(udp_rx_data(&rx, i) + off, b.d[got].data, one);
        got++;
      }
    }
  }
  assert_int_equal(got, b.n);
  if (!coalesced)
    fprintf(stderr, "NOTE: the kernel did not coalesce (no UDP_GRO); split not exercised\n");
  udp_rx_free(&rx);
  close(s);
  close(r);
}

/* The kernel refuses UDP_SEGMENT (forced by the test hook) after a datagram went out
 * in the same call: the state remembers, and everything arrives, one per message. */
static void test_fallback_sends_everything(void **state) {
  (void)state;
  uint16_t sport, p0;
  int s = open_loopback(&sport), r0 = plain_socket(&p0);
  static burst b;
  memset(&b, 0, sizeof b);
  addr_parse_ip(&b.to[0], "127.0.0.1", p0);
  add(&b, 0, 500); /* goes alone (the next are bigger), before the refused run */
  for (int i = 0; i < 6; i++) add(&b, 0, 900);
  add(&b, 0, 10);
  for (int i = 0; i < 4; i++) add(&b, 0, 33);
  int codes[] = {EINVAL, EIO, ENOPROTOOPT};
  for (size_t k = 0; k < sizeof codes / sizeof *codes; k++) {
    udp_state st = {0};
    udp_counters c0, c1;
    udp_counters_get(&c0);
    udp_test_gso_errno = codes[k];
    assert_int_equal(udp_send_batch(s, 0, &st, b.d, b.n), (int)b.n);
    udp_test_gso_errno = 0;
    udp_counters_get(&c1);
    assert_int_equal(st.gso_off, 1);
    assert_int_equal(c1.tx_gso_runs, c0.tx_gso_runs);
    assert_int_equal(c1.tx_dgrams - c0.tx_dgrams, b.n);
    expect_plain(r0, &b, 0);
    /* remembered: the next send does not try again */
    assert_int_equal(udp_send_batch(s, 0, &st, b.d, b.n), (int)b.n);
    udp_counters_get(&c0);
    assert_int_equal(c0.tx_gso_runs, c1.tx_gso_runs);
    expect_plain(r0, &b, 0);
  }
  close(s);
  close(r0);
}

/* Overflow a small receive buffer on purpose: the counter the kernel attaches to the
 * next datagram read says how many it dropped. */
static void test_rxq_ovfl_counts(void **state) {
  (void)state;
  uint16_t sport, rport;
  int s = plain_socket(&sport), r = open_loopback(&rport);
  int small = 4096;
  assert_int_equal(setsockopt(r, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(rport),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  uint8_t msg[200];
  memset(msg, 0x5a, sizeof msg);
  for (int i = 0; i < 500; i++)
    (void)sendto(s, msg, sizeof msg, 0, (struct sockaddr *)&to, sizeof to);
  udp_state st = {0};
  udp_rx rx;
  assert_int_equal(udp_rx_init(&rx), SW_OK);
  size_t read1 = 0;
  for (int n; (n = udp_recv_batch(r, &st, &rx)) > 0;) read1 += (size_t)n;
  assert_true(read1 > 0 && read1 < 500);
  /* the datagrams queued before the first drop carry no news of it: one more does */
  assert_int_equal(sendto(s, msg, sizeof msg, 0, (struct sockaddr *)&to, sizeof to),
                   (ssize_t)sizeof msg);
  wait_readable(r);
  assert_int_equal(udp_recv_batch(r, &st, &rx), 1);
  assert_int_equal(st.rx_dropped, 500 - read1);
  udp_rx_free(&rx);
  close(s);
  close(r);
}

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  (void)s;
  if (ev->type == SW_EV_CLOSE) *(int *)user = 1;
}

/* The same through the public API: junk floods a swarm whose loop does not run; once
 * it runs, sw_swarm_get_stats reports the drops. */
static void test_swarm_stats_kernel_drops(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  int closed = 0;
  sw_options o;
  lo_options(&o);
  o.on_event = on_event;
  o.user = &closed;
  sw_swarm *sw = NULL;
  assert_int_equal(sw_swarm_new(&sw, &o, &loop), SW_OK);
  sw_swarm_stats st;
  assert_int_equal(sw_swarm_get_stats(NULL, &st), SW_EINVAL);
  assert_int_equal(sw_swarm_get_stats(sw, NULL), SW_EINVAL);
  assert_int_equal(sw_swarm_get_stats(sw, &st), SW_OK);
  assert_int_equal(st.rx_kernel_dropped, 0);
  uint16_t sport;
  int s = plain_socket(&sport);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(sw_swarm_port(sw)),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  uint8_t junk[64];
  memset(junk, 0xee, sizeof junk);
  /* the swarm's buffer is 4 MiB when the process may exceed rmem_max, less otherwise;
   * each small datagram costs over 1 KiB of it */
  for (int i = 0; i < 20000; i++)
    (void)sendto(s, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to);
  for (int i = 0; i < 50; i++) uv_run(&loop, UV_RUN_NOWAIT);
  (void)sendto(s, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to);
  for (int i = 0; i < 50; i++) uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(sw_swarm_get_stats(sw, &st), SW_OK);
  assert_true(st.rx_kernel_dropped > 0);
  assert_true(st.rx_kernel_dropped < 20000);
  close(s);
  assert_int_equal(sw_swarm_close(sw), SW_OK);
  for (int guard = 0; guard < 1000 && !closed; guard++) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(closed, 1);
  sw_swarm_free(sw);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gso_runs_arrive_separately),
      cmocka_unit_test(test_gro_split),
      cmocka_unit_test(test_fallback_sends_everything),
      cmocka_unit_test(test_rxq_ovfl_counts),
      cmocka_unit_test(test_swarm_stats_kernel_drops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
