/* A shared check of the delivery engine alone (src/core/xport.h) for the stream entries
 * that carry a header before the message: kind 4 (origin, test_origin.c) and kind 5
 * (signed origin, test_origin_signed.c). */
#ifndef SW_TEST_XPORT_ENTRY_H
#define SW_TEST_XPORT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "xport.h"

/* xport_send_origin or xport_send_signed. */
typedef int (*xport_hdr_send)(xport *x, const uint8_t *hdr, const void *data, size_t len,
                              uint64_t now);

/* With `send`, whose header is hdr_len bytes, messages max_msg at most, received with
 * `flag`, in entries of kind `entry` (XPORT_ENTRY_ORIGIN, XPORT_ENTRY_SIGNED): a message
 * one byte too big and a missing header are refused; one sent with a header, then a
 * plain one, come out whole and in order with their flags; a hand-made MSG frame at
 * offset 0 whose entry of that kind is one byte too short for the header breaks the
 * stream. */
void check_header_entry(xport_hdr_send send, size_t hdr_len, size_t max_msg, unsigned flag,
                        uint64_t entry);

#endif
