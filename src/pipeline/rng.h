/*
 * rng.h — seeded Gaussian noise that reproduces PyTorch, so a seed gives the
 * same initial latents (and ancestral / SDE noise) as diffusers or
 * AUTOMATIC1111.
 *
 * Two generators:
 *   DF_RNG_CPU     torch's CPU generator: torch.Generator("cpu").manual_seed(s)
 *                  then torch.randn(shape, generator=g), float32 — what diffusers
 *                  does on CPU and A1111 with "Random number generator source"
 *                  = CPU. Bit-identical to torch on x86-64 (see below).
 *   DF_RNG_PHILOX  Philox4x32-10 + Box-Muller as torch's CUDA generator draws
 *                  randn — A1111's default ("GPU") source on NVIDIA, and exactly
 *                  A1111's own re-implementation of it, the "NV" source
 *                  (modules/rng_philox.py), which is what it is checked against
 *                  (bit-identical; no GPU was used). Element i is the first
 *                  output of Philox(key = seed, counter = (call number, i)),
 *                  transformed in double. Real CUDA computes the transform in
 *                  float (may differ in the last bit) and, once numel exceeds
 *                  the threads torch launches (SMs x 2048 or 1536 on consumer
 *                  cards), hands elements past that count the .y/.z/.w outputs
 *                  instead, which neither A1111's "NV" nor this reproduces.
 *
 * Invariants:
 *   - df_rng_randn(rng, out, n) writes the values torch.randn(shape) gives for
 *     any shape of numel n (the result depends on numel only), and advances the
 *     state exactly as torch does, so consecutive calls equal consecutive
 *     torch.randn calls on one generator (diffusers' ancestral samplers draw
 *     every step's noise from the latents' generator).
 *   - The state is plain data: copying a df_rng forks the stream; nothing is
 *     allocated and nothing can fail after df_rng_seed.
 *
 * CPU details (torch 2.x, aten/src/ATen/native/cpu/DistributionTemplates.h):
 *   mt19937 seeded with the seed's low 32 bits; numel >= 16 fills the tensor
 *   with 24-bit uniforms, then Box-Muller on blocks of 16 (pairs i, i+8) with
 *   the AVX2 cephes log/sincos of avx_mathfun.h (torch uses that path on every
 *   x86 CPU with AVX2, AVX-512 ones included); a numel that is not a multiple
 *   of 16 redraws 16 fresh uniforms for the last 16 values. numel < 16 uses
 *   the double-precision Box-Muller of at::normal_distribution<double>, whose
 *   second value is cached in the generator for the next small draw.
 *   Float32 only: diffusers run in float16 draws its latents as float16
 *   (torch.randn(..., dtype=float16) takes torch's generic Half kernel), which
 *   this does not reproduce; A1111 always draws float32.
 *   DF_RNG_CPU_DEFAULT_ISA: torch built or run without AVX2
 *   (ATEN_CPU_CAPABILITY=default, aarch64) takes the same path with libm's
 *   logf/sinf/cosf instead; those values differ in the last bits (equal to
 *   torch's only with the same libm).
 *
 * Batches — two conventions, the pipeline can offer both:
 *   diffusers: ONE generator for the whole batch; the initial latents are one
 *     randn call for the [batch, 4, h/8, w/8] tensor (image b's noise is the
 *     b-th slice of one stream, so it depends on the batch size), and each
 *     sampler step's noise is again one call for the whole batch.
 *     (A list of generators, one per image, makes diffusers draw each image
 *     separately, like A1111.)
 *   AUTOMATIC1111: each image i has its own generator seeded with seed + i
 *     (its "seeds" list), drawn with shape [4, h/8, w/8]; sampler noise comes
 *     per image from the same generator (modules/rng.py, ImageRNG). With the
 *     "Eta noise seed delta" option d != 0, the generators are re-seeded with
 *     seed + i + d after the initial latents are drawn.
 */
#ifndef DF_PIPELINE_RNG_H
#define DF_PIPELINE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef enum df_rng_kind {
    DF_RNG_CPU,             /* torch CPU generator, x86 AVX2 / AVX-512 build (the usual one) */
    DF_RNG_PHILOX,          /* torch CUDA generator as A1111's "NV" computes it */
    DF_RNG_CPU_DEFAULT_ISA, /* torch CPU generator without AVX2 (libm logf/sinf/cosf) */
} df_rng_kind;

#define DF_RNG_MT_N 624

typedef struct df_rng {
    df_rng_kind kind;
    uint64_t seed;
    /* CPU: mt19937 exactly as at::mt19937 keeps it, and the cached second
     * value of the double Box-Muller (CPUGeneratorImpl's next_double_normal_sample). */
    uint32_t mt[DF_RNG_MT_N];
    uint32_t mt_left;  /* numbers left before the next twist, 1..624 */
    uint32_t mt_next;  /* index of the next state word */
    int has_next_normal;
    double next_normal;
    /* Philox: the counter's low word; one per randn call, as in A1111. */
    uint64_t philox_offset;
} df_rng;

/* Seeds (and resets) the generator: torch's manual_seed(seed); for Philox,
 * A1111's Generator(seed). */
void df_rng_seed(df_rng *rng, df_rng_kind kind, uint64_t seed);

/* The next torch.randn of `count` elements (float32, mean 0, std 1). */
void df_rng_randn(df_rng *rng, float *out, size_t count);

/* "cpu", "philox", "cpu-default". */
const char *df_rng_kind_name(df_rng_kind kind);

/* Accepts (case-insensitively) "cpu"; "philox", "gpu", "cuda", "nv" (A1111's
 * "Random number generator source" values are "GPU", "CPU" and "NV"); and
 * "cpu-default" / "cpu-noavx". Returns 0 on success, -1 for an unknown name
 * (*out unchanged). */
int df_rng_kind_parse(const char *name, df_rng_kind *out);

#endif
