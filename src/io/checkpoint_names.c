/*
 * checkpoint_names.c — original (LDM / OpenCLIP) → diffusers tensor names.
 *
 * Mirrors diffusers' loaders/single_file_utils.py:
 *   text encoder, SD1  cond_stage_model.transformer.X → X (CLIP names already)
 *   text encoder, SD2  cond_stage_model.model.* (OpenCLIP) → CLIP names, the
 *                      fused attn.in_proj split into q/k/v, and the last
 *                      resblock dropped (diffusers keeps 23 of 24 layers: the
 *                      SD2 pipeline conditions on the penultimate layer)
 *   text encoders,     conditioner.embedders.N.transformer.* (CLIP ViT-L) →
 *   SDXL               text_encoder; conditioner.embedders.N.model.* (OpenCLIP
 *                      ViT-bigG; N = 1 in the base, 0 in the refiner) →
 *                      text_encoder_2 with every layer kept (SDXL takes the
 *                      penultimate hidden states and the last layer's pooled
 *                      output) and text_projection transposed into the
 *                      Linear weight diffusers has
 *   UNet               model.diffusion_model.{input,middle,output}_blocks →
 *                      {down,mid,up}_blocks.{resnets,attentions,down/upsamplers}
 *   VAE                first_stage_model.{encoder,decoder}.{down,mid,up} →
 *                      ...{down_blocks,mid_block,up_blocks}, the decoder's up
 *                      blocks in reverse order, mid attention 1x1 convs as
 *                      linear weights.
 * Every name is parsed strictly (prefix, integer indices, known sub-names);
 * anything unrecognised is reported as skipped with a reason rather than
 * guessed at, and names too long for the buffer are skipped too.
 */
#include "io/checkpoint_names.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define UNET_PREFIX "model.diffusion_model."
#define VAE_PREFIX "first_stage_model."
#define CLIP_PREFIX "cond_stage_model.transformer."
#define OPENCLIP_PREFIX "cond_stage_model.model."
#define SDXL_PREFIX "conditioner.embedders."

/* If `text` starts with `prefix`, advances past it. */
static int eat(const char **text, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(*text, prefix, n))
        return 0;
    *text += n;
    return 1;
}

/* Reads a decimal index (at most 6 digits, so no overflow) and the dot after it. */
static int eat_index(const char **text, int *out)
{
    const char *p = *text;
    int value = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 6) {
        value = value * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (!digits || *p != '.')
        return 0;
    *out = value;
    *text = p + 1;
    return 1;
}

static void skip(df_name_map *out, const char *reason)
{
    out->kind = DF_MAP_SKIP;
    out->reason = reason;
}

static void set_name(df_name_map *out, df_component component, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void set_name(df_name_map *out, df_component component, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(out->name, sizeof out->name, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof out->name) {
        skip(out, "name too long");
        return;
    }
    out->kind = DF_MAP_ONE;
    out->component = component;
}

/* "weight" / "bias" and nothing else after a module name. */
static int is_param(const char *rest)
{
    return !strcmp(rest, "weight") || !strcmp(rest, "bias");
}

void df_ldm_scan(df_ldm_layout *layout, const char *original)
{
    const char *p = original;
    int index;
    if (eat(&p, UNET_PREFIX)) {
        if (eat(&p, "input_blocks.") && eat_index(&p, &index)) {
            if (index + 1 > layout->input_blocks)
                layout->input_blocks = index + 1;
            if (eat(&p, "0.op.") && (layout->first_downsample < 0 || index < layout->first_downsample))
                layout->first_downsample = index;
        }
    } else if (eat(&p, VAE_PREFIX)) {
        if (eat(&p, "decoder.up.") && eat_index(&p, &index) && index + 1 > layout->vae_up_blocks)
            layout->vae_up_blocks = index + 1;
    } else if (eat(&p, CLIP_PREFIX)) {
        layout->has_clip = 1;
    } else if (eat(&p, OPENCLIP_PREFIX)) {
        layout->has_openclip = 1;
        if (eat(&p, "transformer.resblocks.") && eat_index(&p, &index) &&
            index + 1 > layout->openclip_layers)
            layout->openclip_layers = index + 1;
    } else if (eat(&p, "conditioner.embedders.")) {
        layout->has_sdxl = 1;
    }
}

void df_ldm_finish(df_ldm_layout *layout)
{
    /* input_blocks: conv_in, then per level L resnets (+ attentions) and a
     * downsampler except after the last level. The first downsampler sits at
     * index L + 1. Without one there is a single level of input_blocks - 1. */
    if (layout->first_downsample > 0)
        layout->layers_per_block = layout->first_downsample - 1;
    else
        layout->layers_per_block = layout->input_blocks > 1 ? layout->input_blocks - 1 : 1;
    if (layout->layers_per_block < 1)
        layout->layers_per_block = 1;
}

/* LDM ResBlock sub-module names → diffusers ResnetBlock2D names. */
static const char *unet_resnet_part(const char **rest)
{
    static const struct {
        const char *ldm, *diffusers;
    } parts[] = {
        {"in_layers.0.", "norm1."},       {"in_layers.2.", "conv1."},
        {"out_layers.0.", "norm2."},      {"out_layers.3.", "conv2."},
        {"emb_layers.1.", "time_emb_proj."}, {"skip_connection.", "conv_shortcut."},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (eat(rest, parts[i].ldm))
            return is_param(*rest) ? parts[i].diffusers : NULL;
    return NULL;
}

static void map_unet(const df_ldm_layout *layout, const char *p, df_name_map *out)
{
    const df_component unet = DF_COMPONENT_UNET;
    static const struct {
        const char *ldm, *diffusers;
    } direct[] = {
        {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
        {"input_blocks.0.0.", "conv_in."},             {"out.0.", "conv_norm_out."},
        {"out.2.", "conv_out."},                       {"label_emb.0.0.", "add_embedding.linear_1."},
        {"label_emb.0.2.", "add_embedding.linear_2."},
    };
    for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++)
        if (eat(&p, direct[i].ldm)) {
            if (is_param(p))
                set_name(out, unet, "%s%s", direct[i].diffusers, p);
            else
                skip(out, "unrecognised UNet tensor");
            return;
        }

    int per_level = layout->layers_per_block + 1, block, sub;
    const char *part;
    if (eat(&p, "input_blocks.") && eat_index(&p, &block) && block >= 1 && eat_index(&p, &sub)) {
        int level = (block - 1) / per_level, layer = (block - 1) % per_level;
        if (sub == 0 && eat(&p, "op.") && is_param(p))
            set_name(out, unet, "down_blocks.%d.downsamplers.0.conv.%s", level, p);
        else if (sub == 0 && (part = unet_resnet_part(&p)))
            set_name(out, unet, "down_blocks.%d.resnets.%d.%s%s", level, layer, part, p);
        else if (sub == 1)
            set_name(out, unet, "down_blocks.%d.attentions.%d.%s", level, layer, p);
        else
            skip(out, "unrecognised UNet tensor");
        return;
    }
    if (eat(&p, "middle_block.") && eat_index(&p, &sub)) {
        if ((sub == 0 || sub == 2) && (part = unet_resnet_part(&p)))
            set_name(out, unet, "mid_block.resnets.%d.%s%s", sub / 2, part, p);
        else if (sub == 1)
            set_name(out, unet, "mid_block.attentions.0.%s", p);
        else
            skip(out, "unrecognised UNet tensor");
        return;
    }
    if (eat(&p, "output_blocks.") && eat_index(&p, &block) && eat_index(&p, &sub)) {
        int level = block / per_level, layer = block % per_level;
        if (sub == 0 && (part = unet_resnet_part(&p)))
            set_name(out, unet, "up_blocks.%d.resnets.%d.%s%s", level, layer, part, p);
        else if ((sub == 1 || sub == 2) && eat(&p, "conv.") && is_param(p))
            set_name(out, unet, "up_blocks.%d.upsamplers.0.conv.%s", level, p);
        else if (sub == 1)
            set_name(out, unet, "up_blocks.%d.attentions.%d.%s", level, layer, p);
        else
            skip(out, "unrecognised UNet tensor");
        return;
    }
    skip(out, "unrecognised UNet tensor");
}

/* VAE ResnetBlock: same names in both, but nin_shortcut → conv_shortcut.
 * `prefix` is the diffusers block path ending in a dot. */
static void vae_resnet(df_name_map *out, const char *prefix, const char *p)
{
    static const char *const parts[] = {"norm1.", "conv1.", "norm2.", "conv2."};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (eat(&p, parts[i])) {
            if (is_param(p))
                set_name(out, DF_COMPONENT_VAE, "%s%s%s", prefix, parts[i], p);
            else
                skip(out, "unrecognised VAE tensor");
            return;
        }
    if (eat(&p, "nin_shortcut.") && is_param(p)) {
        set_name(out, DF_COMPONENT_VAE, "%sconv_shortcut.%s", prefix, p);
        return;
    }
    skip(out, "unrecognised VAE tensor");
}

static void vae_attention(df_name_map *out, const char *coder, const char *p)
{
    static const struct {
        const char *ldm, *diffusers;
    } parts[] = {
        {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."},
        {"v.", "to_v."},          {"proj_out.", "to_out.0."},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (eat(&p, parts[i].ldm) && is_param(p)) {
            set_name(out, DF_COMPONENT_VAE, "%s.mid_block.attentions.0.%s%s", coder,
                     parts[i].diffusers, p);
            out->squeeze = i > 0 && !strcmp(p, "weight");
            return;
        }
    skip(out, "unrecognised VAE tensor");
}

static void map_vae(const df_ldm_layout *layout, const char *p, df_name_map *out)
{
    static const struct {
        const char *ldm, *diffusers;
    } direct[] = {
        {"encoder.conv_in.", "encoder.conv_in."},   {"encoder.conv_out.", "encoder.conv_out."},
        {"encoder.norm_out.", "encoder.conv_norm_out."},
        {"decoder.conv_in.", "decoder.conv_in."},   {"decoder.conv_out.", "decoder.conv_out."},
        {"decoder.norm_out.", "decoder.conv_norm_out."},
        {"quant_conv.", "quant_conv."},             {"post_quant_conv.", "post_quant_conv."},
    };
    for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++)
        if (eat(&p, direct[i].ldm)) {
            if (is_param(p))
                set_name(out, DF_COMPONENT_VAE, "%s%s", direct[i].diffusers, p);
            else
                skip(out, "unrecognised VAE tensor");
            return;
        }
    int block, layer;
    char prefix[64];
    const char *coder = NULL;
    if (eat(&p, "encoder."))
        coder = "encoder";
    else if (eat(&p, "decoder."))
        coder = "decoder";
    if (!coder) {
        skip(out, "unrecognised VAE tensor");
        return;
    }
    if (eat(&p, "mid.")) {
        if (eat(&p, "block_1."))
            vae_resnet(out, coder[0] == 'e' ? "encoder.mid_block.resnets.0."
                                            : "decoder.mid_block.resnets.0.", p);
        else if (eat(&p, "block_2."))
            vae_resnet(out, coder[0] == 'e' ? "encoder.mid_block.resnets.1."
                                            : "decoder.mid_block.resnets.1.", p);
        else if (eat(&p, "attn_1."))
            vae_attention(out, coder, p);
        else
            skip(out, "unrecognised VAE tensor");
        return;
    }
    if (coder[0] == 'e' && eat(&p, "down.") && eat_index(&p, &block)) {
        if (eat(&p, "block.") && eat_index(&p, &layer)) {
            snprintf(prefix, sizeof prefix, "encoder.down_blocks.%d.resnets.%d.", block, layer);
            vae_resnet(out, prefix, p);
        }
        else if (eat(&p, "downsample.conv.") && is_param(p))
            set_name(out, DF_COMPONENT_VAE, "encoder.down_blocks.%d.downsamplers.0.conv.%s", block,
                     p);
        else
            skip(out, "unrecognised VAE tensor");
        return;
    }
    if (coder[0] == 'd' && eat(&p, "up.") && eat_index(&p, &block)) {
        /* LDM numbers decoder levels from the lowest resolution up; diffusers in
         * execution order. */
        int reversed = layout->vae_up_blocks - 1 - block;
        if (reversed < 0)
            skip(out, "unrecognised VAE tensor");
        else if (eat(&p, "block.") && eat_index(&p, &layer)) {
            snprintf(prefix, sizeof prefix, "decoder.up_blocks.%d.resnets.%d.", reversed, layer);
            vae_resnet(out, prefix, p);
        }
        else if (eat(&p, "upsample.conv.") && is_param(p))
            set_name(out, DF_COMPONENT_VAE, "decoder.up_blocks.%d.upsamplers.0.conv.%s", reversed,
                     p);
        else
            skip(out, "unrecognised VAE tensor");
        return;
    }
    skip(out, "unrecognised VAE tensor");
}

/* transformers' CLIPTextModel names, possibly from an old transformers that
 * had no "text_model." level. */
static void map_clip(const char *p, df_name_map *out)
{
    const char *tail = strrchr(p, '.');
    if (!strcmp(tail ? tail + 1 : p, "position_ids")) {
        skip(out, "position_ids is a buffer, not a weight");
        return;
    }
    if (!strncmp(p, "text_model.", 11))
        set_name(out, DF_COMPONENT_TEXT_ENCODER, "%s", p);
    else if (!strncmp(p, "embeddings.", 11) || !strncmp(p, "encoder.", 8) ||
             !strncmp(p, "final_layer_norm.", 17))
        set_name(out, DF_COMPONENT_TEXT_ENCODER, "text_model.%s", p);
    else
        skip(out, "unrecognised CLIP text encoder tensor");
}

/* OpenCLIP's text tower as `te`: SD 2.x's (drop_last: diffusers keeps 23 of
 * its 24 layers and has no use for the projection) or SDXL's second encoder
 * (every layer, and the projection). */
static void map_openclip(const df_ldm_layout *layout, const char *p, df_component te,
                         int drop_last, df_name_map *out)
{
    if (!strcmp(p, "token_embedding.weight")) {
        set_name(out, te, "text_model.embeddings.token_embedding.weight");
        return;
    }
    if (!strcmp(p, "positional_embedding")) {
        set_name(out, te, "text_model.embeddings.position_embedding.weight");
        return;
    }
    if (eat(&p, "ln_final.") && is_param(p)) {
        set_name(out, te, "text_model.final_layer_norm.%s", p);
        return;
    }
    if (!drop_last && !strcmp(p, "text_projection")) {
        /* x @ text_projection in OpenCLIP, a Linear [proj, width] in diffusers */
        set_name(out, te, "text_projection.weight");
        out->transpose = 1;
        return;
    }
    if (!strcmp(p, "text_projection") || !strcmp(p, "logit_scale") || !strcmp(p, "attn_mask")) {
        skip(out, "OpenCLIP projection/scale/mask, unused by Stable Diffusion");
        return;
    }
    int layer;
    if (!eat(&p, "transformer.resblocks.") || !eat_index(&p, &layer)) {
        skip(out, "unrecognised OpenCLIP tensor");
        return;
    }
    if (drop_last && layer >= layout->openclip_layers - 1) {
        skip(out, "last OpenCLIP layer: SD2 conditions on the penultimate one (as diffusers)");
        return;
    }
    static const struct {
        const char *ldm, *diffusers;
    } parts[] = {
        {"ln_1.", "layer_norm1."},           {"ln_2.", "layer_norm2."},
        {"attn.out_proj.", "self_attn.out_proj."}, {"mlp.c_fc.", "mlp.fc1."},
        {"mlp.c_proj.", "mlp.fc2."},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (eat(&p, parts[i].ldm) && is_param(p)) {
            set_name(out, te, "text_model.encoder.layers.%d.%s%s", layer, parts[i].diffusers, p);
            return;
        }
    if (!strcmp(p, "attn.in_proj_weight") || !strcmp(p, "attn.in_proj_bias")) {
        set_name(out, te, "text_model.encoder.layers.%d.self_attn.", layer);
        if (out->kind == DF_MAP_ONE) {
            out->kind = DF_MAP_QKV;
            snprintf(out->suffix, sizeof out->suffix, "%s",
                     p[strlen(p) - 1] == 't' ? ".weight" : ".bias");
        }
        return;
    }
    skip(out, "unrecognised OpenCLIP tensor");
}

/* conditioner.embedders.N.*: the SGM conditioner's text towers, told apart
 * by their module names rather than by N (the refiner's only one is N = 0). */
static void map_sdxl_embedder(const df_ldm_layout *layout, const char *p, df_name_map *out)
{
    int index;
    if (!eat_index(&p, &index))
        skip(out, "unrecognised SDXL conditioner tensor");
    else if (eat(&p, "transformer."))
        map_clip(p, out); /* SDXL's first text encoder is a CLIP ViT-L like SD1's */
    else if (eat(&p, "model."))
        map_openclip(layout, p, DF_COMPONENT_TEXT_ENCODER_2, 0, out);
    else
        skip(out, "unrecognised SDXL conditioner tensor");
}

void df_ldm_map(const df_ldm_layout *layout, const char *original, df_name_map *out)
{
    memset(out, 0, sizeof *out);
    const char *p = original;
    if (eat(&p, UNET_PREFIX))
        map_unet(layout, p, out);
    else if (eat(&p, VAE_PREFIX))
        map_vae(layout, p, out);
    else if (eat(&p, CLIP_PREFIX))
        map_clip(p, out);
    else if (eat(&p, OPENCLIP_PREFIX))
        map_openclip(layout, p, DF_COMPONENT_TEXT_ENCODER, 1, out);
    else if (eat(&p, SDXL_PREFIX))
        map_sdxl_embedder(layout, p, out);
    else if (!strncmp(original, "model_ema.", 10))
        skip(out, "EMA copy of the UNet");
    else
        skip(out, "not part of the text encoder, UNet or VAE");
}

void df_diffusers_map(df_component component, const char *name, df_name_map *out)
{
    memset(out, 0, sizeof *out);
    set_name(out, component, "%s", name);
    if (out->kind != DF_MAP_ONE)
        return;
    if (component == DF_COMPONENT_TEXT_ENCODER || component == DF_COMPONENT_TEXT_ENCODER_2) {
        const char *tail = strrchr(name, '.');
        if (!strcmp(tail ? tail + 1 : name, "position_ids"))
            skip(out, "position_ids is a buffer, not a weight");
        return;
    }
    if (component != DF_COMPONENT_VAE)
        return;
    static const struct {
        const char *old_name, *new_name;
    } legacy[] = {
        {".query.", ".to_q."}, {".key.", ".to_k."}, {".value.", ".to_v."},
        {".proj_attn.", ".to_out.0."},
    };
    const char *at = strstr(name, "mid_block.attentions.0.");
    if (!at)
        return;
    at += strlen("mid_block.attentions.0"); /* at the dot before the sub-name */
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
        size_t n = strlen(legacy[i].old_name);
        if (!strncmp(at, legacy[i].old_name, n) && is_param(at + n)) {
            set_name(out, component, "%.*s%s%s", (int)(at - name), name, legacy[i].new_name,
                     at + n);
            out->squeeze = !strcmp(at + n, "weight");
            return;
        }
    }
    /* New names may still carry 1x1-conv shapes in old conversions. */
    if (strstr(at, ".to_") && !strcmp(name + strlen(name) - 7, ".weight"))
        out->squeeze = 1;
}
