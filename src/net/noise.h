/* noise.h - the Noise Protocol Framework (revision 34) for DH 25519, cipher ChaChaPoly and hash
 * SHA256, over libsodium: CipherState, SymmetricState and HandshakeState for the patterns NN, XK,
 * IK and XX (the node uses Noise_XX_25519_ChaChaPoly_SHA256; the others exist so that the
 * implementation is checked against every published vector of this suite).
 *
 * Nonces: ChaChaPoly takes 32 zero bits then the 64-bit counter little-endian (IETF 96-bit
 * nonce). Rekey() is REKEY(k) = ENCRYPT(k, 2^64-1, "", 32 zero bytes)[0..32). A CipherState
 * refuses to encrypt or decrypt once its counter reaches 2^64-1.
 *
 * Ownership: every key lives inside the structs here and is wiped by noise_cipher_wipe /
 * noise_hs_free. Threading: none; a CipherState is used by one thread at a time. */
#ifndef UH_NET_NOISE_H
#define UH_NET_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

#define NOISE_KEY_LEN   32
#define NOISE_HASH_LEN  32
#define NOISE_TAG_LEN   16
#define NOISE_MAX_MSG   65535 /* bytes of one Noise message (ciphertext + tag) */

enum noise_pattern { NOISE_NN = 0, NOISE_XK = 1, NOISE_IK = 2, NOISE_XX = 3 };
enum noise_role { NOISE_INITIATOR = 0, NOISE_RESPONDER = 1 };

typedef struct {
    uint8_t k[NOISE_KEY_LEN];
    uint64_t n;
    int has_key;
} noise_cipher;

/* out receives len + NOISE_TAG_LEN bytes (len bytes when there is no key: plaintext copied).
 * out may equal pt. UH_ELIMIT when the nonce is exhausted. */
int noise_cipher_encrypt(noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                         size_t len, uint8_t *out);
/* ct_len >= NOISE_TAG_LEN when keyed; out receives ct_len - NOISE_TAG_LEN bytes. UH_EFORMAT when
 * authentication fails (the nonce is not advanced then). */
int noise_cipher_decrypt(noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                         size_t ct_len, uint8_t *out);
void noise_cipher_rekey(noise_cipher *c);
void noise_cipher_wipe(noise_cipher *c);

typedef struct noise_hs noise_hs;

/* A handshake for pattern p in role r. s_priv: our static X25519 private key (required when
 * the pattern sends or pre-shares our static, else NULL). rs_pub: the remote static public key
 * for patterns where it is known beforehand (XK, IK initiator), else NULL. The protocol
 * name is "Noise_<pattern>_25519_ChaChaPoly_SHA256". */
int noise_hs_new(enum noise_pattern p, enum noise_role r, const uint8_t *prologue,
                 size_t prologue_len, const uint8_t *s_priv, const uint8_t *rs_pub,
                 noise_hs **out, uh_err *err);
/* Tests only: use this ephemeral private key instead of a random one. Before the first
 * message. */
void noise_hs_set_ephemeral(noise_hs *hs, const uint8_t e_priv[32]);
/* 1 when the next step is noise_hs_write, 0 when it is noise_hs_read. */
int noise_hs_wants_write(const noise_hs *hs);
/* 1 once every handshake message has been written or read. */
int noise_hs_done(const noise_hs *hs);
/* Writes the next handshake message carrying payload; *out_len receives its length. UH_ELIMIT
 * when cap is too small or the message would pass NOISE_MAX_MSG, UH_EINVAL out of turn. */
int noise_hs_write(noise_hs *hs, const uint8_t *payload, size_t payload_len, uint8_t *out,
                   size_t cap, size_t *out_len, uh_err *err);
/* Reads the next handshake message; its payload goes to payload[0..*payload_len). UH_EFORMAT for
 * a short or unauthentic message (the handshake is then dead: every later call fails). */
int noise_hs_read(noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap,
                  size_t *payload_len, uh_err *err);
/* The remote static public key once received (or given), else NULL. */
const uint8_t *noise_hs_remote_static(const noise_hs *hs);
/* The handshake hash h (channel binding); final once noise_hs_done. */
void noise_hs_hash(const noise_hs *hs, uint8_t out[NOISE_HASH_LEN]);
/* After the handshake: the two transport ciphers; send/recv are assigned by role (the
 * initiator sends with the first). UH_EINVAL before noise_hs_done. */
int noise_hs_split(noise_hs *hs, noise_cipher *send, noise_cipher *recv);
/* Wipes every secret and frees. Accepts NULL. */
void noise_hs_free(noise_hs *hs);

/* A fresh X25519 key pair (priv clamped by libsodium's convention). */
void noise_keypair(uint8_t priv[32], uint8_t pub[32]);

#endif
