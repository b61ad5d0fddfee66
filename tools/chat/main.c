/* setowire-chat: a terminal chat room that talks to the references' chat programs
 * (PROTOCOL.md 16.3): the same topic (SHA-256 of "chat:" + room), the same JSON
 * messages (JOIN, MSG, LEAVE, "_selfId"; ours add a "ts" member, see chat_json) and an
 * identity file per nick holding the seed.
 *
 * On a terminal the line being typed is edited with libedit, driven from the libuv loop
 * (rl_callback_* on a uv_poll of stdin), so network events print while a line is half
 * typed: the input line is wiped, the event printed, and the prompt and line redrawn.
 * Elsewhere (pipes, files) stdin is read as plain lines, so scripts and tests work. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <editline/readline.h>

#include "netopts.h"
#include "setowire.h"
#include "hex.h"

#define PROG "setowire-chat"
#define NICK_MAX 64          /* bytes of a nick kept and shown; longer ones are cut */
#define MAX_TRACKED 256      /* peers whose nick we remember; beyond, ids are shown */
#define LINE_MAX_BYTES 16384 /* one typed line (a MSG stays far below SW_MAX_MESSAGE) */
#define READ_CHUNK 4096
#define LEAVE_GRACE_MS 300   /* between broadcasting LEAVE and closing, as the references */
#define JOIN_RETRY_MS 400    /* JOIN again while a new peer has not said JOIN (Python: 0.4, 1.2 s) */
#define JOIN_TRIES 3
#define IDENTITY_MAX_BYTES 4096

typedef struct tracked {
  uint8_t id[SW_WIRE_ID_LEN];
  char nick[NICK_MAX + 1]; /* empty until its JOIN arrives */
  int used, handshook, joins_sent;
} tracked;

typedef struct chat {
  uv_loop_t loop;
  sw_swarm *swarm;
  const char *nick;
  char self_hex[2 * SW_ID_LEN + 1];
  int color;     /* stdout is a terminal */
  int editing;   /* libedit owns the input line (stdin is a terminal) */
  int rl_on;     /* the libedit callback handler is installed */
  int accepting; /* inside the handler of a completed line */
  int leaving, closed, exit_code;
  uv_handle_type in_type;
  union {
    uv_pipe_t pipe;
    uv_poll_t poll;
  } in;
  int in_open, in_reading;
  uv_fs_t fsreq;
  int skipping;
  char *line;
  size_t len;
  char readbuf[READ_CHUNK];
  uv_timer_t leave_timer, join_timer;
  uv_signal_t sigint, sigterm, sighup;
  tracked peers[MAX_TRACKED];
  char prompt[NICK_MAX + 8];
} chat;

static chat C; /* libedit's callback carries no user pointer */

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [options] NICK [ROOM]\n"
          "\n"
          "Chat in ROOM (default: general) with setowire-chat and the reference chat\n"
          "programs: the topic is SHA-256(\"chat:\" + ROOM). Type a line to send it;\n"
          "commands: /peers /nat /quit /help. End of input or Ctrl-C leaves the room.\n"
          "The identity seed is kept in DIR/identity.<nick>.json (created on first use,\n"
          "mode 0600) and the peers met in DIR/peers.<nick>.json, dialled again at the\n"
          "next start; <nick> keeps letters, digits, '-' and '_', lower-cased.\n"
          "\n"
          "options:\n"
          "  --identity DIR      folder of the identity and peer files (default: the\n"
          "                      SETOWIRE_CHAT_DIR environment variable, else .)\n"
          "  --peer-cache PATH   the peer file to use instead of DIR/peers.<nick>.json\n"
          "  --no-peer-cache     remember no peers\n"
          "%s"
          "  --help              this text\n"
          "\n"
          "exit status: 0 after leaving the room, 1 on a runtime error, 2 on bad usage.\n",
          netopts_help);
}

/* ---- output ---------------------------------------------------------------- */


/* Text from the network goes to a terminal: control bytes (escape sequences, carriage
 * returns) become '?', so a peer can neither move the cursor nor fake a line. */
static void clean(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

/* Characters (UTF-8 code points) in the first n bytes of s: the columns they take,
 * except for wide characters. */
static size_t columns(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && s[i]; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80) k++;
  return k;
}

/* Erase the prompt and the line being typed, which may wrap over several rows: go up
 * to the row the prompt starts on, then clear to the end of the screen. */
static void wipe_input(void) {
  struct winsize ws;
  size_t cols = ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
  size_t at = columns(C.prompt, sizeof C.prompt) +
              (rl_line_buffer && rl_point > 0 ? columns(rl_line_buffer, (size_t)rl_point) : 0);
  if (at / cols) printf("\x1b[%zuA", at / cols);
  fputs("\r\x1b[J", stdout);
}

/* Print one line above the input line, keeping what is being typed intact. */
static void emit(const char *text) {
  if (C.rl_on && !C.accepting) {
    /* Wipe prompt and line, print, then let libedit draw prompt and buffer again. */
    wipe_input();
    fputs(text, stdout);
    fputs("\r\n", stdout);
    fflush(stdout);
    rl_forced_update_display();
  } else {
    fputs(text, stdout);
    fputs(C.rl_on ? "\r\n" : "\n", stdout);
  }
  fflush(stdout);
}

static void stamp(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  localtime_r(&t, &tm);
  snprintf(buf, n, "%02d:%02d", tm.tm_hour, tm.tm_min);
}

/* A status line: "[HH:MM] * text", grey on a terminal. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char body[1024], ts[8];
  char *line;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  stamp(ts, sizeof ts);
  if (asprintf(&line, "%s[%s] * %s%s", C.color ? "\x1b[90m" : "", ts, body,
               C.color ? "\x1b[0m" : "") < 0)
    return;
  emit(line);
  free(line);
}

/* A chat line: "[HH:MM] nick: text"; our own nick green, others magenta. */
static void say_msg(const char *from, const char *text) {
  char ts[8];
  char *line;
  int own = strcmp(from, C.nick) == 0;
  stamp(ts, sizeof ts);
  if (C.color) {
    if (asprintf(&line, "\x1b[90m[%s]\x1b[0m %s%s\x1b[0m: %s", ts, own ? "\x1b[32m" : "\x1b[35m",
                 from, text) < 0)
      return;
  } else if (asprintf(&line, "[%s] %s: %s", ts, from, text) < 0) {
    return;
  }
  emit(line);
  free(line);
}

/* ---- peers and their nicks ----------------------------------------------- */

static tracked *find(const uint8_t *id) {
  for (size_t i = 0; i < MAX_TRACKED; i++)
    if (C.peers[i].used && !memcmp(C.peers[i].id, id, SW_WIRE_ID_LEN)) return &C.peers[i];
  return NULL;
}

static tracked *track(const uint8_t *id) {
  tracked *t = find(id);
  if (t) return t;
  for (size_t i = 0; i < MAX_TRACKED; i++) {
    if (!C.peers[i].used) {
      t = &C.peers[i];
      memset(t, 0, sizeof *t);
      t->used = 1;
      memcpy(t->id, id, SW_WIRE_ID_LEN);
      return t;
    }
  }
  return NULL; /* table full: this peer is shown by its id */
}

/* The nick we know for a peer, or the first 8 hex chars of its id. */
static const char *name_of(const uint8_t *id, char buf[2 * SW_WIRE_ID_LEN + 1]) {
  tracked *t = find(id);
  if (t && t->nick[0]) return t->nick;
  crypto_hex_encode(id, SW_WIRE_ID_LEN, buf);
  buf[8] = 0;
  return buf;
}

/* Wall clock in ms for the "ts" member. Why it exists: every peer drops a message whose
 * bytes it has seen in the last minutes (PROTOCOL.md 6.2), so with the references' bare
 * JSON a nick rejoining, or saying "ok" twice, is silently dropped. A member the
 * references ignore makes each message unique; they still read ours, and we theirs. */
static json_int_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* {"type": type, "nick": our nick, ["text": text, "_selfId": our id,] "ts": ms}, as
 * compact JSON (malloc'd), or NULL when text is not UTF-8. */
static char *chat_json(const char *type, const char *text) {
  json_t *o = text ? json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", type, "nick", C.nick, "text",
                               text, "_selfId", C.self_hex, "ts", now_ms())
                   : json_pack("{s:s, s:s, s:I}", "type", type, "nick", C.nick, "ts", now_ms());
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return s;
}

static void send_join(const uint8_t *peer) {
  /* Fails only when the peer is gone or its queue is full; the retry timer or the
   * peer's own JOIN covers both. */
  char *s = chat_json("JOIN", NULL);
  if (s) (void)sw_swarm_write(C.swarm, peer, s, strlen(s));
  free(s);
}

static void on_join_timer(uv_timer_t *h) {
  (void)h;
  for (size_t i = 0; i < MAX_TRACKED; i++) {
    tracked *t = &C.peers[i];
    if (t->used && !t->nick[0] && t->joins_sent < JOIN_TRIES) {
      t->joins_sent++;
      send_join(t->id);
    }
  }
}

/* ---- messages -------------------------------------------------------------- */

/* A copy of a string member, cleaned for the terminal and cut to max bytes; NULL when
 * the member is missing or not a string. */
static char *member(json_t *o, const char *key, size_t max) {
  const char *s = json_string_value(json_object_get(o, key));
  if (!s) return NULL;
  size_t n = strnlen(s, max);
  char *r = malloc(n + 1);
  if (!r) return NULL;
  memcpy(r, s, n);
  r[n] = 0;
  clean(r);
  return r;
}

static void on_data(const uint8_t *peer, const uint8_t *data, size_t len) {
  json_t *m = json_loadb((const char *)data, len, 0, NULL);
  if (!json_is_object(m)) { /* not chat JSON: the references ignore it too */
    json_decref(m);
    return;
  }
  const char *self = json_string_value(json_object_get(m, "_selfId"));
  const char *type = json_string_value(json_object_get(m, "type"));
  char idbuf[2 * SW_WIRE_ID_LEN + 1];
  if ((self && !strcmp(self, C.self_hex)) || !type) goto out;
  if (!strcmp(type, "JOIN")) {
    char *nick = member(m, "nick", NICK_MAX);
    if (!nick) goto out;
    tracked *t = track(peer);
    if (t) {
      int fresh = !t->nick[0];
      snprintf(t->nick, sizeof t->nick, "%s", nick);
      if (fresh) say("%s joined", nick);
      if (!t->handshook) { /* answer once, so a peer that joined later learns our nick */
        t->handshook = 1;
        send_join(peer);
      }
    } else {
      say("%s joined", nick);
    }
    free(nick);
  } else if (!strcmp(type, "MSG")) {
    char *nick = member(m, "nick", NICK_MAX), *text = member(m, "text", LINE_MAX_BYTES * 4);
    if (nick && text) say_msg(nick, text);
    free(nick);
    free(text);
  } else if (!strcmp(type, "LEAVE")) {
    tracked *t = find(peer);
    char *nick = member(m, "nick", NICK_MAX);
    const char *who = t && t->nick[0] ? t->nick : nick ? nick : name_of(peer, idbuf);
    say("%s left", who);
    if (t) t->nick[0] = 0;
    free(nick);
  }
out:
  json_decref(m);
}

static void broadcast_json(char *s) {
  if (!s) return;
  int rc = sw_swarm_broadcast(C.swarm, s, strlen(s));
  if (rc < 0) say("not sent: %s", sw_strerror(rc));
  free(s);
}

static void close_input(void);

static void on_leave_timer(uv_timer_t *h) {
  (void)h;
  uv_timer_stop(&C.join_timer);
  sw_swarm_close(C.swarm); /* GOAWAY to every peer; SW_EV_CLOSE follows */
}

/* Tell the room we leave, give the LEAVE time to go out, then close the swarm. */
static void leave(void) {
  if (C.leaving) return;
  C.leaving = 1;
  close_input();
  broadcast_json(chat_json("LEAVE", NULL));
  uv_timer_start(&C.leave_timer, on_leave_timer, LEAVE_GRACE_MS, 0);
}

static void peers_cmd(void) {
  size_t n = sw_swarm_peer_count(C.swarm);
  sw_peer_info *pi = n ? calloc(n, sizeof *pi) : NULL;
  size_t got = pi ? sw_swarm_peers(C.swarm, pi, n) : 0;
  say("%zu peer(s) connected", n);
  for (size_t i = 0; i < got && i < n; i++) {
    char id[2 * SW_WIRE_ID_LEN + 1];
    tracked *t = find(pi[i].id);
    crypto_hex_encode(pi[i].id, SW_WIRE_ID_LEN, id);
    id[8] = 0;
    say("  %s nick=%s rtt=%lums mesh=%s addr=%s", id, t && t->nick[0] ? t->nick : "?",
        (unsigned long)(pi[i].rtt_ms + 0.5), pi[i].in_mesh ? "true" : "false", pi[i].addr);
  }
  free(pi);
}

static void handle_line(char *text) {
  /* Trim as the references do. */
  while (*text == ' ' || *text == '\t' || *text == '\r') text++;
  size_t n = strlen(text);
  while (n && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r')) text[--n] = 0;
  if (!n) return;
  if (!strcmp(text, "/peers")) {
    peers_cmd();
  } else if (!strcmp(text, "/nat")) {
    /* What STUN told us (PROTOCOL.md 15.5); until then, the references' words. */
    char addr[SW_ADDRSTRLEN];
    const char *type;
    if (sw_swarm_nat(C.swarm, addr, sizeof addr, &type)) say("nat=%s addr=%s", type, addr);
    else say("nat=unknown addr=LAN");
  } else if (!strcmp(text, "/quit")) {
    leave();
  } else if (!strcmp(text, "/help")) {
    say("commands: /peers (peers, RTT, mesh)  /nat (NAT type, public address)  /quit  /help");
  } else {
    char *s = chat_json("MSG", text);
    if (!s) { /* json_pack refuses text that is not UTF-8 */
      say("not sent: the line is not valid UTF-8");
      return;
    }
    broadcast_json(s);
    clean(text);
    say_msg(C.nick, text);
  }
}

/* ---- input: libedit on a terminal ------------------------------------------ */

static void on_rl_line(char *line) {
  if (!line) { /* Ctrl-D on an empty line */
    leave();
    return;
  }
  /* libedit has echoed the line and a newline, and still holds the line in its buffer:
   * print below it without redrawing, then install the handler again, which turns the
   * unbuffered (character at a time) mode back on and shows a fresh prompt. */
  C.accepting = 1;
  if (*line) add_history(line);
  if (strlen(line) > LINE_MAX_BYTES) say("line longer than %d bytes: not sent", LINE_MAX_BYTES);
  else handle_line(line);
  free(line);
  C.accepting = 0;
  if (C.rl_on) rl_callback_handler_install(C.prompt, on_rl_line);
}

static void on_tty_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) {
    leave();
    return;
  }
  rl_callback_read_char();
}

/* ---- input: plain lines elsewhere ------------------------------------------ */

static void take_bytes(const char *p, size_t n) {
  while (n && !C.leaving) {
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) : n;
    if (!C.skipping) {
      if (C.len + k > LINE_MAX_BYTES) {
        say("line longer than %d bytes: not sent", LINE_MAX_BYTES);
        C.skipping = 1;
        C.len = 0;
      } else {
        memcpy(C.line + C.len, p, k);
        C.len += k;
      }
    }
    if (!nl) return;
    if (!C.skipping) {
      C.line[C.len] = 0;
      handle_line(C.line);
    }
    C.skipping = 0;
    C.len = 0;
    p = nl + 1;
    n -= k + 1;
  }
}

static void end_of_input(void) {
  if (C.len && !C.skipping && !C.leaving) { /* a last line without a newline */
    C.line[C.len] = 0;
    C.len = 0;
    handle_line(C.line);
  }
  leave();
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  (void)h;
  (void)sz;
  b->base = C.readbuf;
  b->len = sizeof C.readbuf;
}

static void on_pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  (void)st;
  if (n < 0) end_of_input();
  else take_bytes(b->base, (size_t)n);
}

static void start_file_read(void);

static void on_file_read(uv_fs_t *req) {
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  C.in_reading = 0;
  if (C.leaving) return;
  if (n <= 0) {
    end_of_input();
    return;
  }
  take_bytes(C.readbuf, (size_t)n);
  start_file_read();
}

static void start_file_read(void) {
  if (C.leaving || C.in_reading) return;
  uv_buf_t b = uv_buf_init(C.readbuf, sizeof C.readbuf);
  C.in_reading = 1;
  uv_fs_read(&C.loop, &C.fsreq, 0, &b, 1, -1, on_file_read);
}

static void open_input(void) {
  C.in_type = uv_guess_handle(0);
  if (C.in_type == UV_TTY) {
    C.editing = 1;
    rl_catch_signals = 0; /* Ctrl-C and SIGTERM are the loop's (uv_signal) */
    rl_callback_handler_install(C.prompt, on_rl_line);
    C.rl_on = 1;
    uv_poll_init(&C.loop, &C.in.poll, 0);
    uv_poll_start(&C.in.poll, UV_READABLE, on_tty_readable);
    C.in_open = 1;
  } else if (C.in_type == UV_NAMED_PIPE || C.in_type == UV_TCP) {
    uv_pipe_init(&C.loop, &C.in.pipe, 0);
    uv_pipe_open(&C.in.pipe, 0);
    uv_read_start((uv_stream_t *)&C.in.pipe, on_alloc, on_pipe_read);
    C.in_type = UV_NAMED_PIPE;
    C.in_open = 1;
  } else {
    C.in_type = UV_FILE; /* regular files, /dev/null */
    start_file_read();
  }
}

static void close_input(void) {
  if (C.rl_on) {
    rl_callback_handler_remove(); /* gives the terminal its settings back */
    C.rl_on = 0;
    fputs("\r\x1b[2K", stdout);
    fflush(stdout);
  }
  if (C.in_open) {
    C.in_open = 0;
    uv_close((uv_handle_t *)&C.in, NULL);
  }
}

/* ---- swarm events ---------------------------------------------------------- */

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  char idbuf[2 * SW_WIRE_ID_LEN + 1];
  (void)s;
  (void)user;
  switch (ev->type) {
    case SW_EV_LISTENING:
      say("ready | port=%u | nat=unknown | addr=LAN", ev->port);
      break;
    case SW_EV_CONNECTION: {
      tracked *t = track(ev->peer);
      if (t) t->joins_sent = 1;
      send_join(ev->peer);
      break;
    }
    case SW_EV_DATA:
      on_data(ev->peer, ev->data, ev->len);
      break;
    case SW_EV_DISCONNECT: {
      tracked *t = find(ev->peer);
      say("%s disconnected", name_of(ev->peer, idbuf));
      if (t) t->used = 0;
      break;
    }
    case SW_EV_CLOSE:
      C.closed = 1;
      close_input();
      uv_close((uv_handle_t *)&C.leave_timer, NULL);
      uv_close((uv_handle_t *)&C.join_timer, NULL);
      uv_close((uv_handle_t *)&C.sigint, NULL);
      uv_close((uv_handle_t *)&C.sigterm, NULL);
      uv_close((uv_handle_t *)&C.sighup, NULL);
      break;
    default: break;
  }
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)h;
  (void)sig;
  leave();
}

/* ---- identity file ------------------------------------------------------- */

static int is_hex_seed(const char *s) {
  uint8_t seed[128]; /* 1 to 128 bytes of hex, as the library accepts */
  return crypto_hex_decode(s, seed, sizeof seed) > 0;
}

/* Read DIR/identity.<safe>.json, or create it with 32 random bytes: written to a
 * private temporary file (0600), synced, then linked into place, so a crash leaves no
 * half file and two processes starting at once end with one seed. */
static int load_identity(const char *path, char seed[2 * 128 + 1]) {
  for (int attempt = 0; attempt < 2; attempt++) {
    struct stat st;
    if (stat(path, &st) == 0) {
      json_error_t err;
      if (st.st_size > IDENTITY_MAX_BYTES) {
        fprintf(stderr, PROG ": %s: too large for an identity file\n", path);
        return -1;
      }
      json_t *o = json_load_file(path, 0, &err);
      const char *s = json_string_value(json_object_get(o, "seed"));
      if (!s || !is_hex_seed(s)) {
        fprintf(stderr, PROG ": %s: no {\"seed\": \"<hex>\"} in it%s%s\n", path,
                o ? "" : ": ", o ? "" : err.text);
        json_decref(o);
        return -1;
      }
      snprintf(seed, 2 * 128 + 1, "%s", s);
      json_decref(o);
      return 0;
    }
    uint8_t raw[32];
    char hx[65], tmp[4096], body[128];
    if (RAND_bytes(raw, sizeof raw) != 1) {
      fprintf(stderr, PROG ": no random bytes for a new identity\n");
      return -1;
    }
    crypto_hex_encode(raw, sizeof raw, hx);
    int bl = snprintf(body, sizeof body, "{\"seed\": \"%s\"}\n", hx);
    int tl = snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    if (tl < 0 || (size_t)tl >= sizeof tmp) {
      fprintf(stderr, PROG ": identity path too long: %s\n", path);
      return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
      return -1;
    }
    int ok = write(fd, body, (size_t)bl) == bl && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok && link(tmp, path) != 0 && errno != EEXIST) ok = rename(tmp, path) == 0;
    int saved = errno;
    unlink(tmp);
    if (!ok) {
      fprintf(stderr, PROG ": %s: %s\n", path, strerror(saved));
      return -1;
    }
    /* Loop once more: read back what is in place (ours, or a racing process's). */
  }
  fprintf(stderr, PROG ": %s: cannot create it\n", path);
  return -1;
}

/* The Python reference's file name rule: letters, digits, '-' and '_', lower-cased,
 * "default" if nothing remains (ASCII only here). */
static void safe_nick(const char *nick, char *out, size_t n) {
  size_t k = 0;
  for (; *nick && k + 1 < n; nick++) {
    unsigned char ch = (unsigned char)*nick;
    if (ch < 0x80 && (isalnum(ch) || ch == '-' || ch == '_')) out[k++] = (char)tolower(ch);
  }
  out[k] = 0;
  if (!k) snprintf(out, n, "default");
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
  static netopts nets;
  sw_options o;
  const char *dir = getenv("SETOWIRE_CHAT_DIR");
  int no_cache = 0, cache_given = 0;
  enum { O_IDENTITY = 1, O_NO_CACHE, O_HELP };
  static const struct option lo[] = {{"identity", required_argument, 0, O_IDENTITY},
                                     {"no-peer-cache", no_argument, 0, O_NO_CACHE},
                                     {"help", no_argument, 0, O_HELP},
                                     NETOPTS_LONG,
                                     {0, 0, 0, 0}};
  sw_options_init(&o);
  int opt;
  while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (opt) {
      case O_IDENTITY: dir = optarg; break;
      case O_NO_CACHE: no_cache = 1; break;
      case O_HELP:
      case 'h': usage(stdout); return 0;
      default: {
        int rc = netopts_parse(&nets, &o, opt, optarg, PROG);
        if (rc < 0) {
          usage(stderr);
          return 2;
        }
        if (rc) return rc;
        if (opt == NETOPT_PEER_CACHE) cache_given = 1;
      }
    }
  }
  if (argc - optind < 1 || argc - optind > 2 || !*argv[optind]) {
    usage(stderr);
    return 2;
  }
  C.nick = argv[optind];
  const char *room = argc - optind > 1 ? argv[optind + 1] : "general";
  if (strlen(C.nick) > NICK_MAX) {
    fprintf(stderr, PROG ": a nick has at most %d bytes\n", NICK_MAX);
    return 2;
  }
  char *js = chat_json("JOIN", NULL);
  if (!js) {
    fprintf(stderr, PROG ": the nick must be UTF-8 text\n");
    return 2;
  }
  free(js);
  for (const char *p = C.nick; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) {
      fprintf(stderr, PROG ": the nick holds control characters\n");
      return 2;
    }
  if (!dir || !*dir) dir = ".";

  char safe[NICK_MAX + 1], idpath[4096], cachepath[4096], seed[2 * 128 + 1];
  safe_nick(C.nick, safe, sizeof safe);
  snprintf(idpath, sizeof idpath, "%s/identity.%s.json", dir, safe);
  snprintf(cachepath, sizeof cachepath, "%s/peers.%s.json", dir, safe);
  if (load_identity(idpath, seed)) return 1;
  o.seed_hex = seed;
  if (no_cache) {
    o.load_peers = NULL;
    o.save_peers = NULL;
    o.peers_ctx = NULL;
  } else if (!cache_given) {
    o.load_peers = sw_peer_cache_file_load;
    o.save_peers = sw_peer_cache_file_save;
    o.peers_ctx = cachepath;
  }

  uint8_t topic[SW_TOPIC_LEN];
  unsigned int tl = 0;
  char *tname;
  if (asprintf(&tname, "chat:%s", room) < 0) return 1;
  EVP_Digest(tname, strlen(tname), topic, &tl, EVP_sha256(), NULL);
  free(tname);

  signal(SIGPIPE, SIG_IGN);
  C.color = isatty(1);
  snprintf(C.prompt, sizeof C.prompt, "%s > ", C.nick);
  C.line = malloc(LINE_MAX_BYTES + 1);
  if (!C.line) return 1;
  uv_loop_init(&C.loop);
  uv_timer_init(&C.loop, &C.leave_timer);
  uv_timer_init(&C.loop, &C.join_timer);
  uv_signal_init(&C.loop, &C.sigint);
  uv_signal_init(&C.loop, &C.sigterm);
  uv_signal_init(&C.loop, &C.sighup);

  say("starting... nick=%s room=%s", C.nick, room);
  o.on_event = on_event;
  o.user = &C;
  int rc = sw_swarm_new(&C.swarm, &o, &C.loop);
  if (rc) {
    fprintf(stderr, PROG ": %s%s\n", sw_strerror(rc),
            rc == SW_EINVAL ? " (check --bind, --bootstrap, --bootstrap-http, --piping)" : "");
    return rc == SW_EINVAL ? 2 : 1;
  }
  uint8_t full[SW_ID_LEN];
  sw_swarm_id(C.swarm, full);
  crypto_hex_encode(full, SW_ID_LEN, C.self_hex);
  sw_swarm_join(C.swarm, topic);
  if ((rc = netopts_connect(&nets, C.swarm, PROG))) return rc;

  uv_signal_start(&C.sigint, on_signal, SIGINT);
  uv_signal_start(&C.sigterm, on_signal, SIGTERM);
  uv_signal_start(&C.sighup, on_signal, SIGHUP);
  uv_timer_start(&C.join_timer, on_join_timer, JOIN_RETRY_MS, JOIN_RETRY_MS);
  say("commands: /peers  /nat  /quit  /help");
  open_input();
  uv_run(&C.loop, UV_RUN_DEFAULT);
  sw_swarm_free(C.swarm);
  uv_loop_close(&C.loop);
  free(C.line);
  return C.exit_code;
}
