/* sha256.h - streaming SHA-256 for files and downloads, on OpenSSL's libcrypto (which uses the
 * CPU's SHA extensions where it has them).
 *
 * The state is a plain struct with no pointers inside: it may be copied, and saved to disk and
 * restored byte for byte (a resumed download goes on hashing where it stopped). Its layout
 * belongs to the library that wrote it; store sha256_impl_tag() beside a saved state and use the
 * state only where the tag matches, hashing the data again otherwise. */
#ifndef UH_BASE_SHA256_H
#define UH_BASE_SHA256_H

#include <stddef.h>

#define SHA256_BYTES       32
#define SHA256_STATE_BYTES 128 /* room for the library's context, zero-padded */
#define SHA256_TAG_BYTES   32

typedef struct {
    _Alignas(8) unsigned char b[SHA256_STATE_BYTES];
} sha256_state;

void sha256_init(sha256_state *s);
void sha256_update(sha256_state *s, const void *data, size_t len);
/* Writes the digest. The state is spent afterwards (sha256_init it again to reuse it); finalize
 * a copy to look at the digest so far and keep hashing. */
void sha256_final(sha256_state *s, unsigned char out[SHA256_BYTES]);
/* One call: the digest of len bytes at data. */
void sha256_buf(unsigned char out[SHA256_BYTES], const void *data, size_t len);
/* 64 lowercase hex digits and a NUL. */
void sha256_hex(const unsigned char digest[SHA256_BYTES], char out[2 * SHA256_BYTES + 1]);
/* Names the implementation and version whose layout a saved state has, NUL-padded to
 * SHA256_TAG_BYTES ("openssl 30000130"). */
void sha256_impl_tag(char out[SHA256_TAG_BYTES]);

#endif
