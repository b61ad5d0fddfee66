/* Shared helpers for the C tests: vector loading, hex, a deterministic RNG. */
#ifndef SW_TESTUTIL_H
#define SW_TESTUTIL_H

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

/* Load SW_VECTORS_DIR/<name> (tests/vectors by default, see its README.md); fails the
 * test when missing or malformed. */
json_t *tu_vectors(const char *name);
/* Decode hex into a fresh buffer (free it); fails the test on bad hex. */
uint8_t *tu_unhex(const char *hex, size_t *len);
/* Decode hex of known length into out; fails when the length differs. */
void tu_unhex_into(const char *hex, uint8_t *out, size_t len);
const char *tu_str(json_t *obj, const char *key);
/* Lowercase hex of bytes, into a static buffer rotating among 4 slots. */
const char *tu_hex(const uint8_t *b, size_t n);

/* splitmix64: reproducible randomness from a seed. */
typedef struct tu_rng {
  uint64_t s;
} tu_rng;
uint64_t tu_rng_next(tu_rng *r);
void tu_rng_bytes(void *ctx, uint8_t *buf, size_t len); /* ctx is a tu_rng* */

#endif
