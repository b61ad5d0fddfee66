/* Piping-server rendezvous (PROTOCOL.md 14.4). A piping server hands the body of a POST
 * on a path to one GET on the same path. Peers of a topic POST their me record (14.2)
 * to /p2p-<topic hash>-announce (at join, after 2 s and 5 s, then every 18 s) and keep
 * one long-poll GET on it and one on their inbox /p2p-<topic hash>-<full id>; a record
 * read from the announce path is answered with our record in the sender's inbox, and
 * every record read is met. A protocol module (core_internal.h) over core_http. */
#ifndef SW_CORE_PIPING_H
#define SW_CORE_PIPING_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define PIPING_MAX_SERVERS 8         /* ours: servers used (configured + defaults) */
#define PIPING_URL_MAX 400           /* ours: longest server URL accepted */
#define PIPING_POST_TIMEOUT_MS 8000  /* PROTOCOL.md 14.4 */
#define PIPING_GET_TIMEOUT_MS 120000 /* PROTOCOL.md 14.4 */
#define PIPING_REPOLL_MS 100         /* PROTOCOL.md 14.4: after a response */
#define PIPING_BACKOFF_MIN_MS 1000   /* ours, after an error (Python 100 ms, JS 2 s: 17.22); */
#define PIPING_BACKOFF_MAX_MS 16000  /* doubling up to this, reset by a response */
#define PIPING_LONGPOLL_END_MS 60000 /* a GET failing after this long ended idle: no backoff */
#define PIPING_ANNOUNCE_MS 18000     /* PROTOCOL.md 19 ANNOUNCE_MS */
#define PIPING_REPLIES_MAX 16        /* ours: inbox replies in flight */

/* The references' default hosts (14.4), used unless no_default_servers is set. */
#define PIPING_DEFAULTS "https://ppng.io", "https://piping.nwtgck.org", \
                        "https://piping.onrender.com", "https://piping.glitch.me"

typedef struct piping_stats {
  uint64_t posts, gets, responses, errors, malformed, own, replies, met;
} piping_stats;

typedef struct piping piping;

/* Create the module from cfg (piping, no_default_servers) and register it; our
 * record comes from the engine's address service (pubaddr.h). Entries without a scheme are taken as host names (https://, as the references
 * do); SW_EINVAL for any other malformed or over-long URL. */
int piping_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, piping **out);
void piping_get_stats(const piping *p, piping_stats *out);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def piping_module;

#endif
