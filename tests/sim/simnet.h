/* simnet: a deterministic discrete-event network for sw_core (DESIGN.md, "sim").
 *
 * N cores, each with its own simulated address 10.0.x.y:port (no socket is ever
 * opened), share one virtual clock and one event queue, a binary heap of datagram
 * deliveries and node deadlines ordered by (time, insertion order). Every random
 * choice, the network's (loss, delay, jitter, duplication) and each core's own random
 * source, comes from one seed, so a failing run replays exactly from its seed.
 *
 * The runner follows a real event loop (src/runtime/swarm.c) one event at a time:
 *   datagram due   -> sw_core_datagram(receiver)
 *   deadline due   -> sw_core_timeout(node)
 * and after every step of a node (and every API call made through simnet_*):
 *   sw_core_flush, then each sw_core_out_peek datagram is put on the network and
 *   consumed, then the node's next deadline is (re)scheduled.
 *
 * What nodes observe (connections, data with payloads, disconnects) is recorded per
 * node for assertions. All memory is bounded: in-flight datagrams, the event log and
 * the number of nodes have caps, and what does not fit is counted, never hidden.
 *
 * NATs (RFC 4787 terms): a node may sit behind a simulated NAT, alone or with others on
 * the NAT's private LAN (a /24; nodes on one LAN reach each other directly at their
 * private addresses). A datagram from such a node to anything off its LAN leaves with the
 * NAT's public IP and the port of a mapping chosen by the mapping behaviour; a datagram
 * arriving at the NAT's public IP goes in only if a live mapping owns that port and the
 * filtering behaviour admits its source, else it is dropped and counted. Mappings expire
 * in virtual time (30 s one-way, 120 s once inbound traffic passed, as Linux conntrack
 * does), are refreshed by outbound (and by default inbound) traffic, and are bounded.
 * Outbound translation happens when a datagram is sent, inbound filtering when it
 * arrives, so simultaneous opens behave as on a real network. A node without a NAT is
 * "open": its own address is public.
 *
 * Addresses: the simulated internet is 10.0.0.0/16 (open nodes, NAT public IPs,
 * endpoints); a NAT's LAN is 172.(16 + n / 256).(n % 256).0/24 for NAT n unless its
 * configuration names another /24, and its nodes are .2 to .254. Private addresses are
 * routed on their own LAN only (two NATs may use the same subnet, as homes do).
 *
 * Endpoints are raw public sockets without a core (a rendezvous, a STUN-like reflector,
 * a probe): what reaches them is counted and handed to a callback, and they can send.
 *
 * Probe sockets: see simnet_probe_sockets.
 *
 * Replay: SIMNET_SEED=<n> makes simnet_seeds() return only that seed; SIMNET_TRACE=1
 * prints every datagram and event to stderr. */
#ifndef SW_SIMNET_H
#define SW_SIMNET_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "testutil.h"

#define SIMNET_MAX_NODES 1024
#define SIMNET_MAX_INFLIGHT 65536                 /* datagrams on the wire at once */
#define SIMNET_MAX_INFLIGHT_BYTES (64u << 20)
#define SIMNET_LOG_MAX 16384                      /* recorded events per node */
#define SIMNET_LOG_MAX_BYTES (16u << 20)          /* recorded payload bytes per node */
#define SIMNET_MAX_NATS 1024
#define SIMNET_MAX_ENDPOINTS 256
#define SIMNET_NAT_MAX_PERMS 1024                 /* filter permissions per mapping */
#define SIMNET_ENDPOINT_PORT 3478                 /* an endpoint's default port */
#define SIMNET_PROBE_PORT 50000 /* probe socket k of a node: its IP, this port + k */
/* The index of endpoint e wherever a node index names one end of a link
 * (simnet_set_link, simnet_partition). */
#define SIMNET_EP(e) (SIMNET_MAX_NODES + (e))

typedef struct simnet simnet;

/* Impairments of one direction of a link. */
typedef struct sim_link {
  double loss;        /* probability that a datagram is lost */
  double dup;         /* probability that a datagram is delivered a second time */
  uint32_t delay_ms;  /* one-way base delay */
  uint32_t jitter_ms; /* extra delay, uniform in [0, jitter_ms] per copy: reordering */
} sim_link;

/* One event a node's application saw. */
typedef struct sim_record {
  uint64_t t_ms;
  sw_event_type type;
  uint8_t peer[SW_WIRE_ID_LEN]; /* CONNECTION, DATA (last hop), DISCONNECT */
  uint8_t *data;                /* DATA: a copy of the message */
  size_t len;
} sim_record;

typedef struct sim_node_stats {
  uint64_t connections, disconnects, data;
  uint64_t rx_datagrams, tx_datagrams;
  uint64_t last_rx_ms; /* time of the last datagram handed to this node */
  uint64_t log_dropped; /* events not recorded because the log was full */
  sw_addr last_rx_from; /* source of the last datagram handed to it, as it saw it */
  int last_rx_kind;     /* the socket that datagram arrived on (sw_sock_kind; a probe
                           socket k: 0x100 + k) */
  uint64_t probes_opened; /* probe sockets opened (SW_SOCK_PROBE), over its life */
} sim_node_stats;

typedef struct simnet_stats {
  uint64_t sent;        /* datagrams emitted (cores, simnet_send_raw, endpoints) */
  uint64_t delivered;   /* copies handed to a core */
  uint64_t lost;        /* dropped by the loss probability */
  uint64_t duplicated;  /* extra copies made */
  uint64_t partitioned; /* dropped by a cut link, at send or on arrival */
  uint64_t unroutable;  /* no node at the destination address (any more) */
  uint64_t overflow;    /* dropped because the in-flight bound was reached */
  uint64_t steps;       /* events processed */
  uint64_t nat_dropped; /* dropped by a NAT: no mapping, filtered, hairpin off, full */
} simnet_stats;

/* Called for every event any node emits, after it is recorded. It runs inside the
 * core's callback: it may look, but must not call into the net or any core. */
typedef void (*simnet_hook)(void *ctx, simnet *net, int node, const sw_event *ev);

simnet *simnet_new(uint64_t seed);
void simnet_free(simnet *net);
uint64_t simnet_seed(const simnet *net);
uint64_t simnet_now(const simnet *net);

/* The impairments of every link without its own setting (default: 10 ms, perfect). */
void simnet_set_default_link(simnet *net, const sim_link *l);
/* Own impairments for the link between a and b, both directions. */
void simnet_set_link(simnet *net, int a, int b, const sim_link *l);
/* Cut (down = 1) or restore the link between a and b, both directions. A cut drops
 * datagrams sent while it lasts and those still in flight when they arrive. */
void simnet_partition(simnet *net, int a, int b, int down);
void simnet_set_hook(simnet *net, simnet_hook fn, void *ctx);

/* Called for every core before it is created (simnet_add_node, simnet_restart_node):
 * it may fill more of the configuration (modules such as the DHT). What it points to
 * must stay valid during sw_core_new only. */
typedef void (*simnet_config_fn)(void *ctx, simnet *net, int node, sw_core_config *cfg);
void simnet_set_config(simnet *net, simnet_config_fn fn, void *ctx);

/* Add a node with the identity seed (hex), or NULL for one derived from the net's seed.
 * Returns its index, or -1. */
int simnet_add_node(simnet *net, const char *seed_hex);
/* Destroy node i's core without a goodbye (a crash) and create a new one with the same
 * identity and a fresh random stream, at a new address unless keep_address. Its log
 * and counters stay. */
int simnet_restart_node(simnet *net, int i, int keep_address);
/* Destroy node i's core without a goodbye; datagrams to it become unroutable. */
void simnet_kill_node(simnet *net, int i);
int simnet_node_count(const simnet *net);
sw_core *simnet_core(simnet *net, int i);
const sw_addr *simnet_addr(const simnet *net, int i);
/* Node i's DHT socket (same host, port 20000 + host % 20000); SW_SOCK_DHT datagrams
 * are routed between these addresses. */
const sw_addr *simnet_dht_addr(const simnet *net, int i);
const uint8_t *simnet_id(const simnet *net, int i); /* full id, 20 bytes */
/* Index of the node whose wire id is `wire`, or -1. */
int simnet_node_by_wire(const simnet *net, const uint8_t wire[SW_WIRE_ID_LEN]);

/* ---- NATs ---------------------------------------------------------------------- */

/* Mapping and filtering behaviours (RFC 4787 sections 4.1 and 5): which part of the
 * remote endpoint a mapping is specific to / a datagram's source must have been sent to
 * through that mapping before. */
typedef enum sim_nat_dep {
  SIM_NAT_EI = 0,  /* endpoint-independent */
  SIM_NAT_AD = 1,  /* address-dependent */
  SIM_NAT_APD = 2, /* address-and-port-dependent */
} sim_nat_dep;

/* How a new mapping's external port is chosen. Ports are in 1024..65535 and never
 * shared by two live mappings of one NAT. */
typedef enum sim_nat_ports {
  SIM_NAT_PORT_PRESERVE = 0,   /* the internal port when free, else as SEQUENTIAL */
  SIM_NAT_PORT_SEQUENTIAL = 1, /* the next free port after the last one given */
  SIM_NAT_PORT_RANDOM = 2,     /* a free port drawn at random (from the net's seed) */
} sim_nat_ports;

typedef struct sim_nat_config {
  sim_nat_dep mapping;
  sim_nat_dep filtering;
  sim_nat_ports ports;
  uint32_t timeout_ms;       /* lifetime after the last refresh, one-way; 0: 30000 */
  uint32_t timeout_bidir_ms; /* ... once an inbound datagram passed; 0: 120000 */
  int hairpin;               /* 1: inside -> own public address is looped back inside */
  int no_inbound_refresh;    /* 1: admitted inbound traffic refreshes nothing */
  uint32_t max_mappings;     /* live mappings at once (0: 4096, at most 60000); an
                                outbound datagram needing one more is dropped */
  uint8_t lan_prefix[3];     /* the LAN's /24, e.g. {192, 168, 1}; {0,0,0}: default.
                                Never inside 10.0.0.0/16 */
} sim_nat_config;

/* Common types, as presets for sim_nat_config (tweak fields afterwards). */
typedef enum sim_nat_type {
  SIM_NAT_OPEN = 0,            /* no NAT: simnet_add_nat_type returns -1 (open) */
  SIM_NAT_FULL_CONE,           /* EI mapping, EI filtering, port preserved */
  SIM_NAT_RESTRICTED_CONE,     /* EI mapping, AD filtering, port preserved */
  SIM_NAT_PORT_RESTRICTED,     /* EI mapping, APD filtering, port preserved (Linux
                                  MASQUERADE) */
  SIM_NAT_SYMMETRIC,           /* APD mapping, APD filtering, random ports
                                  (MASQUERADE --random-fully) */
  SIM_NAT_SYMMETRIC_SEQ,       /* APD mapping, APD filtering, sequential ports
                                  (predictable) */
  SIM_NAT_TYPE_COUNT
} sim_nat_type;

/* Fill cfg with the preset (all presets: default timeouts and bound, hairpin on). */
void simnet_nat_preset(sim_nat_config *cfg, sim_nat_type type);
const char *simnet_nat_type_name(sim_nat_type type);

typedef struct sim_nat_stats {
  uint64_t mappings_created, mappings_expired; /* expired: removed after their timeout */
  uint64_t out;             /* datagrams translated outbound */
  uint64_t in;              /* datagrams admitted inbound and translated */
  uint64_t no_mapping;      /* inbound dropped: no live mapping owns the port */
  uint64_t filtered;        /* inbound dropped by the filtering behaviour */
  uint64_t hairpinned;      /* inside -> own public address, looped back (then filtered
                               like any inbound datagram) */
  uint64_t hairpin_dropped; /* the same with hairpinning off */
  uint64_t full;            /* outbound dropped: max_mappings live already */
  uint64_t port_not_preserved; /* PRESERVE wanted the internal port, it was taken */
  uint64_t perms_evicted;   /* oldest filter permission replaced (SIMNET_NAT_MAX_PERMS) */
} sim_nat_stats;

/* A NAT with its own public IP (a fresh host in 10.0/16). Returns its index, or -1. */
int simnet_add_nat(simnet *net, const sim_nat_config *cfg);
/* simnet_add_nat with a preset; SIM_NAT_OPEN returns -1, meaning "no NAT", so the result
 * can go straight to simnet_add_node_behind. On failure also -1: check simnet_fault. */
int simnet_add_nat_type(simnet *net, sim_nat_type type);
int simnet_nat_count(const simnet *net);
const sim_nat_config *simnet_nat_config(const simnet *net, int nat); /* defaults filled */
/* The NAT's public address (port 0). */
const sw_addr *simnet_nat_public(const simnet *net, int nat);
const sim_nat_stats *simnet_nat_stats(const simnet *net, int nat);
/* Live mappings of the NAT at the current time. */
size_t simnet_nat_mappings(simnet *net, int nat);

/* Add a node behind NAT `nat` (-1: open, same as simnet_add_node) at the next free
 * address of its LAN. port: its main socket's port (0: 40000 + the LAN slot); its DHT
 * socket is at 20000 + slot, or port + 1 (port - 1 for 65535) when port is given. Open
 * nodes ignore port. Returns the node's index, or -1. */
int simnet_add_node_behind(simnet *net, const char *seed_hex, int nat, uint16_t port);
/* The NAT node i sits behind, -1: open. (simnet_addr and simnet_dht_addr are its own,
 * private, socket addresses.) */
int simnet_node_nat(const simnet *net, int i);
/* The source address `remote` would see now for a datagram from node i's socket
 * `kind`: 1 and *out if known (open node: its own address; behind a NAT: a live mapping
 * that would be used), 0 if a new mapping would be needed. Changes nothing. */
int simnet_nat_mapped(simnet *net, int i, sw_sock_kind kind, const sw_addr *remote,
                      sw_addr *out);

/* Probe sockets (SW_SOCK_PROBE) node i has open now. As the runtime does, the simulator
 * opens probe socket k the first time the core sends on it, and closes the open ones the
 * core no longer wants (sw_core_probe_wanted), asking once a second; they are also gone
 * when the node is killed or restarted. */
unsigned simnet_probe_sockets(const simnet *net, int i);

/* ---- raw sockets ----------------------------------------------------------------- */

/* An endpoint saw a datagram. It runs in the runner, not inside a core: it may call
 * simnet_endpoint_send and the API calls below. */
typedef void (*simnet_endpoint_fn)(void *ctx, simnet *net, int ep, const sw_addr *from,
                                   const uint8_t *data, size_t len);

typedef struct sim_endpoint_stats {
  uint64_t rx;
  uint64_t last_rx_ms;
  sw_addr last_from; /* source address of the last datagram, as the endpoint saw it */
} sim_endpoint_stats;

/* A public endpoint on a fresh host (same_host_as < 0) or on endpoint same_host_as's
 * host (same IP, another port); port 0: SIMNET_ENDPOINT_PORT. fn may be NULL. Returns
 * its index, or -1. Its links use SIMNET_EP(index). */
int simnet_add_endpoint(simnet *net, int same_host_as, uint16_t port, simnet_endpoint_fn fn,
                        void *ctx);
const sw_addr *simnet_endpoint_addr(const simnet *net, int ep);
const sim_endpoint_stats *simnet_endpoint_stats(const simnet *net, int ep);
int simnet_endpoint_send(simnet *net, int ep, const sw_addr *to, const void *data,
                         size_t len);
/* Put a datagram on the network from node i's socket `kind` (main or DHT) without its
 * core, as a runtime's own probe would: through its NAT like anything else. */
int simnet_send_raw(simnet *net, int i, sw_sock_kind kind, const sw_addr *to,
                    const void *data, size_t len);

/* API calls of node i's application; each one then collects what the core emitted. */
int simnet_dial(simnet *net, int from, int to); /* with the target's full id, at its own
                                                   address (behind a NAT: its private one) */
/* Dial node `to`'s full id at `addr` (e.g. its public mapped address). */
int simnet_dial_addr(simnet *net, int from, int to, const sw_addr *addr);
int simnet_write(simnet *net, int from, int to, const void *data, size_t len);
int simnet_broadcast(simnet *net, int from, const void *data, size_t len);
int simnet_close(simnet *net, int i);
/* After calling the core of node i directly: collect its output, reschedule it. */
void simnet_kick(simnet *net, int i);

/* Process the next event if it is due at or before limit_ms. Returns 1 if one was
 * processed, 0 if none is due (the clock is left where it is). */
int simnet_step(simnet *net, uint64_t limit_ms);
/* Process every event due at or before t_ms, then set the clock to t_ms. */
void simnet_run_until(simnet *net, uint64_t t_ms);
/* Like simnet_run_until, but stop as soon as cond() holds after an event (or at once
 * if it holds already). Returns 1 when cond held (the clock is at that event), else 0. */
typedef int (*simnet_cond)(simnet *net, void *ctx);
int simnet_run_until_cond(simnet *net, uint64_t t_max_ms, simnet_cond cond, void *ctx);

const simnet_stats *simnet_get_stats(const simnet *net);
const sim_node_stats *simnet_node_stats(const simnet *net, int i);
/* The records of node i, oldest first; returns how many. */
size_t simnet_log(const simnet *net, int i, const sim_record **out);
/* How many records of node i have this type, from `peer` (NULL: any) at or after t. */
size_t simnet_count(const simnet *net, int i, sw_event_type type, const uint8_t *peer,
                    uint64_t since_ms);
/* NULL while healthy; else what went wrong inside the simulator (a core whose
 * deadline never advances, an allocation failure). */
const char *simnet_fault(const simnet *net);

/* The seeds a scenario runs: `dflt`, or only $SIMNET_SEED when it is set. */
size_t simnet_seeds(const uint64_t *dflt, size_t n, uint64_t *out);

/* Fail the current cmocka test with the seed that replays it. */
#define SIM_ASSERT(net, cond, ...)                                                     \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      print_error("simnet: seed %llu failed at t=%llu ms (replay: SIMNET_SEED=%llu)\n", \
                  (unsigned long long)simnet_seed(net),                                \
                  (unsigned long long)simnet_now(net),                                 \
                  (unsigned long long)simnet_seed(net));                               \
      fail_msg(__VA_ARGS__);                                                           \
    }                                                                                  \
  } while (0)

#endif
