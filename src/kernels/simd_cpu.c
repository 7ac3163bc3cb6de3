/* simd_cpu.c - which SIMD extensions the running CPU and OS support.
 *
 * x86-64: CPUID for the instruction sets, XGETBV for whether the OS saves the wider registers on
 * a context switch (a CPU with AVX-512 under an OS that does not enable the zmm state must not
 * use it). AArch64: the kernel's hwcaps. Plain CPUID rather than __builtin_cpu_supports because
 * not every compiler in the build (clang for the fuzzers) knows every feature name. */
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return 0; /* xmm + ymm state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1,
        avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (avx2 && fma && f16c) f |= SIMD_AVX2;
    if ((f & SIMD_AVX2) && avx512f && avx512bw && avx512vl && vnni && (xcr0 & 0xe0) == 0xe0)
        f |= SIMD_AVX512;
    if ((f & SIMD_AVX512) && __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1))
        f |= SIMD_AVX512_BF16;
    return f;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

static unsigned detect(void)
{
    unsigned f = SIMD_NEON;
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) f |= SIMD_DOTPROD;
    return f;
}

#else
static unsigned detect(void)
{
    return 0;
}
#endif

unsigned simd_cpu_features(void)
{
    return detect();
}
