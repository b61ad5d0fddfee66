/* Piping-server rendezvous: see piping.h. What a server hands us is unauthenticated
 * (D23): records are parsed strictly, our own is skipped (D9), an inbox reply goes
 * only to a well-formed id (as JavaScript does, 17.22), replies in flight are bounded,
 * and dials go through core_meet (D10, D19). Errors back off instead of the
 * references' fixed 100 ms / 2 s retry, so a failing server is not hammered. */
#include "piping.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "httpboot.h"
#include "merec.h"

#define PATH_MAX_LEN 64 /* "/p2p-" + 12 + "-" + 40 */

typedef struct pp_get {
  struct piping *p;
  int topic, server, inbox, busy;
  unsigned gen;        /* the join this poll was made for */
  uint64_t next_at;    /* when to poll again (UINT64_MAX: not before a join) */
  uint64_t started_at;
  uint32_t backoff;
} pp_get;

typedef struct pp_post {
  struct piping *p;
  int busy;
} pp_post;

/* One joined topic: its paths, announcement schedule and long polls. */
typedef struct pp_topic {
  unsigned gen; /* 0: the slot is free (not joined); else the join it serves */
  uint8_t topic[32];
  char hash[CRYPTO_TOPIC_HASH_LEN + 1];
  uint64_t join_at, next_announce;
  int announce_step;
  pp_get gets[PIPING_MAX_SERVERS][2];
  pp_post posts[PIPING_MAX_SERVERS];
} pp_topic;

struct piping {
  sw_core *c;
  char urls[PIPING_MAX_SERVERS][PIPING_URL_MAX + 1];
  int n;
  int closed;
  unsigned gen_next; /* the last join's number */
  char rec[MEREC_MAX];
  size_t reclen;
  pp_topic t[SW_MAX_TOPICS];
  pp_post replies[PIPING_REPLIES_MAX];
  piping_stats st;
};

static int add_url(piping *p, const char *u) {
  char url[PIPING_URL_MAX + 1];
  if (!u) return SW_EINVAL;
  if (strstr(u, "://")) snprintf(url, sizeof url, "%s", u);
  else if (strlen(u) + 8 <= PIPING_URL_MAX) snprintf(url, sizeof url, "https://%s", u);
  else return SW_EINVAL;
  if (!httpboot_url_ok(url, PIPING_URL_MAX)) return SW_EINVAL;
  size_t n = strlen(url);
  if (url[n - 1] == '/') url[n - 1] = 0;
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->urls[i], url) == 0) return SW_OK; /* merged, deduplicated (14.4) */
  if (p->n == PIPING_MAX_SERVERS) return SW_OK;     /* bounded: the rest are not used */
  memcpy(p->urls[p->n++], url, strlen(url) + 1);
  return SW_OK;
}

static void url_for(const piping *p, const pp_topic *t, int server, const char *who, char *out,
                    size_t cap) {
  snprintf(out, cap, "%s/p2p-%s-%s", p->urls[server], t->hash, who);
}

static void on_posted(void *ctx, int status, const uint8_t *body, size_t len, uint64_t now) {
  pp_post *q = ctx;
  (void)body;
  (void)len;
  (void)now;
  q->busy = 0;
  if (status < 200 || status > 299) q->p->st.errors++;
}

static int post(piping *p, pp_post *slot, const char *url) {
  if (slot->busy) return 0;
  if (core_http(p->c, "POST", url, "application/json", (const uint8_t *)p->rec, p->reclen,
                PIPING_POST_TIMEOUT_MS, on_posted, slot) <= 0)
    return 0;
  slot->busy = 1;
  p->st.posts++;
  return 1;
}

static void announce_all(piping *p, pp_topic *t) {
  char url[PIPING_URL_MAX + PATH_MAX_LEN];
  for (int i = 0; i < p->n; i++) {
    url_for(p, t, i, "announce", url, sizeof url);
    post(p, &t->posts[i], url); /* a POST still waiting for a receiver is not doubled */
  }
}

/* A record read on a path: answer an announcement in the sender's inbox, then meet. */
static void handle_record(piping *p, pp_topic *t, int server, int inbox, const json_t *rec,
                          uint64_t now) {
  uint8_t id[20];
  const char *idhex = json_string_value(json_object_get(rec, "id"));
  if (merec_parse_id(idhex, id) != SW_OK) {
    p->st.malformed++;
    return;
  }
  if (memcmp(id, core_identity(p->c)->id, 20) == 0) {
    p->st.own++; /* our own announcement, read back from the shared path */
    return;
  }
  if (!inbox) {
    char lower[41], url[PIPING_URL_MAX + PATH_MAX_LEN];
    crypto_hex_encode(id, 20, lower); /* the inbox path in lowercase, whatever was sent */
    url_for(p, t, server, lower, url, sizeof url);
    for (int i = 0; i < PIPING_REPLIES_MAX; i++)
      if (!p->replies[i].busy) {
        if (post(p, &p->replies[i], url)) p->st.replies++;
        break;
      }
  }
  int rc = merec_meet_topic(p->c, rec, t->topic, now);
  if (rc > 0) p->st.met++;
  else if (rc == SW_EINVAL) p->st.malformed++;
}

static void on_got(void *ctx, int status, const uint8_t *body, size_t len, uint64_t now) {
  pp_get *g = ctx;
  piping *p = g->p;
  pp_topic *t = &p->t[g->topic];
  g->busy = 0;
  if (status >= 200 && status <= 299) {
    p->st.responses++;
    g->backoff = PIPING_BACKOFF_MIN_MS;
    g->next_at = now + PIPING_REPOLL_MS;
    /* 14.4: trimmed, parsed, and used when it is a truthy value (here: an object) */
    while (len && isspace(body[len - 1])) len--;
    while (len && isspace(body[0])) body++, len--;
    if (!len || g->gen != t->gen || p->closed) return; /* the topic was left meanwhile */
    json_error_t err;
    json_t *rec = json_loadb((const char *)body, len, 0, &err);
    if (json_is_object(rec)) handle_record(p, t, g->server, g->inbox, rec, now);
    else p->st.malformed++;
    json_decref(rec);
    return;
  }
  p->st.errors++;
  if (!g->inbox && status >= 400 && status <= 499 && g->gen == t->gen && !p->closed) {
    /* A piping server lets one receiver wait on a path and refuses the next (400):
     * someone else is reading the announce path right now, so our record reaches them
     * at once instead of at the next 18 s tick. Bounded by this loop's back-off. */
    char url[PIPING_URL_MAX + PATH_MAX_LEN];
    url_for(p, t, g->server, "announce", url, sizeof url);
    post(p, &t->posts[g->server], url);
  }
  if (now - g->started_at >= PIPING_LONGPOLL_END_MS) {
    /* an idle long poll that timed out: poll again as after a response */
    g->backoff = PIPING_BACKOFF_MIN_MS;
    g->next_at = now + PIPING_REPOLL_MS;
    return;
  }
  g->next_at = now + g->backoff;
  g->backoff = g->backoff >= PIPING_BACKOFF_MAX_MS / 2 ? PIPING_BACKOFF_MAX_MS : g->backoff * 2;
}

static void poll_due(piping *p, pp_topic *t, uint64_t now) {
  char url[PIPING_URL_MAX + PATH_MAX_LEN], me[41];
  const uint8_t *id = core_identity(p->c)->id;
  crypto_hex_encode(id, 20, me);
  for (int s = 0; s < p->n; s++)
    for (int k = 0; k < 2; k++) {
      pp_get *g = &t->gets[s][k];
      if (g->busy || now < g->next_at) continue;
      url_for(p, t, s, k ? me : "announce", url, sizeof url);
      if (core_http(p->c, "GET", url, NULL, NULL, 0, PIPING_GET_TIMEOUT_MS, on_got, g) <= 0) {
        g->next_at = now + PIPING_BACKOFF_MIN_MS; /* the engine's request table is full */
        continue;
      }
      g->busy = 1;
      g->gen = t->gen;
      g->started_at = now;
      p->st.gets++;
    }
}

static void announce_due(piping *p, pp_topic *t, uint64_t now) {
  static const uint32_t first[] = {0, 2000, 5000}; /* 14.3 step 5 */
  if (now < t->next_announce) return;
  announce_all(p, t);
  t->announce_step++;
  if (t->announce_step < 3)
    t->next_announce = t->join_at + first[t->announce_step];
  else
    t->next_announce = t->join_at + (uint64_t)(t->announce_step - 2) * PIPING_ANNOUNCE_MS;
}

static void pp_timeout(void *m, uint64_t now) {
  piping *p = m;
  if (p->closed) return;
  for (int i = 0; i < SW_MAX_TOPICS; i++) {
    if (!p->t[i].gen) continue;
    announce_due(p, &p->t[i], now);
    poll_due(p, &p->t[i], now);
  }
}

/* Whether a request of a topic slot is still out (a long poll lasts up to 2 min). */
static int slot_busy(const piping *p, const pp_topic *t) {
  for (int s = 0; s < p->n; s++)
    if (t->posts[s].busy || t->gets[s][0].busy || t->gets[s][1].busy) return 1;
  return 0;
}

/* A topic was joined (the newest of the engine's list): its own paths and schedule from
 * the start (14.3), in a free slot, one whose old requests have all ended if possible. */
static void pp_join(void *m, uint64_t now) {
  piping *p = m;
  int nt = core_topic_count(p->c);
  const uint8_t *topic = core_topic_at(p->c, nt - 1);
  if (p->closed || !topic || !p->n) return;
  pp_topic *t = NULL;
  for (int i = 0; i < SW_MAX_TOPICS; i++) {
    if (p->t[i].gen && memcmp(p->t[i].topic, topic, 32) == 0) return; /* already served */
    if (!p->t[i].gen && (!t || (slot_busy(p, t) && !slot_busy(p, &p->t[i])))) t = &p->t[i];
  }
  if (!t) return; /* cannot happen: as many slots as topics */
  p->reclen = merec_build_own(p->c, MEREC_FULL, 0, p->rec, sizeof p->rec);
  memcpy(t->topic, topic, 32);
  crypto_topic_hash(topic, t->hash);
  if (++p->gen_next == 0) p->gen_next = 1; /* 0 means a free slot */
  t->gen = p->gen_next;
  t->join_at = now;
  t->next_announce = now;
  t->announce_step = 0;
  for (int s = 0; s < p->n; s++)
    for (int k = 0; k < 2; k++) {
      t->gets[s][k].next_at = now;
      t->gets[s][k].backoff = PIPING_BACKOFF_MIN_MS;
    }
  pp_timeout(p, now);
}

/* A topic was left: nothing more is posted or polled for it, and what its requests still
 * out bring back is dropped (the generation no longer matches). */
static void pp_leave(void *m, const uint8_t topic[32], uint64_t now) {
  piping *p = m;
  (void)now;
  for (int i = 0; i < SW_MAX_TOPICS; i++)
    if (p->t[i].gen && memcmp(p->t[i].topic, topic, 32) == 0) {
      p->t[i].gen = 0;
      for (int s = 0; s < PIPING_MAX_SERVERS; s++)
        for (int k = 0; k < 2; k++) p->t[i].gets[s][k].next_at = UINT64_MAX;
    }
}

static uint64_t pp_deadline(const void *m) {
  const piping *p = m;
  uint64_t t = UINT64_MAX;
  if (p->closed) return t;
  for (int i = 0; i < SW_MAX_TOPICS; i++) {
    const pp_topic *tp = &p->t[i];
    if (!tp->gen) continue;
    if (tp->next_announce < t) t = tp->next_announce;
    for (int s = 0; s < p->n; s++)
      for (int k = 0; k < 2; k++)
        if (!tp->gets[s][k].busy && tp->gets[s][k].next_at < t) t = tp->gets[s][k].next_at;
  }
  return t;
}

/* A new public address: the record changes (when the endpoint has a mapped port), and
 * is announced at once instead of at the next 18 s tick. */
static void pp_public_addr(void *m, int family, uint64_t now) {
  piping *p = m;
  char rec[MEREC_MAX];
  (void)family;
  (void)now;
  if (p->closed || !core_topic_count(p->c)) return; /* the record is built at join */
  size_t n = merec_build_own(p->c, MEREC_FULL, 0, rec, sizeof rec);
  if (!n || (n == p->reclen && memcmp(rec, p->rec, n) == 0)) return;
  memcpy(p->rec, rec, n + 1);
  p->reclen = n;
  for (int i = 0; i < SW_MAX_TOPICS; i++)
    if (p->t[i].gen) announce_all(p, &p->t[i]);
}

static void pp_close(void *m, uint64_t now) {
  (void)now;
  ((piping *)m)->closed = 1;
}

static void pp_free(void *m) { free(m); }

static size_t pp_memory(const void *m) {
  (void)m;
  return sizeof(piping);
}

int piping_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, piping **out) {
  (void)now;
  static const char *const defaults[] = {PIPING_DEFAULTS};
  piping *p = calloc(1, sizeof *p);
  if (!p) return SW_ENOMEM;
  p->c = c;
  int rc = SW_OK;
  for (size_t i = 0; rc == SW_OK && i < cfg->n_piping; i++) rc = add_url(p, cfg->piping[i]);
  if (rc == SW_OK && !cfg->no_default_servers)
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) add_url(p, defaults[i]);
  if (rc != SW_OK) {
    free(p);
    return rc;
  }
  for (int i = 0; i < SW_MAX_TOPICS; i++)
    for (int s = 0; s < PIPING_MAX_SERVERS; s++) {
      p->t[i].posts[s].p = p;
      for (int k = 0; k < 2; k++) {
        pp_get *g = &p->t[i].gets[s][k];
        g->p = p;
        g->topic = i;
        g->server = s;
        g->inbox = k;
        g->next_at = UINT64_MAX;
        g->backoff = PIPING_BACKOFF_MIN_MS;
      }
    }
  for (int i = 0; i < PIPING_REPLIES_MAX; i++) p->replies[i].p = p;
  core_module m = {.name = "piping", .on_join = pp_join, .on_timeout = pp_timeout,
                   .deadline = pp_deadline, .on_close = pp_close, .free = pp_free,
                   .memory = pp_memory, .on_public_addr = pp_public_addr, .state = p,
                   .on_leave = pp_leave};
  if ((rc = core_add_module(c, &m)) != SW_OK) {
    free(p);
    return rc;
  }
  if (out) *out = p;
  return SW_OK;
}

void piping_get_stats(const piping *p, piping_stats *out) { *out = p->st; }

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  return cfg->http ? piping_attach(c, cfg, now, NULL) : SW_OK;
}

const core_module_def piping_module = {"piping", attach_from_config};
