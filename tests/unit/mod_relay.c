#include "mod_relay.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

typedef struct relayt {
  sw_core *c;
  relayt_stats st;
} relayt;

#define RELAYT_HDR 10 /* type, direction, wire id */
enum { TO_RELAY = 0, FROM_RELAY = 1 };

static int wrap_send(void *st, const core_path *to, const uint8_t *frame, size_t len) {
  relayt *r = st;
  uint8_t *buf = malloc(RELAYT_HDR + len);
  if (!buf) return SW_ENOMEM;
  buf[0] = RELAYT_TYPE;
  buf[1] = TO_RELAY;
  memcpy(buf + 2, to->far, 8);
  memcpy(buf + RELAYT_HDR, frame, len);
  /* the relay is a connected peer: its own session carries the request */
  int rc = core_send_ctrl(r->c, to->via, buf, RELAYT_HDR + len);
  free(buf);
  return rc;
}

static void relayt_frame(void *m, const core_path *from, const uint8_t *buf, size_t len,
                         uint64_t now) {
  relayt *r = m;
  uint8_t sender[8];
  if (len <= RELAYT_HDR || !core_verified_peer(r->c, from, sender)) {
    r->st.refused++;
    return;
  }
  if (buf[1] == TO_RELAY) {
    /* we are the relay: name the origin instead of the target, and pass it on */
    uint8_t *out = malloc(len);
    if (!out) return;
    memcpy(out, buf, len);
    out[1] = FROM_RELAY;
    memcpy(out + 2, sender, 8);
    if (core_send_ctrl(r->c, buf + 2, out, len) == SW_OK) r->st.forwarded++;
    free(out);
    return;
  }
  /* we are the far end: the inner datagram re-enters the engine on the relayed path */
  core_path path = {.addr = from->addr, .relayed = 1};
  memcpy(path.via, sender, 8);
  memcpy(path.far, buf + 2, 8);
  r->st.delivered++;
  core_datagram_relayed(r->c, &path, buf + RELAYT_HDR, len - RELAYT_HDR, now);
}

static int relayt_attach(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  static const uint8_t frames[] = {RELAYT_TYPE};
  (void)cfg;
  (void)now;
  relayt *r = calloc(1, sizeof *r);
  if (!r) return SW_ENOMEM;
  r->c = c;
  core_module m = {.name = "relayt", .frames = frames, .nframes = 1, .on_frame = relayt_frame,
                   .free = free, .state = r};
  int rc = core_add_module(c, &m);
  if (rc) {
    free(r);
    return rc;
  }
  core_set_relay(c, wrap_send, r);
  return SW_OK;
}

const core_module_def relayt_module = {"relayt", relayt_attach};

int relayt_dial(sw_core *c, const uint8_t relay[8], const sw_addr *relay_addr,
                const uint8_t target[8], uint64_t now) {
  core_path path = {.addr = *relay_addr, .relayed = 1};
  memcpy(path.via, relay, 8);
  memcpy(path.far, target, 8);
  return core_dial_path(c, &path, now);
}

const relayt_stats *relayt_stats_of(sw_core *c) {
  relayt *r = core_module_state(c, "relayt");
  return r ? &r->st : NULL;
}
