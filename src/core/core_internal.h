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

/* ---- engine services ------------------------------------------------------ */

/* Queue one datagram on a socket kind (control room; counted as dropped when full). */
void core_send(sw_core *c, sw_sock_kind kind, const sw_addr *to, const uint8_t *d, size_t len);

/* Queue a control frame (HAVE, WANT, CHUNK, PEX...) to a connected peer, coalesced with
 * its other frames (PROTOCOL.md 8.1). SW_ENOTCONN, SW_EAGAIN, SW_EMSGSIZE. */
int core_send_ctrl(sw_core *c, const uint8_t wire[8], const uint8_t *frame, size_t len);

/* The one gate every discovery source ends in (DESIGN "meet" path): dial `addr` with
 * the punch schedule unless already connected or dialling; full_id (20 bytes, may be
 * NULL) is checked against the answering key. Rate-limited (D19): SW_EFULL when over. */
int core_meet(sw_core *c, const sw_addr *addr, const uint8_t *full_id, uint64_t now);

void core_rand(sw_core *c, void *buf, size_t n);
const crypto_identity *core_identity(const sw_core *c);
/* The joined 32-byte topic, or NULL before sw_core_join. */
const uint8_t *core_topic(const sw_core *c);
int core_connected(const sw_core *c, const uint8_t wire[8]);
/* Whether a source address belongs to a connected peer that has sent authenticated
 * frames from it (D6: control frames are accepted only from verified peers). Fills
 * wire when non-NULL. */
int core_verified_peer(sw_core *c, const sw_addr *from, uint8_t wire[8]);
/* The peer a source address is mapped to, verified or not, as CORE_PEER_* flags (0 when
 * none); fills wire when non-NULL. For modules that must also hear reference peers,
 * whose addresses are verified only once they send DATA (see sync.c). */
#define CORE_PEER_MAPPED 1
#define CORE_PEER_VERIFIED 2
#define CORE_PEER_LEGACY 4 /* a reference peer (41-byte HELLO) */
int core_peer_at(sw_core *c, const sw_addr *from, uint8_t wire[8]);
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

/* ---- module hooks --------------------------------------------------------- */

/* A protocol module, registered at core creation. Every hook may be NULL. */
typedef struct core_module {
  const char *name;
  /* A datagram of a kind other than the main socket's, or a main-socket frame type
   * the engine does not handle itself (from any address: check it). Return 1 when
   * consumed. */
  int (*on_datagram)(void *m, sw_sock_kind kind, const sw_addr *from, const uint8_t *buf,
                     size_t len, uint64_t now);
  void (*on_connection)(void *m, const uint8_t wire[8], const sw_addr *addr, uint64_t now);
  void (*on_disconnect)(void *m, const uint8_t wire[8], uint64_t now);
  void (*on_join)(void *m, uint64_t now);
  void (*on_timeout)(void *m, uint64_t now);
  uint64_t (*deadline)(const void *m);
  void (*on_close)(void *m, uint64_t now);
  void (*free)(void *m);
  size_t (*memory)(const void *m);
  /* The published public address of a family changed (core_learn_public_addr). */
  void (*on_public_addr)(void *m, int family, uint64_t now);
  void *state;
} core_module;

#define CORE_MAX_MODULES 8

/* Register a module (done by sw_core_new from the configuration). */
int core_add_module(sw_core *c, const core_module *m);
/* The state of the registered module with this name, or NULL. */
void *core_module_state(sw_core *c, const char *name);
/* Prove our address again to a libsetowire peer (a sealed frame it verifies us by):
 * the one sent on connecting can be lost. No-op for reference peers. */
void core_prove(sw_core *c, const uint8_t wire[8]);

#endif
