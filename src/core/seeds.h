/* Seeds and the bootstrap fallback (PROTOCOL.md 14.7, 14.3 step 7): addresses the
 * application names (the runtime resolves names first). Seeds are dialled when
 * discovery starts (at join); bootstrap nodes are dialled with HELLO 15 s after join
 * if by then no peer is connected. Every dial goes through core_meet. */
#ifndef SW_CORE_SEEDS_H
#define SW_CORE_SEEDS_H

#include <stdint.h>

#include "addr.h"

struct sw_core;

#define SEEDS_MAX 64         /* ours: seeds kept */
#define SEEDS_FALLBACK_MAX 16 /* ours: bootstrap addresses kept for the fallback */
#define SEEDS_FALLBACK_MS 15000 /* PROTOCOL.md 19 BOOTSTRAP_TIMEOUT */

/* Register the module; called by sw_core_new. */
int seeds_attach(struct sw_core *c);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def seeds_module;

#endif
