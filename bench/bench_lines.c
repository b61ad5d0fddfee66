/* The reading end of xport_bench.py's setowire-cat rows: counts the lines arriving on
 * standard input as fast as they come, and when they arrived.
 *
 *   bench_lines COUNT [IDLE_MS]
 *
 * Reads in 1 MiB blocks until COUNT newlines, end of input, or IDLE_MS (default 2000)
 * without data once some came, then prints one line:
 *
 *   lines N first T0 last T1 before N0
 *
 * N the newlines read, T0 / T1 (seconds, CLOCK_MONOTONIC) the times of the first and
 * the last read that returned data, N0 the newlines of that first read (they arrived
 * before T0: a rate is (N - N0) / (T1 - T0)). A C reader rather than the script: a Python thread
 * reading a gigabyte a second took a third of a core from the two cats it measured. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: bench_lines COUNT [IDLE_MS]\n");
    return 2;
  }
  unsigned long long want = strtoull(argv[1], NULL, 10), n = 0, n0 = 0;
  int idle_ms = argc > 2 ? atoi(argv[2]) : 2000;
  static char buf[1 << 20];
  double first = 0, last = 0;
  while (!want || n < want) {
    if (n || first > 0) { /* data came: stop once it has not for idle_ms */
      struct pollfd p = {.fd = 0, .events = POLLIN};
      int r = poll(&p, 1, idle_ms);
      if (r == 0) break;
      if (r < 0 && errno != EINTR) break;
    }
    ssize_t r = read(0, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    double t = now_s();
    last = t;
    for (const char *p = buf, *e = buf + r; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
      n++;
    if (first == 0) {
      first = t;
      n0 = n;
    }
  }
  printf("lines %llu first %.6f last %.6f before %llu\n", n, first, last, n0);
  return 0;
}
