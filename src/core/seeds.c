#include "seeds.h"

#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

typedef struct seeds {
  struct sw_core *c;
  sw_addr seed[SEEDS_MAX];
  size_t nseed;
  sw_addr fallback[SEEDS_FALLBACK_MAX];
  size_t nfallback;
  int started;
  uint64_t fallback_at; /* 0: not armed */
} seeds;

static int add(sw_addr *list, size_t *n, size_t max, const sw_addr *a) {
  for (size_t i = 0; i < *n; i++)
    if (addr_equal(&list[i], a)) return SW_OK;
  if (*n == max) return SW_EFULL;
  list[(*n)++] = *a;
  return SW_OK;
}

static void seeds_join(void *m, uint64_t now) {
  seeds *s = m;
  if (s->started) return; /* a later join keeps the running discovery (14.3) */
  s->started = 1;
  for (size_t i = 0; i < s->nseed; i++) core_meet(s->c, &s->seed[i], NULL, now);
  if (s->nfallback) s->fallback_at = now + SEEDS_FALLBACK_MS;
}

static void seeds_timeout(void *m, uint64_t now) {
  seeds *s = m;
  if (!s->fallback_at || now < s->fallback_at) return;
  s->fallback_at = 0;
  if (sw_core_peer_count(s->c)) return;
  for (size_t i = 0; i < s->nfallback; i++) core_meet(s->c, &s->fallback[i], NULL, now);
}

static uint64_t seeds_deadline(const void *m) {
  const seeds *s = m;
  return s->fallback_at ? s->fallback_at : UINT64_MAX;
}

static void seeds_close(void *m, uint64_t now) {
  (void)now;
  ((seeds *)m)->fallback_at = 0;
}

static size_t seeds_memory(const void *m) {
  (void)m;
  return sizeof(seeds);
}

int seeds_attach(struct sw_core *c) {
  seeds *s = calloc(1, sizeof *s);
  if (!s) return SW_ENOMEM;
  s->c = c;
  core_module m = {.name = "seeds", .on_join = seeds_join, .on_timeout = seeds_timeout,
                   .deadline = seeds_deadline, .on_close = seeds_close, .free = free,
                   .memory = seeds_memory, .state = s};
  int rc = core_add_module(c, &m);
  if (rc) free(s);
  return rc;
}

int sw_core_add_seed(struct sw_core *c, const sw_addr *a, uint64_t now) {
  seeds *s = core_module_state(c, "seeds");
  if (!s || !a || !a->port) return SW_EINVAL;
  int rc = add(s->seed, &s->nseed, SEEDS_MAX, a);
  if (rc == SW_OK && s->started) core_meet(c, a, NULL, now); /* resolved after join */
  return rc;
}

int sw_core_add_fallback(struct sw_core *c, const sw_addr *a) {
  seeds *s = core_module_state(c, "seeds");
  if (!s || !a || !a->port) return SW_EINVAL;
  return add(s->fallback, &s->nfallback, SEEDS_FALLBACK_MAX, a);
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  (void)cfg;
  (void)now;
  return seeds_attach(c); /* always: seeds and the fallback are API calls */
}

const core_module_def seeds_module = {"seeds", attach_from_config};
