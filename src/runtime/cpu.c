/*
 * cpu.c — CPU feature flags for kernel dispatch (see cpu.h). Detected in a
 * high-priority constructor so that the GEMM's own start-up choice (an
 * ordinary constructor) already sees DF_CPU_DISABLE.
 */
#include "runtime/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned cpu_present;  /* from cpuid */
static unsigned cpu_disabled; /* from DF_CPU_DISABLE or df_cpu_set_disabled */

static const struct {
    const char *name;
    unsigned bit;
} cpu_names[] = {
    {"avx2", DF_CPU_AVX2},
    {"avx512f", DF_CPU_AVX512F},
    {"avx512bw", DF_CPU_AVX512BW},
    {"avx512_bf16", DF_CPU_AVX512_BF16},
    {"avx512_vnni", DF_CPU_AVX512_VNNI},
    {"avx_vnni", DF_CPU_AVX_VNNI},
};

/* Parses a comma-separated list into *out; 0 on an unknown name. */
static int parse_list(const char *list, unsigned *out)
{
    unsigned mask = 0;
    while (list && *list) {
        size_t len = strcspn(list, ",");
        int found = len == 3 && strncmp(list, "all", 3) == 0;
        if (found)
            mask = ~0u;
        for (size_t i = 0; !found && i < sizeof cpu_names / sizeof *cpu_names; i++)
            if (strlen(cpu_names[i].name) == len && strncmp(list, cpu_names[i].name, len) == 0) {
                mask |= cpu_names[i].bit;
                found = 1;
            }
        if (!found && len > 0)
            return 0;
        list += len;
        if (*list == ',')
            list++;
    }
    *out = mask;
    return 1;
}

__attribute__((constructor(101))) static void cpu_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* AVX-512 implies the OS saves zmm state: libgcc checks XCR0 before it
     * reports any avx512 feature. The extensions are only used with F. */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        cpu_present |= DF_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f"))
        cpu_present |= DF_CPU_AVX512F;
    if ((cpu_present & DF_CPU_AVX512F) && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        cpu_present |= DF_CPU_AVX512BW;
    if ((cpu_present & DF_CPU_AVX512BW) && __builtin_cpu_supports("avx512bf16"))
        cpu_present |= DF_CPU_AVX512_BF16;
    if ((cpu_present & DF_CPU_AVX512BW) && __builtin_cpu_supports("avx512vnni"))
        cpu_present |= DF_CPU_AVX512_VNNI;
    /* cpuid leaf 7.1 EAX bit 4 (clang cannot name "avxvnni"); AVX state is
     * saved wherever AVX2 was reported usable */
    unsigned eax, ebx, ecx, edx;
    if ((cpu_present & DF_CPU_AVX2) && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) &&
        (eax & (1u << 4)))
        cpu_present |= DF_CPU_AVX_VNNI;
#endif
    const char *env = getenv("DF_CPU_DISABLE");
    if (env && !parse_list(env, &cpu_disabled))
        fprintf(stderr, "diffuse: DF_CPU_DISABLE='%s': unknown feature name (known: avx2, "
                        "avx512f, avx512bw, avx512_bf16, avx512_vnni, avx_vnni, all); ignored\n",
                env);
}

int df_cpu_has(unsigned mask)
{
    unsigned usable = cpu_present & ~cpu_disabled;
    /* Without the base level the extensions are unusable too. */
    if (!(usable & DF_CPU_AVX512F))
        usable &= ~(DF_CPU_AVX512BW | DF_CPU_AVX512_BF16 | DF_CPU_AVX512_VNNI);
    if (!(usable & DF_CPU_AVX512BW))
        usable &= ~(DF_CPU_AVX512_BF16 | DF_CPU_AVX512_VNNI);
    if (!(usable & DF_CPU_AVX2))
        usable &= ~DF_CPU_AVX_VNNI;
    return (usable & mask) == mask;
}

int df_cpu_set_disabled(const char *list)
{
    unsigned mask = 0;
    if (!parse_list(list, &mask))
        return 0;
    cpu_disabled = mask;
    return 1;
}
