/*
 * preset.c — the few-step presets (diffuse.h: df_preset): a table of the
 * settings SD-Turbo / SDXL-Turbo and latent consistency models are meant to
 * run with, and the merge that lets a caller's explicit values win.
 *
 * Standalone on purpose (no model, no engine): the server validates and
 * resolves a request's "preset" at parse time, and the request fuzzer links
 * this file without the engine.
 */
#include <string.h>

#include "diffuse.h"
#include "runtime/error.h"

static const df_preset presets[] = {
    /* stabilityai/sd-turbo and sdxl-turbo model cards: num_inference_steps=1,
     * guidance_scale=0.0; their scheduler configs set timestep_spacing
     * "trailing" (t = 999 for one step), which a checkpoint without that
     * config (a single file) needs said. */
    {"turbo", 1, 0.0f, NULL, "trailing"},
    /* diffusers' LCM-LoRA guide: LCMScheduler, 4 steps, guidance_scale 1.0
     * (up to 2 works; above that it burns). */
    {"lcm", 4, 1.0f, "lcm", NULL},
};

#define PRESET_COUNT (sizeof presets / sizeof presets[0])

const char *df_preset_names(void)
{
    return "turbo, lcm";
}

df_status df_preset_find(const char *name, const df_preset **out, df_error *error)
{
    *out = NULL;
    for (size_t i = 0; name && i < PRESET_COUNT; i++)
        if (!strcmp(name, presets[i].name)) {
            *out = &presets[i];
            return DF_OK;
        }
    return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "preset '%s' is not one of: %s",
                        name ? name : "", df_preset_names());
}

void df_preset_apply(const df_preset *preset, unsigned keep, df_generate_request *request)
{
    if (!preset || !request)
        return;
    if (!(keep & DF_PRESET_KEEP_STEPS))
        request->steps = preset->steps;
    if (!(keep & DF_PRESET_KEEP_GUIDANCE))
        request->guidance_scale = preset->guidance_scale;
    if (preset->sampler && (!request->sampler || !*request->sampler))
        request->sampler = preset->sampler;
    if (preset->spacing && (!request->spacing || !*request->spacing))
        request->spacing = preset->spacing;
}
