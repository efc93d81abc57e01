/*
 * fuzz_safetensors.c — libFuzzer target: any byte string handed to
 * df_safetensors_parse must give DF_OK or an error, never a crash, a leak or
 * an out-of-bounds read (ASan/UBSan are on). When it parses, every tensor's
 * bytes and every metadata string are read, so a range that escapes the
 * input is caught; every tensor name is also run through the single-file
 * name mapping (checkpoint_names.c), whose parser is the other part of the
 * loader that sees untrusted text.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/checkpoint_names.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    df_safetensors *file = NULL;
    df_error error;
    if (df_safetensors_parse(data, size, "fuzz", &file, &error) != DF_OK) {
        /* the message must be a terminated string */
        volatile size_t length = strlen(error.message);
        (void)length;
        return 0;
    }
    volatile uint8_t sink = 0;
    size_t count = df_safetensors_count(file);
    df_ldm_layout layout = {.first_downsample = -1};
    for (size_t i = 0; i < count; i++) {
        const df_st_tensor *t = df_safetensors_at(file, i);
        const uint8_t *bytes = t->data;
        for (uint64_t b = 0; b < t->size; b++)
            sink ^= bytes[b];
        sink ^= (uint8_t)strlen(t->name);
        if (df_safetensors_find(file, t->name) != t)
            __builtin_trap(); /* names are unique and sorted: find must agree */
        df_ldm_scan(&layout, t->name);
    }
    df_ldm_finish(&layout);
    for (size_t i = 0; i < count; i++) {
        df_name_map map;
        df_ldm_map(&layout, df_safetensors_at(file, i)->name, &map);
        sink ^= (uint8_t)strlen(map.name);
        df_diffusers_map(DF_COMPONENT_VAE, df_safetensors_at(file, i)->name, &map);
        sink ^= (uint8_t)strlen(map.name);
    }
    for (size_t i = 0; i < df_safetensors_metadata_count(file); i++) {
        const char *value = NULL;
        const char *key = df_safetensors_metadata_at(file, i, &value);
        sink ^= (uint8_t)(strlen(key) + strlen(value));
        if (df_safetensors_metadata(file, key) == NULL)
            __builtin_trap();
    }
    (void)sink;
    df_safetensors_close(file);
    return 0;
}
