/* Birthday punching: see birthday.h. */
#include "birthday.h"

#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "nat.h"
#include "natclass.h"

enum { ST_FREE = 0, ST_WAIT, ST_RUN, ST_DONE };

typedef struct bday_peer {
  int state, role;
  uint8_t id[8];
  sw_addr addr;     /* hard: the easy side's mapping; easy: the hard side's IP */
  uint64_t at;      /* ST_WAIT: when to start; ST_RUN: the next step */
  uint64_t started; /* ST_RUN */
  unsigned sent;
  uint64_t used;    /* when the entry was taken (oldest reused first) */
} bday_peer;

typedef struct birthday {
  sw_core *c;
  bday_peer peers[BDAY_PEERS];
  uint64_t last_spray; /* start of the last spray, 0: none yet */
  int sprayed;
  uint64_t hold_until; /* hard side: probe sockets wanted until then (0: none) */
  birthday_stats st;
} birthday;

int birthday_role(int ours, int theirs) {
  if (ours == NAT_TYPE_SYMMETRIC && theirs == NAT_TYPE_RESTRICTED_CONE) return BDAY_HARD;
  if (ours == NAT_TYPE_RESTRICTED_CONE && theirs == NAT_TYPE_SYMMETRIC) return BDAY_EASY;
  return BDAY_NONE;
}

static int want_probe(void *st, unsigned probe) {
  birthday *b = st;
  return b->hold_until != 0 && probe >= 1 && probe <= BDAY_SOCKETS;
}

int birthday_schedule(sw_core *c, const uint8_t peer[8], const sw_addr *addr, int role,
                      uint64_t now) {
  birthday *b = core_module_state(c, "birthday");
  if (!b || (role != BDAY_HARD && role != BDAY_EASY) || !addr || !addr->family)
    return SW_EINVAL;
  bday_peer *slot = NULL;
  for (int i = 0; i < BDAY_PEERS; i++) {
    bday_peer *e = &b->peers[i];
    if (e->state != ST_FREE && memcmp(e->id, peer, 8) == 0) return SW_EFULL; /* once */
    if (e->state == ST_RUN) continue;
    if (!slot || e->state == ST_FREE || (slot->state != ST_FREE && e->used < slot->used))
      slot = e;
  }
  if (!slot) return SW_EFULL;
  memset(slot, 0, sizeof *slot);
  slot->state = ST_WAIT;
  slot->role = role;
  memcpy(slot->id, peer, 8);
  slot->addr = *addr;
  slot->at = now + BDAY_DELAY_MS + (role == BDAY_EASY ? BDAY_EASY_LAG_MS : 0);
  slot->used = now;
  b->st.scheduled++;
  return SW_OK;
}

void birthday_intro(sw_core *c, const uint8_t peer[8], const sw_addr *addr, int their_nat,
                    uint64_t now) {
  if (!core_module_state(c, "birthday")) return;
  int role = birthday_role(nat_own_type(c), their_nat);
  if (role) birthday_schedule(c, peer, addr, role, now);
}

/* A random port of the hard side's IP, in BDAY_PORT_MIN..65535. */
static sw_addr random_port(birthday *b, const sw_addr *ip) {
  uint16_t r;
  core_rand(b->c, &r, sizeof r);
  sw_addr a = *ip;
  a.port = (uint16_t)(BDAY_PORT_MIN + r % (65536u - BDAY_PORT_MIN));
  return a;
}

/* One pacing step of a running spray: the share of its probes due by now. */
static void step(birthday *b, bday_peer *e, uint64_t now) {
  unsigned total = e->role == BDAY_HARD ? BDAY_SOCKETS : BDAY_PROBES;
  /* Hard side: all sockets within a few steps; easy side: spread over BDAY_SPRAY_MS. */
  uint64_t span = e->role == BDAY_HARD ? 4 * BDAY_TICK_MS : BDAY_SPRAY_MS;
  uint64_t due64 = (now - e->started + BDAY_TICK_MS) * total / span;
  unsigned due = due64 > total ? total : (unsigned)due64;
  for (; e->sent < due; e->sent++) {
    core_path p = core_path_direct(&e->addr);
    if (e->role == BDAY_HARD) p.sock = (uint16_t)(e->sent + 1);
    else p.addr = random_port(b, &e->addr);
    core_hello(b->c, &p);
    b->st.hellos++;
  }
  if (e->sent >= total) e->state = ST_DONE;
  else e->at = now + BDAY_TICK_MS;
}

static void bday_timeout(void *m, uint64_t now) {
  birthday *b = m;
  if (b->hold_until && now >= b->hold_until) b->hold_until = 0;
  for (int i = 0; i < BDAY_PEERS; i++) {
    bday_peer *e = &b->peers[i];
    if ((e->state != ST_WAIT && e->state != ST_RUN) || now < e->at) continue;
    /* A session through a relay does not end the punch: a direct path replaces it. */
    if (core_connected_direct(b->c, e->id)) {
      if (e->state == ST_RUN) b->st.connected++;
      else b->st.skipped++;
      e->state = ST_DONE;
      continue;
    }
    if (e->state == ST_WAIT) {
      /* The global bound, and one hard spray at a time (the sockets are shared). */
      if ((b->sprayed && now - b->last_spray < BDAY_PERIOD_MS) ||
          (e->role == BDAY_HARD && b->hold_until)) {
        b->st.skipped++;
        e->state = ST_DONE;
        continue;
      }
      b->sprayed = 1;
      b->last_spray = now;
      b->st.started++;
      e->state = ST_RUN;
      e->started = now;
      e->sent = 0;
      if (e->role == BDAY_HARD) b->hold_until = now + BDAY_HOLD_MS;
    }
    step(b, e, now);
  }
}

static uint64_t bday_deadline(const void *m) {
  const birthday *b = m;
  uint64_t t = b->hold_until ? b->hold_until : UINT64_MAX;
  for (int i = 0; i < BDAY_PEERS; i++) {
    const bday_peer *e = &b->peers[i];
    if ((e->state == ST_WAIT || e->state == ST_RUN) && e->at < t) t = e->at;
  }
  return t;
}

static void bday_close(void *m, uint64_t now) {
  birthday *b = m;
  (void)now;
  b->hold_until = 0;
  for (int i = 0; i < BDAY_PEERS; i++)
    if (b->peers[i].state == ST_WAIT || b->peers[i].state == ST_RUN) b->peers[i].state = ST_DONE;
}

static size_t bday_memory(const void *m) {
  (void)m;
  return sizeof(birthday);
}

static int bday_attach(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  (void)now;
  if (!cfg->probe_sockets || !cfg->intro) return SW_OK;
  birthday *b = calloc(1, sizeof *b);
  if (!b) return SW_ENOMEM;
  b->c = c;
  core_module m = {.name = "birthday", .on_timeout = bday_timeout, .deadline = bday_deadline,
                   .on_close = bday_close, .free = free, .memory = bday_memory,
                   .state = b};
  int rc = core_add_module(c, &m);
  if (rc) {
    free(b);
    return rc;
  }
  core_set_probe_owner(c, want_probe, b);
  return SW_OK;
}

const core_module_def birthday_module = {"birthday", bday_attach};

int birthday_get_stats(sw_core *c, birthday_stats *out) {
  birthday *b = core_module_state(c, "birthday");
  if (!b) return SW_EINVAL;
  *out = b->st;
  return SW_OK;
}
