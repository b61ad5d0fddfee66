/* A module written the way a new protocol module is: one file pair with its own frame
 * type, joined to an engine by one line in a module list (test_modules.c). It answers a
 * request frame from a verified peer with the same bytes marked as a reply. */
#ifndef SW_TEST_MOD_ECHO_H
#define SW_TEST_MOD_ECHO_H

#include <stdint.h>

#include "core_internal.h"

#define ECHO_TYPE 0x77 /* unassigned in wire.h */
#define ECHO_REQUEST 0
#define ECHO_REPLY 1

typedef struct echo_stats {
  unsigned requests, replies, refused;
} echo_stats;

extern const core_module_def echo_module;

/* Send a request carrying `text` to a connected peer. */
int echo_request(sw_core *c, const uint8_t wire[8], const char *text);
const echo_stats *echo_stats_of(sw_core *c);

#endif
