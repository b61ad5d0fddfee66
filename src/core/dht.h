/* The DHT: a Kademlia node speaking the references' JSON messages (PROTOCOL.md 14.6)
 * on its own socket kind (SW_SOCK_DHT), a protocol module behind core_internal.h.
 *
 * Unlike the references (D24) it works: bootstrap nodes are reached by address and
 * learn their ids from the replies, lookups are iterative over the network (alpha 3,
 * K 20), records are announced to the closest nodes and expire, and a topic lookup
 * (types 8-10, an extension the references ignore; PROTOCOL.md 21.4)
 * lists a topic's members. Everything stored is capped (D17); every message is
 * parsed strictly and bounded (D18). Records found end in core_meet with their full id.
 * Our own addresses (records, announces) come from the engine's address service
 * (pubaddr.h; core_lan_addr: the main port and LAN IP), to which the PEERS replies'
 * observations of our IP are reported. */
#ifndef SW_CORE_DHT_H
#define SW_CORE_DHT_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "core.h"

struct sw_core;

/* 14.6: message types 1-7 of the references; 8-10 are ours. */
enum {
  DHT_PING = 1,
  DHT_PONG = 2,
  DHT_STORE = 3,
  DHT_FIND_NODE = 4,
  DHT_FOUND_NODE = 5,
  DHT_FIND_VALUE = 6,
  DHT_FOUND_VAL = 7,
  DHT_ANNOUNCE_PEER = 8, /* ours: {key, id, port}; the sender's source IP is recorded */
  DHT_GET_PEERS = 9,     /* ours: {key} */
  DHT_PEERS = 10         /* ours: {peers: [{id, ip, port}], nodes, ip: the asker's IP;
                            the IP only: it is seen on the asker's DHT socket, whose port
                            says nothing of its main socket's mapping (pubaddr.h) */
};

#define DHT_ID_LEN 20
#define DHT_K 20            /* 14.6: bucket size and closest-node count */
#define DHT_BUCKETS 160     /* 14.6 */
#define DHT_ALPHA 3         /* 14.6: parallel queries of a lookup */
#define DHT_MAX_DATAGRAM 8192 /* ours: longer datagrams are not parsed (D18) */
#define DHT_VALUE_MAX 1024  /* ours: longest stored value (a me record is ~150 bytes) */
#define DHT_MSG_NODES 20    /* ours: nodes read from one message (the references send <= 20) */
#define DHT_MSG_PEERS 32    /* ours: peer records in one PEERS reply */
#define DHT_TOKEN_LEN 8     /* ours: a write token, 16 hex on the wire (PROTOCOL.md 21.4) */
#define DHT_PAD_MAX 1024    /* ours: longest "pad" we write (a request's room for an answer) */

typedef struct dht_node {
  uint8_t id[DHT_ID_LEN];
  sw_addr addr;
} dht_node;

/* One message, parsed or to be encoded. */
typedef struct dht_msg {
  int type;
  int has_from, has_rpc, has_key, has_target, has_value, has_port, has_ip, has_id;
  uint8_t from[DHT_ID_LEN];
  uint8_t id[DHT_ID_LEN]; /* ANNOUNCE_PEER: the announcer's full peer id (2.2) */
  uint32_t rpc;
  /* ours: "token" (a write token, 21.4) and "pad" (filler that lets a node that does not
   * know us yet answer in full, within 3x what it received; its length when encoding) */
  int has_token, has_pad;
  uint8_t token[DHT_TOKEN_LEN];
  size_t pad;
  uint8_t key[DHT_ID_LEN];
  uint8_t target[DHT_ID_LEN];
  char value[DHT_VALUE_MAX + 1];
  size_t value_len;
  int has_nodes, has_peers;
  size_t nnodes, npeers;
  dht_node nodes[DHT_MSG_NODES];
  dht_node peers[DHT_MSG_PEERS];
  uint16_t port; /* ANNOUNCE_PEER: the announcer's main port */
  sw_addr ip;    /* PEERS: the asker's address as the replier saw it (port 0) */
} dht_msg;

/* Parse one datagram strictly: SW_OK, or SW_EINVAL for anything malformed (never
 * crashes, never reads past len). Unknown members are ignored. */
int dht_parse(const uint8_t *buf, size_t len, dht_msg *out);
/* Compact JSON in the references' member order; returns the length or SW_EMSGSIZE. */
int dht_encode(const dht_msg *m, uint8_t *out, size_t cap);

/* 14.6 bucket index (the references' formula: 8 * i + floor(log2(d[i])), 159 for 0). */
int dht_bucket_index(const uint8_t self[DHT_ID_LEN], const uint8_t other[DHT_ID_LEN]);
/* 14.6 put key: SHA-1 of the UTF-8 text. */
void dht_key(const char *text, uint8_t out[DHT_ID_LEN]);
/* Our topic lookup key: SHA-1("setowire:peers:" + topic hash). */
void dht_topic_key(const uint8_t topic[32], uint8_t out[DHT_ID_LEN]);

/* ---- the module ------------------------------------------------------------- */

/* The module's settings: struct dht_config, declared in core.h (sw_core_config.dht). */
typedef struct dht_config dht_config;

typedef struct dht_stats {
  uint64_t rx, rx_bad, tx, lookups, lookups_done, peers_found, meets;
  /* the guards (PROTOCOL.md 14.6, 21.4): requests over a rate limit, writes refused
   * (bad or missing token, a limit), answers cut to 3x for an unproven source, answers
   * not sent at all because even the shortest was over 3x, bytes in and out to
   * unproven sources */
  uint64_t rx_limited, writes_refused, tx_truncated, tx_withheld, unproven_in, unproven_out;
  size_t table_nodes, stored_values, stored_peers;
} dht_stats;

/* Create the module and register it with the core (done by sw_core_new when
 * sw_core_config.dht is set). */
int dht_attach(struct sw_core *c, const dht_config *cfg, uint64_t now);
/* sw_core_dht_bootstrap: core.h. */
/* 1 and the node id / stats when the core runs a DHT, else 0. */
int sw_core_dht_id(struct sw_core *c, uint8_t out[DHT_ID_LEN]);
int sw_core_dht_stats(struct sw_core *c, dht_stats *out);

/* Announce relay: records or stop (relay.c, when this node starts or stops serving as a
 * relay, however it became one: the option or a NAT found open or full cone). The
 * records go with the next topic lookup. No-op without the DHT. */
void dht_set_relay(struct sw_core *c, int on);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def dht_module;

#endif
