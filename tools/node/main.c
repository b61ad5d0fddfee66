/* setowire-node: a long-running node for operators. It is a peer like any other (so
 * it can serve as a seed, a DHT bootstrap node and, with --relay, a relay) and serves
 * the HTTP bootstrap endpoints POST /announce and GET /peers (PROTOCOL.md 14.5) that
 * the references and setowire-cat --bootstrap-http query and, with --stun-port, a STUN
 * server (RFC 8489 Binding, RFC 5780 with an alternate address and port). The contract is in --help
 * and README.md; scripts depend on the flags and on the --events lines. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "bootsrv.h"
#include "stunsrv_rt.h"
#include "setowire.h"
#include "hex.h"

#define DEFAULT_DHT_PORT 49737  /* PROTOCOL.md 19: the references' well-known port */
#define DEFAULT_HTTP_PORT 49738
#define DEFAULT_HTTP_MAX 10000  /* bootstrap entries kept (about 150 bytes each) */
#define DEFAULT_HTTP_TTL 600    /* s: clients announce every 180 s (14.5) */
#define DEFAULT_PER_SOURCE 32   /* entries one client address may hold */
#define DEFAULT_PEERS_MAX 50    /* records in one GET /peers answer */

typedef struct node {
  uv_loop_t loop;
  sw_swarm *swarm;
  bootsrv *http;
  stunrt *stun;
  int events, quiet, relay;
  int closing, swarm_closed, http_closed, stun_closed;
  unsigned dht_port, http_port, stun_port;
  uint64_t started_ms, connections, disconnects;
  uv_signal_t sigint, sigterm, sigusr1;
} node;

static void usage(FILE *f) {
  fprintf(f,
      "usage: setowire-node [options]\n"
      "\n"
      "Run a Setowire node for other peers to start from: a peer on the main UDP port,\n"
      "a DHT bootstrap node on the DHT port, and the HTTP bootstrap endpoints\n"
      "POST /announce (JSON {\"id\",\"ip\",\"port\"}) and GET /peers (JSON array of the\n"
      "freshest records). Runs until SIGINT or SIGTERM, then says GOAWAY to its peers\n"
      "and exits 0. SIGUSR1 writes one stats line to standard error.\n"
      "\n"
      "options:\n"
      "  --dht-port N         DHT UDP port (default %u)\n"
      "  --http-port N        HTTP bootstrap TCP port (default %u; 0: no HTTP endpoint)\n"
      "  --port N             main UDP port (default 0: any)\n"
      "  --bind ADDR          local address for every socket (default: all, IPv4 and IPv6)\n"
      "  --seed HEX           identity seed (hex); default: a random identity\n"
      "  --relay              serve as a relay: carry the encrypted traffic of peers\n"
      "                       that cannot punch to each other (bounded), and put\n"
      "                       relay: records in the DHT (sw_options.relay)\n"
      "  --max-peers N        peer table bound (default 100)\n"
      "  --http-max N         bootstrap entries kept (default %u; the oldest is replaced)\n"
      "  --http-ttl S         seconds an entry lives without a new announce (default %u)\n"
      "  --http-per-source N  entries one client address may hold (default %u)\n"
      "  --http-peers N       records in one GET /peers answer (default %u)\n"
      "  --http-per-prefix N  entries one client /24 (IPv4) or /48 (IPv6) may hold\n"
      "                       (default %u)\n"
      "  --http-rate R        POSTs a second one client address may make (default %g,\n"
      "                       bursts of --http-burst N, default %g); more: 429\n"
      "  --http-burst N       see --http-rate\n"
      "  --http-conns N       HTTP connections in all (default %u)\n"
      "  --http-conns-per-ip N  connections one client address may hold (default %u;\n"
      "                       %u per /24 or /48); more: 429\n"
      "  --http-deadline MS   a request's headers and body must arrive within MS\n"
      "                       milliseconds of its start (default %u); else 408.\n"
      "                       A record is bound to the address that posted it: no\n"
      "                       other address can replace or re-point it (409)\n"
      "  --stun-port N        answer STUN Binding requests on UDP port N (default 0: no\n"
      "                       STUN server; 3478 is the usual port). Each source IP gets\n"
      "                       at most %u answers a second (bursts of %u)\n"
      "  --stun-alt-ip ADDR   a second local address for RFC 5780 NAT discovery\n"
      "                       (OTHER-ADDRESS, CHANGE-REQUEST); needs --bind ADDR0 with\n"
      "                       one specific address of the same family\n"
      "  --stun-alt-port N    a second STUN port for the same; needs --bind ADDR0\n"
      "  --events             JSON event lines on standard error, the first being\n"
      "                       {\"event\":\"listening\",\"id\":HEX,\"dht_port\":N,\"http_port\":N,\n"
      "                       \"port\":N,\"stun_port\":N}; then connection, disconnect,\n"
      "                       announce, stats, close\n"
      "  --quiet              no log lines (events still go out with --events)\n"
      "  --help               this text\n"
      "\n"
      "Log lines on standard error look like: setowire-node level=info msg=\"...\" key=value\n"
      "exit status: 0 after a signal-requested shutdown; 1 on a runtime error (a port\n"
      "that cannot be bound); 2 on bad usage.\n",
      DEFAULT_DHT_PORT, DEFAULT_HTTP_PORT, DEFAULT_HTTP_MAX, DEFAULT_HTTP_TTL,
      DEFAULT_PER_SOURCE, DEFAULT_PEERS_MAX, BOOTSRV_PER_PREFIX, BOOTSRV_POST_RATE,
      BOOTSRV_POST_BURST, BOOTSRV_CONNS_MAX, BOOTSRV_CONNS_PER_IP, BOOTSRV_CONNS_PER_PREFIX,
      BOOTSRV_DEADLINE_MS, STUNRT_RATE, STUNRT_BURST);
}


static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

/* One structured log line: key=value pairs after the message. */
static void logf_(node *n, const char *level, const char *msg, const char *kv) {
  if (n->quiet) return;
  fprintf(stderr, "setowire-node level=%s msg=\"%s\"%s%s\n", level, msg, kv ? " " : "",
          kv ? kv : "");
  fflush(stderr);
}

static void stats_line(node *n) {
  bootsrv_stats st = {0};
  stunrt_stats ss = {0};
  if (n->http) bootsrv_get_stats(n->http, &st);
  if (n->stun) stunrt_get_stats(n->stun, &ss);
  /* One list of figures feeds both forms of the line: the JSON event and key=value. */
  const struct {
    const char *name;
    unsigned long long v;
  } f[] = {
      {"uptime_s", (now_ms() - n->started_ms) / 1000},
      {"peers", n->swarm ? sw_swarm_peer_count(n->swarm) : 0},
      {"connections", n->connections},
      {"disconnects", n->disconnects},
      {"http_entries", st.entries},
      {"announces", st.announces},
      {"gets", st.gets},
      {"rejected", st.rejected},
      {"expired", st.expired},
      {"http_limited", st.limited},
      {"http_conflicts", st.conflicts},
      {"http_timeouts", st.timeouts},
      {"http_full", st.full},
      {"stun_answered", ss.answered},
      {"stun_dropped", ss.dropped},
      {"stun_limited", ss.limited},
      {"stun_unsent", ss.unsent},
      {"stun_sources", ss.sources},
  };
  const size_t nf = sizeof f / sizeof f[0];
  char kv[512], js[640];
  size_t k = 0, j = (size_t)snprintf(js, sizeof js, "{\"event\":\"stats\"");
  for (size_t i = 0; i < nf; i++) {
    if (k < sizeof kv)
      k += (size_t)snprintf(kv + k, sizeof kv - k, "%s%s=%llu", i ? " " : "", f[i].name, f[i].v);
    if (j < sizeof js)
      j += (size_t)snprintf(js + j, sizeof js - j, ",\"%s\":%llu", f[i].name, f[i].v);
  }
  if (n->events) fprintf(stderr, "%s}\n", js);
  logf_(n, "info", "stats", kv);
  fflush(stderr);
}

static void maybe_done(node *n) {
  if (!n->swarm_closed || !n->http_closed || !n->stun_closed) return;
  uv_close((uv_handle_t *)&n->sigint, NULL);
  uv_close((uv_handle_t *)&n->sigterm, NULL);
  uv_close((uv_handle_t *)&n->sigusr1, NULL);
  if (n->events) fprintf(stderr, "{\"event\":\"close\"}\n");
  logf_(n, "info", "stopped", NULL);
}

static void http_stopped(void *arg) {
  node *n = arg;
  n->http = NULL;
  n->http_closed = 1;
  maybe_done(n);
}

static void stun_stopped(void *arg) {
  node *n = arg;
  n->stun = NULL;
  n->stun_closed = 1;
  maybe_done(n);
}

static void begin_close(node *n) {
  if (n->closing) return;
  n->closing = 1;
  logf_(n, "info", "shutting down", NULL);
  if (n->http) bootsrv_stop(n->http, http_stopped, n);
  if (n->stun) stunrt_stop(n->stun, stun_stopped, n);
  sw_swarm_close(n->swarm);
}

static void on_signal(uv_signal_t *h, int sig) {
  node *n = h->data;
  if (sig == SIGUSR1) stats_line(n);
  else begin_close(n);
}

static void on_announce(void *ctx, const char *id, const char *ip, unsigned port,
                        const char *from) {
  node *n = ctx;
  if (n->events)
    fprintf(stderr, "{\"event\":\"announce\",\"id\":\"%s\",\"ip\":\"%s\",\"port\":%u,\"from\":\"%s\"}\n",
            id, ip, port, from);
  char kv[200];
  snprintf(kv, sizeof kv, "id=%s ip=%s port=%u from=%s", id[0] ? id : "-", ip, port, from);
  logf_(n, "debug", "announce", kv);
}

static void on_event(sw_swarm *s, const sw_event *ev, void *user) {
  node *n = user;
  char id[2 * SW_ID_LEN + 1], kv[160];
  switch (ev->type) {
    case SW_EV_LISTENING: {
      uint8_t full[SW_ID_LEN];
      sw_swarm_id(s, full);
      crypto_hex_encode(full, SW_ID_LEN, id);
      if (n->events)
        fprintf(stderr,
                "{\"event\":\"listening\",\"id\":\"%s\",\"dht_port\":%u,\"http_port\":%u,"
                "\"port\":%u,\"stun_port\":%u}\n",
                id, n->dht_port, n->http_port, ev->port, n->stun_port);
      snprintf(kv, sizeof kv, "id=%s port=%u dht_port=%u http_port=%u stun_port=%u relay=%d",
               id, ev->port, n->dht_port, n->http_port, n->stun_port, n->relay);
      logf_(n, "info", "listening", kv);
      break;
    }
    case SW_EV_CONNECTION:
      n->connections++;
      crypto_hex_encode(ev->peer, SW_WIRE_ID_LEN, id);
      if (n->events)
        fprintf(stderr, "{\"event\":\"connection\",\"peer\":\"%s\",\"addr\":\"%s\"}\n", id, ev->addr);
      snprintf(kv, sizeof kv, "peer=%s addr=%s", id, ev->addr);
      logf_(n, "info", "connection", kv);
      break;
    case SW_EV_DISCONNECT:
      n->disconnects++;
      crypto_hex_encode(ev->peer, SW_WIRE_ID_LEN, id);
      if (n->events) fprintf(stderr, "{\"event\":\"disconnect\",\"peer\":\"%s\"}\n", id);
      snprintf(kv, sizeof kv, "peer=%s", id);
      logf_(n, "info", "disconnect", kv);
      break;
    default: /* the node has no application: messages are only flooded on */
      break;
    case SW_EV_CLOSE:
      n->swarm_closed = 1;
      maybe_done(n);
      break;
  }
  fflush(stderr);
}

static int parse_u(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (!*s || *end || errno || v > max || s[0] == '-') return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  static node n;
  sw_options o;
  unsigned long v;
  sw_options_init(&o);
  n.dht_port = DEFAULT_DHT_PORT;
  n.http_port = DEFAULT_HTTP_PORT;
  bootsrv_config hc = {.max_entries = DEFAULT_HTTP_MAX,
                       .per_source = DEFAULT_PER_SOURCE,
                       .peers_max = DEFAULT_PEERS_MAX,
                       .ttl_ms = DEFAULT_HTTP_TTL * 1000u};
  stunrt_config sc = {0};
  enum { O_DHTPORT = 1, O_HTTPPORT, O_PORT, O_BIND, O_SEED, O_RELAY, O_MAXP, O_HTTPMAX,
         O_HTTPTTL, O_PERSRC, O_HTTPPEERS, O_EVENTS, O_QUIET, O_HELP, O_STUNPORT, O_STUNALTIP,
         O_STUNALTPORT, O_HTTPPREFIX, O_HTTPRATE, O_HTTPBURST, O_HTTPCONNS, O_HTTPCONNSIP,
         O_HTTPDEADLINE };
  static const struct option lo[] = {
      {"dht-port", required_argument, 0, O_DHTPORT},
      {"http-port", required_argument, 0, O_HTTPPORT},
      {"port", required_argument, 0, O_PORT},
      {"bind", required_argument, 0, O_BIND},
      {"seed", required_argument, 0, O_SEED},
      {"relay", no_argument, 0, O_RELAY},
      {"max-peers", required_argument, 0, O_MAXP},
      {"http-max", required_argument, 0, O_HTTPMAX},
      {"http-ttl", required_argument, 0, O_HTTPTTL},
      {"http-per-source", required_argument, 0, O_PERSRC},
      {"http-peers", required_argument, 0, O_HTTPPEERS},
      {"events", no_argument, 0, O_EVENTS},
      {"quiet", no_argument, 0, O_QUIET},
      {"help", no_argument, 0, O_HELP},
      {"stun-port", required_argument, 0, O_STUNPORT},
      {"stun-alt-ip", required_argument, 0, O_STUNALTIP},
      {"stun-alt-port", required_argument, 0, O_STUNALTPORT},
      {"http-per-prefix", required_argument, 0, O_HTTPPREFIX},
      {"http-rate", required_argument, 0, O_HTTPRATE},
      {"http-burst", required_argument, 0, O_HTTPBURST},
      {"http-conns", required_argument, 0, O_HTTPCONNS},
      {"http-conns-per-ip", required_argument, 0, O_HTTPCONNSIP},
      {"http-deadline", required_argument, 0, O_HTTPDEADLINE},
      {0, 0, 0, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (opt) {
      case O_DHTPORT:
        if (parse_u(optarg, 65535, &v)) goto bad_value;
        n.dht_port = (unsigned)v;
        break;
      case O_HTTPPORT:
        if (parse_u(optarg, 65535, &v)) goto bad_value;
        n.http_port = (unsigned)v;
        break;
      case O_PORT:
        if (parse_u(optarg, 65535, &v)) goto bad_value;
        o.port = (uint16_t)v;
        break;
      case O_BIND: o.bind = optarg; break;
      case O_SEED: o.seed_hex = optarg; break;
      case O_RELAY: n.relay = 1; break;
      case O_MAXP:
        if (parse_u(optarg, 100000, &v) || v == 0) goto bad_value;
        o.max_peers = v;
        break;
      case O_HTTPMAX:
        if (parse_u(optarg, 1000000, &v) || v == 0) goto bad_value;
        hc.max_entries = v;
        break;
      case O_HTTPTTL:
        if (parse_u(optarg, 86400, &v) || v == 0) goto bad_value;
        hc.ttl_ms = (uint32_t)v * 1000u;
        break;
      case O_PERSRC:
        if (parse_u(optarg, 1000000, &v) || v == 0) goto bad_value;
        hc.per_source = v;
        break;
      case O_HTTPPEERS:
        if (parse_u(optarg, 10000, &v) || v == 0) goto bad_value;
        hc.peers_max = v;
        break;
      case O_STUNPORT:
        if (parse_u(optarg, 65535, &v)) goto bad_value;
        sc.port = (uint16_t)v;
        break;
      case O_STUNALTIP: sc.alt_ip = optarg; break;
      case O_STUNALTPORT:
        if (parse_u(optarg, 65535, &v) || v == 0) goto bad_value;
        sc.alt_port = (uint16_t)v;
        break;
      case O_HTTPPREFIX:
        if (parse_u(optarg, 1000000, &v) || v == 0) goto bad_value;
        hc.per_prefix = v;
        break;
      case O_HTTPRATE:
        if (parse_u(optarg, 100000, &v) || v == 0) goto bad_value;
        hc.post_rate = (double)v;
        break;
      case O_HTTPBURST:
        if (parse_u(optarg, 100000, &v) || v == 0) goto bad_value;
        hc.post_burst = (double)v;
        break;
      case O_HTTPCONNS:
        if (parse_u(optarg, 10000, &v) || v == 0) goto bad_value;
        hc.conns_max = (unsigned)v;
        break;
      case O_HTTPCONNSIP:
        if (parse_u(optarg, 10000, &v) || v == 0) goto bad_value;
        hc.conns_per_ip = (unsigned)v;
        break;
      case O_HTTPDEADLINE:
        if (parse_u(optarg, 600000, &v) || v < 100) goto bad_value;
        hc.deadline_ms = (uint32_t)v;
        break;
      case O_EVENTS: n.events = 1; break;
      case O_QUIET: n.quiet = 1; break;
      case O_HELP:
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
    continue;
  bad_value:
    fprintf(stderr, "setowire-node: bad value '%s' for --%s\n", optarg, lo[opt - 1].name);
    return 2;
  }
  if (optind < argc) {
    usage(stderr);
    return 2;
  }
  char err[256];
  if ((sc.alt_ip || sc.alt_port) && !sc.port) {
    fprintf(stderr, "setowire-node: --stun-alt-ip and --stun-alt-port need --stun-port\n");
    return 2;
  }
  sc.bind = o.bind;
  if (sc.port && stunrt_check(&sc, err, sizeof err)) {
    fprintf(stderr, "setowire-node: %s\n", err);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&n.loop);
  n.started_ms = now_ms();
  o.on_event = on_event;
  o.user = &n;
  /* The node is an HTTP bootstrap server, not a client of others: it contacts no HTTP
   * server (least of all the references' third-party defaults, D23). */
  o.http = 0;
  /* Nor a STUN client of the references' public servers: a node an operator runs sits
   * at a known public address. */
  o.no_stun = 1;
  /* The DHT socket on n.dht_port is the DHT module's (src/core/dht.*): a bootstrap node
   * answers every DHT request and keeps the topic records (capped, expiring). */
  o.dht = 1;
  o.dht_port = (uint16_t)n.dht_port;
  o.relay = n.relay;
  int rc = sw_swarm_new(&n.swarm, &o, &n.loop);
  if (rc) {
    fprintf(stderr, "setowire-node: %s%s\n", sw_strerror(rc),
            rc == SW_EINVAL ? " (check --seed, --bind)" : "");
    return rc == SW_EINVAL ? 2 : 1;
  }
  n.dht_port = sw_swarm_dht_port(n.swarm); /* the bound one, for --dht-port 0 */
  if (sc.port) {
    if (stunrt_start(&n.stun, &n.loop, &sc, err, sizeof err)) {
      fprintf(stderr, "setowire-node: %s\n", err);
      sw_swarm_free(n.swarm); /* runs the loop once: the STUN sockets close too */
      return 1;
    }
    n.stun_port = sc.port;
    char kv[160];
    snprintf(kv, sizeof kv, "port=%u alt_ip=%s alt_port=%u", sc.port,
             sc.alt_ip ? sc.alt_ip : "-", sc.alt_port);
    logf_(&n, "info", "stun serving", kv);
  } else {
    n.stun_closed = 1;
  }
  if (n.http_port) {
    hc.bind = o.bind;
    hc.port = (uint16_t)n.http_port;
    if (bootsrv_start(&n.http, &n.loop, &hc, on_announce, &n)) {
      fprintf(stderr, "setowire-node: cannot serve HTTP on port %u%s\n", n.http_port,
              o.bind ? " (check --bind)" : "");
      if (n.stun) stunrt_stop(n.stun, NULL, NULL);
      sw_swarm_free(n.swarm);
      return 1;
    }
    n.http_port = bootsrv_port(n.http);
  } else {
    n.http_closed = 1;
  }
  uv_signal_init(&n.loop, &n.sigint);
  uv_signal_init(&n.loop, &n.sigterm);
  uv_signal_init(&n.loop, &n.sigusr1);
  n.sigint.data = n.sigterm.data = n.sigusr1.data = &n;
  uv_signal_start(&n.sigint, on_signal, SIGINT);
  uv_signal_start(&n.sigterm, on_signal, SIGTERM);
  uv_signal_start(&n.sigusr1, on_signal, SIGUSR1);
  uv_run(&n.loop, UV_RUN_DEFAULT);
  sw_swarm_free(n.swarm);
  uv_loop_close(&n.loop);
  return 0;
}
