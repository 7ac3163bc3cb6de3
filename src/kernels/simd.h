/* simd.h - the SIMD kernel sets and the CPU feature checks that choose among them.
 *
 * Each kernel set overwrites entries of a type table (a copy of the scalar one) with its own
 * kernels and leaves the rest alone, so a set may cover only some types and a wider set may build
 * on a narrower one (the AVX-512 set starts from the AVX2 set). qtypes.c owns the choice; these
 * functions only fill tables. Every fill function exists on every build: on a CPU family a set
 * does not belong to it is an empty stub, and simd_cpu_features() never reports its features.
 *
 * Contract shared by all integer dot kernels: activation quants (Q8_0, Q8_1, Q8_K qs) lie in
 * [-127, 127], as every quantizer in this tree produces; weight bytes may take any value. */
#ifndef UH_KERNELS_SIMD_H
#define UH_KERNELS_SIMD_H

#include "kernels/qtypes.h"

enum simd_feature {
    SIMD_AVX2 = 1u << 0,   /* AVX2 + FMA + F16C, with OS support for the ymm state */
    SIMD_AVX512 = 1u << 1, /* AVX-512 F/BW/VL + VNNI, with OS support for the zmm state */
    SIMD_AVX512_BF16 = 1u << 2,
    SIMD_NEON = 1u << 8,    /* AdvSIMD (every AArch64 CPU) */
    SIMD_DOTPROD = 1u << 9, /* SDOT/UDOT (Armv8.2 dotprod) */
};

/* Bit set of enum simd_feature for the running CPU. Not cached: callers ask once (CPUID can trap
 * to a hypervisor, so it is not free). */
unsigned simd_cpu_features(void);

void simd_avx2_fill(qtype_traits_t table[QT_COUNT]);
void simd_avx2_fill_k(qtype_traits_t table[QT_COUNT]); /* simd_avx2_k.c: K-quants, IQ4_XS */
void simd_avx2_fill_packed(qtype_traits_t table[QT_COUNT]); /* simd_avx2_pack.c */
void simd_avx2_fill_packed_k(qtype_traits_t table[QT_COUNT]); /* simd_avx2_pack_k.c */
/* The AVX2 Q8_0 and Q8_K quantizers (x86-64 only), byte-identical to the reference; the packed
 * activations reuse them. */
void simd_avx2_quant_row_q8_0(const float *restrict x, void *restrict y, int64_t n);
void simd_avx2_quant_row_q8_K(const float *restrict x, void *restrict y, int64_t n);
void simd_avx512_fill(qtype_traits_t table[QT_COUNT]);
void simd_avx512_fill_packed(qtype_traits_t table[QT_COUNT]); /* simd_avx512_pack.c */
void simd_avx512_fill_packed_k(qtype_traits_t table[QT_COUNT]); /* simd_avx512_pack_k.c */
/* dotprod: whether the SDOT kernels may be used (else the plain NEON ones). */
void simd_neon_fill(qtype_traits_t table[QT_COUNT], int dotprod);
/* simd_neon_legacy.c: Q4_1, Q5_0, Q5_1, IQ4_NL, F32 and BF16 dots. */
void simd_neon_fill_legacy(qtype_traits_t table[QT_COUNT], int dotprod);
/* simd_neon_k.c: Q2_K, Q3_K, Q5_K, IQ4_XS (SDOT copies where dotprod). */
void simd_neon_fill_k(qtype_traits_t table[QT_COUNT], int dotprod);
/* simd_neon_pack.c: packed F16, and packed Q4_0/Q8_0 where dotprod (else their packed is NULL). */
void simd_neon_fill_packed(qtype_traits_t table[QT_COUNT], int dotprod);
/* The NEON Q8_0 quantizer (AArch64 only), byte-identical to the reference; the packed
 * activations reuse it. */
void simd_neon_quant_row_q8_0(const float *restrict x, void *restrict y, int64_t n);

#endif
