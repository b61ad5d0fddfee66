/* Our addresses as others should dial them: the LAN endpoint (the configured LAN IP
 * and the main socket's port) and the public endpoint(s) learned from the network,
 * IPv4 and IPv6 apart, each with the source and time it was learned. One engine
 * service (core_internal.h: core_public_addr, core_learn_public_addr, core_lan_addr)
 * that every publisher reads: the DHT's records and announces, the HTTP bootstrap
 * announce, the piping record, LAN beacons. When the published address of a family
 * changes, the engine calls each module's on_public_addr hook so it re-announces.
 *
 * Sources differ in what they observe. A STUN binding sent from the main socket gives
 * the main socket's mapping, IP and port. A DHT node's observation (our PEERS reply,
 * dht.h) gives only an IP: the DHT has its own socket, so the port that node saw is
 * another socket's mapping and says nothing about the main one (DESIGN, NAT notes).
 * Such an address is kept with port 0: "IP known, mapped port unknown". Sans-I/O, no
 * clock: time is passed in. */
#ifndef SW_CORE_PUBADDR_H
#define SW_CORE_PUBADDR_H

#include <stdint.h>

#include "addr.h"

struct sw_core;

/* Sources, weakest first: a stronger source wins while its answer is fresh. */
enum {
  PUBADDR_SRC_NONE = 0,
  PUBADDR_SRC_DHT = 1,  /* a DHT node's observation: IP only */
  PUBADDR_SRC_STUN = 2, /* a STUN binding from the main socket: IP and mapped port */
  PUBADDR_NSRC
};

/* ours: how long a source's answer outranks a weaker source that disagrees with it.
 * A weaker answer that agrees (same IP) renews the stronger one instead. */
#define PUBADDR_FRESH_MS (10u * 60000u)

typedef struct pubaddr_entry {
  sw_addr addr;        /* port 0: the mapped port is unknown (an IP-only source) */
  uint64_t learned_at; /* the `now` of the answer (or of the last agreeing one) */
  int source;          /* PUBADDR_SRC_*; NONE: empty */
} pubaddr_entry;

typedef struct pubaddr {
  sw_addr lan;                          /* family 0 when no usable LAN IP was given */
  pubaddr_entry seen[2][PUBADDR_NSRC];  /* [IPv4, IPv6][source]: the latest answer */
  pubaddr_entry cur[2];                 /* what is published, per family */
  uint64_t changes;                     /* published-address changes, both families */
} pubaddr;

/* lan_ip: numeric text (NULL or malformed: none, and records say 127.0.0.1 as both
 * references do); main_port: the main socket's local port (0: not known). */
void pubaddr_init(pubaddr *p, const char *lan_ip, uint16_t main_port);
/* Record an answer. a->family 4 or 6 (anything else is ignored); for an IP-only
 * source the port is dropped. Returns 1 when the published address of that family
 * changed (address, port or source), else 0. */
int pubaddr_learn(pubaddr *p, const sw_addr *a, int source, uint64_t now);
/* The published entry of a family (4 or 6), or NULL when nothing was learned. */
const pubaddr_entry *pubaddr_get(const pubaddr *p, int family);

/* The public endpoint to put in a record, IPv4 preferred: 1 and *out when one has a
 * mapped port. With ip_only_ok, an IP without a known mapped port is returned too,
 * paired with our local main port: only for formats that need an (ip, port) pair the
 * references read (the DHT's topic: and relay: records), where this pairing is what
 * they have always published; it is right only behind a port-preserving NAT. */
int pubaddr_record_endpoint(struct sw_core *c, int ip_only_ok, sw_addr *out);

#endif
