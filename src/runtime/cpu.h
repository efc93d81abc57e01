/*
 * cpu.h — the CPU features the kernels dispatch on, read once from cpuid
 * (with the OS's saved-state check that __builtin_cpu_supports does) before
 * main(), minus any the environment turns off:
 *
 *   DF_CPU_DISABLE=avx512_bf16,avx512_vnni   (comma separated; "all" too)
 *
 * so that tests and users can force every dispatch level off on a CPU that
 * has it and see the fallbacks run (never an illegal instruction). The
 * GEMM kernels (f32, bf16, int8), the f16/bf16 weight conversions and the
 * element-wise vector paths all choose from these flags; the latter two
 * choose once at start-up, so df_cpu_set_disabled reaches only the GEMM.
 */
#ifndef DF_RUNTIME_CPU_H
#define DF_RUNTIME_CPU_H

enum {
    DF_CPU_AVX2 = 1u << 0,        /* with FMA */
    DF_CPU_AVX512F = 1u << 1,
    DF_CPU_AVX512BW = 1u << 2,    /* with VL */
    DF_CPU_AVX512_BF16 = 1u << 3,
    DF_CPU_AVX512_VNNI = 1u << 4,
    DF_CPU_AVX_VNNI = 1u << 5,
};

/* 1 when every feature in `mask` is present and not disabled. */
int df_cpu_has(unsigned mask);

/* Replaces the disabled set with a DF_CPU_DISABLE-style list (NULL or "":
 * none disabled). Returns 0 and changes nothing on an unknown name. Not
 * thread-safe: call it between kernel runs (tests); afterwards call
 * df_gemm_force(NULL) so the f32 kernel choice follows. */
int df_cpu_set_disabled(const char *list);

#endif
