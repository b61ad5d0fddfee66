/* The references' gossip of new peers (PROTOCOL.md 13.4): a JSON object
 * {"_gossip": true, "id": <16 hex>, "ip": ..., "port": ...} sent as ordinary
 * application data, which their receivers never recognise (D14). We keep it out of
 * application delivery (the engine still floods it, so reference meshes behave). */
#ifndef SW_CORE_GOSSIP_H
#define SW_CORE_GOSSIP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define GOSSIP_MAX_LEN 256 /* ours: a reference gossip object is under 100 bytes */

typedef struct gossip_info {
  uint8_t wire[8];
  sw_addr addr; /* family 0 when the ip/port fields do not parse */
} gossip_info;

/* 1 when msg is a reference gossip object (an object whose "_gossip" is true and whose
 * other members are exactly id (16 hex), ip (string), port (integer)), else 0. Cheap for
 * everything else: JSON is parsed only when msg starts with '{' and holds "_gossip". */
int gossip_check(const uint8_t *msg, size_t len, gossip_info *out);

#endif
