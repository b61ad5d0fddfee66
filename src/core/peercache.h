/* The peer cache (PROTOCOL.md 14.8): addresses of peers met before, kept in memory,
 * bounded (PEERCACHE_MAX entries, the oldest evicted), handed to the application as
 * the `peers` event and the save callback every 30 s and at close, loaded at start
 * through the load callback, and dialled (the 30 newest) when discovery starts.
 * A protocol module (core_internal.h); other modules feed it with peercache_add. */
#ifndef SW_CORE_PEERCACHE_H
#define SW_CORE_PEERCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define PEERCACHE_MAX 256         /* ours: entries kept (the references never prune, D17) */
#define PEERCACHE_HINTS 64        /* ours: of which at most this many peer-list hints */
#define PEERCACHE_EMIT 200        /* PROTOCOL.md 14.8: entries emitted, newest first */
#define PEERCACHE_DIAL 30         /* PROTOCOL.md 14.8: entries dialled at discovery start */
#define PEERCACHE_EMIT_MS 30000   /* PROTOCOL.md 19 PEER_CACHE_EMIT_MS */

typedef struct peercache peercache;

/* Create the module and register it with the core; *out is the cache, which the core
 * owns (freed with it). cfg->load_peers, when set, is called once, here. */
int peercache_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, peercache **out);

/* Record (or refresh) the peer at `a`, keyed by address as in the references. id is
 * 0, 8 (wire id) or 20 (full id) bytes; a full id already known is not replaced by a
 * shorter one for the same address. */
void peercache_add(peercache *pc, const uint8_t *id, size_t idlen, const sw_addr *a,
                   uint64_t now);

/* The newest entries first, up to max; returns how many were written. */
/* The same for an entry that another peer only told us of (PEX): a hint. Hints are at
 * most PEERCACHE_HINTS, replace only each other (the oldest first), and never change or
 * displace an entry added above; such an entry, met later, stops being a hint. */
void peercache_hint(peercache *pc, const uint8_t *id, size_t idlen, const sw_addr *a,
                    uint64_t now);

size_t peercache_list(const peercache *pc, sw_peer_entry *out, size_t max);
size_t peercache_count(const peercache *pc);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def peercache_module;

#endif
