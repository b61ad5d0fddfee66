/* The file-backed peer cache (setowire.h: sw_peer_cache_file_load/_save): a JSON array
 * written atomically, so the tools keep the peers they met across runs (PROTOCOL.md
 * 14.8; the field is "last_seen" in Unix ms, not the references' clocks, PROTOCOL.md 17.23). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "setowire.h"

#define FILE_MAX_BYTES (1u << 20) /* a cache file larger than this is not ours */

size_t sw_peer_cache_file_load(void *path, sw_peer_entry *out, size_t max) {
  json_error_t err;
  struct stat st;
  if (!path || !out || stat(path, &st) || st.st_size > (off_t)FILE_MAX_BYTES) return 0;
  json_t *a = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  size_t n = 0, i;
  json_t *o;
  if (!json_is_array(a)) {
    json_decref(a);
    return 0;
  }
  json_array_foreach(a, i, o) {
    if (n == max) break;
    json_t *id = json_object_get(o, "id"), *ip = json_object_get(o, "ip"),
           *port = json_object_get(o, "port"), *seen = json_object_get(o, "last_seen");
    if (!json_is_string(ip) || !json_is_integer(port)) continue;
    json_int_t pv = json_integer_value(port);
    const char *ips = json_string_value(ip), *ids = json_is_string(id) ? json_string_value(id) : "";
    if (pv < 1 || pv > 65535 || strlen(ips) >= sizeof out[n].ip || strlen(ids) >= sizeof out[n].id)
      continue;
    memset(&out[n], 0, sizeof out[n]);
    memcpy(out[n].id, ids, strlen(ids) + 1);
    memcpy(out[n].ip, ips, strlen(ips) + 1);
    out[n].port = (uint16_t)pv;
    out[n].last_seen = json_is_integer(seen) && json_integer_value(seen) > 0
                           ? (uint64_t)json_integer_value(seen) : 0;
    n++;
  }
  json_decref(a);
  return n;
}

static int write_all(int fd, const char *d, size_t n) {
  while (n) {
    ssize_t w = write(fd, d, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    d += w;
    n -= (size_t)w;
  }
  return 0;
}

int sw_peer_cache_file_save(void *path, const sw_peer_entry *list, size_t n) {
  if (!path || (!list && n)) return SW_EINVAL;
  json_t *a = json_array();
  if (!a) return SW_ENOMEM;
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:I}", "id", list[i].id, "ip",
                                       list[i].ip, "port", (int)list[i].port, "last_seen",
                                       (json_int_t)(list[i].last_seen & INT64_MAX)));
  char *text = json_dumps(a, JSON_INDENT(1));
  json_decref(a);
  if (!text) return SW_ENOMEM;
  /* Write a temporary file beside it, flush it to disk, then rename: readers see the
   * old list or the new one, never half of one. */
  size_t pl = strlen(path);
  char *tmp = malloc(pl + 32);
  if (!tmp) {
    free(text);
    return SW_ENOMEM;
  }
  snprintf(tmp, pl + 32, "%s.tmp.%ld", (const char *)path, (long)getpid());
  int rc = SW_EIO;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    int ok = write_all(fd, text, strlen(text)) == 0 && write_all(fd, "\n", 1) == 0 &&
             fsync(fd) == 0;
    if (close(fd) == 0 && ok && rename(tmp, path) == 0) {
      rc = SW_OK;
      /* make the rename itself durable */
      char *dcopy = strdup(path);
      if (dcopy) {
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
          fsync(dfd);
          close(dfd);
        }
        free(dcopy);
      }
    }
    if (rc != SW_OK) unlink(tmp);
  }
  free(tmp);
  free(text);
  return rc;
}
