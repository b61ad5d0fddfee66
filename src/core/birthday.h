/* Birthday punching (PROTOCOL.md 15.6, 21.x): a symmetric NAT (a new mapping, at an
 * unpredictable port, per destination) facing a NAT with an endpoint-independent mapping
 * and a port-dependent filter (restricted cone, port-restricted cone) never opens with
 * the ordinary punch: the address the rendezvous saw the symmetric side at is not the
 * mapping its NAT makes toward the other side, and the other side's filter admits only
 * ports it sent to. Many probes on both sides make a collision likely instead:
 *
 *   hard side (symmetric): opens BDAY_SOCKETS probe sockets (SW_SOCK_PROBE) and sends one
 *     HELLO from each to the easy side's mapped address. Each makes a mapping on its NAT
 *     that admits that address, at some port of the NAT's public IP.
 *   easy side (EIM): sends BDAY_PROBES HELLOs from its main socket to random ports of the
 *     hard side's public IP, paced over BDAY_SPRAY_MS. Each opens its own filter for that
 *     IP and port. When one lands on one of the hard side's mappings, the HELLO goes in,
 *     the HELLO_ACK comes back through the filter it opened, and a session forms on that
 *     probe socket, which the hard side then keeps for as long as the session has the path.
 *   With 256 of 64 512 ports open and 1024 probes, a hit has probability
 *   1 - (1 - 256/64512)^1024, about 98 %.
 *
 * Both sides learn who is hard from the introduction (intro.h: the NAT byte of RELAY_REQ
 * and RELAY_FWD), so a spray happens only after an introduction by a verified peer, and
 * only when our NAT type (nat.h) and theirs pair a symmetric side with a restricted or
 * port-restricted cone. It starts BDAY_DELAY_MS after the introduction if no session
 * formed by then (the easy side BDAY_EASY_LAG_MS later still, so the hard side's
 * mappings exist when the probes come), stops at the first session, happens at most once
 * per introduced peer (BDAY_PEERS remembered) and at most once per BDAY_PERIOD_MS in all.
 * Probes are HELLOs (small, and what a reference peer ignores unless it is the one). The
 * probe sockets are held BDAY_HOLD_MS from the start; after that only those a session has
 * a path on stay (usually one; two probes can land before the spray stops), for as long
 * as it has the path (sw_core_probe_wanted). The module attaches only when
 * the runtime offers probe sockets (sw_core_config.probe_sockets) and introductions run. */
#ifndef SW_CORE_BIRTHDAY_H
#define SW_CORE_BIRTHDAY_H

#include <stdint.h>

#include "addr.h"
#include "core.h"

#define BDAY_SOCKETS 256      /* hard side: probe sockets (<= SW_CORE_PROBE_MAX) */
#define BDAY_PROBES 1024      /* easy side: HELLOs to random ports */
#define BDAY_DELAY_MS 1000    /* the ordinary punch's chance first */
#define BDAY_EASY_LAG_MS 400  /* the easy side starts this much later */
#define BDAY_SPRAY_MS 1200    /* easy side: the probes spread over this */
#define BDAY_TICK_MS 20       /* pacing step, both sides */
#define BDAY_HOLD_MS 5000     /* hard side: probe sockets held this long */
#define BDAY_PERIOD_MS 30000  /* one spray per this, whatever the peer */
#define BDAY_PEERS 16         /* introduced peers remembered: one spray each at most */
#define BDAY_PORT_MIN 1024    /* easy side: the port range drawn from */

enum { BDAY_NONE = 0, BDAY_HARD = 1, BDAY_EASY = 2 };

/* Our role given our NAT type and theirs (natclass.h's nat_type values): BDAY_HARD,
 * BDAY_EASY, or BDAY_NONE when the ordinary punch suffices or nothing would. */
int birthday_role(int ours, int theirs);

/* An introduction told us of `peer` (wire id), its address as the introducer saw it and
 * its NAT type. Schedules a spray when the pair calls for one (no-op without the module). */
void birthday_intro(sw_core *c, const uint8_t peer[8], const sw_addr *addr, int their_nat,
                    uint64_t now);

typedef struct birthday_stats {
  uint64_t scheduled; /* introductions that called for a spray */
  uint64_t started;   /* sprays begun (hard or easy) */
  uint64_t skipped;   /* connected before the start, or refused by the rate */
  uint64_t hellos;    /* probe HELLOs sent */
  uint64_t connected; /* sessions that formed during a spray */
} birthday_stats;
int birthday_get_stats(sw_core *c, birthday_stats *out);

/* The same with the role given (what birthday_intro does once it has the role; tests
 * call it directly). SW_OK, SW_EINVAL (no module, no role), SW_EFULL (peer had one). */
int birthday_schedule(sw_core *c, const uint8_t peer[8], const sw_addr *addr, int role,
                      uint64_t now);

extern const struct core_module_def birthday_module;

#endif
