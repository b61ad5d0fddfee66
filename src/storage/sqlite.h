/* A ready-made storage backend for store/fetch (sw_options.storage): one SQLite
 * database file in WAL mode. Every set is its own transaction, committed with
 * synchronous=FULL before its completion is called, so a value whose set completed
 * survives a killed process (and a power cut). Calls run on the loop thread and
 * complete before they return: one commit costs about one fsync. */
#ifndef SW_STORAGE_SQLITE_H
#define SW_STORAGE_SQLITE_H

#include "setowire.h"

/* Open (creating if needed) the database at path. SW_OK and *out, SW_EIO with a
 * reason in errbuf (may be NULL), SW_EINVAL, SW_ENOMEM. */
int sw_storage_sqlite_open(const char *path, sw_storage **out, char *errbuf, size_t errlen);
/* Close it: only once no swarm uses it any more. */
void sw_storage_sqlite_close(sw_storage *st);

#endif
