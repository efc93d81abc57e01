#!/usr/bin/env python3
"""Builds the tiny random-weight SDXL models (base and refiner) and the
reference outputs diffusers computes for them (tests/fixtures/, committed).

Usage:
    .venv-tools/bin/python tools/make_sdxl_fixtures.py [--out tests/fixtures]
        [--only models|text_encoder|unet|vae|pipeline ...]       (or: make fixtures)

The models are built first (everything else loads them back from the files
with from_pretrained, local files only, float32, CPU). References are
computed in float64 (`.double()`, the sinusoidal embeddings too) and stored
as f32, except the pipeline references, which are diffusers' own float32
runs. Deterministic: one thread, fixed seeds, byte-identical files on a
re-run.

MODELS
======
tiny-sdxl/                       a StableDiffusionXLPipeline folder:
    model_index.json             force_zeros_for_empty_prompt true
    scheduler/                   stable-diffusion-xl-base-1.0's EulerDiscreteScheduler
                                 config verbatim (timestep_spacing "leading",
                                 steps_offset 1, scaled_linear 0.00085..0.012, epsilon)
    tokenizer/                   CLIP BPE vocab.json + merges.txt (the full 49,408-token
                                 vocabulary, from data/clip_bpe_simple_vocab_16e6.txt.gz),
                                 special_tokens_map.json / tokenizer_config.json:
                                 pad "<|endoftext|>" (id 49407)
    tokenizer_2/                 the same vocabulary, pad "!" (id 0)
    text_encoder/                CLIPTextModel (CLIP-L shaped): hidden 8, 5 layers, 2 heads,
                                 quick_gelu; f32 but for the f16 token embedding
    text_encoder_2/              CLIPTextModelWithProjection (OpenCLIP bigG shaped):
                                 hidden 12, 10 layers, 2 heads, gelu, projection_dim 10;
                                 all f16
    unet/                        SDXL-shaped UNet (see below), f16
    vae/                         AutoencoderKL, scaling_factor 0.13025, force_upcast true, f16
tiny-sdxl-refiner/               a StableDiffusionXLImg2ImgPipeline folder:
                                 model_index.json with text_encoder / tokenizer null,
                                 requires_aesthetics_score true, force_zeros_for_empty_prompt
                                 false; scheduler/ as the base's; tokenizer_2/;
                                 text_encoder_2/ and vae/ byte-identical to the base's (the
                                 real refiner shares both with the base); its own unet/ (f16)
tiny-sdxl.safetensors            the base in the original single-file (SGM) layout, all f16:
    conditioner.embedders.0.transformer.text_model.*   text_encoder, transformers names,
                                 plus ...embeddings.position_ids (int64 [1, 77], 0..76)
    conditioner.embedders.1.model.*                    text_encoder_2, OpenCLIP names:
        token_embedding.weight [49408, 12], positional_embedding [77, 12],
        transformer.resblocks.N.{ln_1,ln_2}.{weight,bias},
        transformer.resblocks.N.attn.in_proj_{weight,bias} ([3*12, 12] / [36]: q, k, v
            stacked in that order), transformer.resblocks.N.attn.out_proj.{weight,bias},
        transformer.resblocks.N.mlp.c_fc.{weight,bias}, ...mlp.c_proj.{weight,bias},
        ln_final.{weight,bias}, text_projection [12, 10] (= diffusers'
        text_projection.weight [10, 12] transposed: pooled @ text_projection),
        logit_scale (scalar, unused); every one of the 10 layers is kept
    model.diffusion_model.*      the UNet in LDM numbering: time_embed.{0,2},
                                 label_emb.0.0 / label_emb.0.2 (= add_embedding.linear_1 /
                                 linear_2), input_blocks.{0..8}, middle_block.{0,1,2},
                                 output_blocks.{0..8}, out.{0,2}; input_blocks.1/2 (level 0)
                                 have no ".1" attention, and an attention's
                                 transformer_blocks.K run 0..depth-1 of its level
    first_stage_model.*          the VAE (LDM names; mid attention q/k/v/proj_out as
                                 [C, C, 1, 1] convolutions)
    no DDPM schedule buffers (SGM checkpoints have none)
    __metadata__["diffuse_config"]: JSON {text_encoder, text_encoder_2, unet, vae} configs
tiny-sdxl-refiner.safetensors    the refiner: conditioner.embedders.0.model.* (its OpenCLIP
                                 tower, names as above, f16), model.diffusion_model.* and
                                 first_stage_model.* in bf16 (so SDXL's bf16 path is covered;
                                 every UNet / VAE value is exact in f16 and bf16);
                                 __metadata__["diffuse_config"]: {text_encoder_2, unet, vae}
images/init-32x32.png            img2img / refiner init image (RGB8), drawn like
                                 make_pipeline_fixtures.py's

Tiny UNet (base): block_out_channels [8, 16, 16], layers_per_block 2, down
(DownBlock2D, CrossAttnDownBlock2D, CrossAttnDownBlock2D), up
(CrossAttnUpBlock2D, CrossAttnUpBlock2D, UpBlock2D), transformer_layers_per_block
[1, 2, 3] (level 0 has no attention; the mid block uses the last, 3; the up
blocks the reverse, [3, 2, 1]), attention_head_dim [4, 1, 2] (diffusers'
legacy meaning: the number of heads; level 1: 1 head of 16, level 2 and the
mid block: 2 heads of 8; the up blocks use the reverse, [2, 1, 4]),
use_linear_projection, cross_attention_dim 20 = 8 + 12 (text_encoder's
width, then text_encoder_2's), addition_embed_type "text_time",
addition_time_embed_dim 8, projection_class_embeddings_input_dim 58 = 6 * 8
+ 10, norm_num_groups 4, time embedding 4 * 8 = 32 wide, sample_size 16 (32
px by default). Latents must be multiples of 4 (two downsamplings).
Refiner UNet: block_out_channels [8, 16, 16, 16], down (DownBlock2D,
CrossAttn, CrossAttn, DownBlock2D), up (UpBlock2D, CrossAttn, CrossAttn,
CrossAttn: its level-0 up block has attention, where the down path has
none), transformer_layers_per_block 2 (an int, as the real refiner's 4:
every attention, mid block included), attention_head_dim [2, 1, 2, 4] (mid
block: 4 heads of 4; up blocks [4, 2, 1, 2]: level 2 2 heads of 8, level 1
1 of 16, level 0 2 of 4), cross_attention_dim 12 (text_encoder_2 only),
projection_class_embeddings_input_dim 50 = 5 * 8 + 10, norm_num_groups 4.
Its latents must be multiples of 8 (three downsamplings). VAE:
block_out_channels [16, 32], one layer per block, norm_num_groups 8 (so its
spatial factor is 2: 32x32 pixels <-> 16x16 latents). It is the SD VAE
architecture; only scaling_factor (0.13025) and force_upcast differ from SD
1.x's config (force_upcast only matters to an f16 VAE). The tiny SD 1.x VAE
has other channel counts, so the tiny weights are not interchangeable.

The text encoders' configs are the SDXL repository's (bos 0, eos 2, pad 1),
so transformers pools text_encoder_2 with its legacy rule: the position of
the largest token id (argmax of input_ids, the first one if several), which
for CLIP tokenizations is the first <|endoftext|> (49407). The newer rule
(first position equal to eos_token_id) gives the same positions for every
tokenization here; the pooled index is stored in the reference.

REFERENCES (tests/fixtures/reference/)
======================================
text_encoder_sdxl.safetensors   P prompts (__metadata__["prompts"], JSON list; the last
                                is over 77 tokens and is truncated to its first 77):
    input_ids            i32 [P, 77]      tokenizer (pad 49407), truncated
    input_ids_2          i32 [P, 77]      tokenizer_2 (pad 0), truncated
    te1.penultimate      f32 [P, 77, 8]   text_encoder hidden_states[-2] (output of layer
                                          n-1, NO final_layer_norm): what SDXL uses
    te1.skip1            f32 [P, 77, 8]   hidden_states[-3] (diffusers clip_skip=1)
    te2.penultimate      f32 [P, 77, 12]  text_encoder_2 hidden_states[-2] (no final norm)
    te2.skip1            f32 [P, 77, 12]  hidden_states[-3]
    te2.last_hidden_state f32 [P, 77, 12] final_layer_norm(hidden_states[-1])
    te2.pooled_index     i32 [P]          the token whose last_hidden_state is pooled
    te2.text_embeds      f32 [P, 10]      text_projection(last_hidden_state[pooled_index]):
                                          SDXL's pooled prompt embedding ("text_embeds")
    prompt_embeds        f32 [P, 77, 20]  concat(te1.penultimate, te2.penultimate) on the
                                          last axis: the UNet context
    prompt_embeds_skip1  f32 [P, 77, 20]  concat(te1.skip1, te2.skip1) (diffusers
                                          clip_skip=1; the pooled output is unchanged)
    refiner.prompt_embeds f32 [P, 77, 12] the refiner's context: its text_encoder_2's
                                          hidden_states[-2] on input_ids_2 (equal to
                                          te2.penultimate: the encoders are identical)
    refiner.text_embeds  f32 [P, 10]      its pooled embedding (equal to te2.text_embeds)
    __metadata__: prompts, computed_in "float64", models
unet_sdxl.safetensors, unet_sdxl_refiner.safetensors
    per case N (__metadata__["cases"]: JSON list of {name, model, batch, height,
    width, tokens, time_ids}):
    N.latents     f32 [b, 4, h, w]
    N.timesteps   f32 [b]
    N.context     f32 [b, T, 20] (refiner: [b, T, 12])   encoder_hidden_states
    N.text_embeds f32 [b, 10]                            added_cond_kwargs["text_embeds"]
    N.time_ids    f32 [b, 6] (refiner: [b, 5])           added_cond_kwargs["time_ids"]:
                  base (orig_h, orig_w, crop_top, crop_left, target_h, target_w),
                  refiner (orig_h, orig_w, crop_top, crop_left, aesthetic_score)
    N.output      f32 [b, 4, h, w] = unet(latents, timesteps, context,
                  added_cond_kwargs={text_embeds, time_ids}).sample, float64.
    The add embedding: each time id -> a sinusoidal embedding of width
    addition_time_embed_dim (flip_sin_to_cos, freq_shift 0, like the timestep's),
    concatenated per row in time-id order, appended AFTER text_embeds, then
    add_embedding (linear_1, SiLU, linear_2) and added to the time embedding.
vae_sdxl.safetensors
    decode.latents f32 [1, 4, 8, 8] -> decode.image f32 [1, 3, 16, 16]
        vae.decode(z).sample, z unscaled (already divided by 0.13025), not clamped
    encode.image f32 [1, 3, 32, 32] in [-1, 1] -> encode.mean, encode.logvar
        f32 [1, 4, 16, 16] (latent_dist.mean / .logvar, unscaled)
    __metadata__: scale_factor "2", scaling_factor, conventions
pipeline_sdxl.safetensors
    diffusers' float32 pipelines (StableDiffusionXLPipeline /
    StableDiffusionXLImg2ImgPipeline from_pretrained on the folders above),
    per case N:
    N.latents       f32 [batch, 4, height/2, width/2]  final latents (output_type "latent")
    N.image         f32 [batch, height, width, 3]      the uint8 image (0..255 as f32):
                    round(clamp(vae.decode(latents / 0.13025) / 2 + 0.5, 0, 1) * 255)
    N.base_latents  (base+refiner cases only) f32 [batch, 4, h/2, w/2]: the base's
                    output at denoising_end (the refiner's input, still scaled)
    __metadata__["cases"]: JSON list, per case:
      name; model ("tiny-sdxl" | "tiny-sdxl-refiner"); pipeline ("txt2img" |
      "img2img" | "base+refiner"); sampler (make_pipeline_fixtures.py's short
      names: euler, euler_a, heun, ddim, pndm, lms, dpmpp_2m, dpmpp_2m_sde, lcm);
      schedule ("default" | "karras"); spacing ("default" = the scheduler json's,
      i.e. "leading" for every SDXL case, | "trailing" ...); steps; guidance_scale;
      prompt; prompt_2 (null: not passed = prompt); negative_prompt (null: NOT
      passed, see below; "" is passed and encoded); negative_prompt_2 (null: not
      passed = negative_prompt); seed; width, height (the effective size) and
      size_passed (false: not passed, the pipeline's default
      sample_size * vae_scale_factor = 32); batch (num_images_per_prompt);
      diffusers_clip_skip (null or diffusers' clip_skip: prompt_embeds =
      hidden_states[-(clip_skip + 2)] of both encoders, for the prompt only,
      never the negative prompt); strength (1.0 for txt2img); init_image
      (repo-relative PNG or null); eta (0); original_size, target_size,
      negative_original_size, negative_target_size ([h, w] or null = not
      passed); crops_coords_top_left, negative_crops_coords_top_left ([top,
      left], default [0, 0]); aesthetic_score, negative_aesthetic_score (img2img
      only: 6.0 / 2.5 are diffusers' defaults); denoising_end (base+refiner:
      the base stops there, output_type "latent"); refiner (base+refiner only:
      {model, steps, denoising_start, seed, aesthetic_score,
      negative_aesthetic_score}; the refiner runs the same prompts, guidance
      and sampler on image = base_latents).
    __metadata__["diffusers"]: per case the scheduler class and overrides, the
      effective timestep_spacing, the timesteps run, init_noise_sigma, the
      add_time_ids rows the UNet saw ([negative rows..., positive rows...]
      with CFG), t_start for img2img, and how much a 1e-6 relative
      perturbation of every UNet output moves the result (tolerance guide).

Conventions (what the C side must reproduce; diffusers 0.35.2):
  * prompt_embeds = concat(text_encoder(ids).hidden_states[-2],
    text_encoder_2(ids_2).hidden_states[-2]) (no final norm); pooled =
    text_encoder_2's text_embeds. The refiner has text_encoder_2 only: its
    context is that encoder's hidden_states[-2] alone (width 12) and it
    tokenizes `prompt` (prompt_2 is ignored: diffusers zips [prompt, prompt_2]
    with its single tokenizer).
  * negative prompt not passed (null) and force_zeros_for_empty_prompt (base):
    negative prompt_embeds and pooled are ZEROS. Passed (even ""), or on the
    refiner (force_zeros false): the negative prompt ("" if not passed) is
    encoded like the prompt, always with hidden_states[-2].
  * time ids, base (txt2img and img2img): (original_size, crops_coords_top_left,
    target_size), original_size / target_size defaulting to (height, width).
    The negative rows equal the positive ones unless negative_original_size
    AND negative_target_size are both passed (txt2img), in which case they
    are (negative_original_size, negative_crops_coords_top_left,
    negative_target_size). Base img2img: negative rows are
    (negative_original_size or original_size, crops_coords_top_left [sic],
    negative_target_size or target_size).
  * time ids, refiner: (original_size, crops_coords_top_left, aesthetic_score),
    negative (negative_original_size or original_size,
    negative_crops_coords_top_left, negative_aesthetic_score).
  * with CFG, the UNet batch is [negative..., positive...] and
    noise = uncond + guidance_scale * (cond - uncond); guidance_scale <= 1:
    no CFG (one UNet call, the negative prompt is not encoded).
  * schedulers: SchedulerClass.from_config(scheduler_config.json, overrides)
    as in make_pipeline_fixtures.py; the SDXL json names timestep_spacing
    "leading", so every sampler's "default" spacing here is leading (unlike
    tiny-sd1, whose PNDM json has none).
  * generator = torch.Generator("cpu").manual_seed(seed): txt2img draws
    randn([batch, 4, h, w]) * init_noise_sigma, then the step noise; img2img
    draws the VAE posterior sample (mean + std * randn([1, 4, h, w])), times
    scaling_factor, then the add_noise noise randn([batch, 4, h, w]), then the
    step noise. img2img runs timesteps[t_start:], t_start = steps -
    int(steps * strength).
  * base+refiner: the base runs timesteps t >= round(1000 - denoising_end *
    1000) and returns its latents (scaled, undecoded); the refiner sets the
    same number of steps, keeps the timesteps t < round(1000 -
    denoising_start * 1000) (the last ones), starts the scheduler there
    (set_begin_index) and takes base_latents as they are: no VAE encode, no
    added noise.
  * images: VaeImageProcessor postprocess; the init image is preprocessed as
    x / 127.5 - 1 at its own size (checked by make_pipeline_fixtures.py).

Checks (the script fails loudly): diffusers' own single-file converters
(convert_ldm_clip_checkpoint, convert_open_clip_checkpoint with the SGM
prefixes, convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint) turn each
single file back into exactly the folder's tensors, and diffusers' checkpoint
detection calls them xl_base / xl_refiner; StableDiffusionXLPipeline /
StableDiffusionXLImg2ImgPipeline.from_single_file(config=folder) load the
single files to the folders' weights; from_pretrained loads every folder; the
folder's tokenizers equal sd_layout.make_tokenizer's; the pipelines'
encode_prompt equals the text encoder references.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sd_layout as L  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

import diffusers.utils.logging as _dlog  # noqa: E402
_dlog.disable_progress_bar()

from make_fixtures import _perturb_norms_and_biases, round_to_f16, round_to_f16_and_bf16  # noqa: E402
from make_model_fixtures import f32, float64_timesteps  # noqa: E402
import make_pipeline_fixtures as P  # noqa: E402

DIFFUSERS_VERSION = "0.35.2"
BASE, REFINER = "tiny-sdxl", "tiny-sdxl-refiner"
INIT32 = "tests/fixtures/images/init-32x32.png"

# --------------------------------------------------------------------------
# Configs


def text_encoder_config() -> dict:
    return dict(L.SDXL_TEXT_ENCODER, hidden_size=8, intermediate_size=21, num_attention_heads=2,
                num_hidden_layers=5, projection_dim=8, torch_dtype="float32")


def text_encoder_2_config() -> dict:
    return dict(L.SDXL_TEXT_ENCODER_2, hidden_size=12, intermediate_size=29, num_attention_heads=2,
                num_hidden_layers=10, projection_dim=10, torch_dtype="float16")


def unet_config(refiner: bool) -> dict:
    if refiner:
        return dict(L.SDXL_REFINER_UNET, _diffusers_version=DIFFUSERS_VERSION, addition_time_embed_dim=8,
                    attention_head_dim=[2, 1, 2, 4], block_out_channels=[8, 16, 16, 16], cross_attention_dim=12,
                    norm_num_groups=4, projection_class_embeddings_input_dim=5 * 8 + 10, sample_size=16,
                    transformer_layers_per_block=2)
    return dict(L.SDXL_UNET, _diffusers_version=DIFFUSERS_VERSION, addition_time_embed_dim=8,
                attention_head_dim=[4, 1, 2], block_out_channels=[8, 16, 16], cross_attention_dim=8 + 12,
                norm_num_groups=4, projection_class_embeddings_input_dim=6 * 8 + 10, sample_size=16,
                transformer_layers_per_block=[1, 2, 3])


def vae_config() -> dict:
    return dict(L.SDXL_VAE, _diffusers_version=DIFFUSERS_VERSION, block_out_channels=[16, 32],
                down_block_types=["DownEncoderBlock2D"] * 2, layers_per_block=1, norm_num_groups=8,
                sample_size=32, up_block_types=["UpDecoderBlock2D"] * 2)


SEEDS = {"text_encoder": 4001, "text_encoder_2": 4002, "unet": 4003, "vae": 4004, "refiner_unet": 4005,
         "unet_ref": 4101, "unet_refiner_ref": 4102, "vae_ref": 4103}
TOKEN_EMBEDDING = "text_model.embeddings.token_embedding.weight"
FILES = {"text_encoder": "model.safetensors", "text_encoder_2": "model.safetensors",
         "unet": "diffusion_pytorch_model.safetensors", "vae": "diffusion_pytorch_model.safetensors"}

# --------------------------------------------------------------------------
# Models


def make_clip(cls_name: str, config: dict, seed: int):
    """make_fixtures.make_text_encoder's weights (unit-variance matrices,
    O(1) embeddings, random norms and biases) for either CLIP class."""
    import transformers

    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    torch.manual_seed(seed)
    model = getattr(transformers, cls_name)(transformers.CLIPTextConfig(**cfg)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("token_embedding.weight"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif name.endswith("position_embedding.weight"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    _perturb_norms_and_biases(model, gen)
    return model


def make_diffusers(cls_name: str, config: dict, seed: int):
    import diffusers

    torch.manual_seed(seed)
    model = getattr(diffusers, cls_name).from_config(config).eval()
    _perturb_norms_and_biases(model, torch.Generator().manual_seed(seed))
    return model


def state_of(model, dtype=None, keep_f16=()) -> dict:
    """The model's state as stored: all `dtype` (or f32), names in keep_f16 f16."""
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().clone().contiguous()
        if k in keep_f16:
            v = v.half()
        elif dtype is not None:
            v = v.to(dtype)
        out[k] = v
    return out


def write_folder(folder: Path, refiner: bool, configs: dict, states: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    L.write_json(folder / "model_index.json", L.sdxl_model_index(refiner, DIFFUSERS_VERSION))
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    L.write_json(folder / "scheduler" / "scheduler_config.json", L.SDXL_SCHEDULER)
    if not refiner:
        L.write_tokenizer_files(folder / "tokenizer", L.END_TOKEN, full=True)
    L.write_tokenizer_files(folder / "tokenizer_2", "!", full=True)
    for component, state in states.items():
        (folder / component).mkdir(parents=True, exist_ok=True)
        L.write_json(folder / component / "config.json", configs[component])
        L.save_safetensors(state, folder / component / FILES[component], metadata={"format": "pt"})


def sgm_state(refiner: bool, configs: dict, states: dict, unet_dtype) -> dict:
    """The single file's tensors (see the docstring)."""
    f = {k: {n: v.float() for n, v in s.items()} for k, s in states.items()}
    ldm = {}
    logit_scale = torch.tensor(4.6052)
    if not refiner:
        ldm.update(L.clip_to_ldm(f["text_encoder"], prefix=L.SDXL_CLIP_PREFIX))
        ldm[L.SDXL_CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    prefix = L.SDXL_REFINER_OPENCLIP_PREFIX if refiner else L.SDXL_OPENCLIP_PREFIX
    ldm.update(L.sdxl_openclip_to_sgm(f["text_encoder_2"], configs["text_encoder_2"]["num_hidden_layers"], prefix,
                                      logit_scale=logit_scale))
    text = {k: (v.half() if v.is_floating_point() else v) for k, v in ldm.items()}
    rest = dict(L.unet_to_ldm(f["unet"], configs["unet"]))
    rest.update(L.vae_to_ldm(f["vae"], configs["vae"]))
    rest = {k: v.to(unet_dtype) for k, v in rest.items()}
    return {k: v.contiguous() for k, v in {**text, **rest}.items()}


def build_models(out: Path) -> None:
    print("== models")
    te_cfg, te2_cfg, vae_cfg = text_encoder_config(), text_encoder_2_config(), vae_config()
    te = make_clip("CLIPTextModel", te_cfg, SEEDS["text_encoder"])
    te2 = make_clip("CLIPTextModelWithProjection", te2_cfg, SEEDS["text_encoder_2"])
    unet = make_diffusers("UNet2DConditionModel", unet_config(False), SEEDS["unet"])
    refiner_unet = make_diffusers("UNet2DConditionModel", unet_config(True), SEEDS["refiner_unet"])
    vae = make_diffusers("AutoencoderKL", vae_cfg, SEEDS["vae"])
    # The stored values are what the references are computed from.
    round_to_f16(te)
    round_to_f16(te2)
    round_to_f16(unet)
    round_to_f16_and_bf16(refiner_unet)  # bf16 in the refiner's single file
    round_to_f16_and_bf16(vae)           # f16 in the base's, bf16 in the refiner's

    vae_state = state_of(vae, torch.float16)
    te2_state = state_of(te2, torch.float16)
    for refiner in (False, True):
        name = REFINER if refiner else BASE
        configs = {"text_encoder_2": te2_cfg, "unet": unet_config(refiner), "vae": vae_cfg}
        states = {"text_encoder_2": te2_state, "unet": state_of(refiner_unet if refiner else unet, torch.float16),
                  "vae": vae_state}
        if not refiner:
            configs["text_encoder"] = te_cfg
            states["text_encoder"] = state_of(te, keep_f16={TOKEN_EMBEDDING})
        write_folder(out / name, refiner, configs, states)
        single = out / f"{name}.safetensors"
        meta = {"format": "pt", "diffuse_config": json.dumps(configs, sort_keys=True)}
        L.save_safetensors(sgm_state(refiner, configs, states, torch.bfloat16 if refiner else torch.float16),
                           single, metadata=meta)
        n = sum(v.numel() for s in states.values() for v in s.values())
        print(f"  {name}: {n} parameters; folder {L.human(L.dir_size(out / name))}, "
              f"single file {L.human(single.stat().st_size)}")
        check_single_file(out, refiner, configs, states)
        check_folder_loads(out, refiner, states)
    check_from_single_file(out)


def check_single_file(out: Path, refiner: bool, configs: dict, states: dict) -> None:
    name = REFINER if refiner else BASE
    loaded = load_file(out / f"{name}.safetensors")
    family = "sdxl_refiner" if refiner else "sdxl"
    for line in L.verify_ldm_roundtrip(loaded, family, configs, {k: {n: v.float() for n, v in s.items()}
                                                                 for k, s in states.items()}):
        print(f"  converter round trip OK: {line}")
    if not refiner:
        pos = loaded[L.SDXL_CLIP_PREFIX + "text_model.embeddings.position_ids"]
        assert pos.dtype == torch.int64 and torch.equal(pos, torch.arange(77)[None])


def check_folder_loads(out: Path, refiner: bool, states: dict) -> None:
    import diffusers
    import transformers

    folder = out / (REFINER if refiner else BASE)
    classes = {"text_encoder": transformers.CLIPTextModel,
               "text_encoder_2": transformers.CLIPTextModelWithProjection,
               "unet": diffusers.UNet2DConditionModel, "vae": diffusers.AutoencoderKL}
    for component, want in states.items():
        model = classes[component].from_pretrained(folder / component, torch_dtype=torch.float32,
                                                   local_files_only=True)
        got = model.state_dict()
        if set(got) != set(want):
            raise AssertionError(f"{folder.name}/{component}: loaded keys differ: {sorted(set(got) ^ set(want))[:5]}")
        for k in want:
            if not torch.equal(got[k].float(), want[k].float()):
                raise AssertionError(f"{folder.name}/{component}: {k} differs after from_pretrained")
    pipe = load_pipeline(out, refiner)
    want_cfg = {"force_zeros_for_empty_prompt": not refiner}
    if refiner:
        want_cfg["requires_aesthetics_score"] = True
        assert pipe.text_encoder is None and pipe.tokenizer is None
    for k, v in want_cfg.items():
        assert pipe.config[k] == v, (k, pipe.config[k])
    assert pipe.vae_scale_factor == 2 and getattr(pipe, "default_sample_size", 16) == 16
    print(f"  {folder.name}: from_pretrained loads every component (weights identical) and the pipeline "
          f"({type(pipe).__name__}, {want_cfg})")


def check_from_single_file(out: Path) -> None:
    """diffusers' own from_single_file (config = our folder) loads each single
    file to the folder's weights."""
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    for refiner, cls in ((False, StableDiffusionXLPipeline), (True, StableDiffusionXLImg2ImgPipeline)):
        name = REFINER if refiner else BASE
        single = cls.from_single_file(str(out / f"{name}.safetensors"), config=str(out / name),
                                      local_files_only=True, torch_dtype=torch.float32)
        folder = load_pipeline(out, refiner)
        for component in ("text_encoder", "text_encoder_2", "unet", "vae"):
            a, b = getattr(single, component), getattr(folder, component)
            if a is None or b is None:
                assert a is None and b is None, component
                continue
            sa, sb = a.state_dict(), b.state_dict()
            assert set(sa) == set(sb), (name, component, sorted(set(sa) ^ set(sb))[:5])
            for k in sb:
                if not torch.equal(sa[k].float(), sb[k].float()):
                    raise AssertionError(f"{name}: from_single_file {component}.{k} differs from the folder")
        assert single.vae.config.scaling_factor == 0.13025
        print(f"  {type(single).__name__}.from_single_file({name}.safetensors, config={name}/) == the folder")


def load_pipeline(out: Path, refiner: bool):
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    cls = StableDiffusionXLImg2ImgPipeline if refiner else StableDiffusionXLPipeline
    pipe = cls.from_pretrained(out / (REFINER if refiner else BASE), torch_dtype=torch.float32, local_files_only=True,
                               add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    for m in (pipe.text_encoder, pipe.text_encoder_2, pipe.unet, pipe.vae):
        if m is not None:
            m.eval()
    return pipe


# --------------------------------------------------------------------------
# Text encoders

PROMPTS = [
    "a photograph of an astronaut riding a horse",
    "",
    "A Café in Zürich — naïve “quotes”, 東京タワー and 🚀 émojis",
    "masterpiece, best quality, (detailed:1.2), 8k uhd, dslr, f/1.8, 50mm!!",
    # "!" inside a word tokenizes to id 0, tokenizer_2's pad id
    "what!? no way!!! (!) wow!",
    # longer than one window: diffusers truncates both tokenizations to 77 tokens
    "an intricately detailed oil painting of a sprawling futuristic city at dusk, "
    "towering glass skyscrapers reflecting the orange and purple sky, flying cars "
    "weaving between neon signs, crowded markets in the streets below, street "
    "vendors selling noodles, lanterns, rain-slick pavement, cinematic lighting, "
    "volumetric fog, ultra wide angle, by a famous artist, trending on artstation, "
    "highly detailed, sharp focus, octane render, unreal engine 5, 8k resolution",
]


@torch.no_grad()
def run64(model, ids: torch.Tensor):
    m = copy.deepcopy(model).double().eval()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # transformers builds its causal mask in it
    try:
        return m(input_ids=ids.long(), output_hidden_states=True)
    finally:
        torch.set_default_dtype(previous)


def tokenize(pipe, tokenizer_name: str, pad: str, pad_id: int) -> torch.Tensor:
    tok = getattr(pipe, tokenizer_name)
    ids = tok(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt")["input_ids"]
    ours = L.make_tokenizer(pad)(PROMPTS, padding="max_length", max_length=77, truncation=True,
                                 return_tensors="pt")["input_ids"]
    if not torch.equal(ids, ours):
        raise AssertionError(f"{tokenizer_name}: the folder's tokenizer differs from sd_layout.make_tokenizer")
    assert tok.pad_token_id == pad_id and tok.model_max_length == 77
    assert (ids[:, 0] == 49406).all()
    return ids.to(torch.int32)


@torch.no_grad()
def build_text_encoder_reference(out: Path) -> None:
    print("== text encoder references")
    base, refiner = load_pipeline(out, False), load_pipeline(out, True)
    ids = tokenize(base, "tokenizer", L.END_TOKEN, 49407)
    ids2 = tokenize(base, "tokenizer_2", "!", 0)
    assert torch.equal(tokenize(refiner, "tokenizer_2", "!", 0), ids2)
    assert (ids2 == 0).any(), "expected a '!' token (id 0) among the prompts"

    o1 = run64(base.text_encoder, ids)
    o2 = run64(base.text_encoder_2, ids2)
    o2r = run64(refiner.text_encoder_2, ids2)
    index = ids2.long().argmax(dim=-1)
    first_eos = (ids2 == 49407).int().argmax(dim=-1)
    assert torch.equal(index, first_eos), "legacy and first-eos pooling rules disagree"
    projection = copy.deepcopy(base.text_encoder_2.text_projection).double()
    pooled = projection(o2.last_hidden_state[torch.arange(len(PROMPTS)), index])
    assert torch.allclose(pooled, o2.text_embeds, rtol=0, atol=1e-12)
    for a, b in ((o2r.hidden_states[-2], o2.hidden_states[-2]), (o2r.text_embeds, o2.text_embeds)):
        assert torch.equal(a, b), "the refiner's text_encoder_2 should equal the base's"

    t = {
        "input_ids": ids, "input_ids_2": ids2,
        "te1.penultimate": o1.hidden_states[-2], "te1.skip1": o1.hidden_states[-3],
        "te2.penultimate": o2.hidden_states[-2], "te2.skip1": o2.hidden_states[-3],
        "te2.last_hidden_state": o2.last_hidden_state, "te2.pooled_index": index.to(torch.int32),
        "te2.text_embeds": o2.text_embeds,
        "prompt_embeds": torch.cat([o1.hidden_states[-2], o2.hidden_states[-2]], dim=-1),
        "prompt_embeds_skip1": torch.cat([o1.hidden_states[-3], o2.hidden_states[-3]], dim=-1),
        "refiner.prompt_embeds": o2r.hidden_states[-2], "refiner.text_embeds": o2r.text_embeds,
    }
    # The pipelines' own (float32) encode_prompt agrees with the references.
    worst = 0.0
    for i, prompt in enumerate(PROMPTS):
        for pipe, key, pool_key in ((base, "prompt_embeds", "te2.text_embeds"),
                                    (refiner, "refiner.prompt_embeds", "refiner.text_embeds")):
            pe, _, pooled32, _ = pipe.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                                    do_classifier_free_guidance=False)
            for got, want in ((pe[0], t[key][i]), (pooled32[0], t[pool_key][i])):
                rel = ((got.double() - want).abs().max() / want.abs().max()).item()
                worst = max(worst, rel)
                if rel > 1e-4:
                    raise AssertionError(f"encode_prompt differs from the reference for prompt {i} ({key}): {rel}")
        pe, _, _, _ = base.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                         do_classifier_free_guidance=False, clip_skip=1)
        rel = ((pe[0].double() - t["prompt_embeds_skip1"][i]).abs().max()
               / t["prompt_embeds_skip1"][i].abs().max()).item()
        worst = max(worst, rel)
        assert rel < 1e-4, rel
    tensors = {k: (f32(v) if v.is_floating_point() else v.contiguous()) for k, v in t.items()}
    path = out / "reference" / "text_encoder_sdxl.safetensors"
    L.save_safetensors(tensors, path, metadata={
        "prompts": json.dumps(PROMPTS, ensure_ascii=False), "computed_in": "float64",
        "models": json.dumps({"te1/te2/prompt_embeds": BASE, "refiner": REFINER}), "format": "pt"})
    print(f"  {path.relative_to(out)} ({L.human(path.stat().st_size)}): {len(PROMPTS)} prompts; "
          f"prompt_embeds |max| {t['prompt_embeds'].abs().max():.3f}, text_embeds |max| "
          f"{t['te2.text_embeds'].abs().max():.3f}; pooled at {index.tolist()}; pipelines' f32 encode_prompt "
          f"within {worst:.1e} relative")


# --------------------------------------------------------------------------
# UNets

# name, batch, latent h, w, tokens, timesteps, time_ids per row
BASE_UNET_CASES = [
    ("t1", 1, 8, 8, 77, [1.0], [[1024, 1024, 0, 0, 1024, 1024]]),
    ("t981", 1, 8, 8, 77, [981.0], [[32, 32, 0, 0, 32, 32]]),
    ("batch2", 2, 8, 8, 77, [500.0, 500.0], [[1024, 1024, 0, 0, 1024, 1024], [512, 768, 64, 32, 1024, 960]]),
    ("nonsquare", 1, 8, 12, 77, [250.0], [[768, 1152, 0, 0, 768, 1152]]),
    ("long_context", 1, 8, 8, 154, [700.0], [[1024, 1024, 0, 0, 1024, 1024]]),  # two 77-token windows
    ("fractional", 1, 8, 8, 77, [333.25], [[2048, 1536, 128, 96, 1024, 1024]]),
]
REFINER_UNET_CASES = [
    ("t1", 1, 8, 8, 77, [1.0], [[1024, 1024, 0, 0, 6.0]]),
    ("t981", 1, 8, 8, 77, [981.0], [[1024, 1024, 0, 0, 2.5]]),
    ("batch2", 2, 8, 8, 77, [199.0, 199.0], [[1024, 1024, 0, 0, 2.5], [512, 768, 16, 8, 6.0]]),
    ("nonsquare", 1, 8, 16, 77, [250.0], [[768, 1536, 0, 0, 6.0]]),
    ("fractional", 1, 8, 8, 77, [133.5], [[1024, 1024, 32, 0, 7.25]]),
]


def load_unet(out: Path, refiner: bool):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(out / (REFINER if refiner else BASE) / "unet",
                                                torch_dtype=torch.float32, local_files_only=True).eval()


@torch.no_grad()
def build_unet_reference(out: Path, refiner: bool) -> None:
    unet = load_unet(out, refiner)
    unet64 = load_unet(out, refiner).double()
    dim = unet.config.cross_attention_dim
    pooled_dim = unet.config.projection_class_embeddings_input_dim - (5 if refiner else 6) * 8
    g = torch.Generator().manual_seed(SEEDS["unet_refiner_ref" if refiner else "unet_ref"])
    tensors, cases, lines = {}, [], []
    worst_f32 = worst_temb = 0.0
    for name, b, h, w, tokens, steps, time_ids in (REFINER_UNET_CASES if refiner else BASE_UNET_CASES):
        def randn(*shape):
            return torch.randn(*shape, generator=g, dtype=torch.float64).float().double()

        latents = randn(b, 4, h, w)
        context = randn(b, tokens, dim)
        text_embeds = randn(b, pooled_dim)
        t = torch.tensor(steps, dtype=torch.float64)
        ids = torch.tensor(time_ids, dtype=torch.float64)
        assert torch.equal(t.float().double(), t) and torch.equal(ids.float().double(), ids)
        cond = {"text_embeds": text_embeds, "time_ids": ids}
        with float64_timesteps():
            result = unet64(latents, t, encoder_hidden_states=context, added_cond_kwargs=cond).sample
        scale = result.abs().max().item()
        plain = unet64(latents, t, encoder_hidden_states=context, added_cond_kwargs=cond).sample
        o32 = unet(latents.float(), t.float(), encoder_hidden_states=context.float(),
                   added_cond_kwargs={k: v.float() for k, v in cond.items()}).sample
        rel32 = ((o32.double() - result).abs().max() / scale).item()
        temb = ((plain - result).abs().max() / scale).item()
        worst_f32, worst_temb = max(worst_f32, rel32), max(worst_temb, temb)
        # The added conditioning matters: other time ids give another output.
        other = ids.clone()
        other[:, 0] += 64
        with float64_timesteps():
            moved = unet64(latents, t, encoder_hidden_states=context,
                           added_cond_kwargs={"text_embeds": text_embeds, "time_ids": other}).sample
        assert (moved - result).abs().max() > 1e-3 * scale, f"{name}: time_ids have no effect"
        tensors.update({f"{name}.latents": f32(latents), f"{name}.timesteps": f32(t), f"{name}.context": f32(context),
                        f"{name}.text_embeds": f32(text_embeds), f"{name}.time_ids": f32(ids),
                        f"{name}.output": f32(result)})
        cases.append({"name": name, "model": REFINER if refiner else BASE, "batch": b, "height": h, "width": w,
                      "tokens": tokens, "time_ids": time_ids})
        lines.append(f"    {name:13} b={b} {h}x{w} T={tokens:3} t={steps}: output |max| {scale:.3f} "
                     f"std {result.std().item():.3f}; diffusers f32 rel err {rel32:.1e}, "
                     f"f32 sinusoid rel err {temb:.1e}")
    o = tensors["batch2.output"]
    assert (o[0] - o[1]).abs().max() > 1e-2 * o.abs().max(), "batch2 rows should differ"
    meta = {"cases": json.dumps(cases), "computed_in": "float64", "model": REFINER if refiner else BASE,
            "timestep_embedding": "float64, the time ids' sinusoids too (diffusers computes them in float32)",
            "time_ids": "refiner: orig_h, orig_w, crop_top, crop_left, aesthetic_score" if refiner else
                        "orig_h, orig_w, crop_top, crop_left, target_h, target_w",
            "format": "pt"}
    path = out / "reference" / f"unet_sdxl{'_refiner' if refiner else ''}.safetensors"
    L.save_safetensors(tensors, path, metadata=meta)
    print(f"  {path.relative_to(out)} ({L.human(path.stat().st_size)}), {len(cases)} cases:")
    print("\n".join(lines))
    print(f"    worst relative error: diffusers in f32 {worst_f32:.1e}; f32 sinusoidal embeddings {worst_temb:.1e}")


# --------------------------------------------------------------------------
# VAE


@torch.no_grad()
def build_vae_reference(out: Path) -> None:
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(out / BASE / "vae", torch_dtype=torch.float32, local_files_only=True).eval()
    vae64 = copy.deepcopy(vae).double()
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    g = torch.Generator().manual_seed(SEEDS["vae_ref"])
    t = {}
    t["decode.latents"] = torch.randn(1, 4, 8, 8, generator=g, dtype=torch.float64).float().double()
    t["decode.image"] = vae64.decode(t["decode.latents"]).sample
    t["encode.image"] = (torch.rand(1, 3, 32, 32, generator=g, dtype=torch.float64) * 2 - 1).float().double()
    dist = vae64.encode(t["encode.image"]).latent_dist
    t["encode.mean"], t["encode.logvar"] = dist.mean, dist.logvar
    meta = {"computed_in": "float64", "model": BASE, "scale_factor": str(factor), "format": "pt",
            "scaling_factor": str(vae.config.scaling_factor), "force_upcast": str(vae.config.force_upcast).lower(),
            "conventions": "latents unscaled (already divided by scaling_factor 0.13025); images in [-1,1], "
                           "decode outputs not clamped. The SDXL VAE is the SD VAE architecture: only "
                           "scaling_factor (0.13025 vs 0.18215) and force_upcast (f16 VAEs decode in f32) differ "
                           "in the config; this tiny one has its own channels ([16, 32], 8 groups)."}
    path = out / "reference" / "vae_sdxl.safetensors"
    L.save_safetensors({k: f32(v) for k, v in t.items()}, path, metadata=meta)
    rel = ((vae.decode(t["decode.latents"].float()).sample.double() - t["decode.image"]).abs().max()
           / t["decode.image"].abs().max()).item()
    print(f"  {path.relative_to(out)} ({L.human(path.stat().st_size)}), spatial factor {factor}: "
          + ", ".join(f"{k} {list(v.shape)}" for k, v in sorted(t.items()))
          + f"; diffusers f32 decode rel err {rel:.1e}")


# --------------------------------------------------------------------------
# Pipelines

PROMPT = P.PROMPT
NEGATIVE = P.NEGATIVE
SIZE = 24  # not the default (sample_size 16 * factor 2 = 32)


def case(name, sampler="euler", *, model=BASE, pipeline="txt2img", steps=8, schedule="default", spacing="default",
         guidance=5.0, prompt=PROMPT, prompt_2=None, negative=None, negative_2=None, width=SIZE, height=SIZE,
         size_passed=True, batch=1, clip_skip=None, strength=1.0, init_image=None, original_size=None,
         crops=(0, 0), target_size=None, negative_original_size=None, negative_crops=(0, 0),
         negative_target_size=None, aesthetic=None, negative_aesthetic=None, denoising_end=None, refiner=None,
         windowed=False):
    return {"name": name, "windowed": windowed, "model": model, "pipeline": pipeline, "sampler": sampler, "schedule": schedule,
            "spacing": spacing, "steps": steps, "guidance_scale": guidance, "prompt": prompt, "prompt_2": prompt_2,
            "negative_prompt": negative, "negative_prompt_2": negative_2, "seed": None, "width": width,
            "height": height, "size_passed": size_passed, "batch": batch, "diffusers_clip_skip": clip_skip,
            "strength": strength, "init_image": init_image, "eta": 0.0,
            "original_size": list(original_size) if original_size else None,
            "crops_coords_top_left": list(crops), "target_size": list(target_size) if target_size else None,
            "negative_original_size": list(negative_original_size) if negative_original_size else None,
            "negative_crops_coords_top_left": list(negative_crops),
            "negative_target_size": list(negative_target_size) if negative_target_size else None,
            "aesthetic_score": aesthetic, "negative_aesthetic_score": negative_aesthetic,
            "denoising_end": denoising_end, "refiner": refiner}


def sdxl_cases() -> list[dict]:
    cases = [case(s, s, steps=4 if s == "heun" else 8)
             for s in ("euler", "euler_a", "heun", "ddim", "pndm", "lms", "dpmpp_2m", "dpmpp_2m_sde")]
    cases += [case(f"{s}_karras", s, schedule="karras") for s in ("euler", "lms", "dpmpp_2m")]
    cases += [
        case("lcm", "lcm", steps=4, guidance=1.0, spacing="trailing"),
        case("euler_default_size", width=32, height=32, size_passed=False),
        case("euler_32x16", width=32, height=16),
        case("euler_negative", negative=NEGATIVE),
        case("euler_negative_empty", negative=""),  # passed: encoded, not zeroed
        case("euler_prompt_2", prompt_2="an oil painting, vivid colours", negative=NEGATIVE,
             negative_2="jpeg artifacts, watermark"),
        # Longer than one window: windowed as A1111 does (diffuse's rule, where
        # diffusers would truncate), see a1111_embeddings; the short prompt is
        # padded with the empty prompt's windows to the negative's count.
        case("a1111_long_prompt", prompt=PROMPTS[-1], negative="blurry, low quality, " * 20,
             windowed=True),
        case("euler_microcond", original_size=(64, 48), crops=(4, 8), target_size=(20, 28)),
        case("euler_microcond_negative", negative=NEGATIVE, original_size=(64, 48), crops=(4, 8),
             target_size=(20, 28), negative_original_size=(16, 16), negative_crops=(0, 2),
             negative_target_size=(24, 24)),
        case("euler_clip_skip1", clip_skip=1),
        case("euler_nocfg", guidance=1.0),
        case("euler_a_batch2", "euler_a", batch=2),
        # SDXL-Turbo's settings: no CFG, trailing timesteps (one step starts at t = 999)
        case("turbo_euler_a", "euler_a", steps=1, guidance=0.0, spacing="trailing"),
        case("turbo_euler_a_2steps", "euler_a", steps=2, guidance=0.0, spacing="trailing"),
        case("turbo_euler", "euler", steps=1, guidance=0.0, spacing="trailing"),
        case("img2img_euler", pipeline="img2img", steps=10, strength=0.6, init_image=INIT32, width=32, height=32),
        case("refiner_img2img", model=REFINER, pipeline="img2img", steps=10, strength=0.3, init_image=INIT32,
             width=32, height=32, aesthetic=6.0, negative_aesthetic=2.5),
        case("refiner_img2img_negative", model=REFINER, pipeline="img2img", steps=10, strength=0.5,
             init_image=INIT32, width=32, height=32, negative=NEGATIVE, aesthetic=7.0, negative_aesthetic=2.0,
             original_size=(48, 40), crops=(2, 0), negative_original_size=(16, 24), negative_crops=(0, 4)),
        case("base_refiner", pipeline="base+refiner", steps=10, width=32, height=32, negative=NEGATIVE,
             denoising_end=0.8, aesthetic=None, negative_aesthetic=None,
             refiner={"model": REFINER, "steps": 10, "denoising_start": 0.8, "seed": None,
                      "aesthetic_score": 6.0, "negative_aesthetic_score": 2.5}),
    ]
    for i, c in enumerate(cases):
        c["seed"] = 3234 + i
        if c["refiner"]:
            c["refiner"]["seed"] = 4234 + i
    return cases


def time_kwargs(c: dict, img2img: bool) -> dict:
    kw = {}
    for key in ("original_size", "target_size", "negative_original_size", "negative_target_size"):
        if c[key] is not None:
            kw[key] = tuple(c[key])
    kw["crops_coords_top_left"] = tuple(c["crops_coords_top_left"])
    kw["negative_crops_coords_top_left"] = tuple(c["negative_crops_coords_top_left"])
    if img2img and c["aesthetic_score"] is not None:
        kw.update(aesthetic_score=c["aesthetic_score"], negative_aesthetic_score=c["negative_aesthetic_score"])
    return kw


def prompt_kwargs(c: dict) -> dict:
    kw = {"prompt": c["prompt"]}
    for key in ("prompt_2", "negative_prompt", "negative_prompt_2"):
        if c[key] is not None:
            kw[key] = c[key]
    if c["diffusers_clip_skip"] is not None:
        kw["clip_skip"] = c["diffusers_clip_skip"]
    return kw


class Recorder:
    """Records the add_time_ids rows of the first UNet call and the timestep
    of every call."""

    def __init__(self, unet):
        self.time_ids = None
        self.timesteps = []
        self.handle = unet.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        if self.time_ids is None:
            self.time_ids = kwargs["added_cond_kwargs"]["time_ids"].tolist()
        self.timesteps.append(float(args[1]))

    def remove(self):
        self.handle.remove()


def decode_u8(pipe, latents) -> np.ndarray:
    vae = pipe.vae
    decoded = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
    img = pipe.image_processor.postprocess(decoded, output_type="np", do_denormalize=[True] * decoded.shape[0])
    return (img * 255).round().astype(np.uint8)


def perturbing(unet):
    """A forward hook multiplying every UNet output by (1 + 1e-6 n), n ~ N(0, 1)
    from its own generator (make_pipeline_fixtures.sensitivity's)."""
    g = torch.Generator("cpu").manual_seed(99)

    def hook(module, args, out):
        s = out[0] if isinstance(out, tuple) else out.sample
        s = s + s * 1e-6 * torch.randn(s.shape, generator=g, dtype=s.dtype)
        return (s,) + tuple(out[1:]) if isinstance(out, tuple) else type(out)(sample=s)

    return unet.register_forward_hook(hook)


@torch.no_grad()
def a1111_embeddings(pipe, c: dict) -> dict:
    """prompt_embeds & co. for prompts longer than a window, as A1111 (and
    diffuse) build them: each tokenizer chunks its text into 75-token windows
    (modules/sd_hijack_clip.py tokenize_line, ported in
    make_weighting_fixtures.py; tokenizer_2 pads with "!"), the shorter of the
    two chunk lists is extended with the empty prompt's window, each window
    goes through both encoders (hidden_states[-2]) and is joined, the windows
    are concatenated along the tokens, the pooled embedding is window 0's;
    the shorter of prompt and negative is extended with the empty prompt's
    joined windows. The pipeline then runs on these embeddings."""
    import make_weighting_fixtures as W

    def windows(text, tokenizer, pad_id):
        return [ids for ids, _ in W.tokenize_line(tokenizer, text, pad_id)]

    def encode(text, text_2):
        w1 = windows(text, pipe.tokenizer, W.END)
        w2 = windows(text_2, pipe.tokenizer_2, 0)
        empty1, empty2 = windows("", pipe.tokenizer, W.END)[0], windows("", pipe.tokenizer_2, 0)[0]
        n = max(len(w1), len(w2))
        w1 += [empty1] * (n - len(w1))
        w2 += [empty2] * (n - len(w2))
        o1 = pipe.text_encoder(torch.tensor(w1), output_hidden_states=True)
        o2 = pipe.text_encoder_2(torch.tensor(w2), output_hidden_states=True)
        joined = torch.cat([o1.hidden_states[-2], o2.hidden_states[-2]], dim=-1)  # [n, 77, d]
        return joined.reshape(1, n * 77, -1), o2.text_embeds[:1]

    prompt, negative = c["prompt"], c["negative_prompt"] if c["negative_prompt"] is not None else ""
    cond, pooled = encode(prompt, c["prompt_2"] if c["prompt_2"] is not None else prompt)
    uncond, negative_pooled = encode(negative, c["negative_prompt_2"] if c["negative_prompt_2"] is not None
                                     else negative)
    empty, _ = encode("", "")
    while cond.shape[1] < uncond.shape[1]:
        cond = torch.cat([cond, empty], dim=1)
    while uncond.shape[1] < cond.shape[1]:
        uncond = torch.cat([uncond, empty], dim=1)
    return {"prompt_embeds": cond, "negative_prompt_embeds": uncond, "pooled_prompt_embeds": pooled,
            "negative_pooled_prompt_embeds": negative_pooled}


def run_pipeline_case(pipes: dict, c: dict):
    """Returns (tensors, info) for one case."""
    gen = lambda seed: torch.Generator("cpu").manual_seed(seed)  # noqa: E731
    b, H, W = c["batch"], c["height"], c["width"]
    info = {}

    def call(pipe, kwargs, seed, output_type, record=False, perturb=False):
        pipe.scheduler = P.make_scheduler(pipes["scheduler_config"], c)[0]
        recorder = Recorder(pipe.unet) if record else None
        handle = perturbing(pipe.unet) if perturb else None
        try:
            result = pipe(**kwargs, generator=gen(seed), output_type=output_type).images
        finally:
            if recorder:
                recorder.remove()
            if handle:
                handle.remove()
        return result, recorder

    prompts = a1111_embeddings(pipes["base"], c) if c["windowed"] else prompt_kwargs(c)
    common = dict(num_inference_steps=c["steps"], guidance_scale=c["guidance_scale"], num_images_per_prompt=b,
                  eta=c["eta"], **prompts)
    tensors = {}
    if c["pipeline"] == "txt2img":
        pipe = pipes["base"]
        kwargs = dict(common, **time_kwargs(c, False))
        if c["size_passed"]:
            kwargs.update(width=W, height=H)
        stages = [(pipe, kwargs, c["seed"])]
    elif c["pipeline"] == "img2img":
        pipe = pipes["refiner"] if c["model"] == REFINER else pipes["base_img2img"]
        image = Image.open(L.REPO / c["init_image"]).convert("RGB")
        assert image.size == (W, H)
        kwargs = dict(common, image=image, strength=c["strength"], **time_kwargs(c, True))
        stages = [(pipe, kwargs, c["seed"])]
    else:  # base+refiner
        r = c["refiner"]
        base_kwargs = dict(common, width=W, height=H, denoising_end=c["denoising_end"], **time_kwargs(c, False))
        base_latents, rec = call(pipes["base"], base_kwargs, c["seed"], "latent", record=True)
        info["base_time_ids"] = rec.time_ids
        info["base_unet_timesteps"] = rec.timesteps
        tensors[f"{c['name']}.base_latents"] = base_latents.float().contiguous()
        ref_kwargs = dict(common, num_inference_steps=r["steps"], image=base_latents,
                          denoising_start=r["denoising_start"], aesthetic_score=r["aesthetic_score"],
                          negative_aesthetic_score=r["negative_aesthetic_score"])
        pipe = pipes["refiner"]
        stages = [(pipe, ref_kwargs, r["seed"])]
        # the perturbation guide for the whole chain: perturb the base too
        pert_base, _ = call(pipes["base"], base_kwargs, c["seed"], "latent", perturb=True)

    pipe, kwargs, seed = stages[-1]
    latents, rec = call(pipe, kwargs, seed, "latent", record=True)
    sched = pipe.scheduler
    info.update({"class": P.SAMPLERS[c["sampler"]][0], "overrides": P.make_scheduler(pipes["scheduler_config"], c)[2],
                 "timestep_spacing": sched.config.get("timestep_spacing"),
                 "prediction_type": sched.config.get("prediction_type"),
                 "use_karras_sigmas": sched.config.get("use_karras_sigmas", False),
                 "init_noise_sigma": float(sched.init_noise_sigma),
                 "scheduler_timesteps": [float(t) for t in sched.timesteps], "time_ids": rec.time_ids,
                 "unet_timesteps": rec.timesteps})
    if c["pipeline"] == "img2img":
        init_timestep = min(int(c["steps"] * c["strength"]), c["steps"])
        info["t_start"] = max(c["steps"] - init_timestep, 0)
    with torch.no_grad():
        image_u8 = decode_u8(pipe, latents)
    pil, _ = call(pipe, kwargs, seed, "pil")
    pil_u8 = np.stack([np.array(p) for p in pil])
    if not np.array_equal(pil_u8, image_u8):
        raise AssertionError(f"{c['name']}: manual decode differs from output_type='pil'")
    # sensitivity to float32-sized noise in the UNet (a guide for C tolerances)
    if c["pipeline"] == "base+refiner":
        kwargs = dict(kwargs, image=pert_base)
    pert, _ = call(pipe, kwargs, seed, "latent", perturb=True)
    with torch.no_grad():
        d = decode_u8(pipe, pert).astype(np.int32) - image_u8.astype(np.int32)
    info.update({"perturbed_1e-6_latent_absdiff": float((pert - latents).abs().max()),
                 "perturbed_1e-6_image_maxdiff": int(np.abs(d).max()),
                 "perturbed_1e-6_image_changed": int((d != 0).sum())})

    assert tuple(latents.shape) == (b, 4, H // 2, W // 2), latents.shape
    assert image_u8.shape == (b, H, W, 3), image_u8.shape
    assert torch.isfinite(latents).all(), c["name"]
    tensors[f"{c['name']}.latents"] = latents.float().contiguous()
    tensors[f"{c['name']}.image"] = torch.from_numpy(image_u8.astype(np.float32)).contiguous()
    return tensors, info


def self_checks(pipes: dict) -> None:
    """Behaviours the cases rely on: a negative prompt not passed is zeros on
    the base and "" on the refiner; the refiner ignores prompt_2."""
    base, refiner = pipes["base"], pipes["refiner"]
    with torch.no_grad():
        pe, neg, pooled, neg_pooled = base.encode_prompt(PROMPT, device="cpu", num_images_per_prompt=1,
                                                         do_classifier_free_guidance=True)
        assert not neg.abs().any() and not neg_pooled.abs().any()
        _, neg2, _, neg_pooled2 = base.encode_prompt(PROMPT, device="cpu", num_images_per_prompt=1,
                                                     do_classifier_free_guidance=True, negative_prompt="")
        empty, _, empty_pooled, _ = base.encode_prompt("", device="cpu", num_images_per_prompt=1,
                                                       do_classifier_free_guidance=False)
        assert torch.equal(neg2, empty) and torch.equal(neg_pooled2, empty_pooled) and neg2.abs().any()
        _, rneg, _, rneg_pooled = refiner.encode_prompt(PROMPT, device="cpu", num_images_per_prompt=1,
                                                        do_classifier_free_guidance=True)
        rempty, _, rempty_pooled, _ = refiner.encode_prompt("", device="cpu", num_images_per_prompt=1,
                                                            do_classifier_free_guidance=False)
        assert torch.equal(rneg, rempty) and torch.equal(rneg_pooled, rempty_pooled)
        a = refiner.encode_prompt(PROMPT, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False)
        b = refiner.encode_prompt(PROMPT, prompt_2="something else entirely", device="cpu",
                                  num_images_per_prompt=1, do_classifier_free_guidance=False)
        assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])


# case -> the fields that, set back to the plain case's, must change the latents
EFFECTS = {
    "euler_negative": {"negative_prompt": None},
    "euler_negative_empty": {"negative_prompt": None},
    "euler_prompt_2": {"prompt_2": None, "negative_prompt_2": None},
    "euler_microcond": {"original_size": None, "crops_coords_top_left": [0, 0], "target_size": None},
    "euler_microcond_negative": {"negative_original_size": None, "negative_crops_coords_top_left": [0, 0],
                                 "negative_target_size": None},
    "euler_clip_skip1": {"diffusers_clip_skip": None},
    "refiner_img2img_negative": {"aesthetic_score": 6.0, "negative_aesthetic_score": 2.5},
}


def effect_checks(pipes: dict, cases: list[dict], tensors: dict) -> None:
    """Each feature case differs from the same run without the feature (so a
    C implementation ignoring it fails), and not passing the size is passing
    the default 32x32."""
    by_name = {c["name"]: c for c in cases}
    lines = []
    for name, reset in EFFECTS.items():
        plain = dict(copy.deepcopy(by_name[name]), **reset)
        lat = run_pipeline_case(pipes, dict(plain, name="plain"))[0]["plain.latents"]
        want = tensors[f"{name}.latents"]
        rel = ((lat - want).abs().max() / want.abs().max()).item()
        if rel < 1e-3:
            raise AssertionError(f"{name}: the feature does not change the result ({rel:.1e})")
        lines.append(f"{name} {rel:.2f}")
    sized = dict(by_name["euler_default_size"], size_passed=True)
    lat = run_pipeline_case(pipes, dict(sized, name="plain"))[0]["plain.latents"]
    assert torch.equal(lat, tensors["euler_default_size.latents"]), "default size is not 32x32"
    print("  effect checks (relative change without the feature): " + ", ".join(lines)
          + "; size not passed == 32x32 passed")


def write_init_image(out: Path) -> None:
    path = out / "images" / Path(INIT32).name
    path.parent.mkdir(parents=True, exist_ok=True)
    P.make_init_image(32).save(path, "PNG", optimize=False, compress_level=9)
    back = Image.open(path)
    assert back.mode == "RGB" and back.size == (32, 32)


def build_pipeline_reference(out: Path, only: set | None) -> None:
    from diffusers import StableDiffusionXLImg2ImgPipeline

    print("== pipeline references")
    import diffusers
    assert diffusers.__version__ == DIFFUSERS_VERSION, diffusers.__version__
    write_init_image(out)
    base, refiner = load_pipeline(out, False), load_pipeline(out, True)
    comps = {k: v for k, v in base.components.items()}
    base_img2img = StableDiffusionXLImg2ImgPipeline(**comps, requires_aesthetics_score=False,
                                                    force_zeros_for_empty_prompt=True, add_watermarker=False)
    base_img2img.set_progress_bar_config(disable=True)
    assert base.scheduler.config == refiner.scheduler.config
    pipes = {"base": base, "refiner": refiner, "base_img2img": base_img2img,
             "scheduler_config": base.scheduler.config}
    self_checks(pipes)
    print("  checks: negative prompt not passed = zeros (base) / '' (refiner); '' passed = encoded; "
          "the refiner ignores prompt_2")
    cases = sdxl_cases()
    tensors, infos = {}, {}
    for c in cases:
        if only and c["name"] not in only:
            continue
        torch.manual_seed(0)  # nothing should use the global generator; keep it fixed anyway
        t, info = run_pipeline_case(pipes, c)
        tensors.update(t)
        infos[c["name"]] = info
        lat, img = t[f"{c['name']}.latents"], t[f"{c['name']}.image"]
        print(f"  {c['name']:26s} {info['class']:32s} {info['timestep_spacing']:8s} UNet calls "
              f"{len(info['unet_timesteps']):2d} lat |max| {lat.abs().max():7.3f} std {lat.std():6.3f} "
              f"img mean {img.mean():5.1f} sat {float(((img == 0) | (img == 255)).float().mean()):4.2f} "
              f"1e-6 pert: lat {info['perturbed_1e-6_latent_absdiff']:.1e} img max "
              f"{info['perturbed_1e-6_image_maxdiff']} n {info['perturbed_1e-6_image_changed']}")
    if only:
        return
    effect_checks(pipes, cases, tensors)
    path = out / "reference" / "pipeline_sdxl.safetensors"
    L.save_safetensors(tensors, path, {
        "cases": json.dumps(cases, ensure_ascii=False), "diffusers": json.dumps(infos, sort_keys=True),
        "notes": NOTES, "diffusers_version": diffusers.__version__,
    })
    print(f"  wrote {path.relative_to(out)} ({L.human(path.stat().st_size)}), {len(cases)} cases")


NOTES = (
    "Seeds: torch.Generator('cpu').manual_seed(seed), one generator for the whole batch. Schedulers: "
    "SchedulerClass.from_config(scheduler_config.json, overrides); the SDXL json names timestep_spacing "
    "'leading', so 'default' spacing is leading. negative_prompt null = not passed: zeros on tiny-sdxl "
    "(force_zeros_for_empty_prompt), '' encoded on the refiner; '' passed is encoded. prompt_embeds = "
    "concat(text_encoder hidden_states[-2], text_encoder_2 hidden_states[-2]); pooled = text_encoder_2 "
    "text_embeds. time ids: base (orig h,w, crop top,left, target h,w), refiner (orig h,w, crop top,left, "
    "aesthetic score). image = round(clamp(vae.decode(lat/0.13025)/2+0.5,0,1)*255). See "
    "tools/make_sdxl_fixtures.py's docstring for the full conventions."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=L.REPO / "tests" / "fixtures", type=Path)
    parser.add_argument("--only", action="append",
                        choices=("models", "text_encoder", "unet", "vae", "pipeline"),
                        help="build only these (repeatable; default: all, models first)")
    parser.add_argument("--cases", default=None, help="pipeline: comma-separated case names (debugging; "
                                                      "writes no pipeline reference)")
    args = parser.parse_args()
    out = args.out
    only = set(args.only or ("models", "text_encoder", "unet", "vae", "pipeline"))
    (out / "reference").mkdir(parents=True, exist_ok=True)
    if "models" in only:
        build_models(out)
    for name in (BASE, REFINER):
        if not (out / name / "model_index.json").exists():
            raise SystemExit(f"{out}/{name} missing: run with --only models first")
    if "text_encoder" in only:
        build_text_encoder_reference(out)
    if "unet" in only:
        print("== UNet references")
        build_unet_reference(out, False)
        build_unet_reference(out, True)
    if "vae" in only:
        print("== VAE reference")
        build_vae_reference(out)
    if "pipeline" in only:
        build_pipeline_reference(out, set(args.cases.split(",")) if args.cases else None)
    written = [out / BASE, out / REFINER, out / f"{BASE}.safetensors", out / f"{REFINER}.safetensors",
               out / "images" / Path(INIT32).name] + [
        out / "reference" / f"{n}.safetensors" for n in
        ("text_encoder_sdxl", "unet_sdxl", "unet_sdxl_refiner", "vae_sdxl", "pipeline_sdxl")]
    total = sum(L.dir_size(p) for p in written if p.exists())
    print(f"total of the SDXL fixtures: {L.human(total)}")


if __name__ == "__main__":
    main()
