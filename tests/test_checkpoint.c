/*
 * test_checkpoint.c — df_checkpoint on both layouts: layout and family
 * detection, the original → diffusers name mapping (spot checks on files
 * built here with the real LDM names, and a full equality check of each tiny
 * single-file fixture against its diffusers folder: every weight, both ways,
 * same shape, dtype and bytes), configs, and the errors of require/open.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

static char temp_dir[256];

static const char *temp_path(const char *name)
{
    static char paths[8][512];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 512, "%s/%s", temp_dir, name);
    return out;
}

/* ------------------------------------------------------------------------ */
/* A tiny safetensors writer: F32 tensors whose element i of tensor t holds  */
/* t * 1000 + i, so views and copies can be told apart.                      */

typedef struct spec {
    const char *name;
    int ndim;
    int64_t shape[4];
} spec;

static int write_file(const char *path, const spec *specs, int count, const char *metadata_json)
{
    size_t header_cap = 256 + (size_t)count * 400 + (metadata_json ? strlen(metadata_json) * 2 : 0);
    char *header = malloc(header_cap);
    size_t used = 0, data_size = 0;
    used += (size_t)sprintf(header + used, "{");
    if (metadata_json) {
        used += (size_t)sprintf(header + used, "\"__metadata__\":{\"diffuse_config\":\"");
        for (const char *p = metadata_json; *p; p++) {
            if (*p == '"' || *p == '\\')
                header[used++] = '\\';
            header[used++] = *p;
        }
        used += (size_t)sprintf(header + used, "\"}%s", count ? "," : "");
    }
    for (int t = 0; t < count; t++) {
        size_t numel = 1;
        used += (size_t)sprintf(header + used, "\"%s\":{\"dtype\":\"F32\",\"shape\":[", specs[t].name);
        for (int d = 0; d < specs[t].ndim; d++) {
            numel *= (size_t)specs[t].shape[d];
            used += (size_t)sprintf(header + used, d ? ",%lld" : "%lld", (long long)specs[t].shape[d]);
        }
        used += (size_t)sprintf(header + used, "],\"data_offsets\":[%zu,%zu]}%s", data_size,
                                data_size + numel * 4, t + 1 < count ? "," : "");
        data_size += numel * 4;
    }
    used += (size_t)sprintf(header + used, "}");
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(header);
        return 0;
    }
    uint64_t length = used;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(length >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, used, f);
    for (int t = 0; t < count; t++) {
        size_t numel = 1;
        for (int d = 0; d < specs[t].ndim; d++)
            numel *= (size_t)specs[t].shape[d];
        for (size_t i = 0; i < numel; i++) {
            float value = (float)(t * 1000 + (int)i);
            fwrite(&value, 4, 1, f);
        }
    }
    fclose(f);
    free(header);
    return 1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static float weight_float(const df_weight *w, int64_t i)
{
    float value;
    memcpy(&value, (const char *)w->data + i * 4, 4);
    return value;
}

/* ------------------------------------------------------------------------ */
/* Synthetic SD1 single file with the real LDM layout (4 levels, 2 resnets  */
/* per level, 4 VAE levels), tiny shapes.                                   */

#define C 8 /* channels everywhere, hidden size of the text encoder */

static int sd1_specs(spec *out, int sd2)
{
    int n = 0;
#define ADD(nm, ...) (out[n++] = (spec){nm, sizeof((int64_t[]){__VA_ARGS__}) / 8, {__VA_ARGS__}})
    static char names[200][160];
    int k = 0;
#define NAME(...) (snprintf(names[k], 160, __VA_ARGS__), names[k++])
    /* text encoder */
    if (!sd2) {
        ADD("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", 10, C);
        ADD("cond_stage_model.transformer.text_model.embeddings.position_embedding.weight", 7, C);
        ADD("cond_stage_model.transformer.text_model.embeddings.position_ids", 1, 7);
        for (int l = 0; l < 2; l++) {
            ADD(NAME("cond_stage_model.transformer.text_model.encoder.layers.%d.layer_norm1.weight", l), C);
            ADD(NAME("cond_stage_model.transformer.text_model.encoder.layers.%d.self_attn.q_proj.weight", l), C, C);
            ADD(NAME("cond_stage_model.transformer.text_model.encoder.layers.%d.mlp.fc1.weight", l), 4 * C, C);
        }
        ADD("cond_stage_model.transformer.text_model.final_layer_norm.weight", C);
    } else {
        ADD("cond_stage_model.model.token_embedding.weight", 10, C);
        ADD("cond_stage_model.model.positional_embedding", 7, C);
        ADD("cond_stage_model.model.text_projection", C, C);
        ADD("cond_stage_model.model.logit_scale");
        for (int l = 0; l < 3; l++) {
            ADD(NAME("cond_stage_model.model.transformer.resblocks.%d.ln_1.weight", l), C);
            ADD(NAME("cond_stage_model.model.transformer.resblocks.%d.attn.in_proj_weight", l), 3 * C, C);
            ADD(NAME("cond_stage_model.model.transformer.resblocks.%d.attn.in_proj_bias", l), 3 * C);
            ADD(NAME("cond_stage_model.model.transformer.resblocks.%d.mlp.c_fc.weight", l), 4 * C, C);
        }
        ADD("cond_stage_model.model.ln_final.bias", C);
    }
    /* UNet: only the names the mapping depends on, plus spot-check ones */
    ADD("model.diffusion_model.time_embed.0.weight", 4 * C, C);
    ADD("model.diffusion_model.time_embed.2.weight", 4 * C, 4 * C);
    ADD("model.diffusion_model.input_blocks.0.0.weight", C, 4, 3, 3);
    for (int i = 1; i <= 11; i++) {
        if (i == 3 || i == 6 || i == 9) {
            ADD(NAME("model.diffusion_model.input_blocks.%d.0.op.weight", i), C, C, 3, 3);
            continue;
        }
        ADD(NAME("model.diffusion_model.input_blocks.%d.0.in_layers.2.weight", i), C, C, 3, 3);
        ADD(NAME("model.diffusion_model.input_blocks.%d.0.emb_layers.1.bias", i), C);
        if (i < 9) {
            if (sd2)
                ADD(NAME("model.diffusion_model.input_blocks.%d.1.proj_in.weight", i), C, C);
            else
                ADD(NAME("model.diffusion_model.input_blocks.%d.1.proj_in.weight", i), C, C, 1, 1);
            ADD(NAME("model.diffusion_model.input_blocks.%d.1.transformer_blocks.0.attn2.to_k.weight", i), C, 12);
            ADD(NAME("model.diffusion_model.input_blocks.%d.1.transformer_blocks.0.norm1.weight", i), C);
        }
    }
    ADD("model.diffusion_model.input_blocks.4.0.skip_connection.weight", C, C, 1, 1);
    ADD("model.diffusion_model.middle_block.0.in_layers.0.weight", C);
    ADD("model.diffusion_model.middle_block.1.proj_in.weight", C, C, 1, 1);
    ADD("model.diffusion_model.middle_block.2.out_layers.3.weight", C, C, 3, 3);
    for (int i = 0; i < 12; i++)
        ADD(NAME("model.diffusion_model.output_blocks.%d.0.in_layers.2.weight", i), C, 2 * C, 3, 3);
    ADD("model.diffusion_model.output_blocks.2.1.conv.weight", C, C, 3, 3);
    ADD("model.diffusion_model.output_blocks.5.1.norm.weight", C);
    ADD("model.diffusion_model.output_blocks.5.2.conv.bias", C);
    ADD("model.diffusion_model.output_blocks.11.0.skip_connection.weight", C, 2 * C, 1, 1);
    ADD("model.diffusion_model.out.2.bias", 4);
    ADD("model.diffusion_model.out.2.weight", 4, C, 3, 3);
    /* VAE */
    ADD("first_stage_model.encoder.conv_in.weight", C, 3, 3, 3);
    ADD("first_stage_model.encoder.norm_out.bias", C);
    for (int i = 0; i < 4; i++) {
        ADD(NAME("first_stage_model.encoder.down.%d.block.0.conv1.weight", i), C, C, 3, 3);
        ADD(NAME("first_stage_model.encoder.down.%d.block.1.conv1.weight", i), C, C, 3, 3);
        ADD(NAME("first_stage_model.decoder.up.%d.block.0.norm1.weight", i), C);
    }
    ADD("first_stage_model.encoder.down.1.downsample.conv.weight", C, C, 3, 3);
    ADD("first_stage_model.decoder.up.3.upsample.conv.weight", C, C, 3, 3);
    ADD("first_stage_model.decoder.up.0.block.0.nin_shortcut.weight", C, 2 * C, 1, 1);
    ADD("first_stage_model.encoder.mid.attn_1.q.weight", C, C, 1, 1);
    ADD("first_stage_model.encoder.mid.attn_1.q.bias", C);
    ADD("first_stage_model.decoder.mid.attn_1.proj_out.weight", C, C, 1, 1);
    ADD("first_stage_model.decoder.mid.attn_1.norm.weight", C);
    ADD("first_stage_model.decoder.mid.block_2.norm1.weight", C);
    ADD("first_stage_model.decoder.conv_in.weight", C, 4, 3, 3);
    ADD("first_stage_model.decoder.conv_out.weight", 3, C, 3, 3);
    /* noise that must be ignored, as in real files */
    ADD("model_ema.decay");
    ADD("alphas_cumprod", 10);
#undef ADD
#undef NAME
    return n;
}

static const struct {
    df_component component;
    const char *original, *name;
} sd1_expectations[] = {
    {DF_COMPONENT_TEXT_ENCODER, "cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.q_proj.weight",
     "text_model.encoder.layers.1.self_attn.q_proj.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.input_blocks.0.0.weight", "conv_in.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.time_embed.2.weight", "time_embedding.linear_2.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.input_blocks.1.0.in_layers.2.weight", "down_blocks.0.resnets.0.conv1.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight",
     "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.input_blocks.4.0.skip_connection.weight", "down_blocks.1.resnets.0.conv_shortcut.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.input_blocks.11.0.emb_layers.1.bias", "down_blocks.3.resnets.1.time_emb_proj.bias"},
    {DF_COMPONENT_UNET, "model.diffusion_model.middle_block.0.in_layers.0.weight", "mid_block.resnets.0.norm1.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.middle_block.1.proj_in.weight", "mid_block.attentions.0.proj_in.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.middle_block.2.out_layers.3.weight", "mid_block.resnets.1.conv2.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.output_blocks.5.1.norm.weight", "up_blocks.1.attentions.2.norm.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"},
    {DF_COMPONENT_UNET, "model.diffusion_model.output_blocks.11.0.skip_connection.weight", "up_blocks.3.resnets.2.conv_shortcut.weight"},
    {DF_COMPONENT_UNET, "model.diffusion_model.out.2.bias", "conv_out.bias"},
    {DF_COMPONENT_VAE, "first_stage_model.encoder.norm_out.bias", "encoder.conv_norm_out.bias"},
    {DF_COMPONENT_VAE, "first_stage_model.encoder.down.2.block.1.conv1.weight", "encoder.down_blocks.2.resnets.1.conv1.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.encoder.down.1.downsample.conv.weight", "encoder.down_blocks.1.downsamplers.0.conv.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.decoder.up.3.upsample.conv.weight", "decoder.up_blocks.0.upsamplers.0.conv.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight", "decoder.up_blocks.3.resnets.0.conv_shortcut.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.decoder.up.1.block.0.norm1.weight", "decoder.up_blocks.2.resnets.0.norm1.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.encoder.mid.attn_1.q.weight", "encoder.mid_block.attentions.0.to_q.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.encoder.mid.attn_1.q.bias", "encoder.mid_block.attentions.0.to_q.bias"},
    {DF_COMPONENT_VAE, "first_stage_model.decoder.mid.attn_1.proj_out.weight", "decoder.mid_block.attentions.0.to_out.0.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.decoder.mid.attn_1.norm.weight", "decoder.mid_block.attentions.0.group_norm.weight"},
    {DF_COMPONENT_VAE, "first_stage_model.decoder.mid.block_2.norm1.weight", "decoder.mid_block.resnets.1.norm1.weight"},
};

static df_checkpoint *open_ok(const char *path)
{
    df_checkpoint *checkpoint = NULL;
    df_error error = {0};
    df_status status = df_checkpoint_open(path, &checkpoint, &error);
    CHECKF(status == DF_OK, "%s: %s", path, error.message);
    return checkpoint;
}

static void test_sd1_single_file(void)
{
    spec specs[256];
    int n = sd1_specs(specs, 0);
    const char *path = temp_path("sd1.safetensors");
    REQUIRE(write_file(path, specs, n, NULL));
    df_checkpoint *ck = open_ok(path);
    REQUIRE(ck);
    CHECK(df_checkpoint_layout(ck) == DF_LAYOUT_SINGLE_FILE);
    CHECK(df_checkpoint_family(ck) == DF_FAMILY_SD1);
    for (int c = 0; c < DF_COMPONENT_COUNT; c++) /* every component but SDXL's second encoder */
        CHECK(df_checkpoint_has(ck, (df_component)c) == (c != DF_COMPONENT_TEXT_ENCODER_2));
    for (size_t i = 0; i < sizeof sd1_expectations / sizeof sd1_expectations[0]; i++) {
        const char *original =
            df_checkpoint_original_name(ck, sd1_expectations[i].component, sd1_expectations[i].name);
        CHECKF(original && !strcmp(original, sd1_expectations[i].original), "%s -> %s (got %s)",
               sd1_expectations[i].original, sd1_expectations[i].name, original ? original : "none");
    }
    /* 1x1-conv attention weights of the VAE are exposed as linear ones. */
    const df_weight *q = df_checkpoint_weight(ck, DF_COMPONENT_VAE, "encoder.mid_block.attentions.0.to_q.weight");
    REQUIRE(q);
    CHECK(q->ndim == 2 && q->shape[0] == C && q->shape[1] == C);
    /* SD1 UNet proj_in stays a 1x1 conv (diffusers keeps it so). */
    const df_weight *proj = df_checkpoint_weight(ck, DF_COMPONENT_UNET, "down_blocks.0.attentions.0.proj_in.weight");
    REQUIRE(proj);
    CHECK(proj->ndim == 4);
    /* buffers and non-component tensors are listed as unused, not exposed */
    CHECK(!df_checkpoint_weight(ck, DF_COMPONENT_TEXT_ENCODER, "text_model.embeddings.position_ids"));
    CHECK(df_checkpoint_unused_count(ck) == 3);
    /* config inferred from shapes */
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_TEXT_ENCODER, "hidden_size", 0) == C);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_TEXT_ENCODER, "num_hidden_layers", 0) == 2);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_TEXT_ENCODER, "intermediate_size", 0) == 4 * C);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_TEXT_ENCODER, "max_position_embeddings", 0) == 7);
    CHECK(!strcmp(df_checkpoint_config_string(ck, DF_COMPONENT_TEXT_ENCODER, "hidden_act", ""), "quick_gelu"));
    CHECK(df_checkpoint_config_float(ck, DF_COMPONENT_TEXT_ENCODER, "layer_norm_eps", 0) == 1e-5);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_UNET, "layers_per_block", 0) == 2);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_UNET, "in_channels", 0) == 4);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_UNET, "out_channels", 0) == 4);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_UNET, "cross_attention_dim", 0) == 12);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_UNET, "use_linear_projection", -1) == 0);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_UNET, "attention_head_dim", 0) == 8);
    int64_t values[8];
    int count = 0;
    CHECK(df_checkpoint_config_ints(ck, DF_COMPONENT_UNET, "block_out_channels", values, 8, &count) == DF_OK);
    CHECK(count == 4 && values[0] == C && values[3] == C);
    CHECK(df_checkpoint_config_ints(ck, DF_COMPONENT_UNET, "block_out_channels", values, 2, &count) != DF_OK);
    CHECK(!strcmp(df_checkpoint_config_string_at(ck, DF_COMPONENT_UNET, "down_block_types", 0), "CrossAttnDownBlock2D"));
    CHECK(!strcmp(df_checkpoint_config_string_at(ck, DF_COMPONENT_UNET, "down_block_types", 3), "DownBlock2D"));
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_VAE, "latent_channels", 0) == 4);
    CHECK(df_checkpoint_config_float(ck, DF_COMPONENT_VAE, "scaling_factor", 0) == 0.18215);
    CHECK(df_checkpoint_config_ints(ck, DF_COMPONENT_VAE, "block_out_channels", values, 8, &count) == DF_OK && count == 4);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_VAE, "absent", 42) == 42);
    CHECK(df_checkpoint_file_bytes(ck) > 0);
    df_checkpoint_free(ck);
}

static void test_sd2_single_file(void)
{
    spec specs[256];
    int n = sd1_specs(specs, 1);
    const char *path = temp_path("sd2.safetensors");
    /* metadata overrides an inferred value and adds one */
    REQUIRE(write_file(path, specs, n, "{\"text_encoder\": {\"num_attention_heads\": 2}, \"vae\": {\"scaling_factor\": 0.5}}"));
    df_checkpoint *ck = open_ok(path);
    REQUIRE(ck);
    CHECK(df_checkpoint_family(ck) == DF_FAMILY_SD2);
    const df_component te = DF_COMPONENT_TEXT_ENCODER;
    /* the last of 3 OpenCLIP layers is dropped, as diffusers does */
    CHECK(df_checkpoint_config_int(ck, te, "num_hidden_layers", 0) == 2);
    CHECK(df_checkpoint_weight(ck, te, "text_model.encoder.layers.1.layer_norm1.weight"));
    CHECK(!df_checkpoint_weight(ck, te, "text_model.encoder.layers.2.layer_norm1.weight"));
    CHECK(!df_checkpoint_weight(ck, te, "text_model.encoder.layers.2.self_attn.q_proj.weight"));
    CHECK(!strcmp(df_checkpoint_config_string(ck, te, "hidden_act", ""), "gelu"));
    CHECK(df_checkpoint_config_int(ck, te, "num_attention_heads", 0) == 2);
    CHECK(df_checkpoint_config_float(ck, DF_COMPONENT_VAE, "scaling_factor", 0) == 0.5);
    CHECK(df_checkpoint_weight(ck, te, "text_model.embeddings.position_embedding.weight"));
    CHECK(df_checkpoint_weight(ck, te, "text_model.final_layer_norm.bias"));
    CHECK(df_checkpoint_weight(ck, te, "text_model.encoder.layers.0.mlp.fc1.weight"));
    /* q/k/v are row views of the fused in_proj: k starts at row C. */
    const char *parts[3] = {"q", "k", "v"};
    int in_proj_index = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(specs[i].name, "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight"))
            in_proj_index = i;
    REQUIRE(in_proj_index >= 0);
    for (int p = 0; p < 3; p++) {
        char name[128];
        snprintf(name, sizeof name, "text_model.encoder.layers.1.self_attn.%s_proj.weight", parts[p]);
        const df_weight *w = df_checkpoint_weight(ck, te, name);
        REQUIRE(w);
        CHECK(w->ndim == 2 && w->shape[0] == C && w->shape[1] == C);
        CHECK(weight_float(w, 0) == (float)(in_proj_index * 1000 + p * C * C));
        snprintf(name, sizeof name, "text_model.encoder.layers.1.self_attn.%s_proj.bias", parts[p]);
        w = df_checkpoint_weight(ck, te, name);
        REQUIRE(w);
        CHECK(w->ndim == 1 && w->shape[0] == C);
        CHECK(weight_float(w, 0) == (float)((in_proj_index + 1) * 1000 + p * C));
    }
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_UNET, "use_linear_projection", 0) == 1);
    int64_t heads[8];
    int count = 0;
    CHECK(df_checkpoint_config_ints(ck, DF_COMPONENT_UNET, "attention_head_dim", heads, 8, &count) == DF_OK);
    CHECK(count == 4 && heads[0] == 1);
    /* require: the error names the file, the component, both names and the shapes */
    df_error error;
    const df_weight *w = NULL;
    int64_t wrong[2] = {C, C + 1};
    CHECK(df_checkpoint_require(ck, te, "text_model.encoder.layers.0.mlp.fc1.weight", 2, wrong, &w, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, path) && strstr(error.message, "text_encoder") &&
               strstr(error.message, "'text_model.encoder.layers.0.mlp.fc1.weight'") &&
               strstr(error.message, "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight") &&
               strstr(error.message, "[32, 8]") && strstr(error.message, "[8, 9]"),
           "%s", error.message);
    CHECK(!w);
    int64_t any[2] = {-1, C};
    CHECK(df_checkpoint_require(ck, te, "text_model.encoder.layers.0.mlp.fc1.weight", 2, any, &w, &error) == DF_OK && w);
    CHECK(df_checkpoint_require(ck, te, "text_model.encoder.layers.7.mlp.fc1.weight", 2, any, &w, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, path) && strstr(error.message, "missing tensor 'text_model.encoder.layers.7.mlp.fc1.weight'"),
           "%s", error.message);
    int64_t three[3] = {C, C, 1};
    CHECK(df_checkpoint_require(ck, te, "text_model.encoder.layers.0.mlp.fc1.weight", 3, three, &w, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "[8, 8, 1]"), "%s", error.message);
    df_checkpoint_free(ck);
}

static void test_sdxl_and_unknown(void)
{
    spec sdxl[] = {
        {"conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight", 2, {10, C}},
        {"conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias", 1, {C}},
        {"model.diffusion_model.label_emb.0.0.weight", 2, {C, C}},
        {"model.diffusion_model.input_blocks.0.0.weight", 4, {C, 4, 3, 3}},
    };
    const char *path = temp_path("sdxl.safetensors");
    REQUIRE(write_file(path, sdxl, 4, NULL));
    df_checkpoint *ck = open_ok(path);
    REQUIRE(ck);
    CHECK(df_checkpoint_family(ck) == DF_FAMILY_SDXL);
    CHECK(df_checkpoint_weight(ck, DF_COMPONENT_UNET, "add_embedding.linear_1.weight"));
    df_checkpoint_free(ck);

    /* inspect shows it; a model needs the whole text encoder and says so. */
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    df_error refusal = {0};
    REQUIRE(df_runtime_create(1, &runtime, &refusal) == DF_OK);
    CHECK(df_model_open(runtime, path, &model, &refusal) != DF_OK && !model);
    CHECKF(strstr(refusal.message, "text encoder"), "%s", refusal.message);
    df_runtime_free(runtime);

    /* A file with no Stable Diffusion tensors at all (a LoRA, say) is refused. */
    spec lora[] = {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", 2, {4, C}}};
    path = temp_path("lora.safetensors");
    REQUIRE(write_file(path, lora, 1, NULL));
    df_error error;
    ck = NULL;
    CHECK(df_checkpoint_open(path, &ck, &error) == DF_ERR_UNSUPPORTED);
    CHECKF(strstr(error.message, path) && strstr(error.message, "not a Stable Diffusion checkpoint") &&
               strstr(error.message, "lora_unet_down"),
           "%s", error.message);
    CHECK(!ck);

    /* Only a VAE: opens, family unknown, with a note saying why. */
    spec vae[] = {{"first_stage_model.decoder.conv_in.weight", 4, {C, 4, 3, 3}}};
    path = temp_path("vae.safetensors");
    REQUIRE(write_file(path, vae, 1, NULL));
    ck = open_ok(path);
    REQUIRE(ck);
    CHECK(df_checkpoint_family(ck) == DF_FAMILY_UNKNOWN);
    CHECK(df_checkpoint_has(ck, DF_COMPONENT_VAE) && !df_checkpoint_has(ck, DF_COMPONENT_UNET));
    int found = 0;
    for (size_t i = 0; i < df_checkpoint_note_count(ck); i++)
        found |= strstr(df_checkpoint_note_at(ck, i), "family unknown") != NULL;
    CHECK(found);
    const df_weight *w;
    CHECK(df_checkpoint_require(ck, DF_COMPONENT_UNET, "conv_in.weight", 0, NULL, &w, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "has no unet component"), "%s", error.message);
    df_checkpoint_free(ck);

    /* Two original names for one diffusers name is an error, not a silent pick. */
    spec twice[] = {
        {"cond_stage_model.transformer.text_model.final_layer_norm.weight", 1, {C}},
        {"cond_stage_model.transformer.final_layer_norm.weight", 1, {C}},
    };
    path = temp_path("twice.safetensors");
    REQUIRE(write_file(path, twice, 2, NULL));
    CHECK(df_checkpoint_open(path, &ck, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "text_model.final_layer_norm.weight"), "%s", error.message);

    /* A bad diffuse_config metadata entry. */
    spec one[] = {{"cond_stage_model.transformer.text_model.final_layer_norm.weight", 1, {C}}};
    path = temp_path("badmeta.safetensors");
    REQUIRE(write_file(path, one, 1, "[1, 2]"));
    CHECK(df_checkpoint_open(path, &ck, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "diffuse_config"), "%s", error.message);
}

static void test_refused_inputs(void)
{
    df_checkpoint *ck = NULL;
    df_error error;
    /* Pickles, by extension and by content. */
    write_text(temp_path("model.ckpt"), "PK\x03\x04whatever");
    CHECK(df_checkpoint_open(temp_path("model.ckpt"), &ck, &error) == DF_ERR_UNSUPPORTED);
    CHECKF(strstr(error.message, "model.ckpt") && strstr(error.message, "pickle"), "%s", error.message);
    write_text(temp_path("disguised.safetensors"), "PK\x03\x04whatever");
    CHECK(df_checkpoint_open(temp_path("disguised.safetensors"), &ck, &error) == DF_ERR_UNSUPPORTED);
    CHECK(!ck);
    /* Missing path, a broken file, an empty directory. */
    CHECK(df_checkpoint_open(temp_path("absent"), &ck, &error) == DF_ERR_IO);
    CHECK(strstr(error.message, "absent") != NULL);
    write_text(temp_path("broken.safetensors"), "\x10\x00\x00\x00\x00\x00\x00\x00{not json}xxxxx");
    CHECK(df_checkpoint_open(temp_path("broken.safetensors"), &ck, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "broken.safetensors"), "%s", error.message);
    mkdir(temp_path("emptydir"), 0755);
    CHECK(df_checkpoint_open(temp_path("emptydir"), &ck, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "emptydir") && strstr(error.message, "not a diffusers model folder"),
           "%s", error.message);
    /* A component folder with only a pickle. */
    mkdir(temp_path("pickled"), 0755);
    mkdir(temp_path("pickled/unet"), 0755);
    write_text(temp_path("pickled/unet/diffusion_pytorch_model.bin"), "x");
    CHECK(df_checkpoint_open(temp_path("pickled"), &ck, &error) == DF_ERR_UNSUPPORTED);
    CHECKF(strstr(error.message, "diffusion_pytorch_model.bin") && strstr(error.message, "pickle"),
           "%s", error.message);
    CHECK(df_checkpoint_open("/dev/null", &ck, &error) == DF_ERR_IO);
    CHECKF(strstr(error.message, "/dev/null: neither a folder nor a regular file"), "%s", error.message);
    CHECK(df_checkpoint_open(NULL, &ck, &error) == DF_ERR_INVALID_ARGUMENT);
    df_checkpoint_free(NULL);
}

static void test_diffusers_folder(void)
{
    /* Only a text encoder, fp16-variant file name, config with gelu: SD2. */
    mkdir(temp_path("te_only"), 0755);
    mkdir(temp_path("te_only/text_encoder"), 0755);
    write_text(temp_path("te_only/model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
    write_text(temp_path("te_only/text_encoder/config.json"),
               "{\"hidden_act\": \"gelu\", \"hidden_size\": 8, \"num_hidden_layers\": 1, "
               "\"num_attention_heads\": 2}");
    spec te[] = {
        {"text_model.embeddings.token_embedding.weight", 2, {10, C}},
        {"text_model.encoder.layers.0.layer_norm1.weight", 1, {C}},
        {"text_model.embeddings.position_ids", 2, {1, 7}},
    };
    REQUIRE(write_file(temp_path("te_only/text_encoder/model.fp16.safetensors"), te, 3, NULL));
    df_checkpoint *ck = open_ok(temp_path("te_only"));
    REQUIRE(ck);
    CHECK(df_checkpoint_layout(ck) == DF_LAYOUT_DIFFUSERS);
    CHECK(df_checkpoint_family(ck) == DF_FAMILY_SD2);
    CHECK(df_checkpoint_has(ck, DF_COMPONENT_TEXT_ENCODER));
    CHECK(!df_checkpoint_has(ck, DF_COMPONENT_UNET) && !df_checkpoint_has(ck, DF_COMPONENT_VAE));
    CHECK(df_checkpoint_count(ck, DF_COMPONENT_TEXT_ENCODER) == 2);
    CHECK(df_checkpoint_config_int(ck, DF_COMPONENT_TEXT_ENCODER, "num_attention_heads", 0) == 2);
    int notes = 0;
    for (size_t i = 0; i < df_checkpoint_note_count(ck); i++)
        notes += strstr(df_checkpoint_note_at(ck, i), "no unet/ folder") != NULL;
    CHECK(notes == 1);
    df_checkpoint_free(ck);

    /* A sharded UNet with a linear proj_in, and an SD1 text encoder: the
     * conflict leaves the family unknown rather than guessing. */
    mkdir(temp_path("sharded"), 0755);
    mkdir(temp_path("sharded/unet"), 0755);
    mkdir(temp_path("sharded/text_encoder"), 0755);
    write_text(temp_path("sharded/text_encoder/config.json"), "{\"hidden_act\": \"quick_gelu\"}");
    REQUIRE(write_file(temp_path("sharded/text_encoder/model.safetensors"), te, 2, NULL));
    spec a[] = {{"conv_in.weight", 4, {C, 4, 3, 3}}};
    spec b[] = {{"down_blocks.0.attentions.0.proj_in.weight", 2, {C, C}}};
    REQUIRE(write_file(temp_path("sharded/unet/diffusion_pytorch_model-00001-of-00002.safetensors"), a, 1, NULL));
    REQUIRE(write_file(temp_path("sharded/unet/diffusion_pytorch_model-00002-of-00002.safetensors"), b, 1, NULL));
    write_text(temp_path("sharded/unet/diffusion_pytorch_model.safetensors.index.json"),
               "{\"metadata\": {}, \"weight_map\": {"
               "\"conv_in.weight\": \"diffusion_pytorch_model-00001-of-00002.safetensors\","
               "\"down_blocks.0.attentions.0.proj_in.weight\": \"diffusion_pytorch_model-00002-of-00002.safetensors\"}}");
    ck = open_ok(temp_path("sharded"));
    REQUIRE(ck);
    CHECK(df_checkpoint_file_count(ck) == 3);
    CHECK(df_checkpoint_weight(ck, DF_COMPONENT_UNET, "conv_in.weight"));
    CHECK(df_checkpoint_weight(ck, DF_COMPONENT_UNET, "down_blocks.0.attentions.0.proj_in.weight"));
    CHECK(df_checkpoint_family(ck) == DF_FAMILY_UNKNOWN);
    df_checkpoint_free(ck);

    /* A shard path escaping the folder is refused. */
    write_text(temp_path("sharded/unet/diffusion_pytorch_model.safetensors.index.json"),
               "{\"weight_map\": {\"conv_in.weight\": \"../../etc/passwd\"}}");
    df_error error;
    CHECK(df_checkpoint_open(temp_path("sharded"), &ck, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "invalid shard"), "%s", error.message);

    /* text_encoder_2/ marks SDXL; legacy VAE attention names are renamed. */
    mkdir(temp_path("xl"), 0755);
    mkdir(temp_path("xl/vae"), 0755);
    mkdir(temp_path("xl/text_encoder_2"), 0755);
    spec legacy[] = {
        {"encoder.mid_block.attentions.0.query.weight", 2, {C, C}},
        {"decoder.mid_block.attentions.0.proj_attn.bias", 1, {C}},
    };
    REQUIRE(write_file(temp_path("xl/vae/diffusion_pytorch_model.safetensors"), legacy, 2, NULL));
    spec second[] = {{"text_model.final_layer_norm.weight", 1, {C}}};
    REQUIRE(write_file(temp_path("xl/text_encoder_2/model.safetensors"), second, 1, NULL));
    ck = open_ok(temp_path("xl"));
    REQUIRE(ck);
    CHECK(df_checkpoint_family(ck) == DF_FAMILY_SDXL);
    CHECK(df_checkpoint_weight(ck, DF_COMPONENT_VAE, "encoder.mid_block.attentions.0.to_q.weight"));
    CHECK(df_checkpoint_weight(ck, DF_COMPONENT_VAE, "decoder.mid_block.attentions.0.to_out.0.bias"));
    df_checkpoint_free(ck);
}

/* ------------------------------------------------------------------------ */
/* Fixtures: single file and diffusers folder must give identical weights.  */

static size_t weight_bytes(const df_weight *w)
{
    size_t n = w->dtype == DF_DTYPE_F32 ? 4 : 2;
    for (int d = 0; d < w->ndim; d++)
        n *= (size_t)w->shape[d];
    return n;
}

static float element(const df_weight *w, size_t i)
{
    uint16_t half;
    switch (w->dtype) {
    case DF_DTYPE_F32: return weight_float(w, (int64_t)i);
    case DF_DTYPE_F16: memcpy(&half, (const char *)w->data + 2 * i, 2); return df_f16_to_f32(half);
    case DF_DTYPE_BF16: memcpy(&half, (const char *)w->data + 2 * i, 2); return df_bf16_to_f32(half);
    }
    return 0;
}

/* Same values: bytes when the dtypes agree, else element by element (the SD2
 * fixture keeps an f32 folder text encoder and an all-f16 single file). */
static int same_values(const df_weight *a, const df_weight *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    if (a->dtype == b->dtype)
        return !memcmp(a->data, b->data, weight_bytes(a));
    size_t n = weight_bytes(a) / (a->dtype == DF_DTYPE_F32 ? 4 : 2);
    for (size_t i = 0; i < n; i++)
        if (element(a, i) != element(b, i))
            return 0;
    return 1;
}

/* Fixtures live in tests/fixtures unless DF_FIXTURE_DIR names another folder. */
static const char *fixture(const char *name)
{
    static char paths[4][1024];
    static int next;
    char *out = paths[next++ % 4];
    const char *dir = getenv("DF_FIXTURE_DIR");
    snprintf(out, 1024, "%s/%s", dir && *dir ? dir : DF_SOURCE_DIR "/tests/fixtures", name);
    return out;
}

static void compare_layouts(const char *folder, const char *single, df_family family)
{
    df_checkpoint *a = open_ok(fixture(folder));
    df_checkpoint *b = open_ok(fixture(single));
    if (!a || !b) {
        df_checkpoint_free(a);
        df_checkpoint_free(b);
        return;
    }
    CHECK(df_checkpoint_family(a) == family && df_checkpoint_family(b) == family);
    CHECK(df_checkpoint_layout(a) == DF_LAYOUT_DIFFUSERS && df_checkpoint_layout(b) == DF_LAYOUT_SINGLE_FILE);
    for (int c = 0; c < DF_COMPONENT_COUNT; c++) {
        df_component component = (df_component)c;
        if ((c == DF_COMPONENT_TEXT_ENCODER_2 && family != DF_FAMILY_SDXL) ||
            (c == DF_COMPONENT_TEXT_ENCODER && !df_checkpoint_has(a, component))) {
            /* SD 1.x/2.x have no second encoder, the SDXL refiner no first */
            CHECK(!df_checkpoint_has(a, component) && !df_checkpoint_has(b, component));
            continue;
        }
        CHECK(df_checkpoint_has(a, component) && df_checkpoint_has(b, component));
        size_t mismatches = 0;
        for (size_t i = 0; i < df_checkpoint_count(b, component); i++) {
            const char *name;
            const df_weight *wb = df_checkpoint_at(b, component, i, &name);
            const df_weight *wa = df_checkpoint_weight(a, component, name);
            if (!wa) {
                if (mismatches++ < 5)
                    CHECKF(0, "%s: %s '%s' (from '%s') is not in %s", single, df_component_name(component),
                           name, df_checkpoint_original_name(b, component, name), folder);
                continue;
            }
            if (!same_values(wa, wb) && mismatches++ < 5)
                CHECKF(0, "%s: %s '%s' differs in shape or values", single,
                       df_component_name(component), name);
        }
        for (size_t i = 0; i < df_checkpoint_count(a, component); i++) {
            const char *name;
            df_checkpoint_at(a, component, i, &name);
            if (!df_checkpoint_weight(b, component, name) && mismatches++ < 5)
                CHECKF(0, "%s: %s '%s' has no counterpart in %s", folder, df_component_name(component),
                       name, single);
        }
        CHECKF(mismatches == 0, "%s: %zu mismatches", df_component_name(component), mismatches);
        CHECK(df_checkpoint_count(a, component) == df_checkpoint_count(b, component));
    }
    /* The configs the models read agree. */
    static const struct {
        df_component component;
        const char *key;
    } keys[] = {
        {DF_COMPONENT_TEXT_ENCODER, "hidden_size"},      {DF_COMPONENT_TEXT_ENCODER, "num_hidden_layers"},
        {DF_COMPONENT_TEXT_ENCODER, "num_attention_heads"}, {DF_COMPONENT_TEXT_ENCODER, "intermediate_size"},
        {DF_COMPONENT_TEXT_ENCODER, "max_position_embeddings"}, {DF_COMPONENT_UNET, "in_channels"},
        {DF_COMPONENT_UNET, "out_channels"},             {DF_COMPONENT_UNET, "cross_attention_dim"},
        {DF_COMPONENT_UNET, "layers_per_block"},         {DF_COMPONENT_UNET, "use_linear_projection"},
        {DF_COMPONENT_VAE, "latent_channels"},           {DF_COMPONENT_VAE, "layers_per_block"},
        {DF_COMPONENT_UNET, "block_out_channels"},       {DF_COMPONENT_UNET, "attention_head_dim"},
        {DF_COMPONENT_VAE, "block_out_channels"},
        {DF_COMPONENT_UNET, "transformer_layers_per_block"},
        {DF_COMPONENT_UNET, "projection_class_embeddings_input_dim"},
        {DF_COMPONENT_TEXT_ENCODER_2, "hidden_size"}, {DF_COMPONENT_TEXT_ENCODER_2, "num_hidden_layers"},
        {DF_COMPONENT_TEXT_ENCODER_2, "projection_dim"},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int64_t va[8] = {0}, vb[8] = {0};
        int na = -1, nb = -2;
        df_checkpoint_config_ints(a, keys[k].component, keys[k].key, va, 8, &na);
        df_checkpoint_config_ints(b, keys[k].component, keys[k].key, vb, 8, &nb);
        if (!strcmp(keys[k].key, "use_linear_projection")) {
            na = nb = 1;
            va[0] = df_checkpoint_config_int(a, keys[k].component, keys[k].key, -1);
            vb[0] = df_checkpoint_config_int(b, keys[k].component, keys[k].key, -1);
        }
        CHECKF(na == nb && !memcmp(va, vb, sizeof va), "%s %s.%s: folder %lld (%d values), single file %lld (%d values)",
               folder, df_component_name(keys[k].component), keys[k].key, (long long)va[0], na, (long long)vb[0], nb);
    }
    for (int c = 0; c < DF_COMPONENT_COUNT; c++)
        if ((c == DF_COMPONENT_TEXT_ENCODER || c == DF_COMPONENT_TEXT_ENCODER_2) &&
            df_checkpoint_has(a, (df_component)c))
            CHECK(!strcmp(df_checkpoint_config_string(a, (df_component)c, "hidden_act", "a"),
                          df_checkpoint_config_string(b, (df_component)c, "hidden_act", "b")));
    CHECK(df_checkpoint_config_float(a, DF_COMPONENT_VAE, "scaling_factor", 1) ==
          df_checkpoint_config_float(b, DF_COMPONENT_VAE, "scaling_factor", 2));
    df_checkpoint_free(a);
    df_checkpoint_free(b);
}

static int have_fixture(const char *name)
{
    struct stat info;
    if (stat(fixture(name), &info) == 0)
        return 1;
    printf("note: %s absent (make fixtures); fixture comparison not run\n", fixture(name));
    return 0;
}

static void test_fixtures_sd1(void)
{
    if (have_fixture("tiny-sd1") && have_fixture("tiny-sd1.safetensors"))
        compare_layouts("tiny-sd1", "tiny-sd1.safetensors", DF_FAMILY_SD1);
}

static void test_fixtures_sd2(void)
{
    if (have_fixture("tiny-sd2") && have_fixture("tiny-sd2.safetensors"))
        compare_layouts("tiny-sd2", "tiny-sd2.safetensors", DF_FAMILY_SD2);
}

/* SDXL's SGM names (both encoders, OpenCLIP's transposed projection, the
 * per-level transformer depth, label_emb) and the refiner's (bigG only, as
 * embedder 0) give the folders' tensors exactly. */
static void test_fixtures_sdxl(void)
{
    if (have_fixture("tiny-sdxl") && have_fixture("tiny-sdxl.safetensors"))
        compare_layouts("tiny-sdxl", "tiny-sdxl.safetensors", DF_FAMILY_SDXL);
    if (have_fixture("tiny-sdxl-refiner") && have_fixture("tiny-sdxl-refiner.safetensors"))
        compare_layouts("tiny-sdxl-refiner", "tiny-sdxl-refiner.safetensors", DF_FAMILY_SDXL);
}

int main(void)
{
    snprintf(temp_dir, sizeof temp_dir, "%s/df_test_ck_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(temp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    DF_RUN(test_sd1_single_file);
    DF_RUN(test_sd2_single_file);
    DF_RUN(test_sdxl_and_unknown);
    DF_RUN(test_refused_inputs);
    DF_RUN(test_diffusers_folder);
    DF_RUN(test_fixtures_sd1);
    DF_RUN(test_fixtures_sd2);
    DF_RUN(test_fixtures_sdxl);
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", temp_dir);
    return df_test_finish();
}
