/* Peer exchange (PROTOCOL.md 11.6): every 60 s each peer gets a PEX frame listing up
 * to 20 of our other peers (8-byte wire id, IP text, port); received lists are taken
 * only from verified peers (D6, D19), kept in the peer cache as hints that never
 * displace a peer we met (peercache_hint), and met through core_meet, at most
 * PEX_DIALS per sender per minute, what one honest list needs. A protocol module. */
#ifndef SW_CORE_PEX_H
#define SW_CORE_PEX_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "peercache.h"

#define PEX_MAX 20              /* PROTOCOL.md 19 PEX_MAX: entries sent, and taken per frame */
#define PEX_INTERVAL_MS 60000   /* PROTOCOL.md 19 PEX_INTERVAL */
#define PEX_IP_MAX 45           /* longest IP text we write or read (IPv6, D21) */
#define PEX_FRAME_MAX (2 + PEX_MAX * (1 + 20 + 1 + PEX_IP_MAX + 2))
#define PEX_DIALS PEX_MAX       /* ours: dials one sender's lists may cause per PEX_INTERVAL_MS */
#define PEX_SENDERS 64          /* ours: senders whose dial budget is tracked */

typedef struct pex_entry {
  uint8_t id[20];
  uint8_t idlen; /* 8 (what the references send) or 20 */
  sw_addr addr;
} pex_entry;

/* Encode up to PEX_MAX entries (their ids at idlen bytes). Returns the length, or 0 when
 * `cap` is too small. */
size_t pex_encode(uint8_t *out, size_t cap, const pex_entry *e, size_t n);

/* Parse a PEX frame: at most `max` entries are returned; parsing stops at the first
 * truncated entry (as the references do); entries with an id length other than 8 or 20,
 * bad IP text or port 0 are skipped. SW_EINVAL when it is not a PEX frame at all. */
int pex_parse(const uint8_t *buf, size_t len, pex_entry *out, size_t max, size_t *n);

typedef struct pex_stats {
  uint64_t sent, received, unverified, entries, skipped, met;
  uint64_t over_budget; /* entries not dialled: their sender's PEX_DIALS were spent */
} pex_stats;

typedef struct pex pex;

int pex_attach(sw_core *c, peercache *pc, uint64_t now, pex **out);
void pex_get_stats(const pex *p, pex_stats *out);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def pex_module;

#endif
