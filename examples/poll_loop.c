/* poll_loop: a swarm driven from the program's own poll() loop, beside standard input.
 *
 *   poll_loop HOST:PORT [BIND]
 *
 * Dials the peer at HOST:PORT, then sends each line of standard input (without its
 * newline) to every peer and prints each message received as one line. At end of input,
 * or on SIGINT / SIGTERM, it says GOAWAY to its peers, waits for the swarm to close and
 * exits 0. Try it against `setowire-cat --bind 127.0.0.1 --port 4000 room`:
 *
 *   ./poll_loop 127.0.0.1:4000 127.0.0.1
 *
 * The program knows nothing of libuv: the swarm owns its loop (sw_swarm_new with NULL)
 * and hands out one descriptor to watch (sw_swarm_fd) and the longest wait allowed
 * (sw_swarm_timeout); sw_swarm_process does whatever is due. Discovery is off: the peer
 * is dialled directly. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <setowire.h>

struct app {
  int connected; /* a session is up: standard input is read from then on */
  int blocked;   /* the send queue was full: wait for SW_EV_WRITABLE */
  int eof;       /* standard input ended (or failed) */
  int closing;   /* sw_swarm_close was called */
  char buf[SW_MAX_MESSAGE];
  size_t len;    /* bytes read and not sent yet */
};

static void on_event(sw_swarm *swarm, const sw_event *ev, void *user) {
  struct app *a = user;
  (void)swarm;
  switch (ev->type) {
    case SW_EV_CONNECTION:
      if (!a->connected) fprintf(stderr, "poll_loop: connected to %s\n", ev->addr);
      a->connected = 1;
      break;
    case SW_EV_DATA:
      fwrite(ev->data, 1, ev->len, stdout);
      putchar('\n');
      fflush(stdout);
      break;
    case SW_EV_WRITABLE:
      a->blocked = 0;
      break;
    default:
      break;
  }
}

/* Send every complete line read (a full buffer, or what is left at end of input, counts
 * as one); stop at a full send queue, keeping the rest for SW_EV_WRITABLE. */
static void send_lines(sw_swarm *swarm, struct app *a) {
  while (a->len && !a->blocked) {
    char *nl = memchr(a->buf, '\n', a->len);
    size_t n = nl ? (size_t)(nl - a->buf) : a->len;
    if (!nl && a->len < sizeof a->buf && !a->eof) return; /* wait for the line's end */
    int rc = sw_swarm_broadcast(swarm, a->buf, n);
    if (rc == SW_EAGAIN) {
      a->blocked = 1;
      return;
    }
    if (rc < 0) fprintf(stderr, "poll_loop: send: %s\n", sw_strerror(rc));
    size_t used = n + (nl ? 1 : 0);
    memmove(a->buf, a->buf + used, a->len - used);
    a->len -= used;
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: poll_loop HOST:PORT [BIND]\n");
    return 2;
  }
  static struct app a;
  sw_options o;
  sw_options_init(&o);
  o.bind = argc > 2 ? argv[2] : NULL;
  o.lan = o.dht = o.http = 0; /* only the peer given: no discovery */
  o.no_stun = 1;
  o.on_event = on_event;
  o.user = &a;

  sw_swarm *swarm = NULL;
  int rc = sw_swarm_new(&swarm, &o, NULL); /* NULL: the swarm owns its (libuv) loop */
  if (rc == SW_OK) rc = sw_swarm_connect(swarm, argv[1]);
  /* Ctrl-C and SIGTERM close the swarm cleanly (GOAWAY) instead of killing us. */
  if (rc == SW_OK) rc = sw_swarm_close_on_signal(swarm, SIGINT);
  if (rc == SW_OK) rc = sw_swarm_close_on_signal(swarm, SIGTERM);
  if (rc == SW_OK && sw_swarm_fd(swarm) < 0) rc = sw_swarm_fd(swarm); /* e.g. Windows */
  if (rc != SW_OK) {
    fprintf(stderr, "poll_loop: %s\n", sw_strerror(rc));
    sw_swarm_free(swarm);
    return 1;
  }

  for (;;) {
    struct pollfd p[2] = {{.fd = sw_swarm_fd(swarm), .events = POLLIN},
                          {.fd = STDIN_FILENO, .events = POLLIN}};
    /* Standard input is read once a peer is there and the send queue has room. */
    int watch_input = a.connected && !a.blocked && !a.eof && a.len < sizeof a.buf;
    if (poll(p, watch_input ? 2 : 1, sw_swarm_timeout(swarm)) < 0 && errno != EINTR) {
      perror("poll_loop: poll");
      break;
    }
    if (watch_input && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(STDIN_FILENO, a.buf + a.len, sizeof a.buf - a.len);
      if (n > 0) a.len += (size_t)n;
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) a.eof = 1;
    }
    send_lines(swarm, &a); /* also what waited for SW_EV_WRITABLE */
    if (a.eof && !a.len && !a.closing) {
      a.closing = 1;
      sw_swarm_close(swarm); /* GOAWAY after what is queued; SW_EV_CLOSE follows */
    }
    /* Safe to call after any wake-up, whatever woke us: it does what is due. */
    if (sw_swarm_process(swarm) == SW_ECLOSED) break;
  }
  sw_swarm_free(swarm);
  return 0;
}
