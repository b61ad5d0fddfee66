/* setowire-cat: netcat over a topic. Each stdin line is broadcast as one message; each
 * message received is written to stdout with a newline. The contract is in --help and
 * README.md; scripts depend on it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include "netopts.h"
#include "setowire.h"
#include "sqlite.h"
#include "hex.h"

#define LINE_MAX_BYTES SW_MAX_MESSAGE
#define READ_CHUNK (256 * 1024) /* stdin is read in blocks this large (at most) */
#define MAX_STORE 16
#define OUT_BYTES (128 * 1024) /* messages are gathered for stdout in a buffer this large */
#define PIPE_BYTES (256 * 1024) /* the size asked for a pipe on stdin and stdout (grow_pipe) */
#define OUT_DIRECT (16 * 1024) /* a message this large is written without a copy (out_line) */

typedef struct cat {
  uv_loop_t loop;
  sw_swarm *swarm;
  int events;
  int wait_peer;       /* hold input until the first peer connects */
  int connected_once;
  int eof, closing, exit_code;
  /* stdin */
  uv_handle_type in_type;
  union {
    uv_pipe_t pipe;
    uv_tty_t tty;
  } in;
  uv_fs_t fsreq;
  int reading, file_pending;
  int in_regular;    /* stdin is a regular file: read here, in the loop's thread */
  uv_idle_t filer;   /* ... a block per loop turn while reading */
  int skipping;   /* dropping the rest of an over-long line, up to its newline */
  char *buf;      /* input: buf[off..len) read, not sent yet; reads land at buf + len */
  size_t off, len, cap;
  uv_check_t flusher;
  /* stdout: messages and their newlines, written when the buffer is full and at the end
   * of each loop turn; the writes block, so a slow reader slows us (and so our peers) */
  char out[OUT_BYTES];
  size_t outlen;
  int out_failed;
  uv_signal_t sigint, sigterm, sigusr1;
  const char *fetch_key; /* --fetch: print this value, then exit */
  int progress;          /* --fetch: a progress line on stderr (1: a terminal's, 2: lines) */
  int progress_shown, progress_pct;
  uint64_t progress_at;  /* uv_now of the last line */
  char to[2 * SW_WIRE_ID_LEN + 1]; /* --to: wire id prefix (lower-case hex), or empty */
  unsigned send_flags;             /* SW_SEND_UNICAST (--to), SW_SEND_DATAGRAM (--unreliable),
                                      SW_SEND_SIGNED (--signed) */
  int stats;                       /* --stats */
  int serve_only;                  /* --store-signed, --store-content: stdin was the value */
  const char *fetch_name;          /* --fetch-signed: the name, after the signer */
  uint8_t fetch_signer[SW_SIGNING_KEY_LEN];
} cat;

static void usage(FILE *f) {
  fprintf(f,
      "usage: setowire-cat [options] [TOPIC]\n"
      "\n"
      "Broadcast each line of standard input to the peers of TOPIC and print each\n"
      "message received, followed by a newline. TOPIC is hashed with SHA-256 into the\n"
      "32-byte topic. Input is read once the first peer has connected, so no line is\n"
      "broadcast to nobody. At end of input, queued messages are sent, peers are told\n"
      "GOAWAY, and the program exits 0.\n"
      "\n"
      "options:\n"
      "  --seed HEX          identity seed (hex); default: a random identity\n"
      "  --topic NAME        join this topic too (repeatable, up to 16 topics with\n"
      "                      TOPIC): lines go to every peer, of whichever topic\n"
      "%s"
      "  --legacy-frag       send messages over 1200 bytes to reference peers as\n"
      "                      plaintext FRAG frames (insecure; default: encrypted DATA)\n"
      "  --no-wait           read input at once, even before any peer connects\n"
      "  --peer-cache PATH   remember the peers met in this JSON file (written\n"
      "                      atomically every 30 s and at exit) and dial the most\n"
      "                      recent of them when joining TOPIC\n"
      "  --store KEY=PATH    store the bytes of file PATH under KEY (repeatable); peers\n"
      "                      fetch it from us until end of input\n"
      "  --ttl MS            values stored with --store expire after MS milliseconds,\n"
      "                      here and in the caches of the peers that fetch them\n"
      "  --unstore KEY       remove KEY from memory and --storage (repeatable): peers\n"
      "                      are no longer served it by us\n"
      "  --scoped            --store, --unstore and --fetch keys belong to the first\n"
      "                      topic (TOPIC, else the first --topic): another topic's\n"
      "                      value under the same key is never returned\n"
      "  --global            keys are global, shared by every topic (the default: what\n"
      "                      reference peers and earlier versions store and fetch)\n"
      "  --fetch KEY         fetch the value of KEY (memory, --storage, then the peers),\n"
      "                      write its bytes to standard output and exit; standard\n"
      "                      input is not read and messages are not printed\n"
      "  --store-signed NAME read standard input to its end, sign it with this\n"
      "                      identity's signing key and store it as the next version of\n"
      "                      NAME (docs/VALUES.md); print the seq on standard output,\n"
      "                      then serve it until SIGINT or SIGTERM\n"
      "  --seq N             with --store-signed: this seq (default: one more than the\n"
      "                      version held in memory, so 1 in a new process; a peer keeps\n"
      "                      only the highest seq)\n"
      "  --store-content -   read standard input to its end, store it under its content\n"
      "                      key (c: and the SHA-256 in hex), print the key on standard\n"
      "                      output, then serve it until SIGINT or SIGTERM\n"
      "  --fetch-signed SIGNER/NAME\n"
      "                      fetch the newest version of NAME signed by SIGNER (64 hex\n"
      "                      digits, as --signing-key prints it), checked, and write its\n"
      "                      payload to standard output as --fetch does (\"seq N\" on\n"
      "                      standard error; exit status as --fetch)\n"
      "  --signing-key       print this identity's signing key (64 hex digits; give\n"
      "                      --seed for a lasting one) on standard output and exit 0\n"
      "  --no-cache          with --fetch: ask the peers even when memory or --storage\n"
      "                      holds KEY; the value that arrives replaces the one held\n"
      "                      (SW_FETCH_NO_CACHE: a newer value from its owner)\n"
      "  --timeout MS        how long --fetch waits (default 30000)\n"
      "  --progress          with --fetch: progress lines on standard error (the\n"
      "                      default when standard error is a terminal)\n"
      "  --storage PATH      keep stored and fetched values in this SQLite database\n"
      "  --to PEER           send each line to one peer alone, as a unicast it does not\n"
      "                      flood on: PEER is the start of its wire id in hex (as in\n"
      "                      --events lines), at least one digit; input is read once\n"
      "                      that peer has connected. Needs the extended session with\n"
      "                      it (a reference peer would flood): otherwise exit 1\n"
      "  --unreliable        send each line as an unreliable datagram (over the\n"
      "                      extended session: never retransmitted, at most 1369\n"
      "                      bytes a line; to plain peers as always)\n"
      "  --signed            sign each line (SW_SEND_SIGNED): peers that met us check\n"
      "                      that we wrote it, however many peers relayed it (costs\n"
      "                      a signature per line, a check per receiver; lines of at\n"
      "                      most 65444 bytes; not with --to or --unreliable)\n"
      "  --stats             one JSON line per peer on standard error at end of input\n"
      "                      and on SIGUSR1: {\"event\":\"stats\",\"peer\":ID, then the\n"
      "                      sw_peer_stats fields of docs/API.md by name, and\n"
      "                      \"signing_key\": the key it told us, hex, or null}\n"
      "  --events            JSON event lines on standard error (a \"data\" line per\n"
      "                      message: last hop, length, author's full id or null,\n"
      "                      origin_direct, origin_signed: 1 when the author's\n"
      "                      signature was checked)\n"
      "  --help              this text\n"
      "\n"
      "exit status: 0 at end of input when every line was sent; 1 when a line could\n"
      "not be sent (longer than 65474 bytes: reported, skipped, the rest still sent)\n"
      "or on a runtime error; 2 on bad usage. With --fetch: 0 once the value is\n"
      "written, 1 (and a message) when it did not arrive within --timeout, 3 (and a\n"
      "message) when every peer asked said it holds no value under KEY.\n",
      netopts_help);
}


static void start_reading(cat *c);
static void stop_reading(cat *c);

/* --stats: one JSON line per peer with a session on stderr. */
static void print_stats(cat *c) {
  size_t n = sw_swarm_peers(c->swarm, NULL, 0);
  sw_peer_info *list = n ? calloc(n, sizeof *list) : NULL;
  if (!list) return;
  size_t got = sw_swarm_peers(c->swarm, list, n);
  if (got < n) n = got;
  for (size_t i = 0; i < n; i++) {
    sw_peer_stats st;
    char id[2 * SW_WIRE_ID_LEN + 1];
    if (sw_swarm_peer_stats(c->swarm, list[i].id, &st) != SW_OK) continue;
    uint8_t sk[32];
    char key[2 * 32 + 3] = "null"; /* the signing key it told us (sw_swarm_peer_signing_key) */
    if (sw_swarm_peer_signing_key(c->swarm, list[i].id, sk) == SW_OK) {
      key[0] = '"';
      crypto_hex_encode(sk, sizeof sk, key + 1);
      memcpy(key + 1 + 2 * sizeof sk, "\"", 2);
    }
    crypto_hex_encode(st.id, SW_WIRE_ID_LEN, id);
    fprintf(stderr,
            "{\"event\":\"stats\",\"peer\":\"%s\",\"extended\":%d,\"reference\":%d,"
            "\"msgs_sent\":%llu,\"bytes_sent\":%llu,\"msgs_received\":%llu,"
            "\"bytes_received\":%llu,\"datagrams_sent\":%llu,\"datagrams_received\":%llu,"
            "\"queued_bytes\":%llu,\"retransmitted_bytes\":%llu,\"packets_sent\":%llu,"
            "\"packets_lost\":%llu,\"datagrams_dropped\":%llu,\"cwnd_bytes\":%llu,"
            "\"in_flight_bytes\":%llu,\"send_window_bytes\":%llu,\"recv_window_bytes\":%llu,"
            "\"srtt_ms\":%.3f,\"rttvar_ms\":%.3f,\"rx_kernel_dropped\":%llu,"
            "\"send_buffer_bytes\":%llu,\"recv_buffer_bytes\":%llu,\"packets_spurious\":%llu,"
            "\"signing_key\":%s}\n",
            id, st.extended, st.reference, (unsigned long long)st.msgs_sent,
            (unsigned long long)st.bytes_sent, (unsigned long long)st.msgs_received,
            (unsigned long long)st.bytes_received, (unsigned long long)st.datagrams_sent,
            (unsigned long long)st.datagrams_received, (unsigned long long)st.queued_bytes,
            (unsigned long long)st.retransmitted_bytes, (unsigned long long)st.packets_sent,
            (unsigned long long)st.packets_lost, (unsigned long long)st.datagrams_dropped,
            (unsigned long long)st.cwnd_bytes, (unsigned long long)st.in_flight_bytes,
            (unsigned long long)st.send_window_bytes, (unsigned long long)st.recv_window_bytes,
            st.srtt_ms, st.rttvar_ms, (unsigned long long)st.rx_kernel_dropped,
            (unsigned long long)st.send_buffer_bytes, (unsigned long long)st.recv_buffer_bytes,
            (unsigned long long)st.packets_spurious, key);
  }
  free(list);
  fflush(stderr);
}

static void begin_close(cat *c) {
  if (c->closing) return;
  if (c->stats) print_stats(c);
  c->closing = 1;
  stop_reading(c);
  uv_signal_stop(&c->sigint);
  uv_signal_stop(&c->sigterm);
  uv_signal_stop(&c->sigusr1);
  sw_swarm_close(c->swarm);
}

/* --to: the wire id of the one connected peer whose hex id starts with c->to. 1 when
 * found, 0 when none, -1 (with a message) when several match. */
static int find_target(cat *c, uint8_t out[SW_WIRE_ID_LEN]) {
  size_t n = sw_swarm_peers(c->swarm, NULL, 0), found = 0;
  sw_peer_info *list = n ? calloc(n, sizeof *list) : NULL;
  if (!list) return 0;
  size_t got = sw_swarm_peers(c->swarm, list, n);
  if (got < n) n = got;
  for (size_t i = 0; i < n; i++) {
    char id[2 * SW_WIRE_ID_LEN + 1];
    crypto_hex_encode(list[i].id, SW_WIRE_ID_LEN, id);
    if (strncmp(id, c->to, strlen(c->to)) != 0) continue;
    if (!found++) memcpy(out, list[i].id, SW_WIRE_ID_LEN);
  }
  free(list);
  if (found > 1) {
    fprintf(stderr, "setowire-cat: --to %s matches %zu peers: give more digits\n", c->to, found);
    return -1;
  }
  return found ? 1 : 0;
}

/* Input is read straight into c->buf, after the bytes not sent yet (c->off..c->len), and
 * split in place: each line goes to the library from where it lies, without a copy. The
 * buffer is compacted only before a read, when nothing is being read into it. */

/* Broadcast every complete line held; stop at the first full queue. */
static void send_lines(cat *c) {
  size_t off = c->off;
  int stalled = 0;
  int have_target = 0; /* --to: looked up once per call (peers change only between turns) */
  uint8_t peer[SW_WIRE_ID_LEN];
  while (!c->closing) {
    char *nl = memchr(c->buf + off, '\n', c->len - off);
    size_t linelen;
    if (nl) {
      linelen = (size_t)(nl - (c->buf + off));
    } else if (c->eof && off < c->len) {
      linelen = c->len - off; /* a last line without a newline is still a line */
    } else {
      /* No newline yet, and already too long to send: report it now and drop the
       * rest of it as it arrives, or the buffer fills and reading stops for good. */
      if (c->len - off > LINE_MAX_BYTES) {
        fprintf(stderr, "setowire-cat: input line longer than %u bytes: not sent\n",
                LINE_MAX_BYTES);
        c->exit_code = 1;
        c->skipping = 1;
        off = c->len;
      }
      break;
    }
    int rc;
    if (c->to[0]) {
      int f = have_target ? 1 : find_target(c, peer);
      if (f <= 0) {
        if (!f) fprintf(stderr, "setowire-cat: --to %s: no such peer (any more)\n", c->to);
        c->exit_code = 1;
        off = c->len;
        c->eof = 1;
        break;
      }
      have_target = 1;
      rc = sw_swarm_send(c->swarm, peer, c->buf + off, linelen, c->send_flags);
    } else {
      rc = sw_swarm_send(c->swarm, NULL, c->buf + off, linelen, c->send_flags);
    }
    if (rc == SW_EAGAIN) { /* resumed on SW_EV_WRITABLE */
      stalled = 1;
      break;
    }
    if (rc == SW_ENOTSUP) { /* it will not change: say so and stop */
      fprintf(stderr,
              "setowire-cat: --to %s: that peer cannot take a unicast (a reference peer, or "
              "no extended session with it)\n",
              c->to);
      c->exit_code = 1;
      off = c->len;
      c->eof = 1;
      break;
    }
    if (rc < 0) {
      fprintf(stderr, "setowire-cat: %s: %s\n", c->to[0] ? "send" : "broadcast",
              sw_strerror(rc));
      c->exit_code = 1;
    }
    off += linelen + (nl ? 1 : 0);
  }
  c->off = off;
  if (c->eof && c->off == c->len) {
    begin_close(c);
    return;
  }
  /* Read more only when nothing waits for queue room. */
  if (!c->eof && !stalled && c->len - c->off < c->cap / 2) start_reading(c);
  else stop_reading(c);
}

/* Room to read into: the unsent bytes moved to the front first. */
static void read_room(cat *c, char **at, size_t *n) {
  if (c->off) {
    memmove(c->buf, c->buf + c->off, c->len - c->off);
    c->len -= c->off;
    c->off = 0;
  }
  *at = c->buf + c->len;
  *n = c->cap - c->len;
}

/* n bytes were read to c->buf + c->len. */
static void got_input(cat *c, size_t n) {
  if (c->eof) return; /* input was abandoned (--to failed): nothing more is sent */
  if (c->skipping) { /* still inside an over-long line: drop up to its newline */
    const char *at = c->buf + c->len;
    const char *nl = memchr(at, '\n', n);
    if (!nl) return;
    c->skipping = 0;
    c->off = c->len + (size_t)(nl + 1 - at);
  }
  c->len += n;
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  cat *c = h->data;
  char *at;
  size_t n;
  (void)sz;
  read_room(c, &at, &n);
  b->base = at;
  b->len = n;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  cat *c = st->data;
  (void)b;
  if (n < 0) {
    c->eof = 1;
  } else if (n > 0) {
    got_input(c, (size_t)n);
  }
  send_lines(c);
}

static void on_fs_read(uv_fs_t *req) {
  cat *c = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  c->file_pending = 0;
  if (n <= 0) c->eof = 1;
  else got_input(c, (size_t)n);
  send_lines(c);
}

/* A regular file is read with read(2) from an idle callback, one block per loop turn,
 * between which the loop sends: through the thread pool (uv_fs_read) each block was
 * read on another core and reached this one through its caches, and every block
 * cost two thread switches. Reading a regular file does not wait for anyone; other
 * files (a character device) keep the thread pool. */
static void on_file_idle(uv_idle_t *h) {
  cat *c = h->data;
  char *at;
  size_t room;
  read_room(c, &at, &room);
  ssize_t n;
  do n = read(0, at, room); while (n < 0 && errno == EINTR);
  if (n <= 0) c->eof = 1; /* as on_fs_read: a read error ends the input */
  else got_input(c, (size_t)n);
  send_lines(c);
}

static void start_reading(cat *c) {
  if (c->reading || c->eof || c->closing) return;
  if (c->wait_peer && !c->connected_once) return;
  if (c->fetch_key || c->fetch_name || c->serve_only) return; /* stdin is not lines */
  if (c->in_regular) {
    c->reading = 1;
    uv_idle_start(&c->filer, on_file_idle);
  } else if (c->in_type == UV_FILE) {
    /* One request at a time; on_fs_read asks again. c->reading stays 0 for a file: set
     * while a request was pending, it made the next call after the read return early. */
    if (c->file_pending) return;
    char *at;
    size_t n;
    read_room(c, &at, &n);
    uv_buf_t b = uv_buf_init(at, (unsigned)n);
    c->file_pending = 1;
    c->fsreq.data = c;
    uv_fs_read(&c->loop, &c->fsreq, 0, &b, 1, -1, on_fs_read);
  } else {
    c->reading = 1;
    uv_read_start((uv_stream_t *)&c->in, on_alloc, on_read);
  }
}

static void stop_reading(cat *c) {
  if (!c->reading) return;
  c->reading = 0;
  if (c->in_regular) uv_idle_stop(&c->filer);
  else if (c->in_type != UV_FILE) uv_read_stop((uv_stream_t *)&c->in);
}

/* When fd is a pipe, ask for PIPE_BYTES of it (the default is 64 KiB). On stdout a
 * 64 KiB pipe made every write of the gathered output wait for the reader, once per
 * 64 KiB: two thread switches, and the loop stopped meanwhile (no acknowledgement
 * left, no datagram read). 256 KiB rather than 1 MiB: the larger pipe no longer fits
 * the core's cache beside our buffers, and cost more CPU per line at 1000 B. Best
 * effort: the system may refuse (pipe-max-size, a user's share of pipe memory), and
 * then the pipe stays as it was. */
static void grow_pipe(int fd) {
#ifdef F_SETPIPE_SZ
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
  int now = fcntl(fd, F_GETPIPE_SZ);
  if (now >= 0 && now < PIPE_BYTES) (void)fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES);
#else
  (void)fd;
#endif
}

/* All of iov[0..n) to fd 1, waiting while it is full; 0, or -1 with errno. The
 * array is consumed. */
static int writev_all(struct iovec *iov, int n) {
  while (n && !iov->iov_len) iov++, n--;
  while (n) {
    ssize_t w = writev(1, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) { /* a non-blocking stdout we inherited */
        struct pollfd pfd = {.fd = 1, .events = POLLOUT};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -1;
        continue;
      }
      return -1;
    }
    for (size_t done = (size_t)w; n && (done || !iov->iov_len);) {
      size_t k = done < iov->iov_len ? done : iov->iov_len;
      iov->iov_base = (char *)iov->iov_base + k;
      iov->iov_len -= k;
      done -= k;
      if (!iov->iov_len) iov++, n--;
    }
  }
  return 0;
}

static int write_all(const char *p, size_t n) {
  struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
  return writev_all(&iov, 1);
}

static void out_failed(cat *c) {
  c->out_failed = 1;
  c->outlen = 0;
  if (!c->closing) {
    fprintf(stderr, "setowire-cat: stdout: %s\n", strerror(errno));
    c->exit_code = 1;
    begin_close(c);
  }
}

static void out_flush(cat *c) {
  if (!c->outlen || c->out_failed) return;
  if (write_all(c->out, c->outlen)) {
    out_failed(c);
    return;
  }
  c->outlen = 0;
}

/* One message and its newline to stdout. */
static void out_line(cat *c, const void *data, size_t len) {
  if (c->out_failed) return;
  if (len >= OUT_DIRECT) { /* written from where it lies, after what was gathered */
    struct iovec iov[3] = {{.iov_base = c->out, .iov_len = c->outlen},
                           {.iov_base = (void *)data, .iov_len = len},
                           {.iov_base = "\n", .iov_len = 1}};
    if (writev_all(iov, 3)) {
      out_failed(c);
      return;
    }
    c->outlen = 0;
    return;
  }
  if (c->outlen + len + 1 > sizeof c->out) {
    out_flush(c);
    if (c->out_failed) return;
  }
  memcpy(c->out + c->outlen, data, len);
  c->out[c->outlen + len] = '\n';
  c->outlen += len + 1;
}

/* --events: the "data" line, formatted by hand (one per message received). */
static void print_data_event(const sw_event *ev) {
  char line[160 + 2 * SW_ID_LEN];
  size_t n = 0;
#define PUT(lit) (memcpy(line + n, lit, sizeof lit - 1), n += sizeof lit - 1)
  /* the hex of the last peer and author seen, kept: they rarely change between lines */
  static uint8_t peer[SW_WIRE_ID_LEN], origin[SW_ID_LEN];
  static char peer_hex[2 * SW_WIRE_ID_LEN + 1], origin_hex[2 * SW_ID_LEN + 1];
  if (!peer_hex[0] || memcmp(peer, ev->peer, sizeof peer) != 0) {
    memcpy(peer, ev->peer, sizeof peer);
    crypto_hex_encode(peer, sizeof peer, peer_hex);
  }
  PUT("{\"event\":\"data\",\"peer\":\"");
  memcpy(line + n, peer_hex, 2 * SW_WIRE_ID_LEN);
  n += 2 * SW_WIRE_ID_LEN;
  PUT("\",\"len\":");
  char digits[24];
  size_t d = 0, v = ev->len;
  do digits[d++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (d) line[n++] = digits[--d];
  PUT(",\"origin\":");
  if (ev->origin) {
    if (!origin_hex[0] || memcmp(origin, ev->origin, sizeof origin) != 0) {
      memcpy(origin, ev->origin, sizeof origin);
      crypto_hex_encode(origin, sizeof origin, origin_hex);
    }
    line[n++] = '"';
    memcpy(line + n, origin_hex, 2 * SW_ID_LEN);
    n += 2 * SW_ID_LEN;
    line[n++] = '"';
  } else {
    PUT("null");
  }
  PUT(",\"origin_direct\":");
  line[n++] = ev->origin_direct ? '1' : '0';
  PUT(",\"origin_signed\":");
  line[n++] = ev->origin_signed ? '1' : '0';
  PUT("}\n");
#undef PUT
  fwrite(line, 1, n, stderr);
}

/* ,"topic":"<64 hex>" when the event names a topic. */
static void print_topic(const uint8_t *topic) {
  char hex[2 * SW_TOPIC_LEN + 1];
  if (!topic) return;
  crypto_hex_encode(topic, SW_TOPIC_LEN, hex);
  fprintf(stderr, ",\"topic\":\"%s\"", hex);
}

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  cat *c = user;
  char id[2 * SW_ID_LEN + 1];
  switch (ev->type) {
    case SW_EV_LISTENING: {
      uint8_t full[SW_ID_LEN];
      sw_swarm_id(s, full);
      crypto_hex_encode(full, SW_ID_LEN, id);
      if (c->events)
        fprintf(stderr, "{\"event\":\"listening\",\"id\":\"%s\",\"port\":%u,\"dht_port\":%u}\n", id,
                ev->port, sw_swarm_dht_port(s));
      break;
    }
    case SW_EV_CONNECTION:
      crypto_hex_encode(ev->peer, SW_WIRE_ID_LEN, id);
      if (c->events) {
        fprintf(stderr, "{\"event\":\"connection\",\"peer\":\"%s\",\"addr\":\"%s\"", id,
                ev->addr);
        if (ev->via) {
          char via[2 * SW_WIRE_ID_LEN + 1];
          crypto_hex_encode(ev->via, SW_WIRE_ID_LEN, via);
          fprintf(stderr, ",\"via\":\"%s\"", via);
        }
        print_topic(ev->topic);
        fprintf(stderr, "}\n");
      }
      if (!c->connected_once && (!c->to[0] || strncmp(id, c->to, strlen(c->to)) == 0)) {
        c->connected_once = 1; /* with --to, once that peer is here */
        send_lines(c);
      }
      break;
    case SW_EV_DISCONNECT:
      crypto_hex_encode(ev->peer, SW_WIRE_ID_LEN, id);
      if (c->events)
        fprintf(stderr, "{\"event\":\"disconnect\",\"peer\":\"%s\",\"reason\":\"%s\"}\n", id,
                sw_reason_str(ev->reason));
      break;
    case SW_EV_DIAL_FAILED:
      if (c->events) {
        fprintf(stderr, "{\"event\":\"dial_failed\",\"addr\":\"%s\",\"reason\":\"%s\"", ev->addr,
                sw_reason_str(ev->reason));
        print_topic(ev->topic);
        fprintf(stderr, "}\n");
      }
      break;
    case SW_EV_DATA:
      if (c->fetch_key || c->fetch_name) break; /* stdout carries the fetched value only */
      if (c->events) print_data_event(ev); /* the last hop, and the author when known */
      out_line(c, ev->data, ev->len);
      return; /* stderr is flushed at the end of the loop turn (on_check) */
    case SW_EV_PEERS:
      if (c->events) fprintf(stderr, "{\"event\":\"peers\",\"count\":%zu}\n", ev->npeers);
      break;
    case SW_EV_NAT:
      if (c->events)
        fprintf(stderr, "{\"event\":\"nat\",\"addr\":\"%s\",\"type\":\"%s\"}\n", ev->addr,
                ev->nat_type);
      break;
    case SW_EV_PATH:
      crypto_hex_encode(ev->peer, SW_WIRE_ID_LEN, id);
      if (c->events && ev->via) {
        char via[2 * SW_WIRE_ID_LEN + 1];
        crypto_hex_encode(ev->via, SW_WIRE_ID_LEN, via);
        fprintf(stderr, "{\"event\":\"path\",\"peer\":\"%s\",\"addr\":\"%s\",\"via\":\"%s\"}\n",
                id, ev->addr, via);
      } else if (c->events) {
        fprintf(stderr, "{\"event\":\"path\",\"peer\":\"%s\",\"addr\":\"%s\",\"via\":\"\"}\n", id,
                ev->addr);
      }
      break;
    case SW_EV_SYNC:
      if (c->events) {
        fprintf(stderr, "{\"event\":\"sync\",\"key\":\"");
        for (const char *k = ev->key; *k; k++) {
          unsigned char ch = (unsigned char)*k;
          if (ch < 0x20 || ch == '"' || ch == '\\') fprintf(stderr, "\\u%04x", ch);
          else fputc(ch, stderr);
        }
        fprintf(stderr, "\",\"len\":%zu}\n", ev->len);
      }
      break;
    case SW_EV_WRITABLE:
      send_lines(c);
      break;
    case SW_EV_CLOSE:
      if (c->events) fprintf(stderr, "{\"event\":\"close\"}\n");
      uv_close((uv_handle_t *)&c->flusher, NULL);
      uv_close((uv_handle_t *)&c->filer, NULL);
      uv_close((uv_handle_t *)&c->sigint, NULL);
      uv_close((uv_handle_t *)&c->sigterm, NULL);
      uv_close((uv_handle_t *)&c->sigusr1, NULL);
      if (c->in_type != UV_FILE) uv_close((uv_handle_t *)&c->in, NULL);
      break;
  }
  fflush(stderr);
}

/* Output (stdout and the --events lines on stderr) is gathered for throughput and
 * written once per loop turn, so nothing waits while the loop is idle. */
static void on_check(uv_check_t *h) {
  cat *c = h->data;
  fflush(stderr);
  out_flush(c);
}

static void on_signal(uv_signal_t *h, int sig) {
  cat *c = h->data;
  if (sig == SIGUSR1) {
    print_stats(c);
    return;
  }
  begin_close(c);
}

/* --fetch progress: on a terminal one line redrawn in place at most 10 times a second;
 * otherwise (--progress) a line per whole percent. */
static void on_fetch_progress(sw_swarm *s, const char *key, size_t got, size_t total,
                              void *user) {
  cat *c = user;
  (void)s;
  if (!c->progress || c->closing || !total) return;
  int pct = (int)((double)got * 100.0 / (double)total);
  uint64_t now = uv_now(&c->loop);
  if (c->progress == 1 ? (c->progress_shown && now - c->progress_at < 100)
                       : (c->progress_shown && pct == c->progress_pct))
    return;
  c->progress_shown = 1;
  c->progress_pct = pct;
  c->progress_at = now;
  fprintf(stderr, "%ssetowire-cat: fetch %s: %zu / %zu bytes (%d%%)%s",
          c->progress == 1 ? "\r\033[K" : "", key, got, total, pct,
          c->progress == 1 ? "" : "\n");
  fflush(stderr);
}

static void on_fetched(sw_swarm *s, int err, const char *key, const uint8_t *value, size_t len,
                       const uint8_t *peer, void *user) {
  cat *c = user;
  (void)s;
  if (c->closing) return;
  if (c->progress == 1 && c->progress_shown) fputs("\r\033[K", stderr); /* clear the line */
  if (c->progress && !err) {
    char hex[2 * SW_WIRE_ID_LEN + 1] = "";
    for (int i = 0; peer && i < SW_WIRE_ID_LEN; i++) snprintf(hex + 2 * i, 3, "%02x", peer[i]);
    fprintf(stderr, "setowire-cat: fetch %s: %zu bytes %s%s\n", key, len,
            peer ? "from peer " : "held here", hex);
  }
  if (err == SW_ENOTFOUND) {
    fprintf(stderr, "setowire-cat: fetch %s: not found: every peer asked holds no such value\n",
            key);
    c->exit_code = 3;
  } else if (err) {
    fprintf(stderr, "setowire-cat: fetch %s: %s\n", key,
            err == SW_ETIMEDOUT ? "timed out: no peer delivered the value" : sw_strerror(err));
    c->exit_code = 1;
  } else if (fwrite(value, 1, len, stdout) != len || fflush(stdout)) {
    fprintf(stderr, "setowire-cat: stdout: %s\n", strerror(errno));
    c->exit_code = 1;
  }
  begin_close(c);
}

/* --fetch-signed: the payload on stdout, its seq on stderr; the rest as --fetch. */
static void on_fetched_signed(sw_swarm *s, int err, const char *key, const uint8_t *value,
                              size_t len, uint64_t seq, const uint8_t *peer, void *user) {
  cat *c = user;
  if (!c->closing && !err) {
    char hex[2 * SW_WIRE_ID_LEN + 1] = "";
    for (int i = 0; peer && i < SW_WIRE_ID_LEN; i++) snprintf(hex + 2 * i, 3, "%02x", peer[i]);
    fprintf(stderr, "setowire-cat: %s: seq %llu %s%s\n", c->fetch_name, (unsigned long long)seq,
            peer ? "from peer " : "held here", hex);
  }
  int progress = c->progress;
  c->progress = 0; /* the line above says it */
  on_fetched(s, err, key, value, len, peer, user);
  c->progress = progress;
}

/* All of standard input (at most max bytes) for --store-signed / --store-content; NULL
 * with a message when it is empty, too long or unreadable. */
static uint8_t *read_stdin(size_t max, size_t *len) {
  uint8_t *buf = malloc(max + 1);
  size_t n = 0, r;
  while (buf && n <= max && (r = fread(buf + n, 1, max + 1 - n, stdin)) > 0) n += r;
  if (!buf || ferror(stdin) || n == 0 || n > max) {
    fprintf(stderr, "setowire-cat: standard input: %s\n",
            !buf ? "out of memory" : ferror(stdin) ? strerror(errno)
                                   : n ? "too long for one value" : "empty");
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* The whole file, at most SW_VALUE_MAX bytes; NULL with a message on failure. */
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t n = 0;
  if (!f) {
    fprintf(stderr, "setowire-cat: --store %s: %s\n", path, strerror(errno));
    return NULL;
  }
  buf = malloc(SW_VALUE_MAX + 1);
  if (buf) n = fread(buf, 1, SW_VALUE_MAX + 1, f);
  if (!buf || ferror(f) || n > SW_VALUE_MAX || n == 0) {
    fprintf(stderr, "setowire-cat: --store %s: %s\n", path,
            !buf ? "out of memory" : ferror(f) ? strerror(errno)
                                   : n ? "larger than 16 MiB" : "empty file");
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  static cat c;
  static char errbuf[1 << 16]; /* --events lines: flushed by on_check, by on_event, at exit */
  setvbuf(stderr, errbuf, _IOFBF, sizeof errbuf);
  sw_options o;
  static netopts nets; /* --port, --bind, --connect, discovery (tools/common) */
  sw_options_init(&o);
  c.wait_peer = 1;
  enum { O_SEED = 1, O_EVENTS, O_HELP, O_LEGACY, O_NOWAIT };
  enum { O_STORE = 300, O_FETCH, O_TIMEOUT, O_STORAGE, O_TOPIC, O_PROGRESS }; /* errors: in their cases */
  int force_progress = 0;
  enum { O_TO = 400, O_UNRELIABLE, O_STATS, O_SIGNED };
  enum { O_TTL = 500, O_UNSTORE, O_SCOPED, O_GLOBAL };
  unsigned long ttl_ms = 0;
  int scoped = 0;
  const char *unstores[MAX_STORE];
  int nunstore = 0;
  enum { O_STORE_SIGNED = 600, O_SEQ, O_FETCH_SIGNED, O_SIGNING_KEY, O_STORE_CONTENT };
  enum { O_NO_CACHE = 700 };
  int no_cache = 0;
  const char *store_signed = NULL;
  unsigned long long seq = 0;
  int print_signing_key = 0, store_content = 0;
  const char *topics[SW_MAX_TOPICS];
  int ntopics = 0;
  const char *stores[MAX_STORE];
  int nstore = 0;
  unsigned long fetch_timeout = 30000;
  const char *storage_path = NULL;
  sw_storage *storage = NULL;
  static const struct option lo[] = {
      {"seed", required_argument, 0, O_SEED},     {"events", no_argument, 0, O_EVENTS},
      {"legacy-frag", no_argument, 0, O_LEGACY},  {"no-wait", no_argument, 0, O_NOWAIT},
      NETOPTS_LONG,
      {"store", required_argument, 0, O_STORE},   {"fetch", required_argument, 0, O_FETCH},
      {"timeout", required_argument, 0, O_TIMEOUT}, {"storage", required_argument, 0, O_STORAGE},
      {"progress", no_argument, 0, O_PROGRESS},
      {"to", required_argument, 0, O_TO},         {"unreliable", no_argument, 0, O_UNRELIABLE},
      {"stats", no_argument, 0, O_STATS},         {"topic", required_argument, 0, O_TOPIC},
      {"signed", no_argument, 0, O_SIGNED},
      {"ttl", required_argument, 0, O_TTL},       {"unstore", required_argument, 0, O_UNSTORE},
      {"scoped", no_argument, 0, O_SCOPED},       {"global", no_argument, 0, O_GLOBAL},
      {"store-signed", required_argument, 0, O_STORE_SIGNED}, {"seq", required_argument, 0, O_SEQ},
      {"fetch-signed", required_argument, 0, O_FETCH_SIGNED},
      {"signing-key", no_argument, 0, O_SIGNING_KEY},
      {"store-content", required_argument, 0, O_STORE_CONTENT},
      {"no-cache", no_argument, 0, O_NO_CACHE},
      {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (opt) {
      case O_SEED: o.seed_hex = optarg; break;
      case O_EVENTS: c.events = 1; break;
      case O_LEGACY: o.legacy_frag = 1; break;
      case O_NOWAIT: c.wait_peer = 0; break;
      case O_STORE: {
        const char *eq = strchr(optarg, '=');
        if (!eq || eq == optarg || eq - optarg > SW_KEY_MAX || !eq[1] || nstore == MAX_STORE) {
          fprintf(stderr, "setowire-cat: --store needs KEY=PATH (key 1..255 bytes, at most %d)\n",
                  MAX_STORE);
          return 2;
        }
        stores[nstore++] = optarg;
        break;
      }
      case O_FETCH:
        if (!*optarg || strlen(optarg) > SW_KEY_MAX) {
          fprintf(stderr, "setowire-cat: --fetch needs a key of 1..255 bytes\n");
          return 2;
        }
        c.fetch_key = optarg;
        break;
      case O_TIMEOUT:
        if (netopts_parse_u(optarg, 86400000, &fetch_timeout) || fetch_timeout == 0) {
          fprintf(stderr, "setowire-cat: bad value '%s' for --timeout\n", optarg);
          return 2;
        }
        break;
      case O_STORAGE: storage_path = optarg; break;
      case O_PROGRESS: force_progress = 1; break;
      case O_TO: {
        size_t n = strlen(optarg);
        if (!n || n > 2 * SW_WIRE_ID_LEN || strspn(optarg, "0123456789abcdefABCDEF") != n) {
          fprintf(stderr, "setowire-cat: --to needs 1..16 hex digits (a wire id or its start)\n");
          return 2;
        }
        for (size_t i = 0; i <= n; i++)
          c.to[i] = (char)(optarg[i] >= 'A' && optarg[i] <= 'F' ? optarg[i] - 'A' + 'a' : optarg[i]);
        c.send_flags |= SW_SEND_UNICAST;
        break;
      }
      case O_UNRELIABLE: c.send_flags |= SW_SEND_DATAGRAM; break;
      case O_STATS: c.stats = 1; break;
      case O_SIGNED: c.send_flags |= SW_SEND_SIGNED; break;
      case O_STORE_SIGNED:
        if (!*optarg || strlen(optarg) > SW_SIGNED_NAME_MAX) {
          fprintf(stderr, "setowire-cat: --store-signed needs a name of 1..%d bytes\n",
                  SW_SIGNED_NAME_MAX);
          return 2;
        }
        store_signed = optarg;
        break;
      case O_SEQ: {
        char *end;
        errno = 0;
        seq = strtoull(optarg, &end, 10);
        if (errno || *end || !*optarg || *optarg == '-' || seq == 0) {
          fprintf(stderr, "setowire-cat: bad value '%s' for --seq (1 and up)\n", optarg);
          return 2;
        }
        break;
      }
      case O_FETCH_SIGNED: {
        const char *slash = strchr(optarg, '/');
        char hex[2 * SW_SIGNING_KEY_LEN + 1];
        if (!slash || slash - optarg != 2 * SW_SIGNING_KEY_LEN || !slash[1] ||
            strlen(slash + 1) > SW_SIGNED_NAME_MAX) {
          fprintf(stderr, "setowire-cat: --fetch-signed needs SIGNER/NAME (64 hex digits, a "
                          "name of 1..%d bytes)\n", SW_SIGNED_NAME_MAX);
          return 2;
        }
        memcpy(hex, optarg, sizeof hex - 1);
        hex[sizeof hex - 1] = 0;
        if (crypto_hex_decode(hex, c.fetch_signer, sizeof c.fetch_signer) != SW_SIGNING_KEY_LEN) {
          fprintf(stderr, "setowire-cat: --fetch-signed: the signer is not 64 hex digits\n");
          return 2;
        }
        c.fetch_name = slash + 1;
        break;
      }
      case O_SIGNING_KEY: print_signing_key = 1; break;
      case O_STORE_CONTENT:
        if (strcmp(optarg, "-") != 0) {
          fprintf(stderr, "setowire-cat: --store-content takes - (standard input)\n");
          return 2;
        }
        store_content = 1;
        break;
      case O_TOPIC:
        if (ntopics == SW_MAX_TOPICS) {
          fprintf(stderr, "setowire-cat: at most %d topics\n", SW_MAX_TOPICS);
          return 2;
        }
        topics[ntopics++] = optarg;
        break;
      case O_TTL:
        if (netopts_parse_u(optarg, 0xFFFFFFFFul, &ttl_ms)) {
          fprintf(stderr, "setowire-cat: bad value '%s' for --ttl\n", optarg);
          return 2;
        }
        break;
      case O_UNSTORE:
        if (!optarg[0] || strlen(optarg) > SW_KEY_MAX || nunstore == MAX_STORE) {
          fprintf(stderr, "setowire-cat: --unstore needs a key of 1..255 bytes (at most %d)\n",
                  MAX_STORE);
          return 2;
        }
        unstores[nunstore++] = optarg;
        break;
      case O_SCOPED: scoped = 1; break;
      case O_GLOBAL: scoped = 0; break;
      case O_NO_CACHE: no_cache = 1; break;
      case O_HELP:
      case 'h': usage(stdout); return 0;
      default: {
        int rc = netopts_parse(&nets, &o, opt, optarg, "setowire-cat");
        if (rc < 0) usage(stderr);
        if (rc) return 2;
      }
    }
  }
  if (argc - optind > 1) {
    usage(stderr);
    return 2;
  }
  if ((c.send_flags & SW_SEND_SIGNED) && (c.send_flags & (SW_SEND_UNICAST | SW_SEND_DATAGRAM))) {
    fprintf(stderr, "setowire-cat: --signed goes with broadcast lines only (not --to or "
                    "--unreliable: a unicast's sender is its author already)\n");
    return 2;
  }
  if ((c.fetch_key != NULL) + (c.fetch_name != NULL) + (store_signed != NULL) + store_content > 1 ||
      (seq && !store_signed)) {
    fprintf(stderr, "setowire-cat: --fetch, --fetch-signed, --store-signed and --store-content "
                    "exclude each other; --seq goes with --store-signed\n");
    return 2;
  }
  if (no_cache && !c.fetch_key) {
    fprintf(stderr, "setowire-cat: --no-cache goes with --fetch (--fetch-signed always asks "
                    "the peers)\n");
    return 2;
  }
  if (optind < argc) { /* the positional TOPIC is joined first */
    if (ntopics == SW_MAX_TOPICS) {
      fprintf(stderr, "setowire-cat: at most %d topics\n", SW_MAX_TOPICS);
      return 2;
    }
    memmove(topics + 1, topics, (size_t)ntopics * sizeof *topics);
    topics[0] = argv[optind];
    ntopics++;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&c.loop);
  if (storage_path) {
    char why[256] = "";
    if (sw_storage_sqlite_open(storage_path, &storage, why, sizeof why) != SW_OK) {
      fprintf(stderr, "setowire-cat: --storage %s: %s\n", storage_path, why);
      return 1;
    }
    o.storage = storage;
  }
  o.on_event = on_event;
  o.user = &c;
  int rc = sw_swarm_new(&c.swarm, &o, &c.loop);
  if (rc) {
    fprintf(stderr, "setowire-cat: %s%s\n", sw_strerror(rc),
            rc == SW_EINVAL ? " (check --seed, --bind, --bootstrap, --bootstrap-http, --piping)" : "");
    return rc == SW_EINVAL ? 2 : 1;
  }
  if (print_signing_key) { /* the swarm never runs: nothing is sent; exit frees it */
    uint8_t pub[SW_SIGNING_KEY_LEN];
    char hex[2 * SW_SIGNING_KEY_LEN + 1];
    rc = sw_swarm_signing_key(c.swarm, pub);
    if (!rc) {
      crypto_hex_encode(pub, sizeof pub, hex);
      printf("%s\n", hex);
    }
    return rc ? 1 : 0;
  }
  for (int i = 0; i < ntopics; i++) {
    uint8_t topic[SW_TOPIC_LEN];
    unsigned int tl = 0;
    EVP_Digest(topics[i], strlen(topics[i]), topic, &tl, EVP_sha256(), NULL);
    sw_swarm_join(c.swarm, topic); /* a name given twice is joined once */
  }
  if (netopts_connect(&nets, c.swarm, "setowire-cat")) return 2;
  for (int i = 0; i < nstore; i++) {
    char key[SW_KEY_MAX + 1];
    const char *eq = strchr(stores[i], '=');
    size_t klen = (size_t)(eq - stores[i]), vlen = 0;
    memcpy(key, stores[i], klen);
    key[klen] = 0;
    uint8_t *bytes = read_file(eq + 1, &vlen);
    if (!bytes) return 1;
    sw_store_opts so = {.flags = scoped ? 0 : SW_STORE_GLOBAL, .ttl_ms = (uint32_t)ttl_ms};
    rc = sw_swarm_store_ex(c.swarm, key, bytes, vlen, &so);
    free(bytes);
    if (rc) {
      fprintf(stderr, "setowire-cat: --store %s: %s\n", key, sw_strerror(rc));
      return 1;
    }
  }
  for (int i = 0; i < nunstore; i++) {
    sw_store_opts so = {.flags = scoped ? 0 : SW_STORE_GLOBAL};
    if ((rc = sw_swarm_unstore(c.swarm, unstores[i], &so))) {
      fprintf(stderr, "setowire-cat: --unstore %s: %s\n", unstores[i], sw_strerror(rc));
      return 1;
    }
  }
  if (store_signed || store_content) {
    size_t vlen = 0;
    uint8_t *bytes = read_stdin(store_content ? SW_VALUE_MAX : SW_SIGNED_VALUE_MAX, &vlen);
    if (!bytes) return 1;
    char ckey[SW_CONTENT_KEY_LEN + 1];
    rc = store_content ? sw_swarm_store_content(c.swarm, bytes, vlen, ckey)
                       : sw_swarm_store_signed(c.swarm, store_signed, bytes, vlen, seq);
    free(bytes);
    if (rc) {
      fprintf(stderr, "setowire-cat: --store-%s: %s%s\n", store_content ? "content" : "signed",
              sw_strerror(rc), rc == SW_EINVAL && seq ? " (--seq not above the held one?)" : "");
      return 1;
    }
    if (store_content) {
      printf("%s\n", ckey);
    } else {
      if (!seq) seq = 1; /* a new process holds no earlier version in memory */
      printf("%llu\n", seq);
    }
    fflush(stdout);
    c.serve_only = 1;
  }
  c.progress = isatty(2) ? 1 : force_progress ? 2 : 0;
  sw_fetch_opts fo = {.timeout_ms = (uint32_t)fetch_timeout,
                      .flags = (scoped ? 0 : SW_FETCH_GLOBAL) |
                               (no_cache ? SW_FETCH_NO_CACHE : 0),
                      .progress = on_fetch_progress};
  if (c.fetch_key && (rc = sw_swarm_fetch_ex(c.swarm, c.fetch_key, &fo, on_fetched, &c, NULL))) {
    fprintf(stderr, "setowire-cat: --fetch %s: %s\n", c.fetch_key, sw_strerror(rc));
    return 1;
  }
  if (c.fetch_name && (rc = sw_swarm_fetch_signed(c.swarm, c.fetch_signer, c.fetch_name, &fo,
                                                  on_fetched_signed, &c, NULL))) {
    fprintf(stderr, "setowire-cat: --fetch-signed %s: %s\n", c.fetch_name, sw_strerror(rc));
    return 1;
  }
  c.cap = LINE_MAX_BYTES + READ_CHUNK;
  c.buf = malloc(c.cap);
  if (!c.buf) return 1;
  static char outbuf[1 << 16];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
  grow_pipe(1);
  c.in_type = uv_guess_handle(0);
  if (c.in_type == UV_TTY) {
    uv_tty_init(&c.loop, &c.in.tty, 0, 1);
  } else if (c.in_type == UV_NAMED_PIPE || c.in_type == UV_TCP) {
    if (c.in_type == UV_NAMED_PIPE) grow_pipe(0); /* reads of up to 256 KiB, not 64 KiB */
    uv_pipe_init(&c.loop, &c.in.pipe, 0);
    uv_pipe_open(&c.in.pipe, 0);
    c.in_type = UV_NAMED_PIPE;
  } else {
    c.in_type = UV_FILE; /* regular files and /dev/null */
    struct stat st;
    c.in_regular = fstat(0, &st) == 0 && S_ISREG(st.st_mode);
  }
  c.in.pipe.data = &c;
  uv_idle_init(&c.loop, &c.filer);
  c.filer.data = &c;
  uv_check_init(&c.loop, &c.flusher);
  c.flusher.data = &c;
  uv_check_start(&c.flusher, on_check);
  uv_signal_init(&c.loop, &c.sigint);
  uv_signal_init(&c.loop, &c.sigterm);
  c.sigint.data = c.sigterm.data = &c;
  uv_signal_start(&c.sigint, on_signal, SIGINT);
  uv_signal_start(&c.sigterm, on_signal, SIGTERM);
  uv_signal_init(&c.loop, &c.sigusr1);
  c.sigusr1.data = &c;
  if (c.stats) uv_signal_start(&c.sigusr1, on_signal, SIGUSR1);
  start_reading(&c);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  fflush(stderr);
  out_flush(&c);
  fflush(stdout);
  sw_swarm_free(c.swarm);
  sw_storage_sqlite_close(storage);
  uv_loop_close(&c.loop);
  free(c.buf);
  return c.exit_code;
}
