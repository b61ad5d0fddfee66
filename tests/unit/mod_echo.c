#include "mod_echo.h"

#include <stdlib.h>
#include <string.h>

typedef struct echo {
  sw_core *c;
  echo_stats st;
} echo;

static void echo_frame(void *m, const core_path *from, const uint8_t *buf, size_t len,
                       uint64_t now) {
  echo *e = m;
  uint8_t wire[8];
  (void)now;
  /* Like every module frame, it may come from anyone: only verified peers are heard. */
  if (len < 2 || !core_verified_peer(e->c, from, wire)) {
    e->st.refused++;
    return;
  }
  if (buf[1] == ECHO_REPLY) {
    e->st.replies++;
    return;
  }
  e->st.requests++;
  uint8_t out[256];
  if (len > sizeof out) return;
  memcpy(out, buf, len);
  out[1] = ECHO_REPLY;
  core_send_ctrl(e->c, wire, out, len);
}

static int echo_attach(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  static const uint8_t frames[] = {ECHO_TYPE};
  (void)cfg;
  (void)now;
  echo *e = calloc(1, sizeof *e);
  if (!e) return SW_ENOMEM;
  e->c = c;
  core_module m = {.name = "echo", .frames = frames, .nframes = 1, .on_frame = echo_frame,
                   .free = free, .state = e};
  int rc = core_add_module(c, &m);
  if (rc) free(e);
  return rc;
}

const core_module_def echo_module = {"echo", echo_attach};

int echo_request(sw_core *c, const uint8_t wire[8], const char *text) {
  uint8_t out[256];
  size_t n = strlen(text);
  if (n + 2 > sizeof out) return SW_EMSGSIZE;
  out[0] = ECHO_TYPE;
  out[1] = ECHO_REQUEST;
  memcpy(out + 2, text, n);
  return core_send_ctrl(c, wire, out, n + 2);
}

const echo_stats *echo_stats_of(sw_core *c) {
  echo *e = core_module_state(c, "echo");
  return e ? &e->st : NULL;
}
