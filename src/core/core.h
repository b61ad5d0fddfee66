/* The Setowire protocol engine, sans-I/O (ngtcp2 style).
 *
 * The core never touches a socket, a clock or a random source of its own. It is driven
 * by: sw_core_datagram() for each datagram received, sw_core_timeout() when the time
 * given by sw_core_deadline() has come, and API calls. It answers with datagrams to send
 * (sw_core_out_*), events through the callback, and its next deadline. Every call takes
 * the current time in milliseconds on any monotonic clock. All state is bounded. */
#ifndef SW_CORE_CORE_H
#define SW_CORE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "setowire.h"

/* SW_SOCK_PROBE: one of the short-lived probe sockets a birthday punch asks for
 * (birthday.h): ephemeral port, main-socket protocol, its index in sw_dgram.probe. */
typedef enum sw_sock_kind {
  SW_SOCK_MAIN = 0,
  SW_SOCK_DHT = 1,
  SW_SOCK_LAN = 2,
  SW_SOCK_PROBE = 3
} sw_sock_kind;
#define SW_CORE_PROBE_MAX 256 /* probe sockets 1..256 at most */

typedef struct sw_core sw_core;

typedef void (*sw_core_random_fn)(void *ctx, uint8_t *buf, size_t len);
typedef void (*sw_core_event_fn)(void *ctx, const sw_event *ev);

typedef struct sw_core_config {
  const char *seed_hex;     /* NULL: random identity from the random callback */
  size_t max_peers;         /* 0: 100 */
  int legacy_frag;
  size_t out_buffer_bytes;  /* 0: 1 MiB */
  unsigned dedup_slots_log2; /* 0: 17 (2 x 2^17 ids of 8 bytes = 2 MiB) */
  int sync;                 /* 1: the store/fetch module (sync.h) */
  size_t store_cache_max;   /* 0: 10 000 entries (PROTOCOL.md 12) */
  size_t store_cache_bytes; /* 0: 64 MiB */
  int storage;              /* 1: a storage backend answers sw_core_storage_take */
  /* Discovery modules (lan.h, pex.h, peercache.h) and the gossip filter (gossip.h). */
  int lan;                  /* 1: LAN beacons and their receiver */
  const char *lan_ip;       /* IPv4 text beacons carry; NULL: receive only (not kept) */
  uint16_t port;            /* main socket port, for beacons */
  int pex;                  /* 1: peer exchange */
  int peer_cache;           /* 1: the peer cache */
  int gossip_meet;          /* 1: dial the peers that reference gossip names (D14) */
  int64_t unix_offset_ms;   /* add to `now` for Unix ms (peer cache timestamps) */
  size_t (*load_peers)(void *ctx, sw_peer_entry *out, size_t max);
  int (*save_peers)(void *ctx, const sw_peer_entry *list, size_t n);
  void *peers_ctx;
  const struct dht_config *dht; /* the DHT module (dht.h), copied; NULL: none */
  /* HTTP discovery (httpboot.h, piping.h); they use lan_ip and port for our record. */
  int http;                          /* 1: HTTP bootstrap client and piping rendezvous */
  const char *const *bootstrap_http; /* HTTP bootstrap base URLs (copied) */
  size_t n_bootstrap_http;
  const char *const *piping;         /* piping server URLs, or host names (copied) */
  size_t n_piping;
  int no_default_servers;            /* 1: none of the references' third-party servers */
  int nat;   /* 1: learn our public address and NAT type with STUN (nat.h) */
  int intro; /* 1: introductions for coordinated hole punching (intro.h) */
  int relayed;     /* 1: relayed connections (relay.h): dial through relays when needed */
  int relay_serve; /* 1: also carry others' traffic as a relay */
  int probe_sockets; /* 1: the runtime opens probe sockets on demand (SW_SOCK_PROBE), so
                        a symmetric side can birthday-punch (birthday.h); 0: never asked */
  /* The modules to run, NULL-terminated (core_internal.h); NULL: core_default_modules. */
  const struct core_module_def *const *modules;
  /* The congestion controller of every peer (cc.h); NULL: cc_unlimited, today's. */
  const struct cc_ops *cc;
  /* 1: advertise XSESSION and, with a peer that does too, carry messages over the
   * extended session (docs/TRANSPORT.md); 0 (default): the plain protocol only. */
  int xsession;
  /* The controller of every extended session's flow (cc.h); NULL: BBR (cc_bbr.h). */
  const struct cc_ops *xsession_cc;
  /* Each extended session's two buffers start at 128 KiB and double where the path
   * needs it up to xsession_buf_max each [4 MiB]; all sessions together grow by at
   * most xsession_buf_budget bytes [64 MiB] (docs/TRANSPORT-delivery.md "Buffers that
   * grow"). 0: the default in brackets. */
  size_t xsession_buf_max, xsession_buf_budget;
  /* Lifecycle (sw_options, docs/API.md "Peer lifecycle"); 0: the default in brackets.
   * One dial attempt lasts dial_timeout_ms [5400]; dial_retries more [0] follow, the
   * k-th dial_retry_ms << (k-1) [1000] after the previous one ended. A peer silent for
   * peer_timeout_ms [60000] is dropped; keepalive_ms [1000] is the heartbeat (PING). */
  uint32_t dial_timeout_ms, dial_retries, dial_retry_ms, peer_timeout_ms, keepalive_ms;
  sw_core_random_fn random;
  sw_core_event_fn on_event;
  void *ctx;
} sw_core_config;

/* The DHT module's settings (sw_core_config.dht; the module itself: dht.h). */
struct dht_config {
  const uint8_t *node_id;   /* 20 bytes; NULL: random (PROTOCOL.md 14.6) */
  const sw_addr *bootstrap; /* nodes to learn the network from, ids unknown */
  size_t nbootstrap;
  int relay;                /* also announce relay: records (15.3) */
};
typedef struct dht_config sw_core_dht_config;

/* The LAN multicast group and port beacons use (PROTOCOL.md 19 MCAST_ADDR, MCAST_PORT):
 * the runtime opens its LAN socket there (lan.h, the module, uses the same values). */
#define SW_CORE_LAN_GROUP "239.0.0.1"
#define SW_CORE_LAN_PORT 45678

/* Returns SW_OK and the core, or SW_EINVAL for a malformed seed, SW_ENOMEM. */
int sw_core_new(sw_core **out, const sw_core_config *cfg, uint64_t now_ms);
void sw_core_free(sw_core *core);

void sw_core_identity(const sw_core *core, uint8_t pub[32], uint8_t id[20]);

/* Input. */
void sw_core_datagram(sw_core *core, sw_sock_kind kind, const sw_addr *from,
                      const uint8_t *buf, size_t len, uint64_t now_ms);
void sw_core_timeout(sw_core *core, uint64_t now_ms);
/* Earliest time at which sw_core_timeout must be called; UINT64_MAX: none. */
uint64_t sw_core_deadline(const sw_core *core);

/* Close the open per-peer batches so they can be sent. The runtime calls it once per
 * loop turn, after it has fed every ready datagram: what was written in one turn is
 * coalesced into as few datagrams as possible (PROTOCOL.md 8.2). */
void sw_core_flush(sw_core *core, uint64_t now_ms);

/* Output: datagrams in order. */
typedef struct sw_dgram {
  sw_sock_kind kind;
  const sw_addr *to;
  const uint8_t *data;
  size_t len;
  unsigned probe; /* SW_SOCK_PROBE: which probe socket, 1..SW_CORE_PROBE_MAX */
} sw_dgram;
/* Fill up to max datagrams from the head without removing them; returns how many. */
size_t sw_core_out_peek(sw_core *core, sw_dgram *out, size_t max);
/* Remove n datagrams from the head (after they were sent, or given up). */
void sw_core_out_consume(sw_core *core, size_t n, uint64_t now_ms);
size_t sw_core_out_pending(const sw_core *core);
/* Reliable bytes written to extended sessions and not yet acknowledged by their peers
 * (docs/TRANSPORT-delivery.md): the runtime's close waits for 0 before the GOAWAYs. */
size_t sw_core_unacked(const sw_core *core);

/* Probe sockets (sw_core_config.probe_sockets). The runtime opens probe socket k (an
 * ephemeral UDP port of the main socket's family) the first time a datagram of kind
 * SW_SOCK_PROBE with probe k leaves, feeds what it receives to sw_core_probe_datagram,
 * and closes it once sw_core_probe_wanted(k) answers 0 (it asks about every open one
 * at least once a second). Out-of-range k: dropped / 0. */
void sw_core_probe_datagram(sw_core *core, unsigned probe, const sw_addr *from,
                            const uint8_t *buf, size_t len, uint64_t now_ms);
int sw_core_probe_wanted(const sw_core *core, unsigned probe);

/* Seeds (dialled when discovery starts at join, or at once after it) and bootstrap
 * nodes for the 15 s fallback (dialled with HELLO if no peer is connected by then),
 * PROTOCOL.md 14.7 and 14.3. Numeric addresses: the runtime resolves names. */
int sw_core_add_seed(sw_core *core, const sw_addr *addr, uint64_t now_ms);
int sw_core_add_fallback(sw_core *core, const sw_addr *addr);

/* HTTP requests the core wants made (discovery: piping servers, HTTP bootstrap). The
 * runtime takes each one, performs it, and reports the outcome exactly once. */
typedef struct sw_http_request {
  uint32_t id;
  const char *method;       /* "GET" or "POST" */
  const char *url;
  const char *content_type; /* NULL without a body */
  const uint8_t *body;
  size_t len;
  uint32_t timeout_ms;
} sw_http_request;
/* 1 and the next request (its pointers stay valid until sw_core_http_done for its
 * id), or 0 when none waits. */
int sw_core_http_take(sw_core *core, sw_http_request *out);
/* status: the HTTP status, or a negative value for a transport error or timeout. */
void sw_core_http_done(sw_core *core, uint32_t id, int status, const uint8_t *body, size_t len,
                       uint64_t now_ms);

/* A DHT bootstrap node by address, when the core runs a DHT (the runtime resolves
 * names first). SW_OK, SW_EFULL (16 kept), or SW_EINVAL without a DHT. */
int sw_core_dht_bootstrap(sw_core *core, const sw_addr *addr, uint64_t now_ms);

/* Store and fetch (the sync module, sync.h; PROTOCOL.md 11.1-11.4, 12). Without it
 * (sw_core_config.sync 0) store and fetch return SW_EINVAL and take returns 0. */
int sw_core_store(sw_core *core, const char *key, const void *value, size_t len,
                  uint64_t now_ms);
typedef void (*sw_core_fetch_cb)(void *user, int err, const char *key, const uint8_t *value,
                                 size_t len);
/* The callback runs from sw_core_timeout or while a datagram or a storage completion is
 * handled, never inside this call. */
int sw_core_fetch(sw_core *core, const char *key, uint32_t timeout_ms, sw_core_fetch_cb cb,
                  void *user, uint64_t now_ms);
/* A stored key's scope (sync_scope.c): global, the key as given; else scoped to topic
 * (NULL: the first joined one), its wire key "t:" + topic hash + "/" + key. */
typedef struct sw_core_scope {
  int global;
  const uint8_t *topic;
} sw_core_scope;
/* Fetch with options (the API's sw_swarm_fetch_ex): timeout_ms (0: 30 000), flags
 * SW_FETCH_NO_CACHE (ask the peers even when the value is held here), progress (NULL:
 * none; bytes so far and the total, while a value arrives from a peer), and a completion
 * that names the serving peer (its wire id; NULL when the value was held here). err:
 * SW_OK, SW_ETIMEDOUT, SW_ENOTFOUND (every peer asked said it holds none), SW_ECANCELED,
 * SW_ECLOSED. *handle (when not NULL) gets an id for sw_core_fetch_cancel, valid until
 * the completion runs. Callbacks run as sw_core_fetch's do. */
typedef struct sw_core_fetch_opts {
  uint32_t timeout_ms;
  uint32_t flags;
  void (*progress)(void *user, const char *key, size_t got, size_t total);
  const sw_core_scope *scope; /* NULL: the global key; callbacks give the caller's key */
} sw_core_fetch_opts;
typedef void (*sw_core_fetch_done_cb)(void *user, int err, const char *key,
                                      const uint8_t *value, size_t len, const uint8_t *peer);
int sw_core_fetch_ex(sw_core *core, const char *key, const sw_core_fetch_opts *opts,
                     sw_core_fetch_done_cb cb, void *user, uint32_t *handle, uint64_t now_ms);
/* The completion of that fetch runs with SW_ECANCELED at the next sw_core_timeout (its
 * progress stops at once). SW_OK, or SW_EINVAL when no such fetch is pending. */
int sw_core_fetch_cancel(sw_core *core, uint32_t handle, uint64_t now_ms);
/* sw_core_store with a scope (NULL: global) and a lifetime (0: none), and its removal
 * (memory, backend: a SET of length 0). SW_EINVAL as sw_core_store and for a scoped key
 * with no topic, SW_EFULL when too many keys expire (sw_swarm_store_ex). */
int sw_core_store_ex(sw_core *core, const char *key, const void *value, size_t len,
                     const sw_core_scope *scope, uint32_t ttl_ms, uint64_t now_ms);
int sw_core_unstore(sw_core *core, const char *key, const sw_core_scope *scope,
                    uint64_t now_ms);
/* Storage backend requests (sw_core_config.storage), served by the runtime like the
 * HTTP requests: take each one, perform it, report it exactly once. A request's
 * pointers stay valid until sw_core_storage_done for its id. */
enum { SW_CORE_STORAGE_GET = 1, SW_CORE_STORAGE_SET = 2 };
typedef struct sw_core_storage_req {
  uint32_t id;
  int op;               /* SW_CORE_STORAGE_GET or _SET */
  const char *key;
  const uint8_t *value; /* SET */
  size_t len;
} sw_core_storage_req;
/* 1 and the next request, or 0 when none waits. */
int sw_core_storage_take(sw_core *core, sw_core_storage_req *out);
/* err: SW_OK or a negative SW_E* code; GET: the value (copied), NULL/0 when missing. */
void sw_core_storage_done(sw_core *core, uint32_t id, int err, const uint8_t *value, size_t len,
                          uint64_t now_ms);

/* A STUN server for the NAT module (numeric: the runtime resolves names). Probing starts
 * with the first one. SW_EINVAL without the module, SW_EFULL past 8 servers. */
int sw_core_add_stun_server(sw_core *core, const sw_addr *addr, uint64_t now_ms);
/* 1 with our public address and NAT type (natclass words) once reported, else 0. */
int sw_core_nat(const sw_core *core, sw_addr *public_addr, const char **type);

/* The runtime learnt from an ICMP error that datagrams to `to` (main socket) cannot be
 * delivered: refused 1 for "port unreachable", 0 for host or network unreachable. A dial
 * to that address ends its attempt now (SW_EV_DIAL_FAILED when no retry is left). */
void sw_core_unreachable(sw_core *core, const sw_addr *to, int refused, uint64_t now_ms);
/* Drop every peer with SW_EV_DISCONNECT and this reason (the runtime: SW_REASON_CLOSED
 * once closing has sent what was queued). */
void sw_core_drop_peers(sw_core *core, int reason);

/* API. */
int sw_core_dial(sw_core *core, const sw_addr *to, const uint8_t *full_id_or_null,
                 uint64_t now_ms);
int sw_core_write(sw_core *core, const uint8_t peer[8], const void *data, size_t len,
                  uint64_t now_ms);
int sw_core_broadcast(sw_core *core, const void *data, size_t len, uint64_t now_ms);
/* One message with SW_SEND_* flags (setowire.h) to the peer of wire id `peer`, or to
 * every peer when it is NULL: the number of peers it was queued to, or a negative code
 * (sw_swarm_send in docs/API.md). Without flags it is write (to one) or broadcast. */
int sw_core_send(sw_core *core, const uint8_t *peer, const void *data, size_t len,
                 unsigned flags, uint64_t now_ms);
/* The signing key a peer told us over an extended session (sw_swarm_peer_signing_key
 * in docs/API.md): SW_OK, SW_ENOTFOUND (connected, no binding), SW_ENOTCONN. */
int sw_core_peer_signing_key(sw_core *core, const uint8_t peer[8], uint8_t out[32]);
/* Add a topic (SW_OK also when joined already; SW_EFULL past SW_MAX_TOPICS), remove one
 * (SW_EINVAL when not joined). */
int sw_core_join(sw_core *core, const uint8_t topic[32]);
int sw_core_leave(sw_core *core, const uint8_t topic[32]);
/* Send GOAWAY to every peer and refuse further writes. */
int sw_core_close(sw_core *core, uint64_t now_ms);
size_t sw_core_peer_count(const sw_core *core);

/* Introspection for tests, tools and stats. */
typedef struct sw_core_stats {
  uint64_t rx_datagrams, rx_dropped, rx_auth_fail, rx_replay, tx_datagrams;
  uint64_t delivered, duplicates, flood_dropped, ctrl_dropped, restarts;
  uint64_t gossip; /* reference gossip objects kept from the application (D14) */
  uint64_t held_dropped; /* held during a restart challenge and never proven (PROTOCOL.md 21.3) */
  uint64_t bad_signatures; /* signed origins that were not their author's (dropped) */
} sw_core_stats;
void sw_core_get_stats(const sw_core *core, sw_core_stats *out);

typedef struct sw_core_peer_info {
  uint8_t wire_id[8];
  sw_addr addr;
  double rtt_ms;
  int in_mesh, reference, verified;
  int relayed;    /* the best path runs through a relay (addr is then the relay's) */
  uint8_t via[8]; /* relayed: the relay's wire id */
  int extended;   /* messages to it go over the extended session (docs/TRANSPORT.md) */
} sw_core_peer_info;
/* Fill up to max entries; returns the number of peers. */
size_t sw_core_peers(const sw_core *core, sw_core_peer_info *out, size_t max);

/* One peer's counters (sw_peer_stats, setowire.h; rx_kernel_dropped is the runtime's
 * and left 0): SW_OK, SW_ENOTCONN for a peer without a session, SW_EINVAL. */
int sw_core_peer_stats(const sw_core *core, const uint8_t peer[8], sw_peer_stats *out);

/* Memory held by the core, in bytes (docs/API.md gives the formula). */
size_t sw_core_memory(const sw_core *core);

#endif
