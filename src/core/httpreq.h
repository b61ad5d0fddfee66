/* HTTP requests the modules ask for (core_http), handed to the runtime once each
 * (sw_core_http_take) and completed once each (sw_core_http_done). Bounded: HTTP_MAX. */
#ifndef SW_CORE_HTTPREQ_H
#define SW_CORE_HTTPREQ_H

#include "engine.h"

/* Release every request, pending or taken, without calling back (engine teardown). */
void httpreq_free_all(sw_core *c);

#endif
