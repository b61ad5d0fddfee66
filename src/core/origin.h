/* Signed origins between our peers (docs/TRANSPORT-delivery.md "Signed origins",
 * docs/API.md SW_SEND_SIGNED): our Ed25519 signing key (crypto_signer), the bindings
 * "full id X signs with key S" that peers tell us over their extended sessions, the
 * signature of our own mesh messages, and the check of others'.
 *
 * A binding is learnt only from X itself, over the extended session whose handshake
 * authenticated X's static key, and only with X's signing key's own signature over X's
 * full id (proof that X holds it). At most ORIGIN_BINDINGS are kept, the least recently
 * used dropped first; they outlive the sessions they came over, so a message X signed
 * can be checked by a peer that met X once, however it travelled since. */
#ifndef SW_CORE_ORIGIN_H
#define SW_CORE_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "xport.h"

/* Engine messages on the stream (TRANSPORT.md 7.1): channel 0x02, the signing binding. */
#define ORIGIN_CHANNEL 0x02
#define ORIGIN_MSG_BINDING 0x01 /* type byte, signing key (32), proof signature (64) */
#define ORIGIN_BINDING_LEN (1 + CRYPTO_SIGN_PUB_LEN + CRYPTO_SIGN_LEN)
#define ORIGIN_BINDINGS 1024 /* bindings kept (about 64 bytes each) */
/* Domain labels: what a signature says, so that one can never pass for another. */
#define ORIGIN_SIG_LABEL "setowire signed origin v1"    /* || author || msg id || msg */
#define ORIGIN_BIND_LABEL "setowire signing binding v1" /* || full id || signing key */

/* Queue our binding into p's extended session (its stream exists): sent with the
 * session's first packets, before any message written later. */
void origin_send_binding(sw_core *c, core_peer *p, uint64_t now);
/* A channel 0x02 message from p (the channel byte removed). Anything but a well-formed
 * binding with a valid proof is ignored. */
void origin_on_message(sw_core *c, core_peer *p, const uint8_t *msg, size_t len,
                       uint64_t now);

/* Sign our own message: hdr holds the XPORT_ORIGIN_HDR bytes (our id, the message id);
 * the 64-byte signature goes after them (XPORT_SIGNED_HDR in all). SW_OK, SW_ENOMEM,
 * SW_ECRYPTO. */
int origin_sign(sw_core *c, uint8_t hdr[XPORT_SIGNED_HDR], const void *msg, size_t len);

/* Check a kind 5 entry's signature (hdr: XPORT_SIGNED_HDR bytes) against the key bound
 * to its author. */
#define ORIGIN_VALID 1    /* signed by the author's bound key */
#define ORIGIN_UNKNOWN 0  /* no binding for the author here: cannot tell */
#define ORIGIN_FORGED (-1) /* a binding, and the signature is not its key's */
int origin_verify(sw_core *c, const uint8_t *hdr, const uint8_t *msg, size_t len);

/* The signing key bound to a peer: id is a full id (idlen 20) or a wire id (idlen 8, the
 * most recently used binding whose full id starts with it). SW_OK or SW_ENOTFOUND. */
int origin_key_of(sw_core *c, const uint8_t *id, size_t idlen, uint8_t out[32]);

/* Our own signing public key (SW_OK, SW_ECRYPTO, SW_ENOMEM). */
int origin_own_key(sw_core *c, uint8_t out[32]);

void origin_free(sw_core *c);
size_t origin_memory(const sw_core *c);

#endif
