/*
 * libsetowire: encrypted peer-to-peer messaging over UDP, wire compatible with the
 * Setowire references (py-setowire 0.1.0, js-setowire 0.1.1).
 *
 * One thread: every function must be called from the thread running the swarm's
 * loop, and every callback fires on that thread. Handles are opaque.
 * Errors are negative SW_E* codes; sw_strerror() names them.
 * See docs/API.md for ownership rules and a worked example.
 */
#ifndef SETOWIRE_H
#define SETOWIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SW_VERSION_STRING "0.1.0"

/* Error codes. */
enum {
  SW_OK = 0,
  SW_EINVAL = -1,    /* bad argument (malformed seed, address, option) */
  SW_ENOMEM = -2,    /* allocation failed */
  SW_EAGAIN = -3,    /* a bounded queue is full: retry after SW_EV_WRITABLE */
  SW_EMSGSIZE = -4,  /* message larger than one UDP datagram can carry, or a
                        broadcast larger than send_buffer_bytes could ever hold */
  SW_ENOTCONN = -5,  /* no such peer, or no session with it */
  SW_ECLOSED = -6,   /* the swarm is closing or closed */
  SW_EIO = -7,       /* a socket or system call failed */
  SW_ECRYPTO = -8,   /* the crypto library failed */
  SW_EFULL = -9,     /* a table reached its bound (peers, dials) */
  SW_ETIMEDOUT = -10, /* sw_swarm_fetch: no peer delivered the value in time */
  SW_ENOTSUP = -11,  /* the peer cannot do what was asked: SW_SEND_UNICAST to a peer
                        without the extended session (a reference peer floods) */
  SW_ENOTFOUND = -12, /* sw_swarm_fetch_ex: every peer asked said it holds no such value */
  SW_ECANCELED = -13  /* sw_swarm_fetch_cancel ended the fetch */
};

const char *sw_strerror(int err);

#define SW_ID_LEN 20      /* full id: SHA-256(public key)[0..19] */
#define SW_WIRE_ID_LEN 8  /* wire id: the first 8 bytes of the full id */
#define SW_TOPIC_LEN 32
#define SW_ADDRSTRLEN 56  /* "[ipv6]:port" with a NUL */

/* Largest application message one encrypted DATA datagram carries over IPv4:
 * 65507 (UDP payload limit) - 33 (type, nonce, sequence, tag). */
#define SW_MAX_MESSAGE 65474

/* Largest SW_SEND_DATAGRAM message to a peer over the extended session: one packet's
 * room (docs/TRANSPORT-delivery.md, DATAGRAM). To other peers SW_MAX_MESSAGE holds. */
#define SW_MAX_DATAGRAM 1369

typedef struct sw_swarm sw_swarm;

/* ---- events ------------------------------------------------------------ */

typedef enum sw_event_type {
  SW_EV_LISTENING = 1, /* the main socket is bound: port */
  SW_EV_CONNECTION,    /* a session is established: peer, addr */
  SW_EV_DATA,          /* a message arrived: peer (last hop), data, len */
  SW_EV_DISCONNECT,    /* a peer left or timed out: peer */
  SW_EV_WRITABLE,      /* queues that reported SW_EAGAIN have room again */
  SW_EV_CLOSE,         /* the swarm finished closing; no event follows */
  SW_EV_SYNC,          /* a fetched value arrived from a peer: key, data, len, peer */
  SW_EV_PEERS,         /* the peer cache, newest first: peers, npeers (every 30 s, at close) */
  SW_EV_NAT,           /* our public address or NAT type was learnt or changed: addr, nat_type */
  SW_EV_PATH,          /* a peer's traffic moved to another path: peer, addr, via (NULL:
                          direct, e.g. a relayed connection upgraded, PROTOCOL.md 15.8) */
  SW_EV_DIAL_FAILED    /* a dial was abandoned without a session: addr, reason, topic */
} sw_event_type;

/* Why a peer left (SW_EV_DISCONNECT) or a dial was abandoned (SW_EV_DIAL_FAILED):
 * sw_event.reason. sw_reason_str() names them. */
typedef enum sw_reason {
  SW_REASON_NONE = 0,     /* other events */
  SW_REASON_GOODBYE,      /* DISCONNECT: the peer said GOAWAY */
  SW_REASON_TIMEOUT,      /* DISCONNECT: nothing heard for peer_timeout_ms; DIAL_FAILED:
                             no answer after every attempt */
  SW_REASON_REPLACED,     /* DISCONNECT: a new session of the same peer replaced it
                             (reserved: today a restarted peer keeps its entry) */
  SW_REASON_REFUSED,      /* DIAL_FAILED: the host answered that nothing listens on the
                             port (ICMP port unreachable, where the runtime learns it) */
  SW_REASON_ERROR,        /* DISCONNECT: a local failure ended the session */
  SW_REASON_CLOSED,       /* DISCONNECT: our swarm closed (one per peer, before
                             SW_EV_CLOSE) */
  SW_REASON_UNREACHABLE,  /* DIAL_FAILED: ICMP host or network unreachable */
  SW_REASON_TABLE_FULL,   /* DIAL_FAILED: our peer table (max_peers) or the dial table
                             is full */
  SW_REASON_EVICTED       /* DISCONNECT: a peer that had not yet proven its address gave
                             its slot to a newcomer (admission, docs/THREATS.md) */
} sw_reason;

const char *sw_reason_str(int reason);

/* One peer cache entry (PROTOCOL.md 14.8). */
typedef struct sw_peer_entry {
  char id[2 * 20 + 1]; /* hex: 16 chars (wire id), 40 (full id) or empty */
  char ip[46];         /* numeric IP text */
  uint16_t port;
  uint64_t last_seen;  /* Unix time in ms */
} sw_peer_entry;

typedef struct sw_event {
  sw_event_type type;
  const uint8_t *peer;   /* SW_WIRE_ID_LEN bytes, valid during the callback */
  const char *addr;      /* CONNECTION: "ip:port" or "[ip6]:port" */
  const uint8_t *data;   /* DATA: message bytes, valid during the callback */
  size_t len;
  uint16_t port;         /* LISTENING: bound main port */
  const char *key;       /* SYNC: the key (NUL-terminated), valid during the callback */
  const sw_peer_entry *peers; /* PEERS: the list, valid during the callback */
  size_t npeers;
  const uint8_t *via;   /* CONNECTION, PATH: the relay's wire id when the session runs
                           through one (PROTOCOL.md 15.7), NULL when direct */
  const char *nat_type; /* NAT: "open", "full_cone", "restricted_cone", "symmetric" or
                           "unknown" (PROTOCOL.md 15.2); addr: our public "ip:port" */
  int reason;           /* DISCONNECT, DIAL_FAILED: an sw_reason; 0 for other events */
  const uint8_t *topic; /* CONNECTION, DIAL_FAILED: the SW_TOPIC_LEN-byte topic whose
                           discovery found the peer, valid during the callback; NULL
                           when the dial came from elsewhere (sw_swarm_connect, peer
                           exchange, seeds, an incoming HELLO). SYNC: the topic a
                           fetched key is scoped to (key is then the caller's own
                           key), NULL for a global key */
  const uint8_t *origin; /* DATA: the author's full id (SW_ID_LEN bytes), valid during the
                            callback; NULL when unknown (plain-session traffic) */
  int origin_direct;     /* DATA: 1 when the author's own session sealed it (first hop =
                            author); 0: only as trustworthy as the peers that relayed it */
  int origin_signed;     /* DATA: 1 when the author signed it (SW_SEND_SIGNED) and the
                            signature is valid under the signing key that author itself
                            told us: the origin holds whoever relayed it. 0: unsigned,
                            or signed by an author we never met (no key to check with) */
} sw_event;

typedef void (*sw_event_cb)(sw_swarm *swarm, const sw_event *ev, void *user);

/* ---- storage backend (store / fetch, PROTOCOL.md 12) --------------------- */

/* Completion of one backend operation; call it exactly once, on the loop thread, at
 * any time (even before get/set returns). err: SW_OK or a negative SW_E* code. get: the
 * value (copied by the library during the call), or NULL/0 when the key is missing.
 * set: call it only once the value is durable. */
typedef void (*sw_storage_done)(void *req, int err, const uint8_t *value, size_t len);

typedef struct sw_storage {
  /* key: NUL-terminated, 1..255 bytes; value: valid during the call only. */
  void (*get)(void *self, const char *key, sw_storage_done done, void *req);
  /* set with len 0 (value then points at no bytes) removes key: sw_swarm_unstore and
   * expired values (a backend that keeps an empty value instead is also right: an
   * empty value reads as missing). */
  void (*set)(void *self, const char *key, const uint8_t *value, size_t len,
              sw_storage_done done, void *req);
  void *self;
} sw_storage;

/* ---- options ----------------------------------------------------------- */

/* Version 2 dropped `stun`, which never had an effect; version 3 added the fields from
 * `transport` on. sw_swarm_new still accepts a struct of version 1 or 2 (the old
 * layouts, with the new fields at their defaults) and refuses other versions. */
#define SW_OPTIONS_VERSION 3

typedef struct sw_options {
  int version;              /* SW_OPTIONS_VERSION; set by sw_options_init */
  const char *seed_hex;     /* identity seed as hex text; NULL = random identity */
  const char *bind;         /* local address; NULL = "::" (dual stack) */
  uint16_t port;            /* main UDP port; 0 = any */
  size_t max_peers;         /* default 100 (PROTOCOL.md 19, MAX_PEERS) */
  int legacy_frag;          /* 1: send messages over 1200 bytes to reference peers
                               as plaintext FRAG (PROTOCOL.md 7, defect D1). Default 0:
                               one encrypted DATA datagram. */
  size_t send_buffer_bytes; /* bound of queued outgoing datagrams; default 1 MiB,
                               at least 256 KiB */
  int lan, dht, http;       /* discovery: LAN multicast, DHT, HTTP (bootstrap servers and
                               piping rendezvous); 1 = on, the default */
  sw_event_cb on_event;
  void *user;
  int sync;                  /* store/fetch (1 = on, the default) */
  const sw_storage *storage; /* persistent backend, or NULL (see src/storage/sqlite.h) */
  size_t store_cache_max;    /* in-memory store bound: entries (default 10 000) ... */
  size_t store_cache_bytes;  /* ... and bytes (default 64 MiB) */
  /* LAN multicast (PROTOCOL.md 11.9): the IPv4 address of the interface beacons leave
   * and are received on, and that they announce. NULL: the --bind address when it is a
   * specific IPv4 address, else the first non-loopback IPv4 interface address. */
  const char *lan_addr;
  int pex;                   /* peer exchange (1 = on, the default) */
  /* Peer cache persistence (PROTOCOL.md 14.8): load is called once at creation (fill
   * at most max entries, return how many), save with the newest entries every 30 s
   * and at close. sw_peer_cache_file_load/_save implement both on a JSON file. */
  size_t (*load_peers)(void *ctx, sw_peer_entry *out, size_t max);
  int (*save_peers)(void *ctx, const sw_peer_entry *list, size_t n);
  void *peers_ctx;
  /* HTTP discovery (PROTOCOL.md 14.4, 14.5), on when `http` is 1. URLs are copied;
   * at most 8 of each kind are used. */
  const char *const *bootstrap_http; /* HTTP bootstrap base URLs (http:// or https://),
                                        queried before the references' two defaults */
  size_t n_bootstrap_http;
  const char *const *piping;         /* piping servers: URLs, or host names for https://;
                                        merged with the references' four defaults */
  size_t n_piping;
  int no_default_servers;            /* 1: contact none of the references' third-party
                                        HTTP servers (D23), only the lists above */
  /* DHT (PROTOCOL.md 14.6, docs/API.md "DHT discovery"): bootstrap nodes as "host:port"
   * text (names are resolved; port 0 means 49737; at most 16 are kept), and the DHT
   * socket's port (0 = any; setowire-node uses 49737). The strings are not kept. */
  const char *const *bootstrap;
  size_t nbootstrap;
  uint16_t dht_port;
  /* Seeds (PROTOCOL.md 14.7): "host:port" peers dialled when discovery starts at
   * sw_swarm_join (names resolved; port 0 means 49737; at most 64). Bootstrap nodes
   * above are also dialled with HELLO 15 s after join if no peer is connected by then
   * (14.3). The strings are not kept. */
  const char *const *seeds;
  size_t nseeds;
  /* 1: serve as a relay: carry the (end-to-end encrypted) traffic of peers that cannot
   * punch to each other (PROTOCOL.md 15.7, bounded per circuit and per peer), and
   * announce `relay:` records for the joined topic in the DHT (14.6, 15.3). A node whose
   * NAT type is found open or full cone serves without it. Default 0. */
  int relay;
  /* STUN (PROTOCOL.md 15.5): our public address and NAT type, learnt from the main
   * socket and reported with SW_EV_NAT. Servers as "host:port" text (names are resolved;
   * port 0 means 3478; at most 8 are used); with none given, the references' public list
   * (15.1) unless no_default_servers is set. no_stun 1: no STUN request at all. */
  const char *const *stun;
  size_t nstun;
  int no_stun;
  /* ---- version 3 ---- */
  /* Between two libsetowire peers: 1 negotiates the extended session of docs/TRANSPORT.md
   * (forward-secret handshake; reliable, ordered, flow- and congestion-controlled
   * messages; the default of sw_options_init); 0 keeps the references' plain protocol with
   * every peer. Reference peers always get the plain protocol. */
  int transport;
  /* Lifecycle (docs/API.md "Peer lifecycle"); 0 in a field means its default.
   * A dial sends HELLOs every 300 ms (at most 8) and gives up dial_timeout_ms after it
   * started (default 5400, 300..600000); then it is tried again dial_retries times
   * (default 0, at most 16), the k-th retry starting dial_retry_ms << (k-1) after the
   * previous attempt ended (default 1000, 100..60000). The last failure is reported
   * with SW_EV_DIAL_FAILED. */
  uint32_t dial_timeout_ms;
  uint32_t dial_retries;
  uint32_t dial_retry_ms;
  /* A peer heard from for none of peer_timeout_ms is dropped (SW_EV_DISCONNECT, reason
   * SW_REASON_TIMEOUT); default 60000, 1000..3600000. Every keepalive_ms each peer is
   * sent a PING (and the mesh maintained); default 1000, 100..60000 and below
   * peer_timeout_ms. */
  uint32_t peer_timeout_ms;
  uint32_t keepalive_ms;
  /* The congestion controller of this side's extended-session flows (docs/TRANSPORT-
   * delivery.md "Congestion control"): SW_CC_DEFAULT (0: BBR), SW_CC_BBR or
   * SW_CC_NEWRENO. A local choice: the two sides of a session need not agree. */
  int congestion;
  /* The extended session's buffers (docs/TRANSPORT-delivery.md "Buffers that grow"):
   * each peer's send and receive buffers start at 128 KiB and double where a flow needs
   * it, up to transport_buffer_max bytes each (default 4 MiB, at most 64 MiB; 128 KiB or
   * less: they never grow); the growth of all peers' buffers together stays within
   * transport_buffer_budget bytes (default 64 MiB). 0: the default. */
  size_t transport_buffer_max;
  size_t transport_buffer_budget;
} sw_options;

enum { SW_CC_DEFAULT = 0, SW_CC_BBR = 1, SW_CC_NEWRENO = 2 };

void sw_options_init(sw_options *opts);

/* ---- lifecycle --------------------------------------------------------- */

/* Create a swarm. loop is a uv_loop_t* to run on, or NULL for a loop owned by the
 * swarm (then drive it with sw_swarm_run). The main socket is bound before return. */
int sw_swarm_new(sw_swarm **out, const sw_options *opts, void *uv_loop);

/* Run the owned loop until the swarm is closed (SW_EV_CLOSE). */
int sw_swarm_run(sw_swarm *swarm);

/* Wait (at most 5 s) until the extended sessions' messages are acknowledged, say GOAWAY
 * to every peer, send what is queued, then close. SW_EV_CLOSE follows. */
int sw_swarm_close(sw_swarm *swarm);

/* Free a swarm after SW_EV_CLOSE (or one that never ran). */
void sw_swarm_free(sw_swarm *swarm);

/* The libuv loop the swarm runs on (a uv_loop_t *): yours, or the one it owns. On the
 * owned loop you may add handles (timers, signals ...); close them before
 * sw_swarm_free. */
void *sw_swarm_loop(sw_swarm *swarm);

/* Close the swarm (as sw_swarm_close: GOAWAY to every peer) when signal signum arrives,
 * e.g. SIGINT and SIGTERM; a second one while it drains ends the drain at once. The
 * handler is libuv's (process-wide, on the swarm's loop) and is removed at close.
 * SW_EINVAL (bad signal number), SW_EFULL (8 signals), SW_ECLOSED, SW_EIO. */
int sw_swarm_close_on_signal(sw_swarm *swarm, int signum);

/* ---- driving a swarm from your own event loop (poll, epoll, select ...) ----------
 * For a swarm created with loop NULL, instead of sw_swarm_run:
 *
 *   for (;;) {                       // your loop: watch fd for reading, wait at most t ms
 *     int t = sw_swarm_timeout(s);   // ask again after every call into the library
 *     poll({sw_swarm_fd(s), POLLIN} and your own descriptors, t);
 *     if (sw_swarm_process(s) == SW_ECLOSED) break;   // then sw_swarm_free(s)
 *   }
 *
 * Calls made between two sw_swarm_process calls (write, broadcast, connect, join,
 * close ...) make sw_swarm_timeout return 0, so what they queued leaves on the next
 * one, coalesced. Linux (epoll), macOS and the BSDs (kqueue), illumos (event ports);
 * not Windows (SW_EIO). See docs/API.md "Your own event loop". */

/* A descriptor to watch for reading: it is readable whenever the swarm has input of any
 * kind (datagrams, name lookups, HTTP, signals). Never read it yourself. SW_EINVAL when
 * the swarm runs on your libuv loop, SW_EIO where the platform has no such descriptor. */
int sw_swarm_fd(const sw_swarm *swarm);

/* Milliseconds until sw_swarm_process must be called even if the descriptor stays
 * quiet: 0 at once, -1 not before it is readable (also once closed, and for a swarm on
 * your libuv loop). */
int sw_swarm_timeout(const sw_swarm *swarm);

/* Do everything that is due, without blocking: timers, every datagram ready on every
 * socket, the events they give (callbacks run inside), and sending what is queued.
 * Calling it more often than needed is harmless. SW_OK; SW_ECLOSED once SW_EV_CLOSE has
 * been emitted (in this call or an earlier one); SW_EINVAL for a swarm on your libuv
 * loop, or when called from one of its callbacks. */
int sw_swarm_process(sw_swarm *swarm);

/* ---- identity and topic ------------------------------------------------ */

void sw_swarm_id(const sw_swarm *swarm, uint8_t out[SW_ID_LEN]);
uint16_t sw_swarm_port(const sw_swarm *swarm);
/* The bound DHT port, or 0 when the DHT is off. */
uint16_t sw_swarm_dht_port(const sw_swarm *swarm);

/* Our public address as "ip:port" and NAT type ("open", "full_cone",
 * "restricted_cone", "symmetric", "unknown") once STUN has told them: 1, else 0. */
int sw_swarm_nat(const sw_swarm *swarm, char *addr, size_t addrlen, const char **type);

#define SW_MAX_TOPICS 16 /* topics joined at once (docs/API.md "Topics": cost per topic) */

/* Join a topic (32 bytes, usually SHA-256 of a name) besides those already joined:
 * discovery starts announcing and looking for it. Joining a joined topic is a no-op.
 * SW_EINVAL (NULL), SW_EFULL (SW_MAX_TOPICS joined), SW_ECLOSED. */
int sw_swarm_join(sw_swarm *swarm, const uint8_t topic[SW_TOPIC_LEN]);
/* Leave a joined topic: its announcements stop (records already published expire by
 * themselves) and discovery no longer dials for it; sessions stay. SW_EINVAL (NULL, or
 * not joined), SW_ECLOSED. */
int sw_swarm_leave(sw_swarm *swarm, const uint8_t topic[SW_TOPIC_LEN]);

/* ---- peers and messages ------------------------------------------------ */

/* Dial "host:port" (a name is resolved; IPv6 as "[addr]:port"). */
int sw_swarm_connect(sw_swarm *swarm, const char *host_port);

/* Send to every peer with a session. Returns the number of peers it was queued to,
 * or a negative error (SW_EAGAIN when a queue is full: nothing was queued). */
int sw_swarm_broadcast(sw_swarm *swarm, const void *data, size_t len);

/* Send to one peer (which floods it on to its mesh, as the references do). */
int sw_swarm_write(sw_swarm *swarm, const uint8_t peer[SW_WIRE_ID_LEN], const void *data,
                   size_t len);

/* sw_swarm_send flags (docs/API.md "Messages"). */
#define SW_SEND_DATAGRAM 1u /* unreliable: over the extended session a DATAGRAM frame (never
                               retransmitted, outside the reliable window, at most
                               SW_MAX_DATAGRAM bytes); to other peers plain DATA as always */
#define SW_SEND_UNICAST 2u  /* to that peer alone: delivered there, never flooded on. Needs
                               the extended session with it: SW_EAGAIN while that is being
                               made, SW_ENOTSUP when there is none (a reference peer) */
#define SW_SEND_SIGNED 4u   /* sign the origin (our id, the message id, the message) with
                               our Ed25519 signing key: receivers that met us check it
                               however many peers relayed it (sw_event.origin_signed).
                               Mesh messages only (not with DATAGRAM or UNICAST: SW_EINVAL),
                               at most SW_MAX_SIGNED bytes; costs a signature per message
                               and a check per receiver (docs/API.md "Signed origins") */
#define SW_MAX_SIGNED 65444 /* largest SW_SEND_SIGNED message */

/* One message to peer (a wire id), or to every peer with a session when peer is NULL
 * (SW_SEND_UNICAST needs a peer). flags 0 is sw_swarm_write / sw_swarm_broadcast.
 * Returns the number of peers it was queued to (1 for one peer) or a negative error:
 * SW_EAGAIN (nothing queued: retry after SW_EV_WRITABLE), SW_ENOTSUP, SW_ENOTCONN,
 * SW_EMSGSIZE, SW_ECLOSED, SW_EINVAL (unknown flag, or SW_SEND_SIGNED with
 * SW_SEND_DATAGRAM or SW_SEND_UNICAST). */
int sw_swarm_send(sw_swarm *swarm, const uint8_t peer[SW_WIRE_ID_LEN], const void *data,
                  size_t len, unsigned flags);

/* Number of peers with a session. */
size_t sw_swarm_peer_count(const sw_swarm *swarm);

/* Counters of the whole swarm (all its sockets). */
typedef struct sw_swarm_stats {
  uint64_t rx_kernel_dropped; /* datagrams the kernel dropped before we read them, mostly
                                 a full socket receive buffer (Linux SO_RXQ_OVFL; 0 where
                                 the platform does not tell). Learnt from the next datagram
                                 that arrives, so it can lag behind the loss. */
  uint64_t bad_signatures;    /* signed messages dropped because their signature is not
                                 the claimed author's (a relay forged or altered them) */
} sw_swarm_stats;

/* Fill *out with the current counters. SW_EINVAL for a NULL argument. */
int sw_swarm_get_stats(const sw_swarm *swarm, sw_swarm_stats *out);

/* One peer with a session, as sw_swarm_peers reports it. */
typedef struct sw_peer_info {
  uint8_t id[SW_WIRE_ID_LEN]; /* wire id */
  char addr[SW_ADDRSTRLEN];   /* address in use: "ip:port" or "[ip6]:port" */
  double rtt_ms;              /* smoothed round-trip time (PROTOCOL.md 9.2): starts at
                                 100 ms and moves with each PONG */
  int in_mesh;                /* 1: messages are flooded to and through this peer */
} sw_peer_info;

/* Copy at most max peers into out and return how many peers have a session, which can
 * exceed max (out NULL or max 0: just count). A snapshot: nothing is kept. Returns 0
 * with nothing filled if a temporary buffer of max entries cannot be allocated. */
size_t sw_swarm_peers(const sw_swarm *swarm, sw_peer_info *out, size_t max);

/* Counters of one peer with a session (docs/API.md "Peer statistics"). Message counts
 * are since its session began; the extended session's own (packets, retransmissions,
 * windows, RTT estimator) since that session was made, and 0 for a plain peer. */
typedef struct sw_peer_stats {
  uint8_t id[SW_WIRE_ID_LEN];
  int extended;                           /* 1: messages go over the extended session */
  int reference;                          /* 1: a reference peer (plain protocol only) */
  uint64_t msgs_sent, bytes_sent;         /* messages to it (ours and floods), payload bytes */
  uint64_t msgs_received, bytes_received; /* from it, duplicates included */
  uint64_t datagrams_sent, datagrams_received; /* extended: DATAGRAM frames among them */
  uint64_t queued_bytes;        /* extended: written and not yet acknowledged, and datagrams
                                   waiting; plain: in its open batch, not yet handed to the
                                   send queue */
  uint64_t retransmitted_bytes; /* extended: message bytes sent again */
  uint64_t packets_sent, packets_lost; /* extended: packets, and those declared lost */
  uint64_t datagrams_dropped;   /* extended: datagrams from it dropped, inbox full */
  uint64_t cwnd_bytes;          /* extended: congestion window (UINT64_MAX: unlimited) */
  uint64_t in_flight_bytes;     /* extended: sent, not yet acknowledged or lost */
  uint64_t send_window_bytes;   /* extended: what its receive window still lets us send */
  uint64_t recv_window_bytes;   /* extended: what our receive window still lets it send */
  double srtt_ms, rttvar_ms;    /* extended: from acknowledgements; plain: the PING/PONG
                                   estimate (PROTOCOL.md 9.2) */
  uint64_t rx_kernel_dropped;   /* the whole swarm's, as sw_swarm_get_stats */
  uint64_t send_buffer_bytes;   /* extended: the send buffer's size now (it grows where the
                                   path needs it, docs/TRANSPORT-delivery.md) */
  uint64_t recv_buffer_bytes;   /* extended: the receive buffer's size now */
  uint64_t packets_spurious;    /* extended: of packets_lost, those acknowledged after all
                                   (reordered, not lost) */
} sw_peer_stats;

/* Fill *out for peer (a wire id): SW_OK, SW_ENOTCONN (no session), SW_EINVAL (NULL). */
int sw_swarm_peer_stats(const sw_swarm *swarm, const uint8_t peer[SW_WIRE_ID_LEN],
                        sw_peer_stats *out);

/* The Ed25519 signing key of peer (a wire id), as that peer told it over an extended
 * session (with a proof that it holds the key): what its SW_SEND_SIGNED messages are
 * checked against. Kept for up to 1 024 peers, also after they leave. SW_OK;
 * SW_ENOTFOUND: connected, but no key known (a reference peer, the plain protocol, or
 * an older build); SW_ENOTCONN: not connected and no key kept; SW_EINVAL (NULL). */
int sw_swarm_peer_signing_key(const sw_swarm *swarm, const uint8_t peer[SW_WIRE_ID_LEN],
                              uint8_t out[32]);

/* ---- store / fetch (PROTOCOL.md 11.1-11.4, 12) --------------------------- */

#define SW_KEY_MAX 255            /* key bytes: one length byte on the wire (D29) */
#define SW_VALUE_MAX (16u << 20)  /* largest value stored or fetched */

/* Keep value under key (memory, then the storage backend) and announce it with HAVE to
 * the mesh; peers fetch it from us. SW_EINVAL for an empty or over-long key, an empty
 * value, or a value not valid for a signed or content key (docs/VALUES.md; for a signed
 * key also a seq not above the one held), SW_EMSGSIZE over SW_VALUE_MAX, SW_EAGAIN when
 * the backend queue is full. */
int sw_swarm_store(sw_swarm *swarm, const char *key, const void *value, size_t len);

/* Store with a scope and a lifetime (docs/API.md "Scope and lifetime of stored keys").
 * Unless SW_STORE_GLOBAL, the key is scoped to a topic: its wire key is "t:" + the
 * topic's 12-character hash + "/" + key, so two topics hold one key apart, and a fetch
 * in one never returns the other's value. sw_swarm_store is the global form (reference
 * peers know keys only as they are). ttl_ms: the value is neither served nor returned
 * after it, and is dropped from memory and the backend; between our peers the time left
 * travels with the value, so fetchers' caches drop it then too. opts NULL: scoped to
 * the first joined topic, no expiry. Errors as sw_swarm_store, and SW_EINVAL for a
 * scoped key with no topic given and none joined or a wire key over SW_KEY_MAX,
 * SW_EFULL when SW_STORE_TTL_MAX keys already expire. */
#define SW_STORE_GLOBAL 1u /* the key is not scoped to a topic (what sw_swarm_store does) */
#define SW_STORE_TTL_MAX 65536 /* keys with a pending expiry held at once */
typedef struct sw_store_opts {
  uint32_t flags;       /* SW_STORE_* */
  const uint8_t *topic; /* 32-byte topic the key is scoped to; NULL: the first joined one */
  uint32_t ttl_ms;      /* 0: kept until unstored; else dropped everywhere after this */
} sw_store_opts;
int sw_swarm_store_ex(sw_swarm *swarm, const char *key, const void *value, size_t len,
                      const sw_store_opts *opts);
/* Remove key (scoped as sw_swarm_store_ex; ttl_ms ignored) from memory and the backend:
 * from now on we neither serve it (a peer's WANT gets "none") nor return it to our own
 * fetches. Copies other peers fetched already stay in their caches until their own
 * expiry (a ttl_ms given at store time), or for good. Fetches under way go on. SW_OK
 * also when the key was not held; SW_EINVAL as sw_swarm_store_ex, SW_EAGAIN (the
 * backend queue is full: nothing changed, retry), SW_ECLOSED. */
int sw_swarm_unstore(sw_swarm *swarm, const char *key, const sw_store_opts *opts);

/* Completion of sw_swarm_fetch: err SW_OK with the complete value (valid during the
 * call), or SW_ETIMEDOUT / SW_ENOTFOUND / SW_ECLOSED with value NULL. */
typedef void (*sw_fetch_cb)(sw_swarm *swarm, int err, const char *key, const uint8_t *value,
                            size_t len, void *user);

/* Look key up in memory, then in the backend, then ask the peers (WANT, repeated while
 * waiting). cb runs once, never before this returns. timeout_ms 0 = 30 000. Several
 * fetches of one key all complete (D30). A signed or content key's value is checked
 * first (docs/VALUES.md). SW_EINVAL, SW_EFULL, SW_ECLOSED. */
int sw_swarm_fetch(sw_swarm *swarm, const char *key, uint32_t timeout_ms, sw_fetch_cb cb,
                   void *user);

/* Fetch with options. Flags: SW_FETCH_NO_CACHE asks the peers even when the value is
 * held here (memory or backend); a value that arrives replaces the one held. */
#define SW_FETCH_NO_CACHE 1u
/* The global key (what sw_swarm_fetch does); without it a fetch with opts is scoped to
 * opts->topic (sw_swarm_store_ex). */
#define SW_FETCH_GLOBAL 2u
typedef struct sw_fetch sw_fetch;
/* Progress while a value arrives from a peer: bytes so far and the value's total. */
typedef void (*sw_fetch_progress_cb)(sw_swarm *swarm, const char *key, size_t got,
                                     size_t total, void *user);
typedef struct sw_fetch_opts {
  uint32_t timeout_ms;           /* 0 = 30 000 */
  uint32_t flags;                /* SW_FETCH_* */
  sw_fetch_progress_cb progress; /* NULL: none */
  const uint8_t *topic;          /* the key's topic (32 bytes); NULL: the first joined one */
} sw_fetch_opts;
/* Completion of sw_swarm_fetch_ex, run exactly once, never before sw_swarm_fetch_ex
 * returns: err SW_OK with the value (valid during the call) and peer, the serving peer's
 * wire id (SW_WIRE_ID_LEN bytes), or NULL when the value was held here; or, value and
 * peer NULL, SW_ETIMEDOUT (no value in time), SW_ENOTFOUND (every peer asked said it
 * holds no such value), SW_ECANCELED (sw_swarm_fetch_cancel), SW_ECLOSED. */
typedef void (*sw_fetch_done_cb)(sw_swarm *swarm, int err, const char *key,
                                 const uint8_t *value, size_t len, const uint8_t *peer,
                                 void *user);
/* sw_swarm_fetch with options (opts NULL: the defaults, and the global key as
 * sw_swarm_fetch; opts given: the key scoped to opts->topic unless SW_FETCH_GLOBAL, the
 * completion and progress naming the caller's key). *handle (handle may be NULL)
 * names the fetch for sw_swarm_fetch_cancel until its completion has run. SW_EINVAL
 * (also: scoped with no topic given and none joined), SW_EFULL, SW_ECLOSED, SW_ENOMEM. */
int sw_swarm_fetch_ex(sw_swarm *swarm, const char *key, const sw_fetch_opts *opts,
                      sw_fetch_done_cb cb, void *user, sw_fetch **handle);
/* End a pending fetch: no more progress; its completion runs once with SW_ECANCELED,
 * after this returns (at the loop's next turn), and the handle is then gone. SW_OK, or
 * SW_EINVAL for NULL. The other fetches of the same key go on. */
int sw_swarm_fetch_cancel(sw_fetch *handle);

/* ---- signed, versioned and content-addressed values (docs/VALUES.md) ------------
 * Between libsetowire peers. A signed value is named by its signer's Ed25519 key and a
 * name, and carries a sequence number and a signature; every holder and fetcher checks
 * it, a holder keeps only the highest seq, and a fetch delivers the highest it finds.
 * On the wire it is an ordinary key/value: the key "s:" + 64 hex of the signer key +
 * "/" + name, the value an envelope (docs/VALUES.md). A content value is stored under
 * "c:" + 64 hex of SHA-256(value), and any fetch of such a key checks the hash. */

#define SW_SIGNING_KEY_LEN 32
#define SW_CONTENT_KEY_LEN 66      /* "c:" + 64 hex */
#define SW_SIGNED_NAME_MAX 188     /* SW_KEY_MAX - 67: the name's bytes in the wire key */
#define SW_SIGNED_VALUE_MAX (SW_VALUE_MAX - 73) /* payload bytes: the envelope takes 73 */

/* This swarm's Ed25519 public signing key (derived from its identity): the signer others
 * name in sw_swarm_fetch_signed. SW_OK, SW_EINVAL (NULL), SW_ECRYPTO. */
int sw_swarm_signing_key(const sw_swarm *swarm, uint8_t out[SW_SIGNING_KEY_LEN]);

/* Sign value (the payload) with seq under (our signing key, name), keep it and announce
 * it as sw_swarm_store does. seq 0: one more than the version held here (1 when none is
 * in memory). SW_OK, or SW_EINVAL (NULL or empty name or value, a name over
 * SW_SIGNED_NAME_MAX bytes, seq not above the version held here, sync off), SW_EMSGSIZE
 * (value over SW_SIGNED_VALUE_MAX), SW_EAGAIN, SW_ECLOSED, SW_ECRYPTO, SW_ENOMEM. */
int sw_swarm_store_signed(sw_swarm *swarm, const char *name, const void *value, size_t len,
                          uint64_t seq);

/* Completion of sw_swarm_fetch_signed, run exactly once, never before the call returns:
 * err SW_OK with the payload (valid during the call), its seq (the highest valid one
 * found, never below the version held here) and peer, the serving peer's wire id, or
 * NULL when the version held here won; or, value and peer NULL, seq 0, the errors of
 * sw_fetch_done_cb. key is the wire key. */
typedef void (*sw_signed_done_cb)(sw_swarm *swarm, int err, const char *key,
                                  const uint8_t *value, size_t len, uint64_t seq,
                                  const uint8_t *peer, void *user);

/* Fetch the value signer stored under name: asks the peers even when a version is held
 * here, waits a short window for more answers after the first valid one, delivers the
 * highest seq. opts as sw_swarm_fetch_ex (flags are ignored: a signed fetch always asks);
 * *handle (handle may be NULL) for sw_swarm_fetch_cancel. SW_EINVAL (NULL, bad name),
 * SW_EFULL, SW_ECLOSED, SW_ENOMEM. */
int sw_swarm_fetch_signed(sw_swarm *swarm, const uint8_t signer[SW_SIGNING_KEY_LEN],
                          const char *name, const sw_fetch_opts *opts, sw_signed_done_cb cb,
                          void *user, sw_fetch **handle);

/* Store value under its content key, written to key_out ("c:" + hex SHA-256, NUL-
 * terminated); fetch it with sw_swarm_fetch / _ex, which check the hash. sw_swarm_store's
 * errors. */
int sw_swarm_store_content(sw_swarm *swarm, const void *value, size_t len,
                           char key_out[SW_CONTENT_KEY_LEN + 1]);

/* ---- peer cache file (src/runtime/peercache_file.c) ---------------------- */

/* ctx is the file path (const char *). The file is a JSON array of objects
 * {"id", "ip", "port", "last_seen"}; save writes a temporary file, fsyncs it and
 * renames it over the old one, so a crash leaves the old list or the new one. Load
 * returns 0 for a missing or malformed file; save returns SW_OK or SW_EIO. */
size_t sw_peer_cache_file_load(void *path, sw_peer_entry *out, size_t max);
int sw_peer_cache_file_save(void *path, const sw_peer_entry *list, size_t n);

/* ---- identity helpers (no swarm needed) -------------------------------- */

/* Derive public key, full id from a hex seed (PROTOCOL.md 2). NULL seed is refused. */
int sw_identity_from_seed(const char *seed_hex, uint8_t pub[32], uint8_t id[SW_ID_LEN]);

#ifdef __cplusplus
}
#endif
#endif
