"""Shared code of the diffuse developer tools: model configs, the diffusers ->
original (LDM / CompVis, and SGM for SDXL) naming of Stable Diffusion 1.x /
2.x / XL weights, its check against diffusers' own converters, the CLIP
tokenizer files, and a streaming safetensors writer.

Imported by tools/make_fixtures.py, tools/make_sdxl_fixtures.py,
tools/make_fullsize.py and bench/bench_text_encoder.py; not a script.

Naming (diffusers -> single file):
  text encoder, SD 1.x   text_model.*  ->  cond_stage_model.transformer.text_model.*
  text encoder, SD 2.x   text_model.*  ->  cond_stage_model.model.* (OpenCLIP:
                         fused attn.in_proj_{weight,bias}, text_projection,
                         logit_scale, and one more resblock than diffusers keeps)
  text encoders, SDXL    (Stability's generative-models, "SGM", single files)
                         text_encoder   text_model.* -> conditioner.embedders.0.transformer.text_model.*
                                        (plus embeddings.position_ids, int64 [1, 77])
                         text_encoder_2 -> conditioner.embedders.1.model.* (OpenCLIP names as
                                        SD 2.x, every layer kept; text_projection stored
                                        [width, projection_dim] = the diffusers Linear
                                        weight transposed; logit_scale)
                         refiner: its only encoder (text_encoder_2) -> conditioner.embedders.0.model.*
  unet                   *  ->  model.diffusion_model.* (input_blocks / middle_block /
                         output_blocks numbering of the LDM UNet; SDXL's add_embedding
                         linear_1 / linear_2 -> label_emb.0.0 / label_emb.0.2; levels
                         without attention simply have no input_blocks.N.1 / output_blocks.N.1,
                         and each attention keeps its transformer_blocks.K numbering)
  vae                    *  ->  first_stage_model.* (encoder.down.i.block.j, mid.attn_1
                         with 1x1-conv q/k/v/proj_out, decoder.up numbered bottom-up)
The mapping is the inverse of diffusers/loaders/single_file_utils.py
(convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint,
convert_ldm_clip_checkpoint, convert_open_clip_checkpoint);
verify_ldm_roundtrip() runs those converters and demands the exact inverse.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
BPE_PATH = REPO / "data" / "clip_bpe_simple_vocab_16e6.txt.gz"

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."
OPENCLIP_PREFIX = "cond_stage_model.model."
# SDXL (SGM) single files
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPENCLIP_PREFIX = "conditioner.embedders.1.model."
SDXL_REFINER_OPENCLIP_PREFIX = "conditioner.embedders.0.model."

# --------------------------------------------------------------------------
# Released configs (runwayml/stable-diffusion-v1-5, stabilityai/stable-diffusion-2-1),
# written as their config.json files are.

SD15_TEXT_ENCODER = {
    "_name_or_path": "openai/clip-vit-large-patch14",
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "torch_dtype": "float32",
    "transformers_version": "4.22.0.dev0",
    "vocab_size": 49408,
}

SD21_TEXT_ENCODER = {
    "_name_or_path": "hf-models/stable-diffusion-v2-768x768/text_encoder",
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_size": 1024,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 4096,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "pad_token_id": 1,
    "projection_dim": 512,
    "torch_dtype": "float32",
    "transformers_version": "4.25.0.dev0",
    "vocab_size": 49408,
}

SD15_UNET = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}

SD21_UNET = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.10.0.dev0",
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "sample_size": 96,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": True,
    "use_linear_projection": True,
}

SD15_VAE = {
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
}

SD21_VAE = dict(SD15_VAE, _diffusers_version="0.8.0", sample_size=768)

SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}

SD21_SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "_diffusers_version": "0.8.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}


# stabilityai/stable-diffusion-xl-base-1.0 / -refiner-1.0 / sdxl-turbo, written
# as their config.json files are (text_encoder is CLIP ViT-L/14 as in SD 1.x
# but with the SDXL repository's token ids; text_encoder_2 is OpenCLIP
# ViT-bigG/14 with its projection).

SDXL_TEXT_ENCODER = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "torch_dtype": "float16",
    "transformers_version": "4.32.0.dev0",
    "vocab_size": 49408,
}

SDXL_TEXT_ENCODER_2 = {
    "architectures": ["CLIPTextModelWithProjection"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 5120,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "pad_token_id": 1,
    "projection_dim": 1280,
    "torch_dtype": "float16",
    "transformers_version": "4.32.0.dev0",
    "vocab_size": 49408,
}

SDXL_UNET = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.19.0.dev0",
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 2048,
    "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 128,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": True,
}

SDXL_REFINER_UNET = dict(
    SDXL_UNET,
    attention_head_dim=[6, 12, 24, 24],
    block_out_channels=[384, 768, 1536, 1536],
    cross_attention_dim=1280,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    projection_class_embeddings_input_dim=2560,
    transformer_layers_per_block=4,
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
)

SDXL_VAE = {
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.20.0.dev0",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
    "force_upcast": True,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
}

SDXL_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler",
    "_diffusers_version": "0.19.0.dev0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

SDXL_TURBO_SCHEDULER = dict(SDXL_SCHEDULER, _class_name="EulerAncestralDiscreteScheduler",
                            _diffusers_version="0.24.0.dev0", timestep_spacing="trailing")


def sdxl_model_index(refiner: bool, diffusers_version: str) -> dict:
    """model_index.json of an SDXL base (StableDiffusionXLPipeline) or refiner
    (StableDiffusionXLImg2ImgPipeline: no CLIP-L, aesthetic-score time ids,
    no zeroed negative prompt)."""
    index = {
        "_class_name": "StableDiffusionXLImg2ImgPipeline" if refiner else "StableDiffusionXLPipeline",
        "_diffusers_version": diffusers_version,
        "force_zeros_for_empty_prompt": not refiner,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": [None, None] if refiner else ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": [None, None] if refiner else ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    if refiner:
        index["requires_aesthetics_score"] = True
    return index


def model_index(family: str, diffusers_version: str, with_tokenizer: bool) -> dict:
    scheduler = "PNDMScheduler" if family == "sd1" else "DDIMScheduler"
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers_version,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", scheduler],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"] if with_tokenizer else [None, None],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    return index


# --------------------------------------------------------------------------
# CLIP tokenizer files, derived from the BPE merges list exactly as OpenAI's
# SimpleTokenizer (and openai/clip-vit-large-patch14's vocab.json) do.

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
N_MERGES = 49152 - 256 - 2  # 48,894


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def clip_vocab_and_merges() -> tuple[dict, list[str]]:
    lines = gzip.open(BPE_PATH).read().decode("utf-8").split("\n")
    merges = lines[1 : N_MERGES + 1]
    symbols = _bytes_to_unicode()
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += ["".join(m.split()) for m in merges]
    vocab += [START_TOKEN, END_TOKEN]
    assert len(vocab) == 49408, len(vocab)
    return {token: i for i, token in enumerate(vocab)}, merges


def write_tokenizer_files(directory: Path, pad_token: str, full: bool = False) -> None:
    """vocab.json + merges.txt (and, with full, the transformers configs)."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_vocab_and_merges()
    with open(directory / "vocab.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(directory / "merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    if full:
        special = {"bos_token": START_TOKEN, "eos_token": END_TOKEN, "pad_token": pad_token, "unk_token": END_TOKEN}
        write_json(directory / "special_tokens_map.json", special)
        write_json(directory / "tokenizer_config.json", dict(
            special, add_prefix_space=False, do_lower_case=True, errors="replace",
            model_max_length=77, tokenizer_class="CLIPTokenizer"))


def make_tokenizer(pad_token: str, cache_dir: Path | None = None):
    """A transformers CLIPTokenizer (slow, with ftfy) over our vocab files."""
    from transformers import CLIPTokenizer
    import tempfile

    directory = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="diffuse-tok-"))
    if not (directory / "vocab.json").exists():
        write_tokenizer_files(directory, pad_token)
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"),
                         bos_token=START_TOKEN, eos_token=END_TOKEN, unk_token=END_TOKEN,
                         pad_token=pad_token, model_max_length=77)


def token_windows(tokenizer, prompt: str, pad_id: int) -> list[list[int]]:
    """The prompt in 77-token windows of 75 prompt tokens (an empty prompt: one window)."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    chunks = [ids[i : i + 75] for i in range(0, len(ids), 75)] or [[]]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    return [[bos] + c + [eos] + [pad_id] * (75 - len(c)) for c in chunks]


# --------------------------------------------------------------------------
# diffusers -> LDM names

_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",  # SDXL's text_time embedding
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def unet_key_to_ldm(key: str, config: dict) -> str:
    per = config["layers_per_block"] + 1
    p = key.split(".")
    for n in (2, 1):
        head = ".".join(p[:n])
        if head in _UNET_FIXED:
            return _UNET_FIXED[head] + "." + ".".join(p[n:])
    if p[0] == "down_blocks":
        block, kind = int(p[1]), p[2]
        if kind == "downsamplers":  # down_blocks.b.downsamplers.0.conv.weight
            return f"input_blocks.{1 + block * per + per - 1}.0.op.{p[-1]}"
        index = 1 + block * per + int(p[3])
        if kind == "resnets":
            return f"input_blocks.{index}.0.{_UNET_RESNET[p[4]]}.{'.'.join(p[5:])}"
        if kind == "attentions":
            return f"input_blocks.{index}.1.{'.'.join(p[4:])}"
    if p[0] == "up_blocks":
        block, kind = int(p[1]), p[2]
        if kind == "upsamplers":
            has_attention = config["up_block_types"][block].startswith("CrossAttn")
            return f"output_blocks.{block * per + per - 1}.{2 if has_attention else 1}.conv.{p[-1]}"
        index = block * per + int(p[3])
        if kind == "resnets":
            return f"output_blocks.{index}.0.{_UNET_RESNET[p[4]]}.{'.'.join(p[5:])}"
        if kind == "attentions":
            return f"output_blocks.{index}.1.{'.'.join(p[4:])}"
    if p[0] == "mid_block":
        kind, i = p[1], int(p[2])
        if kind == "resnets":
            return f"middle_block.{2 * i}.{_UNET_RESNET[p[3]]}.{'.'.join(p[4:])}"
        if kind == "attentions":
            return f"middle_block.1.{'.'.join(p[3:])}"
    raise KeyError(f"no LDM name for UNet tensor {key}")


_VAE_FIXED = {"conv_norm_out": "norm_out"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}


def vae_key_to_ldm(key: str, config: dict) -> str:
    p = key.split(".")
    if p[0] in ("quant_conv", "post_quant_conv"):
        return key
    side = p[0]  # encoder / decoder
    rest = p[1:]
    if rest[0] in ("conv_in", "conv_out"):
        return key
    if rest[0] in _VAE_FIXED:
        return f"{side}.{_VAE_FIXED[rest[0]]}.{'.'.join(rest[1:])}"
    if rest[0] == "mid_block":
        if rest[1] == "resnets":
            return f"{side}.mid.block_{int(rest[2]) + 1}.{_vae_resnet(rest[3:])}"
        if rest[1] == "attentions":
            return f"{side}.mid.attn_1.{_VAE_ATTENTION[rest[3]]}.{rest[-1]}"
    if rest[0] == "down_blocks":
        i = int(rest[1])
        if rest[2] == "resnets":
            return f"encoder.down.{i}.block.{rest[3]}.{_vae_resnet(rest[4:])}"
        if rest[2] == "downsamplers":
            return f"encoder.down.{i}.downsample.conv.{rest[-1]}"
    if rest[0] == "up_blocks":
        i = len(config["up_block_types"]) - 1 - int(rest[1])
        if rest[2] == "resnets":
            return f"decoder.up.{i}.block.{rest[3]}.{_vae_resnet(rest[4:])}"
        if rest[2] == "upsamplers":
            return f"decoder.up.{i}.upsample.conv.{rest[-1]}"
    raise KeyError(f"no LDM name for VAE tensor {key}")


def _vae_resnet(parts: list[str]) -> str:
    name = ".".join(parts)
    return name.replace("conv_shortcut", "nin_shortcut")


def unet_to_ldm(state: dict, config: dict) -> dict:
    return {UNET_PREFIX + unet_key_to_ldm(k, config): v for k, v in state.items()}


def vae_to_ldm(state: dict, config: dict) -> dict:
    out = {}
    for key, value in state.items():
        name = vae_key_to_ldm(key, config)
        if ".mid.attn_1." in name and name.endswith("weight") and value.ndim == 2:
            value = value.reshape(*value.shape, 1, 1)  # LDM: 1x1 convolutions
        out[VAE_PREFIX + name] = value
    return out


def clip_to_ldm(state: dict, prefix: str = CLIP_PREFIX) -> dict:
    """SD 1.x: transformers' CLIPTextModel names under cond_stage_model.transformer.
    (SDXL's first encoder: prefix SDXL_CLIP_PREFIX)."""
    return {prefix + k: v for k, v in state.items()}


_OPENCLIP_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def openclip_to_ldm(state: dict, layers: int, extra: dict | None = None, text_projection=None,
                    logit_scale=None, prefix: str = OPENCLIP_PREFIX) -> dict:
    """SD 2.x: OpenCLIP names. `extra`: the state of one more layer (diffusers
    names, layer index `layers`), present in real SD 2 checkpoints (OpenCLIP's
    24th block) and dropped by diffusers. `text_projection` is stored as
    given (OpenCLIP's [width, projection] matrix). SDXL: prefix
    SDXL_OPENCLIP_PREFIX / SDXL_REFINER_OPENCLIP_PREFIX, no extra layer; see
    sdxl_openclip_to_sgm."""
    P = prefix
    out = {}
    out[P + "token_embedding.weight"] = state["text_model.embeddings.token_embedding.weight"]
    out[P + "positional_embedding"] = state["text_model.embeddings.position_embedding.weight"]
    merged = dict(state)
    if extra:
        merged.update(extra)
    for i in range(layers + (1 if extra else 0)):
        src = f"text_model.encoder.layers.{i}."
        dst = f"{P}transformer.resblocks.{i}."
        for part in ("weight", "bias"):
            out[dst + f"attn.in_proj_{part}"] = torch.cat(
                [merged[src + f"self_attn.{n}_proj.{part}"] for n in ("q", "k", "v")], 0)
            for d, o in _OPENCLIP_LAYER.items():
                out[dst + f"{o}.{part}"] = merged[src + f"{d}.{part}"]
    out[P + "ln_final.weight"] = state["text_model.final_layer_norm.weight"]
    out[P + "ln_final.bias"] = state["text_model.final_layer_norm.bias"]
    if text_projection is not None:
        out[P + "text_projection"] = text_projection
    if logit_scale is not None:
        out[P + "logit_scale"] = logit_scale
    expected = {f"text_model.encoder.layers.{i}.{n}" for i in range(layers) for n in
                [f"self_attn.{q}_proj.{w}" for q in "qkv" for w in ("weight", "bias")] +
                [f"{d}.{w}" for d in _OPENCLIP_LAYER for w in ("weight", "bias")]}
    expected |= {"text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
                 "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias"}
    missing = set(state) ^ expected
    if missing:
        raise KeyError(f"OpenCLIP mapping does not cover: {sorted(missing)[:5]}")
    return out


def sdxl_openclip_to_sgm(state: dict, layers: int, prefix: str, logit_scale=None) -> dict:
    """SDXL's text_encoder_2 (transformers' CLIPTextModelWithProjection state:
    text_model.* and text_projection.weight [projection, width]) in OpenCLIP
    names under `prefix`, text_projection transposed to OpenCLIP's [width,
    projection], every layer kept."""
    text_model = {k: v for k, v in state.items() if k != "text_projection.weight"}
    projection = state["text_projection.weight"].t().contiguous()
    return openclip_to_ldm(text_model, layers, text_projection=projection, logit_scale=logit_scale, prefix=prefix)


def ldm_scheduler_buffers(config: dict, dtype=torch.float32) -> dict:
    """The DDPM schedule buffers LDM checkpoints carry at the top level."""
    import numpy as np

    n = config["num_train_timesteps"]
    betas = np.linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, n, dtype=np.float64) ** 2
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    values = {
        "betas": betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": np.sqrt(ac),
        "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
        "log_one_minus_alphas_cumprod": np.log(1.0 - ac),
        "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": np.log(np.maximum(post_var, 1e-20)),
        "posterior_mean_coef1": betas * np.sqrt(ac_prev) / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac),
    }
    return {k: torch.from_numpy(v).to(dtype) for k, v in values.items()}


# --------------------------------------------------------------------------
# Verification with diffusers' own converters


def _diff_states(what: str, got: dict, want: dict, sample: list[str] | None = None) -> None:
    if set(got) != set(want):
        only_got = sorted(set(got) - set(want))[:8]
        only_want = sorted(set(want) - set(got))[:8]
        raise AssertionError(f"{what}: key sets differ; converter-only {only_got}, model-only {only_want}")
    keys = sample if sample is not None else list(want)
    for k in keys:
        a, b = got[k], want[k]
        if a.shape != b.shape:
            raise AssertionError(f"{what}: {k}: shape {tuple(a.shape)} != {tuple(b.shape)}")
        if not torch.equal(a.to(torch.float32), b.to(torch.float32)):
            raise AssertionError(f"{what}: {k}: values differ")


def verify_ldm_roundtrip(ldm: dict, family: str, configs: dict, states: dict, sample: int | None = None) -> list[str]:
    """Runs diffusers' single-file converters on `ldm` and checks that each
    gives back exactly `states[component]` (names, shapes, values). Returns a
    list of what was checked; raises AssertionError otherwise. `states` may
    hold only some components (and may be any mapping, e.g. a lazy view of a
    safetensors file).

    family: "sd1", "sd2", "sdxl" (components text_encoder = CLIP-L,
    text_encoder_2 = OpenCLIP under conditioner.embedders.1.model., unet, vae)
    or "sdxl_refiner" (text_encoder_2 under conditioner.embedders.0.model.).
    For the SDXL families, when `ldm` holds the OpenCLIP tower, diffusers'
    own checkpoint-type detection (infer_diffusers_model_type) must also say
    xl_base / xl_refiner."""
    from diffusers.loaders import single_file_utils as sfu

    def hidden(component):
        class _Cfg:  # convert_open_clip_checkpoint reads text_model.config.hidden_size
            class config:
                hidden_size = configs[component]["hidden_size"]
        return _Cfg

    checked = []
    for component, state in states.items():
        if component == "unet":
            got = sfu.convert_ldm_unet_checkpoint(ldm, configs["unet"])
        elif component == "vae":
            got = sfu.convert_ldm_vae_checkpoint(ldm, configs["vae"])
        elif component == "text_encoder" and family in ("sd1", "sdxl"):
            got = sfu.convert_ldm_clip_checkpoint(ldm)
            got.pop("text_model.embeddings.position_ids", None)
        elif component == "text_encoder" and family == "sd2":
            layers = configs["text_encoder"]["num_hidden_layers"]
            # diffusers hard-codes the 24th OpenCLIP block (index 23) as the one
            # to drop; our tiny models have fewer layers, so drop the extra one
            # here the same way before converting.
            extra = f"{OPENCLIP_PREFIX}transformer.resblocks.{layers}."
            view = {k: v for k, v in ldm.items() if not k.startswith(extra)}
            got = sfu.convert_open_clip_checkpoint(hidden("text_encoder"), view)
        elif component == "text_encoder_2" and family in ("sdxl", "sdxl_refiner"):
            prefix = SDXL_OPENCLIP_PREFIX if family == "sdxl" else SDXL_REFINER_OPENCLIP_PREFIX
            got = sfu.convert_open_clip_checkpoint(hidden("text_encoder_2"), ldm, prefix=prefix)
            kind = sfu.infer_diffusers_model_type(ldm)
            want_kind = "xl_base" if family == "sdxl" else "xl_refiner"
            if kind != want_kind:
                raise AssertionError(f"{family}: diffusers detects the checkpoint as {kind}, not {want_kind}")
        else:
            raise ValueError(f"{family}: {component}")
        keys = None
        if sample:
            names = sorted(state)
            step = max(1, len(names) // sample)
            keys = names[::step]
        _diff_states(f"{family} {component}", got, state, keys)
        checked.append(f"{component}: {len(state)} tensors, names match exactly, "
                       f"{len(keys) if keys is not None else len(state)} compared bit-exactly")
    return checked


class LazySafetensors:
    """A read-only mapping over a .safetensors file that loads a tensor only
    when it is asked for (verify_ldm_roundtrip's `states` without holding a
    multi-GB component twice)."""

    def __init__(self, path):
        from safetensors import safe_open

        self._f = safe_open(str(path), "pt")
        self._keys = list(self._f.keys())

    def __iter__(self):
        return iter(self._keys)

    def __len__(self):
        return len(self._keys)

    def __contains__(self, key):
        return key in self._keys

    def keys(self):
        return list(self._keys)

    def __getitem__(self, key):
        return self._f.get_tensor(key)


# --------------------------------------------------------------------------
# Files


def write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


_ST_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8",
}


class SafetensorsStreamWriter:
    """Writes a .safetensors file whose header (names, dtypes, shapes) is known
    up front, then the tensors one at a time, so a multi-GB single file never
    has to be in memory at once. Tensors must be added in header order."""

    def __init__(self, path: Path, entries: list[tuple[str, torch.dtype, tuple]], metadata: dict | None = None):
        header = {}
        if metadata:
            header["__metadata__"] = metadata
        offset = 0
        self.order = []
        for name, dtype, shape in entries:
            nbytes = torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size()
            header[name] = {"dtype": _ST_DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            self.order.append((name, dtype, tuple(shape), nbytes))
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        raw += b" " * (-len(raw) % 8)
        self.f = open(path, "wb")
        self.f.write(struct.pack("<Q", len(raw)))
        self.f.write(raw)
        self.next = 0
        self.path = path

    def add(self, name: str, tensor: torch.Tensor) -> None:
        want, dtype, shape, nbytes = self.order[self.next]
        if name != want or tensor.dtype != dtype or tuple(tensor.shape) != shape:
            raise ValueError(f"stream writer: got {name} {tensor.dtype} {tuple(tensor.shape)}, expected {want} {dtype} {shape}")
        flat = tensor.detach().reshape(-1).contiguous().cpu()
        data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        assert len(data) == nbytes
        self.f.write(data)
        self.next += 1

    def close(self) -> None:
        if self.next != len(self.order):
            raise ValueError(f"stream writer: {len(self.order) - self.next} tensors not written to {self.path}")
        self.f.close()


def human(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1024
    return str(nbytes)


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def save_safetensors(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    """Like safetensors.torch.save_file, but byte-for-byte deterministic
    (save_file writes __metadata__ entries in hash order): tensors in name
    order, metadata keys sorted."""
    names = sorted(tensors)
    meta = {k: metadata[k] for k in sorted(metadata)} if metadata else None
    writer = SafetensorsStreamWriter(Path(path), [(n, tensors[n].dtype, tuple(tensors[n].shape)) for n in names], meta)
    try:
        for n in names:
            writer.add(n, tensors[n])
    finally:
        writer.f.close()
    writer.close()
