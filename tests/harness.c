/*
 * harness.c — see harness.h. Prints one line per test and the closing
 * "N passed, N failed" line CTest logs and CI reads.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"

int df_test_failures;
int df_test_passed;
int df_test_failed;
const char *df_test_current = "";

void df_test_run(const char *name, void (*fn)(void))
{
    int before = df_test_failures;
    df_test_current = name;
    fn();
    if (df_test_failures == before) {
        df_test_passed++;
        printf("ok   %s\n", name);
    } else {
        df_test_failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

int df_test_finish(void)
{
    printf("%d passed, %d failed\n", df_test_passed, df_test_failed);
    return df_test_failed ? 1 : 0;
}

unsigned char *df_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long length = ftell(f);
    rewind(f);
    unsigned char *data = malloc(length > 0 ? (size_t)length + 1 : 1);
    if (!data || (length > 0 && fread(data, 1, (size_t)length, f) != (size_t)length)) {
        free(data);
        fclose(f);
        return NULL;
    }
    data[length > 0 ? length : 0] = 0;
    fclose(f);
    if (size)
        *size = (size_t)length;
    return data;
}

const char *df_test_path(const char *relative)
{
    static char buffers[8][4096];
    static int next;
    char *buffer = buffers[next++ & 7];
    snprintf(buffer, sizeof buffers[0], "%s/%s", DF_SOURCE_DIR, relative);
    return buffer;
}

static int copy_file(const char *from, const char *to)
{
    size_t size;
    unsigned char *data = df_test_read_file(from, &size);
    if (!data)
        return 0;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0)
        ok = 0;
    free(data);
    return ok;
}

static int copy_without(const char *from, const char *to, const char *dropped)
{
    df_error error = {0};
    df_safetensors *original = NULL;
    if (df_safetensors_open(from, &original, &error) != DF_OK)
        return 0;
    size_t count = df_safetensors_count(original);
    df_st_output *outputs = calloc(count ? count : 1, sizeof *outputs);
    int kept = 0, found = 0;
    for (size_t i = 0; outputs && i < count; i++) {
        const df_st_tensor *tensor = df_safetensors_at(original, i);
        if (!strcmp(tensor->name, dropped)) {
            found = 1;
            continue;
        }
        outputs[kept] = (df_st_output){tensor->name, tensor->st_dtype, tensor->ndim, {0}, tensor->data};
        memcpy(outputs[kept].shape, tensor->shape, sizeof tensor->shape);
        kept++;
    }
    int ok = outputs && found && df_safetensors_write(to, outputs, kept, &error) == DF_OK;
    free(outputs);
    df_safetensors_close(original);
    return ok;
}

int df_test_copy_model(const char *fixture, const char *file, const char *dropped,
                       char *directory, size_t size)
{
    static const char *files[] = {"model_index.json",
                                  "text_encoder/config.json",
                                  "text_encoder/model.safetensors",
                                  "unet/config.json",
                                  "unet/diffusion_pytorch_model.safetensors",
                                  "vae/config.json",
                                  "vae/diffusion_pytorch_model.safetensors",
                                  "scheduler/scheduler_config.json"};
    static const char *subdirectories[] = {"text_encoder", "unet", "vae", "scheduler"};
    snprintf(directory, size, "/tmp/diffuse-test-XXXXXX");
    if (!mkdtemp(directory))
        return 0;
    char path[4096], source[4096];
    for (size_t i = 0; i < sizeof subdirectories / sizeof subdirectories[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", directory, subdirectories[i]);
        if (mkdir(path, 0700) != 0)
            return 0;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(source, sizeof source, "%s/%s/%s", DF_SOURCE_DIR, fixture, files[i]);
        snprintf(path, sizeof path, "%s/%s", directory, files[i]);
        int ok = dropped && file && !strcmp(file, files[i]) ? copy_without(source, path, dropped)
                                                          : copy_file(source, path);
        if (!ok)
            return 0;
    }
    return 1;
}

void df_test_remove_tree(const char *directory)
{
    char command[4200];
    if (strncmp(directory, "/tmp/diffuse-test-", 18) != 0 || strchr(directory, '\''))
        return; /* only what df_test_copy_model made */
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", directory);
}

int df_test_write_scheduler_config(const char *model_dir, const char *json)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", model_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    fputs(json, f);
    return fclose(f) == 0;
}

float *df_test_random_floats(uint64_t *state, int64_t count, float scale, float offset)
{
    float *p = malloc((size_t)(count > 0 ? count : 1) * sizeof *p);
    for (int64_t i = 0; p && i < count; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        float uniform = (float)((*state >> 40) * (1.0 / 8388608.0)) - 1.0f; /* [-1, 1) */
        p[i] = uniform * scale + offset;
    }
    return p;
}

void *df_test_store_weight(df_dtype dtype, float *values, int64_t count)
{
    void *storage = malloc((size_t)(count > 0 ? count : 1) * df_dtype_size(dtype));
    for (int64_t i = 0; storage && i < count; i++) {
        if (dtype == DF_DTYPE_F32) {
            ((float *)storage)[i] = values[i];
        } else if (dtype == DF_DTYPE_F16) {
            ((uint16_t *)storage)[i] = df_f32_to_f16(values[i]);
            values[i] = df_f16_to_f32(((uint16_t *)storage)[i]);
        } else {
            ((uint16_t *)storage)[i] = df_f32_to_bf16(values[i]);
            values[i] = df_bf16_to_f32(((uint16_t *)storage)[i]);
        }
    }
    return storage;
}
