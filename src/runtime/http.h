/* The runtime's HTTP client: performs the requests the core asks for (core.h,
 * sw_core_http_take) with libcurl's multi interface on the swarm's libuv loop, and
 * reports each exactly once (sw_core_http_done). */
#ifndef SW_RUNTIME_HTTP_H
#define SW_RUNTIME_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core.h"

#define HTTP_BODY_MAX (64u * 1024u) /* response bodies kept; a longer one fails the request */
#define HTTP_CONNECT_MS 8000        /* connection phase bound, within the request's timeout */

typedef struct http_rt http_rt;

/* SW_OK, SW_ENOMEM, or SW_EIO when libcurl cannot be initialised. */
int http_rt_new(http_rt **out, uv_loop_t *loop, sw_core *core);
/* Start every request the core has waiting. */
void http_rt_pump(http_rt *h);
/* Number of requests in flight. */
size_t http_rt_active(const http_rt *h);
/* How many times a socket watch was started or changed so far (0 for NULL): libuv
 * hands such a change to the kernel only when the loop next polls (swarm.c,
 * sw_swarm_timeout). */
unsigned long http_rt_watch_changes(const http_rt *h);
/* Abort everything in flight, reporting each request to the core as failed (-1). */
void http_rt_cancel_all(http_rt *h);
/* Cancel everything (without reporting: the core may be gone) and release the handles;
 * `closed` runs once the loop has let go of them, after which h is freed. */
void http_rt_close(http_rt *h, void (*closed)(void *arg), void *arg);

#endif
