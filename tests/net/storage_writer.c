/* The program tests/net/test_sync_storage.py kills: it drives the SQLite storage
 * backend (src/storage/sqlite.h) the way a swarm does, and says which values are
 * acknowledged.
 *
 *   sw_storage_writer DB write FIRST   set k<i> for i = FIRST, FIRST+1, ... forever,
 *                                      printing "ack <i>" once set's completion ran
 *   sw_storage_writer DB check LAST    exit 0 when k0..k<LAST> all hold their value,
 *                                      else print the first bad key and exit 1
 *
 * Value of k<i>: 1 + (i * 7919) % 20000 bytes, byte j = (i * 31 + j) & 255. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"

static size_t value_of(unsigned long i, uint8_t *out) {
  size_t n = 1 + (i * 7919) % 20000;
  for (size_t j = 0; j < n; j++) out[j] = (uint8_t)((i * 31 + j) & 255);
  return n;
}

typedef struct seen {
  int calls, err;
  uint8_t *v;
  size_t len;
} seen;

static void done(void *req, int err, const uint8_t *value, size_t len) {
  seen *s = req;
  s->calls++;
  s->err = err;
  s->len = len;
  if (value && len) memcpy(s->v, value, len);
}

int main(int argc, char **argv) {
  static uint8_t want[20001], got[20001];
  char key[32], why[256] = "";
  sw_storage *st;
  if (argc != 4) {
    fprintf(stderr, "usage: sw_storage_writer DB write FIRST | DB check LAST\n");
    return 2;
  }
  unsigned long arg = strtoul(argv[3], NULL, 10);
  if (sw_storage_sqlite_open(argv[1], &st, why, sizeof why) != SW_OK) {
    fprintf(stderr, "sw_storage_writer: %s\n", why);
    return 1;
  }
  if (strcmp(argv[2], "write") == 0) {
    for (unsigned long i = arg;; i++) {
      seen s = {0, 0, got, 0};
      snprintf(key, sizeof key, "k%lu", i);
      size_t n = value_of(i, want);
      st->set(st->self, key, want, n, done, &s);
      if (s.calls != 1 || s.err) {
        fprintf(stderr, "sw_storage_writer: set %s failed\n", key);
        return 1;
      }
      printf("ack %lu\n", i);
      fflush(stdout);
    }
  }
  for (unsigned long i = 0; i <= arg; i++) {
    seen s = {0, 0, got, 0};
    snprintf(key, sizeof key, "k%lu", i);
    size_t n = value_of(i, want);
    st->get(st->self, key, done, &s);
    if (s.calls != 1 || s.err || s.len != n || memcmp(got, want, n) != 0) {
      printf("bad %s: %s\n", key, s.len ? "wrong value" : "missing");
      sw_storage_sqlite_close(st);
      return 1;
    }
  }
  printf("ok %lu\n", arg + 1);
  sw_storage_sqlite_close(st);
  return 0;
}
