/* HTTP bootstrap client: see httpboot.h. The servers' answers are unauthenticated
 * discovery data (D23): every record is validated, at most HTTPBOOT_RECORDS_MAX are
 * read from one answer, our own id is skipped (D9, which the references do not do),
 * and dials go through core_meet (rate-limited, D19; id-normalised, D10). */
#include "httpboot.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "merec.h"
#include "peercache.h"

typedef struct hb_req {
  struct httpboot *hb;
  int url;      /* index in urls */
  int busy;
} hb_req;

struct httpboot {
  sw_core *c;
  char urls[HTTPBOOT_MAX_URLS][HTTPBOOT_URL_MAX + 1]; /* base, one trailing '/' removed */
  int nurls;
  char body[MEREC_MAX]; /* the announce body last sent */
  uint64_t next_query;
  int again; /* the first join's peer list is awaited: ask once more after it */
  int closed;
  hb_req announce[HTTPBOOT_MAX_URLS], peers[HTTPBOOT_MAX_URLS];
  httpboot_stats st;
};

int httpboot_url_ok(const char *url, size_t max) {
  if (!url) return 0;
  size_t n = strlen(url), skip;
  if (n > max) return 0;
  if (strncmp(url, "http://", 7) == 0) skip = 7;
  else if (strncmp(url, "https://", 8) == 0) skip = 8;
  else return 0;
  if (n == skip || url[skip] == '/') return 0; /* a host is needed */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) return 0;
  return 1;
}

static int add_url(httpboot *h, const char *url) {
  if (!httpboot_url_ok(url, HTTPBOOT_URL_MAX)) return SW_EINVAL;
  char base[HTTPBOOT_URL_MAX + 1];
  snprintf(base, sizeof base, "%s", url);
  size_t n = strlen(base);
  if (base[n - 1] == '/') base[n - 1] = 0; /* 14.5: one trailing '/' removed */
  for (int i = 0; i < h->nurls; i++)
    if (strcmp(h->urls[i], base) == 0) return SW_OK;
  if (h->nurls == HTTPBOOT_MAX_URLS) return SW_OK; /* bounded: the rest are not used */
  memcpy(h->urls[h->nurls++], base, strlen(base) + 1);
  return SW_OK;
}

static void on_announced(void *ctx, int status, const uint8_t *body, size_t len, uint64_t now) {
  hb_req *r = ctx;
  (void)body;
  (void)len;
  (void)now;
  r->busy = 0;
  if (status < 200 || status > 299) r->hb->st.failures++;
}

static void meet_record(httpboot *h, const json_t *rec, uint64_t now) {
  const char *ip = json_string_value(json_object_get(rec, "ip"));
  const json_t *jp = json_object_get(rec, "port");
  sw_addr a;
  if (!ip || !json_is_integer(jp) || json_integer_value(jp) < 1 ||
      json_integer_value(jp) > 65535 ||
      addr_parse_ip(&a, ip, (uint16_t)json_integer_value(jp)) != SW_OK) {
    h->st.malformed++;
    return;
  }
  h->st.records++;
  uint8_t id[20];
  const json_t *jid = json_object_get(rec, "id");
  int have_id = 0;
  if (jid && !json_is_null(jid)) {
    if (merec_parse_id(json_string_value(jid), id) != SW_OK) {
      h->st.malformed++; /* an id we cannot check the key against: not dialled */
      return;
    }
    have_id = 1;
    if (memcmp(id, core_identity(h->c)->id, 20) == 0) {
      h->st.own++; /* D9: our own entry, announced by us */
      return;
    }
  }
  /* 14.5: listed peers go to the peer cache too (when that module runs) */
  peercache *pc = core_module_state(h->c, "peercache");
  if (pc) peercache_add(pc, have_id ? id : NULL, have_id ? 20 : 0, &a, now);
  if (core_meet(h->c, &a, have_id ? id : NULL, now) == SW_OK) h->st.met++;
}

static void on_peers(void *ctx, int status, const uint8_t *body, size_t len, uint64_t now) {
  hb_req *r = ctx;
  httpboot *h = r->hb;
  r->busy = 0;
  if (h->again && !h->closed) { /* (this time is exact; the join's may be stale) */
    h->again = 0;
    if (now + HTTPBOOT_AGAIN_MS < h->next_query) h->next_query = now + HTTPBOOT_AGAIN_MS;
  }
  if (status < 200 || status > 299) {
    h->st.failures++;
    return;
  }
  h->st.answers++;
  json_error_t err;
  json_t *arr = json_loadb((const char *)body, len, 0, &err);
  if (!json_is_array(arr)) {
    h->st.malformed++;
    json_decref(arr);
    return;
  }
  size_t n = json_array_size(arr);
  if (n > HTTPBOOT_RECORDS_MAX) n = HTTPBOOT_RECORDS_MAX;
  for (size_t i = 0; i < n; i++) {
    const json_t *rec = json_array_get(arr, i);
    if (json_is_object(rec)) meet_record(h, rec, now);
    else h->st.malformed++;
  }
  json_decref(arr);
}

/* 14.5: the public endpoint when one with a mapped port is known (STUN), else the LAN
 * address and main port. Nothing before the main port is known. */
static void announce_all(httpboot *h) {
  char url[HTTPBOOT_URL_MAX + 16];
  size_t blen = merec_build_own(h->c, MEREC_ENDPOINT, 0, h->body, sizeof h->body);
  for (int i = 0; i < h->nurls; i++) {
    /* one request of each kind per server at a time: a slow server is not piled on */
    if (!h->announce[i].busy && blen && core_lan_addr(h->c)->port) {
      snprintf(url, sizeof url, "%s/announce", h->urls[i]);
      if (core_http(h->c, "POST", url, "application/json", (const uint8_t *)h->body, blen,
                    HTTPBOOT_TIMEOUT_MS, on_announced, &h->announce[i]) > 0) {
        h->announce[i].busy = 1;
        h->st.announces++;
      }
    }
  }
}

static void query_all(httpboot *h, uint64_t now) {
  (void)now;
  char url[HTTPBOOT_URL_MAX + 16];
  announce_all(h);
  for (int i = 0; i < h->nurls; i++) {
    if (!h->peers[i].busy) {
      snprintf(url, sizeof url, "%s/peers", h->urls[i]);
      if (core_http(h->c, "GET", url, NULL, NULL, 0, HTTPBOOT_TIMEOUT_MS, on_peers,
                    &h->peers[i]) > 0) {
        h->peers[i].busy = 1;
        h->st.queries++;
      }
    }
  }
}

static void hb_join(void *m, uint64_t now) {
  httpboot *h = m;
  if (h->closed || !h->nurls) return;
  query_all(h, now); /* 14.3 step 4: at discovery start */
  if (h->next_query != UINT64_MAX) return; /* not the first join: the schedule stands */
  /* Asked again 500 ms after the first join's peer list arrives (the references ask
   * 500 ms after start): peers that started at the same moment have announced by
   * then. Then every 180 s; that is also the fallback if no list arrives. */
  h->again = 1;
  h->next_query = now + HTTPBOOT_PERIOD_MS;
}

static void hb_timeout(void *m, uint64_t now) {
  httpboot *h = m;
  if (h->closed || !h->nurls || now < h->next_query) return;
  query_all(h, now);
  h->next_query = now + HTTPBOOT_PERIOD_MS;
}

static uint64_t hb_deadline(const void *m) {
  const httpboot *h = m;
  return h->closed ? UINT64_MAX : h->next_query;
}

/* A new public address: announce it now rather than at the next 180 s query, when
 * the body changes (an IP-only observation does not change it). */
static void hb_public_addr(void *m, int family, uint64_t now) {
  httpboot *h = m;
  char body[MEREC_MAX];
  (void)family;
  (void)now;
  if (h->closed || !h->nurls || !h->body[0]) return; /* not announced yet: nothing to redo */
  if (merec_build_own(h->c, MEREC_ENDPOINT, 0, body, sizeof body) && strcmp(body, h->body))
    announce_all(h);
}

static void hb_close(void *m, uint64_t now) {
  (void)now;
  ((httpboot *)m)->closed = 1;
}

static void hb_free(void *m) { free(m); }

static size_t hb_memory(const void *m) {
  (void)m;
  return sizeof(httpboot);
}

int httpboot_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, httpboot **out) {
  httpboot *h = calloc(1, sizeof *h);
  if (!h) return SW_ENOMEM;
  h->c = c;
  int rc = SW_OK;
  for (size_t i = 0; rc == SW_OK && i < cfg->n_bootstrap_http; i++)
    rc = add_url(h, cfg->bootstrap_http[i]);
  if (rc == SW_OK && !cfg->no_default_servers) {
    add_url(h, HTTPBOOT_DEFAULT_1);
    add_url(h, HTTPBOOT_DEFAULT_2);
  }
  if (rc != SW_OK) {
    free(h);
    return rc;
  }
  (void)now;
  h->next_query = UINT64_MAX; /* set by the first join */
  for (int i = 0; i < HTTPBOOT_MAX_URLS; i++) {
    h->announce[i].hb = h->peers[i].hb = h;
    h->announce[i].url = h->peers[i].url = i;
  }
  core_module m = {.name = "httpboot", .on_join = hb_join, .on_timeout = hb_timeout,
                   .deadline = hb_deadline, .on_close = hb_close, .free = hb_free,
                   .memory = hb_memory, .on_public_addr = hb_public_addr, .state = h};
  if ((rc = core_add_module(c, &m)) != SW_OK) {
    free(h);
    return rc;
  }
  if (out) *out = h;
  return SW_OK;
}

void httpboot_get_stats(const httpboot *h, httpboot_stats *out) { *out = h->st; }

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  return cfg->http ? httpboot_attach(c, cfg, now, NULL) : SW_OK;
}

const core_module_def httpboot_module = {"httpboot", attach_from_config};
