/* The modules a default engine runs, in attach order: the one place that names them all.
 * A new module is one file pair plus one line here (or in the list a program passes as
 * sw_core_config.modules). Order matters where one module reads another's state at
 * attach: pex finds the peer cache, so the peer cache comes first. */
#include "birthday.h"
#include "core_internal.h"
#include "dht.h"
#include "httpboot.h"
#include "intro.h"
#include "lan.h"
#include "nat.h"
#include "peercache.h"
#include "pex.h"
#include "piping.h"
#include "relay.h"
#include "seeds.h"
#include "sync.h"
#include "upgrade.h"

const core_module_def *const core_default_modules[] = {
    &peercache_module, &pex_module,    &lan_module,  &dht_module,
    &httpboot_module,  &piping_module, &sync_module, &seeds_module,
    &nat_module,       &intro_module, &relay_module, &upgrade_module,
    &birthday_module,
    NULL,
};
