/*
 * harness.h — the small test harness every C test uses. A test file defines
 * test functions, registers them in main() with DF_RUN, and returns
 * df_test_finish(): it prints "N passed, N failed" and exits non-zero on any
 * failure. CHECK records a failure and carries on; REQUIRE stops the test.
 */
#ifndef DF_TESTS_HARNESS_H
#define DF_TESTS_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#include "runtime/tensor.h"

extern int df_test_failures;
extern int df_test_passed;
extern int df_test_failed;
extern const char *df_test_current;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__,         \
                    df_test_current, #cond);                                             \
            df_test_failures++;                                                          \
        }                                                                                \
    } while (0)

#define CHECKF(cond, ...)                                                                \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: %s: check failed: %s: ", __FILE__, __LINE__,         \
                    df_test_current, #cond);                                             \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            df_test_failures++;                                                          \
        }                                                                                \
    } while (0)

#define REQUIRE(cond)                                                                    \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: %s: requirement failed: %s\n", __FILE__, __LINE__,   \
                    df_test_current, #cond);                                             \
            df_test_failures++;                                                          \
            return;                                                                      \
        }                                                                                \
    } while (0)

#define DF_RUN(fn) df_test_run(#fn, fn)

void df_test_run(const char *name, void (*fn)(void));
int df_test_finish(void);

/* Reads a whole file (binary); NULL on failure. Caller frees. */
unsigned char *df_test_read_file(const char *path, size_t *size);
/* Path under the source tree: DF_SOURCE_DIR "/" relative (static buffer, rotating). */
const char *df_test_path(const char *relative);

/* Copies the tiny diffusers fixture folder `fixture` (e.g.
 * "tests/fixtures/tiny-sd1") into a new temporary directory, writing the
 * safetensors file `file` (relative to the folder) without the tensor
 * `dropped` (NULL: unchanged). `directory` receives the path (size >= 64).
 * 0 on failure. For tests of what a model says about a broken checkpoint. */
int df_test_copy_model(const char *fixture, const char *file, const char *dropped,
                       char *directory, size_t size);
/* rm -rf of a directory df_test_copy_model made. */
void df_test_remove_tree(const char *directory);
/* Replaces a model folder's scheduler/scheduler_config.json with `json`;
 * 0 on failure. */
int df_test_write_scheduler_config(const char *model_dir, const char *json);

/* `count` floats uniform in [offset - scale, offset + scale) from a
 * 64-bit LCG whose state the caller keeps (a fixed seed per test file, so
 * its inputs never change); malloc'ed, caller frees. */
float *df_test_random_floats(uint64_t *state, int64_t count, float scale, float offset);
/* `values` stored as `dtype` (f32, f16 or bf16) in a new malloc'ed buffer
 * (caller frees), and rounded in place to what was stored, so a reference
 * computed from them sees the weights the kernel sees. */
void *df_test_store_weight(df_dtype dtype, float *values, int64_t count);

#endif
