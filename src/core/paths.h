/* A peer's paths (docs/ARCHITECTURE.md "Paths"): up to MAX_PATHS ways to reach it, each
 * direct or relayed through a named peer, each with its own RTT and proof. Traffic goes
 * on the best verified path; a path becomes verified only by an authenticated frame
 * that came along it (D8). */
#ifndef SW_CORE_PATHS_H
#define SW_CORE_PATHS_H

#include "engine.h"

/* The index of `path` among p's paths, or -1. */
int paths_index(const core_peer *p, const core_path *path);
/* The peer that has `path` (and its index in *pi), or NULL. The hot lookup of every
 * received frame: a one-entry cache keeps it O(1) while one peer is busy. */
core_peer *paths_find_peer(sw_core *c, const core_path *path, int *pi);
const core_path *paths_best(const core_peer *p);
/* Set p's only path (a new peer). */
void paths_first(core_peer *p, const core_path *path);
/* An authenticated frame came along `path` (index pi, or -1 when new to p). When its
 * address is validated (guard.h) the path is verified, and a new one becomes the best
 * while the others must prove themselves again (D35); otherwise it waits for the
 * address to answer a challenge (paths_validated) and traffic stays where it was.
 * Returns its index. */
int paths_proven(sw_core *c, core_peer *p, const core_path *path, int pi);
/* The best path of p was `was` before a change: SW_EV_PATH when the traffic moved
 * between direct and relayed, or to another relay. */
void paths_moved(sw_core *c, core_peer *p, const core_path *was);
/* Address a answered a challenge: the paths that carried authenticated frames from it
 * are verified, and a peer whose traffic went elsewhere moves there (D35). */
void paths_validated(sw_core *c, const sw_addr *a, uint64_t now);
/* The peer was heard on path pi (or -1: on none of its paths); sample_ms >= 0 is an RTT
 * measured on that path. */
void paths_touch(core_peer *p, int pi, uint64_t now, double sample_ms);
/* Queue a frame on a path: direct into the output ring, relayed through the relay hook.
 * Returns SW_OK or a negative code (nothing queued). */
int paths_send(sw_core *c, const core_path *to, const uint8_t *frame, size_t len);
/* The same for a frame of the peer's own traffic, held by the pacer until not_before (a
 * relayed path leaves at once: the relay module paces its own hop). */
int paths_send_at(sw_core *c, const core_path *to, const uint8_t *frame, size_t len,
                  uint64_t not_before);
/* Reserve ring room for a frame of len bytes to `to`: validated direct paths only (NULL
 * for a relayed path, an unvalidated address or a full ring); paths_commit queues it. Saves a copy of large frames. */
uint8_t *paths_reserve(sw_core *c, const core_path *to, size_t len);
void paths_commit(sw_core *c, const core_path *to, size_t len, uint64_t not_before);

#endif
