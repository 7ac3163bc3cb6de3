/* simd_x86.h - inline helpers shared by the x86-64 kernel files (simd_avx2*.c, simd_avx512.c).
 *
 * Every function carries its instruction-set target attribute instead of the whole build using
 * -mavx2, so one binary runs on any x86-64 CPU and the dispatcher decides at run time. A helper
 * may be inlined into a function whose target is a superset of its own (AVX-512 kernels use the
 * AVX2 helpers). */
#ifndef UH_KERNELS_SIMD_X86_H
#define UH_KERNELS_SIMD_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AVX2_FN   __attribute__((target("avx2,fma,f16c")))
#define AVX512_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* fp16 scale to float with F16C: exact for every fp16 value, like fp16_to_fp32. */
AVX2_FN static inline float x86_fp16(uint16_t h)
{
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

AVX2_FN static inline float x86_hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_FN static inline int x86_hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AVX2_FN static inline int x86_hsum_epi32_128(__m128i s)
{
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Signed x signed int8 dot in 8 int32 lanes (each the sum of 4 adjacent products). maddubs wants
 * one unsigned operand, so the sign of x moves onto y: |x| * (sign(x) y). Exact while y != -128
 * (the activation contract); |x| = 128 still fits because 2 * 128 * 127 < 2^15. */
AVX2_FN static inline __m256i x86_dot_i8(__m256i x, __m256i y)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Unsigned (0..63) x signed int8 pair sums as 16 int16 lanes. */
AVX2_FN static inline __m256i x86_dot_u8_pairs(__m256i u, __m256i y)
{
    return _mm256_maddubs_epi16(u, y);
}

/* The 16 nibble bytes of a 32-element block, spread to one byte per element: the low nibbles are
 * elements 0..15 (low lane), the high nibbles 16..31 (high lane) - the order of the activations. */
AVX2_FN static inline __m256i x86_nibbles32(const uint8_t *qs)
{
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 32 bits (little-endian) to 32 bytes of 0xff / 0x00: byte j is 0xff iff bit j is set. Each
 * byte first gets a copy of the source byte j / 8, then is tested against its own bit j % 8. */
AVX2_FN static inline __m256i x86_bits_to_bytes(const uint8_t *bits4)
{
    uint32_t u;
    memcpy(&u, bits4, 4);
    __m256i v = _mm256_set1_epi32((int)u);
    const __m256i pick =
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    v = _mm256_shuffle_epi8(v, pick);
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* Two 16-lane halves: the low 8 int16 lanes get a, the high 8 get b. */
AVX2_FN static inline __m256i x86_pair_epi16(int a, int b)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

/* Passes v through an empty asm, which ends a running sum's reassociation there: without it GCC
 * turns a fully unrolled chain of integer adds into a tree whose leaves (every product of a
 * block) are live at once, and in 16 ymm registers they spill. */
#define X86_CHAIN(v) __asm__("" : "+x"(v))

/* For the tiles of three tokens or more, whose arithmetic per block is long enough that the
 * hardware prefetcher falls behind: asks for the bsz bytes `near` bytes past p into L1 and those
 * `far` bytes past it into L2 (either left out when 0). Measured with pp8 (one 8-token tile per
 * group, as 8 streams decode) on the 1.1B models with AVX-512: Q4_0 8 blocks ahead into L1 took
 * 8 streams from about 180 to 250 tokens/s, and 24 ahead into L2 as well pp8 from ~298 to ~309
 * (further ahead into L1 instead measured slower); Q8_0 205 -> 221; Q4_K_M 184 -> ~210 with both,
 * ~257 with the L2 request alone (the L1 one, a whole 2.3 KB superblock ahead, measured slower
 * than none); F16, four times the bytes per multiply, 65 -> 106 (AVX2: 63 -> 91). The AVX2
 * Q4_0/Q8_0 tiles, slower at the arithmetic, measured 3% slower / no faster with the L2 request
 * and go without it; the AVX2 K-quant tiles, like the AVX-512 ones, lose with the L1 request (5%)
 * and gain with the L2 one alone (Q4_K_M pp8 ~100 -> ~125). With one or two tokens the tiles are
 * bound by memory bandwidth and prefetches only add traffic (decode measured 77 -> 65 tokens/s
 * with the L2 one), so they are left out there. Always inlined: as a plain inline function GCC
 * judged a body of prefetches alone free of side effects and deleted the calls. */
__attribute__((always_inline)) static inline void x86_prefetch_ahead(const uint8_t *p, size_t bsz,
                                                                     size_t near, size_t far)
{
    for (size_t l = 0; l < bsz; l += 64) {
        if (near) _mm_prefetch((const char *)(p + near + l), _MM_HINT_T0);
        if (far) _mm_prefetch((const char *)(p + far + l), _MM_HINT_T1);
    }
}

/* The four bytes at p in every 32-bit lane. The asm is volatile so GCC neither merges equal
 * broadcasts nor hoists them: a tile that reads the same activation bytes for both halves of its
 * rows would otherwise keep the broadcasts of a whole block live (spilled) from one half to the
 * next, where reloading them is a single load. */
AVX2_FN static inline __m256i x86_bcast4(const int8_t *p)
{
    __m256i r;
    __asm__ volatile("vpbroadcastd %1, %0" : "=x"(r) : "m"(*(const int32_t *)(const void *)p));
    return r;
}

/* acc += w . (the four activation bytes at p in every lane), with the bytes read by VPDPBUSD itself
 * as an embedded broadcast ({1to16}): GCC does not fold _mm512_set1_epi32 of a load into VNNI
 * instructions and issues a separate broadcast for each, about a third of the tile's
 * instructions at 8 tokens. */
AVX512_FN static inline __m512i x86_dpbusd_bcast(__m512i acc, __m512i w, const int8_t *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0"
            : "+v"(acc)
            : "v"(w), "m"(*(const int32_t *)(const void *)p));
    return acc;
}

#endif
