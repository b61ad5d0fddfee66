/* Introductions (PROTOCOL.md 11.7, 15.6): coordinated hole punching through a peer
 * connected to both sides. When the meet gate starts a dial to a peer whose id discovery
 * gave, we also send RELAY_REQ (requester, target, our public address) to a few of our
 * verified peers; a peer connected to the target passes it on as RELAY_FWD with the
 * address it sees the requester at (peer-reflexive: the mapping the requester's NAT made,
 * whatever the request claims), and the target dials that address at once. Both sides
 * then send their HELLOs at about the same time, which is what opens two cone NATs.
 * Neither frame is acknowledged, so while we are still not connected to the target the
 * request goes again, INTRO_TRIES in all, INTRO_RETRY_MS apart (one round per target
 * every INTRO_TARGET_MS).
 * Reference relays answer RELAY_REQ the same way (with the claimed address), and a
 * reference target dials on RELAY_FWD.
 *
 * Stricter than the references (D25): both frames only from verified peers; a request
 * only in the sender's own name; a forward only to a connected target; every send and
 * every dial rate-limited. */
#ifndef SW_CORE_INTRO_H
#define SW_CORE_INTRO_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "core.h"
#include "pex.h"

#define INTRO_ASK_PEERS 4      /* ours: peers asked to introduce us to one target */
#define INTRO_TARGET_MS 10000  /* ours: one round of requests per target this often */
#define INTRO_TRIES 3          /* ours: requests in a round, while not connected ... */
#define INTRO_RETRY_MS 500     /* ... this far apart (neither frame is acknowledged) */
#define INTRO_TARGETS 64       /* ours: targets remembered for that */
#define INTRO_EARLY 8          /* ours: forwards kept until our NAT type is known ... */
#define INTRO_EARLY_MS 15000   /* ... and how long such a forward, or a request that went
                                  without our type, is worth doing again */
#define INTRO_FWD_PER_S 10     /* ours: forwards a relay sends per second ... */
#define INTRO_FWD_BURST 20     /* ... and in a burst, plus for each connected peer: */
#define INTRO_FWD_PEER_PER_S 1 /* ours: ... this many more per second ... */
#define INTRO_FWD_PEER_BURST PEX_MAX /* ... and in a burst: one PEX round of its meets */
#define INTRO_FRAME_MAX (1 + 8 + 8 + 1 + 45 + 2 + 1)

/* Ours: one byte after the reference fields of RELAY_REQ and RELAY_FWD says the
 * requester's NAT type (PROTOCOL.md 15.6, 21.x), so two of our peers know who is the hard
 * side of a birthday punch (birthday.h). Reference peers send none and ignore it; a relay
 * of ours copies it from the request to the forward. Values are natclass.h's nat_type. */
#define INTRO_NAT_NONE 0 /* not sent, or unknown */
#define INTRO_NAT_MAX 4  /* NAT_TYPE_SYMMETRIC; a larger byte reads as unknown */

typedef struct intro_msg {
  uint8_t type;         /* WIRE_RELAY_REQ or WIRE_RELAY_FWD */
  uint8_t requester[8];
  uint8_t target[8];    /* RELAY_REQ only */
  sw_addr addr;         /* the requester's address as the frame gives it */
  uint8_t nat;          /* the requester's NAT type, INTRO_NAT_NONE: absent or unknown */
} intro_msg;

/* Decode RELAY_REQ / RELAY_FWD (the IP is numeric text, IPv4 or IPv6), with or without
 * our trailing NAT byte. 0 or SW_EINVAL. */
int intro_decode(const uint8_t *buf, size_t len, intro_msg *out);
/* Encode into out (INTRO_FRAME_MAX bytes), the NAT byte only when m->nat is set; returns
 * the length, 0 when addr has no family. */
size_t intro_encode(uint8_t *out, const intro_msg *m);

typedef struct intro_stats {
  uint64_t requests_sent, requests_in, forwards_sent, forwards_in, dials, refused;
  uint64_t retries; /* rounds' repeated requests (each to up to INTRO_ASK_PEERS peers) */
} intro_stats;
int intro_get_stats(sw_core *c, intro_stats *out);

extern const struct core_module_def intro_module;

#endif
