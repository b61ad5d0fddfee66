/* HTTP bootstrap client (PROTOCOL.md 14.5): POST <base>/announce with our id and
 * address and GET <base>/peers, a JSON array of {id, ip, port} records, each met
 * through core_meet. Queried at discovery start (each join), 500 ms after the answer
 * to the first join's query, then every 180 s; never before the first join (the references query 500 ms
 * after start: here a program that only dials contacts no server, docs/API.md "What
 * each default contacts, and when").
 * A protocol module (core_internal.h); HTTP goes through core_http. */
#ifndef SW_CORE_HTTPBOOT_H
#define SW_CORE_HTTPBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define HTTPBOOT_AGAIN_MS 500       /* PROTOCOL.md 14.3: the follow-up after the first join's */
#define HTTPBOOT_PERIOD_MS 180000   /* PROTOCOL.md 14.5 */
#define HTTPBOOT_TIMEOUT_MS 8000    /* PROTOCOL.md 14.5 */
#define HTTPBOOT_MAX_URLS 8         /* ours: servers queried (configured + defaults) */
#define HTTPBOOT_URL_MAX 400        /* ours: longest base URL accepted */
#define HTTPBOOT_RECORDS_MAX 64     /* ours: records read from one /peers answer */

/* The references' hard-coded servers (14.5), used unless no_default_servers is set. */
#define HTTPBOOT_DEFAULT_1 "https://bootstrap-4eft.onrender.com"
#define HTTPBOOT_DEFAULT_2 "https://bootsrtap.firestarp.workers.dev"

typedef struct httpboot_stats {
  uint64_t queries, announces, answers, failures, malformed, records, own, met;
} httpboot_stats;

typedef struct httpboot httpboot;

/* Create the module from cfg (bootstrap_http, no_default_servers) and register it;
 * our record comes from the engine's address service (pubaddr.h). SW_EINVAL for a URL that is not http:// or https:// or too long. */
int httpboot_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, httpboot **out);
void httpboot_get_stats(const httpboot *h, httpboot_stats *out);

/* Whether a URL is one this library fetches: http:// or https://, a host, no spaces
 * or control characters, at most max bytes. */
int httpboot_url_ok(const char *url, size_t max);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def httpboot_module;

#endif
