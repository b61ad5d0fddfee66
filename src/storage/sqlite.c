/* SQLite storage backend; see sqlite.h. The table is kv(key TEXT PRIMARY KEY,
 * value BLOB NOT NULL); keys are the store's text keys (at most 255 bytes). */
#include "sqlite.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sqlite_backend {
  sw_storage iface; /* first: the sw_storage* we hand out points here */
  sqlite3 *db;
  sqlite3_stmt *get, *set, *del;
} sqlite_backend;

static void be_get(void *self, const char *key, sw_storage_done done, void *req) {
  sqlite_backend *b = self;
  int rc;
  sqlite3_reset(b->get);
  if (sqlite3_bind_text(b->get, 1, key, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
    done(req, SW_EIO, NULL, 0);
    return;
  }
  rc = sqlite3_step(b->get);
  if (rc == SQLITE_ROW) {
    const void *v = sqlite3_column_blob(b->get, 0);
    int n = sqlite3_column_bytes(b->get, 0);
    done(req, SW_OK, v, (size_t)(n > 0 ? n : 0));
  } else {
    done(req, rc == SQLITE_DONE ? SW_OK : SW_EIO, NULL, 0);
  }
  sqlite3_reset(b->get);
}

static void be_set(void *self, const char *key, const uint8_t *value, size_t len,
                   sw_storage_done done, void *req) {
  sqlite_backend *b = self;
  int rc = SQLITE_MISUSE;
  if (len == 0) { /* sw_storage: a set of length 0 removes the key (unstore, expiry) */
    sqlite3_reset(b->del);
    if (sqlite3_bind_text(b->del, 1, key, -1, SQLITE_TRANSIENT) == SQLITE_OK)
      rc = sqlite3_step(b->del);
    sqlite3_reset(b->del);
    sqlite3_clear_bindings(b->del);
    done(req, rc == SQLITE_DONE ? SW_OK : SW_EIO, NULL, 0);
    return;
  }
  sqlite3_reset(b->set);
  if (len <= 0x7fffffff && sqlite3_bind_text(b->set, 1, key, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
      sqlite3_bind_blob(b->set, 2, value, (int)len, SQLITE_TRANSIENT) == SQLITE_OK)
    rc = sqlite3_step(b->set); /* autocommit: committed (and fsynced) when it returns */
  sqlite3_reset(b->set);
  sqlite3_clear_bindings(b->set);
  done(req, rc == SQLITE_DONE ? SW_OK : SW_EIO, NULL, 0);
}

static void fail(char *errbuf, size_t errlen, const char *what, sqlite3 *db) {
  if (errbuf && errlen) snprintf(errbuf, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "");
}

int sw_storage_sqlite_open(const char *path, sw_storage **out, char *errbuf, size_t errlen) {
  if (!path || !out) return SW_EINVAL;
  *out = NULL;
  sqlite_backend *b = calloc(1, sizeof *b);
  if (!b) return SW_ENOMEM;
  const char *setup =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;" /* a completed set is on disk, not only in the WAL cache */
      "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value BLOB NOT NULL);";
  if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    fail(errbuf, errlen, "open", b->db);
    goto bad;
  }
  sqlite3_busy_timeout(b->db, 5000);
  if (sqlite3_exec(b->db, setup, NULL, NULL, NULL) != SQLITE_OK) {
    fail(errbuf, errlen, "setup", b->db);
    goto bad;
  }
  if (sqlite3_prepare_v2(b->db, "SELECT value FROM kv WHERE key = ?1", -1, &b->get, NULL) ||
      sqlite3_prepare_v2(b->db, "INSERT OR REPLACE INTO kv(key, value) VALUES(?1, ?2)", -1,
                         &b->set, NULL) ||
      sqlite3_prepare_v2(b->db, "DELETE FROM kv WHERE key = ?1", -1, &b->del, NULL)) {
    fail(errbuf, errlen, "prepare", b->db);
    goto bad;
  }
  b->iface.get = be_get;
  b->iface.set = be_set;
  b->iface.self = b;
  *out = &b->iface;
  return SW_OK;
bad:
  sqlite3_finalize(b->get);
  sqlite3_finalize(b->set);
  sqlite3_finalize(b->del);
  sqlite3_close(b->db);
  free(b);
  return SW_EIO;
}

void sw_storage_sqlite_close(sw_storage *st) {
  if (!st) return;
  sqlite_backend *b = (sqlite_backend *)st;
  sqlite3_finalize(b->get);
  sqlite3_finalize(b->set);
  sqlite3_finalize(b->del);
  sqlite3_close(b->db);
  free(b);
}
