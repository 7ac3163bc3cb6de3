/* identity.h - who this device is: an Ed25519 device key, the device id derived from it, and an
 * X25519 key for the Noise transport whose public half the device key signs.
 *
 * Files (under the config directory, paths.h), created on first use with mode 0600 in a 0700
 * directory, written atomically:
 *   identity.key  JSON {"version":1, "sign_sk": base64 of the 64-byte Ed25519 secret key,
 *                 "dh_sk": base64 of the 32-byte X25519 secret key, "name": device name}
 *   A file readable by group or others is refused (like ssh).
 *
 * Device id: SHA-256 of the Ed25519 public key, base32 (RFC 4648 alphabet, no padding: 52
 * characters), cut into four groups of 13, each followed by its Luhn mod 32 check character
 * (56 characters), shown as 8 groups of 7 joined by '-':
 *   "MFZWI3D-BONSGYC-..." (63 characters).
 * Parsing accepts lower case, no dashes or spaces, and the look-alikes 0->O, 1->I, 8->B; a wrong
 * check character is refused ("mistyped device id"), and so is the 52-character form without
 * check characters (a typo in it could not be caught). The check character follows Syncthing's
 * device ids: Luhn mod 32 over the base32 alphabet, weights 1, 2, 1, ... from the left.
 *
 * Auth payload (sent inside the Noise handshake, chan.h): 32-byte Ed25519 public key then the
 * 64-byte signature of "unhosted-noise-static-v1" || the 32-byte X25519 public key.
 *
 * Ownership: secret keys live in sodium_malloc'd memory inside the identity and are wiped by
 * identity_free. Threading: an identity is read-only after identity_load. */
#ifndef UH_CLUSTER_IDENTITY_H
#define UH_CLUSTER_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

#define DEVICE_ID_STRLEN  64  /* 63 characters + NUL */
#define DEVICE_ID_SHORT   7   /* the first group: how lists show a device */
#define IDENTITY_AUTH_LEN 96
#define IDENTITY_NAME_MAX 64

typedef struct identity identity;

/* Loads the identity from dir (NULL = the config directory), creating it on first use with a
 * name taken from the host name. */
int identity_load(const char *dir, identity **out, uh_err *err);
void identity_free(identity *id);

const char *identity_device_id(const identity *id);      /* grouped form */
const char *identity_name(const identity *id);
const uint8_t *identity_sign_pk(const identity *id);     /* [32] */
const uint8_t *identity_dh_pk(const identity *id);       /* [32] */
const uint8_t *identity_dh_sk(const identity *id);       /* [32] secret: pass to chan only */
/* Our auth payload [IDENTITY_AUTH_LEN]. */
const uint8_t *identity_auth(const identity *id);
/* Renames the device and rewrites identity.key (atomically). UH_EINVAL for a name that is empty,
 * longer than IDENTITY_NAME_MAX - 1 bytes or holds control characters. Not safe against
 * concurrent readers of the same identity: call it before sharing id with other threads. */
int identity_set_name(identity *id, const char *name, uh_err *err);
/* 1 when name is a valid device name (1..IDENTITY_NAME_MAX-1 bytes, no control characters). */
int identity_name_valid(const char *name);

/* Device id (grouped form) of an Ed25519 public key. */
void device_id_from_pk(const uint8_t pk[32], char out[DEVICE_ID_STRLEN]);
/* Canonical grouped form of a typed id; UH_EINVAL with a message when it is not one. */
int device_id_parse(const char *text, char out[DEVICE_ID_STRLEN], uh_err *err);
/* Checks a peer's auth payload against the Noise static key it came with; fills the peer's
 * device key and id. UH_EFORMAT when the length is wrong or the signature does not verify. */
int identity_verify_auth(const uint8_t *auth, size_t len, const uint8_t remote_dh_pk[32],
                         uint8_t sign_pk_out[32], char id_out[DEVICE_ID_STRLEN], uh_err *err);

#endif
