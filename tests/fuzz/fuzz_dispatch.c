/* libFuzzer target: datagram dispatch of the sans-I/O core (sw_core_datagram).
 *
 * Every input starts from the same state, rebuilt per input so runs are reproducible
 * and nothing leaks between them: our core (identity "js" of tests/vectors,
 * seed 1f1e..00) with two established sessions,
 *   peer 0 "P": seed 0001..1f (the Python side of capture.json, node A of frames.json),
 *               a reference peer (41-byte HELLO), at 198.51.100.1:40001;
 *   peer 1 "Q": seed 00..00 (node C), a libsetowire peer (HELLO_ACK with the trailer,
 *               sealed control), at 198.51.100.3:40003;
 * and two more identities the input may introduce with a HELLO,
 *   peer 2 "R": seed ff..ff (node D), reference, at 198.51.100.4:40004;
 *   peer 3 "S": seed aa, libsetowire, at [2001:db8::4]:40004.
 * The harness holds every peer's send key, so it can produce authenticated DATA and
 * SEALED frames; the captured py->js datagrams of capture.json are valid from P.
 * The core runs the store/fetch module, PEX, the peer cache and the gossip filter, so
 * their main-socket frames meet the engine's peer lifecycle (restarts, GOAWAY,
 * timeouts, close) and can arrive inside BATCHes from any peer.
 *
 * Input byte 0 selects a mode (low 2 bits):
 *   0  the rest is one datagram from P's address;
 *   1  the rest is one datagram from an unknown address (bits 2-3 pick which);
 *   2  byte 1 is a control byte, the rest a plaintext that the harness seals:
 *        bits 0-1 sender peer, bit 2 SEALED instead of DATA, bit 3 from an unknown
 *        address (NAT rebinding / restart path), bit 4: the next 8 bytes are the nonce
 *        counter (else the per-peer counter, incrementing), bit 5: the next 4 bytes are
 *        the session id put in the nonce (else the real one);
 *   3  a script of records, see run_op().
 * Byte 0 bit 7 sets legacy_frag (messages over 1200 bytes to reference peers as FRAG),
 * bit 6 makes the peer table hold 3 peers instead of 6, bit 5 makes the event callback
 * call back into the core (echo DATA to its sender, 0xBB...: broadcast it, 0xCC...:
 * close; greet on CONNECTION, broadcast on DISCONNECT, write on WRITABLE).
 * After the input the harness fires the timers (jitter expiry, heartbeat) and drains.
 *
 * Oracles besides the sanitizers: every datagram the core emits is well formed for
 * the queue (length, address); every DATA/SEALED frame it sends to a known session,
 * alone or inside a BATCH, authenticates with that peer's receive key; and no
 * (key, nonce) pair is ever used twice. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core.h"
#include "crypto.h"
#include "engine.h"
#include "setowire.h"
#include "sync.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPEERS 4
#define NUNKNOWN 4
#define T0 1000000u
#define MAX_PEERS 6 /* or 3 (byte 0 bit 6): then the table is full with P, Q, R */
#define OUT_BYTES (256u * 1024u) /* the smallest the core accepts: fills soonest */

static const char *const kMySeed =
    "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

typedef struct remote {
  const char *seed_hex;
  const char *addr_text;
  int extended;                 /* sends the libsetowire trailer */
  crypto_identity id;
  uint8_t hello[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  uint8_t hello_ack[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t hello_len;
  sw_addr addr;
  crypto_aead *tx; /* the remote's send key: our core's receive key for it */
  crypto_aead *rx; /* the remote's receive key: checks what our core sends it */
  uint32_t session_id;
  uint64_t ctr;    /* next nonce counter the harness uses for it */
  uint8_t challenge[WIRE_CHALLENGE_LEN]; /* the last restart challenge our core sent it */
} remote;

static remote g_peers[NPEERS] = {
    {.seed_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     .addr_text = "198.51.100.1:40001"},
    {.seed_hex = "0000000000000000000000000000000000000000000000000000000000000000",
     .addr_text = "198.51.100.3:40003", .extended = 1},
    {.seed_hex = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     .addr_text = "198.51.100.4:40004"},
    {.seed_hex = "aa", .addr_text = "[2001:db8::4]:40004", .extended = 1},
};

static const char *const kUnknown[NUNKNOWN] = {
    "198.51.100.9:40009", "198.51.100.1:40002", /* P's host, another port: rebinding */
    "[2001:db8::9]:9", "203.0.113.7:1"};
static sw_addr g_unknown[NUNKNOWN];

/* ---- per-input state --------------------------------------------------------- */

static uint64_t g_rng;
static uint64_t g_now;
static size_t g_drain_max; /* datagrams taken per drain: a slow socket fills the queue */
static int g_closed;
static sw_core *g_core; /* for calls made from inside the event callback */
static int g_reenter;   /* byte 0 bit 5: the application answers from its callback */
static volatile uint64_t g_sink;

/* Nonces the core used towards each peer in this input (open addressing). */
#define NONCE_SLOTS 1024
static uint64_t g_nonce_used[NPEERS][NONCE_SLOTS];
static uint8_t g_nonce_set[NPEERS][NONCE_SLOTS];
static size_t g_nonce_count[NPEERS];

static uint8_t g_frame[WIRE_UDP_MAX + 64];
static uint8_t g_plain[WIRE_UDP_MAX + 64];
static uint8_t g_bulk[4 + 65536];
static uint8_t g_big[1u << 20]; /* the pattern of large stored values */
static int g_refetch;           /* fetches started from fetch callbacks, bounded */

static void die(const char *what) {
  fprintf(stderr, "fuzz_dispatch: %s\n", what);
  abort();
}

static void fuzz_random(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; i++) { /* splitmix64, one byte per step is plenty */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    buf[i] = (uint8_t)(z ^ (z >> 31));
  }
}

static void on_event(void *ctx, const sw_event *ev) {
  (void)ctx;
  uint64_t h = (uint64_t)ev->type;
  if (ev->peer)
    for (int i = 0; i < SW_WIRE_ID_LEN; i++) h = h * 31 + ev->peer[i];
  if (ev->addr) h += strlen(ev->addr);
  /* Copy every delivered byte (memcpy is checked by ASan as one range, much faster
   * than an instrumented loop), so any overread of the buffer handed out shows. */
  static uint8_t copy[8192];
  for (size_t off = 0; off < ev->len; off += sizeof copy) {
    size_t n = ev->len - off < sizeof copy ? ev->len - off : sizeof copy;
    memcpy(copy, ev->data + off, n);
    h += copy[0] + copy[n - 1];
  }
  g_sink += h;
  if (!g_reenter || !g_core) return;
  /* An application that answers from inside its callback, as chat programs do: the
   * core must cope with being called while it is iterating its own tables. */
  uint8_t peer[SW_WIRE_ID_LEN];
  if (ev->peer) memcpy(peer, ev->peer, sizeof peer);
  switch (ev->type) {
    case SW_EV_CONNECTION: sw_core_write(g_core, peer, "hi", 2, g_now); break;
    case SW_EV_DATA:
      if (ev->len && ev->data[0] == 0xCC) {
        g_closed = 1;
        sw_core_close(g_core, g_now);
      } else if (ev->len && ev->data[0] == 0xBB) {
        sw_core_broadcast(g_core, ev->data, ev->len, g_now);
      } else {
        sw_core_write(g_core, peer, ev->data, ev->len, g_now); /* echo */
      }
      break;
    case SW_EV_DISCONNECT: sw_core_broadcast(g_core, "bye", 3, g_now); break;
    case SW_EV_WRITABLE: sw_core_write(g_core, g_peers[0].id.id, "again", 5, g_now); break;
    default: break;
  }
}

/* A fetch completes: read all of the value; an application may fetch again at once. */
static void on_fetched(void *user, int err, const char *key, const uint8_t *v, size_t len) {
  (void)user;
  static uint8_t copy[8192];
  for (size_t off = 0; !err && off < len; off += sizeof copy) {
    size_t n = len - off < sizeof copy ? len - off : sizeof copy;
    memcpy(copy, v + off, n);
  }
  g_sink += strlen(key) + len;
  if (g_reenter && g_core && g_refetch < 8) {
    g_refetch++;
    sw_core_fetch(g_core, key, 200, on_fetched, NULL, g_now);
  }
}

/* ---- checking what the core sends -------------------------------------------- */

static void nonce_record(int k, uint64_t ctr) {
  size_t i = (size_t)((ctr * 0x9e3779b97f4a7c15ull) >> 52) % NONCE_SLOTS;
  if (g_nonce_count[k] >= NONCE_SLOTS / 2) return; /* keep probing short */
  while (g_nonce_set[k][i]) {
    if (g_nonce_used[k][i] == ctr) die("nonce reused under one key");
    i = (i + 1) % NONCE_SLOTS;
  }
  g_nonce_set[k][i] = 1;
  g_nonce_used[k][i] = ctr;
  g_nonce_count[k]++;
}

static void check_frame(const uint8_t *f, size_t len, int depth) {
  if (!len) return;
  if ((f[0] == WIRE_DATA || f[0] == WIRE_SEALED) && len >= WIRE_DATA_HDR + CRYPTO_TAG_LEN) {
    uint32_t sid = wire_get32(f + 1);
    for (int k = 0; k < NPEERS; k++) {
      if (g_peers[k].session_id != sid) continue;
      if (crypto_aead_open(g_peers[k].rx, f + 1, f + WIRE_DATA_HDR, len - WIRE_DATA_HDR,
                           g_plain))
        die("the core sent a frame its peer cannot authenticate");
      nonce_record(k, wire_get64(f + 5));
      /* Remember a restart challenge, so the script can answer it (kind 15). */
      if (f[0] == WIRE_SEALED && len - WIRE_DATA_HDR - CRYPTO_TAG_LEN == 1 + WIRE_CHALLENGE_LEN &&
          g_plain[0] == SEALED_CHALLENGE)
        memcpy(g_peers[k].challenge, g_plain + 1, WIRE_CHALLENGE_LEN);
    }
  } else if (f[0] == WIRE_BATCH && depth == 0) {
    wire_batch_iter it;
    const uint8_t *sub;
    size_t sl;
    unsigned n = 0;
    if (wire_batch_begin(&it, f, len)) die("the core sent a malformed BATCH");
    while (wire_batch_next(&it, &sub, &sl)) {
      check_frame(sub, sl, 1);
      n++;
    }
    if (n != f[1] || it.off != len) die("the core sent a BATCH whose count or length lies");
  }
}

static void drain(sw_core *c) {
  sw_dgram d[32];
  size_t n, budget = g_drain_max;
  while (budget && (n = sw_core_out_peek(c, d, budget < 32 ? budget : 32)) > 0) {
    for (size_t i = 0; i < n; i++) {
      if ((d[i].kind != SW_SOCK_MAIN &&
           (d[i].kind != SW_SOCK_PROBE || !d[i].probe || d[i].probe > SW_CORE_PROBE_MAX)) ||
          !d[i].to || !d[i].data)
        die("bad output record");
      if (!d[i].len || d[i].len > WIRE_UDP_MAX) die("bad output length");
      if ((d[i].to->family != 4 && d[i].to->family != 6) || !d[i].to->port)
        die("output to an unset address");
      check_frame(d[i].data, d[i].len, 0);
    }
    sw_core_out_consume(c, n, g_now);
    budget -= n;
  }
}

/* ---- building input ---------------------------------------------------------- */

static void feed(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len) {
  sw_core_datagram(c, SW_SOCK_MAIN, from, buf, len, g_now);
  sw_core_flush(c, g_now);
  drain(c);
}

/* Seal pt as a DATA or SEALED frame from peer k into g_frame; returns its length. */
static size_t seal(remote *r, uint8_t type, uint32_t sid, uint64_t ctr, const uint8_t *pt,
                   size_t len) {
  if (len > WIRE_UDP_MAX - WIRE_DATA_HDR - CRYPTO_TAG_LEN)
    len = WIRE_UDP_MAX - WIRE_DATA_HDR - CRYPTO_TAG_LEN;
  g_frame[0] = type;
  wire_put32(g_frame + 1, sid);
  wire_put64(g_frame + 5, ctr);
  if (crypto_aead_seal(r->tx, g_frame + 1, NULL, 0, pt, len, g_frame + WIRE_DATA_HDR))
    die("harness seal failed");
  return WIRE_DATA_HDR + len + CRYPTO_TAG_LEN;
}

static void feed_sealed(sw_core *c, int k, const sw_addr *from, uint8_t type,
                        const uint8_t *pt, size_t len) {
  remote *r = &g_peers[k];
  size_t n = seal(r, type, r->session_id, r->ctr++, pt, len);
  feed(c, from, g_frame, n);
}

static void advance(sw_core *c, uint64_t ms) {
  g_now += ms;
  sw_core_timeout(c, g_now);
  sw_core_flush(c, g_now);
  drain(c);
}

static void hello(sw_core *c, int k, int ack, const sw_addr *from) {
  remote *r = &g_peers[k];
  feed(c, from ? from : &r->addr, ack ? r->hello_ack : r->hello, r->hello_len);
}

/* Script ops (mode 3): records of kind(1) arg(1) len(2, big-endian) body(len).
 * arg: bits 0-1 peer k, bits 2-3 unknown address u, bits 4-7 flags f.
 *  0 raw datagram from k's address        1 raw datagram from unknown address u
 *  2 DATA from k, body = plaintext with its sequence prefix (f&1: from address u)
 *  3 SEALED from k, body = inner plaintext (f&1: from address u)
 *  4 HELLO from k (f&1: HELLO_ACK; f&2: from address u)
 *  5 time passes: body u16 ms (f&1: seconds), then the timers fire
 *  6 jump to the core's own deadline      7 set k's nonce counter to body u64
 *  8 sw_core_write(k, body) (f&1: flush)  9 sw_core_broadcast(body)
 * 10 dial u (f&1: k's address; f&2: with k's full id)
 * 11 close    12 flush    13 datagrams taken per drain: body[0], none = unlimited
 * 14 bulk: body[0..1] message length, body[2] how many; writes to k (f&1: broadcasts;
 *    f&2: k sends them as DATA, sequence numbers body[3] + i, f&4: in reverse order)
 * 15 k answers the last restart challenge it got with a sealed RESPONSE (f&1: from
 *    address u; f&2: a wrong nonce)
 * 16 sw_core_store: body[0] key length, the key, then the value (f&1: the value is the
 *    first u16 x 16 bytes of a fixed pattern, up to 1 MiB)
 * 17 sw_core_fetch: body[0] timeout in 100 ms units (+1), then the key
 * any other kind: as 0. The output queue is drained after each op. */
static void run_op(sw_core *c, uint8_t kind, uint8_t arg, const uint8_t *b, size_t n) {
  int k = arg & 3, u = (arg >> 2) & 3, f = arg >> 4;
  remote *r = &g_peers[k];
  switch (kind) {
    case 1: feed(c, &g_unknown[u], b, n); break;
    case 2: feed_sealed(c, k, (f & 1) ? &g_unknown[u] : &r->addr, WIRE_DATA, b, n); break;
    case 3: feed_sealed(c, k, (f & 1) ? &g_unknown[u] : &r->addr, WIRE_SEALED, b, n); break;
    case 4: hello(c, k, f & 1, (f & 2) ? &g_unknown[u] : NULL); break;
    case 5: {
      uint64_t ms = n >= 2 ? wire_get16(b) : n ? b[0] : 1;
      advance(c, (f & 1) ? ms * 1000 : ms);
      break;
    }
    case 6: {
      uint64_t t = sw_core_deadline(c);
      if (t != UINT64_MAX && t > g_now && t - g_now < 120000) advance(c, t - g_now);
      break;
    }
    case 7: r->ctr = n >= 8 ? wire_get64(b) : n ? b[0] : 0; break; /* rewind, jump */
    case 8:
      sw_core_write(c, r->id.id, b, n, g_now);
      if (f & 1) sw_core_flush(c, g_now);
      drain(c);
      break;
    case 9:
      sw_core_broadcast(c, b, n, g_now);
      drain(c);
      break;
    case 10:
      sw_core_dial(c, (f & 1) ? &r->addr : &g_unknown[u], (f & 2) ? r->id.id : NULL, g_now);
      drain(c);
      break;
    case 11:
      g_closed = 1;
      sw_core_close(c, g_now);
      drain(c);
      break;
    case 12: sw_core_flush(c, g_now); drain(c); break;
    case 13: g_drain_max = n ? b[0] : SIZE_MAX; drain(c); break; /* socket speed */
    case 14: {
      size_t len = n >= 2 ? wire_get16(b) : 0, times = n >= 3 ? b[2] : 1;
      /* g_bulk = u32 sequence, then the message: a fixed pattern whose first 4 bytes
       * are the message's index, so every message is new to the dedup set. At most
       * 1 MiB per op, so one input stays fast. */
      if (len < 4) len = 4;
      if (times * len > (1u << 20)) times = (1u << 20) / len;
      for (size_t i = 0; i < times; i++) {
        wire_put32(g_bulk + 4, (uint32_t)i);
        if (f & 2) {
          size_t seq = (n >= 4 ? b[3] : 0) + ((f & 4) ? times - 1 - i : i);
          wire_put32(g_bulk, (uint32_t)seq);
          feed_sealed(c, k, &r->addr, WIRE_DATA, g_bulk, 4 + len);
        } else if (f & 1) {
          sw_core_broadcast(c, g_bulk + 4, len, g_now);
        } else {
          sw_core_write(c, r->id.id, g_bulk + 4, len, g_now);
        }
      }
      drain(c);
      break;
    }
    case 15: {
      uint8_t in[1 + WIRE_CHALLENGE_LEN];
      in[0] = SEALED_RESPONSE;
      memcpy(in + 1, r->challenge, WIRE_CHALLENGE_LEN);
      if (f & 2) in[1] ^= 1;
      feed_sealed(c, k, (f & 1) ? &g_unknown[u] : &r->addr, WIRE_SEALED, in, sizeof in);
      break;
    }
    case 16:
    case 17: {
      char key[SYNC_KEY_MAX + 2];
      size_t kl = 0;
      if (kind == 16) {
        kl = n ? b[0] : 0;
        if (kl > n - (n > 0)) kl = n - (n > 0);
        memcpy(key, b + 1, kl);
      } else {
        kl = n > 1 ? n - 1 : 0;
        if (kl > SYNC_KEY_MAX + 1) kl = SYNC_KEY_MAX + 1; /* one too long: refused */
        memcpy(key, b + 1, kl);
      }
      key[kl] = 0;
      if (kind == 17) {
        sw_core_fetch(c, key, 100u * ((n ? b[0] : 0) + 1u), on_fetched, NULL, g_now);
      } else {
        const uint8_t *v = b + 1 + kl;
        size_t vl = n - (n > 0) - kl;
        if (f & 1) {
          vl = vl >= 2 ? (size_t)wire_get16(v) * 16 : 1;
          v = g_big;
        }
        sw_core_store(c, key, v, vl, g_now);
      }
      sw_core_flush(c, g_now);
      drain(c);
      break;
    }
    default: feed(c, &r->addr, b, n); break; /* 0 */
  }
}

/* ---- libFuzzer entry points -------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  crypto_identity me;
  uint8_t seed[64];
  int n = crypto_hex_decode(kMySeed, seed, sizeof seed);
  if (n < 0 || crypto_identity_from_seed(&me, seed, (size_t)n)) die("own identity");
  for (int k = 0; k < NPEERS; k++) {
    remote *r = &g_peers[k];
    crypto_session_keys keys;
    n = crypto_hex_decode(r->seed_hex, seed, sizeof seed);
    if (n < 0 || crypto_identity_from_seed(&r->id, seed, (size_t)n)) die("peer identity");
    if (addr_parse_hostport(&r->addr, r->addr_text)) die("peer address");
    int caps = r->extended ? WIRE_CAP_SEALED : -1;
    r->hello_len = wire_hello_encode(r->hello, WIRE_HELLO, r->id.id, r->id.pub, caps);
    wire_hello_encode(r->hello_ack, WIRE_HELLO_ACK, r->id.id, r->id.pub, caps);
    if (crypto_derive_session(&r->id, me.pub, &keys)) die("session");
    r->tx = crypto_aead_new(keys.send_key, 1);
    r->rx = crypto_aead_new(keys.recv_key, 0);
    if (!r->tx || !r->rx) die("aead");
    r->session_id = keys.session_id;
  }
  for (int u = 0; u < NUNKNOWN; u++)
    if (addr_parse_hostport(&g_unknown[u], kUnknown[u])) die("unknown address");
  for (size_t j = 0; j < sizeof g_bulk; j++) g_bulk[j] = (uint8_t)(j * 7 + (j >> 8));
  for (size_t j = 0; j < sizeof g_big; j++) g_big[j] = (uint8_t)(j * 13 + (j >> 10));
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sw_core *c;
  sw_core_config cfg = {.seed_hex = kMySeed,
                        .max_peers = (data[0] & 0x40) ? 3 : MAX_PEERS,
                        .out_buffer_bytes = OUT_BYTES,
                        .dedup_slots_log2 = 6, /* tiny: generations rotate */
                        .gossip_meet = 1, /* gossip objects in DATA are parsed and met */
                        .sync = 1,        /* HAVE/WANT/CHUNK/CHUNK_ACK and store/fetch */
                        .store_cache_max = 8, /* small: eviction by count and by bytes */
                        .store_cache_bytes = 2u << 20,
                        .pex = 1,
                        .peer_cache = 1,
                        .intro = 1,       /* RELAY_REQ / RELAY_FWD from the peers */
                        .relayed = 1,     /* CIRCUIT, both directions, and relayed paths */
                        .relay_serve = 1,
                        .probe_sockets = 1, /* the birthday module, probe paths */
                        .random = fuzz_random,
                        .on_event = on_event};
  if (!size) return 0;
  g_rng = 0x5e70;
  g_now = T0;
  g_drain_max = SIZE_MAX;
  g_closed = 0;
  g_refetch = 0;
  g_core = NULL;
  g_reenter = (data[0] >> 5) & 1;
  memset(g_nonce_set, 0, sizeof g_nonce_set);
  memset(g_nonce_count, 0, sizeof g_nonce_count);
  for (int k = 0; k < NPEERS; k++) {
    g_peers[k].ctr = 1000 * (uint64_t)k;
    memset(g_peers[k].challenge, 0, WIRE_CHALLENGE_LEN);
  }
  cfg.legacy_frag = data[0] >> 7; /* sending to reference peers: FRAG or big DATA */
  if (sw_core_new(&c, &cfg, g_now)) die("sw_core_new");
  g_core = c;

  /* Establish P (it dials us) and Q (we are answered). */
  hello(c, 0, 0, NULL);
  hello(c, 1, 1, NULL);
  if (sw_core_peer_count(c) != 2) die("setup handshake failed");

  uint8_t mode = data[0] & 3;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  switch (mode) {
    case 0: feed(c, &g_peers[0].addr, p, n); break;
    case 1:
      if (data[0] & 0x10) { /* on a probe socket (birthday punch): the same dispatch */
        sw_core_probe_datagram(c, 1 + ((data[0] >> 2) & 3) * 85, &g_unknown[(data[0] >> 2) & 3],
                               p, n, g_now);
        sw_core_flush(c, g_now);
        drain(c);
      } else {
        feed(c, &g_unknown[(data[0] >> 2) & 3], p, n);
      }
      break;
    case 2: {
      if (!n) break;
      uint8_t ctl = p[0];
      int k = ctl & 3;
      remote *r = &g_peers[k];
      uint64_t ctr = r->ctr++;
      uint32_t sid = r->session_id;
      p++, n--;
      if ((ctl & 0x10) && n >= 8) ctr = wire_get64(p), p += 8, n -= 8;
      if ((ctl & 0x20) && n >= 4) sid = wire_get32(p), p += 4, n -= 4;
      size_t fl = seal(r, (ctl & 4) ? WIRE_SEALED : WIRE_DATA, sid, ctr, p, n);
      feed(c, (ctl & 8) ? &g_unknown[(ctl >> 6) & 3] : &r->addr, g_frame, fl);
      break;
    }
    case 3:
      while (n >= 4) {
        uint8_t kind = p[0], arg = p[1];
        size_t len = wire_get16(p + 2);
        p += 4, n -= 4;
        if (len > n) len = n;
        run_op(c, kind, arg, p, len);
        p += len, n -= len;
      }
      break;
  }
  /* Let the timers run: jitter buffer expiry (50 ms), then a heartbeat. */
  g_drain_max = SIZE_MAX;
  advance(c, 60);
  advance(c, 1000);
  /* The introspection calls read every table; their answers must be consistent. */
  sw_core_peer_info info[MAX_PEERS];
  sw_core_stats st;
  size_t np = sw_core_peers(c, info, MAX_PEERS);
  if (np != sw_core_peer_count(c) || np > MAX_PEERS) die("peer count");
  for (size_t i = 0; i < np; i++)
    if ((info[i].addr.family != 4 && info[i].addr.family != 6) || !info[i].addr.port)
      die("a peer's best address is unset");
  sw_core_get_stats(c, &st);
  /* The output ring must be empty; datagrams the main socket's guard holds for an
   * address that has not proven itself (docs/THREATS.md "Main socket") wait, bounded,
   * for its proof or their 10 s, so they are not output left behind. */
  if (c->out.count) die("output left after a full drain");
  /* With the queue empty, a small message to a connected peer must be accepted: a
   * leak in the queue's accounting would refuse every write from then on. */
  for (size_t i = 0; i < np && !g_closed; i++) {
    int rc = sw_core_write(c, info[i].wire_id, "ok", 2, g_now);
    /* ... unless the guard's share for an address that has not proven itself is spent */
    if (rc == SW_EAGAIN && !guard_validated(c, &info[i].addr)) continue;
    if (rc != SW_OK && rc != SW_ENOTCONN) die("an idle core refuses a small write");
  }
  sw_core_flush(c, g_now);
  drain(c);
  g_sink += st.delivered + sw_core_memory(c);
  g_core = NULL;
  sw_core_free(c);
  return 0;
}
