/* The engine's state, shared by the files of the engine and by no module.
 *
 * The engine is split by concern, one file pair each (docs/ARCHITECTURE.md):
 *   core.c        entry points, the frame registry and dispatch, timers, module services
 *   session.c     HELLO/HELLO_ACK, keys, authenticating frames, the restart challenge
 *   replay.c      the replay window of one remote session
 *   delivery.c    DATA in order, dedup, the gossip filter, flooding, the mesh
 *   send.c        batching, DATA and FRAG building, queue room, the output ring, the
 *                 send API (write, broadcast, sw_core_send's flags)
 *   peerstats.c   sw_core_peer_stats
 *   paths.c       a peer's paths (direct or relayed), their RTT and proof
 *   reassembly.c  plaintext FRAG from reference peers
 *   liveness.c    PING/PONG, plain GOAWAY, the heartbeat and the peer timeout
 *   dial.c        the dial and punch schedule, the meet gate
 *   peers.c       the peer table
 *   httpreq.c     HTTP requests handed to the runtime for modules
 *   xsession.c    the extended session between libsetowire peers (docs/TRANSPORT.md)
 *   origin.c      signed origins: signing keys, peers' bindings, sign and check (origin.h)
 * A function's prefix is its file; each may touch the state below that its concern owns.
 * Modules see none of this: they go through core_internal.h. */
#ifndef SW_CORE_ENGINE_H
#define SW_CORE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "cc.h"
#include "core.h"
#include "core_internal.h"
#include "crypto.h"
#include "dedup.h"
#include "guard.h"
#include "handshake.h"
#include "jitter.h"
#include "outq.h"
#include "replay.h"
#include "wire.h"
#include "xport.h"

/* Timers and bounds: PROTOCOL.md 19 unless said otherwise; "ours" are this project's. */
#define DEFAULT_MAX_PEERS 100
#define MAX_PATHS 4               /* MAX_ADDRS_PEER: paths kept per peer */
#define PEER_TIMEOUT_MS 60000     /* PEER_TIMEOUT */
#define HEARTBEAT_MS 1000         /* HEARTBEAT_MS */
#define LOSS_MS 5000              /* loss threshold */
#define PUNCH_TRIES 8             /* PUNCH_TRIES */
#define PUNCH_INTERVAL_MS 300     /* PUNCH_INTERVAL */
#define DIAL_EXPIRY_MS 5400       /* PUNCH_TRIES x PUNCH_INTERVAL + 3000 */
#define DIAL_MAX 256              /* ours: bound of the dialing table */
#define MESH_D 6                  /* D_DEFAULT */
#define MESH_LOW 4                /* D_LOW */
#define MESH_HIGH 16              /* D_HIGH */
/* ours: the mesh with the peers that chose us (GRAFT, PROTOCOL.md 21.2) may grow to this;
 * trimmed back to it, lowest score first */
#define MESH_GRAFTED_MAX (2 * MESH_HIGH)
#define SCORE_MAX 1000            /* 13.1 clamp */
#define FRAG_TIMEOUT_MS 10000     /* FRAG_TIMEOUT */
#define FRAG_SETS 4               /* ours: concurrent fragment sets per reference peer */
#define FRAG_MAX_MESSAGE (1u << 20) /* ours: largest reassembled FRAG message */
#define FRAG_BUDGET (4u << 20)    /* ours: reassembly bytes across all peers (D17) */
#define FRAG_PEER_BUDGET (FRAG_MAX_MESSAGE + (1u << 10)) /* ours: one peer's share: one
                                   * largest message and a byte per piece, a quarter of all */
#define RESTART_WINDOW_MS 10000   /* ours: a HELLO this recent makes a rewind a restart */
#define LEGACY_RESTART_CTR 256    /* ours: a reference's new session starts at counter 0 (D4);
                                   * a rewind to this or above is a replay, never a restart */
#define GOAWAY_CHECK_MS 2000      /* ours: a plain GOAWAY's PING must be answered this fast */
#define RESTART_JUMP (1ull << 40) /* ours: further ahead than one session ever counts */
#define CHALLENGE_MS 5000         /* ours: how long a restart challenge waits for its answer */
#define CHALLENGE_RESEND_MS 250   /* ours: the same challenge again at most this often */
#define HELD_FRAMES 16            /* ours: frames held per peer while it is challenged */
#define HELD_BYTES (64u * 1024u)
#define BATCH_MAX_FRAMES 255      /* the count byte (D27) */
#define DEFAULT_OUT_BYTES (1u << 20)
#define MIN_OUT_BYTES (256u * 1024u) /* room for the largest message to one peer */
#define DEFAULT_DEDUP_LOG2 17 /* 2 x 1 MiB; the references use 2 x 8 MiB of bloom */
#define CTRL_RESERVE (16u * 1024u) /* outq room kept for HELLO/PING/PONG/GOAWAY */
#define OPEN_BATCH_COST 1536       /* outq room one open batch may need when closed */
/* The capability bits our HELLO trailer carries (PROTOCOL.md 21.1, TRANSPORT.md 2). */
#define OWN_CAPS(c) \
  (WIRE_CAP_SEALED |                                                                    \
   ((c)->cfg.xsession ? WIRE_CAP_XSESSION | WIRE_CAP_ORIGIN | WIRE_CAP_SIGNED : 0))
#define HTTP_MAX 32              /* ours: outstanding HTTP requests */
#define MEET_RATE_PER_S 20       /* ours: dials per second from discovery (D19) */
#define MEET_BURST 40
/* Discovery dials per target IP and per /24 (/48), dial.h; loopback exempt. */
#define DIAL_PER_IP 8            /* ours: in flight to one IP at once */
#define DIAL_PER_PREFIX 64       /* ours: in flight to one /24 or /48 at once */
#define DIAL_IP_PER_MIN 16       /* ours: started to one IP per minute, unanswered */
#define DIAL_PREFIX_PER_MIN 64   /* ours: the same per /24 or /48 */
/* The discovery dials of the last minute, every one: the meet tokens allow no more. */
#define DIAL_HIST (MEET_BURST + MEET_RATE_PER_S * 60)
#define BATCH_DEPTH_MAX 2        /* a BATCH inside a BATCH, no deeper (D18) */

/* One way to reach a peer (docs/ARCHITECTURE.md "Paths"). */
typedef struct peer_path {
  core_path p;
  double rtt;
  int verified;  /* an authenticated frame came along it (D7, D8) */
  int validated; /* relayed, or its address answered a challenge (guard.h): only a
                  * verified and validated path carries the peer's traffic */
} peer_path;

typedef struct frag_set {
  int used;
  uint8_t id[8];
  uint16_t count, got;
  uint32_t last_len;
  uint64_t expires;
  uint8_t *data;   /* count x 1188 bytes */
  uint8_t *have;   /* one byte per index */
} frag_set;

/* An authenticated frame held while its sender is challenged (PROTOCOL.md 21.3). */
typedef struct held_frame {
  size_t len;
  uint8_t data[];
} held_frame;

/* A libsetowire peer that looks restarted must prove it is live on the path (21.3). */
typedef struct restart_challenge {
  int armed;
  int by_frame; /* an authenticated frame asked for it, not only a HELLO */
  uint8_t nonce[WIRE_CHALLENGE_LEN];
  core_path to;
  uint64_t deadline, sent_at;
  held_frame *held[HELD_FRAMES]; /* from `to`, in arrival order */
  unsigned nheld;
  size_t held_bytes;
} restart_challenge;

typedef struct core_peer {
  int used;
  uint8_t wire_id[8];
  uint8_t pub[32];
  uint8_t full_id[20]; /* SHA-256(pub)[0..19] (PROTOCOL.md 2.2), kept: messages compare it */
  int legacy;     /* 41-byte HELLO: a reference peer (PROTOCOL.md 18.1) */
  uint8_t caps;   /* capability bits from its trailer */
  crypto_aead *tx, *rx;
  uint32_t session_id;
  uint64_t send_ctr;
  uint32_t send_seq;
  replay_window replay;
  jitter_buf jit;
  peer_path paths[MAX_PATHS];
  int npaths, best;
  uint64_t seen, last_pong, last_ping_sent, last_hello;
  uint64_t created; /* the session was made (admit.h: how long it stayed unproven) */
  int ping_outstanding;
  uint64_t goaway_check; /* a plain GOAWAY's liveness check ends then; 0: none (10) */
  cc_state cc;    /* congestion control and the RTT estimate (cc.h) */
  int loss, in_mesh;
  int32_t score;
  /* Open batch (PROTOCOL.md 8.2): 0x13, count, then u16 length + frame entries. */
  uint8_t obuf[2 + WIRE_BATCH_MTU];
  size_t olen;
  unsigned ocount;
  frag_set frags[FRAG_SETS];
  restart_challenge chal;
  struct core_xs *xs; /* the extended session (xsession.h); NULL: plain only */
  /* sw_core_peer_stats: messages (and their payload bytes) sent to it, ours and floods,
   * and received from it, duplicates included; since the session began */
  uint64_t msgs_sent, bytes_sent, msgs_received, bytes_received;
  /* sw_core_send: when a unicast first waited for its extended session (0: never), and
   * whether one was told SW_EAGAIN and waits for SW_EV_WRITABLE */
  uint64_t unicast_wait_since;
  int unicast_waiting;
} core_peer;

typedef struct dial_entry {
  int used;
  int has_id;
  sw_addr to;
  uint8_t id[20];
  int sent;
  uint64_t next_at, expire_at;
  uint32_t attempt; /* retries started so far (sw_core_config.dial_retries) */
  int icmp;         /* an sw_reason the runtime learnt for this attempt (ICMP), or 0 */
  int has_topic;    /* a topic's discovery asked for it (sw_event.topic) */
  uint8_t topic[32];
} dial_entry;

typedef struct http_slot {
  int state; /* 0 free, 1 queued, 2 taken by the runtime */
  uint32_t id;
  char method[8];
  char *url, *ctype;
  uint8_t *body;
  size_t len;
  uint32_t timeout_ms;
  core_http_cb cb;
  void *ctx;
} http_slot;

/* One entry of the frame registry: the handler of a main-socket type byte. */
typedef struct frame_entry {
  void (*fn)(void *state, const core_path *from, const uint8_t *buf, size_t len, uint64_t now);
  void *state;
  int owner; /* -1: the engine; else the index of the module in sw_core.modules */
} frame_entry;

/* How datagrams on a relayed path leave: set by the relay module (core_set_relay). */
typedef struct relay_hook {
  core_relay_send_fn send;
  void *state;
} relay_hook;

/* Who asked for the probe sockets (core_set_probe_owner). */
typedef struct probe_hook {
  core_probe_want_fn want;
  void *state;
} probe_hook;

struct sw_core {
  sw_core_config cfg;
  crypto_identity me;
  core_peer *peers;
  size_t max_peers, npeers;
  size_t peers_hi; /* every used peer slot is below this index: scans stop there */
  core_peer *last_hit; /* one-entry cache of the path lookup: the hot path */
  dial_entry dials[DIAL_MAX];
  int dial_hi; /* every used dial entry is below this index: scans stop there */
  outq out;
  dedup_set seen; /* delivered and own message ids (6.2) */
  unsigned open_batches;
  size_t frag_bytes; /* held by fragment sets, bounded by FRAG_BUDGET */
  uint64_t next_heartbeat;
  uint8_t topics[SW_MAX_TOPICS][32]; /* joined, oldest first */
  int ntopics, closing, want_writable;
  int want_unicast; /* a unicast was told SW_EAGAIN while an extended session was made */
  /* random message ids of our origin headers, drawn 32 at a time (one RNG call per 32
   * messages instead of one each: that call was a tenth of a small message's cost) */
  uint8_t msgid_pool[256];
  unsigned msgid_left;
  unsigned batch_depth;
  sw_core_stats stats;
  core_module *modules; /* registered, in attach order */
  int nmodules;
  int nclaims;             /* modules with a claim hook, asked before the registry: */
  int claimers[CORE_MAX_MODULES]; /* their indices, so a datagram visits only them */
  frame_entry frames[256]; /* the frame registry, keyed by the type byte */
  int socket_owner[3];     /* module index per socket kind, -1 none (main: never) */
  relay_hook relay;
  probe_hook probe;
  pubaddr pub;             /* our LAN and public addresses (pubaddr.h) */
  const cc_ops *cc;        /* the congestion controller every new peer gets */
  http_slot http[HTTP_MAX];
  uint32_t http_next_id;
  uint64_t last_now; /* the latest time given to any entry point */
  double meet_tokens;
  uint64_t meet_refill_at;
  struct {
    uint64_t at; /* 0: unused */
    sw_addr to;
  } meet_hist[DIAL_HIST]; /* the discovery dials of the last minute (dial.c), a ring */
  unsigned meet_hist_next;
  uint8_t scratch[WIRE_UDP_MAX]; /* plaintext of the frame being received */
  hs_cookie_key xs_cookie;       /* the extended handshake's cookie secret */
  uint64_t xs_load_at;           /* its load signal: HS_INITs answered since then */
  unsigned xs_load_n;
  guard_table guard;             /* main-socket address validation (guard.h) */
  struct origin_keys *okeys;     /* signing keys and peers' bindings (origin.h); NULL
                                  * until first needed */
  xport_budget xs_grown;         /* what extended sessions' buffers grew by (xport.h) */
};

/* The lifecycle settings with their defaults filled in (sw_core_new calls it). */
#define DEFAULT_DIAL_RETRY_MS 1000
static inline void engine_lifecycle_defaults(sw_core_config *cfg) {
  if (!cfg->dial_timeout_ms) cfg->dial_timeout_ms = DIAL_EXPIRY_MS;
  if (!cfg->dial_retry_ms) cfg->dial_retry_ms = DEFAULT_DIAL_RETRY_MS;
  if (!cfg->peer_timeout_ms) cfg->peer_timeout_ms = PEER_TIMEOUT_MS;
  if (!cfg->keepalive_ms) cfg->keepalive_ms = HEARTBEAT_MS;
}

static inline void engine_rand(sw_core *c, void *buf, size_t n) {
  c->cfg.random(c->cfg.ctx, buf, n);
}

static inline void engine_emit(sw_core *c, const sw_event *event) {
  if (c->cfg.on_event) c->cfg.on_event(c->cfg.ctx, event);
}

#define FOR_MODULES(c, m) \
  for (core_module *m = (c)->modules; m < (c)->modules + (c)->nmodules; m++)

#endif
