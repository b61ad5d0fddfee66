/* What the engine offers to its protocol modules (discovery, sync): the only door
 * from a module into core.c. A module keeps its own state, is driven through the
 * hooks at the end of this file, and acts only through these calls, so that every
 * datagram, dial and HTTP request leaves by one bounded path. Sans-I/O like the
 * rest of src/core: time is always passed in. */
#ifndef SW_CORE_INTERNAL_H
#define SW_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "crypto.h"
#include "pubaddr.h"

/* Where a main-socket frame came from, and where an answer to it goes: a direct address,
 * or a peer that relays for the far end (docs/ARCHITECTURE.md "Paths"). Two paths are the
 * same path when both are direct to one address, or both relayed by one relay for one
 * far end. */
typedef struct core_path {
  sw_addr addr;    /* direct: the remote address; relayed: the relay's address */
  uint8_t relayed; /* 1: through the relay below */
  uint8_t via[8];  /* relayed: the relay's wire id */
  uint8_t far[8];  /* relayed: the relay's name for the far end */
  uint16_t sock;   /* direct: our local socket, 0 the main one, k probe socket k */
} core_path;

int core_path_equal(const core_path *a, const core_path *b);

/* A direct path to addr. */
static inline core_path core_path_direct(const sw_addr *addr) {
  core_path p = {.addr = *addr, .relayed = 0, .via = {0}, .far = {0}, .sock = 0};
  return p;
}

/* ---- engine services ------------------------------------------------------ */

/* Queue one datagram on a socket kind (control room; counted as dropped when full). */
void core_send(sw_core *c, sw_sock_kind kind, const sw_addr *to, const uint8_t *d, size_t len);
/* Queue one main-socket frame back along a path (direct, or wrapped for its relay). */
void core_send_path(sw_core *c, const core_path *to, const uint8_t *d, size_t len);

/* Queue a control frame (HAVE, WANT, CHUNK, PEX...) to a connected peer, coalesced with
 * its other frames (PROTOCOL.md 8.1). SW_ENOTCONN, SW_EAGAIN, SW_EMSGSIZE. */
int core_send_ctrl(sw_core *c, const uint8_t wire[8], const uint8_t *frame, size_t len);

/* The one gate every discovery source ends in (DESIGN "meet" path): dial `addr` with
 * the punch schedule unless already connected or dialling; full_id (20 bytes, may be
 * NULL) is checked against the answering key. Rate-limited (D19): SW_EFULL when over. */
int core_meet(sw_core *c, const sw_addr *addr, const uint8_t *full_id, uint64_t now);
/* core_meet for a topic's discovery: the topic (32 bytes, copied; NULL as core_meet) is
 * reported with the connection or the failed dial (sw_event.topic). */
int core_meet_topic(sw_core *c, const sw_addr *addr, const uint8_t *full_id,
                    const uint8_t *topic, uint64_t now);

/* The congestion seam (cc.h) for a module's own acknowledged traffic (store/fetch
 * chunks): bytes a peer acknowledged, with an RTT sample in ms or a negative value, and
 * bytes declared lost. core_send_ctrl answers SW_EAGAIN while the seam has no room. */
void core_cc_acked(sw_core *c, const uint8_t wire[8], size_t bytes, double rtt_ms);
void core_cc_lost(sw_core *c, const uint8_t wire[8], size_t bytes);

/* The reliable ordered stream of a peer's extended session (docs/TRANSPORT.md 7.1), for
 * a module's own messages: each travels as one stream message on the module's channel
 * (core_module.stream_channel), paced by the session's flow and congestion control.
 * core_stream_room: 1 when a message of len bytes fits in the send buffer now, 0 when
 * not yet, SW_ENOTCONN when no extended session is confirmed with the peer. core_stream_send: SW_OK,
 * SW_ENOTCONN (no confirmed extended session), SW_EAGAIN (no room: try again later),
 * SW_EMSGSIZE (over CORE_STREAM_MAX). */
#define CORE_STREAM_MAX 65535
int core_stream_room(sw_core *c, const uint8_t wire[8], size_t len);
int core_stream_send(sw_core *c, const uint8_t wire[8], uint8_t channel, const uint8_t *msg,
                     size_t len);

void core_rand(sw_core *c, void *buf, size_t n);
/* The latest time given to any entry point: for a hook that gets none (a relay sender). */
uint64_t core_now(const sw_core *c);
const crypto_identity *core_identity(const sw_core *c);
/* The first (oldest) joined 32-byte topic, or NULL when none is joined. */
const uint8_t *core_topic(const sw_core *c);
/* Every joined topic, oldest first: how many, and the i-th (NULL out of range). The
 * newest is the one an on_join hook is called for. */
int core_topic_count(const sw_core *c);
const uint8_t *core_topic_at(const sw_core *c, int i);
int core_connected(const sw_core *c, const uint8_t wire[8]);
/* Connected over a verified direct path (not only through a relay): what a punch is for. */
int core_connected_direct(const sw_core *c, const uint8_t wire[8]);
/* The full 20-byte id of a connected peer (hash of its key): 1, or 0 when none. */
int core_peer_full_id(const sw_core *c, const uint8_t wire[8], uint8_t id[20]);
/* Whether a source address belongs to a connected peer that has sent authenticated
 * frames from it (D6: control frames are accepted only from verified peers). Fills
 * wire when non-NULL. */
int core_verified_peer(sw_core *c, const core_path *from, uint8_t wire[8]);
/* The peer a source address is mapped to, verified or not, as CORE_PEER_* flags (0 when
 * none); fills wire when non-NULL. For modules that must also hear reference peers,
 * whose addresses are verified only once they send DATA (see sync.c). */
#define CORE_PEER_MAPPED 1
#define CORE_PEER_VERIFIED 2
#define CORE_PEER_LEGACY 4 /* a reference peer (41-byte HELLO) */
int core_peer_at(sw_core *c, const core_path *from, uint8_t wire[8]);
void core_emit(sw_core *c, const sw_event *ev);

/* Our addresses (pubaddr.h): every record, announce and beacon reads them here.
 * core_public_addr: the published public address of a family (4 or 6), or NULL; its
 * port is 0 when only the IP is known (a DHT observation). core_lan_addr: the LAN IP
 * (family 0 when none was configured) and the main port (0: unknown). */
const sw_addr *core_public_addr(sw_core *c, int family);
const sw_addr *core_lan_addr(sw_core *c);
const pubaddr *core_pubaddr(const sw_core *c);
/* An answer about our public address (PUBADDR_SRC_*). When the published address of
 * its family changes, every module's on_public_addr hook runs (they re-announce). */
void core_learn_public_addr(sw_core *c, const sw_addr *a, int source, uint64_t now);

/* HTTP through the runtime (sw_core_http_take / sw_core_http_done in core.h). The
 * callback runs once: with the status and body, or status < 0 on failure or timeout.
 * Returns a request id > 0, or SW_EFULL when too many are outstanding. */
typedef void (*core_http_cb)(void *ctx, int status, const uint8_t *body, size_t len,
                             uint64_t now);
int core_http(sw_core *c, const char *method, const char *url, const char *content_type,
              const uint8_t *body, size_t len, uint32_t timeout_ms, core_http_cb cb, void *ctx);

/* ---- relayed paths --------------------------------------------------------- */

/* How a frame leaves on a relayed path: the relay module wraps it for the path's relay
 * and queues the result with core_send. Returns SW_OK or a negative SW_E* code (the
 * frame is then counted as dropped). */
typedef int (*core_relay_send_fn)(void *state, const core_path *to, const uint8_t *frame,
                                  size_t len);
/* The relay module's sender (one per engine; NULL detaches it). */
void core_set_relay(sw_core *c, core_relay_send_fn fn, void *state);
/* The re-entry point for a main-socket datagram that arrived through a relay, unwrapped:
 * it is processed exactly as sw_core_datagram processes a direct one (sessions can be
 * created over it), on the relayed path `from` (relayed = 1, via, far, and the relay's
 * address). */
void core_datagram_relayed(sw_core *c, const core_path *from, const uint8_t *buf, size_t len,
                           uint64_t now);

/* Dial along a path, relayed or direct: one HELLO now (a relay needs no punching; the
 * module that knows the path retries). SW_OK when already connected on it. */
int core_dial_path(sw_core *c, const core_path *path, uint64_t now);

/* ---- probe sockets (birthday.h) ------------------------------------------------ */

/* One HELLO along a path now (a direct path may name a probe socket), with no dial
 * schedule: SW_OK, or SW_OK without sending when a peer already has the path. */
int core_hello(sw_core *c, const core_path *path);
/* Whether the owner of the probe sockets still wants probe socket k (besides the ones
 * a peer's path uses, which the engine keeps itself). One owner; NULL detaches it. */
typedef int (*core_probe_want_fn)(void *state, unsigned probe);
void core_set_probe_owner(sw_core *c, core_probe_want_fn fn, void *state);

/* ---- module hooks --------------------------------------------------------- */

/* A protocol module. It attaches itself (its core_module_def below) and is then driven
 * through these hooks; every hook may be NULL. */
typedef struct core_module {
  const char *name;
  /* Main-socket frame types it owns (the WIRE_* enum in wire.h). A type has exactly one
   * owner across the engine and every module: claiming a taken one fails the attach.
   * on_frame gets them from any path, authenticated or not: check it. */
  const uint8_t *frames;
  size_t nframes;
  void (*on_frame)(void *m, const core_path *from, const uint8_t *buf, size_t len,
                   uint64_t now);
  /* Datagrams of the other sockets (SW_SOCK_DHT, SW_SOCK_LAN) it takes: a mask of
   * CORE_SOCKET(kind). Each kind has at most one owner. */
  unsigned sockets;
  void (*on_datagram)(void *m, sw_sock_kind kind, const sw_addr *from, const uint8_t *buf,
                      size_t len, uint64_t now);
  /* A main-socket datagram that is not a Setowire frame although its first byte may say
   * so (a STUN response starts with 0x01, as DATA does). Asked before the registry, for
   * direct datagrams only: return 1 only for what the module can prove is its own (a
   * transaction id it waits for); the datagram is then consumed. */
  int (*claim)(void *m, const sw_addr *from, const uint8_t *buf, size_t len, uint64_t now);
  /* The meet gate started a dial (full_id: NULL when discovery gave none). */
  void (*on_meet)(void *m, const sw_addr *addr, const uint8_t *full_id, uint64_t now);
  void (*on_connection)(void *m, const uint8_t wire[8], const sw_addr *addr, uint64_t now);
  void (*on_disconnect)(void *m, const uint8_t wire[8], uint64_t now);
  void (*on_join)(void *m, uint64_t now); /* a topic was added: the newest (core_topic_at) */
  void (*on_timeout)(void *m, uint64_t now);
  uint64_t (*deadline)(const void *m);
  void (*on_close)(void *m, uint64_t now);
  void (*free)(void *m);
  size_t (*memory)(const void *m);
  /* The published public address of a family changed (core_learn_public_addr). */
  void (*on_public_addr)(void *m, int family, uint64_t now);
  /* Stream messages of its channel (1-255; 0 is the application's) from a peer's
   * extended session: authenticated, in order, from the peer named by wire. */
  uint8_t stream_channel;
  void (*on_stream)(void *m, const uint8_t wire[8], const uint8_t *buf, size_t len,
                    uint64_t now);
  void *state;
  /* A topic was left (it is no longer among core_topic_at's): stop announcing it. */
  void (*on_leave)(void *m, const uint8_t topic[32], uint64_t now);
} core_module;

#define CORE_SOCKET(kind) (1u << (kind))
#define CORE_MAX_MODULES 32 /* a bound on a list the program chooses, not a table to fill */

/* Register a module: its frame types and socket kinds are claimed, all or nothing.
 * SW_EINVAL when one is already taken (the state is then not the engine's: the caller
 * frees it), SW_EFULL past CORE_MAX_MODULES, SW_ENOMEM. */
int core_add_module(sw_core *c, const core_module *m);
/* The state of the registered module with this name, or NULL. */
void *core_module_state(sw_core *c, const char *name);

/* How a module joins an engine: sw_core_new calls attach for each entry of the list it
 * is given (sw_core_config.modules, or core_default_modules), in order. attach reads the
 * configuration, returns SW_OK without registering when it is not asked for, and
 * otherwise builds its state and calls core_add_module. */
typedef struct core_module_def {
  const char *name;
  int (*attach)(sw_core *c, const sw_core_config *cfg, uint64_t now);
} core_module_def;

/* The modules a default engine runs (modules.c), NULL-terminated. */
extern const core_module_def *const core_default_modules[];

/* Prove our address again to a libsetowire peer (a sealed frame it verifies us by):
 * the one sent on connecting can be lost. No-op for reference peers. */
void core_prove(sw_core *c, const uint8_t wire[8]);

#endif
