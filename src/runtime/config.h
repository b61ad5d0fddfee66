/* From the public options (setowire.h) to the engine's configuration (core.h): the
 * versions of sw_options the library accepts, their defaults, and the translation that
 * checks them. Nothing here opens a socket or touches the loop. */
#ifndef SW_RUNTIME_CONFIG_H
#define SW_RUNTIME_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "setowire.h"

#define CONFIG_BOOT_KEPT 16 /* numeric DHT bootstrap nodes handed to the engine */
#define CONFIG_BOOT_MAX 64  /* bootstrap entries accepted at all */
#define CONFIG_DEFAULT_PORT 49737 /* PROTOCOL.md 14.7, 19: port 0 in "host:0" */
#define CONFIG_STUN_MAX 64        /* STUN entries accepted at all (8 are used) */
#define CONFIG_STUN_PORT 3478     /* RFC 8489 9: port 0 in a STUN "host:0" */
/* The references' public STUN servers (PROTOCOL.md 15.1), used when none is given and
 * default servers are allowed. */
#define CONFIG_STUN_DEFAULTS                                                            \
  "stun.l.google.com:19302", "stun1.l.google.com:19302", "stun2.l.google.com:19302",   \
      "stun.cloudflare.com:3478", "stun.stunprotocol.org:3478",                         \
      "global.stun.twilio.com:3478", "stun.ekiga.net:3478"

/* sw_options as SW_OPTIONS_VERSION 1 laid it out (libsetowire 0.1.0): still accepted by
 * sw_swarm_new, converted by config_upgrade. Do not change. */
typedef struct sw_options_v1 {
  int version;
  const char *seed_hex;
  const char *bind;
  uint16_t port;
  size_t max_peers;
  int legacy_frag;
  size_t send_buffer_bytes;
  int lan, dht, stun, http;
  sw_event_cb on_event;
  void *user;
  int sync;
  const sw_storage *storage;
  size_t store_cache_max;
  size_t store_cache_bytes;
  const char *lan_addr;
  int pex;
  size_t (*load_peers)(void *ctx, sw_peer_entry *out, size_t max);
  int (*save_peers)(void *ctx, const sw_peer_entry *list, size_t n);
  void *peers_ctx;
  const char *const *bootstrap_http;
  size_t n_bootstrap_http;
  const char *const *piping;
  size_t n_piping;
  int no_default_servers;
  const char *const *bootstrap;
  size_t nbootstrap;
  uint16_t dht_port;
  const char *const *seeds;
  size_t nseeds;
  int relay;
} sw_options_v1;

/* sw_options as SW_OPTIONS_VERSION 2 laid it out: still accepted. Do not change. */
typedef struct sw_options_v2 {
  int version;
  const char *seed_hex;
  const char *bind;
  uint16_t port;
  size_t max_peers;
  int legacy_frag;
  size_t send_buffer_bytes;
  int lan, dht, http;
  sw_event_cb on_event;
  void *user;
  int sync;
  const sw_storage *storage;
  size_t store_cache_max;
  size_t store_cache_bytes;
  const char *lan_addr;
  int pex;
  size_t (*load_peers)(void *ctx, sw_peer_entry *out, size_t max);
  int (*save_peers)(void *ctx, const sw_peer_entry *list, size_t n);
  void *peers_ctx;
  const char *const *bootstrap_http;
  size_t n_bootstrap_http;
  const char *const *piping;
  size_t n_piping;
  int no_default_servers;
  const char *const *bootstrap;
  size_t nbootstrap;
  uint16_t dht_port;
  const char *const *seeds;
  size_t nseeds;
  int relay;
  const char *const *stun;
  size_t nstun;
  int no_stun;
} sw_options_v2;

/* Copy opts, of any version we accept, into the current layout. SW_OK, or SW_EINVAL for
 * a NULL pointer or an unknown version. */
int config_upgrade(sw_options *out, const sw_options *opts);

/* The engine's configuration and the storage it points into. */
typedef struct config {
  sw_core_config core;
  sw_core_dht_config dht;          /* core.dht points here when the DHT is on */
  sw_addr boot[CONFIG_BOOT_KEPT];  /* numeric bootstrap nodes (names: resolved later) */
  char lan_ip[46];                 /* the address LAN beacons and records announce */
} config;

/* Check o and translate it into c. What only the open sockets and the runtime know is
 * left for the caller: core.port and dht.main_port (the main socket's port), core.lan
 * (whether the LAN socket opened), core.unix_offset_ms, core.random, core.on_event,
 * core.ctx. c points into o's strings: keep o alive until sw_core_new returns.
 * SW_OK or SW_EINVAL. */
int config_from_options(config *c, const sw_options *o);

#endif
