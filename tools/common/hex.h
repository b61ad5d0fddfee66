/* Lowercase hex for the tools' event lines and file names. */
#ifndef SW_TOOLS_HEX_H
#define SW_TOOLS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* out holds 2 * n + 1 bytes. */
void tool_hex(const uint8_t *b, size_t n, char *out);

#endif
