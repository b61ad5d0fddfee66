/* The tools' hex: the library's one codec (src/core/crypto.h, lowercase out, strict
 * in). The tools link the static library, whose internal headers are on their include
 * path; nothing new is exported from the shared library for them. */
#ifndef SW_TOOLS_HEX_H
#define SW_TOOLS_HEX_H

#include "crypto.h"

#endif
