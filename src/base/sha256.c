/* sha256.c - SHA-256 on libcrypto's SHA256_CTX API.
 *
 * SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP_MD_CTX, but the EVP
 * context is opaque and heap-allocated, so its state cannot be saved and restored; SHA256_CTX is a
 * plain struct, which is what a resumable download needs. The old API stays in OpenSSL 3 and runs
 * the same assembly (SHA-NI, AVX2) as EVP, so the deprecation warnings are silenced here, in this
 * one file, and nowhere else. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "base/sha256.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) <= SHA256_STATE_BYTES, "SHA256_CTX fits sha256_state");
_Static_assert(_Alignof(SHA256_CTX) <= 8, "sha256_state is aligned enough for SHA256_CTX");
_Static_assert(SHA256_DIGEST_LENGTH == SHA256_BYTES, "digest size");

/* The context lives at the start of the byte array (aligned for it, see above); the padding
 * after it stays zero, so two equal states compare equal byte for byte. */
static SHA256_CTX *ctx(sha256_state *s)
{
    return (SHA256_CTX *)(void *)s->b;
}

void sha256_init(sha256_state *s)
{
    memset(s, 0, sizeof *s);
    SHA256_Init(ctx(s));
}

void sha256_update(sha256_state *s, const void *data, size_t len)
{
    if (len) SHA256_Update(ctx(s), data, len);
}

void sha256_final(sha256_state *s, unsigned char out[SHA256_BYTES])
{
    SHA256_Final(out, ctx(s));
}

void sha256_buf(unsigned char out[SHA256_BYTES], const void *data, size_t len)
{
    sha256_state s;
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, out);
}

void sha256_hex(const unsigned char digest[SHA256_BYTES], char out[2 * SHA256_BYTES + 1])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_BYTES; i++) {
        out[2 * i] = hx[digest[i] >> 4];
        out[2 * i + 1] = hx[digest[i] & 15];
    }
    out[2 * SHA256_BYTES] = 0;
}

void sha256_impl_tag(char out[SHA256_TAG_BYTES])
{
    memset(out, 0, SHA256_TAG_BYTES);
    snprintf(out, SHA256_TAG_BYTES, "openssl %lx", (unsigned long)OpenSSL_version_num());
}
