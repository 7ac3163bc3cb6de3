/* test_cpace.c - CPace over ristretto255 (cpace.h): the draft's published test vectors, then the
 * properties pairing relies on. */
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "cluster/cpace.h"

/* draft-irtf-cfrg-cpace, "Test vector for CPace using group ristretto255 and hash SHA-512" */
static const char tv_prs[] = "Password";
static const char tv_ci[] = "\nAinitiator\nBresponder";
static const char tv_sid[] = "7e4b4791d6a8ef019b936c79fb7f2c57";
static const char tv_ya[] = "da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08";
static const char tv_Ya[] = "383a85dd236978f17f8c8545b50dabc52a39fcdab2cf8bc531ce040ff77ca82d";
static const char tv_yb[] = "d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d";
static const char tv_Yb[] = "a6206309c0e8e5f579295e35997ac4300ab3fecec3c17f7b604f3e698fa1383c";
static const char tv_isk_ir[] = "e91ccb2c0f5e0d0993a33956e3be59754f3f2b07db57631f5394452ea2e7b435"
                                "4674eb1f5686c078462bf83bec72e8743df440108e638f3526d9b90e85be096f";
/* not a canonical encoding; must be refused like the identity */
static const char tv_bad_point[] =
    "2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c";

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL) != 0) return 0;
    return n;
}

static void draft_vectors_reproduced(void)
{
    uint8_t sid[16], ya[32], yb[32], Ya[32], Yb[32], want[64];
    uint8_t share_a[32], share_b[32], isk_a[64], isk_b[64];
    uh_err err = {0};
    cpace_state a, b;
    CHECK(unhex(tv_sid, sid, sizeof sid) == 16);
    unhex(tv_ya, ya, 32);
    unhex(tv_yb, yb, 32);
    unhex(tv_Ya, Ya, 32);
    unhex(tv_Yb, Yb, 32);
    unhex(tv_isk_ir, want, 64);
    const uint8_t *prs = (const uint8_t *)tv_prs, *ci = (const uint8_t *)tv_ci;
    CHECK(cpace_start_with_scalar(&a, 1, prs, strlen(tv_prs), ci, strlen(tv_ci), sid, 16, ya,
                                  share_a, &err) == 0);
    CHECK(cpace_start_with_scalar(&b, 0, prs, strlen(tv_prs), ci, strlen(tv_ci), sid, 16, yb,
                                  share_b, &err) == 0);
    CHECK(memcmp(share_a, Ya, 32) == 0); /* proves the generator string and g */
    CHECK(memcmp(share_b, Yb, 32) == 0);
    CHECK(cpace_finish_ad(&a, share_b, (const uint8_t *)"ADa", 3, (const uint8_t *)"ADb", 3, isk_a,
                          &err) == 0);
    CHECK(cpace_finish_ad(&b, share_a, (const uint8_t *)"ADb", 3, (const uint8_t *)"ADa", 3, isk_b,
                          &err) == 0);
    CHECK(memcmp(isk_a, want, 64) == 0);
    CHECK(memcmp(isk_b, want, 64) == 0);
    /* finish wiped the secret scalar */
    static const uint8_t zero[32];
    CHECK(memcmp(a.y, zero, 32) == 0 && memcmp(b.y, zero, 32) == 0);
}

/* One run between two parties; returns 0 when both finished. */
static int run_pair(const char *code_a, const char *code_b, const uint8_t *sid, size_t sid_len,
                    uint8_t isk_a[64], uint8_t isk_b[64])
{
    uint8_t share_a[32], share_b[32];
    uh_err err = {0};
    cpace_state a, b;
    if (cpace_start(&a, 1, (const uint8_t *)code_a, strlen(code_a), NULL, 0, sid, sid_len, share_a,
                    &err) != 0 ||
        cpace_start(&b, 0, (const uint8_t *)code_b, strlen(code_b), NULL, 0, sid, sid_len, share_b,
                    &err) != 0)
        return -1;
    int ra = cpace_finish(&a, share_b, isk_a, &err);
    int rb = cpace_finish(&b, share_a, isk_b, &err);
    return ra || rb ? -1 : 0;
}

static void same_code_same_key_different_code_different_key(void)
{
    uint8_t sid[64], isk_a[64], isk_b[64], isk_c[64], isk_d[64];
    randombytes_buf(sid, sizeof sid);
    CHECK(run_pair("428-119", "428-119", sid, sizeof sid, isk_a, isk_b) == 0);
    CHECK(memcmp(isk_a, isk_b, 64) == 0);
    CHECK(run_pair("428-119", "428-118", sid, sizeof sid, isk_c, isk_d) == 0);
    CHECK(memcmp(isk_c, isk_d, 64) != 0);
    /* fresh scalars: the same code twice gives a new key */
    CHECK(memcmp(isk_a, isk_c, 64) != 0);
    /* another session id: another key even with the same code */
    uint8_t sid2[64];
    memcpy(sid2, sid, sizeof sid2);
    sid2[0] ^= 1;
    CHECK(run_pair("428-119", "428-119", sid2, sizeof sid2, isk_c, isk_d) == 0);
    CHECK(memcmp(isk_c, isk_d, 64) == 0 && memcmp(isk_c, isk_a, 64) != 0);
}

static void confirm_tags_check_only_with_right_key_and_role(void)
{
    uint8_t sid[32], isk_a[64], isk_b[64], isk_c[64], isk_d[64], tag_a[32], tag_b[32];
    randombytes_buf(sid, sizeof sid);
    CHECK(run_pair("code", "code", sid, sizeof sid, isk_a, isk_b) == 0);
    cpace_confirm_tag(isk_a, 1, tag_a);
    cpace_confirm_tag(isk_b, 0, tag_b);
    CHECK(memcmp(tag_a, tag_b, 32) != 0); /* roles have distinct tags */
    CHECK(cpace_check_tag(isk_b, 1, tag_a) == 0);
    CHECK(cpace_check_tag(isk_a, 0, tag_b) == 0);
    CHECK(cpace_check_tag(isk_b, 0, tag_a) == UH_EFORMAT); /* reflected tag */
    tag_a[31] ^= 1;
    CHECK(cpace_check_tag(isk_b, 1, tag_a) == UH_EFORMAT);
    tag_a[31] ^= 1;
    CHECK(run_pair("code", "cod3", sid, sizeof sid, isk_c, isk_d) == 0);
    cpace_confirm_tag(isk_c, 1, tag_a);
    CHECK(cpace_check_tag(isk_d, 1, tag_a) == UH_EFORMAT);
}

static void invalid_shares_refused(void)
{
    uint8_t sid[16] = {1}, share[32], bad[32], isk[64];
    uh_err err = {0};
    cpace_state st;
    const uint8_t *code = (const uint8_t *)"1234";
    unhex(tv_bad_point, bad, 32);
    CHECK(cpace_start(&st, 1, code, 4, NULL, 0, sid, 16, share, &err) == 0);
    CHECK(cpace_finish(&st, bad, isk, &err) == UH_EFORMAT);
    memset(bad, 0, 32); /* the identity element */
    CHECK(cpace_start(&st, 1, code, 4, NULL, 0, sid, 16, share, &err) == 0);
    CHECK(cpace_finish(&st, bad, isk, &err) == UH_EFORMAT);
    memset(bad, 0xff, 32);
    CHECK(cpace_start(&st, 0, code, 4, NULL, 0, sid, 16, share, &err) == 0);
    CHECK(cpace_finish(&st, bad, isk, &err) == UH_EFORMAT);
    CHECK(strstr(err.msg, "share") != NULL);
    /* a finished state cannot be finished again (its scalar is gone) */
    CHECK(cpace_start(&st, 0, code, 4, NULL, 0, sid, 16, share, &err) == 0);
    uint8_t other[32];
    cpace_state st2;
    CHECK(cpace_start(&st2, 1, code, 4, NULL, 0, sid, 16, other, &err) == 0);
    CHECK(cpace_finish(&st, other, isk, &err) == 0);
    CHECK(cpace_finish(&st, other, isk, &err) == UH_EINVAL);
    cpace_wipe(&st2);
}

static void oversized_inputs_refused(void)
{
    uint8_t big[CPACE_PRS_MAX + 1] = {0}, share[32];
    uh_err err = {0};
    cpace_state st;
    CHECK(cpace_start(&st, 1, big, sizeof big, NULL, 0, big, 16, share, &err) == UH_EINVAL);
    CHECK(cpace_start(&st, 1, big, 8, big, CPACE_CI_MAX + 1, big, 16, share, &err) == UH_EINVAL);
    CHECK(cpace_start(&st, 1, big, 8, NULL, 0, big, 65, share, &err) == UH_EINVAL);
    /* a long code (several hash blocks, no padding) still works */
    uint8_t isk_a[64], isk_b[64];
    char code[CPACE_PRS_MAX + 1];
    memset(code, 'x', CPACE_PRS_MAX);
    code[CPACE_PRS_MAX] = 0;
    CHECK(run_pair(code, code, big, 16, isk_a, isk_b) == 0 && memcmp(isk_a, isk_b, 64) == 0);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    if (sodium_init() < 0) return 1;
    T_RUN(draft_vectors_reproduced);
    T_RUN(same_code_same_key_different_code_different_key);
    T_RUN(confirm_tags_check_only_with_right_key_and_role);
    T_RUN(invalid_shares_refused);
    T_RUN(oversized_inputs_refused);
    return t_exit();
}
