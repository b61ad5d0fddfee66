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
} sim_node_stats;

typedef struct simnet_stats {
  uint64_t sent;        /* datagrams the cores emitted */
  uint64_t delivered;   /* copies handed to a core */
  uint64_t lost;        /* dropped by the loss probability */
  uint64_t duplicated;  /* extra copies made */
  uint64_t partitioned; /* dropped by a cut link, at send or on arrival */
  uint64_t unroutable;  /* no node at the destination address (any more) */
  uint64_t overflow;    /* dropped because the in-flight bound was reached */
  uint64_t steps;       /* events processed */
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

/* API calls of node i's application; each one then collects what the core emitted. */
int simnet_dial(simnet *net, int from, int to); /* with the target's full id */
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
