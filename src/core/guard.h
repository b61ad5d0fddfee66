/* The main socket's address guard (docs/THREATS.md "Main socket"): no UDP source address
 * is trusted until it has shown that it receives what we send there.
 *
 * - Anti-amplification: to an address not yet validated the engine sends at most
 *   GUARD_AMP_FACTOR times the bytes it received from it (QUIC's rule, RFC 9000 8.1).
 *   What does not fit waits in a small per-address queue until the address proves
 *   itself, and is dropped when it waits too long or the queue is full.
 * - Validation: a libsetowire peer answers a sealed CHALLENGE sent to the address (its
 *   RESPONSE carries our random nonce, which only a receiver there saw); a reference
 *   peer, which cannot echo anything, answers our PING with a PONG. A PONG that nobody
 *   asked for marks the address as sprayed, and for GUARD_POISON_MS no PONG from it
 *   validates anything, so forging PONGs is a losing game unless the forger sees our
 *   PINGs (an on-path attacker can: see THREATS.md).
 *
 * The HELLOs of our own dials are exempt: they go where discovery or the application
 * asked, under the dial rate limits (dial.c). Relayed paths are the relay's business.
 * Sans-I/O: time is passed in. */
#ifndef SW_CORE_GUARD_H
#define SW_CORE_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "wire.h"

#define GUARD_AMP_FACTOR 3        /* bytes out per byte in to an unvalidated address */
#define GUARD_SLOTS 512           /* addresses tracked (a power of two) */
#define GUARD_PROBE 8             /* open addressing: slots looked at per address */
#define GUARD_HELD_DGRAMS 64      /* datagrams waiting per unvalidated address */
#define GUARD_HELD_BYTES (64u * 1024u)  /* bytes waiting per unvalidated address */
#define GUARD_HELD_TOTAL (512u * 1024u) /* bytes waiting across all addresses */
#define GUARD_HELD_MS 10000       /* a waiting datagram older than this is dropped: a
                                   * reference peer is asked on one heartbeat in two, so
                                   * ten of them miss it once in a thousand */
#define GUARD_PROOF_MS 5000       /* a RESPONSE counts this long after its CHALLENGE */
#define GUARD_PONG_MS 1000        /* a reference's PONG validates only this soon after the PING */
#define GUARD_ASK_MS 250          /* one challenge or validation PING per address per this */
#define GUARD_POISON_MS 30000     /* an unasked PONG: no PONG validates the address for this */
#define GUARD_IDLE_MS 600000      /* a record silent this long may be reused */
#define GUARD_DGRAMS_KEEP 4       /* a new address displaces one that sent fewer first */
#define GUARD_PEND_MS 10000       /* under load: a HELLO waits this long for its address's PONG */

typedef struct guard_held {
  struct guard_held *next;
  uint64_t at;
  uint32_t sock;
  size_t len;
  uint8_t data[];
} guard_held;

typedef struct guard_rec {
  sw_addr addr;
  uint8_t used, validated, pings_out, has_nonce;
  uint8_t dgrams;         /* datagrams received from it, counted up to GUARD_DGRAMS_KEEP */
  uint64_t in, out;       /* bytes received from it, sent to it while unvalidated */
  uint64_t last;          /* last datagram either way */
  uint64_t ping_at, chal_at, nonce_at, poisoned_until;
  uint8_t nonce[WIRE_CHALLENGE_LEN];
  guard_held *held, *held_tail;
  unsigned nheld;
  size_t held_bytes;
  /* Under load (admit.h), a HELLO from a stranger makes no peer: its bytes wait here,
   * in the address's record, until the address answers a PING (guard_pend). */
  uint8_t pend_len;
  uint8_t pend[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  uint64_t pend_at;
} guard_rec;

typedef struct guard_table {
  guard_rec recs[GUARD_SLOTS];
  size_t held_bytes, nheld;
  /* Bounds of the times the waiting datagrams were held at (valid while nheld > 0, may
   * be loose): the heartbeat's expiry skips its scan of every slot while none can be
   * due. */
  uint64_t held_min, held_max;
  int urgent; /* the datagram being sent is a validation probe: it skips the queue */
  /* The datagram being sent is a goodbye at close (sw_core_close): it needs no byte
   * budget and always gets its place at the end of the queue (behind what waits, which
   * the runtime's drain still lets out when the address proves itself; ahead of it, the
   * goodbye would make the peer drop what follows). Nothing remote can cause it, and it
   * is sent once per peer in the engine's life (a sealed GOAWAY and the 2-byte one), so
   * it amplifies nothing. */
  int goodbye;
} guard_table;

struct sw_core;

/* A main-socket (or probe-socket) datagram of len bytes came from `from`. */
void guard_recv(struct sw_core *c, const sw_addr *from, size_t len, uint64_t now);
/* Whether `a` has proven that it receives. */
int guard_validated(struct sw_core *c, const sw_addr *a);
/* Queue a datagram for a direct address (sock as OUTQ_SOCK) under the limit: sent,
 * held, or dropped. SW_OK unless dropped (then a negative code). */
int guard_send(struct sw_core *c, uint32_t sock, const sw_addr *to, const uint8_t *d,
               size_t len, uint64_t not_before);
/* Whether a datagram of len bytes to `to` would be sent or held now (not dropped): the
 * application's writes get SW_EAGAIN otherwise, and SW_EV_WRITABLE once it validates. */
int guard_room(struct sw_core *c, const sw_addr *to, size_t len);
/* The nonce of a fresh challenge to `to`, or NULL when none is due (validated, or one was
 * asked less than GUARD_ASK_MS ago, unless `force`). */
const uint8_t *guard_challenge(struct sw_core *c, const sw_addr *to, int force, uint64_t now);
/* Whether a validation PING to `to` is due; if so it is recorded as sent. */
int guard_ping_due(struct sw_core *c, const sw_addr *to, uint64_t now);
/* A PONG came from `from`; a SEALED RESPONSE carrying nonce came from `from`. Both may
 * validate the address (then the held datagrams leave and paths waiting on it move). */
void guard_on_pong(struct sw_core *c, const sw_addr *from, uint64_t now);
void guard_on_response(struct sw_core *c, const sw_addr *from, const uint8_t *nonce,
                       uint64_t now);
/* `a` answered another challenge of ours that only a receiver there saw (the restart
 * challenge, PROTOCOL.md 21.3): validated. */
void guard_proven(struct sw_core *c, const sw_addr *a, uint64_t now);
/* Under load: keep a stranger's HELLO (or HELLO_ACK) in `from`'s record instead of making
 * a peer. 1 when kept (the caller answers a HELLO with a HELLO_ACK and stops), 0 when
 * there is no record for it (the caller refuses it). */
int guard_pend(struct sw_core *c, const sw_addr *from, const uint8_t *hello, size_t len,
               uint64_t now);
/* A PONG from an address with no peer: when it has a HELLO waiting and the PONG answers
 * our PING as guard_on_pong requires, the HELLO is taken now (session_hello_answered):
 * a reference's address is validated by it, a libsetowire peer's gets its challenge. */
void guard_pend_pong(struct sw_core *c, const sw_addr *from, uint64_t now);
/* Heartbeat: forget HELLOs kept GUARD_PEND_MS; take those whose address was validated
 * meanwhile by other means (another peer's challenge there). Sending their PINGs is
 * liveness.c's. */
void guard_pend_heartbeat(struct sw_core *c, uint64_t now);
/* Drop held datagrams that waited GUARD_HELD_MS. */
void guard_expire(struct sw_core *c, uint64_t now);
void guard_free(struct sw_core *c);
/* Datagrams held: the runtime's drain on closing waits for them too (sw_core_out_pending). */
static inline size_t guard_held_count(const guard_table *g) { return g->nheld; }

#endif
