/* test_sha256.c - base/sha256: the FIPS 180-2 example messages, the same digests when the input
 * arrives in odd-sized pieces, and a state saved to bytes mid-stream and restored into another
 * struct (what a resumed download does) giving the same digest. */
#include <stdint.h>

#include "base/sha256.h"
#include "check.h"

static const char *const ABC = "abc";
static const char *const M448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
#define D_EMPTY   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D_ABC     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define D_M448    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define D_MILLION "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define MILLION   1000000

static void hex_of(const void *p, size_t n, char out[65])
{
    unsigned char d[SHA256_BYTES];
    sha256_buf(d, p, n);
    sha256_hex(d, out);
}

static unsigned char *million_a(void)
{
    unsigned char *m = malloc(MILLION);
    if (m) memset(m, 'a', MILLION);
    return m;
}

/* Feeds n bytes in pieces of 1, 2, 3, ... 97 bytes, then again from 1. */
static void feed_odd(sha256_state *s, const unsigned char *p, size_t n)
{
    size_t k = 1;
    while (n) {
        size_t t = k < n ? k : n;
        sha256_update(s, p, t);
        p += t;
        n -= t;
        k = k == 97 ? 1 : k + 1;
    }
}

static void test_vectors(void)
{
    char h[65];
    hex_of("", 0, h);
    CHECKF(strcmp(h, D_EMPTY) == 0, "%s", h);
    hex_of(ABC, strlen(ABC), h);
    CHECKF(strcmp(h, D_ABC) == 0, "%s", h);
    hex_of(M448, strlen(M448), h);
    CHECKF(strcmp(h, D_M448) == 0, "%s", h);
    unsigned char *m = million_a();
    CHECK(m != NULL);
    if (!m) return;
    hex_of(m, MILLION, h);
    CHECKF(strcmp(h, D_MILLION) == 0, "%s", h);
    free(m);
}

static void test_streaming(void)
{
    sha256_state s;
    unsigned char d[SHA256_BYTES];
    char h[65];
    /* one byte at a time */
    sha256_init(&s);
    for (size_t i = 0; i < strlen(M448); i++) sha256_update(&s, M448 + i, 1);
    sha256_update(&s, "", 0);
    sha256_final(&s, d);
    sha256_hex(d, h);
    CHECKF(strcmp(h, D_M448) == 0, "%s", h);
    /* the million in odd pieces, crossing every block boundary at a different offset */
    unsigned char *m = million_a();
    CHECK(m != NULL);
    if (!m) return;
    sha256_init(&s);
    feed_odd(&s, m, MILLION);
    sha256_final(&s, d);
    sha256_hex(d, h);
    CHECKF(strcmp(h, D_MILLION) == 0, "%s", h);
    /* in pieces of 64 KiB + 1 */
    sha256_init(&s);
    for (size_t p = 0; p < MILLION; p += 65537)
        sha256_update(&s, m + p, MILLION - p < 65537 ? MILLION - p : 65537);
    sha256_final(&s, d);
    sha256_hex(d, h);
    CHECKF(strcmp(h, D_MILLION) == 0, "%s", h);
    /* a state is reusable after sha256_init */
    sha256_init(&s);
    sha256_update(&s, ABC, 3);
    sha256_final(&s, d);
    sha256_hex(d, h);
    CHECKF(strcmp(h, D_ABC) == 0, "%s", h);
    free(m);
}

static void test_save_restore(void)
{
    unsigned char *m = million_a();
    CHECK(m != NULL);
    if (!m) return;
    /* stop at offsets inside a block, on a block boundary, and at the start */
    const size_t cuts[] = {0, 1, 63, 64, 65, 4097, 333333, MILLION - 1, MILLION};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        sha256_state s, r;
        unsigned char saved[sizeof(sha256_state)], d[SHA256_BYTES];
        char h[65];
        sha256_init(&s);
        feed_odd(&s, m, cuts[c]);
        memcpy(saved, &s, sizeof saved); /* as written to the resume file */
        memset(&s, 0xa5, sizeof s);      /* the old state is gone */
        memset(&r, 0x5a, sizeof r);
        memcpy(&r, saved, sizeof r);
        CHECK(memcmp(&r, saved, sizeof r) == 0);
        feed_odd(&r, m + cuts[c], MILLION - cuts[c]);
        sha256_final(&r, d);
        sha256_hex(d, h);
        CHECKF(strcmp(h, D_MILLION) == 0, "cut at %zu: %s", cuts[c], h);
    }
    /* a copy finalized mid-stream leaves the original hashing on */
    sha256_state s, peek;
    unsigned char d[SHA256_BYTES];
    char h[65];
    sha256_init(&s);
    sha256_update(&s, ABC, 3);
    peek = s;
    sha256_final(&peek, d);
    sha256_hex(d, h);
    CHECKF(strcmp(h, D_ABC) == 0, "%s", h);
    sha256_update(&s, "", 0);
    sha256_final(&s, d);
    sha256_hex(d, h);
    CHECKF(strcmp(h, D_ABC) == 0, "%s", h);
    /* equal inputs give byte-identical states (the padding is zeroed) */
    sha256_state a, b;
    memset(&a, 1, sizeof a);
    memset(&b, 2, sizeof b);
    sha256_init(&a);
    sha256_init(&b);
    sha256_update(&a, M448, 20);
    sha256_update(&b, M448, 7);
    sha256_update(&b, M448 + 7, 13);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    free(m);
}

static void test_tag(void)
{
    char t[SHA256_TAG_BYTES], u[SHA256_TAG_BYTES];
    memset(t, 0x7f, sizeof t);
    sha256_impl_tag(t);
    sha256_impl_tag(u);
    CHECKF(strncmp(t, "openssl ", 8) == 0 && strlen(t) > 8, "%.32s", t);
    CHECK(memcmp(t, u, sizeof t) == 0);
    size_t n = strlen(t);
    int padded = 1;
    for (size_t i = n; i < sizeof t; i++) padded &= t[i] == 0;
    CHECK(padded);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_vectors);
    T_RUN(test_streaming);
    T_RUN(test_save_restore);
    T_RUN(test_tag);
    return t_exit();
}
